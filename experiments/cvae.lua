--- The conditional VAE (Sohn et al. 2015) on binarized MNIST, the class joining encoder
-- and decoder (lua/gan/models/cvae.lua); sheets have one row per class.
--
--     gan run experiments/cvae.lua
--     gan eval runs/cvae/<name>              # bounds of log p(x | y), class accuracy of samples
local gan = require("gan")
gan.train.experiment { model = "cvae", argv = arg }
