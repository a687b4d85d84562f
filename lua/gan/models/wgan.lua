--- WGAN (Arjovsky et al., 2017): a critic estimating the Wasserstein-1 distance, kept
-- (roughly) 1-Lipschitz by clamping its weights to [-0.01, 0.01] after each of its
-- optimizer steps; 5 critic steps per generator step; RMSprop 5e-5, as in the paper, on
-- DCGAN's networks. -loss_d is the critic's estimate of the distance, logged every step.
-- It is DCGAN's model with these defaults: every DCGAN switch applies.
-- @module gan.models.wgan
return require("gan.models.dcgan"):extend {
   name = "wgan",
   summary = "Wasserstein GAN with weight clipping (0.01), RMSprop 5e-5, 5 critic steps",
   paper = "Arjovsky, Chintala & Bottou 2017, Wasserstein Generative Adversarial Networks",
   defaults = {
      data = { split = "train" },
      train = {
         steps = 5000, loss = "wgan", clip = 0.01, n_critic = 5, optimizer = "rmsprop", lr_g = 5e-5, lr_d = 5e-5,
         sample_every = 500, checkpoint_every = 1000,
      },
   },
}
