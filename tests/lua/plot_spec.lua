-- Drawing primitives (core/src/draw.c) and `gan plot` (gan.plot).
local lfs = require("lfs")
local gan = require("gan")
local core = require("gan.core")
local plot = require("gan.plot")
local run = require("gan.run")

local RED, BLUE = {1, 0, 0}, {0, 0, 1}

-- The pixel (x, y) (0-based) of a (3, H, W) image table from totable().
local function pixel(t, x, y)
   return {t[1][y + 1][x + 1], t[2][y + 1][x + 1], t[3][y + 1][x + 1]}
end

-- The set of painted pixels ("x,y" -> true) of a white image.
local function painted(img)
   local t, set, n = img:totable(), {}, 0
   for y = 1, #t[1] do
      for x = 1, #t[1][1] do
         if t[1][y][x] ~= 1 or t[2][y][x] ~= 1 or t[3][y][x] ~= 1 then
            set[(x - 1) .. "," .. (y - 1)] = true
            n = n + 1
         end
      end
   end
   return set, n
end

describe("drawing", function()
   local img
   before_each(function() img = gan.ones{3, 20, 30} end)

   it("draws a horizontal line's pixels, ends included", function()
      core.draw_line(img, 2, 5, 10, 5, RED)
      local set, n = painted(img)
      assert.are.equal(9, n)
      for x = 2, 10 do assert.is_true(set[x .. ",5"]) end
      assert.are.same({1, 0, 0}, pixel(img:totable(), 6, 5))
   end)

   it("draws diagonal and wide lines", function()
      core.draw_line(img, 0, 0, 9, 9, BLUE)
      local set, n = painted(img)
      assert.are.equal(10, n)
      for i = 0, 9 do assert.is_true(set[i .. "," .. i]) end
      -- wide diagonals: the span across the major axis grows with the slope (3 * sqrt 2)
      img = gan.ones{3, 20, 30}
      core.draw_line(img, 5, 5, 14, 14, BLUE, 3)
      assert.are.equal(10 * 4, select(2, painted(img)))
      img = gan.ones{3, 20, 30}
      core.draw_line(img, 3, 10, 3, 15, RED, 3)
      set, n = painted(img)
      assert.are.equal(6 * 3, n)
      for y = 10, 15 do
         assert.is_true(set["2," .. y] and set["3," .. y] and set["4," .. y])
      end
   end)

   it("clips lines to the image", function()
      core.draw_line(img, -100, 7, 1e9, 7, RED)
      local set, n = painted(img)
      assert.are.equal(30, n)
      assert.is_true(set["0,7"] and set["29,7"])
      img = gan.ones{3, 20, 30}
      core.draw_line(img, -50, -50, -10, -40, RED, 4)
      assert.are.equal(0, select(2, painted(img)))
   end)

   it("fills a rectangle, clipped", function()
      core.fill_rect(img, 4, 3, 5, 2, {0, 1, 0})
      local set, n = painted(img)
      assert.are.equal(10, n)
      for x = 4, 8 do assert.is_true(set[x .. ",3"] and set[x .. ",4"]) end
      assert.are.same({0, 1, 0}, pixel(img:totable(), 8, 4))
      img = gan.ones{3, 20, 30}
      core.fill_rect(img, 25, 18, 10, 10, RED)
      assert.are.equal(5 * 2, select(2, painted(img)))
   end)

   it("draws text inside the box text_size gives", function()
      local w, h = core.text_size("gan 42")
      assert.is_true(w > 20 and h >= 10)
      local w2, h2 = core.text_size("gan 42", 2)
      assert.are.same({2 * w, 2 * h}, {w2, h2})
      for _, scale in ipairs{1, 2} do
         img = gan.ones{3, 40, 60}
         core.draw_text(img, 3, 4, "gan 42", {0, 0, 0}, scale)
         local set, n = painted(img)
         assert.is_true(n > 20 * scale * scale)
         local sw, sh = core.text_size("gan 42", scale)
         for key in pairs(set) do
            local x, y = key:match("(%d+),(%d+)")
            x, y = tonumber(x), tonumber(y)
            assert.is_true(x >= 3 and x < 3 + sw and y >= 4 and y < 4 + sh, key)
         end
      end
      -- bytes outside printable ASCII draw as '?' instead of reading out of bounds
      img = gan.ones{3, 40, 60}
      core.draw_text(img, 0, 0, "\1\200\255", {0, 0, 0})
      assert.is_true(select(2, painted(img)) > 0)
   end)

   it("refuses images that are not contiguous float32 (3, H, W)", function()
      assert.has_error(function() core.fill_rect(gan.ones{1, 5, 5}, 0, 0, 1, 1, RED) end,
         "fill_rect: expected a contiguous float32 (3, H, W) image, got float32 (1, 5, 5)")
      assert.has_error(function()
         core.draw_line(gan.ones({3, 5, 5}, {dtype = "float64"}), 0, 0, 1, 1, RED)
      end)
      assert.has_error(function() core.draw_line(img, 0, 0, 1, 1, {1, 0}) end)
      assert.has_error(function() core.draw_text(img, 0, 0, "x", RED, 0) end)
      assert.has_error(function() core.draw_line(img, 0, 0, 0 / 0, 1, RED) end)
   end)
end)

-- Pixels of the image (3, H, W tensor) close to colour c.
local function count_color(img, c)
   local d = (img - gan.tensor(c):view(3, 1, 1)):abs():max(1)
   return math.tointeger(d:lt(0.02):sum():item())
end

-- Calls fn(...) with io.write going to a scratch file.
local function quietly(fn, ...)
   local saved, path = io.output(), os.tmpname()
   io.output(path)
   local ok, res = pcall(fn, ...)
   local scratch = io.output()
   io.output(saved)
   scratch:close()
   os.remove(path)
   assert(ok, res)
   return res
end

local function sh(cmd)
   local p = io.popen(cmd .. " 2>&1; echo \"exit=$?\"")
   local out = p:read("a")
   p:close()
   return out:match("^(.-)exit=(%d+)%s*$")
end

describe("gan plot", function()
   local root, r
   before_each(function()
      root = os.tmpname()
      os.remove(root)
      assert(lfs.mkdir(root))
      r = run.new{experiment = "p", root = root, name = "demo"}
      for step = 10, 500, 10 do
         r:log(step, {loss_d = 1 / math.sqrt(step), loss_g = 0.5 + step / 1000, lr = 2e-4,
                      phase = "train"})
      end
      r:close()
   end)
   after_each(function() os.execute("rm -rf '" .. root .. "'") end)

   it("renders every numeric series in its colour", function()
      local img = plot.render(r:metrics(), {title = "demo", width = 400, height = 300})
      assert.are.same({3, 300, 400}, {img:size(1), img:size(2), img:size(3)})
      assert.are.same({"loss_d", "loss_g", "lr"}, plot.numeric_keys(r:metrics()))
      for i = 1, 3 do assert.is_true(count_color(img, plot.colors[i]) > 30, i) end
      assert.is_true(count_color(img, {1, 1, 1}) > 400 * 300 / 2)   -- white background
      assert.is_true(count_color(img, {0, 0, 0}) > 300)             -- axes, title, legend
   end)

   it("puts another key on the x axis: it is not drawn as a series, and x may be fractional", function()
      local recs = {}
      for i = 1, 8 do recs[i] = { truncation = i / 8, fid = 10 + i, precision = 1 - i / 10 } end
      local img = plot.render(recs, { x = "truncation", width = 400, height = 300 })
      -- two series (fid, precision) in the first two colours, none in the third
      assert.is_true(count_color(img, plot.colors[1]) > 30 and count_color(img, plot.colors[2]) > 30)
      assert.are.equal(0, count_color(img, plot.colors[3]))
      -- the same series against the default x (step) is missing: no finite x at all
      assert.has_error(function() plot.render(recs, { keys = { "fid" } }) end, "plot: the series hold no finite values")
   end)

   it("writes RUN_DIR/curves.png of the expected size", function()
      local wired = false
      for _, c in ipairs(require("gan.cli").commands) do wired = wired or c.name == "plot" end
      if wired then
         local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
         local out, code = sh(("%s../../bin/gan plot %s"):format(here, r.dir))
         assert.are.equal("0", code, out)
         assert.matches("wrote .*curves%.png", out)
      else
         assert.are.equal(0, quietly(plot.main, {r.dir}))
      end
      -- one panel per metric (loss_d, loss_g, lr) of the default 400 x 260, three in a row,
      -- each series in the first colour (one run, one key per panel)
      local img = core.image_load(r.dir .. "/curves.png", 3)
      assert.are.same({3, 260, 1200}, {img:size(1), img:size(2), img:size(3)})
      for p = 0, 2 do
         local panel = img:narrow(3, p * 400 + 1, 400)
         assert.is_true(count_color(panel, plot.colors[1]) > 100, p)
         assert.are.equal(0, count_color(panel, plot.colors[2]), p)
      end
   end)

   it("groups numbered keys into one panel and overlays runs in their own colours", function()
      assert.are.same({{title = "eval_class_*", keys = {"eval_class_2", "eval_class_10"}},
                       {title = "eval_fid", keys = {"eval_fid"}}, {title = "loss_1x", keys = {"loss_1x"}}},
         plot.panels({"eval_class_10", "eval_class_2", "eval_fid", "loss_1x"}))
      assert.are.same({{title = "d_1", keys = {"d_1"}}}, plot.panels({"d_1"}))   -- a lone number stays
      local r2 = run.new{experiment = "p", root = root, name = "other"}
      for step = 10, 300, 10 do r2:log(step, {loss_d = 2 - step / 300}) end
      r2:close()
      local out = root .. "/both.png"
      assert.are.equal(0, quietly(plot.main, {r.dir, r2.dir, "--out", out, "--keys", "loss_d,loss_g",
                                              "--columns", "1"}))
      local img = core.image_load(out, 3)
      -- a legend strip naming the runs above two panels stacked in one column
      local strip = img:size(2) - 2 * 260
      assert.is_true(strip >= 20 and strip <= 40, strip)
      assert.are.equal(400, img:size(3))
      local function panel(i) return img:narrow(2, strip + (i - 1) * 260 + 1, 260) end
      -- loss_d: run 1 in colour 1, run 2 in colour 2; loss_g: run 1 alone
      assert.is_true(count_color(panel(1), plot.colors[1]) > 100 and count_color(panel(1), plot.colors[2]) > 100)
      assert.is_true(count_color(panel(2), plot.colors[1]) > 100)
      assert.are.equal(0, count_color(panel(2), plot.colors[2]))
   end)

   it("smooths as a debiased exponential moving average, keeping gaps", function()
      local pts = {{1, 1}, {2, 3}, false, {4, 0}}
      local sm = plot.smooth(pts, 0.5)
      -- by hand: a1 = 0.5 -> 0.5 / 0.5 = 1; a2 = 0.25 + 1.5 = 1.75 -> 1.75 / 0.75; a3 = 0.875 -> 0.875 / 0.875
      assert.are.equal(1, sm[1][2])
      assert.is_true(math.abs(sm[2][2] - 1.75 / 0.75) < 1e-12)
      assert.is_false(sm[3])
      assert.is_true(math.abs(sm[4][2] - 1) < 1e-12)
      assert.are.same(pts, plot.smooth(pts, 0))
      assert.has_error(function() plot.smooth(pts, 1) end, "plot.smooth: the weight must be in [0, 1), got 1")
      -- a smoothed panel draws the raw curve faint under the solid one; a short series is not smoothed
      local noisy = {}
      for i = 1, 200 do noisy[i] = {step = i * 10, y = (i % 2 == 0) and 1 or 0} end
      local c = plot.colors[1]   -- the faint colour: 70 % of the way to white
      local faint = {0.7 + 0.3 * c[1], 0.7 + 0.3 * c[2], 0.7 + 0.3 * c[3]}
      local img = plot.render(noisy, {keys = {"y"}, smooth = 0.9, width = 400, height = 300})
      assert.is_true(count_color(img, faint) > 100)
      local short = {table.unpack(noisy, 1, 20)}
      assert.are.equal(0, count_color(plot.render(short, {keys = {"y"}, smooth = 0.9, width = 400, height = 300}), faint))
   end)

   it("takes --out and --keys", function()
      local out = root .. "/chosen.png"
      assert.are.equal(0, quietly(plot.main, {r.dir, "--out", out, "--keys", "loss_g",
                                              "--width", "300", "--height", "200"}))
      local img = core.image_load(out, 3)
      assert.are.same({3, 200, 300}, {img:size(1), img:size(2), img:size(3)})
      assert.is_true(count_color(img, plot.colors[1]) > 50)   -- loss_g is the only series
      assert.are.equal(0, count_color(img, plot.colors[2]))
   end)

   it("fails with a message on a bad key, a missing run or bad arguments", function()
      local err = os.tmpname()
      local f = assert(io.open(err, "wb"))
      local stderr = io.stderr
      io.stderr = f   -- luacheck: ignore
      local a = plot.main({r.dir, "--keys", "loss_x"})
      local b = plot.main({root .. "/nothing"})
      local c = plot.main({})
      io.stderr = stderr   -- luacheck: ignore
      f:close()
      local text = assert(io.open(err, "rb")):read("a")
      os.remove(err)
      assert.are.same({1, 1, 2}, {a, b, c})
      assert.matches("no run has a numeric key 'loss_x' %(they have: loss_d, loss_g, lr%)", text)
      assert.matches("no metrics.jsonl in ", text)
   end)
end)
