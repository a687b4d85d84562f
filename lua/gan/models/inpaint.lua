--- Image inpainting (Pathak et al. 2016, context encoders; Iizuka et al. 2017, globally
-- and locally consistent completion): a random rectangular hole per image; G sees the
-- image with the hole blanked (0) and the mask as a fourth channel, and its output is
-- pasted into the hole. G is Iizuka et al.'s completion network at small scale: two
-- stride-2 convolutions, dilated convolutions (1, 2, 4, 8) at a quarter of the size, two
-- transposed convolutions. The reconstruction loss is the squared error in the hole with
-- the hole's border band (train.overlap pixels) weighted train.border_weight (10) as the
-- context encoder's. Two discriminators judge the completed image: a global one on the
-- whole and a local one on a crop of half the size centred on the hole; their features
-- are concatenated into one decision (Iizuka et al.). Training follows Iizuka et al.'s
-- three phases: train.phase_c steps of reconstruction alone, then train.phase_d steps of
-- D alone, then both with the adversarial weight train.alpha (0.0004). With train.alpha 0
-- the model is the reconstruction-only baseline.
--
--     G(x): x (N, C + 1, S, S) = image with the hole at 0 and the mask -> image (N, C, S, S)
-- @module gan.models.inpaint
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
   name = "inpaint",
   summary = "Inpainting: completion network, weighted-border reconstruction, global and local D, three phases",
   paper = "Pathak et al. 2016, Context Encoders; Iizuka, Simo-Serra & Ishikawa 2017, Globally and Locally Consistent Image Completion",
   best = { metric = "psnr_hole", mode = "max" },
   defaults = {
      data = { name = choice("fashion_mnist", { "fashion_mnist", "mnist", "emoji" }), image_size = choice(32, { 32, 64 }),
         batch_size = 64, vendor = choice("google", data.VENDORS) },
      model = { ngf = range(32, "[1, inf)"), ndf = range(32, "[1, inf)") },
      train = {
         steps = 6000, sample_every = 500, checkpoint_every = 500, eval_samples = 2000,
         -- hole sides, as fractions of the image side
         hole_min = range(0.25, "(0, 1]"), hole_max = range(0.5, "(0, 1]"),
         overlap = range(2, "[0, inf)"), border_weight = range(10.0, "[0, inf)"),
         phase_c = range(2000, "[0, inf)"), phase_d = range(500, "[0, inf)"),
         alpha = range(0.0004, "[0, inf)"),
         lr = range(2e-4, "[0, inf)"), beta1 = range(0.5, "[0, 1)"), beta2 = range(0.999, "[0, 1)"),
      },
   },
}

-- The (n, 1, S, S) float32 mask of the rectangles { top, left, h, w } (0-based), 1 inside.
local function rect_mask(rects, S)
   local n = #rects
   local cols = { {}, {}, {}, {} }
   for i, r in ipairs(rects) do for k = 1, 4 do cols[k][i] = r[k] end end
   local pos = core.arange(0, S, 1):float()
   local function span(starts, sizes, p)
      local s = core.tensor(starts):view(n, 1, 1, 1)
      return p:ge(s):float() * p:lt(s + core.tensor(sizes):view(n, 1, 1, 1)):float()
   end
   return span(cols[1], cols[3], pos:view(1, 1, S, 1)) * span(cols[2], cols[4], pos:view(1, 1, 1, S))
end

--- Random rectangular holes: for n images of size S, sides uniform in [hole_min S,
-- hole_max S] pixels and positions uniform inside the image, drawn from `generator`.
-- Returns the mask (n, 1, S, S) float32 (1 in the hole) and the holes as a list of
-- { top, left, h, w } (0-based).
function M.holes(n, S, hole_min, hole_max, generator)
   local lo, hi = math.max(1, math.floor(hole_min * S + 0.5)), math.max(1, math.floor(hole_max * S + 0.5))
   if lo > hi then error(("inpaint: train.hole_min (%g) is above train.hole_max (%g)"):format(hole_min, hole_max), 0) end
   local u = core.rand({ n, 4 }, { dtype = "float64", generator = generator }):totable()
   local rects = {}
   for i = 1, n do
      local h = lo + math.min(hi - lo, math.floor(u[i][1] * (hi - lo + 1)))
      local w = lo + math.min(hi - lo, math.floor(u[i][2] * (hi - lo + 1)))
      rects[i] = { math.min(S - h, math.floor(u[i][3] * (S - h + 1))), math.min(S - w, math.floor(u[i][4] * (S - w + 1))), h, w }
   end
   return rect_mask(rects, S), rects
end

--- The weights of the reconstruction loss: `border_weight` on hole pixels within
-- `overlap` pixels of the hole's edge, 1 on the rest of the hole, 0 outside.
function M.loss_weights(mask, rects, overlap, border_weight)
   if overlap <= 0 or border_weight == 1 then return mask end
   local inner = {}
   for i, r in ipairs(rects) do
      inner[i] = { r[1] + overlap, r[2] + overlap, math.max(0, r[3] - 2 * overlap), math.max(0, r[4] - 2 * overlap) }
   end
   return mask * border_weight - rect_mask(inner, mask:size(3)) * (border_weight - 1)
end

--- The weighted squared error of `out` against `target` with weights (N, 1, S, S) as
-- M.loss_weights gives, normalised by the weights' sum (times the channels).
function M.reconstruction_loss(out, target, weights)
   local sq = (out - target) ^ 2
   return (sq * weights):sum() / (weights:sum() * out:size(2))
end

-- The completion network.
local function generator(o)
   local c, nc = o.ngf, o.nc
   local function conv(cin, cout, k, opts)
      opts = opts or {}
      return { nn.Conv2d(cin, cout, k, { stride = opts.stride, padding = opts.padding or (k // 2) * (opts.dilation or 1),
         dilation = opts.dilation }), nn.BatchNorm2d(cout), nn.ReLU() }
   end
   local layers = {}
   local function add(list) for _, l in ipairs(list) do layers[#layers + 1] = l end end
   add(conv(nc + 1, c, 5))
   add(conv(c, 2 * c, 3, { stride = 2, padding = 1 }))
   add(conv(2 * c, 4 * c, 3, { stride = 2, padding = 1 }))
   for _, d in ipairs { 1, 2, 4, 8 } do add(conv(4 * c, 4 * c, 3, { dilation = d })) end
   add { nn.ConvTranspose2d(4 * c, 2 * c, 4, { stride = 2, padding = 1 }), nn.BatchNorm2d(2 * c), nn.ReLU() }
   add { nn.ConvTranspose2d(2 * c, c, 4, { stride = 2, padding = 1 }), nn.BatchNorm2d(c), nn.ReLU() }
   add { nn.Conv2d(c, nc, 3, { padding = 1 }), nn.Tanh() }
   return nn.Sequential(layers)
end

-- A strided convolutional trunk from size S down to 4x4, flattened.
local function trunk(nc, ndf, S)
   local layers, c = { nn.Conv2d(nc, ndf, 4, { stride = 2, padding = 1 }), nn.LeakyReLU(0.2) }, ndf
   local size = S // 2
   while size > 4 do
      layers[#layers + 1] = nn.Conv2d(c, 2 * c, 4, { stride = 2, padding = 1 })
      layers[#layers + 1] = nn.BatchNorm2d(2 * c)
      layers[#layers + 1] = nn.LeakyReLU(0.2)
      c, size = 2 * c, size // 2
   end
   layers[#layers + 1] = nn.Flatten()
   return nn.Sequential(layers), c * 16
end

local Discriminator = nn.class("InpaintDiscriminator", nn.Module)
function Discriminator:__init(o)
   nn.Module.__init(self)
   local fg, fl
   self.global, fg = trunk(o.nc, o.ndf, o.image_size)
   self.local_, fl = trunk(o.nc, o.ndf, o.image_size // 2)
   self.head = nn.Linear(fg + fl, 1)
end
--- The logit of (whole image x, local crop around the hole).
function Discriminator:forward(x, crop)
   return self.head(core.cat({ self.global(x), self.local_(crop) }, 2)):reshape(x:size(1))
end

--- Crops of half the image side centred on each hole (clamped inside the image).
function M.local_crops(x, rects)
   local S = x:size(3)
   local L = S // 2
   local parts = {}
   for i, r in ipairs(rects) do
      local cy, cx = r[1] + r[3] / 2, r[2] + r[4] / 2
      local top = math.max(0, math.min(S - L, math.floor(cy - L / 2 + 0.5)))
      local left = math.max(0, math.min(S - L, math.floor(cx - L / 2 + 0.5)))
      parts[i] = x:narrow(1, i, 1):narrow(3, top + 1, L):narrow(4, left + 1, L)
   end
   return core.cat(parts, 1)
end

--- G's input: the image with the hole at 0 and the mask as the last channel.
function M.masked_input(x, mask)
   return core.cat({ x * (1 - mask), mask }, 2)
end

--- G's output pasted into the hole of x.
function M.complete(x, out, mask)
   return x * (1 - mask) + out * mask
end

--- The training split of data.name at data.image_size (the test split is held out).
-- @tparam table cfg the resolved config
-- @treturn table a dataset
function M.dataset(cfg)
   return data.for_gan(cfg.data.name, { image_size = cfg.data.image_size, vendor = cfg.data.vendor, split = "train" })
end

--- Builds G, its Adam optimizer "g" and, with train.alpha > 0, the global-and-local D
-- with its optimizer "d".
-- @tparam table cfg the resolved config
function M:build(cfg)
   local m, t, d = cfg.model, cfg.train, cfg.data
   local nc = data.channels(d.name)
   local G = self:network("G", generator { nc = nc, ngf = m.ngf })
   local betas = { t.beta1, t.beta2 }
   self:optimizer("g", optim.Adam(G:parameters(), { lr = t.lr, betas = betas }))
   if t.alpha > 0 then
      local D = self:network("D", Discriminator { nc = nc, ndf = m.ndf, image_size = d.image_size })
      self:optimizer("d", optim.Adam(D:parameters(), { lr = t.lr, betas = betas }))
   end
end

--- The three phases: reconstruction only (steps up to phase_c), D only (the next
-- phase_d steps), then both; with alpha 0, reconstruction throughout.
function M:train_step(data_, step)
   local t = self.cfg.train
   local x = data_:next().image
   local mask, rects = M.holes(x:size(1), x:size(3), t.hole_min, t.hole_max, self.rng)
   local weights = M.loss_weights(mask, rects, t.overlap, t.border_weight)
   local input = M.masked_input(x, mask)
   local G, D = self.G, self.D
   local logs = {}
   local adversarial = t.alpha > 0 and step > t.phase_c
   if adversarial then
      local done = no_grad(function() return M.complete(x, G(input), mask) end)
      local loss_d = self:update("d", function()
         return losses.minimax_d(D(x, M.local_crops(x, rects)), D(done, M.local_crops(done, rects)))
      end)
      logs.loss_d = loss_d:item()
   end
   if not adversarial or step > t.phase_c + t.phase_d then
      local loss = self:update("g", function()
         local out = G(input)
         local rec = M.reconstruction_loss(out, x, weights)
         logs.rec = rec:item()
         if not adversarial then return rec end
         local done = M.complete(x, out, mask)
         local adv = losses.nonsaturating_g(D(done, M.local_crops(done, rects)))
         logs.adv = adv:item()
         return rec + adv * t.alpha
      end, D and { freeze = D } or nil)
      logs.loss_g = loss:item()
   end
   return logs
end

-- Held-out images (the test split) with their labels when the data set has them, and
-- fixed holes (seed 2017).
local function held_out(self, n)
   local c, t = self.cfg.data, self.cfg.train
   local ds = data.for_gan(c.name, { image_size = c.image_size, vendor = c.vendor, split = "test" })
   local m = math.min(n, data.len(ds))
   local b = ds:get_batch(core.arange(0, m, 1, { dtype = "int64" }))
   local mask, rects = M.holes(m, c.image_size, t.hole_min, t.hole_max, core.Generator(2017))
   return b.image, b.label, mask, rects
end

local function completed(self, x, mask)
   return M.complete(x, self.run_eval_chunked(self:sampler("G"), 200, M.masked_input(x, mask)), mask)
end

--- Its sheet: 8 held-out images per row triple: holed input | completion | original.
function M:sample()
   local x, _, mask = held_out(self, 16)
   local done = completed(self, x, mask)
   return image.interleave({ x * (1 - mask), done, x }), { nrow = 6 }
end

--- On opts.n held-out images (2,000 of the test split, fixed holes): the PSNR inside the
-- hole of the completion and of the holed input (the hole at 0, mid-grey), the L1 in the
-- hole, and for labelled data the reference classifier's accuracy on the whole images,
-- the holed ones and the completed ones.
function M:evaluate(opts)
   opts = opts or {}
   local x, labels, mask = held_out(self, opts.n or 2000)
   local done = completed(self, x, mask)
   local holed = x * (1 - mask)
   local res = { n = x:size(1), psnr_hole = metrics.psnr(done, x, { mask = mask }),
      psnr_hole_blank = metrics.psnr(holed, x, { mask = mask }),
      l1_hole = ((done - x):abs() * mask):sum():item() / (mask:sum():item() * x:size(2)) }
   if labels and (self.cfg.data.name == "mnist" or self.cfg.data.name == "fashion_mnist") then
      local clf = metrics.classifier(self.cfg.data.name)
      local function acc(imgs)
         local _, probs = metrics.features(clf, imgs)
         return metrics.class_accuracy(probs, labels)
      end
      res.accuracy_whole, res.accuracy_holed, res.accuracy_inpainted = acc(x), acc(holed), acc(done)
   end
   return res
end

return M
