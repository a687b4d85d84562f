-- gan.losses: every adversarial loss against a hand computation on small float64 tensors,
-- their gradients by finite differences, label smoothing and noisy labels (recovered
-- from the gradient at logit 0), BEGAN's k update, and the loss pairs by name.
local gan = require("gan")
local losses = gan.losses
local F = gan.F
local gradcheck = gan.testing.gradcheck

local F64 = { dtype = "float64" }

local function t64(v) return gan.tensor(v, F64) end
local function leaf(v) return gan.tensor(v, F64):requires_grad_() end
local function num(x) return type(x) == "number" and x or x:item() end

local function close(got, want, tol, what)
   got = num(got)
   local ok = math.abs(got - want) <= (tol or 1e-12) * math.max(1, math.abs(want))
   assert(ok, ("%s: got %.17g, want %.17g"):format(what or "value", got, want))
end

local function mean(t, f)
   local s = 0
   for _, v in ipairs(t) do s = s + (f and f(v) or v) end
   return s / #t
end

-- Stable softplus log(1 + e^v) in plain Lua.
local function softplus(v)
   if v > 0 then return v + math.log(1 + math.exp(-v)) end
   return math.log(1 + math.exp(v))
end
local function sigmoid(v) return 1 / (1 + math.exp(-v)) end

local R = { 0.5, -1.2, 2.0, 0.1 }   -- D(x) on 4 real samples
local G = { -0.3, 0.8, -2.5 }       -- D(G(z)) on 3 fakes (different counts on purpose)

local function relu(v) return math.max(v, 0) end

describe("gan.losses on hand-computed values", function()
   it("minimax_d = E[-log s(D(x))] + E[-log(1 - s(D(G(z))))]", function()
      local want = mean(R, function(v) return softplus(-v) end) + mean(G, softplus)
      close(losses.minimax_d(t64(R), t64(G)), want, 1e-12, "minimax_d")
      assert.are.equal(losses.minimax_d, losses.nonsaturating_d)
   end)

   it("minimax_g = E[log(1 - s(D(G(z))))] and nonsaturating_g = E[-log s(D(G(z)))]", function()
      close(losses.minimax_g(t64(G)), -mean(G, softplus), 1e-12, "minimax_g")
      close(losses.nonsaturating_g(t64(G)), mean(G, function(v) return softplus(-v) end), 1e-12,
         "nonsaturating_g")
      -- the saturating loss has a vanishing gradient where D rejects fakes confidently;
      -- the non-saturating one has not
      local x1, x2 = leaf { -10 }, leaf { -10 }
      losses.minimax_g(x1):backward()
      losses.nonsaturating_g(x2):backward()
      close(x1.grad[1], -sigmoid(-10), 1e-12, "minimax_g grad")
      close(x2.grad[1], sigmoid(-10) - 1, 1e-12, "nonsaturating_g grad")
      assert(math.abs(x1.grad[1]) < 1e-4 and math.abs(x2.grad[1]) > 0.99)
   end)

   it("lsgan_d = (E[(D(x) - 1)^2] + E[D(G(z))^2]) / 2 and lsgan_g = E[(D(G(z)) - 1)^2] / 2", function()
      local want = 0.5 * (mean(R, function(v) return (v - 1) ^ 2 end) + mean(G, function(v) return v * v end))
      close(losses.lsgan_d(t64(R), t64(G)), want, 1e-12, "lsgan_d")
      close(losses.lsgan_g(t64(G)), 0.5 * mean(G, function(v) return (v - 1) ^ 2 end), 1e-12, "lsgan_g")
   end)

   it("wasserstein_d = E[D(G(z))] - E[D(x)] and wasserstein_g = -E[D(G(z))]", function()
      close(losses.wasserstein_d(t64(R), t64(G)), mean(G) - mean(R), 1e-12, "wasserstein_d")
      close(losses.wasserstein_g(t64(G)), -mean(G), 1e-12, "wasserstein_g")
   end)

   it("hinge_d = E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))] and hinge_g = -E[D(G(z))]", function()
      local want = mean(R, function(v) return relu(1 - v) end) + mean(G, function(v) return relu(1 + v) end)
      close(losses.hinge_d(t64(R), t64(G)), want, 1e-12, "hinge_d")
      close(losses.hinge_g(t64(G)), -mean(G), 1e-12, "hinge_g")
      -- confident, correct scores cost nothing
      close(losses.hinge_d(t64 { 1, 3 }, t64 { -1, -4 }), 0, 0, "hinge_d at the margin")
   end)

   it("ebgan_d = E[E(x)] + E[max(0, m - E(G(z)))] (m = 1 by default) and ebgan_g = E[E(G(z))]", function()
      local er, ef = { 0.2, 0.7, 1.5 }, { 0.4, 1.3, 2.2, 0.05 }
      close(losses.ebgan_d(t64(er), t64(ef)), mean(er) + mean(ef, function(v) return relu(1 - v) end), 1e-12,
         "ebgan_d")
      close(losses.ebgan_d(t64(er), t64(ef), { margin = 2 }), mean(er) + mean(ef, function(v) return relu(2 - v) end),
         1e-12, "ebgan_d margin 2")
      close(losses.ebgan_g(t64(ef)), mean(ef), 1e-12, "ebgan_g")
   end)

   it("began: d = L(x) - k L(G(z)), g = L(G(z)), M = L(x) + |gamma L(x) - L(G(z))|", function()
      local lr, lf = t64(0.3), t64(0.8)
      local d, g, m = losses.began(lr, lf, { k = 0.25, gamma = 0.7 })
      close(d, 0.3 - 0.25 * 0.8, 1e-12, "began d")
      close(g, 0.8, 1e-12, "began g")
      close(m, 0.3 + math.abs(0.7 * 0.3 - 0.8), 1e-12, "began M")
      -- defaults: k = 0, gamma = 0.5
      local d0, _, m0 = losses.began(lr, lf, {})
      close(d0, 0.3, 1e-12, "began d with k = 0")
      close(m0, 0.3 + math.abs(0.15 - 0.8), 1e-12, "began M with gamma 0.5")
      -- d is differentiable in both losses
      local a, b = leaf(0.3), leaf(0.8)
      local dl = losses.began(a, b, { k = 0.25 })
      dl:backward()
      close(a.grad, 1, 0, "dd/dL(x)")
      close(b.grad, -0.25, 1e-15, "dd/dL(G(z))")
   end)

   it("began_update: k += lambda_k (gamma L(x) - L(G(z))), clamped to [0, 1]", function()
      local st = { k = 0.5, gamma = 0.6, lambda_k = 0.01 }
      local k = losses.began_update(st, 0.9, 0.2)
      close(k, 0.5 + 0.01 * (0.6 * 0.9 - 0.2), 1e-15, "k")
      assert.are.equal(k, st.k)
      -- tensors and numbers are both accepted; defaults lambda_k = 0.001, gamma = 0.5
      local st2 = { k = 0.5 }
      losses.began_update(st2, t64(0.9), t64(0.2))
      close(st2.k, 0.5 + 0.001 * (0.45 - 0.2), 1e-15, "k with defaults")
      local st3 = {}
      losses.began_update(st3, 0.9, 0.2)
      close(st3.k, 0.001 * 0.25, 1e-15, "k starts at 0")
      -- clamped below and above
      local lo = { k = 0.001, lambda_k = 0.1, gamma = 0.5 }
      assert.are.equal(0, losses.began_update(lo, 0.1, 5))
      assert.are.equal(0, lo.k)
      local hi = { k = 0.999, lambda_k = 0.1, gamma = 0.5 }
      assert.are.equal(1, losses.began_update(hi, 10, 0))
      assert.are.equal(1, hi.k)
      -- a sequence of updates equals the running sum until the clamp bites
      local s, ref = { k = 0, gamma = 0.5, lambda_k = 0.05 }, 0
      for i = 1, 30 do
         local l_real, l_fake = 1 + 0.1 * i, 0.2 + 0.01 * i
         losses.began_update(s, l_real, l_fake)
         ref = math.min(math.max(ref + 0.05 * (0.5 * l_real - l_fake), 0), 1)
         close(s.k, ref, 1e-12, "k after update " .. i)
      end
      assert.are.equal(1, s.k)
   end)
end)

describe("gan.losses label tricks", function()
   it("one-sided label smoothing moves only the real target to 1 - s", function()
      local s = 0.1
      local want = mean(R, function(v) return (1 - s) * softplus(-v) + s * softplus(v) end) + mean(G, softplus)
      close(losses.minimax_d(t64(R), t64(G), { smoothing = s }), want, 1e-12, "minimax_d smoothed")
      local want_ls = 0.5 * (mean(R, function(v) return (v - (1 - s)) ^ 2 end) + mean(G, function(v) return v * v end))
      close(losses.lsgan_d(t64(R), t64(G), { smoothing = s }), want_ls, 1e-12, "lsgan_d smoothed")
      -- the targets themselves, from the gradient at logit 0: dL/dx_i = (s(0) - t_i) / n
      local r, f = leaf { 0, 0, 0, 0 }, leaf { 0, 0, 0 }
      losses.minimax_d(r, f, { smoothing = 0.2 }):backward()
      for i = 1, 4 do close(0.5 - 4 * r.grad[i], 0.8, 1e-12, "real target") end
      for i = 1, 3 do close(0.5 - 3 * f.grad[i], 0, 1e-12, "fake target") end
      -- generator losses are not smoothed
      close(losses.nonsaturating_g(t64(G)), mean(G, function(v) return softplus(-v) end), 1e-12, "g unchanged")
   end)

   -- Targets of minimax_d / lsgan_d recovered from the gradients at D outputs 0.
   local function targets(loss, n, opts)
      local r, f = gan.zeros({ n }, F64):requires_grad_(), gan.zeros({ n }, F64):requires_grad_()
      loss(r, f, opts):backward()
      local tr, tf = {}, {}
      local bce = loss == losses.minimax_d
      for i = 1, n do
         -- bce: dL/dx = (1/2 - t) / n; lsgan: dL/dx = (x - t) / n
         tr[i] = bce and 0.5 - n * r.grad[i] or -n * r.grad[i]
         tf[i] = bce and 0.5 - n * f.grad[i] or -n * f.grad[i]
      end
      return tr, tf
   end

   local function count(t, v)
      local c = 0
      for _, x in ipairs(t) do if math.abs(x - v) < 1e-9 then c = c + 1 end end
      return c
   end

   for _, case in ipairs { { "minimax_d", losses.minimax_d }, { "lsgan_d", losses.lsgan_d } } do
      it(case[1] .. ": noisy labels flip each target with probability p (seeded)", function()
         local n, p = 20000, 0.2
         local tr, tf = targets(case[2], n, { flip = p, generator = gan.Generator(7) })
         -- every target is 0 or 1, flipped ones at rate p within 5 standard errors
         assert.are.equal(n, count(tr, 0) + count(tr, 1))
         assert.are.equal(n, count(tf, 0) + count(tf, 1))
         local se = math.sqrt(p * (1 - p) / n)
         local fr, ff = count(tr, 0) / n, count(tf, 1) / n
         assert(math.abs(fr - p) < 5 * se, ("real flip rate %.4f, want %.2f"):format(fr, p))
         assert(math.abs(ff - p) < 5 * se, ("fake flip rate %.4f, want %.2f"):format(ff, p))
         -- the same seed flips the same labels; another seed others
         local tr2, tf2 = targets(case[2], n, { flip = p, generator = gan.Generator(7) })
         local tr3 = targets(case[2], n, { flip = p, generator = gan.Generator(8) })
         local same, diff = true, 0
         for i = 1, n do
            same = same and tr[i] == tr2[i] and tf[i] == tf2[i]
            if tr[i] ~= tr3[i] then diff = diff + 1 end
         end
         assert.is_true(same)
         assert(diff > n * 0.2, "another seed flips other labels")
         -- flip = 0 changes nothing
         local t0r, t0f = targets(case[2], 100, { flip = 0, generator = gan.Generator(7) })
         assert.are.equal(100, count(t0r, 1))
         assert.are.equal(100, count(t0f, 0))
      end)
   end

   it("smoothing and flipping together: real targets are 1 - s or 0", function()
      local n = 5000
      local tr = targets(losses.minimax_d, n, { smoothing = 0.1, flip = 0.3, generator = gan.Generator(3) })
      local c9, c0 = count(tr, 0.9), count(tr, 0)
      assert.are.equal(n, c9 + c0)
      assert(math.abs(c0 / n - 0.3) < 5 * math.sqrt(0.21 / n))
   end)
end)

describe("gan.losses gradients (float64 finite differences)", function()
   before_each(function() gan.manual_seed(5) end)

   local function pair() return leaf(R), leaf(G) end

   it("discriminator losses w.r.t. both score tensors", function()
      local r, f = pair()
      for name, fn in pairs {
         minimax_d = losses.minimax_d, lsgan_d = losses.lsgan_d, wasserstein_d = losses.wasserstein_d,
         hinge_d = losses.hinge_d, ebgan_d = losses.ebgan_d,
         smoothed = function(a, b) return losses.minimax_d(a, b, { smoothing = 0.1 }) end,
         lsgan_smoothed = function(a, b) return losses.lsgan_d(a, b, { smoothing = 0.1 }) end,
         -- a fresh seeded generator per call: the same flipped labels at every evaluation
         flipped = function(a, b) return losses.minimax_d(a, b, { flip = 0.4, generator = gan.Generator(1) }) end,
      } do
         local ok, err = pcall(gradcheck, fn, { r, f })
         assert(ok, name .. ": " .. tostring(err))
      end
   end)

   it("generator losses", function()
      local _, f = pair()
      for name, fn in pairs {
         minimax_g = losses.minimax_g, nonsaturating_g = losses.nonsaturating_g, lsgan_g = losses.lsgan_g,
         wasserstein_g = losses.wasserstein_g, hinge_g = losses.hinge_g, ebgan_g = losses.ebgan_g,
      } do
         local ok, err = pcall(gradcheck, fn, { f })
         assert(ok, name .. ": " .. tostring(err))
      end
   end)

   it("began's losses", function()
      local a, b = leaf(0.3), leaf(0.8)
      assert(gradcheck(function(x, y)
         local d, g = losses.began(x, y, { k = 0.3 })
         return { d, g }
      end, { a, b }))
   end)
end)

describe("gan.losses.pair", function()
   it("names every (D, G) pair; an unknown name lists the known ones", function()
      local want = { nonsaturating = { losses.minimax_d, losses.nonsaturating_g },
         minimax = { losses.minimax_d, losses.minimax_g }, lsgan = { losses.lsgan_d, losses.lsgan_g },
         wgan = { losses.wasserstein_d, losses.wasserstein_g }, hinge = { losses.hinge_d, losses.hinge_g } }
      local n = 0
      for name, fns in pairs(want) do
         local p = losses.pair(name)
         assert.are.equal(fns[1], p.d, name)
         assert.are.equal(fns[2], p.g, name)
         n = n + 1
      end
      for _ in pairs(losses.PAIRS) do n = n - 1 end
      assert.are.equal(0, n, "PAIRS has exactly these")
      assert.has_error(function() losses.pair("bogus") end,
         "losses: unknown loss 'bogus' (hinge, lsgan, minimax, nonsaturating, wgan)")
   end)
end)
