--- gan.train.trial: one training run of a study (an ablation, a benchmark of several
-- objectives): a resolved config trained into <run.root>/<model>/<run.name>, resumable.
-- A directory that already holds a checkpoint of this run is resumed from it (a
-- finished one is left as it is); one without a checkpoint is started afresh. Scripts
-- that train many configurations in turn (experiments/objectives_mnist.lua,
-- biggan_ablation.lua, ...) can so be stopped and started again.
--
--     local dir, secs = gan.train.trial("biggan", cfg)   -- cfg from gan.config.resolve
-- @module gan.train.trial
local lfs = require("lfs")

--- Trains model class M (or its name) on the resolved config cfg (its run.root and
-- run.name name the directory) without a progress line. opts: dataset (the training
-- data instead of M.dataset(cfg)). Returns the run directory, the seconds spent
-- training in this call and the model.
return function(M, cfg, opts)
   local gan = require("gan")
   if type(M) == "string" then M = gan.models.get(M) end
   -- checked here too (scripts set run.name after resolving): the directory may be removed
   if not gan.run.valid_name(cfg.run.name) then
      error(("trial: cfg.run.name must be %s, got %s"):format(gan.run.NAME_RULE, tostring(cfg.run.name)), 2)
   end
   local dir = ("%s/%s/%s"):format(cfg.run.root, M.name, cfg.run.name)
   local ckpt = lfs.attributes(dir .. "/checkpoints", "mode") == "directory"
      and gan.run.open(dir):latest_checkpoint()
   if not ckpt and lfs.attributes(dir, "mode") then os.execute(("rm -rf '%s'"):format(dir:gsub("'", "'\\''"))) end
   gan.manual_seed(cfg.train.seed)
   local run = ckpt and gan.run.open(dir) or gan.run.new { experiment = M.name, name = cfg.run.name,
      root = cfg.run.root, config = cfg }
   local loader = gan.data.DataLoader((opts and opts.dataset) or M.dataset(cfg), { batch_size = cfg.data.batch_size,
      generator = gan.Generator(cfg.train.seed + 7) })
   local model = M.new(cfg)
   if ckpt then gan.train.resume(model, loader, run) end
   local t0 = gan.clock()
   gan.train.fit(model, { data = loader, run = run, progress = false })
   run:close()
   return dir, gan.clock() - t0, model
end
