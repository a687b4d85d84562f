--- GAN-CLS and GAN-INT (Reed et al. 2016): emoji from their descriptions at 32x32 (the
-- model: lua/gan/models/gancls.lua; the texts: lua/gan/data/emoji_text.lua; the text
-- encoder and the judge: lua/gan/metrics/matcher.lua, trained on the first run and cached).
--
--     gan run experiments/gancls.lua
--     gan run experiments/gancls.lua --set train.cls=false      # a plain conditional D
--     gan eval runs/gancls/<name>          # R-precision by the judge, FID, diversity
--     gan sample runs/gancls/<name> --text "red apple" -n 16
local gan = require("gan")
gan.train.experiment { model = "gancls", argv = arg }
