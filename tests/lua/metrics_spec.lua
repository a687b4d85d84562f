-- gan.metrics against independent references: FID against closed forms (diagonal
-- covariances, 2-d covariances, rotation invariance, large Gaussian samples), KID against a
-- direct O(n^2) unbiased MMD^2 and its behaviour on equal and shifted distributions,
-- precision/recall against a brute-force k-NN implementation on 2-d clouds, the
-- Inception-Score analogue, class histograms and accuracy on hand-made posteriors, and
-- metrics.evaluate end to end with a tiny generator and a tiny (untrained) classifier.
local gan = require("gan")
local lfs = require("lfs")
local M = require("gan.metrics")

local F64 = { dtype = "float64" }

local function close(got, want, tol, what)
   local ok = math.abs(got - want) <= tol * math.max(1, math.abs(want))
   assert(ok, ("%s: got %.15g, want %.15g"):format(what or "value", got, want))
end

dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua").single_threaded(setup, teardown)

-- Sample mean and (n - 1)-normalised covariance of the rows of a Lua matrix.
local function stats(rows)
   local n, d = #rows, #rows[1]
   local mu = {}
   for j = 1, d do
      local s = 0
      for i = 1, n do s = s + rows[i][j] end
      mu[j] = s / n
   end
   local cov = {}
   for a = 1, d do
      cov[a] = {}
      for b = 1, d do
         local s = 0
         for i = 1, n do s = s + (rows[i][a] - mu[a]) * (rows[i][b] - mu[b]) end
         cov[a][b] = s / (n - 1)
      end
   end
   return mu, cov
end

-- ---------------------------------------------------------------- FID

describe("metrics.fid", function()
   -- Sylvester's 16 x 16 Hadamard matrix: its columns 2.. have zero sum and are orthogonal.
   local function hadamard16()
      local H = { { 1 } }
      while #H < 16 do
         local n, G = #H, {}
         for i = 1, n do
            G[i], G[i + n] = {}, {}
            for j = 1, n do
               G[i][j], G[i][j + n] = H[i][j], H[i][j]
               G[i + n][j], G[i + n][j + n] = H[i][j], -H[i][j]
            end
         end
         H = G
      end
      return H
   end

   -- 16 rows mu + s * h_i whose sample mean is mu and sample covariance diag(s^2 16/15).
   local function design(mu, s)
      local H, rows = hadamard16(), {}
      for i = 1, 16 do
         rows[i] = {}
         for j = 1, #mu do rows[i][j] = mu[j] + s[j] * H[i][j + 1] end
      end
      return rows
   end

   it("matches the closed form for diagonal covariances (elementwise square roots)", function()
      local mu1, s1 = { 0.5, -1, 2, 0, 3 }, { 1, 0.5, 2, 3, 0.1 }
      local mu2, s2 = { 1, 1, -1, 0.5, 3 }, { 2, 0.5, 1, 0.2, 4 }
      local a, b = design(mu1, s1), design(mu2, s2)
      local want = 0
      for j = 1, 5 do
         local c1, c2 = s1[j] ^ 2 * 16 / 15, s2[j] ^ 2 * 16 / 15
         want = want + (mu1[j] - mu2[j]) ^ 2 + c1 + c2 - 2 * math.sqrt(c1 * c2)
      end
      close(M.fid(gan.tensor(a, F64), gan.tensor(b, F64)), want, 1e-9, "fid")
      -- float32 features are promoted to float64
      close(M.fid(gan.tensor(a), gan.tensor(b)), want, 1e-6, "fid of float32 features")
   end)

   it("matches the closed form for general 2-d covariances", function()
      -- Tr (S1^1/2 S2 S1^1/2)^1/2 = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2)) in 2-d
      local g = gan.Generator(31)
      local A = gan.randn({ 50, 2 }, { dtype = "float64", generator = g }):matmul(gan.tensor({ { 1, 0.8 }, { 0, 0.6 } }, F64))
      local B = gan.randn({ 70, 2 }, { dtype = "float64", generator = g }):matmul(gan.tensor({ { 2, -0.5 }, { 0.3, 0.4 } }, F64)) + 1
      local m1, S1 = stats(A:totable())
      local m2, S2 = stats(B:totable())
      local tr12 = 0
      for i = 1, 2 do for k = 1, 2 do tr12 = tr12 + S1[i][k] * S2[k][i] end end
      local det1 = S1[1][1] * S1[2][2] - S1[1][2] * S1[2][1]
      local det2 = S2[1][1] * S2[2][2] - S2[1][2] * S2[2][1]
      local want = (m1[1] - m2[1]) ^ 2 + (m1[2] - m2[2]) ^ 2 + S1[1][1] + S1[2][2] + S2[1][1] + S2[2][2]
         - 2 * math.sqrt(tr12 + 2 * math.sqrt(det1 * det2))
      close(M.fid(A, B), want, 1e-9, "2-d fid")
   end)

   it("is ~0 for a set with itself, symmetric, and invariant under a rotation of both sets", function()
      local g = gan.Generator(32)
      local a = gan.randn({ 200, 6 }, { dtype = "float64", generator = g }) * gan.tensor({ 1, 2, 0.5, 1, 3, 0.2 }, F64)
      local b = gan.randn({ 150, 6 }, { dtype = "float64", generator = g }):matmul(gan.randn({ 6, 6 }, { dtype = "float64", generator = g })) + 0.3
      local self = M.fid(a, a)
      assert(math.abs(self) < 1e-9, ("fid(a, a) = %g"):format(self))
      local ab, ba = M.fid(a, b), M.fid(b, a)
      assert(ab > 1)
      close(ab, ba, 1e-9, "symmetry")
      local q = gan.qr(gan.randn({ 6, 6 }, { dtype = "float64", generator = g }))
      close(M.fid(a:matmul(q), b:matmul(q)), ab, 1e-9, "rotation invariance")
      -- a shift of both sets changes nothing, a shift of one adds ||shift||^2
      close(M.fid(a + 5, b + 5), ab, 1e-9, "common shift")
      local s = gan.tensor({ 1, 0, -2, 0, 0, 0.5 }, F64)
      close(M.fid(a + s, a), 1 + 4 + 0.25, 1e-9, "mean shift")
   end)

   it("approaches the population value for large samples of known Gaussians", function()
      local g = gan.Generator(33)
      local n = 20000
      local mu1, sd1 = { 0, 0, 0, 0 }, { 1, 2, 0.5, 1 }
      local mu2, sd2 = { 1, -0.5, 0, 2 }, { 1.5, 1, 0.5, 3 }
      local a = gan.randn({ n, 4 }, { dtype = "float64", generator = g }) * gan.tensor(sd1, F64) + gan.tensor(mu1, F64)
      local b = gan.randn({ n, 4 }, { dtype = "float64", generator = g }) * gan.tensor(sd2, F64) + gan.tensor(mu2, F64)
      local want = 0
      for j = 1, 4 do want = want + (mu1[j] - mu2[j]) ^ 2 + (sd1[j] - sd2[j]) ^ 2 end
      assert.are.equal(10.5, want)
      local got = M.fid(a, b)
      assert(math.abs(got - want) < 0.5, ("fid %g, population %g"):format(got, want))
   end)
end)

-- ---------------------------------------------------------------- KID

describe("metrics.kid", function()
   -- Unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, by plain loops.
   local function mmd2(X, Y)
      local m, d = #X, #X[1]
      local function k(x, y)
         local s = 0
         for i = 1, d do s = s + x[i] * y[i] end
         return (s / d + 1) ^ 3
      end
      local sxx, syy, sxy = 0, 0, 0
      for i = 1, m do
         for j = 1, m do
            if i ~= j then sxx = sxx + k(X[i], X[j]); syy = syy + k(Y[i], Y[j]) end
            sxy = sxy + k(X[i], Y[j])
         end
      end
      return sxx / (m * (m - 1)) + syy / (m * (m - 1)) - 2 * sxy / (m * m)
   end

   it("equals the direct unbiased MMD^2 when a subset is the whole (small) set", function()
      local g = gan.Generator(41)
      local a = gan.randn({ 30, 5 }, { dtype = "float64", generator = g })
      local b = gan.randn({ 30, 5 }, { dtype = "float64", generator = g }) * 1.3 + 0.4
      local want = mmd2(a:totable(), b:totable())
      local mean, se = M.kid(a, b, { subset_size = 30, subsets = 3 })
      close(mean, want, 1e-10, "kid")
      assert(se < 1e-10, "every subset is the whole set: no spread")
      -- subsets of 12 rows: each is the MMD^2 of some 12 rows of each set
      local m12 = M.kid(a, b, { subset_size = 12, subsets = 1, seed = 3 })
      local gsub = gan.Generator(3)
      local ia = gan.randperm(30, { generator = gsub }):narrow(1, 1, 12)
      local ib = gan.randperm(30, { generator = gsub }):narrow(1, 1, 12)
      close(m12, mmd2(a:index_select(1, ia):totable(), b:index_select(1, ib):totable()), 1e-10, "subset kid")
      -- float32 input gives the same (promoted) result
      close(M.kid(a:float(), b:float(), { subset_size = 30, subsets = 1 }), mmd2(a:float():double():totable(),
         b:float():double():totable()), 1e-9, "float32 kid")
   end)

   it("is ~0 (within a few standard errors) for two samples of one distribution, > 0 for shifted ones", function()
      local g = gan.Generator(42)
      local a = gan.randn({ 2000, 8 }, { dtype = "float64", generator = g })
      local b = gan.randn({ 2000, 8 }, { dtype = "float64", generator = g })
      local mean, se = M.kid(a, b, { subset_size = 200, subsets = 50, seed = 1 })
      assert(se > 0)
      assert(math.abs(mean) < 4 * se, ("kid %g, standard error %g"):format(mean, se))
      local ms, ses = M.kid(a, b + 0.5, { subset_size = 200, subsets = 50, seed = 1 })
      assert(ms > 20 * ses and ms > 0.5, ("shifted: kid %g, standard error %g"):format(ms, ses))
      -- too few rows is an error, not NaN
      assert.has_error(function() M.kid(a:narrow(1, 1, 1), b) end,
         "kid: needs subsets of at least 2 rows (sets of 1 and 2000 rows)")
      -- a bigger shift is further
      assert(M.kid(a, b + 1, { subset_size = 200, subsets = 10 }) > ms)
      -- the seed picks the subsets: same seed, same value
      assert.are.equal(ms, (M.kid(a, b + 0.5, { subset_size = 200, subsets = 50, seed = 1 })))
   end)
end)

-- ---------------------------------------------------------------- diversity

describe("metrics.mean_pairwise_distance", function()
   it("is the mean distance over the pairs of different rows; fewer than two rows is an error", function()
      -- a 3-4-5 triangle: distances 3, 4 and 5, each pair counted both ways
      local f = gan.tensor { { 0, 0 }, { 3, 0 }, { 0, 4 } }
      assert.is_true(math.abs(M.mean_pairwise_distance(f) - 4) < 1e-12)
      assert.are.equal(0, M.mean_pairwise_distance(gan.tensor { { 1, 2 }, { 1, 2 } }))
      assert.has_error(function() M.mean_pairwise_distance(gan.tensor { { 1, 2 } }) end,
         "mean_pairwise_distance: expected (N, ...) with N >= 2 members, got (1, 2)")
   end)

   it("flattens each member and matches a double loop over the pairs", function()
      local x = gan.randn({ 7, 2, 3 }, { generator = gan.Generator(5) })
      local v, want = x:double():reshape { 7, 6 }:totable(), 0
      for i = 1, 7 do
         for j = 1, 7 do
            if i ~= j then
               local s = 0
               for k = 1, 6 do s = s + (v[i][k] - v[j][k]) ^ 2 end
               want = want + math.sqrt(s)
            end
         end
      end
      local got = M.mean_pairwise_distance(x)
      assert(math.abs(got - want / 42) < 1e-12, ("%.17g against %.17g"):format(got, want / 42))
   end)
end)

describe("metrics.paired_comparison", function()
   it("means, the paired difference's 95 % interval and the exact sign test, by hand", function()
      -- differences 1, 0, -0.5, 1, 0.1: mean 0.32, sample variance 1.748 / 4, se sqrt(0.437 / 5)
      local r = M.paired_comparison({ 1, 0.5, 0, 1, 0.2 }, { 0, 0.5, 0.5, 0, 0.1 })
      local se = math.sqrt(0.437 / 5)
      assert.are.equal(5, r.n)
      assert.is_true(math.abs(r.mean_a - 0.54) < 1e-12 and math.abs(r.mean_b - 0.22) < 1e-12)
      assert.is_true(math.abs(r.diff - 0.32) < 1e-12)
      assert.is_true(math.abs(r.ci_low - (0.32 - 1.96 * se)) < 1e-12 and math.abs(r.ci_high - (0.32 + 1.96 * se)) < 1e-12)
      assert.are.same({ 3, 1, 1 }, { r.wins, r.losses, r.ties })
      -- 3 wins against 1 loss: P(X <= 1) = (1 + 4) / 16 for X ~ B(4, 1/2), doubled
      assert.is_true(math.abs(r.p_sign - 10 / 16) < 1e-12)
      -- ten wins, no loss: 2 / 2^10; as many each way: p = 1
      local all = M.paired_comparison({ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 }, { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 })
      assert.is_true(math.abs(all.p_sign - 2 / 1024) < 1e-15)
      assert.are.equal(1, M.paired_comparison({ 1, 0, 0.5 }, { 0, 1, 0.5 }).p_sign)
      assert.has_error(function() M.paired_comparison({ 1, 2 }, { 1 }) end,
         "paired_comparison: needs two lists of the same length >= 2, got 2 and 1")
   end)
end)

-- ---------------------------------------------------------------- precision / recall

describe("metrics.precision_recall", function()
   -- Brute force: radius of each point = distance to its k-th nearest other point of its set.
   local function radii(P, k)
      local r = {}
      for i, p in ipairs(P) do
         local d = {}
         for j, q in ipairs(P) do
            if j ~= i then d[#d + 1] = (p[1] - q[1]) ^ 2 + (p[2] - q[2]) ^ 2 end
         end
         table.sort(d)
         r[i] = d[k]
      end
      return r
   end
   local function cover(Q, P, r)
      local inside = 0
      for _, q in ipairs(Q) do
         for j, p in ipairs(P) do
            if (p[1] - q[1]) ^ 2 + (p[2] - q[2]) ^ 2 <= r[j] then inside = inside + 1; break end
         end
      end
      return inside / #Q
   end
   local function brute(real, fake, k)
      local R, Fk = real:totable(), fake:totable()
      return cover(Fk, R, radii(R, k)), cover(R, Fk, radii(Fk, k))
   end

   local function uniform(n, lo, hi, seed)
      return gan.rand({ n, 2 }, { dtype = "float64", generator = gan.Generator(seed) }) * (hi - lo) + lo
   end

   it("identical clouds: precision = recall = 1", function()
      local x = uniform(300, 0, 1, 1)
      local p, r = M.precision_recall(x, x:clone())
      assert.are.equal(1, p)
      assert.are.equal(1, r)
   end)

   it("disjoint clouds: precision = recall = 0", function()
      local p, r = M.precision_recall(uniform(200, 0, 1, 2), uniform(200, 10, 11, 3))
      assert.are.equal(0, p)
      assert.are.equal(0, r)
   end)

   it("a fake cloud inside a sub-region of the real one: precision ~1, recall < 1 (as brute force)", function()
      local real, fake = uniform(400, 0, 1, 4), uniform(400, 0.3, 0.7, 5)
      for _, k in ipairs { 1, 3, 5 } do
         local p, r = M.precision_recall(real, fake, { k = k })
         local bp, br = brute(real, fake, k)
         assert.are.equal(bp, p, "precision, k = " .. k)
         assert.are.equal(br, r, "recall, k = " .. k)
         if k >= 3 then assert(p > 0.97, ("precision %g"):format(p)) end
         assert(r < 0.5, ("recall %g"):format(r))
      end
      -- the default k is 3
      local p3, r3 = M.precision_recall(real, fake)
      local bp3, br3 = brute(real, fake, 3)
      assert.are.equal(bp3, p3)
      assert.are.equal(br3, r3)
   end)

   it("knn_radii: the k-th nearest other point, duplicates counted, over chunks; given radii are used", function()
      local x = uniform(150, 0, 1, 6)
      x = gan.cat({ x, x:narrow(1, 1, 20) }, 1)   -- 20 points twice: a neighbour at distance 0
      local P = x:totable()
      for _, k in ipairs { 1, 2, 4 } do
         local want, got = radii(P, k), M.knn_radii(x, k, { chunk = 37 }):totable()
         for i = 1, #P do assert.is_true(math.abs(want[i] - got[i]) < 1e-12, ("k %d row %d"):format(k, i)) end
      end
      assert.are.equal(0, M.knn_radii(x, 1):totable()[1])
      -- precision with the real radii passed in equals the one that computes them
      local real, fake = uniform(200, 0, 1, 7), uniform(200, 0.2, 1.2, 8)
      local p, r = M.precision_recall(real, fake)
      local p2, r2 = M.precision_recall(real, fake, { real_radii = M.knn_radii(real, 3) })
      assert.are.same({ p, r }, { p2, r2 })
      -- radii of zero make precision count only exact matches
      assert.are.equal(0, M.precision_recall(real, fake, { real_radii = gan.zeros({ 200 }, { dtype = "float64" }) }))
   end)

   it("needs more than k points in each cloud", function()
      assert.has_error(function() M.precision_recall(uniform(3, 0, 1, 1), uniform(10, 0, 1, 2)) end,
         "precision_recall: k = 3 needs more than 3 rows in each set (got 3 and 10)")
      local p, r = M.precision_recall(uniform(2, 0, 1, 1), uniform(2, 0, 1, 1), { k = 1 })
      assert.are.equal(1, p)
      assert.are.equal(1, r)
   end)

   it("partly overlapping clouds of different sizes agree with brute force", function()
      local real, fake = uniform(250, 0, 1, 6), uniform(180, 0.5, 1.5, 7)
      local p, r = M.precision_recall(real, fake)
      local bp, br = brute(real, fake, 3)
      assert.are.equal(bp, p)
      assert.are.equal(br, r)
      assert(p > 0.1 and p < 0.6 and r > 0.1 and r < 0.6)
   end)
end)

-- ---------------------------------------------------------------- posteriors

describe("inception score, class histogram and class accuracy", function()
   local function onehots(n, C)
      local t = {}
      for i = 1, n do
         t[i] = {}
         for c = 1, C do t[i][c] = ((i - 1) % C == c - 1) and 1 or 0 end
      end
      return gan.tensor(t, F64)
   end

   it("is the number of classes for uniformly spread one-hot posteriors and 1 for constant ones", function()
      local mean, sd = M.inception_score(onehots(100, 10), 10)
      close(mean, 10, 1e-9, "IS of one-hots")
      assert(sd < 1e-9)
      close((M.inception_score(onehots(60, 4), 1)), 4, 1e-9, "IS, 4 classes, one split")
      local const = gan.tensor({ 0.5, 0.3, 0.2 }, F64):view(1, 3):expand(50, 3):contiguous()
      local m1, s1 = M.inception_score(const, 5)
      close(m1, 1, 1e-9, "IS of constant posteriors")
      assert(s1 < 1e-9)
   end)

   it("matches exp(E KL(p(y|x) || p(y))) by hand, with mean and std over splits", function()
      local P = { { 0.7, 0.2, 0.1 }, { 0.1, 0.8, 0.1 }, { 0.3, 0.3, 0.4 }, { 0.6, 0.3, 0.1 } }
      local function is_of(rows)
         local py = { 0, 0, 0 }
         for _, p in ipairs(rows) do for c = 1, 3 do py[c] = py[c] + p[c] / #rows end end
         local kl = 0
         for _, p in ipairs(rows) do
            for c = 1, 3 do kl = kl + p[c] * (math.log(p[c]) - math.log(py[c])) / #rows end
         end
         return math.exp(kl)
      end
      local m, s = M.inception_score(gan.tensor(P, F64), 1)
      close(m, is_of(P), 1e-9, "IS, one split")
      assert.are.equal(0, s)
      local a, b = is_of { P[1], P[2] }, is_of { P[3], P[4] }
      local m2, s2 = M.inception_score(gan.tensor(P, F64), 2)
      close(m2, (a + b) / 2, 1e-9, "IS, two splits")
      close(s2, math.abs(a - b) / 2, 1e-9, "IS std (population) over two splits")
      -- at most one split per sample; no samples is an error
      local m4, s4 = M.inception_score(gan.tensor(P, F64), 10)
      local each = 0
      for _, p in ipairs(P) do each = each + is_of { p } end
      close(m4, each / 4, 1e-9, "IS with more splits than samples")
      close(m4, 1, 1e-9, "IS of a single posterior")
      assert(s4 < 1e-9)
      assert.has_error(function() M.inception_score(gan.zeros({ 0, 3 }, F64)) end, "inception_score: no posteriors")
      -- float32 posteriors are fine too
      close((M.inception_score(gan.tensor(P), 1)), is_of(P), 1e-6, "float32")
   end)

   it("class_histogram: share of confident samples and of argmax classes", function()
      local probs = gan.tensor({
         { 0.95, 0.05, 0.00 },
         { 0.20, 0.70, 0.10 },
         { 0.05, 0.05, 0.90 },
         { 0.02, 0.97, 0.01 },
         { 0.40, 0.35, 0.25 },
      }, F64)
      local conf, hist = M.class_histogram(probs)
      close(conf, 3 / 5, 1e-12, "confident at 0.9")   -- 0.95, 0.90, 0.97
      assert.are.same({ 2 / 5, 2 / 5, 1 / 5 }, hist)
      local conf5 = M.class_histogram(probs, 0.5)
      close(conf5, 4 / 5, 1e-12, "confident at 0.5")
      assert.are.equal(0, (M.class_histogram(probs, 0.99)))
      -- a mode-collapsed generator: everything in one class
      local _, h = M.class_histogram(gan.tensor({ { 0.1, 0.9 }, { 0.2, 0.8 }, { 0.3, 0.7 } }, F64))
      assert.are.same({ 0, 1 }, h)
   end)

   it("class_accuracy: share of samples whose argmax is the requested (0-based) class", function()
      local probs = gan.tensor({ { 0.9, 0.1, 0 }, { 0.2, 0.7, 0.1 }, { 0.1, 0.1, 0.8 }, { 0.6, 0.3, 0.1 } }, F64)
      local labels = gan.tensor({ 0, 1, 1, 2 }, { dtype = "int64" })
      close(M.class_accuracy(probs, labels), 0.5, 1e-12, "accuracy")
      close(M.class_accuracy(probs, gan.tensor({ 0, 1, 2, 0 }, { dtype = "int64" })), 1, 0, "all right")
   end)
end)

-- ---------------------------------------------------------------- evaluate

describe("metrics.evaluate with a tiny generator and classifier", function()
   local dir, clf_path, G
   setup(function()
      dir = os.tmpname()
      os.remove(dir)
      assert(lfs.mkdir(dir))
      gan.manual_seed(7)
      clf_path = dir .. "/classifier.safetensors"
      gan.save(clf_path, { model = M.Classifier():state_dict() })
      -- 16 x 16 outputs: evaluate resizes them to the classifier's 32 x 32
      G = gan.nn.blocks.DCGANGenerator { nz = 8, ngf = 4, nc = 1, image_size = 16 }
   end)
   teardown(function() if dir and dir:match("^/tmp/") then os.execute("rm -rf '" .. dir .. "'") end end)

   local KEYS = { "fid", "kid", "kid_std", "precision", "recall", "is", "is_std", "confident", "class_min",
      "class_max", "n_samples", "n_reference", "reference", "classifier" }

   it("returns every metric with the number of samples and the reference split", function()
      G:train()
      local res = M.evaluate(G, "mnist", { n = 120, batch = 50, nz = 8, classifier = clf_path })
      for _, k in ipairs(KEYS) do assert.is_not_nil(res[k], k) end
      for c = 0, 9 do assert.is_number(res["class_" .. c]) end
      assert.are.equal(120, res.n_samples)
      assert.are.equal("mnist test (every 10th digit per class)", res.reference)
      assert(res.n_reference > 900 and res.n_reference <= 1000, res.n_reference)
      assert.are.equal(clf_path, res.classifier)
      assert.is_true(G.training, "G's mode is restored")
      assert(res.fid == res.fid and res.fid > -1e-6)
      assert(res.precision >= 0 and res.precision <= 1 and res.recall >= 0 and res.recall <= 1)
      assert(res.is >= 1 - 1e-9 and res.is <= 10 + 1e-9)
      local s = 0
      for c = 0, 9 do s = s + res["class_" .. c] end
      close(s, 1, 1e-9, "class shares")
      assert.is_nil(res.class_accuracy)
      -- the same seed gives the same numbers (the reference features are cached per classifier)
      local again = M.evaluate(G, "mnist", { n = 120, batch = 50, nz = 8, classifier = clf_path })
      for _, k in ipairs(KEYS) do assert.are.equal(res[k], again[k], k) end
      -- a classifier module works as well
      local c = M.load_classifier(clf_path)
      local mod = M.evaluate(G, "mnist", { n = 120, batch = 50, nz = 8, classifier = c })
      assert.are.equal("custom", mod.classifier)
      assert.are.equal(res.fid, mod.fid)
   end)

   it("conditional generators get the requested labels and a class accuracy", function()
      local seen = {}
      local cond = setmetatable({ training = false }, { __call = function(_, z, labels)
         seen[#seen + 1] = labels:size(1)
         return G(z)
      end })
      function cond:eval() self.training = false; return self end
      function cond:train(on) self.training = on ~= false; return self end
      local lab = {}
      for i = 1, 60 do lab[i] = (i - 1) % 10 end
      local labels = gan.tensor(lab, { dtype = "int64" })
      local res = M.evaluate(cond, "mnist", { n = 60, batch = 25, nz = 8, labels = labels, classifier = clf_path })
      assert.are.same({ 25, 25, 10 }, seen)
      assert.is_number(res.class_accuracy)
      assert(res.class_accuracy >= 0 and res.class_accuracy <= 1)
      -- per-class FID for each of the 10 classes (6 samples each), their mean and worst
      for c = 0, 9 do assert.is_number(res["fid_class_" .. c], "fid_class_" .. c) end
      assert(res.fid_class_max >= res.fid_class_mean)
   end)

   it("names a missing weights file", function()
      assert.has_error(function() M.load_classifier(dir .. "/none.safetensors") end,
         "metrics: no classifier weights at " .. dir .. "/none.safetensors")
   end)
end)

-- The shipped reference classifiers, on the held-out images they were not trained on.
describe("shipped reference classifiers #release_only", function()
   local targets = { mnist = 0.99, fashion_mnist = 0.90 }
   for _, name in ipairs { "mnist", "fashion_mnist" } do
      it(name .. ": test accuracy >= " .. targets[name], function()
         local ds = gan.data.for_gan(name, { split = "test", image_size = 32 })
         local _, probs = M.features(M.classifier(name), ds.images)
         local acc = M.class_accuracy(probs, ds.labels)
         assert(acc >= targets[name], ("%s classifier: %.4f on %d test images"):format(name, acc, #ds))
      end)
   end

   it("emoji_style (Google 0 / Twitter 1): >= 0.9 on the held-out code points of both styles", function()
      local imgs, labels = {}, {}
      for label, vendor in ipairs { "google", "twitter" } do
         local ds = gan.data.for_gan("emoji", { vendor = vendor, split = "test", image_size = 64,
            require_vendors = { "google", "twitter" } })
         for i = 1, #ds do imgs[#imgs + 1] = ds:get(i).image; labels[#labels + 1] = label - 1 end
      end
      local _, probs = M.features(M.classifier("emoji_style"), gan.stack(imgs, 1))
      local acc = M.class_accuracy(probs, gan.tensor(labels, { dtype = "int64" }))
      assert(acc >= 0.9, ("emoji_style classifier: %.4f on %d images"):format(acc, #imgs))
   end)

   it("measures images of another size by resizing them to its own; other channel counts are an error", function()
      local clf = M.classifier("emoji_style")          -- trained on 64x64 RGB
      gan.manual_seed(3)
      local small = gan.rand { 5, 3, 32, 32 } * 2 - 1
      local f, p = M.features(clf, small)
      local f64, p64 = M.features(clf, gan.image.resize(small, 64, { filter = "bilinear" }))
      assert.are.same({ 5, 128 }, f:size())
      assert.are.same({ 5, 2 }, p:size())
      assert.are.equal(0, (f - f64):abs():max():item())
      assert.are.equal(0, (p - p64):abs():max():item())
      assert.has_error(function() M.features(clf, gan.rand { 2, 1, 64, 64 }) end,
         "metrics.features: the classifier takes (N, 3, 64, 64) images, got (2, 1, 64, 64)")
   end)
end)

describe("metrics.psnr, ssim and luminance", function()
   local function img(rows) return gan.tensor(rows, F64):view(1, 1, #rows, #rows[1]) end

   it("PSNR: 10 log10(255^2 / MSE) per image on the 0-255 scale, averaged; crop and luminance", function()
      -- [-1, 1] -> 0-255: -1 -> 0, 1 -> 255; one pixel off by 0.2 (25.5 levels) in 4
      local a = img { { -1, 1 }, { 0, 0.5 } }
      local b = img { { -1, 1 }, { 0, 0.7 } }
      close(M.psnr(a, b), 10 * math.log(255 ^ 2 / (25.5 ^ 2 / 4), 10), 1e-12, "psnr")
      close(M.psnr(a, a), 100, 0, "identical")
      -- two images: the mean of their PSNRs, not the PSNR of the mean MSE
      local a2, b2 = gan.cat({ a, a }, 1), gan.cat({ b, a:clone():fill_(0) }, 1)
      -- a against 0 (127.5 on 0-255): off by 127.5, 127.5, 0 and 63.75
      local mse2 = (127.5 ^ 2 + 127.5 ^ 2 + 0 + 63.75 ^ 2) / 4
      close(M.psnr(a2, b2), (10 * math.log(255 ^ 2 / (25.5 ^ 2 / 4), 10) + 10 * math.log(255 ^ 2 / mse2, 10)) / 2,
         1e-12, "two images")
      -- crop 1 of a 3x3 image leaves the centre pixel
      local c = img { { 1, 1, 1 }, { 1, 0, 1 }, { 1, 1, 1 } }
      local d = img { { -1, -1, -1 }, { -1, 0.2, -1 }, { -1, -1, -1 } }
      close(M.psnr(c, d, { crop = 1 }), 10 * math.log(255 ^ 2 / 25.5 ^ 2, 10), 1e-12, "crop")
      -- luminance of RGB: BT.601 as rgb2ycbcr; white 235, black 16
      local rgb = gan.tensor({ 1, -1, 0, 1, -1, 0, 1, -1, 0 }, F64):view(1, 3, 1, 3)
      local y = M.luminance(rgb):totable()[1][1][1]
      close(y[1], 16 + 65.481 + 128.553 + 24.966, 1e-9, "white")
      close(y[2], 16, 1e-9, "black")
      close(y[3], 16 + 0.5 * (65.481 + 128.553 + 24.966), 1e-9, "grey")
      assert.has_error(function() M.psnr(a, gan.zeros { 1, 1, 2, 3 }) end, "psnr: the batches differ in size: {1, 1, 2, 2} and {1, 1, 2, 3}")
      -- a mask: the MSE over its pixels only (the off pixel of 4 is one of the 2 masked)
      local mask = gan.tensor({ 0, 0, 1, 1 }, F64):view(1, 1, 2, 2)
      close(M.psnr(a, b, { mask = mask }), 10 * math.log(255 ^ 2 / (25.5 ^ 2 / 2), 10), 1e-12, "masked")
      assert.has_error(function() M.psnr(a, b, { mask = mask * 0 }) end, "psnr: the mask of image 1 is empty")
   end)

   it("SSIM against a hand computation on one 11x11 window; 1 for identical images", function()
      local g = gan.Generator(4)
      local a = gan.rand({ 1, 1, 11, 11 }, { generator = g, dtype = "float64" }) * 2 - 1
      local b = (a * 0.7 + gan.rand({ 1, 1, 11, 11 }, { generator = g, dtype = "float64" }) * 0.3):clamp(-1, 1)
      -- by hand: Gaussian weights, weighted means, variances and covariance on 0-255
      local w, sw = {}, 0
      for i = 1, 11 do for j = 1, 11 do
         local v = math.exp(-((i - 6) ^ 2 + (j - 6) ^ 2) / (2 * 1.5 ^ 2))
         w[#w + 1] = v; sw = sw + v
      end end
      local x, y = {}, {}
      for i, v in ipairs(a:reshape(-1):totable()) do x[i] = (v + 1) * 127.5 end
      for i, v in ipairs(b:reshape(-1):totable()) do y[i] = (v + 1) * 127.5 end
      local mx, my = 0, 0
      for i = 1, 121 do mx, my = mx + w[i] / sw * x[i], my + w[i] / sw * y[i] end
      local vx, vy, cxy = 0, 0, 0
      for i = 1, 121 do
         vx = vx + w[i] / sw * (x[i] - mx) ^ 2
         vy = vy + w[i] / sw * (y[i] - my) ^ 2
         cxy = cxy + w[i] / sw * (x[i] - mx) * (y[i] - my)
      end
      local c1, c2 = (0.01 * 255) ^ 2, (0.03 * 255) ^ 2
      local want = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx ^ 2 + my ^ 2 + c1) * (vx + vy + c2))
      close(M.ssim(a, b), want, 1e-9, "ssim")
      assert.is_true(want < 0.99)
      close(M.ssim(a, a), 1, 1e-12, "identical")
      assert.has_error(function() M.ssim(gan.zeros { 1, 1, 8, 8 }, gan.zeros { 1, 1, 8, 8 }) end,
         "ssim: images of 8x8 are smaller than the 11x11 window")
   end)
end)

describe("metrics.stacked_modes", function()
   -- A stand-in classifier: a channel filled with -1 + 0.2 d + 0.1 is the digit d, sure.
   local clf = {
      features = function(_, x) return x:mean({ 2, 3, 4 }):reshape(x:size(1), 1) end,
      out = function(f)   -- called as classifier.out(f), as an nn.Linear field is
         local centers = gan.tensor({ { -0.9, -0.7, -0.5, -0.3, -0.1, 0.1, 0.3, 0.5, 0.7, 0.9 } }, F64)
         return (f:double() - centers):pow(2):mul(-1000)
      end,
   }
   local function images(triples)
      local x = gan.zeros { #triples, 3, 4, 4 }
      for i, t in ipairs(triples) do
         for c = 1, 3 do x[i][c]:fill_(-1 + 0.2 * t[c] + 0.1) end
      end
      return x
   end

   it("counts the modes of the three channels' digits and the KL of their histogram to uniform", function()
      local same = {}
      for i = 1, 30 do same[i] = { 1, 2, 3 } end
      local r = M.stacked_modes(images(same), clf)
      assert.are.equal(1, r.modes)
      close(r.kl, math.log(1000), 1e-12, "one mode")
      assert.are.equal(1, r.confident)
      local all = {}
      for m = 0, 999 do all[#all + 1] = { m // 100, m // 10 % 10, m % 10 } end
      r = M.stacked_modes(images(all), clf)
      assert.are.equal(1000, r.modes)
      close(r.kl, 0, 1e-12, "every mode once")
      -- two modes, 3 : 1: KL = 3/4 log(750) + 1/4 log(250)
      r = M.stacked_modes(images { { 0, 0, 1 }, { 0, 0, 1 }, { 0, 0, 1 }, { 9, 9, 9 } }, clf)
      assert.are.equal(2, r.modes)
      close(r.kl, 0.75 * math.log(750) + 0.25 * math.log(250), 1e-12, "3 : 1")
      assert.has_error(function() M.stacked_modes(gan.zeros { 2, 1, 4, 4 }, clf) end,
         "stacked_modes: expected (N, 3, H, W) images, got {2, 1, 4, 4}")
   end)
end)

describe("metrics.evaluate_translation", function()
   local nn = gan.nn
   local Neg = nn.class("Neg", nn.Module)
   function Neg:forward(x) return -x end
   -- A domain classifier by hand: features = the image mean; class 1 (B) when positive.
   local clf = { features = function(_, x) return x:flatten(2):mean(2, true) end,
      out = function(f) return gan.cat({ -f * 50, f * 50 }, 2) end }

   local function pair(n)
      gan.manual_seed(8)
      local a = gan.rand { n, 3, 4, 4 }:mul(0.5):sub(0.75)   -- in [-0.75, -0.25]: domain A
      return a, -a                                          -- B: the same items, negated
   end

   it("identity translators score exactly the untranslated baseline, with zero cycle error", function()
      local a, b = pair(6)
      local r = M.evaluate_translation(nn.Identity(), nn.Identity(), a, b, { classifier = clf, batch = 4 })
      assert.are.equal(6, r.n)
      assert.are.equal(r.l1_ab_input, r.l1_ab)
      assert.are.equal(r.psnr_ab_input, r.psnr_ab)
      assert.are.equal(0, r.cycle_l1_a)
      assert.are.equal(0, r.cycle_l1_b)
      assert.are.equal(0, r.style_ab)       -- nothing moved to the other domain
      assert.are.equal(0, r.style_ba)
      assert.are.equal(1, r.style_real)
      assert(math.abs(r.fid_ab - r.fid_ab_input) < 1e-9)
   end)

   it("perfect translators: zero L1, every translation in the target domain", function()
      local a, b = pair(5)
      local r = M.evaluate_translation(Neg(), Neg(), a, b, { classifier = clf })
      assert.are.equal(0, r.l1_ab)
      assert.are.equal(0, r.l1_ba)
      assert(r.psnr_ab >= 99, r.psnr_ab)    -- MSE floored at 1e-10: 100 dB
      assert.are.equal(1, r.style_ab)
      assert.are.equal(1, r.style_ba)
      assert(r.fid_ab < 1e-6 and r.fid_ab_input > 0.1, r.fid_ab .. " " .. r.fid_ab_input)
   end)

   it("L1 and PSNR on the [0, 1] scale, by hand", function()
      local a = gan.full({ 2, 1, 2, 2 }, -1)             -- black
      local r1 = M.evaluate_translation(nn.Identity(), nn.Identity(), a, gan.full({ 2, 1, 2, 2 }, 1))
      assert.are.equal(1, r1.l1_ab_input)                 -- black against white: error 1, PSNR 0 dB
      assert.are.equal(0, r1.psnr_ab_input)
      local r2 = M.evaluate_translation(nn.Identity(), nn.Identity(), a, gan.zeros { 2, 1, 2, 2 })
      assert.are.equal(0.5, r2.l1_ab_input)               -- against mid-grey: 0.5, 10 log10(4) dB
      assert(math.abs(r2.psnr_ab_input - 10 * math.log(4, 10)) < 1e-12)
      assert.has_error(function() M.evaluate_translation(nn.Identity(), nn.Identity(), a, gan.zeros { 3, 1, 2, 2 }) end,
         "evaluate_translation: 2 images of A but 3 of B; the sets must be paired")
   end)
end)

describe("metrics.hungarian and matched_accuracy", function()
   -- brute force over all permutations of a small matrix
   local function best(cost)
      local n, bestv = #cost, math.huge
      local perm, used = {}, {}
      local function rec(i, acc)
         if i > n then bestv = math.min(bestv, acc); return end
         for j = 1, n do
            if not used[j] then used[j] = true; perm[i] = j; rec(i + 1, acc + cost[i][j]); used[j] = false end
         end
      end
      rec(1, 0)
      return bestv
   end

   it("finds the least-cost assignment (against brute force on random 6x6 matrices)", function()
      local g = gan.Generator(4)
      for _ = 1, 20 do
         local m = gan.randint(0, 50, { 6, 6 }, { generator = g }):totable()
         local assign, total = M.hungarian(m)
         local seen = {}
         for i = 1, 6 do assert.is_nil(seen[assign[i]]); seen[assign[i]] = true end
         assert.are.equal(best(m), total)
      end
   end)

   it("matched accuracy: a relabelled copy scores 1, the matching undoes the relabelling", function()
      local labels = gan.tensor({ 0, 1, 2, 2, 1, 0, 2 }, { dtype = "int64" })
      local codes = gan.tensor({ 2, 0, 1, 1, 0, 2, 1 }, { dtype = "int64" })   -- 0->2, 1->0, 2->1
      local acc, match = M.matched_accuracy(codes, labels, 3)
      assert.are.equal(1, acc)
      assert.are.same({ 1, 2, 0 }, match)   -- code 0 is label 1, code 1 is label 2, code 2 is label 0
      -- one sample off: 6 of 7
      local acc2 = M.matched_accuracy(gan.tensor({ 2, 0, 1, 1, 0, 2, 0 }, { dtype = "int64" }), labels, 3)
      assert(math.abs(acc2 - 6 / 7) < 1e-12)
   end)
end)

describe("metrics.train_classifier and per-class FID #release_only", function()
   it("learns two separable image classes (bright vs dark squares) and reaches 100% on new ones", function()
      gan.manual_seed(12)
      local function make(n, g)
         local y = gan.randint(0, 2, { n }, { generator = g })
         local x = gan.rand({ n, 1, 8, 8 }, { generator = g }):mul(0.4):sub(0.9)   -- dark: [-0.9, -0.5]
         x = x + y:float():reshape(n, 1, 1, 1) * 1.4                                 -- bright: [0.5, 0.9]
         return x, y
      end
      local g = gan.Generator(2)
      local x, y = make(64, g)
      local seen = 0
      local clf = M.train_classifier(x, y, { epochs = 15, n_classes = 2, batch_size = 16, shift = 1,
         on_epoch = function(e, loss) seen = e; assert(loss == loss) end })
      assert.are.equal(15, seen)
      assert.is_false(clf.training)
      local xt, yt = make(40, g)
      local _, probs = M.features(clf, xt)
      assert.are.equal(1, M.class_accuracy(probs, yt))
   end)
end)
