--- CycleGAN's networks (Zhu et al. 2017): the ResNet generator (Johnson et al. 2016) and
-- the PatchGAN discriminator (Isola et al. 2017), with instance normalisation and
-- reflection padding as in the paper; weights initialised N(0, 0.02).
-- @module gan.models.cyclegan
local core = require("gan.core")
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

-- One level of the U-Net: down-convolution, the inner levels, up-convolution, and the
-- skip connection that concatenates the level's input with its output (all but the
-- outermost level).
local UnetBlock = nn.class("UnetBlock", nn.Module)
function UnetBlock:__init(outer_nc, inner_nc, opts)
   nn.Module.__init(self)
   local in_nc = opts.in_nc or outer_nc
   self.outermost = opts.outermost or false
   local down = { nn.Conv2d(in_nc, inner_nc, 4, { stride = 2, padding = 1 }) }
   local up
   if opts.outermost then
      up = { nn.ReLU(), nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, { stride = 2, padding = 1 }), nn.Tanh() }
   elseif opts.innermost then
      table.insert(down, 1, nn.LeakyReLU(0.2))
      up = { nn.ReLU(), nn.ConvTranspose2d(inner_nc, outer_nc, 4, { stride = 2, padding = 1 }), nn.InstanceNorm2d(outer_nc) }
   else
      table.insert(down, 1, nn.LeakyReLU(0.2))
      down[#down + 1] = nn.InstanceNorm2d(inner_nc)
      up = { nn.ReLU(), nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, { stride = 2, padding = 1 }), nn.InstanceNorm2d(outer_nc) }
      if opts.dropout then up[#up + 1] = nn.Dropout(0.5) end
   end
   self.down = nn.Sequential(down)
   self.sub = opts.sub   -- the inner levels (nil at the innermost)
   self.up = nn.Sequential(up)
end
function UnetBlock:forward(x)
   local h = self.down(x)
   if self.sub then h = self.sub(h) end
   local y = self.up(h)
   if self.outermost then return y end
   return core.cat({ x, y }, 2)
end

--- pix2pix's U-Net generator: image (N, in_nc, S, S) -> (N, out_nc, S, S), S a power of
-- two >= 2^n_downs; n_downs stride-2 levels (the bottleneck is 1x1 when S = 2^n_downs)
-- with skip connections between mirrored levels. opts: in_nc (3), out_nc (3), ngf (64),
-- n_downs (6 for 64-pixel images, 8 for 256), dropout (false).
function M.UnetGenerator(opts)
   opts = opts or {}
   local in_nc, out_nc, ngf, n = opts.in_nc or 3, opts.out_nc or 3, opts.ngf or 64, opts.n_downs or 6
   if n < 5 then error("UnetGenerator: n_downs must be >= 5, got " .. tostring(n), 2) end
   local blk = UnetBlock(ngf * 8, ngf * 8, { innermost = true })
   for _ = 1, n - 5 do blk = UnetBlock(ngf * 8, ngf * 8, { sub = blk, dropout = opts.dropout }) end
   blk = UnetBlock(ngf * 4, ngf * 8, { sub = blk })
   blk = UnetBlock(ngf * 2, ngf * 4, { sub = blk })
   blk = UnetBlock(ngf, ngf * 2, { sub = blk })
   local G = UnetBlock(out_nc, ngf, { in_nc = in_nc, sub = blk, outermost = true })
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

--- The generator described by an experiment's resolved config (model.generator "resnet"
-- or "unet", ngf, n_blocks, n_downs), for experiments/cyclegan.lua and `gan eval`.
function M.generator_from_config(cfg)
   local m = cfg.model
   if m.generator == "resnet" then return M.ResnetGenerator { ngf = m.ngf, n_blocks = m.n_blocks } end
   if m.generator == "unet" then return M.UnetGenerator { ngf = m.ngf, n_downs = m.n_downs } end
   error(("cyclegan: model.generator must be 'resnet' or 'unet', got '%s'"):format(tostring(m.generator)), 0)
end

--- The held-out emoji of both domains of a config (data.a, data.b, image_size) as two
-- paired (N, 3, S, S) tensors in [-1, 1]: the same code points, drawn in each style.
function M.test_pairs(cfg)
   local data = require("gan.data")
   local vendors = { cfg.data.a, cfg.data.b }
   local out = {}
   for k, v in ipairs(vendors) do
      local ds = data.for_gan("emoji", { vendor = v, split = "test", image_size = cfg.data.image_size,
         require_vendors = vendors })
      local imgs = {}
      for i = 1, #ds do imgs[i] = ds:get(i).image end
      out[k] = require("gan.tensor").stack(imgs, 1)
   end
   return out[1], out[2]
end

return M
