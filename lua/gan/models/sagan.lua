--- SAGAN (Zhang et al., 2019): a class-conditional residual generator and discriminator
-- with self-attention, spectral norm in both, the hinge loss, TTUR (G 1e-4, D 4e-4,
-- betas (0, 0.9)), conditional batch norm in G and a projection discriminator (Miyato &
-- Koyama 2018). Every trick BigGAN adds on top (gan.models.biggan) is a switch here, so
-- that each can be turned off alone:
--
--   model.attention     the resolution of the self-attention layer in G and D (0: none)
--   model.sn_g          spectral norm in G (D always has it)
--   model.shared_dim    > 0: one class embedding shared by every conditional batch norm
--                       (its gains and biases are linear maps of it); 0: an embedding
--                       per batch-norm layer (SAGAN)
--   model.hierarchical  z split into one chunk per block plus one for the first layer,
--                       each block's chunk concatenated with the shared embedding
--   model.head          "projection" (score + <embed(y), features>) or "ac" (an
--                       auxiliary classifier, as ACGAN)
--   train.d_steps       D steps per G step
--   train.ortho         BigGAN's off-diagonal orthogonal regularisation of G (0: none;
--                       never on embeddings)
--   train.ema           EMA of G (with standing statistics for its batch norms)
--   model.truncation    > 0: sheets and evaluation draw z from N(0, 1) truncated to
--                       [-t, t] (resampled, not clamped); 0: plain N(0, 1)
--
-- Class-conditional Fashion-MNIST at 32x32 by default (10 classes); sheets have one row
-- per class. The networks, for image size S = 4 * 2^B (B up blocks):
--
--     G(z, y): Linear(z0 -> 4x4 x 8ch), B x ResBlockUp (8ch -> 4ch -> 2ch -> ch),
--              attention after the block reaching `attention`, BN, ReLU, 3x3 conv, tanh
--     D(x, y): B x ResBlockDown (nc -> ch -> 2ch -> 4ch), attention after the block
--              reaching `attention`, a ResBlock (4ch -> 8ch, no pooling), ReLU, sum over
--              positions -> features h; score = Linear(h) [+ <embed(y), h>]
--              (with head = "ac": score (N) and class logits (N, n_classes))
-- @module gan.models.sagan
local core = require("gan.core")
local nn = require("gan.nn")
local F = require("gan.nn.functional")
local optim = require("gan.optim")
local losses = require("gan.losses")
local data = require("gan.data")
local metrics = require("gan.metrics")
local nn_utils = require("gan.nn.utils")
local no_grad = require("gan.autograd").no_grad
local config = require("gan.config")
local range, choice = config.range, config.choice

-- Image sizes 4 * 2^B (B up blocks), and the resolutions self-attention can sit at
-- (0: none; below data.image_size, which build checks).
local SIZES = { 8, 16, 32, 64, 128, 256, 512 }
local ATTENTION = { 0, 8, 16, 32, 64, 128, 256 }

local M = require("gan.train.model").define {
   name = "sagan",
   summary = "Self-attention GAN: residual conditional G and projection D with attention, SN, hinge, TTUR",
   paper = "Zhang, Goodfellow, Metaxas & Odena 2019, Self-Attention Generative Adversarial Networks",
   health = { d_loss = { "loss_d" } },
   best = { metric = "fid", mode = "min" },
   defaults = {
      -- labelled data only (n_classes must be its class count: 10, 10, 9)
      data = { name = choice("fashion_mnist", { "fashion_mnist", "mnist", "emoji_category" }),
         image_size = choice(32, SIZES), batch_size = 64 },
      model = {
         nz = range(128, "[1, inf)"), n_classes = range(10, "[1, inf)"), ch = range(32, "[1, inf)"),
         attention = choice(16, ATTENTION), sn_g = true, shared_dim = range(0, "[0, inf)"), hierarchical = false,
         head = choice("projection", { "projection", "ac" }), truncation = range(0.0, "[0, inf)"),
      },
      train = {
         steps = 10000, sample_every = 500, checkpoint_every = 1000,
         lr_g = range(1e-4, "[0, inf)"), lr_d = range(4e-4, "[0, inf)"), beta1 = range(0.0, "[0, 1)"),
         beta2 = range(0.9, "[0, 1)"), d_steps = range(1, "[1, inf)"), ortho = range(0.0, "[0, inf)"),
         ema = range(0.0, "[0, 1)"), ema_start = range(0, "[0, inf)"),
      },
   },
}

local function sn_if(m, on) if on then return nn_utils.spectral_norm(m) end return m end

-- The number of up (and down) blocks for an image size 4 * 2^B.
local function n_blocks(size, who)
   local b = math.log(size / 4, 2)
   if size < 8 or b ~= math.floor(b) then
      error(("%s: data.image_size must be 4 * 2^k (8, 16, 32, 64, ...), got %s"):format(who, tostring(size)), 0)
   end
   return math.floor(b)
end

-- BigGAN's initialisation: orthogonal weights in every convolution and linear layer (the
-- raw weight of a spectrally normalised one).
local function ortho_init(m)
   local name = getmetatable(m).__name
   if name == "Conv2d" or name == "Linear" then
      local w = rawget(m, "weight_orig") or rawget(m, "weight")
      nn.init.orthogonal_(w)
      if rawget(m, "bias") then nn.init.zeros_(m.bias) end
   end
end

-- ---------------------------------------------------------------- the generator

local Generator = nn.class("BigGANGenerator", nn.Module)
function Generator:__init(o)
   nn.Module.__init(self)
   local B = n_blocks(o.image_size, "sagan")
   self.nz, self.n_classes, self.hierarchical = o.nz, o.n_classes, o.hierarchical
   self.shared_dim = o.shared_dim or 0
   local ch, widths = o.ch, {}
   for i = 0, B do widths[i + 1] = ch * 2 ^ (3 - math.min(i, 3)) end   -- 8ch, 4ch, 2ch, ch, ch, ...
   self.widths = widths
   local z0, cond = o.nz, nil
   if o.hierarchical then
      if self.shared_dim <= 0 then
         error("sagan: model.hierarchical needs a shared class embedding (model.shared_dim > 0)", 0)
      end
      if o.nz % (B + 1) ~= 0 then
         error(("sagan: model.nz (%d) must split into %d equal chunks for hierarchical z (%d blocks + 1)"):format(
            o.nz, B + 1, B), 0)
      end
      self.chunk = o.nz // (B + 1)
      z0, cond = self.chunk, self.shared_dim + self.chunk
   elseif self.shared_dim > 0 then
      cond = self.shared_dim
   end
   if self.shared_dim > 0 then self.shared = nn.Embedding(o.n_classes, self.shared_dim) end
   self.linear = sn_if(nn.Linear(z0, 16 * widths[1]), o.sn)
   self.blocks = nn.ModuleList()
   for i = 1, B do
      self.blocks:append(nn.ResBlockUp(widths[i], widths[i + 1], { sn = o.sn, cond_dim = cond,
         num_classes = cond == nil and o.n_classes or nil }))
      if o.attention == 4 * 2 ^ i then
         self.attn_after = i
         self.attn = nn.SelfAttention2d(widths[i + 1], { sn = o.sn, pool = true })
      end
   end
   self.out_bn = nn.BatchNorm2d(widths[B + 1])
   self.out_conv = sn_if(nn.Conv2d(widths[B + 1], o.nc, 3, { padding = 1 }), o.sn)
   self:apply(ortho_init)
   if self.shared then nn.init.orthogonal_(self.shared.weight) end
end

--- z (N, nz), y int64 (N) 0-based -> images (N, nc, S, S) in [-1, 1].
-- @tparam Tensor z
-- @tparam Tensor y
-- @treturn Tensor
function Generator:forward(z, y)
   if y == nil then error("sagan generator: class labels are required, G(z, y)", 2) end
   local N = z:size(1)
   z = z:reshape(N, self.nz)
   local h, conds = nil, {}
   if self.hierarchical then
      local e = self.shared(y)
      h = self.linear(z:narrow(2, 1, self.chunk))
      for i = 1, #self.blocks do conds[i] = core.cat({ e, z:narrow(2, i * self.chunk + 1, self.chunk) }, 2) end
   else
      h = self.linear(z)
      local c = self.shared and self.shared(y) or y
      for i = 1, #self.blocks do conds[i] = c end
   end
   h = h:view(N, self.widths[1], 4, 4)
   for i = 1, #self.blocks do
      h = self.blocks[i](h, conds[i])
      if self.attn_after == i then h = self.attn(h) end
   end
   return self.out_conv(self.out_bn(h):relu()):tanh()
end

--- opts: nz, n_classes, ch, nc, image_size, attention (resolution, 0: none), sn,
-- shared_dim (0: per-layer class embeddings), hierarchical.
-- @tparam table opts the options above
-- @treturn Module
function M.Generator(opts) return Generator(opts) end

-- ---------------------------------------------------------------- the discriminator

local Discriminator = nn.class("BigGANDiscriminator", nn.Module)
function Discriminator:__init(o)
   nn.Module.__init(self)
   local B = n_blocks(o.image_size, "sagan")
   local ch = o.ch
   local widths = { o.nc }
   for i = 1, B do widths[i + 1] = ch * 2 ^ math.min(i - 1, 3) end   -- nc, ch, 2ch, 4ch, 8ch, ...
   self.blocks = nn.ModuleList()
   for i = 1, B do
      self.blocks:append(nn.ResBlockDown(widths[i], widths[i + 1], { first = i == 1, sn = true }))
      if o.attention == o.image_size / 2 ^ i then
         self.attn_after = i
         self.attn = nn.SelfAttention2d(widths[i + 1], { sn = true, pool = true })
      end
   end
   local feat = widths[B + 1] * 2
   self.last = nn.ResBlockDown(widths[B + 1], feat, { downsample = false, sn = true })
   self.head = o.head
   self.linear = nn_utils.spectral_norm(nn.Linear(feat, 1))
   if o.head == "projection" then
      self.embed = nn_utils.spectral_norm(nn.Embedding(o.n_classes, feat))
   else
      self.classify = nn_utils.spectral_norm(nn.Linear(feat, o.n_classes))
   end
   self:apply(ortho_init)
   if self.embed then nn.init.orthogonal_(self.embed.weight_orig) end
end

--- The features h (N, 8ch): the blocks, ReLU, and the sum over positions.
-- @tparam Tensor x (N, nc, S, S)
-- @treturn Tensor
function Discriminator:features(x)
   local h = x
   for i = 1, #self.blocks do
      h = self.blocks[i](h)
      if self.attn_after == i then h = self.attn(h) end
   end
   return self.last(h):relu():sum({ 3, 4 })
end

--- x (N, nc, S, S), y int64 (N) -> the score (N); with head "ac" also the class logits
-- (N, n_classes) (y is then not used).
-- @tparam Tensor x
-- @tparam[opt] Tensor y
-- @treturn Tensor the scores
-- @treturn[opt] Tensor the class logits (head "ac")
function Discriminator:forward(x, y)
   local h = self:features(x)
   local N = x:size(1)
   local score = self.linear(h):reshape(N)
   if self.head == "projection" then
      if y == nil then error("sagan discriminator: the projection head needs the class labels, D(x, y)", 2) end
      return score + (self.embed(y) * h):sum(2)
   end
   return score, self.classify(h)
end

--- opts: n_classes, ch, nc, image_size, attention (resolution, 0: none), head
-- ("projection" or "ac").
-- @tparam table opts the options above
-- @treturn Module
function M.Discriminator(opts) return Discriminator(opts) end

-- ---------------------------------------------------------------- training

--- The labelled training split (the test split stays unseen: it is the reference set):
-- Fashion-MNIST, MNIST, or emoji by category (emoji_category, 9 classes).
-- @tparam table cfg the resolved config
-- @treturn table a dataset
function M.dataset(cfg)
   return M.check_classes(data.for_gan(cfg.data.name, { split = "train", image_size = cfg.data.image_size }), cfg)
end

--- Builds the BigGAN-style G and D, their Adam optimizers "g" and "d", the EMA of G
-- (train.ema > 0) and the list of G's weights under orthogonal regularisation
-- (train.ortho > 0).
-- @tparam table cfg the resolved config
-- @raise when model.attention is neither 0 nor a power of two in [8, data.image_size / 2]
function M:build(cfg)
   local m, t, d = cfg.model, cfg.train, cfg.data
   -- each value is in its declared range; what is left is between keys
   local a = m.attention
   if not (a == 0 or (a >= 8 and a < d.image_size and math.log(a, 2) == math.floor(math.log(a, 2)))) then
      error(("%s: model.attention must be 0 (none) or a power of two from 8 to data.image_size / 2 (%d), got %s")
         :format(self.name, d.image_size // 2, tostring(a)), 0)
   end
   local nc = data.channels(d.name)
   local G = self:network("G", M.Generator { nz = m.nz, n_classes = m.n_classes, ch = m.ch, nc = nc,
      image_size = d.image_size, attention = m.attention, sn = m.sn_g, shared_dim = m.shared_dim,
      hierarchical = m.hierarchical })
   local D = self:network("D", M.Discriminator { n_classes = m.n_classes, ch = m.ch, nc = nc,
      image_size = d.image_size, attention = m.attention, head = m.head })
   self:optimizer("g", optim.Adam(G:parameters(), { lr = t.lr_g, betas = { t.beta1, t.beta2 } }))
   self:optimizer("d", optim.Adam(D:parameters(), { lr = t.lr_d, betas = { t.beta1, t.beta2 } }))
   if t.ema > 0 then self:ema_of("G", { decay = t.ema, start = t.ema_start }) end
   self.ortho = t.ortho > 0 and nn_utils.orthogonal_weights(G) or nil
end

--- z ~ N(0, 1) (n, nz), or N(0, 1) truncated to [-truncation, truncation] when
-- truncation > 0 (gan.trunc_normal: exact inverse-CDF sampling, the distribution of
-- resampling every value beyond the threshold), and classes drawn uniformly.
-- @tparam int n
-- @tparam[opt] Generator generator
-- @tparam[opt=0] number truncation
-- @treturn Tensor z (n, nz)
-- @treturn Tensor the classes, int64 (n)
function M:latent(n, generator, truncation)
   local nz, t = self.cfg.model.nz, truncation or 0
   local z
   if t > 0 then z = core.trunc_normal({ n, nz }, { a = -t, b = t, generator = generator })
   else z = core.randn({ n, nz }, { generator = generator }) end
   return z, core.randint(0, self.cfg.model.n_classes, { n }, { generator = generator })
end

-- D on a batch of real and fake images at once (one pass: spectral norm's power
-- iteration once per step); returns the real and the fake halves of each output.
local function judge(D, real, y_real, fake, y_fake)
   local n = real:size(1)
   local s, c = D(core.cat({ real, fake }, 1), core.cat({ y_real, y_fake }, 1))
   local m = s:size(1) - n
   return s:narrow(1, 1, n), s:narrow(1, n + 1, m), c and c:narrow(1, 1, n), c and c:narrow(1, n + 1, m)
end

local function mean_of(t) return t:detach():double():mean():item() end

--- train.d_steps updates of D (the hinge loss; with head "ac" plus the cross-entropy of
-- its class logits on the real images), each on a new batch, then one of G (the hinge
-- loss, plus the class cross-entropy of its images with head "ac", plus the orthogonal
-- penalty). Logs loss_d, loss_g, d_real, d_fake (mean scores), ortho, and with head
-- "ac" acc_real (D's class accuracy on real images).
-- @tparam table batches the batches: batches:next() gives the next one
-- @param _ the step (unused)
-- @treturn table the scalars to log
function M:train_step(batches, _)
   local G, D, cfg = self.G, self.D, self.cfg
   local ac = cfg.model.head == "ac"
   local out, n = {}, nil
   for _ = 1, cfg.train.d_steps do
      local batch = batches:next()
      local real, y_real = batch.image, batch.label
      n = real:size(1)
      local z, y_fake = self:latent(real:size(1), self.rng)
      local fake = no_grad(G, z, y_fake)
      local loss, s_r, s_f, c_r = self:update("d", function()
         local s_r, s_f, c_r = judge(D, real, y_real, fake, y_fake)
         local loss = losses.hinge_d(s_r, s_f)
         if ac then loss = loss + F.cross_entropy(c_r, y_real) end
         return loss, s_r, s_f, c_r
      end)
      out.loss_d, out.d_real, out.d_fake = loss:item(), mean_of(s_r), mean_of(s_f)
      if ac then
         local _, c = c_r:detach():max(2)
         out.acc_real = c:eq(y_real):double():mean():item()
      end
   end
   local z, y = self:latent(n, self.rng)
   local ortho
   local loss_g = self:update("g", function()
      local s, c = D(G(z, y), y)
      local loss = losses.hinge_g(s)
      if ac then loss = loss + F.cross_entropy(c, y) end
      if self.ortho then
         ortho = nn_utils.orthogonal_regularization(self.ortho, cfg.train.ortho)
         loss = loss + ortho
      end
      return loss
   end, { freeze = D })
   out.loss_g = loss_g:item()
   if ortho then out.ortho = ortho:item() end
   return out
end

--- One row per class from fixed latents (truncated at model.truncation), drawn by the
-- EMA generator when there is one.
function M:sample()
   local k = self.cfg.model.n_classes
   local z = self:latent(k * k, core.Generator(self.cfg.train.seed + 1000), self.cfg.model.truncation)
   return M.run_eval(self:sampler("G"), z, M.class_rows(k)), { nrow = k }
end

-- The keys of the raw generator's evaluation reported next to the EMA's.
local RAW = { "fid", "precision", "recall", "class_accuracy", "confident", "fid_class_mean", "fid_class_max" }

--- gan.metrics.evaluate on opts.n samples (10,000), every class equally often, z
-- truncated at opts.truncation (default model.truncation): FID, KID, precision/recall,
-- the confident share, the class accuracy and the FID within each class. With an EMA
-- generator these are its numbers, and raw_<key> the same for the raw generator (unless
-- opts.raw is false).
-- @tparam[opt] table opts `n` (10000), `classifier` (the shipped one), `truncation`
--  (model.truncation), `raw` (true)
-- @treturn table metric name -> number
function M:evaluate(opts)
   opts = opts or {}
   local n = opts.n or 10000
   local trunc = opts.truncation or self.cfg.model.truncation
   local labels = M.balanced_classes(n, self.cfg.model.n_classes)
   local function measure(G)
      return metrics.evaluate(G, self.cfg.data.name, { n = n, classifier = opts.classifier, labels = labels,
         latent = function(b, g) return (self:latent(b, g, trunc)) end })
   end
   local res = measure(self:sampler("G"))
   res.truncation, res.ema = trunc, self.ema.G ~= nil
   if self.ema.G and opts.raw ~= false then
      local raw = measure(self.G)
      for _, k in ipairs(RAW) do res["raw_" .. k] = raw[k] end
   end
   return res
end

return M
