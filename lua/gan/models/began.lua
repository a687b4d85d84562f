--- BEGAN (Berthelot, Schumm & Metz 2017): the discriminator is an auto-encoder and the
-- loss is its per-image L1 reconstruction error L(v) = mean |v - D(v)|; D minimises
-- L(x) - k_t L(G(z)), G minimises L(G(z)), and k_t is steered towards the equilibrium
-- E[L(G(z))] = gamma E[L(x)] (k_{t+1} = clamp(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1),
-- lambda_k = 0.001; gamma, the diversity ratio, is selectable). The convergence measure
-- M = L(x) + |gamma L(x) - L(G(z))| is logged every step. The networks are the paper's:
-- 3x3 convolutions with ELU and no batch norm; the encoder downsamples with stride-2
-- convolutions to an h-dimensional embedding, the decoder (also the generator) goes from
-- a fully connected 8x8 map up by nearest-neighbour upsampling.
-- @module gan.models.began
local core = require("gan.core")
local nn = require("gan.nn")
local losses = require("gan.losses")
local data = require("gan.data")
local optim = require("gan.optim")
local no_grad = require("gan.autograd").no_grad
local dcgan = require("gan.models.dcgan")
local config = require("gan.config")
local range, choice = config.range, config.choice

local M = require("gan.train.model").define {
   name = "began",
   summary = "Boundary equilibrium GAN: auto-encoder D, k_t balance control, convergence measure M",
   paper = "Berthelot, Schumm & Metz 2017, BEGAN: Boundary Equilibrium Generative Adversarial Networks",
   best = { metric = "fid", mode = "min" },
   progress = { "loss_d", "loss_g", "m_global", "k" },
   defaults = {
      -- image_size: a power of two from 8 (the decoder starts at 8x8)
      data = { name = config.valid("mnist", data.for_gan_image_name, data.FOR_GAN_IMAGE_NAMES),
         image_size = choice(32, { 8, 16, 32, 64, 128, 256, 512 }), batch_size = 64, split = choice("train", dcgan.SPLITS) },
      -- n: convolution width; h: embedding and latent size
      model = { nz = range(64, "[1, inf)"), n = range(32, "[1, inf)"), h = range(64, "[1, inf)") },
      train = { steps = 5000, gamma = range(0.5, "(0, 1]"), lambda_k = range(0.001, "[0, 1]"),
         lr_g = range(1e-4, "[0, inf)"), lr_d = range(1e-4, "[0, inf)"), beta1 = range(0.5, "[0, 1)"),
         beta2 = range(0.999, "[0, 1)"), sample_every = 500, checkpoint_every = 1000 },
   },
}

-- Two 3x3 convolutions with ELU at width `ch`, appended to `layers`.
local function conv_pair(layers, cin, ch)
   layers[#layers + 1] = nn.Conv2d(cin, ch, 3, { padding = 1 })
   layers[#layers + 1] = nn.ELU()
   layers[#layers + 1] = nn.Conv2d(ch, ch, 3, { padding = 1 })
   layers[#layers + 1] = nn.ELU()
end

--- The decoder (also BEGAN's generator): h (N, h) -> a fully connected n x 8 x 8 map,
-- then [two convolutions, 2x nearest upsampling] until `size`, two convolutions and a
-- convolution to nc channels.
local function decoder(nc, n, h, size)
   local layers = { nn.Linear(h, n * 8 * 8), nn.Unflatten(2, { n, 8, 8 }) }
   local s = 8
   while s < size do
      conv_pair(layers, n, n)
      layers[#layers + 1] = nn.Upsample { scale_factor = 2, mode = "nearest" }
      s = s * 2
   end
   conv_pair(layers, n, n)
   layers[#layers + 1] = nn.Conv2d(n, nc, 3, { padding = 1 })
   return nn.Sequential(layers)
end

--- The encoder: a convolution to n channels, then [two convolutions, a stride-2 convolution
-- to the next width (n, 2n, 3n, ...)] down to 8x8, two convolutions and a linear map to h.
local function encoder(nc, n, h, size)
   local layers = { nn.Conv2d(nc, n, 3, { padding = 1 }), nn.ELU() }
   local s, ch = size, n
   while s > 8 do
      conv_pair(layers, ch, ch)
      layers[#layers + 1] = nn.Conv2d(ch, ch + n, 3, { stride = 2, padding = 1 })
      layers[#layers + 1] = nn.ELU()
      s, ch = s // 2, ch + n
   end
   conv_pair(layers, ch, ch)
   layers[#layers + 1] = nn.Flatten()
   layers[#layers + 1] = nn.Linear(ch * 8 * 8, h)
   return nn.Sequential(layers)
end

local AE = nn.class("BEGANAutoencoder", nn.Module)
function AE:__init(nc, n, h, size)
   nn.Module.__init(self)
   self.encoder, self.decoder = encoder(nc, n, h, size), decoder(nc, n, h, size)
end
--- x -> the per-image L1 reconstruction error (N).
-- @tparam Tensor x (N, C, S, S)
-- @treturn Tensor (N)
function AE:forward(x) return (self.decoder(self.encoder(x)) - x):abs():flatten(2):mean(2) end

--- The training images (data.split).
M.dataset = dcgan.dataset

--- The balance term k_t, checkpointed with the run.
local Balance = {}
Balance.__index = Balance
--- The balance term for a checkpoint.
-- @treturn table `{k = number}`
function Balance:state_dict() return { k = self.k } end
--- Restores k from Balance:state_dict's table.
-- @tparam table s
function Balance:load_state_dict(s) self.k = s.k end

--- Builds the decoder G and the autoencoder D, their Adam optimizers "g" and "d", and the
-- checkpointed balance term k (starting at 0).
-- @tparam table cfg the resolved config
function M:build(cfg)
   local m, t, d = cfg.model, cfg.train, cfg.data
   local nc = data.channels(d.name)
   local G = self:network("G", decoder(nc, m.n, m.nz, d.image_size))
   local D = self:network("D", AE(nc, m.n, m.h, d.image_size))
   self:optimizer("g", optim.Adam(G:parameters(), { lr = t.lr_g, betas = { t.beta1, t.beta2 } }))
   self:optimizer("d", optim.Adam(D:parameters(), { lr = t.lr_d, betas = { t.beta1, t.beta2 } }))
   self.balance = self:state("balance", setmetatable({ k = 0 }, Balance))
end

--- z ~ U(-1, 1) (n, nz), as in the paper.
-- @tparam int n
-- @tparam[opt] Generator generator
-- @treturn Tensor (n, nz)
function M:latent(n, generator)
   return core.rand({ n, self.cfg.model.nz }, { generator = generator }) * 2 - 1
end

--- D: L(x) - k L(G(z)); G: L(G(z)); then k moves towards the balance. Logs the losses,
-- L(x), L(G(z)), k (the value this step used) and the convergence measure m_global.
-- @tparam table data_ the batches: data_:next() gives the next one
-- @param _ the step (unused)
-- @treturn table the scalars to log
function M:train_step(data_, _)
   local G, D, t = self.G, self.D, self.cfg.train
   local real = data_:next().image
   local z = self:latent(real:size(1), self.rng)
   local fake = no_grad(G, z)
   local state = { k = self.balance.k, gamma = t.gamma, lambda_k = t.lambda_k }
   local k = state.k
   local loss_d, l_real, l_fake, m = self:update("d", function()
      local l_real, l_fake = D(real):mean(), D(fake):mean()
      local d, _, m = losses.began(l_real, l_fake, state)
      return d, l_real, l_fake, m
   end)
   local loss_g = self:update("g", function() return D(G(z)):mean() end, { freeze = D })
   self.balance.k = losses.began_update(state, l_real, l_fake)
   return { loss_d = loss_d:item(), loss_g = loss_g:item(), l_real = l_real:item(), l_fake = l_fake:item(),
      k = k, m_global = m }
end

--- DCGAN's evaluation (FID and the reference-classifier metrics, Parzen when the test
-- split was held out).
M.evaluate = dcgan.evaluate

return M
