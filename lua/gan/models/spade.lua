--- SPADE (Park et al. 2019): semantic image synthesis with spatially-adaptive
-- normalisation. Every normalisation in G is parameter-free batch norm followed by a
-- per-pixel scale and bias computed from the label map (resized to the layer's size):
-- SPADE(x, m) = BN(x) * (1 + gamma(m)) + beta(m), gamma and beta 3x3 convolutions on a
-- shared 3x3 convolution (model.nhidden 32; the paper: 128) with ReLU. G starts from the map downsampled to 4x4
-- (a 3x3 convolution to 16 nf channels) and applies SPADE residual blocks (SPADE - leaky
-- ReLU - conv, twice, plus a shortcut with its own SPADE and a 1x1 convolution when the
-- channels change), doubling the size between them, up to the image. D is multi-scale:
-- PatchGANs with instance norm on the map concatenated with the image at full and half
-- size. Hinge loss, feature matching (L1 between D's inner features on real and
-- generated images, weight train.feat_match 10), spectral norm on every convolution of G
-- and D, Adam (0, 0.9) with G 1e-4 and D 4e-4. The data: OpenMoji label maps of 8
-- classes -> colour emoji (gan.data.openmoji), held-out emoji never trained on.
--
--     G(m): m (N, K, S, S) one-hot label map -> image (N, 3, S, S) in [-1, 1]
-- @module gan.models.spade
local core = require("gan.core")
local nn = require("gan.nn")
local F = require("gan.nn.functional")
local optim = require("gan.optim")
local losses = require("gan.losses")
local data = require("gan.data")
local no_grad = require("gan.autograd").no_grad
local config = require("gan.config")
local range, choice = config.range, config.choice
local sn = nn.utils.spectral_norm
local pix2pix = require("gan.models.pix2pix")

local M = require("gan.train.model").define {
   name = "spade",
   summary = "Semantic synthesis: SPADE residual blocks, multi-scale PatchGAN, hinge + feature matching",
   paper = "Park, Liu, Wang & Zhu 2019, Semantic Image Synthesis with Spatially-Adaptive Normalization",
   best = { metric = "fid", mode = "min" },
   defaults = {
      data = { image_size = choice(64, { 32, 64 }), batch_size = 8 },
      model = { nf = range(16, "[1, inf)"), nhidden = range(32, "[1, inf)"), ndf = range(32, "[1, inf)"),
         n_layers = range(3, "[1, inf)"), num_d = range(2, "[1, inf)"), sn = true },
      train = {
         steps = 8000, sample_every = 500, checkpoint_every = 500, eval_samples = 1000,
         feat_match = range(10.0, "[0, inf)"),
         lr_g = range(1e-4, "[0, inf)"), lr_d = range(4e-4, "[0, inf)"), beta1 = range(0.0, "[0, 1)"),
         beta2 = range(0.9, "[0, 1)"),
      },
   },
}

local K = pix2pix.N_LABELS

local function conv(cin, cout, k, use_sn, opts)
   local c = nn.Conv2d(cin, cout, k, opts or { padding = k // 2 })
   return use_sn and sn(c) or c
end

--- Spatially-adaptive normalisation: parameter-free batch norm, then a scale and a bias
-- per pixel from the label map resized (nearest) to x's size.
-- @function SPADE
-- @tparam int channels x's channels
-- @tparam int label_nc the map's channels
-- @tparam int nhidden the shared convolution's channels
-- @treturn Module called as spade(x, map)
local SPADE = nn.class("SPADE", nn.Module)
M.SPADE = SPADE
function SPADE:__init(channels, label_nc, nhidden)
   nn.Module.__init(self)
   self.norm = nn.BatchNorm2d(channels, { affine = false })
   self.shared = nn.Sequential { nn.Conv2d(label_nc, nhidden, 3, { padding = 1 }), nn.ReLU() }
   self.gamma = nn.Conv2d(nhidden, channels, 3, { padding = 1 })
   self.beta = nn.Conv2d(nhidden, channels, 3, { padding = 1 })
end
--- BN(x) * (1 + gamma(map)) + beta(map).
-- @tparam Tensor x (N, C, H, W)
-- @tparam Tensor map (N, label_nc, H', W')
-- @treturn Tensor of x's shape
function SPADE:forward(x, map)
   local m = map
   if m:size(3) ~= x:size(3) or m:size(4) ~= x:size(4) then
      m = F.interpolate(map, { size = { x:size(3), x:size(4) }, mode = "nearest" })
   end
   local h = self.shared(m)
   return self.norm(x) * (self.gamma(h) + 1) + self.beta(h)
end

local ResBlock = nn.class("SPADEResBlock", nn.Module)
function ResBlock:__init(fin, fout, o)
   nn.Module.__init(self)
   local mid = math.min(fin, fout)
   self.norm0, self.conv0 = SPADE(fin, K, o.nhidden), conv(fin, mid, 3, o.sn)
   self.norm1, self.conv1 = SPADE(mid, K, o.nhidden), conv(mid, fout, 3, o.sn)
   if fin ~= fout then
      self.norm_s = SPADE(fin, K, o.nhidden)
      self.conv_s = conv(fin, fout, 1, o.sn, { bias = false })
   end
end
--- The block's two SPADE-ReLU-convolutions plus the (learned when the channels change)
-- shortcut.
-- @tparam Tensor x (N, fin, H, W)
-- @tparam Tensor map the label map
-- @treturn Tensor (N, fout, H, W)
function ResBlock:forward(x, map)
   local s = self.conv_s and self.conv_s(self.norm_s(x, map)) or x
   local h = self.conv0(F.leaky_relu(self.norm0(x, map), 0.2))
   h = self.conv1(F.leaky_relu(self.norm1(h, map), 0.2))
   return s + h
end

local Generator = nn.class("SPADEGenerator", nn.Module)
function Generator:__init(o)
   nn.Module.__init(self)
   local nf, n_up = o.nf, math.tointeger(math.log(o.image_size, 2)) - 2   -- 4x4 -> S
   self.n_up = n_up
   self.head = conv(K, 16 * nf, 3, o.sn)
   self.blocks = nn.ModuleList()
   local ch = 16 * nf
   for i = 1, n_up + 1 do
      local out = math.max(nf, 16 * nf // (2 ^ math.max(0, i - 2)))
      self.blocks:append(ResBlock(ch, out, o))
      ch = out
   end
   self.out = conv(ch, 3, 3, o.sn)
end
--- The image of a one-hot label map.
-- @tparam Tensor map (N, K, S, S)
-- @treturn Tensor (N, 3, S, S) in [-1, 1]
function Generator:forward(map)
   local x = self.head(F.interpolate(map, { size = { 4, 4 }, mode = "nearest" }))
   for i = 1, self.n_up + 1 do
      x = self.blocks[i](x, map)
      if i <= self.n_up then x = F.interpolate(x, { scale_factor = 2, mode = "nearest" }) end
   end
   return self.out(F.leaky_relu(x, 0.2)):tanh()
end

-- One PatchGAN of the multi-scale D, returning every layer's output.
local Patch = nn.class("SPADEPatchD", nn.Module)
function Patch:__init(o)
   nn.Module.__init(self)
   self.layers = nn.ModuleList()
   local c = o.ndf
   self.layers:append(nn.Sequential { conv(K + 3, c, 4, o.sn, { stride = 2, padding = 2 }), nn.LeakyReLU(0.2) })
   for n = 1, o.n_layers do
      local out = o.ndf * math.min(2 ^ n, 8)
      self.layers:append(nn.Sequential { conv(c, out, 4, o.sn, { stride = n < o.n_layers and 2 or 1, padding = 2 }),
         nn.InstanceNorm2d(out), nn.LeakyReLU(0.2) })
      c = out
   end
   self.layers:append(conv(c, 1, 4, o.sn, { padding = 2 }))
end
--- Every layer's output, the last the patch logits.
-- @tparam Tensor x (N, K + 3, H, W)
-- @treturn {Tensor,...}
function Patch:forward(x)
   local feats = {}
   for i = 1, #self.layers do
      x = self.layers[i](x)
      feats[i] = x
   end
   return feats
end

local Discriminator = nn.class("SPADEMultiscaleD", nn.Module)
function Discriminator:__init(o)
   nn.Module.__init(self)
   self.scales = nn.ModuleList()
   for _ = 1, o.num_d do self.scales:append(Patch(o)) end
end
--- The features of each scale's PatchGAN on (map, image), the input halved (3x3 average
-- pooling, stride 2) between scales.
-- @tparam Tensor map (N, K, S, S)
-- @tparam Tensor img (N, 3, S, S)
-- @treturn {{Tensor,...},...} per scale, per layer
function Discriminator:forward(map, img)
   local x = core.cat({ map, img }, 2)
   local out = {}
   for i = 1, #self.scales do
      out[i] = self.scales[i](x)
      if i < #self.scales then x = F.avg_pool2d(x, 3, { stride = 2, padding = 1, count_include_pad = false }) end
   end
   return out
end

--- opts: image_size, nf, nhidden, sn.
function M.Generator(opts) return Generator(opts) end
--- opts: ndf, n_layers, num_d, sn.
function M.Discriminator(opts) return Discriminator(opts) end

--- The feature-matching loss: the mean over scales of the sum over D's inner layers (all
-- but the logits) of the L1 between its features on real and on generated images.
-- @tparam table real D's output on the real pair
-- @tparam table fake D's output on the generated pair
-- @treturn Tensor
function M.feature_matching(real, fake)
   local total
   for s = 1, #fake do
      for l = 1, #fake[s] - 1 do
         local d = (fake[s][l] - real[s][l]:detach()):abs():mean()
         total = total and total + d or d
      end
   end
   return total / #fake
end

local function logits(out)
   local list = {}
   for i, s in ipairs(out) do list[i] = s[#s] end
   return list
end

--- The label-map pairs of OpenMoji (labels2color).
-- @tparam table cfg the resolved config
-- @tparam[opt] string split "train" (default) or "test"
-- @treturn table a dataset
function M.dataset(cfg, split)
   return require("gan.data.openmoji").pairs { input = "labels", split = split or "train", size = cfg.data.image_size }
end

--- Builds G, the multi-scale D and Adam "g" and "d" (TTUR: lr_g, lr_d, betas beta1, beta2).
-- @tparam table cfg the resolved config
function M:build(cfg)
   local m, t = cfg.model, cfg.train
   local G = self:network("G", Generator { image_size = cfg.data.image_size, nf = m.nf, nhidden = m.nhidden, sn = m.sn })
   local D = self:network("D", Discriminator { ndf = m.ndf, n_layers = m.n_layers, num_d = m.num_d, sn = m.sn })
   local betas = { t.beta1, t.beta2 }
   self:optimizer("g", optim.Adam(G:parameters(), { lr = t.lr_g, betas = betas }))
   self:optimizer("d", optim.Adam(D:parameters(), { lr = t.lr_d, betas = betas }))
end

--- The one-hot map and the target image of a batch.
-- @tparam table batch { a = { image = map }, b = { image = target } }
-- @treturn Tensor (N, K, S, S)
-- @treturn Tensor (N, 3, S, S)
function M:pair(batch) return pix2pix.one_hot(batch.a.image), batch.b.image end

--- One hinge D update (the mean over scales), one G update: the hinge G loss plus
-- train.feat_match times feature matching.
function M:train_step(data_, _)
   local t = self.cfg.train
   local map, real = self:pair(data_:next())
   local G, D = self.G, self.D
   local fake = no_grad(G, map)
   local logs = {}
   local loss_d = self:update("d", function()
      local r, f = logits(D(map, real)), logits(D(map, fake))
      local loss
      for i = 1, #r do
         local l = losses.hinge_d(r[i], f[i])
         loss = loss and loss + l or l
      end
      return loss / #r
   end)
   local loss_g = self:update("g", function()
      local out = G(map)
      -- D's features of the real pair first: a spectral-norm forward after the recorded one
      -- would change the vectors that forward saved
      local r = no_grad(D, map, real)
      local f = D(map, out)
      local adv
      for i, l in ipairs(logits(f)) do
         local a = losses.hinge_g(l)
         adv = adv and adv + a or a
      end
      adv = adv / #f
      local fm = M.feature_matching(r, f)
      logs.adv, logs.feat_match = adv:item(), fm:item()
      return adv + fm * t.feat_match
   end, { freeze = D })
   logs.loss_d, logs.loss_g = loss_d:item(), loss_g:item()
   return logs
end

--- Sheets and evaluation as pix2pix's labels2color: input map | output | target, and L1,
-- PSNR and FID on held-out pairs (gan.models.pix2pix).
M.sample = pix2pix.sample
M.evaluate = pix2pix.evaluate

return M
