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

local function decode_number(v)
   if v.i then return math.tointeger(tonumber(v.i)) end
   if v.f == "nan" then return 0 / 0 end
   if v.f == "inf" then return math.huge end
   if v.f == "-inf" then return -math.huge end
   return tonumber(v.f)
end

-- Calls a core file function; its errors ("load: ...") are re-raised as "gan.load: ..."
-- at the caller of gan.save/gan.load rather than at a line of this file.
local function c_call(fn, ...)
   local res = table.pack(pcall(fn, ...))
   if not res[1] then
      local msg = tostring(res[2]):gsub("^[^\n]-:%d+: ", "")
      error("gan." .. msg, 3)
   end
   return table.unpack(res, 2, res.n)
end

--- Saves `value` to `path` atomically.
function M.save(path, value)
   if type(path) ~= "string" then error("gan.save: path must be a string", 2) end
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
   local header, order, offset = {}, {}, 0
   for _, nt in ipairs(tensors) do
      local n, t = nt[1], nt[2]
      local nbytes = t:numel() * SIZES[t.dtype]
      header[n] = { dtype = DTYPES[t.dtype], shape = t:size(), data_offsets = { offset, offset + nbytes } }
      order[#order + 1] = t:detach()
      offset = offset + nbytes
   end
   header.__metadata__ = { ["gan.format"] = "1", ["gan.tree"] = cjson.encode(tree) }
   -- cjson writes empty tables as {}; shapes of 0-d tensors must be [].
   local json = cjson.encode(header):gsub('"shape":{}', '"shape":[]')
   c_call(core.save_safetensors, path, json, order)
end

local function fail(path, msg, ...)
   error(("gan.load: %s: " .. msg):format(path, ...), 3)
end

local function is_int(v) return type(v) == "number" and v >= 0 and v == math.floor(v) end

--- Loads a file written by gan.save (the same value back) or any safetensors file (a
-- table name -> tensor). A truncated, corrupt or lying file raises an error saying what
-- is wrong.
function M.load(path)
   if type(path) ~= "string" then error("gan.load: path must be a string", 2) end
   local json, data_start, data_size = c_call(core.read_safetensors_header, path)
   local ok, header = pcall(cjson.decode, json)
   if not ok or type(header) ~= "table" then fail(path, "the header is not valid JSON (corrupt file?)") end
   local spans, tensors = {}, {}
   for name, e in pairs(header) do
      if name ~= "__metadata__" then
         if type(e) ~= "table" or type(e.dtype) ~= "string" or type(e.shape) ~= "table" or type(e.data_offsets) ~= "table" then
            fail(path, "entry '%s' lacks dtype, shape or data_offsets", name)
         end
         local dt = FROM_DTYPE[e.dtype]
         if not dt then fail(path, "tensor '%s' has dtype %s; gan reads F32, F64 and I64", name, e.dtype) end
         local numel = 1
         for i, s in ipairs(e.shape) do
            if not is_int(s) then fail(path, "tensor '%s' has an invalid shape entry %d", name, i) end
            numel = numel * s
         end
         local b, en = e.data_offsets[1], e.data_offsets[2]
         if not (is_int(b) and is_int(en)) or en < b then fail(path, "tensor '%s' has invalid data_offsets", name) end
         if en - b ~= numel * SIZES[dt] then
            fail(path, "tensor '%s' claims %d bytes but its shape and dtype need %d", name, en - b, numel * SIZES[dt])
         end
         if en > data_size then
            fail(path, "tensor '%s' ends at byte %d but the file holds %d data bytes (truncated?)", name, en, data_size)
         end
         -- an empty tensor occupies no bytes and overlaps nothing
         if en > b then spans[#spans + 1] = { b, en, name } end
         local shape = {}
         for i, s in ipairs(e.shape) do shape[i] = math.tointeger(s) end
         tensors[name] = { dt, shape, math.tointeger(b) }
      end
   end
   table.sort(spans, function(x, y) return x[1] < y[1] end)
   for i = 2, #spans do
      if spans[i][1] < spans[i - 1][2] then
         fail(path, "tensors '%s' and '%s' overlap", spans[i - 1][3], spans[i][3])
      end
   end
   local loaded = {}
   for name, info in pairs(tensors) do
      loaded[name] = c_call(core.read_tensor_bytes, path, data_start + info[3], info[1], info[2])
   end
   local meta = header.__metadata__
   if type(meta) ~= "table" or meta["gan.tree"] == nil then return loaded end
   local ok2, tree = pcall(cjson.decode, meta["gan.tree"])
   if not ok2 then fail(path, "the gan.tree metadata is not valid JSON") end
   local function dec(v)
      if type(v) ~= "table" then fail(path, "malformed gan.tree metadata") end
      if v.T then
         local t = loaded[v.T]
         if not t then fail(path, "gan.tree refers to a missing tensor '%s'", tostring(v.T)) end
         return t
      end
      if v.i or v.f then return decode_number(v) end
      if v.s ~= nil then return v.s end
      if v.b ~= nil then return v.b end
      if v.t then
         local out = {}
         for _, kv in ipairs(v.t) do out[dec(kv[1])] = dec(kv[2]) end
         return out
      end
      fail(path, "malformed gan.tree metadata")
   end
   return dec(tree)
end

-- ---------------------------------------------------------------- checkpoints

--- Saves objects with state_dict() (modules, optimizers, schedulers, EMA) under their
-- names, the default generator's state and `extra` (any saveable value) in one file.
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

--- Restores every object in `objects` from a checkpoint (each must be present in it) and
-- the default generator's state; returns the checkpoint's `extra`.
function M.load_checkpoint(path, objects)
   local v = M.load(path)
   if type(v) ~= "table" or v.format ~= "gan.checkpoint" then
      error(("load_checkpoint: %s is not a gan checkpoint"):format(path), 2)
   end
   for name, obj in pairs(objects) do
      local st = v.states[name]
      if st == nil then error(("load_checkpoint: %s has no state for '%s'"):format(path, tostring(name)), 2) end
      obj:load_state_dict(st)
   end
   core.set_rng_state(v.rng)
   return v.extra
end

return M
