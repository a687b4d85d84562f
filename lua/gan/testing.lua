--- gan.testing: numerical gradient checks in float64.
--
-- gradcheck(fn, inputs) compares the Jacobian autograd computes for fn at inputs with
-- central finite differences. Every input that requires grad is perturbed element by
-- element. When fn has few outputs the full Jacobian is compared; otherwise it is
-- projected on a few random output directions v (v^T J against finite differences of
-- v^T fn), which checks every input element at a fraction of the cost.
-- @module gan.testing
local core = require("gan.core")
local no_grad = require("gan.autograd").no_grad

local M = {}

local is_tensor = require("gan.tensor").is_tensor

local function as_list(v)
   if is_tensor(v) then return { v } end
   assert(type(v) == "table", "gradcheck: fn must return a tensor or a list of tensors")
   return v
end

-- All outputs flattened into one float64 vector (a Lua table of numbers).
local function flat_values(outs)
   local vals = {}
   for _, o in ipairs(outs) do
      local t = o:detach():double():reshape(-1):totable()
      for _, v in ipairs(t) do vals[#vals + 1] = v end
   end
   return vals
end

local function dot(a, b)
   local s = 0
   for i = 1, #a do s = s + a[i] * b[i] end
   return s
end

-- x's elements by row-major position j, readable and writable as flat[j] whatever x's
-- strides: a view of a contiguous x, otherwise a proxy that selects down to the element.
local function flat_elements(x)
   local d = x:detach()
   if d:is_contiguous() then return d:view(-1) end
   local size = d:size()
   local function locate(j)
      local t, r, idx = d, j - 1, {}
      for k = #size, 1, -1 do idx[k] = r % size[k] + 1; r = r // size[k] end
      for k = 1, #size - 1 do t = t:select(1, idx[k]) end
      return t, idx[#size]
   end
   return setmetatable({}, {
      __index = function(_, j) local t, i = locate(j); return t[i] end,
      __newindex = function(_, j, v) local t, i = locate(j); t[i] = v end,
   })
end

local function differentiable(inputs)
   local list = {}
   for i, x in ipairs(inputs) do
      if is_tensor(x) and x.requires_grad then
         if x.dtype ~= "float64" then
            error(("gradcheck: input %d is %s; use float64 inputs"):format(i, x.dtype), 3)
         end
         list[#list + 1] = x
      end
   end
   if #list == 0 then error("gradcheck: no input requires grad", 3) end
   return list
end

--- Checks gradients of fn(table.unpack(inputs)) against central differences.
-- @tparam function fn returns a tensor or a list of tensors
-- @tparam table inputs float64 tensors (those with requires_grad are checked) and any
--   other arguments
-- @tparam[opt] table opts eps (1e-6), atol (1e-5), rtol (1e-3), projections (3),
--   full_jacobian_max (32 outputs)
-- @treturn boolean true, or raises an error describing the first mismatch
function M.gradcheck(fn, inputs, opts)
   opts = opts or {}
   local eps, atol, rtol = opts.eps or 1e-6, opts.atol or 1e-5, opts.rtol or 1e-3
   local xs = differentiable(inputs)
   local outs = as_list(fn(table.unpack(inputs)))
   local n_out = #flat_values(outs)
   -- Output directions: unit vectors (full Jacobian) or random ones.
   local dirs = {}
   if n_out <= (opts.full_jacobian_max or 32) then
      for i = 1, n_out do
         local v = {}
         for j = 1, n_out do v[j] = (i == j) and 1 or 0 end
         dirs[#dirs + 1] = v
      end
   else
      local g = core.Generator(opts.seed or 1234)
      for _ = 1, opts.projections or 3 do
         dirs[#dirs + 1] = core.randn({ n_out }, { dtype = "float64", generator = g }):totable()
      end
   end
   -- Analytic: v^T J for each direction, by one backward pass.
   local used = {}
   for i, o in ipairs(outs) do if o.requires_grad then used[#used + 1] = i end end
   local analytic = {}
   for d, v in ipairs(dirs) do
      local at, gos, touts = 1, {}, {}
      for _, o in ipairs(outs) do
         local n = o:numel()
         local part = {}
         for j = 1, n do part[j] = v[at + j - 1] end
         at = at + n
         if o.requires_grad then
            touts[#touts + 1] = o
            gos[#gos + 1] = core.tensor(part, { dtype = o.dtype }):view(o:size())
         end
      end
      local grads = #touts > 0 and core.grad(touts, xs, { grad_outputs = gos, allow_unused = true,
         retain_graph = true }) or {}
      analytic[d] = {}
      for k, x in ipairs(xs) do
         analytic[d][k] = grads[k] and grads[k]:detach():reshape(-1):totable() or {}
         if not grads[k] then for j = 1, x:numel() do analytic[d][k][j] = 0 end end
      end
   end
   -- Numeric: perturb each element of each input (fn runs with grad on, since it may
   -- itself differentiate, as gradgradcheck's does; only the writes run without it).
   local function put(flat, j, v)
      local _ <close> = no_grad()
      flat[j] = v
   end
   for k, x in ipairs(xs) do
      local flat = flat_elements(x)
      for j = 1, x:numel() do
         local orig = flat[j]
         put(flat, j, orig + eps)
         local fp = flat_values(as_list(fn(table.unpack(inputs))))
         put(flat, j, orig - eps)
         local fm = flat_values(as_list(fn(table.unpack(inputs))))
         put(flat, j, orig)
         for d, v in ipairs(dirs) do
            local num = (dot(v, fp) - dot(v, fm)) / (2 * eps)
            local ana = analytic[d][k][j]
            if math.abs(num - ana) > atol + rtol * math.abs(num) or ana ~= ana then
               error(("gradcheck: input %d, element %d, direction %d: analytic %.10g, numeric %.10g")
                  :format(k, j, d, ana, num), 2)
            end
         end
      end
   end
   return true
end

--- Checks second derivatives: the gradient v^T J of fn (built with create_graph) is
-- itself gradchecked with respect to the inputs.
-- @tparam function fn returns a tensor or a list of tensors
-- @tparam table inputs as gradcheck's
-- @tparam[opt] table opts as gradcheck's, plus `seed` (4321: the random v)
-- @treturn boolean true, or raises an error describing the first mismatch
function M.gradgradcheck(fn, inputs, opts)
   opts = opts or {}
   local xs = differentiable(inputs)
   local outs = as_list(fn(table.unpack(inputs)))
   local g = core.Generator(opts.seed or 4321)
   local vs = {}
   for i, o in ipairs(outs) do
      vs[i] = core.randn(o:size(), { dtype = o.dtype, generator = g })
   end
   local function first_grad(...)
      local o = as_list(fn(...))
      local gs = core.grad(o, xs, { grad_outputs = vs, create_graph = true, allow_unused = true })
      local res = {}
      for k = 1, #xs do res[#res + 1] = gs[k] or core.zeros_like(xs[k]) end
      return res
   end
   return M.gradcheck(first_grad, inputs, opts)
end

return M
