--- TEMPLATE of a model file: copy it to lua/gan/models/<name>.lua, rename, edit. (Files
-- whose name starts with "_" are not models; `gan models` does not list this one.) The
-- contract it follows is described in docs/models.md.
--
-- A model is one file that owns what is particular to it: its config defaults, its
-- training data, how its networks, optimizers, schedules and EMA are built, its training
-- step and losses, its sample sheets and its evaluation. Everything else (the loop,
-- logging, checkpoints, exact resume, `gan eval`, `gan models`) works from what the file
-- registers; shared pieces come from gan.nn.blocks, gan.losses, gan.penalties,
-- gan.augment, gan.train.ImagePool and gan.metrics.
--
-- As it stands, this template is a complete, minimal GAN (Goodfellow et al. 2014): an MLP
-- generator and discriminator on flattened MNIST digits, the non-saturating loss.
--
--     gan.train.experiment { model = "<name>", argv = arg }     -- experiments/<name>.lua
-- @module gan.models._template
local core = require("gan.core")
local nn = require("gan.nn")
local optim = require("gan.optim")
local losses = require("gan.losses")
local data = require("gan.data")
local metrics = require("gan.metrics")
local no_grad = require("gan.autograd").no_grad
local config = require("gan.config")
local range, choice = config.range, config.choice

-- 1. The class: its name (the file's name), one line for `gan models`, its paper, and its
-- config defaults. They are merged over gan.train.Model.defaults, which every model has:
-- data.batch_size; train.steps, seed, threads, log_every, sample_every, checkpoint_every,
-- keep_checkpoints, eval_every, eval_samples; run.root, run.name. Each default declares
-- what it allows, checked before a run starts: config.range(default, "[lo, hi]") for
-- numbers ("(0, inf)", "[0, 1)": open or closed ends), config.choice(default, {...}),
-- config.valid(default, predicate, "what it accepts"); a plain value is checked by type
-- only. `best` names the evaluation metric whose best value keeps
-- checkpoints/best.safetensors.
local M = require("gan.train.model").define {
   name = "_template",
   summary = "The template of a model file: an MLP GAN on flattened MNIST",
   paper = "Goodfellow et al. 2014, Generative Adversarial Nets",
   best = { metric = "fid", mode = "min" },
   defaults = {
      data = { name = choice("mnist", { "mnist", "fashion_mnist" }), image_size = range(32, "[1, 512]"), batch_size = 64 },
      model = { nz = range(64, "[1, inf)"), hidden = range(256, "[1, inf)") },
      train = { steps = 2000, lr = range(2e-4, "[0, inf)"), beta1 = range(0.5, "[0, 1)"), beta2 = range(0.999, "[0, 1)") },
   },
}

-- 2. The training data: a dataset (#ds, ds:get(i) -> { image = (C, H, W) in [-1, 1], ... }).
-- The loop batches it (data.batch_size, shuffled by a generator seeded train.seed + 7).

--- The training data: the train split of data.name at data.image_size, in [-1, 1].
-- @tparam table cfg the resolved config
-- @treturn table a dataset
function M.dataset(cfg)
   return data.for_gan(cfg.data.name, { split = "train", image_size = cfg.data.image_size })
end

-- 3. Networks, optimizers (with their schedules and clipping), EMA copies and other
-- state, each registered: the loop then checkpoints and resumes them, logs the learning
-- rates and steps the schedules; `gan eval` reloads the networks. Draw every random
-- number from self.rng (checkpointed) or the default generator (checkpointed too).

--- Builds the MLP generator G and discriminator D and their Adam optimizers "g" and "d".
-- @tparam table cfg the resolved config
function M:build(cfg)
   local m, t, s = cfg.model, cfg.train, cfg.data.image_size
   local c = data.channels(cfg.data.name)
   local G = self:network("G", nn.Sequential { nn.Linear(m.nz, m.hidden), nn.LeakyReLU(0.2),
      nn.Linear(m.hidden, c * s * s), nn.Tanh(), nn.Unflatten(2, { c, s, s }) })
   local D = self:network("D", nn.Sequential { nn.Flatten(), nn.Linear(c * s * s, m.hidden), nn.LeakyReLU(0.2),
      nn.Linear(m.hidden, 1), nn.Flatten(1) })
   self:optimizer("g", optim.Adam(G:parameters(), { lr = t.lr, betas = { t.beta1, t.beta2 } }))
   self:optimizer("d", optim.Adam(D:parameters(), { lr = t.lr, betas = { t.beta1, t.beta2 } }))
end

-- 4. The generator's inputs for n samples drawn from `generator` (sample sheets, standing
-- statistics and evaluation use it).

--- n latent vectors N(0, 1) of model.nz values.
-- @tparam int n
-- @tparam[opt] Generator generator default the default generator
-- @treturn Tensor (n, nz)
function M:latent(n, generator)
   return core.randn({ n, self.cfg.model.nz }, { generator = generator })
end

-- 5. One training step: batches come from data:next(); every update goes through
-- self:update(optimizer name, function returning the loss first, { freeze = modules });
-- return the scalars to log (grad_norm_<opt> and lr_<opt> are added by the loop).

--- One step: a D update on a real batch and fakes, then a G update with D frozen.
-- @tparam table data_ the batches (data_:next() gives the next one)
-- @param _ the step number (unused)
-- @treturn table loss_d, loss_g
function M:train_step(data_, _)
   local real = data_:next().image
   local z = self:latent(real:size(1), self.rng)
   local fake = no_grad(self.G, z)
   local loss_d = self:update("d", function() return losses.minimax_d(self.D(real), self.D(fake)) end)
   local loss_g = self:update("g", function() return losses.nonsaturating_g(self.D(self.G(z))) end,
      { freeze = self.D })
   return { loss_d = loss_d:item(), loss_g = loss_g:item() }
end

-- 6. Sample sheets: the inherited M:sample() draws 64 images of G (its EMA copy when
-- kept) from fixed latents, 8 per row. Redefine it for other sheets (one row per class,
-- latent traversals, translations).

-- 7. The evaluation of `gan eval RUN` and of train.eval_every: a table of named numbers.

--- Evaluates G's samples with gan.metrics.evaluate (FID and the reference classifier's
-- scores against data.name).
-- @tparam[opt] table opts `n` (10000 samples), `classifier` (default the shipped one)
-- @treturn table metric name -> number
function M:evaluate(opts)
   opts = opts or {}
   return metrics.evaluate(self:sampler("G"), self.cfg.data.name, { n = opts.n or 10000,
      latent = function(n, g) return self:latent(n, g) end, classifier = opts.classifier })
end

return M
