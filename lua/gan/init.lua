--- gan: tensors, ops, randomness and threads; the rest of the library hangs off this table.
-- @module gan
local core = require("gan.core")

local gan = {}
for k, v in pairs(core) do gan[k] = v end
gan.core = core
gan.version = require("gan.version")
gan.float32, gan.float64, gan.int64 = "float32", "float64", "int64"

require("gan.tensor").install(gan)
require("gan.autograd").install(gan)
gan.nn = require("gan.nn")
gan.F = gan.nn.functional
gan.testing = require("gan.testing")
gan.optim = require("gan.optim")
gan.image = require("gan.image")
gan.data = require("gan.data")
gan.losses = require("gan.losses")
gan.config = require("gan.config")
gan.run = require("gan.run")
gan.train = require("gan.train")
gan.plot = require("gan.plot")
gan.models = setmetatable({}, { __index = function(t, k)
   local m = require("gan.models." .. k)
   rawset(t, k, m)
   return m
end })
local serialize = require("gan.serialize")
gan.save, gan.load = serialize.save, serialize.load
gan.save_checkpoint, gan.load_checkpoint = serialize.save_checkpoint, serialize.load_checkpoint

return gan
