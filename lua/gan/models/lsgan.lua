--- LSGAN (Mao et al., 2017): least-squares losses with targets a = 0 for fakes and b = c = 1
-- for real images and for the generator, on DCGAN's networks; Adam 2e-4 (0.5, 0.999) as
-- in the paper. model.g_norm = "none" trains G without batch norm (the paper's test of
-- stability). It is DCGAN's model with these defaults: every DCGAN switch applies.
-- @module gan.models.lsgan
return require("gan.models.dcgan"):extend {
   name = "lsgan",
   summary = "Least-squares GAN (a = 0, b = c = 1) on DCGAN's networks",
   paper = "Mao, Li, Xie, Lau, Wang & Smolley 2017, Least Squares Generative Adversarial Networks",
   defaults = {
      data = { split = "train" },
      train = { steps = 5000, loss = "lsgan", sample_every = 500, checkpoint_every = 1000 },
   },
}
