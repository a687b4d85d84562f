--- gan.fid: FID, KID and precision/recall between two folders of images (`gan fid DIR_A
-- DIR_B`), for images that did not come from a gan run.
--
-- No Inception network exists offline, so the features come from a small classifier
-- (gan.metrics.Classifier, 128-d features): a shipped reference classifier (`--features
-- mnist`, `fashion_mnist`, `emoji_style`, `emoji_category`, or a weights file), or one
-- trained here on DIR_A (`--features folder`, the default): supervised on its subfolders
-- as classes (as torchvision's ImageFolder), or, for a flat folder, self-supervised by
-- predicting which of four rotations (0, 90, 180, 270 degrees) was applied (Gidaris et
-- al. 2018). A folder-trained network is cached in the data directory under a hash of
-- DIR_A's file list and the settings, so comparing many folders against one reference
-- trains once. The numbers compare only with numbers from the same feature network: they
-- are not Inception-based FIDs of papers, and the output says so.
-- @module gan.fid
local core = require("gan.core")

local M = {}

--- Every image of a folder (flat, or one subfolder per class), resized, in [-1, 1].
-- @tparam string dir
-- @tparam table o `size` (the side S), `channels`, `limit` (the first `limit` images
--  only; 0 or nil: all)
-- @treturn Tensor images (N, C, S, S)
-- @treturn Tensor|nil int64 labels (N), nil for a flat folder
-- @treturn table the class names
-- @treturn table the files, in the images' order
function M.load_folder(dir, o)
   local data = require("gan.data")
   local ds = data.image_folder(dir, { size = o.size, channels = o.channels, signed = true })
   local n = #ds
   if o.limit and o.limit > 0 and n > o.limit then n = o.limit end
   local parts, labels = {}, {}
   for s = 0, n - 1, 256 do
      local m = math.min(256, n - s)
      local idx = core.arange(s, s + m, { dtype = "int64" })
      local b = ds:get_batch(idx)
      parts[#parts + 1] = b.image
      if b.label then labels[#labels + 1] = b.label end
   end
   return core.cat(parts, 1), #labels > 0 and core.cat(labels, 1) or nil, ds.classes, ds.files
end

-- The four rotations of x (N, C, S, S) by 0, 90, 180 and 270 degrees clockwise, stacked, with
-- labels 0-3 (the self-supervised task of a flat folder).
local function rotations(x)
   local n, s = x:size(1), x:size(3)
   local idx = {}
   for i = 1, s do idx[i] = s - i end
   idx = core.tensor(idx, { dtype = "int64" })
   local function rev(t, d) return t:index_select(d, idx) end   -- reverses dimension d
   local r90 = rev(x:transpose(3, 4), 4)
   local r180 = rev(rev(x, 3), 4)
   local r270 = rev(x:transpose(3, 4), 3)
   local lab = {}
   for k = 0, 3 do for _ = 1, n do lab[#lab + 1] = k end end
   return core.cat({ x, r90, r180, r270 }, 1):contiguous(), core.tensor(lab, { dtype = "int64" })
end
M.rotations = rotations

local function fnv1a(s)
   local h = 2166136261
   for i = 1, #s do h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff end
   return ("%08x"):format(h)
end

--- A feature network trained on the images of a folder: with labels, to classify them;
-- without, to tell their rotations apart. o: epochs (10), seed (1), cache (a path, or
-- false). Returns the classifier (eval mode) and a name for the output.
-- @tparam Tensor images (N, C, S, S) in [-1, 1]
-- @tparam[opt] Tensor labels int64 (N); nil for a flat folder
-- @tparam[opt] table o the options above
-- @treturn Module the classifier
-- @treturn string the name
function M.train_features(images, labels, o)
   local metrics = require("gan.metrics")
   local task = labels and "classes" or "rotations"
   if o.cache and io.open(o.cache, "rb") then
      return metrics.load_classifier(o.cache), ("trained on %s (%s; cached %s)"):format(o.dir, task, o.cache)
   end
   local x, y, k = images, labels, nil
   if labels then
      k = labels:max():item() + 1
      if k < 2 then error(("fid: %s has one class folder; a feature network needs two or more"):format(o.dir), 0) end
   else
      x, y, k = rotations(images)
      k = 4
   end
   local clf = metrics.train_classifier(x, y, { epochs = o.epochs or 10, seed = o.seed or 1, n_classes = k,
      shift = labels and 2 or 0 })
   if o.cache then
      require("gan.serialize").save(o.cache, { model = clf:state_dict(), arch = clf.arch })
   end
   return clf, ("trained on %s (%s, %d epochs)"):format(o.dir, task, o.epochs or 10)
end

local SHIPPED = { mnist = true, fashion_mnist = true, emoji_style = true, emoji_category = true }

--- Compares two folders. o: features ("folder" (default), a shipped classifier's name, a
-- weights file, or a classifier module with features_name naming it), size (32, or the shipped classifier's), epochs (10, for "folder"),
-- limit (images per folder, 0 = all), cache (true: cache a folder-trained network in the
-- data directory). Returns a table of numbers and strings: fid, kid, kid_std, precision,
-- recall, n_a, n_b, features, note.
-- @tparam string dir_a
-- @tparam string dir_b
-- @tparam[opt] table o the options above
-- @treturn table
function M.compare(dir_a, dir_b, o)
   o = o or {}
   local metrics = require("gan.metrics")
   local features = o.features or "folder"
   local clf, name
   if type(features) == "table" then
      clf, name = features, o.features_name or "a classifier module"
   elseif features ~= "folder" then
      clf = SHIPPED[features] and metrics.classifier(features) or metrics.load_classifier(features)
      name = SHIPPED[features] and ("shipped %s classifier"):format(features) or features
   end
   local size = clf and clf.arch.image_size or o.size or 32
   local channels = clf and clf.arch.in_nc or o.channels or 3
   local a, labels, _, files = M.load_folder(dir_a, { size = size, channels = channels, limit = o.limit })
   local b = M.load_folder(dir_b, { size = size, channels = channels, limit = o.limit })
   if a:size(1) < 2 or b:size(1) < 2 then
      error(("fid: need at least 2 images in each folder (%s: %d, %s: %d)"):format(dir_a, a:size(1), dir_b,
         b:size(1)), 0)
   end
   if not clf then
      local cache = false
      if o.cache ~= false then   -- keyed by DIR_A's files and everything the training depends on
         local key = fnv1a(table.concat(files, "\n") .. ("|%d|%d|%d|%d|%d"):format(size, channels, o.epochs or 10,
            a:size(1), o.seed or 1))
         local dir = require("gan.data").data_dir() .. "/fid_features"
         require("gan.files").mkdir_p(dir)
         cache = dir .. "/" .. key .. ".safetensors"
      end
      clf, name = M.train_features(a, labels, { epochs = o.epochs, seed = o.seed, cache = cache, dir = dir_a })
   end
   local fa, fb = metrics.features(clf, a), metrics.features(clf, b)
   local out = { n_a = a:size(1), n_b = b:size(1), features = name }
   out.fid = metrics.fid(fa, fb)
   -- subsets of at most half the smaller folder, so that they differ (and the spread means something)
   local subset = math.min(1000, math.max(2, math.min(a:size(1), b:size(1)) // 2))
   out.kid, out.kid_std = metrics.kid(fa, fb, { subset_size = subset, subsets = 20 })
   out.precision, out.recall = metrics.precision_recall(fa, fb)
   out.note = "features of a small classifier, not Inception: compare only with numbers from the same features"
   return out
end

--- The `gan fid` command.
M.command = {
   name = "fid",
   summary = "FID, KID and precision/recall between two folders of images.",
   description = "Measures DIR_B against DIR_A on the features of a small classifier: one trained on "
      .. "DIR_A (--features folder: its subfolders as classes, or rotation prediction for a flat folder; "
      .. "cached in the data directory) or a shipped reference classifier. Not comparable with the "
      .. "Inception-based FID of papers.",
   setup = function(cmd)
      cmd:argument("dir_a", "the reference folder (real images; subfolders = classes)")
      cmd:argument("dir_b", "the folder to measure")
      cmd:option("--features", "'folder' (a network trained on DIR_A), mnist, fashion_mnist, emoji_style, "
         .. "emoji_category, or a classifier weights file", "folder")
      local integer = require("gan.cli").integer
      cmd:option("--size", "image size for a folder-trained network (a multiple of 8)", "32")
         :convert(function(v)
            local n = math.tointeger(tonumber(v))
            if n and n >= 8 and n % 8 == 0 then return n end
            return nil, ("--size: expected a multiple of 8, got '%s'"):format(v)
         end)
      cmd:option("--channels", "1 or 3 (folder-trained network)", "3"):choices { "1", "3" }
      cmd:option("--epochs", "training epochs of a folder-trained network", "10"):convert(integer("--epochs", 1))
      cmd:option("--limit", "at most this many images per folder (0: all)", "0"):convert(integer("--limit", 0))
      cmd:flag("--no-cache", "do not cache a folder-trained network in the data directory")
   end,
   run = function(args)
      local r = M.compare(args.dir_a, args.dir_b, { features = args.features, size = args.size,
         channels = tonumber(args.channels), epochs = args.epochs, limit = args.limit, cache = not args.no_cache })
      print(("fid        %.4f"):format(r.fid))
      print(("kid        %.5f +- %.5f"):format(r.kid, r.kid_std))
      print(("precision  %.4f"):format(r.precision))
      print(("recall     %.4f"):format(r.recall))
      print(("images     %d (%s), %d (%s)"):format(r.n_a, args.dir_a, r.n_b, args.dir_b))
      print(("features   %s"):format(r.features))
      print(("note       %s"):format(r.note))
      return 0
   end,
}

return M
