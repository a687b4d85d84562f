--- StackGAN (Zhang et al. 2017): text to image in two stages. Conditioning augmentation
-- (CA) turns the text embedding h into a Gaussian N(mu(h), sigma(h)^2) and samples the
-- condition c from it, with the KL divergence to N(0, I) per dimension of c (weight
-- train.kl, 2) as a regulariser: more variety for one text, a smoother text manifold. Stage I draws a 32x32
-- image from (z, c); stage II, trained afterwards with stage I fixed, encodes stage I's
-- image to 16x16, joins its own CA condition replicated spatially, refines through
-- residual blocks and upsamples to 64x64. Each stage's D is matching-aware as GAN-CLS's
-- (real image with another emoji's text counts as fake). Text encoder and judge as
-- gan.models.gancls (cached matchers).
--
--     train.stage 1: G1(z, c) -> (N, 3, 32, 32)
--     train.stage 2: G2(G1(z, c1), c2) -> (N, 3, 64, 64), train.stage1 = a stage-I run dir
-- @module gan.models.stackgan
local core = require("gan.core")
local nn = require("gan.nn")
local F = require("gan.nn.functional")
local optim = require("gan.optim")
local losses = require("gan.losses")
local blocks = require("gan.nn.blocks")
local matcher = require("gan.metrics.matcher")
local emoji_text = require("gan.data.emoji_text")
local gancls = require("gan.models.gancls")
local no_grad = require("gan.autograd").no_grad
local config = require("gan.config")
local range, choice = config.range, config.choice

local M = require("gan.train.model").define {
   name = "stackgan",
   summary = "StackGAN: conditioning augmentation, stage I at 32 px, stage II refining to 64 px",
   paper = "Zhang, Xu, Li, Zhang, Wang, Huang & Metaxas 2017, StackGAN: Text to Photo-realistic Image Synthesis",
   best = { metric = "r_precision", mode = "max" },
   defaults = {
      data = { batch_size = 64, keep = range(0.5, "[0, 1]") },
      model = { nz = range(100, "[1, inf)"), c_dim = range(64, "[1, inf)"), ngf = range(64, "[1, inf)"),
         ndf = range(64, "[1, inf)"), ngf2 = range(32, "[1, inf)"), res_blocks = range(2, "[0, inf)"),
         -- conditioning augmentation (false: c = mu, no KL term)
         ca = true },
      train = {
         stage = choice(1, { 1, 2 }),
         -- stage 2: the directory of the finished stage-1 run whose G it refines
         stage1 = config.optional("string", require("gan.run").is_dir, require("gan.run").DIR_RULE),
         steps = 8000, sample_every = 500, checkpoint_every = 500,
         kl = range(2.0, "[0, inf)"), lr = range(2e-4, "[0, inf)"), beta1 = range(0.5, "[0, 1)"),
         beta2 = range(0.999, "[0, 1)"), matcher_epochs = range(20, "[1, inf)"),
      },
   },
}

--- Conditioning augmentation: (mu, logvar) = split(LeakyReLU(Linear(sqrt(dim) h))), c =
-- mu + exp(logvar / 2) eps with eps from `generator` (c = mu when off). The matcher's
-- embeddings have unit length; times sqrt(dim) their coordinates have about unit variance,
-- so mu starts at the noise's scale (unscaled it started at about a twentieth of it, and
-- stage I took 1,000 steps to let the text show through the noise).
local CA = nn.class("ConditioningAugmentation", nn.Module)
function CA:__init(dim, c_dim)
   nn.Module.__init(self)
   self.c_dim = c_dim
   self.scale = math.sqrt(dim)
   self.fc = nn.Linear(dim, 2 * c_dim)
end
--- c, mu and logvar of text embeddings.
-- @tparam Tensor h (N, dim)
-- @tparam boolean sample draw c (true) or take mu
-- @tparam[opt] Generator generator eps's
-- @treturn Tensor c (N, c_dim)
-- @treturn Tensor mu
-- @treturn Tensor logvar
function CA:forward(h, sample, generator)
   local s = F.leaky_relu(self.fc(h * self.scale), 0.2)
   local mu, logvar = s:narrow(2, 1, self.c_dim), s:narrow(2, self.c_dim + 1, self.c_dim)
   if not sample then return mu, mu, logvar end
   local eps = core.randn(mu:size(), { generator = generator })
   return mu + (logvar * 0.5):exp() * eps, mu, logvar
end
M.CA = CA

--- The KL divergence of N(mu, exp(logvar)) to N(0, I), summed over the dims, averaged
-- over the batch: 0.5 sum(mu^2 + exp(logvar) - 1 - logvar).
-- @tparam Tensor mu (N, c_dim)
-- @tparam Tensor logvar (N, c_dim)
-- @treturn Tensor
function M.kl(mu, logvar)
   return ((mu * mu + logvar:exp() - 1 - logvar):sum(2) * 0.5):mean()
end

--- G's conditioning-augmentation term: `weight` times the KL per dimension of c (M.kl
-- divided by c_dim), the authors' normalisation (their code averages over the dimensions
-- too, weight 2). Summed over 64 dimensions at weight 2 the term held the KL near 1 nat,
-- too little for c to tell the texts apart: stage I ignored its text.
-- @tparam Tensor mu (N, c_dim)
-- @tparam Tensor logvar (N, c_dim)
-- @tparam number weight
-- @treturn Tensor
-- @treturn Tensor the KL itself (M.kl)
function M.ca_penalty(mu, logvar, weight)
   local kl = M.kl(mu, logvar)
   return kl * (weight / mu:size(2)), kl
end

local Stage1 = nn.class("StackGANStage1", nn.Module)
function Stage1:__init(o)
   nn.Module.__init(self)
   self.nz = o.nz
   self.ca = CA(o.dim, o.c_dim)
   self.net = blocks.DCGANGenerator { nz = o.nz + o.c_dim, ngf = o.ngf, nc = 3, image_size = 32 }
end
--- The 32x32 image of noise and a text embedding, with the CA's mu and logvar.
-- @tparam Tensor z (N, nz)
-- @tparam Tensor h (N, dim)
-- @tparam boolean sample CA draws c (else c = mu)
-- @tparam[opt] Generator generator
-- @treturn Tensor (N, 3, 32, 32)
-- @treturn Tensor mu
-- @treturn Tensor logvar
function Stage1:forward(z, h, sample, generator)
   local n = z:size(1)
   local c, mu, logvar = self.ca(h, sample, generator)
   local x = core.cat({ z:reshape(n, self.nz), c }, 2)
   return self.net(x:reshape(n, x:size(2), 1, 1)), mu, logvar
end

local ResBlock = nn.class("StackGANResBlock", nn.Module)
function ResBlock:__init(c)
   nn.Module.__init(self)
   self.body = nn.Sequential { nn.Conv2d(c, c, 3, { padding = 1 }), nn.BatchNorm2d(c), nn.ReLU(),
      nn.Conv2d(c, c, 3, { padding = 1 }), nn.BatchNorm2d(c) }
end
--- x + its two convolutions, ReLU.
-- @tparam Tensor x
-- @treturn Tensor
function ResBlock:forward(x) return (x + self.body(x)):relu() end

local Stage2 = nn.class("StackGANStage2", nn.Module)
function Stage2:__init(o)
   nn.Module.__init(self)
   local c = o.ngf2
   self.ca = CA(o.dim, o.c_dim)
   self.c_dim = o.c_dim
   self.encode = nn.Sequential { nn.Conv2d(3, c, 3, { padding = 1 }), nn.ReLU(),
      nn.Conv2d(c, 2 * c, 4, { stride = 2, padding = 1 }), nn.BatchNorm2d(2 * c), nn.ReLU() }   -- 32 -> 16
   local res = { nn.Conv2d(2 * c + o.c_dim, 2 * c, 3, { padding = 1 }), nn.BatchNorm2d(2 * c), nn.ReLU() }
   for _ = 1, o.res_blocks do res[#res + 1] = ResBlock(2 * c) end
   self.res = nn.Sequential(res)
   local c2 = math.max(1, c // 2)
   self.up = nn.Sequential { nn.Upsample { scale_factor = 2 }, nn.Conv2d(2 * c, c, 3, { padding = 1 }), nn.BatchNorm2d(c),
      nn.ReLU(), nn.Upsample { scale_factor = 2 }, nn.Conv2d(c, c2, 3, { padding = 1 }), nn.BatchNorm2d(c2), nn.ReLU(),
      nn.Conv2d(c2, 3, 3, { padding = 1 }), nn.Tanh() }   -- 16 -> 32 -> 64
end
--- The 64x64 refinement of a stage-I image given the text, with the CA's mu and logvar.
-- @tparam Tensor x1 (N, 3, 32, 32)
-- @tparam Tensor h (N, dim)
-- @tparam boolean sample
-- @tparam[opt] Generator generator
-- @treturn Tensor (N, 3, 64, 64)
-- @treturn Tensor mu
-- @treturn Tensor logvar
function Stage2:forward(x1, h, sample, generator)
   local c, mu, logvar = self.ca(h, sample, generator)
   local f = self.encode(x1)                                      -- (N, 2c, 16, 16)
   local n = f:size(1)
   local cc = c:view(n, self.c_dim, 1, 1):expand(n, self.c_dim, 16, 16)
   return self.up(self.res(core.cat({ f, cc }, 2))), mu, logvar
end

--- Stage I's generator: opts `nz`, `c_dim`, `ngf`, `dim` (the text embedding's).
-- @tparam table o
-- @treturn Module called as G1(z, h, sample, generator)
function M.Stage1(o) return Stage1(o) end
--- Stage II's generator: opts `c_dim`, `ngf2`, `res_blocks`, `dim`.
-- @tparam table o
-- @treturn Module called as G2(x1, h, sample, generator)
function M.Stage2(o) return Stage2(o) end

--- The text-image pairs at 64 px (stage I trains on them averaged down to 32).
-- @tparam table cfg the resolved config
-- @tparam[opt] string split
-- @treturn table a dataset
function M.dataset(cfg, split)
   return emoji_text.dataset { split = split or "train", size = 64, keep = split == "test" and 1 or cfg.data.keep }
end

-- The stage-I generator of a finished stage-I run (its weights, frozen).
local function load_stage1(dir)
   if not dir then error("stackgan: stage 2 needs train.stage1, the directory of a finished stage-1 run", 0) end
   local model = require("gan.eval").load(dir)
   if model.name ~= "stackgan" or model.cfg.train.stage ~= 1 then
      error(("stackgan: train.stage1 (%s) is not a stage-1 stackgan run"):format(dir), 0)
   end
   return model.G
end

--- Builds the text encoder (the cached matcher), the stage's G and matching-aware D and
-- Adam "g" and "d"; for stage 2 also G1, loaded from train.stage1 and frozen.
-- @tparam table cfg the resolved config
function M:build(cfg)
   local m, t = cfg.model, cfg.train
   self.text_data = M.dataset(cfg)
   self.encoder = matcher.cached(emoji_text.dataset { size = 32 }, { text = "words", seed = 1, epochs = t.matcher_epochs })
   local dim = self.encoder.arch.dim
   local o = { nz = m.nz, c_dim = m.c_dim, ngf = m.ngf, ngf2 = m.ngf2, res_blocks = m.res_blocks, dim = dim }
   self.size = t.stage == 1 and 32 or 64
   local G
   if t.stage == 1 then
      G = self:network("G", Stage1(o))
   else
      local g1 = load_stage1(t.stage1)
      local G1 = self:network("G1", Stage1(o))
      G1:load_state_dict(g1:state_dict())
      G1:requires_grad_(false)
      G1:eval()
      G = self:network("G", Stage2(o))
   end
   local D = self:network("D", gancls.Discriminator {
      ntext = 128, dim = dim, ndf = m.ndf, image_size = self.size })
   local betas = { t.beta1, t.beta2 }
   self:optimizer("g", optim.Adam(G:parameters(), { lr = t.lr, betas = betas }))
   self:optimizer("d", optim.Adam(D:parameters(), { lr = t.lr, betas = betas }))
end

--- z ~ N(0, 1) (n, nz).
-- @tparam int n
-- @tparam[opt] Generator generator
-- @treturn Tensor
function M:latent(n, generator) return core.randn({ n, self.cfg.model.nz }, { generator = generator }) end

--- The stage's images of (z, h): stage I's, or stage II's refinement of stage I's.
-- @tparam Tensor z
-- @tparam Tensor h
-- @tparam boolean sample CA draws (training, or sampling with CA)
-- @tparam[opt] Generator generator
-- @treturn Tensor images
-- @treturn Tensor mu
-- @treturn Tensor logvar
function M:generate(z, h, sample, generator)
   if self.cfg.train.stage == 1 then return self.G(z, h, sample, generator) end
   local x1 = no_grad(function() return (self.G1(z, h, sample, generator)) end)
   return self.G(x1, h, sample, generator)
end

--- One matching-aware D update and one G update (GAN term + the CA's penalty, M.ca_penalty).
function M:train_step(data_, _)
   local t, ca = self.cfg.train, self.cfg.model.ca
   local D = self.D
   local b = data_:next()
   local x = self.size == 32 and F.avg_pool2d(b.image, 2) or b.image
   local h = no_grad(function() return self.encoder:text(b.text) end)
   local n = x:size(1)
   local z = self:latent(n, self.rng)
   local fake = no_grad(function() return (self:generate(z, h, ca, self.rng)) end)
   local wrong = h:index_select(1, gancls.mismatch(b.emoji))
   local logs = {}
   logs.loss_d = self:update("d", function() return gancls.d_loss(D(x, h), D(x, wrong), D(fake, h), true) end):item()
   logs.loss_g = self:update("g", function()
      local out, mu, logvar = self:generate(z, h, ca, self.rng)
      local loss = losses.nonsaturating_g(D(out, h))
      if ca and t.kl > 0 then
         local penalty, kl = M.ca_penalty(mu, logvar, t.kl)
         logs.kl = kl:item()
         loss = loss + penalty
      end
      return loss
   end, { freeze = D }):item()
   return logs
end

--- Images of a text (CA sampled when model.ca); as gancls's sample_text.
-- @tparam string|{string,...} text
-- @tparam[opt=8] int n
-- @tparam[opt=1] int seed
-- @treturn Tensor (n, 3, S, S)
-- @treturn {string,...} unknown words
function M:sample_text(text, n, seed)
   n = n or 8
   local h, unknown = gancls.prompt(self, text, n)
   local g = core.Generator(seed or 1)
   return self:draw(self:latent(n, g), h, g), unknown
end

--- The generator's images (the last stage's, in eval mode) of noise z and text
-- embeddings h, the conditioning augmentation sampled from generator g (with model.ca),
-- or its mean (without g, or without CA).
-- @tparam Tensor z (N, nz)
-- @tparam Tensor h (N, dim)
-- @tparam[opt] Generator g
-- @treturn Tensor (N, 3, S, S)
function M:draw(z, h, g)
   local was = self.G.training
   self.G:eval()
   local sample = g ~= nil and self.cfg.model.ca
   local imgs = no_grad(function() return (self:generate(z, h, sample, g)) end)
   self.G:train(was)
   return imgs
end

--- Sheets as GAN-CLS's: held-out texts, each caption above its samples; the health
-- monitor's samples as GAN-CLS's too (one of each of 64 held-out texts).
M.sample = gancls.sample
M.health_samples = gancls.health_samples

--- As GAN-CLS's: the held-out pairs at the stage's size and the trigram matcher (seed 2)
-- trained at that size.
-- @treturn table the held-out pairs
-- @treturn Module the judge
function M:held_out_set()
   local S = self.size
   return emoji_text.dataset { split = "test", size = S, keep = 1 },
      matcher.cached(emoji_text.dataset { size = S }, { text = "trigrams", seed = 2, epochs = self.cfg.train.matcher_epochs })
end

--- Stage II's baseline: the stage-I images that `draw` with a generator seeded `seed`
-- would refine (the noise, then the CA's sample, from that one generator), enlarged
-- bicubically to 64x64.
-- @tparam Tensor h (N, dim) text embeddings
-- @tparam int seed
-- @treturn Tensor (N, 3, 64, 64) in [-1, 1]
function M:stage1_bicubic(h, seed)
   local g = core.Generator(seed)
   local x1 = no_grad(function() return (self.G1(self:latent(h:size(1), g), h, self.cfg.model.ca, g)) end)
   return F.interpolate(x1, { scale_factor = 2, mode = "bicubic" }):clamp(-1, 1)
end

--- GAN-CLS's held-out measures (gancls.held_out) on held_out_set; for stage 2 also the
-- FID and R-precision of stage1_bicubic's images of each round's texts and seed
-- (fid_stage1_bicubic, r_precision_stage1_bicubic), the claim being that stage II does
-- better.
-- @tparam[opt] table opts as gancls.held_out's
-- @treturn table name -> number
function M:evaluate(opts)
   opts = opts or {}
   local compare = opts.compare
   if self.cfg.train.stage == 2 then
      compare = { name = "stage1_bicubic", draw = function(h, seed) return self:stage1_bicubic(h, seed) end }
   end
   local test, judge = self:held_out_set()
   return gancls.held_out(self, test, judge, { draws = opts.draws, compare = compare })
end

return M
