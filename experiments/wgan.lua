--- WGAN (Arjovsky et al. 2017): weight clipping 0.01, RMSprop 5e-5, 5 critic steps, on
-- DCGAN's networks, MNIST's training split (lua/gan/models/wgan.lua). -loss_d is the
-- critic's estimate of the Wasserstein distance.
--
--     gan run experiments/wgan.lua
--     gan run experiments/wgan.lua --set train.eval_every=500   # FID along the run
local gan = require("gan")
gan.train.experiment { model = "wgan", argv = arg }
