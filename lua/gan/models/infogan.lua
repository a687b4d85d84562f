--- InfoGAN (Chen et al., 2016) for MNIST-sized images: the latent is n_noise noise
-- dimensions, one categorical code of n_cat values and n_cont continuous codes
-- ~ Uniform(-1, 1); the discriminator's trunk also feeds Q, which predicts the codes
-- (categorical logits and the means of unit-variance Gaussians for the continuous ones).
-- The networks are DCGAN's convolutional stacks (arch "dcgan") or the paper's MNIST
-- networks (arch "paper": two stride-2 (de)convolutions around fully connected layers).
-- D and Q minimise the minimax D loss plus lambda times the information loss on the
-- (detached) fakes; G minimises the non-saturating loss plus lambda times the
-- information loss through the frozen D/Q. Sheets: latent traversals (rows: categorical
-- value; columns: one continuous code from -traversal to traversal; the first n_cat rows
-- sweep code 1, the next code 2, ...).
-- @module gan.models.infogan
local core = require("gan.core")
local nn = require("gan.nn")
local F = require("gan.nn.functional")
local optim = require("gan.optim")
local losses = require("gan.losses")
local blocks = require("gan.nn.blocks")
local metrics = require("gan.metrics")
local data = require("gan.data")
local config = require("gan.config")
local range, choice = config.range, config.choice
local init_weights = nn.init.gan_normal(0.02)

local M = require("gan.train.model").define {
   name = "infogan",
   summary = "InfoGAN: latent codes made interpretable by maximising their mutual information with images",
   paper = "Chen, Duan, Houthooft, Schulman, Sutskever & Abbeel 2016, InfoGAN",
   health = { d_loss = { "loss_d" } },
   defaults = {
      -- image_size: a power of two >= 16 for arch "dcgan", a multiple of 4 for "paper"
      data = { name = config.valid("mnist", data.for_gan_image_name, data.FOR_GAN_IMAGE_NAMES), image_size = range(32, "[4, 512]"),
         batch_size = 64 },
      model = { n_noise = range(62, "[0, inf)"), n_cat = range(10, "[1, inf)"), n_cont = range(2, "[0, inf)"),
         ngf = range(32, "[1, inf)"), ndf = range(32, "[1, inf)"), arch = choice("dcgan", { "dcgan", "paper" }),
         traversal = range(2.0, "[0, inf)") },
      train = {
         steps = 600, sample_every = 100, checkpoint_every = 300,
         -- the paper: Adam, 1e-3 for G and 2e-4 for D; lambda weighs the information loss,
         -- lambda_cont its continuous part
         lr_g = range(1e-3, "[0, inf)"), lr_d = range(2e-4, "[0, inf)"), beta1 = range(0.5, "[0, 1)"),
         beta2 = range(0.999, "[0, 1)"), lambda = range(1.0, "[0, inf)"), lambda_cont = range(1.0, "[0, inf)"),
      },
   },
}

local function sizes(opts)
   return opts.n_noise or 62, opts.n_cat or 10, opts.n_cont or 2
end

local function check_arch(arch, size)
   if arch ~= "dcgan" and arch ~= "paper" then
      error(("infogan: arch must be 'dcgan' or 'paper', got '%s'"):format(tostring(arch)), 3)
   end
   if arch == "paper" and size % 4 ~= 0 then
      error(("infogan: the paper's networks need image_size divisible by 4, got %d"):format(size), 3)
   end
end

-- The paper's MNIST generator (Chen et al. 2016, table 1) at image_size: FC 1024, FC
-- (2 ngf) x S/4 x S/4, both with batch norm and ReLU, then two stride-2 4x4 transposed
-- convolutions (ngf, then nc with tanh). ngf 64 gives the paper's widths.
local function paper_generator(nz, ngf, nc, size)
   local q = size // 4
   local G = nn.Sequential { nn.Flatten(), nn.Linear(nz, 16 * ngf), nn.BatchNorm1d(16 * ngf), nn.ReLU(),
      nn.Linear(16 * ngf, 2 * ngf * q * q), nn.BatchNorm1d(2 * ngf * q * q), nn.ReLU(), nn.Reshape(2 * ngf, q, q),
      nn.ConvTranspose2d(2 * ngf, ngf, 4, { stride = 2, padding = 1 }), nn.BatchNorm2d(ngf), nn.ReLU(),
      nn.ConvTranspose2d(ngf, nc, 4, { stride = 2, padding = 1 }), nn.Tanh() }
   G:apply(init_weights)
   return G
end

-- The paper's MNIST discriminator trunk: 4x4 stride-2 convolutions to ndf and 2 ndf
-- channels (batch norm on the second), FC 16 ndf with batch norm; LeakyReLU 0.1.
local function paper_trunk(ndf, nc, size)
   local q = size // 4
   local T = nn.Sequential { nn.Conv2d(nc, ndf, 4, { stride = 2, padding = 1 }), nn.LeakyReLU(0.1),
      nn.Conv2d(ndf, 2 * ndf, 4, { stride = 2, padding = 1 }), nn.BatchNorm2d(2 * ndf), nn.LeakyReLU(0.1),
      nn.Flatten(), nn.Linear(2 * ndf * q * q, 16 * ndf), nn.BatchNorm1d(16 * ndf), nn.LeakyReLU(0.1) }
   T:apply(init_weights)
   return T, 16 * ndf
end

--- The generator: latent (N, n_noise + n_cat + n_cont[, 1, 1]) -> image. opts: n_noise
-- (62), n_cat (10), n_cont (2), ngf (64), nc (1), image_size (32), arch ("dcgan": DCGAN's
-- transposed-convolution stack; "paper": the paper's two fully connected layers before
-- two transposed convolutions).
-- @tparam[opt] table opts the options above
-- @treturn Module
function M.Generator(opts)
   opts = opts or {}
   local a, b, c = sizes(opts)
   local arch = opts.arch or "dcgan"
   check_arch(arch, opts.image_size or 32)
   if arch == "paper" then return paper_generator(a + b + c, opts.ngf or 64, opts.nc or 1, opts.image_size or 32) end
   return blocks.DCGANGenerator { nz = a + b + c, ngf = opts.ngf, nc = opts.nc, image_size = opts.image_size }
end

local Discriminator = nn.class("InfoGANDiscriminator", nn.Module)
function Discriminator:__init(opts)
   nn.Module.__init(self)
   local _, n_cat, n_cont = sizes(opts)
   local ndf, size, arch = opts.ndf or 64, opts.image_size or 32, opts.arch or "dcgan"
   check_arch(arch, size)
   local feat
   if arch == "paper" then
      self.trunk, feat = paper_trunk(ndf, opts.nc or 1, size)
   else
      local trunk = blocks.DCGANDiscriminator { ndf = ndf, nc = opts.nc, image_size = size }
      local layers = {}
      for i = 1, #trunk - 2 do layers[i] = trunk[i] end   -- down to 4x4, without the last conv
      self.trunk = nn.Sequential(layers)
      feat = ndf * (size // 8) * 16
   end
   self.d = nn.Linear(feat, 1)
   self.q = nn.Sequential { nn.Linear(feat, 128), nn.BatchNorm1d(128), nn.LeakyReLU(0.2),
      nn.Linear(128, n_cat + n_cont) }
   self.n_cat, self.n_cont = n_cat, n_cont
   for _, l in ipairs { self.d, self.q[1], self.q[4] } do
      nn.init.normal_(l.weight, 0, 0.02)
      nn.init.zeros_(l.bias)
   end
end
--- x -> D's logit (N), Q's categorical logits (N, n_cat), Q's continuous means (N, n_cont).
-- @tparam Tensor x (N, nc, S, S)
-- @treturn Tensor D's logits
-- @treturn Tensor Q's categorical logits
-- @treturn Tensor Q's continuous means
function Discriminator:forward(x)
   local h = self.trunk(x):flatten(2)
   local q = self.q(h)
   return self.d(h):reshape(x:size(1)), q:narrow(2, 1, self.n_cat), q:narrow(2, self.n_cat + 1, self.n_cont)
end

--- opts: ndf (64), nc (1), image_size (32), n_cat (10), n_cont (2), arch ("dcgan": DCGAN's
-- convolutional trunk down to 4x4; "paper": two convolutions and FC 16 ndf).
-- @tparam[opt] table opts the options above
-- @treturn Module
function M.Discriminator(opts) return Discriminator(opts or {}) end

--- The generator's input from its parts: noise (N, n_noise), cat int64 (N) 0-based, cont
-- (N, n_cont) -> (N, n_noise + n_cat + n_cont, 1, 1).
-- @tparam Tensor noise
-- @tparam Tensor cat
-- @tparam Tensor cont
-- @tparam[opt=10] int n_cat
-- @treturn Tensor
function M.make_latent(noise, cat, cont, n_cat)
   local oh = F.one_hot(cat, n_cat or 10, noise.dtype)
   local z = core.cat({ noise, oh, cont }, 2)
   return z:reshape(z:size(1), z:size(2), 1, 1)
end

--- A random latent: noise ~ N(0, 1), cat uniform, cont ~ U(-1, 1). Returns z, cat, cont.
-- opts: n_noise, n_cat, n_cont, generator.
-- @tparam int n
-- @tparam table opts `n_noise`, `n_cat`, `n_cont`, `generator`
-- @treturn Tensor z
-- @treturn Tensor cat int64 (n)
-- @treturn Tensor cont (n, n_cont)
function M.sample_latent(n, opts)
   opts = opts or {}
   local a, b, c = sizes(opts)
   local g = opts.generator
   local noise = core.randn({ n, a }, { generator = g })
   local cat = core.randint(0, b, { n }, { generator = g })
   local cont = core.rand({ n, c }, { generator = g }) * 2 - 1
   return M.make_latent(noise, cat, cont, b), cat, cont
end

--- The mutual-information term (a loss to minimise, weight lambda applied by the
-- caller): cross-entropy of the categorical code plus the negative log-likelihood of the
-- continuous codes under unit-variance Gaussians centred on Q's means, without the
-- constant 0.5 log(2 pi) per code. Returns the total, the categorical part, the
-- continuous part.
-- @tparam Tensor cat_logits Q's (N, n_cat)
-- @tparam Tensor cat the categorical codes G got, int64 (N)
-- @tparam Tensor cont_mean Q's means (N, n_cont)
-- @tparam Tensor cont the continuous codes G got (N, n_cont)
-- @tparam[opt=1] number cont_weight the weight of the continuous part
-- @treturn Tensor the total
-- @treturn Tensor the categorical part
-- @treturn Tensor the continuous part
function M.info_loss(cat_logits, cat, cont_mean, cont, cont_weight)
   local l_cat = F.cross_entropy(cat_logits, cat)
   local l_cont = ((cont - cont_mean) ^ 2):sum(2):mean() * 0.5
   return l_cat + l_cont * (cont_weight or 1), l_cat, l_cont
end

--- The variational lower bound of I(c; G(z, c)) for the categorical code, in nats:
-- H(c) - CE = ln(n_cat) - cross-entropy (at most ln 10 = 2.303 for 10 values).
-- @tparam number cat_ce the categorical cross-entropy
-- @tparam[opt=10] int n_cat
-- @treturn number
function M.mi_estimate(cat_ce, n_cat) return math.log(n_cat or 10) - cat_ce end

--- The training split of data.name.
-- @tparam table cfg the resolved config
-- @treturn table a dataset
function M.dataset(cfg)
   return require("gan.data").for_gan(cfg.data.name, { split = "train", image_size = cfg.data.image_size })
end

--- Builds G and D (with its Q heads) for model.arch and their Adam optimizers "g" and "d".
-- @tparam table cfg the resolved config
-- @raise when data.image_size does not suit model.arch
function M:build(cfg)
   local m, t, size = cfg.model, cfg.train, cfg.data.image_size
   local fits = m.arch == "paper" and size % 4 == 0 or m.arch == "dcgan" and size >= 16 and size & (size - 1) == 0
   if not fits then
      error(("infogan: data.image_size must be %s with model.arch '%s', got %d"):format(
         m.arch == "paper" and "a multiple of 4" or "a power of two >= 16", m.arch, size), 0)
   end
   local G = self:network("G", M.Generator { n_noise = m.n_noise, n_cat = m.n_cat, n_cont = m.n_cont, ngf = m.ngf,
      image_size = cfg.data.image_size, arch = m.arch })
   local D = self:network("D", M.Discriminator { ndf = m.ndf, n_cat = m.n_cat, n_cont = m.n_cont,
      image_size = cfg.data.image_size, arch = m.arch })
   self:optimizer("g", optim.Adam(G:parameters(), { lr = t.lr_g, betas = { t.beta1, t.beta2 } }))
   self:optimizer("d", optim.Adam(D:parameters(), { lr = t.lr_d, betas = { t.beta1, t.beta2 } }))
end

--- G's input for n random samples (noise, a uniform categorical code, continuous codes
-- ~ U(-1, 1)); also returns the codes.
-- @tparam int n
-- @tparam[opt] Generator generator
-- @treturn Tensor z
-- @treturn Tensor cat
-- @treturn Tensor cont
function M:latent(n, generator)
   local m = self.cfg.model
   return M.sample_latent(n, { n_noise = m.n_noise, n_cat = m.n_cat, n_cont = m.n_cont, generator = generator })
end

local function mean_of(t) return t:detach():double():mean():item() end

--- Logs loss_d, loss_g, info_cat (cross-entropy), info_cont, mi (ln n_cat - info_cat,
-- the lower bound on I(c; G(z, c)) in nats), d_real, d_fake.
-- @tparam table data the batches: data:next() gives the next one
-- @param _ the step (unused)
-- @treturn table the scalars to log
function M:train_step(data, _)
   local G, D, t, n_cat = self.G, self.D, self.cfg.train, self.cfg.model.n_cat
   local real = data:next().image
   local z, cat, cont = self:latent(real:size(1), self.rng)
   local fake = G(z)
   local loss_d, d_r, d_f = self:update("d", function()
      local d_r = D(real)
      local d_f, ql, qm = D(fake:detach())
      local l_info = M.info_loss(ql, cat, qm, cont, t.lambda_cont)
      return losses.minimax_d(d_r, d_f) + l_info * t.lambda, d_r, d_f
   end)
   local loss_g, l_cat, l_cont = self:update("g", function()
      local d_g, ql, qm = D(fake)
      local l_info, l_cat, l_cont = M.info_loss(ql, cat, qm, cont, t.lambda_cont)
      return losses.nonsaturating_g(d_g) + l_info * t.lambda, l_cat, l_cont
   end, { freeze = D })
   local logs = { loss_d = loss_d:item(), loss_g = loss_g:item(), info_cat = l_cat:item(), info_cont = l_cont:item(),
      d_real = mean_of(d_r), d_fake = mean_of(d_f) }
   logs.mi = M.mi_estimate(logs.info_cat, n_cat)
   return logs
end

--- Latent traversals: for each continuous code j, n_cat rows (categorical value) of 10
-- columns (code j from -traversal to traversal, the other codes 0), one noise vector
-- per row, from a generator seeded train.seed + 1000 (kept in self.traversal).
function M:sample()
   local m = self.cfg.model
   local trav = m.traversal
   if not self.traversal then
      local noise = core.randn({ m.n_cat, m.n_noise }, { generator = core.Generator(self.cfg.train.seed + 1000) })
      local zs = {}
      for j = 1, m.n_cont do
         for r = 1, m.n_cat do
            for c = 1, 10 do
               local cont = core.zeros({ 1, m.n_cont })
               cont[1][j] = -trav + (c - 1) * 2 * trav / 9
               zs[#zs + 1] = M.make_latent(noise:narrow(1, r, 1), core.tensor({ r - 1 }, { dtype = "int64" }), cont, m.n_cat)
            end
         end
      end
      self.traversal = core.cat(zs, 1)
   end
   return M.run_eval(self.G, self.traversal), { nrow = 10 }
end

--- On opts.n samples (10,000) with uniformly drawn codes: the accuracy of the
-- categorical code against the reference classifier's labels after the best one-to-one
-- matching (cat_accuracy, with the matching), the mutual-information estimate
-- ln(n_cat) - CE of Q on these samples (mi, nats), and the unconditional metrics of
-- gan.metrics.evaluate.
-- @tparam[opt] table opts `n` (10000), `classifier` (the shipped one)
-- @treturn table metric name -> number
function M:evaluate(opts)
   opts = opts or {}
   local m, n = self.cfg.model, opts.n or 10000
   local g = core.Generator(12345)
   local imgs, cats, ce = {}, {}, 0
   for s = 1, n, 500 do
      local b = math.min(500, n - s + 1)
      local z, cat = self:latent(b, g)
      local x = M.run_eval(self.G, z)
      local _, ql = M.run_eval(self.D, x)
      ce = ce + F.cross_entropy(ql, cat):item() * b
      imgs[#imgs + 1], cats[#cats + 1] = x, cat
   end
   local x, cat = core.cat(imgs, 1), core.cat(cats, 1)
   local clf = opts.classifier and metrics.load_classifier(opts.classifier) or metrics.classifier(self.cfg.data.name)
   local _, probs = metrics.features(clf, x)
   local _, pred = probs:max(2)
   local acc, match = metrics.matched_accuracy(cat, pred, m.n_cat)
   local res = metrics.evaluate(self.G, self.cfg.data.name, { n = n, classifier = opts.classifier,
      latent = function(b, gen) return (self:latent(b, gen)) end })
   res.cat_accuracy, res.cat_matching = acc, table.concat(match, ",")
   res.mi = M.mi_estimate(ce / n, m.n_cat)
   return res
end

return M
