-- Small end-to-end trainings: an MLP learns two interleaved spirals and a CNN learns to
-- tell horizontal from vertical bars in noisy 8x8 images, each with SGD + momentum, Adam,
-- AdamW and RMSprop. Data are generated here; every run takes a second or two.
local gan = require("gan")
local nn, F, optim = gan.nn, gan.F, gan.optim


local function accuracy(logits, y)
   return logits:argmax(2):eq(y):to("float32"):mean():item()
end

-- Two spirals of n points each, 1.5 turns, radius 0.15..1; class k is rotated by k pi.
local function spirals(n)
   local xs, ys = {}, {}
   for k = 0, 1 do
      for i = 1, n do
         local t = 0.15 + 0.85 * (i - 1) / (n - 1)
         local th = 3 * math.pi * t + k * math.pi
         xs[#xs + 1] = { t * math.cos(th), t * math.sin(th) }
         ys[#ys + 1] = k
      end
   end
   return gan.tensor(xs), gan.tensor(ys, { dtype = "int64" })
end

-- n noisy S x S images with one bar of random length and position: horizontal (class 0)
-- or vertical (class 1).
local function bars(n, S, noise)
   local imgs, ys = {}, {}
   for i = 1, n do
      local k = (i - 1) % 2
      local img = {}
      for r = 1, S do
         img[r] = {}
         for c = 1, S do img[r][c] = 0 end
      end
      local len = math.random(3, S - 2)
      local pos, start = math.random(1, S), math.random(1, S - len + 1)
      for j = start, start + len - 1 do
         if k == 0 then img[pos][j] = 1 else img[j][pos] = 1 end
      end
      imgs[i] = { img }
      ys[i] = k
   end
   return gan.tensor(imgs) + gan.randn { n, 1, S, S } * noise, gan.tensor(ys, { dtype = "int64" })
end

local OPTIMIZERS = {
   { "SGD + momentum", function(p, lr) return optim.SGD(p, { lr = lr.sgd, momentum = 0.9 }) end },
   { "Adam", function(p, lr) return optim.Adam(p, { lr = lr.adam }) end },
   { "AdamW", function(p, lr) return optim.AdamW(p, { lr = lr.adam, weight_decay = 1e-4 }) end },
   { "RMSprop", function(p, lr) return optim.RMSprop(p, { lr = lr.rmsprop }) end },
}

local threads
setup(function()
   threads = gan.get_num_threads()
   gan.set_num_threads(1)   -- tiny tensors: threads only add overhead
end)
teardown(function() gan.set_num_threads(threads) end)

describe("training an MLP on two spirals", function()
   local X, Y = spirals(100)
   local lrs = { sgd = 0.05, adam = 0.01, rmsprop = 0.005 }

   for _, o in ipairs(OPTIMIZERS) do
      it(o[1] .. " reaches >= 95% training accuracy", function()
         gan.manual_seed(2)
         local m = nn.Sequential { nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2) }
         local opt = o[2](m:parameters(), lrs)
         local start_acc = accuracy(m(X), Y)
         local first_loss, last_loss
         for step = 1, 1500 do
            opt:zero_grad()
            local out = m(X)
            local loss = F.cross_entropy(out, Y)
            loss:backward()
            opt:step()
            first_loss = first_loss or loss:item()
            last_loss = loss:item()
            if step % 50 == 0 and accuracy(out, Y) >= 0.99 then break end
         end
         local acc = accuracy(m(X), Y)
         assert.is_true(acc >= 0.95, ("%s: accuracy %.3f (from %.3f)"):format(o[1], acc, start_acc))
         assert.is_true(last_loss < first_loss * 0.5, ("loss %.4f -> %.4f"):format(first_loss, last_loss))
      end)
   end
end)

describe("training a CNN on horizontal vs vertical bars", function()
   math.randomseed(7)
   gan.manual_seed(1)
   local X, Y = bars(256, 8, 0.2)
   local Xt, Yt = bars(256, 8, 0.2)   -- held out
   local lrs = { sgd = 0.05, adam = 0.01, rmsprop = 0.003 }

   for _, o in ipairs(OPTIMIZERS) do
      it(o[1] .. " reaches >= 95% accuracy on training and held-out images", function()
         gan.manual_seed(2)
         local m = nn.Sequential {
            nn.Conv2d(1, 8, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, { padding = 1 }), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2),
         }
         local opt = o[2](m:parameters(), lrs)
         for step = 1, 600 do
            local idx = gan.randperm(256):narrow(1, 1, 64)
            local xb, yb = X:index_select(1, idx), Y:index_select(1, idx)
            opt:zero_grad()
            F.cross_entropy(m(xb), yb):backward()
            opt:step()
            if step % 25 == 0 and gan.no_grad(function() return accuracy(m(X), Y) end) >= 0.99 then break end
         end
         m:eval()
         local acc, held = gan.no_grad(function() return accuracy(m(X), Y), accuracy(m(Xt), Yt) end)
         assert.is_true(acc >= 0.95, ("%s: training accuracy %.3f"):format(o[1], acc))
         assert.is_true(held >= 0.95, ("%s: held-out accuracy %.3f"):format(o[1], held))
      end)
   end
end)
