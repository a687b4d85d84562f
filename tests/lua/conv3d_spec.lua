-- gan.F.conv3d and gan.F.conv_transpose3d against naive float64 loops (stride, padding,
-- dilation, groups, output_padding, bias), their gradients and second derivatives, the
-- float32 backends against float64, and the 3-d layers (Conv3d, ConvTranspose3d,
-- BatchNorm3d).
local gan = require("gan")
local A = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "ag_helpers.lua")
local F = gan.F
local gradcheck, gradgradcheck = gan.testing.gradcheck, gan.testing.gradgradcheck

local function triple(v, d)
   if v == nil then return { d, d, d } end
   if type(v) == "number" then return { v, v, v } end
   return v
end

-- Naive 3-d convolution: nine nested loops over (n, o, od, oh, ow, c, kd, kh, kw).
local function ref_conv3d(x, w, b, opts)
   opts = opts or {}
   local s, p, d = triple(opts.stride, 1), triple(opts.padding, 0), triple(opts.dilation, 1)
   local groups = opts.groups or 1
   local N, _, D, H, W = table.unpack(x.shape)
   local O, Cg, kd, kh, kw = table.unpack(w.shape)
   local Og = O // groups
   local Do = (D + 2 * p[1] - d[1] * (kd - 1) - 1) // s[1] + 1
   local Ho = (H + 2 * p[2] - d[2] * (kh - 1) - 1) // s[2] + 1
   local Wo = (W + 2 * p[3] - d[3] * (kw - 1) - 1) // s[3] + 1
   local out = { shape = { N, O, Do, Ho, Wo }, data = {} }
   local k = 0
   for n = 1, N do for o = 1, O do
      local g = (o - 1) // Og
      for a = 1, Do do for i = 1, Ho do for j = 1, Wo do
         local acc = b and b.data[o] or 0
         for c = 1, Cg do
            for ka = 1, kd do
               local id = (a - 1) * s[1] - p[1] + (ka - 1) * d[1] + 1
               if id >= 1 and id <= D then
                  for ki = 1, kh do
                     local ih = (i - 1) * s[2] - p[2] + (ki - 1) * d[2] + 1
                     if ih >= 1 and ih <= H then
                        for kj = 1, kw do
                           local iw = (j - 1) * s[3] - p[3] + (kj - 1) * d[3] + 1
                           if iw >= 1 and iw <= W then
                              acc = acc + A.get(x, { n, g * Cg + c, id, ih, iw }) * A.get(w, { o, c, ka, ki, kj })
                           end
                        end
                     end
                  end
               end
            end
         end
         k = k + 1
         out.data[k] = acc
      end end end
   end end
   return out
end

-- Naive transposed 3-d convolution: every input cell scatters its weighted kernel.
local function ref_conv_transpose3d(x, w, b, opts)
   opts = opts or {}
   local s, p, d = triple(opts.stride, 1), triple(opts.padding, 0), triple(opts.dilation, 1)
   local op = triple(opts.output_padding, 0)
   local groups = opts.groups or 1
   local N, C, D, H, W = table.unpack(x.shape)
   local _, Og, kd, kh, kw = table.unpack(w.shape)
   local Cg = C // groups
   local O = Og * groups
   local size = { D, H, W }
   local k = { kd, kh, kw }
   local outs = {}
   for t = 1, 3 do outs[t] = (size[t] - 1) * s[t] - 2 * p[t] + d[t] * (k[t] - 1) + op[t] + 1 end
   local out = A.build({ N, O, outs[1], outs[2], outs[3] }, function(i) return b and b.data[i[2]] or 0 end)
   for n = 1, N do for c = 1, C do
      local g = (c - 1) // Cg
      for ia = 1, D do for ih = 1, H do for iw = 1, W do
         local v = A.get(x, { n, c, ia, ih, iw })
         for oc = 1, Og do for ka = 1, kd do for ki = 1, kh do for kj = 1, kw do
            local oa = (ia - 1) * s[1] - p[1] + (ka - 1) * d[1] + 1
            local oh = (ih - 1) * s[2] - p[2] + (ki - 1) * d[2] + 1
            local ow = (iw - 1) * s[3] - p[3] + (kj - 1) * d[3] + 1
            if oa >= 1 and oa <= outs[1] and oh >= 1 and oh <= outs[2] and ow >= 1 and ow <= outs[3] then
               local at = A.pos(out.shape, { n, g * Og + oc, oa, oh, ow })
               out.data[at] = out.data[at] + v * A.get(w, { c, oc, ka, ki, kj })
            end
         end end end end
      end end end
   end end
   return out
end

-- {input shape, weight shape, options}
local cases = {
   { { 2, 2, 4, 5, 3 }, { 3, 2, 3, 3, 2 }, {} },
   { { 1, 3, 5, 5, 6 }, { 2, 3, 3, 2, 3 }, { stride = 2, padding = 1 } },
   { { 2, 2, 6, 4, 5 }, { 2, 2, 2, 3, 3 }, { stride = { 1, 2, 2 }, padding = { 0, 1, 2 } } },
   { { 1, 2, 6, 6, 5 }, { 3, 2, 3, 3, 2 }, { dilation = { 2, 1, 2 }, padding = 1 } },
   { { 2, 4, 4, 4, 3 }, { 6, 2, 3, 3, 3 }, { groups = 2, padding = 1 } },
   { { 2, 3, 3, 4, 4 }, { 5, 3, 1, 1, 1 }, {} },
}
local tcases = {
   { { 1, 3, 2, 3, 2 }, { 3, 2, 3, 3, 3 }, {} },
   { { 2, 2, 3, 2, 3 }, { 2, 3, 4, 4, 4 }, { stride = 2, padding = 1 } },
   { { 1, 4, 2, 2, 3 }, { 4, 1, 3, 2, 3 }, { stride = { 2, 1, 2 }, padding = { 1, 0, 1 }, output_padding = { 1, 0, 1 }, groups = 2 } },
   { { 1, 2, 3, 3, 2 }, { 2, 2, 2, 3, 2 }, { dilation = 2 } },
}

local function opts_str(o)
   local parts = {}
   for k, v in pairs(o) do
      parts[#parts + 1] = k .. "=" .. (type(v) == "table" and ("{" .. table.concat(v, ",") .. "}") or tostring(v))
   end
   table.sort(parts)
   return table.concat(parts, " ")
end

describe("conv3d and conv_transpose3d", function()
   before_each(function() gan.manual_seed(33) end)

   it("conv3d matches a naive 9-loop convolution (float64, with and without bias)", function()
      for _, c in ipairs(cases) do
         local x, w, b = A.randn(c[1]), A.randn(c[2]), A.randn { c[2][1] }
         A.close(F.conv3d(x, w, b, c[3]), ref_conv3d(A.arr(x), A.arr(w), A.arr(b), c[3]), 1e-11, 1e-11, opts_str(c[3]))
         A.close(F.conv3d(x, w, nil, c[3]), ref_conv3d(A.arr(x), A.arr(w), nil, c[3]), 1e-11, 1e-11, opts_str(c[3]))
      end
      -- a non-contiguous input gives the same
      local x, w = A.randn { 2, 3, 4, 4, 3 }, A.randn { 2, 3, 3, 3, 3 }
      local t = x:transpose(4, 5):contiguous():transpose(4, 5)
      A.close(F.conv3d(t, w, nil, { padding = 1 }), ref_conv3d(A.arr(x), A.arr(w), nil, { padding = 1 }), 1e-11, 1e-11, "strided")
   end)

   it("conv_transpose3d matches a naive scatter (float64)", function()
      for _, c in ipairs(tcases) do
         local x, w = A.randn(c[1]), A.randn(c[2])
         local b = A.randn { c[2][2] * (c[3].groups or 1) }
         A.close(F.conv_transpose3d(x, w, b, c[3]), ref_conv_transpose3d(A.arr(x), A.arr(w), A.arr(b), c[3]),
            1e-11, 1e-11, opts_str(c[3]))
      end
   end)

   it("gradients pass gradcheck for input, weight and bias; second derivatives pass gradgradcheck", function()
      for i, c in ipairs { cases[2], cases[5] } do
         local x, w, b = A.randn(c[1]):requires_grad_(), A.randn(c[2]):requires_grad_(), A.randn({ c[2][1] }):requires_grad_()
         assert(gradcheck(function(xx, ww, bb) return F.conv3d(xx, ww, bb, c[3]) end, { x, w, b }), i)
      end
      for i, c in ipairs { tcases[2], tcases[3] } do
         local x, w = A.randn(c[1]):requires_grad_(), A.randn(c[2]):requires_grad_()
         local b = A.randn({ c[2][2] * (c[3].groups or 1) }):requires_grad_()
         assert(gradcheck(function(xx, ww, bb) return F.conv_transpose3d(xx, ww, bb, c[3]) end, { x, w, b }), i)
      end
      -- double backward (a gradient penalty through a 3-d critic needs it)
      local x, w = A.randn({ 1, 2, 3, 3, 3 }):requires_grad_(), A.randn({ 2, 2, 2, 2, 2 }):requires_grad_()
      assert(gradgradcheck(function(xx, ww) return F.conv3d(xx, ww, nil, { padding = 1 }):tanh() end, { x, w }))
      local y, v = A.randn({ 1, 2, 2, 2, 2 }):requires_grad_(), A.randn({ 2, 1, 2, 2, 2 }):requires_grad_()
      assert(gradgradcheck(function(yy, vv) return F.conv_transpose3d(yy, vv, nil, { stride = 2 }):tanh() end, { y, v }))
   end)

   it("names what is wrong", function()
      local x, w = gan.randn { 1, 2, 4, 4, 4 }, gan.randn { 3, 2, 3, 3, 3 }
      assert.has_error(function() F.conv3d(gan.randn { 1, 2, 4, 4 }, w) end,
         "conv3d: expected a 5-d input (N, C, D, H, W) and a 5-d weight, got (1, 2, 4, 4) and (3, 2, 3, 3, 3)")
      assert.has_error(function() F.conv3d(x, w, nil, { stride = { 1, 2 } }) end,
         "conv3d: stride must be an integer or a list of 3 integers")
      assert.has_error(function() F.conv3d(gan.randn { 1, 2, 2, 2, 2 }, w) end)
      assert.has_error(function() F.conv3d(x, gan.randn { 3, 1, 3, 3, 3 }) end)
   end)
end)

describe("float32 3-d convolution backends", function()
   local backends = { "gemm" }
   if pcall(gan.set_conv_backend, "dnnl") then backends[#backends + 1] = "dnnl" end
   local default = gan.conv_backend()
   after_each(function() gan.set_conv_backend(default) end)

   for _, name in ipairs(backends) do
      it(name .. ": forward and gradients agree with float64 (a 3D-GAN-like layer pair)", function()
         gan.set_conv_backend(name)
         gan.manual_seed(41)
         for _, c in ipairs { { false, { 2, 4, 8, 8, 8 }, { 8, 4, 4, 4, 4 }, { stride = 2, padding = 1 } },
                              { true, { 2, 8, 4, 4, 4 }, { 8, 4, 4, 4, 4 }, { stride = 2, padding = 1 } } } do
            local f = c[1] and F.conv_transpose3d or F.conv3d
            local x64, w64 = gan.randn(c[2], { dtype = "float64" }), gan.randn(c[3], { dtype = "float64" })
            local y64 = f(x64, w64, nil, c[4])
            local r = gan.randn(y64:size(), { dtype = "float64" })
            local function run(dtype)
               local x, w = x64:to(dtype):detach():requires_grad_(), w64:to(dtype):detach():requires_grad_()
               local y = f(x, w, nil, c[4])
               ;(y * r:to(dtype)):sum():backward()
               return y, x.grad, w.grad
            end
            local want, got = { run("float64") }, { run("float32") }
            for i = 1, 3 do
               local scale = want[i]:abs():max():item()
               assert.is_true((got[i]:double() - want[i]):abs():max():item() < 1e-4 * scale, name .. " " .. i)
            end
         end
      end)
   end
end)

describe("3-d layers", function()
   it("Conv3d and ConvTranspose3d: shapes, PyTorch's initial ranges; BatchNorm3d normalises per channel", function()
      gan.manual_seed(5)
      local c = gan.nn.Conv3d(4, 6, 3, { padding = 1, stride = 2 })
      assert.are.same({ 6, 4, 3, 3, 3 }, c.weight:size())
      assert.are.same({ 2, 6, 4, 4, 4 }, c(gan.randn { 2, 4, 8, 8, 8 }):size())
      local bound = 1 / math.sqrt(4 * 27)   -- kaiming_uniform(a = sqrt 5) = 1 / sqrt(fan_in)
      assert.is_true(c.weight:abs():max():item() <= bound + 1e-7)
      local t = gan.nn.ConvTranspose3d(6, 2, 4, { stride = 2, padding = 1 })
      assert.are.same({ 6, 2, 4, 4, 4 }, t.weight:size())
      assert.are.same({ 1, 2, 8, 8, 8 }, t(gan.randn { 1, 6, 4, 4, 4 }):size())
      assert.are.equal("Conv3d(4, 6, kernel_size={3, 3, 3}, stride={2, 2, 2}, padding={1, 1, 1})", tostring(c))
      local bn = gan.nn.BatchNorm3d(3)
      local y = bn(gan.randn { 4, 3, 2, 3, 2 } * 5 + 2)
      assert.is_true(y:mean({ 1, 3, 4, 5 }):abs():max():item() < 1e-5)
      assert.is_true((y:var({ 1, 3, 4, 5 }, false) - 1):abs():max():item() < 1e-3)
      assert.has_error(function() bn(gan.randn { 4, 3, 2, 2 }) end, "BatchNorm3d: expected a 5-d or 5-d input, got 4 dims")
   end)
end)
