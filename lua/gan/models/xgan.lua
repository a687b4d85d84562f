--- XGAN (Royer et al. 2017): unsupervised translation between two styles through a shared
-- embedding. Each domain has its own encoder bottom and decoder top; the encoders share
-- their top layers and the decoders their bottom layers, so an emoji of style A encoded
-- and decoded by B's decoder is its translation. Losses: reconstruction in each domain;
-- a domain-adversarial term (a separate classifier C tells the domain of an embedding;
-- the encoders are trained to make it say the other domain); semantic consistency, the
-- L1 between e_A(x) and e_B(G_AB(x)) (and the other way); and the GAN loss of each
-- domain's PatchGAN on translations into it. Domains: two emoji vendors (Google and
-- Twitter by default, CycleGAN's pair), the held-out code points never trained on.
--
--     e_A(x) = shared_enc(enc_A(x)) in R^dim; G_AB(x) = dec_B(shared_dec(e_A(x)))
-- @module gan.models.xgan
local core = require("gan.core")
local nn = require("gan.nn")
local F = require("gan.nn.functional")
local optim = require("gan.optim")
local losses = require("gan.losses")
local blocks = require("gan.nn.blocks")
local data = require("gan.data")
local no_grad = require("gan.autograd").no_grad
local config = require("gan.config")
local range, choice = config.range, config.choice
local cyclegan = require("gan.models.cyclegan")

local M = require("gan.train.model").define {
   name = "xgan",
   summary = "XGAN: translation through a shared embedding (shared encoder top, decoder bottom)",
   paper = "Royer et al. 2017, XGAN: Unsupervised Image-to-Image Translation for Many-to-Many Mappings",
   health = { d_loss = { "loss_d_a", "loss_d_b" } },
   defaults = {
      data = { a = choice("google", data.VENDORS), b = choice("twitter", data.VENDORS), image_size = choice(64, { 64 }),
         batch_size = 8, flip = true },
      model = { ngf = range(32, "[1, inf)"), ndf = range(32, "[1, inf)"), dim = range(256, "[1, inf)"),
         n_layers = range(3, "[1, inf)") },
      train = {
         steps = 8000, sample_every = 500, checkpoint_every = 500,
         w_rec = range(1.0, "[0, inf)"), w_dann = range(0.1, "[0, inf)"), w_sem = range(1.0, "[0, inf)"),
         w_gan = range(0.1, "[0, inf)"),
         lr = range(1e-4, "[0, inf)"), beta1 = range(0.5, "[0, 1)"), beta2 = range(0.999, "[0, 1)"),
         n_samples = range(8, "[1, inf)"),   -- held-out pairs in the sample sheets
      },
   },
}

local function down(cin, cout, norm)
   local l = { nn.Conv2d(cin, cout, 4, { stride = 2, padding = 1 }) }
   if norm then l[#l + 1] = nn.InstanceNorm2d(cout) end
   l[#l + 1] = nn.LeakyReLU(0.2)
   return l
end
local function up(cin, cout)
   return { nn.ConvTranspose2d(cin, cout, 4, { stride = 2, padding = 1 }), nn.InstanceNorm2d(cout), nn.ReLU() }
end
local function seq(...)
   local layers = {}
   for _, part in ipairs { ... } do for _, l in ipairs(part) do layers[#layers + 1] = l end end
   return nn.Sequential(layers)
end

--- The networks: per domain an encoder bottom (64 -> 16 px) and a decoder top (16 -> 64
-- px), the shared encoder top (16 -> 4 px -> a dim-vector) and decoder bottom (the
-- vector -> 16 px).
-- @tparam table m model settings: `ngf`, `dim`
-- @treturn table { enc_A, enc_B, enc_shared, dec_shared, dec_A, dec_B }
function M.networks(m)
   local c, dim = m.ngf, m.dim
   local function enc() return seq(down(3, c, false), down(c, 2 * c, true)) end
   local function dec() return seq(up(2 * c, c), { nn.ConvTranspose2d(c, 3, 4, { stride = 2, padding = 1 }), nn.Tanh() }) end
   return {
      enc_A = enc(), enc_B = enc(),
      enc_shared = seq(down(2 * c, 4 * c, true), down(4 * c, 8 * c, true), { nn.Flatten(), nn.Linear(8 * c * 16, dim) }),
      dec_shared = seq({ nn.Linear(dim, 8 * c * 16), nn.Unflatten(2, { 8 * c, 4, 4 }), nn.ReLU() }, up(8 * c, 4 * c),
         up(4 * c, 2 * c)),
      dec_A = dec(), dec_B = dec(),
   }
end

--- The training emoji of both domains, unpaired (as CycleGAN's).
-- @tparam table cfg the resolved config
-- @treturn table a dataset
M.dataset = cyclegan.dataset

--- Builds the encoders, decoders, the domain classifier C and the discriminators D_A,
-- D_B; Adam "g" for the encoders and decoders, "d" for C, D_A and D_B.
-- @tparam table cfg the resolved config
function M:build(cfg)
   local m, t = cfg.model, cfg.train
   local nets = M.networks(m)
   local gparams = {}
   for _, name in ipairs { "enc_A", "enc_B", "enc_shared", "dec_shared", "dec_A", "dec_B" } do
      self:network(name, nets[name])
      for _, p in ipairs(nets[name]:parameters()) do gparams[#gparams + 1] = p end
   end
   local C = self:network("C", nn.Sequential { nn.Linear(m.dim, m.dim), nn.LeakyReLU(0.2), nn.Linear(m.dim, 1), nn.Flatten(1) })
   local D_A = self:network("D_A", blocks.PatchDiscriminator { ndf = m.ndf, n_layers = m.n_layers })
   local D_B = self:network("D_B", blocks.PatchDiscriminator { ndf = m.ndf, n_layers = m.n_layers })
   local dparams = {}
   for _, net in ipairs { C, D_A, D_B } do for _, p in ipairs(net:parameters()) do dparams[#dparams + 1] = p end end
   local betas = { t.beta1, t.beta2 }
   self:optimizer("g", optim.Adam(gparams, { lr = t.lr, betas = betas }))
   self:optimizer("d", optim.Adam(dparams, { lr = t.lr, betas = betas }))
   -- the two translators, made of the shared parts (what CycleGAN's sheets and evaluation call)
   self.G_AB = nn.Sequential { nets.enc_A, nets.enc_shared, nets.dec_shared, nets.dec_B }
   self.G_BA = nn.Sequential { nets.enc_B, nets.enc_shared, nets.dec_shared, nets.dec_A }
end

--- The embedding of images of domain "A" or "B".
-- @tparam Tensor x (N, 3, 64, 64)
-- @tparam string domain
-- @treturn Tensor (N, dim)
function M:embed(x, domain)
   return self.enc_shared(self["enc_" .. domain](x))
end

--- The image of embeddings in domain "A" or "B".
-- @tparam Tensor e (N, dim)
-- @tparam string domain
-- @treturn Tensor (N, 3, 64, 64)
function M:decode(e, domain)
   return self["dec_" .. domain](self.dec_shared(e))
end

--- Semantic consistency: the mean L1 between the embedding of a translation and that of its
-- source, the source's embedding a fixed target (detached). Through the source too, the
-- term is minimised by shrinking every embedding toward one point: measured on the
-- default run, it fell to 0.01 by step 1,500 while the reconstruction error rose back to
-- 1.0 and every input gave the same translation.
-- @tparam Tensor e_translated (N, dim) the embedding of G(x)
-- @tparam Tensor e_source (N, dim) the embedding of x
-- @treturn Tensor a scalar
function M.semantic_consistency(e_translated, e_source)
   return (e_translated - e_source:detach()):abs():mean()
end

--- One update of C, D_A and D_B (domain of detached embeddings; real against translated
-- images), then one of the encoders and decoders on w_rec reconstruction + w_dann
-- domain confusion + w_sem semantic consistency + w_gan GAN terms.
function M:train_step(data_, _)
   local t = self.cfg.train
   local batch = data_:next()
   local a, b = batch.a.image, batch.b.image
   local C, D_A, D_B = self.C, self.D_A, self.D_B
   local ea, eb, ab, ba = no_grad(function()
      local ea, eb = self:embed(a, "A"), self:embed(b, "B")
      return ea, eb, self:decode(ea, "B"), self:decode(eb, "A")
   end)
   local logs = {}
   self:update("d", function()
      local l_c = losses.minimax_d(C(ea), C(eb))   -- A's embeddings "real" (1), B's "fake" (0)
      local l_a = losses.minimax_d(D_A(a), D_A(ba))
      local l_b = losses.minimax_d(D_B(b), D_B(ab))
      logs.loss_c, logs.loss_d_a, logs.loss_d_b = l_c:item(), l_a:item(), l_b:item()
      return l_c + l_a + l_b
   end)
   local loss_g = self:update("g", function()
      local za, zb = self:embed(a, "A"), self:embed(b, "B")
      local rec = F.mse_loss(self:decode(za, "A"), a) + F.mse_loss(self:decode(zb, "B"), b)
      -- domain confusion: each domain's embeddings labelled as the other's
      local dann = losses.minimax_d(C(zb), C(za))
      local to_b, to_a = self:decode(za, "B"), self:decode(zb, "A")
      local sem = M.semantic_consistency(self:embed(to_b, "B"), za) + M.semantic_consistency(self:embed(to_a, "A"), zb)
      local gan = losses.nonsaturating_g(D_B(to_b)) + losses.nonsaturating_g(D_A(to_a))
      logs.rec, logs.dann, logs.sem, logs.gan = rec:item(), dann:item(), sem:item(), gan:item()
      return rec * t.w_rec + dann * t.w_dann + sem * t.w_sem + gan * t.w_gan
   end, { freeze = { C, D_A, D_B } })
   logs.loss_g = loss_g:item()
   return logs
end

--- CycleGAN's sheets of held-out pairs: input | translation | translated back | the real
-- drawing of the other style, A to B then B to A.
M.sample = cyclegan.sample

--- Top-1 and top-5 retrieval through the embedding: for each held-out emoji of style A,
-- the emoji of style B whose embedding is nearest (L2) to its own is its counterpart
-- (the same code point) for top-1, or among the 5 nearest for top-5; and from B to A.
-- @tparam Tensor za (N, dim) embeddings of the A images
-- @tparam Tensor zb (N, dim) of the B images of the same code points, in the same order
-- @treturn table { top1_ab, top5_ab, top1_ba, top5_ba }
function M.retrieval(za, zb)
   local function dist(x, y)
      return (x * x):sum(2, true) + (y * y):sum(2):view(1, -1) - x:matmul(y:t()) * 2
   end
   local out = {}
   for _, dir in ipairs { { "ab", za, zb }, { "ba", zb, za } } do
      local d = dist(dir[2]:double(), dir[3]:double()):totable()
      local top1, top5 = 0, 0
      for i, row in ipairs(d) do
         local rank = 0
         for j, v in ipairs(row) do if j ~= i and v < row[i] then rank = rank + 1 end end
         if rank == 0 then top1 = top1 + 1 end
         if rank < 5 then top5 = top5 + 1 end
      end
      out["top1_" .. dir[1]], out["top5_" .. dir[1]] = top1 / #d, top5 / #d
   end
   return out
end

--- CycleGAN's translation metrics on the held-out pairs (paired L1 and PSNR against the
-- real drawing, the style classifier's share in the target style, FID), plus the
-- retrieval through the embedding (M.retrieval) and, as its baseline, by raw pixels
-- (top1_ab_pixels, ...).
-- @tparam[opt] table opts as cyclegan's evaluate
-- @treturn table metric name -> number
function M:evaluate(opts)
   local res = cyclegan.evaluate(self, opts)
   local a, b = cyclegan.test_pairs(self.cfg)
   local za = self.run_eval(nn.Sequential { self.enc_A, self.enc_shared }, a)
   local zb = self.run_eval(nn.Sequential { self.enc_B, self.enc_shared }, b)
   for k, v in pairs(M.retrieval(za, zb)) do res[k] = v end
   -- the baseline: the same retrieval by raw pixels (drawings of one code point look alike)
   local n = a:size(1)
   for k, v in pairs(M.retrieval(a:reshape(n, -1), b:reshape(n, -1))) do res[k .. "_pixels"] = v end
   return res
end

return M
