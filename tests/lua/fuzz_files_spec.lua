-- Fuzz (issue 25): thousands of mutations of a real checkpoint, a real PNG and a real
-- config. Each load either succeeds or raises an error that names the file (or the key)
-- and says what is wrong: never a crash, never an internal error (a Lua position inside
-- the library, "attempt to ...", "bad argument ...", a nil index). The sanitizer build
-- runs it too, at the same count: most of the time is Lua and file I/O, which ASan barely
-- slows (2,000 variants of each kind take about 15 s in Release and 20 s under ASan).
-- GAN_FUZZ_FILES overrides the count per kind, GAN_FUZZ_SEED the seed; GAN_FUZZ_LOG=FILE
-- appends every refusal there, to see what the mutations reach.
local gan = require("gan")
local config = gan.config

local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "hardening_helpers.lua")

local N = tonumber(os.getenv("GAN_FUZZ_FILES")) or 2000
local SEED = tonumber(os.getenv("GAN_FUZZ_SEED")) or 25

-- What an internal error looks like: a position inside lua/gan or a Lua runtime message.
local INTERNAL = { "lua/gan/", "attempt to ", "bad argument", "table index is", "a nil value", "stack overflow",
   "number has no integer representation", "(null)" }

local LOG = os.getenv("GAN_FUZZ_LOG") and assert(io.open(os.getenv("GAN_FUZZ_LOG"), "a"))

local function check_refusal(msg, must_name, what)
   assert(type(msg) == "string", what .. ": the error is not a string")
   if LOG then LOG:write(msg:gsub("\n", " "), "\n") end
   for _, frag in ipairs(INTERNAL) do
      assert(not msg:find(frag, 1, true), ("%s: internal error %q"):format(what, msg))
   end
   assert(msg:find(must_name, 1, true), ("%s: the error does not name %s: %q"):format(what, must_name, msg))
   assert(not msg:find(":%s*$"), ("%s: the error gives no reason: %q"):format(what, msg))
end

-- Runs f(...) for one variant: counts it in counts.ok or counts.refused, and checks a
-- refusal with check_refusal. Returns what pcall returned.
local function attempt(counts, must_name, what, f, ...)
   local ok, e = pcall(f, ...)
   if ok then
      counts.ok = counts.ok + 1
   else
      counts.refused = counts.refused + 1
      check_refusal(e, must_name, what)
   end
   return ok, e
end

-- ---- mutations of a byte string

-- R(n) in 1..n, R(a, b) in a..b: integers drawn from gan.Generator(seed) (use_seed), the
-- same variants on every machine.
local R
local function use_seed(seed)
   local g = gan.Generator(seed)
   R = function(a, b)
      if not b then a, b = 1, a end
      return gan.randint(a, b + 1, { 1 }, { generator = g })[1]
   end
end
local function pick(list) return list[R(#list)] end

local WEIRD = { "1e300", "-1", "1.5", "9223372036854775808", "18446744073709551616", '"x"', "null", "[]", "{}",
   "true", "-0", "0", "7", "[1,2]", '{"i":"1"}', '"F64"', '"I64"', '"BF16"', "1e-300", "NaN" }

local function flip_bits(s)
   local b = { s:byte(1, -1) }
   for _ = 1, R(1, 3) do
      local i = R(#b)
      b[i] = b[i] ~ (1 << R(0, 7))
   end
   return string.char(table.unpack(b))
end

local function mutate_bytes(s, lo, hi)
   lo, hi = lo or 1, math.min(hi or #s, #s)
   local r = R(6)
   local i = R(lo, hi)
   if r == 1 then return flip_bits(s:sub(lo, hi)):gsub(".*", function(m) return s:sub(1, lo - 1) .. m .. s:sub(hi + 1) end) end
   if r == 2 then return s:sub(1, i - 1) .. string.char(R(0, 255)) .. s:sub(i + 1) end
   if r == 3 then return s:sub(1, R(0, #s - 1)) end                             -- truncated
   if r == 4 then return s:sub(1, i - 1) .. s:sub(i + R(1, 8)) end              -- bytes deleted
   if r == 5 then return s:sub(1, i - 1) .. string.char(R(0, 255)):rep(R(1, 4)) .. s:sub(i) end   -- inserted
   return s:sub(1, i - 1) .. s:sub(i + 1, i + R(1, 16)) .. s:sub(i)            -- a run duplicated
end

-- Replaces one token of a JSON text (a string, a number, true/false/null, outside strings)
-- with something else, so that the text mostly stays JSON and the loader's checks behind
-- the parser are reached.
local function mutate_json_token(json)
   local spans, i = {}, 1
   while i <= #json do
      local c = json:sub(i, i)
      if c == '"' then
         local j = i + 1
         while j <= #json and json:sub(j, j) ~= '"' do j = j + (json:sub(j, j) == "\\" and 2 or 1) end
         spans[#spans + 1] = { i, j + 1 }
         i = j + 1
      else
         local a, b = json:find("^%-?%d+%.?%d*[eE]?[-+]?%d*", i)
         if not a then a, b = json:find("^%a+", i) end
         if a then spans[#spans + 1] = { a, b + 1 }; i = b + 1 else i = i + 1 end
      end
   end
   if #spans == 0 then return json end
   local sp = pick(spans)
   return json:sub(1, sp[1] - 1) .. pick(WEIRD) .. json:sub(sp[2])
end

-- ---- checkpoints

describe("fuzz: mutated checkpoints", function()
   local dir
   before_each(function() dir = H.tmpdir() end)
   after_each(function() H.rmdir(dir) end)

   local function objects()
      gan.manual_seed(1)
      local G = gan.nn.Sequential { gan.nn.Linear(3, 4), gan.nn.BatchNorm1d(4), gan.nn.Linear(4, 2) }
      local opt = gan.optim.Adam(G:parameters(), { lr = 1e-3 })
      local sched = gan.optim.lr_scheduler.StepLR(opt, { step_size = 2, gamma = 0.5 })
      return { G = G, opt = opt, sched = sched }
   end

   it("load and load_checkpoint refuse by file name, with and without a checksum", function()
      use_seed(SEED)
      local o = objects()
      o.opt:zero_grad(); o.G(gan.randn { 5, 3 }):sum():backward(); o.opt:step(); o.sched:step()
      local originals = {}
      for _, checksum in ipairs { true, false } do
         local p = dir .. "/orig" .. tostring(checksum)
         if checksum then
            gan.save_checkpoint(p, o, { step = 3, note = "x", list = { 1, 2.5, "s" } })
         else
            local v = gan.load(dir .. "/origtrue")
            gan.save(p, v, { checksum = false })
         end
         originals[#originals + 1] = H.read_all(p)
      end
      local counts = { ok = 0, refused = 0 }
      local path = dir .. "/m.safetensors"
      for k = 1, N do
         local bytes = originals[k % 2 + 1]
         local n = string.unpack("<I8", bytes)
         local r = R(5)
         if r == 1 then
            bytes = mutate_bytes(bytes)                                             -- anywhere
         elseif r == 2 then
            bytes = mutate_bytes(bytes, 9, 8 + n)                                    -- in the header
         elseif r == 3 then
            local json = mutate_json_token(bytes:sub(9, 8 + n))                      -- a JSON value
            bytes = string.pack("<I8", #json) .. json .. bytes:sub(9 + n)
         elseif r == 4 then
            bytes = string.pack("<I8", math.max(0, n + R(-16, 16))) .. bytes:sub(9)  -- the header length
         else
            -- a value inside the gan.tree string (escaped JSON within the header)
            local h = bytes:sub(9, 8 + n)
            local a, b = h:find('"gan.tree":"', 1, true)
            local tree_end = (h:find('[^\\]"}', b + 1) or #h) + 1   -- the string's closing quote
            local tree = h:sub(b + 1, tree_end - 1):gsub('\\"', '"')
            tree = mutate_json_token(tree):gsub('"', '\\"')
            h = h:sub(1, b) .. tree .. h:sub(tree_end)
            bytes = string.pack("<I8", #h) .. h .. bytes:sub(9 + n)
         end
         H.write_all(path, bytes)
         attempt(counts, path, "variant " .. k, gan.load_checkpoint, path, objects())
      end
      assert.are.equal(N, counts.ok + counts.refused)
      assert.is_true(counts.refused > N / 2, "most mutations must be refused")
   end)
end)

-- ---- images

describe("fuzz: mutated PNG files", function()
   it("decode or refuse by name with the decoder's reason", function()
      use_seed(SEED + 1)
      local dir = H.tmpdir()
      gan.image.save(dir .. "/a.png", gan.rand { 3, 12, 10 })
      gan.image.save(dir .. "/g.png", gan.rand { 1, 9, 16 })
      local originals = { H.read_all(dir .. "/a.png"), H.read_all(dir .. "/g.png") }
      local pixels = { gan.image.decode(originals[1]):totable(), gan.image.decode(originals[2]):totable() }
      H.rmdir(dir)
      local counts = { ok = 0, refused = 0 }
      for k = 1, N do
         local bytes = mutate_bytes(originals[k % 2 + 1])
         local ok, e = attempt(counts, "fuzz.png", "variant " .. k, gan.image.decode, bytes, { name = "fuzz.png" })
         if ok then
            -- every byte of a PNG is covered by a check: a variant that decodes is one whose
            -- mutation changed nothing that matters (bytes after IEND)
            assert.are.same(pixels[k % 2 + 1], e:totable(), "variant " .. k .. " decoded to other pixels")
         else
            e = e:gsub("^tests/lua/[%w_]+%.lua:%d+: ", "")   -- raised at the caller
            assert(e:find("^image: "), e)
         end
      end
      assert.are.equal(N, counts.ok + counts.refused)
      assert.is_true(counts.refused > N * 0.95, ("only %d of %d refused"):format(counts.refused, N))
   end)
end)

-- ---- configs

describe("fuzz: mutated configs", function()
   it("resolve or refuse naming the file (and line) or the key", function()
      use_seed(SEED + 2)
      local dir = H.tmpdir()
      local defaults = gan.models.dcgan.defaults
      -- a real config: a run's config.yaml (every key), and the shipped experiment file
      local real = { config.dump(config.resolve(defaults, { overrides = { "data.split=train", "run.name=r" } })),
         H.read_all(debug.getinfo(1, "S").source:match("^@(.*/)") .. "../../experiments/dcgan_full.yaml") }
      local VALUES = { "-1", "0", "1e300", ".nan", ".inf", "-.inf", "x", "[]", "{}", "~", "true", "1.5", "2", "9223372036854775808",
         "&a 1", "*a", "[1, *a]", "{a: 1}", "'12'", '"x: y"', "!!str 3", "|\n  text", "0x10", "1_000", "-", "? x", "@" }
      local INSERT = { ":", "-", "[", "{", "&", "*", "!", "%", "`", "\t", "  ", "#", "'", '"', "\n", ",", "]", "}", "\0", "\255" }
      local counts, sets = { ok = 0, refused = 0 }, { ok = 0, refused = 0 }
      local path = dir .. "/fuzz.yaml"
      local notes = function() end
      for k = 1, N do
         local text = real[k % 2 + 1]
         local lines = {}
         for l in (text .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
         local r = R(6)
         local i = R(#lines)
         if r == 1 then
            lines[i] = (lines[i]:gsub(":%s*(.*)$", ": " .. pick(VALUES), 1))         -- a value
         elseif r == 2 then
            table.remove(lines, i)                                                  -- a line gone
         elseif r == 3 then
            table.insert(lines, R(#lines), lines[i])                                -- a line repeated
         elseif r == 4 then
            local c = R(#lines[i] + 1)
            lines[i] = lines[i]:sub(1, c - 1) .. pick(INSERT) .. lines[i]:sub(c)     -- a character
         elseif r == 5 then
            lines[i] = (" "):rep(R(0, 6)) .. lines[i]:gsub("^%s*", "")              -- indentation
         else
            lines[i] = lines[i]:gsub("^(%s*)([%w_]+)", function(sp, key)            -- a key renamed
               return sp .. key:sub(1, R(0, #key)) .. pick { "", "x", "_", "." }
            end)
         end
         H.write_all(path, table.concat(lines, "\n"))
         attempt(counts, path, "variant " .. k, config.resolve, defaults, { file = path, note = notes })
         -- a value as a --set
         local set = "train." .. pick { "lr_g", "steps", "loss", "betas", "r1_every" } .. "=" .. pick(VALUES)
         attempt(sets, "--set " .. set, "override " .. set, config.resolve, defaults, { overrides = { set } })
      end
      H.rmdir(dir)
      assert.are.equal(N, counts.ok + counts.refused)
      assert.are.equal(N, sets.ok + sets.refused)
   end)
end)
