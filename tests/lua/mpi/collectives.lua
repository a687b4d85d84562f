-- Run under mpirun by dist_spec: the collectives on every dtype and on 0, 1 and 10^6
-- elements, checked against what each rank can compute alone; prints one line per
-- failed check and "ok <rank>" at the end.
local gan = require("gan")
local dist = gan.dist
assert(dist.init() >= 2, "run me under mpirun -np 2 or more")
local r, w = dist.rank(), dist.world_size()
local bad = 0
local function check(cond, what)
   if not cond then bad = bad + 1; print(("FAIL rank %d: %s"):format(r, what)) end
end
-- sum over ranks of (k + 1) * v, and its mean
local tri = w * (w + 1) / 2
for _, dt in ipairs { "float32", "float64", "int64" } do
   for _, n in ipairs { 0, 1, 1000000 } do
      local what = ("%s, %d elements"):format(dt, n)
      local base = n > 0 and gan.arange(n, { dtype = dt }) or gan.zeros({ 0 }, { dtype = dt })   -- exact in float32
      local t = base * (r + 1)
      dist.all_reduce(t, "sum")
      check((t - base * tri):abs():sum():item() == 0, "all_reduce sum " .. what)
      if dt ~= "int64" then
         local m = base * (r + 1)
         dist.all_reduce(m, "mean")
         check((m - base * (tri / w)):abs():sum():item() <= n * 1e-5, "all_reduce mean " .. what)
      end
      local b = base + r
      dist.broadcast(b, w - 1)
      check((b - (base + (w - 1))):abs():sum():item() == 0, "broadcast from the last rank " .. what)
      local g = dist.all_gather((base + r):reshape(1, n))
      check(g:size(1) == w and g:size(2) == n, "all_gather shape " .. what)
      for k = 0, w - 1 do
         check((g[k + 1] - (base + k)):abs():sum():item() == 0, ("all_gather row %d %s"):format(k, what))
      end
   end
end
local ok, err = pcall(dist.all_reduce, gan.zeros { r + 1 })
check(not ok and err:match("the ranks passed different tensors"), "a mismatch is an error on every rank: " .. tostring(err))
local ok2, err2 = pcall(dist.all_reduce, gan.zeros({ 2 }, { dtype = "int64" }), "mean")
check(not ok2 and err2:match("the mean needs a float tensor"), "int64 mean refused: " .. tostring(err2))
-- the differentiable sum: the gradient of every rank's input is the sum of the ranks' output gradients
local x = gan.full({ 3 }, r + 1.0):requires_grad_()
local y = gan.core.dist.all_reduce_ag(x)
check((y - tri):abs():max():item() == 0, "all_reduce_ag forward")
;(y * (r + 1)):sum():backward()
check((x.grad - tri):abs():max():item() == 0, "all_reduce_ag backward")
dist.barrier()
print(bad == 0 and ("ok %d"):format(r) or ("failed %d"):format(r))
