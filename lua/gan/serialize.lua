--- gan.save / gan.load and checkpoints, in the safetensors layout.
--
-- `gan.save(path, value)` takes a tensor or a Lua table of tensors, numbers, strings,
-- booleans and nested tables. Tensors become the file's named entries (named by their key
-- path, "model.main.1.weight"; a tensor reached twice is stored once); everything else is
-- kept, exactly, in the header's `__metadata__` under "gan.tree" (numbers as tagged
-- strings so integers stay integers and floats keep every bit). Any other tool that reads
-- safetensors sees the tensors; `gan.load` of a file without "gan.tree" (written by
-- another tool) returns a flat table name -> tensor. Writes are atomic (core/src/io.c).
-- @module gan.serialize
local core = require("gan.core")
local cjson = require("cjson")

local M = {}

local is_tensor = require("gan.tensor").is_tensor

local DTYPES = { float32 = "F32", float64 = "F64", int64 = "I64" }
local FROM_DTYPE = { F32 = "float32", F64 = "float64", I64 = "int64" }
local SIZES = { float32 = 4, float64 = 8, int64 = 8 }

local function encode_number(x)
   if math.type(x) == "integer" then return { i = tostring(x) } end
   if x ~= x then return { f = "nan" } end
   if x == math.huge then return { f = "inf" } end
   if x == -math.huge then return { f = "-inf" } end
   return { f = string.format("%a", x) }
end

-- A message without the "file:line: " position Lua put in front of it.
local function strip_position(msg)
   return (tostring(msg):gsub("^[^\n]-:%d+: ", ""))
end

-- Calls a core file function; its errors ("load: ...") are re-raised as "gan.load: ..."
-- (with error()'s `level`: the caller of gan.save, or none inside the loader, whose
-- caller gan.load adds the position).
local function c_call(level, fn, ...)
   local res = table.pack(pcall(fn, ...))
   if not res[1] then error("gan." .. strip_position(res[2]), level) end
   return table.unpack(res, 2, res.n)
end

-- The largest element count (and product of sizes, zeros counted as 1) core accepts.
local MAX_NUMEL = (1 << 59) - 1
local MAX_DIMS = 16

-- The header's __metadata__ begins with the checksum field, whose 8 hex digits (written
-- as 0s first) receive the CRC-32 of the whole file (see core's gan_save_safetensors).
local CRC_KEY = '"gan.crc32":"'
local CRC_PREFIX = '{"__metadata__":{' .. CRC_KEY

local SAVE_OPTS = { checksum = true }

--- Saves `value` to `path` atomically. opts.checksum (default true) records the file's
-- CRC-32 in the metadata ("gan.crc32"), verified by gan.load.
-- @tparam string path
-- @param value a tensor, or tables of tensors, numbers, strings and booleans
-- @tparam[opt] table opts `checksum` (true)
function M.save(path, value, opts)
   if type(path) ~= "string" then error("gan.save: path must be a string", 2) end
   if opts ~= nil and type(opts) ~= "table" then error("gan.save: expected an options table", 2) end
   for k in pairs(opts or {}) do
      if not SAVE_OPTS[k] then error(("gan.save: unknown option '%s'"):format(tostring(k)), 2) end
   end
   local checksum = not (opts and opts.checksum == false)
   local names, tensors, used, on_stack = {}, {}, {}, {}
   local function name_for(t, path_str)
      if names[t] then return names[t] end
      local n = path_str ~= "" and path_str or "tensor"
      local base, k = n, 1
      while used[n] do k = k + 1; n = base .. "#" .. k end
      used[n] = true
      names[t] = n
      tensors[#tensors + 1] = { n, t }
      return n
   end
   local function enc(v, p)
      local ty = type(v)
      if is_tensor(v) then return { T = name_for(v, p) } end
      if ty == "number" then return encode_number(v) end
      if ty == "string" then return { s = v } end
      if ty == "boolean" then return { b = v } end
      if ty == "table" then
         if on_stack[v] then error(("gan.save: the table at '%s' contains itself"):format(p), 0) end
         on_stack[v] = true
         local keys = {}
         for k in pairs(v) do
            local kt = type(k)
            if kt ~= "string" and math.type(k) ~= "integer" then
               error(("gan.save: table at '%s' has a key of type %s (only strings and integers)"):format(p, kt), 0)
            end
            keys[#keys + 1] = k
         end
         table.sort(keys, function(a, b)
            if type(a) == type(b) then return a < b end
            return type(a) == "number"
         end)
         local entries = {}
         for _, k in ipairs(keys) do
            local sub = p == "" and tostring(k) or p .. "." .. tostring(k)
            entries[#entries + 1] = { type(k) == "string" and { s = k } or encode_number(k), enc(v[k], sub) }
         end
         on_stack[v] = nil
         return { t = entries }
      end
      error(("gan.save: cannot save a %s (at '%s')"):format(ty, p), 0)
   end
   local ok, tree = pcall(enc, value, "")
   if not ok then error(tree, 2) end
   local ok2, tree_json = pcall(cjson.encode, tree)
   if not ok2 then error(("gan.save: %s: cannot encode the value: %s"):format(path, tostring(tree_json)), 2) end
   -- The header is written key by key in a fixed order (the metadata, then the tensors in
   -- data order, each as dtype, shape, data_offsets), so that the same state always gives
   -- the same bytes. Every node of the tree has one key, so its JSON is fixed too.
   local meta = (checksum and CRC_PREFIX .. '00000000",' or '{"__metadata__":{')
      .. '"gan.format":"1","gan.tree":' .. cjson.encode(tree_json) .. "}"
   local parts, order, offset = { meta }, {}, 0
   for _, nt in ipairs(tensors) do
      local n, t = nt[1], nt[2]
      local nbytes = t:numel() * SIZES[t.dtype]
      parts[#parts + 1] = ('%s:{"dtype":"%s","shape":[%s],"data_offsets":[%d,%d]}'):format(cjson.encode(n),
         DTYPES[t.dtype], table.concat(t:size(), ","), offset, offset + nbytes)
      order[#order + 1] = t:detach()
      offset = offset + nbytes
   end
   c_call(3, core.save_safetensors, path, table.concat(parts, ",") .. "}", order, checksum and #CRC_PREFIX or nil)
end

-- Refuses the file; gan.load re-raises the message at its caller.
local function fail(path, msg, ...)
   error(("gan.load: %s: " .. msg):format(path, ...), 0)
end

-- A JSON array of n values as a Lua list: keys exactly 1..#t.
local function is_array(t)
   if type(t) ~= "table" then return false end
   local n = 0
   for k in pairs(t) do
      if math.type(k) ~= "integer" then return false end
      n = n + 1
   end
   return n == #t
end

-- A JSON number that is an integer in [0, max] (cjson gives floats), as a Lua integer.
local function count_of(v, max)
   local n = math.type(v) and math.tointeger(v)
   if n and n >= 0 and n <= max then return n end
   return nil
end

local function num_text(v)
   if type(v) == "number" and math.tointeger(v) then return tostring(math.tointeger(v)) end
   if type(v) == "string" then return ("%q"):format(v) end
   return type(v) == "table" and "a " .. (is_array(v) and "list" or "mapping") or tostring(v)
end

-- One tensor entry of the header checked against the data region: { dtype, shape, begin, end }.
local function check_entry(path, name, e, data_size)
   if type(e) ~= "table" or type(e.dtype) ~= "string" or type(e.shape) ~= "table" or type(e.data_offsets) ~= "table" then
      fail(path, "entry '%s' lacks dtype, shape or data_offsets", name)
   end
   local dt = FROM_DTYPE[e.dtype]
   if not dt then fail(path, "tensor '%s' has dtype %s; gan reads F32, F64 and I64", name, e.dtype) end
   if not is_array(e.shape) then fail(path, "tensor '%s' has a shape that is not a list", name) end
   if #e.shape > MAX_DIMS then
      fail(path, "tensor '%s' has %d dims; gan supports at most %d", name, #e.shape, MAX_DIMS)
   end
   local shape, numel, span = {}, 1, 1
   for i, v in ipairs(e.shape) do
      local s = count_of(v, MAX_NUMEL)
      if not s then
         fail(path, "tensor '%s' has an invalid shape entry %d (%s): sizes are integers from 0 to 2^59 - 1", name, i,
            num_text(v))
      end
      shape[i] = s
      if s > 1 and span > MAX_NUMEL // s then
         fail(path, "tensor '%s' has shape [%s]: more than 2^59 - 1 elements", name, table.concat(shape, ", "))
      end
      span, numel = span * math.max(s, 1), numel * s
   end
   local off = e.data_offsets
   local b, en = count_of(off[1], math.maxinteger), count_of(off[2], math.maxinteger)
   if not is_array(off) or #off ~= 2 or not b or not en or en < b then
      fail(path, "tensor '%s' has invalid data_offsets (two integers begin <= end expected)", name)
   end
   local need = numel * SIZES[dt]
   if en - b ~= need then
      fail(path, "tensor '%s' claims %d bytes but its shape and dtype need %d", name, en - b, need)
   end
   if en > data_size then
      fail(path, "tensor '%s' ends at byte %d but the file holds %d data bytes (truncated?)", name, en, data_size)
   end
   return { dt, shape, b, en, name }
end

-- The tensors must tile the data region: sorted by offset, each begins where the previous
-- one ended, the first at 0 and the last ends at the end of the file. A header length
-- lowered into the JSON's padding, a gap or an overlap all show here.
local function check_tiling(path, entries, data_size)
   table.sort(entries, function(x, y)
      if x[3] ~= y[3] then return x[3] < y[3] end
      if x[4] ~= y[4] then return x[4] < y[4] end
      return x[5] < y[5]
   end)
   local pos, prev = 0, nil
   for _, e in ipairs(entries) do
      if e[3] < pos then fail(path, "tensors '%s' and '%s' overlap", prev[5], e[5]) end
      if e[3] > pos then
         fail(path, "%d bytes before tensor '%s' (at byte %d) belong to no tensor", e[3] - pos, e[5], pos)
      end
      pos, prev = e[4], e
   end
   if pos ~= data_size then
      fail(path, "the data region holds %d bytes but its tensors end at byte %d (a wrong header length?)",
         data_size, pos)
   end
end

-- Verifies the file's CRC-32 when its metadata records one.
local function check_crc(path, json, crc)
   if type(crc) ~= "string" or not crc:match("^%x%x%x%x%x%x%x%x$") then
      fail(path, "gan.crc32 is not 8 hex digits: %s", num_text(crc))
   end
   local field = CRC_KEY .. crc .. '"'
   local at = json:find(field, 1, true)
   if not at or json:find(field, at + 1, true) then
      fail(path, "gan.crc32 is not where gan writes it (the header was rewritten)")
   end
   -- file offset of the 8 digits: the 8-byte length, then the header (1-based `at`)
   local got = c_call(0, core.file_crc32, path, 8 + at - 1 + #CRC_KEY)
   if got ~= tonumber(crc, 16) then
      fail(path, "checksum mismatch: the file records CRC-32 %s, its bytes give %08x (altered or damaged "
         .. "after it was written)", crc, got)
   end
end

-- Decodes the gan.tree metadata; every malformed node is an error naming where it is.
local function decode_tree(path, tree, loaded)
   local function bad(where, what, ...)
      fail(path, "malformed gan.tree metadata at %s: " .. what, where == "" and "the top level" or "'" .. where .. "'",
         ...)
   end
   local function dec(v, where)
      if type(v) ~= "table" then bad(where, "expected a tagged value, got %s", num_text(v)) end
      local tag, x = next(v)
      if tag == nil or next(v, tag) ~= nil then bad(where, "expected exactly one tag (T, i, f, s, b or t)") end
      if tag == "T" then
         if type(x) ~= "string" or not loaded[x] then bad(where, "refers to a missing tensor %s", num_text(x)) end
         return loaded[x]
      elseif tag == "i" then
         local n = type(x) == "string" and x:match("^%-?%d+$") and math.tointeger(tonumber(x))
         if not n then bad(where, "%s is not a 64-bit integer", num_text(x)) end
         return n
      elseif tag == "f" then
         if x == "nan" then return 0 / 0 end
         if x == "inf" then return math.huge end
         if x == "-inf" then return -math.huge end
         if type(x) ~= "string" or not x:match("^%-?0x%x+%.?%x*p[-+]%d+$") then
            bad(where, "%s is not a hex float", num_text(x))
         end
         return tonumber(x)   -- a float: the pattern has an exponent (no "+ 0.0": it would turn -0.0 into 0.0)
      elseif tag == "s" then
         if type(x) ~= "string" then bad(where, "expected a string, got %s", num_text(x)) end
         return x
      elseif tag == "b" then
         if type(x) ~= "boolean" then bad(where, "expected a boolean, got %s", num_text(x)) end
         return x
      elseif tag == "t" then
         if not is_array(x) then bad(where, "a table's entries must be a list") end
         local out = {}
         for _, kv in ipairs(x) do
            if not is_array(kv) or #kv ~= 2 then bad(where, "a table entry must be a [key, value] pair") end
            local k = dec(kv[1], where)
            if type(k) ~= "string" and math.type(k) ~= "integer" then
               bad(where, "a key must be a string or an integer, got %s", num_text(k))
            end
            if out[k] ~= nil then bad(where, "key %s appears twice", num_text(k)) end
            out[k] = dec(kv[2], where == "" and tostring(k) or where .. "." .. tostring(k))
         end
         return out
      end
      bad(where, "unknown tag %s", num_text(tag))
   end
   return dec(tree, "")
end

local function load_file(path)
   local json, data_start, data_size = c_call(0, core.read_safetensors_header, path)
   local ok, header = pcall(cjson.decode, json)
   if not ok or type(header) ~= "table" then fail(path, "the header is not valid JSON (corrupt file?)") end
   local meta = header.__metadata__
   if meta ~= nil and (type(meta) ~= "table" or is_array(meta) and next(meta) ~= nil) then
      fail(path, "__metadata__ is not a mapping")
   end
   meta = meta or {}
   local entries = {}
   for name, e in pairs(header) do
      if name ~= "__metadata__" then entries[#entries + 1] = check_entry(path, name, e, data_size) end
   end
   check_tiling(path, entries, data_size)
   -- last, so that a truncated or misshapen file is reported as what it is
   if meta["gan.crc32"] ~= nil then check_crc(path, json, meta["gan.crc32"]) end
   local loaded = {}
   for _, e in ipairs(entries) do
      loaded[e[5]] = c_call(0, core.read_tensor_bytes, path, data_start + e[3], e[1], e[2])
   end
   local tree_json = meta["gan.tree"]
   if tree_json == nil then return loaded end
   if type(tree_json) ~= "string" then fail(path, "the gan.tree metadata is not a string") end
   local ok2, tree = pcall(cjson.decode, tree_json)
   if not ok2 then fail(path, "the gan.tree metadata is not valid JSON") end
   return decode_tree(path, tree, loaded)
end

--- Loads a file written by gan.save (the same value back) or any safetensors file (a
-- table name -> tensor). A truncated, corrupt or lying file raises an error naming the
-- file and saying what is wrong; so does a file whose recorded checksum does not match.
-- @tparam string path
-- @return the saved value
function M.load(path)
   if type(path) ~= "string" then error("gan.load: path must be a string", 2) end
   local ok, v = pcall(load_file, path)
   if not ok then error(v, 2) end
   return v
end

-- ---------------------------------------------------------------- checkpoints

--- Saves objects with state_dict() (modules, optimizers, schedulers, EMA) under their
-- names, the default generator's state and `extra` (any saveable value) in one file.
-- @tparam string path
-- @tparam table objects name -> object with state_dict()
-- @param[opt] extra any saveable value
-- @raise when an object has no state_dict()
function M.save_checkpoint(path, objects, extra)
   local states = {}
   for name, obj in pairs(objects) do
      if type(obj) ~= "table" or type(obj.state_dict) ~= "function" then
         error(("save_checkpoint: '%s' has no state_dict()"):format(tostring(name)), 2)
      end
      states[name] = obj:state_dict()
   end
   M.save(path, { format = "gan.checkpoint", version = 1, states = states,
      rng = core.get_rng_state(), extra = extra })
end

local function kind_of(v) return is_tensor(v) and "a tensor" or ("a " .. type(v)) end

-- Checks that a loaded state has the shape of the object's own state: every key it has,
-- of the same type, recursively (a damaged checkpoint then fails here, with the key named,
-- instead of inside the object's load_state_dict). Extra keys are the object's business.
local function check_like(own, got, path)
   if type(own) ~= type(got) or is_tensor(own) ~= is_tensor(got) then
      error(("%s is %s, expected %s"):format(path == "" and "the state" or "'" .. path .. "'", kind_of(got),
         kind_of(own)), 0)
   end
   if type(own) ~= "table" then return end
   for k, v in pairs(own) do
      local sub = path == "" and tostring(k) or path .. "." .. tostring(k)
      if got[k] == nil then error(("'%s' is missing"):format(sub), 0) end
      check_like(v, got[k], sub)
   end
end

--- Restores every object in `objects` from a checkpoint (each must be present in it) and
-- the default generator's state; returns the checkpoint's `extra`. Every failure names the
-- file and the object.
-- @tparam string path
-- @tparam table objects name -> object with load_state_dict()
-- @return extra
function M.load_checkpoint(path, objects)
   local ok, v = pcall(M.load, path)
   if not ok then error(strip_position(v), 2) end
   if type(v) ~= "table" or v.format ~= "gan.checkpoint" then
      error(("load_checkpoint: %s is not a gan checkpoint"):format(path), 2)
   end
   if type(v.states) ~= "table" then
      error(("load_checkpoint: %s is not a valid gan checkpoint (its states are missing)"):format(path), 2)
   end
   for name, obj in pairs(objects) do
      local st = v.states[name]
      if st == nil then error(("load_checkpoint: %s has no state for '%s'"):format(path, tostring(name)), 2) end
      local ok2, err = pcall(check_like, obj:state_dict(), st, "")
      if ok2 then ok2, err = pcall(obj.load_state_dict, obj, st) end
      if not ok2 then
         error(("load_checkpoint: %s: the state of '%s' does not load: %s"):format(path, tostring(name),
            strip_position(err)), 2)
      end
   end
   local rng = v.rng
   if type(rng) ~= "table" or math.type(rng.seed) ~= "integer" or math.type(rng.offset) ~= "integer" then
      error(("load_checkpoint: %s: the generator state is not {seed = integer, offset = integer}"):format(path), 2)
   end
   core.set_rng_state(rng)
   return v.extra
end

return M
