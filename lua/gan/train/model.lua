--- gan.train.Model: the base class of every model file, lua/gan/models/<name>.lua (the
-- contract is in docs/models.md; lua/gan/models/_template.lua is a commented example).
--
--     local M = gan.train.model {
--        name = "dcgan", summary = "...", paper = "Radford et al. 2016, ...",
--        defaults = { data = {...}, model = {...}, train = {...} },
--     }
--     function M.dataset(cfg) ... end                 -- the training samples
--     function M:build(cfg) ... end                   -- networks, optimizers, EMA
--     function M:train_step(data, step) ... end      -- updates; returns scalars to log
--     function M:sample() ... end                     -- a sheet of images
--     function M:evaluate(opts) ... end               -- `gan eval` and periodic evaluation
--
-- An instance (M.new(cfg)) registers what it is made of: networks (self:network),
-- optimizers with their schedules and clipping (self:optimizer), EMA copies (self:ema)
-- and other checkpointable state (self:state). From that registry the loop
-- (gan.train.fit) checkpoints, resumes, steps schedules, updates EMAs and logs learning
-- rates, and `gan eval` reloads the weights; the model's code only says what is
-- particular to it. Every parameter update goes through self:update (gan.train.update).
-- @module gan.train.model
local core = require("gan.core")
local is_tensor = require("gan.tensor").is_tensor
local config = require("gan.config")
local nn_utils = require("gan.nn.utils")
local no_grad = require("gan.autograd").no_grad
local opts = require("gan.opts")
local optim = require("gan.optim")

local Model = {}
Model.__index = Model

local gan_run = require("gan.run")
local range = config.range
local OPTIMIZER_NAMES = { "sgd", "adam", "rmsprop" }

--- What every model's config has, below the model's own defaults: the data batch size,
-- the loop's settings (train.*), the run directory (run.*) and the health monitor's
-- thresholds (health.*). Every value declares what it allows (config.range,
-- config.choice, config.valid): models that change a default keep its range;
-- config.describe(M.defaults) lists them.
Model.defaults = {
   data = { batch_size = range(64, "[1, inf)") },
   model = {},
   train = {
      -- threads 0: the machine's cores (shared among the ranks under mpirun)
      steps = range(1000, "[1, inf)"),
      -- a wall-clock budget (0: none): the run ends at the first step at which its training
      -- time, summed over resumes, reaches this many minutes (equal-time comparisons)
      minutes = range(0.0, "[0, inf)"),
      -- the arithmetic of the convolutions and matrix products in every update (gan.autocast):
      -- bfloat16 inputs with float32 accumulation, or float32; weights, gradients, losses float32
      precision = config.choice("float32", require("gan.autocast").PRECISIONS),
      seed = range(0, "[0, inf)"), threads = range(0, "[0, 1024]"),
      -- every *_every: steps between events; 0 = never (log_every: at least 1)
      log_every = range(10, "[1, inf)"), sample_every = range(100, "[0, inf)"),
      checkpoint_every = range(500, "[0, inf)"), keep_checkpoints = range(3, "[0, inf)"),
      eval_every = range(0, "[0, inf)"), eval_samples = range(2000, "[1, inf)"),
      -- rewrite the run's report.html (gan report) with each sheet, evaluation and the end
      report = true,
      -- another optimizer for D or G than the model's, at the model's learning rate: the
      -- lectures' "SGD for D, Adam for G"
      optimizer_d = config.optional("string", OPTIMIZER_NAMES), optimizer_g = config.optional("string", OPTIMIZER_NAMES),
      -- experience replay: every replay_every steps (0: off) a snapshot of network
      -- replay_network joins a ring of replay_keep; a random older one then stands in for
      -- the network during the next replay_steps steps (gan.train.replay)
      replay_every = range(0, "[0, inf)"),
      replay_network = config.valid("D", function(v) return v:match("^[%w_]+$") ~= nil end,
         "a network's name (letters, digits, _)"),
      replay_keep = range(10, "[1, inf)"),
      replay_steps = range(1, "[1, inf)"),
   },
   run = { root = "runs", name = config.optional("string", gan_run.valid_name, gan_run.NAME_RULE) },
   -- the training health monitor's switches and thresholds (gan.train.health)
   health = require("gan.train.health").config,
}

--- Every model class defined in this process, by name (the files of gan.models and the
-- classes experiment scripts define).
Model.registry = {}

--- The scalars the progress line shows (when the step logs them).
Model.progress = { "loss_d", "loss_g", "loss" }

local SPEC = opts.set("name", "summary", "paper", "defaults", "progress", "best", "health")

local function define(parent, spec)
   opts.check(spec, SPEC, "gan.train.model", 3)
   for _, k in ipairs { "name", "summary", "paper" } do
      if type(spec[k]) ~= "string" or spec[k] == "" then
         error(("gan.train.model: '%s' must be a non-empty string"):format(k), 3)
      end
   end
   local cls = setmetatable({}, { __index = parent })
   cls.__index = cls
   cls.name, cls.summary, cls.paper = spec.name, spec.summary, spec.paper
   cls.defaults = config.merge(parent.defaults, spec.defaults)
   -- model.name names the model (plain: gan.train.experiment refuses a config of another)
   cls.defaults.model = config.merge(cls.defaults.model, { name = spec.name })
   Model.registry[spec.name] = cls   -- gan.models.get finds classes defined outside gan.models too
   cls.progress = spec.progress
   cls.best = spec.best   -- { metric =, mode = "min" | "max" }: what `best.safetensors` keeps
   if spec.health then cls.health = spec.health end   -- { d_loss = { keys } }: see Model:health_keys
   --- A model built from a resolved config (cfg.model.name must be this model's name).
   function cls.new(cfg) return Model._new(cls, cfg) end
   return cls
end

--- A new model class: spec.name (the file's name), spec.summary (one line for `gan
-- models`), spec.paper (authors, year, title), spec.defaults (its config defaults, over
-- Model.defaults), optionally spec.progress (the scalars of the progress line) and
-- spec.best ({ metric =, mode = }: the evaluation metric whose best value keeps
-- checkpoints/best.safetensors), spec.health ({ d_loss = { log keys } }: the D losses
-- that are 0 for a perfect discriminator, watched by the health monitor).
-- @tparam table spec the fields above
-- @treturn table the class
function Model.define(spec) return define(Model, spec) end

--- A model class that starts from this one: its defaults are merged over this class's,
-- and it inherits every method it does not redefine (WGAN-GP is DCGAN's step with
-- other defaults and a critic without batch norm).
-- @tparam table spec as Model.define's
-- @treturn table the class
function Model:extend(spec) return define(self, spec) end

function Model._new(cls, cfg)
   if type(cfg) ~= "table" or type(cfg.model) ~= "table" or type(cfg.train) ~= "table" then
      error(("%s.new: expected a resolved config (with model and train sections)"):format(cls.name), 3)
   end
   if cfg.model.name ~= cls.name then
      error(("%s.new: the config is for model '%s'"):format(cls.name, tostring(cfg.model.name)), 3)
   end
   local self = setmetatable({ cfg = cfg, step = 0, networks = {}, optimizers = {}, ema = {}, states = {},
      step_logs = {} }, cls)
   self._order = { networks = {}, optimizers = {}, ema = {}, states = {} }
   --- The model's own generator (latents, label noise, penalties' interpolation, ...),
   -- checkpointed as trainer_rng.
   self.rng = core.Generator(cfg.train.seed)
   self:build(cfg)
   for _, n in ipairs { "d", "g" } do
      if cfg.train["optimizer_" .. n] ~= nil and not (self.optimizers[n] or self.optimizers[n:upper()]) then
         error(("train.optimizer_%s: %s has no optimizer '%s' (its optimizers: %s)"):format(n, cls.name, n,
            table.concat(self._order.optimizers, ", ")), 0)
      end
   end
   return self
end

-- Registers obj in the registry `kind` under `name` (names are unique per kind).
local function register(self, kind, name, obj)
   if type(name) ~= "string" or name == "" then error(("%s: name must be a non-empty string"):format(kind), 3) end
   if self[kind][name] ~= nil then error(("%s: '%s' is registered twice"):format(kind, name), 3) end
   self[kind][name] = obj
   local order = self._order[kind]
   order[#order + 1] = name
   return obj
end

--- Registers a network (checkpointed under `name`, reloaded by `gan eval`); it is
-- also reachable as self[name]. Returns it.
-- @tparam string name
-- @tparam Module module
-- @treturn Module module
function Model:network(name, module)
   register(self, "networks", name, module)
   self[name] = module
   return module
end

local OPT_OPTS = opts.set("scheduler", "per", "clip_grad_norm", "clip_weights")

-- The optimizer `kind` (one of OPTIMIZER_NAMES, checked with the config) over opt's
-- parameter groups at their learning rates (Adam with the DCGAN betas 0.5, 0.999); a
-- scheduler of opt now steps the new one.
local OPTIMIZERS = {
   sgd = function(groups, lr) return optim.SGD(groups, { lr = lr }) end,
   adam = function(groups, lr) return optim.Adam(groups, { lr = lr, betas = { 0.5, 0.999 } }) end,
   rmsprop = function(groups, lr) return optim.RMSprop(groups, { lr = lr }) end,
}
local function replaced(opt, kind, scheduler)
   local groups = {}
   for i, g in ipairs(opt.param_groups) do groups[i] = { params = g.params, lr = g.lr } end
   local new = OPTIMIZERS[kind](groups, groups[1].lr)
   if scheduler then scheduler.optimizer = new end
   return new
end

--- Registers an optimizer under `name` (checkpointed as opt_<name>; its updates are
-- self:update(name, ...); its learning rate is logged as lr_<name>). o: scheduler (an
-- lr_scheduler of it, checkpointed as sched_<name>), per ("step", the default, or
-- "epoch": when the loop steps the scheduler), clip_grad_norm (max norm of its
-- gradients before each step), clip_weights (WGAN: clamp its parameters to
-- [-c, c] after each step). Returns the optimizer.
-- @tparam string name
-- @tparam Optimizer opt
-- @tparam[opt] table o the options above (none by default)
-- @treturn Optimizer opt
function Model:optimizer(name, opt, o)
   o = opts.check(o, OPT_OPTS, "optimizer")
   if o.per ~= nil and o.per ~= "step" and o.per ~= "epoch" then
      error(("optimizer '%s': per must be 'step' or 'epoch', got '%s'"):format(name, tostring(o.per)), 2)
   end
   local key = "optimizer_" .. tostring(name):lower()
   if self.cfg.train[key] ~= nil then opt = replaced(opt, self.cfg.train[key], o.scheduler) end
   local params = {}
   for _, g in ipairs(opt.param_groups) do for _, p in ipairs(g.params) do params[#params + 1] = p end end
   register(self, "optimizers", name, { opt = opt, params = params, scheduler = o.scheduler, per = o.per or "step",
      clip_grad_norm = o.clip_grad_norm, clip_weights = o.clip_weights })
   return opt
end

--- Keeps an exponential moving average of network `name` (BigGAN, ProGAN...), updated
-- by the loop after every step and checkpointed as ema_<name>; sampling and
-- evaluation use it (self:sampler). o: decay (0.999), start (the step from which it
-- averages; before it, it copies). Returns the nn.utils.EMA.
-- @tparam string name a registered network
-- @tparam[opt] table o `decay` (0.999), `start` (0)
-- @treturn EMA
function Model:ema_of(name, o)
   o = opts.check(o, opts.set("decay", "start"), "ema_of")
   local net = self.networks[name]
   if not net then error(("ema_of: no network '%s'"):format(tostring(name)), 2) end
   return register(self, "ema", name, nn_utils.EMA(net, { decay = o.decay, start_step = o.start }))
end

--- Registers any other object with state_dict / load_state_dict (an image pool, a
-- balance term) to be checkpointed under `name`. Returns it.
-- @tparam string name
-- @tparam table obj with state_dict and load_state_dict
-- @treturn table obj
function Model:state(name, obj)
   if type(obj) ~= "table" or type(obj.state_dict) ~= "function" or type(obj.load_state_dict) ~= "function" then
      error(("state '%s': needs state_dict and load_state_dict methods"):format(tostring(name)), 2)
   end
   return register(self, "states", name, obj)
end

--- One optimizer update (see gan.train.update): self:update("d", function() return
-- loss, ... end, { freeze = module(s) }) returns what the function returned.
-- @tparam string name a registered optimizer
-- @tparam function fn returns the loss first (and anything else to pass back)
-- @tparam[opt] table o `freeze` (a module or a list of them, default none)
-- @return what fn returned
function Model:update(name, fn, o) return require("gan.train.update")(self, name, fn, o) end

--- Everything a checkpoint holds, by name.
function Model:checkpoint_objects()
   local o = {}
   for _, n in ipairs(self._order.networks) do o[n] = self.networks[n] end
   for _, n in ipairs(self._order.optimizers) do
      local e = self.optimizers[n]
      o["opt_" .. n] = e.opt
      if e.scheduler then o["sched_" .. n] = e.scheduler end
   end
   for _, n in ipairs(self._order.ema) do o["ema_" .. n] = self.ema[n] end
   for _, n in ipairs(self._order.states) do o[n] = self.states[n] end
   local g = self.rng
   o.trainer_rng = { state_dict = function() return g:get_state() end,
      load_state_dict = function(_, s) g:set_state(s) end }
   return o
end

--- Loads the networks and EMA copies from a checkpoint's states (what `gan eval`
-- needs); a network or EMA missing from it is an error.
-- @tparam table states a checkpoint's states
-- @tparam string path the checkpoint's path, for errors
function Model:load_weights(states, path)
   for _, n in ipairs(self._order.networks) do
      if states[n] == nil then error(("%s has no weights for network '%s'"):format(path or "the checkpoint", n), 2) end
      self.networks[n]:load_state_dict(states[n])
   end
   for _, n in ipairs(self._order.ema) do
      local s = states["ema_" .. n]
      if s == nil then error(("%s has no EMA of '%s'"):format(path or "the checkpoint", n), 2) end
      self.ema[n]:load_state_dict(s)
   end
end

--- The network to sample and evaluate with: the EMA copy of network `name` when the
-- model keeps one (with batch-norm statistics of its own: nn.utils.standing_stats over
-- 16 batches of 64 from self:latent, seeded train.seed + 2000), else the network.
-- @tparam string name a registered network
-- @treturn Module
function Model:sampler(name)
   local e = self.ema[name]
   if not e then return self.networks[name] end
   local g = core.Generator(self.cfg.train.seed + 2000)
   nn_utils.standing_stats(e.model, function() return self:latent(64, g) end, 16)
   return e.model
end

--- Runs net(...) in eval mode without recording gradients, then restores its mode.
-- @tparam Module net
-- @param ... its inputs
-- @return its outputs
function Model.run_eval(net, ...)
   local was = net.training
   net:eval()
   local res = table.pack(no_grad(net, ...))
   net:train(was)
   return table.unpack(res, 1, res.n)
end

--- Model.run_eval over a large batch in chunks of `size` along the first dimension of
-- every tensor argument (other arguments go to each chunk as they are): the outputs'
-- chunks concatenated, so memory is a chunk's, not the batch's.
-- @tparam Module net
-- @tparam int size rows per chunk
-- @param ... its inputs (tensors of one first dimension)
-- @treturn Tensor
function Model.run_eval_chunked(net, size, ...)
   local args, n = table.pack(...), nil
   for i = 1, args.n do
      if is_tensor(args[i]) then n = n or args[i]:size(1) end
   end
   local parts = {}
   for s = 1, n, size do
      local m, chunk = math.min(size, n - s + 1), {}
      for i = 1, args.n do chunk[i] = is_tensor(args[i]) and args[i]:narrow(1, s, m) or args[i] end
      parts[#parts + 1] = Model.run_eval(net, table.unpack(chunk, 1, args.n))
   end
   return core.cat(parts, 1)
end

--- The fixed inputs of sample sheets: self:latent(n) from a generator seeded
-- train.seed + 1000, drawn once per n (the same in every sheet of a run and after resume;
-- the health monitor takes 64 where a conditional sheet takes k * k).
-- @tparam int n
-- @return self:latent(n)'s value
function Model:fixed_latent(n)
   self._fixed = self._fixed or {}
   if not self._fixed[n] then self._fixed[n] = table.pack(self:latent(n, core.Generator(self.cfg.train.seed + 1000))) end
   return table.unpack(self._fixed[n], 1, self._fixed[n].n)
end

--- The default sheet: 64 images of the generator G (its EMA copy when kept) from
-- fixed latents, 8 per row. Returns the images (N, C, H, W) in [-1, 1] and { nrow = }.
function Model:sample()
   return Model.run_eval(self:sampler("G"), self:fixed_latent(64)), { nrow = 8 }
end

--- Labels for conditional models, int64: class_rows(k) gives k rows of k samples, row r of
-- class r - 1 (sheets with one row per class); balanced_classes(n, k) cycles n labels
-- through the k classes (evaluation with every class equally often).
-- @tparam int k the number of classes
-- @treturn Tensor int64 (k * k)
function Model.class_rows(k)
   local l = {}
   for i = 1, k * k do l[i] = (i - 1) // k end
   return core.tensor(l, { dtype = "int64" })
end
--- n int64 labels cycling through k classes: 0, 1, ..., k - 1, 0, 1, ...
-- @tparam int n
-- @tparam int k
-- @treturn Tensor int64 (n)
function Model.balanced_classes(n, k)
   local l = {}
   for i = 1, n do l[i] = (i - 1) % k end
   return core.tensor(l, { dtype = "int64" })
end

--- The labelled training set `ds` of a class-conditional model, checked against the
-- config: it must have labels and exactly model.n_classes classes (a label beyond
-- n_classes would otherwise fail inside the first step, after the run has started).
-- Returns ds; raises an error naming the model, data.name and model.n_classes.
-- @tparam table ds a dataset
-- @tparam table cfg the resolved config
-- @treturn table ds
function Model.check_classes(ds, cfg)
   local who, name, k = cfg.model.name, tostring(cfg.data.name or ds.name), cfg.model.n_classes
   if not ds.labels or type(ds.classes) ~= "table" then
      error(("%s: data.name '%s' has no class labels; a class-conditional model needs them"):format(who, name), 0)
   end
   if #ds.classes ~= k then
      error(("%s: %s has %d classes, but model.n_classes is %d"):format(who, name, #ds.classes, k), 0)
   end
   return ds
end

--- The generator's inputs for n samples drawn from `generator`; models with a G
-- define it (the default sampler, sample sheets and standing statistics use it).
function Model:latent()
   error(("%s: the model defines no latent(n, generator)"):format(self.name), 2)
end

--- Measures a trained model (`gan eval RUN`, and every train.eval_every steps); returns
-- a table of named numbers (and strings). opts: n (samples), classifier, dir (the run
-- directory, for sheets). Models without an evaluation say so.
function Model:evaluate()
   error(("%s: no evaluation is defined for this model"):format(self.name), 2)
end

--- What the health monitor (gan.train.health) watches: { d_loss = the log keys of D losses
-- that are 0 for a perfect discriminator (the class's spec.health.d_loss; none by
-- default, as a Wasserstein critic's loss has no floor), g_grad = the gradient norms of
-- the generator's optimizer (grad_norm_g or grad_norm_G when registered) }.
function Model:health_keys()
   local g = {}
   for _, n in ipairs { "g", "G" } do
      if self.optimizers[n] then g[#g + 1] = "grad_norm_" .. n end
   end
   return { d_loss = self.health and self.health.d_loss or {}, g_grad = g }
end

--- The images of the health monitor's collapse check: 64 samples of G (its EMA copy
-- when kept, as in the sheets) from the sheets' fixed latents; nil (no check) for a
-- model without a network G and a latent().
function Model:health_samples()
   if not self.networks.G or self.latent == Model.latent then return nil end
   return Model.run_eval(self:sampler("G"), self:fixed_latent(64))
end

--- One line naming the networks and their sizes.
function Model:describe()
   local parts = {}
   for _, n in ipairs(self._order.networks) do
      parts[#parts + 1] = ("%s %d"):format(n, self.networks[n]:num_parameters())
   end
   return "parameters: " .. table.concat(parts, ", ")
end

return Model
