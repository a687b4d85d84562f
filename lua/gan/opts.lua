--- gan.opts: the one validator of options tables for Lua functions (gl_check_opts is its
-- counterpart in the bindings). A misspelt option is an error naming the function and
-- the key, never a silently ignored setting.
--
--     local KNOWN = opts.set("stride", "padding")
--     function F.avg_pool2d(x, k, o)
--        o = opts.check(o, KNOWN, "avg_pool2d")   -- "avg_pool2d: unknown option 'strde'"
-- @module gan.opts
local M = {}

--- A set (name -> true) of the given names.
-- @tparam string ... the names
-- @treturn table
function M.set(...)
   local s = {}
   for _, k in ipairs { ... } do s[k] = true end
   return s
end

--- Checks that every key of `o` is in `known` (a set from opts.set, or any table whose
-- keys are the known names); returns `o`, or a new empty table when it is nil. `fn`
-- names the function in the message; `level` is error()'s level counted from the
-- caller of check (default 2: the function that called the checking function).
-- @tparam[opt] table o the options
-- @tparam table known
-- @tparam string fn
-- @tparam[opt=2] int level
-- @treturn table o, or {}
-- @raise naming the first unknown key, or when o is not a table
function M.check(o, known, fn, level)
   level = (level or 2) + 1
   if o == nil then return {} end
   if type(o) ~= "table" then
      error(("%s: expected an options table, got %s"):format(fn, type(o)), level)
   end
   for k in pairs(o) do
      if known[k] == nil then error(("%s: unknown option '%s'"):format(fn, tostring(k)), level) end
   end
   return o
end

return M
