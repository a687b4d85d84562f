--- gan.nn.init: in-place initialisers, as in torch.nn.init. Each runs without recording
-- gradients and returns its tensor. Fans: for a weight (out, in, k...) fan_in = in * k...,
-- fan_out = out * k...
-- @module gan.nn.init
local core = require("gan.core")

local I = {}

local no_grad = require("gan.autograd").no_grad

--- fan_in, fan_out of a weight tensor.
-- @tparam Tensor t at least 2-d: (out, in, k...)
-- @treturn int fan_in = in * k...
-- @treturn int fan_out = out * k...
-- @raise for fewer than 2 dims
function I.fans(t)
   if t:dim() < 2 then
      error(("init: fan in and fan out need at least 2 dims, got %d"):format(t:dim()), 2)
   end
   local receptive = 1
   for d = 3, t:dim() do receptive = receptive * t:size(d) end
   return t:size(2) * receptive, t:size(1) * receptive
end

--- The recommended gain for a nonlinearity ("linear", "conv2d", "sigmoid", "tanh",
-- "relu", "leaky_relu" with its slope, "selu").
-- @tparam string nonlinearity ("conv_transpose2d" too)
-- @tparam[opt=0.01] number param leaky_relu's negative slope
-- @treturn number
-- @raise on an unknown nonlinearity
function I.calculate_gain(nonlinearity, param)
   if nonlinearity == "linear" or nonlinearity == "conv2d" or nonlinearity == "conv_transpose2d"
      or nonlinearity == "sigmoid" then return 1 end
   if nonlinearity == "tanh" then return 5 / 3 end
   if nonlinearity == "relu" then return math.sqrt(2) end
   if nonlinearity == "leaky_relu" then
      local s = param or 0.01
      return math.sqrt(2 / (1 + s * s))
   end
   if nonlinearity == "selu" then return 3 / 4 end
   error(("calculate_gain: unknown nonlinearity '%s'"):format(tostring(nonlinearity)), 2)
end

--- Fills t with draws from U(a, b).
-- @tparam Tensor t
-- @tparam[opt=0] number a
-- @tparam[opt=1] number b
-- @tparam[opt] Generator gen default the default generator
-- @treturn Tensor t
function I.uniform_(t, a, b, gen)
   no_grad(function() t:uniform_(a or 0, b or 1, gen and { generator = gen }) end)
   return t
end

--- N(mean, std): DCGAN initialises weights with normal_(w, 0, 0.02).
-- @tparam Tensor t
-- @tparam[opt=0] number mean
-- @tparam[opt=1] number std
-- @tparam[opt] Generator gen default the default generator
-- @treturn Tensor t
function I.normal_(t, mean, std, gen)
   no_grad(function() t:normal_(mean or 0, std or 1, gen and { generator = gen }) end)
   return t
end

--- Fills t with draws from N(mean, std) truncated to [a, b] (by inverting the CDF).
-- @tparam Tensor t
-- @tparam[opt=0] number mean
-- @tparam[opt=1] number std
-- @tparam[opt=-2] number a the lower bound (not in standard deviations)
-- @tparam[opt=2] number b the upper bound
-- @treturn Tensor t
function I.trunc_normal_(t, mean, std, a, b)
   no_grad(function() t:trunc_normal_(mean or 0, std or 1, a or -2, b or 2) end)
   return t
end

--- Fills t with v.
-- @tparam Tensor t
-- @tparam number v
-- @treturn Tensor t
function I.constant_(t, v) no_grad(function() t:fill_(v) end); return t end
--- Fills t with zeros.
-- @tparam Tensor t
-- @treturn Tensor t
function I.zeros_(t) return I.constant_(t, 0) end
--- Fills t with ones.
-- @tparam Tensor t
-- @treturn Tensor t
function I.ones_(t) return I.constant_(t, 1) end

--- Glorot: std = gain sqrt(2 / (fan_in + fan_out)).
-- @tparam Tensor t at least 2-d
-- @tparam[opt=1] number gain
-- @treturn Tensor t
function I.xavier_normal_(t, gain)
   local fi, fo = I.fans(t)
   return I.normal_(t, 0, (gain or 1) * math.sqrt(2 / (fi + fo)))
end

--- Glorot uniform: U(-a, a) with a = gain sqrt(6 / (fan_in + fan_out)).
-- @tparam Tensor t at least 2-d
-- @tparam[opt=1] number gain
-- @treturn Tensor t
function I.xavier_uniform_(t, gain)
   local fi, fo = I.fans(t)
   local a = (gain or 1) * math.sqrt(6 / (fi + fo))
   return I.uniform_(t, -a, a)
end

local function kaiming_std(t, opts)
   opts = opts or {}
   local fi, fo = I.fans(t)
   local mode = opts.mode or "fan_in"
   if mode ~= "fan_in" and mode ~= "fan_out" then
      error(("kaiming: mode must be 'fan_in' or 'fan_out', got '%s'"):format(tostring(mode)), 3)
   end
   local fan = mode == "fan_in" and fi or fo
   local gain = I.calculate_gain(opts.nonlinearity or "leaky_relu", opts.a or 0)
   return gain / math.sqrt(fan)
end

--- He: std = gain / sqrt(fan); opts: a (leaky slope, 0), mode ("fan_in"),
-- nonlinearity ("leaky_relu").
-- @tparam Tensor t at least 2-d
-- @tparam[opt] table opts `a` (0), `mode` ("fan_in" or "fan_out"), `nonlinearity`
--  ("leaky_relu")
-- @treturn Tensor t
function I.kaiming_normal_(t, opts) return I.normal_(t, 0, kaiming_std(t, opts)) end

--- He uniform: U(-b, b) with b = sqrt(3) gain / sqrt(fan), the bound of kaiming_normal_'s std.
-- @tparam Tensor t at least 2-d
-- @tparam[opt] table opts `a` (the leaky slope, 0), `mode` ("fan_in" or "fan_out"),
--  `nonlinearity` ("leaky_relu")
-- @treturn Tensor t
-- @raise on an unknown mode or nonlinearity
function I.kaiming_uniform_(t, opts)
   local bound = math.sqrt(3) * kaiming_std(t, opts)
   return I.uniform_(t, -bound, bound)
end

--- A (semi-)orthogonal matrix from the QR decomposition of a Gaussian one (signs fixed
-- by R's diagonal so the result is uniformly distributed), scaled by gain.
-- @tparam Tensor t at least 2-d (viewed as (rows, the rest))
-- @tparam[opt=1] number gain
-- @treturn Tensor t
function I.orthogonal_(t, gain)
   if t:dim() < 2 then error("orthogonal_: needs at least 2 dims", 2) end
   local rows = t:size(1)
   local cols = t:numel() // rows
   local a = core.randn({ rows, cols }, { dtype = "float64" })
   if rows < cols then a = a:t() end
   local q, r = core.qr(a)
   local diag = {}
   for i = 1, math.min(q:size(2), r:size(1)) do diag[i] = r[i][i] >= 0 and 1 or -1 end
   local d = core.tensor(diag, { dtype = "float64" })
   q = q * d
   if rows < cols then q = q:t() end
   no_grad(function() t:copy_((q * (gain or 1)):reshape(t:size())) end)
   return t
end

local WEIGHTED = { Conv2d = true, ConvTranspose2d = true, Linear = true }

--- The initialisation of the GAN papers (DCGAN, pix2pix, CycleGAN), as a function to
-- give to module:apply: convolution and linear weights ~ N(0, std), batch-norm gains
-- ~ N(1, std), their biases 0 (a spectrally normalised weight is initialised through
-- its `weight_orig`).
--
--     G:apply(nn.init.gan_normal(0.02))
-- @tparam number std
-- @treturn function fn(module), for Module:apply
function I.gan_normal(std)
   return function(m)
      local name = getmetatable(m).__name
      if WEIGHTED[name] then
         I.normal_(m.weight or m.weight_orig, 0, std)
         if m.bias then I.zeros_(m.bias) end
      elseif name == "BatchNorm2d" and m.weight then
         I.normal_(m.weight, 1, std)
         I.zeros_(m.bias)
      end
   end
end

return I
