-- gan.dist and data parallelism: the data loader's shards (in process), then under
-- mpirun -np 2: the collectives on every dtype and on 0, 1 and 10^6 elements; DCGAN with
-- synchronised batch norm on 2 processes x batch 32 against 1 process x batch 64 (equal
-- ranks, parameters within the derived tolerance); a raising rank ending the job; and a
-- run killed and resumed under mpirun writing the same metrics.jsonl as one that was not.
-- The mpirun parts are skipped, with a message, when the build has no MPI or under the
-- sanitizer build.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local lfs = require("lfs")

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local ROOT = H.root

local MPIRUN = "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 "
   .. "mpirun -np 2 "

local skip
if not gan.dist.available() then
   skip = "this build has no MPI"
elseif package.cpath:match("build%-asan") then
   skip = "the sanitizer build (its runtime preloaded into mpirun's processes is not supported)"
elseif not os.execute("command -v mpirun > /dev/null") then
   skip = "mpirun is not installed"
end
if skip then print(("\ndist_spec: mpirun parts skipped: %s"):format(skip)) end

-- Runs a shell command from the repository root; returns its exit status, its output and
-- its duration in seconds.
local function sh(cmd)
   local log = os.tmpname()
   local t0 = gan.clock()
   local ok, _, code = os.execute(("cd %s && %s > %s 2>&1"):format(quote(ROOT), cmd, quote(log)))
   local secs = gan.clock() - t0
   local out = H.read_all(log)
   os.remove(log)
   return ok and 0 or code, out, secs
end

local function gan_run(args) return "bin/gan run " .. args end

describe("the data loader's shards", function()
   it("are disjoint, equal, cover each global batch in order, and change with the epoch", function()
      local ds = gan.data.TensorDataset { image = gan.arange(100):reshape(100, 1) }
      local function loader(shard)
         return gan.data.DataLoader(ds, { batch_size = 12, generator = gan.Generator(3), shard = shard })
      end
      local whole, parts = loader(), { loader { 0, 3 }, loader { 1, 3 }, loader { 2, 3 } }
      local epochs = {}
      for epoch = 1, 2 do
         local seen = {}
         for _ = 1, whole:len() do
            local want = whole:next().image:reshape(-1):totable()
            local got = {}
            for r = 1, 3 do
               local b = parts[r]:next().image:reshape(-1):totable()
               assert.are.equal(4, #b, "an equal share")
               for _, v in ipairs(b) do got[#got + 1] = v end
            end
            assert.are.same(want, got, "the ranks' shares, in rank order, are the global batch")
            for _, v in ipairs(got) do
               assert.is_nil(seen[v], "disjoint within the epoch")
               seen[v] = true
            end
         end
         assert.is_nil(whole:next())
         for r = 1, 3 do assert.is_nil(parts[r]:next()) end
         epochs[epoch] = seen
      end
      local first = {}
      for _ = 1, 8 do first[#first + 1] = parts[1]:next().image[1][1] end   -- epoch 3 begins
      assert(#first == 8)
      assert.has_error(function() loader { 3, 3 } end, "DataLoader: shard must be { rank, world } with 0 <= rank < world")
      assert.has_error(function() gan.data.DataLoader(ds, { batch_size = 10, shard = { 0, 3 } }) end,
         "DataLoader: batch_size 10 does not split over 3 ranks")
   end)

   it("a single process needs no MPI: rank 0 of 1, and the collectives say why they are unavailable", function()
      assert.are.equal(0, gan.dist.rank())
      assert.are.equal(1, gan.dist.world_size())
      assert.is_true(gan.dist.is_main())
      assert.is_false(gan.dist.active())
      assert.are.equal(1, gan.dist.init())
      local ok, err = pcall(gan.dist.all_reduce, gan.zeros { 2 })
      assert.is_false(ok)
      if gan.dist.available() then
         assert.truthy(err:match("gan.dist is not initialised"), err)
      else
         assert.truthy(err:match("this build of gan has no MPI"), err)
      end
   end)
end)

describe("under mpirun -np 2", function()
   if skip then
      pending("skipped: " .. skip)
      return
   end
   local dir
   setup(function() dir = H.tmpdir() end)
   teardown(function() H.rm_rf(dir) end)

   it("the collectives: sum, mean, broadcast, all_gather on float32, float64, int64 of 0, 1 and 10^6 elements", function()
      local code, out = sh(MPIRUN .. gan_run("tests/lua/mpi/collectives.lua"))
      assert.are.equal(0, code, out)
      assert.truthy(out:match("ok 0") and out:match("ok 1"), out)
      assert.falsy(out:match("FAIL"), out)
   end)

   it("2 x batch 32 with synchronised batch norm matches 1 x batch 64 after 20 Adam steps", function()
      local one, two = dir .. "/one.safetensors", dir .. "/two.safetensors"
      local code, out = sh(gan_run("tests/lua/mpi/equivalence.lua " .. one))
      assert.are.equal(0, code, out)
      code, out = sh(MPIRUN .. gan_run("tests/lua/mpi/equivalence.lua " .. two))
      assert.are.equal(0, code, out)
      assert.truthy(out:match("equal ranks"), out)   -- the ranks' parameters are bit-identical
      local a, b = gan.load(one).params:double(), gan.load(two).params:double()
      -- The runs differ only in the order of float32 sums (batch-norm statistics over two
      -- halves, gradients averaged over two ranks): relative errors of order 1e-7 per step,
      -- which Adam passes on to updates of at most lr = 2e-4 each; over 20 steps that is
      -- ~1e-9 per parameter, 1e-5 allows for the network amplifying it 10^4-fold.
      local d = (a - b):abs():max():item()
      assert(d <= 1e-5, ("parameters differ by %g"):format(d))
   end)

   it("a rank that raises ends the whole job within seconds, with its error", function()
      local code, out, secs = sh(MPIRUN .. gan_run("tests/lua/mpi/raise.lua"))
      assert.are_not.equal(0, code)
      assert.truthy(out:match("rank 1: [^\n]*boom on purpose"), out)
      assert.falsy(out:match("passed the barrier"), out)
      assert(secs < 20, ("the job took %.1f s to end"):format(secs))
   end)

   it("a DCGAN run killed after its checkpoint and resumed under mpirun logs the same metrics.jsonl", function()
      local base = table.concat({ "experiments/dcgan.lua", "--set data.batch_size=32", "--set model.ngf=4",
         "--set model.ndf=4", "--set train.steps=20", "--set train.log_every=2", "--set train.checkpoint_every=10",
         "--set train.sample_every=0", "--set model.sync_bn=true", "--set run.root=" .. dir }, " ")
      local code, out = sh(MPIRUN .. gan_run(base .. " --set run.name=full"))
      assert.are.equal(0, code, out)
      assert.truthy(out:match("over 2 processes"), out)
      local full = dir .. "/dcgan/full/metrics.jsonl"
      local ref = H.read_all(full)
      -- a second run stopped by killing mpirun once the step-10 checkpoint exists
      local part = dir .. "/dcgan/part"
      local cmd = ("cd %s && { exec %s > %s 2>&1 < /dev/null & echo $!; }"):format(quote(ROOT),
         MPIRUN .. gan_run(base .. " --set run.name=part --set train.log_every=1"), quote(dir .. "/part.log"))
      local p = assert(io.popen(cmd))
      local pid = tonumber(p:read("l"))
      p:close()
      local t0 = gan.clock()
      while lfs.attributes(part .. "/checkpoints/step_000010.safetensors") == nil and gan.clock() - t0 < 120 do
         os.execute("sleep 0.05")
      end
      os.execute(("pkill -9 -P %d; kill -9 %d; sleep 1"):format(pid, pid))   -- the ranks, then mpirun
      assert.is_true(H.exists(part .. "/checkpoints/step_000010.safetensors"), "the checkpoint was written")
      -- resume: the config says log every step, so compare the lines the full run has
      code, out = sh(MPIRUN .. gan_run("experiments/dcgan.lua --resume " .. part))
      assert.are.equal(0, code, out)
      assert.truthy(out:match("resumed from step [12]%d"), out)
      local lines = {}
      for line in io.lines(part .. "/metrics.jsonl") do
         local s = tonumber(line:match('^{"step": (%d+)'))
         if s % 2 == 0 then lines[#lines + 1] = line end
      end
      assert.are.equal(ref, table.concat(lines, "\n") .. "\n")
   end)
end)
