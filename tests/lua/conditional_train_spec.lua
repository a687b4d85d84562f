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

   it("resumes exactly", function()
      local dir = os.tmpname(); os.remove(dir); assert(lfs.mkdir(dir))
      local function go(name, stop, from)
         local run = from and gan.run.open(from) or gan.run.new { experiment = "ac", name = name, root = dir, config = {} }
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
   end)
end)
