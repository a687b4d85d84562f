--- gan.autocast: mixed-precision scopes. Inside a "bfloat16" scope float32 convolutions
-- (forward and both gradients, so also a backward run inside the scope) read their inputs
-- in bfloat16 and accumulate and write float32, on the oneDNN backend of a CPU with
-- AVX512_BF16 (elsewhere oneDNN emulates bfloat16, slower; shapes it has no bfloat16
-- kernel for stay float32). Tensors, parameters, gradients, optimizer states, norms,
-- matmuls and losses stay float32: the weights are their own float32 master copy.
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

--- The precision convolutions run in now: "float32" or "bfloat16".
-- @treturn string
function A.precision() return core.conv_precision() end

--- Opens a scope: convolutions run in `precision` until the returned value is closed
-- (a to-be-closed variable), which restores the precision before it.
-- @tparam string precision "float32" or "bfloat16"
-- @return a to-be-closed value
-- @raise for another precision
function A.scope(precision)
   check(precision, 2)
   local before = core.conv_precision()
   core.set_conv_precision(precision)
   return setmetatable({}, { __close = function() core.set_conv_precision(before) end })
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
