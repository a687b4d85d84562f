--- gan.train: training models that follow the model contract (docs/models.md).
--
--     gan.train.model { name =, summary =, paper =, defaults = }   -- a model class
--     gan.train.fit(model, { data = loader, run = run })             -- the loop
--     gan.train.resume(model, loader, run)                           -- exact resume
--     gan.train.experiment { model = "dcgan", argv = arg }           -- a script's body
--     gan.train.trial("dcgan", cfg)                                  -- one run of a study
--     gan.train.ImagePool(50)                                        -- image history
--
-- The pieces: gan.train.model (the base class: registry of networks, optimizers, EMA
-- and state), gan.train.update (the one update site), gan.train.loop (fit, resume),
-- gan.train.experiment (config, run directory, data, model, loop), gan.train.trial
-- (one resumable run of a study), gan.train.pool.
-- @module gan.train
local Model = require("gan.train.model")
local loop = require("gan.train.loop")

return {
   Model = Model,
   model = Model.define,
   fit = loop.fit,
   resume = loop.resume,
   experiment = require("gan.train.experiment"),
   trial = require("gan.train.trial"),
   ImagePool = require("gan.train.pool"),
}
