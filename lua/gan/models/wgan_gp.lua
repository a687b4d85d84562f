--- WGAN-GP (Gulrajani et al., 2017): DCGAN's generator against a critic without batch
-- norm, the Wasserstein loss with the gradient penalty (weight 10), 5 critic steps per
-- generator step and Adam 1e-4 with betas (0, 0.9), as in the paper. It is DCGAN's
-- model with these defaults: every DCGAN switch applies.
-- @module gan.models.wgan_gp
return require("gan.models.dcgan"):extend {
   name = "wgan_gp",
   summary = "Wasserstein GAN with gradient penalty: critic without batch norm, 5 critic steps",
   paper = "Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville 2017, Improved Training of Wasserstein GANs",
   best = { metric = "fid", mode = "min" },
   defaults = {
      model = { d_norm = "none" },
      train = {
         steps = 500, checkpoint_every = 250, loss = "wgan", n_critic = 5, gp = 10.0,
         lr_g = 1e-4, lr_d = 1e-4, beta1 = 0.0, beta2 = 0.9,
      },
   },
}
