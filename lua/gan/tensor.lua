--- Tensor conveniences written in Lua on top of gan.core: printing, stack, split, chunk,
-- and function forms of the methods (`gan.exp(x)` as well as `x:exp()`). The tensor
-- methods written in C are in gan.core (class Tensor).
-- @module gan.tensor
local core = require("gan.core")

local M = {}

local methods = core.Tensor
local mt = getmetatable(core.empty(0))

--- True if v is a tensor.
-- @param v any value
-- @treturn boolean
function M.is_tensor(v) return getmetatable(v) == mt end

-- ---- printing, in the style of PyTorch, with size and dtype at the end

local EDGE = 3            -- items shown at each end of a summarised dim
local SUMMARISE_ABOVE = 1000
local LINE_WIDTH = 80

local function shown(n, summarise)
   local idx = {}
   if summarise and n > 2 * EDGE then
      for i = 1, EDGE do idx[#idx + 1] = i end
      idx[#idx + 1] = false
      for i = n - EDGE + 1, n do idx[#idx + 1] = i end
   else
      for i = 1, n do idx[i] = i end
   end
   return idx
end

local function collect(x, summarise, out)
   if x:dim() == 0 then out[#out + 1] = x:item(); return end
   for _, i in ipairs(shown(x:size(1), summarise)) do
      if i then
         if x:dim() == 1 then out[#out + 1] = x[i] else collect(x[i], summarise, out) end
      end
   end
end

-- One formatter for all shown values, so columns line up.
local function formatter(values, dtype)
   if dtype == "int64" then
      local w = 1
      for _, v in ipairs(values) do w = math.max(w, #string.format("%d", v)) end
      return function(v) return string.format("%" .. w .. "d", v) end
   end
   local maxabs, minabs, all_int = 0, math.huge, true
   for _, v in ipairs(values) do
      if v == v and v ~= math.huge and v ~= -math.huge then
         local a = math.abs(v)
         maxabs = math.max(maxabs, a)
         if a > 0 then minabs = math.min(minabs, a) end
         if v ~= math.floor(v) then all_int = false end
      end
   end
   local fmt
   if maxabs >= 1e8 or (minabs < 1e-4) or (minabs < math.huge and maxabs / minabs > 1e4) then
      fmt = "%.4e"
   elseif all_int then
      fmt = "%.0f."
   else
      fmt = "%.4f"
   end
   local function one(v)
      if v ~= v then return "nan" end
      if v == math.huge then return "inf" end
      if v == -math.huge then return "-inf" end
      local s = string.format(fmt, v)
      if s:match("^%-0%.?0*e?") and v == 0 then s = s:sub(2) end   -- no "-0."
      return s
   end
   local w = 1
   for _, v in ipairs(values) do w = math.max(w, #one(v)) end
   return function(v) local s = one(v); return string.rep(" ", w - #s) .. s end, w
end

local function render(x, summarise, fmt, width, indent)
   if x:dim() == 1 then
      local items = {}
      for _, i in ipairs(shown(x:size(1), summarise)) do
         items[#items + 1] = i and fmt(x[i]) or "..."
      end
      local per_line = math.max(1, (LINE_WIDTH - #indent) // (width + 2))
      local lines = {}
      for k = 1, #items, per_line do
         lines[#lines + 1] = table.concat(items, ", ", k, math.min(#items, k + per_line - 1))
      end
      return "[" .. table.concat(lines, ",\n" .. indent .. " ") .. "]"
   end
   local rows = {}
   for _, i in ipairs(shown(x:size(1), summarise)) do
      rows[#rows + 1] = i and render(x[i], summarise, fmt, width, indent .. " ") or "..."
   end
   local sep = "," .. string.rep("\n", x:dim() - 1) .. indent .. " "
   return "[" .. table.concat(rows, sep) .. "]"
end

--- A readable form of a tensor: values (summarised beyond 1000 elements), size and dtype.
-- @tparam Tensor x
-- @treturn string
function M.tostring(x)
   local size = "{" .. table.concat(x:size(), ", ") .. "}"
   local tail = ", size=" .. size .. ", dtype=" .. x.dtype .. ")"
   if x:numel() == 0 then return "tensor([]" .. tail end
   local summarise = x:numel() > SUMMARISE_ABOVE
   local values = {}
   collect(x, summarise, values)
   local fmt, width = formatter(values, x.dtype)
   width = width or #fmt(values[1])
   local body = x:dim() == 0 and fmt(x:item()):gsub("^%s+", "")
      or render(x, summarise, fmt, width, string.rep(" ", #"tensor("))
   return "tensor(" .. body .. tail
end
mt.__tostring = M.tostring

-- ---- joins and splits

--- Stacks tensors of one shape along a new dim.
-- @tparam {Tensor,...} list
-- @tparam[opt=1] int dim position of the new dim (1-based, negative from the end)
function M.stack(list, dim)
   dim = dim or 1
   assert(type(list) == "table" and #list > 0, "stack: expected a non-empty list of tensors")
   local parts = {}
   for i, t in ipairs(list) do
      if getmetatable(t) ~= mt then error(("stack: entry %d is not a tensor"):format(i), 2) end
      -- the new dim's position in the result, which has one dim more than the entries
      local n = t:dim() + 1
      if i == 1 and (math.type(dim) ~= "integer" or dim == 0 or dim > n or dim < -n) then
         error(("stack: dim %s out of range for stacking %d-d tensors (1..%d or -%d..-1)"):format(
            tostring(dim), n - 1, n, n), 2)
      end
      if i > 1 and table.concat(t:size(), ",") ~= table.concat(list[1]:size(), ",") then
         error(("stack: entry %d has size {%s}, entry 1 has {%s}"):format(i,
            table.concat(t:size(), ", "), table.concat(list[1]:size(), ", ")), 2)
      end
      parts[i] = t:unsqueeze(dim)
   end
   return core.cat(parts, dim)
end

--- Splits x into views along dim: pieces of `size` elements (the last one may be
-- smaller), or, with a table of sizes, pieces of those sizes.
-- @tparam Tensor x
-- @tparam int|{int,...} size
-- @tparam[opt=1] int dim
-- @treturn {Tensor,...}
-- @raise when the sizes do not add up to the dim's size, or size is not a positive integer
function methods.split(x, size, dim)
   dim = dim or 1
   local n, pieces, at = x:size(dim), {}, 1
   if type(size) == "table" then
      local total = 0
      for _, s in ipairs(size) do total = total + s end
      if total ~= n then
         error(("split: sizes sum to %d but dim %d has size %d"):format(total, dim, n), 2)
      end
      for _, s in ipairs(size) do pieces[#pieces + 1] = x:narrow(dim, at, s); at = at + s end
      return pieces
   end
   if math.type(size) ~= "integer" or size < 1 then
      error("split: size must be a positive integer or a table of sizes", 2)
   end
   while at <= n do
      local len = math.min(size, n - at + 1)
      pieces[#pieces + 1] = x:narrow(dim, at, len)
      at = at + len
   end
   return pieces
end

--- Splits x into `chunks` views of (nearly) equal size along dim (fewer when the dim is
-- too small).
-- @tparam Tensor x
-- @tparam int chunks
-- @tparam[opt=1] int dim
-- @treturn {Tensor,...}
function methods.chunk(x, chunks, dim)
   if math.type(chunks) ~= "integer" or chunks < 1 then
      error("chunk: number of chunks must be a positive integer", 2)
   end
   dim = dim or 1
   local n = x:size(dim)
   return x:split(math.max(1, (n + chunks - 1) // chunks), dim)
end

local function check_tensor(v, fn, i, level)
   if getmetatable(v) ~= mt then
      error(("%s: expected a tensor as argument %d, got %s"):format(fn, i, type(v)), level or 3)
   end
end

--- x converted to other's dtype (x itself when they match).
-- @tparam Tensor x
-- @tparam Tensor other
-- @treturn Tensor
-- @raise when other is not a tensor
function methods.type_as(x, other)
   check_tensor(other, "type_as", 1)
   return x:to(other.dtype)
end

-- Options of rand_like/randn_like: the same keys as rand/randn, which check them.
local function like_opts(x, opts, fn)
   check_tensor(x, fn, 1, 4)
   if opts == nil then return { dtype = x.dtype } end
   if type(opts) ~= "table" then
      error(("%s: expected an options table, got %s"):format(fn, type(opts)), 4)
   end
   local o = {}
   for k, v in pairs(opts) do o[k] = v end
   if o.dtype == nil then o.dtype = x.dtype end
   return o
end

--- A tensor of x's shape filled from U[0, 1), in x's dtype unless opts.dtype says otherwise.
-- @tparam Tensor x
-- @tparam[opt] table opts as gan.rand's: `dtype` (x's), `generator` (the default one)
-- @treturn Tensor
-- @raise when x is not a tensor or opts not a table
function M.rand_like(x, opts)
   local o = like_opts(x, opts, "rand_like")
   return core.rand(x:size(), o)
end
--- A tensor of x's shape filled from N(0, 1), in x's dtype unless opts.dtype says otherwise.
-- @tparam Tensor x
-- @tparam[opt] table opts as gan.randn's: `dtype` (x's), `generator` (the default one)
-- @treturn Tensor
-- @raise when x is not a tensor or opts not a table
function M.randn_like(x, opts)
   local o = like_opts(x, opts, "randn_like")
   return core.randn(x:size(), o)
end

--- Installs these into the gan table: stack, rand_like, randn_like, is_tensor, and
-- function forms of tensor methods (gan.exp(x) for x:exp(), ...), called once by
-- require("gan").
-- @tparam table gan the gan module table
function M.install(gan)
   gan.stack = M.stack
   gan.rand_like = M.rand_like
   gan.randn_like = M.randn_like
   gan.is_tensor = M.is_tensor
   -- Function forms: gan.exp(x) == x:exp(), gan.add(x, y) == x:add(y), ...
   for _, name in ipairs { "abs", "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "relu",
      "sign", "neg", "square", "floor", "ceil", "round", "log1p", "expm1", "sin", "cos",
      "reciprocal", "clamp", "sum", "mean", "prod", "max", "min", "var", "std", "norm",
      "argmax", "argmin", "add", "sub", "mul", "div", "pow", "minimum", "maximum", "eq", "ne",
      "lt", "le", "gt", "ge", "transpose", "permute", "reshape", "flatten", "squeeze",
      "unsqueeze", "narrow", "select", "index_select", "gather", "scatter_add",
      "masked_fill", "split", "chunk", "clone" } do
      local m = methods[name]
      gan[name] = gan[name] or function(x, ...)
         if getmetatable(x) ~= mt then
            error(("gan.%s: expected a tensor as argument 1, got %s"):format(name, type(x)), 2)
         end
         return m(x, ...)
      end
   end
end

return M
