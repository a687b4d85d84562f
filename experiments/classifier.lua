--- Trains a reference classifier for gan.metrics and writes its weights next to
-- gan.metrics: digits of MNIST or Fashion-MNIST (32x32 images in [-1, 1], as the GANs
-- produce them), or the drawing style of emoji (emoji_style: Google = 0 against Twitter =
-- 1 at 64x64, on the code points drawn by both, test code points held out as CycleGAN
-- holds them out), or the category of emoji (emoji_category: the 9 categories of the
-- emoji drawn by all four vendors, at 32x32, test code points held out).
--
--     gan run experiments/classifier.lua --set data.name=mnist
--     gan run experiments/classifier.lua --set data.name=fashion_mnist --set train.epochs=8
--     gan run experiments/classifier.lua --set data.name=emoji_style --set train.epochs=10
--     gan run experiments/classifier.lua --set data.name=emoji_category --set train.epochs=30
local gan = require("gan")
local metrics = require("gan.metrics")

local range = gan.config.range
local cfg = gan.config.from_args({
   data = { name = gan.config.choice("mnist", { "mnist", "fashion_mnist", "emoji_style", "emoji_category" }),
      batch_size = range(128, "[1, inf)") },
   -- shift: random translations of up to this many pixels (augmentation)
   train = { epochs = range(30, "[1, inf)"), lr = range(1e-3, "[0, inf)"), seed = range(1, "[0, inf)"),
      threads = range(2, "[1, 1024]"), shift = range(2, "[0, inf)") },
   out = gan.config.optional("string"),   -- the weights' path (default: gan.metrics' own)
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
local emoji = style or cfg.data.name == "emoji_category"   -- emoji on white, flips allowed
local function dataset(split)
   if style then return emoji_style(split) end
   return gan.data.for_gan(cfg.data.name, { split = split, image_size = 32 })
end
local train_ds, test_ds = dataset("train"), dataset("test")
local function accuracy(model, ds)
   local _, probs = metrics.features(model, ds.images)
   return metrics.class_accuracy(probs, ds.labels)
end

local t0 = gan.clock()
local model = metrics.train_classifier(train_ds.images, train_ds.labels, {
   epochs = cfg.train.epochs, lr = cfg.train.lr, batch_size = cfg.data.batch_size, seed = cfg.train.seed,
   shift = cfg.train.shift, background = emoji and 1 or -1, flip = emoji, n_classes = train_ds.classes and
      #train_ds.classes or 2,
   on_epoch = function(epoch, loss, m)
      print(("epoch %d/%d  loss %.4f  test accuracy %.4f  (%.0f s)"):format(epoch, cfg.train.epochs, loss,
         accuracy(m, test_ds), gan.clock() - t0))
   end })
local acc = accuracy(model, test_ds)
local out = cfg.out or metrics.weights_path(cfg.data.name)
gan.save(out, { model = model:state_dict(), arch = model.arch, test_accuracy = acc, dataset = cfg.data.name,
   n_train = #train_ds, n_test = #test_ds, epochs = cfg.train.epochs })
print(("%s classifier: test accuracy %.4f on %d images; weights in %s"):format(cfg.data.name, acc, #test_ds, out))
