-- gan.image: exact PNG round trips, alpha compositing, resizing filters, crops, flips,
-- grids against hand computations, and clean errors (never a crash) for broken files.
local gan = require("gan")
local image = gan.image
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "image_helpers.lua")

-- A (C, h, w) image whose values are all multiples of 1/255 (k = 0..255 cycling, with a
-- per-channel stride so that channels differ).
local function byte_image(C, h, w)
   local v = {}
   for c = 1, C do
      for i = 1, h * w do v[#v + 1] = ((i - 1) * 7 + (c - 1) * 101) % 256 / 255 end
   end
   return gan.tensor(v):view(C, h, w)
end

-- A (C, h, w) float64 image 0, 1, 2, ... in row-major order (every value distinct).
local function ramp(C, h, w) return gan.arange(C * h * w, { dtype = "float64" }):view(C, h, w) end

local PNG_SIG = "\137PNG\r\n\26\n"

describe("gan.image", function()
   local dir
   setup(function() dir = H.tmpdir() end)
   teardown(function() H.rmdir(dir) end)

   describe("save and load", function()
      for _, C in ipairs { 1, 3, 4 } do
         it(("round-trips %d-channel 8-bit values exactly"):format(C), function()
            local img = byte_image(C, 13, 21)
            local path = dir .. "/rt" .. C .. ".png"
            image.save(path, img)
            local back = image.load(path)
            H.identical(back, img, "load(save(x))")
            -- All 256 levels appear and come back as exactly k/255.
            local seen = {}
            for _, x in ipairs(H.flat(back)) do
               local k = math.floor(x * 255 + 0.5)
               assert.are.equal(gan.tensor({ k / 255 })[1], x)
               seen[k] = true
            end
            for k = 0, 255 do assert.is_true(seen[k], "level " .. k) end
            -- decode of the same bytes gives the same tensor
            H.identical(image.decode(H.read_all(path)), img, "decode")
         end)
      end

      it("saves a (H, W) tensor as a gray image", function()
         local img = byte_image(1, 5, 6)
         image.save(dir .. "/hw.png", img:view(5, 6))
         H.identical(image.load(dir .. "/hw.png"), img)
      end)

      it("clamps values outside [0, 1] and writes NaN as 0", function()
         local img = gan.tensor({ -0.5, 1.5, 0 / 0, 2 / 255 }):view(1, 2, 2)
         image.save(dir .. "/clamp.png", img)
         H.identical(image.load(dir .. "/clamp.png"), gan.tensor({ 0, 1, 0, 2 / 255 }):view(1, 2, 2))
      end)

      it("rounds to the nearest 8-bit level", function()
         local img = gan.tensor({ 0.4 / 255, 0.6 / 255, 100.49 / 255, 100.51 / 255 }):view(1, 1, 4)
         image.save(dir .. "/round.png", img)
         H.identical(image.load(dir .. "/round.png"), gan.tensor({ 0, 1 / 255, 100 / 255, 101 / 255 }):view(1, 1, 4))
      end)

      it("converts channels on load", function()
         local g = byte_image(1, 4, 5)
         image.save(dir .. "/gray.png", g)
         local rgb = image.load(dir .. "/gray.png", { channels = 3 })
         assert.are.same({ 3, 4, 5 }, rgb:size())
         for c = 1, 3 do H.identical(rgb:narrow(1, c, 1):contiguous(), g) end
         local rgba = image.load(dir .. "/gray.png", { channels = 4 })
         H.identical(rgba:narrow(1, 4, 1):contiguous(), gan.ones({ 1, 4, 5 }), "opaque alpha")
         -- RGB -> 4 channels adds an opaque alpha
         local c3 = byte_image(3, 4, 5)
         image.save(dir .. "/c3.png", c3)
         local c4 = image.load(dir .. "/c3.png", { channels = 4 })
         H.identical(c4:narrow(1, 1, 3):contiguous(), c3)
         H.identical(c4:narrow(1, 4, 1):contiguous(), gan.ones({ 1, 4, 5 }))
      end)

      it("composites RGBA onto white (default) or a given background", function()
         -- pixels: (r, g, b, a) in bytes
         local px = { { 255, 0, 0, 255 }, { 0, 255, 0, 0 }, { 0, 0, 255, 128 }, { 200, 100, 50, 51 },
            { 10, 20, 30, 255 }, { 255, 255, 255, 1 } }
         local planes = {}
         for c = 1, 4 do
            for i, p in ipairs(px) do planes[(c - 1) * #px + i] = p[c] / 255 end
         end
         local rgba = gan.tensor(planes):view(4, 2, 3)
         local path = dir .. "/rgba.png"
         image.save(path, rgba)
         H.identical(image.load(path), rgba, "RGBA kept")
         for _, bg in ipairs { { 1, 1, 1 }, { 0.25, 0.5, 0 } } do
            local expect = {}
            for c = 1, 3 do
               for i, p in ipairs(px) do
                  local a = p[4] / 255
                  expect[(c - 1) * #px + i] = p[c] / 255 * a + bg[c] * (1 - a)
               end
            end
            local opts = { alpha = "composite" }
            if bg[1] ~= 1 then opts.bg = bg end
            local out = image.load(path, opts)
            assert.are.same({ 3, 2, 3 }, out:size())
            H.close(out, expect, 1e-6, "composite")
            H.close(image.decode(H.read_all(path), opts), expect, 1e-6, "decode composite")
         end
      end)

      it("writes atomically: no temporary file is left behind", function()
         image.save(dir .. "/atomic.png", byte_image(3, 2, 2))
         image.save(dir .. "/atomic.png", byte_image(1, 3, 3))   -- overwrite
         assert.are.same({ 1, 3, 3 }, image.load(dir .. "/atomic.png"):size())
         local out = H.sh("ls -1 '" .. dir .. "' | grep -c tmp")
         assert.are.equal("0", out:match("%d+"))
      end)

      it("rejects what it cannot write", function()
         H.raises(function() image.save(dir .. "/five.png", gan.zeros({ 5, 2, 2 })) end, "save_png")
         H.raises(function() image.save(dir .. "/four.png", gan.zeros({ 1, 1, 2, 2 })) end, "save_png")
         H.raises(function() image.save(dir .. "/none/x.png", gan.zeros({ 1, 2, 2 })) end, "none/x.png")
         H.raises(function() image.save(dir .. "/empty.png", gan.zeros({ 3, 0, 2 })) end, "save_png")
      end)
   end)

   describe("broken files", function()
      local valid
      setup(function()
         image.save(dir .. "/valid.png", byte_image(3, 32, 32))
         valid = H.read_all(dir .. "/valid.png")
      end)

      local function both_raise(name, bytes, ...)
         local path = dir .. "/" .. name
         H.write_all(path, bytes)
         local e1 = H.raises(function() image.load(path) end, ...)
         assert.truthy(e1:find(name, 1, true), "the message names the file: " .. e1)
         H.raises(function() image.decode(bytes) end, ...)
         H.raises(function() image.load(path, { alpha = "composite" }) end, ...)
         -- and from the background decoder
         local job = gan.core.image_job({ path }, { {} }, { size = { 8, 8 } })
         H.raises(function() job:wait() end, name)
      end

      it("a corrupt PNG (random bytes after the signature)", function()
         math.randomseed(7)
         for trial = 1, 20 do
            local b = {}
            for i = 1, 64 + trial * 37 do b[i] = string.char(math.random(0, 255)) end
            both_raise("corrupt" .. trial .. ".png", PNG_SIG .. table.concat(b), "image")
         end
      end)

      it("a truncated PNG (a valid file cut in half)", function()
         both_raise("truncated.png", valid:sub(1, #valid // 2), "image")
         both_raise("header_only.png", valid:sub(1, 20), "image")
      end)

      it("an empty file", function()
         both_raise("empty.png", "", "image")
      end)

      it("a non-image", function()
         both_raise("notes.txt", "just some text, not an image\n", "image")
      end)

      it("a missing file", function()
         local e = H.raises(function() image.load(dir .. "/does_not_exist.png") end, "does_not_exist.png")
         assert.truthy(e:find("cannot open", 1, true), e)
         local job = gan.core.image_job({ dir .. "/does_not_exist.png" }, { {} }, { size = { 8, 8 } })
         H.raises(function() job:wait() end, "does_not_exist.png")
      end)

      it("a directory", function()
         H.raises(function() image.load(dir) end, dir, "not a regular file")
         local job = gan.core.image_job({ dir }, { {} }, { size = { 8, 8 } })
         H.raises(function() job:wait() end, "not a regular file")
      end)

      it("damaged bytes inside a valid PNG decode or fail cleanly", function()
         math.randomseed(11)
         for _ = 1, 100 do
            local b = { valid:byte(1, -1) }
            for _ = 1, math.random(1, 8) do
               local at = math.random(9, #b)
               b[at] = math.random(0, 255)
            end
            local s = {}
            for i, x in ipairs(b) do s[i] = string.char(x) end
            local ok, res = pcall(image.decode, table.concat(s))
            if ok then
               assert.are.equal(3, res:size(1))
            else
               assert.truthy(tostring(res):find("image", 1, true), tostring(res))
            end
         end
      end)

      it("bad arguments", function()
         H.raises(function() gan.core.image_decode(valid, 5) end, "channels")
         H.raises(function() gan.core.image_decode(valid, -1) end, "channels")
         H.raises(function() image.load(42) end)
         H.raises(function() gan.core.image_job({}, {}, { size = { 8, 8 } }) end, "image_job")
         H.raises(function() gan.core.image_job({ dir .. "/valid.png" }, {}, { size = { 8, 8 } }) end, "specs")
         H.raises(function() gan.core.image_job({ dir .. "/valid.png" }, { {} }, {}) end, "size")
         H.raises(function() gan.core.image_job({ dir .. "/valid.png" }, { {} }, { size = { 0, 8 } }) end, "size")
         H.raises(function() gan.core.image_job({ 12 }, { {} }, { size = { 8, 8 } }) end, "not a string")
         local job = gan.core.image_job({ dir .. "/valid.png" }, { { crop = { 30, 30, 8, 8 } } }, { size = { 8, 8 } })
         H.raises(function() job:wait() end, "crop")
      end)
   end)

   describe("background decoding (core.image_job)", function()
      it("decodes, crops, flips and resizes a batch like the Lua functions", function()
         local a, b = byte_image(3, 8, 10), byte_image(4, 6, 6)
         image.save(dir .. "/ja.png", a)
         image.save(dir .. "/jb.png", b)
         local job = gan.core.image_job({ dir .. "/ja.png", dir .. "/jb.png", dir .. "/ja.png" },
            { {}, { flip = true }, { crop = { 2, 1, 6, 6 }, flip = true } },
            { composite = true, size = { 6, 6 }, filter = "area" })
         local batch = job:wait()
         assert.are.same({ 3, 3, 6, 6 }, batch:size())
         H.close(batch[1], image.resize(a, { 6, 6 }, { filter = "area" }), 1e-6, "resized")
         H.close(batch[2], image.hflip(image.composite(b)), 1e-6, "flipped composite")
         H.close(batch[3], image.hflip(image.crop(a, 2, 3, 6, 6)), 1e-6, "crop x=2 y=1, flipped")
         H.raises(function() job:wait() end, "already")
      end)

      it("keeps gray images gray with channels = 1", function()
         local g = byte_image(1, 5, 5)
         image.save(dir .. "/jg.png", g)
         local batch = gan.core.image_job({ dir .. "/jg.png" }, { {} }, { channels = 1, size = { 5, 5 } }):wait()
         H.identical(batch[1], g)
      end)

      it("many jobs in flight at once give the same batches", function()
         local paths = {}
         for i = 1, 6 do
            paths[i] = dir .. "/m" .. i .. ".png"
            image.save(paths[i], byte_image(3, 16 + i, 16) * (i / 6))
         end
         local specs = {}
         for i = 1, 6 do specs[i] = { flip = i % 2 == 0 } end
         local ref = gan.core.image_job(paths, specs, { size = { 16, 16 } }):wait()
         local jobs = {}
         for k = 1, 8 do jobs[k] = gan.core.image_job(paths, specs, { size = { 16, 16 } }) end
         for k = 1, 8 do H.identical(jobs[k]:wait(), ref, "job " .. k) end
         -- jobs never waited for are joined and freed by the GC
         for _ = 1, 4 do gan.core.image_job(paths, specs, { size = { 16, 16 } }) end
         collectgarbage()
         collectgarbage()
      end)
   end)

   describe("core.tensor_from_bytes", function()
      local f = gan.core.tensor_from_bytes
      local bytes = "\0\1\2\255\128\7"

      it("reads unsigned bytes at a 0-based offset into a shape, times scale", function()
         local t = f(bytes, 1, { 2, 2 })
         assert.are.equal("float32", t.dtype)
         assert.are.same({ 2, 2 }, t:size())
         assert.are.same({ 1, 2, 255, 128 }, H.flat(t))
         local d = f(bytes, 2, { 4 }, 1 / 255, "float64")
         assert.are.equal("float64", d.dtype)
         assert.are.same({ 2 / 255, 1, 128 / 255, 7 / 255 }, H.flat(d))
         local i = f(bytes, 0, { 6 }, 1, "int64")
         assert.are.equal("int64", i.dtype)
         assert.are.same({ 0, 1, 2, 255, 128, 7 }, H.flat(i))
         -- the same values as decoding: k / 255 in float32
         assert.are.same(H.flat(gan.tensor({ 255 / 255, 128 / 255 })), H.flat(f(bytes, 3, { 2 }, 1 / 255)))
         assert.are.same({ 0 }, f(bytes, 6, { 0 }):size())
      end)

      it("rejects reads past the end and bad shapes", function()
         H.raises(function() f(bytes, 0, { 7 }) end, "7 bytes needed at offset 0, the string has 6")
         H.raises(function() f(bytes, 3, { 2, 2 }) end, "4 bytes needed at offset 3")
         H.raises(function() f(bytes, -1, { 1 }) end, "offset -1")
         H.raises(function() f(bytes, 7, { 0 }) end, "offset 7")
         H.raises(function() f(bytes, 0, { -1 }) end, "negative")
         H.raises(function() f(bytes, 0, { 1 << 31, 1 << 31 }) end, "4611686018427387904 bytes needed")
         H.raises(function() f(bytes, 0, { 1 << 32, 1 << 32 }) end, "more than 2^63 elements")
         H.raises(function() f(bytes, 0, { 1 << 32, 1 << 32, 1 << 32, 0 }) end)
         H.raises(function() f(bytes, 0, { 1 }, 1, "bool") end, "bool")
      end)
   end)

   describe("resize", function()
      it("area on an exact 2x downscale gives the 2x2 averages", function()
         local x = ramp(2, 4, 6):float() * 0.01
         local out = image.resize(x, { 2, 3 }, { filter = "area" })
         assert.are.same({ 2, 2, 3 }, out:size())
         local v, expect = H.flat(x), {}
         local function at(c, i, j) return v[(c - 1) * 24 + (i - 1) * 6 + j] end
         for c = 1, 2 do
            for i = 1, 2 do
               for j = 1, 3 do
                  expect[#expect + 1] = (at(c, 2 * i - 1, 2 * j - 1) + at(c, 2 * i - 1, 2 * j)
                     + at(c, 2 * i, 2 * j - 1) + at(c, 2 * i, 2 * j)) / 4
               end
            end
         end
         H.close(out, expect, 1e-6, "area")
         -- the default filter when shrinking is area
         H.close(image.resize(x, { 2, 3 }), expect, 1e-6, "default")
      end)

      it("area on a 4x downscale of a batch gives 4x4 averages", function()
         local x = gan.rand({ 3, 2, 8, 8 }, { generator = gan.Generator(5) })
         local out = image.resize(x, 2)
         assert.are.same({ 3, 2, 2, 2 }, out:size())
         local v, expect = H.flat(x), {}
         for n = 0, 2 do
            for c = 0, 1 do
               for i = 0, 1 do
                  for j = 0, 1 do
                     local s = 0
                     for di = 0, 3 do
                        for dj = 0, 3 do s = s + v[((n * 2 + c) * 8 + i * 4 + di) * 8 + j * 4 + dj + 1] end
                     end
                     expect[#expect + 1] = s / 16
                  end
               end
            end
         end
         H.close(out, expect, 1e-6, "4x4 area")
      end)

      for _, filter in ipairs { "bilinear", "bicubic", "area" } do
         it(filter .. " keeps a constant image constant", function()
            local x = gan.full({ 3, 5, 7 }, 0.7)
            for _, size in ipairs { { 10, 14 }, { 13, 9 }, { 5, 7 }, { 3, 4 }, { 1, 1 } } do
               local out = image.resize(x, size, { filter = filter })
               assert.are.same({ 3, size[1], size[2] }, out:size())
               H.close(out, gan.full({ 3, size[1], size[2] }, 0.7), 1e-5, filter)
            end
         end)
      end

      it("bilinear is the default when enlarging and interpolates a ramp linearly", function()
         -- A horizontal ramp upscaled 2x stays a ramp inside the image (edges clamp).
         local x = gan.arange(4, { dtype = "float32" }):view(1, 1, 4):expand(1, 3, 4):contiguous()
         local out = image.resize(x, { 6, 8 })
         H.close(out, image.resize(x, { 6, 8 }, { filter = "bilinear" }), 0, "default")
         local row = H.flat(out[1][2])
         -- pixel centres: out j (0-based) maps to input (j + 0.5) / 2 - 0.5
         for j = 1, 6 do H.close({ row[j + 1] }, { (j + 0.5) / 2 - 0.5 }, 1e-5, "ramp") end
         H.close({ row[1], row[8] }, { 0, 3 }, 1e-5, "clamped edges")
      end)

      it("gives (C, h, w) and (N, C, h, w) shapes and keeps the dtype", function()
         assert.are.same({ 3, 10, 14 }, image.resize(gan.rand({ 3, 5, 7 }), { 10, 14 }):size())
         assert.are.same({ 2, 3, 4, 6 }, image.resize(gan.rand({ 2, 3, 5, 7 }), { 4, 6 }, { filter = "bicubic" }):size())
         assert.are.same({ 1, 9, 9 }, image.resize(gan.rand({ 1, 5, 7 }), 9):size())
         local d = image.resize(gan.rand({ 1, 4, 4 }, { dtype = "float64" }), 2)
         assert.are.equal("float64", d.dtype)
         -- a non-contiguous view resizes as its contents
         local base = gan.rand({ 3, 6, 8 })
         local view = base:transpose(2, 3)
         H.close(image.resize(view, { 4, 3 }), image.resize(view:contiguous(), { 4, 3 }), 0)
      end)

      it("rejects bad arguments", function()
         H.raises(function() image.resize(gan.rand({ 4, 4 }), 2) end, "resize")
         H.raises(function() image.resize(gan.rand({ 1, 4, 4 }), { 0, 2 }) end, "resize")
         H.raises(function() image.resize(gan.rand({ 1, 4, 4 }), 2, { filter = "lanczos" }) end, "lanczos")
         H.raises(function() image.resize(gan.zeros({ 1, 4, 4 }, { dtype = "int64" }), 2) end, "float")
         H.raises(function() image.resize({}, 2) end, "resize")
      end)
   end)

   describe("crops and flips", function()
      it("crop takes the 1-based (y, x) corner and (h, w) size", function()
         local x = ramp(2, 5, 6)
         local c = image.crop(x, 2, 3, 3, 2)
         assert.are.same({ 2, 3, 2 }, c:size())
         local expect = {}
         for ch = 0, 1 do
            for i = 2, 4 do
               for j = 3, 4 do expect[#expect + 1] = ch * 30 + (i - 1) * 6 + (j - 1) end
            end
         end
         assert.are.same(expect, H.flat(c))
         -- batches crop every image alike
         local b = image.crop(gan.stack({ x, x + 100 }), 2, 3, 3, 2)
         assert.are.same({ 2, 2, 3, 2 }, b:size())
         H.close(b[2], c + 100, 0)
         -- the whole image and single pixels
         H.close(image.crop(x, 1, 1, 5, 6), x, 0)
         assert.are.same({ 29 }, H.flat(image.crop(x, 5, 6, 1, 1):narrow(1, 1, 1)))
      end)

      it("crop rejects regions outside the image", function()
         local x = ramp(1, 5, 6)
         H.raises(function() image.crop(x, 0, 1, 2, 2) end, "crop")
         H.raises(function() image.crop(x, 1, 0, 2, 2) end, "crop")
         H.raises(function() image.crop(x, 4, 1, 3, 2) end, "does not fit")
         H.raises(function() image.crop(x, 1, 5, 2, 3) end, "does not fit")
         H.raises(function() image.crop(gan.rand({ 5 }), 1, 1, 1, 1) end, "crop")
      end)

      it("center_crop rounds the offset down", function()
         local x = ramp(1, 5, 6)
         -- offsets (5 - 2) // 2 = 1 and (6 - 3) // 2 = 1
         assert.are.same({ 7, 8, 9, 13, 14, 15 }, H.flat(image.center_crop(x, 2, 3)))
         -- square by default: offsets 1 and 1
         assert.are.same({ 7, 8, 9, 13, 14, 15, 19, 20, 21 }, H.flat(image.center_crop(x, 3)))
         -- offsets (5 - 2) // 2 = 1 and (6 - 2) // 2 = 2
         assert.are.same({ 8, 9, 14, 15 }, H.flat(image.center_crop(x, 2, 2)))
         H.raises(function() image.center_crop(x, 6, 2) end, "crop")
      end)

      it("random_crop: same seed same crop, every crop a valid region", function()
         local x = ramp(2, 9, 11)
         local positions = {}
         for seed = 1, 30 do
            local c1 = image.random_crop(x, 4, 5, { generator = gan.Generator(seed) })
            local c2 = image.random_crop(x, 4, 5, { generator = gan.Generator(seed) })
            H.close(c1, c2, 0, "same seed")
            assert.are.same({ 2, 4, 5 }, c1:size())
            local first = H.flat(c1)[1]
            local y, xx = first // 11 + 1, first % 11 + 1
            assert.is_true(y >= 1 and y <= 9 - 4 + 1 and xx >= 1 and xx <= 11 - 5 + 1)
            H.close(c1, image.crop(x, y, xx, 4, 5), 0, "crop at its corner")
            positions[y .. "," .. xx] = true
         end
         local distinct = 0
         for _ in pairs(positions) do distinct = distinct + 1 end
         assert.is_true(distinct >= 10, "different seeds give different crops: " .. distinct)
         -- a generator advances: consecutive crops from one generator differ somewhere
         local g = gan.Generator(3)
         local seen = {}
         for _ = 1, 10 do seen[H.flat(image.random_crop(x, 4, 5, { generator = g }))[1]] = true end
         local n = 0
         for _ in pairs(seen) do n = n + 1 end
         assert.is_true(n > 1)
         -- square default and full size
         assert.are.same({ 2, 4, 4 }, image.random_crop(x, 4, nil, { generator = g }):size())
         H.close(image.random_crop(x, 9, 11), x, 0)
         H.raises(function() image.random_crop(x, 10, 2) end, "larger")
      end)

      it("hflip mirrors the last dim of (C, H, W) and (N, C, H, W)", function()
         local x = ramp(2, 2, 3)
         assert.are.same({ 2, 1, 0, 5, 4, 3, 8, 7, 6, 11, 10, 9 }, H.flat(image.hflip(x)))
         local b = gan.stack({ x, x * 2 })
         local f = image.hflip(b)
         assert.are.same({ 2, 2, 2, 3 }, f:size())
         H.close(f[2], image.hflip(x) * 2, 0)
         H.close(image.hflip(image.hflip(b)), b, 0)
         H.close(image.hflip(gan.rand({ 3, 4, 1 })):size(), { 3, 4, 1 }, 0)
      end)
   end)

   describe("value ranges", function()
      it("to_unit and to_signed are inverse affine maps", function()
         local x = gan.tensor({ -1, -0.5, 0, 0.5, 1 })
         assert.are.same({ 0, 0.25, 0.5, 0.75, 1 }, H.flat(image.to_unit(x)))
         assert.are.same({ -1, -0.5, 0, 0.5, 1 }, H.flat(image.to_signed(image.to_unit(x))))
         assert.are.same({ -1, 0, 1 }, H.flat(image.to_signed(gan.tensor({ 0, 0.5, 1 }))))
      end)

      it("from_bytes and to_bytes", function()
         assert.are.same({ 0, 1, 0.2 }, H.flat(image.from_bytes(gan.tensor({ 0, 255, 51 }, { dtype = "float64" }))))
         assert.are.same({ 0, 255, 128 }, H.flat(image.to_bytes(gan.tensor({ 0, 1, 0.5 }))))
      end)
   end)

   describe("grid", function()
      -- Hand-computed make_grid: image k at row (k-1)//ncol, column (k-1)%ncol, top-left
      -- pixel (pad + r (H + pad), pad + c (W + pad)), 0-based; everything else pad_value.
      local function expected_grid(batch, nrow, pad, pad_value, lo, hi)
         local N, C, Hh, W = table.unpack(batch:size())
         local ncol = math.min(nrow, N)
         local nr = (N + ncol - 1) // ncol
         local GH, GW = nr * (Hh + pad) + pad, ncol * (W + pad) + pad
         local v, out = H.flat(batch), {}
         for i = 1, C * GH * GW do out[i] = pad_value end
         for k = 0, N - 1 do
            local r, c = k // ncol, k % ncol
            for ch = 0, C - 1 do
               for y = 0, Hh - 1 do
                  for x = 0, W - 1 do
                     local src = v[((k * C + ch) * Hh + y) * W + x + 1]
                     local gy, gx = pad + r * (Hh + pad) + y, pad + c * (W + pad) + x
                     out[(ch * GH + gy) * GW + gx + 1] = (src - lo) / (hi - lo)
                  end
               end
            end
         end
         return out, { C, GH, GW }
      end

      it("places each image and pads with pad_value", function()
         local batch = gan.rand({ 5, 2, 2, 3 }, { generator = gan.Generator(1) })
         local g = image.grid(batch, { nrow = 2, padding = 1, pad_value = 0.5 })
         local expect, shape = expected_grid(batch, 2, 1, 0.5, 0, 1)
         assert.are.same({ 2, 10, 9 }, shape)
         assert.are.same(shape, g:size())
         H.close(g, expect, 1e-6, "grid")
      end)

      it("defaults: nrow 8, padding 2, pad_value 0", function()
         local batch = gan.rand({ 10, 3, 4, 4 }, { generator = gan.Generator(2) })
         local g = image.grid(batch)
         local expect, shape = expected_grid(batch, 8, 2, 0, 0, 1)
         assert.are.same({ 3, 2 * 6 + 2, 8 * 6 + 2 }, shape)
         assert.are.same(shape, g:size())
         H.close(g, expect, 1e-6, "default grid")
      end)

      it("fewer images than nrow make a single row; no padding works", function()
         local batch = gan.rand({ 3, 1, 2, 2 }, { generator = gan.Generator(3) })
         local g = image.grid(batch, { nrow = 8, padding = 0 })
         assert.are.same({ 1, 2, 6 }, g:size())
         H.close(g, (expected_grid(batch, 8, 0, 0, 0, 1)), 1e-6)
         -- one (C, H, W) image is a 1-image grid
         local one = image.grid(batch[1], { padding = 1, pad_value = 1 })
         assert.are.same({ 1, 4, 4 }, one:size())
         H.close(one, (expected_grid(batch:narrow(1, 1, 1), 8, 1, 1, 0, 1)), 1e-6)
      end)

      it("maps range {-1, 1} onto [0, 1]", function()
         local batch = gan.rand({ 4, 3, 3, 3 }, { generator = gan.Generator(4) }) * 2 - 1
         local g = image.grid(batch, { nrow = 3, padding = 2, pad_value = 0.25, range = { -1, 1 } })
         H.close(g, (expected_grid(batch, 3, 2, 0.25, -1, 1)), 1e-6)
         local g2 = image.grid(batch * 5, { nrow = 3, range = { -5, 5 } })
         H.close(g2, (expected_grid(batch * 5, 3, 2, 0, -5, 5)), 1e-6)
      end)

      it("accepts tensors that require grad and does not record a graph", function()
         local batch = gan.rand({ 2, 1, 2, 2 }):requires_grad_()
         local g = image.grid(batch, { padding = 1 })
         assert.is_false(g.requires_grad)
      end)

      -- the columns and rows (0-based) holding ink (a value below 0.5 in any channel)
      local function ink(strip)
         local C, Hh, W = table.unpack(strip:size())
         local v, cols, rows = H.flat(strip), {}, {}
         for ch = 0, C - 1 do
            for y = 0, Hh - 1 do
               for x = 0, W - 1 do
                  if v[(ch * Hh + y) * W + x + 1] < 0.5 then cols[x], rows[y] = true, true end
               end
            end
         end
         return cols, rows
      end
      local function extent(set)
         local lo, hi
         for k in pairs(set) do lo, hi = math.min(lo or k, k), math.max(hi or k, k) end
         return lo, hi
      end

      it("a title: a white caption strip above the grid, black text in 6x12 cells from (2, 2)", function()
         local batch = gan.rand({ 4, 3, 4, 4 }, { generator = gan.Generator(8) })
         local plain = image.grid(batch, { nrow = 4 })
         local g = image.grid(batch, { nrow = 4, title = "ab" })
         assert.are.same({ 3, plain:size(2) + 12, plain:size(3) }, g:size())
         H.close(g:narrow(2, 13, plain:size(2)), H.flat(plain), 0, "the grid below the title")
         local strip = g:narrow(2, 1, 12)
         local cols, rows = ink(strip)
         local x0, x1 = extent(cols)
         local y0, y1 = extent(rows)
         assert.is_true(x0 >= 2 and x1 < 2 + 2 * 6 and y0 >= 2, ("ink at x %s..%s, y %s..%s"):format(x0, x1, y0, y1))
         assert.is_true(next(cols) ~= nil, "the title is drawn")
         assert.are.equal(1, strip:narrow(3, 15, plain:size(3) - 14):min():item())   -- white beyond the text
         -- a grey grid becomes RGB to carry its title: three equal channels
         local grey = gan.rand({ 2, 1, 4, 4 }, { generator = gan.Generator(9) })
         local gg = image.grid(grey, { title = "x" })
         local want = image.grid(grey)
         for ch = 1, 3 do H.close(gg[ch]:narrow(1, 13, want:size(2)), H.flat(want), 0, "channel " .. ch) end
         assert.has_error(function() image.grid(gan.rand { 1, 2, 4, 4 }, { title = "x" }) end,
            "grid: a title needs 1 or 3 channels, got 2")
      end)

      it("a caption too long for its width is cut short with '...': the longest prefix that fits", function()
         local text, width = "abcdefghijkl", 40   -- 72 px of text; 36 fit (2 px margins)
         local k = #text
         while require("gan.core").text_size(text:sub(1, k) .. "...") > width - 4 do k = k - 1 end
         assert.are.equal(4, k)   -- 'abcd...' (the dots are 3 px wide)
         local cut = image.caption(text, width)
         assert.are.same({ 3, 12, width }, cut:size())
         H.close(cut, H.flat(image.caption(text:sub(1, k) .. "...", width)), 0, "cut")
         local _, x1 = extent((ink(cut)))
         assert.is_true(x1 < width - 2, "ink inside the margin, got x " .. x1)
         assert.are_not.equal(0, (image.caption("abcd", width) - image.caption("abc", width)):abs():max():item())
      end)

      it("interleave takes the i-th image of every batch in turn", function()
         local a = gan.rand({ 3, 2, 2, 3 }, { generator = gan.Generator(6) })
         local b, c = a + 10, a * -1
         local r = image.interleave({ a, b, c })
         assert.are.same({ 9, 2, 2, 3 }, r:size())
         for i = 1, 3 do
            for j, src in ipairs { a, b, c } do
               H.close(r[(i - 1) * 3 + j], H.flat(src[i]), 0, ("image %d of batch %d"):format(i, j))
            end
         end
         H.close(image.interleave({ a }), H.flat(a), 0, "one batch is itself")
      end)

      it("interleave names the batch that does not fit", function()
         local a = gan.zeros({ 2, 1, 2, 2 })
         assert.has_error(function() image.interleave({ a, gan.zeros({ 3, 1, 2, 2 }) }) end,
            "interleave: batch 2 has size {3, 1, 2, 2}, batch 1 {2, 1, 2, 2}")
         assert.has_error(function() image.interleave({ a, a[1] }) end, "interleave: batch 2 is not (N, C, H, W)")
         assert.has_error(function() image.interleave({}) end, "interleave: expected a non-empty list of batches")
         assert.has_error(function() image.interleave({ a, "x" }) end, "interleave (batch 2): expected an image tensor, got string")
      end)

      it("save_grid writes the grid as a PNG", function()
         local batch = gan.rand({ 6, 3, 5, 4 }, { generator = gan.Generator(5) })
         image.save_grid(dir .. "/grid.png", batch, { nrow = 4, padding = 1, pad_value = 1 })
         local back = image.load(dir .. "/grid.png")
         local expect = image.grid(batch, { nrow = 4, padding = 1, pad_value = 1 })
         assert.are.same(expect:size(), back:size())
         H.close(back, expect, 0.5 / 255 + 1e-6, "saved grid")
      end)
   end)
end)
