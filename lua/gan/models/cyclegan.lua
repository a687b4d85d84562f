--- CycleGAN (Zhu et al., 2017): two generators translating between unpaired domains A and
-- B, each judged by a PatchGAN discriminator of its target domain, held to invert each
-- other by the cycle loss. As in the paper: ResNet generators (or U-Net), 70x70 PatchGAN
-- discriminators with instance norm, LSGAN losses, cycle L1 with lambda 10, identity L1
-- with 0.5 lambda, image pools of 50, Adam 2e-4 (0.5, 0.999) with a constant rate for
-- the first part of training and a linear decay to 0 over the rest, batch 1, N(0, 0.02)
-- initialisation. Domains: two emoji vendors (Google <-> Twitter by default), composited
-- on white and flipped at random; the test code points (about 10%) are never trained on
-- and pair up across domains, so translations are measured against the real drawing.
-- @module gan.models.cyclegan
local core = require("gan.core")
local data = require("gan.data")
local optim = require("gan.optim")
local blocks = require("gan.nn.blocks")
local metrics = require("gan.metrics")
local image = require("gan.image")
local ImagePool = require("gan.train.pool")
local stack = require("gan.tensor").stack
local is_tensor = require("gan.tensor").is_tensor
local config = require("gan.config")
local range, choice = config.range, config.choice

local M = require("gan.train.model").define {
   name = "cyclegan",
   summary = "CycleGAN: unpaired image-to-image translation with cycle consistency",
   paper = "Zhu, Park, Isola & Efros 2017, Unpaired Image-to-Image Translation using CycleGANs",
   health = { d_loss = { "loss_d_a", "loss_d_b" } },
   defaults = {
      -- a, b: the emoji vendors of the two domains
      data = { a = choice("google", data.VENDORS), b = choice("twitter", data.VENDORS),
         image_size = choice(64, require("gan.models.dcgan").SIZES), batch_size = 1, flip = true },
      -- n_blocks: residual blocks of the ResNet generator; n_downs: the U-Net's depth
      model = { generator = choice("resnet", { "resnet", "unet" }), ngf = range(32, "[1, inf)"),
         n_blocks = range(6, "[0, inf)"), n_downs = range(6, "[5, inf)"), ndf = range(32, "[1, inf)"),
         n_layers = range(3, "[1, inf)") },
      train = {
         steps = 1000, sample_every = 250, checkpoint_every = 500,
         -- the learning rate is constant until decay_start, then decays linearly to 0
         decay_start = range(500, "[0, inf)"), lr = range(2e-4, "[0, inf)"), beta1 = range(0.5, "[0, 1)"),
         beta2 = range(0.999, "[0, 1)"), lambda_cycle = range(10.0, "[0, inf)"),
         lambda_identity = range(0.5, "[0, inf)"), pool = range(50, "[0, inf)"),
         n_samples = range(8, "[1, inf)"),   -- held-out pairs in the sample sheets
      },
   },
}

-- The emoji of one domain, restricted to the code points both vendors draw (so that the
-- test split pairs up by code point).
local function domain(cfg, vendor, split, flip)
   return data.for_gan("emoji", { vendor = vendor, split = split, image_size = cfg.data.image_size, flip = flip,
      require_vendors = { cfg.data.a, cfg.data.b } })
end

--- The training emoji of both domains, sampled independently (unpaired).
-- @tparam table cfg the resolved config
-- @treturn table a dataset
function M.dataset(cfg)
   local d = cfg.data
   return data.unpaired(domain(cfg, d.a, "train", d.flip), domain(cfg, d.b, "train", d.flip),
      { seed = cfg.train.seed })
end

--- The held-out emoji of both domains as two paired (N, 3, S, S) tensors in [-1, 1]: the
-- same code points, drawn in each style.
-- @tparam table cfg the resolved config
-- @treturn Tensor domain A's images
-- @treturn Tensor domain B's images of the same code points
function M.test_pairs(cfg)
   local out = {}
   for k, v in ipairs { cfg.data.a, cfg.data.b } do
      local ds = domain(cfg, v, "test", false)
      local imgs = {}
      for i = 1, #ds do imgs[i] = ds:get(i).image end
      out[k] = stack(imgs, 1)
   end
   return out[1], out[2]
end

local function generator(m)
   if m.generator == "resnet" then return blocks.ResnetGenerator { ngf = m.ngf, n_blocks = m.n_blocks } end
   if m.generator == "unet" then return blocks.UnetGenerator { ngf = m.ngf, n_downs = m.n_downs } end
   error(("cyclegan: model.generator must be 'resnet' or 'unet', got '%s'"):format(tostring(m.generator)), 0)
end

-- The side of the PatchGAN's output for images of side s: n_layers stride-2 4x4
-- convolutions (padding 1), then two of stride 1.
local function patch_side(s, n_layers)
   for _ = 1, n_layers do
      if s < 1 then break end
      s = (s - 2) // 2 + 1
   end
   return s - 2
end

-- k * 2^n as a message shows it: the number while it is an exact integer, else the formula.
local function times_pow2(k, n) return n <= 60 and tostring(k << n) or ("%d * 2^%d"):format(k, n) end

local function params_of(...)
   local ps = {}
   for _, net in ipairs { ... } do
      for _, p in ipairs(net:parameters()) do ps[#ps + 1] = p end
   end
   return ps
end

--- Builds the generators G_AB and G_BA, the PatchGAN discriminators D_A and D_B, one Adam
-- optimizer "g" for both generators and one "d" for both discriminators (each with a
-- linear decay to 0 after train.decay_start), and the image pools when train.pool > 0.
-- @tparam table cfg the resolved config
-- @raise when train.decay_start is outside [0, train.steps] or data.image_size is too small
--  for model.n_downs or model.n_layers
function M:build(cfg)
   local m, t = cfg.model, cfg.train
   if t.decay_start < 0 or t.decay_start > t.steps then
      error(("cyclegan: train.decay_start must be between 0 and train.steps (%d), got %d"):format(t.steps,
         t.decay_start), 0)
   end
   -- the networks' depths against the image size (else the first step fails inside a conv)
   local size = cfg.data.image_size
   if m.generator == "unet" and size < 2 ^ m.n_downs then
      error(("cyclegan: data.image_size (%d) is too small for the U-Net's model.n_downs (%d): it needs at least %s")
         :format(size, m.n_downs, times_pow2(1, m.n_downs)), 0)
   end
   if patch_side(size, m.n_layers) < 1 then
      error(("cyclegan: data.image_size (%d) is too small for the discriminator's model.n_layers (%d): it needs at "
         .. "least %s"):format(size, m.n_layers, times_pow2(3, m.n_layers)), 0)
   end
   local G_AB = self:network("G_AB", generator(m))
   local G_BA = self:network("G_BA", generator(m))
   local D_A = self:network("D_A", blocks.PatchDiscriminator { ndf = m.ndf, n_layers = m.n_layers })
   local D_B = self:network("D_B", blocks.PatchDiscriminator { ndf = m.ndf, n_layers = m.n_layers })
   local betas = { t.beta1, t.beta2 }
   local opt_g = optim.Adam(params_of(G_AB, G_BA), { lr = t.lr, betas = betas })
   local opt_d = optim.Adam(params_of(D_A, D_B), { lr = t.lr, betas = betas })
   local decay = { n_constant = t.decay_start, n_decay = math.max(1, t.steps - t.decay_start) }
   self:optimizer("g", opt_g, { scheduler = optim.lr_scheduler.LinearDecay(opt_g, decay) })
   self:optimizer("d", opt_d, { scheduler = optim.lr_scheduler.LinearDecay(opt_d, decay) })
   if t.pool > 0 then
      self.pool_a = self:state("pool_a", ImagePool(t.pool, { seed = t.seed + 1 }))
      self.pool_b = self:state("pool_b", ImagePool(t.pool, { seed = t.seed + 2 }))
   end
end

local function l1(x, y) return (x - y):abs():mean() end
local function lsq(d, target) return ((d - target) ^ 2):mean() end
local function mean_of(t) return t:detach():double():mean():item() end

--- Both generators against the frozen discriminators (LSGAN, cycle and identity L1),
-- then both discriminators on real images and on pooled fakes, halved.
-- @tparam table data_ the batches: data_:next() gives the next one
-- @param _ the step (unused)
-- @treturn table the scalars to log
function M:train_step(data_, _)
   local batch = data_:next()
   local A, B = batch.a, batch.b
   if not is_tensor(A) then A, B = A.image, B.image end   -- batches of samples { image = }
   local G_AB, G_BA, D_A, D_B = self.G_AB, self.G_BA, self.D_A, self.D_B
   local lc, li = self.cfg.train.lambda_cycle, self.cfg.train.lambda_identity
   local logs = {}
   local loss_g, fake_B, fake_A = self:update("g", function()
      local fake_B, fake_A = G_AB(A), G_BA(B)
      local rec_A, rec_B = G_BA(fake_B), G_AB(fake_A)
      local gan_ab, gan_ba = lsq(D_B(fake_B), 1), lsq(D_A(fake_A), 1)
      local cyc_a, cyc_b = l1(rec_A, A), l1(rec_B, B)
      local loss = gan_ab + gan_ba + (cyc_a + cyc_b) * lc
      if li > 0 then
         local idt_b, idt_a = l1(G_AB(B), B), l1(G_BA(A), A)
         loss = loss + (idt_a + idt_b) * (lc * li)
         logs.idt_a, logs.idt_b = idt_a:item(), idt_b:item()
      end
      logs.gan_ab, logs.gan_ba, logs.cyc_a, logs.cyc_b = gan_ab:item(), gan_ba:item(), cyc_a:item(), cyc_b:item()
      return loss, fake_B, fake_A
   end, { freeze = { D_A, D_B } })
   local loss_d = self:update("d", function()
      local fB = self.pool_b and self.pool_b:query(fake_B) or fake_B:detach()
      local fA = self.pool_a and self.pool_a:query(fake_A) or fake_A:detach()
      local dB_real, dA_real = D_B(B), D_A(A)
      local loss_d_b = (lsq(dB_real, 1) + lsq(D_B(fB), 0)) * 0.5
      local loss_d_a = (lsq(dA_real, 1) + lsq(D_A(fA), 0)) * 0.5
      logs.loss_d_a, logs.loss_d_b = loss_d_a:item(), loss_d_b:item()
      logs.d_real = 0.5 * (mean_of(dA_real) + mean_of(dB_real))
      return loss_d_a + loss_d_b
   end)
   logs.loss_g, logs.loss_d = loss_g:item(), loss_d:item()
   return logs
end

-- The translations of paired images a and b: rows input | translation | reconstruction |
-- the other domain's drawing, A to B then B to A, for the given indices (1-based).
local function sheet_rows(a, b, t, idx)
   local rows = {}
   for _, j in ipairs(idx) do for _, x in ipairs { a[j], t.ab[j], t.aba[j], b[j] } do rows[#rows + 1] = x end end
   for _, j in ipairs(idx) do for _, x in ipairs { b[j], t.ba[j], t.bab[j], a[j] } do rows[#rows + 1] = x end end
   return stack(rows, 1)
end

-- k indices spread over n items (1-based).
local function spread(n, k)
   local idx = {}
   for i = 1, k do idx[i] = (i - 1) * n // k + 1 end
   return idx
end

local function translate(self, a, b)
   local ab, ba = M.run_eval(self.G_AB, a), M.run_eval(self.G_BA, b)
   return { ab = ab, ba = ba, aba = M.run_eval(self.G_BA, ab), bab = M.run_eval(self.G_AB, ba) }
end

--- The pairs in self.samples = { a =, b = } (by default train.n_samples held-out pairs
-- spread over the test split), 4 images per row (input | translation | reconstruction |
-- real drawing of the other style), A to B then B to A.
function M:sample()
   if not self.samples then
      local a, b = M.test_pairs(self.cfg)
      local n = math.min(self.cfg.train.n_samples, a:size(1))
      local pick = {}
      for i, j in ipairs(spread(a:size(1), n)) do pick[i] = j - 1 end
      pick = core.tensor(pick, { dtype = "int64" })
      self.samples = { a = a:index_select(1, pick), b = b:index_select(1, pick) }
   end
   local a, b = self.samples.a, self.samples.b
   local idx = {}
   for i = 1, a:size(1) do idx[i] = i end
   return sheet_rows(a, b, translate(self, a, b), idx), { nrow = 4 }
end

--- Both generators on all held-out pairs (gan.metrics.evaluate_translation): paired L1
-- and PSNR against the real drawing next to the untranslated baseline, cycle L1, and
-- with the emoji-style classifier (shipped, or opts.classifier) the share of
-- translations in the target style and FID on its features. With opts.dir, also writes
-- dir/eval.png (rows as the sample sheets, up to opts.sheet (16) pairs each way).
-- @tparam[opt] table opts `classifier` (the shipped emoji-style one), `dir` (none), `sheet` (16)
-- @treturn table metric name -> number
function M:evaluate(opts)
   opts = opts or {}
   local a, b = M.test_pairs(self.cfg)
   local clf = opts.classifier
   if not clf then
      local w = metrics.weights_path("emoji_style")
      local f = io.open(w, "rb")
      if f then f:close(); clf = w end
   end
   local res, t = metrics.evaluate_translation(self.G_AB, self.G_BA, a, b, { classifier = clf })
   res.classifier = clf or "none"
   res.reference = ("emoji test code points, %s <-> %s"):format(self.cfg.data.a, self.cfg.data.b)
   if opts.dir then
      local rows = sheet_rows(a, b, t, spread(res.n, math.min(opts.sheet or 16, res.n)))
      image.save_grid(opts.dir .. "/eval.png", rows, { nrow = 4, range = { -1, 1 } })
   end
   return res
end

return M
