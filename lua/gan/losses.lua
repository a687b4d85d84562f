--- gan.losses: the adversarial losses and penalties of the GAN literature, each a plain
-- function of tensors (D outputs are raw scores / logits unless noted). Discriminator
-- losses take (d_real, d_fake, opts); generator losses take (d_fake, opts) — both are
-- minimised. Penalties on D's gradients are in gan.penalties, augmentations of D's
-- inputs (instance noise included) in gan.augment.
-- @module gan.losses
local core = require("gan.core")
local F = require("gan.nn.functional")

local losses = {}

local function full_like(x, v) return core.full(x:size(), v, { dtype = x.dtype }) end

-- Real-label targets: 1, or 1 - smoothing (one-sided label smoothing, Salimans et al.
-- 2016), with each label flipped with probability opts.flip (noisy labels).
local function real_target(x, opts)
   local t = full_like(x, 1 - ((opts and opts.smoothing) or 0))
   if opts and opts.flip and opts.flip > 0 then
      local m = core.empty(x:size(), { dtype = x.dtype }):bernoulli_(opts.flip, opts.generator and { generator = opts.generator })
      t = t * (1 - m)
   end
   return t
end

local function fake_target(x, opts)
   local t = full_like(x, 0)
   if opts and opts.flip and opts.flip > 0 then
      t = core.empty(x:size(), { dtype = x.dtype }):bernoulli_(opts.flip, opts.generator and { generator = opts.generator })
   end
   return t
end

local bce = F.binary_cross_entropy_with_logits

--- Goodfellow et al., 2014: D maximises log D(x) + log(1 - D(G(z))).
-- opts: smoothing (one-sided: real target 1 - s), flip (noisy labels probability).
-- @tparam Tensor d_real D's logits on real images
-- @tparam Tensor d_fake D's logits on fakes
-- @tparam[opt] table opts `smoothing` (0), `flip` (0), `generator` (for the flips)
-- @treturn Tensor a scalar
function losses.minimax_d(d_real, d_fake, opts)
   return bce(d_real, real_target(d_real, opts)) + bce(d_fake, fake_target(d_fake, opts))
end

--- The original (saturating) generator loss: minimise log(1 - D(G(z))).
-- @tparam Tensor d_fake D's logits on fakes
-- @treturn Tensor a scalar
function losses.minimax_g(d_fake)
   return -bce(d_fake, full_like(d_fake, 0))
end

--- The non-saturating generator loss: minimise -log D(G(z)).
-- @tparam Tensor d_fake D's logits on fakes
-- @treturn Tensor a scalar
function losses.nonsaturating_g(d_fake)
   return bce(d_fake, full_like(d_fake, 1))
end
losses.nonsaturating_d = losses.minimax_d

--- Least squares GAN (Mao et al., 2017) with targets a = 0 (fake), b = 1 (real), c = 1.
-- opts: smoothing, flip (as minimax_d: noisy labels flip fake targets too).
-- @tparam Tensor d_real D's outputs on real images
-- @tparam Tensor d_fake D's outputs on fakes
-- @tparam[opt] table opts `smoothing` (0), `flip` (0), `generator`
-- @treturn Tensor a scalar
function losses.lsgan_d(d_real, d_fake, opts)
   local t = real_target(d_real, opts)
   local tf = fake_target(d_fake, opts)
   return (((d_real - t) ^ 2):mean() + ((d_fake - tf) ^ 2):mean()) * 0.5
end

--- Least squares GAN's generator loss: 0.5 E[(D(G(z)) - 1)^2].
-- @tparam Tensor d_fake D's outputs on fakes
-- @treturn Tensor a scalar
function losses.lsgan_g(d_fake)
   return ((d_fake - 1) ^ 2):mean() * 0.5
end

--- Wasserstein critic (Arjovsky et al., 2017): minimise E[D(G(z))] - E[D(x)].
-- @tparam Tensor d_real the critic's outputs on real images
-- @tparam Tensor d_fake the critic's outputs on fakes
-- @treturn Tensor a scalar
function losses.wasserstein_d(d_real, d_fake)
   return d_fake:mean() - d_real:mean()
end

--- Wasserstein generator loss: -E[D(G(z))].
-- @tparam Tensor d_fake the critic's outputs on fakes
-- @treturn Tensor a scalar
function losses.wasserstein_g(d_fake)
   return -d_fake:mean()
end

--- Hinge loss (Lim & Ye 2017; SAGAN, BigGAN).
-- E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))].
-- @tparam Tensor d_real D's outputs on real images
-- @tparam Tensor d_fake D's outputs on fakes
-- @treturn Tensor a scalar
function losses.hinge_d(d_real, d_fake)
   return (1 - d_real):relu():mean() + (1 + d_fake):relu():mean()
end

--- Hinge generator loss: -E[D(G(z))] (as the Wasserstein one).
-- @tparam Tensor d_fake D's outputs on fakes
-- @treturn Tensor a scalar
function losses.hinge_g(d_fake)
   return -d_fake:mean()
end

--- EBGAN (Zhao et al., 2017) with D an autoencoder whose energy is the reconstruction
-- error: D minimises E(x) + max(0, margin - E(G(z))), G minimises E(G(z)). Pass the
-- per-sample energies.
-- @tparam Tensor e_real per-sample energies of real images
-- @tparam Tensor e_fake per-sample energies of fakes
-- @tparam[opt] table opts `margin` (1)
-- @treturn Tensor a scalar
function losses.ebgan_d(e_real, e_fake, opts)
   local m = (opts and opts.margin) or 1
   return e_real:mean() + (m - e_fake):relu():mean()
end

--- EBGAN's generator loss: the mean energy of the fakes, E(G(z)).
-- @tparam Tensor e_fake per-sample energies of fakes
-- @treturn Tensor a scalar
function losses.ebgan_g(e_fake) return e_fake:mean() end

--- EBGAN's pull-away term on a batch of embeddings s (N, ...): the mean squared cosine
-- similarity of every ordered pair of distinct rows, 1/(N(N-1)) sum_{i ~= j}
-- (s_i . s_j / (|s_i| |s_j|))^2; it is 0 for mutually orthogonal embeddings and pushes
-- G's samples apart (against mode collapse).
-- @tparam Tensor s (N, ...), N >= 2
-- @treturn Tensor a scalar
-- @raise for fewer than 2 embeddings
function losses.pullaway(s)
   local n = s:size(1)
   if n < 2 then error(("pullaway: needs at least 2 embeddings, got %d"):format(n), 2) end
   local flat = s:reshape(n, -1)
   local unit = flat / (flat * flat):sum(2, true):sqrt()
   local off = 1 - core.eye(n, { dtype = s.dtype })
   return ((core.matmul(unit, unit:t()) ^ 2) * off):sum() / (n * (n - 1))
end

--- BEGAN (Berthelot et al., 2017): D(x) = |x - AE(x)|; D minimises L(x) - k L(G(z)), G
-- minimises L(G(z)); k moves toward the balance gamma after every step. `state` holds k
-- (start 0), gamma (0.5) and lambda_k (0.001). Returns d_loss, g_loss and the
-- convergence measure M = L(x) + |gamma L(x) - L(G(z))|; call began_update(state, l_real,
-- l_fake) after the optimizer steps.
-- @tparam Tensor l_real L(x), a scalar
-- @tparam Tensor l_fake L(G(z)), a scalar
-- @tparam table state k (0), gamma (0.5), lambda_k (0.001)
-- @treturn Tensor d_loss
-- @treturn Tensor g_loss
-- @treturn number M
function losses.began(l_real, l_fake, state)
   local k = state.k or 0
   local d = l_real - l_fake * k
   local g = l_fake
   local lr, lf = l_real:item(), l_fake:item()
   local m = lr + math.abs((state.gamma or 0.5) * lr - lf)
   return d, g, m
end

--- Moves BEGAN's k after a step: k += lambda_k (gamma L(x) - L(G(z))), clamped to [0, 1].
-- @tparam table state k (0), gamma (0.5), lambda_k (0.001); k is updated in place
-- @tparam Tensor|number l_real L(x) of the step
-- @tparam Tensor|number l_fake L(G(z)) of the step
-- @treturn number the new k
function losses.began_update(state, l_real, l_fake)
   local lr = type(l_real) == "number" and l_real or l_real:item()
   local lf = type(l_fake) == "number" and l_fake or l_fake:item()
   local k = (state.k or 0) + (state.lambda_k or 0.001) * ((state.gamma or 0.5) * lr - lf)
   state.k = math.min(math.max(k, 0), 1)
   return state.k
end

--- The (D, G) loss pairs by name, each { d = fn(d_real, d_fake, opts), g = fn(d_fake) }:
-- nonsaturating (Goodfellow et al.'s D loss with the non-saturating G loss), minimax,
-- lsgan, wgan, hinge.
losses.PAIRS = {
   nonsaturating = { d = losses.minimax_d, g = losses.nonsaturating_g },
   minimax = { d = losses.minimax_d, g = losses.minimax_g },
   lsgan = { d = losses.lsgan_d, g = losses.lsgan_g },
   wgan = { d = losses.wasserstein_d, g = losses.wasserstein_g },
   hinge = { d = losses.hinge_d, g = losses.hinge_g },
}

--- The names of losses.PAIRS (built in and registered), sorted: what a config's
-- train.loss may be.
function losses.names()
   local names = {}
   for k in pairs(losses.PAIRS) do names[#names + 1] = k end
   table.sort(names)
   return names
end

--- Registers a loss pair of one's own under `name` (then `train.loss = name` in a config
-- selects it, for the DCGAN family of models). pair = { d = fn(c), g = fn(c) }: each
-- receives a context c and returns the loss (a one-element tensor). For D: c.d_real,
-- c.d_fake (D's outputs on the real batch and on the fakes), c.real, c.fake, c.D, c.step,
-- c.rng, c.smoothing, c.flip. For G: c.d_fake (D on G(z), differentiable in G), c.fake,
-- c.real, c.d_real (D on the real batch, computed when read), c.D, c.G, c.z, c.step,
-- c.rng. c.features(x, layer) returns the output of D's inner module `layer` (see
-- losses.features) for input x. Returns the pair.
-- @tparam string name letters, digits and _
-- @tparam table pair `{d = function(c), g = function(c)}`
-- @treturn table the registered pair
-- @raise for a bad name or pair
function losses.register(name, pair)
   if type(name) ~= "string" or not name:match("^[%w_]+$") then
      error(("losses.register: the name must be letters, digits and _, got %s"):format(tostring(name)), 2)
   end
   if type(pair) ~= "table" or type(pair.d) ~= "function" or type(pair.g) ~= "function" then
      error(("losses.register '%s': expected { d = function(c), g = function(c) }"):format(name), 2)
   end
   losses.PAIRS[name] = { d = pair.d, g = pair.g, context = true }
   return losses.PAIRS[name]
end

--- The output of module `layer` (a module inside `net`, e.g., D.main[4]) when net runs
-- on x, through a forward hook (so gradients flow through it): the features a
-- feature-matching loss compares. Returns it.
-- @tparam Module net
-- @tparam Tensor x net's input
-- @tparam Module layer a module inside net
-- @treturn Tensor layer's output
-- @raise when layer is not a module or did not run
function losses.features(net, x, layer)
   if type(layer) ~= "table" or not layer.register_forward_hook then
      error("losses.features: layer must be a module inside the network", 2)
   end
   local got
   local h = layer:register_forward_hook(function(_, out) got = out end)
   local ok, err = pcall(net, x)
   h.remove()
   if not ok then error(err, 0) end
   if got == nil then error("losses.features: the layer did not run in the network's forward", 2) end
   return got
end

--- The loss pair called `name` (see losses.PAIRS); an unknown name is an error listing
-- the known ones.
-- @tparam string name
-- @treturn table `{d = fn, g = fn}`
-- @raise for an unknown name, listing the known ones
function losses.pair(name)
   local p = losses.PAIRS[name]
   if p then return p end
   error(("losses: unknown loss '%s' (%s)"):format(tostring(name), table.concat(losses.names(), ", ")), 2)
end

return losses
