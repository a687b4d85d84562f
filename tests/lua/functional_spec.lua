-- gan.F: pooling, resampling, pixel shuffle, padding, embedding, dropout, activations and
-- softmax family, each against a plain-Lua float64 reference and gradcheck.
local gan = require("gan")
local A = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "ag_helpers.lua")
local F = gan.F
local gradcheck = gan.testing.gradcheck

local function pair(v, d)
   if v == nil then return { d, d } end
   if type(v) == "number" then return { v, v } end
   return v
end

-- Non-contiguous 4-d variants with the same values.
local function strided4(x)
   return {
      transposed = x:transpose(3, 4):contiguous():transpose(3, 4),
      narrowed = gan.cat({ x, x * 0 }, 2):narrow(2, 1, x:size(2)),
   }
end

local function for_layouts4(x, fn)
   fn(x, "contiguous")
   for kind, xs in pairs(strided4(x)) do fn(xs, kind) end
end

-- ---------------------------------------------------------------- pooling

describe("avg_pool2d", function()
   before_each(function() gan.manual_seed(41) end)

   local function ref(x, k, opts)
      opts = opts or {}
      k = pair(k)
      local s, p = pair(opts.stride, nil), pair(opts.padding, 0)
      if opts.stride == nil then s = k end
      local include = opts.count_include_pad ~= false
      local N, C, H, W = table.unpack(x.shape)
      local Ho, Wo = (H + 2 * p[1] - k[1]) // s[1] + 1, (W + 2 * p[2] - k[2]) // s[2] + 1
      return A.build({ N, C, Ho, Wo }, function(i)
         local acc, cnt = 0, 0
         for a = 1, k[1] do
            for b = 1, k[2] do
               local h = (i[3] - 1) * s[1] - p[1] + a
               local w = (i[4] - 1) * s[2] - p[2] + b
               if h >= 1 and h <= H and w >= 1 and w <= W then
                  acc = acc + A.get(x, { i[1], i[2], h, w }); cnt = cnt + 1
               end
            end
         end
         return acc / (include and k[1] * k[2] or cnt)
      end)
   end

   local cases = {
      { 2, {} },
      { { 3, 2 }, { stride = 1 } },
      { 3, { stride = 2, padding = 1 } },
      { 3, { stride = 2, padding = 1, count_include_pad = false } },
      { { 2, 3 }, { stride = { 1, 2 }, padding = { 1, 1 }, count_include_pad = false } },
   }

   it("forward against window averages", function()
      local x = A.randn { 2, 3, 7, 6 }
      for n, c in ipairs(cases) do
         local want = ref(A.arr(x), c[1], c[2])
         for_layouts4(x, function(xl, kind)
            A.close(F.avg_pool2d(xl, c[1], c[2]), want, 1e-12, 1e-12, "case " .. n .. " " .. kind)
         end)
      end
   end)

   it("backward passes gradcheck", function()
      local x = A.leaf(A.randn { 1, 2, 5, 4 })
      for _, c in ipairs(cases) do
         assert(gradcheck(function(t) return F.avg_pool2d(t, c[1], c[2]) end, { x }))
      end
   end)
end)

describe("max_pool2d", function()
   before_each(function() gan.manual_seed(42) end)

   local function out_size(n, k, s, p, d, ceil)
      local span = n + 2 * p - d * (k - 1) - 1
      local o = (ceil and math.ceil(span / s) or span // s) + 1
      if ceil and (o - 1) * s >= n + p then o = o - 1 end
      return o
   end

   local function ref(x, k, opts)
      opts = opts or {}
      k = pair(k)
      local s = opts.stride and pair(opts.stride) or k
      local p, d = pair(opts.padding, 0), pair(opts.dilation, 1)
      local N, C, H, W = table.unpack(x.shape)
      local Ho = out_size(H, k[1], s[1], p[1], d[1], opts.ceil_mode)
      local Wo = out_size(W, k[2], s[2], p[2], d[2], opts.ceil_mode)
      local idx = {}
      local vals = A.build({ N, C, Ho, Wo }, function(i)
         local best, bi = -math.huge, -1
         for a = 0, k[1] - 1 do
            for b = 0, k[2] - 1 do
               local h = (i[3] - 1) * s[1] - p[1] + a * d[1]
               local w = (i[4] - 1) * s[2] - p[2] + b * d[2]
               if h >= 0 and h < H and w >= 0 and w < W then
                  local v = A.get(x, { i[1], i[2], h + 1, w + 1 })
                  if v > best then best, bi = v, h * W + w end
               end
            end
         end
         idx[#idx + 1] = bi
         return best
      end)
      return vals, { shape = vals.shape, data = idx }
   end

   local cases = {
      { 2, {} },
      { 3, { stride = 2, padding = 1 } },
      { { 2, 3 }, { stride = { 2, 1 }, dilation = { 2, 1 } } },
      { 3, { stride = 2, ceil_mode = true } },
      { 2, { stride = 2, ceil_mode = true, padding = 1 } },
   }

   it("forward values and 0-based flat indices", function()
      local x = A.randn { 2, 2, 7, 6 }
      for n, c in ipairs(cases) do
         local wv, wi = ref(A.arr(x), c[1], c[2])
         for_layouts4(x, function(xl, kind)
            local o = {}
            for key, v in pairs(c[2]) do o[key] = v end
            o.return_indices = true
            local y, idx = F.max_pool2d(xl, c[1], o)
            A.close(y, wv, 0, 0, "case " .. n .. " " .. kind)
            A.close(idx, wi, 0, 0, "indices case " .. n .. " " .. kind)
            A.close(F.max_pool2d(xl, c[1], c[2]), wv, 0, 0)
         end)
      end
   end)

   it("backward passes gradcheck (distinct values)", function()
      -- a permutation of well separated values: no ties, no near-ties
      local perm = gan.randperm(40):double() * 0.1
      local x = A.leaf(perm:view(1, 2, 5, 4))
      for _, c in ipairs(cases) do
         assert(gradcheck(function(t) return F.max_pool2d(t, c[1], c[2]) end, { x }))
      end
   end)

   it("propagates NaN like PyTorch", function()
      local x = gan.tensor({ { { { 1, 0 / 0, 2, 3 }, { 4, 5, 6, 7 } } } }, A.F64)
      local y, idx = F.max_pool2d(x, 2, { return_indices = true })
      local v = A.arr(y).data
      assert(v[1] ~= v[1], "NaN expected in the first window")
      assert.are.equal(7, v[2])
      A.close(idx, { 1, 7 }, 0, 0)
   end)

   it("bad input names the op", function()
      A.raises(function() F.max_pool2d(A.randn { 2, 3, 4 }, 2) end, "max_pool2d", "(2, 3, 4)")
      A.raises(function() F.max_pool2d(A.randn { 1, 1, 4, 4 }, 2, { padding = 2 }) end, "max_pool2d", "padding")
   end)
end)

describe("adaptive_avg_pool2d", function()
   before_each(function() gan.manual_seed(43) end)

   -- PyTorch's rule: window i covers [floor(i H / h), ceil((i + 1) H / h)).
   local function ref(x, size)
      size = pair(size)
      local N, C, H, W = table.unpack(x.shape)
      return A.build({ N, C, size[1], size[2] }, function(i)
         local h0, h1 = math.floor((i[3] - 1) * H / size[1]), math.ceil(i[3] * H / size[1])
         local w0, w1 = math.floor((i[4] - 1) * W / size[2]), math.ceil(i[4] * W / size[2])
         local acc = 0
         for h = h0, h1 - 1 do
            for w = w0, w1 - 1 do acc = acc + A.get(x, { i[1], i[2], h + 1, w + 1 }) end
         end
         return acc / ((h1 - h0) * (w1 - w0))
      end)
   end

   it("forward for divisible and non-divisible sizes", function()
      local x = A.randn { 2, 3, 6, 7 }
      for _, s in ipairs { { 3, 7 }, 1, { 2, 1 }, { 4, 5 }, { 5, 3 }, { 6, 7 }, { 1, 7 } } do
         local want = ref(A.arr(x), s)
         for_layouts4(x, function(xl, kind)
            A.close(F.adaptive_avg_pool2d(xl, s), want, 1e-12, 1e-12,
               (type(s) == "table" and table.concat(s, "x") or s) .. " " .. kind)
         end)
      end
   end)

   it("backward passes gradcheck", function()
      local x = A.leaf(A.randn { 1, 2, 5, 4 })
      for _, s in ipairs { { 1, 1 }, { 3, 3 }, { 5, 2 }, 2 } do
         assert(gradcheck(function(t) return F.adaptive_avg_pool2d(t, s) end, { x }))
      end
   end)
end)

-- ---------------------------------------------------------------- resampling

describe("interpolate bicubic", function()
   -- Keys' cubic convolution, a = -0.5, written out as a 1-d resampler
   local function keys(t)
      t = math.abs(t)
      if t <= 1 then return 1.5 * t ^ 3 - 2.5 * t ^ 2 + 1 elseif t < 2 then return -0.5 * t ^ 3 + 2.5 * t ^ 2 - 4 * t + 2 end
      return 0
   end
   local function resample1d(v, out)
      local n, r = #v, {}
      for i = 0, out - 1 do
         local src = (i + 0.5) * n / out - 0.5
         local acc = 0
         for k = math.floor(src) - 1, math.floor(src) + 2 do
            acc = acc + keys(src - k) * v[math.min(math.max(k, 0), n - 1) + 1]
         end
         r[i + 1] = acc
      end
      return r
   end

   it("is Keys' cubic convolution along each axis (a = -0.5, edges replicated)", function()
      local x = gan.rand({ 1, 1, 3, 5 }, { generator = gan.Generator(6), dtype = "float64" })
      local y = F.interpolate(x, { scale_factor = 2, mode = "bicubic" })
      assert.are.same({ 1, 1, 6, 10 }, y:size())
      local rows = x[1][1]:totable()
      local wide = {}
      for i, r in ipairs(rows) do wide[i] = resample1d(r, 10) end
      local want = {}
      for j = 1, 10 do
         local col = {}
         for i = 1, 3 do col[i] = wide[i][j] end
         local c = resample1d(col, 6)
         for i = 1, 6 do want[i] = want[i] or {}; want[i][j] = c[i] end
      end
      local got = y[1][1]:totable()
      for i = 1, 6 do for j = 1, 10 do
         assert.is_true(math.abs(got[i][j] - want[i][j]) < 1e-12, i .. "," .. j)
      end end
      -- a constant stays constant; a linear ramp stays linear inside (the kernel reproduces lines)
      local c = F.interpolate(gan.full({ 1, 1, 4, 4 }, 0.3, { dtype = "float64" }), { size = 8, mode = "bicubic" })
      assert.is_true((c - 0.3):abs():max():item() < 1e-12)
      assert.has_error(function() F.interpolate(x, { scale_factor = 2, mode = "cubic" }) end,
         "interpolate: unknown mode 'cubic' (nearest, bilinear or bicubic)")
   end)
end)

describe("interpolate", function()
   before_each(function() gan.manual_seed(44) end)

   -- PyTorch's definitions; scale = in/out for size, 1/scale_factor for scale_factor.
   local function src_nearest(i, scale, n) return math.min(math.floor(i * scale), n - 1) end
   local function ref(x, opts)
      local N, C, H, W = table.unpack(x.shape)
      local out, scale = {}, {}
      if opts.size then
         out = pair(opts.size)
         scale = { H / out[1], W / out[2] }
      else
         local f = pair(opts.scale_factor)
         out = { math.floor(H * f[1]), math.floor(W * f[2]) }
         scale = { 1 / f[1], 1 / f[2] }
      end
      local mode = opts.mode or "nearest"
      local function lin(i, n, o, sc)
         local src
         if opts.align_corners then
            src = o > 1 and i * (n - 1) / (o - 1) or 0
         else
            src = math.max((i + 0.5) * sc - 0.5, 0)
         end
         local i0 = math.min(math.floor(src), n - 1)
         local i1 = math.min(i0 + 1, n - 1)
         return i0, i1, src - i0
      end
      return A.build({ N, C, out[1], out[2] }, function(i)
         local oh, ow = i[3] - 1, i[4] - 1
         if mode == "nearest" then
            return A.get(x, { i[1], i[2], src_nearest(oh, scale[1], H) + 1, src_nearest(ow, scale[2], W) + 1 })
         end
         local h0, h1, lh = lin(oh, H, out[1], scale[1])
         local w0, w1, lw = lin(ow, W, out[2], scale[2])
         local function v(h, w) return A.get(x, { i[1], i[2], h + 1, w + 1 }) end
         return (1 - lh) * ((1 - lw) * v(h0, w0) + lw * v(h0, w1)) + lh * ((1 - lw) * v(h1, w0) + lw * v(h1, w1))
      end)
   end

   local cases = {
      { mode = "nearest", scale_factor = 2 },
      { mode = "nearest", size = { 7, 3 } },
      { mode = "nearest", size = 5 },
      { mode = "nearest", scale_factor = { 0.5, 1.5 } },
      { mode = "bilinear", scale_factor = 2 },
      { mode = "bilinear", scale_factor = 2, align_corners = true },
      { mode = "bilinear", size = { 7, 3 } },
      { mode = "bilinear", size = { 7, 3 }, align_corners = true },
      { mode = "bilinear", size = { 2, 9 }, align_corners = false },
      { mode = "bilinear", scale_factor = { 0.5, 1.5 }, align_corners = true },
      { mode = "bilinear", size = { 1, 1 }, align_corners = true },
   }
   local function name(c)
      return c.mode .. " " .. (c.size and ("size " .. (type(c.size) == "table" and table.concat(c.size, "x") or c.size))
         or ("scale " .. (type(c.scale_factor) == "table" and table.concat(c.scale_factor, "x") or c.scale_factor)))
         .. (c.align_corners and " align" or "")
   end

   it("known PyTorch values for a 2x2 image", function()
      local x = gan.tensor({ { { { 1, 2 }, { 3, 4 } } } }, A.F64)
      A.close(F.interpolate(x, { scale_factor = 2, mode = "bilinear" }), {
         { 1.0, 1.25, 1.75, 2.0 }, { 1.5, 1.75, 2.25, 2.5 }, { 2.5, 2.75, 3.25, 3.5 }, { 3.0, 3.25, 3.75, 4.0 } }, 1e-12, 0)
      local t = 1 / 3
      A.close(F.interpolate(x, { size = 4, mode = "bilinear", align_corners = true }), {
         { 1, 1 + t, 1 + 2 * t, 2 }, { 1 + 2 * t, 2, 2 + t, 2 + 2 * t },
         { 2 + t, 2 + 2 * t, 3, 3 + t }, { 3, 3 + t, 3 + 2 * t, 4 } }, 1e-12, 0)
      A.close(F.interpolate(x, { scale_factor = 2 }), {
         { 1, 1, 2, 2 }, { 1, 1, 2, 2 }, { 3, 3, 4, 4 }, { 3, 3, 4, 4 } }, 0, 0)
   end)

   it("forward against the PyTorch definitions", function()
      local x = A.randn { 2, 2, 4, 5 }
      for _, c in ipairs(cases) do
         local want = ref(A.arr(x), c)
         for_layouts4(x, function(xl, kind)
            A.close(F.interpolate(xl, c), want, 1e-12, 1e-12, name(c) .. " " .. kind)
         end)
      end
   end)

   it("backward passes gradcheck", function()
      local x = A.leaf(A.randn { 1, 2, 3, 4 })
      for _, c in ipairs(cases) do
         local ok, err = pcall(gradcheck, function(t) return F.interpolate(t, c) end, { x })
         assert(ok, name(c) .. ": " .. tostring(err))
      end
   end)

   it("rejects a missing size and an unknown mode", function()
      local x = A.randn { 1, 1, 2, 2 }
      A.raises(function() F.interpolate(x, {}) end, "interpolate", "size")
      A.raises(function() F.interpolate(x, { size = 4, mode = "area" }) end, "interpolate", "area")
   end)
end)

describe("pixel_shuffle", function()
   before_each(function() gan.manual_seed(45) end)

   -- (the second shape has rows long enough for the copy to iterate along them)
   it("shuffle and unshuffle follow PyTorch's channel order and invert each other", function()
      for _, sh in ipairs { { 2, 8, 3, 2 }, { 1, 4, 16, 17 } } do
         local r = 2
         local x = A.randn(sh)
         local xv = A.arr(x)
         local want = A.build({ sh[1], sh[2] // 4, sh[3] * 2, sh[4] * 2 }, function(i)
            local h, a = (i[3] - 1) // r, (i[3] - 1) % r
            local w, b = (i[4] - 1) // r, (i[4] - 1) % r
            return A.get(xv, { i[1], (i[2] - 1) * r * r + a * r + b + 1, h + 1, w + 1 })
         end)
         for_layouts4(x, function(xl, kind) A.close(F.pixel_shuffle(xl, r), want, 0, 0, kind) end)
         local y = A.randn { sh[1], sh[2] // 4, sh[3] * 2, sh[4] * 2 }
         local yv = A.arr(y)
         local wu = A.build(sh, function(i)
            local c, rest = (i[2] - 1) // (r * r), (i[2] - 1) % (r * r)
            local a, b = rest // r, rest % r
            return A.get(yv, { i[1], c + 1, (i[3] - 1) * r + a + 1, (i[4] - 1) * r + b + 1 })
         end)
         for_layouts4(y, function(yl, kind) A.close(F.pixel_unshuffle(yl, r), wu, 0, 0, kind) end)
         A.close(F.pixel_unshuffle(F.pixel_shuffle(x, 2), 2), xv, 0, 0)
      end
      local x3 = A.randn { 1, 9, 2, 2 }
      A.close(F.pixel_unshuffle(F.pixel_shuffle(x3, 3), 3), A.arr(x3), 0, 0)
   end)

   it("backward passes gradcheck and errors name the op", function()
      assert(gradcheck(function(t) return F.pixel_shuffle(t, 2) end, { A.leaf(A.randn { 1, 4, 2, 3 }) }))
      assert(gradcheck(function(t) return F.pixel_unshuffle(t, 2) end, { A.leaf(A.randn { 1, 1, 4, 2 }) }))
      A.raises(function() F.pixel_shuffle(A.randn { 1, 3, 2, 2 }, 2) end, "pixel_shuffle", "(1, 3, 2, 2)")
      A.raises(function() F.pixel_unshuffle(A.randn { 1, 1, 3, 2 }, 2) end, "pixel_unshuffle", "(1, 1, 3, 2)")
   end)
end)

describe("pad", function()
   before_each(function() gan.manual_seed(46) end)

   local function ref(x, pads, mode, value)
      local nd = #x.shape
      local shape, before = {}, {}
      for d = 1, nd do shape[d] = x.shape[d]; before[d] = 0 end
      for k = 1, #pads // 2 do
         local d = nd - k + 1
         before[d] = pads[2 * k - 1]
         shape[d] = shape[d] + pads[2 * k - 1] + pads[2 * k]
      end
      return A.build(shape, function(i)
         local src = {}
         for d = 1, nd do
            local n, j = x.shape[d], i[d] - 1 - before[d]
            if j < 0 or j >= n then
               if mode == "constant" then return value or 0 end
               if mode == "replicate" then j = math.min(math.max(j, 0), n - 1) end
               if mode == "reflect" then j = j < 0 and -j or 2 * (n - 1) - j end
            end
            src[d] = j + 1
         end
         return A.get(x, src)
      end)
   end

   it("constant, reflect and replicate on the last one and two dims", function()
      local x = A.randn { 2, 3, 4, 5 }
      local cases = {
         { { 1, 2 }, "constant", 0 },
         { { 2, 1, 1, 3 }, "constant", 1.5 },
         { { 2, 3 }, "reflect" },
         { { 1, 2, 3, 1 }, "reflect" },
         { { 3, 1 }, "replicate" },
         { { 2, 2, 1, 4 }, "replicate" },
      }
      for n, c in ipairs(cases) do
         local want = ref(A.arr(x), c[1], c[2], c[3])
         for_layouts4(x, function(xl, kind)
            A.close(F.pad(xl, c[1], c[2], c[3]), want, 0, 0, "case " .. n .. " " .. kind)
         end)
         assert(gradcheck(function(t) return F.pad(t, c[1], c[2], c[3]) end, { A.leaf(A.randn { 1, 2, 4, 4 }) }))
      end
      -- default mode is constant 0; negative constant padding crops
      A.close(F.pad(x, { 1, 1 }), ref(A.arr(x), { 1, 1 }, "constant", 0), 0, 0)
      local xv = A.arr(x)
      A.close(F.pad(x, { -1, 2 }), A.build({ 2, 3, 4, 6 }, function(i)
         return i[4] <= 4 and A.get(xv, { i[1], i[2], i[3], i[4] + 1 }) or 0
      end), 0, 0)
   end)

   it("rejects reflect padding as large as the dim", function()
      A.raises(function() F.pad(A.randn { 1, 1, 3, 3 }, { 3, 0 }, "reflect") end, "pad", "reflect")
      A.raises(function() F.pad(A.randn { 3 }, { 1, 1 }, "wrap") end, "pad", "wrap")
   end)
end)

-- ---------------------------------------------------------------- embedding, dropout

describe("embedding", function()
   before_each(function() gan.manual_seed(47) end)

   it("picks rows for 0-based indices of any shape and accumulates repeats", function()
      local w = A.randn { 5, 3 }
      local wv = A.arr(w)
      local iv = { { 4, 0, 2 }, { 0, 0, 1 } }
      local idx = gan.tensor(iv, { dtype = "int64" })
      A.close(F.embedding(idx, w), A.build({ 2, 3, 3 }, function(i)
         return A.get(wv, { iv[i[1]][i[2]] + 1, i[3] })
      end), 0, 0)
      for kind, wl in pairs(A.layouts(w)) do
         A.close(F.embedding(gan.tensor({ 1, 4 }, { dtype = "int64" }), wl), A.build({ 2, 3 }, function(i)
            return A.get(wv, { ({ 2, 5 })[i[1]], i[2] })
         end), 0, 0, kind)
      end
      assert(gradcheck(function(t) return F.embedding(idx, t) end, { A.leaf(w) }))
      local wl = A.leaf(w)
      F.embedding(idx, wl):sum():backward()
      A.close(wl.grad, A.build({ 5, 3 }, function(i) return ({ 3, 1, 1, 0, 1 })[i[1]] end), 0, 0)
      A.raises(function() F.embedding(gan.tensor { 1.0 }, w) end, "embedding", "int64")
   end)
end)

describe("dropout", function()
   before_each(function() gan.manual_seed(48) end)

   it("zeroes about p of the elements and scales the rest by 1/(1-p)", function()
      local x = gan.ones({ 200, 100 }, A.F64)
      for _, p in ipairs { 0.2, 0.5, 0.8 } do
         local y = F.dropout(x, p, true)
         local v = A.arr(y).data
         local zeros = 0
         for _, e in ipairs(v) do
            if e == 0 then zeros = zeros + 1
            else assert(math.abs(e - 1 / (1 - p)) < 1e-12, "kept value " .. e) end
         end
         local frac = zeros / #v
         -- 20,000 Bernoulli draws: 5 standard deviations of the fraction
         local sd = math.sqrt(p * (1 - p) / #v)
         assert(math.abs(frac - p) < 5 * sd, ("p = %g: zero fraction %g"):format(p, frac))
         -- the expectation is preserved
         assert(math.abs(y:mean():item() - 1) < 5 * math.sqrt(p / (1 - p) / #v) + 1e-12)
      end
   end)

   it("is the identity in eval mode and for p = 0; p = 1 zeroes everything", function()
      local x = A.randn { 4, 5 }
      A.close(F.dropout(x, 0.5, false), A.arr(x), 0, 0)
      A.close(F.dropout(x, 0, true), A.arr(x), 0, 0)
      A.close(F.dropout(x, 1, true), A.map(A.arr(x), function() return 0 end), 0, 0)
      A.raises(function() F.dropout(x, 1.5, true) end, "dropout")
   end)

   it("the gradient is the mask times the scale", function()
      local x = A.leaf(A.randn { 30, 30 })
      local y = F.dropout(x, 0.3, true)
      y:sum():backward()
      local yv, xv, gv = A.arr(y).data, A.arr(x).data, A.arr(x.grad).data
      for i = 1, #yv do
         if yv[i] == 0 then assert.are.equal(0, gv[i])
         else
            assert(math.abs(gv[i] - 1 / 0.7) < 1e-12)
            assert(math.abs(yv[i] - xv[i] / 0.7) < 1e-12)
         end
      end
   end)

   it("follows the generator", function()
      local x = gan.ones({ 50 }, A.F64)
      gan.manual_seed(5)
      local a = A.arr(F.dropout(x, 0.5, true)).data
      gan.manual_seed(5)
      local b = A.arr(F.dropout(x, 0.5, true)).data
      assert.are.same(a, b)
   end)
end)

-- ---------------------------------------------------------------- activations

describe("activations", function()
   before_each(function() gan.manual_seed(49) end)

   local function sigmoid(v) return 1 / (1 + math.exp(-v)) end
   local function tanh(v) return (math.exp(2 * v) - 1) / (math.exp(2 * v) + 1) end
   local cases = {
      { "relu", function(t) return F.relu(t) end, function(v) return math.max(v, 0) end },
      { "leaky_relu", function(t) return F.leaky_relu(t) end, function(v) return v > 0 and v or 0.01 * v end },
      { "leaky_relu 0.2", function(t) return F.leaky_relu(t, 0.2) end, function(v) return v > 0 and v or 0.2 * v end },
      { "elu", function(t) return F.elu(t) end, function(v) return v > 0 and v or math.exp(v) - 1 end },
      { "elu 0.5", function(t) return F.elu(t, 0.5) end, function(v) return v > 0 and v or 0.5 * (math.exp(v) - 1) end },
      { "gelu", function(t) return F.gelu(t) end, function(v) return 0.5 * v * (1 + A.erf(v / math.sqrt(2))) end },
      { "gelu tanh", function(t) return F.gelu(t, "tanh") end,
         function(v) return 0.5 * v * (1 + tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ^ 3))) end },
      { "tanh", function(t) return F.tanh(t) end, tanh },
      { "sigmoid", function(t) return F.sigmoid(t) end, sigmoid },
      { "softplus", function(t) return F.softplus(t) end, function(v) return math.log(1 + math.exp(v)) end },
      { "softplus beta 2", function(t) return F.softplus(t, 2) end, function(v) return math.log(1 + math.exp(2 * v)) / 2 end },
      { "softplus threshold 1", function(t) return F.softplus(t, 1, 1) end,
         function(v) return v > 1 and v or math.log(1 + math.exp(v)) end },
   }

   for _, c in ipairs(cases) do
      it(c[1] .. " forward and gradcheck", function()
         local x = A.away_from_zero({ 3, 5 }, 0.1, 3)
         -- keep away from softplus' threshold switch at 1 (the test with threshold 1)
         x = gan.where(x:sub(1):abs():lt(0.05), x + 0.2, x)
         local want = A.map(A.arr(x), c[3])
         for kind, xl in pairs(A.layouts(x)) do A.close(c[2](xl), want, 1e-12, 1e-12, kind) end
         assert(gradcheck(c[2], { A.leaf(x) }))
      end)
   end

   it("gradients at exactly 0 follow PyTorch (softplus 0.5, leaky_relu slope, elu alpha)", function()
      local function grad_at_zero(f)
         local z = gan.zeros({ 1 }, A.F64):requires_grad_()
         return gan.grad(f(z):sum(), z)[1]:item()
      end
      A.close(grad_at_zero(F.softplus), 0.5, 1e-15, 0)
      A.close(grad_at_zero(function(t) return F.softplus(t, 3) end), 0.5, 1e-15, 0)
      A.close(grad_at_zero(function(t) return F.leaky_relu(t, 0.2) end), 0.2, 1e-15, 0)
      A.close(grad_at_zero(function(t) return F.elu(t, 0.5) end), 0.5, 1e-15, 0)
      A.close(grad_at_zero(F.relu), 0, 0, 0)
   end)

   it("softplus is stable for large inputs and linear above the threshold", function()
      local x = gan.tensor({ -800, -30, 0, 30, 800 }, A.F64)
      local y = A.arr(F.softplus(x)).data
      A.close(y, { 0, math.exp(-30), math.log(2), 30, 800 }, 1e-12, 1e-12)
      local xl = A.leaf(x)
      F.softplus(xl):sum():backward()
      A.close(xl.grad, { 0, sigmoid(-30), 0.5, 1, 1 }, 1e-12, 1e-12)
   end)
end)

describe("softmax family", function()
   before_each(function() gan.manual_seed(50) end)

   local function lse(l)
      local m = A.maxl(l)
      local s = 0
      for _, v in ipairs(l) do s = s + math.exp(v - m) end
      return m + math.log(s)
   end

   -- Applies f(values along dim, k) to each element.
   local function along(x, dim, f)
      local nd = #x.shape
      local d = dim < 0 and nd + dim + 1 or dim
      local red = A.reduce(x, { d }, true, function(l) return l end)
      return A.build(x.shape, function(i)
         local k = i[d]
         local j = {}
         for t = 1, nd do j[t] = i[t] end
         j[d] = 1
         return f(red.data[A.pos(red.shape, j)], k)
      end)
   end

   it("softmax, log_softmax and logsumexp over each dim", function()
      local x = A.randn { 2, 3, 4 }
      local xv = A.arr(x)
      for _, d in ipairs { 1, 2, 3, -1 } do
         local sm = along(xv, d, function(l, k) return math.exp(l[k] - lse(l)) end)
         local ls = along(xv, d, function(l, k) return l[k] - lse(l) end)
         for kind, xl in pairs(A.layouts(x)) do
            A.close(F.softmax(xl, d), sm, 1e-12, 1e-12, "softmax " .. d .. " " .. kind)
            A.close(F.log_softmax(xl, d), ls, 1e-12, 1e-12, "log_softmax " .. d .. " " .. kind)
            A.close(F.logsumexp(xl, d), A.reduce(xv, { d }, false, lse), 1e-12, 1e-12, "logsumexp " .. kind)
            A.close(F.logsumexp(xl, d, true), A.reduce(xv, { d }, true, lse), 1e-12, 1e-12, "logsumexp keepdim")
         end
         local xl = A.leaf(x)
         assert(gradcheck(function(t) return F.softmax(t, d) end, { xl }))
         assert(gradcheck(function(t) return F.log_softmax(t, d) end, { xl }))
         assert(gradcheck(function(t) return F.logsumexp(t, d) end, { xl }))
      end
      -- the last dim by default
      A.close(F.softmax(x), along(xv, 3, function(l, k) return math.exp(l[k] - lse(l)) end), 1e-12, 1e-12)
   end)

   it("is stable for large logits", function()
      local x = gan.tensor({ { 1000, 1001, 999 }, { -1000, -1000, -1001 } }, A.F64)
      local want = along(A.arr(x), 2, function(l, k) return l[k] - lse(l) end)
      A.close(F.log_softmax(x, 2), want, 1e-12, 1e-12)
      A.close(F.logsumexp(x, 2), { 1000 + math.log(math.exp(0) + math.exp(1) + math.exp(-1)),
         -1000 + math.log(2 + math.exp(-1)) }, 1e-9, 1e-12)
      local xl = A.leaf(x)
      assert(gradcheck(function(t) return F.log_softmax(t, 2) end, { xl }))
      assert(gradcheck(function(t) return F.softmax(t, 1) end, { xl }))
   end)
end)
