--- Helpers shared by the tensor specs: independent references computed in plain Lua
-- (double precision) over totable() data, and comparisons. Not a spec itself.
-- Load with: local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "tensor_helpers.lua")
local H = {}

--- Shape of a nested Lua table (as totable() returns), scalars give {}.
function H.shape_of(t)
   local s = {}
   while type(t) == "table" do
      s[#s + 1] = #t
      t = t[1]
      if s[#s] == 0 then break end
   end
   return s
end

--- Flattens a nested table into a row-major list.
function H.flat(t, out)
   out = out or {}
   if type(t) ~= "table" then out[#out + 1] = t; return out end
   for i = 1, #t do H.flat(t[i], out) end
   return out
end

local function numel(shape)
   local n = 1
   for _, s in ipairs(shape) do n = n * s end
   return n
end
H.numel = numel

--- Builds a nested table of `shape` with f(idx) at each multi-index (1-based list).
function H.build(shape, f)
   local idx = {}
   local function rec(d)
      if d > #shape then
         local copy = {}
         for i = 1, #idx do copy[i] = idx[i] end
         return f(copy)
      end
      local r = {}
      for i = 1, shape[d] do
         idx[d] = i
         r[i] = rec(d + 1)
      end
      idx[d] = nil
      return r
   end
   return rec(1)
end

--- Element of a nested table at a multi-index (1-based).
function H.at(t, idx)
   for i = 1, #idx do t = t[idx[i]] end
   return t
end

--- NumPy broadcast shape of two shapes, or nil.
function H.broadcast_shape(a, b)
   local n = math.max(#a, #b)
   local r = {}
   for i = 1, n do
      local x = a[#a - n + i] or 1
      local y = b[#b - n + i] or 1
      if x == y or y == 1 then r[i] = x
      elseif x == 1 then r[i] = y
      else return nil end
   end
   return r
end

--- The element of nested table t (of shape `shape`) that broadcasts to out-index idx.
local function bget(t, shape, idx)
   local off = #idx - #shape
   for i = 1, #shape do
      local j = idx[off + i]
      if shape[i] == 1 then j = 1 end
      t = t[j]
   end
   return t
end
H.bget = bget

--- Reference binary op over nested tables (scalars allowed), with broadcasting.
function H.ref_binary(a, b, f)
   local sa = type(a) == "table" and H.shape_of(a) or {}
   local sb = type(b) == "table" and H.shape_of(b) or {}
   local so = assert(H.broadcast_shape(sa, sb), "reference: shapes do not broadcast")
   if #so == 0 then return f(a, b) end
   return H.build(so, function(idx) return f(bget(a, sa, idx), bget(b, sb, idx)) end)
end

--- Reference unary op over a nested table.
function H.map(t, f)
   if type(t) ~= "table" then return f(t) end
   local r = {}
   for i = 1, #t do r[i] = H.map(t[i], f) end
   return r
end

--- Deterministic pseudo-random nested data (values with few decimals, some negative).
function H.data(shape, seed, lo, hi)
   lo, hi = lo or -3, hi or 3
   local s = seed or 1
   return H.build(shape, function()
      s = (s * 1103515245 + 12345) % 2147483648
      return lo + (hi - lo) * (s % 10007) / 10007
   end)
end

--- Integer data.
function H.idata(shape, seed, lo, hi)
   lo, hi = lo or -5, hi or 5
   local s = seed or 1
   return H.build(shape, function()
      s = (s * 1103515245 + 12345) % 2147483648
      return lo + s % (hi - lo + 1)
   end)
end

local function is_nan(x) return x ~= x end

--- Compares nested tables (or numbers) within tolerance; returns ok, message.
function H.compare(got, want, rtol, atol, path)
   rtol, atol = rtol or 1e-5, atol or 1e-6
   path = path or ""
   if type(want) == "table" then
      if type(got) ~= "table" then return false, path .. ": expected a table, got " .. tostring(got) end
      if #got ~= #want then
         return false, ("%s: length %d, expected %d"):format(path, #got, #want)
      end
      for i = 1, #want do
         local ok, msg = H.compare(got[i], want[i], rtol, atol, path .. "[" .. i .. "]")
         if not ok then return false, msg end
      end
      return true
   end
   if type(got) ~= "number" then return false, path .. ": expected a number, got " .. type(got) end
   if is_nan(want) then
      if is_nan(got) then return true end
      return false, ("%s: got %.17g, expected nan"):format(path, got)
   end
   if want == math.huge or want == -math.huge then
      if got == want then return true end
      return false, ("%s: got %.17g, expected %s"):format(path, got, tostring(want))
   end
   if math.abs(got - want) <= atol + rtol * math.abs(want) then return true end
   return false, ("%s: got %.17g, expected %.17g"):format(path, got, want)
end

--- Asserts that tensor x has the given shape and values (nested table), within tolerance.
function H.assert_tensor(x, want, rtol, atol)
   local got = x:totable()
   local ws = type(want) == "table" and H.shape_of(want) or {}
   local xs = x:size()
   assert(#xs == #ws and table.concat(xs, ",") == table.concat(ws, ","),
      ("shape {%s}, expected {%s}"):format(table.concat(xs, ", "), table.concat(ws, ", ")))
   local ok, msg = H.compare(got, want, rtol, atol)
   assert(ok, msg)
end

--- Asserts exact equality of values (integers, or floats exactly representable).
function H.assert_exact(x, want)
   H.assert_tensor(x, want, 0, 0)
end

--- Asserts two nested tables hold identical values (NaN equals NaN), with a label.
function H.assert_same(got, want, label)
   local ok, msg = H.compare(got, want, 0, 0)
   assert(ok, (label and (label .. ": ") or "") .. tostring(msg))
end

--- Float32 rounding of a double (for exact float32 expectations).
function H.f32(v)
   if v ~= v or v == 0 or v == math.huge or v == -math.huge then return v end
   local packed = string.pack("f", v)
   return (string.unpack("f", packed))
end

--- Runs f, expecting an error; returns its message (a string) or fails.
function H.err(f, ...)
   local ok, e = pcall(f, ...)
   assert(not ok, "expected an error, but the call succeeded")
   return tostring(e)
end

--- Asserts that f raises an error whose message contains every fragment (plain find).
function H.assert_err(f, ...)
   local frags = { ... }
   local ok, e = pcall(f)
   assert(not ok, "expected an error, but the call succeeded")
   e = tostring(e)
   for _, frag in ipairs(frags) do
      assert(e:find(frag, 1, true), ("error message %q does not contain %q"):format(e, frag))
   end
   return e
end

function H.shape_str(x) return "{" .. table.concat(x:size(), ", ") .. "}" end

return H
