-- Models that restore images against ground truth: inpainting (gan.models.inpaint: holes,
-- the weighted-border loss, local crops, the three phases) and super-resolution
-- (gan.models.srgan: the pretraining and adversarial phases, shapes, evaluation).
local gan = require("gan")
local F = require("gan.nn.functional")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local Inpaint = gan.models.get("inpaint")
local SR = gan.models.get("srgan")

describe("inpainting #release_only", function()
   H.single_threaded(setup, teardown)

   it("draws rectangular holes of the configured sides, inside the image, as a mask", function()
      local mask, rects = Inpaint.holes(200, 32, 0.25, 0.5, gan.Generator(1))
      assert.are.same({ 200, 1, 32, 32 }, mask:size())
      local sums = mask:flatten(2):sum(2):totable()
      local sides = {}
      for i, r in ipairs(rects) do
         local top, left, h, w = table.unpack(r)
         assert.is_true(h >= 8 and h <= 16 and w >= 8 and w <= 16, i)
         assert.is_true(top >= 0 and left >= 0 and top + h <= 32 and left + w <= 32, i)
         assert.are.equal(h * w, sums[i])
         -- the mask is 1 exactly on the rectangle
         local m = mask[i][1]
         assert.are.equal(h * w, m:narrow(1, top + 1, h):narrow(2, left + 1, w):sum():item())
         sides[h] = true
      end
      for s = 8, 16 do assert.is_true(sides[s], s) end   -- every side length occurs
      -- a function of the generator's state
      local again = Inpaint.holes(200, 32, 0.25, 0.5, gan.Generator(1))
      assert.are.equal(0, H.maxabs(again - mask))
      assert.has_error(function() Inpaint.holes(2, 32, 0.6, 0.5, gan.Generator(1)) end,
         "inpaint: train.hole_min (0.6) is above train.hole_max (0.5)")
   end)

   it("weights the hole's border band, pastes the output into the hole, crops around it", function()
      local rects = { { 1, 2, 5, 4 } }   -- rows 1-5, columns 2-5 of an 8x8 image
      local mask = gan.zeros { 1, 1, 8, 8 }
      mask[1][1]:narrow(1, 2, 5):narrow(2, 3, 4):fill_(1)
      local w = Inpaint.loss_weights(mask, rects, 1, 10)
      -- the inner rectangle (rows 2-4, columns 3-4) is 1, the rest of the hole 10, outside 0
      local want = gan.zeros { 8, 8 }
      want:narrow(1, 2, 5):narrow(2, 3, 4):fill_(10)
      want:narrow(1, 3, 3):narrow(2, 4, 2):fill_(1)
      assert.are.equal(0, H.maxabs(w[1][1] - want))
      -- the loss: sum of weighted squared errors over the weights' sum
      local out, target = gan.full({ 1, 1, 8, 8 }, 0.5), gan.zeros { 1, 1, 8, 8 }
      local l = Inpaint.reconstruction_loss(out, target, w):item()
      assert.is_true(math.abs(l - 0.25) < 1e-7)   -- a uniform error is its square, whatever the weights
      target[1][1][3][4] = 1.5                    -- one inner pixel off by 1 more: (1 * 1) / sum(w)
      l = Inpaint.reconstruction_loss(out, target, w):item()
      assert.is_true(math.abs(l - (0.25 * (w:sum():item() - 1) + 1) / w:sum():item()) < 1e-6)
      -- completion keeps the image outside the hole and takes the output inside
      local x = gan.full({ 1, 1, 8, 8 }, -1)
      local done = Inpaint.complete(x, gan.full({ 1, 1, 8, 8 }, 1), mask)
      assert.are.equal(0, H.maxabs(done - (mask * 2 - 1)))
      assert.are.same({ 1, 2, 8, 8 }, Inpaint.masked_input(x, mask):size())
      -- the local crop: half the side, centred on the hole (centre row 3.5, column 4), clamped
      local img = gan.arange(0, 64, 1):float():view(1, 1, 8, 8)
      local crop = Inpaint.local_crops(img, rects)
      assert.are.equal(0, H.maxabs(crop - img:narrow(3, 3, 4):narrow(4, 3, 4)))
      local corner = Inpaint.local_crops(img, { { 0, 0, 2, 2 } })
      assert.are.equal(0, H.maxabs(corner - img:narrow(3, 1, 4):narrow(4, 1, 4)))
   end)

   local function tiny(train)
      train.phase_c, train.phase_d = train.phase_c or 2, train.phase_d or 1
      return H.tiny_model(Inpaint, { data = { name = "fashion_mnist", batch_size = 8 }, model = { ngf = 4, ndf = 4 },
         train = train })
   end

   it("trains in three phases: reconstruction, then D alone, then both", function()
      local model, loader = tiny { threads = 1 }
      local data = H.batches(loader)
      local kinds = {}
      for step = 1, 5 do
         local l = model:train_step(data, step)
         local k = {}
         for _, key in ipairs { "rec", "loss_d", "adv" } do if l[key] then k[#k + 1] = key end end
         kinds[step] = table.concat(k, "+")
      end
      assert.are.same({ "rec", "rec", "loss_d", "rec+loss_d+adv", "rec+loss_d+adv" }, kinds)
      -- alpha 0: the reconstruction-only baseline has no discriminator
      local base = tiny { threads = 1, alpha = 0 }
      assert.is_nil(base.D)
      local imgs, o = model:sample()
      assert.are.same({ 48, 1, 32, 32 }, imgs:size())
      assert.are.equal(6, o.nrow)
   end)

   it("evaluates PSNR in the hole and the classifier's accuracy on whole, holed and completed test images", function()
      local model = tiny { threads = 1 }
      local r = model:evaluate { n = 20 }
      assert.are.equal(20, r.n)
      for _, k in ipairs { "psnr_hole", "psnr_hole_blank", "l1_hole", "accuracy_whole", "accuracy_holed", "accuracy_inpainted" } do
         assert.is_true(type(r[k]) == "number" and r[k] == r[k], k)
      end
      assert.is_true(r.accuracy_whole >= 0.8)   -- the reference classifier on real test images
   end)

   it("resumes exactly (the holes come from the checkpointed generator)", function()
      H.resumes_exactly(function()
         return tiny { threads = 1, steps = 6, log_every = 1, sample_every = 0, checkpoint_every = 2 }
      end, 6, 3)
   end)
end)

describe("super-resolution (SRResNet, SRGAN) #release_only", function()
   H.single_threaded(setup, teardown)

   local function tiny(train)
      return H.tiny_model(SR, { data = { name = "fashion_mnist", batch_size = 4 }, model = { nf = 4, blocks = 2, ndf = 4 },
         train = train })
   end

   it("enlarges x4 by two pixel shuffles; the input is the image averaged down", function()
      local model = tiny { threads = 1 }
      local hr = gan.rand({ 2, 1, 32, 32 }, { generator = gan.Generator(2) }) * 2 - 1
      local lr = SR.downscale(hr, 4)
      assert.are.same({ 2, 1, 8, 8 }, lr:size())
      assert.is_true(math.abs(lr[1][1][1][1] - hr[1][1]:narrow(1, 1, 4):narrow(2, 1, 4):mean():item()) < 1e-6)
      assert.are.same({ 2, 1, 32, 32 }, gan.no_grad(model.G, lr):size())
   end)

   it("trains on pixel MSE first (SRResNet), then on features and the adversarial term (SRGAN)", function()
      local model, loader = tiny { threads = 1, pretrain_steps = 2 }
      local data = H.batches(loader)
      local kinds = {}
      for step = 1, 4 do
         local l = model:train_step(data, step)
         local k = {}
         for _, key in ipairs { "mse", "content", "adv", "loss_d" } do if l[key] then k[#k + 1] = key end end
         kinds[step] = table.concat(k, "+")
         for _, v in pairs(l) do assert.is_true(v == v) end
      end
      assert.are.same({ "mse", "mse", "mse+content+adv+loss_d", "mse+content+adv+loss_d" }, kinds)
      -- adversarial 0: SRResNet, no discriminator, pixel MSE throughout
      local plain, l2 = tiny { threads = 1, adversarial = 0, pretrain_steps = 0 }
      assert.is_nil(plain.D)
      local l = plain:train_step(H.batches(l2), 5)
      assert.is_nil(l.content)
      assert.is_number(l.mse)
   end)

   it("sheets of input | bicubic | output | original; evaluation against bicubic on held-out images", function()
      local model = tiny { threads = 1 }
      local imgs, o = model:sample()
      assert.are.same({ 32, 1, 32, 32 }, imgs:size())
      assert.are.equal(4, o.nrow)
      local r = model:evaluate { n = 20 }
      assert.are.equal(20, r.n)
      -- the bicubic numbers by hand: the first 20 test images, averaged down, enlarged bicubically
      local test = gan.data.for_gan("fashion_mnist", { split = "test" })
      local hr = test.images:narrow(1, 1, 20)
      local bic = F.interpolate(SR.downscale(hr, 4), { scale_factor = 4, mode = "bicubic" }):clamp(-1, 1)
      assert.is_true(math.abs(r.psnr_bicubic - gan.metrics.psnr(bic, hr, { y = true, crop = 4 })) < 1e-9)
      assert.is_true(math.abs(r.ssim_bicubic - gan.metrics.ssim(bic, hr, { y = true, crop = 4 })) < 1e-9)
      for _, k in ipairs { "psnr", "ssim", "fid", "fid_bicubic" } do assert.is_true(r[k] == r[k], k) end
   end)
end)
