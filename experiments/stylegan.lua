--- StyleGAN (Karras et al. 2019, with StyleGAN2's modulated convolutions) on
-- Fashion-MNIST at 32x32 (the model and its switches: lua/gan/models/stylegan.lua).
-- Then its measurements (style mixing, path length in Z and W, truncation in W):
-- experiments/stylegan_measure.lua.
--
--     gan run experiments/stylegan.lua                      # 10,000 steps of 32, about 75 min on one thread
--     gan run experiments/stylegan.lua --set train.mixing=0  # without style mixing regularisation
--     gan run experiments/stylegan_measure.lua --set run=runs/stylegan/<name>
--     gan eval runs/stylegan/<name>
local gan = require("gan")
gan.train.experiment { model = "stylegan", argv = arg }
