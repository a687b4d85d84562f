--- 3D-GAN (Wu et al. 2016) on procedural voxel objects (chairs, tables, cups, lamps at
-- 32^3; lua/gan/data/voxels.lua generates and caches them): the model
-- lua/gan/models/gan3d.lua. Sheets show each object as three depth-shaded views.
--
--     gan run experiments/gan3d.lua                  # 6,000 steps of 32
--     gan run experiments/gan3d.lua --set train.d_skip_acc=1   # without the adaptive D update
--     gan eval runs/gan3d/<name>     # voxel classifier's confident share and classes, nearest-IoU
--     gan interpolate runs/gan3d/<name>
local gan = require("gan")
gan.train.experiment { model = "gan3d", argv = arg }
