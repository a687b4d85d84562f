--- `gan eval RUN_DIR`: rebuilds a run's generator from its config.yaml, loads its best
-- checkpoint (else the latest), uses the EMA weights when the run kept them, computes
-- gan.metrics against the real test split and writes RUN_DIR/eval.json.
-- @module gan.eval
local E = {}

-- Experiment name -> the model module that can rebuild its generator.
E.builders = { dcgan = "gan.models.dcgan", wgan_gp = "gan.models.dcgan", cyclegan = "gan.models.cyclegan",
   acgan = "gan.models.acgan", infogan = "gan.models.infogan" }

local function fmt(v)
   if type(v) == "number" then return ("%.6g"):format(v) end
   return tostring(v)
end

local function write_json(dir, res)
   local out = io.open(dir .. "/eval.json", "wb")
   if out then out:write(require("cjson").encode(res), "\n"); out:close() end
end

--- A CycleGAN run: both generators of a checkpoint on the held-out emoji pairs
-- (gan.metrics.evaluate_translation with the emoji-style classifier, or opts.classifier);
-- also writes RUN_DIR/eval.png (rows: input | translation | reconstruction | real, A to B
-- then B to A, up to opts.sheet (16) items each way).
function E.evaluate_cyclegan(dir, cfg, ck, path, opts)
   local gan = require("gan")
   local cg = gan.models.cyclegan
   local G_AB, G_BA = cg.generator_from_config(cfg), cg.generator_from_config(cfg)
   G_AB:load_state_dict(ck.states.G_AB)
   G_BA:load_state_dict(ck.states.G_BA)
   local a, b = cg.test_pairs(cfg)
   local metrics = require("gan.metrics")
   local clf = opts.classifier
   if not clf then
      local w = metrics.weights_path("emoji_style")
      local f = io.open(w, "rb")
      if f then f:close(); clf = w end
   end
   local res, imgs = metrics.evaluate_translation(G_AB, G_BA, a, b, { classifier = clf })
   res.checkpoint, res.step, res.classifier = path, ck.extra and ck.extra.step, clf or "none"
   res.reference = ("emoji test code points, %s <-> %s"):format(cfg.data.a, cfg.data.b)
   local k = math.min(opts.sheet or 16, res.n)
   local rows = {}
   for i = 1, k do
      local j = (i - 1) * res.n // k + 1
      for _, t in ipairs { a[j], imgs.ab[j], imgs.aba[j], b[j] } do rows[#rows + 1] = t end
   end
   for i = 1, k do
      local j = (i - 1) * res.n // k + 1
      for _, t in ipairs { b[j], imgs.ba[j], imgs.bab[j], a[j] } do rows[#rows + 1] = t end
   end
   gan.image.save_grid(dir .. "/eval.png", gan.stack(rows, 1), { nrow = 4, range = { -1, 1 } })
   write_json(dir, res)
   return res
end

--- An InfoGAN run: n samples with uniformly drawn codes; the accuracy of the categorical
-- code against the reference classifier's labels after the best one-to-one matching
-- (cat_accuracy, with the matching), the mutual-information estimate ln(n_cat) - CE of
-- Q on these samples (mi, nats), and the unconditional metrics of gan.metrics.evaluate.
function E.evaluate_infogan(dir, cfg, ck, path, opts)
   local gan = require("gan")
   local info, metrics = gan.models.infogan, require("gan.metrics")
   local G, D = info.generator_from_config(cfg), info.discriminator_from_config(cfg)
   G:load_state_dict(ck.states.G)
   D:load_state_dict(ck.states.D)
   G:eval(); D:eval()
   local m, n = cfg.model, opts.n or 10000
   local sz = { n_noise = m.n_noise, n_cat = m.n_cat, n_cont = m.n_cont }
   local g = gan.Generator(12345)
   local imgs, cats, ce = {}, {}, 0
   gan.no_grad(function()
      for s = 1, n, 500 do
         local b = math.min(500, n - s + 1)
         local z, cat = info.sample_latent(b, { n_noise = sz.n_noise, n_cat = sz.n_cat, n_cont = sz.n_cont, generator = g })
         local x = G(z)
         local _, ql = D(x)
         ce = ce + gan.F.cross_entropy(ql, cat):item() * b
         imgs[#imgs + 1], cats[#cats + 1] = x, cat
      end
   end)
   local x, cat = gan.cat(imgs, 1), gan.cat(cats, 1)
   local clf = opts.classifier and metrics.load_classifier(opts.classifier) or metrics.classifier(cfg.data.name)
   local _, probs = metrics.features(clf, x)
   local _, pred = probs:max(2)
   local acc, match = metrics.matched_accuracy(cat, pred, m.n_cat)
   local res = metrics.evaluate(G, cfg.data.name, { n = n, classifier = opts.classifier,
      latent = function(b, gen) return (info.sample_latent(b, { n_noise = sz.n_noise, n_cat = sz.n_cat,
         n_cont = sz.n_cont, generator = gen })) end })
   res.cat_accuracy, res.cat_matching = acc, table.concat(match, ",")
   res.mi = info.mi_estimate(ce / n, m.n_cat)
   res.checkpoint, res.step = path, ck.extra and ck.extra.step
   write_json(dir, res)
   return res
end

--- Evaluates a run directory; returns the metrics table. opts: n (10000), checkpoint,
-- classifier (a weights file for gan.metrics.evaluate).
function E.evaluate(dir, opts)
   opts = opts or {}
   local gan = require("gan")
   local run = gan.run.open(dir)
   local cfg = run.config
   local builder = E.builders[run.experiment]
   if not builder then
      error(("gan eval: do not know how to rebuild a '%s' run (known: %s)"):format(run.experiment,
         table.concat((function() local t = {} for k in pairs(E.builders) do t[#t + 1] = k end table.sort(t) return t end)(), ", ")), 0)
   end
   local path = opts.checkpoint
   if not path then
      local best = dir .. "/checkpoints/best.safetensors"
      local f = io.open(best, "rb")
      if f then f:close(); path = best else path = run:latest_checkpoint() end
   end
   if not path then error(("gan eval: %s has no checkpoint"):format(dir), 0) end
   local ck = gan.load(path)
   if type(ck) ~= "table" or ck.format ~= "gan.checkpoint" then error(("gan eval: %s is not a checkpoint"):format(path), 0) end
   if run.experiment == "cyclegan" then return E.evaluate_cyclegan(dir, cfg, ck, path, opts) end
   if run.experiment == "infogan" then return E.evaluate_infogan(dir, cfg, ck, path, opts) end
   local G = require(builder).generator_from_config(cfg)
   local weights = ck.states.ema and ck.states.ema.model or ck.states.G
   G:load_state_dict(weights)
   local nz = cfg.model.nz or 100
   if ck.states.ema then
      -- The averaged weights need batch-norm statistics of their own.
      local g = gan.Generator(2000)
      gan.nn.utils.standing_stats(G, function()
         local z = gan.randn({ 64, nz, 1, 1 }, { generator = g })
         if run.experiment == "acgan" then return z, gan.randint(0, 10, { 64 }, { generator = g }) end
         return z
      end, 16)
   end
   local n = opts.n or 10000
   local labels
   if run.experiment == "acgan" then   -- every class equally often, with train-on-generated / test-on-real
      local l = {}
      for i = 1, n do l[i] = (i - 1) % 10 end
      labels = gan.tensor(l, { dtype = "int64" })
   end
   local res = require("gan.metrics").evaluate(G, cfg.data.name, { n = n, nz = nz,
      classifier = opts.classifier, labels = labels, tstr = labels and { epochs = opts.tstr_epochs or 10 } })
   res.checkpoint, res.step, res.ema = path, ck.extra and ck.extra.step, ck.states.ema ~= nil
   write_json(dir, res)
   return res
end

--- The command spec for gan.cli.
E.command = {
   name = "eval",
   summary = "Compute the metrics of a run's generator (FID, KID, precision/recall, coverage; CycleGAN: paired L1/PSNR, cycle L1, style share).",
   description = "Rebuilds the generator of RUN_DIR from its config.yaml, loads its best checkpoint "
      .. "(else the latest; the EMA weights when present), samples --n images and compares them "
      .. "with the real test split on the reference classifier's features. A CycleGAN run is measured "
      .. "on the held-out emoji pairs instead (and eval.png shows them). Writes RUN_DIR/eval.json.",
   setup = function(cmd)
      cmd:argument("run_dir", "The run directory.")
      cmd:option("--n", "Number of samples.", "10000"):convert(tonumber)
      cmd:option("--checkpoint", "A checkpoint file to evaluate instead.")
      cmd:option("--classifier", "Reference classifier weights to use instead of the shipped ones.")
   end,
   run = function(opts)
      local ok, res = pcall(E.evaluate, opts.run_dir, { n = opts.n, checkpoint = opts.checkpoint,
         classifier = opts.classifier })
      if not ok then io.stderr:write("gan: ", tostring(res), "\n"); return 1 end
      local keys = {}
      for k in pairs(res) do keys[#keys + 1] = k end
      table.sort(keys)
      for _, k in ipairs(keys) do print(("%-18s %s"):format(k, fmt(res[k]))) end
      return 0
   end,
}

return E
