--- Gated PixelCNN (van den Oord et al. 2016b) on binarized MNIST
-- (lua/gan/models/gated_pixelcnn.lua): vertical and horizontal stacks without a blind
-- spot, conditioned on the class (model.conditional; false for the unconditional NLL).
--
--     gan run experiments/gated_pixelcnn.lua
--     gan run experiments/gated_pixelcnn.lua --set model.conditional=false
--     gan eval runs/gated_pixelcnn/<name>
local gan = require("gan")
gan.train.experiment { model = "gated_pixelcnn", argv = arg }
