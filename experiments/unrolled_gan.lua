--- Unrolled GAN (Metz et al. 2017): G's loss through K differentiable Adam steps of D
-- (lua/gan/models/unrolled_gan.lua); the vanilla GAN's MLPs on MNIST, or on the 2-d
-- ring of 8 Gaussians where unrolling is meant to prevent mode collapse.
--
--     gan run experiments/unrolled_gan.lua --config experiments/toy_ring8.yaml --set train.unroll=5
--     gan run experiments/unrolled_gan.lua --set train.unroll=5
local gan = require("gan")
gan.train.experiment { model = "unrolled_gan", argv = arg }
