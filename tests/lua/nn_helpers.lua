--- Helpers shared by the nn_*, optim, lr_scheduler, serialize and train_small specs:
-- plain-Lua float64 arrays, naive references (convolutions, pooling) computed with loops
-- and tolerant comparisons. Not a spec itself.
-- Load with: local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "nn_helpers.lua")
local gan = require("gan")

local H = {}

H.F64 = { dtype = "float64" }

--- Values of a tensor as a flat row-major list of Lua numbers (float64).
function H.flat(t)
   local d = t:detach()
   if d.dtype ~= "int64" then d = d:double() end
   if d:dim() == 0 then return { d:item() } end
   return d:contiguous():reshape(-1):totable()
end

--- A tensor from a flat list and a shape.
function H.tensor(list, shape, dtype)
   local t = gan.tensor(list, { dtype = dtype or "float64" })
   return t:reshape(shape)
end

function H.numel(shape)
   local n = 1
   for _, s in ipairs(shape) do n = n * s end
   return n
end

--- Row-major strides of a shape, and a 1-based multi-index -> flat 1-based index helper.
function H.strides(shape)
   local st, acc = {}, 1
   for i = #shape, 1, -1 do st[i] = acc; acc = acc * shape[i] end
   return st
end

--- at(shape) returns a function (i1, i2, ...) -> flat index (all 1-based).
function H.indexer(shape)
   local st = H.strides(shape)
   return function(...)
      local k = 1
      for d = 1, select("#", ...) do k = k + (select(d, ...) - 1) * st[d] end
      return k
   end
end

function H.shape_str(s) return "{" .. table.concat(s, ", ") .. "}" end

--- Asserts two shapes are equal.
function H.same_shape(t, shape)
   local s = gan.is_tensor(t) and t:size() or t
   assert(H.shape_str(s) == H.shape_str(shape),
      ("shape %s, expected %s"):format(H.shape_str(s), H.shape_str(shape)))
end

--- Asserts |a - e| <= atol + rtol |e| for every element (a: tensor or list; e: list or
-- tensor). Reports the first bad element.
function H.close(a, e, atol, rtol, what)
   atol, rtol = atol or 1e-5, rtol or 1e-5
   local av = gan.is_tensor(a) and H.flat(a) or a
   local ev = gan.is_tensor(e) and H.flat(e) or e
   if #av ~= #ev then
      error(("%s: %d values, expected %d"):format(what or "close", #av, #ev), 2)
   end
   for i = 1, #ev do
      local x, y = av[i], ev[i]
      local ok = (x == y) or (math.abs(x - y) <= atol + rtol * math.abs(y))
      if not ok then
         error(("%s: element %d is %.10g, expected %.10g"):format(what or "close", i, x, y), 2)
      end
   end
   return true
end

--- Bitwise equality of two tensors (same dtype, shape and values; nan == nan).
function H.identical(a, b, what)
   assert(a.dtype == b.dtype, (what or "identical") .. ": dtype " .. a.dtype .. " vs " .. b.dtype)
   H.same_shape(a, b:size())
   local av, bv = H.flat(a), H.flat(b)
   for i = 1, #av do
      local x, y = av[i], bv[i]
      if not (x == y or (x ~= x and y ~= y)) then
         error(("%s: element %d differs: %.17g vs %.17g"):format(what or "identical", i, x, y), 2)
      end
   end
   return true
end

--- Asserts fn raises an error whose message contains every one of the given strings.
function H.raises(fn, ...)
   local ok, err = pcall(fn)
   assert(not ok, "expected an error")
   err = tostring(err)
   for _, s in ipairs { ... } do
      assert(err:find(s, 1, true), ("error %q does not mention %q"):format(err, s))
   end
   return err
end

-- ---------------------------------------------------------------- references

--- Naive 2-d convolution in float64: x (N, C, H, W), w (O, C/g, kh, kw), b (O) or nil.
-- opts: stride, padding, dilation (pairs), groups. Returns a flat list and the shape.
function H.conv2d(x, w, b, opts)
   opts = opts or {}
   local s, p, d = opts.stride or { 1, 1 }, opts.padding or { 0, 0 }, opts.dilation or { 1, 1 }
   local groups = opts.groups or 1
   local xs, ws = x:size(), w:size()
   local N, C, Hh, W = xs[1], xs[2], xs[3], xs[4]
   local O, Cg, kh, kw = ws[1], ws[2], ws[3], ws[4]
   local Ho = (Hh + 2 * p[1] - d[1] * (kh - 1) - 1) // s[1] + 1
   local Wo = (W + 2 * p[2] - d[2] * (kw - 1) - 1) // s[2] + 1
   local xv, wv = H.flat(x), H.flat(w)
   local bv = b and H.flat(b)
   local xi, wi = H.indexer(xs), H.indexer(ws)
   local out, shape = {}, { N, O, Ho, Wo }
   local oi = H.indexer(shape)
   local Og = O // groups
   for n = 1, N do
      for o = 1, O do
         local g = (o - 1) // Og
         for i = 1, Ho do
            for j = 1, Wo do
               local acc = bv and bv[o] or 0
               for c = 1, Cg do
                  local cin = g * Cg + c
                  for a = 1, kh do
                     local r = (i - 1) * s[1] - p[1] + (a - 1) * d[1]
                     if r >= 0 and r < Hh then
                        for bb = 1, kw do
                           local q = (j - 1) * s[2] - p[2] + (bb - 1) * d[2]
                           if q >= 0 and q < W then
                              acc = acc + xv[xi(n, cin, r + 1, q + 1)] * wv[wi(o, c, a, bb)]
                           end
                        end
                     end
                  end
               end
               out[oi(n, o, i, j)] = acc
            end
         end
      end
   end
   return out, shape
end

--- Naive transposed convolution: x (N, C, H, W), w (C, O/g, kh, kw). opts: stride,
-- padding, output_padding, dilation, groups.
function H.conv_transpose2d(x, w, b, opts)
   opts = opts or {}
   local s, p, d = opts.stride or { 1, 1 }, opts.padding or { 0, 0 }, opts.dilation or { 1, 1 }
   local op, groups = opts.output_padding or { 0, 0 }, opts.groups or 1
   local xs, ws = x:size(), w:size()
   local N, C, Hh, W = xs[1], xs[2], xs[3], xs[4]
   local Og, kh, kw = ws[2], ws[3], ws[4]
   local O = Og * groups
   local Cg = C // groups
   local Ho = (Hh - 1) * s[1] - 2 * p[1] + d[1] * (kh - 1) + op[1] + 1
   local Wo = (W - 1) * s[2] - 2 * p[2] + d[2] * (kw - 1) + op[2] + 1
   local xv, wv = H.flat(x), H.flat(w)
   local bv = b and H.flat(b)
   local xi, wi = H.indexer(xs), H.indexer(ws)
   local shape = { N, O, Ho, Wo }
   local oi = H.indexer(shape)
   local out = {}
   for n = 1, N do
      for o = 1, O do
         for i = 1, Ho do for j = 1, Wo do out[oi(n, o, i, j)] = bv and bv[o] or 0 end end
      end
   end
   for n = 1, N do
      for c = 1, C do
         local g = (c - 1) // Cg
         for i = 1, Hh do
            for j = 1, W do
               local xval = xv[xi(n, c, i, j)]
               for oo = 1, Og do
                  local o = g * Og + oo
                  for a = 1, kh do
                     local r = (i - 1) * s[1] - p[1] + (a - 1) * d[1]
                     if r >= 0 and r < Ho then
                        for bb = 1, kw do
                           local q = (j - 1) * s[2] - p[2] + (bb - 1) * d[2]
                           if q >= 0 and q < Wo then
                              local k = oi(n, o, r + 1, q + 1)
                              out[k] = out[k] + xval * wv[wi(c, oo, a, bb)]
                           end
                        end
                     end
                  end
               end
            end
         end
      end
   end
   return out, shape
end

--- Index mapping of a padding mode for position i (0-based, may be outside [0, n)).
function H.pad_index(i, n, mode)
   if i >= 0 and i < n then return i end
   if mode == "reflect" then
      if i < 0 then return -i end
      return 2 * (n - 1) - i
   elseif mode == "replicate" then
      return math.min(math.max(i, 0), n - 1)
   end
   return nil   -- zeros
end

--- Pads (N, C, H, W) by {left, right, top, bottom} in a mode; returns list and shape.
function H.pad2d(x, pads, mode)
   local xs = x:size()
   local N, C, Hh, W = xs[1], xs[2], xs[3], xs[4]
   local l, r, t, bt = pads[1], pads[2], pads[3], pads[4]
   local shape = { N, C, Hh + t + bt, W + l + r }
   local xv, xi, oi = H.flat(x), H.indexer(xs), H.indexer(shape)
   local out = {}
   for n = 1, N do for c = 1, C do
      for i = 1, shape[3] do for j = 1, shape[4] do
         local si, sj = H.pad_index(i - 1 - t, Hh, mode), H.pad_index(j - 1 - l, W, mode)
         out[oi(n, c, i, j)] = (si and sj) and xv[xi(n, c, si + 1, sj + 1)] or 0
      end end
   end end
   return out, shape
end

--- Standard normal float64 tensor of a shape.
function H.randn(shape, dtype) return gan.randn(shape, { dtype = dtype or "float64" }) end

--- Runs fn with gradient recording off.
function H.no_grad(fn) return gan.no_grad(fn) end

--- Wall-clock seconds (gan.clock if it is wall time, else os.time-based fallback).
function H.now()
   if gan.clock then return gan.clock() end
   return os.clock()
end

return H
