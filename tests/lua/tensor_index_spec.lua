-- Joins, splits and index ops: cat, stack, split, chunk, index_select, gather, scatter_add.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "tensor_helpers.lua")

local function I(t) return gan.tensor(t, { dtype = "int64" }) end

-- Reference cat of nested tables along (positive) dim d.
local function ref_cat(list, d)
   local shapes = {}
   for i, v in ipairs(list) do shapes[i] = H.shape_of(v) end
   local out_shape = { table.unpack(shapes[1]) }
   out_shape[d] = 0
   for _, s in ipairs(shapes) do out_shape[d] = out_shape[d] + s[d] end
   return H.build(out_shape, function(idx)
      local k, pos = 1, idx[d]
      while pos > shapes[k][d] do pos = pos - shapes[k][d]; k = k + 1 end
      local j = { table.unpack(idx) }
      j[d] = pos
      return H.at(list[k], j)
   end)
end

describe("cat", function()
   it("joins along each dim, negative dims included", function()
      local a, b, c = H.data({ 2, 3, 4 }, 1), H.data({ 2, 3, 4 }, 2), H.data({ 2, 3, 4 }, 3)
      for _, d in ipairs { 1, 2, 3 } do
         local r = gan.cat({ gan.tensor(a, { dtype = "float64" }), gan.tensor(b, { dtype = "float64" }),
            gan.tensor(c, { dtype = "float64" }) }, d)
         H.assert_exact(r, ref_cat({ a, b, c }, d))
         local rn = gan.cat({ gan.tensor(a, { dtype = "float64" }), gan.tensor(b, { dtype = "float64" }) }, d - 4)
         H.assert_exact(rn, ref_cat({ a, b }, d))
      end
   end)

   it("defaults to dim 1 and accepts different sizes along the cat dim", function()
      local a, b = H.data({ 1, 3 }, 4), H.data({ 2, 3 }, 5)
      local r = gan.cat({ gan.tensor(a, { dtype = "float64" }), gan.tensor(b, { dtype = "float64" }) })
      H.assert_exact(r, ref_cat({ a, b }, 1))
      local c = gan.cat({ gan.ones(2, 3), gan.zeros(2, 1) }, -1)
      H.assert_exact(c, { { 1, 1, 1, 0 }, { 1, 1, 1, 0 } })
   end)

   it("accepts non-contiguous inputs, empty pieces and int64", function()
      local x = gan.tensor({ { 1, 2 }, { 3, 4 } })
      H.assert_exact(gan.cat({ x:t(), x }, 2), { { 1, 3, 1, 2 }, { 2, 4, 3, 4 } })
      H.assert_exact(gan.cat({ gan.zeros(0, 2), x, gan.zeros(0, 2) }), { { 1, 2 }, { 3, 4 } })
      local i = gan.cat({ gan.arange(3), gan.arange(2) })
      assert.are.equal("int64", i.dtype)
      assert.are.same({ 0, 1, 2, 0, 1 }, i:totable())
      assert.are.same({ 0, 1, 2 }, gan.cat({ gan.arange(3) }):totable())
   end)

   it("result does not alias its inputs", function()
      local a = gan.ones(2)
      local r = gan.cat({ a, a })
      r[1] = 5
      assert.are.equal(1, a[1])
   end)

   it("rejects mismatched shapes and dtypes, bad entries, bad dims", function()
      H.assert_err(function() gan.cat({ gan.ones(2, 3), gan.ones(2, 1) }) end, "cat", "(2, 1)", "(2, 3)")
      H.assert_err(function() gan.cat({ gan.ones(2), gan.arange(2) }) end, "cat", "int64", "float32")
      H.assert_err(function() gan.cat({ gan.ones(2), 5 }) end, "cat", "entry 2 is not a tensor")
      H.assert_err(function() gan.cat({}) end, "cat", "at least one")
      H.assert_err(function() gan.cat({ gan.ones(2, 3) }, 3) end, "cat", "dim 3 out of range")
      H.assert_err(function() gan.cat({ gan.ones(2, 3), gan.ones(2, 3, 1) }) end, "cat")
      H.assert_err(function() gan.cat({ gan.tensor(1), gan.tensor(2) }) end, "cat", "0-d")
   end)
end)

describe("stack", function()
   it("adds a new dim at the given position", function()
      local a, b = { { 1, 2, 3 }, { 4, 5, 6 } }, { { 7, 8, 9 }, { 10, 11, 12 } }
      local ta, tb = gan.tensor(a), gan.tensor(b)
      H.assert_exact(gan.stack({ ta, tb }), { a, b })
      local s2 = gan.stack({ ta, tb }, 2)
      H.assert_exact(s2, { { a[1], b[1] }, { a[2], b[2] } })
      local s3 = gan.stack({ ta, tb }, -1)
      assert.are.same({ 2, 3, 2 }, s3:size())
      H.assert_exact(s3, H.build({ 2, 3, 2 }, function(i) return ({ a, b })[i[3]][i[1]][i[2]] end))
      H.assert_exact(gan.stack({ gan.tensor(1), gan.tensor(2) }), { 1, 2 })
   end)

   it("rejects shape mismatches and non-tensors", function()
      H.assert_err(function() gan.stack({ gan.ones(2), gan.zeros(3) }) end, "stack", "entry 2", "{3}", "{2}")
      H.assert_err(function() gan.stack({ gan.ones(2), "x" }) end, "stack", "entry 2 is not a tensor")
      H.assert_err(function() gan.stack({}) end, "stack")
   end)
end)

describe("split and chunk", function()
   local x = gan.arange(10)

   it("split by size gives views of that size, the last one smaller", function()
      local parts = x:split(3)
      assert.are.equal(4, #parts)
      assert.are.same({ 0, 1, 2 }, parts[1]:totable())
      assert.are.same({ 9 }, parts[4]:totable())
      parts[2][1] = 100
      assert.are.equal(100, x[4])
      x[4] = 3
      assert.are.equal(1, #x:split(10))
      assert.are.equal(1, #x:split(20))
   end)

   it("split by a table of sizes, along any dim", function()
      local m = gan.tensor(H.data({ 3, 6 }, 9), { dtype = "float64" })
      local parts = m:split({ 1, 2, 3 }, 2)
      assert.are.equal(3, #parts)
      assert.are.same({ 3, 1 }, parts[1]:size())
      assert.are.same({ 3, 3 }, parts[3]:size())
      H.assert_exact(parts[2], H.build({ 3, 2 }, function(i) return m[i[1]][i[2] + 1] end))
      H.assert_exact(gan.cat(parts, 2), m:totable())
      local rows = m:split({ 2, 1 })
      assert.are.same({ 2, 6 }, rows[1]:size())
      local neg = m:split(4, -1)
      assert.are.same({ 3, 4 }, neg[1]:size())
      assert.are.same({ 3, 2 }, neg[2]:size())
   end)

   it("split rejects sizes that do not add up and bad sizes", function()
      H.assert_err(function() x:split({ 3, 3 }) end, "split", "sum to 6", "size 10")
      H.assert_err(function() x:split(0) end, "split", "positive")
      H.assert_err(function() x:split(1.5) end, "split")
   end)

   it("chunk splits into pieces of ceil(n / chunks)", function()
      local function sizes(list)
         local r = {}
         for i, p in ipairs(list) do r[i] = p:numel() end
         return r
      end
      assert.are.same({ 4, 4, 2 }, sizes(x:chunk(3)))
      assert.are.same({ 5, 5 }, sizes(x:chunk(2)))
      assert.are.same({ 3, 3, 3, 1 }, sizes(x:chunk(4)))
      assert.are.same({ 10 }, sizes(x:chunk(1)))
      local m = gan.zeros(2, 7)
      assert.are.same({ 2, 4 }, m:chunk(2, 2)[1]:size())
      assert.are.same({ 2, 3 }, gan.chunk(m, 2, -1)[2]:size())
      H.assert_err(function() x:chunk(0) end, "chunk", "positive")
   end)
end)

describe("index_select", function()
   local vals = H.data({ 4, 5 }, 13)
   local x = gan.tensor(vals, { dtype = "float64" })

   it("picks rows or columns by 0-based int64 indices, repeats allowed", function()
      local r = x:index_select(1, I({ 3, 0, 3 }))
      H.assert_exact(r, { vals[4], vals[1], vals[4] })
      local c = x:index_select(2, I({ 4, 1 }))
      H.assert_exact(c, H.build({ 4, 2 }, function(i) return vals[i[1]][({ 5, 2 })[i[2]]] end))
      H.assert_exact(x:index_select(-1, I({ 0 })), H.build({ 4, 1 }, function(i) return vals[i[1]][1] end))
      assert.are.same({ 0, 5 }, x:index_select(1, I({})):size())
   end)

   it("works on views and copies the data", function()
      local t = x:t()
      local r = t:index_select(1, I({ 1 }))
      H.assert_exact(r, { H.build({ 4 }, function(i) return vals[i[1]][2] end) })
      r[1][1] = 1000
      assert.are_not.equal(1000, x[1][2])
      local idx = I({ 0, 1, 2, 3 }):narrow(1, 2, 2)   -- an offset index view
      H.assert_exact(x:index_select(1, idx), { vals[2], vals[3] })
   end)

   -- every dim of a 3-d tensor of each dtype, against element-wise references
   it("selects and adds along every dim of 3-d tensors of each dtype", function()
      local v = H.data({ 3, 4, 5 }, 21)
      local idx = { 2, 0, 2, 1 }
      for _, dtype in ipairs { "float32", "float64", "int64" } do
         local t = gan.tensor(v, { dtype = dtype })
         if dtype == "int64" then t = (t * 10):long() end
         local tv = {}
         for a = 1, 3 do tv[a] = {} for b = 1, 4 do tv[a][b] = {} for c = 1, 5 do tv[a][b][c] = t[a][b][c] end end end
         for dim = 1, 3 do
            local size = { 3, 4, 5 }
            size[dim] = #idx
            local got = t:index_select(dim, I(idx))
            H.assert_exact(got, H.build(size, function(i)
               local j = { i[1], i[2], i[3] }
               j[dim] = idx[i[dim]] + 1
               return tv[j[1]][j[2]][j[3]]
            end), dtype .. " dim " .. dim)
            -- its gradient is index_add of the incoming gradient (here a transposed,
            -- strided one): repeated indices add up
            if dtype ~= "int64" then
               local leaf = t:clone():requires_grad_()
               local g = got:transpose(1, 3):contiguous():transpose(1, 3)
               leaf:index_select(dim, I(idx)):backward(g)
               local want = H.build({ 3, 4, 5 }, function() return 0 end)
               for a = 1, size[1] do for b = 1, size[2] do for c = 1, size[3] do
                  local j = { a, b, c }
                  j[dim] = idx[j[dim]] + 1
                  want[j[1]][j[2]][j[3]] = want[j[1]][j[2]][j[3]] + got[a][b][c]
               end end end
               H.assert_exact(leaf.grad, want, dtype .. " index_add dim " .. dim)
            end
         end
      end
   end)

   it("rejects out-of-range indices, float indices and 2-d indices", function()
      H.assert_err(function() x:index_select(1, I({ 4 })) end, "index_select", "index 4 out of range")
      H.assert_err(function() x:index_select(1, I({ -1 })) end, "index_select", "out of range")
      H.assert_err(function() x:index_select(1, gan.tensor({ 1 })) end, "index_select", "int64")
      H.assert_err(function() x:index_select(1, I({ { 1 } })) end, "index_select", "1-d")
      H.assert_err(function() x:index_select(3, I({ 0 })) end, "index_select", "dim 3 out of range")
   end)
end)

describe("gather", function()
   local vals = H.data({ 3, 4 }, 17)
   local x = gan.tensor(vals, { dtype = "float64" })

   it("out[i][j] = x[index[i][j]][j] along dim 1 and x[i][index[i][j]] along dim 2", function()
      local iv = { { 2, 0, 1, 2 }, { 0, 0, 0, 1 } }
      H.assert_exact(x:gather(1, I(iv)), H.build({ 2, 4 }, function(p) return vals[iv[p[1]][p[2]] + 1][p[2]] end))
      local jv = { { 3, 3 }, { 0, 1 }, { 2, 0 } }
      H.assert_exact(x:gather(2, I(jv)), H.build({ 3, 2 }, function(p) return vals[p[1]][jv[p[1]][p[2]] + 1] end))
      H.assert_exact(gan.gather(x, -1, I(jv)), H.build({ 3, 2 }, function(p) return vals[p[1]][jv[p[1]][p[2]] + 1] end))
   end)

   it("gathers the labels' scores, as a loss would", function()
      local logits = gan.tensor({ { 0.1, 0.7, 0.2 }, { 0.5, 0.3, 0.2 } }, { dtype = "float64" })
      local labels = I({ 1, 0 })
      H.assert_exact(logits:gather(2, labels:unsqueeze(2)):squeeze(2), { 0.7, 0.5 })
   end)

   it("works on a transposed source", function()
      local t = x:t()   -- (4, 3)
      local iv = { { 2 }, { 0 }, { 1 }, { 2 } }
      H.assert_exact(t:gather(2, I(iv)), H.build({ 4, 1 }, function(p) return vals[iv[p[1]][1] + 1][p[1]] end))
   end)

   it("rejects out-of-range indices and mismatched ranks", function()
      H.assert_err(function() x:gather(2, I({ { 4 } })) end, "gather", "index 4 out of range")
      H.assert_err(function() x:gather(2, I({ 0, 1 })) end, "gather", "ndim must match")
      H.assert_err(function() x:gather(1, I({ { 0, 0, 0, 0, 0 } })) end, "gather", "larger")
      H.assert_err(function() x:gather(2, gan.tensor({ { 0 } })) end, "gather", "int64")
   end)
end)

describe("scatter_add", function()
   it("adds src into the indexed positions; duplicates accumulate", function()
      local z = gan.zeros(3, { dtype = "float64" })
      local r = z:scatter_add(1, I({ 0, 1, 0, 0 }), gan.tensor({ 1, 2, 3, 4 }, { dtype = "float64" }))
      H.assert_exact(r, { 8, 2, 0 })
      H.assert_exact(z, { 0, 0, 0 })   -- out of place
   end)

   it("2-d along each dim against a reference loop", function()
      local base = H.data({ 3, 4 }, 21)
      local src = H.data({ 2, 4 }, 22)
      local iv = { { 2, 0, 2, 1 }, { 2, 2, 0, 1 } }
      local want = H.map(base, function(v) return v end)
      for i = 1, 2 do for j = 1, 4 do
         want[iv[i][j] + 1][j] = want[iv[i][j] + 1][j] + src[i][j]
      end end
      local x = gan.tensor(base, { dtype = "float64" })
      H.assert_tensor(x:scatter_add(1, I(iv), gan.tensor(src, { dtype = "float64" })), want, 1e-15, 1e-15)
      local jv = { { 0, 0 }, { 3, 1 }, { 1, 1 } }
      local src2 = H.data({ 3, 2 }, 23)
      local want2 = H.map(base, function(v) return v end)
      for i = 1, 3 do for j = 1, 2 do
         want2[i][jv[i][j] + 1] = want2[i][jv[i][j] + 1] + src2[i][j]
      end end
      H.assert_tensor(x:scatter_add(2, I(jv), gan.tensor(src2, { dtype = "float64" })), want2, 1e-15, 1e-15)
   end)

   it("scatter_add_ works in place, also into a view", function()
      local x = gan.zeros(2, 3)
      local r = x:scatter_add_(2, I({ { 1, 1 }, { 2, 0 } }), gan.tensor({ { 1, 2 }, { 3, 4 } }))
      assert.are.equal(x, r)
      H.assert_exact(x, { { 0, 3, 0 }, { 4, 0, 3 } })
      local y = gan.zeros(3, 2)
      y:t():scatter_add_(2, I({ { 0, 0, 2 } }), gan.tensor({ { 1, 1, 5 } }))
      H.assert_exact(y, { { 2, 0 }, { 0, 0 }, { 5, 0 } })
   end)

   it("int64 counts, like a histogram", function()
      local labels = I({ 2, 0, 2, 2, 1, 0 })
      local counts = gan.zeros(3, { dtype = "int64" }):scatter_add(1, labels, gan.ones(6, { dtype = "int64" }))
      assert.are.same({ 2, 1, 3 }, counts:totable())
   end)

   it("rejects out-of-range indices and dtype mismatches", function()
      H.assert_err(function() gan.zeros(3):scatter_add(1, I({ 3 }), gan.ones(1)) end, "scatter_add", "index 3 out of range")
      H.assert_err(function() gan.zeros(3):scatter_add(1, I({ 0 }), gan.ones(1, { dtype = "float64" })) end, "scatter_add", "dtype")
      H.assert_err(function() gan.zeros(3):scatter_add(1, I({ 0, 1 }), gan.ones(1)) end, "scatter_add", "larger")
   end)
end)
