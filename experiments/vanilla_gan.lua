--- The original GAN (Goodfellow et al. 2014) on MNIST's training split: MLP generator,
-- maxout discriminator with dropout (lua/gan/models/vanilla_gan.lua); on the 2-d toy
-- mixtures with the ring8 / grid25 configs.
--
--     gan run experiments/vanilla_gan.lua
--     gan run experiments/vanilla_gan.lua --set train.loss=minimax      # the saturating loss
--     gan run experiments/vanilla_gan.lua --config experiments/toy_ring8.yaml
--     gan eval runs/vanilla_gan/<name>         # FID, ..., Parzen; on toys: modes covered
local gan = require("gan")
gan.train.experiment { model = "vanilla_gan", argv = arg }
