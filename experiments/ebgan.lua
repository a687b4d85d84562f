--- EBGAN (Zhao et al. 2017): auto-encoder discriminator, margin, pull-away term, on
-- MNIST's training split (lua/gan/models/ebgan.lua).
--
--     gan run experiments/ebgan.lua
--     gan run experiments/ebgan.lua --set train.margin=0.5 --set train.lambda_pt=0
local gan = require("gan")
gan.train.experiment { model = "ebgan", argv = arg }
