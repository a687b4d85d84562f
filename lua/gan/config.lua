--- Experiment configs: Lua defaults, then a YAML file, then settings from the command line.
--
-- A YAML file goes on top of the defaults and `--set key=value` on top of that.
--
--     local config = require("gan.config")
--     local defaults = {
--        seed = 1,
--        train = {steps = 10000, batch_size = 64, lr = 2e-4, betas = {0.5, 0.999}},
--        data = {root = "data/mnist", max_images = config.optional("integer")},
--     }
--     local cfg, rest = config.from_args(defaults, arg)   -- --config FILE, --set a.b=v
--
-- The defaults declare every key and its type; validation is strict, and errors name the
-- key path, the file and its line (or the `--set` that was wrong):
--
--     exp.yaml:4: train.lrr: unknown key (train has: batch_size, betas, lr, steps)
--     exp.yaml:5: train.steps: expected an integer, got float 1.5
--     --set train.lr=fast: train.lr: expected a number, got string "fast"
--
-- Types come from the default value: an integer accepts integers only, a float any number
-- (stored as a float), strings, booleans; a table with string keys is a mapping (merged
-- key by key), a table with elements 1..n a list (replaced whole, elements checked
-- against the default's elements; an empty default list takes any scalars).
-- @module gan.config

local yaml = require("yaml")
local files = require("gan.files")

local config = {}

-- ---------------------------------------------------------------------------------------
-- Declared keys: optional keys, ranges, choices and checks
--
-- A default may be a marker instead of a plain value: a table with this metatable holding
-- the key's kind, its default (nil for optional keys) and what values are allowed. The
-- resolved config holds plain values only; every value is checked against its marker
-- when the config is resolved.

local Spec = {}
Spec.__index = Spec
Spec.__name = "gan.config.spec"

local optional_kinds = {string = true, number = true, integer = true, boolean = true,
                        list = true}

local function is_spec(v)
   return getmetatable(v) == Spec
end

local function is_optional(v)
   return is_spec(v) and v.optional
end

-- A value as a message shows it: numbers as YAML writes them, strings quoted.
local function show(v)
   if type(v) == "number" then return config.format_number(v) end
   if type(v) == "string" then return ("'%s'"):format(v) end
   return tostring(v)
end

-- Parses an interval "[lo, hi]", "(0, inf)", "[1, inf)": bounds are numbers or ±inf, each
-- end open or closed.
local function parse_interval(text, fn)
   local open_lo, lo, hi, open_hi = tostring(text):match("^%s*([%[%(])%s*([^,%s]+)%s*,%s*([^,%s%]%)]+)%s*([%]%)])%s*$")
   local function bound(b)
      if b == "inf" or b == "+inf" then return math.huge end
      if b == "-inf" then return -math.huge end
      return tonumber(b)
   end
   lo, hi = open_lo and bound(lo), open_lo and bound(hi)
   if not (lo and hi) or lo > hi then
      error(("%s: an interval looks like \"[0, 1)\" or \"[1, inf)\", got %s"):format(fn, show(text)), 3)
   end
   return {lo = lo, hi = hi, lo_open = open_lo == "(", hi_open = open_hi == ")", interval = text}
end

-- What a spec allows, as words ("an integer in [1, inf)", "one of 'adam', 'rmsprop'"),
-- or nil when its kind is the only constraint.
local function allowed_text(spec)
   if spec.interval then
      local what = spec.kind == "integer" and "an integer" or "a number"
      if spec.kind == "list" then what = "numbers" end
      return ("%s in %s"):format(what, spec.interval)
   end
   if spec.choices then
      local c = {}
      for i, v in ipairs(spec.choices) do c[i] = show(v) end
      return "one of " .. table.concat(c, ", ")
   end
   return spec.what
end

-- nil if v (a plain value of the spec's kind) is allowed, else a message.
local function violation(spec, v)
   if v == nil then return nil end
   if spec.interval then
      local values = type(v) == "table" and v or {v}
      for i, x in ipairs(values) do
         local ok = type(x) == "number" and x == x
            and (spec.lo_open and x > spec.lo or not spec.lo_open and x >= spec.lo)
            and (spec.hi_open and x < spec.hi or not spec.hi_open and x <= spec.hi)
         if not ok then
            local at = type(v) == "table" and ("[%d]"):format(i) or ""
            return ("expected %s, got %s"):format(allowed_text(spec), show(x)), at
         end
      end
   elseif spec.choices then
      for _, c in ipairs(spec.choices) do if c == v then return nil end end
      return ("expected %s, got %s"):format(allowed_text(spec), show(v))
   elseif spec.check and not spec.check(v) then
      return ("expected %s, got %s"):format(spec.what, show(v))
   end
   return nil
end

-- The kind a plain default declares ("integer", "number", "string", "boolean", "list").
local function plain_kind(v)
   local t = type(v)
   if t == "number" then return math.type(v) == "integer" and "integer" or "number" end
   if t == "table" then return "list" end
   return t
end

-- A spec of `kind` (with `default`, may be nil) constrained by `constraint`: an interval
-- string (numbers and lists of numbers), a list of choices, or a predicate function
-- (then `what` describes what it accepts).
local function new_spec(fn, kind, default, constraint, what, optional)
   local spec = setmetatable({kind = kind, default = default, optional = optional}, Spec)
   local ct = type(constraint)
   if ct == "string" then
      if kind ~= "number" and kind ~= "integer" and kind ~= "list" then
         error(("%s: an interval needs a number, an integer or a list of numbers, not a %s"):format(fn, kind), 3)
      end
      for k, x in pairs(parse_interval(constraint, fn)) do spec[k] = x end
   elseif ct == "table" then
      if #constraint == 0 then error(("%s: the list of choices is empty"):format(fn), 3) end
      spec.choices = constraint
   elseif ct == "function" then
      if type(what) ~= "string" then
         error(("%s: a check function needs a description of what it accepts"):format(fn), 3)
      end
      spec.check, spec.what = constraint, what
   elseif constraint ~= nil then
      error(("%s: a constraint is an interval string, a list of choices or a function, got %s"):format(fn, ct), 3)
   end
   local bad = violation(spec, default)
   if bad then error(("%s: the default does not fit: %s"):format(fn, bad), 3) end
   return spec
end

--- Declares a key whose default is nil (absent from the resolved config unless set).
-- `null` (or `~`) in a file or a `--set` sets it back to nil.
-- @tparam string kind "string", "number", "integer", "boolean" or "list" (of scalars)
-- @param[opt] constraint what values are allowed, as for config.range (an interval),
--  config.choice (a list) or config.valid (a function, with `what`)
-- @tparam[opt] string what with a function: what it accepts, in words
-- @return a marker to use as the default value
-- @usage data = {max_images = config.optional("integer", "[1, inf)")}
function config.optional(kind, constraint, what)
   if not optional_kinds[kind] then
      error(("config.optional: kind must be string, number, integer, boolean or list, "
         .. "got %s"):format(tostring(kind)), 2)
   end
   return new_spec("config.optional", kind, nil, constraint, what, true)
end

--- A number (or a list of numbers) with a default and an interval it must lie in: "[a, b]"
-- includes both ends, "(a, b)" neither; "inf" and "-inf" are the open ends. NaN is never
-- in an interval. The default's type is the key's type, as for a plain default.
-- @usage train = {lr = config.range(2e-4, "[0, inf)"), beta1 = config.range(0.5, "[0, 1)"),
--  steps = config.range(1000, "[1, inf)")}
-- @tparam number|{number,...} default
-- @tparam string interval e.g. "[0, 1)"
-- @treturn table the key's spec, used as a default
-- @raise when the default is not a number or a list of numbers, or the interval is malformed
function config.range(default, interval)
   local kind = plain_kind(default)
   if kind ~= "number" and kind ~= "integer" and kind ~= "list" then
      error(("config.range: the default must be a number or a list of numbers, got %s"):format(type(default)), 2)
   end
   return new_spec("config.range", kind, default, interval)
end

--- A value with a default and the list of values it may take (of the default's type).
-- @usage train = {loss = config.choice("nonsaturating", {"nonsaturating", "lsgan", "wgan"})}
-- @param default
-- @tparam table choices a list, of the default's type
-- @treturn table the key's spec, used as a default
-- @raise when choices is not a list of the default's type
function config.choice(default, choices)
   if type(choices) ~= "table" then error("config.choice: choices must be a list", 2) end
   for _, c in ipairs(choices) do
      if plain_kind(c) ~= plain_kind(default) and not (type(c) == "number" and type(default) == "number") then
         error(("config.choice: choice %s is not of the default's type"):format(show(c)), 2)
      end
   end
   return new_spec("config.choice", plain_kind(default), default, choices)
end

--- A value with a default and a predicate it must satisfy; `what` says in words what it
-- accepts (error messages and listings use it).
-- @usage data = {name = config.valid("mnist", is_dataset, "mnist, emoji or a directory of images")}
-- @param default
-- @tparam function check check(value) -> true when the value is accepted
-- @tparam string what
-- @treturn table the key's spec, used as a default
function config.valid(default, check, what)
   if type(check) ~= "function" then error("config.valid: check must be a function", 2) end
   return new_spec("config.valid", plain_kind(default), default, check, what)
end

-- ---------------------------------------------------------------------------------------
-- Lua values

-- True for a table that is a list: empty, or keys exactly 1..n.
local function is_list(t)
   local n = 0
   for _ in pairs(t) do n = n + 1 end
   return n == #t
end

-- A mapping in a defaults table: a table that is neither a marker nor a non-empty list.
local function is_mapping(v)
   return type(v) == "table" and not is_spec(v) and not (next(v) ~= nil and is_list(v))
end

local function deep_copy(v)
   if is_spec(v) then return deep_copy(v.default) end
   if type(v) ~= "table" then return v end
   local c = {}
   for k, x in pairs(v) do c[k] = deep_copy(x) end
   return c
end

-- The kind a default value declares.
local function kind_of(v)
   if is_spec(v) then return v.kind end
   local t = type(v)
   if t == "number" then return math.type(v) == "integer" and "integer" or "number" end
   if t == "table" then return is_list(v) and "list" or "mapping" end
   return t
end

-- ---------------------------------------------------------------------------------------
-- YAML: a tree of nodes that remember their 1-based line
--   {kind = "scalar", value =, quoted =, line =}
--   {kind = "seq", line =, items = {node...}}
--   {kind = "map", line =, keys = {string...}, values = {key -> node}, key_lines = {key -> line}}

local where_mt = {}

-- Raises a config error: "<where>: <path>: <message>" (where = "file:line" or "--set ...").
local function fail(where, path, fmt, ...)
   local msg = fmt:format(...)
   if path and path ~= "" then msg = path .. ": " .. msg end
   error(setmetatable({message = where .. ": " .. msg}, where_mt), 0)
end

-- The most values a YAML document may stand for once its aliases are expanded: a file of
-- a few hundred bytes can otherwise nest aliases into billions of values (and minutes of
-- work and gigabytes of memory, for config.load or a config).
config.MAX_YAML_VALUES = 100000

-- where(line) names a place: "file:line", or the override for `--set` values.
local function build_tree(text, where)
   local stack, anchors, root = {}, {}, nil
   local docs = 0
   local function line_of(ev) return ev.start_mark.line + 1 end
   local function add(node, ev)
      if ev.anchor then anchors[ev.anchor] = node end
      local top = stack[#stack]
      if not top then
         root = node
      elseif top.kind == "seq" then
         top.items[#top.items + 1] = node
      elseif top.pending == nil then   -- a key
         if node.kind ~= "scalar" then
            fail(where(node.line), nil, "mapping keys must be scalars")
         end
         if top.values[node.value] then
            fail(where(node.line), nil, "duplicate key '%s'", node.value)
         end
         top.pending = node
      else
         local key = top.pending
         top.keys[#top.keys + 1] = key.value
         top.values[key.value], top.key_lines[key.value] = node, key.line
         top.pending = nil
      end
   end
   local ok, err = pcall(function()
      for ev in yaml.parser(text) do
         local t = ev.type
         if t == "DOCUMENT_START" then
            docs = docs + 1
            if docs > 1 then
               fail(where(line_of(ev)), nil, "more than one YAML document")
            end
         elseif t == "SCALAR" then
            add({kind = "scalar", value = ev.value, quoted = ev.style ~= "PLAIN",
                 line = line_of(ev), size = 1}, ev)
         elseif t == "ALIAS" then
            local node = anchors[ev.anchor]
            if not node then
               fail(where(line_of(ev)), nil, "unknown alias *%s", ev.anchor)
            end
            if not node.size then
               fail(where(line_of(ev)), nil, "alias *%s refers to a node that contains it", ev.anchor)
            end
            add(node, ev)
         elseif t == "SEQUENCE_START" or t == "MAPPING_START" then
            local node = t == "SEQUENCE_START"
               and {kind = "seq", items = {}, line = line_of(ev)}
               or {kind = "map", keys = {}, values = {}, key_lines = {}, line = line_of(ev)}
            add(node, ev)
            stack[#stack + 1] = node
         elseif t == "SEQUENCE_END" or t == "MAPPING_END" then
            -- the values this node stands for, aliases expanded (keys count one each)
            local node, size = stack[#stack], 1
            for _, item in ipairs(node.items or {}) do size = size + item.size end
            for _, k in ipairs(node.keys or {}) do size = size + 1 + node.values[k].size end
            if size > config.MAX_YAML_VALUES then
               fail(where(node.line), nil, "the YAML expands to more than %d values through its aliases",
                  config.MAX_YAML_VALUES)
            end
            node.size = size
            stack[#stack] = nil
         end
      end
   end)
   if not ok then
      if getmetatable(err) == where_mt then error(err, 0) end
      -- lyaml: "<problem> at document: 1, line: 3, column: 2\n<context> at line: 2, ..."
      local msg = tostring(err):gsub("%s+$", "")
      local line = tonumber(msg:match("line: (%d+)"))
      msg = msg:gsub(" at document: %d+, line: %d+, column: %d+", ""):gsub(" at document: %d+", "")
         :gsub("\n", " "):gsub(" at line: (%d+), column: %d+", " at line %1")
      -- A --set value has no lines worth naming.
      if where(1) == where(2) then msg = msg:gsub(" at line %d+", "") end
      fail(where(line), nil, "malformed YAML: %s", msg)
   end
   return root
end

-- The value of a plain scalar under YAML 1.2's core schema (quoted scalars are strings).
local function plain_value(s)
   if s == "" or s == "~" or s == "null" or s == "Null" or s == "NULL" then return nil end
   if s == "true" or s == "True" or s == "TRUE" then return true end
   if s == "false" or s == "False" or s == "FALSE" then return false end
   if s:match("^[-+]?%d+$") then
      local n = math.tointeger(tonumber(s))
      if n then return n end
      return tonumber(s)   -- too big for an integer: a float
   end
   local mantissa = s:match("^[-+]?([%d.]+)[eE][-+]?%d+$") or s:match("^[-+]?([%d.]+)$")
   if mantissa and (mantissa:match("^%d+%.?%d*$") or mantissa:match("^%.%d+$")) then
      return tonumber(s) + 0.0
   end
   local sign, special = s:match("^([-+]?)%.(%a+)$")
   if special then
      special = special:lower()
      if special == "inf" then return sign == "-" and -math.huge or math.huge end
      if special == "nan" and sign == "" then return 0 / 0 end
   end
   return s
end

local function scalar_value(node)
   if node.quoted then return node.value end
   return plain_value(node.value)
end

local function describe(node)
   if node.kind == "seq" then return "a list" end
   if node.kind == "map" then return "a mapping" end
   local v = scalar_value(node)
   if v == nil then return "null" end
   if type(v) == "string" then
      -- a long string (a whole file that is not YAML) is shown by its start
      if #v > 60 then return ("string %q... (%d characters)"):format(v:sub(1, 60), #v) end
      return ("string %q"):format(v)
   end
   if math.type(v) == "integer" then return "integer " .. v end
   if type(v) == "number" then return "float " .. config.format_number(v) end
   return "boolean " .. tostring(v)
end

-- Any node as a plain Lua value (for untyped list elements and config.load).
local function plain(node)
   if node.kind == "scalar" then return scalar_value(node) end
   local t = {}
   if node.kind == "seq" then
      for i, item in ipairs(node.items) do t[i] = plain(item) end
   else
      for _, k in ipairs(node.keys) do t[k] = plain(node.values[k]) end
   end
   return t
end

-- ---------------------------------------------------------------------------------------
-- Validation

local article = {integer = "an integer", number = "a number", string = "a string",
                 boolean = "a boolean", list = "a list", mapping = "a mapping"}

local function sorted_keys(t)
   local keys = {}
   for k in pairs(t) do keys[#keys + 1] = tostring(k) end
   table.sort(keys)
   return keys
end

local convert

-- Merges mapping node into target (a table) as declared by template.
local function merge(target, template, node, path, where)
   for _, key in ipairs(node.keys) do
      local sub = path == "" and key or path .. "." .. key
      local w = where(node.key_lines[key])
      local tmpl = template[key]
      if tmpl == nil then
         fail(w, sub, "unknown key (%s has: %s)", path == "" and "the config" or path,
            table.concat(sorted_keys(template), ", "))
      end
      local child = node.values[key]
      if kind_of(tmpl) == "mapping" then
         -- `train:` with all its lines commented out: nothing to change.
         if child.kind == "scalar" and scalar_value(child) == nil then goto continue end
         if child.kind ~= "map" then
            fail(where(child.line), sub, "expected a mapping, got %s", describe(child))
         end
         if type(target[key]) ~= "table" then target[key] = {} end
         merge(target[key], tmpl, child, sub, where)
      else
         target[key] = convert(tmpl, child, sub, where)
      end
      ::continue::
   end
end

-- The value of node checked against template (a default value or an optional marker).
function convert(template, node, path, where)
   local kind = kind_of(template)
   local w = where(node.line)
   if kind == "mapping" then
      if node.kind ~= "map" then fail(w, path, "expected a mapping, got %s", describe(node)) end
      local t = deep_copy(template)
      merge(t, template, node, path, where)
      return t
   end
   if kind == "list" then
      if node.kind == "scalar" and scalar_value(node) == nil and is_optional(template) then
         return nil
      end
      if node.kind ~= "seq" then fail(w, path, "expected a list, got %s", describe(node)) end
      local base = is_spec(template) and template.default or template   -- the default list, if any
      local elem = base and base[1]
      -- Numbers of both kinds among the defaults: any number will do.
      if elem ~= nil and math.type(elem) == "integer" then
         for _, e in ipairs(base) do
            if math.type(e) == "float" then elem = 0.0 end
         end
      end
      local out = {}
      for i, item in ipairs(node.items) do
         local sub = ("%s[%d]"):format(path, i)
         if elem then
            out[i] = convert(elem, item, sub, where)
         elseif item.kind ~= "scalar" then
            fail(where(item.line), sub, "expected a scalar, got %s", describe(item))
         else
            out[i] = scalar_value(item)
            if out[i] == nil then fail(where(item.line), sub, "expected a scalar, got null") end
         end
      end
      if is_spec(template) then
         local bad, at = violation(template, out)
         if bad then fail(w, path .. (at or ""), "%s", bad) end
      end
      return out
   end
   if node.kind ~= "scalar" then
      fail(w, path, "expected %s, got %s", article[kind], describe(node))
   end
   local v = scalar_value(node)
   if v == nil and is_optional(template) then return nil end
   local ok
   if kind == "integer" then ok = math.type(v) == "integer"
   elseif kind == "number" then ok = type(v) == "number"; if ok then v = v + 0.0 end
   else ok = type(v) == kind end
   if not ok then
      local hint = (kind == "string" and v ~= nil) and " (quote it to make it a string)" or ""
      fail(w, path, "expected %s, got %s%s", article[kind], describe(node), hint)
   end
   if is_spec(template) then
      local bad = violation(template, v)
      if bad then fail(w, path, "%s", bad) end
   end
   return v
end

-- Applies one "a.b.c=value" override to cfg.
local function apply_override(cfg, defaults, text)
   local where = function() return "--set " .. text end
   local key, value = text:match("^([^=]*)=(.*)$")
   if not key or not key:match("^[%w_%-]+[%w_%-.]*$") or key:match("%.%.") or key:match("%.$") then
      fail("--set " .. text, nil,
         "expected KEY=VALUE with a dotted key path, e.g. --set train.lr=1e-4")
   end
   local node = build_tree(value, where)
      or {kind = "scalar", value = "", quoted = false, line = 1}
   -- Walk to the parent mapping; then merge a one-key mapping node into it.
   local target, template, path = cfg, defaults, ""
   local parts = {}
   for part in key:gmatch("[^.]+") do parts[#parts + 1] = part end
   for i = 1, #parts - 1 do
      local part = parts[i]
      local sub = path == "" and part or path .. "." .. part
      if template[part] == nil then
         fail(where(), sub, "unknown key (%s has: %s)", path == "" and "the config" or path,
            table.concat(sorted_keys(template), ", "))
      end
      if kind_of(template[part]) ~= "mapping" then
         fail(where(), sub, "is %s, not a mapping", article[kind_of(template[part])])
      end
      template, path = template[part], sub
      if type(target[part]) ~= "table" then target[part] = {} end
      target = target[part]
   end
   local last = parts[#parts]
   merge(target, template, {kind = "map", keys = {last}, values = {[last] = node},
      key_lines = {[last] = 1}}, path, where)
end

local function file_where(path)
   return function(line) return line and ("%s:%d"):format(path, line) or path end
end

local function read_file(path)
   local text, err = files.read(path)
   if not text then error(("config: cannot read %s"):format(err), 0) end
   return text
end

local function unwrap(ok, err)
   if ok then return end
   if getmetatable(err) == where_mt then error(err.message, 0) end
   error(err, 0)
end

-- A plain Lua value as a tree node, for config.resolve's opts.values (scalars are taken
-- as they are, as a quoted YAML scalar would be).
local function node_of(v)
   if type(v) ~= "table" then return {kind = "scalar", value = v, quoted = true, line = 1} end
   if next(v) ~= nil and is_list(v) then
      local items = {}
      for i, x in ipairs(v) do items[i] = node_of(x) end
      return {kind = "seq", items = items, line = 1}
   end
   local node = {kind = "map", keys = sorted_keys(v), values = {}, key_lines = {}, line = 1}
   for _, k in ipairs(node.keys) do node.values[k], node.key_lines[k] = node_of(v[k]), 1 end
   return node
end

-- Checks every value of cfg against the markers of defaults: values from a file, `values`
-- or an override were checked as they were read, so this catches defaults that bypassed
-- config.merge (a plain table built by hand over a marker's key).
local function check_declared(cfg, defaults, path)
   for k, tmpl in pairs(defaults) do
      local sub = path == "" and tostring(k) or path .. "." .. tostring(k)
      if is_spec(tmpl) then
         local bad, at = violation(tmpl, cfg[k])
         if bad then fail("defaults", sub .. (at or ""), "%s", bad) end
      elseif is_mapping(tmpl) and type(cfg[k]) == "table" then
         check_declared(cfg[k], tmpl, sub)
      end
   end
end

--- Resolves a config: a copy of the defaults, then the YAML file, then `values`, then the
-- overrides. Every value is checked against the type of its default and against what
-- the key's marker allows (config.range, config.choice, config.valid, config.optional).
-- @tparam table defaults the experiment's defaults (not modified)
-- @tparam[opt] table opts `file` (a YAML path or nil), `values` (a Lua table of settings,
--  checked as a file's are: `{train = {steps = 10}}`), `overrides` ({"a.b=v", ...}),
--  `note` (function(message) told when the file has no settings; default: a line on
--  stderr)
-- @treturn table the resolved config
-- @raise a message naming the file and line (or the override) and the key path
function config.resolve(defaults, opts)
   assert(type(defaults) == "table", "config.resolve: defaults must be a table")
   opts = opts or {}
   local cfg = deep_copy(defaults)
   unwrap(pcall(function()
      if opts.file then
         local where = file_where(opts.file)
         local root = build_tree(read_file(opts.file), where)
         if not root or (root.kind == "scalar" and scalar_value(root) == nil) then
            -- it changes nothing, which may not be what was meant (the wrong file?): say so
            local note = opts.note or function(msg) io.stderr:write("gan.config: ", msg, "\n") end
            note(("%s has no settings (it is empty or all comments): the defaults are used"):format(opts.file))
         else
            if root.kind ~= "map" then
               fail(where(root.line), nil, "the top level must be a mapping, got %s",
                  describe(root))
            end
            merge(cfg, defaults, root, "", where)
         end
      end
      if opts.values ~= nil then
         if type(opts.values) ~= "table" then fail("values", nil, "expected a table, got %s", type(opts.values)) end
         merge(cfg, defaults, node_of(opts.values), "", function() return "values" end)
      end
      for _, o in ipairs(opts.overrides or {}) do apply_override(cfg, defaults, o) end
      check_declared(cfg, defaults, "")
   end))
   return cfg
end

-- spec with another default (its constraint kept); path names the key in errors.
local function with_default(spec, v, path)
   local kind = plain_kind(v)
   if kind ~= spec.kind and not (spec.kind == "number" and kind == "integer") then
      error(("config.merge: %s: the default must be %s, got %s"):format(path, article[spec.kind], show(v)), 0)
   end
   if spec.kind == "number" then v = v + 0.0 end
   local out = setmetatable({}, Spec)
   for k, x in pairs(spec) do out[k] = x end
   out.default = v
   local bad = violation(out, v)
   if bad then error(("config.merge: %s: the default does not fit: %s"):format(path, bad), 0) end
   return out
end

local function merge_defaults(base, over, path)
   local out = {}
   for k, v in pairs(base) do out[k] = v end
   for k, v in pairs(over or {}) do
      local b, sub = out[k], path == "" and tostring(k) or path .. "." .. tostring(k)
      if is_mapping(v) and is_mapping(b) then
         out[k] = merge_defaults(b, v, sub)
      elseif is_spec(b) and not is_spec(v) and not is_mapping(v) then
         out[k] = with_default(b, v, sub)   -- a new default within the same declared range
      else
         out[k] = v
      end
   end
   return out
end

--- A new table: `base` with `over` merged in, mappings key by key (recursively), every
-- other value (lists, scalars, markers) taken whole from `over`; neither is modified
-- (their values are shared, not copied). A plain value over a marker (config.range,
-- config.choice, ...) keeps the marker's constraint with the new default, which must fit
-- it. For layering defaults: a model's on the loop's, an experiment's on the model's.
-- @tparam table base
-- @tparam[opt] table over
-- @treturn table
-- @raise "config.merge: train.steps: the default does not fit: ..."
function config.merge(base, over)
   local ok, out = pcall(merge_defaults, base, over, "")
   if not ok then error(out, 2) end
   return out
end

--- Every key a defaults table declares, with its default, type and what it allows,
-- sorted by key: for listings such as an experiment's `--help`.
-- @tparam table defaults
-- @treturn {table,...} entries {key = "train.lr", default = 0.0002, type = "number",
--  optional = false, allowed = "a number in [0, inf)" (nil when any value of the type
--  will do), interval = "[0, inf)", choices = {...}, what = "..." (whichever applies)}
function config.describe(defaults)
   local out = {}
   local function walk(t, path)
      for _, k in ipairs(sorted_keys(t)) do
         local v, key = t[k], path == "" and k or path .. "." .. k
         if is_mapping(v) and next(v) ~= nil then
            walk(v, key)
         else
            local e = {key = key, type = kind_of(v), optional = is_optional(v) or false}
            if is_spec(v) then
               e.default, e.allowed = deep_copy(v.default), allowed_text(v)
               e.interval, e.what = v.interval, v.what
               e.choices = v.choices and deep_copy(v.choices)
            else
               e.default = deep_copy(v)
            end
            out[#out + 1] = e
         end
      end
   end
   walk(defaults, "")
   return out
end

--- Reads a YAML file as plain Lua values, without defaults or validation.
-- @tparam string path
-- @treturn table
function config.load(path)
   local root
   unwrap(pcall(function() root = build_tree(read_file(path), file_where(path)) end))
   return root and plain(root) or {}
end

--- The help of a script's config: its options and every key with its default and what
-- it allows (config.describe). o: usage (the command line's start), options (more
-- "--name ARG  what it does" lines, e.g. an experiment's --resume).
-- @tparam table defaults
-- @tparam[opt] table o `usage`, `options`
-- @treturn string
function config.help(defaults, o)
   o = o or {}
   local lines = { ("usage: %s [--config FILE] [--set KEY=VALUE ...]"):format(o.usage or "gan run SCRIPT"), "",
      "options:",
      "  --config FILE       a YAML file of settings over the defaults",
      "  --set KEY=VALUE     one setting (after the file), e.g. --set train.steps=100",
      "  --help              this help" }
   for _, l in ipairs(o.options or {}) do lines[#lines + 1] = "  " .. l end
   lines[#lines + 1] = ""
   lines[#lines + 1] = "settings (key, default, allowed):"
   local entries, width = config.describe(defaults), 0
   for _, e in ipairs(entries) do width = math.max(width, #e.key) end
   for _, e in ipairs(entries) do
      local default = e.default == nil and "(none)" or type(e.default) == "table"
         and "[" .. table.concat((function() local t = {} for i, v in ipairs(e.default) do t[i] = show(v) end return t end)(), ", ") .. "]"
         or show(e.default)
      lines[#lines + 1] = ("  %-" .. width .. "s  %-14s %s"):format(e.key, default, e.allowed or e.type)
   end
   return table.concat(lines, "\n") .. "\n"
end

-- The error for an argument a script does not take, with the key it may have meant.
local function unknown_argument(defaults, a, o)
   local word = a:match("^%-%-?([%w_]+)")
   local hint = ""
   if word then
      for _, e in ipairs(config.describe(defaults)) do
         if e.key == word or e.key:match("%.([^.]+)$") == word then
            hint = (" (did you mean --set %s=...?)"):format(e.key)
            break
         end
      end
   end
   local extra = {}
   for _, l in ipairs(o.options or {}) do extra[#extra + 1] = l:match("^(%S+)") end
   return ("unknown argument '%s'%s; this script takes --config FILE, --set KEY=VALUE%s and --help "
      .. "(which lists every key)"):format(a, hint, #extra > 0 and ", " .. table.concat(extra, ", ") or "")
end

--- Resolves a script's config from its command line.
-- Reads `--config FILE` (or `--config=FILE`) and any number of `--set KEY=VALUE` (or
-- `--set=KEY=VALUE`); `--` ends the options and the words after it are returned.
-- `--help` (or `-h`) prints config.help and exits; any other argument is an error naming
-- it (and the key it may have meant).
-- @tparam table defaults
-- @tparam table args the script's `arg` (elements 1..n are read)
-- @tparam[opt] table o usage, options: as for config.help
-- @treturn table the resolved config
-- @treturn table the arguments after `--`, in order
-- @treturn[opt] string the config file, if one was given
function config.from_args(defaults, args, o)
   o = o or {}
   local file, overrides, rest = nil, {}, {}
   local i, n = 1, #(args or {})
   while i <= n do
      local a = args[i]
      local opt, inline = a:match("^(%-%-[%w-]+)=(.*)$")
      opt = opt or a
      if a == "--" then
         table.move(args, i + 1, n, #rest + 1, rest)
         break
      elseif opt == "--help" or opt == "-h" then
         io.write(config.help(defaults, o))
         os.exit(0)
      elseif opt == "--config" or opt == "--set" then
         local v = inline
         if not v then
            i = i + 1
            v = args[i]
            if v == nil then error(("%s needs an argument"):format(opt), 0) end
         end
         if opt == "--set" then
            overrides[#overrides + 1] = v
         elseif file then
            error(("--config given twice (%s and %s)"):format(file, v), 0)
         else
            file = v
         end
      else
         error(unknown_argument(defaults, a, o), 0)
      end
      i = i + 1
   end
   return config.resolve(defaults, {file = file, overrides = overrides}), rest, file
end

-- ---------------------------------------------------------------------------------------
-- Writing

--- The shortest "%.Ng" that reads back as exactly x, as a YAML/JSON number.
-- @tparam number x
-- @treturn string
function config.format_number(x)
   if math.type(x) == "integer" then return tostring(x) end
   if x ~= x then return ".nan" end
   if x == math.huge then return ".inf" end
   if x == -math.huge then return "-.inf" end
   local s
   for digits = 15, 17 do
      s = ("%." .. digits .. "g"):format(x)
      if tonumber(s) == x then break end
   end
   if not s:find("[.eEn]") then s = s .. ".0" end   -- keep it a float when read back
   return s
end

local function needs_quotes(s)
   if not s:match("^[%a_][%w_%-./]*$") then return true end
   local lower = s:lower()
   -- YAML 1.1 booleans too, so that other tools read the same value.
   return plain_value(s) ~= s or lower == "yes" or lower == "no" or lower == "on"
      or lower == "off"
end

local function quote(s)
   return '"' .. s:gsub('[%c"\\]', function(c)
      if c == '"' then return '\\"' end
      if c == "\\" then return "\\\\" end
      if c == "\n" then return "\\n" end
      if c == "\t" then return "\\t" end
      return ("\\x%02x"):format(c:byte())
   end) .. '"'
end

local function scalar_text(v)
   local t = type(v)
   if t == "number" then return config.format_number(v) end
   if t == "boolean" then return tostring(v) end
   if t == "string" then return needs_quotes(v) and quote(v) or v end
   error(("config.dump: cannot write a %s"):format(t), 0)
end

local function key_text(k)
   if type(k) ~= "string" then
      error(("config.dump: keys must be strings, got %s"):format(tostring(k)), 0)
   end
   return scalar_text(k)
end

local function sorted_string_keys(t)
   local keys = {}
   for k in pairs(t) do keys[#keys + 1] = k end
   table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
   return keys
end

-- Flow style, for lists and anything inside them.
local function flow(v)
   if type(v) ~= "table" then return scalar_text(v) end
   local parts = {}
   if is_list(v) then
      for i, x in ipairs(v) do parts[i] = flow(x) end
      return "[" .. table.concat(parts, ", ") .. "]"
   end
   for _, k in ipairs(sorted_string_keys(v)) do
      parts[#parts + 1] = key_text(k) .. ": " .. flow(v[k])
   end
   return "{" .. table.concat(parts, ", ") .. "}"
end

local function block(out, t, indent)
   for _, k in ipairs(sorted_string_keys(t)) do
      local v = t[k]
      if type(v) == "table" and not is_list(v) then
         out[#out + 1] = indent .. key_text(k) .. ":"
         block(out, v, indent .. "  ")
      else
         out[#out + 1] = indent .. key_text(k) .. ": " .. flow(v)
      end
   end
end

--- A config as YAML text: keys sorted, mappings in block style, lists in flow style,
-- strings quoted when they would read back as something else, floats exact.
-- @tparam table cfg
-- @treturn string
function config.dump(cfg)
   local out = {}
   block(out, cfg, "")
   if #out == 0 then return "{}\n" end
   return table.concat(out, "\n") .. "\n"
end

--- Writes config.dump(cfg) to path atomically (a temporary file, then rename).
-- @tparam string path
-- @tparam table cfg
function config.write(path, cfg)
   local ok, err = pcall(files.write_atomic, path, config.dump(cfg))
   if not ok then error("config.write: " .. tostring(err), 2) end
end

return config
