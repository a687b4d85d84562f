-- Double backward: gan.testing.gradgradcheck for every op the gradient penalties need
-- (the gradient v^T J built with create_graph is itself checked against finite
-- differences).
local gan = require("gan")
local A = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "ag_helpers.lua")
local F = gan.F
local gradgradcheck = gan.testing.gradgradcheck

local function check(fn, inputs, what)
   local ok, err = pcall(gradgradcheck, fn, inputs)
   assert(ok, (what or "") .. ": " .. tostring(err))
end

describe("gradgradcheck", function()
   before_each(function() gan.manual_seed(71) end)

   it("linear and matmul", function()
      local x, w, b = A.leaf(A.randn { 3, 4 }), A.leaf(A.randn { 2, 4 }), A.leaf(A.randn { 2 })
      check(F.linear, { x, w, b }, "linear")
      check(function(a, c) return gan.matmul(a, c) end, { A.leaf(A.randn { 2, 3 }), A.leaf(A.randn { 3, 2 }) }, "matmul 2-d")
      check(function(a, c) return gan.matmul(a, c) end, { A.leaf(A.randn { 2, 2, 3 }), A.leaf(A.randn { 3, 2 }) }, "matmul batched")
      check(function(a, c) return gan.matmul(a, c) end, { A.leaf(A.randn { 3 }), A.leaf(A.randn { 3, 2 }) }, "matmul 1-d")
      -- a composed network: the gradient of tanh(x W^T) with respect to x depends on W
      check(function(a, ww) return F.linear(a, ww):tanh() end, { x, w }, "linear tanh")
   end)

   it("conv2d", function()
      local cases = {
         { { 1, 2, 4, 4 }, { 2, 2, 3, 3 }, {} },
         { { 2, 2, 4, 3 }, { 2, 1, 3, 2 }, { stride = 2, padding = 1, groups = 2 } },
         { { 1, 1, 5, 5 }, { 2, 1, 2, 2 }, { dilation = 2, padding = { 1, 0 } } },
      }
      for k, c in ipairs(cases) do
         local x, w, b = A.leaf(A.randn(c[1])), A.leaf(A.randn(c[2])), A.leaf(A.randn { c[2][1] })
         check(function(a, ww, bb) return F.conv2d(a, ww, bb, c[3]) end, { x, w, b }, "conv2d")
         -- nonlinear after the conv: second derivatives that do not vanish
         if k == 1 then
            check(function(a, ww) return F.conv2d(a, ww, nil, c[3]):tanh() end, { x, w }, "conv2d tanh")
         end
      end
   end)

   it("conv_transpose2d", function()
      local cases = {
         { { 1, 2, 3, 3 }, { 2, 2, 3, 3 }, {} },
         { { 1, 2, 2, 3 }, { 2, 1, 3, 3 }, { stride = 2, padding = 1, output_padding = 1 } },
         { { 1, 2, 2, 2 }, { 2, 1, 2, 2 }, { groups = 2, dilation = 2 } },
      }
      for _, c in ipairs(cases) do
         local O = c[2][2] * (c[3].groups or 1)
         local x, w, b = A.leaf(A.randn(c[1])), A.leaf(A.randn(c[2])), A.leaf(A.randn { O })
         check(function(a, ww, bb) return F.conv_transpose2d(a, ww, bb, c[3]) end, { x, w, b }, "conv_transpose2d")
         check(function(a, ww) return F.conv_transpose2d(a, ww, nil, c[3]):sigmoid() end, { x, w }, "conv_transpose2d sigmoid")
      end
   end)

   it("elementwise arithmetic with broadcasting", function()
      local a, b = A.leaf(A.randn { 2, 3 }), A.leaf(A.away_from_zero({ 3 }, 0.5, 2))
      check(function(x, y) return x + y end, { a, b }, "add")
      check(function(x, y) return x - y end, { a, b }, "sub")
      check(function(x, y) return x * y end, { a, b }, "mul")
      check(function(x, y) return x / y end, { a, b }, "div")
      check(function(x, y) return y / x end, { A.leaf(A.away_from_zero({ 2, 3 }, 0.5, 2)), b }, "div by tensor")
      check(function(x) return 3 / x - x * 2 + 1 end, { b }, "scalars")
      check(function(x, y) return x * x * y - y * 3 end, { a, b }, "polynomial")
      check(function(x, y) return gan.minimum(x, y) * gan.maximum(x, y) end, { a, b }, "minimum/maximum")
   end)

   it("pow with tensor and scalar exponents", function()
      local base, ex = A.leaf(A.uniform({ 2, 3 }, 0.5, 2)), A.leaf(A.randn { 3 })
      check(function(x, e) return x:pow(e) end, { base, ex }, "pow tensor")
      check(function(x) return x:pow(3) end, { A.leaf(A.randn { 2, 3 }) }, "pow 3")
      check(function(x) return x:pow(0.5) end, { base }, "pow 0.5")
      check(function(x) return x:pow(-1.5) end, { base }, "pow -1.5")
      check(function(x) return 2 ^ x end, { base }, "2^x")
   end)

   it("sqrt, sum and mean", function()
      local x = A.leaf(A.uniform({ 2, 3 }, 0.5, 2))
      check(function(t) return t:sqrt() end, { x }, "sqrt")
      check(function(t) return (t * t):sum() end, { x }, "sum")
      check(function(t) return (t * t):sum(2, true) end, { x }, "sum dim")
      check(function(t) return (t * t):mean() end, { x }, "mean")
      check(function(t) return t:pow(3):mean(1) end, { x }, "mean dim")
      check(function(t) return (t * t):sum(2):sqrt() end, { x }, "norm by hand")
   end)

   it("relu, leaky_relu, tanh, sigmoid and softplus", function()
      local x = A.leaf(A.away_from_zero({ 2, 4 }, 0.2, 2))
      check(function(t) return F.relu(t) * t end, { x }, "relu")
      check(function(t) return F.leaky_relu(t, 0.2) * t end, { x }, "leaky_relu")
      check(function(t) return F.tanh(t) end, { x }, "tanh")
      check(function(t) return F.sigmoid(t) end, { x }, "sigmoid")
      check(function(t) return F.softplus(t) end, { x }, "softplus")
      check(function(t) return F.softplus(t, 2) end, { x }, "softplus beta")
   end)

   it("batch_norm in training (the fused op's backward built from differentiable ops)", function()
      local x = A.leaf(A.randn { 3, 2, 2, 2 })
      local w, b = A.leaf(A.randn { 2 }), A.leaf(A.randn { 2 })
      check(function(t, ww, bb) return F.batch_norm(t, nil, nil, ww, bb, true) end, { x, w, b }, "batch_norm")
      check(function(t) return F.batch_norm(t, nil, nil, nil, nil, true):tanh() end, { A.leaf(A.randn { 4, 3 }) },
         "batch_norm 2-d, no affine")
   end)

   it("layer_norm and instance_norm", function()
      local x = A.leaf(A.randn { 2, 4 })
      local w, b = A.leaf(A.randn { 4 }), A.leaf(A.randn { 4 })
      check(function(t, ww, bb) return F.layer_norm(t, 4, ww, bb) end, { x, w, b }, "layer_norm")
      local xi = A.leaf(A.randn { 1, 2, 2, 3 })
      local wi, bi = A.leaf(A.randn { 2 }), A.leaf(A.randn { 2 })
      check(function(t, ww, bb) return F.instance_norm(t, nil, nil, ww, bb) end, { xi, wi, bi }, "instance_norm")
   end)

   it("avg_pool2d and interpolate", function()
      local x = A.leaf(A.randn { 1, 2, 4, 4 })
      check(function(t) return F.avg_pool2d(t, 2) * t:narrow(3, 1, 2):narrow(4, 1, 2) end, { x }, "avg_pool2d")
      check(function(t) return F.avg_pool2d(t, 3, { stride = 1, padding = 1, count_include_pad = false }):tanh() end,
         { x }, "avg_pool2d padded")
      local y = A.leaf(A.randn { 1, 1, 3, 2 })
      for _, o in ipairs {
         { mode = "bilinear", scale_factor = 2 },
         { mode = "bilinear", size = { 4, 3 }, align_corners = true },
         { mode = "nearest", scale_factor = 2 },
         { mode = "nearest", size = { 5, 3 } },
      } do
         check(function(t) return F.interpolate(t, o):tanh() end, { y }, "interpolate " .. o.mode)
      end
   end)
end)
