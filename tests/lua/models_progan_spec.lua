-- ProGAN (gan.models.progan): the phase schedule, fade-in blending of G, D and the real
-- images against hand computations, the optimizer reset at a new resolution, and exact
-- resume in the middle of a fade.
local gan = require("gan")
local F = require("gan.nn.functional")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local M = gan.models.get("progan")

local function up(x) return F.interpolate(x, { scale_factor = 2, mode = "nearest" }) end
local function down(x) return F.avg_pool2d(x, 2) end
local function close(a, b, tol) return H.maxabs(a - b) <= (tol or 1e-5) end

-- A tiny ProGAN at 8x8 (levels 0 and 1) with 4 steps of 4 images per phase, and a loader
-- of 8x8 one-channel images.
local function tiny(values)
   values = values or {}
   values.model = { nz = 8, fmap_base = 64, fmap_max = 8, mbstd_group = 2 }
   values.train = values.train or {}
   values.train.phase_images = values.train.phase_images or 16
   return H.tiny_image_model(M, values, 8)
end

describe("ProGAN #release_only", function()
   H.single_threaded(setup, teardown)

   it("walks the phases: 4x4, then fade and stabilise each level, then stays at the top", function()
      -- batch 4, 8 images per phase: 2 steps per phase; top level 3 (32 px)
      local want = {
         { 0, 1 }, { 0, 1 },          -- phase 0: 4x4
         { 1, 0 }, { 1, 0.5 },        -- phase 1: fade 8x8 in
         { 1, 1 }, { 1, 1 },          -- phase 2: stabilise 8x8
         { 2, 0 }, { 2, 0.5 }, { 2, 1 }, { 2, 1 },
         { 3, 0 }, { 3, 0.5 }, { 3, 1 }, { 3, 1 },
         { 3, 1 }, { 3, 1 },          -- past the last phase: the top level
      }
      for step, w in ipairs(want) do
         assert.are.same(w, { M.stage(step, 4, 8, 3) }, "step " .. step)
      end
      -- a phase that is not a whole number of steps: alpha is the images seen over it
      -- step 4 of batch 3 has seen 9 images: phase 1 (5-9), 4 of its 5 images in
      assert.are.same({ 1, 4 / 5 }, { M.stage(4, 3, 5, 2) })
   end)

   it("G fades a level in: alpha * new RGB + (1 - alpha) * the previous level's RGB upsampled", function()
      local model = tiny()
      local G = model.G
      local z = model:latent(4, gan.Generator(1))
      local x, prev = G:trunk(z, 1)
      local new, old = G.to_rgb[2](x), up(G.to_rgb[1](prev))
      assert.are.same({ 4, 1, 8, 8 }, new:size())
      for _, a in ipairs { 0, 0.5, 1 } do
         model:set_stage(1, a)
         local got = gan.no_grad(G, z)
         assert.is_true(close(got, new * a + old * (1 - a)), "alpha " .. a)
      end
      -- alpha 0 at level 1 is level 0's output upsampled; level 0 is 4x4
      model:set_stage(0, 1)
      local four = gan.no_grad(G, z)
      assert.are.same({ 4, 1, 4, 4 }, four:size())
      assert.is_true(close(up(four), old))
   end)

   it("D fades a level in the same way, and the real images with it", function()
      local model = tiny()
      local D = model.D
      local x = gan.randn({ 4, 1, 8, 8 }, { generator = gan.Generator(2) })
      -- by hand: the new path's features after its block, the old path from x averaged down
      local h_new = D.blocks[1](F.leaky_relu(D.from_rgb[2](x), 0.2))
      local h_old = F.leaky_relu(D.from_rgb[1](down(x)), 0.2)
      for _, a in ipairs { 0, 0.5, 1 } do
         model:set_stage(1, a)
         local want = D.final(h_new * a + h_old * (1 - a)):reshape(4)
         assert.is_true(close(gan.no_grad(D, x), want), "alpha " .. a)
      end
      -- alpha 0 is level 0 on the averaged-down images
      model:set_stage(1, 0)
      local a0 = gan.no_grad(D, x)
      model:set_stage(0, 1)
      assert.is_true(close(a0, gan.no_grad(D, down(x))))
      -- the reals: averaged down to the level, blended with their half resolution upsampled
      assert.is_true(close(M.real_at(x, 0, 1, 1), down(x), 0))
      assert.is_true(close(M.real_at(x, 1, 1, 1), x, 0))
      assert.is_true(close(M.real_at(x, 1, 0.25, 1), x * 0.25 + up(down(x)) * 0.75))
      local y = gan.randn({ 2, 1, 16, 16 }, { generator = gan.Generator(4) })
      assert.is_true(close(M.real_at(y, 1, 1, 2), down(y), 0))
   end)

   it("channels per level are min(fmap_max, fmap_base / R)", function()
      assert.are.same({ [0] = 64, 64, 64, 32 }, M.channels({ fmap_base = 1024, fmap_max = 64 }, 3))
      assert.are.same({ [0] = 128, 128, 128, 64, 32 }, M.channels({ fmap_base = 2048, fmap_max = 128 }, 4))
   end)

   it("D keeps its input's scale through its layers: He's gain on each layer before a leaky ReLU", function()
      -- at 32 px with the default channels; without the gain (each layer halving the mean
      -- square) the features before the score came out near 7e-4
      local D = M.Discriminator { channels = M.channels({ fmap_base = 1024, fmap_max = 64 }, 3), top = 3, nc = 3,
         mbstd_group = 4 }
      local h = F.leaky_relu(D.from_rgb[4](gan.randn { 16, 3, 32, 32 }), 0.2)
      for l = 3, 1, -1 do h = D.blocks[l](h) end
      local layers = D.final:children()
      for i = 1, #layers - 1 do h = layers[i](h) end
      local ms = (h * h):mean():item()
      assert.is_true(ms > 0.1 and ms < 3, ms)
      assert.are.equal(1 / math.sqrt(64), layers[#layers].scale)   -- the score layer: gain 1
   end)

   it("trains through a fade; Adam's moments restart when a new level comes in", function()
      local model, loader = tiny()
      local data = H.batches(loader)
      local logs = {}
      for step = 1, 6 do
         logs[step] = model:train_step(data, step)
         model.step = step
         for k, v in pairs(logs[step]) do
            if type(v) == "number" then assert.is_true(v == v and math.abs(v) < math.huge, k) end
         end
      end
      assert.are.same({ 0, 0, 0, 0, 1, 1 }, { logs[1].level, logs[2].level, logs[3].level, logs[4].level,
         logs[5].level, logs[6].level })
      assert.are.same({ 0, 0.25 }, { logs[5].alpha, logs[6].alpha })
      -- steps 5 and 6 are the first two at level 1: every moment of Adam has seen 2 steps
      for _, st in pairs(model.optimizers.d.opt.state) do assert.are.equal(2, st.step) end
      -- sample sheets come at data.image_size whatever the level
      local imgs = model:sample()
      assert.are.same({ 64, 1, 8, 8 }, imgs:size())
      -- without the reset the moments keep counting from step 1
      local m2, l2 = tiny { train = { reset_optimizer = false } }
      local d2 = H.batches(l2)
      for step = 1, 6 do m2:train_step(d2, step); m2.step = step end
      local counts = {}
      for _, st in pairs(m2.optimizers.d.opt.state) do counts[st.step] = true end
      assert.is_true(counts[6] == true)
   end)

   it("gan eval restores the trained step, so it samples and measures at the trained level", function()
      local dir = H.tmpdir()
      local model, loader = tiny { train = { steps = 6, sample_every = 0, checkpoint_every = 6 } }
      local run = gan.run.new { experiment = "progan", name = "t", root = dir, config = model.cfg }
      gan.train.fit(model, { data = loader, run = run, steps = 6, progress = false })
      run:close()
      local loaded, _, step = gan.eval.load(run.dir)
      assert.are.equal(6, step)
      assert.are.equal(6, loaded.step)
      assert.are.same({ 1, 0.25 }, { loaded:current_stage() })
      H.rm_rf(dir)
   end)

   it("resumes exactly in the middle of a fade", function()
      -- phases of 4 steps: steps 5-8 fade level 1 in; stopped after step 6 (checkpoint at 6)
      local out = H.resumes_exactly(function()
         return tiny { train = { steps = 10, log_every = 1, sample_every = 0, checkpoint_every = 3, ema = 0.9 } }
      end, 10, 6)
      local alphas = {}
      for line in out:gmatch("[^\n]+") do alphas[#alphas + 1] = tonumber(line:match('"alpha": ([%d.e-]+)')) end
      assert.are.same({ 1, 1, 1, 1, 0, 0.25, 0.5, 0.75, 1, 1 }, alphas)
   end)
end)
