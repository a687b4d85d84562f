--- The run directory of an experiment, its metrics log and a progress display.
--
--     local run = gan.run.new{experiment = "dcgan", config = cfg, argv = arg}
--     -- runs/dcgan/20250101-120000/{config.yaml, command.txt, metrics.jsonl,
--     --                             samples/, checkpoints/}
--     local progress = gan.run.Progress{total = cfg.train.steps}
--     for step = 1, cfg.train.steps do
--        ...
--        run:log(step, {loss_d = ld, loss_g = lg, lr = lr, imgs_per_s = ips})
--        progress:update(step, {loss_d = ld, loss_g = lg, imgs_per_s = ips})
--        if step % 1000 == 0 then
--           gan.save_checkpoint(run:checkpoint_path(step), objects, {step = step})
--           run:keep_checkpoints(3)
--        end
--     end
--     progress:close()
--
-- @module gan.run

local lfs = require("lfs")
local cjson = require("cjson")
local config = require("gan.config")
local files = require("gan.files")

local run = {}

local Run = {}
Run.__index = Run
Run.__name = "gan.Run"

-- ---------------------------------------------------------------------------------------
-- Files

local exists, mkdir_p, write_atomic = files.exists, files.mkdir_p, files.write_atomic

local function shell_word(s)
   s = tostring(s)
   if s ~= "" and not s:find("[^%w_%-%./=:,@+]") then return s end
   return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- The command line from a script's `arg` table (interpreter and gan words included).
local function command_line(argv)
   if not argv then return "unknown" end
   local lo = 0
   while argv[lo - 1] ~= nil do lo = lo - 1 end
   local words = {}
   for i = lo, #argv do
      if argv[i] ~= nil then words[#words + 1] = shell_word(argv[i]) end
   end
   return table.concat(words, " ")
end

local function git_commit()
   local p = io.popen("git rev-parse HEAD 2>/dev/null")
   local sha = p and p:read("l")
   if p then p:close() end
   return (sha and sha:match("^%x+$")) and sha or "unknown"
end

-- One JSON value: numbers exact (NaN and ±Infinity as Python's json writes them).
local function json_value(v, key)
   if type(v) == "userdata" and v.item then v = v:item() end   -- a one-element tensor
   local t = type(v)
   if t == "number" then
      if v ~= v then return "NaN" end
      if v == math.huge then return "Infinity" end
      if v == -math.huge then return "-Infinity" end
      return config.format_number(v)
   end
   if t == "string" or t == "boolean" then return cjson.encode(v) end
   error(("run:log: %s is a %s; log numbers, strings or booleans"):format(key, t), 3)
end

--- A flat table of numbers, strings and booleans as one JSON object (keys sorted, numbers
-- exact, NaN and ±Infinity as Python's json writes them).
-- @tparam table t
-- @treturn string
function run.json_object(t)
   local keys, parts = {}, {}
   for k in pairs(t) do keys[#keys + 1] = tostring(k) end
   table.sort(keys)
   for _, k in ipairs(keys) do parts[#parts + 1] = cjson.encode(k) .. ": " .. json_value(t[k], k) end
   return "{" .. table.concat(parts, ", ") .. "}"
end

--- Reads a metrics.jsonl file: one record per line; a last line cut short by a crash
-- is skipped.
-- @tparam string path
-- @treturn {table,...} the records in file order
function run.read_metrics(path)
   local f, err = io.open(path, "rb")
   if not f then error("gan.run: " .. err, 2) end
   local text = f:read("a")
   f:close()
   local records, n = {}, 0
   for line, nl in text:gmatch("([^\n]*)(\n?)") do
      n = n + 1
      if line:match("%S") then
         local ok, rec = pcall(cjson.decode, line)
         if ok and type(rec) == "table" then
            records[#records + 1] = rec
         elseif nl ~= "" then
            error(("gan.run: %s:%d: not a JSON object"):format(path, n), 2)
         end
      end
   end
   return records
end

-- ---------------------------------------------------------------------------------------
-- Runs

local function attach(dir, experiment, name, cfg)
   local self = setmetatable({dir = dir, experiment = experiment, name = name, config = cfg},
      Run)
   self.best = nil
   local best = dir .. "/checkpoints/best.json"
   if exists(best) then
      local f = io.open(best, "rb")
      local ok, b = pcall(cjson.decode, f:read("a"))
      f:close()
      if ok then self.best = b end
   end
   return self
end

--- True for a name a run directory may have: one path component of letters, digits,
-- '_', '.' and '-', starting with a letter, a digit or '_' (so never "", ".", ".." or
-- anything with a '/': a run stays inside its root).
-- @tparam string name
-- @treturn bool
function run.valid_name(name)
   return type(name) == "string" and #name <= 255 and name:match("^[%w_][%w_.%-]*$") ~= nil
end
run.NAME_RULE = "a directory name (letters, digits, '_', '.', '-'; starting with a letter, digit or '_')"

--- Whether a path is a run directory (holds config.yaml): the check of config keys that
-- name one, `config.optional("string", run.is_dir, run.DIR_RULE)`.
-- @tparam string path
-- @treturn bool
function run.is_dir(path)
   return type(path) == "string" and files.exists(path .. "/config.yaml")
end
run.DIR_RULE = "a run directory (holding config.yaml)"

--- Creates a new run directory `<root>/<experiment>/<name>/` with config.yaml,
-- command.txt, an empty metrics.jsonl, samples/ and checkpoints/.
-- @tparam table opts `experiment` (required), `name` (default: the local time as
--  YYYYmmdd-HHMMSS, with -2, -3, ... appended if taken; an explicit name must be new),
--  `root` (default "runs"), `config` (the resolved config), `argv` (the script's `arg`)
-- @treturn Run
function run.new(opts)
   local experiment = opts.experiment
   if type(experiment) ~= "string" or experiment == "" or experiment:find("/") then
      error("gan.run.new: experiment must be a name without '/'", 2)
   end
   if opts.name ~= nil and not run.valid_name(opts.name) then
      error(("gan.run.new: name must be %s, got '%s'"):format(run.NAME_RULE, tostring(opts.name)), 2)
   end
   local root = opts.root or "runs"
   local parent = root .. "/" .. experiment
   mkdir_p(parent)
   local name, dir
   if opts.name then
      name, dir = opts.name, parent .. "/" .. opts.name
      if not lfs.mkdir(dir) then
         error(("gan.run.new: %s already exists (gan.run.open reopens a run)"):format(dir), 2)
      end
   else
      -- mkdir either creates the directory or fails: two runs never share one.
      local stamp = os.date("%Y%m%d-%H%M%S")
      for i = 1, 1000 do
         name = i == 1 and stamp or ("%s-%d"):format(stamp, i)
         dir = parent .. "/" .. name
         if lfs.mkdir(dir) then break end
         if i == 1000 or not exists(dir) then
            error(("gan.run.new: cannot create %s"):format(dir), 2)
         end
      end
   end
   mkdir_p(dir .. "/samples")
   mkdir_p(dir .. "/checkpoints")
   local cfg = opts.config or {}
   config.write(dir .. "/config.yaml", cfg)
   write_atomic(dir .. "/command.txt", table.concat({
      "command: " .. command_line(opts.argv),
      "commit: " .. git_commit(),
      "cwd: " .. (lfs.currentdir() or "unknown"),
      "started: " .. os.date("%Y-%m-%d %H:%M:%S"),
   }, "\n") .. "\n")
   assert(io.open(dir .. "/metrics.jsonl", "ab")):close()
   return attach(dir, experiment, name, cfg)
end

--- Reopens an existing run (to resume it or evaluate it).
-- @tparam string dir the run directory
-- @tparam[opt] table defaults if given, config.yaml is resolved against them (validated);
--  else it is read as plain YAML
-- @treturn Run
function run.open(dir, defaults)
   dir = dir:gsub("/+$", "")
   local path = dir .. "/config.yaml"
   if not exists(path) then error(("gan.run.open: no config.yaml in %s"):format(dir), 2) end
   local cfg = defaults and config.resolve(defaults, {file = path}) or config.load(path)
   mkdir_p(dir .. "/samples")
   mkdir_p(dir .. "/checkpoints")
   local name = dir:match("([^/]+)$")
   local experiment = dir:match("([^/]+)/[^/]+$") or ""
   return attach(dir, experiment, name, cfg)
end

--- Appends one line `{"step": step, <scalars, keys sorted>}` to metrics.jsonl and
-- flushes it.
-- @tparam int step
-- @tparam table scalars name -> number (or boolean, string, one-element tensor)
function Run:log(step, scalars)
   if math.type(step) ~= "integer" then
      if type(step) == "number" and step == math.floor(step) then
         step = math.tointeger(step)
      else
         error("run:log: step must be an integer", 2)
      end
   end
   local keys = {}
   for k in pairs(scalars or {}) do
      if type(k) ~= "string" or k == "step" then
         error(("run:log: bad scalar name %s"):format(tostring(k)), 2)
      end
      keys[#keys + 1] = k
   end
   table.sort(keys)
   local parts = {'{"step": ' .. step}
   for _, k in ipairs(keys) do
      parts[#parts + 1] = cjson.encode(k) .. ": " .. json_value(scalars[k], k)
   end
   if not self.metrics_file then
      self.metrics_file = assert(io.open(self.dir .. "/metrics.jsonl", "ab"))
   end
   self.metrics_file:write(table.concat(parts, ", "), "}\n")
   self.metrics_file:flush()
end

--- The records of metrics.jsonl, in order.
-- @treturn {table,...}
function Run:metrics()
   if self.metrics_file then self.metrics_file:flush() end
   return run.read_metrics(self.dir .. "/metrics.jsonl")
end

--- Closes the metrics file (reopened by the next log).
function Run:close()
   if self.metrics_file then self.metrics_file:close() end
   self.metrics_file = nil
end

--- `samples/step_000100.png`
-- @tparam int step
-- @treturn string
function Run:sample_path(step)
   return ("%s/samples/step_%06d.png"):format(self.dir, step)
end

--- `checkpoints/step_000100.safetensors`
-- @tparam int step
-- @treturn string
function Run:checkpoint_path(step)
   return ("%s/checkpoints/step_%06d.safetensors"):format(self.dir, step)
end

--- The run's step checkpoints (not best.safetensors), oldest first.
-- @treturn {{step=int, path=string},...}
function Run:checkpoints()
   local list = {}
   local dir = self.dir .. "/checkpoints"
   for _, file in ipairs(files.list(dir)) do
      local s = file:match("^step_(%d+)%.safetensors$")
      if s then list[#list + 1] = {step = tonumber(s), path = dir .. "/" .. file} end
   end
   table.sort(list, function(a, b) return a.step < b.step end)
   return list
end

--- The latest step checkpoint, for resuming.
-- @treturn[1] string its path
-- @treturn[1] int its step
-- @treturn[2] nil when there is none
function Run:latest_checkpoint()
   local list = self:checkpoints()
   local last = list[#list]
   if last then return last.path, last.step end
   return nil
end

--- Deletes all step checkpoints but the latest k (best.safetensors is kept), and the
-- temporaries (`*.tmp.<pid>`) that writers killed mid-save left in checkpoints/ and
-- samples/ (never those of a live process).
-- @tparam int k
-- @treturn {string,...} the deleted checkpoint paths
function Run:keep_checkpoints(k)
   assert(math.type(k) == "integer" and k >= 0, "run:keep_checkpoints: k must be an integer >= 0")
   local core = require("gan.core")
   for _, sub in ipairs { "checkpoints", "samples" } do
      if exists(self.dir .. "/" .. sub) then core.remove_stale_temporaries(self.dir .. "/" .. sub) end
   end
   local list, removed = self:checkpoints(), {}
   for i = 1, #list - k do
      os.remove(list[i].path)
      removed[#removed + 1] = list[i].path
   end
   return removed
end

--- Saves checkpoints/best.safetensors when `value` beats the best so far.
-- The best value is kept in checkpoints/best.json, so it survives gan.run.open.
-- @tparam int step
-- @tparam number value the metric (e.g. FID); NaN never improves
-- @tparam function save_fn called as save_fn(path) to write the checkpoint (it should
--  write atomically, as gan.save_checkpoint does)
-- @tparam[opt] table opts `mode`: "min" (default) or "max"
-- @treturn bool whether it saved
function Run:save_best(step, value, save_fn, opts)
   local mode = opts and opts.mode or "min"
   assert(mode == "min" or mode == "max", "run:save_best: mode must be \"min\" or \"max\"")
   assert(type(value) == "number", "run:save_best: value must be a number")
   local best = self.best and self.best.value
   if value ~= value then return false end
   if best and best == best then
      if (mode == "min" and value >= best) or (mode == "max" and value <= best) then
         return false
      end
   end
   save_fn(self.dir .. "/checkpoints/best.safetensors")
   self.best = {step = step, value = value, mode = mode}
   write_atomic(self.dir .. "/checkpoints/best.json",
      ('{"step": %d, "value": %s, "mode": "%s"}\n'):format(step, json_value(value, "value"), mode))
   return true
end

-- ---------------------------------------------------------------------------------------
-- Progress

local Progress = {}
Progress.__index = Progress
Progress.__name = "gan.run.Progress"

local function clock()
   return require("gan.core").clock()
end

local function is_terminal(out)
   local term = os.getenv("TERM")
   if term == "dumb" then return false end
   local fd = (out == io.stdout and 1) or (out == io.stderr and 2) or nil
   if not fd then return false end
   local ok, core = pcall(require, "gan.core")
   if ok and core.readline and core.readline.isatty then return core.readline.isatty(fd) end
   return term ~= nil and term ~= ""
end

local function terminal_width()
   local cols = tonumber(os.getenv("COLUMNS"))
   if cols then return cols end
   local p = io.popen("stty size 2>/dev/null </dev/tty")
   local line = p and p:read("l")
   if p then p:close() end
   return tonumber(line and line:match("%d+%s+(%d+)")) or 80
end

local function duration(s)
   if s ~= s or s == math.huge then return "?" end
   s = math.floor(s + 0.5)
   if s < 60 then return s .. "s" end
   if s < 3600 then return ("%dm%02ds"):format(s // 60, s % 60) end
   return ("%dh%02dm"):format(s // 3600, s % 3600 // 60)
end

--- A one-line progress display: step/total, a bar (on a terminal), elapsed time, ETA,
-- images/s and the latest scalars. On a terminal the line is redrawn in place (at most
-- 10 times a second); otherwise a plain line is written every `every` steps and at the
-- last step (or at close).
-- @tparam table opts `total` (steps; optional), `every` (default: total/20, at least 1,
--  or 100 without a total), `out` (default io.stdout), `start` (the step a resumed run
--  starts after, default 0), `tty` (force terminal mode on or off)
-- @treturn Progress
function run.Progress(opts)
   opts = opts or {}
   local total = opts.total
   local self = setmetatable({
      total = total,
      every = opts.every or (total and math.max(1, math.ceil(total / 20)) or 100),
      out = opts.out or io.stdout,
      start = opts.start or 0,
      t0 = clock(),
      last_draw = -math.huge,
      width = 0,
   }, Progress)
   if opts.tty ~= nil then self.tty = opts.tty else self.tty = is_terminal(self.out) end
   if self.tty then self.columns = terminal_width() end
   return self
end

--- The text of the progress line: step (of total, with percentage and ETA), elapsed time,
-- images per second and the last scalars, sorted by name.
-- @tparam[opt] boolean bar with a 20-character bar after the step
-- @treturn string
function Progress:line(bar)
   local step, total = self.step, self.total
   local elapsed = clock() - self.t0
   local parts = {}
   if total then
      local frac = math.min(1, math.max(0, step / total))
      local head = ("step %d/%d"):format(step, total)
      if bar then
         local n = 20
         local full = math.floor(frac * n + 1e-9)
         head = head .. " [" .. ("#"):rep(full) .. ("."):rep(n - full) .. "]"
      end
      local done = step - self.start
      local eta = done > 0 and elapsed > 0 and (total - step) * elapsed / done or 0 / 0
      parts[1] = ("%s %3d%% %s ETA %s"):format(head, math.floor(frac * 100),
         duration(elapsed), step >= total and "0s" or duration(eta))
   else
      parts[1] = ("step %d %s"):format(step, duration(elapsed))
   end
   local scalars = self.scalars or {}
   if type(scalars.imgs_per_s) == "number" then
      parts[#parts + 1] = ("%.1f img/s"):format(scalars.imgs_per_s)
   end
   local keys = {}
   for k, v in pairs(scalars) do
      if k ~= "imgs_per_s" and (type(v) == "number" or type(v) == "userdata") then
         keys[#keys + 1] = k
      end
   end
   table.sort(keys)
   local kv = {}
   for _, k in ipairs(keys) do
      local v = scalars[k]
      if type(v) == "userdata" then v = v:item() end
      kv[#kv + 1] = ("%s %.4g"):format(k, v)
   end
   if #kv > 0 then parts[#parts + 1] = table.concat(kv, " ") end
   return table.concat(parts, " | ")
end

local function draw(self)
   local text = self:line(true)
   if #text > self.columns - 1 then text = text:sub(1, self.columns - 1) end
   local pad = math.max(0, self.width - #text)
   self.out:write("\r", text, (" "):rep(pad))
   self.out:flush()
   self.width = #text
   self.last_draw = clock()
   self.drawn = self.step
end

--- Records the state after `step` and redraws or prints as due.
-- @tparam int step
-- @tparam[opt] table scalars name -> number (`imgs_per_s` is shown as images/s)
function Progress:update(step, scalars)
   self.step, self.scalars = step, scalars
   local last = self.total and step >= self.total
   if self.tty then
      if last or clock() - self.last_draw >= 0.1 then draw(self) end
   elseif step % self.every == 0 or last then
      self.out:write(self:line(false), "\n")
      self.out:flush()
      self.printed = step
   end
end

--- Writes a line of its own (a warning) above the display; on a terminal the progress
-- line is redrawn below it.
-- @tparam string text
function Progress:note(text)
   if self.tty and self.width > 0 then
      self.out:write("\r", (" "):rep(self.width), "\r")
      self.width = 0
   end
   self.out:write(text, "\n")
   if self.tty and self.step then draw(self) end
   self.out:flush()
end

--- Finishes the display: the final state is shown and the line ended.
function Progress:close()
   if not self.step then return end
   if self.tty then
      if self.drawn ~= self.step or self.width == 0 then draw(self) end
      self.out:write("\n")
      self.out:flush()
   elseif self.printed ~= self.step then
      self.out:write(self:line(false), "\n")
      self.out:flush()
      self.printed = self.step
   end
   self.step = nil
end

--- The start of an experiment script: resolves the config and opens the run directory.
-- `--resume RUN_DIR` reopens that run with its own config.yaml (other arguments are
-- then an error: they would not continue the same run, except `--strict-health`, which
-- sets health.strict, stopping at a health warning);
-- otherwise `--config FILE` and `--set k=v` resolve the defaults and a new run directory
-- `<cfg.run.root>/<experiment>/<cfg.run.name or a timestamp>` is created. Sets the thread
-- count and the default generator's seed from cfg.train.threads (0: the machine's cores,
-- shared among the ranks under mpirun) / cfg.train.seed. Under mpirun (gan.dist) MPI is
-- initialised first and only rank 0 creates the run directory (the others get no run,
-- or the reopened run when resuming).
-- opts.prepare(cfg, resumed), if given, runs after that (on every rank) and before a new
-- run directory is created: whatever can fail on a bad config (building the data and the
-- model) belongs there, so that a failing start leaves no run directory behind.
-- @tparam string experiment the experiment's name (the run's parent folder, and the name
--  errors start with)
-- @tparam table defaults the config defaults (gan.config)
-- @tparam[opt] table argv the script's `arg` (argv[0] names the script in --help)
-- @tparam[opt] table opts `prepare` (function(cfg, resumed), default none)
-- @treturn table cfg
-- @treturn Run run (nil on ranks other than 0 of a new run)
-- @treturn boolean whether the run is being resumed
function run.from_args(experiment, defaults, argv, opts)
   require("gan.dist").init()   -- under mpirun: MPI first (a single process: nothing)
   local args = table.move(argv or {}, 1, #(argv or {}), 1, {})
   local resume, strict
   for i = #args, 1, -1 do
      if args[i] == "--strict-health" then   -- stop the run at its first health warning
         strict = true
         table.remove(args, i)
      elseif args[i] == "--resume" then
         resume = args[i + 1]
         if not resume then error(experiment .. ": --resume needs a run directory", 0) end
         table.remove(args, i + 1)
         table.remove(args, i)
      end
   end
   local cfg, r
   if resume then
      if #args > 0 then
         error(("%s: --resume continues a run with its own config.yaml; other arguments are not "
            .. "allowed (%s)"):format(experiment, table.concat(args, " ")), 0)
      end
      if not files.exists(resume .. "/config.yaml") then
         error(("%s: --resume %s: no config.yaml there, so not a run directory"):format(experiment, resume), 0)
      end
      r = run.open(resume, defaults)
      cfg = r.config
   else
      local script = argv and argv[0] or experiment
      cfg = config.from_args(defaults, args, { usage = "gan run " .. tostring(script), options = {
         "--resume RUN_DIR     continue that run from its latest checkpoint (with its own config)",
         "--strict-health      stop at the first training-health warning" } })
   end
   if strict then
      if type(cfg.health) ~= "table" then error(experiment .. ": --strict-health: this config has no health section", 0) end
      cfg.health.strict = true
   end
   local core, dist = require("gan.core"), require("gan.dist")
   if cfg.train and cfg.train.threads then
      core.set_num_threads(cfg.train.threads > 0 and cfg.train.threads or dist.default_threads())
   end
   if cfg.train and cfg.train.seed then core.manual_seed(cfg.train.seed) end
   if opts and opts.prepare then opts.prepare(cfg, resume ~= nil) end
   if not r and dist.is_main() then
      r = run.new { experiment = experiment, name = cfg.run and cfg.run.name, root = cfg.run and cfg.run.root,
         config = cfg, argv = argv }
   end
   return cfg, r, resume ~= nil
end

return run
