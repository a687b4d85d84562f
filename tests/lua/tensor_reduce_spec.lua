-- Reductions against naive Lua loops in double precision.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "tensor_helpers.lua")

local nan, inf = 0 / 0, math.huge

-- Reference: reduces nested table `vals` over the (positive, 1-based) `dims` (nil: all),
-- applying fn to the list of reduced values in row-major order.
local function ref_reduce(vals, dims, keepdim, fn)
   local shape = H.shape_of(vals)
   local red = {}
   if dims == nil then
      for d = 1, #shape do red[d] = true end
   else
      for _, d in ipairs(dims) do red[d < 0 and #shape + d + 1 or d] = true end
   end
   local out_shape, kept = {}, {}
   for d = 1, #shape do
      if not red[d] then out_shape[#out_shape + 1] = shape[d]; kept[#kept + 1] = d
      elseif keepdim then out_shape[#out_shape + 1] = 1 end
   end
   local rdims = {}
   for d = 1, #shape do if red[d] then rdims[#rdims + 1] = d end end
   return H.build(out_shape, function(oidx)
      local full = {}
      if keepdim then
         for d = 1, #shape do full[d] = oidx[d] end
      else
         for k, d in ipairs(kept) do full[d] = oidx[k] end
      end
      local list = {}
      local function rec(k)
         if k > #rdims then list[#list + 1] = H.at(vals, full); return end
         for i = 1, shape[rdims[k]] do full[rdims[k]] = i; rec(k + 1) end
      end
      rec(1)
      return fn(list)
   end)
end

local function r_sum(l) local s = 0 for _, v in ipairs(l) do s = s + v end return s end
local function r_mean(l) return r_sum(l) / #l end
local function r_prod(l) local p = 1 for _, v in ipairs(l) do p = p * v end return p end
local function r_max(l)
   local m = l[1]
   for _, v in ipairs(l) do if v ~= v then return v end if v > m then m = v end end
   return m
end
local function r_min(l)
   local m = l[1]
   for _, v in ipairs(l) do if v ~= v then return v end if v < m then m = v end end
   return m
end
local function r_var(unbiased)
   return function(l)
      local m, ss = r_mean(l), 0
      for _, v in ipairs(l) do ss = ss + (v - m) ^ 2 end
      local dof = unbiased and #l - 1 or #l
      return dof > 0 and ss / dof or nan
   end
end
local function r_std(unbiased)
   local v = r_var(unbiased)
   return function(l) return math.sqrt(v(l)) end
end
local function r_norm(p)
   return function(l)
      if p == inf then
         local m = 0
         for _, v in ipairs(l) do m = math.max(m, math.abs(v)) end
         return m
      end
      local s = 0
      for _, v in ipairs(l) do s = s + math.abs(v) ^ p end
      return s ^ (1 / p)
   end
end
local function r_argmax(l)
   local b = 1
   for i, v in ipairs(l) do
      if v ~= v then return i - 1 end
      if v > l[b] then b = i end
   end
   return b - 1
end
local function r_argmin(l)
   local b = 1
   for i, v in ipairs(l) do
      if v ~= v then return i - 1 end
      if v < l[b] then b = i end
   end
   return b - 1
end

local OPS = {
   { "sum", r_sum }, { "mean", r_mean }, { "prod", r_prod }, { "max", r_max }, { "min", r_min },
}

local function transpose2(v)
   return H.build({ #v[1], #v }, function(i) return v[i[2]][i[1]] end)
end

local TOL = { float32 = { 2e-6, 1e-6 }, float64 = { 1e-13, 1e-14 } }

-- Data with distinct values (so arg-reductions have one answer) in about [-2, 2].
local function vals_for(shape, seed)
   local n, k = H.numel(shape), 0
   local perm = {}
   for i = 1, n do perm[i] = i end
   local s = seed
   for i = n, 2, -1 do
      s = (s * 1103515245 + 12345) % 2147483648
      local j = s % i + 1
      perm[i], perm[j] = perm[j], perm[i]
   end
   return H.build(shape, function()
      k = k + 1
      return (perm[k] - n / 2) / (n / 4) + 0.125
   end)
end

local DIM_CASES = {
   { nil, false }, { { 1 }, false }, { { 2 }, false }, { { 3 }, false }, { { -1 }, false },
   { { 2 }, true }, { { -2 }, true }, { { 1, 3 }, false }, { { 1, 3 }, true }, { { 3, 1 }, false },
   { { 1, 2, 3 }, false }, { { -1, -3 }, true },
}

local function dims_arg(dims)
   if dims == nil then return nil end
   if #dims == 1 then return dims[1] end
   return dims
end

local function label(op, dims, keep)
   return ("%s(%s%s)"):format(op, dims and table.concat(dims, ",") or "", keep and ", keepdim" or "")
end

describe("sum/mean/prod/max/min", function()
   -- Rows are summed in blocks of 4096 with eight interleaved partials each: lengths around
   -- both sizes, against a plain double sum in Lua.
   it("sums rows of every length near the partial and block sizes", function()
      for _, n in ipairs { 1, 7, 8, 9, 15, 17, 4095, 4096, 4097, 8200, 10001 } do
         local vals = {}
         for i = 1, n do vals[i] = H.f32(math.sin(i * 1.7) * 3 + 0.25) end
         local want = r_sum(vals)
         for _, dtype in ipairs { "float32", "float64" } do
            local x = gan.tensor(vals, { dtype = dtype })
            local got = x:sum():item()
            assert(math.abs(got - want) <= 1e-6 * math.max(1, math.abs(want)), ("%s n=%d: %.9g vs %.9g"):format(dtype, n, got, want))
            local m = x:view(1, n):expand(3, n):sum(2)   -- rows of a 2-d tensor too
            for k = 1, 3 do assert(math.abs(m[k] - want) <= 1e-6 * math.max(1, math.abs(want))) end
         end
         local ints = gan.arange(n, { dtype = "int64" }):sum():item()
         assert.are.equal(n * (n - 1) // 2, ints)
      end
   end)

   for _, dtype in ipairs { "float32", "float64" } do
      it("over all dims, one dim, several dims, negative dims, keepdim (" .. dtype .. ")", function()
         local vals = vals_for({ 3, 4, 5 }, 7)
         if dtype == "float32" then vals = H.map(vals, H.f32) end
         local x = gan.tensor(vals, { dtype = dtype })
         local tol = TOL[dtype]
         for _, op in ipairs(OPS) do
            for _, case in ipairs(DIM_CASES) do
               local dims, keep = case[1], case[2]
               if not ((op[1] == "max" or op[1] == "min") and dims ~= nil and (#dims > 1)) then
                  local want = ref_reduce(vals, dims, keep, op[2])
                  local r
                  if dims == nil then r = x[op[1]](x)
                  elseif op[1] == "max" or op[1] == "min" then r = x[op[1]](x, dims[1], keep)
                  else r = x[op[1]](x, dims_arg(dims), keep) end
                  assert.are.equal(dtype, r.dtype)
                  local ok, msg = pcall(H.assert_tensor, r, want, op[1] == "prod" and 1e-5 or tol[1], tol[2])
                  assert(ok, label(op[1], dims, keep) .. ": " .. tostring(msg))
               end
            end
         end
      end)
   end

   it("reduce non-contiguous inputs like their contiguous copies", function()
      local vals = H.map(vals_for({ 4, 3, 5 }, 9), H.f32)
      local x = gan.tensor(vals)
      local views = {
         x:transpose(1, 3),
         x:permute(2, 3, 1),
         x:narrow(3, 2, 3),
         x:narrow(1, 2, 2):select(3, 4),
         x:select(1, 2):unsqueeze(1):expand(3, 3, 5),
      }
      for vi, v in ipairs(views) do
         local vv = v:totable()
         for _, op in ipairs(OPS) do
            local want = ref_reduce(vv, nil, false, op[2])
            local ok, msg = pcall(H.assert_tensor, v[op[1]](v), want, 1e-5, 1e-6)
            assert(ok, ("view %d %s: %s"):format(vi, op[1], tostring(msg)))
            for d = 1, v:dim() do
               local r = (v[op[1]](v, d))   -- max/min(dim) also return indices: keep the values
               ok, msg = pcall(H.assert_tensor, r, ref_reduce(vv, { d }, false, op[2]), 1e-5, 1e-6)
               assert(ok, ("view %d %s(%d): %s"):format(vi, op[1], d, tostring(msg)))
               H.assert_same(r:totable(), (v:contiguous()[op[1]](v:contiguous(), d)):totable())
            end
         end
      end
   end)

   it("function forms match the methods", function()
      local x = gan.tensor({ { 1, 2 }, { 3, 4 } })
      H.assert_exact(gan.sum(x, 1), { 4, 6 })
      H.assert_exact(gan.mean(x), 2.5)
      H.assert_exact(gan.prod(x, -1), { 2, 12 })
   end)

   it("a 0-d tensor reduces to itself, also over dim 1 / -1", function()
      local s = gan.tensor(3, { dtype = "float64" })
      assert.are.equal(3, s:sum():item())
      assert.are.equal(3, s:sum(1):item())
      assert.are.equal(3, s:mean(-1):item())
      assert.are.same({}, s:sum():size())
   end)

   it("empty reductions: sum 0, prod 1, mean NaN, max is an error", function()
      local e = gan.zeros(0, 3)
      assert.are.equal(0, e:sum():item())
      assert.are.same({ 0, 0, 0 }, e:sum(1):totable())
      assert.are.same({ 1, 1, 1 }, e:prod(1):totable())
      assert.are.same({ 0 }, e:sum(2):size())
      local m = e:mean():item()
      assert.is_true(m ~= m)
      H.assert_err(function() e:max() end, "max", "empty")
      H.assert_err(function() e:max(1) end, "max", "empty")
      assert.are.same({ 0 }, e:max(2):size())   -- no rows to reduce: empty result
   end)

   it("float32 sums accumulate in double", function()
      local n = 1000000
      local x = gan.full({ n }, 0.1)
      local want = H.f32(n * H.f32(0.1))
      assert.is_true(math.abs(x:sum():item() - want) <= 1e-6 * want)
      assert.is_true(math.abs(x:mean():item() - H.f32(0.1)) <= 1e-7)
   end)

   it("float64 sums are accurate to double precision", function()
      local n = 200000
      local x = gan.arange(n, { dtype = "float64" }):mul(1e-3):add(1 / 3)
      local ref = 0
      for i = 0, n - 1 do ref = ref + (i * 1e-3 + 1 / 3) end
      assert.is_true(math.abs(x:sum():item() - ref) <= 1e-12 * math.abs(ref))
      -- values that float32 cannot hold
      local y = gan.tensor({ 1 + 2 ^ -40, 1 }, { dtype = "float64" })
      assert.are.equal(2 + 2 ^ -40, y:sum():item())
      assert.are.equal(1 + 2 ^ -41, y:mean():item())
   end)

   it("int64 sums, prods, max and min are exact", function()
      local x = gan.tensor({ 2 ^ 53, 1, 1 }, { dtype = "int64" })
      local s = x:sum()
      assert.are.equal("int64", s.dtype)
      assert.are.equal(9007199254740994, s:item())
      assert.are.equal("integer", math.type(s:item()))
      local p = gan.tensor({ 3, 1000003, 1000033, 999983 }, { dtype = "int64" }):prod():item()
      assert.are.equal(3 * 1000003 * 1000033 * 999983, p)
      local vals = H.idata({ 4, 5 }, 3, -1000000000, 1000000000)
      local m = gan.tensor(vals, { dtype = "int64" })
      assert.are.same(ref_reduce(vals, { 2 }, false, r_sum), m:sum(2):totable())
      assert.are.same(ref_reduce(vals, { 1 }, true, r_sum), m:sum(1, true):totable())
      assert.are.same(ref_reduce(vals, nil, false, r_max), m:max():item())
      assert.are.same(ref_reduce(vals, { 1 }, false, r_min), (m:min(1)):totable())
      H.assert_err(function() m:mean() end, "mean", "int64", ":float()")
      H.assert_err(function() m:var() end, "var", "int64")
   end)

   it("rejects bad dims with messages in Lua's numbering", function()
      local x = gan.zeros(2, 3, 4)
      H.assert_err(function() x:sum(4) end, "sum", "dim 4 out of range", "3-d")
      H.assert_err(function() x:sum(-4) end, "dim -4 out of range")
      H.assert_err(function() x:sum(0) end, "dim 0")
      H.assert_err(function() x:sum({ 1, 1 }) end, "sum", "dim 1 given twice")
      H.assert_err(function() x:mean({ 2, -2 }) end, "mean", "given twice")
      H.assert_err(function() x:sum({}) end, "empty list of dims")
      H.assert_err(function() x:max(5) end, "max", "dim 5 out of range")
      H.assert_err(function() x:argmax(4) end, "argmax", "dim 4 out of range")
   end)
end)

describe("var and std", function()
   local vals = vals_for({ 4, 6 }, 17)
   local x = gan.tensor(vals, { dtype = "float64" })
   it("over all elements, unbiased by default", function()
      H.assert_tensor(x:var(), ref_reduce(vals, nil, false, r_var(true)), 1e-12, 0)
      H.assert_tensor(x:std(), ref_reduce(vals, nil, false, r_std(true)), 1e-12, 0)
      H.assert_tensor(gan.var(x), ref_reduce(vals, nil, false, r_var(true)), 1e-12, 0)
   end)
   it("per dim, biased and unbiased, keepdim", function()
      for _, d in ipairs { 1, 2, -1 } do
         for _, unb in ipairs { true, false } do
            for _, keep in ipairs { false, true } do
               H.assert_tensor(x:var(d, unb, keep), ref_reduce(vals, { d }, keep, r_var(unb)), 1e-12, 1e-15)
               H.assert_tensor(x:std(d, unb, keep), ref_reduce(vals, { d }, keep, r_std(unb)), 1e-12, 1e-15)
            end
         end
      end
      H.assert_tensor(x:var({ 1, 2 }, false), ref_reduce(vals, nil, false, r_var(false)), 1e-12, 0)
   end)
   it("known values", function()
      local y = gan.tensor({ 2, 4, 4, 4, 5, 5, 7, 9 }, { dtype = "float64" })
      assert.are.equal(4, y:var(1, false):item())
      assert.are.equal(2, y:std(1, false):item())
      assert.is_true(math.abs(y:var():item() - 32 / 7) < 1e-14)
   end)
   it("float32 input, non-contiguous input", function()
      local f = gan.tensor(H.map(vals, H.f32))
      H.assert_tensor(f:t():var(1), ref_reduce(transpose2(vals), { 1 }, false, r_var(true)), 1e-5, 1e-7)
   end)
   it("one element: unbiased var is NaN, biased is 0", function()
      local v = gan.tensor({ 3 }):var():item()
      assert.is_true(v ~= v)
      assert.are.equal(0, gan.tensor({ 3 }):var(1, false):item())
   end)
end)

describe("norm", function()
   local vals = vals_for({ 3, 5 }, 23)
   local x = gan.tensor(vals, { dtype = "float64" })
   it("p = 1, 2, inf, 3 over all elements; default p is 2", function()
      for _, p in ipairs { 1, 2, inf, 3 } do
         H.assert_tensor(x:norm(p), ref_reduce(vals, nil, false, r_norm(p)), 1e-12, 0)
      end
      H.assert_tensor(x:norm(), ref_reduce(vals, nil, false, r_norm(2)), 1e-12, 0)
      H.assert_tensor(gan.norm(x, 1), ref_reduce(vals, nil, false, r_norm(1)), 1e-12, 0)
   end)
   it("per dim with keepdim, and on float32 transposed input", function()
      for _, p in ipairs { 1, 2, inf, 3 } do
         H.assert_tensor(x:norm(p, 2), ref_reduce(vals, { 2 }, false, r_norm(p)), 1e-12, 0)
         H.assert_tensor(x:norm(p, 1, true), ref_reduce(vals, { 1 }, true, r_norm(p)), 1e-12, 0)
         H.assert_tensor(x:norm(p, { 1, 2 }), ref_reduce(vals, nil, false, r_norm(p)), 1e-12, 0)
         local f = gan.tensor(H.map(vals, H.f32)):t()
         H.assert_tensor(f:norm(p, -1), ref_reduce(transpose2(H.map(vals, H.f32)), { 2 }, false, r_norm(p)), 1e-5, 1e-7)
      end
   end)
   it("known values", function()
      local v = gan.tensor({ 3, -4 }, { dtype = "float64" })
      assert.are.equal(5, v:norm():item())
      assert.are.equal(7, v:norm(1):item())
      assert.are.equal(4, v:norm(inf):item())
      assert.are.equal(2, gan.tensor({ 0, 3, 0, -1 }):norm(0):item())
      H.assert_err(function() v:norm(-1) end, "norm", "p must be >= 0")
   end)
end)

describe("max/min with a dim, argmax/argmin", function()
   local vals = vals_for({ 3, 4, 5 }, 29)
   local x = gan.tensor(vals, { dtype = "float64" })

   it("max(dim)/min(dim) return values and 0-based int64 indices", function()
      for _, d in ipairs { 1, 2, 3, -1, -2 } do
         for _, keep in ipairs { false, true } do
            local v, i = x:max(d, keep)
            H.assert_exact(v, ref_reduce(vals, { d }, keep, r_max))
            assert.are.equal("int64", i.dtype)
            assert.are.same(ref_reduce(vals, { d }, keep, r_argmax), i:totable())
            local vn, j = x:min(d, keep)
            H.assert_exact(vn, ref_reduce(vals, { d }, keep, r_min))
            assert.are.same(ref_reduce(vals, { d }, keep, r_argmin), j:totable())
         end
      end
   end)

   it("argmax/argmin over all give the flat 0-based index", function()
      local a = x:argmax()
      assert.are.equal("int64", a.dtype)
      assert.are.same({}, a:size())
      assert.are.equal(ref_reduce(vals, nil, false, r_argmax), a:item())
      assert.are.equal(ref_reduce(vals, nil, false, r_argmin), x:argmin():item())
      local flat = H.flat(vals)
      assert.are.equal(r_max(flat), flat[x:argmax():item() + 1])
   end)

   it("argmax/argmin per dim, with keepdim", function()
      for _, d in ipairs { 1, 2, 3, -1 } do
         assert.are.same(ref_reduce(vals, { d }, false, r_argmax), x:argmax(d):totable())
         assert.are.same(ref_reduce(vals, { d }, true, r_argmin), x:argmin(d, true):totable())
      end
   end)

   it("ties give the first index", function()
      local t = gan.tensor({ { 1, 3, 3 }, { 2, 2, 0 } })
      local _, i = t:max(2)
      assert.are.same({ 1, 0 }, i:totable())
      assert.are.same({ 1, 0 }, t:argmax(2):totable())
      assert.are.same({ 0, 2 }, t:argmin(2):totable())
      assert.are.equal(1, t:argmax():item())
   end)

   it("work on non-contiguous and int64 input", function()
      local t = x:permute(3, 1, 2)
      local tv = t:totable()
      local v, i = t:max(2)
      H.assert_exact(v, ref_reduce(tv, { 2 }, false, r_max))
      assert.are.same(ref_reduce(tv, { 2 }, false, r_argmax), i:totable())
      assert.are.equal(ref_reduce(tv, nil, false, r_argmax), t:argmax():item())
      local iv = H.idata({ 4, 6 }, 5, -100, 100)
      local it64 = gan.tensor(iv, { dtype = "int64" })
      local mv, mi = it64:min(1)
      assert.are.same(ref_reduce(iv, { 1 }, false, r_min), mv:totable())
      assert.are.same(ref_reduce(iv, { 1 }, false, r_argmin), mi:totable())
   end)
end)
