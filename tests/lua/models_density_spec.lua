-- The explicit-density models and the encoders: PixelCNN's and the gated PixelCNN's
-- masks (by the gradient of one output position with respect to the input: no pixel sees
-- itself or a later one; PixelCNN's blind spot, none in the gated model), the sampling
-- order, the ELBO's KL against its closed form and a Monte Carlo estimate, the IWAE bound
-- on a linear Gaussian model whose likelihood is known, the skin-tone emoji data, and
-- every model (AE, VAE in both architectures and decoders, cVAE, PixelCNN, gated
-- PixelCNN, IcGAN on digits and on skin tones) training, drawing its sheet and resuming.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local models = gan.models

H.single_threaded(setup, teardown)

-- The pixels the output at (i, j) depends on, as rows of "x" (depends), "." (does not),
-- "O" the position itself (which must not be seen).
local function field(net, y, S, i, j)
   local x = gan.rand({ 1, 1, S, S }, { generator = gan.Generator(3) }):gt(0.5):float():requires_grad_()
   local out = net(x, y)
   out:narrow(3, i, 1):narrow(4, j, 1):sum():backward()
   local g = x.grad:abs():view(S, S):totable()
   local seen = {}
   for r = 1, S do
      seen[r] = {}
      for c = 1, S do seen[r][c] = g[r][c] > 0 end
   end
   return seen
end

describe("PixelCNN masks", function()
   it("MaskedConv2d's masks: A hides the centre and what follows, B only what follows", function()
      local A = gan.nn.MaskedConv2d(1, 1, 3, { mask = "A" }).mask:view(3, 3):totable()
      local B = gan.nn.MaskedConv2d(1, 1, 5, { mask = "B" }).mask:view(5, 5):totable()
      assert.are.same({ { 1, 1, 1 }, { 1, 0, 0 }, { 0, 0, 0 } }, A)
      assert.are.same({ { 1, 1, 1, 1, 1 }, { 1, 1, 1, 1, 1 }, { 1, 1, 1, 0, 0 }, { 0, 0, 0, 0, 0 },
         { 0, 0, 0, 0, 0 } }, B)
      assert.has_error(function() gan.nn.MaskedConv2d(1, 1, 3, { mask = "C" }) end,
         "MaskedConv2d: mask must be 'A' or 'B', got 'C'")
   end)

   it("no output sees its own pixel or a later one; PixelCNN has its blind spot, the gated model none", function()
      gan.manual_seed(1)
      local S = 9
      local nets = { pixelcnn = models.pixelcnn.Network { h = 4, blocks = 3 },
         gated = models.gated_pixelcnn.Network { h = 4, layers = 4, n_classes = 10 } }
      for name, net in pairs(nets) do
         for _, pos in ipairs { { 6, 5 }, { 1, 4 }, { 9, 9 } } do
            local i, j = pos[1], pos[2]
            local seen = field(net, gan.tensor({ 3 }, { dtype = "int64" }), S, i, j)
            for r = 1, S do
               for c = 1, S do
                  local later = r > i or (r == i and c >= j)
                  if later then assert.is_false(seen[r][c], ("%s at (%d,%d) sees (%d,%d)"):format(name, i, j, r, c)) end
               end
            end
         end
         -- at (6, 5): every earlier pixel for the gated model; PixelCNN misses the upper right
         local seen = field(net, gan.tensor({ 3 }, { dtype = "int64" }), S, 6, 5)
         local missed = 0
         for r = 1, 6 do
            for c = 1, S do
               if (r < 6 or c < 5) and not seen[r][c] then missed = missed + 1 end
            end
         end
         if name == "gated" then
            assert.are.equal(0, missed, "the gated PixelCNN sees every earlier pixel")
         else
            assert(missed > 0, "PixelCNN's stacked masks leave a blind spot")
            assert.is_false(seen[5][9], "the blind spot lies up and to the right")
         end
      end
   end)

   it("samples in raster order: when pixel p is drawn, exactly the pixels before it are set", function()
      local cfg = H.config(models.pixelcnn, { model = { h = 4, blocks = 1 } })
      gan.manual_seed(0)
      local m = models.pixelcnn.new(cfg)
      local calls, bad = 0, 0
      m.logits = function(_, x)
         calls = calls + 1
         -- every drawn pixel is 1 (logit 50): the ones so far must be the first calls - 1
         local flat = x:reshape(-1):totable()
         for p, v in ipairs(flat) do
            if (v == 1) ~= (p < calls) then bad = bad + 1 end
         end
         return gan.full(x:size(), 50)
      end
      local x = m:generate(1, gan.Generator(1))
      assert.are.equal(28 * 28, calls)
      assert.are.equal(0, bad)
      assert.are.equal(784, x:sum():item())
   end)
end)

describe("VAE bounds", function()
   it("the KL term is the closed form 0.5 sum(mu^2 + s^2 - 1 - log s^2), also by Monte Carlo", function()
      local mu = gan.tensor({ { 0.5, -1.0, 0.2 } }, { dtype = "float64" })
      local logvar = gan.tensor({ { -0.4, 0.3, 0.0 } }, { dtype = "float64" })
      local want = 0
      for i = 1, 3 do
         local m, lv = mu[1][i], logvar[1][i]
         want = want + 0.5 * (m * m + math.exp(lv) - 1 - lv)
      end
      assert(math.abs(gan.F.gaussian_kl(mu, logvar, { reduction = "none" })[1] - want) < 1e-12)
      -- E_q[log q(z) - log p(z)] with 200,000 samples
      local n = 200000
      local eps = gan.randn({ n, 3 }, { dtype = "float64", generator = gan.Generator(7) })
      local z = mu + (logvar * 0.5):exp() * eps
      local lq = -((eps * eps + logvar) * 0.5):sum(2)
      local lp = -((z * z) * 0.5):sum(2)
      local mc = (lq - lp):mean():item()
      assert(math.abs(mc - want) < 0.02, ("Monte Carlo %g vs closed form %g"):format(mc, want))
   end)

   it("IWAE on a linear Gaussian model: exact with the true posterior, below log p(x) and rising in k otherwise", function()
      -- z ~ N(0, I2), x | z ~ N(W z + b, s^2 I3), W with orthogonal columns: the posterior is
      -- N(P W^T (x - b) / s^2, P) with P = diag(1 / (1 + |w_j|^2 / s^2))
      local s, W, b = 0.5, { { 1, 0 }, { 0, 2 }, { 0, 0 } }, { 0.3, -0.2, 0.1 }
      local x = gan.tensor({ { 1.0, 0.5, 0.2 }, { -0.4, 2.0, -0.3 } }, { dtype = "float64" })
      -- log p(x) = log N(x; b, W W^T + s^2 I): diagonal here (orthogonal W)
      local var = { 1 + s * s, 4 + s * s, s * s }
      local function log_px(row)
         local l = 0
         for d = 1, 3 do l = l - 0.5 * ((row[d] - b[d]) ^ 2 / var[d] + math.log(2 * math.pi * var[d])) end
         return l
      end
      local want = (log_px(x[1]:totable()) + log_px(x[2]:totable())) / 2
      local Wt = gan.tensor(W, { dtype = "float64" })
      local bt = gan.tensor({ b }, { dtype = "float64" })
      local P = gan.tensor({ { 1 / (1 + 1 / (s * s)), 1 / (1 + 4 / (s * s)) } }, { dtype = "float64" })
      local function log_lik(xs, z)
         local d = xs - gan.matmul(z, Wt:t()) - bt
         return -((d * d):sum(2) * (0.5 / (s * s)) + 1.5 * math.log(2 * math.pi * s * s))
      end
      local function encoder(shift)
         return function(xb)
            local mu = gan.matmul(xb - bt, Wt) * P / (s * s) + shift
            return mu, P:log():expand(xb:size(1), 2)
         end
      end
      local exact = gan.metrics.iwae(x, 10, { encode = encoder(0), log_lik = log_lik, generator = gan.Generator(1) })
      assert(math.abs(exact.mean - want) < 1e-9, ("exact posterior: %g vs log p(x) %g"):format(exact.mean, want))
      -- With q shifted by 0.3 from the posterior the bound holds in expectation, not for every
      -- draw: each x is repeated 500 times and the means are compared within 4 standard errors.
      -- For k = 1 the expectation is known: log p(x) - KL(q || posterior), the KL of two
      -- Gaussians with covariance P whose means differ by 0.3 in each coordinate.
      local rows = {}
      for i = 1, 500 do rows[i] = x end
      local xr = gan.cat(rows, 1)
      local kl = 0.5 * (0.09 * (1 + 1 / (s * s)) + 0.09 * (1 + 4 / (s * s)))
      local bound = {}
      for _, k in ipairs { 1, 10, 1000 } do
         bound[k] = gan.metrics.iwae(xr, k, { encode = encoder(0.3), log_lik = log_lik, generator = gan.Generator(2),
            chunk = 500 })
      end
      local one, ten, thousand = bound[1], bound[10], bound[1000]
      assert(math.abs(one.mean - (want - kl)) < 4 * one.se,
         ("k = 1: %g, expected log p(x) - KL = %g (se %g)"):format(one.mean, want - kl, one.se))
      assert(ten.mean < want - 4 * ten.se, ("k = 10: %g is not below log p(x) %g"):format(ten.mean, want))
      assert(thousand.mean < want + 4 * thousand.se, ("k = 1000: %g is above log p(x) %g"):format(thousand.mean, want))
      assert(ten.mean > one.mean + 4 * math.sqrt(one.se ^ 2 + ten.se ^ 2), "the bound did not rise from k = 1 to 10")
      assert(thousand.mean > ten.mean + 4 * math.sqrt(ten.se ^ 2 + thousand.se ^ 2), "the bound did not rise to k = 1000")
      assert(want - thousand.mean < 0.1 * (want - one.mean), ("k = 1000 closes most of the gap: %g -> %g"):format(
         want - one.mean, want - thousand.mean))
   end)
end)

describe("the skin-tone emoji", function()
   it("has six drawings per emoji (default, then five tones), whole emoji per split", function()
      local test = gan.data.emoji_skin { split = "test", size = 16 }
      local train = gan.data.emoji_skin { split = "train", size = 16 }
      assert.are.equal(0, #test % 6)
      assert(#train > 5 * #test)
      local codes = {}
      for i = 1, #test do
         local s = test:get(i)
         assert.are.equal((i - 1) % 6, s.label)
         if (i - 1) % 6 == 0 then codes[s.code] = true else assert.is_true(codes[s.code]) end
      end
      for i = 1, #train, 6 do assert.is_nil(codes[train:get(i).code], "a test emoji in the training split") end
   end)
end)

describe("IcGAN's skin-tone evaluation", function()
   it("scores an edit that copies its input as the copy baseline, with no reconstruction loss", function()
      local cfg = H.config(models.icgan, { data = { name = "emoji_skin", image_size = 16 }, model = { ngf = 4, ndf = 4, nz = 8 } })
      local model = models.icgan.new(cfg)
      model.edit = function(_, x, _) return x end
      local r = model:evaluate()
      assert.are.equal(25, r.n_emoji)
      assert.are.equal(25 * 6 * 5, r.n_edits)
      assert.are.equal(0, r.l1_rec)
      assert(r.l1_copy > 0.005, "the tones differ")
      assert(math.abs(r.l1_edit - r.l1_copy) < 1e-12, ("%g against %g"):format(r.l1_edit, r.l1_copy))
      model.edit = function(_, x, _) return -x end   -- every pixel off by |2x| / 2 on [0, 1]
      local x = gan.data.emoji_skin { split = "test", size = 16, signed = true }
      local want = x:get_batch(gan.arange(0, 150, 1, { dtype = "int64" })).image:abs():mean():item()
      assert(math.abs(model:evaluate().l1_rec - want) < 1e-5)
   end)
end)

describe("PixelCNN's learning-rate decay", function()
   it("constant up to train.decay_start, then linear towards 0 at train.steps; resumes exactly; refused past the end", function()
      local M = models.pixelcnn
      local function build(train)
         gan.manual_seed(0)
         local cfg = H.config(M, { model = { h = 4, blocks = 1, n_samples = 1 }, data = { batch_size = 8 },
            train = gan.config.merge({ steps = 6, lr = 1e-3 }, train) })
         return M.new(cfg), gan.data.DataLoader(M.dataset(cfg), { batch_size = 8, generator = gan.Generator(5) })
      end
      local model, loader = build { decay_start = 2 }
      local lrs = {}
      gan.train.fit(model, { data = loader, hooks = { on_step = function(_, step, l) lrs[step] = l.lr_net end } })
      -- step s trains at lr (1 - max(0, s - 1 - 2) / (6 - 2))
      for s = 1, 6 do
         assert.is_true(math.abs(lrs[s] - 1e-3 * (1 - math.max(0, s - 3) / 4)) < 1e-12, ("step %d: %g"):format(s, lrs[s]))
      end
      -- without it the rate stays
      local flat, l2 = build {}
      local last
      gan.train.fit(flat, { data = l2, hooks = { on_step = function(_, _, l) last = l.lr_net end } })
      assert.are.equal(1e-3, last)
      H.resumes_exactly(function()
         return build { decay_start = 2, log_every = 1, checkpoint_every = 2, sample_every = 0 }
      end, 6, 3)
      assert.has_error(function() build { decay_start = 7 } end, "pixelcnn: train.decay_start (7) is beyond train.steps (6)")
   end)
end)

describe("the density models and IcGAN on the loop", function()
   it("each trains, logs its terms, draws its sheet and resumes exactly", function()
      local cases = {
         { models.vae, { model = { hidden = 32, nz = 4, iwae_k = 4 } }, { "loss", "rec", "kl" } },
         { models.vae, { model = { arch = "conv", decoder = "gaussian", nf = 4, nz = 4 } }, { "loss", "kl" } },
         { models.ae, { model = { hidden = 32, nz = 4 } }, { "loss" } },
         { models.cvae, { model = { hidden = 32, nz = 4 } }, { "loss", "kl" } },
         { models.pixelcnn, { model = { h = 4, blocks = 1, n_samples = 1 } }, { "nll", "bits_per_dim" } },
         { models.gated_pixelcnn, { model = { h = 4, blocks = 1, n_samples = 2 } }, { "nll" } },
         { models.icgan, { model = { ngf = 4, ndf = 4, nz = 8 } }, { "loss_d", "loss_g", "loss_ez", "loss_ey" } },
         { models.icgan, { data = { name = "emoji_skin" }, model = { ngf = 4, ndf = 4, nz = 8 } }, { "acc_ey" } },
      }
      for _, c in ipairs(cases) do
         local M = c[1]
         local function build(extra)
            local v = gan.config.merge(c[2], { data = { batch_size = 8 }, train = extra or { steps = 3 } })
            gan.manual_seed(0)
            local cfg = H.config(M, v)
            local ds = M.dataset(cfg)
            return M.new(cfg), gan.data.DataLoader(ds, { batch_size = 8, generator = gan.Generator(5) })
         end
         local model, loader = build()
         local logs
         gan.train.fit(model, { data = loader, hooks = { on_step = function(_, _, l) logs = l end } })
         for _, k in ipairs(c[3]) do assert.is_number(logs[k], M.name .. ": " .. k) end
         local img, o = model:sample()
         assert.are.equal(4, img:dim(), M.name)
         assert(img:min():item() >= -1 - 1e-6 and img:max():item() <= 1 + 1e-6, M.name .. ": sheet in [-1, 1]")
         assert.is_number(o.nrow)
         H.resumes_exactly(function()
            return build { steps = 4, log_every = 1, checkpoint_every = 2, sample_every = 0 }
         end, 4, 3)
      end
   end)
end)
