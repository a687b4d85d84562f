-- gan.config: defaults, YAML file and --set overrides; strict validation; dump round trip.
local config = require("gan.config")

local function write(path, text)
   local f = assert(io.open(path, "wb"))
   f:write(text)
   f:close()
end

local function read(path)
   local f = assert(io.open(path, "rb"))
   local s = f:read("a")
   f:close()
   return s
end

-- A fresh copy each time: resolve must not modify it anyway (checked below).
local function defaults()
   return {
      seed = 1,
      name = "dcgan",
      verbose = false,
      train = {steps = 1000, batch_size = 64, lr = 2e-4, betas = {0.5, 0.999},
               image_size = {64, 64}, tags = {}},
      data = {root = "data/mnist", max_images = config.optional("integer"),
              note = config.optional("string")},
      model = {g = {channels = 64, layers = {{kind = "conv", width = 1.0}}}},
   }
end

local tmp
local function file(text)
   write(tmp, text)
   return tmp
end

-- The error message of resolve(...), which must fail.
local function err_of(...)
   local ok, msg = pcall(config.resolve, ...)
   assert.is_false(ok, "expected an error")
   return msg
end

describe("gan.config", function()
   before_each(function() tmp = os.tmpname() .. ".yaml" end)
   after_each(function() os.remove(tmp); os.remove(tmp:sub(1, -6)) end)

   describe("resolve", function()
      it("returns a copy of the defaults, optional keys absent", function()
         local d = defaults()
         local cfg = config.resolve(d)
         assert.are.equal(1000, cfg.train.steps)
         assert.are.equal(2e-4, cfg.train.lr)
         assert.are.same({0.5, 0.999}, cfg.train.betas)
         assert.is_nil(cfg.data.max_images)
         assert.are_not.equal(d.train, cfg.train)
      end)

      it("applies the file, then the overrides, and leaves the defaults alone", function()
         local d = defaults()
         local path = file([[
# a comment
seed: 7
train:
  lr: 1e-3
  steps: 50
  betas: [0.9, 0.99]
data:
  max_images: 100
]])
         local cfg = config.resolve(d, {file = path, overrides = {"train.lr=0.5", "name=run2"}})
         assert.are.equal(7, cfg.seed)                 -- file
         assert.are.equal(0.5, cfg.train.lr)           -- --set beats the file
         assert.are.equal(50, cfg.train.steps)
         assert.are.equal(64, cfg.train.batch_size)    -- default, untouched by the file
         assert.are.same({0.9, 0.99}, cfg.train.betas)
         assert.are.equal(100, cfg.data.max_images)
         assert.are.equal("run2", cfg.name)
         assert.are.same(defaults().train, d.train)
         assert.is_true(getmetatable(d.data.max_images) ~= nil)
      end)

      it("keeps the types the defaults declare", function()
         local cfg = config.resolve(defaults(), {overrides = {"train.lr=1", "seed=3"}})
         assert.are.equal("float", math.type(cfg.train.lr))
         assert.are.equal("integer", math.type(cfg.seed))
      end)

      it("parses --set values as YAML scalars and flow values", function()
         local cfg = config.resolve(defaults(), {overrides = {
            "train.lr=1e-4", "verbose=true", "train.image_size=[32, 16]", 'name="x y: z"',
            "train.tags=[a, 2, false]", "model.g={channels: 8}", "data.note='123'"}})
         assert.are.equal(1e-4, cfg.train.lr)
         assert.is_true(cfg.verbose)
         assert.are.same({32, 16}, cfg.train.image_size)
         assert.are.equal("x y: z", cfg.name)
         assert.are.same({"a", 2, false}, cfg.train.tags)
         assert.are.equal(8, cfg.model.g.channels)
         assert.are.equal(1, #cfg.model.g.layers)      -- mappings merge key by key
         assert.are.equal("123", cfg.data.note)
      end)

      it("replaces lists whole and checks their elements", function()
         local cfg = config.resolve(defaults(), {file = file([[
model:
  g:
    layers:
      - {kind: up}
      - kind: conv
        width: 2
]])})
         assert.are.same({kind = "up", width = 1.0}, cfg.model.g.layers[1])
         assert.are.same({kind = "conv", width = 2.0}, cfg.model.g.layers[2])
      end)

      it("sets and clears optional keys", function()
         local cfg = config.resolve(defaults(), {file = file("data:\n  max_images: 5\n")})
         assert.are.equal(5, cfg.data.max_images)
         cfg = config.resolve(defaults(), {file = file("data:\n  max_images: 5\n"),
            overrides = {"data.max_images=null"}})
         assert.is_nil(cfg.data.max_images)
         assert.has_error(function() config.optional("float") end)
      end)

      it("accepts an empty file and an emptied section", function()
         local cfg = config.resolve(defaults(), {file = file("# nothing\n")})
         assert.are.equal(1000, cfg.train.steps)
         cfg = config.resolve(defaults(), {file = file("train:\n  # steps: 5\nseed: 2\n")})
         assert.are.equal(1000, cfg.train.steps)
         assert.are.equal(2, cfg.seed)
      end)
   end)

   describe("errors", function()
      it("names an unknown key with its path, file and line", function()
         local path = file("seed: 2\ntrain:\n  steps: 10\n  lrr: 0.1\n")
         assert.are.equal(path .. ":4: train.lrr: unknown key "
            .. "(train has: batch_size, betas, image_size, lr, steps, tags)",
            err_of(defaults(), {file = path}))
         assert.matches(":1: colour: unknown key %(the config has: data, model, name",
            err_of(defaults(), {file = file("colour: red\n")}))
      end)

      it("names a wrong type with its path, file and line", function()
         local path = file("train:\n  lr: 0.1\n  steps: 1.5\n")
         assert.are.equal(path .. ":3: train.steps: expected an integer, got float 1.5",
            err_of(defaults(), {file = path}))
         assert.are.equal(path .. ":2: train.lr: expected a number, got string \"fast\"",
            err_of(defaults(), {file = file("train:\n  lr: fast\n")}))
         assert.are.equal(path .. ":1: name: expected a string, got integer 12 "
            .. "(quote it to make it a string)", err_of(defaults(), {file = file("name: 12\n")}))
         assert.are.equal(path .. ":1: train: expected a mapping, got integer 3",
            err_of(defaults(), {file = file("train: 3\n")}))
         assert.are.equal(path .. ":2: train.betas: expected a list, got float 0.5",
            err_of(defaults(), {file = file("train:\n  betas: 0.5\n")}))
         assert.are.equal(path .. ":4: train.image_size[2]: expected an integer, got string \"x\"",
            err_of(defaults(), {file = file("train:\n  image_size:\n    [1,\n     x]\n")}))
         assert.are.equal(path .. ":1: verbose: expected a boolean, got string \"yes\"",
            err_of(defaults(), {file = file("verbose: yes\n")}))
         assert.are.equal(path .. ":1: seed: expected an integer, got null",
            err_of(defaults(), {file = file("seed:\n")}))
      end)

      it("reports malformed YAML with the file and line", function()
         local path = file("seed: 1\ntrain:\n  betas: [0.5, 0.9\n  lr: 1\n")
         assert.matches("^" .. path:gsub("%p", "%%%0") .. ":4: malformed YAML: did not find "
            .. "expected ',' or ']'", err_of(defaults(), {file = path}))
         assert.matches(":2: malformed YAML: mapping values are not allowed",
            err_of(defaults(), {file = file("seed: 1\n  lr: 2\n")}))
         assert.matches(":2: duplicate key 'seed'",
            err_of(defaults(), {file = file("seed: 1\nseed: 2\n")}))
         assert.matches(":1: the top level must be a mapping, got a list",
            err_of(defaults(), {file = file("- 1\n- 2\n")}))
         assert.matches("cannot read .*nonexistent",
            err_of(defaults(), {file = "/nonexistent/x.yaml"}))
      end)

      it("names the --set override instead of a line", function()
         assert.are.equal('--set train.lr=fast: train.lr: expected a number, got string "fast"',
            err_of(defaults(), {overrides = {"train.lr=fast"}}))
         assert.are.equal("--set train.lrr=1: train.lrr: unknown key "
            .. "(train has: batch_size, betas, image_size, lr, steps, tags)",
            err_of(defaults(), {overrides = {"train.lrr=1"}}))
         assert.are.equal("--set nope.x=1: nope: unknown key "
            .. "(the config has: data, model, name, seed, train, verbose)",
            err_of(defaults(), {overrides = {"nope.x=1"}}))
         assert.are.equal("--set train.lr.x=1: train.lr: is a number, not a mapping",
            err_of(defaults(), {overrides = {"train.lr.x=1"}}))
         assert.matches("^%-%-set train.betas=%[1,: malformed YAML",
            err_of(defaults(), {overrides = {"train.betas=[1,"}}))
      end)

      it("rejects a --set without KEY=VALUE", function()
         for _, bad in ipairs{"trainlr", "=3", "train..lr=1", "train.=1"} do
            assert.are.equal("--set " .. bad .. ": expected KEY=VALUE with a dotted key path, "
               .. "e.g. --set train.lr=1e-4", err_of(defaults(), {overrides = {bad}}))
         end
      end)
   end)

   describe("dump and write", function()
      it("writes sorted keys, quoted strings and exact floats", function()
         local text = config.dump({b = {y = 0.1, x = 1e-4}, a = "true", c = {1, 2}, d = 2.0,
            e = "plain/path.png", f = "two words", g = "", h = 1 / 3})
         assert.are.equal(table.concat({
            'a: "true"', "b:", "  x: 0.0001", "  y: 0.1", "c: [1, 2]", "d: 2.0",
            "e: plain/path.png", 'f: "two words"', 'g: ""', "h: 0.3333333333333333", ""},
            "\n"), text)
      end)

      it("round-trips through resolve", function()
         local d = defaults()
         local cfg = config.resolve(d, {overrides = {
            "train.lr=1e-4", "train.betas=[0.1, 0.30000000000000004]", "name='1e3'",
            "train.tags=[\"x: y\", 3, 2.5, true, \"null\"]", "data.max_images=7",
            'data.note="quote \\" and \\\\ and \\n"', "model.g.layers=[{kind: a}, {width: 0.1}]"}})
         local path = tmp:sub(1, -6)
         config.write(path, cfg)
         local back = config.resolve(d, {file = path})
         assert.are.same(cfg, back)
         assert.are.equal(0.30000000000000004, back.train.betas[2])
         assert.are.equal("1e3", back.name)
         assert.are.equal("quote \" and \\ and \n", back.data.note)
         assert.are.equal(config.dump(cfg), read(path))
      end)

      it("round-trips special floats", function()
         local d = {x = 0.5, y = 0.5, z = 0.5, w = 0.5}
         local cfg = {x = math.huge, y = -math.huge, z = 1e300, w = 5e-324}
         config.write(tmp, cfg)
         assert.are.same(cfg, config.resolve(d, {file = tmp}))
      end)

      it("load reads YAML without validation", function()
         local t = config.load(file("a: {b: [1, 2.5, x]}\nc: 'q'\n"))
         assert.are.same({a = {b = {1, 2.5, "x"}}, c = "q"}, t)
      end)
   end)

   describe("from_args", function()
      it("takes --config and --set and returns the arguments after --", function()
         local path = file("seed: 5\ntrain:\n  steps: 20\n")
         local cfg, rest, used = config.from_args(defaults(), {[0] = "exp.lua",
            "--config", path, "--set", "train.steps=30", "--set=verbose=true", "--", "--set", "x"})
         assert.are.equal(5, cfg.seed)
         assert.are.equal(30, cfg.train.steps)
         assert.is_true(cfg.verbose)
         assert.are.same({"--set", "x"}, rest)
         assert.are.equal(path, used)
      end)

      it("refuses an argument it does not take, naming it and the key it may mean", function()
         assert.has_error(function() config.from_args(defaults(), {"--steps", "100"}) end,
            "unknown argument '--steps' (did you mean --set train.steps=...?); this script takes --config FILE, "
               .. "--set KEY=VALUE and --help (which lists every key)")
         assert.has_error(function() config.from_args(defaults(), {"pos"}, {options = {"--resume DIR  x"}}) end,
            "unknown argument 'pos'; this script takes --config FILE, --set KEY=VALUE, --resume and --help "
               .. "(which lists every key)")
      end)

      it("help lists the options and every key with its default and what it allows", function()
         local text = config.help({train = {steps = config.range(10, "[1, inf)"), loss = config.choice("a", {"a", "b"})},
            name = config.optional("string")}, {usage = "gan run x.lua", options = {"--resume RUN_DIR  go on"}})
         assert.matches("^usage: gan run x.lua %[%-%-config FILE%] %[%-%-set KEY=VALUE ...%]\n", text)
         assert.matches("\n  %-%-resume RUN_DIR  go on\n", text)
         assert.matches("\n  name%s+%(none%)%s+string\n", text)
         assert.matches("\n  train.loss%s+'a'%s+one of 'a', 'b'\n", text)
         assert.matches("\n  train.steps%s+10%s+an integer in %[1, inf%)\n", text)
      end)

      it("works without any option and complains about a missing argument", function()
         local cfg, rest = config.from_args(defaults(), {})
         assert.are.equal(1, cfg.seed)
         assert.are.same({}, rest)
         assert.has_error(function() config.from_args(defaults(), {"--set"}) end,
            "--set needs an argument")
         assert.has_error(function()
            config.from_args(defaults(), {"--config", "a.yaml", "--config=b.yaml"})
         end, "--config given twice (a.yaml and b.yaml)")
      end)
   end)
end)
