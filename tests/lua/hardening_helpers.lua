--- Helpers for the specs of issue 25 (bad files, configs and calls refused with clear
-- messages): image_helpers' temporary directories and whole-file reads and writes, and
-- the message of an error that must be raised at the spec's own line. Not a spec itself.
-- Load with: local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "hardening_helpers.lua")
local here = debug.getinfo(1, "S").source:match("^@(.*/)")
local H = setmetatable({}, { __index = dofile(here .. "image_helpers.lua") })

function H.exists(path)
   local f = io.open(path, "rb")
   if f then f:close() end
   return f ~= nil
end

--- The message of the error f(...) raises, without its position, after checking that the
-- position is a spec or this file (the caller of the library), not a line inside lua/gan. An error
-- without a position is returned as it is.
function H.err_of(f, ...)
   local args = table.pack(...)
   local ok, e = pcall(function()
      local r = f(table.unpack(args, 1, args.n))   -- not a tail call: this file is the caller
      return r
   end)
   assert(not ok, "expected an error")
   e = tostring(e)
   local where, msg = e:match("^(.-):%d+: (.*)$")
   if not where then return e end
   assert(where:match("tests/lua/[%w_]+%.lua$"), "not raised at the caller: " .. e)
   return msg
end

return H
