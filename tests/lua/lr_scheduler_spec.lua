-- Learning-rate schedules of gan.optim.lr_scheduler: each lr curve over 20+ steps against
-- its closed form, several parameter groups, the optimizer using the scheduled lr, and
-- resumption through state_dict()/load_state_dict().
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "nn_helpers.lua")
local optim = gan.optim
local S = optim.lr_scheduler

local function make_opt(lrs)
   local groups = {}
   for i, lr in ipairs(lrs) do
      groups[i] = { params = { gan.zeros({ 2 }, H.F64):requires_grad_() }, lr = lr }
   end
   return optim.SGD(groups, { lr = lrs[1] })
end

local function near(a, b, what)
   assert(math.abs(a - b) <= 1e-15 + 1e-12 * math.abs(b), ("%s: %.17g, expected %.17g"):format(what, a, b))
end

-- Checks lr at epoch 0 (construction) and after each of `n` step() calls for every group.
local function check_curve(make, bases, formula, n, label)
   local opt = make_opt(bases)
   local sched = make(opt)
   for e = 0, n do
      if e > 0 then sched:step() end
      local lrs = sched:get_last_lr()
      for gi, base in ipairs(bases) do
         near(lrs[gi], formula(e, base), ("%s group %d epoch %d"):format(label, gi, e))
         near(opt.param_groups[gi].lr, formula(e, base), ("%s group %d epoch %d (group lr)"):format(label, gi, e))
      end
   end
end

describe("lr schedules", function()
   local bases = { 0.1, 0.02 }

   it("ConstantLR: factor until total_iters, then the base lr", function()
      check_curve(function(o) return S.ConstantLR(o, { factor = 0.25, total_iters = 5 }) end, bases,
         function(e, b) return e < 5 and b * 0.25 or b end, 20, "ConstantLR")
   end)

   it("StepLR: gamma^floor(epoch / step_size)", function()
      check_curve(function(o) return S.StepLR(o, { step_size = 3, gamma = 0.5 }) end, bases,
         function(e, b) return b * 0.5 ^ (e // 3) end, 20, "StepLR")
      -- default gamma 0.1
      check_curve(function(o) return S.StepLR(o, { step_size = 7 }) end, bases,
         function(e, b) return b * 0.1 ^ (e // 7) end, 20, "StepLR default gamma")
   end)

   it("MultiStepLR: gamma^(milestones reached)", function()
      local ms = { 2, 5, 11 }
      check_curve(function(o) return S.MultiStepLR(o, { milestones = ms, gamma = 0.3 }) end, bases,
         function(e, b)
            local k = 0
            for _, m in ipairs(ms) do if e >= m then k = k + 1 end end
            return b * 0.3 ^ k
         end, 20, "MultiStepLR")
   end)

   it("ExponentialLR: gamma^epoch", function()
      check_curve(function(o) return S.ExponentialLR(o, { gamma = 0.9 }) end, bases,
         function(e, b) return b * 0.9 ^ e end, 20, "ExponentialLR")
   end)

   it("CosineAnnealingLR: eta_min + (base - eta_min)(1 + cos(pi e / T_max)) / 2 per group", function()
      check_curve(function(o) return S.CosineAnnealingLR(o, { T_max = 10 }) end, bases,
         function(e, b) return b * (1 + math.cos(math.pi * math.min(e, 10) / 10)) / 2 end, 20, "Cosine")
      check_curve(function(o) return S.CosineAnnealingLR(o, { T_max = 16, eta_min = 0.001 }) end, bases,
         function(e, b) return 0.001 + (b - 0.001) * (1 + math.cos(math.pi * math.min(e, 16) / 16)) / 2 end,
         20, "Cosine eta_min")
   end)

   it("LinearWarmup: from start_factor to 1 over warmup_steps", function()
      check_curve(function(o) return S.LinearWarmup(o, { warmup_steps = 8 }) end, bases,
         function(e, b) return b * math.min(1, e / 8) end, 20, "LinearWarmup")
      check_curve(function(o) return S.LinearWarmup(o, { warmup_steps = 5, start_factor = 0.2 }) end, bases,
         function(e, b) return b * (e >= 5 and 1 or 0.2 + 0.8 * e / 5) end, 20, "LinearWarmup start")
   end)

   it("LinearDecay (CycleGAN): constant for n_constant, then linearly to 0 over n_decay", function()
      check_curve(function(o) return S.LinearDecay(o, { n_constant = 6, n_decay = 10 }) end, bases,
         function(e, b)
            if e <= 6 then return b end
            return b * math.max(0, 1 - (e - 6) / 10)
         end, 22, "LinearDecay")
      -- reaches exactly 0 at n_constant + n_decay and stays there
      local opt = make_opt { 2e-4 }
      local s = S.LinearDecay(opt, { n_constant = 100, n_decay = 100 })
      for _ = 1, 100 do s:step() end
      assert.are.equal(2e-4, opt.param_groups[1].lr)
      for _ = 1, 50 do s:step() end
      near(opt.param_groups[1].lr, 1e-4, "half way")
      for _ = 1, 50 do s:step() end
      assert.are.equal(0, opt.param_groups[1].lr)
      s:step()
      assert.are.equal(0, opt.param_groups[1].lr)
   end)

   it("LambdaLR: base lr times any function of the epoch", function()
      local fn = function(e) return 1 / (1 + 0.5 * e) end
      check_curve(function(o) return S.LambdaLR(o, fn) end, bases,
         function(e, b) return b * fn(e) end, 20, "LambdaLR")
   end)

   it("step(epoch) jumps to an epoch", function()
      local opt = make_opt { 0.1 }
      local s = S.StepLR(opt, { step_size = 2, gamma = 0.5 })
      s:step(7)
      near(opt.param_groups[1].lr, 0.1 * 0.5 ^ 3, "jump")
      assert.are.equal(7, s.last_epoch)
   end)

   it("requires its options", function()
      local opt = make_opt { 0.1 }
      H.raises(function() S.StepLR(opt, {}) end, "step_size")
      H.raises(function() S.MultiStepLR(opt, {}) end, "milestones")
      H.raises(function() S.CosineAnnealingLR(opt, {}) end, "T_max")
      H.raises(function() S.LinearDecay(opt, { n_constant = 1 }) end, "n_decay")
      H.raises(function() S.StepLR({}, { step_size = 1 }) end, "optimizer")
   end)

   it("the optimizer steps with the scheduled lr", function()
      local p = gan.zeros({ 1 }, H.F64):requires_grad_()
      local opt = optim.SGD({ p }, { lr = 1 })
      local s = S.ExponentialLR(opt, { gamma = 0.5 })
      local expected = 0
      for e = 0, 5 do
         p.grad = gan.ones({ 1 }, H.F64)
         opt:step()
         expected = expected - 0.5 ^ e
         near(p:item(), expected, "param after epoch " .. e)
         s:step()
      end
   end)
end)

describe("lr schedule state", function()
   local makers = {
      ConstantLR = function(o) return S.ConstantLR(o, { factor = 0.5, total_iters = 9 }) end,
      StepLR = function(o) return S.StepLR(o, { step_size = 4, gamma = 0.5 }) end,
      MultiStepLR = function(o) return S.MultiStepLR(o, { milestones = { 3, 8, 12 } }) end,
      ExponentialLR = function(o) return S.ExponentialLR(o, { gamma = 0.8 }) end,
      CosineAnnealingLR = function(o) return S.CosineAnnealingLR(o, { T_max = 15, eta_min = 1e-3 }) end,
      LinearWarmup = function(o) return S.LinearWarmup(o, { warmup_steps = 10 }) end,
      LinearDecay = function(o) return S.LinearDecay(o, { n_constant = 5, n_decay = 10 }) end,
      LambdaLR = function(o) return S.LambdaLR(o, function(e) return 0.95 ^ e end) end,
   }
   local names = {}
   for k in pairs(makers) do names[#names + 1] = k end
   table.sort(names)

   for _, name in ipairs(names) do
      it(name .. " resumes from state_dict with the same curve", function()
         local opt = make_opt { 0.1, 0.03 }
         local s = makers[name](opt)
         for _ = 1, 7 do s:step() end
         local sd_opt, sd = opt:state_dict(), s:state_dict()
         local full = {}
         for e = 1, 13 do s:step(); full[e] = s:get_last_lr() end
         -- a fresh optimizer and schedule, restored (through a file)
         local path = os.tmpname()
         gan.save(path, { opt = sd_opt, sched = sd })
         local st = gan.load(path)
         os.remove(path)
         local opt2 = make_opt { 0.5, 0.5 }
         local s2 = makers[name](opt2)
         opt2:load_state_dict(st.opt)
         s2:load_state_dict(st.sched)
         assert.are.equal(7, s2.last_epoch)
         for e = 1, 13 do
            s2:step()
            local lrs = s2:get_last_lr()
            for gi = 1, 2 do near(lrs[gi], full[e][gi], ("%s resumed epoch %d group %d"):format(name, e, gi)) end
         end
      end)
   end

   it("refuses the state of another schedule", function()
      local opt = make_opt { 0.1 }
      local a = S.StepLR(opt, { step_size = 2 })
      local b = S.ExponentialLR(make_opt { 0.1 }, { gamma = 0.5 })
      H.raises(function() a:load_state_dict(b:state_dict()) end, "ExponentialLR")
   end)
end)
