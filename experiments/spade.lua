--- SPADE (Park et al. 2019) on OpenMoji label maps of 8 classes -> colour emoji at 64x64
-- (the model: lua/gan/models/spade.lua; the maps: lua/gan/data/openmoji.lua). Its claim,
-- measured by gan eval with SPADE's protocol (a segmenter trained on real pairs run on
-- the generated images, mean IoU with the input maps), against pix2pix given the same
-- maps (experiments/pix2pix_labels.yaml):
--
--     gan run experiments/spade.lua
--     gan run experiments/pix2pix.lua --config experiments/pix2pix_labels.yaml
--     gan eval runs/spade/<name>; gan eval runs/pix2pix/labels       # miou, fid, l1, psnr
local gan = require("gan")
gan.train.experiment { model = "spade", argv = arg }
