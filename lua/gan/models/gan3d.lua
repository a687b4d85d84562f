--- 3D-GAN (Wu, Zhang, Xue, Freeman & Tenenbaum 2016): objects as 32^3 occupancy grids
-- generated from z (200) by transposed 3-d convolutions (4^3 kernels, stride 2, batch norm
-- and ReLU; sigmoid at the end) and judged by a mirrored 3-d convolutional D (leaky ReLU,
-- batch norm). The paper's adaptive training: D's update is skipped while its accuracy on
-- the current batch (real above 0.5, fake below) exceeds train.d_skip_acc (0.8). Adam with
-- G's rate of the paper, 0.0025, and D 1e-3 (the paper's 1e-5 let G win outright here:
-- docs/training.md), beta1 0.5. The data: procedural chairs,
-- tables, cups and lamps (gan.data.voxels). Sheets: three depth-shaded views per object.
--
--     G(z): z (N, nz) -> occupancy (N, 1, 32, 32, 32) in (0, 1)
-- @module gan.models.gan3d
local core = require("gan.core")
local nn = require("gan.nn")
local F = require("gan.nn.functional")
local optim = require("gan.optim")
local losses = require("gan.losses")
local metrics = require("gan.metrics")
local no_grad = require("gan.autograd").no_grad
local config = require("gan.config")
local voxels = require("gan.data.voxels")
local range = config.range

local M = require("gan.train.model").define {
   name = "gan3d",
   summary = "3D-GAN: voxel objects from 3-d transposed convolutions, adaptive D updates",
   paper = "Wu, Zhang, Xue, Freeman & Tenenbaum 2016, Learning a Probabilistic Latent Space of Object Shapes via 3D GAN",
   best = { metric = "confident", mode = "max" },
   health = { d_loss = {} },   -- D is paused on purpose when it wins (the adaptive update)
   defaults = {
      data = { batch_size = 32, n_per_class = range(1000, "[1, inf)") },
      model = { nz = range(200, "[1, inf)"), ngf = range(32, "[1, inf)"), ndf = range(32, "[1, inf)") },
      train = {
         steps = 6000, sample_every = 500, checkpoint_every = 500, eval_samples = 1000,
         lr_g = range(0.0025, "[0, inf)"), lr_d = range(1e-3, "[0, inf)"), beta1 = range(0.5, "[0, 1)"),
         beta2 = range(0.999, "[0, 1)"),
         -- D skips its update while its accuracy on the batch is above this (1: never)
         d_skip_acc = range(0.8, "[0, 1]"),
      },
   },
}

--- The generator: z -> 4^3 x 4 ngf -> 8^3 x 2 ngf -> 16^3 x ngf -> 32^3 occupancy.
-- @tparam table o `nz`, `ngf`
-- @treturn Module
function M.Generator(o)
   local c = o.ngf
   return nn.Sequential { nn.Unflatten(2, { o.nz, 1, 1, 1 }),
      nn.ConvTranspose3d(o.nz, 4 * c, 4), nn.BatchNorm3d(4 * c), nn.ReLU(),
      nn.ConvTranspose3d(4 * c, 2 * c, 4, { stride = 2, padding = 1 }), nn.BatchNorm3d(2 * c), nn.ReLU(),
      nn.ConvTranspose3d(2 * c, c, 4, { stride = 2, padding = 1 }), nn.BatchNorm3d(c), nn.ReLU(),
      nn.ConvTranspose3d(c, 1, 4, { stride = 2, padding = 1 }), nn.Sigmoid() }
end

--- The discriminator: 32^3 -> 16^3 x ndf -> 8^3 x 2 ndf -> 4^3 x 4 ndf -> one logit.
-- @tparam table o `ndf`
-- @treturn Module
function M.Discriminator(o)
   local c = o.ndf
   return nn.Sequential { nn.Conv3d(1, c, 4, { stride = 2, padding = 1 }), nn.LeakyReLU(0.2),
      nn.Conv3d(c, 2 * c, 4, { stride = 2, padding = 1 }), nn.BatchNorm3d(2 * c), nn.LeakyReLU(0.2),
      nn.Conv3d(2 * c, 4 * c, 4, { stride = 2, padding = 1 }), nn.BatchNorm3d(4 * c), nn.LeakyReLU(0.2),
      nn.Conv3d(4 * c, 1, 4), nn.Flatten(1) }
end

--- The training split of the procedural objects.
-- @tparam table cfg the resolved config
-- @treturn table a dataset of { image = (1, 32, 32, 32), label }
function M.dataset(cfg)
   return voxels.dataset { split = "train", n_per_class = cfg.data.n_per_class }
end

--- Builds G and D and their Adam optimizers "g" and "d" (train.lr_g, lr_d, beta1, beta2).
-- @tparam table cfg the resolved config
function M:build(cfg)
   local m, t = cfg.model, cfg.train
   local G = self:network("G", M.Generator { nz = m.nz, ngf = m.ngf })
   local D = self:network("D", M.Discriminator { ndf = m.ndf })
   self:optimizer("g", optim.Adam(G:parameters(), { lr = t.lr_g, betas = { t.beta1, t.beta2 } }))
   self:optimizer("d", optim.Adam(D:parameters(), { lr = t.lr_d, betas = { t.beta1, t.beta2 } }))
end

--- z ~ N(0, 1) (n, nz).
-- @tparam int n
-- @tparam[opt] Generator generator
-- @treturn Tensor
function M:latent(n, generator)
   return core.randn({ n, self.cfg.model.nz }, { generator = generator })
end

--- D's accuracy on a batch: real logits above 0 and fake ones below, counted together.
-- @tparam Tensor d_real
-- @tparam Tensor d_fake
-- @treturn number in [0, 1]
function M.d_accuracy(d_real, d_fake)
   local right = d_real:detach():gt(0):double():sum():item() + d_fake:detach():lt(0):double():sum():item()
   return right / (d_real:size(1) + d_fake:size(1))
end

--- D's update unless it is already right on more than train.d_skip_acc of the batch (the
-- paper's adaptive training; logs d_skipped 1 then), then G's non-saturating update.
function M:train_step(data_, _)
   local t = self.cfg.train
   local G, D = self.G, self.D
   local real = data_:next().image
   local z = self:latent(real:size(1), self.rng)
   local fake = no_grad(G, z)
   local logs = {}
   local acc = no_grad(function() return M.d_accuracy(D(real), D(fake)) end)
   logs.d_acc = acc
   if acc > t.d_skip_acc then
      logs.d_skipped = 1
   else
      logs.d_skipped = 0
      logs.loss_d = self:update("d", function() return losses.minimax_d(D(real), D(fake)) end):item()
   end
   logs.loss_g = self:update("g", function() return losses.nonsaturating_g(D(G(z))) end, { freeze = D }):item()
   return logs
end

--- Objects as images for sheets, `gan sample` and `gan interpolate`: each as three
-- depth-shaded views (front, side, top) side by side, in [-1, 1].
-- @tparam Tensor vox (N, 1, S, S, S) occupancy
-- @treturn Tensor (N, 3, S, 3 S)
function M:to_images(vox) return voxels.views(vox) * 2 - 1 end

--- 32 objects from fixed latents (M:to_images), 4 per row.
function M:sample()
   return self:to_images(self.run_eval(self:sampler("G"), self:fixed_latent(32))), { nrow = 4 }
end

--- IoU of each sample (occupancy above 0.5) with its nearest training object.
-- @tparam Tensor samples (N, 1, S, S, S)
-- @tparam Tensor train (M, 1, S, S, S) in {0, 1}
-- @treturn {number,...} per sample
function M.nearest_iou(samples, train)
   local a = samples:gt(0.5):float():reshape(samples:size(1), -1)
   local b = train:reshape(train:size(1), -1):float()
   local inter = a:matmul(b:t())                                  -- (N, M)
   local union = a:sum(2, true) + b:sum(2):view(1, -1) - inter
   local iou = inter / union:clamp(1, math.huge)
   local best = iou:max(2)
   return best:reshape(-1):double():totable()
end

--- On opts.n samples (1,000): the voxel classifier's (gan.data.voxels.classifier) share of
-- confident samples (probability >= 0.9) and class histogram, and the IoU of each sample
-- with its nearest training object: its mean and the share below 0.9 (not a copy).
function M:evaluate(opts)
   opts = opts or {}
   local n = opts.n or 1000
   local G = self:sampler("G")
   local g = core.Generator(12345)
   local parts = {}
   for s = 1, n, 100 do parts[#parts + 1] = self.run_eval(G, self:latent(math.min(100, n - s + 1), g)) end
   local x = core.cat(parts, 1)
   local clf = voxels.classifier(x:size(3))
   local probs = no_grad(function() return F.softmax(clf(x:gt(0.5):float()), 2) end):double()
   local conf, hist = metrics.class_histogram(probs, 0.9)
   local res = { n_samples = n, confident = conf, occupancy = x:gt(0.5):float():mean():item() }
   for c, v in ipairs(hist) do res["class_" .. voxels.CLASSES[c]] = v end
   local ious = M.nearest_iou(x, self.dataset(self.cfg).images)
   local sum, novel = 0, 0
   for _, v in ipairs(ious) do sum = sum + v; if v < 0.9 then novel = novel + 1 end end
   res.nearest_iou, res.novel = sum / #ious, novel / #ious
   return res
end

return M
