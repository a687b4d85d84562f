-- gan report: a run as one self-contained HTML page (gan.report), and its rendering in a
-- real browser (headless Chromium).
local gan = require("gan")
local cjson = require("cjson")
local report = require("gan.report")
local plot = require("gan.plot")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")

local function sh(cmd)
   local p = assert(io.popen(cmd .. " 2>&1; echo \"rc=$?\""))
   local out = p:read("a")
   p:close()
   local rc = out:match("rc=(%d+)%s*$")
   return out:gsub("rc=%d+%s*$", ""), tonumber(rc)
end

local function write(path, text)
   local f = assert(io.open(path, "wb"))
   f:write(text)
   f:close()
end

-- A run directory as training leaves it: metrics with a NaN and an evaluation, timing,
-- a health warning, 15 sample sheets, a config with markup in a value, best.json.
local function fake_run(root, n_sheets)
   local r = gan.run.new { experiment = "demo", root = root, name = "r1",
      config = { train = { steps = 300 }, note = "<script>alert(1)</script> & more" } }
   for step = 10, 300, 10 do
      r:log(step, { loss_d = 1 / step, loss_g = step == 50 and 0 / 0 or step / 100 })
   end
   r:log(300, { eval_fid = 12.5, eval_class_0 = 0.25, eval_class_1 = 0.75 })
   r:close()
   local f = assert(io.open(r.dir .. "/timing.jsonl", "wb"))
   for step = 10, 300, 10 do f:write(('{"step": %d, "images_per_s": %d, "seconds": %d}\n'):format(step, 100 + step % 7, step)) end
   f:close()
   write(r.dir .. "/health.jsonl", cjson.encode { step = 120, detector = "d_wins",
      message = "D wins: loss_d below 0.05 for 200 steps <b>" } .. "\n")
   write(r.dir .. "/checkpoints/best.json", '{"step": 300, "value": 12.5, "mode": "min"}')
   for i = 1, n_sheets or 15 do
      local img = gan.zeros { 3, 16, 16 } + (i / 20)
      img:narrow(2, 1, 8):fill_(0.9)   -- two bands, so the sheet is not one colour
      gan.image.save(("%s/samples/step_%06d.png"):format(r.dir, i * 20), img)
   end
   return r.dir
end

describe("gan.report", function()
   local root
   before_each(function() root = H.tmpdir() end)
   after_each(function() H.rm_rf(root) end)

   it("encodes base64 as coreutils' base64 does", function()
      for _, n in ipairs { 0, 1, 2, 3, 4, 5, 999 } do
         local bytes = {}
         for i = 1, n do bytes[i] = string.char((i * 37 + n * 11) % 256) end
         local s = table.concat(bytes)
         local path = root .. "/b"
         write(path, s)
         local want = sh("base64 -w0 '" .. path .. "'")
         assert.are.equal(want, report.base64(s), n)
      end
   end)

   it("writes one self-contained page: warnings, evaluation, curve data, sheets, timing, escaped config", function()
      local dir = fake_run(root)
      local path = report.write(dir)
      assert.are.equal(dir .. "/report.html", path)
      assert.is_false(H.exists(path .. ".tmp"))
      local html = H.read_all(path)
      assert.matches("<h1>demo/r1</h1>", html, 1, true)
      assert.matches("step 300 of 300", html, 1, true)
      -- the markup of a config value and a warning is shown, not run
      assert.is_nil(html:find("<script>alert(1)", 1, true))
      assert.matches("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more", html, 1, true)
      assert.matches("step 120: D wins: loss_d below 0.05 for 200 steps &lt;b&gt;", html, 1, true)
      assert.matches("Best checkpoint: step 300, value 12.5 (min)", html, 1, true)
      assert.matches("Last periodic evaluation, step 300", html, 1, true)
      -- nothing is fetched: every image is inline, there is no src= or href= to a file
      for ref in html:gmatch('src="([^"]*)"') do assert.matches("^data:image/png;base64,", ref) end
      assert.is_nil(html:find("href=", 1, true))
      -- 15 sheets thinned to 12: the first and the last kept, evenly spaced
      local steps = {}
      for s in html:gmatch('alt="samples at step (%d+)"') do steps[#steps + 1] = tonumber(s) end
      assert.are.equal(report.max_sheets, #steps)
      assert.are.equal(20, steps[1])
      assert.are.equal(300, steps[#steps])
      for i = 2, #steps do assert.is_true(steps[i] > steps[i - 1]) end
      -- the inlined PNG is the file's bytes
      local png = H.read_all(dir .. "/samples/step_000300.png")
      assert.matches('alt="samples at step 300" src="data:image/png;base64,' .. report.base64(png):gsub("%p", "%%%0"), html)
      -- the curve data: one panel per metric (numbered keys together), then images/s
      local data = cjson.decode(html:match('<script id="curve%-data" type="application/json">(.-)</script>'))
      local titles = {}
      for i, p in ipairs(data.panels) do titles[i] = p.title end
      local want = {}
      for i, p in ipairs(plot.panels { "eval_class_0", "eval_class_1", "eval_fid", "loss_d", "loss_g" }) do want[i] = p.title end
      want[#want + 1] = "images_per_s (timing.jsonl)"
      assert.are.same(want, titles)
      local loss_g = data.panels[4].series[1]
      assert.are.equal(30, #loss_g.x)
      assert.are.equal(cjson.null, loss_g.y[5])   -- the NaN at step 50 is a gap
      assert.are.equal(3, loss_g.y[30])
      assert.matches("images/s, median</span> 103", html, 1, true)
   end)

   it("reduces a long series to bucket means; says what is missing in a fresh run", function()
      local r = gan.run.new { experiment = "long", root = root, name = "r", config = {} }
      for step = 1, 5000 do r:log(step, { x = step }) end
      r:close()
      local data = cjson.decode(report.html(r.dir):match('type="application/json">(.-)</script>'))
      local s = data.panels[1].series[1]
      assert.are.equal(report.max_points, #s.x)
      -- 5000 points in 2000 buckets of 2 or 3: the first bucket is steps 1-2, the last 4998-5000
      assert.are.same({ 2, 1.5 }, { s.x[1], s.y[1] })
      assert.are.same({ 5000, 4999 }, { s.x[#s.x], s.y[#s.y] })
      local html = report.html(r.dir)
      assert.matches("The health monitor raised no warning.", html, 1, true)
      assert.matches("No evaluation yet", html, 1, true)
      assert.matches("No sample sheet yet.", html, 1, true)
      assert.matches("No timing.jsonl yet.", html, 1, true)
   end)

   it("refuses a directory that is not a run, from Lua and from the command line", function()
      assert.has_error(function() report.write(root) end, ("no metrics.jsonl in %s: not a run directory"):format(root))
      local out, rc = sh(("%s/bin/gan report %s/nowhere"):format(H.root, root))
      assert.are.equal(1, rc)
      assert.matches("gan report: no metrics.jsonl in .*/nowhere: not a run directory", out)
   end)
end)

describe("gan report in headless Chromium #release_only", function()
   local root
   before_each(function() root = H.tmpdir() end)
   after_each(function() H.rm_rf(root) end)

   it("renders every panel, shows curves and sheets, logs no console message", function()
      local dir = fake_run(root, 4)
      local out, rc = sh(("%s/bin/gan report %s"):format(H.root, dir))
      assert.are.equal(0, rc, out)
      local chromium = "chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars "
         .. "--user-data-dir=" .. root .. "/profile --enable-logging=stderr --v=0 "
      local url = "file://" .. dir .. "/report.html"
      local shot = root .. "/shot.png"
      local log
      log, rc = sh(chromium .. "--window-size=1280,2400 --screenshot=" .. shot .. " " .. url)
      assert.are.equal(0, rc, log)
      -- console messages (script errors among them) appear as CONSOLE lines
      assert.is_nil(log:find("CONSOLE", 1, true), log)
      -- the DOM after the script ran: one SVG per panel, each with its curves
      local dom
      dom, rc = sh(chromium .. "--dump-dom " .. url)
      assert.are.equal(0, rc)
      local svgs, paths = 0, 0
      for svg in dom:gmatch('<svg[^>]*class="curve".-</svg>') do
         svgs = svgs + 1
         if svg:find('data-label="', 1, true) then paths = paths + 1 end
      end
      assert.are.equal(5, svgs)   -- eval_class_*, eval_fid, loss_d, loss_g, images_per_s
      assert.are.equal(svgs, paths)
      -- the screenshot is a page, not a blank: white background, dark text, the first
      -- curve colour (#1f77b4) and the sheets' grey bands
      local img = gan.image.load(shot)
      local h, w = img:size(2), img:size(3)
      local function share(c)
         local d = (img - gan.tensor(c):view(3, 1, 1)):abs():max(1)
         return d:lt(0.03):sum():item() / (h * w)
      end
      local white, blue, grey = share { 1, 1, 1 }, share { 31 / 255, 119 / 255, 180 / 255 }, share { 0.9, 0.9, 0.9 }
      assert.is_true(white > 0.5 and white < 0.99, white)
      assert.is_true(blue > 0.0001, blue)   -- some 300 pixels of curve; a page without curves has none
      assert.is_true(grey > 0.001, grey)
   end)
end)
