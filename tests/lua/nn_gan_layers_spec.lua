-- GAN-specific layers (spectral norm, self-attention, conditional batch norm, ProGAN and
-- StyleGAN layers, residual blocks) and the helpers of gan.nn.utils (EMA, clipping,
-- orthogonal regularisation), each against a computation done here by hand.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "nn_helpers.lua")
local nn = gan.nn
local F = gan.F
local U = nn.utils
local gradcheck = gan.testing.gradcheck

local F64 = { dtype = "float64" }

local function set(p, t)
   gan.no_grad(function() p:copy_(t) end)
   return p
end

-- Plain-Lua matrices (tables of rows) from 2-d tensors.
local function mat(t) return t:detach():double():totable() end

local function matvec(A, x)
   local y = {}
   for i = 1, #A do
      local s = 0
      for j = 1, #x do s = s + A[i][j] * x[j] end
      y[i] = s
   end
   return y
end
local function tmatvec(A, x)
   local y = {}
   for j = 1, #A[1] do
      local s = 0
      for i = 1, #A do s = s + A[i][j] * x[i] end
      y[j] = s
   end
   return y
end
local function norm(x)
   local s = 0
   for _, v in ipairs(x) do s = s + v * v end
   return math.sqrt(s)
end

-- Largest singular value by many power iterations on A^T A from a fixed start.
local function sigma_max(A, iters)
   local v = {}
   for j = 1, #A[1] do v[j] = 1 + 0.01 * j end
   local s = 0
   for _ = 1, iters or 3000 do
      local u = matvec(A, v)
      local w = tmatvec(A, u)
      local n = norm(w)
      for j = 1, #w do v[j] = w[j] / n end
      s = norm(matvec(A, v))
   end
   return s
end

describe("nn.utils.spectral_norm", function()
   before_each(function() gan.manual_seed(30) end)

   it("replaces weight by weight_orig with u, v buffers", function()
      local m = U.spectral_norm(nn.Linear(6, 4))
      local names = {}
      for n in m:named_parameters() do names[#names + 1] = n end
      assert.are.same({ "bias", "weight_orig" }, (function() table.sort(names); return names end)())
      local bufs = {}
      for n, b in m:named_buffers() do bufs[n] = b end
      H.same_shape(bufs.weight_u, { 4 })
      H.same_shape(bufs.weight_v, { 6 })
      local sd = m:state_dict()
      assert.is_not_nil(sd.weight_orig); assert.is_not_nil(sd.weight_u); assert.is_not_nil(sd.weight_v)
      assert.is_nil(sd.weight)
   end)

   it("normalises a random matrix to a largest singular value converging to 1", function()
      local lin = nn.Linear(7, 9, F64)
      set(lin.weight, H.randn { 9, 7 } * 3)
      local true_sigma = sigma_max(mat(lin.weight))
      local m = U.spectral_norm(lin)
      local x = H.randn { 2, 7 }
      for _ = 1, 60 do m(x) end
      local w = m.weight
      -- the normalised weight is weight_orig / sigma and its spectral norm is 1
      local s = sigma_max(mat(w))
      assert.is_true(math.abs(s - 1) < 1e-4, ("sigma of normalised weight %.8f"):format(s))
      -- u^T W v estimates the true sigma
      local u, v = H.flat(m.weight_u), H.flat(m.weight_v)
      local est = 0
      local Wv = matvec(mat(m.weight_orig), v)
      for i = 1, #u do est = est + u[i] * Wv[i] end
      assert.is_true(math.abs(est - true_sigma) < 1e-4 * true_sigma, est .. " vs " .. true_sigma)
      H.close(w, H.flat(m.weight_orig:detach() / true_sigma), 1e-6, 1e-4, "weight / sigma")
      -- the forward uses the normalised weight
      H.close(m(x), H.flat(F.linear(x, w:detach(), m.bias:detach())), 1e-12, 1e-12, "forward")
   end)

   it("works on convolution weights viewed as (out, in*kh*kw)", function()
      local conv = nn.Conv2d(3, 5, 3, F64)
      set(conv.weight, H.randn { 5, 3, 3, 3 })
      local m = U.spectral_norm(conv)
      for _ = 1, 60 do m(H.randn { 1, 3, 4, 4 }) end
      local s = sigma_max(mat(m.weight:reshape(5, 27)))
      assert.is_true(math.abs(s - 1) < 1e-4, s)
   end)

   it("views transposed-convolution weights with output channels first", function()
      local conv = nn.ConvTranspose2d(3, 5, 4, F64)
      set(conv.weight, H.randn { 3, 5, 4, 4 })
      local m = U.spectral_norm(conv)
      H.same_shape(m.weight_u, { 5 })
      H.same_shape(m.weight_v, { 48 })
      for _ = 1, 60 do m(H.randn { 1, 3, 2, 2 }) end
      local s = sigma_max(mat(m.weight:permute(2, 1, 3, 4):reshape(5, 48)))
      assert.is_true(math.abs(s - 1) < 1e-4, s)
   end)

   it("updates u and v only in training mode", function()
      local m = U.spectral_norm(nn.Linear(5, 4))
      local x = gan.randn { 3, 5 }
      local u0, v0 = H.flat(m.weight_u), H.flat(m.weight_v)
      m(x)
      local u1, v1 = H.flat(m.weight_u), H.flat(m.weight_v)
      assert.are_not.same(u0, u1)
      assert.are_not.same(v0, v1)
      m:eval()
      local y1 = m(x)
      local y2 = m(x)
      H.close(m.weight_u, u1, 0, 0, "u unchanged in eval")
      H.close(m.weight_v, v1, 0, 0, "v unchanged in eval")
      H.identical(y1, y2, "eval forward is deterministic")
      -- n_power_iterations > 1 moves further per call
      local m2 = U.spectral_norm(nn.Linear(5, 4), { n_power_iterations = 3 })
      m2(x)
   end)

   it("two recorded forwards in training mode backpropagate (as D(real), D(fake) in one loss)", function()
      local m = U.spectral_norm(nn.Linear(5, 4))
      local x1, x2 = gan.randn { 3, 5 }, gan.randn { 3, 5 }
      local y1 = m(x1)
      local w1 = m.weight:detach():clone()   -- the normalised weight of the first forward
      local y2 = m(x2)                       -- its power iteration changes u and v in place
      local w2 = m.weight:detach():clone()
      ;(y1:sum() + y2:sum()):backward()
      H.close(m.bias.grad, { 6, 6, 6, 6 }, 1e-6, 0, "bias grad of both forwards (3 rows each)")
      assert.is_true((w1 - w2):abs():max():item() > 0)   -- the two forwards used different sigmas
      assert.is_true(m.weight_orig.grad:abs():sum():item() > 0)
   end)

   it("passes gradients to weight_orig (gradcheck in eval mode)", function()
      local m = U.spectral_norm(nn.Linear(4, 3, F64))
      for _ = 1, 10 do m(H.randn { 2, 4 }) end
      local x = H.randn { 2, 4 }
      m(x):sum():backward()
      assert.is_not_nil(m.weight_orig.grad)
      assert.is_true(m.weight_orig.grad:abs():max():item() > 0)
      assert.is_not_nil(m.bias.grad)
      m:eval()
      local xx = H.randn { 2, 4 }:requires_grad_()
      assert.is_true(gradcheck(function(a) return m(a) end, { xx, m.weight_orig, m.bias }))
   end)
end)

-- 1x1 convolution weights Wm (rows, C) applied to sample n of x (flat values xv, indexer
-- xi over (N, C, P)): (rows, P) as plain tables.
local function project(Wm, rows, xv, xi, n, C, P)
   local out = {}
   for r = 1, rows do
      out[r] = {}
      for p = 1, P do
         local s = 0
         for c = 1, C do s = s + Wm[r][c] * xv[xi(n, c, p)] end
         out[r][p] = s
      end
   end
   return out
end

describe("nn.SelfAttention2d", function()
   before_each(function() gan.manual_seed(31) end)

   it("is the identity with gamma = 0 (its initial value)", function()
      local m = nn.SelfAttention2d(16)
      assert.are.equal(0, m.gamma:item())
      local x = gan.randn { 2, 16, 3, 4 }
      H.identical(m(x), x, "gamma 0")
   end)

   it("matches plain matmuls and softmax with gamma ~= 0", function()
      local C, N, Hh, W = 16, 2, 3, 4
      local m = nn.SelfAttention2d(C)
      set(m.gamma, gan.tensor { 0.7 })
      local x = gan.randn { N, C, Hh, W }
      local y = m(x)
      local Wq, Wk, Wv = mat(m.query.weight:reshape(2, C)), mat(m.key.weight:reshape(2, C)),
         mat(m.value.weight:reshape(C, C))
      local xv, xi = H.flat(x), H.indexer { N, C, Hh * W }
      local ref = {}
      local P = Hh * W
      for n = 1, N do
         local q, k, v = project(Wq, 2, xv, xi, n, C, P), project(Wk, 2, xv, xi, n, C, P),
            project(Wv, C, xv, xi, n, C, P)
         local attn = {}
         for i = 1, P do
            local logits, mx = {}, -math.huge
            for j = 1, P do
               local s = 0
               for c = 1, 2 do s = s + q[c][i] * k[c][j] end
               logits[j] = s
               mx = math.max(mx, s)
            end
            local z = 0
            for j = 1, P do logits[j] = math.exp(logits[j] - mx); z = z + logits[j] end
            attn[i] = {}
            for j = 1, P do attn[i][j] = logits[j] / z end
         end
         for c = 1, C do
            for i = 1, P do
               local o = 0
               for j = 1, P do o = o + v[c][j] * attn[i][j] end
               ref[xi(n, c, i)] = 0.7 * o + xv[xi(n, c, i)]
            end
         end
      end
      H.close(y, ref, 1e-4, 1e-4, "self attention")
   end)

   it("pooled (the code releases' form): keys and values max-pooled 2x2, C/2 values, an output conv", function()
      local C, N, Hh, W = 16, 2, 4, 2
      local m = nn.SelfAttention2d(C, { pool = true })
      set(m.gamma, gan.tensor { 0.6 })
      assert.are.same({ 8, 16, 8 }, { m.value.weight:size(1), m.out.weight:size(1), m.out.weight:size(2) })
      local x = gan.randn { N, C, Hh, W }
      local y = m(x)
      local Wq, Wk = mat(m.query.weight:reshape(2, C)), mat(m.key.weight:reshape(2, C))
      local Wv, Wo = mat(m.value.weight:reshape(8, C)), mat(m.out.weight:reshape(C, 8))
      local xv, xi = H.flat(x), H.indexer { N, C, Hh * W }
      local ref = {}
      for n = 1, N do
         local function proj(Wm, rows) return project(Wm, rows, xv, xi, n, C, Hh * W) end
         local function pool(t)          -- 2x2 max over (Hh, W) -> (Hh/2 * W/2)
            local out = {}
            for r = 1, #t do
               out[r] = {}
               for i = 0, Hh / 2 - 1 do for j = 0, W / 2 - 1 do
                  local mx = -math.huge
                  for di = 0, 1 do for dj = 0, 1 do
                     mx = math.max(mx, t[r][(2 * i + di) * W + 2 * j + dj + 1])
                  end end
                  out[r][#out[r] + 1] = mx
               end end
            end
            return out
         end
         local q, k, v = proj(Wq, 2), pool(proj(Wk, 2)), pool(proj(Wv, 8))
         local P = #k[1]
         local o = {}   -- (8, Hh*W) attended values
         for c = 1, 8 do o[c] = {} end
         for i = 1, Hh * W do
            local logits, mx, z = {}, -math.huge, 0
            for j = 1, P do
               logits[j] = q[1][i] * k[1][j] + q[2][i] * k[2][j]
               mx = math.max(mx, logits[j])
            end
            for j = 1, P do logits[j] = math.exp(logits[j] - mx); z = z + logits[j] end
            for c = 1, 8 do
               local s = 0
               for j = 1, P do s = s + v[c][j] * logits[j] / z end
               o[c][i] = s
            end
         end
         for c = 1, C do
            for i = 1, Hh * W do
               local s = 0
               for d = 1, 8 do s = s + Wo[c][d] * o[d][i] end
               ref[xi(n, c, i)] = 0.6 * s + xv[xi(n, c, i)]
            end
         end
      end
      H.close(y, ref, 1e-4, 1e-4, "pooled self attention")
      assert.has_error(function() m(gan.randn { 1, C, 3, 2 }) end,
         "SelfAttention2d: pooled attention needs an even height and width, got 3x2")
   end)

   it("gamma and the projections receive gradients", function()
      local m = nn.SelfAttention2d(8)
      set(m.gamma, gan.tensor { 0.5 })
      m(gan.randn { 2, 8, 2, 2 }):pow(2):sum():backward()
      for n, p in m:named_parameters() do
         assert.is_not_nil(p.grad, n)
         assert.is_true(p.grad:abs():max():item() > 0, n)
      end
   end)
end)

describe("nn.ConditionalBatchNorm2d", function()
   before_each(function() gan.manual_seed(32) end)

   it("with class labels: gain 1, bias 0 at init equals plain batch norm", function()
      local m = nn.ConditionalBatchNorm2d(3, 5)
      local bn = nn.BatchNorm2d(3, { affine = false })
      local x = gan.randn { 4, 3, 2, 3 }
      local y = gan.tensor({ 0, 4, 2, 2 }, { dtype = "int64" })
      H.close(m(x, y), H.flat(bn(x)), 1e-6, 1e-6, "init equals batch norm")
      H.close(m.bn.running_mean, H.flat(bn.running_mean), 1e-7, 1e-7, "running stats too")
   end)

   it("with class labels applies the class's gain and bias", function()
      local m = nn.ConditionalBatchNorm2d(3, 5)
      set(m.embed_gain.weight, gan.randn { 5, 3 })
      set(m.embed_bias.weight, gan.randn { 5, 3 })
      local g, b = mat(m.embed_gain.weight), mat(m.embed_bias.weight)
      local x = gan.randn { 4, 3, 2, 3 }
      local labels = { 1, 4, 0, 1 }
      local y = m(x, gan.tensor(labels, { dtype = "int64" }))
      local h = H.flat(nn.BatchNorm2d(3, { affine = false })(x))
      local ref, hi = {}, H.indexer { 4, 3, 6 }
      for n = 1, 4 do for c = 1, 3 do for k = 1, 6 do
         local i = hi(n, c, k)
         ref[i] = h[i] * g[labels[n] + 1][c] + b[labels[n] + 1][c]
      end end end
      H.close(y, ref, 1e-5, 1e-5, "class conditional")
   end)

   it("with cond_dim uses gain = 1 + Linear(c) and bias = Linear(c)", function()
      local m = nn.ConditionalBatchNorm2d(3, nil, { cond_dim = 4 })
      local c = gan.randn { 2, 4 }
      local x = gan.randn { 2, 3, 3, 3 }
      local y = m(x, c)
      local Wg, Wb, cv = mat(m.gain.weight), mat(m.bias.weight), mat(c)
      local h = H.flat(nn.BatchNorm2d(3, { affine = false })(x))
      local ref, hi = {}, H.indexer { 2, 3, 9 }
      for n = 1, 2 do
         local gain, bias = matvec(Wg, cv[n]), matvec(Wb, cv[n])
         for ch = 1, 3 do for k = 1, 9 do
            local i = hi(n, ch, k)
            ref[i] = h[i] * (1 + gain[ch]) + bias[ch]
         end end
      end
      H.close(y, ref, 1e-5, 1e-5, "cond_dim")
      y:sum():backward()
      assert.is_not_nil(m.gain.weight.grad)
      assert.is_not_nil(m.bias.weight.grad)
   end)
end)

describe("ProGAN and StyleGAN layers", function()
   before_each(function() gan.manual_seed(33) end)

   it("PixelNorm divides by the root mean square over channels", function()
      local x = gan.randn { 2, 5, 3, 2 }
      local v, xi = H.flat(x), H.indexer { 2, 5, 6 }
      local ref = {}
      for n = 1, 2 do for k = 1, 6 do
         local s = 0
         for c = 1, 5 do s = s + v[xi(n, c, k)] ^ 2 end
         local r = 1 / math.sqrt(s / 5 + 1e-8)
         for c = 1, 5 do ref[xi(n, c, k)] = v[xi(n, c, k)] * r end
      end end
      H.close(nn.PixelNorm()(x), ref, 1e-5, 1e-5, "pixel norm")
   end)

   it("MinibatchStdDev appends the group standard deviation averaged over features", function()
      local N, C, Hh, W, g = 8, 3, 2, 2, 4
      local x = gan.randn { N, C, Hh, W }
      local y = nn.MinibatchStdDev(g)(x)
      H.same_shape(y, { N, C + 1, Hh, W })
      local v, xi = H.flat(x), H.indexer { N, C, Hh * W }
      local M = N // g
      -- sample n (0-based) is in group n % M, with samples n % M, n % M + M, ...
      local s = {}
      for m = 0, M - 1 do
         local acc = 0
         for c = 1, C do for k = 1, Hh * W do
            local mean = 0
            for j = 0, g - 1 do mean = mean + v[xi(m + j * M + 1, c, k)] end
            mean = mean / g
            local var = 0
            for j = 0, g - 1 do var = var + (v[xi(m + j * M + 1, c, k)] - mean) ^ 2 end
            acc = acc + math.sqrt(var / g + 1e-8)
         end end
         s[m] = acc / (C * Hh * W)
      end
      local yv, yi = H.flat(y), H.indexer { N, C + 1, Hh * W }
      for n = 1, N do
         for c = 1, C do for k = 1, Hh * W do assert.are.equal(v[xi(n, c, k)], yv[yi(n, c, k)]) end end
         for k = 1, Hh * W do
            assert.is_true(math.abs(yv[yi(n, C + 1, k)] - s[(n - 1) % M]) < 1e-5,
               ("sample %d: %g vs %g"):format(n, yv[yi(n, C + 1, k)], s[(n - 1) % M]))
         end
      end
      -- a batch smaller than the group size forms one group
      local y2 = nn.MinibatchStdDev(4)(x:narrow(1, 1, 2))
      H.same_shape(y2, { 2, C + 1, Hh, W })
      H.raises(function() nn.MinibatchStdDev(3)(x) end, "divisible")
   end)

   it("EqualLinear scales N(0,1)/lr_mul weights by lr_mul/sqrt(fan_in) at run time", function()
      local m = nn.EqualLinear(5, 3, { lr_mul = 0.1, bias_init = 0.5 })
      local big = nn.EqualLinear(400, 300, { lr_mul = 0.1 })
      local std = (big.weight:detach():double() * 0.1):std():item()
      assert.is_true(math.abs(std - 1) < 0.02, std)
      local x = gan.randn { 4, 5 }
      local W, b = mat(m.weight), H.flat(m.bias)
      H.close(m.bias, { 0.5, 0.5, 0.5 }, 0, 0, "bias_init")
      local ref, xm = {}, mat(x)
      local scale = 0.1 / math.sqrt(5)
      for n = 1, 4 do
         for o = 1, 3 do
            local s = b[o] * 0.1
            for i = 1, 5 do s = s + xm[n][i] * W[o][i] * scale end
            ref[#ref + 1] = s
         end
      end
      H.close(m(x), ref, 1e-5, 1e-5, "equal linear")
      -- the stored weight's gradient is scaled as well (the point of equalised lr)
      m(x):sum():backward()
      local gref = {}
      for o = 1, 3 do for i = 1, 5 do
         local s = 0
         for n = 1, 4 do s = s + xm[n][i] end
         gref[#gref + 1] = s * scale
      end end
      H.close(m.weight.grad, gref, 1e-5, 1e-5, "equal linear grad")
      H.close(m.bias.grad, { 0.4, 0.4, 0.4 }, 1e-6, 1e-6, "bias grad times lr_mul")
   end)

   it("EqualConv2d convolves with weight / sqrt(in * k * k)", function()
      local m = nn.EqualConv2d(3, 4, 3, { padding = 1 })
      set(m.bias, gan.randn { 4 })
      local x = gan.randn { 2, 3, 5, 5 }
      local scaled = m.weight:detach() * (1 / math.sqrt(27))
      local ref = H.conv2d(x, scaled, m.bias, { padding = { 1, 1 } })
      H.close(m(x), ref, 1e-4, 1e-4, "equal conv")
      local s = m.weight:detach():double():std():item()
      assert.is_true(math.abs(s - 1) < 0.3, s)
   end)

   it("a gain multiplies the run-time scale of EqualLinear and EqualConv2d, and keeps a leaky ReLU stack's variance", function()
      local lin = nn.EqualLinear(5, 3, { lr_mul = 0.1, gain = 2 })
      local x = gan.randn { 4, 5 }
      local ref = F.linear(x, lin.weight:detach() * (2 * 0.1 / math.sqrt(5)), lin.bias:detach() * 0.1)
      H.close(lin(x), ref, 1e-5, 1e-5, "equal linear with gain 2")
      local conv = nn.EqualConv2d(3, 4, 3, { padding = 1, gain = 1.5 })
      local xc = gan.randn { 2, 3, 5, 5 }
      H.close(conv(xc), H.conv2d(xc, conv.weight:detach() * (1.5 / math.sqrt(27)), conv.bias, { padding = { 1, 1 } }),
         1e-4, 1e-4, "equal conv with gain 1.5")
      -- ten 256-wide layers, each followed by a leaky ReLU (0.2): with He's gain sqrt(2 / (1 + 0.2^2))
      -- the output's mean square stays near the input's; with gain 1 it halves (about) per layer
      local function depth_ms(gain)
         gan.manual_seed(7)
         local h = gan.randn { 512, 256 }
         for _ = 1, 10 do h = F.leaky_relu(nn.EqualLinear(256, 256, { gain = gain })(h), 0.2) end
         return (h * h):mean():item()
      end
      local he = depth_ms(math.sqrt(2 / 1.04))
      assert.is_true(he > 0.7 and he < 1.4, he)
      local plain = depth_ms(1)
      assert.is_true(plain > 0.0005 and plain < 0.004, plain)   -- 0.52^10 = 0.0015
   end)

   it("ModulatedConv2d: each sample convolved with its own modulated, demodulated weights", function()
      local m = nn.ModulatedConv2d(3, 4, 3, 5)
      H.close(m.style.bias, { 1, 1, 1 }, 0, 0, "style bias 1 at init")
      set(m.style.bias, gan.randn { 3 })
      set(m.bias, gan.randn { 4 })
      local x, w = gan.randn { 2, 3, 5, 5 }, gan.randn { 2, 5 }
      local s = m.style(w):detach()                       -- (2, 3) styles
      local base = m.weight:detach():double() * (1 / math.sqrt(27))
      local function by_hand(demod)
         local outs = {}
         for n = 1, 2 do
            -- w'_{o,i,k} = base_{o,i,k} s_{n,i}; demodulated: over sqrt(sum_{i,k} w'^2 + 1e-8)
            local wn = base * s[n]:double():view(1, 3, 1, 1)
            if demod then wn = wn / ((wn * wn):sum({ 2, 3, 4 }, true) + 1e-8):sqrt() end
            outs[n] = H.conv2d(x:narrow(1, n, 1):double(), wn, m.bias:detach():double(), { padding = { 1, 1 } })
         end
         local flat = {}   -- the two samples' values, in the (N, C, H, W) order
         for n = 1, 2 do for _, v in ipairs(outs[n]) do flat[#flat + 1] = v end end
         return flat
      end
      H.close(m(x, w), by_hand(true), 1e-4, 1e-4, "modulated, demodulated")
      local plain = nn.ModulatedConv2d(3, 4, 3, 5, { demodulate = false })
      set(plain.weight, m.weight:detach()); set(plain.bias, m.bias:detach())
      set(plain.style.weight, m.style.weight:detach()); set(plain.style.bias, m.style.bias:detach())
      H.close(plain(x, w), by_hand(false), 1e-4, 1e-4, "modulated only")
      -- demodulation keeps unit-variance inputs at about unit variance, whatever the style's scale
      local big = m(gan.randn { 64, 3, 8, 8 }, gan.randn { 64, 5 } * 10) - m.bias:detach():view(1, 4, 1, 1)
      local sd = big:double():std():item()
      assert.is_true(sd > 0.7 and sd < 1.3, sd)
   end)

   it("AdaIN: instance norm scaled and shifted by Linear(style), scale bias 1 at init", function()
      local m = nn.AdaIN(3, 4)
      H.close(m.style.bias, { 1, 1, 1, 0, 0, 0 }, 0, 0, "scale bias 1, shift bias 0")
      local x, w = gan.randn { 2, 3, 3, 3 } * 2 + 1, gan.randn { 2, 4 }
      local y = m(x, w)
      local Wt, bt, wm = mat(m.style.weight), H.flat(m.style.bias), mat(w)
      local xv, xi = H.flat(x), H.indexer { 2, 3, 9 }
      local ref = {}
      for n = 1, 2 do
         local st = matvec(Wt, wm[n])
         for c = 1, 3 do
            local mean, var = 0, 0
            for k = 1, 9 do mean = mean + xv[xi(n, c, k)] end
            mean = mean / 9
            for k = 1, 9 do var = var + (xv[xi(n, c, k)] - mean) ^ 2 end
            var = var / 9
            local scale, shift = st[c] + bt[c], st[3 + c] + bt[3 + c]
            for k = 1, 9 do
               ref[xi(n, c, k)] = (xv[xi(n, c, k)] - mean) / math.sqrt(var + 1e-5) * scale + shift
            end
         end
      end
      H.close(y, ref, 1e-4, 1e-4, "AdaIN")
   end)

   it("NoiseInjection: weight 0 is the identity; else x + weight * noise", function()
      local m = nn.NoiseInjection(3)
      local x = gan.randn { 2, 3, 4, 4 }
      H.identical(m(x), x, "zero weight")
      set(m.weight, gan.tensor({ 0.5, -1, 2 }):view(1, 3, 1, 1))
      local noise = gan.randn { 2, 1, 4, 4 }
      local y = m(x, noise)
      local xv, nv = H.flat(x), H.flat(noise)
      local xi, ni = H.indexer { 2, 3, 16 }, H.indexer { 2, 1, 16 }
      local ref, wv = {}, { 0.5, -1, 2 }
      for n = 1, 2 do for c = 1, 3 do for k = 1, 16 do
         ref[xi(n, c, k)] = xv[xi(n, c, k)] + wv[c] * nv[ni(n, 1, k)]
      end end end
      H.close(y, ref, 1e-6, 1e-6, "noise injection")
      -- drawn noise is shared across channels
      local d = H.flat(m(x) - x)
      for n = 1, 2 do for k = 1, 16 do
         assert.is_true(math.abs(d[xi(n, 1, k)] * 2 - d[xi(n, 3, k)] / 2) < 1e-5)
      end end
   end)
end)

-- Replaces every parameter and float buffer of m by a float64 copy (for gradcheck).
local function to_f64(m)
   for _, mod in ipairs(m:modules()) do
      for _, n in ipairs(mod._param_names) do
         local p = rawget(mod, n)
         if p ~= nil then rawset(mod, n, p:detach():double():requires_grad_()) end
      end
      for _, n in ipairs(mod._buffer_names) do
         local b = rawget(mod, n)
         if b ~= nil and b.dtype == "float32" then rawset(mod, n, b:double()) end
      end
   end
   return m
end

describe("GAN layers gradcheck in float64", function()
   before_each(function() gan.manual_seed(38) end)

   local function check(m, inputs, extra)
      local list = { table.unpack(inputs) }
      for _, p in ipairs(m:parameters()) do list[#list + 1] = p end
      local n_in = #inputs
      assert.is_true(gradcheck(function(...)
         local args = { ... }
         local call = {}
         for i = 1, n_in do call[i] = args[i] end
         for _, e in ipairs(extra or {}) do call[#call + 1] = e end
         return m(table.unpack(call))
      end, list))
   end

   it("SelfAttention2d with gamma ~= 0", function()
      local m = to_f64(nn.SelfAttention2d(8))
      set(m.gamma, gan.tensor({ 0.8 }, F64))
      check(m, { H.randn({ 1, 8, 2, 2 }):requires_grad_() })
      local p = to_f64(nn.SelfAttention2d(8, { pool = true }))
      set(p.gamma, gan.tensor({ 0.8 }, F64))
      check(p, { H.randn({ 1, 8, 4, 2 }):requires_grad_() })
   end)

   it("ConditionalBatchNorm2d with classes and with cond_dim", function()
      local m = to_f64(nn.ConditionalBatchNorm2d(2, 3))
      set(m.embed_gain.weight, H.randn { 3, 2 }); set(m.embed_bias.weight, H.randn { 3, 2 })
      check(m, { H.randn({ 3, 2, 2, 2 }):requires_grad_() }, { gan.tensor({ 0, 2, 1 }, { dtype = "int64" }) })
      local c = to_f64(nn.ConditionalBatchNorm2d(2, nil, { cond_dim = 3 }))
      check(c, { H.randn({ 2, 2, 2, 2 }):requires_grad_(), H.randn({ 2, 3 }):requires_grad_() })
   end)

   it("PixelNorm and MinibatchStdDev", function()
      check(nn.PixelNorm(), { H.randn({ 2, 3, 2, 2 }):requires_grad_() })
      check(nn.MinibatchStdDev(2), { H.randn({ 4, 2, 2, 2 }):requires_grad_() })
   end)

   it("EqualLinear, EqualConv2d, AdaIN, ModulatedConv2d and NoiseInjection", function()
      check(to_f64(nn.EqualLinear(3, 2, { lr_mul = 0.5 })), { H.randn({ 2, 3 }):requires_grad_() })
      check(to_f64(nn.EqualConv2d(2, 2, 3, { padding = 1 })), { H.randn({ 1, 2, 3, 3 }):requires_grad_() })
      check(to_f64(nn.AdaIN(2, 3)), { H.randn({ 2, 2, 2, 2 }):requires_grad_(), H.randn({ 2, 3 }):requires_grad_() })
      check(to_f64(nn.ModulatedConv2d(2, 3, 3, 2)), { H.randn({ 2, 2, 3, 3 }):requires_grad_(), H.randn({ 2, 2 }):requires_grad_() })
      local noise = to_f64(nn.NoiseInjection(2))
      set(noise.weight, H.randn { 1, 2, 1, 1 })
      check(noise, { H.randn({ 2, 2, 2, 2 }):requires_grad_(), H.randn({ 2, 1, 2, 2 }):requires_grad_() })
   end)

   it("ResidualBlock, ResBlockUp and ResBlockDown", function()
      check(to_f64(nn.ResidualBlock(1)), { H.randn({ 1, 1, 3, 3 }):requires_grad_() })
      check(to_f64(nn.ResBlockUp(1, 2)), { H.randn({ 2, 1, 2, 2 }):requires_grad_() })
      local down = to_f64(nn.ResBlockDown(1, 2, { sn = false }))
      check(down, { H.randn({ 1, 1, 4, 4 }):requires_grad_() })
   end)
end)

describe("residual blocks", function()
   before_each(function() gan.manual_seed(34) end)

   it("ResidualBlock keeps the shape, pads by reflection and adds its input", function()
      local m = nn.ResidualBlock(4)
      local x = gan.randn { 2, 4, 6, 5 }
      local y = m(x)
      H.same_shape(y, { 2, 4, 6, 5 })
      local mods = m.block:children()
      assert.are.equal("ReflectionPad2d", getmetatable(mods[1]).__name)
      assert.are.equal("Conv2d", getmetatable(mods[2]).__name)
      assert.are.same({ 0, 0 }, mods[2].padding)
      assert.are.equal("InstanceNorm2d", getmetatable(mods[3]).__name)
      assert.are.equal("ReflectionPad2d", getmetatable(mods[5]).__name)
      -- residual connection
      H.close(y - x, H.flat(m.block(x)), 1e-5, 1e-5, "y - x = block(x)")
      -- the whole block recomputed functionally with reflection padding
      local c1, c2 = mods[2], mods[6]
      local h = F.pad(x, { 1, 1, 1, 1 }, "reflect")
      h = F.conv2d(h, c1.weight:detach(), c1.bias:detach())
      h = F.instance_norm(h):relu()
      h = F.pad(h, { 1, 1, 1, 1 }, "reflect")
      h = F.instance_norm(F.conv2d(h, c2.weight:detach(), c2.bias:detach()))
      H.close(y, H.flat(x + h), 1e-4, 1e-4, "reference")
      -- batch norm variant and dropout
      local b = nn.ResidualBlock(4, { norm = "batch", dropout = true })
      H.same_shape(b(x), { 2, 4, 6, 5 })
      assert.are.equal("BatchNorm2d", getmetatable(b.block[3]).__name)
      assert.are.equal("Dropout", getmetatable(b.block[5]).__name)
   end)

   local function all_grads(m, x)
      for n, p in m:named_parameters() do
         assert.is_not_nil(p.grad, n)
         assert.is_true(p.grad:abs():max():item() > 0, n)
      end
      assert.is_not_nil(x.grad)
      assert.is_true(x.grad:abs():max():item() > 0)
   end

   it("ResBlockUp doubles the resolution and passes gradients everywhere", function()
      local m = nn.ResBlockUp(4, 3)
      local x = gan.randn { 2, 4, 3, 5 }:requires_grad_()
      local y = m(x)
      H.same_shape(y, { 2, 3, 6, 10 })
      y:pow(2):sum():backward()
      all_grads(m, x)
      -- conditional with classes and spectral norm
      local c = nn.ResBlockUp(4, 2, { num_classes = 3, sn = true })
      local x2 = gan.randn { 2, 4, 2, 2 }:requires_grad_()
      local y2 = c(x2, gan.tensor({ 0, 2 }, { dtype = "int64" }))
      H.same_shape(y2, { 2, 2, 4, 4 })
      y2:pow(2):sum():backward()
      all_grads(c, x2)
      -- conditional on a vector
      local v = nn.ResBlockUp(4, 2, { cond_dim = 6 })
      H.same_shape(v(gan.randn { 2, 4, 2, 2 }, gan.randn { 2, 6 }), { 2, 2, 4, 4 })
   end)

   it("ResBlockDown halves the resolution and passes gradients everywhere", function()
      local m = nn.ResBlockDown(3, 5)
      local x = gan.randn { 2, 3, 6, 4 }:requires_grad_()
      local y = m(x)
      H.same_shape(y, { 2, 5, 3, 2 })
      y:pow(2):sum():backward()
      all_grads(m, x)
      local first = nn.ResBlockDown(3, 4, { first = true })
      local x2 = gan.randn { 2, 3, 4, 4 }:requires_grad_()
      local y2 = first(x2)
      H.same_shape(y2, { 2, 4, 2, 2 })
      y2:pow(2):sum():backward()
      all_grads(first, x2)
      -- no downsampling and equal channels: identity skip
      local same = nn.ResBlockDown(3, 3, { downsample = false, sn = false })
      assert.is_nil(same.skip)
      local x3 = gan.randn { 1, 3, 4, 4 }
      local h = same.conv2(same.conv1(x3:relu()):relu())
      H.close(same(x3), H.flat(h + x3), 1e-5, 1e-5, "identity skip")
   end)
end)

describe("nn.utils.EMA", function()
   before_each(function() gan.manual_seed(35) end)

   local function model() return nn.Sequential { nn.Linear(3, 4), nn.BatchNorm1d(4) } end

   local function perturb(m)
      gan.no_grad(function()
         for _, p in ipairs(m:parameters()) do p:add_(gan.randn(p:size()) * 0.1) end
      end)
      m(gan.randn { 6, 3 })   -- moves the batch-norm buffers
   end

   it("copies the model before start_step, then averages with decay; buffers are copied", function()
      local src = model()
      local ema = U.EMA(src, { decay = 0.9, start_step = 3 })
      assert.is_false(ema.model.training)
      for _, p in ipairs(ema.model:parameters()) do assert.is_false(p.requires_grad) end
      local expected = {}
      for n, p in ema.model:named_parameters() do expected[n] = H.flat(p) end
      for step = 1, 6 do
         perturb(src)
         ema:update(step)
         local s = {}
         for n, p in src:named_parameters() do s[n] = H.flat(p) end
         for n, p in ema.model:named_parameters() do
            local e = expected[n]
            for i = 1, #e do
               if step < 3 then e[i] = s[n][i] else e[i] = 0.9 * e[i] + 0.1 * s[n][i] end
            end
            H.close(p, e, 1e-6, 1e-6, ("step %d %s"):format(step, n))
         end
         local sb = {}
         for n, b in src:named_buffers() do sb[n] = b end
         for n, b in ema.model:named_buffers() do H.identical(b, sb[n], "buffer " .. n) end
      end
      assert.are.equal(6, ema.num_updates)
      -- update() without a step counts on
      ema:update()
      assert.are.equal(7, ema.num_updates)
      -- the source is untouched by the EMA
      for _, p in ipairs(src:parameters()) do assert.is_true(p.requires_grad) end
   end)

   it("saves and restores its state", function()
      local src = model()
      local ema = U.EMA(src, { decay = 0.95, start_step = 2 })
      for step = 1, 4 do perturb(src); ema:update(step) end
      local other = U.EMA(model(), { decay = 0.5 })
      other:load_state_dict(ema:state_dict())
      assert.are.equal(4, other.num_updates)
      assert.are.equal(0.95, other.decay)
      assert.are.equal(2, other.start_step)
      local a, b = ema.model:state_dict(), other.model:state_dict()
      for k, v in pairs(a) do H.identical(b[k], v, k) end
      -- through a file as well
      local path = os.tmpname()
      gan.save(path, ema:state_dict())
      local third = U.EMA(model())
      third:load_state_dict(gan.load(path))
      os.remove(path)
      for k, v in pairs(a) do H.identical(third.model:state_dict()[k], v, k) end
      assert.are.equal(4, third.num_updates)
   end)
end)

describe("clipping", function()
   before_each(function() gan.manual_seed(36) end)

   it("clip_weights_ clamps every parameter to [-c, c]", function()
      local m = nn.Linear(10, 10)
      gan.no_grad(function() m.weight:mul_(10) end)
      local before = H.flat(m.weight)
      U.clip_weights_(m:parameters(), 0.05)
      local after = H.flat(m.weight)
      for i = 1, #before do
         -- exact inside the range, the float32 nearest to +-0.05 outside
         local e = math.max(-0.05, math.min(0.05, before[i]))
         assert.is_true(math.abs(after[i] - e) < 1e-9, after[i] .. " vs " .. e)
      end
      U.clip_weights_(m, 0.01)   -- a module works too
      assert.is_true(m.bias:abs():max():item() <= 0.01)
      assert.is_true(m.weight.requires_grad and m.weight.is_leaf)
   end)

   local function params_with_grads()
      local a = H.randn { 3, 4 }:requires_grad_()
      local b = H.randn { 5 }:requires_grad_()
      local c = H.randn { 2 }:requires_grad_()   -- no grad
      a.grad = H.randn { 3, 4 } * 2
      b.grad = H.randn { 5 }
      return { a, b, c }
   end

   it("clip_grad_norm_ returns the total norm and scales the gradients", function()
      local ps = params_with_grads()
      local ga, gb = H.flat(ps[1].grad), H.flat(ps[2].grad)
      local total = 0
      for _, v in ipairs(ga) do total = total + v * v end
      for _, v in ipairs(gb) do total = total + v * v end
      total = math.sqrt(total)
      local n = U.clip_grad_norm_(ps, 1.0)
      assert.is_true(math.abs(n - total) < 1e-12 * total, n .. " vs " .. total)
      local coef = 1.0 / (total + 1e-6)
      H.close(ps[1].grad, (function() local o = {} for i, v in ipairs(ga) do o[i] = v * coef end return o end)(),
         1e-12, 1e-12, "scaled a")
      H.close(ps[2].grad, (function() local o = {} for i, v in ipairs(gb) do o[i] = v * coef end return o end)(),
         1e-12, 1e-12, "scaled b")
      assert.is_nil(ps[3].grad)
      -- now below the limit: unchanged
      local ga2 = H.flat(ps[1].grad)
      local n2 = U.clip_grad_norm_(ps, 10)
      assert.is_true(math.abs(n2 - 1) < 1e-5)
      H.close(ps[1].grad, ga2, 0, 0, "unchanged")
      -- max-abs norm
      local qs = params_with_grads()
      local mx = 0
      for _, v in ipairs(H.flat(qs[1].grad)) do mx = math.max(mx, math.abs(v)) end
      for _, v in ipairs(H.flat(qs[2].grad)) do mx = math.max(mx, math.abs(v)) end
      local ni = U.clip_grad_norm_(qs, 0.5, math.huge)
      assert.are.equal(mx, ni)
      assert.is_true(math.abs(qs[1].grad:abs():max():item() - 0.5 * mx / (mx + 1e-6)) < 1e-9
         or qs[2].grad:abs():max():item() <= 0.5)
      assert.is_true(math.max(qs[1].grad:abs():max():item(), qs[2].grad:abs():max():item()) <= 0.5)
   end)

   it("clip_grad_value_ clamps every gradient element", function()
      local ps = params_with_grads()
      local ga = H.flat(ps[1].grad)
      U.clip_grad_value_(ps, 0.3)
      local after = H.flat(ps[1].grad)
      for i = 1, #ga do assert.are.equal(math.max(-0.3, math.min(0.3, ga[i])), after[i]) end
      assert.is_true(ps[2].grad:abs():max():item() <= 0.3)
   end)
end)

describe("nn.utils.orthogonal_regularization", function()
   before_each(function() gan.manual_seed(37) end)

   -- beta * ||W W^T (1 - I)||_F^2 for W viewed (rows, -1)
   local function ref(w, beta)
      local rows = w:size(1)
      local A = mat(w:reshape(rows, -1))
      local s = 0
      for i = 1, rows do for j = 1, rows do
         if i ~= j then
            local g = 0
            for k = 1, #A[1] do g = g + A[i][k] * A[j][k] end
            s = s + g * g
         end
      end end
      return beta * s
   end

   it("matches the hand computation for a list of weights and for a module", function()
      local w1, w2 = H.randn { 4, 6 }, H.randn { 3, 2, 2, 2 }
      local r = U.orthogonal_regularization({ w1, w2 }, 0.01)
      assert.are.equal(0, r:dim())
      local expected = ref(w1, 0.01) + ref(w2, 0.01)
      assert.is_true(math.abs(r:item() - expected) < 1e-10 * expected, r:item() .. " vs " .. expected)
      -- default beta 1e-4
      assert.is_true(math.abs(U.orthogonal_regularization({ w1 }):item() - ref(w1, 1e-4)) < 1e-12)
      -- a module: only parameters with >= 2 dims
      local m = nn.Sequential { nn.Linear(5, 4, F64), nn.Conv2d(2, 3, 2, F64) }
      local mr = U.orthogonal_regularization(m, 0.5)
      local me = ref(m[1].weight, 0.5) + ref(m[2].weight, 0.5)
      assert.is_true(math.abs(mr:item() - me) < 1e-10 * me)
      -- an orthogonal matrix has no penalty
      local q = nn.init.orthogonal_(gan.empty({ 4, 7 }, F64))
      assert.is_true(U.orthogonal_regularization({ q }, 1):item() < 1e-20)
      -- tall weights (more rows than columns, computed through W^T W) and a square one
      for _, shape in ipairs { { 9, 3 }, { 7, 2, 1, 1 }, { 5, 5 } } do
         local t = H.randn(shape)
         local got, want = U.orthogonal_regularization({ t }, 0.1):item(), ref(t, 0.1)
         assert.is_true(math.abs(got - want) < 1e-10 * want, table.concat(shape, "x") .. ": " .. got .. " vs " .. want)
      end
   end)

   it("its gradient passes gradcheck (wide, tall and 4-d weights)", function()
      local w = H.randn { 3, 5 }:requires_grad_()
      local c = H.randn { 2, 2, 2, 1 }:requires_grad_()
      local t = H.randn { 6, 2 }:requires_grad_()
      assert.is_true(gradcheck(function(a, b, d) return U.orthogonal_regularization({ a, b, d }, 0.3) end, { w, c, t }))
   end)

   it("a tall float32 weight as BigGAN's first layer (2048 x 32) agrees with the out x out form", function()
      local t = gan.randn({ 2048, 32 }, { generator = gan.Generator(4) }) * (1 / math.sqrt(32))
      local d = t:double()
      local off = 1 - gan.eye(2048, { dtype = "float64" })
      local want = ((gan.matmul(d, d:t()) * off) ^ 2):sum():item()
      local got = U.orthogonal_regularization({ t }, 1):item()
      assert.is_true(math.abs(got - want) < 1e-5 * want, got .. " vs " .. want)
   end)
end)
