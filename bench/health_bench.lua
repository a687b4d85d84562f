--- The health monitor's cost on the DCGAN-32 step (docs/performance.md, "Training health").
--
--    LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' LUA_CPATH='./build/?.so;;' lua5.4 bench/health_bench.lua [rounds]
--
-- The model is the dcgan model file at its defaults (MNIST 32x32, batch 64, ngf = ndf =
-- 32), trained through the update site. Measured in the same process, medians over
-- `rounds` (default 5): the step (train_step, 20 steps per round); the monitor's per-step
-- work (Monitor:observe on that step's logs, 10,000 calls per round); one collapse check
-- (64 samples of G, the MNIST classifier's features of them and of a real batch);
-- and the overhead per step = observe + collapse check / health.collapse_every.
local gan = require("gan")
local health = require("gan.train.health")

local rounds = tonumber(arg[1]) or 5
gan.set_num_threads(tonumber(os.getenv("BENCH_THREADS")) or 2)
print(("info gan_blas OpenBLAS %s, threads %d"):format(gan.blas_core(), gan.get_num_threads()))

local M = gan.models.get("dcgan")
local cfg = gan.config.resolve(M.defaults, { values = { train = { threads = 0 } } })
gan.manual_seed(0)
local model = M.new(cfg)
local loader = gan.data.DataLoader(M.dataset(cfg), { batch_size = 64, generator = gan.Generator(7) })
local data = require("gan.train.loop").batches(loader)
local mon = health.Monitor(cfg.health, model:health_keys())
local clf = gan.metrics.classifier("mnist")

local function median(xs)
   table.sort(xs)
   local n = #xs
   return n % 2 == 1 and xs[(n + 1) // 2] or (xs[n // 2] + xs[n // 2 + 1]) / 2
end

local step, logs = 0, nil
local function train(n)
   for _ = 1, n do
      step = step + 1
      model.step_logs = {}
      logs = model:train_step(data, step)
      for k, v in pairs(model.step_logs) do logs[k] = v end
      model.step = step
   end
end
train(5)   -- warm-up

local t_step, t_obs, t_check = {}, {}, {}
for _ = 1, rounds do
   local t0 = gan.clock()
   train(20)
   t_step[#t_step + 1] = (gan.clock() - t0) / 20
   t0 = gan.clock()
   for i = 1, 10000 do mon:observe(step + i, logs) end
   t_obs[#t_obs + 1] = (gan.clock() - t0) / 10000
   t0 = gan.clock()
   local real = data.last.image
   health.collapse_signals(model:health_samples(), real:narrow(1, 1, 64), clf)
   t_check[#t_check + 1] = gan.clock() - t0
end

local s, o, c = median(t_step), median(t_obs), median(t_check)
local every = cfg.health.collapse_every
local per_step = o + c / every
print(("case dcgan32_step median_ms %.2f"):format(s * 1e3))
print(("case health_observe median_us %.2f"):format(o * 1e6))
print(("case health_collapse_check median_ms %.2f (every %d steps)"):format(c * 1e3, every))
print(("overhead per step %.1f us = %.3f%% of the step"):format(per_step * 1e6, 100 * per_step / s))
