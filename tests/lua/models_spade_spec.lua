-- SPADE (gan.models.spade): the spatially-adaptive normalisation against its formula,
-- the multi-scale discriminator's outputs, feature matching, training steps and exact
-- resume; and the measurement of semantic synthesis: the segmenter and mean IoU.
local gan = require("gan")
local F = require("gan.nn.functional")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local M = gan.models.get("spade")
local metrics = gan.metrics

-- Paired label maps (grey levels id / 255) and images, as gan.data.openmoji gives them.
local function pairs_loader(n, size, seed)
   local g = gan.Generator(seed or 3)
   local maps = gan.randint(0, 8, { n, 1, size, size }, { generator = g }):float() / 255
   local imgs = gan.rand({ n, 3, size, size }, { generator = g }) * 2 - 1
   local ds = gan.data.paired(gan.data.TensorDataset { image = maps }, gan.data.TensorDataset { image = imgs })
   return gan.data.DataLoader(ds, { batch_size = 4, generator = gan.Generator(5) })
end

describe("SPADE #release_only", function()
   H.single_threaded(setup, teardown)

   it("normalises without parameters, then scales and shifts per pixel from the resized map", function()
      local spade = M.SPADE(4, 3, 5)
      local x = gan.randn({ 2, 4, 4, 4 }, { generator = gan.Generator(1) }) * 3 + 1
      local map = gan.rand({ 2, 3, 8, 8 }, { generator = gan.Generator(2) })
      local m4 = F.interpolate(map, { size = { 4, 4 }, mode = "nearest" })
      local h = spade.shared(m4)
      local norm = F.batch_norm(x, nil, nil, nil, nil, true, 0.1, 1e-5)
      local want = norm * (spade.gamma(h) + 1) + spade.beta(h)
      assert.is_true(H.maxabs(spade(x, map) - want) < 1e-5)
      assert.is_nil(spade.norm.weight)   -- parameter-free
      -- each channel of the normalised x has mean 0 and variance 1 over the batch
      local mean = norm:mean({ 1, 3, 4 })
      assert.is_true(H.maxabs(mean) < 1e-5)
   end)

   it("feature matching: the mean over scales of the summed L1 of inner features (logits left out)", function()
      local real = { { gan.full({ 1, 2 }, 1), gan.full({ 1, 1 }, 5) }, { gan.full({ 1, 3 }, 0), gan.full({ 1, 1 }, 5) } }
      local fake = { { gan.full({ 1, 2 }, 3), gan.full({ 1, 1 }, 9) }, { gan.full({ 1, 3 }, 1), gan.full({ 1, 1 }, 0) } }
      -- scale 1: |3 - 1| = 2; scale 2: |1 - 0| = 1; mean over the 2 scales
      assert.are.equal(1.5, M.feature_matching(real, fake):item())
   end)

   local function tiny(train)
      train.threads = 1
      gan.manual_seed(0)
      local model = M.new(H.config(M, { data = { image_size = 32, batch_size = 4 },
         model = { nf = 2, nhidden = 4, ndf = 4, n_layers = 2, num_d = 2 }, train = train }))
      return model, pairs_loader(8, 32)
   end

   it("G maps a one-hot map to an image; D answers at two scales with every layer's features", function()
      local model, loader = tiny {}
      local map, img = model:pair(H.batches(loader):next())
      assert.are.same({ 4, 8, 32, 32 }, map:size())
      local out = gan.no_grad(model.G, map)
      assert.are.same({ 4, 3, 32, 32 }, out:size())
      assert.is_true(out:abs():max():item() <= 1)
      local d = gan.no_grad(model.D, map, img)
      assert.are.equal(2, #d)
      assert.are.equal(4, #d[1])   -- first layer, n_layers, logits
      assert.are.equal(1, d[1][4]:size(2))
      assert.is_true(d[2][4]:size(3) < d[1][4]:size(3))   -- the second scale sees half the size
   end)

   it("trains with the hinge loss and feature matching; resumes exactly", function()
      local model, loader = tiny {}
      local data = H.batches(loader)
      for step = 1, 2 do
         local l = model:train_step(data, step)
         assert.is_true(math.abs(l.loss_g - (l.adv + 10 * l.feat_match)) < 1e-3 * math.abs(l.loss_g) + 1e-5)
         assert.is_true(l.loss_d == l.loss_d)
      end
      H.resumes_exactly(function() return tiny { steps = 4, log_every = 1, sample_every = 0, checkpoint_every = 2 } end, 4, 3)
   end)
end)

describe("semantic synthesis measured: segmenter and mean IoU #release_only", function()
   H.single_threaded(setup, teardown)

   it("mIoU over the classes present, by hand", function()
      local t = gan.tensor({ { 0, 0, 1, 1 }, { 2, 2, 2, 0 } }, { dtype = "int64" })
      local p = gan.tensor({ { 0, 1, 1, 1 }, { 2, 2, 0, 0 } }, { dtype = "int64" })
      -- class 0: target {1,2,8}, pred {1,7,8}: inter 2, union 4; class 1: {3,4} vs {2,3,4}: 2/3;
      -- class 2: {5,6,7} vs {5,6}: 2/3; class 3 absent from both: left out
      local m, per = metrics.miou(p, t, 4)
      assert.is_true(math.abs(m - (0.5 + 2 / 3 + 2 / 3) / 3) < 1e-12)
      assert.is_nil(per[3])
      assert.are.equal(1, metrics.miou(t, t, 4))
   end)

   it("a segmenter learns colour regions", function()
      -- 16x16 images: the left half class 1 (red), the right half class 2 (blue), a random
      -- band of class 0 (grey) at the top
      local n, imgs, maps = 48, {}, {}
      local g = gan.Generator(7)
      local rows = gan.randint(0, 6, { n }, { generator = g }):totable()
      local x = gan.zeros { n, 3, 16, 16 }
      local y = gan.zeros({ n, 16, 16 }, { dtype = "int64" })
      for i = 1, n do
         x[i][1]:narrow(2, 1, 8):fill_(1); y[i]:narrow(2, 1, 8):fill_(1)
         x[i][3]:narrow(2, 9, 8):fill_(1); y[i]:narrow(2, 9, 8):fill_(2)
         if rows[i] > 0 then
            x[i]:narrow(2, 1, rows[i]):fill_(0.5); y[i]:narrow(1, 1, rows[i]):fill_(0)
         end
      end
      x = x * 2 - 1
      local seg = metrics.train_segmenter(x, y, { n_classes = 3, epochs = 30, batch_size = 16, width = 8 })
      local m = metrics.miou(metrics.segment(seg, x), y, 3)
      assert.is_true(m > 0.9, m)
   end)
end)
