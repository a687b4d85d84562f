--- gan.augment: what is done to the images a discriminator sees, in one place:
-- DiffAugment's translation and cutout (Zhao et al. 2020), instance noise (Sønderby et
-- al. 2016), and `augment.discriminator_input`, which composes them from a spec so that
-- every model applies them the same way to real and fake images alike.
--
-- Every function is differentiable in its input (a generator's gradient flows through
-- it) and draws its randomness from opts.generator, so that runs resume exactly.
-- @module gan.augment
local core = require("gan.core")
local F = require("gan.nn.functional")
local opts_check = require("gan.opts").check
local is_tensor = require("gan.tensor").is_tensor

local A = {}

local OPTS = { fill = true, generator = true }

local function shape_str(t) return "(" .. table.concat(t:size(), ", ") .. ")" end

-- The checks both augmentations share: a 4-d tensor, a whole amount >= 0, known options.
-- Errors point at the caller of the augmentation.
local function check(x, amount, opts, fname, aname)
   if not is_tensor(x) then error(("%s: input must be a tensor, got %s"):format(fname, type(x)), 3) end
   if x:dim() ~= 4 then error(fname .. ": expected a 4-d input (N, C, H, W), got " .. shape_str(x), 3) end
   if type(amount) ~= "number" or amount < 0 or amount % 1 ~= 0 then
      error(("%s: %s must be a whole number >= 0, got %s"):format(fname, aname, tostring(amount)), 3)
   end
   return opts_check(opts, OPTS, fname, 3)
end

--- Shifts each image of x (N, C, H, W) by its own random offset of up to `max_shift`
-- pixels in each direction, filling the uncovered border with `fill` (default 0): a pad,
-- then a per-image window. opts: fill, generator.
-- @tparam Tensor x (N, C, H, W)
-- @tparam int max_shift pixels, >= 0 (0 returns x)
-- @tparam[opt] table opts `fill` (0), `generator` (the default one)
-- @treturn Tensor of x's shape
function A.random_shift(x, max_shift, opts)
   opts = check(x, max_shift, opts, "random_shift", "max_shift")
   local s = max_shift
   if s == 0 then return x end
   local n, H, W = x:size(1), x:size(3), x:size(4)
   local padded = F.pad(x, { s, s, s, s }, "constant", opts.fill or 0)
   local d = core.randint(0, 2 * s + 1, { n, 2 }, { generator = opts.generator }):totable()
   local out = {}
   for i = 1, n do out[i] = padded:narrow(1, i, 1):narrow(3, d[i][1] + 1, H):narrow(4, d[i][2] + 1, W) end
   return core.cat(out, 1)
end

--- Cutout (DeVries & Taylor 2017, as in DiffAugment): sets one square of side `size`
-- per image, centred at a random position (clipped at the borders), to `fill` (default
-- 0); a product with a 0/1 mask. opts: fill, generator.
-- @tparam Tensor x (N, C, H, W)
-- @tparam int size the square's side, >= 0 (0 returns x)
-- @tparam[opt] table opts `fill` (0), `generator` (the default one)
-- @treturn Tensor of x's shape
function A.random_cutout(x, size, opts)
   opts = check(x, size, opts, "random_cutout", "size")
   if size == 0 then return x end
   local n, H, W = x:size(1), x:size(3), x:size(4)
   local cy = core.randint(0, H, { n }, { generator = opts.generator }):totable()
   local cx = core.randint(0, W, { n }, { generator = opts.generator }):totable()
   local mask = core.ones({ n, 1, H, W }, { dtype = x.dtype })
   local half = size // 2
   for i = 1, n do
      local y0, x0 = math.max(0, cy[i] - half), math.max(0, cx[i] - half)
      local y1, x1 = math.min(H, cy[i] - half + size), math.min(W, cx[i] - half + size)
      if y1 > y0 and x1 > x0 then mask[i]:narrow(2, y0 + 1, y1 - y0):narrow(3, x0 + 1, x1 - x0):fill_(0) end
   end
   local fill = opts.fill or 0
   if fill == 0 then return x * mask end
   return x * mask + (1 - mask) * fill
end

--- Instance noise (Sønderby et al., 2016; Arjovsky & Bottou 2017): x + sigma(step) N(0, 1),
-- sigma decaying linearly from opts.sigma (0.1) to 0 over opts.steps (1), or as
-- opts.schedule(step) says. opts: sigma, steps, schedule, generator.
-- @tparam Tensor x
-- @tparam int step
-- @tparam[opt] table opts `sigma` (0.1), `steps` (1), `schedule` (none), `generator`
-- @treturn Tensor of x's shape
function A.instance_noise(x, step, opts)
   opts = opts or {}
   local sigma
   if opts.schedule then sigma = opts.schedule(step)
   else sigma = (opts.sigma or 0.1) * math.max(0, 1 - step / (opts.steps or 1)) end
   if sigma <= 0 then return x end
   return x + core.randn(x:size(), { dtype = x.dtype, generator = opts.generator }) * sigma
end

local SPEC = { noise = true, noise_steps = true, shift = true, cutout = true, fill = true }

--- The augmentation of every image a discriminator sees, from a spec of numbers (0 or
-- absent = off): noise (instance noise sigma at step 0) with noise_steps (its linear
-- decay to 0), shift (DiffAugment translation, pixels), cutout (square side), fill (the
-- value of uncovered pixels, 0). Returns a function (x, step, generator) -> x, or nil
-- when the spec switches nothing on. Applied in this order: noise, shift, cutout.
-- @tparam[opt] table spec `noise`, `noise_steps`, `shift`, `cutout`, `fill` (all 0)
-- @tparam[opt="augment"] string who what errors start with
-- @treturn function|nil fn(x, step, generator) -> x
-- @raise on an unknown key or a value out of range
function A.discriminator_input(spec, who)
   who = who or "augment"
   if spec == nil then return nil end
   opts_check(spec, SPEC, who)
   for k, v in pairs(spec) do
      if type(v) ~= "number" or v ~= v or (k ~= "fill" and v < 0) then
         error(("%s: augment %s must be a number%s, got %s"):format(who, k, k ~= "fill" and " >= 0" or "",
            tostring(v)), 2)
      end
      if (k == "shift" or k == "cutout" or k == "noise_steps") and v % 1 ~= 0 then
         error(("%s: augment %s must be a whole number, got %s"):format(who, k, tostring(v)), 2)
      end
   end
   local noise, shift, cutout = spec.noise or 0, spec.shift or 0, spec.cutout or 0
   if noise == 0 and shift == 0 and cutout == 0 then return nil end
   local noise_steps, fill = spec.noise_steps or 1, spec.fill or 0
   return function(x, step, generator)
      if noise > 0 then x = A.instance_noise(x, step, { sigma = noise, steps = noise_steps, generator = generator }) end
      if shift > 0 then x = A.random_shift(x, shift, { fill = fill, generator = generator }) end
      if cutout > 0 then x = A.random_cutout(x, cutout, { fill = fill, generator = generator }) end
      return x
   end
end

return A
