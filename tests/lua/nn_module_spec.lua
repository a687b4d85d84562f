-- The module system of gan.nn: registration order and names of parameters and buffers,
-- children and modules, train/eval, apply, zero_grad, freezing, state dicts and their
-- errors, parameter counts, printed structure, shared application and clone.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "nn_helpers.lua")
local nn = gan.nn

local function names_of(iter)
   local list = {}
   for n in iter do list[#list + 1] = n end
   return list
end

-- A small model with nesting, buffers and a parameter-free layer.
local function make_model()
   return nn.Sequential {
      nn.Linear(3, 4),
      nn.BatchNorm1d(4),
      nn.ReLU(),
      nn.Sequential { nn.Linear(4, 2, { bias = false }), nn.Tanh() },
   }
end

-- A custom module built with nn.class: fields become parameters and children.
local Custom = nn.class("Custom", nn.Module)
function Custom:__init()
   nn.Module.__init(self)
   self.encoder = nn.Linear(2, 3)
   self.scale = gan.ones { 3 }:requires_grad_()
   self.not_a_param = gan.ones { 3 }             -- no requires_grad: a plain field
   self:register_buffer("count", gan.zeros { 1 })
   self.head = nn.Linear(3, 1)
end
function Custom:forward(x) return self.head(self.encoder(x) * self.scale) end

describe("nn.Module registration", function()
   before_each(function() gan.manual_seed(1) end)

   it("names parameters by path in registration order", function()
      local m = make_model()
      assert.are.same({ "1.weight", "1.bias", "2.weight", "2.bias", "4.1.weight" },
         names_of(m:named_parameters()))
      local params = m:parameters()
      assert.are.equal(5, #params)
      local i = 0
      for _, p in m:named_parameters() do
         i = i + 1
         assert.is_true(rawequal(p, params[i]))
      end
      assert.is_true(rawequal(params[1], m[1].weight))
      assert.is_true(rawequal(params[5], m[4][1].weight))
   end)

   it("registers fields of a custom module in assignment order", function()
      local m = Custom()
      assert.are.same({ "scale", "encoder.weight", "encoder.bias", "head.weight", "head.bias" },
         names_of(m:named_parameters()))
      assert.are.same({ "count" }, names_of(m:named_buffers()))
      -- a tensor without requires_grad is a plain field, not a parameter nor a buffer
      for _, p in ipairs(m:parameters()) do assert.is_false(rawequal(p, m.not_a_param)) end
   end)

   it("lists buffers in named_buffers and buffers()", function()
      local m = make_model()
      assert.are.same({ "2.running_mean", "2.running_var", "2.num_batches_tracked" },
         names_of(m:named_buffers()))
      local b = m:buffers()
      assert.are.equal(3, #b)
      assert.is_true(rawequal(b[1], m[2].running_mean))
      assert.are.equal("int64", b[3].dtype)
      -- buffers are not parameters
      for _, p in ipairs(m:parameters()) do
         for _, x in ipairs(b) do assert.is_false(rawequal(p, x)) end
      end
   end)

   it("a tensor shared by two modules is listed once", function()
      local a, b = nn.Linear(3, 3), nn.Linear(3, 3)
      b.weight = a.weight
      local m = nn.Sequential { a, b }
      assert.are.same({ "1.weight", "1.bias", "2.bias" }, names_of(m:named_parameters()))
      assert.are.equal(9 + 3 + 3, m:num_parameters())
   end)

   it("children() are the direct children, modules() all modules depth first", function()
      local m = make_model()
      local ch = m:children()
      assert.are.equal(4, #ch)
      assert.is_true(rawequal(ch[2], m[2]))
      local mods = m:modules()
      assert.are.equal(7, #mods)
      assert.is_true(rawequal(mods[1], m))
      assert.is_true(rawequal(mods[5], m[4]))
      assert.is_true(rawequal(mods[6], m[4][1]))
      assert.is_true(rawequal(mods[7], m[4][2]))
      assert.are.same({ "", "1", "2", "3", "4", "4.1", "4.2" }, names_of(m:named_modules()))
      local cn = names_of(m:named_children())
      assert.are.same({ "1", "2", "3", "4" }, cn)
   end)

   it("ModuleList and ModuleDict register their entries", function()
      local l = nn.ModuleList { nn.Linear(2, 2), nn.Linear(2, 3) }
      l:append(nn.Linear(3, 1))
      assert.are.equal(3, #l)
      assert.are.same({ "1.weight", "1.bias", "2.weight", "2.bias", "3.weight", "3.bias" },
         names_of(l:named_parameters()))
      local d = nn.ModuleDict { b = nn.Linear(1, 1), a = nn.Linear(1, 2, { bias = false }) }
      assert.are.same({ "a.weight", "b.weight", "b.bias" }, names_of(d:named_parameters()))
   end)
end)

describe("nn.Module modes and traversal", function()
   before_each(function() gan.manual_seed(2) end)

   it("train() and eval() propagate to every descendant", function()
      local m = make_model()
      for _, x in ipairs(m:modules()) do assert.is_true(x.training) end
      assert.are.equal(m, m:eval())
      for _, x in ipairs(m:modules()) do assert.is_false(x.training) end
      m:train()
      for _, x in ipairs(m:modules()) do assert.is_true(x.training) end
      m:train(false)
      for _, x in ipairs(m:modules()) do assert.is_false(x.training) end
   end)

   it("eval() changes behaviour: dropout off, batch norm on running statistics", function()
      local m = nn.Sequential { nn.Dropout(0.5), nn.BatchNorm1d(3) }
      local x = gan.randn { 8, 3 }
      m:eval()
      local y = m(x)
      -- running stats are 0 and 1 at start, so y = x / sqrt(1 + eps)
      H.close(y, H.flat(x * (1 / math.sqrt(1 + 1e-5))), 1e-6, 1e-6, "eval output")
      m:train()
      local y2 = m(x)
      -- batch statistics: every column has mean 0
      H.close(y2:mean(1), { 0, 0, 0 }, 1e-5, 0, "train column means")
   end)

   it("apply(fn) visits every module once, children before their parent", function()
      local m = make_model()
      local seen = {}
      assert.are.equal(m, m:apply(function(x) seen[#seen + 1] = x end))
      assert.are.equal(7, #seen)
      assert.is_true(rawequal(seen[#seen], m))
      local pos = {}
      for i, x in ipairs(seen) do pos[x] = i end
      assert.is_true(pos[m[4][1]] < pos[m[4]])
      assert.is_true(pos[m[4][2]] < pos[m[4]])
      -- used for initialisation
      m:apply(function(x)
         if getmetatable(x).__name == "Linear" then nn.init.constant_(x.weight, 0.25) end
      end)
      H.close(m[1].weight, H.flat(gan.full({ 4, 3 }, 0.25)), 0, 0, "apply init")
      H.close(m[4][1].weight, H.flat(gan.full({ 2, 4 }, 0.25)), 0, 0, "apply init")
   end)

   it("zero_grad() sets every gradient to nil", function()
      local m = make_model()
      m(gan.randn { 5, 3 }):sum():backward()
      for n, p in m:named_parameters() do assert.is_not_nil(p.grad, n) end
      m:zero_grad()
      for n, p in m:named_parameters() do assert.is_nil(p.grad, n) end
   end)

   it("requires_grad_(false) freezes every parameter and true unfreezes", function()
      local m = make_model()
      assert.are.equal(m, m:requires_grad_(false))
      for _, p in ipairs(m:parameters()) do assert.is_false(p.requires_grad) end
      local x = gan.randn { 5, 3 }:requires_grad_()
      m(x):sum():backward()
      assert.is_not_nil(x.grad)
      for _, p in ipairs(m:parameters()) do assert.is_nil(p.grad) end
      assert.is_false(m(gan.randn { 5, 3 }).requires_grad)
      m:requires_grad_(true)
      for _, p in ipairs(m:parameters()) do assert.is_true(p.requires_grad) end
      m(gan.randn { 5, 3 }):sum():backward()
      for _, p in ipairs(m:parameters()) do assert.is_not_nil(p.grad) end
   end)

   it("num_parameters() matches a hand count", function()
      -- Linear(3,4): 12 + 4; BatchNorm1d(4): 4 + 4; Linear(4,2, no bias): 8
      assert.are.equal(12 + 4 + 4 + 4 + 8, make_model():num_parameters())
      local c = nn.Sequential { nn.Conv2d(3, 8, 3), nn.ConvTranspose2d(8, 2, 4, { bias = false }) }
      assert.are.equal(8 * 3 * 9 + 8 + 8 * 2 * 16, c:num_parameters())
      assert.are.equal(3 + 2 * 3 + 3 + 3 * 1 + 1, Custom():num_parameters())
   end)
end)

describe("nn.Module state dicts", function()
   before_each(function() gan.manual_seed(3) end)

   it("state_dict holds parameters and buffers under their paths", function()
      local m = make_model()
      local sd = m:state_dict()
      local keys = {}
      for k in pairs(sd) do keys[#keys + 1] = k end
      table.sort(keys)
      assert.are.same({ "1.bias", "1.weight", "2.bias", "2.num_batches_tracked", "2.running_mean",
         "2.running_var", "2.weight", "4.1.weight" }, keys)
      assert.is_false(sd["1.weight"].requires_grad)
      H.identical(sd["1.weight"], m[1].weight:detach(), "state weight")
   end)

   it("round-trips through load_state_dict (strict) with buffers", function()
      local a, b = make_model(), make_model()
      a(gan.randn { 6, 3 })          -- moves a's running stats
      local ok, res = pcall(function() return b:load_state_dict(a:state_dict(), { strict = true }) end)
      assert.is_true(ok, tostring(res))
      assert.are.same({}, res.missing)
      assert.are.same({}, res.unexpected)
      local sa, sb = a:state_dict(), b:state_dict()
      for k, v in pairs(sa) do H.identical(sb[k], v, k) end
      a:eval(); b:eval()
      local x = gan.randn { 4, 3 }
      H.identical(b(x), a(x), "outputs after load")
      -- b holds copies: changing a does not change b
      gan.no_grad(function() a[1].weight:fill_(7) end)
      assert.are_not.equal(7, b[1].weight[1][1])
      -- b's parameters are still trainable leaves
      for _, p in ipairs(b:parameters()) do assert.is_true(p.requires_grad and p.is_leaf) end
   end)

   it("a strict load names every missing, unexpected and mis-shaped key", function()
      local m = make_model()
      local sd = make_model():state_dict()
      sd["1.bias"] = nil
      sd["2.running_var"] = nil
      sd["extra.weight"] = gan.zeros { 2 }
      sd["5.bias"] = gan.zeros { 1 }
      sd["4.1.weight"] = gan.zeros { 3, 4 }
      local before = H.flat(m[1].weight)
      local err = H.raises(function() m:load_state_dict(sd, { strict = true }) end,
         "1.bias", "2.running_var", "extra.weight", "5.bias", "4.1.weight", "missing", "unexpected")
      assert.truthy(err:find("{3, 4}", 1, true) and err:find("{2, 4}", 1, true), err)
      -- nothing was loaded
      H.close(m[1].weight, before, 0, 0, "unchanged after a failed load")
      -- strict is the default
      H.raises(function() m:load_state_dict(sd) end, "1.bias", "extra.weight", "4.1.weight")
   end)

   it("a non-strict load returns the missing and unexpected keys and loads the rest", function()
      local m, src = make_model(), make_model()
      local sd = src:state_dict()
      sd["1.bias"] = nil
      sd["head.weight"] = gan.zeros { 1 }
      local res = m:load_state_dict(sd, { strict = false })
      assert.are.same({ "1.bias" }, res.missing)
      assert.are.same({ "head.weight" }, res.unexpected)
      H.identical(m[1].weight:detach(), src[1].weight:detach(), "loaded weight")
      H.identical(m[4][1].weight:detach(), src[4][1].weight:detach(), "loaded weight")
      assert.are_not.same(H.flat(m[1].bias), H.flat(src[1].bias))
      -- a mis-shaped key still fails without strict
      sd["1.weight"] = gan.zeros { 3, 3 }
      H.raises(function() m:load_state_dict(sd, { strict = false }) end, "1.weight")
   end)
end)

describe("nn.Module printing", function()
   it("prints a PyTorch-like structure", function()
      local m = nn.Sequential {
         nn.Linear(3, 4), nn.LeakyReLU(0.2),
         nn.Sequential { nn.Conv2d(1, 2, 3, { stride = 2, padding = 1 }), nn.BatchNorm2d(2) },
      }
      local s = tostring(m)
      local lines = {}
      for l in (s .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = l end
      assert.are.equal("Sequential(", lines[1])
      assert.are.equal("  (1): Linear(in_features=3, out_features=4, bias=true)", lines[2])
      assert.are.equal("  (2): LeakyReLU(negative_slope=0.2)", lines[3])
      assert.are.equal("  (3): Sequential(", lines[4])
      assert.truthy(lines[5]:match("^    %(1%): Conv2d%(1, 2, kernel_size={3, 3}, stride={2, 2}, padding={1, 1}%)$"), lines[5])
      assert.truthy(lines[6]:match("^    %(2%): BatchNorm2d%(2, eps=1e%-05, momentum=0%.1, affine=true%)$"), lines[6])
      assert.are.equal("  )", lines[7])
      assert.are.equal(")", lines[8])
      assert.are.equal(8, #lines)
      assert.are.equal("Linear(in_features=2, out_features=5, bias=false)",
         tostring(nn.Linear(2, 5, { bias = false })))
      assert.are.equal("ReLU()", tostring(nn.ReLU()))
   end)
end)

describe("nn.Module applied to several inputs", function()
   before_each(function() gan.manual_seed(4) end)

   it("shared parameters receive the sum of the gradients of both applications", function()
      local D = nn.Sequential { nn.Linear(4, 8, { dtype = "float64" }), nn.LeakyReLU(0.2),
         nn.Linear(8, 1, { dtype = "float64" }) }
      local real, fake = H.randn { 5, 4 }, H.randn { 3, 4 }:requires_grad_()
      local function loss_real(m) return (m(real) - 1):pow(2):mean() end
      local function loss_fake(m) return m(fake):pow(2):sum() * 0.5 end
      -- one module applied twice
      local total = loss_real(D) + loss_fake(D)
      total:backward()
      -- the same computations on two separate copies
      local D1, D2 = D:clone(), D:clone()
      D1:zero_grad(); D2:zero_grad()
      loss_real(D1):backward()
      local fake_grad_shared = fake.grad:clone()
      fake.grad = nil
      loss_fake(D2):backward()
      local p, p1, p2 = D:parameters(), D1:parameters(), D2:parameters()
      for i = 1, #p do
         local expected = H.flat(p1[i].grad + p2[i].grad)
         H.close(p[i].grad, expected, 1e-12, 1e-12, "shared grad " .. i)
         -- and neither copy alone gives it
         assert.is_true(math.abs(H.flat(p[i].grad)[1] - H.flat(p1[i].grad)[1]) > 0)
      end
      H.close(fake.grad, H.flat(fake_grad_shared), 1e-12, 1e-12, "input grad")
   end)
end)

describe("nn.Module:clone", function()
   before_each(function() gan.manual_seed(5) end)

   it("copies values into independent tensors", function()
      local m = make_model()
      m(gan.randn { 4, 3 })
      local c = m:clone()
      assert.are.equal(getmetatable(m), getmetatable(c))
      local pm, pc = m:parameters(), c:parameters()
      assert.are.equal(#pm, #pc)
      for i = 1, #pm do
         assert.is_false(rawequal(pm[i], pc[i]))
         assert.is_true(pc[i].requires_grad and pc[i].is_leaf)
         H.identical(pc[i]:detach(), pm[i]:detach(), "clone value " .. i)
      end
      local bm, bc = m:buffers(), c:buffers()
      for i = 1, #bm do
         assert.is_false(rawequal(bm[i], bc[i]))
         H.identical(bc[i], bm[i], "clone buffer " .. i)
      end
      m:eval(); c:eval()
      local x = gan.randn { 3, 3 }
      H.identical(c(x), m(x), "same outputs")
      -- independence: training the clone leaves the original alone
      c:train()
      local before = H.flat(m[1].weight)
      local rm = H.flat(m[2].running_mean)
      c(gan.randn { 4, 3 }):sum():backward()
      gan.no_grad(function() c[1].weight:add_(1) end)
      for _, p in ipairs(m:parameters()) do assert.is_nil(p.grad) end
      H.close(m[1].weight, before, 0, 0, "original weight")
      H.close(m[2].running_mean, rm, 0, 0, "original running mean")
      assert.is_false(c.training == m.training)
   end)

   it("keeps a tensor shared inside the model shared in the clone", function()
      local a, b = nn.Linear(2, 2), nn.Linear(2, 2)
      b.weight = a.weight
      local c = nn.Sequential { a, b }:clone()
      assert.is_true(rawequal(c[1].weight, c[2].weight))
      assert.is_false(rawequal(c[1].weight, a.weight))
   end)
end)
