--- Saturation made visible: the vanilla GAN on MNIST trained for its first steps twice,
-- with the minimax generator loss log(1 - D(G(z))) and with the non-saturating
-- -log D(G(z)), everything else equal (same seed, networks, data order). Early on D
-- rejects G's samples easily, D(G(z)) ~ 0, and the minimax loss's gradient vanishes
-- there; the non-saturating loss's does not. Logs grad_norm_g (the norm of the gradient
-- reaching G's parameters) every step and plots both curves (log10) into
-- <root>/saturation.png; prints the mean norms over the first steps and their ratio.
-- Then, to separate the loss from the training dynamics: G fixed at its initialisation,
-- D trained for d_steps to reject it, and after every D step the gradient each loss would
-- send to G on the same batch (<root>/saturation_fixed_g.png), with D(G(z)).
--
--     gan run experiments/saturation.lua                       # 200 steps each
--     gan run experiments/saturation.lua --set steps=1000
local gan = require("gan")

local range = gan.config.range
local cfg = gan.config.from_args({ steps = range(200, "[1, inf)"), d_steps = range(300, "[1, inf)"),
   seed = range(0, "[0, inf)"), threads = range(2, "[1, 1024]"), root = "runs/saturation" }, arg or {})
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

-- The same G at its initialisation against a D trained to reject its samples: after each
-- D update, both generator losses' gradients on the same batch (nothing updates G), with
-- D(G(z)), the probability D gives the fakes. This isolates what the loss does to the
-- gradient as D grows confident.
local c = gan.config.resolve(M.defaults, { values = { train = { seed = cfg.seed } } })
gan.manual_seed(cfg.seed)
local loader = gan.data.DataLoader(M.dataset(c), { batch_size = c.data.batch_size, generator = gan.Generator(cfg.seed + 7) })
local model = M.new(c)
local G, D, L = model.G, model.D, gan.losses
local z = model:latent(c.data.batch_size, gan.Generator(cfg.seed + 3))
local fake = gan.no_grad(G, z)
local probe, last = {}, nil
for step = 1, cfg.d_steps do
   local real = loader:next() or loader:next()
   model:update("d", function() return L.minimax_d(D(real.image), D(fake)) end)
   local function norm(loss_fn)
      local gs = gan.grad(loss_fn(D(G(z))), G:parameters())
      local sq = 0
      for _, g in ipairs(gs) do sq = sq + g:norm():item() ^ 2 end
      return math.sqrt(sq)
   end
   local mm, ns = norm(L.minimax_g), norm(L.nonsaturating_g)
   local p = gan.no_grad(function() return D(fake):sigmoid():double():mean():item() end)
   probe[step] = { step = step, minimax = math.log(mm, 10), nonsaturating = math.log(ns, 10) }
   last = { mm = mm, ns = ns, p = p }
   if step == 1 or step % 50 == 0 then
      print(("fixed G, D step %d: D(G(z)) %.2e, |grad G| minimax %.3g, non-saturating %.3g, ratio %.3g"):format(step,
         p, mm, ns, ns / mm))
   end
end
gan.image.save(cfg.root .. "/saturation_fixed_g.png", gan.plot.render(probe, { keys = { "minimax", "nonsaturating" },
   title = "log10 |gradient reaching G| as D learns to reject a fixed G" }))
print(("after %d D steps: D(G(z)) = %.2e, non-saturating / minimax gradient = %.3g x; plot in %s"):format(cfg.d_steps,
   last.p, last.ns / last.mm, cfg.root .. "/saturation_fixed_g.png"))
