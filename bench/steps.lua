--- gan side of the training-step benchmark (bench/run.sh runs it next to steps.py).
--
--    LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' LUA_CPATH='./build/?.so;;' \
--       lua5.4 bench/steps.lua CASE [iters] [warmup]
--
-- One case per process, so that the peak resident memory (VmHWM) is the case's own.
-- Prints
--    case <name> median_ms <m> min_ms <a> max_ms <b> iters <n> samples <ms,ms,...>
--    mem <name> peak_rss_mb <mb>
--    info <key> <text>
-- Cases (identical work in steps.py; see docs/performance.md):
--    dcgan32     DCGAN 32x32x1, batch 64, nz 100, ngf = ndf = 32: one full step (D on real
--                and on G(z), BCE with logits, D backward + Adam; non-saturating G loss
--                through D, G backward + Adam)
--    dcgan64     the same at 64x64x3, ngf = ndf = 64
--    cyclegan64  CycleGAN 64x64, batch 1: ResNet generators (6 blocks, ngf 32) both ways,
--                3-layer PatchGANs (ndf 32), LSGAN losses, cycle (10) and identity (5) L1
--                losses, one Adam step for both generators; then both discriminators on
--                real and on pooled fakes (pool of 50), one Adam step for both
--    <case>_bf16 the case with its convolutions in bfloat16 (the whole step in a
--                gan.autocast scope, as train.precision = "bfloat16" does; torch: the
--                step in torch.autocast("cpu", bfloat16))
--    wgan_gp32   WGAN-GP critic step at DCGAN-32 size: critic without normalisation on
--                real and G(z) (G under no_grad), gradient penalty (lambda 10) by double
--                backward, critic backward + Adam (1e-4, betas 0, 0.9)
local gan = require("gan")
local F, L, blocks = gan.F, gan.losses, gan.nn.blocks

local name = arg[1] or error("usage: steps.lua CASE [iters] [warmup]")
local iters = tonumber(arg[2]) or 10
local warmup = tonumber(arg[3]) or 3
local threads = tonumber(os.getenv("BENCH_THREADS")) or 2
gan.set_num_threads(threads)
gan.manual_seed(0)

local function adam(params, lr, b1, b2)
   return gan.optim.Adam(params, { lr = lr, betas = { b1, b2 } })
end

local function dcgan(size, nc, nf)
   local G = blocks.DCGANGenerator { nz = 100, ngf = nf, nc = nc, image_size = size }
   local D = blocks.DCGANDiscriminator { ndf = nf, nc = nc, image_size = size }
   local oG, oD = adam(G:parameters(), 2e-4, 0.5, 0.999), adam(D:parameters(), 2e-4, 0.5, 0.999)
   local real = gan.rand { 64, nc, size, size }:mul(2):sub(1)
   return function()
      local z = gan.randn { 64, 100, 1, 1 }
      oD:zero_grad()
      local fake = G(z)
      L.minimax_d(D(real), D(fake:detach())):backward()
      oD:step()
      oG:zero_grad()
      L.nonsaturating_g(D(fake)):backward()
      oG:step()
   end
end

local function cat_params(a, b)
   local p = a:parameters()
   for _, t in ipairs(b:parameters()) do p[#p + 1] = t end
   return p
end

local cases = {
   dcgan32 = function() return dcgan(32, 1, 32) end,
   dcgan64 = function() return dcgan(64, 3, 64) end,
   cyclegan64 = function()
      local G_AB = blocks.ResnetGenerator { ngf = 32, n_blocks = 6 }
      local G_BA = blocks.ResnetGenerator { ngf = 32, n_blocks = 6 }
      local D_A, D_B = blocks.PatchDiscriminator { ndf = 32 }, blocks.PatchDiscriminator { ndf = 32 }
      local oG = adam(cat_params(G_AB, G_BA), 2e-4, 0.5, 0.999)
      local oD = adam(cat_params(D_A, D_B), 2e-4, 0.5, 0.999)
      local pool_A, pool_B = gan.train.ImagePool(50, { seed = 1 }), gan.train.ImagePool(50, { seed = 2 })
      local A = gan.rand { 1, 3, 64, 64 }:mul(2):sub(1)
      local B = gan.rand { 1, 3, 64, 64 }:mul(2):sub(1)
      local function mse(x, v) return F.mse_loss(x, gan.full(x:size(), v)) end
      return function()
         oG:zero_grad()
         local fake_B, fake_A = G_AB(A), G_BA(B)
         local rec_A, rec_B = G_BA(fake_B), G_AB(fake_A)
         local idt_A, idt_B = G_AB(B), G_BA(A)
         local loss_G = mse(D_B(fake_B), 1) + mse(D_A(fake_A), 1)
            + (F.l1_loss(rec_A, A) + F.l1_loss(rec_B, B)) * 10
            + (F.l1_loss(idt_A, B) + F.l1_loss(idt_B, A)) * 5
         loss_G:backward()
         oG:step()
         oD:zero_grad()
         local fB, fA = pool_B:query(fake_B), pool_A:query(fake_A)
         local loss_D = (mse(D_B(B), 1) + mse(D_B(fB), 0)) * 0.5 + (mse(D_A(A), 1) + mse(D_A(fA), 0)) * 0.5
         loss_D:backward()
         oD:step()
      end
   end,
   wgan_gp32 = function()
      local G = blocks.DCGANGenerator { nz = 100, ngf = 32, nc = 1, image_size = 32 }
      local D = blocks.DCGANDiscriminator { ndf = 32, nc = 1, image_size = 32, norm = "none" }
      local oD = adam(D:parameters(), 1e-4, 0.0, 0.9)
      local real = gan.rand { 64, 1, 32, 32 }:mul(2):sub(1)
      return function()
         local fake = gan.no_grad(function() return G(gan.randn { 64, 100, 1, 1 }) end)
         oD:zero_grad()
         local gp = gan.penalties.gradient_penalty(D, real, fake, { weight = 10 })
         local loss = L.wasserstein_d(D(real), D(fake)) + gp
         loss:backward()
         oD:step()
      end
   end,
}

local base = name:match("^(.-)_bf16$")
local make = cases[base or name] or error("steps.lua: unknown case '" .. name .. "'")
local step = make()
if base then
   local fp32_step = step
   step = function() gan.autocast.run("bfloat16", fp32_step) end
end
for _ = 1, warmup do step() end
local samples = {}
for i = 1, iters do
   local t0 = gan.clock()
   step()
   samples[i] = (gan.clock() - t0) * 1000
end
local sorted = { table.unpack(samples) }
table.sort(sorted)
local n = #sorted
local med = n % 2 == 1 and sorted[(n + 1) // 2] or 0.5 * (sorted[n // 2] + sorted[n // 2 + 1])
local strs = {}
for i, v in ipairs(samples) do strs[i] = ("%.2f"):format(v) end
print(("case %s median_ms %.3f min_ms %.3f max_ms %.3f iters %d samples %s"):format(name, med, sorted[1],
   sorted[n], n, table.concat(strs, ",")))
local hwm
for line in io.lines("/proc/self/status") do
   local kb = line:match("^VmHWM:%s+(%d+)")
   if kb then hwm = tonumber(kb) / 1024 end
end
print(("mem %s peak_rss_mb %.1f"):format(name, hwm or -1))
local backend, impl = gan.conv_backend()
print(("info gan_conv %s (%s)"):format(backend, impl or "-"))
print(("info gan_blas OpenBLAS %s, threads %d"):format(gan.blas_core(), threads))
