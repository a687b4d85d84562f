--- Gated PixelCNN (van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves & Kavukcuoglu
-- 2016): PixelCNN with gated units tanh(a) * sigmoid(b) and two stacks that together
-- remove its blind spot: a vertical stack whose features at row i see the rows up to i,
-- passed to the horizontal stack shifted down one row (so only rows above i), and a
-- horizontal stack that sees the pixels left of the current one in its row; the class
-- (model.conditional) enters every gate as a learned bias. Data, loss, evaluation and
-- pixel-by-pixel sampling are PixelCNN's; sheets of a conditional model have one row per
-- class, and its NLL is conditioned on the true class.
-- @module gan.models.gated_pixelcnn
local core = require("gan.core")
local nn = require("gan.nn")
local F = require("gan.nn.functional")
local pixelcnn = require("gan.models.pixelcnn")

local M = pixelcnn:extend {
   name = "gated_pixelcnn",
   summary = "Gated PixelCNN: vertical and horizontal stacks (no blind spot), class-conditional",
   paper = "van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves & Kavukcuoglu 2016, Conditional Image "
      .. "Generation with PixelCNN Decoders",
   -- n_classes: the digits' 10 (checked against the data)
   defaults = { model = { conditional = true, n_classes = require("gan.config").range(10, "[1, inf)"), n_samples = 100 } },
}

-- x shifted down by one row (a zero row on top) or right by one column.
local function shift_down(x) return F.pad(x, { 0, 0, 1, 0 }):narrow(3, 1, x:size(3)) end
local function shift_right(x) return F.pad(x, { 1, 0, 0, 0 }):narrow(4, 1, x:size(4)) end


-- One layer of both stacks (k x k receptive field per layer). The first layer reads the
-- image: its horizontal stack sees the pixels strictly left of the current one (the
-- image shifted right), later ones include the current position's features (which only
-- hold earlier pixels) and add a residual connection.
local Layer = nn.class("GatedPixelCNNLayer", nn.Module)
function Layer:__init(cin, h, k, first, n_classes)
   nn.Module.__init(self)
   self.k, self.first = k, first
   -- vertical: rows i - k//2 .. i, columns j - k//2 .. j + k//2
   self.v = nn.Conv2d(cin, 2 * h, { k // 2 + 1, k })
   self.v_to_h = nn.Conv2d(2 * h, 2 * h, 1)
   -- horizontal: columns j - k//2 .. j of row i
   self.h = nn.Conv2d(cin, 2 * h, { 1, k // 2 + 1 })
   self.h_out = nn.Conv2d(h, h, 1)
   if n_classes > 0 then
      self.cond_v = nn.Embedding(n_classes, 2 * h)
      self.cond_h = nn.Embedding(n_classes, 2 * h)
   end
end
--- One gated layer: the vertical stack (rows above) and the horizontal stack (the row to
-- the left), each gated, the class embedding added for a conditional network.
-- @tparam Tensor v the vertical stack (N, C, H, W)
-- @tparam Tensor hx the horizontal stack (N, C, H, W)
-- @tparam[opt] Tensor y int64 class labels (N)
-- @treturn Tensor the new vertical stack
-- @treturn Tensor the new horizontal stack (with the residual connection after the first layer)
function Layer:forward(v, hx, y)
   local k = self.k
   local vf = self.v(F.pad(v, { k // 2, k // 2, k // 2, 0 }))
   local hin = self.first and shift_right(hx) or hx
   local hf = self.h(F.pad(hin, { k // 2, 0, 0, 0 })) + self.v_to_h(shift_down(vf))
   if y ~= nil and self.cond_v then
      local n = vf:size(2)
      vf = vf + self.cond_v(y):view(-1, n, 1, 1)
      hf = hf + self.cond_h(y):view(-1, n, 1, 1)
   end
   local h_new = self.h_out(F.gate(hf))
   if not self.first then h_new = h_new + hx end
   return F.gate(vf), h_new
end

local Network = nn.class("GatedPixelCNN", nn.Module)
function Network:__init(h, layers, n_classes)
   nn.Module.__init(self)
   self.layers = nn.ModuleList {}
   self.layers:append(Layer(1, h, 7, true, n_classes))
   for _ = 2, layers do self.layers:append(Layer(h, h, 3, false, n_classes)) end
   self.out = nn.Sequential { nn.ReLU(), nn.Conv2d(h, h, 1), nn.ReLU(), nn.Conv2d(h, 1, 1) }
end
--- x (N, 1, H, W) of 0 and 1, y int64 (N) classes (conditional) -> logits (N, 1, H, W).
-- @tparam Tensor x
-- @tparam[opt] Tensor y
-- @treturn Tensor
function Network:forward(x, y)
   local v, hx = x, x
   for _, l in self.layers:ipairs() do v, hx = l(v, hx, y) end
   return self.out(hx)
end

--- x -> logits; opts: h (32), layers (the gated layers, 7: a 7x7 first, then 3x3),
-- n_classes (0: unconditional).
-- @tparam table opts the options above
-- @treturn Module
function M.Network(opts)
   return Network(opts.h or 32, opts.layers or 7, opts.n_classes or 0)
end

--- The gated network of model.h channels and model.blocks + 1 layers, conditioned on the
-- class when model.conditional.
-- @tparam table cfg the resolved config
-- @treturn Module
function M:make_network(cfg)
   local m = cfg.model
   return M.Network { h = m.h, layers = m.blocks + 1, n_classes = m.conditional and m.n_classes or 0 }
end

--- The network's logits for x, passing the labels y when the model is conditional.
-- @tparam Tensor x (N, 1, H, W) of 0 and 1
-- @tparam[opt] Tensor y int64 class labels (N)
-- @treturn Tensor (N, 1, H, W)
function M:logits(x, y)
   if self.cfg.model.conditional then return self.net(x, y) end
   return self.net(x)
end

--- One row per class for a conditional model.
-- @tparam int n the sheet's images
-- @treturn Tensor|nil int64 (n), nil for an unconditional model
function M:sheet_labels(n)
   if not self.cfg.model.conditional then return nil end
   local k = self.cfg.model.n_classes
   local l = {}
   for i = 1, n do l[i] = ((i - 1) * k) // n end
   return core.tensor(l, { dtype = "int64" })
end

return M
