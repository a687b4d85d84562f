-- The REPL: the pure completion and compile functions, gan.core.readline, the REPL fed
-- through a pipe, and the REPL on a terminal (tmux).
local C = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "cli_helpers.lua")
local repl = require("gan.repl")

local function set(list)
   local s = {}
   for _, v in ipairs(list) do s[v] = true end
   return s
end

describe("repl.complete", function()
   local env
   before_each(function()
      env = repl.new_env()
   end)

   it("completes globals, REPL variables and keywords", function()
      env.my_variable = 1
      env.my_function = print
      assert.are.same({"print"}, repl.complete(env, "prin"))
      assert.are.same({"my_function", "my_variable"}, repl.complete(env, "my_"))
      assert.are.same({"function"}, repl.complete(env, "functio"))
      assert.is_true(set(repl.complete(env, ""))["string"])
   end)

   it("completes table fields", function()
      assert.are.same({"string.format"}, repl.complete(env, "string.fo"))
      env.a = {b = {cval = 1, cother = 2, [3] = "not a name", ["not a name"] = 4}}
      assert.are.same({"a.b.cother", "a.b.cval"}, repl.complete(env, "a.b.c"))
      assert.are.same({"a.b"}, repl.complete(env, "a."))
   end)

   it("walks the metatable __index chain of tables", function()
      local Base = {greet = function() end, version = 2}
      local Derived = setmetatable({shout = function() end}, {__index = Base})
      env.obj = setmetatable({field = 1}, {__index = Derived})
      assert.are.same({"obj.field", "obj.greet", "obj.shout", "obj.version"},
         repl.complete(env, "obj."))
      -- Methods: only callables.
      assert.are.same({"obj:greet", "obj:shout"}, repl.complete(env, "obj:"))
   end)

   it("completes methods from a __methods table when __index is a function", function()
      local methods = {transpose = function() end, t = function() end, sum = function() end}
      env.x = setmetatable({}, {
         __index = function(_, k) return methods[k] end,
         __methods = methods,
      })
      assert.are.same({"x:transpose"}, repl.complete(env, "x:tra"))
      assert.are.same({"x:sum", "x:t", "x:transpose"}, repl.complete(env, "x:"))
   end)

   it("completes methods of userdata and strings through their metatables", function()
      env.f = io.stdout
      assert.are.same({"f:write"}, repl.complete(env, "f:wri"))
      env.s = "text"
      assert.are.same({"s:upper"}, repl.complete(env, "s:up"))
   end)

   it("completes methods of a real tensor", function()
      local gan = require("gan")
      env.x = gan.randn({2, 3})
      local found = set(repl.complete(env, "x:tra"))
      assert.is_true(found["x:transpose"])
      for name in pairs(found) do assert.are.equal("x:tra", name:sub(1, 5)) end
   end)

   it("never evaluates calls or survives bad objects", function()
      local called = false
      env.f = function() called = true return {x = 1} end
      assert.are.same({}, repl.complete(env, "f().x"))
      assert.are.same({}, repl.complete(env, "nothing.her"))
      assert.are.same({}, repl.complete(env, "a[1].b"))
      env.bad = setmetatable({}, {__index = function() error("boom") end})
      assert.are.same({}, repl.complete(env, "bad.x.y"))
      env.protected = setmetatable({}, {__metatable = "locked"})
      assert.are.same({}, repl.complete(env, "protected:x"))
      assert.is_false(called)
   end)
end)

describe("repl.compile", function()
   local env = repl.new_env()

   it("compiles expressions to return their values", function()
      local f = assert(repl.compile("1 + 2", env))
      assert.are.equal(3, f())
   end)

   it("compiles statements, and a leading local defines a REPL variable", function()
      assert(repl.compile("y = 5", env))()
      assert.are.equal(5, env.y)
      assert(repl.compile("local z = 6", env))()
      assert.are.equal(6, env.z)
      assert.is_nil(rawget(_G, "z"))
      assert(repl.compile("local function triple(a) return 3 * a end", env))()
      assert.are.equal(12, env.triple(4))
      -- Without a value or with an attribute, `local` stays a real local.
      assert(repl.compile("local w", env))()
      assert(repl.compile("local k <const> = 1", env))()
      assert.is_nil(rawget(env, "w"))
      assert.is_nil(rawget(env, "k"))
   end)

   it("tells incomplete input from errors", function()
      local f, err, incomplete = repl.compile("function f(a)", env)
      assert.is_nil(f)
      assert.matches("<eof>$", err)
      assert.is_true(incomplete)
      incomplete = select(3, repl.compile("{1,", env))
      assert.is_true(incomplete)
      f, err, incomplete = repl.compile("x = = 1", env)
      assert.is_nil(f)
      assert.is_false(incomplete)
      assert.matches("unexpected symbol", err)
   end)
end)

describe("gan.core.readline", function()
   local rl = require("gan.core").readline

   it("pcall_interruptible returns like pcall", function()
      assert.are.same({true, 3, "x"}, {rl.pcall_interruptible(function(a, b)
         return a + b, "x"
      end, 1, 2)})
      local ok, msg = rl.pcall_interruptible(function() error("bad") end)
      assert.is_false(ok)
      assert.matches("bad", msg, 1, true)
      assert.matches("stack traceback:", msg, 1, true)
      ok, msg = rl.pcall_interruptible(error, setmetatable({}, {__tostring = function()
         return "custom error"
      end}))
      assert.is_false(ok)
      assert.are.equal("custom error", msg)
      ok, msg = rl.pcall_interruptible(error, {})
      assert.is_false(ok)
      assert.matches("error object is a table value", msg, 1, true)
   end)

   it("stops a running loop on SIGINT with 'interrupted!'", function()
      local pid = assert(io.open("/proc/self/stat")):read("n")
      local ok, msg = rl.pcall_interruptible(function()
         os.execute(("(sleep 0.2; kill -INT %d) &"):format(pid))
         local deadline = os.time() + 20
         while os.time() < deadline do end
      end)
      assert.is_false(ok)
      assert.matches("interrupted!", msg, 1, true)
   end)

   it("rejects bad arguments with errors, not crashes", function()
      assert.has_error(function() rl.pcall_interruptible() end)
      assert.has_error(function() rl.set_completer(42) end)
      assert.has_error(function() rl.add_history() end)
      assert.has_error(function() rl.add_history({}) end)
      assert.has_error(function() rl.isatty("x") end)
      assert.has_error(function() rl.read_history() end)
      assert.has_error(function() rl.write_history(nil) end)
      assert.has_error(function() rl.readline({}) end)
      assert.is_false(rl.isatty(-1))
      assert.is_false(rl.isatty(2 ^ 40))
      rl.set_completer(function() return {} end)
      rl.set_completer(nil)
   end)

   it("writes and reads history files", function()
      local path = os.tmpname()
      rl.add_history("first line")
      rl.add_history("x = 1")
      assert.is_true(rl.write_history(path))
      local text = assert(io.open(path)):read("a")
      assert.matches("first line\nx = 1\n$", text)
      assert.is_true(rl.read_history(path))
      os.remove(path)
      local ok, err = rl.read_history("/nonexistent/dir/history")
      assert.is_nil(ok)
      assert.matches("/nonexistent/dir/history", err, 1, true)
   end)
end)

describe("the REPL with piped input", function()
   it("prints expressions without prompts or banner", function()
      local r = C.gan_run({}, "print(1+1)\n")
      assert.are.equal("2\n", r.stdout)
      assert.are.equal(0, r.code)
      r = C.gan_run({}, "1 + 1\n'a' .. 'b'\nnil\n1, nil, 3\nx = 10\nx * 2\n")
      assert.are.equal("2\nab\n1\tnil\t3\n20\n", r.stdout)
      assert.are.equal("", r.stderr)
   end)

   it("reads multi-line definitions", function()
      local r = C.gan_run({}, table.concat({
         "function twice(a)",
         "  return 2 * a",
         "end",
         "twice(21)",
         "{1,",
         " 2}",
         "local t = {",
         "}",
         "type(t)",
      }, "\n") .. "\n")
      assert.are.equal("", r.stderr)
      assert.are.equal("42\n{1, 2}\ntable\n", r.stdout)
   end)

   it("reports an error with a traceback and goes on", function()
      local r = C.gan_run({}, "error('oops')\nundefined_fn()\n'still here'\n")
      assert.are.equal("still here\n", r.stdout)
      assert.matches("stdin:1: oops", r.stderr, 1, true)
      assert.matches("stack traceback:", r.stderr, 1, true)
      assert.matches("undefined_fn", r.stderr, 1, true)
      -- The REPL's own frames are cut from the traceback.
      assert.is_nil(r.stderr:find("repl.lua", 1, true))
      assert.are.equal(1, r.code)  -- piped input: failures show in the exit status
   end)

   it("reports a chunk left unfinished at end of input", function()
      local r = C.gan_run({}, "x = (1 +\n")
      assert.matches("<eof>", r.stderr, 1, true)
      assert.are.equal(1, r.code)
   end)

   it("has gan preloaded and prints tensors", function()
      local r = C.gan_run({}, "x = gan.randn{2,3}\nx\n")
      assert.are.equal("", r.stderr)
      assert.matches("size={2, 3}", r.stdout, 1, true)
      assert.matches("float32", r.stdout, 1, true)
   end)

   it("prints sizes and other plain tables by their contents", function()
      local r = C.gan_run({}, "x = gan.zeros{64, 1, 32, 32}\nx:size()\n{lr = 2e-4, betas = {0.5, 0.999}, 'a'}\n"
         .. "{1, {2, {3, {4}}}}\n")
      assert.are.equal("", r.stderr)
      assert.are.equal("{64, 1, 32, 32}\n{\"a\", betas = {0.5, 0.999}, lr = 0.0002}\n{1, {2, {...}}}\n", r.stdout)
   end)

   it("help(f) prints a function's signature and doc comment; help(t) lists a table's functions", function()
      local r = C.gan_run({}, "help(gan.metrics.fid)\nhelp(gan.losses)\nhelp(gan.zeros)\nhelp(3)\n")
      assert.are.equal("", r.stderr)
      local lines = {}
      for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.are.equal("function M.fid(a, b)", lines[1])
      assert.matches("^  Fr..?chet distance between Gaussians", lines[2])
      -- the doc comment's tags in words: each parameter with its type, what it returns
      assert.are.same({ "  a (Tensor): (N, d)", "  b (Tensor): (M, d)", "  returns number" }, { lines[4], lines[5], lines[6] })
      assert.matches("^  %-%- .*lua/gan/metrics/init.lua:%d+$", lines[7])
      assert.matches("^functions: .*nonsaturating_d, .*; help%(t.name%) describes one$", lines[8])
      assert.are.equal("help: give it a function or a table (got a number)", lines[#lines])
   end)

   it("help(Class) prints the class's doc comment with the constructor's parameters and its methods", function()
      local r = C.gan_run({}, "help(gan.nn.Linear)\n")
      assert.are.equal("", r.stderr)
      local lines = {}
      for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.are.equal("Linear(...)  -- class", lines[1])
      assert.matches("^  A fully connected layer", lines[2])
      assert.are.equal("  in_features (int): size of the input's last dim", lines[3])
      assert.matches("^  methods: extra_repr, forward$", lines[#lines - 1])
      assert.matches("^  %-%- .*lua/gan/nn/layers.lua$", lines[#lines])
   end)
end)

describe("gan data", function()
   it("alone prints the data directory, as gan data dir does", function()
      local a, b = C.gan_run({ "data" }), C.gan_run({ "data", "dir" })
      assert.are.equal(0, a.code, a.stderr)
      assert.are.equal(b.stdout, a.stdout)
      assert.matches("^/.+\n$", a.stdout)
   end)
end)

describe("the REPL on a terminal", function()
   local term
   before_each(function()
      term = C.tmux(C.quote(C.gan))
      term:expect("> ")
   end)
   after_each(function()
      term:kill()
   end)

   it("shows a banner with the version", function()
      term:expect("gan 0.1.0")
   end)

   it("prints tensors with their size and dtype", function()
      term:type("x = gan.randn{2,3}")
      term:keys("Enter")
      term:type("x")
      term:keys("Enter")
      local screen = term:expect("size={2, 3}")
      assert.matches("float32", screen, 1, true)
   end)

   it("completes a tensor method with Tab", function()
      term:type("x = gan.randn{2,3}")
      term:keys("Enter")
      term:type("x:tra")
      term:keys("Tab")
      term:expect("> x:transpose")
      -- No space after the completion: the call goes straight on.
      term:type("(1, 2)")
      term:expect("> x:transpose(1, 2)")
      term:keys("Enter")
      term:expect("size={3, 2}")
   end)

   it("completes table fields with Tab", function()
      term:type("string.fo")
      term:keys("Tab")
      term:expect("> string.format")
   end)

   it("interrupts a running chunk with Ctrl-C and keeps going", function()
      term:type("while true do end")
      term:keys("Enter")
      -- The loop is running once the input line has been echoed with no new prompt.
      term:wait_for(function(s) return s:find("while true do end\n", 1, true) ~= nil end, 5)
      os.execute("sleep 0.3")
      term:keys("C-c")
      term:expect("interrupted!")
      term:type("1+1")
      term:keys("Enter")
      term:wait_for(function(s) return s:find("\n2\n", 1, true) ~= nil end, 10)
      assert.matches("\n2\n", term:screen(), 1, true)
   end)

   it("clears the line on Ctrl-C at the prompt and exits on Ctrl-D", function()
      term:type("this is not lua")
      term:keys("C-c")
      term:type("40 + 2")
      term:keys("Enter")
      local screen = term:expect("42")
      assert.is_nil(screen:find("syntax error", 1, true))
      term:keys("C-d")
      -- Ctrl-D ends gan and with it the tmux session.
      local gone = false
      for _ = 1, 100 do
         if C.sh(("env -u LD_PRELOAD tmux -L %s has-session"):format(term.socket)).code ~= 0 then
            gone = true
            break
         end
         os.execute("sleep 0.05")
      end
      assert.is_true(gone)
   end)

   it("keeps history in ~/.gan_history", function()
      term:type("history_marker = 1")
      term:keys("Enter")
      term:expect("> history_marker = 1\n> ")
      local f = io.open(term.home .. "/.gan_history")
      assert.is_not_nil(f)
      assert.matches("history_marker = 1", f:read("a"), 1, true)
      f:close()
   end)
end)
