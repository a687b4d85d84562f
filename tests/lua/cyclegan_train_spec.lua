-- gan.train.CycleGAN on tiny networks and random unpaired images: one step moves all four
-- networks, the losses it logs are the paper's formulas, the learning rate follows the
-- constant-then-linear schedule, sample sheets have the documented rows, and a resumed
-- run continues exactly like an uninterrupted one.
local gan = require("gan")
local lfs = require("lfs")
local cg, train = gan.models.cyclegan, gan.train

local threads
setup(function()
   threads = gan.get_num_threads()
   gan.set_num_threads(1)
end)
teardown(function() gan.set_num_threads(threads) end)

local function tmpdir()
   local d = os.tmpname()
   os.remove(d)
   assert(lfs.mkdir(d))
   return d
end
local function rm_rf(d) if d and d:match("^/tmp/") then os.execute("rm -rf '" .. d .. "'") end end

-- Four tiny networks, their optimizers and schedules, and a loader of unpaired 16x16 images.
local function setup_nets(seed, steps)
   gan.manual_seed(seed)
   local n = {
      G_AB = cg.ResnetGenerator { ngf = 4, n_blocks = 1 }, G_BA = cg.ResnetGenerator { ngf = 4, n_blocks = 1 },
      D_A = cg.PatchDiscriminator { ndf = 4, n_layers = 1 }, D_B = cg.PatchDiscriminator { ndf = 4, n_layers = 1 },
   }
   local function both(x, y)
      local ps = x:parameters()
      for _, p in ipairs(y:parameters()) do ps[#ps + 1] = p end
      return ps
   end
   n.opt_g = gan.optim.Adam(both(n.G_AB, n.G_BA), { lr = 2e-4, betas = { 0.5, 0.999 } })
   n.opt_d = gan.optim.Adam(both(n.D_A, n.D_B), { lr = 2e-4, betas = { 0.5, 0.999 } })
   local decay = { n_constant = steps // 2, n_decay = steps - steps // 2 }
   n.sched_g = gan.optim.lr_scheduler.LinearDecay(n.opt_g, decay)
   n.sched_d = gan.optim.lr_scheduler.LinearDecay(n.opt_d, decay)
   local g = gan.Generator(99)
   local a = gan.data.TensorDataset { image = gan.rand({ 12, 3, 16, 16 }, { generator = g }):mul(2):sub(1) }
   local b = gan.data.TensorDataset { image = gan.rand({ 9, 3, 16, 16 }, { generator = g }):mul(2):sub(1) }
   n.data = gan.data.DataLoader(gan.data.unpaired(a, b, { seed = 1 }), { batch_size = 2, generator = gan.Generator(5) })
   n.samples = { a = a.fields.image:narrow(1, 1, 3), b = b.fields.image:narrow(1, 1, 3) }
   return n
end

local function snapshot(m)
   local s = {}
   for i, p in ipairs(m:parameters()) do s[i] = p:detach():clone() end
   return s
end
local function changed(m, s)
   for i, p in ipairs(m:parameters()) do
      if (p - s[i]):abs():max():item() > 0 then return true end
   end
   return false
end

describe("gan.train.CycleGAN", function()
   it("one step updates all four networks and logs the paper's losses", function()
      local n = setup_nets(1, 10)
      local before = {}
      for _, k in ipairs { "G_AB", "G_BA", "D_A", "D_B" } do before[k] = snapshot(n[k]) end
      local t = train.CycleGAN { G_AB = n.G_AB, G_BA = n.G_BA, D_A = n.D_A, D_B = n.D_B, opt_g = n.opt_g,
         opt_d = n.opt_d, data = n.data, steps = 1, progress = false }
      local logs = t:train_step(1)
      for _, k in ipairs { "G_AB", "G_BA", "D_A", "D_B" } do assert(changed(n[k], before[k]), k .. " did not change") end
      -- loss_g = gan terms + 10 (cycle) + 10 * 0.5 (identity); the discriminator loss halved
      local want = logs.gan_ab + logs.gan_ba + 10 * (logs.cyc_a + logs.cyc_b) + 5 * (logs.idt_a + logs.idt_b)
      assert(math.abs(logs.loss_g - want) < 1e-4 * want, logs.loss_g .. " vs " .. want)
      assert(math.abs(logs.loss_d - (logs.loss_d_a + logs.loss_d_b)) < 1e-5)
      for _, k in ipairs { "cyc_a", "cyc_b", "idt_a", "idt_b", "gan_ab", "gan_ba", "grad_norm_g", "grad_norm_d" } do
         assert(logs[k] > 0, k)
      end
   end)

   it("lambda_identity = 0 drops the identity terms; unknown options are errors", function()
      local n = setup_nets(2, 10)
      local t = train.CycleGAN { G_AB = n.G_AB, G_BA = n.G_BA, D_A = n.D_A, D_B = n.D_B, opt_g = n.opt_g,
         opt_d = n.opt_d, data = n.data, lambda_identity = 0, lambda_cycle = 3, progress = false }
      local logs = t:train_step(1)
      assert.is_nil(logs.idt_a)
      local want = logs.gan_ab + logs.gan_ba + 3 * (logs.cyc_a + logs.cyc_b)
      assert(math.abs(logs.loss_g - want) < 1e-4 * want)
      assert.has_error(function() train.CycleGAN { G_AB = n.G_AB, lamda_cycle = 1 } end, "CycleGAN: unknown option 'lamda_cycle'")
      assert.has_error(function() train.CycleGAN { G_AB = n.G_AB } end, "CycleGAN: option 'G_BA' is required")
   end)

   it("holds the learning rate for half the steps, then decays it linearly to 0", function()
      local n = setup_nets(3, 8)
      local t = train.CycleGAN { G_AB = n.G_AB, G_BA = n.G_BA, D_A = n.D_A, D_B = n.D_B, opt_g = n.opt_g,
         opt_d = n.opt_d, data = n.data, sched_g = n.sched_g, sched_d = n.sched_d, steps = 8, progress = false,
         hooks = { on_step = function(tr, step, logs) tr.lrs = tr.lrs or {}; tr.lrs[step] = logs.lr_g end } }
      t:fit()
      local want = { 1, 1, 1, 1, 1, 0.75, 0.5, 0.25 }   -- lr used at steps 1..8, times 2e-4
      for s = 1, 8 do assert(math.abs(t.lrs[s] - 2e-4 * want[s]) < 1e-12, "step " .. s .. ": " .. t.lrs[s]) end
      assert.are.equal(0, n.opt_g.param_groups[1].lr)
   end)

   it("sample sheets: input | translation | reconstruction | other domain, A to B then B to A", function()
      local n = setup_nets(4, 4)
      local t = train.CycleGAN { G_AB = n.G_AB, G_BA = n.G_BA, D_A = n.D_A, D_B = n.D_B, opt_g = n.opt_g,
         opt_d = n.opt_d, data = n.data, samples = n.samples, progress = false }
      local rows = t:sample()
      assert(n.G_AB.training and n.G_BA.training, "sampling leaves the generators in training mode")
      assert.are.same({ 24, 3, 16, 16 }, rows:size())
      local a, b = n.samples.a, n.samples.b
      gan.no_grad(function()
         n.G_AB:eval(); n.G_BA:eval()
         local ab = n.G_AB(a)
         assert((rows[1] - a[1]):abs():max():item() == 0)
         assert((rows[2] - ab[1]):abs():max():item() < 1e-6)
         assert((rows[3] - n.G_BA(ab)[1]):abs():max():item() < 1e-6)
         assert((rows[4] - b[1]):abs():max():item() == 0)
         assert((rows[13] - b[1]):abs():max():item() == 0)   -- B to A starts after 3 rows of 4
         assert((rows[16] - a[1]):abs():max():item() == 0)
      end)
   end)

   it("resuming from a checkpoint continues exactly like the uninterrupted run", function()
      local dir = tmpdir()
      local function run_to(name, stop, resume_from)
         local n = setup_nets(5, 6)
         local run = resume_from and gan.run.open(resume_from)
            or gan.run.new { experiment = "cg", name = name, root = dir, config = {} }
         local t = train.CycleGAN { G_AB = n.G_AB, G_BA = n.G_BA, D_A = n.D_A, D_B = n.D_B, opt_g = n.opt_g,
            opt_d = n.opt_d, data = n.data, sched_g = n.sched_g, sched_d = n.sched_d, steps = 6, pool = 2,
            run = run, log_every = 1, checkpoint_every = 3, progress = false, seed = 7 }
         if resume_from then t:resume() end
         t:fit(stop)
         if run.metrics_file then run.metrics_file:close(); run.metrics_file = nil end
         return run.dir
      end
      local full = run_to("full", 6)
      local part = run_to("part", 4)            -- runs on past the step-3 checkpoint
      run_to(nil, 6, part)                      -- resumes from step 3, rewrites steps 4..
      local function lines(d)
         local t = {}
         for l in io.lines(d .. "/metrics.jsonl") do t[#t + 1] = l end
         return t
      end
      local a, b = lines(full), lines(part)
      assert.are.equal(6, #a)
      assert.are.same(a, b)
      rm_rf(dir)
   end)
end)
