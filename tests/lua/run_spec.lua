-- gan.run: the run directory, metrics.jsonl, checkpoints bookkeeping and the progress line.
local lfs = require("lfs")
local cjson = require("cjson")
local core = require("gan.core")
local config = require("gan.config")
local run = require("gan.run")

local function read(path)
   local f = assert(io.open(path, "rb"))
   local s = f:read("a")
   f:close()
   return s
end

local function touch(path)
   assert(io.open(path, "wb")):close()
end

local function exists(path)
   return lfs.attributes(path, "mode")
end

local function lines(text)
   local t = {}
   for l in text:gmatch("[^\n]+") do t[#t + 1] = l end
   return t
end

local defaults = {seed = 1, train = {steps = 3, lr = 2e-4, betas = {0.5, 0.999}},
                  data = {root = "data/x"}}

describe("gan.run", function()
   local root

   before_each(function()
      root = os.tmpname()
      os.remove(root)
      assert(lfs.mkdir(root))
   end)
   after_each(function()
      os.execute("rm -rf '" .. root .. "'")
   end)

   it("creates the run directory of a tiny scripted run", function()
      local cfg = config.resolve(defaults, {overrides = {"train.lr=1e-4"}})
      local argv = {[-2] = "bin/gan", [-1] = "run", [0] = "exp.lua", "--set", "train.lr=1e-4"}
      local r = run.new{experiment = "tiny", root = root, config = cfg, argv = argv}
      assert.matches("^" .. root:gsub("%p", "%%%0") .. "/tiny/%d%d%d%d%d%d%d%d%-%d%d%d%d%d%d$",
         r.dir)
      assert.are.equal("tiny", r.experiment)
      assert.are.equal("directory", exists(r.dir .. "/samples"))
      assert.are.equal("directory", exists(r.dir .. "/checkpoints"))
      assert.are.equal("", read(r.dir .. "/metrics.jsonl"))

      -- config.yaml reads back as the resolved config
      assert.are.same(cfg, config.resolve(defaults, {file = r.dir .. "/config.yaml"}))

      -- command.txt: the command line and the commit
      local cmd = read(r.dir .. "/command.txt")
      assert.matches("command: bin/gan run exp.lua %-%-set train.lr=1e%-4\n", cmd)
      local commit = cmd:match("commit: (%S+)\n")
      assert.is_truthy(commit == "unknown" or commit:match("^%x+$"))

      -- the training loop
      for step = 1, 3 do
         r:log(step, {loss_d = 0.5 + step, loss_g = 1 / step, lr = 1e-4, imgs_per_s = 100.5,
                      note = "x", nan = 0 / 0})
         core.image_save_png(r:sample_path(step), core.ones({3, 4, 4}))
      end
      local text = read(r.dir .. "/metrics.jsonl")
      local ls = lines(text)
      assert.are.equal(3, #ls)
      assert.matches('^{"step": 1, ', ls[1])   -- step first
      for i, l in ipairs(ls) do
         local rec = cjson.decode(l)
         assert.are.equal(i, rec.step)
         assert.are.equal(0.5 + i, rec.loss_d)
         assert.are.equal(1 / i, rec.loss_g)    -- exact
         assert.are.equal(1e-4, rec.lr)
         assert.are.equal(100.5, rec.imgs_per_s)
         assert.are.equal("x", rec.note)
         assert.is_true(rec.nan ~= rec.nan)
      end
      assert.are.equal(3, #r:metrics())
      assert.are.equal(r.dir .. "/samples/step_000002.png", r:sample_path(2))
      assert.are.equal("file", exists(r:sample_path(3)))
      r:close()
   end)

   it("logs one-element tensors and rejects bad values", function()
      local r = run.new{experiment = "t", root = root}
      r:log(10, {loss = core.tensor({0.25})})
      assert.are.equal(0.25, r:metrics()[1].loss)
      assert.has_error(function() r:log(11, {bad = {}}) end)
      assert.has_error(function() r:log(1.5, {}) end)
      assert.has_error(function() r:log(1, {step = 2}) end)
   end)

   it("gives runs unique names and refuses to reuse an explicit one", function()
      local a = run.new{experiment = "u", root = root}
      local b = run.new{experiment = "u", root = root}
      assert.are_not.equal(a.dir, b.dir)
      local c = run.new{experiment = "u", root = root, name = "mine"}
      assert.are.equal(root .. "/u/mine", c.dir)
      assert.has_error(function() run.new{experiment = "u", root = root, name = "mine"} end)
      assert.has_error(function() run.new{root = root} end)
   end)

   it("keeps the latest k checkpoints", function()
      local r = run.new{experiment = "k", root = root, name = "r"}
      for _, step in ipairs{100, 200, 300, 1000} do touch(r:checkpoint_path(step)) end
      touch(r.dir .. "/checkpoints/best.safetensors")
      assert.are.equal(r.dir .. "/checkpoints/step_000300.safetensors", r:checkpoint_path(300))
      local removed = r:keep_checkpoints(2)
      assert.are.same({r:checkpoint_path(100), r:checkpoint_path(200)}, removed)
      assert.is_nil(exists(r:checkpoint_path(100)))
      assert.is_nil(exists(r:checkpoint_path(200)))
      assert.are.equal("file", exists(r:checkpoint_path(300)))
      assert.are.equal("file", exists(r:checkpoint_path(1000)))
      assert.are.equal("file", exists(r.dir .. "/checkpoints/best.safetensors"))
      local path, step = r:latest_checkpoint()
      assert.are.equal(r:checkpoint_path(1000), path)
      assert.are.equal(1000, step)
   end)

   it("saves the best checkpoint when the metric improves", function()
      local r = run.new{experiment = "b", root = root, name = "r"}
      local saved = {}
      local function save(path)
         saved[#saved + 1] = path
         touch(path)
      end
      assert.is_true(r:save_best(1, 10.0, save))
      assert.is_false(r:save_best(2, 12.0, save))
      assert.is_true(r:save_best(3, 8.0, save))
      assert.is_false(r:save_best(4, 8.0, save))
      assert.is_false(r:save_best(5, 0 / 0, save))
      assert.are.equal(2, #saved)
      assert.are.equal(r.dir .. "/checkpoints/best.safetensors", saved[1])
      assert.are.same({step = 3, value = 8.0, mode = "min"}, r.best)

      -- the best so far survives reopening the run
      local again = run.open(r.dir)
      assert.is_false(again:save_best(6, 9.0, save))
      assert.is_true(again:save_best(7, 7.5, save))

      local m = run.new{experiment = "b", root = root, name = "max"}
      assert.is_true(m:save_best(1, 0.5, save, {mode = "max"}))
      assert.is_false(m:save_best(2, 0.4, save, {mode = "max"}))
      assert.is_true(m:save_best(3, 0.9, save, {mode = "max"}))
   end)

   it("reopens a run: config and metrics", function()
      local cfg = config.resolve(defaults, {overrides = {"seed=9"}})
      local r = run.new{experiment = "o", root = root, name = "r", config = cfg}
      r:log(1, {loss = 1.0})
      r:log(2, {loss = 0.5})
      r:close()
      local o = run.open(r.dir .. "/")
      assert.are.equal("r", o.name)
      assert.are.equal("o", o.experiment)
      assert.are.equal(9, o.config.seed)
      assert.are.same(cfg, run.open(r.dir, defaults).config)
      o:log(3, {loss = 0.25})
      local m = o:metrics()
      assert.are.same({{step = 1, loss = 1.0}, {step = 2, loss = 0.5}, {step = 3, loss = 0.25}}, m)
      assert.has_error(function() run.open(root .. "/none") end)
   end)

   it("skips a last line cut short by a crash", function()
      local r = run.new{experiment = "c", root = root, name = "r"}
      r:log(1, {loss = 1.0})
      r:close()
      local f = assert(io.open(r.dir .. "/metrics.jsonl", "ab"))
      f:write('{"step": 2, "lo')
      f:close()
      assert.are.equal(1, #run.open(r.dir):metrics())
   end)
end)

describe("gan.run.Progress", function()
   local path
   before_each(function() path = os.tmpname() end)
   after_each(function() os.remove(path) end)

   it("writes plain lines every `every` steps and at the end when not a terminal", function()
      local out = assert(io.open(path, "wb"))
      local p = run.Progress{total = 10, every = 4, out = out}
      assert.is_false(p.tty)
      for step = 1, 10 do
         p:update(step, {loss_d = 0.125 * step, loss_g = 2.5, imgs_per_s = 640})
      end
      p:close()
      out:close()
      local text = read(path)
      assert.is_nil(text:find("\r"))
      local ls = lines(text)
      assert.are.equal(3, #ls)
      assert.matches("^step 4/10 +40%% .* ETA %S+ | 640%.0 img/s | loss_d 0%.5 loss_g 2%.5$", ls[1])
      assert.matches("^step 8/10 +80%% .*ETA ", ls[2])
      assert.matches("^step 10/10 100%% .*ETA 0s | 640%.0 img/s | loss_d 1%.25 loss_g 2%.5$", ls[3])
   end)

   it("prints the last step at close when it was not due", function()
      local out = assert(io.open(path, "wb"))
      local p = run.Progress{total = 100, every = 5, out = out}
      for step = 1, 7 do p:update(step, {loss = 1}) end
      p:close()
      p:close()
      out:close()
      local ls = lines(read(path))
      assert.are.equal(2, #ls)
      assert.matches("^step 5/100 ", ls[1])
      assert.matches("^step 7/100 +7%% .*ETA %d", ls[2])
   end)

   it("bases the ETA of a resumed run on the steps done since it started", function()
      local real_clock, now = core.clock, 100
      core.clock = function() return now end
      local ok, err = pcall(function()
         local out = assert(io.open(path, "wb"))
         local p = run.Progress{total = 1000, every = 10, out = out, start = 800}
         now = 120 -- 20 s for the 10 steps 801..810: 2 s a step, 190 steps left
         p:update(810, {})
         p:close()
         out:close()
      end)
      core.clock = real_clock
      assert(ok, err)
      assert.matches("^step 810/1000 +81%% 20s ETA 6m20s$", lines(read(path))[1])
   end)

   it("redraws one line with \\r on a terminal", function()
      local out = assert(io.open(path, "wb"))
      local p = run.Progress{total = 3, out = out, tty = true}
      for step = 1, 3 do p:update(step, {loss = step}) end
      p:close()
      out:close()
      local text = read(path)
      assert.matches("^\rstep 1/3 %[", text)
      assert.matches("\rstep 3/3 %[####################%] 100%% .*loss 3 *\n$", text)
      assert.are.equal(1, select(2, text:gsub("\n", "")))
   end)
end)
