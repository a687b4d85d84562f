--- gan sample and gan interpolate: images from any run's generator, without writing code.
--
--     gan sample runs/dcgan/full -n 64 --seed 3             # runs/dcgan/full/sample_s3.png
--     gan sample runs/biggan/fashion --truncation 0.5       # truncated z (models that have it)
--     gan interpolate runs/dcgan/full --rows 4 --steps 10   # rows from z_a to z_b
--     gan sample runs/gancls/full --text "red apple" -n 16  # a prompt (text-to-image models)
--     gan interpolate runs/gancls/full --text "red apple" --to "green apple"   # between texts
--
-- The run's model is rebuilt as `gan eval` does (gan.eval.load: best checkpoint, else the
-- latest; EMA weights with standing statistics when kept). Samples come from the model's
-- network G through model:latent (for conditional models the latent includes the classes);
-- a model without such a G (VAE, PixelCNN, CycleGAN; pix2pix and the other models whose G
-- maps inputs; text-to-image models without --text) gives its own sheet (model:sample()).
-- @module gan.sample
local core = require("gan.core")
local image = require("gan.image")

local S = {}

-- The model of a run and its generator network (nil when it has none).
local function load(dir, checkpoint)
   local model, path, step = require("gan.eval").load(dir, { checkpoint = checkpoint })
   local G = model.networks.G and model.latent ~= require("gan.train.model").latent and model:sampler("G") or nil
   return model, G, path, step
end

-- The note naming a prompt's words the vocabulary does not know (nil when it knows all).
local function unknown_note(unknown)
   return #unknown > 0 and ("words not in the vocabulary (left out): %s"):format(table.concat(unknown, ", ")) or nil
end

-- model:latent(n, g[, truncation]); truncation only for latents that take it.
local function latent(model, n, g, truncation)
   if truncation then
      if debug.getinfo(model.latent, "u").nparams < 4 then
         error(("gan sample: %s draws no truncated latents (--truncation is for models whose latent takes one: "
            .. "sagan, biggan)"):format(model.name), 0)
      end
      return model:latent(n, g, truncation)
   end
   return model:latent(n, g)
end

-- What G made as images in [-1, 1]: the model's to_images when it has one (3D-GAN's
-- voxels become views), else G's output itself.
local function images_of(model, out)
   if model.to_images then return model:to_images(out) end
   return out
end

--- n images (N, C, H, W) in [-1, 1] from a run: opts n (64), seed (1), truncation,
-- checkpoint, text (a prompt for text-to-image models; unknown words are named in the
-- note). Returns the images, the number per row, and a note (a model without G: its sheet
-- instead).
-- @tparam string dir the run directory
-- @tparam[opt] table opts the options above
-- @treturn Tensor the images
-- @treturn int images per row
-- @treturn string|nil the note
function S.sample(dir, opts)
   opts = opts or {}
   local model, G = load(dir, opts.checkpoint)
   local n = opts.n or 64
   if opts.text then   -- a prompt: text-to-image models
      if not model.sample_text then
         error(("gan sample: %s takes no text (--text is for text-to-image models: gancls, stackgan)"):format(model.name), 0)
      end
      local imgs, unknown = model:sample_text(opts.text, n, opts.seed)
      return imgs, math.max(1, math.floor(math.sqrt(n) + 0.5)), unknown_note(unknown)
   end
   if not G or model.sample_text then
      local imgs, o = model:sample()
      local why = model.sample_text and "draws from text (--text for a prompt)"
         or model.networks.G and "has a generator G of inputs, not of noise"
         or "has no generator G"
      return imgs, o and o.nrow or 8, ("%s %s: its own sheet of held-out examples instead of %d samples"):format(
         model.name, why, n)
   end
   local g = core.Generator(opts.seed or 1)
   local parts = {}
   for s = 1, n, 256 do
      parts[#parts + 1] = images_of(model, model.run_eval(G, latent(model, math.min(256, n - s + 1), g, opts.truncation)))
   end
   return core.cat(parts, 1), math.max(1, math.floor(math.sqrt(n) + 0.5)), nil
end

--- Rows of images along straight lines in latent space: opts rows (4), steps (8 images
-- per row, ends included), seed (1), checkpoint. Each row goes from one latent to another
-- (drawn by model:latent); the parts of a latent that are not the noise (classes) stay
-- those of the row's start. Text-to-image models instead walk from the embedding of
-- opts.text to that of opts.to, each row's noise held (gancls.interpolate_text). Returns
-- the images (rows x steps, row by row), steps and a note (unknown words) or nil.
-- @tparam string dir the run directory
-- @tparam[opt] table opts the options above
-- @treturn Tensor the images
-- @treturn int steps (images per row)
-- @treturn string|nil the note
function S.interpolate(dir, opts)
   opts = opts or {}
   local model, G = load(dir, opts.checkpoint)
   local rows, steps = opts.rows or 4, opts.steps or 8
   if model.sample_text then   -- text-to-image models walk between two texts
      if not (opts.text and opts.to) then
         error(("gan interpolate: %s draws from text: give the two ends, --text A --to B"):format(model.name), 0)
      end
      local imgs, unknown = require("gan.models.gancls").interpolate_text(model, opts.text, opts.to, rows, steps,
         opts.seed)
      return imgs, steps, unknown_note(unknown)
   end
   if opts.text or opts.to then
      error(("gan interpolate: %s takes no text (--text and --to are for text-to-image models: gancls, stackgan)")
         :format(model.name), 0)
   end
   if not G then error(("gan interpolate: %s has no generator G with latents to interpolate"):format(model.name), 0) end
   local ends = table.pack(latent(model, 2 * rows, core.Generator(opts.seed or 1), opts.truncation))
   local z = ends[1]
   local a, b = z:narrow(1, 1, rows), z:narrow(1, rows + 1, rows)
   local zs, rest = {}, {}
   for r = 1, rows do
      for k = 0, steps - 1 do
         local t = steps > 1 and k / (steps - 1) or 0
         zs[#zs + 1] = a:narrow(1, r, 1) * (1 - t) + b:narrow(1, r, 1) * t
      end
   end
   for i = 2, ends.n do   -- other inputs (classes): the row's start, repeated along the row
      local idx = {}
      for r = 1, rows do for _ = 1, steps do idx[#idx + 1] = r - 1 end end
      rest[i - 1] = ends[i]:index_select(1, core.tensor(idx, { dtype = "int64" }))
   end
   return images_of(model, model.run_eval(G, core.cat(zs, 1), table.unpack(rest))), steps
end

S.commands = {
   {
      name = "sample",
      summary = "Draw samples from a run's generator into a PNG sheet.",
      description = "Rebuilds RUN_DIR's model (best checkpoint, else latest; EMA weights when kept) and "
         .. "writes N samples as one sheet, RUN_DIR/sample_s<SEED>.png unless --out names a file.",
      setup = function(cmd)
         cmd:argument("run_dir", "The run directory.")
         local integer = require("gan.cli").integer
         cmd:option("-n", "Number of samples.", "64"):convert(integer("-n", 1))
         cmd:option("--seed", "Seed of the latents.", "1"):convert(integer("--seed", 0))
         cmd:option("--truncation", "Truncate z to [-t, t] (models whose latent takes it: sagan, biggan).")
            :convert(function(v)
               local t = tonumber(v)
               if t and t > 0 then return t end
               return nil, ("--truncation: expected a number > 0, got '%s'"):format(v)
            end)
         cmd:option("--text", "A description to draw (text-to-image models: gancls, stackgan).")
         cmd:option("--checkpoint", "A checkpoint file instead of the run's best or latest.")
         cmd:option("--out", "The PNG to write.")
      end,
      run = function(o)
         local imgs, nrow, note = S.sample(o.run_dir, { n = o.n, seed = o.seed, truncation = o.truncation,
            checkpoint = o.checkpoint, text = o.text })
         local out = o.out or ("%s/sample_s%d.png"):format(o.run_dir:gsub("/+$", ""), o.seed)
         image.save_grid(out, imgs, { nrow = nrow, range = { -1, 1 }, title = o.text })
         if note then print(note) end
         print(("gan sample: %d images -> %s"):format(imgs:size(1), out))
      end,
   },
   {
      name = "interpolate",
      summary = "Walk between latents of a run's generator: a sheet of interpolation rows.",
      description = "Rebuilds RUN_DIR's model as gan sample does and writes ROWS rows of STEPS images, each "
         .. "row from one latent to another (classes of conditional models kept along a row; text-to-image "
         .. "models: from the text --text to the text --to, each row's noise kept, the two texts above), to "
         .. "RUN_DIR/interpolate_s<SEED>.png unless --out names a file.",
      setup = function(cmd)
         cmd:argument("run_dir", "The run directory.")
         local integer = require("gan.cli").integer
         cmd:option("--rows", "Number of rows.", "4"):convert(integer("--rows", 1))
         cmd:option("--steps", "Images per row, both ends included.", "8"):convert(integer("--steps", 2))
         cmd:option("--seed", "Seed of the end points.", "1"):convert(integer("--seed", 0))
         cmd:option("--text", "The text at each row's start (text-to-image models: gancls, stackgan).")
         cmd:option("--to", "The text at each row's end (with --text).")
         cmd:option("--checkpoint", "A checkpoint file instead of the run's best or latest.")
         cmd:option("--out", "The PNG to write.")
      end,
      run = function(o)
         local imgs, steps, note = S.interpolate(o.run_dir, { rows = o.rows, steps = o.steps, seed = o.seed,
            checkpoint = o.checkpoint, text = o.text, to = o.to })
         local out = o.out or ("%s/interpolate_s%d.png"):format(o.run_dir:gsub("/+$", ""), o.seed)
         image.save_grid(out, imgs, { nrow = steps, range = { -1, 1 }, title = o.text and (o.text .. " -> " .. o.to) })
         if note then print(note) end
         print(("gan interpolate: %d rows of %d -> %s"):format(imgs:size(1) // steps, steps, out))
      end,
   },
}

return S
