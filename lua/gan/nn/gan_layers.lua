--- Layers specific to GAN architectures: SAGAN's self-attention, conditional batch norm
-- (class embeddings or any conditioning vector, as BigGAN), ProGAN's pixel norm,
-- minibatch standard deviation and equalised learning rate, StyleGAN's AdaIN and noise
-- injection, StyleGAN2's modulated convolution, CycleGAN's residual block and BigGAN/SNGAN residual up/down blocks.
-- @module gan.nn.gan_layers
local core = require("gan.core")
local no_grad = require("gan.autograd").no_grad
local F = require("gan.nn.functional")
local modmod = require("gan.nn.module")
local L = require("gan.nn.layers")
local U = require("gan.nn.utils")
local init = require("gan.nn.initializers")

local class, Module, Sequential = modmod.class, modmod.Module, modmod.Sequential
local G = {}

local function maybe_sn(m, sn) if sn then return U.spectral_norm(m) end return m end

--- SAGAN self-attention: every position attends to all positions, added to the input.
-- 1x1 convolutions to queries and keys (C/8 channels) and values (C), softmax attention
-- over all positions, y = gamma * attention + x with gamma a learned scalar starting at 0
-- (so the layer starts as the identity). With `pool`, the form of the SAGAN and BigGAN
-- code releases, which attends to a quarter of the positions: keys and values (C/2
-- channels) are max-pooled 2x2 and a last 1x1 convolution maps the C/2 attended values
-- back to C channels (attention maps HW x HW/4, four times smaller; H and W must be even).
-- @function SelfAttention2d
-- @tparam int channels C
-- @tparam[opt] table opts `sn` (false: spectral norm on the convolutions), `pool` (false)
-- @treturn Module
G.SelfAttention2d = class("SelfAttention2d", Module)
function G.SelfAttention2d:__init(channels, opts)
   Module.__init(self)
   opts = opts or {}
   local c8 = math.max(1, channels // 8)
   self.channels, self.pool = channels, opts.pool or false
   local cv = self.pool and math.max(1, channels // 2) or channels
   self.query = maybe_sn(L.Conv2d(channels, c8, 1, { bias = false }), opts.sn)
   self.key = maybe_sn(L.Conv2d(channels, c8, 1, { bias = false }), opts.sn)
   self.value = maybe_sn(L.Conv2d(channels, cv, 1, { bias = false }), opts.sn)
   if self.pool then self.out = maybe_sn(L.Conv2d(cv, channels, 1, { bias = false }), opts.sn) end
   self.gamma = core.zeros({ 1 }):requires_grad_()
end
--- Applies the attention.
-- @tparam Tensor x (N, C, H, W)
-- @treturn Tensor of x's shape
-- @raise with `pool`, when H or W is odd
function G.SelfAttention2d:forward(x)
   local N, C, H, W = x:size(1), x:size(2), x:size(3), x:size(4)
   local k, v = self.key(x), self.value(x)
   if self.pool then
      if H % 2 ~= 0 or W % 2 ~= 0 then
         error(("SelfAttention2d: pooled attention needs an even height and width, got %dx%d"):format(H, W), 2)
      end
      k, v = F.max_pool2d(k, 2), F.max_pool2d(v, 2)
   end
   local P = k:size(3) * k:size(4)
   local q = self.query(x):reshape(N, -1, H * W)                -- (N, C/8, HW)
   k, v = k:reshape(N, -1, P), v:reshape(N, -1, P)              -- (N, C/8, P), (N, Cv, P)
   local attn = F.softmax(core.matmul(q:transpose(2, 3), k), 3) -- (N, HW, P): row i attends
   local out = core.matmul(v, attn:transpose(2, 3)):reshape(N, -1, H, W)
   if self.pool then out = self.out(out) end
   return out * self.gamma + x
end
--- The channels, as printed after the class name.
-- @treturn string
function G.SelfAttention2d:extra_repr() return tostring(self.channels) end

--- Batch norm whose gain and bias depend on a condition (class labels or a vector).
-- With num_classes, they come from class embeddings (gain initialised to 1, bias to 0);
-- with opts.cond_dim, from linear maps of a conditioning vector (BigGAN: shared class
-- embedding concatenated with a chunk of z): gain = 1 + Linear(c), bias = Linear(c).
-- @function ConditionalBatchNorm2d
-- @tparam int num_features the channels C
-- @tparam[opt] int num_classes for class labels (ignored with cond_dim)
-- @tparam[opt] table opts `cond_dim` (the conditioning vector's size, default none: class
--  labels), `sn` (false: spectral norm on the linear maps), `eps` (1e-5), `momentum` (0.1)
-- @treturn Module
G.ConditionalBatchNorm2d = class("ConditionalBatchNorm2d", Module)
function G.ConditionalBatchNorm2d:__init(num_features, num_classes, opts)
   Module.__init(self)
   opts = opts or {}
   self.num_features = num_features
   self.bn = L.BatchNorm2d(num_features, { affine = false, eps = opts.eps, momentum = opts.momentum })
   if opts.cond_dim then
      self.cond_dim = opts.cond_dim
      self.gain = maybe_sn(L.Linear(opts.cond_dim, num_features, { bias = false }), opts.sn)
      self.bias = maybe_sn(L.Linear(opts.cond_dim, num_features, { bias = false }), opts.sn)
   else
      self.num_classes = num_classes
      self.embed_gain = L.Embedding(num_classes, num_features)
      self.embed_bias = L.Embedding(num_classes, num_features)
      init.ones_(self.embed_gain.weight)
      init.zeros_(self.embed_bias.weight)
   end
end
--- Normalises x and applies the gain and bias of its condition.
-- @tparam Tensor x (N, C, H, W)
-- @tparam Tensor y int64 class labels (N), 0-based, or a conditioning tensor (N, cond_dim)
-- @treturn Tensor of x's shape
function G.ConditionalBatchNorm2d:forward(x, y)
   local h = self.bn(x)
   local gamma, beta
   if self.cond_dim then
      gamma, beta = self.gain(y) + 1, self.bias(y)
   else
      gamma, beta = self.embed_gain(y), self.embed_bias(y)
   end
   local N, C = x:size(1), self.num_features
   return h * gamma:view(N, C, 1, 1) + beta:view(N, C, 1, 1)
end

--- ProGAN pixelwise feature normalisation: x / sqrt(mean over channels of x^2 + eps).
-- @function PixelNorm
-- @tparam[opt=1e-8] number eps
-- @treturn Module
G.PixelNorm = class("PixelNorm", Module)
function G.PixelNorm:__init(eps) Module.__init(self); self.eps = eps or 1e-8 end
--- Normalises each position's feature vector.
-- @tparam Tensor x (N, C, ...)
-- @treturn Tensor of x's shape
function G.PixelNorm:forward(x) return x * ((x * x):mean(2, true) + self.eps):rsqrt() end

--- ProGAN minibatch standard deviation, appended to the input as one extra channel.
-- The standard deviation of each feature over groups of group_size samples, averaged to
-- one value per group.
-- @function MinibatchStdDev
-- @tparam[opt=4] int group_size samples per group (at most the batch size)
-- @treturn Module
G.MinibatchStdDev = class("MinibatchStdDev", Module)
function G.MinibatchStdDev:__init(group_size) Module.__init(self); self.group_size = group_size or 4 end
--- Appends the statistic as a channel.
-- @tparam Tensor x (N, C, H, W)
-- @treturn Tensor (N, C + 1, H, W)
-- @raise when N is not divisible by the group size
function G.MinibatchStdDev:forward(x)
   local N, C, H, W = x:size(1), x:size(2), x:size(3), x:size(4)
   local g = math.min(self.group_size, N)
   if N % g ~= 0 then
      error(("MinibatchStdDev: batch %d is not divisible by group size %d"):format(N, g), 2)
   end
   local y = x:reshape(g, N // g, C, H, W)
   local std = (y:var(1, false) + 1e-8):sqrt()           -- (N/g, C, H, W)
   local s = std:mean({ 2, 3, 4 }):reshape(1, N // g, 1, 1, 1)
   s = s:expand(g, N // g, 1, H, W):reshape(N, 1, H, W)
   return core.cat({ x, s }, 2)
end

--- Linear with equalised learning rate (ProGAN/StyleGAN).
-- Weights N(0, 1) / lr_mul, scaled at run time by gain * lr_mul / sqrt(fan_in): He's
-- initialisation applied at every step. The papers use gain sqrt(2) for a layer followed
-- by a leaky ReLU (without it each such layer halves the signal's variance) and 1 for an
-- output layer.
-- @function EqualLinear
-- @tparam int in_f input features
-- @tparam int out_f output features
-- @tparam[opt] table opts `bias` (true), `bias_init` (0), `lr_mul` (1), `gain` (1)
-- @treturn Module
G.EqualLinear = class("EqualLinear", Module)
function G.EqualLinear:__init(in_f, out_f, opts)
   Module.__init(self)
   opts = opts or {}
   self.lr_mul = opts.lr_mul or 1
   self.in_features, self.out_features = in_f, out_f
   self.weight = (core.randn { out_f, in_f } / self.lr_mul):requires_grad_()
   if opts.bias ~= false then self.bias = core.full({ out_f }, opts.bias_init or 0):requires_grad_() end
   self.scale = (opts.gain or 1) * self.lr_mul / math.sqrt(in_f)
end
--- Applies the scaled linear map.
-- @tparam Tensor x (..., in_f)
-- @treturn Tensor (..., out_f)
function G.EqualLinear:forward(x)
   return F.linear(x, self.weight * self.scale, self.bias and self.bias * self.lr_mul)
end

--- Conv2d with equalised learning rate: weight N(0, 1) scaled at run time by
-- gain / sqrt(in * k * k) (the gain as in EqualLinear).
-- @function EqualConv2d
-- @tparam int in_ch input channels
-- @tparam int out_ch output channels
-- @tparam int k the (square) kernel size
-- @tparam[opt] table opts `stride` (1), `padding` (0), `bias` (true), `gain` (1)
-- @treturn Module
G.EqualConv2d = class("EqualConv2d", Module)
function G.EqualConv2d:__init(in_ch, out_ch, k, opts)
   Module.__init(self)
   opts = opts or {}
   self.stride, self.padding = opts.stride or 1, opts.padding or 0
   self.weight = core.randn({ out_ch, in_ch, k, k }):requires_grad_()
   if opts.bias ~= false then self.bias = core.zeros({ out_ch }):requires_grad_() end
   self.scale = (opts.gain or 1) / math.sqrt(in_ch * k * k)
end
--- Applies the scaled convolution.
-- @tparam Tensor x (N, in_ch, H, W)
-- @treturn Tensor (N, out_ch, H', W')
function G.EqualConv2d:forward(x)
   return F.conv2d(x, self.weight * self.scale, self.bias, { stride = self.stride, padding = self.padding })
end

--- Adaptive instance normalisation from a style vector (StyleGAN).
-- instance_norm(x) * scale + bias with (scale, bias) = Linear(style_dim, 2C)(w), the
-- scale's bias initialised to 1.
-- @function AdaIN
-- @tparam int channels C
-- @tparam int style_dim the style vector's size
-- @treturn Module
G.AdaIN = class("AdaIN", Module)
function G.AdaIN:__init(channels, style_dim)
   Module.__init(self)
   self.channels = channels
   self.style = L.Linear(style_dim, 2 * channels)
   local _ <close> = no_grad()
   self.style.bias:narrow(1, 1, channels):fill_(1)
   self.style.bias:narrow(1, channels + 1, channels):fill_(0)
end
--- Normalises x and applies the style's scale and bias.
-- @tparam Tensor x (N, C, H, W)
-- @tparam Tensor w the style (N, style_dim)
-- @treturn Tensor of x's shape
function G.AdaIN:forward(x, w)
   local N, C = x:size(1), self.channels
   local s = self.style(w)
   local scale, bias = s:narrow(2, 1, C):view(N, C, 1, 1), s:narrow(2, C + 1, C):view(N, C, 1, 1)
   return F.instance_norm(x) * scale + bias
end

--- StyleGAN2's modulated convolution (Karras et al. 2020) with equalised learning rate.
-- The style s = Linear(style_dim, in_ch)(w) (bias initialised to 1) scales the weight's
-- input channels per sample, w'_{n,o,i,k} = scale * w_{o,i,k} * s_{n,i}, and with
-- demodulate (default) each output channel is divided by the norm of its modulated
-- weights, sqrt(sum_{i,k} w'_{n,o,i,k}^2 + 1e-8), which keeps the output's scale without
-- normalising by the actual activations (AdaIN's droplets). Computed without per-sample
-- weights: conv(x * s, w) * d, equal to conv(x, w') because s scales input channels and
-- d output channels.
-- @function ModulatedConv2d
-- @tparam int in_ch
-- @tparam int out_ch
-- @tparam int k the kernel size
-- @tparam int style_dim w's size
-- @tparam[opt] table opts `padding` (k // 2), `demodulate` (true), `bias` (true)
-- @treturn Module
G.ModulatedConv2d = class("ModulatedConv2d", Module)
function G.ModulatedConv2d:__init(in_ch, out_ch, k, style_dim, opts)
   Module.__init(self)
   opts = opts or {}
   self.in_ch, self.out_ch, self.k = in_ch, out_ch, k
   self.padding = opts.padding or k // 2
   self.demodulate = opts.demodulate ~= false
   self.weight = core.randn({ out_ch, in_ch, k, k }):requires_grad_()
   self.scale = 1 / math.sqrt(in_ch * k * k)
   self.style = G.EqualLinear(style_dim, in_ch, { bias_init = 1 })
   if opts.bias ~= false then self.bias = core.zeros({ out_ch }):requires_grad_() end
end
--- The modulated convolution of x by the styles of w.
-- @tparam Tensor x (N, in_ch, H, W)
-- @tparam Tensor w (N, style_dim)
-- @treturn Tensor (N, out_ch, H, W)
function G.ModulatedConv2d:forward(x, w)
   local N = x:size(1)
   local s = self.style(w)                                   -- (N, in)
   local weight = self.weight * self.scale
   local y = F.conv2d(x * s:view(N, self.in_ch, 1, 1), weight, nil, { padding = self.padding })
   if self.demodulate then
      -- sum_{i,k} (w_{o,i,k} s_i)^2 = (s^2) @ (sum_k w_{o,i,k}^2)^T: (N, out)
      local wsq = (weight * weight):sum({ 3, 4 })            -- (out, in)
      local d = ((s * s):matmul(wsq:t()) + 1e-8):rsqrt()
      y = y * d:view(N, self.out_ch, 1, 1)
   end
   if self.bias then y = y + self.bias:view(1, self.out_ch, 1, 1) end
   return y
end
--- The sizes and whether it demodulates, for printing.
-- @treturn string
function G.ModulatedConv2d:extra_repr()
   return ("%d, %d, k=%d%s"):format(self.in_ch, self.out_ch, self.k, self.demodulate and "" or ", demodulate=false")
end

--- StyleGAN noise injection: x + weight * noise with a learned per-channel weight.
-- The weight starts at 0.
-- @function NoiseInjection
-- @tparam int channels C
-- @treturn Module
G.NoiseInjection = class("NoiseInjection", Module)
function G.NoiseInjection:__init(channels)
   Module.__init(self)
   self.weight = core.zeros({ 1, channels, 1, 1 }):requires_grad_()
end
--- Adds the weighted noise.
-- @tparam Tensor x (N, C, H, W)
-- @tparam[opt] Tensor noise (N, 1, H, W); default fresh N(0, 1) noise from the default
--  generator
-- @treturn Tensor of x's shape
function G.NoiseInjection:forward(x, noise)
   noise = noise or core.randn({ x:size(1), 1, x:size(3), x:size(4) }, { dtype = x.dtype })
   return x + self.weight * noise
end

--- CycleGAN's residual block: x plus a two-convolution branch.
-- The branch: reflection pad, 3x3 conv, norm, ReLU, (dropout 0.5), reflection pad, 3x3
-- conv, norm.
-- @function ResidualBlock
-- @tparam int channels C (in and out)
-- @tparam[opt] table opts `norm` ("instance", default, or "batch"), `dropout` (false)
-- @treturn Module
G.ResidualBlock = class("ResidualBlock", Module)
function G.ResidualBlock:__init(channels, opts)
   Module.__init(self)
   opts = opts or {}
   local function norm()
      if opts.norm == "batch" then return L.BatchNorm2d(channels) end
      return L.InstanceNorm2d(channels)
   end
   local layers = { L.ReflectionPad2d(1), L.Conv2d(channels, channels, 3, { bias = opts.norm == "instance" or opts.norm == nil }),
      norm(), L.ReLU() }
   if opts.dropout then layers[#layers + 1] = L.Dropout(0.5) end
   for _, m in ipairs { L.ReflectionPad2d(1), L.Conv2d(channels, channels, 3, { bias = opts.norm == "instance" or opts.norm == nil }), norm() } do
      layers[#layers + 1] = m
   end
   self.block = Sequential(layers)
end
--- x plus the branch.
-- @tparam Tensor x (N, C, H, W)
-- @treturn Tensor of x's shape
function G.ResidualBlock:forward(x) return x + self.block(x) end

--- BigGAN/SNGAN generator block, doubling H and W.
-- BN, ReLU, upsample x2, 3x3 conv, BN, ReLU, 3x3 conv; skip: upsample x2, 1x1 conv. With
-- `cond_dim` (or `num_classes`) the batch norms are conditional (ConditionalBatchNorm2d)
-- and forward takes (x, y).
-- @function ResBlockUp
-- @tparam int in_ch input channels
-- @tparam int out_ch output channels
-- @tparam[opt] table opts `cond_dim` or `num_classes` (default neither: plain batch
--  norm), `sn` (false: spectral norm on the convolutions)
-- @treturn Module
G.ResBlockUp = class("ResBlockUp", Module)
function G.ResBlockUp:__init(in_ch, out_ch, opts)
   Module.__init(self)
   opts = opts or {}
   self.conditional = opts.cond_dim ~= nil or opts.num_classes ~= nil
   if self.conditional then
      self.bn1 = G.ConditionalBatchNorm2d(in_ch, opts.num_classes, { cond_dim = opts.cond_dim, sn = opts.sn })
      self.bn2 = G.ConditionalBatchNorm2d(out_ch, opts.num_classes, { cond_dim = opts.cond_dim, sn = opts.sn })
   else
      self.bn1, self.bn2 = L.BatchNorm2d(in_ch), L.BatchNorm2d(out_ch)
   end
   self.conv1 = maybe_sn(L.Conv2d(in_ch, out_ch, 3, { padding = 1 }), opts.sn)
   self.conv2 = maybe_sn(L.Conv2d(out_ch, out_ch, 3, { padding = 1 }), opts.sn)
   self.skip = maybe_sn(L.Conv2d(in_ch, out_ch, 1), opts.sn)
end
--- Applies the block.
-- @tparam Tensor x (N, in_ch, H, W)
-- @tparam[opt] Tensor y the condition, for a conditional block: labels (N) or (N, cond_dim)
-- @treturn Tensor (N, out_ch, 2H, 2W)
function G.ResBlockUp:forward(x, y)
   local up = function(t) return F.interpolate(t, { scale_factor = 2 }) end
   local h = self.conditional and self.bn1(x, y) or self.bn1(x)
   h = self.conv1(up(h:relu()))
   h = self.conditional and self.bn2(h, y) or self.bn2(h)
   h = self.conv2(h:relu())
   return h + self.skip(up(x))
end

--- BigGAN/SNGAN discriminator block, halving H and W (unless downsample is false).
-- (ReLU), 3x3 conv, ReLU, 3x3 conv, 2x2 average pool; skip: 1x1 conv then pool (a skip
-- conv only when the channels change or the block downsamples).
-- @function ResBlockDown
-- @tparam int in_ch input channels
-- @tparam int out_ch output channels
-- @tparam[opt] table opts `downsample` (true), `first` (false; true: no leading ReLU,
--  and the skip pools before its conv), `sn` (true: spectral norm on every conv)
-- @treturn Module
G.ResBlockDown = class("ResBlockDown", Module)
function G.ResBlockDown:__init(in_ch, out_ch, opts)
   Module.__init(self)
   opts = opts or {}
   local sn = opts.sn ~= false
   self.first, self.downsample = opts.first or false, opts.downsample ~= false
   self.conv1 = maybe_sn(L.Conv2d(in_ch, out_ch, 3, { padding = 1 }), sn)
   self.conv2 = maybe_sn(L.Conv2d(out_ch, out_ch, 3, { padding = 1 }), sn)
   if in_ch ~= out_ch or self.downsample then self.skip = maybe_sn(L.Conv2d(in_ch, out_ch, 1), sn) end
end
--- Applies the block.
-- @tparam Tensor x (N, in_ch, H, W)
-- @treturn Tensor (N, out_ch, H/2, W/2), or (N, out_ch, H, W) without downsampling
function G.ResBlockDown:forward(x)
   local pool = function(t) if self.downsample then return F.avg_pool2d(t, 2) end return t end
   local h = self.first and x or x:relu()
   h = self.conv2(self.conv1(h):relu())
   h = pool(h)
   local s = x
   if self.skip then
      if self.first then s = self.skip(pool(x)) else s = pool(self.skip(x)) end
   end
   return h + s
end

return G
