--- gan.data: datasets, transforms and the DataLoader.
--
-- A dataset is any object with `#ds` (or `ds:len()`) and `ds:get(i)` (1-based) returning
-- a table of tensors and numbers, e.g. `{ image = (C, H, W), label = 3 }`. A dataset may
-- also offer `ds:get_batch(indices)` (an int64 tensor of 0-based positions) returning the
-- collated batch directly (in-memory datasets: one index_select), and
-- `ds:get_batch_async(indices)` returning a handle whose `:wait()` gives the batch
-- (image files decoded by a background C thread); the loader then prefetches the next
-- batch while the current one trains. The loader calls these with two more arguments:
-- a generator for random augmentations (a function of its seed, the epoch and the batch
-- number) and the epoch number (unpaired datasets draw b's pairing per epoch).
--
--     local loader = gan.data.DataLoader(gan.data.mnist(), { batch_size = 64, shuffle = true,
--                                        generator = gan.Generator(1) })
--     for batch in loader do ... batch.image (64, 1, 28, 28), batch.label (64) ... end
-- @module gan.data
local core = require("gan.core")

local data = {}

local is_tensor = require("gan.tensor").is_tensor

local function len(ds)
   if type(ds) == "table" and ds.len then return ds:len() end
   return #ds
end
data.len = len

-- ---------------------------------------------------------------- TensorDataset

local TensorDataset = {}
TensorDataset.__index = TensorDataset
TensorDataset.__len = function(self) return self.n end

--- A dataset over tensors sharing their first dim: `TensorDataset{ image = X, label = Y }`.
-- Optional opts.transform(sample, generator) applies per sample (then batches are
-- collated sample by sample).
-- @tparam table fields name -> tensor, all with the same first dim
-- @tparam[opt] table opts `transform` (none)
-- @treturn table the dataset
-- @raise when a field is not a tensor, the row counts differ or there is no field
function data.TensorDataset(fields, opts)
   local n
   for k, t in pairs(fields) do
      if not is_tensor(t) then error(("TensorDataset: field '%s' is not a tensor"):format(tostring(k)), 2) end
      if n and t:size(1) ~= n then
         error(("TensorDataset: field '%s' has %d rows, another field has %d"):format(tostring(k), t:size(1), n), 2)
      end
      n = t:size(1)
   end
   if not n then error("TensorDataset: no fields", 2) end
   return setmetatable({ fields = fields, n = n, transform = opts and opts.transform }, TensorDataset)
end

--- The number of samples (rows of each field).
-- @treturn int
function TensorDataset:len() return self.n end

--- Sample i: row i of every field (a tensor, or a number for a 1-d field), passed
-- through the dataset's transform if it has one.
-- @tparam int i 1-based
-- @tparam[opt] Generator g the loader's generator, handed to the transform
-- @treturn table field -> value
-- @raise when i is not an integer in 1..len
function TensorDataset:get(i, g)
   if math.type(i) ~= "integer" or i < 1 or i > self.n then
      error(("dataset: index %s out of range 1..%d"):format(tostring(i), self.n), 2)
   end
   local s = {}
   for k, t in pairs(self.fields) do
      local v = t[i]
      if is_tensor(v) or type(v) == "number" then s[k] = v end
   end
   if self.transform then s = self.transform(s, g) end
   return s
end

--- The rows idx of every field as one batch, or nil when the dataset has a transform
-- (the loader then collates transformed samples).
-- @tparam Tensor idx int64 indices, 0-based
-- @tparam[opt] Generator gen unused
-- @treturn table|nil field -> tensor
function TensorDataset:get_batch(idx, gen)
   if self.transform then return nil end   -- per-sample transforms: collate instead
   local b = {}
   for k, t in pairs(self.fields) do b[k] = t:index_select(1, idx) end
   return b
end

-- ---------------------------------------------------------------- collation

--- Stacks a list of samples into a batch: tensors stack along a new first dim, integers
-- become an int64 tensor, other numbers a float32 one, strings a list.
-- @tparam {table,...} samples field -> value, all with the fields of the first
-- @treturn table field -> batched value
function data.collate(samples)
   local b = {}
   for k, v in pairs(samples[1]) do
      if is_tensor(v) then
         local list = {}
         for i, s in ipairs(samples) do list[i] = s[k] end
         local parts = {}
         for i, t in ipairs(list) do parts[i] = t:unsqueeze(1) end
         b[k] = core.cat(parts, 1)
      elseif type(v) == "number" then
         local list, all_int = {}, true
         for i, s in ipairs(samples) do
            list[i] = s[k]
            all_int = all_int and math.type(s[k]) == "integer"
         end
         b[k] = core.tensor(list, { dtype = all_int and "int64" or "float32" })
      else
         local list = {}
         for i, s in ipairs(samples) do list[i] = s[k] end
         b[k] = list
      end
   end
   return b
end

-- ---------------------------------------------------------------- transforms

data.transforms = {}

--- Applies functions in order: each takes (sample, generator) and returns a sample.
-- @tparam {function,...} list
-- @treturn function fn(sample, generator) -> sample
function data.transforms.Compose(list)
   return function(s, g)
      for _, f in ipairs(list) do s = f(s, g) end
      return s
   end
end

--- Mirrors sample[key] (default "image") left-right with probability p (0.5).
-- @tparam[opt=0.5] number p
-- @tparam[opt="image"] string key
-- @treturn function fn(sample, generator) -> sample
function data.transforms.RandomHorizontalFlip(p, key)
   p, key = p or 0.5, key or "image"
   local image = require("gan.image")
   return function(s, g)
      local u = core.rand({ 1 }, { dtype = "float64", generator = g })[1]
      if u < p then s[key] = image.hflip(s[key]) end
      return s
   end
end

--- (x - mean) / std per channel of sample[key].
-- @tparam {number,...} mean one per channel
-- @tparam {number,...} std one per channel
-- @tparam[opt="image"] string key
-- @treturn function fn(sample) -> sample
function data.transforms.Normalize(mean, std, key)
   key = key or "image"
   local m, sd = core.tensor(mean):view(-1, 1, 1), core.tensor(std):view(-1, 1, 1)
   return function(s) s[key] = (s[key] - m) / sd; return s end
end

--- [0, 1] -> [-1, 1] for sample[key].
-- @tparam[opt="image"] string key
-- @treturn function fn(sample) -> sample
function data.transforms.ToSigned(key)
   key = key or "image"
   return function(s) s[key] = s[key] * 2 - 1; return s end
end

-- ---------------------------------------------------------------- DataLoader

local DataLoader = {}
DataLoader.__index = DataLoader
local LOADER_OPTS = require("gan.opts").set("batch_size", "shuffle", "drop_last", "generator", "prefetch", "shard")
local opts_check = require("gan.opts").check

--- Batches of a dataset, shuffled per epoch: loader:next() gives the next batch.
-- opts: batch_size (64), shuffle (true), drop_last (true), generator (for the order;
-- default a Generator seeded with 0), prefetch (true: prepare the next batch in the
-- background when the dataset can), shard ({ rank, world }: data parallelism; batch_size
-- is then the global batch, every rank orders the epoch the same way and takes its own
-- equal share, rows [rank b / world, (rank + 1) b / world) of each global batch of b, so
-- the ranks' shares are disjoint, cover the epoch and change with it; b must divide by
-- world, and a last incomplete batch loses the rows that do not split evenly).
-- @tparam table ds a dataset (#ds or ds:len(), ds:get(i), optionally ds:get_batch)
-- @tparam[opt] table opts the options above
-- @treturn DataLoader
-- @raise on an unknown option, a batch_size that is not a positive integer or a bad shard
function data.DataLoader(ds, opts)
   opts = opts_check(opts, LOADER_OPTS, "DataLoader")
   local self = setmetatable({}, DataLoader)
   self.dataset = ds
   self.batch_size = opts.batch_size or 64
   if math.type(self.batch_size) ~= "integer" or self.batch_size < 1 then
      error("DataLoader: batch_size must be a positive integer", 2)
   end
   self.shuffle = opts.shuffle ~= false
   self.drop_last = opts.drop_last ~= false
   self.generator = opts.generator or core.Generator(0)
   self.prefetch = opts.prefetch ~= false
   if opts.shard then
      local r, w = opts.shard[1], opts.shard[2]
      if math.type(w) ~= "integer" or w < 1 or math.type(r) ~= "integer" or r < 0 or r >= w then
         error("DataLoader: shard must be { rank, world } with 0 <= rank < world", 2)
      end
      if self.batch_size % w ~= 0 then
         error(("DataLoader: batch_size %d does not split over %d ranks"):format(self.batch_size, w), 2)
      end
      self.shard = { r, w }
   end
   self.epoch = 0
   self.position = 0        -- batches already handed out in this epoch
   self.order = nil
   if len(ds) < 1 then error("DataLoader: the dataset is empty", 2) end
   return self
end

--- Batches per epoch.
function DataLoader:__len()
   local n = len(self.dataset)
   if self.drop_last then return n // self.batch_size end
   return (n + self.batch_size - 1) // self.batch_size
end
DataLoader.len = DataLoader.__len

function DataLoader:_start_epoch()
   self.epoch_rng = self.generator:get_state()
   self.epoch = self.epoch + 1
   self.position = 0
   local n = len(self.dataset)
   self.order = self.shuffle and core.randperm(n, { generator = self.generator }) or core.arange(n)
   self.pending = nil
end

function DataLoader:_indices(k)
   local n = len(self.dataset)
   local first = (k - 1) * self.batch_size
   local count = math.min(self.batch_size, n - first)
   if self.shard then
      local per = count // self.shard[2]
      return self.order:narrow(1, first + self.shard[1] * per + 1, per)
   end
   return self.order:narrow(1, first + 1, count)
end

-- Randomness for augmenting batch k: a function of (seed, epoch, k) only, so batches do
-- not depend on prefetching or on where a run was resumed.
function DataLoader:_aug_generator(k)
   local seed = self.generator:initial_seed()
   return core.Generator(((seed * 1000003 + self.epoch) * 1000033 + k) & 0x7fffffffffffffff)
end

-- Starts (or runs) the work for batch k of this epoch.
function DataLoader:_request(k)
   local ds, idx, g, e = self.dataset, self:_indices(k), self:_aug_generator(k), self.epoch
   if self.prefetch and ds.get_batch_async then return { async = ds:get_batch_async(idx, g, e) } end
   if ds.get_batch then
      local b = ds:get_batch(idx, g, e)
      if b then return { batch = b } end
   end
   local samples = {}
   for i = 1, idx:size(1) do samples[i] = ds:get(idx[i] + 1, g, e) end
   return { batch = data.collate(samples) }
end

--- The next batch, or nil once at the end of an epoch (the following call starts the
-- next epoch): `for batch in loader do ... end` runs one epoch.
function DataLoader:next()
   if self.order == nil then self:_start_epoch() end
   if self.position >= self:__len() then
      self.order, self.pending = nil, nil
      return nil
   end
   local k = self.position + 1
   local req = (self.pending and self.pending.k == k) and self.pending.req or self:_request(k)
   self.pending = nil
   self.position = k
   if self.prefetch and k < self:__len() then
      self.pending = { k = k + 1, req = self:_request(k + 1) }
   end
   if req.batch then return req.batch end
   return req.async:wait()
end

DataLoader.__call = DataLoader.next

--- An endless stream of batches across epochs: `for step, batch in loader:forever() do`.
function DataLoader:forever()
   local step = 0
   return function()
      local b = self:next()
      if b == nil then b = self:next() end
      if b == nil then
         error(("DataLoader: no batches: %d samples, batch_size %d, drop_last"):format(len(self.dataset),
            self.batch_size), 2)
      end
      step = step + 1
      return step, b
   end
end

--- Where the loader is (epoch, batches handed out, the generator state before the
-- epoch's shuffle), so that a resumed run sees exactly the same batches.
function DataLoader:state_dict()
   return { epoch = self.epoch, position = self.position, finished = self.order == nil,
      epoch_rng = self.epoch_rng, rng = self.generator:get_state() }
end

--- Restores the position DataLoader:state_dict returned: the next batch is the one the
-- saved loader would have given next.
-- @tparam table sd
function DataLoader:load_state_dict(sd)
   self.pending = nil
   if sd.finished or not sd.epoch_rng then
      self.generator:set_state(sd.rng)
      self.epoch, self.order, self.position = sd.epoch, nil, sd.position
      return
   end
   self.generator:set_state(sd.epoch_rng)
   self.epoch = sd.epoch - 1
   self:_start_epoch()
   self.position = sd.position
end

-- Built-in datasets (mnist, fashion_mnist, emoji, image_folder, unpaired, paired) and
-- data-directory helpers.
for k, v in pairs(require("gan.data.datasets")) do data[k] = v end

return data
