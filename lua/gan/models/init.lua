--- gan.models: the registry of models. Every file lua/gan/models/<name>.lua (but this
-- one and files starting with "_") is a model that follows the contract of
-- gan.train.Model; adding one needs no change here.
--
--     gan.models.dcgan                 -- the model class (loaded on first use)
--     gan.models.get("dcgan")          -- the same, with an error listing the known names
--     gan.models.list()                -- { { name =, summary =, paper = }, ... } by name
-- @module gan.models
local lfs = require("lfs")

local M = {}

-- The directory this file is in.
local function here()
   local path = package.searchpath("gan.models", package.path)
   return path and path:match("^(.*)/[^/]*$") or "."
end

--- The names of the model files, sorted.
function M.names()
   local dir, names = here(), {}
   for file in lfs.dir(dir) do
      local n = file:match("^([%w][%w_]*)%.lua$")
      if n and n ~= "init" then names[#names + 1] = n end
   end
   table.sort(names)
   return names
end

--- The model class called `name`: a file of gan.models, or a class an experiment script
-- defined in this process (gan.train.model { name = ... }).
-- @tparam string name
-- @treturn table the model class
-- @raise for an unknown name, listing the models
function M.get(name)
   if type(name) == "string" and name:match("^[%w][%w_]*$") and name ~= "init"
      and package.searchpath("gan.models." .. name, package.path) then
      return require("gan.models." .. name)
   end
   local defined = require("gan.train.model").registry[name]
   if defined then return defined end
   error(("gan: no model '%s' (models: %s)"):format(tostring(name), table.concat(M.names(), ", ")), 2)
end

--- Every model's name, one-line summary and paper, sorted by name.
function M.list()
   local out = {}
   for _, n in ipairs(M.names()) do
      local m = M.get(n)
      out[#out + 1] = { name = n, summary = m.summary, paper = m.paper }
   end
   return out
end

return setmetatable(M, { __index = function(t, k)
   local m = M.get(k)
   rawset(t, k, m)
   return m
end })
