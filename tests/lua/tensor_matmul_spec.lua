-- matmul against naive triple loops in double precision.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "tensor_helpers.lua")

-- Naive (n, k) x (k, m) on nested tables.
local function mm(a, b)
   local n, k, m = #a, #b, (#b > 0 and #b[1] or 0)
   local out = {}
   for i = 1, n do
      out[i] = {}
      for j = 1, m do
         local s = 0
         for p = 1, k do s = s + a[i][p] * b[p][j] end
         out[i][j] = s
      end
   end
   return out
end

-- Reference matmul with NumPy semantics for 1-d operands and batch broadcasting.
local function ref_matmul(a, b)
   local sa, sb = H.shape_of(a), H.shape_of(b)
   local a_vec, b_vec = #sa == 1, #sb == 1
   if a_vec then a = { a }; sa = { 1, sa[1] } end
   if b_vec then b = H.map(b, function(v) return { v } end); sb = { sb[1], 1 } end
   local ba, bb = { table.unpack(sa, 1, #sa - 2) }, { table.unpack(sb, 1, #sb - 2) }
   local bs = assert(H.broadcast_shape(ba, bb))
   local out
   if #bs == 0 then
      out = mm(a, b)
   else
      out = H.build(bs, function(idx)
         return "MAT:" .. table.concat(idx, ",")
      end)
      -- replace each placeholder with the product of the broadcast batch entries
      local function fill(t, idx)
         for i = 1, #t do
            idx[#idx + 1] = i
            if type(t[i]) == "string" then
               t[i] = mm(H.bget(a, ba, idx), H.bget(b, bb, idx))
            else
               fill(t[i], idx)
            end
            idx[#idx] = nil
         end
      end
      fill(out, {})
   end
   -- drop the added dims: the last (size 1) for a vector b, then the row dim for a vector a
   local function strip_col(x, depth)
      local r = {}
      for i = 1, #x do r[i] = depth == 0 and x[i][1] or strip_col(x[i], depth - 1) end
      return r
   end
   local function strip_row(x, depth)
      if depth == 0 then return x[1] end
      local r = {}
      for i = 1, #x do r[i] = strip_row(x[i], depth - 1) end
      return r
   end
   if b_vec then out = strip_col(out, #bs) end
   if a_vec then out = strip_row(out, #bs) end
   return out
end

local function check(a, b, av, bv, rtol)
   local r = gan.matmul(a, b)
   local want = ref_matmul(av, bv)
   H.assert_tensor(r, want, rtol or 1e-5, 1e-5)
   H.assert_tensor(a:matmul(b), want, rtol or 1e-5, 1e-5)
   return r
end

describe("matmul shapes", function()
   it("1-d . 1-d is a 0-d dot product", function()
      local av, bv = H.data({ 7 }, 1), H.data({ 7 }, 2)
      local r = check(gan.tensor(av), gan.tensor(bv), H.map(av, H.f32), H.map(bv, H.f32))
      assert.are.same({}, r:size())
      H.assert_exact(gan.matmul(gan.tensor({ 1, 2, 3 }), gan.tensor({ 4, 5, 6 })), 32)
   end)

   it("2-d x 1-d and 1-d x 2-d", function()
      local m, v = H.map(H.data({ 3, 5 }, 3), H.f32), H.map(H.data({ 5 }, 4), H.f32)
      local r = check(gan.tensor(m), gan.tensor(v), m, v)
      assert.are.same({ 3 }, r:size())
      local w = H.map(H.data({ 3 }, 5), H.f32)
      r = check(gan.tensor(w), gan.tensor(m), w, m)
      assert.are.same({ 5 }, r:size())
   end)

   it("2-d x 2-d", function()
      local a, b = H.map(H.data({ 4, 6 }, 6), H.f32), H.map(H.data({ 6, 3 }, 7), H.f32)
      local r = check(gan.tensor(a), gan.tensor(b), a, b)
      assert.are.same({ 4, 3 }, r:size())
      H.assert_exact(gan.matmul(gan.tensor({ { 1, 2 }, { 3, 4 } }), gan.tensor({ { 5, 6 }, { 7, 8 } })),
         { { 19, 22 }, { 43, 50 } })
   end)

   it("batched 3-d x 3-d", function()
      local a, b = H.map(H.data({ 2, 3, 4 }, 8), H.f32), H.map(H.data({ 2, 4, 5 }, 9), H.f32)
      local r = check(gan.tensor(a), gan.tensor(b), a, b)
      assert.are.same({ 2, 3, 5 }, r:size())
   end)

   it("broadcasts batch dims: (2,1,3,4) x (5,4,2) gives (2,5,3,2)", function()
      local a, b = H.map(H.data({ 2, 1, 3, 4 }, 10), H.f32), H.map(H.data({ 5, 4, 2 }, 11), H.f32)
      local r = check(gan.tensor(a), gan.tensor(b), a, b)
      assert.are.same({ 2, 5, 3, 2 }, r:size())
   end)

   it("2-d x 3-d and 3-d x 2-d broadcast the matrix", function()
      local m, t = H.map(H.data({ 3, 4 }, 12), H.f32), H.map(H.data({ 2, 4, 5 }, 13), H.f32)
      assert.are.same({ 2, 3, 5 }, check(gan.tensor(m), gan.tensor(t), m, t):size())
      local t2, m2 = H.map(H.data({ 2, 3, 4 }, 14), H.f32), H.map(H.data({ 4, 5 }, 15), H.f32)
      assert.are.same({ 2, 3, 5 }, check(gan.tensor(t2), gan.tensor(m2), t2, m2):size())
   end)

   it("1-d with batched operands drops the vector dim", function()
      local v, t = H.map(H.data({ 4 }, 16), H.f32), H.map(H.data({ 2, 4, 5 }, 17), H.f32)
      assert.are.same({ 2, 5 }, check(gan.tensor(v), gan.tensor(t), v, t):size())
      local t2, v2 = H.map(H.data({ 2, 3, 4 }, 18), H.f32), H.map(H.data({ 4 }, 19), H.f32)
      assert.are.same({ 2, 3 }, check(gan.tensor(t2), gan.tensor(v2), t2, v2):size())
   end)

   it("empty dims: k = 0 gives zeros, n = 0 gives an empty result", function()
      H.assert_exact(gan.matmul(gan.ones(2, 0), gan.ones(0, 3)), { { 0, 0, 0 }, { 0, 0, 0 } })
      assert.are.same({ 0, 3 }, gan.matmul(gan.ones(0, 4), gan.ones(4, 3)):size())
      assert.are.same({ 2, 0 }, gan.matmul(gan.ones(2, 4), gan.ones(4, 0)):size())
      assert.are.equal(0, gan.matmul(gan.ones(0), gan.ones(0)):item())
   end)
end)

describe("matmul operand layouts", function()
   local av = H.map(H.data({ 5, 4 }, 21), H.f32)
   local bv = H.map(H.data({ 4, 3 }, 22), H.f32)
   local function T(v) return H.build({ #v[1], #v }, function(i) return v[i[2]][i[1]] end) end

   it("transposed operands (no-copy path) give the same result", function()
      local at = gan.tensor(T(av)):t()     -- (5, 4) view, column-major
      local bt = gan.tensor(T(bv)):t()     -- (4, 3) view
      assert.is_false(at:is_contiguous())
      check(at, gan.tensor(bv), av, bv)
      check(gan.tensor(av), bt, av, bv)
      check(at, bt, av, bv)
      -- a transposed result-side product: (A B)^T = B^T A^T
      check(bt:t(), at:t(), T(bv), T(av))
   end)

   it("narrowed operands with a leading dim larger than the width", function()
      local big = H.map(H.data({ 7, 9 }, 23), H.f32)
      local x = gan.tensor(big):narrow(1, 2, 5):narrow(2, 3, 4)    -- (5, 4), row stride 9, offset
      local xv = H.build({ 5, 4 }, function(i) return big[i[1] + 1][i[2] + 2] end)
      check(x, gan.tensor(bv), xv, bv)
      check(gan.tensor(bv):t(), x:t(), T(bv), T(xv))
   end)

   it("operands with stride > 1 in both dims are copied first", function()
      local big = H.map(H.data({ 10, 8 }, 24), H.f32)
      local x = gan.tensor(big):view(5, 2, 4, 2):select(2, 1):select(3, 2)   -- (5, 4), strides (16, 2)
      local xv = H.build({ 5, 4 }, function(i) return big[2 * i[1] - 1][2 * i[2]] end)
      check(x, gan.tensor(bv), xv, bv)
   end)

   it("expanded operands (stride 0), including a single expanded column", function()
      local row = gan.tensor({ { 1, 2, 3, 4 } }):expand(5, 4)
      local rv = H.build({ 5, 4 }, function(i) return i[2] end)
      check(row, gan.tensor(bv), rv, bv)
      local col = gan.tensor({ { 2 } }):expand(3, 1)
      H.assert_exact(col:matmul(gan.tensor({ { 1, 2 } })), { { 2, 4 }, { 2, 4 }, { 2, 4 } })
      H.assert_exact(gan.tensor({ { 1, 2, 3 } }):matmul(gan.tensor({ { 5 } }):expand(3, 1)), { { 30 } })
      local colv = gan.tensor({ 1, 2, 3 }):unsqueeze(2):expand(3, 2)
      H.assert_exact(colv:matmul(gan.tensor({ { 1 }, { 10 } })), { { 11 }, { 22 }, { 33 } })
      local bb = gan.tensor(bv):unsqueeze(1):expand(3, 4, 3)    -- batch stride 0
      local aa = H.map(H.data({ 3, 5, 4 }, 25), H.f32)
      check(gan.tensor(aa), bb, aa, { bv, bv, bv })
   end)

   it("batched transposed operands", function()
      local a = H.map(H.data({ 3, 4, 5 }, 26), H.f32)   -- viewed as (3, 5, 4)
      local b = H.map(H.data({ 3, 4, 2 }, 27), H.f32)
      local at = gan.tensor(a):transpose(2, 3)
      local atv = H.build({ 3, 5, 4 }, function(i) return a[i[1]][i[3]][i[2]] end)
      check(at, gan.tensor(b), atv, b)
      local perm = gan.tensor(H.build({ 5, 3, 4 }, function(i) return atv[i[2]][i[1]][i[3]] end)):permute(2, 1, 3)
      check(perm, gan.tensor(b), atv, b)
   end)
end)

describe("matmul precision and dtypes", function()
   it("float64 matches the double-precision reference tightly", function()
      local a, b = H.data({ 6, 20 }, 31), H.data({ 20, 7 }, 32)
      local r = gan.matmul(gan.tensor(a, { dtype = "float64" }), gan.tensor(b, { dtype = "float64" }))
      assert.are.equal("float64", r.dtype)
      H.assert_tensor(r, mm(a, b), 1e-13, 1e-13)
      local b3 = H.data({ 4, 20, 3 }, 33)
      local a3 = H.data({ 4, 6, 20 }, 34)
      H.assert_tensor(gan.matmul(gan.tensor(a3, { dtype = "float64" }), gan.tensor(b3, { dtype = "float64" })),
         ref_matmul(a3, b3), 1e-13, 1e-13)
   end)

   it("larger float32 products stay within float32 accuracy", function()
      local a, b = H.map(H.data({ 33, 65 }, 35), H.f32), H.map(H.data({ 65, 17 }, 36), H.f32)
      H.assert_tensor(gan.matmul(gan.tensor(a), gan.tensor(b)), mm(a, b), 1e-4, 1e-4)
   end)

   it("many batches give the same result with 1 and 2 threads", function()
      local a = H.map(H.data({ 16, 12, 10 }, 37), H.f32)
      local b = H.map(H.data({ 16, 10, 9 }, 38), H.f32)
      local old = gan.get_num_threads()
      gan.set_num_threads(1)
      local r1 = gan.matmul(gan.tensor(a), gan.tensor(b)):totable()
      gan.set_num_threads(2)
      local r2 = gan.matmul(gan.tensor(a), gan.tensor(b)):totable()
      gan.set_num_threads(old)
      H.assert_same(r2, r1)
      local ok, msg = H.compare(r1, ref_matmul(a, b), 1e-5, 1e-5)
      assert(ok, msg)
   end)
end)

describe("matmul errors", function()
   it("misaligned inner dims name both shapes", function()
      H.assert_err(function() gan.matmul(gan.ones(2, 3), gan.ones(2, 3)) end,
         "matmul", "(2, 3)", "not aligned")
      H.assert_err(function() gan.matmul(gan.ones(3), gan.ones(4)) end, "matmul", "(3,)", "(4,)")
      H.assert_err(function() gan.ones(2, 5):matmul(gan.ones(4, 2)) end, "(2, 5)", "(4, 2)")
   end)

   it("batch dims that do not broadcast name both shapes", function()
      H.assert_err(function() gan.matmul(gan.ones(2, 3, 4), gan.ones(3, 4, 2)) end,
         "matmul", "(2, 3, 4)", "(3, 4, 2)")
   end)

   it("0-d operands, int64 and mixed dtypes are rejected", function()
      H.assert_err(function() gan.matmul(gan.tensor(2), gan.ones(2)) end, "matmul", "at least 1 dim")
      H.assert_err(function() gan.matmul(gan.arange(3), gan.arange(3)) end, "matmul", "int64", ":float()")
      H.assert_err(function() gan.matmul(gan.ones(3), gan.ones(3, { dtype = "float64" })) end, "matmul", "dtypes differ")
      H.assert_err(function() gan.matmul(gan.ones(3), "x") end, "tensor expected")
   end)
end)
