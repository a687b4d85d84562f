-- Losses of one's own through the trainer (gan.losses.register): a registered loss sees
-- D's outputs on real and fake, D itself, the real batch and any inner layer's features
-- (forward hooks), so relativistic and feature-matching losses are a few lines; checked
-- against the built-in loss on the same step, by hand-computed values, and by gradients.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local nn, losses, F = gan.nn, gan.losses, gan.F

H.single_threaded(setup, teardown)

local MLP = gan.models.dcgan:extend { name = "mlp_custom", summary = "DCGAN's step on MLPs", paper = "test",
   defaults = { data = { batch_size = 8 }, train = { lr_g = 1e-2, lr_d = 1e-2, sample_every = 0, log_every = 1 } } }
function MLP:make_networks()
   return nn.Sequential { nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2) },
      nn.Sequential { nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1), nn.Flatten(1) }
end
function MLP:latent(n, g) return gan.randn({ n, 2 }, { generator = g }) end

local function build(loss)
   gan.manual_seed(1)
   local model = MLP.new(H.config(MLP, { train = { loss = loss, steps = 3 } }))
   local pts = gan.randn({ 32, 2 }, { generator = gan.Generator(2) }) * 0.5 + 1
   return model, H.loader({ image = pts }, 8, 3)
end

local function train(model, loader)
   local logs = {}
   gan.train.fit(model, { data = loader, hooks = { on_step = function(_, s, l) logs[s] = l end } })
   return logs
end

-- The relativistic average GAN (Jolicoeur-Martineau 2019).
local function ragan()
   local bce = function(x, t) return F.binary_cross_entropy_with_logits(x, x:detach() * 0 + t) end
   return {
      d = function(c) return bce(c.d_real - c.d_fake:mean(), 1) + bce(c.d_fake - c.d_real:mean(), 0) end,
      g = function(c) return bce(c.d_fake - c.d_real:mean(), 1) + bce(c.d_real - c.d_fake:mean(), 0) end,
   }
end

describe("gan.losses.register", function()
   it("a registered copy of the non-saturating loss trains exactly as the built-in one", function()
      local seen = {}
      losses.register("probe_ns", {
         d = function(c)
            seen.d = c
            return losses.minimax_d(c.d_real, c.d_fake)
         end,
         g = function(c)
            seen.g = c
            return losses.nonsaturating_g(c.d_fake)
         end,
      })
      local a, la = build("nonsaturating")
      local b, lb = build("probe_ns")
      local want, got = train(a, la), train(b, lb)
      for s = 1, 3 do
         assert.are.equal(want[s].loss_d, got[s].loss_d)
         assert.are.equal(want[s].loss_g, got[s].loss_g)
      end
      assert.are.equal(0, H.maxabs(a.G[1].weight - b.G[1].weight))
      -- what the contexts held
      assert.are.equal(8, seen.d.real:size(1))
      assert.are.equal(b.D, seen.d.D)
      assert.are.equal(3, seen.g.step)
      assert.are.equal(b.G, seen.g.G)
      assert.is_function(seen.g.features)
   end)

   it("the relativistic average loss in a few lines: values by hand, gradients reach G only through d_fake", function()
      losses.register("ragan_test", ragan())
      local model, loader = build("ragan_test")
      local real = H.batches(loader):next().image
      local z = model:latent(8, gan.Generator(5))
      local d_real, d_fake = model.D(real), model.D(model.G(z))
      local function sp(x) return math.log(1 + math.exp(x)) end   -- BCE with logits: target 1 -> sp(-x), 0 -> sp(x)
      local r, f = d_real:totable(), d_fake:totable()
      local mr, mf = 0, 0
      for i = 1, 8 do mr, mf = mr + r[i] / 8, mf + f[i] / 8 end
      local want_d, want_g = 0, 0
      for i = 1, 8 do
         want_d = want_d + (sp(-(r[i] - mf)) + sp(f[i] - mr)) / 8
         want_g = want_g + (sp(-(f[i] - mr)) + sp(r[i] - mf)) / 8
      end
      local c = { d_real = d_real, d_fake = d_fake }
      assert(math.abs(model.loss.d(c):item() - want_d) < 1e-5)
      assert(math.abs(model.loss.g(c):item() - want_g) < 1e-5)
      local logs = train(model, loader)
      assert(logs[3].loss_g == logs[3].loss_g and logs[3].grad_norm_g > 0, "G trained")
   end)

   it("feature matching: losses.features reads an inner layer of D through a forward hook", function()
      local model = build("nonsaturating")
      local D, x = model.D, gan.randn({ 4, 2 }, { generator = gan.Generator(7) })
      local want = D[2](D[1](x))
      local got = losses.features(D, x, D[2])
      assert.are.equal(0, H.maxabs(got - want))
      assert.is_nil(rawget(D[2], "_forward_hooks")[1], "the hook is removed afterwards")
      -- a feature-matching G loss (Salimans et al. 2016) has gradients in G
      losses.register("fm_test", {
         d = function(c) return losses.minimax_d(c.d_real, c.d_fake) end,
         g = function(c)
            local fr = c.features(c.real, c.D[2]):detach():mean(1)
            local ff = c.features(c.fake, c.D[2]):mean(1)
            return ((fr - ff) ^ 2):sum()
         end,
      })
      local m2, l2 = build("fm_test")
      local logs = train(m2, l2)
      assert(logs[1].grad_norm_g > 0 and logs[1].loss_g > 0)
      assert.has_error(function() losses.features(D, x, nn.Linear(2, 2)) end,
         "losses.features: the layer did not run in the network's forward")
   end)

   it("forward hooks see the output and may replace it; remove() unregisters", function()
      local lin = nn.Linear(2, 3)
      local x = gan.randn { 4, 2 }
      local seen
      local h = lin:register_forward_hook(function(m, out, input)
         seen = { m, input }
         return out * 0
      end)
      assert.are.equal(0, H.maxabs(lin(x)))
      assert.are.equal(lin, seen[1])
      assert.are.equal(x, seen[2])
      h.remove()
      assert(H.maxabs(lin(x)) > 0)
   end)

   it("names what is wrong: an unknown loss in a config, a bad registration", function()
      assert.has_error(function() build("nosuch") end,
         "values: train.loss: expected a loss of gan.losses: nonsaturating, minimax, lsgan, wgan, hinge or one "
            .. "registered with gan.losses.register, got 'nosuch'")
      assert.has_error(function() losses.register("x y", ragan()) end,
         "losses.register: the name must be letters, digits and _, got x y")
      assert.has_error(function() losses.register("half", { d = function() end }) end,
         "losses.register 'half': expected { d = function(c), g = function(c) }")
   end)
end)
