-- gan.autocast and train.precision: bfloat16 convolutions (forward, both gradients, 2-d,
-- transposed and 3-d) against float32 within bfloat16's tolerance, float64 untouched,
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
