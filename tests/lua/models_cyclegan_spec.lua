-- gan.models.cyclegan: the ResNet generator and PatchGAN discriminator of CycleGAN.
local gan = require("gan")
local cg = gan.models.cyclegan

local function n_params(m)
   local n = 0
   for _, p in ipairs(m:parameters()) do n = n + p:numel() end
   return n
end

describe("gan.models.cyclegan", function()
   before_each(function() gan.manual_seed(5) end)

   it("has the paper's parameter counts (11.378 M generator, 2.765 M discriminator at 64 filters)", function()
      -- the counts the reference implementation prints for resnet_9blocks and basic n_layers=3
      assert.are.equal(11378179, n_params(cg.ResnetGenerator { ngf = 64, n_blocks = 9 }))
      assert.are.equal(2764737, n_params(cg.PatchDiscriminator { ndf = 64 }))
   end)

   it("generator keeps the image size and ends in tanh; blocks are residual", function()
      local G = cg.ResnetGenerator { ngf = 8, n_blocks = 2 }
      local x = gan.rand { 2, 3, 32, 32 }:mul(2):sub(1)
      local y = G(x)
      assert.are.same({ 2, 3, 32, 32 }, y:size())
      assert(y:abs():max():item() <= 1)
      local block = cg.ResnetBlock(4)
      for _, p in ipairs(block:parameters()) do gan.no_grad(function() p:zero_() end) end
      local h = gan.randn { 1, 4, 6, 6 }
      -- with zero weights the residual branch is zero (instance norm of a constant): identity
      assert((block(h) - h):abs():max():item() < 1e-6)
   end)

   it("discriminator gives one logit per 70x70 patch: 30x30 on 256 pixels, 6x6 on 64", function()
      local D = cg.PatchDiscriminator { ndf = 4 }
      assert.are.same({ 1, 1, 30, 30 }, D(gan.zeros { 1, 3, 256, 256 }):size())
      assert.are.same({ 2, 1, 6, 6 }, D(gan.zeros { 2, 3, 64, 64 }):size())
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
