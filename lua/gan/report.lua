--- `gan report RUN_DIR`: a run as one self-contained HTML page, RUN_DIR/report.html.
--
-- The page holds everything in itself (no file beside it, no network): the run's command,
-- git revision and config; its health warnings; its evaluation metrics (the last periodic
-- evaluation, the best checkpoint's, eval.json of `gan eval`); its curves, one panel per
-- metric (gan.plot.panels) drawn as SVG by a small script, with a smoothing slider (the
-- exponential moving average of gan.plot.smooth; series of fewer than 30 points are drawn
-- as logged); its sample sheets over time (PNGs inlined, at most 12, evenly spaced, the
-- last always); and its speed from timing.jsonl. The training loop rewrites it with every
-- sample sheet, every evaluation and at the last step (train.report), so it can be kept
-- open in a browser during a run.
--
--     local path = require("gan.report").write("runs/dcgan/20250101-120000")
--
-- @module gan.report
local cjson = require("cjson")
local plot = require("gan.plot")
local run = require("gan.run")
local files = require("gan.files")

local report = {}

--- At most this many sample sheets are inlined.
report.max_sheets = 12
--- A series longer than this is reduced to as many bucket means.
report.max_points = 2000

local read_file = files.read

local function escape(s)
   return (tostring(s):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
      ['"'] = "&quot;", ["'"] = "&#39;" }))
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

--- Base64 (RFC 4648, with padding) of a string.
-- @tparam string s
-- @treturn string
function report.base64(s)
   local out, n = {}, #s
   for i = 1, n - 2, 3 do
      local a, b, c = s:byte(i, i + 2)
      local v = a << 16 | b << 8 | c
      out[#out + 1] = B64:sub((v >> 18) + 1, (v >> 18) + 1) .. B64:sub((v >> 12 & 63) + 1, (v >> 12 & 63) + 1)
         .. B64:sub((v >> 6 & 63) + 1, (v >> 6 & 63) + 1) .. B64:sub((v & 63) + 1, (v & 63) + 1)
   end
   local rest = n % 3
   if rest > 0 then
      local a, b = s:byte(n - rest + 1, n)
      local v = a << 16 | (b or 0) << 8
      local tail = B64:sub((v >> 18) + 1, (v >> 18) + 1) .. B64:sub((v >> 12 & 63) + 1, (v >> 12 & 63) + 1)
      tail = tail .. (rest == 2 and B64:sub((v >> 6 & 63) + 1, (v >> 6 & 63) + 1) or "=") .. "="
      out[#out + 1] = tail
   end
   return table.concat(out)
end

-- A number as JSON: finite values with 7 significant digits, anything else null (a gap).
local function num(v)
   if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then return "null" end
   if math.type(v) == "integer" then return tostring(v) end
   return ("%.7g"):format(v)
end

-- The points {x, y} of `key` in `records` (y nil for a logged NaN or infinity), reduced
-- to report.max_points bucket means when longer.
local function series(records, key)
   local xs, ys = {}, {}
   for _, r in ipairs(records) do
      local v = r[key]
      if type(r.step) == "number" and v ~= nil and type(v) == "number" then
         xs[#xs + 1], ys[#ys + 1] = r.step, v
      end
   end
   local n, m = #xs, report.max_points
   if n <= m then return xs, ys end
   local bx, by = {}, {}
   for b = 1, m do
      local lo, hi = (b - 1) * n // m + 1, b * n // m
      local sum, cnt = 0, 0
      for i = lo, hi do
         local y = ys[i]
         if y == y and y ~= math.huge and y ~= -math.huge then sum, cnt = sum + y, cnt + 1 end
      end
      bx[b], by[b] = xs[hi], cnt > 0 and sum / cnt or 0 / 0
   end
   return bx, by
end

local function json_array(list)
   local parts = {}
   for i, v in ipairs(list) do parts[i] = num(v) end
   return "[" .. table.concat(parts, ",") .. "]"
end

-- The curves' data: { panels = [{ title, series = [{ label, x, y }] }] } as JSON, the
-- panels of metrics.jsonl and then images_per_s of timing.jsonl.
local function curves_json(records, timing)
   local panels = {}
   local function add(title, keys, recs)
      local ss = {}
      for _, k in ipairs(keys) do
         local xs, ys = series(recs, k)
         if #xs > 0 then
            ss[#ss + 1] = ('{"label":%s,"x":%s,"y":%s}'):format(cjson.encode(k), json_array(xs), json_array(ys))
         end
      end
      if #ss > 0 then
         panels[#panels + 1] = ('{"title":%s,"series":[%s]}'):format(cjson.encode(title), table.concat(ss, ","))
      end
   end
   for _, p in ipairs(plot.panels(plot.numeric_keys(records))) do add(p.title, p.keys, records) end
   if #timing > 0 then add("images_per_s (timing.jsonl)", { "images_per_s" }, timing) end
   return "{\"panels\":[" .. table.concat(panels, ",") .. "]}", #panels
end

-- The steps of samples/step_NNNNNN.png, sorted, thinned to report.max_sheets (evenly
-- spaced, the first and the last kept).
local function sheets(dir)
   local lfs = require("lfs")
   local steps = {}
   if lfs.attributes(dir .. "/samples", "mode") == "directory" then
      for f in lfs.dir(dir .. "/samples") do
         local s = f:match("^step_(%d+)%.png$")
         if s then steps[#steps + 1] = tonumber(s) end
      end
   end
   table.sort(steps)
   local m = report.max_sheets
   if #steps <= m then return steps end
   local kept = {}
   for i = 1, m do kept[i] = steps[math.floor((i - 1) * (#steps - 1) / (m - 1) + 0.5) + 1] end
   return kept
end

local function read_jsonl(path)
   if not read_file(path) then return {} end
   return run.read_metrics(path)
end

local function fmt(v)
   if type(v) == "number" then
      if math.tointeger(v) then return tostring(math.tointeger(v)) end
      if v ~= v or v == math.huge or v == -math.huge then return tostring(v) end
      return ("%.4g"):format(v)
   end
   return tostring(v)
end

-- A grid of a flat table's keys (sorted) and values.
local function kv_table(t, keys)
   if not keys then
      keys = {}
      for k in pairs(t) do keys[#keys + 1] = k end
      table.sort(keys)
   end
   local rows = {}
   for _, k in ipairs(keys) do
      if t[k] ~= nil then
         rows[#rows + 1] = ("<div><span class=\"k\">%s</span> %s</div>"):format(escape(k), escape(fmt(t[k])))
      end
   end
   return "<div class=\"kv\">" .. table.concat(rows) .. "</div>"
end

local function median(list)
   if #list == 0 then return nil end
   local s = { table.unpack(list) }
   table.sort(s)
   local n = #s
   return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

local CSS = [[
body{font:14px/1.45 system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:24px auto;max-width:1280px;padding:0 16px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.meta{color:#555}.kv{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:2px 16px}
.kv div{border-bottom:1px solid #eee;font-variant-numeric:tabular-nums}.kv .k{font-weight:600;margin-right:6px}pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}
.panels{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:12px}
.panel{border:1px solid #e4e4e4;padding:4px}.panel svg{width:100%;height:auto;display:block}
.sheets{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}figure img{image-rendering:pixelated;max-width:300px;border:1px solid #ddd}
figcaption{color:#555;font-size:12px}.warn{color:#a40000}.ok{color:#276e27}
]]

-- Draws every panel of the embedded data as SVG, smoothing with the slider's weight.
local SCRIPT = [[
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("curve-data").textContent);
  var COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22", "#17becf"];
  var W = 420, H = 260, L = 58, R = 12, T = 26, B = 30, SVG = "http://www.w3.org/2000/svg";
  function el(name, attrs, parent) {
    var e = document.createElementNS(SVG, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function smooth(y, w) {
    if (w <= 0 || y.length < 30) return y;
    var out = [], avg = 0, n = 0;
    for (var i = 0; i < y.length; i++) {
      if (y[i] === null) { out.push(null); continue; }
      avg = avg * w + (1 - w) * y[i]; n++;
      out.push(avg / (1 - Math.pow(w, n)));
    }
    return out;
  }
  function niceStep(span, n) {
    var raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw))), r = raw / mag;
    return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
  }
  function label(v, step) {
    if (Math.abs(v) >= 1e5 || (step < 1e-3 && v !== 0)) return v.toPrecision(3);
    var d = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    return v.toFixed(d);
  }
  function path(xs, ys, px, py) {
    var d = "", pen = false;
    for (var i = 0; i < xs.length; i++) {
      if (ys[i] === null) { pen = false; continue; }
      d += (pen ? "L" : "M") + px(xs[i]).toFixed(1) + " " + py(ys[i]).toFixed(1);
      pen = true;
    }
    return d;
  }
  function draw(panel, box, w) {
    box.textContent = "";
    var svg = el("svg", {viewBox: "0 0 " + W + " " + H, "class": "curve"}, box);
    var x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    panel.series.forEach(function (s) {
      s.x.forEach(function (x, i) {
        if (s.y[i] === null) return;
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, s.y[i]); y1 = Math.max(y1, s.y[i]);
      });
    });
    var t = el("text", {x: W / 2, y: 16, "text-anchor": "middle", "font-size": 13, "font-weight": "bold"}, svg);
    t.textContent = panel.title;
    if (x0 > x1) { el("text", {x: L, y: H / 2, "font-size": 12}, svg).textContent = "no finite values"; return; }
    if (x0 === x1) { x0 -= 1; x1 += 1; }
    if (y0 === y1) { var d = y0 === 0 ? 1 : Math.abs(y0) * 0.1; y0 -= d; y1 += d; }
    var ys = niceStep(y1 - y0, 5), xs = niceStep(x1 - x0, 6);
    y0 = Math.floor(y0 / ys) * ys; y1 = Math.ceil(y1 / ys) * ys;
    var px = function (x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
    var py = function (y) { return T + (y1 - y) / (y1 - y0) * (H - T - B); };
    for (var v = y0; v <= y1 + ys / 2; v += ys) {
      el("line", {x1: L, x2: W - R, y1: py(v), y2: py(v), stroke: "#e8e8e8"}, svg);
      var a = el("text", {x: L - 5, y: py(v) + 4, "text-anchor": "end", "font-size": 10, fill: "#444"}, svg);
      a.textContent = label(v, ys);
    }
    for (var u = Math.ceil(x0 / xs) * xs; u <= x1; u += xs) {
      el("line", {x1: px(u), x2: px(u), y1: T, y2: H - B, stroke: "#e8e8e8"}, svg);
      var b = el("text", {x: px(u), y: H - B + 14, "text-anchor": "middle", "font-size": 10, fill: "#444"}, svg);
      b.textContent = label(u, xs);
    }
    el("path", {d: "M" + L + " " + T + "V" + (H - B) + "H" + (W - R), stroke: "#000", fill: "none"}, svg);
    panel.series.forEach(function (s, i) {
      var c = COLORS[i % COLORS.length], sm = smooth(s.y, w);
      if (sm !== s.y) el("path", {d: path(s.x, s.y, px, py), stroke: c, "stroke-opacity": 0.25, fill: "none"}, svg);
      var p = el("path", {d: path(s.x, sm, px, py), stroke: c, "stroke-width": 1.6, fill: "none"}, svg);
      if (s.x.length === 1) el("circle", {cx: px(s.x[0]), cy: py(s.y[0]), r: 3, fill: c}, svg);
      if (panel.series.length > 1) {
        var ly = T + 6 + i * 13;
        el("line", {x1: W - R - 92, x2: W - R - 78, y1: ly, y2: ly, stroke: c, "stroke-width": 3}, svg);
        el("text", {x: W - R - 74, y: ly + 4, "font-size": 10}, svg).textContent = s.label;
      }
      p.setAttribute("data-label", s.label);
    });
  }
  var root = document.getElementById("panels"), slider = document.getElementById("smooth");
  var out = document.getElementById("smooth-value"), boxes = [];
  data.panels.forEach(function (panel) {
    var box = document.createElement("div");
    box.className = "panel";
    root.appendChild(box);
    boxes.push(box);
  });
  function redraw() {
    var w = parseFloat(slider.value);
    out.textContent = w.toFixed(2);
    data.panels.forEach(function (panel, i) { draw(panel, boxes[i], w); });
  }
  slider.addEventListener("input", redraw);
  redraw();
})();
]]

--- The report of a run as an HTML string.
-- @tparam string dir the run directory
-- @treturn string
function report.html(dir)
   dir = dir:gsub("(.)/+$", "%1")
   local metrics_path = dir .. "/metrics.jsonl"
   if not read_file(metrics_path) then
      error(("no metrics.jsonl in %s: not a run directory"):format(dir), 0)
   end
   local records = run.read_metrics(metrics_path)
   local timing = read_jsonl(dir .. "/timing.jsonl")
   local warnings = read_jsonl(dir .. "/health.jsonl")
   local config_text = read_file(dir .. "/config.yaml") or ""
   local command_text = read_file(dir .. "/command.txt") or ""
   local name = (dir:match("([^/]+/[^/]+)$") or dir)
   local cfg_ok, cfg = pcall(require("gan.config").load, dir .. "/config.yaml")
   local total = cfg_ok and type(cfg) == "table" and type(cfg.train) == "table" and cfg.train.steps
   local last = records[#records] and records[#records].step or 0
   local commit = command_text:match("commit: ([^\n]*)")

   local h = {}
   local function w(...) for _, s in ipairs { ... } do h[#h + 1] = s end end
   w("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
      "<title>gan report: ", escape(name), "</title><style>", CSS, "</style></head><body>\n")
   w("<h1>", escape(name), "</h1><p class=\"meta\">step ", fmt(last),
      total and (" of " .. escape(fmt(total))) or "", commit and (" &middot; commit " .. escape(commit)) or "",
      " &middot; report written ", os.date("%Y-%m-%d %H:%M:%S"), "</p>\n")

   -- Health.
   w("<h2 id=\"health\">Health</h2>")
   if #warnings == 0 then
      w("<p class=\"ok\">The health monitor raised no warning.</p>")
   else
      w("<ul>")
      for _, x in ipairs(warnings) do
         w("<li class=\"warn\">step ", escape(fmt(x.step)), ": ", escape(x.message or x.detector or "?"), "</li>")
      end
      w("</ul>")
   end

   -- Evaluation.
   w("<h2 id=\"evaluation\">Evaluation</h2>")
   local last_eval, eval_step = nil, nil
   for i = #records, 1, -1 do
      local r = records[i]
      for k, v in pairs(r) do
         if k:match("^eval_") then
            last_eval = last_eval or {}
            last_eval[k:sub(6)] = v
         end
      end
      if last_eval then eval_step = r.step; break end
   end
   local evaljson = read_file(dir .. "/eval.json")
   local best = read_file(dir .. "/checkpoints/best.json")
   if not last_eval and not evaljson and not best then
      w("<p>No evaluation yet (train.eval_every, or <code>gan eval ", escape(dir), "</code>).</p>")
   end
   if best then
      local ok, b = pcall(cjson.decode, best)
      if ok and type(b) == "table" then
         w("<p>Best checkpoint: step ", escape(fmt(b.step)), ", value ", escape(fmt(b.value)),
            " (", escape(b.mode or ""), ").</p>")
      end
   end
   if last_eval then
      w("<h3>Last periodic evaluation, step ", fmt(eval_step), "</h3>", kv_table(last_eval))
   end
   if evaljson then
      local ok, e = pcall(cjson.decode, evaljson)
      if ok and type(e) == "table" then w("<h3>gan eval (eval.json)</h3>", kv_table(e)) end
   end

   -- Curves.
   local data, npanels = curves_json(records, timing)
   w("<h2 id=\"curves\">Curves</h2><p>Smoothing <input id=\"smooth\" type=\"range\" min=\"0\" max=\"0.99\" ",
      "step=\"0.01\" value=\"0.6\"> <span id=\"smooth-value\">0.60</span> (", tostring(npanels),
      " panels; series of fewer than 30 points as logged)</p><div id=\"panels\" class=\"panels\"></div>\n")
   w("<script id=\"curve-data\" type=\"application/json\">", (data:gsub("</", "<\\/")), "</script>\n")

   -- Sample sheets.
   w("<h2 id=\"samples\">Samples</h2>")
   local steps = sheets(dir)
   if #steps == 0 then w("<p>No sample sheet yet.</p>") end
   w("<div class=\"sheets\">")
   for _, s in ipairs(steps) do
      local png = read_file(("%s/samples/step_%06d.png"):format(dir, s))
      if png then
         w("<figure><img alt=\"samples at step ", tostring(s), "\" src=\"data:image/png;base64,",
            report.base64(png), "\"><figcaption>step ", tostring(s), "</figcaption></figure>")
      end
   end
   local eval_png = read_file(dir .. "/eval.png")
   if eval_png then
      w("<figure><img alt=\"gan eval\" src=\"data:image/png;base64,", report.base64(eval_png),
         "\"><figcaption>gan eval (eval.png)</figcaption></figure>")
   end
   w("</div>\n")

   -- Speed.
   w("<h2 id=\"timing\">Timing</h2>")
   if #timing == 0 then
      w("<p>No timing.jsonl yet.</p>")
   else
      local ips = {}
      for _, t in ipairs(timing) do
         if type(t.images_per_s) == "number" then ips[#ips + 1] = t.images_per_s end
      end
      local lt = timing[#timing]
      w(kv_table({ ["images/s, median"] = median(ips), ["images/s, last"] = lt.images_per_s,
         ["last logged step"] = lt.step, ["seconds since the (re)start"] = lt.seconds },
         { "images/s, median", "images/s, last", "last logged step", "seconds since the (re)start" }))
   end

   -- Provenance.
   w("<h2 id=\"command\">Command</h2><pre>", escape(command_text), "</pre>")
   w("<h2 id=\"config\">Config</h2><pre>", escape(config_text), "</pre>\n")
   w("<script>", SCRIPT, "</script>\n</body></html>\n")
   return table.concat(h)
end

--- Writes RUN_DIR/report.html (atomically: a reader never sees half a page).
-- @tparam string dir the run directory
-- @treturn string the page's path
function report.write(dir)
   dir = dir:gsub("(.)/+$", "%1")
   local html = report.html(dir)
   local path = dir .. "/report.html"
   local ok, err = pcall(files.write_atomic, path, html)
   if not ok then error("gan report: " .. tostring(err), 0) end
   return path
end

--- The `gan report` command (registered in gan.cli).
report.command = {
   name = "report",
   summary = "Write a run's self-contained HTML report (RUN_DIR/report.html).",
   description = "Write RUN_DIR/report.html: command, commit and config, health warnings, "
      .. "evaluation metrics, curves (one panel per metric, with smoothing), sample sheets "
      .. "over time and speed, in one file that opens in any browser. Training rewrites it "
      .. "with every sample sheet and evaluation (train.report).",
   setup = function(cmd)
      cmd:argument("run_dir", "The run directory (holding metrics.jsonl).")
   end,
   run = function(opts)
      io.write("wrote ", report.write(opts.run_dir), "\n")
      return 0
   end,
}

return report
