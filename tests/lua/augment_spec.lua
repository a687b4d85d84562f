-- gan.augment: DiffAugment's translation and cutout and instance noise against plain-Lua
-- references (exactly the generator's draws), their gradients, and the discriminator
-- input pipeline composed from a spec.
local gan = require("gan")
local A = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "ag_helpers.lua")
local augment = gan.augment
local gradcheck = gan.testing.gradcheck

describe("gan.augment: random_shift and random_cutout", function()
   it("random_shift moves each image by its own offset, filling the border (plain-Lua reference)", function()
      local x = A.randn { 3, 2, 5, 6 }
      local s = 2
      local y = augment.random_shift(x, s, { fill = -1, generator = gan.Generator(9) })
      local d = gan.randint(0, 2 * s + 1, { 3, 2 }, { generator = gan.Generator(9) }):totable()
      local xv = A.arr(x)
      A.close(y, A.build({ 3, 2, 5, 6 }, function(i)
         -- output (r, c) reads padded (r + dy, c + dx) = input (r + dy - s, c + dx - s)
         local r, c = i[3] + d[i[1]][1] - s, i[4] + d[i[1]][2] - s
         if r < 1 or r > 5 or c < 1 or c > 6 then return -1 end
         return A.get(xv, { i[1], i[2], r, c })
      end), 0, 0)
      A.close(augment.random_shift(x, 0), xv, 0, 0)
   end)

   it("random_cutout blanks one clipped square per image (plain-Lua reference)", function()
      local x = A.randn { 4, 2, 6, 5 }
      local size = 3
      local y = augment.random_cutout(x, size, { fill = 0.5, generator = gan.Generator(4) })
      local g = gan.Generator(4)
      local cy = gan.randint(0, 6, { 4 }, { generator = g }):totable()
      local cx = gan.randint(0, 5, { 4 }, { generator = g }):totable()
      local xv = A.arr(x)
      A.close(y, A.build({ 4, 2, 6, 5 }, function(i)
         local r, c = i[3] - 1, i[4] - 1         -- 0-based pixel
         local y0, x0 = cy[i[1]] - 1, cx[i[1]] - 1 -- the square: [centre - 1, centre - 1 + 3)
         if r >= y0 and r < y0 + size and c >= x0 and c < x0 + size then return 0.5 end
         return A.get(xv, i)
      end), 1e-15, 0)
      A.close(augment.random_cutout(x, 0), xv, 0, 0)
   end)

   it("both are differentiable in x (gradcheck, fixed draws) and name bad arguments", function()
      local x = A.leaf(A.randn { 2, 1, 4, 4 })
      assert.is_true(gradcheck(function(t) return augment.random_shift(t, 1, { fill = 0.3, generator = gan.Generator(2) }) end, { x }))
      assert.is_true(gradcheck(function(t) return augment.random_cutout(t, 2, { fill = -1, generator = gan.Generator(2) }) end, { x }))
      assert.has_error(function() augment.random_shift(x, 1.5) end, "random_shift: max_shift must be a whole number >= 0, got 1.5")
      assert.has_error(function() augment.random_cutout(x:view(2, 16), 2) end,
         "random_cutout: expected a 4-d input (N, C, H, W), got (2, 16)")
      assert.has_error(function() augment.random_shift(x, 1, { pad = 0 }) end, "random_shift: unknown option 'pad'")
   end)
end)

describe("gan.augment: instance noise and the discriminator's input", function()
   it("instance_noise adds sigma(step) N(0, 1) with sigma decaying linearly to 0 at `steps`", function()
      local x = gan.rand({ 200, 50 }, { dtype = "float64" })
      local sigma0, steps = 0.3, 100
      for _, step in ipairs { 0, 1, 25, 50, 99 } do
         local out = augment.instance_noise(x, step, { sigma = sigma0, steps = steps, generator = gan.Generator(11) })
         local sigma = sigma0 * (1 - step / steps)
         -- exactly x + sigma * the generator's normal draws
         local z = gan.randn({ 200, 50 }, { dtype = "float64", generator = gan.Generator(11) })
         local err = (out - (x + z * sigma)):abs():max():item()
         assert(err < 1e-12, ("step %d: off by %g"):format(step, err))
         -- and the empirical std of the noise matches sigma
         local sd = (out - x):std():item()
         assert(math.abs(sd - sigma) < 0.05 * sigma, ("step %d: std %g, want %g"):format(step, sd, sigma))
      end
      for _, step in ipairs { 100, 101, 1000 } do
         local out = augment.instance_noise(x, step, { sigma = sigma0, steps = steps, generator = gan.Generator(11) })
         assert.are.equal(0, (out - x):abs():max():item(), "no noise at step " .. step)
      end
      -- a custom schedule
      local out = augment.instance_noise(x, 7, { schedule = function(s) return s / 70 end, generator = gan.Generator(2) })
      local z = gan.randn({ 200, 50 }, { dtype = "float64", generator = gan.Generator(2) })
      assert((out - (x + z * 0.1)):abs():max():item() < 1e-12)
      -- float32 inputs keep their dtype
      assert.are.equal("float32", augment.instance_noise(gan.zeros { 3 }, 0, { sigma = 1, steps = 2 }).dtype)
   end)

   it("discriminator_input composes noise, then shift, then cutout, from the model's generator", function()
      local x = A.randn { 3, 2, 6, 6 }
      local f = augment.discriminator_input { noise = 0.2, noise_steps = 10, shift = 1, cutout = 2, fill = -1 }
      local got = f(x, 4, gan.Generator(5))
      local g = gan.Generator(5)
      local want = augment.instance_noise(x, 4, { sigma = 0.2, steps = 10, generator = g })
      want = augment.random_shift(want, 1, { fill = -1, generator = g })
      want = augment.random_cutout(want, 2, { fill = -1, generator = g })
      assert.are.equal(0, (got - want):abs():max():item())
      -- nothing switched on: no function; bad specs are named
      assert.is_nil(augment.discriminator_input { noise = 0, shift = 0, fill = 1 })
      assert.is_nil(augment.discriminator_input(nil))
      assert.has_error(function() augment.discriminator_input({ shfit = 1 }, "dcgan") end, "dcgan: unknown option 'shfit'")
      assert.has_error(function() augment.discriminator_input({ shift = -1 }, "dcgan") end,
         "dcgan: augment shift must be a number >= 0, got -1")
      assert.has_error(function() augment.discriminator_input({ cutout = 1.5 }, "dcgan") end,
         "dcgan: augment cutout must be a whole number, got 1.5")
   end)
end)
