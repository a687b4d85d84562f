--- The module system: a small class helper, `Module`, and the containers Sequential,
-- ModuleList and ModuleDict.
--
-- A module is a plain Lua object. Assigning a tensor that requires grad to a new field
-- registers it as a parameter, assigning a module registers a child; buffers (running
-- statistics, spectral-norm vectors) are registered with `register_buffer`. Registration
-- order is kept, so `parameters()` and `state_dict()` are deterministic. State-dict keys
-- join field names with dots (`"main.3.weight"`); children of a Sequential are named by
-- their 1-based position.
-- @module gan.nn.module
local core = require("gan.core")
local no_grad = require("gan.autograd").no_grad

local M = {}

local is_tensor = require("gan.tensor").is_tensor

-- Metamethods are not inherited through __index, so subclasses copy them.
local METAMETHODS = { "__call", "__tostring", "__newindex", "__len" }

--- Makes a class. `local Linear = class("Linear", Module)`; `Linear(...)` creates an
-- instance and calls its `__init(...)`.
-- @tparam string name the class name (printed structures and errors show it)
-- @tparam[opt] table parent the class to inherit from (its metamethods are copied)
-- @treturn table the class
function M.class(name, parent)
   local c = {}
   c.__name = name
   c.__index = c
   if parent then
      for _, k in ipairs(METAMETHODS) do c[k] = rawget(parent, k) end
   end
   return setmetatable(c, {
      __index = parent,
      __call = function(cls, ...)
         local o = setmetatable({}, cls)
         o:__init(...)
         return o
      end,
      __tostring = function() return "class " .. name end,
   })
end

local class = M.class

local function is_module(v)
   local mt = getmetatable(v)
   while mt do
      if mt == M.Module then return true end
      local parent = getmetatable(mt)
      mt = parent and parent.__index
      if type(mt) ~= "table" then return false end
   end
   return false
end
M.is_module = is_module

-- ---------------------------------------------------------------- Module

local Module = class("Module")
M.Module = Module

function Module:__init()
   rawset(self, "_param_names", {})
   rawset(self, "_buffer_names", {})
   rawset(self, "_module_names", {})
   rawset(self, "training", true)
end

-- New fields: tensors that require grad become parameters, modules become children.
function Module:__newindex(k, v)
   if rawget(self, "_param_names") == nil then
      error(("%s: call Module.__init(self) first in __init"):format(getmetatable(self).__name), 2)
   end
   if is_module(v) then
      table.insert(self._module_names, k)
   elseif is_tensor(v) and v.requires_grad and v.is_leaf then
      table.insert(self._param_names, k)
   end
   rawset(self, k, v)
end

function Module:__call(...)
   local hooks = rawget(self, "_forward_hooks")
   if hooks == nil or next(hooks) == nil then return self:forward(...) end
   local out = self:forward(...)
   for _, id in ipairs(rawget(self, "_hook_order")) do
      local h = hooks[id]
      if h then
         local r = h(self, out, ...)
         if r ~= nil then out = r end
      end
   end
   return out
end

--- Calls fn(module, output, inputs...) after every forward of this module; a value fn
-- returns replaces the output. Returns a handle whose remove() unregisters fn. (The way
-- to read features of an inner layer: gan.losses.features.)
-- @tparam function fn fn(module, output, inputs...) -> nil or a replacement output
-- @treturn table a handle with `remove()`
function Module:register_forward_hook(fn)
   if type(fn) ~= "function" then error("register_forward_hook: expected a function", 2) end
   local hooks, order = rawget(self, "_forward_hooks"), rawget(self, "_hook_order")
   if not hooks then
      hooks, order = {}, {}
      rawset(self, "_forward_hooks", hooks)
      rawset(self, "_hook_order", order)
   end
   local id = #order + 1
   order[id], hooks[id] = id, fn
   return { remove = function() hooks[id] = nil end }
end

--- Computes the module's output; every module class defines it (called by `m(...)`).
-- The base class's raises an error naming the class.
-- @param ... the inputs (tensors, labels, ...)
-- @return the outputs
function Module:forward()
   error(("%s: forward is not implemented"):format(getmetatable(self).__name), 2)
end

--- Registers (or replaces) a parameter under `name`.
-- @tparam string name
-- @tparam Tensor|nil t a leaf tensor (requires_grad is turned on), or nil
-- @treturn Tensor t
-- @raise when t is not a leaf tensor
function Module:register_parameter(name, t)
   if t ~= nil and not (is_tensor(t) and t.is_leaf) then
      error(("register_parameter: '%s' must be a leaf tensor"):format(name), 2)
   end
   if t ~= nil and not t.requires_grad then t:requires_grad_() end
   local found = false
   for _, n in ipairs(self._param_names) do found = found or n == name end
   if not found then table.insert(self._param_names, name) end
   rawset(self, name, t)
   return t
end

--- Registers a buffer: state saved in state_dict but not trained.
-- @tparam string name
-- @tparam Tensor|nil t
-- @treturn Tensor t
-- @raise when t is not a tensor
function Module:register_buffer(name, t)
   if t ~= nil and not is_tensor(t) then error(("register_buffer: '%s' must be a tensor"):format(name), 2) end
   local found = false
   for _, n in ipairs(self._buffer_names) do found = found or n == name end
   if not found then table.insert(self._buffer_names, name) end
   rawset(self, name, t)
   return t
end

--- Adds a child module under `name`.
-- @tparam string|int name
-- @tparam Module m
-- @treturn Module m
-- @raise when m is not a module
function Module:add_module(name, m)
   if not is_module(m) then error(("add_module: '%s' is not a module"):format(tostring(name)), 2) end
   local found = false
   for _, n in ipairs(self._module_names) do found = found or n == name end
   if not found then table.insert(self._module_names, name) end
   rawset(self, name, m)
   return m
end

-- Removes a name from a registration list (spectral_norm replaces parameters).
function Module:_unregister(list, name)
   for i, n in ipairs(self[list]) do
      if n == name then table.remove(self[list], i); return end
   end
end

--- Iterates (name, child) over the direct children.
function Module:named_children()
   local i, names = 0, self._module_names
   return function()
      while true do
         i = i + 1
         local n = names[i]
         if n == nil then return nil end
         local m = rawget(self, n)
         if m ~= nil then return tostring(n), m end
      end
   end
end

--- The direct children, in registration order.
-- @treturn {Module,...}
function Module:children()
   local list = {}
   for _, m in self:named_children() do list[#list + 1] = m end
   return list
end

--- Iterates (name, module) over this module and all descendants, depth first.
-- @tparam[opt=""] string prefix put before every name (the module itself is named prefix)
-- @return an iterator for a generic for
function Module:named_modules(prefix)
   local list = {}
   local function walk(m, p)
      list[#list + 1] = { p, m }
      for n, c in m:named_children() do walk(c, p == "" and n or p .. "." .. n) end
   end
   walk(self, prefix or "")
   local i = 0
   return function()
      i = i + 1
      if list[i] then return list[i][1], list[i][2] end
   end
end

--- This module and all its descendants, depth first.
-- @treturn {Module,...}
function Module:modules()
   local list = {}
   for _, m in self:named_modules() do list[#list + 1] = m end
   return list
end

local function named(self, list_name, recurse)
   local out, seen = {}, {}
   for prefix, m in self:named_modules() do
      for _, n in ipairs(m[list_name]) do
         local t = rawget(m, n)
         if t ~= nil and not seen[t] then
            seen[t] = true
            out[#out + 1] = { prefix == "" and n or prefix .. "." .. n, t }
         end
      end
      if not recurse then break end
   end
   local i = 0
   return function()
      i = i + 1
      if out[i] then return out[i][1], out[i][2] end
   end
end

--- Iterates (name, parameter) over all parameters; a shared tensor appears once.
function Module:named_parameters() return named(self, "_param_names", true) end
--- Iterates (name, buffer).
function Module:named_buffers() return named(self, "_buffer_names", true) end

--- All parameters, as an array (what optimizers take).
function Module:parameters()
   local list = {}
   for _, p in self:named_parameters() do list[#list + 1] = p end
   return list
end

--- All buffers (running statistics, masks, ...), as an array.
-- @treturn {Tensor,...}
function Module:buffers()
   local list = {}
   for _, b in self:named_buffers() do list[#list + 1] = b end
   return list
end

--- The number of parameter elements (each shared tensor counted once).
-- @treturn int
function Module:num_parameters()
   local n = 0
   for _, p in self:named_parameters() do n = n + p:numel() end
   return n
end

--- Sets training mode (true by default) on this module and all descendants.
-- @tparam[opt=true] boolean mode
-- @treturn Module self
function Module:train(mode)
   if mode == nil then mode = true end
   for _, m in self:named_modules() do rawset(m, "training", mode) end
   return self
end

--- Sets evaluation mode on this module and all descendants: self:train(false).
-- @treturn Module self
function Module:eval() return self:train(false) end

--- Calls fn(m) on every module (children first), e.g., for initialisation.
-- @tparam function fn fn(module)
-- @treturn Module self
function Module:apply(fn)
   for _, c in self:named_children() do c:apply(fn) end
   fn(self)
   return self
end

--- Drops the gradients of all parameters (they become nil, freeing their memory).
function Module:zero_grad()
   for _, p in self:named_parameters() do p.grad = nil end
end

--- Freezes (false) or unfreezes (true) all parameters.
-- @tparam[opt=true] boolean on
-- @treturn Module self
function Module:requires_grad_(on)
   if on == nil then on = true end
   for _, p in self:named_parameters() do p:requires_grad_(on) end
   return self
end

--- A table name -> tensor of parameters and buffers (detached; they share storage).
function Module:state_dict()
   local sd = {}
   for prefix, m in self:named_modules() do
      for _, list in ipairs { "_param_names", "_buffer_names" } do
         for _, n in ipairs(m[list]) do
            local t = rawget(m, n)
            if t ~= nil then sd[prefix == "" and n or prefix .. "." .. n] = t:detach() end
         end
      end
   end
   return sd
end

--- Copies a state dict into the parameters and buffers. With strict (the default) every
-- missing, unexpected or mis-shaped key is reported in one error; without, mis-shaped
-- keys still fail and the lists of missing and unexpected keys are returned.
-- @tparam table sd name -> tensor (Module:state_dict's form)
-- @tparam[opt] table opts `strict` (true)
-- @treturn table `{missing = {...}, unexpected = {...}}` key names
-- @raise listing every problem, or when sd is not a table
function Module:load_state_dict(sd, opts)
   if type(sd) ~= "table" then
      error(("load_state_dict into %s: expected a state table, got %s (a checkpoint keeps a network's state "
         .. "under .states: gan.load(path).states.G)"):format(getmetatable(self).__name, type(sd)), 2)
   end
   local strict = not (opts and opts.strict == false)
   local own = {}
   for prefix, m in self:named_modules() do
      for _, list in ipairs { "_param_names", "_buffer_names" } do
         for _, n in ipairs(m[list]) do
            if rawget(m, n) ~= nil then own[prefix == "" and n or prefix .. "." .. n] = { m, n } end
         end
      end
   end
   local missing, unexpected, mismatched = {}, {}, {}
   for k in pairs(own) do if sd[k] == nil then missing[#missing + 1] = k end end
   for k, v in pairs(sd) do
      local slot = own[k]
      if not slot then
         unexpected[#unexpected + 1] = k
      else
         local t = rawget(slot[1], slot[2])
         if not is_tensor(v) then
            mismatched[#mismatched + 1] = ("%s: expected a tensor, got %s"):format(k, type(v))
         elseif table.concat(v:size(), ",") ~= table.concat(t:size(), ",") then
            mismatched[#mismatched + 1] = ("%s: checkpoint {%s} vs model {%s}"):format(k,
               table.concat(v:size(), ", "), table.concat(t:size(), ", "))
         end
      end
   end
   table.sort(missing); table.sort(unexpected); table.sort(mismatched)
   local problems = {}
   if #mismatched > 0 then problems[#problems + 1] = "size mismatch: " .. table.concat(mismatched, "; ") end
   if strict and #missing > 0 then problems[#problems + 1] = "missing keys: " .. table.concat(missing, ", ") end
   if strict and #unexpected > 0 then problems[#problems + 1] = "unexpected keys: " .. table.concat(unexpected, ", ") end
   if #problems > 0 then
      error(("load_state_dict into %s: %s"):format(getmetatable(self).__name, table.concat(problems, " | ")), 2)
   end
   local _ <close> = no_grad()
   for k, v in pairs(sd) do
      local slot = own[k]
      if slot then rawget(slot[1], slot[2]):copy_(v) end
   end
   return { missing = missing, unexpected = unexpected }
end

--- A deep copy with its own parameters and buffers (same values), e.g., for an EMA model.
function Module:clone()
   local copies = {}
   local function copy(v)
      if is_tensor(v) then
         if copies[v] then return copies[v] end
         local c = v:detach():clone()
         if v.requires_grad and v.is_leaf then c:requires_grad_() end
         copies[v] = c
         return c
      elseif type(v) == "table" then
         if copies[v] then return copies[v] end
         local c = {}
         copies[v] = c
         for k, x in pairs(v) do rawset(c, k, copy(x)) end
         return setmetatable(c, getmetatable(v))
      end
      return v
   end
   local _ <close> = no_grad()
   return copy(self)
end

--- The text after the class name in the printed structure (layers override it).
function Module:extra_repr() return "" end

function Module:__tostring()
   local name = getmetatable(self).__name
   local lines = {}
   for n, c in self:named_children() do
      local s = tostring(c):gsub("\n", "\n  ")
      lines[#lines + 1] = "  (" .. n .. "): " .. s
   end
   local extra = self:extra_repr()
   if #lines == 0 then return name .. "(" .. extra .. ")" end
   local head = name .. "(" .. (extra ~= "" and extra .. "\n" or "\n")
   return head .. table.concat(lines, "\n") .. "\n)"
end

-- ---------------------------------------------------------------- containers

--- Applies its modules in order: `Sequential { a, b, c }` or `Sequential(a, b, c)`.
-- Children are named by their 1-based position.
-- @function Sequential
-- @param ... the modules, or one list of them
-- @treturn Module
-- @raise when an entry is not a module
local Sequential = class("Sequential", Module)
M.Sequential = Sequential

function Sequential:__init(...)
   Module.__init(self)
   local list = select("#", ...) == 1 and not is_module((...)) and (...) or { ... }
   for i, m in ipairs(list) do
      if not is_module(m) then error(("Sequential: entry %d is not a module"):format(i), 3) end
      self:add_module(i, m)
   end
end

--- Runs the layers in order. An error in one is raised again with the layer's index
-- and type in front ("Sequential[3] (Conv2d): ..."), nested Sequentials adding theirs.
-- @tparam Tensor x
-- @param ... more inputs, handed to every layer
-- @return the last layer's output
function Sequential:forward(x, ...)
   for i, m in self:named_children() do
      local ok, y = pcall(m, x, ...)
      if not ok then
         if type(y) ~= "string" then error(y, 0) end
         y = y:gsub("^[^\n:]*lua/gan/[^\n:]*:%d+: ", "")   -- a position inside gan says nothing to the user
         error(("%s[%s] (%s): %s"):format(getmetatable(self).__name, tostring(i), getmetatable(m).__name, y), 2)
      end
      x = y
   end
   return x
end

function Sequential:__len() return #self._module_names end

--- Appends a module; returns self.
-- @tparam Module m
-- @treturn Module self
function Sequential:add(m)
   self:add_module(#self._module_names + 1, m)
   return self
end

--- A list of modules registered as children (no forward of its own).
-- @function ModuleList
-- @tparam[opt] {Module,...} list the initial modules
-- @treturn Module
local ModuleList = class("ModuleList", Module)
M.ModuleList = ModuleList

function ModuleList:__init(list)
   Module.__init(self)
   for i, m in ipairs(list or {}) do self:add_module(i, m) end
end
--- Appends a module.
-- @tparam Module m
-- @treturn ModuleList self
function ModuleList:append(m) self:add_module(#self._module_names + 1, m); return self end
function ModuleList:__len() return #self._module_names end
--- Iterates (i, module) over the list in order.
-- @return an iterator for a generic for
function ModuleList:ipairs()
   local i = 0
   return function()
      i = i + 1
      local m = rawget(self, i)
      if m ~= nil then return i, m end
   end
end

--- A table of named modules registered as children (keys sorted for a fixed order).
-- @function ModuleDict
-- @tparam[opt] table dict name -> module
-- @treturn Module
local ModuleDict = class("ModuleDict", Module)
M.ModuleDict = ModuleDict

function ModuleDict:__init(dict)
   Module.__init(self)
   local keys = {}
   for k in pairs(dict or {}) do keys[#keys + 1] = k end
   table.sort(keys)
   for _, k in ipairs(keys) do self:add_module(k, dict[k]) end
end

return M
