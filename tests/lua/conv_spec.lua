-- gan.F.conv2d and gan.F.conv_transpose2d against naive float64 loops (stride, padding,
-- dilation, groups, output_padding, bias), on strided inputs, and their gradients.
local gan = require("gan")
local A = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "ag_helpers.lua")
local F = gan.F
local gradcheck = gan.testing.gradcheck

local function pair(v, d)
   if v == nil then return { d, d } end
   if type(v) == "number" then return { v, v } end
   return v
end

-- Naive convolution: seven nested loops over (n, o, i, j, c, ki, kj).
local function ref_conv2d(x, w, b, opts)
   opts = opts or {}
   local s, p, d = pair(opts.stride, 1), pair(opts.padding, 0), pair(opts.dilation, 1)
   local groups = opts.groups or 1
   local N, C, H, W = table.unpack(x.shape)
   local O, Cg, kh, kw = table.unpack(w.shape)
   local Og = O // groups
   local Ho = (H + 2 * p[1] - d[1] * (kh - 1) - 1) // s[1] + 1
   local Wo = (W + 2 * p[2] - d[2] * (kw - 1) - 1) // s[2] + 1
   local out = { shape = { N, O, Ho, Wo }, data = {} }
   local k = 0
   for n = 1, N do
      for o = 1, O do
         local g = (o - 1) // Og
         for i = 1, Ho do
            for j = 1, Wo do
               local acc = b and b.data[o] or 0
               for c = 1, Cg do
                  local ci = g * Cg + c
                  for ki = 1, kh do
                     local ih = (i - 1) * s[1] - p[1] + (ki - 1) * d[1] + 1
                     if ih >= 1 and ih <= H then
                        for kj = 1, kw do
                           local iw = (j - 1) * s[2] - p[2] + (kj - 1) * d[2] + 1
                           if iw >= 1 and iw <= W then
                              acc = acc + A.get(x, { n, ci, ih, iw }) * A.get(w, { o, c, ki, kj })
                           end
                        end
                     end
                  end
               end
               k = k + 1
               out.data[k] = acc
            end
         end
      end
   end
   return out
end

-- Naive transposed convolution (PyTorch's definition): every input cell scatters its
-- weighted kernel into the output.
local function ref_conv_transpose2d(x, w, b, opts)
   opts = opts or {}
   local s, p, d = pair(opts.stride, 1), pair(opts.padding, 0), pair(opts.dilation, 1)
   local op = pair(opts.output_padding, 0)
   local groups = opts.groups or 1
   local N, C, H, W = table.unpack(x.shape)
   local _, Og, kh, kw = table.unpack(w.shape)
   local Cg = C // groups
   local O = Og * groups
   local Ho = (H - 1) * s[1] - 2 * p[1] + d[1] * (kh - 1) + op[1] + 1
   local Wo = (W - 1) * s[2] - 2 * p[2] + d[2] * (kw - 1) + op[2] + 1
   local out = A.build({ N, O, Ho, Wo }, function(i) return b and b.data[i[2]] or 0 end)
   for n = 1, N do
      for c = 1, C do
         local g = (c - 1) // Cg
         for ih = 1, H do
            for iw = 1, W do
               local v = A.get(x, { n, c, ih, iw })
               for oc = 1, Og do
                  for ki = 1, kh do
                     local oh = (ih - 1) * s[1] - p[1] + (ki - 1) * d[1] + 1
                     if oh >= 1 and oh <= Ho then
                        for kj = 1, kw do
                           local ow = (iw - 1) * s[2] - p[2] + (kj - 1) * d[2] + 1
                           if ow >= 1 and ow <= Wo then
                              local at = A.pos(out.shape, { n, g * Og + oc, oh, ow })
                              out.data[at] = out.data[at] + v * A.get(w, { c, oc, ki, kj })
                           end
                        end
                     end
                  end
               end
            end
         end
      end
   end
   return out
end

local function opts_str(o)
   local parts = {}
   for k, v in pairs(o) do
      parts[#parts + 1] = k .. "=" .. (type(v) == "table" and ("{" .. table.concat(v, ",") .. "}") or tostring(v))
   end
   table.sort(parts)
   return table.concat(parts, " ")
end

-- fn(name) on each float32 convolution backend of this build ("gemm", and "dnnl" when
-- built in), the default backend restored after.
local function on_backends(fn)
   local default = gan.conv_backend()
   local names = { "gemm" }
   if pcall(gan.set_conv_backend, "dnnl") then names[2] = "dnnl" end
   for _, name in ipairs(names) do
      gan.set_conv_backend(name)
      fn(name)
   end
   gan.set_conv_backend(default)
end

-- float32 results against the float64 ones, each within 1e-4 of its tensor's scale.
local function agree(got, want, what)
   for k = 1, #want do
      local err = (got[k]:double() - want[k]):abs():max():item()
      assert(err <= 1e-4 * math.max(1, want[k]:abs():max():item()), ("%s: tensor %d differs by %g"):format(what, k, err))
   end
end

-- Non-contiguous 4-d tensors with the same values: H/W transposed back, and a narrowed
-- slice of a wider tensor.
local function strided4(x)
   local t = x:transpose(3, 4):contiguous():transpose(3, 4)
   local n = x:size(4)
   local nar = gan.cat({ x, x * 0 }, 4):narrow(4, 1, n)
   return { transposed = t, narrowed = nar, permuted = x:permute(2, 1, 3, 4):contiguous():permute(2, 1, 3, 4) }
end

describe("conv2d", function()
   before_each(function() gan.manual_seed(31) end)

   -- {input shape, weight shape, options}
   local cases = {
      { { 2, 3, 7, 6 }, { 4, 3, 3, 3 }, {} },
      { { 2, 3, 7, 6 }, { 4, 3, 3, 2 }, { stride = 2, padding = 1 } },
      { { 1, 2, 8, 7 }, { 3, 2, 3, 3 }, { stride = { 2, 1 }, padding = { 0, 2 } } },
      { { 2, 2, 9, 8 }, { 2, 2, 3, 3 }, { dilation = 2, padding = { 2, 1 } } },
      { { 2, 4, 6, 6 }, { 6, 2, 3, 3 }, { groups = 2, padding = 1 } },
      { { 2, 3, 5, 5 }, { 3, 1, 3, 3 }, { groups = 3, stride = 2, padding = 1 } },
      { { 3, 4, 5, 4 }, { 5, 4, 1, 1 }, {} },
      { { 2, 4, 5, 5 }, { 3, 4, 1, 1 }, { stride = 2 } },
      { { 4, 1, 8, 8 }, { 4, 1, 3, 3 }, { padding = 1, dilation = { 1, 2 } } },
   }

   it("forward matches a naive 7-loop convolution (float64, with and without bias)", function()
      for _, c in ipairs(cases) do
         local x, w, b = A.randn(c[1]), A.randn(c[2]), A.randn { c[2][1] }
         local what = opts_str(c[3])
         A.close(F.conv2d(x, w, b, c[3]), ref_conv2d(A.arr(x), A.arr(w), A.arr(b), c[3]), 1e-11, 1e-11, what)
         A.close(F.conv2d(x, w, nil, c[3]), ref_conv2d(A.arr(x), A.arr(w), nil, c[3]), 1e-11, 1e-11, what)
         if next(c[3]) == nil then
            A.close(F.conv2d(x, w), ref_conv2d(A.arr(x), A.arr(w), nil, {}), 1e-11, 1e-11, "no options")
         end
      end
   end)

   it("forward on non-contiguous inputs and weights", function()
      for _, c in ipairs { cases[2], cases[5], cases[7] } do
         local x, w, b = A.randn(c[1]), A.randn(c[2]), A.randn { c[2][1] }
         local want = ref_conv2d(A.arr(x), A.arr(w), A.arr(b), c[3])
         for kind, xs in pairs(strided4(x)) do
            assert.is_false(xs:is_contiguous())
            A.close(F.conv2d(xs, w, b, c[3]), want, 1e-11, 1e-11, "input " .. kind)
         end
         for kind, ws in pairs(strided4(w)) do
            A.close(F.conv2d(x, ws, b, c[3]), want, 1e-11, 1e-11, "weight " .. kind)
         end
         local bn = gan.cat({ b, b }):narrow(1, 1, b:size(1))
         A.close(F.conv2d(x, w, bn, c[3]), want, 1e-11, 1e-11, "narrowed bias")
      end
      -- an expanded input (one image broadcast over the batch)
      local one, w = A.randn { 1, 2, 5, 5 }, A.randn { 3, 2, 3, 3 }
      local xe = one:expand(3, 2, 5, 5)
      A.close(F.conv2d(xe, w), ref_conv2d(A.arr(xe:contiguous()), A.arr(w), nil, {}), 1e-11, 1e-11, "expanded")
   end)

   it("float32 forward agrees with the float64 reference", function()
      local c = cases[5]
      local x, w, b = A.randn(c[1]), A.randn(c[2]), A.randn { c[2][1] }
      A.close(F.conv2d(x:float(), w:float(), b:float(), c[3]),
         ref_conv2d(A.arr(x), A.arr(w), A.arr(b), c[3]), 1e-4, 1e-4)
   end)

   it("backward passes gradcheck for input, weight and bias", function()
      -- (the first case has two samples: the per-thread weight-gradient accumulation)
      local small = {
         { { 2, 2, 4, 3 }, { 2, 2, 3, 3 }, { padding = 1 } },
         { { 1, 2, 6, 5 }, { 3, 2, 3, 2 }, { stride = 2, padding = 1 } },
         { { 1, 2, 7, 6 }, { 2, 2, 2, 3 }, { dilation = 2, padding = { 1, 2 } } },
         { { 1, 4, 4, 4 }, { 4, 2, 3, 3 }, { groups = 2, padding = 1, stride = { 1, 2 } } },
         { { 1, 3, 3, 3 }, { 2, 3, 1, 1 }, {} },
      }
      for k, c in ipairs(small) do
         local x, w, b = A.leaf(A.randn(c[1])), A.leaf(A.randn(c[2])), A.leaf(A.randn { c[2][1] })
         local ok, err = pcall(gradcheck, function(xx, ww, bb) return F.conv2d(xx, ww, bb, c[3]) end, { x, w, b })
         assert(ok, opts_str(c[3]) .. ": " .. tostring(err))
         if k == 1 then
            ok, err = pcall(gradcheck, function(xx, ww) return F.conv2d(xx, ww, nil, c[3]) end, { x, w })
            assert(ok, opts_str(c[3]) .. " (no bias): " .. tostring(err))
         end
      end
      -- through a strided input
      local x, w = A.leaf(A.randn { 1, 2, 4, 5 }), A.leaf(A.randn { 2, 2, 3, 3 })
      assert(gradcheck(function(xx, ww) return F.conv2d(xx:transpose(3, 4), ww, nil, { padding = 1 }) end, { x, w }))
   end)

   it("bad input names the op and both shapes", function()
      local x, w = A.randn { 2, 3, 5, 5 }, A.randn { 4, 2, 3, 3 }
      A.raises(function() F.conv2d(x, w) end, "conv2d", "(2, 3, 5, 5)", "(4, 2, 3, 3)")
      A.raises(function() F.conv2d(A.randn { 3, 5, 5 }, w) end, "conv2d", "(3, 5, 5)")
      A.raises(function() F.conv2d(A.randn { 1, 2, 2, 2 }, A.randn { 1, 2, 3, 3 }) end, "conv2d", "too small")
      A.raises(function() F.conv2d(x, A.randn { 4, 3, 3, 3 }, A.randn { 5 }) end, "conv2d", "bias")
      A.raises(function() F.conv2d(x, A.randn { 4, 3, 3, 3 }, nil, { stride = 0 }) end, "conv2d", "stride")
      A.raises(function() F.conv2d(x, A.randn { 4, 3, 3, 3 }, nil, { strides = 2 }) end, "strides")
      A.raises(function() F.conv2d(x, A.randn { 4, 3, 3, 3 }:float()) end, "conv2d")
   end)
end)

describe("conv_transpose2d", function()
   before_each(function() gan.manual_seed(32) end)

   local cases = {
      { { 2, 3, 4, 5 }, { 3, 2, 3, 3 }, {} },
      { { 2, 3, 4, 4 }, { 3, 2, 4, 4 }, { stride = 2, padding = 1 } },
      { { 1, 2, 3, 4 }, { 2, 3, 3, 3 }, { stride = 2, padding = 1, output_padding = 1 } },
      { { 1, 2, 3, 3 }, { 2, 2, 3, 2 }, { stride = { 2, 3 }, output_padding = { 1, 2 } } },
      { { 2, 2, 4, 3 }, { 2, 2, 3, 3 }, { dilation = 2, padding = 1 } },
      { { 2, 4, 3, 3 }, { 4, 3, 3, 3 }, { groups = 2, stride = 2 } },
      { { 1, 4, 3, 3 }, { 4, 1, 2, 2 }, { groups = 4, stride = 2 } },
      { { 2, 3, 4, 4 }, { 3, 5, 1, 1 }, {} },
   }

   it("forward matches the naive scatter definition", function()
      for _, c in ipairs(cases) do
         local x, w = A.randn(c[1]), A.randn(c[2])
         local O = c[2][2] * (c[3].groups or 1)
         local b = A.randn { O }
         local what = opts_str(c[3])
         A.close(F.conv_transpose2d(x, w, b, c[3]), ref_conv_transpose2d(A.arr(x), A.arr(w), A.arr(b), c[3]), 1e-11, 1e-11, what)
         A.close(F.conv_transpose2d(x, w, nil, c[3]), ref_conv_transpose2d(A.arr(x), A.arr(w), nil, c[3]), 1e-11, 1e-11, what)
      end
   end)

   it("forward on non-contiguous inputs and weights", function()
      local c = cases[3]
      local x, w, b = A.randn(c[1]), A.randn(c[2]), A.randn { 3 }
      local want = ref_conv_transpose2d(A.arr(x), A.arr(w), A.arr(b), c[3])
      for kind, xs in pairs(strided4(x)) do A.close(F.conv_transpose2d(xs, w, b, c[3]), want, 1e-11, 1e-11, kind) end
      for kind, ws in pairs(strided4(w)) do A.close(F.conv_transpose2d(x, ws, b, c[3]), want, 1e-11, 1e-11, kind) end
   end)

   it("is the adjoint of conv2d", function()
      -- <conv2d(x, w), y> == <x, conv_transpose2d(y, w)>
      local o = { stride = 2, padding = 1 }
      local x, w = A.randn { 2, 3, 7, 6 }, A.randn { 4, 3, 3, 3 }
      local y0 = F.conv2d(x, w, nil, o)
      local y = A.randn(y0:size())
      local lhs = (y0 * y):sum():item()
      local back = F.conv_transpose2d(y, w, nil, { stride = 2, padding = 1, output_padding = { 0, 1 } })
      assert.are.same(x:size(), back:size())
      local rhs = (x * back):sum():item()
      assert(math.abs(lhs - rhs) < 1e-10 * math.max(1, math.abs(lhs)), lhs .. " vs " .. rhs)
   end)

   it("backward passes gradcheck for input, weight and bias", function()
      local small = {
         { { 1, 2, 3, 3 }, { 2, 2, 3, 3 }, {} },
         { { 2, 2, 2, 3 }, { 2, 1, 3, 3 }, { stride = 2, padding = 1, output_padding = 1 } },
         { { 1, 2, 3, 2 }, { 2, 2, 2, 2 }, { dilation = 2 } },
         { { 1, 4, 2, 2 }, { 4, 1, 3, 3 }, { groups = 2, stride = 2 } },
      }
      for _, c in ipairs(small) do
         local O = c[2][2] * (c[3].groups or 1)
         local x, w, b = A.leaf(A.randn(c[1])), A.leaf(A.randn(c[2])), A.leaf(A.randn { O })
         local ok, err = pcall(gradcheck, function(xx, ww, bb) return F.conv_transpose2d(xx, ww, bb, c[3]) end, { x, w, b })
         assert(ok, opts_str(c[3]) .. ": " .. tostring(err))
      end
   end)

   it("bad input names the op and both shapes", function()
      A.raises(function() F.conv_transpose2d(A.randn { 1, 3, 4, 4 }, A.randn { 2, 2, 3, 3 }) end,
         "conv_transpose2d", "(1, 3, 4, 4)", "(2, 2, 3, 3)")
      A.raises(function() F.conv_transpose2d(A.randn { 1, 2, 4, 4 }, A.randn { 2, 2, 3, 3 }, nil, { stride = 2, output_padding = 2 }) end,
         "conv_transpose2d", "output_padding")
      A.raises(function() F.conv_transpose2d(A.randn { 1, 2, 4, 4 }, A.randn { 2, 2, 3, 3 }, A.randn { 3 }) end,
         "conv_transpose2d", "bias")
   end)
end)

describe("linear", function()
   before_each(function() gan.manual_seed(33) end)

   it("forward is x W^T + b for 1-d, 2-d and batched inputs", function()
      local w, b = A.randn { 3, 4 }, A.randn { 3 }
      local wv, bv = A.arr(w), A.arr(b)
      for _, s in ipairs { { 4 }, { 5, 4 }, { 2, 3, 4 } } do
         local x = A.randn(s)
         local xv = A.arr(x)
         local os = {}
         for i = 1, #s - 1 do os[i] = s[i] end
         os[#os + 1] = 3
         local want = A.build(os, function(i)
            local acc = bv.data[i[#i]]
            for k = 1, 4 do
               local xi = {}
               for t = 1, #i - 1 do xi[t] = i[t] end
               xi[#xi + 1] = k
               acc = acc + A.get(xv, xi) * A.get(wv, { i[#i], k })
            end
            return acc
         end)
         A.close(F.linear(x, w, b), want, 1e-12, 1e-12, A.shape_str(s))
         for kind, xl in pairs(A.layouts(x)) do A.close(F.linear(xl, w, b), want, 1e-12, 1e-12, kind) end
         for kind, wl in pairs(A.layouts(w)) do A.close(F.linear(x, wl, b), want, 1e-12, 1e-12, "w " .. kind) end
      end
      local x = A.randn { 2, 4 }
      local nob = F.linear(x, w)
      A.close(nob, A.mm(A.arr(x), A.arr(w:t():contiguous())), 1e-12, 1e-12, "no bias")
   end)

   it("backward passes gradcheck", function()
      local x, w, b = A.leaf(A.randn { 3, 4 }), A.leaf(A.randn { 2, 4 }), A.leaf(A.randn { 2 })
      assert(gradcheck(F.linear, { x, w, b }))
      assert(gradcheck(function(xx, ww) return F.linear(xx, ww) end, { x, w }))
      assert(gradcheck(F.linear, { A.leaf(A.randn { 2, 2, 4 }), w, b }))
   end)

   it("wrong in_features names the op and both shapes", function()
      local w = A.randn { 3, 4 }
      A.raises(function() F.linear(A.randn { 5, 6 }, w) end, "linear", "(5, 6)", "(3, 4)")
      A.raises(function() F.linear(A.randn { 6 }, w) end, "linear", "(6,)", "(3, 4)")
      A.raises(function() F.linear(A.randn { 2, 4 }, w, A.randn { 4 }) end, "(4,)")
   end)
end)

describe("the flop counter", function()
   it("counts 2 flops per multiply-add of each convolution direction, as the shapes define them", function()
      local x = gan.randn({ 2, 4, 9, 8 }):requires_grad_()
      local w = gan.randn({ 6, 2, 3, 3 }):requires_grad_()   -- groups 2: 2 input channels per output
      local f0 = gan.flop_count()
      local y = F.conv2d(x, w, nil, { groups = 2, stride = 2, padding = 1 })   -- (2, 6, 5, 4)
      local per = 2 * 2 * 6 * (5 * 4) * 2 * 9
      assert.are.equal(per, gan.flop_count() - f0)
      y:sum():backward()   -- backward data and backward weights: the same products again
      assert.are.equal(3 * per, gan.flop_count() - f0)
      local f1 = gan.flop_count()
      local _ = gan.randn({ 3, 5, 7 }):matmul(gan.randn { 7, 4 })
      assert.are.equal(2 * 3 * 5 * 4 * 7, gan.flop_count() - f1)
   end)
end)

-- Few output channels from many with stride 1, a kernel of 9 taps or more and 1024 output
-- positions or more (an image generator's last layer) take the GEMM lowering of the
-- equivalent transposed convolution on every dtype and backend. Its gradients are checked
-- against naive loops (gradcheck at these sizes would take minutes).
describe("conv2d to few channels (the transposed lowering)", function()
   before_each(function() gan.manual_seed(33) end)
   local cases = {
      { { 1, 16, 32, 32 }, { 3, 16, 3, 3 }, { padding = 1 } },
      { { 2, 16, 35, 35 }, { 1, 16, 3, 3 }, {} },
      { { 1, 16, 36, 34 }, { 2, 16, 5, 3 }, { dilation = { 1, 2 }, padding = { 2, 1 } } },
      { { 1, 17, 32, 34 }, { 4, 17, 1, 9 }, { padding = { 0, 3 } } },
   }

   -- d/dw of sum(r * conv2d(x, w)): every output cell's r times the inputs its taps met.
   local function ref_weight_grad(x, r, wshape, opts)
      local p, d = pair(opts.padding, 0), pair(opts.dilation, 1)
      local N, C, H, W = table.unpack(x.shape)
      local _, O, Ho, Wo = table.unpack(r.shape)
      return A.build(wshape, function(i)
         local o, c, ki, kj = i[1], i[2], i[3], i[4]
         local acc = 0
         for n = 1, N do
            for y = 1, Ho do
               local ih = y - 1 - p[1] + (ki - 1) * d[1] + 1
               if ih >= 1 and ih <= H then
                  for xx = 1, Wo do
                     local iw = xx - 1 - p[2] + (kj - 1) * d[2] + 1
                     if iw >= 1 and iw <= W then acc = acc + A.get(r, { n, o, y, xx }) * A.get(x, { n, c, ih, iw }) end
                  end
               end
            end
         end
         return acc
      end)
   end

   it("forward and all three gradients match naive loops (float64), on every backend in float32", function()
      for _, c in ipairs(cases) do
         local what = opts_str(c[3])
         local x, w, b = A.randn(c[1]), A.randn(c[2]), A.randn { c[2][1] }
         local xa, wa, ba = A.arr(x), A.arr(w), A.arr(b)
         local want_y = ref_conv2d(xa, wa, ba, c[3])
         local r = A.randn(want_y.shape)
         local ra = A.arr(r)
         local want_gx = ref_conv_transpose2d(ra, wa, nil, { padding = c[3].padding, dilation = c[3].dilation })
         local want_gw = ref_weight_grad(xa, ra, c[2], c[3])
         local gb = r:sum({ 1, 3, 4 })
         local function grads(dtype)
            local xx, ww, bb = A.leaf(x:to(dtype)), A.leaf(w:to(dtype)), A.leaf(b:to(dtype))
            local y = F.conv2d(xx, ww, bb, c[3])
            ;(y * r:to(dtype)):sum():backward()
            return y, xx.grad, ww.grad, bb.grad
         end
         local y, gx, gw, gbias = grads("float64")
         A.close(y, want_y, 1e-10, 1e-10, what .. " output")
         A.close(gx, want_gx, 1e-10, 1e-10, what .. " input gradient")
         A.close(gw, want_gw, 1e-9, 1e-10, what .. " weight gradient")
         A.close(gbias, A.arr(gb), 1e-10, 1e-10, what .. " bias gradient")
         on_backends(function(name)
            local runs0 = select(3, gan.conv_backend())
            local got = { grads("float32") }
            assert.are.equal(runs0, select(3, gan.conv_backend()), "oneDNN ran for " .. what)
            agree(got, { y, gx, gw, gbias }, name .. " " .. what)
         end)
      end
   end)
end)

-- conv_transpose2d to few channels from many (a generator's last layer): its forward, the
-- input gradient of a convolution from 3 channels, takes the GEMM lowering; its gradients
-- stay on oneDNN.
describe("conv_transpose2d to few channels", function()
   it("matches the naive scatter in float64, and float32 on every backend agrees with it", function()
      gan.manual_seed(34)
      local o = { stride = 2, padding = 1 }
      for _, c in ipairs { { { 2, 16, 5, 6 }, { 16, 3, 4, 4 } }, { { 1, 20, 4, 4 }, { 20, 1, 3, 3 } } } do
         local x, w, b = A.randn(c[1]), A.randn(c[2]), A.randn { c[2][2] }
         local y64 = F.conv_transpose2d(x, w, b, o)
         A.close(y64, ref_conv_transpose2d(A.arr(x), A.arr(w), A.arr(b), o), 1e-11, 1e-11, "float64")
         local r = gan.randn(y64:size(), { dtype = "float64" })
         local function grads(dtype)
            local xx, ww = A.leaf(x:to(dtype)), A.leaf(w:to(dtype))
            local y = F.conv_transpose2d(xx, ww, b:to(dtype), o)
            ;(y * r:to(dtype)):sum():backward()
            return { y, xx.grad, ww.grad }
         end
         local want = grads("float64")
         on_backends(function(name)
            local runs0 = select(3, gan.conv_backend())
            local got = grads("float32")
            -- the input and weight gradients on oneDNN, the forward not
            assert.are.equal(name == "dnnl" and 2 or 0, select(3, gan.conv_backend()) - runs0)
            agree(got, want, name)
         end)
      end
   end)
end)

-- The float32 kernels run on oneDNN (when built in) or on the GEMM lowering; float64 always
-- takes the GEMM path, which the tests above check against naive loops and gradcheck.
-- Every float32 path must give the float64 results in all three directions.
describe("float32 convolution backends", function()
   local backends = { "gemm" }
   if pcall(gan.set_conv_backend, "dnnl") then backends[#backends + 1] = "dnnl" end
   local default = gan.conv_backend()
   after_each(function() gan.set_conv_backend(default) end)

   -- {transposed, input shape, weight shape, options}: DCGAN-like layers, groups, dilation,
   -- strides whose last window stops short of the input's edge, 1x1, batches of one.
   local cases = {
      { false, { 4, 3, 16, 16 }, { 8, 3, 4, 4 }, { stride = 2, padding = 1 } },
      { false, { 2, 16, 9, 9 }, { 32, 16, 3, 3 }, { padding = 1 } },
      { false, { 2, 3, 8, 7 }, { 4, 3, 3, 3 }, { stride = 2 } },
      { false, { 2, 4, 9, 8 }, { 6, 2, 3, 3 }, { groups = 2, dilation = { 2, 1 }, padding = 1 } },
      { false, { 3, 5, 5, 4 }, { 7, 5, 1, 1 }, {} },
      { false, { 1, 32, 4, 4 }, { 1, 32, 4, 4 }, {} },
      { false, { 2, 3, 10, 10 }, { 4, 3, 7, 7 }, { padding = 3 } },
      { true, { 4, 16, 1, 1 }, { 16, 8, 4, 4 }, {} },
      { true, { 2, 8, 4, 4 }, { 8, 4, 4, 4 }, { stride = 2, padding = 1 } },
      { true, { 2, 6, 3, 4 }, { 6, 2, 3, 3 }, { stride = 2, padding = 1, output_padding = 1, groups = 3 } },
   }

   local function run(c, dtype, r)
      local x, w = c.x:to(dtype):detach():requires_grad_(), c.w:to(dtype):detach():requires_grad_()
      local b = c.b:to(dtype):detach():requires_grad_()
      local f = c[1] and F.conv_transpose2d or F.conv2d
      local y = f(x, w, b, c[4])
      ;(y * r:to(dtype)):sum():backward()
      return y, x.grad, w.grad, b.grad
   end

   for _, name in ipairs(backends) do
      it(name .. ": forward, input, weight and bias gradients agree with float64", function()
         gan.set_conv_backend(name)
         assert.are.equal(name, gan.conv_backend())
         gan.manual_seed(40)
         for _, c in ipairs(cases) do
            c.x, c.w = gan.randn(c[2], { dtype = "float64" }), gan.randn(c[3], { dtype = "float64" })
            local out_c = c[1] and c[3][2] * (c[4].groups or 1) or c[3][1]
            c.b = gan.randn({ out_c }, { dtype = "float64" })
            local y64 = (c[1] and F.conv_transpose2d or F.conv2d)(c.x, c.w, c.b, c[4])
            local r = gan.randn(y64:size(), { dtype = "float64" })
            local want = { run(c, "float64", r) }
            local runs0 = select(3, gan.conv_backend())
            local got = { run(c, "float32", r) }
            -- forward, input gradient, weight gradient: all on the chosen backend
            assert.are.equal(name == "dnnl" and 3 or 0, select(3, gan.conv_backend()) - runs0,
               "oneDNN kernel runs for " .. opts_str(c[4]))
            local what = { "output", "input grad", "weight grad", "bias grad" }
            for k = 1, 4 do
               assert.are.equal("float32", got[k].dtype)
               local err = (got[k]:double() - want[k]):abs():max():item()
               local scale = want[k]:abs():max():item()
               assert(err <= 1e-4 * math.max(1, scale), ("%s, case %s %s: %s differs by %g (scale %g)"):format(
                  name, c[1] and "conv_transpose2d" or "conv2d", opts_str(c[4]), what[k], err, scale))
            end
         end
      end)
   end

   it("the backend is chosen by name; unknown names are an error", function()
      gan.set_conv_backend("gemm")
      assert.are.equal("gemm", (gan.conv_backend()))
      A.raises(function() gan.set_conv_backend("cudnn") end, "cudnn")
      if #backends == 2 then
         gan.set_conv_backend("dnnl")
         F.conv2d(gan.randn { 2, 16, 8, 8 }, gan.randn { 16, 16, 3, 3 }, nil, { padding = 1 })
         local name, impl = gan.conv_backend()
         assert.are.equal("dnnl", name)
         assert.is_string(impl)   -- oneDNN's implementation name, e.g. "jit:avx512_core"
      end
   end)
end)
