--- BEGAN (Berthelot et al. 2017): auto-encoder discriminator, k_t balance (lambda_k
-- 0.001), the convergence measure M logged every step, on MNIST's training split
-- (lua/gan/models/began.lua).
--
--     gan run experiments/began.lua
--     gan run experiments/began.lua --set train.gamma=0.7
local gan = require("gan")
gan.train.experiment { model = "began", argv = arg }
