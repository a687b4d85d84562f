--- Procedural voxel objects: occupancy grids of chairs, tables, cups and lamps built from
-- parametric primitives (boxes, cylinders, cones; a cup's hollow carved out) with random
-- proportions, sizes and a random turn about the vertical axis, for 3D-GAN. Every object
-- is a function of (split, seed, class, index): the generator of object i of a class is
-- seeded from those, so a data set is reproducible and the test split (its own seeds)
-- never repeats a training object. Generated once and cached in the data directory.
--
-- Coordinates: the grid spans [-1, 1]^3, voxel centres at (i + 0.5) / S * 2 - 1; z is up
-- and is the tensor's dimension 1 (D), then y (H), then x (W).
-- @module gan.data.voxels
local core = require("gan.core")

local V = {}

--- The object classes, in the order of their labels 0-3.
V.CLASSES = { "chair", "table", "cup", "lamp" }

-- Uniform in [a, b) from the generator's stream (a list of numbers drawn in advance).
local function uniform(u, a, b)
   u.i = u.i + 1
   return a + (b - a) * u[u.i]
end

local function box(cx, cy, cz, hx, hy, hz) return { kind = "box", c = { cx, cy, cz }, h = { hx, hy, hz } } end
local function cyl(cx, cy, z0, z1, r) return { kind = "cyl", c = { cx, cy }, z = { z0, z1 }, r = r } end
-- A cone frustum between heights z0 and z1 with radii r0 and r1 (hollow inside rin when given).
local function cone(cx, cy, z0, z1, r0, r1) return { kind = "cone", c = { cx, cy }, z = { z0, z1 }, r = { r0, r1 } } end
local function carve(p) p.carve = true; return p end

-- Four legs under a rectangle of half sizes (w, d) reaching from the floor to height top.
local function legs(list, w, d, top, t)
   local floor = -0.95
   for _, s in ipairs { { -1, -1 }, { 1, -1 }, { -1, 1 }, { 1, 1 } } do
      list[#list + 1] = box(s[1] * (w - t), s[2] * (d - t), (floor + top) / 2, t, t, (top - floor) / 2)
   end
end

local BUILD = {
   chair = function(u)
      local w, d = uniform(u, 0.35, 0.5), uniform(u, 0.35, 0.5)
      local seat, t = uniform(u, -0.25, 0.05), uniform(u, 0.04, 0.07)
      local back = uniform(u, 0.45, 0.85)
      local list = { box(0, 0, seat, w, d, uniform(u, 0.04, 0.07)) }
      legs(list, w, d, seat, t)
      list[#list + 1] = box(0, -d + t, seat + back / 2, w, t, back / 2)
      return list
   end,
   table = function(u)
      local w, d = uniform(u, 0.6, 0.9), uniform(u, 0.4, 0.75)
      local top = uniform(u, -0.05, 0.35)
      local list = { box(0, 0, top, w, d, uniform(u, 0.04, 0.08)) }
      if uniform(u, 0, 1) < 0.7 then
         legs(list, w, d, top, uniform(u, 0.04, 0.08))
      else   -- a pedestal on a foot
         list[#list + 1] = cyl(0, 0, -0.95, top, uniform(u, 0.06, 0.12))
         list[#list + 1] = cyl(0, 0, -0.95, -0.85, uniform(u, 0.3, 0.5))
      end
      return list
   end,
   cup = function(u)
      local r, h = uniform(u, 0.3, 0.5), uniform(u, 0.4, 0.9)
      local wall, bottom = uniform(u, 0.07, 0.12), uniform(u, 0.06, 0.12)
      local z0 = -0.95
      local list = { cyl(0, 0, z0, z0 + 2 * h, r), carve(cyl(0, 0, z0 + bottom, z0 + 2 * h + 0.1, r - wall)) }
      -- the handle: a loop of three bars on the +x side
      local hz, hr, t = z0 + h, uniform(u, 0.2, 0.35) * h, 0.05
      local out = r + uniform(u, 0.15, 0.25)
      list[#list + 1] = box(out, 0, hz, t, t, hr)
      list[#list + 1] = box((r + out) / 2, 0, hz + hr - t, (out - r) / 2 + t, t, t)
      list[#list + 1] = box((r + out) / 2, 0, hz - hr + t, (out - r) / 2 + t, t, t)
      return list
   end,
   lamp = function(u)
      local base, pole = uniform(u, 0.25, 0.45), uniform(u, 0.04, 0.07)
      local height = uniform(u, 0.2, 0.55)
      local shade_h, r1, r0 = uniform(u, 0.25, 0.45), uniform(u, 0.25, 0.45), uniform(u, 0.1, 0.2)
      local list = { cyl(0, 0, -0.95, -0.95 + uniform(u, 0.06, 0.12), base), cyl(0, 0, -0.95, height, pole) }
      list[#list + 1] = cone(0, 0, height - shade_h * 0.3, height + shade_h, r1, r0)
      list[#list + 1] = carve(cone(0, 0, height - shade_h * 0.3 - 0.01, height + shade_h + 0.01, r1 - 0.06, r0 - 0.06))
      return list
   end,
}

--- The primitives of one object of `class` from a generator, and its pose: { prims,
-- angle (a turn about z), scale }.
-- @tparam string class one of V.CLASSES
-- @tparam Generator g
-- @treturn table
function V.object(class, g)
   local build = BUILD[class]
   if not build then error(("voxels: unknown class '%s' (%s)"):format(tostring(class), table.concat(V.CLASSES, ", ")), 2) end
   local u = core.rand({ 32 }, { dtype = "float64", generator = g }):totable()
   u.i = 0
   local prims = build(u)
   return { prims = prims, angle = uniform(u, 0, 2 * math.pi), scale = uniform(u, 0.8, 1.0) }
end

--- The (S, S, S) occupancy of an object (V.object): 1 where a voxel's centre lies in a
-- primitive and in no carved one.
-- @tparam table obj
-- @tparam int S
-- @treturn Tensor float32 (S, S, S), dims z, y, x
function V.voxelize(obj, S)
   local c = (core.arange(0, S, 1, { dtype = "float64" }) + 0.5) * (2 / S) - 1
   local z = c:view(S, 1, 1):expand(S, S, S)
   local y = c:view(1, S, 1):expand(S, S, S)
   local x = c:view(1, 1, S):expand(S, S, S)
   -- into the object's frame: undo the scale and the turn about z
   local ca, sa = math.cos(obj.angle), math.sin(obj.angle)
   local ox, oy, oz = (x * ca + y * sa) / obj.scale, (y * ca - x * sa) / obj.scale, (z + 1) / obj.scale - 1
   local solid, hole = core.zeros({ S, S, S }, { dtype = "float64" }), core.zeros({ S, S, S }, { dtype = "float64" })
   local function within(t, lo, hi) return t:ge(lo):double() * t:le(hi):double() end
   for _, p in ipairs(obj.prims) do
      local m
      if p.kind == "box" then
         m = within(ox, p.c[1] - p.h[1], p.c[1] + p.h[1]) * within(oy, p.c[2] - p.h[2], p.c[2] + p.h[2])
            * within(oz, p.c[3] - p.h[3], p.c[3] + p.h[3])
      else
         local r2 = (ox - p.c[1]) ^ 2 + (oy - p.c[2]) ^ 2
         local zin = within(oz, p.z[1], p.z[2])
         if p.kind == "cyl" then
            m = zin * r2:le(p.r * p.r):double()
         else   -- the frustum's radius at each height
            local f = ((oz - p.z[1]) / (p.z[2] - p.z[1])):clamp(0, 1)
            local r = f * (p.r[2] - p.r[1]) + p.r[1]
            m = zin * (r2 - r * r):le(0):double()
         end
      end
      if p.carve then hole = (hole + m):clamp(0, 1) else solid = (solid + m):clamp(0, 1) end
   end
   return (solid * (1 - hole)):float()
end

local files = require("gan.files")
local exists = files.exists

--- The voxel data set: n_per_class objects of each class, (1, S, S, S) occupancies in
-- {0, 1} with labels 0-3 (V.CLASSES), generated from `seed` and the split and cached in
-- <data dir>/voxels_<S>_<split>_<n>_<seed>.safetensors.
-- @tparam[opt] table opts `split` ("train" or "test"), `n_per_class` (1,000 for train,
-- 100 for test), `size` (32), `seed` (0), `cache` (true)
-- @treturn table an in-memory dataset: ds.images (N, 1, S, S, S), ds.labels int64 (N),
-- ds.classes
function V.dataset(opts)
   opts = opts or {}
   local split = opts.split or "train"
   if split ~= "train" and split ~= "test" then
      error(("voxels: split must be 'train' or 'test', got '%s'"):format(tostring(split)), 2)
   end
   local n = opts.n_per_class or (split == "train" and 1000 or 100)
   local S, seed = opts.size or 32, opts.seed or 0
   local D = require("gan.data.datasets")
   local path = ("%s/voxels_%d_%s_%d_%d.safetensors"):format(D.data_dir(), S, split, n, seed)
   local images, labels
   if opts.cache ~= false and exists(path) then
      local t = require("gan.serialize").load(path)
      images, labels = t.images, t.labels
   else
      local parts, labs = {}, {}
      for k, class in ipairs(V.CLASSES) do
         for i = 1, n do
            -- one generator per object: (seed, split, class, index) -> its own stream
            local g = core.Generator(((seed * 2 + (split == "test" and 1 or 0)) * 8 + k) * 1000003 + i)
            parts[#parts + 1] = V.voxelize(V.object(class, g), S):view(1, 1, S, S, S)
            labs[#labs + 1] = k - 1
         end
      end
      images, labels = core.cat(parts, 1), core.tensor(labs, { dtype = "int64" })
      if opts.cache ~= false then
         files.mkdir_p(D.data_dir())
         require("gan.serialize").save(path .. ".tmp", { images = images, labels = labels })
         os.rename(path .. ".tmp", path)
      end
   end
   local ds = require("gan.data").TensorDataset { image = images, label = labels }
   ds.images, ds.labels, ds.classes = images, labels, V.CLASSES
   return ds
end

--- The voxel classifier that measures 3D-GAN's samples: three stride-2 3-d convolutions
-- (16, 32, 64 channels, leaky ReLU) and a linear layer to the classes, trained on the
-- training split (6 epochs, Adam 1e-3, seed 1) and cached in
-- <data dir>/voxel_classifier_<S>.safetensors after the first call.
-- @tparam[opt=32] int S the grid size
-- @treturn Module in eval mode, without gradients: logits (N, 4) of (N, 1, S, S, S)
function V.classifier(S)
   S = S or 32
   local nn, F, optim = require("gan.nn"), require("gan.nn.functional"), require("gan.optim")
   local serialize = require("gan.serialize")
   local function build()
      return nn.Sequential { nn.Conv3d(1, 16, 4, { stride = 2, padding = 1 }), nn.LeakyReLU(0.2),
         nn.Conv3d(16, 32, 4, { stride = 2, padding = 1 }), nn.LeakyReLU(0.2),
         nn.Conv3d(32, 64, 4, { stride = 2, padding = 1 }), nn.LeakyReLU(0.2), nn.Flatten(),
         nn.Linear(64 * (S // 8) ^ 3, #V.CLASSES) }
   end
   local path = ("%s/voxel_classifier_%d.safetensors"):format(require("gan.data.datasets").data_dir(), S)
   local net
   -- the default generator is left as it was: a run that trains the classifier on its first
   -- evaluation draws the same numbers afterwards as one that found it cached
   local saved_rng = core.get_rng_state()
   core.manual_seed(1)
   net = build()
   if exists(path) then
      net:load_state_dict(serialize.load(path).model)
   else
      local ds = V.dataset { split = "train", size = S }
      io.stderr:write(("voxels: training the voxel classifier on %d objects (once; cached in %s)\n"):format(ds.labels:size(1), path))
      local loader = require("gan.data").DataLoader(ds, { batch_size = 64, generator = core.Generator(1) })
      local opt = optim.Adam(net:parameters(), { lr = 1e-3 })
      for _ = 1, 6 do
         for b in loader do
            opt:zero_grad()
            F.cross_entropy(net(b.image), b.label):backward()
            opt:step()
         end
      end
      serialize.save(path .. ".tmp", { model = net:state_dict() })
      os.rename(path .. ".tmp", path)
   end
   core.set_rng_state(saved_rng)
   net:eval()
   net:requires_grad_(false)
   return net
end

--- Three depth-shaded views of occupancies (N, 1, S, S, S) in [0, 1] (thresholded at
-- 0.5): from the front (along y), the side (along x) and the top (along z, looking down),
-- side by side, nearer surfaces darker; empty columns white. For sample sheets.
-- @tparam Tensor vox
-- @treturn Tensor (N, 3, S, 3 S) in [0, 1]
function V.views(vox)
   local N, S = vox:size(1), vox:size(3)
   local occ = vox:reshape(N, S, S, S):gt(0.5):float()                 -- (N, z, y, x)
   -- the first occupied index along `dim` seen from its start: depth in voxels, S if none
   local function depth(o, dim)
      local idx = core.arange(0, S, 1):float()
      local shape = { 1, 1, 1, 1 }
      shape[dim] = S
      local pos = idx:view(table.unpack(shape))
      return ((o * pos + (1 - o) * S):min(dim))
   end
   local rev = core.tensor((function() local t = {} for i = 1, S do t[i] = S - i end return t end)(), { dtype = "int64" })
   local function shade(d)
      local hit = d:lt(S):float()
      return hit * (0.25 + 0.6 * d / S) + (1 - hit)
   end
   -- front (along y) and side (along x) views with z up (rows reversed); the top view
   -- looks down from z = S
   local f = shade(depth(occ, 3)):index_select(2, rev)
   local s = shade(depth(occ, 4)):index_select(2, rev)
   local t = shade(depth(occ:index_select(2, rev), 2))
   local img = core.cat({ f, s, t }, 3):view(N, 1, S, 3 * S)
   return img:expand(N, 3, S, 3 * S):contiguous()
end

return V
