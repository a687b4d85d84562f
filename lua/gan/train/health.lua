--- gan.train.health: the training loop's health monitor. It watches every step's logged
-- scalars and, every few hundred steps, a fixed batch of samples, and warns once per
-- episode (when a failure starts; again only after it has cleared) when
--
-- - **D wins**: the discriminator's loss stays below `health.d_loss` for `health.d_window`
--   steps (the model names the losses for which 0 means a perfect D: model:health_keys());
-- - **G's gradients vanish or explode**: the norm of G's gradients (grad_norm_g, logged at
--   the update site) stays a factor `health.grad_factor` below or above the median of its
--   last `health.grad_window` healthy values for `health.grad_patience` steps;
-- - **mode collapse**: the samples of fixed latents (model:health_samples()) are far less
--   diverse than real data: their mean pairwise distance, in the reference classifier's
--   feature space when the data set has one (else in data space), falls below
--   `health.diversity` times a real batch's; or one class takes more than
--   `health.class_share` of them. Checked every `health.collapse_every` steps from step
--   `health.collapse_after`, logged as health_diversity, health_class_share and
--   health_class_entropy in metrics.jsonl.
--
-- NaN or Inf in a loss or gradient is not a warning: the update site stops the run at once
-- (gan.train.update). A warning goes to the progress line and to health.jsonl in the run
-- directory; with `health.strict` (`--strict-health`) it stops the run. The detectors only
-- read scalars, so they replay a metrics.jsonl as they watch a live run (Monitor:observe).
-- @module gan.train.health
local H = {}

local config = require("gan.config")
local metrics = require("gan.metrics")
local range = config.range

--- The config section (`health`): the thresholds' defaults and ranges (docs/training.md,
-- "Training health"); H.defaults has the plain values.
H.config = {
   enabled = true, strict = false,
   d_loss = range(0.05, "[0, inf)"), d_window = range(200, "[1, inf)"),
   grad_factor = range(100, "(1, inf)"), grad_window = range(200, "[1, inf)"), grad_patience = range(50, "[0, inf)"),
   collapse_every = range(500, "[0, inf)"), collapse_after = range(2000, "[0, inf)"),
   diversity = range(0.3, "[0, 1]"), class_share = range(0.6, "(0, 1]"),
}
H.defaults = config.resolve(H.config, {})

local Monitor = {}
Monitor.__index = Monitor

--- A monitor: cfg (the health section; missing keys take the defaults), keys = { d_loss =
-- { log keys }, g_grad = { log keys } } (what model:health_keys() returns), warn =
-- function(warning) called for each new warning ({ step, detector, key, message }).
-- @tparam[opt] table cfg
-- @tparam[opt] table keys
-- @tparam[opt] function warn default does nothing
-- @treturn Monitor
function H.Monitor(cfg, keys, warn)
   local c = {}
   for k, v in pairs(H.defaults) do c[k] = v end
   for k, v in pairs(cfg or {}) do c[k] = v end
   return setmetatable({ cfg = c, keys = keys or {}, warn = warn or function() end, warnings = {},
      streak = {}, active = {}, history = {} }, Monitor)
end

--- Raises or clears the episode `id`: the first step `bad` holds, a warning is recorded
-- and passed to the monitor's warn function; it is cleared when `bad` stops holding.
-- @tparam string id the episode's identity (detector and key)
-- @tparam boolean bad whether the condition holds at this step
-- @tparam int step
-- @tparam string detector the detector's name, in the warning
-- @tparam string key the metric's key, in the warning
-- @tparam string message the warning's text
function Monitor:episode(id, bad, step, detector, key, message)
   if bad and not self.active[id] then
      self.active[id] = step
      local w = { step = step, detector = detector, key = key, message = message }
      self.warnings[#self.warnings + 1] = w
      self.warn(w)
   elseif not bad then
      self.active[id] = nil
   end
end

--- The step a condition started holding (kept while it holds, cleared when it does not).
-- @tparam string id the condition's identity
-- @tparam boolean cond whether it holds at this step
-- @tparam int step
-- @treturn int|nil the first step of the current streak, nil when cond is false
function Monitor:held_since(id, cond, step)
   if not cond then self.streak[id] = nil return nil end
   self.streak[id] = self.streak[id] or step
   return self.streak[id]
end

local function median(xs)
   local s = table.move(xs, 1, #xs, 1, {})
   table.sort(s)
   local n = #s
   return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

--- Reads one step's scalars (a live step's logs, or a line of metrics.jsonl): the D-wins
-- and gradient detectors. Steps need not be consecutive (metrics.jsonl logs every
-- log_every steps); windows are measured in steps.
-- @tparam int step
-- @tparam table logs key -> number
function Monitor:observe(step, logs)
   local c = self.cfg
   for _, k in ipairs(self.keys.d_loss or {}) do
      local v = logs[k]
      if type(v) == "number" then
         local since = self:held_since("d:" .. k, v < c.d_loss, step)
         self:episode("d:" .. k, since ~= nil and step - since >= c.d_window, step, "d_wins", k,
            ("D wins: %s has stayed below %g since step %d (now %.3g); G gets no useful signal"):format(k,
               c.d_loss, since or step, v))
      end
   end
   for _, k in ipairs(self.keys.g_grad or {}) do
      local v = logs[k]
      if type(v) == "number" and finite(v) then
         local hist = self.history[k] or {}
         self.history[k] = hist
         local lv = math.log(math.max(v, 1e-30), 10)
         local dir
         if #hist >= math.min(c.grad_window, 20) then
            -- the median moves slowly: recomputed every 10 healthy values
            self.medians = self.medians or {}
            local cached = self.medians[k]
            if not cached or cached.n ~= #hist or cached.added >= 10 then
               cached = { m = median(hist), n = #hist, added = 0 }
               self.medians[k] = cached
            end
            local m = cached.m
            local f = math.log(c.grad_factor, 10)
            dir = lv < m - f and "vanish" or lv > m + f and "explode" or nil
            local since = self:held_since("g:" .. k, dir ~= nil, step)
            self:episode("g:" .. k, since ~= nil and step - since >= c.grad_patience, step,
               "g_grad", k, ("G's gradients %s: %s = %.3g since step %d, %.0fx %s the median of its history (%.3g)")
               :format(dir == "vanish" and "vanish" or "explode", k, v, since or step,
                  10 ^ math.abs(lv - m), dir == "vanish" and "below" or "above", 10 ^ m))
         end
         if dir == nil then   -- the history keeps healthy values only
            hist[#hist + 1] = lv
            if #hist > c.grad_window then table.remove(hist, 1) end
            local cached = self.medians and self.medians[k]
            if cached then cached.added, cached.n = cached.added + 1, #hist end
         end
      end
   end
   local d, s = logs.health_diversity, logs.health_class_share
   if type(d) == "number" and step >= c.collapse_after then
      self:episode("collapse:diversity", d < c.diversity, step, "collapse", "health_diversity",
         ("mode collapse: the samples' mean pairwise distance is %.2f of a real batch's (threshold %g)")
            :format(d, c.diversity))
   end
   if type(s) == "number" and step >= c.collapse_after then
      self:episode("collapse:class", s > c.class_share, step, "collapse", "health_class_share",
         ("mode collapse: %.0f%% of the samples fall in one class (threshold %.0f%%; class entropy %.2f nats)")
            :format(100 * s, 100 * c.class_share, logs.health_class_entropy or 0 / 0))
   end
end

--- The collapse signals of generated `samples` against a `real` batch (same shape after
-- the first dimension): health_diversity (the ratio of their mean pairwise distances, in
-- the classifier's feature space when one is given, else in data space) and, with a
-- classifier, health_class_share and health_class_entropy (of the samples' argmax
-- classes, in nats). Monitor:observe judges them when a step's logs carry them.
-- @tparam Tensor samples (N, ...)
-- @tparam Tensor real (M, ...)
-- @tparam[opt] Module classifier a gan.metrics classifier
-- @treturn table health_diversity (and, with a classifier, health_class_share and
--  health_class_entropy)
function H.collapse_signals(samples, real, classifier)
   local fs, fr = samples, real
   local signals = {}
   if classifier then
      local probs
      fs, probs = metrics.features(classifier, samples)
      fr = metrics.features(classifier, real)
      local counts, n = {}, probs:size(1)
      for _, k in ipairs(probs:argmax(2):totable()) do counts[k] = (counts[k] or 0) + 1 end
      local share, entropy = 0, 0
      for _, m in pairs(counts) do
         share = math.max(share, m / n)
         entropy = entropy - m / n * math.log(m / n)
      end
      signals.health_class_share, signals.health_class_entropy = share, entropy
   end
   local dr = metrics.mean_pairwise_distance(fr)
   signals.health_diversity = dr > 0 and metrics.mean_pairwise_distance(fs) / dr or 1
   return signals
end

--- What a checkpoint keeps of the monitor (streaks, histories, open episodes), so a
-- resumed run warns as an uninterrupted one.
function Monitor:state_dict()
   return { streak = self.streak, active = self.active, history = self.history, medians = self.medians or {} }
end

--- Restores Monitor:state_dict's table (missing parts start empty).
-- @tparam table s
function Monitor:load_state_dict(s)
   self.streak, self.active, self.history = s.streak or {}, s.active or {}, s.history or {}
   self.medians = s.medians or {}
end

--- Replays a metrics.jsonl (a path) through a new monitor; returns its warnings.
-- @tparam string path
-- @tparam[opt] table cfg as Monitor's
-- @tparam[opt] table keys as Monitor's
-- @treturn {table,...} the warnings
function H.replay(path, cfg, keys)
   local cjson = require("cjson")
   local m = H.Monitor(cfg, keys)
   local f = io.open(path, "rb")
   if not f then error(("health.replay: cannot read %s"):format(tostring(path)), 2) end
   for line in f:lines() do
      local ok, t = pcall(cjson.decode, line)
      if ok and type(t) == "table" and type(t.step) == "number" then m:observe(t.step, t) end
   end
   f:close()
   return m.warnings
end

return H
