--- EBGAN (Zhao, Mathieu & LeCun 2017): the discriminator is an auto-encoder whose
-- reconstruction error is an energy, low on real images; D minimises E(x) +
-- max(0, m - E(G(z))) (the margin m), G minimises E(G(z)) plus lambda_pt times the
-- pull-away term on the encoder's embeddings of its samples (EBGAN-PT). G is DCGAN's;
-- the auto-encoder is DCGAN's discriminator trunk (down to 4x4) and a mirrored stack of
-- transposed convolutions. The energy is the per-image mean squared error over pixels in
-- [-1, 1] (so at most 4); the margin is in those units: the default 0.1 is the paper's
-- MNIST margin of about 10 on the residual's L2 norm of a 32x32 image (10^2 / 1,024).
-- @module gan.models.ebgan
local core = require("gan.core")
local nn = require("gan.nn")
local blocks = require("gan.nn.blocks")
local losses = require("gan.losses")
local data = require("gan.data")
local optim = require("gan.optim")
local no_grad = require("gan.autograd").no_grad
local dcgan = require("gan.models.dcgan")
local config = require("gan.config")
local range, choice = config.range, config.choice

local M = require("gan.train.model").define {
   name = "ebgan",
   summary = "Energy-based GAN: auto-encoder discriminator, margin, pull-away term",
   paper = "Zhao, Mathieu & LeCun 2017, Energy-based Generative Adversarial Network",
   health = { d_loss = { "loss_d" } },
   best = { metric = "fid", mode = "min" },
   defaults = {
      data = { name = config.valid("mnist", data.for_gan_image_name, data.FOR_GAN_IMAGE_NAMES), image_size = choice(32, dcgan.SIZES),
         batch_size = 64, split = choice("train", dcgan.SPLITS) },
      model = { nz = range(100, "[1, inf)"), ngf = range(32, "[1, inf)"), ndf = range(32, "[1, inf)") },
      train = { steps = 5000, margin = range(0.1, "[0, inf)"), lambda_pt = range(0.1, "[0, inf)"),
         lr_g = range(2e-4, "[0, inf)"), lr_d = range(2e-4, "[0, inf)"), beta1 = range(0.5, "[0, 1)"),
         beta2 = range(0.999, "[0, 1)"), sample_every = 500, checkpoint_every = 1000 },
   },
}

local AE = nn.class("EBGANAutoencoder", nn.Module)
function AE:__init(nc, ndf, size)
   nn.Module.__init(self)
   local trunk = blocks.DCGANDiscriminator { ndf = ndf, nc = nc, image_size = size }
   local enc = {}
   for i = 1, #trunk - 2 do enc[i] = trunk[i] end   -- down to (ndf * 2^(stages-1), 4, 4)
   self.encoder = nn.Sequential(enc)
   local ch, dec = ndf * (size // 8), {}
   while ch > ndf do
      dec[#dec + 1] = nn.ConvTranspose2d(ch, ch // 2, 4, { stride = 2, padding = 1, bias = false })
      dec[#dec + 1] = nn.BatchNorm2d(ch // 2)
      dec[#dec + 1] = nn.ReLU()
      ch = ch // 2
   end
   dec[#dec + 1] = nn.ConvTranspose2d(ch, nc, 4, { stride = 2, padding = 1 })
   dec[#dec + 1] = nn.Tanh()
   self.decoder = nn.Sequential(dec)
   self.decoder:apply(nn.init.gan_normal(0.02))
end
--- x -> the energy per image (N) and the embedding (N, C, 4, 4).
-- @tparam Tensor x (N, C, S, S)
-- @treturn Tensor the energies (N): mean squared reconstruction errors
-- @treturn Tensor the embeddings
function AE:forward(x)
   local h = self.encoder(x)
   local e = ((self.decoder(h) - x) ^ 2):flatten(2):mean(2)
   return e, h
end

--- The training images (data.split).
M.dataset = dcgan.dataset

--- Builds DCGAN's generator G, the autoencoder D and their Adam optimizers "g" and "d".
-- @tparam table cfg the resolved config
function M:build(cfg)
   local m, t, d = cfg.model, cfg.train, cfg.data
   local nc = data.channels(d.name)
   local G = self:network("G", blocks.DCGANGenerator { nz = m.nz, ngf = m.ngf, nc = nc, image_size = d.image_size })
   local D = self:network("D", AE(nc, m.ndf, d.image_size))
   self:optimizer("g", optim.Adam(G:parameters(), { lr = t.lr_g, betas = { t.beta1, t.beta2 } }))
   self:optimizer("d", optim.Adam(D:parameters(), { lr = t.lr_d, betas = { t.beta1, t.beta2 } }))
end

M.latent = dcgan.latent

--- D: E(x) + max(0, m - E(G(z))); G: E(G(z)) + lambda_pt PT(embeddings of G(z)). Logs the
-- losses, the mean energies of real and fake images, and the pull-away term.
-- @tparam table data_ the batches: data_:next() gives the next one
-- @param _ the step (unused)
-- @treturn table the scalars to log
function M:train_step(data_, _)
   local G, D, t = self.G, self.D, self.cfg.train
   local real = data_:next().image
   local z = self:latent(real:size(1), self.rng)
   local fake = no_grad(G, z)
   local loss_d, e_real, e_fake = self:update("d", function()
      local e_real, e_fake = D(real), D(fake)
      return losses.ebgan_d(e_real, e_fake, { margin = t.margin }), e_real, e_fake
   end)
   local loss_g, pt = self:update("g", function()
      local e, h = D(G(z))
      local pt = losses.pullaway(h)
      return losses.ebgan_g(e) + pt * t.lambda_pt, pt
   end, { freeze = D })
   return { loss_d = loss_d:item(), loss_g = loss_g:item(), e_real = e_real:detach():double():mean():item(),
      e_fake = e_fake:detach():double():mean():item(), pullaway = pt:item() }
end

--- DCGAN's evaluation (FID and the reference-classifier metrics, Parzen when the test
-- split was held out).
M.evaluate = dcgan.evaluate

return M
