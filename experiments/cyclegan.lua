--- CycleGAN (Zhu et al. 2017): Google-style emoji (domain A) <-> Twitter-style emoji
-- (domain B), trained on unpaired images; the recipe is the paper's (the model:
-- lua/gan/models/cyclegan.lua). The test code points (about 10%) are never trained on
-- and give the paired sample sheets (input | translation | reconstruction | the real
-- drawing in the other style); at the end the run is measured on all of them.
--
--     gan run experiments/cyclegan.lua                                  # ~7 minutes on 2 cores
--     gan run experiments/cyclegan.lua --config experiments/cyclegan_quick.yaml   # 32x32
--     gan run experiments/cyclegan.lua --config experiments/cyclegan_full.yaml
--     gan run experiments/cyclegan.lua --resume runs/cyclegan/<name>
local gan = require("gan")
local _, run = gan.train.experiment { model = "cyclegan", argv = arg }
if not run then return end   -- a rank other than 0 under mpirun
-- The held-out pairs, as `gan eval` measures them (eval.json, eval.png in the run).
local res = gan.eval.evaluate(run.dir)
print(("cyclegan: held-out %d pairs: L1 A->B %.4f (input %.4f), B->A %.4f; cycle L1 %.4f / %.4f%s")
   :format(res.n, res.l1_ab, res.l1_ab_input, res.l1_ba, res.cycle_l1_a, res.cycle_l1_b,
      res.style_ab and ("; in the target style %.1f%% / %.1f%%"):format(100 * res.style_ab, 100 * res.style_ba) or ""))
