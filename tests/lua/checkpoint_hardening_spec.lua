-- Issue 25, checkpoints: files that used to load with garbage or fail with internal
-- errors are refused with a message naming the file and the problem; killed writers'
-- temporaries are cleaned up; identical state gives identical bytes; the CRC-32 in the
-- metadata catches bit flips.
local gan = require("gan")
local cjson = require("cjson")
local nn, optim = gan.nn, gan.optim

local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "hardening_helpers.lua")
local tmpdir, rmdir, read_all, write_all, exists = H.tmpdir, H.rmdir, H.read_all, H.write_all, H.exists

local err_of = H.err_of   -- the message of f(...)'s error, raised at the caller

-- A safetensors file from header JSON text (padding included) and data bytes.
local function raw_file(path, json, data, len)
   write_all(path, string.pack("<I8", len or #json) .. json .. data)
   return path
end

describe("gan.load: the data region must be tiled exactly", function()
   local dir
   before_each(function() dir = tmpdir() end)
   after_each(function() rmdir(dir) end)

   local X = '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'

   it("a header length lowered into the padding is refused, not read one byte off", function()
      local data = string.pack("<ff", 1.5, -2.5)
      local json = X .. "     "   -- 5 bytes of padding
      local ok = raw_file(dir .. "/ok", json, data)
      assert.are.same({ 1.5, -2.5 }, gan.load(ok).x:totable())
      for k = 1, 5 do
         local p = raw_file(dir .. "/low" .. k, json, data, #json - k)
         assert.are.equal(("gan.load: %s: the data region holds %d bytes but its tensors end at byte 8 "
            .. "(a wrong header length?)"):format(p, 8 + k), err_of(gan.load, p))
      end
   end)

   it("the same for a real checkpoint (with its checksum) and for checksum-less files", function()
      for _, checksum in ipairs { true, false } do
         -- a value whose header needs padding
         local path, bytes, n, json_end
         for pad = 0, 7 do
            path = dir .. "/ckpt" .. tostring(checksum)
            gan.save(path, { w = gan.arange(0, 6):float(), note = ("x"):rep(pad) }, { checksum = checksum })
            bytes = read_all(path)
            n = string.unpack("<I8", bytes)
            json_end = bytes:sub(9, 8 + n):find("}%s*$")
            if json_end < n then break end
         end
         assert.is_true(json_end < n, "no padding found")
         local low = bytes:sub(1, 0) .. string.pack("<I8", n - 1) .. bytes:sub(9)
         write_all(path, low)
         assert.are.equal(("gan.load: %s: the data region holds %d bytes but its tensors end at byte %d "
            .. "(a wrong header length?)"):format(path, 25, 24), err_of(gan.load, path))
      end
   end)

   it("gaps and bytes after the last tensor are refused", function()
      local gap = raw_file(dir .. "/gap",
         '{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}',
         ("\0"):rep(12))
      assert.are.equal(("gan.load: %s: 4 bytes before tensor 'y' (at byte 4) belong to no tensor"):format(gap),
         err_of(gan.load, gap))
      local start = raw_file(dir .. "/start", '{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', ("\0"):rep(8))
      assert.are.equal(("gan.load: %s: 4 bytes before tensor 'x' (at byte 0) belong to no tensor"):format(start),
         err_of(gan.load, start))
      local slack = raw_file(dir .. "/slack", X, ("\0"):rep(9))
      assert.are.equal(("gan.load: %s: the data region holds 9 bytes but its tensors end at byte 8 "
         .. "(a wrong header length?)"):format(slack), err_of(gan.load, slack))
      -- empty tensors sit at a boundary; a file of only empty tensors has no data
      local empty = raw_file(dir .. "/empty",
         '{"e":{"dtype":"F64","shape":[0,3],"data_offsets":[8,8]},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
         ("\0"):rep(8))
      assert.are.same({ 0, 3 }, gan.load(empty).e:size())
   end)
end)

describe("gan.load: shape entries", function()
   local dir
   before_each(function() dir = tmpdir() end)
   after_each(function() rmdir(dir) end)

   local function with_shape(shape, nbytes)
      local p = dir .. "/s"
      return raw_file(p, ('{"x":{"dtype":"F32","shape":%s,"data_offsets":[0,%d]}}'):format(shape, nbytes),
         ("\0"):rep(nbytes))
   end

   it("must be integers from 0 to 2^59 - 1 whose product stays below 2^59", function()
      local cases = {
         { "[1e300,0]", 0, "invalid shape entry 1 (1e+300)" },
         { "[9223372036854775808]", 4, "invalid shape entry 1 (9.2233720368548e+18)" },
         { "[2,-1]", 4, "invalid shape entry 2 (-1)" },
         { "[1.5]", 4, "invalid shape entry 1 (1.5)" },
         { '["2"]', 8, 'invalid shape entry 1 ("2")' },
         { "[[2]]", 8, "invalid shape entry 1 (a list)" },
      }
      for _, c in ipairs(cases) do
         local p = with_shape(c[1], c[2])
         assert.are.equal(("gan.load: %s: tensor 'x' has an %s: sizes are integers from 0 to 2^59 - 1"):format(p, c[3]),
            err_of(gan.load, p))
      end
      local p = with_shape("[1099511627776,1099511627776,0]", 0)
      assert.are.equal(("gan.load: %s: tensor 'x' has shape [1099511627776, 1099511627776]: more than 2^59 - 1 "
         .. "elements"):format(p), err_of(gan.load, p))
      p = with_shape('{"1":2}', 8)
      assert.are.equal(("gan.load: %s: tensor 'x' has a shape that is not a list"):format(p), err_of(gan.load, p))
      p = with_shape("[" .. ("1,"):rep(16) .. "1]", 4)
      assert.are.equal(("gan.load: %s: tensor 'x' has 17 dims; gan supports at most 16"):format(p), err_of(gan.load, p))
   end)

   it("data_offsets that are not integers are refused by name (no internal format error)", function()
      local p = raw_file(dir .. "/o", '{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,1e300]}}', ("\0"):rep(4))
      assert.are.equal(("gan.load: %s: tensor 'x' has invalid data_offsets (two integers begin <= end expected)")
         :format(p), err_of(gan.load, p))
      p = raw_file(dir .. "/o2", '{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}', ("\0"):rep(4))
      assert.are.equal(("gan.load: %s: tensor 'x' has invalid data_offsets (two integers begin <= end expected)")
         :format(p), err_of(gan.load, p))
   end)
end)

describe("gan.load: the gan.tree metadata", function()
   local dir
   before_each(function() dir = tmpdir() end)
   after_each(function() rmdir(dir) end)

   -- A file with no tensors and this gan.tree JSON.
   local function with_tree(tree)
      local meta = { ["gan.format"] = "1", ["gan.tree"] = tree }
      return raw_file(dir .. "/t", cjson.encode { __metadata__ = meta }, "")
   end

   it("malformed nodes are errors naming the file and where in the tree", function()
      local cases = {
         { '{"i":"1.5"}', 'at the top level: "1.5" is not a 64-bit integer' },
         { '{"i":"99999999999999999999"}', 'at the top level: "99999999999999999999" is not a 64-bit integer' },
         { '{"t":[[{"s":"a"},{"i":"0x10"}]]}', "at 'a': \"0x10\" is not a 64-bit integer" },
         { '{"t":[[{"i":"1.5"},{"s":"x"}]]}', 'at the top level: "1.5" is not a 64-bit integer' },
         { '{"t":[[{"f":"nan"},{"s":"x"}]]}', "at the top level: a key must be a string or an integer, got "
            .. tostring(0 / 0) },
         { '{"t":[[{"b":true},{"s":"x"}]]}', "at the top level: a key must be a string or an integer, got true" },
         { '{"t":[[{"s":"k"},{"s":"x"}],[{"s":"k"},{"s":"y"}]]}', 'at the top level: key "k" appears twice' },
         { '{"t":[[{"s":"a"}]]}', "at the top level: a table entry must be a [key, value] pair" },
         { '{"t":{"a":1}}', "at the top level: a table's entries must be a list" },
         { '{"f":"12"}', 'at the top level: "12" is not a hex float' },
         { '{"T":"nope"}', 'at the top level: refers to a missing tensor "nope"' },
         { '{"s":1}', "at the top level: expected a string, got 1" },
         { '{"b":"yes"}', 'at the top level: expected a boolean, got "yes"' },
         { '{"i":"1","s":"x"}', "at the top level: expected exactly one tag (T, i, f, s, b or t)" },
         { '{"q":1}', 'at the top level: unknown tag "q"' },
         { '{"t":[[{"s":"a"},{"t":[[{"s":"b"},5]]}]]}', "at 'a.b': expected a tagged value, got 5" },
      }
      for _, c in ipairs(cases) do
         local p = with_tree(c[1])
         assert.are.equal(("gan.load: %s: malformed gan.tree metadata %s"):format(p, c[2]), err_of(gan.load, p))
      end
   end)

   it("a float keeps its sign bit and is a float", function()
      local v = gan.load(with_tree('{"t":[[{"i":"1"},{"f":"-0x0p+0"}],[{"i":"2"},{"f":"0x1p+1"}]]}'))
      assert.are.equal(string.pack("<d", -0.0), string.pack("<d", v[1]))
      assert.are.equal("float", math.type(v[2]))
      assert.are.equal(2.0, v[2])
   end)
end)

describe("load_checkpoint", function()
   local dir
   before_each(function() dir = tmpdir() end)
   after_each(function() rmdir(dir) end)

   it("names the file when the states, a state or the generator state are unusable", function()
      local G = nn.Linear(2, 3)
      local p = dir .. "/c"
      gan.save(p, { format = "gan.checkpoint", version = 1 })
      assert.are.equal(("load_checkpoint: %s is not a valid gan checkpoint (its states are missing)"):format(p),
         err_of(gan.load_checkpoint, p, { G = G }))
      gan.save(p, { format = "gan.checkpoint", version = 1, states = { G = { weight = gan.zeros { 5 } } },
         rng = gan.get_rng_state() })
      assert.are.equal(("load_checkpoint: %s: the state of 'G' does not load: 'bias' is missing"):format(p),
         err_of(gan.load_checkpoint, p, { G = G }))
      gan.save(p, { format = "gan.checkpoint", version = 1, states = { G = { weight = gan.zeros { 5 }, bias = 1 } },
         rng = gan.get_rng_state() })
      assert.are.equal(("load_checkpoint: %s: the state of 'G' does not load: 'bias' is a number, expected a tensor")
         :format(p), err_of(gan.load_checkpoint, p, { G = G }))
      gan.save(p, { format = "gan.checkpoint", version = 1, states = { G = { weight = gan.zeros { 5 }, bias = gan.zeros { 3 } } },
         rng = gan.get_rng_state() })
      assert.are.equal(("load_checkpoint: %s: the state of 'G' does not load: load_state_dict into Linear: size "
         .. "mismatch: weight: checkpoint {5} vs model {3, 2}"):format(p), err_of(gan.load_checkpoint, p, { G = G }))
      gan.save(p, { format = "gan.checkpoint", version = 1, states = { G = G:state_dict() }, rng = "x" })
      assert.are.equal(("load_checkpoint: %s: the generator state is not {seed = integer, offset = integer}")
         :format(p), err_of(gan.load_checkpoint, p, { G = G }))
      -- a corrupt file: gan.load's message, at the caller of load_checkpoint
      write_all(p, "garbage")
      assert.are.equal(("gan.load: %s is too short to be a safetensors file (7 bytes)"):format(p),
         err_of(gan.load_checkpoint, p, { G = G }))
   end)
end)

describe("temporaries of killed writers", function()
   local dir
   before_each(function() dir = tmpdir() end)
   after_each(function() rmdir(dir) end)

   -- The pid of a process that has exited.
   local function dead_pid()
      local p = io.popen("sh -c 'echo $$'")
      local pid = p:read("n")
      p:close()
      return pid
   end

   it("the next gan.save of a path removes its stale temporaries, never a live writer's", function()
      local path = dir .. "/ckpt.safetensors"
      local dead = path .. ".tmp." .. dead_pid()
      local live = path .. ".tmp.1"   -- init: always running
      local other = dir .. "/other.safetensors.tmp." .. dead_pid()
      for _, f in ipairs { dead, live, other } do write_all(f, "half a checkpoint") end
      gan.save(path, { w = gan.ones { 3 } })
      assert.is_false(exists(dead))
      assert.is_true(exists(live))
      assert.is_true(exists(other), "another path's temporaries are that path's saves' business")
      gan.image.save(dir .. "/s.png", gan.zeros { 1, 2, 2 })   -- the same for images
      local png_dead = dir .. "/s.png.tmp." .. dead_pid()
      write_all(png_dead, "x")
      gan.image.save(dir .. "/s.png", gan.zeros { 1, 2, 2 })
      assert.is_false(exists(png_dead))
   end)

   it("run:keep_checkpoints removes every stale temporary in checkpoints/ and samples/", function()
      local r = gan.run.new { experiment = "t", root = dir, config = {} }
      local dead1 = r.dir .. "/checkpoints/step_000100.safetensors.tmp." .. dead_pid()
      local dead2 = r.dir .. "/samples/step_000100.png.tmp." .. dead_pid()
      local live = r.dir .. "/checkpoints/step_000200.safetensors.tmp.1"
      local keep = r.dir .. "/checkpoints/notes.tmp.txt"
      for _, f in ipairs { dead1, dead2, live, keep } do write_all(f, "x") end
      r:keep_checkpoints(3)
      assert.is_false(exists(dead1))
      assert.is_false(exists(dead2))
      assert.is_true(exists(live))
      assert.is_true(exists(keep))
   end)
end)

describe("byte-reproducible files", function()
   local dir
   before_each(function() dir = tmpdir() end)
   after_each(function() rmdir(dir) end)

   it("the same state saved by separate processes gives identical files", function()
      -- Lua seeds its string hashes per process, so key order of a table differs between
      -- processes: only a fixed order gives identical bytes.
      local code = ([[package.path=%q; package.cpath=%q; local gan = require("gan"); gan.manual_seed(3)
         local G = gan.nn.Sequential { gan.nn.Linear(3, 4), gan.nn.BatchNorm1d(4), gan.nn.Linear(4, 2) }
         local opt = gan.optim.Adam(G:parameters(), { lr = 1e-3 })
         opt:zero_grad(); G(gan.randn { 5, 3 }):sum():backward(); opt:step()
         gan.save_checkpoint(arg[1], { G = G, opt = opt }, { step = 1, lr = 0.1, tags = { a = 1, b = "x", c = true } })]])
         :format(package.path, package.cpath)
      write_all(dir .. "/w.lua", code)
      local files = {}
      for i = 1, 3 do
         files[i] = dir .. "/c" .. i
         assert.is_true(os.execute("lua5.4 " .. dir .. "/w.lua " .. files[i]))
      end
      for i = 2, 3 do assert.is_true(read_all(files[1]) == read_all(files[i]), "file " .. i .. " differs") end
      -- and the header lists its keys in a fixed order: metadata first, tensors in data order
      local bytes = read_all(files[1])
      local json = bytes:sub(9, 8 + string.unpack("<I8", bytes))
      assert.truthy(json:find('^{"__metadata__":{"gan.crc32":"%x+","gan.format":"1","gan.tree":'), json:sub(1, 80))
   end)
end)

describe("the checksum", function()
   local dir
   before_each(function() dir = tmpdir() end)
   after_each(function() rmdir(dir) end)

   local function flip(path, pos, bit)
      local b = read_all(path)
      write_all(path, b:sub(1, pos - 1) .. string.char(b:byte(pos) ~ (1 << bit)) .. b:sub(pos + 1))
   end

   it("a flipped bit in the weights or in the metadata is refused", function()
      local G = nn.Linear(4, 4)
      local p = dir .. "/c"
      gan.save_checkpoint(p, { G = G }, { step = 7 })
      local bytes = read_all(p)
      local crc = bytes:match('"gan.crc32":"(%x+)"')
      local size = #bytes
      flip(p, size - 5, 3)   -- inside the last tensor's data
      local msg = err_of(gan.load, p)
      assert.are.equal(("gan.load: %s: checksum mismatch: the file records CRC-32 %s, its bytes give "):format(p, crc),
         msg:sub(1, #("gan.load: %s: checksum mismatch: the file records CRC-32 %s, its bytes give "):format(p, crc)))
      assert.truthy(msg:find("(altered or damaged after it was written)", 1, true), msg)
      assert.are.equal(msg, err_of(gan.load_checkpoint, p, { G = nn.Linear(4, 4) }))
      -- a digit of the step in the tree: still valid JSON, still caught
      write_all(p, bytes)
      local at = bytes:find('{\\"i\\":\\"7\\"}', 1, true)
      assert.truthy(at)
      assert.are.equal("7", bytes:sub(at + 9, at + 9))
      flip(p, at + 9, 0)   -- "7" -> "6"
      assert.are.equal(("gan.load: %s: checksum mismatch: the file records CRC-32 %s"):format(p, crc),
         err_of(gan.load, p):match("^(.-), its bytes"))
      -- without a checksum the same flip goes unnoticed (what docs/checkpoints.md says)
      gan.save(p, { w = gan.ones { 4 } }, { checksum = false })
      flip(p, #read_all(p) - 1, 7)
      assert.are_not.same({ 1, 1, 1, 1 }, gan.load(p).w:totable())
   end)

   it("gan.save refuses unknown options", function()
      assert.are.equal("gan.save: unknown option 'crc'", err_of(gan.save, dir .. "/x", {}, { crc = true }))
   end)
end)
