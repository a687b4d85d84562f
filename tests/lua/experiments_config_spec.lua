-- Issue 25, configs: every experiment script in experiments/ declares a range or a choice
-- set for each value of its config (the model experiments through their model's
-- defaults, the studies in their own from_args call), refuses a value outside it naming
-- the --set and the key before anything runs, and every experiments/*.yaml resolves for
-- the scripts its usage lines name. The scripts are run in this process with
-- gan.config.from_args replaced, so that nothing after the config is ever reached.
local gan = require("gan")
local config = gan.config
local lfs = require("lfs")

local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "hardening_helpers.lua")
local read_all = H.read_all

local DIR = "experiments/"

-- The scripts that resolve a config (hello.lua has none), and the YAML files.
local scripts, yamls = {}, {}
for f in lfs.dir(DIR) do
   if f:match("%.lua$") then
      local text = read_all(DIR .. f)
      if text:find("gan.config.from_args", 1, true) or text:find("gan.train.experiment", 1, true) then
         scripts[#scripts + 1] = f
      end
   elseif f:match("%.yaml$") then
      yamls[#yamls + 1] = f
   end
end
table.sort(scripts)
table.sort(yamls)

-- Keys that take any string: paths, and the model's own name (gan.train.experiment
-- refuses another).
local FREE = { root = true, run = true, checkpoint = true, out = true, ["run.root"] = true, ["model.name"] = true }

local STOP = setmetatable({}, { __tostring = function() return "stopped at the config" end })

-- Runs the script with these arguments; its call of config.from_args goes to
-- with(from_args, defaults, args) instead, which must raise (STOP or the config's error).
local function run_script(name, argv, with)
   local real, saved = config.from_args, _G.arg
   config.from_args = function(defaults, args) return with(real, defaults, args) end
   argv[0] = DIR .. name
   _G.arg = argv
   local ok, err = pcall(dofile, DIR .. name)
   config.from_args, _G.arg = real, saved
   assert(not ok, name .. ": the script ran past its config")
   return err
end

-- The defaults a script resolves its config from.
local declared = {}
local function defaults_of(name)
   if not declared[name] then
      local err = run_script(name, {}, function(_, defaults)
         declared[name] = defaults
         error(STOP, 0)
      end)
      assert(err == STOP, name .. ": " .. tostring(err))
   end
   return declared[name]
end

-- A value text outside what entry e (config.describe) allows, or nil when there is none
-- to try (booleans, free strings).
local function outside(e)
   if e.interval then
      local lo, hi = e.interval:match("^[%[(]%s*([^,]+),%s*([^%])]+)[%])]$")
      local x
      if lo ~= "-inf" then
         x = tonumber(lo) - (e.interval:sub(1, 1) == "[" and 1 or 0)
      else
         x = tonumber(hi) + (e.interval:sub(-1) == "]" and 1 or 0)
      end
      if e.type == "integer" then x = math.tointeger(x) end
      local text = config.format_number(x)
      return e.type == "list" and "[" .. text .. "]" or text
   elseif e.choices then
      if type(e.choices[1]) == "number" then
         local m = -math.huge
         for _, c in ipairs(e.choices) do m = math.max(m, c) end
         return tostring(m + 1)
      end
      return "no_such_choice"
   elseif e.what and e.type == "string" then
      return "'../no such'"
   end
   return nil
end

describe("experiment scripts", function()
   it("are all found", function()
      assert.is_true(#scripts >= 26, "only " .. #scripts .. " scripts")
   end)

   it("declare a range or choices for every value", function()
      for _, name in ipairs(scripts) do
         for _, e in ipairs(config.describe(defaults_of(name))) do
            if e.type ~= "boolean" and not FREE[e.key] then
               assert.is_not_nil(e.allowed, name .. ": " .. e.key .. " declares no range or choices")
            end
         end
      end
   end)

   it("refuse every value outside its declaration by the --set and the key, before anything runs", function()
      local tried = 0
      for _, name in ipairs(scripts) do
         for _, e in ipairs(config.describe(defaults_of(name))) do
            local bad = outside(e)
            if bad then
               local set = e.key .. "=" .. bad
               local err = run_script(name, { "--set", set }, function(from_args, defaults, args)
                  from_args(defaults, args)
                  error(("%s: --set %s was accepted"):format(name, set), 0)
               end)
               local want = ("--set %s: %s%s: expected "):format(set, e.key, e.type == "list" and "[1]" or "")
               assert.are.equal(want, tostring(err):sub(1, #want), name)
               tried = tried + 1
            end
         end
      end
      assert.is_true(tried > 500, "only " .. tried .. " values tried")
   end)
end)

describe("experiment config files", function()
   it("resolve for every script their usage lines name", function()
      for _, y in ipairs(yamls) do
         local users = {}
         for script in read_all(DIR .. y):gmatch("gan run experiments/([%w_]+%.lua) %-%-config experiments/"
            .. y:gsub("%p", "%%%0")) do
            users[#users + 1] = script
         end
         assert.is_true(#users > 0, y .. " names no script that uses it")
         for _, script in ipairs(users) do
            local cfg = config.resolve(defaults_of(script), { file = DIR .. y,
               note = function(m) error(y .. ": " .. m, 0) end })
            assert.is_table(cfg, y)
         end
      end
   end)
end)
