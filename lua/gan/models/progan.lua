--- ProGAN (Karras et al. 2018): G and D grow from 4x4 to the target size. Each new
-- resolution is faded in: for a phase of train.phase_images images its output is
-- alpha * (new path) + (1 - alpha) * (the previous resolution's output, upsampled), alpha
-- rising linearly from 0 to 1; then it trains alone (stabilised) for as many images. The
-- real images are shown at the same resolution and blended the same way. Pixelwise
-- feature normalisation in G, minibatch standard deviation before D's last block,
-- equalised learning rate in every layer, WGAN-GP with the drift term, Adam (0, 0.99)
-- at 1e-3 (its moments reset when a new resolution comes in), an EMA of G.
--
-- The phase is a function of the step alone (M.stage), so a run resumed in the middle of
-- a fade continues it exactly.
--
--     G(z): z (N, nz) -> image (N, nc, R, R) at the current resolution R = 4 * 2^level
--     D(x): x (N, nc, R, R) -> score (N)
-- @module gan.models.progan
local core = require("gan.core")
local nn = require("gan.nn")
local F = require("gan.nn.functional")
local optim = require("gan.optim")
local losses = require("gan.losses")
local penalties = require("gan.penalties")
local data = require("gan.data")
local metrics = require("gan.metrics")
local no_grad = require("gan.autograd").no_grad
local config = require("gan.config")
local range, choice = config.range, config.choice
local EqualConv2d, EqualLinear, PixelNorm, MinibatchStdDev =
   nn.EqualConv2d, nn.EqualLinear, nn.PixelNorm, nn.MinibatchStdDev
-- He's gain for a layer followed by a leaky ReLU (the paper's code: sqrt(2)); output
-- layers (to RGB, D's score) take gain 1
local HE = { gain = math.sqrt(2) }
local HE_PAD = { gain = math.sqrt(2), padding = 1 }

local M = require("gan.train.model").define {
   name = "progan",
   summary = "Progressive growing GAN: G and D grow from 4x4 with fade-ins; pixel norm, mbstd, equalised lr",
   paper = "Karras, Aila, Laine & Lehtinen 2018, Progressive Growing of GANs for Improved Quality, Stability, and Variation",
   best = { metric = "fid", mode = "min" },
   health = { d_loss = {} },   -- a Wasserstein critic: its loss has no floor to watch
   defaults = {
      data = { name = config.valid("fashion_mnist", data.for_gan_image_name, data.FOR_GAN_IMAGE_NAMES),
         image_size = choice(32, { 8, 16, 32, 64 }), batch_size = 64, vendor = choice("google", data.VENDORS) },
      model = {
         nz = range(128, "[1, inf)"),
         -- channels at resolution R: min(fmap_max, fmap_base / R)
         fmap_base = range(1024, "[1, inf)"), fmap_max = range(64, "[1, inf)"),
         mbstd_group = range(4, "[1, inf)"),
      },
      train = {
         -- at 32 px: 4x4 for 1,000 steps, then 2,000 (fade, stabilise) for each of 8, 16
         -- and 32, then 3,000 more at 32x32
         steps = 10000, sample_every = 500, checkpoint_every = 500,
         -- images per fade-in phase and per stabilising phase (the paper: 800k)
         phase_images = range(64000, "[1, inf)"),
         lr = range(1e-3, "[0, inf)"), beta1 = range(0.0, "[0, 1)"), beta2 = range(0.99, "[0, 1)"),
         gp = range(10.0, "[0, inf)"), drift = range(0.001, "[0, inf)"),
         ema = range(0.999, "[0, 1)"), ema_start = range(0, "[0, inf)"),
         -- reset Adam's moments when a new resolution comes in (the paper's code does)
         reset_optimizer = true,
      },
   },
}

--- The stage of training at `step` (1-based; the step's batch not yet seen): the level
-- (resolution 4 * 2^level) and the fade-in alpha in [0, 1]. With P = phase_images and
-- images = (step - 1) * batch seen so far, phase p = floor(images / P): phase 0 trains
-- 4x4; phase 2l - 1 fades level l in (alpha = (images - p P) / P), phase 2l stabilises
-- it (alpha 1); past the last level's stabilising phase training stays at the top level.
-- @tparam int step
-- @tparam int batch images per step
-- @tparam int phase_images
-- @tparam int top the last level (log2(image_size) - 2)
-- @treturn int level
-- @treturn number alpha
function M.stage(step, batch, phase_images, top)
   local images = (step - 1) * batch
   local p = images // phase_images
   if p >= 2 * top then return top, 1.0 end
   if p == 0 then return 0, 1.0 end
   local level = (p + 1) // 2
   if p % 2 == 1 then return level, (images - p * phase_images) / phase_images end
   return level, 1.0
end

local function lrelu(x) return F.leaky_relu(x, 0.2) end
local function up(x) return F.interpolate(x, { scale_factor = 2, mode = "nearest" }) end
local function down(x) return F.avg_pool2d(x, 2) end

--- The channels of each level 0..top (ProGAN's nf(stage)): min(fmap_max, fmap_base / R).
function M.channels(m, top)
   local ch = {}
   for l = 0, top do ch[l] = math.max(1, math.min(m.fmap_max, m.fmap_base // (4 * 2 ^ l))) end
   return ch
end

local Generator = nn.class("ProGANGenerator", nn.Module)
function Generator:__init(o)
   nn.Module.__init(self)
   local ch, top = o.channels, o.top
   self.nz, self.top, self.c0 = o.nz, top, ch[0]
   self.level, self.alpha = top, 1.0
   self.pn = PixelNorm()
   self.input = EqualLinear(o.nz, ch[0] * 16, HE)
   self.conv0 = EqualConv2d(ch[0], ch[0], 3, HE_PAD)
   self.blocks, self.to_rgb = nn.ModuleList(), nn.ModuleList()
   self.to_rgb:append(EqualConv2d(ch[0], o.nc, 1))
   for l = 1, top do
      self.blocks:append(nn.Sequential { EqualConv2d(ch[l - 1], ch[l], 3, HE_PAD), nn.LeakyReLU(0.2), PixelNorm(),
         EqualConv2d(ch[l], ch[l], 3, HE_PAD), nn.LeakyReLU(0.2), PixelNorm() })
      self.to_rgb:append(EqualConv2d(ch[l], o.nc, 1))
   end
end
--- The features at level `l` of z's batch, and those of level l - 1 (for a fade).
function Generator:trunk(z, level)
   local n = z:size(1)
   local x = self.input(self.pn(z:reshape(n, self.nz)))
   x = self.pn(lrelu(x:reshape(n, self.c0, 4, 4)))
   x = self.pn(lrelu(self.conv0(x)))
   local prev
   for l = 1, level do
      prev = x
      x = self.blocks[l](up(x))
   end
   return x, prev
end
--- The image at the current level, faded with the level below while alpha < 1.
-- @tparam Tensor z (N, nz)
-- @treturn Tensor (N, nc, R, R)
function Generator:forward(z)
   local level, alpha = self.level, self.alpha
   local x, prev = self:trunk(z, level)
   local out = self.to_rgb[level + 1](x)
   if alpha < 1 and level > 0 then
      out = out * alpha + up(self.to_rgb[level](prev)) * (1 - alpha)
   end
   return out
end

local Discriminator = nn.class("ProGANDiscriminator", nn.Module)
function Discriminator:__init(o)
   nn.Module.__init(self)
   local ch, top = o.channels, o.top
   self.top, self.level, self.alpha = top, top, 1.0
   self.from_rgb, self.blocks = nn.ModuleList(), nn.ModuleList()
   for l = 0, top do self.from_rgb:append(EqualConv2d(o.nc, ch[l], 1, HE)) end
   for l = 1, top do
      self.blocks:append(nn.Sequential { EqualConv2d(ch[l], ch[l], 3, HE_PAD), nn.LeakyReLU(0.2),
         EqualConv2d(ch[l], ch[l - 1], 3, HE_PAD), nn.LeakyReLU(0.2), nn.AvgPool2d(2) })
   end
   self.final = nn.Sequential { MinibatchStdDev(o.mbstd_group), EqualConv2d(ch[0] + 1, ch[0], 3, HE_PAD),
      nn.LeakyReLU(0.2), nn.Flatten(), EqualLinear(ch[0] * 16, ch[0], HE), nn.LeakyReLU(0.2), EqualLinear(ch[0], 1) }
end
--- The critic's score of images at the current level (faded while alpha < 1).
-- @tparam Tensor x (N, nc, R, R)
-- @treturn Tensor (N)
function Discriminator:forward(x)
   local level, alpha = self.level, self.alpha
   local h = lrelu(self.from_rgb[level + 1](x))
   if level > 0 then
      h = self.blocks[level](h)
      if alpha < 1 then h = h * alpha + lrelu(self.from_rgb[level](down(x))) * (1 - alpha) end
      for l = level - 1, 1, -1 do h = self.blocks[l](h) end
   end
   return self.final(h):reshape(x:size(1))
end

--- opts: nz, channels (level -> channels, 0..top), top, nc.
function M.Generator(opts) return Generator(opts) end
--- opts: channels, top, nc, mbstd_group.
function M.Discriminator(opts) return Discriminator(opts) end

--- The real images shown at (level, alpha): the full-size batch averaged down to the
-- level's resolution and, while fading, blended with its own half-resolution version
-- upsampled (as G's output is).
function M.real_at(x, level, alpha, top)
   for _ = level + 1, top do x = down(x) end
   if alpha < 1 and level > 0 then x = x * alpha + up(down(x)) * (1 - alpha) end
   return x
end

--- The images of data.name at the full data.image_size (the step shrinks them).
-- @tparam table cfg the resolved config
-- @treturn table a dataset
function M.dataset(cfg)
   return data.for_gan(cfg.data.name, { image_size = cfg.data.image_size, vendor = cfg.data.vendor })
end

--- Builds the growing G and D at every level, Adam "g" and "d" (train.lr, beta1, beta2),
-- the WGAN losses and, with train.ema > 0, an EMA copy of G.
-- @tparam table cfg the resolved config
function M:build(cfg)
   local m, t, size = cfg.model, cfg.train, cfg.data.image_size
   self.top = math.tointeger(math.log(size, 2)) - 2
   local ch = M.channels(m, self.top)
   local nc = data.channels(cfg.data.name)
   local G = self:network("G", Generator { nz = m.nz, channels = ch, top = self.top, nc = nc })
   local D = self:network("D", Discriminator { channels = ch, top = self.top, nc = nc, mbstd_group = m.mbstd_group })
   local betas = { t.beta1, t.beta2 }
   self:optimizer("g", optim.Adam(G:parameters(), { lr = t.lr, betas = betas }))
   self:optimizer("d", optim.Adam(D:parameters(), { lr = t.lr, betas = betas }))
   if t.ema > 0 then self:ema_of("G", { decay = t.ema, start = t.ema_start }) end
   self.loss = losses.pair("wgan")
end

--- Sets the level and fade of G, D and G's EMA copy.
function M:set_stage(level, alpha)
   local nets = { self.G, self.D, self.ema.G and self.ema.G.model }
   for _, n in pairs(nets) do n.level, n.alpha = level, alpha end
end

--- The stage (M.stage) of this run at `step`.
function M:stage_at(step)
   local c = self.cfg
   return M.stage(step, c.data.batch_size, c.train.phase_images, self.top)
end

--- z ~ N(0, 1) of shape (n, nz).
function M:latent(n, generator)
   return core.randn({ n, self.cfg.model.nz }, { generator = generator })
end

--- One D update (WGAN-GP with the drift term) and one G update at the step's stage.
function M:train_step(data_, step)
   local t = self.cfg.train
   local level, alpha = self:stage_at(step)
   if t.reset_optimizer and step > 1 and level ~= (self:stage_at(step - 1)) then
      for _, name in ipairs { "g", "d" } do self.optimizers[name].opt.state = {} end
   end
   self:set_stage(level, alpha)
   local G, D = self.G, self.D
   local real = M.real_at(data_:next().image, level, alpha, self.top)
   local z = self:latent(real:size(1), self.rng)
   local fake = no_grad(G, z)
   local logs = { level = level, alpha = alpha }
   local loss_d = self:update("d", function()
      local d_real, d_fake = D(real), D(fake)
      local loss = self.loss.d(d_real, d_fake)
      local gp, norm = penalties.gradient_penalty(D, real, fake, { weight = t.gp, generator = self.rng })
      local drift = (d_real * d_real):mean() * t.drift
      logs.gp, logs.grad_norm_xhat, logs.drift = gp:item(), norm, drift:item()
      logs.d_real, logs.d_fake = d_real:detach():mean():item(), d_fake:detach():mean():item()
      return loss + gp + drift
   end)
   local loss_g = self:update("g", function() return self.loss.g(D(G(z))) end, { freeze = D })
   logs.loss_d, logs.loss_g = loss_d:item(), loss_g:item()
   return logs
end

--- The stage of the last step trained (the top level once training is past it).
function M:current_stage()
   return self:stage_at(math.max(1, self.step))
end

--- 64 samples at the current stage, upsampled (nearest) to data.image_size.
function M:sample()
   self:set_stage(self:current_stage())
   local x = self.run_eval(self:sampler("G"), self:fixed_latent(64))
   local s = self.cfg.data.image_size
   if x:size(3) ~= s then x = F.interpolate(x, { size = s, mode = "nearest" }) end
   return x, { nrow = 8 }
end

--- The metrics of gan.metrics.evaluate for data.name (opts.n samples, 10,000) at the
-- current stage (images below 32x32 are resized to it by the evaluation), from the EMA
-- generator when there is one.
function M:evaluate(opts)
   opts = opts or {}
   self:set_stage(self:current_stage())
   local res = metrics.evaluate(self:sampler("G"), self.cfg.data.name, { n = opts.n or 10000,
      latent = function(n, g) return self:latent(n, g) end, classifier = opts.classifier })
   res.level, res.alpha = self:current_stage()
   res.ema = self.ema.G ~= nil
   return res
end

return M
