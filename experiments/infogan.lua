--- InfoGAN (Chen et al. 2016) on MNIST: 62 noise dimensions, a 10-valued categorical
-- code and 2 continuous codes ~ U(-1, 1); Q shares D's trunk; the information term
-- (lambda 1) joins both objectives (lua/gan/models/infogan.lua). Sheets: latent
-- traversals (rows: categorical value; columns: one continuous code from -2 to 2; the
-- first 10 rows sweep code 1, the next 10 code 2). At 32x32, DCGAN-shaped networks by
-- default, the paper's MNIST networks with --set model.arch=paper
-- (experiments/infogan_full.yaml).
--
--     gan run experiments/infogan.lua
--     gan run experiments/infogan.lua --set train.seed=1
--     gan run experiments/infogan.lua --resume runs/infogan/<name>
local gan = require("gan")
gan.train.experiment { model = "infogan", argv = arg }
