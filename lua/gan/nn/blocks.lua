--- gan.nn.blocks: the networks and blocks that several models share, each in one place:
-- DCGAN's convolutional generator and discriminator (DCGAN, WGAN-GP, ACGAN, InfoGAN and
-- the classic objectives build on them), Johnson et al.'s ResNet generator with its
-- residual block, pix2pix's U-Net and PatchGAN discriminator (CycleGAN, pix2pix), and
-- MLPs (the original GAN, cGAN, the 2-d toys). The convolutional ones initialise their
-- weights with nn.init.gan_normal (N(0, 0.02), as the papers).
-- @module gan.nn.blocks
local core = require("gan.core")
local nn = {}
for k, v in pairs(require("gan.nn.layers")) do nn[k] = v end
local module = require("gan.nn.module")
nn.class, nn.Module, nn.Sequential = module.class, module.Module, module.Sequential
local init_weights = require("gan.nn.initializers").gan_normal(0.02)
local ResidualBlock = require("gan.nn.gan_layers").ResidualBlock   -- Johnson et al.'s, instance norm

local function initialised(net)
   net:apply(init_weights)
   return net
end

local B = {}

-- Appends a 4x4 convolution (padding 1) from cin to cout channels, the normalisation
-- norm(cout) when given, and LeakyReLU(0.2): the downsampling layer of DCGAN's and
-- pix2pix's discriminators.
local function down(layers, cin, cout, stride, bias, norm)
   layers[#layers + 1] = nn.Conv2d(cin, cout, 4, { stride = stride, padding = 1, bias = bias })
   if norm then layers[#layers + 1] = norm(cout) end
   layers[#layers + 1] = nn.LeakyReLU(0.2)
end

-- ---------------------------------------------------------------- DCGAN (Radford et al. 2016)

local function depth(size, who)
   local n = math.log(size, 2)
   if size < 16 or n ~= math.floor(n) then
      error(("%s: image_size must be a power of two >= 16, got %s"):format(who, tostring(size)), 3)
   end
   return math.floor(n) - 2   -- up/down-sampling stages between 4x4 and size
end

--- z (N, nz, 1, 1) -> image (N, nc, size, size) in [-1, 1].
-- opts: nz (100), ngf (64), nc (1), image_size (32), norm ("batch" (default) or "none":
-- without batch norm, the transposed convolutions get biases).
-- @tparam[opt] table opts the options above
-- @treturn Module a Sequential
-- @raise on an unknown norm
function B.DCGANGenerator(opts)
   opts = opts or {}
   local nz, ngf, nc, size = opts.nz or 100, opts.ngf or 64, opts.nc or 1, opts.image_size or 32
   local norm = opts.norm or "batch"
   if norm ~= "batch" and norm ~= "none" then
      error(("DCGANGenerator: norm must be 'batch' or 'none', got '%s'"):format(tostring(norm)), 2)
   end
   local stages = depth(size, "DCGANGenerator")
   local layers = {}
   -- transposed convolution (4x4), batch norm when used, ReLU
   local function up(cin, cout, o)
      o.bias = norm ~= "batch"
      layers[#layers + 1] = nn.ConvTranspose2d(cin, cout, 4, o)
      if norm == "batch" then layers[#layers + 1] = nn.BatchNorm2d(cout) end
      layers[#layers + 1] = nn.ReLU()
   end
   local ch = ngf * 2 ^ (stages - 1)
   up(nz, ch, {})
   for _ = 1, stages - 1 do
      up(ch, ch // 2, { stride = 2, padding = 1 })
      ch = ch // 2
   end
   layers[#layers + 1] = nn.ConvTranspose2d(ch, nc, 4, { stride = 2, padding = 1, bias = false })
   layers[#layers + 1] = nn.Tanh()
   return initialised(nn.Sequential(layers))
end

--- image (N, nc, size, size) -> one score (logit) per image, shape (N).
-- opts: ndf (64), nc (1), image_size (32), norm ("batch" (default), "layer" or "none":
-- WGAN-GP's critic must not use batch norm).
-- @tparam[opt] table opts the options above
-- @treturn Module a Sequential
-- @raise on an unknown norm
function B.DCGANDiscriminator(opts)
   opts = opts or {}
   local ndf, nc, size = opts.ndf or 64, opts.nc or 1, opts.image_size or 32
   local norm = opts.norm or "batch"
   if norm ~= "batch" and norm ~= "layer" and norm ~= "none" then
      error(("DCGANDiscriminator: norm must be 'batch', 'layer' or 'none', got '%s'"):format(tostring(norm)), 2)
   end
   local stages = depth(size, "DCGANDiscriminator")
   local layers = {}
   down(layers, nc, ndf, 2, false)
   local ch, res = ndf, size // 2
   for _ = 1, stages - 1 do
      ch, res = ch * 2, res // 2
      local r = res
      local make_norm = ({ batch = nn.BatchNorm2d, layer = function(c) return nn.LayerNorm({ c, r, r }) end })[norm]
      down(layers, ch // 2, ch, 2, norm ~= "batch", make_norm)
   end
   layers[#layers + 1] = nn.Conv2d(ch, 1, 4, { bias = false })
   layers[#layers + 1] = nn.Flatten(1)
   return initialised(nn.Sequential(layers))
end

-- ---------------------------------------------------------------- MLPs (the original GAN, cGAN, 2-d toys)

local MLP_ACTS = { relu = true, leaky_relu = true, maxout = true }

--- A multilayer perceptron: x (N, ...) flattened to (N, input) -> (N, out), or reshaped
-- to (N, table.unpack(out_shape)). opts: input, out (required), hidden (256), layers
-- (hidden layers, 2), act ("relu", "leaky_relu" (slope 0.2) or "maxout" with `pieces` (5)),
-- dropout (0: none; after each hidden layer), out_act ("tanh", "sigmoid" or nil: linear),
-- out_shape. Layers keep PyTorch's default initialisation.
-- @tparam table opts the options above (input and out required)
-- @treturn Module a Sequential
-- @raise without integer input and out, or on an unknown act
function B.MLP(opts)
   opts = opts or {}
   local act, hidden = opts.act or "relu", opts.hidden or 256
   if not MLP_ACTS[act] then
      error(("MLP: act must be 'relu', 'leaky_relu' or 'maxout', got '%s'"):format(tostring(act)), 2)
   end
   if math.type(opts.input) ~= "integer" or math.type(opts.out) ~= "integer" then
      error("MLP: input and out (feature counts) are required", 2)
   end
   local layers, width = { nn.Flatten() }, opts.input
   for _ = 1, opts.layers or 2 do
      if act == "maxout" then
         layers[#layers + 1] = nn.Maxout(width, hidden, opts.pieces or 5)
      else
         layers[#layers + 1] = nn.Linear(width, hidden)
         layers[#layers + 1] = act == "relu" and nn.ReLU() or nn.LeakyReLU(0.2)
      end
      if (opts.dropout or 0) > 0 then layers[#layers + 1] = nn.Dropout(opts.dropout) end
      width = hidden
   end
   layers[#layers + 1] = nn.Linear(width, opts.out)
   if opts.out_act == "tanh" then layers[#layers + 1] = nn.Tanh()
   elseif opts.out_act == "sigmoid" then layers[#layers + 1] = nn.Sigmoid() end
   if opts.out_shape then layers[#layers + 1] = nn.Unflatten(2, opts.out_shape) end
   return nn.Sequential(layers)
end

-- ---------------------------------------------------------------- ResNet generator, U-Net, PatchGAN


--- image (N, in_nc, H, W) -> image (N, out_nc, H, W) in [-1, 1]; H and W multiples of 4.
-- opts: in_nc (3), out_nc (3), ngf (64), n_blocks (9; the paper uses 6 below 256 pixels).
-- @tparam[opt] table opts the options above
-- @treturn Module a Sequential
function B.ResnetGenerator(opts)
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
   for _ = 1, n_blocks do layers[#layers + 1] = ResidualBlock(ch) end
   for _ = 1, 2 do
      layers[#layers + 1] = nn.ConvTranspose2d(ch, ch // 2, 3, { stride = 2, padding = 1, output_padding = 1 })
      layers[#layers + 1] = nn.InstanceNorm2d(ch // 2)
      layers[#layers + 1] = nn.ReLU()
      ch = ch // 2
   end
   layers[#layers + 1] = nn.ReflectionPad2d(3)
   layers[#layers + 1] = nn.Conv2d(ch, out_nc, 7)
   layers[#layers + 1] = nn.Tanh()
   return initialised(nn.Sequential(layers))
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
--- One U-Net level: down, the inner levels, up; all but the outermost level return
-- their input concatenated with the output along the channels.
-- @tparam Tensor x (N, C, H, W)
-- @treturn Tensor
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
-- @tparam[opt] table opts the options above
-- @treturn Module
-- @raise when n_downs < 5
function B.UnetGenerator(opts)
   opts = opts or {}
   local in_nc, out_nc, ngf, n = opts.in_nc or 3, opts.out_nc or 3, opts.ngf or 64, opts.n_downs or 6
   if n < 5 then error("UnetGenerator: n_downs must be >= 5, got " .. tostring(n), 2) end
   local blk = UnetBlock(ngf * 8, ngf * 8, { innermost = true })
   for _ = 1, n - 5 do blk = UnetBlock(ngf * 8, ngf * 8, { sub = blk, dropout = opts.dropout }) end
   blk = UnetBlock(ngf * 4, ngf * 8, { sub = blk })
   blk = UnetBlock(ngf * 2, ngf * 4, { sub = blk })
   blk = UnetBlock(ngf, ngf * 2, { sub = blk })
   return initialised(UnetBlock(out_nc, ngf, { in_nc = in_nc, sub = blk, outermost = true }))
end

--- image (N, in_nc, H, W) -> (N, 1, H', W') logits, one per overlapping patch (70x70 for
-- n_layers 3). opts: in_nc (3), ndf (64), n_layers (3).
-- @tparam[opt] table opts the options above
-- @treturn Module a Sequential
function B.PatchDiscriminator(opts)
   opts = opts or {}
   local in_nc, ndf, n_layers = opts.in_nc or 3, opts.ndf or 64, opts.n_layers or 3
   local layers = {}
   down(layers, in_nc, ndf, 2, true)
   local ch = ndf
   for n = 1, n_layers do
      local out = ndf * math.min(1 << n, 8)
      down(layers, ch, out, n < n_layers and 2 or 1, true, nn.InstanceNorm2d)
      ch = out
   end
   layers[#layers + 1] = nn.Conv2d(ch, 1, 4, { padding = 1 })
   return initialised(nn.Sequential(layers))
end

return B
