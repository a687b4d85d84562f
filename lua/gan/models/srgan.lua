--- SRResNet and SRGAN (Ledig et al. 2017): x4 (or x2) super-resolution. The low-resolution
-- input is the high-resolution image averaged down by the scale (box filter) on the fly.
-- G (SRResNet): a 9x9 convolution and PReLU, residual blocks (conv-BN-PReLU-conv-BN plus
-- the input) with a long skip, then per factor 2 a convolution to 4x the channels, pixel
-- shuffle and PReLU, and a 9x9 convolution to the image (tanh). For train.pretrain_steps
-- steps (all of them when train.adversarial is 0: SRResNet) G minimises the pixel MSE;
-- then SRGAN: the content loss is the MSE between the reference classifier's features of
-- SR and HR (the classifier stands in for VGG: trained here on the data set, frozen) plus
-- train.adversarial (1e-3) times the non-saturating GAN loss against SRGAN's D (strided
-- 3x3 convolutions with batch norm and leaky ReLU, two dense layers).
--
--     G(lr): (N, C, S/scale, S/scale) in [-1, 1] -> (N, C, S, S)
-- @module gan.models.srgan
local core = require("gan.core")
local nn = require("gan.nn")
local F = require("gan.nn.functional")
local optim = require("gan.optim")
local losses = require("gan.losses")
local data = require("gan.data")
local metrics = require("gan.metrics")
local no_grad = require("gan.autograd").no_grad
local config = require("gan.config")
local image = require("gan.image")
local range, choice = config.range, config.choice

local M = require("gan.train.model").define {
   name = "srgan",
   summary = "Super-resolution: SRResNet (MSE), then SRGAN (feature content loss + 1e-3 adversarial)",
   paper = "Ledig et al. 2017, Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial Network",
   best = { metric = "fid", mode = "min" },
   defaults = {
      data = { name = choice("fashion_mnist", { "fashion_mnist", "mnist", "emoji" }), image_size = choice(32, { 32, 64 }),
         scale = choice(4, { 2, 4 }), batch_size = 16, vendor = choice("google", data.VENDORS) },
      model = { nf = range(64, "[1, inf)"), blocks = range(8, "[1, inf)"), ndf = range(32, "[1, inf)") },
      train = {
         steps = 6000, sample_every = 500, checkpoint_every = 500, eval_samples = 1000,
         -- pixel-MSE steps before the adversarial phase (SRGAN starts from SRResNet)
         pretrain_steps = range(3000, "[0, inf)"),
         -- the adversarial weight after pretraining (0: SRResNet, pixel MSE throughout)
         adversarial = range(1e-3, "[0, inf)"),
         -- the weight of the pixel MSE next to the feature loss in the adversarial phase
         pixel = range(0.0, "[0, inf)"),
         lr = range(1e-4, "[0, inf)"), beta1 = range(0.9, "[0, 1)"), beta2 = range(0.999, "[0, 1)"),
      },
   },
}

-- The reference classifier whose features are the content loss and the FID's: the data
-- set's own (emoji: the vendor-style classifier, the one trained on 64x64 emoji here).
local function classifier_name(cfg) return cfg.data.name == "emoji" and "emoji_style" or cfg.data.name end

local ResBlock = nn.class("SRResBlock", nn.Module)
function ResBlock:__init(nf)
   nn.Module.__init(self)
   self.body = nn.Sequential { nn.Conv2d(nf, nf, 3, { padding = 1 }), nn.BatchNorm2d(nf), nn.PReLU(nf),
      nn.Conv2d(nf, nf, 3, { padding = 1 }), nn.BatchNorm2d(nf) }
end
--- x plus the block's two convolutions.
-- @tparam Tensor x (N, nf, H, W)
-- @treturn Tensor of x's shape
function ResBlock:forward(x) return x + self.body(x) end

local Generator = nn.class("SRResNet", nn.Module)
function Generator:__init(o)
   nn.Module.__init(self)
   local nf = o.nf
   self.head = nn.Sequential { nn.Conv2d(o.nc, nf, 9, { padding = 4 }), nn.PReLU(nf) }
   local body = {}
   for i = 1, o.blocks do body[i] = ResBlock(nf) end
   body[#body + 1] = nn.Conv2d(nf, nf, 3, { padding = 1 })
   body[#body + 1] = nn.BatchNorm2d(nf)
   self.body = nn.Sequential(body)
   local up = {}
   for _ = 1, math.tointeger(math.log(o.scale, 2)) do
      up[#up + 1] = nn.Conv2d(nf, 4 * nf, 3, { padding = 1 })
      up[#up + 1] = nn.PixelShuffle(2)
      up[#up + 1] = nn.PReLU(nf)
   end
   up[#up + 1] = nn.Conv2d(nf, o.nc, 9, { padding = 4 })
   up[#up + 1] = nn.Tanh()
   self.up = nn.Sequential(up)
end
--- The enlarged image.
-- @tparam Tensor lr (N, nc, h, w) in [-1, 1]
-- @treturn Tensor (N, nc, scale h, scale w)
function Generator:forward(lr)
   local h = self.head(lr)
   return self.up(h + self.body(h))
end

--- SRGAN's discriminator: a 3x3 convolution (ndf) and leaky ReLU (0.2), then blocks of a
-- strided 3x3 convolution (halving the size) and a 3x3 convolution doubling the channels,
-- each with batch norm and leaky ReLU, until 4x4 (at most 4 halvings: 64 px -> 4x4 x
-- 8 ndf as the paper's 96 px -> 6x6 x 512), then Linear(16 ndf) - LeakyReLU - Linear(1).
local function discriminator(o)
   local layers, c, size = { nn.Conv2d(o.nc, o.ndf, 3, { padding = 1 }), nn.LeakyReLU(0.2) }, o.ndf, o.image_size
   local function add(cin, cout, stride)
      layers[#layers + 1] = nn.Conv2d(cin, cout, 3, { stride = stride, padding = 1 })
      layers[#layers + 1] = nn.BatchNorm2d(cout)
      layers[#layers + 1] = nn.LeakyReLU(0.2)
   end
   local halvings = 0
   while size > 4 and halvings < 4 do
      add(c, c, 2)
      size, halvings = size // 2, halvings + 1
      if size > 4 and halvings < 4 then add(c, 2 * c, 1); c = 2 * c end
   end
   layers[#layers + 1] = nn.Flatten()
   layers[#layers + 1] = nn.Linear(c * size * size, 16 * o.ndf)
   layers[#layers + 1] = nn.LeakyReLU(0.2)
   layers[#layers + 1] = nn.Linear(16 * o.ndf, 1)
   layers[#layers + 1] = nn.Flatten(1)
   return nn.Sequential(layers)
end

--- opts: nc, nf, blocks, scale.
function M.Generator(opts) return Generator(opts) end
--- opts: nc, ndf, image_size.
M.Discriminator = discriminator

--- The low-resolution input of high-resolution images: averaged down by `scale`.
function M.downscale(hr, scale) return F.avg_pool2d(hr, scale) end

--- The training split of data.name at data.image_size (the high-resolution targets).
-- @tparam table cfg the resolved config
-- @treturn table a dataset
function M.dataset(cfg)
   return data.for_gan(cfg.data.name, { image_size = cfg.data.image_size, vendor = cfg.data.vendor, split = "train" })
end

--- Builds G with Adam "g" and, with train.adversarial > 0, SRGAN's D with Adam "d".
-- @tparam table cfg the resolved config
function M:build(cfg)
   local m, t, d = cfg.model, cfg.train, cfg.data
   local nc = data.channels(d.name)
   local G = self:network("G", Generator { nc = nc, nf = m.nf, blocks = m.blocks, scale = d.scale })
   local betas = { t.beta1, t.beta2 }
   self:optimizer("g", optim.Adam(G:parameters(), { lr = t.lr, betas = betas }))
   if t.adversarial > 0 then
      local D = self:network("D", discriminator { nc = nc, ndf = m.ndf, image_size = d.image_size })
      self:optimizer("d", optim.Adam(D:parameters(), { lr = t.lr, betas = betas }))
   end
end

--- The frozen reference classifier of data.name (emoji: the style classifier), whose
-- features are the content loss and the FID's; loaded once.
-- @return the classifier module, in eval mode without gradients
function M:feature_net()
   if not self._clf then
      self._clf = metrics.classifier(classifier_name(self.cfg))
      self._clf:eval()
      self._clf:requires_grad_(false)
   end
   return self._clf
end

--- Pixel MSE only (SRResNet) until train.pretrain_steps, then (with train.adversarial >
-- 0) one D update and one G update on the feature content loss, the adversarial term and
-- train.pixel times the pixel MSE.
function M:train_step(data_, step)
   local t = self.cfg.train
   local G, D = self.G, self.D
   local hr = data_:next().image
   local lr = M.downscale(hr, self.cfg.data.scale)
   local logs = {}
   if t.adversarial == 0 or step <= t.pretrain_steps then
      local loss = self:update("g", function() return F.mse_loss(G(lr), hr) end)
      logs.mse = loss:item()
      return logs
   end
   local sr = no_grad(G, lr)
   local loss_d = self:update("d", function() return losses.minimax_d(D(hr), D(sr)) end)
   local clf = self:feature_net()
   local target = no_grad(function() return clf:features(hr) end)
   local loss_g = self:update("g", function()
      local out = G(lr)
      local content = F.mse_loss(clf:features(out), target)
      local adv = losses.nonsaturating_g(D(out))
      local pix = F.mse_loss(out, hr)
      logs.content, logs.adv, logs.mse = content:item(), adv:item(), pix:item()
      local loss = content + adv * t.adversarial
      if t.pixel > 0 then loss = loss + pix * t.pixel end
      return loss
   end, { freeze = D })
   logs.loss_d, logs.loss_g = loss_d:item(), loss_g:item()
   return logs
end

-- The held-out high-resolution images (the test split), at most n.
local function held_out(self, n)
   local c = self.cfg.data
   local ds = data.for_gan(c.name, { image_size = c.image_size, vendor = c.vendor, split = "test" })
   local m = math.min(n, data.len(ds))
   local idx = core.arange(0, m, 1, { dtype = "int64" })
   return ds.get_batch and ds:get_batch(idx).image or ds.images:index_select(1, idx)
end

--- Its sheet: for 8 held-out images, one row each of the input (nearest, enlarged), the
-- bicubic enlargement, G's and the original.
function M:sample()
   local hr = held_out(self, 8)
   local k = self.cfg.data.scale
   local lr = M.downscale(hr, k)
   local sr = self.run_eval(self:sampler("G"), lr)
   return image.interleave({ F.interpolate(lr, { scale_factor = k, mode = "nearest" }),
      F.interpolate(lr, { scale_factor = k, mode = "bicubic" }):clamp(-1, 1), sr, hr }), { nrow = 4 }
end

--- On opts.n held-out images (1,000; the test split, never trained on): PSNR and SSIM on
-- the luminance with a border of `scale` pixels cropped (as the SR papers) of G's output
-- and of the bicubic enlargement, and the FID of each against the originals on the
-- reference classifier's features.
function M:evaluate(opts)
   opts = opts or {}
   local k = self.cfg.data.scale
   local hr = held_out(self, opts.n or 1000)
   local lr = M.downscale(hr, k)
   local sr = self.run_eval_chunked(self:sampler("G"), 100, lr)
   local bic = F.interpolate(lr, { scale_factor = k, mode = "bicubic" }):clamp(-1, 1)
   local fid = { y = true, crop = k }
   local clf = self:feature_net()
   local f_hr = metrics.features(clf, hr)
   return {
      n = hr:size(1),
      psnr = metrics.psnr(sr, hr, fid), ssim = metrics.ssim(sr, hr, fid),
      psnr_bicubic = metrics.psnr(bic, hr, fid), ssim_bicubic = metrics.ssim(bic, hr, fid),
      fid = metrics.fid(metrics.features(clf, sr), f_hr), fid_bicubic = metrics.fid(metrics.features(clf, bic), f_hr),
   }
end

return M
