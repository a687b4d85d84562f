--- gan.nn.functional (also gan.F): stateless layers, activations and losses.
--
-- Convolutions are C kernels; most of the rest is composed here from differentiable
-- tensor ops, so every function has gradients (and gradients of gradients) without a
-- hand-written backward. Dims are 1-based as everywhere in Lua; class labels are
-- 0-based int64 values.
-- @module gan.nn.functional
local core = require("gan.core")

local F = {}

local is_tensor = require("gan.tensor").is_tensor
local no_grad = require("gan.autograd").no_grad

local function shape_str(t)
   return "(" .. table.concat(t:size(), ", ") .. (t:dim() == 1 and ",)" or ")")
end

local function check_tensor(v, op, what, level)
   if not is_tensor(v) then
      error(("%s: %s must be a tensor, got %s"):format(op, what, type(v)), level or 3)
   end
end

local function same_shape(a, b)
   if a:dim() ~= b:dim() then return false end
   for i = 1, a:dim() do if a:size(i) ~= b:size(i) then return false end end
   return true
end

local function pair(v, default, op, name)
   if v == nil then v = default end
   if type(v) == "number" then return { v, v } end
   if type(v) == "table" and #v == 2 then return { v[1], v[2] } end
   error(("%s: %s must be a number or a pair of numbers"):format(op, name), 3)
end

-- pair() of integers >= lo (floats with integral values become integers), so that a
-- wrong size is reported under the name the caller used.
local function int_pair(v, default, op, name, lo)
   local p = pair(v, default, op, name)
   for i = 1, 2 do
      local n = math.tointeger(p[i])
      if not n or n < lo then
         error(("%s: %s must be an integer >= %d or a pair of them, got %s"):format(op, name, lo,
            type(v) == "table" and "{" .. table.concat(v, ", ") .. "}" or tostring(v)), 3)
      end
      p[i] = n
   end
   return p
end

local set = require("gan.opts").set
local check_opts = require("gan.opts").check   -- errors point at the caller of the F function

-- ---------------------------------------------------------------- linear, convolution

--- y = x W^T + b for x (..., in), W (out, in), b (out).
-- @tparam Tensor x (..., in)
-- @tparam Tensor w (out, in)
-- @tparam[opt] Tensor b (out)
-- @treturn Tensor (..., out)
-- @raise when x's last dim does not match w
function F.linear(x, w, b)
   check_tensor(x, "linear", "input"); check_tensor(w, "linear", "weight")
   if w:dim() ~= 2 or x:dim() < 1 or x:size(-1) ~= w:size(2) then
      error(("linear: input %s does not match weight %s (in_features %s)"):format(
         shape_str(x), shape_str(w), w:dim() == 2 and w:size(2) or "?"), 2)
   end
   local y = core.matmul(x, w:t())
   if b ~= nil then y = y + b end
   return y
end

--- 2-d convolution: x (N, C, H, W), w (O, C/groups, kh, kw), optional bias (O),
-- options stride, padding, dilation, groups (numbers or {h, w} pairs).
F.conv2d = core.conv2d
--- Transposed convolution: w (C, O/groups, kh, kw); options as conv2d plus output_padding.
F.conv_transpose2d = core.conv_transpose2d
--- 3-d convolution: x (N, C, D, H, W), w (O, C/groups, kd, kh, kw), optional bias (O),
-- options as conv2d with {d, h, w} triples.
F.conv3d = core.conv3d
--- Transposed 3-d convolution: w (C, O/groups, kd, kh, kw); options as conv3d plus
-- output_padding.
F.conv_transpose3d = core.conv_transpose3d

-- ---------------------------------------------------------------- pooling, resampling

--- Average pooling as a depthwise convolution with a constant kernel (so it has double
-- backward). Options: stride (default kernel), padding, count_include_pad (true).
-- @tparam Tensor x (N, C, H, W)
-- @tparam int|{int,int} kernel
-- @tparam[opt] table opts `stride` (the kernel), `padding` (0), `count_include_pad` (true)
-- @treturn Tensor (N, C, H', W')
function F.avg_pool2d(x, kernel, opts)
   opts = check_opts(opts, set("stride", "padding", "count_include_pad"), "avg_pool2d")
   check_tensor(x, "avg_pool2d", "input")
   if x:dim() ~= 4 then error("avg_pool2d: expected a 4-d input (N, C, H, W), got " .. shape_str(x), 2) end
   local k = int_pair(kernel, nil, "avg_pool2d", "kernel_size", 1)
   local stride = int_pair(opts.stride, k, "avg_pool2d", "stride", 1)
   local pad = int_pair(opts.padding, 0, "avg_pool2d", "padding", 0)
   local C = x:size(2)
   local w = core.full({ C, 1, k[1], k[2] }, 1 / (k[1] * k[2]), { dtype = x.dtype })
   local y = core.conv2d(x, w, nil, { stride = stride, padding = pad, groups = C })
   if opts.count_include_pad == false and (pad[1] > 0 or pad[2] > 0) then
      local ones = core.ones({ 1, 1, x:size(3), x:size(4) }, { dtype = x.dtype })
      local frac = core.conv2d(ones, w:narrow(1, 1, 1), nil, { stride = stride, padding = pad })
      y = y / frac
   end
   return y
end

--- Max pooling. Options: stride (default kernel), padding, dilation, ceil_mode,
-- return_indices (also return the flat indices into each H*W plane, 0-based).
-- @tparam Tensor x (N, C, H, W)
-- @tparam int|{int,int} kernel
-- @tparam[opt] table opts `stride` (the kernel), `padding` (0), `dilation` (1),
--  `ceil_mode` (false), `return_indices` (false)
-- @treturn Tensor (N, C, H', W')
-- @treturn[opt] Tensor with return_indices: int64 (N, C, H', W')
function F.max_pool2d(x, kernel, opts)
   opts = check_opts(opts, set("stride", "padding", "dilation", "ceil_mode", "return_indices"), "max_pool2d")
   check_tensor(x, "max_pool2d", "input")
   local k = int_pair(kernel, nil, "max_pool2d", "kernel_size", 1)
   local stride = int_pair(opts.stride, k, "max_pool2d", "stride", 1)
   local idx = core.max_pool2d_indices(x, k, stride, int_pair(opts.padding, 0, "max_pool2d", "padding", 0),
      int_pair(opts.dilation, 1, "max_pool2d", "dilation", 1), opts.ceil_mode)
   local N, C, Ho, Wo = idx:size(1), idx:size(2), idx:size(3), idx:size(4)
   local flat = x:reshape(N, C, x:size(3) * x:size(4))
   local y = flat:gather(3, idx:view(N, C, Ho * Wo)):view(N, C, Ho, Wo)
   if opts.return_indices then return y, idx end
   return y
end

-- Averaging matrix (out, n): row i averages [floor(i n / out), ceil((i + 1) n / out)).
local function adaptive_matrix(n, out, dtype)
   local rows = {}
   for i = 0, out - 1 do
      local s, e = (i * n) // out, -((-(i + 1) * n) // out)
      local row = {}
      for j = 0, n - 1 do row[j + 1] = (j >= s and j < e) and 1 / (e - s) or 0 end
      rows[i + 1] = row
   end
   return core.tensor(rows, { dtype = dtype })
end

--- Adaptive average pooling to `size` (a number or {h, w}), as PyTorch: window i covers
-- [floor(i H / h), ceil((i + 1) H / h)).
-- @tparam Tensor x (N, C, H, W)
-- @tparam int|{int,int} size
-- @treturn Tensor (N, C, h, w)
function F.adaptive_avg_pool2d(x, size)
   check_tensor(x, "adaptive_avg_pool2d", "input")
   if x:dim() ~= 4 then error("adaptive_avg_pool2d: expected a 4-d input, got " .. shape_str(x), 2) end
   local s = int_pair(size, nil, "adaptive_avg_pool2d", "output_size", 1)
   local H, W = x:size(3), x:size(4)
   if s[1] == H and s[2] == W then return x end
   if H % s[1] == 0 and W % s[2] == 0 then
      return F.avg_pool2d(x, { H // s[1], W // s[2] })
   end
   local ah, aw = adaptive_matrix(H, s[1], x.dtype), adaptive_matrix(W, s[2], x.dtype)
   return core.matmul(core.matmul(ah, x), aw:t())
end

-- Bilinear interpolation matrix (out, n).
local function bilinear_matrix(n, out, align_corners, scale, dtype)
   local rows = {}
   for i = 0, out - 1 do
      local src
      if align_corners then
         src = out > 1 and i * (n - 1) / (out - 1) or 0
      else
         src = math.max((i + 0.5) * scale - 0.5, 0)
      end
      local i0 = math.min(math.floor(src), n - 1)
      local i1 = math.min(i0 + 1, n - 1)
      local l = src - i0
      local row = {}
      for j = 1, n do row[j] = 0 end
      row[i0 + 1] = row[i0 + 1] + (1 - l)
      row[i1 + 1] = row[i1 + 1] + l
      rows[i + 1] = row
   end
   return core.tensor(rows, { dtype = dtype })
end

-- Keys' cubic convolution kernel with a = -0.5 (MATLAB's imresize, the super-resolution
-- papers' bicubic).
local CUBIC_A = -0.5
local function cubic(t)
   local a = CUBIC_A
   t = math.abs(t)
   if t <= 1 then return (a + 2) * t ^ 3 - (a + 3) * t ^ 2 + 1 end
   if t < 2 then return a * t ^ 3 - 5 * a * t ^ 2 + 8 * a * t - 4 * a end
   return 0
end

-- Bicubic interpolation matrix (out, n): half-pixel centres, four taps, indices past an
-- edge clamped to it (edge pixels replicated).
local function bicubic_matrix(n, out, scale, dtype)
   local rows = {}
   for i = 0, out - 1 do
      local src = (i + 0.5) * scale - 0.5
      local f = math.floor(src)
      local row = {}
      for j = 1, n do row[j] = 0 end
      for k = f - 1, f + 2 do
         local j = math.min(math.max(k, 0), n - 1)
         row[j + 1] = row[j + 1] + cubic(src - k)
      end
      rows[i + 1] = row
   end
   return core.tensor(rows, { dtype = dtype })
end

--- Resize (N, C, H, W). Options: size ({h, w} or a number) or scale_factor (number or
-- pair), mode "nearest" (default), "bilinear" or "bicubic" (Keys' kernel, a = -0.5, edges
-- replicated; no antialiasing when shrinking), align_corners (bilinear; default false).
-- @tparam Tensor x (N, C, H, W)
-- @tparam table opts `size` or `scale_factor` (one of them), `mode` ("nearest"),
--  `align_corners` (false)
-- @treturn Tensor (N, C, H', W')
-- @raise without size or scale_factor, or on an unknown mode
function F.interpolate(x, opts)
   opts = check_opts(opts, set("size", "scale_factor", "mode", "align_corners"), "interpolate")
   check_tensor(x, "interpolate", "input")
   if x:dim() ~= 4 then error("interpolate: expected a 4-d input (N, C, H, W), got " .. shape_str(x), 2) end
   local H, W = x:size(3), x:size(4)
   local out, scale
   if opts.size ~= nil then
      out = int_pair(opts.size, nil, "interpolate", "size", 1)
      scale = { H / out[1], W / out[2] }
   elseif opts.scale_factor ~= nil then
      local f = pair(opts.scale_factor, nil, "interpolate", "scale_factor")
      out = { math.floor(H * f[1]), math.floor(W * f[2]) }
      scale = { 1 / f[1], 1 / f[2] }
   else
      error("interpolate: give size or scale_factor", 2)
   end
   if out[1] < 1 or out[2] < 1 then error("interpolate: output size must be positive", 2) end
   local mode = opts.mode or "nearest"
   if mode == "nearest" then
      local function index(n, o, s)
         local t = {}
         for i = 0, o - 1 do t[i + 1] = math.min(math.floor(i * s), n - 1) end
         return core.tensor(t, { dtype = "int64" })
      end
      return x:index_select(3, index(H, out[1], scale[1])):index_select(4, index(W, out[2], scale[2]))
   elseif mode == "bilinear" then
      local ah = bilinear_matrix(H, out[1], opts.align_corners, scale[1], x.dtype)
      local aw = bilinear_matrix(W, out[2], opts.align_corners, scale[2], x.dtype)
      return core.matmul(core.matmul(ah, x), aw:t())
   elseif mode == "bicubic" then
      local ah, aw = bicubic_matrix(H, out[1], scale[1], x.dtype), bicubic_matrix(W, out[2], scale[2], x.dtype)
      return core.matmul(core.matmul(ah, x), aw:t())
   end
   error(("interpolate: unknown mode '%s' (nearest, bilinear or bicubic)"):format(tostring(mode)), 2)
end

-- The upscale factor of pixel_shuffle / pixel_unshuffle: an integer >= 1.
local function check_factor(r, op)
   local n = math.tointeger(r)
   if not n or n < 1 then
      error(("%s: the factor must be an integer >= 1, got %s"):format(op, tostring(r)), 3)
   end
   return n
end

--- (N, C r^2, H, W) -> (N, C, H r, W r).
-- @tparam Tensor x (N, C r^2, H, W)
-- @tparam int r the upscale factor, >= 1
-- @treturn Tensor (N, C, H r, W r)
function F.pixel_shuffle(x, r)
   check_tensor(x, "pixel_shuffle", "input")
   r = check_factor(r, "pixel_shuffle")
   if x:dim() ~= 4 or x:size(2) % (r * r) ~= 0 then
      error(("pixel_shuffle: channels of %s are not divisible by %d^2"):format(shape_str(x), r), 2)
   end
   local N, C, H, W = x:size(1), x:size(2) // (r * r), x:size(3), x:size(4)
   return x:reshape(N, C, r, r, H, W):permute(1, 2, 5, 3, 6, 4):reshape(N, C, H * r, W * r)
end

--- (N, C, H r, W r) -> (N, C r^2, H, W).
-- @tparam Tensor x (N, C, H r, W r)
-- @tparam int r the downscale factor, >= 1
-- @treturn Tensor (N, C r^2, H, W)
function F.pixel_unshuffle(x, r)
   check_tensor(x, "pixel_unshuffle", "input")
   r = check_factor(r, "pixel_unshuffle")
   if x:dim() ~= 4 or x:size(3) % r ~= 0 or x:size(4) % r ~= 0 then
      error(("pixel_unshuffle: spatial size of %s is not divisible by %d"):format(shape_str(x), r), 2)
   end
   local N, C, H, W = x:size(1), x:size(2), x:size(3) // r, x:size(4) // r
   return x:reshape(N, C, H, r, W, r):permute(1, 2, 4, 6, 3, 5):reshape(N, C * r * r, H, W)
end

--- Pads the trailing dims: pads = {left, right [, top, bottom [, front, back]]}, last dim
-- first (as PyTorch). mode "constant" (value), "reflect" or "replicate".
-- @tparam Tensor x
-- @tparam {int,...} pads two per padded dim, last dim first
-- @tparam[opt="constant"] string mode "constant", "reflect" or "replicate"
-- @tparam[opt=0] number value the fill of "constant"
-- @treturn Tensor
function F.pad(x, pads, mode, value)
   check_tensor(x, "pad", "input")
   mode = mode or "constant"
   if type(pads) ~= "table" or #pads % 2 ~= 0 or #pads // 2 > x:dim() then
      error("pad: pads must be a table of 2 numbers per padded dim (last dim first)", 2)
   end
   for k = 1, #pads // 2 do
      local dim = x:dim() - k + 1
      local before, after = pads[2 * k - 1], pads[2 * k]
      local n = x:size(dim)
      if mode == "constant" then
         local parts = {}
         local function block(len)
            local s = x:size()
            s[dim] = len
            return core.full(s, value or 0, { dtype = x.dtype })
         end
         if before < 0 or after < 0 then
            x = x:narrow(dim, 1 + math.max(0, -before), n - math.max(0, -before) - math.max(0, -after))
            before, after = math.max(before, 0), math.max(after, 0)
         end
         if before > 0 then parts[#parts + 1] = block(before) end
         parts[#parts + 1] = x
         if after > 0 then parts[#parts + 1] = block(after) end
         if #parts > 1 then x = core.cat(parts, dim) end
      elseif mode == "reflect" or mode == "replicate" then
         if before < 0 or after < 0 then error("pad: negative padding needs mode 'constant'", 2) end
         if mode == "reflect" and (before >= n or after >= n) then
            error(("pad: reflect padding %d,%d must be smaller than the dim size %d"):format(before, after, n), 2)
         end
         local idx = {}
         for i = -before, n - 1 + after do
            local j
            if mode == "replicate" then
               j = math.min(math.max(i, 0), n - 1)
            else
               j = i < 0 and -i or (i >= n and 2 * (n - 1) - i or i)
            end
            idx[#idx + 1] = j
         end
         x = x:index_select(dim, core.tensor(idx, { dtype = "int64" }))
      else
         error(("pad: unknown mode '%s' (constant, reflect or replicate)"):format(tostring(mode)), 2)
      end
   end
   return x
end

-- ---------------------------------------------------------------- normalisation

-- Reshapes a per-channel vector (C) to broadcast over (N, C, ...).
local function per_channel(v, x)
   local s = {}
   for i = 1, x:dim() do s[i] = 1 end
   s[2] = v:numel()
   return v:view(s)
end

local function normalize(x, dims, eps)
   local mean = x:mean(dims, true)
   local var = x:var(dims, false, true)
   return (x - mean) * (var + eps):rsqrt(), mean, var
end

local function update_running(running, stat, momentum)
   local _ <close> = no_grad()
   running:mul_(1 - momentum):add_(stat:detach():reshape(running:size()) * momentum)
end

-- Normalisation by given (running) statistics, then the affine transform.
local function with_running_stats(x, running_mean, running_var, weight, bias, eps)
   local y = (x - per_channel(running_mean, x)) * (per_channel(running_var, x) + eps):rsqrt()
   if weight ~= nil then y = y * per_channel(weight, x) end
   if bias ~= nil then y = y + per_channel(bias, x) end
   return y
end

--- Batch normalisation over (N, ...) per channel (dim 2). In training, batch statistics
-- normalise and the running stats (if given) move by momentum with the unbiased
-- variance; in eval the running stats normalise.
-- @tparam Tensor x (N, C, ...)
-- @tparam[opt] Tensor running_mean (C), updated in place in training
-- @tparam[opt] Tensor running_var (C), updated in place in training
-- @tparam[opt] Tensor weight (C)
-- @tparam[opt] Tensor bias (C)
-- @tparam boolean training batch statistics (always without running stats)
-- @tparam[opt=0.1] number momentum
-- @tparam[opt=1e-5] number eps
-- @treturn Tensor of x's shape
-- @raise when the per-channel tensors do not match C, or in training with one value per
--  channel
function F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)
   check_tensor(x, "batch_norm", "input")
   if x:dim() < 2 then error("batch_norm: expected at least 2 dims (N, C, ...), got " .. shape_str(x), 2) end
   momentum, eps = momentum or 0.1, eps or 1e-5
   local C = x:size(2)
   for _, v in ipairs { running_mean or false, running_var or false, weight or false, bias or false } do
      if v and v:numel() ~= C then
         error(("batch_norm: per-channel tensor %s does not match %d channels of input %s"):format(
            shape_str(v), C, shape_str(x)), 2)
      end
   end
   if training or running_mean == nil then
      local n = x:numel() // C
      if training and n <= 1 then
         error(("batch_norm: need more than 1 value per channel in training, got input %s"):format(shape_str(x)), 2)
      end
      local y, mean, var = core.batch_norm(x, weight, bias, false, eps)
      if training and running_mean ~= nil then
         update_running(running_mean, mean, momentum)
         update_running(running_var, var * (n / math.max(n - 1, 1)), momentum)
      end
      return y
   end
   return with_running_stats(x, running_mean, running_var, weight, bias, eps)
end

--- Synchronised batch norm in training (data parallelism): batch_norm's statistics taken
-- over the batches of every rank (sums of x and x^2 and the counts all-reduced, a
-- differentiable exchange, so gradients flow across ranks as through one large batch),
-- then the affine transform; running statistics updated as batch_norm does.
-- @tparam Tensor x (N, C, ...)
-- @tparam[opt] Tensor running_mean (C)
-- @tparam[opt] Tensor running_var (C)
-- @tparam[opt] Tensor weight (C)
-- @tparam[opt] Tensor bias (C)
-- @tparam[opt=0.1] number momentum
-- @tparam[opt=1e-5] number eps
-- @treturn Tensor of x's shape
function F.sync_batch_norm(x, running_mean, running_var, weight, bias, momentum, eps)
   check_tensor(x, "sync_batch_norm", "input")
   momentum, eps = momentum or 0.1, eps or 1e-5
   local C = x:size(2)
   local dims = { 1 }
   for d = 3, x:dim() do dims[#dims + 1] = d end
   local stats = core.cat({ x:sum(dims), (x * x):sum(dims),
      core.full({ 1 }, x:numel() // C, { dtype = x.dtype }) }, 1)
   local all = core.dist.all_reduce_ag(stats)
   local n = all[2 * C + 1]
   local mean = all:narrow(1, 1, C) / n
   local var = all:narrow(1, C + 1, C) / n - mean * mean
   local y = (x - per_channel(mean, x)) * (per_channel(var, x) + eps):rsqrt()
   if weight ~= nil then y = y * per_channel(weight, x) end
   if bias ~= nil then y = y + per_channel(bias, x) end
   if running_mean ~= nil then
      update_running(running_mean, mean, momentum)
      update_running(running_var, var * (n / math.max(n - 1, 1)), momentum)
   end
   return y
end

--- Instance normalisation: per sample and channel over the spatial dims. With running
-- stats and use_input_stats == false, normalises with those instead.
-- @tparam Tensor x (N, C, ...) with spatial dims
-- @tparam[opt] Tensor running_mean (C)
-- @tparam[opt] Tensor running_var (C)
-- @tparam[opt] Tensor weight (C)
-- @tparam[opt] Tensor bias (C)
-- @tparam[opt] boolean use_input_stats false: normalise with the running stats
-- @tparam[opt=0.1] number momentum
-- @tparam[opt=1e-5] number eps
-- @treturn Tensor of x's shape
function F.instance_norm(x, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)
   check_tensor(x, "instance_norm", "input")
   if x:dim() < 3 then error("instance_norm: expected (N, C, ...) with spatial dims, got " .. shape_str(x), 2) end
   momentum, eps = momentum or 0.1, eps or 1e-5
   if use_input_stats == nil then use_input_stats = true end
   if use_input_stats then
      local y, mean, var = core.batch_norm(x, weight, bias, true, eps)
      if running_mean ~= nil then
         local n = x:numel() // (x:size(1) * x:size(2))
         update_running(running_mean, mean:mean(1), momentum)
         update_running(running_var, (var * (n / math.max(n - 1, 1))):mean(1), momentum)
      end
      return y
   end
   return with_running_stats(x, running_mean, running_var, weight, bias, eps)
end

--- Layer normalisation over the trailing dims given by normalized_shape (a number or a
-- table of sizes); weight and bias have that shape.
-- @tparam Tensor x (..., normalized_shape)
-- @tparam int|{int,...} normalized_shape
-- @tparam[opt] Tensor weight
-- @tparam[opt] Tensor bias
-- @tparam[opt=1e-5] number eps
-- @treturn Tensor of x's shape
-- @raise when x does not end with normalized_shape
function F.layer_norm(x, normalized_shape, weight, bias, eps)
   check_tensor(x, "layer_norm", "input")
   if type(normalized_shape) == "number" then normalized_shape = { normalized_shape } end
   local k = #normalized_shape
   for i = 1, k do
      if x:dim() < k or x:size(x:dim() - k + i) ~= normalized_shape[i] then
         error(("layer_norm: input %s does not end with normalized_shape {%s}"):format(
            shape_str(x), table.concat(normalized_shape, ", ")), 2)
      end
   end
   local dims = {}
   for i = x:dim() - k + 1, x:dim() do dims[#dims + 1] = i end
   local y = normalize(x, dims, eps or 1e-5)
   if weight ~= nil then y = y * weight end
   if bias ~= nil then y = y + bias end
   return y
end

--- Group normalisation: channels split into num_groups, each normalised per sample.
-- @tparam Tensor x (N, C, ...)
-- @tparam int num_groups dividing C
-- @tparam[opt] Tensor weight (C)
-- @tparam[opt] Tensor bias (C)
-- @tparam[opt=1e-5] number eps
-- @treturn Tensor of x's shape
function F.group_norm(x, num_groups, weight, bias, eps)
   check_tensor(x, "group_norm", "input")
   local N, C = x:size(1), x:size(2)
   if C % num_groups ~= 0 then
      error(("group_norm: %d channels are not divisible into %d groups"):format(C, num_groups), 2)
   end
   local g = x:reshape(N, num_groups, -1)
   local y = normalize(g, { 3 }, eps or 1e-5):reshape(x:size())
   if weight ~= nil then y = y * per_channel(weight, x) end
   if bias ~= nil then y = y + per_channel(bias, x) end
   return y
end

-- ---------------------------------------------------------------- embedding, dropout

--- Rows of weight (num, dim) for int64 indices of any shape (0-based).
-- @tparam Tensor indices int64
-- @tparam Tensor weight (num, dim)
-- @treturn Tensor (indices' shape..., dim)
function F.embedding(indices, weight)
   check_tensor(indices, "embedding", "indices"); check_tensor(weight, "embedding", "weight")
   if indices.dtype ~= "int64" then error("embedding: indices must be int64, got " .. indices.dtype, 2) end
   local s = indices:size()
   s[#s + 1] = weight:size(2)
   local ok, rows = pcall(weight.index_select, weight, 1, indices:reshape(-1))
   if not ok then
      -- index_select's message names dim 1 of weight; say it as the caller sees it
      local bad = tostring(rows):match("index (%-?%d+) out of range")
      if not bad then error(rows, 0) end
      error(("embedding: index %s out of range for %d embeddings"):format(bad, weight:size(1)), 2)
   end
   return rows:view(s)
end

--- Zeroes elements with probability p and scales the rest by 1 / (1 - p) in training.
-- @tparam Tensor x
-- @tparam[opt=0.5] number p in [0, 1]
-- @tparam[opt=true] boolean training false (eval mode) returns x unchanged
-- @tparam[opt] table opts `generator` (the default one)
-- @treturn Tensor
function F.dropout(x, p, training, opts)
   p = p or 0.5
   if p < 0 or p > 1 then error(("dropout: p must be in [0, 1], got %g"):format(p), 2) end
   if training == false or p == 0 then return x end
   if p == 1 then return x * 0 end
   local keep = core.empty(x:size(), { dtype = x.dtype }):bernoulli_(1 - p, opts)
   return x * keep * (1 / (1 - p))
end

-- ---------------------------------------------------------------- activations

--- max(x, 0), elementwise.
-- @tparam Tensor x
-- @treturn Tensor
function F.relu(x) return x:relu() end
--- tanh(x), elementwise.
-- @tparam Tensor x
-- @treturn Tensor
function F.tanh(x) return x:tanh() end
--- 1 / (1 + exp(-x)), elementwise.
-- @tparam Tensor x
-- @treturn Tensor
function F.sigmoid(x) return x:sigmoid() end

--- max(x, 0) + slope * min(x, 0).
-- @tparam Tensor x
-- @tparam[opt=0.01] number slope
-- @treturn Tensor
function F.leaky_relu(x, slope)
   check_tensor(x, "leaky_relu", "input")
   return core.leaky_relu(x, slope or 0.01)   -- the gradient at exactly 0 is slope (as PyTorch)
end

--- Parametric ReLU: x where x > 0, a x elsewhere, one slope per channel (dimension 2 of x)
-- or one shared; fused each way (the gradient at exactly 0 is a, as PyTorch).
-- @tparam Tensor x (N, C, ...)
-- @tparam Tensor a the slopes, (C) or (1)
-- @treturn Tensor of x's shape
-- @raise when the slopes do not match the channels
function F.prelu(x, a)
   check_tensor(x, "prelu", "input")
   check_tensor(a, "prelu", "slopes")
   return core.prelu(x, a)
end

--- The gated activation of gated PixelCNN (van den Oord et al. 2016): tanh(a) * sigmoid(b),
-- where a and b are the first and second halves of x's channels; fused each way (one
-- pass, the backward recomputing both from x).
-- @tparam Tensor x (N, 2C, ...)
-- @treturn Tensor (N, C, ...)
-- @raise with an odd number of channels
function F.gate(x)
   check_tensor(x, "gate", "input")
   return core.gate(x)
end

--- x for x > 0, alpha (exp(x) - 1) otherwise.
-- @tparam Tensor x
-- @tparam[opt=1] number alpha
-- @treturn Tensor
function F.elu(x, alpha)
   alpha = alpha or 1
   local neg = (-(x:relu())):add(x)     -- min(x, 0)
   return x:relu() + neg:expm1() * alpha
end

--- Gaussian error linear unit: x Phi(x), exact (with erf) or in its tanh form.
-- @tparam Tensor x
-- @tparam[opt] string approximate "tanh" for the tanh form
-- @treturn Tensor
function F.gelu(x, approximate)
   if approximate == "tanh" then
      local c = math.sqrt(2 / math.pi)
      return x * 0.5 * (((x + x * x * x * 0.044715) * c):tanh() + 1)
   end
   return x * 0.5 * ((x * (1 / math.sqrt(2))):erf() + 1)
end

-- log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)), with max(z, 0) and -|z| built from the
-- two halves zp = (z > 0 and z or 0) and zn = (z > 0 and 0 or z) as zp + log1p(exp(zn - zp)):
-- its derivative is sigmoid(z) everywhere, also at z == 0 (where abs' would give 0) and at
-- z = ±inf (no inf - inf on either path: softplus'(-inf) = 0, softplus'(inf) = 1).
local function stable_softplus(z)
   local pos, zero = z:gt(0), core.zeros_like(z)
   local zp, zn = core.where(pos, z, zero), core.where(pos, zero, z)
   return zp + (zn - zp):exp():log1p()
end

--- log(1 + exp(beta x)) / beta, computed stably; linear above threshold as PyTorch.
-- @tparam Tensor x
-- @tparam[opt=1] number beta
-- @tparam[opt=20] number threshold
-- @treturn Tensor
function F.softplus(x, beta, threshold)
   beta, threshold = beta or 1, threshold or 20
   local bx = x * beta
   local y = stable_softplus(bx) * (1 / beta)
   return core.where(bx:gt(threshold), x, y)
end

--- log(sum(exp(x), dim)), stable.
-- @tparam Tensor x
-- @tparam int dim
-- @tparam[opt=false] boolean keepdim
-- @treturn Tensor
function F.logsumexp(x, dim, keepdim)
   local m = x:max(dim, true):detach()
   -- A row whose maximum is infinite is shifted by 0 instead: -inf - -inf and inf - inf
   -- would be NaN, while the sum gives log(0) = -inf and log(inf) = inf (as PyTorch).
   m = core.where(m:abs():lt(math.huge), m, core.zeros_like(m))
   local s = (x - m):exp():sum(dim, true):log() + m
   if keepdim then return s end
   return s:squeeze(dim)
end

--- x - logsumexp(x, dim): log-probabilities along dim, stable.
-- @tparam Tensor x
-- @tparam[opt=-1] int dim
-- @treturn Tensor of x's shape
function F.log_softmax(x, dim)
   dim = dim or -1
   return x - F.logsumexp(x, dim, true)
end

--- exp(x) / sum(exp(x), dim), computed after subtracting the maximum along dim.
-- @tparam Tensor x
-- @tparam[opt=-1] int dim
-- @treturn Tensor of x's shape
function F.softmax(x, dim)
   dim = dim or -1
   local e = (x - x:max(dim, true):detach()):exp()
   return e / e:sum(dim, true)
end

--- Float one-hot rows (..., n) of int64 labels (0-based).
-- @tparam Tensor labels int64, 0-based
-- @tparam int n the number of classes
-- @tparam[opt="float32"] string dtype
-- @treturn Tensor (labels' shape..., n)
-- @raise when labels are not int64 or out of range
function F.one_hot(labels, n, dtype)
   check_tensor(labels, "one_hot", "labels")
   if labels.dtype ~= "int64" then error("one_hot: labels must be int64, got " .. labels.dtype, 2) end
   local lo, hi = labels:min():item(), labels:max():item()
   if labels:numel() > 0 and (lo < 0 or hi >= n) then
      error(("one_hot: label %d out of range for %d classes"):format(lo < 0 and lo or hi, n), 2)
   end
   return labels:unsqueeze(-1):eq(core.arange(n)):to(dtype or "float32")
end

-- ---------------------------------------------------------------- losses

local REDUCTIONS = { mean = true, sum = true, none = true }

local function reduce(loss, reduction, op)
   reduction = reduction or "mean"
   if not REDUCTIONS[reduction] then
      error(("%s: reduction must be 'mean', 'sum' or 'none', got '%s'"):format(op, tostring(reduction)), 3)
   end
   if reduction == "mean" then return loss:mean() end
   if reduction == "sum" then return loss:sum() end
   return loss
end

local function check_pair(input, target, op)
   check_tensor(input, op, "input"); check_tensor(target, op, "target")
   if not same_shape(input, target) then
      error(("%s: input %s and target %s have different shapes"):format(op, shape_str(input), shape_str(target)), 3)
   end
end

--- Mean squared error. opts.reduction: "mean" (default), "sum" or "none".
-- @tparam Tensor input
-- @tparam Tensor target of input's shape
-- @tparam[opt] table opts `reduction` ("mean")
-- @treturn Tensor
function F.mse_loss(input, target, opts)
   opts = check_opts(opts, set("reduction"), "mse_loss")
   check_pair(input, target, "mse_loss")
   local d = input - target
   return reduce(d * d, opts.reduction, "mse_loss")
end

--- Mean absolute error.
-- @tparam Tensor input
-- @tparam Tensor target of input's shape
-- @tparam[opt] table opts `reduction`: "mean" (default), "sum" or "none"
-- @treturn Tensor
-- @raise when the shapes differ
function F.l1_loss(input, target, opts)
   opts = check_opts(opts, set("reduction"), "l1_loss")
   check_pair(input, target, "l1_loss")
   return reduce((input - target):abs(), opts.reduction, "l1_loss")
end

--- Huber-style loss: 0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere.
-- @tparam Tensor input
-- @tparam Tensor target of input's shape
-- @tparam[opt] table opts `beta` (1), `reduction` ("mean", "sum" or "none")
-- @treturn Tensor
function F.smooth_l1_loss(input, target, opts)
   opts = check_opts(opts, set("reduction", "beta"), "smooth_l1_loss")
   check_pair(input, target, "smooth_l1_loss")
   local beta = opts.beta or 1
   local d = (input - target):abs()
   local loss
   if beta == 0 then
      loss = d
   else
      loss = core.where(d:lt(beta), d * d * (0.5 / beta), d - 0.5 * beta)
   end
   return reduce(loss, opts.reduction, "smooth_l1_loss")
end

--- Binary cross-entropy on logits, stable for any magnitude:
-- max(x, 0) - x t + log(1 + exp(-|x|)). opts: weight, pos_weight, reduction.
-- @tparam Tensor logits
-- @tparam Tensor target in [0, 1], of logits' shape
-- @tparam[opt] table opts `weight` (per element, broadcast), `pos_weight` (the weight of
--  positive targets), `reduction` ("mean", "sum" or "none")
-- @treturn Tensor
function F.binary_cross_entropy_with_logits(logits, target, opts)
   opts = check_opts(opts, set("reduction", "weight", "pos_weight"), "binary_cross_entropy_with_logits")
   check_pair(logits, target, "binary_cross_entropy_with_logits")
   local loss
   local sp_neg = stable_softplus(-logits)   -- softplus(-x)
   if opts.pos_weight ~= nil then
      -- pos_weight * t * softplus(-x) + (1 - t) * softplus(x)
      local lw = (opts.pos_weight - 1) * target + 1
      loss = (1 - target) * logits + lw * sp_neg
   else
      loss = (1 - target) * logits + sp_neg
   end
   if opts.weight ~= nil then loss = loss * opts.weight end
   return reduce(loss, opts.reduction, "binary_cross_entropy_with_logits")
end

--- Binary cross-entropy on probabilities; logs are clamped at -100 as in PyTorch.
-- @tparam Tensor p probabilities in [0, 1]
-- @tparam Tensor target of p's shape
-- @tparam[opt] table opts `weight`, `reduction` ("mean", "sum" or "none")
-- @treturn Tensor
-- @raise when p is outside [0, 1]
function F.binary_cross_entropy(p, target, opts)
   opts = check_opts(opts, set("reduction", "weight"), "binary_cross_entropy")
   check_pair(p, target, "binary_cross_entropy")
   local lo, hi = p:min():item(), p:max():item()
   if p:numel() > 0 and (lo < 0 or hi > 1) then
      error(("binary_cross_entropy: input values must be in [0, 1], got [%g, %g]"):format(lo, hi), 2)
   end
   local lp = p:log():clamp(-100)
   local l1p = (1 - p):log():clamp(-100)
   local loss = -(target * lp + (1 - target) * l1p)
   if opts.weight ~= nil then loss = loss * opts.weight end
   return reduce(loss, opts.reduction, "binary_cross_entropy")
end

-- Checks int64 class targets against log-probabilities (N, C, ...).
local function check_labels(logp, target, op)
   local want = logp:size()
   table.remove(want, 2)
   local ok = target:dim() == #want
   for i = 1, #want do ok = ok and target:size(i) == want[i] end
   if not ok then
      error(("%s: input %s needs a target of shape (%s), got %s"):format(op, shape_str(logp),
         table.concat(want, ", "), shape_str(target)), 3)
   end
   local C = logp:size(2)
   if target:numel() > 0 then
      local lo, hi = target:min():item(), target:max():item()
      if lo < 0 or hi >= C then
         error(("%s: label %d out of range for %d classes (labels are 0-based)"):format(op,
            lo < 0 and lo or hi, C), 3)
      end
   end
end

--- Negative log-likelihood of int64 targets (0-based) under log-probabilities (N, C, ...).
-- opts: weight (per class), reduction.
-- @tparam Tensor logp (N, C, ...)
-- @tparam Tensor target int64 (N, ...)
-- @tparam[opt] table opts `weight` (C), `reduction` ("mean": weighted by the targets'
--  weights, "sum" or "none")
-- @treturn Tensor
-- @raise when a label is out of range
function F.nll_loss(logp, target, opts)
   opts = check_opts(opts, set("reduction", "weight"), "nll_loss")
   check_tensor(logp, "nll_loss", "input"); check_tensor(target, "nll_loss", "target")
   if target.dtype ~= "int64" then error("nll_loss: target must hold int64 class labels, got " .. target.dtype, 2) end
   if logp:dim() < 2 then error("nll_loss: input must be (N, C, ...), got " .. shape_str(logp), 2) end
   check_labels(logp, target, "nll_loss")
   local picked = -(logp:gather(2, target:unsqueeze(2)):squeeze(2))
   if opts.weight ~= nil then
      local w = opts.weight:index_select(1, target:reshape(-1)):view(target:size())
      picked = picked * w
      if (opts.reduction or "mean") == "mean" then return picked:sum() / w:sum() end
   end
   return reduce(picked, opts.reduction, "nll_loss")
end

--- Cross-entropy of logits (N, C, ...) against int64 labels (0-based, shape (N, ...)) or
-- class probabilities (same shape as the logits). opts: weight, reduction,
-- label_smoothing (mixes the target with the uniform distribution).
-- @tparam Tensor logits (N, C, ...)
-- @tparam Tensor target int64 (N, ...) or probabilities (N, C, ...)
-- @tparam[opt] table opts `weight` (C), `reduction` ("mean", "sum" or "none"),
--  `label_smoothing` (0, in [0, 1])
-- @treturn Tensor
function F.cross_entropy(logits, target, opts)
   opts = check_opts(opts, set("reduction", "weight", "label_smoothing"), "cross_entropy")
   check_tensor(logits, "cross_entropy", "input"); check_tensor(target, "cross_entropy", "target")
   if logits:dim() < 2 then error("cross_entropy: input must be (N, C, ...), got " .. shape_str(logits), 2) end
   local eps = opts.label_smoothing or 0
   if eps < 0 or eps > 1 then error("cross_entropy: label_smoothing must be in [0, 1]", 2) end
   local C = logits:size(2)
   local logp = F.log_softmax(logits, 2)
   local w = opts.weight and per_channel(opts.weight, logits)
   if target.dtype == "int64" then
      check_labels(logp, target, "cross_entropy")
      local nll = F.nll_loss(logp, target, { reduction = opts.reduction, weight = opts.weight })
      if eps == 0 then return nll end
      local smooth = w and -(logp * w):sum(2) or -logp:sum(2)
      if opts.weight ~= nil and (opts.reduction or "mean") == "mean" then
         local wt = opts.weight:index_select(1, target:reshape(-1))
         smooth = smooth:sum() / wt:sum()
      else
         smooth = reduce(smooth, opts.reduction, "cross_entropy")
      end
      return nll * (1 - eps) + smooth * (eps / C)
   end
   if not same_shape(logits, target) then
      error(("cross_entropy: probability target %s must match input %s"):format(shape_str(target), shape_str(logits)), 2)
   end
   local t = eps > 0 and target * (1 - eps) + eps / C or target
   local per = t * logp
   if w then per = per * w end
   return reduce(-(per:sum(2)), opts.reduction, "cross_entropy")
end

--- KL(target || input) with input given as log-probabilities. opts: reduction ("mean",
-- "batchmean", "sum", "none"), log_target.
-- @tparam Tensor input log-probabilities
-- @tparam Tensor target probabilities (log-probabilities with log_target)
-- @tparam[opt] table opts `reduction` ("mean"), `log_target` (false)
-- @treturn Tensor
function F.kl_div(input, target, opts)
   opts = check_opts(opts, set("reduction", "log_target"), "kl_div")
   check_pair(input, target, "kl_div")
   local loss
   if opts.log_target then
      loss = target:exp() * (target - input)
   else
      -- t log t is 0 where t == 0
      local tlogt = core.where(target:gt(0), target * target:clamp(1e-38):log(), target * 0)
      loss = tlogt - target * input
   end
   if opts.reduction == "batchmean" then return loss:sum() / input:size(1) end
   return reduce(loss, opts.reduction, "kl_div")
end

--- KL(N(mu, exp(logvar)) || N(0, I)) of a VAE posterior, summed over the latent dims
-- (all dims after the first) and averaged over the batch by default. opts.reduction:
-- "mean" (over the batch), "sum" or "none" (one value per sample).
-- @tparam Tensor mu (N, ...)
-- @tparam Tensor logvar of mu's shape
-- @tparam[opt] table opts `reduction` ("mean")
-- @treturn Tensor
function F.gaussian_kl(mu, logvar, opts)
   opts = check_opts(opts, set("reduction"), "gaussian_kl")
   check_pair(mu, logvar, "gaussian_kl")
   local per = (mu * mu + logvar:exp() - logvar - 1) * 0.5
   local dims = {}
   for i = 2, mu:dim() do dims[#dims + 1] = i end
   if #dims > 0 then per = per:sum(dims) end
   return reduce(per, opts.reduction, "gaussian_kl")
end

return F
