--- WGAN-GP (Gulrajani et al. 2017) with a DCGAN-shaped generator and a critic without
-- batch norm, 5 critic steps per generator step, gradient penalty weight 10 and Adam
-- 1e-4 with betas (0.0, 0.9), as in the paper (lua/gan/models/wgan_gp.lua). MNIST by
-- default.
--
--     gan run experiments/wgan_gp.lua
--     gan run experiments/wgan_gp.lua --set data.name=fashion_mnist --set train.steps=20000
--     gan run experiments/wgan_gp.lua --resume runs/wgan_gp/<name>
local gan = require("gan")
gan.train.experiment { model = "wgan_gp", argv = arg }
