--- ACGAN (Odena et al. 2017): a class-conditional generator and a discriminator that
-- also predicts the class, on DCGAN's convolutional stacks.
--
--     G(z, y): z (N, nz) or (N, nz, 1, 1), y int64 (N) 0-based -> image (N, nc, S, S)
--     D(x)   : -> source logit (N), class logits (N, n_classes)
-- @module gan.models.acgan
local nn = require("gan.nn")
local F = require("gan.nn.functional")
local dcgan = require("gan.models.dcgan")

local M = {}

-- The generator: the class embedding (nz values per class) multiplies the noise, and the
-- product drives DCGAN's generator.
local Generator = nn.class("ACGANGenerator", nn.Module)
function Generator:__init(opts)
   nn.Module.__init(self)
   self.nz, self.n_classes = opts.nz or 100, opts.n_classes or 10
   self.embed = nn.Embedding(self.n_classes, self.nz)
   self.net = dcgan.Generator { nz = self.nz, ngf = opts.ngf, nc = opts.nc, image_size = opts.image_size }
end
function Generator:forward(z, y)
   if y == nil then error("ACGAN generator: class labels are required, G(z, y)", 2) end
   local n = z:size(1)
   local h = z:reshape(n, self.nz) * self.embed(y)
   return self.net(h:reshape(n, self.nz, 1, 1))
end

--- opts: nz (100), n_classes (10), ngf (64), nc (1), image_size (32).
function M.Generator(opts) return Generator(opts or {}) end

-- The discriminator: DCGAN's convolutional trunk down to 4x4, then two linear heads.
local Discriminator = nn.class("ACGANDiscriminator", nn.Module)
function Discriminator:__init(opts)
   nn.Module.__init(self)
   local ndf, size = opts.ndf or 64, opts.image_size or 32
   local trunk = dcgan.Discriminator { ndf = ndf, nc = opts.nc, image_size = size, norm = opts.norm }
   -- all of DCGAN's layers but the final 4x4 convolution and the flatten
   local layers = {}
   for i = 1, #trunk - 2 do layers[i] = trunk[i] end
   self.trunk = nn.Sequential(layers)
   self.drop = nn.Dropout(opts.dropout or 0)
   local feat = ndf * (size // 8) * 4 * 4   -- channels at 4x4: ndf * 2^(stages - 1), stages = log2(S) - 2
   self.source = nn.Linear(feat, 1)
   self.class = nn.Linear(feat, opts.n_classes or 10)
   for _, l in ipairs { self.source, self.class } do
      nn.init.normal_(l.weight, 0, 0.02)
      nn.init.zeros_(l.bias)
   end
end
function Discriminator:features(x) return self.drop(self.trunk(x):flatten(2)) end
function Discriminator:forward(x)
   local h = self:features(x)
   return self.source(h):reshape(x:size(1)), self.class(h)
end

--- opts: ndf (64), nc (1), image_size (32), n_classes (10), norm ("batch"), dropout (0).
function M.Discriminator(opts) return Discriminator(opts or {}) end

--- The discriminator's loss L_S + L_C: binary cross-entropy of the source logits (real
-- 1, fake 0) plus the cross-entropy of the class logits on real and on fake images, the
-- fakes judged against the classes they were asked for. fake_class_weight (1, the
-- paper) scales the fakes' class term; 0 trains D's class head on real images only.
function M.d_loss(src_real, cls_real, y_real, src_fake, cls_fake, y_fake, fake_class_weight)
   local w = fake_class_weight or 1
   local l_s = F.binary_cross_entropy_with_logits(src_real, src_real:detach() * 0 + 1)
      + F.binary_cross_entropy_with_logits(src_fake, src_fake:detach() * 0)
   local l_c = F.cross_entropy(cls_real, y_real)
   if w ~= 0 then l_c = l_c + F.cross_entropy(cls_fake, y_fake) * w end
   return l_s + l_c, l_s, l_c
end

--- The generator's loss in the non-saturating form: -log D_S(G(z, y)) (real target)
-- plus the class cross-entropy of its images, so G maximises L_C - L_S.
function M.g_loss(src_fake, cls_fake, y_fake)
   local l_s = F.binary_cross_entropy_with_logits(src_fake, src_fake:detach() * 0 + 1)
   local l_c = F.cross_entropy(cls_fake, y_fake)
   return l_s + l_c, l_s, l_c
end

--- The generator described by an experiment's resolved config, for `gan eval`.
function M.generator_from_config(cfg)
   return M.Generator { nz = cfg.model.nz, ngf = cfg.model.ngf, nc = 1, image_size = cfg.data.image_size }
end

return M
