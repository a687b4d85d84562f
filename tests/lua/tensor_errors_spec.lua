-- Bad input gives a Lua error whose message says what was wrong (never a crash).
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "tensor_helpers.lua")

local function expect(f, ...)
   local frags = { ... }
   assert.has_error(f)
   local ok, e = pcall(f)
   assert.is_false(ok)
   assert.are.equal("string", type(e))
   for _, frag in ipairs(frags) do
      assert(e:find(frag, 1, true), ("error %q does not contain %q"):format(e, frag))
   end
end

local x = gan.zeros(2, 3, 4)
local I = gan.tensor({ { { 0 } } }, { dtype = "int64" })
local I1 = gan.tensor({ 0 }, { dtype = "int64" })

describe("wrong shapes", function()
   it("broadcast failures name both shapes", function()
      expect(function() return gan.zeros(2, 3) + gan.zeros(3, 2) end, "add: shapes (2, 3) and (3, 2) do not broadcast")
      expect(function() return gan.zeros(4):sub(gan.zeros(5)) end, "sub", "(4,)", "(5,)")
      expect(function() return gan.zeros(2, 3):lt(gan.zeros(2, 2)) end, "lt", "(2, 3)", "(2, 2)")
      expect(function() return gan.where(gan.ones(3), gan.ones(2), gan.ones(2)) end, "where", "(3,)", "(2,)")
      expect(function() return gan.zeros(3):add_(gan.zeros(2, 3)) end, "(3,)", "(2, 3)")
   end)

   it("matmul names both shapes", function()
      expect(function() return gan.matmul(gan.zeros(2, 3), gan.zeros(4, 5)) end, "matmul", "(2, 3)", "(4, 5)", "not aligned")
      expect(function() return gan.matmul(gan.zeros(3), gan.zeros(4)) end, "matmul", "(3,)", "(4,)")
      expect(function() return gan.matmul(gan.zeros(2, 2, 3), gan.zeros(3, 3, 1)) end, "matmul", "(2, 2, 3)", "(3, 3, 1)")
   end)

   it("view/reshape/expand name the shapes", function()
      expect(function() return x:view(5, 5) end, "view: shape (5, 5) is invalid for 24 elements")
      expect(function() return x:transpose(1, 2):view(24) end, "view", "(3, 2, 4)", "reshape")
      expect(function() return x:expand(3, 3, 4) end, "expand", "(2, 3, 4)", "(3, 3, 4)")
      expect(function() return gan.cat({ gan.zeros(2, 3), gan.zeros(3, 2) }) end, "cat", "(3, 2)", "(2, 3)")
   end)
end)

describe("wrong types", function()
   it("a string where a tensor is expected", function()
      expect(function() return gan.matmul("a", x) end, "bad argument #1 to 'matmul'", "tensor expected, got string")
      expect(function() return x:index_select(1, "a") end, "tensor expected, got string")
      expect(function() return x:gather(1, "a") end, "tensor expected, got string")
      expect(function() return gan.where("a", x, x) end, "tensor expected, got string")
      expect(function() return x:copy_("a") end, "tensor expected, got string")
      expect(function() return x:masked_fill("a", 1) end, "tensor expected, got string")
      expect(function() return gan.exp("x") end, "gan.exp: expected a tensor as argument 1, got string")
      expect(function() return gan.sum(nil) end, "gan.sum", "got nil")
      expect(function() return gan.cat({ x, "a" }) end, "cat: entry 2 is not a tensor (got string)")
      expect(function() return gan.bernoulli("a") end, "tensor expected, got string")
      expect(function() return gan.rand_like("a") end, "rand_like: expected a tensor as argument 1, got string")
      expect(function() return gan.randn_like(x, "a") end, "randn_like: expected an options table, got string")
      expect(function() return x:type_as("float64") end, "type_as: expected a tensor as argument 1, got string")
   end)

   it("a string or table where a number or tensor is expected", function()
      expect(function() return x + "1" end, "add: expected a tensor or a number as operand 2, got string")
      expect(function() return {} * x end, "mul", "operand 1, got table")
      expect(function() return x:fill_("a") end, "number expected, got string")
      expect(function() return x:clamp("a") end, "number expected, got string")
      expect(function() return gan.full({ 2 }, "x") end, "number expected, got string")
      expect(function() x[1] = "a" end, "number or a tensor")
      expect(function() x.foo = 1 end, "cannot set field 'foo' of a tensor")
   end)

   it("non-integer sizes, dims and positions", function()
      expect(function() return gan.zeros(2.5) end, "size must be an integer")
      expect(function() return gan.zeros({ 2.5 }) end, "shape entry 1 is not an integer")
      expect(function() return x:sum(1.5) end, "no integer representation")
      expect(function() return x:narrow(1, 1.5, 1) end, "no integer representation")
      expect(function() return x[1.5] end, "tensor index must be an integer")
      expect(function() return x:view(2, "a") end, "number expected, got string")
   end)
end)

describe("dims out of range and dim 0", function()
   -- Each call uses the dim `d` in one of the ways a dim can be given.
   local calls = {
      { "size", function(d) return x:size(d) end },
      { "stride", function(d) return x:stride(d) end },
      { "sum", function(d) return x:sum(d) end },
      { "sum", function(d) return x:sum({ 1, d }) end },
      { "mean", function(d) return x:mean(d, true) end },
      { "prod", function(d) return x:prod(d) end },
      { "max", function(d) return x:max(d) end },
      { "min", function(d) return x:min(d) end },
      { "argmax", function(d) return x:argmax(d) end },
      { "argmin", function(d) return x:argmin(d) end },
      { "var", function(d) return x:var(d) end },
      { "std", function(d) return x:std(d) end },
      { "norm", function(d) return x:norm(2, d) end },
      { "transpose", function(d) return x:transpose(1, d) end },
      { "permute", function(d) return x:permute(1, 2, d) end },
      { "narrow", function(d) return x:narrow(d, 1, 1) end },
      { "select", function(d) return x:select(d, 1) end },
      { "squeeze", function(d) return x:squeeze(d) end },
      { "flatten", function(d) return x:flatten(d) end },
      { "cat", function(d) return gan.cat({ x, x }, d) end },
      { "index_select", function(d) return x:index_select(d, I1) end },
      { "gather", function(d) return x:gather(d, I) end },
      { "scatter_add", function(d) return x:scatter_add(d, I, x) end },
      { "scatter_add_", function(d) return x:scatter_add_(d, I, x) end },
   }

   for _, c in ipairs(calls) do
      it(c[1] .. " names the dim as given", function()
         expect(function() return c[2](5) end, c[1] .. ": dim 5 out of range for a 3-d tensor")
         expect(function() return c[2](-4) end, "dim -4 out of range")
         expect(function() return c[2](0) end, "dim 0 is invalid", "1-based")
      end)
   end

   it("unsqueeze counts the new dim", function()
      expect(function() return x:unsqueeze(5) end, "unsqueeze: dim 5 out of range for a 4-d tensor")
      expect(function() return x:unsqueeze(0) end, "dim 0 is invalid")
      assert.are.same({ 2, 3, 4, 1 }, x:unsqueeze(4):size())
   end)

   it("split and chunk pass bad dims on", function()
      expect(function() return x:split(2, 5) end, "dim 5 out of range")
      expect(function() return x:chunk(2, 0) end, "dim 0 is invalid")
   end)

   it("repeated dims are an error", function()
      expect(function() return x:sum({ 2, -2 }) end, "sum: dim 2 given twice")
      expect(function() return x:permute(3, 3, 1) end, "permute: dim 3 given twice")
   end)
end)

describe("positions and indices out of range", function()
   it("x[i], select and narrow", function()
      expect(function() return x[3] end, "index 3 out of range for size 2")
      expect(function() return x[0] end, "index 0 out of range")
      expect(function() return x[-3] end, "index -3 out of range")
      expect(function() x[5] = 1 end, "index 5 out of range")
      expect(function() return x:select(2, 4) end, "index 4 out of range for size 3")
      expect(function() return x:narrow(3, 4, 2) end, "narrow: start 4 with length 2 is out of range for dim 3 of size 4")
      expect(function() return x:narrow(3, 1, -1) end, "narrow", "out of range")
      expect(function() return x:narrow(3, 0, 1) end, "start 0 is invalid")
      expect(function() return gan.tensor(1)[1] end, "cannot index a 0-d tensor")
   end)

   it("index tensors", function()
      local v = gan.arange(5)
      expect(function() return v:index_select(1, gan.tensor({ 5 }, { dtype = "int64" })) end, "index_select: index 5 out of range")
      expect(function() return v:gather(1, gan.tensor({ -1 }, { dtype = "int64" })) end, "gather: index -1 out of range")
      expect(function() return v:scatter_add(1, gan.tensor({ 7 }, { dtype = "int64" }), v) end, "scatter_add: index 7 out of range")
      expect(function() return v:index_select(1, gan.tensor({ 1 })) end, "index must be an int64 tensor, got float32")
   end)

   it("item and empty reductions", function()
      expect(function() return x:item() end, "item: tensor of shape (2, 3, 4) has 24 elements, expected exactly 1")
      expect(function() return gan.zeros(0):max() end, "max: cannot reduce over an empty dimension")
   end)
end)

describe("dtypes", function()
   it("mismatched dtypes", function()
      local f, d, i = gan.ones(2), gan.ones(2, { dtype = "float64" }), gan.arange(2)
      expect(function() return f + d end, "add: dtypes differ (float32 and float64)")
      expect(function() return i:mul(f) end, "mul: dtypes differ (int64 and float32)")
      expect(function() return f:maximum_(d) end, "maximum", "dtypes differ")
      expect(function() return gan.matmul(f, d) end, "matmul: dtypes differ")
      expect(function() return gan.where(f, f, d) end, "where: dtypes differ")
      expect(function() return gan.cat({ f, i }) end, "cat: tensor 2 has dtype int64, tensor 1 has float32")
      expect(function() return gan.zeros(2):scatter_add(1, i, d) end, "scatter_add", "dtype")
   end)

   it("int64-unsupported ops name the op and suggest :float()", function()
      local i = gan.arange(4)
      for _, f in ipairs {
         { "div", function() return i / 2 end }, { "exp", function() return i:exp() end },
         { "log", function() return i:log() end }, { "mean", function() return i:mean() end },
         { "var", function() return i:var() end }, { "std", function() return i:std() end },
         { "matmul", function() return gan.matmul(i, i) end }, { "norm", function() return i:norm() end },
         { "sqrt", function() return i:sqrt() end }, { "pow", function() return i ^ i end },
      } do
         expect(f[2], f[1], "int64", ":float()")
      end
   end)

   it("unknown dtype names", function()
      expect(function() return gan.zeros(2, { dtype = "float16" }) end, "unknown dtype 'float16' (expected float32, float64 or int64)")
      expect(function() return x:to("half") end, "unknown dtype 'half'")
      expect(function() return gan.tensor({ 1 }, { dtype = "int32" }) end, "unknown dtype 'int32'")
      expect(function() return gan.rand(2, { dtype = "bf16" }) end, "unknown dtype 'bf16'")
      expect(function() return gan.arange(3, { dtype = "uint8" }) end, "unknown dtype 'uint8'")
   end)
end)

describe("options tables", function()
   it("unknown option keys name the function and the key", function()
      expect(function() return gan.zeros(2, { dtyp = "float64" }) end, "zeros: unknown option 'dtyp'")
      expect(function() return gan.ones({ 2 }, { shape = 1 }) end, "ones: unknown option 'shape'")
      expect(function() return gan.empty(2, { x = 1 }) end, "empty: unknown option 'x'")
      expect(function() return gan.full({ 2 }, 1, { dtyp = 1 }) end, "full: unknown option 'dtyp'")
      expect(function() return gan.tensor({ 1 }, { foo = 1 }) end, "tensor: unknown option 'foo'")
      expect(function() return gan.arange(3, { step = 2 }) end, "arange: unknown option 'step'")
      expect(function() return gan.linspace(0, 1, 3, { n = 1 }) end, "linspace: unknown option 'n'")
      expect(function() return gan.eye(2, { k = 1 }) end, "eye: unknown option 'k'")
      expect(function() return gan.ones_like(x, { foo = 1 }) end, "ones_like: unknown option 'foo'")
      expect(function() return gan.rand(2, { seed = 1 }) end, "rand: unknown option 'seed'")
      expect(function() return gan.randn(2, { mean = 1 }) end, "randn: unknown option 'mean'")
      expect(function() return gan.randint(5, { 2 }, { low = 1 }) end, "randint: unknown option 'low'")
      expect(function() return gan.trunc_normal(2, { lo = 1 }) end, "trunc_normal: unknown option 'lo'")
      expect(function() return gan.randperm(3, { dtype = "float32" }) end, "randperm: unknown option 'dtype'")
      expect(function() return gan.rand_like(x, { dtyp = "float32" }) end, "rand: unknown option 'dtyp'")
   end)

   it("a non-table where options are expected", function()
      expect(function() return gan.zeros(2, "x") end, "zeros: expected an options table, got string")
      expect(function() return gan.tensor({ 1 }, "float64") end, "tensor: expected an options table, got string")
   end)
end)

describe("negative and invalid sizes", function()
   it("are rejected by every constructor", function()
      expect(function() return gan.zeros(-1) end, "size must be >= 0")
      expect(function() return gan.zeros({ 2, -3 }) end, "shape entry 2 is negative (-3)")
      expect(function() return gan.empty(2, -1) end, "size must be >= 0")
      expect(function() return gan.full({ -2 }, 1) end, "negative")
      expect(function() return gan.full(-2, 1) end, "size must be >= 0")
      expect(function() return gan.rand(-2) end, "size must be >= 0")
      expect(function() return gan.randn({ -2 }) end, "negative")
      expect(function() return gan.randint(10, { -1 }) end, "negative")
      expect(function() return gan.eye(-1) end, "eye: sizes must be >= 0")
      expect(function() return gan.linspace(0, 1, -1) end, "linspace: steps must be >= 0")
      expect(function() return gan.randperm(-1) end, "randperm: n must be >= 0")
      expect(function() return gan.arange(0, 5, -1) end, "arange", "goes away from end")
      expect(function() return gan.arange(0, 5, 0) end, "arange", "non-zero step")
   end)

   it("are rejected by view, reshape and expand", function()
      expect(function() return x:view(-2, 12) end, "view", "invalid size -2")
      expect(function() return x:reshape(-3, 8) end, "reshape", "invalid size -3")
      expect(function() return x:expand(2, -2, 4) end, "expand", "(2, -2, 4)")
      expect(function() return gan.zeros(3):view(-1, -1) end, "only one dim can be -1")
   end)

   it("too many dims", function()
      local s = {}
      for i = 1, 17 do s[i] = 1 end
      expect(function() return gan.zeros(s) end, "at most 16")
      expect(function() return gan.zeros(table.unpack(s)) end, "at most 16")
   end)
end)
