-- The gan command line, run as a subprocess: version, help, run (arguments, errors,
-- os.exit), unknown commands.
local C = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "cli_helpers.lua")

describe("gan version", function()
   it("prints gan and the version from gan.version", function()
      local r = C.gan_run({"version"})
      assert.are.equal(0, r.code)
      assert.are.equal("gan " .. require("gan.version") .. "\n", r.stdout)
      assert.are.equal("0.1.0", require("gan.version"))
   end)

   it("also answers --version", function()
      local r = C.gan_run({"--version"})
      assert.are.equal(0, r.code)
      assert.are.equal("gan 0.1.0\n", r.stdout)
   end)
end)

describe("gan help", function()
   for _, form in ipairs({{"help"}, {"--help"}}) do
      it("`gan " .. form[1] .. "` prints usage listing the commands", function()
         local r = C.gan_run(form)
         assert.are.equal(0, r.code)
         assert.matches("Usage: gan", r.stdout, 1, true)
         for _, command in ipairs({"run", "version", "help"}) do
            assert.matches("\n%s+" .. command .. "%s", r.stdout)
         end
         assert.matches("REPL", r.stdout, 1, true)
      end)
   end

   it("describes one command", function()
      local r = C.gan_run({"help", "run"})
      assert.are.equal(0, r.code)
      assert.matches("Usage: gan run", r.stdout, 1, true)
      assert.matches("script", r.stdout, 1, true)
   end)
end)

describe("gan run", function()
   it("passes arguments through untouched, options included, as arg and ...", function()
      local script = C.script([[
         local dots = table.concat({...}, "|")
         local args = {}
         for i = 0, #arg do args[#args + 1] = arg[i] end
         print(table.concat(args, "|"))
         print(dots)
         print(arg[-1])
      ]])
      local r = C.gan_run({"run", script, "a", "--foo", "-h", "two words", "--", "--help"})
      assert.are.equal("", r.stderr)
      assert.are.equal(0, r.code)
      local lines = {}
      for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.are.equal(script .. "|a|--foo|-h|two words|--|--help", lines[1])
      assert.are.equal("a|--foo|-h|two words|--|--help", lines[2])
      assert.are.equal("run", lines[3])
      os.remove(script)
   end)

   it("makes require 'gan' available", function()
      local script = C.script([[
         local gan = require "gan"
         print("version " .. gan.version)
      ]])
      local r = C.gan_run({"run", script})
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("version 0.1.0\n", r.stdout)
      os.remove(script)
   end)

   it("exits 1 with the message and a traceback on stderr when the script fails", function()
      local script = C.script([[
         local function inner() error("something broke") end
         print("before")
         inner()
      ]])
      local r = C.gan_run({"run", script})
      assert.are.equal(1, r.code)
      assert.are.equal("before\n", r.stdout)
      assert.matches("something broke", r.stderr, 1, true)
      assert.matches("stack traceback:", r.stderr, 1, true)
      assert.matches("in local 'inner'", r.stderr, 1, true)
      assert.matches("in main chunk", r.stderr, 1, true)
      os.remove(script)
   end)

   it("exits with the status given to os.exit", function()
      local script = C.script("print('bye') os.exit(7)")
      local r = C.gan_run({"run", script})
      assert.are.equal(7, r.code)
      assert.are.equal("bye\n", r.stdout)
      os.remove(script)
   end)

   it("reports a script that does not exist", function()
      local r = C.gan_run({"run", "/nonexistent/nothing.lua"})
      assert.are.equal(1, r.code)
      assert.matches("nothing.lua", r.stderr, 1, true)
   end)

   it("reports a syntax error in the script", function()
      local script = C.script("x = = 1")
      local r = C.gan_run({"run", script})
      assert.are.equal(1, r.code)
      assert.matches("unexpected symbol", r.stderr, 1, true)
      os.remove(script)
   end)

   it("needs a script", function()
      local r = C.gan_run({"run"})
      assert.are.equal(2, r.code)
      assert.matches("missing argument 'script'", r.stderr, 1, true)
   end)
end)

describe("unknown commands", function()
   it("exit 2 with a clear message", function()
      local r = C.gan_run({"frobnicate"})
      assert.are.equal(2, r.code)
      assert.are.equal("", r.stdout)
      assert.matches("unknown command 'frobnicate'", r.stderr, 1, true)
      assert.matches("gan help", r.stderr, 1, true)
   end)

   it("suggest gan run for a script name", function()
      local r = C.gan_run({"train.lua"})
      assert.are.equal(2, r.code)
      assert.matches("gan run train.lua", r.stderr, 1, true)
   end)
end)

describe("bin/gan", function()
   it("finds its source tree through a symlink", function()
      local dir = os.tmpname()
      os.remove(dir)
      assert(os.execute("mkdir -p " .. C.quote(dir .. "/bin")))
      assert(os.execute(("ln -s %s %s"):format(C.quote(C.gan), C.quote(dir .. "/bin/gan"))))
      -- From another directory and without LUA_PATH, so only the link can lead to lua/.
      local r = C.sh(("cd / && env -u LUA_PATH -u LUA_PATH_5_4 %s version")
         :format(C.quote(dir .. "/bin/gan")))
      os.execute("rm -rf " .. C.quote(dir))
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("gan 0.1.0\n", r.stdout)
   end)
end)

describe("experiment scripts on the command line #release_only", function()
   local function tmp()
      local d = os.tmpname()
      os.remove(d)
      return d
   end

   it("--help lists the options and every key with its default and range, and trains nothing", function()
      local root = tmp()
      local r = C.gan_run({ "run", C.root .. "/experiments/dcgan.lua", "--help", "--set", "run.root=" .. root })
      assert.are.equal(0, r.code, r.stderr)
      assert.matches("^usage: gan run .-experiments/dcgan.lua %[%-%-config FILE%]", r.stdout)
      assert.matches("\n  %-%-resume RUN_DIR ", r.stdout)
      assert.matches("\n  train.steps%s+600%s+an integer in %[1, inf%)\n", r.stdout)
      assert.matches("\n  train.loss%s+'nonsaturating'%s+a loss of gan.losses", r.stdout)
      assert.matches("\n  train.optimizer%s+'adam'%s+one of 'adam', 'rmsprop'\n", r.stdout)
      assert.is_nil(io.open(root, "r"), "no run directory")
   end)

   it("refuses an argument it does not take (the old --steps 100), with the key it may mean, and writes nothing", function()
      local root = tmp()
      local r = C.gan_run({ "run", C.root .. "/experiments/dcgan.lua", "--steps", "100", "--set", "run.root=" .. root })
      assert.are.equal(1, r.code)
      assert.are.equal("gan: unknown argument '--steps' (did you mean --set train.steps=...?); this script takes "
         .. "--config FILE, --set KEY=VALUE, --resume, --strict-health and --help (which lists every key)\n", r.stderr)
      assert.is_nil(io.open(root, "r"), "no run directory")
   end)

   it("a data set smaller than one batch is refused before a run directory exists, so a retry says the same", function()
      local root, data = tmp(), tmp()
      local script = C.script(([[
         local gan = require "gan"
         os.execute("mkdir -p %s")
         for i = 1, 3 do gan.image.save(("%s/%%d.png"):format(i), gan.rand { 3, 8, 8 }) end
      ]]):format(data, data))
      assert.are.equal(0, C.gan_run({ "run", script }).code)
      for _ = 1, 2 do
         local r = C.gan_run({ "run", C.root .. "/experiments/dcgan.lua", "--set", "data.name=" .. data,
            "--set", "run.root=" .. root, "--set", "run.name=small" })
         assert.are.equal(1, r.code)
         assert.are.equal("gan: dcgan: data.batch_size is 64 but the training data has 3 samples: not one batch; "
            .. "lower data.batch_size\n", r.stderr)
         assert.is_nil(io.open(root, "r"), "no run directory")
      end
      os.execute("rm -rf '" .. data .. "'")
      os.remove(script)
   end)

   it("a bad setting is one line naming the key, without a traceback", function()
      local r = C.gan_run({ "run", C.root .. "/experiments/dcgan.lua", "--set", "train.steps=-5" })
      assert.are.equal(1, r.code)
      assert.matches("^gan: [^\n]*train.steps: expected an integer in %[1, inf%), got %-5\n$", r.stderr)
   end)

   it("a config file that is not YAML settings, or a --resume that is not a run, is one line", function()
      -- a bad value in a YAML file: its position is the file's line, not a traceback's
      local yaml = tmp() .. ".yaml"
      local f = assert(io.open(yaml, "wb"))
      f:write("train:\n  steps: abc\n")
      f:close()
      local r = C.gan_run({ "run", C.root .. "/experiments/dcgan.lua", "--config", yaml })
      assert.are.equal(1, r.code)
      assert.are.equal(("gan: %s:2: train.steps: expected an integer, got string \"abc\"\n"):format(yaml), r.stderr)
      -- a long text that is no mapping is shown by its first 60 characters
      f = assert(io.open(yaml, "wb"))
      f:write(string.rep("x", 100), "\n")
      f:close()
      r = C.gan_run({ "run", C.root .. "/experiments/dcgan.lua", "--config", yaml })
      assert.are.equal(1, r.code)
      assert.are.equal(("gan: %s:1: the top level must be a mapping, got string \"%s\"... (100 characters)\n")
         :format(yaml, string.rep("x", 60)), r.stderr)
      os.remove(yaml)
      local nothing = tmp()
      r = C.gan_run({ "run", C.root .. "/experiments/dcgan.lua", "--resume", nothing })
      assert.are.equal(1, r.code)
      assert.are.equal(("gan: dcgan: --resume %s: no config.yaml there, so not a run directory\n"):format(nothing),
         r.stderr)
   end)

   it("an error inside a Sequential names the layer; the traceback shows the user's lines, not gan's", function()
      local script = C.script([[
         local gan = require "gan"
         local net = gan.nn.Sequential { gan.nn.Linear(3, 4), gan.nn.ReLU(), gan.nn.Linear(5, 1) }
         local function run()
            local y = net(gan.randn { 2, 3 })
            return y
         end
         run()
      ]])
      local r = C.gan_run({ "run", script })
      assert.are.equal(1, r.code)
      -- the message starts at the user's line that called the network
      assert.matches("^gan: [^\n]*lua_[^\n]*%.lua:4: Sequential%[3%] %(Linear%): linear: input %(2, 4%)", r.stderr)
      assert.matches("stack traceback:", r.stderr, 1, true)
      assert.matches("in local 'run'", r.stderr, 1, true)
      assert.matches("in main chunk", r.stderr, 1, true)
      assert.is_nil(r.stderr:find("lua/gan/", 1, true), r.stderr)
      assert.is_nil(r.stderr:find("[C]:", 1, true), r.stderr)
      os.remove(script)
   end)
end)

describe("gan eval on a run of one's own experiment #release_only", function()
   it("rebuilds a model class and a loss the script defined, without training", function()
      local root = os.tmpname()
      os.remove(root)
      local script = C.script(([[
         local gan = require "gan"
         local bce = function(x, t) return gan.F.binary_cross_entropy_with_logits(x, x:detach() * 0 + t) end
         gan.losses.register("my_rahinge", {
            d = function(c) return (1 - (c.d_real - c.d_fake:mean())):relu():mean() + (1 + (c.d_fake - c.d_real:mean())):relu():mean() end,
            g = function(c) return bce(c.d_fake - c.d_real:mean(), 1) end,
         })
         local M = gan.models.dcgan:extend { name = "my_gan", summary = "mine", paper = "none" }
         gan.train.experiment { model = M, argv = arg, defaults = { train = { loss = "my_rahinge", steps = 2,
            sample_every = 0, checkpoint_every = 2 }, run = { root = %q, name = "mine" } } }
      ]]):format(root))
      local r = C.gan_run({ "run", script })
      assert.are.equal(0, r.code, r.stderr)
      local e = C.gan_run({ "eval", root .. "/" .. script:match("([^/]+)%.lua$") .. "/mine", "--n", "100" })
      assert.are.equal(0, e.code, e.stderr)
      assert.matches("\nfid%s+[%d.]+\n", e.stdout)
      assert.matches("step%s+2\n", e.stdout)
      os.execute("rm -rf '" .. root .. "'")
      os.remove(script)
   end)
end)

describe("gan sample and gan interpolate #release_only", function()
   local root, dir
   setup(function()
      root = os.tmpname()
      os.remove(root)
      local r = C.gan_run({ "run", C.root .. "/experiments/dcgan.lua", "--set", "train.steps=2", "--set",
         "train.checkpoint_every=2", "--set", "train.sample_every=0", "--set", "run.root=" .. root, "--set", "run.name=s" })
      assert.are.equal(0, r.code, r.stderr)
      dir = root .. "/dcgan/s"
   end)
   teardown(function() os.execute("rm -rf '" .. root .. "'") end)

   it("writes n samples of the run's generator as a sheet; the same seed gives the same file", function()
      local r = C.gan_run({ "sample", dir, "-n", "16", "--seed", "2" })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal(("gan sample: 16 images -> %s/sample_s2.png\n"):format(dir), r.stdout)
      local gan = require("gan")
      local a = gan.image.load(dir .. "/sample_s2.png")
      assert.are.equal(3, a:dim())
      local out2 = dir .. "/again.png"
      assert.are.equal(0, C.gan_run({ "sample", dir, "-n", "16", "--seed", "2", "--out", out2 }).code)
      assert.are.equal(0, (a - gan.image.load(out2)):abs():max():item())
      assert.are.equal(0, C.gan_run({ "sample", dir, "-n", "16", "--seed", "3", "--out", out2 }).code)
      assert((a - gan.image.load(out2)):abs():max():item() > 0)
   end)

   it("interpolates: each row runs from G(z_a) to G(z_b) through G of the mixed latents", function()
      local gan = require("gan")
      local S = require("gan.sample")
      local imgs, steps = S.interpolate(dir, { rows = 2, steps = 3, seed = 4 })
      assert.are.equal(3, steps)
      assert.are.equal(6, imgs:size(1))
      local model = gan.eval.load(dir)
      local G = model:sampler("G")
      local z = model:latent(4, gan.Generator(4))
      local a, b = z:narrow(1, 1, 2), z:narrow(1, 3, 2)
      local want = model.run_eval(G, gan.cat({ a:narrow(1, 2, 1), (a:narrow(1, 2, 1) + b:narrow(1, 2, 1)) * 0.5,
         b:narrow(1, 2, 1) }, 1))
      assert((imgs:narrow(1, 4, 3) - want):abs():max():item() < 1e-5)
      local r = C.gan_run({ "interpolate", dir, "--rows", "2", "--steps", "5" })
      assert.are.equal(0, r.code, r.stderr)
      assert.matches("gan interpolate: 2 rows of 5 %-> .-/interpolate_s1.png\n", r.stdout)
   end)

   it("gives the model's own sheet, and says why, when its G does not draw from noise", function()
      local r = C.gan_run({ "run", C.root .. "/experiments/inpaint.lua", "--set", "train.steps=1", "--set",
         "train.checkpoint_every=1", "--set", "train.sample_every=0", "--set", "run.root=" .. root, "--set",
         "run.name=p" })
      assert.are.equal(0, r.code, r.stderr)
      local out = root .. "/inpaint.png"
      r = C.gan_run({ "sample", root .. "/inpaint/p", "-n", "9", "--out", out })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("inpaint has a generator G of inputs, not of noise: its own sheet of held-out examples "
         .. "instead of 9 samples\ngan sample: 48 images -> " .. out .. "\n", r.stdout)
      -- the sheet is model:sample()'s: holed | completed | original, six images a row
      local gan = require("gan")
      local model = gan.eval.load(root .. "/inpaint/p")
      local want = gan.image.grid(model:sample(), { nrow = 6, range = { -1, 1 } })
      assert.is_true((gan.image.load(out, { channels = 1 }) - want):abs():max():item() <= 0.5 / 255 + 1e-6)
   end)

   it("draws a text-to-image run's prompt, and walks between two texts", function()
      local r = C.gan_run({ "run", C.root .. "/experiments/gancls.lua", "--set", "train.steps=1", "--set",
         "train.checkpoint_every=1", "--set", "train.sample_every=0", "--set", "train.matcher_epochs=1", "--set",
         "model.ngf=4", "--set", "model.ndf=4", "--set", "run.root=" .. root, "--set", "run.name=t" })
      assert.are.equal(0, r.code, r.stderr)
      local tdir = root .. "/gancls/t"
      r = C.gan_run({ "sample", tdir, "--text", "red apple qqqzzz", "-n", "4" })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal(("words not in the vocabulary (left out): qqqzzz\ngan sample: 4 images -> %s/sample_s1.png\n")
         :format(tdir), r.stdout)
      local gan = require("gan")
      local model = gan.eval.load(tdir)
      local sheet = gan.image.grid((model:sample_text("red apple qqqzzz", 4, 1)), { nrow = 2, range = { -1, 1 },
         title = "red apple qqqzzz" })   -- the prompt above its samples
      assert.is_true((gan.image.load(tdir .. "/sample_s1.png") - sheet):abs():max():item() <= 0.5 / 255 + 1e-6)
      r = C.gan_run({ "interpolate", tdir, "--rows", "2", "--steps", "3" })
      assert.are.equal(1, r.code)
      assert.are.equal("gan interpolate: gancls draws from text: give the two ends, --text A --to B\n", r.stderr)
      r = C.gan_run({ "interpolate", tdir, "--rows", "2", "--steps", "3", "--text", "red apple", "--to", "green qqqzzz" })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal(("words not in the vocabulary (left out): qqqzzz\ngan interpolate: 2 rows of 3 -> "
         .. "%s/interpolate_s1.png\n"):format(tdir), r.stdout)
      local want = gan.models.get("gancls").interpolate_text(model, "red apple", "green", 2, 3, 1)
      local got = gan.image.load(tdir .. "/interpolate_s1.png")
      want = gan.image.grid(want, { nrow = 3, range = { -1, 1 }, title = "red apple -> green qqqzzz" })
      assert.is_true((got - want):abs():max():item() <= 0.5 / 255 + 1e-6)
      -- a run against itself, text by text: no difference, every text a tie, the sign test's p 1
      local out = root .. "/compare.md"
      r = C.gan_run({ "run", C.root .. "/experiments/text_image_compare.lua", "--set", "a=" .. tdir, "--set",
         "b=" .. tdir, "--set", "rounds=1", "--set", "out=" .. out })
      assert.are.equal(0, r.code, r.stderr)
      local test, judge = model:held_out_set()
      local per, rp = gan.models.get("gancls").text_hits(model, test, judge, 1), 0
      local n = #per
      for _, v in ipairs(per) do rp = rp + v / n end
      local row = ("| %.3f | %.3f | +0.000 | [+0.000, +0.000] | 0 / 0 / %d | 1 |"):format(rp, rp, n)
      assert.is_truthy(r.stdout:find(row, 1, true), r.stdout)
      local f = assert(io.open(out, "rb"))
      assert.are.equal(r.stdout, f:read("a"))
      f:close()
      r = C.gan_run({ "run", C.root .. "/experiments/text_image_compare.lua", "--set", "a=" .. tdir, "--set", "b=" .. dir })
      assert.are.equal(1, r.code)
      assert.matches("text_image_compare: " .. dir:gsub("%p", "%%%0") .. " is a dcgan run; it compares text%-to%-image "
         .. "runs %(gancls, stackgan%)", r.stderr)
   end)

   it("names what is wrong", function()
      local r = C.gan_run({ "sample", dir, "--truncation", "0.5" })
      assert.are.equal(1, r.code)
      assert.are.equal("gan sample: dcgan draws no truncated latents (--truncation is for models whose latent "
         .. "takes one: sagan, biggan)\n", r.stderr)
      r = C.gan_run({ "sample", dir, "-n", "0" })   -- a usage error: status 2 and the usage
      assert.are.equal(2, r.code)
      assert.matches("^gan: %-n: expected an integer >= 1, got '0'\nUsage: gan sample ", r.stderr)
      r = C.gan_run({ "sample", dir, "--truncation", "0" })
      assert.are.equal(2, r.code)
      assert.matches("^gan: %-%-truncation: expected a number > 0, got '0'\n", r.stderr)
      r = C.gan_run({ "sample", dir, "--text", "red apple" })
      assert.are.equal(1, r.code)
      assert.are.equal("gan sample: dcgan takes no text (--text is for text-to-image models: gancls, stackgan)\n",
         r.stderr)
      r = C.gan_run({ "interpolate", dir, "--text", "red apple", "--to", "green" })
      assert.are.equal(1, r.code)
      assert.are.equal("gan interpolate: dcgan takes no text (--text and --to are for text-to-image models: "
         .. "gancls, stackgan)\n", r.stderr)
      r = C.gan_run({ "sample", root .. "/nothing" })   -- no position inside gan's modules
      assert.are.equal(1, r.code)
      assert.matches("^gan sample: gan.run.open: no config.yaml in .*/nothing\n$", r.stderr)
   end)
end)
