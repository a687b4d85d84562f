--- The conditional VAE (Sohn, Lee & Yan 2015) of a digit given its class: the class joins
-- the encoder q(z | x, y) and the decoder p(x | z, y), the prior stays N(0, I). The
-- VAE's training and bounds (now of log p(x | y)); sheets have one row per class (prior
-- samples), and `gan eval` adds how often the reference classifier recognises the
-- requested class in 1,000 samples (100 per class).
-- @module gan.models.cvae
local core = require("gan.core")
local F = require("gan.nn.functional")
local metrics = require("gan.metrics")
local vae = require("gan.models.vae")

local M = vae:extend {
   name = "cvae",
   summary = "Conditional VAE: the class joins encoder and decoder; class accuracy of samples",
   paper = "Sohn, Lee & Yan 2015, Learning Structured Output Representation using Deep Conditional "
      .. "Generative Models",
   defaults = { model = { conditional = true } },
}

--- One row of 10 prior samples per class, in [-1, 1].
function M:sample()
   local z = self:fixed_latent(100)
   return vae.mean_image(M.run_eval(self.decoder, z, M.class_rows(10))) * 2 - 1, { nrow = 10 }
end

--- The VAE's bounds (of log p(x | y)) and the class accuracy of 1,000 samples (the
-- decoder's means, padded to 32x32 for the reference classifier).
-- @tparam[opt] table opts `classifier` (the shipped one)
-- @treturn table metric name -> number
function M:evaluate(opts)
   local res = vae.evaluate(self, opts)
   local k = self.cfg.model.n_classes
   local z = core.randn({ 100 * k, self.cfg.model.nz }, { generator = core.Generator(54321) })
   local y = M.balanced_classes(100 * k, k)
   local img = vae.mean_image(M.run_eval(self.decoder, z, y)) * 2 - 1
   local clf = opts and opts.classifier and metrics.load_classifier(opts.classifier) or metrics.classifier("mnist")
   local _, probs = metrics.features(clf, F.pad(img, { 2, 2, 2, 2 }, "constant", -1))
   res.class_accuracy = metrics.class_accuracy(probs, y)
   return res
end

return M
