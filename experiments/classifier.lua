--- Trains a reference classifier for gan.metrics and writes its weights next to
-- gan.metrics: digits of MNIST or Fashion-MNIST (32x32 images in [-1, 1], as the GANs
-- produce them), or the drawing style of emoji (emoji_style: Google = 0 against Twitter =
-- 1 at 64x64, on the code points drawn by both, test code points held out as CycleGAN
-- holds them out).
--
--     gan run experiments/classifier.lua --set data.name=mnist
--     gan run experiments/classifier.lua --set data.name=fashion_mnist --set train.epochs=8
--     gan run experiments/classifier.lua --set data.name=emoji_style --set train.epochs=10
local gan = require("gan")
local F, metrics = gan.F, require("gan.metrics")

local cfg = gan.config.from_args({
   data = { name = "mnist", batch_size = 128 },
   train = { epochs = 30, lr = 1e-3, seed = 1, threads = 2, shift = 2 },
   out = gan.config.optional("string"),
}, arg or {})
gan.set_num_threads(cfg.train.threads)
gan.manual_seed(cfg.train.seed)

-- An emoji style split as an in-memory dataset with fields image and label.
local function emoji_style(split)
   local imgs, labels = {}, {}
   for label, vendor in ipairs { "google", "twitter" } do
      local ds = gan.data.for_gan("emoji", { vendor = vendor, split = split, image_size = 64,
         require_vendors = { "google", "twitter" } })
      for i = 1, #ds do imgs[#imgs + 1] = ds:get(i).image; labels[#labels + 1] = label - 1 end
   end
   local images, lab = gan.stack(imgs, 1), gan.tensor(labels, { dtype = "int64" })
   local ds = gan.data.TensorDataset { image = images, label = lab }
   ds.images, ds.labels = images, lab
   return ds
end

local style = cfg.data.name == "emoji_style"
local size = style and 64 or 32
local function dataset(split)
   if style then return emoji_style(split) end
   return gan.data.for_gan(cfg.data.name, { split = split, image_size = 32 })
end
local train_ds, test_ds = dataset("train"), dataset("test")
local loader = gan.data.DataLoader(train_ds, { batch_size = cfg.data.batch_size, drop_last = false,
   generator = gan.Generator(cfg.train.seed) })
local model = style and metrics.Classifier { in_nc = 3, n_classes = 2, image_size = 64 } or metrics.Classifier()
local background = style and 1 or -1   -- emoji are composited on white, digits on black
local rev = {}
for i = 1, size do rev[i] = size - i end
local reversed = gan.tensor(rev, { dtype = "int64" })   -- column order of a horizontal flip
local opt = gan.optim.Adam(model:parameters(), { lr = cfg.train.lr })
local sched = gan.optim.lr_scheduler.CosineAnnealingLR(opt, { T_max = cfg.train.epochs })
local aug = gan.Generator(cfg.train.seed + 1)

-- Random translation of each image by up to `shift` pixels in each direction (and, for
-- emoji, a random horizontal flip: it does not change the style).
local function shift(x)
   local s = cfg.train.shift
   if s == 0 then return x end
   local n = x:size(1)
   local padded = F.pad(x, { s, s, s, s }, "constant", background)
   local d = gan.randint(0, 2 * s + 1, { n, 3 }, { generator = aug }):totable()
   local out = {}
   for i = 1, n do
      out[i] = padded[i]:narrow(2, d[i][1] + 1, size):narrow(3, d[i][2] + 1, size)
      if style and d[i][3] % 2 == 1 then out[i] = out[i]:index_select(3, reversed) end
   end
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
gan.save(out, { model = model:state_dict(), arch = model.arch, test_accuracy = acc, dataset = cfg.data.name,
   n_train = #train_ds, n_test = #test_ds, epochs = cfg.train.epochs })
print(("%s classifier: test accuracy %.4f on %d images; weights in %s"):format(cfg.data.name, acc, #test_ds, out))
