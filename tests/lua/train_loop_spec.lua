-- The model contract and the one training loop (gan.train): a toy model without a
-- discriminator, written from lua/gan/models/_template.lua in about 40 lines, trains
-- through gan.train.fit; the loop's logs, schedules, EMA, sheets, evaluation, best and
-- step checkpoints, hooks and exact resume (clean stop, crash, ETA) are checked on it;
-- then the update site, the registry and the errors of the contract, and the template
-- itself on real data.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local nn, optim = gan.nn, gan.optim
local lfs = require("lfs")

H.single_threaded(setup, teardown)

-- ---------------------------------------------------------------- the toy model

-- The data: N((1, -1), 0.25 I), `n` points from a generator seeded `seed`.
local function points(n, seed)
   return gan.randn({ n, 2 }, { generator = gan.Generator(seed) }) * 0.5 + gan.tensor { { 1, -1 } }
end

-- A generative moment matching network (Li et al. 2015): G maps noise to 2-d points and
-- is trained to minimise the MMD between its samples and the data; no discriminator. A
-- dropout layer (the default generator), the model's own generator, a schedule, and an
-- EMA make every checkpointed stream matter.
local Toy = gan.train.model {
   name = "toy_mmd",
   summary = "Moment matching generator of 2-d points (no discriminator)",
   paper = "Li, Swersky & Zemel 2015, Generative Moment Matching Networks",
   best = { metric = "mmd", mode = "min" },
   defaults = {
      data = { batch_size = 8 },
      model = { nz = 2, hidden = 16 },
      train = { steps = 12, lr = 1e-2, gamma = 0.5, per = "epoch", ema = 0.9, log_every = 1, sample_every = 0,
         checkpoint_every = 0 },
   },
}

function Toy:build(cfg)
   local m, t = cfg.model, cfg.train
   local G = self:network("G", nn.Sequential { nn.Linear(m.nz, m.hidden), nn.ReLU(), nn.Dropout(0.1),
      nn.Linear(m.hidden, 2) })
   local opt = optim.Adam(G:parameters(), { lr = t.lr })
   self:optimizer("g", opt, { scheduler = optim.lr_scheduler.ExponentialLR(opt, { gamma = t.gamma }), per = t.per })
   if t.ema > 0 then self:ema_of("G", { decay = t.ema }) end
end

function Toy:latent(n, g) return gan.randn({ n, self.cfg.model.nz }, { generator = g }) end

-- MMD^2 with a Gaussian kernel of bandwidth 1 (biased estimate).
local function mmd(x, y)
   local function k(a, b) return (-((a:unsqueeze(2) - b:unsqueeze(1)) ^ 2):sum(3)):exp():mean() end
   return k(x, x) + k(y, y) - k(x, y) * 2
end

function Toy:train_step(data, _)
   local real = data:next().image
   local loss = self:update("g", function() return mmd(self.G(self:latent(real:size(1), self.rng)), real) end)
   return { loss = loss:item() }
end

-- 16 points as a (16, 1, 1, 2) "image" batch.
function Toy:sample() return Toy.run_eval(self:sampler("G"), self:fixed_latent(16)):reshape(16, 1, 1, 2), { nrow = 4 } end

function Toy:evaluate()
   local x = Toy.run_eval(self:sampler("G"), self:latent(256, gan.Generator(1)))
   return { mmd = mmd(x, points(256, 2)):item(), n = 256 }
end

local function build(values)
   local cfg = H.config(Toy, values)
   gan.manual_seed(0)
   return Toy.new(cfg), H.loader({ image = points(32, 3) }, cfg.data.batch_size, 4)
end

-- ---------------------------------------------------------------- the loop

describe("gan.train.fit on a model without a discriminator", function()
   it("trains it: the MMD to the data falls; grad_norm_g and lr_g join the step's logs", function()
      local model, loader = build { train = { steps = 150, ema = 0.0, gamma = 1.0 } }
      local before = model:evaluate().mmd
      local logs = {}
      gan.train.fit(model, { data = loader, hooks = { on_step = function(m, step, l)
         assert.are.equal(step, m.step)
         logs[step] = l
      end } })
      local after = model:evaluate().mmd
      assert(after < 0.25 * before, ("MMD %.4f -> %.4f"):format(before, after))
      assert.are.equal(150, model.step)
      for _, k in ipairs { "loss", "grad_norm_g", "lr_g" } do assert.is_number(logs[150][k], k) end
      assert(logs[150].grad_norm_g > 0)
   end)

   it("steps a schedule once per epoch (4 batches) or once per step; logs the lr each step used", function()
      for _, case in ipairs { { "epoch", function(s) return 0.5 ^ ((s - 1) // 4) end },
         { "step", function(s) return 0.5 ^ (s - 1) end } } do
         local model, loader = build { train = { per = case[1], steps = 10 } }
         local got = {}
         gan.train.fit(model, { data = loader, hooks = { on_step = function(_, s, l) got[s] = l.lr_g end } })
         for s = 1, 10 do
            assert(math.abs(got[s] - 1e-2 * case[2](s)) < 1e-15, ("%s, step %d: lr %g"):format(case[1], s, got[s]))
         end
      end
   end)

   it("keeps an EMA e_t = d e_{t-1} + (1 - d) G_t, in eval mode, sampled from", function()
      local model, loader = build { train = { ema = 0.9, steps = 6 } }
      local expected = {}
      for n, p in model.G:named_parameters() do expected[n] = p:detach():double():clone() end
      gan.train.fit(model, { data = loader, hooks = { on_step = function(m)
         for n, p in m.G:named_parameters() do expected[n] = expected[n] * 0.9 + p:detach():double() * 0.1 end
         for n, p in m.ema.G.model:named_parameters() do
            assert(H.maxabs(p:double() - expected[n]) < 1e-6, n)
         end
      end } })
      assert.is_false(model.ema.G.model.training)
      local imgs = model:sample()
      local want = gan.no_grad(function() return model.ema.G.model(model:fixed_latent(16)) end)
      assert.are.equal(0, H.maxabs(imgs:reshape(16, 2) - want))
   end)

   it("with a run: hooks, logs, timing, sheets, evaluation with the best checkpoint, pruned checkpoints", function()
      local dir = H.tmpdir()
      local run = gan.run.new { experiment = "toy", name = "r", root = dir, config = {} }
      local model, loader = build { train = { steps = 12, log_every = 5, sample_every = 4, eval_every = 6,
         checkpoint_every = 5, keep_checkpoints = 2 } }
      local samples, evals = {}, {}
      local best = {}
      gan.train.fit(model, { data = loader, run = run, progress = false, hooks = {
         on_sample = function(_, step, imgs)
            samples[#samples + 1] = step
            assert.are.same({ 16, 1, 1, 2 }, imgs:size())
         end,
         on_eval = function(_, step, m) evals[#evals + 1] = step; best[step] = m.mmd end } })
      run:close()
      assert.are.same({ 4, 8, 12 }, samples)
      assert.are.same({ 6, 12 }, evals)
      -- metrics.jsonl: training records at 5, 10, 12 (the last step); eval_* records at 6 and 12
      local kinds = {}
      for _, r in ipairs(gan.run.read_metrics(run.dir .. "/metrics.jsonl")) do
         local keys = {}
         for k in pairs(r) do keys[#keys + 1] = k end
         table.sort(keys)
         if r.eval_mmd then
            assert.are.same({ "eval_mmd", "eval_n", "step" }, keys)
            kinds[#kinds + 1] = "eval " .. math.tointeger(r.step)
         else
            assert.are.same({ "grad_norm_g", "loss", "lr_g", "step" }, keys)
            kinds[#kinds + 1] = "train " .. math.tointeger(r.step)
         end
      end
      assert.are.same({ "train 5", "eval 6", "train 10", "train 12", "eval 12" }, kinds)
      local tsteps = {}
      for line in io.lines(run.dir .. "/timing.jsonl") do tsteps[#tsteps + 1] = tonumber(line:match('^{"step": (%d+)')) end
      assert.are.same({ 5, 10, 12 }, tsteps)
      local pngs = {}
      for f in lfs.dir(run.dir .. "/samples") do if f:match("%.png$") then pngs[#pngs + 1] = f end end
      table.sort(pngs)
      assert.are.same({ "step_000004.png", "step_000008.png", "step_000012.png" }, pngs)
      -- step checkpoints at 5, 10, 12, the last two kept; best.safetensors at the lower MMD
      local cks = {}
      for f in lfs.dir(run.dir .. "/checkpoints") do if f:match("%.safetensors$") then cks[#cks + 1] = f end end
      table.sort(cks)
      assert.are.same({ "best.safetensors", "step_000010.safetensors", "step_000012.safetensors" }, cks)
      local want_best = best[6] <= best[12] and 6 or 12
      assert.are.equal(want_best, run.best.step)
      local ck = gan.load(run.dir .. "/checkpoints/step_000012.safetensors")
      assert.are.equal(12, ck.extra.step)
      for _, k in ipairs { "G", "opt_g", "sched_g", "ema_G", "data", "trainer_rng" } do
         assert.is_not_nil(ck.states[k], "checkpoint state " .. k)
      end
      -- load_weights restores the networks and EMA exactly (what gan eval uses)
      local fresh = Toy.new(model.cfg)
      fresh:load_weights(ck.states)
      for k, v in pairs(model.G:state_dict()) do assert.are.equal(0, H.maxabs(v - fresh.G:state_dict()[k]), k) end
      assert.has_error(function() fresh:load_weights({ G = ck.states.G }, "ck") end, "ck has no EMA of 'G'")
      -- the report, rewritten at the last step, shows it with its sheets
      local html = H.read_all(run.dir .. "/report.html")
      assert.matches('class="meta">step 12 ', html, 1, true)
      assert.matches('alt="samples at step 12"', html, 1, true)
      H.rm_rf(dir)
   end)

   it("rewrites report.html after each sheet and evaluation, not otherwise; train.report = false leaves it out", function()
      local dir = H.tmpdir()
      local run = gan.run.new { experiment = "toy", name = "rep", root = dir, config = {} }
      local model, loader = build { train = { steps = 9, log_every = 1, sample_every = 4, checkpoint_every = 0 } }
      local seen = {}
      gan.train.fit(model, { data = loader, run = run, progress = false, hooks = { on_step = function(_, step)
         local f = io.open(run.dir .. "/report.html", "rb")
         seen[step] = f and f:read("a"):match('class="meta">step (%d+) ') or "none"
         if f then f:close() end
      end } })
      run:close()
      -- on_step runs before the step's sheet: the page of step 4 is seen from step 5 on
      assert.are.same({ "none", "none", "none", "none", "4", "4", "4", "4", "8" }, seen)
      assert.matches('class="meta">step 9 ', H.read_all(run.dir .. "/report.html"), 1, true)
      local run2 = gan.run.new { experiment = "toy", name = "norep", root = dir, config = {} }
      local m2, l2 = build { train = { steps = 3, sample_every = 1, report = false } }
      gan.train.fit(m2, { data = l2, run = run2, progress = false })
      run2:close()
      assert.is_false(H.exists(run2.dir .. "/report.html"))
      H.rm_rf(dir)
   end)

   it("logs, samples and checkpoints at the last step even off the schedule", function()
      local dir = H.tmpdir()
      local run = gan.run.new { experiment = "toy", name = "s", root = dir, config = {} }
      local model, loader = build { train = { steps = 3, log_every = 10, sample_every = 10, checkpoint_every = 10 } }
      gan.train.fit(model, { data = loader, run = run, progress = false })
      run:close()
      assert.is_true(H.exists(run.dir .. "/samples/step_000003.png"))
      assert.is_true(H.exists(run.dir .. "/checkpoints/step_000003.safetensors"))
      local recs = gan.run.read_metrics(run.dir .. "/metrics.jsonl")
      assert.are.equal(1, #recs)
      assert.are.equal(3, recs[1].step)
      H.rm_rf(dir)
   end)

   it("train.minutes ends the run at the first step whose time, summed over resumes, reaches it", function()
      local dir = H.tmpdir()
      -- a clock that the steps advance by 10 s each (step k of a fit ends at 10 (k - 1) s)
      local real_clock, now = gan.core.clock, 0
      gan.core.clock = function() return now end
      finally(function() gan.core.clock = real_clock end)
      local tick = { on_step = function() now = now + 10 end }
      local run = gan.run.new { experiment = "toy", name = "budget", root = dir, config = {} }
      local model, loader = build { train = { steps = 12, minutes = 0.5, log_every = 10, checkpoint_every = 10 } }
      local ok, err = pcall(gan.train.fit, model, { data = loader, run = run, progress = false, hooks = tick })
      run:close()
      assert(ok, err)
      assert.are.equal(4, model.step)   -- 30 s at the end of step 4
      assert.are.equal(30, model.seconds)
      assert.is_true(H.exists(run.dir .. "/checkpoints/step_000004.safetensors"))
      assert.are.equal(4, gan.run.read_metrics(run.dir .. "/metrics.jsonl")[1].step)
      -- resumed under the same budget: nothing left to do; under 1 minute: 30 s more
      for _, case in ipairs { { 0.5, 4 }, { 1, 8 } } do
         local run2 = gan.run.open(run.dir)
         local m2, l2 = build { train = { steps = 12, minutes = case[1], log_every = 10, checkpoint_every = 10 } }
         gan.train.resume(m2, l2, run2)
         assert.are.equal(30, m2.seconds)
         ok, err = pcall(gan.train.fit, m2, { data = l2, run = run2, progress = false, hooks = tick })
         run2:close()
         assert(ok, err)
         assert.are.equal(case[2], m2.step)
      end
      -- timing.jsonl's seconds are the same sum: 30 at step 4, 60 at step 8 after the resume
      local lines = {}
      for line in io.lines(run.dir .. "/timing.jsonl") do lines[#lines + 1] = require("cjson").decode(line) end
      assert.are.same({ 4, 8 }, { lines[1].step, lines[2].step })
      assert.are.same({ 30, 60 }, { lines[1].seconds, lines[2].seconds })
      assert.are.equal(2, #lines)
      H.rm_rf(dir)
   end)
end)

describe("exact resume of the toy model", function()
   local function with_checkpoints(values)
      values = values or {}
      values.train = values.train or {}
      values.train.steps, values.train.checkpoint_every = 12, 5
      return function() return build(values) end
   end

   it("a run stopped at step 7 and resumed logs the same metrics.jsonl as one run", function()
      H.resumes_exactly(with_checkpoints(), 12, 7)
   end)

   it("after a crash (checkpoint at 10, logged to 11, a line cut short) the lines after the checkpoint go", function()
      local dir = H.tmpdir()
      local ref = H.resumes_exactly(with_checkpoints(), 12, 11)
      local run = gan.run.new { experiment = "toy", name = "crash", root = dir, config = {} }
      local model, loader = with_checkpoints()()
      local ok, err = pcall(gan.train.fit, model, { data = loader, run = run, progress = false,
         hooks = { on_step = function(_, step) if step == 11 then error("boom") end end } })
      run:close()
      assert.is_false(ok)
      assert.truthy(tostring(err):match("boom"))
      local f = assert(io.open(run.dir .. "/metrics.jsonl", "ab"))
      f:write('{"step": 2')
      f:close()
      local run2 = gan.run.open(run.dir)
      local m2, l2 = with_checkpoints()()
      assert.are.equal(10, gan.train.resume(m2, l2, run2))
      assert.falsy(H.read_all(run.dir .. "/metrics.jsonl"):match('{"step": 11,'))
      gan.train.fit(m2, { data = l2, run = run2, progress = false })
      run2:close()
      assert.are.equal(ref, H.read_all(run.dir .. "/metrics.jsonl"))
      H.rm_rf(dir)
   end)

   it("a resumed fit times its progress line from the resume step; no checkpoint is an error", function()
      local dir = H.tmpdir()
      local run = gan.run.new { experiment = "toy", name = "eta", root = dir, config = {} }
      local model, loader = with_checkpoints()()
      gan.train.fit(model, { data = loader, run = run, steps = 10, progress = false })
      run:close()
      local run2 = gan.run.open(run.dir)
      local m2, l2 = with_checkpoints()()
      assert.are.equal(10, gan.train.resume(m2, l2, run2))
      local real, seen, out = gan.run.Progress, nil, nil
      gan.run.Progress = function(o)
         seen, out = o, assert(io.open(run.dir .. "/progress.txt", "wb"))
         o.out = out
         return real(o)
      end
      local ok, err = pcall(gan.train.fit, m2, { data = l2, run = run2 })
      gan.run.Progress = real
      if out then out:close() end
      run2:close()
      assert(ok, err)
      assert.are.equal(10, seen.start)
      assert.are.equal(12, seen.total)
      local empty = gan.run.new { experiment = "toy", name = "empty", root = dir, config = {} }
      assert.has_error(function() gan.train.resume(m2, l2, empty) end, "resume: the run has no checkpoint to resume from")
      H.rm_rf(dir)
   end)

   it("a damaged latest checkpoint is named with the one before it; moved aside, the run resumes from that", function()
      local dir = H.tmpdir()
      local run = gan.run.new { experiment = "toy", name = "damaged", root = dir, config = {} }
      local model, loader = with_checkpoints()()
      gan.train.fit(model, { data = loader, run = run, steps = 10, progress = false })
      run:close()
      local latest, before = run.dir .. "/checkpoints/step_000010.safetensors", run.dir .. "/checkpoints/step_000005.safetensors"
      local bytes = H.read_all(latest)
      local f = assert(io.open(latest, "wb"))
      f:write(bytes:sub(1, #bytes - 16))   -- the tensor data cut short
      f:close()
      local run2 = gan.run.open(run.dir)
      local m2, l2 = with_checkpoints()()
      local ok, err = pcall(gan.train.resume, m2, l2, run2)
      assert.is_false(ok)
      assert.truthy(err:find("^gan.load: " .. latest:gsub("%p", "%%%0") .. ": tensor .* %(truncated%?%)\n"), err)
      assert.truthy(err:find("\n(the run also has " .. before .. ": if the latest checkpoint is damaged, move it aside "
         .. "and resume again to continue from that one)", 1, true), err)
      os.rename(latest, latest .. ".damaged")
      assert.are.equal(5, gan.train.resume(m2, l2, gan.run.open(run.dir)))
      H.rm_rf(dir)
   end)
end)

describe("gan.train.trial (one resumable run of a study)", function()
   it("trains into root/model/name; resumes a stopped run, leaves a finished one, restarts one without checkpoints", function()
      local dir = H.tmpdir()
      local ds = gan.data.TensorDataset { image = points(32, 3) }
      local function cfg(name, steps)
         return H.config(Toy, { train = { steps = steps, checkpoint_every = 5 }, run = { root = dir, name = name } })
      end
      local a = gan.train.trial(Toy, cfg("a", 12), { dataset = ds })
      assert.are.equal(dir .. "/toy_mmd/a", a)
      local want = H.read_all(a .. "/metrics.jsonl")
      assert.truthy(want:match('{"step": 12,'))
      -- stopped at 7 (checkpointed there: the last step), then the full budget: the same log
      local b = gan.train.trial(Toy, cfg("b", 7), { dataset = ds })
      local _, secs, model = gan.train.trial(Toy, cfg("b", 12), { dataset = ds })
      assert.are.equal(12, model.step)
      assert.are.equal(want, H.read_all(b .. "/metrics.jsonl"))
      -- finished: nothing more is trained or logged
      _, secs, model = gan.train.trial(Toy, cfg("a", 12), { dataset = ds })
      assert.are.equal(12, model.step)
      assert.is_true(secs < 0.5)
      assert.are.equal(want, H.read_all(a .. "/metrics.jsonl"))
      -- a directory without a checkpoint (a run that died early) starts afresh
      assert(os.execute(("mkdir -p '%s/toy_mmd/c' && echo junk > '%s/toy_mmd/c/metrics.jsonl'"):format(dir, dir)))
      local c = gan.train.trial(Toy, cfg("c", 12), { dataset = ds })
      assert.are.equal(want, H.read_all(c .. "/metrics.jsonl"))
      local rule = "a directory name (letters, digits, '_', '.', '-'; starting with a letter, digit or '_')"
      assert.has_error(function() gan.train.trial(Toy, cfg(nil, 12), { dataset = ds }) end,
         "trial: cfg.run.name must be " .. rule .. ", got nil")
      -- a name set after the config was resolved is checked before anything is removed
      local outside = cfg("x", 12)
      outside.run.name = "../outside"
      assert(os.execute(("mkdir -p '%s/outside' && echo keep > '%s/outside/f'"):format(dir, dir)))
      assert.has_error(function() gan.train.trial(Toy, outside, { dataset = ds }) end,
         "trial: cfg.run.name must be " .. rule .. ", got ../outside")
      assert.are.equal("keep\n", H.read_all(dir .. "/outside/f"))
      H.rm_rf(dir)
   end)
end)

-- ---------------------------------------------------------------- the update site

describe("the update site (model:update)", function()
   local Two = gan.train.model { name = "two", summary = "two linear nets", paper = "none",
      defaults = { train = { clip_grad = 0.0, clip_w = 0.0 } } }
   function Two:build(cfg)
      gan.manual_seed(1)
      self:network("A", nn.Linear(3, 1))
      self:network("B", nn.Linear(1, 1))
      local t = cfg.train
      self:optimizer("a", optim.SGD(self.A:parameters(), { lr = 1 }),
         { clip_grad_norm = t.clip_grad > 0 and t.clip_grad or nil, clip_weights = t.clip_w > 0 and t.clip_w or nil })
   end

   it("freezes the given modules for the loss and backward, then restores them, also after an error", function()
      local m = Two.new(H.config(Two))
      local x = gan.randn { 4, 3 }
      local b_before = m.B.weight:detach():clone()
      local loss, extra = m:update("a", function()
         for _, p in ipairs(m.B:parameters()) do assert.is_false(p.requires_grad) end
         return m.B(m.A(x)):sum(), "extra"
      end, { freeze = m.B })
      assert.are.equal("extra", extra)
      assert.is_number(loss:item())
      for _, p in ipairs(m.B:parameters()) do assert.is_true(p.requires_grad); assert.is_nil(p.grad) end
      assert.are.equal(0, H.maxabs(m.B.weight - b_before))
      assert.has_error(function() m:update("a", function() error("inside") end, { freeze = { m.B } }) end)
      for _, p in ipairs(m.B:parameters()) do assert.is_true(p.requires_grad) end
      -- a parameter frozen before stays frozen
      m.B.bias:requires_grad_(false)
      m:update("a", function() return m.B(m.A(x)):sum() end, { freeze = m.B })
      assert.is_false(m.B.bias.requires_grad)
      assert.is_true(m.B.weight.requires_grad)
   end)

   it("zeroes, steps, logs the gradient norm; clips gradients and weights as registered", function()
      local x = gan.tensor { { 1, 2, 2 } }   -- d(sum A(x))/dW = x, norm 3; d/db = 1
      local m = Two.new(H.config(Two))
      local w0 = m.A.weight:detach():clone()
      m:update("a", function() return m.A(x):sum() end)
      assert(math.abs(m.step_logs.grad_norm_a - math.sqrt(10)) < 1e-6)
      assert(H.maxabs(m.A.weight - (w0 - x)) < 1e-6, "SGD lr 1 subtracts the gradient")
      m:update("a", function() return m.A(x):sum() end)   -- gradients zeroed before: not accumulated
      assert(H.maxabs(m.A.weight - (w0 - x * 2)) < 1e-6)
      local c = Two.new(H.config(Two, { train = { clip_grad = 1.0 } }))
      local cw0 = c.A.weight:detach():clone()
      c:update("a", function() return c.A(x):sum() end)
      assert(math.abs(c.step_logs.grad_norm_a - math.sqrt(10)) < 1e-6, "the norm before clipping is logged")
      assert(H.maxabs(c.A.weight - (cw0 - x / math.sqrt(10))) < 1e-5, "the step used the clipped gradient")
      local k = Two.new(H.config(Two, { train = { clip_w = 0.05 } }))
      k:update("a", function() return k.A(x):sum() * 10 end)
      -- (0.05 in float32 is 0.05 + 7e-10)
      assert(math.abs(H.maxabs(k.A.weight) - 0.05) < 1e-8 and H.maxabs(k.A.bias) <= 0.05 + 1e-8)
   end)

   it("names what is wrong: an unknown optimizer, a loss that is not one number, an unknown option", function()
      local m = Two.new(H.config(Two))
      local x = gan.randn { 4, 3 }
      assert.has_error(function() m:update("b", function() return m.A(x):sum() end) end,
         "update: the model has no optimizer 'b' (register it with self:optimizer)")
      assert.has_error(function() m:update("a", function() return m.A(x) end) end,
         "update 'a': the function must return the loss as a one-element tensor first, got a tensor of 4 elements")
      assert.has_error(function() m:update("a", function() return 1 end) end,
         "update 'a': the function must return the loss as a one-element tensor first, got number")
      assert.has_error(function() m:update("a", function() return m.A(x):sum() end, { frozen = m.B }) end,
         "update: unknown option 'frozen'")
   end)
end)

-- ---------------------------------------------------------------- the contract's errors

-- A network of two inputs and an option: (x + y) * k after dropout and batch norm, whose
-- eval mode differs from its training mode.
local Pair = nn.class("Pair", nn.Module)
function Pair:__init()
   nn.Module.__init(self)
   self.body = nn.Sequential { nn.Dropout(0.5), nn.BatchNorm1d(2) }
end
function Pair:forward(x, y, k) return self.body(x + y) * k end

describe("Model.run_eval_chunked", function()
   it("equals run_eval on the whole batch, chunks every tensor input, passes the rest, restores the mode", function()
      local net = Pair()
      net.body[2].running_mean:copy_(gan.tensor { 0.5, -1 })   -- eval mode uses these
      local g = gan.Generator(3)
      local x, y = gan.randn({ 7, 2 }, { generator = g }), gan.randn({ 7, 2 }, { generator = g })
      local whole = Toy.run_eval(net, x, y, 3)
      local chunked = Toy.run_eval_chunked(net, 3, x, y, 3)
      assert.are.same({ 7, 2 }, chunked:size())
      assert.are.equal(0, (chunked - whole):abs():max():item())
      local want = ((x + y) - gan.tensor { { 0.5, -1 } }) / math.sqrt(1 + 1e-5) * 3
      assert((chunked - want):abs():max():item() < 1e-5)
      assert.is_true(net.training)
   end)
end)

describe("the model contract", function()
   it("refuses incomplete classes, double registrations, unknown networks and foreign configs", function()
      assert.has_error(function() gan.train.model { name = "x", summary = "s" } end,
         "gan.train.model: 'paper' must be a non-empty string")
      assert.has_error(function() gan.train.model { name = "x", summary = "s", paper = "p", default = {} } end,
         "gan.train.model: unknown option 'default'")
      local Bad = gan.train.model { name = "bad", summary = "s", paper = "p" }
      function Bad:build()
         self:network("G", nn.Linear(1, 1))
         self:network("G", nn.Linear(1, 1))
      end
      assert.has_error(function() Bad.new(H.config(Bad)) end, "networks: 'G' is registered twice")
      function Bad:build() self:ema_of("H") end
      assert.has_error(function() Bad.new(H.config(Bad)) end, "ema_of: no network 'H'")
      function Bad:build() self:state("s", {}) end
      assert.has_error(function() Bad.new(H.config(Bad)) end, "state 's': needs state_dict and load_state_dict methods")
      function Bad:build()
         self:optimizer("g", optim.SGD(nn.Linear(1, 1):parameters(), { lr = 1 }), { per = "batch" })
      end
      assert.has_error(function() Bad.new(H.config(Bad)) end, "optimizer 'g': per must be 'step' or 'epoch', got 'batch'")
      assert.has_error(function() Bad.new(H.config(Toy)) end, "bad.new: the config is for model 'toy_mmd'")
      local model, loader = build()
      assert.has_error(function() gan.train.fit(model, { data = loader, stepz = 3 }) end, "fit: unknown option 'stepz'")
      assert.has_error(function() gan.train.fit(model, {}) end, "fit: opts.data (a DataLoader) is required")
   end)

   it("a data set smaller than one batch is an error that says so, not a nil index", function()
      local model = build()
      local loader = H.loader({ image = points(5, 1) }, 8, 1)
      assert.has_error(function() gan.train.fit(model, { data = loader }) end,
         "train: the data yields no batch (5 samples, batch_size 8, incomplete batches dropped); use a smaller data.batch_size")
   end)

   it("the registry lists every model file with its summary and paper; a typo lists the models", function()
      local list = gan.models.list()
      local names = {}
      for _, m in ipairs(list) do
         names[#names + 1] = m.name
         assert.is_string(m.summary)
         assert.is_string(m.paper)
         assert.are.equal(m.name, gan.models.get(m.name).name)
         assert.are.equal(m.name, gan.models.get(m.name).defaults.model.name)
      end
      for _, n in ipairs { "acgan", "cyclegan", "dcgan", "infogan", "wgan_gp" } do
         assert.truthy(table.concat(names, " "):match("%f[%w]" .. n .. "%f[^%w_]"), n)
      end
      assert.is_nil(table.concat(names, " "):match("template"), "the template is not a model")
      local ok, err = pcall(gan.models.get, "dcgna")
      assert.is_false(ok)
      assert.truthy(err:match("no model .dcgna. %(models: acgan, [%w_, ]*dcgan, [%w_, ]*wgan_gp[%w_, ]*%)"), err)
   end)
end)

describe("the template model file", function()
   it("is a complete model: a few steps on MNIST, a sheet of 64 images, an EMA-less sampler", function()
      local T = require("gan.models._template")
      local cfg = H.config(T, { train = { steps = 3 }, data = { batch_size = 16 } })
      gan.manual_seed(0)
      local ds = T.dataset(cfg)
      local loader = gan.data.DataLoader(ds, { batch_size = 16, generator = gan.Generator(1) })
      local model = T.new(cfg)
      local w0 = model.G[1].weight:detach():clone()
      local logs
      gan.train.fit(model, { data = loader, hooks = { on_step = function(_, _, l) logs = l end } })
      assert(H.maxabs(model.G[1].weight - w0) > 0, "G was updated")
      for _, k in ipairs { "loss_d", "loss_g", "grad_norm_d", "grad_norm_g", "lr_d", "lr_g" } do
         assert.is_number(logs[k], k)
      end
      local imgs, o = model:sample()
      assert.are.same({ 64, 1, 32, 32 }, imgs:size())
      assert.are.equal(8, o.nrow)
   end)
end)
