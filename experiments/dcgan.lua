--- DCGAN (Radford et al. 2016) on MNIST by default.
--
--     gan run experiments/dcgan.lua                                  # ~5 min, samples in runs/dcgan/
--     gan run experiments/dcgan.lua --config experiments/dcgan_fashion.yaml
--     gan run experiments/dcgan.lua --set train.steps=10000 --set data.name=fashion_mnist
--     gan run experiments/dcgan.lua --resume runs/dcgan/<name>
local gan = require("gan")
local nn, optim, dcgan = gan.nn, gan.optim, gan.models.dcgan

local defaults = {
   data = { name = "mnist", image_size = 32, batch_size = 64, vendor = "google" },
   model = { nz = 100, ngf = 32, ndf = 32 },
   train = {
      steps = 600, loss = "nonsaturating", lr_g = 2e-4, lr_d = 2e-4, beta1 = 0.5, beta2 = 0.999,
      seed = 0, threads = 2, log_every = 10, sample_every = 100, checkpoint_every = 300,
      eval_every = 0, eval_samples = 2000, label_smoothing = 0.0, ema = 0.0, ema_start = 0,
      -- tricks, off by default: linear lr decay to 0 from decay_start (0: constant lr); R1
      -- penalty on real images (weight r1, every r1_every steps); DiffAugment (random
      -- shifts of up to augment_shift pixels, cutout squares of side augment_cutout)
      decay_start = 0, r1 = 0.0, r1_every = 1, augment_shift = 0, augment_cutout = 0,
   },
   run = { root = "runs", name = gan.config.optional("string") },
}

local cfg, run, resumed = gan.run.from_args("dcgan", defaults, arg)
local t = cfg.train

local nc = (cfg.data.name == "mnist" or cfg.data.name == "fashion_mnist") and 1 or 3
local ds = gan.data.for_gan(cfg.data.name, { image_size = cfg.data.image_size, vendor = cfg.data.vendor })
local loader = gan.data.DataLoader(ds, { batch_size = cfg.data.batch_size, generator = gan.Generator(t.seed + 7) })

local G = dcgan.Generator { nz = cfg.model.nz, ngf = cfg.model.ngf, nc = nc, image_size = cfg.data.image_size }
local D = dcgan.Discriminator { ndf = cfg.model.ndf, nc = nc, image_size = cfg.data.image_size }
local opt_g = optim.Adam(G:parameters(), { lr = t.lr_g, betas = { t.beta1, t.beta2 } })
local opt_d = optim.Adam(D:parameters(), { lr = t.lr_d, betas = { t.beta1, t.beta2 } })

print(("dcgan: %s, %d images of %dx%dx%d; G %d and D %d parameters; run %s"):format(cfg.data.name, #ds,
   nc, cfg.data.image_size, cfg.data.image_size, G:num_parameters(), D:num_parameters(), run.dir))

local eval_fn
if t.eval_every > 0 then
   local metrics = require("gan.metrics")
   eval_fn = function(trainer, step) return metrics.evaluate_generator(trainer, cfg.data.name, { n = t.eval_samples }) end
end

if t.decay_start < 0 or t.decay_start > t.steps then
   error(("dcgan: train.decay_start must be between 0 and train.steps (%d), got %d"):format(t.steps, t.decay_start), 0)
end
local sched_g, sched_d
if t.decay_start > 0 then
   local decay = { n_constant = t.decay_start, n_decay = math.max(1, t.steps - t.decay_start) }
   sched_g = optim.lr_scheduler.LinearDecay(opt_g, decay)
   sched_d = optim.lr_scheduler.LinearDecay(opt_d, decay)
end
local augment
if t.augment_shift > 0 or t.augment_cutout > 0 then
   -- the border and the cut squares are filled with the background (-1: black)
   augment = { shift = t.augment_shift, cutout = t.augment_cutout, fill = -1 }
end

local trainer = gan.train.Trainer {
   G = G, D = D, opt_g = opt_g, opt_d = opt_d, data = loader, seed = t.seed, steps = t.steps,
   latent = function(n, g) return gan.randn({ n, cfg.model.nz, 1, 1 }, { generator = g }) end,
   loss = t.loss, label_smoothing = t.label_smoothing > 0 and t.label_smoothing or nil,
   ema = t.ema > 0 and { decay = t.ema, start = t.ema_start } or nil,
   sched_g = sched_g, sched_d = sched_d, schedule_per = "step", augment = augment,
   r1 = t.r1 > 0 and { weight = t.r1, every = t.r1_every } or nil,
   run = run, log_every = t.log_every, sample_every = t.sample_every, checkpoint_every = t.checkpoint_every,
   eval_every = t.eval_every > 0 and t.eval_every or nil, eval_fn = eval_fn, best_metric = "fid",
}
if resumed then print(("dcgan: resumed from step %d"):format(trainer:resume())) end
trainer:fit()
print(("dcgan: done; samples in %s/samples, metrics in %s/metrics.jsonl"):format(run.dir, run.dir))
