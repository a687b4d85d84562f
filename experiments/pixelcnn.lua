--- PixelCNN (van den Oord et al. 2016) on binarized MNIST (lua/gan/models/pixelcnn.lua):
-- exact negative log-likelihood in nats; samples drawn pixel by pixel.
--
--     gan run experiments/pixelcnn.lua
--     gan run experiments/pixelcnn.lua --set model.h=64 --set model.blocks=12
--     gan eval runs/pixelcnn/<name>          # NLL of the held-out digits; samples.png
local gan = require("gan")
gan.train.experiment { model = "pixelcnn", argv = arg }
