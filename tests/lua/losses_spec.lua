-- gan.F losses against plain-Lua float64 references, their gradients, reductions, the
-- numerically delicate cases and the errors for mismatched input.
local gan = require("gan")
local A = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "ag_helpers.lua")
local F = gan.F
local gradcheck = gan.testing.gradcheck

local function sigmoid(v) return 1 / (1 + math.exp(-v)) end
local function log_sigmoid(v)   -- stable
   if v >= 0 then return -math.log(1 + math.exp(-v)) end
   return v - math.log(1 + math.exp(v))
end

-- Checks the three reductions of a loss against the per-element reference.
local function check_reductions(loss_fn, per, what, mean_divisor)
   A.close(loss_fn("none"), per, 1e-12, 1e-10, what .. " none")
   local s = A.sum(per.data)
   A.close(loss_fn("sum"), s, 1e-12, 1e-10, what .. " sum")
   A.close(loss_fn("mean"), s / (mean_divisor or #per.data), 1e-12, 1e-10, what .. " mean")
   A.close(loss_fn(nil), s / (mean_divisor or #per.data), 1e-12, 1e-10, what .. " default mean")
end

describe("binary_cross_entropy_with_logits", function()
   before_each(function() gan.manual_seed(61) end)

   it("matches -[pw t log s(x) + (1 - t) log(1 - s(x))] with weight and pos_weight", function()
      local x, t = A.randn { 3, 4 } * 3, gan.rand({ 3, 4 }, A.F64)
      local w, pw = gan.rand({ 4 }, A.F64) + 0.5, gan.rand({ 4 }, A.F64) * 2 + 0.5
      local xv, tv, wv, pv = A.arr(x), A.arr(t), A.arr(w), A.arr(pw)
      local function per(use_w, use_pw)
         return A.build({ 3, 4 }, function(i)
            local xi, ti = A.get(xv, i), A.get(tv, i)
            local p = use_pw and pv.data[i[2]] or 1
            local l = -(p * ti * log_sigmoid(xi) + (1 - ti) * log_sigmoid(-xi))
            return use_w and l * wv.data[i[2]] or l
         end)
      end
      for kind, xl in pairs(A.layouts(x)) do
         check_reductions(function(r) return F.binary_cross_entropy_with_logits(xl, t, { reduction = r }) end,
            per(false, false), kind)
      end
      check_reductions(function(r) return F.binary_cross_entropy_with_logits(x, t, { reduction = r, weight = w }) end,
         per(true, false), "weight")
      check_reductions(function(r) return F.binary_cross_entropy_with_logits(x, t, { reduction = r, pos_weight = pw }) end,
         per(false, true), "pos_weight")
      check_reductions(function(r)
         return F.binary_cross_entropy_with_logits(x, t, { reduction = r, pos_weight = pw, weight = w })
      end, per(true, true), "both")
   end)

   it("is exact and finite at logits of +-100 and has gradient sigmoid(x) - t", function()
      local x = gan.tensor({ 100, -100, 100, -100, 0, 0 }, A.F64)
      local t = gan.tensor({ 0, 1, 1, 0, 1, 0 }, A.F64)
      local want = { 100, 100, math.exp(-100), math.exp(-100), math.log(2), math.log(2) }
      -- exact to 1e-30 absolute (exp(-100) next to a term of 100 is below float64 resolution)
      A.close(F.binary_cross_entropy_with_logits(x, t, { reduction = "none" }), want, 1e-30, 1e-12)
      local xl = A.leaf(x)
      F.binary_cross_entropy_with_logits(xl, t, { reduction = "sum" }):backward()
      local g = {}
      for i, v in ipairs(A.arr(x).data) do g[i] = sigmoid(v) - A.arr(t).data[i] end
      A.close(xl.grad, g, 1e-30, 1e-12)
      -- float32 too
      local xf = gan.tensor({ 100, -100, 50 }):requires_grad_()
      local l = F.binary_cross_entropy_with_logits(xf, gan.tensor { 0, 1, 0 }, { reduction = "sum" })
      A.close(l, 250, 1e-3, 1e-6)
      l:backward()
      A.close(xf.grad, { 1, -1, 1 }, 1e-6, 0)
   end)

   it("backward passes gradcheck (logits and targets)", function()
      local x, t = A.leaf(A.randn { 2, 3 }), A.leaf(gan.rand({ 2, 3 }, A.F64))
      local pw = gan.rand({ 3 }, A.F64) + 0.5
      assert(gradcheck(function(a, b) return F.binary_cross_entropy_with_logits(a, b) end, { x, t }))
      assert(gradcheck(function(a, b) return F.binary_cross_entropy_with_logits(a, b, { pos_weight = pw, reduction = "none" }) end, { x, t }))
   end)
end)

describe("binary_cross_entropy", function()
   before_each(function() gan.manual_seed(62) end)

   it("matches -[t log p + (1 - t) log(1 - p)] with weight and clamps logs at -100", function()
      local p, t = gan.rand({ 3, 4 }, A.F64) * 0.9 + 0.05, gan.rand({ 3, 4 }, A.F64)
      local w = gan.rand({ 3, 4 }, A.F64)
      local pv, tv, wv = A.arr(p), A.arr(t), A.arr(w)
      local per = A.build({ 3, 4 }, function(i)
         local pi, ti = A.get(pv, i), A.get(tv, i)
         return -(ti * math.log(pi) + (1 - ti) * math.log(1 - pi))
      end)
      for kind, pl in pairs(A.layouts(p)) do
         check_reductions(function(r) return F.binary_cross_entropy(pl, t, { reduction = r }) end, per, kind)
      end
      local perw = A.zip(per, wv, function(a, b) return a * b end)
      check_reductions(function(r) return F.binary_cross_entropy(p, t, { reduction = r, weight = w }) end, perw, "weight")
      local edge = F.binary_cross_entropy(gan.tensor({ 0, 1, 0, 1 }, A.F64), gan.tensor({ 1, 0, 0, 1 }, A.F64), { reduction = "none" })
      A.close(edge, { 100, 100, 0, 0 }, 0, 0)
   end)

   it("backward passes gradcheck and values outside [0, 1] are an error", function()
      local p = A.leaf(gan.rand({ 2, 3 }, A.F64) * 0.8 + 0.1)
      local t = A.leaf(gan.rand({ 2, 3 }, A.F64))
      assert(gradcheck(function(a, b) return F.binary_cross_entropy(a, b) end, { p, t }))
      A.raises(function() F.binary_cross_entropy(gan.tensor({ 1.5, 0.5 }, A.F64), gan.tensor({ 1, 0 }, A.F64)) end,
         "binary_cross_entropy", "[0, 1]")
   end)
end)

describe("cross_entropy and nll_loss", function()
   before_each(function() gan.manual_seed(63) end)

   -- log_softmax along dim 2 of (N, C) or (N, C, H, W) logits, as an array.
   local function logp_of(x)
      local v = A.arr(x)
      local lse = A.reduce(v, { 2 }, true, function(l)
         local m = A.maxl(l)
         local s = 0
         for _, e in ipairs(l) do s = s + math.exp(e - m) end
         return m + math.log(s)
      end)
      return A.build(v.shape, function(i)
         local j = {}
         for k = 1, #i do j[k] = i[k] end
         j[2] = 1
         return A.get(v, i) - A.get(lse, j)
      end)
   end

   it("int64 labels with weight, label_smoothing and each reduction (N, C)", function()
      local N, C = 5, 4
      local x = A.randn { N, C } * 2
      local labels = { 3, 0, 1, 3, 2 }
      local y = gan.tensor(labels, { dtype = "int64" })
      local w = gan.tensor({ 0.5, 2, 1, 1.5 }, A.F64)
      local wv = A.arr(w).data
      local lp = logp_of(x)
      for _, eps in ipairs { 0, 0.1, 0.3 } do
         for _, use_w in ipairs { false, true } do
            local per, wsum = {}, 0
            for n = 1, N do
               local c = labels[n] + 1
               local wc = use_w and wv[c] or 1
               local nll = -A.get(lp, { n, c }) * wc
               local smooth = 0
               for k = 1, C do smooth = smooth - A.get(lp, { n, k }) * (use_w and wv[k] or 1) end
               per[n] = { nll = nll, smooth = smooth }
               wsum = wsum + wc
            end
            local none, tn, ts = {}, 0, 0
            for n = 1, N do
               none[n] = (1 - eps) * per[n].nll + eps / C * per[n].smooth
               tn = tn + per[n].nll; ts = ts + per[n].smooth
            end
            local o = { label_smoothing = eps, weight = use_w and w or nil }
            local what = ("eps %g weight %s"):format(eps, tostring(use_w))
            for kind, xl in pairs(A.layouts(x)) do
               o.reduction = "none"
               A.close(F.cross_entropy(xl, y, o), { shape = { N }, data = none }, 1e-12, 1e-10, what .. " none " .. kind)
            end
            o.reduction = "sum"
            A.close(F.cross_entropy(x, y, o), (1 - eps) * tn + eps / C * ts, 1e-12, 1e-10, what .. " sum")
            o.reduction = "mean"
            A.close(F.cross_entropy(x, y, o), ((1 - eps) * tn + eps / C * ts) / wsum, 1e-12, 1e-10, what .. " mean")
            o.reduction = nil
            A.close(F.cross_entropy(x, y, o), ((1 - eps) * tn + eps / C * ts) / wsum, 1e-12, 1e-10, what .. " default")
            assert(gradcheck(function(t) return F.cross_entropy(t, y, { label_smoothing = eps, weight = o.weight }) end,
               { A.leaf(x) }))
         end
      end
   end)

   it("int64 labels on (N, C, H, W) logits", function()
      local x = A.randn { 2, 3, 2, 2 }
      local lv = { { { 0, 2 }, { 1, 1 } }, { { 2, 2 }, { 0, 1 } } }
      local y = gan.tensor(lv, { dtype = "int64" })
      local lp = logp_of(x)
      local per = A.build({ 2, 2, 2 }, function(i) return -A.get(lp, { i[1], lv[i[1]][i[2]][i[3]] + 1, i[2], i[3] }) end)
      check_reductions(function(r) return F.cross_entropy(x, y, { reduction = r }) end, per, "4-d")
      check_reductions(function(r) return F.nll_loss(F.log_softmax(x, 2), y, { reduction = r }) end, per, "nll 4-d")
      assert(gradcheck(function(t) return F.cross_entropy(t, y) end, { A.leaf(x) }))
   end)

   it("soft (probability) targets with weight and label_smoothing", function()
      local N, C = 4, 3
      local x = A.randn { N, C }
      local t = F.softmax(A.randn { N, C }, 2)
      local w = gan.tensor({ 1, 0.5, 2 }, A.F64)
      local lp, tv, wv = logp_of(x), A.arr(t), A.arr(w).data
      for _, eps in ipairs { 0, 0.2 } do
         for _, use_w in ipairs { false, true } do
            local per = A.build({ N }, function(i)
               local s = 0
               for c = 1, C do
                  local tc = A.get(tv, { i[1], c }) * (1 - eps) + eps / C
                  s = s - tc * A.get(lp, { i[1], c }) * (use_w and wv[c] or 1)
               end
               return s
            end)
            check_reductions(function(r)
               return F.cross_entropy(x, t, { reduction = r, label_smoothing = eps, weight = use_w and w or nil })
            end, per, ("soft eps %g weight %s"):format(eps, tostring(use_w)))
         end
      end
      assert(gradcheck(function(a, b) return F.cross_entropy(a, b, { label_smoothing = 0.1 }) end, { A.leaf(x), A.leaf(t) }))
   end)

   it("nll_loss with weight and each reduction", function()
      local lp = F.log_softmax(A.randn { 4, 3 }, 2)
      local labels = { 2, 0, 0, 1 }
      local y = gan.tensor(labels, { dtype = "int64" })
      local w = gan.tensor({ 2, 1, 0.5 }, A.F64)
      local lv, wv = A.arr(lp), A.arr(w).data
      local per, perw, wsum = {}, {}, 0
      for n = 1, 4 do
         local c = labels[n] + 1
         per[n] = -A.get(lv, { n, c })
         perw[n] = per[n] * wv[c]
         wsum = wsum + wv[c]
      end
      for kind, ll in pairs(A.layouts(lp)) do
         check_reductions(function(r) return F.nll_loss(ll, y, { reduction = r }) end, { shape = { 4 }, data = per }, kind)
      end
      check_reductions(function(r) return F.nll_loss(lp, y, { reduction = r, weight = w }) end,
         { shape = { 4 }, data = perw }, "weight", wsum)
      assert(gradcheck(function(t) return F.nll_loss(t, y, { weight = w }) end, { A.leaf(lp) }))
   end)

   it("a label out of range or a mismatched target is an error naming the op", function()
      local x = A.randn { 3, 4 }
      A.raises(function() F.cross_entropy(x, gan.tensor({ 0, 4, 1 }, { dtype = "int64" })) end, "cross_entropy", "out of range")
      A.raises(function() F.cross_entropy(x, gan.tensor({ 0, -1, 1 }, { dtype = "int64" })) end, "cross_entropy", "out of range")
      A.raises(function() F.nll_loss(x, gan.tensor({ 0, 7, 1 }, { dtype = "int64" })) end, "nll_loss", "out of range")
      A.raises(function() F.cross_entropy(x, gan.tensor({ 0, 1 }, { dtype = "int64" })) end, "cross_entropy", "(3, 4)", "(2,)")
      A.raises(function() F.nll_loss(x, gan.tensor({ 0, 1 }, { dtype = "int64" })) end, "nll_loss", "(3, 4)", "(2,)")
      A.raises(function() F.cross_entropy(x, A.randn { 3, 5 }) end, "cross_entropy", "(3, 5)", "(3, 4)")
   end)
end)

describe("regression losses", function()
   before_each(function() gan.manual_seed(64) end)

   it("mse_loss, l1_loss and smooth_l1_loss", function()
      local a, b = A.randn { 3, 4 }, A.randn { 3, 4 }
      local av, bv = A.arr(a), A.arr(b)
      local mse = A.zip(av, bv, function(x, y) return (x - y) ^ 2 end)
      local l1 = A.zip(av, bv, function(x, y) return math.abs(x - y) end)
      local function huber(beta)
         return A.zip(av, bv, function(x, y)
            local d = math.abs(x - y)
            return d < beta and 0.5 * d * d / beta or d - 0.5 * beta
         end)
      end
      for kind, al in pairs(A.layouts(a)) do
         check_reductions(function(r) return F.mse_loss(al, b, { reduction = r }) end, mse, "mse " .. kind)
         check_reductions(function(r) return F.l1_loss(al, b, { reduction = r }) end, l1, "l1 " .. kind)
         check_reductions(function(r) return F.smooth_l1_loss(al, b, { reduction = r }) end, huber(1), "smooth_l1 " .. kind)
      end
      check_reductions(function(r) return F.smooth_l1_loss(a, b, { reduction = r, beta = 0.5 }) end, huber(0.5), "beta 0.5")
      check_reductions(function(r) return F.smooth_l1_loss(a, b, { reduction = r, beta = 0 }) end, l1, "beta 0")
      local al, bl = A.leaf(a), A.leaf(b)
      assert(gradcheck(function(x, y) return F.mse_loss(x, y) end, { al, bl }))
      assert(gradcheck(function(x, y) return F.l1_loss(x, y, { reduction = "sum" }) end, { al, bl }))
      -- keep |d| away from beta for smooth_l1
      local d = (a - b):abs()
      local bs = gan.where((d - 0.5):abs():lt(0.05), b + 0.2, b)
      assert(gradcheck(function(x, y) return F.smooth_l1_loss(x, y, { beta = 0.5 }) end, { al, A.leaf(bs) }))
   end)

   it("kl_div with log-probability input, plain and log targets, every reduction", function()
      local inp = F.log_softmax(A.randn { 3, 4 }, 2)
      local tgt = F.softmax(A.randn { 3, 4 }, 2)
      tgt = gan.cat({ tgt:narrow(2, 1, 3), gan.zeros({ 3, 1 }, A.F64) }, 2)   -- zeros contribute 0
      local iv, tv = A.arr(inp), A.arr(tgt)
      local per = A.zip(iv, tv, function(x, t) return t > 0 and t * (math.log(t) - x) or 0 end)
      check_reductions(function(r) return F.kl_div(inp, tgt, { reduction = r }) end, per, "kl")
      A.close(F.kl_div(inp, tgt, { reduction = "batchmean" }), A.sum(per.data) / 3, 1e-12, 1e-10, "batchmean")
      local lt = F.log_softmax(A.randn { 3, 4 }, 2)
      local ltv = A.arr(lt)
      local perl = A.zip(iv, ltv, function(x, l) return math.exp(l) * (l - x) end)
      check_reductions(function(r) return F.kl_div(inp, lt, { reduction = r, log_target = true }) end, perl, "log_target")
      assert(gradcheck(function(x) return F.kl_div(x, tgt, { reduction = "batchmean" }) end, { A.leaf(inp) }))
      assert(gradcheck(function(x, t) return F.kl_div(x, t, { log_target = true }) end, { A.leaf(inp), A.leaf(lt) }))
   end)

   it("gaussian_kl matches KL(N(mu, sigma^2) || N(0, 1)) summed over latent dims", function()
      local mu, logvar = A.randn { 4, 3 }, A.randn { 4, 3 } * 0.5
      local mv, lv = A.arr(mu), A.arr(logvar)
      local per = A.build({ 4 }, function(i)
         local s = 0
         for k = 1, 3 do
            local m, l = A.get(mv, { i[1], k }), A.get(lv, { i[1], k })
            local sigma2 = math.exp(l)
            -- KL = log(1 / sigma) + (sigma^2 + mu^2) / 2 - 1/2
            s = s + (-0.5 * l + (sigma2 + m * m) / 2 - 0.5)
         end
         return s
      end)
      check_reductions(function(r) return F.gaussian_kl(mu, logvar, { reduction = r }) end, per, "gaussian_kl")
      A.close(F.gaussian_kl(gan.zeros({ 2, 5 }, A.F64), gan.zeros({ 2, 5 }, A.F64)), 0, 0, 0)
      assert(gradcheck(function(m, l) return F.gaussian_kl(m, l) end, { A.leaf(mu), A.leaf(logvar) }))
   end)
end)

describe("loss shape errors", function()
   it("each loss names itself and both shapes", function()
      local a, b = A.randn { 3, 4 }, A.randn { 4, 3 }
      local p = gan.rand({ 3, 4 }, A.F64)
      local cases = {
         { "mse_loss", function() F.mse_loss(a, b) end },
         { "l1_loss", function() F.l1_loss(a, b) end },
         { "smooth_l1_loss", function() F.smooth_l1_loss(a, b) end },
         { "binary_cross_entropy_with_logits", function() F.binary_cross_entropy_with_logits(a, b) end },
         { "binary_cross_entropy", function() F.binary_cross_entropy(p, gan.rand({ 4, 3 }, A.F64)) end },
         { "kl_div", function() F.kl_div(a, b) end },
         { "gaussian_kl", function() F.gaussian_kl(a, b) end },
      }
      for _, c in ipairs(cases) do A.raises(c[2], c[1], "(3, 4)", "(4, 3)") end
      A.raises(function() F.cross_entropy(a, A.randn { 4, 3 }) end, "cross_entropy", "(3, 4)", "(4, 3)")
      A.raises(function() F.mse_loss(a, a, { reduction = "avg" }) end, "mse_loss", "avg")
   end)
end)
