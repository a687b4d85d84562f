--- gan.optim: SGD, Adam, AdamW, RMSprop with parameter groups, over fused C update
-- kernels, and the LR schedules of gan.optim.lr_scheduler.
--
--     local opt = optim.Adam(G:parameters(), { lr = 2e-4, betas = { 0.5, 0.999 } })
--     opt:zero_grad(); loss:backward(); opt:step()
--
-- Groups: `optim.Adam({ { params = G:parameters(), lr = 1e-4 }, { params = D:parameters() } },
-- defaults)`. Weight decay is applied inside the update; `p.grad` is never modified.
-- Parameters whose grad is nil are skipped.
-- @module gan.optim
local core = require("gan.core")
local no_grad = require("gan.autograd").no_grad

local optim = {}

local is_tensor = require("gan.tensor").is_tensor
local opts_check = require("gan.opts").check

local Optimizer = {}
Optimizer.__index = Optimizer
optim.Optimizer = Optimizer

-- Builds param_groups from a list of tensors or a list of group tables.
local function make_groups(params, defaults, known, name)
   if type(params) ~= "table" or #params == 0 then
      error(("%s: expected a non-empty list of parameters or of parameter groups"):format(name), 3)
   end
   local groups = {}
   local list = is_tensor(params[1]) and { { params = params } } or params
   local seen = {}
   for gi, g in ipairs(list) do
      if type(g) ~= "table" or type(g.params) ~= "table" then
         error(("%s: group %d needs a 'params' list"):format(name, gi), 3)
      end
      opts_check(g, known, name, 3)
      local group = { params = {} }
      for k, v in pairs(g) do if k ~= "params" then group[k] = v end end
      for k, v in pairs(defaults) do if group[k] == nil then group[k] = v end end
      for i, p in ipairs(g.params) do
         if not is_tensor(p) then error(("%s: group %d entry %d is not a tensor"):format(name, gi, i), 3) end
         if not p.is_leaf then error(("%s: group %d entry %d is not a leaf tensor"):format(name, gi, i), 3) end
         if seen[p] then error(("%s: a parameter appears in more than one group"):format(name), 3) end
         seen[p] = true
         group.params[#group.params + 1] = p
      end
      groups[gi] = group
   end
   return groups
end

-- The hyperparameters that must be finite numbers >= 0 (betas are checked by Adam).
local NON_NEGATIVE = { "lr", "eps", "weight_decay", "momentum", "dampening", "alpha" }

local function check_hyper(groups, name)
   for gi, g in ipairs(groups) do
      for _, k in ipairs(NON_NEGATIVE) do
         local v = g[k]
         if v ~= nil and not (type(v) == "number" and v >= 0 and v < math.huge) then
            error(("%s: %s%s must be a finite number >= 0, got %s"):format(name,
               #groups > 1 and ("group %d: "):format(gi) or "", k, tostring(v)), 4)
         end
      end
   end
end

local function new(cls, name, params, opts, defaults)
   local known = { params = true }
   for k in pairs(defaults) do known[k] = true end
   for k, v in pairs(opts_check(opts, defaults, name, 3)) do defaults[k] = v end
   local self = setmetatable({}, cls)
   self.name = name
   self.defaults = defaults
   self.param_groups = make_groups(params, defaults, known, name)
   check_hyper(self.param_groups, name)
   self.state = {}   -- tensor -> per-parameter state table
   return self
end

--- Sets every gradient to nil. As the start of an iteration, it also collects the
-- previous iteration's garbage when more than 1 MiB of tensors were created since the
-- last collection (a full collection of the small Lua heap costs about 0.3 ms): the
-- intermediate tensors' buffers then go back to the allocator's cache before the next
-- forward asks for the same sizes, so a steady training loop stops allocating from the
-- system and its peak memory stays near one iteration's working set.
function Optimizer:zero_grad()
   for _, g in ipairs(self.param_groups) do
      for _, p in ipairs(g.params) do p.grad = nil end
   end
   core.collect_garbage(1 << 20)
end

--- Updates every parameter that has a gradient, without recording for autograd; state
-- (moments, step counts) is created on a parameter's first update.
function Optimizer:step()
   local _ <close> = no_grad()
   for _, g in ipairs(self.param_groups) do
      for _, p in ipairs(g.params) do
         if p.grad ~= nil then
            local grad = p.grad:contiguous()
            local st = self.state[p]
            if not st then st = {}; self.state[p] = st end
            self:_update(p, grad, st, g)
         end
      end
   end
end

-- The parameters in a fixed order across groups, for state_dict indices.
function Optimizer:_ordered()
   local list = {}
   for _, g in ipairs(self.param_groups) do
      for _, p in ipairs(g.params) do list[#list + 1] = p end
   end
   return list
end

--- { state = { [i] = { step =, <buffers> } }, param_groups = { { lr =, ..., params = { i... } } } }
-- with i the 1-based position of a parameter across groups (as PyTorch, 1-based).
function Optimizer:state_dict()
   local index, list = {}, self:_ordered()
   for i, p in ipairs(list) do index[p] = i end
   local sd = { state = {}, param_groups = {} }
   for i, p in ipairs(list) do
      local st = self.state[p]
      if st then
         local copy = {}
         for k, v in pairs(st) do copy[k] = is_tensor(v) and v:clone() or v end
         sd.state[i] = copy
      end
   end
   for gi, g in ipairs(self.param_groups) do
      local group = { params = {} }
      for k, v in pairs(g) do if k ~= "params" then group[k] = v end end
      for _, p in ipairs(g.params) do group.params[#group.params + 1] = index[p] end
      sd.param_groups[gi] = group
   end
   return sd
end

--- Restores the state Optimizer:state_dict returned (hyper-parameters and per-parameter
-- state, converted to each parameter's dtype).
-- @tparam table sd
-- @raise when the groups, their parameter counts or a state tensor's size differ
function Optimizer:load_state_dict(sd)
   if type(sd) ~= "table" or type(sd.param_groups) ~= "table" then
      error(self.name .. ".load_state_dict: not an optimizer state dict", 2)
   end
   if #sd.param_groups ~= #self.param_groups then
      error(("%s.load_state_dict: %d groups in the state, %d in the optimizer"):format(self.name,
         #sd.param_groups, #self.param_groups), 2)
   end
   for gi, g in ipairs(self.param_groups) do
      local sg = sd.param_groups[gi]
      if #sg.params ~= #g.params then
         error(("%s.load_state_dict: group %d has %d parameters in the state, %d in the optimizer"):format(
            self.name, gi, #sg.params, #g.params), 2)
      end
   end
   local list = self:_ordered()
   local state = {}
   for i, p in ipairs(list) do
      local st = sd.state and sd.state[i]
      if st then
         local copy = {}
         for k, v in pairs(st) do
            if is_tensor(v) then
               if table.concat(v:size(), ",") ~= table.concat(p:size(), ",") and v:numel() ~= 1 then
                  error(("%s.load_state_dict: state '%s' of parameter %d has size {%s}, the parameter {%s}"):format(
                     self.name, k, i, table.concat(v:size(), ", "), table.concat(p:size(), ", ")), 2)
               end
               copy[k] = v:to(p.dtype):clone()
            else
               copy[k] = v
            end
         end
         state[p] = copy
      end
   end
   self.state = state
   for gi, g in ipairs(self.param_groups) do
      for k, v in pairs(sd.param_groups[gi]) do if k ~= "params" then g[k] = v end end
   end
end

local function buffer(st, key, p)
   if st[key] == nil then st[key] = core.zeros_like(p) end
   return st[key]
end

-- ---------------------------------------------------------------- SGD

--- Stochastic gradient descent, with momentum and Nesterov momentum as options.
-- @tparam table params a list of parameters, or of groups `{params = {...}, lr = ...}`
-- @tparam table opts `lr` (required), `momentum` (0), `dampening` (0), `weight_decay` (0),
--  `nesterov` (false; needs momentum > 0 and dampening 0)
-- @treturn Optimizer
-- @raise without lr, on an unknown option or an invalid value
function optim.SGD(params, opts)
   if not opts or opts.lr == nil then error("SGD: lr is required", 2) end
   local self = new(optim._SGD, "SGD", params, opts,
      { lr = 0, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false })
   if self.defaults.nesterov and (self.defaults.momentum <= 0 or self.defaults.dampening ~= 0) then
      error("SGD: nesterov needs momentum > 0 and dampening 0", 2)
   end
   return self
end
optim._SGD = setmetatable({}, { __index = Optimizer })
optim._SGD.__index = optim._SGD
function optim._SGD:_update(p, grad, st, g)
   local buf, first = nil, false
   if g.momentum ~= 0 then
      first = st.momentum_buffer == nil
      buf = buffer(st, "momentum_buffer", p)
   end
   core.sgd_step(p, grad, buf, g.lr, g.momentum, g.dampening, g.weight_decay, g.nesterov, first)
end

-- ---------------------------------------------------------------- Adam, AdamW

local function adam_like(name, decoupled, default_wd)
   local cls = setmetatable({}, { __index = Optimizer })
   cls.__index = cls
   function cls:_update(p, grad, st, g)
      st.step = (st.step or 0) + 1
      local m, v = buffer(st, "exp_avg", p), buffer(st, "exp_avg_sq", p)
      local vmax = g.amsgrad and buffer(st, "max_exp_avg_sq", p) or nil
      core.adam_step(p, grad, m, v, vmax, g.lr, g.betas[1], g.betas[2], g.eps, g.weight_decay,
         decoupled, st.step)
   end
   return function(params, opts)
      local self = new(cls, name, params, opts,
         { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = default_wd, amsgrad = false })
      for _, g in ipairs(self.param_groups) do
         local b = g.betas
         if type(b) ~= "table" or not (b[1] >= 0 and b[1] < 1 and b[2] >= 0 and b[2] < 1) then
            error(name .. ": betas must be a pair in [0, 1)", 2)
         end
      end
      return self
   end
end
--- Adam (Kingma & Ba); weight decay as an L2 term added to the gradient used.
-- @function Adam
-- @tparam table params a list of parameters, or of groups `{params = {...}, lr = ...}`
-- @tparam[opt] table opts `lr` (1e-3), `betas` ({0.9, 0.999}), `eps` (1e-8),
--  `weight_decay` (0), `amsgrad` (false)
-- @treturn Optimizer
-- @raise on an unknown option, or betas outside [0, 1)
optim.Adam = adam_like("Adam", false, 0)
--- Adam with decoupled weight decay (Loshchilov & Hutter).
-- weight_decay shrinks the parameter by lr * weight_decay each step.
-- @function AdamW
-- @tparam table params a list of parameters, or of groups
-- @tparam[opt] table opts as Adam's, but `weight_decay` (0.01)
-- @treturn Optimizer
optim.AdamW = adam_like("AdamW", true, 1e-2)

-- ---------------------------------------------------------------- RMSprop

--- RMSprop (Tieleman & Hinton); WGAN uses it with lr 5e-5.
-- @tparam table params a list of parameters, or of groups
-- @tparam[opt] table opts `lr` (1e-2), `alpha` (0.99), `eps` (1e-8), `weight_decay` (0),
--  `momentum` (0), `centered` (false)
-- @treturn Optimizer
function optim.RMSprop(params, opts)
   return new(optim._RMSprop, "RMSprop", params, opts,
      { lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0, centered = false })
end
optim._RMSprop = setmetatable({}, { __index = Optimizer })
optim._RMSprop.__index = optim._RMSprop
function optim._RMSprop:_update(p, grad, st, g)
   local sq = buffer(st, "square_avg", p)
   local buf = g.momentum > 0 and buffer(st, "momentum_buffer", p) or nil
   local avg = g.centered and buffer(st, "grad_avg", p) or nil
   core.rmsprop_step(p, grad, sq, buf, avg, g.lr, g.alpha, g.eps, g.weight_decay, g.momentum)
end

optim.lr_scheduler = require("gan.optim.lr_scheduler")

return optim
