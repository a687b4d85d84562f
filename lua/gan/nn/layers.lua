--- Standard layers, each a thin Module over gan.nn.functional, initialised as PyTorch
-- initialises them (weights kaiming-uniform with a = sqrt(5), biases U(-1/sqrt(fan_in),
-- 1/sqrt(fan_in))), so results are comparable.
-- @module gan.nn.layers
local core = require("gan.core")
local F = require("gan.nn.functional")
local modmod = require("gan.nn.module")
local init = require("gan.nn.initializers")
local no_grad = require("gan.autograd").no_grad
local dist = require("gan.dist")

local class, Module = modmod.class, modmod.Module
local L = {}

local function pair(v) if type(v) == "table" then return v end return { v, v } end

local opts_of = require("gan.opts").check   -- errors point at the layer's caller
local set = require("gan.opts").set

local function param(size, dtype) return core.empty(size, { dtype = dtype or "float32" }):requires_grad_() end

-- PyTorch's default for Linear and Conv layers.
local function reset_linear_like(w, b)
   init.kaiming_uniform_(w, { a = math.sqrt(5) })
   if b ~= nil then
      local fan_in = init.fans(w)
      local bound = fan_in > 0 and 1 / math.sqrt(fan_in) or 0
      init.uniform_(b, -bound, bound)
   end
end

-- ---------------------------------------------------------------- Linear, convolutions

--- A fully connected layer: y = x W^T + b.
-- @function Linear
-- @tparam int in_features size of the input's last dim
-- @tparam int out_features size of the output's last dim
-- @tparam[opt] table opts `bias` (default true: learn a bias), `dtype` ("float32")
-- @treturn Module with `weight` (out_features, in_features) and `bias` (out_features)
L.Linear = class("Linear", Module)
function L.Linear:__init(in_features, out_features, opts)
   Module.__init(self)
   opts = opts_of(opts, set("bias", "dtype"), "Linear")
   self.in_features, self.out_features = in_features, out_features
   self.weight = param({ out_features, in_features }, opts.dtype)
   if opts.bias ~= false then self.bias = param({ out_features }, opts.dtype) end
   reset_linear_like(self.weight, self.bias)
end
--- Applies the layer: (..., in_features) -> (..., out_features).
-- @tparam Tensor x
-- @treturn Tensor
function L.Linear:forward(x) return F.linear(x, self.weight, self.bias) end
--- The layer's sizes and bias, as printed after its class name.
-- @treturn string
function L.Linear:extra_repr()
   return ("in_features=%d, out_features=%d, bias=%s"):format(self.in_features, self.out_features, tostring(self.bias ~= nil))
end

--- Maxout, the discriminator unit of the original GAN: the largest of `pieces` linear maps.
-- (Goodfellow et al. 2013.) `pieces` linear maps of x (..., in) to out features, and the
-- largest of them per feature.
-- @function Maxout
-- @tparam int in_features
-- @tparam int out_features
-- @tparam[opt=5] int pieces linear maps per output feature
-- @tparam[opt] table opts as Linear's: `bias` (true), `dtype`
-- @treturn Module
L.Maxout = class("Maxout", Module)
function L.Maxout:__init(in_features, out_features, pieces, opts)
   Module.__init(self)
   self.out_features, self.pieces = out_features, pieces or 5
   self.linear = L.Linear(in_features, out_features * self.pieces, opts)
end
--- Applies the layer: (..., in_features) -> (..., out_features).
-- @tparam Tensor x
-- @treturn Tensor
function L.Maxout:forward(x)
   local y = self.linear(x)
   local shape = y:size()
   shape[#shape], shape[#shape + 1] = self.out_features, self.pieces
   return (y:reshape(shape):max(#shape))
end
--- The layer's output size and pieces, as printed after its class name.
-- @treturn string
function L.Maxout:extra_repr() return ("out_features=%d, pieces=%d"):format(self.out_features, self.pieces) end

--- 2-d convolution over (N, C, H, W) inputs.
-- @function Conv2d
-- @tparam int in_ch input channels
-- @tparam int out_ch output channels
-- @tparam int|{int,int} kernel kernel size, or {kh, kw}
-- @tparam[opt] table opts `stride` (1), `padding` (0), `dilation` (1) (each a number or
--  {h, w}), `groups` (1), `bias` (true), `padding_mode` ("zeros", "reflect" or
--  "replicate"), `dtype` ("float32")
-- @treturn Module with `weight` (out_ch, in_ch / groups, kh, kw) and `bias` (out_ch)
-- @raise when the channels are not divisible by groups
L.Conv2d = class("Conv2d", Module)
function L.Conv2d:__init(in_ch, out_ch, kernel, opts)
   Module.__init(self)
   opts = opts_of(opts, set("stride", "padding", "dilation", "groups", "bias", "padding_mode", "dtype"), "Conv2d")
   local k = pair(kernel)
   self.in_channels, self.out_channels, self.kernel_size = in_ch, out_ch, k
   self.stride, self.padding = pair(opts.stride or 1), pair(opts.padding or 0)
   self.dilation, self.groups = pair(opts.dilation or 1), opts.groups or 1
   self.padding_mode = opts.padding_mode or "zeros"
   if in_ch % self.groups ~= 0 or out_ch % self.groups ~= 0 then
      error(("Conv2d: channels %d -> %d are not divisible by groups %d"):format(in_ch, out_ch, self.groups), 2)
   end
   self.weight = param({ out_ch, in_ch // self.groups, k[1], k[2] }, opts.dtype)
   if opts.bias ~= false then self.bias = param({ out_ch }, opts.dtype) end
   reset_linear_like(self.weight, self.bias)
end
--- Applies the convolution (padding first with `padding_mode` unless it is "zeros").
-- @tparam Tensor x (N, in_ch, H, W)
-- @treturn Tensor (N, out_ch, H', W')
function L.Conv2d:forward(x)
   local pad = self.padding
   if self.padding_mode ~= "zeros" then
      x = F.pad(x, { pad[2], pad[2], pad[1], pad[1] }, self.padding_mode)
      pad = { 0, 0 }
   end
   return F.conv2d(x, self.weight, self.bias, { stride = self.stride, padding = pad,
      dilation = self.dilation, groups = self.groups })
end
--- The layer's channels, kernel, stride and the settings that differ from the defaults,
-- as printed after its class name.
-- @treturn string
function L.Conv2d:extra_repr()
   local s = ("%d, %d, kernel_size={%d, %d}, stride={%d, %d}"):format(self.in_channels, self.out_channels,
      self.kernel_size[1], self.kernel_size[2], self.stride[1], self.stride[2])
   if self.padding[1] ~= 0 or self.padding[2] ~= 0 then s = s .. (", padding={%d, %d}"):format(self.padding[1], self.padding[2]) end
   if self.groups ~= 1 then s = s .. ", groups=" .. self.groups end
   if self.padding_mode and self.padding_mode ~= "zeros" then s = s .. ", padding_mode=" .. self.padding_mode end
   if self.bias == nil then s = s .. ", bias=false" end
   return s
end

--- A convolution that only looks at pixels before the centre in raster order (PixelCNN).
-- (van den Oord et al. 2016.) The kernel's rows below the centre and the centre row's
-- columns right of the centre are zero, and so is the centre itself for mask "A" (the
-- first layer: an output never sees its own input pixel) but not for "B" (later layers).
-- The mask multiplies the weight in every forward, so the masked taps get no gradient.
-- Spatial masks only (every input channel is masked alike).
-- @function MaskedConv2d
-- @tparam int in_ch input channels
-- @tparam int out_ch output channels
-- @tparam int|{int,int} kernel kernel size, or {kh, kw}
-- @tparam[opt] table opts as Conv2d's (but `padding` defaults to kernel // 2, keeping the
--  size) plus `mask` ("A" or "B", default "B")
-- @treturn Module
-- @raise when mask is neither "A" nor "B"
L.MaskedConv2d = class("MaskedConv2d", L.Conv2d)
function L.MaskedConv2d:__init(in_ch, out_ch, kernel, opts)
   opts = opts or {}
   local mask_type = opts.mask or "B"
   if mask_type ~= "A" and mask_type ~= "B" then
      error(("MaskedConv2d: mask must be 'A' or 'B', got '%s'"):format(tostring(mask_type)), 2)
   end
   local o = {}
   for k, v in pairs(opts) do if k ~= "mask" then o[k] = v end end
   local k = pair(kernel)
   o.padding = o.padding or { k[1] // 2, k[2] // 2 }
   L.Conv2d.__init(self, in_ch, out_ch, kernel, o)
   self.mask_type = mask_type
   local m = core.zeros(k, { dtype = self.weight.dtype })
   local cr, cc = k[1] // 2, k[2] // 2
   for r = 0, k[1] - 1 do
      for c = 0, k[2] - 1 do
         if r < cr or (r == cr and (c < cc or (c == cc and mask_type == "B"))) then m[r + 1][c + 1] = 1 end
      end
   end
   self:register_buffer("mask", m:view(1, 1, k[1], k[2]))
end
--- Applies the convolution with the masked weight.
-- @tparam Tensor x (N, in_ch, H, W)
-- @treturn Tensor (N, out_ch, H', W')
function L.MaskedConv2d:forward(x)
   return F.conv2d(x, self.weight * self.mask, self.bias, { stride = self.stride, padding = self.padding,
      dilation = self.dilation, groups = self.groups })
end
--- Conv2d's settings followed by the mask type, as printed after the class name.
-- @treturn string
function L.MaskedConv2d:extra_repr() return L.Conv2d.extra_repr(self) .. ", mask=" .. self.mask_type end

--- Transposed 2-d convolution (the gradient of Conv2d with respect to its input): the
-- upsampling layer of DCGAN-style generators. Initialised as PyTorch (fan_in from the
-- weight's dim 2).
-- @function ConvTranspose2d
-- @tparam int in_ch input channels
-- @tparam int out_ch output channels
-- @tparam int|{int,int} kernel kernel size, or {kh, kw}
-- @tparam[opt] table opts `stride` (1), `padding` (0), `output_padding` (0), `dilation` (1)
--  (each a number or {h, w}), `groups` (1), `bias` (true), `dtype` ("float32")
-- @treturn Module with `weight` (in_ch, out_ch / groups, kh, kw) and `bias` (out_ch)
L.ConvTranspose2d = class("ConvTranspose2d", Module)
function L.ConvTranspose2d:__init(in_ch, out_ch, kernel, opts)
   Module.__init(self)
   opts = opts_of(opts, set("stride", "padding", "output_padding", "dilation", "groups", "bias", "dtype"), "ConvTranspose2d")
   local k = pair(kernel)
   self.in_channels, self.out_channels, self.kernel_size = in_ch, out_ch, k
   self.stride, self.padding = pair(opts.stride or 1), pair(opts.padding or 0)
   self.output_padding, self.dilation = pair(opts.output_padding or 0), pair(opts.dilation or 1)
   self.groups = opts.groups or 1
   self.weight = param({ in_ch, out_ch // self.groups, k[1], k[2] }, opts.dtype)
   if opts.bias ~= false then self.bias = param({ out_ch }, opts.dtype) end
   -- PyTorch computes the transposed layer's fan_in from dim 2 of its weight.
   init.kaiming_uniform_(self.weight, { a = math.sqrt(5) })
   if self.bias ~= nil then
      local fan_in = self.weight:size(2) * k[1] * k[2]
      init.uniform_(self.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
   end
end
--- Applies the transposed convolution.
-- @tparam Tensor x (N, in_ch, H, W)
-- @treturn Tensor (N, out_ch, H', W'), H' = (H - 1) stride - 2 padding + dilation (kh - 1)
--  + output_padding + 1
function L.ConvTranspose2d:forward(x)
   return F.conv_transpose2d(x, self.weight, self.bias, { stride = self.stride, padding = self.padding,
      output_padding = self.output_padding, dilation = self.dilation, groups = self.groups })
end
L.ConvTranspose2d.extra_repr = L.Conv2d.extra_repr

local function triple(v) if type(v) == "table" then return v end return { v, v, v } end

-- The settings of a 3-d layer, as printed after its class name.
local function repr3(self)
   local function t(v) return ("{%d, %d, %d}"):format(v[1], v[2], v[3]) end
   local s = ("%d, %d, kernel_size=%s, stride=%s"):format(self.in_channels, self.out_channels, t(self.kernel_size), t(self.stride))
   if self.padding[1] ~= 0 or self.padding[2] ~= 0 or self.padding[3] ~= 0 then s = s .. ", padding=" .. t(self.padding) end
   if self.groups ~= 1 then s = s .. ", groups=" .. self.groups end
   if self.bias == nil then s = s .. ", bias=false" end
   return s
end

--- A 3-d convolution layer (volumes: voxels, video): Conv2d with a depth dimension.
-- The weight (out_ch, in_ch / groups, kd, kh, kw) and bias (out_ch) start as PyTorch's.
-- @function Conv3d
-- @tparam int in_ch
-- @tparam int out_ch
-- @tparam int|{int,int,int} kernel
-- @tparam[opt] table opts `stride` (1), `padding` (0), `dilation` (1) (each an integer
--  or {d, h, w}), `groups` (1), `bias` (true), `dtype` ("float32")
-- @treturn Module
L.Conv3d = class("Conv3d", Module)
function L.Conv3d:__init(in_ch, out_ch, kernel, opts)
   Module.__init(self)
   opts = opts_of(opts, set("stride", "padding", "dilation", "groups", "bias", "dtype"), "Conv3d")
   local k = triple(kernel)
   self.in_channels, self.out_channels, self.kernel_size = in_ch, out_ch, k
   self.stride, self.padding = triple(opts.stride or 1), triple(opts.padding or 0)
   self.dilation, self.groups = triple(opts.dilation or 1), opts.groups or 1
   if in_ch % self.groups ~= 0 or out_ch % self.groups ~= 0 then
      error(("Conv3d: channels %d -> %d are not divisible by groups %d"):format(in_ch, out_ch, self.groups), 2)
   end
   self.weight = param({ out_ch, in_ch // self.groups, k[1], k[2], k[3] }, opts.dtype)
   if opts.bias ~= false then self.bias = param({ out_ch }, opts.dtype) end
   reset_linear_like(self.weight, self.bias)
end
--- Applies the convolution.
-- @tparam Tensor x (N, in_ch, D, H, W)
-- @treturn Tensor (N, out_ch, D', H', W')
function L.Conv3d:forward(x)
   return F.conv3d(x, self.weight, self.bias, { stride = self.stride, padding = self.padding,
      dilation = self.dilation, groups = self.groups })
end
--- The layer's settings, for printing.
-- @treturn string
L.Conv3d.extra_repr = repr3

--- A transposed 3-d convolution layer (3D-GAN's generator): the weight (in_ch,
-- out_ch / groups, kd, kh, kw) and bias start as PyTorch's.
-- @function ConvTranspose3d
-- @tparam int in_ch
-- @tparam int out_ch
-- @tparam int|{int,int,int} kernel
-- @tparam[opt] table opts `stride` (1), `padding` (0), `output_padding` (0), `dilation` (1),
--  `groups` (1), `bias` (true), `dtype` ("float32")
-- @treturn Module
L.ConvTranspose3d = class("ConvTranspose3d", Module)
function L.ConvTranspose3d:__init(in_ch, out_ch, kernel, opts)
   Module.__init(self)
   opts = opts_of(opts, set("stride", "padding", "output_padding", "dilation", "groups", "bias", "dtype"), "ConvTranspose3d")
   local k = triple(kernel)
   self.in_channels, self.out_channels, self.kernel_size = in_ch, out_ch, k
   self.stride, self.padding = triple(opts.stride or 1), triple(opts.padding or 0)
   self.output_padding, self.dilation = triple(opts.output_padding or 0), triple(opts.dilation or 1)
   self.groups = opts.groups or 1
   self.weight = param({ in_ch, out_ch // self.groups, k[1], k[2], k[3] }, opts.dtype)
   if opts.bias ~= false then self.bias = param({ out_ch }, opts.dtype) end
   init.kaiming_uniform_(self.weight, { a = math.sqrt(5) })
   if self.bias ~= nil then
      local fan_in = self.weight:size(2) * k[1] * k[2] * k[3]
      init.uniform_(self.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
   end
end
--- Applies the transposed convolution.
-- @tparam Tensor x (N, in_ch, D, H, W)
-- @treturn Tensor (N, out_ch, D', H', W')
function L.ConvTranspose3d:forward(x)
   return F.conv_transpose3d(x, self.weight, self.bias, { stride = self.stride, padding = self.padding,
      output_padding = self.output_padding, dilation = self.dilation, groups = self.groups })
end
--- The layer's settings, for printing.
-- @treturn string
L.ConvTranspose3d.extra_repr = repr3

-- ---------------------------------------------------------------- normalisation

local function batch_norm_class(name, dims)
   local C = class(name, Module)
   -- opts: eps (1e-5), momentum (0.1), affine (true), track_running_stats (true).
   function C:__init(num_features, opts)
      Module.__init(self)
      opts = opts_of(opts, set("eps", "momentum", "affine", "track_running_stats", "dtype"), name)
      self.num_features, self.eps, self.momentum = num_features, opts.eps or 1e-5, opts.momentum or 0.1
      local dt = { dtype = opts.dtype }
      if opts.affine ~= false then
         self.weight = core.ones({ num_features }, dt):requires_grad_()
         self.bias = core.zeros({ num_features }, dt):requires_grad_()
      end
      if opts.track_running_stats ~= false then
         self:register_buffer("running_mean", core.zeros({ num_features }, dt))
         self:register_buffer("running_var", core.ones({ num_features }, dt))
         self:register_buffer("num_batches_tracked", core.zeros({}, { dtype = "int64" }))
      end
   end
   function C:forward(x)
      if x:dim() ~= dims[1] and x:dim() ~= dims[2] then
         error(("%s: expected a %s input, got %d dims"):format(name, table.concat(dims, "-d or ") .. "-d", x:dim()), 2)
      end
      if self.training and self.num_batches_tracked ~= nil then
         no_grad(function() self.num_batches_tracked:add_(1) end)
      end
      if self.sync and self.training and dist.synchronising() then
         return F.sync_batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.momentum,
            self.eps)
      end
      return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
         self.training or self.running_mean == nil, self.momentum, self.eps)
   end
   function C:extra_repr()
      return ("%d, eps=%g, momentum=%g, affine=%s"):format(self.num_features, self.eps, self.momentum, tostring(self.weight ~= nil))
   end
   return C
end
--- Batch normalisation of (N, C) or (N, C, L) inputs per channel: batch statistics in
-- training (updating the running ones), running statistics in eval mode. With `sync` set
-- to true on the layer (or gan.nn.utils.convert_sync_batchnorm), statistics are taken
-- over every rank under gan.dist.
-- @function BatchNorm1d
-- @tparam int num_features the channels C
-- @tparam[opt] table opts `eps` (1e-5), `momentum` (0.1), `affine` (true: learn weight
--  and bias), `track_running_stats` (true), `dtype` ("float32")
-- @treturn Module

--- Batch normalisation of (N, C, H, W) inputs per channel; as BatchNorm1d otherwise.
-- @function BatchNorm2d
-- @tparam int num_features the channels C
-- @tparam[opt] table opts `eps` (1e-5), `momentum` (0.1), `affine` (true),
--  `track_running_stats` (true), `dtype` ("float32")
-- @treturn Module

--- Batch normalisation of (N, C, D, H, W) inputs per channel (3D-GAN); as BatchNorm1d
-- otherwise.
-- @function BatchNorm3d
-- @tparam int num_features the channels C
-- @tparam[opt] table opts `eps` (1e-5), `momentum` (0.1), `affine` (true),
--  `track_running_stats` (true), `dtype` ("float32")
-- @treturn Module
L.BatchNorm1d = batch_norm_class("BatchNorm1d", { 2, 3 })
L.BatchNorm2d = batch_norm_class("BatchNorm2d", { 4, 4 })
L.BatchNorm3d = batch_norm_class("BatchNorm3d", { 5, 5 })

--- Instance normalisation: each sample's channels normalised over H, W.
-- @function InstanceNorm2d
-- @tparam int num_features the channels C
-- @tparam[opt] table opts `eps` (1e-5), `momentum` (0.1), `affine` (false),
--  `track_running_stats` (false), `dtype` ("float32")
-- @treturn Module
L.InstanceNorm2d = class("InstanceNorm2d", Module)
function L.InstanceNorm2d:__init(num_features, opts)
   Module.__init(self)
   opts = opts_of(opts, set("eps", "momentum", "affine", "track_running_stats", "dtype"), "InstanceNorm2d")
   self.num_features, self.eps, self.momentum = num_features, opts.eps or 1e-5, opts.momentum or 0.1
   local dt = { dtype = opts.dtype }
   if opts.affine then
      self.weight = core.ones({ num_features }, dt):requires_grad_()
      self.bias = core.zeros({ num_features }, dt):requires_grad_()
   end
   if opts.track_running_stats then
      self:register_buffer("running_mean", core.zeros({ num_features }, dt))
      self:register_buffer("running_var", core.ones({ num_features }, dt))
   end
end
--- Normalises with the input's statistics (in training, or without running stats) or the
-- running ones (in eval mode with track_running_stats).
-- @tparam Tensor x (N, C, H, W)
-- @treturn Tensor of x's shape
-- @raise when x is not 4-d
function L.InstanceNorm2d:forward(x)
   if x:dim() ~= 4 then error("InstanceNorm2d: expected a 4-d input, got " .. x:dim() .. " dims", 2) end
   if self.training or self.running_mean == nil then
      -- Input statistics; running stats (if tracked) are updated in training only.
      local rm, rv
      if self.training then rm, rv = self.running_mean, self.running_var end
      return F.instance_norm(x, rm, rv, self.weight, self.bias, true, self.momentum, self.eps)
   end
   return F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias, false,
      self.momentum, self.eps)
end
--- The layer's channels, eps and affine, as printed after its class name.
-- @treturn string
function L.InstanceNorm2d:extra_repr()
   return ("%d, eps=%g, affine=%s"):format(self.num_features, self.eps, tostring(self.weight ~= nil))
end

--- Layer normalisation over the trailing dims.
-- @function LayerNorm
-- @tparam int|{int,...} shape the normalised trailing dims' sizes
-- @tparam[opt] table opts `eps` (1e-5), `elementwise_affine` (true: learn weight and bias
--  of that shape), `dtype` ("float32")
-- @treturn Module
L.LayerNorm = class("LayerNorm", Module)
function L.LayerNorm:__init(shape, opts)
   Module.__init(self)
   opts = opts_of(opts, set("eps", "elementwise_affine", "dtype"), "LayerNorm")
   self.normalized_shape = type(shape) == "table" and shape or { shape }
   self.eps = opts.eps or 1e-5
   if opts.elementwise_affine ~= false then
      self.weight = core.ones(self.normalized_shape, { dtype = opts.dtype }):requires_grad_()
      self.bias = core.zeros(self.normalized_shape, { dtype = opts.dtype }):requires_grad_()
   end
end
--- Normalises x over its trailing dims.
-- @tparam Tensor x (..., shape)
-- @treturn Tensor of x's shape
function L.LayerNorm:forward(x) return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps) end
--- The normalised shape and eps, as printed after the class name.
-- @treturn string
function L.LayerNorm:extra_repr() return "{" .. table.concat(self.normalized_shape, ", ") .. "}, eps=" .. self.eps end

--- Group normalisation: channels split into groups, each normalised per sample.
-- @function GroupNorm
-- @tparam int num_groups
-- @tparam int num_channels must be divisible by num_groups
-- @tparam[opt] table opts `eps` (1e-5), `affine` (true), `dtype` ("float32")
-- @treturn Module
-- @raise when num_channels is not divisible by num_groups
L.GroupNorm = class("GroupNorm", Module)
function L.GroupNorm:__init(num_groups, num_channels, opts)
   Module.__init(self)
   opts = opts_of(opts, set("eps", "affine", "dtype"), "GroupNorm")
   if num_channels % num_groups ~= 0 then
      error(("GroupNorm: %d channels are not divisible into %d groups"):format(num_channels, num_groups), 2)
   end
   self.num_groups, self.num_channels, self.eps = num_groups, num_channels, opts.eps or 1e-5
   if opts.affine ~= false then
      self.weight = core.ones({ num_channels }, { dtype = opts.dtype }):requires_grad_()
      self.bias = core.zeros({ num_channels }, { dtype = opts.dtype }):requires_grad_()
   end
end
--- Normalises each group of channels per sample.
-- @tparam Tensor x (N, C, ...)
-- @treturn Tensor of x's shape
function L.GroupNorm:forward(x) return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps) end
--- The groups, channels and eps, as printed after the class name.
-- @treturn string
function L.GroupNorm:extra_repr() return ("%d, %d, eps=%g"):format(self.num_groups, self.num_channels, self.eps) end

-- ---------------------------------------------------------------- embedding, dropout

--- A lookup table of `num` vectors of size `dim`, initialised N(0, 1).
-- @function Embedding
-- @tparam int num number of entries
-- @tparam int dim size of each vector
-- @tparam[opt] table opts `dtype` ("float32")
-- @treturn Module with `weight` (num, dim)
L.Embedding = class("Embedding", Module)
function L.Embedding:__init(num, dim, opts)
   Module.__init(self)
   opts = opts_of(opts, set("dtype"), "Embedding")
   self.num_embeddings, self.embedding_dim = num, dim
   self.weight = core.randn({ num, dim }, { dtype = opts.dtype }):requires_grad_()
end
--- The rows of the table for int64 indices (0-based).
-- @tparam Tensor idx int64, any shape
-- @treturn Tensor (idx's shape..., dim)
function L.Embedding:forward(idx) return F.embedding(idx, self.weight) end
--- The number of entries and their size, as printed after the class name.
-- @treturn string
function L.Embedding:extra_repr() return ("%d, %d"):format(self.num_embeddings, self.embedding_dim) end

--- Dropout: in training, zeroes elements with probability p and scales the rest by
-- 1 / (1 - p); the identity in eval mode.
-- @function Dropout
-- @tparam[opt=0.5] number p
-- @treturn Module
L.Dropout = class("Dropout", Module)
function L.Dropout:__init(p) Module.__init(self); self.p = p or 0.5 end
--- Applies dropout (in training only).
-- @tparam Tensor x
-- @treturn Tensor of x's shape
function L.Dropout:forward(x) return F.dropout(x, self.p, self.training) end
--- The drop probability, as printed after the class name.
-- @treturn string
function L.Dropout:extra_repr() return "p=" .. self.p end

-- ---------------------------------------------------------------- activations

local function activation(name, fn, repr)
   local C = class(name, Module)
   function C:__init(...) Module.__init(self); self.args = { ... } end
   function C:forward(x) return fn(x, table.unpack(self.args)) end
   function C:extra_repr() return repr and repr(table.unpack(self.args)) or "" end
   return C
end
--- max(x, 0), elementwise.
-- @function ReLU
-- @treturn Module

--- max(x, 0) + negative_slope min(x, 0), elementwise.
-- @function LeakyReLU
-- @tparam[opt=0.01] number negative_slope
-- @treturn Module

--- x for x > 0, alpha (exp(x) - 1) otherwise.
-- @function ELU
-- @tparam[opt=1] number alpha
-- @treturn Module

--- Gaussian error linear unit, exact (with erf) or in its tanh form.
-- @function GELU
-- @tparam[opt] string approximate "tanh" for the tanh form
-- @treturn Module

--- tanh(x), elementwise.
-- @function Tanh
-- @treturn Module

--- 1 / (1 + exp(-x)), elementwise.
-- @function Sigmoid
-- @treturn Module

--- log(1 + exp(beta x)) / beta, linear where beta x > threshold (as F.softplus).
-- @function Softplus
-- @tparam[opt=1] number beta
-- @tparam[opt=20] number threshold
-- @treturn Module

--- Softmax along one dim.
-- @function Softmax
-- @tparam[opt=-1] int dim
-- @treturn Module

--- Returns its input unchanged (a placeholder layer).
-- @function Identity
-- @treturn Module
L.ReLU = activation("ReLU", F.relu)
L.LeakyReLU = activation("LeakyReLU", function(x, s) return F.leaky_relu(x, s or 0.01) end,
   function(s) return "negative_slope=" .. (s or 0.01) end)
L.ELU = activation("ELU", function(x, a) return F.elu(x, a or 1) end, function(a) return "alpha=" .. (a or 1) end)
L.GELU = activation("GELU", function(x, approx) return F.gelu(x, approx) end)
L.Tanh = activation("Tanh", F.tanh)
L.Sigmoid = activation("Sigmoid", F.sigmoid)
L.Softplus = activation("Softplus", function(x, b, t) return F.softplus(x, b, t) end)
L.Softmax = activation("Softmax", function(x, d) return F.softmax(x, d or -1) end, function(d) return "dim=" .. (d or -1) end)
L.Identity = activation("Identity", function(x) return x end)

--- Parametric ReLU (He et al. 2015): max(0, x) + a * min(0, x) with a learned slope a.
-- One slope per channel (dimension 2 of the input), or one shared (num_parameters 1).
-- @function PReLU
-- @tparam[opt=1] int num_parameters
-- @tparam[opt=0.25] number init the slopes' first value
-- @treturn Module
L.PReLU = class("PReLU", Module)
function L.PReLU:__init(num_parameters, init)
   Module.__init(self)
   self.num_parameters = num_parameters or 1
   self.weight = core.full({ self.num_parameters }, init or 0.25):requires_grad_()
end
--- max(0, x) + a * min(0, x), a per channel.
-- @tparam Tensor x (N, C, ...)
-- @treturn Tensor of x's shape
-- @raise when the slopes do not match the channels
function L.PReLU:forward(x)
   if self.num_parameters ~= 1 and (x:dim() < 2 or x:size(2) ~= self.num_parameters) then
      error(("PReLU: %d slopes for an input of %d channels"):format(self.num_parameters,
         x:dim() >= 2 and x:size(2) or 1), 2)
   end
   return F.prelu(x, self.weight)
end
--- Its number of slopes, for printing.
-- @treturn string
function L.PReLU:extra_repr() return "num_parameters=" .. self.num_parameters end

-- ---------------------------------------------------------------- resampling, padding, pooling

--- Resizes (N, C, H, W) inputs with F.interpolate.
-- @function Upsample
-- @tparam table opts as F.interpolate's: `size` ({h, w} or a number) or `scale_factor`
--  (a number or a pair), `mode` ("nearest", default, or "bilinear"), `align_corners`
--  (false)
-- @treturn Module
L.Upsample = class("Upsample", Module)
function L.Upsample:__init(opts) Module.__init(self); self.opts = opts or {} end
--- Resizes x.
-- @tparam Tensor x (N, C, H, W)
-- @treturn Tensor (N, C, H', W')
function L.Upsample:forward(x) return F.interpolate(x, self.opts) end
--- The target size or scale factor and the mode, as printed after the class name.
-- @treturn string
function L.Upsample:extra_repr()
   local o = self.opts
   local what
   if o.size ~= nil then
      what = "size=" .. (type(o.size) == "table" and "{" .. table.concat(o.size, ", ") .. "}" or tostring(o.size))
   else
      local f = o.scale_factor
      what = "scale_factor=" .. (type(f) == "table" and "{" .. table.concat(f, ", ") .. "}" or tostring(f))
   end
   return ("%s, mode=%s"):format(what, o.mode or "nearest")
end

--- Rearranges (N, C r^2, H, W) into (N, C, H r, W r) (sub-pixel convolution's upsampling).
-- @function PixelShuffle
-- @tparam int r the upscale factor
-- @treturn Module
L.PixelShuffle = activation("PixelShuffle", F.pixel_shuffle, function(r) return "upscale_factor=" .. r end)

local function pad_class(name, mode)
   local C = class(name, Module)
   function C:__init(p)
      Module.__init(self)
      self.padding = type(p) == "table" and p or { p, p, p, p }
   end
   function C:forward(x) return F.pad(x, self.padding, mode) end
   function C:extra_repr() return "{" .. table.concat(self.padding, ", ") .. "}" end
   return C
end
--- Pads H and W by reflecting the input at its border (F.pad's "reflect").
-- @function ReflectionPad2d
-- @tparam int|{int,int,int,int} p the same padding on every side, or {left, right, top,
--  bottom}
-- @treturn Module

--- Pads H and W by repeating the border values (F.pad's "replicate").
-- @function ReplicationPad2d
-- @tparam int|{int,int,int,int} p the same padding on every side, or {left, right, top,
--  bottom}
-- @treturn Module

--- Pads H and W with zeros.
-- @function ZeroPad2d
-- @tparam int|{int,int,int,int} p the same padding on every side, or {left, right, top,
--  bottom}
-- @treturn Module
L.ReflectionPad2d = pad_class("ReflectionPad2d", "reflect")
L.ReplicationPad2d = pad_class("ReplicationPad2d", "replicate")
L.ZeroPad2d = pad_class("ZeroPad2d", "constant")

--- Average pooling (F.avg_pool2d).
-- @function AvgPool2d
-- @tparam int|{int,int} k the window
-- @tparam[opt] table opts `stride` (default the window), `padding` (0),
--  `count_include_pad` (true)
-- @treturn Module
L.AvgPool2d = class("AvgPool2d", Module)
function L.AvgPool2d:__init(k, opts) Module.__init(self); self.kernel_size, self.opts = k, opts end
--- Averages each window.
-- @tparam Tensor x (N, C, H, W)
-- @treturn Tensor (N, C, H', W')
function L.AvgPool2d:forward(x) return F.avg_pool2d(x, self.kernel_size, self.opts) end
--- The window, as printed after the class name.
-- @treturn string
function L.AvgPool2d:extra_repr() return "kernel_size=" .. tostring(self.kernel_size) end

--- Max pooling (F.max_pool2d).
-- @function MaxPool2d
-- @tparam int|{int,int} k the window
-- @tparam[opt] table opts `stride` (default the window), `padding` (0), `dilation` (1),
--  `ceil_mode` (false), `return_indices` (false)
-- @treturn Module
L.MaxPool2d = class("MaxPool2d", Module)
function L.MaxPool2d:__init(k, opts) Module.__init(self); self.kernel_size, self.opts = k, opts end
--- The maximum of each window (and its indices with return_indices).
-- @tparam Tensor x (N, C, H, W)
-- @treturn Tensor (N, C, H', W')
function L.MaxPool2d:forward(x) return F.max_pool2d(x, self.kernel_size, self.opts) end
--- The window, as printed after the class name.
-- @treturn string
function L.MaxPool2d:extra_repr() return "kernel_size=" .. tostring(self.kernel_size) end

--- Average pooling to a fixed output size, whatever the input's (F.adaptive_avg_pool2d).
-- @function AdaptiveAvgPool2d
-- @tparam int|{int,int} size the output's {h, w}
-- @treturn Module
L.AdaptiveAvgPool2d = class("AdaptiveAvgPool2d", Module)
function L.AdaptiveAvgPool2d:__init(size) Module.__init(self); self.output_size = size end
--- Pools x to the output size.
-- @tparam Tensor x (N, C, H, W)
-- @treturn Tensor (N, C, h, w)
function L.AdaptiveAvgPool2d:forward(x) return F.adaptive_avg_pool2d(x, self.output_size) end

-- ---------------------------------------------------------------- reshaping

--- Flattens dims start..end into one (by default every dim but the batch dim).
-- @function Flatten
-- @tparam[opt=2] int s the first dim
-- @tparam[opt=-1] int e the last dim
-- @treturn Module
L.Flatten = class("Flatten", Module)
function L.Flatten:__init(s, e) Module.__init(self); self.start_dim, self.end_dim = s or 2, e or -1 end
--- Flattens x: (N, C, H, W) -> (N, C H W) with the defaults.
-- @tparam Tensor x
-- @treturn Tensor
function L.Flatten:forward(x) return x:flatten(self.start_dim, self.end_dim) end

--- Splits one dim into several: Unflatten(2, {C, H, W}) maps (N, C H W) to (N, C, H, W).
-- @function Unflatten
-- @tparam int dim the dim to split (negative counts from the end)
-- @tparam {int,...} sizes its new sizes, whose product is its size
-- @treturn Module
L.Unflatten = class("Unflatten", Module)
function L.Unflatten:__init(dim, sizes) Module.__init(self); self.dim, self.sizes = dim, sizes end
--- Splits the layer's dim of x into its sizes.
-- @tparam Tensor x
-- @treturn Tensor
function L.Unflatten:forward(x)
   local s, d = x:size(), self.dim < 0 and x:dim() + self.dim + 1 or self.dim
   local out = {}
   for i = 1, d - 1 do out[#out + 1] = s[i] end
   for _, v in ipairs(self.sizes) do out[#out + 1] = v end
   for i = d + 1, #s do out[#out + 1] = s[i] end
   return x:reshape(out)
end

--- Reshapes each sample: Reshape(C, H, W) maps (N, ...) to (N, C, H, W).
-- @function Reshape
-- @tparam int ... the per-sample shape (-1 once for the size that fits)
-- @treturn Module
L.Reshape = class("Reshape", Module)
function L.Reshape:__init(...) Module.__init(self); self.shape = { ... } end
--- Reshapes x, keeping its first dim.
-- @tparam Tensor x (N, ...)
-- @treturn Tensor (N, shape...)
function L.Reshape:forward(x) return x:reshape(x:size(1), table.unpack(self.shape)) end
--- The per-sample shape, as printed after the class name.
-- @treturn string
function L.Reshape:extra_repr() return table.concat(self.shape, ", ") end

return L
