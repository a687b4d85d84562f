--- gan side of the training-step benchmark (bench/run.sh runs it next to steps.py).
--
--    LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' LUA_CPATH='./build/?.so;;' \
--       lua5.4 bench/steps.lua CASE [iters] [warmup]
--
-- One case per process, so that the peak resident memory (VmHWM) is the case's own.
-- Prints
--    case <name> median_ms <m> min_ms <a> max_ms <b> iters <n> samples <ms,ms,...>
--    mem <name> peak_rss_mb <mb>
--    flops <name> gflop_per_step <g>   (convolutions and matrix products: gan.flop_count)
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
--    dcgan_s<S>_b<B>  DCGAN at S x S x 3 (16 ... 512), ngf = ndf = 64, batch B: the grid of
--                bench/scaling.sh
--    <case>_bf16 the case with its convolutions in bfloat16 (the whole step in a
--                gan.autocast scope, as train.precision = "bfloat16" does; torch: the
--                step in torch.autocast("cpu", bfloat16))
--    wgan_gp32   WGAN-GP critic step at DCGAN-32 size: critic without normalisation on
--                real and G(z) (G under no_grad), gradient penalty (lambda 10) by double
--                backward, critic backward + Adam (1e-4, betas 0, 0.9)
-- The model cases below build their networks with the model files' own constructors at
-- the models' default configs and do what the model's train_step does, written out (the
-- update site's `freeze` as D:requires_grad_(false) around G's update; no EMA, which the
-- loop applies, not the step; fixed random "data"):
--    biggan32    BigGAN 32x32x1 (gan.models.biggan), batch 64, nz 128, ch 32, 10 classes:
--                G with a shared class embedding (128), hierarchical z (4 chunks of 32),
--                3 residual up blocks with conditional batch norm (gains and biases linear
--                in [embedding, chunk]), pooled self-attention at 16x16, spectral norm
--                everywhere; projection D (3 residual down blocks, attention at 16x16, a
--                last block to 256 channels, spectral norm). One D step (G(z, y) under
--                no_grad, D on real and fake in one batch of 128, hinge loss, Adam 4e-4,
--                betas 0, 0.999) and one G step (hinge loss through D plus the orthogonal
--                regularisation 1e-4 of G's weights, Adam 1e-4). The model takes 2 D steps
--                per G step; the case takes one
--    stylegan32  StyleGAN 32x32x1 (gan.models.stylegan), batch 32: mapping network (8
--                equalised linear layers, nz = w_dim = 128, lr x 0.01), synthesis from a
--                4x4 constant with modulated/demodulated 3x3 convolutions, noise and skip
--                RGB outputs (channels 64, 64, 64, 32), residual D with minibatch stddev.
--                Style mixing always on at a fixed crossover (layers 1-3 take w1, 4-7 w2;
--                the model mixes with probability 0.9 at a random one). D step: fakes under
--                no_grad, non-saturating loss plus R1 on the real batch by double backward
--                with the lazy weight 16 (r1 1 x r1_every 16: the model's R1 step); G step:
--                the non-saturating loss, tracking the mean w. Adam 2e-3, betas 0, 0.99
--    pix2pix64   pix2pix 64x64 (gan.models.pix2pix, task line2color), batch 8: U-Net G
--                (6 levels, ngf 32, dropout in the inner level) from 1 to 3 channels,
--                PatchGAN D (ndf 32, 3 layers) on (input, output) concatenated. D step on
--                (x, y) and (x, G(x) under no_grad), BCE halved; G step: non-saturating
--                loss + 100 x L1. Adam 2e-4, betas 0.5, 0.999
--    srgan       SRGAN x4, 16x16 -> 64x64x3 (gan.models.srgan at image_size 64 with 3
--                channels, as on emoji), batch 16: SRResNet G (nf 64, 8 residual blocks,
--                two pixel-shuffle stages), SRGAN D (ndf 32, strided 3x3 convolutions with
--                batch norm to 4x4, two dense layers). The low-resolution input is the
--                batch average-pooled by 4 each step; D step on HR and G(LR) under no_grad
--                (BCE); G step on the pixel MSE + 1e-3 x the non-saturating loss. The model's
--                content loss is the MSE of a frozen reference classifier's features (not
--                mirrored in steps.py); the pixel MSE stands in for it. Adam 1e-4, betas
--                0.9, 0.999
--    pixelcnn    PixelCNN (gan.models.pixelcnn) on 28x28 binary images, batch 64, h 32, 6
--                residual blocks of masked 3x3 "B" convolutions after a 7x7 "A" one: one
--                Adam step (1e-3, betas 0.9, 0.999) on the mean NLL (per-pixel BCE with
--                logits summed per image)
--    gated_pixelcnn  gated PixelCNN (gan.models.gated_pixelcnn), unconditional, on 28x28
--                binary images, batch 64, h 32, 7 gated layers (a 7x7 first, then 3x3) of a
--                vertical and a horizontal stack, tanh(a) sigmoid(b) gates (gan's fused
--                F.gate; torch: chunk, tanh, sigmoid, mul), two 1x1 layers: one Adam step
--                (1e-3, betas 0.9, 0.999) on the mean NLL
--    gan3d       3D-GAN 32^3 (gan.models.gan3d), batch 32, z 200, ngf = ndf = 32:
--                conv_transpose3d G, conv3d D with batch norm. G(z) under no_grad, D's
--                accuracy on real and fake under no_grad (the adaptive check; the D update
--                always runs here), D step (BCE, Adam 1e-3), G step (non-saturating loss on
--                G(z), Adam 2.5e-3), betas 0.5, 0.999
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

local function dcgan(size, nc, nf, batch)
   batch = batch or 64
   local G = blocks.DCGANGenerator { nz = 100, ngf = nf, nc = nc, image_size = size }
   local D = blocks.DCGANDiscriminator { ndf = nf, nc = nc, image_size = size }
   local oG, oD = adam(G:parameters(), 2e-4, 0.5, 0.999), adam(D:parameters(), 2e-4, 0.5, 0.999)
   local real = gan.rand { batch, nc, size, size }:mul(2):sub(1)
   return function()
      local z = gan.randn { batch, 100, 1, 1 }
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

-- fn() with net's parameters not requiring grad: the update site's `freeze`, so that G's
-- update computes no gradients for D's weights.
local function frozen(net, fn)
   net:requires_grad_(false)
   fn()
   net:requires_grad_(true)
end

-- One Adam step (1e-3, betas 0.9, 0.999) of a PixelCNN-style network on the mean NLL of a
-- fixed batch of 64 binary 28x28 images.
local function pixelcnn_step(net)
   local pc = require("gan.models.pixelcnn")
   local opt = adam(net:parameters(), 1e-3, 0.9, 0.999)
   local x = gan.rand({ 64, 1, 28, 28 }):gt(0.5):float()
   return function()
      opt:zero_grad()
      pc.nll(net(x), x):mean():backward()
      opt:step()
   end
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
   biggan32 = function()
      local sagan = require("gan.models.sagan")   -- biggan is sagan with BigGAN's switches on
      local G = sagan.Generator { nz = 128, n_classes = 10, ch = 32, nc = 1, image_size = 32, attention = 16,
         sn = true, shared_dim = 128, hierarchical = true }
      local D = sagan.Discriminator { n_classes = 10, ch = 32, nc = 1, image_size = 32, attention = 16,
         head = "projection" }
      local oG, oD = adam(G:parameters(), 1e-4, 0.0, 0.999), adam(D:parameters(), 4e-4, 0.0, 0.999)
      local ortho = gan.nn.utils.orthogonal_weights(G)
      local real, y_real = gan.rand { 64, 1, 32, 32 }:mul(2):sub(1), gan.randint(0, 10, { 64 })
      return function()
         local y_fake = gan.randint(0, 10, { 64 })
         local fake = gan.no_grad(G, gan.randn { 64, 128 }, y_fake)
         oD:zero_grad()
         local s = D(gan.cat({ real, fake }, 1), gan.cat({ y_real, y_fake }, 1))
         L.hinge_d(s:narrow(1, 1, 64), s:narrow(1, 65, 64)):backward()
         oD:step()
         oG:zero_grad()
         frozen(D, function()
            local y = gan.randint(0, 10, { 64 })
            local loss = L.hinge_g(D(G(gan.randn { 64, 128 }, y), y))
               + gan.nn.utils.orthogonal_regularization(ortho, 1e-4)
            loss:backward()
         end)
         oG:step()
      end
   end,
   stylegan32 = function()
      local sg = require("gan.models.stylegan")
      local ch = sg.channels({ fmap_base = 1024, fmap_max = 64 }, 3)
      local G = sg.Generator { nz = 128, w_dim = 128, n_mlp = 8, lr_mul = 0.01, channels = ch, top = 3, nc = 1 }
      local D = sg.Discriminator { channels = ch, top = 3, nc = 1, mbstd_group = 4 }
      local oG, oD = adam(G:parameters(), 2e-3, 0.0, 0.99), adam(D:parameters(), 2e-3, 0.0, 0.99)
      local real = gan.rand { 32, 1, 32, 32 }:mul(2):sub(1)
      local function mixed_ws(track)
         local w1 = G:mapping(gan.randn { 32, 128 })
         if track then sg.track_w_avg(G, w1, 0.995) end
         return G:broadcast(w1, G:mapping(gan.randn { 32, 128 }), 4)
      end
      return function()
         local fake = gan.no_grad(function() return G:synthesis(mixed_ws(false)) end)
         oD:zero_grad()
         local loss = L.minimax_d(D(real), D(fake)) + gan.penalties.r1(D, real, { weight = 16 })
         loss:backward()
         oD:step()
         oG:zero_grad()
         frozen(D, function() L.nonsaturating_g(D(G:synthesis(mixed_ws(true)))):backward() end)
         oG:step()
      end
   end,
   pix2pix64 = function()
      local G = blocks.UnetGenerator { in_nc = 1, out_nc = 3, ngf = 32, n_downs = 6, dropout = true }
      local D = blocks.PatchDiscriminator { in_nc = 4, ndf = 32, n_layers = 3 }
      local oG, oD = adam(G:parameters(), 2e-4, 0.5, 0.999), adam(D:parameters(), 2e-4, 0.5, 0.999)
      local x = gan.rand { 8, 1, 64, 64 }:mul(2):sub(1)
      local y = gan.rand { 8, 3, 64, 64 }:mul(2):sub(1)
      return function()
         local fake = gan.no_grad(G, x)
         oD:zero_grad()
         local loss_d = L.minimax_d(D(gan.cat({ x, y }, 2)), D(gan.cat({ x, fake }, 2))) * 0.5
         loss_d:backward()
         oD:step()
         oG:zero_grad()
         frozen(D, function()
            local out = G(x)
            local loss = L.nonsaturating_g(D(gan.cat({ x, out }, 2))) + (out - y):abs():mean() * 100
            loss:backward()
         end)
         oG:step()
      end
   end,
   srgan = function()
      local sr = require("gan.models.srgan")
      local G = sr.Generator { nc = 3, nf = 64, blocks = 8, scale = 4 }
      local D = sr.Discriminator { nc = 3, ndf = 32, image_size = 64 }
      local oG, oD = adam(G:parameters(), 1e-4, 0.9, 0.999), adam(D:parameters(), 1e-4, 0.9, 0.999)
      local hr = gan.rand { 16, 3, 64, 64 }:mul(2):sub(1)
      return function()
         local lr = sr.downscale(hr, 4)
         local fake = gan.no_grad(G, lr)
         oD:zero_grad()
         L.minimax_d(D(hr), D(fake)):backward()
         oD:step()
         oG:zero_grad()
         frozen(D, function()
            local out = G(lr)
            local loss = F.mse_loss(out, hr) + L.nonsaturating_g(D(out)) * 1e-3
            loss:backward()
         end)
         oG:step()
      end
   end,
   pixelcnn = function() return pixelcnn_step(require("gan.models.pixelcnn").Network { h = 32, blocks = 6 }) end,
   gated_pixelcnn = function()
      return pixelcnn_step(require("gan.models.gated_pixelcnn").Network { h = 32, layers = 7 })
   end,
   gan3d = function()
      local m = require("gan.models.gan3d")
      local G, D = m.Generator { nz = 200, ngf = 32 }, m.Discriminator { ndf = 32 }
      local oG, oD = adam(G:parameters(), 0.0025, 0.5, 0.999), adam(D:parameters(), 1e-3, 0.5, 0.999)
      local real = gan.rand({ 32, 1, 32, 32, 32 }):gt(0.5):float()
      return function()
         local z = gan.randn { 32, 200 }
         local fake = gan.no_grad(G, z)
         gan.no_grad(function() return m.d_accuracy(D(real), D(fake)) end)
         oD:zero_grad()
         L.minimax_d(D(real), D(fake)):backward()
         oD:step()
         oG:zero_grad()
         frozen(D, function() L.nonsaturating_g(D(G(z))):backward() end)
         oG:step()
      end
   end,
}

local base = name:match("^(.-)_bf16$")
local scale_size, scale_batch = (base or name):match("^dcgan_s(%d+)_b(%d+)$")
if scale_size then
   cases[base or name] = function() return dcgan(tonumber(scale_size), 3, 64, tonumber(scale_batch)) end
end
local make = cases[base or name] or error("steps.lua: unknown case '" .. name .. "'")
local step = make()
if base then
   local fp32_step = step
   step = function() gan.autocast.run("bfloat16", fp32_step) end
end
for _ = 1, warmup do step() end
local samples, flops = {}, nil
for i = 1, iters do
   local f0, t0 = gan.flop_count(), gan.clock()
   step()
   samples[i] = (gan.clock() - t0) * 1000
   flops = flops or gan.flop_count() - f0
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
print(("flops %s gflop_per_step %.3f"):format(name, (flops or 0) / 1e9))
local backend, impl = gan.conv_backend()
print(("info gan_conv %s (%s)"):format(backend, impl or "-"))
print(("info gan_blas OpenBLAS %s, threads %d"):format(gan.blas_core(), threads))
