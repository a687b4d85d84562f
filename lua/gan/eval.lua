--- `gan eval RUN_DIR`: rebuilds a run's generator from its config.yaml, loads its best
-- checkpoint (else the latest), uses the EMA weights when the run kept them, computes
-- gan.metrics against the real test split and writes RUN_DIR/eval.json.
-- @module gan.eval
local E = {}

-- Experiment name -> the model module that can rebuild its generator.
E.builders = { dcgan = "gan.models.dcgan", wgan_gp = "gan.models.dcgan" }

local function fmt(v)
   if type(v) == "number" then return ("%.6g"):format(v) end
   return tostring(v)
end

--- Evaluates a run directory; returns the metrics table. opts: n (10000), checkpoint,
-- classifier (a weights file for gan.metrics.evaluate).
function E.evaluate(dir, opts)
   opts = opts or {}
   local gan = require("gan")
   local run = gan.run.open(dir)
   local cfg = run.config
   local builder = E.builders[run.experiment]
   if not builder then
      error(("gan eval: do not know how to rebuild a '%s' run (known: %s)"):format(run.experiment,
         table.concat((function() local t = {} for k in pairs(E.builders) do t[#t + 1] = k end table.sort(t) return t end)(), ", ")), 0)
   end
   local path = opts.checkpoint
   if not path then
      local best = dir .. "/checkpoints/best.safetensors"
      local f = io.open(best, "rb")
      if f then f:close(); path = best else path = run:latest_checkpoint() end
   end
   if not path then error(("gan eval: %s has no checkpoint"):format(dir), 0) end
   local ck = gan.load(path)
   if type(ck) ~= "table" or ck.format ~= "gan.checkpoint" then error(("gan eval: %s is not a checkpoint"):format(path), 0) end
   local G = require(builder).generator_from_config(cfg)
   local weights = ck.states.ema and ck.states.ema.model or ck.states.G
   G:load_state_dict(weights)
   local nz = cfg.model.nz or 100
   if ck.states.ema then
      -- The averaged weights need batch-norm statistics of their own.
      local g = gan.Generator(2000)
      gan.nn.utils.standing_stats(G, function() return gan.randn({ 64, nz, 1, 1 }, { generator = g }) end, 16)
   end
   local res = require("gan.metrics").evaluate(G, cfg.data.name, { n = opts.n or 10000, nz = nz,
      classifier = opts.classifier })
   res.checkpoint, res.step, res.ema = path, ck.extra and ck.extra.step, ck.states.ema ~= nil
   local out = io.open(dir .. "/eval.json", "wb")
   if out then out:write(require("cjson").encode(res), "\n"); out:close() end
   return res
end

--- The command spec for gan.cli.
E.command = {
   name = "eval",
   summary = "Compute the metrics of a run's generator (FID, KID, precision/recall, coverage).",
   description = "Rebuilds the generator of RUN_DIR from its config.yaml, loads its best checkpoint "
      .. "(else the latest; the EMA weights when present), samples --n images and compares them "
      .. "with the real test split on the reference classifier's features. Writes RUN_DIR/eval.json.",
   setup = function(cmd)
      cmd:argument("run_dir", "The run directory.")
      cmd:option("--n", "Number of samples.", "10000"):convert(tonumber)
      cmd:option("--checkpoint", "A checkpoint file to evaluate instead.")
      cmd:option("--classifier", "Reference classifier weights to use instead of the shipped ones.")
   end,
   run = function(opts)
      local ok, res = pcall(E.evaluate, opts.run_dir, { n = opts.n, checkpoint = opts.checkpoint,
         classifier = opts.classifier })
      if not ok then io.stderr:write("gan: ", tostring(res), "\n"); return 1 end
      local keys = {}
      for k in pairs(res) do keys[#keys + 1] = k end
      table.sort(keys)
      for _, k in ipairs(keys) do print(("%-18s %s"):format(k, fmt(res[k]))) end
      return 0
   end,
}

return E
