--- Three runs that fail on purpose, and when the health monitor (gan.train.health) says
-- so: a DCGAN whose D learns 25 times faster than G (D wins); a DCGAN generator without
-- batch norm under the minimax loss (D wins, G's gradients vanish); the vanilla GAN on
-- the ring of 8 Gaussians (mode collapse). Each is a resumable run under <root>; the
-- table (<root>/table.md) gives each run's first warning of every detector: its step,
-- and the step the failure began according to the warning's evidence.
--
--     gan run experiments/health_demos.lua --set root=/tmp/health
local gan = require("gan")

-- label, model, config file or nil, settings, what is provoked
local DEMOS = {
   { "d_lr", "dcgan", nil, { train = { steps = 1500, lr_d = 5e-3 } }, "D's learning rate 25x G's (5e-3 vs 2e-4)" },
   { "minimax_no_bn", "dcgan", nil, { model = { g_norm = "none" }, train = { steps = 1500, loss = "minimax" } },
      "G without batch norm, minimax loss" },
   { "ring8_collapse", "vanilla_gan", "experiments/toy_ring8.yaml", { train = { steps = 5000 } },
      "vanilla GAN (non-saturating) on the ring of 8 Gaussians" },
}

local labels = {}
for i, d in ipairs(DEMOS) do labels[i] = d[1] end
local cfg = gan.config.from_args({ root = "runs/health_demos", threads = gan.config.range(1, "[1, 1024]"),
   only = gan.config.optional("string", labels) }, arg or {})
gan.set_num_threads(cfg.threads)

local rows = { "| run | provoked | detector | warned at step | evidence |", "|---|---|---|---|---|" }
for _, d in ipairs(DEMOS) do
   local label, name, file, settings, what = table.unpack(d)
   if cfg.only == nil or cfg.only == label then
      local M = gan.models.get(name)
      local c = gan.config.resolve(M.defaults, { file = file, values = settings })
      c.train.threads, c.train.checkpoint_every, c.train.sample_every = cfg.threads, 500, 500
      c.run.root, c.run.name = cfg.root, label
      local dir, secs = gan.train.trial(M, c)
      local seen, n = {}, 0
      local f = io.open(dir .. "/health.jsonl", "rb")
      if f then
         for line in f:lines() do
            local w = require("cjson").decode(line)
            if not seen[w.detector] then
               seen[w.detector], n = true, n + 1
               rows[#rows + 1] = ("| %s | %s | %s | %d | %s |"):format(label, what, w.detector, w.step, w.message)
            end
         end
         f:close()
      end
      if n == 0 then rows[#rows + 1] = ("| %s | %s | none | - | no warning in %d steps |"):format(label, what, c.train.steps) end
      print(("%s: %d detector(s) fired (%.0f s); %s"):format(label, n, secs, dir))
   end
end
local text = table.concat(rows, "\n") .. "\n"
io.write(text)
local f = assert(io.open(cfg.root .. "/table.md", "wb"))
f:write(text)
f:close()
