--- The 2-d mode-collapse benchmark: every objective on the ring of 8 Gaussians (and the
-- 5x5 grid) with the same MLPs and budget (experiments/toy_ring8.yaml, toy_grid25.yaml),
-- over several seeds; each run measured on 10,000 samples (gan.metrics.mode_stats:
-- modes covered, high-quality share, KL of the mode histogram to uniform). Prints a
-- markdown table (mean and min of modes covered, mean high-quality share, mean KL per
-- objective), writes it to <root>/<data>_table.md, and a density sheet per data set
-- (rows: objectives, seed 0; columns: the samples at each sheet step).
--
--     gan run experiments/toy2d_benchmark.lua                                 # ring8, 5 seeds
--     gan run experiments/toy2d_benchmark.lua --set data=grid25 --set seeds=3
--     gan run experiments/toy2d_benchmark.lua --set only=unrolled_k5 --set steps=2000
local gan = require("gan")

-- label, model, settings over the toy config
local OBJECTIVES = {
   { "gan_ns", "vanilla_gan", { train = { loss = "nonsaturating" } } },
   { "gan_minimax", "vanilla_gan", { train = { loss = "minimax" } } },
   { "lsgan", "vanilla_gan", { train = { loss = "lsgan" } } },
   { "wgan_clip", "vanilla_gan", { train = { loss = "wgan", clip = 0.01, n_critic = 5, optimizer = "rmsprop",
      lr_g = 5e-5, lr_d = 5e-5 } } },
   { "unrolled_k0", "unrolled_gan", { train = { unroll = 0 } } },
   { "unrolled_k1", "unrolled_gan", { train = { unroll = 1 } } },
   { "unrolled_k5", "unrolled_gan", { train = { unroll = 5 } } },
   { "unrolled_k10", "unrolled_gan", { train = { unroll = 10 } } },
}

local range = gan.config.range
local labels = {}
for i, o in ipairs(OBJECTIVES) do labels[i] = o[1] end
-- steps: at least 5 (a sheet every steps / 5); only: one objective's label
local cfg = gan.config.from_args({
   data = gan.config.choice("ring8", { "ring8", "grid25" }), seeds = range(5, "[1, inf)"),
   steps = range(20000, "[5, inf)"), threads = range(2, "[1, 1024]"), root = "runs/toy2d",
   only = gan.config.optional("string", labels),
}, arg or {})
gan.set_num_threads(cfg.threads)

local toy_yaml = ("experiments/toy_%s.yaml"):format(cfg.data)

-- One training run; returns its mode statistics and run directory.
local function run_one(label, model_name, settings, seed)
   local M = gan.models.get(model_name)
   local c = gan.config.resolve(M.defaults, { file = toy_yaml, values = settings })
   c.train.seed, c.train.steps, c.train.threads = seed, cfg.steps, cfg.threads
   c.train.sample_every = cfg.steps // 5
   c.train.checkpoint_every = cfg.steps
   c.run.root, c.run.name = cfg.root, ("%s_%s_s%d"):format(cfg.data, label, seed)
   local dir, secs, model = gan.train.trial(M, c)
   local res = model:evaluate { n = 10000 }
   res.seconds = secs
   local f = assert(io.open(dir .. "/eval.json", "wb"))
   f:write(gan.run.json_object(res), "\n")
   f:close()
   return res, dir
end

local rows, sheets = {}, {}
for _, o in ipairs(OBJECTIVES) do
   if cfg.only == nil or cfg.only == o[1] then
      local stats = {}
      for seed = 0, cfg.seeds - 1 do
         local res, dir = run_one(o[1], o[2], o[3], seed)
         stats[#stats + 1] = res
         print(("%s %s seed %d: %d/%d modes, hq %.3f, kl %.3f (%.0f s)"):format(cfg.data, o[1], seed,
            res.modes_covered, res.n_modes, res.hq, res.kl, res.seconds))
         if seed == 0 then
            for s = 1, 5 do
               local p = ("%s/samples/step_%06d.png"):format(dir, s * (cfg.steps // 5))
               sheets[#sheets + 1] = gan.image.load(p):narrow(1, 1, 3)
            end
         end
      end
      local sum, lo, hq, kl, all = 0, math.huge, 0, 0, 0
      for _, r in ipairs(stats) do
         sum, lo = sum + r.modes_covered, math.min(lo, r.modes_covered)
         hq, kl = hq + r.hq, kl + r.kl
         if r.modes_covered == r.n_modes then all = all + 1 end
      end
      local n = #stats
      rows[#rows + 1] = ("| %s | %.1f | %d | %d/%d | %.3f | %.3f |"):format(o[1], sum / n, lo, all, n, hq / n, kl / n)
   end
end

local K = gan.data.toy2d_modes(cfg.data):size(1)
local head = {
   ("%s (%d modes), %d steps, %d seeds: modes covered (>= 1%% of samples within 3 std), runs covering all,"):format(
      cfg.data, K, cfg.steps, cfg.seeds),
   "share of high-quality samples (within 3 std of a mode), KL(mode histogram || uniform); 10,000 samples each.",
   "",
   "| objective | modes (mean) | modes (min) | all modes | high quality | KL |",
   "|---|---|---|---|---|---|",
}
local text = table.concat(head, "\n") .. "\n" .. table.concat(rows, "\n") .. "\n"
print(text)
local f = assert(io.open(("%s/%s_table.md"):format(cfg.root, cfg.data), "wb"))
f:write(text)
f:close()
if #sheets > 0 then
   local path = ("%s/%s_density.png"):format(cfg.root, cfg.data)
   gan.image.save_grid(path, gan.image.resize(gan.stack(sheets, 1):contiguous(), 240), { nrow = 5 })
   print("density sheet (rows: objectives, seed 0; columns: the sheets of the run) in " .. path)
end
