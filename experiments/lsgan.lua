--- LSGAN (Mao et al. 2017, a = 0, b = c = 1) on DCGAN's networks, MNIST's training split
-- (lua/gan/models/lsgan.lua).
--
--     gan run experiments/lsgan.lua
--     gan run experiments/lsgan.lua --set model.g_norm=none      # G without batch norm
local gan = require("gan")
gan.train.experiment { model = "lsgan", argv = arg }
