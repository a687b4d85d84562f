--- Helpers for the specs of the training loop and the models: temporary directories,
-- configs, loaders over tensors, and the exact-resume check. Not a spec itself.
-- Load with: local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local gan = require("gan")
local lfs = require("lfs")
local assert = require("luassert")

local H = {}

--- The repository root, absolute, from this file's location (tests/lua/).
do
   local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
   local p = assert(io.popen("cd '" .. here .. "../..' && pwd"))
   H.root = p:read("l")
   p:close()
end

function H.tmpdir()
   local d = os.tmpname()
   os.remove(d)
   assert(lfs.mkdir(d))
   return d
end

function H.rm_rf(d) if d and d:match("^/tmp/") then os.execute("rm -rf '" .. d .. "'") end end

function H.exists(p) return lfs.attributes(p, "mode") ~= nil end

function H.read_all(path)
   local f = assert(io.open(path, "rb"))
   local s = f:read("a")
   f:close()
   return s
end

--- Runs the spec file's tests on one thread (results that must repeat exactly do not
-- depend on the machine's core count): call as H.single_threaded(setup, teardown).
function H.single_threaded(setup, teardown)
   local threads
   setup(function()
      threads = gan.get_num_threads()
      gan.set_num_threads(1)
   end)
   teardown(function() gan.set_num_threads(threads) end)
end

function H.maxabs(t) return t:detach():double():abs():max():item() end

--- A text-image dataset (gan.data.emoji_text) cut to its first k emoji, every vendor's
-- image of each, to keep a spec that measures a whole split short.
function H.first_emoji(ds, k)
   local cut = setmetatable({}, getmetatable(ds))
   for key, v in pairs(ds) do cut[key] = v end
   cut.items = table.move(ds.items, 1, k * #ds.vendors, 1, {})
   return cut
end

--- Scales a freshly built network's weights (its tensors of 2 dimensions and more) by k
-- (5), so that its images in eval mode are not all near 0: a tiny untrained DCGAN
-- generator gives values of about 1e-4, where a comparison at an absolute tolerance
-- would pass whatever it compares.
function H.visible(net, k)
   gan.no_grad(function()
      for _, p in ipairs(net:parameters()) do if p:dim() > 1 then p:mul_(k or 5) end end
   end)
end

--- Makes the health monitor run its collapse check at every step from step 0, with
-- thresholds that never warn (an untrained G is one blob): the check runs, nothing stops.
function H.check_collapse_every_step(model)
   local h = model.cfg.health
   h.collapse_after, h.collapse_every = 0, 1
   h.diversity, h.class_share = 0, 1
end

--- The resolved config of model class M with `values` set (checked as a file's are).
function H.config(M, values) return gan.config.resolve(M.defaults, { values = values }) end

--- A DataLoader of batches `batch_size` over a TensorDataset of `fields`, shuffled by a
-- generator seeded `seed`.
function H.loader(fields, batch_size, seed)
   return gan.data.DataLoader(gan.data.TensorDataset(fields), { batch_size = batch_size,
      generator = gan.Generator(seed or 0) })
end

--- A model of class M built on its defaults with `values` over them (seeded 0), and a
-- loader of batches of 8 over 16 random 32x32 one-channel images in [-1, 1] with labels
-- 0-9: the tiny setting the model specs train in.
function H.tiny_model(M, values)
   gan.manual_seed(0)
   local model = M.new(H.config(M, values))
   local g = gan.Generator(3)
   local loader = H.loader({ image = gan.rand({ 16, 1, 32, 32 }, { generator = g }):mul(2):sub(1),
      label = gan.randint(0, 10, { 16 }, { generator = g }) }, 8, 5)
   return model, loader
end

--- A model of class M on `values` with data.name "mnist" at size x size, batches of 4,
-- one thread (seeded 0), and a loader of batches of 4 over 16 random one-channel images of
-- that size in [-1, 1]: the tiny setting of the growing and style-based models' specs.
function H.tiny_image_model(M, values, size)
   values.data = { name = "mnist", image_size = size, batch_size = 4 }
   values.train = values.train or {}
   values.train.threads = 1
   gan.manual_seed(0)
   local model = M.new(H.config(M, values))
   local g = gan.Generator(3)
   local loader = H.loader({ image = gan.rand({ 16, 1, size, size }, { generator = g }):mul(2):sub(1) }, 4, 5)
   return model, loader
end

--- What a model's train_step reads from, over a loader (for calling train_step by hand).
function H.batches(loader) return require("gan.train.loop").batches(loader) end

--- Runs build() -> model, loader three ways in runs under a temporary root: `steps`
-- steps in one go; `stop` steps; then the stopped run resumed from its latest checkpoint
-- to `steps`. The model's config must log every step and checkpoint before `stop`.
-- Asserts that both runs wrote the same metrics.jsonl; returns it.
function H.resumes_exactly(build, steps, stop)
   local dir = H.tmpdir()
   local function go(name, upto, from)
      local run = from and gan.run.open(from) or gan.run.new { experiment = "x", name = name, root = dir, config = {} }
      local model, loader = build()
      if from then gan.train.resume(model, loader, run) end
      gan.train.fit(model, { data = loader, run = run, steps = upto, progress = false })
      run:close()
      return run.dir
   end
   local full, part = go("full", steps), go("part", stop)
   go(nil, steps, part)
   local want, got = H.read_all(full .. "/metrics.jsonl"), H.read_all(part .. "/metrics.jsonl")
   H.rm_rf(dir)
   assert.are.equal(want, got)
   local n = 0
   for _ in want:gmatch("\n") do n = n + 1 end
   assert.are.equal(steps, n, "one line per step")
   return want
end

return H
