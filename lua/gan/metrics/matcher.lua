--- Text-image matching, trained here (no pretrained text model exists offline): an image
-- encoder and a text encoder into one space where an emoji's picture and its words lie
-- close (Reed et al. 2016's joint embedding, with a symmetric contrastive loss: each image
-- must pick its own text out of the batch's and each text its image). It conditions
-- text-to-image models and, trained a second time with another seed and another text
-- architecture, judges their images (R-precision), so that a generator is not graded by
-- the encoder it trained against.
--
-- Text architectures: "words", a bag of words (each word a learned vector, the text their
-- mean) then a linear layer: keywords carry little order; "trigrams", the same over the
-- character trigrams of the words (hashed into 2,048 buckets), which also places unseen
-- words near known ones that share their letters.
-- @module gan.metrics.matcher
local core = require("gan.core")
local nn = require("gan.nn")
local F = require("gan.nn.functional")
local no_grad = require("gan.autograd").no_grad

local Mt = {}

--- Buckets of character trigrams per word: a (V, n_buckets) float32 matrix whose row v
-- counts the hashed trigrams of "<word>" (FNV-1a mod n_buckets).
-- @tparam {string,...} words the vocabulary's words
-- @tparam[opt=2048] int n_buckets
-- @treturn Tensor
function Mt.trigram_matrix(words, n_buckets)
   n_buckets = n_buckets or 2048
   local fnv = require("gan.data.datasets").fnv1a
   local rows = {}
   for v, w in ipairs(words) do
      local row = {}
      for i = 1, n_buckets do row[i] = 0 end
      local s = "<" .. w .. ">"
      for i = 1, #s - 2 do
         local b = fnv(s:sub(i, i + 2)) % n_buckets + 1
         row[b] = row[b] + 1
      end
      rows[v] = row
   end
   return core.tensor(rows)
end

local Matcher = nn.class("TextImageMatcher", nn.Module)
function Matcher:__init(o)
   nn.Module.__init(self)
   local d, c = o.dim or 128, o.width or 32
   self.arch = { vocab = o.vocab, dim = d, width = c, text = o.text or "words", image_size = o.image_size or 64 }
   local n_in = o.vocab
   if self.arch.text == "trigrams" then
      if not o.words then error("matcher: the trigram text encoder needs the vocabulary's words", 2) end
      self:register_buffer("trigrams", Mt.trigram_matrix(o.words))
      n_in = self.trigrams:size(2)
   end
   self.words = nn.Linear(n_in, d, { bias = false })
   self.text_out = nn.Sequential { nn.ReLU(), nn.Linear(d, d) }
   local layers, ch, size = {}, 3, self.arch.image_size
   for i = 1, 4 do
      local out = c * 2 ^ math.min(i - 1, 2)
      layers[#layers + 1] = nn.Conv2d(ch, out, 4, { stride = 2, padding = 1 })
      layers[#layers + 1] = nn.BatchNorm2d(out)
      layers[#layers + 1] = nn.LeakyReLU(0.2)
      ch, size = out, size // 2
   end
   layers[#layers + 1] = nn.Flatten()
   layers[#layers + 1] = nn.Linear(ch * size * size, d)
   self.image_enc = nn.Sequential(layers)
end
--- Unit-length text embeddings of bags of words (B, V).
-- @tparam Tensor bag
-- @treturn Tensor (B, dim)
function Matcher:text(bag)
   local x = bag
   if self.trigrams then x = bag:matmul(self.trigrams) end
   local n = x:sum(2, true):clamp(1, math.huge)
   local e = self.text_out(self.words(x / n))
   return e / (e:norm(2, 2, true) + 1e-8)
end
--- Unit-length image embeddings of images (B, 3, S, S) in [-1, 1].
-- @tparam Tensor x
-- @treturn Tensor (B, dim)
function Matcher:image(x)
   local e = self.image_enc(x)
   return e / (e:norm(2, 2, true) + 1e-8)
end
--- The similarity of each image with each text (cosines).
-- @tparam Tensor x images (B, 3, S, S)
-- @tparam Tensor bag texts (T, V)
-- @treturn Tensor (B, T)
function Matcher:forward(x, bag) return self:image(x):matmul(self:text(bag):t()) end

--- A matcher. opts: `vocab` (V), `words` (the vocabulary's words, for "trigrams"), `text`
-- ("words" or "trigrams"), `dim` (128), `width` (32), `image_size` (64).
-- @tparam table opts
-- @treturn Module
function Mt.Matcher(opts) return Matcher(opts) end

--- The symmetric contrastive loss of a batch: cross-entropy of each image over the
-- batch's texts and of each text over its images, at temperature tau, pairs of the same
-- emoji (another vendor's drawing) left out of the denominators.
-- @tparam Tensor sim (B, B) image-text similarities, the true pairs on the diagonal
-- @tparam Tensor emoji int64 (B) each pair's emoji
-- @tparam[opt=0.1] number tau
-- @treturn Tensor
function Mt.contrastive_loss(sim, emoji, tau)
   tau = tau or 0.1
   local B = sim:size(1)
   local same = emoji:view(B, 1):eq(emoji:view(1, B)):float()
   local eye = core.eye(B)
   local logits = sim / tau - (same - eye) * 1e4   -- another drawing of the same emoji is no negative
   local target = core.arange(0, B, 1, { dtype = "int64" })
   return (F.cross_entropy(logits, target) + F.cross_entropy(logits:t(), target)) * 0.5
end

--- Trains a matcher on a text-image data set (gan.data.emoji_text): Adam 1e-3, batches of
-- 64, `epochs` passes (20), the contrastive loss.
-- @tparam table ds the training pairs
-- @tparam[opt] table opts `text` ("words"), `seed` (1), `epochs` (20), `dim`, `width`,
--  `on_epoch(epoch, loss)`
-- @treturn Module the matcher, in eval mode
function Mt.train(ds, opts)
   opts = opts or {}
   local seed = opts.seed or 1
   local saved = core.get_rng_state()
   core.manual_seed(seed)
   local m = Matcher { vocab = #ds.vocab.words, words = ds.vocab.words, text = opts.text, dim = opts.dim,
      width = opts.width, image_size = ds.size }
   local loader = require("gan.data").DataLoader(ds, { batch_size = opts.batch_size or 64, generator = core.Generator(seed) })
   local opt = require("gan.optim").Adam(m:parameters(), { lr = opts.lr or 1e-3 })
   m:train()
   for epoch = 1, opts.epochs or 20 do
      local total, n = 0, 0
      for b in loader do
         opt:zero_grad()
         local loss = Mt.contrastive_loss(m(b.image, b.text), b.emoji)
         loss:backward()
         opt:step()
         total, n = total + loss:item(), n + 1
      end
      if opts.on_epoch then opts.on_epoch(epoch, total / n) end
   end
   m:eval()
   core.set_rng_state(saved)
   return m
end

--- A matcher trained once on a data set and cached in the data directory:
-- matcher_<text>_s<seed>_e<epochs>_<vendors>_<size>_v<V>.safetensors (its architecture
-- and weights).
-- @tparam table ds the training pairs (gan.data.emoji_text)
-- @tparam[opt] table opts as Mt.train
-- @treturn Module in eval mode, without gradients
function Mt.cached(ds, opts)
   opts = opts or {}
   local serialize = require("gan.serialize")
   local text, seed = opts.text or "words", opts.seed or 1
   local path = ("%s/matcher_%s_s%d_e%d_%s_%d_v%d.safetensors"):format(require("gan.data.datasets").data_dir(), text,
      seed, opts.epochs or 20, table.concat(ds.vendors or {}, "-"), ds.size, #ds.vocab.words)
   local f = io.open(path, "rb")
   local m
   if f then
      f:close()
      local saved = serialize.load(path)
      m = Matcher { vocab = saved.arch.vocab, words = ds.vocab.words, text = saved.arch.text, dim = saved.arch.dim,
         width = saved.arch.width, image_size = saved.arch.image_size }
      m:load_state_dict(saved.model)
      m:eval()
   else
      io.stderr:write(("matcher: training the %s text-image matcher (seed %d; once, cached in %s)\n"):format(text, seed, path))
      m = Mt.train(ds, opts)
      serialize.save(path .. ".tmp", { model = m:state_dict(), arch = m.arch })
      os.rename(path .. ".tmp", path)
   end
   m:requires_grad_(false)
   return m
end

--- R-precision (Xu et al. 2018's form): for each image, its own text is scored against
-- `n_others` (99) texts of other emoji drawn from `generator`; the share of images whose
-- own text ranks first.
-- @param matcher a matcher
-- @tparam Tensor images (N, 3, S, S)
-- @tparam Tensor bags (N, V) each image's text
-- @tparam Tensor emoji int64 (N) each image's emoji (other texts are of other emoji)
-- @tparam[opt] table opts `n_others` (99), `generator` (seed 7)
-- @treturn number in [0, 1]
-- @treturn {int,...} each image's hit: 1 when its own text ranked first, else 0
function Mt.r_precision(matcher, images, bags, emoji, opts)
   opts = opts or {}
   local k, g = opts.n_others or 99, opts.generator or core.Generator(7)
   local N = images:size(1)
   local sims = no_grad(function()
      local parts = {}
      for s = 1, N, 200 do
         local m = math.min(200, N - s + 1)
         parts[#parts + 1] = matcher:image(images:narrow(1, s, m))
      end
      local ei = core.cat(parts, 1)
      return ei:matmul(matcher:text(bags):t()):double():totable()   -- (N, N): image i, text j
   end)
   local em = emoji:totable()
   local hits, each = 0, {}
   for i = 1, N do
      local others = {}
      for j = 1, N do if em[j] ~= em[i] then others[#others + 1] = j end end
      local pick = core.randperm(#others, { generator = g }):totable()
      local best = true
      for n = 1, math.min(k, #others) do
         if sims[i][others[pick[n] + 1]] >= sims[i][i] then best = false; break end
      end
      each[i] = best and 1 or 0
      hits = hits + each[i]
   end
   return hits / N, each
end

return Mt
