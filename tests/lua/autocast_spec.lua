-- gan.autocast and train.precision: bfloat16 convolutions (forward, both gradients, 2-d,
-- transposed and 3-d) and matrix products (batched, broadcast, transposed views, Linear)
-- against float32 within bfloat16's tolerance, the rounding on hand-picked values,
-- float64 untouched,
-- scopes that nest and restore on error, float32 master weights and gradients in a
-- bfloat16 training step, and exact resume of a bfloat16 run.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local F = gan.nn.functional
local autocast = gan.autocast

H.single_threaded(setup, teardown)

local dnnl = gan.conv_backend() == "dnnl"

-- y = conv(x, w, b) and the gradients of sum(y * gy) for x and w, in `precision`.
local function conv_and_grads(conv, x, w, b, opts, precision)
   local xx, ww = x:clone():requires_grad_(), w:clone():requires_grad_()
   local y = autocast.run(precision, function()
      local y = conv(xx, ww, b, opts)
      local gy = gan.randn(y:size(), { generator = gan.Generator(7), dtype = x.dtype })
      y:backward(gy)
      return y
   end)
   return y, xx.grad, ww.grad
end

local function rel_err(a, b) return (a - b):abs():max():item() / b:abs():max():item() end

describe("bfloat16 convolutions (gan.autocast)", function()
   local cases = {
      { "conv2d", F.conv2d, { 4, 8, 12, 12 }, { 16, 8, 3, 3 }, { padding = 1 } },
      { "conv2d, stride 2, groups 2", F.conv2d, { 4, 8, 12, 12 }, { 16, 4, 4, 4 }, { stride = 2, padding = 1, groups = 2 } },
      { "conv_transpose2d", F.conv_transpose2d, { 4, 16, 6, 6 }, { 16, 8, 4, 4 }, { stride = 2, padding = 1 } },
      { "conv3d", F.conv3d, { 2, 4, 8, 8, 8 }, { 8, 4, 3, 3, 3 }, { padding = 1 } },
   }
   for _, c in ipairs(cases) do
      it(c[1] .. ": forward and both gradients within bfloat16's tolerance of float32, not equal to it", function()
         if not dnnl then return pending("bfloat16 runs on the oneDNN backend") end
         local g = gan.Generator(1)
         local x, w = gan.randn(c[3], { generator = g }), gan.randn(c[4], { generator = g }) * 0.2
         local b = c[2] ~= F.conv_transpose2d and gan.randn({ c[4][1] }, { generator = g }) or nil
         local y32, gx32, gw32 = conv_and_grads(c[2], x, w, b, c[5], "float32")
         local y16, gx16, gw16 = conv_and_grads(c[2], x, w, b, c[5], "bfloat16")
         for _, p in ipairs { { y16, y32, "y" }, { gx16, gx32, "gx" }, { gw16, gw32, "gw" } } do
            assert.are.equal("float32", p[1].dtype)
            -- bfloat16 keeps 8 significant bits (relative rounding 2^-9 per input): sums of
            -- products stay within about 1 % of the largest value, and do round
            local e = rel_err(p[1], p[2])
            assert.is_true(e < 1e-2, p[3] .. " " .. e)
            assert.is_true(e > 1e-5, p[3] .. " equals float32: bfloat16 did not run")
         end
      end)
   end

   it("leaves float64 convolutions and the gemm backend in float64/float32", function()
      local g = gan.Generator(2)
      local x = gan.randn({ 2, 3, 8, 8 }, { generator = g, dtype = "float64" })
      local w = gan.randn({ 4, 3, 3, 3 }, { generator = g, dtype = "float64" })
      local y64 = F.conv2d(x, w)
      assert.are.equal(0, H.maxabs(autocast.run("bfloat16", F.conv2d, x, w) - y64))
      local before = gan.conv_backend()
      gan.set_conv_backend("gemm")
      local ok, err = pcall(function()
         local xf, wf = x:float(), w:float()
         assert.are.equal(0, H.maxabs(autocast.run("bfloat16", F.conv2d, xf, wf) - F.conv2d(xf, wf)))
      end)
      gan.set_conv_backend(before)
      assert(ok, err)
   end)
end)

describe("bfloat16 matrix products (gan.autocast)", function()
   local cases = {
      { "2-d", { 33, 70 }, { 70, 21 } },
      { "batched, B broadcast", { 3, 2, 17, 40 }, { 40, 9 } },
      { "vector times matrix", { 40 }, { 40, 9 } },
   }
   for _, c in ipairs(cases) do
      it(c[1] .. ": the product and both gradients within bfloat16's tolerance of float32, not equal to it", function()
         if not dnnl then return pending("bfloat16 runs on oneDNN") end
         local g = gan.Generator(4)
         local a, b = gan.randn(c[2], { generator = g }), gan.randn(c[3], { generator = g })
         local function run(p)
            local aa, bb = a:clone():requires_grad_(), b:clone():requires_grad_()
            local y = autocast.run(p, function()
               local y = gan.matmul(aa, bb)
               y:backward(gan.randn(y:size(), { generator = gan.Generator(9) }))
               return y
            end)
            return { y, aa.grad, bb.grad }
         end
         local r32, r16 = run("float32"), run("bfloat16")
         for i, name in ipairs { "y", "ga", "gb" } do
            assert.are.equal("float32", r16[i].dtype)
            local e = rel_err(r16[i], r32[i])
            assert.is_true(e < 1e-2 and e > 1e-5, name .. " " .. e)
         end
      end)
   end

   it("reads transposed views, rounds to nearest even, and leaves float64 alone", function()
      if not dnnl then return pending("bfloat16 runs on oneDNN") end
      -- small integers are exact in bfloat16, and their products and sums in float32
      local g = gan.Generator(5)
      local a = gan.randint(-8, 9, { 12, 30 }, { generator = g }):float()
      local b = gan.randint(-8, 9, { 20, 30 }, { generator = g }):float()
      local want = gan.matmul(a, b:t())
      assert.are.equal(0, H.maxabs(autocast.run("bfloat16", gan.matmul, a, b:t()) - want))
      assert.are.equal(0, H.maxabs(autocast.run("bfloat16", gan.matmul, a:t():contiguous():t(), b:t()) - want))
      -- 8 significant bits: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 and goes to the even
      -- one (1); 1 + 3 * 2^-9 goes up to 1 + 2^-7; -(1 + 2^-7 + 2^-9) down to -(1 + 2^-7)
      local x = gan.tensor { { 1 + 2 ^ -8, 1 + 3 * 2 ^ -9, -(1 + 2 ^ -7 + 2 ^ -9) } }
      local y = autocast.run("bfloat16", gan.matmul, x, gan.eye(3))
      assert.are.same({ { 1, 1 + 2 ^ -7, -(1 + 2 ^ -7) } }, y:totable())
      assert.are.same(x:totable(), gan.matmul(x, gan.eye(3)):totable())
      local x64 = x:double()
      assert.are.same(x64:totable(), autocast.run("bfloat16", gan.matmul, x64, gan.eye(3, { dtype = "float64" })):totable())
   end)

   it("runs Linear layers in bfloat16", function()
      if not dnnl then return pending("bfloat16 runs on oneDNN") end
      gan.manual_seed(3)
      local lin = gan.nn.Linear(64, 32)
      local x = gan.randn { 16, 64 }
      local y32 = lin(x)
      local e = rel_err(autocast.run("bfloat16", lin, x), y32)
      assert.is_true(e < 1e-2 and e > 1e-5, tostring(e))
   end)
end)

describe("gan.autocast scopes", function()
   it("nest, restore the precision when closed and when an error unwinds them, refuse unknown precisions", function()
      assert.are.equal("float32", autocast.precision())
      do
         local _ <close> = autocast.scope("bfloat16")
         assert.are.equal("bfloat16", autocast.precision())
         do
            local _f <close> = autocast.scope("float32")
            assert.are.equal("float32", autocast.precision())
         end
         assert.are.equal("bfloat16", autocast.precision())
         local ok, err = pcall(autocast.run, "float32", function() error("boom") end)
         assert.is_false(ok)
         assert.truthy(err:match("boom"))
         assert.are.equal("bfloat16", autocast.precision())
      end
      assert.are.equal("float32", autocast.precision())
      assert.are.same({ 1, 2 }, { autocast.run("bfloat16", function(a, b) return a, b end, 1, 2) })
      assert.has_error(function() autocast.scope("fp16") end,
         "autocast: unknown precision 'fp16' (expected \"float32\" or \"bfloat16\")")
      assert.are.equal("float32", autocast.precision())
   end)
end)

describe("train.precision = bfloat16 #release_only", function()
   local dc = gan.models.dcgan
   local function build(train)
      gan.manual_seed(0)
      train.threads = 1
      local model = dc.new(H.config(dc, { model = { nz = 8, ngf = 4, ndf = 4 }, data = { image_size = 16 }, train = train }))
      local x = gan.randn({ 16, 1, 16, 16 }, { generator = gan.Generator(1) }):tanh()
      return model, H.loader({ image = x }, 8, 2)
   end

   it("trains DCGAN with float32 weights, gradients and optimizer states, close to a float32 step", function()
      if not dnnl then return pending("bfloat16 runs on the oneDNN backend") end
      local logs = {}
      for _, p in ipairs { "float32", "bfloat16" } do
         local model, loader = build { precision = p, steps = 1 }
         local precision_seen
         local conv = F.conv2d
         F.conv2d = function(...) precision_seen = autocast.precision(); return conv(...) end
         local ok, err = pcall(gan.train.fit, model, { data = loader, hooks = { on_step = function(_, _, l) logs[p] = l end } })
         F.conv2d = conv
         assert(ok, err)
         assert.are.equal(p, precision_seen)
         for _, net in ipairs { model.G, model.D } do
            for _, q in ipairs(net:parameters()) do
               assert.are.equal("float32", q.dtype)
               if q.grad ~= nil then assert.are.equal("float32", q.grad.dtype) end
            end
         end
         assert.are.equal("float32", autocast.precision())   -- the update's scope is closed
      end
      for _, k in ipairs { "loss_d", "loss_g" } do
         local a, b = logs.float32[k], logs.bfloat16[k]
         assert.is_true(a ~= b and math.abs(a - b) < 2e-2 * math.abs(a), k .. ": " .. a .. " vs " .. b)
      end
   end)

   it("resumes exactly", function()
      H.resumes_exactly(function() return build { precision = "bfloat16", steps = 6, log_every = 1, checkpoint_every = 3 } end, 6, 4)
   end)
end)
