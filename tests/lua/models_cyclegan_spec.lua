-- gan.models.cyclegan on tiny networks and random unpaired images: one step moves all four
-- networks, the losses it logs are the paper's formulas, the learning rate follows the
-- constant-then-linear schedule, sample sheets have the documented rows, and a resumed
-- run continues exactly like an uninterrupted one.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local cg = gan.models.cyclegan

H.single_threaded(setup, teardown)

-- The model on tiny networks, and a loader of unpaired 16x16 images (12 in A, 9 in B).
local function build(seed, train)
   gan.manual_seed(seed)
   local model = cg.new(H.config(cg, { model = { ngf = 4, n_blocks = 1, ndf = 4, n_layers = 1 },
      data = { batch_size = 2, image_size = 16 }, train = train }))
   local g = gan.Generator(99)
   local a = gan.data.TensorDataset { image = gan.rand({ 12, 3, 16, 16 }, { generator = g }):mul(2):sub(1) }
   local b = gan.data.TensorDataset { image = gan.rand({ 9, 3, 16, 16 }, { generator = g }):mul(2):sub(1) }
   local loader = gan.data.DataLoader(gan.data.unpaired(a, b, { seed = 1 }), { batch_size = 2,
      generator = gan.Generator(5) })
   return model, loader, a, b
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

describe("gan.models.cyclegan", function()
   it("one step updates all four networks and logs the paper's losses", function()
      local model, loader = build(1, { steps = 10, decay_start = 5 })
      local before = {}
      for _, k in ipairs { "G_AB", "G_BA", "D_A", "D_B" } do before[k] = snapshot(model[k]) end
      local logs = model:train_step(H.batches(loader), 1)
      for _, k in ipairs { "G_AB", "G_BA", "D_A", "D_B" } do assert(changed(model[k], before[k]), k .. " did not change") end
      -- loss_g = gan terms + 10 (cycle) + 10 * 0.5 (identity); the discriminator loss halved
      local want = logs.gan_ab + logs.gan_ba + 10 * (logs.cyc_a + logs.cyc_b) + 5 * (logs.idt_a + logs.idt_b)
      assert(math.abs(logs.loss_g - want) < 1e-4 * want, logs.loss_g .. " vs " .. want)
      assert(math.abs(logs.loss_d - (logs.loss_d_a + logs.loss_d_b)) < 1e-5)
      for _, k in ipairs { "cyc_a", "cyc_b", "idt_a", "idt_b", "gan_ab", "gan_ba" } do assert(logs[k] > 0, k) end
      assert(model.step_logs.grad_norm_g > 0 and model.step_logs.grad_norm_d > 0)
   end)

   it("lambda_identity = 0 drops the identity terms; a bad decay_start or generator is refused", function()
      local model, loader = build(2, { lambda_identity = 0.0, lambda_cycle = 3.0 })
      local logs = model:train_step(H.batches(loader), 1)
      assert.is_nil(logs.idt_a)
      local want = logs.gan_ab + logs.gan_ba + 3 * (logs.cyc_a + logs.cyc_b)
      assert(math.abs(logs.loss_g - want) < 1e-4 * want)
      assert.has_error(function() build(2, { steps = 10, decay_start = 11 }) end,
         "cyclegan: train.decay_start must be between 0 and train.steps (10), got 11")
      assert.has_error(function() cg.new(H.config(cg, { model = { generator = "vit" } })) end,
         "values: model.generator: expected one of 'resnet', 'unet', got 'vit'")
   end)

   it("holds the learning rate for half the steps, then decays it linearly to 0", function()
      local model, loader = build(3, { steps = 8, decay_start = 4 })
      local lrs = {}
      gan.train.fit(model, { data = loader, hooks = { on_step = function(_, step, logs) lrs[step] = logs.lr_g end } })
      local want = { 1, 1, 1, 1, 1, 0.75, 0.5, 0.25 }   -- lr used at steps 1..8, times 2e-4
      for s = 1, 8 do assert(math.abs(lrs[s] - 2e-4 * want[s]) < 1e-12, "step " .. s .. ": " .. lrs[s]) end
      assert.are.equal(0, model.optimizers.g.opt.param_groups[1].lr)
   end)

   it("sample sheets: input | translation | reconstruction | other domain, A to B then B to A", function()
      local model, _, a, b = build(4, { steps = 4, decay_start = 2 })
      local sa, sb = a.fields.image:narrow(1, 1, 3), b.fields.image:narrow(1, 1, 3)
      model.samples = { a = sa, b = sb }
      local rows, o = model:sample()
      assert.are.equal(4, o.nrow)
      assert(model.G_AB.training and model.G_BA.training, "sampling leaves the generators in training mode")
      assert.are.same({ 24, 3, 16, 16 }, rows:size())
      gan.no_grad(function()
         model.G_AB:eval(); model.G_BA:eval()
         local ab = model.G_AB(sa)
         assert((rows[1] - sa[1]):abs():max():item() == 0)
         assert((rows[2] - ab[1]):abs():max():item() < 1e-6)
         assert((rows[3] - model.G_BA(ab)[1]):abs():max():item() < 1e-6)
         assert((rows[4] - sb[1]):abs():max():item() == 0)
         assert((rows[13] - sb[1]):abs():max():item() == 0)   -- B to A starts after 3 rows of 4
         assert((rows[16] - sa[1]):abs():max():item() == 0)
      end)
   end)

   it("resuming from a checkpoint continues exactly like the uninterrupted run (pools included)", function()
      H.resumes_exactly(function()
         local model, loader = build(5, { steps = 6, decay_start = 3, pool = 2, seed = 7, log_every = 1,
            checkpoint_every = 3, sample_every = 0 })
         return model, loader
      end, 6, 4)
   end)
end)
