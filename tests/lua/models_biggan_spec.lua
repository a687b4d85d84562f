-- SAGAN and BigGAN (lua/gan/models/sagan.lua, biggan.lua): each trick against an
-- independent computation. Spectral norm's sigma against a long power iteration of its
-- own, the orthogonal penalty's gradient against autograd and the hand formula, the
-- truncated latents against the truncated normal density and against rejection
-- sampling, the attention layer's place and its gamma = 0 identity inside G, the
-- projection score against a sum written out here; then every switch trains on the loop.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local nn = gan.nn
local U = nn.utils
local sagan, biggan = gan.models.sagan, gan.models.biggan

H.single_threaded(setup, teardown)

-- A model of class M on tiny networks (ch 4, batch 8) with `values` over its defaults, and
-- a loader of 16 random 32x32 images with labels 0-9.
local function tiny(M, values)
   values = gan.config.merge({ model = { ch = 4, nz = 16 }, data = { batch_size = 8 },
      train = { steps = 3, ema_start = 1 } }, values or {})
   return H.tiny_model(M, values)
end

local function maxdiff(a, b) return (a:double() - b:double()):abs():max():item() end

-- The largest singular value of a matrix by 300 power iterations in float64 from a
-- start of its own.
local function sigma_max(w)
   local m = w:detach():double()
   m = m:reshape(m:size(1), -1)
   local v = gan.ones({ m:size(2) }, { dtype = "float64" })
   for _ = 1, 300 do
      v = gan.matmul(m:t(), gan.matmul(m, v))
      v = v / v:norm()
   end
   return gan.matmul(m, v):norm():item()
end

describe("sagan / biggan networks", function()
   it("spectral norm: every normalised weight of G and D has sigma -> 1", function()
      local model = tiny(biggan)
      local z, y = model:latent(8, gan.Generator(1))
      for _ = 1, 30 do   -- the power iteration runs once per training-mode forward
         gan.no_grad(function() model.D(model.G(z, y), y) end)
      end
      local n = 0
      for _, net in ipairs { model.G, model.D } do
         for name, m in net:named_modules() do
            if rawget(m, "weight_orig") then
               n = n + 1
               local raw, eff = sigma_max(m.weight_orig), sigma_max(m.weight)
               assert.is_true(math.abs(eff - 1) < 0.02, ("%s: sigma %.4f (raw %.4f)"):format(name, eff, raw))
            end
         end
      end
      -- G: linear, 3 blocks x (2 convs + skip + 2 x 2 CBN linears), 4 attention convs, output conv;
      -- D: 3 blocks x 3 convs, the last block's 3, 4 attention convs, linear, embedding
      local g_sn, d_sn = 0, 0
      for _, m in model.G:named_modules() do if rawget(m, "weight_orig") then g_sn = g_sn + 1 end end
      for _, m in model.D:named_modules() do if rawget(m, "weight_orig") then d_sn = d_sn + 1 end end
      assert.are.same({ 27, 18 }, { g_sn, d_sn })
      assert.are.equal(45, n)
      -- sn_g = false: no normalised weight in G
      local off = tiny(biggan, { model = { sn_g = false } })
      for name, m in off.G:named_modules() do assert.is_nil(rawget(m, "weight_orig"), name) end
   end)

   it("orthogonal penalty: G's weights but no embedding; gradient = autograd = 4 beta (W W^T (1 - I)) W", function()
      local model = tiny(biggan)
      local list = U.orthogonal_weights(model.G)
      local in_list = {}
      for _, p in ipairs(list) do in_list[p] = true end
      assert.is_nil(in_list[model.G.shared.weight], "the shared embedding is left out")
      local n2 = 0
      for _, p in model.G:named_parameters() do if p:dim() >= 2 then n2 = n2 + 1 end end
      assert.are.equal(n2 - 1, #list)
      -- SAGAN's per-layer class embeddings in the batch norms are left out too
      local sa = tiny(sagan)
      for name, p in sa.G:named_parameters() do
         local listed = false
         for _, q in ipairs(U.orthogonal_weights(sa.G)) do listed = listed or q == p end
         assert.are.equal(p:dim() >= 2 and not name:match("embed_"), listed, name)
      end
      -- the gradient of beta * sum ||W W^T (1 - I)||^2 against the hand formula
      local beta = 1e-2
      local ws = {}
      for i = 1, 3 do ws[i] = list[i]:detach():double():clone():requires_grad_() end
      U.orthogonal_regularization(ws, beta):backward()
      for _, w in ipairs(ws) do
         local m = w:detach():reshape(w:size(1), -1)
         local off = 1 - gan.eye(m:size(1), { dtype = "float64" })
         local hand = (gan.matmul(gan.matmul(m, m:t()) * off, m) * (4 * beta)):reshape(w:size())
         assert.is_true(maxdiff(w.grad, hand) < 1e-10 * (1 + H.maxabs(hand)))
      end
      -- and in the step: G's update carries the penalty (logged as ortho)
      local _, loader = tiny(biggan)
      local logs = model:train_step(H.batches(loader), 1)
      local expect = U.orthogonal_regularization(U.orthogonal_weights(tiny(biggan).G), 1e-4):item()
      assert.is_true(math.abs(logs.ortho - expect) < 1e-6 * expect, logs.ortho .. " vs " .. expect)
   end)

   it("truncated latents: nothing beyond the threshold, the truncated normal's shape", function()
      local model = tiny(biggan, { model = { nz = 16 } })
      local phi = function(x) return math.exp(-x * x / 2) / math.sqrt(2 * math.pi) end
      local Phi = function(x) return 0.5 * (1 + (function(t)   -- erf by its series (|t| <= 2)
         local s, term, k = 0, t, 0
         repeat
            s = s + term / (2 * k + 1)
            k = k + 1
            term = -term * t * t / k
         until math.abs(term) < 1e-17
         return 2 / math.sqrt(math.pi) * s
      end)(x / math.sqrt(2))) end
      for _, t in ipairs { 2.0, 1.0, 0.5, 0.1 } do
         local z = model:latent(4000, gan.Generator(7), t):reshape(-1)   -- 64,000 values
         local v = z:double()
         assert.is_true(v:abs():max():item() <= t, "a value beyond " .. t)
         -- 10 equal bins on [-t, t]: counts against the truncated density (chi-square, 9 dof:
         -- 99.99% quantile 33.7)
         local counts = {}
         for i = 1, 10 do counts[i] = 0 end
         for _, x in ipairs(v:totable()) do
            local b = math.min(10, math.floor((x + t) / (2 * t) * 10) + 1)
            counts[b] = counts[b] + 1
         end
         local mass, chi2 = Phi(t) - Phi(-t), 0
         for i = 1, 10 do
            local lo, hi = -t + (i - 1) * t / 5, -t + i * t / 5
            local e = v:numel() * (Phi(hi) - Phi(lo)) / mass
            chi2 = chi2 + (counts[i] - e) ^ 2 / e
         end
         assert.is_true(chi2 < 33.7, ("t = %g: chi-square %.1f"):format(t, chi2))
         -- variance 1 - 2 t phi(t) / (Phi(t) - Phi(-t)); a clamped sampler would pile values
         -- at +-t and miss it
         local var = 1 - 2 * t * phi(t) / mass
         assert.is_true(math.abs(v:var():item() - var) < 0.02 * var, ("t = %g: var %.4f vs %.4f"):format(t,
            v:var():item(), var))
      end
      -- against rejection sampling (redraw every value beyond 1): equal quartiles
      local g = gan.Generator(11)
      local kept = {}
      while #kept < 40000 do
         for _, x in ipairs(gan.randn({ 10000 }, { generator = g, dtype = "float64" }):totable()) do
            if math.abs(x) <= 1 then kept[#kept + 1] = x end
         end
      end
      table.sort(kept)
      local ours = model:latent(2500, gan.Generator(12), 1):reshape(-1):double():totable()
      table.sort(ours)
      for _, q in ipairs { 0.1, 0.25, 0.5, 0.75, 0.9 } do
         local a, b = kept[math.floor(q * #kept)], ours[math.floor(q * #ours)]
         assert.is_true(math.abs(a - b) < 0.02, ("quantile %g: %.4f vs %.4f"):format(q, a, b))
      end
      -- truncation 0: plain N(0, 1), values beyond 2 occur
      assert.is_true(model:latent(2000, gan.Generator(1)):abs():max():item() > 2)
   end)

   it("self-attention sits at 16x16 in G and D, and with gamma = 0 is the identity", function()
      local model = tiny(sagan)
      local G, D = model.G, model.D
      local seen = {}
      for _, net in ipairs { G, D } do
         local attn, fwd = net.attn, net.attn.forward
         rawset(attn, "forward", function(self, x)
            seen[#seen + 1] = { x:size(2), x:size(3), x:size(4) }
            local y = fwd(self, x)
            assert.are.same({ x:size(1), x:size(2), x:size(3), x:size(4) }, { y:size(1), y:size(2), y:size(3),
               y:size(4) })
            return y
         end)
      end
      local z, y = model:latent(4, gan.Generator(2))
      G:eval(); D:eval()
      local x = G(z, y)
      D(x, y)
      -- G: after the block reaching 16x16 (2ch = 8 channels); D: after the first block (ch = 4);
      -- the pooled form of the code releases (keys and values at 8x8)
      assert.is_true(G.attn.pool and D.attn.pool)
      assert.are.same({ { 8, 16, 16 }, { 4, 16, 16 } }, seen)
      -- gamma = 0 (its initial value): G and D give what they give with the layer taken out
      local xa, sa = G(z, y), D(x, y)
      G.attn_after, D.attn_after = nil, nil
      assert.is_true(maxdiff(xa, G(z, y)) == 0 and maxdiff(sa, D(x, y)) == 0)
      -- gamma ~= 0 changes them
      G.attn_after, D.attn_after = 2, 1
      gan.no_grad(function() G.attn.gamma:fill_(0.5); D.attn.gamma:fill_(0.5) end)
      assert.is_true(maxdiff(xa, G(z, y)) > 1e-4 and maxdiff(sa, D(x, y)) > 1e-4)
      -- attention 0: no layer
      local none = tiny(sagan, { model = { attention = 0 } })
      assert.is_nil(none.G.attn)
      assert.is_nil(none.D.attn)
   end)

   it("projection D: score = w . h + b + embed(y) . h, by hand; the ac head gives logits", function()
      local model = tiny(sagan)
      local D = model.D
      D:eval()
      local x = gan.randn({ 3, 1, 32, 32 }, { generator = gan.Generator(4) })
      local y = gan.tensor({ 7, 0, 3 }, { dtype = "int64" })
      local score = D(x, y):double():totable()
      local h = D:features(x):double():totable()
      local w = D.linear.weight:double():totable()[1]
      local b = D.linear.bias:double():totable()[1]
      local E = D.embed.weight:double():totable()
      for i, c in ipairs { 7, 0, 3 } do
         local s = b
         for j = 1, #h[i] do s = s + (w[j] + E[c + 1][j]) * h[i][j] end
         assert.is_true(math.abs(score[i] - s) < 1e-4 * (1 + math.abs(s)), i)
      end
      -- another class gives another score for the same image
      assert.is_true(math.abs(D(x, gan.tensor({ 1, 0, 3 }, { dtype = "int64" })):totable()[1] - score[1]) > 1e-5)
      -- the features are the sum over positions of the last block's ReLU
      assert.are.same({ 3, 32 }, { D:features(x):size(1), D:features(x):size(2) })
      -- the auxiliary-classifier head
      local ac = tiny(sagan, { model = { head = "ac" } }).D
      local s, logits = ac(x)
      assert.are.same({ 3 }, { s:size(1) })
      assert.are.same({ 3, 10 }, { logits:size(1), logits:size(2) })
      assert.is_nil(rawget(ac, "embed"))
   end)

   it("hierarchical z: each chunk reaches its own block; shared embedding only without it", function()
      local model = tiny(biggan, { model = { nz = 16 } })   -- 3 blocks: 4 chunks of 4
      local G = model.G
      G:eval()
      assert.are.equal(4, G.chunk)
      assert.are.equal(4, G.linear.weight_orig:size(2))
      -- CBN input: the shared embedding (128) and a chunk (4)
      assert.are.equal(132, G.blocks[1].bn1.cond_dim)
      local z, y = model:latent(2, gan.Generator(5))
      local base = G(z, y)
      for chunk = 0, 3 do
         local z2 = z:clone()
         gan.no_grad(function() z2:narrow(2, chunk * 4 + 1, 4):add_(1) end)
         assert.is_true(maxdiff(base, G(z2, y)) > 1e-5, "chunk " .. chunk)
      end
      local flat = tiny(biggan, { model = { hierarchical = false } }).G
      assert.is_nil(flat.chunk)
      assert.are.equal(16, flat.linear.weight_orig:size(2))
      assert.are.equal(128, flat.blocks[1].bn1.cond_dim)
      -- SAGAN: per-layer class embeddings, no shared one
      local sa = tiny(sagan).G
      assert.is_nil(rawget(sa, "shared"))
      assert.are.equal(10, sa.blocks[1].bn1.num_classes)
   end)

   it("bad settings are refused with the key named", function()
      -- single values by the config's declarations, combinations by build
      local cases = {
         { { model = { head = "both" } }, "values: model.head: expected one of 'projection', 'ac', got 'both'" },
         { { model = { attention = 12 } }, "values: model.attention: expected one of 0, 8, 16, 32, 64, 128, 256, got 12" },
         { { model = { attention = 32 } }, "biggan: model.attention must be 0 (none) or a power of two from 8 to "
            .. "data.image_size / 2 (16), got 32" },
         { { train = { d_steps = 0 } }, "values: train.d_steps: expected an integer in [1, inf), got 0" },
         { { train = { ortho = -1 } }, "values: train.ortho: expected a number in [0, inf), got -1.0" },
         { { model = { truncation = -0.5 } }, "values: model.truncation: expected a number in [0, inf), got -0.5" },
         { { model = { nz = 15 } }, "model.nz (15) must split into 4 equal chunks" },
         { { data = { image_size = 24 } }, "values: data.image_size: expected one of 8, 16, 32, 64, 128, 256, 512, got 24" },
      }
      for _, c in ipairs(cases) do
         local ok, err = pcall(tiny, biggan, c[1])
         assert.is_false(ok)
         assert.truthy(tostring(err):find(c[2], 1, true), tostring(err))
      end
      local ok, err = pcall(tiny, sagan, { model = { hierarchical = true } })
      assert.is_false(ok)
      assert.truthy(tostring(err):find("model.hierarchical needs a shared class embedding", 1, true), tostring(err))
      local g = tiny(sagan).G
      assert.has_error(function() g(gan.randn { 2, 16 }) end, "sagan generator: class labels are required, G(z, y)")
      -- the data must have as many classes as the model, and labels at all
      assert.has_error(function() biggan.dataset(H.config(biggan, { model = { n_classes = 9 } })) end,
         "biggan: fashion_mnist has 10 classes, but model.n_classes is 9")
      assert.has_error(function() H.config(sagan, { data = { name = "ring8" } }) end,
         "values: data.name: expected one of 'fashion_mnist', 'mnist', 'emoji_category', got 'ring8'")
      local unchecked = H.config(sagan)   -- a config built by hand, past the declarations
      unchecked.data.name = "ring8"
      assert.has_error(function() sagan.dataset(unchecked) end,
         "sagan: data.name 'ring8' has no class labels; a class-conditional model needs them")
   end)
end)

describe("sagan / biggan on the loop", function()
   it("every switch trains, logs its terms, draws one row per class and resumes exactly", function()
      local cases = {
         { sagan, {} },
         { biggan, {} },
         { biggan, { model = { head = "ac", attention = 0, sn_g = false, hierarchical = false },
            train = { d_steps = 1, ortho = 0, ema = 0 } } },
      }
      for _, c in ipairs(cases) do
         local M = c[1]
         local model, loader = tiny(M, c[2])
         local last
         gan.train.fit(model, { data = loader, hooks = { on_step = function(_, _, l) last = l end } })
         for _, k in ipairs { "loss_d", "loss_g", "d_real", "d_fake" } do assert.is_number(last[k], M.name .. " " .. k) end
         assert.are.equal((c[2].model or {}).head == "ac", last.acc_real ~= nil)
         assert.are.equal((model.cfg.train.ortho > 0), last.ortho ~= nil)
         local imgs, o = model:sample()
         assert.are.same({ 100, 1, 32, 32 }, { imgs:size(1), imgs:size(2), imgs:size(3), imgs:size(4) })
         assert.are.equal(10, o.nrow)
         H.resumes_exactly(function()
            return tiny(M, gan.config.merge(c[2], { train = { steps = 4, log_every = 1, checkpoint_every = 2,
               sample_every = 0 } }))
         end, 4, 3)
      end
   end)

   it("d_steps = 2 reads two batches per step, G one update", function()
      local model, loader = tiny(biggan)
      local reads, batches = 0, H.batches(loader)
      local wrapped = { next = function() reads = reads + 1; return batches:next() end }
      local steps = {}
      for _, name in ipairs { "g", "d" } do
         local opt = model.optimizers[name].opt
         local step = opt.step
         steps[name] = 0
         opt.step = function(...) steps[name] = steps[name] + 1; return step(...) end
      end
      model:train_step(wrapped, 1)
      assert.are.same({ 2, 2, 1 }, { reads, steps.d, steps.g })
   end)

   it("evaluates the EMA generator and the raw one, at a truncation, every class equally often", function()
      -- gan.metrics.evaluate (tested in metrics_spec) is watched: what it is given and how
      -- its results are reported
      local model, loader = tiny(biggan, { train = { steps = 2 } })
      gan.train.fit(model, { data = loader })
      local calls, real = {}, gan.metrics.evaluate
      gan.metrics.evaluate = function(G, dataset, o)
         local z = o.latent(500, gan.Generator(1))
         calls[#calls + 1] = { G = G, dataset = dataset, n = o.n, zmax = z:abs():max():item(), nz = z:size(2),
            labels = o.labels:totable() }
         return { fid = #calls * 10, precision = 0.5, recall = 0.25 + #calls, class_accuracy = 0.9 }
      end
      local ok, res = pcall(model.evaluate, model, { n = 40, truncation = 0.5 })
      local plain = ok and model:evaluate { n = 40 }
      gan.metrics.evaluate = real
      assert(ok, res)
      assert.are.equal(4, #calls)
      assert.are.equal(model.ema.G.model, calls[1].G)   -- the EMA copy (standing statistics), then G
      assert.are.equal(model.G, calls[2].G)
      assert.are.same({ "fashion_mnist", 40, 16 }, { calls[1].dataset, calls[1].n, calls[1].nz })
      assert.is_true(calls[1].zmax <= 0.5 and calls[2].zmax <= 0.5)
      assert.is_true(calls[3].zmax > 2, "model.truncation 0: plain N(0, 1)")
      local per = {}
      for _, c in ipairs(calls[1].labels) do per[c] = (per[c] or 0) + 1 end
      for c = 0, 9 do assert.are.equal(4, per[c], "class " .. c) end
      assert.are.same({ 10, 20, 0.5, 1.25, 2.25, 0.9, true, 0.5 }, { res.fid, res.raw_fid, res.precision,
         res.recall, res.raw_recall, res.raw_class_accuracy, res.ema, res.truncation })
      assert.are.equal(0, plain.truncation)
      -- without an EMA: one measurement, no raw_ keys
      local bare = tiny(biggan, { train = { ema = 0 } })
      gan.metrics.evaluate = function() return { fid = 1 } end
      local r2 = bare:evaluate { n = 20 }
      gan.metrics.evaluate = real
      assert.are.same({ 1, false }, { r2.fid, r2.ema })
      assert.is_nil(r2.raw_fid)
   end)
end)
