--- gan.train.fit: the one training loop, for every model that follows the contract of
-- gan.train.Model. It owns what no model should write again: iterating the data across
-- epochs, counting steps, stepping learning-rate schedules, updating EMAs, logging
-- (metrics.jsonl, timing.jsonl, the progress line), sample sheets, periodic evaluation
-- with the best checkpoint, checkpoints and exact resume. It never names a model.
--
-- Every random draw comes from generators whose state is checkpointed (the model's,
-- the data loader's, any registered state's and the default one), so a run resumed from
-- a checkpoint logs exactly the same metrics.jsonl as an uninterrupted one (with the
-- same thread count). Wall-clock measurements go to timing.jsonl, not metrics.jsonl.
-- @module gan.train.loop
local core = require("gan.core")
local serialize = require("gan.serialize")
local image = require("gan.image")
local opts = require("gan.opts")
local is_tensor = require("gan.tensor").is_tensor
local dist = require("gan.dist")
local health = require("gan.train.health")
local Replay = require("gan.train.replay")
local files = require("gan.files")

local L = {}

-- ---------------------------------------------------------------- the data a step sees

local Batches = {}
Batches.__index = Batches

-- The number of samples in a batch: the first dimension of a tensor in it (batches may
-- nest: CycleGAN's { a = { image = }, b = { image = } }; all their tensors agree).
local function batch_size(b)
   if is_tensor(b) then return b:size(1) end
   if type(b) ~= "table" then return 0 end
   for _, v in pairs(b) do
      local n = batch_size(v)
      if n > 0 then return n end
   end
   return 0
end

--- What a model's train_step reads batches from: data:next() is the next batch, across
-- epoch boundaries. It counts the epochs completed by this step's batches (for per-epoch
-- schedules) and the samples drawn (for images/s).
local function batches(loader)
   return setmetatable({ loader = loader, epochs = 0, samples = 0 }, Batches)
end

--- The next batch, starting a new epoch of the loader when one ends (and counting it).
-- @treturn table the batch
-- @raise when the loader yields no batch even at the start of an epoch
function Batches:next()
   local d = self.loader
   -- A loader with position and len tells when it hands out an epoch's last batch; any
   -- other loader, by returning nil.
   local knows_end = d.position ~= nil and d.len ~= nil
   local b = d:next()
   if b == nil then
      if not knows_end then self.epochs = self.epochs + 1 end
      b = d:next()
      if b == nil then
         local n, bs = d.dataset and #d.dataset, d.batch_size
         error(("train: the data yields no batch (%s samples, batch_size %s%s); use a smaller data.batch_size")
            :format(tostring(n), tostring(bs), d.drop_last and ", incomplete batches dropped" or ""), 0)
      end
   end
   if knows_end and d.position >= d:len() then self.epochs = self.epochs + 1 end
   self.samples = self.samples + batch_size(b)
   self.last = b   -- the health monitor compares samples with the latest real batch
   return b
end

-- ---------------------------------------------------------------- checkpoints and resume

-- The model's experience replay (train.replay_every > 0), made once; nil when off.
local function replay_of(model)
   if model._replay == nil then model._replay = Replay.of(model) or false end
   return model._replay or nil
end

local function objects(model, loader)
   local o = model:checkpoint_objects()
   o.data = loader
   o.replay = replay_of(model)
   return o
end

-- Writes a checkpoint; with several ranks, `rng` holds every rank's random states
-- (dist.rng_states), so that each resumes its own streams.
local function save(model, loader, path, rng)
   local o = objects(model, loader)
   if rng then o.dist_rng = { state_dict = function() return rng end } end
   serialize.save_checkpoint(path, o, { step = model.step, seconds = model.seconds, health = model._health and model._health:state_dict() })
end

-- Keeps the lines of metrics.jsonl and timing.jsonl up to `step` (a resumed run
-- rewrites what followed); a line cut short by a crash (no closing brace) goes too.
local function truncate_logs(dir, step)
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
         files.write_atomic(path, #keep > 0 and table.concat(keep, "\n") .. "\n" or "")
      end
   end
end

--- Restores a model and its data loader from the run's latest checkpoint, drops the
-- log lines written after it (rank 0), and returns its step. Under data parallelism
-- every rank loads the same checkpoint, then takes rank 0's state and its own random
-- streams (dist.prepare).
-- @tparam table model a gan.train.Model
-- @tparam DataLoader loader
-- @tparam Run run
-- @treturn int the checkpoint's step
-- @raise when the run has no checkpoint
function L.resume(model, loader, run)
   local path = run and run:latest_checkpoint()
   if not path then error("resume: the run has no checkpoint to resume from", 2) end
   local o, rng = objects(model, loader), nil
   if dist.active() then
      -- every rank's random states (dist.rng_states): an int64 (ranks, 4) tensor; the rank
      -- count is dist.prepare's to compare
      o.dist_rng = {
         state_dict = function() return core.zeros({ dist.world_size(), 4 }, { dtype = "int64" }) end,
         load_state_dict = function(_, s)
            if s.dtype ~= "int64" or s:dim() ~= 2 or s:size(2) ~= 4 then
               error(("expected an int64 (ranks, 4) tensor, got %s (%s)"):format(s.dtype,
                  table.concat(s:size(), ", ")), 0)
            end
            rng = s
         end }
   end
   local ok, extra = pcall(serialize.load_checkpoint, path, o)
   if not ok then
      -- a damaged latest file (a disk fault: the writes are atomic) leaves the one before it
      local list = run:checkpoints()
      local before = #list > 1 and list[#list - 1].path
      if before then
         extra = ("%s\n(the run also has %s: if the latest checkpoint is damaged, move it aside and resume "
            .. "again to continue from that one)"):format(tostring(extra), before)
      end
      error(extra, 0)
   end
   model.step, model.last_checkpoint, model._health_state = extra.step, path, extra.health
   model.seconds = extra.seconds or 0
   if dist.active() then
      dist.prepare(model, rng)
      model.dist_prepared = true
   end
   run:close()
   if dist.is_main() then truncate_logs(run.dir, model.step) end
   return model.step
end

-- ---------------------------------------------------------------- the loop

-- One line of timing.jsonl: the speed since the last line and the training time so far,
-- summed over resumes (model.seconds, the time train.minutes is compared with).
local function append_timing(dir, step, ips, secs)
   local f = io.open(dir .. "/timing.jsonl", "ab")
   if f then
      f:write(('{"step": %d, "images_per_s": %.1f, "seconds": %.3f}\n'):format(step, ips, secs))
      f:close()
   end
end

-- After a step: EMAs, then the learning rates the step used (logged), then schedules
-- (per step, or once per epoch the step's batches completed).
local function after_step(model, step, logs, epochs)
   for _, n in ipairs(model._order.ema) do model.ema[n]:update(step) end
   for _, n in ipairs(model._order.optimizers) do
      local e = model.optimizers[n]
      logs["lr_" .. n] = e.opt.param_groups[1].lr
      if e.scheduler then
         for _ = 1, e.per == "step" and 1 or epochs do e.scheduler:step() end
      end
   end
end

local function save_sheet(model, run, hooks)
   local imgs, o = model:sample()
   if imgs == nil then return end
   if run then image.save_grid(run:sample_path(model.step), imgs, { nrow = o and o.nrow or 8, range = { -1, 1 } }) end
   if hooks.on_sample then hooks.on_sample(model, model.step, imgs) end
end

local function evaluate(model, loader, run, hooks, n)
   local res = model:evaluate { n = n }
   local logs = {}
   for k, v in pairs(res) do if type(v) == "number" then logs["eval_" .. k] = v end end
   if run then run:log(model.step, logs) end
   if hooks.on_eval then hooks.on_eval(model, model.step, res) end
   local best = model.best
   if run and best and type(res[best.metric]) == "number" then
      run:save_best(model.step, res[best.metric], function(p) save(model, loader, p) end, { mode = best.mode })
   end
end

-- ---------------------------------------------------------------- health

local function append_json(path, t)
   local f = io.open(path, "ab")
   if f then
      f:write(require("cjson").encode(t), "\n")
      f:close()
   end
end

-- The run's health monitor (rank 0; nil when cfg.health.enabled is false). A warning is
-- written above the progress line (else to stderr) and to health.jsonl in the run
-- directory; with health.strict it stops the run.
local function monitor(model, run, progress)
   local c = model.cfg.health
   if type(c) ~= "table" or c.enabled == false then return nil end
   local function warn(w)
      local text = ("health warning at step %d: %s"):format(w.step, w.message)
      if progress then progress:note(text) else io.stderr:write(text, "\n") end
      if run then append_json(run.dir .. "/health.jsonl", w) end
      if c.strict then
         error(("%s. health.strict (--strict-health) stops the run; %s"):format(text, model.last_checkpoint
            and "the last checkpoint is " .. model.last_checkpoint or "no checkpoint was written"), 0)
      end
   end
   local m = health.Monitor(c, model:health_keys(), warn)
   if model._health_state then m:load_state_dict(model._health_state) end
   return m
end

-- The images of a real batch (a tensor, or the batch's image field).
local function real_images(b)
   if is_tensor(b) then return b end
   if type(b) == "table" then
      for _, k in ipairs { "image", "images", 1 } do
         if is_tensor(b[k]) then return b[k] end
      end
   end
end

-- The collapse signals of the model's health samples against the latest real batch, in
-- the data set's reference classifier's features when it has one that takes such images.
local function collapse_signals(model, mon, batch)
   local imgs, real = model:health_samples(), real_images(batch)
   if imgs == nil or real == nil or imgs:dim() ~= real:dim() then return nil end
   for d = 2, imgs:dim() do
      if imgs:size(d) ~= real:size(d) then return nil end
   end
   if mon.classifier == nil then
      mon.classifier = false
      local metrics = require("gan.metrics")
      local name = model.cfg.data and model.cfg.data.name
      local path = type(name) == "string" and metrics.weights_path(name)
      local f = path and io.open(path, "rb")
      if f then
         f:close()
         local clf = metrics.load_classifier(path)
         if imgs:dim() == 4 and clf.arch and clf.arch.in_nc == imgs:size(2) then mon.classifier = clf end
      end
   end
   real = real:narrow(1, 1, math.min(real:size(1), imgs:size(1)))
   return health.collapse_signals(imgs, real:to(imgs.dtype), mon.classifier or nil)
end

-- Rewrites the run's report.html (gan.report); a failure is noted once and the run goes on.
local function refresh_report(run, progress, state)
   local ok, err = pcall(require("gan.report").write, run.dir)
   if not ok and not state.report_failed then
      state.report_failed = true
      local text = "report.html not refreshed: " .. tostring(err)
      if progress then progress:note(text) else io.stderr:write(text, "\n") end
   end
end

local FIT = opts.set("data", "run", "steps", "minutes", "log_every", "sample_every", "checkpoint_every",
   "keep_checkpoints", "eval_every", "eval_samples", "report", "progress", "hooks")

--- Trains `model` until `steps` steps in all. opts: data (the DataLoader, required),
-- run (a gan.run; without it nothing is written), hooks = { on_step(model, step, logs), on_sample(model,
-- step, images), on_eval(model, step, metrics) }, progress (true: the progress line);
-- steps, minutes, log_every, sample_every, checkpoint_every, keep_checkpoints, eval_every,
-- eval_samples, report (all default to the model's cfg.train; 0 switches sheets,
-- checkpoints and evaluation off; the last step always logs, and samples and checkpoints
-- when they are on; minutes > 0: the last step is also the first at which model.seconds,
-- the wall-clock time spent in fit summed over resumes, reaches it; report: rewrite the run's report.html after each sheet, each
-- evaluation and the last step). A resumed run calls gan.train.resume first. Under data parallelism (several
-- ranks, gan.dist) every rank calls fit with its shard of the data: the ranks start from
-- rank 0's state, logged scalars are averaged over them, and only rank 0 writes the run,
-- sheets and evaluations (hooks see the rank's own logs). Returns the model.
-- @tparam table model a gan.train.Model
-- @tparam table o the options above (`data` required)
-- @treturn table model
function L.fit(model, o)
   o = opts.check(o, FIT, "fit")
   local t = model.cfg.train
   local loader, run, hooks = o.data, o.run, o.hooks or {}
   -- Data parallelism: every rank trains; rank 0 alone writes, samples and evaluates.
   local parallel = dist.active()
   if parallel and not model.dist_prepared then
      dist.prepare(model)
      model.dist_prepared = true
   end
   local main = dist.is_main()
   if not main then run = nil end
   if loader == nil then error("fit: opts.data (a DataLoader) is required", 2) end
   local function setting(k) if o[k] ~= nil then return o[k] end return t[k] end
   local steps, log_every = setting("steps"), setting("log_every")
   local sample_every, checkpoint_every = setting("sample_every") or 0, setting("checkpoint_every") or 0
   local eval_every, keep = setting("eval_every") or 0, setting("keep_checkpoints") or 3
   local reporting, report_state = run ~= nil and setting("report") ~= false, {}
   local progress = o.progress ~= false and run
      and require("gan.run").Progress { total = steps, every = log_every, start = model.step } or nil
   local data = batches(loader)
   local replay = replay_of(model)
   local mon = main and monitor(model, run, progress) or nil
   model._health = mon
   local collapse_every = mon and mon.cfg.collapse_every or 0
   local t_last, samples_since = core.clock(), 0
   local t_start, budget = t_last, (setting("minutes") or 0) * 60
   model.seconds = model.seconds or 0
   local seconds_before = model.seconds
   local function out_of_time() return budget > 0 and model.seconds >= budget end
   while model.step < steps and not out_of_time() do
      local step = model.step + 1
      data.epochs, data.samples = 0, 0
      model.step_logs = {}
      local logs
      if replay then replay:before(step) end
      do
         local _ <close> = dist.step_scope()
         logs = model:train_step(data, step) or {}
      end
      if replay and replay:after(step) then logs.replay = 1 end
      for k, v in pairs(model.step_logs) do logs[k] = v end
      model.step = step
      model.seconds = seconds_before + (core.clock() - t_start)
      -- the ranks stop together: at rank 0's time (one scalar reduced per step)
      if parallel and budget > 0 then
         model.seconds = dist.mean_scalars({ s = dist.is_main() and model.seconds or 0 }).s * dist.world_size()
      end
      local last = step == steps or out_of_time()
      after_step(model, step, logs, data.epochs)
      samples_since = samples_since + data.samples
      if hooks.on_step then hooks.on_step(model, step, logs) end
      local signals = collapse_every > 0 and step % collapse_every == 0 and collapse_signals(model, mon, data.last)
         or nil
      if mon then
         local seen = setmetatable(signals or {}, { __index = logs })
         mon:observe(step, seen)
      end
      local log_step = step % log_every == 0 or last
      if signals and run and not log_step then run:log(step, signals) end
      if log_step then
         if parallel then logs = dist.mean_scalars(logs) end
         for k, v in pairs(signals or {}) do logs[k] = v end
         local now = core.clock()
         local ips = samples_since * dist.world_size() / math.max(now - t_last, 1e-9)
         if run then
            run:log(step, logs)
            append_timing(run.dir, step, ips, model.seconds)
         end
         if progress then
            local shown = { imgs_per_s = ips }
            for _, k in ipairs(model.progress or {}) do shown[k] = logs[k] end
            progress:update(step, shown)
         end
         t_last, samples_since = now, 0
      end
      local sheet = main and sample_every > 0 and (step % sample_every == 0 or last)
      if sheet then save_sheet(model, run, hooks) end
      local evaluated = main and eval_every > 0 and (step % eval_every == 0 or last)
      if evaluated then evaluate(model, loader, run, hooks, setting("eval_samples")) end
      if checkpoint_every > 0 and (step % checkpoint_every == 0 or last) then
         local rng = parallel and dist.rng_states(model) or nil   -- every rank takes part
         if run then
            local path = run:checkpoint_path(step)
            save(model, loader, path, rng)
            model.last_checkpoint = path
            run:keep_checkpoints(keep)
         end
      end
      if reporting and (sheet or evaluated or last) then refresh_report(run, progress, report_state) end
   end
   if progress and out_of_time() and model.step < steps then
      progress:note(("train.minutes (%g) reached at step %d of %d"):format(budget / 60, model.step, steps))
   end
   if progress then progress:close() end
   return model
end

L.batches = batches
return L
