--- InfoGAN (Chen et al. 2016) on MNIST: 62 noise dimensions, a 10-valued categorical
-- code and 2 continuous codes ~ U(-1, 1); Q shares D's trunk; the information term
-- (lambda 1) joins both objectives. Sheets: latent traversals (rows: categorical value;
-- columns: one continuous code from -2 to 2; the first 10 rows sweep code 1, the next
-- 10 code 2). At 32x32, DCGAN-shaped networks by default, the paper's MNIST networks
-- with --set model.arch=paper (experiments/infogan_full.yaml).
--
--     gan run experiments/infogan.lua
--     gan run experiments/infogan.lua --set train.seed=1
--     gan run experiments/infogan.lua --resume runs/infogan/<name>
local gan = require("gan")
local optim, info = gan.optim, gan.models.infogan

local defaults = {
   data = { name = "mnist", image_size = 32, batch_size = 64 },
   model = { n_noise = 62, n_cat = 10, n_cont = 2, ngf = 32, ndf = 32, arch = "dcgan" },
   train = {
      steps = 600, lr_g = 1e-3, lr_d = 2e-4, beta1 = 0.5, beta2 = 0.999, lambda = 1.0, lambda_cont = 1.0,
      seed = 0, threads = 2, log_every = 10, sample_every = 100, checkpoint_every = 300,
   },
   run = { root = "runs", name = gan.config.optional("string") },
}

local cfg, run, resumed = gan.run.from_args("infogan", defaults, arg)
local t, m = cfg.train, cfg.model
local ds = gan.data.for_gan(cfg.data.name, { split = "train", image_size = cfg.data.image_size })
local loader = gan.data.DataLoader(ds, { batch_size = cfg.data.batch_size, generator = gan.Generator(t.seed + 7) })
local sizes = { n_noise = m.n_noise, n_cat = m.n_cat, n_cont = m.n_cont }
local G, D = info.generator_from_config(cfg), info.discriminator_from_config(cfg)
-- the paper: Adam, 1e-3 for G and 2e-4 for D
local opt_g = optim.Adam(G:parameters(), { lr = t.lr_g, betas = { t.beta1, t.beta2 } })
local opt_d = optim.Adam(D:parameters(), { lr = t.lr_d, betas = { t.beta1, t.beta2 } })

print(("infogan: %s, %d images; latent %d noise + %d-way code + %d continuous; G %d and D/Q %d parameters; run %s")
   :format(cfg.data.name, #ds, m.n_noise, m.n_cat, m.n_cont, G:num_parameters(), D:num_parameters(), run.dir))

local trainer = gan.train.InfoGAN {
   G = G, D = D, opt_g = opt_g, opt_d = opt_d, data = loader, seed = t.seed, steps = t.steps,
   n_noise = sizes.n_noise, n_cat = sizes.n_cat, n_cont = sizes.n_cont, lambda = t.lambda, lambda_cont = t.lambda_cont,
   run = run, log_every = t.log_every, sample_every = t.sample_every, checkpoint_every = t.checkpoint_every,
}
if resumed then print(("infogan: resumed from step %d"):format(trainer:resume())) end
trainer:fit()
print(("infogan: done; latent traversals in %s/samples"):format(run.dir))
