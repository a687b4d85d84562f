-- Issue 25, images: PNG chunk CRCs and the zlib stream (with its Adler-32) are verified,
-- so a flipped bit is an error rather than altered pixels; the decoded size is limited
-- before anything is allocated (decompression bombs); errors name the file and the
-- decoder's reason and are raised at the caller.
local gan = require("gan")
local image = gan.image

local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "hardening_helpers.lua")
local tmpdir, rmdir, read_all, write_all = H.tmpdir, H.rmdir, H.read_all, H.write_all
local PY = "/usr/bin/python3"

local err_of = H.err_of   -- the message of f(...)'s error, raised at the caller

-- PNG files made by Python's zlib, with chunks and streams as a test needs them.
local MAKE = [==[
import struct, sys, zlib
d = sys.argv[1]
def chunk(t, data, crc=None):
    c = zlib.crc32(t + data) if crc is None else crc
    return struct.pack(">I", len(data)) + t + data + struct.pack(">I", c)
def png(w, h, color, depth, idat, extra=b""):
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + idat + chunk(b"IEND", b"")
def write(name, b):
    open(d + "/" + name, "wb").write(b)
rows = b"".join(b"\x00" + bytes(range(i * 4, i * 4 + 4)) for i in range(4))     # 4x4 gray, filter 0
good = zlib.compress(rows)
write("good.png", png(4, 4, 0, 8, chunk(b"IDAT", good)))
# the Adler-32 of the zlib stream is wrong, every chunk CRC right
bad = good[:-4] + struct.pack(">I", (struct.unpack(">I", good[-4:])[0] ^ 1))
write("adler.png", png(4, 4, 0, 8, chunk(b"IDAT", bad)))
# the stream split over two IDAT chunks, and an ancillary chunk: fine
write("split.png", png(4, 4, 0, 8, chunk(b"IDAT", good[:5]) + chunk(b"IDAT", good[5:]), chunk(b"tEXt", b"k\x00v")))
# a bomb: 8x8 declared, 64 MiB of zeros in ~64 KB
z = zlib.compressobj(9)
bomb = z.compress(b"\x00" * (64 << 20)) + z.flush()
write("bomb_small_dims.png", png(8, 8, 0, 8, chunk(b"IDAT", bomb)))
# a bomb by its dimensions: 16384 x 16384 RGBA (1 GiB decoded) from one small stream
write("bomb_dims.png", png(16384, 16384, 6, 8, chunk(b"IDAT", zlib.compress(b"\x00" * 4096))))
# short data: a 4x4 image with one row
write("short.png", png(4, 4, 0, 8, chunk(b"IDAT", zlib.compress(rows[:5]))))
# no IEND
write("noend.png", png(4, 4, 0, 8, chunk(b"IDAT", good))[:-12])
# an invalid IHDR: colour type 2 with bit depth 4
write("ihdr.png", png(4, 4, 2, 4, chunk(b"IDAT", good)))
# a BMP header claiming 100000 x 100000 pixels
bmp = b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 100000, 100000, 1, 24, 0, 0, 0, 0, 0, 0)
write("huge.bmp", bmp)
print(len(bomb))
]==]

describe("PNG integrity", function()
   local dir
   setup(function()
      dir = tmpdir()
      write_all(dir .. "/make.py", MAKE)
      local p = io.popen(PY .. " " .. dir .. "/make.py " .. dir .. " 2>&1")
      local out = p:read("a")
      assert.is_true(p:close(), out)
   end)
   teardown(function() rmdir(dir) end)

   it("every single-bit flip of a PNG is refused with a message naming the file", function()
      local path = dir .. "/flip.png"
      image.save(path, gan.rand { 3, 5, 7 })
      local bytes = read_all(path)
      local refused = 0
      for pos = 1, #bytes do
         for bit = 0, 7 do
            local b = bytes:sub(1, pos - 1) .. string.char(bytes:byte(pos) ~ (1 << bit)) .. bytes:sub(pos + 1)
            local ok, e = pcall(err_of, image.decode, b, { name = "flip.png" })
            assert.is_true(ok, ("flipping bit %d of byte %d went unnoticed"):format(bit, pos))
            assert.truthy(e:find("^image: ") and e:find("flip.png", 1, true), e)
            refused = refused + 1
         end
      end
      assert.are.equal(#bytes * 8, refused)
   end)

   it("names the broken part: CRC, zlib stream, Adler-32, size, IHDR, IEND", function()
      local good = image.load(dir .. "/good.png")
      assert.are.same({ 1, 4, 4 }, good:size())
      assert.are.equal(string.unpack("<f", string.pack("<f", 5 / 255)), good[1][2][2])
      assert.are.same(good:totable(), image.load(dir .. "/split.png"):totable())
      local function msg(name) return err_of(image.load, dir .. "/" .. name) end
      local p = function(name) return dir .. "/" .. name end
      assert.are.equal(("image: %s is corrupt: its compressed pixel data is invalid (zlib: incorrect data check)")
         :format(p "adler.png"), msg "adler.png")
      assert.are.equal(("image: %s is corrupt: its pixel data is 5 bytes, a 4x4 image needs 20"):format(p "short.png"),
         msg "short.png")
      assert.are.equal(("image: %s is truncated: no IEND chunk at byte %d"):format(p "noend.png",
         #read_all(p "noend.png")), msg "noend.png")
      assert.are.equal(("image: %s is corrupt: invalid IHDR (4x4, bit depth 4, colour type 2, compression 0, "
         .. "filter 0, interlace 0)"):format(p "ihdr.png"), msg "ihdr.png")
      local g = read_all(p "good.png")
      write_all(p "crc.png", g:sub(1, 42) .. string.char(g:byte(43) ~ 4) .. g:sub(44))   -- in the IDAT data
      assert.are.equal(("image: %s is corrupt: CRC mismatch in chunk 'IDAT' at byte 33"):format(p "crc.png"),
         msg "crc.png")
      write_all(p "cut.png", g:sub(1, 45))
      assert.are.equal(("image: %s is truncated or corrupt: chunk 'IDAT' at byte 33 claims %d bytes, 0 remain")
         :format(p "cut.png", string.unpack(">I4", g:sub(34, 37))), msg "cut.png")
      assert.are.equal(("image: cannot open %s: No such file or directory"):format(p "none.png"), msg "none.png")
      write_all(p "text.png", "not an image at all")
      assert.are.equal(("image: cannot decode %s: unknown image type"):format(p "text.png"), msg "text.png")
   end)

   it("refuses decompression bombs before allocating: by dimensions and by inflated size", function()
      assert.are.equal(1 << 26, image.max_pixels())
      assert.are.equal(("image: %s/bomb_dims.png is 16384x16384 pixels, more than the limit of 67108864 "
         .. "(gan.image.set_max_pixels)"):format(dir), err_of(image.load, dir .. "/bomb_dims.png"))
      assert.is_true(#read_all(dir .. "/bomb_small_dims.png") < 200000)
      local before = gan.memory_stats().peak_bytes
      assert.are.equal(("image: %s/bomb_small_dims.png is corrupt: its pixel data inflates past the 72 bytes a "
         .. "8x8 image needs"):format(dir), err_of(image.load, dir .. "/bomb_small_dims.png"))
      assert.are.equal(before, gan.memory_stats().peak_bytes)
      assert.are.equal(("image: %s/huge.bmp is 100000x100000 pixels, more than the limit of 67108864 "
         .. "(gan.image.set_max_pixels)"):format(dir), err_of(image.load, dir .. "/huge.bmp"))
   end)

   it("the limit is configurable", function()
      local old = image.set_max_pixels(15)
      assert.are.equal(1 << 26, old)
      local ok, e = pcall(image.load, dir .. "/good.png")
      assert.are.equal(15, image.set_max_pixels(old))
      assert.is_false(ok)
      assert.truthy(e:find("is 4x4 pixels, more than the limit of 15", 1, true), e)
      assert.are.same({ 1, 4, 4 }, image.load(dir .. "/good.png"):size())
      assert.are.equal("image.set_max_pixels: the limit must be an integer in [1, 1099511627776], got 0",
         err_of(image.set_max_pixels, 0))
   end)

   it("a data loader reports a corrupt file by name, without a position inside the library", function()
      local folder = dir .. "/folder"
      os.execute("mkdir -p " .. folder)
      image.save(folder .. "/a.png", gan.rand { 3, 4, 4 })
      write_all(folder .. "/b.png", read_all(dir .. "/adler.png"))
      local ds = gan.data.image_folder(folder, { size = 4 })
      local loader = gan.data.DataLoader(ds, { batch_size = 2, shuffle = false })
      local ok, e = pcall(function() for _ in loader do end end)
      assert.is_false(ok)
      assert.are.equal(("image: %s/b.png is corrupt: its compressed pixel data is invalid (zlib: incorrect data "
         .. "check)"):format(folder), e)
   end)
end)
