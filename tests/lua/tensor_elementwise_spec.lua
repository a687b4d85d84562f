-- Elementwise ops: broadcasting, binary and unary ops against Lua references, scalars on
-- either side, in-place forms, clamp/where/masked_fill, NaN handling, non-contiguous inputs.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "tensor_helpers.lua")

local nan, inf = 0 / 0, math.huge

-- ---- Lua references

local function tanh(x)
   if x > 20 then return 1 elseif x < -20 then return -1 end
   local e = math.exp(2 * x)
   return (e - 1) / (e + 1)
end
local function log1p(x)
   if math.abs(x) < 1e-4 then return x - x * x / 2 + x * x * x / 3 end
   return math.log(1 + x)
end
local function expm1(x)
   if math.abs(x) < 1e-5 then return x + x * x / 2 + x * x * x / 6 end
   return math.exp(x) - 1
end
local function round_half_even(x)
   if x ~= x or x == inf or x == -inf then return x end
   local f = math.floor(x)
   local d = x - f
   if d > 0.5 then return f + 1 elseif d < 0.5 then return f end
   return (f % 2 == 0) and f or f + 1
end
local function sign(x)
   if x ~= x then return x end
   return x > 0 and 1 or (x < 0 and -1 or 0)
end
local function b2n(b) return b and 1 or 0 end

local UNARY = {
   { "neg", function(x) return -x end },
   { "abs", math.abs },
   { "exp", math.exp },
   { "log", math.log, "pos" },
   { "sqrt", math.sqrt, "pos" },
   { "rsqrt", function(x) return 1 / math.sqrt(x) end, "pos" },
   { "tanh", tanh },
   { "sigmoid", function(x) return 1 / (1 + math.exp(-x)) end },
   { "relu", function(x) return x > 0 and x or 0 end },
   { "sign", sign },
   { "reciprocal", function(x) return 1 / x end, "pos" },
   { "square", function(x) return x * x end },
   { "floor", math.floor },
   { "ceil", math.ceil },
   { "round", round_half_even },
   { "log1p", log1p, "gt-1" },
   { "expm1", expm1 },
   { "sin", math.sin },
   { "cos", math.cos },
}

local BINARY = {
   { "add", function(a, b) return a + b end, "__add" },
   { "sub", function(a, b) return a - b end, "__sub" },
   { "mul", function(a, b) return a * b end, "__mul" },
   { "div", function(a, b) return a / b end, "__div" },
   { "pow", function(a, b) return a ^ b end, "__pow" },
   { "minimum", math.min },
   { "maximum", math.max },
   { "eq", function(a, b) return b2n(a == b) end },
   { "ne", function(a, b) return b2n(a ~= b) end },
   { "lt", function(a, b) return b2n(a < b) end },
   { "le", function(a, b) return b2n(a <= b) end },
   { "gt", function(a, b) return b2n(a > b) end },
   { "ge", function(a, b) return b2n(a >= b) end },
}

local INT_BINARY = { add = true, sub = true, mul = true, minimum = true, maximum = true,
   eq = true, ne = true, lt = true, le = true, gt = true, ge = true }
local INT_UNARY = { neg = true, abs = true, relu = true, sign = true, square = true,
   floor = true, ceil = true, round = true }

local TOL = { float32 = { 2e-6, 1e-6 }, float64 = { 1e-13, 1e-14 } }
local TRANS_TOL = { float32 = { 1e-5, 2e-6 }, float64 = { 1e-12, 1e-14 } }

-- Values for a dtype: quarters in [-2, 2] (exact in float32, with ties for comparisons),
-- or a domain restricted for log-like ops.
local function values(shape, seed, dtype, domain)
   if dtype == "int64" then return H.idata(shape, seed, -4, 4) end
   if domain == "pos" then return H.data(shape, seed, 0.1, 3) end
   if domain == "gt-1" then return H.data(shape, seed, -0.9, 3) end
   return H.map(H.idata(shape, seed, -8, 8), function(v) return v / 4 end)
end

local function as_dtype(vals, dtype)
   if dtype ~= "float32" then return vals end
   return H.map(vals, H.f32)
end

-- ---- non-contiguous variants holding given values (shape 2-d or 3-d)

local function transpose_vals(vals)
   local s = H.shape_of(vals)
   local ts = { table.unpack(s) }
   ts[#s], ts[#s - 1] = s[#s - 1], s[#s]
   return H.build(ts, function(i)
      local j = { table.unpack(i) }
      j[#i], j[#i - 1] = i[#i - 1], i[#i]
      return H.at(vals, j)
   end)
end

local function variants(vals, dtype)
   local s = H.shape_of(vals)
   local opts = { dtype = dtype }
   local out = {}
   out[#out + 1] = { "contiguous", gan.tensor(vals, opts), vals }
   out[#out + 1] = { "transposed", gan.tensor(transpose_vals(vals), opts):transpose(-1, -2), vals }
   -- embedded at an offset in a bigger tensor, then narrowed in every dim
   local big = {}
   for d = 1, #s do big[d] = s[d] + 2 end
   local padded = H.build(big, function(i)
      local j = {}
      for d = 1, #i do
         if i[d] < 2 or i[d] > s[d] + 1 then return 99 end
         j[d] = i[d] - 1
      end
      return H.at(vals, j)
   end)
   local n = gan.tensor(padded, opts)
   for d = 1, #s do n = n:narrow(d, 2, s[d]) end
   out[#out + 1] = { "narrowed", n, vals }
   -- expanded along dim 1 from its first slice (stride 0): values repeat
   local first = vals[1]
   local ev = H.build(s, function(i) return H.at(first, { table.unpack(i, 2) }) end)
   local e = gan.tensor({ first }, opts):expand(table.unpack(s))
   out[#out + 1] = { "expanded", e, ev }
   if #s == 3 then
      local p = H.build({ s[3], s[1], s[2] }, function(i) return vals[i[2]][i[3]][i[1]] end)
      out[#out + 1] = { "permuted", gan.tensor(p, opts):permute(2, 3, 1), vals }
   end
   return out
end

-- ---- broadcasting

describe("broadcasting", function()
   local function check(sa, sb, want_shape)
      local a, b = H.data(sa, 3), H.data(sb, 5)
      local ta = gan.tensor(a, { dtype = "float64" })
      local tb = gan.tensor(b, { dtype = "float64" })
      local r = ta + tb
      assert.are.same(want_shape, r:size())
      H.assert_tensor(r, H.ref_binary(a, b, function(x, y) return x + y end), 1e-15, 0)
      local r2 = tb * ta
      assert.are.same(want_shape, r2:size())
      H.assert_tensor(r2, H.ref_binary(b, a, function(x, y) return x * y end), 1e-15, 0)
   end

   it("(3,1) + (1,4) gives (3,4)", function() check({ 3, 1 }, { 1, 4 }, { 3, 4 }) end)
   it("(5,) + (2,5) gives (2,5)", function() check({ 5 }, { 2, 5 }, { 2, 5 }) end)
   it("(2,5) + (5,) gives (2,5)", function() check({ 2, 5 }, { 5 }, { 2, 5 }) end)
   it("(4,1,3) + (2,1) gives (4,2,3)", function() check({ 4, 1, 3 }, { 2, 1 }, { 4, 2, 3 }) end)
   it("trailing 1s: (2,3,1) + (3,1) gives (2,3,1)", function() check({ 2, 3, 1 }, { 3, 1 }, { 2, 3, 1 }) end)
   it("(1,1,1) + (1,) gives (1,1,1)", function() check({ 1, 1, 1 }, { 1 }, { 1, 1, 1 }) end)
   it("(2,1,4,1) + (3,1,5) gives (2,3,4,5)", function() check({ 2, 1, 4, 1 }, { 3, 1, 5 }, { 2, 3, 4, 5 }) end)

   it("a 0-d tensor broadcasts against n-d, and 0-d op 0-d is 0-d", function()
      local s = gan.tensor(2.5, { dtype = "float64" })
      local m = gan.tensor({ { 1, 2 }, { 3, 4 } }, { dtype = "float64" })
      H.assert_exact(s * m, { { 2.5, 5 }, { 7.5, 10 } })
      H.assert_exact(m - s, { { -1.5, -0.5 }, { 0.5, 1.5 } })
      local z = s + gan.tensor(1, { dtype = "float64" })
      assert.are.same({}, z:size())
      assert.are.equal(3.5, z:item())
   end)

   it("size-0 dims broadcast against 1 and give empty results", function()
      assert.are.same({ 0, 3 }, (gan.zeros(0, 3) + gan.ones(1, 3)):size())
      assert.are.same({ 2, 0 }, (gan.ones(2, 0) + gan.ones(2, 1)):size())
      assert.are.same({ 0 }, (gan.ones(0) * gan.ones(1)):size())
      assert.are.same({ 0 }, (gan.ones(1) * gan.ones(0)):size())
      assert.are.same({ 3, 0 }, (gan.ones(3, 1) - gan.ones(0)):size())
      assert.are.same({ 0 }, (gan.ones(0) + 1):size())
      assert.are.same({ 0, 2 }, gan.ones(0, 2):exp():size())
   end)

   it("incompatible shapes are an error naming both shapes", function()
      H.assert_err(function() return gan.zeros(2, 3) + gan.zeros(3, 2) end,
         "add", "(2, 3)", "(3, 2)", "broadcast")
      H.assert_err(function() return gan.zeros(0) + gan.zeros(2) end, "(0,)", "(2,)")
      H.assert_err(function() return gan.zeros(3):mul(gan.zeros(4, 2)) end, "mul", "(3,)", "(4, 2)")
   end)
end)

-- ---- binary ops

describe("binary ops", function()
   for _, dtype in ipairs { "float32", "float64" } do
      for _, op in ipairs(BINARY) do
         local name, ref, mm = op[1], op[2], op[3]
         it(("%s (%s) via method%s, with broadcasting"):format(name, dtype, mm and " and metamethod" or ""), function()
            local av = as_dtype(values({ 3, 4 }, 11, dtype), dtype)
            local bv = as_dtype(values({ 4 }, 12, dtype), dtype)
            if name == "pow" then
               av = as_dtype(values({ 3, 4 }, 11, dtype, "pos"), dtype)
            end
            local a = gan.tensor(av, { dtype = dtype })
            local b = gan.tensor(bv, { dtype = dtype })
            local want = H.ref_binary(av, bv, ref)
            local tol = name == "pow" and TRANS_TOL[dtype] or TOL[dtype]
            local r = a[name](a, b)
            assert.are.equal(dtype, r.dtype)
            H.assert_tensor(r, want, tol[1], tol[2])
            H.assert_tensor(gan[name](a, b), want, tol[1], tol[2])
            if mm then
               local f = getmetatable(a)[mm]
               H.assert_tensor(f(a, b), want, tol[1], tol[2])
            end
         end)
      end
   end

   it("comparisons give 0/1 in the operands' dtype", function()
      local a = gan.tensor({ 1, 2, 3 }, { dtype = "float64" })
      local b = gan.tensor({ 3, 2, 1 }, { dtype = "float64" })
      local r = a:lt(b)
      assert.are.equal("float64", r.dtype)
      H.assert_exact(r, { 1, 0, 0 })
      H.assert_exact(a:le(b), { 1, 1, 0 })
      H.assert_exact(a:gt(b), { 0, 0, 1 })
      H.assert_exact(a:ge(b), { 0, 1, 1 })
      H.assert_exact(a:eq(b), { 0, 1, 0 })
      H.assert_exact(a:ne(b), { 1, 0, 1 })
      local i = gan.tensor({ 1, 5 }, { dtype = "int64" }):gt(2)
      assert.are.equal("int64", i.dtype)
      assert.are.same({ 0, 1 }, i:totable())
   end)

   it("comparisons with NaN are false except ne", function()
      local a = gan.tensor({ nan, 1 })
      local b = gan.tensor({ nan, nan })
      H.assert_exact(a:eq(b), { 0, 0 })
      H.assert_exact(a:ne(b), { 1, 1 })
      H.assert_exact(a:lt(b), { 0, 0 })
      H.assert_exact(a:ge(b), { 0, 0 })
   end)

   it("division by zero gives inf and nan", function()
      local r = gan.tensor({ 1, -1, 0 }) / gan.tensor({ 0, 0, 0 })
      local t = r:totable()
      assert.are.equal(inf, t[1])
      assert.are.equal(-inf, t[2])
      assert.is_true(t[3] ~= t[3])
   end)

   it("pow handles integer exponents of negative bases and gives nan for fractional ones", function()
      local r = gan.tensor({ -2, -2, -8, 0 }, { dtype = "float64" }) ^ gan.tensor({ 2, 3, 1 / 3, 0 }, { dtype = "float64" })
      local t = r:totable()
      assert.are.equal(4, t[1])
      assert.are.equal(-8, t[2])
      assert.is_true(t[3] ~= t[3])
      assert.are.equal(1, t[4])
   end)

   it("pow's exponents 2 and 1 (computed as x * x and x) give pow's values, special ones included", function()
      local inf = math.huge
      local xs = { -3.5, -0.0, 0.0, 1e-30, 2.5e19, -inf, inf, 0 / 0, 7 }
      for _, dtype in ipairs { "float32", "float64" } do
         local x = gan.tensor(xs, { dtype = dtype })
         local v = x:totable()   -- the values as stored (rounded to float32 where so)
         for _, e in ipairs { 2, 1 } do
            local scalar, tensor = (x ^ e):totable(), (x ^ gan.full({ #xs }, e, { dtype = dtype })):totable()
            for i = 1, #xs do
               local want = v[i] ^ e   -- C's pow in double
               if dtype == "float32" and math.abs(want) > 3.4028234663852886e38 then want = want > 0 and inf or -inf end
               if dtype == "float32" and want ~= 0 and math.abs(want) < 1.4e-45 then want = 0 end
               for _, got in ipairs { scalar[i], tensor[i] } do
                  if want ~= want then assert.is_true(got ~= got, dtype .. " " .. xs[i] .. "^" .. e)
                  else
                     assert.are.equal(want, got, dtype .. " " .. xs[i] .. "^" .. e)
                     assert.are.equal(1 / want, 1 / got, "the sign of zero: " .. dtype .. " " .. xs[i] .. "^" .. e)
                  end
               end
            end
         end
      end
   end)

   it("int64 arithmetic is exact", function()
      local av = H.idata({ 3, 4 }, 21, -1000000, 1000000)
      local bv = H.idata({ 3, 1 }, 22, -1000, 1000)
      local a = gan.tensor(av, { dtype = "int64" })
      local b = gan.tensor(bv, { dtype = "int64" })
      for _, op in ipairs(BINARY) do
         local name, ref = op[1], op[2]
         if INT_BINARY[name] then
            local r = a[name](a, b)
            assert.are.equal("int64", r.dtype)
            assert.are.same(H.ref_binary(av, bv, ref), r:totable(), name)
         end
      end
      local big = gan.tensor({ 3000000000 }, { dtype = "int64" })
      assert.are.equal(9000000000000000000, (big * big)[1])
   end)

   it("int64 overflow wraps around like Lua integers", function()
      local big = 1 << 62
      local a = gan.full({ 2 }, 2 ^ 62, { dtype = "int64" })
      assert.are.equal(big + big, (a + a)[1])
      assert.are.equal(big * 4, (a * 4)[1])
      assert.are.equal(-big - big - big, (-a - a - a)[1])
      local m = gan.full({ 1 }, -2 ^ 63, { dtype = "int64" })
      assert.are.equal(math.mininteger, m[1])
      assert.are.equal(-math.mininteger, m:neg()[1])
      assert.are.equal(math.mininteger, m:abs()[1])
      assert.are.equal(math.mininteger - 1, (m - 1)[1])
      assert.are.equal(big + big, a:sum():item())
      assert.are.equal(big * big, a:prod():item())
   end)

   it("int64 rejects div and pow, suggesting :float()", function()
      local a = gan.arange(3)
      H.assert_err(function() return a / a end, "div", "int64", ":float()")
      H.assert_err(function() return a:div(2) end, "div", "int64")
      H.assert_err(function() return a ^ 2 end, "pow", "int64")
   end)

   it("mixed dtypes are an error", function()
      H.assert_err(function() return gan.ones(2) + gan.ones(2, { dtype = "float64" }) end, "dtypes differ")
      H.assert_err(function() return gan.arange(2) * gan.ones(2) end, "mul", "dtypes differ", "int64", "float32")
   end)
end)

describe("scalar operands", function()
   local xv = { -2, -0.5, 0.25, 1, 3 }
   local x = gan.tensor(xv, { dtype = "float64" })
   local function chk(r, f)
      assert.are.equal("float64", r.dtype)
      H.assert_tensor(r, H.map(xv, f), 1e-15, 0)
   end

   it("work on either side of + - * / ^", function()
      chk(x + 2, function(v) return v + 2 end)
      chk(2 + x, function(v) return 2 + v end)
      chk(x - 2, function(v) return v - 2 end)
      chk(1 - x, function(v) return 1 - v end)
      chk(x * 3, function(v) return v * 3 end)
      chk(2 * x, function(v) return 2 * v end)
      chk(x / 4, function(v) return v / 4 end)
      chk(2 / x, function(v) return 2 / v end)
      chk(x ^ 2, function(v) return v ^ 2 end)
      chk(2 ^ x, function(v) return 2 ^ v end)
      chk(-x, function(v) return -v end)
   end)

   it("work with methods", function()
      chk(x:add(1.5), function(v) return v + 1.5 end)
      chk(x:sub(1), function(v) return v - 1 end)
      chk(x:mul(-2), function(v) return v * -2 end)
      chk(x:div(2), function(v) return v / 2 end)
      chk(x:pow(3), function(v) return v ^ 3 end)
      chk(x:minimum(0), function(v) return math.min(v, 0) end)
      chk(x:maximum(0), function(v) return math.max(v, 0) end)
      chk(x:lt(0.25), function(v) return b2n(v < 0.25) end)
      chk(x:le(0.25), function(v) return b2n(v <= 0.25) end)
      chk(x:eq(1), function(v) return b2n(v == 1) end)
      chk(x:ne(1), function(v) return b2n(v ~= 1) end)
      chk(x:gt(-0.5), function(v) return b2n(v > -0.5) end)
      chk(x:ge(-0.5), function(v) return b2n(v >= -0.5) end)
   end)

   it("take the tensor's dtype", function()
      local f = gan.tensor({ 1 }) + 0.1
      assert.are.equal("float32", f.dtype)
      assert.are.equal(H.f32(1 + H.f32(0.1)), f[1])
      local i = 2 * gan.arange(3)
      assert.are.equal("int64", i.dtype)
      assert.are.same({ 0, 2, 4 }, i:totable())
      assert.are.same({ 1, 0, -1 }, (1 - gan.arange(3)):totable())
      assert.are.same({ 2, 3, 4 }, (gan.arange(3) + 2.0):totable())   -- integral float is fine
   end)

   it("a non-integer scalar with an int64 tensor is an error", function()
      H.assert_err(function() return gan.arange(3) + 0.5 end, "add", "0.5", "int64")
      H.assert_err(function() return 0.5 * gan.arange(3) end, "mul", "int64")
      H.assert_err(function() return gan.arange(3):mul_(1.5) end, "mul", "int64")
   end)

   it("non-number, non-tensor operands are an error", function()
      H.assert_err(function() return x + "1" end, "add", "string")
      H.assert_err(function() return x:mul({}) end, "mul", "table")
      H.assert_err(function() return x:sub() end, "sub", "no value")
      H.assert_err(function() return true * x end, "mul", "boolean")
   end)
end)

-- ---- unary ops

describe("unary ops", function()
   for _, dtype in ipairs { "float32", "float64" } do
      for _, op in ipairs(UNARY) do
         local name, ref, domain = op[1], op[2], op[3]
         it(("%s (%s) matches the Lua reference, as method, function and in place"):format(name, dtype), function()
            local xv = as_dtype(values({ 4, 5 }, 31, dtype, domain), dtype)
            local x = gan.tensor(xv, { dtype = dtype })
            local want = H.map(xv, ref)
            local tol = TRANS_TOL[dtype]
            local r = x[name](x)
            assert.are.equal(dtype, r.dtype)
            H.assert_tensor(r, want, tol[1], tol[2])
            H.assert_tensor(gan[name](x), want, tol[1], tol[2])
            H.assert_tensor(x, xv, 0, 0)   -- out of place leaves x alone
            local same = x[name .. "_"](x)
            assert.are.equal(x, same)
            H.assert_tensor(x, want, tol[1], tol[2])
         end)
      end
   end

   it("int64 supports neg abs relu sign square floor ceil round exactly", function()
      local xv = H.idata({ 7 }, 41, -50, 50)
      local x = gan.tensor(xv, { dtype = "int64" })
      for _, op in ipairs(UNARY) do
         local name, ref = op[1], op[2]
         if INT_UNARY[name] then
            local r = x[name](x)
            assert.are.equal("int64", r.dtype)
            assert.are.same(H.map(xv, function(v) return math.tointeger(ref(v)) end), r:totable(), name)
         end
      end
   end)

   it("int64 rejects the float-only ops, suggesting :float()", function()
      local x = gan.arange(3)
      for _, name in ipairs { "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "reciprocal",
         "log1p", "expm1", "sin", "cos" } do
         H.assert_err(function() return x[name](x) end, name, "int64", ":float()")
      end
   end)

   it("handle special values", function()
      local x = gan.tensor({ nan, inf, -inf, 0, -0.0 }, { dtype = "float64" })
      local function t(name) return x[name](x):totable() end
      local e = t("exp")
      assert.is_true(e[1] ~= e[1]); assert.are.equal(inf, e[2]); assert.are.equal(0, e[3]); assert.are.equal(1, e[4])
      local s = t("sigmoid")
      assert.is_true(s[1] ~= s[1]); assert.are.equal(1, s[2]); assert.are.equal(0, s[3]); assert.are.equal(0.5, s[4])
      local th = t("tanh")
      assert.are.equal(1, th[2]); assert.are.equal(-1, th[3])
      local r = t("relu")
      assert.is_true(r[1] ~= r[1]); assert.are.equal(inf, r[2]); assert.are.equal(0, r[3])
      local sg = t("sign")
      assert.is_true(sg[1] ~= sg[1]); assert.are.equal(1, sg[2]); assert.are.equal(-1, sg[3]); assert.are.equal(0, sg[4])
      local rc = t("reciprocal")
      assert.are.equal(0, rc[2]); assert.are.equal(inf, rc[4]); assert.are.equal(-inf, rc[5])
      local l = gan.tensor({ 0, -1 }, { dtype = "float64" }):log():totable()
      assert.are.equal(-inf, l[1]); assert.is_true(l[2] ~= l[2])
      local q = gan.tensor({ -1 }):sqrt():totable()
      assert.is_true(q[1] ~= q[1])
      -- sigmoid does not overflow for large |x|
      local big = gan.tensor({ -1000, 1000 }):sigmoid():totable()
      assert.are.same({ 0, 1 }, big)
   end)

   it("round halves to even", function()
      H.assert_exact(gan.tensor({ 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6 }):round(),
         { 0, 2, 2, 0, -2, -2, 2, 3 })
   end)

   it("log1p and expm1 are accurate near zero", function()
      local x = gan.tensor({ 1e-10, -1e-12 }, { dtype = "float64" })
      H.assert_tensor(x:log1p(), { log1p(1e-10), log1p(-1e-12) }, 1e-14, 0)
      H.assert_tensor(x:expm1(), { expm1(1e-10), expm1(-1e-12) }, 1e-14, 0)
   end)
end)

-- ---- in place

describe("in-place binary ops", function()
   it("x:add_(y) modifies x, broadcasts y and returns x", function()
      local x = gan.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })
      local r = x:add_(gan.tensor({ 10, 20, 30 }))
      assert.are.equal(x, r)
      H.assert_exact(x, { { 11, 22, 33 }, { 14, 25, 36 } })
      x:sub_(gan.tensor({ { 1 }, { 4 } }))
      H.assert_exact(x, { { 10, 21, 32 }, { 10, 21, 32 } })
   end)

   it("every binary op has an in-place form with tensors and scalars", function()
      local av = values({ 3, 4 }, 51, "float64", "pos")
      local bv = values({ 3, 4 }, 52, "float64")
      for _, op in ipairs(BINARY) do
         local name, ref = op[1], op[2]
         local x = gan.tensor(av, { dtype = "float64" })
         x[name .. "_"](x, gan.tensor(bv, { dtype = "float64" }))
         H.assert_tensor(x, H.ref_binary(av, bv, ref), 1e-13, 1e-15)
         local y = gan.tensor(av, { dtype = "float64" })
         y[name .. "_"](y, 2)
         H.assert_tensor(y, H.map(av, function(v) return ref(v, 2) end), 1e-13, 1e-15)
      end
   end)

   it("x:mul_(2) on int64 and float", function()
      local i = gan.tensor({ 1, -2, 3 }, { dtype = "int64" })
      i:mul_(2)
      assert.are.same({ 2, -4, 6 }, i:totable())
      local f = gan.tensor({ 0.5, 1.5 })
      f:mul_(2):add_(1)
      H.assert_exact(f, { 2, 4 })
   end)

   it("in place on a non-contiguous view writes the base", function()
      local x = gan.zeros(3, 4)
      x:t():add_(gan.tensor({ 1, 2, 3 }))         -- column j of x:t() is row j of x
      H.assert_exact(x, { { 1, 1, 1, 1 }, { 2, 2, 2, 2 }, { 3, 3, 3, 3 } })
      x:narrow(2, 2, 2):mul_(10)
      H.assert_exact(x, { { 1, 10, 10, 1 }, { 2, 20, 20, 2 }, { 3, 30, 30, 3 } })
      x:select(1, 2):neg_()
      H.assert_exact(x, { { 1, 10, 10, 1 }, { -2, -20, -20, -2 }, { 3, 30, 30, 3 } })
   end)

   it("an operand overlapping the destination is read before it is written", function()
      local x = gan.tensor({ 1, 2, 3, 4, 5 }, { dtype = "float64" })
      x:narrow(1, 2, 4):add_(x:narrow(1, 1, 4))
      H.assert_exact(x, { 1, 3, 5, 7, 9 })
      local m = gan.tensor({ { 1, 2 }, { 3, 4 } }, { dtype = "float64" })
      m:add_(m:t())
      H.assert_exact(m, { { 2, 5 }, { 5, 8 } })
      local s = gan.tensor({ 1, 2, 3 })
      s:mul_(s)
      H.assert_exact(s, { 1, 4, 9 })
   end)

   it("cannot grow the destination, and dtypes must match", function()
      H.assert_err(function() gan.zeros(3):add_(gan.zeros(2, 3)) end, "add", "(3,)", "(2, 3)")
      H.assert_err(function() gan.zeros(3):add_(gan.zeros(3, { dtype = "float64" })) end, "dtypes differ")
   end)
end)

-- ---- clamp, where, masked_fill

describe("clamp", function()
   local xv = { -3, -1, -0.5, 0, 0.5, 1, 3 }
   it("with two bounds", function()
      local x = gan.tensor(xv, { dtype = "float64" })
      H.assert_exact(x:clamp(-1, 0.5), H.map(xv, function(v) return math.max(-1, math.min(0.5, v)) end))
      H.assert_exact(gan.clamp(x, -1, 0.5), H.map(xv, function(v) return math.max(-1, math.min(0.5, v)) end))
   end)
   it("with only a lower or only an upper bound", function()
      local x = gan.tensor(xv, { dtype = "float64" })
      H.assert_exact(x:clamp(0), H.map(xv, function(v) return math.max(0, v) end))
      H.assert_exact(x:clamp(nil, 0), H.map(xv, function(v) return math.min(0, v) end))
   end)
   it("in place, on int64 and on a view", function()
      local x = gan.tensor(xv, { dtype = "float64" })
      assert.are.equal(x, x:clamp_(-0.5, 0.5))
      H.assert_exact(x, { -0.5, -0.5, -0.5, 0, 0.5, 0.5, 0.5 })
      local i = gan.tensor({ -5, 0, 5 }, { dtype = "int64" })
      assert.are.same({ -2, 0, 2 }, i:clamp(-2, 2):totable())
      local m = gan.tensor({ { 1, 5 }, { -5, 2 } })
      m:t():clamp_(0, 3)
      H.assert_exact(m, { { 1, 3 }, { 0, 2 } })
   end)
   it("keeps NaN and rejects min > max", function()
      local r = gan.tensor({ nan }):clamp(0, 1):totable()
      assert.is_true(r[1] ~= r[1])
      H.assert_err(function() gan.ones(2):clamp(2, 1) end, "clamp", "greater than max")
   end)
end)

describe("where and masked_fill", function()
   it("where picks elementwise with broadcasting", function()
      local cv = { { 1 }, { 0 }, { 1 } }
      local av = { 1, 2, 3, 4 }
      local c = gan.tensor(cv)
      local r = gan.where(c, gan.tensor(av), gan.tensor(-1))
      H.assert_exact(r, H.ref_binary(cv, av, function(cc, a) return cc ~= 0 and a or -1 end))
      local ci = gan.tensor({ 0, 2, -1 }, { dtype = "int64" })
      H.assert_exact(gan.where(ci, gan.ones(3, { dtype = "float64" }), gan.zeros(3, { dtype = "float64" })), { 0, 1, 1 })
      local x = gan.tensor({ -2, 3, -1 })
      H.assert_exact(gan.where(x:gt(0), x, x * 0), { 0, 3, 0 })
   end)

   it("where needs a and b of one dtype and broadcastable shapes", function()
      H.assert_err(function() gan.where(gan.ones(2), gan.ones(2), gan.arange(2)) end, "where", "dtypes differ")
      H.assert_err(function() gan.where(gan.ones(3), gan.ones(2), gan.ones(2)) end, "where", "(3,)", "(2,)")
   end)

   it("masked_fill replaces where the (broadcast) mask is non-zero", function()
      local x = gan.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })
      local r = x:masked_fill(gan.tensor({ 1, 0, 1 }), -5)
      H.assert_exact(r, { { -5, 2, -5 }, { -5, 5, -5 } })
      H.assert_exact(x, { { 1, 2, 3 }, { 4, 5, 6 } })
      local m = gan.tensor({ { 0 }, { 1 } }, { dtype = "int64" })
      assert.are.equal(x, x:masked_fill_(m, 0))
      H.assert_exact(x, { { 1, 2, 3 }, { 0, 0, 0 } })
      H.assert_exact(x:masked_fill(x:eq(0), nan):ne(x:masked_fill(x:eq(0), nan)), { { 0, 0, 0 }, { 1, 1, 1 } })
   end)

   it("masked_fill cannot grow the tensor", function()
      H.assert_err(function() gan.ones(3):masked_fill(gan.ones(2, 3), 1) end, "masked_fill", "(3,)", "(2, 3)")
   end)
end)

-- ---- NaN in minimum/maximum/max

describe("NaN propagation", function()
   it("minimum and maximum propagate NaN from either side", function()
      local a = gan.tensor({ nan, 1, 2, nan })
      local b = gan.tensor({ 0, nan, 1, nan })
      for _, name in ipairs { "minimum", "maximum" } do
         local t = a[name](a, b):totable()
         assert.is_true(t[1] ~= t[1], name)
         assert.is_true(t[2] ~= t[2], name)
         assert.are.equal(name == "minimum" and 1 or 2, t[3])
         assert.is_true(t[4] ~= t[4], name)
      end
   end)

   it("max() and min() over all return NaN when any element is NaN", function()
      for _, pos in ipairs { 1, 3, 5 } do
         local v = { 1, 5, 2, -1, 3 }
         v[pos] = nan
         local x = gan.tensor(v)
         local mx, mn = x:max():item(), x:min():item()
         assert.is_true(mx ~= mx)
         assert.is_true(mn ~= mn)
      end
   end)

   it("max(dim) gives NaN and the index of the first NaN", function()
      local x = gan.tensor({ { 1, nan, 3, nan }, { 4, 2, 9, 0 } })
      local v, i = x:max(2)
      local vt = v:totable()
      assert.is_true(vt[1] ~= vt[1])
      assert.are.equal(9, vt[2])
      assert.are.same({ 1, 2 }, i:totable())
      assert.are.same({ 1, 3 }, x:argmin(2):totable())
      local _, j = x:min(2)
      assert.are.same({ 1, 3 }, j:totable())
   end)
end)

-- ---- large tensors (parallel loops)

describe("large tensors take the parallel path", function()
   it("broadcast, transposed and narrowed operands agree with the reference on 1 and 2 threads", function()
      local old = gan.get_num_threads()
      gan.manual_seed(9)
      local a = gan.randn(400, 300, { dtype = "float64" })   -- 120k elements
      local b = gan.randn(400, 1, { dtype = "float64" })
      local c = gan.randn(310, 400, { dtype = "float64" }):narrow(1, 6, 300)
      local av, bv, cv = a:totable(), b:totable(), c:totable()
      local results = {}
      for _, n in ipairs { 1, 2 } do
         gan.set_num_threads(n)
         local r = a:t():mul(b:t()):add(c):sigmoid()         -- (300, 400)
         local s = a:clone()
         s:t():sub_(c)                                       -- in place on a transposed view
         results[n] = { r:totable(), s:totable(), a:t():contiguous():totable() }
      end
      gan.set_num_threads(old)
      H.assert_same(results[2][1], results[1][1], "mul/add/sigmoid")
      H.assert_same(results[2][2], results[1][2], "sub_")
      H.assert_same(results[2][3], results[1][3], "contiguous")
      local r, s, ct = results[1][1], results[1][2], results[1][3]
      local maxerr = 0
      for i = 1, 300 do
         for j = 1, 400 do
            local want = 1 / (1 + math.exp(-(av[j][i] * bv[j][1] + cv[i][j])))
            maxerr = math.max(maxerr, math.abs(r[i][j] - want))
            if ct[i][j] ~= av[j][i] then error(("contiguous [%d][%d]"):format(i, j)) end
            if s[j][i] ~= av[j][i] - cv[i][j] then error(("sub_ [%d][%d]"):format(j, i)) end
         end
      end
      assert.is_true(maxerr < 1e-14, "max error " .. maxerr)
   end)

   it("large reductions agree with the reference on 1 and 2 threads", function()
      local old = gan.get_num_threads()
      gan.manual_seed(10)
      local x = gan.randn(300, 250, { dtype = "float64" })
      local xv = x:totable()
      local out = {}
      for _, n in ipairs { 1, 2 } do
         gan.set_num_threads(n)
         local v, i = x:t():max(2)
         out[n] = { x:sum(1):totable(), x:t():sum(2):totable(), v:totable(), i:totable(),
            x:var(2):totable(), x:sum():item() }
      end
      gan.set_num_threads(old)
      for k = 1, #out[1] do H.assert_same(out[2][k], out[1][k], "result " .. k) end
      local col, total = {}, 0
      for j = 1, 250 do
         local s, m, mi = 0, -math.huge, 0
         for i = 1, 300 do
            s = s + xv[i][j]
            if xv[i][j] > m then m, mi = xv[i][j], i - 1 end
         end
         col[j] = s
         total = total + s
         assert.is_true(math.abs(out[1][1][j] - s) < 1e-12)
         assert.is_true(math.abs(out[1][2][j] - s) < 1e-12)
         assert.are.equal(m, out[1][3][j])
         assert.are.equal(mi, out[1][4][j])
      end
      assert.is_true(math.abs(out[1][6] - total) < 1e-10)
   end)
end)

-- ---- non-contiguous inputs

describe("non-contiguous inputs give the same values as contiguous copies", function()
   for _, dtype in ipairs { "float32", "float64", "int64" } do
      for _, shape in ipairs { { 3, 4 }, { 2, 3, 4 } } do
         local label = ("%s %s"):format(dtype, table.concat(shape, "x"))
         it("binary ops, " .. label, function()
            local va = variants(as_dtype(values(shape, 61, dtype), dtype), dtype)
            local vb = variants(as_dtype(values(shape, 62, dtype), dtype), dtype)
            for _, op in ipairs(BINARY) do
               local name, ref = op[1], op[2]
               if dtype ~= "int64" or INT_BINARY[name] then
                  local tol = (name == "pow" and TRANS_TOL or TOL)[dtype] or { 0, 0 }
                  for _, A in ipairs(va) do
                     for _, B in ipairs(vb) do
                        local a, b = A[2], B[2]
                        local bvals = B[3]
                        if name == "pow" then   -- small integer exponents keep negative bases real
                           bvals = H.map(B[3], function(v) return math.floor(v) end)
                           b = b:floor()
                        end
                        local r = a[name](a, b)
                        local c = a:contiguous()[name](a:contiguous(), b:contiguous())
                        H.assert_same(r:totable(), c:totable(), ("%s %s/%s"):format(name, A[1], B[1]))
                        H.assert_tensor(r, H.ref_binary(A[3], bvals, ref), tol[1], tol[2])
                     end
                  end
               end
            end
         end)

         it("unary ops, " .. label, function()
            for _, op in ipairs(UNARY) do
               local name, ref, domain = op[1], op[2], op[3]
               if dtype ~= "int64" or INT_UNARY[name] then
                  local tol = TRANS_TOL[dtype] or { 0, 0 }
                  for _, V in ipairs(variants(as_dtype(values(shape, 63, dtype, domain), dtype), dtype)) do
                     local x = V[2]
                     local r = x[name](x)
                     H.assert_same(r:totable(), x:contiguous()[name](x:contiguous()):totable(), name .. " " .. V[1])
                     H.assert_tensor(r, H.map(V[3], function(v)
                        local w = ref(v)
                        return dtype == "int64" and math.tointeger(w) or w
                     end), tol[1], tol[2])
                  end
               end
            end
         end)

         it("clamp, where, masked_fill, copy, in-place ops, " .. label, function()
            local vs = variants(as_dtype(values(shape, 64, dtype), dtype), dtype)
            local ms = variants(values(shape, 65, "int64"), "int64")
            for k, V in ipairs(vs) do
               local x, xv = V[2], V[3]
               H.assert_tensor(x:clamp(-1, 1), H.map(xv, function(v) return math.max(-1, math.min(1, v)) end), 0, 0)
               local M = ms[(k % #ms) + 1]
               local mask = M[2]:gt(0):to(dtype)
               local mref = H.map(M[3], function(v) return v > 0 and 1 or 0 end)
               H.assert_tensor(x:masked_fill(mask, 7), H.ref_binary(xv, mref, function(v, m) return m ~= 0 and 7 or v end), 0, 0)
               H.assert_tensor(gan.where(mask, x, x:neg()), H.ref_binary(xv, mref, function(v, m) return m ~= 0 and v or -v end), 0, 0)
               H.assert_tensor(x:clone(), xv, 0, 0)
               H.assert_tensor(x:contiguous(), xv, 0, 0)
               -- in place on a non-contiguous destination (not on expanded views: they alias)
               if V[1] ~= "expanded" then
                  local y = x:clone()
                  local yv = V[2]   -- fresh view of a fresh base, to write into
                  local base_vals = xv
                  yv:add_(y)
                  H.assert_tensor(yv, H.map(base_vals, function(v) return v + v end), 0, 0)
                  yv:mul_(-1)
                  H.assert_tensor(yv, H.map(base_vals, function(v) return -2 * v end), 0, 0)
                  yv:copy_(y)
                  H.assert_tensor(yv, base_vals, 0, 0)
               end
            end
         end)
      end
   end
end)
