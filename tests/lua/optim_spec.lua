-- Optimizers of gan.optim: the first steps of SGD, Adam, AdamW and RMSprop on a small
-- quadratic against the published update rules written here in Lua (double precision),
-- parameter groups, gradients left untouched, and state_dict resumption.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "nn_helpers.lua")
local optim = gan.optim

-- f(p) = 0.5 sum a_i (p_i - c_i)^2, so grad_i = a_i (p_i - c_i).
local A = { 1.0, 3.0, 0.5, 2.0, 0.1 }
local C = { 0.5, -1.0, 2.0, 0.0, 3.0 }
local P0 = { 1.0, 2.0, -1.0, 0.3, -0.2 }

local function loss(p)
   local a, c = gan.tensor(A, H.F64), gan.tensor(C, H.F64)
   return ((p - c):pow(2) * a):sum() * 0.5
end

local function grad_of(p)
   local g = {}
   for i = 1, #p do g[i] = A[i] * (p[i] - C[i]) end
   return g
end

-- ---- the published rules (PyTorch's documentation), in plain Lua

local function sgd_ref(o)
   local lr, mu, damp, wd, nest = o.lr, o.momentum or 0, o.dampening or 0, o.weight_decay or 0, o.nesterov
   local st = {}
   return function(p, g)
      local out = {}
      for i = 1, #p do
         local d = g[i] + wd * p[i]
         if mu ~= 0 then
            if st[i] == nil then st[i] = d else st[i] = mu * st[i] + (1 - damp) * d end
            if nest then d = d + mu * st[i] else d = st[i] end
         end
         out[i] = p[i] - lr * d
      end
      return out
   end
end

local function adam_ref(o, decoupled)
   local lr, b1, b2 = o.lr or 1e-3, (o.betas or { 0.9, 0.999 })[1], (o.betas or { 0.9, 0.999 })[2]
   local eps, wd, ams = o.eps or 1e-8, o.weight_decay or (decoupled and 1e-2 or 0), o.amsgrad
   local m, v, vmax, t = {}, {}, {}, 0
   return function(p, g)
      t = t + 1
      local out = {}
      for i = 1, #p do
         local pi, gi = p[i], g[i]
         if decoupled then pi = pi * (1 - lr * wd) else gi = gi + wd * pi end
         m[i] = b1 * (m[i] or 0) + (1 - b1) * gi
         v[i] = b2 * (v[i] or 0) + (1 - b2) * gi * gi
         local bc1, bc2 = 1 - b1 ^ t, 1 - b2 ^ t
         local denom
         if ams then
            vmax[i] = math.max(vmax[i] or 0, v[i])
            denom = math.sqrt(vmax[i]) / math.sqrt(bc2) + eps
         else
            denom = math.sqrt(v[i]) / math.sqrt(bc2) + eps
         end
         out[i] = pi - lr / bc1 * m[i] / denom
      end
      return out
   end
end

local function rmsprop_ref(o)
   local lr, alpha, eps = o.lr or 1e-2, o.alpha or 0.99, o.eps or 1e-8
   local wd, mu, centered = o.weight_decay or 0, o.momentum or 0, o.centered
   local sq, ga, buf = {}, {}, {}
   return function(p, g)
      local out = {}
      for i = 1, #p do
         local gi = g[i] + wd * p[i]
         sq[i] = alpha * (sq[i] or 0) + (1 - alpha) * gi * gi
         local avg
         if centered then
            ga[i] = alpha * (ga[i] or 0) + (1 - alpha) * gi
            avg = math.sqrt(sq[i] - ga[i] * ga[i]) + eps
         else
            avg = math.sqrt(sq[i]) + eps
         end
         if mu > 0 then
            buf[i] = mu * (buf[i] or 0) + gi / avg
            out[i] = p[i] - lr * buf[i]
         else
            out[i] = p[i] - lr * gi / avg
         end
      end
      return out
   end
end

-- Runs `steps` steps of an optimizer and of its reference, comparing after each step.
local function compare(make_opt, ref, steps, label)
   local p = gan.tensor(P0, H.F64):requires_grad_()
   local opt = make_opt { p }
   local r = { table.unpack(P0) }
   for s = 1, steps do
      opt:zero_grad()
      loss(p):backward()
      H.close(p.grad, grad_of(H.flat(p)), 1e-14, 1e-14, label .. " gradient")
      opt:step()
      r = ref(r, grad_of(r))
      H.close(p, r, 1e-14, 1e-12, ("%s step %d"):format(label, s))
   end
   -- it moved
   assert.are_not.same(P0, H.flat(p))
end

describe("optim.SGD", function()
   local cases = {
      { "plain", { lr = 0.1 } },
      { "momentum", { lr = 0.1, momentum = 0.9 } },
      { "dampening", { lr = 0.05, momentum = 0.8, dampening = 0.3 } },
      { "nesterov", { lr = 0.1, momentum = 0.9, nesterov = true } },
      { "weight_decay", { lr = 0.1, weight_decay = 0.05 } },
      { "momentum + weight_decay + nesterov", { lr = 0.05, momentum = 0.5, weight_decay = 0.1, nesterov = true } },
   }
   for _, c in ipairs(cases) do
      it(c[1] .. ": first steps follow the update rule", function()
         compare(function(ps) return optim.SGD(ps, c[2]) end, sgd_ref(c[2]), 3, "SGD " .. c[1])
      end)
   end

   it("needs lr and rejects nesterov without momentum and unknown options", function()
      local p = gan.zeros({ 2 }):requires_grad_()
      H.raises(function() optim.SGD({ p }, {}) end, "lr")
      H.raises(function() optim.SGD({ p }, { lr = 0.1, nesterov = true }) end, "nesterov")
      H.raises(function() optim.SGD({ p }, { lr = 0.1, mom = 0.9 }) end, "mom")
   end)
end)

describe("optim.Adam and optim.AdamW", function()
   local cases = {
      { "Adam defaults", "Adam", {} },
      { "Adam lr betas eps", "Adam", { lr = 0.05, betas = { 0.5, 0.9 }, eps = 1e-6 } },
      { "Adam amsgrad", "Adam", { lr = 0.1, betas = { 0.8, 0.99 }, amsgrad = true } },
      { "Adam weight_decay", "Adam", { lr = 0.01, weight_decay = 0.1 } },
      { "AdamW defaults", "AdamW", {} },
      { "AdamW weight_decay", "AdamW", { lr = 0.05, weight_decay = 0.3, betas = { 0.5, 0.999 } } },
      { "AdamW amsgrad", "AdamW", { lr = 0.05, weight_decay = 0.1, amsgrad = true } },
   }
   for _, c in ipairs(cases) do
      it(c[1] .. ": first steps follow the update rule", function()
         compare(function(ps) return optim[c[2]](ps, c[3]) end, adam_ref(c[3], c[2] == "AdamW"), 3, c[1])
      end)
   end

   it("amsgrad keeps the running maximum of v when gradients shrink", function()
      -- gradients 10, 0.1, 0.1: v shrinks, vmax does not, so the steps differ from Adam
      local o = { lr = 0.1, betas = { 0.5, 0.5 }, amsgrad = true }
      local p = gan.tensor({ 0 }, H.F64):requires_grad_()
      local opt = optim.Adam({ p }, o)
      local ref = adam_ref(o)
      local plain = optim.Adam({ gan.tensor({ 0 }, H.F64):requires_grad_() }, { lr = 0.1, betas = { 0.5, 0.5 } })
      local q = plain.param_groups[1].params[1]
      local r = { 0 }
      for _, g in ipairs { 10, 0.1, 0.1 } do
         p.grad = gan.tensor({ g }, H.F64); q.grad = gan.tensor({ g }, H.F64)
         opt:step(); plain:step()
         r = ref(r, { g })
         H.close(p, r, 1e-14, 1e-12, "amsgrad")
      end
      assert.is_true(math.abs(p:item() - q:item()) > 1e-3)
   end)

   it("rejects betas outside [0, 1)", function()
      local p = gan.zeros({ 2 }):requires_grad_()
      H.raises(function() optim.Adam({ p }, { betas = { 1.0, 0.9 } }) end, "betas")
   end)
end)

describe("optim.RMSprop", function()
   local cases = {
      { "plain", { lr = 0.01 } },
      { "alpha eps", { lr = 0.05, alpha = 0.9, eps = 1e-4 } },
      { "momentum", { lr = 0.01, momentum = 0.9 } },
      { "centered", { lr = 0.01, centered = true } },
      { "centered momentum weight_decay", { lr = 0.02, centered = true, momentum = 0.5, weight_decay = 0.1 } },
   }
   for _, c in ipairs(cases) do
      it(c[1] .. ": first steps follow the update rule", function()
         compare(function(ps) return optim.RMSprop(ps, c[2]) end, rmsprop_ref(c[2]), 3, "RMSprop " .. c[1])
      end)
   end
end)

describe("optimizers in general", function()
   local makers = {
      SGD = function(ps, wd) return optim.SGD(ps, { lr = 0.1, momentum = 0.9, weight_decay = wd }) end,
      Adam = function(ps, wd) return optim.Adam(ps, { lr = 0.1, weight_decay = wd, amsgrad = true }) end,
      AdamW = function(ps, wd) return optim.AdamW(ps, { lr = 0.1, weight_decay = wd }) end,
      RMSprop = function(ps, wd) return optim.RMSprop(ps, { lr = 0.1, weight_decay = wd, momentum = 0.5, centered = true }) end,
   }
   local names = { "SGD", "Adam", "AdamW", "RMSprop" }

   it("groups use their own lr and options, falling back on the defaults", function()
      local p1 = gan.tensor(P0, H.F64):requires_grad_()
      local p2 = gan.tensor(P0, H.F64):requires_grad_()
      local opt = optim.SGD({ { params = { p1 }, lr = 0.5 }, { params = { p2 }, momentum = 0.9 } }, { lr = 0.01 })
      assert.are.equal(0.5, opt.param_groups[1].lr)
      assert.are.equal(0.01, opt.param_groups[2].lr)
      assert.are.equal(0, opt.param_groups[1].momentum)
      local r1, r2 = sgd_ref { lr = 0.5 }, sgd_ref { lr = 0.01, momentum = 0.9 }
      local a, b = { table.unpack(P0) }, { table.unpack(P0) }
      for _ = 1, 3 do
         opt:zero_grad()
         local l = loss(p1) + loss(p2)
         l:backward()
         opt:step()
         a, b = r1(a, grad_of(a)), r2(b, grad_of(b))
         H.close(p1, a, 1e-14, 1e-12, "group 1")
         H.close(p2, b, 1e-14, 1e-12, "group 2")
      end
      -- Adam groups with different lr
      local q1 = gan.tensor(P0, H.F64):requires_grad_()
      local q2 = gan.tensor(P0, H.F64):requires_grad_()
      local adam = optim.Adam({ { params = { q1 }, lr = 0.2 }, { params = { q2 } } }, { lr = 0.01 })
      local ra, rb = adam_ref { lr = 0.2 }, adam_ref { lr = 0.01 }
      a, b = { table.unpack(P0) }, { table.unpack(P0) }
      for _ = 1, 2 do
         adam:zero_grad()
         local l = loss(q1) + loss(q2)
         l:backward()
         adam:step()
         a, b = ra(a, grad_of(a)), rb(b, grad_of(b))
      end
      H.close(q1, a, 1e-14, 1e-12, "adam group 1")
      H.close(q2, b, 1e-14, 1e-12, "adam group 2")
      -- a parameter in two groups is an error
      H.raises(function() optim.SGD({ { params = { p1 } }, { params = { p1 } } }, { lr = 1 }) end, "more than one group")
   end)

   it("skips parameters without a gradient and zero_grad sets grads to nil", function()
      local p = gan.tensor(P0, H.F64):requires_grad_()
      local q = gan.tensor(P0, H.F64):requires_grad_()
      local opt = optim.Adam({ p, q }, { lr = 0.1 })
      loss(p):backward()
      opt:step()
      H.close(q, P0, 0, 0, "no grad: untouched")
      assert.is_nil(opt.state[q])
      opt:zero_grad()
      assert.is_nil(p.grad)
   end)

   for _, name in ipairs(names) do
      it(name .. ": step() leaves p.grad unchanged, even with weight decay", function()
         local p = gan.tensor(P0, H.F64):requires_grad_()
         local f = gan.tensor(P0):requires_grad_()
         local opt = makers[name]({ p, f }, 0.5)
         for _ = 1, 2 do
            opt:zero_grad()
            loss(p):backward()
            local lf = loss(f:double()):float()
            lf:backward()
            local g, gf = p.grad:clone(), f.grad:clone()
            opt:step()
            H.identical(p.grad, g, name .. " float64 grad")
            H.identical(f.grad, gf, name .. " float32 grad")
         end
         -- float32 parameters follow the float64 ones closely
         H.close(f, H.flat(p), 1e-5, 1e-4, name .. " float32 vs float64")
      end)

      it(name .. ": state_dict()/load_state_dict() continue exactly like an uninterrupted run", function()
         gan.manual_seed(40)
         local W = H.randn { 3, 4 }
         local base = gan.tensor({ 1, 2, -1, 0.3, -0.2 }, H.F64):requires_grad_()
         local opt = makers[name]({ base }, 0.01)
         local function run5(o, t, steps)
            for _ = 1, steps do
               o:zero_grad()
               local l = gan.matmul(W, t:narrow(1, 1, 4):view(4, 1)):pow(2):sum() + loss(t)
               l:backward()
               o:step()
            end
         end
         run5(opt, base, 3)
         local sd = opt:state_dict()
         -- the saved state does not alias the live state
         local resumed_p = base:detach():clone():requires_grad_()
         run5(opt, base, 4)
         local opt2 = makers[name]({ resumed_p }, 0.01)
         opt2:load_state_dict(sd)
         run5(opt2, resumed_p, 4)
         H.identical(resumed_p:detach(), base:detach(), name .. " resumed")
         -- and through a file
         local path = os.tmpname()
         local ref_p = gan.tensor({ 1, 2, -1, 0.3, -0.2 }, H.F64):requires_grad_()
         local o3 = makers[name]({ ref_p }, 0.01)
         run5(o3, ref_p, 2)
         gan.save(path, { opt = o3:state_dict(), p = ref_p:detach() })
         run5(o3, ref_p, 3)
         local loaded = gan.load(path)
         os.remove(path)
         local p4 = loaded.p:clone():requires_grad_()
         local o4 = makers[name]({ p4 }, 0.01)
         o4:load_state_dict(loaded.opt)
         run5(o4, p4, 3)
         H.identical(p4:detach(), ref_p:detach(), name .. " resumed from file")
      end)
   end

   for _, name in ipairs(names) do
      it(name .. ": a large (parallel) update equals the element-wise update of small pieces", function()
         gan.manual_seed(41)
         local n = 300007
         local big = H.randn({ n }):requires_grad_()
         local opt = makers[name]({ big }, 0.1)
         local picks = { 1, 2, 77777, 150001, n - 1, n }
         local smalls, sopts = {}, {}
         for i, k in ipairs(picks) do
            smalls[i] = big:detach():narrow(1, k, 1):clone():requires_grad_()
            sopts[i] = makers[name]({ smalls[i] }, 0.1)
         end
         for _ = 1, 3 do
            local g = H.randn { n }
            big.grad = g
            opt:step()
            for i, k in ipairs(picks) do
               smalls[i].grad = g:narrow(1, k, 1):clone()
               sopts[i]:step()
            end
         end
         local bv = H.flat(big)
         for i, k in ipairs(picks) do
            assert.are.equal(H.flat(smalls[i])[1], bv[k], ("%s element %d"):format(name, k))
         end
      end)
   end

   it("load_state_dict rejects a state of another shape", function()
      local p = gan.zeros({ 3 }):requires_grad_()
      local q = gan.zeros({ 3 }):requires_grad_()
      local opt = optim.Adam({ p, q })
      H.raises(function() opt:load_state_dict(optim.Adam({ p }):state_dict()) end, "parameters")
      H.raises(function() opt:load_state_dict({}) end, "state dict")
   end)
end)
