--- The VAE (Kingma & Welling 2014) on binarized MNIST (lua/gan/models/vae.lua): ELBO
-- training with dynamic binarization; `gan eval` gives the ELBO and the IWAE bound with
-- k = 5,000 on the held-out digits, in nats.
--
--     gan run experiments/vae.lua                                    # MLP, Bernoulli decoder
--     gan run experiments/vae.lua --set model.arch=conv
--     gan run experiments/vae.lua --set model.decoder=gaussian       # grey digits
--     gan eval runs/vae/<name>
local gan = require("gan")
gan.train.experiment { model = "vae", argv = arg }
