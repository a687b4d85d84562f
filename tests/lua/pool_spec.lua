-- gan.train.ImagePool: fill, swap statistics against the model of the pool, copies
-- detached from the graph, and a state round trip (also through a file) that continues
-- identically.
local gan = require("gan")
local train = gan.train

local function maxabs(t) return t:detach():double():abs():max():item() end

describe("ImagePool", function()
   -- A batch of single-pixel-valued 1x2x2 images carrying ids first..first+n-1.
   local function batch(first, n)
      local t = {}
      for i = 1, n do t[i] = gan.full({ 1, 2, 2 }, first + i - 1) end
      return gan.stack(t, 1)
   end
   local function ids(out)
      local r = {}
      for i = 1, out:size(1) do
         local img = out[i]
         assert.are.equal(img:min():item(), img:max():item(), "an image came back mixed")
         r[i] = math.tointeger(img[1][1][1])
      end
      return r
   end

   it("stores and returns the first `size` images, then swaps with probability 0.5", function()
      local pool = train.ImagePool(50, { seed = 3 })
      local next_id = 1
      for _ = 1, 5 do   -- 5 x 10 = 50: all returned as given
         local got = ids(pool:query(batch(next_id, 10)))
         for i = 1, 10 do assert.are.equal(next_id + i - 1, got[i]) end
         next_id = next_id + 10
      end
      assert.are.equal(50, #pool.images)
      -- A model of the pool: which id sits in which slot.
      local slots = {}
      for j = 1, 50 do slots[j] = j end
      local queries, swaps, hits = 0, 0, {}
      for j = 1, 50 do hits[j] = 0 end
      for _ = 1, 500 do
         local got = ids(pool:query(batch(next_id, 8)))
         for i = 1, 8 do
            local id = next_id + i - 1
            queries = queries + 1
            if got[i] ~= id then
               -- a swapped image is a previous one, taken from the pool and replaced by the new one
               swaps = swaps + 1
               assert(got[i] < id, "a swapped image must be an earlier one")
               local slot
               for j = 1, 50 do if slots[j] == got[i] then slot = j end end
               assert(slot, ("image %d was returned but is not in the pool"):format(got[i]))
               slots[slot] = id
               hits[slot] = hits[slot] + 1
            end
         end
         next_id = next_id + 8
      end
      -- rate 0.5 within 5 standard errors
      local rate, se = swaps / queries, math.sqrt(0.25 / queries)
      assert(math.abs(rate - 0.5) < 5 * se, ("swap rate %.4f over %d queries"):format(rate, queries))
      -- the slot replaced is uniform: chi-square with 49 degrees of freedom (mean 49, sd 9.9)
      local chi2, e = 0, swaps / 50
      for j = 1, 50 do chi2 = chi2 + (hits[j] - e) ^ 2 / e end
      assert(chi2 < 49 + 5 * 9.9, ("slot choice not uniform: chi2 %.1f"):format(chi2))
      -- the pool holds exactly what the model says
      local have = ids(gan.stack(pool.images, 1))
      table.sort(have)
      local want = { table.unpack(slots) }
      table.sort(want)
      assert.are.same(want, have)
   end)

   it("returns copies detached from the graph; size 0 passes batches through; p = 0 and 1", function()
      local x = gan.randn({ 3, 1, 2, 2 }):requires_grad_()
      local out = train.ImagePool(5):query(x)
      assert.is_false(out.requires_grad)
      assert.are.equal(0, maxabs(out - x))
      assert.are.equal(x, train.ImagePool(0):query(x))
      local never = train.ImagePool(4, { p = 0, seed = 1 })
      never:query(batch(1, 4))
      assert.are.same({ 5, 6, 7, 8, 9, 10 }, ids(never:query(batch(5, 6))))
      local always = train.ImagePool(4, { p = 1, seed = 1 })
      always:query(batch(1, 4))
      always:query(batch(5, 30))
      local got = ids(always:query(batch(100, 20)))
      for i, id in ipairs(got) do assert(id < 100 + i - 1, "p = 1 always returns a stored image") end
   end)

   it("state_dict / load_state_dict (also through a file) continues identically", function()
      for _, warm in ipairs { 20, 70 } do   -- not yet full, and full
         local a = train.ImagePool(50, { seed = 11 })
         a:query(batch(1, warm))
         local sd = a:state_dict()
         local path = os.tmpname()
         gan.save(path, { pool = sd })
         local sd2 = gan.load(path).pool
         os.remove(path)
         for _, s in ipairs { sd, sd2 } do
            local b = train.ImagePool(50, { seed = 999 })
            b:load_state_dict(s)
            assert.are.equal(#a.images, #b.images)
            local a2 = train.ImagePool(50, { seed = 999 })
            a2:load_state_dict(sd)
            for q = 1, 30 do
               local x = batch(1000 + q * 10, 7)
               local ra, rb = ids(a2:query(x)), ids(b:query(x))
               assert.are.same(ra, rb)
            end
         end
         -- and the original pool produces the same continuation
         local b = train.ImagePool(50, { seed = 5 })
         b:load_state_dict(sd)
         for q = 1, 30 do
            local x = batch(5000 + q * 10, 7)
            assert.are.same(ids(a:query(x)), ids(b:query(x)))
         end
      end
   end)
end)
