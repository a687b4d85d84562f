--- pix2pix (Isola et al. 2017): paired image-to-image translation with a conditional GAN.
-- G is the U-Net (skip connections between mirrored levels, dropout in the inner
-- levels, the paper's noise); D is the PatchGAN (70x70 patches at 256 px; a grid of
-- patch logits) and sees the input concatenated with the real or generated output. G
-- minimises the non-saturating cGAN loss plus train.lambda_l1 (100) times the L1 to the
-- target; D's loss is halved (the paper's "divide the objective by 2 while optimising D").
-- With train.gan 0 it is the L1-only baseline (no D).
--
-- Tasks (data.task), each with held-out pairs never trained on:
--   line2color:   OpenMoji line art -> the colour emoji (gan.data.openmoji);
--   labels2color: OpenMoji label maps of 8 classes (one-hot) -> the colour emoji;
--   edges2emoji:  Sobel edges of a vendor's emoji (M.edges) -> the emoji.
--
--     G(x): x (N, in_nc, S, S) -> (N, 3, S, S) in [-1, 1]
-- @module gan.models.pix2pix
local core = require("gan.core")
local nn = require("gan.nn")
local F = require("gan.nn.functional")
local optim = require("gan.optim")
local losses = require("gan.losses")
local blocks = require("gan.nn.blocks")
local data = require("gan.data")
local metrics = require("gan.metrics")
local no_grad = require("gan.autograd").no_grad
local config = require("gan.config")
local image = require("gan.image")
local range, choice = config.range, config.choice

local TASKS = { "line2color", "labels2color", "edges2emoji" }

local M = require("gan.train.model").define {
   name = "pix2pix",
   summary = "Paired translation: U-Net G with dropout, PatchGAN D on (input, output), cGAN + 100 L1",
   paper = "Isola, Zhu, Zhou & Efros 2017, Image-to-Image Translation with Conditional Adversarial Networks",
   best = { metric = "fid", mode = "min" },
   defaults = {
      data = { task = choice("line2color", TASKS), image_size = choice(64, { 32, 64 }), batch_size = 8,
         vendor = choice("google", data.VENDORS) },
      model = { ngf = range(32, "[1, inf)"), ndf = range(32, "[1, inf)"), n_layers = range(3, "[1, inf)") },
      train = {
         steps = 8000, sample_every = 500, checkpoint_every = 500, eval_samples = 1000,
         lambda_l1 = range(100.0, "[0, inf)"),
         -- the weight of the cGAN term (0: the L1-only baseline, no discriminator)
         gan = range(1.0, "[0, inf)"),
         lr = range(2e-4, "[0, inf)"), beta1 = range(0.5, "[0, 1)"), beta2 = range(0.999, "[0, 1)"),
      },
   },
}

--- The number of label classes of labels2color (gan.data.openmoji's).
M.N_LABELS = #require("gan.data.openmoji").CLASSES

--- Edges of images in [-1, 1] (the edges2emoji input): the Sobel gradient magnitude of
-- the luminance (the mean of the channels) above `threshold` (0.5 on the [-1, 1] scale),
-- drawn as black lines (-1) on white (1), like the line art.
-- @tparam Tensor x (N, C, S, S)
-- @tparam[opt=0.5] number threshold
-- @treturn Tensor (N, 1, S, S)
function M.edges(x, threshold)
   local g = x:mean(2, true)
   local kx = core.tensor({ { { { -1, 0, 1 }, { -2, 0, 2 }, { -1, 0, 1 } } } }, { dtype = x.dtype })
   local ky = kx:transpose(3, 4):contiguous()
   local padded = F.pad(g, { 1, 1, 1, 1 }, "replicate")
   local gx, gy = F.conv2d(padded, kx), F.conv2d(padded, ky)
   local mag = (gx * gx + gy * gy):sqrt()
   return 1 - mag:gt(threshold or 0.5):to(x.dtype) * 2
end

--- One-hot channels of a label map loaded as grey levels (class ids / 255).
-- @tparam Tensor map (N, 1, S, S)
-- @treturn Tensor (N, M.N_LABELS, S, S) float32
function M.one_hot(map)
   local ids = (map * 255 + 0.5):floor()
   return ids:eq(core.arange(M.N_LABELS):float():view(1, M.N_LABELS, 1, 1)):float()
end

-- The class ids (N, S, S) of one-hot maps.
local function ids_of(one_hot)
   local _, ids = one_hot:max(2)
   return ids:reshape(one_hot:size(1), one_hot:size(3), one_hot:size(4))
end

local function in_channels(task) return task == "labels2color" and M.N_LABELS or 1 end

--- The pairs of data.task: split "train" (default) or "test".
-- @tparam table cfg the resolved config
-- @tparam[opt] string split
-- @treturn table a dataset
function M.dataset(cfg, split)
   local d = cfg.data
   if d.task == "edges2emoji" then
      return data.emoji { vendor = d.vendor, split = split or "train", size = d.image_size, signed = true }
   end
   return require("gan.data.openmoji").pairs { input = d.task == "line2color" and "line" or "labels",
      split = split or "train", size = d.image_size }
end

--- The (input, target) of a batch of data.task.
-- @tparam table batch as the dataset gives it
-- @treturn Tensor G's input (N, in_nc, S, S)
-- @treturn Tensor the target (N, 3, S, S) in [-1, 1]
function M:pair(batch)
   local task = self.cfg.data.task
   if task == "edges2emoji" then return M.edges(batch.image), batch.image end
   if task == "labels2color" then return M.one_hot(batch.a.image), batch.b.image end
   return batch.a.image, batch.b.image
end

--- Builds the U-Net G, Adam "g" and, with train.gan > 0, the PatchGAN D on (input,
-- output) and Adam "d".
-- @tparam table cfg the resolved config
function M:build(cfg)
   local m, t, d = cfg.model, cfg.train, cfg.data
   local nin = in_channels(d.task)
   local n_downs = math.tointeger(math.log(d.image_size, 2))
   local G = self:network("G", blocks.UnetGenerator { in_nc = nin, out_nc = 3, ngf = m.ngf, n_downs = n_downs,
      dropout = true })
   local betas = { t.beta1, t.beta2 }
   self:optimizer("g", optim.Adam(G:parameters(), { lr = t.lr, betas = betas }))
   if t.gan > 0 then
      local D = self:network("D", blocks.PatchDiscriminator { in_nc = nin + 3, ndf = m.ndf, n_layers = m.n_layers })
      self:optimizer("d", optim.Adam(D:parameters(), { lr = t.lr, betas = betas }))
   end
end

--- D's loss: the cross-entropy of its patch logits on (input, target) as real and
-- (input, output) as fake, halved as in the paper.
-- @param D the PatchGAN
-- @tparam Tensor x the inputs
-- @tparam Tensor y the targets
-- @tparam Tensor fake G's outputs
-- @treturn Tensor the loss
function M.d_loss(D, x, y, fake)
   return losses.minimax_d(D(core.cat({ x, y }, 2)), D(core.cat({ x, fake }, 2))) * 0.5
end

--- One D update on (input, real) and (input, G(input)), halved; one G update on the cGAN
-- term and lambda_l1 times the L1 (the L1 alone with train.gan 0).
function M:train_step(data_, _)
   local t = self.cfg.train
   local x, y = self:pair(data_:next())
   local G, D = self.G, self.D
   local logs = {}
   if D then
      local fake = no_grad(G, x)
      local loss_d = self:update("d", function() return M.d_loss(D, x, y, fake) end)
      logs.loss_d = loss_d:item()
   end
   local loss_g = self:update("g", function()
      local out = G(x)
      local l1 = (out - y):abs():mean()
      logs.l1 = l1:item()
      if not D then return l1 * t.lambda_l1 end
      local adv = losses.nonsaturating_g(D(core.cat({ x, out }, 2)))
      logs.adv = adv:item()
      return adv * t.gan + l1 * t.lambda_l1
   end, D and { freeze = D } or nil)
   logs.loss_g = loss_g:item()
   return logs
end

-- n held-out pairs (input, target) spread evenly over the test split (all of them when n
-- is at least its size): the split is in code-point order, so its first pairs are all flags.
local function held_out(self, n)
   local ds = self.dataset(self.cfg, "test")
   local len = data.len(ds)
   local m = math.min(n, len)
   local idx = core.arange(0, m, 1, { dtype = "float64" }):mul(len / m):floor():to("int64")
   return self:pair(ds:get_batch(idx))
end

-- An input drawn as an image: grey to RGB, a label map in a fixed colour per class.
local function shown(x)
   if x:size(2) ~= M.N_LABELS then return x:expand(x:size(1), 3, x:size(3), x:size(4)):contiguous() end
   local colors = core.tensor({ { 1, 1, 1 }, { -1, -1, -1 }, { 0.98, 0.83, 0.17 }, { 0.84, 0.18, 0.15 },
      { 0.2, 0.45, 0.9 }, { 0.36, 0.62, 0.19 }, { 0.76, 0.6, 0.4 }, { 0.6, 0.6, 0.6 } })   -- (K, 3)
   local N, S = x:size(1), x:size(3)
   local flat = x:permute(1, 3, 4, 2):reshape(N * S * S, M.N_LABELS)   -- one-hot rows
   return flat:matmul(colors):reshape(N, S, S, 3):permute(1, 4, 2, 3):contiguous()
end

--- Its sheet: 8 held-out pairs spread over the test split, each input | output | target.
function M:sample()
   local x, y = held_out(self, 8)
   local out = self.run_eval_chunked(self:sampler("G"), 50, x)
   return image.interleave({ shown(x), out, y }), { nrow = 6 }
end

--- On opts.n held-out pairs (1,000, or all there are; fewer are spread over the split):
-- the L1 and PSNR of G's outputs against the targets, and the FID between outputs and targets on the emoji style
-- classifier's features (the 64x64 emoji reference network), next to the FID of the
-- inputs (drawn as images) for scale. When the inputs are label maps, SPADE's protocol
-- too: the OpenMoji segmenter (gan.data.openmoji.segmenter, trained on real pairs) run
-- on the outputs, its mean IoU with the input maps (miou), and on the real targets
-- (miou_real, the segmenter's own ceiling).
function M:evaluate(opts)
   opts = opts or {}
   local x, y = held_out(self, opts.n or 1000)
   local out = self.run_eval_chunked(self:sampler("G"), 50, x)
   local clf = metrics.classifier("emoji_style")
   local fy = metrics.features(clf, y)
   local res = { n = x:size(1), l1 = (out - y):abs():mean():item(), psnr = metrics.psnr(out, y),
      fid = metrics.fid(metrics.features(clf, out), fy), fid_input = metrics.fid(metrics.features(clf, shown(x)), fy) }
   if x:size(2) == M.N_LABELS then
      local seg = opts.segmenter or require("gan.data.openmoji").segmenter(x:size(3))
      local want = ids_of(x)
      res.miou = metrics.miou(metrics.segment(seg, out), want, M.N_LABELS)
      res.miou_real = metrics.miou(metrics.segment(seg, y), want, M.N_LABELS)
   end
   return res
end

return M
