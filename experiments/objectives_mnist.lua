--- The classic objectives side by side on MNIST at one budget: each trained for the same
-- number of steps with batch 64 on the training split (9,003 digits; the test split stays
-- unseen for FID, Parzen and the class metrics), the convolutional ones on DCGAN's
-- networks at ngf = ndf = 32, the MLP ones on the papers' MLPs. Every run logs FID on
-- 2,000 samples every `eval_every` steps; at the end each is measured on 10,000 samples
-- from its last checkpoint
-- (its model's evaluation: FID, confident share, class coverage, precision/recall,
-- Parzen). Prints and writes <root>/table.md, with the rank correlations the papers
-- claim: WGAN's (and WGAN-GP's) -loss_d and BEGAN's M against FID over the run.
--
--     gan run experiments/objectives_mnist.lua --set threads=1        # about 4.5 hours (measured: BEGAN 1.8 of them)
--     gan run experiments/objectives_mnist.lua --set only=wgan --set steps=1000
local gan = require("gan")

local CONV = { model = { ngf = 32, ndf = 32 } }
local function with(base, extra)
   return gan.config.merge(base, extra)
end
-- label, model, settings
local RUNS = {
   { "gan_ns", "vanilla_gan", {} },
   { "gan_minimax", "vanilla_gan", { train = { loss = "minimax" } } },
   { "cgan", "cgan", {} },
   { "unrolled_k5", "unrolled_gan", { train = { unroll = 5 } } },
   { "dcgan", "dcgan", with(CONV, { data = { split = "train" } }) },
   { "dcgan_g_no_bn", "dcgan", with(CONV, { data = { split = "train" }, model = { g_norm = "none" } }) },
   { "lsgan", "lsgan", CONV },
   { "lsgan_g_no_bn", "lsgan", with(CONV, { model = { g_norm = "none" } }) },
   { "wgan", "wgan", CONV },
   { "wgan_gp", "wgan_gp", with(CONV, { data = { split = "train" } }) },
   { "ebgan", "ebgan", CONV },
   { "began", "began", {} },
}

local range = gan.config.range
local labels = {}
for i, r in ipairs(RUNS) do labels[i] = r[1] end
-- eval_every: steps between FID evaluations (0: none); only: one run's label
local cfg = gan.config.from_args({
   steps = range(5000, "[1, inf)"), batch_size = range(64, "[1, inf)"), eval_every = range(250, "[0, inf)"),
   threads = range(2, "[1, 1024]"), seed = range(0, "[0, inf)"), root = "runs/objectives",
   only = gan.config.optional("string", labels),
}, arg or {})
gan.set_num_threads(cfg.threads)

local function read_metrics(dir) return gan.run.read_metrics(dir .. "/metrics.jsonl") end

-- (the mean of `key` over the training records in (previous eval step, eval step]) and
-- eval_fid, at every evaluation of the run
local function paired(records, key)
   local xs, fids, sum, n = {}, {}, 0, 0
   for _, r in ipairs(records) do
      if r.eval_fid then
         if n > 0 then xs[#xs + 1], fids[#fids + 1] = sum / n, r.eval_fid end
         sum, n = 0, 0
      elseif r[key] then
         sum, n = sum + r[key], n + 1
      end
   end
   return xs, fids
end

local rows, notes = {}, {}
for _, spec in ipairs(RUNS) do
   local label, name = spec[1], spec[2]
   if cfg.only == nil or cfg.only == label then
      local M = gan.models.get(name)
      local c = gan.config.resolve(M.defaults, { values = with(spec[3], { data = { batch_size = cfg.batch_size },
         train = { steps = cfg.steps, seed = cfg.seed, threads = cfg.threads, eval_every = cfg.eval_every,
            eval_samples = 2000, sample_every = cfg.steps // 5,
            -- a checkpoint every fifth of the run, so that a stopped run resumes (the last one kept)
            checkpoint_every = math.max(1, cfg.steps // 5), keep_checkpoints = 1 },
         run = { root = cfg.root, name = label } }) })
      local dir, secs = gan.train.trial(M, c)
      -- the last checkpoint, not the best by FID (that would choose on the test digits)
      local res = gan.eval.evaluate(dir, { n = 10000,
         checkpoint = ("%s/checkpoints/step_%06d.safetensors"):format(dir, cfg.steps) })
      local cover = ("%.1f-%.1f"):format(100 * res.class_min, 100 * res.class_max)
      rows[#rows + 1] = ("| %s | %s | %.1f | %.1f | %s | %.3f | %.3f | %.0f ± %.0f | %s |"):format(label, name,
         res.fid, 100 * res.confident, cover, res.precision, res.recall, res.parzen_ll or 0 / 0, res.parzen_se or 0 / 0,
         res.class_accuracy and ("%.1f"):format(100 * res.class_accuracy) or "-")
      print(("%s: trained in %.0f min"):format(label, secs / 60))
      print(rows[#rows])
      local recs, note = read_metrics(dir), nil
      if name == "wgan" or name == "wgan_gp" then
         local xs, fid = paired(recs, "loss_d")
         local w = {}
         for i, v in ipairs(xs) do w[i] = -v end
         note = ("%s: Spearman rank correlation of -loss_d (the critic's estimate, mean over the steps before "
            .. "each evaluation) with FID over %d evaluations: %.3f"):format(label, #fid, gan.metrics.spearman(w, fid))
      elseif name == "began" then
         local m, fid = paired(recs, "m_global")
         note = ("%s: Spearman rank correlation of M (mean over the steps before each evaluation) "
            .. "with FID over %d evaluations: %.3f"):format(label, #fid, gan.metrics.spearman(m, fid))
      end
      if note then
         notes[#notes + 1] = note
         print(note)
      end
   end
end

local text = table.concat({
   ("MNIST training split, %d steps of batch %d each (seed %d); 10,000 samples each against the 997 test digits"):format(
      cfg.steps, cfg.batch_size, cfg.seed),
   "",
   "| run | model | FID | confident % | classes % (min-max) | precision | recall | Parzen (nats) | class acc. % |",
   "|---|---|---|---|---|---|---|---|---|",
}, "\n") .. "\n" .. table.concat(rows, "\n") .. "\n\n" .. table.concat(notes, "\n") .. "\n"
print(text)
os.execute(("mkdir -p '%s'"):format(cfg.root))
local f = assert(io.open(cfg.root .. "/table.md", "wb"))
f:write(text)
f:close()
