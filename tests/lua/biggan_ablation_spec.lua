-- experiments/biggan_ablation.lua on a tiny budget: the tables it writes hold what its
-- runs measured (mean ± sd over the seeds, the raw G's measures in the raw table and in
-- the no_ema row), and running it again measures nothing anew.
local C = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "cli_helpers.lua")
local cjson = require("cjson")

local read = C.read_file

-- the table rows of md, by the first cell, one map per table in order
local function tables(md)
   local out, cur = {}, nil
   for line in (md .. "\n"):gmatch("([^\n]*)\n") do
      if line:match("^| run ") then
         cur = {}
         out[#out + 1] = cur
      elseif line:match("^|") and cur and not line:match("^|%-") then
         local cells = {}
         for c in line:sub(2):gmatch("([^|]*)|") do cells[#cells + 1] = c:match("^%s*(.-)%s*$") end
         cur[cells[1]] = cells
      elseif not line:match("^|") then
         cur = nil
      end
   end
   return out
end

-- "mean ± sd" of xs (sample sd), as the table writes FID
local function fid_cell(xs)
   local m = (xs[1] + xs[2]) / 2
   local sd = math.sqrt((xs[1] - m) ^ 2 + (xs[2] - m) ^ 2)   -- divided by n - 1 = 1
   return ("%.1f ± %.1f"):format(m, sd)
end

describe("experiments/biggan_ablation.lua", function()
   local root = os.tmpname()
   os.remove(root)
   local function run()
      return C.sh(("cd %s && OPENBLAS_NUM_THREADS=1 %s run experiments/biggan_ablation.lua --set only=full "
         .. "--set steps=4 --set seeds=2 --set n=200 --set root=%s"):format(C.quote(C.root), C.quote(C.gan), C.quote(root)))
   end
   local first = run()
   teardown(function() os.execute("rm -rf " .. C.quote(root)) end)

   it("writes the EMA table and the raw table from its runs' measures", function()
      assert.are.equal(0, first.code, first.stderr)
      local r = {}
      for s = 0, 1 do r[s + 1] = cjson.decode(read(("%s/biggan/full_s%d/eval.json"):format(root, s))) end
      local t = tables(read(root .. "/table.md"))
      assert.are.equal(2, #t)
      local ema, raw = t[1], t[2]
      assert.are.equal(fid_cell { r[1].fid, r[2].fid }, ema["full (2 seeds)"][3])
      assert.are.equal(fid_cell { r[1].raw_fid, r[2].raw_fid }, ema["no_ema (2 seeds)"][3])
      assert.are.equal(fid_cell { r[1].raw_fid, r[2].raw_fid }, raw["full (2 seeds)"][3])
      assert.are_not.equal(r[1].fid, r[1].raw_fid)   -- the two generators were measured apart
      -- the raw table's row is the no_ema row, cell for cell after the label and what
      for i = 3, 7 do assert.are.equal(ema["no_ema (2 seeds)"][i], raw["full (2 seeds)"][i]) end
      assert.is_nil(raw["no_ema (2 seeds)"])
   end)

   it("measures nothing anew when run again", function()
      local eval0, table0 = read(root .. "/biggan/full_s0/eval.json"), read(root .. "/table.md")
      local again = run()
      assert.are.equal(0, again.code, again.stderr)
      assert.are.equal(eval0, read(root .. "/biggan/full_s0/eval.json"))   -- its train_seconds too
      assert.are.equal(table0, read(root .. "/table.md"))
      assert.truthy(again.stdout:find("full seed 1: FID", 1, true))
   end)
end)
