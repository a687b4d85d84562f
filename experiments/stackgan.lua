--- StackGAN (Zhang et al. 2017) on emoji described in words (the model:
-- lua/gan/models/stackgan.lua). Stage I first (32x32), then stage II (64x64) with stage I
-- fixed, as the paper trains them:
--
--     gan run experiments/stackgan.lua --set run.name=stage1
--     gan run experiments/stackgan.lua --config experiments/stackgan_stage2.yaml --set train.stage1=runs/stackgan/stage1
--     gan run experiments/stackgan.lua --set model.ca=false --set run.name=stage1_noca   # without CA
--     gan eval runs/stackgan/stage2        # R-precision, FID (and stage I enlarged), diversity
--     gan sample runs/stackgan/stage2 --text "red apple"
local gan = require("gan")
gan.train.experiment { model = "stackgan", argv = arg }
