-- GAN-CLS (gan.models.gancls): the matching-aware D loss by hand, mismatched texts from
-- other emoji, training steps with and without the CLS and INT terms, prompts with
-- unknown words, the captioned sheet, the walk between two texts, the held-out measures.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local M = gan.models.get("gancls")
local Mt = require("gan.metrics.matcher")

local function bce(logit, target)
   local p = 1 / (1 + math.exp(-logit))
   return -(target * math.log(p) + (1 - target) * math.log(1 - p))
end

describe("GAN-CLS #release_only", function()
   it("the three-way D loss: real-right as real, real-wrong and fake-right as fake, halved", function()
      local r, w, f = gan.tensor { 2.0 }, gan.tensor { 0.5 }, gan.tensor { -1.0 }
      local want = bce(2, 1) + (bce(0.5, 0) + bce(-1, 0)) / 2
      assert.is_true(math.abs(M.d_loss(r, w, f, true):item() - want) < 1e-6)
      assert.is_true(math.abs(M.d_loss(r, nil, f, false):item() - (bce(2, 1) + bce(-1, 0))) < 1e-6)
   end)

   it("mismatched texts come from other emoji", function()
      local e = gan.tensor({ 1, 1, 2, 3 }, { dtype = "int64" })
      assert.are.same({ 2, 3, 0, 1 }, M.mismatch(e):totable())   -- a shift of 1 pairs emoji 1 with itself
      assert.are.same({ 1, 2, 0 }, M.mismatch(gan.tensor({ 4, 5, 6 }, { dtype = "int64" })):totable())
   end)

   describe("on the emoji texts", function()
      H.single_threaded(setup, teardown)
      local function tiny(train)
         train.threads, train.matcher_epochs = 1, 1
         gan.manual_seed(0)
         local model = M.new(H.config(M, { model = { ngf = 4, ndf = 4, ntext = 8, nz = 8 }, data = { batch_size = 8 },
            train = train }))
         return model, gan.data.DataLoader(model.text_data, { batch_size = 8, generator = gan.Generator(5) })
      end

      it("trains with the matching-aware D and interpolated texts, or without them", function()
         local model, loader = tiny {}
         local l = model:train_step(H.batches(loader), 1)
         assert.is_number(l.loss_int)
         assert.is_true(l.loss_d == l.loss_d and l.loss_g == l.loss_g)
         local plain, l2 = tiny { cls = false, int = false }
         local p = plain:train_step(H.batches(l2), 1)
         assert.is_nil(p.loss_int)
      end)

      it("the health monitor's collapse check draws one sample of each of 64 held-out texts", function()
         -- found by the full run: the default (G of the fixed latents alone, no text) failed at
         -- step 500, the first collapse check
         local model, loader = tiny { steps = 2, sample_every = 0, checkpoint_every = 0 }
         H.check_collapse_every_step(model)
         gan.train.fit(model, { data = loader })
         local imgs = model:health_samples()
         assert.are.same({ 64, 3, 32, 32 }, imgs:size())
         assert.is_true((imgs[1] - imgs[2]):abs():max():item() > 0)
      end)

      it("draws a prompt, naming unknown words; a prompt of unknown words alone is an error; sheets carry captions", function()
         local model = tiny {}
         local imgs, unknown = model:sample_text("red apple qqqzzz", 4, 2)
         assert.are.same({ 4, 3, 32, 32 }, imgs:size())
         assert.are.same({ "qqqzzz" }, unknown)
         assert.has_error(function() model:sample_text("qqqzzz xxyyq", 2) end,
            "gancls: no word of 'qqqzzz xxyyq' is known (unknown: qqqzzz, xxyyq)")
         local sheet, o = model:sample()
         assert.are.equal(1, sheet:size(1))
         assert.are.equal(1, o.nrow)
         assert.are.equal(8 * (34 + 12), sheet:size(3))   -- 8 rows of a 12-pixel caption over 32 + 2 pixels
      end)

      it("measures the held-out texts: R-precision over rounds, FID of all rounds, a comparison on the same terms", function()
         local model = tiny {}
         H.visible(model.G)
         local test = H.first_emoji(M.dataset(model.cfg, "test"), 24)
         local judge = Mt.cached(model.text_data, { text = "trigrams", seed = 2, epochs = 1 })
         local compare = { name = "again", draw = function(h, seed)   -- the same images as the rounds'
            local g = gan.Generator(seed)
            return model:draw(model:latent(h:size(1), g), h)
         end }
         local res = M.held_out(model, test, judge, { draws = 2, compare = compare })
         -- by hand: one image per emoji, each round's samples from seeds 12345 and 12346
         local b = test:get_batch(gan.arange(0, #test, #test.vendors, { dtype = "int64" }))
         local h = model.encoder:text(b.text)
         local rp, feats = {}, {}
         local clf = gan.metrics.classifier("emoji_style")
         for r = 1, 2 do
            local g = gan.Generator(12344 + r)
            local fake = model:draw(model:latent(h:size(1), g), h)
            rp[r] = Mt.r_precision(judge, fake, b.text, b.emoji)
            feats[r] = gan.metrics.features(clf, fake)
         end
         assert.are.equal(#test // #test.vendors, res.n)
         assert.are.equal(2, res.draws)
         assert.is_true(math.abs(res.r_precision - (rp[1] + rp[2]) / 2) < 1e-12)
         assert.is_true(math.abs(res.r_precision_sd - math.abs(rp[1] - rp[2]) / math.sqrt(2)) < 1e-12)
         local real = gan.metrics.features(clf, test:get_batch(gan.arange(0, #test, 1, { dtype = "int64" })).image)
         assert.is_true(math.abs(res.fid - gan.metrics.fid(gan.cat(feats, 1), real)) < 1e-6)
         assert.is_true(math.abs(res.fid_again - res.fid) < 1e-6)
         assert.is_true(math.abs(res.r_precision_again - res.r_precision) < 1e-12)
         assert.are.equal(Mt.r_precision(model.encoder, b.image, b.text, b.emoji), res.r_precision_encoder)
         assert.are.equal(Mt.r_precision(judge, b.image, b.text, b.emoji), res.r_precision_real)
         assert.is_true(res.diversity > 0)
         -- per text, the share of the rounds it was hit: their mean is the R-precision
         local per, mean = M.text_hits(model, test, judge, 2), 0
         assert.are.equal(res.n, #per)
         for _, v in ipairs(per) do mean = mean + v / #per end
         assert.is_true(math.abs(mean - res.r_precision) < 1e-12)
         local share, hits = Mt.r_precision(judge, b.image, b.text, b.emoji)
         local sum = 0
         for _, v in ipairs(hits) do sum = sum + v end
         assert.are.equal(share, sum / #hits)
      end)

      it("walks between two texts with each row's noise held (GAN-INT's figure)", function()
         local model = tiny {}
         H.visible(model.G)
         local rows, steps = 2, 3
         local imgs, unknown = M.interpolate_text(model, "red apple", "green qqqzzz", rows, steps, 4)
         assert.are.same({ rows * steps, 3, 32, 32 }, imgs:size())
         assert.are.same({ "qqqzzz" }, unknown)
         -- by hand: the prompts' embeddings, noise from the seed, each image drawn alone
         local ha, hb = M.prompt(model, "red apple", 1), M.prompt(model, "green", 1)
         local z = model:latent(rows, gan.Generator(4))
         for r = 1, rows do
            for k, h in ipairs { ha, (ha + hb) * 0.5, hb } do
               local want = model:draw(z:narrow(1, r, 1), h)
               local got = imgs:narrow(1, (r - 1) * steps + k, 1)
               assert.is_true(H.maxabs(got - want) < 1e-5, ("row %d, image %d"):format(r, k))
            end
         end
         assert.is_true(H.maxabs(imgs[1] - imgs[steps + 1]) > 0.01)   -- rows differ in noise,
         assert.is_true(H.maxabs(imgs[1] - imgs[steps]) > 0.01)       -- columns in text
         assert.has_error(function() M.interpolate_text(model, "red", "qqqzzz") end,
            "gancls: no word of 'qqqzzz' is known (unknown: qqqzzz)")
      end)
   end)
end)
