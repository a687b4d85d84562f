-- gan.F normalisation layers: batch_norm (training statistics, running-stat updates,
-- eval), instance_norm, layer_norm and group_norm against plain-Lua references.
local gan = require("gan")
local A = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "ag_helpers.lua")
local F = gan.F
local gradcheck = gan.testing.gradcheck

-- Normalises x over the elements sharing key(idx); returns y and per-key (mean, var).
local function ref_normalize(x, key, eps, affine)
   local groups = {}
   for p = 1, #x.data do
      local k = key(A.index(x.shape, p))
      groups[k] = groups[k] or {}
      table.insert(groups[k], x.data[p])
   end
   local stats = {}
   for k, l in pairs(groups) do stats[k] = { mean = A.mean(l), var = A.var(l, false), n = #l } end
   local y = A.build(x.shape, function(i)
      local st = stats[key(i)]
      local v = (A.get(x, i) - st.mean) / math.sqrt(st.var + eps)
      if affine then v = affine(v, i) end
      return v
   end)
   return y, stats
end

local function channel_affine(w, b)
   return function(v, i) return v * w.data[i[2]] + b.data[i[2]] end
end

describe("batch_norm", function()
   before_each(function() gan.manual_seed(51) end)

   for _, shape in ipairs { { 6, 3 }, { 4, 3, 3, 2 } } do
      local label = A.shape_str(shape)

      it("training normalises with batch statistics " .. label, function()
         local x = A.randn(shape) * 2 + 1
         local w, b = A.randn { 3 }, A.randn { 3 }
         local want = ref_normalize(A.arr(x), function(i) return i[2] end, 1e-5, channel_affine(A.arr(w), A.arr(b)))
         for kind, xl in pairs(A.layouts(x)) do
            A.close(F.batch_norm(xl, nil, nil, w, b, true), want, 1e-10, 1e-10, kind)
         end
         local plain = ref_normalize(A.arr(x), function(i) return i[2] end, 1e-3)
         A.close(F.batch_norm(x, nil, nil, nil, nil, true, 0.1, 1e-3), plain, 1e-10, 1e-10, "eps 1e-3, no affine")
      end)

      it("training updates running stats with momentum and the unbiased variance " .. label, function()
         local x = A.randn(shape) * 3 - 2
         local rm = gan.tensor({ 0.5, -1, 2 }, A.F64)
         local rv = gan.tensor({ 1, 2, 0.5 }, A.F64)
         local _, st = ref_normalize(A.arr(x), function(i) return i[2] end, 1e-5)
         local xg = A.leaf(x)
         local y = F.batch_norm(xg, rm, rv, nil, nil, true, 0.3)
         local wm, wv = {}, {}
         for c = 1, 3 do
            local n = st[c].n
            wm[c] = 0.7 * ({ 0.5, -1, 2 })[c] + 0.3 * st[c].mean
            wv[c] = 0.7 * ({ 1, 2, 0.5 })[c] + 0.3 * st[c].var * n / (n - 1)
         end
         A.close(rm, wm, 1e-12, 1e-12, "running_mean")
         A.close(rv, wv, 1e-12, 1e-12, "running_var")
         assert.is_false(rm.requires_grad)
         assert.is_false(rv.requires_grad)
         -- the update does not disturb the backward pass
         y:sum():backward()
         assert.are.same(x:size(), xg.grad:size())
         -- default momentum 0.1
         local rm2 = gan.zeros({ 3 }, A.F64)
         F.batch_norm(x, rm2, gan.ones({ 3 }, A.F64), nil, nil, true)
         A.close(rm2, { 0.1 * st[1].mean, 0.1 * st[2].mean, 0.1 * st[3].mean }, 1e-12, 1e-12)
      end)

      it("eval normalises with the running stats " .. label, function()
         local x = A.randn(shape)
         local rm = gan.tensor({ 0.5, -1, 2 }, A.F64)
         local rv = gan.tensor({ 1, 2, 0.5 }, A.F64)
         local w, b = A.randn { 3 }, A.randn { 3 }
         local rmv, rvv, wv, bv = { 0.5, -1, 2 }, { 1, 2, 0.5 }, A.arr(w).data, A.arr(b).data
         local want = A.build(shape, function(i)
            local c = i[2]
            return (A.get(A.arr(x), i) - rmv[c]) / math.sqrt(rvv[c] + 1e-5) * wv[c] + bv[c]
         end)
         A.close(F.batch_norm(x, rm, rv, w, b, false), want, 1e-12, 1e-12)
         A.close(rm, rmv, 0, 0, "running_mean unchanged in eval")
         assert(gradcheck(function(t, ww, bb) return F.batch_norm(t, rm, rv, ww, bb, false) end,
            { A.leaf(x), A.leaf(w), A.leaf(b) }))
      end)

      it("training backward passes gradcheck " .. label, function()
         local x = A.leaf(A.randn(shape))
         local w, b = A.leaf(A.randn { 3 }), A.leaf(A.randn { 3 })
         assert(gradcheck(function(t, ww, bb) return F.batch_norm(t, nil, nil, ww, bb, true) end, { x, w, b }))
         assert(gradcheck(function(t) return F.batch_norm(A.relayout(t, "transposed"), nil, nil, nil, nil, true) end, { x }))
      end)
   end

   it("bad input names the op and the shapes", function()
      A.raises(function() F.batch_norm(A.randn { 1, 3 }, nil, nil, nil, nil, true) end, "batch_norm", "(1, 3)")
      A.raises(function() F.batch_norm(A.randn { 4, 3 }, nil, nil, A.randn { 2 }, nil, true) end, "batch_norm", "(2,)", "(4, 3)")
   end)
end)

describe("instance_norm", function()
   before_each(function() gan.manual_seed(52) end)

   it("normalises each sample and channel over the spatial dims", function()
      local x = A.randn { 2, 3, 4, 3 } * 2 + 0.5
      local w, b = A.randn { 3 }, A.randn { 3 }
      local key = function(i) return i[1] * 100 + i[2] end
      local want = ref_normalize(A.arr(x), key, 1e-5, channel_affine(A.arr(w), A.arr(b)))
      for kind, xl in pairs(A.layouts(x)) do
         A.close(F.instance_norm(xl, nil, nil, w, b), want, 1e-10, 1e-10, kind)
      end
      A.close(F.instance_norm(x), ref_normalize(A.arr(x), key, 1e-5), 1e-10, 1e-10, "no affine")
      -- 3-d input (N, C, L)
      local x3 = A.randn { 2, 2, 5 }
      A.close(F.instance_norm(x3), ref_normalize(A.arr(x3), key, 1e-5), 1e-10, 1e-10, "3-d")
   end)

   it("updates running stats from the batch mean of instance stats; eval uses them", function()
      local x = A.randn { 3, 2, 2, 3 }
      local rm, rv = gan.zeros({ 2 }, A.F64), gan.ones({ 2 }, A.F64)
      local _, st = ref_normalize(A.arr(x), function(i) return i[1] * 100 + i[2] end, 1e-5)
      F.instance_norm(x, rm, rv, nil, nil, true, 0.2)
      local wm, wv = {}, {}
      for c = 1, 2 do
         local m, v = 0, 0
         for n = 1, 3 do
            local s = st[n * 100 + c]
            m = m + s.mean / 3
            v = v + s.var * s.n / (s.n - 1) / 3
         end
         wm[c] = 0.2 * m
         wv[c] = 0.8 + 0.2 * v
      end
      A.close(rm, wm, 1e-12, 1e-12, "running_mean")
      A.close(rv, wv, 1e-12, 1e-12, "running_var")
      local rmv, rvv = A.arr(rm).data, A.arr(rv).data
      local want = A.build({ 3, 2, 2, 3 }, function(i)
         return (A.get(A.arr(x), i) - rmv[i[2]]) / math.sqrt(rvv[i[2]] + 1e-5)
      end)
      A.close(F.instance_norm(x, rm, rv, nil, nil, false), want, 1e-12, 1e-12, "use_input_stats false")
   end)

   it("backward passes gradcheck", function()
      local x = A.leaf(A.randn { 2, 2, 3, 3 })
      local w, b = A.leaf(A.randn { 2 }), A.leaf(A.randn { 2 })
      assert(gradcheck(function(t, ww, bb) return F.instance_norm(t, nil, nil, ww, bb) end, { x, w, b }))
      assert(gradcheck(function(t) return F.instance_norm(A.relayout(t, "narrowed")) end, { x }))
   end)
end)

describe("layer_norm", function()
   before_each(function() gan.manual_seed(53) end)

   it("normalises over the trailing normalized_shape with elementwise affine", function()
      local x = A.randn { 2, 3, 4 } * 1.5 - 1
      local w, b = A.randn { 3, 4 }, A.randn { 3, 4 }
      local wv, bv = A.arr(w), A.arr(b)
      local want = ref_normalize(A.arr(x), function(i) return i[1] end, 1e-5, function(v, i)
         return v * A.get(wv, { i[2], i[3] }) + A.get(bv, { i[2], i[3] })
      end)
      for kind, xl in pairs(A.layouts(x)) do
         A.close(F.layer_norm(xl, { 3, 4 }, w, b), want, 1e-10, 1e-10, kind)
      end
      local w1, b1 = A.randn { 4 }, A.randn { 4 }
      local want1 = ref_normalize(A.arr(x), function(i) return i[1] * 100 + i[2] end, 1e-3, function(v, i)
         return v * A.arr(w1).data[i[3]] + A.arr(b1).data[i[3]]
      end)
      A.close(F.layer_norm(x, 4, w1, b1, 1e-3), want1, 1e-10, 1e-10, "last dim, eps 1e-3")
      A.close(F.layer_norm(x, { 4 }), ref_normalize(A.arr(x), function(i) return i[1] * 100 + i[2] end, 1e-5),
         1e-10, 1e-10, "no affine")
   end)

   it("backward passes gradcheck", function()
      local x = A.leaf(A.randn { 2, 3, 4 })
      local w, b = A.leaf(A.randn { 4 }), A.leaf(A.randn { 4 })
      assert(gradcheck(function(t, ww, bb) return F.layer_norm(t, 4, ww, bb) end, { x, w, b }))
      assert(gradcheck(function(t) return F.layer_norm(A.relayout(t, "transposed"), { 3, 4 }) end, { x }))
   end)

   it("a mismatched normalized_shape names the op and the shapes", function()
      A.raises(function() F.layer_norm(A.randn { 2, 3 }, { 4 }) end, "layer_norm", "(2, 3)", "4")
   end)
end)

describe("group_norm", function()
   before_each(function() gan.manual_seed(54) end)

   it("normalises each sample over groups of channels", function()
      local x = A.randn { 2, 6, 3, 2 } + 0.7
      local w, b = A.randn { 6 }, A.randn { 6 }
      for _, G in ipairs { 1, 2, 3, 6 } do
         local key = function(i) return i[1] * 100 + (i[2] - 1) // (6 // G) end
         local want = ref_normalize(A.arr(x), key, 1e-5, channel_affine(A.arr(w), A.arr(b)))
         for kind, xl in pairs(A.layouts(x)) do
            A.close(F.group_norm(xl, G, w, b), want, 1e-10, 1e-10, G .. " groups " .. kind)
         end
      end
   end)

   it("backward passes gradcheck and bad groups are an error", function()
      local x = A.leaf(A.randn { 2, 4, 2, 2 })
      local w, b = A.leaf(A.randn { 4 }), A.leaf(A.randn { 4 })
      assert(gradcheck(function(t, ww, bb) return F.group_norm(t, 2, ww, bb) end, { x, w, b }))
      A.raises(function() F.group_norm(A.randn { 2, 4, 2, 2 }, 3) end, "group_norm", "4", "3")
   end)
end)
