--- Inpainting (Pathak et al. 2016; Iizuka et al. 2017) on Fashion-MNIST at 32x32: random
-- holes of 8-16 pixels, the completion network, the weighted-border reconstruction loss,
-- global and local discriminators, Iizuka et al.'s three phases (the model:
-- lua/gan/models/inpaint.lua). experiments/inpaint_rec.yaml is the reconstruction-only
-- baseline. gan eval reports the PSNR in the hole and the reference classifier's accuracy
-- on whole, holed and completed test images.
--
--     gan run experiments/inpaint.lua
--     gan run experiments/inpaint.lua --config experiments/inpaint_rec.yaml
--     gan eval runs/inpaint/<name>
local gan = require("gan")
gan.train.experiment { model = "inpaint", argv = arg }
