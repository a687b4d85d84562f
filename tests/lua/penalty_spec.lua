-- Gradient penalties through double backward: WGAN-GP and R1 on a tiny conv critic,
-- differentiated with respect to the critic's weights, against finite differences of the
-- penalty itself and against closed forms for a linear critic.
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
