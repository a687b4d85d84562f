--- Saturation made visible: the vanilla GAN on MNIST trained for its first steps twice,
-- with the minimax generator loss log(1 - D(G(z))) and with the non-saturating
-- -log D(G(z)), everything else equal (same seed, networks, data order). Early on D
-- rejects G's samples easily, D(G(z)) ~ 0, and the minimax loss's gradient vanishes
-- there; the non-saturating loss's does not. Logs grad_norm_g (the norm of the gradient
-- reaching G's parameters) every step and plots both curves (log10) into
-- <root>/saturation.png; prints the mean norms over the first steps and their ratio.
--
--     gan run experiments/saturation.lua                       # 200 steps each
--     gan run experiments/saturation.lua --set steps=1000
local gan = require("gan")

local cfg = gan.config.from_args({ steps = 200, seed = 0, threads = 2, root = "runs/saturation" }, arg or {})
gan.set_num_threads(cfg.threads)
local M = gan.models.vanilla_gan

local curves, means = {}, {}
for _, loss in ipairs { "minimax", "nonsaturating" } do
   local c = gan.config.resolve(M.defaults, { values = { train = { loss = loss, steps = cfg.steps, seed = cfg.seed,
      log_every = 1, sample_every = 0, checkpoint_every = 0 } } })
   gan.manual_seed(cfg.seed)
   local loader = gan.data.DataLoader(M.dataset(c), { batch_size = c.data.batch_size,
      generator = gan.Generator(cfg.seed + 7) })
   local model = M.new(c)
   local sum, n = 0, 0
   gan.train.fit(model, { data = loader, hooks = { on_step = function(_, step, logs)
      curves[step] = curves[step] or { step = step }
      curves[step][loss] = math.log(logs.grad_norm_g, 10)
      curves[step]["d_fake_" .. loss] = logs.d_fake
      if step <= 50 then sum, n = sum + logs.grad_norm_g, n + 1 end
   end } })
   means[loss] = sum / n
   print(("%s: mean |grad G| over the first 50 steps %.4g"):format(loss, means[loss]))
end
print(("non-saturating / minimax: %.3g x"):format(means.nonsaturating / means.minimax))
os.execute(("mkdir -p '%s'"):format(cfg.root))
local img = gan.plot.render(curves, { keys = { "minimax", "nonsaturating" },
   title = "log10 |gradient reaching G|, vanilla GAN on MNIST" })
gan.image.save(cfg.root .. "/saturation.png", img)
print("plot in " .. cfg.root .. "/saturation.png")
