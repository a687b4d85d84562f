--- ACGAN (Odena et al., 2017): a class-conditional generator and a discriminator that
-- also predicts the class, on DCGAN's convolutional stacks. D minimises L_S + L_C, G the
-- non-saturating L_S plus L_C. Sample sheets: one row per class. Labelled MNIST (or
-- Fashion-MNIST) at 32x32; the test split stays unseen for train-on-generated /
-- test-on-real.
--
--     G(z, y): z (N, nz) or (N, nz, 1, 1), y int64 (N) 0-based -> image (N, nc, S, S)
--     D(x)   : -> source logit (N), class logits (N, n_classes)
-- @module gan.models.acgan
local core = require("gan.core")
local nn = require("gan.nn")
local F = require("gan.nn.functional")
local optim = require("gan.optim")
local blocks = require("gan.nn.blocks")
local metrics = require("gan.metrics")
local config = require("gan.config")
local range, choice = config.range, config.choice

local M = require("gan.train.model").define {
   name = "acgan",
   summary = "Auxiliary-classifier GAN: class-conditional G, D also predicts the class",
   paper = "Odena, Olah & Shlens 2017, Conditional Image Synthesis with Auxiliary Classifier GANs",
   health = { d_loss = { "l_s" } },
   defaults = {
      -- labelled data only
      data = { name = choice("mnist", { "mnist", "fashion_mnist" }), image_size = choice(32, require("gan.models.dcgan").SIZES),
         batch_size = 64 },
      model = { nz = range(100, "[1, inf)"), ngf = range(32, "[1, inf)"), ndf = range(32, "[1, inf)"),
         dropout = range(0.0, "[0, 1)"), n_classes = range(10, "[1, inf)") },
      train = {
         steps = 600, sample_every = 100, checkpoint_every = 300,
         lr_g = range(2e-4, "[0, inf)"), lr_d = range(2e-4, "[0, inf)"), beta1 = range(0.5, "[0, 1)"),
         beta2 = range(0.999, "[0, 1)"), ema = range(0.0, "[0, 1)"), ema_start = range(0, "[0, inf)"),
         -- the weight of the fakes' class term in D's loss (1: the paper; 0: D's class
         -- head learns from real images only)
         fake_class_weight = range(1.0, "[0, inf)"),
      },
   },
}

-- The generator: the class embedding (nz values per class) multiplies the noise, and the
-- product drives DCGAN's generator.
local Generator = nn.class("ACGANGenerator", nn.Module)
function Generator:__init(opts)
   nn.Module.__init(self)
   self.nz, self.n_classes = opts.nz or 100, opts.n_classes or 10
   self.embed = nn.Embedding(self.n_classes, self.nz)
   self.net = blocks.DCGANGenerator { nz = self.nz, ngf = opts.ngf, nc = opts.nc, image_size = opts.image_size }
end
--- Images for noise z and class labels y: the class embedding times z, through DCGAN's
-- generator.
-- @tparam Tensor z (N, nz) or (N, nz, 1, 1)
-- @tparam Tensor y int64 class labels (N), 0-based
-- @treturn Tensor (N, nc, S, S)
-- @raise when y is missing
function Generator:forward(z, y)
   if y == nil then error("ACGAN generator: class labels are required, G(z, y)", 2) end
   local n = z:size(1)
   local h = z:reshape(n, self.nz) * self.embed(y)
   return self.net(h:reshape(n, self.nz, 1, 1))
end

--- opts: nz (100), n_classes (10), ngf (64), nc (1), image_size (32).
-- @tparam[opt] table opts the options above
-- @treturn Module forward(z, y)
function M.Generator(opts) return Generator(opts or {}) end

-- The discriminator: DCGAN's convolutional trunk down to 4x4, then two linear heads.
local Discriminator = nn.class("ACGANDiscriminator", nn.Module)
function Discriminator:__init(opts)
   nn.Module.__init(self)
   local ndf, size = opts.ndf or 64, opts.image_size or 32
   local trunk = blocks.DCGANDiscriminator { ndf = ndf, nc = opts.nc, image_size = size, norm = opts.norm }
   -- all of DCGAN's layers but the final 4x4 convolution and the flatten
   local layers = {}
   for i = 1, #trunk - 2 do layers[i] = trunk[i] end
   self.trunk = nn.Sequential(layers)
   self.drop = nn.Dropout(opts.dropout or 0)
   local feat = ndf * (size // 8) * 4 * 4   -- channels at 4x4: ndf * 2^(stages - 1), stages = log2(S) - 2
   self.source = nn.Linear(feat, 1)
   self.class = nn.Linear(feat, opts.n_classes or 10)
   for _, l in ipairs { self.source, self.class } do
      nn.init.normal_(l.weight, 0, 0.02)
      nn.init.zeros_(l.bias)
   end
end
--- The trunk's flattened features of x (after dropout), which both heads read.
-- @tparam Tensor x (N, nc, S, S)
-- @treturn Tensor (N, features)
function Discriminator:features(x) return self.drop(self.trunk(x):flatten(2)) end
--- The source logit (real or fake) and the class logits of x.
-- @tparam Tensor x (N, nc, S, S)
-- @treturn Tensor source logits (N)
-- @treturn Tensor class logits (N, n_classes)
function Discriminator:forward(x)
   local h = self:features(x)
   return self.source(h):reshape(x:size(1)), self.class(h)
end

--- opts: ndf (64), nc (1), image_size (32), n_classes (10), norm ("batch"), dropout (0).
-- @tparam[opt] table opts the options above
-- @treturn Module forward(x) -> source logits (N), class logits (N, n_classes)
function M.Discriminator(opts) return Discriminator(opts or {}) end

--- The discriminator's loss L_S + L_C: binary cross-entropy of the source logits (real
-- 1, fake 0) plus the cross-entropy of the class logits on real and on fake images, the
-- fakes judged against the classes they were asked for. fake_class_weight (1, the
-- paper) scales the fakes' class term; 0 trains D's class head on real images only.
-- @tparam Tensor src_real source logits of real images (N)
-- @tparam Tensor cls_real class logits of real images (N, n_classes)
-- @tparam Tensor y_real their labels, int64 (N)
-- @tparam Tensor src_fake source logits of fakes
-- @tparam Tensor cls_fake class logits of fakes
-- @tparam Tensor y_fake the classes the fakes were asked for
-- @tparam[opt=1] number fake_class_weight
-- @treturn Tensor L_S + L_C
-- @treturn Tensor L_S
-- @treturn Tensor L_C
function M.d_loss(src_real, cls_real, y_real, src_fake, cls_fake, y_fake, fake_class_weight)
   local w = fake_class_weight or 1
   local l_s = F.binary_cross_entropy_with_logits(src_real, src_real:detach() * 0 + 1)
      + F.binary_cross_entropy_with_logits(src_fake, src_fake:detach() * 0)
   local l_c = F.cross_entropy(cls_real, y_real)
   if w ~= 0 then l_c = l_c + F.cross_entropy(cls_fake, y_fake) * w end
   return l_s + l_c, l_s, l_c
end

--- The generator's loss in the non-saturating form: -log D_S(G(z, y)) (real target)
-- plus the class cross-entropy of its images, so G maximises L_C - L_S.
-- @tparam Tensor src_fake source logits of fakes (N)
-- @tparam Tensor cls_fake class logits of fakes (N, n_classes)
-- @tparam Tensor y_fake the classes asked for, int64 (N)
-- @treturn Tensor the loss
-- @treturn Tensor its source part
-- @treturn Tensor its class part
function M.g_loss(src_fake, cls_fake, y_fake)
   local l_s = F.binary_cross_entropy_with_logits(src_fake, src_fake:detach() * 0 + 1)
   local l_c = F.cross_entropy(cls_fake, y_fake)
   return l_s + l_c, l_s, l_c
end

--- The labelled training split (the test split stays unseen).
-- @tparam table cfg the resolved config
-- @treturn table a dataset
function M.dataset(cfg)
   return M.check_classes(require("gan.data").for_gan(cfg.data.name, { split = "train",
      image_size = cfg.data.image_size }), cfg)
end

--- Builds G and D, their Adam optimizers "g" and "d" (train.lr_g, lr_d, beta1, beta2) and,
-- with train.ema > 0, an EMA copy of G.
-- @tparam table cfg the resolved config
function M:build(cfg)
   local m, t, size = cfg.model, cfg.train, cfg.data.image_size
   local G = self:network("G", M.Generator { nz = m.nz, ngf = m.ngf, nc = 1, image_size = size, n_classes = m.n_classes })
   local D = self:network("D", M.Discriminator { ndf = m.ndf, nc = 1, image_size = size, dropout = m.dropout,
      n_classes = m.n_classes })
   self:optimizer("g", optim.Adam(G:parameters(), { lr = t.lr_g, betas = { t.beta1, t.beta2 } }))
   self:optimizer("d", optim.Adam(D:parameters(), { lr = t.lr_d, betas = { t.beta1, t.beta2 } }))
   if t.ema > 0 then self:ema_of("G", { decay = t.ema, start = t.ema_start }) end
end

local function noise(self, n, generator) return core.randn({ n, self.cfg.model.nz }, { generator = generator }) end

--- z ~ N(0, 1) (n, nz) and classes drawn uniformly: G's two inputs.
-- @tparam int n
-- @tparam[opt] Generator generator
-- @treturn Tensor z (n, nz)
-- @treturn Tensor the classes, int64 (n)
function M:latent(n, generator)
   return noise(self, n, generator), core.randint(0, self.cfg.model.n_classes, { n }, { generator = generator })
end

local function class_acc(logits, y)
   local _, c = logits:detach():max(2)
   return c:eq(y):double():mean():item()
end
local function mean_of(t) return t:detach():double():mean():item() end

--- D on real images and (detached) fakes of random classes, then G through the frozen D.
-- Logs loss_d, loss_g, l_s, l_c (D's parts), acc_real / acc_fake (D's class accuracy),
-- d_real, d_fake.
-- @tparam table data the batches: data:next() gives the next one
-- @param _ the step (unused)
-- @treturn table the scalars to log
function M:train_step(data, _)
   local G, D = self.G, self.D
   local batch = data:next()
   local real, y_real = batch.image, batch.label
   local z, y_fake = self:latent(real:size(1), self.rng)
   local fake = G(z, y_fake)
   local loss_d, l_s, l_c, s_r, c_r, s_f, c_f = self:update("d", function()
      local s_r, c_r = D(real)
      local s_f, c_f = D(fake:detach())
      local loss, l_s, l_c = M.d_loss(s_r, c_r, y_real, s_f, c_f, y_fake, self.cfg.train.fake_class_weight)
      return loss, l_s, l_c, s_r, c_r, s_f, c_f
   end)
   local loss_g = self:update("g", function()
      local s_g, c_g = D(fake)
      return M.g_loss(s_g, c_g, y_fake)
   end, { freeze = D })
   return { loss_d = loss_d:item(), loss_g = loss_g:item(), l_s = l_s:item(), l_c = l_c:item(),
      acc_real = class_acc(c_r, y_real), acc_fake = class_acc(c_f, y_fake), d_real = mean_of(s_r),
      d_fake = mean_of(s_f) }
end

--- One row per class, from fixed latents (the EMA generator when there is one).
function M:sample()
   local k = self.cfg.model.n_classes
   return M.run_eval(self:sampler("G"), self:fixed_latent(k * k), M.class_rows(k)), { nrow = k }
end

--- The metrics of gan.metrics.evaluate on opts.n samples (10,000), every class equally
-- often: FID and the rest, the accuracy of the requested class, the FID within each
-- class, and train-on-generated / test-on-real (opts.tstr_epochs, 10).
-- @tparam[opt] table opts `n` (10000), `classifier` (the shipped one), `tstr_epochs` (10)
-- @treturn table metric name -> number
function M:evaluate(opts)
   opts = opts or {}
   local n = opts.n or 10000
   local labels = M.balanced_classes(n, self.cfg.model.n_classes)
   local res = metrics.evaluate(self:sampler("G"), self.cfg.data.name, { n = n, classifier = opts.classifier,
      latent = function(b, g) return noise(self, b, g) end, labels = labels,
      tstr = { epochs = opts.tstr_epochs or 10 } })
   res.ema = self.ema.G ~= nil
   return res
end

return M
