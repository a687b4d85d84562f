--- gan.metrics: sample-quality metrics without Inception weights.
--
-- Small reference classifiers are trained here (experiments/classifier.lua) on MNIST
-- and Fashion-MNIST and their weights ship with gan (lua/gan/metrics/*.safetensors).
-- Their penultimate features (128-d) stand in for Inception's pool features and their
-- softmax for Inception's class posterior:
--   FID (float64 statistics, matrix square root through a symmetric eigendecomposition),
--   KID (unbiased MMD^2 with the cubic polynomial kernel, mean and standard error over
--   subsets), precision and recall (k-NN manifolds, Kynkäänniemi et al. 2019), an
--   Inception-Score analogue, the class histogram of samples (mode coverage) and, for
--   conditional models, the accuracy of the requested class.
-- Every result records the number of samples and the reference split it used.
-- @module gan.metrics
local core = require("gan.core")
local nn = require("gan.nn")
local F = require("gan.nn.functional")
local no_grad = require("gan.autograd").no_grad
local serialize = require("gan.serialize")

local M = {}

-- ---------------------------------------------------------------- reference classifiers

--- The classifier architecture: (N, in_nc, S, S) images in [-1, 1] -> n_classes logits;
-- its `features(x)` gives the 128-d penultimate activations. opts: in_nc (1), n_classes
-- (10), image_size S (32, a multiple of 8). The instance remembers them in `arch`, which
-- experiments/classifier.lua saves with the weights.
-- @tparam[opt] table opts the options above
-- @treturn Module
function M.Classifier(opts)
   opts = opts or {}
   local in_nc, n_classes, size = opts.in_nc or 1, opts.n_classes or 10, opts.image_size or 32
   if size % 8 ~= 0 then error(("Classifier: image_size must be a multiple of 8, got %s"):format(tostring(size)), 2) end
   local C = nn.class("ReferenceClassifier", nn.Module)
   local function block(cin, cout)
      return nn.Sequential { nn.Conv2d(cin, cout, 3, { padding = 1, bias = false }), nn.BatchNorm2d(cout), nn.ReLU() }
   end
   function C:__init()
      nn.Module.__init(self)
      -- three 2x poolings (32x32 -> 4x4), then a 128-d feature layer.
      self.body = nn.Sequential { block(in_nc, 32), block(32, 32), nn.MaxPool2d(2),
         block(32, 64), block(64, 64), nn.MaxPool2d(2), block(64, 128), nn.MaxPool2d(2) }
      self.fc = nn.Linear(128 * (size // 8) * (size // 8), 128)
      self.drop = nn.Dropout(0.3)
      self.out = nn.Linear(128, n_classes)
   end
   function C:features(x) return self.fc(self.body(x):flatten(2)):relu() end
   function C:forward(x) return self.out(self.drop(self:features(x))) end
   local c = C()
   c.arch = { in_nc = in_nc, n_classes = n_classes, image_size = size }
   return c
end

--- Trains a Classifier on images (N, C, S, S) in [-1, 1] with int64 labels (N), the
-- recipe of the reference classifiers: Adam with cosine decay, cross-entropy, random
-- shifts of up to `shift` pixels per image (padded with `background`) and, with flip,
-- random horizontal flips. opts: epochs (30), lr (1e-3), batch_size (128), seed (1),
-- shift (2), background (-1), flip (false), n_classes (10), on_epoch(epoch, mean_loss,
-- model). Returns the model in eval mode.
-- @tparam Tensor images (N, C, S, S) in [-1, 1]
-- @tparam Tensor labels int64 (N)
-- @tparam[opt] table opts the options above
-- @treturn Module the classifier, in eval mode
function M.train_classifier(images, labels, opts)
   opts = opts or {}
   local data, optim = require("gan.data"), require("gan.optim")
   local size, epochs, seed = images:size(3), opts.epochs or 30, opts.seed or 1
   local model = M.Classifier { in_nc = images:size(2), n_classes = opts.n_classes or 10, image_size = size }
   local loader = data.DataLoader(data.TensorDataset { image = images, label = labels },
      { batch_size = opts.batch_size or 128, drop_last = false, generator = core.Generator(seed) })
   local opt = optim.Adam(model:parameters(), { lr = opts.lr or 1e-3 })
   local sched = optim.lr_scheduler.CosineAnnealingLR(opt, { T_max = epochs })
   local aug = core.Generator(seed + 1)
   local s, bg = opts.shift or 2, opts.background or -1
   local rev = {}
   for i = 1, size do rev[i] = size - i end
   local reversed = core.tensor(rev, { dtype = "int64" })
   local stack = require("gan.tensor").stack
   local function augment(x)
      if s == 0 and not opts.flip then return x end
      local n = x:size(1)
      local padded = F.pad(x, { s, s, s, s }, "constant", bg)
      local d = core.randint(0, 2 * s + 1, { n, 3 }, { generator = aug }):totable()
      local out = {}
      for i = 1, n do
         out[i] = padded[i]:narrow(2, d[i][1] + 1, size):narrow(3, d[i][2] + 1, size)
         if opts.flip and d[i][3] % 2 == 1 then out[i] = out[i]:index_select(3, reversed) end
      end
      return stack(out, 1)
   end
   model:train()
   for epoch = 1, epochs do
      local total, nb = 0, 0
      for batch in loader do
         opt:zero_grad()
         local loss = F.cross_entropy(model(augment(batch.image)), batch.label)
         loss:backward()
         opt:step()
         total, nb = total + loss:item(), nb + 1
      end
      sched:step()
      if opts.on_epoch then
         model:eval()
         opts.on_epoch(epoch, total / nb, model)
         model:train()
      end
   end
   model:eval()
   return model
end

-- ---------------------------------------------------------------- segmentation

local Segmenter = nn.class("Segmenter", nn.Module)
function Segmenter:__init(o)
   nn.Module.__init(self)
   local c = o.width or 32
   local function block(cin, cout, stride)
      return { nn.Conv2d(cin, cout, 3, { stride = stride, padding = 1 }), nn.BatchNorm2d(cout), nn.ReLU() }
   end
   local function seq(...)
      local layers = {}
      for _, b in ipairs { ... } do for _, l in ipairs(b) do layers[#layers + 1] = l end end
      return nn.Sequential(layers)
   end
   self.arch = { in_nc = o.in_nc, n_classes = o.n_classes, width = c }
   self.enc1 = seq(block(o.in_nc, c, 1), block(c, c, 1))
   self.enc2 = seq(block(c, 2 * c, 2), block(2 * c, 2 * c, 1))
   self.enc3 = seq(block(2 * c, 4 * c, 2), block(4 * c, 4 * c, 1))
   self.dec2 = seq(block(4 * c + 2 * c, 2 * c, 1))
   self.dec1 = seq(block(2 * c + c, c, 1))
   self.out = nn.Conv2d(c, o.n_classes, 1)
end
--- Per-pixel class logits.
-- @tparam Tensor x (N, in_nc, H, W), H and W divisible by 4
-- @treturn Tensor (N, n_classes, H, W)
function Segmenter:forward(x)
   local up = function(t) return F.interpolate(t, { scale_factor = 2, mode = "nearest" }) end
   local e1 = self.enc1(x)
   local e2 = self.enc2(e1)
   local e3 = self.enc3(e2)
   local d2 = self.dec2(core.cat({ up(e3), e2 }, 2))
   return self.out(self.dec1(core.cat({ up(d2), e1 }, 2)))
end

--- A small U-shaped segmentation network (two stride-2 levels with skips): the
-- evaluation network of semantic synthesis (SPADE's protocol: segment the generated
-- images, compare with the input maps).
-- @tparam table opts `in_nc` (3), `n_classes`, `width` (32)
-- @treturn Module
function M.Segmenter(opts) return Segmenter { in_nc = opts.in_nc or 3, n_classes = opts.n_classes, width = opts.width } end

--- Trains a segmenter on images and their label maps with per-pixel cross-entropy (Adam,
-- cosine schedule); returns it in eval mode.
-- @tparam Tensor images (N, C, H, W) in [-1, 1]
-- @tparam Tensor maps int64 (N, H, W) class ids
-- @tparam table opts `n_classes`, `epochs` (10), `batch_size` (32), `lr` (1e-3), `seed` (1),
--  `width` (32), `on_epoch(epoch, mean loss)`
-- @treturn Module
function M.train_segmenter(images, maps, opts)
   local data, optim = require("gan.data"), require("gan.optim")
   local epochs, seed = opts.epochs or 10, opts.seed or 1
   core.manual_seed(seed)
   local model = M.Segmenter { in_nc = images:size(2), n_classes = opts.n_classes, width = opts.width }
   local loader = data.DataLoader(data.TensorDataset { image = images, map = maps },
      { batch_size = opts.batch_size or 32, generator = core.Generator(seed) })
   local opt = optim.Adam(model:parameters(), { lr = opts.lr or 1e-3 })
   local sched = optim.lr_scheduler.CosineAnnealingLR(opt, { T_max = epochs })
   model:train()
   for epoch = 1, epochs do
      local total, nb = 0, 0
      for batch in loader do
         opt:zero_grad()
         local logits = model(batch.image)
         local K = logits:size(2)
         local loss = F.cross_entropy(logits:permute(1, 3, 4, 2):reshape(-1, K), batch.map:reshape(-1))
         loss:backward()
         opt:step()
         total, nb = total + loss:item(), nb + 1
      end
      sched:step()
      if opts.on_epoch then opts.on_epoch(epoch, total / nb) end
   end
   model:eval()
   return model
end

--- The class ids a segmenter gives images, in batches, without gradients.
-- @param seg a segmenter (M.Segmenter)
-- @tparam Tensor images (N, C, H, W)
-- @treturn Tensor int64 (N, H, W)
function M.segment(seg, images)
   local parts = {}
   no_grad(function()
      for s = 1, images:size(1), 100 do
         local logits = seg(images:narrow(1, s, math.min(100, images:size(1) - s + 1)))
         local _, ids = logits:max(2)
         parts[#parts + 1] = ids:reshape(logits:size(1), logits:size(3), logits:size(4))
      end
   end)
   return core.cat(parts, 1)
end

--- Mean intersection over union of two label maps over the classes 0..K-1 that occur
-- in either (a class absent from both does not count): per class |P and T| / |P or T|
-- over all pixels of the set, averaged.
-- @tparam Tensor pred int64 class ids
-- @tparam Tensor target int64 class ids, pred's shape
-- @tparam int K the number of classes
-- @treturn number
-- @treturn table the IoU of each class that counts, by id
function M.miou(pred, target, K)
   local p, t = pred:reshape(-1), target:reshape(-1)
   if p:size(1) ~= t:size(1) then error("miou: the maps differ in size", 2) end
   local sum, n, per = 0, 0, {}
   for k = 0, K - 1 do
      local pk, tk = p:eq(k), t:eq(k)
      local inter = (pk:float() * tk:float()):sum():item()
      local union = pk:float():sum():item() + tk:float():sum():item() - inter
      if union > 0 then
         per[k] = inter / union
         sum, n = sum + per[k], n + 1
      end
   end
   return n > 0 and sum / n or 0, per
end

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."

--- Path of the shipped weights of a reference classifier ("mnist" or "fashion_mnist").
-- @tparam string name
-- @treturn string
function M.weights_path(name) return here .. "/" .. name .. "_classifier.safetensors" end

local cache = {}
--- A classifier (in eval mode) from a weights file written as
-- gan.save(path, { model = classifier:state_dict() }); cached by path.
-- @tparam string path
-- @treturn Module
function M.load_classifier(path)
   if cache[path] then return cache[path] end
   local f = io.open(path, "rb")
   if not f then error(("metrics: no classifier weights at %s"):format(path), 2) end
   f:close()
   -- a damaged or foreign file is refused naming it, not inside load_state_dict
   local ok, c = pcall(function()
      local saved = serialize.load(path)
      if type(saved) ~= "table" or type(saved.model) ~= "table" then error("no classifier state ('model')", 0) end
      if saved.arch ~= nil and type(saved.arch) ~= "table" then error("'arch' is not a table", 0) end
      local net = M.Classifier(saved.arch)
      net:load_state_dict(saved.model)
      return net
   end)
   if not ok then
      error(("metrics: %s: not reference classifier weights: %s"):format(path,
         tostring(c):gsub("^[^\n]-:%d+: ", ""):gsub("^gan%.load: " .. path:gsub("%p", "%%%0") .. ":? ?", "")), 2)
   end
   c:eval()
   cache[path] = c
   return c
end

--- The trained reference classifier for a dataset (in eval mode).
-- @tparam string name a dataset with a shipped classifier
-- @treturn Module
function M.classifier(name)
   local path = M.weights_path(name)
   local f = io.open(path, "rb")
   if not f then
      error(("metrics: no reference classifier for '%s' (%s); train it with "
         .. "gan run experiments/classifier.lua --set data.name=%s"):format(tostring(name), path, tostring(name)), 2)
   end
   f:close()
   return M.load_classifier(path)
end

--- Features (N, 128) float64 and class probabilities (N, n_classes) float64 of images
-- (N, C, S, S) in [-1, 1], in batches. Images of another size than the classifier was
-- trained on (classifier.arch.image_size) are resized to it first (area filter when
-- shrinking, bilinear when enlarging), so a 32x32 run is measured by a 64x64 classifier;
-- a channel count other than the classifier's is an error.
-- @tparam Module classifier
-- @tparam Tensor images (N, C, S, S) in [-1, 1]
-- @tparam[opt=500] int batch images per forward
-- @treturn Tensor features (N, 128) float64
-- @treturn Tensor probabilities (N, n_classes) float64
-- @raise when the channel count differs from the classifier's
function M.features(classifier, images, batch)
   batch = batch or 500
   local arch = classifier.arch
   if arch then
      if images:dim() ~= 4 or images:size(2) ~= arch.in_nc then
         error(("metrics.features: the classifier takes (N, %d, %d, %d) images, got %s"):format(arch.in_nc,
            arch.image_size, arch.image_size, "(" .. table.concat(images:size(), ", ") .. ")"), 2)
      end
      local s = arch.image_size
      if images:size(3) ~= s or images:size(4) ~= s then
         -- gan.image works in [0, 1]; the resize is linear, so the range does not matter
         images = require("gan.image").resize(images:float():contiguous(), s)
      end
   end
   local feats, probs = {}, {}
   no_grad(function()
      for s = 1, images:size(1), batch do
         local x = images:narrow(1, s, math.min(batch, images:size(1) - s + 1))
         local f = classifier:features(x)
         feats[#feats + 1] = f:double()
         probs[#probs + 1] = F.softmax(classifier.out(f), 2):double()
      end
   end)
   return core.cat(feats, 1), core.cat(probs, 1)
end

-- ---------------------------------------------------------------- distances between feature sets

local function mean_cov(x)
   local n = x:size(1)
   local mu = x:mean(1, true)
   local c = x - mu
   return mu:view(-1), core.matmul(c:t(), c) / (n - 1)
end

-- Symmetric positive semi-definite square root via eigh (negative rounding clipped).
local function sqrtm_psd(a)
   local w, v = core.eigh((a + a:t()) * 0.5)
   return core.matmul(v * w:clamp(0):sqrt():view(1, -1), v:t())
end

--- Fréchet distance between Gaussians fitted to two feature sets (rows), in float64:
-- ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2).
-- @tparam Tensor a (N, d)
-- @tparam Tensor b (M, d)
-- @treturn number
function M.fid(a, b)
   a, b = a:double(), b:double()
   local m1, s1 = mean_cov(a)
   local m2, s2 = mean_cov(b)
   local r = sqrtm_psd(s1)
   local mid = core.matmul(core.matmul(r, s2), r)
   local w = core.eigh((mid + mid:t()) * 0.5)
   local tr_sqrt = w:clamp(0):sqrt():sum():item()
   local d = m1 - m2
   local v = (d * d):sum():item()
   local trace = 0
   for i = 1, s1:size(1) do trace = trace + s1[i][i] + s2[i][i] end
   return v + trace - 2 * tr_sqrt
end

--- Kernel Inception Distance analogue: unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3,
-- averaged over `subsets` random subsets of `subset_size` rows from each set. Returns
-- the mean and its standard error. opts: subsets (50), subset_size (1000), seed.
-- @tparam Tensor a (N, d)
-- @tparam Tensor b (M, d)
-- @tparam[opt] table opts `subsets` (50), `subset_size` (1000, at most the smaller set),
--  `seed` (0)
-- @treturn number the mean
-- @treturn number its standard error
function M.kid(a, b, opts)
   opts = opts or {}
   a, b = a:double(), b:double()
   local d = a:size(2)
   local m = math.min(opts.subset_size or 1000, a:size(1), b:size(1))
   if m < 2 then error(("kid: needs subsets of at least 2 rows (sets of %d and %d rows)"):format(a:size(1), b:size(1)), 2) end
   local g = core.Generator(opts.seed or 0)
   local vals = {}
   for _ = 1, opts.subsets or 50 do
      local x = a:index_select(1, core.randperm(a:size(1), { generator = g }):narrow(1, 1, m))
      local y = b:index_select(1, core.randperm(b:size(1), { generator = g }):narrow(1, 1, m))
      local kxx = (core.matmul(x, x:t()) / d + 1) ^ 3
      local kyy = (core.matmul(y, y:t()) / d + 1) ^ 3
      local kxy = (core.matmul(x, y:t()) / d + 1) ^ 3
      local diag_x, diag_y = 0, 0
      for i = 1, m do diag_x = diag_x + kxx[i][i]; diag_y = diag_y + kyy[i][i] end
      local mmd = (kxx:sum():item() - diag_x) / (m * (m - 1)) + (kyy:sum():item() - diag_y) / (m * (m - 1))
         - 2 * kxy:sum():item() / (m * m)
      vals[#vals + 1] = mmd
   end
   local mean = 0
   for _, v in ipairs(vals) do mean = mean + v end
   mean = mean / #vals
   local var = 0
   for _, v in ipairs(vals) do var = var + (v - mean) ^ 2 end
   var = #vals > 1 and var / (#vals - 1) or 0
   return mean, math.sqrt(var / #vals)
end

-- Squared distances between rows of x (n, d) and y (m, d).
local function sqdist(x, y)
   local xx = (x * x):sum(2, true)
   local yy = (y * y):sum(2, true):t()
   return (xx + yy - core.matmul(x, y:t()) * 2):clamp(0)
end

--- The squared radius of each row's k-NN ball within its own set (the distance to the
-- k-th nearest other row), float64 (n): the (k + 1)-th smallest squared distance of each
-- row (the row itself is at 0), by k + 1 passes of a row minimum, each masking the
-- minimum it found with +inf. opts.chunk (500) rows at a time.
-- @tparam Tensor x (n, d)
-- @tparam int k
-- @tparam[opt] table opts `chunk` (500)
-- @treturn Tensor (n) float64
function M.knn_radii(x, k, opts)
   local chunk = opts and opts.chunk or 500
   x = x:double()
   local n, parts = x:size(1), {}
   for s = 1, n, chunk do
      local part = x:narrow(1, s, math.min(chunk, n - s + 1))
      local d = sqdist(part, x)
      local inf = core.full({ part:size(1), 1 }, math.huge, { dtype = d.dtype })
      local v
      for _ = 1, k + 1 do
         local idx
         v, idx = d:min(2, true)
         d:scatter_add_(2, idx, inf)
      end
      parts[#parts + 1] = v:reshape(part:size(1))
   end
   return core.cat(parts, 1)
end

-- Fraction of rows of q inside some ball (centre row of p, squared radius r).
local function coverage(q, p, r, chunk)
   local inside, n = 0, q:size(1)
   for s = 1, n, chunk do
      local part = q:narrow(1, s, math.min(chunk, n - s + 1))
      local d = sqdist(part, p)
      local within = d:le(r:view(1, -1)):sum(2)
      inside = inside + within:gt(0):sum():item()
   end
   return inside / n
end

--- Improved precision and recall (Kynkäänniemi et al., 2019): precision is the share of
-- generated samples inside the union of the real samples' k-NN balls, recall the share of
-- real samples inside the generated samples' balls. opts.k (3), opts.real_radii (the
-- real set's M.knn_radii at k, when already known: a fixed reference set).
-- @tparam Tensor real features (N, d)
-- @tparam Tensor fake features (M, d)
-- @tparam[opt] table opts `k` (3), `real_radii`
-- @treturn number precision
-- @treturn number recall
-- @raise when a set has no more than k rows
function M.precision_recall(real, fake, opts)
   opts = opts or {}
   local k = opts.k or 3
   if real:size(1) <= k or fake:size(1) <= k then
      error(("precision_recall: k = %d needs more than %d rows in each set (got %d and %d)"):format(k, k,
         real:size(1), fake:size(1)), 2)
   end
   real, fake = real:double(), fake:double()
   local rr, rf = opts.real_radii or M.knn_radii(real, k), M.knn_radii(fake, k)
   return coverage(fake, real, rr, 500), coverage(real, fake, rf, 500)
end

--- Diversity of a set: the mean Euclidean distance between two different members, over
-- all pairs (the spread of samples drawn for one condition, in feature or data space).
-- Rows are compared one against all at a time: memory N * d, exact differences.
-- @tparam Tensor x (N, ...), N >= 2, each member flattened
-- @treturn number
-- @raise with fewer than two members
function M.mean_pairwise_distance(x)
   local n = x:dim() > 0 and x:size(1) or 0
   if x:dim() < 2 or n < 2 then
      error(("mean_pairwise_distance: expected (N, ...) with N >= 2 members, got (%s)"):format(
         table.concat(x:size(), ", ")), 2)
   end
   local f, total = x:reshape { n, -1 }:double(), 0
   for i = 1, n do
      total = total + ((f - f:narrow(1, i, 1)) ^ 2):sum(2):sqrt():sum():item()
   end
   return total / (n * (n - 1))
end

--- Inception-Score analogue: exp(E_x KL(p(y|x) || p(y))) on the classifier's posteriors
-- (N, C), over `splits` splits (at most N): mean and standard deviation.
-- @tparam Tensor probs (N, C)
-- @tparam[opt=10] int splits
-- @treturn number the mean
-- @treturn number the standard deviation over the splits
-- @raise without posteriors
function M.inception_score(probs, splits)
   probs = probs:double()
   local n = probs:size(1)
   if n < 1 then error("inception_score: no posteriors", 2) end
   splits = math.min(splits or 10, n)
   local scores = {}
   for s = 0, splits - 1 do
      local part = probs:narrow(1, s * (n // splits) + 1, n // splits)
      local py = part:mean(1, true)
      local kl = (part * ((part + 1e-12):log() - (py + 1e-12):log())):sum(2):mean():item()
      scores[#scores + 1] = math.exp(kl)
   end
   local mean = 0
   for _, v in ipairs(scores) do mean = mean + v end
   mean = mean / #scores
   local var = 0
   for _, v in ipairs(scores) do var = var + (v - mean) ^ 2 end
   return mean, math.sqrt(var / #scores)
end

--- Mode coverage from posteriors: the share of samples classified with confidence >=
-- threshold (0.9), and the share of samples assigned to each class (argmax).
-- @tparam Tensor probs (N, C)
-- @tparam[opt=0.9] number threshold
-- @treturn number the confident share
-- @treturn {number,...} the share of each class (class c at index c + 1)
function M.class_histogram(probs, threshold)
   threshold = threshold or 0.9
   local maxp, cls = probs:max(2)
   local n, C = probs:size(1), probs:size(2)
   local hist = {}
   for c = 1, C do hist[c] = 0 end
   for _, c in ipairs(cls:totable()) do hist[c + 1] = hist[c + 1] + 1 end
   for c = 1, C do hist[c] = hist[c] / n end
   return maxp:ge(threshold):double():mean():item(), hist
end

--- Accuracy of the requested classes (conditional models): labels int64 (N).
-- @tparam Tensor probs (N, C)
-- @tparam Tensor labels int64 (N)
-- @treturn number
function M.class_accuracy(probs, labels)
   local _, cls = probs:max(2)
   return cls:eq(labels):double():mean():item()
end

--- The assignment of rows to columns of an n x n cost matrix (a Lua table of rows) with
-- the least total cost (the Hungarian method, O(n^3)): returns assign (assign[i] = the
-- column of row i) and the total cost.
-- @tparam {{number,...},...} cost n rows of n numbers
-- @treturn {int,...} assign
-- @treturn number the total cost
function M.hungarian(cost)
   local n = #cost
   local INF = math.huge
   local u, v, p, way = {}, {}, {}, {}
   for j = 0, n do u[j], v[j], p[j], way[j] = 0, 0, 0, 0 end
   for i = 1, n do
      p[0] = i
      local j0 = 0
      local minv, used = {}, {}
      for j = 0, n do minv[j], used[j] = INF, false end
      repeat
         used[j0] = true
         local i0, delta, j1 = p[j0], INF, 0
         for j = 1, n do
            if not used[j] then
               local cur = cost[i0][j] - u[i0] - v[j]
               if cur < minv[j] then minv[j], way[j] = cur, j0 end
               if minv[j] < delta then delta, j1 = minv[j], j end
            end
         end
         for j = 0, n do
            if used[j] then u[p[j]] = u[p[j]] + delta; v[j] = v[j] - delta
            else minv[j] = minv[j] - delta end
         end
         j0 = j1
      until p[j0] == 0
      repeat
         local j1 = way[j0]
         p[j0] = p[j1]
         j0 = j1
      until j0 == 0
   end
   local assign, total = {}, 0
   for j = 1, n do assign[p[j]] = j end
   for i = 1, n do total = total + cost[i][assign[i]] end
   return assign, total
end

--- Accuracy of unsupervised codes against labels after the best one-to-one matching of
-- code values to labels (InfoGAN's categorical code against the classifier's classes):
-- codes and labels int64 (N) with values in 0..k-1. Returns the accuracy and the
-- matching (match[code + 1] = label).
-- @tparam Tensor codes int64 (N)
-- @tparam Tensor labels int64 (N)
-- @tparam int k the number of code values and labels
-- @treturn number the accuracy
-- @treturn {int,...} match
function M.matched_accuracy(codes, labels, k)
   local c, l = codes:totable(), labels:totable()
   local counts = {}
   for i = 1, k do counts[i] = {} for j = 1, k do counts[i][j] = 0 end end
   for i = 1, #c do counts[c[i] + 1][l[i] + 1] = counts[c[i] + 1][l[i] + 1] + 1 end
   local cost = {}
   for i = 1, k do cost[i] = {} for j = 1, k do cost[i][j] = -counts[i][j] end end
   local assign, total = M.hungarian(cost)
   local match = {}
   for i = 1, k do match[i] = assign[i] - 1 end
   return -total / math.max(#c, 1), match
end

-- ---------------------------------------------------------------- mode coverage and Parzen windows

--- Mode statistics of 2-d samples (N, 2) against a mixture's modes (centers (K, 2), std):
-- a sample is of high quality when it lies within 3 std of its nearest mode, and then
-- counts for that mode; a mode is covered when at least opts.min_share (1%) of all
-- samples count for it. Returns { covered, hq (the high-quality share), kl } where kl =
-- KL(p || uniform) of the modes' shares p among high-quality samples (0: every mode
-- equally often; ln K: one mode; +inf without high-quality samples), and the counts.
-- @tparam Tensor samples (N, 2)
-- @tparam Tensor centers (K, 2)
-- @tparam number std
-- @tparam[opt] table opts `min_share` (0.01)
-- @treturn table `{covered, hq, kl, counts, n, modes}`
function M.mode_stats(samples, centers, std, opts)
   local min_share = opts and opts.min_share or 0.01
   local x, c = samples:double(), centers:double()
   local n, k = x:size(1), c:size(1)
   local d, nearest = sqdist(x, c):min(2)
   local counts = {}
   for j = 1, k do counts[j] = 0 end
   local near, hq = nearest:totable(), 0
   for i, dd in ipairs(d:totable()) do
      if dd <= (3 * std) ^ 2 then
         hq = hq + 1
         counts[near[i] + 1] = counts[near[i] + 1] + 1
      end
   end
   local covered, kl = 0, 0
   for j = 1, k do
      if counts[j] >= min_share * n then covered = covered + 1 end
      if hq > 0 and counts[j] > 0 then
         local p = counts[j] / hq
         kl = kl + p * math.log(p * k)
      end
   end
   return { covered = covered, hq = hq / n, kl = hq > 0 and kl or math.huge, counts = counts, n = n, modes = k }
end

--- The Parzen-window estimate of the mean log-likelihood (nats) of points x (M, D) under
-- Gaussian kernels of bandwidth sigma centred on samples (N, D), the estimate of Breuleux
-- et al. 2011 that Goodfellow et al. 2014 report: mean over x of
-- log (1/N) sum_i N(x; samples_i, sigma^2 I). `sigmas` may be a list: one estimate each
-- (the distances are computed once). Returns the means (one number per sigma) and their
-- standard errors. In float64, in chunks of opts.chunk (200) points.
-- @tparam Tensor samples (N, D)
-- @tparam Tensor x (M, D)
-- @tparam number|{number,...} sigmas
-- @tparam[opt] table opts `chunk` (200)
-- @treturn {number,...} the means, one per sigma
-- @treturn {number,...} their standard errors
function M.parzen(samples, x, sigmas, opts)
   if type(sigmas) == "number" then sigmas = { sigmas } end
   local chunk = opts and opts.chunk or 200
   local s, xs = samples:double():flatten(2), x:double():flatten(2)
   local n, dim = s:size(1), s:size(2)
   if xs:size(2) ~= dim then
      error(("parzen: samples have %d dims, the points %d"):format(dim, xs:size(2)), 2)
   end
   local sums, sq = {}, {}
   for j = 1, #sigmas do sums[j], sq[j] = 0, 0 end
   for a = 1, xs:size(1), chunk do
      local part = xs:narrow(1, a, math.min(chunk, xs:size(1) - a + 1))
      local d = sqdist(part, s)                                    -- (m, N)
      for j, sigma in ipairs(sigmas) do
         local e = d * (-0.5 / (sigma * sigma))
         local mx = e:max(2, true)
         local lse = ((e - mx):exp():sum(2, true):log() + mx):view(-1)
         local ll = lse - math.log(n) - 0.5 * dim * math.log(2 * math.pi * sigma * sigma)
         sums[j] = sums[j] + ll:sum():item()
         sq[j] = sq[j] + (ll * ll):sum():item()
      end
   end
   local m = xs:size(1)
   local means, ses = {}, {}
   for j = 1, #sigmas do
      means[j] = sums[j] / m
      ses[j] = math.sqrt(math.max(0, sq[j] / m - means[j] ^ 2) / m)
   end
   return means, ses
end

--- The Parzen log-likelihood as the GAN papers measure it: the bandwidth that maximises
-- the estimate on `valid` (from opts.sigmas, default 10 values spaced logarithmically
-- from 0.1 to 1, Goodfellow et al.'s grid for pixels in [0, 1]), then the estimate on
-- `test` with it. Returns { ll, ll_se, sigma, ll_valid }.
-- @tparam Tensor samples (N, D)
-- @tparam Tensor valid (M, D)
-- @tparam Tensor test (L, D)
-- @tparam[opt] table opts `sigmas`
-- @treturn table `{ll, ll_se, sigma, ll_valid}`
function M.parzen_evaluate(samples, valid, test, opts)
   local sigmas = opts and opts.sigmas
   if not sigmas then
      sigmas = {}
      for i = 0, 9 do sigmas[#sigmas + 1] = 10 ^ (-1 + i / 9) end
   end
   local v = M.parzen(samples, valid, sigmas)
   local best = 1
   for j = 2, #sigmas do if v[j] > v[best] then best = j end end
   local t, se = M.parzen(samples, test, sigmas[best])
   return { ll = t[1], ll_se = se[1], sigma = sigmas[best], ll_valid = v[best] }
end

--- The Parzen estimate the GAN papers report on MNIST, for 32x32 digit images in [-1, 1]
-- (N, 1, 32, 32): on the central 28x28 pixels scaled to [0, 1] (the papers' space), the
-- bandwidth chosen on the odd-numbered images of the dataset's test split, the estimate
-- on the even-numbered ones (the test splits of mnist and fashion_mnist are never
-- trained on by the models that report it). Returns parzen_evaluate's table plus n_test.
-- @tparam Tensor images (N, 1, 32, 32) in [-1, 1]
-- @tparam string dataset "mnist" or "fashion_mnist"
-- @treturn table
function M.parzen_digits(images, dataset)
   local ds = require("gan.data").for_gan(dataset, { split = "test", image_size = 32 })
   local function crop(x) return ((x:narrow(3, 3, 28):narrow(4, 3, 28) + 1) * 0.5):flatten(2) end
   local real = crop(ds.images)
   local odd, even = {}, {}
   for i = 0, real:size(1) - 1 do
      if i % 2 == 0 then odd[#odd + 1] = i else even[#even + 1] = i end   -- 1-based odd, even
   end
   local valid = real:index_select(1, core.tensor(odd, { dtype = "int64" }))
   local test = real:index_select(1, core.tensor(even, { dtype = "int64" }))
   local res = M.parzen_evaluate(crop(images), valid, test)
   res.n_test = test:size(1)
   return res
end

--- Pearson's correlation of two equally long lists of numbers.
-- @tparam {number,...} a
-- @tparam {number,...} b
-- @treturn number
function M.pearson(a, b)
   if #a ~= #b or #a < 2 then
      error(("pearson: needs two lists of the same length >= 2, got %d and %d"):format(#a, #b), 2)
   end
   local n, ma, mb = #a, 0, 0
   for i = 1, n do ma, mb = ma + a[i] / n, mb + b[i] / n end
   local sab, saa, sbb = 0, 0, 0
   for i = 1, n do
      sab = sab + (a[i] - ma) * (b[i] - mb)
      saa, sbb = saa + (a[i] - ma) ^ 2, sbb + (b[i] - mb) ^ 2
   end
   return sab / math.sqrt(saa * sbb)
end

--- Two systems measured on the same items (a[i] and b[i] of item i): each one's mean, the
-- mean paired difference a - b with its 95 % interval (normal, 1.96 standard errors of
-- the differences' mean), and the sign test: the items where a is above b (wins), below
-- (losses) and equal (ties), and the exact two-sided binomial p-value of wins against
-- losses at one half (ties left out).
-- @tparam {number,...} a
-- @tparam {number,...} b
-- @treturn table mean_a, mean_b, diff, ci_low, ci_high, wins, losses, ties, p_sign, n
function M.paired_comparison(a, b)
   if #a ~= #b or #a < 2 then
      error(("paired_comparison: needs two lists of the same length >= 2, got %d and %d"):format(#a, #b), 2)
   end
   local n, r = #a, { n = #a, mean_a = 0, mean_b = 0, diff = 0, wins = 0, losses = 0, ties = 0 }
   for i = 1, n do
      r.mean_a, r.mean_b, r.diff = r.mean_a + a[i] / n, r.mean_b + b[i] / n, r.diff + (a[i] - b[i]) / n
      if a[i] > b[i] then r.wins = r.wins + 1 elseif a[i] < b[i] then r.losses = r.losses + 1 else r.ties = r.ties + 1 end
   end
   local ss = 0
   for i = 1, n do ss = ss + (a[i] - b[i] - r.diff) ^ 2 end
   local se = math.sqrt(ss / (n - 1) / n)
   r.ci_low, r.ci_high = r.diff - 1.96 * se, r.diff + 1.96 * se
   -- P(X <= k) for X ~ Binomial(m, 1/2), k the smaller count, doubled
   local m, k = r.wins + r.losses, math.min(r.wins, r.losses)
   local tail, term = 0, 0.5 ^ m   -- term: C(m, j) / 2^m from j = 0
   for j = 0, k do
      tail = tail + term
      term = term * (m - j) / (j + 1)
   end
   r.p_sign = math.min(1, 2 * tail)
   return r
end

--- Spearman's rank correlation of two equally long lists of numbers (ties get their
-- average rank): the Pearson correlation of the ranks.
-- @tparam {number,...} a
-- @tparam {number,...} b
-- @treturn number
function M.spearman(a, b)
   if #a ~= #b or #a < 2 then
      error(("spearman: needs two lists of the same length >= 2, got %d and %d"):format(#a, #b), 2)
   end
   local function ranks(v)
      local idx = {}
      for i = 1, #v do idx[i] = i end
      table.sort(idx, function(x, y) return v[x] < v[y] end)
      local r, i = {}, 1
      while i <= #idx do
         local j = i
         while j < #idx and v[idx[j + 1]] == v[idx[i]] do j = j + 1 end
         for k = i, j do r[idx[k]] = (i + j) / 2 end
         i = j + 1
      end
      return r
   end
   return M.pearson(ranks(a), ranks(b))
end

--- The importance-weighted bound of Burda et al., 2016 on log p(x), for each row of x:
-- log (1/k) sum_i p(x, z_i) / q(z_i | x) with z_i ~ q(z | x) = N(mu, diag exp(logvar))
-- and the prior p(z) = N(0, I); it is a lower bound for every k, exact when q is the
-- posterior, and rises towards log p(x) as k grows (k = 1: the ELBO in expectation).
-- o.encode(xb, idx) gives mu, logvar (B, nz) for the rows xb of x (0-based indices idx);
-- o.log_lik(xs, z, idxs) gives log p(x | z) (rows) for rows xs repeated to match z;
-- o.generator; o.batch (10 rows) and o.chunk (500 samples) at a time. In float64.
-- Returns { mean, se, per_row } in nats.
-- @tparam Tensor x (N, ...)
-- @tparam int k importance samples per row
-- @tparam table o `encode`, `log_lik` (both required), `generator`, `batch` (10),
--  `chunk` (500)
-- @treturn table `{mean, se, per_row}`
function M.iwae(x, k, o)
   local B, chunk = o.batch or 10, math.min(o.chunk or 500, k)
   local n, per = x:size(1), {}
   local half_log_2pi = 0.5 * math.log(2 * math.pi)
   for s = 1, n, B do
      local b = math.min(B, n - s + 1)
      local xb = x:narrow(1, s, b)
      local idx = core.arange(s - 1, s - 1 + b, { dtype = "int64" })
      local mu, logvar = o.encode(xb, idx)
      local nz = mu:size(2)
      local total
      for c = 1, k, chunk do
         local m = math.min(chunk, k - c + 1)
         local eps = core.randn({ b, m, nz }, { dtype = mu.dtype, generator = o.generator })
         local z = mu:unsqueeze(2) + (logvar * 0.5):exp():unsqueeze(2) * eps            -- (b, m, nz)
         local log_q = -((eps * eps + logvar:unsqueeze(2)) * 0.5):sum(3) - nz * half_log_2pi
         local log_p = -(z * z * 0.5):sum(3) - nz * half_log_2pi
         local shape = xb:size()
         shape[1] = b * m
         local xs = xb:unsqueeze(2):expand(table.move(shape, 2, #shape, 3, { b, m })):reshape(shape)
         local ll = o.log_lik(xs, z:reshape(b * m, nz), idx:unsqueeze(2):expand(b, m):reshape(b * m)):view(b, m)
         local lw = (ll + log_p - log_q):double()
         local mx = lw:max(2, true)
         local lse = ((lw - mx):exp():sum(2, true):log() + mx):view(b)
         if total == nil then total = lse
         else
            local hi = total:maximum(lse)
            total = hi + ((total - hi):exp() + (lse - hi):exp()):log()
         end
      end
      for _, v in ipairs((total - math.log(k)):totable()) do per[#per + 1] = v end
   end
   local mean, sq = 0, 0
   for _, v in ipairs(per) do mean = mean + v / #per end
   for _, v in ipairs(per) do sq = sq + (v - mean) ^ 2 end
   return { mean = mean, se = math.sqrt(sq / math.max(#per - 1, 1) / #per), per_row = per }
end

-- ---------------------------------------------------------------- evaluation of a generator

-- The rows of an int64 label vector equal to c (int64 indices), or nil if none.
local function rows_of(labels, c)
   local idx = {}
   for i, v in ipairs(labels:totable()) do if v == c then idx[#idx + 1] = i - 1 end end
   return #idx > 0 and core.tensor(idx, { dtype = "int64" }) or nil
end

local ref_cache = {}
-- Reference features of the real test split of a dataset, cached by weights file (a
-- classifier passed as a module may still be training: not cached).
local function reference(name, clf, weights)
   local key = weights and weights .. "\0" .. name
   if key and ref_cache[key] then return ref_cache[key] end
   local data = require("gan.data")
   local ds = data.for_gan(name, { split = "test", image_size = 32 })
   local feats, probs = M.features(clf, ds.images)
   local ref = { feats = feats, probs = probs, n = ds.images:size(1), labels = ds.labels,
      split = name == "mnist" and "mnist test (every 10th digit per class)" or name .. " test" }
   if key then ref_cache[key] = ref end
   return ref
end

--- Samples n images from G (in batches, from a fixed seed), and returns every metric
-- against the real test split of `dataset` ("mnist" or "fashion_mnist").
-- opts: n (2000), nz (100), seed (12345), batch (500), latent(n, generator), labels
-- (int64 requested classes, for conditional generators called as G(z, labels): adds the
-- class accuracy and the FID within each class), parzen (true: also the Parzen-window
-- log-likelihood of M.parzen_digits), tstr (true or { epochs }: also the
-- train-on-generated / test-on-real accuracy),
-- classifier (a weights file or a classifier module instead of the shipped weights).
-- Images of another size than 32x32 are resized for the classifier.
-- @tparam function G the generator (a module or a function of latents)
-- @tparam string dataset
-- @tparam[opt] table opts the options above
-- @treturn table metric name -> number
function M.evaluate(G, dataset, opts)
   opts = opts or {}
   local n, batch = opts.n or 2000, opts.batch or 500
   local g = core.Generator(opts.seed or 12345)
   local latent = opts.latent or function(m, gen) return core.randn({ m, opts.nz or 100, 1, 1 }, { generator = gen }) end
   local was = G.training
   G:eval()
   local imgs = {}
   no_grad(function()
      for s = 1, n, batch do
         local m = math.min(batch, n - s + 1)
         local z = latent(m, g)
         imgs[#imgs + 1] = opts.labels and G(z, opts.labels:narrow(1, s, m)) or G(z)
      end
   end)
   G:train(was)
   local x = core.cat(imgs, 1)
   if x:size(3) ~= 32 or x:size(4) ~= 32 then x = require("gan.image").resize(x, { 32, 32 }) end
   if dataset == "stacked_mnist" then
      local res = M.stacked_modes(x, opts.classifier)
      res.n_samples = n
      return res
   end
   local clf, clf_name = opts.classifier, nil
   if clf == nil then clf, clf_name = M.classifier(dataset), M.weights_path(dataset)
   elseif type(clf) == "string" then clf, clf_name = M.load_classifier(clf), clf
   else clf_name = "custom" end
   local feats, probs = M.features(clf, x)
   local ref = reference(dataset, clf, clf_name ~= "custom" and clf_name or nil)
   local out = { n_samples = n, reference = ref.split, n_reference = ref.n, classifier = clf_name }
   out.fid = M.fid(feats, ref.feats)
   out.kid, out.kid_std = M.kid(feats, ref.feats, { subset_size = math.min(1000, n, ref.n), subsets = 20 })
   ref.radii = ref.radii or M.knn_radii(ref.feats, 3)
   out.precision, out.recall = M.precision_recall(ref.feats, feats, { real_radii = ref.radii })
   out.is, out.is_std = M.inception_score(probs, 10)
   local conf, hist = M.class_histogram(probs, 0.9)
   out.confident = conf
   local lo, hi = 1, 0
   for c, v in ipairs(hist) do
      out["class_" .. (c - 1)] = v
      lo, hi = math.min(lo, v), math.max(hi, v)
   end
   out.class_min, out.class_max = lo, hi
   if opts.labels then
      local labels = opts.labels:narrow(1, 1, n)
      out.class_accuracy = M.class_accuracy(probs, labels)
      -- FID within each class: the samples asked for class c against the real test images of c
      local worst, sum, k = 0, 0, 0
      for c = 0, probs:size(2) - 1 do
         local fi, ri = rows_of(labels, c), rows_of(ref.labels, c)
         if fi and ri and fi:size(1) > 1 and ri:size(1) > 1 then
            local f = M.fid(feats:index_select(1, fi), ref.feats:index_select(1, ri))
            out["fid_class_" .. c] = f
            worst, sum, k = math.max(worst, f), sum + f, k + 1
         end
      end
      if k > 0 then out.fid_class_mean, out.fid_class_max = sum / k, worst end
      if opts.tstr then
         out.tstr_accuracy = M.tstr(x, labels, dataset, type(opts.tstr) == "table" and opts.tstr or nil)
      end
   end
   if opts.parzen then
      local p = M.parzen_digits(x, dataset)
      out.parzen_ll, out.parzen_se, out.parzen_sigma, out.parzen_n_test = p.ll, p.ll_se, p.sigma, p.n_test
   end
   return out
end

--- ProGAN's mode test on stacked MNIST: each channel of the (N, 3, 32, 32) images in
-- [-1, 1] is classified by the MNIST reference classifier (or `classifier`, a weights
-- file or a module), the mode of an image being 100 d_R + 10 d_G + d_B. Returns { modes
-- (how many of the 1,000 occur), kl (KL divergence of the mode histogram to the uniform
-- one over 1,000, in nats), confident (the share of images whose three digits are each
-- classified with probability >= 0.9) }.
function M.stacked_modes(x, classifier)
   if x:dim() ~= 4 or x:size(2) ~= 3 then
      error(("stacked_modes: expected (N, 3, H, W) images, got {%s}"):format(table.concat(x:size(), ", ")), 2)
   end
   local clf = classifier
   if clf == nil then clf = M.classifier("mnist")
   elseif type(clf) == "string" then clf = M.load_classifier(clf) end
   local n = x:size(1)
   local mode = core.zeros({ n }, { dtype = "int64" })
   local sure = core.ones({ n })
   for c = 1, 3 do
      local _, probs = M.features(clf, x:narrow(2, c, 1):contiguous())
      local p, d = probs:max(2)
      mode = mode * 10 + d:reshape(n)
      sure = sure * p:reshape(n):ge(0.9):float()
   end
   local counts = {}
   for _, m in ipairs(mode:totable()) do counts[m] = (counts[m] or 0) + 1 end
   local modes, kl = 0, 0
   for _, k in pairs(counts) do
      modes = modes + 1
      local p = k / n
      kl = kl + p * math.log(p * 1000)
   end
   return { modes = modes, kl = kl, confident = sure:mean():item() }
end

--- The perceptual path length of a list of per-pair distances (Karras et al. 2019): the
-- mean of those between the 1st and the 99th percentile (inclusive; percentiles by linear
-- interpolation between order statistics, as numpy's default), which drops the rare
-- pairs that cross a discontinuity of the generator.
-- @tparam {number,...} d the distances, at least 2
-- @treturn number
function M.path_length(d)
   if type(d) ~= "table" or #d < 2 then error("path_length: needs at least 2 distances", 2) end
   local s = { table.unpack(d) }
   table.sort(s)
   local function pct(q)
      local h = (#s - 1) * q + 1
      local lo = math.floor(h)
      return s[lo] + (h - lo) * ((s[lo + 1] or s[lo]) - s[lo])
   end
   local lo, hi = pct(0.01), pct(0.99)
   local sum, k = 0, 0
   for _, v in ipairs(s) do
      if v >= lo and v <= hi then sum, k = sum + v, k + 1 end
   end
   return sum / k
end

--- Train on synthetic, test on real: a fresh classifier (the reference recipe) trained
-- on generated images with the classes they were generated for, then its accuracy on
-- the real test split of `dataset`. opts: epochs (10), seed (1).
-- @tparam Tensor images (N, C, S, S) in [-1, 1]
-- @tparam Tensor labels int64 (N)
-- @tparam string dataset
-- @tparam[opt] table opts `epochs` (10), `seed` (1)
-- @treturn number the accuracy on the real test split
function M.tstr(images, labels, dataset, opts)
   opts = opts or {}
   local ds = require("gan.data").for_gan(dataset, { split = "test", image_size = images:size(3) })
   local clf = M.train_classifier(images, labels, { epochs = opts.epochs or 10, seed = opts.seed or 1,
      n_classes = opts.n_classes or 10 })
   local _, probs = M.features(clf, ds.images)
   return M.class_accuracy(probs, ds.labels)
end

-- ---------------------------------------------------------------- image-to-image translation

-- Per-image mean absolute error and PSNR of x against y, both in [-1, 1], measured on the
-- [0, 1] scale: L1 = mean |x - y| / 2, PSNR = 10 log10(1 / MSE) averaged over images.
local function l1_psnr(x, y)
   return ((x:double() - y:double()) * 0.5):abs():mean():item(), M.psnr(x, y)
end

-- ---------------------------------------------------------------- image fidelity

--- The luminance of images in [-1, 1] on the 0-255 scale, (N, 1, H, W) float64: for RGB
-- the Y of ITU-R BT.601 as MATLAB's rgb2ycbcr computes it (16 + 65.481 R + 128.553 G +
-- 24.966 B, R, G, B in [0, 1]), the convention of the super-resolution papers; a
-- one-channel image is its own luminance (255 x its [0, 1] value).
function M.luminance(x)
   local u = (x:double() + 1) * 0.5
   if x:size(2) == 1 then return u * 255 end
   if x:size(2) ~= 3 then error(("luminance: expected 1 or 3 channels, got %d"):format(x:size(2)), 2) end
   return (u:narrow(2, 1, 1) * 65.481 + u:narrow(2, 2, 1) * 128.553 + u:narrow(2, 3, 1) * 24.966) + 16
end

local function fidelity_inputs(a, b, opts, who)
   if a:dim() ~= 4 or a:dim() ~= b:dim() then error(who .. ": expected two (N, C, H, W) batches", 3) end
   for d = 1, 4 do
      if a:size(d) ~= b:size(d) then
         error(("%s: the batches differ in size: {%s} and {%s}"):format(who, table.concat(a:size(), ", "),
            table.concat(b:size(), ", ")), 3)
      end
   end
   local x, y
   if opts.y then x, y = M.luminance(a), M.luminance(b)
   else x, y = (a:double() + 1) * 127.5, (b:double() + 1) * 127.5 end
   local c = opts.crop or 0
   if c > 0 then
      local h, w = x:size(3) - 2 * c, x:size(4) - 2 * c
      if h < 1 or w < 1 then error(("%s: a crop of %d leaves nothing of %dx%d images"):format(who, c, x:size(3), x:size(4)), 3) end
      x, y = x:narrow(3, c + 1, h):narrow(4, c + 1, w), y:narrow(3, c + 1, h):narrow(4, c + 1, w)
   end
   return x, y
end

--- PSNR in dB of `a` against `b` (images in [-1, 1]), peak 255 on the 0-255 scale: per
-- image 10 log10(255^2 / MSE), averaged over the images (an identical pair counts as 100
-- dB). opts: y (true: on the luminance, M.luminance; default false: every channel),
-- crop (pixels dropped at each border, 0; the SR papers crop the scale factor), mask
-- ((N, 1, H, W), 1 where the error counts: the MSE is over those pixels only, as inside
-- an inpainted hole; every image needs one).
function M.psnr(a, b, opts)
   opts = opts or {}
   local x, y = fidelity_inputs(a, b, opts, "psnr")
   local sq = (x - y) ^ 2
   local mse
   if opts.mask then
      local m = opts.mask:double()
      if m:dim() ~= 4 or m:size(1) ~= sq:size(1) or m:size(2) ~= 1 or m:size(3) ~= sq:size(3) or m:size(4) ~= sq:size(4) then
         error("psnr: the mask must be (N, 1, H, W) as the images", 2)
      end
      local count = (m:flatten(2):sum(2) * sq:size(2)):totable()
      local sums = (sq * m):flatten(2):sum(2):totable()
      mse = {}
      for i, c in ipairs(count) do
         if c == 0 then error(("psnr: the mask of image %d is empty"):format(i), 2) end
         mse[i] = sums[i] / c
      end
   else
      mse = sq:flatten(2):mean(2):totable()
   end
   local sum = 0
   for _, m in ipairs(mse) do sum = sum + (m > 0 and 10 * math.log(255 * 255 / m, 10) or 100) end
   return sum / #mse
end

--- SSIM (Wang et al. 2004) of `a` against `b` (images in [-1, 1]) on the 0-255 scale: an
-- 11x11 Gaussian window (sigma 1.5) over valid positions, C1 = (0.01 * 255)^2, C2 =
-- (0.03 * 255)^2, luminance, contrast and structure in one, the map averaged per image
-- and channel, then over images. opts: y, crop as M.psnr.
function M.ssim(a, b, opts)
   opts = opts or {}
   local x, y = fidelity_inputs(a, b, opts, "ssim")
   local C = x:size(2)
   if x:size(3) < 11 or x:size(4) < 11 then
      error(("ssim: images of %dx%d are smaller than the 11x11 window"):format(x:size(3), x:size(4)), 2)
   end
   local g, sum = {}, 0
   for i = 1, 11 do g[i] = math.exp(-((i - 6) ^ 2) / (2 * 1.5 * 1.5)); sum = sum + g[i] end
   local k = {}
   for i = 1, 11 do k[i] = {} for j = 1, 11 do k[i][j] = g[i] * g[j] / (sum * sum) end end
   local w = core.tensor({ k }, { dtype = "float64" }):view(1, 1, 11, 11):expand(C, 1, 11, 11):contiguous()
   local function blur(t) return F.conv2d(t, w, nil, { groups = C }) end
   local mx, my = blur(x), blur(y)
   local sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
   local c1, c2 = (0.01 * 255) ^ 2, (0.03 * 255) ^ 2
   local map = ((mx * my * 2 + c1) * (sxy * 2 + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
   return map:mean():item()
end

--- Evaluates a pair of translators on paired held-out images: `a` (N, C, H, W) in domain
-- A and `b` the same items drawn in domain B, both in [-1, 1]. Returns, for A -> B (ab)
-- and B -> A (ba): the L1 and PSNR of the translation against the real drawing, next to
-- the same for the untranslated input (the baseline: l1_ab_input, psnr_ab_input), and the
-- cycle reconstruction L1 (cycle_l1_a = |G_BA(G_AB(a)) - a|). With opts.classifier (a
-- domain classifier: class 0 = A, 1 = B; a module or a weights file): the share of
-- translations assigned to the target domain (style_ab, style_ba), the classifier's
-- accuracy on the real images (style_real), and the FID between translations and the
-- real target images on its features (fid_ab, fid_ba, with fid_ab_input = FID(a, b)).
-- opts: batch (50). Records n.
-- @tparam function G_AB the A -> B translator
-- @tparam function G_BA the B -> A translator
-- @tparam Tensor a (N, C, H, W)
-- @tparam Tensor b (N, C, H, W)
-- @tparam[opt] table opts `batch` (50), `classifier`
-- @treturn table the metrics
-- @treturn table the images `{ab, ba, aba, bab}`
function M.evaluate_translation(G_AB, G_BA, a, b, opts)
   opts = opts or {}
   if a:size(1) ~= b:size(1) then
      error(("evaluate_translation: %d images of A but %d of B; the sets must be paired"):format(a:size(1), b:size(1)), 2)
   end
   local batch, n = opts.batch or 50, a:size(1)
   local was = { G_AB.training, G_BA.training }
   G_AB:eval(); G_BA:eval()
   local ab, ba, aba, bab = {}, {}, {}, {}
   no_grad(function()
      for s = 1, n, batch do
         local m = math.min(batch, n - s + 1)
         local xa, xb = a:narrow(1, s, m), b:narrow(1, s, m)
         local t1, t2 = G_AB(xa), G_BA(xb)
         ab[#ab + 1], ba[#ba + 1] = t1, t2
         aba[#aba + 1], bab[#bab + 1] = G_BA(t1), G_AB(t2)
      end
   end)
   G_AB:train(was[1]); G_BA:train(was[2])
   ab, ba, aba, bab = core.cat(ab, 1), core.cat(ba, 1), core.cat(aba, 1), core.cat(bab, 1)
   local r = { n = n }
   r.l1_ab, r.psnr_ab = l1_psnr(ab, b)
   r.l1_ab_input, r.psnr_ab_input = l1_psnr(a, b)
   r.l1_ba, r.psnr_ba = l1_psnr(ba, a)
   r.l1_ba_input, r.psnr_ba_input = r.l1_ab_input, r.psnr_ab_input
   r.cycle_l1_a = l1_psnr(aba, a)
   r.cycle_l1_b = l1_psnr(bab, b)
   local clf = opts.classifier
   if clf then
      if type(clf) == "string" then clf = M.load_classifier(clf) end
      local fa, pa = M.features(clf, a, batch)
      local fb, pb = M.features(clf, b, batch)
      local fab, pab = M.features(clf, ab, batch)
      local fba, pba = M.features(clf, ba, batch)
      local zeros, ones = core.zeros({ n }, { dtype = "int64" }), core.ones({ n }, { dtype = "int64" })
      r.style_ab = M.class_accuracy(pab, ones)
      r.style_ba = M.class_accuracy(pba, zeros)
      r.style_real = 0.5 * (M.class_accuracy(pa, zeros) + M.class_accuracy(pb, ones))
      r.fid_ab, r.fid_ba, r.fid_ab_input = M.fid(fab, fb), M.fid(fba, fa), M.fid(fa, fb)
   end
   return r, { ab = ab, ba = ba, aba = aba, bab = bab }
end

return M
