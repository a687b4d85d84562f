--- The original GAN (Goodfellow et al., 2014): an MLP generator and an MLP discriminator
-- (maxout units, dropout) on flattened images, or on the 2-d toy mixtures (ring8,
-- grid25) where mode collapse is seen directly. It is DCGAN's step with MLPs: the
-- minimax and the non-saturating generator losses are train.loss = "minimax" or
-- "nonsaturating", and every other switch of DCGAN (lsgan, wgan with clip, n_critic,
-- penalties, EMA, ...) applies, so the 2-d benchmark compares objectives on one network.
--
-- On a toy mixture the sheets are scatter plots of samples over the modes and `gan eval`
-- reports modes covered, the high-quality share and the KL to uniform
-- (gan.metrics.mode_stats); on digits, FID and the reference-classifier metrics, and the
-- Parzen-window log-likelihood of the papers when the test split was held out.
-- @module gan.models.vanilla_gan
local core = require("gan.core")
local blocks = require("gan.nn.blocks")
local data = require("gan.data")
local metrics = require("gan.metrics")
local plot = require("gan.plot")

local dcgan = require("gan.models.dcgan")
local nn = require("gan.nn")

local config = require("gan.config")
local range = config.range

local M = dcgan:extend {
   name = "vanilla_gan",
   summary = "The original GAN: MLP generator, maxout discriminator; minimax or non-saturating loss",
   paper = "Goodfellow, Pouget-Abadie, Mirza, Xu, Warde-Farley, Ozair, Courville & Bengio 2014, Generative Adversarial Nets",
   defaults = {
      -- MLPs take any image size (ignored on the 2-d toys), and the toys' points (which
      -- DCGAN's convolutions do not)
      data = { name = config.valid("mnist", data.for_gan_name, data.FOR_GAN_NAMES), image_size = range(32, "[1, 512]"), batch_size = 100, split = "train" },
      -- G: nz -> g_layers x g_hidden (ReLU) -> image (tanh) or point (linear); D: d_layers
      -- x d_hidden maxout units of `pieces` (0: ReLU), dropout after each
      model = { nz = 100, g_hidden = range(1200, "[1, inf)"), g_layers = range(2, "[0, inf)"),
         d_hidden = range(240, "[1, inf)"), d_layers = range(2, "[0, inf)"), pieces = range(5, "[0, inf)"),
         dropout = range(0.5, "[0, 1)"),
         -- D's input is multiplied by this first (Metz et al.'s toy D sees x / 4)
         d_input_scale = range(1.0, "(0, inf)"),
         -- the linear layers' weights: PyTorch's default, or orthogonal with init_gain
         -- (Metz et al.: gain 0.8), biases 0
         init = config.choice("default", { "default", "orthogonal" }), init_gain = range(0.8, "(0, inf)") },
      train = { steps = 5000, sample_every = 500, checkpoint_every = 1000 },
   },
}

local function is_toy(cfg) return data.TOY2D[cfg.data.name] == true end

-- x times a constant: D's input scaling (model.d_input_scale).
local Scale = nn.class("Scale", nn.Module)
function Scale:__init(s)
   nn.Module.__init(self)
   self.s = s
end
--- x * s.
-- @tparam Tensor x
-- @treturn Tensor
function Scale:forward(x) return x * self.s end

-- Orthogonal weights with `gain` and zero biases for every Linear layer of net.
local function orthogonal(net, gain)
   net:apply(function(m)
      if getmetatable(m).__name == "Linear" then
         nn.init.orthogonal_(m.weight, gain)
         if m.bias then nn.init.zeros_(m.bias) end
      end
   end)
end

--- G and D as MLPs over the data's points or flattened images.
-- @tparam table cfg the resolved config
-- @treturn Module G
-- @treturn Module D
function M:make_networks(cfg)
   local m, d = cfg.model, cfg.data
   local c, s = data.channels(d.name), d.image_size
   local dim = is_toy(cfg) and 2 or c * s * s
   local G = blocks.MLP { input = m.nz, hidden = m.g_hidden, layers = m.g_layers, out = dim,
      out_act = not is_toy(cfg) and "tanh" or nil, out_shape = not is_toy(cfg) and { c, s, s } or nil }
   local D = blocks.MLP { input = dim, hidden = m.d_hidden, layers = m.d_layers, out = 1,
      act = m.pieces > 0 and "maxout" or "relu", pieces = m.pieces, dropout = m.dropout }
   if m.init == "orthogonal" then
      orthogonal(G, m.init_gain)
      orthogonal(D, m.init_gain)
   end
   if m.d_input_scale ~= 1 then D = nn.Sequential { Scale(m.d_input_scale), D } end
   return G, D:add(nn.Flatten(1))
end

--- z ~ N(0, 1) (n, nz).
-- @tparam int n
-- @tparam[opt] Generator generator
-- @treturn Tensor (n, nz)
function M:latent(n, generator)
   return core.randn({ n, self.cfg.model.nz }, { generator = generator })
end

--- On a toy mixture: a scatter plot of 2,000 samples (fixed latents) over the modes.
function M:sample()
   if not is_toy(self.cfg) then return dcgan.sample(self) end
   local centers, std = data.toy2d_modes(self.cfg.data.name)
   local pts = M.run_eval(self:sampler("G"), self:fixed_latent(2000))
   local img = plot.scatter(pts, { centers = centers, std = std, range = centers:abs():max():item() * 1.5,
      title = ("%s, step %d"):format(self.cfg.data.name, self.step) })
   return (img * 2 - 1):unsqueeze(1), { nrow = 1 }
end

--- On a toy mixture: gan.metrics.mode_stats of opts.n samples (10,000); on images: DCGAN's
-- evaluation plus, when data.split is "train", the Parzen log-likelihood.
-- @tparam[opt] table opts `n` (10000)
-- @treturn table metric name -> number
function M:evaluate(opts)
   opts = opts or {}
   if not is_toy(self.cfg) then return dcgan.evaluate(self, opts) end
   local centers, std = data.toy2d_modes(self.cfg.data.name)
   local n = opts.n or 10000
   local pts = M.run_eval(self:sampler("G"), self:latent(n, core.Generator(12345)))
   local st = metrics.mode_stats(pts, centers, std)
   return { modes_covered = st.covered, hq = st.hq, kl = st.kl, n_samples = n, n_modes = st.modes }
end

return M
