--- ACGAN (Odena et al. 2017) on MNIST by default: G(z, class) with a learned class
-- embedding, D with a shared trunk, a real/fake head and a class head (the model:
-- lua/gan/models/acgan.lua). Sample sheets: one row per class.
--
--     gan run experiments/acgan.lua
--     gan run experiments/acgan.lua --set data.name=fashion_mnist
--     gan run experiments/acgan.lua --resume runs/acgan/<name>
--     gan eval runs/acgan/<name>          # class accuracy, per-class FID, TSTR
local gan = require("gan")
gan.train.experiment { model = "acgan", argv = arg }
