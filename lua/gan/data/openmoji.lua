--- OpenMoji (npm `openmoji`, CC BY-SA 4.0): about 4,500 emoji, each a colour SVG and an
-- aligned black line-art SVG, made into image pairs for image-to-image models.
--
-- The first use renders every SVG with Debian's `rsvg-convert` (librsvg2-bin) at the
-- requested size (RGBA, two processes at a time) and derives, per emoji, into
-- <data dir>/openmoji_<size>/:
--
-- - color/<HEX>.png: the colour emoji composited on white;
-- - line/<HEX>.png: the line art composited on white (grey);
-- - labels/<HEX>.png: a semantic map of 8 classes (openmoji.CLASSES) stored as grey levels
--   0-7: background (the colour emoji's alpha below 0.5), line (the line art's alpha 0.5
--   or more), then the colour regions by the family of the nearest colour of OpenMoji's
--   palette (yellow-orange, red-pink-purple, blue, green, skin-brown, grey-white-black).
--
-- The test split holds the emoji whose base emoji's code (skin-tone variants share their
-- base's) has an FNV-1a hash divisible by 10, about 10 %: a variant is never in training
-- when its base is held out.
-- @module gan.data.openmoji
local core = require("gan.core")
local D = require("gan.data.datasets")

local O = {}

--- The classes of the label maps, in the order of their ids 0-7.
O.CLASSES = { "background", "line", "yellow", "red", "blue", "green", "skin", "grey" }

-- OpenMoji's palette (data/color-palette.json: colours and skin tones) by family (class id).
local FAMILIES = {
   [2] = { "#fcea2b", "#f1b31c", "#f4aa41", "#e27022" },
   [3] = { "#ea5a47", "#d22f27", "#ffa7c0", "#e67a94", "#781e32", "#b399c8", "#8967aa" },
   [4] = { "#92d3f5", "#61b2e4", "#1e50a0" },
   [5] = { "#b1cc33", "#5c9e31", "#186648" },
   [6] = { "#fadcbc", "#debb90", "#c19a65", "#a57939", "#6a462f", "#352318" },
   [7] = { "#ffffff", "#d0cfce", "#9b9b9a", "#3f3f3f", "#000000" },
}

-- The palette as a (P, 3) tensor in [0, 1] and the class of each of its colours (P) int64.
local function palette()
   local rows, ids = {}, {}
   for id = 2, 7 do
      for _, hex in ipairs(FAMILIES[id]) do
         rows[#rows + 1] = { tonumber(hex:sub(2, 3), 16) / 255, tonumber(hex:sub(4, 5), 16) / 255,
            tonumber(hex:sub(6, 7), 16) / 255 }
         ids[#ids + 1] = id
      end
   end
   return core.tensor(rows), core.tensor(ids, { dtype = "int64" })
end

--- The label map of one emoji from its two RGBA renders (4, H, W) in [0, 1].
-- @tparam Tensor color the colour SVG's render
-- @tparam Tensor line the line art's render
-- @treturn Tensor (1, H, W) float32 class ids 0-7 (O.CLASSES)
function O.label_map(color, line)
   local H, W = color:size(2), color:size(3)
   local n = H * W
   local pal, ids = palette()
   local rgb = color:narrow(1, 1, 3):reshape(3, n)
   local d = ((rgb:view(1, 3, n) - pal:view(pal:size(1), 3, 1)) ^ 2):sum(2)   -- (P, n)
   local _, nearest = d:reshape(pal:size(1), n):min(1)
   local label = ids:index_select(1, nearest:reshape(n)):float()
   local bg = color:select(1, 4):reshape(n):lt(0.5):float()
   local ln = line:select(1, 4):reshape(n):ge(0.5):float()
   label = label * (1 - bg)                                            -- background: 0
   label = label * (1 - ln) + ln                                       -- line over anything: 1
   return label:view(1, H, W)
end

-- RGBA (4, S, S) composited on white: (3, S, S).
local function on_white(rgba)
   local a = rgba:narrow(1, 4, 1)
   return rgba:narrow(1, 1, 3) * a + (1 - a)
end

--- The npm package's directory (an error naming the install command when it is missing).
-- @treturn string
function O.package_dir()
   local dir = D.data_dir() .. "/node_modules/openmoji"
   local f = io.open(dir .. "/data/openmoji.json", "rb")
   if not f then
      error(("openmoji: the npm package openmoji is not installed; run: gan data fetch openmoji   (that is: %s)")
         :format(table.concat(D.fetch_commands("openmoji"), " && ")), 0)
   end
   f:close()
   return dir
end

--- The emoji of openmoji.json that have both SVGs, sorted by code: { hex, base, group,
-- annotation }, base the code of the emoji a skin-tone variant belongs to (else hex).
-- @treturn {table,...}
function O.entries()
   local dir = O.package_dir()
   local f = assert(io.open(dir .. "/data/openmoji.json", "rb"))
   local list = require("cjson").decode(f:read("a"))
   f:close()
   local out = {}
   for _, e in ipairs(list) do
      local hex = e.hexcode
      local c, l = io.open(dir .. "/color/svg/" .. hex .. ".svg", "rb"), io.open(dir .. "/black/svg/" .. hex .. ".svg", "rb")
      if c and l then
         local base = (e.skintone_base_hexcode ~= nil and e.skintone_base_hexcode ~= "") and e.skintone_base_hexcode or hex
         out[#out + 1] = { hex = hex, base = base, group = e.group, annotation = e.annotation }
      end
      if c then c:close() end
      if l then l:close() end
   end
   table.sort(out, function(a, b) return a.hex < b.hex end)
   return out
end

local exists = require("gan.files").exists

local function shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- Renders SVGs to RGBA PNGs with rsvg-convert, two processes at a time; a render is
-- written beside its path and renamed, so an interrupted run leaves no partial PNG.
-- @tparam {{string,string},...} jobs { svg path, png path } pairs
-- @tparam int size the PNGs' side
-- @raise when rsvg-convert is missing or fails
function O.render(jobs, size)
   if #jobs == 0 then return end
   if not os.execute("command -v rsvg-convert >/dev/null 2>&1") then
      error("openmoji: rsvg-convert is missing; install Debian's librsvg2-bin (gan data fetch openmoji does)", 0)
   end
   local list = os.tmpname()
   local f = assert(io.open(list, "wb"))
   for _, j in ipairs(jobs) do f:write(j[1], "\n", j[2], "\n") end
   f:close()
   local ok = os.execute(("xargs -P 2 -n 2 -d '\\n' sh -c 'rsvg-convert -w %d -h %d -o \"$1.tmp\" \"$0\" && mv \"$1.tmp\" \"$1\"' < %s")
      :format(size, size, shell_quote(list)))
   os.remove(list)
   if not ok then error("openmoji: rsvg-convert failed on some SVGs (see above); run again to retry them", 0) end
end

--- Derives one emoji's colour image, line image and label map from its renders in
-- dir/render_color and dir/render_line into dir/color, dir/line and dir/labels.
-- @tparam string dir the cache directory
-- @tparam string hex the emoji's code
function O.derive(dir, hex)
   local color = core.image_load(("%s/render_color/%s.png"):format(dir, hex), 4)
   local line = core.image_load(("%s/render_line/%s.png"):format(dir, hex), 4)
   core.image_save_png(("%s/color/%s.png"):format(dir, hex), on_white(color))
   core.image_save_png(("%s/line/%s.png"):format(dir, hex), on_white(line):mean(1, true))
   local lab = ("%s/labels/%s.png"):format(dir, hex)
   core.image_save_png(lab .. ".tmp.png", O.label_map(color, line) / 255)
   os.rename(lab .. ".tmp.png", lab)
end

--- Renders and derives what is missing in <data dir>/openmoji_<size> (see the module's
-- description); returns that directory and the entries.
-- @tparam[opt=64] int size
-- @treturn string the directory
-- @treturn {table,...} O.entries()
-- @raise when rsvg-convert is missing or a render fails
function O.prepare(size)
   size = size or 64
   local pkg = O.package_dir()
   local entries = O.entries()
   local dir = D.data_dir() .. "/openmoji_" .. size
   for _, sub in ipairs { "render_color", "render_line", "color", "line", "labels" } do
      require("gan.files").mkdir_p(dir .. "/" .. sub)
   end
   local jobs = {}
   for _, e in ipairs(entries) do
      for _, k in ipairs { { "render_color", "color" }, { "render_line", "black" } } do
         local out = ("%s/%s/%s.png"):format(dir, k[1], e.hex)
         if not exists(out) then jobs[#jobs + 1] = { ("%s/%s/svg/%s.svg"):format(pkg, k[2], e.hex), out } end
      end
   end
   if #jobs > 0 then
      io.stderr:write(("openmoji: rendering %d SVGs at %dx%d into %s (once)\n"):format(#jobs, size, size, dir))
      O.render(jobs, size)
   end
   local n = 0
   for _, e in ipairs(entries) do
      if not exists(("%s/labels/%s.png"):format(dir, e.hex)) then
         O.derive(dir, e.hex)
         n = n + 1
      end
   end
   if n > 0 then io.stderr:write(("openmoji: derived %d emoji in %s\n"):format(n, dir)) end
   return dir, entries
end

--- The class ids (N, S, S) int64 of label maps loaded as grey levels (id / 255).
-- @tparam Tensor map (N, 1, S, S)
-- @treturn Tensor
function O.ids(map)
   return (map * 255 + 0.5):floor():reshape(map:size(1), map:size(3), map:size(4)):to("int64")
end

--- The segmenter that measures semantic synthesis (SPADE's protocol): gan.metrics'
-- Segmenter trained on the training split's real (colour image, label map) pairs, 10
-- epochs, cached in <data dir>/openmoji_<size>/segmenter.safetensors after the first
-- call (delete it to train again).
-- @tparam[opt=64] int size
-- @return the segmenter, in eval mode
function O.segmenter(size)
   size = size or 64
   local metrics, serialize = require("gan.metrics"), require("gan.serialize")
   local path = ("%s/openmoji_%d/segmenter.safetensors"):format(D.data_dir(), size)
   if exists(path) then
      local saved = serialize.load(path)
      local seg = metrics.Segmenter(saved.arch)
      seg:load_state_dict(saved.model)
      seg:eval()
      return seg
   end
   local ds = O.pairs { input = "labels", split = "train", size = size }
   local b = ds:get_batch(core.arange(0, D.len(ds), 1, { dtype = "int64" }))
   io.stderr:write(("openmoji: training the segmenter on %d maps (once; cached in %s)\n"):format(b.b.image:size(1), path))
   local seg = metrics.train_segmenter(b.b.image, O.ids(b.a.image), { n_classes = #O.CLASSES, epochs = 10 })
   serialize.save(path, { model = seg:state_dict(), arch = seg.arch })
   return seg
end

--- Paired OpenMoji images: batches { a = { image = input }, b = { image = colour } } with
-- the input the line art (1 channel, [-1, 1] when signed) or the label map (1 channel of
-- class ids 0-7 as floats, never rescaled).
-- @tparam[opt] table opts `input` ("line" or "labels"), `split` ("train", "test" or "all"),
--  `size` (64), `signed` (true: the colour and line images in [-1, 1])
-- @treturn table a dataset (gan.data.paired); ds.codes lists the emoji codes in order
function O.pairs(opts)
   opts = opts or {}
   local input, split = opts.input or "line", opts.split or "train"
   if input ~= "line" and input ~= "labels" then
      error(("openmoji: input must be 'line' or 'labels', got '%s'"):format(tostring(input)), 2)
   end
   if split ~= "train" and split ~= "test" and split ~= "all" then
      error(("openmoji: split must be 'train', 'test' or 'all', got '%s'"):format(tostring(split)), 2)
   end
   local size = opts.size or 64
   local dir, entries = O.prepare(size)
   local a, b, codes = {}, {}, {}
   for _, e in ipairs(entries) do
      local test = D.fnv1a(e.base) % 10 == 0
      if split == "all" or (split == "test") == test then
         a[#a + 1] = ("%s/%s/%s.png"):format(dir, input, e.hex)
         b[#b + 1] = ("%s/color/%s.png"):format(dir, e.hex)
         codes[#codes + 1] = e.hex
      end
   end
   local signed = opts.signed ~= false
   local ds = D.paired(D.files(a, { name = "openmoji-" .. input, size = size, channels = 1, composite = false,
      signed = signed and input == "line" }), D.files(b, { name = "openmoji-color", size = size, signed = signed }))
   ds.codes = codes
   return ds
end

return O
