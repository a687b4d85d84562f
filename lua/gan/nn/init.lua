--- gan.nn: neural-network building blocks. `gan.nn.functional` (also `gan.F`) holds the
-- stateless functions; modules build on them.
local nn = {}
nn.functional = require("gan.nn.functional")
return nn
