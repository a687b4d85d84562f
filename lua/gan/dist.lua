--- gan.dist: data-parallel training over MPI. Launch any experiment under mpirun and the
-- training loop shards the data, keeps the ranks' parameters equal (gradients averaged at
-- the one update site) and lets rank 0 alone write the run:
--
--     mpirun -np 2 gan run experiments/dcgan.lua          (docs/distributed.md)
--
-- The collectives (on tensors, in place unless said otherwise) work in any script run
-- under mpirun: dist.init(), dist.rank(), dist.world_size(), dist.all_reduce(t, "sum" |
-- "mean"), dist.broadcast(t, root), dist.all_gather(t), dist.barrier(). Ranks are MPI's,
-- numbered from 0. Without MPI in the build, dist.available() is false, a single process
-- runs as before, and a job launched with mpirun -np N > 1 is refused with a message.
-- @module gan.dist
local core = require("gan.core")
local no_grad = require("gan.autograd").no_grad

local D = {}
local C = core.dist

--- Whether this build of gan has MPI.
-- @function available
-- @treturn boolean
D.available = C.available

--- Whether this process is one of several launched together (mpirun -np N, N > 1).
function D.launched() return C.launched_size() > 1 end

--- Initialises MPI when this process was launched by mpirun with N > 1 processes (else
-- nothing: a single process needs no MPI); idempotent. Returns the world size.
function D.init()
   if not D.launched() then return 1 end
   if not C.available() then
      error(("gan.dist: launched as one of %d processes, but this build of gan has no MPI (no MPI library was "
         .. "found when it was configured: install libopenmpi-dev or libmpich-dev, rebuild)"):format(
         C.launched_size()), 0)
   end
   if not C.initialized() then C.init() end
   return C.world_size()
end

--- This process's rank, numbered from 0 (0 without MPI).
-- @function rank
-- @treturn int

--- The number of processes working together (1 without MPI).
-- @function world_size
-- @treturn int
D.rank, D.world_size = C.rank, C.world_size
--- True on rank 0 (and in a single process): the rank that writes.
function D.is_main() return C.rank() == 0 end
--- True when several processes train together (MPI initialised with a world above 1).
function D.active() return C.initialized() and C.world_size() > 1 end

local function need_mpi(fn)
   return function(...)
      if not C.initialized() then
         if not C.available() then
            error(("dist.%s: this build of gan has no MPI; gan.dist is unavailable"):format(fn), 2)
         end
         error(("dist.%s: gan.dist is not initialised (run under mpirun and call dist.init)"):format(fn), 2)
      end
      return C[fn](...)
   end
end

--- Sums a tensor over the ranks, in place: every rank gets the sum (or the mean).
-- Every rank must call it in the same order with a tensor of the same dtype and element
-- count. Raises an error when gan.dist is not initialised.
-- @function all_reduce
-- @tparam Tensor t contiguous float32, float64 or int64
-- @tparam[opt="sum"] string op "sum" or "mean" (float dtypes only)
-- @treturn Tensor t

--- Copies rank `root`'s values into t on every rank, in place.
-- @function broadcast
-- @tparam Tensor t
-- @tparam[opt=0] int root the rank that sends
-- @treturn Tensor t

--- The ranks' tensors (of one shape) concatenated along dim 1 in rank order, as a new
-- tensor on every rank.
-- @function all_gather
-- @tparam Tensor t
-- @treturn Tensor

--- Waits until every rank has reached this call.
-- @function barrier
D.all_reduce, D.broadcast, D.all_gather, D.barrier =
   need_mpi("all_reduce"), need_mpi("broadcast"), need_mpi("all_gather"), need_mpi("barrier")

--- Ends every process of the job (after an error on one rank).
-- @function abort
-- @tparam[opt=1] int code the exit status
D.abort = C.abort

--- The threads one rank uses by default: the cores of this machine shared among the
-- ranks running on it (all of them in a single process).
function D.default_threads()
   local cores = tonumber(io.popen("nproc 2>/dev/null"):read("l") or "") or 1
   local here = tonumber(os.getenv("OMPI_COMM_WORLD_LOCAL_SIZE") or os.getenv("MPI_LOCALNRANKS") or "")
      or C.world_size()
   return math.max(1, cores // here)
end

-- ---------------------------------------------------------------- fused collectives

-- Tensors grouped by dtype, in order: { dtype = { t1, t2, ... } }.
local function by_dtype(list)
   local groups, order = {}, {}
   for _, t in ipairs(list) do
      if not groups[t.dtype] then groups[t.dtype] = {}; order[#order + 1] = t.dtype end
      table.insert(groups[t.dtype], t)
   end
   return groups, order
end

--- Averages the gradients of `params` over the ranks in one all-reduce per dtype (the
-- gradients flattened into one buffer). A parameter without a gradient counts as zero on
-- that rank; one without a gradient on every rank keeps none.
-- @tparam {Tensor,...} params
function D.all_reduce_grads(params)
   local groups, order = by_dtype(params)
   local w = C.world_size()
   local _ <close> = no_grad()
   for _, dt in ipairs(order) do
      local ps = groups[dt]
      local parts, has = {}, {}
      for i, p in ipairs(ps) do
         local g = p.grad
         parts[i] = g ~= nil and g:contiguous():view(-1) or core.zeros({ p:numel() }, { dtype = dt })
         has[i] = g ~= nil and 1 or 0
      end
      parts[#parts + 1] = core.tensor(has, { dtype = dt })
      local flat = core.cat(parts, 1)
      C.all_reduce(flat, "sum")
      local at = 1
      local flags = flat:narrow(1, flat:numel() - #ps + 1, #ps):totable()
      for i, p in ipairs(ps) do
         local n = p:numel()
         if flags[i] > 0 then p.grad = flat:narrow(1, at, n):view(p:size()) * (1 / w) end
         at = at + n
      end
   end
end

--- Gives every rank rank 0's values of `tensors` (in place), one broadcast per dtype.
-- @tparam {Tensor,...} tensors
function D.broadcast_tensors(tensors)
   local groups, order = by_dtype(tensors)
   local _ <close> = no_grad()
   for _, dt in ipairs(order) do
      local ts = groups[dt]
      local parts = {}
      for i, t in ipairs(ts) do parts[i] = t:contiguous():view(-1) end
      local flat = core.cat(parts, 1)
      C.broadcast(flat, 0)
      local at = 1
      for _, t in ipairs(ts) do
         t:copy_(flat:narrow(1, at, t:numel()):view(t:size()))
         at = at + t:numel()
      end
   end
end

--- The mean over ranks of every number in `scalars` (a new table; other values as rank
-- 0's). Every rank must pass the same keys.
-- @tparam table scalars key -> value
-- @treturn table
function D.mean_scalars(scalars)
   local keys = {}
   for k, v in pairs(scalars) do if type(v) == "number" then keys[#keys + 1] = k end end
   table.sort(keys)
   local out = {}
   for k, v in pairs(scalars) do out[k] = v end
   if #keys == 0 then return out end
   local vals = {}
   for i, k in ipairs(keys) do vals[i] = scalars[k] end
   local t = core.tensor(vals, { dtype = "float64" })
   C.all_reduce(t, "mean")
   for i, v in ipairs(t:totable()) do out[keys[i]] = v end
   return out
end

--- This rank's share of a global batch: rows [r n / W + 1, (r + 1) n / W] of t (n rows,
-- divisible by the world size). For draws that must equal a single process's: draw the
-- global batch from a generator every rank shares, keep the slice.
-- @tparam Tensor t (n, ...)
-- @treturn Tensor (n / world, ...), a view
-- @raise when n is not divisible by the world size
function D.slice(t)
   local w, n = C.world_size(), t:size(1)
   if n % w ~= 0 then error(("dist.slice: %d rows do not split over %d ranks"):format(n, w), 2) end
   return t:narrow(1, C.rank() * (n // w) + 1, n // w)
end

-- ---------------------------------------------------------------- synchronised batch norm

local synchronising = false

--- True while the training loop runs a step on several ranks: synchronised batch norm
-- only exchanges statistics then (sheets and evaluation run on rank 0 alone).
function D.synchronising() return synchronising end

--- A scope (local _ <close> = dist.step_scope()) inside which synchronised batch norm
-- exchanges statistics, when several ranks train.
function D.step_scope()
   local prev = synchronising
   synchronising = D.active()
   return setmetatable({}, { __close = function() synchronising = prev end })
end

-- ---------------------------------------------------------------- the training loop's part

-- A rank's own seed: rank 0 keeps the run's seed, so its streams are a single process's.
local function rank_seed(seed, rank) return seed + rank * 1000003 end

--- Makes the ranks start equal: rank 0's parameters, buffers, EMA copies and optimizer
-- state broadcast to all; then each rank's random streams (the model's generator and the
-- default one) seeded from (seed, rank), or restored from `states` (a resumed run's, see
-- rng_states).
-- @tparam table model a gan.train.Model
-- @tparam[opt] Tensor states rng_states of a resumed run
function D.prepare(model, states)
   local list = {}
   local function module_tensors(m)
      for _, p in ipairs(m:parameters()) do list[#list + 1] = p end
      for _, b in ipairs(m:buffers()) do list[#list + 1] = b end
   end
   for _, n in ipairs(model._order.networks) do module_tensors(model.networks[n]) end
   for _, n in ipairs(model._order.ema) do module_tensors(model.ema[n].model) end
   for _, n in ipairs(model._order.optimizers) do
      local e = model.optimizers[n]
      for _, p in ipairs(e.params) do
         local st = e.opt.state[p]
         if st then
            local names = {}
            for k, v in pairs(st) do if type(v) == "userdata" then names[#names + 1] = k end end
            table.sort(names)
            for _, k in ipairs(names) do list[#list + 1] = st[k] end
         end
      end
   end
   D.broadcast_tensors(list)
   local r = C.rank()
   if states then
      if states:size(1) ~= C.world_size() then
         error(("dist: the checkpoint was written by %d processes; resume it with mpirun -np %d (this job has %d)")
            :format(states:size(1), states:size(1), C.world_size()), 0)
      end
      local s = states[r + 1]:totable()
      model.rng:set_state { seed = s[1], offset = s[2] }
      core.set_rng_state { seed = s[3], offset = s[4] }
   else
      local seed = rank_seed(model.cfg.train.seed, r)
      model.rng:set_state { seed = seed, offset = 0 }
      core.manual_seed(seed)
   end
end

--- Every rank's random states (the model's generator and the default one) as an int64
-- (world, 4) tensor, gathered for a checkpoint; all ranks must call it together.
-- @tparam table model a gan.train.Model
-- @treturn Tensor int64 (world, 4)
function D.rng_states(model)
   local a, b = model.rng:get_state(), core.get_rng_state()
   return C.all_gather(core.tensor({ { a.seed, a.offset, b.seed, b.offset } }, { dtype = "int64" }))
end

return D
