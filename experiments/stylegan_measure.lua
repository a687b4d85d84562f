--- StyleGAN's own measurements on a trained run (Karras et al. 2019), written to
-- <run>/stylegan.md with sheets beside it:
--
-- - style mixing: a sheet whose row r, column c takes the coarse styles (4x4 and 8x8) of
--   row source r and the fine styles of column source c (mixing.png: first row the column
--   sources, first column the row sources); and, measured over n_mix pairs of different
--   classes, the share of mixes that the data set's reference classifier puts in the class
--   of the coarse source (and of the fine one);
-- - perceptual path length in Z and in W (gan.models.stylegan path_length: the reference
--   classifier's features in place of VGG, eps 1e-4, the 1st-99th percentile filter); the
--   paper's claim: W is shorter (smoother);
-- - truncation in W: FID, precision and recall at each psi (truncation_<psi>.png sheets);
-- - interpolations in W between pairs of samples (interpolation_w.png).
--
--     gan run experiments/stylegan_measure.lua --set run=runs/stylegan/fashion
--     gan run experiments/stylegan_measure.lua --set run=runs/stylegan/fashion --set n=2000 --set n_ppl=500
local gan = require("gan")

local range = gan.config.range
local cfg = gan.config.from_args({
   run = gan.config.optional("string"), checkpoint = gan.config.optional("string"),
   n = range(10000, "[1, inf)"), n_ppl = range(2000, "[2, inf)"), n_mix = range(2000, "[1, inf)"),
   psis = range({ 1.0, 0.9, 0.8, 0.7, 0.6, 0.5 }, "[0, 1]"), threads = range(0, "[0, 1024]"),
}, arg or {})
if not cfg.run then error("stylegan_measure: give the run directory: --set run=runs/stylegan/<name>", 0) end
if cfg.threads > 0 then gan.set_num_threads(cfg.threads) end

local model, path, step = gan.eval.load(cfg.run, { checkpoint = cfg.checkpoint })
if model.name ~= "stylegan" then
   error(("stylegan_measure: %s is a %s run, not a stylegan one"):format(cfg.run, model.name), 0)
end
local dataset = model.cfg.data.name
print(("%s: stylegan at step %s (%s)"):format(cfg.run, tostring(step), path))
local lines = { ("# StyleGAN measurements: %s, step %s"):format(cfg.run, tostring(step)), "" }
local function say(s) print(s); lines[#lines + 1] = s end

-- Style mixing: the sheet.
local g = gan.Generator(2024)
local k = 6
local rows, cols = model:latent(k, g), model:latent(k, g)
local G = model:generator(1)
local function plain(z) return model:mix(z, z) end
local sheet = { gan.full({ 1, G.nc, model.cfg.data.image_size, model.cfg.data.image_size }, 1) }
local col_imgs, row_imgs = plain(cols), plain(rows)
for c = 1, k do sheet[#sheet + 1] = col_imgs:narrow(1, c, 1) end
for r = 1, k do
   sheet[#sheet + 1] = row_imgs:narrow(1, r, 1)
   local coarse = rows:narrow(1, r, 1):expand(k, rows:size(2)):contiguous()
   local mixed = model:mix(coarse, cols)
   for c = 1, k do sheet[#sheet + 1] = mixed:narrow(1, c, 1) end
end
gan.image.save_grid(cfg.run .. "/mixing.png", gan.cat(sheet, 1), { nrow = k + 1, range = { -1, 1 } })

-- Style mixing: whose class the mix takes.
local clf = gan.metrics.classifier(dataset)
local function classes(x)
   local _, probs = gan.metrics.features(clf, x)
   local _, idx = probs:max(2)
   return idx:reshape(x:size(1)):totable()
end
local a, b = model:latent(cfg.n_mix, g), model:latent(cfg.n_mix, g)
local ca, cb, cm = {}, {}, {}
for s = 1, cfg.n_mix, 500 do
   local m = math.min(500, cfg.n_mix - s + 1)
   local za, zb = a:narrow(1, s, m), b:narrow(1, s, m)
   for _, v in ipairs(classes(plain(za))) do ca[#ca + 1] = v end
   for _, v in ipairs(classes(plain(zb))) do cb[#cb + 1] = v end
   for _, v in ipairs(classes(model:mix(za, zb))) do cm[#cm + 1] = v end
end
local differ, coarse_won, fine_won = 0, 0, 0
for i = 1, #ca do
   if ca[i] ~= cb[i] then
      differ = differ + 1
      if cm[i] == ca[i] then coarse_won = coarse_won + 1 elseif cm[i] == cb[i] then fine_won = fine_won + 1 end
   end
end
say("## Style mixing (coarse = 4x4 and 8x8 styles of one source, fine = the rest of another)")
say("")
say(("Of %d pairs whose sources the %s classifier puts in different classes, the mix is in the class of the "
   .. "coarse source in %.1f %% and of the fine source in %.1f %% (the rest: a third class). Sheet: mixing.png."):format(
   differ, dataset, 100 * coarse_won / math.max(1, differ), 100 * fine_won / math.max(1, differ)))
say("")

-- Perceptual path length.
local pz = model:path_length("z", { n = cfg.n_ppl })
local pw = model:path_length("w", { n = cfg.n_ppl })
say("## Perceptual path length (full paths, eps 1e-4, reference-classifier features, 1-99 % filter)")
say("")
say(("| space | PPL |\n|---|---|\n| Z | %.1f |\n| W | %.1f |"):format(pz, pw))
say("")

-- Interpolations in W.
local z0, z1 = model:latent(6, g), model:latent(6, g)
local frames = {}
local noise = model:noise_maps(6, gan.Generator(5))
gan.no_grad(function()
   G:eval()
   local w0, w1 = G:mapping(z0), G:mapping(z1)
   for i = 0, 7 do
      frames[#frames + 1] = G:synthesis(G:broadcast(w0 + (w1 - w0) * (i / 7)), { noise = noise })
   end
end)
local grid = {}
for r = 1, 6 do for i = 1, 8 do grid[#grid + 1] = frames[i]:narrow(1, r, 1) end end
gan.image.save_grid(cfg.run .. "/interpolation_w.png", gan.cat(grid, 1), { nrow = 8, range = { -1, 1 } })

-- Truncation in W.
say("## Truncation in W (psi: w = w_avg + psi (w - w_avg))")
say("")
say("| psi | FID | precision | recall |")
say("|---|---|---|---|")
for _, psi in ipairs(cfg.psis) do
   local res = model:evaluate { n = cfg.n, truncation = psi }
   say(("| %.2f | %.2f | %.3f | %.3f |"):format(psi, res.fid, res.precision, res.recall))
   local imgs = gan.no_grad(model:generator(psi), model:fixed_latent(64))
   gan.image.save_grid(("%s/truncation_%.2f.png"):format(cfg.run, psi), imgs, { nrow = 8, range = { -1, 1 } })
end
local f = assert(io.open(cfg.run .. "/stylegan.md", "wb"))
f:write(table.concat(lines, "\n"), "\n")
f:close()
print("wrote " .. cfg.run .. "/stylegan.md")
