--- ACGAN (Odena et al. 2017) on MNIST by default: G(z, class) with a learned class
-- embedding, D with a shared trunk, a real/fake head and a class head; D minimises
-- L_S + L_C, G the non-saturating L_S plus L_C. Sample sheets: one row per class.
--
--     gan run experiments/acgan.lua
--     gan run experiments/acgan.lua --set data.name=fashion_mnist
--     gan run experiments/acgan.lua --resume runs/acgan/<name>
local gan = require("gan")
local optim, acgan = gan.optim, gan.models.acgan

local defaults = {
   data = { name = "mnist", image_size = 32, batch_size = 64 },
   model = { nz = 100, ngf = 32, ndf = 32, dropout = 0.0 },
   train = {
      steps = 600, lr_g = 2e-4, lr_d = 2e-4, beta1 = 0.5, beta2 = 0.999, seed = 0, threads = 2,
      log_every = 10, sample_every = 100, checkpoint_every = 300, ema = 0.0, ema_start = 0,
      fake_class_weight = 1.0,
   },
   run = { root = "runs", name = gan.config.optional("string") },
}

local cfg, run, resumed = gan.run.from_args("acgan", defaults, arg)
local t, m = cfg.train, cfg.model
if cfg.data.name ~= "mnist" and cfg.data.name ~= "fashion_mnist" then
   error(("acgan: data.name must be mnist or fashion_mnist (labelled data), got '%s'"):format(cfg.data.name), 0)
end
-- the training split only: the test digits stay unseen for train-on-generated / test-on-real
local ds = gan.data.for_gan(cfg.data.name, { split = "train", image_size = cfg.data.image_size })
local loader = gan.data.DataLoader(ds, { batch_size = cfg.data.batch_size, generator = gan.Generator(t.seed + 7) })

local G = acgan.Generator { nz = m.nz, ngf = m.ngf, nc = 1, image_size = cfg.data.image_size }
local D = acgan.Discriminator { ndf = m.ndf, nc = 1, image_size = cfg.data.image_size, dropout = m.dropout }
local opt_g = optim.Adam(G:parameters(), { lr = t.lr_g, betas = { t.beta1, t.beta2 } })
local opt_d = optim.Adam(D:parameters(), { lr = t.lr_d, betas = { t.beta1, t.beta2 } })

print(("acgan: %s, %d labelled images; G %d and D %d parameters; run %s"):format(cfg.data.name, #ds,
   G:num_parameters(), D:num_parameters(), run.dir))

local trainer = gan.train.ACGAN {
   G = G, D = D, opt_g = opt_g, opt_d = opt_d, data = loader, seed = t.seed, steps = t.steps,
   latent = function(n, g) return gan.randn({ n, m.nz }, { generator = g }) end,
   fake_class_weight = t.fake_class_weight,
   ema = t.ema > 0 and { decay = t.ema, start = t.ema_start } or nil,
   run = run, log_every = t.log_every, sample_every = t.sample_every, checkpoint_every = t.checkpoint_every,
}
if resumed then print(("acgan: resumed from step %d"):format(trainer:resume())) end
trainer:fit()
print(("acgan: done; class-conditional sheets (one row per class) in %s/samples"):format(run.dir))
