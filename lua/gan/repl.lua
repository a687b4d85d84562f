--- The interactive gan REPL: `gan` with no arguments.
--
-- Expressions print without `=` or `return`, multi-line input continues while the chunk
-- is incomplete, errors print with a traceback and the session goes on. On a terminal
-- there is line editing, history (~/.gan_history), tab completion of globals, fields and
-- methods, and Ctrl-C stops the running chunk instead of the REPL.
-- @module gan.repl

local repl = {}

local PROMPT, CONTINUE_PROMPT = "> ", ">> "
local HISTORY_FILE = ".gan_history"

local KEYWORDS = {
   "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
   "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
}
local IS_KEYWORD = {}
for _, k in ipairs(KEYWORDS) do IS_KEYWORD[k] = true end

local function is_name(s)
   return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil and not IS_KEYWORD[s]
end

-- Index without running into errors from __index metamethods.
local function safe_index(obj, key)
   local ok, v = pcall(function() return obj[key] end)
   if ok then return v end
   return nil
end

local function callable(v)
   if type(v) == "function" then return true end
   local mt = getmetatable(v)
   return type(mt) == "table" and mt.__call ~= nil
end

-- Adds the identifier keys of t, then of the tables its metatables' __index point to:
-- class instances and the REPL environment (whose __index is _G) get their inherited names.
local function add_table_names(t, out, seen)
   local depth = 0
   while type(t) == "table" and not seen[t] and depth < 16 do
      seen[t] = true
      for k, v in pairs(t) do
         if is_name(k) then out[k] = v end
      end
      local mt = getmetatable(t)
      t = type(mt) == "table" and rawget(mt, "__index") or nil
      depth = depth + 1
   end
end

-- Names reachable with `.` or `:` from v: a table's keys, a userdata's (or string's)
-- methods from its metatable's __index table, or from __methods when __index is a function
-- (tensors).
local function member_names(v)
   local out, seen = {}, {}
   if type(v) == "table" then
      add_table_names(v, out, seen)
   end
   local mt = getmetatable(v)
   if type(mt) == "table" then
      local index = rawget(mt, "__index")
      if type(index) == "table" then
         add_table_names(index, out, seen)
      elseif type(rawget(mt, "__methods")) == "table" then
         add_table_names(rawget(mt, "__methods"), out, seen)
      end
   end
   return out
end

--- Completions for the word before the cursor.
-- `word` is a name, or a path of names joined by `.` with an optional final `:`
-- (`gan`, `string.fo`, `x:tra`, `a.b.c`). Names come from `env` (and its __index chain,
-- hence _G) and from Lua keywords; fields from tables and their metatables' __index
-- chains; methods after `:` from tables, strings and userdata (metatable __index table,
-- or __methods when __index is a function).
-- @tparam table env the environment the REPL evaluates in
-- @tparam string word the word being completed
-- @treturn {string,...} sorted full completions (each starts with `word`)
function repl.complete(env, word)
   local path, sep, partial = word:match("^(.-)([%.:])([%w_]*)$")
   local names, prefix
   if not path then
      if not word:match("^[%a_]?[%w_]*$") then return {} end
      partial, prefix = word, ""
      names = member_names(env)
      for _, k in ipairs(KEYWORDS) do names[k] = true end
   else
      -- Resolve `a.b.c` (only plain names: calls and indexing are never evaluated).
      local obj = env
      for part in (path .. "."):gmatch("(.-)%.") do
         if not is_name(part) or (type(obj) ~= "table" and type(obj) ~= "userdata") then
            return {}
         end
         obj = safe_index(obj, part)
      end
      if obj == nil or obj == env then return {} end
      names = member_names(obj)
      if sep == ":" then
         for k, v in pairs(names) do
            if not callable(v) then names[k] = nil end
         end
      end
      prefix = path .. sep
   end
   local result = {}
   for k in pairs(names) do
      if k:sub(1, #partial) == partial then result[#result + 1] = prefix .. k end
   end
   table.sort(result)
   return result
end

--- A fresh REPL environment: globals live in it, reads fall through to _G.
-- @tparam[opt] table preload values to define in it (e.g. `{gan = gan}`)
-- @treturn table
function repl.new_env(preload)
   local env = setmetatable({}, {__index = _G})
   env.help = repl.help
   for k, v in pairs(preload or {}) do env[k] = v end
   return env
end

--- How the REPL shows a value: tostring, except for plain tables, which show their
-- contents ({64, 1, 32, 32} for a size; {lr = 0.0002, betas = {0.5, 0.999}}), at most
-- two levels deep and 12 entries per table.
-- @param v any value
-- @tparam[opt] int depth the current nesting (internal; leave it out)
-- @treturn string
function repl.show(v, depth)
   depth = depth or 0
   if type(v) == "string" then return depth > 0 and ("%q"):format(v) or v end
   if type(v) ~= "table" then return tostring(v) end
   local mt = getmetatable(v)
   if mt ~= nil then return tostring(v) end
   if depth >= 2 then return "{...}" end
   local parts, n = {}, #v
   for i = 1, math.min(n, 12) do parts[#parts + 1] = repl.show(v[i], depth + 1) end
   if n > 12 then parts[#parts + 1] = ("... (%d in all)"):format(n) end
   local keys = {}
   for k in pairs(v) do
      if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
   end
   table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
   for i, k in ipairs(keys) do
      if i > 12 then parts[#parts + 1] = ("... (%d keys)"):format(#keys) break end
      local name = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or ("[%s]"):format(repl.show(k, 1))
      parts[#parts + 1] = name .. " = " .. repl.show(v[k], depth + 1)
   end
   return "{" .. table.concat(parts, ", ") .. "}"
end

-- The comment block right above line `line` of file `path` (its "---" / "--" lines,
-- markers removed) and the line itself (the signature).
local function doc_comment(path, line)
   local f = io.open(path, "rb")
   if not f then return nil end
   local lines = {}
   for l in f:lines() do lines[#lines + 1] = l end
   f:close()
   local sig, raw = lines[line], {}
   for i = line - 1, 1, -1 do
      local text = lines[i]:match("^%s*%-%-%-?%s?(.*)$")
      if not text or lines[i]:match("^%s*%-%-%[") then break end
      table.insert(raw, 1, text)
   end
   -- LDoc's tags in words: parameters, returns and errors; the tags that only place an
   -- item in the reference (@function, @module, ...) are dropped with their continuations.
   local doc, dropping = {}, false
   for _, text in ipairs(raw) do
      local tag, rest = text:match("^@(%a+)(.*)$")
      if tag then
         dropping = false
         local opt, typ, name, what = rest:match("^(%[?[^%]%s]*%]?)%s+(%S+)%s+([%w_%.]+)%s*(.*)$")
         if tag == "tparam" and typ then
            local o = opt:match("^%[opt=?(.*)%]$")
            local extra = o and (o ~= "" and (", optional, default " .. o) or ", optional") or ""
            doc[#doc + 1] = ("%s (%s%s)%s"):format(name, typ, extra, what ~= "" and ": " .. what or "")
         elseif tag == "param" then
            local n, w = rest:match("^%s*([%w_%.]+)%s*(.*)$")
            doc[#doc + 1] = (n or "?") .. (w and w ~= "" and ": " .. w or "")
         elseif tag == "treturn" or tag == "return" then
            doc[#doc + 1] = "returns " .. rest:gsub("^%s+", "")
         elseif tag == "raise" then
            doc[#doc + 1] = "raises an error " .. rest:gsub("^%s+", "")
         else
            dropping = true
         end
      elseif not dropping then
         doc[#doc + 1] = text
      end
   end
   return sig, doc
end

-- The doc comment of a class in its file: the block that carries "@function <name>".
local function class_doc(path, name)
   local f = io.open(path, "rb")
   if not f then return nil end
   local lines = {}
   for l in f:lines() do lines[#lines + 1] = l end
   f:close()
   for i, l in ipairs(lines) do
      if l:match("^%s*%-%-%s*@function%s+" .. name:gsub("%p", "%%%0") .. "%s*$") then
         local last = i
         while lines[last + 1] and lines[last + 1]:match("^%s*%-%-") do last = last + 1 end
         local _, doc = doc_comment(path, last + 1)
         return doc
      end
   end
   return nil
end

--- help(f): prints the doc comment and the signature of a Lua function (a public
-- function of gan, or one's own), where it is defined; for a table, the names of its
-- functions; for a class (gan.nn.Linear), its doc comment with the constructor's
-- parameters and its methods. Returns nothing.
-- @tparam function|table v
function repl.help(v)
   local out = {}
   if type(v) == "function" then
      local info = debug.getinfo(v, "S")
      if info.what == "C" then
         out[1] = "a function written in C (the tensor methods and gan.core): see docs/api.md"
      else
         local path = info.source:match("^@(.*)$")
         local sig, doc = nil, nil
         if path then sig, doc = doc_comment(path, info.linedefined) end
         if not sig then
            out[1] = ("a Lua function defined in %s (no source to read)"):format(info.short_src)
         else
            out[1] = sig:gsub("^%s+", "")
            for _, l in ipairs(doc) do out[#out + 1] = "  " .. l end
            if #doc == 0 then out[#out + 1] = "  (no doc comment)" end
            out[#out + 1] = ("  -- %s:%d"):format(path, info.linedefined)
         end
      end
   elseif type(v) == "table" and type(rawget(v, "__name")) == "string" and type(v.__init) == "function" then
      -- a class: the doc comment that names it (@function Name) and its constructor
      local name = rawget(v, "__name")
      local info = debug.getinfo(v.__init, "S")
      local path = info.source:match("^@(.*)$")
      local doc = path and class_doc(path, name)
      out[1] = ("%s(...)  -- class"):format(name)
      for _, l in ipairs(doc or { "(no doc comment)" }) do out[#out + 1] = "  " .. l end
      local names = {}
      for k, x in pairs(v) do
         if type(k) == "string" and type(x) == "function" and not k:match("^_") then names[#names + 1] = k end
      end
      table.sort(names)
      if #names > 0 then out[#out + 1] = "  methods: " .. table.concat(names, ", ") end
      if path then out[#out + 1] = ("  -- %s"):format(path) end
   elseif type(v) == "table" then
      local names = {}
      for k, x in pairs(v) do
         if type(k) == "string" and type(x) == "function" and not k:match("^_") then names[#names + 1] = k end
      end
      table.sort(names)
      out[1] = #names > 0 and ("functions: " .. table.concat(names, ", ") .. "; help(t.name) describes one")
         or "a table without functions"
   else
      out[1] = ("help: give it a function or a table (got a %s)"):format(type(v))
   end
   io.write(table.concat(out, "\n"), "\n")
end

-- Locals do not outlive the chunk they are typed in, so in the REPL a leading `local`
-- would make `local x = 1` followed by `x` print nothing. Drop it when the rest still
-- compiles: the name becomes a variable of the REPL environment. `local x <const>` and a
-- bare `local x` keep their meaning.
local function load_statements(src, env)
   local rest = src:match("^%s*local%s+(.*)$")
   if rest and not rest:match("^[%a_][%w_]*%s*<") then
      local f = load(rest, "=stdin", "t", env)
      if f then return f end
   end
   return load(src, "=stdin", "t", env)
end

--- Compiles one REPL chunk: as an expression if it is one, otherwise as statements.
-- @tparam string src the text typed so far
-- @tparam table env the environment
-- @treturn[1] function the compiled chunk
-- @treturn[2] nil
-- @treturn[2] string the syntax error
-- @treturn[2] boolean true when the error is only that the input ends too early
function repl.compile(src, env)
   local f, expr_err = load("return " .. src, "=stdin", "t", env)
   if f then return f end
   local err
   f, err = load_statements(src, env)
   if f then return f end
   local function at_eof(msg) return msg:sub(-#"<eof>") == "<eof>" end
   if at_eof(err) then return nil, err, true end
   -- `{1,` or `1 +` are unfinished expressions, though not valid statements.
   if at_eof(expr_err) then return nil, expr_err, true end
   return nil, err, false
end

-- The traceback's frames below the chunk belong to the REPL itself (the [C] frame of the
-- protected call, then repl.lua): cut them.
local function trim_traceback(msg)
   local tb = msg:find("\nstack traceback:", 1, true)
   if not tb then return msg end
   local cut = msg:find("\n[^\n]*%[C%]: in [^\n]*\n[^\n]*gan/repl%.lua:%d+:", tb)
      or msg:find("\n[^\n]*gan/repl%.lua:%d+:", tb)
   return cut and msg:sub(1, cut - 1) or msg
end

local function traceback_handler(e)
   if type(e) ~= "string" then
      local mt = getmetatable(e)
      e = (type(mt) == "table" and mt.__tostring) and tostring(e)
         or ("(error object is a %s value)"):format(type(e))
   end
   return debug.traceback(e, 2)
end

local function format_results(results)
   -- A lone nil (statements, `x` undefined, f() returning nil) prints nothing.
   if results.n == 0 or (results.n == 1 and results[1] == nil) then return nil end
   local parts = {}
   for i = 1, results.n do
      local ok, s = pcall(repl.show, results[i])
      parts[i] = ok and s or ("<tostring failed: " .. tostring(s) .. ">")
   end
   return table.concat(parts, "\t")
end

--- Runs the REPL until end of input.
-- @tparam[opt] table opts `input` (file, default io.stdin), `output` (default io.stdout),
--  `errors` (default io.stderr), `interactive` (default: stdin is a terminal),
--  `env` (default: a new environment with `gan` preloaded)
-- @treturn int exit status: 0, or 1 when input was not interactive and a chunk failed
function repl.run(opts)
   opts = opts or {}
   local input, output = opts.input or io.stdin, opts.output or io.stdout
   local errors = opts.errors or io.stderr

   local core_ok, core = pcall(require, "gan.core")
   local rl = core_ok and type(core) == "table" and core.readline or nil
   local interactive = opts.interactive
   if interactive == nil then
      interactive = rl ~= nil and input == io.stdin and rl.isatty(0)
   end

   local function report_error(msg)
      output:flush()  -- keep stdout and stderr in order when both go to one pipe
      errors:write(msg, "\n")
      errors:flush()
   end

   local gan
   local env = opts.env
   if not env then
      local gan_ok, loaded = pcall(require, "gan")
      if gan_ok then
         gan = loaded
      else
         report_error("gan: could not load the gan library (the REPL runs without it):\n"
            .. tostring(loaded))
      end
      env = repl.new_env({gan = gan})
   end
   if interactive then
      local version = type(gan) == "table" and gan.version
      if not version then
         local v_ok, v = pcall(require, "gan.version")
         version = v_ok and v or "?"
      end
      output:write(("gan %s (%s). Tab completes, Ctrl-C stops a chunk, Ctrl-D exits.\n")
         :format(version, _VERSION))
   end

   -- readline draws on stdout: with stdout redirected, plain prompts instead.
   local use_readline = interactive and rl ~= nil and output == io.stdout and rl.isatty(1)
   local home = os.getenv("HOME")
   local history_path = use_readline and home and (home .. "/" .. HISTORY_FILE)
   if use_readline then
      if history_path then rl.read_history(history_path) end
      rl.set_completer(function(word) return repl.complete(env, word) end)
   end

   -- Returns the next line, nil at end of input, or false when Ctrl-C abandoned the line.
   local function read_line(prompt)
      if use_readline then
         local line, why = rl.readline(prompt)
         if line == nil and why == "interrupted" then return false end
         return line
      end
      if interactive then
         output:write(prompt)
         output:flush()
      end
      return input:read("l")
   end

   local last_history
   local function remember(src)
      if not use_readline or src == last_history then return end
      rl.add_history(src)
      last_history = src
      -- Written now, not at exit: a second Ctrl-C or os.exit() must not lose it.
      if history_path then rl.write_history(history_path) end
   end

   local run = rl and rl.pcall_interruptible
      or function(f) return xpcall(f, traceback_handler) end
   local failed = false

   -- Runs a compiled chunk, then prints its values; both protected and interruptible
   -- (the tostring of a huge value can take a while too).
   local function evaluate(f)
      local results = table.pack(run(f))
      local ok, text = results[1], results[2]
      if ok then
         ok, text = run(format_results, table.pack(table.unpack(results, 2, results.n)))
      end
      if not ok then
         report_error(trim_traceback(tostring(text)))
         failed = true
      elseif text then
         output:write(text, "\n")
         output:flush()
      end
   end

   -- Reads one chunk, continuing lines while it is incomplete, and runs it.
   -- Returns false at end of input.
   local function step()
      local src = read_line(PROMPT)
      if src == nil then return false end
      if not src or not src:match("%S") then return true end
      local f, err, incomplete = repl.compile(src, env)
      while incomplete do
         local more = read_line(CONTINUE_PROMPT)
         if more == false then return true end  -- Ctrl-C: drop the unfinished chunk
         if more == nil then break end  -- end of input: report the syntax error
         src = src .. "\n" .. more
         f, err, incomplete = repl.compile(src, env)
      end
      remember(src)
      if f then
         evaluate(f)
      else
         report_error(err)
         failed = true
      end
      return true
   end

   while true do
      -- A Ctrl-C landing between the protected calls (the interpreter's own handler
      -- raises "interrupted!" there) must not end the session.
      local ok, more = pcall(step)
      if not ok then
         report_error(tostring(more))
         failed = true
      elseif not more then
         break
      end
   end

   if use_readline then
      rl.set_completer(nil)
      output:write("\n")
   end
   return (failed and not interactive) and 1 or 0
end

return repl
