--- gan.penalties: regularisers of a discriminator's gradient with respect to its input,
-- each a differentiable scalar to add to D's loss (they use double backward), and lazy
-- regularisation for computing them every few steps.
--
--     local w = penalties.lazy_weight(step, 10, 4)          -- every 4th step, weight 40
--     if w then loss_d = loss_d + penalties.r1(D, real, { weight = w }) end
-- @module gan.penalties
local core = require("gan.core")

local P = {}

-- The gradient of sum(D(x)) (D's first output) with respect to x, itself differentiable.
local function input_grad(D, x)
   local out = D(x)
   return core.grad(out:sum(), x, { create_graph = true })[1]
end

--- WGAN-GP (Gulrajani et al., 2017): weight * E[(||grad D(x_hat)|| - target)^2] at
-- x_hat = a x + (1 - a) G(z), a ~ U(0, 1) per sample. opts: weight (10), target (1),
-- generator (for a). Returns the penalty and the mean gradient norm (a number).
-- @tparam function D the discriminator (a module or any function of a batch)
-- @tparam Tensor real (N, ...)
-- @tparam Tensor fake of real's shape
-- @tparam[opt] table opts `weight` (10), `target` (1), `generator` (the default one)
-- @treturn Tensor the penalty, differentiable in D's parameters
-- @treturn number the mean gradient norm
function P.gradient_penalty(D, real, fake, opts)
   opts = opts or {}
   local shape = { real:size(1) }
   for _ = 2, real:dim() do shape[#shape + 1] = 1 end
   local a = core.rand(shape, { dtype = real.dtype, generator = opts.generator })
   local xh = (a * real:detach() + (1 - a) * fake:detach()):detach():requires_grad_()
   local g = input_grad(D, xh)
   local norms = g:reshape(g:size(1), -1):norm(2, 2)
   local gp = ((norms - (opts.target or 1)) ^ 2):mean() * (opts.weight or 10)
   return gp, norms:detach():mean():item()
end

--- R1 (Mescheder et al., 2018): weight / 2 * E[||grad D(x)||^2] on real data.
-- opts: weight (10).
-- @tparam function D the discriminator
-- @tparam Tensor real
-- @tparam[opt] table opts `weight` (10)
-- @treturn Tensor the penalty, differentiable in D's parameters
function P.r1(D, real, opts)
   opts = opts or {}
   local g = input_grad(D, real:detach():requires_grad_())
   local sq = (g * g):reshape(g:size(1), -1):sum(2)
   return sq:mean() * ((opts.weight or 10) * 0.5)
end

--- Lazy regularisation (Karras et al., 2020): a penalty of weight `weight` applied only
-- on steps divisible by `every`, with its weight multiplied by `every` so that its
-- average strength is unchanged. Returns that weight, or nil when the penalty is off
-- (weight 0) or not due at this step.
-- @tparam int step
-- @tparam number|nil weight
-- @tparam[opt=1] int every
-- @treturn number|nil
function P.lazy_weight(step, weight, every)
   every = every or 1
   if not weight or weight == 0 or step % every ~= 0 then return nil end
   return weight * every
end

return P
