-- Every differentiable tensor op: the forward against a plain-Lua float64 reference on
-- contiguous and non-contiguous (transposed, narrowed, expanded) inputs, broadcasting
-- where the op broadcasts, and the backward against finite differences (gradcheck).
local gan = require("gan")
local A = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "ag_helpers.lua")
local gradcheck = gan.testing.gradcheck

local LAYOUTS = { "contiguous", "transposed", "narrowed" }

-- Forward of op on x (all layouts, plus an expanded input) against map(ref) of x's values.
local function check_unary_forward(op, ref, x, tol)
   local want = A.map(A.arr(x), ref)
   for kind, xl in pairs(A.layouts(x)) do
      A.close(op(xl), want, tol, tol, kind)
   end
   -- expanded: a column broadcast over 4 columns
   local col = x:narrow(2, 1, 1):contiguous()
   local e = col:expand(x:size(1), 4)
   assert.is_false(e:is_contiguous())
   local cv = A.arr(col)
   A.close(op(e), A.build({ x:size(1), 4 }, function(i) return ref(cv.data[i[1]]) end), tol, tol, "expanded")
end

local function check_grad_layouts(fn, inputs)
   for _, kind in ipairs(LAYOUTS) do
      local ok, err = pcall(gradcheck, function(a, ...) return fn(A.relayout(a, kind), ...) end, inputs)
      assert(ok, kind .. ": " .. tostring(err))
   end
end

-- ---------------------------------------------------------------- unary

describe("unary ops", function()
   before_each(function() gan.manual_seed(21) end)

   local function pos(shape) return A.uniform(shape, 0.3, 2.5) end
   local function any(shape) return A.randn(shape) end
   local function nonzero(shape) return A.away_from_zero(shape, 0.2, 2) end
   local cases = {
      { "neg", function(v) return -v end, any },
      { "abs", math.abs, nonzero },
      { "exp", math.exp, any },
      { "log", math.log, pos },
      { "sqrt", math.sqrt, pos },
      { "rsqrt", function(v) return 1 / math.sqrt(v) end, pos },
      { "tanh", function(v) return (math.exp(2 * v) - 1) / (math.exp(2 * v) + 1) end, any },
      { "sigmoid", function(v) return 1 / (1 + math.exp(-v)) end, any },
      { "relu", function(v) return v > 0 and v or 0 end, nonzero },
      { "reciprocal", function(v) return 1 / v end, nonzero },
      { "square", function(v) return v * v end, any },
      { "log1p", function(v) return math.log(1 + v) end, function(s) return A.uniform(s, -0.6, 2) end },
      { "expm1", function(v) return math.exp(v) - 1 end, any },
      { "sin", math.sin, any },
      { "cos", math.cos, any },
      { "erf", A.erf, any },
   }
   for _, c in ipairs(cases) do
      local name, ref, gen = c[1], c[2], c[3]
      it(name .. " forward matches the reference on every layout", function()
         check_unary_forward(function(t) return t[name](t) end, ref, gen { 3, 5 }, 1e-12)
         -- the function form gan.<name>(x) (neg has none in the list)
         if gan[name] then
            local x = gen { 4 }
            A.close(gan[name](x), A.map(A.arr(x), ref), 1e-12, 1e-12)
         end
      end)
      it(name .. " backward passes gradcheck", function()
         check_grad_layouts(function(a) return a[name](a) end, { A.leaf(gen { 3, 4 }) })
      end)
   end

   it("float32 forward agrees with float64 to float32 precision", function()
      local x = A.uniform({ 64 }, 0.3, 2)
      local xf = x:float()
      for _, name in ipairs { "exp", "log", "sqrt", "tanh", "sigmoid", "erf", "sin" } do
         A.close(xf[name](xf), A.arr(x[name](x)), 1e-6, 1e-5, name)
      end
   end)

   it("unary of an expanded leaf sums the gradient back", function()
      local col = A.leaf(A.randn { 3, 1 })
      assert(gradcheck(function(c) return c:expand(3, 4):sin() end, { col }))
   end)
end)

-- ---------------------------------------------------------------- binary

describe("binary ops", function()
   before_each(function() gan.manual_seed(22) end)

   local refs = {
      add = function(a, b) return a + b end,
      sub = function(a, b) return a - b end,
      mul = function(a, b) return a * b end,
      div = function(a, b) return a / b end,
      pow = function(a, b) return a ^ b end,
      minimum = math.min,
      maximum = math.max,
   }
   local mm = { add = "__add", sub = "__sub", mul = "__mul", div = "__div", pow = "__pow" }
   -- Operands: a positive base for pow, a divisor away from zero for div.
   local function operands(name, sa, sb)
      local a = name == "pow" and A.uniform(sa, 0.5, 2) or A.randn(sa)
      local b = (name == "div" or name == "pow") and A.away_from_zero(sb, 0.5, 2) or A.randn(sb)
      return a, b
   end
   local shapes = {
      { { 2, 3, 4 }, { 2, 3, 4 } },
      { { 2, 3, 4 }, { 3, 1 } },
      { { 4 }, { 2, 1, 4 } },
      { { 3, 1 }, { 1, 5 } },
      { { 2, 3 }, {} },
   }
   for name, ref in pairs(refs) do
      it(name .. " forward with broadcasting and every layout", function()
         for _, s in ipairs(shapes) do
            local a, b = operands(name, s[1], s[2])
            local want = A.zip(A.arr(a), A.arr(b), ref)
            A.close(a[name](a, b), want, 1e-12, 1e-12, name .. " " .. A.shape_str(s[1]))
            A.close(gan[name](a, b), want, 1e-12, 1e-12)
            if mm[name] then
               local mt = getmetatable(a)
               A.close(mt[mm[name]](a, b), want, 1e-12, 1e-12)
            end
            for kind, al in pairs(A.layouts(a)) do
               for kind2, bl in pairs(A.layouts(b)) do
                  A.close(al[name](al, bl), want, 1e-12, 1e-12, kind .. "/" .. kind2)
               end
            end
         end
         -- an expanded operand
         local a, b = operands(name, { 3, 4 }, { 3, 1 })
         local want = A.zip(A.arr(a), A.arr(b), ref)
         A.close(a[name](a, b:expand(3, 4)), want, 1e-12, 1e-12, "expanded")
      end)

      it(name .. " backward with broadcasting passes gradcheck", function()
         for _, s in ipairs { { { 2, 3 }, { 2, 3 } }, { { 2, 3, 2 }, { 3, 1 } }, { { 3 }, { 2, 1 } }, { { 2, 2 }, {} } } do
            local a, b = operands(name, s[1], s[2])
            assert(gradcheck(function(x, y) return x[name](x, y) end, { A.leaf(a), A.leaf(b) }))
         end
         local a, b = operands(name, { 3, 4 }, { 3, 4 })
         check_grad_layouts(function(x, y) return x[name](x, y) end, { A.leaf(a), b })
         -- only the second operand requires grad
         assert(gradcheck(function(x, y) return x[name](x, y) end, { a, A.leaf(b) }))
      end)
   end

   it("scalar operands on either side", function()
      local x = A.uniform({ 2, 3 }, 0.5, 2)
      local v = A.arr(x)
      local cases = {
         { function(t) return t + 2 end, function(e) return e + 2 end },
         { function(t) return 2 + t end, function(e) return 2 + e end },
         { function(t) return t - 0.5 end, function(e) return e - 0.5 end },
         { function(t) return 3 - t end, function(e) return 3 - e end },
         { function(t) return t * -1.5 end, function(e) return e * -1.5 end },
         { function(t) return 2.5 * t end, function(e) return 2.5 * e end },
         { function(t) return t / 4 end, function(e) return e / 4 end },
         { function(t) return 3 / t end, function(e) return 3 / e end },
         { function(t) return -t end, function(e) return -e end },
      }
      for k, c in ipairs(cases) do
         A.close(c[1](x), A.map(v, c[2]), 1e-12, 1e-12, "case " .. k)
         assert(gradcheck(c[1], { A.leaf(x) }))
      end
   end)

   it("pow with scalar exponents and a scalar base", function()
      local x = A.uniform({ 2, 3 }, 0.5, 2)
      local v = A.arr(x)
      for _, p in ipairs { 2, 3, 0.5, -1.5, 1 } do
         A.close(x:pow(p), A.map(v, function(e) return e ^ p end), 1e-12, 1e-12, "pow " .. p)
         A.close(x ^ p, A.map(v, function(e) return e ^ p end), 1e-12, 1e-12, "^ " .. p)
         assert(gradcheck(function(t) return t:pow(p) end, { A.leaf(x) }))
      end
      -- integer powers of negative values
      local y = A.randn { 5 }
      A.close(y:pow(3), A.map(A.arr(y), function(e) return e ^ 3 end), 1e-12, 1e-12)
      assert(gradcheck(function(t) return t:pow(2) end, { A.leaf(y) }))
      -- 2 ^ x
      A.close(2 ^ x, A.map(v, function(e) return 2 ^ e end), 1e-12, 1e-12)
      assert(gradcheck(function(t) return 2 ^ t end, { A.leaf(x) }))
   end)

   it("comparisons give 0/1 and no gradient", function()
      local a, b = A.randn { 6 }, A.randn { 6 }
      local av, bv = A.arr(a).data, A.arr(b).data
      local want = {}
      for i = 1, 6 do want[i] = av[i] < bv[i] and 1 or 0 end
      local x = A.leaf(a)
      local c = x:lt(b)
      A.close(c, want, 0, 0)
      assert.is_false(c.requires_grad)
   end)
end)

-- ---------------------------------------------------------------- reductions

describe("reductions", function()
   before_each(function() gan.manual_seed(23) end)

   local function close_fwd(x, fn, dims, keepdim, f, what)
      local want = A.reduce(A.arr(x), dims, keepdim, f)
      for kind, xl in pairs(A.layouts(x)) do
         local got = fn(xl)
         if not dims then want.shape = {} end
         A.close(got, want, 1e-12, 1e-12, what .. " " .. kind)
      end
   end

   it("sum and mean over all, dims and keepdim", function()
      local x = A.randn { 2, 3, 4 }
      close_fwd(x, function(t) return t:sum() end, nil, false, A.sum, "sum")
      close_fwd(x, function(t) return t:mean() end, nil, false, A.mean, "mean")
      for _, d in ipairs { { 1 }, { 2 }, { 3 }, { -1 }, { 1, 3 }, { 2, 3 } } do
         for _, keep in ipairs { false, true } do
            local arg = #d == 1 and d[1] or d
            close_fwd(x, function(t) return t:sum(arg, keep) end, d, keep, A.sum, "sum")
            close_fwd(x, function(t) return t:mean(arg, keep) end, d, keep, A.mean, "mean")
         end
      end
      -- expanded input
      local col = A.randn { 3, 1 }
      local e = col:expand(3, 5)
      A.close(e:sum(2), A.map(A.arr(col:view(3)), function(v) return 5 * v end), 1e-12, 1e-12)
   end)

   it("sum and mean backward", function()
      local x = A.leaf(A.randn { 2, 3, 2 })
      check_grad_layouts(function(t) return t:sum() end, { x })
      check_grad_layouts(function(t) return t:mean() end, { x })
      for _, d in ipairs { 1, 3, -1, { 1, 3 } } do
         for _, keep in ipairs { false, true } do
            assert(gradcheck(function(t) return t:sum(d, keep) end, { x }))
            assert(gradcheck(function(t) return t:mean(d, keep) end, { x }))
         end
      end
   end)

   it("var and std, unbiased and not", function()
      local x = A.randn { 3, 4 }
      for _, ub in ipairs { true, false } do
         local fv = function(l) return A.var(l, ub) end
         local fs = function(l) return math.sqrt(A.var(l, ub)) end
         close_fwd(x, function(t) return t:var(nil, ub) end, nil, false, fv, "var")
         close_fwd(x, function(t) return t:std(nil, ub) end, nil, false, fs, "std")
         for _, d in ipairs { 1, 2 } do
            for _, keep in ipairs { false, true } do
               close_fwd(x, function(t) return t:var(d, ub, keep) end, { d }, keep, fv, "var")
               close_fwd(x, function(t) return t:std(d, ub, keep) end, { d }, keep, fs, "std")
            end
         end
         local xl = A.leaf(x)
         check_grad_layouts(function(t) return t:var(nil, ub) end, { xl })
         check_grad_layouts(function(t) return t:std(2, ub) end, { xl })
         assert(gradcheck(function(t) return t:var(1, ub, true) end, { xl }))
         assert(gradcheck(function(t) return t:std({ 1, 2 }, ub) end, { xl }))
      end
      -- default is unbiased
      A.close(x:var(), A.var(A.arr(x).data, true), 1e-12, 1e-12)
   end)

   it("max and min over all and over a dim", function()
      local x = A.randn { 3, 4 }
      close_fwd(x, function(t) return t:max() end, nil, false, A.maxl, "max")
      close_fwd(x, function(t) return t:min() end, nil, false, A.minl, "min")
      local xv = A.arr(x)
      for _, d in ipairs { 1, 2, -1 } do
         for _, keep in ipairs { false, true } do
            for _, is_min in ipairs { false, true } do
               local f = is_min and A.minl or A.maxl
               local want = A.reduce(xv, { d }, keep, f)
               for kind, xl in pairs(A.layouts(x)) do
                  local v, i = (is_min and xl.min or xl.max)(xl, d, keep)
                  A.close(v, want, 0, 0, kind)
                  assert.are.equal("int64", i.dtype)
                  -- the index (0-based) points at the winner
                  local iv = A.arr(i).data
                  local dd = d < 0 and 2 + d + 1 or d
                  for k = 1, #iv do
                     local o = A.index(want.shape, k)
                     local idx = keep and { o[1], o[2] } or (dd == 1 and { 1, o[1] } or { o[1], 1 })
                     idx[dd] = iv[k] + 1
                     assert.are.equal(want.data[k], A.get(xv, idx))
                  end
               end
            end
         end
      end
      local xl = A.leaf(x)
      check_grad_layouts(function(t) return t:max() end, { xl })
      check_grad_layouts(function(t) return t:min() end, { xl })
      for _, keep in ipairs { false, true } do
         assert(gradcheck(function(t) return (t:max(2, keep)) end, { xl }))
         assert(gradcheck(function(t) return (t:min(1, keep)) end, { xl }))
      end
   end)

   it("max splits the gradient among ties over all", function()
      local x = gan.tensor({ 1, 3, 3, 2 }, A.F64):requires_grad_()
      x:max():backward()
      A.close(x.grad, { 0, 0.5, 0.5, 0 })
   end)

   it("norm p = 1, 2, 3, inf over all and over a dim", function()
      local x = A.away_from_zero({ 3, 4 }, 0.2, 2)
      local function pn(p)
         return function(l)
            if p == math.huge then
               local m = 0
               for _, v in ipairs(l) do m = math.max(m, math.abs(v)) end
               return m
            end
            local s = 0
            for _, v in ipairs(l) do s = s + math.abs(v) ^ p end
            return s ^ (1 / p)
         end
      end
      for _, p in ipairs { 1, 2, 3, math.huge } do
         close_fwd(x, function(t) return t:norm(p) end, nil, false, pn(p), "norm " .. p)
         for _, keep in ipairs { false, true } do
            close_fwd(x, function(t) return t:norm(p, 2, keep) end, { 2 }, keep, pn(p), "norm " .. p)
         end
         local xl = A.leaf(x)
         check_grad_layouts(function(t) return t:norm(p) end, { xl })
         assert(gradcheck(function(t) return t:norm(p, 1) end, { xl }))
      end
      A.close(x:norm(), pn(2)(A.arr(x).data), 1e-12, 1e-12)   -- p = 2 by default
   end)

   it("norm of a zero vector has gradient 0, not NaN (p = 1, 2, 3)", function()
      for _, p in ipairs { 1, 2, 3 } do
         local z = gan.zeros({ 2, 3 }, A.F64):requires_grad_()
         local g = gan.grad(z:norm(p) + z:norm(p, 2):sum(), z)[1]
         A.close(g, { 0, 0, 0, 0, 0, 0 }, 0, 0, "p = " .. p)
         -- one zero row among non-zero ones: the other rows keep their gradient
         local x = gan.tensor({ { 0, 0, 0 }, { 3, 4, 0 } }, A.F64):requires_grad_()
         local gx = gan.grad(x:norm(2, 2):sum(), x)[1]
         A.close(gx, { 0, 0, 0, 0.6, 0.8, 0 }, 1e-15, 0)
      end
   end)

   it("prod forward and backward", function()
      local x = A.away_from_zero({ 2, 3 }, 0.5, 1.5)
      local function prod(l) local s = 1; for _, v in ipairs(l) do s = s * v end; return s end
      close_fwd(x, function(t) return t:prod() end, nil, false, prod, "prod")
      close_fwd(x, function(t) return t:prod(2) end, { 2 }, false, prod, "prod")
      assert(gradcheck(function(t) return t:prod(2) end, { A.leaf(x) }))
   end)
end)

-- ---------------------------------------------------------------- views

describe("views", function()
   before_each(function() gan.manual_seed(24) end)

   -- Row-major values of x in the order given by a multi-index map from out to x.
   local function remap(x, out_shape, f)
      local v = A.arr(x)
      return A.build(out_shape, function(i) return A.get(v, f(i)) end)
   end

   it("view / reshape keep row-major order", function()
      local x = A.randn { 2, 3, 4 }
      local v = A.arr(x)
      for kind, xl in pairs(A.layouts(x)) do
         A.close(xl:reshape(6, 4), { shape = { 6, 4 }, data = v.data }, 0, 0, kind)
         A.close(xl:reshape({ 4, -1 }), { shape = { 4, 6 }, data = v.data }, 0, 0, kind)
      end
      A.close(x:view(24), { shape = { 24 }, data = v.data }, 0, 0)
      A.close(x:view(3, 8), { shape = { 3, 8 }, data = v.data }, 0, 0)
      local xl = A.leaf(x)
      assert(gradcheck(function(t) return t:view(4, 6) * t:view(4, 6) end, { xl }))
      check_grad_layouts(function(t) return t:reshape(6, 4):sin() end, { xl })
   end)

   it("transpose and permute", function()
      local x = A.randn { 2, 3, 4 }
      A.close(x:transpose(1, 3), remap(x, { 4, 3, 2 }, function(i) return { i[3], i[2], i[1] } end), 0, 0)
      A.close(x:transpose(-1, -2), remap(x, { 2, 4, 3 }, function(i) return { i[1], i[3], i[2] } end), 0, 0)
      A.close(x:permute(3, 1, 2), remap(x, { 4, 2, 3 }, function(i) return { i[2], i[3], i[1] } end), 0, 0)
      A.close(x:permute({ 2, 3, 1 }), remap(x, { 3, 4, 1 + 1 }, function(i) return { i[3], i[1], i[2] } end), 0, 0)
      local m = A.randn { 3, 5 }
      A.close(m:t(), remap(m, { 5, 3 }, function(i) return { i[2], i[1] } end), 0, 0)
      local xl = A.leaf(x)
      assert(gradcheck(function(t) return t:transpose(1, 3):exp() end, { xl }))
      assert(gradcheck(function(t) return t:permute(3, 1, 2):contiguous():sin() end, { xl }))
   end)

   it("narrow, select and x[i]", function()
      local x = A.randn { 4, 5 }
      A.close(x:narrow(2, 2, 3), remap(x, { 4, 3 }, function(i) return { i[1], i[2] + 1 } end), 0, 0)
      A.close(x:narrow(1, -2, 2), remap(x, { 2, 5 }, function(i) return { i[1] + 2, i[2] } end), 0, 0)
      A.close(x:select(2, 3), remap(x, { 4 }, function(i) return { i[1], 3 } end), 0, 0)
      A.close(x:select(1, -1), remap(x, { 5 }, function(i) return { 4, i[1] } end), 0, 0)
      A.close(x[2], remap(x, { 5 }, function(i) return { 2, i[1] } end), 0, 0)
      for kind, xl in pairs(A.layouts(x)) do
         A.close(xl:narrow(2, 2, 3), remap(x, { 4, 3 }, function(i) return { i[1], i[2] + 1 } end), 0, 0, kind)
         A.close(xl[3], remap(x, { 5 }, function(i) return { 3, i[1] } end), 0, 0, kind)
      end
      local xl = A.leaf(x)
      assert(gradcheck(function(t) return t:narrow(2, 2, 3) * 2 end, { xl }))
      assert(gradcheck(function(t) return t:narrow(1, 1, 4):narrow(2, 5, 1) end, { xl }))
      assert(gradcheck(function(t) return t:select(2, 3):exp() end, { xl }))
      assert(gradcheck(function(t) return t[2]:sin() + t[4] end, { xl }))
   end)

   it("expand", function()
      local x = A.randn { 3, 1 }
      A.close(x:expand(3, 4), remap(x, { 3, 4 }, function(i) return { i[1], 1 } end), 0, 0)
      A.close(x:expand(2, 3, 4), remap(x, { 2, 3, 4 }, function(i) return { i[2], 1 } end), 0, 0)
      A.close(x:expand({ 3, 2 }), remap(x, { 3, 2 }, function(i) return { i[1], 1 } end), 0, 0)
      local xl = A.leaf(x)
      assert(gradcheck(function(t) return t:expand(2, 3, 4):cos() end, { xl }))
      local y = A.leaf(A.randn { 4 })
      assert(gradcheck(function(t) return t:expand(3, 4) * t end, { y }))
   end)

   it("squeeze, unsqueeze and flatten", function()
      local x = A.randn { 2, 1, 3, 1 }
      local v = A.arr(x).data
      A.close(x:squeeze(), { shape = { 2, 3 }, data = v }, 0, 0)
      A.close(x:squeeze(2), { shape = { 2, 3, 1 }, data = v }, 0, 0)
      A.close(x:squeeze(-1), { shape = { 2, 1, 3 }, data = v }, 0, 0)
      A.close(x:unsqueeze(1), { shape = { 1, 2, 1, 3, 1 }, data = v }, 0, 0)
      A.close(x:unsqueeze(-1), { shape = { 2, 1, 3, 1, 1 }, data = v }, 0, 0)
      A.close(x:flatten(), { shape = { 6 }, data = v }, 0, 0)
      A.close(x:flatten(2), { shape = { 2, 3 }, data = v }, 0, 0)
      A.close(x:flatten(1, 3), { shape = { 6, 1 }, data = v }, 0, 0)
      local y = A.randn { 2, 3, 4 }
      for kind, yl in pairs(A.layouts(y)) do
         A.close(yl:flatten(2), { shape = { 2, 12 }, data = A.arr(y).data }, 0, 0, kind)
      end
      local xl = A.leaf(x)
      assert(gradcheck(function(t) return t:squeeze():exp() end, { xl }))
      assert(gradcheck(function(t) return t:squeeze(2):unsqueeze(1) * 3 end, { xl }))
      assert(gradcheck(function(t) return t:flatten(1, 3):sin() end, { xl }))
      check_grad_layouts(function(t) return t:flatten() * 2 end, { A.leaf(y:narrow(3, 1, 2):contiguous()) })
   end)

   it("contiguous and clone copy values and pass gradients", function()
      local x = A.randn { 3, 4 }
      for kind, xl in pairs(A.layouts(x)) do
         local c = xl:contiguous()
         assert.is_true(c:is_contiguous())
         A.close(c, A.arr(x), 0, 0, kind)
         local k = xl:clone()
         A.close(k, A.arr(x), 0, 0, kind)
      end
      local c = x:clone()
      c:fill_(0)
      assert.are_not.equal(0, A.arr(x).data[1])   -- clone does not share storage
      check_grad_layouts(function(t) return t:contiguous():exp() end, { A.leaf(x) })
      check_grad_layouts(function(t) return t:clone() * t end, { A.leaf(x) })
   end)

   it("dtype conversion passes gradients back in the source dtype", function()
      local x = A.leaf(A.randn { 3 })
      local y = x:float()
      assert.are.equal("float32", y.dtype)
      ;(y * 2):sum():backward()
      assert.are.equal("float64", x.grad.dtype)
      A.close(x.grad, { 2, 2, 2 })
   end)
end)

-- ---------------------------------------------------------------- joins and indexing

describe("joins and indexing", function()
   before_each(function() gan.manual_seed(25) end)

   it("cat along each dim", function()
      local a, b = A.randn { 2, 3 }, A.randn { 2, 2 }
      local c = A.randn { 1, 3 }
      local av, bv, cv = A.arr(a), A.arr(b), A.arr(c)
      A.close(gan.cat({ a, b }, 2), A.build({ 2, 5 }, function(i)
         return i[2] <= 3 and A.get(av, i) or A.get(bv, { i[1], i[2] - 3 })
      end), 0, 0)
      A.close(gan.cat({ a, c }, 1), A.build({ 3, 3 }, function(i)
         return i[1] <= 2 and A.get(av, i) or A.get(cv, { 1, i[2] })
      end), 0, 0)
      -- non-contiguous parts
      local at = a:t():contiguous():t()
      A.close(gan.cat({ at, b }, -1), A.arr(gan.cat({ a, b }, 2)), 0, 0)
      local al, bl, cl = A.leaf(a), A.leaf(b), A.leaf(c)
      assert(gradcheck(function(x, y) return gan.cat({ x, y, x }, 2) end, { al, bl }))
      assert(gradcheck(function(x, y) return gan.cat({ x, y }, 1):exp() end, { al, cl }))
      assert(gradcheck(function(x, y) return gan.cat({ x, y }, 2) end, { a, bl }))
   end)

   it("stack", function()
      local a, b = A.randn { 2, 3 }, A.randn { 2, 3 }
      local av, bv = A.arr(a), A.arr(b)
      A.close(gan.stack { a, b }, A.build({ 2, 2, 3 }, function(i)
         return A.get(i[1] == 1 and av or bv, { i[2], i[3] })
      end), 0, 0)
      A.close(gan.stack({ a, b }, 3), A.build({ 2, 3, 2 }, function(i)
         return A.get(i[3] == 1 and av or bv, { i[1], i[2] })
      end), 0, 0)
      A.close(gan.stack({ a:t():contiguous():t(), b }, -1), A.arr(gan.stack({ a, b }, 3)), 0, 0)
      assert(gradcheck(function(x, y) return gan.stack({ x, y, x }, 2) end, { A.leaf(a), A.leaf(b) }))
   end)

   it("split and chunk", function()
      local x = A.randn { 5, 4 }
      local xv = A.arr(x)
      local parts = x:split(2)
      assert.are.equal(3, #parts)
      A.close(parts[3], A.build({ 1, 4 }, function(i) return A.get(xv, { 5, i[2] }) end), 0, 0)
      local p2 = x:split({ 1, 3 }, 2)
      A.close(p2[2], A.build({ 5, 3 }, function(i) return A.get(xv, { i[1], i[2] + 1 }) end), 0, 0)
      local ch = x:chunk(2, 2)
      A.close(ch[2], A.build({ 5, 2 }, function(i) return A.get(xv, { i[1], i[2] + 2 }) end), 0, 0)
      assert(gradcheck(function(t)
         local p = t:split(2)
         return p[1]:sum(1) * p[2]:sum(1) + p[3]
      end, { A.leaf(x) }))
      assert(gradcheck(function(t)
         local p = t:split({ 1, 3 }, 2)
         return p[2]:exp()
      end, { A.leaf(x) }))
   end)

   it("index_select", function()
      local x = A.randn { 4, 3 }
      local xv = A.arr(x)
      local idx = gan.tensor({ 3, 0, 3, 1 }, { dtype = "int64" })
      local iv = { 3, 0, 3, 1 }
      A.close(x:index_select(1, idx), A.build({ 4, 3 }, function(i) return A.get(xv, { iv[i[1]] + 1, i[2] }) end), 0, 0)
      local i2 = gan.tensor({ 2, 2, 0 }, { dtype = "int64" })
      for kind, xl in pairs(A.layouts(x)) do
         A.close(xl:index_select(2, i2), A.build({ 4, 3 }, function(i)
            return A.get(xv, { i[1], ({ 3, 3, 1 })[i[2]] })
         end), 0, 0, kind)
      end
      -- repeated rows accumulate
      check_grad_layouts(function(t) return t:index_select(1, idx) end, { A.leaf(x) })
      assert(gradcheck(function(t) return t:index_select(2, i2):exp() end, { A.leaf(x) }))
   end)

   it("gather", function()
      local x = A.randn { 3, 4 }
      local xv = A.arr(x)
      local iv = { { 0, 3 }, { 2, 2 }, { 1, 0 } }
      local idx = gan.tensor(iv, { dtype = "int64" })
      local want = A.build({ 3, 2 }, function(i) return A.get(xv, { i[1], iv[i[1]][i[2]] + 1 }) end)
      for kind, xl in pairs(A.layouts(x)) do A.close(xl:gather(2, idx), want, 0, 0, kind) end
      local iv1 = { { 2, 0, 1, 1 } }
      local want1 = A.build({ 1, 4 }, function(i) return A.get(xv, { iv1[1][i[2]] + 1, i[2] }) end)
      A.close(x:gather(1, gan.tensor(iv1, { dtype = "int64" })), want1, 0, 0)
      check_grad_layouts(function(t) return t:gather(2, idx) end, { A.leaf(x) })
   end)

   it("scatter_add", function()
      local base, src = A.randn { 3, 4 }, A.randn { 3, 2 }
      local bv, sv = A.arr(base), A.arr(src)
      local iv = { { 0, 3 }, { 2, 2 }, { 1, 0 } }
      local idx = gan.tensor(iv, { dtype = "int64" })
      local want = A.build({ 3, 4 }, function(i)
         local s = A.get(bv, i)
         for j = 1, 2 do if iv[i[1]][j] + 1 == i[2] then s = s + A.get(sv, { i[1], j }) end end
         return s
      end)
      A.close(base:scatter_add(2, idx, src), want, 1e-12, 1e-12)
      for kind, bl in pairs(A.layouts(base)) do
         A.close(bl:scatter_add(2, idx, src), want, 1e-12, 1e-12, kind)
      end
      assert(gradcheck(function(b, s) return b:scatter_add(2, idx, s) end, { A.leaf(base), A.leaf(src) }))
      -- src larger than index outside dim
      local big = A.randn { 3, 3 }
      assert(gradcheck(function(b, s) return b:scatter_add(2, idx, s) end, { A.leaf(base), A.leaf(big) }))
   end)

   it("masked_fill", function()
      local x = A.randn { 3, 4 }
      local mask = x:gt(0.3)
      local want = A.map(A.arr(x), function(v) return v > 0.3 and -2 or v end)
      for kind, xl in pairs(A.layouts(x)) do A.close(xl:masked_fill(mask, -2), want, 0, 0, kind) end
      -- a broadcast mask
      local row = gan.tensor({ 1, 0, 0, 1 }, A.F64)
      A.close(x:masked_fill(row, 9), A.build({ 3, 4 }, function(i)
         return (i[2] == 1 or i[2] == 4) and 9 or A.get(A.arr(x), i)
      end), 0, 0)
      check_grad_layouts(function(t) return t:masked_fill(mask, 5) * t end, { A.leaf(x) })
   end)

   it("where with broadcasting", function()
      local a, b = A.randn { 3, 4 }, A.randn { 4 }
      local cond = A.randn({ 3, 1 }):gt(0)
      local av, bv, cv = A.arr(a), A.arr(b), A.arr(cond)
      local want = A.build({ 3, 4 }, function(i)
         return A.get(cv, { i[1], 1 }) ~= 0 and A.get(av, i) or bv.data[i[2]]
      end)
      A.close(gan.where(cond, a, b), want, 0, 0)
      for kind, al in pairs(A.layouts(a)) do A.close(gan.where(cond, al, b), want, 0, 0, kind) end
      assert(gradcheck(function(x, y) return gan.where(cond, x, y) end, { A.leaf(a), A.leaf(b) }))
      local full = A.randn({ 3, 4 }):gt(0)
      assert(gradcheck(function(x, y) return gan.where(full, x:exp(), y) end, { A.leaf(a), A.leaf(b) }))
   end)

   it("clamp", function()
      local x = A.randn { 4, 5 }
      -- keep values away from the bounds so finite differences do not straddle a kink
      x = gan.where(x:sub(0.5):abs():lt(0.05), x + 0.2, x)
      x = gan.where(x:add(0.3):abs():lt(0.05), x + 0.2, x)
      local v = A.arr(x)
      local c = {
         { function(t) return t:clamp(-0.3, 0.5) end, function(e) return math.min(math.max(e, -0.3), 0.5) end },
         { function(t) return t:clamp(-0.3) end, function(e) return math.max(e, -0.3) end },
         { function(t) return t:clamp(nil, 0.5) end, function(e) return math.min(e, 0.5) end },
      }
      for k, cc in ipairs(c) do
         for kind, xl in pairs(A.layouts(x)) do A.close(cc[1](xl), A.map(v, cc[2]), 0, 0, kind) end
         check_grad_layouts(cc[1], { A.leaf(x) })
         assert(k)
      end
   end)
end)

-- ---------------------------------------------------------------- matmul

describe("matmul", function()
   before_each(function() gan.manual_seed(26) end)

   local function ref_matmul(a, b)
      -- general: promote 1-d, broadcast batch dims, then drop the promoted dims
      local as, bs = a.shape, b.shape
      local a2 = #as == 1 and { shape = { 1, as[1] }, data = a.data } or a
      local b2 = #bs == 1 and { shape = { bs[1], 1 }, data = b.data } or b
      local na, nb = #a2.shape, #b2.shape
      local n, k, m = a2.shape[na - 1], a2.shape[na], b2.shape[nb]
      local ba, bb = {}, {}
      for i = 1, na - 2 do ba[i] = a2.shape[i] end
      for i = 1, nb - 2 do bb[i] = b2.shape[i] end
      local batch = A.broadcast_shape(ba, bb)
      local out_shape = {}
      for _, s in ipairs(batch) do out_shape[#out_shape + 1] = s end
      out_shape[#out_shape + 1] = n
      out_shape[#out_shape + 1] = m
      local r = A.build(out_shape, function(idx)
         local bi = {}
         for i = 1, #batch do bi[i] = idx[i] end
         local s = 0
         for t = 1, k do
            local ia, ib = {}, {}
            local offa, offb = #batch - #ba, #batch - #bb
            for i = 1, #ba do ia[i] = ba[i] == 1 and 1 or bi[offa + i] end
            for i = 1, #bb do ib[i] = bb[i] == 1 and 1 or bi[offb + i] end
            ia[#ia + 1] = idx[#batch + 1]; ia[#ia + 1] = t
            ib[#ib + 1] = t; ib[#ib + 1] = idx[#batch + 2]
            s = s + A.get(a2, ia) * A.get(b2, ib)
         end
         return s
      end)
      local final = {}
      for i = 1, #batch do final[#final + 1] = batch[i] end
      if #as > 1 then final[#final + 1] = n end
      if #bs > 1 then final[#final + 1] = m end
      return { shape = final, data = r.data }
   end

   local cases = {
      { { 4 }, { 4 } },
      { { 3, 4 }, { 4 } },
      { { 4 }, { 4, 2 } },
      { { 3, 4 }, { 4, 2 } },
      { { 2, 3, 4 }, { 2, 4, 5 } },
      { { 2, 3, 4 }, { 4, 5 } },
      { { 3, 4 }, { 2, 4, 5 } },
      { { 2, 1, 3, 4 }, { 3, 4, 2 } },
      { { 2, 3, 4 }, { 4 } },
   }
   it("forward against a naive product (1-d, 2-d, batched broadcast)", function()
      for _, c in ipairs(cases) do
         local a, b = A.randn(c[1]), A.randn(c[2])
         local want = ref_matmul(A.arr(a), A.arr(b))
         local what = A.shape_str(c[1]) .. " @ " .. A.shape_str(c[2])
         A.close(gan.matmul(a, b), want, 1e-12, 1e-12, what)
         A.close(a:matmul(b), want, 1e-12, 1e-12, what)
         for kind, al in pairs(A.layouts(a)) do
            for kind2, bl in pairs(A.layouts(b)) do
               A.close(gan.matmul(al, bl), want, 1e-12, 1e-12, what .. " " .. kind .. "/" .. kind2)
            end
         end
      end
      -- an expanded operand
      local a, b = A.randn { 1, 3, 4 }, A.randn { 2, 4, 2 }
      A.close(gan.matmul(a:expand(2, 3, 4), b), ref_matmul(A.arr(a:expand(2, 3, 4):contiguous()), A.arr(b)), 1e-12, 1e-12)
   end)

   it("float32 GEMM agrees with the float64 reference", function()
      local a, b = A.randn { 17, 33 }, A.randn { 33, 9 }
      A.close(gan.matmul(a:float(), b:float()), ref_matmul(A.arr(a), A.arr(b)), 1e-4, 1e-4)
   end)

   it("backward passes gradcheck for every case", function()
      for _, c in ipairs(cases) do
         local a, b = A.leaf(A.randn(c[1])), A.leaf(A.randn(c[2]))
         local ok, err = pcall(gradcheck, function(x, y) return gan.matmul(x, y) end, { a, b })
         assert(ok, A.shape_str(c[1]) .. " @ " .. A.shape_str(c[2]) .. ": " .. tostring(err))
      end
      local a, b = A.leaf(A.randn { 3, 4 }), A.leaf(A.randn { 4, 3 })
      check_grad_layouts(function(x, y) return gan.matmul(x, y) end, { a, b })
      check_grad_layouts(function(y, x) return gan.matmul(x, y) end, { b, a })
   end)

   it("errors name the op and both shapes", function()
      A.raises(function() gan.matmul(A.randn { 2, 3 }, A.randn { 4, 5 }) end, "matmul", "(2, 3)", "(4, 5)")
      A.raises(function() gan.matmul(A.randn { 3 }, A.randn { 4 }) end, "matmul", "(3,)", "(4,)")
      A.raises(function() gan.matmul(A.randn { 2, 2, 3 }, A.randn { 3, 4, 5 }) end, "matmul")
      local x = A.leaf(A.randn { 2, 3 })
      A.raises(function() gan.matmul(x, A.randn { 2, 3 }) end, "matmul", "(2, 3)")
   end)
end)
