--- Curves of runs' metrics, for `gan plot` and gan.report.
--
-- `gan plot RUN_DIR... [--out FILE] [--keys k1,k2] [--smooth w]` draws runs' metrics.jsonl as
-- curves against step, one panel per metric and the runs overlaid, drawn into a PNG by
-- gan's own drawing primitives (core/src/draw.c).
--
--     local img = plot.render(run:metrics(), {keys = {"loss_d", "loss_g"}, title = run.name})
--     gan.image.save("curves.png", img)
--
-- @module gan.plot

local plot = {}

local WHITE, BLACK = {1, 1, 1}, {0, 0, 0}
local GRID, AXIS_TEXT = {0.9, 0.9, 0.9}, {0.25, 0.25, 0.25}

--- Series colours (matplotlib's tab10), used in order: a list of {r, g, b} in [0, 1].
-- @class field
-- @name colors
plot.colors = {
   {0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173},
   {0.839, 0.153, 0.157}, {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294},
   {0.890, 0.467, 0.761}, {0.498, 0.498, 0.498}, {0.737, 0.741, 0.133},
   {0.090, 0.745, 0.812},
}

local function finite(v)
   return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
end

--- The keys that hold a number in at least one record, except step, sorted.
-- @tparam {table,...} records
-- @treturn {string,...}
function plot.numeric_keys(records)
   local seen, keys = {}, {}
   for _, r in ipairs(records) do
      for k, v in pairs(r) do
         if k ~= "step" and type(v) == "number" and not seen[k] then
            seen[k] = true
            keys[#keys + 1] = k
         end
      end
   end
   table.sort(keys)
   return keys
end

-- Ticks at 1, 2 or 5 times a power of ten, about n of them over [lo, hi].
local function tick_step(lo, hi, n, integer)
   local raw = (hi - lo) / n
   local mag = 10 ^ math.floor(math.log(raw, 10))
   local r = raw / mag
   local step = (r < 1.5 and 1 or r < 3 and 2 or r < 7 and 5 or 10) * mag
   if integer then step = math.max(1, math.floor(step + 0.5)) end
   return step
end

local function ticks(lo, hi, step)
   local list = {}
   local first = math.ceil(lo / step - 1e-9)
   for i = first, math.floor(hi / step + 1e-9) do list[#list + 1] = i * step end
   return list
end

local function tick_format(step, lo, hi)
   local big = math.max(math.abs(lo), math.abs(hi))
   if big >= 1e6 or step < 1e-4 then return "%.3g" end
   local decimals = math.max(0, -math.floor(math.log(step, 10) + 1e-9))
   return "%." .. decimals .. "f"
end

-- The points {x, y} of `key` against `xkey` in `records`; a record whose value is NaN or
-- infinite gives `false`, a gap in the line. Records without a finite x are skipped.
local function points_of(records, xkey, key)
   local pts = {}
   for _, r in ipairs(records) do
      local x, y = r[xkey], r[key]
      if finite(x) then
         if finite(y) then pts[#pts + 1] = {x, y}
         elseif y ~= nil then pts[#pts + 1] = false end
      end
   end
   return pts
end

--- Smooths a series of points as TensorBoard does: an exponential moving average with
-- weight `w` in [0, 1), debiased (divided by 1 - w^n) so the start is not pulled to 0.
-- Gaps (false) are kept and skipped by the average.
-- @tparam {{x,y}|false,...} points
-- @tparam number w the weight of the past (0: the points unchanged)
-- @treturn {{x,y}|false,...} new points
function plot.smooth(points, w)
   if not (type(w) == "number" and w >= 0 and w < 1) then
      error(("plot.smooth: the weight must be in [0, 1), got %s"):format(tostring(w)), 2)
   end
   local out, avg, n = {}, 0, 0
   for i, p in ipairs(points) do
      if p then
         avg, n = avg * w + (1 - w) * p[2], n + 1
         out[i] = {p[1], w == 0 and p[2] or avg / (1 - w ^ n)}
      else
         out[i] = false
      end
   end
   return out
end

--- Series with fewer points than this (periodic evaluations, say) are drawn as logged
-- even when smoothing is asked for: an average over a handful of points only lags.
plot.smooth_min = 30

local function lighter(c, t)
   return {c[1] + (1 - c[1]) * t, c[2] + (1 - c[2]) * t, c[3] + (1 - c[3]) * t}
end

-- One panel: `series` ({label, color, points}) drawn into a new (3, height, width) image
-- with grid, ticks, a title and (unless opts.legend is false) a legend. With opts.smooth
-- > 0 each series of at least plot.smooth_min points is drawn faint as logged and solid
-- smoothed.
local function draw_panel(series, opts)
   local core = require("gan.core")
   local W, H = opts.width or 800, opts.height or 500
   local xkey = opts.x or "step"
   local smooth = opts.smooth or 0

   local xlo, xhi, ylo, yhi = math.huge, -math.huge, math.huge, -math.huge
   for _, s in ipairs(series) do
      for _, p in ipairs(s.points) do
         if p then
            xlo, xhi = math.min(xlo, p[1]), math.max(xhi, p[1])
            ylo, yhi = math.min(ylo, p[2]), math.max(yhi, p[2])
         end
      end
   end
   if xlo > xhi then error("plot: the series hold no finite values", 3) end
   if xlo == xhi then xlo, xhi = xlo - 1, xhi + 1 end
   if ylo == yhi then
      local d = ylo == 0 and 1 or math.abs(ylo) * 0.1
      ylo, yhi = ylo - d, yhi + d
   end
   local ystep = tick_step(ylo, yhi, math.max(2, math.floor(H / 80)))
   ylo, yhi = math.floor(ylo / ystep + 1e-9) * ystep, math.ceil(yhi / ystep - 1e-9) * ystep
   local xstep = tick_step(xlo, xhi, math.max(2, math.floor(W / 100)), xkey == "step")
   local yfmt = tick_format(ystep, ylo, yhi)
   local xfmt = xkey == "step" and "%d" or tick_format(xstep, xlo, xhi)

   -- Layout: the left margin fits the widest y label.
   local ylabels, label_w = {}, 0
   for i, v in ipairs(ticks(ylo, yhi, ystep)) do
      local s = yfmt:format(v)
      if s:match("^%-0%.?0*$") then s = s:sub(2) end   -- no "-0.00"
      ylabels[i] = {v, s}
      label_w = math.max(label_w, (core.text_size(s)))
   end
   local left, right, top, bottom = label_w + 16, 20, 40, 40
   local pw, ph = W - left - right, H - top - bottom
   if pw < 20 or ph < 20 then error("plot: the image is too small", 3) end
   local function px(x) return left + (x - xlo) / (xhi - xlo) * (pw - 1) end
   local function py(y) return top + (yhi - y) / (yhi - ylo) * (ph - 1) end

   local img = core.ones{3, H, W}
   local draw_line, draw_text, fill_rect, text_size =
      core.draw_line, core.draw_text, core.fill_rect, core.text_size

   -- Title, grid, ticks and labels.
   local title = opts.title or ""
   local scale = text_size(title, 2) <= W - 20 and 2 or 1
   draw_text(img, math.floor((W - text_size(title, scale)) / 2), 10, title, BLACK, scale)
   for _, t in ipairs(ylabels) do
      local y = math.floor(py(t[1]) + 0.5)
      draw_line(img, left, y, left + pw - 1, y, GRID)
      draw_line(img, left - 5, y, left - 1, y, BLACK)
      local w = text_size(t[2])
      draw_text(img, left - 8 - w, y - 4, t[2], AXIS_TEXT)
   end
   for _, v in ipairs(ticks(xlo, xhi, xstep)) do
      local x = math.floor(px(v) + 0.5)
      draw_line(img, x, top, x, top + ph - 1, GRID)
      draw_line(img, x, top + ph, x, top + ph + 4, BLACK)
      local s = xfmt:format(v)
      draw_text(img, x - text_size(s) // 2, top + ph + 8, s, AXIS_TEXT)
   end
   local sw = text_size(xkey)
   draw_text(img, left + (pw - sw) // 2, H - 14, xkey, AXIS_TEXT)

   -- Curves (faint as logged under their smoothed line), then the axes over their ends.
   local function curve(points, color, width)
      local prev
      for _, p in ipairs(points) do
         if p then
            local x, y = px(p[1]), py(p[2])
            if prev then draw_line(img, prev[1], prev[2], x, y, color, width) end
            prev = {x, y}
         else
            prev = nil
         end
      end
      if #points == 1 and points[1] then
         fill_rect(img, math.floor(prev[1]) - 2, math.floor(prev[2]) - 2, 5, 5, color)
      end
   end
   local function smoothed(s) return smooth > 0 and #s.points >= plot.smooth_min end
   for _, s in ipairs(series) do
      if smoothed(s) then curve(s.points, lighter(s.color, 0.7), 1) end
   end
   for _, s in ipairs(series) do
      curve(smoothed(s) and plot.smooth(s.points, smooth) or s.points, s.color, 2)
   end
   draw_line(img, left - 1, top, left - 1, top + ph, BLACK)
   draw_line(img, left - 1, top + ph, left + pw - 1, top + ph, BLACK)

   -- Legend, top right inside the plot.
   if opts.legend ~= false then
      local lw = 0
      for _, s in ipairs(series) do lw = math.max(lw, (text_size(s.label))) end
      local bw, bh = lw + 44, #series * 16 + 8
      local bx, by = left + pw - bw - 8, top + 8
      fill_rect(img, bx, by, bw, bh, {0.6, 0.6, 0.6})
      fill_rect(img, bx + 1, by + 1, bw - 2, bh - 2, WHITE)
      for i, s in ipairs(series) do
         local y = by + 4 + (i - 1) * 16 + 6
         draw_line(img, bx + 8, y, bx + 28, y, s.color, 3)
         draw_text(img, bx + 36, y - 4, s.label, BLACK)
      end
   end
   return img
end

local function color(i) return plot.colors[(i - 1) % #plot.colors + 1] end

--- Draws the curves of `records` into a new (3, H, W) image: one panel, one line per key.
-- @tparam {table,...} records metrics records, each with a `step`
-- @tparam[opt] table opts `keys` (default: every numeric key but the x key), `title`,
--  `width` (800), `height` (500), `x` (the key on the x axis, "step"; another key gets
--  decimal ticks and is the axis label), `smooth` (a weight for plot.smooth; 0)
-- @return a float32 (3, height, width) tensor in [0, 1]
function plot.render(records, opts)
   opts = opts or {}
   local xkey = opts.x or "step"
   local keys = opts.keys
   if not keys then
      keys = {}
      for _, k in ipairs(plot.numeric_keys(records)) do if k ~= xkey then keys[#keys + 1] = k end end
   end
   if #keys == 0 then error("plot: no numeric series to plot", 2) end
   local series = {}
   for i, k in ipairs(keys) do
      series[i] = {label = k, color = color(i), points = points_of(records, xkey, k)}
   end
   return draw_panel(series, opts)
end

--- Groups metric keys into panels: one panel per key, except that keys differing only in
-- a final number (eval_class_0 ... eval_class_9) share a panel titled `eval_class_*`.
-- @tparam {string,...} keys sorted keys
-- @treturn {{title=string, keys={string,...}},...} in the order of `keys`
function plot.panels(keys)
   local panels, family = {}, {}
   for _, k in ipairs(keys) do
      local stem = k:match("^(.-_)%d+$")
      local title = stem and stem .. "*" or k
      local p = family[title]
      if not p then
         p = {title = title, keys = {}}
         family[title] = p
         panels[#panels + 1] = p
      end
      p.keys[#p.keys + 1] = k
   end
   for _, p in ipairs(panels) do
      if #p.keys == 1 then p.title = p.keys[1] end
      table.sort(p.keys, function(a, b)
         local na, nb = tonumber(a:match("(%d+)$")), tonumber(b:match("(%d+)$"))
         if na and nb and na ~= nb then return na < nb end
         return a < b
      end)
   end
   return panels
end

-- A strip naming each run in its colour, as wide as the figure.
local function run_legend(names, width)
   local core = require("gan.core")
   local rows, x, y = {{}}, 8, 0
   for i, name in ipairs(names) do
      local w = core.text_size(name) + 40
      if x + w > width and x > 8 then rows[#rows + 1], x = {}, 8 end
      table.insert(rows[#rows], {i = i, name = name, x = x})
      x = x + w
   end
   local img = core.ones{3, #rows * 18 + 8, width}
   for r, row in ipairs(rows) do
      y = 4 + (r - 1) * 18 + 8
      for _, e in ipairs(row) do
         core.draw_line(img, e.x, y, e.x + 20, y, color(e.i), 3)
         core.draw_text(img, e.x + 28, y - 4, e.name, BLACK)
      end
   end
   return img
end

--- Draws several runs' metrics as a grid of panels: one panel per metric (see
-- plot.panels), every run overlaid in its own colour with the runs named above the grid.
-- @tparam table runs a list of runs, each `{name = string, records = {table, ...}}`
-- @tparam[opt] table opts `keys` (default: every numeric key of any run), `smooth`,
--  `width` and `height` of a panel (400, 260), `columns` (default up to 3)
-- @return a float32 (3, H, W) tensor in [0, 1]
function plot.figure(runs, opts)
   local gan = require("gan")
   opts = opts or {}
   local keys = opts.keys
   if not keys then
      local all = {}
      for _, r in ipairs(runs) do for _, rec in ipairs(r.records) do all[#all + 1] = rec end end
      keys = plot.numeric_keys(all)
   end
   if #keys == 0 then error("plot: no numeric series to plot", 2) end
   local panels = plot.panels(keys)
   local pw, ph = opts.width or 400, opts.height or 260
   local columns = math.min(opts.columns or 3, #panels)
   local imgs = {}
   for _, p in ipairs(panels) do
      local series = {}
      for ri, r in ipairs(runs) do
         for ki, k in ipairs(p.keys) do
            local pts = points_of(r.records, "step", k)
            if #pts > 0 then
               series[#series + 1] = {label = #runs > 1 and r.name .. " " .. k or k,
                  color = color(#runs > 1 and ri or ki), points = pts}
            end
         end
      end
      local any = false
      for _, sr in ipairs(series) do for _, pt in ipairs(sr.points) do any = any or pt ~= false end end
      local img
      if any then
         img = draw_panel(series, {title = p.title, width = pw, height = ph, smooth = opts.smooth,
            legend = #runs == 1 and #p.keys > 1})
      else   -- no finite value in any run: an empty panel that says so
         img = require("gan.core").ones{3, ph, pw}
         require("gan.core").draw_text(img, 10, 10, p.title .. ": no finite values", BLACK)
      end
      imgs[#imgs + 1] = img
   end
   while #imgs % columns ~= 0 do imgs[#imgs + 1] = require("gan.core").ones{3, ph, pw} end
   local rows = {}
   for i = 1, #imgs, columns do
      rows[#rows + 1] = gan.cat({table.unpack(imgs, i, i + columns - 1)}, 3)
   end
   if #runs > 1 then
      local names = {}
      for i, r in ipairs(runs) do names[i] = r.name end
      table.insert(rows, 1, run_legend(names, columns * pw))
   end
   return #rows == 1 and rows[1] or gan.cat(rows, 2)
end

--- A scatter plot of 2-d points (N, 2) as a float32 (3, size, size) image in [0, 1]: the
-- square [-range, range]^2 with its axes, the modes of a mixture (opts.centers (K, 2),
-- each a light red square of side 6 std: the region a sample must fall in to count for
-- it), then the points as dark dots, and a title. opts: size (400), range (3), centers,
-- std (0.05), title.
-- @tparam Tensor points (N, 2)
-- @tparam[opt] table opts the options above
-- @treturn Tensor (3, size, size) float32 in [0, 1]
function plot.scatter(points, opts)
   local core = require("gan.core")
   opts = opts or {}
   local size, range = opts.size or 400, opts.range or 3
   local img = core.ones { 3, size, size }
   local function px(v) return math.floor((v + range) / (2 * range) * (size - 1) + 0.5) end
   local mid = px(0)
   core.draw_line(img, 0, mid, size - 1, mid, GRID)
   core.draw_line(img, mid, 0, mid, size - 1, GRID)
   if opts.centers then
      local half = math.max(1, math.floor(3 * (opts.std or 0.05) / (2 * range) * (size - 1) + 0.5))
      for _, c in ipairs(opts.centers:totable()) do
         core.fill_rect(img, px(c[1]) - half, px(-c[2]) - half, 2 * half + 1, 2 * half + 1, { 1, 0.75, 0.75 })
      end
   end
   for _, p in ipairs(points:double():totable()) do
      local x, y = px(p[1]), px(-p[2])
      if x >= 1 and y >= 1 and x < size - 1 and y < size - 1 then
         core.fill_rect(img, x - 1, y - 1, 2, 2, { 0.12, 0.3, 0.6 })
      end
   end
   if opts.title then core.draw_text(img, 6, 6, opts.title, BLACK) end
   return img
end

-- The records of RUN_DIR/metrics.jsonl, or an error naming the directory.
local function run_records(dir)
   local metrics = dir .. "/metrics.jsonl"
   local f = io.open(metrics, "rb")
   if not f then error(("no metrics.jsonl in %s"):format(dir), 0) end
   f:close()
   return require("gan.run").read_metrics(metrics), metrics
end

--- Plots the metrics.jsonl of one or more runs into a PNG: one panel per metric, the runs
-- overlaid (plot.figure).
-- @tparam table opts `run_dirs` (a list of run directories), `out` (default
--  FIRST_RUN/curves.png), `keys` (a list or a comma-separated string), `smooth`, `width`
--  and `height` of a panel, `columns`
-- @treturn string the PNG's path
function plot.plot_runs(opts)
   local runs, available, seen = {}, {}, {}
   for i, d in ipairs(opts.run_dirs) do
      local dir = d:gsub("(.)/+$", "%1")
      local records, metrics = run_records(dir)
      local keys = plot.numeric_keys(records)
      if #keys == 0 then error(("%s holds no numeric metrics"):format(metrics), 0) end
      for _, k in ipairs(keys) do
         if not seen[k] then seen[k] = true; available[#available + 1] = k end
      end
      local name = dir:match("([^/]+)$")
      local parent = dir:match("([^/]+)/[^/]+$")
      runs[i] = {name = parent and parent .. "/" .. name or name, records = records, dir = dir}
   end
   table.sort(available)
   local keys = opts.keys
   if type(keys) == "string" then
      local list = {}
      for k in keys:gmatch("[^,%s]+") do list[#list + 1] = k end
      keys = list
   end
   if keys then
      for _, k in ipairs(keys) do
         if not seen[k] then
            error(("no run has a numeric key '%s' (they have: %s)"):format(k, table.concat(available, ", ")), 0)
         end
      end
   end
   local img = plot.figure(runs, {keys = keys, smooth = opts.smooth, width = opts.width,
      height = opts.height, columns = opts.columns})
   local out = opts.out or runs[1].dir .. "/curves.png"
   require("gan.core").image_save_png(out, img)
   return out
end

--- The `gan plot` command (registered in gan.cli).
plot.command = {
   name = "plot",
   summary = "Plot the metrics of one or more runs into a PNG, one panel per metric.",
   description = "Plot RUN_DIR/metrics.jsonl (every numeric key except step, or those of "
      .. "--keys) against step into a PNG, by default FIRST_RUN_DIR/curves.png: one panel per "
      .. "metric (keys that differ only in a final number share one), several runs overlaid "
      .. "in their own colours.",
   setup = function(cmd)
      cmd:argument("run_dirs", "Run directories (each holding metrics.jsonl).")
         :args("+")
      cmd:option("-o --out", "The PNG to write (default: FIRST_RUN_DIR/curves.png).")
         :argname("<png>")
      cmd:option("-k --keys", "Comma-separated keys to plot, e.g. loss_d,loss_g.")
         :argname("<k1,k2>")
      cmd:option("-s --smooth", "Smoothing weight in [0, 1): an exponential moving average "
         .. "as TensorBoard's, drawn over the faint raw curve.", "0")
         :convert(function(s)
            local w = tonumber(s)
            if w and w >= 0 and w < 1 then return w end
            return nil, "expected a weight in [0, 1), got " .. s
         end)
      local integer = require("gan.cli").integer
      cmd:option("--width", "Width of a panel in pixels.", "400"):convert(integer("--width", 200, 4000))
      cmd:option("--height", "Height of a panel in pixels.", "260"):convert(integer("--height", 150, 4000))
      cmd:option("--columns", "Panels per row (default: up to 3)."):convert(integer("--columns", 1, 20))
   end,
   run = function(opts)
      io.write("wrote ", plot.plot_runs(opts), "\n")
      return 0
   end,
}

--- Runs `gan plot` with its arguments (without the word "plot").
-- @tparam {string,...} args e.g. {"runs/dcgan/20250101-120000", "--keys", "loss_d"}
-- @treturn int exit status: 0, 1 on failure, 2 on a usage error
function plot.main(args)
   local argparse = require("argparse")
   local parser = argparse("gan plot", plot.command.description)
   plot.command.setup(parser)
   local ok, opts = parser:pparse(args or {})
   if not ok then
      io.stderr:write("gan plot: ", opts, "\n", parser:get_usage(), "\n")
      return 2
   end
   return require("gan.cli").run_command(plot.command, opts)
end

return plot
