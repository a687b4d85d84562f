--- The autoencoder (lua/gan/models/ae.lua): the VAE's networks without the prior, on
-- binarized MNIST; sheets of latent interpolations ("morphing").
--
--     gan run experiments/ae.lua
--     gan eval runs/ae/<name>                # reconstruction NLL of the held-out digits
local gan = require("gan")
gan.train.experiment { model = "ae", argv = arg }
