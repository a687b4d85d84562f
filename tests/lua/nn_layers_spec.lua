-- Standard layers of gan.nn: each forward against a reference computed here from the
-- layer's own parameters (naive loops or closed forms in float64), and gradient checks
-- through every parametrised layer with respect to its input and its parameters.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "nn_helpers.lua")
local nn = gan.nn
local gradcheck = gan.testing.gradcheck

local F64 = { dtype = "float64" }

-- Sets a parameter's values under no_grad.
local function set(p, t)
   gan.no_grad(function() p:copy_(t) end)
   return p
end

-- erf by its Taylor series (double precision for |x| <= 3).
local function erf(x)
   local sum, term, n = 0, x, 0
   repeat
      local add = term / (2 * n + 1)
      sum = sum + add
      n = n + 1
      term = -term * x * x / n
   until math.abs(add) < 1e-17 * math.max(1, math.abs(sum)) or n > 200
   return 2 / math.sqrt(math.pi) * sum
end

local function map(list, fn)
   local out = {}
   for i, v in ipairs(list) do out[i] = fn(v) end
   return out
end

describe("nn.Linear", function()
   before_each(function() gan.manual_seed(10) end)

   it("computes x W^T + b", function()
      local m = nn.Linear(4, 3)
      H.same_shape(m.weight, { 3, 4 }); H.same_shape(m.bias, { 3 })
      local x = gan.randn { 5, 4 }
      local w, b, xv = H.flat(m.weight), H.flat(m.bias), H.flat(x)
      local ref = {}
      for n = 1, 5 do
         for o = 1, 3 do
            local acc = b[o]
            for i = 1, 4 do acc = acc + xv[(n - 1) * 4 + i] * w[(o - 1) * 4 + i] end
            ref[#ref + 1] = acc
         end
      end
      local y = m(x)
      H.same_shape(y, { 5, 3 })
      H.close(y, ref, 1e-5, 1e-5, "linear")
      -- leading dims are kept
      H.same_shape(m(gan.randn { 2, 6, 4 }), { 2, 6, 3 })
      -- without bias
      local nb = nn.Linear(4, 3, { bias = false })
      assert.is_nil(nb.bias)
      H.close(nb(x), H.flat(gan.matmul(x, nb.weight:detach():t())), 1e-6, 1e-6, "no bias")
   end)

   it("is initialised within PyTorch's bounds 1/sqrt(fan_in)", function()
      local m = nn.Linear(50, 40)
      local bound = 1 / math.sqrt(50)
      assert.is_true(m.weight:abs():max():item() <= bound)
      assert.is_true(m.bias:abs():max():item() <= bound)
      -- the std of U(-b, b) is b / sqrt(3)
      local std = m.weight:detach():double():std():item()
      assert.is_true(math.abs(std - bound / math.sqrt(3)) < 0.1 * bound / math.sqrt(3), std)
   end)

   it("gradchecks in float64 with respect to input, weight and bias", function()
      local m = nn.Linear(4, 3, F64)
      assert.are.equal("float64", m.weight.dtype)
      local x = H.randn { 2, 4 }:requires_grad_()
      assert.is_true(gradcheck(function(xx) return m(xx) end, { x, m.weight, m.bias }))
   end)
end)

describe("nn.Conv2d", function()
   before_each(function() gan.manual_seed(11) end)

   it("matches a naive convolution (stride, padding, dilation, groups)", function()
      local cases = {
         { 3, 4, 3, {} },
         { 2, 4, 3, { stride = 2, padding = 1 } },
         { 4, 6, { 2, 3 }, { stride = { 1, 2 }, padding = { 2, 1 }, dilation = { 2, 1 }, groups = 2 } },
         { 3, 2, 1, { bias = false } },
      }
      for ci, c in ipairs(cases) do
         local m = nn.Conv2d(c[1], c[2], c[3], c[4])
         local x = gan.randn { 2, c[1], 7, 6 }
         local pair = function(v, d) v = v or d; return type(v) == "table" and v or { v, v } end
         local ref, shape = H.conv2d(x, m.weight, m.bias, { stride = pair(c[4].stride, 1),
            padding = pair(c[4].padding, 0), dilation = pair(c[4].dilation, 1), groups = c[4].groups })
         local y = m(x)
         H.same_shape(y, shape)
         H.close(y, ref, 1e-4, 1e-4, "conv2d case " .. ci)
      end
   end)

   it("pads by reflection with padding_mode reflect (and replicate)", function()
      for _, mode in ipairs { "reflect", "replicate" } do
         local m = nn.Conv2d(2, 3, 3, { padding = 2, padding_mode = mode })
         local x = gan.randn { 2, 2, 5, 6 }
         local padded, pshape = H.pad2d(x, { 2, 2, 2, 2 }, mode)
         local ref, shape = H.conv2d(H.tensor(padded, pshape), m.weight, m.bias)
         local y = m(x)
         H.same_shape(y, shape)
         H.same_shape(y, { 2, 3, 7, 8 })
         H.close(y, ref, 1e-4, 1e-4, "conv2d " .. mode)
         -- and it differs from zero padding
         local z = gan.F.conv2d(x, m.weight, m.bias, { padding = 2 })
         assert.is_true((z - y):abs():max():item() > 1e-3)
      end
   end)

   it("gradchecks in float64 (zeros and reflect padding)", function()
      local m = nn.Conv2d(2, 3, 3, { stride = 2, padding = 1, dtype = "float64" })
      local x = H.randn { 1, 2, 5, 5 }:requires_grad_()
      assert.is_true(gradcheck(function(xx) return m(xx) end, { x, m.weight, m.bias }))
      local r = nn.Conv2d(2, 2, 3, { padding = 1, padding_mode = "reflect", dtype = "float64" })
      local x2 = H.randn { 1, 2, 4, 4 }:requires_grad_()
      assert.is_true(gradcheck(function(xx) return r(xx) end, { x2, r.weight, r.bias }))
   end)
end)

describe("nn.ConvTranspose2d", function()
   before_each(function() gan.manual_seed(12) end)

   it("matches a naive transposed convolution", function()
      local cases = {
         { 3, 2, 4, {} },
         { 4, 2, 4, { stride = 2, padding = 1 } },
         { 2, 3, 3, { stride = 2, padding = 1, output_padding = 1 } },
         { 4, 4, 3, { stride = 2, groups = 2, bias = false } },
      }
      for ci, c in ipairs(cases) do
         local m = nn.ConvTranspose2d(c[1], c[2], c[3], c[4])
         local x = gan.randn { 2, c[1], 3, 4 }
         local pair = function(v, d) v = v or d; return { v, v } end
         local ref, shape = H.conv_transpose2d(x, m.weight, m.bias, { stride = pair(c[4].stride, 1),
            padding = pair(c[4].padding, 0), output_padding = pair(c[4].output_padding, 0),
            groups = c[4].groups })
         local y = m(x)
         H.same_shape(y, shape)
         H.close(y, ref, 1e-4, 1e-4, "conv_transpose2d case " .. ci)
      end
      -- DCGAN's first layer: (N, 100, 1, 1) -> (N, C, 4, 4)
      H.same_shape(nn.ConvTranspose2d(10, 6, 4)(gan.randn { 2, 10, 1, 1 }), { 2, 6, 4, 4 })
   end)

   it("gradchecks in float64", function()
      local m = nn.ConvTranspose2d(2, 3, 3, { stride = 2, padding = 1, dtype = "float64" })
      local x = H.randn { 1, 2, 3, 3 }:requires_grad_()
      assert.is_true(gradcheck(function(xx) return m(xx) end, { x, m.weight, m.bias }))
   end)
end)

-- Per-channel statistics of x (N, C, ...) over all dims but the channel: mean, biased
-- variance, count.
local function channel_stats(x)
   local s = x:size()
   local N, C = s[1], s[2]
   local inner = H.numel(s) // (N * C)
   local v = H.flat(x)
   local mean, var = {}, {}
   for c = 1, C do
      local sum = 0
      for n = 1, N do for k = 1, inner do sum = sum + v[((n - 1) * C + c - 1) * inner + k] end end
      mean[c] = sum / (N * inner)
      local sq = 0
      for n = 1, N do for k = 1, inner do sq = sq + (v[((n - 1) * C + c - 1) * inner + k] - mean[c]) ^ 2 end end
      var[c] = sq / (N * inner)
   end
   return mean, var, N * inner, v, N, C, inner
end

-- y = (x - mean_c) / sqrt(var_c + eps) * w_c + b_c
local function normalise_channels(v, N, C, inner, mean, var, w, b, eps)
   local out = {}
   for n = 1, N do for c = 1, C do for k = 1, inner do
      local i = ((n - 1) * C + c - 1) * inner + k
      out[i] = (v[i] - mean[c]) / math.sqrt(var[c] + eps) * (w and w[c] or 1) + (b and b[c] or 0)
   end end end
   return out
end

describe("nn.BatchNorm1d and nn.BatchNorm2d", function()
   before_each(function() gan.manual_seed(13) end)

   local cases = {
      { "BatchNorm2d", { 4, 3, 5, 6 } },
      { "BatchNorm1d", { 8, 3 } },
      { "BatchNorm1d", { 4, 3, 7 } },
   }
   for _, case in ipairs(cases) do
      local name, shape = case[1], case[2]
      it(name .. " " .. H.shape_str(shape) .. ": batch statistics in training, running stats move by momentum 0.1 with the unbiased variance", function()
         local m = nn[name](3)
         set(m.weight, gan.tensor { 1.5, -0.5, 2.0 })
         set(m.bias, gan.tensor { 0.1, 0.2, -0.3 })
         local rm, rv = { 0, 0, 0 }, { 1, 1, 1 }
         for step = 1, 2 do
            local x = gan.randn(shape) * 2 + step
            local mean, var, n, v, N, C, inner = channel_stats(x)
            local y = m(x)
            H.same_shape(y, shape)
            H.close(y, normalise_channels(v, N, C, inner, mean, var, { 1.5, -0.5, 2.0 }, { 0.1, 0.2, -0.3 }, 1e-5),
               1e-4, 1e-4, name .. " train output")
            for c = 1, 3 do
               rm[c] = 0.9 * rm[c] + 0.1 * mean[c]
               rv[c] = 0.9 * rv[c] + 0.1 * var[c] * n / (n - 1)
            end
            H.close(m.running_mean, rm, 1e-5, 1e-5, name .. " running_mean")
            H.close(m.running_var, rv, 1e-5, 1e-5, name .. " running_var")
            assert.are.equal(step, m.num_batches_tracked:item())
         end
         -- eval: running statistics, and they no longer move
         m:eval()
         local x = gan.randn(shape)
         local _, _, _, v, N, C, inner = channel_stats(x)
         H.close(m(x), normalise_channels(v, N, C, inner, rm, rv, { 1.5, -0.5, 2.0 }, { 0.1, 0.2, -0.3 }, 1e-5),
            1e-4, 1e-4, name .. " eval output")
         H.close(m.running_mean, rm, 1e-5, 1e-5, "running_mean unchanged in eval")
         assert.are.equal(2, m.num_batches_tracked:item())
      end)
   end

   it("honours momentum, eps and affine=false", function()
      local m = nn.BatchNorm2d(2, { momentum = 0.3, eps = 1e-3, affine = false })
      assert.is_nil(m.weight)
      assert.are.equal(0, m:num_parameters())
      local x = gan.randn { 3, 2, 4, 4 }
      local mean, var, n, v, N, C, inner = channel_stats(x)
      H.close(m(x), normalise_channels(v, N, C, inner, mean, var, nil, nil, 1e-3), 1e-4, 1e-4, "no affine")
      H.close(m.running_mean, { 0.3 * mean[1], 0.3 * mean[2] }, 1e-5, 1e-5, "momentum 0.3")
      H.close(m.running_var, { 0.7 + 0.3 * var[1] * n / (n - 1), 0.7 + 0.3 * var[2] * n / (n - 1) },
         1e-5, 1e-5, "momentum 0.3 var")
   end)

   it("rejects inputs of the wrong rank", function()
      H.raises(function() nn.BatchNorm2d(3)(gan.randn { 4, 3 }) end, "BatchNorm2d")
      H.raises(function() nn.BatchNorm1d(3)(gan.randn { 4, 3, 2, 2 }) end, "BatchNorm1d")
   end)

   it("gradchecks in float64 in training and eval mode", function()
      local m = nn.BatchNorm2d(2, F64)
      set(m.weight, gan.tensor({ 1.3, 0.7 }, F64)); set(m.bias, gan.tensor({ 0.2, -0.1 }, F64))
      local x = H.randn { 3, 2, 2, 2 }:requires_grad_()
      assert.is_true(gradcheck(function(xx) return m(xx) end, { x, m.weight, m.bias }))
      m:eval()
      assert.is_true(gradcheck(function(xx) return m(xx) end, { x, m.weight, m.bias }))
      local m1 = nn.BatchNorm1d(3, F64)
      local x1 = H.randn { 4, 3 }:requires_grad_()
      assert.is_true(gradcheck(function(xx) return m1(xx) end, { x1, m1.weight, m1.bias }))
   end)
end)

-- Per (n, c) statistics over the spatial dims.
local function instance_stats(x)
   local s = x:size()
   local N, C = s[1], s[2]
   local inner = H.numel(s) // (N * C)
   local v = H.flat(x)
   local mean, var = {}, {}
   for k = 1, N * C do
      local sum, sq = 0, 0
      for i = 1, inner do sum = sum + v[(k - 1) * inner + i] end
      mean[k] = sum / inner
      for i = 1, inner do sq = sq + (v[(k - 1) * inner + i] - mean[k]) ^ 2 end
      var[k] = sq / inner
   end
   return mean, var, v, N, C, inner
end

describe("nn.InstanceNorm2d", function()
   before_each(function() gan.manual_seed(14) end)

   local function reference(x, w, b, eps, stats_mean, stats_var)
      local mean, var, v, N, C, inner = instance_stats(x)
      local out = {}
      for n = 1, N do for c = 1, C do
         local k = (n - 1) * C + c
         local mu, s2 = mean[k], var[k]
         if stats_mean then mu, s2 = stats_mean[c], stats_var[c] end
         for i = 1, inner do
            local j = (k - 1) * inner + i
            out[j] = (v[j] - mu) / math.sqrt(s2 + eps) * (w and w[c] or 1) + (b and b[c] or 0)
         end
      end end
      return out, mean, var, N, C, inner
   end

   it("normalises each sample and channel over H, W (no affine by default)", function()
      local m = nn.InstanceNorm2d(3)
      assert.are.equal(0, m:num_parameters())
      assert.are.equal(0, #m:buffers())
      local x = gan.randn { 2, 3, 4, 5 } * 3 + 1
      H.close(m(x), (reference(x, nil, nil, 1e-5)), 1e-4, 1e-4, "instance norm")
      -- eval without running stats still uses the input statistics
      m:eval()
      H.close(m(x), (reference(x, nil, nil, 1e-5)), 1e-4, 1e-4, "instance norm eval")
   end)

   it("applies a per-channel affine transform with affine=true", function()
      local m = nn.InstanceNorm2d(3, { affine = true })
      assert.are.equal(6, m:num_parameters())
      set(m.weight, gan.tensor { 2, -1, 0.5 }); set(m.bias, gan.tensor { 0, 1, -2 })
      local x = gan.randn { 2, 3, 3, 3 }
      H.close(m(x), (reference(x, { 2, -1, 0.5 }, { 0, 1, -2 }, 1e-5)), 1e-4, 1e-4, "affine")
   end)

   it("tracks running statistics (batch mean of instance stats) and uses them in eval", function()
      local m = nn.InstanceNorm2d(2, { track_running_stats = true, momentum = 0.1 })
      local x = gan.randn { 3, 2, 4, 4 } + 0.5
      local y = m(x)
      local ref, mean, var, N, C, inner = reference(x, nil, nil, 1e-5)
      H.close(y, ref, 1e-4, 1e-4, "train output uses input stats")
      local rm, rv = {}, {}
      for c = 1, C do
         local sm, sv = 0, 0
         for n = 1, N do
            sm = sm + mean[(n - 1) * C + c]
            sv = sv + var[(n - 1) * C + c] * inner / (inner - 1)
         end
         rm[c] = 0.1 * sm / N
         rv[c] = 0.9 + 0.1 * sv / N
      end
      H.close(m.running_mean, rm, 1e-5, 1e-5, "running_mean")
      H.close(m.running_var, rv, 1e-5, 1e-5, "running_var")
      m:eval()
      local x2 = gan.randn { 2, 2, 4, 4 }
      H.close(m(x2), (reference(x2, nil, nil, 1e-5, rm, rv)), 1e-4, 1e-4, "eval uses running stats")
      H.close(m.running_mean, rm, 1e-6, 1e-6, "running stats frozen in eval")
   end)

   it("gradchecks in float64 with affine parameters", function()
      local m = nn.InstanceNorm2d(2, { affine = true, dtype = "float64" })
      set(m.weight, gan.tensor({ 1.2, 0.8 }, F64)); set(m.bias, gan.tensor({ 0.3, -0.2 }, F64))
      local x = H.randn { 2, 2, 3, 3 }:requires_grad_()
      assert.is_true(gradcheck(function(xx) return m(xx) end, { x, m.weight, m.bias }))
   end)
end)

describe("nn.LayerNorm and nn.GroupNorm", function()
   before_each(function() gan.manual_seed(15) end)

   -- normalises consecutive blocks of `size` values; per-element affine over `period`
   local function block_norm(v, size, eps, w, b, chan_of)
      local out = {}
      for start = 0, #v - 1, size do
         local sum, sq = 0, 0
         for i = 1, size do sum = sum + v[start + i] end
         local mu = sum / size
         for i = 1, size do sq = sq + (v[start + i] - mu) ^ 2 end
         local r = 1 / math.sqrt(sq / size + eps)
         for i = 1, size do
            local k = chan_of(start + i)
            out[start + i] = (v[start + i] - mu) * r * (w and w[k] or 1) + (b and b[k] or 0)
         end
      end
      return out
   end

   it("LayerNorm normalises over the trailing dims with elementwise affine", function()
      local m = nn.LayerNorm { 3, 4 }
      H.same_shape(m.weight, { 3, 4 })
      local w, b = H.flat(gan.randn { 12 }), H.flat(gan.randn { 12 })
      set(m.weight, H.tensor(w, { 3, 4 }, "float32")); set(m.bias, H.tensor(b, { 3, 4 }, "float32"))
      w, b = H.flat(m.weight), H.flat(m.bias)
      local x = gan.randn { 2, 3, 4 } * 2 + 3
      local ref = block_norm(H.flat(x), 12, 1e-5, w, b, function(i) return (i - 1) % 12 + 1 end)
      H.close(m(x), ref, 1e-4, 1e-4, "layer norm")
      local m1 = nn.LayerNorm(4, { elementwise_affine = false })
      assert.are.equal(0, m1:num_parameters())
      H.close(m1(x), block_norm(H.flat(x), 4, 1e-5, nil, nil, function() return 1 end), 1e-4, 1e-4, "layer norm 1")
   end)

   it("GroupNorm normalises groups of channels per sample with per-channel affine", function()
      local m = nn.GroupNorm(2, 4)
      set(m.weight, gan.tensor { 1, 2, 3, 4 }); set(m.bias, gan.tensor { 0.5, 0, -0.5, 1 })
      local x = gan.randn { 3, 4, 2, 3 }
      local hw = 6
      local ref = block_norm(H.flat(x), 2 * hw, 1e-5, { 1, 2, 3, 4 }, { 0.5, 0, -0.5, 1 },
         function(i) return ((i - 1) // hw) % 4 + 1 end)
      H.close(m(x), ref, 1e-4, 1e-4, "group norm")
      H.raises(function() nn.GroupNorm(3, 4) end, "divisible")
   end)

   it("gradcheck in float64", function()
      local ln = nn.LayerNorm({ 2, 3 }, F64)
      set(ln.weight, H.randn { 2, 3 }); set(ln.bias, H.randn { 2, 3 })
      local x = H.randn { 2, 2, 3 }:requires_grad_()
      assert.is_true(gradcheck(function(xx) return ln(xx) end, { x, ln.weight, ln.bias }))
      local gn = nn.GroupNorm(2, 4, F64)
      set(gn.weight, H.randn { 4 }); set(gn.bias, H.randn { 4 })
      local x2 = H.randn { 2, 4, 2, 2 }:requires_grad_()
      assert.is_true(gradcheck(function(xx) return gn(xx) end, { x2, gn.weight, gn.bias }))
   end)
end)

describe("nn.Embedding and nn.Dropout", function()
   before_each(function() gan.manual_seed(16) end)

   it("Embedding looks rows up by 0-based int64 index, any index shape", function()
      local m = nn.Embedding(5, 3)
      local w = m.weight:detach():totable()
      local idx = gan.tensor({ { 0, 4 }, { 2, 2 } }, { dtype = "int64" })
      local y = m(idx)
      H.same_shape(y, { 2, 2, 3 })
      local ref = {}
      for _, k in ipairs { 0, 4, 2, 2 } do for j = 1, 3 do ref[#ref + 1] = w[k + 1][j] end end
      H.close(y, ref, 0, 0, "embedding")
      -- N(0, 1) init
      local big = nn.Embedding(1000, 20)
      local std = big.weight:detach():double():std():item()
      assert.is_true(math.abs(std - 1) < 0.03, std)
   end)

   it("Embedding gradcheck: repeated indices accumulate", function()
      local m = nn.Embedding(4, 2, F64)
      local idx = gan.tensor({ 1, 3, 1, 0 }, { dtype = "int64" })
      assert.is_true(gradcheck(function() return m(idx) * m(idx) end, { m.weight }))
      m(idx):sum():backward()
      H.close(m.weight.grad, { 1, 1, 2, 2, 0, 0, 1, 1 }, 0, 0, "accumulated rows")
   end)

   it("Dropout is the identity in eval and zeroes/rescales in training", function()
      local m = nn.Dropout(0.3)
      local x = gan.randn { 100, 100 }
      m:eval()
      H.identical(m(x), x, "eval dropout")
      m:train()
      local y = m(x)
      local xv, yv = H.flat(x), H.flat(y)
      local zeros = 0
      for i = 1, #xv do
         if yv[i] == 0 then
            zeros = zeros + 1
         else
            assert.is_true(math.abs(yv[i] - xv[i] / 0.7) <= 1e-5 * (1 + math.abs(xv[i])))
         end
      end
      assert.is_true(math.abs(zeros / #xv - 0.3) < 0.02, zeros / #xv)
      H.identical(nn.Dropout(0)(x), x, "p = 0")
   end)
end)

describe("activations", function()
   before_each(function() gan.manual_seed(17) end)

   local xs = gan.tensor { -3, -2, -1.5, -0.7, -0.1, 0, 0.05, 0.3, 1, 2.5, 3, 25 }
   local vals = H.flat(xs)

   local cases = {
      { "ReLU", nn.ReLU(), function(x) return math.max(x, 0) end },
      { "LeakyReLU default", nn.LeakyReLU(), function(x) return x > 0 and x or 0.01 * x end },
      { "LeakyReLU 0.2", nn.LeakyReLU(0.2), function(x) return x > 0 and x or 0.2 * x end },
      { "ELU", nn.ELU(), function(x) return x > 0 and x or math.exp(x) - 1 end },
      { "ELU 0.5", nn.ELU(0.5), function(x) return x > 0 and x or 0.5 * (math.exp(x) - 1) end },
      { "GELU", nn.GELU(), function(x)
         if x > 10 then return x end
         return 0.5 * x * (1 + erf(x / math.sqrt(2)))
      end },
      { "GELU tanh", nn.GELU("tanh"), function(x)
         return 0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ^ 3)))
      end },
      { "Tanh", nn.Tanh(), math.tanh },
      { "Sigmoid", nn.Sigmoid(), function(x) return 1 / (1 + math.exp(-x)) end },
      { "Softplus", nn.Softplus(), function(x) return x > 20 and x or math.log(1 + math.exp(x)) end },
      { "Softplus beta 2 threshold 4", nn.Softplus(2, 4), function(x)
         return 2 * x > 4 and x or math.log(1 + math.exp(2 * x)) / 2
      end },
      { "Identity", nn.Identity(), function(x) return x end },
   }
   for _, c in ipairs(cases) do
      it(c[1] .. " matches its closed form", function()
         H.close(c[2](xs), map(vals, c[3]), 1e-6, 1e-5, c[1])
      end)
   end

   it("Softmax normalises along its dim (last by default)", function()
      local x = gan.randn { 3, 4 } * 3
      local v = x:detach():totable()
      local function ref(dim)
         local out = {}
         for i = 1, 3 do
            for j = 1, 4 do
               local s, mx = 0, -math.huge
               if dim == 2 then
                  for k = 1, 4 do mx = math.max(mx, v[i][k]) end
                  for k = 1, 4 do s = s + math.exp(v[i][k] - mx) end
               else
                  for k = 1, 3 do mx = math.max(mx, v[k][j]) end
                  for k = 1, 3 do s = s + math.exp(v[k][j] - mx) end
               end
               out[#out + 1] = math.exp(v[i][j] - mx) / s
            end
         end
         return out
      end
      H.close(nn.Softmax()(x), ref(2), 1e-6, 1e-5, "softmax last")
      H.close(nn.Softmax(2)(x), ref(2), 1e-6, 1e-5, "softmax 2")
      H.close(nn.Softmax(1)(x), ref(1), 1e-6, 1e-5, "softmax 1")
      -- large logits do not overflow
      local big = nn.Softmax()(gan.tensor { { 1000, 1000 } })
      H.close(big, { 0.5, 0.5 }, 1e-6, 0, "stable softmax")
   end)

   it("PReLU: max(0, x) + a min(0, x), one slope per channel or one shared, learned", function()
      local shared = nn.PReLU()
      H.close(shared.weight, { 0.25 }, 0, 0, "init 0.25")
      local x = gan.tensor({ -2, -0.5, 0, 1.5, 3, -1 }):view(1, 2, 3)
      H.close(shared(x), { -0.5, -0.125, 0, 1.5, 3, -0.25 }, 1e-7, 0, "shared slope")
      local per = nn.PReLU(2, 0.1)
      set(per.weight, gan.tensor { 0.1, 0.5 })
      -- channel 1 (-2, -0.5, 0) at 0.1, channel 2 (1.5, 3, -1) at 0.5
      H.close(per(x), { -0.2, -0.05, 0, 1.5, 3, -0.5 }, 1e-7, 0, "per channel")
      assert.has_error(function() per(gan.zeros { 1, 3, 2 }) end, "PReLU: 2 slopes for an input of 3 channels")
      local xx = H.tensor({ -2.1, -0.7, 0.4, 0.9, -1.3, 1.7 }, { 1, 2, 3 }):requires_grad_()
      local w64 = gan.tensor({ 0.1, 0.5 }, F64):requires_grad_()
      rawset(per, "weight", w64)   -- the same parameter in float64, for the gradient check
      assert.is_true(gradcheck(function(a) return per(a) end, { xx, w64 }))
   end)

   it("F.prelu is fused but equals relu(x) - a relu(-x), in values, gradients and gradients of gradients", function()
      gan.manual_seed(12)
      for _, shape in ipairs { { 3, 4, 5, 6 }, { 2, 4 }, { 2, 4, 7 } } do
         for _, shared in ipairs { false, true } do
            local x = gan.randn(shape):requires_grad_()
            local a = gan.rand({ shared and 1 or 4 }):requires_grad_()
            local view = { 1, shared and 1 or 4 }
            for _ = 3, #shape do view[#view + 1] = 1 end
            local r = gan.randn(shape)
            local y = gan.F.prelu(x, a)
            ;(y * r):sum():backward()
            local gx, ga = x.grad, a.grad
            x.grad, a.grad = nil, nil
            local yr = x:relu() - (-x):relu() * a:view(table.unpack(view))
            ;(yr * r):sum():backward()
            local what = ("%s%s"):format(table.concat(shape, "x"), shared and " shared" or "")
            H.close(y, yr, 1e-6, 1e-6, what .. " forward")
            H.close(gx, x.grad, 1e-6, 1e-6, what .. " input gradient")
            H.close(ga, a.grad, 1e-4, 1e-5, what .. " slope gradient")
         end
      end
      local x = H.tensor({ -2.1, -0.7, 0.4, 0.9, -1.3, 1.7, 0.3, -0.2 }, { 2, 2, 2 }):requires_grad_()
      local a = gan.tensor({ 0.3, 0.6 }, F64):requires_grad_()
      -- through a recorded backward (create_graph): the slope's gradient depends on x
      assert.is_true(gan.testing.gradgradcheck(function(xx, aa) return gan.F.prelu(xx, aa):pow(2) end, { x, a }))
      assert.has_error(function() gan.F.prelu(gan.zeros { 1, 3, 2 }, gan.zeros { 2 }) end,
         "prelu: 2 slopes for an input of 3 channels (1 or one per channel)")
      assert.has_error(function() gan.F.prelu(gan.zeros { 1, 2, 2 }, gan.zeros({ 2 }, F64)) end,
         "prelu: the slopes are float64, the input float32")
   end)

   it("F.gate is tanh(a) sigmoid(b) of the channel halves: float32 within float32 roundings, float64 exact", function()
      -- float32 against math.tanh and the sigmoid in double, over every scale of input: the
      -- series' border (0.25), exp's clamp (-87), signed zeros, infinities and NaN
      local vals = { 0, -0.0, 1e-30, -1e-7, 0.01, 0.2499, 0.25, -0.2501, 0.5, -1, 2.7, -8, 9.5, 30, -44, 88, -100,
         1e5, math.huge, -math.huge }
      local n = #vals
      local list = {}
      for i = 1, n do for j = 1, n do list[#list + 1] = vals[i] end end   -- a: each value n times
      for i = 1, n do for j = 1, n do list[#list + 1] = vals[j] end end   -- b: every value with each a
      local x = gan.tensor(list):view(1, 2, n * n)
      local y = gan.F.gate(x):view(n * n):totable()
      local xs = x:double():view(2, n * n):totable()
      local function sig(b) return b >= 0 and 1 / (1 + math.exp(-b)) or math.exp(b) / (1 + math.exp(b)) end
      local function tanh(a)
         if a == math.huge then return 1 elseif a == -math.huge then return -1 end
         local e = math.exp(-2 * math.abs(a))
         local t = math.abs(a) < 1e-4 and math.abs(a) or (1 - e) / (1 + e)
         return a < 0 and -t or (a == 0 and 1 / a < 0 and -0.0 or t)
      end
      for k = 1, n * n do
         local want = tanh(xs[1][k]) * sig(xs[2][k])
         local err = math.abs(y[k] - want)
         assert(err <= 4 * 2 ^ -24 * math.abs(want) + 1e-37, ("gate(%g, %g) = %.9g, want %.9g"):format(xs[1][k], xs[2][k], y[k], want))
      end
      assert.are.equal(-math.huge, 1 / gan.F.gate(gan.tensor({ -0.0, 3 }):view(1, 2)):item(), "the sign of -0")
      local nan = gan.F.gate(gan.tensor({ 0 / 0, 1, 1, 0 / 0 }):view(1, 4)):totable()[1]
      assert.is_true(nan[1] ~= nan[1] and nan[2] ~= nan[2], "NaN in either half gives NaN")
      -- values and gradients against the composed form; float64 to rounding, float32 close
      gan.manual_seed(13)
      for _, dtype in ipairs { "float64", "float32" } do
         for _, shape in ipairs { { 3, 8, 5, 6 }, { 4, 6 }, { 2, 4, 7 } } do
            local xx = (gan.randn(shape) * 3):to(dtype):requires_grad_()
            local h = shape[2] // 2
            local out = { table.unpack(shape) }
            out[2] = h
            local r = gan.randn(out):to(dtype)
            local yf = gan.F.gate(xx)
            ;(yf * r):sum():backward()
            local gf = xx.grad
            xx.grad = nil
            local yc = xx:narrow(2, 1, h):tanh() * xx:narrow(2, h + 1, h):sigmoid()
            ;(yc * r):sum():backward()
            local tol = dtype == "float64" and 1e-14 or 1e-6
            local what = dtype .. " " .. table.concat(shape, "x")
            assert.are.same(out, yf:size(), what)
            H.close(yf, yc, tol, tol, what .. " forward")
            H.close(gf, xx.grad, tol, tol, what .. " gradient")
         end
      end
      local x2 = H.tensor({ -2.1, -0.7, 0.4, 0.9, -1.3, 1.7, 0.3, -0.2 }, { 2, 4 }):requires_grad_()
      assert.is_true(gradcheck(function(a) return gan.F.gate(a) end, { x2 }))
      assert.is_true(gan.testing.gradgradcheck(function(a) return gan.F.gate(a):pow(2) end, { x2 }))
      assert.has_error(function() gan.F.gate(gan.zeros { 2, 3, 4 }) end,
         "gate: input must be (N, 2C, ...) with an even number of channels, got (2, 3, 4)")
      assert.has_error(function() gan.F.gate(gan.zeros { 4 }) end,
         "gate: input must be (N, 2C, ...) with an even number of channels, got (4,)")
      assert.has_error(function() gan.F.gate(gan.zeros({ 2, 4 }, { dtype = "int64" })) end,
         "gate: input must be float32 or float64, got int64")
   end)

   -- relu, leaky_relu, tanh and sigmoid backpropagate in one fused pass unless the backward
   -- is itself recorded (create_graph), when they use differentiable ops: both agree.
   it("fused activation gradients equal the recorded ones, broadcast gradients included", function()
      gan.manual_seed(14)
      local x = gan.randn { 3, 5, 7 }
      x:view(-1)[1] = 0   -- the gradient at exactly 0 (relu: 0, leaky: the slope)
      local F = gan.F
      for _, f in ipairs { F.relu, function(t) return F.leaky_relu(t, 0.2) end, F.tanh, F.sigmoid } do
         for _, gshape in ipairs { { 3, 5, 7 }, { 1, 5, 1 } } do
            local g = gan.randn(gshape)
            local xa = x:clone():requires_grad_()
            f(xa):backward(g:expand(3, 5, 7))
            local xb = x:clone():requires_grad_()
            local recorded = gan.core.grad(f(xb), xb, { grad_outputs = { g:expand(3, 5, 7) }, create_graph = true })[1]
            H.close(xa.grad, recorded:detach(), 1e-7, 1e-7)
         end
      end
   end)

   it("activations gradcheck in float64", function()
      local x = H.tensor({ -2.1, -0.7, -0.3, 0.4, 0.9, 1.7 }, { 2, 3 }):requires_grad_()
      for _, m in ipairs { nn.LeakyReLU(0.2), nn.ELU(), nn.GELU(), nn.GELU("tanh"), nn.Tanh(),
         nn.Sigmoid(), nn.Softplus(), nn.Softmax(), nn.ReLU() } do
         assert.is_true(gradcheck(function(xx) return m(xx) end, { x }))
      end
   end)
end)

describe("resampling and padding layers", function()
   before_each(function() gan.manual_seed(18) end)

   -- Generic separable resampler reference: out[i][j] = sum_a sum_b A[i][a] x[a][b] B[j][b]
   local function resample(x, rows, cols)
      local s = x:size()
      local N, C, Hh, W = s[1], s[2], s[3], s[4]
      local v, xi = H.flat(x), H.indexer(s)
      local out = {}
      for n = 1, N do for c = 1, C do
         for i = 1, #rows do for j = 1, #cols do
            local acc = 0
            for a, wa in pairs(rows[i]) do
               for b, wb in pairs(cols[j]) do acc = acc + wa * wb * v[xi(n, c, a, b)] end
            end
            out[#out + 1] = acc
         end end
      end end
      return out, { N, C, #rows, #cols }
   end

   local function nearest_weights(n, out)
      local w = {}
      for i = 0, out - 1 do w[i + 1] = { [math.min(math.floor(i * n / out), n - 1) + 1] = 1 } end
      return w
   end

   local function bilinear_weights(n, out, align)
      local w = {}
      for i = 0, out - 1 do
         local src
         if align then src = out > 1 and i * (n - 1) / (out - 1) or 0
         else src = math.max((i + 0.5) * n / out - 0.5, 0) end
         local i0 = math.min(math.floor(src), n - 1)
         local i1 = math.min(i0 + 1, n - 1)
         local l = src - i0
         local row = {}
         row[i0 + 1] = (row[i0 + 1] or 0) + (1 - l)
         row[i1 + 1] = (row[i1 + 1] or 0) + l
         w[i + 1] = row
      end
      return w
   end

   it("Upsample nearest by scale factor and to a size", function()
      local x = gan.randn { 2, 3, 3, 4 }
      local ref, shape = resample(x, nearest_weights(3, 6), nearest_weights(4, 8))
      local y = nn.Upsample { scale_factor = 2 }(x)
      H.same_shape(y, shape)
      H.close(y, ref, 0, 0, "nearest x2")
      ref, shape = resample(x, nearest_weights(3, 5), nearest_weights(4, 7))
      y = nn.Upsample { size = { 5, 7 } }(x)
      H.same_shape(y, shape)
      H.close(y, ref, 0, 0, "nearest to size")
   end)

   it("Upsample prints its size or scale factor and mode", function()
      assert.are.equal("Upsample(scale_factor=2, mode=nearest)", tostring(nn.Upsample { scale_factor = 2 }))
      assert.are.equal("Upsample(size={4, 6}, mode=bilinear)", tostring(nn.Upsample { size = { 4, 6 }, mode = "bilinear" }))
   end)

   it("Upsample bilinear with and without align_corners", function()
      local x = gan.randn { 1, 2, 3, 4 }
      for _, align in ipairs { false, true } do
         local ref, shape = resample(x, bilinear_weights(3, 6, align), bilinear_weights(4, 8, align))
         local y = nn.Upsample { scale_factor = 2, mode = "bilinear", align_corners = align }(x)
         H.same_shape(y, shape)
         H.close(y, ref, 1e-5, 1e-5, "bilinear align=" .. tostring(align))
      end
      local ref = resample(x, bilinear_weights(3, 5, false), bilinear_weights(4, 3, false))
      H.close(nn.Upsample { size = { 5, 3 }, mode = "bilinear" }(x), ref, 1e-5, 1e-5, "bilinear to size")
   end)

   it("PixelShuffle moves r^2 channels into r x r blocks", function()
      local r = 2
      local x = gan.randn { 2, 8, 3, 2 }
      local y = nn.PixelShuffle(r)(x)
      H.same_shape(y, { 2, 2, 6, 4 })
      local v, xi = H.flat(x), H.indexer(x:size())
      local yv, yi = H.flat(y), H.indexer(y:size())
      for n = 1, 2 do for c = 1, 2 do for h = 1, 3 do for w = 1, 2 do
         for i = 1, r do for j = 1, r do
            local src = v[xi(n, (c - 1) * r * r + (i - 1) * r + j, h, w)]
            assert.are.equal(src, yv[yi(n, c, (h - 1) * r + i, (w - 1) * r + j)])
         end end
      end end end end
   end)

   it("ReflectionPad2d, ReplicationPad2d and ZeroPad2d", function()
      local x = gan.randn { 2, 2, 4, 5 }
      local layers = {
         { nn.ReflectionPad2d(2), { 2, 2, 2, 2 }, "reflect" },
         { nn.ReflectionPad2d { 1, 3, 0, 2 }, { 1, 3, 0, 2 }, "reflect" },
         { nn.ReplicationPad2d(3), { 3, 3, 3, 3 }, "replicate" },
         { nn.ReplicationPad2d { 0, 1, 2, 0 }, { 0, 1, 2, 0 }, "replicate" },
         { nn.ZeroPad2d(1), { 1, 1, 1, 1 }, "zeros" },
         { nn.ZeroPad2d { 2, 0, 1, 3 }, { 2, 0, 1, 3 }, "zeros" },
      }
      for i, l in ipairs(layers) do
         local ref, shape = H.pad2d(x, l[2], l[3])
         local y = l[1](x)
         H.same_shape(y, shape)
         H.close(y, ref, 0, 0, "padding case " .. i)
      end
      -- a known example: reflect [1 2 3] by 2 -> [3 2 1 2 3 2 1]
      local r = nn.ReflectionPad2d { 2, 2, 0, 0 }(gan.tensor { { { { 1, 2, 3 } } } })
      H.close(r, { 3, 2, 1, 2, 3, 2, 1 }, 0, 0, "reflect example")
   end)
end)

describe("pooling layers", function()
   before_each(function() gan.manual_seed(19) end)

   -- Generic windowed pooling reference.
   local function pool(x, k, s, p, reduce, include_pad)
      local sh = x:size()
      local N, C, Hh, W = sh[1], sh[2], sh[3], sh[4]
      local Ho, Wo = (Hh + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
      local v, xi = H.flat(x), H.indexer(sh)
      local out = {}
      for n = 1, N do for c = 1, C do for i = 1, Ho do for j = 1, Wo do
         local vals, count = {}, 0
         for a = 0, k - 1 do for b = 0, k - 1 do
            local r, q = (i - 1) * s - p + a, (j - 1) * s - p + b
            count = count + 1
            if r >= 0 and r < Hh and q >= 0 and q < W then vals[#vals + 1] = v[xi(n, c, r + 1, q + 1)] end
         end end
         out[#out + 1] = reduce(vals, include_pad and count or #vals)
      end end end end
      return out, { N, C, Ho, Wo }
   end
   local function avg(vals, count)
      local s = 0
      for _, v in ipairs(vals) do s = s + v end
      return s / count
   end
   local function mx(vals)
      local m = -math.huge
      for _, v in ipairs(vals) do m = math.max(m, v) end
      return m
   end

   it("AvgPool2d (default stride = kernel, with padding, count_include_pad)", function()
      local x = gan.randn { 2, 3, 6, 7 }
      local ref, shape = pool(x, 2, 2, 0, avg, true)
      local y = nn.AvgPool2d(2)(x)
      H.same_shape(y, shape)
      H.close(y, ref, 1e-5, 1e-5, "avg 2")
      ref, shape = pool(x, 3, 2, 1, avg, true)
      y = nn.AvgPool2d(3, { stride = 2, padding = 1 })(x)
      H.same_shape(y, shape)
      H.close(y, ref, 1e-5, 1e-5, "avg 3 s2 p1")
      ref = pool(x, 3, 2, 1, avg, false)
      H.close(nn.AvgPool2d(3, { stride = 2, padding = 1, count_include_pad = false })(x), ref, 1e-5, 1e-5,
         "avg without pad count")
   end)

   it("MaxPool2d (default stride = kernel, with stride and padding)", function()
      local x = gan.randn { 2, 3, 6, 7 }
      local ref, shape = pool(x, 2, 2, 0, mx)
      local y = nn.MaxPool2d(2)(x)
      H.same_shape(y, shape)
      H.close(y, ref, 0, 0, "max 2")
      ref, shape = pool(x, 3, 2, 1, mx)
      y = nn.MaxPool2d(3, { stride = 2, padding = 1 })(x)
      H.same_shape(y, shape)
      H.close(y, ref, 0, 0, "max 3 s2 p1")
   end)

   it("AdaptiveAvgPool2d averages PyTorch's windows [floor(iH/h), ceil((i+1)H/h))", function()
      local x = gan.randn { 2, 2, 7, 5 }
      local v, xi = H.flat(x), H.indexer(x:size())
      for _, out in ipairs { { 3, 2 }, { 1, 1 }, { 7, 5 }, { 4, 4 } } do
         local ref = {}
         for n = 1, 2 do for c = 1, 2 do for i = 0, out[1] - 1 do for j = 0, out[2] - 1 do
            local r0, r1 = (i * 7) // out[1], -((-(i + 1) * 7) // out[1])
            local c0, c1 = (j * 5) // out[2], -((-(j + 1) * 5) // out[2])
            local s = 0
            for r = r0, r1 - 1 do for q = c0, c1 - 1 do s = s + v[xi(n, c, r + 1, q + 1)] end end
            ref[#ref + 1] = s / ((r1 - r0) * (c1 - c0))
         end end end end
         local y = nn.AdaptiveAvgPool2d(out)(x)
         H.same_shape(y, { 2, 2, out[1], out[2] })
         H.close(y, ref, 1e-5, 1e-5, "adaptive " .. H.shape_str(out))
      end
      H.same_shape(nn.AdaptiveAvgPool2d(1)(x), { 2, 2, 1, 1 })
   end)

   it("pooling gradchecks in float64", function()
      local x = H.randn { 1, 2, 5, 5 }:requires_grad_()
      for _, m in ipairs { nn.AvgPool2d(2), nn.AvgPool2d(3, { stride = 2, padding = 1 }),
         nn.MaxPool2d(2), nn.AdaptiveAvgPool2d { 2, 3 } } do
         assert.is_true(gradcheck(function(xx) return m(xx) end, { x }))
      end
   end)
end)

describe("reshaping layers", function()
   before_each(function() gan.manual_seed(20) end)

   it("Flatten, Unflatten, Reshape and Identity keep values in row-major order", function()
      local x = gan.randn { 2, 3, 4, 5 }
      local v = H.flat(x)
      local y = nn.Flatten()(x)
      H.same_shape(y, { 2, 60 }); H.close(y, v, 0, 0, "flatten")
      y = nn.Flatten(3)(x)
      H.same_shape(y, { 2, 3, 20 }); H.close(y, v, 0, 0, "flatten 3")
      y = nn.Flatten(1, 2)(x)
      H.same_shape(y, { 6, 4, 5 }); H.close(y, v, 0, 0, "flatten 1..2")
      y = nn.Unflatten(2, { 6, 10 })(nn.Flatten()(x))
      H.same_shape(y, { 2, 6, 10 }); H.close(y, v, 0, 0, "unflatten")
      y = nn.Unflatten(-1, { 2, 2 })(gan.randn { 3, 4 })
      H.same_shape(y, { 3, 2, 2 })
      y = nn.Reshape(12, 5)(x)
      H.same_shape(y, { 2, 12, 5 }); H.close(y, v, 0, 0, "reshape")
      y = nn.Reshape(-1)(x)
      H.same_shape(y, { 2, 60 })
      assert.is_true(rawequal(nn.Identity()(x), x))
      -- gradients pass through unchanged
      local g = H.randn { 2, 3, 4 }:requires_grad_()
      nn.Flatten()(g):sum():backward()
      H.close(g.grad, H.flat(gan.ones { 2, 3, 4 }), 0, 0, "flatten grad")
   end)
end)
