-- pix2pix (gan.models.pix2pix) and its data: OpenMoji's label maps and renders
-- (gan.data.openmoji), the Sobel edges of edges2emoji, the halved D loss, the L1-only
-- baseline, sheets, evaluation and exact resume.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local M = gan.models.get("pix2pix")
local O = require("gan.data.openmoji")

local function softplus(v) return math.log(1 + math.exp(v)) end

describe("OpenMoji pairs", function()
   it("label maps: background from the colour's alpha, line from the line art's, else the palette family", function()
      -- 2x3 pixels: transparent; yellow #fcea2b; blue #61b2e4; grey #9b9b9a; line over red; dark red #781e32
      local function rgba(r, g, b, a) return { r / 255, g / 255, b / 255, a } end
      local px = { rgba(0, 0, 0, 0), rgba(252, 234, 43, 1), rgba(97, 178, 228, 1),
                   rgba(155, 155, 154, 1), rgba(234, 90, 71, 1), rgba(120, 30, 50, 1) }
      local color = gan.zeros { 4, 2, 3 }
      for i, p in ipairs(px) do
         for c = 1, 4 do color[c][(i - 1) // 3 + 1][(i - 1) % 3 + 1] = p[c] end
      end
      local line = gan.zeros { 4, 2, 3 }
      line[4][2][2] = 1   -- the line art covers pixel 5
      local map = O.label_map(color, line)
      assert.are.same({ 1, 2, 3 }, map:size())
      assert.are.same({ { { 0, 2, 4 }, { 7, 1, 3 } } }, map:totable())
      assert.are.same({ "background", "line", "yellow", "red", "blue", "green", "skin", "grey" }, O.CLASSES)
   end)

   it("renders an SVG pair with rsvg-convert and derives colour, line and label images", function()
      local pkg = O.package_dir()
      local dir = H.tmpdir()
      for _, sub in ipairs { "render_color", "render_line", "color", "line", "labels" } do assert(require("lfs").mkdir(dir .. "/" .. sub)) end
      local hex = "1F34E"   -- red apple
      O.render({ { pkg .. "/color/svg/" .. hex .. ".svg", dir .. "/render_color/" .. hex .. ".png" },
                 { pkg .. "/black/svg/" .. hex .. ".svg", dir .. "/render_line/" .. hex .. ".png" } }, 32)
      O.derive(dir, hex)
      local rc = gan.core.image_load(dir .. "/render_color/" .. hex .. ".png", 4)
      assert.are.same({ 4, 32, 32 }, rc:size())
      -- the colour image is the render composited on white
      local c = gan.image.load(dir .. "/color/" .. hex .. ".png")
      local a = rc:narrow(1, 4, 1)
      assert.is_true(H.maxabs(c - (rc:narrow(1, 1, 3) * a + (1 - a))) <= 1 / 255 + 1e-6)
      -- the labels: ids 0-7, a red apple's coloured pixels mostly "red"
      local ids = (gan.image.load(dir .. "/labels/" .. hex .. ".png") * 255 + 0.5):floor():reshape(-1):totable()
      local count = {}
      for _, v in ipairs(ids) do
         assert.is_true(v >= 0 and v <= 7)
         count[v] = (count[v] or 0) + 1
      end
      local coloured = #ids - (count[0] or 0) - (count[1] or 0)
      assert.is_true((count[3] or 0) > 0.6 * coloured, count[3])
      assert.is_true((count[0] or 0) > 0 and (count[1] or 0) > 0)
      H.rm_rf(dir)
      assert.has_error(function() O.pairs { input = "edges" } end, "openmoji: input must be 'line' or 'labels', got 'edges'")
   end)
end)

describe("pix2pix #release_only", function()
   H.single_threaded(setup, teardown)

   it("edges: the Sobel magnitude of the luminance above the threshold, black on white", function()
      -- a vertical step from -1 to 1 between columns 4 and 5 of an 8x8 image
      local x = gan.full({ 1, 3, 8, 8 }, -1)
      x:narrow(4, 5, 4):fill_(1)
      local e = M.edges(x)
      assert.are.same({ 1, 1, 8, 8 }, e:size())
      -- Sobel gx is 8 on columns 4 and 5 (next to the step), 0 elsewhere (edges replicated)
      for col = 1, 8 do
         local want = (col == 4 or col == 5) and -1 or 1
         assert.are.equal(want * 8, e[1][1]:narrow(2, col, 1):sum():item(), col)
      end
      assert.are.equal(1, M.edges(gan.zeros { 1, 3, 8, 8 }):min():item())   -- flat: no edges
      -- one-hot label channels from grey levels id / 255
      local map = gan.tensor({ 0, 1, 7, 3 }):view(1, 1, 2, 2) / 255
      local oh = M.one_hot(map)
      assert.are.same({ 1, 8, 2, 2 }, oh:size())
      assert.are.same({ 1, 1, 1, 1 }, oh:sum(2):reshape(-1):totable())
      assert.are.equal(1, oh[1][8][2][1])
      assert.are.equal(1, oh[1][4][2][2])
   end)

   it("halves D's cross-entropy on (input, target) as real and (input, output) as fake", function()
      local D = function(xy) return xy:mean({ 2, 3, 4 }) end   -- a stand-in: one logit per image
      local x, y, fake = gan.full({ 2, 1, 4, 4 }, 0.2), gan.full({ 2, 3, 4, 4 }, 0.6), gan.full({ 2, 3, 4, 4 }, -0.4)
      local real_logit, fake_logit = (0.2 + 3 * 0.6) / 4, (0.2 - 3 * 0.4) / 4
      local want = 0.5 * (softplus(-real_logit) + softplus(fake_logit))
      assert.is_true(math.abs(M.d_loss(D, x, y, fake):item() - want) < 1e-6)
   end)

   local function tiny(train)
      train.threads = 1
      gan.manual_seed(0)
      local model = M.new(H.config(M, { data = { task = "edges2emoji", image_size = 32, batch_size = 2 },
         model = { ngf = 4, ndf = 4, n_layers = 2 }, train = train }))
      local loader = gan.data.DataLoader(M.dataset(model.cfg), { batch_size = 2, generator = gan.Generator(5) })
      return model, loader
   end

   it("trains G on the cGAN term plus 100 L1; the L1-only baseline has no D", function()
      local model, loader = tiny {}
      local data = H.batches(loader)
      for step = 1, 2 do
         local l = model:train_step(data, step)
         assert.is_true(math.abs(l.loss_g - (l.adv + 100 * l.l1)) < 1e-3 * l.loss_g)
         assert.is_number(l.loss_d)
      end
      local base, l2 = tiny { gan = 0 }
      assert.is_nil(base.D)
      local l = base:train_step(H.batches(l2), 1)
      assert.is_nil(l.adv)
      assert.is_true(math.abs(l.loss_g - 100 * l.l1) < 1e-4 * l.loss_g)
      -- sheets: input | output | target for 8 held-out pairs; the evaluation's numbers
      local imgs, o = model:sample()
      assert.are.same({ 24, 3, 32, 32 }, imgs:size())
      assert.are.equal(6, o.nrow)
      -- the 8 pairs are spread over the held-out split (its first ones are all flags)
      local test = M.dataset(model.cfg, "test")
      local len = gan.data.len(test)
      for i = 1, 8 do
         local _, want = model:pair(test:get_batch(gan.tensor({ (i - 1) * len // 8 }, { dtype = "int64" })))
         assert.is_true(H.maxabs(imgs:narrow(1, 3 * i, 1) - want) == 0, i)
      end
      local r = model:evaluate { n = 12 }
      assert.are.equal(12, r.n)
      for _, k in ipairs { "l1", "psnr", "fid", "fid_input" } do assert.is_true(r[k] == r[k], k) end
   end)

   it("resumes exactly", function()
      H.resumes_exactly(function()
         return tiny { steps = 4, log_every = 1, sample_every = 0, checkpoint_every = 2 }
      end, 4, 3)
   end)
end)
