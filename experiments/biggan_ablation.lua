--- BigGAN's tricks one at a time: the full model (experiments/biggan_fashion.yaml's
-- networks) and the full model minus one trick, each trained for the same number of G
-- steps (a shorter budget than the full run), the full model with 3 seeds to give the
-- spread. Each run is measured at its last step on n samples, its EMA generator where it
-- is kept and its raw one: FID, precision, recall, class accuracy, mean FID within a
-- class. "- EMA" needs no run of its own: the EMA does not touch training, so it is the
-- raw generator of the full runs. Runs are resumable (gan.train.trial): stopping and
-- starting the script again continues where it stopped. Writes <root>/table.md.
-- Measured: a run trains in about 21 minutes on one thread (2,000 steps) and is measured
-- (EMA and raw G) in 5 more, so the nine runs take about 4 hours; two processes with
-- different `only` share them between 2 cores (the last call, all measured, only writes
-- the table).
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

local KEYS = { "fid", "precision", "recall", "class_accuracy", "fid_class_mean" }
local function row(label, what, results, prefix)
   local cells = { label, what }
   for _, k in ipairs(KEYS) do
      local xs = {}
      for _, r in ipairs(results) do xs[#xs + 1] = r[prefix .. k] end
      local m, sd = mean_sd(xs)
      local scale = k == "class_accuracy" and 100 or 1
      local fmt = (k == "precision" or k == "recall") and "%.3f" or "%.1f"
      cells[#cells + 1] = #xs > 1 and (fmt .. " ± " .. fmt):format(m * scale, sd * scale) or fmt:format(m * scale)
   end
   return "| " .. table.concat(cells, " | ") .. " |"
end

-- two tables: the EMA generators (the runs' samplers; "no_ema" is the full runs' raw G)
-- and the raw generators of the same runs (at a short budget the EMA, from step
-- ema_start, may still lag the raw G, and the tricks compare on both)
local ema_rows, raw_rows = {}, {}
for _, v in ipairs(VARIANTS) do
   local label, what, settings = v[1], v[2], v[3]
   if cfg.only == nil or cfg.only == label then
      local results = {}
      for seed = 0, (label == "full" and cfg.seeds or 1) - 1 do
         results[#results + 1] = train_and_measure(label, settings, seed)
         print(("%s seed %d: FID %.2f (raw G %.2f)"):format(label, seed, results[#results].fid,
            results[#results].raw_fid))
      end
      local name = label == "full" and ("full (%d seeds)"):format(#results) or label
      ema_rows[#ema_rows + 1] = row(name, what, results, "")
      if label == "full" then
         ema_rows[#ema_rows + 1] = row(("no_ema (%d seeds)"):format(#results), "EMA (the raw G of the full runs)",
            results, "raw_")
      end
      raw_rows[#raw_rows + 1] = row(name, what, results, "raw_")
   end
end

local HEAD = "| run | without | FID | precision | recall | class accuracy % | FID within a class (mean) |\n"
   .. "|---|---|---|---|---|---|---|\n"
local text = ("BigGAN ablation on Fashion-MNIST 32x32: %d G steps of batch 64 each, ch = 16; %d samples per run "
   .. "against the 10,000 test images; full model: mean ± sd over %d seeds.\n\nThe EMA generators (unless "
   .. "the row says otherwise):\n\n%s%s\n\nThe raw generators of the same runs:\n\n%s%s\n"):format(cfg.steps,
   cfg.n, cfg.seeds, HEAD, table.concat(ema_rows, "\n"), HEAD, table.concat(raw_rows, "\n"))
print(text)
os.execute(("mkdir -p '%s'"):format(cfg.root))
local f = assert(io.open(cfg.root .. "/table.md", "wb"))
f:write(text)
f:close()
