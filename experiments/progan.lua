--- ProGAN (Karras et al. 2018) on Fashion-MNIST at 32x32: G and D grow from 4x4, each
-- new resolution faded in over train.phase_images images (the model and its switches:
-- lua/gan/models/progan.lua). The sheets in runs/progan/<name>/samples show the growth
-- (every sheet is drawn at the resolution of its step, upsampled to 32x32).
--
--     gan run experiments/progan.lua                         # 10,000 steps, about 1 h on one thread
--     gan run experiments/progan.lua --config experiments/progan_stacked.yaml   # the mode test
--     gan run experiments/progan.lua --set train.phase_images=16000 --set train.steps=2500
--     gan eval runs/progan/<name>
local gan = require("gan")
gan.train.experiment { model = "progan", argv = arg }
