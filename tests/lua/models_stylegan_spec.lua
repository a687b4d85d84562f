-- StyleGAN (gan.models.stylegan): style mixing's crossover, truncation in W, the tracked
-- mean w, the mapping network's learning-rate multiplier, slerp, the path length's
-- percentile filter, training steps and exact resume.
local gan = require("gan")
local F = require("gan.nn.functional")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local M = gan.models.get("stylegan")

local function tiny(values)
   values = values or {}
   values.model = { nz = 6, w_dim = 5, n_mlp = 2, fmap_base = 64, fmap_max = 8, mbstd_group = 2 }
   return H.tiny_image_model(M, values, 8)
end

describe("StyleGAN #release_only", function()
   H.single_threaded(setup, teardown)

   it("mixes styles: layers before the crossover take w1, it and the later ones w2", function()
      local model = tiny()
      local G = model.G
      assert.are.equal(3, G.num_ws)   -- 8 px: one convolution at 4x4, two at 8x8
      local w1, w2 = gan.randn { 2, 5 }, gan.randn { 2, 5 }
      local ws = G:broadcast(w1, w2, 2)
      assert.are.same({ 2, 3, 5 }, ws:size())
      assert.are.equal(0, H.maxabs(ws:select(2, 1) - w1))
      assert.are.equal(0, H.maxabs(ws:select(2, 2) - w2))
      assert.are.equal(0, H.maxabs(ws:select(2, 3) - w2))
      local same = G:broadcast(w1, w2, 4)   -- past the last layer: no mixing
      for i = 1, 3 do assert.are.equal(0, H.maxabs(same:select(2, i) - w1)) end
      -- the crossover: never with p = 0; with p = 1 uniform over 2..num_ws
      local g = gan.Generator(9)
      for _ = 1, 20 do assert.are.equal(8, M.crossover(7, 0, g)) end
      local seen = {}
      for _ = 1, 6000 do
         local c = M.crossover(7, 1, g)
         assert.is_true(c >= 2 and c <= 7, c)
         seen[c] = (seen[c] or 0) + 1
      end
      for c = 2, 7 do assert.is_true(math.abs(seen[c] / 6000 - 1 / 6) < 0.02, c) end
      -- p = 0.9: about 10 % unmixed
      local unmixed = 0
      for _ = 1, 4000 do if M.crossover(7, 0.9, g) == 8 then unmixed = unmixed + 1 end end
      assert.is_true(math.abs(unmixed / 4000 - 0.1) < 0.02, unmixed)
   end)

   it("truncates in W around the tracked mean; tracks it as an exponential average", function()
      local model = tiny()
      local G = model.G
      local w = gan.randn { 3, 5 }
      M.track_w_avg(G, w, 0.5)
      local avg = w:mean(1) * 0.5          -- from zero: 0.5 * 0 + 0.5 * mean(w)
      assert.is_true(H.maxabs(G.w_avg - avg) < 1e-6)
      M.track_w_avg(G, w, 0.5)
      assert.is_true(H.maxabs(G.w_avg - w:mean(1) * 0.75) < 1e-6)
      local t = G:truncate(w, 0.5)
      assert.is_true(H.maxabs(t - (G.w_avg:view(1, 5) + (w - G.w_avg:view(1, 5)) * 0.5)) < 1e-6)
      assert.are.equal(0, H.maxabs(G:truncate(w, 1) - w))
      -- psi 0: every sample is the mean w's image (the same noise for all)
      G.truncation = 0
      local z = model:latent(3, gan.Generator(1))
      gan.manual_seed(5)
      local noise = model:noise_maps(1, gan.Generator(2))
      for i, n in ipairs(noise) do noise[i] = n:expand(3, 1, n:size(3), n:size(4)):contiguous() end
      local x = gan.no_grad(function() return G:synthesis(G:broadcast(G:truncate(G:mapping(z), 0)), { noise = noise }) end)
      assert.is_true(H.maxabs(x:narrow(1, 1, 1) - x:narrow(1, 3, 1)) < 1e-6)
      assert.are.same({ 3, 1, 8, 8 }, x:size())
   end)

   it("the mapping network learns at 0.01 of the rate: its layers scale by lr_mul", function()
      local model = tiny()
      local n = 0
      for _, m in ipairs(model.G.map:children()) do
         if m.lr_mul then
            n = n + 1
            assert.are.equal(0.01, m.lr_mul)
         end
      end
      assert.are.equal(2, n)
      -- the synthesis layers do not
      assert.are.equal(1, model.G.convs[1].conv.style.lr_mul)
   end)

   it("the mapping's 8 layers and D keep their input's scale: He's gain before each leaky ReLU", function()
      -- without the gain, w came out with a mean square near 0.52^8 = 0.005 (so every style
      -- was its bias, 1) and D's features before the score near 0.004
      local ch = M.channels({ fmap_base = 1024, fmap_max = 64 }, 3)
      local G = M.Generator { nz = 128, w_dim = 128, n_mlp = 8, lr_mul = 0.01, channels = ch, top = 3, nc = 3 }
      local w = G:mapping(gan.randn { 64, 128 })
      local ms = (w * w):mean():item()
      assert.is_true(ms > 0.3 and ms < 3, ms)
      local D = M.Discriminator { channels = ch, top = 3, nc = 3, mbstd_group = 4 }
      local h = D.blocks(F.leaky_relu(D.from_rgb(gan.randn { 16, 3, 32, 32 }), 0.2))
      local layers = D.final:children()
      for i = 1, #layers - 1 do h = layers[i](h) end
      ms = (h * h):mean():item()
      assert.is_true(ms > 0.05 and ms < 3, ms)
   end)

   it("slerps along the great circle; the path length drops the 1 % tails", function()
      local a, b = gan.tensor { { 1, 0 }, { 2, 0 } }, gan.tensor { { 0, 1 }, { 0, 2 } }
      local mid = M.slerp(a, b, gan.tensor { { 0.5 }, { 1 / 3 } })
      local r2 = math.sqrt(0.5)
      assert.is_true(H.maxabs(mid - gan.tensor { { r2, r2 }, { 2 * math.cos(math.pi / 6), 2 * math.sin(math.pi / 6) } }) < 1e-6)
      -- 200 distances 1..200: the 1st percentile is 2.99, the 99th 198.01; kept 3..198
      local d = {}
      for i = 1, 200 do d[i] = i end
      local want = 0
      for i = 3, 198 do want = want + i end
      assert.are.equal(want / 196, gan.metrics.path_length(d))
      d[50] = 1e9   -- one pair across a discontinuity moves it little
      assert.is_true(gan.metrics.path_length(d) < 200)
      assert.has_error(function() gan.metrics.path_length({ 1 }) end, "path_length: needs at least 2 distances")
   end)

   it("trains (finite losses, lazy R1), samples at psi, and resumes exactly", function()
      local model, loader = tiny { train = { r1_every = 2, mixing = 0.9 } }
      local data = H.batches(loader)
      for step = 1, 4 do
         local l = model:train_step(data, step)
         model.step = step
         assert.is_true(l.loss_d == l.loss_d and l.loss_g == l.loss_g)
         assert.are.equal(step % 2 == 0, l.r1 ~= nil)
      end
      assert.is_true(H.maxabs(model.G.w_avg) > 0)
      assert.are.same({ 64, 1, 8, 8 }, model:sample():size())
      H.resumes_exactly(function()
         return tiny { train = { steps = 6, log_every = 1, sample_every = 0, checkpoint_every = 3, ema = 0.9, r1_every = 2 } }
      end, 6, 4)
   end)
end)
