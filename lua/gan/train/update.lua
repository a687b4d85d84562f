--- The one place where a model's parameters change. Every optimizer update of every
-- model goes through `update` (models call it as self:update(name, fn, opts)), so what
-- must happen around every update is written once: zeroing the gradients, freezing the
-- networks that must not receive gradients, the precision of the loss and its backward
-- (train.precision, gan.autocast), backward, the all-reduce of gradients
-- across processes (data parallelism, gan.dist), gradient clipping and logging, the
-- step, and weight clipping.
-- @module gan.train.update
local nn_utils = require("gan.nn.utils")
local is_tensor = require("gan.tensor").is_tensor
local opts_check = require("gan.opts").check
local dist = require("gan.dist")
local autocast = require("gan.autocast")

local OPTS = { freeze = true }

-- The modules of opts.freeze: one module or a list of them.
local function modules_of(m)
   if m == nil then return {} end
   if type(m) == "table" and m.parameters then return { m } end
   return m
end

-- Stops the parameters of `modules` from requiring grad until the returned value is
-- closed (also when an error unwinds the scope), then restores each as it was.
local function frozen(modules)
   local saved = {}
   for _, m in ipairs(modules_of(modules)) do
      for _, p in ipairs(m:parameters()) do
         saved[#saved + 1] = { p, p.requires_grad }
         p:requires_grad_(false)
      end
   end
   return setmetatable({}, { __close = function()
      for _, s in ipairs(saved) do s[1]:requires_grad_(s[2]) end
   end })
end

-- The L2 norm of all gradients of params (summed in double precision).
local function grad_norm(params)
   local s = 0
   for _, p in ipairs(params) do
      if p.grad ~= nil then s = s + p.grad:norm():item() ^ 2 end
   end
   return math.sqrt(s)
end

local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

-- "network.parameter" for a parameter tensor of the model's networks.
local function param_name(model, p)
   for _, n in ipairs(model._order.networks) do
      for name, q in model.networks[n]:named_parameters() do
         if rawequal(q, p) then return n .. "." .. name end
      end
   end
   return "an unnamed parameter"
end

-- Stops the run before a non-finite value reaches the weights: names the loss or the
-- first parameter whose gradient holds NaN or Inf, and the last checkpoint written (which
-- the error leaves as it is).
local function stop_nonfinite(model, name, what)
   local last = model.last_checkpoint
   error(("step %d, update '%s': %s; the run stops before the weights change. %s"):format(
      (model.step or 0) + 1, name, what, last and ("The last good checkpoint is " .. last)
         or "No checkpoint was written yet"), 0)
end

--- Updates the parameters of the model's optimizer `name`: zeroes their gradients;
-- with opts.freeze (a module or a list of modules) stops those from requiring grad;
-- calls fn(), whose first result is the loss (a one-element tensor), and backpropagates
-- it, both in the model's train.precision (gan.autocast); restores the frozen modules; under data parallelism averages the gradients over
-- the ranks; stops the run (an error naming the tensor and the last checkpoint) when the
-- loss or a gradient is NaN or Inf; clips the gradients (the optimizer's clip_grad_norm); records
-- grad_norm_<name> in the step's logs; steps the optimizer;
-- clamps the weights (its clip_weights, WGAN). Returns everything fn returned.
-- @tparam gan.train.Model model
-- @tparam string name an optimizer registered with model:optimizer(name, ...)
-- @tparam function fn computes the loss (and whatever else the step needs back)
-- @tparam[opt] table opts freeze
local function update(model, name, fn, opts)
   opts = opts_check(opts, OPTS, "update")
   local e = model.optimizers[name]
   if not e then
      error(("update: the model has no optimizer '%s' (register it with self:optimizer)"):format(tostring(name)), 3)
   end
   e.opt:zero_grad()
   local res
   do
      local _ <close> = frozen(opts.freeze)
      local _p <close> = autocast.scope(model.cfg.train.precision or "float32")
      res = table.pack(fn())
      local loss = res[1]
      if not is_tensor(loss) or loss:numel() ~= 1 then
         error(("update '%s': the function must return the loss as a one-element tensor first, got %s")
            :format(name, is_tensor(loss) and ("a tensor of %d elements"):format(loss:numel()) or type(loss)), 3)
      end
      local lv = loss:item()
      if not finite(lv) then stop_nonfinite(model, name, ("the loss is %s"):format(lv)) end
      loss:backward()
   end
   if dist.active() then dist.all_reduce_grads(e.params) end   -- the ranks' mean
   local norm = grad_norm(e.params)
   if not finite(norm) then
      for _, p in ipairs(e.params) do
         if p.grad ~= nil and not finite(p.grad:norm():item()) then
            stop_nonfinite(model, name, ("the gradient of %s holds NaN or Inf"):format(param_name(model, p)))
         end
      end
   end
   if e.clip_grad_norm then nn_utils.clip_grad_norm_(e.params, e.clip_grad_norm) end
   model.step_logs["grad_norm_" .. name] = norm
   e.opt:step()
   if e.clip_weights then nn_utils.clip_weights_(e.params, e.clip_weights) end
   return table.unpack(res, 1, res.n)
end

return update
