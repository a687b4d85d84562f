--- Data-loading benchmark: does background decoding hide the cost of reading images?
--
--    LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' LUA_CPATH='./build/?.so;;' \
--       lua5.4 bench/data_bench.lua [epochs] [step_ms]
--
-- Needs the emoji-datasource-google npm package in the data directory (gan data fetch
-- emoji-google). Three measurements:
--  1. raw decode throughput of core.image_job: whole epochs of 64-image jobs (decode PNG,
--     composite on white, random flip), one job at a time, nothing else running;
--  2. a simulated training loop over gan.data.emoji (batch 64, 64x64, random flips) with
--     prefetch off and on: per batch, the time waiting for data (the loader's next()) and
--     then a training step (conv2d 3->C 4x4 stride 2 forward + backward on the batch, C
--     chosen so that the step takes about step_ms, default 30 ms);
--  3. the same loop without the training step (prefetch can only hide decoding behind work).
-- The prefetch-off and prefetch-on loops run alternate epochs: `epochs` (default 3) timed
-- epochs each after one warm-up epoch (page cache, allocator). Per setting: seconds per
-- epoch, median and mean wait per batch, images/s, all wall clock (gan.clock,
-- CLOCK_MONOTONIC), and the process's CPU time per epoch (os.clock, all threads): on a
-- busy machine, overlapping cannot beat the CPU time the process is given.
-- Threads for the step: $BENCH_THREADS (default 2); the decoder is one more thread.
local gan = require("gan")

local epochs = tonumber(arg[1]) or 3
local step_ms = tonumber(arg[2]) or 30
local threads = tonumber(os.getenv("BENCH_THREADS")) or 2
gan.set_num_threads(threads)
gan.manual_seed(0)
local clock = gan.clock

local function median(t)
   local s = {}
   for i, v in ipairs(t) do s[i] = v end
   table.sort(s)
   local n = #s
   if n == 0 then return 0 end
   return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

local function mean(t)
   local s = 0
   for _, v in ipairs(t) do s = s + v end
   return #t > 0 and s / #t or 0
end

local ds = gan.data.emoji({ vendor = "google", flip = true })
local batch_size = 64
local batches = #ds // batch_size
print(("emoji-google: %d images, %d batches of %d per epoch (drop_last), %d thread(s) for the step")
   :format(#ds, batches, batch_size, threads))

-- 1. raw decode throughput
do
   local g = gan.Generator(1)
   local function epoch()
      local order = gan.randperm(#ds, { generator = g })
      for k = 0, batches - 1 do
         local b = ds:get_batch(order:narrow(1, k * batch_size + 1, batch_size), g)
         assert(b.image:size(1) == batch_size)
      end
   end
   epoch()   -- warm-up
   local t0 = clock()
   for _ = 1, epochs do epoch() end
   local dt = clock() - t0
   local n = epochs * batches * batch_size
   print(("decode  core.image_job, one job at a time: %.0f images/s (%.2f ms per 64-image batch)")
      :format(n / dt, dt / (epochs * batches) * 1000))
end

-- The simulated training step: conv2d forward + backward on the batch, sized to ~step_ms.
local function make_step(channels)
   local w = (gan.randn({ channels, 3, 4, 4 }) * 0.05):requires_grad_()
   local b = gan.zeros({ channels }):requires_grad_()
   return function(x)
      w.grad, b.grad = nil, nil
      local y = gan.F.conv2d(x, w, b, { stride = 2, padding = 1 })
      local loss = (y * y):mean()
      loss:backward()
      return loss:item()
   end
end

local function time_step(step)
   local x = gan.rand({ batch_size, 3, 64, 64 })
   step(x)
   local ts = {}
   for i = 1, 7 do
      local t0 = clock()
      step(x)
      ts[i] = clock() - t0
   end
   return median(ts) * 1000
end

local channels = 1
local step = make_step(channels)
local ms = time_step(step)
while ms < step_ms * 0.8 and channels < 1024 do
   channels = math.max(channels + 1, math.floor(channels * step_ms / math.max(ms, 1e-3)))
   step = make_step(channels)
   ms = time_step(step)
end
print(("step    conv2d 3->%d 4x4 stride 2 pad 1 on (64, 3, 64, 64), forward + backward: %.1f ms")
   :format(channels, ms))

-- 2./3. the loop. The prefetch-off and prefetch-on loaders run alternate epochs, so that a
-- change in the machine's load during the run affects both alike.
local function make_run(prefetch, with_step)
   local loader = gan.data.DataLoader(ds, { batch_size = batch_size, generator = gan.Generator(7), prefetch = prefetch })
   local r = { waits = {}, time = 0, cpu = 0, images = 0 }
   function r.epoch(timed)
      local t_start, c_start = clock(), os.clock()
      while true do
         local t0 = clock()
         local batch = loader:next()
         local t1 = clock()
         if not batch then break end
         if timed then
            r.waits[#r.waits + 1] = t1 - t0
            r.images = r.images + batch.image:size(1)
         end
         if with_step then step(batch.image) end
      end
      if timed then r.time, r.cpu = r.time + clock() - t_start, r.cpu + os.clock() - c_start end
   end
   return r
end

local function compare(with_step)
   local off, on = make_run(false, with_step), make_run(true, with_step)
   off.epoch(false); on.epoch(false)   -- warm-up
   for _ = 1, epochs do off.epoch(true); on.epoch(true) end
   local out = {}
   for _, r in ipairs { off, on } do
      out[#out + 1] = { epoch_s = r.time / epochs, cpu_s = r.cpu / epochs, wait_med = median(r.waits) * 1000,
         wait_mean = mean(r.waits) * 1000, ips = r.images / r.time }
   end
   return out[1], out[2]
end
local rows = {}
for _, with_step in ipairs { true, false } do
   local off, on = compare(with_step)
   for _, r in ipairs { off, on } do
      r.label = (with_step and "with step   " or "data only   ") .. (r == on and "prefetch on " or "prefetch off")
      rows[#rows + 1] = r
      print(("loop    %s: %.3f s/epoch (CPU %.3f s), wait per batch median %.2f ms mean %.2f ms, %.0f images/s")
         :format(r.label, r.epoch_s, r.cpu_s, r.wait_med, r.wait_mean, r.ips))
   end
end

print()
print("| loop | prefetch | s / epoch | CPU s / epoch | wait / batch (median) | wait / batch (mean) | images / s |")
print("|---|---|---|---|---|---|---|")
for _, r in ipairs(rows) do
   local what, pf = r.label:match("^(.-)%s+prefetch (%a+)")
   print(("| %s | %s | %.3f | %.3f | %.2f ms | %.2f ms | %.0f |"):format(what, pf, r.epoch_s, r.cpu_s, r.wait_med,
      r.wait_mean, r.ips))
end
