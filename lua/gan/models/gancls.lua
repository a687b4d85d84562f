--- GAN-CLS and GAN-INT (Reed et al. 2016): emoji from their descriptions. A text is
-- embedded by a text-image matcher trained here (gan.metrics.matcher, bag of words; cached),
-- compressed by a linear layer with leaky ReLU to model.ntext and concatenated with z into
-- DCGAN's generator; D's convolutional trunk reaches 4x4, where the compressed text is
-- replicated spatially and concatenated, then a 1x1 and a 4x4 convolution give the logit.
-- The matching-aware D (train.cls) also scores real images with a mismatched text (another
-- emoji's) as fake: L_D = BCE(D(x, h), 1) + (BCE(D(x, h'), 0) + BCE(D(G(z, h), h), 0)) / 2.
-- GAN-INT (train.int) adds G's loss on texts interpolated halfway between two of the
-- batch's, which have no image. The judge of the evaluation is a second matcher
-- (character trigrams, another seed), never seen in training.
--
--     G(z, h): z (N, nz), h (N, 128) text embeddings -> image (N, 3, S, S)
-- @module gan.models.gancls
local core = require("gan.core")
local nn = require("gan.nn")
local F = require("gan.nn.functional")
local optim = require("gan.optim")
local losses = require("gan.losses")
local blocks = require("gan.nn.blocks")
local metrics = require("gan.metrics")
local matcher = require("gan.metrics.matcher")
local emoji_text = require("gan.data.emoji_text")
local image = require("gan.image")
local no_grad = require("gan.autograd").no_grad
local config = require("gan.config")
local range, choice = config.range, config.choice

local M = require("gan.train.model").define {
   name = "gancls",
   summary = "GAN-CLS/INT: text-conditioned DCGAN with a matching-aware D and interpolated texts",
   paper = "Reed, Akata, Yan, Logeswaran, Schiele & Lee 2016, Generative Adversarial Text to Image Synthesis",
   best = { metric = "r_precision", mode = "max" },
   defaults = {
      data = { image_size = choice(32, { 32, 64 }), batch_size = 64, keep = range(0.5, "[0, 1]") },
      model = { nz = range(100, "[1, inf)"), ntext = range(128, "[1, inf)"), ngf = range(64, "[1, inf)"),
         ndf = range(64, "[1, inf)") },
      train = {
         steps = 10000, sample_every = 500, checkpoint_every = 500, eval_every = 0, eval_samples = 1000,
         cls = true, int = true, int_weight = range(1.0, "[0, inf)"),
         lr = range(2e-4, "[0, inf)"), beta1 = range(0.5, "[0, 1)"), beta2 = range(0.999, "[0, 1)"),
         matcher_epochs = range(20, "[1, inf)"),
      },
   },
}

local Generator = nn.class("GANCLSGenerator", nn.Module)
function Generator:__init(o)
   nn.Module.__init(self)
   self.nz = o.nz
   self.compress = nn.Sequential { nn.Linear(o.dim, o.ntext), nn.LeakyReLU(0.2) }
   self.net = blocks.DCGANGenerator { nz = o.nz + o.ntext, ngf = o.ngf, nc = 3, image_size = o.image_size }
end
--- The image of noise and a text embedding.
-- @tparam Tensor z (N, nz)
-- @tparam Tensor h (N, dim)
-- @treturn Tensor (N, 3, S, S)
function Generator:forward(z, h)
   local n = z:size(1)
   local x = core.cat({ z:reshape(n, self.nz), self.compress(h) }, 2)
   return self.net(x:reshape(n, x:size(2), 1, 1))
end

local Discriminator = nn.class("GANCLSDiscriminator", nn.Module)
function Discriminator:__init(o)
   nn.Module.__init(self)
   local trunk = blocks.DCGANDiscriminator { ndf = o.ndf, nc = 3, image_size = o.image_size }
   local layers = {}
   for i = 1, #trunk - 2 do layers[i] = trunk[i] end   -- down to 4x4, without the last conv
   self.trunk = nn.Sequential(layers)
   local c = o.ndf * (o.image_size // 8)
   self.ntext = o.ntext
   self.compress = nn.Sequential { nn.Linear(o.dim, o.ntext), nn.LeakyReLU(0.2) }
   self.head = nn.Sequential { nn.Conv2d(c + o.ntext, c, 1), nn.BatchNorm2d(c), nn.LeakyReLU(0.2),
      nn.Conv2d(c, 1, 4), nn.Flatten(1) }
end
--- The logit of (image, text).
-- @tparam Tensor x (N, 3, S, S)
-- @tparam Tensor h (N, dim)
-- @treturn Tensor (N)
function Discriminator:forward(x, h)
   local f = self.trunk(x)
   local n = x:size(1)
   local t = self.compress(h):view(n, self.ntext, 1, 1):expand(n, self.ntext, 4, 4)
   return self.head(core.cat({ f, t }, 2))
end

--- GAN-CLS's discriminator (also StackGAN's): opts `ndf`, `ntext`, `dim` (the text
-- embedding's), `image_size`.
-- @tparam table o
-- @treturn Module called as D(x, h)
function M.Discriminator(o) return Discriminator(o) end

--- The text-image pairs (gan.data.emoji_text) at data.image_size.
-- @tparam table cfg the resolved config
-- @tparam[opt] string split "train" (default) or "test"
-- @treturn table a dataset
function M.dataset(cfg, split)
   return emoji_text.dataset { split = split or "train", size = cfg.data.image_size, keep = split == "test" and 1 or cfg.data.keep }
end

--- Builds the text encoder (the cached bag-of-words matcher), G, D and Adam "g" and "d".
-- @tparam table cfg the resolved config
function M:build(cfg)
   local m, t, s = cfg.model, cfg.train, cfg.data.image_size
   self.text_data = M.dataset(cfg)
   self.encoder = matcher.cached(self.text_data, { text = "words", seed = 1, epochs = t.matcher_epochs })
   local dim = self.encoder.arch.dim
   local G = self:network("G", Generator { nz = m.nz, ntext = m.ntext, dim = dim, ngf = m.ngf, image_size = s })
   local D = self:network("D", Discriminator { ntext = m.ntext, dim = dim, ndf = m.ndf, image_size = s })
   local betas = { t.beta1, t.beta2 }
   self:optimizer("g", optim.Adam(G:parameters(), { lr = t.lr, betas = betas }))
   self:optimizer("d", optim.Adam(D:parameters(), { lr = t.lr, betas = betas }))
end

--- Text embeddings of bags of words (without gradients).
-- @tparam Tensor bags (N, V)
-- @treturn Tensor (N, dim)
function M:embed(bags) return no_grad(function() return self.encoder:text(bags) end) end

--- z ~ N(0, 1) (n, nz).
-- @tparam int n
-- @tparam[opt] Generator generator
-- @treturn Tensor
function M:latent(n, generator) return core.randn({ n, self.cfg.model.nz }, { generator = generator }) end

--- A permutation of the batch whose every entry is another emoji's (for mismatched texts):
-- a rotation by the first offset that moves every pair to a different emoji, else by 1.
-- @tparam Tensor emoji int64 (B)
-- @treturn Tensor int64 (B) 0-based indices
function M.mismatch(emoji)
   local e = emoji:totable()
   local B = #e
   for shift = 1, B - 1 do
      local ok = true
      for i = 1, B do if e[(i - 1 + shift) % B + 1] == e[i] then ok = false; break end end
      if ok or shift == B - 1 then
         local idx = {}
         for i = 1, B do idx[i] = (i - 1 + shift) % B end
         return core.tensor(idx, { dtype = "int64" })
      end
   end
   return core.arange(0, B, 1, { dtype = "int64" })
end

--- The matching-aware D loss: real with its text as real, real with a mismatched text and
-- fake with its text as fake, the two fake terms halved (without train.cls: the plain
-- conditional loss, real and fake).
-- @tparam Tensor d_real D(x, h)
-- @tparam Tensor d_wrong D(x, h') (ignored without cls)
-- @tparam Tensor d_fake D(G(z, h), h)
-- @tparam boolean cls
-- @treturn Tensor
function M.d_loss(d_real, d_wrong, d_fake, cls)
   local real = F.binary_cross_entropy_with_logits(d_real, d_real:detach() * 0 + 1)
   local fake = F.binary_cross_entropy_with_logits(d_fake, d_fake:detach() * 0)
   if not cls then return real + fake end
   local wrong = F.binary_cross_entropy_with_logits(d_wrong, d_wrong:detach() * 0)
   return real + (wrong + fake) * 0.5
end

--- One D update (matching-aware with train.cls) and one G update (with GAN-INT's
-- interpolated texts when train.int).
function M:train_step(data_, _)
   local t = self.cfg.train
   local G, D = self.G, self.D
   local b = data_:next()
   local x, h = b.image, self:embed(b.text)
   local n = x:size(1)
   local z = self:latent(n, self.rng)
   local fake = no_grad(G, z, h)
   local wrong_h = h:index_select(1, M.mismatch(b.emoji))
   local logs = {}
   logs.loss_d = self:update("d", function()
      return M.d_loss(D(x, h), t.cls and D(x, wrong_h) or nil, D(fake, h), t.cls)
   end):item()
   logs.loss_g = self:update("g", function()
      local loss = losses.nonsaturating_g(D(G(z, h), h))
      if t.int then
         local h_int = (h + wrong_h) * 0.5
         local l_int = losses.nonsaturating_g(D(G(self:latent(n, self.rng), h_int), h_int))
         logs.loss_int = l_int:item()
         loss = loss + l_int * t.int_weight
      end
      return loss
   end, { freeze = D }):item()
   return logs
end

--- Images of a text: n samples from the sampling generator, noise from `seed`.
-- @tparam string|{string,...} text any words; unknown ones are reported
-- @tparam[opt=8] int n
-- @tparam[opt=1] int seed
-- @treturn Tensor (n, 3, S, S)
-- @treturn {string,...} the words the vocabulary does not know
-- @raise when no word of the text is known
function M:sample_text(text, n, seed)
   n = n or 8
   local h, unknown = M.prompt(self, text, n)
   local g = core.Generator(seed or 1)
   return self:draw(self:latent(n, g), h, g), unknown
end

--- The sampling generator's images of noise z and text embeddings h (in eval mode).
-- @tparam Tensor z (N, nz)
-- @tparam Tensor h (N, dim)
-- @treturn Tensor (N, 3, S, S)
function M:draw(z, h)
   return self.run_eval(self:sampler("G"), z, h)
end

--- GAN-INT's walk between two texts (Reed et al. 2016, fig. 6): `rows` noise vectors
-- drawn from `seed`, each held along its row while the text embedding goes in a straight
-- line from text a's to text b's over `steps` images (both ends included). Works for any
-- model with M.prompt's text_data and encoder and a `draw(z, h)` (StackGAN's draws with
-- the conditioning augmentation's mean, so that nothing but the text moves along a row).
-- @tparam table model
-- @tparam string a
-- @tparam string b
-- @tparam[opt=4] int rows
-- @tparam[opt=8] int steps
-- @tparam[opt=1] int seed
-- @treturn Tensor (rows * steps, 3, S, S), row by row
-- @treturn {string,...} the words of a and b the vocabulary does not know
-- @raise when no word of a (or of b) is known
function M.interpolate_text(model, a, b, rows, steps, seed)
   rows, steps = rows or 4, steps or 8
   local ha, unknown = M.prompt(model, a, 1)
   local hb, unknown_b = M.prompt(model, b, 1)
   table.move(unknown_b, 1, #unknown_b, #unknown + 1, unknown)
   local hs, idx = {}, {}
   for r = 1, rows do
      for k = 0, steps - 1 do
         local t = steps > 1 and k / (steps - 1) or 0
         hs[#hs + 1] = ha * (1 - t) + hb * t
         idx[#idx + 1] = r - 1
      end
   end
   local z = model:latent(rows, core.Generator(seed or 1)):index_select(1, core.tensor(idx, { dtype = "int64" }))
   return model:draw(z, core.cat(hs, 1)), unknown
end

--- A prompt's text embedding for a text-to-image model (its `text_data` vocabulary and
-- `encoder`), repeated n times, and the words the vocabulary does not know.
-- @param model a gancls or stackgan model
-- @tparam string|{string,...} text
-- @tparam int n
-- @treturn Tensor (n, dim)
-- @treturn {string,...} unknown words
-- @raise when no word of the text is known, naming the model
function M.prompt(model, text, n)
   local bag, unknown = emoji_text.bag(model.text_data.vocab, text)
   if bag:sum():item() == 0 then
      local shown = type(text) == "table" and table.concat(text, " ") or text
      error(("%s: no word of '%s' is known (unknown: %s)"):format(model.name, shown, table.concat(unknown, ", ")), 0)
   end
   local h = no_grad(function() return model.encoder:text(bag:view(1, -1)) end)
   return h:expand(n, model.encoder.arch.dim):contiguous(), unknown
end

-- A sheet: each row a text drawn above its samples.
local function captioned(rows, texts)
   local per, S = rows[1]:size(1), rows[1]:size(3)
   local W = per * (S + 2)
   local parts = {}
   for i, imgs in ipairs(rows) do
      local strip = image.caption(texts[i], W):unsqueeze(1)
      local row = {}
      for k = 1, per do
         row[#row + 1] = F.pad((imgs[k]:view(1, 3, S, S) + 1) * 0.5, { 1, 1, 1, 1 }, "constant", 1)
      end
      parts[#parts + 1] = strip
      parts[#parts + 1] = core.cat(row, 4)
   end
   return core.cat(parts, 3) * 2 - 1
end

-- Up to k held-out emoji spread over the test split whose full text (name and keywords)
-- has known words: their texts as word lists.
local function held_out_texts(self, k)
   local test = self.test_data or M.dataset(self.cfg, "test")
   self.test_data = test
   local out, n = {}, #test.entries
   for i = 1, n do
      local e = test.entries[(i - 1) * 37 % n + 1]   -- a stride through the split
      local words = {}
      for _, list in ipairs { e.name, e.keywords } do for _, w in ipairs(list) do words[#words + 1] = w end end
      if emoji_text.bag(self.text_data.vocab, words):sum():item() > 0 then out[#out + 1] = words end
      if #out == k then break end
   end
   return out
end

--- The health monitor's collapse check (gan.train.health): one sample of each of 64
-- held-out texts, to set against a real batch of 64 different emoji (G needs a text, so
-- the default, G of the fixed latents alone, cannot draw).
-- @treturn Tensor (64, 3, S, S)
function M:health_samples()
   local imgs = {}
   for i, words in ipairs(held_out_texts(self, 64)) do imgs[i] = (self:sample_text(table.concat(words, " "), 1, i)) end
   return core.cat(imgs, 1)
end

--- Its sheet: 8 held-out texts (name and keywords), each drawn above 8 samples.
function M:sample()
   local rows, texts = {}, {}
   for i, words in ipairs(held_out_texts(self, 8)) do
      texts[i] = table.concat(words, " ")
      rows[i] = self:sample_text(texts[i], 8)
   end
   return captioned(rows, texts), { nrow = 1 }
end

-- The held-out pairs' first image of each emoji (name and all keywords) and the model's
-- embeddings of their texts.
local function one_per_emoji(model, test)
   local b = test:get_batch(core.arange(0, #test, #test.vendors, { dtype = "int64" }))
   return b, no_grad(function() return model.encoder:text(b.text) end)
end

-- Round r's samples of texts h: noise, then (StackGAN) the CA's draws, from seed 12344 + r.
local function draw_round(model, h, r)
   local g = core.Generator(12344 + r)
   return model:draw(model:latent(h:size(1), g), h, g)
end

--- The held-out measures of a text-to-image model (GAN-CLS's and StackGAN's `evaluate`),
-- on `test` (the held-out pairs at the model's image size, one text per emoji: its name
-- and all keywords) with `judge` (a matcher trained apart from the model's encoder):
--
-- - r_precision: the judge's R-precision of one sample per held-out text, the mean over
--   `draws` rounds (noise from seeds 12345, 12346, ...; the same 99 distractor texts in
--   every round), r_precision_sd the rounds' standard deviation;
-- - r_precision_real: the judge's on the real images (its ceiling); r_precision_encoder:
--   the model's text encoder's own (its retrieval accuracy on held-out pairs);
-- - fid: every round's samples against every held-out image on the emoji style
--   classifier's features (`draws` defaults to the vendors' count: as many samples as
--   real images);
-- - diversity: the mean pairwise feature distance of 16 samples of one text, averaged
--   over 8 held-out texts;
-- - with opts.compare = { name =, draw = function(h, seed) }: res["fid_" .. name] and
--   res["r_precision_" .. name], the FID and R-precision of what draw makes of each
--   round's texts and seed, on the same terms.
-- @tparam table model with encoder, latent(n, g), draw(z, h, g) and sample_text
-- @tparam table test
-- @tparam Module judge
-- @tparam[opt] table opts `draws`, `compare`
-- @treturn table name -> number
function M.held_out(model, test, judge, opts)
   opts = opts or {}
   local draws = opts.draws or #test.vendors
   local b, h = one_per_emoji(model, test)
   local clf = metrics.classifier("emoji_style")
   local real = metrics.features(clf, test:get_batch(core.arange(0, #test, 1, { dtype = "int64" })).image)
   local rp, feats, other, other_rp = {}, {}, {}, 0
   for r = 1, draws do
      local fake = draw_round(model, h, r)
      rp[r] = matcher.r_precision(judge, fake, b.text, b.emoji)
      feats[r] = metrics.features(clf, fake)
      if opts.compare then
         local x = opts.compare.draw(h, 12344 + r)
         other[r] = metrics.features(clf, x)
         other_rp = other_rp + matcher.r_precision(judge, x, b.text, b.emoji) / draws
      end
   end
   -- the encoder sees the images at the size it was trained at (StackGAN's stage II: 64
   -- px pairs, an encoder of 32 px), averaged down as the models' training does
   local own = b.image:size(3) // model.encoder.arch.image_size
   local for_encoder = own > 1 and F.avg_pool2d(b.image, own) or b.image
   local mean, var = 0, 0
   for _, v in ipairs(rp) do mean = mean + v / draws end
   for _, v in ipairs(rp) do var = var + (v - mean) ^ 2 / math.max(draws - 1, 1) end
   local res = { n = h:size(1), draws = draws, r_precision = mean, r_precision_sd = math.sqrt(var),
      r_precision_real = matcher.r_precision(judge, b.image, b.text, b.emoji),
      r_precision_encoder = matcher.r_precision(model.encoder, for_encoder, b.text, b.emoji),
      fid = metrics.fid(core.cat(feats, 1), real) }
   if opts.compare then
      res["fid_" .. opts.compare.name] = metrics.fid(core.cat(other, 1), real)
      res["r_precision_" .. opts.compare.name] = other_rp
   end
   local div, texts = 0, held_out_texts(model, 8)
   for _, words in ipairs(texts) do
      div = div + metrics.mean_pairwise_distance(metrics.features(clf, (model:sample_text(table.concat(words, " "), 16))))
   end
   res.diversity = div / #texts
   return res
end

--- Per held-out text, the share of `rounds` rounds (held_out's: the same seeds and
-- distractor texts) in which the judge ranked its own text first for its sample: what
-- experiments/text_image_compare.lua pairs between two runs. Their mean over the texts
-- is held_out's r_precision for as many draws.
-- @tparam table model
-- @tparam table test
-- @tparam Module judge
-- @tparam int rounds
-- @treturn {number,...} one share per held-out emoji
function M.text_hits(model, test, judge, rounds)
   local b, h = one_per_emoji(model, test)
   local per = {}
   for r = 1, rounds do
      local _, hits = matcher.r_precision(judge, draw_round(model, h, r), b.text, b.emoji)
      for i, v in ipairs(hits) do per[i] = (per[i] or 0) + v / rounds end
   end
   return per
end

--- What `evaluate` measures on: the held-out pairs at the model's image size and the
-- judge, the trigram matcher (seed 2) trained on the training pairs at that size.
-- @treturn table the held-out pairs
-- @treturn Module the judge
function M:held_out_set()
   return M.dataset(self.cfg, "test"),
      matcher.cached(self.text_data, { text = "trigrams", seed = 2, epochs = self.cfg.train.matcher_epochs })
end

--- M.held_out on the model's held_out_set.
-- @tparam[opt] table opts as M.held_out's
-- @treturn table name -> number
function M:evaluate(opts)
   local test, judge = self:held_out_set()
   return M.held_out(self, test, judge, opts)
end

return M
