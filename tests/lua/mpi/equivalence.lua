-- Run by dist_spec, once as one process and once under mpirun -np 2: DCGAN's step with
-- synchronised batch norm, 20 Adam steps on a global batch of 64 (one process: 64; two:
-- 32 each). The latents are drawn as one global batch from a generator every rank
-- shares and sliced, so both runs see the same data and noise; the ranks' parameters
-- must stay bit-identical. Writes rank 0's parameters to arg[1]; prints "equal ranks"
-- (or the differing count) and "done".
local gan = require("gan")
local dist = gan.dist
dist.init()
gan.set_num_threads(1)
local out = assert(arg[1], "usage: equivalence.lua OUT.safetensors")
local dcgan = gan.models.dcgan

local M = dcgan:extend { name = "dcgan_sliced", summary = "DCGAN with globally drawn latents", paper = "test" }
function M:latent(n, g)
   if g ~= self.rng then return dcgan.latent(self, n, g) end
   self.shared = self.shared or gan.Generator(1234)
   return dist.slice(gan.randn({ n * dist.world_size(), self.cfg.model.nz, 1, 1 }, { generator = self.shared }))
end

local cfg = gan.config.resolve(M.defaults, { values = {
   model = { nz = 8, ngf = 4, ndf = 4, sync_bn = true }, data = { image_size = 16, batch_size = 64 },
   train = { steps = 20, threads = 1, sample_every = 0, checkpoint_every = 0 } } })
gan.manual_seed(0)
local images = gan.rand({ 256, 1, 16, 16 }, { generator = gan.Generator(5) }) * 2 - 1
local w = dist.world_size()
local loader = gan.data.DataLoader(gan.data.TensorDataset { image = images }, { batch_size = 64,
   generator = gan.Generator(7), shard = w > 1 and { dist.rank(), w } or nil })
local model = M.new(cfg)
gan.train.fit(model, { data = loader })

local flat = {}
for _, net in ipairs { model.G, model.D } do
   for _, p in ipairs(net:parameters()) do flat[#flat + 1] = p:detach():reshape(-1) end
   for _, b in ipairs(net:buffers()) do
      if b.dtype == "float32" then flat[#flat + 1] = b:reshape(-1) end
   end
end
flat = gan.cat(flat, 1):reshape(1, -1)
if w > 1 then
   local all = dist.all_gather(flat)
   local differ = (all[1] - all[2]):ne(0):sum():item()
   if dist.is_main() then print(differ == 0 and "equal ranks" or ("ranks differ in %d values"):format(differ)) end
end
if dist.is_main() then gan.save(out, { params = flat:reshape(-1):contiguous() }) end
print("done")
