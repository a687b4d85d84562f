--- gan.image: load, save, resize, crop, flip and grid images. An image is a float tensor
-- (C, H, W) with values in [0, 1] (GAN samples in [-1, 1] convert with `to_unit`).
-- Decoding, encoding and resizing are C over stb_image, stb_image_write and
-- stb_image_resize (core/src/image.c).
-- @module gan.image
local core = require("gan.core")
local no_grad = require("gan.autograd").no_grad

local image = {}

local function check_image(img, op)
   if not require("gan.tensor").is_tensor(img) then
      error(("%s: expected an image tensor, got %s"):format(op, type(img)), 3)
   end
   if img:dim() ~= 3 and img:dim() ~= 4 then
      error(("%s: expected (C, H, W) or (N, C, H, W), got %d dims"):format(op, img:dim()), 3)
   end
end

-- Composites an RGBA image over a background colour: rgb * a + bg * (1 - a).
local function composite(img, bg)
   local rgb, a = img:narrow(1, 1, 3), img:narrow(1, 4, 1)
   local b = core.tensor(bg or { 1, 1, 1 }):view(3, 1, 1)
   return rgb * a + b * (1 - a)
end
image.composite = composite

-- Calls a core image function; its error (which names the file and the reason) is raised
-- at the caller of image.load / image.decode, not at a line of this file.
local function c_call(fn, ...)
   local ok, r = pcall(fn, ...)
   if not ok then error((tostring(r):gsub("^[^\n]-:%d+: ", "")), 3) end
   return r
end

--- Loads PNG, JPEG, BMP, TGA or GIF (first frame). opts: channels (1 gray, 3 RGB, 4
-- RGBA; default: the file's), alpha = "composite" to flatten transparency onto bg
-- (default white {1, 1, 1}), giving RGB. A corrupt or truncated file, or one larger than
-- image.max_pixels(), is an error naming the file and the reason.
-- @tparam string path
-- @tparam[opt] table opts `channels` (the file's), `alpha` (none; "composite"), `bg`
--  ({1, 1, 1})
-- @treturn Tensor (C, H, W) in [0, 1]
function image.load(path, opts)
   opts = opts or {}
   if opts.alpha == "composite" then return composite(c_call(core.image_load, path, 4), opts.bg) end
   return c_call(core.image_load, path, opts.channels or 0)
end

--- Decodes image bytes (a Lua string), with the options of load (and opts.name, what
-- errors call the bytes: "<bytes>" by default).
-- @tparam string bytes
-- @tparam[opt] table opts `channels`, `alpha`, `bg`, `name` ("<bytes>")
-- @treturn Tensor (C, H, W) in [0, 1]
function image.decode(bytes, opts)
   opts = opts or {}
   if opts.alpha == "composite" then return composite(c_call(core.image_decode, bytes, 4, opts.name), opts.bg) end
   return c_call(core.image_decode, bytes, opts.channels or 0, opts.name)
end

--- The largest image decoding accepts, in pixels (width x height): 2^26 (8192 x 8192) by
-- default. A decompression bomb (a small file that inflates to gigabytes) is refused
-- before any memory is allocated for it.
function image.max_pixels() return core.image_max_pixels() end

--- Sets that limit (an integer >= 1, for the whole process); returns the previous one.
-- @tparam int n
-- @treturn int the previous limit
function image.set_max_pixels(n) return c_call(core.image_max_pixels, n) end

--- Saves a (C, H, W) or (H, W) image in [0, 1] as PNG (values clamped, written atomically).
-- @tparam string path
-- @tparam Tensor img
function image.save(path, img) core.image_save_png(path, img) end

--- [-1, 1] -> [0, 1].
-- @tparam Tensor x
-- @treturn Tensor
function image.to_unit(x) return (x + 1) * 0.5 end
--- [0, 1] -> [-1, 1].
-- @tparam Tensor x
-- @treturn Tensor
function image.to_signed(x) return x * 2 - 1 end
--- [0, 255] -> [0, 1] and back.
-- @tparam Tensor x
-- @treturn Tensor
function image.from_bytes(x) return x / 255 end
--- [0, 1] -> [0, 255], rounded (still a float tensor).
-- @tparam Tensor x
-- @treturn Tensor
function image.to_bytes(x) return (x * 255):round() end

--- Resizes to size ({h, w} or a number for both).
-- @tparam Tensor img (C, H, W) or (N, C, H, W)
-- @tparam int|{int,int} size
-- @tparam[opt] table opts `filter`: "area" (box; the default when shrinking), "bilinear"
--  (the default when enlarging) or "bicubic"
-- @treturn Tensor
-- @raise when img is not a 3-d or 4-d tensor
function image.resize(img, size, opts)
   check_image(img, "resize")
   local h, w = type(size) == "table" and size[1] or size, type(size) == "table" and size[2] or size
   local H, W = img:size(-2), img:size(-1)
   local filter = opts and opts.filter or ((h <= H and w <= W) and "area" or "bilinear")
   return core.image_resize(img, h, w, filter)
end

--- Crop with 1-based top-left corner (y, x) and size (h, w).
-- @tparam Tensor img (C, H, W) or (N, C, H, W)
-- @tparam int y 1-based row
-- @tparam int x 1-based column
-- @tparam int h
-- @tparam int w
-- @treturn Tensor a view
-- @raise when the region does not fit the image
function image.crop(img, y, x, h, w)
   check_image(img, "crop")
   local H, W = img:size(-2), img:size(-1)
   if y < 1 or x < 1 or y + h - 1 > H or x + w - 1 > W then
      error(("crop: %dx%d at (%d, %d) does not fit an image of %dx%d"):format(h, w, y, x, H, W), 2)
   end
   return img:narrow(-2, y, h):narrow(-1, x, w)
end

--- The central h x w region (rounding the offset down, as torchvision).
-- @tparam Tensor img (C, H, W) or (N, C, H, W)
-- @tparam int h
-- @tparam[opt=h] int w
-- @treturn Tensor a view
function image.center_crop(img, h, w)
   w = w or h
   local H, W = img:size(-2), img:size(-1)
   return image.crop(img, (H - h) // 2 + 1, (W - w) // 2 + 1, h, w)
end

--- A random h x w region; opts.generator for reproducible crops.
-- @tparam Tensor img (C, H, W) or (N, C, H, W)
-- @tparam int h
-- @tparam[opt=h] int w
-- @tparam[opt] table opts `generator` (the default one)
-- @treturn Tensor a view
-- @raise when h x w is larger than the image
function image.random_crop(img, h, w, opts)
   w = w or h
   local H, W = img:size(-2), img:size(-1)
   if h > H or w > W then error(("random_crop: %dx%d is larger than the image %dx%d"):format(h, w, H, W), 2) end
   local g = opts and opts.generator and { generator = opts.generator } or nil
   local y = core.randint(0, H - h + 1, { 1 }, g)[1] + 1
   local x = core.randint(0, W - w + 1, { 1 }, g)[1] + 1
   return image.crop(img, y, x, h, w)
end

--- Mirrors left-right.
-- @tparam Tensor img (C, H, W) or (N, C, H, W)
-- @treturn Tensor
function image.hflip(img)
   local W = img:size(-1)
   local idx = core.arange(W - 1, -1, -1)
   return img:index_select(-1, idx)
end

--- A caption: a white strip `width` pixels wide and 12 high holding one line of black
-- text, cut short with "..." when it does not fit.
-- @tparam string text
-- @tparam int width
-- @treturn Tensor (3, 12, width) in [0, 1]
function image.caption(text, width)
   local strip = core.ones { 3, 12, width }
   while core.text_size(text) > width - 4 and #text > 3 do text = text:sub(1, -5) .. "..." end
   core.draw_text(strip, 2, 2, text, { 0, 0, 0 })
   return strip
end

--- Lays a batch (N, C, H, W) out as one image, nrow images per row (as torchvision's
-- make_grid): opts nrow (8), padding (2), pad_value (0), range ({lo, hi} of the input,
-- default {0, 1}; GAN samples use {-1, 1}), title (a caption above the grid; a grey grid
-- becomes RGB to carry it).
-- @tparam Tensor batch (N, C, H, W)
-- @tparam[opt] table opts the options above
-- @treturn Tensor (C, H', W') in [0, 1] (with a title: (3, H' + 12, W'))
function image.grid(batch, opts)
   opts = opts or {}
   if batch:dim() == 3 then batch = batch:unsqueeze(1) end
   check_image(batch, "grid")
   local N, C, H, W = batch:size(1), batch:size(2), batch:size(3), batch:size(4)
   local nrow, pad = opts.nrow or 8, opts.padding or 2
   local xmaps = math.min(nrow, N)
   local ymaps = (N + xmaps - 1) // xmaps
   local out = core.full({ C, ymaps * (H + pad) + pad, xmaps * (W + pad) + pad }, opts.pad_value or 0)
   local lo, hi = 0, 1
   if opts.range then lo, hi = opts.range[1], opts.range[2] end
   local src = batch:detach():float()
   if lo ~= 0 or hi ~= 1 then src = (src - lo) * (1 / (hi - lo)) end
   local _ <close> = no_grad()
   for k = 1, N do
      local r, c = (k - 1) // xmaps, (k - 1) % xmaps
      out:narrow(2, r * (H + pad) + pad + 1, H):narrow(3, c * (W + pad) + pad + 1, W):copy_(src[k])
   end
   if not opts.title then return out end
   if C ~= 1 and C ~= 3 then error(("grid: a title needs 1 or 3 channels, got %d"):format(C), 2) end
   if C == 1 then out = out:expand(3, out:size(2), out:size(3)) end
   return core.cat({ image.caption(opts.title, out:size(3)), out }, 2)
end

--- Interleaves batches of one shape image by image: the first image of each batch in
-- list order, then the second of each, and so on, as one (N k, C, H, W) batch; with grid's
-- nrow a multiple of k, each row shows corresponding images side by side (input, output,
-- target).
-- @tparam {Tensor,...} list k batches (N, C, H, W) of one size
-- @treturn Tensor (N k, C, H, W)
function image.interleave(list)
   if type(list) ~= "table" or #list == 0 then error("interleave: expected a non-empty list of batches", 2) end
   for i, b in ipairs(list) do
      check_image(b, ("interleave (batch %d)"):format(i))
      if b:dim() ~= 4 then error(("interleave: batch %d is not (N, C, H, W)"):format(i), 2) end
      local want, got = table.concat(list[1]:size(), ", "), table.concat(b:size(), ", ")
      if got ~= want then error(("interleave: batch %d has size {%s}, batch 1 {%s}"):format(i, got, want), 2) end
   end
   local n = list[1]:size(1)
   local s = require("gan.tensor").stack(list, 2)
   return s:reshape(n * #list, s:size(3), s:size(4), s:size(5))
end

--- grid() then save().
-- @tparam string path
-- @tparam Tensor batch (N, C, H, W)
-- @tparam[opt] table opts as grid's
function image.save_grid(path, batch, opts)
   image.save(path, image.grid(batch, opts))
end

return image
