-- Fuzz: thousands of tensor calls with random shapes, views, dims, dtypes and argument
-- types, valid and invalid. Every call must either succeed or raise a Lua error with a
-- non-empty string message; every tensor it returns must be usable; nothing may crash.
local gan = require("gan")

local CALLS = tonumber(os.getenv("GAN_FUZZ_CALLS")) or 10000
local SEED = tonumber(os.getenv("GAN_FUZZ_SEED")) or 20240611   -- fixed; override to explore

-- ---- random inputs

local R = math.random

local function pick(list) return list[R(#list)] end

local DTYPES = { "float32", "float64", "int64" }

local function random_shape(max_dims)
   local s = {}
   for i = 1, R(0, max_dims or 4) do s[i] = R(0, 5) end
   return s
end

local function numel(s)
   local n = 1
   for _, v in ipairs(s) do n = n * v end
   return n
end

-- A tensor of a random dtype and shape, sometimes a non-contiguous view.
local function random_tensor(dtype)
   dtype = dtype or pick(DTYPES)
   local shape = random_shape()
   local x
   if dtype == "int64" then
      x = gan.randint(-5, 6, shape)
   else
      x = gan.randn(shape, { dtype = dtype })
      if R() < 0.1 and #shape > 0 and numel(shape) > 0 then
         x[1] = 0 / 0   -- a NaN element (or slice) now and then
      end
   end
   local r = R()
   local nd = x:dim()
   if r < 0.12 and nd >= 2 then
      x = x:transpose(1, nd)
   elseif r < 0.24 and nd >= 1 and x:size(1) >= 2 then
      x = x:narrow(1, 2, x:size(1) - 1)
   elseif r < 0.32 and nd >= 1 then
      -- expand a size-1 dim (stride 0)
      local s = x:size()
      local d = R(nd)
      local base = x:narrow(d, 1, math.min(1, s[d]))
      s[d] = s[d] > 0 and R(1, 4) or 0
      if base:size(d) == 1 or s[d] == 0 then x = base:expand(s) end
   elseif r < 0.40 and nd >= 3 then
      local p = {}
      for i = 1, nd do p[i] = i end
      for i = nd, 2, -1 do local j = R(i); p[i], p[j] = p[j], p[i] end
      x = x:permute(p)
   elseif r < 0.45 and nd >= 1 and x:size(1) >= 1 then
      x = x:select(1, R(x:size(1)))
   end
   return x
end

local function index_tensor()
   local s = random_shape(3)
   return gan.randint(-1, 6, s)
end

-- A tensor shaped after x, so that broadcasting, matmul and indexing often work: some dims
-- set to 1, leading dims dropped, mostly x's dtype; or an index tensor fitting x.
local function related(x)
   local ok, s = pcall(x.size, x)
   if not ok then return closed end
   if R() < 0.25 and #s > 0 then   -- an index for gather/scatter_add/index_select along some dim
      local is = {}
      for i = 1, #s do is[i] = R(0, s[i]) end
      if R() < 0.3 then is = { R(0, 4) } end
      local hi = 1
      for i = 1, #s do hi = math.max(hi, s[i]) end
      return gan.randint(0, hi, is)
   end
   if R() < 0.2 and #s >= 2 then   -- a matmul partner
      s[#s - 1], s[#s] = s[#s], R(0, 4)
   end
   local drop = R(0, #s)
   local out = {}
   for i = drop + 1, #s do out[#out + 1] = (R() < 0.3) and 1 or s[i] end
   local dt = R() < 0.85 and x.dtype or pick(DTYPES)
   local t = dt == "int64" and gan.randint(-5, 6, out) or gan.randn(out, { dtype = dt })
   if R() < 0.2 and t:dim() >= 2 then t = t:transpose(-1, -2):contiguous():transpose(-1, -2) end
   return t
end

local closed = gan.zeros(2)
getmetatable(closed).__close(closed)

local generator = gan.Generator(7)

-- An argument of a random kind: mostly plausible, sometimes wrong.
local function random_arg()
   local r = R(100)
   if r <= 30 then return R(-6, 6) end                      -- dims, sizes, positions
   if r <= 38 then return random_tensor() end
   if r <= 42 then return index_tensor() end
   if r <= 48 then return random_shape(3) end               -- a size table / dims list
   if r <= 52 then return pick { 0.5, -1.5, 2.5, 1e-3 } end
   if r <= 55 then return pick { 0 / 0, math.huge, -math.huge, 1e300, -0.0 } end
   if r <= 57 then return math.mininteger end
   if r <= 62 then return pick { "float32", "float64", "int64", "abc", "", "1" } end
   if r <= 67 then return nil end
   if r <= 70 then return pick { true, false } end
   if r <= 75 then return { dtype = pick(DTYPES) } end
   if r <= 77 then return pick { { dtyp = "float32" }, { generator = generator }, { generator = 5 }, { 1, "a" }, { {} } } end
   if r <= 79 then return { random_tensor(), random_tensor() } end
   if r <= 81 then return closed end
   if r <= 82 then return generator end
   if r <= 83 then return print end
   return R(0, 3)
end

local function args(n)
   local a = {}
   for i = 1, n do a[i] = random_arg() end
   return a, n
end

-- ---- what is called

local METHODS = {
   "size", "stride", "dim", "numel", "is_contiguous", "storage_offset", "item", "totable",
   "view", "reshape", "expand", "expand_as", "broadcast_to", "view_as", "transpose", "t",
   "permute", "narrow", "select", "squeeze", "unsqueeze", "flatten", "contiguous", "clone",
   "to", "float", "double", "long", "copy_", "fill_", "zero_", "clamp", "clamp_",
   "masked_fill", "masked_fill_", "norm", "matmul", "index_select", "gather", "scatter_add",
   "scatter_add_", "sum", "mean", "prod", "max", "min", "argmax", "argmin", "var", "std",
   "split", "chunk", "type_as", "uniform_", "normal_", "trunc_normal_", "bernoulli_",
   "random_", "multinomial",
   "neg", "abs", "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "relu", "sign",
   "reciprocal", "square", "floor", "ceil", "round", "log1p", "expm1", "sin", "cos",
   "neg_", "abs_", "exp_", "sqrt_", "floor_", "round_", "sigmoid_",
   "add", "sub", "mul", "div", "pow", "minimum", "maximum", "eq", "ne", "lt", "le", "gt", "ge",
   "add_", "sub_", "mul_", "div_", "pow_", "minimum_", "maximum_", "lt_",
}

local FUNCTIONS = {
   "tensor", "empty", "zeros", "ones", "full", "arange", "linspace", "eye", "where", "matmul",
   "cat", "stack", "rand", "randn", "randint", "randperm", "bernoulli", "multinomial",
   "trunc_normal", "zeros_like", "ones_like", "empty_like", "full_like", "rand_like",
   "randn_like", "exp", "sum", "add", "transpose", "narrow", "gather", "index_select",
   "clamp", "split", "is_tensor",
}

local OPERATORS = {
   function(a, b) return a + b end, function(a, b) return a - b end,
   function(a, b) return a * b end, function(a, b) return a / b end,
   function(a, b) return a ^ b end, function(a) return -a end,
   function(a) return #a end, function(a, b) return a[b] end,
   function(a, b, c) a[b] = c end, function(a) return tostring(a) end,
   function(a, b) return a[b] end,   -- property names when b is a string
}

-- A call: (description, function). Receivers are mostly tensors.
local function random_call()
   local r = R(100)
   if r <= 60 then
      local name = pick(METHODS)
      local x = R() < 0.9 and random_tensor() or random_arg()
      local a, n = args(R(0, 4))
      if gan.is_tensor(x) and R() < 0.5 then   -- a plausible tensor argument
         local k = R(1, 3)
         a[k] = related(x)
         if k > n then n = k end
      end
      return "method " .. name, function()
         local f = gan.Tensor[name]
         return f(x, table.unpack(a, 1, n))
      end
   elseif r <= 85 then
      local name = pick(FUNCTIONS)
      local a, n = args(R(0, 4))
      if R() < 0.5 then a[1] = random_tensor() end
      n = math.max(n, 1)
      return "gan." .. name, function() return gan[name](table.unpack(a, 1, n)) end
   else
      local op = pick(OPERATORS)
      local a = { R() < 0.8 and random_tensor() or random_arg(), random_arg(), random_arg() }
      if gan.is_tensor(a[1]) and R() < 0.5 then a[2] = related(a[1]) end
      if R() < 0.3 then a[2] = pick { "dtype", "shape", "ndim", "sum", "nope" } end
      return "operator", function() return op(a[1], a[2], a[3]) end
   end
end

-- A returned tensor must be fully usable.
local function check_result(v, what)
   if gan.is_tensor(v) then
      local ok, e = pcall(function()
         local t = v:totable()
         local s = tostring(v)
         assert(type(s) == "string" and s:find("size={", 1, true))
         local c = v:contiguous()
         assert(c:numel() == v:numel())
         return t
      end)
      if not ok and not tostring(e):find("tensor was closed", 1, true) then
         error(("%s returned an unusable tensor: %s"):format(what, tostring(e)))
      end
   elseif type(v) == "table" then
      for _, e in ipairs(v) do
         if gan.is_tensor(e) then check_result(e, what) end
      end
   end
end

describe("fuzzing tensor functions", function()
   it(("survives %d random calls with valid and invalid arguments"):format(CALLS), function()
      math.randomseed(SEED)
      gan.manual_seed(SEED)
      local ok_count, err_count = 0, 0
      local messages = {}
      for i = 1, CALLS do
         local what, f = random_call()
         local res = table.pack(pcall(f))
         if res[1] then
            ok_count = ok_count + 1
            for k = 2, res.n do check_result(res[k], what) end
         else
            err_count = err_count + 1
            local e = res[2]
            assert(type(e) == "string", ("call %d (%s) raised a %s, not a string"):format(i, what, type(e)))
            local body = e:gsub("^[^:]*:%d+: ", "")
            assert(#body > 0, ("call %d (%s) raised an empty message"):format(i, what))
            local key = body:match("^[%w_.]+") or body:sub(1, 20)
            messages[key] = (messages[key] or 0) + 1
            if os.getenv("GAN_FUZZ_VERBOSE") then print(what, body) end
         end
         if i % 500 == 0 then collectgarbage("step") end
      end
      -- both outcomes must be common, or the fuzzer is not exercising anything
      assert.is_true(ok_count >= CALLS // 5, ("only %d calls succeeded"):format(ok_count))
      assert.is_true(err_count >= CALLS // 5, ("only %d calls failed"):format(err_count))
      local kinds = 0
      for _ in pairs(messages) do kinds = kinds + 1 end
      assert.is_true(kinds >= 30, ("only %d kinds of error messages"):format(kinds))
      print(("\nfuzz: %d calls, %d succeeded, %d raised errors (%d kinds)"):format(CALLS, ok_count, err_count, kinds))
   end)
end)
