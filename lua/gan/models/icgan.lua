--- Invertible conditional GAN (Perarnau, van de Weijer, Raducanu & Alvarez 2016): a
-- conditional GAN G(z, y), D(x, y) (DCGAN's networks, the one-hot class concatenated to
-- z and as constant planes to D's input), and two encoders trained beside it: E_z maps an
-- image back to its latent (trained on generated triples: E_z(G(z, y)) ~ z, squared
-- error) and E_y predicts its class (trained on real labelled images). Attribute editing:
-- x' = G(E_z(x), y'), the style from x, the attribute y' changed. Data: MNIST digits (edit
-- the class, keep the handwriting) or emoji in six skin tones (data.name = "emoji_skin":
-- edit the tone, measured against the real drawing in that tone).
-- @module gan.models.icgan
local core = require("gan.core")
local nn = require("gan.nn")
local F = require("gan.nn.functional")
local data = require("gan.data")
local optim = require("gan.optim")
local losses = require("gan.losses")
local blocks = require("gan.nn.blocks")
local metrics = require("gan.metrics")
local no_grad = require("gan.autograd").no_grad
local stack = require("gan.tensor").stack
local config = require("gan.config")
local range, choice = config.range, config.choice

local M = require("gan.train.model").define {
   name = "icgan",
   summary = "Invertible conditional GAN: encoders to z and y, attribute editing G(E_z(x), y')",
   paper = "Perarnau, van de Weijer, Raducanu & Alvarez 2016, Invertible Conditional GANs for image editing",
   health = { d_loss = { "loss_d" } },
   defaults = {
      -- the classes are the data's (10 digits, 6 skin tones); DCGAN's networks and sizes
      data = { name = choice("mnist", { "mnist", "emoji_skin" }), image_size = choice(32, require("gan.models.dcgan").SIZES),
         batch_size = 64 },
      model = { nz = range(64, "[1, inf)"), ngf = range(32, "[1, inf)"), ndf = range(32, "[1, inf)") },
      train = { steps = 6000, lr = range(2e-4, "[0, inf)"), beta1 = range(0.5, "[0, 1)"), beta2 = range(0.999, "[0, 1)"),
         sample_every = 1000, checkpoint_every = 2000 },
   },
}

local function classes(cfg) return cfg.data.name == "emoji_skin" and 6 or 10 end
local function channels(cfg) return cfg.data.name == "emoji_skin" and 3 or 1 end

local Generator = nn.class("ICGANGenerator", nn.Module)
function Generator:__init(nz, k, opts)
   nn.Module.__init(self)
   self.nz, self.k = nz, k
   self.net = blocks.DCGANGenerator { nz = nz + k, ngf = opts.ngf, nc = opts.nc, image_size = opts.image_size }
end
--- z (N, nz), y int64 (N) -> images (N, nc, S, S).
-- @tparam Tensor z
-- @tparam Tensor y
-- @treturn Tensor
function Generator:forward(z, y)
   local h = core.cat({ z, F.one_hot(y, self.k, z.dtype) }, 2)
   return self.net(h:view(h:size(1), h:size(2), 1, 1))
end

-- The class as constant planes next to the image's channels.
local function with_planes(x, y, k)
   local oh = F.one_hot(y, k, x.dtype):view(x:size(1), k, 1, 1):expand(x:size(1), k, x:size(3), x:size(4))
   return core.cat({ x, oh }, 2)
end

local Discriminator = nn.class("ICGANDiscriminator", nn.Module)
function Discriminator:__init(k, opts)
   nn.Module.__init(self)
   self.k = k
   self.net = blocks.DCGANDiscriminator { ndf = opts.ndf, nc = opts.nc + k, image_size = opts.image_size }
end
--- D's logits for images x with their labels appended as k one-hot planes.
-- @tparam Tensor x (N, nc, S, S)
-- @tparam Tensor y int64 class labels (N), 0-based
-- @treturn Tensor D's output for each image (DCGAN's discriminator)
function Discriminator:forward(x, y) return self.net(with_planes(x, y, self.k)) end

-- An encoder: DCGAN's discriminator trunk to 4x4, then a linear map to `out` values.
local function encoder(opts, out)
   local trunk = blocks.DCGANDiscriminator { ndf = opts.ndf, nc = opts.nc, image_size = opts.image_size }
   local layers = {}
   for i = 1, #trunk - 2 do layers[i] = trunk[i] end
   layers[#layers + 1] = nn.Flatten()
   layers[#layers + 1] = nn.Linear(opts.ndf * (opts.image_size // 8) * 16, out)
   return nn.Sequential(layers)
end

--- Labelled training images: MNIST's training split or the skin-tone emoji's (composited
-- on white), in [-1, 1] at data.image_size.
-- @tparam table cfg the resolved config
-- @treturn table a dataset
function M.dataset(cfg)
   local d = cfg.data
   if d.name == "emoji_skin" then
      return data.emoji_skin { split = "train", size = d.image_size, signed = true }
   elseif d.name == "mnist" then
      return data.for_gan("mnist", { split = "train", image_size = d.image_size })
   end
   error(("icgan: data.name must be mnist or emoji_skin, got '%s'"):format(tostring(d.name)), 0)
end

-- The held-out images and their labels (a skin-tone emoji's six tones are consecutive).
local function test_set(cfg)
   local d = cfg.data
   local ds = d.name == "emoji_skin" and data.emoji_skin { split = "test", size = d.image_size, signed = true }
      or data.for_gan("mnist", { split = "test", image_size = d.image_size })
   if ds.images then return ds.images, ds.labels end
   local imgs = {}
   for i = 1, #ds do imgs[i] = ds:get(i).image end
   return stack(imgs, 1), ds.labels
end

--- Builds the conditional G and D, the encoders E_z (image to latent) and E_y (image to
-- labels), and one Adam optimizer per network, named after it.
-- @tparam table cfg the resolved config
function M:build(cfg)
   local m, t = cfg.model, cfg.train
   local k = classes(cfg)
   local o = { ngf = m.ngf, ndf = m.ndf, nc = channels(cfg), image_size = cfg.data.image_size }
   self:network("G", Generator(m.nz, k, o))
   self:network("D", Discriminator(k, o))
   self:network("E_z", encoder(o, m.nz))
   self:network("E_y", encoder(o, k))
   local betas = { t.beta1, t.beta2 }
   for _, n in ipairs { "G", "D", "E_z", "E_y" } do
      self:optimizer(n, optim.Adam(self[n]:parameters(), { lr = t.lr, betas = betas }))
   end
end

--- z ~ N(0, 1) (n, nz) and uniform classes.
-- @tparam int n
-- @tparam[opt] Generator generator
-- @treturn Tensor z (n, nz)
-- @treturn Tensor the classes, int64 (n)
function M:latent(n, generator)
   return core.randn({ n, self.cfg.model.nz }, { generator = generator }),
      core.randint(0, classes(self.cfg), { n }, { generator = generator })
end

--- The conditional GAN's D and G updates (minimax D, non-saturating G), then E_z on the
-- step's generated triples and E_y on the real labelled batch. Logs the GAN losses and
-- the encoders' (loss_ez: mean squared latent error; loss_ey: cross-entropy, acc_ey).
-- @tparam table data_ the batches: data_:next() gives the next one
-- @param _ the step (unused)
-- @treturn table the scalars to log
function M:train_step(data_, _)
   local G, D = self.G, self.D
   local b = data_:next()
   local real, y_real = b.image, b.label
   local z, y = self:latent(real:size(1), self.rng)
   local fake = no_grad(G, z, y)
   local loss_d = self:update("D", function() return losses.minimax_d(D(real, y_real), D(fake, y)) end)
   local loss_g = self:update("G", function() return losses.nonsaturating_g(D(G(z, y), y)) end, { freeze = D })
   local loss_ez = self:update("E_z", function() return ((self.E_z(fake) - z) ^ 2):mean() end)
   local loss_ey, logits = self:update("E_y", function()
      local l = self.E_y(real)
      return F.cross_entropy(l, y_real), l
   end)
   local _, pred = logits:detach():max(2)
   return { loss_d = loss_d:item(), loss_g = loss_g:item(), loss_ez = loss_ez:item(), loss_ey = loss_ey:item(),
      acc_ey = pred:eq(y_real):double():mean():item() }
end

--- Edits x (N, C, S, S) to classes y2: G(E_z(x), y2).
-- @tparam Tensor x
-- @tparam Tensor y2 int64 (N)
-- @treturn Tensor the edited images
function M:edit(x, y2) return M.run_eval(self.G, M.run_eval(self.E_z, x), y2) end

--- Eight held-out images, a row each: the input, then its edit to every class.
function M:sample()
   local x, y = test_set(self.cfg)
   local k = classes(self.cfg)
   local rows = {}
   for i = 1, 8 do
      local j = (i - 1) * x:size(1) // 8 + 1
      local xi = x:narrow(1, j, 1)
      rows[#rows + 1] = xi
      rows[#rows + 1] = self:edit(xi:expand(k, xi:size(2), xi:size(3), xi:size(4)), core.arange(k, { dtype = "int64" }))
   end
   return core.cat(rows, 1), { nrow = k + 1 }
end

-- Slant (the shear of the ink's second moments, mu11 / mu02) and ink (mean darkness) of
-- digit images in [-1, 1] (N, 1, S, S), as plain Lua lists.
local function style(x)
   local w = ((x:double() + 1) * 0.5):flatten(2)                  -- ink weight per pixel
   local S = x:size(3)
   local cols = core.arange(S, { dtype = "float64" }):view(1, S):expand(S, S):reshape(1, S * S)
   local rows = core.arange(S, { dtype = "float64" }):view(S, 1):expand(S, S):reshape(1, S * S)
   local m = w:sum(2, true) + 1e-9
   local cx, cy = (w * cols):sum(2, true) / m, (w * rows):sum(2, true) / m
   local dx, dy = cols - cx, rows - cy
   local mu11 = (w * dx * dy):sum(2) / m:view(-1)
   local mu02 = (w * dy * dy):sum(2) / m:view(-1)
   return (mu11 / (mu02 + 1e-9)):totable(), w:mean(2):totable()
end

--- Editing measured where the truth exists. MNIST: every held-out digit edited to every
-- other class: the reference classifier's accuracy on the requested class (edit_accuracy;
-- also for the reconstruction to its own class), and the style kept: the correlation
-- between input and edit of slant and of ink (slant_corr, ink_corr) against the same
-- correlation for real digits of the target class paired at random (the baseline, 0 in
-- expectation). Skin tones: every held-out emoji edited from each tone to each other, the
-- paired L1 (on the [0, 1] scale) to the real drawing in that tone (l1_edit) against
-- copying the input (l1_copy), and the reconstruction's L1 (the edit to the input's own
-- tone, l1_rec: what encoding and decoding alone lose); E_y's accuracy on the held-out
-- images.
-- @tparam[opt] table opts `classifier` (the shipped one)
-- @treturn table metric name -> number
function M:evaluate(opts)
   opts = opts or {}
   local x, y = test_set(self.cfg)
   local k, n = classes(self.cfg), x:size(1)
   local res = { n_test = n }
   local _, pred = M.run_eval(self.E_y, x):max(2)
   res.ey_accuracy = pred:eq(y):double():mean():item()
   if self.cfg.data.name == "emoji_skin" then
      local l1_edit, l1_copy, l1_rec, cnt = 0, 0, 0, 0
      for s = 1, n, 6 do   -- each emoji's six tones are consecutive
         local xs = x:narrow(1, s, 6)
         for i = 0, 5 do
            local e = self:edit(xs:narrow(1, i + 1, 1):expand(6, xs:size(2), xs:size(3), xs:size(4)),
               core.arange(6, { dtype = "int64" }))
            for j = 0, 5 do
               local l1 = ((e[j + 1] - xs[j + 1]):abs():mean():item()) * 0.5
               if j ~= i then
                  l1_edit = l1_edit + l1
                  l1_copy = l1_copy + ((xs[i + 1] - xs[j + 1]):abs():mean():item()) * 0.5
                  cnt = cnt + 1
               else
                  l1_rec = l1_rec + l1
               end
            end
         end
      end
      res.l1_edit, res.l1_copy, res.l1_rec = l1_edit / cnt, l1_copy / cnt, l1_rec / n
      res.n_edits, res.n_emoji = cnt, n // 6
      return res
   end
   local clf = opts.classifier and metrics.load_classifier(opts.classifier) or metrics.classifier("mnist")
   local edits, targets, sources = {}, {}, {}
   for c = 0, k - 1 do
      local idx = {}
      for i, v in ipairs(y:totable()) do if v ~= c then idx[#idx + 1] = i - 1 end end
      local src = x:index_select(1, core.tensor(idx, { dtype = "int64" }))
      edits[#edits + 1] = self:edit(src, core.full({ #idx }, c, { dtype = "int64" }))
      targets[#targets + 1] = core.full({ #idx }, c, { dtype = "int64" })
      sources[#sources + 1] = src
   end
   local e, t, src = core.cat(edits, 1), core.cat(targets, 1), core.cat(sources, 1)
   local _, probs = metrics.features(clf, e)
   res.edit_accuracy = metrics.class_accuracy(probs, t)
   local _, rp = metrics.features(clf, self:edit(x, y))
   res.reconstruction_accuracy = metrics.class_accuracy(rp, y)
   local s_in, i_in = style(src)
   local s_out, i_out = style(e)
   res.slant_corr, res.ink_corr = metrics.pearson(s_in, s_out), metrics.pearson(i_in, i_out)
   -- the baseline: each source paired with a random real digit of the target class
   local g = core.Generator(99)
   local by_class = {}
   for i, v in ipairs(y:totable()) do by_class[v] = by_class[v] or {}; table.insert(by_class[v], i - 1) end
   local pick = {}
   for i, c in ipairs(t:totable()) do
      local list = by_class[c]
      pick[i] = list[core.randint(0, #list, { 1 }, { generator = g })[1] + 1]
   end
   local s_b, i_b = style(x:index_select(1, core.tensor(pick, { dtype = "int64" })))
   res.slant_corr_baseline, res.ink_corr_baseline = metrics.pearson(s_in, s_b), metrics.pearson(i_in, i_b)
   return res
end

return M
