--- BigGAN (Brock, Donahue & Simonyan 2019) at small scale: SAGAN (gan.models.sagan, whose
-- networks and step it shares) with BigGAN's additions switched on: a shared class
-- embedding feeding every conditional batch norm, hierarchical latents (z split into
-- one chunk for the first layer and one per block, each block's chunk concatenated with
-- the shared embedding), the orthogonal regularisation of G (1e-4, off-diagonal form,
-- not on embeddings), 2 D steps per G step, Adam betas (0, 0.999) and an EMA of G
-- (decay 0.999 from step 1000) sampled with standing batch-norm statistics. The
-- truncation trick is model.truncation (sheets and evaluation) and
-- experiments/biggan_truncation.lua (the sweep).
-- @module gan.models.biggan
return require("gan.models.sagan"):extend {
   name = "biggan",
   summary = "BigGAN: SAGAN plus shared embedding, hierarchical z, ortho reg, 2 D steps, EMA, truncation",
   paper = "Brock, Donahue & Simonyan 2019, Large Scale GAN Training for High Fidelity Natural Image Synthesis",
   best = { metric = "fid", mode = "min" },
   defaults = {
      model = { shared_dim = 128, hierarchical = true },
      train = { beta2 = 0.999, d_steps = 2, ortho = 1e-4, ema = 0.999, ema_start = 1000 },
   },
}
