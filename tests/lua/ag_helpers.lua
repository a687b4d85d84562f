--- Helpers shared by the autograd and functional specs: float64 references computed in
-- plain Lua over totable() data, layouts (non-contiguous views with the same values) and
-- comparisons. Not a spec itself.
-- Load with: local A = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "ag_helpers.lua")
local gan = require("gan")

local A = {}

A.F64 = { dtype = "float64" }

-- ---- plain-Lua arrays: {shape = {...}, data = {...}} in row-major order

--- Flattens a nested table (or a number) into a row-major list.
function A.flat(t, out)
   out = out or {}
   if type(t) ~= "table" then out[#out + 1] = t; return out end
   for i = 1, #t do A.flat(t[i], out) end
   return out
end

function A.numel(shape)
   local n = 1
   for _, s in ipairs(shape) do n = n * s end
   return n
end

--- A tensor (or a nested table and its shape) as a reference array.
function A.arr(x, shape)
   if gan.is_tensor(x) then
      local t = x:detach():double()
      return { shape = t:size(), data = A.flat(t:totable()) }
   end
   return { shape = shape, data = A.flat(x) }
end

--- Row-major strides of a shape.
local function strides(shape)
   local st, acc = {}, 1
   for i = #shape, 1, -1 do st[i] = acc; acc = acc * shape[i] end
   return st
end
A.strides = strides

--- Linear (1-based) position of a 1-based multi-index.
function A.pos(shape, idx)
   local st, p = strides(shape), 1
   for i = 1, #shape do p = p + (idx[i] - 1) * st[i] end
   return p
end

--- Multi-index (1-based) of a linear 1-based position.
function A.index(shape, p)
   local st, idx, r = strides(shape), {}, p - 1
   for i = 1, #shape do idx[i] = r // st[i] + 1; r = r % st[i] end
   return idx
end

function A.get(a, idx) return a.data[A.pos(a.shape, idx)] end

--- A new array of `shape` with f(idx) at each multi-index.
function A.build(shape, f)
   local n, data = A.numel(shape), {}
   for p = 1, n do data[p] = f(A.index(shape, p)) end
   return { shape = shape, data = data }
end

function A.map(a, f)
   local data = {}
   for i, v in ipairs(a.data) do data[i] = f(v) end
   return { shape = a.shape, data = data }
end

--- NumPy broadcast of two shapes.
function A.broadcast_shape(s1, s2)
   local n, out = math.max(#s1, #s2), {}
   for i = 1, n do
      local a = s1[#s1 - n + i] or 1
      local b = s2[#s2 - n + i] or 1
      assert(a == b or a == 1 or b == 1, "shapes do not broadcast")
      out[i] = math.max(a, b)
   end
   return out
end

--- Value of `a` at an index of the broadcast shape.
function A.bget(a, idx)
   local off = #idx - #a.shape
   local j = {}
   for i = 1, #a.shape do j[i] = a.shape[i] == 1 and 1 or idx[off + i] end
   return A.get(a, j)
end

--- Elementwise f(a, b) with broadcasting.
function A.zip(a, b, f)
   local shape = A.broadcast_shape(a.shape, b.shape)
   return A.build(shape, function(idx) return f(A.bget(a, idx), A.bget(b, idx)) end)
end

--- Reduction over dims (1-based list; empty/nil = all) with f(list of values).
function A.reduce(a, dims, keepdim, f)
   local nd = #a.shape
   local red = {}
   if dims == nil or #dims == 0 then for i = 1, nd do red[i] = true end
   else for _, d in ipairs(dims) do red[d < 0 and nd + d + 1 or d] = true end end
   local kshape, oshape = {}, {}
   for i = 1, nd do
      kshape[i] = red[i] and 1 or a.shape[i]
      if not red[i] then oshape[#oshape + 1] = a.shape[i] end
   end
   local groups = {}
   for p = 1, #a.data do
      local idx = A.index(a.shape, p)
      for i = 1, nd do if red[i] then idx[i] = 1 end end
      local k = A.pos(kshape, idx)
      groups[k] = groups[k] or {}
      table.insert(groups[k], a.data[p])
   end
   local data = {}
   for k = 1, A.numel(kshape) do data[k] = f(groups[k]) end
   return { shape = keepdim and kshape or oshape, data = data }
end

function A.sum(l) local s = 0; for _, v in ipairs(l) do s = s + v end; return s end
function A.mean(l) return A.sum(l) / #l end
function A.var(l, unbiased)
   local m, s = A.mean(l), 0
   for _, v in ipairs(l) do s = s + (v - m) ^ 2 end
   return s / (#l - (unbiased and 1 or 0))
end
function A.maxl(l) local m = -math.huge; for _, v in ipairs(l) do m = math.max(m, v) end; return m end
function A.minl(l) local m = math.huge; for _, v in ipairs(l) do m = math.min(m, v) end; return m end

--- Naive matrix product of two 2-d arrays.
function A.mm(a, b)
   local n, k, m = a.shape[1], a.shape[2], b.shape[2]
   assert(b.shape[1] == k)
   return A.build({ n, m }, function(i)
      local s = 0
      for t = 1, k do s = s + A.get(a, { i[1], t }) * A.get(b, { t, i[2] }) end
      return s
   end)
end

-- ---- error function for references (Abramowitz-Stegun is too coarse; use a series)
function A.erf(x)
   local ax = math.abs(x)
   local r
   if ax < 3 then
      -- Maclaurin series: 2/sqrt(pi) sum (-1)^n x^(2n+1) / (n! (2n+1))
      local s, term, n = 0, ax, 0
      repeat
         local add = term / (2 * n + 1)
         s = s + add
         n = n + 1
         term = -term * ax * ax / n
      until math.abs(add) < 1e-17 * math.max(1, math.abs(s)) and n > 5
      r = 2 / math.sqrt(math.pi) * s
   else
      -- continued fraction for erfc
      local f = 0
      for k = 60, 1, -1 do f = (k / 2) / (ax + f) end
      r = 1 - math.exp(-ax * ax) / math.sqrt(math.pi) / (ax + f)
   end
   return x < 0 and -r or r
end

-- ---- tensors

--- A float64 tensor of N(0, 1) values (the global generator; seed with gan.manual_seed).
function A.randn(shape) return gan.randn(shape, A.F64) end

--- Uniform float64 values in [lo, hi).
function A.uniform(shape, lo, hi)
   return gan.rand(shape, A.F64) * (hi - lo) + lo
end

--- Values of a tensor bounded away from zero: magnitude in [lo, hi], random sign.
function A.away_from_zero(shape, lo, hi)
   local m = A.uniform(shape, lo, hi)
   local s = gan.rand(shape, A.F64):gt(0.5):double() * 2 - 1
   return m * s
end

function A.leaf(t) return t:detach():clone():requires_grad_() end

--- Views with the same values as x but other layouts: "contiguous", "transposed" (a
-- transposed copy transposed back; needs >= 2 dims) and "narrowed" (a slice of a wider
-- tensor along the last dim). Each is a fresh tensor without history.
function A.layouts(x)
   x = x:detach()
   local out = { contiguous = x:clone() }
   if x:dim() >= 2 then
      local t = x:transpose(-1, -2):contiguous():transpose(-1, -2)
      assert(not t:is_contiguous() or x:size(-1) == 1 or x:size(-2) == 1)
      out.transposed = t
   end
   if x:dim() >= 1 then
      local n = x:size(-1)
      local wide = gan.cat({ gan.zeros_like(x), x, gan.zeros_like(x) }, -1)
      local nar = wide:narrow(-1, n + 1, n)
      out.narrowed = nar
   end
   return out
end

--- The same as layouts, inside a differentiable function: maps a leaf a to a view of
-- the requested layout (for gradchecks through strided inputs).
function A.relayout(a, kind)
   if kind == "transposed" and a:dim() >= 2 then
      return a:transpose(-1, -2):contiguous():transpose(-1, -2)
   elseif kind == "narrowed" and a:dim() >= 1 then
      local n = a:size(-1)
      return gan.cat({ a * 0, a, a * 0 }, -1):narrow(-1, n + 1, n)
   end
   return a
end

-- ---- assertions

local function shape_str(s) return "{" .. table.concat(s, ", ") .. "}" end
A.shape_str = shape_str

--- Asserts that tensor x equals the reference (an array, a nested table or a number)
-- within atol + rtol |expected|.
function A.close(x, expected, atol, rtol, what)
   atol, rtol = atol or 1e-10, rtol or 1e-10
   what = what and (what .. ": ") or ""
   local got
   if gan.is_tensor(x) then got = A.arr(x)
   elseif type(x) == "number" then got = { shape = {}, data = { x } }
   elseif x.data then got = x
   else got = { data = A.flat(x) } end
   local exp
   if type(expected) == "number" then exp = { shape = nil, data = { expected } }
   elseif expected.data then exp = expected
   else exp = { shape = nil, data = A.flat(expected) } end
   if exp.shape and got.shape then
      assert(#exp.shape == #got.shape and table.concat(exp.shape, ",") == table.concat(got.shape, ","),
         ("%sshape %s, expected %s"):format(what, shape_str(got.shape), shape_str(exp.shape)))
   end
   assert(#got.data == #exp.data, ("%s%d values, expected %d"):format(what, #got.data, #exp.data))
   for i = 1, #exp.data do
      local g, e = got.data[i], exp.data[i]
      local ok = (g == e) or math.abs(g - e) <= atol + rtol * math.abs(e)
      if e ~= e then ok = g ~= g end
      if not ok then
         error(("%svalue %d: got %.12g, expected %.12g"):format(what, i, g, e), 2)
      end
   end
   return true
end

--- Asserts that fn raises an error whose message contains every fragment (plain find).
function A.raises(fn, ...)
   local ok, err = pcall(fn)
   assert(not ok, "expected an error, but the call succeeded")
   err = tostring(err)
   for _, frag in ipairs { ... } do
      if not err:find(frag, 1, true) then
         error(("error message %q does not contain %q"):format(err, frag), 2)
      end
   end
   return err
end

return A
