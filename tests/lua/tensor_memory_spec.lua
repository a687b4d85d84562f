-- Memory: the GC learns about tensor bytes, <close> frees at once, closed tensors refuse use.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "tensor_helpers.lua")

local MB = 1024 * 1024

local function live() return gan.memory_stats().live_bytes end

describe("memory accounting", function()
   it("memory_stats reports the allocator's counters", function()
      local s = gan.memory_stats()
      for _, k in ipairs { "live_bytes", "cached_bytes", "peak_live_bytes", "system_allocs", "cache_hits" } do
         assert.are.equal("integer", math.type(s[k]), k)
         assert.is_true(s[k] >= 0, k)
      end
      assert.is_true(s.peak_live_bytes >= s.live_bytes)
   end)

   it("live_bytes counts a new tensor's bytes", function()
      collectgarbage("collect")
      local before = live()
      local x = gan.empty(1000, 1000)   -- 4 MB of float32
      assert.are.equal(before + 4000000, live())
      local y = gan.empty(1000, { dtype = "float64" })
      assert.are.equal(before + 4008000, live())
      local v = x:t()   -- a view: no new storage
      assert.are.equal(before + 4008000, live())
      assert.is_not_nil(v); assert.is_not_nil(y)
   end)

   -- The loops run in a fresh Lua process: the collector's threshold follows what is live
   -- after the last collection, so data other spec files keep alive in this process would
   -- let garbage grow further before a collection, and the bound would not be testing
   -- the accounting alone.
   local function peak_in_child(body)
      local script = os.tmpname()
      local f = assert(io.open(script, "w"))
      f:write(([[
package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
package.cpath = %q .. ";" .. package.cpath
local gan = require("gan")
local MB = 1024 * 1024
local function live() return gan.memory_stats().live_bytes end
collectgarbage("collect")
local base, peak = live(), 0
%s
collectgarbage("collect")
io.write(peak, " ", live() - base, "\n")
]]):format(package.cpath:match("[^;]*build%-?%w*/%?%.so") or "./build/?.so", body))
      f:close()
      local p = io.popen("lua5.4 " .. script .. " 2>&1")
      local out = p:read("a")
      p:close()
      os.remove(script)
      local peak, after = out:match("^(%d+) (%-?%d+)")
      assert(peak, "child failed: " .. out)
      return tonumber(peak), tonumber(after)
   end

   it("a loop allocating 16 MB tensors 500 times keeps live_bytes bounded", function()
      local peak, after = peak_in_child([[
for i = 1, 500 do
   local x = gan.empty(4 * MB)   -- 16 MB, never freed by hand
   x[1] = i
   local l = live() - base
   if l > peak then peak = l end
end]])
      -- 500 x 16 MB = 8 GB were allocated; the GC must have been told about them
      assert.is_true(peak < 160 * MB, ("peak live bytes %d MB"):format(peak // MB))
      assert.is_true(after < 32 * MB)
   end)

   it("a loop of arithmetic on large tensors stays bounded too", function()
      local peak = peak_in_child([[
local x = gan.ones(2 * MB)   -- 8 MB
for _ = 1, 40 do   -- 40 x 3 x 8 MB = 960 MB allocated
   local y = (x * 2 + 1):sqrt()
   assert(y)
   local l = live() - base
   if l > peak then peak = l end
end]])
      assert.is_true(peak < 160 * MB, ("peak live bytes %d MB"):format(peak // MB))
   end)

   it("empty_cache returns cached blocks to the system", function()
      do local x = gan.empty(2 * MB); x:fill_(0) end
      collectgarbage("collect")
      gan.empty_cache()
      assert.are.equal(0, gan.memory_stats().cached_bytes)
   end)
end)

describe("a steady training loop", function()
   it("stops allocating from the system once warm (zero_grad collects the last iteration)", function()
      gan.manual_seed(3)
      local G = gan.nn.blocks.DCGANGenerator { nz = 16, ngf = 8, nc = 1, image_size = 16 }
      local D = gan.nn.blocks.DCGANDiscriminator { ndf = 8, nc = 1, image_size = 16 }
      local oG = gan.optim.Adam(G:parameters(), { lr = 2e-4, betas = { 0.5, 0.999 } })
      local oD = gan.optim.Adam(D:parameters(), { lr = 2e-4, betas = { 0.5, 0.999 } })
      local real = gan.rand { 16, 1, 16, 16 }
      local function step()
         local fake = G(gan.randn { 16, 16, 1, 1 })
         oD:zero_grad()
         gan.losses.minimax_d(D(real), D(fake:detach())):backward()
         oD:step()
         oG:zero_grad()
         gan.losses.nonsaturating_g(D(fake)):backward()
         oG:step()
      end
      for _ = 1, 6 do step() end
      local before = gan.memory_stats()
      for _ = 1, 10 do step() end
      local after = gan.memory_stats()
      assert.are.equal(before.system_allocs, after.system_allocs)
      assert(after.cache_hits > before.cache_hits)
      -- the live set does not grow either: one iteration's garbage at most
      assert(after.live_bytes <= before.live_bytes * 1.5 + (1 << 20), after.live_bytes .. " vs " .. before.live_bytes)
   end)
end)

describe("<close>", function()
   it("frees the storage at the end of the scope, without the GC", function()
      collectgarbage("collect")
      collectgarbage("stop")
      local before = live()
      do
         local x <close> = gan.zeros(1000, 1000)
         assert.are.equal(before + 4000000, live())
         x:add_(1)
      end
      local after = live()
      collectgarbage("restart")
      assert.are.equal(before, after)
   end)

   it("a closed tensor raises 'tensor was closed' on any use", function()
      local keep
      do
         local x <close> = gan.ones(3)
         keep = x
      end
      H.assert_err(function() return keep:sum() end, "tensor was closed")
      H.assert_err(function() return keep:totable() end, "tensor was closed")
      H.assert_err(function() return keep:size() end, "tensor was closed")
      H.assert_err(function() return keep[1] end, "tensor was closed")
      H.assert_err(function() return keep + 1 end, "tensor was closed")
      H.assert_err(function() return 1 - keep end, "tensor was closed")
      H.assert_err(function() return gan.ones(3) * keep end, "tensor was closed")
      H.assert_err(function() return gan.ones(3):add_(keep) end, "tensor was closed")
      H.assert_err(function() return gan.cat({ gan.ones(3), keep }) end, "tensor was closed")
      H.assert_err(function() return gan.matmul(keep, keep) end, "tensor was closed")
      H.assert_err(function() local y = gan.zeros(2, 3); y[1] = keep end, "tensor was closed")
      H.assert_err(function() return tostring(keep) end, "tensor was closed")
      H.assert_err(function() return keep.dtype end, "tensor was closed")
   end)

   it("views outlive a closed base: the storage is shared and refcounted", function()
      collectgarbage("collect")
      collectgarbage("stop")
      local before = live()
      local v
      do
         local x <close> = gan.arange(10):float()
         v = x:narrow(1, 3, 4)
      end
      assert.is_true(live() > before)         -- the view still holds the storage
      H.assert_exact(v, { 2, 3, 4, 5 })
      v = nil
      collectgarbage("restart")
      collectgarbage("collect")
      assert.is_true(live() <= before)
   end)

   it("closing twice, then collecting, is harmless", function()
      local x = gan.ones(4)
      local close = getmetatable(x).__close
      close(x)
      close(x)
      x = nil
      collectgarbage("collect")
      assert.are.equal(3, gan.ones(3):sum():item())
   end)
end)
