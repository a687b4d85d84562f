--- The (deterministic) autoencoder: the VAE's networks and data with a code z = E(x)
-- instead of a distribution and no prior, trained on the reconstruction log-likelihood
-- alone (Bernoulli or Gaussian decoder). Without a prior it has no samples and no
-- likelihood: sheets are latent interpolations between held-out digits, and `gan eval`
-- reports the reconstruction negative log-likelihood of the held-out digits in nats.
-- @module gan.models.ae
local no_grad = require("gan.autograd").no_grad
local vae = require("gan.models.vae")

local M = vae:extend {
   name = "ae",
   summary = "Autoencoder: the VAE's networks without the prior, for comparison and morphing",
   paper = "Hinton & Salakhutdinov 2006, Reducing the Dimensionality of Data with Neural Networks",
   best = { metric = "rec_nll", mode = "min" },
   progress = { "loss" },
}

M.deterministic = true

--- One Adam step on the reconstruction negative log-likelihood (nats per digit).
-- @tparam table data_ the batches: data_:next() gives the next one
-- @param _ the step (unused)
-- @treturn table the scalars to log
function M:train_step(data_, _)
   local b = data_:next()
   local loss = self:update("vae", function()
      return (-self:log_lik(self.decoder(self.encoder(b.image, b.label), b.label), b.image)):mean()
   end)
   return { loss = loss:item() }
end

--- Latent interpolations between held-out digits (8 rows of 10), in [-1, 1].
function M:sample() return vae.interpolations(self, 8) * 2 - 1, { nrow = 10 } end

--- The reconstruction NLL of the held-out digits in nats (not a likelihood of the data).
-- @tparam[opt] table opts `dir` (none: write no image)
-- @treturn table metric name -> number
function M:evaluate(opts)
   opts = opts or {}
   local d = self.cfg.model.decoder == "bernoulli" and require("gan.data").binarized_mnist { split = "test", seed = 0 }
      or require("gan.data").mnist { split = "test" }
   local x, y = d.probs or d.images, d.labels
   local out = M.run_eval(self.decoder, M.run_eval(self.encoder, x, y), y)
   local v = no_grad(function() return (-self:log_lik(out, x)):double() end)
   if opts.dir then
      require("gan.image").save_grid(opts.dir .. "/eval.png", (self:sample() + 1) * 0.5, { nrow = 10 })
   end
   return { rec_nll = v:mean():item(), rec_nll_se = v:std():item() / math.sqrt(v:size(1)), n_test = v:size(1) }
end

return M
