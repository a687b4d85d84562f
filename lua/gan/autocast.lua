--- gan.autocast: mixed-precision scopes. Inside a "bfloat16" scope float32 convolutions
-- and matrix products (forward and gradients, so also a backward run inside the scope)
-- read their inputs in bfloat16 (rounded to nearest even) and accumulate and write
-- float32, on oneDNN (AVX512_BF16 kernels where the CPU has them; elsewhere oneDNN
-- emulates bfloat16, slower; what it has no bfloat16 kernel for stays float32; the "gemm"
-- convolution backend is never touched). Tensors, parameters, gradients, optimizer
-- states, norms and losses stay float32: the weights are their own float32 master copy.
-- Scopes nest; closing one (also when an error unwinds it) restores the precision
-- before it. Training uses it through `train.precision` (gan.train.update opens the
-- scope around the loss and its backward).
--
--     local _ <close> = gan.autocast.scope("bfloat16")
--     gan.autocast.run("bfloat16", function() ... end)
-- @module gan.autocast
local core = require("gan.core")

local A = {}

--- The precisions a scope can set.
A.PRECISIONS = { "float32", "bfloat16" }

local function check(precision, level)
   for _, p in ipairs(A.PRECISIONS) do if p == precision then return end end
   error(("autocast: unknown precision %s (expected \"float32\" or \"bfloat16\")"):format(
      type(precision) == "string" and ("'" .. precision .. "'") or tostring(precision)), level + 1)
end

--- The precision convolutions and matrix products run in now: "float32" or "bfloat16".
-- @treturn string
function A.precision() return core.precision() end

--- Opens a scope: convolutions and matrix products run in `precision` until the returned value is closed
-- (a to-be-closed variable), which restores the precision before it.
-- @tparam string precision "float32" or "bfloat16"
-- @return a to-be-closed value
-- @raise for another precision
function A.scope(precision)
   check(precision, 2)
   local before = core.precision()
   core.set_precision(precision)
   return setmetatable({}, { __close = function() core.set_precision(before) end })
end

--- Calls fn(...) in a scope of `precision` and returns its results.
-- @tparam string precision "float32" or "bfloat16"
-- @tparam function fn
-- @param ... its arguments
-- @return what fn returns
-- @raise for another precision; fn's errors pass through, the precision restored
function A.run(precision, fn, ...)
   check(precision, 2)
   local _ <close> = A.scope(precision)
   return fn(...)
end

return A
