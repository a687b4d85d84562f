--- WGAN-GP (Gulrajani et al. 2017) with a DCGAN-shaped generator and a critic without
-- batch norm, 5 critic steps per generator step, gradient penalty weight 10 and Adam
-- 1e-4 with betas (0.0, 0.9), as in the paper. MNIST by default.
--
--     gan run experiments/wgan_gp.lua
--     gan run experiments/wgan_gp.lua --set data.name=fashion_mnist --set train.steps=20000
--     gan run experiments/wgan_gp.lua --resume runs/wgan_gp/<name>
local gan = require("gan")
local optim, dcgan = gan.optim, gan.models.dcgan

local defaults = {
   data = { name = "mnist", image_size = 32, batch_size = 64, vendor = "google" },
   model = { nz = 100, ngf = 32, ndf = 32, critic_norm = "none" },
   train = {
      steps = 500, n_critic = 5, gp_weight = 10.0, lr = 1e-4, beta1 = 0.0, beta2 = 0.9, seed = 0,
      threads = 2, log_every = 10, sample_every = 100, checkpoint_every = 250, eval_every = 0,
      eval_samples = 2000, ema = 0.0, ema_start = 0,
   },
   run = { root = "runs", name = gan.config.optional("string") },
}

local cfg, run, resumed = gan.run.from_args("wgan_gp", defaults, arg)
local t = cfg.train

local nc = (cfg.data.name == "mnist" or cfg.data.name == "fashion_mnist") and 1 or 3
local ds = gan.data.for_gan(cfg.data.name, { image_size = cfg.data.image_size, vendor = cfg.data.vendor })
local loader = gan.data.DataLoader(ds, { batch_size = cfg.data.batch_size, generator = gan.Generator(t.seed + 7) })
local G = dcgan.Generator { nz = cfg.model.nz, ngf = cfg.model.ngf, nc = nc, image_size = cfg.data.image_size }
local D = dcgan.Discriminator { ndf = cfg.model.ndf, nc = nc, image_size = cfg.data.image_size,
   norm = cfg.model.critic_norm }
local opt_g = optim.Adam(G:parameters(), { lr = t.lr, betas = { t.beta1, t.beta2 } })
local opt_d = optim.Adam(D:parameters(), { lr = t.lr, betas = { t.beta1, t.beta2 } })

print(("wgan_gp: %s, %d images; G %d and critic %d parameters; run %s"):format(cfg.data.name, #ds,
   G:num_parameters(), D:num_parameters(), run.dir))

local eval_fn
if t.eval_every > 0 then
   local metrics = require("gan.metrics")
   eval_fn = function(trainer) return metrics.evaluate_generator(trainer, cfg.data.name, { n = t.eval_samples }) end
end

local trainer = gan.train.Trainer {
   G = G, D = D, opt_g = opt_g, opt_d = opt_d, data = loader, seed = t.seed, steps = t.steps,
   latent = function(n, g) return gan.randn({ n, cfg.model.nz, 1, 1 }, { generator = g }) end,
   loss = "wgan", n_critic = t.n_critic, gp = { weight = t.gp_weight },
   ema = t.ema > 0 and { decay = t.ema, start = t.ema_start } or nil,
   run = run, log_every = t.log_every, sample_every = t.sample_every, checkpoint_every = t.checkpoint_every,
   eval_every = t.eval_every > 0 and t.eval_every or nil, eval_fn = eval_fn, best_metric = "fid",
}
if resumed then print(("wgan_gp: resumed from step %d"):format(trainer:resume())) end
trainer:fit()
print(("wgan_gp: done; samples in %s/samples"):format(run.dir))
