-- The API reference (docs/api.md): every public Lua function of lua/gan has a doc comment,
-- every name the C bindings register with Lua has an LDoc comment, and `ldoc .` builds
-- the reference without a warning, with a page entry for each of them.
--
-- Public Lua function: defined at the top level of a file (column 1) as
-- `function X.name(`, `function X:name(` or `X.name = function(`, where name does not
-- start with `_`. Its doc comment is the block of comment lines directly above it, whose
-- first line must open an LDoc comment (`---`, and no `--` further on that line: LDoc
-- drops such a comment).
--
-- Registered C name: an entry {"name", c_function} of a table in bindings/*.c (luaL_Reg
-- tables, and the op tables ops.c registers in loops, with the in-place "name_" forms its
-- snprintf("%s_") makes), a name given to gl_set_closure, and a C function pushed and set
-- as a field (metamethods, ImageJob's wait, the *_like functions of tensor.c's `likes`
-- array). Names in tables called getters or setters are tensor properties, documented with
-- `@property name`; every other name needs as many `@function name` comments in its file
-- as it has registrations there (matmul is a gan.core function and a tensor method: two).
-- Nothing is exempt.
local lfs = require("lfs")

local root
do
   local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
   local p = assert(io.popen("cd '" .. here .. "../..' && pwd"))
   root = p:read("l")
   p:close()
end

local function read(path)
   local f = assert(io.open(path, "rb"))
   local s = f:read("a")
   f:close()
   return s
end

local function lines_of(text)
   local lines = {}
   for l in (text .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
   return lines
end

-- ---------------------------------------------------------------- Lua

-- The public function defined on this line, or nil.
local function public_definition(line)
   local name = line:match("^function%s+([%w_]+[%.:][%w_%.:]*)%s*%(")
      or line:match("^([%w_]+%.[%w_%.]+)%s*=%s*function%s*%(")
   if name and not name:match("[%.:]_[%w_]*$") then return name end
end

-- Whether the comment block directly above line i opens an LDoc comment.
local function documented(lines, i)
   local j = i - 1
   while j >= 1 and lines[j]:match("^%s*%-%-") do j = j - 1 end
   if j == i - 1 then return false end
   local top = lines[j + 1]
   return top:match("^%s*%-%-%-") ~= nil and not (top .. "\n"):match("[^%-]%-%-+[^-]*\n$")
end

--- The public functions of a Lua source text: a list of {line =, name =, documented =}.
local function scan_lua(text)
   local lines, found = lines_of(text), {}
   for i, l in ipairs(lines) do
      local name = public_definition(l)
      if name then found[#found + 1] = { line = i, name = name, documented = documented(lines, i) } end
   end
   return found
end

local function lua_files(dir, out)
   out = out or {}
   for e in lfs.dir(dir) do
      if e ~= "." and e ~= ".." then
         local p = dir .. "/" .. e
         if lfs.attributes(p, "mode") == "directory" then lua_files(p, out)
         elseif e:match("%.lua$") then out[#out + 1] = p end
      end
   end
   table.sort(out)
   return out
end

-- Every public function of lua/gan: {file = "lua/gan/...", line =, name =, documented =}.
local function lua_functions()
   local all = {}
   for _, path in ipairs(lua_files(root .. "/lua/gan")) do
      for _, f in ipairs(scan_lua(read(path))) do
         f.file = path:sub(#root + 2)
         all[#all + 1] = f
      end
   end
   return all
end

-- ---------------------------------------------------------------- C

--- What a binding file registers and documents: registered = {name = count} (functions),
-- properties = {name = true}; docs = {name = count} (@function), doc_props = {name = true}.
local function scan_c(text)
   local registered, properties, arrays = {}, {}, {}
   local function reg(name) registered[name] = (registered[name] or 0) + 1 end
   -- tables: pairs {"name", ident} and lists of strings, by the array's name
   for array, body in text:gmatch("([%w_]+)%[%]%s*=%s*(%b{})") do
      local names, strings = {}, {}
      for name, fn in body:gmatch('{%s*"([%w_]+)"%s*,%s*([%w_]+)%s*}') do
         if fn ~= "NULL" then names[#names + 1] = name end
      end
      for s in body:gmatch('"([%w_]+)"') do strings[#strings + 1] = s end
      arrays[array] = { pairs = names, strings = strings }
      for _, name in ipairs(names) do
         if array == "getters" or array == "setters" then properties[name] = true else reg(name) end
      end
   end
   -- the in-place forms made by snprintf(name, sizeof name, "%s_", ops[i].name)
   for array in text:gmatch('snprintf%(%s*[%w_]+%s*,%s*sizeof%s*[%w_]+%s*,%s*"%%s_"%s*,%s*([%w_]+)%[i%]%.name%s*%)') do
      for _, name in ipairs(arrays[array].pairs) do reg(name .. "_") end
   end
   for name in text:gmatch('gl_set_closure%(%s*L%s*,%s*[^,]+,%s*"([%w_]+)"') do reg(name) end
   -- a C function pushed, then set as a field by name or from an array of names
   for name in text:gmatch('lua_pushc%a+%(%s*L%s*,%s*[%w_]+[^;]*%);%s*lua_setfield%(%s*L%s*,%s*[^,]+,%s*"([%w_]+)"%s*%)') do
      reg(name)
   end
   for array in text:gmatch('lua_pushc%a+%(%s*L%s*,%s*[%w_]+[^;]*%);%s*lua_setfield%(%s*L%s*,%s*[^,]+,%s*([%w_]+)%[i%]%s*%)') do
      for _, name in ipairs(arrays[array].strings) do reg(name) end
   end
   -- LDoc comments: /*** ... */ blocks and runs of /// lines
   local docs, doc_props = {}, {}
   local function doc_block(block)
      for name in block:gmatch("@function%s+([%w_.:]+)") do
         name = name:match("([%w_]+)$")
         docs[name] = (docs[name] or 0) + 1
      end
      for name in block:gmatch("@property%s+([%w_]+)") do doc_props[name] = true end
   end
   for block in text:gmatch("/%*%*%*(.-)%*/") do doc_block(block) end
   local run = {}
   for _, l in ipairs(lines_of(text)) do
      if l:match("^%s*///") then run[#run + 1] = l
      elseif #run > 0 then doc_block(table.concat(run, "\n")); run = {} end
   end
   return { registered = registered, properties = properties, docs = docs, doc_props = doc_props,
      module = text:match("@module%s+([%w_.]+)") }
end

-- "name (registered 2 times, documented once)" for every registered name short of docs.
local function undocumented_c(s)
   local missing = {}
   for name, n in pairs(s.registered) do
      local d = s.docs[name] or 0
      if d < n then missing[#missing + 1] = ("%s (registered %d times, %d @function comments)"):format(name, n, d) end
   end
   for name in pairs(s.properties) do
      if not s.doc_props[name] then missing[#missing + 1] = name .. " (a property without @property)" end
   end
   table.sort(missing)
   return missing
end

local function c_files()
   local out = {}
   for e in lfs.dir(root .. "/bindings") do
      if e:match("%.c$") then out[#out + 1] = "bindings/" .. e end
   end
   table.sort(out)
   return out
end

-- ---------------------------------------------------------------- the specs

describe("the Lua doc-comment scanner", function()
   local fixture = table.concat({
      "--- A module.",                                  -- 1
      "-- @module gan.fixture",                         -- 2
      "local M = {}",                                   -- 3
      "function M.bare(x) return x end",                -- 4: undocumented
      "--- Documented: returns x.",                     -- 5
      "-- @tparam number x",                            -- 6
      "function M.good(x) return x end",                -- 7
      "-- only a plain comment",                        -- 8
      "function M:plain() end",                         -- 9: undocumented
      "--- Reads `--set` flags.",                       -- 10: LDoc drops this comment
      "function M.dashes() end",                        -- 11: undocumented
      "-- a note",                                      -- 12
      "--- Below a note: LDoc joins the two, starting at the note.", -- 13
      "function M.joined() end",                        -- 14: undocumented
      "M.assigned = function() end",                    -- 15: undocumented
      "--- Assigned, documented.",                      -- 16
      "M.fine = function() end",                        -- 17
      "function M._private() end",                      -- 18: not public
      "local function helper() end",                    -- 19: not public
      "   function M.nested() end",                     -- 20: not top level
      "--- Documented",                                 -- 21
      "",                                               -- 22
      "function M.gap() end",                           -- 23: a blank line in between
      "return M",
   }, "\n")

   it("lists the public functions and finds the undocumented ones", function()
      local found, missing = scan_lua(fixture), {}
      local names = {}
      for _, f in ipairs(found) do
         names[#names + 1] = f.name
         if not f.documented then missing[#missing + 1] = f.line .. " " .. f.name end
      end
      assert.same({ "M.bare", "M.good", "M:plain", "M.dashes", "M.joined", "M.assigned", "M.fine", "M.gap" }, names)
      assert.same({ "4 M.bare", "9 M:plain", "11 M.dashes", "14 M.joined", "15 M.assigned", "23 M.gap" }, missing)
   end)
end)

describe("the C registration scanner", function()
   local fixture = [[
/*** Adds. @function add */
static int f_add(lua_State *L) { return 0; }
static int f_sub(lua_State *L) { return 0; }
/*** The dtype.
@property dtype
*/
static const luaL_Reg functions[] = {{"add", f_add}, {"sub", f_sub}, {NULL, NULL}};
static const luaL_Reg methods[] = {{"add", f_add}, {NULL, NULL}};
static const luaL_Reg getters[] = {{"dtype", p_dtype}, {"shape", m_size}, {NULL, NULL}};
static const char *const known[] = {"dtype", NULL};
static const struct { const char *name; int op; } unops[] = {{"neg", 1}, {"exp", OP_EXP}};
void reg(lua_State *L) {
    for (size_t i = 0; i < 2; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s_", unops[i].name);
        gl_set_closure(L, t->methods, name, unary_, unops[i].op);
    }
    gl_set_closure(L, t->methods, "max", m_maxmin, 0);
    lua_pushcfunction(L, t_gc); lua_setfield(L, t->meta, "__gc");
}
/// exp(x)
/// @function exp
]]

   it("finds every registration and every name short of a comment", function()
      local s = scan_c(fixture)
      assert.same({ add = 2, sub = 1, neg = 1, neg_ = 1, exp = 1, exp_ = 1, max = 1, __gc = 1 }, s.registered)
      assert.same({ dtype = true, shape = true }, s.properties)
      assert.same({ add = 1, exp = 1 }, s.docs)
      assert.same({
         "__gc (registered 1 times, 0 @function comments)",
         "add (registered 2 times, 1 @function comments)",
         "exp_ (registered 1 times, 0 @function comments)",
         "max (registered 1 times, 0 @function comments)",
         "neg (registered 1 times, 0 @function comments)",
         "neg_ (registered 1 times, 0 @function comments)",
         "shape (a property without @property)",
         "sub (registered 1 times, 0 @function comments)",
      }, undocumented_c(s))
   end)
end)

describe("doc comments", function()
   it("document every public function of lua/gan", function()
      local all, missing = lua_functions(), {}
      assert.is_true(#all > 400, "the scanner found only " .. #all .. " public functions")
      for _, f in ipairs(all) do
         if not f.documented then missing[#missing + 1] = ("%s:%d %s"):format(f.file, f.line, f.name) end
      end
      assert(#missing == 0, "public functions without a doc comment (a --- block directly above):\n"
         .. table.concat(missing, "\n"))
   end)

   it("document every name the C bindings register", function()
      local missing, total = {}, 0
      for _, file in ipairs(c_files()) do
         local s = scan_c(read(root .. "/" .. file))
         for _, n in pairs(s.registered) do total = total + n end
         for _ in pairs(s.properties) do total = total + 1 end
         for _, m in ipairs(undocumented_c(s)) do missing[#missing + 1] = file .. ": " .. m end
      end
      assert.is_true(total > 200, "the scanner found only " .. total .. " registered names")
      assert(#missing == 0, "registered names without an LDoc comment:\n" .. table.concat(missing, "\n"))
   end)
end)

describe("the API reference #release_only", function()
   it("builds with ldoc --fatalwarnings and has an entry for every public function", function()
      local out = os.tmpname()
      os.remove(out)
      local log = out .. ".log"
      local ok, how, code = os.execute(("cd '%s' && ldoc --fatalwarnings -d '%s' . > '%s' 2>&1"):format(root, out, log))
      local text = read(log)
      os.remove(log)
      finally(function() os.execute("rm -rf '" .. out .. "'") end)
      assert(ok, ("ldoc exited with %s %s (is lua-ldoc installed? scripts/setup.sh --for-tests):\n%s"):format(
         tostring(how), tostring(code), text))

      -- The anchors of each module's page.
      local anchors = {}
      local function page(module)
         if not anchors[module] then
            local set = {}
            local f = io.open(out .. "/modules/" .. module .. ".html", "rb")
            if f then
               for name in f:read("a"):gmatch('<a name%s*=%s*"([^"]+)"') do set[name] = true end
               f:close()
            end
            anchors[module] = set
         end
         return anchors[module]
      end

      local missing = {}
      local module_of = {}
      for _, f in ipairs(lua_functions()) do
         module_of[f.file] = module_of[f.file] or read(root .. "/" .. f.file):match("@module%s+([%w_.]+)") or "?"
         local set = page(module_of[f.file])
         -- LDoc drops the module's own table name: M.f and plot.render are listed as f, render
         local short = f.name:match("^[%w_]+[%.:](.+)$")
         if not (set[f.name] or set[short]) then
            missing[#missing + 1] = ("%s:%d %s (page %s)"):format(f.file, f.line, f.name, module_of[f.file])
         end
      end
      for _, file in ipairs(c_files()) do
         local s = scan_c(read(root .. "/" .. file))
         local set, names = page(s.module or "?"), {}
         for a in pairs(set) do names[a:match("([%w_]+)$")] = true end
         for name in pairs(s.registered) do
            if not names[name] then missing[#missing + 1] = ("%s: %s (page %s)"):format(file, name, tostring(s.module)) end
         end
         for name in pairs(s.properties) do
            if not names[name] then missing[#missing + 1] = ("%s: %s (page %s)"):format(file, name, tostring(s.module)) end
         end
      end
      table.sort(missing)
      assert(#missing == 0, "not in the generated reference:\n" .. table.concat(missing, "\n"))
   end)
end)
