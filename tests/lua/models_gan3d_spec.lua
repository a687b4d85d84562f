-- 3D-GAN (gan.models.gan3d) and its data (gan.data.voxels): voxelised primitives against
-- hand counts, the procedural data set's determinism and split, the depth-shaded views,
-- D's accuracy and the adaptive update, the nearest-neighbour IoU, exact resume, and the
-- voxel classifier's accuracy on held-out objects.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local M = gan.models.get("gan3d")
local V = require("gan.data.voxels")

describe("procedural voxels #release_only", function()
   it("voxelises boxes, cylinders and carved holes as their voxel centres say", function()
      -- S = 8: centres at +-0.125, +-0.375, +-0.625, +-0.875; a box of half size 0.5 holds 4 per axis
      local box = { prims = { { kind = "box", c = { 0, 0, 0 }, h = { 0.5, 0.5, 0.5 } } }, angle = 0, scale = 1 }
      assert.are.equal(64, V.voxelize(box, 8):sum():item())
      -- a long box along x, turned 90 degrees about z, lies along y (dims z, y, x)
      local long = { prims = { { kind = "box", c = { 0, 0, 0 }, h = { 0.9, 0.2, 0.2 } } }, angle = 0, scale = 1 }
      local v0 = V.voxelize(long, 8)
      long.angle = math.pi / 2
      local v1 = V.voxelize(long, 8)
      assert.are.equal(v0:sum():item(), v1:sum():item())
      assert.are.equal(0, H.maxabs(v1 - v0:transpose(2, 3)))
      -- a cylinder of radius 0.5 over the full height: centres with x^2 + y^2 <= 0.25 in each of 8 layers
      local cyl = { prims = { { kind = "cyl", c = { 0, 0 }, z = { -1, 1 }, r = 0.5 } }, angle = 0, scale = 1 }
      local per_layer = 0
      for i = 0, 7 do for j = 0, 7 do
         local x, y = (i + 0.5) / 4 - 1, (j + 0.5) / 4 - 1
         if x * x + y * y <= 0.25 then per_layer = per_layer + 1 end
      end end
      assert.are.equal(8 * per_layer, V.voxelize(cyl, 8):sum():item())
      -- carving the same cylinder out of a box leaves the box minus it
      local carved = { prims = { { kind = "box", c = { 0, 0, 0 }, h = { 1, 1, 1 } }, { kind = "cyl", c = { 0, 0 }, z = { -1, 1 }, r = 0.5, carve = true } },
         angle = 0, scale = 1 }
      assert.are.equal(512 - 8 * per_layer, V.voxelize(carved, 8):sum():item())
   end)

   it("objects are a function of (split, seed, class, index); views show them", function()
      local a = V.dataset { split = "test", n_per_class = 2, size = 16, cache = false }
      local b = V.dataset { split = "test", n_per_class = 2, size = 16, cache = false }
      assert.are.same({ 8, 1, 16, 16, 16 }, a.images:size())
      assert.are.same({ 0, 0, 1, 1, 2, 2, 3, 3 }, a.labels:totable())
      assert.are.equal(0, H.maxabs(a.images - b.images))
      local c = V.dataset { split = "train", n_per_class = 2, size = 16, cache = false }
      assert.is_true(H.maxabs(a.images - c.images) > 0)
      for i = 1, 8 do assert.is_true(a.images[i]:sum():item() > 10, i) end   -- every object has voxels
      -- one voxel at (z, y, x) = (1, 2, 3) of a 4^3 grid: front view (along y) darkest where seen
      local one = gan.zeros { 1, 1, 4, 4, 4 }
      one[1][1][2][3][4] = 1
      local img = V.views(one)
      assert.are.same({ 1, 3, 4, 12 }, img:size())
      -- front view: row 4 - 1 - 1 = 2 (z up), column x = 3, depth y = 2 -> 0.25 + 0.6 * 2 / 4
      assert.is_true(math.abs(img[1][1][3][4] - 0.55) < 1e-6)
      assert.are.equal(1, img[1][1][1][1])   -- empty columns white
      assert.has_error(function() V.dataset { split = "all" } end, "voxels: split must be 'train' or 'test', got 'all'")
   end)
end)

describe("3D-GAN #release_only", function()
   H.single_threaded(setup, teardown)

   local function tiny(train)
      train.threads = 1
      gan.manual_seed(0)
      local model = M.new(H.config(M, { model = { nz = 8, ngf = 2, ndf = 2 }, data = { batch_size = 4 }, train = train }))
      local g = gan.Generator(3)
      local vox = gan.rand({ 8, 1, 32, 32, 32 }, { generator = g }):gt(0.7):float()
      return model, H.loader({ image = vox }, 4, 5)
   end

   it("D's accuracy counts real logits above 0 and fake ones below; D skips its update above the threshold", function()
      assert.are.equal(0.75, M.d_accuracy(gan.tensor { 1, -1 }, gan.tensor { -2, -3 }))
      local model, loader = tiny { d_skip_acc = 0 }
      local before = model.D:parameters()[1]:clone()
      local l = model:train_step(H.batches(loader), 1)
      if l.d_acc > 0 then
         assert.are.equal(1, l.d_skipped)
         assert.is_nil(l.loss_d)
         assert.are.equal(0, H.maxabs(model.D:parameters()[1] - before))
      end
      local m2, l2 = tiny { d_skip_acc = 1 }
      local r = m2:train_step(H.batches(l2), 1)
      assert.are.equal(0, r.d_skipped)
      assert.is_number(r.loss_d)
      assert.are.same({ 4, 1, 32, 32, 32 }, gan.no_grad(m2.G, m2:latent(4)):size())
   end)

   it("nearest-neighbour IoU: 1 for a copy, 0 for a disjoint shape", function()
      local a = gan.zeros { 2, 1, 4, 4, 4 }
      a[1][1][1]:fill_(1)           -- the bottom layer
      a[2][1][4]:fill_(1)           -- the top layer
      local train = gan.zeros { 1, 1, 4, 4, 4 }
      train[1][1][1]:fill_(1)
      assert.are.same({ 1, 0 }, M.nearest_iou(a, train))
      local half = gan.zeros { 1, 1, 4, 4, 4 }
      half[1][1][1]:narrow(1, 1, 2):fill_(1)   -- half the bottom layer: IoU 8 / 16
      assert.are.same({ 0.5 }, M.nearest_iou(half, train))
   end)

   it("gan sample and gan interpolate draw its objects as views", function()
      local dir = H.tmpdir()
      local model, loader = tiny { steps = 1, sample_every = 0, checkpoint_every = 1 }
      local run = gan.run.new { experiment = "gan3d", name = "v", root = dir, config = model.cfg }
      gan.train.fit(model, { data = loader, run = run, progress = false })
      run:close()
      local S = require("gan.sample")
      local imgs, steps = S.interpolate(run.dir, { rows = 2, steps = 3 })
      assert.are.equal(3, steps)
      local G = model:sampler("G")
      local z = model:latent(4, gan.Generator(1))
      local want = model:to_images(model.run_eval(G, z:narrow(1, 3, 2)))   -- each row's end: z_b
      assert.are.same({ 6, 3, 32, 96 }, imgs:size())
      assert.is_true(H.maxabs(imgs:narrow(1, 3, 1) - want:narrow(1, 1, 1)) < 1e-5)
      assert.are.same({ 5, 3, 32, 96 }, (S.sample(run.dir, { n = 5 })):size())
      H.rm_rf(dir)
   end)

   it("resumes exactly", function()
      H.resumes_exactly(function() return tiny { steps = 4, log_every = 1, sample_every = 0, checkpoint_every = 2 } end, 4, 3)
   end)
end)

describe("the voxel classifier #release_only", function()
   it("tells the held-out procedural objects apart", function()
      local clf = V.classifier(32)
      local test = V.dataset { split = "test" }
      local logits = gan.no_grad(clf, test.images)
      local _, pred = logits:max(2)
      local acc = pred:reshape(-1):eq(test.labels):double():mean():item()
      assert.is_true(acc >= 0.95, acc)
   end)
end)
