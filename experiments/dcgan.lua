--- DCGAN (Radford et al. 2016) on MNIST by default (the model and its switches:
-- lua/gan/models/dcgan.lua; `gan models` lists the others).
--
--     gan run experiments/dcgan.lua                                  # ~5 min, samples in runs/dcgan/
--     gan run experiments/dcgan.lua --config experiments/dcgan_fashion.yaml
--     gan run experiments/dcgan.lua --set train.steps=10000 --set data.name=fashion_mnist
--     gan run experiments/dcgan.lua --set train.loss=hinge --set train.r1=1.0
--     gan run experiments/dcgan.lua --resume runs/dcgan/<name>
--     gan eval runs/dcgan/<name>
local gan = require("gan")
gan.train.experiment { model = "dcgan", argv = arg }
