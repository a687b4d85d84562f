--- gan.train.replay: experience replay of network snapshots, the lectures' hack "keep
-- checkpoints from the past of G and D and occasionally swap them in for a few
-- iterations" (Chintala et al., ganhacks; Shrivastava et al. 2017 replay images instead,
-- gan.train.ImagePool). Switched on for any model by train.replay_every > 0:
--
-- - every replay_every steps the network train.replay_network (its parameters and
--   buffers) is copied into a ring of the replay_keep most recent snapshots;
-- - at those steps, once an older snapshot exists, one of them (uniformly drawn) stands
--   in for the network during each of the next replay_steps steps: the other networks
--   train against it; after each such step the network's own weights come back, and
--   what the snapshot learnt in the step is dropped (the optimizer's moments carry on).
--   Between steps (sheets, evaluation, checkpoints) the network is always its own.
--
-- The snapshots, the draw and its generator are checkpointed, so a resumed run replays
-- exactly as an uninterrupted one.
-- @module gan.train.replay
local core = require("gan.core")

local R = {}
R.__index = R

local function copy(sd)
   local c = {}
   for k, v in pairs(sd) do c[k] = v:clone() end
   return c
end

--- A replay for `model` from its cfg.train (replay_every, replay_network, replay_keep,
-- replay_steps: their ranges are the config's); nil when replay_every is 0.
-- @tparam table model a gan.train.Model
-- @treturn table|nil
function R.of(model)
   local t = model.cfg.train
   local every = t.replay_every or 0
   if every == 0 then return nil end
   local name = t.replay_network
   local net = model.networks[name]
   if not net then
      error(("train.replay_network: %s has no network '%s' (its networks: %s)"):format(model.name, tostring(name),
         table.concat(model._order.networks, ", ")), 0)
   end
   return setmetatable({ net = net, name = name, every = every, keep = t.replay_keep, steps = t.replay_steps,
      snapshots = {}, until_step = 0, rng = core.Generator(t.seed + 11) }, R)
end

--- Before step `step`: takes a snapshot when due (and then draws an older one to stand
-- in for the next replay_steps steps); on those steps loads the drawn snapshot.
-- @tparam int step
function R:before(step)
   if step > 1 and (step - 1) % self.every == 0 then
      local older = #self.snapshots
      table.insert(self.snapshots, copy(self.net:state_dict()))
      if #self.snapshots > self.keep then table.remove(self.snapshots, 1) end
      older = math.min(older, #self.snapshots - 1)
      if older > 0 then
         self.pick = math.floor(core.rand({ 1 }, { generator = self.rng, dtype = "float64" }):item() * older) + 1
         self.until_step = step + self.steps - 1
      end
   end
   if self.pick and step <= self.until_step then
      self.own = copy(self.net:state_dict())
      self.net:load_state_dict(self.snapshots[self.pick])
   end
end

--- After step `step`: the network's own weights come back (what the snapshot learnt is
-- dropped). Returns true on a step a snapshot stood in for (the loop logs replay = 1).
-- @tparam int step
-- @treturn boolean
function R:after(step)
   if not self.own then return false end
   self.net:load_state_dict(self.own)
   self.own = nil
   if step >= self.until_step then self.pick = nil end
   return true
end

--- The replay's state for a checkpoint: the snapshots, the one standing in, until when,
-- and the generator state.
-- @treturn table
function R:state_dict()
   return { snapshots = self.snapshots, pick = self.pick or 0, until_step = self.until_step, rng = self.rng:get_state() }
end

--- Restores R:state_dict's table (copying the snapshots).
-- @tparam table s
function R:load_state_dict(s)
   self.snapshots = {}
   for i, sd in ipairs(s.snapshots or {}) do self.snapshots[i] = copy(sd) end
   self.pick = (s.pick or 0) > 0 and s.pick or nil
   self.until_step = s.until_step or 0
   self.rng:set_state(s.rng)
end

return R
