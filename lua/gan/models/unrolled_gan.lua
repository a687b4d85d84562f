--- Unrolled GAN (Metz et al., 2017): the generator's loss is taken against the
-- discriminator as it will be after K more of its own Adam steps, and differentiated
-- through those steps (second order: the unrolled updates are differentiable functions
-- of G's parameters, not the first-order shortcut that treats them as constants). The
-- networks, data and evaluation are the vanilla GAN's (MLPs; 2-d toys or digits); K = 0
-- is the vanilla GAN. The K unrolled steps use the batch and the fakes of the step (as
-- the paper's reference notebook does) and start from D's parameters and Adam moments;
-- the real D update is the usual one.
-- @module gan.models.unrolled_gan
local core = require("gan.core")
local nn_utils = require("gan.nn.utils")
local no_grad = require("gan.autograd").no_grad

local M = require("gan.models.vanilla_gan"):extend {
   name = "unrolled_gan",
   summary = "Unrolled GAN: G's loss through K differentiable Adam steps of D (second order)",
   paper = "Metz, Poole, Pfau & Sohl-Dickstein 2017, Unrolled Generative Adversarial Networks",
   -- unroll: K, the differentiable Adam steps of D that G's loss looks through (0: vanilla GAN)
   defaults = { train = { unroll = require("gan.config").range(5, "[0, inf)") } },
}

--- Builds vanilla_gan's networks and optimizers.
-- @tparam table cfg the resolved config
-- @raise when unrolling (train.unroll > 0) with an optimizer other than Adam or n_critic ~= 1
function M:build(cfg)
   local t = cfg.train
   if t.unroll > 0 and (t.optimizer ~= "adam" or t.n_critic ~= 1) then
      error("unrolled_gan: unrolling follows D's Adam steps: train.optimizer must be 'adam' and n_critic 1", 0)
   end
   require("gan.models.vanilla_gan").build(self, cfg)
end

--- K Adam steps of D's loss on (real, fake), as differentiable functions: returns D's
-- parameters after them (a list in D:parameters() order). `state` gives the starting
-- moments and step count per parameter (Adam's exp_avg, exp_avg_sq, step; missing:
-- zeros, 0); o: lr, betas, eps, loss (the D loss function of (d_real, d_fake)).
-- @tparam Module D
-- @tparam Tensor real
-- @tparam Tensor fake
-- @tparam int k the number of steps
-- @tparam table state parameter -> `{exp_avg, exp_avg_sq, step}`
-- @tparam table o `lr`, `betas`, `eps`, `loss`
-- @treturn {Tensor,...} D's parameters after the k steps
function M.unroll(D, real, fake, k, state, o)
   local params = {}
   for i, p in ipairs(D:parameters()) do params[i] = p:detach():requires_grad_() end
   local m, v, step = {}, {}, {}
   for i, p in ipairs(params) do
      local st = state[i] or {}
      m[i] = st.exp_avg and st.exp_avg:detach() or core.zeros(p:size(), { dtype = p.dtype })
      v[i] = st.exp_avg_sq and st.exp_avg_sq:detach() or core.zeros(p:size(), { dtype = p.dtype })
      step[i] = st.step or 0
   end
   local b1, b2, eps, lr = o.betas[1], o.betas[2], o.eps or 1e-8, o.lr
   for _ = 1, k do
      local loss = o.loss(nn_utils.functional_call(D, params, real), nn_utils.functional_call(D, params, fake))
      local grads = core.grad(loss, params, { create_graph = true })
      for i, g in ipairs(grads) do
         step[i] = step[i] + 1
         m[i] = m[i] * b1 + g * (1 - b1)
         v[i] = v[i] * b2 + g * g * (1 - b2)
         local bc1, bc2 = 1 - b1 ^ step[i], 1 - b2 ^ step[i]
         -- the square root is taken of v + 1e-24: its gradient stays finite where v = 0
         local denom = (v[i] + 1e-24):sqrt() * (1 / math.sqrt(bc2)) + eps
         params[i] = params[i] - m[i] * (lr / bc1) / denom
      end
   end
   return params
end

--- One D update on a fresh batch, then G's update against D unrolled K steps.
-- @tparam table data the batches: data:next() gives the next one
-- @tparam int step the step
-- @treturn table the scalars to log
function M:train_step(data, step)
   local G, D, t = self.G, self.D, self.cfg.train
   local real = data:next().image
   local z = self:latent(real:size(1), self.rng)
   local fake = no_grad(G, z)
   local loss_d, d_real, d_fake = self:update("d", function()
      local d_real, d_fake = D(real), D(fake)
      return self.loss.d(d_real, d_fake), d_real, d_fake
   end)
   local loss_g = self:update("g", function()
      local x = G(z)
      if t.unroll == 0 then return self.loss.g(D(x)) end
      local opt = self.optimizers.d.opt
      local state = {}
      for i, p in ipairs(D:parameters()) do state[i] = opt.state[p] end
      local params = M.unroll(D, real, x, t.unroll, state, { lr = t.lr_d, betas = { t.beta1, t.beta2 },
         loss = self.loss.d })
      return self.loss.g(nn_utils.functional_call(D, params, x))
   end, { freeze = D })
   return { loss_d = loss_d:item(), loss_g = loss_g:item(), d_real = d_real:detach():double():mean():item(),
      d_fake = d_fake:detach():double():mean():item() }
end

return M
