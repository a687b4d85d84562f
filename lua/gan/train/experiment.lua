--- gan.train.experiment: what an experiment script runs.
--
-- From the command line (--config FILE, --set key=value, --resume RUN_DIR) and the
-- model's defaults it resolves the config, opens the run directory, builds the data and
-- the model, resumes if asked, trains with gan.train.fit and says where everything went.
--
--     -- experiments/dcgan.lua
--     local gan = require("gan")
--     gan.train.experiment { model = "dcgan", argv = arg }
-- @module gan.train.experiment
local opts = require("gan.opts")
local config = require("gan.config")

local SPEC = opts.set("model", "argv", "name", "defaults", "dataset", "hooks")

-- The experiment's name: its script's file name without .lua.
local function script_name(argv)
   local s = argv and argv[0]
   return type(s) == "string" and s:match("([^/]+)%.lua$") or nil
end

--- Runs an experiment. spec: model (a model name, or a model class), argv (the
-- script's `arg`), name (of the run's experiment folder, default the script's file
-- name), defaults (overrides of the model's defaults; new keys allowed, for the
-- script's own settings), dataset (function(cfg) -> the training dataset, instead of
-- the model's), hooks (as gan.train.fit's). Returns the model, the run and the config
-- (under mpirun, rank 0 alone gets the run; the other ranks get nil, and data.batch_size
-- is the global batch, split over the ranks).
return function(spec)
   opts.check(spec, SPEC, "experiment")
   local gan = require("gan")
   local M = spec.model
   if type(M) == "string" then M = require("gan.models").get(M) end
   local name = spec.name or script_name(spec.argv) or M.name
   local ds, loader, model, world
   -- The config is checked as it is resolved; then the data and the model are built
   -- (errors there name the key too) before a new run directory exists, so a failing start
   -- leaves none behind.
   local cfg, run, resumed = gan.run.from_args(name, config.merge(M.defaults, spec.defaults), spec.argv,
      { prepare = function(c)
         if c.model.name ~= M.name then
            error(("%s: model.name is '%s', but this experiment trains '%s'"):format(name,
               tostring(c.model.name), M.name), 0)
         end
         world = gan.dist.world_size()   -- MPI is initialised by now
         ds = (spec.dataset or M.dataset)(c)
         loader = gan.data.DataLoader(ds, { batch_size = c.data.batch_size,
            generator = gan.Generator(c.train.seed + 7), shard = world > 1 and { gan.dist.rank(), world } or nil })
         model = M.new(c)
         if loader:len() == 0 then
            error(("%s: data.batch_size is %d but the training data has %d samples%s: not one batch; lower "
               .. "data.batch_size"):format(name, c.data.batch_size, #ds, world > 1 and (" (over %d processes)"):format(world)
               or ""), 0)
         end
      end })
   local say = gan.dist.is_main() and print or function() end
   say(("%s: %s (%s); %d training samples, batch %d%s; %s; run %s"):format(name, M.name, M.paper, #ds,
      cfg.data.batch_size, world > 1 and (" over %d processes"):format(world) or "", model:describe(),
      run and run.dir or "?"))
   if resumed then say(("%s: resumed from step %d"):format(name, gan.train.resume(model, loader, run))) end
   local hooks, last = setmetatable({}, { __index = spec.hooks }), nil
   hooks.on_eval = function(m, step, res)
      last = { step = step, res = res }
      if spec.hooks and spec.hooks.on_eval then spec.hooks.on_eval(m, step, res) end
   end
   gan.train.fit(model, { data = loader, run = run, hooks = hooks })
   if not gan.dist.is_main() then return model, nil, cfg end
   run:close()
   say(("%s: done; sample sheets in %s/samples, metrics in %s/metrics.jsonl%s"):format(name, run.dir, run.dir,
      cfg.train.report ~= false and (", the report in %s/report.html"):format(run.dir) or ""))
   if last then   -- the run's last evaluation, in words
      local r, parts = last.res, {}
      if type(r.confident) == "number" then
         parts[#parts + 1] = ("%.1f%% of the samples confidently recognised by the reference classifier"):format(100 * r.confident)
      end
      if type(r.class_accuracy) == "number" then parts[#parts + 1] = ("class accuracy %.1f%%"):format(100 * r.class_accuracy) end
      if type(r.fid) == "number" then parts[#parts + 1] = ("FID %.1f"):format(r.fid) end
      if #parts > 0 then
         say(("%s: evaluation at step %d (%s samples): %s"):format(name, last.step, tostring(r.n_samples or "?"),
            table.concat(parts, ", ")))
      end
   end
   return model, run, cfg
end
