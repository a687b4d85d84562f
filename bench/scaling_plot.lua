--- Draws bench/scaling.sh's CSV: one panel per image size, images per second of gan and
-- PyTorch against log2 of the batch size.
--
--    lua5.4 bench/scaling_plot.lua build/scaling/scaling.csv build/scaling/scaling.png
local gan = require("gan")

local csv, out = arg[1], arg[2]
if not (csv and out) then error("usage: scaling_plot.lua SCALING.csv OUT.png") end
local by_size, sizes = {}, {}
local header = true
for line in io.lines(csv) do
   if header then
      header = false
   else
      local s, b, _, _, gi, ti = line:match("^(%d+),(%d+),([^,]*),([^,]*),([^,]*),([^,]*)$")
      if not s then error(("scaling_plot: %s: a line that is not size,batch,gan_ms,torch_ms,gan_img_s,torch_img_s: %q")
         :format(csv, line)) end
      s = tonumber(s)
      if not by_size[s] then by_size[s] = {}; sizes[#sizes + 1] = s end
      table.insert(by_size[s], { log2_batch = math.log(tonumber(b), 2), gan_img_s = tonumber(gi),
         torch_img_s = tonumber(ti) })
   end
end
if #sizes == 0 then error("scaling_plot: " .. csv .. " has no measurements") end
table.sort(sizes)
local panels = {}
for i, s in ipairs(sizes) do
   panels[i] = gan.plot.render(by_size[s], { x = "log2_batch", keys = { "gan_img_s", "torch_img_s" },
      title = ("DCGAN %dx%d: images/s"):format(s, s), width = 420, height = 300 })
end
gan.image.save(out, gan.cat(panels, 3))
