--- DCGAN (Radford et al. 2016): all-convolutional generator and discriminator for square
-- images of 32 or 64 pixels (and larger powers of two), with their initialisation.
-- @module gan.models.dcgan
local nn = require("gan.nn")

local M = {}

local function depth(size)
   local n = math.log(size, 2)
   if size < 16 or n ~= math.floor(n) then
      error(("dcgan: image_size must be a power of two >= 16, got %s"):format(tostring(size)), 3)
   end
   return math.floor(n) - 2   -- up/down-sampling stages between 4x4 and size
end

--- DCGAN's initialisation: conv weights N(0, 0.02), batch-norm gains N(1, 0.02), biases 0.
function M.init_weights(m)
   local name = getmetatable(m).__name
   if name == "Conv2d" or name == "ConvTranspose2d" or name == "Linear" then
      nn.init.normal_(m.weight or m.weight_orig, 0, 0.02)
      if m.bias then nn.init.zeros_(m.bias) end
   elseif name == "BatchNorm2d" and m.weight then
      nn.init.normal_(m.weight, 1, 0.02)
      nn.init.zeros_(m.bias)
   end
end

--- z (N, nz, 1, 1) -> image (N, nc, size, size) in [-1, 1].
-- opts: nz (100), ngf (64), nc (1), image_size (32).
function M.Generator(opts)
   opts = opts or {}
   local nz, ngf, nc, size = opts.nz or 100, opts.ngf or 64, opts.nc or 1, opts.image_size or 32
   local stages = depth(size)
   local ch = ngf * 2 ^ (stages - 1)
   local layers = { nn.ConvTranspose2d(nz, ch, 4, { bias = false }), nn.BatchNorm2d(ch), nn.ReLU() }
   for _ = 1, stages - 1 do
      layers[#layers + 1] = nn.ConvTranspose2d(ch, ch // 2, 4, { stride = 2, padding = 1, bias = false })
      layers[#layers + 1] = nn.BatchNorm2d(ch // 2)
      layers[#layers + 1] = nn.ReLU()
      ch = ch // 2
   end
   layers[#layers + 1] = nn.ConvTranspose2d(ch, nc, 4, { stride = 2, padding = 1, bias = false })
   layers[#layers + 1] = nn.Tanh()
   local G = nn.Sequential(layers)
   G:apply(M.init_weights)
   return G
end

--- image (N, nc, size, size) -> one score (logit) per image, shape (N).
-- opts: ndf (64), nc (1), image_size (32), norm ("batch" (default), "layer" or "none":
-- WGAN-GP's critic must not use batch norm).
function M.Discriminator(opts)
   opts = opts or {}
   local ndf, nc, size = opts.ndf or 64, opts.nc or 1, opts.image_size or 32
   local norm = opts.norm or "batch"
   local stages = depth(size)
   local layers = { nn.Conv2d(nc, ndf, 4, { stride = 2, padding = 1, bias = false }), nn.LeakyReLU(0.2) }
   local ch, res = ndf, size // 2
   for _ = 1, stages - 1 do
      layers[#layers + 1] = nn.Conv2d(ch, ch * 2, 4, { stride = 2, padding = 1, bias = norm ~= "batch" })
      ch, res = ch * 2, res // 2
      if norm == "batch" then layers[#layers + 1] = nn.BatchNorm2d(ch)
      elseif norm == "layer" then layers[#layers + 1] = nn.LayerNorm({ ch, res, res }) end
      layers[#layers + 1] = nn.LeakyReLU(0.2)
   end
   layers[#layers + 1] = nn.Conv2d(ch, 1, 4, { bias = false })
   layers[#layers + 1] = nn.Flatten(1)
   local D = nn.Sequential(layers)
   D:apply(M.init_weights)
   return D
end

--- The generator described by an experiment's resolved config (data.name, image_size,
-- model.nz, model.ngf), for `gan eval`.
function M.generator_from_config(cfg)
   local nc = (cfg.data.name == "mnist" or cfg.data.name == "fashion_mnist") and 1 or 3
   return M.Generator { nz = cfg.model.nz, ngf = cfg.model.ngf, nc = nc, image_size = cfg.data.image_size }
end

return M
