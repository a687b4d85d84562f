--- gan side of the kernel benchmark: convolution, linear, random numbers (bench/run.sh runs it
-- next to conv_bench.py).
--
--    LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' LUA_CPATH='./build/?.so;;' \
--       lua5.4 bench/conv_bench.lua [iters] [warmup] [case-name ...]
--
-- Each case runs `warmup` untimed iterations, then `iters` timed ones; every iteration is
-- timed on its own with gan.clock() (CLOCK_MONOTONIC wall time; os.clock would be CPU time
-- summed over threads). Prints one line per case:
--    case <name> median_ms <m> min_ms <a> max_ms <b> iters <n> samples <ms,ms,...>
-- The work per case is identical to conv_bench.py: float32, 2 threads ($BENCH_THREADS),
-- inputs from randn, forward-only cases under no_grad, forward+backward cases with
-- loss = out:sum() and input, weight and bias all requiring grad (gradients reset to nil
-- before each iteration).
-- The loop is a plain training-style loop: no collectgarbage() calls, so the garbage
-- collections that gan's bindings trigger on their own are part of the measured time.
local gan = require("gan")

local iters = tonumber(arg[1]) or 15
local warmup = tonumber(arg[2]) or 3
local only = {}
for i = 3, #arg do only[arg[i]] = true end

assert(gan.clock, "gan.clock() (monotonic wall-clock seconds) is missing from this build")
local threads = tonumber(os.getenv("BENCH_THREADS")) or 2
gan.set_num_threads(threads)
gan.manual_seed(0)

local F = gan.F

local function params(shape_x, shape_w, nbias, grad)
   local x, w, b = gan.randn(shape_x), gan.randn(shape_w):mul(0.05), gan.randn{nbias}:mul(0.05)
   if grad then x:requires_grad_(); w:requires_grad_(); b:requires_grad_() end
   return x, w, b
end

local cases = {
   { name = "conv2d_fwd", desc = "conv2d 3x3 64->64 pad 1, x (16,64,64,64), forward (no_grad)",
     setup = function()
        local x, w, b = params({16, 64, 64, 64}, {64, 64, 3, 3}, 64, false)
        return function()
           gan.no_grad(function() return F.conv2d(x, w, b, { stride = 1, padding = 1 }) end)
        end
     end },
   { name = "conv2d_fwd_bwd", desc = "conv2d 3x3 64->64 pad 1, x (16,64,64,64), forward+backward",
     setup = function()
        local x, w, b = params({16, 64, 64, 64}, {64, 64, 3, 3}, 64, true)
        return function()
           x.grad = nil; w.grad = nil; b.grad = nil
           local y = F.conv2d(x, w, b, { stride = 1, padding = 1 })
           y:sum():backward()
        end
     end },
   -- Sub-steps, run only when named (bench/run.sh: BENCH_CASES="conv2d_bwd_x conv2d_bwd_w"):
   -- forward+backward with only the input (resp. only the weight) requiring grad, which
   -- isolates the input-gradient (resp. weight-gradient) kernel.
   { name = "conv2d_bwd_x", extra = true,
     desc = "conv2d as above, forward+backward, only x requires grad",
     setup = function()
        local x, w, b = params({16, 64, 64, 64}, {64, 64, 3, 3}, 64, false)
        x:requires_grad_()
        return function()
           x.grad = nil
           F.conv2d(x, w, b, { stride = 1, padding = 1 }):sum():backward()
        end
     end },
   { name = "conv2d_bwd_w", extra = true,
     desc = "conv2d as above, forward+backward, only w requires grad",
     setup = function()
        local x, w, b = params({16, 64, 64, 64}, {64, 64, 3, 3}, 64, false)
        w:requires_grad_()
        return function()
           w.grad = nil
           F.conv2d(x, w, b, { stride = 1, padding = 1 }):sum():backward()
        end
     end },
   { name = "convT2d_fwd",
     extra = true, desc = "conv_transpose2d as below, forward only (no_grad)",
     setup = function()
        local x, w, b = params({64, 256, 8, 8}, {256, 128, 4, 4}, 128, false)
        return function()
           gan.no_grad(function()
              return F.conv_transpose2d(x, w, b, { stride = 2, padding = 1 })
           end)
        end
     end },
   { name = "convT2d_fwd_bwd",
     desc = "conv_transpose2d 4x4 s2 p1, (64,256,8,8) -> (64,128,16,16), forward+backward",
     setup = function()
        local x, w, b = params({64, 256, 8, 8}, {256, 128, 4, 4}, 128, true)
        return function()
           x.grad = nil; w.grad = nil; b.grad = nil
           local y = F.conv_transpose2d(x, w, b, { stride = 2, padding = 1 })
           y:sum():backward()
        end
     end },
   { name = "conv3d_fwd_bwd", desc = "conv3d 4x4x4 s2 p1, (8,64,16,16,16) -> (8,128,8,8,8), forward+backward",
     setup = function()
        local x, w, b = params({8, 64, 16, 16, 16}, {128, 64, 4, 4, 4}, 128, true)
        return function()
           x.grad = nil; w.grad = nil; b.grad = nil
           local y = F.conv3d(x, w, b, { stride = 2, padding = 1 })
           y:sum():backward()
        end
     end },
   { name = "convT3d_fwd_bwd", desc = "conv_transpose3d 4x4x4 s2 p1, (8,128,8,8,8) -> (8,64,16,16,16), forward+backward",
     setup = function()
        local x, w, b = params({8, 128, 8, 8, 8}, {128, 64, 4, 4, 4}, 64, true)
        return function()
           x.grad = nil; w.grad = nil; b.grad = nil
           local y = F.conv_transpose3d(x, w, b, { stride = 2, padding = 1 })
           y:sum():backward()
        end
     end },
   { name = "linear_fwd_bwd", desc = "linear 1024->1024, batch 256, forward+backward",
     setup = function()
        local x, w, b = params({256, 1024}, {1024, 1024}, 1024, true)
        return function()
           x.grad = nil; w.grad = nil; b.grad = nil
           local y = F.linear(x, w, b)
           y:sum():backward()
        end
     end },
   -- Random numbers: the latents and noise of a training step (the 2-d toy benchmark draws
   -- 512 x 256 normals a step), 4M float32 values in place.
   { name = "randn", desc = "normal_ of a (64, 256, 256) float32 tensor, in place",
     setup = function()
        local x = gan.empty({64, 256, 256})
        return function() x:normal_(0, 1) end
     end },
   { name = "rand", desc = "uniform_ of a (64, 256, 256) float32 tensor, in place",
     setup = function()
        local x = gan.empty({64, 256, 256})
        return function() x:uniform_(0, 1) end
     end },
}

-- Checks that the formulation did what we think (shapes of output and gradients).
local function sanity()
   local x, w, b = params({2, 256, 8, 8}, {256, 128, 4, 4}, 128, true)
   local y = F.conv_transpose2d(x, w, b, { stride = 2, padding = 1 })
   assert(y:size(3) == 16 and y:size(4) == 16 and y:size(2) == 128, "conv_transpose2d shape")
   y:sum():backward()
   assert(x.grad and w.grad and b.grad, "gradients missing")
end
sanity()

local function median(t)
   local s = { table.unpack(t) }
   table.sort(s)
   local n = #s
   if n % 2 == 1 then return s[(n + 1) // 2] end
   return 0.5 * (s[n // 2] + s[n // 2 + 1])
end

local known = {}
for _, c in ipairs(cases) do known[c.name] = true end
for name in pairs(only) do
   if not known[name] then error(("conv_bench: unknown case '%s'"):format(name), 0) end
end

print(("info gan_blas_core %s"):format(gan.blas_core()))
print(("info gan_threads %d"):format(gan.get_num_threads()))
for _, c in ipairs(cases) do
   if (next(only) == nil and not c.extra) or only[c.name] then
      local step = c.setup()
      for _ = 1, warmup do step() end
      local ms = {}
      for i = 1, iters do
         local t0 = gan.clock()
         step()
         ms[i] = (gan.clock() - t0) * 1e3
      end
      local lo, hi = math.huge, -math.huge
      for _, v in ipairs(ms) do lo = math.min(lo, v); hi = math.max(hi, v) end
      local samples = {}
      for i, v in ipairs(ms) do samples[i] = ("%.3f"):format(v) end
      print(("case %s median_ms %.3f min_ms %.3f max_ms %.3f iters %d samples %s"):format(
         c.name, median(ms), lo, hi, iters, table.concat(samples, ",")))
      io.stdout:flush()
      collectgarbage()   -- between cases only: the next case starts from a clean heap
   end
end
