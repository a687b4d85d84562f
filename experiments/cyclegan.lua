--- CycleGAN (Zhu et al. 2017): Google-style emoji (domain A) <-> Twitter-style emoji
-- (domain B), trained on unpaired images. As in the paper: ResNet generators, 70x70
-- PatchGAN discriminators with instance norm, LSGAN losses, cycle L1 with lambda 10,
-- identity L1 with 0.5 lambda, image pools of 50, Adam 2e-4 (0.5, 0.999) with a constant
-- rate for the first half of training and a linear decay to 0 over the second, batch 1,
-- N(0, 0.02) initialisation. Emoji are composited on white at 64x64 and flipped
-- horizontally at random; the test code points (about 10%) are never trained on and give
-- the paired sample sheets (input | translation | reconstruction | the real drawing in
-- the other style).
--
--     gan run experiments/cyclegan.lua                                  # ~7 minutes on 2 cores
--     gan run experiments/cyclegan.lua --config experiments/cyclegan_quick.yaml   # 32x32
--     gan run experiments/cyclegan.lua --config experiments/cyclegan_full.yaml
--     gan run experiments/cyclegan.lua --resume runs/cyclegan/<name>
local gan = require("gan")
local cg = gan.models.cyclegan

local defaults = {
   data = { a = "google", b = "twitter", image_size = 64, batch_size = 1, flip = true },
   model = { generator = "resnet", ngf = 32, n_blocks = 6, n_downs = 6, ndf = 32, n_layers = 3 },
   train = {
      steps = 1000, decay_start = 500, lr = 2e-4, beta1 = 0.5, beta2 = 0.999, lambda_cycle = 10.0,
      lambda_identity = 0.5, pool = 50, seed = 0, threads = 2, log_every = 10, sample_every = 250,
      checkpoint_every = 500, n_samples = 8,
   },
   run = { root = "runs", name = gan.config.optional("string") },
}

local cfg, run, resumed = gan.run.from_args("cyclegan", defaults, arg)
local t, d, m = cfg.train, cfg.data, cfg.model
gan.set_num_threads(t.threads)
gan.manual_seed(t.seed)
if t.decay_start < 0 or t.decay_start > t.steps then
   error(("cyclegan: train.decay_start must be between 0 and train.steps (%d), got %d"):format(t.steps, t.decay_start), 0)
end

-- Both domains restricted to the emoji drawn by both vendors, so that the test split
-- pairs up by code point; the training split is sampled unpaired.
local vendors = { d.a, d.b }
local function domain(vendor, split, flip)
   return gan.data.for_gan("emoji", { vendor = vendor, split = split, image_size = d.image_size,
      flip = flip, require_vendors = vendors })
end
local train_a, train_b = domain(d.a, "train", d.flip), domain(d.b, "train", d.flip)
local loader = gan.data.DataLoader(gan.data.unpaired(train_a, train_b, { seed = t.seed }),
   { batch_size = d.batch_size, generator = gan.Generator(t.seed + 7) })
local test_a, test_b = cg.test_pairs(cfg)
-- n_samples held-out pairs spread over the (code point ordered) test split
local n = math.min(t.n_samples, test_a:size(1))
local pick = {}
for i = 1, n do pick[i] = (i - 1) * test_a:size(1) // n end
pick = gan.tensor(pick, { dtype = "int64" })
local samples = { a = test_a:index_select(1, pick), b = test_b:index_select(1, pick) }

local G_AB, G_BA = cg.generator_from_config(cfg), cg.generator_from_config(cfg)
local D_A = cg.PatchDiscriminator { ndf = m.ndf, n_layers = m.n_layers }
local D_B = cg.PatchDiscriminator { ndf = m.ndf, n_layers = m.n_layers }
local function both(x, y)
   local ps = x:parameters()
   for _, p in ipairs(y:parameters()) do ps[#ps + 1] = p end
   return ps
end
local betas = { t.beta1, t.beta2 }
local opt_g = gan.optim.Adam(both(G_AB, G_BA), { lr = t.lr, betas = betas })
local opt_d = gan.optim.Adam(both(D_A, D_B), { lr = t.lr, betas = betas })
-- constant for decay_start steps, then linear to 0 at the last step
local LinearDecay = gan.optim.lr_scheduler.LinearDecay
local decay = { n_constant = t.decay_start, n_decay = math.max(1, t.steps - t.decay_start) }
local sched_g, sched_d = LinearDecay(opt_g, decay), LinearDecay(opt_d, decay)

print(("cyclegan: %s (%d) <-> %s (%d) emoji at %dx%d, %d held-out pairs; generators %d, "
   .. "discriminators %d parameters each; run %s"):format(d.a, #train_a, d.b, #train_b, d.image_size,
   d.image_size, test_a:size(1), G_AB:num_parameters(), D_A:num_parameters(), run.dir))

local trainer = gan.train.CycleGAN {
   G_AB = G_AB, G_BA = G_BA, D_A = D_A, D_B = D_B, opt_g = opt_g, opt_d = opt_d, data = loader,
   sched_g = sched_g, sched_d = sched_d, lambda_cycle = t.lambda_cycle, lambda_identity = t.lambda_identity,
   pool = t.pool, seed = t.seed, steps = t.steps, run = run, log_every = t.log_every,
   sample_every = t.sample_every, samples = samples, checkpoint_every = t.checkpoint_every,
}
if resumed then print(("cyclegan: resumed from step %d"):format(trainer:resume())) end
trainer:fit()
print(("cyclegan: done; sample sheets (rows: input | translation | reconstruction | real) in %s/samples")
   :format(run.dir))
-- The held-out pairs, as `gan eval` measures them (eval.json, eval.png in the run).
local res = require("gan.eval").evaluate(run.dir)
print(("cyclegan: held-out %d pairs: L1 A->B %.4f (input %.4f), B->A %.4f; cycle L1 %.4f / %.4f%s")
   :format(res.n, res.l1_ab, res.l1_ab_input, res.l1_ba, res.cycle_l1_a, res.cycle_l1_b,
      res.style_ab and ("; in the target style %.1f%% / %.1f%%"):format(100 * res.style_ab, 100 * res.style_ba) or ""))
