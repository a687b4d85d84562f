--- Grad-mode scopes on top of the C engine: gan.no_grad and gan.enable_grad.
-- @module gan.autograd
local core = require("gan.core")

local M = {}

local function scope(enabled)
   local prev = core.set_grad_enabled(enabled)
   return setmetatable({}, { __close = function() core.set_grad_enabled(prev) end })
end

local function run_with(enabled, fn, ...)
   local prev = core.set_grad_enabled(enabled)
   local res = table.pack(pcall(fn, ...))
   core.set_grad_enabled(prev)
   if not res[1] then error(res[2], 0) end
   return table.unpack(res, 2, res.n)
end

--- Without gradients: `gan.no_grad(fn, ...)` runs fn and returns its results;
-- `local _ <close> = gan.no_grad()` disables recording until the end of the scope.
-- @tparam[opt] function fn
-- @param ... fn's arguments
-- @return fn's results; without fn, a value to assign to a to-be-closed variable
function M.no_grad(fn, ...)
   if fn == nil then return scope(false) end
   return run_with(false, fn, ...)
end

--- The opposite of no_grad, for a piece that must record inside a no_grad region.
-- @tparam[opt] function fn
-- @param ... fn's arguments
-- @return fn's results; without fn, a value to assign to a to-be-closed variable
function M.enable_grad(fn, ...)
   if fn == nil then return scope(true) end
   return run_with(true, fn, ...)
end

--- Sets gan.no_grad and gan.enable_grad (called once by require("gan")).
-- @tparam table gan the gan module table
function M.install(gan)
   gan.no_grad = M.no_grad
   gan.enable_grad = M.enable_grad
end

return M
