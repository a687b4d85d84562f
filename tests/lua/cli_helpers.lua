--- Helpers for the CLI and REPL specs: running bin/gan as a subprocess and driving it in a
-- tmux pseudo-terminal. Not a spec itself.
-- Load with: local C = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "cli_helpers.lua")
local C = {}

local function quote(s)
   return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
C.quote = quote

local function read_all(path)
   local f = assert(io.open(path, "rb"))
   local s = f:read("a")
   f:close()
   return s
end
C.read_file = read_all

local function write_file(path, text)
   local f = assert(io.open(path, "wb"))
   f:write(text)
   f:close()
end
C.write_file = write_file

-- The repository root, absolute, from this file's location (tests/lua/).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
do
   local p = assert(io.popen("cd " .. quote(here .. "../..") .. " && pwd"))
   C.root = p:read("l")
   p:close()
end
C.gan = C.root .. "/bin/gan"

--- Runs a shell command; returns {stdout=, stderr=, code=}.
-- @tparam string cmd the command (run by /bin/sh)
-- @tparam[opt] string stdin text fed to its standard input (default: none, /dev/null)
function C.sh(cmd, stdin)
   local out, err, inp = os.tmpname(), os.tmpname(), os.tmpname()
   write_file(inp, stdin or "")
   local _, _, code = os.execute(("%s <%s >%s 2>%s"):format(cmd, inp, out, err))
   local r = {stdout = read_all(out), stderr = read_all(err), code = code}
   os.remove(out)
   os.remove(err)
   os.remove(inp)
   return r
end

--- Runs bin/gan with the given arguments (each quoted).
function C.gan_run(args, stdin)
   local words = {quote(C.gan)}
   for _, a in ipairs(args or {}) do words[#words + 1] = quote(a) end
   return C.sh(table.concat(words, " "), stdin)
end

--- A temporary Lua script; returns its path.
function C.script(text)
   local base = os.tmpname()  -- os.tmpname creates the file: use its name, not the file
   os.remove(base)
   local path = base .. ".lua"
   write_file(path, text)
   return path
end

local function sleep(seconds)
   os.execute("sleep " .. seconds)
end

--- A program running in a detached tmux session, 200x50, on its own server socket.
local Tmux = {}
Tmux.__index = Tmux

-- LD_PRELOAD (the sanitizer run preloads libasan into busted) stays out of tmux: the
-- terminal tests are about the REPL's behaviour, not memory errors.
local function tmux_cmd(self, args)
   return ("env -u LD_PRELOAD tmux -L %s %s"):format(self.socket, args)
end

--- Starts `command` (a shell command line) in tmux with HOME set to a fresh directory.
function C.tmux(command)
   math.randomseed(os.time() + math.floor(os.clock() * 1e6))
   local self = setmetatable({}, Tmux)
   self.socket = ("gan-spec-%d-%d"):format(os.time(), math.random(1, 1e9))
   self.home = os.tmpname()
   os.remove(self.home)
   assert(os.execute("mkdir -p " .. quote(self.home)))
   local inner = ("cd %s && HOME=%s exec %s"):format(quote(C.root), quote(self.home), command)
   local r = C.sh(tmux_cmd(self, "new-session -d -x 200 -y 50 " .. quote(inner)))
   assert(r.code == 0, "tmux failed to start: " .. r.stderr)
   -- The server leaves its socket file behind; remember it to remove it in kill().
   self.socket_path = C.sh(tmux_cmd(self, "display-message -p '#{socket_path}'")).stdout
      :match("[^\n]+")
   return self
end

--- The screen's text (wrapped lines joined).
function Tmux:screen()
   return C.sh(tmux_cmd(self, "capture-pane -p -J -S -100")).stdout
end

--- Types text literally (no key names).
function Tmux:type(text)
   C.sh(tmux_cmd(self, "send-keys -l -- " .. quote(text)))
end

--- Presses keys by tmux name: "Enter", "Tab", "C-c", ...
function Tmux:keys(...)
   local names = {}
   for i, k in ipairs({...}) do names[i] = quote(k) end
   C.sh(tmux_cmd(self, "send-keys " .. table.concat(names, " ")))
end

--- Polls the screen until check(screen) is true or `timeout` seconds pass; returns the
-- last screen and whether the check passed.
function Tmux:wait_for(check, timeout)
   if type(check) == "string" then
      local text = check
      check = function(s) return s:find(text, 1, true) ~= nil end
   end
   local screen
   for _ = 1, math.ceil((timeout or 10) / 0.05) do
      screen = self:screen()
      if check(screen) then return screen, true end
      sleep(0.05)
   end
   return screen, false
end

--- Asserts that `text` shows up on screen within `timeout` seconds; returns the screen.
function Tmux:expect(text, timeout)
   local screen, ok = self:wait_for(text, timeout)
   assert(ok, ("expected %q on screen within %ss; screen:\n%s"):format(
      tostring(text), tostring(timeout or 10), screen))
   return screen
end

--- Stops the tmux server and removes its socket and the session's HOME.
function Tmux:kill()
   C.sh(tmux_cmd(self, "kill-server"))
   if self.socket_path then os.remove(self.socket_path) end
   os.execute("rm -rf " .. quote(self.home))
end

return C
