--- `gan plot RUN_DIR [--out FILE] [--keys k1,k2]`: a run's metrics.jsonl as curves
-- against step, drawn into a PNG by gan's own drawing primitives (core/src/draw.c).
--
--     local img = plot.render(run:metrics(), {keys = {"loss_d", "loss_g"}, title = run.name})
--     gan.image.save("curves.png", img)
--
-- @module gan.plot

local plot = {}

local WHITE, BLACK = {1, 1, 1}, {0, 0, 0}
local GRID, AXIS_TEXT = {0.9, 0.9, 0.9}, {0.25, 0.25, 0.25}

--- Series colours (matplotlib's tab10), used in order.
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

--- Draws the curves of `records` into a new (3, H, W) image.
-- @tparam {table,...} records metrics records, each with a `step`
-- @tparam[opt] table opts `keys` (default: every numeric key but the x key), `title`,
--  `width` (800), `height` (500), `x` (the key on the x axis, "step"; another key gets
--  decimal ticks and is the axis label)
-- @return a float32 (3, height, width) tensor in [0, 1]
function plot.render(records, opts)
   local core = require("gan.core")
   opts = opts or {}
   local W, H = opts.width or 800, opts.height or 500
   local xkey = opts.x or "step"
   local keys = opts.keys
   if not keys then
      keys = {}
      for _, k in ipairs(plot.numeric_keys(records)) do if k ~= xkey then keys[#keys + 1] = k end end
   end
   if #keys == 0 then error("plot: no numeric series to plot", 2) end

   -- Series and data bounds.
   local series = {}
   local xlo, xhi, ylo, yhi = math.huge, -math.huge, math.huge, -math.huge
   for i, k in ipairs(keys) do
      local pts = {}
      for _, r in ipairs(records) do
         local x, y = r[xkey], r[k]
         if finite(x) then
            if finite(y) then
               pts[#pts + 1] = {x, y}
               xlo, xhi = math.min(xlo, x), math.max(xhi, x)
               ylo, yhi = math.min(ylo, y), math.max(yhi, y)
            elseif r[k] ~= nil then
               pts[#pts + 1] = false   -- NaN or inf: a gap in the line
            end
         end
      end
      series[i] = {key = k, points = pts, color = plot.colors[(i - 1) % #plot.colors + 1]}
   end
   if xlo > xhi then error("plot: the series hold no finite values", 2) end
   if xlo == xhi then xlo, xhi = xlo - 1, xhi + 1 end
   if ylo == yhi then
      local d = ylo == 0 and 1 or math.abs(ylo) * 0.1
      ylo, yhi = ylo - d, yhi + d
   end
   local ystep = tick_step(ylo, yhi, 6)
   ylo, yhi = math.floor(ylo / ystep + 1e-9) * ystep, math.ceil(yhi / ystep - 1e-9) * ystep
   local xstep = tick_step(xlo, xhi, 8, xkey == "step")
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
   if pw < 20 or ph < 20 then error("plot: the image is too small", 2) end
   local function px(x) return left + (x - xlo) / (xhi - xlo) * (pw - 1) end
   local function py(y) return top + (yhi - y) / (yhi - ylo) * (ph - 1) end

   local img = core.ones{3, H, W}
   local draw_line, draw_text, fill_rect, text_size =
      core.draw_line, core.draw_text, core.fill_rect, core.text_size

   -- Title, grid, ticks and labels.
   local title = opts.title or ""
   local tw = text_size(title, 2)
   draw_text(img, math.floor((W - tw) / 2), 10, title, BLACK, 2)
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

   -- Curves, then the axes over their ends.
   for _, s in ipairs(series) do
      local prev
      for _, p in ipairs(s.points) do
         if p then
            local x, y = px(p[1]), py(p[2])
            if prev then draw_line(img, prev[1], prev[2], x, y, s.color, 2) end
            prev = {x, y}
         else
            prev = nil
         end
      end
      if #s.points == 1 and s.points[1] then
         fill_rect(img, math.floor(prev[1]) - 2, math.floor(prev[2]) - 2, 5, 5, s.color)
      end
   end
   draw_line(img, left - 1, top, left - 1, top + ph, BLACK)
   draw_line(img, left - 1, top + ph, left + pw - 1, top + ph, BLACK)

   -- Legend, top right inside the plot.
   local lw = 0
   for _, s in ipairs(series) do lw = math.max(lw, (text_size(s.key))) end
   local bw, bh = lw + 44, #series * 16 + 8
   local bx, by = left + pw - bw - 8, top + 8
   fill_rect(img, bx, by, bw, bh, {0.6, 0.6, 0.6})
   fill_rect(img, bx + 1, by + 1, bw - 2, bh - 2, WHITE)
   for i, s in ipairs(series) do
      local y = by + 4 + (i - 1) * 16 + 6
      draw_line(img, bx + 8, y, bx + 28, y, s.color, 3)
      draw_text(img, bx + 36, y - 4, s.key, BLACK)
   end
   return img
end

--- A scatter plot of 2-d points (N, 2) as a float32 (3, size, size) image in [0, 1]: the
-- square [-range, range]^2 with its axes, the modes of a mixture (opts.centers (K, 2),
-- each a light red square of side 6 std: the region a sample must fall in to count for
-- it), then the points as dark dots, and a title. opts: size (400), range (3), centers,
-- std (0.05), title.
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

--- Plots RUN_DIR/metrics.jsonl into a PNG.
-- @tparam table opts `run_dir`, `out` (default RUN_DIR/curves.png), `keys` (a list or a
--  comma-separated string), `width`, `height`
-- @treturn string the PNG's path
function plot.plot_run(opts)
   local dir = opts.run_dir:gsub("(.)/+$", "%1")
   local metrics = dir .. "/metrics.jsonl"
   local f = io.open(metrics, "rb")
   if not f then error(("no metrics.jsonl in %s"):format(dir), 0) end
   f:close()
   local records = require("gan.run").read_metrics(metrics)
   local available = plot.numeric_keys(records)
   local keys = opts.keys
   if type(keys) == "string" then
      local list = {}
      for k in keys:gmatch("[^,%s]+") do list[#list + 1] = k end
      keys = list
   end
   if keys then
      local known = {}
      for _, k in ipairs(available) do known[k] = true end
      for _, k in ipairs(keys) do
         if not known[k] then
            error(("%s has no numeric key '%s' (it has: %s)"):format(metrics, k,
               #available > 0 and table.concat(available, ", ") or "none"), 0)
         end
      end
   elseif #available == 0 then
      error(("%s holds no numeric metrics"):format(metrics), 0)
   end
   local img = plot.render(records, {keys = keys, title = dir:match("([^/]+)$"),
      width = opts.width, height = opts.height})
   local out = opts.out or dir .. "/curves.png"
   require("gan.core").image_save_png(out, img)
   return out
end

--- The `gan plot` command (registered in gan.cli).
plot.command = {
   name = "plot",
   summary = "Plot a run's metrics against step into a PNG.",
   description = "Plot the curves of RUN_DIR/metrics.jsonl (every numeric key except step, "
      .. "or those of --keys) against step into a PNG, by default RUN_DIR/curves.png.",
   setup = function(cmd)
      cmd:argument("run_dir", "The run directory (holding metrics.jsonl).")
      cmd:option("-o --out", "The PNG to write (default: RUN_DIR/curves.png).")
         :argname("<png>")
      cmd:option("-k --keys", "Comma-separated keys to plot, e.g. loss_d,loss_g.")
         :argname("<k1,k2>")
      local function pixels(s)
         local n = math.tointeger(tonumber(s))
         if n and n >= 100 and n <= 8000 then return n end
         return nil, "expected a number of pixels in [100, 8000], got " .. s
      end
      cmd:option("--width", "Image width in pixels.", "800"):convert(pixels)
      cmd:option("--height", "Image height in pixels.", "500"):convert(pixels)
   end,
   run = function(opts)
      local ok, res = pcall(plot.plot_run, opts)
      if not ok then
         io.stderr:write("gan plot: ", tostring(res), "\n")
         return 1
      end
      io.write("wrote ", res, "\n")
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
   return plot.command.run(opts)
end

return plot
