--- `gan eval RUN_DIR`: rebuilds a run's model from its config.yaml (the model named by
-- model.name), loads the weights of its best checkpoint (else the latest), asks the
-- model to measure itself (its evaluate method) and writes RUN_DIR/eval.json (for a
-- checkpoint named with --checkpoint, RUN_DIR/eval_<its name>.json).
-- @module gan.eval
local files = require("gan.files")
local exists = files.exists

local E = {}

local function fmt(v)
   if type(v) == "number" then return ("%.6g"):format(v) end
   return tostring(v)
end

-- Where an evaluation is kept: RUN_DIR/eval.json for the run's own (best, else latest)
-- checkpoint; eval_<checkpoint's name>.json for one named with --checkpoint, so that
-- measuring an earlier checkpoint never replaces the run's evaluation.
local function json_path(dir, checkpoint)
   if not checkpoint then return dir .. "/eval.json" end
   local name = checkpoint:match("([^/]+)$"):gsub("%.safetensors$", "")
   return ("%s/eval_%s.json"):format(dir, name)
end

-- A run of an experiment script whose model, or loss, is its own (defined in the script,
-- not a file of gan.models): the script (command.txt names it and the directory it ran in)
-- runs up to its gan.train.experiment call, which stops it there, so that what it defines
-- and registers exists in this process. Returns the model class, or nil.
local function define_from_script(dir)
   local f = io.open(dir .. "/command.txt", "rb")
   if not f then return nil end
   local text = f:read("a")
   f:close()
   local script, cwd = text:match("\ncommand: [^\n]- run (%S+%.lua)"), text:match("\ncwd: ([^\n]+)")
   script = script or text:match("^command: [^\n]- run (%S+%.lua)")
   if not script then return nil end
   if script:sub(1, 1) ~= "/" and cwd then script = cwd .. "/" .. script end
   local chunk = loadfile(script)
   if not chunk then return nil end
   local train = require("gan.train")
   local STOP, found = {}, nil
   local experiment = train.experiment
   train.experiment = function(spec) found = spec.model error(STOP, 0) end
   local saved_arg = _G.arg
   _G.arg = { [0] = script }
   local ok, err = pcall(chunk)
   train.experiment, _G.arg = experiment, saved_arg
   if not ok and err ~= STOP then
      error(("gan eval: %s ran into an error before its gan.train.experiment call: %s"):format(script, tostring(err)), 0)
   end
   if type(found) == "string" then return require("gan.models").get(found) end
   return found
end

--- Rebuilds a run directory's model and loads the weights of a checkpoint: opts.checkpoint,
-- else the run's best, else its latest. Returns the model (its class is the model named
-- by config.yaml), the checkpoint's path and its step.
-- @tparam string dir the run directory
-- @tparam[opt] table opts `checkpoint`
-- @treturn table the model
-- @treturn string the checkpoint's path
-- @treturn int its step
function E.load(dir, opts)
   opts = opts or {}
   local gan = require("gan")
   local config = require("gan.config")
   dir = dir:gsub("/+$", "")
   local run = gan.run.open(dir)
   local saved = run.config
   local name = type(saved.model) == "table" and saved.model.name or run.experiment
   local models = require("gan.models")
   local known, M = pcall(models.get, name)
   local loss = type(saved.train) == "table" and saved.train.loss
   if not known or (type(loss) == "string" and not require("gan.losses").PAIRS[loss]) then
      -- the model or the loss is the experiment script's own
      local defined = define_from_script(dir)
      M = known and M or defined or models.get(name)
   end
   -- config.yaml holds every key the run had; keys added to the model since default.
   local cfg = config.merge(config.resolve(M.defaults), saved)
   local path = opts.checkpoint
   if not path then
      local best = dir .. "/checkpoints/best.safetensors"
      path = exists(best) and best or run:latest_checkpoint()
   end
   if not path then error(("gan eval: %s has no checkpoint"):format(dir), 0) end
   local ck = gan.load(path)
   if type(ck) ~= "table" or ck.format ~= "gan.checkpoint" then
      error(("gan eval: %s is not a checkpoint"):format(path), 0)
   end
   local model = M.new(cfg)
   model:load_weights(ck.states, path)
   -- the step trained so far: models whose networks change with it (ProGAN's level and
   -- fade) sample and measure at the checkpoint's stage, not at step 0's
   local step = ck.extra and ck.extra.step
   model.step = step or model.step
   return model, path, step
end

--- Evaluates a run directory; returns the metrics table. opts: n (samples, 10000),
-- checkpoint (a checkpoint file instead of the run's best or latest), classifier (a
-- reference classifier's weights instead of the shipped ones), tstr_epochs.
-- @tparam string dir the run directory
-- @tparam[opt] table opts the options above
-- @treturn table metric name -> value
function E.evaluate(dir, opts)
   opts = opts or {}
   dir = dir:gsub("/+$", "")
   local model, path, step = E.load(dir, opts)
   local res = model:evaluate { n = opts.n or 10000, classifier = opts.classifier, dir = dir,
      tstr_epochs = opts.tstr_epochs }
   res.checkpoint, res.step = path, step
   local ok, err = pcall(files.write_atomic, json_path(dir, opts.checkpoint), require("gan.run").json_object(res) .. "\n")
   if not ok then error("gan eval: " .. tostring(err), 0) end
   return res
end

--- The command spec for gan.cli.
E.command = {
   name = "eval",
   summary = "Measure a run's model with its own evaluation (FID, KID, precision/recall, ...).",
   description = "Rebuilds the model of RUN_DIR from its config.yaml, loads its best checkpoint "
      .. "(else the latest; the EMA weights when the run kept them) and runs the model's "
      .. "evaluation: for generators FID, KID, precision/recall and the class histogram of "
      .. "--n samples against the real test split on the reference classifier's features; "
      .. "for CycleGAN the held-out emoji pairs (eval.png shows them). Writes RUN_DIR/eval.json "
      .. "(RUN_DIR/eval_<name>.json for a checkpoint named with --checkpoint, leaving eval.json as it is). "
      .. "'gan models' lists the models.",
   setup = function(cmd)
      cmd:argument("run_dir", "The run directory.")
      cmd:option("--n", "Number of samples.", "10000"):convert(require("gan.cli").integer("--n", 1))
      cmd:option("--checkpoint", "A checkpoint file to evaluate instead.")
      cmd:option("--classifier", "Reference classifier weights to use instead of the shipped ones.")
   end,
   run = function(opts)
      local res = E.evaluate(opts.run_dir, { n = opts.n, checkpoint = opts.checkpoint, classifier = opts.classifier })
      local keys = {}
      for k in pairs(res) do keys[#keys + 1] = k end
      table.sort(keys)
      for _, k in ipairs(keys) do print(("%-18s %s"):format(k, fmt(res[k]))) end
      return 0
   end,
}

return E
