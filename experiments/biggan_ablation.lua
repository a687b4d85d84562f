--- BigGAN's tricks one at a time: the full model (experiments/biggan_fashion.yaml's
-- networks) and the full model minus one trick, each trained for the same number of G
-- steps (a shorter budget than the full run), the full model with 3 seeds to give the
-- spread. Each run is measured at its last step on n samples (the EMA generator where it
-- is kept): FID, precision, recall, class accuracy, mean FID within a class. "- EMA" needs
-- no run of its own: the EMA does not touch training, so it is the raw generator of the
-- full runs. Runs are resumable (gan.train.trial): stopping and starting the script again
-- continues where it stopped. Writes <root>/table.md. Measured: a run trains in about 21
-- minutes on one thread (2,000 steps) and is measured (EMA and raw G) in 5 more, so the
-- nine runs take about 4 hours; two processes with different `only` share them between
-- 2 cores (the last call, all measured, only writes the table).
--
--     gan run experiments/biggan_ablation.lua                      # about 4 hours on one core
--     gan run experiments/biggan_ablation.lua --set only=no_attention --set steps=500
local gan = require("gan")

-- label, what it switches off, settings over the full model
local VARIANTS = {
   { "full", "nothing", {} },
   { "no_attention", "self-attention", { model = { attention = 0 } } },
   { "no_sn_g", "spectral norm in G", { model = { sn_g = false } } },
   { "no_ortho", "orthogonal regularisation", { train = { ortho = 0 } } },
   { "no_hierarchical", "hierarchical z (z into the first layer only)", { model = { hierarchical = false } } },
   { "ac_head", "projection (an auxiliary classifier instead)", { model = { head = "ac" } } },
   { "d_steps_1", "2 D steps (1 instead)", { train = { d_steps = 1 } } },
}

local range = gan.config.range
local labels = {}
for i, v in ipairs(VARIANTS) do labels[i] = v[1] end
-- steps: at least 4 (a sheet and a checkpoint every steps / 4); n: evaluation samples;
-- only: one variant's label
local cfg = gan.config.from_args({
   steps = range(2000, "[4, inf)"), seeds = range(3, "[1, inf)"), n = range(10000, "[1, inf)"),
   threads = range(1, "[1, 1024]"), root = "runs/biggan_ablation", only = gan.config.optional("string", labels),
}, arg or {})
gan.set_num_threads(cfg.threads)

local M = gan.models.get("biggan")
local full_file = "experiments/biggan_fashion.yaml"

local function train_and_measure(label, settings, seed)
   local c = gan.config.resolve(M.defaults, { file = full_file, values = settings })
   c.train.seed, c.train.steps, c.train.threads = seed, cfg.steps, cfg.threads
   c.train.sample_every, c.train.checkpoint_every, c.train.keep_checkpoints = cfg.steps // 4, cfg.steps // 4, 1
   c.run.root, c.run.name = cfg.root, ("%s_s%d"):format(label, seed)
   local dir, secs, model = gan.train.trial(M, c)
   local path = dir .. "/eval.json"
   local f = io.open(path, "rb")
   if f then   -- measured before
      local res = require("cjson").decode(f:read("a"))
      f:close()
      return res
   end
   local res = model:evaluate { n = cfg.n }
   res.train_seconds = secs
   f = assert(io.open(path, "wb"))
   f:write(gan.run.json_object(res), "\n")
   f:close()
   return res
end

local function mean_sd(xs)
   local s, n = 0, #xs
   for _, x in ipairs(xs) do s = s + x end
   local m, v = s / n, 0
   for _, x in ipairs(xs) do v = v + (x - m) ^ 2 end
   return m, n > 1 and math.sqrt(v / (n - 1)) or 0
end

-- raw_fid beside every row's FID: at a short budget the EMA (from step ema_start) may
-- still lag the raw G (2,000 steps, EMA from 1,000: measured worse), and the tricks
-- compare on both
local KEYS = { "fid", "raw_fid", "precision", "recall", "class_accuracy", "fid_class_mean" }
local function row(label, what, results, prefix)
   prefix = prefix or ""
   local cells = { label, what }
   for _, k in ipairs(KEYS) do
      local xs = {}
      for _, r in ipairs(results) do xs[#xs + 1] = r[prefix .. k] end
      if #xs == 0 then   -- the raw G's own row has no raw_raw_fid
         cells[#cells + 1] = "-"
      else
         local m, sd = mean_sd(xs)
         local scale = k == "class_accuracy" and 100 or 1
         local fmt = (k == "precision" or k == "recall") and "%.3f" or "%.1f"
         cells[#cells + 1] = #xs > 1 and (fmt .. " ± " .. fmt):format(m * scale, sd * scale) or fmt:format(m * scale)
      end
   end
   return "| " .. table.concat(cells, " | ") .. " |"
end

local rows = {}
for _, v in ipairs(VARIANTS) do
   local label, what, settings = v[1], v[2], v[3]
   if cfg.only == nil or cfg.only == label then
      local results = {}
      for seed = 0, (label == "full" and cfg.seeds or 1) - 1 do
         results[#results + 1] = train_and_measure(label, settings, seed)
         print(("%s seed %d: FID %.2f (raw G %s)"):format(label, seed, results[#results].fid,
            tostring(results[#results].raw_fid)))
      end
      rows[#rows + 1] = row(label == "full" and ("full (%d seeds)"):format(#results) or label, what, results)
      if label == "full" then
         rows[#rows + 1] = row(("no_ema (%d seeds)"):format(#results), "EMA (the raw G of the full runs)", results, "raw_")
      end
      print(rows[#rows])
   end
end

local text = table.concat({
   ("BigGAN ablation on Fashion-MNIST 32x32: %d G steps of batch 64 each, ch = 16; %d samples per run (EMA "
      .. "generator unless the row says otherwise) against the 10,000 test images; full model: mean ± sd over "
      .. "%d seeds"):format(cfg.steps, cfg.n, cfg.seeds),
   "",
   "| run | without | FID | FID of the raw G | precision | recall | class accuracy % | FID within a class (mean) |",
   "|---|---|---|---|---|---|---|---|",
}, "\n") .. "\n" .. table.concat(rows, "\n") .. "\n"
print(text)
os.execute(("mkdir -p '%s'"):format(cfg.root))
local f = assert(io.open(cfg.root .. "/table.md", "wb"))
f:write(text)
f:close()
