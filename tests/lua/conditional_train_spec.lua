-- gan.train.ACGAN: the step's losses and logs, class-row sample sheets, exact resume.
local gan = require("gan")
local lfs = require("lfs")
local ac, train = gan.models.acgan, gan.train

local threads
setup(function()
   threads = gan.get_num_threads()
   gan.set_num_threads(1)
end)
teardown(function() gan.set_num_threads(threads) end)

-- A 6-step run against one stopped after 4 steps (checkpoint at 3) and resumed: the
-- same metrics.jsonl. build(seed, extra_opts) makes the trainer.
local function resumes_exactly(build)
   local dir = os.tmpname(); os.remove(dir); assert(lfs.mkdir(dir))
   local function go(name, stop, from)
      local run = from and gan.run.open(from) or gan.run.new { experiment = "x", name = name, root = dir, config = {} }
      local t = build(6, { run = run, log_every = 1, checkpoint_every = 3 })
      if from then t:resume() end
      t:fit(stop)
      run:close()
      return run.dir
   end
   local full, part = go("full", 6), go("part", 4)
   go(nil, 6, part)
   local function read(d) local f = io.open(d .. "/metrics.jsonl"); local s = f:read("a"); f:close(); return s end
   assert.are.equal(read(full), read(part))
   os.execute("rm -rf '" .. dir .. "'")
end

local function build(seed, extra)
   gan.manual_seed(seed)
   local G, D = ac.Generator { nz = 8, ngf = 4, image_size = 16, n_classes = 3 },
      ac.Discriminator { ndf = 4, image_size = 16, n_classes = 3 }
   local g = gan.Generator(3)
   local ds = gan.data.TensorDataset { image = gan.rand({ 12, 1, 16, 16 }, { generator = g }):mul(2):sub(1),
      label = gan.randint(0, 3, { 12 }, { generator = g }) }
   local o = { G = G, D = D, n_classes = 3, seed = 4, steps = 6, progress = false,
      opt_g = gan.optim.Adam(G:parameters(), { lr = 2e-4, betas = { 0.5, 0.999 } }),
      opt_d = gan.optim.Adam(D:parameters(), { lr = 2e-4, betas = { 0.5, 0.999 } }),
      data = gan.data.DataLoader(ds, { batch_size = 4, generator = gan.Generator(5) }),
      latent = function(n, gen) return gan.randn({ n, 8 }, { generator = gen }) end }
   for k, v in pairs(extra or {}) do o[k] = v end
   return train.ACGAN(o)
end

describe("gan.train.ACGAN", function()
   it("logs D's L_S and L_C, class accuracies, and loss_d = L_S + L_C", function()
      local t = build(1)
      local logs = t:train_step(1)
      assert(math.abs(logs.loss_d - (logs.l_s + logs.l_c)) < 1e-5)
      for _, k in ipairs { "acc_real", "acc_fake" } do assert(logs[k] >= 0 and logs[k] <= 1, k) end
      assert(logs.loss_g > 0)
   end)

   it("fake_class_weight = 0 leaves the fakes out of D's class loss; bad weights are refused", function()
      -- same seed, same batch: D's loss with weight 0 is L_S + the real images' class loss
      local t = build(1, { fake_class_weight = 0 })
      local logs = t:train_step(1)
      assert(math.abs(logs.loss_d - (logs.l_s + logs.l_c)) < 1e-5)
      local t1 = build(1)
      local l1 = t1:train_step(1)
      assert.are.equal(l1.l_s, logs.l_s)
      assert(l1.l_c > logs.l_c, "the fakes' class term is gone")
      for _, bad in ipairs { -1, 0 / 0, "1" } do
         assert.has_error(function() build(1, { fake_class_weight = bad }) end,
            ("ACGAN: fake_class_weight must be a number >= 0, got %s"):format(tostring(bad)))
      end
   end)

   it("sample sheets have one row per class, from the EMA generator when kept", function()
      local t = build(2, { ema = { decay = 0.9, start = 0 } })
      t:fit(2)
      local imgs = t:sample()
      assert.are.same({ 9, 1, 16, 16 }, imgs:size())
      assert.are.same({ 0, 0, 0, 1, 1, 1, 2, 2, 2 }, t.fixed_y:totable())
      local G = t.ema.model
      gan.no_grad(function()
         local want = G(t.fixed_z, t.fixed_y)
         assert((want - imgs):abs():max():item() < 1e-6)
      end)
   end)

   it("resumes exactly", function() resumes_exactly(build) end)
end)

describe("gan.train.InfoGAN", function()
   local info = gan.models.infogan
   local function build(seed, extra)
      gan.manual_seed(seed)
      local G = info.Generator { n_noise = 5, n_cat = 3, n_cont = 2, ngf = 4, image_size = 16 }
      local D = info.Discriminator { n_cat = 3, n_cont = 2, ndf = 4, image_size = 16 }
      local ds = gan.data.TensorDataset { image = gan.rand({ 12, 1, 16, 16 }, { generator = gan.Generator(3) }):mul(2):sub(1) }
      local o = { G = G, D = D, n_noise = 5, n_cat = 3, n_cont = 2, seed = 4, steps = 6, progress = false,
         opt_g = gan.optim.Adam(G:parameters(), { lr = 1e-3, betas = { 0.5, 0.999 } }),
         opt_d = gan.optim.Adam(D:parameters(), { lr = 2e-4, betas = { 0.5, 0.999 } }),
         data = gan.data.DataLoader(ds, { batch_size = 4, generator = gan.Generator(5) }) }
      for k, v in pairs(extra or {}) do o[k] = v end
      return train.InfoGAN(o)
   end

   it("logs the information terms; mi = ln(n_cat) - cross-entropy", function()
      local t = build(1)
      local logs = t:train_step(1)
      assert(math.abs(logs.mi - (math.log(3) - logs.info_cat)) < 1e-12)
      assert(logs.info_cont > 0 and logs.info_cat > 0)
   end)

   it("traversal latents: per continuous code, rows = categorical values, columns sweep -2..2", function()
      local t = build(2)
      local z = t.fixed_z:reshape(t.fixed_z:size(1), 10)   -- 5 noise + 3 one-hot + 2 codes
      assert.are.equal(2 * 3 * 10, z:size(1))
      for j = 1, 2 do
         for r = 1, 3 do
            for c = 1, 10 do
               local row = z[((j - 1) * 3 + (r - 1)) * 10 + c]
               assert.are.equal(1, row[5 + r], "one-hot of row " .. r)
               local want = -2 + (c - 1) * 4 / 9
               assert(math.abs(row[8 + j] - want) < 1e-6)
               assert.are.equal(0, row[8 + 3 - j])
               -- the noise is the row's: the same across a row's columns
               assert.are.equal(z[((j - 1) * 3 + (r - 1)) * 10 + 1][1], row[1])
            end
         end
      end
      assert.are.same({ 60, 1, 16, 16 }, t:sample():size())
   end)

   it("resumes exactly", function() resumes_exactly(build) end)
end)
