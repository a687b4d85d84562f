-- gan.models.acgan and gan.models.infogan: shapes, losses against hand computation, one
-- training step that moves every network; then each model on the training loop: the
-- step's logs, sheets (class rows, latent traversals) and exact resume.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local ac, info = gan.models.acgan, gan.models.infogan

local function bce(x, t) return t == 1 and math.log(1 + math.exp(-x)) or math.log(1 + math.exp(x)) end
local function ce(logits, y)   -- logits: Lua list, y 0-based
   local m = -math.huge
   for _, v in ipairs(logits) do m = math.max(m, v) end
   local s = 0
   for _, v in ipairs(logits) do s = s + math.exp(v - m) end
   return m + math.log(s) - logits[y + 1]
end
local function close(a, b, tol) assert(math.abs(a - b) <= (tol or 1e-5) * math.max(1, math.abs(b)), a .. " vs " .. b) end

local function snapshot(m)
   local s = {}
   for i, p in ipairs(m:parameters()) do s[i] = p:detach():clone() end
   return s
end
local function all_changed(m, s, what)
   for i, p in ipairs(m:parameters()) do
      assert((p - s[i]):abs():max():item() > 0, what .. ": parameter " .. i .. " did not change")
   end
end

describe("gan.models.acgan", function()
   before_each(function() gan.manual_seed(21) end)

   it("G(z, y) -> images of the size asked; D -> a source logit and class logits", function()
      for _, s in ipairs { 16, 32, 64 } do
         local G = ac.Generator { nz = 12, ngf = 4, image_size = s, nc = s == 64 and 3 or 1 }
         local D = ac.Discriminator { ndf = 4, image_size = s, nc = s == 64 and 3 or 1 }
         local y = gan.tensor({ 0, 3, 9 }, { dtype = "int64" })
         local x = G(gan.randn { 3, 12 }, y)
         assert.are.same({ 3, s == 64 and 3 or 1, s, s }, x:size())
         local src, cls = D(x)
         assert.are.same({ 3 }, src:size())
         assert.are.same({ 3, 10 }, cls:size())
      end
      assert.has_error(function() ac.Generator { nz = 4, ngf = 4, image_size = 16 }(gan.randn { 1, 4 }) end,
         "ACGAN generator: class labels are required, G(z, y)")
   end)

   it("the class embedding conditions G: other labels, other images from the same z", function()
      local G = ac.Generator { nz = 8, ngf = 4, image_size = 16 }
      G:eval()
      local z = gan.randn { 1, 8 }
      local a = G(z, gan.tensor({ 1 }, { dtype = "int64" }))
      local b = G(z, gan.tensor({ 2 }, { dtype = "int64" }))
      assert((a - b):abs():max():item() > 1e-4)
   end)

   it("d_loss = L_S + L_C and g_loss = -log D_S(fake) + L_C(fake), by hand", function()
      local sr, sf = gan.tensor { 2.0, -0.5 }, gan.tensor { -1.0, 0.3 }
      local cr = gan.tensor { { 1.0, 0.0, -1.0 }, { 0.5, 0.5, 2.0 } }
      local cf = gan.tensor { { 0.2, 0.1, 0.0 }, { -1.0, 3.0, 0.0 } }
      local yr, yf = gan.tensor({ 0, 2 }, { dtype = "int64" }), gan.tensor({ 1, 1 }, { dtype = "int64" })
      local l, ls, lc = ac.d_loss(sr, cr, yr, sf, cf, yf)
      local want_s = (bce(2, 1) + bce(-0.5, 1)) / 2 + (bce(-1, 0) + bce(0.3, 0)) / 2
      local want_c = (ce({ 1, 0, -1 }, 0) + ce({ 0.5, 0.5, 2 }, 2)) / 2 + (ce({ 0.2, 0.1, 0 }, 1) + ce({ -1, 3, 0 }, 1)) / 2
      close(ls:item(), want_s)
      close(lc:item(), want_c)
      close(l:item(), want_s + want_c)
      local g, gs, gc = ac.g_loss(sf, cf, yf)
      close(gs:item(), (bce(-1, 1) + bce(0.3, 1)) / 2)
      close(gc:item(), (ce({ 0.2, 0.1, 0 }, 1) + ce({ -1, 3, 0 }, 1)) / 2)
      close(g:item(), gs:item() + gc:item())
   end)

   it("d_loss's fake_class_weight scales the fakes' class term (0: real images only)", function()
      local sr, sf = gan.tensor { 0.7, -1.5 }, gan.tensor { 0.2, -0.3 }
      local cr = gan.tensor { { 2.0, -1.0, 0.0 }, { 0.0, 1.0, 1.5 } }
      local cf = gan.tensor { { 0.0, 4.0, -2.0 }, { 1.0, 1.0, 1.0 } }
      local yr, yf = gan.tensor({ 1, 2 }, { dtype = "int64" }), gan.tensor({ 0, 2 }, { dtype = "int64" })
      local real_c = (ce({ 2, -1, 0 }, 1) + ce({ 0, 1, 1.5 }, 2)) / 2
      local fake_c = (ce({ 0, 4, -2 }, 0) + ce({ 1, 1, 1 }, 2)) / 2
      local want_s = (bce(0.7, 1) + bce(-1.5, 1)) / 2 + (bce(0.2, 0) + bce(-0.3, 0)) / 2
      for _, w in ipairs { 0, 0.25, 1 } do
         local l, ls, lc = ac.d_loss(sr, cr, yr, sf, cf, yf, w)
         close(lc:item(), real_c + w * fake_c)
         close(l:item(), want_s + real_c + w * fake_c)
      end
      -- with weight 0 the fakes' class logits get no gradient
      local cr2, cf2 = cr:clone():requires_grad_(), cf:clone():requires_grad_()
      ac.d_loss(sr, cr2, yr, sf, cf2, yf, 0):backward()
      assert(cf2.grad == nil or cf2.grad:abs():max():item() == 0)
      assert(cr2.grad:abs():max():item() > 0)
   end)

   it("one training step (D then G, Adam) changes every parameter of both networks", function()
      local G, D = ac.Generator { nz = 8, ngf = 4, image_size = 16 }, ac.Discriminator { ndf = 4, image_size = 16 }
      local oG = gan.optim.Adam(G:parameters(), { lr = 2e-4, betas = { 0.5, 0.999 } })
      local oD = gan.optim.Adam(D:parameters(), { lr = 2e-4, betas = { 0.5, 0.999 } })
      local sG, sD = snapshot(G), snapshot(D)
      local real, yr = gan.rand { 6, 1, 16, 16 }:mul(2):sub(1), gan.randint(0, 10, { 6 })
      local z, yf = gan.randn { 6, 8 }, gan.randint(0, 10, { 6 })
      local fake = G(z, yf)
      oD:zero_grad()
      local s_r, c_r = D(real)
      local s_f, c_f = D(fake:detach())
      ac.d_loss(s_r, c_r, yr, s_f, c_f, yf):backward()
      oD:step()
      oG:zero_grad()
      local s_g, c_g = D(fake)
      ac.g_loss(s_g, c_g, yf):backward()
      oG:step()
      all_changed(D, sD, "D")
      all_changed(G, sG, "G")
   end)
end)

describe("gan.models.infogan", function()
   before_each(function() gan.manual_seed(22) end)

   it("latent = noise | one-hot code | continuous codes; G and D shapes", function()
      local noise, cont = gan.randn { 2, 62 }, gan.tensor { { 0.5, -0.25 }, { 1, 0 } }
      local z = info.make_latent(noise, gan.tensor({ 3, 7 }, { dtype = "int64" }), cont)
      assert.are.same({ 2, 74, 1, 1 }, z:size())
      local flat = z:reshape(2, 74)
      assert.are.equal(1, flat[1][62 + 4])
      assert.are.equal(1, flat[2][62 + 8])
      assert.are.equal(1, flat:narrow(2, 63, 10):sum():item() / 2)
      assert.are.equal(-0.25, flat[1][74])
      local g = gan.Generator(1)
      local z2, cat, c2 = info.sample_latent(500, { generator = g })
      assert.are.same({ 500, 74, 1, 1 }, z2:size())
      assert(cat:min():item() >= 0 and cat:max():item() <= 9)
      assert(c2:min():item() >= -1 and c2:max():item() <= 1)
      for _, arch in ipairs { "dcgan", "paper" } do
         for _, size in ipairs { 16, 32 } do
            local G = info.Generator { ngf = 4, arch = arch, image_size = size }
            local D = info.Discriminator { ndf = 4, arch = arch, image_size = size }
            local x = G(z2:narrow(1, 1, 3))
            assert.are.same({ 3, 1, size, size }, x:size())
            local d, ql, qm = D(x)
            assert.are.same({ 3 }, d:size())
            assert.are.same({ 3, 10 }, ql:size())
            assert.are.same({ 3, 2 }, qm:size())
         end
      end
      -- the paper's widths: FC 1024 and 128 x 8 x 8 in G, FC 1024 in D at ngf = ndf = 64
      local P = info.Generator { ngf = 64, arch = "paper" }
      assert.are.same({ 1024, 74 }, P[2].weight:size())
      assert.are.same({ 128 * 8 * 8, 1024 }, P[5].weight:size())
      assert.are.same({ 1024, 128 * 8 * 8 }, info.Discriminator { ndf = 64, arch = "paper" }.trunk[7].weight:size())
      assert.has_error(function() info.Generator { arch = "resnet" } end, "infogan: arch must be 'dcgan' or 'paper', got 'resnet'")
      assert.has_error(function() info.Discriminator { arch = "x" } end, "infogan: arch must be 'dcgan' or 'paper', got 'x'")
      for _, mk in ipairs { info.Generator, info.Discriminator } do
         assert.has_error(function() mk { arch = "paper", image_size = 30 } end,
            "infogan: the paper's networks need image_size divisible by 4, got 30")
      end
   end)

   it("info_loss: categorical cross-entropy + unit-Gaussian NLL of the continuous codes, by hand", function()
      local logits = gan.tensor { { 2.0, 0.0, -1.0 }, { 0.0, 1.0, 0.0 } }
      local cat = gan.tensor({ 0, 2 }, { dtype = "int64" })
      local mean, cont = gan.tensor { { 0.5, -0.5 }, { 0.0, 1.0 } }, gan.tensor { { 1.0, -1.0 }, { 0.5, 0.0 } }
      local total, l_cat, l_cont = info.info_loss(logits, cat, mean, cont, 1)
      local want_cat = (ce({ 2, 0, -1 }, 0) + ce({ 0, 1, 0 }, 2)) / 2
      local want_cont = 0.5 * ((0.25 + 0.25) + (0.25 + 1)) / 2
      close(l_cat:item(), want_cat)
      close(l_cont:item(), want_cont)
      close(total:item(), want_cat + want_cont)
      close(info.mi_estimate(want_cat, 3), math.log(3) - want_cat)
      close(info.mi_estimate(0), math.log(10))   -- a perfect Q: I = H(c) = ln 10 nats
   end)

   it("one training step moves G, D and Q (the info term reaches both), either architecture", function()
      for _, arch in ipairs { "dcgan", "paper" } do
         local G = info.Generator { ngf = 4, image_size = 16, arch = arch }
         local D = info.Discriminator { ndf = 4, image_size = 16, arch = arch }
         local oG = gan.optim.Adam(G:parameters(), { lr = 2e-4, betas = { 0.5, 0.999 } })
         local oD = gan.optim.Adam(D:parameters(), { lr = 2e-4, betas = { 0.5, 0.999 } })
         local sG, sD = snapshot(G), snapshot(D)
         local real = gan.rand { 6, 1, 16, 16 }:mul(2):sub(1)
         local z, cat, cont = info.sample_latent(6)
         local fake = G(z)
         oD:zero_grad()
         local dr = D(real)
         local df, ql, qm = D(fake:detach())
         ;(gan.losses.minimax_d(dr, df) + info.info_loss(ql, cat, qm, cont)):backward()
         oD:step()
         oG:zero_grad()
         local dg, ql2, qm2 = D(fake)
         ;(gan.losses.nonsaturating_g(dg) + info.info_loss(ql2, cat, qm2, cont)):backward()
         oG:step()
         all_changed(D, sD, arch .. ": D and Q")
         all_changed(G, sG, arch .. ": G")
      end
   end)
end)

-- ---------------------------------------------------------------- on the training loop

H.single_threaded(setup, teardown)

-- 12 random 16x16 images (with 3 classes) in batches of 4.
local function tiny(M, seed, values, labelled)
   gan.manual_seed(seed)
   local model = M.new(H.config(M, values))
   local g = gan.Generator(3)
   local fields = { image = gan.rand({ 12, 1, 16, 16 }, { generator = g }):mul(2):sub(1) }
   if labelled then fields.label = gan.randint(0, 3, { 12 }, { generator = g }) end
   return model, H.loader(fields, 4, 5)
end

describe("gan.models.acgan on the loop", function()
   local function build(seed, train)
      train = train or {}
      train.seed = 4
      return tiny(ac, seed, { model = { nz = 8, ngf = 4, ndf = 4, n_classes = 3 }, data = { image_size = 16 },
         train = train }, true)
   end

   it("logs D's L_S and L_C, class accuracies, and loss_d = L_S + L_C", function()
      local model, loader = build(1)
      local logs = model:train_step(H.batches(loader), 1)
      assert(math.abs(logs.loss_d - (logs.l_s + logs.l_c)) < 1e-5)
      for _, k in ipairs { "acc_real", "acc_fake" } do assert(logs[k] >= 0 and logs[k] <= 1, k) end
      assert(logs.loss_g > 0)
      assert(model.step_logs.grad_norm_d > 0 and model.step_logs.grad_norm_g > 0)
   end)

   it("fake_class_weight = 0 leaves the fakes out of D's class loss; bad weights are refused", function()
      local model, loader = build(1, { fake_class_weight = 0.0 })
      local logs = model:train_step(H.batches(loader), 1)
      local m1, l1 = build(1)
      local ref = m1:train_step(H.batches(l1), 1)
      assert.are.equal(ref.l_s, logs.l_s)
      assert(ref.l_c > logs.l_c, "the fakes' class term is gone")
      for _, bad in ipairs { -1.0, 0 / 0 } do
         assert.has_error(function() build(1, { fake_class_weight = bad }) end,
            ("values: train.fake_class_weight: expected a number in [0, inf), got %s"):format(
               gan.config.format_number(bad)))
      end
   end)

   it("the health monitor's collapse check and a class sheet at the same step (64 and k * k latents)", function()
      -- found by the full ACGAN run: both asked for the fixed latents, and the second got the
      -- first's 64 with its own 9 labels
      local model, loader = build(2, { steps = 2, sample_every = 1 })
      H.check_collapse_every_step(model)
      local seen = {}
      gan.train.fit(model, { data = loader, hooks = { on_step = function(_, _, l) seen[#seen + 1] = l end,
         on_sample = function(_, _, imgs) seen.sheet = imgs:size(1) end } })
      assert.are.equal(9, seen.sheet)
      assert.are.equal(64, select(1, model:fixed_latent(64)):size(1))
      assert.are.equal(9, select(2, model:fixed_latent(9)):size(1))
   end)

   it("sample sheets have one row per class, from the EMA generator when kept", function()
      local model, loader = build(2, { ema = 0.9, steps = 2 })
      gan.train.fit(model, { data = loader })
      local imgs, o = model:sample()
      assert.are.same({ 9, 1, 16, 16 }, imgs:size())
      assert.are.equal(3, o.nrow)
      local z = model:fixed_latent(9)
      local want = gan.no_grad(function()
         return model.ema.G.model(z, gan.tensor({ 0, 0, 0, 1, 1, 1, 2, 2, 2 }, { dtype = "int64" }))
      end)
      assert((want - imgs):abs():max():item() < 1e-6)
   end)

   it("resumes exactly", function()
      H.resumes_exactly(function() return build(3, { steps = 6, log_every = 1, checkpoint_every = 3 }) end, 6, 4)
   end)
end)

describe("gan.models.infogan on the loop", function()
   local function build(seed, train)
      train = train or {}
      train.seed = 4
      return tiny(info, seed, { model = { n_noise = 5, n_cat = 3, n_cont = 2, ngf = 4, ndf = 4 },
         data = { image_size = 16 }, train = train })
   end

   it("logs the information terms; mi = ln(n_cat) - cross-entropy", function()
      local model, loader = build(1)
      local logs = model:train_step(H.batches(loader), 1)
      assert(math.abs(logs.mi - (math.log(3) - logs.info_cat)) < 1e-12)
      assert(logs.info_cont > 0 and logs.info_cat > 0)
   end)

   it("traversal sheets: per continuous code, rows = categorical values, columns sweep -2..2", function()
      local model = build(2)
      local imgs, o = model:sample()
      assert.are.same({ 60, 1, 16, 16 }, imgs:size())
      assert.are.equal(10, o.nrow)
      local z = model.traversal:reshape(model.traversal:size(1), 10)   -- 5 noise + 3 one-hot + 2 codes
      assert.are.equal(2 * 3 * 10, z:size(1))
      for j = 1, 2 do
         for r = 1, 3 do
            for c = 1, 10 do
               local row = z[((j - 1) * 3 + (r - 1)) * 10 + c]
               assert.are.equal(1, row[5 + r], "one-hot of row " .. r)
               assert(math.abs(row[8 + j] - (-2 + (c - 1) * 4 / 9)) < 1e-6)
               assert.are.equal(0, row[8 + 3 - j])
               -- the noise is the row's: the same across a row's columns
               assert.are.equal(z[((j - 1) * 3 + (r - 1)) * 10 + 1][1], row[1])
            end
         end
      end
   end)

   it("resumes exactly", function()
      H.resumes_exactly(function() return build(3, { steps = 6, log_every = 1, checkpoint_every = 3 }) end, 6, 4)
   end)
end)
