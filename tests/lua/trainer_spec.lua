-- gan.train: the image history pool (fill, swap statistics, state round trip) and the
-- Trainer's schedule (critic steps, lazy penalties, clipping, EMA, LR schedules, hooks)
-- and its outputs (metrics.jsonl, sample sheets, checkpoints), on tiny models: MLPs on
-- 2-d points and a DCGAN at 16x16 with 4 channels.
local gan = require("gan")
local lfs = require("lfs")
local nn, optim = gan.nn, gan.optim
local train = gan.train

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

local function exists(p) return lfs.attributes(p, "mode") ~= nil end

local function maxabs(t) return t:detach():double():abs():max():item() end

-- ---------------------------------------------------------------- image pool

describe("ImagePool", function()
   -- A batch of single-pixel-valued 1x2x2 images carrying ids first..first+n-1.
   local function batch(first, n)
      local t = {}
      for i = 1, n do t[i] = gan.full({ 1, 2, 2 }, first + i - 1) end
      return gan.stack(t, 1)
   end
   local function ids(out)
      local r = {}
      for i = 1, out:size(1) do
         local img = out[i]
         assert.are.equal(img:min():item(), img:max():item(), "an image came back mixed")
         r[i] = math.tointeger(img[1][1][1])
      end
      return r
   end

   it("stores and returns the first `size` images, then swaps with probability 0.5", function()
      local pool = train.ImagePool(50, { seed = 3 })
      local next_id = 1
      for _ = 1, 5 do   -- 5 x 10 = 50: all returned as given
         local got = ids(pool:query(batch(next_id, 10)))
         for i = 1, 10 do assert.are.equal(next_id + i - 1, got[i]) end
         next_id = next_id + 10
      end
      assert.are.equal(50, #pool.images)
      -- A model of the pool: which id sits in which slot.
      local slots = {}
      for j = 1, 50 do slots[j] = j end
      local queries, swaps, hits = 0, 0, {}
      for j = 1, 50 do hits[j] = 0 end
      for _ = 1, 500 do
         local got = ids(pool:query(batch(next_id, 8)))
         for i = 1, 8 do
            local id = next_id + i - 1
            queries = queries + 1
            if got[i] ~= id then
               -- a swapped image is a previous one, taken from the pool and replaced by the new one
               swaps = swaps + 1
               assert(got[i] < id, "a swapped image must be an earlier one")
               local slot
               for j = 1, 50 do if slots[j] == got[i] then slot = j end end
               assert(slot, ("image %d was returned but is not in the pool"):format(got[i]))
               slots[slot] = id
               hits[slot] = hits[slot] + 1
            end
         end
         next_id = next_id + 8
      end
      -- rate 0.5 within 5 standard errors
      local rate, se = swaps / queries, math.sqrt(0.25 / queries)
      assert(math.abs(rate - 0.5) < 5 * se, ("swap rate %.4f over %d queries"):format(rate, queries))
      -- the slot replaced is uniform: chi-square with 49 degrees of freedom (mean 49, sd 9.9)
      local chi2, e = 0, swaps / 50
      for j = 1, 50 do chi2 = chi2 + (hits[j] - e) ^ 2 / e end
      assert(chi2 < 49 + 5 * 9.9, ("slot choice not uniform: chi2 %.1f"):format(chi2))
      -- the pool holds exactly what the model says
      local have = ids(gan.stack(pool.images, 1))
      table.sort(have)
      local want = { table.unpack(slots) }
      table.sort(want)
      assert.are.same(want, have)
   end)

   it("returns copies detached from the graph; size 0 passes batches through; p = 0 and 1", function()
      local x = gan.randn({ 3, 1, 2, 2 }):requires_grad_()
      local out = train.ImagePool(5):query(x)
      assert.is_false(out.requires_grad)
      assert.are.equal(0, maxabs(out - x))
      assert.are.equal(x, train.ImagePool(0):query(x))
      local never = train.ImagePool(4, { p = 0, seed = 1 })
      never:query(batch(1, 4))
      assert.are.same({ 5, 6, 7, 8, 9, 10 }, ids(never:query(batch(5, 6))))
      local always = train.ImagePool(4, { p = 1, seed = 1 })
      always:query(batch(1, 4))
      always:query(batch(5, 30))
      local got = ids(always:query(batch(100, 20)))
      for i, id in ipairs(got) do assert(id < 100 + i - 1, "p = 1 always returns a stored image") end
   end)

   it("state_dict / load_state_dict (also through a file) continues identically", function()
      for _, warm in ipairs { 20, 70 } do   -- not yet full, and full
         local a = train.ImagePool(50, { seed = 11 })
         a:query(batch(1, warm))
         local sd = a:state_dict()
         local path = os.tmpname()
         gan.save(path, { pool = sd })
         local sd2 = gan.load(path).pool
         os.remove(path)
         for _, s in ipairs { sd, sd2 } do
            local b = train.ImagePool(50, { seed = 999 })
            b:load_state_dict(s)
            assert.are.equal(#a.images, #b.images)
            local a2 = train.ImagePool(50, { seed = 999 })
            a2:load_state_dict(sd)
            for q = 1, 30 do
               local x = batch(1000 + q * 10, 7)
               local ra, rb = ids(a2:query(x)), ids(b:query(x))
               assert.are.same(ra, rb)
            end
         end
         -- and the original pool produces the same continuation
         local b = train.ImagePool(50, { seed = 5 })
         b:load_state_dict(sd)
         for q = 1, 30 do
            local x = batch(5000 + q * 10, 7)
            assert.are.same(ids(a:query(x)), ids(b:query(x)))
         end
      end
   end)
end)

-- ---------------------------------------------------------------- trainer

-- MLPs on 2-d points: 32 points in batches of 8 (4 batches per epoch).
local function toy(opts)
   opts = opts or {}
   gan.manual_seed(opts.seed or 1)
   local G = nn.Sequential { nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2) }
   local D = opts.D or nn.Sequential { nn.Linear(2, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1) }
   local ds = gan.data.TensorDataset { image = gan.randn({ 32, 2 }, { generator = gan.Generator(2) }) }
   local loader = gan.data.DataLoader(ds, { batch_size = 8, generator = gan.Generator(3) })
   local o = {
      G = G, D = D, data = loader, progress = false, seed = 4,
      opt_g = opts.opt_g and opts.opt_g(G) or optim.Adam(G:parameters(), { lr = 1e-2 }),
      opt_d = opts.opt_d and opts.opt_d(D) or optim.Adam(D:parameters(), { lr = 1e-2 }),
      latent = function(n, g) return gan.randn({ n, 2 }, { generator = g }) end,
   }
   for k, v in pairs(opts.trainer or {}) do o[k] = v end
   return o
end

-- Wraps obj:method to record calls in `log` (as `tag`) before calling through.
local function spy(obj, method, log, tag, before)
   local orig = obj[method]
   obj[method] = function(self, ...)
      if before then before(self) end
      log[#log + 1] = tag
      return orig(self, ...)
   end
end

describe("Trainer", function()
   it("checks its options", function()
      local o = toy()
      o.nonsense = 1
      assert.has_error(function() train.Trainer(o) end, "Trainer: unknown option 'nonsense'")
      o = toy()
      o.opt_d = nil
      assert.has_error(function() train.Trainer(o) end, "Trainer: option 'opt_d' is required")
      o = toy()
      o.loss = "bogus"
      assert.has_error(function() train.Trainer(o) end, "Trainer: unknown loss 'bogus'")
      o = toy()
      o.schedule_per = "iteration"
      assert.has_error(function() train.Trainer(o) end, "Trainer: schedule_per must be 'epoch' or 'step', got 'iteration'")
   end)

   it("n_critic = 5: five discriminator steps on five batches per generator step", function()
      local o = toy { trainer = { n_critic = 5, steps = 3 } }
      local events, batches = {}, 0
      spy(o.opt_d, "step", events, "d")
      spy(o.opt_g, "step", events, "g")
      local next_batch = o.data.next
      o.data.next = function(self)
         local b = next_batch(self)
         if b then batches = batches + 1; events[#events + 1] = "batch" end
         return b
      end
      local t = train.Trainer(o)
      t:fit()
      assert.are.equal(3, t.step)
      assert.are.equal(15, batches)
      local want = {}
      for _ = 1, 3 do
         for _ = 1, 5 do want[#want + 1] = "batch"; want[#want + 1] = "d" end
         want[#want + 1] = "g"
      end
      assert.are.same(want, events)
   end)

   it("gp = {weight, every = k}: the penalty only on steps divisible by k, with weight * k", function()
      -- a linear critic: grad_x D = w everywhere, so gp = weight k (||w|| - 1)^2 exactly
      local D = nn.Linear(2, 1)
      local o = toy { D = D, trainer = { loss = "wgan", gp = { weight = 10, every = 3 }, steps = 7 } }
      local w_at_step = {}
      local orig = o.opt_d.step
      o.opt_d.step = function(self)
         w_at_step[#w_at_step + 1] = D.weight:detach():double():norm():item()
         return orig(self)
      end
      local logs = {}
      o.hooks = { on_step = function(_, step, l) logs[step] = l end }
      train.Trainer(o):fit()
      for step = 1, 7 do
         local l = logs[step]
         if step % 3 == 0 then
            local nw = w_at_step[step]
            assert(math.abs(l.gp - 30 * (nw - 1) ^ 2) < 1e-5 * math.max(1, l.gp), ("step %d: gp %g"):format(step, l.gp))
            assert(math.abs(l.grad_norm_xhat - nw) < 1e-5)
            -- the logged critic loss includes it
            assert(math.abs(l.loss_d - (l.d_fake - l.d_real + l.gp)) < 1e-4 * math.max(1, math.abs(l.loss_d)))
         else
            assert.is_nil(l.gp, "no gp at step " .. step)
            assert.is_nil(l.grad_norm_xhat)
            assert(math.abs(l.loss_d - (l.d_fake - l.d_real)) < 1e-5 * math.max(1, math.abs(l.loss_d)))
         end
      end
   end)

   it("lazy penalties apply on every critic step of their steps (gp and r1)", function()
      local losses = gan.losses
      local orig_gp, orig_r1 = losses.gradient_penalty, losses.r1_penalty
      local calls = {}
      losses.gradient_penalty = function(D, real, fake, opts)
         calls[#calls + 1] = { "gp", opts.weight }
         return orig_gp(D, real, fake, opts)
      end
      losses.r1_penalty = function(D, real, opts)
         calls[#calls + 1] = { "r1", opts.weight }
         return orig_r1(D, real, opts)
      end
      local ok, err = pcall(function()
         local D = nn.Linear(2, 1)
         local o = toy { D = D, trainer = { n_critic = 2, gp = { weight = 10, every = 3 }, r1 = { weight = 2, every = 2 },
            steps = 6 } }
         local logs = {}
         o.hooks = { on_step = function(_, step, l) logs[step] = l end }
         train.Trainer(o):fit()
         -- gp at steps 3 and 6, r1 at 2, 4, 6; twice per step (n_critic = 2)
         assert.are.same({ { "r1", 4 }, { "r1", 4 }, { "gp", 30 }, { "gp", 30 }, { "r1", 4 }, { "r1", 4 },
            { "gp", 30 }, { "r1", 4 }, { "gp", 30 }, { "r1", 4 } }, calls)
         for step = 1, 6 do
            assert.are.equal(step % 2 == 0, logs[step].r1 ~= nil)
            assert.are.equal(step % 3 == 0, logs[step].gp ~= nil)
         end
         -- r1 of a linear critic: weight k / 2 ||w||^2 (w after the first critic step of the step)
         assert(logs[2].r1 > 0)
      end)
      losses.gradient_penalty, losses.r1_penalty = orig_gp, orig_r1
      assert(ok, err)
   end)

   it("clip clamps every discriminator parameter after each discriminator step", function()
      local c = 0.01
      local o = toy { trainer = { clip = c, n_critic = 3, steps = 4, loss = "wgan" },
         opt_d = function(D) return optim.SGD(D:parameters(), { lr = 5 }) end }
      local calls, at_bound = 0, 0
      local orig = o.opt_d.step
      o.opt_d.step = function(self)
         calls = calls + 1
         if calls > 1 then   -- clamped after the previous D step
            for _, p in ipairs(o.D:parameters()) do assert(maxabs(p) <= c, "unclipped before D step " .. calls) end
         end
         return orig(self)
      end
      local before = 0
      for _, p in ipairs(o.D:parameters()) do before = math.max(before, maxabs(p)) end
      assert(before > c, "the initial weights exceed the clip value")
      o.hooks = { on_step = function(t)
         for _, p in ipairs(t.D:parameters()) do
            assert(maxabs(p) <= c)
            at_bound = at_bound + p:detach():abs():ge(c):sum():item()
         end
      end }
      train.Trainer(o):fit()
      assert.are.equal(12, calls)
      assert(at_bound > 0, "large SGD steps push some weights to the bound")
   end)

   it("keeps an EMA of G that follows e_t = d e_{t-1} + (1 - d) G_t (copies before `start`)", function()
      for _, start in ipairs { 0, 3 } do
         local o = toy { trainer = { ema = { decay = 0.9, start = start }, steps = 6 } }
         local expected = {}
         for n, p in o.G:named_parameters() do expected[n] = p:detach():double():clone() end
         local t
         o.hooks = { on_step = function(tr, step)
            local cur = {}
            for n, p in tr.G:named_parameters() do cur[n] = p:detach():double() end
            for n, e in pairs(expected) do
               if step < start then expected[n] = cur[n]:clone()
               else expected[n] = e * 0.9 + cur[n] * 0.1 end
            end
            for n, p in tr.ema.model:named_parameters() do
               local err = maxabs(p:double() - expected[n])
               assert(err < 1e-6, ("step %d, %s: EMA off by %g"):format(step, n, err))
               if step < start then assert.are.equal(0, maxabs(p:double() - cur[n])) end
            end
         end }
         t = train.Trainer(o)
         t:fit()
         local diff = 0
         local ema = {}
         for n, p in t.ema.model:named_parameters() do ema[n] = p end
         for n, p in t.G:named_parameters() do diff = math.max(diff, maxabs(p - ema[n])) end
         assert(diff > 1e-4, "the EMA model differs from G")
         assert.is_false(t.ema.model.training)
         -- sample sheets come from the EMA model
         local imgs = t:sample()
         local want = gan.no_grad(function() return t.ema.model(t.fixed_z) end)
         assert.are.equal(0, maxabs(imgs - want))
      end
   end)

   it("steps LR schedulers once per epoch (schedule_per = 'epoch') or once per step", function()
      local function lrs(per, n_critic, steps)
         local o = toy { trainer = { schedule_per = per, n_critic = n_critic, steps = steps } }
         o.opt_g = optim.SGD(o.G:parameters(), { lr = 0.1 })
         o.opt_d = optim.SGD(o.D:parameters(), { lr = 0.2 })
         o.sched_g = optim.lr_scheduler.ExponentialLR(o.opt_g, { gamma = 0.5 })
         o.sched_d = optim.lr_scheduler.ExponentialLR(o.opt_d, { gamma = 0.5 })
         local got = {}
         o.hooks = { on_step = function(_, step, l) got[step] = { l.lr_g, l.lr_d } end }
         train.Trainer(o):fit()
         return got
      end
      local function check(got, factor_of_step)
         for step, v in ipairs(got) do
            local f = factor_of_step(step)
            assert(math.abs(v[1] - 0.1 * f) < 1e-12 and math.abs(v[2] - 0.2 * f) < 1e-12,
               ("step %d: lr %g, %g; want factor %g"):format(step, v[1], v[2], f))
         end
      end
      -- 4 batches per epoch: the lr logged at a step is the one that step used
      check(lrs("epoch", 1, 10), function(s) return 0.5 ^ ((s - 1) // 4) end)
      check(lrs("epoch", 2, 6), function(s) return 0.5 ^ ((s - 1) // 2) end)
      check(lrs("step", 1, 6), function(s) return 0.5 ^ (s - 1) end)
      check(lrs("step", 3, 4), function(s) return 0.5 ^ (s - 1) end)
      -- the default is per epoch
      check(lrs(nil, 1, 6), function(s) return 0.5 ^ ((s - 1) // 4) end)
   end)

   it("supports the named losses and a custom {d, g} pair", function()
      for _, name in ipairs { "nonsaturating", "minimax", "lsgan", "wgan", "hinge" } do
         local o = toy { trainer = { loss = name, steps = 2, label_smoothing = 0.1, label_flip = 0.05,
            instance_noise = { sigma = 0.1, steps = 2 }, pool = 4 } }
         local last
         o.hooks = { on_step = function(_, _, l) last = l end }
         train.Trainer(o):fit()
         assert(last.loss_d == last.loss_d and last.loss_g == last.loss_g, name)
      end
      local seen = {}
      local o = toy { trainer = { steps = 2, loss = {
         d = function(r, f, opts) seen.opts = opts; return f:mean() - r:mean() end,
         g = function(f) seen.g = true; return -f:mean() end } } }
      o.label_smoothing = 0.2
      train.Trainer(o):fit()
      assert.is_true(seen.g)
      assert.are.equal(0.2, seen.opts.smoothing)
   end)

   it("augment: D sees shifted and cut images (real, fake, and in G's pass, with gradients through)", function()
      gan.manual_seed(6)
      -- 6x6 one-channel images that are all +1: any -1 pixel D sees is border fill or cutout
      local ds = gan.data.TensorDataset { image = gan.ones { 16, 1, 6, 6 } }
      local G = nn.Sequential { nn.Linear(2, 36), nn.Tanh(), nn.Unflatten(2, { 1, 6, 6 }) }
      local D = nn.Sequential { nn.Flatten(), nn.Linear(36, 1) }
      local seen = {}
      local forward = D.forward
      D.forward = function(self, x)
         seen[#seen + 1] = { min = x:detach():min():item(), grad = x.requires_grad }
         return forward(self, x)
      end
      local o = { G = G, D = D, progress = false, seed = 1, steps = 3,
         data = gan.data.DataLoader(ds, { batch_size = 8, generator = gan.Generator(1) }),
         opt_g = optim.Adam(G:parameters()), opt_d = optim.Adam(D:parameters()),
         latent = function(n, g) return gan.randn({ n, 2 }, { generator = g }) end,
         augment = { shift = 2, cutout = 2, fill = -1 } }
      local before = G[1].weight:clone()
      train.Trainer(o):fit()
      assert.are.equal(9, #seen)                  -- per step: real, fake, then G's pass
      for i = 1, 9, 3 do
         assert.are.equal(-1, seen[i].min)        -- the real images were shifted / cut
         assert.is_true(seen[i + 2].grad)         -- G's pass carries gradients through
      end
      assert(maxabs(G[1].weight - before) > 0, "G was not updated")
      for _, bad in ipairs { { { size = 2 }, "Trainer: unknown augment option 'size' (shift, cutout, fill)" },
         { { shift = "2" }, "Trainer: augment.shift must be a number, got string" },
         { 3, "Trainer: augment must be a table { shift =, cutout =, fill = }" } } do
         o.augment = bad[1]
         assert.has_error(function() train.Trainer(o) end, bad[2])
      end
   end)
end)

-- ---------------------------------------------------------------- a tiny DCGAN with a run directory

describe("Trainer with a run directory", function()
   local dir
   before_each(function() dir = tmpdir() end)
   after_each(function() rm_rf(dir) end)

   local function dcgan_opts(run, extra)
      gan.manual_seed(0)
      local dc = gan.models.dcgan
      local G = dc.Generator { nz = 8, ngf = 4, nc = 1, image_size = 16 }
      local D = dc.Discriminator { ndf = 4, nc = 1, image_size = 16 }
      local x = gan.randn({ 48, 1, 16, 16 }, { generator = gan.Generator(1) }):tanh()
      local o = {
         G = G, D = D, run = run, progress = false, seed = 0,
         opt_g = optim.Adam(G:parameters(), { lr = 2e-4, betas = { 0.5, 0.999 } }),
         opt_d = optim.Adam(D:parameters(), { lr = 2e-4, betas = { 0.5, 0.999 } }),
         data = gan.data.DataLoader(gan.data.TensorDataset { image = x }, { batch_size = 8, generator = gan.Generator(2) }),
         latent = function(n, g) return gan.randn({ n, 8, 1, 1 }, { generator = g }) end,
      }
      for k, v in pairs(extra or {}) do o[k] = v end
      return o
   end

   it("calls hooks, logs every log_every, samples every sample_every, checkpoints and prunes", function()
      local run = gan.run.new { experiment = "tiny", name = "r", root = dir, config = {} }
      local steps, samples, evals = {}, {}, {}
      local o = dcgan_opts(run, {
         steps = 12, log_every = 5, sample_every = 4, n_samples = 4, sample_nrow = 2, eval_every = 6,
         eval_fn = function(_, step) return { fid = 100 - step, other = step } end, best_metric = "fid",
         checkpoint_every = 5, keep_checkpoints = 2,
         hooks = {
            on_step = function(t, step, logs)
               assert.are.equal(step, t.step)
               steps[#steps + 1] = step
               assert.is_number(logs.loss_d)
            end,
            on_sample = function(_, step, imgs)
               samples[#samples + 1] = step
               assert.are.same({ 4, 1, 16, 16 }, imgs:size())
            end,
            on_eval = function(_, step, m)
               evals[#evals + 1] = step
               assert.are.equal(100 - step, m.fid)
            end,
         },
      })
      local t = train.Trainer(o)
      t:fit()
      run:close()
      assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }, steps)
      assert.are.same({ 4, 8, 12 }, samples)
      assert.are.same({ 6, 12 }, evals)
      -- metrics.jsonl: a training record at 5, 10 and the last step; eval records at 6 and 12
      local recs = gan.run.read_metrics(run.dir .. "/metrics.jsonl")
      local kinds = {}
      local train_keys = { "d_fake", "d_real", "grad_norm_d", "grad_norm_g", "loss_d", "loss_g", "lr_d", "lr_g", "step" }
      for _, r in ipairs(recs) do
         local keys = {}
         for k in pairs(r) do keys[#keys + 1] = k end
         table.sort(keys)
         if r.fid then
            assert.are.same({ "fid", "other", "step" }, keys)
            kinds[#kinds + 1] = "eval " .. math.tointeger(r.step)
         else
            assert.are.same(train_keys, keys)
            kinds[#kinds + 1] = "train " .. math.tointeger(r.step)
         end
      end
      assert.are.same({ "train 5", "eval 6", "train 10", "train 12", "eval 12" }, kinds)
      -- the lines themselves: step first, keys sorted
      local f = assert(io.open(run.dir .. "/metrics.jsonl", "rb"))
      local first = f:read("l")
      f:close()
      assert.truthy(first:match('^{"step": 5, "d_fake": '))
      -- timing.jsonl: one line per training record
      local tf = assert(io.open(run.dir .. "/timing.jsonl", "rb"))
      local tsteps = {}
      for line in tf:lines() do tsteps[#tsteps + 1] = tonumber(line:match('^{"step": (%d+)')) end
      tf:close()
      assert.are.same({ 5, 10, 12 }, tsteps)
      -- sample sheets: a 2 x 2 grid of 16 x 16 images at steps 4, 8, 12
      local pngs = {}
      for file in lfs.dir(run.dir .. "/samples") do if file:match("%.png$") then pngs[#pngs + 1] = file end end
      table.sort(pngs)
      assert.are.same({ "step_000004.png", "step_000008.png", "step_000012.png" }, pngs)
      local img = gan.image.load(run.dir .. "/samples/step_000012.png")
      assert.are.equal(img:size(2), img:size(3))
      assert(img:size(2) >= 32 and img:size(2) < 48, "a 2 x 2 grid of 16 x 16 images")
      -- checkpoints at 5, 10, 12, the two latest kept; best at the lowest "fid"
      local cks = {}
      for file in lfs.dir(run.dir .. "/checkpoints") do
         if file:match("%.safetensors$") then cks[#cks + 1] = file end
      end
      table.sort(cks)
      assert.are.same({ "best.safetensors", "step_000010.safetensors", "step_000012.safetensors" }, cks)
      assert.are.equal(12, run.best.step)
      local ck = gan.load(run.dir .. "/checkpoints/step_000012.safetensors")
      assert.are.equal("gan.checkpoint", ck.format)
      assert.are.equal(12, ck.extra.step)
      for _, k in ipairs { "G", "D", "opt_g", "opt_d", "data", "trainer_rng" } do
         assert.is_not_nil(ck.states[k], "checkpoint state " .. k)
      end
      -- the checkpoint restores G exactly
      local G2 = gan.models.dcgan.Generator { nz = 8, ngf = 4, nc = 1, image_size = 16 }
      G2:load_state_dict(ck.states.G)
      local sd1, sd2 = t.G:state_dict(), G2:state_dict()
      for k, v in pairs(sd1) do assert.are.equal(0, maxabs(v:double() - sd2[k]:double()), k) end
   end)

   it("samples and checkpoints at the last step even off the schedule", function()
      local run = gan.run.new { experiment = "tiny", name = "s", root = dir, config = {} }
      train.Trainer(dcgan_opts(run, { steps = 3, log_every = 10, sample_every = 10, n_samples = 4,
         checkpoint_every = 10 })):fit()
      run:close()
      assert.is_true(exists(run.dir .. "/samples/step_000003.png"))
      assert.is_true(exists(run.dir .. "/checkpoints/step_000003.safetensors"))
      local recs = gan.run.read_metrics(run.dir .. "/metrics.jsonl")
      assert.are.equal(1, #recs)
      assert.are.equal(3, recs[1].step)
   end)
end)
