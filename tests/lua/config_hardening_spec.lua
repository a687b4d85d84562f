-- Issue 25, configs: every value has a declared range or choice set next to its default
-- (config.range, config.choice, config.valid, config.optional), checked when the config
-- is resolved, before a run directory exists; YAML aliases cannot blow up; an empty file
-- is reported; config.describe lists the declarations.
local gan = require("gan")
local config = gan.config

local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "hardening_helpers.lua")
local tmpdir, rmdir, write_all, exists = H.tmpdir, H.rmdir, H.write_all, H.exists
local err_of = H.err_of   -- the message of f(...)'s error, raised at the caller

-- The message of a config error: config errors carry no position (they begin with the
-- file and line, or the --set, that was wrong).
local function cfg_err(f, ...)
   local ok, e = pcall(f, ...)
   assert.is_false(ok, "expected an error")
   return e
end

local dcgan = gan.models.dcgan

-- The error of resolving dcgan's config with these --set overrides.
local function set_err(...)
   return cfg_err(config.from_args, dcgan.defaults, { ... })
end

describe("values that used to be accepted silently", function()
   it("learning rates that are negative, NaN or infinite", function()
      assert.are.equal("--set train.lr_g=-1: train.lr_g: expected a number in [0, inf), got -1.0",
         set_err("--set", "train.lr_g=-1"))
      assert.are.equal("--set train.lr_d=.nan: train.lr_d: expected a number in [0, inf), got .nan",
         set_err("--set", "train.lr_d=.nan"))
      assert.are.equal("--set train.lr_g=.inf: train.lr_g: expected a number in [0, inf), got .inf",
         set_err("--set", "train.lr_g=.inf"))
      assert.are.equal("--set train.lr=-1e-3: train.lr: expected a number in [0, inf), got -0.001",
         cfg_err(config.from_args, gan.models.cyclegan.defaults, { "--set", "train.lr=-1e-3" }))
   end)

   it("label_smoothing 2.0, nz 0, negative checkpoint_every and sample_every, beta1 1.5", function()
      assert.are.equal("--set train.label_smoothing=2.0: train.label_smoothing: expected a number in [0, 1), got 2.0",
         set_err("--set", "train.label_smoothing=2.0"))
      assert.are.equal("--set model.nz=0: model.nz: expected an integer in [1, inf), got 0", set_err("--set", "model.nz=0"))
      assert.are.equal("--set train.checkpoint_every=-1: train.checkpoint_every: expected an integer in [0, inf), got -1",
         set_err("--set", "train.checkpoint_every=-1"))
      assert.are.equal("--set train.sample_every=-10: train.sample_every: expected an integer in [0, inf), got -10",
         set_err("--set", "train.sample_every=-10"))
      assert.are.equal("--set train.beta1=1.5: train.beta1: expected a number in [0, 1), got 1.5",
         set_err("--set", "train.beta1=1.5"))
   end)

   it("log_every 0 and r1_every 0 (which ended in 'n%0' after training started)", function()
      assert.are.equal("--set train.log_every=0: train.log_every: expected an integer in [1, inf), got 0",
         set_err("--set", "train.log_every=0"))
      assert.are.equal("--set train.r1_every=0: train.r1_every: expected an integer in [1, inf), got 0",
         set_err("--set", "train.r1=1.0", "--set", "train.r1_every=0"))
   end)

   it("threads -3 and run names that are not one directory name", function()
      assert.are.equal("--set train.threads=-3: train.threads: expected an integer in [0, 1024], got -3",
         set_err("--set", "train.threads=-3"))
      local rule = "a directory name (letters, digits, '_', '.', '-'; starting with a letter, digit or '_')"
      for _, bad in ipairs { "a/b", "../x", "..", ".hidden", "" } do
         assert.are.equal(("--set run.name='%s': run.name: expected %s, got '%s'"):format(bad, rule, bad),
            set_err("--set", ("run.name='%s'"):format(bad)))
      end
      local dir = tmpdir()
      assert.are.equal(("gan.run.new: name must be %s, got '../x'"):format(rule),
         err_of(gan.run.new, { experiment = "e", root = dir, name = "../x" }))
      assert.is_false(exists(dir .. "/x"))
      rmdir(dir)
   end)

   it("the same checks for files, with the file and line", function()
      local dir = tmpdir()
      local f = dir .. "/bad.yaml"
      write_all(f, "train:\n  steps: 10\n  lr_g: -0.5\n")
      assert.are.equal(f .. ":3: train.lr_g: expected a number in [0, inf), got -0.5",
         cfg_err(config.resolve, dcgan.defaults, { file = f }))
      rmdir(dir)
   end)

   it("an empty config file is reported (it changes nothing)", function()
      local dir = tmpdir()
      for i, text in ipairs { "", "# only a comment\n", "~\n" } do
         local f = dir .. "/empty" .. i .. ".yaml"
         write_all(f, text)
         local notes = {}
         local cfg = config.resolve(dcgan.defaults, { file = f, note = function(m) notes[#notes + 1] = m end })
         assert.are.same({ f .. " has no settings (it is empty or all comments): the defaults are used" }, notes)
         assert.are.same(config.resolve(dcgan.defaults), cfg)
      end
      local notes = {}
      write_all(dir .. "/braces.yaml", "{}\n")   -- explicitly nothing: no note
      config.resolve(dcgan.defaults, { file = dir .. "/braces.yaml", note = function(m) notes[#notes + 1] = m end })
      assert.are.same({}, notes)
      rmdir(dir)
   end)
end)

describe("a failing start leaves no run directory and names the key", function()
   local dir
   before_each(function() dir = tmpdir() end)
   after_each(function() rmdir(dir) end)

   -- A tiny dataset, so that failures inside the model's build come quickly.
   local function tiny() return gan.data.TensorDataset { image = gan.zeros { 4, 1, 32, 32 } } end

   local function start(...)
      local argv = { "--set", "run.root=" .. dir, ... }
      argv[0] = "exp.lua"
      return err_of(gan.train.experiment, { model = "dcgan", argv = argv, dataset = tiny })
   end

   it("steps -5, batch_size 0, an unknown data set or loss, image_size 30, beta1 1.5", function()
      local cases = {
         { "train.steps=-5", "train.steps: expected an integer in [1, inf), got -5" },
         { "data.batch_size=0", "data.batch_size: expected an integer in [1, inf), got 0" },
         { "data.name=nosuch", "data.name: expected mnist, fashion_mnist, stacked_mnist, emoji, emoji_category or a directory of "
            .. "images, got 'nosuch'" },
         -- 2-d points are for the MLP models (vanilla_gan, unrolled_gan), not DCGAN's convolutions
         { "data.name=ring8", "data.name: expected mnist, fashion_mnist, stacked_mnist, emoji, emoji_category or a directory of "
            .. "images, got 'ring8'" },
         { "train.loss=wasserstein", "train.loss: expected a loss of gan.losses: nonsaturating, minimax, lsgan, "
            .. "wgan, hinge or one registered with gan.losses.register, got 'wasserstein'" },
         { "data.image_size=30", "data.image_size: expected one of 16, 32, 64, 128, 256, 512, got 30" },
         { "train.beta1=1.5", "train.beta1: expected a number in [0, 1), got 1.5" },
      }
      for _, c in ipairs(cases) do
         assert.are.equal("--set " .. c[1] .. ": " .. c[2], start("--set", c[1]))
         assert.is_false(exists(dir .. "/exp"), "a run directory was left for " .. c[1])
      end
   end)

   it("a check of the model's build (decay_start after steps) also comes before the run directory", function()
      assert.are.equal("dcgan: train.decay_start must be between 0 and train.steps (600), got 700",
         start("--set", "train.decay_start=700"))
      assert.is_false(exists(dir .. "/exp"))
      assert.are.equal("exp: model.name is 'cgan', but this experiment trains 'dcgan'", start("--set", "model.name=cgan"))
      assert.is_false(exists(dir .. "/exp"))
   end)

   it("CycleGAN's image size against its networks' depths (the first step failed inside a conv)", function()
      local function cyclegan(...)
         local argv = { "--set", "run.root=" .. dir, ... }
         argv[0] = "exp.lua"
         return err_of(gan.train.experiment, { model = "cyclegan", argv = argv, dataset = tiny })
      end
      assert.are.equal("cyclegan: data.image_size (16) is too small for the discriminator's model.n_layers (3): it "
         .. "needs at least 24", cyclegan("--set", "data.image_size=16"))
      assert.are.equal("cyclegan: data.image_size (32) is too small for the U-Net's model.n_downs (6): it needs at "
         .. "least 64", cyclegan("--set", "data.image_size=32", "--set", "model.generator=unet"))
      assert.are.equal("cyclegan: data.image_size (64) is too small for the discriminator's model.n_layers (1000000000): "
         .. "it needs at least 3 * 2^1000000000", cyclegan("--set", "model.n_layers=1000000000"))
      assert.is_false(exists(dir .. "/exp"))
   end)
end)

describe("a class count other than the data's", function()
   it("is refused before the run directory, not by a label past the embedding in the first step", function()
      local dir = tmpdir()
      local argv = { "--set", "run.root=" .. dir, "--set", "model.n_classes=5" }
      argv[0] = "exp.lua"
      assert.are.equal("acgan: mnist has 10 classes, but model.n_classes is 5",
         err_of(gan.train.experiment, { model = "acgan", argv = argv }))
      assert.is_false(exists(dir .. "/exp"))
      rmdir(dir)
      -- the check every class-conditional model's dataset makes (acgan, cgan, sagan, biggan,
      -- cvae, gated_pixelcnn)
      local check = require("gan.train.model").check_classes
      local cfg = config.resolve(gan.models.cgan.defaults)
      local three = { labels = gan.zeros({ 3 }, { dtype = "int64" }), classes = { "a", "b", "c" } }
      assert.are.equal("cgan: mnist has 3 classes, but model.n_classes is 10", err_of(check, three, cfg))
      assert.are.equal("cgan: data.name 'mnist' has no class labels; a class-conditional model needs them",
         err_of(check, { images = gan.zeros { 3, 1, 2, 2 } }, cfg))
      cfg.model.n_classes = 3
      assert.are.equal(three, check(three, cfg))
   end)
end)

describe("YAML aliases", function()
   it("cannot expand a small file into billions of values", function()
      local dir = tmpdir()
      local lines = { "a0: &a0 [x, x, x, x, x, x, x, x, x, x]" }
      for i = 1, 9 do
         lines[#lines + 1] = ("a%d: &a%d [%s]"):format(i, i, ("*a%d, "):rep(9):format(i - 1, i - 1, i - 1, i - 1,
            i - 1, i - 1, i - 1, i - 1, i - 1) .. "*a" .. (i - 1))
      end
      local f = dir .. "/laughs.yaml"
      write_all(f, table.concat(lines, "\n") .. "\n")
      local t0 = gan.clock()
      assert.are.equal(f .. ":5: the YAML expands to more than 100000 values through its aliases", cfg_err(config.load, f))
      assert.are.equal(f .. ":5: the YAML expands to more than 100000 values through its aliases",
         cfg_err(config.resolve, dcgan.defaults, { file = f }))
      assert.is_true(gan.clock() - t0 < 1)
      write_all(f, "a: &x [1, *x]\n")
      assert.are.equal(f .. ":1: alias *x refers to a node that contains it", cfg_err(config.load, f))
      -- ordinary aliases still work
      write_all(f, "train: &t {steps: 7}\nother: *t\n")
      assert.are.same({ train = { steps = 7 }, other = { steps = 7 } }, config.load(f))
      rmdir(dir)
   end)
end)

describe("declared ranges and choices", function()
   it("config.range, config.choice, config.valid and config.optional check values and unwrap to plain ones", function()
      local is_even = function(v) return v % 2 == 0 end
      local defaults = {
         lr = config.range(0.1, "(0, 1]"), steps = config.range(10, "[1, inf)"),
         betas = config.range({ 0.5, 0.9 }, "[0, 1)"), mode = config.choice("a", { "a", "b" }),
         even = config.valid(2, is_even, "an even number"), max = config.optional("integer", "[1, 100]"),
         sub = { k = config.choice(1, { 1, 2, 3 }) },
      }
      local cfg = config.resolve(defaults)
      assert.are.same({ lr = 0.1, steps = 10, betas = { 0.5, 0.9 }, mode = "a", even = 2, sub = { k = 1 } }, cfg)
      local function walk(t)
         assert.is_nil(getmetatable(t))
         for _, v in pairs(t) do if type(v) == "table" then walk(v) end end
      end
      walk(cfg)
      assert.are.equal("lr: 0.5\nmode: b\n", config.dump(config.resolve({ lr = defaults.lr, mode = defaults.mode },
         { overrides = { "lr=0.5", "mode=b" } })))
      local function o(...) return cfg_err(config.resolve, defaults, { overrides = { ... } }) end
      assert.are.equal("--set lr=0: lr: expected a number in (0, 1], got 0.0", o("lr=0"))
      assert.are.equal("--set betas=[0.5, 1.0]: betas[2]: expected numbers in [0, 1), got 1.0", o("betas=[0.5, 1.0]"))
      assert.are.equal("--set mode=c: mode: expected one of 'a', 'b', got 'c'", o("mode=c"))
      assert.are.equal("--set even=3: even: expected an even number, got 3", o("even=3"))
      assert.are.equal("--set max=0: max: expected an integer in [1, 100], got 0", o("max=0"))
      assert.are.equal("--set sub.k=4: sub.k: expected one of 1, 2, 3, got 4", o("sub.k=4"))
      assert.are.equal("--set steps=1.5: steps: expected an integer, got float 1.5", o("steps=1.5"))
      assert.is_nil(config.resolve(defaults, { overrides = { "max=5", "max=null" } }).max)
   end)

   it("a default outside its own range is an error where it is declared", function()
      assert.are.equal("config.range: the default does not fit: expected a number in [0, 1), got 1.0",
         err_of(config.range, 1.0, "[0, 1)"))
      assert.are.equal("config.range: an interval looks like \"[0, 1)\" or \"[1, inf)\", got '0..1'",
         err_of(config.range, 0.5, "0..1"))
      assert.are.equal("config.choice: the default does not fit: expected one of 'x', got 'y'",
         err_of(config.choice, "y", { "x" }))
   end)

   it("a model that changes a default keeps the range, and the new default must fit it", function()
      local base = { train = { lr = config.range(0.1, "[0, inf)") } }
      local merged = config.merge(base, { train = { lr = 0.5 } })
      assert.are.equal(0.5, config.resolve(merged).train.lr)
      assert.are.equal("--set train.lr=-1: train.lr: expected a number in [0, inf), got -1.0",
         cfg_err(config.resolve, merged, { overrides = { "train.lr=-1" } }))
      assert.are.equal("config.merge: train.lr: the default does not fit: expected a number in [0, inf), got -0.5",
         err_of(config.merge, base, { train = { lr = -0.5 } }))
      -- WGAN-GP only changes DCGAN's defaults: its ranges are DCGAN's
      assert.are.equal("--set train.n_critic=0: train.n_critic: expected an integer in [1, inf), got 0",
         cfg_err(config.from_args, gan.models.wgan_gp.defaults, { "--set", "train.n_critic=0" }))
   end)

   it("every model declares what each of its values allows; config.describe lists them", function()
      local names = gan.models.names()
      names[#names + 1] = "_template"
      -- a path: any string; the model's own name (gan.train.experiment refuses another)
      local free = { ["run.root"] = true, ["model.name"] = true }
      for _, n in ipairs(names) do
         local M = require("gan.models." .. n)
         local cfg = config.resolve(M.defaults)   -- the defaults satisfy their own declarations
         assert.are.equal(n, cfg.model.name)
         for _, e in ipairs(config.describe(M.defaults)) do
            if e.type ~= "boolean" and not free[e.key] then
               assert.is_not_nil(e.allowed, n .. ": " .. e.key .. " declares no range or choices")
            end
         end
      end
      local by_key = {}
      for _, e in ipairs(config.describe(dcgan.defaults)) do by_key[e.key] = e end
      assert.are.same({ key = "train.lr_g", type = "number", default = 2e-4, optional = false,
         allowed = "a number in [0, inf)", interval = "[0, inf)" }, by_key["train.lr_g"])
      local losses_text = "a loss of gan.losses: nonsaturating, minimax, lsgan, wgan, hinge or one registered with "
         .. "gan.losses.register"
      assert.are.same({ key = "train.loss", type = "string", default = "nonsaturating", optional = false,
         allowed = losses_text, what = losses_text }, by_key["train.loss"])
      assert.are.equal("string", by_key["data.split"].type)
      assert.is_true(by_key["data.split"].optional)
      assert.is_nil(by_key["data.split"].default)
      assert.are.equal("mnist, fashion_mnist, stacked_mnist, emoji, emoji_category or a directory of images", by_key["data.name"].allowed)
      local vanilla = {}
      for _, e in ipairs(config.describe(gan.models.vanilla_gan.defaults)) do vanilla[e.key] = e end
      assert.are.equal("mnist, fashion_mnist, stacked_mnist, emoji, emoji_category, ring8, grid25 or a directory of images",
         vanilla["data.name"].allowed)
   end)
end)
