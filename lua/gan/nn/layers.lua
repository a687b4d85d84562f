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

--- y = x W^T + b. opts: bias (true), dtype.
L.Linear = class("Linear", Module)
function L.Linear:__init(in_features, out_features, opts)
   Module.__init(self)
   opts = opts_of(opts, set("bias", "dtype"), "Linear")
   self.in_features, self.out_features = in_features, out_features
   self.weight = param({ out_features, in_features }, opts.dtype)
   if opts.bias ~= false then self.bias = param({ out_features }, opts.dtype) end
   reset_linear_like(self.weight, self.bias)
end
function L.Linear:forward(x) return F.linear(x, self.weight, self.bias) end
function L.Linear:extra_repr()
   return ("in_features=%d, out_features=%d, bias=%s"):format(self.in_features, self.out_features, tostring(self.bias ~= nil))
end

--- Maxout (Goodfellow et al. 2013): `pieces` linear maps of x (..., in) to out features,
-- and the largest of them per feature; the discriminator unit of the original GAN.
-- opts: as Linear.
L.Maxout = class("Maxout", Module)
function L.Maxout:__init(in_features, out_features, pieces, opts)
   Module.__init(self)
   self.out_features, self.pieces = out_features, pieces or 5
   self.linear = L.Linear(in_features, out_features * self.pieces, opts)
end
function L.Maxout:forward(x)
   local y = self.linear(x)
   local shape = y:size()
   shape[#shape], shape[#shape + 1] = self.out_features, self.pieces
   return (y:reshape(shape):max(#shape))
end
function L.Maxout:extra_repr() return ("out_features=%d, pieces=%d"):format(self.out_features, self.pieces) end

--- 2-d convolution. opts: stride, padding, dilation, groups, bias (true),
-- padding_mode ("zeros", "reflect", "replicate"), dtype.
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
function L.Conv2d:forward(x)
   local pad = self.padding
   if self.padding_mode ~= "zeros" then
      x = F.pad(x, { pad[2], pad[2], pad[1], pad[1] }, self.padding_mode)
      pad = { 0, 0 }
   end
   return F.conv2d(x, self.weight, self.bias, { stride = self.stride, padding = pad,
      dilation = self.dilation, groups = self.groups })
end
function L.Conv2d:extra_repr()
   local s = ("%d, %d, kernel_size={%d, %d}, stride={%d, %d}"):format(self.in_channels, self.out_channels,
      self.kernel_size[1], self.kernel_size[2], self.stride[1], self.stride[2])
   if self.padding[1] ~= 0 or self.padding[2] ~= 0 then s = s .. (", padding={%d, %d}"):format(self.padding[1], self.padding[2]) end
   if self.groups ~= 1 then s = s .. ", groups=" .. self.groups end
   if self.padding_mode and self.padding_mode ~= "zeros" then s = s .. ", padding_mode=" .. self.padding_mode end
   if self.bias == nil then s = s .. ", bias=false" end
   return s
end

--- Transposed convolution; weight (in, out/groups, kh, kw). opts: stride, padding,
-- output_padding, dilation, groups, bias (true), dtype.
--- A convolution that only looks at pixels before the centre in raster order (PixelCNN,
-- van den Oord et al. 2016): the kernel's rows below the centre and the centre row's
-- columns right of the centre are zero, and so is the centre itself for mask "A" (the
-- first layer: an output never sees its own input pixel) but not for "B" (later layers).
-- The mask multiplies the weight in every forward, so the masked taps get no gradient.
-- Spatial masks only (every input channel is masked alike). opts: as Conv2d (padding
-- defaults to k // 2, keeping the size) plus mask ("A" or "B").
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
function L.MaskedConv2d:forward(x)
   return F.conv2d(x, self.weight * self.mask, self.bias, { stride = self.stride, padding = self.padding,
      dilation = self.dilation, groups = self.groups })
end
function L.MaskedConv2d:extra_repr() return L.Conv2d.extra_repr(self) .. ", mask=" .. self.mask_type end

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
function L.ConvTranspose2d:forward(x)
   return F.conv_transpose2d(x, self.weight, self.bias, { stride = self.stride, padding = self.padding,
      output_padding = self.output_padding, dilation = self.dilation, groups = self.groups })
end
L.ConvTranspose2d.extra_repr = L.Conv2d.extra_repr

-- ---------------------------------------------------------------- normalisation

local function batch_norm_class(name, dims)
   local C = class(name, Module)
   --- opts: eps (1e-5), momentum (0.1), affine (true), track_running_stats (true).
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
L.BatchNorm1d = batch_norm_class("BatchNorm1d", { 2, 3 })
L.BatchNorm2d = batch_norm_class("BatchNorm2d", { 4, 4 })

--- Instance normalisation. opts: eps, momentum, affine (false), track_running_stats (false).
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
function L.InstanceNorm2d:extra_repr()
   return ("%d, eps=%g, affine=%s"):format(self.num_features, self.eps, tostring(self.weight ~= nil))
end

--- Layer normalisation over trailing dims. opts: eps, elementwise_affine (true).
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
function L.LayerNorm:forward(x) return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps) end
function L.LayerNorm:extra_repr() return "{" .. table.concat(self.normalized_shape, ", ") .. "}, eps=" .. self.eps end

--- Group normalisation. opts: eps, affine (true).
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
function L.GroupNorm:forward(x) return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps) end
function L.GroupNorm:extra_repr() return ("%d, %d, eps=%g"):format(self.num_groups, self.num_channels, self.eps) end

-- ---------------------------------------------------------------- embedding, dropout

--- A lookup table of num_embeddings vectors of size dim, initialised N(0, 1).
L.Embedding = class("Embedding", Module)
function L.Embedding:__init(num, dim, opts)
   Module.__init(self)
   opts = opts_of(opts, set("dtype"), "Embedding")
   self.num_embeddings, self.embedding_dim = num, dim
   self.weight = core.randn({ num, dim }, { dtype = opts.dtype }):requires_grad_()
end
function L.Embedding:forward(idx) return F.embedding(idx, self.weight) end
function L.Embedding:extra_repr() return ("%d, %d"):format(self.num_embeddings, self.embedding_dim) end

L.Dropout = class("Dropout", Module)
function L.Dropout:__init(p) Module.__init(self); self.p = p or 0.5 end
function L.Dropout:forward(x) return F.dropout(x, self.p, self.training) end
function L.Dropout:extra_repr() return "p=" .. self.p end

-- ---------------------------------------------------------------- activations

local function activation(name, fn, repr)
   local C = class(name, Module)
   function C:__init(...) Module.__init(self); self.args = { ... } end
   function C:forward(x) return fn(x, table.unpack(self.args)) end
   function C:extra_repr() return repr and repr(table.unpack(self.args)) or "" end
   return C
end
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

--- Parametric ReLU (He et al. 2015): max(0, x) + a * min(0, x) with a learned slope a per
-- channel (dimension 2 of the input; num_parameters 1: one slope shared), starting at
-- `init` (0.25).
L.PReLU = class("PReLU", Module)
function L.PReLU:__init(num_parameters, init)
   Module.__init(self)
   self.num_parameters = num_parameters or 1
   self.weight = core.full({ self.num_parameters }, init or 0.25):requires_grad_()
end
function L.PReLU:forward(x)
   local shape = { 1, self.num_parameters }
   for _ = 3, x:dim() do shape[#shape + 1] = 1 end
   if self.num_parameters ~= 1 and (x:dim() < 2 or x:size(2) ~= self.num_parameters) then
      error(("PReLU: %d slopes for an input of %d channels"):format(self.num_parameters,
         x:dim() >= 2 and x:size(2) or 1), 2)
   end
   local a = self.num_parameters == 1 and self.weight:reshape(table.unpack(shape)) or self.weight:view(table.unpack(shape))
   return x:relu() - (-x):relu() * a
end
function L.PReLU:extra_repr() return "num_parameters=" .. self.num_parameters end

-- ---------------------------------------------------------------- resampling, padding, pooling

--- opts as F.interpolate: scale_factor or size, mode, align_corners.
L.Upsample = class("Upsample", Module)
function L.Upsample:__init(opts) Module.__init(self); self.opts = opts or {} end
function L.Upsample:forward(x) return F.interpolate(x, self.opts) end
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
L.ReflectionPad2d = pad_class("ReflectionPad2d", "reflect")
L.ReplicationPad2d = pad_class("ReplicationPad2d", "replicate")
L.ZeroPad2d = pad_class("ZeroPad2d", "constant")

L.AvgPool2d = class("AvgPool2d", Module)
function L.AvgPool2d:__init(k, opts) Module.__init(self); self.kernel_size, self.opts = k, opts end
function L.AvgPool2d:forward(x) return F.avg_pool2d(x, self.kernel_size, self.opts) end
function L.AvgPool2d:extra_repr() return "kernel_size=" .. tostring(self.kernel_size) end

L.MaxPool2d = class("MaxPool2d", Module)
function L.MaxPool2d:__init(k, opts) Module.__init(self); self.kernel_size, self.opts = k, opts end
function L.MaxPool2d:forward(x) return F.max_pool2d(x, self.kernel_size, self.opts) end
function L.MaxPool2d:extra_repr() return "kernel_size=" .. tostring(self.kernel_size) end

L.AdaptiveAvgPool2d = class("AdaptiveAvgPool2d", Module)
function L.AdaptiveAvgPool2d:__init(size) Module.__init(self); self.output_size = size end
function L.AdaptiveAvgPool2d:forward(x) return F.adaptive_avg_pool2d(x, self.output_size) end

-- ---------------------------------------------------------------- reshaping

--- Flattens dims start..end (default 2..-1, keeping the batch dim).
L.Flatten = class("Flatten", Module)
function L.Flatten:__init(s, e) Module.__init(self); self.start_dim, self.end_dim = s or 2, e or -1 end
function L.Flatten:forward(x) return x:flatten(self.start_dim, self.end_dim) end

--- Splits dim into sizes: Unflatten(2, {C, H, W}).
L.Unflatten = class("Unflatten", Module)
function L.Unflatten:__init(dim, sizes) Module.__init(self); self.dim, self.sizes = dim, sizes end
function L.Unflatten:forward(x)
   local s, d = x:size(), self.dim < 0 and x:dim() + self.dim + 1 or self.dim
   local out = {}
   for i = 1, d - 1 do out[#out + 1] = s[i] end
   for _, v in ipairs(self.sizes) do out[#out + 1] = v end
   for i = d + 1, #s do out[#out + 1] = s[i] end
   return x:reshape(out)
end

--- Reshapes each sample: Reshape(C, H, W) maps (N, ...) to (N, C, H, W).
L.Reshape = class("Reshape", Module)
function L.Reshape:__init(...) Module.__init(self); self.shape = { ... } end
function L.Reshape:forward(x) return x:reshape(x:size(1), table.unpack(self.shape)) end
function L.Reshape:extra_repr() return table.concat(self.shape, ", ") end

return L
