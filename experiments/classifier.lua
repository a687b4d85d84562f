--- Trains a reference classifier for gan.metrics on MNIST or Fashion-MNIST (32x32 images
-- in [-1, 1], as the GANs produce them) and writes its weights next to gan.metrics.
--
--     gan run experiments/classifier.lua --set data.name=mnist
--     gan run experiments/classifier.lua --set data.name=fashion_mnist --set train.epochs=8
local gan = require("gan")
local F, metrics = gan.F, require("gan.metrics")

local cfg = gan.config.from_args({
   data = { name = "mnist", batch_size = 128 },
   train = { epochs = 30, lr = 1e-3, seed = 1, threads = 2, shift = 2 },
   out = gan.config.optional("string"),
}, arg or {})
gan.set_num_threads(cfg.train.threads)
gan.manual_seed(cfg.train.seed)

local train_ds = gan.data.for_gan(cfg.data.name, { split = "train", image_size = 32 })
local test_ds = gan.data.for_gan(cfg.data.name, { split = "test", image_size = 32 })
local loader = gan.data.DataLoader(train_ds, { batch_size = cfg.data.batch_size, drop_last = false,
   generator = gan.Generator(cfg.train.seed) })
local model = metrics.Classifier()
local opt = gan.optim.Adam(model:parameters(), { lr = cfg.train.lr })
local sched = gan.optim.lr_scheduler.CosineAnnealingLR(opt, { T_max = cfg.train.epochs })
local aug = gan.Generator(cfg.train.seed + 1)

-- Random translation of each image by up to `shift` pixels in each direction.
local function shift(x)
   local s = cfg.train.shift
   if s == 0 then return x end
   local n = x:size(1)
   local padded = F.pad(x, { s, s, s, s }, "constant", -1)
   local d = gan.randint(0, 2 * s + 1, { n, 2 }, { generator = aug }):totable()
   local out = {}
   for i = 1, n do out[i] = padded[i]:narrow(2, d[i][1] + 1, 32):narrow(3, d[i][2] + 1, 32) end
   return gan.stack(out, 1)
end

local function accuracy(ds)
   model:eval()
   local _, probs = metrics.features(model, ds.images)
   model:train()
   return metrics.class_accuracy(probs, ds.labels)
end

local t0 = gan.clock()
for epoch = 1, cfg.train.epochs do
   local total, n = 0, 0
   for batch in loader do
      opt:zero_grad()
      local loss = F.cross_entropy(model(shift(batch.image)), batch.label)
      loss:backward()
      opt:step()
      total, n = total + loss:item(), n + 1
   end
   sched:step()
   print(("epoch %d/%d  loss %.4f  test accuracy %.4f  (%.0f s)"):format(epoch, cfg.train.epochs,
      total / n, accuracy(test_ds), gan.clock() - t0))
end
local acc = accuracy(test_ds)
local out = cfg.out or metrics.weights_path(cfg.data.name)
gan.save(out, { model = model:state_dict(), test_accuracy = acc, dataset = cfg.data.name,
   n_train = #train_ds, n_test = #test_ds, epochs = cfg.train.epochs })
print(("%s classifier: test accuracy %.4f on %d images; weights in %s"):format(cfg.data.name, acc, #test_ds, out))
