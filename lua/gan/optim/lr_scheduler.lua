--- gan.optim.lr_scheduler: learning-rate schedules. Each sets lr = base_lr * factor(epoch)
-- for every parameter group, where `epoch` counts calls to `step()` (an epoch or an
-- iteration, as the caller chooses), with closed-form factors so that resuming from
-- state_dict() gives the same curve.
--
--     local sched = lr_scheduler.LinearDecay(opt, { n_constant = 100, n_decay = 100 })
--     for epoch = 1, 200 do train_one_epoch(); sched:step() end
-- @module gan.optim.lr_scheduler
local S = {}

local Scheduler = {}
Scheduler.__index = Scheduler

local function make(optimizer, factor, name, params)
   if type(optimizer) ~= "table" or type(optimizer.param_groups) ~= "table" then
      error(name .. ": expected an optimizer", 3)
   end
   local self = setmetatable({ optimizer = optimizer, factor = factor, name = name, params = params }, Scheduler)
   self.base_lrs = {}
   for i, g in ipairs(optimizer.param_groups) do
      g.initial_lr = g.initial_lr or g.lr
      self.base_lrs[i] = g.initial_lr
   end
   self.last_epoch = 0
   self:_apply()
   return self
end

-- The factor may depend on the group's base lr (CosineAnnealingLR's eta_min is absolute),
-- so it is evaluated per group, with the restored base lrs after load_state_dict.
function Scheduler:_apply()
   for i, g in ipairs(self.optimizer.param_groups) do
      g.lr = self.base_lrs[i] * self.factor(self.last_epoch, self.base_lrs[i])
   end
end

--- Advances one epoch (or to `epoch` if given) and sets the groups' lr.
-- @tparam[opt] int epoch
function Scheduler:step(epoch)
   self.last_epoch = epoch or self.last_epoch + 1
   self:_apply()
end

--- The current lr of each group.
function Scheduler:get_last_lr()
   local lrs = {}
   for i, g in ipairs(self.optimizer.param_groups) do lrs[i] = g.lr end
   return lrs
end

--- The scheduler's position for a checkpoint: its name, last_epoch and base learning rates.
-- @treturn table
function Scheduler:state_dict()
   return { name = self.name, last_epoch = self.last_epoch, base_lrs = { table.unpack(self.base_lrs) } }
end

--- Restores Scheduler:state_dict's table and sets the optimizer's learning rates for it.
-- @tparam table sd
-- @raise when the state is from another kind of scheduler
function Scheduler:load_state_dict(sd)
   if sd.name ~= self.name then
      error(("%s.load_state_dict: the state is from a %s"):format(self.name, tostring(sd.name)), 2)
   end
   self.last_epoch = sd.last_epoch
   self.base_lrs = { table.unpack(sd.base_lrs) }
   self:_apply()
end

local function need(opts, key, name)
   if opts == nil or opts[key] == nil then error(("%s: option '%s' is required"):format(name, key), 3) end
   return opts[key]
end

--- A constant factor for the first total_iters epochs, then 1 (PyTorch's ConstantLR).
-- @tparam Optimizer opt
-- @tparam[opt] table opts `factor` (1), `total_iters` (0)
-- @treturn Scheduler
function S.ConstantLR(opt, opts)
   opts = opts or {}
   local f, n = opts.factor or 1, opts.total_iters or 0
   return make(opt, function(e) return e < n and f or 1 end, "ConstantLR", opts)
end

--- The lr times gamma^floor(epoch / step_size).
-- @tparam Optimizer opt
-- @tparam table opts `step_size` (required), `gamma` (0.1)
-- @treturn Scheduler
-- @raise without step_size
function S.StepLR(opt, opts)
   local size, gamma = need(opts, "step_size", "StepLR"), opts.gamma or 0.1
   return make(opt, function(e) return gamma ^ (e // size) end, "StepLR", opts)
end

--- The lr times gamma^(number of milestones <= epoch).
-- @tparam Optimizer opt
-- @tparam table opts `milestones` (a list of epochs, required), `gamma` (0.1)
-- @treturn Scheduler
-- @raise without milestones
function S.MultiStepLR(opt, opts)
   local ms, gamma = need(opts, "milestones", "MultiStepLR"), opts.gamma or 0.1
   return make(opt, function(e)
      local k = 0
      for _, m in ipairs(ms) do if e >= m then k = k + 1 end end
      return gamma ^ k
   end, "MultiStepLR", opts)
end

--- The lr times gamma^epoch.
-- @tparam Optimizer opt
-- @tparam table opts `gamma` (required)
-- @treturn Scheduler
-- @raise without gamma
function S.ExponentialLR(opt, opts)
   local gamma = need(opts, "gamma", "ExponentialLR")
   return make(opt, function(e) return gamma ^ e end, "ExponentialLR", opts)
end

--- eta_min + (base - eta_min) (1 + cos(pi epoch / T_max)) / 2 (epochs past T_max stay at
-- eta_min).
-- @tparam Optimizer opt
-- @tparam table opts `T_max` (required), `eta_min` (0)
-- @treturn Scheduler
-- @raise without T_max
function S.CosineAnnealingLR(opt, opts)
   local T, eta_min = need(opts, "T_max", "CosineAnnealingLR"), opts.eta_min or 0
   return make(opt, function(e, base)
      local c = (1 + math.cos(math.pi * math.min(e, T) / T)) / 2
      if base == 0 then return 0 end
      return (eta_min + (base - eta_min) * c) / base
   end, "CosineAnnealingLR", opts)
end

--- Linear warm-up of the factor from start_factor (0 by default) to 1 over warmup_steps
-- epochs, then 1.
-- @tparam Optimizer opt
-- @tparam table opts `warmup_steps` (required), `start_factor` (0)
-- @treturn Scheduler
-- @raise without warmup_steps
function S.LinearWarmup(opt, opts)
   local n = need(opts, "warmup_steps", "LinearWarmup")
   local s = opts.start_factor or 0
   return make(opt, function(e)
      if e >= n then return 1 end
      return s + (1 - s) * e / n
   end, "LinearWarmup", opts)
end

--- CycleGAN's schedule: constant for n_constant epochs, then linear decay to exactly 0
-- over n_decay epochs: factor = 1 - max(0, epoch - n_constant) / n_decay, floored at 0.
-- (The original code divides by n_decay + 1, ending just above 0.)
-- @tparam Optimizer opt
-- @tparam table opts `n_constant` and `n_decay` (both required)
-- @treturn Scheduler
-- @raise without n_constant or n_decay
function S.LinearDecay(opt, opts)
   local n1, n2 = need(opts, "n_constant", "LinearDecay"), need(opts, "n_decay", "LinearDecay")
   return make(opt, function(e) return math.max(0, 1 - math.max(0, e - n1) / n2) end, "LinearDecay", opts)
end

--- The lr times any factor function of the epoch.
-- @tparam Optimizer opt
-- @tparam function fn fn(epoch) -> the factor
-- @treturn Scheduler
function S.LambdaLR(opt, fn)
   return make(opt, function(e) return fn(e) end, "LambdaLR")
end

return S
