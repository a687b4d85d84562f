-- The autograd API: leaves and .grad, backward and gan.grad, gradients of gradients,
-- grad-mode scopes, detach, hooks, shared tensors, and the errors and memory behaviour
-- of the engine.
local gan = require("gan")
local A = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "ag_helpers.lua")

local function values(t) return A.arr(t).data end

describe("autograd leaves", function()
   before_each(function() gan.manual_seed(11) end)

   it("requires_grad_ marks a leaf and the flag reads back", function()
      local x = A.randn { 2, 3 }
      assert.is_false(x.requires_grad)
      assert.are.equal(x, x:requires_grad_())
      assert.is_true(x.requires_grad)
      assert.is_true(x.is_leaf)
      assert.is_nil(x.grad)
      local y = x * 2
      assert.is_true(y.requires_grad)
      assert.is_false(y.is_leaf)
      x:requires_grad_(false)
      assert.is_false(x.requires_grad)
   end)

   it("only float tensors can require grad", function()
      A.raises(function() gan.arange(4):requires_grad_() end, "float")
   end)

   it("accumulates .grad over two backward calls and zero_grad clears it", function()
      local x = A.randn { 3, 2 }:requires_grad_()
      local xv = values(x)
      local l1 = (x * x):sum()
      l1:backward()
      A.close(x.grad, A.map(A.arr(x), function(v) return 2 * v end))
      local l2 = (x * x * x):sum()
      l2:backward()
      local want = {}
      for i, v in ipairs(xv) do want[i] = 2 * v + 3 * v * v end
      A.close(x.grad, want)
      x:zero_grad()
      assert.is_nil(x.grad)
      ;(x * 5):sum():backward()
      A.close(x.grad, { 5, 5, 5, 5, 5, 5 })
   end)

   it("backward of a non-scalar takes a gradient of the output's shape", function()
      local x = A.randn { 2, 3 }:requires_grad_()
      local y = x:exp()
      local go = A.randn { 2, 3 }
      y:backward(go)
      local xv, gv = values(x), values(go)
      local want = {}
      for i = 1, #xv do want[i] = math.exp(xv[i]) * gv[i] end
      A.close(x.grad, want, 1e-12, 1e-12)
      A.raises(function() (x * 2):backward(A.randn { 3, 2 }) end, "(3, 2)", "(2, 3)")
   end)

   it("retain_graph keeps the saved tensors for a second backward", function()
      local x = A.randn { 4 }:requires_grad_()
      local l = (x * x):sum()
      l:backward(nil, { retain_graph = true })
      l:backward()
      A.close(x.grad, A.map(A.arr(x), function(v) return 4 * v end))
      A.raises(function() l:backward() end, "retain_graph")
   end)

   it("backward accepts the options table as its only argument", function()
      local x = A.randn { 4 }:requires_grad_()
      local l = (x * x):sum()
      l:backward({ retain_graph = true })
      l:backward()
      A.close(x.grad, A.map(A.arr(x), function(v) return 4 * v end))
   end)
end)

describe("gan.grad", function()
   before_each(function() gan.manual_seed(12) end)

   it("returns gradients without touching .grad", function()
      local x = A.randn { 3 }:requires_grad_()
      local w = A.randn { 3 }:requires_grad_()
      local l = (x * w):sum()
      local g = gan.grad(l, { x, w })
      A.close(g[1], A.arr(w))
      A.close(g[2], A.arr(x))
      assert.is_nil(x.grad)
      assert.is_nil(w.grad)
      -- the graph was freed (no retain_graph)
      A.raises(function() gan.grad(l, x) end, "retain_graph")
   end)

   it("takes grad_outputs for several outputs", function()
      local x = A.randn { 2, 2 }:requires_grad_()
      local y1, y2 = x * 3, x:sin()
      local g1, g2 = A.randn { 2, 2 }, A.randn { 2, 2 }
      local g = gan.grad({ y1, y2 }, { x }, { grad_outputs = { g1, g2 } })
      local xv, a, b = values(x), values(g1), values(g2)
      local want = {}
      for i = 1, 4 do want[i] = 3 * a[i] + math.cos(xv[i]) * b[i] end
      A.close(g[1], want, 1e-12, 1e-12)
   end)

   it("retain_graph allows a second call on the same graph", function()
      local x = A.randn { 3 }:requires_grad_()
      local l = x:exp():sum()
      local g1 = gan.grad(l, x, { retain_graph = true })[1]
      local g2 = gan.grad(l, x)[1]
      A.close(g2, A.arr(g1), 0, 0)
      A.close(g1, A.map(A.arr(x), math.exp), 1e-12, 1e-12)
   end)

   it("without create_graph the result has no history", function()
      local x = A.randn { 3 }:requires_grad_()
      local g = gan.grad((x * x * x):sum(), x)[1]
      assert.is_false(g.requires_grad)
   end)

   it("computes gradients of gradients (closed form)", function()
      -- f = sum(x^3 y): df/dx = 3 x^2 y; d/dx sum(df/dx) = 6 x y, d/dy = 3 x^2
      local x = A.randn { 2, 3 }:requires_grad_()
      local y = A.randn { 2, 3 }:requires_grad_()
      local f = (x:pow(3) * y):sum()
      local gx = gan.grad(f, x, { create_graph = true })[1]
      assert.is_true(gx.requires_grad)
      local xv, yv = values(x), values(y)
      local w1, w2, w3 = {}, {}, {}
      for i = 1, 6 do
         w1[i] = 3 * xv[i] ^ 2 * yv[i]
         w2[i] = 6 * xv[i] * yv[i]
         w3[i] = 3 * xv[i] ^ 2
      end
      A.close(gx, w1, 1e-12, 1e-12)
      local gg = gan.grad(gx:sum(), { x, y })
      A.close(gg[1], w2, 1e-12, 1e-12)
      A.close(gg[2], w3, 1e-12, 1e-12)
   end)

   it("third derivatives through create_graph twice", function()
      -- f = sum(sin x): f' = cos, f'' = -sin, f''' = -cos
      local x = A.randn { 4 }:requires_grad_()
      local g1 = gan.grad(x:sin():sum(), x, { create_graph = true })[1]
      local g2 = gan.grad(g1:sum(), x, { create_graph = true })[1]
      local g3 = gan.grad(g2:sum(), x)[1]
      A.close(g2, A.map(A.arr(x), function(v) return -math.sin(v) end), 1e-12, 1e-12)
      A.close(g3, A.map(A.arr(x), function(v) return -math.cos(v) end), 1e-12, 1e-12)
   end)

   it("double backward feeds .grad of leaves through backward()", function()
      -- loss = |df/dx|^2 with f = sum(x^2 w): df/dx = 2 x w, dloss/dw = 8 x^2 w
      local x = A.randn { 3 }:requires_grad_()
      local w = A.randn { 3 }:requires_grad_()
      local gx = gan.grad((x * x * w):sum(), x, { create_graph = true })[1]
      local loss = (gx * gx):sum()
      loss:backward()
      local xv, wv = values(x), values(w)
      local ww, wx = {}, {}
      for i = 1, 3 do ww[i] = 8 * xv[i] ^ 2 * wv[i]; wx[i] = 8 * xv[i] * wv[i] ^ 2 end
      A.close(w.grad, ww, 1e-12, 1e-12)
      A.close(x.grad, wx, 1e-12, 1e-12)
   end)

   it("create_graph backward stores a .grad that does not alias grad_output", function()
      local x = A.randn { 3 }:requires_grad_()
      local go = gan.ones({ 3 }, A.F64)
      ;(x + 0):backward(go, { create_graph = true })
      A.close(x.grad, { 1, 1, 1 })
      ;(x * 2):sum():backward()   -- accumulates into x.grad
      A.close(x.grad, { 3, 3, 3 })
      A.close(go, { 1, 1, 1 }, 0, 0, "grad_output unchanged")
   end)

   it("backward with create_graph gives a differentiable .grad", function()
      local w = A.randn { 3 }:requires_grad_()
      ;(w * w * w):sum():backward({ create_graph = true })
      assert.is_true(w.grad.requires_grad)
      A.close(w.grad, A.map(A.arr(w), function(v) return 3 * v * v end), 1e-12, 1e-12)
      local g2 = gan.grad(w.grad:sum(), w)[1]
      A.close(g2, A.map(A.arr(w), function(v) return 6 * v end), 1e-12, 1e-12)
   end)

   it("gan.grad with respect to an intermediate tensor", function()
      local x = A.randn { 3 }:requires_grad_()
      local h = x:exp()
      local g = gan.grad((h * h):sum(), h)[1]
      A.close(g, A.map(A.arr(h), function(v) return 2 * v end), 1e-12, 1e-12)
      assert.is_nil(x.grad)
   end)

   it("raises for an unused input unless allow_unused", function()
      local x = A.randn { 3 }:requires_grad_()
      local u = A.randn { 3 }:requires_grad_()
      local l = (x * 2):sum()
      A.raises(function() gan.grad(l, { x, u }, { retain_graph = true }) end, "input 2", "allow_unused")
      local g = gan.grad(l, { x, u }, { allow_unused = true })
      A.close(g[1], { 2, 2, 2 })
      assert.is_nil(g[2])
   end)

   it("raises for an input that does not require grad", function()
      local x = A.randn { 3 }:requires_grad_()
      local c = A.randn { 3 }
      A.raises(function() gan.grad((x * c):sum(), { c }) end, "does not require grad")
   end)

   it("rejects unknown options", function()
      local x = A.randn { 3 }:requires_grad_()
      A.raises(function() gan.grad(x:sum(), x, { create_grph = true }) end, "create_grph")
   end)
end)

describe("grad mode", function()
   before_each(function() gan.manual_seed(13) end)

   it("no_grad(fn) runs fn without recording and returns its results", function()
      local x = A.randn { 3 }:requires_grad_()
      local y, n = gan.no_grad(function(a) return a * 2, 7 end, x)
      assert.is_false(y.requires_grad)
      assert.are.equal(7, n)
      assert.is_true(gan.is_grad_enabled())
      assert.is_true((x * 2).requires_grad)
   end)

   it("no_grad(fn) restores the mode when fn raises", function()
      local ok = pcall(gan.no_grad, function() error("boom") end)
      assert.is_false(ok)
      assert.is_true(gan.is_grad_enabled())
   end)

   it("a <close> no_grad scope disables recording until its end", function()
      local x = A.randn { 3 }:requires_grad_()
      do
         local _ <close> = gan.no_grad()
         assert.is_false(gan.is_grad_enabled())
         assert.is_false((x * 2).requires_grad)
         x:add_(1)   -- in-place on a leaf is allowed without grad mode
      end
      assert.is_true(gan.is_grad_enabled())
      assert.is_true((x * 2).requires_grad)
   end)

   it("enable_grad records inside no_grad", function()
      local x = A.randn { 3 }:requires_grad_()
      gan.no_grad(function()
         local y = gan.enable_grad(function() return x * 2 end)
         assert.is_true(y.requires_grad)
      end)
   end)
end)

describe("detach and requires_grad_(false)", function()
   before_each(function() gan.manual_seed(14) end)

   it("detach shares storage and carries no history", function()
      local x = A.randn { 3 }:requires_grad_()
      local y = x * 2
      local d = y:detach()
      assert.is_false(d.requires_grad)
      assert.is_nil(d.grad_fn)
      A.close(d, A.arr(y), 0, 0)
      d:fill_(5)
      A.close(y, { 5, 5, 5 }, 0, 0)   -- same storage
      -- no gradient flows through the detached branch
      local x2 = A.randn { 3 }:requires_grad_()
      local l = (x2 * x2:detach()):sum()
      l:backward()
      A.close(x2.grad, A.arr(x2:detach()), 0, 0)
   end)

   it("requires_grad_(false) on a leaf stops recording", function()
      local p = A.randn { 3 }:requires_grad_()
      p:requires_grad_(false)
      local y = p * 3
      assert.is_false(y.requires_grad)
      A.raises(function() y:sum():backward() end, "does not require grad")
   end)

   it("requires_grad_(false) on a non-leaf is an error", function()
      local x = A.randn { 3 }:requires_grad_()
      A.raises(function() (x * 2):requires_grad_(false) end, "leaf", "detach")
   end)
end)

describe("hooks", function()
   before_each(function() gan.manual_seed(15) end)

   it("a hook sees the gradient of a leaf", function()
      local x = A.randn { 3 }:requires_grad_()
      local seen
      x:register_hook(function(g) seen = g:clone() end)
      ;(x * 3):sum():backward()
      A.close(seen, { 3, 3, 3 })
      A.close(x.grad, { 3, 3, 3 })
   end)

   it("a hook can replace the gradient of a leaf", function()
      local x = A.randn { 3 }:requires_grad_()
      x:register_hook(function(g) return g * 2 end)
      ;(x * 3):sum():backward()
      A.close(x.grad, { 6, 6, 6 })
   end)

   it("a hook on an intermediate replaces the gradient flowing on", function()
      local x = A.randn { 3 }:requires_grad_()
      local h = x * 2
      local seen
      h:register_hook(function(g) seen = g:clone(); return g:fill_(0) + 1 end)
      ;(h * h):sum():backward()
      A.close(seen, A.map(A.arr(h), function(v) return 2 * v end), 1e-12, 1e-12)
      A.close(x.grad, { 2, 2, 2 })   -- d h/dx * replaced 1
   end)

   it("a hook runs once on the summed gradient of a tensor used twice", function()
      local x = A.randn { 3 }:requires_grad_()
      local calls, seen = 0, nil
      x:register_hook(function(g) calls = calls + 1; seen = g:clone() end)
      ;(x * x + x):sum():backward()
      assert.are.equal(1, calls)
      A.close(seen, A.map(A.arr(x), function(v) return 2 * v + 1 end), 1e-12, 1e-12)
      local h = x * 2
      local hc = 0
      h:register_hook(function() hc = hc + 1 end)
      ;(h * h + h:sin()):sum():backward()
      assert.are.equal(1, hc)
   end)

   it("hooks also run for gan.grad and a hook error propagates", function()
      local x = A.randn { 3 }:requires_grad_()
      x:register_hook(function(g) return g * 10 end)
      local g = gan.grad((x * 1):sum(), x)[1]
      A.close(g, { 10, 10, 10 })
      local y = A.randn { 3 }:requires_grad_()
      y:register_hook(function() error("hook failed here") end)
      A.raises(function() (y * 1):sum():backward() end, "hook failed here")
      assert.is_true(gan.is_grad_enabled())
   end)

   it("a hook returning a wrong shape is an error", function()
      local x = A.randn { 3 }:requires_grad_()
      x:register_hook(function() return A.randn { 4 } end)
      A.raises(function() (x * 1):sum():backward() end, "hook", "(4,)", "(3,)")
   end)
end)

describe("shared tensors and graphs", function()
   before_each(function() gan.manual_seed(16) end)

   it("a tensor used twice accumulates both gradients", function()
      local x = A.randn { 4 }:requires_grad_()
      local l = (x * x + x:sin() + x):sum()
      l:backward()
      A.close(x.grad, A.map(A.arr(x), function(v) return 2 * v + math.cos(v) + 1 end), 1e-12, 1e-12)
   end)

   it("a module-like weight used on two inputs gets the sum", function()
      local w = A.randn { 3, 2 }:requires_grad_()
      local a, b = A.randn { 4, 3 }, A.randn { 5, 3 }
      local l = gan.matmul(a, w):sum() + gan.matmul(b, w):sum() * 2
      l:backward()
      local ca = A.reduce(A.arr(a), { 1 }, false, A.sum)
      local cb = A.reduce(A.arr(b), { 1 }, false, A.sum)
      local want = A.build({ 3, 2 }, function(i) return ca.data[i[1]] + 2 * cb.data[i[1]] end)
      A.close(w.grad, want, 1e-12, 1e-12)
   end)

   it("a graph used by two outputs", function()
      local x = A.randn { 3 }:requires_grad_()
      local h = x:exp()
      local a, b = h:sum(), (h * h):sum()
      local function want(c) return A.map(A.arr(x), function(v) return c * math.exp(v) + 2 * math.exp(2 * v) end) end
      local g = gan.grad({ a, b }, x, { retain_graph = true })
      A.close(g[1], want(1), 1e-12, 1e-12)
      a:backward(nil, { retain_graph = true })
      b:backward()
      A.close(x.grad, want(1), 1e-12, 1e-12)
   end)
end)

describe("autograd errors", function()
   before_each(function() gan.manual_seed(17) end)

   it("backward twice through a freed graph names retain_graph", function()
      local x = A.randn { 3 }:requires_grad_()
      local l = x:tanh():sum()
      l:backward()
      A.raises(function() l:backward() end, "retain_graph")
   end)

   it("backward of a non-scalar without a gradient", function()
      local x = A.randn { 2, 3 }:requires_grad_()
      A.raises(function() (x * 2):backward() end, "not a scalar", "(2, 3)")
   end)

   it("a tensor saved for backward and then changed in place", function()
      local x = A.randn { 3 }:requires_grad_()
      local w = A.randn { 3 }
      local l = (x * w):sum()
      w:add_(1)
      A.raises(function() l:backward() end, "modified by an in-place operation")
      assert.is_true(gan.is_grad_enabled())
      -- through a detached view sharing the storage
      local e = x:exp()
      local le = (e * e):sum()
      e:detach():add_(1)
      A.raises(function() le:backward({ create_graph = true }) end, "modified by an in-place operation")
      assert.is_true(gan.is_grad_enabled())
      -- the same through a saved output (exp saves its result)
      local y = x:exp()
      local l2 = y:sum()
      gan.no_grad(function() y:mul_(2) end)
      A.raises(function() l2:backward() end, "modified by an in-place operation")
      -- an op that saved nothing does not care
      local v = A.randn { 3 }
      local l3 = (x + v):sum()
      v:add_(1)
      l3:backward()
      A.close(x.grad, { 1, 1, 1 })
   end)

   it("in-place op on a leaf that requires grad", function()
      local x = A.randn { 3 }:requires_grad_()
      A.raises(function() x:add_(1) end, "in-place", "leaf")
      A.raises(function() x:mul_(2) end, "in-place")
      A.raises(function() x:fill_(0) end, "in-place")
      A.raises(function() x[1] = 3 end, "in-place")
   end)

   it("backward of a tensor without history", function()
      A.raises(function() A.randn { 1 }:backward() end, "does not require grad")
   end)
end)

describe("gan.testing", function()
   before_each(function() gan.manual_seed(20) end)

   it("gradcheck accepts non-contiguous leaves", function()
      local x = A.randn({ 4, 3 }):t():requires_grad_()
      assert.is_false(x:is_contiguous())
      assert(gan.testing.gradcheck(function(t) return t:exp() * t end, { x }))
      assert(gan.testing.gradgradcheck(function(t) return t:exp() * t end, { x }))
      A.close(x, A.arr(x:contiguous()), 0, 0, "values restored")
   end)

   it("gradcheck and gradgradcheck catch a wrong gradient", function()
      local x = A.randn({ 2, 3 }):requires_grad_()
      local function wrong(t)
         local y = t * 1
         y:register_hook(function(g) return g * 1.01 end)
         return y:exp()
      end
      A.raises(function() gan.testing.gradcheck(wrong, { x }) end, "gradcheck", "input 1")
      A.raises(function() gan.testing.gradgradcheck(wrong, { x }) end, "gradcheck")
      A.raises(function() gan.testing.gradcheck(function(t) return t:exp() end, { A.randn { 2 }:float():requires_grad_() }) end,
         "float64")
   end)
end)

describe("autograd memory", function()
   it("10,000 steps of a small conv net keep live memory flat", function()
      local threads = gan.get_num_threads()
      gan.set_num_threads(1)   -- the point is memory; one thread keeps it fast on a busy box
      gan.manual_seed(18)
      local x = gan.randn { 8, 1, 8, 8 }
      local w1 = (gan.randn { 4, 1, 3, 3 } * 0.3):requires_grad_()
      local b1 = gan.zeros(4):requires_grad_()
      local w2 = (gan.randn { 1, 4, 3, 3 } * 0.3):requires_grad_()
      local function step()
         local h = gan.F.conv2d(x, w1, b1, { padding = 1 }):relu()
         local loss = gan.F.conv2d(h, w2):mean()
         loss:backward()
         gan.no_grad(function()
            w1:sub_(w1.grad * 1e-3); w2:sub_(w2.grad * 1e-3); b1:sub_(b1.grad * 1e-3)
         end)
         w1:zero_grad(); b1:zero_grad(); w2:zero_grad()
      end
      local ok, err = pcall(function()
         for _ = 1, 1000 do step() end
         collectgarbage(); collectgarbage()
         local m1 = gan.memory_stats().live_bytes
         for _ = 1001, 10000 do step() end
         collectgarbage(); collectgarbage()
         local m2 = gan.memory_stats().live_bytes
         assert(m2 <= m1, ("live bytes grew from %d to %d"):format(m1, m2))
      end)
      gan.set_num_threads(threads)
      assert(ok, err)
   end)

   it("a WGAN-GP training loop (double backward every step) keeps live memory flat", function()
      local threads = gan.get_num_threads()
      gan.set_num_threads(1)
      gan.manual_seed(21)
      local F = gan.F
      local w1 = (gan.randn { 4, 1, 3, 3 } * 0.3):requires_grad_()
      local b1 = gan.zeros(4):requires_grad_()
      local w2 = (gan.randn { 1, 16 } * 0.3):requires_grad_()
      local real, fake = gan.randn { 4, 1, 4, 4 }, gan.randn { 4, 1, 4, 4 }
      local function D(x)
         return F.linear(F.leaky_relu(F.conv2d(x, w1, b1, { stride = 2, padding = 1 }), 0.2):flatten(2), w2)
      end
      local function step()
         local a = gan.rand { 4, 1, 1, 1 }
         local xh = (a * real + (1 - a) * fake):requires_grad_()
         local g = gan.grad(D(xh):sum(), xh, { create_graph = true })[1]
         local gp = ((g:flatten(2):norm(2, 2) - 1) ^ 2):mean()
         local loss = D(fake):mean() - D(real):mean() + gp * 10
         loss:backward()
         gan.no_grad(function() w1:sub_(w1.grad * 1e-3); w2:sub_(w2.grad * 1e-3) end)
         w1:zero_grad(); b1:zero_grad(); w2:zero_grad()
      end
      local ok, err = pcall(function()
         for _ = 1, 300 do step() end
         collectgarbage(); collectgarbage()
         local m1 = gan.memory_stats().live_bytes
         for _ = 1, 2000 do step() end
         collectgarbage(); collectgarbage()
         local m2 = gan.memory_stats().live_bytes
         assert(m2 <= m1, ("live bytes grew from %d to %d"):format(m1, m2))
      end)
      gan.set_num_threads(threads)
      assert(ok, err)
   end)

   it("a freed graph releases its saved tensors", function()
      gan.manual_seed(19)
      collectgarbage(); collectgarbage()
      local before = gan.memory_stats().live_bytes
      do
         local x = gan.randn({ 256, 256 }):requires_grad_()
         local l = (x:tanh() * x:sigmoid()):sum()
         l:backward()
         x, l = nil, nil
      end
      collectgarbage(); collectgarbage()
      assert.are.equal(before, gan.memory_stats().live_bytes)
   end)
end)
