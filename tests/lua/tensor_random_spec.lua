-- Random numbers: reproducibility, generators and their state, distribution statistics
-- (computed in Lua from totable()), and independence from the thread count.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "tensor_helpers.lua")

local function stats(x)
   local v = H.flat(x:totable())
   local n, s, mn, mx = #v, 0, math.huge, -math.huge
   for _, e in ipairs(v) do
      s = s + e
      if e < mn then mn = e end
      if e > mx then mx = e end
   end
   local mean = s / n
   local ss, m4 = 0, 0
   for _, e in ipairs(v) do
      local d = e - mean
      ss = ss + d * d
      m4 = m4 + d ^ 4
   end
   local var = ss / (n - 1)
   return { n = n, mean = mean, var = var, std = math.sqrt(var), min = mn, max = mx,
      kurt = (m4 / n) / (ss / n) ^ 2, values = v }
end

local function near(got, want, tol, what)
   assert(math.abs(got - want) <= tol, ("%s = %.6f, expected %.6f +- %.6f"):format(what, got, want, tol))
end

local N = 100000

describe("seeding", function()
   it("manual_seed makes every sampler reproducible", function()
      local function draw()
         return {
            gan.rand(50):totable(), gan.randn(3, 4, { dtype = "float64" }):totable(),
            gan.randint(100, { 20 }):totable(), gan.randperm(10):totable(),
            gan.bernoulli(gan.full({ 20 }, 0.5)):totable(),
            gan.multinomial(gan.tensor({ 1, 2, 3 }), 10, true):totable(),
            gan.trunc_normal(10):totable(), gan.zeros(5):normal_(2, 3):totable(),
         }
      end
      gan.manual_seed(42)
      local a = draw()
      gan.manual_seed(42)
      local b = draw()
      assert.are.same(a, b)
   end)

   it("successive draws differ, different seeds differ", function()
      gan.manual_seed(1)
      local a = gan.rand(20):totable()
      local b = gan.rand(20):totable()
      assert.are_not.same(a, b)
      gan.manual_seed(2)
      local c = gan.rand(20):totable()
      assert.are_not.same(a, c)
      gan.manual_seed(1)
      assert.are.same(a, gan.rand(20):totable())
   end)

   it("get_rng_state / set_rng_state replay the default generator", function()
      gan.manual_seed(3)
      gan.rand(7)
      local s = gan.get_rng_state()
      assert.are.equal(3, s.seed)
      local a = gan.randn(30):totable()
      gan.set_rng_state(s)
      assert.are.same(a, gan.randn(30):totable())
   end)
end)

describe("gan.Generator", function()
   it("is independent of the default generator", function()
      gan.manual_seed(11)
      local a = gan.rand(10):totable()
      gan.manual_seed(11)
      local g = gan.Generator(99)
      local from_g = gan.rand(10, { generator = g }):totable()
      local b = gan.rand(10):totable()
      assert.are.same(a, b)
      assert.are_not.same(a, from_g)
   end)

   it("with the same seed gives the same stream as manual_seed", function()
      gan.manual_seed(5)
      local a = gan.randn(12):totable()
      local g = gan.Generator(5)
      assert.are.same(a, gan.randn(12, { generator = g }):totable())
      assert.are.equal(5, g:initial_seed())
   end)

   it("two generators with one seed agree; their streams advance separately", function()
      local g1, g2 = gan.Generator(8), gan.Generator(8)
      local a1 = gan.rand(5, { generator = g1 }):totable()
      local a2 = gan.rand(5, { generator = g2 }):totable()
      assert.are.same(a1, a2)
      local b1 = gan.rand(5, { generator = g1 }):totable()
      assert.are_not.same(a1, b1)
      assert.are.same(b1, gan.rand(5, { generator = g2 }):totable())
   end)

   it("get_state/set_state replays the same numbers for every sampler", function()
      local g = gan.Generator(21)
      gan.randn(3, { generator = g })
      local s = g:get_state()
      assert.are.equal(21, s.seed)
      assert.are.equal("integer", math.type(s.offset))
      local function draw()
         return { gan.rand(4, { generator = g }):totable(), gan.randint(0, 50, { 6 }, { generator = g }):totable(),
            gan.randperm(8, { generator = g }):totable(), gan.zeros(3):uniform_(-1, 1, { generator = g }):totable(),
            gan.multinomial(gan.tensor({ 0.5, 0.5 }), 4, true, { generator = g }):totable() }
      end
      local a = draw()
      g:set_state(s)
      assert.are.same(a, draw())
      g:manual_seed(21)
      gan.randn(3, { generator = g })
      assert.are.same(a, draw())
   end)

   it("prints its seed and offset and rejects bad options", function()
      local g = gan.Generator(4)
      assert.are.equal("gan.Generator(seed=4, offset=0)", tostring(g))
      H.assert_err(function() gan.rand(2, { generator = 5 }) end, "generator", "gan.Generator")
      H.assert_err(function() g:set_state({ seed = "x" }) end, "set_state")
      H.assert_err(function() gan.Generator("abc") end, "seed must be an integer")
   end)
end)

describe("distributions", function()
   it("rand: uniform on [0, 1), mean 1/2, variance 1/12", function()
      gan.manual_seed(100)
      local x = gan.rand(N)
      assert.are.equal("float32", x.dtype)
      local s = stats(x)
      assert.is_true(s.min >= 0)
      assert.is_true(s.max < 1)
      near(s.mean, 0.5, 5 * math.sqrt(1 / 12 / N), "mean")
      near(s.var, 1 / 12, 0.0015, "variance")
      -- every tenth of the interval gets about a tenth of the values
      local bins = {}
      for _, v in ipairs(s.values) do local b = math.floor(v * 10) + 1; bins[b] = (bins[b] or 0) + 1 end
      for b = 1, 10 do near(bins[b] / N, 0.1, 5 * math.sqrt(0.09 / N), "bin " .. b) end
   end)

   it("rand in float64 and uniform_(lo, hi)", function()
      gan.manual_seed(101)
      local s = stats(gan.rand(N, { dtype = "float64" }))
      near(s.mean, 0.5, 0.005, "mean")
      local u = stats(gan.zeros(N):uniform_(-2, 6))
      assert.is_true(u.min >= -2 and u.max < 6)
      near(u.mean, 2, 5 * 8 * math.sqrt(1 / 12 / N), "uniform_ mean")
      near(u.var, 64 / 12, 0.1, "uniform_ variance")
   end)

   it("randn: mean 0, std 1, normal shape on 1e5 samples", function()
      gan.manual_seed(102)
      local s = stats(gan.randn(N))
      near(s.mean, 0, 5 / math.sqrt(N), "mean")
      near(s.std, 1, 0.012, "std")
      near(s.kurt, 3, 0.08, "kurtosis")
      local within = 0
      for _, v in ipairs(s.values) do if math.abs(v) < 1 then within = within + 1 end end
      near(within / N, 0.682689, 0.008, "P(|x| < 1)")
   end)

   it("randn float64 and normal_(mean, std)", function()
      gan.manual_seed(103)
      local s = stats(gan.randn(N, { dtype = "float64" }))
      near(s.mean, 0, 5 / math.sqrt(N), "mean")
      near(s.std, 1, 0.012, "std")
      local n = stats(gan.zeros(N, { dtype = "float64" }):normal_(3, 0.5))
      near(n.mean, 3, 5 * 0.5 / math.sqrt(N), "normal_ mean")
      near(n.std, 0.5, 0.006, "normal_ std")
   end)

   it("trunc_normal stays within [a, b] with the right mean and variance", function()
      gan.manual_seed(104)
      local s = stats(gan.trunc_normal(N, { a = -1, b = 1 }))
      assert.is_true(s.min >= -1 and s.max <= 1)
      near(s.mean, 0, 0.005, "mean")
      -- variance of N(0,1) truncated to [-1, 1]: 1 - 2 phi(1) / (Phi(1) - Phi(-1))
      local phi1 = math.exp(-0.5) / math.sqrt(2 * math.pi)
      near(s.var, 1 - 2 * phi1 / 0.6826894921370859, 0.005, "variance")
      local t = stats(gan.trunc_normal(N, { mean = 2, std = 0.5, a = 1, b = 3 }))
      assert.is_true(t.min >= 1 and t.max <= 3)
      near(t.mean, 2, 0.005, "shifted mean")
      local d = stats(gan.trunc_normal(N))   -- defaults: N(0, 1) on [-2, 2]
      assert.is_true(d.min >= -2 and d.max <= 2)
      near(d.mean, 0, 0.01, "default mean")
      local z = stats(gan.zeros(2000):trunc_normal_(0, 1, 0.5, 0.6))
      assert.is_true(z.min >= 0.5 and z.max <= 0.6)
   end)

   it("randint: integer dtype, values in [low, high), all values hit evenly", function()
      gan.manual_seed(105)
      local x = gan.randint(10, { 20000 })
      assert.are.equal("int64", x.dtype)
      local counts, bad = {}, 0
      for _, v in ipairs(H.flat(x:totable())) do
         if math.type(v) ~= "integer" or v < 0 or v >= 10 then bad = bad + 1 end
         counts[v] = (counts[v] or 0) + 1
      end
      assert.are.equal(0, bad)
      for v = 0, 9 do near(counts[v], 2000, 5 * math.sqrt(2000 * 0.9), "count of " .. v) end
      local y = H.flat(gan.randint(-3, 3, { 2, 500 }):totable())
      local seen = {}
      for _, v in ipairs(y) do assert.is_true(v >= -3 and v < 3); seen[v] = true end
      for v = -3, 2 do assert.is_true(seen[v], "value " .. v .. " never drawn") end
      local f = gan.randint(5, { 100 }, { dtype = "float32" })
      assert.are.equal("float32", f.dtype)
      for _, v in ipairs(H.flat(f:totable())) do assert.are.equal(math.floor(v), v) end
      local r = gan.zeros(1000, { dtype = "int64" }):random_(7, 9)
      for _, v in ipairs(H.flat(r:totable())) do assert.is_true(v == 7 or v == 8) end
   end)

   it("bernoulli with a scalar probability", function()
      gan.manual_seed(106)
      local x = gan.zeros(N):bernoulli_(0.3)
      local s = stats(x)
      local bad = 0
      for _, v in ipairs(s.values) do if v ~= 0 and v ~= 1 then bad = bad + 1 end end
      assert.are.equal(0, bad)
      near(s.mean, 0.3, 5 * math.sqrt(0.21 / N), "frequency")
      assert.are.equal(0, gan.zeros(100):bernoulli_(0):sum():item())
      assert.are.equal(100, gan.zeros(100):bernoulli_(1):sum():item())
   end)

   it("bernoulli with tensor probabilities", function()
      gan.manual_seed(107)
      local p = gan.tensor({ { 0.1 }, { 0.5 }, { 0.9 } }):expand(3, 20000):contiguous()
      local x = gan.bernoulli(p)
      assert.are.same({ 3, 20000 }, x:size())
      local rows = x:totable()
      for i, want in ipairs { 0.1, 0.5, 0.9 } do
         local s = 0
         for _, v in ipairs(rows[i]) do s = s + v end
         near(s / 20000, want, 5 * math.sqrt(want * (1 - want) / 20000), "row " .. i)
      end
      local y = gan.zeros(2, 4):bernoulli_(gan.tensor({ 0, 1, 0, 1 }))   -- broadcast
      H.assert_exact(y, { { 0, 1, 0, 1 }, { 0, 1, 0, 1 } })
      H.assert_err(function() gan.bernoulli(gan.full({ 2 }, 1.5)) end, "bernoulli", "[0, 1]")
   end)

   it("multinomial with replacement follows the weights", function()
      gan.manual_seed(108)
      local probs = { 0.1, 0.2, 0.7 }
      local x = gan.multinomial(gan.tensor(probs), N, true)
      assert.are.equal("int64", x.dtype)
      assert.are.same({ N }, x:size())
      local counts = { 0, 0, 0 }
      for _, v in ipairs(H.flat(x:totable())) do counts[v + 1] = counts[v + 1] + 1 end
      for k, p in ipairs(probs) do near(counts[k] / N, p, 5 * math.sqrt(p * (1 - p) / N), "category " .. (k - 1)) end
      -- unnormalised weights and 2-d rows
      local y = gan.multinomial(gan.tensor({ { 1, 0, 3 }, { 0, 5, 0 } }), 4000, true):totable()
      local c1 = { 0, 0, 0 }
      for _, v in ipairs(y[1]) do c1[v + 1] = c1[v + 1] + 1 end
      assert.are.equal(0, c1[2])
      near(c1[3] / 4000, 0.75, 5 * math.sqrt(0.1875 / 4000), "row 1 category 2")
      for _, v in ipairs(y[2]) do assert.are.equal(1, v) end
   end)

   it("multinomial without replacement draws distinct categories", function()
      gan.manual_seed(109)
      for _ = 1, 50 do
         local x = gan.multinomial(gan.tensor({ 1, 2, 3, 4, 5 }), 5):totable()
         table.sort(x)
         assert.are.same({ 0, 1, 2, 3, 4 }, x)
      end
      local y = gan.multinomial(gan.tensor({ { 1, 0, 1, 1 }, { 5, 5, 0, 5 } }), 3):totable()
      for r, zero in ipairs { 1, 2 } do
         local seen = {}
         for _, v in ipairs(y[r]) do
            assert.are_not.equal(zero, v)
            assert.is_nil(seen[v])
            seen[v] = true
         end
      end
      -- the heaviest category comes first most often
      local first = 0
      for _ = 1, 2000 do
         if gan.multinomial(gan.tensor({ 1, 1, 8 }), 2)[1] == 2 then first = first + 1 end
      end
      near(first / 2000, 0.8, 5 * math.sqrt(0.16 / 2000), "P(first = heaviest)")
      H.assert_err(function() gan.multinomial(gan.tensor({ 1, 0, 1 }), 3) end, "multinomial", "without replacement")
      H.assert_err(function() gan.multinomial(gan.tensor({ 1, -1 }), 1) end, "multinomial", "invalid weight")
      H.assert_err(function() gan.multinomial(gan.tensor({ 0, 0 }), 1) end, "multinomial", "sums to zero")
   end)

   it("randperm is a permutation of 0..n-1, uniformly", function()
      gan.manual_seed(110)
      for _, n in ipairs { 1, 2, 10, 1000 } do
         local p = gan.randperm(n)
         assert.are.equal("int64", p.dtype)
         local v = p:totable()
         table.sort(v)
         for i = 1, n do assert.are.equal(i - 1, v[i]) end
      end
      assert.are.same({ 0 }, gan.randperm(0):size())
      local first = { 0, 0, 0, 0 }
      for _ = 1, 4000 do
         local f = gan.randperm(4)[1]
         first[f + 1] = first[f + 1] + 1
      end
      for k = 1, 4 do near(first[k], 1000, 5 * math.sqrt(4000 * 0.25 * 0.75), "first = " .. (k - 1)) end
      H.assert_err(function() gan.randperm(-1) end, "randperm", ">= 0")
   end)
end)

describe("sampling into views and across thread counts", function()
   it("an in-place draw into a non-contiguous view fills it in the view's row order", function()
      gan.manual_seed(200)
      local want = gan.rand(4, 3):totable()
      gan.manual_seed(200)
      local base = gan.zeros(3, 4)
      base:t():uniform_()
      H.assert_exact(base:t(), want)
   end)

   it("gives identical tensors with 1 and 2 threads (> 100k elements)", function()
      local old = gan.get_num_threads()
      local function draw()
         gan.manual_seed(300)
         return {
            gan.rand(150000):totable(), gan.randn(150000, { dtype = "float64" }):totable(),
            gan.trunc_normal(120000):totable(), gan.randint(1000, { 120000 }):totable(),
            gan.zeros(120000):bernoulli_(0.25):totable(),
            gan.bernoulli(gan.full({ 120000 }, 0.6)):totable(),
            gan.zeros(400, 300):t():normal_():totable(),
         }
      end
      gan.set_num_threads(1)
      assert.are.equal(1, gan.get_num_threads())
      local one = draw()
      gan.set_num_threads(2)
      local two = draw()
      gan.set_num_threads(old)
      for i = 1, #one do H.assert_same(two[i], one[i], "draw " .. i) end
   end)

   it("rejects a non-float target for float distributions and empty ranges", function()
      H.assert_err(function() gan.zeros(2, { dtype = "int64" }):uniform_() end, "uniform_", "float", "int64")
      H.assert_err(function() gan.randint(3, 3, { 2 }) end, "randint", "high")
      H.assert_err(function() gan.randint(3, 4) end, "randint", "size must be a table")
      H.assert_err(function() gan.zeros(2):normal_(0, -1) end, "normal_", "std")
      H.assert_err(function() gan.trunc_normal(3, { a = 1, b = 0 }) end, "trunc_normal", "a < b")
      H.assert_err(function() gan.rand(3, { dtyp = "float64" }) end, "rand", "unknown option 'dtyp'")
      H.assert_err(function() gan.set_num_threads(0) end, "thread count")
   end)
end)
