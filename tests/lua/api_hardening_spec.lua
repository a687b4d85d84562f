-- Issue 25, the tensor API: out-of-range integer options, infinities in logsumexp and in
-- the BCE gradient, and errors that name what the caller wrote (1-based dims, the option
-- the caller passed). Each error is compared with the exact message, raised at the caller.
local gan = require("gan")
local F = gan.nn.functional

local function same(a, b)
   return table.concat(a:size(), ",") == table.concat(b:size(), ",") and (a - b):abs():max():item() == 0
end
local I = { dtype = "int64" }

local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "hardening_helpers.lua")

local err_of = H.err_of   -- the message of f(...)'s error, raised at the caller

describe("integer options reaching C ints are range-checked, never truncated", function()
   local x, w = gan.randn { 1, 4, 6, 6 }, gan.randn { 4, 4, 3, 3 }

   it("conv2d stride, padding, dilation and groups", function()
      assert.are.equal("conv2d: stride must be an integer in [1, 2147483647], got -4294967294",
         err_of(function() return F.conv2d(x, w, nil, { stride = -(1 << 32) + 2 }) end))
      assert.are.equal("conv2d: padding must be an integer in [0, 2147483647], got 4294967297",
         err_of(function() return F.conv2d(x, w, nil, { padding = (1 << 32) + 1 }) end))
      assert.are.equal("conv2d: groups must be an integer in [1, 2147483647], got 4294967297",
         err_of(function() return F.conv2d(x, w, nil, { groups = (1 << 32) + 1 }) end))
      assert.are.equal("conv2d: dilation must be an integer in [1, 2147483647], got 0",
         err_of(function() return F.conv2d(x, w, nil, { dilation = { 1, 0 } }) end))
      assert.are.equal("conv2d: stride must be an integer in [1, 2147483647], got 1.5",
         err_of(function() return F.conv2d(x, w, nil, { stride = 1.5 }) end))
      assert.are.equal("conv2d: padding must be an integer or a pair of integers",
         err_of(function() return F.conv2d(x, w, nil, { padding = { 1, 1, 1 } }) end))
      -- integral floats are integers (as luaL_checkinteger takes them): (k - 1) / 2 works
      local a = F.conv2d(x, w, nil, { padding = (3 - 1) / 2, stride = 2.0 })
      local b = F.conv2d(x, w, nil, { padding = 1, stride = 2 })
      assert.is_true(same(a, b))
   end)

   it("conv_transpose2d output_padding and max_pool2d", function()
      assert.are.equal("conv_transpose2d: output_padding must be an integer in [0, 2147483647], got -1",
         err_of(function() return F.conv_transpose2d(x, w, nil, { output_padding = -1 }) end))
      assert.are.equal("max_pool2d: stride must be an integer >= 1 or a pair of them, got 0",
         err_of(function() return F.max_pool2d(x, 2, { stride = 0 }) end))
      assert.are.equal("max_pool2d: padding must be an integer in [0, 2147483647], got 4294967296",
         err_of(function() return gan.core.max_pool2d_indices(x, { 2, 2 }, { 2, 2 }, { 1 << 32, 0 }, { 1, 1 }) end))
   end)

   it("the thread count", function()
      assert.are.equal("set_num_threads: the thread count must be an integer in [1, 1024], got -3",
         err_of(function() gan.set_num_threads(-3) end))
      assert.are.equal("set_num_threads: the thread count must be an integer in [1, 1024], got 4294967297",
         err_of(function() gan.set_num_threads((1 << 32) + 1) end))
   end)
end)

describe("infinities", function()
   local inf = math.huge

   it("logsumexp of a row of -inf is -inf, of a row with +inf is inf (as PyTorch)", function()
      local x = gan.tensor { { -inf, -inf }, { inf, 1 }, { inf, -inf }, { 0, math.log(3) } }
      local y = F.logsumexp(x, 2):totable()
      assert.are.equal(-inf, y[1])
      assert.are.equal(inf, y[2])
      assert.are.equal(inf, y[3])
      assert.is_true(math.abs(y[4] - math.log(4)) < 1e-6)
      local n = F.logsumexp(gan.tensor { { 0 / 0, 1 } }, 2):item()
      assert.is_true(n ~= n, "NaN stays NaN")
      -- finite rows keep their gradient (softmax)
      local z = gan.tensor({ { 0, math.log(3) } }, { dtype = "float64" }):requires_grad_()
      F.logsumexp(z, 2):sum():backward()
      local g = z.grad:totable()[1]
      assert.is_true(math.abs(g[1] - 0.25) < 1e-12 and math.abs(g[2] - 0.75) < 1e-12)
   end)

   it("BCE with logits: the gradient at ±inf logits is sigmoid(x) - t (as PyTorch)", function()
      local x = gan.tensor({ -inf, -inf, inf, inf, 0 }, { dtype = "float64" }):requires_grad_()
      local t = gan.tensor({ 0, 1, 0, 1, 1 }, { dtype = "float64" })
      local loss = F.binary_cross_entropy_with_logits(x, t, { reduction = "none" })
      assert.are.equal(inf, loss:totable()[4 - 1])
      assert.is_true(math.abs(loss:totable()[5] - math.log(2)) < 1e-15)
      loss:sum():backward()
      assert.are.same({ 0, -1, 1, 0, -0.5 }, x.grad:totable())
      -- softplus keeps sigmoid as its derivative at 0 and at the infinities
      local s = gan.tensor({ -inf, 0, inf }, { dtype = "float64" }):requires_grad_()
      F.softplus(s):sum():backward()
      assert.are.same({ 0, 0.5, 1 }, s.grad:totable())
   end)
end)

describe("errors name what the caller wrote", function()
   it("pixel_shuffle and pixel_unshuffle factors", function()
      assert.are.equal("pixel_shuffle: the factor must be an integer >= 1, got 0",
         err_of(function() return F.pixel_shuffle(gan.randn { 1, 4, 2, 2 }, 0) end))
      assert.are.equal("pixel_unshuffle: the factor must be an integer >= 1, got 1.5",
         err_of(function() return F.pixel_unshuffle(gan.randn { 1, 1, 4, 4 }, 1.5) end))
   end)

   it("stack names its own dim", function()
      local a = gan.randn { 2, 2 }
      assert.are.equal("stack: dim 4 out of range for stacking 2-d tensors (1..3 or -3..-1)",
         err_of(function() return gan.stack({ a, a }, 4) end))
      assert.are.equal("stack: dim 0 out of range for stacking 2-d tensors (1..3 or -3..-1)",
         err_of(function() return gan.stack({ a, a }, 0) end))
      assert.are.same({ 2, 2, 2 }, gan.stack({ a, a }, 3):size())
      assert.are.same({ 2, 2, 2 }, gan.stack({ a, a }, -3):size())
   end)

   it("index_select, gather, scatter_add and cat report 1-based dims", function()
      local x = gan.randn { 2, 3 }
      assert.are.equal("index_select: index 5 out of range for dim 2 of size 3",
         err_of(function() return x:index_select(2, gan.tensor({ 5 }, I)) end))
      assert.are.equal("index_select: index -1 out of range for dim 1 of size 2",
         err_of(function() return x:index_select(1, gan.tensor({ -1 }, I)) end))
      assert.are.equal("gather: index 7 out of range for dim 2 of size 3",
         err_of(function() return x:gather(2, gan.tensor({ { 7 } }, I)) end))
      assert.are.equal("gather: index of shape (3, 1) is larger than the tensor (2, 3) in dim 1",
         err_of(function() return x:gather(2, gan.tensor({ { 1 }, { 1 }, { 1 } }, I)) end))
      assert.are.equal("scatter_add: index 9 out of range for dim 1 of size 2",
         err_of(function() return x:scatter_add(1, gan.tensor({ { 9 } }, I), gan.randn { 1, 1 }) end))
      assert.are.equal("cat: tensor 2 has shape (2, 4), incompatible with (2, 3) along dim 1",
         err_of(function() return gan.cat({ x, gan.randn { 2, 4 } }, 1) end))
      -- embedding (a label beyond a class-conditional model's table) names itself, not
      -- the index_select inside it
      assert.are.equal("embedding: index 9 out of range for 5 embeddings",
         err_of(function() return F.embedding(gan.tensor({ 9 }, I), gan.randn { 5, 3 }) end))
   end)

   it("avg_pool2d checks kernel_size itself: 2.0 is 2, 2.5 names kernel_size", function()
      local x = gan.randn { 1, 2, 4, 4 }
      assert.is_true(same(F.avg_pool2d(x, 2.0), F.avg_pool2d(x, 2)))
      assert.are.equal("avg_pool2d: kernel_size must be an integer >= 1 or a pair of them, got 2.5",
         err_of(function() return F.avg_pool2d(x, 2.5) end))
      assert.are.equal("avg_pool2d: kernel_size must be an integer >= 1 or a pair of them, got {2, 0}",
         err_of(function() return F.avg_pool2d(x, { 2, 0 }) end))
      assert.are.equal("avg_pool2d: padding must be an integer >= 0 or a pair of them, got -1",
         err_of(function() return F.avg_pool2d(x, 2, { padding = -1 }) end))
   end)

   it("optimizers refuse learning rates and other hyperparameters that are not finite and >= 0", function()
      local p = { gan.randn { 2 }:requires_grad_() }
      assert.are.equal("Adam: lr must be a finite number >= 0, got " .. tostring(0 / 0),
         err_of(function() return gan.optim.Adam(p, { lr = 0 / 0 }) end))
      assert.are.equal("Adam: lr must be a finite number >= 0, got -0.001",
         err_of(function() return gan.optim.Adam(p, { lr = -1e-3 }) end))
      assert.are.equal("AdamW: lr must be a finite number >= 0, got inf",
         err_of(function() return gan.optim.AdamW(p, { lr = math.huge }) end))
      assert.are.equal("RMSprop: eps must be a finite number >= 0, got -1",
         err_of(function() return gan.optim.RMSprop(p, { eps = -1 }) end))
      assert.are.equal("SGD: group 2: lr must be a finite number >= 0, got -1",
         err_of(function() return gan.optim.SGD({ { params = p }, { params = { gan.randn { 1 }:requires_grad_() },
            lr = -1 } }, { lr = 0.1 }) end))
      assert.is_not_nil(gan.optim.Adam(p, { lr = 0 }))   -- a frozen optimizer is fine
   end)
end)

describe("sizes and strides are multiplied without overflow", function()
   it("zero-element tensors with huge dims are refused, not given wrapped strides", function()
      local big = 1 << 62
      assert.are.equal("zeros: a tensor of shape (0, 4611686018427387904, 4611686018427387904) would overflow "
         .. "(its sizes multiply to 2^59 or more)", err_of(function() return gan.zeros { 0, big, big } end))
      assert.are.equal("empty: a tensor of shape (4611686018427387904, 4611686018427387904, 0) would overflow "
         .. "(its sizes multiply to 2^59 or more)", err_of(function() return gan.randn { big, big, 0 } end))
      local e = gan.zeros { 0, 4 }
      assert.are.equal("view: a tensor of shape (4611686018427387904, 4611686018427387904, 0) would overflow "
         .. "(its sizes multiply to 2^59 or more)", err_of(function() return e:view(big, big, 0) end))
      assert.are.equal("expand: a tensor of shape (4611686018427387904, 4611686018427387904) would overflow "
         .. "(its sizes multiply to 2^59 or more)", err_of(function() return gan.zeros { 1, 1 }:expand(big, big) end))
      -- a transposed convolution whose output no tensor can hold (UBSan: conv.c set_geom)
      assert.are.equal("conv_transpose2d: a tensor of shape (0, 1, 9223372036854775807) would overflow (its sizes "
         .. "multiply to 2^59 or more)", err_of(function()
            return gan.nn.functional.conv_transpose2d(gan.zeros { 0, 1, 1 << 29, 4 }, gan.zeros { 1, 1, 3, 3 }, nil,
               { stride = 2147483647 })
         end))
      -- the largest allowed zero-element shape works and keeps exact strides
      local ok = gan.zeros { 0, 1 << 29, 1 << 29 }
      assert.are.same({ 0, 1 << 29, 1 << 29 }, ok:size())
      assert.are.same({ 1 << 58, 1 << 29, 1 }, ok:stride())
   end)
end)
