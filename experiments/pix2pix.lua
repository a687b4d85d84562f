--- pix2pix (Isola et al. 2017) on OpenMoji: line art -> colour emoji at 64x64 by default
-- (the model: lua/gan/models/pix2pix.lua; the data: lua/gan/data/openmoji.lua, rendered
-- once into the data directory). Other tasks and the L1-only baseline:
--
--     gan run experiments/pix2pix.lua                                   # line2color, cGAN + 100 L1
--     gan run experiments/pix2pix.lua --config experiments/pix2pix_l1.yaml      # L1 alone
--     gan run experiments/pix2pix.lua --set data.task=labels2color      # label maps -> colour
--     gan run experiments/pix2pix.lua --set data.task=edges2emoji       # Sobel edges -> Google emoji
--     gan eval runs/pix2pix/<name>           # held-out pairs: L1, PSNR, FID on classifier features
local gan = require("gan")
gan.train.experiment { model = "pix2pix", argv = arg }
