--- BigGAN (Brock et al. 2019) at small scale on class-conditional Fashion-MNIST at 32x32:
-- SAGAN plus a shared class embedding, hierarchical latents, orthogonal regularisation,
-- 2 D steps per G step and an EMA generator with standing statistics (the model:
-- lua/gan/models/biggan.lua on lua/gan/models/sagan.lua). Every trick is a switch:
--
--     gan run experiments/biggan.lua --config experiments/biggan_fashion.yaml   # the full run
--     gan run experiments/biggan.lua --set model.hierarchical=false --set train.ortho=0
--     gan run experiments/biggan.lua --set data.name=emoji_category --set data.image_size=32
--     gan eval runs/biggan/<name>      # the EMA generator and the raw one
--     gan run experiments/biggan_truncation.lua --set run=runs/biggan/<name>
--     gan run experiments/biggan_ablation.lua                 # the full model minus one trick at a time
local gan = require("gan")
gan.train.experiment { model = "biggan", argv = arg }
