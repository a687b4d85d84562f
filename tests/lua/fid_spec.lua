-- `gan fid DIR_A DIR_B` (gan.fid): two folders of real MNIST digits are close, MNIST
-- against Fashion-MNIST far apart, on the shipped MNIST classifier and on a network
-- trained on the first folder (self-supervised rotations for a flat folder, its classes
-- for subfolders); the rotations themselves; errors that name the problem.
local gan = require("gan")
local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "train_helpers.lua")
local fid = require("gan.fid")

H.single_threaded(setup, teardown)

local dir
local function dump(images, sub, from, n)
   local d = dir .. "/" .. sub
   os.execute("mkdir -p '" .. d .. "'")
   for i = from, from + n - 1 do gan.image.save(("%s/%05d.png"):format(d, i), (images[i] + 1) / 2) end
   return d
end

-- Runs bin/gan fid with `args`; returns the exit status and the output.
local function gan_fid(args)
   local p = io.popen(("cd '%s' && bin/gan fid %s 2>&1; echo \"status $?\""):format(H.root, args))
   local out = p:read("a")
   p:close()
   return tonumber(out:match("status (%d+)%s*$")), out
end

describe("gan fid #release_only", function()
   local m1, m2, f, classes
   setup(function()
      dir = H.tmpdir()
      local m = gan.data.for_gan("mnist", { image_size = 28 })
      local fa = gan.data.for_gan("fashion_mnist", { image_size = 28, split = "test" })
      m1, m2, f = dump(m.images, "m1", 1, 200), dump(m.images, "m2", 201, 200), dump(fa.images, "f", 1, 200)
      -- 60 zeros and 60 ones in subfolders "0" and "1"
      local labels, got = m.labels:totable(), { [0] = 0, [1] = 0 }
      for i, l in ipairs(labels) do
         if (l == 0 or l == 1) and got[l] < 60 then
            got[l] = got[l] + 1
            dump(m.images, "classes/" .. l, i, 1)
         end
      end
      classes = dir .. "/classes"
   end)
   teardown(function() H.rm_rf(dir) end)

   it("on the shipped MNIST classifier: small between MNIST folders, large against Fashion-MNIST", function()
      local code, out = gan_fid(("'%s' '%s' --features mnist"):format(m1, m2))
      assert.are.equal(0, code, out)
      local near = tonumber(out:match("fid%s+([%d.]+)"))
      assert.matches("features   shipped mnist classifier", out)
      assert.matches("not Inception", out)
      assert.matches("images     200 %(.-%), 200", out)
      local code2, out2 = gan_fid(("'%s' '%s' --features mnist"):format(m1, f))
      assert.are.equal(0, code2, out2)
      local far = tonumber(out2:match("fid%s+([%d.]+)"))
      assert(near < 20 and far > 30 * near, ("MNIST/MNIST %g, MNIST/Fashion %g"):format(near, far))
      local p1, p2 = tonumber(out:match("precision%s+([%d.]+)")), tonumber(out2:match("precision%s+([%d.]+)"))
      assert(p1 > 0.6 and p2 < 0.1, out .. out2)
   end)

   it("on a network trained on a flat folder by rotation prediction: the same ordering", function()
      local images = fid.load_folder(m1, { size = 32, channels = 1 })
      local net, name = fid.train_features(images, nil, { epochs = 2, dir = m1 })
      assert.are.equal(("trained on %s (rotations, 2 epochs)"):format(m1), name)
      local near = fid.compare(m1, m2, { features = net, features_name = name })
      local far = fid.compare(m1, f, { features = net, features_name = name })
      assert.are.equal(name, near.features)
      assert(far.fid > 10 * near.fid, ("MNIST/MNIST %g, MNIST/Fashion %g"):format(near.fid, far.fid))
   end)

   it("on a network trained on subfolders as classes", function()
      local r = fid.compare(classes, m2, { epochs = 2, channels = 1, cache = false })
      assert.matches("%(classes, 2 epochs%)", r.features)
      assert.are.equal(120, r.n_a)
   end)

   it("rotations: four distinct quarter turns, the fourth power of a quarter turn is the identity", function()
      local x = gan.arange(0, 9):reshape { 1, 1, 3, 3 }:float()
      local r, labels = fid.rotations(x)
      assert.are.same({ 0, 1, 2, 3 }, labels:totable())
      local m = r:reshape { 4, 9 }:totable()
      assert.are.same({ 6, 3, 0, 7, 4, 1, 8, 5, 2 }, m[2])   -- [[0,1,2],[3,4,5],[6,7,8]] turned clockwise
      assert.are.same({ 8, 7, 6, 5, 4, 3, 2, 1, 0 }, m[3])
      local y = x
      for _ = 1, 4 do y = fid.rotations(y):narrow(1, 2, 1) end
      assert.are.equal(0, H.maxabs(y - x))
   end)

   it("names what is wrong", function()
      local one = dump(gan.zeros { 1, 1, 8, 8 }, "one", 1, 1)
      local code, out = gan_fid(("'%s' '%s' --features mnist"):format(one, m2))
      assert.are.equal(1, code)
      assert.matches("gan fid: need at least 2 images in each folder %(.-one: 1, .-m2: 200%)", out)
      code, out = gan_fid(("'%s' '%s/nope'"):format(m1, dir))
      assert.are.equal(1, code)
      assert.matches("image_folder: .-/nope is not a directory", out)
      code, out = gan_fid(("'%s' '%s' --size 30"):format(m1, m2))   -- a usage error
      assert.are.equal(2, code)
      assert.matches("gan: %-%-size: expected a multiple of 8, got '30'", out)
      code, out = gan_fid(("'%s' '%s' --features nosuch.safetensors"):format(m1, m2))
      assert.matches("no classifier weights at nosuch.safetensors", out)
   end)
end)
