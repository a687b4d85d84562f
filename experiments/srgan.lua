--- SRResNet and SRGAN (Ledig et al. 2017): x4 super-resolution of Fashion-MNIST (8 -> 32
-- px) by default, 16 -> 64 px emoji with experiments/srgan_emoji.yaml (the model:
-- lua/gan/models/srgan.lua). The default trains 3,000 steps of pixel MSE (SRResNet) and
-- then 3,000 of SRGAN; experiments/srresnet.yaml is the MSE-only baseline of the same
-- length. gan eval reports PSNR/SSIM (luminance, border cropped) and FID against the
-- bicubic enlargement, on held-out images.
--
--     gan run experiments/srgan.lua
--     gan run experiments/srgan.lua --config experiments/srresnet.yaml
--     gan eval runs/srgan/<name>
local gan = require("gan")
gan.train.experiment { model = "srgan", argv = arg }
