--- Conditional GAN (Mirza & Osindero 2014) on MNIST's training split: the label fed to
-- both MLPs (lua/gan/models/cgan.lua); sheets have one row per class.
--
--     gan run experiments/cgan.lua
--     gan eval runs/cgan/<name>                # class accuracy, per-class FID, Parzen
local gan = require("gan")
gan.train.experiment { model = "cgan", argv = arg }
