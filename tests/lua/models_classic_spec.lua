-- The classic objectives (vanilla GAN, cGAN, LSGAN, WGAN, EBGAN, BEGAN, unrolled GAN) on
-- the training loop: each model's step and logs on tiny networks, the pull-away term and
-- BEGAN's balance against hand computations, the unrolled generator gradient against
-- finite differences through the unrolled Adam updates, the 2-d toy data and the mode
-- statistics on hand-made point sets, and the Parzen estimate against a closed form.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local nn = gan.nn
local models = gan.models

H.single_threaded(setup, teardown)

-- A model of class M with `values` over its defaults (3 steps), and a loader of 16 random
-- 32x32 digits-shaped images with labels.
local function tiny(M, values)
   values = values or {}
   values.train = values.train or {}
   values.train.steps = values.train.steps or 3
   values.data = values.data or {}
   values.data.batch_size = 8
   return H.tiny_model(M, values)
end

local function last_logs(model, loader)
   local last
   gan.train.fit(model, { data = loader, hooks = { on_step = function(_, _, l) last = l end } })
   return last
end

describe("the classic objectives on the loop", function()
   it("every one trains a few steps, logs its terms, draws a sheet and resumes exactly", function()
      local cases = {
         { models.vanilla_gan, { model = { g_hidden = 32, d_hidden = 16 } }, { "loss_d", "loss_g", "d_real" } },
         { models.cgan, {}, { "loss_d", "loss_g", "d_fake" } },
         { models.lsgan, { model = { ngf = 4, ndf = 4 } }, { "loss_d", "loss_g" } },
         { models.wgan, { model = { ngf = 4, ndf = 4 } }, { "loss_d", "loss_g" } },
         { models.ebgan, { model = { ngf = 4, ndf = 4 } }, { "e_real", "e_fake", "pullaway" } },
         { models.began, { model = { n = 4, h = 8, nz = 8 } }, { "l_real", "l_fake", "k", "m_global" } },
         { models.unrolled_gan, { model = { g_hidden = 32, d_hidden = 16 }, train = { unroll = 2 } }, { "loss_g" } },
      }
      for _, c in ipairs(cases) do
         local M = c[1]
         local model, loader = tiny(M, c[2])
         local logs = last_logs(model, loader)
         for _, k in ipairs(c[3]) do assert.is_number(logs[k], M.name .. ": " .. k) end
         assert(logs.grad_norm_g > 0 and logs.grad_norm_d > 0, M.name)
         local imgs = model:sample()
         assert.are.same({ 1, 32, 32 }, { imgs:size(2), imgs:size(3), imgs:size(4) }, M.name)
         H.resumes_exactly(function()
            local v = c[2]
            v.train = v.train or {}
            v.train.steps, v.train.log_every, v.train.checkpoint_every, v.train.sample_every = 4, 1, 2, 0
            return tiny(M, v)
         end, 4, 3)
      end
   end)

   it("WGAN clamps the critic to [-0.01, 0.01] and steps RMSprop; LSGAN without batch norm in G has none", function()
      local model, loader = tiny(models.wgan, { model = { ngf = 4, ndf = 4 } })
      assert.are.equal("RMSprop", model.optimizers.d.opt.name)
      assert.are.equal(0.01, model.optimizers.d.clip_weights)
      gan.train.fit(model, { data = loader })
      for _, p in ipairs(model.D:parameters()) do assert(H.maxabs(p) <= 0.01 + 1e-9) end
      local ls = tiny(models.lsgan, { model = { ngf = 4, ndf = 4, g_norm = "none" } })
      for _, m in ls.G:named_modules() do assert.are_not.equal("BatchNorm2d", getmetatable(m).__name) end
      assert.are.equal(gan.losses.lsgan_d, ls.loss.d)
   end)

   it("cGAN conditions both networks: other labels, other images; one sheet row per class", function()
      local model = tiny(models.cgan)
      local z = gan.randn { 1, 100 }
      local a = models.cgan.run_eval(model.G, z, gan.tensor({ 1 }, { dtype = "int64" }))
      local b = models.cgan.run_eval(model.G, z, gan.tensor({ 7 }, { dtype = "int64" }))
      assert(H.maxabs(a - b) > 1e-4)
      local x = gan.rand { 2, 1, 32, 32 }
      model.D:eval()
      local da = model.D(x, gan.tensor({ 1, 1 }, { dtype = "int64" }))
      local db = model.D(x, gan.tensor({ 2, 2 }, { dtype = "int64" }))
      assert(H.maxabs(da - db) > 1e-6, "D sees the label")
      local imgs, o = model:sample()
      assert.are.same({ 100, 1, 32, 32 }, imgs:size())
      assert.are.equal(10, o.nrow)
   end)

   it("BEGAN: k follows k + lambda_k (gamma L(x) - L(G(z))) clamped to [0, 1], M by its formula", function()
      local model, loader = tiny(models.began, { model = { n = 4, h = 8, nz = 8 }, train = { gamma = 0.7, lambda_k = 0.5 } })
      local k = 0
      gan.train.fit(model, { data = loader, hooks = { on_step = function(m, _, l)
         assert.are.equal(k, l.k)   -- the value the step used
         k = math.min(1, math.max(0, k + 0.5 * (0.7 * l.l_real - l.l_fake)))
         assert(math.abs(m.balance.k - k) < 1e-12)
         assert(math.abs(l.m_global - (l.l_real + math.abs(0.7 * l.l_real - l.l_fake))) < 1e-6)
         assert(math.abs(l.loss_d - (l.l_real - l.k * l.l_fake)) < 1e-5)
      end } })
      assert(k > 0, "the balance moved")
   end)
end)

describe("the pull-away term", function()
   it("is the mean squared cosine similarity of distinct pairs (hand computation), 0 when orthogonal", function()
      local s = gan.tensor({ { 1, 0, 0 }, { 1, 1, 0 }, { 0, 2, 1 } }, { dtype = "float64" })
      local rows = s:totable()
      local function cos(a, b)
         local d, na, nb = 0, 0, 0
         for i = 1, 3 do d, na, nb = d + a[i] * b[i], na + a[i] ^ 2, nb + b[i] ^ 2 end
         return d / math.sqrt(na * nb)
      end
      local want = 0
      for i = 1, 3 do for j = 1, 3 do if i ~= j then want = want + cos(rows[i], rows[j]) ^ 2 end end end
      want = want / 6
      assert(math.abs(gan.losses.pullaway(s):item() - want) < 1e-12)
      assert(gan.losses.pullaway(gan.eye(4, { dtype = "float64" })):item() < 1e-15)
      local x = gan.randn({ 4, 2, 3 }, { dtype = "float64" }):requires_grad_()
      assert.is_true(gan.testing.gradcheck(function(t) return gan.losses.pullaway(t) end, { x }))
      assert.has_error(function() gan.losses.pullaway(gan.ones { 1, 3 }) end, "pullaway: needs at least 2 embeddings, got 1")
   end)
end)

describe("unrolled GAN", function()
   it("G's gradient through K unrolled Adam steps of D matches finite differences (second order)", function()
      gan.manual_seed(4)
      local F64 = { dtype = "float64" }
      local D = nn.Sequential { nn.Linear(2, 3, F64), nn.Tanh(), nn.Linear(3, 1, F64), nn.Flatten(1) }
      local real = gan.randn({ 5, 2 }, F64)
      local z = gan.randn({ 5, 2 }, F64)
      local w = gan.randn({ 2, 2 }, F64):requires_grad_()
      local b = gan.randn({ 2 }, F64):requires_grad_()
      -- a nonzero Adam state to start from, as after some D steps
      local state = {}
      for i, p in ipairs(D:parameters()) do
         state[i] = { exp_avg = gan.randn(p:size(), F64) * 0.1, exp_avg_sq = gan.rand(p:size(), F64) * 0.01, step = 3 }
      end
      local L = gan.losses
      local function g_loss(ww, bb)
         local x = gan.F.linear(z, ww, bb)
         local params = models.unrolled_gan.unroll(D, real, x, 3, state,
            { lr = 0.05, betas = { 0.5, 0.999 }, loss = L.minimax_d })
         return L.nonsaturating_g(gan.nn.utils.functional_call(D, params, x))
      end
      assert.is_true(gan.testing.gradcheck(g_loss, { w, b }))
      -- and the unrolling matters: the gradient differs from the K = 0 one
      local g3 = gan.grad(g_loss(w, b), { w })[1]
      local g0 = gan.grad(L.nonsaturating_g(D(gan.F.linear(z, w, b))), { w })[1]
      assert(H.maxabs(g3 - g0) > 1e-3)
   end)

   it("refuses a negative K and unrolling with RMSprop", function()
      assert.has_error(function() tiny(models.unrolled_gan, { train = { unroll = -1 } }) end,
         "values: train.unroll: expected an integer in [0, inf), got -1")
      assert.has_error(function() tiny(models.unrolled_gan, { train = { optimizer = "rmsprop" } }) end,
         "unrolled_gan: unrolling follows D's Adam steps: train.optimizer must be 'adam' and n_critic 1")
   end)
end)

describe("vanilla_gan's toy networks (Metz et al.'s settings as options)", function()
   it("scales D's input and initialises every linear layer orthogonally with the gain", function()
      gan.manual_seed(3)
      local plain = tiny(models.vanilla_gan, { data = { name = "ring8" }, model = { nz = 8, g_hidden = 6, d_hidden = 5,
         d_layers = 1, pieces = 0, dropout = 0 } })
      local m = tiny(models.vanilla_gan, { data = { name = "ring8" }, model = { nz = 8, g_hidden = 6, d_hidden = 5,
         d_layers = 1, pieces = 0, dropout = 0, d_input_scale = 0.25, init = "orthogonal", init_gain = 0.8 } })
      local linears = {}
      for _, net in ipairs { m.G, m.D } do
         net:apply(function(mod) if getmetatable(mod).__name == "Linear" then linears[#linears + 1] = mod end end)
      end
      assert.are.equal(5, #linears)   -- G: 8 -> 6 -> 6 -> 2, D: 2 -> 5 -> 1
      for _, l in ipairs(linears) do
         local w = l.weight:double()
         -- (semi-)orthogonal rows or columns, times the gain
         local gram = w:size(1) <= w:size(2) and w:matmul(w:t()) or w:t():matmul(w)
         local k = gram:size(1)
         assert(H.maxabs(gram - gan.eye(k, { dtype = "float64" }) * 0.64) < 1e-6)
         assert.are.equal(0, l.bias:abs():max():item())
      end
      -- D(x) is the same D on x / 4: copy the weights over and compare
      local dst = plain.D:parameters()
      gan.no_grad(function() for i, p in ipairs(m.D:parameters()) do dst[i]:copy_(p) end end)
      local x = gan.randn { 7, 2 }
      assert(H.maxabs(m.D(x) - plain.D(x / 4)) < 1e-6)
      assert.has_error(function() tiny(models.vanilla_gan, { model = { init = "xavier" } }) end)
   end)
end)

describe("2-d toy mixtures and mode statistics", function()
   it("ring8 and grid25 have the documented modes; draws are seeded and split", function()
      local c, s = gan.data.toy2d_modes("ring8")
      assert.are.equal(8, c:size(1))
      assert.are.equal(0.02, s)
      for _, r in ipairs(c:totable()) do assert(math.abs(math.sqrt(r[1] ^ 2 + r[2] ^ 2) - 2) < 1e-12) end
      local g, gs = gan.data.toy2d_modes("grid25")
      assert.are.same({ -4, -4 }, g:totable()[1])
      assert.are.same({ 4, 4 }, g:totable()[25])
      assert.are.equal(0.05, gs)
      local a, b = gan.data.toy2d("ring8", { n = 100 }), gan.data.toy2d("ring8", { n = 100 })
      assert.are.equal(0, H.maxabs(a.images - b.images))
      local t = gan.data.toy2d("ring8", { n = 100, split = "test" })
      assert(H.maxabs(a.images - t.images) > 0)
      -- each point lies near the mode it is labelled with
      for i, p in ipairs(a.images:totable()) do
         local m = c:totable()[a.labels[i] + 1]
         assert(math.sqrt((p[1] - m[1]) ^ 2 + (p[2] - m[2]) ^ 2) < 6 * s)
      end
      assert.has_error(function() gan.data.toy2d_modes("ring9") end, "toy2d: unknown mixture 'ring9' (ring8, grid25)")
   end)

   it("counts modes, high-quality samples and the KL to uniform on hand-made point sets", function()
      local c = gan.tensor { { 0, 0 }, { 10, 0 }, { 0, 10 }, { 10, 10 } }
      local pts = {}
      -- 50 points at mode 1, 30 at mode 2 (within 3 std = 0.3), 19 far from all, 1 at mode 3
      for _ = 1, 50 do pts[#pts + 1] = { 0.1, -0.1 } end
      for _ = 1, 30 do pts[#pts + 1] = { 10.2, 0 } end
      for _ = 1, 19 do pts[#pts + 1] = { 5, 5 } end
      pts[#pts + 1] = { 0, 9.75 }
      local st = gan.metrics.mode_stats(gan.tensor(pts), c, 0.1)
      assert.are.same({ 50, 30, 1, 0 }, st.counts)
      assert.are.equal(3, st.covered)                     -- 1 of 100 is exactly 1%
      assert.are.equal(0.81, st.hq)
      local p = { 50 / 81, 30 / 81, 1 / 81 }
      local kl = 0
      for _, x in ipairs(p) do kl = kl + x * math.log(x * 4) end
      assert(math.abs(st.kl - kl) < 1e-12)
      -- a higher threshold uncovers mode 3; all at one mode: KL = ln K
      assert.are.equal(2, gan.metrics.mode_stats(gan.tensor(pts), c, 0.1, { min_share = 0.02 }).covered)
      local one = gan.metrics.mode_stats(gan.zeros { 10, 2 }, c, 0.1)
      assert(math.abs(one.kl - math.log(4)) < 1e-12)
      assert.are.equal(math.huge, gan.metrics.mode_stats(gan.full({ 3, 2 }, 5), c, 0.1).kl)
   end)
end)

describe("Parzen-window log-likelihood", function()
   it("equals the closed form for one kernel, and for two the log of the mean of Gaussian densities", function()
      local F64 = { dtype = "float64" }
      -- one sample at the origin: log N(x; 0, s^2 I) in D = 3 dims
      local x = gan.tensor({ { 0.3, -0.2, 0.1 }, { 1, 0, 0 } }, F64)
      local s = 0.5
      local function logn(p, mu)
         local d2 = 0
         for i = 1, 3 do d2 = d2 + (p[i] - mu[i]) ^ 2 end
         return -d2 / (2 * s * s) - 1.5 * math.log(2 * math.pi * s * s)
      end
      local xs = x:totable()
      local m, se = gan.metrics.parzen(gan.zeros({ 1, 3 }, F64), x, s)
      local want = (logn(xs[1], { 0, 0, 0 }) + logn(xs[2], { 0, 0, 0 })) / 2
      assert(math.abs(m[1] - want) < 1e-12)
      assert(se[1] > 0)
      -- two samples, two bandwidths at once
      local smp = gan.tensor({ { 0, 0, 0 }, { 1, 1, 1 } }, F64)
      local ms = gan.metrics.parzen(smp, x, { 0.5, 0.25 })
      local want2 = 0
      for _, p in ipairs(xs) do
         want2 = want2 + math.log((math.exp(logn(p, { 0, 0, 0 })) + math.exp(logn(p, { 1, 1, 1 }))) / 2)
      end
      assert(math.abs(ms[1] - want2 / 2) < 1e-12)
      -- the bandwidth maximising the validation estimate is chosen
      local r = gan.metrics.parzen_evaluate(smp, x, x, { sigmas = { 0.1, 0.5, 2 } })
      assert.are.equal(0.5, r.sigma)
      assert(math.abs(r.ll - ms[1]) < 1e-12)
   end)
end)

describe("Spearman's rank correlation", function()
   it("is 1 for monotone pairs, -1 reversed, and matches a hand computation with ties", function()
      local m = gan.metrics
      assert.are.equal(1, m.spearman({ 1, 2, 3, 4 }, { 10, 20, 35, 100 }))
      assert.are.equal(-1, m.spearman({ 1, 2, 3, 4 }, { 4, 3, 2, 1 }))
      -- ranks a: 1, 2.5, 2.5, 4; b: 2, 1, 3, 4 -> Pearson of the ranks
      local ra, rb = { 1, 2.5, 2.5, 4 }, { 2, 1, 3, 4 }
      local sab, saa, sbb = 0, 0, 0
      for i = 1, 4 do
         sab = sab + (ra[i] - 2.5) * (rb[i] - 2.5)
         saa, sbb = saa + (ra[i] - 2.5) ^ 2, sbb + (rb[i] - 2.5) ^ 2
      end
      assert(math.abs(m.spearman({ 5, 7, 7, 9 }, { 2, 1, 3, 4 }) - sab / math.sqrt(saa * sbb)) < 1e-12)
      assert.has_error(function() m.spearman({ 1 }, { 1 }) end, "spearman: needs two lists of the same length >= 2, got 1 and 1")
   end)
end)
