-- gan.nn.blocks: the ResNet generator, U-Net and PatchGAN discriminator (CycleGAN,
-- pix2pix) and DCGAN's networks: parameter counts against the reference implementations,
-- shapes, residual structure, initialisation.
local gan = require("gan")
local cg = gan.nn.blocks

local function n_params(m)
   local n = 0
   for _, p in ipairs(m:parameters()) do n = n + p:numel() end
   return n
end

describe("gan.nn.blocks: ResNet generator, U-Net, PatchGAN", function()
   before_each(function() gan.manual_seed(5) end)

   it("has the paper's parameter counts (11.378 M generator, 2.765 M discriminator at 64 filters)", function()
      -- the counts the reference implementation prints for resnet_9blocks and basic n_layers=3
      assert.are.equal(11378179, n_params(cg.ResnetGenerator { ngf = 64, n_blocks = 9 }))
      assert.are.equal(2764737, n_params(cg.PatchDiscriminator { ndf = 64 }))
   end)

   it("generator keeps the image size and ends in tanh; blocks are residual", function()
      local G = cg.ResnetGenerator { ngf = 8, n_blocks = 2 }
      for _, s in ipairs { { 2, 32, 32 }, { 1, 64, 64 }, { 1, 24, 40 } } do
         local x = gan.rand { s[1], 3, s[2], s[3] }:mul(2):sub(1)
         local y = G(x)
         assert.are.same({ s[1], 3, s[2], s[3] }, y:size())
         assert(y:abs():max():item() <= 1)
      end
      -- reflection padding inside the blocks: each 3x3 convolution sees a 1-pixel mirrored border
      local blk = G[11]   -- after c7s1 and two stride-2 convolutions (3 layers each), the first block
      assert.are.equal("ResidualBlock", getmetatable(blk).__name)
      assert.are.equal("ReflectionPad2d", getmetatable(blk.block[1]).__name)
      assert.are.equal("ReflectionPad2d", getmetatable(blk.block[5]).__name)
      local block = gan.nn.ResidualBlock(4)
      for _, p in ipairs(block:parameters()) do gan.no_grad(function() p:zero_() end) end
      local h = gan.randn { 1, 4, 6, 6 }
      -- with zero weights the residual branch is zero (instance norm of a constant): identity
      assert((block(h) - h):abs():max():item() < 1e-6)
   end)

   it("discriminator gives one logit per 70x70 patch: 30x30 on 256 pixels, 6x6 on 64", function()
      local D = cg.PatchDiscriminator { ndf = 4 }
      assert.are.same({ 1, 1, 30, 30 }, D(gan.zeros { 1, 3, 256, 256 }):size())
      assert.are.same({ 2, 1, 6, 6 }, D(gan.zeros { 2, 3, 64, 64 }):size())
      assert.are.same({ 1, 1, 2, 2 }, D(gan.zeros { 1, 3, 32, 32 }):size())
      -- two layers (34x34 patches): 6x6 logits on 32 pixels
      assert.are.same({ 1, 1, 6, 6 }, cg.PatchDiscriminator { ndf = 4, n_layers = 2 }(gan.zeros { 1, 3, 32, 32 }):size())
   end)

   it("U-Net generator: skip connections at every level, sizes 2^n_downs and larger", function()
      -- parameter counts of the same recipe built in PyTorch (pix2pix's UnetGenerator with
      -- instance norm, hence biased convolutions)
      assert.are.equal(458291, n_params(cg.UnetGenerator { ngf = 8, n_downs = 6 }))
      local U = cg.UnetGenerator { ngf = 4, n_downs = 7 }
      assert.are.equal(164187, n_params(U))
      U:eval()
      for _, s in ipairs { 128, 256 } do
         local y = U(gan.rand { 1, 3, s, s }:mul(2):sub(1))
         assert.are.same({ 1, 3, s, s }, y:size())
         assert(y:abs():max():item() <= 1)
      end
      assert.has_error(function() cg.UnetGenerator { n_downs = 4 } end, "UnetGenerator: n_downs must be >= 5, got 4")
   end)

   it("initialises convolution weights N(0, 0.02) and biases 0", function()
      local G = cg.ResnetGenerator { ngf = 16, n_blocks = 3 }
      local conv = G[2]
      assert.are.equal("Conv2d", getmetatable(conv).__name)
      local w = conv.weight
      assert(math.abs(w:mean():item()) < 0.005, "mean " .. w:mean():item())
      assert(math.abs(w:std():item() - 0.02) < 0.003, "std " .. w:std():item())
      assert.are.equal(0, conv.bias:abs():max():item())
   end)
end)

describe("gan.nn.blocks: DCGAN's networks", function()
   before_each(function() gan.manual_seed(5) end)

   it("G maps (N, nz, 1, 1) to images of the size asked; D gives one logit per image", function()
      for _, s in ipairs { 16, 32, 64 } do
         local G = cg.DCGANGenerator { nz = 6, ngf = 4, nc = 3, image_size = s }
         local x = G(gan.randn { 2, 6, 1, 1 })
         assert.are.same({ 2, 3, s, s }, x:size())
         assert(x:abs():max():item() <= 1)
         for _, norm in ipairs { "batch", "layer", "none" } do
            local D = cg.DCGANDiscriminator { ndf = 4, nc = 3, image_size = s, norm = norm }
            assert.are.same({ 2 }, D(x):size())
            local kinds = {}
            for _, m in D:named_modules() do kinds[getmetatable(m).__name] = true end
            assert.are.equal(norm == "batch", kinds.BatchNorm2d == true, norm)
            assert.are.equal(norm == "layer", kinds.LayerNorm == true, norm)
         end
      end
      assert.has_error(function() cg.DCGANGenerator { image_size = 24 } end,
         "DCGANGenerator: image_size must be a power of two >= 16, got 24")
   end)

   it("has DCGAN's parameter counts (the PyTorch DCGAN example at 64 pixels: 3.58 M and 2.77 M)", function()
      assert.are.equal(3576704, n_params(cg.DCGANGenerator { nz = 100, ngf = 64, nc = 3, image_size = 64 }))
      assert.are.equal(2765568, n_params(cg.DCGANDiscriminator { ndf = 64, nc = 3, image_size = 64 }))
   end)

   it("initialises with gan_normal: weights N(0, 0.02), batch-norm gains N(1, 0.02), biases 0", function()
      local G = cg.DCGANGenerator { nz = 64, ngf = 32, nc = 1, image_size = 32 }
      local w, bn = G[4].weight, G[5]
      assert(math.abs(w:std():item() - 0.02) < 0.002, "std " .. w:std():item())
      assert(math.abs(bn.weight:mean():item() - 1) < 0.01 and math.abs(bn.weight:std():item() - 0.02) < 0.006)
      assert.are.equal(0, bn.bias:abs():max():item())
      local D = cg.DCGANDiscriminator { ndf = 8, nc = 1, image_size = 16, norm = "none" }
      assert.are.equal(0, D[3].bias:abs():max():item(), "conv biases without batch norm start at 0")
   end)
end)
