-- gan.models.dcgan's training step and its switches, on a variant with MLP networks on
-- 2-d points (as the classic objectives will extend it) and on the DCGAN networks at
-- 16x16: critic steps, lazy gradient penalties, weight clipping, the named losses and a
-- custom one, DiffAugment, EMA sheets, config errors, and exact resume with every random
-- stream at once; WGAN-GP as DCGAN with other defaults.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local nn = gan.nn

H.single_threaded(setup, teardown)

-- DCGAN's step with MLPs on 2-d points; D is given by the test (nil: an MLP with dropout).
local MLP = gan.models.dcgan:extend { name = "mlp_gan", summary = "DCGAN's step on MLPs", paper = "test",
   defaults = { data = { batch_size = 8 }, train = { lr_g = 1e-2, lr_d = 1e-2, sample_every = 0 } } }
local next_D
function MLP:make_networks()
   local D = next_D or nn.Sequential { nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Dropout(0.2), nn.Linear(16, 1),
      nn.Flatten(1) }
   next_D = nil
   return nn.Sequential { nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2) }, D
end
function MLP:latent(n, g) return gan.randn({ n, 2 }, { generator = g }) end

-- 32 points in batches of 8 (4 batches per epoch); D as given.
local function build(train, D)
   gan.manual_seed(1)
   next_D = D
   local model = MLP.new(H.config(MLP, { train = train }))
   local pts = gan.randn({ 32, 2 }, { generator = gan.Generator(2) }) * 0.5 + 1
   return model, H.loader({ image = pts }, 8, 3)
end

local function logs_of(model, loader)
   local logs = {}
   gan.train.fit(model, { data = loader, hooks = { on_step = function(_, step, l) logs[step] = l end } })
   return logs
end

-- Wraps obj:method to record calls in `log` (as `tag`) before calling through.
local function spy(obj, method, log, tag)
   local orig = obj[method]
   obj[method] = function(self, ...)
      log[#log + 1] = tag
      return orig(self, ...)
   end
end

describe("gan.models.dcgan's step", function()
   it("n_critic = 5: five discriminator updates on five batches per generator update", function()
      local model, loader = build { n_critic = 5, steps = 3 }
      local events = {}
      spy(model.optimizers.d.opt, "step", events, "d")
      spy(model.optimizers.g.opt, "step", events, "g")
      local next_batch = loader.next
      loader.next = function(self)
         local b = next_batch(self)
         if b then events[#events + 1] = "batch" end
         return b
      end
      gan.train.fit(model, { data = loader })
      local want = {}
      for _ = 1, 3 do
         for _ = 1, 5 do want[#want + 1] = "batch"; want[#want + 1] = "d" end
         want[#want + 1] = "g"
      end
      assert.are.same(want, events)
   end)

   it("gp every k steps: weight * k (||w|| - 1)^2 for a linear critic, in the logged loss", function()
      local D = nn.Sequential { nn.Linear(2, 1), nn.Flatten(1) }
      local model, loader = build({ loss = "wgan", gp = 10.0, gp_every = 3, steps = 7 }, D)
      local w_at = {}
      local orig = model.optimizers.d.opt.step
      model.optimizers.d.opt.step = function(self)
         w_at[#w_at + 1] = D[1].weight:detach():double():norm():item()
         return orig(self)
      end
      local logs = logs_of(model, loader)
      for step = 1, 7 do
         local l = logs[step]
         if step % 3 == 0 then
            local nw = w_at[step]
            assert(math.abs(l.gp - 30 * (nw - 1) ^ 2) < 1e-5 * math.max(1, l.gp), ("step %d: gp %g"):format(step, l.gp))
            assert(math.abs(l.grad_norm_xhat - nw) < 1e-5)
            assert(math.abs(l.loss_d - (l.d_fake - l.d_real + l.gp)) < 1e-4 * math.max(1, math.abs(l.loss_d)))
         else
            assert.is_nil(l.gp, "no gp at step " .. step)
            assert(math.abs(l.loss_d - (l.d_fake - l.d_real)) < 1e-5 * math.max(1, math.abs(l.loss_d)))
         end
      end
   end)

   it("lazy penalties apply on every critic update of their steps (gp and r1), weights times k", function()
      local P = gan.penalties
      local orig_gp, orig_r1 = P.gradient_penalty, P.r1
      local calls = {}
      P.gradient_penalty = function(D, real, fake, o)
         calls[#calls + 1] = { "gp", o.weight }
         return orig_gp(D, real, fake, o)
      end
      P.r1 = function(D, real, o)
         calls[#calls + 1] = { "r1", o.weight }
         return orig_r1(D, real, o)
      end
      local ok, err = pcall(function()
         local model, loader = build({ n_critic = 2, gp = 10.0, gp_every = 3, r1 = 2.0, r1_every = 2, steps = 6 },
            nn.Sequential { nn.Linear(2, 1), nn.Flatten(1) })
         local logs = logs_of(model, loader)
         assert.are.same({ { "r1", 4 }, { "r1", 4 }, { "gp", 30 }, { "gp", 30 }, { "r1", 4 }, { "r1", 4 },
            { "gp", 30 }, { "r1", 4 }, { "gp", 30 }, { "r1", 4 } }, calls)
         for step = 1, 6 do
            assert.are.equal(step % 2 == 0, logs[step].r1 ~= nil)
            assert.are.equal(step % 3 == 0, logs[step].gp ~= nil)
         end
      end)
      P.gradient_penalty, P.r1 = orig_gp, orig_r1
      assert(ok, err)
   end)

   it("clip clamps every discriminator parameter after each discriminator update", function()
      local c = 0.01
      local model, loader = build { clip = c, n_critic = 3, steps = 4, loss = "wgan", lr_d = 5.0 }
      local calls = 0
      local orig = model.optimizers.d.opt.step
      model.optimizers.d.opt.step = function(self)
         calls = calls + 1
         if calls > 1 then
            for _, p in ipairs(model.D:parameters()) do assert(H.maxabs(p) <= c + 1e-9, "unclipped before D step " .. calls) end
         end
         return orig(self)
      end
      local before = 0
      for _, p in ipairs(model.D:parameters()) do before = math.max(before, H.maxabs(p)) end
      assert(before > c, "the initial weights exceed the clip value")
      gan.train.fit(model, { data = loader })
      assert.are.equal(12, calls)
      for _, p in ipairs(model.D:parameters()) do assert(H.maxabs(p) <= c + 1e-9) end
   end)

   it("trains with every named loss and label tricks; a model may set its own loss pair", function()
      for _, name in ipairs { "nonsaturating", "minimax", "lsgan", "wgan", "hinge" } do
         local model, loader = build { loss = name, steps = 2, label_smoothing = 0.1, label_flip = 0.05,
            instance_noise = 0.1, instance_noise_steps = 2, pool = 4 }
         local l = logs_of(model, loader)[2]
         assert(l.loss_d == l.loss_d and l.loss_g == l.loss_g, name)
      end
      -- a custom pair: extend the model and set self.loss after the parent's build
      local Custom = MLP:extend { name = "custom_loss", summary = "s", paper = "p" }
      local seen = {}
      function Custom:build(cfg)
         MLP.build(self, cfg)
         self.loss = { d = function(r, f, o) seen.opts = o; return f:mean() - r:mean() end,
            g = function(f) seen.g = true; return -f:mean() end }
      end
      gan.manual_seed(1)
      local model = Custom.new(H.config(Custom, { train = { steps = 2, label_smoothing = 0.2 } }))
      gan.train.fit(model, { data = H.loader({ image = gan.randn { 16, 2 } }, 8, 1) })
      assert.is_true(seen.g)
      assert.are.equal(0.2, seen.opts.smoothing)
   end)

   it("augment: D sees shifted and cut images (real, fake, and in G's update, with gradients through)", function()
      gan.manual_seed(6)
      local seen = {}
      local D = nn.Sequential { nn.Flatten(), nn.Linear(36, 1), nn.Flatten(1) }
      local forward = D.forward
      D.forward = function(self, x)
         seen[#seen + 1] = { min = x:detach():min():item(), grad = x.requires_grad }
         return forward(self, x)
      end
      local Img = MLP:extend { name = "img_gan", summary = "s", paper = "p" }
      function Img:make_networks() return nn.Sequential { nn.Linear(2, 36), nn.Tanh(), nn.Unflatten(2, { 1, 6, 6 }) }, D end
      local model = Img.new(H.config(Img, { train = { steps = 3, augment_shift = 2, augment_cutout = 2,
         augment_fill = -1.0 } }))
      local before = model.G[1].weight:detach():clone()
      -- 6x6 images that are all +1: any -1 pixel D sees is border fill or cutout
      gan.train.fit(model, { data = H.loader({ image = gan.ones { 16, 1, 6, 6 } }, 8, 1) })
      assert.are.equal(9, #seen)                  -- per step: real, fake, then G's update
      for i = 1, 9, 3 do
         assert.are.equal(-1, seen[i].min)        -- the real images were shifted / cut
         assert.is_true(seen[i + 2].grad)         -- G's update carries gradients through
      end
      assert(H.maxabs(model.G[1].weight - before) > 0, "G was updated")
      assert.has_error(function() Img.new(H.config(Img, { train = { augment_shift = -1 } })) end,
         "values: train.augment_shift: expected an integer in [0, inf), got -1")
   end)

   it("samples 64 images from the EMA generator with standing statistics; refuses a bad config", function()
      local dc = gan.models.dcgan
      gan.manual_seed(0)
      local cfg = H.config(dc, { model = { nz = 8, ngf = 4, ndf = 4 }, data = { image_size = 16 },
         train = { ema = 0.9, steps = 2 } })
      local model = dc.new(cfg)
      local x = gan.randn({ 16, 1, 16, 16 }, { generator = gan.Generator(1) }):tanh()
      gan.train.fit(model, { data = H.loader({ image = x }, 8, 2) })
      local imgs, o = model:sample()
      assert.are.same({ 64, 1, 16, 16 }, imgs:size())
      assert.are.equal(8, o.nrow)
      local E = model.ema.G.model
      local want = gan.no_grad(function() return E(model:fixed_latent(64)) end)   -- E is in eval mode
      assert.are.equal(0, H.maxabs(imgs - want))
      assert.is_true(model.G.training)
      assert.has_error(function() dc.new(H.config(dc, { train = { loss = "bogus" } })) end,
         "values: train.loss: expected a loss of gan.losses: nonsaturating, minimax, lsgan, wgan, hinge or one "
            .. "registered with gan.losses.register, got 'bogus'")
      assert.has_error(function() dc.new(H.config(dc, { train = { decay_start = 700 } })) end,
         "dcgan: train.decay_start must be between 0 and train.steps (600), got 700")
      assert.has_error(function() dc.new(H.config(dc, { model = { d_norm = "group" } })) end,
         "values: model.d_norm: expected one of 'batch', 'layer', 'none', got 'group'")
   end)

   it("resumes exactly with every random stream at once", function()
      -- dropout in D (default generator), the pool's generator, noisy labels, instance noise
      -- and gp mixing (the model's generator), the loader's order, a decaying lr, an EMA
      H.resumes_exactly(function()
         return build { loss = "lsgan", n_critic = 2, gp = 1.0, gp_every = 2, pool = 6, ema = 0.9, label_flip = 0.1,
            label_smoothing = 0.1, instance_noise = 0.2, instance_noise_steps = 25, decay_start = 5, steps = 30,
            log_every = 1, checkpoint_every = 10 }
      end, 30, 24)
   end)
end)

describe("gan.models.wgan_gp", function()
   it("is DCGAN with the paper's defaults and a critic without batch norm", function()
      local W = gan.models.wgan_gp
      local cfg = H.config(W)
      assert.are.equal("wgan_gp", cfg.model.name)
      assert.are.equal("none", cfg.model.d_norm)
      assert.are.equal("wgan", cfg.train.loss)
      assert.are.equal(5, cfg.train.n_critic)
      assert.are.equal(10.0, cfg.train.gp)
      assert.are.same({ 1e-4, 1e-4, 0.0, 0.9 }, { cfg.train.lr_g, cfg.train.lr_d, cfg.train.beta1, cfg.train.beta2 })
      assert.are.equal(gan.models.dcgan.train_step, W.train_step)
      local model = W.new(H.config(W, { model = { ngf = 4, ndf = 4 } }))
      for _, m in model.D:named_modules() do
         assert.are_not.equal("BatchNorm2d", getmetatable(m).__name)
      end
   end)
end)
