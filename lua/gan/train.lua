--- gan.train: the adversarial training loop that experiments configure rather than
-- rewrite, an image history pool, and exact resume.
--
--     local t = gan.train.Trainer {
--        G = G, D = D, opt_g = opt_g, opt_d = opt_d, data = loader, latent = function(n, g)
--           return gan.randn({ n, 100, 1, 1 }, { generator = g }) end,
--        loss = "nonsaturating", run = run, steps = 5000, sample_every = 500 }
--     t:fit()
--
-- Every random draw comes from generators whose state is checkpointed (the trainer's, the
-- data loader's, the pool's and the default one), so a run resumed from a checkpoint
-- logs exactly the same metrics.jsonl as an uninterrupted one (with the same thread
-- count). Wall-clock measurements go to timing.jsonl, not metrics.jsonl.
-- @module gan.train
local core = require("gan.core")
local losses = require("gan.losses")
local F = require("gan.nn.functional")
local serialize = require("gan.serialize")
local nn_utils = require("gan.nn.utils")
local image = require("gan.image")
local no_grad = require("gan.autograd").no_grad
local stack = require("gan.tensor").stack
local is_tensor = require("gan.tensor").is_tensor

local train = {}

-- ---------------------------------------------------------------- image pool

local Pool = {}
Pool.__index = Pool

--- Shrivastava et al. 2017 / CycleGAN's image history: until `size` images are stored each
-- new one is stored and returned; after that each new image is, with probability p,
-- swapped with a random stored one (the stored one is returned), else returned as is.
function train.ImagePool(size, opts)
   opts = opts or {}
   return setmetatable({ size = size or 50, p = opts.p or 0.5, images = {},
      generator = core.Generator(opts.seed or 0) }, Pool)
end

function Pool:query(batch)
   if self.size <= 0 then return batch end
   local out = {}
   local b = batch:detach()
   for i = 1, b:size(1) do
      local img = b[i]:clone()
      if #self.images < self.size then
         self.images[#self.images + 1] = img
         out[i] = img
      else
         local u = core.rand({ 1 }, { dtype = "float64", generator = self.generator })[1]
         if u < self.p then
            local j = core.randint(0, self.size, { 1 }, { generator = self.generator })[1] + 1
            out[i] = self.images[j]
            self.images[j] = img
         else
            out[i] = img
         end
      end
   end
   return stack(out, 1)
end

function Pool:state_dict()
   return { images = #self.images > 0 and stack(self.images, 1) or nil, size = self.size,
      p = self.p, rng = self.generator:get_state() }
end

function Pool:load_state_dict(sd)
   self.images = {}
   if sd.images then for i = 1, sd.images:size(1) do self.images[i] = sd.images[i]:clone() end end
   self.size, self.p = sd.size, sd.p
   self.generator:set_state(sd.rng)
end

-- ---------------------------------------------------------------- helpers

local function grad_norm(params)
   local s = 0
   for _, p in ipairs(params) do
      if p.grad ~= nil then s = s + p.grad:norm():item() ^ 2 end   -- norm sums in double
   end
   return math.sqrt(s)
end

local function mean_of(t) return t:detach():double():mean():item() end

-- A generator as a checkpointable object.
local function gen_state(g)
   return { state_dict = function() return g:get_state() end,
      load_state_dict = function(_, s) g:set_state(s) end }
end

local LOSSES = {
   nonsaturating = { d = losses.minimax_d, g = losses.nonsaturating_g },
   minimax = { d = losses.minimax_d, g = losses.minimax_g },
   lsgan = { d = losses.lsgan_d, g = losses.lsgan_g },
   wgan = { d = losses.wasserstein_d, g = losses.wasserstein_g },
   hinge = { d = losses.hinge_d, g = losses.hinge_g },
}

-- ---------------------------------------------------------------- Trainer

local Trainer = {}
Trainer.__index = Trainer

local KNOWN = {
   G = 1, D = 1, opt_g = 1, opt_d = 1, sched_g = 1, sched_d = 1, schedule_per = 1, data = 1,
   real_key = 1, latent = 1, loss = 1, n_critic = 1, gp = 1, r1 = 1, clip = 1, pool = 1, ema = 1, augment = 1,
   label_smoothing = 1, label_flip = 1, instance_noise = 1, seed = 1, steps = 1, run = 1,
   progress = 1, log_every = 1, sample_every = 1, n_samples = 1, sample_nrow = 1,
   eval_every = 1, eval_fn = 1, checkpoint_every = 1, keep_checkpoints = 1, hooks = 1,
   best_metric = 1, best_mode = 1, extra = 1,
}

--- Options: G, D, opt_g, opt_d (required); data (a DataLoader of batches with field
-- real_key, default "image"); latent(n, generator) -> z; loss (a name: nonsaturating,
-- minimax, lsgan, wgan, hinge; or { d = fn(d_real, d_fake, opts), g = fn(d_fake) });
-- n_critic (1); gp = { weight = 10, every = 1 } (WGAN-GP, lazy when every > 1); r1 =
-- { weight, every }; clip (WGAN weight clipping); pool (image history size, 0 = none);
-- ema = { decay, start }; label_smoothing, label_flip; instance_noise = { sigma, steps };
-- augment = { shift = pixels, cutout = side, fill = 0 } (differentiable augmentation of
-- every image D sees, real and fake, in D's and in G's update: DiffAugment);
-- sched_g, sched_d with schedule_per ("epoch" or "step"); seed; steps; run (gan.run);
-- progress (true); log_every (10), sample_every, n_samples (64), sample_nrow (8),
-- eval_every with eval_fn(trainer, step) -> scalars, checkpoint_every, keep_checkpoints
-- (3), best_metric / best_mode; hooks = { on_step, on_sample, on_eval }; extra
-- (checkpointable objects by name).
function train.Trainer(opts)
   for k in pairs(opts) do
      if not KNOWN[k] then error(("Trainer: unknown option '%s'"):format(tostring(k)), 2) end
   end
   for _, k in ipairs { "G", "D", "opt_g", "opt_d", "data", "latent" } do
      if opts[k] == nil then error(("Trainer: option '%s' is required"):format(k), 2) end
   end
   local self = setmetatable({}, Trainer)
   for k, v in pairs(opts) do self[k] = v end
   local loss = opts.loss or "nonsaturating"
   if type(loss) == "string" then
      self.loss_fns = LOSSES[loss]
      if not self.loss_fns then error(("Trainer: unknown loss '%s'"):format(loss), 2) end
   else
      self.loss_fns = loss
   end
   self.real_key = opts.real_key or "image"
   self.n_critic = opts.n_critic or 1
   self.steps = opts.steps or 1000
   self.log_every = opts.log_every or 10
   self.seed = opts.seed or 0
   self.generator = core.Generator(self.seed)
   self.pool = opts.pool and opts.pool > 0 and train.ImagePool(opts.pool, { seed = self.seed + 1 }) or nil
   if opts.ema then
      self.ema = nn_utils.EMA(opts.G, { decay = opts.ema.decay, start_step = opts.ema.start })
   end
   if opts.augment ~= nil then
      if type(opts.augment) ~= "table" then error("Trainer: augment must be a table { shift =, cutout =, fill = }", 2) end
      for k, v in pairs(opts.augment) do
         if k ~= "shift" and k ~= "cutout" and k ~= "fill" then
            error(("Trainer: unknown augment option '%s' (shift, cutout, fill)"):format(tostring(k)), 2)
         end
         if type(v) ~= "number" then error(("Trainer: augment.%s must be a number, got %s"):format(k, type(v)), 2) end
      end
   end
   if opts.schedule_per ~= nil and opts.schedule_per ~= "epoch" and opts.schedule_per ~= "step" then
      error(("Trainer: schedule_per must be 'epoch' or 'step', got '%s'"):format(tostring(opts.schedule_per)), 2)
   end
   self.step, self.epochs_done = 0, 0
   self.hooks = opts.hooks or {}
   self.keep_checkpoints = opts.keep_checkpoints or 3
   self.progress = opts.progress ~= false
   -- Fixed latents for sample sheets: a function of the seed only.
   self.fixed_z = opts.latent(opts.n_samples or 64, core.Generator(self.seed + 1000))
   return self
end

--- The objects a checkpoint holds, by name.
function Trainer:checkpoint_objects()
   local o = { G = self.G, D = self.D, opt_g = self.opt_g, opt_d = self.opt_d, data = self.data,
      trainer_rng = gen_state(self.generator) }
   if self.sched_g then o.sched_g = self.sched_g end
   if self.sched_d then o.sched_d = self.sched_d end
   if self.ema then o.ema = self.ema end
   if self.pool then o.pool = self.pool end
   for k, v in pairs(self.extra or {}) do o[k] = v end
   return o
end

function Trainer:save_checkpoint(path)
   serialize.save_checkpoint(path, self:checkpoint_objects(), { step = self.step })
end

function Trainer:load_checkpoint(path)
   local extra = serialize.load_checkpoint(path, self:checkpoint_objects())
   self.step = extra.step
end

-- Keeps the lines of metrics.jsonl up to `step` (a resumed run rewrites what followed); a
-- line cut short by a crash (no closing brace) goes too.
local function truncate_metrics(dir, step)
   for _, name in ipairs { "metrics.jsonl", "timing.jsonl" } do
      local path = dir .. "/" .. name
      local f = io.open(path, "rb")
      if f then
         local keep = {}
         for line in f:lines() do
            local s = tonumber(line:match('^{"step": (%-?%d+)'))
            if s and s <= step and line:sub(-1) == "}" then keep[#keep + 1] = line end
         end
         f:close()
         local tmp = path .. ".tmp"
         local out = assert(io.open(tmp, "wb"))
         if #keep > 0 then out:write(table.concat(keep, "\n"), "\n") end
         out:close()
         assert(os.rename(tmp, path))
      end
   end
end

--- Continues from the run's latest checkpoint (metrics after it are dropped first).
function Trainer:resume()
   local path = self.run and self.run:latest_checkpoint()
   if not path then error("Trainer:resume: the run has no checkpoint to resume from", 2) end
   self:load_checkpoint(path)
   if self.run.metrics_file then self.run.metrics_file:close(); self.run.metrics_file = nil end
   truncate_metrics(self.run.dir, self.step)
   return self.step
end

-- Counts in self.epochs_done the epochs that end with the batches of this step, so that
-- per-epoch schedules change right after an epoch's last batch: a loader with position
-- and len tells when it handed out its last batch; any other loader, by returning nil.
function Trainer:_next_real()
   local d = self.data
   local knows_end = d.position ~= nil and d.len ~= nil
   local b = d:next()
   if b == nil then
      if not knows_end then self.epochs_done = self.epochs_done + 1 end
      b = d:next()
   end
   if knows_end and d.position >= d:len() then self.epochs_done = self.epochs_done + 1 end
   if self.real_key then return b[self.real_key] end
   return b
end

function Trainer:_d_input(x, step)
   if self.instance_noise then
      x = losses.instance_noise(x, step, { sigma = self.instance_noise.sigma, steps = self.instance_noise.steps,
         generator = self.generator })
   end
   local a = self.augment
   if a then
      if a.shift and a.shift > 0 then x = F.random_shift(x, a.shift, { fill = a.fill, generator = self.generator }) end
      if a.cutout and a.cutout > 0 then x = F.random_cutout(x, a.cutout, { fill = a.fill, generator = self.generator }) end
   end
   return x
end

--- One training step (n_critic discriminator updates, then one generator update);
-- returns the scalars to log.
function Trainer:train_step(step)
   local G, D, logs = self.G, self.D, {}
   local d_params = D:parameters()
   local fake
   for c = 1, self.n_critic do
      local real = self:_next_real()
      local n = real:size(1)
      self.last_batch = n
      local z = self.latent(n, self.generator)
      local f = no_grad(function() return G(z) end)
      if c == self.n_critic then fake = { z = z } end
      local f_d = self.pool and self.pool:query(f) or f
      self.opt_d:zero_grad()
      local d_real = D(self:_d_input(real, step))
      local d_fake = D(self:_d_input(f_d, step))
      local loss_d = self.loss_fns.d(d_real, d_fake, { smoothing = self.label_smoothing, flip = self.label_flip,
         generator = self.generator })
      if self.gp and step % (self.gp.every or 1) == 0 then
         local gp, norm = losses.gradient_penalty(D, real, f, { weight = (self.gp.weight or 10) * (self.gp.every or 1),
            generator = self.generator })
         loss_d = loss_d + gp
         logs.gp, logs.grad_norm_xhat = gp:item(), norm
      end
      if self.r1 and step % (self.r1.every or 1) == 0 then
         local r1 = losses.r1_penalty(D, real, { weight = (self.r1.weight or 10) * (self.r1.every or 1) })
         loss_d = loss_d + r1
         logs.r1 = r1:item()
      end
      loss_d:backward()
      logs.grad_norm_d = grad_norm(d_params)
      self.opt_d:step()
      if self.clip then nn_utils.clip_weights_(d_params, self.clip) end
      logs.loss_d, logs.d_real, logs.d_fake = loss_d:item(), mean_of(d_real), mean_of(d_fake)
   end
   -- Generator update with the last critic step's latents.
   local g_params = G:parameters()
   self.opt_g:zero_grad()
   D:requires_grad_(false)
   local out = G(fake.z)
   local loss_g = self.loss_fns.g(D(self:_d_input(out, step)))
   loss_g:backward()
   D:requires_grad_(true)
   logs.grad_norm_g = grad_norm(g_params)
   self.opt_g:step()
   logs.loss_g = loss_g:item()
   if self.ema then self.ema:update(step) end
   logs.lr_g = self.opt_g.param_groups[1].lr
   logs.lr_d = self.opt_d.param_groups[1].lr
   return logs
end

function Trainer:_step_schedulers(epochs)
   local per = self.schedule_per or "epoch"
   for _ = 1, per == "step" and 1 or epochs do
      if self.sched_g then self.sched_g:step() end
      if self.sched_d then self.sched_d:step() end
   end
end

--- Gives the EMA generator batch-norm statistics of its own (nn.utils.standing_stats over
-- 16 batches of latents from a fixed generator).
function Trainer:standing_stats()
   if not self.ema then return end
   local g = core.Generator(self.seed + 2000)
   local n = self.fixed_z:size(1)
   nn_utils.standing_stats(self.ema.model, function() return self.latent(n, g) end, 16)
end

--- Writes a sheet of samples from the fixed latents (EMA generator when there is one).
function Trainer:sample(path)
   local G = self.ema and self.ema.model or self.G
   local was = G.training
   if self.ema then self:standing_stats() end
   G:eval()
   local imgs = no_grad(function() return G(self.fixed_z) end)
   G:train(was)
   if path then image.save_grid(path, imgs, { nrow = self.sample_nrow or 8, range = { -1, 1 } }) end
   if self.hooks.on_sample then self.hooks.on_sample(self, self.step, imgs) end
   return imgs
end

local function append_timing(dir, step, ips, secs)
   local f = io.open(dir .. "/timing.jsonl", "ab")
   if f then
      f:write(('{"step": %d, "images_per_s": %.1f, "seconds": %.3f}\n'):format(step, ips, secs))
      f:close()
   end
end

--- Trains until `steps` (or self.steps) total steps.
function Trainer:fit(steps)
   steps = steps or self.steps
   local run = self.run
   local progress = self.progress and run
      and require("gan.run").Progress { total = steps, every = self.log_every, start = self.step } or nil
   local t_last, imgs_since = core.clock(), 0
   local t_start = t_last
   while self.step < steps do
      local step = self.step + 1
      self.epochs_done = 0
      local logs = self:train_step(step)
      self.step = step
      imgs_since = imgs_since + (self.last_batch or 0) * self.n_critic
      self:_step_schedulers(self.epochs_done)
      if self.hooks.on_step then self.hooks.on_step(self, step, logs) end
      if step % self.log_every == 0 or step == steps then
         local now = core.clock()
         local ips = imgs_since / math.max(now - t_last, 1e-9)
         if run then
            run:log(step, logs)
            append_timing(run.dir, step, ips, now - t_start)
         end
         if progress then
            progress:update(step, { loss_d = logs.loss_d, loss_g = logs.loss_g, imgs_per_s = ips })
         end
         t_last, imgs_since = now, 0
      end
      if self.sample_every and (step % self.sample_every == 0 or step == steps) then
         self:sample(run and run:sample_path(step))
      end
      if self.eval_every and self.eval_fn and (step % self.eval_every == 0 or step == steps) then
         local m = self.eval_fn(self, step)
         if run and m then run:log(step, m) end
         if self.hooks.on_eval then self.hooks.on_eval(self, step, m) end
         if run and m and self.best_metric and m[self.best_metric] then
            run:save_best(step, m[self.best_metric], function(p) self:save_checkpoint(p) end,
               { mode = self.best_mode or "min" })
         end
      end
      if run and self.checkpoint_every and (step % self.checkpoint_every == 0 or step == steps) then
         self:save_checkpoint(run:checkpoint_path(step))
         run:keep_checkpoints(self.keep_checkpoints)
      end
   end
   if progress then progress:close() end
   return self
end

-- ---------------------------------------------------------------- Trainer variants

-- A class whose methods fall back on Trainer's (fit, resume, checkpoints, ...).
local function variant()
   local c = setmetatable({}, { __index = Trainer })
   c.__index = c
   return c
end
local function copy(t)
   local o = {}
   for k, v in pairs(t) do o[k] = v end
   return o
end

-- ---------------------------------------------------------------- ACGAN

local ACGAN = variant()
train.ACGANTrainer = ACGAN

--- ACGAN training (Odena et al. 2017) on the Trainer's loop: G(z, y) and D(x) -> (source
-- logit, class logits), losses gan.models.acgan.d_loss / g_loss. Options as Trainer (data
-- batches carry `image` and int64 `label`; loss, n_critic, gp, r1, clip, pool and
-- instance noise do not apply) plus n_classes (10) and fake_class_weight (1: the weight of
-- the fakes' class term in D's loss; 0 trains D's class head on real images only). Fake
-- labels are drawn uniformly from the trainer's generator; sample sheets have one row per
-- class (n_samples = n_classes^2 unless given). Logs loss_d, loss_g, l_s, l_c (D's
-- parts), acc_real / acc_fake (D's class accuracy), d_real, d_fake.
function train.ACGAN(opts)
   local o = copy(opts)
   local k = o.n_classes or 10
   local w = o.fake_class_weight or 1
   if type(w) ~= "number" or w ~= w or w < 0 then
      error(("ACGAN: fake_class_weight must be a number >= 0, got %s"):format(tostring(w)), 2)
   end
   o.n_classes, o.fake_class_weight = nil, nil
   o.n_samples = o.n_samples or k * k
   o.sample_nrow = o.sample_nrow or k
   local self = train.Trainer(o)
   self.n_classes, self.real_key, self.fake_class_weight = k, false, w
   local lab = {}
   for i = 1, o.n_samples do lab[i] = ((i - 1) * k) // o.n_samples end
   self.fixed_y = core.tensor(lab, { dtype = "int64" })
   return setmetatable(self, ACGAN)
end

local function class_acc(logits, y)
   local _, c = logits:detach():max(2)
   return c:eq(y):double():mean():item()
end

function ACGAN:train_step(step)
   local acgan = require("gan.models.acgan")
   local G, D, logs = self.G, self.D, {}
   local batch = self:_next_real()
   local real, y_real = batch.image, batch.label
   local n = real:size(1)
   self.last_batch = n
   local z = self.latent(n, self.generator)
   local y_fake = core.randint(0, self.n_classes, { n }, { generator = self.generator })
   local fake = G(z, y_fake)
   self.opt_d:zero_grad()
   local s_r, c_r = D(real)
   local s_f, c_f = D(fake:detach())
   local loss_d, l_s, l_c = acgan.d_loss(s_r, c_r, y_real, s_f, c_f, y_fake, self.fake_class_weight)
   loss_d:backward()
   logs.grad_norm_d = grad_norm(D:parameters())
   self.opt_d:step()
   self.opt_g:zero_grad()
   D:requires_grad_(false)
   local s_g, c_g = D(fake)
   local loss_g = acgan.g_loss(s_g, c_g, y_fake)
   loss_g:backward()
   D:requires_grad_(true)
   logs.grad_norm_g = grad_norm(G:parameters())
   self.opt_g:step()
   if self.ema then self.ema:update(step) end
   logs.loss_d, logs.loss_g, logs.l_s, logs.l_c = loss_d:item(), loss_g:item(), l_s:item(), l_c:item()
   logs.acc_real, logs.acc_fake = class_acc(c_r, y_real), class_acc(c_f, y_fake)
   logs.d_real, logs.d_fake = mean_of(s_r), mean_of(s_f)
   logs.lr_g, logs.lr_d = self.opt_g.param_groups[1].lr, self.opt_d.param_groups[1].lr
   return logs
end

function ACGAN:standing_stats()
   if not self.ema then return end
   local g = core.Generator(self.seed + 2000)
   local n = self.fixed_z:size(1)
   nn_utils.standing_stats(self.ema.model, function()
      return self.latent(n, g), core.randint(0, self.n_classes, { n }, { generator = g })
   end, 16)
end

--- One row per class, from the fixed latents (the EMA generator when there is one).
function ACGAN:sample(path)
   local G = self.ema and self.ema.model or self.G
   local was = G.training
   if self.ema then self:standing_stats() end
   G:eval()
   local imgs = no_grad(function() return G(self.fixed_z, self.fixed_y) end)
   G:train(was)
   if path then image.save_grid(path, imgs, { nrow = self.sample_nrow, range = { -1, 1 } }) end
   if self.hooks.on_sample then self.hooks.on_sample(self, self.step, imgs) end
   return imgs
end

-- ---------------------------------------------------------------- InfoGAN

local InfoGAN = variant()
train.InfoGANTrainer = InfoGAN

--- InfoGAN training (Chen et al. 2016) on the Trainer's loop. D(x) -> (logit, categorical
-- logits, continuous means) (gan.models.infogan). D and Q minimise the minimax D loss
-- plus lambda times the information loss on the (detached) fakes; G minimises the
-- non-saturating loss plus lambda times the information loss through the frozen D/Q.
-- Options as Trainer (latent is built in: noise, categorical code, continuous codes)
-- plus n_noise (62), n_cat (10), n_cont (2), lambda (1), lambda_cont (1: weight of the
-- continuous part inside the information loss), traversal (2: continuous codes swept
-- from -traversal to traversal in the sheets). Sample sheets: for each continuous code,
-- n_cat rows (categorical value) x 10 columns (the code's sweep), noise fixed per row.
-- Logs loss_d, loss_g, info_cat (cross-entropy), info_cont, mi (ln n_cat - info_cat,
-- the lower bound on I(c; G(z, c)) in nats), d_real, d_fake.
function train.InfoGAN(opts)
   local info = require("gan.models.infogan")
   local o = copy(opts)
   local sz = { n_noise = o.n_noise or 62, n_cat = o.n_cat or 10, n_cont = o.n_cont or 2 }
   local lambda, lambda_cont, trav = o.lambda or 1, o.lambda_cont or 1, o.traversal or 2
   for _, k in ipairs { "n_noise", "n_cat", "n_cont", "lambda", "lambda_cont", "traversal" } do o[k] = nil end
   o.latent = function(n, g)
      return (info.sample_latent(n, { n_noise = sz.n_noise, n_cat = sz.n_cat, n_cont = sz.n_cont, generator = g }))
   end
   o.n_samples = 1
   local self = train.Trainer(o)
   for k, v in pairs(sz) do self[k] = v end
   self.lambda, self.lambda_cont, self.real_key = lambda, lambda_cont, "image"
   -- traversal latents: for each continuous code j, rows = categorical values, columns =
   -- 10 values of code j from -trav to trav, the other codes 0, one noise vector per row
   local g = core.Generator(self.seed + 1000)
   local noise = core.randn({ sz.n_cat, sz.n_noise }, { generator = g })
   local zs = {}
   for j = 1, sz.n_cont do
      for r = 1, sz.n_cat do
         for c = 1, 10 do
            local cont = core.zeros({ 1, sz.n_cont })
            cont[1][j] = -trav + (c - 1) * 2 * trav / 9
            zs[#zs + 1] = info.latent(noise:narrow(1, r, 1), core.tensor({ r - 1 }, { dtype = "int64" }), cont, sz.n_cat)
         end
      end
   end
   self.fixed_z = core.cat(zs, 1)
   self.sample_nrow = 10
   return setmetatable(self, InfoGAN)
end

function InfoGAN:train_step(step)
   local info = require("gan.models.infogan")
   local G, D, logs = self.G, self.D, {}
   local real = self:_next_real()
   local n = real:size(1)
   self.last_batch = n
   local z, cat, cont = info.sample_latent(n, { n_noise = self.n_noise, n_cat = self.n_cat, n_cont = self.n_cont,
      generator = self.generator })
   local fake = G(z)
   self.opt_d:zero_grad()
   local d_r = D(real)
   local d_f, ql, qm = D(fake:detach())
   local l_info = info.info_loss(ql, cat, qm, cont, self.lambda_cont)
   local loss_d = losses.minimax_d(d_r, d_f) + l_info * self.lambda
   loss_d:backward()
   logs.grad_norm_d = grad_norm(D:parameters())
   self.opt_d:step()
   self.opt_g:zero_grad()
   D:requires_grad_(false)
   local d_g, ql2, qm2 = D(fake)
   local l_info_g, l_cat, l_cont = info.info_loss(ql2, cat, qm2, cont, self.lambda_cont)
   local loss_g = losses.nonsaturating_g(d_g) + l_info_g * self.lambda
   loss_g:backward()
   D:requires_grad_(true)
   logs.grad_norm_g = grad_norm(G:parameters())
   self.opt_g:step()
   if self.ema then self.ema:update(step) end
   logs.loss_d, logs.loss_g = loss_d:item(), loss_g:item()
   logs.info_cat, logs.info_cont = l_cat:item(), l_cont:item()
   logs.mi = info.mi_estimate(logs.info_cat, self.n_cat)
   logs.d_real, logs.d_fake = mean_of(d_r), mean_of(d_f)
   logs.lr_g, logs.lr_d = self.opt_g.param_groups[1].lr, self.opt_d.param_groups[1].lr
   return logs
end

-- ---------------------------------------------------------------- CycleGAN

local CycleGAN = variant()
train.CycleGANTrainer = CycleGAN

local CYCLE_KNOWN = {
   G_AB = 1, G_BA = 1, D_A = 1, D_B = 1, opt_g = 1, opt_d = 1, sched_g = 1, sched_d = 1, data = 1,
   lambda_cycle = 1, lambda_identity = 1, pool = 1, seed = 1, steps = 1, run = 1, progress = 1,
   log_every = 1, sample_every = 1, samples = 1, eval_every = 1, eval_fn = 1, checkpoint_every = 1,
   keep_checkpoints = 1, hooks = 1, best_metric = 1, best_mode = 1, extra = 1,
}

--- CycleGAN training (Zhu et al. 2017) on the same loop, logging, checkpoints and exact
-- resume as Trainer. Each step: both generators against LSGAN discriminators (the
-- adversarial term E[(D(G(x)) - 1)^2]) plus lambda_cycle times the L1 cycle losses in
-- both directions plus lambda_identity * lambda_cycle times the L1 identity losses, one
-- opt_g step; then each discriminator on real images and on fakes from its image pool,
-- 0.5 (E[(D(y) - 1)^2] + E[D(fake)^2]), one opt_d step.
-- opts: G_AB, G_BA, D_A (judges domain A), D_B, opt_g (over both generators), opt_d (over
-- both discriminators), data (a loader of batches { a =, b = }, each a tensor or a batch
-- of samples with field image), lambda_cycle (10),
-- lambda_identity (0.5; 0 = none), pool (50 per domain; 0 = none), sched_g / sched_d
-- (stepped every step), seed, steps, run, progress, log_every (10), sample_every with
-- samples = { a =, b = } (paired images of the two domains: the sheet's rows are
-- input | translation | reconstruction | the other domain's drawing, A to B then B to A),
-- eval_every with eval_fn(trainer, step), checkpoint_every, keep_checkpoints, hooks,
-- best_metric / best_mode, extra.
function train.CycleGAN(opts)
   for k in pairs(opts) do
      if not CYCLE_KNOWN[k] then error(("CycleGAN: unknown option '%s'"):format(tostring(k)), 2) end
   end
   for _, k in ipairs { "G_AB", "G_BA", "D_A", "D_B", "opt_g", "opt_d", "data" } do
      if opts[k] == nil then error(("CycleGAN: option '%s' is required"):format(k), 2) end
   end
   local self = setmetatable({}, CycleGAN)
   for k, v in pairs(opts) do self[k] = v end
   self.lambda_cycle = opts.lambda_cycle or 10
   self.lambda_identity = opts.lambda_identity or 0.5
   self.steps, self.log_every, self.seed = opts.steps or 1000, opts.log_every or 10, opts.seed or 0
   self.n_critic, self.schedule_per, self.real_key = 1, "step", false
   self.generator = core.Generator(self.seed)
   local pool = opts.pool or 50
   if pool > 0 then
      self.pool_a = train.ImagePool(pool, { seed = self.seed + 1 })
      self.pool_b = train.ImagePool(pool, { seed = self.seed + 2 })
   end
   self.step, self.epochs_done = 0, 0
   self.hooks = opts.hooks or {}
   self.keep_checkpoints = opts.keep_checkpoints or 3
   self.progress = opts.progress ~= false
   return self
end

function CycleGAN:checkpoint_objects()
   local o = { G_AB = self.G_AB, G_BA = self.G_BA, D_A = self.D_A, D_B = self.D_B, opt_g = self.opt_g,
      opt_d = self.opt_d, data = self.data, trainer_rng = gen_state(self.generator) }
   if self.sched_g then o.sched_g = self.sched_g end
   if self.sched_d then o.sched_d = self.sched_d end
   if self.pool_a then o.pool_a, o.pool_b = self.pool_a, self.pool_b end
   for k, v in pairs(self.extra or {}) do o[k] = v end
   return o
end

local function l1(x, y) return (x - y):abs():mean() end
local function params_of(opt)
   local ps = {}
   for _, g in ipairs(opt.param_groups) do for _, p in ipairs(g.params) do ps[#ps + 1] = p end end
   return ps
end
local function lsq(d, target) return ((d - target) ^ 2):mean() end

function CycleGAN:train_step(step)
   local batch = self:_next_real()
   local A, B = batch.a, batch.b
   if not is_tensor(A) then A, B = A.image, B.image end   -- batches of samples { image = }
   self.last_batch = A:size(1)
   local D_A, D_B, lc, li = self.D_A, self.D_B, self.lambda_cycle, self.lambda_identity
   -- generators
   self.opt_g:zero_grad()
   D_A:requires_grad_(false)
   D_B:requires_grad_(false)
   local fake_B, fake_A = self.G_AB(A), self.G_BA(B)
   local rec_A, rec_B = self.G_BA(fake_B), self.G_AB(fake_A)
   local gan_ab, gan_ba = lsq(D_B(fake_B), 1), lsq(D_A(fake_A), 1)
   local cyc_a, cyc_b = l1(rec_A, A), l1(rec_B, B)
   local loss_g = gan_ab + gan_ba + (cyc_a + cyc_b) * lc
   local logs = {}
   if li > 0 then
      local idt_b, idt_a = l1(self.G_AB(B), B), l1(self.G_BA(A), A)
      loss_g = loss_g + (idt_a + idt_b) * (lc * li)
      logs.idt_a, logs.idt_b = idt_a:item(), idt_b:item()
   end
   loss_g:backward()
   D_A:requires_grad_(true)
   D_B:requires_grad_(true)
   logs.grad_norm_g = grad_norm(params_of(self.opt_g))
   self.opt_g:step()
   -- discriminators, on pooled fakes
   self.opt_d:zero_grad()
   local fB = self.pool_b and self.pool_b:query(fake_B) or fake_B:detach()
   local fA = self.pool_a and self.pool_a:query(fake_A) or fake_A:detach()
   local dB_real, dA_real = D_B(B), D_A(A)
   local loss_d_b = (lsq(dB_real, 1) + lsq(D_B(fB), 0)) * 0.5
   local loss_d_a = (lsq(dA_real, 1) + lsq(D_A(fA), 0)) * 0.5
   ;(loss_d_a + loss_d_b):backward()
   logs.grad_norm_d = grad_norm(params_of(self.opt_d))
   self.opt_d:step()
   logs.loss_g, logs.loss_d = loss_g:item(), (loss_d_a + loss_d_b):item()
   logs.gan_ab, logs.gan_ba, logs.cyc_a, logs.cyc_b = gan_ab:item(), gan_ba:item(), cyc_a:item(), cyc_b:item()
   logs.loss_d_a, logs.loss_d_b = loss_d_a:item(), loss_d_b:item()
   logs.d_real = 0.5 * (mean_of(dA_real) + mean_of(dB_real))
   logs.lr_g = self.opt_g.param_groups[1].lr
   logs.lr_d = self.opt_d.param_groups[1].lr
   return logs
end

--- Translations of the paired sample images: rows input | translation | reconstruction |
-- the other domain's drawing, A to B then B to A; written as an image grid when path is
-- given. Returns the (4 n, C, H, W) tensor of the sheet.
function CycleGAN:sample(path)
   if not self.samples then return nil end
   local nets = { self.G_AB, self.G_BA }
   local was = { nets[1].training, nets[2].training }
   nets[1]:eval(); nets[2]:eval()
   local rows = no_grad(function()
      local a, b = self.samples.a, self.samples.b
      local ab, ba = self.G_AB(a), self.G_BA(b)
      local aba, bab = self.G_BA(ab), self.G_AB(ba)
      local r = {}
      for i = 1, a:size(1) do
         r[#r + 1] = a[i]; r[#r + 1] = ab[i]; r[#r + 1] = aba[i]; r[#r + 1] = b[i]
      end
      for i = 1, b:size(1) do
         r[#r + 1] = b[i]; r[#r + 1] = ba[i]; r[#r + 1] = bab[i]; r[#r + 1] = a[i]
      end
      return stack(r, 1)
   end)
   nets[1]:train(was[1]); nets[2]:train(was[2])
   if path then image.save_grid(path, rows, { nrow = 4, range = { -1, 1 } }) end
   if self.hooks.on_sample then self.hooks.on_sample(self, self.step, rows) end
   return rows
end

return train
