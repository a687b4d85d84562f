--- StyleGAN (Karras et al. 2019) with StyleGAN2's modulated convolutions (Karras et al.
-- 2020): a mapping network (8 equalised linear layers, learning rate x 0.01) turns z into
-- w; a synthesis network starts from a learned 4x4 constant and, at each resolution,
-- applies two 3x3 convolutions modulated by w (weight modulation and demodulation in
-- place of AdaIN, which StyleGAN2 showed causes droplet artefacts) with per-layer noise,
-- and adds its RGB (a 1x1 modulated convolution without demodulation) to the upsampled RGB
-- of the resolution below (StyleGAN2's skip generator). Style mixing regularisation
-- (with probability 0.9 a batch's layers from a crossover index on take a second w), the
-- truncation trick in W around the tracked mean w, the non-saturating logistic loss with
-- lazy R1 on a residual discriminator with minibatch standard deviation, Adam (0, 0.99),
-- an EMA of G.
--
--     G(z)                 : z (N, nz) -> image (N, nc, S, S), at G.truncation (psi) in W
--     G:mapping(z)         : -> w (N, w_dim)
--     G:synthesis(ws, opt) : ws (N, G.num_ws, w_dim), one w per layer -> image
-- @module gan.models.stylegan
local core = require("gan.core")
local nn = require("gan.nn")
local F = require("gan.nn.functional")
local optim = require("gan.optim")
local losses = require("gan.losses")
local penalties = require("gan.penalties")
local data = require("gan.data")
local metrics = require("gan.metrics")
local no_grad = require("gan.autograd").no_grad
local config = require("gan.config")
local range, choice = config.range, config.choice
local EqualConv2d, EqualLinear, ModulatedConv2d, MinibatchStdDev, PixelNorm, NoiseInjection =
   nn.EqualConv2d, nn.EqualLinear, nn.ModulatedConv2d, nn.MinibatchStdDev, nn.PixelNorm, nn.NoiseInjection

local M = require("gan.train.model").define {
   name = "stylegan",
   summary = "Style-based GAN: mapping network, modulated convolutions, noise, style mixing, truncation in W",
   paper = "Karras, Laine & Aila 2019, A Style-Based Generator Architecture for GANs (with Karras et al. 2020's modulation)",
   best = { metric = "fid", mode = "min" },
   defaults = {
      data = { name = config.valid("fashion_mnist", data.for_gan_image_name, data.FOR_GAN_IMAGE_NAMES),
         image_size = choice(32, { 8, 16, 32, 64 }), batch_size = 32, vendor = choice("google", data.VENDORS) },
      model = {
         nz = range(128, "[1, inf)"), w_dim = range(128, "[1, inf)"), n_mlp = range(8, "[1, inf)"),
         mapping_lr_mul = range(0.01, "(0, inf)"),
         -- channels at resolution R: min(fmap_max, fmap_base / R)
         fmap_base = range(1024, "[1, inf)"), fmap_max = range(64, "[1, inf)"),
         mbstd_group = range(4, "[1, inf)"),
         -- the truncation psi in W for sheets and evaluation (1: none)
         truncation = range(1.0, "[0, 1]"),
      },
      train = {
         steps = 10000, sample_every = 500, checkpoint_every = 500,
         lr = range(2e-3, "[0, inf)"), beta1 = range(0.0, "[0, 1)"), beta2 = range(0.99, "[0, 1)"),
         mixing = range(0.9, "[0, 1]"), r1 = range(1.0, "[0, inf)"), r1_every = range(16, "[1, inf)"),
         -- the decay of the tracked mean w (the truncation's centre)
         w_avg_decay = range(0.995, "[0, 1)"),
         ema = range(0.999, "[0, 1)"), ema_start = range(0, "[0, inf)"),
      },
   },
}

local SQRT2 = math.sqrt(2)
-- He's gain for a layer followed by a leaky ReLU (the papers' code: sqrt(2)); output layers
-- (to RGB, D's score, the residual skip) take gain 1
local HE = { gain = SQRT2 }
local HE_PAD = { gain = SQRT2, padding = 1 }
local function lrelu(x) return F.leaky_relu(x, 0.2) end
local function up(x) return F.interpolate(x, { scale_factor = 2, mode = "bilinear" }) end
local function down(x) return F.avg_pool2d(x, 2) end

--- The channels of each level 0..top: ProGAN's, min(fmap_max, fmap_base / R).
M.channels = require("gan.models.progan").channels

-- A modulated 3x3 convolution with noise and a leaky ReLU.
local StyledConv = nn.class("StyledConv", nn.Module)
function StyledConv:__init(cin, cout, w_dim)
   nn.Module.__init(self)
   self.conv = ModulatedConv2d(cin, cout, 3, w_dim)
   self.noise = NoiseInjection(cout)
end
--- Modulated convolution, noise, leaky ReLU times sqrt(2) (He's gain after the activation,
-- as StyleGAN2's code has it: the demodulated output has unit variance).
-- @tparam Tensor x (N, cin, H, W)
-- @tparam Tensor w (N, w_dim)
-- @tparam[opt] Tensor noise (N, 1, H, W)
-- @treturn Tensor (N, cout, H, W)
function StyledConv:forward(x, w, noise) return lrelu(self.noise(self.conv(x, w), noise)) * SQRT2 end

local Generator = nn.class("StyleGANGenerator", nn.Module)
function Generator:__init(o)
   nn.Module.__init(self)
   local ch, top = o.channels, o.top
   self.nz, self.w_dim, self.top, self.nc = o.nz, o.w_dim, top, o.nc
   self.truncation = 1.0
   local layers = { PixelNorm() }
   for i = 1, o.n_mlp do
      layers[#layers + 1] = EqualLinear(i == 1 and o.nz or o.w_dim, o.w_dim, { lr_mul = o.lr_mul, gain = SQRT2 })
      layers[#layers + 1] = nn.LeakyReLU(0.2)
   end
   self.map = nn.Sequential(layers)
   self.const = core.randn({ 1, ch[0], 4, 4 }):requires_grad_()
   self.convs, self.to_rgb = nn.ModuleList(), nn.ModuleList()
   self.convs:append(StyledConv(ch[0], ch[0], o.w_dim))
   self.to_rgb:append(ModulatedConv2d(ch[0], o.nc, 1, o.w_dim, { demodulate = false }))
   for l = 1, top do
      self.convs:append(StyledConv(ch[l - 1], ch[l], o.w_dim))
      self.convs:append(StyledConv(ch[l], ch[l], o.w_dim))
      self.to_rgb:append(ModulatedConv2d(ch[l], o.nc, 1, o.w_dim, { demodulate = false }))
   end
   -- one w per convolution: 1 + 2 * top (the RGB of a level takes its last convolution's w)
   self.num_ws = 1 + 2 * top
   self:register_buffer("w_avg", core.zeros({ o.w_dim }))
end
--- w = mapping(z), (N, w_dim).
function Generator:mapping(z) return self.map(z:reshape(z:size(1), self.nz)) end
--- w_avg + psi (w - w_avg): the truncation trick in W.
function Generator:truncate(w, psi)
   if psi == nil or psi == 1 then return w end
   local avg = self.w_avg:view(1, self.w_dim)
   return avg + (w - avg) * psi
end
--- The image of ws (N, num_ws, w_dim); opts.noise: a list of num_ws noise maps (N, 1, R, R)
-- (default: fresh N(0, 1) from the default generator).
function Generator:synthesis(ws, opts)
   local noise = opts and opts.noise or {}
   local N = ws:size(1)
   local function w_of(i) return ws:select(2, i) end
   local x = self.const:expand(N, self.const:size(2), 4, 4)
   x = self.convs[1](x, w_of(1), noise[1])
   local rgb = self.to_rgb[1](x, w_of(1))
   for l = 1, self.top do
      local i = 2 * l
      x = self.convs[i](up(x), w_of(i), noise[i])
      x = self.convs[i + 1](x, w_of(i + 1), noise[i + 1])
      rgb = up(rgb) + self.to_rgb[l + 1](x, w_of(i + 1))
   end
   return rgb
end
--- ws (N, num_ws, w_dim) of w (N, w_dim) repeated, or of w1 for layers < cutoff and w2
-- from cutoff on (1-based layer index; style mixing).
function Generator:broadcast(w1, w2, cutoff)
   local N = w1:size(1)
   local ws = w1:view(N, 1, self.w_dim):expand(N, self.num_ws, self.w_dim)
   if not w2 or not cutoff or cutoff > self.num_ws then return ws:contiguous() end
   local a = ws:narrow(2, 1, cutoff - 1)
   local b = w2:view(N, 1, self.w_dim):expand(N, self.num_ws - cutoff + 1, self.w_dim)
   return core.cat({ a, b }, 2)
end
--- The image of z at G.truncation (psi) in W.
-- @tparam Tensor z (N, nz)
-- @treturn Tensor (N, nc, S, S)
function Generator:forward(z)
   return self:synthesis(self:broadcast(self:truncate(self:mapping(z), self.truncation)))
end

-- StyleGAN2's residual block of D: (two 3x3 convolutions, average-pooled) plus a 1x1
-- convolution of the pooled input, over sqrt(2).
local DBlock = nn.class("StyleGANDBlock", nn.Module)
function DBlock:__init(cin, cout)
   nn.Module.__init(self)
   self.conv1 = EqualConv2d(cin, cin, 3, HE_PAD)
   self.conv2 = EqualConv2d(cin, cout, 3, HE_PAD)
   self.skip = EqualConv2d(cin, cout, 1, { bias = false })
end
--- The residual block's output at half the size.
-- @tparam Tensor x (N, cin, H, W)
-- @treturn Tensor (N, cout, H/2, W/2)
function DBlock:forward(x)
   local h = down(lrelu(self.conv2(lrelu(self.conv1(x)))))
   return (h + self.skip(down(x))) / SQRT2
end

local Discriminator = nn.class("StyleGANDiscriminator", nn.Module)
function Discriminator:__init(o)
   nn.Module.__init(self)
   local ch, top = o.channels, o.top
   self.from_rgb = EqualConv2d(o.nc, ch[top], 1, HE)
   local blocks = {}
   for l = top, 1, -1 do blocks[#blocks + 1] = DBlock(ch[l], ch[l - 1]) end
   self.blocks = nn.Sequential(blocks)
   self.final = nn.Sequential { MinibatchStdDev(o.mbstd_group), EqualConv2d(ch[0] + 1, ch[0], 3, HE_PAD),
      nn.LeakyReLU(0.2), nn.Flatten(), EqualLinear(ch[0] * 16, ch[0], HE), nn.LeakyReLU(0.2), EqualLinear(ch[0], 1) }
end
--- D's logit of each image.
-- @tparam Tensor x (N, nc, S, S)
-- @treturn Tensor (N)
function Discriminator:forward(x)
   return self.final(self.blocks(lrelu(self.from_rgb(x)))):reshape(x:size(1))
end

--- opts: nz, w_dim, n_mlp, lr_mul (the mapping's), channels (level -> channels), top, nc.
function M.Generator(opts) return Generator(opts) end
--- opts: channels, top, nc, mbstd_group.
function M.Discriminator(opts) return Discriminator(opts) end

--- The images of data.name at data.image_size.
-- @tparam table cfg the resolved config
-- @treturn table a dataset
function M.dataset(cfg)
   return data.for_gan(cfg.data.name, { image_size = cfg.data.image_size, vendor = cfg.data.vendor })
end

--- Builds the mapping and synthesis networks (G), D, Adam "g" and "d" (train.lr, beta1,
-- beta2), the non-saturating losses and, with train.ema > 0, an EMA copy of G.
-- @tparam table cfg the resolved config
function M:build(cfg)
   local m, t = cfg.model, cfg.train
   local top = math.tointeger(math.log(cfg.data.image_size, 2)) - 2
   local ch = M.channels(m, top)
   local nc = data.channels(cfg.data.name)
   local G = self:network("G", Generator { nz = m.nz, w_dim = m.w_dim, n_mlp = m.n_mlp, lr_mul = m.mapping_lr_mul,
      channels = ch, top = top, nc = nc })
   local D = self:network("D", Discriminator { channels = ch, top = top, nc = nc, mbstd_group = m.mbstd_group })
   local betas = { t.beta1, t.beta2 }
   self:optimizer("g", optim.Adam(G:parameters(), { lr = t.lr, betas = betas }))
   self:optimizer("d", optim.Adam(D:parameters(), { lr = t.lr, betas = betas }))
   if t.ema > 0 then self:ema_of("G", { decay = t.ema, start = t.ema_start }) end
   self.loss = losses.pair("nonsaturating")
end

--- z ~ N(0, 1) of shape (n, nz).
function M:latent(n, generator)
   return core.randn({ n, self.cfg.model.nz }, { generator = generator })
end

--- The crossover index of a batch's style mixing, drawn from `generator`: with
-- probability p an index in [2, num_ws] (layers before it take w1, it and later ones w2),
-- else num_ws + 1 (no mixing).
function M.crossover(num_ws, p, generator)
   local u = core.rand({ 2 }, { dtype = "float64", generator = generator }):totable()
   if u[1] >= p then return num_ws + 1 end
   return 2 + math.min(num_ws - 2, math.floor(u[2] * (num_ws - 1)))
end

--- Moves G's tracked mean w towards the batch mean of w (N, w_dim):
-- w_avg <- decay * w_avg + (1 - decay) * mean(w).
function M.track_w_avg(G, w, decay)
   no_grad(function() G.w_avg:copy_(G.w_avg * decay + w:detach():mean(1) * (1 - decay)) end)
end

-- The ws of a training batch of n: mixed (two z) with probability train.mixing. Updates
-- the tracked mean w with the batch's first w when `track` (G's training pass).
local function training_ws(self, n, track)
   local G, t = self.G, self.cfg.train
   local w1 = G:mapping(self:latent(n, self.rng))
   if track then M.track_w_avg(G, w1, t.w_avg_decay) end
   local cutoff = M.crossover(G.num_ws, t.mixing, self.rng)
   local w2 = cutoff <= G.num_ws and G:mapping(self:latent(n, self.rng)) or nil
   return G:broadcast(w1, w2, cutoff), cutoff
end

--- One D update (non-saturating logistic loss, lazy R1) and one G update, both on
-- style-mixed batches.
function M:train_step(data_, step)
   local t = self.cfg.train
   local G, D = self.G, self.D
   local real = data_:next().image
   local n = real:size(1)
   local fake = no_grad(function() return G:synthesis((training_ws(self, n, false))) end)
   local logs = {}
   local loss_d = self:update("d", function()
      local d_real, d_fake = D(real), D(fake)
      local loss = self.loss.d(d_real, d_fake)
      logs.d_real, logs.d_fake = d_real:detach():mean():item(), d_fake:detach():mean():item()
      local w = penalties.lazy_weight(step, t.r1, t.r1_every)
      if w then
         local r1 = penalties.r1(D, real, { weight = w })
         logs.r1 = r1:item()
         loss = loss + r1
      end
      return loss
   end)
   local cutoff
   local loss_g = self:update("g", function()
      local ws
      ws, cutoff = training_ws(self, n, true)
      return self.loss.g(D(G:synthesis(ws)))
   end, { freeze = D })
   logs.loss_d, logs.loss_g, logs.crossover = loss_d:item(), loss_g:item(), cutoff
   return logs
end

--- The sampling generator (the EMA copy when kept) at the model's truncation psi.
function M:generator(psi)
   local G = self:sampler("G")
   G.truncation = psi or self.cfg.model.truncation
   return G
end

--- 64 samples from the fixed latents at model.truncation.
function M:sample()
   return self.run_eval(self:generator(), self:fixed_latent(64)), { nrow = 8 }
end

--- The metrics of gan.metrics.evaluate for data.name from opts.n samples (10,000) at
-- truncation opts.truncation (default model.truncation), the EMA generator when kept.
function M:evaluate(opts)
   opts = opts or {}
   local psi = opts.truncation or self.cfg.model.truncation
   local res = metrics.evaluate(self:generator(psi), self.cfg.data.name, { n = opts.n or 10000,
      latent = function(n, g) return self:latent(n, g) end, classifier = opts.classifier })
   res.truncation, res.ema = psi, self.ema.G ~= nil
   return res
end

-- ---------------------------------------------------------------- StyleGAN's measurements

--- Style mixing: the images whose layers before `cutoff` take the w of `coarse` (N, nz)
-- and the layers from `cutoff` on that of `fine` (N, nz), pairwise, at psi 1, with the same
-- noise for every image (opts.noise_seed, 1); from the sampling generator (EMA when kept).
-- The default cutoff 2 * l + 2 gives the resolutions up to 4 * 2^l (opts.coarse_levels, 1:
-- 4x4 and 8x8) to `coarse`.
function M:mix(coarse, fine, opts)
   opts = opts or {}
   local G = self:generator(1)
   local cutoff = opts.cutoff or 2 * (opts.coarse_levels or 1) + 2
   local was = G.training
   G:eval()
   local x = no_grad(function()
      local ws = G:broadcast(G:mapping(coarse), G:mapping(fine), cutoff)
      return G:synthesis(ws, { noise = self:noise_maps(coarse:size(1), core.Generator(opts.noise_seed or 1)) })
   end)
   G:train(was)
   return x
end

--- Noise maps for every layer of G for a batch of n, drawn from `generator`.
function M:noise_maps(n, generator)
   local maps, G = {}, self.G
   for i = 1, G.num_ws do
      local level = i == 1 and 0 or i // 2
      local r = 4 * 2 ^ level
      maps[i] = core.randn({ n, 1, r, r }, { generator = generator })
   end
   return maps
end

--- Spherical interpolation between the rows of a and b (N, d) at t (N, 1):
-- (sin((1 - t) omega) a + sin(t omega) b) / sin(omega), omega the angle between the rows.
function M.slerp(a, b, t)
   local cos = ((a / a:norm(2, 2, true)) * (b / b:norm(2, 2, true))):sum(2):double():totable()
   local ts, ca, cb = t:reshape(-1):double():totable(), {}, {}
   for i, c in ipairs(cos) do
      local omega = math.acos(math.max(-1, math.min(1, c)))
      local so = math.sin(omega)
      ca[i], cb[i] = math.sin((1 - ts[i]) * omega) / so, math.sin(ts[i] * omega) / so
   end
   local n = #cos
   return a * core.tensor(ca):view(n, 1):to(a.dtype) + b * core.tensor(cb):view(n, 1):to(b.dtype)
end

--- Perceptual path length (Karras et al. 2019) in `space` ("z" or "w"): for n pairs of
-- latents and t ~ U(0, 1), the squared distance between the images at t and t + eps along
-- the path (slerp in Z, lerp in W), in the reference classifier's features of data.name
-- (in place of VGG/LPIPS), over eps^2; the mean of those between the 1st and 99th
-- percentiles (metrics.path_length). Same noise for the two images of a pair, psi 1, the
-- sampling generator. opts: n (2,000), eps (1e-4), seed (123), batch (200), classifier.
function M:path_length(space, opts)
   opts = opts or {}
   if space ~= "z" and space ~= "w" then error(("path_length: space must be 'z' or 'w', got %s"):format(tostring(space)), 2) end
   local n, eps, batch = opts.n or 2000, opts.eps or 1e-4, opts.batch or 200
   local clf = opts.classifier or metrics.classifier(self.cfg.data.name)
   local G = self:generator(1)
   local g = core.Generator(opts.seed or 123)
   local dists = {}
   local was = G.training
   G:eval()
   no_grad(function()
      for s = 1, n, batch do
         local m = math.min(batch, n - s + 1)
         local z0, z1 = self:latent(m, g), self:latent(m, g)
         local t = core.rand({ m, 1 }, { generator = g })
         local ws
         if space == "z" then
            local za, zb = M.slerp(z0, z1, t), M.slerp(z0, z1, t + eps)
            ws = { G:mapping(za), G:mapping(zb) }
         else
            local w0, w1 = G:mapping(z0), G:mapping(z1)
            ws = { w0 + (w1 - w0) * t, w0 + (w1 - w0) * (t + eps) }
         end
         local noise = self:noise_maps(m, g)
         local fa = metrics.features(clf, G:synthesis(G:broadcast(ws[1]), { noise = noise }))
         local fb = metrics.features(clf, G:synthesis(G:broadcast(ws[2]), { noise = noise }))
         local d = ((fa - fb) ^ 2):sum(2) / (eps * eps)
         for _, v in ipairs(d:totable()) do dists[#dists + 1] = v end
      end
   end)
   G:train(was)
   return metrics.path_length(dists), dists
end

return M
