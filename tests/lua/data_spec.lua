-- gan.data: TensorDataset, collate, transforms and the DataLoader (order, epochs,
-- drop_last, prefetching, resuming from a state_dict in the middle of an epoch).
local gan = require("gan")
local data, image = gan.data, gan.image
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "image_helpers.lua")

-- A dataset whose sample i carries its own 0-based index: x = (2) {i, -i}, id = i.
local function indexed(n, opts)
   local ids = gan.arange(n)
   local x = gan.stack({ ids:float(), -ids:float() }, 2)
   return data.TensorDataset({ x = x, id = ids }, opts)
end

local function ids_of(batch) return H.flat(batch.id) end

-- All batches of one epoch as lists of ids.
local function epoch_ids(loader)
   local out = {}
   for b in loader do out[#out + 1] = ids_of(b) end
   return out
end

local function concat(lists)
   local out = {}
   for _, l in ipairs(lists) do for _, v in ipairs(l) do out[#out + 1] = v end end
   return out
end

local function is_permutation(list, n)
   if #list ~= n then return false end
   local seen = {}
   for _, v in ipairs(list) do
      if seen[v] or v < 0 or v >= n then return false end
      seen[v] = true
   end
   return true
end

local function same_batches(a, b, what)
   assert.are.equal(#a, #b, what .. ": batch counts")
   for k = 1, #a do
      for key, v in pairs(a[k]) do
         if gan.is_tensor(v) then
            assert(H.equal(b[k][key], v), ("%s: batch %d field %s differs"):format(what, k, key))
         else assert.are.same(v, b[k][key]) end
      end
   end
end

describe("gan.data", function()
   describe("TensorDataset", function()
      it("get returns the i-th row of every field; len and # agree", function()
         local img = gan.rand({ 5, 1, 2, 2 }, { generator = gan.Generator(1) })
         local lab = gan.tensor({ 3, 1, 4, 1, 5 }, { dtype = "int64" })
         local w = gan.tensor({ 0.5, 1.5, 2.5, 3.5, 4.5 })
         local ds = data.TensorDataset({ image = img, label = lab, w = w })
         assert.are.equal(5, ds:len())
         assert.are.equal(5, #ds)
         assert.are.equal(5, data.len(ds))
         for i = 1, 5 do
            local s = ds:get(i)
            H.identical(s.image, img[i])
            assert.are.equal(H.flat(lab)[i], s.label)
            assert.are.equal(math.type(s.label), "integer")
            assert.are.equal(H.flat(w)[i], s.w)
         end
         -- get_batch takes 0-based positions
         local b = ds:get_batch(gan.tensor({ 4, 0 }, { dtype = "int64" }))
         H.identical(b.image, gan.stack({ img[5], img[1] }))
         assert.are.same({ 5, 3 }, H.flat(b.label))
      end)

      it("raises clear errors", function()
         local ds = indexed(4)
         H.raises(function() ds:get(0) end, "out of range", "1..4")
         H.raises(function() ds:get(5) end, "out of range")
         H.raises(function() ds:get(1.5) end, "out of range")
         H.raises(function() ds:get("1") end, "out of range")
         H.raises(function() data.TensorDataset({ a = gan.zeros({ 3 }), b = gan.zeros({ 4 }) }) end, "rows")
         H.raises(function() data.TensorDataset({ a = { 1, 2, 3 } }) end, "'a'", "not a tensor")
         H.raises(function() data.TensorDataset({}) end, "no fields")
      end)
   end)

   describe("collate", function()
      it("stacks tensors, integers to int64, floats to float32, strings to lists", function()
         local a, b = gan.rand({ 2, 3 }), gan.rand({ 2, 3 })
         local batch = data.collate({ { image = a, label = 3, w = 0.5, name = "a" },
            { image = b, label = 7, w = 1, name = "b" } })
         H.identical(batch.image, gan.stack({ a, b }))
         assert.are.equal("int64", batch.label.dtype)
         assert.are.same({ 3, 7 }, H.flat(batch.label))
         assert.are.equal("float32", batch.w.dtype)
         assert.are.same({ 0.5, 1 }, H.flat(batch.w))
         assert.are.same({ "a", "b" }, batch.name)
      end)

      it("a loader collates datasets that only have get", function()
         local ds = setmetatable({}, { __len = function() return 7 end })
         function ds:get(i) return { v = gan.full({ 2 }, i), i = i } end
         local loader = data.DataLoader(ds, { batch_size = 3, shuffle = false, drop_last = false })
         local got = {}
         for b in loader do
            got[#got + 1] = H.flat(b.i)
            H.identical(b.v, gan.stack({ b.i:float(), b.i:float() }, 2))
         end
         assert.are.same({ { 1, 2, 3 }, { 4, 5, 6 }, { 7 } }, got)
      end)
   end)

   describe("transforms", function()
      local T = data.transforms

      it("RandomHorizontalFlip flips with probability p, reproducibly for a generator", function()
         local x = gan.arange(12, { dtype = "float32" }):view(1, 3, 4)
         local always, never = T.RandomHorizontalFlip(1), T.RandomHorizontalFlip(0)
         H.identical(always({ image = x }, gan.Generator(1)).image, image.hflip(x))
         H.identical(never({ image = x }, gan.Generator(1)).image, x)
         local f = T.RandomHorizontalFlip()
         local function flips(seed)
            local g, out = gan.Generator(seed), {}
            for k = 1, 200 do
               local y = f({ image = x }, g).image
               local flipped = H.flat(y)[1] == 3
               if not flipped then H.identical(y, x) end
               out[k] = flipped
            end
            return out
         end
         local a, b, c = flips(5), flips(5), flips(6)
         assert.are.same(a, b)
         assert.are_not.same(a, c)
         local n = 0
         for _, v in ipairs(a) do if v then n = n + 1 end end
         assert.is_true(n > 70 and n < 130, "about half flipped: " .. n)
         -- another key
         local s = T.RandomHorizontalFlip(1, "b")({ image = x, b = x }, gan.Generator(1))
         H.identical(s.image, x)
         H.identical(s.b, image.hflip(x))
      end)

      it("Normalize subtracts the mean and divides by the std per channel", function()
         local x = gan.tensor({ 1, 2, 3, 4, 5, 6, 7, 8 }):view(2, 2, 2)
         local y = T.Normalize({ 1, 2 }, { 2, 4 })({ image = x }).image
         H.close(y, { 0, 0.5, 1, 1.5, 0.75, 1, 1.25, 1.5 }, 1e-6)
      end)

      it("ToSigned maps [0, 1] to [-1, 1]", function()
         local y = T.ToSigned()({ image = gan.tensor({ 0, 0.25, 1 }) }).image
         H.close(y, { -1, -0.5, 1 }, 0)
      end)

      it("Compose applies in order and passes the generator", function()
         local x = gan.tensor({ 0, 0.5, 1, 1 }):view(1, 1, 4)
         local seen
         local t = T.Compose({ T.ToSigned(), T.Normalize({ 1 }, { 2 }),
            function(s, g) seen = g; s.image = s.image * 10; return s end })
         local g = gan.Generator(1)
         H.close(t({ image = x }, g).image, { -10, -5, 0, 0 }, 1e-6)
         assert.are.equal(g, seen)
      end)

      it("a TensorDataset transform gets the loader's generator: same seed, same batches", function()
         local x = gan.rand({ 40, 1, 2, 3 }, { generator = gan.Generator(9) })
         local ds = data.TensorDataset({ image = x, id = gan.arange(40) },
            { transform = T.Compose({ T.RandomHorizontalFlip(), T.ToSigned() }) })
         local function run(seed, prefetch)
            local loader = data.DataLoader(ds, { batch_size = 8, generator = gan.Generator(seed), prefetch = prefetch })
            local out = {}
            for b in loader do out[#out + 1] = b end
            for b in loader do out[#out + 1] = b end
            return out
         end
         local a = run(3, true)
         local saved = gan.get_rng_state()
         gan.manual_seed(12345)   -- the global generator must not matter
         local b = run(3, false)
         gan.set_rng_state(saved)
         same_batches(a, b, "same seed")
         -- each image is its source, signed, flipped or not, and both occur
         local flipped, kept = 0, 0
         for _, b in ipairs(a) do
            for r, id in ipairs(H.flat(b.id)) do
               local src = x[id + 1] * 2 - 1
               local got = b.image[r]
               if pcall(H.identical, got, src) then kept = kept + 1
               else H.identical(got, image.hflip(src)); flipped = flipped + 1 end
            end
         end
         assert.is_true(flipped > 10 and kept > 10, ("flipped %d kept %d"):format(flipped, kept))
      end)
   end)

   describe("DataLoader", function()
      it("shuffle = false gives the dataset order", function()
         local loader = data.DataLoader(indexed(10), { batch_size = 3, shuffle = false })
         assert.are.same({ { 0, 1, 2 }, { 3, 4, 5 }, { 6, 7, 8 } }, epoch_ids(loader))
         assert.are.same({ { 0, 1, 2 }, { 3, 4, 5 }, { 6, 7, 8 } }, epoch_ids(loader))
         local b = data.DataLoader(indexed(10), { batch_size = 4, shuffle = false }):next()
         H.identical(b.x, gan.tensor({ 0, 0, 1, -1, 2, -2, 3, -3 }):view(4, 2))
         assert.are.equal("int64", b.id.dtype)
      end)

      it("drop_last decides the batch count and the last batch size", function()
         for _, c in ipairs { { 10, 3, true, 3, 3 }, { 10, 3, false, 4, 1 }, { 9, 3, true, 3, 3 },
            { 9, 3, false, 3, 3 }, { 5, 8, false, 1, 5 }, { 8, 8, true, 1, 8 } } do
            local n, bs, drop, count, last = table.unpack(c)
            local loader = data.DataLoader(indexed(n), { batch_size = bs, drop_last = drop, generator = gan.Generator(1) })
            assert.are.equal(count, #loader)
            assert.are.equal(count, loader:len())
            local got = epoch_ids(loader)
            assert.are.equal(count, #got)
            assert.are.equal(last, #got[#got])
            for k = 1, #got - 1 do assert.are.equal(bs, #got[k]) end
            if not drop then assert.is_true(is_permutation(concat(got), n)) end
         end
         -- batch larger than the dataset with drop_last: no batches at all
         local empty = data.DataLoader(indexed(5), { batch_size = 8 })
         assert.are.equal(0, #empty)
         assert.is_nil(empty:next())
         H.raises(function() for _ in empty:forever() do end end, "no batches")
      end)

      it("the same seed gives the same order, another seed another", function()
         local function two_epochs(seed)
            local loader = data.DataLoader(indexed(50), { batch_size = 10, drop_last = false, generator = gan.Generator(seed) })
            return epoch_ids(loader), epoch_ids(loader)
         end
         local a1, a2 = two_epochs(7)
         local b1, b2 = two_epochs(7)
         local c1 = two_epochs(8)
         assert.are.same(a1, b1)
         assert.are.same(a2, b2)
         assert.are_not.same(a1, c1)
         assert.are_not.same(a1, a2, "each epoch reshuffles")
         for _, e in ipairs { a1, a2, c1 } do assert.is_true(is_permutation(concat(e), 50)) end
         -- shuffled is not the identity order
         assert.are_not.same({ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, a1[1])
      end)

      it("`for batch in loader` runs exactly one epoch; the next loop the next epoch", function()
         local loader = data.DataLoader(indexed(20), { batch_size = 6, generator = gan.Generator(2) })
         local ref = data.DataLoader(indexed(20), { batch_size = 6, generator = gan.Generator(2) })
         local expect = {}
         for _ = 1, 3 do
            local e = {}
            for _ = 1, 3 do e[#e + 1] = ids_of(ref:next()) end
            assert.is_nil(ref:next())
            expect[#expect + 1] = e
         end
         for epoch = 1, 3 do
            local n = 0
            for b in loader do
               n = n + 1
               assert.are.same(expect[epoch][n], ids_of(b))
            end
            assert.are.equal(3, n)
            assert.are.equal(epoch, loader.epoch)
         end
      end)

      it("forever() streams batches across epochs with a step counter", function()
         local loader = data.DataLoader(indexed(10), { batch_size = 4, generator = gan.Generator(4) })
         local ref = data.DataLoader(indexed(10), { batch_size = 4, generator = gan.Generator(4) })
         local expect = concat(concat({ epoch_ids(ref), epoch_ids(ref), epoch_ids(ref) }))   -- ids of 6 batches
         local got, steps = {}, 0
         for step, b in loader:forever() do
            steps = steps + 1
            assert.are.equal(steps, step)
            assert.are.equal(4, b.id:size(1))
            for _, v in ipairs(ids_of(b)) do got[#got + 1] = v end
            if step == 6 then break end
         end
         assert.are.same(expect, got)
      end)

      it("state_dict / load_state_dict mid-epoch resumes with the identical batches", function()
         local ds = indexed(23)
         local a = data.DataLoader(ds, { batch_size = 4, generator = gan.Generator(11) })
         a:next(); a:next()
         local sd = a:state_dict()
         -- round trip through a checkpoint file, as training would
         local dir = H.tmpdir()
         gan.save(dir .. "/loader.safetensors", { loader = sd })
         sd = gan.load(dir .. "/loader.safetensors").loader
         H.rmdir(dir)
         local rest = {}
         for _ = 1, 12 do
            local b = a:next()
            rest[#rest + 1] = b and ids_of(b) or "end"
         end
         -- a loader built with another seed takes everything from the state
         local b = data.DataLoader(ds, { batch_size = 4, generator = gan.Generator(999) })
         b:load_state_dict(sd)
         local again = {}
         for _ = 1, 12 do
            local x = b:next()
            again[#again + 1] = x and ids_of(x) or "end"
         end
         assert.are.same(rest, again)
         assert.are.equal("end", rest[4])   -- 5 batches per epoch: 3 left, then the end
      end)

      it("state_dict at an epoch boundary and before the first batch", function()
         local ds = indexed(12)
         local a = data.DataLoader(ds, { batch_size = 5, generator = gan.Generator(12) })
         local fresh = a:state_dict()
         local first = epoch_ids(a)
         local sd = a:state_dict()
         local second = epoch_ids(a)
         local b = data.DataLoader(ds, { batch_size = 5, generator = gan.Generator(0) })
         b:load_state_dict(sd)
         assert.are.same(second, epoch_ids(b))
         b:load_state_dict(fresh)
         assert.are.same(first, epoch_ids(b))
         assert.are.same(second, epoch_ids(b))
      end)

      it("rejects bad options", function()
         H.raises(function() data.DataLoader(indexed(3), { batchsize = 2 }) end, "batchsize")
         H.raises(function() data.DataLoader(indexed(3), { batch_size = 0 }) end, "batch_size")
         H.raises(function() data.DataLoader(indexed(3), { batch_size = 1.5 }) end, "batch_size")
         local empty = setmetatable({}, { __len = function() return 0 end })
         H.raises(function() data.DataLoader(empty) end, "empty")
      end)
   end)

   describe("with image files (emoji, decoded in the background)", function()
      local ds, plain
      setup(function()
         ds = data.emoji({ vendor = "google", flip = true })
         plain = data.emoji({ vendor = "google" })
      end)

      local function run(opts, n)
         local loader = data.DataLoader(ds, opts)
         local out = {}
         for _ = 1, n do
            local b = loader:next() or loader:next()
            out[#out + 1] = b
         end
         return out, loader
      end

      it("prefetch gives the same batches (random flips included) as no prefetch", function()
         local n = #data.DataLoader(ds, { batch_size = 64 }) + 3   -- into the second epoch
         local a = run({ batch_size = 64, generator = gan.Generator(21), prefetch = true }, n)
         local b = run({ batch_size = 64, generator = gan.Generator(21), prefetch = false }, n)
         same_batches(a, b, "prefetch on/off")
         assert.are.same({ 64, 3, 64, 64 }, a[1].image:size())
         assert.are.equal(64, #a[1].code)
         -- flips happen: each image is the unflipped one or its mirror, and both occur
         local flipped, kept = 0, 0
         for k = 1, 3 do
            local batch = a[k]
            for r = 1, 64 do
               local src = plain:get(plain:index_of(batch.code[r])).image
               if H.equal(batch.image[r], src) then kept = kept + 1
               else
                  assert(H.equal(batch.image[r], image.hflip(src)), "neither the image nor its mirror: " .. batch.code[r])
                  flipped = flipped + 1
               end
            end
         end
         assert.is_true(flipped > 40 and kept > 40, ("flipped %d kept %d"):format(flipped, kept))
      end)

      it("resumes mid-epoch with the identical images and flips", function()
         local loader = data.DataLoader(ds, { batch_size = 32, generator = gan.Generator(5) })
         for _ = 1, 4 do loader:next() end
         local sd = loader:state_dict()
         local expect = {}
         for k = 1, 3 do expect[k] = loader:next() end
         local other = data.DataLoader(ds, { batch_size = 32, generator = gan.Generator(77), prefetch = false })
         other:load_state_dict(sd)
         local got = {}
         for k = 1, 3 do got[k] = other:next() end
         same_batches(expect, got, "resumed")
      end)
   end)
end)
