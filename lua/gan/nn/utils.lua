--- gan.nn.utils: spectral normalisation, functional calls, gradient and weight clipping,
-- BigGAN's orthogonal regularisation and an exponential moving average of a model.
-- @module gan.nn.utils
local core = require("gan.core")

local U = {}

local no_grad = require("gan.autograd").no_grad

local function params_of(x)
   if type(x) == "table" and x.parameters then return x:parameters() end
   if type(x) == "table" then return x end
   return { x }
end

-- ---------------------------------------------------------------- spectral norm

--- Divides module[name] (default "weight") by its largest singular value, estimated by
-- power iteration (Miyato et al. 2018). The raw weight becomes the parameter
-- `<name>_orig`; the vectors `<name>_u` and `<name>_v` are buffers, updated
-- n_power_iterations times per forward in training mode only. Returns the module.
-- @tparam Module module
-- @tparam[opt] table opts `name` ("weight"), `n_power_iterations` (1), `eps` (1e-12),
--  `dim` (the output dim: 1, or 2 for ConvTranspose2d)
-- @treturn Module module
-- @raise when the module has no such parameter
function U.spectral_norm(module, opts)
   opts = opts or {}
   local name = opts.name or "weight"
   local iters = opts.n_power_iterations or 1
   local eps = opts.eps or 1e-12
   local dim = opts.dim or 1
   local w = rawget(module, name)
   if w == nil then error(("spectral_norm: module has no parameter '%s'"):format(name), 2) end
   -- ConvTranspose2d keeps output channels in dim 2 of its weight.
   if getmetatable(module).__name == "ConvTranspose2d" and opts.dim == nil then dim = 2 end
   local function as_matrix(t)
      if dim ~= 1 then
         local perm = { dim }
         for d = 1, t:dim() do if d ~= dim then perm[#perm + 1] = d end end
         t = t:permute(perm)
      end
      return t:reshape(t:size(1), -1)
   end
   local m = as_matrix(w:detach())
   local h, wd = m:size(1), m:size(2)
   local u = core.randn({ h }, { dtype = w.dtype })
   u = u / (u:norm() + eps)
   local v = core.randn({ wd }, { dtype = w.dtype })
   v = v / (v:norm() + eps)
   module:_unregister("_param_names", name)
   rawset(module, name, nil)
   module:register_parameter(name .. "_orig", w)
   module:register_buffer(name .. "_u", u)
   module:register_buffer(name .. "_v", v)
   local forward = module.forward
   local function compute(self)
      local worig = rawget(self, name .. "_orig")
      local mat = as_matrix(worig)
      local uu, vv = rawget(self, name .. "_u"), rawget(self, name .. "_v")
      if self.training then
         no_grad(function()
            local md = mat:detach()
            for _ = 1, iters do
               local nv = core.matmul(md:t(), uu)
               nv = nv / (nv:norm() + eps)
               local nu = core.matmul(md, nv)
               nu = nu / (nu:norm() + eps)
               vv:copy_(nv)
               uu:copy_(nu)
            end
         end)
      end
      -- sigma = u^T W v with u, v constants: gradients flow through W only. Copies of u
      -- and v, so that the next forward's power iteration (in place) leaves this
      -- forward's graph intact: D(real) and D(fake) recorded one after the other.
      local sigma = core.matmul(uu:detach():clone(), core.matmul(mat, vv:detach():clone()))
      rawset(self, name, worig / sigma)
   end
   rawset(module, "forward", function(self, ...)
      compute(self)
      return forward(self, ...)
   end)
   return module
end

-- ---------------------------------------------------------------- functional call

--- Runs module(...) with its parameters replaced by `params` (a list in the order of
-- module:parameters(): tensors that may be functions of the parameters, as in unrolled
-- optimisation), then puts the parameters back, also when the forward raises an error.
-- Returns the module's results.
-- @tparam Module module
-- @tparam {Tensor,...} params one per parameter, in module:parameters() order
-- @param ... the module's inputs
-- @return the module's results
-- @raise when a parameter has no tensor in params
function U.functional_call(module, params, ...)
   local index = {}
   for i, p in ipairs(module:parameters()) do index[p] = i end
   local slots = {}
   for _, m in module:named_modules() do
      for _, n in ipairs(m._param_names) do
         local t = rawget(m, n)
         local i = t ~= nil and index[t]
         if i then
            if params[i] == nil then error(("functional_call: no tensor for parameter %d"):format(i), 2) end
            slots[#slots + 1] = { m, n, t, i }
         end
      end
   end
   for _, s in ipairs(slots) do rawset(s[1], s[2], params[s[4]]) end
   local res = table.pack(pcall(module, ...))
   for _, s in ipairs(slots) do rawset(s[1], s[2], s[3]) end
   if not res[1] then error(res[2], 0) end
   return table.unpack(res, 2, res.n)
end

-- ---------------------------------------------------------------- synchronised batch norm

--- Makes every batch-norm layer of `module` synchronised: under data parallelism its
-- training statistics are taken over all ranks' batches (F.sync_batch_norm); in a single
-- process nothing changes. Returns the module.
-- @tparam Module module
-- @treturn Module module
function U.convert_sync_batchnorm(module)
   for _, m in module:named_modules() do
      local name = getmetatable(m).__name
      if name == "BatchNorm1d" or name == "BatchNorm2d" then rawset(m, "sync", true) end
   end
   return module
end

-- ---------------------------------------------------------------- clipping

--- Scales gradients in place so that their total norm is at most max_norm; returns the
-- norm before clipping. norm_type 2 by default (math.huge for the max-abs norm).
-- @tparam Module|{Tensor,...}|Tensor params a module, a list of parameters or one
-- @tparam number max_norm
-- @tparam[opt=2] number norm_type
-- @treturn number the total norm before clipping (0 without gradients)
function U.clip_grad_norm_(params, max_norm, norm_type)
   norm_type = norm_type or 2
   local grads = {}
   for _, p in ipairs(params_of(params)) do if p.grad ~= nil then grads[#grads + 1] = p.grad end end
   if #grads == 0 then return 0 end
   return no_grad(function()
      local total
      if norm_type == math.huge then
         total = 0
         for _, g in ipairs(grads) do total = math.max(total, g:abs():max():item()) end
      else
         total = 0
         for _, g in ipairs(grads) do total = total + g:norm(norm_type):item() ^ norm_type end
         total = total ^ (1 / norm_type)
      end
      local coef = max_norm / (total + 1e-6)
      if coef < 1 then for _, g in ipairs(grads) do g:mul_(coef) end end
      return total
   end)
end

--- Clamps every gradient element to [-clip, clip].
-- @tparam Module|{Tensor,...}|Tensor params
-- @tparam number clip
function U.clip_grad_value_(params, clip)
   no_grad(function()
      for _, p in ipairs(params_of(params)) do if p.grad ~= nil then p.grad:clamp_(-clip, clip) end end
   end)
end

--- WGAN's weight clipping: clamps every parameter to [-c, c] in place.
-- @tparam Module|{Tensor,...}|Tensor params
-- @tparam number c
function U.clip_weights_(params, c)
   no_grad(function()
      for _, p in ipairs(params_of(params)) do p:clamp_(-c, c) end
   end)
end

-- ---------------------------------------------------------------- BigGAN orthogonal regularisation

--- The weights BigGAN's orthogonal regularisation applies to in a module: every
-- parameter with >= 2 dims except those of embeddings (Brock et al. leave the class
-- embeddings out). A spectrally normalised layer contributes its raw `weight_orig`.
-- @tparam Module module
-- @treturn {Tensor,...}
function U.orthogonal_weights(module)
   local skip, list = {}, {}
   for _, m in module:named_modules() do
      if getmetatable(m).__name == "Embedding" then
         for _, p in ipairs(m:parameters()) do skip[p] = true end
      end
   end
   for _, p in module:named_parameters() do
      if p:dim() >= 2 and not skip[p] then list[#list + 1] = p end
   end
   return list
end

--- beta * sum over weights W (viewed (out, -1)) of ||W W^T (1 - I)||_F^2, the off-diagonal
-- form of Brock et al. 2019; its gradient is 4 beta (W W^T (1 - I)) W. `weights` is a
-- list of tensors or a module (then U.orthogonal_weights of it). Returns a
-- differentiable scalar to add to the loss.
-- @tparam {Tensor,...}|Module weights
-- @tparam[opt=1e-4] number beta
-- @treturn Tensor a scalar
function U.orthogonal_regularization(weights, beta)
   beta = beta or 1e-4
   local list = weights
   if type(weights) == "table" and weights.named_parameters then list = U.orthogonal_weights(weights) end
   local total
   for _, w in ipairs(list) do
      local m = w:reshape(w:size(1), -1)
      local term
      if m:size(1) > m:size(2) then
         -- a tall W (BigGAN's first linear layer: 2048 x 32): ||W W^T||_F^2 = ||W^T W||_F^2,
         -- an in x in product instead of out x out, less the diagonal's sum of ||w_i||^4 (a
         -- rank-deficient W W^T cannot be diagonal, so the difference does not cancel away)
         term = (core.matmul(m:t(), m) ^ 2):sum() - ((m * m):sum(2) ^ 2):sum()
      else
         local off = 1 - core.eye(m:size(1), { dtype = w.dtype })
         term = ((core.matmul(m, m:t()) * off) ^ 2):sum()
      end
      total = total and total + term or term
   end
   return (total or core.zeros({}, {})) * beta
end

-- ---------------------------------------------------------------- standing statistics

--- Recomputes the running statistics of every batch-norm layer of `model` as the plain
-- average over `n` forward passes in training mode (BigGAN's "standing statistics"):
-- an averaged (EMA) model's weights do not match the running statistics it copied.
-- `input(i)` gives the i-th batch. Leaves the model in eval mode.
-- @tparam Module model
-- @tparam function input input(i) -> the i-th batch (model's input)
-- @tparam[opt=16] int n forward passes
-- @treturn Module model
function U.standing_stats(model, input, n)
   n = n or 16
   local bns = {}
   for _, m in model:named_modules() do
      if m.running_mean ~= nil and m.running_var ~= nil then bns[#bns + 1] = m end
   end
   if #bns == 0 then model:eval(); return model end
   no_grad(function()
      for _, m in ipairs(bns) do
         m.running_mean:zero_(); m.running_var:zero_()
         m._saved_momentum = m.momentum
      end
      model:train()
      for i = 1, n do
         for _, m in ipairs(bns) do m.momentum = 1 / i end   -- cumulative average
         model(input(i))
      end
      for _, m in ipairs(bns) do m.momentum, m._saved_momentum = m._saved_momentum, nil end
      model:eval()
   end)
   return model
end

-- ---------------------------------------------------------------- EMA

local EMA = {}
EMA.__index = EMA

--- An exponential moving average of a model's parameters and buffers: `ema.model` is a
-- copy updated by `ema:update(step)`; before start_step it copies the model exactly
-- (BigGAN starts averaging after some iterations, with decay 0.9999).
-- @tparam Module model the model to average (left unchanged)
-- @tparam[opt] table opts `decay` (0.999), `start_step` (0)
-- @treturn EMA with `model`, an eval-mode copy without gradients
function U.EMA(model, opts)
   opts = opts or {}
   local self = setmetatable({}, EMA)
   self.source = model
   self.decay = opts.decay or 0.999
   self.start_step = opts.start_step or 0
   self.model = model:clone():eval()
   self.model:requires_grad_(false)
   self.num_updates = 0
   return self
end

--- Moves the average towards the model's current parameters and copies its buffers.
-- p_ema = decay p_ema + (1 - decay) p from start_step on; before it, a plain copy.
-- @tparam[opt] int step the training step (default the number of updates so far + 1)
function EMA:update(step)
   step = step or self.num_updates + 1
   self.num_updates = step
   local decay = step >= self.start_step and self.decay or 0
   no_grad(function()
      local src = {}
      for n, p in self.source:named_parameters() do src[n] = p end
      for n, p in self.model:named_parameters() do
         local s = src[n]
         if decay == 0 then p:copy_(s) else p:mul_(decay):add_(s:detach() * (1 - decay)) end
      end
      local bsrc = {}
      for n, b in self.source:named_buffers() do bsrc[n] = b end
      for n, b in self.model:named_buffers() do b:copy_(bsrc[n]) end
   end)
end

--- The average's state for a checkpoint: the averaged model's state dict, the number of
-- updates, decay and start_step.
-- @treturn table
function EMA:state_dict()
   return { model = self.model:state_dict(), num_updates = self.num_updates, decay = self.decay,
      start_step = self.start_step }
end

--- Restores the state that EMA:state_dict returned.
-- @tparam table sd
-- @raise as Module:load_state_dict when the averaged model's keys or shapes differ
function EMA:load_state_dict(sd)
   self.model:load_state_dict(sd.model)
   self.num_updates, self.decay, self.start_step = sd.num_updates, sd.decay, sd.start_step
end

return U
