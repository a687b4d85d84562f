-- Gradient penalties through double backward: WGAN-GP and R1 written out on a tiny conv
-- critic, differentiated with respect to the critic's weights, against finite differences
-- of the penalty itself and against closed forms for a linear critic; then gan.penalties
-- (values against hand computations, gradients w.r.t. a critic's weights) and lazy
-- regularisation.
local gan = require("gan")
local A = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "ag_helpers.lua")
local F = gan.F
local gradcheck = gan.testing.gradcheck

local N = 3

-- conv(1 -> 2, 3x3, stride 2, padding 1) -> leaky_relu(0.2) -> linear(8 -> 1)
local function critic(x, w1, b1, w2, b2)
   local h = F.leaky_relu(F.conv2d(x, w1, b1, { stride = 2, padding = 1 }), 0.2)
   return F.linear(h:flatten(2), w2, b2)
end

local function weights()
   return A.leaf(A.randn { 2, 1, 3, 3 } * 0.7), A.leaf(A.randn { 2 } * 0.1),
      A.leaf(A.randn { 1, 8 } * 0.7), A.leaf(A.randn { 1 } * 0.1)
end

-- mean over samples of (||grad_x D(x_hat)|| - 1)^2, x_hat = a real + (1 - a) fake
local function wgan_gp(D, real, fake, a)
   local x_hat = (a * real + (1 - a) * fake):detach():requires_grad_()
   local out = D(x_hat)
   local g = gan.grad(out:sum(), x_hat, { create_graph = true })[1]
   local norm = g:flatten(2):norm(2, 2)
   return ((norm - 1):pow(2)):mean(), norm
end

-- mean over samples of ||grad_x D(real)||^2
local function r1(D, real)
   local x = real:detach():requires_grad_()
   local g = gan.grad(D(x):sum(), x, { create_graph = true })[1]
   return (g * g):flatten(2):sum(2):mean()
end

describe("WGAN-GP gradient penalty", function()
   before_each(function() gan.manual_seed(81) end)

   it("its gradient with respect to the critic's weights matches finite differences", function()
      local real, fake = A.randn { N, 1, 4, 4 }, A.randn { N, 1, 4, 4 }
      local a = gan.rand({ N, 1, 1, 1 }, A.F64)
      local w1, b1, w2, b2 = weights()
      local function penalty(ww1, bb1, ww2, bb2)
         return (wgan_gp(function(x) return critic(x, ww1, bb1, ww2, bb2) end, real, fake, a))
      end
      local p = penalty(w1, b1, w2, b2)
      assert.is_true(p.requires_grad)
      assert(p:item() > 0)
      assert(gradcheck(penalty, { w1, b1, w2, b2 }))
   end)

   it("the per-sample norm is the norm of each sample's input gradient", function()
      local real, fake = A.randn { N, 1, 4, 4 }, A.randn { N, 1, 4, 4 }
      local a = gan.rand({ N, 1, 1, 1 }, A.F64)
      local w1, b1, w2, b2 = weights()
      local D = function(x) return critic(x, w1, b1, w2, b2) end
      local _, norm = wgan_gp(D, real, fake, a)
      -- sample by sample, without batching
      local av = A.arr(a).data
      for n = 1, N do
         local xn = (real:narrow(1, n, 1) * av[n] + fake:narrow(1, n, 1) * (1 - av[n])):requires_grad_()
         local gn = gan.grad(D(xn):sum(), xn)[1]
         local s = 0
         for _, v in ipairs(A.arr(gn).data) do s = s + v * v end
         A.close(norm[n], math.sqrt(s), 1e-12, 1e-12, "sample " .. n)
      end
   end)

   it("backward() of the penalty fills the weights' .grad like gan.grad", function()
      local real, fake = A.randn { N, 1, 4, 4 }, A.randn { N, 1, 4, 4 }
      local a = gan.rand({ N, 1, 1, 1 }, A.F64)
      local w1, b1, w2, b2 = weights()
      local D = function(x) return critic(x, w1, b1, w2, b2) end
      local p1 = wgan_gp(D, real, fake, a)
      -- the biases reach the input gradient only through leaky_relu's piecewise-constant
      -- slope, so they get no gradient from the penalty (nil)
      local want = gan.grad(p1, { w1, b1, w2, b2 }, { allow_unused = true })
      assert.is_nil(want[2])
      assert.is_nil(want[4])
      local p2 = wgan_gp(D, real, fake, a)
      -- the usual critic loss: fake - real + lambda * penalty
      local loss = D(fake):mean() - D(real):mean() + p2 * 10
      loss:backward()
      local base = gan.grad(D(fake):mean() - D(real):mean(), { w1, b1, w2, b2 }, { allow_unused = true })
      for k, w in ipairs { w1, b1, w2, b2 } do
         local expect = A.zip(A.arr((want[k] or w * 0) * 10), A.arr(base[k] or w * 0), function(x, y) return x + y end)
         A.close(w.grad, expect, 1e-10, 1e-10, "weight " .. k)
      end
   end)

   it("matches the closed form for a linear critic", function()
      -- D(x) = <v, x> + c: grad_x D = v for every sample, so the penalty is (|v| - 1)^2
      -- and its gradient 2 (|v| - 1) v / |v|.
      local v = A.leaf(A.randn { 1, 16 } * 0.4)
      local c = A.leaf(A.randn { 1 })
      local real, fake = A.randn { N, 1, 4, 4 }, A.randn { N, 1, 4, 4 }
      local a = gan.rand({ N, 1, 1, 1 }, A.F64)
      local D = function(x) return F.linear(x:flatten(2), v, c) end
      local p = wgan_gp(D, real, fake, a)
      local vv = A.arr(v).data
      local nv = 0
      for _, e in ipairs(vv) do nv = nv + e * e end
      nv = math.sqrt(nv)
      A.close(p, (nv - 1) ^ 2, 1e-12, 1e-12, "penalty")
      local g = gan.grad(p, { v, c }, { allow_unused = true })
      local want = {}
      for i, e in ipairs(vv) do want[i] = 2 * (nv - 1) * e / nv end
      A.close(g[1], want, 1e-12, 1e-12, "d/dv")
      assert.is_nil(g[2])   -- the bias does not reach the input gradient
   end)
end)

describe("R1 penalty", function()
   before_each(function() gan.manual_seed(82) end)

   it("its gradient with respect to the critic's weights matches finite differences", function()
      local real = A.randn { N, 1, 4, 4 }
      local w1, b1, w2, b2 = weights()
      local function penalty(ww1, bb1, ww2, bb2)
         return r1(function(x) return critic(x, ww1, bb1, ww2, bb2) end, real)
      end
      assert(penalty(w1, b1, w2, b2):item() > 0)
      assert(gradcheck(penalty, { w1, b1, w2, b2 }))
   end)

   it("matches the closed form for a linear critic", function()
      local v = A.leaf(A.randn { 1, 16 })
      local D = function(x) return F.linear(x:flatten(2), v) end
      local p = r1(D, A.randn { N, 1, 4, 4 })
      local vv = A.arr(v).data
      local s = 0
      for _, e in ipairs(vv) do s = s + e * e end
      A.close(p, s, 1e-12, 1e-12, "penalty")
      p:backward()
      A.close(v.grad, A.map(A.arr(v), function(e) return 2 * e end), 1e-12, 1e-12, "d/dv")
   end)
end)

-- ---------------------------------------------------------------- gan.penalties

local penalties = gan.penalties
local F64 = { dtype = "float64" }
local function t64(v) return gan.tensor(v, F64) end
local function leaf(v) return gan.tensor(v, F64):requires_grad_() end
local function close(got, want, tol, what)
   got = type(got) == "number" and got or got:item()
   assert(math.abs(got - want) <= (tol or 1e-12) * math.max(1, math.abs(want)),
      ("%s: got %.17g, want %.17g"):format(what or "value", got, want))
end

describe("gan.penalties on a tiny float64 critic", function()
   -- A tiny float64 critic: x (N, 3) -> tanh(x W1^T + b1) w2^T + b2, (N, 1).
   local function weights()
      local g = gan.Generator(21)
      local function rnd(shape, s)
         return (gan.randn(shape, { dtype = "float64", generator = g }) * s):requires_grad_()
      end
      return rnd({ 4, 3 }, 0.8), rnd({ 4 }, 0.2), rnd({ 1, 4 }, 0.8), rnd({ 1 }, 0.2)
   end
   local function critic(w1, b1, w2, b2)
      return function(x) return F.linear(F.linear(x, w1, b1):tanh(), w2, b2) end
   end
   -- grad_x D at one sample x (a Lua list), by hand: W1^T (w2 * (1 - tanh^2(W1 x + b1)))
   local function input_grad(x, w1, b1, w2)
      local W1, B1, W2 = w1:detach():totable(), b1:detach():totable(), w2:detach():totable()[1]
      local g = { 0, 0, 0 }
      for j = 1, 4 do
         local h = B1[j]
         for i = 1, 3 do h = h + W1[j][i] * x[i] end
         local s = W2[j] * (1 - math.tanh(h) ^ 2)
         for i = 1, 3 do g[i] = g[i] + W1[j][i] * s end
      end
      return g
   end
   local function norm(v) local s = 0 for _, x in ipairs(v) do s = s + x * x end return math.sqrt(s) end

   local real = t64 { { 0.5, -1, 0.2 }, { 1.5, 0.3, -0.7 }, { -0.2, 0.1, 0.9 } }
   local fake = t64 { { -0.5, 0.4, 1.1 }, { 0.0, -1.3, 0.2 }, { 0.8, 0.8, -0.1 } }

   it("gradient_penalty = weight E[(||grad D(a x + (1 - a) G(z))|| - 1)^2] with a ~ U(0, 1) per sample", function()
      local w1, b1, w2, b2 = weights()
      local gp, mean_norm = penalties.gradient_penalty(critic(w1, b1, w2, b2), real, fake,
         { weight = 7, generator = gan.Generator(4) })
      -- the same a from the same seed
      local a = gan.rand({ 3, 1 }, { dtype = "float64", generator = gan.Generator(4) }):totable()
      local R3, G3 = real:totable(), fake:totable()
      local pen, ns = 0, 0
      for n = 1, 3 do
         local xh = {}
         for i = 1, 3 do xh[i] = a[n][1] * R3[n][i] + (1 - a[n][1]) * G3[n][i] end
         local nn = norm(input_grad(xh, w1, b1, w2))
         pen, ns = pen + (nn - 1) ^ 2, ns + nn
      end
      close(gp, 7 * pen / 3, 1e-12, "gp")
      close(mean_norm, ns / 3, 1e-12, "mean gradient norm")
      assert.is_true(gp.requires_grad)
   end)

   it("gradient_penalty of a linear critic is weight (||w|| - 1)^2 whatever the samples (default weight 10)", function()
      local w, b = leaf { { 0.3, -1.2, 0.4 } }, leaf { 0.5 }
      local gp, n = penalties.gradient_penalty(function(x) return F.linear(x, w, b) end, real, fake)
      local nw = math.sqrt(0.09 + 1.44 + 0.16)
      close(gp, 10 * (nw - 1) ^ 2, 1e-12, "gp")
      close(n, nw, 1e-12, "norm")
      -- target (one-centred by default) can be changed
      local gp0 = penalties.gradient_penalty(function(x) return F.linear(x, w, b) end, real, fake, { target = 0, weight = 1 })
      close(gp0, nw * nw, 1e-12, "zero-centred gp")
      -- images: the norm is over all of C, H, W
      local wi = gan.randn({ 1, 2 * 2 * 2 }, F64):requires_grad_()
      local D = function(x) return F.linear(x:flatten(2), wi, nil) end
      local gpi, ni = penalties.gradient_penalty(D, gan.randn({ 5, 2, 2, 2 }, F64), gan.randn({ 5, 2, 2, 2 }, F64), { weight = 1 })
      local nwi = wi:detach():norm():item()
      close(ni, nwi, 1e-12, "image norm")
      close(gpi, (nwi - 1) ^ 2, 1e-12, "image gp")
   end)

   it("gradient_penalty's gradient w.r.t. the critic's weights matches finite differences", function()
      local w1, b1, w2, b2 = weights()
      assert(gradcheck(function(a1, c1, a2, c2)
         return (penalties.gradient_penalty(critic(a1, c1, a2, c2), real, fake, { weight = 3, generator = gan.Generator(9) }))
      end, { w1, b1, w2, b2 }))
   end)

   it("gradient_penalty does not leak gradients into real or fake", function()
      local w1, b1, w2, b2 = weights()
      local r, f = real:clone():requires_grad_(), fake:clone():requires_grad_()
      local gp = penalties.gradient_penalty(critic(w1, b1, w2, b2), r, f, { generator = gan.Generator(1) })
      gp:backward()
      assert.is_nil(r.grad)
      assert.is_nil(f.grad)
      assert.is_not_nil(w1.grad)
   end)

   it("r1 = weight / 2 E[||grad D(x)||^2] on real data, with its weight gradient", function()
      local w1, b1, w2, b2 = weights()
      local r1 = penalties.r1(critic(w1, b1, w2, b2), real, { weight = 4 })
      local R3, s = real:totable(), 0
      for n = 1, 3 do s = s + norm(input_grad(R3[n], w1, b1, w2)) ^ 2 end
      close(r1, 4 / 2 * s / 3, 1e-12, "r1")
      -- default weight 10
      close(penalties.r1(critic(w1, b1, w2, b2), real), 10 / 2 * s / 3, 1e-12, "r1 default weight")
      assert(gradcheck(function(a1, c1, a2, c2)
         return penalties.r1(critic(a1, c1, a2, c2), real, { weight = 2 })
      end, { w1, b1, w2, b2 }))
   end)
end)

describe("gan.penalties.lazy_weight", function()
   it("is weight * every on steps divisible by every, nil otherwise or when the weight is 0", function()
      local got = {}
      for step = 1, 8 do got[step] = penalties.lazy_weight(step, 10, 4) or false end
      assert.are.same({ false, false, false, 40, false, false, false, 40 }, got)
      assert.are.equal(2.5, penalties.lazy_weight(3, 2.5))
      assert.is_nil(penalties.lazy_weight(4, 0, 4))
      assert.is_nil(penalties.lazy_weight(4, nil, 4))
   end)
end)
