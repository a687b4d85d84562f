--- The truncation trick of BigGAN (Brock et al. 2019) measured on a trained run: for each
-- threshold t, z is drawn from N(0, 1) truncated to [-t, t] (values beyond resampled,
-- not clamped) and the run's generator (its EMA copy when kept) is measured on n
-- samples: FID, precision, recall, class accuracy and the confident share (the classifier
-- gives >= 0.9 to one class). t = 0 in the table is no truncation. The paper's claim:
-- as t shrinks, precision and confidence rise and recall falls. Writes
-- <run>/truncation.md, truncation.png (two panels: FID; the four shares) and a sheet per
-- threshold (truncation_<t>.png, one row per class).
--
--     gan run experiments/biggan_truncation.lua --set run=runs/biggan/fashion
--     gan run experiments/biggan_truncation.lua --set run=runs/biggan/fashion --set n=2000 \
--        --set checkpoint=runs/biggan/fashion/checkpoints/step_012000.safetensors
local gan = require("gan")

local range = gan.config.range
-- thresholds: a list (--set thresholds=[1.0, 0.5]); threads 0: the machine's cores
local cfg = gan.config.from_args({
   run = gan.config.optional("string"), checkpoint = gan.config.optional("string"), n = range(10000, "[1, inf)"),
   thresholds = range({ 0.0, 2.0, 1.5, 1.0, 0.75, 0.5, 0.25, 0.1 }, "[0, inf)"), threads = range(0, "[0, 1024]"),
}, arg or {})
if not cfg.run then error("biggan_truncation: give the run directory: --set run=runs/biggan/<name>", 0) end
if cfg.threads > 0 then gan.set_num_threads(cfg.threads) end
local thresholds = cfg.thresholds

local model, path, step = gan.eval.load(cfg.run, { checkpoint = cfg.checkpoint })
if type(model.cfg.model.truncation) ~= "number" then
   error(("biggan_truncation: %s is a %s run; the truncation trick needs a sagan or biggan model"):format(cfg.run,
      model.name), 0)
end
print(("%s: %s at step %s (%s), %d samples per threshold"):format(cfg.run, model.name, tostring(step), path, cfg.n))

local rows, records = {}, {}
for _, t in ipairs(thresholds) do
   local t0 = gan.clock()
   local res = model:evaluate { n = cfg.n, truncation = t, raw = false }
   records[#records + 1] = { truncation = t, fid = res.fid, precision = res.precision, recall = res.recall,
      class_accuracy = res.class_accuracy, confident = res.confident }
   rows[#rows + 1] = ("| %s | %.2f | %.3f | %.3f | %.1f | %.1f |"):format(t == 0 and "none" or ("%.2f"):format(t),
      res.fid, res.precision, res.recall, 100 * res.class_accuracy, 100 * res.confident)
   print(rows[#rows] .. (" (%.0f s)"):format(gan.clock() - t0))
   model.cfg.model.truncation = t
   local imgs, o = model:sample()
   gan.image.save_grid(("%s/truncation_%s.png"):format(cfg.run, t == 0 and "none" or ("%.2f"):format(t)), imgs,
      { nrow = o.nrow, range = { -1, 1 } })
end

local text = table.concat({
   ("%s, step %s: %d samples per threshold (every class equally often) against the test split"):format(cfg.run,
      tostring(step), cfg.n),
   "",
   "| truncation | FID | precision | recall | class accuracy % | confident % |",
   "|---|---|---|---|---|---|",
}, "\n") .. "\n" .. table.concat(rows, "\n") .. "\n"
local f = assert(io.open(cfg.run .. "/truncation.md", "wb"))
f:write(text)
f:close()

-- The plot: truncation on the x axis (no truncation left out: it has no threshold).
local pts = {}
for _, r in ipairs(records) do if r.truncation > 0 then pts[#pts + 1] = r end end
if #pts >= 2 then
   local left = gan.plot.render(pts, { x = "truncation", keys = { "fid" }, title = "FID against the threshold",
      width = 500, height = 360 })
   local right = gan.plot.render(pts, { x = "truncation", keys = { "precision", "recall", "class_accuracy", "confident" },
      title = "shares against the threshold", width = 500, height = 360 })
   gan.image.save(cfg.run .. "/truncation.png", gan.cat({ left, right }, 3))
end
print(text)
print(("table in %s/truncation.md, plot in %s/truncation.png"):format(cfg.run, cfg.run))
