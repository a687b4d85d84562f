--- SAGAN (Zhang et al. 2019) on class-conditional Fashion-MNIST at 32x32: a residual
-- generator with conditional batch norm and a projection discriminator, self-attention at
-- 16x16 in both, spectral norm in both, the hinge loss and TTUR (the model:
-- lua/gan/models/sagan.lua, where every trick is a switch). Sheets: one row per class.
--
--     gan run experiments/sagan.lua
--     gan run experiments/sagan.lua --set model.attention=0      # without self-attention
--     gan eval runs/sagan/<name>       # FID, class accuracy, FID within each class, P/R
local gan = require("gan")
gan.train.experiment { model = "sagan", argv = arg }
