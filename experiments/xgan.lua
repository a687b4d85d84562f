--- XGAN (Royer et al. 2017) between Google and Twitter emoji at 64x64 (the model:
-- lua/gan/models/xgan.lua), the pair CycleGAN translates, so the two compare on the same
-- held-out code points: gan eval gives paired L1/PSNR against the real drawing, the style
-- classifier's share in the target style, FID, and top-1/top-5 retrieval through the
-- shared embedding.
--
--     gan run experiments/xgan.lua                     # 8,000 steps of 8
--     gan run experiments/xgan.lua --set train.w_sem=0  # without semantic consistency
--     gan eval runs/xgan/<name>
local gan = require("gan")
gan.train.experiment { model = "xgan", argv = arg }
