--- IcGAN (Perarnau et al. 2016): a conditional GAN with encoders E_z and E_y, for
-- attribute editing x' = G(E_z(x), y') (lua/gan/models/icgan.lua). MNIST by default (edit
-- the digit, keep the handwriting); the skin tones of emoji with icgan_skin.yaml.
--
--     gan run experiments/icgan.lua
--     gan run experiments/icgan.lua --config experiments/icgan_skin.yaml
--     gan eval runs/icgan/<name>             # edit accuracy and style kept; or paired L1 vs copying
local gan = require("gan")
gan.train.experiment { model = "icgan", argv = arg }
