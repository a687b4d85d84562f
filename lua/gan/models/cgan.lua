--- Conditional GAN (Mirza & Osindero 2014): the class label is fed to both MLPs. As in the
-- paper's MNIST model: G maps z to 200 ReLU units and the one-hot label to 1,000, joins
-- them into 1,200 ReLU units and an image; D maps the image to 240 maxout units (5
-- pieces) and the label to 50 (5 pieces), joins them into 240 maxout units (4 pieces) and
-- a logit, with dropout 0.5. Fake labels are drawn uniformly; sheets have one row per
-- class; `gan eval` reports how often the reference classifier recognises the requested
-- class, FID within each class, and the Parzen estimate the paper reports.
-- @module gan.models.cgan
local core = require("gan.core")
local nn = require("gan.nn")
local F = require("gan.nn.functional")
local data = require("gan.data")
local losses = require("gan.losses")
local metrics = require("gan.metrics")
local optim = require("gan.optim")
local no_grad = require("gan.autograd").no_grad
local config = require("gan.config")
local range, choice = config.range, config.choice

local M = require("gan.train.model").define {
   name = "cgan",
   summary = "Conditional GAN: the label fed to both MLPs (the paper's MNIST networks)",
   paper = "Mirza & Osindero 2014, Conditional Generative Adversarial Nets",
   health = { d_loss = { "loss_d" } },
   defaults = {
      -- labelled data only; MLPs take any image size
      data = { name = choice("mnist", { "mnist", "fashion_mnist" }), image_size = range(32, "[1, 512]"), batch_size = 100,
         split = choice("train", require("gan.models.dcgan").SPLITS) },
      model = { nz = range(100, "[1, inf)"), n_classes = range(10, "[1, inf)"), dropout = range(0.5, "[0, 1)") },
      train = { steps = 5000, loss = choice("nonsaturating", losses.names()), lr_g = range(2e-4, "[0, inf)"),
         lr_d = range(2e-4, "[0, inf)"), beta1 = range(0.5, "[0, 1)"), beta2 = range(0.999, "[0, 1)"),
         sample_every = 500, checkpoint_every = 1000 },
   },
}

local Generator = nn.class("CGANGenerator", nn.Module)
function Generator:__init(nz, k, c, s)
   nn.Module.__init(self)
   self.k, self.shape = k, { c, s, s }
   self.z = nn.Sequential { nn.Linear(nz, 200), nn.ReLU() }
   self.y = nn.Sequential { nn.Linear(k, 1000), nn.ReLU() }
   self.joint = nn.Sequential { nn.Linear(1200, 1200), nn.ReLU(), nn.Linear(1200, c * s * s), nn.Tanh() }
end
--- z (N, nz), y int64 (N) -> images (N, C, S, S) in [-1, 1].
-- @tparam Tensor z
-- @tparam Tensor y
-- @treturn Tensor
function Generator:forward(z, y)
   local h = core.cat({ self.z(z), self.y(F.one_hot(y, self.k, z.dtype)) }, 2)
   return self.joint(h):reshape(z:size(1), table.unpack(self.shape))
end

local Discriminator = nn.class("CGANDiscriminator", nn.Module)
function Discriminator:__init(k, dim, dropout)
   nn.Module.__init(self)
   self.k = k
   self.x = nn.Sequential { nn.Flatten(), nn.Maxout(dim, 240, 5), nn.Dropout(dropout) }
   self.y = nn.Sequential { nn.Maxout(k, 50, 5), nn.Dropout(dropout) }
   self.joint = nn.Sequential { nn.Maxout(290, 240, 4), nn.Dropout(dropout), nn.Linear(240, 1), nn.Flatten(1) }
end
--- x (N, ...) images, y int64 (N) -> one logit per image (N).
-- @tparam Tensor x
-- @tparam Tensor y
-- @treturn Tensor
function Discriminator:forward(x, y)
   return self.joint(core.cat({ self.x(x), self.y(F.one_hot(y, self.k, x.dtype)) }, 2))
end

--- The training split of data.name (labelled digits).
-- @tparam table cfg the resolved config
-- @treturn table a dataset
function M.dataset(cfg)
   return M.check_classes(data.for_gan(cfg.data.name, { split = cfg.data.split, image_size = cfg.data.image_size }), cfg)
end

--- Builds the label-conditioned MLPs G and D, the loss pair train.loss and the Adam
-- optimizers "g" and "d".
-- @tparam table cfg the resolved config
function M:build(cfg)
   local m, t, s = cfg.model, cfg.train, cfg.data.image_size
   local c = data.channels(cfg.data.name)
   self.loss = losses.pair(t.loss)
   local G = self:network("G", Generator(m.nz, m.n_classes, c, s))
   local D = self:network("D", Discriminator(m.n_classes, c * s * s, m.dropout))
   self:optimizer("g", optim.Adam(G:parameters(), { lr = t.lr_g, betas = { t.beta1, t.beta2 } }))
   self:optimizer("d", optim.Adam(D:parameters(), { lr = t.lr_d, betas = { t.beta1, t.beta2 } }))
end

local function noise(self, n, g) return core.randn({ n, self.cfg.model.nz }, { generator = g }) end

--- z ~ N(0, 1) and classes drawn uniformly: G's two inputs.
-- @tparam int n
-- @tparam[opt] Generator generator
-- @treturn Tensor z (n, nz)
-- @treturn Tensor the classes, int64 (n)
function M:latent(n, generator)
   return noise(self, n, generator), core.randint(0, self.cfg.model.n_classes, { n }, { generator = generator })
end

local function mean_of(t) return t:detach():double():mean():item() end

--- D on real images with their labels and on fakes with the labels they were asked for;
-- then G through the frozen D.
-- @tparam table data_ the batches: data_:next() gives the next one
-- @param _ the step (unused)
-- @treturn table the scalars to log
function M:train_step(data_, _)
   local G, D = self.G, self.D
   local batch = data_:next()
   local real, y_real = batch.image, batch.label
   local z, y_fake = self:latent(real:size(1), self.rng)
   local fake = no_grad(G, z, y_fake)
   local loss_d, d_real, d_fake = self:update("d", function()
      local d_real, d_fake = D(real, y_real), D(fake, y_fake)
      return self.loss.d(d_real, d_fake), d_real, d_fake
   end)
   local loss_g = self:update("g", function() return self.loss.g(D(G(z, y_fake), y_fake)) end, { freeze = D })
   return { loss_d = loss_d:item(), loss_g = loss_g:item(), d_real = mean_of(d_real), d_fake = mean_of(d_fake) }
end

--- One row per class, from fixed latents.
function M:sample()
   local k = self.cfg.model.n_classes
   return M.run_eval(self.G, self:fixed_latent(k * k), M.class_rows(k)), { nrow = k }
end

--- gan.metrics.evaluate on opts.n samples (10,000), every class equally often: FID and
-- the rest, the accuracy of the requested class, the FID within each class, and the
-- Parzen log-likelihood when data.split is "train".
-- @tparam[opt] table opts `n` (10000), `classifier` (the shipped one)
-- @treturn table metric name -> number
function M:evaluate(opts)
   opts = opts or {}
   local n = opts.n or 10000
   return metrics.evaluate(self.G, self.cfg.data.name, { n = n, classifier = opts.classifier,
      latent = function(b, g) return noise(self, b, g) end,
      labels = M.balanced_classes(n, self.cfg.model.n_classes),
      parzen = self.cfg.data.split == "train" })
end

return M
