-- gan.nn.init: sample statistics of the random initialisers against their formulas (on
-- large tensors), orthogonality, constant fills, fans and calculate_gain.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "nn_helpers.lua")
local init = gan.nn.init

-- mean, std (unbiased), min, max of a tensor, in double
local function stats(t)
   local d = t:detach():double()
   return d:mean():item(), d:std():item(), d:min():item(), d:max():item()
end

local function within(x, want, rel, what)
   assert(math.abs(x - want) <= rel * math.abs(want),
      ("%s: %.6g, expected %.6g (within %.1f%%)"):format(what, x, want, rel * 100))
end

describe("nn.init random initialisers", function()
   before_each(function() gan.manual_seed(70) end)

   it("normal_ has the requested mean and std and returns its tensor", function()
      local t = gan.empty { 500, 400 }
      assert.is_true(rawequal(init.normal_(t, 0.5, 0.02), t))
      local m, s = stats(t)
      assert.is_true(math.abs(m - 0.5) < 0.001, m)
      within(s, 0.02, 0.02, "normal std")
      -- defaults N(0, 1)
      m, s = stats(init.normal_(gan.empty({ 200000 }, H.F64)))
      assert.is_true(math.abs(m) < 0.01)
      within(s, 1, 0.02, "standard normal std")
   end)

   it("uniform_ stays in [a, b) with mean (a+b)/2 and std (b-a)/sqrt(12)", function()
      local t = init.uniform_(gan.empty { 200000 }, -3, 1)
      local m, s, lo, hi = stats(t)
      assert.is_true(lo >= -3 and hi <= 1, lo .. " " .. hi)
      assert.is_true(lo < -2.99 and hi > 0.99)
      assert.is_true(math.abs(m + 1) < 0.02, m)
      within(s, 4 / math.sqrt(12), 0.02, "uniform std")
      local _, _, lo2, hi2 = stats(init.uniform_(gan.empty { 10000 }))
      assert.is_true(lo2 >= 0 and hi2 <= 1)
   end)

   it("fans count receptive fields of conv weights", function()
      local fi, fo = init.fans(gan.empty { 64, 32, 3, 5 })
      assert.are.equal(32 * 15, fi)
      assert.are.equal(64 * 15, fo)
      fi, fo = init.fans(gan.empty { 10, 20 })
      assert.are.equal(20, fi); assert.are.equal(10, fo)
      H.raises(function() init.fans(gan.empty { 5 }) end, "2 dims")
   end)

   it("xavier_uniform_ and xavier_normal_: std = gain sqrt(2 / (fan_in + fan_out))", function()
      local t = gan.empty { 300, 200, 3, 3 }        -- fan_in 1800, fan_out 2700
      local want = math.sqrt(2 / (1800 + 2700))
      init.xavier_uniform_(t)
      local m, s, lo, hi = stats(t)
      local bound = math.sqrt(6 / 4500)
      assert.is_true(lo >= -bound and hi <= bound)
      assert.is_true(math.abs(m) < 0.01 * want)
      within(s, want, 0.02, "xavier_uniform std")
      init.xavier_normal_(t, 2.5)
      m, s = stats(t)
      within(s, 2.5 * want, 0.02, "xavier_normal std with gain")
      assert.is_true(math.abs(m) < 0.01 * want * 2.5)
      init.xavier_uniform_(t, init.calculate_gain("tanh"))
      _, s = stats(t)
      within(s, 5 / 3 * want, 0.02, "xavier_uniform tanh gain")
   end)

   it("kaiming_normal_ and kaiming_uniform_: std = gain / sqrt(fan)", function()
      local t = gan.empty { 256, 128, 3, 3 }         -- fan_in 1152, fan_out 2304
      local fi, fo = 128 * 9, 256 * 9
      local cases = {
         { {}, math.sqrt(2) / math.sqrt(fi) },                                          -- leaky_relu a=0
         { { nonlinearity = "relu" }, math.sqrt(2) / math.sqrt(fi) },
         { { mode = "fan_out", nonlinearity = "relu" }, math.sqrt(2) / math.sqrt(fo) },
         { { a = 0.2 }, math.sqrt(2 / (1 + 0.04)) / math.sqrt(fi) },
         { { a = math.sqrt(5) }, math.sqrt(2 / 6) / math.sqrt(fi) },                   -- PyTorch's layer default
         { { nonlinearity = "linear" }, 1 / math.sqrt(fi) },
      }
      for i, c in ipairs(cases) do
         init.kaiming_normal_(t, c[1])
         local m, s = stats(t)
         within(s, c[2], 0.02, "kaiming_normal case " .. i)
         assert.is_true(math.abs(m) < 0.01 * c[2])
         init.kaiming_uniform_(t, c[1])
         local _, s2, lo, hi = stats(t)
         within(s2, c[2], 0.02, "kaiming_uniform case " .. i)
         local bound = math.sqrt(3) * c[2]
         assert.is_true(lo >= -bound and hi <= bound, "kaiming_uniform bound case " .. i)
         assert.is_true(hi > 0.99 * bound)
      end
      H.raises(function() init.kaiming_normal_(t, { mode = "fan_avg" }) end, "fan_avg")
   end)

   it("trunc_normal_ stays inside [a, b]", function()
      local t = init.trunc_normal_(gan.empty { 100000 }, 0, 1, -0.5, 2)
      local _, _, lo, hi = stats(t)
      assert.is_true(lo >= -0.5 and hi <= 2)
   end)

   it("initialisers do not record gradients and work on parameters", function()
      local p = gan.empty({ 10, 10 }):requires_grad_()
      init.kaiming_uniform_(p)
      init.normal_(p, 0, 0.02)
      assert.is_true(p.is_leaf and p.requires_grad)
      assert.is_nil(p.grad)
      -- DCGAN's weights_init through apply
      local m = gan.nn.Sequential { gan.nn.Conv2d(3, 8, 4), gan.nn.BatchNorm2d(8) }
      m:apply(function(x)
         local name = getmetatable(x).__name
         if name == "Conv2d" then init.normal_(x.weight, 0, 0.02)
         elseif name == "BatchNorm2d" then init.normal_(x.weight, 1, 0.02); init.zeros_(x.bias) end
      end)
      local _, s = stats(m[1].weight)
      assert.is_true(s < 0.03 and s > 0.012, s)
      H.close(m[2].bias, { 0, 0, 0, 0, 0, 0, 0, 0 }, 0, 0, "zeros")
   end)
end)

describe("nn.init.orthogonal_", function()
   before_each(function() gan.manual_seed(71) end)

   -- max |M - target I| for M = A A^T (rows) or A^T A (cols)
   local function gram_error(t, rows_first, scale)
      local a = t:detach():double()
      a = a:reshape(a:size(1), -1)
      local g = rows_first and gan.matmul(a, a:t()) or gan.matmul(a:t(), a)
      local eye = gan.eye(g:size(1), H.F64) * (scale or 1) ^ 2
      return (g - eye):abs():max():item()
   end

   it("gives W W^T = I when rows <= cols and W^T W = I otherwise", function()
      local wide = init.orthogonal_(gan.empty({ 5, 12 }, H.F64))
      assert.is_true(gram_error(wide, true) < 1e-12)
      local tall = init.orthogonal_(gan.empty({ 12, 5 }, H.F64))
      assert.is_true(gram_error(tall, false) < 1e-12)
      local square = init.orthogonal_(gan.empty({ 7, 7 }, H.F64))
      assert.is_true(gram_error(square, true) < 1e-12)
      assert.is_true(gram_error(square, false) < 1e-12)
      -- float32 and a conv weight viewed (out, in*k*k)
      local conv = init.orthogonal_(gan.empty { 8, 3, 3, 3 })
      assert.is_true(gram_error(conv, true) < 1e-5)
      -- with a gain
      local g = init.orthogonal_(gan.empty({ 4, 6 }, H.F64), 2)
      assert.is_true(gram_error(g, true, 2) < 1e-12)
   end)

   it("draws different matrices and needs 2 dims", function()
      local a = init.orthogonal_(gan.empty({ 4, 4 }, H.F64))
      local b = init.orthogonal_(gan.empty({ 4, 4 }, H.F64))
      assert.is_true((a - b):abs():max():item() > 1e-3)
      H.raises(function() init.orthogonal_(gan.empty { 4 }) end, "2 dims")
   end)
end)

describe("nn.init constant fills and gains", function()
   it("zeros_, ones_ and constant_", function()
      local t = gan.randn { 3, 4 }
      assert.is_true(rawequal(init.zeros_(t), t))
      H.close(t, H.flat(gan.zeros { 3, 4 }), 0, 0, "zeros_")
      init.ones_(t)
      H.close(t, H.flat(gan.ones { 3, 4 }), 0, 0, "ones_")
      init.constant_(t, -2.5)
      H.close(t, H.flat(gan.full({ 3, 4 }, -2.5)), 0, 0, "constant_")
      local p = gan.randn({ 2 }, H.F64):requires_grad_()
      init.constant_(p, 0.125)
      H.close(p, { 0.125, 0.125 }, 0, 0, "on a parameter")
   end)

   it("calculate_gain returns PyTorch's values", function()
      assert.are.equal(1, init.calculate_gain("linear"))
      assert.are.equal(1, init.calculate_gain("conv2d"))
      assert.are.equal(1, init.calculate_gain("conv_transpose2d"))
      assert.are.equal(1, init.calculate_gain("sigmoid"))
      assert.are.equal(5 / 3, init.calculate_gain("tanh"))
      assert.are.equal(math.sqrt(2), init.calculate_gain("relu"))
      assert.are.equal(math.sqrt(2 / (1 + 0.01 ^ 2)), init.calculate_gain("leaky_relu"))
      assert.are.equal(math.sqrt(2 / (1 + 0.2 ^ 2)), init.calculate_gain("leaky_relu", 0.2))
      assert.are.equal(3 / 4, init.calculate_gain("selu"))
      H.raises(function() init.calculate_gain("swish") end, "swish")
   end)
end)
