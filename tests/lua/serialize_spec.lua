-- gan.save / gan.load in the safetensors layout: bit-exact round trips of tensors and Lua
-- values, interoperation with an independent reader and writer (Python struct/json),
-- clear errors for truncated or lying files, atomic writes under kill -9, and
-- checkpoints that resume training exactly.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "nn_helpers.lua")
local nn, optim = gan.nn, gan.optim

local PY = "/usr/bin/python3"

local function tmpdir()
   local p = io.popen("mktemp -d")
   local d = p:read("l")
   p:close()
   return d
end

local function rmdir(d)
   assert(d:match("^/tmp/"), d)
   os.execute("rm -rf '" .. d .. "'")
end

local function read_all(path)
   local f = io.open(path, "rb")
   if not f then return "" end
   local s = f:read("a")
   f:close()
   return s
end

local function write_all(path, s)
   local f = assert(io.open(path, "wb"))
   f:write(s)
   f:close()
end

local function sh(cmd)
   local p = io.popen(cmd .. " 2>&1")
   local out = p:read("a")
   local ok, _, code = p:close()
   return out, ok, code
end

-- Bit patterns of every element (doubles for float tensors, integers for int64), so that
-- -0.0, nan payloads and float32 values compare exactly.
local function bits(t)
   local out = {}
   for i, v in ipairs(H.flat(t)) do
      out[i] = math.type(v) == "integer" and ("i" .. v) or string.pack("<d", v)
   end
   return out
end

-- An int64 tensor holding exactly these Lua integers. (gan.tensor goes through doubles and
-- rounds integers beyond 2^53, so build each as hi * 2^32 + lo in int64 arithmetic.)
local function int64_exact(list)
   local hi, lo = {}, {}
   for i, v in ipairs(list) do
      lo[i] = v & 0xffffffff
      hi[i] = (v - lo[i]) // 4294967296
   end
   local I = { dtype = "int64" }
   local t = gan.tensor(hi, I) * gan.tensor(4294967296, I) + gan.tensor(lo, I)
   assert(table.concat(t:totable(), ",") == table.concat(list, ","), "int64_exact")
   return t
end

local function same_bits(a, b, what)
   assert.are.equal(a.dtype, b.dtype, what)
   assert.are.same(a:size(), b:size(), what)
   assert.are.same(bits(a), bits(b), what)
end

describe("gan.save and gan.load", function()
   local dir
   before_each(function() dir = tmpdir(); gan.manual_seed(50) end)
   after_each(function() rmdir(dir) end)

   it("round-trips every dtype and shape bit for bit", function()
      local f32 = gan.randn { 2, 3, 4, 5 }
      local special = gan.tensor { 0 / 0, math.huge, -math.huge, -0.0, 1e-45, 3.4028234663852886e38, -1.5 }
      local value = {
         f32 = f32,
         f64 = gan.randn({ 7 }, H.F64) * 1e300,
         f64_special = gan.tensor({ 0 / 0, math.huge, -math.huge, -0.0, 4.9e-324, 1 / 3 }, H.F64),
         f32_special = special,
         i64 = int64_exact { math.mininteger, -1, 0, 1, math.maxinteger, 123456789012345, (1 << 53) + 1 },
         scalar = gan.tensor(2.5),
         scalar64 = gan.tensor(-7, { dtype = "int64" }),
         empty = gan.empty { 0 },
         empty2 = gan.zeros({ 3, 0, 2 }, H.F64),
         strided = f32:transpose(1, 4),                 -- non-contiguous view
         narrowed = gan.arange(20):narrow(1, 5, 6),      -- offset into a storage
      }
      local path = dir .. "/t.safetensors"
      gan.save(path, value)
      local back = gan.load(path)
      for k, v in pairs(value) do
         assert.is_not_nil(back[k], k)
         same_bits(back[k], v, k)
      end
      assert.are.equal(0, back.scalar:dim())
      assert.are.same({ 3, 0, 2 }, back.empty2:size())
      -- a bare tensor
      gan.save(path, f32)
      same_bits(gan.load(path), f32, "bare tensor")
   end)

   it("keeps numbers exact: integers stay integers, floats keep every bit", function()
      local nums = { 0, 1, -1, math.maxinteger, math.mininteger, 0.1, -0.0, 1 / 3, 1e-310, 2 ^ 53 + 0.0,
         3.0, math.huge, -math.huge, 0 / 0, 1.7976931348623157e308, 5e-324, math.pi }
      local path = dir .. "/n.safetensors"
      gan.save(path, nums)
      local back = gan.load(path)
      assert.are.equal(#nums, #back)
      for i, x in ipairs(nums) do
         local y = back[i]
         assert.are.equal(math.type(x), math.type(y), "type of " .. i)
         if x ~= x then
            assert.is_true(y ~= y)
         else
            assert.are.equal(string.pack("<n", x), string.pack("<n", y), "bits of " .. i)
         end
      end
      -- a top-level number
      gan.save(path, 42)
      assert.are.equal("integer", math.type(gan.load(path)))
      gan.save(path, 42.0)
      assert.are.equal("float", math.type(gan.load(path)))
   end)

   it("round-trips strings, booleans and nested tables with tensors inside", function()
      local t = gan.randn { 3 }
      local value = {
         name = "cyclegan \"horse2zebra\"\n\ttab \\ slash / unicode é ✓",
         empty_string = "",
         nul = "a\0b",
         yes = true, no = false,
         list = { 1, "two", 3.5, { 4, { 5 } } },
         sparse = { [1] = "a", [5] = "e", [-3] = "neg" },
         mixed = { 10, 20, key = "v", [100] = true },
         empty = {},
         nested = { deeper = { deepest = { t = t, n = 1 } } },
         again = t,
      }
      local path = dir .. "/v.safetensors"
      gan.save(path, value)
      local back = gan.load(path)
      assert.are.equal(value.name, back.name)
      assert.are.equal("", back.empty_string)
      assert.are.equal("a\0b", back.nul)
      assert.is_true(back.yes); assert.is_false(back.no)
      assert.are.same({ 1, "two", 3.5, { 4, { 5 } } }, back.list)
      assert.are.same(value.sparse, back.sparse)
      assert.are.same({ 10, 20, key = "v", [100] = true }, back.mixed)
      assert.are.same({}, back.empty)
      assert.are.equal(1, back.nested.deeper.deepest.n)
      same_bits(back.nested.deeper.deepest.t, t, "nested tensor")
      -- a tensor reached twice is stored once and comes back as one tensor
      assert.is_true(rawequal(back.again, back.nested.deeper.deepest.t))
      -- key paths that collide ("a.b" and a.b) still name two tensors
      local t1, t2 = gan.ones { 2 }, gan.zeros { 3 }
      gan.save(path, { ["a.b"] = t1, a = { b = t2 } })
      local c = gan.load(path)
      same_bits(c["a.b"], t1, "dotted key")
      same_bits(c.a.b, t2, "nested key")
      -- values that cannot be saved
      H.raises(function() gan.save(path, { f = print }) end, "function")
      local cyc = {}; cyc.self = cyc
      H.raises(function() gan.save(path, cyc) end, "contains itself")
      H.raises(function() gan.save(path, { [1.5] = 1 }) end, "key")
   end)

   it("loads a safetensors file written by Python's struct/json", function()
      local path = dir .. "/py.safetensors"
      local script = [==[
import json, struct, sys
tensors = [
  ("weight", "F32", [2, 3], struct.pack("<6f", 1.5, -2.0, 0.25, 3.0, -0.0, 1e-3)),
  ("bias", "F64", [4], struct.pack("<4d", 1/3, -1e300, 2.5, float("inf"))),
  ("steps", "I64", [2, 2], struct.pack("<4q", -(2**63), 7, 2**40, -1)),
  ("scalar", "F32", [], struct.pack("<f", 6.5)),
  ("nothing", "F64", [0, 5], b""),
]
header, data = {"__metadata__": {"format": "pt"}}, b""
for name, dt, shape, raw in tensors:
    header[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
h = json.dumps(header).encode("utf-8")
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
]==]
      write_all(dir .. "/w.py", script)
      local out, ok = sh(PY .. " " .. dir .. "/w.py " .. path)
      assert.is_true(ok, out)
      local t = gan.load(path)
      assert.are.same({ 2, 3 }, t.weight:size())
      assert.are.equal("float32", t.weight.dtype)
      local f32 = function(x) return (string.unpack("<f", string.pack("<f", x))) end
      assert.are.same({ 1.5, -2.0, 0.25, 3.0, -0.0, f32(1e-3) }, H.flat(t.weight))
      assert.are.equal(string.pack("<d", -0.0), string.pack("<d", H.flat(t.weight)[5]))
      assert.are.equal("float64", t.bias.dtype)
      assert.are.same({ 1 / 3, -1e300, 2.5, math.huge }, H.flat(t.bias))
      assert.are.equal("int64", t.steps.dtype)
      assert.are.same({ { math.mininteger, 7 }, { 2 ^ 40 // 1, -1 } }, t.steps:totable())
      assert.are.equal(0, t.scalar:dim())
      assert.are.equal(6.5, t.scalar:item())
      assert.are.same({ 0, 5 }, t.nothing:size())
      assert.is_nil(t.__metadata__)
   end)

   it("writes files that Python's struct/json reader parses with the right values", function()
      local path = dir .. "/g.safetensors"
      local w = gan.tensor({ { 1.25, -2 }, { 3, 1e-3 } })
      local d = gan.tensor({ 1 / 3, -0.0, 1e300 }, H.F64)
      local i = int64_exact { math.mininteger, 5, math.maxinteger }
      gan.save(path, { model = { weight = w, ["1"] = { bias = d } }, steps = i, s = gan.tensor(4.5), lr = 0.1 })
      local script = [==[
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8:8 + n].decode("utf-8"))
data = raw[8 + n:]
meta = header.pop("__metadata__", {})
assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()), meta
# gan.crc32: zlib's CRC-32 of the file with its own 8 digits read as "0"s
import zlib
field = b'"gan.crc32":"' + meta["gan.crc32"].encode() + b'"'
at = raw.index(field) + len(b'"gan.crc32":"')
assert zlib.crc32(raw[:at] + b"00000000" + raw[at + 8:]) == int(meta["gan.crc32"], 16), "crc"
fmt = {"F32": "f", "F64": "d", "I64": "q"}
size = {"F32": 4, "F64": 8, "I64": 8}
out, spans = {}, []
for name, e in header.items():
    b, en = e["data_offsets"]
    count = 1
    for s in e["shape"]:
        count *= s
    assert en - b == count * size[e["dtype"]], name
    spans.append((b, en))
    vals = struct.unpack("<%d%s" % (count, fmt[e["dtype"]]), data[b:en])
    out[name] = {"dtype": e["dtype"], "shape": e["shape"],
                 "values": [repr(v) for v in vals]}
spans.sort()
pos = 0
for b, en in spans:
    assert b == pos, "hole or overlap"
    pos = en
assert pos == len(data), "trailing bytes"
print(json.dumps({"tensors": out, "meta_keys": sorted(meta.keys()), "header_len": n}))
]==]
      write_all(dir .. "/r.py", script)
      local out, ok = sh(PY .. " " .. dir .. "/r.py " .. path)
      assert.is_true(ok, out)
      local res = require("cjson").decode(out)
      local T = res.tensors
      assert.are.same({ "gan.crc32", "gan.format", "gan.tree" }, res.meta_keys)
      assert.are.equal(0, res.header_len % 8)
      assert.are.equal("F32", T["model.weight"].dtype)
      assert.are.same({ 2, 2 }, T["model.weight"].shape)
      assert.are.same({ "1.25", "-2.0", "3.0", "0.0010000000474974513" }, T["model.weight"].values)
      assert.are.equal("F64", T["model.1.bias"].dtype)
      assert.are.same({ "0.3333333333333333", "-0.0", "1e+300" }, T["model.1.bias"].values)
      assert.are.equal("I64", T.steps.dtype)
      assert.are.same({ 3 }, T.steps.shape)
      assert.are.same({ tostring(math.mininteger), "5", tostring(math.maxinteger) }, T.steps.values)
      assert.are.same({}, T.s.shape)
      assert.are.same({ "4.5" }, T.s.values)
   end)
end)

describe("gan.load on broken files", function()
   local dir
   before_each(function() dir = tmpdir() end)
   after_each(function() rmdir(dir) end)

   -- A raw safetensors file from a header table (JSON text) and data bytes.
   local function raw_file(name, header_json, data)
      local path = dir .. "/" .. name
      write_all(path, string.pack("<I8", #header_json) .. header_json .. data)
      return path
   end

   local function good_bytes()
      local path = dir .. "/good.safetensors"
      gan.save(path, { a = gan.arange(0, 10):double(), b = gan.ones { 4, 4 } })
      return read_all(path)
   end

   local function load_err(path)
      local ok, err = pcall(gan.load, path)
      assert.is_false(ok, "loading " .. path .. " should fail")
      err = tostring(err)
      -- one style for every failure, reported at the caller, not inside the library
      assert.truthy(err:find("gan.load: ", 1, true), err)
      assert.falsy(err:find("serialize.lua", 1, true), err)
      return err
   end

   it("reports truncated files", function()
      local bytes = good_bytes()
      local n = string.unpack("<I8", bytes)
      local cuts = {
         { 0, "too short" }, { 5, "too short" },
         { 8 + n // 2, "" },              -- inside the header
         { #bytes - 1, "" },              -- one data byte short
         { 8 + n + 10, "" },              -- most data missing
      }
      for _, c in ipairs(cuts) do
         local path = dir .. "/cut" .. c[1]
         write_all(path, bytes:sub(1, c[1]))
         local err = load_err(path)
         assert.truthy(err:find(path, 1, true), err)
         if c[2] ~= "" then assert.truthy(err:find(c[2], 1, true), err) end
         assert.truthy(err:find("truncated") or err:find("too short") or err:find("not a valid"), err)
      end
      -- a missing file
      local err = load_err(dir .. "/nope")
      assert.truthy(err:find("cannot open"), err)
   end)

   it("reports data_offsets beyond the data", function()
      local p = raw_file("beyond", '{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', string.rep("\0", 8))
      local err = load_err(p)
      assert.truthy(err:find("'x'", 1, true) and err:find("ends at byte 16", 1, true), err)
   end)

   it("reports a byte count that does not match shape and dtype", function()
      local p = raw_file("count", '{"x":{"dtype":"F64","shape":[2,3],"data_offsets":[0,40]}}', string.rep("\0", 48))
      local err = load_err(p)
      assert.truthy(err:find("'x'", 1, true) and err:find("40 bytes", 1, true) and err:find("48", 1, true), err)
   end)

   it("reports overlapping tensors", function()
      local p = raw_file("overlap",
         '{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"y":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}',
         string.rep("\0", 16))
      local err = load_err(p)
      assert.truthy(err:find("overlap") and err:find("'x'", 1, true) and err:find("'y'", 1, true), err)
   end)

   it("reports a header that is not valid JSON", function()
      local p = raw_file("json", '{"x":{"dtype":"F32",,}', string.rep("\0", 8))
      local err = load_err(p)
      assert.truthy(err:find("JSON"), err)
      local p2 = raw_file("notobj", 'hello world!', "")
      assert.truthy(load_err(p2):find("not a valid"), "")
   end)

   it("reports an unsupported dtype", function()
      local p = raw_file("dtype", '{"x":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}', string.rep("\0", 4))
      local err = load_err(p)
      assert.truthy(err:find("BF16", 1, true) and err:find("'x'", 1, true), err)
   end)

   it("reports a header length larger than the file and malformed entries", function()
      local path = dir .. "/len"
      write_all(path, string.pack("<I8", 1000) .. "{}")
      assert.truthy(load_err(path):find("header length"), "")
      local p = raw_file("noshape", '{"x":{"dtype":"F32","data_offsets":[0,4]}}', string.rep("\0", 4))
      assert.truthy(load_err(p):find("'x'", 1, true), "")
      local p2 = raw_file("negshape", '{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', string.rep("\0", 4))
      assert.truthy(load_err(p2):find("shape"), "")
      local p3 = raw_file("badoff", '{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}', string.rep("\0", 4))
      assert.truthy(load_err(p3):find("data_offsets"), "")
   end)
end)

describe("atomic saves", function()
   local dir
   before_each(function() dir = tmpdir() end)
   after_each(function() rmdir(dir) end)

   local function alive(pid)
      local f = io.open("/proc/" .. pid .. "/stat")
      if not f then return false end
      local s = f:read("a")
      f:close()
      return not s:match("^%d+ %b() Z")
   end

   local function wait_for(pred, timeout)
      local t0 = gan.clock()
      while not pred() do
         if gan.clock() - t0 > timeout then return false end
         os.execute("sleep 0.02")
      end
      return true
   end

   local N = 1500000   -- float32 elements, plus N/2 float64: about 12 MB per save

   -- Checks the file at path is complete: a version v whose tensors are filled with v.
   local function check_intact(path)
      local ok, v = pcall(gan.load, path)
      assert.is_true(ok, "the checkpoint must stay loadable: " .. tostring(v))
      assert.are.equal("integer", math.type(v.version))
      local w, tail = v.w, v.tail
      assert.are.same({ N }, w:size())
      assert.are.same({ N // 2 }, tail:size())
      assert.are.equal(v.version, w:min():item())
      assert.are.equal(v.version, w:max():item())
      assert.are.equal(-v.version, tail:min():item())
      assert.are.equal(-v.version, tail:max():item())
      -- no bytes beyond the last tensor
      local f = assert(io.open(path, "rb"))
      local n = string.unpack("<I8", f:read(8))
      local size = f:seek("end")
      f:close()
      assert.are.equal(8 + n + N * 4 + (N // 2) * 8, size)
      return v.version
   end

   it("a kill -9 in the middle of gan.save leaves the previous file intact", function()
      local path = dir .. "/ckpt.safetensors"
      gan.save(path, { version = 0, w = gan.zeros { N }, tail = gan.zeros({ N // 2 }, H.F64) })
      check_intact(path)
      local code = ("package.path=%q; package.cpath=%q; local gan=require(%q); "
         .. "local N=%d; local path=%q; io.stdout:setvbuf(%q); print(%q); "
         .. "for i=BASE+1,BASE+999 do gan.save(path, {version=i, w=gan.full({N}, i), "
         .. "tail=gan.full({N//2}, -i, {dtype=%q})}); print(%q..i) end")
         :format(package.path, package.cpath, "gan", N, path, "no", "started", "float64", "saved ")
      assert.is_nil(code:find("'", 1, true))
      math.randomseed(12345)
      local last, advanced = 0, false
      local rounds = 4
      for round = 1, rounds do
         local log, pidfile = dir .. "/log" .. round, dir .. "/pid" .. round
         -- each round's child numbers its versions from round * 1000 + 1
         local round_code = code:gsub("BASE", tostring(round * 1000))
         os.execute(("lua5.4 -e '%s' > %s 2>&1 & echo $! > %s"):format(round_code, log, pidfile))
         local pid = read_all(pidfile):match("%d+")
         assert.truthy(pid)
         -- wait until the child runs (the last round: until it has saved once)
         local marker = round == rounds and "saved" or "started"
         wait_for(function() return read_all(log):find(marker, 1, true) ~= nil or not alive(pid) end, 60)
         assert.is_true(read_all(log):find(marker, 1, true) ~= nil and alive(pid),
            "child did not start: " .. read_all(log))
         os.execute(("sleep %.3f"):format(0.05 + math.random() * 0.6))
         os.execute("kill -9 " .. pid)
         assert.is_true(wait_for(function() return not alive(pid) end, 10), "child survived kill -9")
         local v = check_intact(path)
         assert.is_true(v >= last, "the version went back")
         if v > last then advanced = true end
         last = v
         if os.getenv("GAN_DEBUG_CRASH") then
            io.stderr:write(("round %d: version %d, files: %s\n"):format(round, v, sh("ls " .. dir):gsub("\n", " ")))
         end
         -- whatever sits at the path is a complete file: only temporaries may be partial
         for name in io.popen("ls " .. dir):lines() do
            assert.truthy(name == "ckpt.safetensors" or name:match("^ckpt%.safetensors%.tmp%.")
               or name:match("^log") or name:match("^pid"), name)
         end
      end
      assert.is_true(advanced, "no save completed: the test did not exercise replacement")
   end)
end)

describe("checkpoints", function()
   local dir
   before_each(function() dir = tmpdir() end)
   after_each(function() rmdir(dir) end)

   local function setup()
      local G = nn.Sequential { nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 2) }
      local opt = optim.Adam(G:parameters(), { lr = 1e-2, betas = { 0.5, 0.99 }, amsgrad = true })
      local sched = optim.lr_scheduler.StepLR(opt, { step_size = 2, gamma = 0.5 })
      local ema = nn.utils.EMA(G, { decay = 0.9, start_step = 2 })
      return { G = G, opt = opt, sched = sched, ema = ema }
   end

   local function train(o, steps)
      for _ = 1, steps do
         o.opt:zero_grad()
         local x = gan.randn { 16, 4 }
         local loss = (o.G(x) - 1):pow(2):mean()
         loss:backward()
         o.opt:step()
         o.sched:step()
         o.ema:update()
      end
   end

   it("save_checkpoint/load_checkpoint resume modules, optimizer, schedule, EMA and RNG exactly", function()
      gan.manual_seed(60)
      local a = setup()
      train(a, 3)
      local path = dir .. "/run.ckpt"
      gan.save_checkpoint(path, a, { step = 3, note = "after three" })
      train(a, 4)
      local next_a = gan.randn { 5 }
      -- a fresh run from other random weights and another seed, restored from the file
      gan.manual_seed(999)
      local b = setup()
      train(b, 1)
      local extra = gan.load_checkpoint(path, b)
      assert.are.same({ step = 3, note = "after three" }, extra)
      train(b, 4)
      local next_b = gan.randn { 5 }
      same_bits(next_b, next_a, "next random numbers")
      local sa, sb = a.G:state_dict(), b.G:state_dict()
      for k, v in pairs(sa) do same_bits(sb[k], v, "model " .. k) end
      local ea, eb = a.ema.model:state_dict(), b.ema.model:state_dict()
      for k, v in pairs(ea) do same_bits(eb[k], v, "ema " .. k) end
      assert.are.equal(a.ema.num_updates, b.ema.num_updates)
      assert.are.same(a.sched:get_last_lr(), b.sched:get_last_lr())
      assert.are.equal(a.sched.last_epoch, b.sched.last_epoch)
      local oa, ob = a.opt:state_dict(), b.opt:state_dict()
      for i, st in pairs(oa.state) do
         assert.are.equal(st.step, ob.state[i].step)
         for k, v in pairs(st) do
            if gan.is_tensor(v) then same_bits(ob.state[i][k], v, "optimizer " .. i .. " " .. k) end
         end
      end
   end)

   it("load_checkpoint names missing states and rejects other files", function()
      local a = setup()
      local path = dir .. "/c.ckpt"
      gan.save_checkpoint(path, { G = a.G })
      H.raises(function() gan.load_checkpoint(path, { G = a.G, D = a.G }) end, "D")
      gan.save(dir .. "/plain", { x = gan.ones { 2 } })
      H.raises(function() gan.load_checkpoint(dir .. "/plain", { G = a.G }) end, "not a gan checkpoint")
      H.raises(function() gan.save_checkpoint(path, { x = 5 }) end, "state_dict")
   end)
end)
