-- The training health monitor (gan.train.health) and the lectures' remaining hacks as
-- loop options: each detector fires on a synthetic trace holding its failure, once per
-- episode, and stays silent on a healthy trace recorded from a real DCGAN run; NaN and
-- Inf stop the run at the update site with the tensor's name and the last good
-- checkpoint; --strict-health stops on a warning; experience replay of D snapshots and
-- another optimizer for D.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local health = require("gan.train.health")
local nn, optim = gan.nn, gan.optim

H.single_threaded(setup, teardown)

local KEYS = { d_loss = { "loss_d" }, g_grad = { "grad_norm_g" } }

-- A monitor with the default thresholds (over `cfg`) that records its warnings.
local function monitor(cfg)
   return health.Monitor(cfg, KEYS)
end

-- A healthy-looking step: D's loss around 0.6, G's gradient norm around 30 (deterministic wiggle).
local function healthy(step)
   return { loss_d = 0.6 + 0.2 * math.sin(step / 7), grad_norm_g = 30 * (1 + 0.3 * math.sin(step / 5)) }
end

describe("the D-wins detector", function()
   it("fires once, d_window steps after D's loss fell below d_loss, and again only after recovering", function()
      local m = monitor()
      for s = 1, 3000 do
         local l = healthy(s)
         if (s >= 1000 and s < 1500) or s >= 2000 then l.loss_d = 0.01 end
         m:observe(s, l)
      end
      assert.are.equal(2, #m.warnings)
      assert.are.same({ 1200, "d_wins", "loss_d" }, { m.warnings[1].step, m.warnings[1].detector, m.warnings[1].key })
      assert.matches("below 0.05 since step 1000", m.warnings[1].message)
      assert.are.equal(2200, m.warnings[2].step)
   end)

   it("is silent when the low stretch is shorter than the window, and on a logged trace every 10 steps", function()
      local m = monitor()
      for s = 1, 3000 do
         local l = healthy(s)
         if s % 400 < 150 then l.loss_d = 0.01 end   -- dips of 150 steps
         m:observe(s, l)
      end
      assert.are.equal(0, #m.warnings)
      local k = monitor()
      for s = 10, 3000, 10 do k:observe(s, { loss_d = s > 1000 and 0.001 or 0.7 }) end
      assert.are.equal(1, #k.warnings)
      assert.are.equal(1210, k.warnings[1].step)
   end)
end)

describe("the generator-gradient detector", function()
   it("fires when grad_norm_g stays 100x below its running median for grad_patience steps", function()
      local m = monitor()
      for s = 1, 2000 do
         local l = healthy(s)
         if s > 1000 then l.grad_norm_g = l.grad_norm_g * 1e-3 end
         m:observe(s, l)
      end
      assert.are.equal(1, #m.warnings)
      local w = m.warnings[1]
      assert.are.same({ 1051, "g_grad" }, { w.step, w.detector })
      assert.matches("vanish", w.message)
      assert.matches("since step 1001", w.message)
   end)

   it("fires on an explosion; one spike, or a slow drift of the norm, does not fire", function()
      local m = monitor()
      for s = 1, 2000 do
         local l = healthy(s)
         if s > 1500 then l.grad_norm_g = 1e5 end
         if s == 700 then l.grad_norm_g = 1e6 end   -- a single spike
         m:observe(s, l)
      end
      assert.are.equal(1, #m.warnings)
      assert.matches("explode", m.warnings[1].message)
      assert.are.equal(1551, m.warnings[1].step)
      local d = monitor()   -- the norm falls 1000x over 5000 steps: the median follows it
      for s = 1, 5000 do d:observe(s, { grad_norm_g = 30 * 10 ^ (-3 * s / 5000) }) end
      assert.are.equal(0, #d.warnings)
   end)
end)

describe("the collapse detector", function()
   it("signals diversity as the ratio to a real batch; copies of one sample give 0", function()
      local real = gan.randn({ 32, 2 }, { generator = gan.Generator(1) })
      local same = real:narrow(1, 1, 1):expand { 32, 2 }:contiguous()
      assert.are.equal(0, health.collapse_signals(same, real).health_diversity)
      local half = health.collapse_signals(real * 0.5, real).health_diversity
      assert(math.abs(half - 0.5) < 1e-6)
   end)

   it("class share and entropy come from the classifier's argmax classes", function()
      local clf = gan.metrics.Classifier { in_nc = 1, image_size = 32, n_classes = 10 }
      clf:eval()
      local imgs = gan.rand({ 20, 1, 32, 32 }, { generator = gan.Generator(2) }) * 2 - 1
      local _, probs = gan.metrics.features(clf, imgs)
      probs = probs:totable()
      local counts = {}
      for i = 1, 20 do
         local best, arg = -1, nil
         for c = 1, 10 do
            local p = probs[i][c]
            if p > best then best, arg = p, c end
         end
         counts[arg] = (counts[arg] or 0) + 1
      end
      local share, entropy = 0, 0
      for _, n in pairs(counts) do
         share = math.max(share, n / 20)
         entropy = entropy - n / 20 * math.log(n / 20)
      end
      local s = health.collapse_signals(imgs, imgs, clf)
      assert(math.abs(s.health_class_share - share) < 1e-12)
      assert(math.abs(s.health_class_entropy - entropy) < 1e-12)
      assert(math.abs(s.health_diversity - 1) < 1e-9)
   end)

   it("judges the signals from collapse_after on, once per episode", function()
      local m = monitor { collapse_after = 1000 }
      m:observe(500, { health_diversity = 0.05, health_class_share = 0.9 })
      assert.are.equal(0, #m.warnings)
      m:observe(1000, { health_diversity = 0.8, health_class_share = 0.2 })
      m:observe(1500, { health_diversity = 0.1, health_class_share = 0.3 })
      m:observe(2000, { health_diversity = 0.1, health_class_share = 0.7 })
      m:observe(2500, { health_diversity = 0.1, health_class_share = 0.7 })
      assert.are.equal(2, #m.warnings)
      assert.are.same({ 1500, "health_diversity" }, { m.warnings[1].step, m.warnings[1].key })
      assert.are.same({ 2000, "health_class_share" }, { m.warnings[2].step, m.warnings[2].key })
      assert.matches("70%% of the samples fall in one class", m.warnings[2].message)
   end)
end)

describe("a healthy trace of a real DCGAN run", function()
   it("raises no warning over its whole metrics.jsonl", function()
      local path = H.root .. "/tests/fixtures/dcgan_healthy_metrics.jsonl"
      local dcgan = gan.models.get("dcgan")
      local keys = dcgan.health_keys(setmetatable({ cfg = { train = { loss = "nonsaturating" } },
         optimizers = { g = true, d = true } }, dcgan))
      assert.are.same({ "loss_d" }, keys.d_loss)
      local n = 0
      for _ in io.lines(path) do n = n + 1 end
      assert(n >= 300, "the fixture is a whole run")
      assert.are.same({}, health.replay(path, nil, keys))
      -- the same trace with D's loss pinned near 0 from its middle on does warn
      local tmp = os.tmpname()
      local out, i = assert(io.open(tmp, "w")), 0
      for line in io.lines(path) do
         i = i + 1
         if i > n // 2 then line = line:gsub('"loss_d": [^,}]+', '"loss_d": 0.001') end
         out:write(line, "\n")
      end
      out:close()
      local w = health.replay(tmp, nil, keys)
      os.remove(tmp)
      assert.are.equal(1, #w)
      assert.are.equal("d_wins", w[1].detector)
   end)
end)

-- ---------------------------------------------------------------- in the loop

-- A toy GAN on 2-d points: G and D linear; `nan_at` makes D's loss NaN at that step,
-- `inf_grad_at` gives G's parameter an infinite gradient (d sqrt(w)/dw at w = 0) while
-- the loss stays finite.
local Toy = gan.train.model {
   name = "toy_health", summary = "a linear GAN on 2-d points", paper = "none",
   health = { d_loss = { "loss_d" } },
   defaults = {
      data = { batch_size = 8 },
      train = { steps = 10, log_every = 1, sample_every = 0, checkpoint_every = 2, nan_at = 0, inf_grad_at = 0,
         lr = 0.05 },
   },
}
function Toy:build(cfg)
   gan.manual_seed(3)
   self:network("G", nn.Linear(2, 2))
   self:network("D", nn.Linear(2, 1))
   self:optimizer("g", optim.Adam(self.G:parameters(), { lr = cfg.train.lr }))
   self:optimizer("d", optim.Adam(self.D:parameters(), { lr = cfg.train.lr }))
end
function Toy:latent(n, g) return gan.randn({ n, 2 }, { generator = g }) end
function Toy:train_step(data, step)
   local t = self.cfg.train
   local real = data:next().image
   local fake = gan.no_grad(self.G, self:latent(real:size(1), self.rng))
   local seen = {}
   local loss_d = self:update("d", function()
      seen.D = self.D.weight:detach():clone()
      local l = gan.losses.nonsaturating_d(self.D(real), self.D(fake))
      if step == t.nan_at then l = l * (0 / 0) end
      return l
   end)
   local loss_g = self:update("g", function()
      local l = gan.losses.nonsaturating_g(self.D(self.G(self:latent(real:size(1), self.rng))))
      if step == t.inf_grad_at then l = l + (self.G.bias * 0):abs():sqrt():sum() end
      return l
   end, { freeze = self.D })
   self.seen_D = seen.D
   return { loss_d = loss_d:item(), loss_g = loss_g:item() }
end

local function points(n, seed) return gan.randn({ n, 2 }, { generator = gan.Generator(seed) }) + 2 end
local function build(values)
   local cfg = H.config(Toy, values)
   return Toy.new(cfg), H.loader({ image = points(32, 1) }, 8, 2)
end

describe("NaN or Inf at the update site", function()
   it("stops the run at once, naming the step, the loss, and the last good checkpoint, which stays intact", function()
      local dir = H.tmpdir()
      local run = gan.run.new { experiment = "x", name = "nan", root = dir, config = {} }
      local model, loader = build { train = { nan_at = 5 } }
      local ok, err = pcall(gan.train.fit, model, { data = loader, run = run, progress = false })
      assert.is_false(ok)
      local ckpt = run.dir .. "/checkpoints/step_000004.safetensors"
      assert.are.equal(("step 5, update 'd': the loss is nan; the run stops before the weights change. "
         .. "The last good checkpoint is %s"):format(ckpt):gsub("%-nan", "nan"), err:gsub("%-nan", "nan"))
      assert.is_false(H.exists(run.dir .. "/checkpoints/step_000006.safetensors"))
      local fresh = build {}
      local extra = gan.load_checkpoint(ckpt, { G = fresh.G, D = fresh.D })
      assert.are.equal(4, extra.step)
      local v = H.maxabs(fresh.D.weight)
      assert(v == v and v < math.huge, "the checkpoint's weights are finite")
      -- the weights the failing step saw are the checkpoint's (the run stopped before changing them)
      run:close()
      H.rm_rf(dir)
   end)

   it("names the parameter whose gradient is not finite", function()
      local model, loader = build { train = { inf_grad_at = 3 } }
      assert.has_error(function() gan.train.fit(model, { data = loader, progress = false }) end,
         "step 3, update 'g': the gradient of G.bias holds NaN or Inf; the run stops before the weights change. "
            .. "No checkpoint was written yet")
      local v = H.maxabs(model.G.bias)
      assert(v == v and v < math.huge, "G's weights stayed finite")
   end)
end)

describe("the monitor in the loop", function()
   it("warns once with the step on the progress line and in health.jsonl; --strict-health stops", function()
      local dir = H.tmpdir()
      -- lr 0 for G and a strong D: D's loss falls below 0.05 and stays there
      local function go(strict)
         local run = gan.run.new { experiment = "x", name = strict and "strict" or "warn", root = dir, config = {} }
         local model = build { train = { steps = 120, lr = 0.5, checkpoint_every = 20 },
            health = { d_window = 20, strict = strict, collapse_every = 0 } }
         local loader = H.loader({ image = points(32, 1) + 20 }, 8, 2)   -- far from G's points
         model.optimizers.g.opt.param_groups[1].lr = 0
         local ok, err = pcall(gan.train.fit, model, { data = loader, run = run, progress = false })
         run:close()
         return ok, err, run.dir
      end
      local ok, _, rdir = go(false)
      assert.is_true(ok)
      local lines = {}
      for l in io.lines(rdir .. "/health.jsonl") do lines[#lines + 1] = require("cjson").decode(l) end
      assert.are.equal(1, #lines)
      assert.are.equal("d_wins", lines[1].detector)
      local at = lines[1].step
      local ok2, err2 = go(true)
      assert.is_false(ok2)
      assert.matches(("^health warning at step %d: D wins"):format(at), err2)
      assert.matches("health.strict %(%-%-strict%-health%) stops the run; the last checkpoint is .*step_0000%d0", err2)
      H.rm_rf(dir)
   end)

   it("Progress:note writes the warning on a line of its own", function()
      local out = {}
      local p = gan.run.Progress { total = 10, tty = false, every = 5,
         out = { write = function(_, ...) for _, s in ipairs { ... } do out[#out + 1] = s end end, flush = function() end } }
      p:update(5, {})
      p:note("health warning at step 5: x")
      assert.are.equal("health warning at step 5: x\n", table.concat(out):match("[^\n]*\n$"))
   end)

   it("logs the collapse signals and resumes its streaks exactly", function()
      local function b() return build { train = { steps = 40, checkpoint_every = 10 },
         health = { collapse_every = 5, collapse_after = 0, diversity = 0, d_window = 15 } } end
      local log = H.resumes_exactly(b, 40, 20)
      assert.matches('"health_diversity": ', log)
   end)
end)

describe("experience replay of D snapshots", function()
   it("on the replay steps the snapshot stands in for D; after each, D's own weights are back", function()
      local model, loader = build { train = { steps = 13, replay_every = 4, replay_keep = 2, replay_steps = 2 } }
      local Ds, seen, swapped = {}, {}, {}
      gan.train.fit(model, { data = loader, progress = false, hooks = { on_step = function(m, s, logs)
         Ds[s] = m.D.weight:detach():clone()
         seen[s] = m.seen_D
         swapped[s] = logs.replay
      end } })
      -- snapshots at steps 5, 9, 13 (of D after steps 4, 8, 12); a ring of 2
      assert.are.same({ [9] = 1, [10] = 1, [13] = 1 }, swapped)
      assert.are.equal(0, H.maxabs(seen[9] - Ds[4]), "step 9 trains against the snapshot of D after step 4")
      assert.are.equal(0, H.maxabs(seen[10] - Ds[4]), "so does step 10 (the snapshot as it was taken)")
      assert.are.equal(0, H.maxabs(Ds[10] - Ds[8]), "D's own weights are back, the swapped steps' updates dropped")
      assert(H.maxabs(seen[11] - Ds[8]) == 0 and H.maxabs(Ds[11] - Ds[10]) > 0, "step 11 trains D itself")
      assert.are.equal(0, H.maxabs(seen[13] - Ds[8]), "step 13: the only older snapshot in the ring, step 9's")
      assert.are.equal(0, H.maxabs(model.D.weight - Ds[12]), "D is its own when fit returns")
   end)

   it("resumes exactly, also from a checkpoint inside a swap", function()
      H.resumes_exactly(function() return build { train = { steps = 30, replay_every = 4, replay_keep = 3,
         replay_steps = 2, checkpoint_every = 1 } } end, 30, 9)
   end)

   it("names a wrong network or setting", function()
      local model, loader = build { train = { replay_every = 2, replay_network = "E" } }
      assert.has_error(function() gan.train.fit(model, { data = loader, progress = false }) end,
         "train.replay_network: toy_health has no network 'E' (its networks: G, D)")
      assert.has_error(function() build { train = { replay_every = 2, replay_keep = 0 } } end,
         "values: train.replay_keep: expected an integer in [1, inf), got 0")
   end)
end)

describe("another optimizer for D or G (train.optimizer_d / optimizer_g)", function()
   it("SGD for D at the model's learning rate: one step moves D by lr times its gradient", function()
      local model, loader = build { train = { optimizer_d = "sgd", lr = 0.1 } }
      local opt = model.optimizers.d.opt
      assert.are.equal("SGD", opt.name)
      assert.are.equal("Adam", model.optimizers.g.opt.name)
      local w0 = model.D.weight:detach():clone()
      local real = H.batches(loader):next().image
      local fake = gan.no_grad(model.G, model:latent(8, gan.Generator(0)))
      local want
      model:update("d", function()
         local l = gan.losses.nonsaturating_d(model.D(real), model.D(fake))
         return l
      end)
      want = w0 - model.D.weight.grad * 0.1
      assert(H.maxabs(model.D.weight - want) < 1e-7)
   end)

   it("a schedule of the replaced optimizer steps the new one; bad names are errors naming the key", function()
      local Sched = Toy:extend { name = "toy_sched", summary = "s", paper = "none" }
      function Sched:build(cfg)
         Toy.build(self, cfg)
         self.optimizers.d = nil
         self._order.optimizers = { "g" }
         local o = optim.Adam(self.D:parameters(), { lr = 1.0 })
         self:optimizer("d", o, { scheduler = optim.lr_scheduler.ExponentialLR(o, { gamma = 0.5 }) })
      end
      local m, loader = (function()
         local cfg = H.config(Sched, { train = { optimizer_d = "rmsprop", steps = 2 } })
         return Sched.new(cfg), H.loader({ image = points(32, 1) }, 8, 2)
      end)()
      gan.train.fit(m, { data = loader, progress = false })
      assert.are.equal("RMSprop", m.optimizers.d.opt.name)
      assert.are.equal(0.25, m.optimizers.d.opt.param_groups[1].lr)
      assert.has_error(function() build { train = { optimizer_d = "lbfgs" } } end,
         "values: train.optimizer_d: expected one of 'sgd', 'adam', 'rmsprop', got 'lbfgs'")
      assert.has_error(function() build { health = { diversity = 2 } } end,
         "values: health.diversity: expected a number in [0, 1], got 2.0")
      local One = gan.train.model { name = "one", summary = "s", paper = "none" }
      function One:build() self:network("G", nn.Linear(1, 1)); self:optimizer("g", optim.SGD(self.G:parameters(), { lr = 1 })) end
      assert.has_error(function() One.new(H.config(One, { train = { optimizer_d = "sgd" } })) end,
         "train.optimizer_d: one has no optimizer 'd' (its optimizers: g)")
   end)
end)
