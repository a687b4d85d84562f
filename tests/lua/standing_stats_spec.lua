local gan = require("gan")
local nn = gan.nn

describe("nn.utils.standing_stats", function()
   it("sets batch-norm running stats to the average of the batch statistics", function()
      local bn = nn.BatchNorm1d(3)
      local m = nn.Sequential { bn }
      local g = gan.Generator(5)
      local batches = {}
      for i = 1, 4 do batches[i] = gan.randn({ 8, 3 }, { generator = g, dtype = "float32" }) * i + i end
      nn.utils.standing_stats(m, function(i) return batches[i] end, 4)
      assert.is_false(m.training)
      for c = 1, 3 do
         local mean_sum, var_sum = 0, 0
         for i = 1, 4 do
            local col = batches[i]:select(2, c):double():totable()
            local mu = 0
            for _, v in ipairs(col) do mu = mu + v end
            mu = mu / #col
            local ss = 0
            for _, v in ipairs(col) do ss = ss + (v - mu) ^ 2 end
            mean_sum, var_sum = mean_sum + mu, var_sum + ss / (#col - 1)
         end
         assert.is_true(math.abs(bn.running_mean[c] - mean_sum / 4) < 1e-5)
         assert.is_true(math.abs(bn.running_var[c] - var_sum / 4) < 1e-4)
      end
      assert.are.equal(0.1, bn.momentum)
   end)

   it("leaves a model without batch norm unchanged, in eval mode", function()
      local m = nn.Sequential { nn.Linear(2, 2) }
      local w = m[1].weight:clone()
      nn.utils.standing_stats(m, function() return gan.randn { 4, 2 } end, 2)
      assert.is_false(m.training)
      assert.are.equal(0, (m[1].weight - w):abs():max():item())
   end)
end)
