--- CycleGAN's networks (Zhu et al. 2017): the ResNet generator (Johnson et al. 2016) and
-- the PatchGAN discriminator (Isola et al. 2017), with instance normalisation and
-- reflection padding as in the paper; weights initialised N(0, 0.02).
-- @module gan.models.cyclegan
local nn = require("gan.nn")

local M = {}

--- Convolution weights N(0, 0.02), biases 0 (the paper's "normal" initialisation).
function M.init_weights(m)
   local name = getmetatable(m).__name
   if name == "Conv2d" or name == "ConvTranspose2d" then
      nn.init.normal_(m.weight, 0, 0.02)
      if m.bias then nn.init.zeros_(m.bias) end
   end
end

local ResnetBlock = nn.class("ResnetBlock", nn.Module)
function ResnetBlock:__init(ch)
   nn.Module.__init(self)
   self.body = nn.Sequential {
      nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch), nn.ReLU(),
      nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch),
   }
end
function ResnetBlock:forward(x) return x + self.body(x) end
M.ResnetBlock = ResnetBlock

--- image (N, in_nc, H, W) -> image (N, out_nc, H, W) in [-1, 1]; H and W multiples of 4.
-- opts: in_nc (3), out_nc (3), ngf (64), n_blocks (9; the paper uses 6 below 256 pixels).
function M.ResnetGenerator(opts)
   opts = opts or {}
   local in_nc, out_nc, ngf, n_blocks = opts.in_nc or 3, opts.out_nc or 3, opts.ngf or 64, opts.n_blocks or 9
   local layers = { nn.ReflectionPad2d(3), nn.Conv2d(in_nc, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU() }
   local ch = ngf
   for _ = 1, 2 do   -- two stride-2 downsamplings
      layers[#layers + 1] = nn.Conv2d(ch, ch * 2, 3, { stride = 2, padding = 1 })
      layers[#layers + 1] = nn.InstanceNorm2d(ch * 2)
      layers[#layers + 1] = nn.ReLU()
      ch = ch * 2
   end
   for _ = 1, n_blocks do layers[#layers + 1] = ResnetBlock(ch) end
   for _ = 1, 2 do
      layers[#layers + 1] = nn.ConvTranspose2d(ch, ch // 2, 3, { stride = 2, padding = 1, output_padding = 1 })
      layers[#layers + 1] = nn.InstanceNorm2d(ch // 2)
      layers[#layers + 1] = nn.ReLU()
      ch = ch // 2
   end
   layers[#layers + 1] = nn.ReflectionPad2d(3)
   layers[#layers + 1] = nn.Conv2d(ch, out_nc, 7)
   layers[#layers + 1] = nn.Tanh()
   local G = nn.Sequential(layers)
   G:apply(M.init_weights)
   return G
end

--- image (N, in_nc, H, W) -> (N, 1, H', W') logits, one per overlapping patch (70x70 for
-- n_layers 3). opts: in_nc (3), ndf (64), n_layers (3).
function M.PatchDiscriminator(opts)
   opts = opts or {}
   local in_nc, ndf, n_layers = opts.in_nc or 3, opts.ndf or 64, opts.n_layers or 3
   local layers = { nn.Conv2d(in_nc, ndf, 4, { stride = 2, padding = 1 }), nn.LeakyReLU(0.2) }
   local ch = ndf
   for n = 1, n_layers do
      local out = ndf * math.min(1 << n, 8)
      local stride = n < n_layers and 2 or 1
      layers[#layers + 1] = nn.Conv2d(ch, out, 4, { stride = stride, padding = 1 })
      layers[#layers + 1] = nn.InstanceNorm2d(out)
      layers[#layers + 1] = nn.LeakyReLU(0.2)
      ch = out
   end
   layers[#layers + 1] = nn.Conv2d(ch, 1, 4, { padding = 1 })
   local D = nn.Sequential(layers)
   D:apply(M.init_weights)
   return D
end

return M
