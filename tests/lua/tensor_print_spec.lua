-- tostring(tensor): values, size and dtype; summaries for large tensors; number formats.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "tensor_helpers.lua")

local function has(s, frag)
   assert(s:find(frag, 1, true), ("%q does not contain %q"):format(s, frag))
end

-- Numbers appearing in the body of a printed tensor (before ", size=").
local function numbers(s)
   local body = s:match("^tensor%((.*), size=")
   local out = {}
   for tok in body:gmatch("[%-%d%.e%+]+") do
      if tok:find("%d") then out[#out + 1] = tonumber((tok:gsub("%.$", ""))) end
   end
   return out
end

describe("tostring", function()
   it("shows values, size and dtype", function()
      local s = tostring(gan.tensor({ { 1, 2, 3 }, { 4, 5, 6 } }))
      assert.are.equal("tensor([[1., 2., 3.],\n        [4., 5., 6.]], size={2, 3}, dtype=float32)", s)
      has(s, "size={2, 3}")
      has(s, "dtype=float32")
   end)

   it("shows fractions with 4 decimals, aligned", function()
      assert.are.equal("tensor([ 1.5000, -2.2500], size={2}, dtype=float32)", tostring(gan.tensor({ 1.5, -2.25 })))
      assert.are.equal("tensor([0.1000], size={1}, dtype=float64)", tostring(gan.tensor({ 0.1 }, { dtype = "float64" })))
   end)

   it("prints every value of a small random tensor to 4 decimals", function()
      gan.manual_seed(1)
      local x = gan.randn(3, 4)
      local got = numbers(tostring(x))
      local want = H.flat(x:totable())
      assert.are.equal(#want, #got)
      for i = 1, #want do
         assert.is_true(math.abs(got[i] - want[i]) <= 0.00005 + 1e-9, ("value %d: %g vs %g"):format(i, got[i], want[i]))
      end
   end)

   it("formats int64 without decimals, right-aligned", function()
      assert.are.equal("tensor([[-10, 200],\n        [  3,   4]], size={2, 2}, dtype=int64)",
         tostring(gan.tensor({ { -10, 200 }, { 3, 4 } }, { dtype = "int64" })))
      local big = tostring(gan.tensor({ 4611686018427387904, -1 }, { dtype = "int64" }))
      has(big, "4611686018427387904")
      has(big, "dtype=int64")
      assert.is_nil(big:find("e+", 1, true))
   end)

   it("prints 0-d and empty tensors", function()
      assert.are.equal("tensor(3.5000, size={}, dtype=float32)", tostring(gan.tensor(3.5)))
      assert.are.equal("tensor(7, size={}, dtype=int64)", tostring(gan.tensor(7, { dtype = "int64" })))
      assert.are.equal("tensor([], size={0, 3}, dtype=float32)", tostring(gan.zeros(0, 3)))
   end)

   it("uses scientific notation for wide ranges and shows nan/inf", function()
      has(tostring(gan.tensor({ 1e10, 1 })), "1.0000e+10")
      has(tostring(gan.tensor({ 1e-5, 1 })), "1.0000e-05")
      assert.are.equal("tensor([ nan,  inf, -inf,   1.], size={4}, dtype=float32)",
         tostring(gan.tensor({ 0 / 0, math.huge, -math.huge, 1 })))
      assert.is_nil(tostring(gan.tensor({ -0.0, 1 })):find("-0", 1, true))
   end)

   it("prints 3-d tensors with a blank line between matrices", function()
      local s = tostring(gan.arange(8):view(2, 2, 2))
      assert.are.equal("tensor([[[0, 1],\n         [2, 3]],\n\n        [[4, 5],\n         [6, 7]]], size={2, 2, 2}, dtype=int64)", s)
   end)

   it("summarises tensors over 1000 elements with ...", function()
      local s = tostring(gan.arange(2000))
      assert.are.equal("tensor([   0,    1,    2, ..., 1997, 1998, 1999], size={2000}, dtype=int64)", s)
      local m = tostring(gan.arange(5000):float():view(50, 100))
      has(m, "...")
      has(m, "size={50, 100}")
      has(m, "4999.")
      assert.is_nil(m:find("2500.", 1, true))
      local lines = 0
      for _ in m:gmatch("\n") do lines = lines + 1 end
      assert.are.equal(6, lines)   -- 3 rows, "...", 3 rows
      local small = tostring(gan.arange(1000))
      assert.is_nil(small:find("...", 1, true))
   end)

   it("prints non-contiguous views in their own order", function()
      local t = gan.tensor({ { 1, 2 }, { 3, 4 } }):t()
      assert.are.equal("tensor([[1., 3.],\n        [2., 4.]], size={2, 2}, dtype=float32)", tostring(t))
      assert.are.equal("tensor([5., 5., 5.], size={3}, dtype=float32)", tostring(gan.tensor({ 5 }):expand(3)))
   end)

   it("wraps long rows at 80 columns", function()
      local s = tostring(gan.arange(30):float())
      for line in s:gmatch("[^\n]+") do
         assert.is_true(#line <= 80 + #", size={30}, dtype=float32)", line)
      end
      assert.are.same(H.build({ 30 }, function(i) return i[1] - 1 end), numbers(s))
   end)
end)
