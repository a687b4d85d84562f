-- XGAN (gan.models.xgan): the shared encoder top and decoder bottom, the loss terms and
-- their weights, retrieval through the embedding against hand-made embeddings, exact
-- resume.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local M = gan.models.get("xgan")

local function tiny(train)
   train.threads = 1
   gan.manual_seed(0)
   local model = M.new(H.config(M, { model = { ngf = 2, ndf = 2, dim = 8, n_layers = 2 }, data = { batch_size = 2 },
      train = train }))
   local g = gan.Generator(3)
   local a = gan.rand({ 4, 3, 64, 64 }, { generator = g }) * 2 - 1
   local b = gan.rand({ 4, 3, 64, 64 }, { generator = g }) * 2 - 1
   local ds = gan.data.paired(gan.data.TensorDataset { image = a }, gan.data.TensorDataset { image = b })
   return model, gan.data.DataLoader(ds, { batch_size = 2, generator = gan.Generator(5) })
end

describe("XGAN #release_only", function()
   H.single_threaded(setup, teardown)

   it("translates through one shared embedding: G_AB and G_BA share the encoder top and decoder bottom", function()
      local model = tiny {}
      assert.is_true(rawequal(model.G_AB[2], model.G_BA[2]) and rawequal(model.G_AB[2], model.enc_shared))
      assert.is_true(rawequal(model.G_AB[3], model.G_BA[3]) and rawequal(model.G_AB[3], model.dec_shared))
      local x = gan.randn { 2, 3, 64, 64 }
      local z = gan.no_grad(function() return model:embed(x, "A") end)
      assert.are.same({ 2, 8 }, z:size())
      local want = gan.no_grad(function() return model:decode(z, "B") end)
      assert.is_true(H.maxabs(gan.no_grad(model.G_AB, x) - want) < 1e-6)
   end)

   it("trains on reconstruction, domain confusion, semantic consistency and GAN terms, weighted", function()
      local model, loader = tiny { w_rec = 1, w_dann = 0.5, w_sem = 2, w_gan = 0.25 }
      local l = model:train_step(H.batches(loader), 1)
      for _, k in ipairs { "rec", "dann", "sem", "gan", "loss_c", "loss_d_a", "loss_d_b" } do assert.is_number(l[k], k) end
      local want = l.rec + 0.5 * l.dann + 2 * l.sem + 0.25 * l.gan
      assert.is_true(math.abs(l.loss_g - want) < 1e-5 * math.abs(want))
   end)

   it("semantic consistency: the mean L1 to the source's embedding, which gets no gradient", function()
      local et = gan.tensor({ { 1, -2 }, { 0.5, 3 } }):requires_grad_()
      local es = gan.tensor({ { 0, 0 }, { 1, 1 } }):requires_grad_()
      local loss = M.semantic_consistency(et, es)
      assert.are.equal((1 + 2 + 0.5 + 2) / 4, loss:item())
      loss:backward()
      assert.are.same({ { 0.25, -0.25 }, { -0.25, 0.25 } }, et.grad:totable())
      assert.is_nil(es.grad)
   end)

   it("retrieval: top-1 and top-5 from each style's embedding to the other's", function()
      -- 6 emoji; B's embeddings are A's except that emoji 2 and 3 swapped places
      local za = gan.tensor { { 0, 0 }, { 10, 0 }, { 20, 0 }, { 30, 0 }, { 40, 0 }, { 50, 0 } }
      local zb = gan.tensor { { 0, 1 }, { 20, 1 }, { 10, 1 }, { 30, 1 }, { 40, 1 }, { 50, 1 } }
      local r = M.retrieval(za, zb)
      assert.are.equal(4 / 6, r.top1_ab)   -- emoji 2 and 3 each find the other's counterpart first
      assert.are.equal(1, r.top5_ab)
      assert.are.equal(4 / 6, r.top1_ba)
      assert.are.equal(1, M.retrieval(za, za).top1_ab)
   end)

   it("resumes exactly", function()
      H.resumes_exactly(function() return tiny { steps = 4, log_every = 1, sample_every = 0, checkpoint_every = 2 } end, 4, 3)
   end)
end)
