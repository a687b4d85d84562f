-- Exact resume end to end: experiments/dcgan.lua, wgan_gp.lua and cyclegan.lua run by
-- bin/gan in a child process that is killed (kill -9) after a checkpoint and resumed
-- write the same metrics.jsonl, byte for byte, as an uninterrupted run (same thread
-- count), and the same last sheet and weights; then `gan eval` on finished runs of every
-- model, with a tiny untrained classifier. (In process, exact resume is checked per model
-- in the models_*_spec files and for the loop in train_loop_spec.)
local gan = require("gan")
local lfs = require("lfs")
local cjson = require("cjson")

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function read_all(path)
   local f = assert(io.open(path, "rb"))
   local s = f:read("a")
   f:close()
   return s
end

local function exists(p) return lfs.attributes(p, "mode") ~= nil end

local function tmpdir()
   local d = os.tmpname()
   os.remove(d)
   assert(lfs.mkdir(d))
   return d
end

local function rm_rf(d) if d and d:match("^/tmp/") then os.execute("rm -rf " .. quote(d)) end end

local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local ROOT = H.root
local GAN = ROOT .. "/bin/gan"

local function sleep(s) os.execute("sleep " .. s) end

-- Runs bin/gan synchronously; returns its exit code and output.
local function gan_cmd(args, log)
   local words = { quote(GAN) }
   for _, a in ipairs(args) do words[#words + 1] = quote(a) end
   local ok, _, code = os.execute(("cd %s && %s > %s 2>&1"):format(quote(ROOT), table.concat(words, " "), quote(log)))
   return ok and 0 or code, read_all(log)
end

-- Starts bin/gan in the background; returns its pid.
local function gan_spawn(args, log)
   local words = { quote(GAN) }
   for _, a in ipairs(args) do words[#words + 1] = quote(a) end
   local p = assert(io.popen(("cd %s && { exec %s > %s 2>&1 < /dev/null & echo $!; }"):format(quote(ROOT),
      table.concat(words, " "), quote(log))))
   local pid = tonumber(p:read("l"))
   p:close()
   assert(pid, "could not start bin/gan")
   return pid
end

-- Running (a zombie left for a parent that does not reap counts as gone). Read from /proc
-- rather than by running ps: under the sanitizer run every subprocess inherits
-- LD_PRELOAD=libasan, and ps deadlocks at start-up with it.
local function alive(pid)
   local f = io.open(("/proc/%d/stat"):format(pid), "r")
   if not f then return false end
   local stat = f:read("l")
   f:close()
   local state = stat and stat:match("^%d+ %b() (%a)")
   return state ~= nil and state ~= "Z"
end

-- Waits for `path` to appear while the process lives; then kill -9 it.
local function kill_after(pid, path, timeout)
   local t0 = gan.clock()
   while not exists(path) do
      if not alive(pid) then error("the run ended before writing " .. path) end
      if gan.clock() - t0 > (timeout or 60) then
         os.execute(("kill -9 %d"):format(pid))
         error("timed out waiting for " .. path)
      end
      sleep(0.02)
   end
   os.execute(("kill -9 %d 2>/dev/null"):format(pid))
   while alive(pid) do sleep(0.02) end
end

H.single_threaded(setup, teardown)

-- ---------------------------------------------------------------- experiments in a child process

describe("experiment resume after kill -9 #release_only", function()
   local dir
   setup(function() dir = tmpdir() end)
   teardown(function() rm_rf(dir) end)

   local DCGAN = { "--set", "data.batch_size=16", "--set", "model.ngf=8", "--set", "model.ndf=8",
      "--set", "train.steps=40", "--set", "train.log_every=5", "--set", "train.checkpoint_every=10",
      "--set", "train.sample_every=20", "--set", "train.threads=1", "--set", "train.ema=0.9",
      "--set", "train.label_smoothing=0.1" }

   local function args(script, base, name)
      local a = { "run", "experiments/" .. script .. ".lua" }
      for _, w in ipairs(base) do a[#a + 1] = w end
      for _, w in ipairs { "--set", "run.root=" .. dir, "--set", "run.name=" .. name } do a[#a + 1] = w end
      return a
   end

   it("dcgan: killed after its step-20 checkpoint, resumed, logs the same metrics.jsonl", function()
      local code, out = gan_cmd(args("dcgan", DCGAN, "full"), dir .. "/full.log")
      assert.are.equal(0, code, out)
      local full = dir .. "/dcgan/full"
      local ref = read_all(full .. "/metrics.jsonl")
      local n = 0
      for _ in ref:gmatch("\n") do n = n + 1 end
      assert.are.equal(8, n)

      local part = dir .. "/dcgan/part"
      local pid = gan_spawn(args("dcgan", DCGAN, "part"), dir .. "/part.log")
      kill_after(pid, part .. "/checkpoints/step_000020.safetensors")
      assert.is_false(exists(part .. "/checkpoints/step_000040.safetensors"), "the run finished before the kill")
      code, out = gan_cmd({ "run", "experiments/dcgan.lua", "--resume", part }, dir .. "/resume.log")
      assert.are.equal(0, code, out)
      assert.truthy(out:match("resumed from step [23]0"), out)
      assert.are.equal(ref, read_all(part .. "/metrics.jsonl"))
      -- the last sample sheet too
      assert.are.equal(read_all(full .. "/samples/step_000040.png"), read_all(part .. "/samples/step_000040.png"))
      -- and the final weights (G and its EMA)
      local a = gan.load(full .. "/checkpoints/step_000040.safetensors").states
      local b = gan.load(part .. "/checkpoints/step_000040.safetensors").states
      assert.is_not_nil(a.ema_G)
      for _, key in ipairs { "G", "D" } do
         for k, v in pairs(a[key]) do assert.are.equal(0, (v - b[key][k]):abs():max():item(), key .. "." .. k) end
      end
      for k, v in pairs(a.ema_G.model) do assert.are.equal(0, (v - b.ema_G.model[k]):abs():max():item(), "ema." .. k) end
      -- a resumed run keeps its config: overrides are refused, not silently ignored
      code, out = gan_cmd({ "run", "experiments/dcgan.lua", "--resume", part, "--set", "train.steps=80" },
         dir .. "/resume2.log")
      assert.are_not.equal(0, code)
      assert.truthy(out:match("other arguments are not allowed %(%-%-set train%.steps=80%)"), out)
      assert.are.equal(ref, read_all(part .. "/metrics.jsonl"))
   end)

   it("wgan_gp: killed twice (after steps 8 and 16), resumed twice, logs the same metrics.jsonl", function()
      local W = { "--set", "data.batch_size=16", "--set", "model.ngf=8", "--set", "model.ndf=8",
         "--set", "train.steps=24", "--set", "train.log_every=2", "--set", "train.checkpoint_every=4",
         "--set", "train.sample_every=12", "--set", "train.threads=1" }
      local code, out = gan_cmd(args("wgan_gp", W, "full"), dir .. "/wfull.log")
      assert.are.equal(0, code, out)
      local ref = read_all(dir .. "/wgan_gp/full/metrics.jsonl")
      assert.truthy(ref:match('"gp": '))
      local part = dir .. "/wgan_gp/part"
      local pid = gan_spawn(args("wgan_gp", W, "part"), dir .. "/wpart.log")
      kill_after(pid, part .. "/checkpoints/step_000008.safetensors")
      assert.is_false(exists(part .. "/checkpoints/step_000024.safetensors"), "the run finished before the kill")
      pid = gan_spawn({ "run", "experiments/wgan_gp.lua", "--resume", part }, dir .. "/wres1.log")
      kill_after(pid, part .. "/checkpoints/step_000016.safetensors")
      assert.is_false(exists(part .. "/checkpoints/step_000024.safetensors"), "the run finished before the kill")
      code, out = gan_cmd({ "run", "experiments/wgan_gp.lua", "--resume", part }, dir .. "/wres2.log")
      assert.are.equal(0, code, out)
      assert.are.equal(ref, read_all(part .. "/metrics.jsonl"))
   end)

   it("cyclegan: killed after its step-6 checkpoint, resumed, logs the same metrics.jsonl and sheet", function()
      local C = { "--set", "data.image_size=32", "--set", "model.ngf=4", "--set", "model.ndf=4",
         "--set", "model.n_blocks=1", "--set", "train.steps=12", "--set", "train.decay_start=6",
         "--set", "train.log_every=2", "--set", "train.checkpoint_every=6", "--set", "train.sample_every=12",
         "--set", "train.n_samples=2", "--set", "train.threads=1" }
      local code, out = gan_cmd(args("cyclegan", C, "full"), dir .. "/cfull.log")
      assert.are.equal(0, code, out)
      local full = dir .. "/cyclegan/full"
      local ref = read_all(full .. "/metrics.jsonl")
      assert.truthy(ref:match('"cyc_a": '))
      local part = dir .. "/cyclegan/part"
      local pid = gan_spawn(args("cyclegan", C, "part"), dir .. "/cpart.log")
      kill_after(pid, part .. "/checkpoints/step_000006.safetensors")
      assert.is_false(exists(part .. "/checkpoints/step_000012.safetensors"), "the run finished before the kill")
      code, out = gan_cmd({ "run", "experiments/cyclegan.lua", "--resume", part }, dir .. "/cres.log")
      assert.are.equal(0, code, out)
      assert.are.equal(ref, read_all(part .. "/metrics.jsonl"))
      assert.are.equal(read_all(full .. "/samples/step_000012.png"), read_all(part .. "/samples/step_000012.png"))
   end)

   it("gan eval on acgan and infogan runs reports class accuracy, per-class FID, TSTR; code accuracy, MI", function()
      local want = { acgan = { "class_accuracy", "fid_class_0", "fid_class_mean", "fid_class_max", "tstr_accuracy", "fid" },
         infogan = { "cat_accuracy", "cat_matching", "mi", "fid", "confident" } }
      for _, e in ipairs { "acgan", "infogan" } do
         local code, out = gan_cmd(args(e, { "--set", "train.steps=4", "--set", "model.ngf=4", "--set", "model.ndf=4",
            "--set", "data.batch_size=16", "--set", "train.threads=1" }, "e"), dir .. "/" .. e .. ".log")
         assert.are.equal(0, code, out)
         code, out = gan_cmd({ "eval", dir .. "/" .. e .. "/e", "--n", "100" }, dir .. "/" .. e .. "_eval.log")
         assert.are.equal(0, code, out)
         for _, key in ipairs(want[e]) do
            assert.truthy(out:match("\n" .. key .. " +%S") or out:match("^" .. key .. " +%S"), e .. ": " .. key .. " in\n" .. out)
         end
      end
   end)

   it("gan eval on the finished dcgan run prints the metrics and writes eval.json", function()
      local full = dir .. "/dcgan/full"
      assert.is_true(exists(full .. "/checkpoints/step_000040.safetensors"), "needs the dcgan run above")
      gan.manual_seed(5)
      local clf = dir .. "/tiny_classifier.safetensors"
      gan.save(clf, { model = require("gan.metrics").Classifier():state_dict() })
      local code, out = gan_cmd({ "eval", full, "--n", "100", "--classifier", clf }, dir .. "/eval.log")
      assert.are.equal(0, code, out)
      for _, key in ipairs { "fid", "kid", "kid_std", "precision", "recall", "is", "is_std", "confident",
         "class_0", "class_9", "class_min", "class_max", "n_samples", "n_reference", "reference", "step", "ema" } do
         assert.truthy(out:match("\n" .. key .. " +%S") or out:match("^" .. key .. " +%S"), key .. " in\n" .. out)
      end
      local res = cjson.decode(read_all(full .. "/eval.json"))
      assert.are.equal(100, res.n_samples)
      assert.are.equal(40, res.step)
      assert.is_true(res.ema)
      assert.are.equal(clf, res.classifier)
      assert.are.equal(full .. "/checkpoints/step_000040.safetensors", res.checkpoint)
      assert.are.equal("mnist test (every 10th digit per class)", res.reference)
      assert(res.n_reference > 900 and res.n_reference <= 1000)
      assert(res.fid >= -1e-6 and res.fid == res.fid)
      local s = 0
      for c = 0, 9 do s = s + res["class_" .. c] end
      assert(math.abs(s - 1) < 1e-9)
      assert.truthy(out:match("fid +" .. ("%.6g"):format(res.fid):gsub("%.", "%%."):gsub("%-", "%%-")), out)
      -- a checkpoint named with --checkpoint is measured into eval_<its name>.json; eval.json stays
      local ck = full .. "/checkpoints/step_000040.safetensors"
      code, out = gan_cmd({ "eval", full, "--n", "50", "--classifier", clf, "--checkpoint", ck }, dir .. "/eval3.log")
      assert.are.equal(0, code, out)
      local named = cjson.decode(read_all(full .. "/eval_step_000040.json"))
      assert.are.equal(50, named.n_samples)
      assert.are.equal(ck, named.checkpoint)
      assert.are.equal(100, cjson.decode(read_all(full .. "/eval.json")).n_samples)
      assert.is_false(exists(full .. "/eval_step_000040.json.tmp"))
      -- a missing classifier file is a clean error
      code, out = gan_cmd({ "eval", full, "--n", "10", "--classifier", dir .. "/nope.safetensors" }, dir .. "/eval2.log")
      assert.are_not.equal(0, code)
      assert.truthy(out:match("no classifier weights"), out)
   end)
end)
