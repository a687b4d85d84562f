-- StackGAN (gan.models.stackgan): the KL term against its formula, conditioning
-- augmentation's sampling, stage II's shapes, the two-stage training order (stage II
-- refuses without a stage-I run), the KL switched off with CA, drawing with CA's mean.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local M = gan.models.get("stackgan")
local gancls_prompt = gan.models.get("gancls").prompt

describe("StackGAN #release_only", function()
   H.single_threaded(setup, teardown)

   it("KL(N(mu, exp(logvar)) || N(0, I)) by its formula; CA samples c = mu + sigma eps", function()
      local mu = gan.tensor { { 0.5, -1.0 }, { 0, 0 } }
      local logvar = gan.tensor { { math.log(2), 0 }, { 0, 0 } }
      -- row 1: 0.5 (0.25 + 2 - 1 - ln 2) + 0.5 (1 + 1 - 1 - 0); row 2: 0; mean over 2 rows
      local want = (0.5 * (0.25 + 2 - 1 - math.log(2)) + 0.5 * 1) / 2
      assert.is_true(math.abs(M.kl(mu, logvar):item() - want) < 1e-6)
      -- G's term: the weight times the KL per dimension of c (2 here)
      local penalty, kl = M.ca_penalty(mu, logvar, 2)
      assert.is_true(math.abs(penalty:item() - want) < 1e-6)   -- weight 2, 2 dimensions
      assert.is_true(math.abs(kl:item() - want) < 1e-6)
      local ca = M.CA(3, 2)
      local h = gan.randn { 4, 3 }
      local c0, m0, lv0 = ca(h, false)
      assert.are.equal(0, H.maxabs(c0 - m0))
      local c1, m1, lv1 = ca(h, true, gan.Generator(9))
      local eps = gan.randn({ 4, 2 }, { generator = gan.Generator(9) })
      assert.is_true(H.maxabs(c1 - (m1 + (lv1 * 0.5):exp() * eps)) < 1e-6)
      -- unit-length embeddings (the matcher's) give a mu at the noise's scale from the start
      gan.manual_seed(3)
      local u = gan.randn { 256, 128 }
      u = u / u:norm(2, 2, true)
      local _, mu0 = M.CA(128, 64)(u, false)
      local sd = math.sqrt(((mu0 - mu0:mean()) ^ 2):mean():item())
      assert.is_true(sd > 0.2, "mu's spread at initialisation: " .. sd)
   end)

   it("stage II refines 32x32 images to 64x64; it needs a finished stage-I run", function()
      gan.manual_seed(0)
      local o = { nz = 4, c_dim = 3, ngf = 4, ngf2 = 4, res_blocks = 1, dim = 5 }
      local h = gan.randn { 2, 5 }
      local x1 = gan.no_grad(M.Stage1(o), gan.randn { 2, 4 }, h, false)
      assert.are.same({ 2, 3, 32, 32 }, x1:size())
      local x2 = gan.no_grad(M.Stage2(o), x1, h, true, gan.Generator(1))
      assert.are.same({ 2, 3, 64, 64 }, x2:size())
      local cfg = H.config(M, { train = { stage = 2, threads = 1, matcher_epochs = 1 } })
      assert.has_error(function() M.new(cfg) end, "stackgan: stage 2 needs train.stage1, the directory of a finished stage-1 run")
   end)

   local function tiny(train, model)
      train.threads, train.matcher_epochs = 1, 1
      gan.manual_seed(0)
      local m = M.new(H.config(M, { model = model or { ngf = 4, ndf = 4, c_dim = 4, nz = 4 }, data = { batch_size = 4 },
         train = train }))
      return m, gan.data.DataLoader(m.text_data, { batch_size = 4, generator = gan.Generator(5) })
   end

   it("trains stage I with the KL term; without CA there is none", function()
      local model, loader = tiny {}
      local l = model:train_step(H.batches(loader), 1)
      assert.is_number(l.kl)
      local imgs = model:sample_text("red apple", 2)
      assert.are.same({ 2, 3, 32, 32 }, imgs:size())
      local plain, l2 = tiny({}, { ngf = 4, ndf = 4, c_dim = 4, nz = 4, ca = false })
      assert.is_nil(plain:train_step(H.batches(l2), 1).kl)
   end)

   it("draws with CA sampled from a generator, or with its mean; the walk between texts holds everything but the text", function()
      local model = tiny {}
      H.visible(model.G)
      local h = gancls_prompt(model, "red apple", 2)
      local z = model:latent(2, gan.Generator(3))
      local mean = model:draw(z, h)
      assert.are.equal(0, H.maxabs(mean - model:draw(z, h)))   -- c = mu: nothing random
      local x1 = model.run_eval(model.G, z, h, false)   -- stage I's G by hand, c = mu
      assert.is_true(H.maxabs(mean - x1) < 1e-5)
      local s1, s2 = model:draw(z, h, gan.Generator(8)), model:draw(z, h, gan.Generator(8))
      assert.are.equal(0, H.maxabs(s1 - s2))
      assert.is_true(H.maxabs(s1 - mean) > 0.01)
      -- the walk: with the CA's mean, each row's first image is the text's mean image
      local imgs = gan.models.get("gancls").interpolate_text(model, "red apple", "green", 2, 3, 3)
      assert.is_true(H.maxabs(imgs:narrow(1, 1, 1) - mean:narrow(1, 1, 1)) < 1e-5)
      assert.is_true(H.maxabs(imgs:narrow(1, 4, 1) - mean:narrow(1, 2, 1)) < 1e-5)
   end)

   it("stage II's held-out measures: 64 px samples, its 32 px encoder given the real images averaged down", function()
      local root = H.tmpdir()
      local c1 = H.config(M, { model = { ngf = 4, ndf = 4, c_dim = 4, nz = 4 }, data = { batch_size = 4 },
         train = { threads = 1, matcher_epochs = 1, steps = 1, sample_every = 0, checkpoint_every = 1 } })
      c1.run.root, c1.run.name = root, "s1"
      local dir1 = gan.train.trial(M, c1)
      local c2 = H.config(M, { model = { ngf = 4, ndf = 4, ngf2 = 4, c_dim = 4, nz = 4 }, data = { batch_size = 4 },
         train = { threads = 1, matcher_epochs = 1, stage = 2, stage1 = dir1 } })
      local model = M.new(c2)
      local full = require("gan.data.emoji_text").dataset { split = "test", size = 64, keep = 1 }
      local test = H.first_emoji(full, 12)
      local judge = require("gan.metrics.matcher").Matcher { vocab = #full.vocab.words, image_size = 64 }   -- untrained
      judge:eval()
      local res = gan.models.get("gancls").held_out(model, test, judge, { draws = 1 })
      local b = test:get_batch(gan.arange(0, #test, #test.vendors, { dtype = "int64" }))
      assert.are.same({ 12, 3, 64, 64 }, b.image:size())
      local want = require("gan.metrics.matcher").r_precision(model.encoder, gan.nn.functional.avg_pool2d(b.image, 2),
         b.text, b.emoji)
      assert.are.equal(want, res.r_precision_encoder)
      assert.are.equal(12, res.n)
      assert.is_true(res.fid == res.fid and res.diversity >= 0)
      -- the baseline: the very stage-I images that draw refines with the same seed, enlarged
      local h = model.encoder:text(b.text)
      local G1, refined = model.G1, nil
      model.G1 = setmetatable({}, { __call = function(_, ...) refined = G1(...) return refined end })
      local g = gan.Generator(7)
      model:draw(model:latent(12, g), h, g)
      model.G1 = G1   -- restored first: refined stays what draw refined
      local up = model:stage1_bicubic(h, 7)
      assert.are.same({ 12, 3, 64, 64 }, up:size())
      local want_up = gan.nn.functional.interpolate(refined, { scale_factor = 2, mode = "bicubic" }):clamp(-1, 1)
      assert.are.equal(0, (up - want_up):abs():max():item())
      assert.is_true((up - model:stage1_bicubic(h, 8)):abs():max():item() > 0)
      H.rm_rf(root)
   end)

   it("the health monitor's samples: one of each of 64 held-out texts, through the loop's collapse check", function()
      local model, loader = tiny { steps = 2, sample_every = 0, checkpoint_every = 0 }
      H.check_collapse_every_step(model)
      gan.train.fit(model, { data = loader })
      assert.are.same({ 64, 3, 32, 32 }, model:health_samples():size())
   end)
end)
