--- The image history pool of Shrivastava et al., 2017 (CycleGAN's discriminators see
-- a mix of current and past fakes), checkpointable so runs resume exactly.
-- @module gan.train.pool
local core = require("gan.core")
local stack = require("gan.tensor").stack

local Pool = {}
Pool.__index = Pool

--- Shrivastava et al., 2017 / CycleGAN's image history (gan.train.ImagePool).
-- Until `size` images are stored each new one is stored and returned; after that each new
-- image is, with probability p, swapped with a random stored one (the stored one is
-- returned), else returned as is.
-- @function ImagePool
-- @tparam[opt=50] int size images kept; 0 makes query return its batch unchanged
-- @tparam[opt] table opts `p` (0.5), `seed` (0: the pool's own generator's seed)
-- @treturn Pool
local function ImagePool(size, opts)
   opts = opts or {}
   return setmetatable({ size = size or 50, p = opts.p or 0.5, images = {},
      generator = core.Generator(opts.seed or 0) }, Pool)
end

--- The batch for the discriminator: each image of `batch` (detached) or a stored one in
-- its place, as described at ImagePool.
-- @tparam Tensor batch (N, ...)
-- @treturn Tensor (N, ...)
function Pool:query(batch)
   if self.size <= 0 then return batch end
   local out = {}
   local b = batch:detach()
   for i = 1, b:size(1) do
      local img = b[i]:clone()
      if #self.images < self.size then
         self.images[#self.images + 1] = img
         out[i] = img
      else
         local u = core.rand({ 1 }, { dtype = "float64", generator = self.generator })[1]
         if u < self.p then
            local j = core.randint(0, self.size, { 1 }, { generator = self.generator })[1] + 1
            out[i] = self.images[j]
            self.images[j] = img
         else
            out[i] = img
         end
      end
   end
   return stack(out, 1)
end

--- The pool for a checkpoint: the stored images (stacked), size, p and generator state.
-- @treturn table
function Pool:state_dict()
   return { images = #self.images > 0 and stack(self.images, 1) or nil, size = self.size,
      p = self.p, rng = self.generator:get_state() }
end

--- Restores Pool:state_dict's table.
-- @tparam table sd
function Pool:load_state_dict(sd)
   self.images = {}
   if sd.images then for i = 1, sd.images:size(1) do self.images[i] = sd.images[i]:clone() end end
   self.size, self.p = sd.size, sd.p
   self.generator:set_state(sd.rng)
end

return ImagePool
