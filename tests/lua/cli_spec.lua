-- The gan command line, run as a subprocess: version, help, run (arguments, errors,
-- os.exit), unknown commands.
local C = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "cli_helpers.lua")

describe("gan version", function()
   it("prints gan and the version from gan.version", function()
      local r = C.gan_run({"version"})
      assert.are.equal(0, r.code)
      assert.are.equal("gan " .. require("gan.version") .. "\n", r.stdout)
      assert.are.equal("0.1.0", require("gan.version"))
   end)

   it("also answers --version", function()
      local r = C.gan_run({"--version"})
      assert.are.equal(0, r.code)
      assert.are.equal("gan 0.1.0\n", r.stdout)
   end)
end)

describe("gan help", function()
   for _, form in ipairs({{"help"}, {"--help"}}) do
      it("`gan " .. form[1] .. "` prints usage listing the commands", function()
         local r = C.gan_run(form)
         assert.are.equal(0, r.code)
         assert.matches("Usage: gan", r.stdout, 1, true)
         for _, command in ipairs({"run", "version", "help"}) do
            assert.matches("\n%s+" .. command .. "%s", r.stdout)
         end
         assert.matches("REPL", r.stdout, 1, true)
      end)
   end

   it("describes one command", function()
      local r = C.gan_run({"help", "run"})
      assert.are.equal(0, r.code)
      assert.matches("Usage: gan run", r.stdout, 1, true)
      assert.matches("script", r.stdout, 1, true)
   end)
end)

describe("gan run", function()
   it("passes arguments through untouched, options included, as arg and ...", function()
      local script = C.script([[
         local dots = table.concat({...}, "|")
         local args = {}
         for i = 0, #arg do args[#args + 1] = arg[i] end
         print(table.concat(args, "|"))
         print(dots)
         print(arg[-1])
      ]])
      local r = C.gan_run({"run", script, "a", "--foo", "-h", "two words", "--", "--help"})
      assert.are.equal("", r.stderr)
      assert.are.equal(0, r.code)
      local lines = {}
      for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.are.equal(script .. "|a|--foo|-h|two words|--|--help", lines[1])
      assert.are.equal("a|--foo|-h|two words|--|--help", lines[2])
      assert.are.equal("run", lines[3])
      os.remove(script)
   end)

   it("makes require 'gan' available", function()
      local script = C.script([[
         local gan = require "gan"
         print("version " .. gan.version)
      ]])
      local r = C.gan_run({"run", script})
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("version 0.1.0\n", r.stdout)
      os.remove(script)
   end)

   it("exits 1 with the message and a traceback on stderr when the script fails", function()
      local script = C.script([[
         local function inner() error("something broke") end
         print("before")
         inner()
      ]])
      local r = C.gan_run({"run", script})
      assert.are.equal(1, r.code)
      assert.are.equal("before\n", r.stdout)
      assert.matches("something broke", r.stderr, 1, true)
      assert.matches("stack traceback:", r.stderr, 1, true)
      assert.matches("in local 'inner'", r.stderr, 1, true)
      assert.matches("in main chunk", r.stderr, 1, true)
      os.remove(script)
   end)

   it("exits with the status given to os.exit", function()
      local script = C.script("print('bye') os.exit(7)")
      local r = C.gan_run({"run", script})
      assert.are.equal(7, r.code)
      assert.are.equal("bye\n", r.stdout)
      os.remove(script)
   end)

   it("reports a script that does not exist", function()
      local r = C.gan_run({"run", "/nonexistent/nothing.lua"})
      assert.are.equal(1, r.code)
      assert.matches("nothing.lua", r.stderr, 1, true)
   end)

   it("reports a syntax error in the script", function()
      local script = C.script("x = = 1")
      local r = C.gan_run({"run", script})
      assert.are.equal(1, r.code)
      assert.matches("unexpected symbol", r.stderr, 1, true)
      os.remove(script)
   end)

   it("needs a script", function()
      local r = C.gan_run({"run"})
      assert.are.equal(2, r.code)
      assert.matches("missing argument 'script'", r.stderr, 1, true)
   end)
end)

describe("unknown commands", function()
   it("exit 2 with a clear message", function()
      local r = C.gan_run({"frobnicate"})
      assert.are.equal(2, r.code)
      assert.are.equal("", r.stdout)
      assert.matches("unknown command 'frobnicate'", r.stderr, 1, true)
      assert.matches("gan help", r.stderr, 1, true)
   end)

   it("suggest gan run for a script name", function()
      local r = C.gan_run({"train.lua"})
      assert.are.equal(2, r.code)
      assert.matches("gan run train.lua", r.stderr, 1, true)
   end)
end)

describe("bin/gan", function()
   it("finds its source tree through a symlink", function()
      local dir = os.tmpname()
      os.remove(dir)
      assert(os.execute("mkdir -p " .. C.quote(dir .. "/bin")))
      assert(os.execute(("ln -s %s %s"):format(C.quote(C.gan), C.quote(dir .. "/bin/gan"))))
      -- From another directory and without LUA_PATH, so only the link can lead to lua/.
      local r = C.sh(("cd / && env -u LUA_PATH -u LUA_PATH_5_4 %s version")
         :format(C.quote(dir .. "/bin/gan")))
      os.execute("rm -rf " .. C.quote(dir))
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("gan 0.1.0\n", r.stdout)
   end)
end)
