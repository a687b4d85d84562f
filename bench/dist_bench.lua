--- Data parallelism on this machine, one process of a measurement (bench/dist.sh runs
-- them, alternating, and prints the table):
--
--     lua5.4 bench/dist_bench.lua step dcgan32 ITERS WARMUP         # 1 process
--     mpirun -np 2 lua5.4 bench/dist_bench.lua step dcgan32 ...     # 2 processes
--     mpirun -np 2 lua5.4 bench/dist_bench.lua allreduce
--
-- step: the model's training step (its train_step through the update site, with the
-- gradient all-reduce under mpirun) on random data at a global batch of 64 (dcgan32:
-- DCGAN at 32x32, ngf = ndf = 32, MNIST-shaped) or 1 (cyclegan64: CycleGAN at 64x64,
-- ngf = ndf = 32, 6 blocks; with 2 processes each takes one image of a global batch of
-- 2, so its per-image rate is what compares); prints rank 0's median step time and the
-- images per second of the whole job. allreduce: the time of dist.all_reduce on float32
-- buffers of 4 KB to 64 MB (median of 20) and the resulting bandwidth, message bytes per
-- second. Threads: BENCH_THREADS (default: the machine's cores shared among the ranks).
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("GAN_BUILD_DIR") or "build") .. "/?.so;" .. package.cpath
local gan = require("gan")
local dist = gan.dist
dist.init()
local threads = tonumber(os.getenv("BENCH_THREADS")) or dist.default_threads()
gan.set_num_threads(threads)
local mode = arg[1] or error("usage: dist_bench.lua step CASE [ITERS WARMUP] | allreduce")

local function median(t)
   local s = { table.unpack(t) }
   table.sort(s)
   local n = #s
   return n % 2 == 1 and s[(n + 1) // 2] or 0.5 * (s[n // 2] + s[n // 2 + 1])
end

if mode == "allreduce" then
   for _, bytes in ipairs { 4096, 65536, 1 << 20, 16 << 20, 32 << 20, 64 << 20 } do
      local t = gan.zeros { bytes // 4 }
      for _ = 1, 3 do dist.all_reduce(t, "sum") end
      local times = {}
      for i = 1, 20 do
         dist.barrier()
         local t0 = gan.clock()
         dist.all_reduce(t, "sum")
         times[i] = gan.clock() - t0
      end
      local m = median(times)
      if dist.is_main() then
         print(("allreduce bytes %d median_us %.1f bandwidth_MBps %.1f"):format(bytes, m * 1e6, bytes / m / 1e6))
      end
   end
   return
end

local case, iters, warmup = arg[2], tonumber(arg[3]) or 10, tonumber(arg[4]) or 3
local w = dist.world_size()
local M, values, global, shape
if case == "dcgan32" then
   M, global, shape = gan.models.dcgan, 64, { 1, 32, 32 }
   values = { model = { ngf = 32, ndf = 32 }, data = { image_size = 32, batch_size = global } }
elseif case == "cyclegan64" then
   M, global, shape = gan.models.cyclegan, w, { 3, 64, 64 }
   values = { data = { image_size = 64, batch_size = global } }
else
   error("dist_bench.lua: unknown case " .. tostring(case))
end
values.train = { threads = threads, sample_every = 0, checkpoint_every = 0 }
local cfg = gan.config.resolve(M.defaults, { values = values })
gan.manual_seed(0)
local n = 4 * global
local x = gan.rand({ n, table.unpack(shape) }, { generator = gan.Generator(1) }) * 2 - 1
local ds = gan.data.TensorDataset { image = x }
if case == "cyclegan64" then
   local y = gan.rand({ n, table.unpack(shape) }, { generator = gan.Generator(3) }) * 2 - 1
   ds = gan.data.unpaired(ds, gan.data.TensorDataset { image = y }, { seed = 1 })
end
local loader = gan.data.DataLoader(ds, { batch_size = global, generator = gan.Generator(2),
   shard = w > 1 and { dist.rank(), w } or nil })
local model = M.new(cfg)
local times = {}
gan.train.fit(model, { data = loader, steps = warmup + iters, log_every = warmup + iters,
   hooks = { on_step = function(_, step)
      local now = gan.clock()
      if step > warmup then times[#times + 1] = now - times.last end
      times.last = now
   end } })
times.last = nil
local m = median(times)
if dist.is_main() then
   print(("step %s processes %d threads %d median_ms %.2f images_per_s %.1f"):format(case, w, threads, m * 1000,
      global / m))
end
