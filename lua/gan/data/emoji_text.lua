--- Emoji described in words: text-image pairs for text-to-image models. Every emoji of
-- the emoji-datasource packages has a name and short names (emoji.json), and the npm
-- package `emojilib` (MIT) gives it about eight keywords; each vendor draws it, so one
-- text has one image per vendor. A text is the name's words plus a random subset of the
-- keywords (augmentation; each kept with probability `keep`); words are lower-case runs of
-- letters and digits. The held-out split is the emoji data sets' (code points whose FNV-1a
-- hash is divisible by 10): their texts and images are never in training, and the
-- vocabulary is built from the training texts alone.
-- @module gan.data.emoji_text
local core = require("gan.core")
local D = require("gan.data.datasets")

local T = {}

--- The words of a text: lower-case runs of letters and digits ("grinning_face", ":D" ->
-- "grinning", "face", "d").
-- @tparam string s
-- @treturn {string,...}
function T.tokenize(s)
   local out = {}
   for w in tostring(s):lower():gmatch("[%a%d]+") do out[#out + 1] = w end
   return out
end

-- The UTF-8 string of a code point sequence "1F600" or "0023-FE0F-20E3".
local function chars(unified)
   local cps = {}
   for h in unified:gmatch("[^-]+") do cps[#cps + 1] = tonumber(h, 16) end
   return utf8.char(table.unpack(cps))
end

local function read_json(path)
   local f = io.open(path, "rb")
   if not f then return nil end
   local t = require("cjson").decode(f:read("a"))
   f:close()
   return t
end

--- The text of every emoji drawn by all of `vendors`: { code, name (words), keywords
-- (words, without the name's), test (held out) }, sorted by code.
-- @tparam {string,...} vendors emoji-datasource vendors
-- @treturn {table,...}
-- @raise when emojilib or a vendor's package is missing
function T.entries(vendors)
   local dir = D.data_dir() .. "/node_modules"
   local lib = read_json(dir .. "/emojilib/dist/emoji-en-US.json")
   if not lib then
      error(("emoji_text: the npm package emojilib is not installed; run: npm install --prefix '%s' emojilib"):format(
         D.data_dir()), 0)
   end
   local list = read_json(dir .. "/emoji-datasource-" .. vendors[1] .. "/emoji.json")
   if not list then error(("emoji_text: emoji-datasource-%s is not installed; run: gan data fetch emoji"):format(vendors[1]), 0) end
   local out = {}
   for _, e in ipairs(list) do
      local drawn = true
      for _, v in ipairs(vendors) do drawn = drawn and e["has_img_" .. v] == true end
      if drawn then
         local c = chars(e.unified)
         local kws = lib[c] or lib[(c:gsub("\u{FE0F}", ""))]
            or (type(e.non_qualified) == "string" and lib[chars(e.non_qualified)])
         local name = T.tokenize(e.name or e.short_name or "")
         for _, s in ipairs(e.short_names or {}) do
            for _, w in ipairs(T.tokenize(s)) do name[#name + 1] = w end
         end
         local seen, words = {}, {}
         for _, w in ipairs(name) do
            if not seen[w] then seen[w] = true; words[#words + 1] = w end
         end
         local keys = {}
         for _, k in ipairs(kws or {}) do
            for _, w in ipairs(T.tokenize(k)) do
               if not seen[w] then seen[w] = true; keys[#keys + 1] = w end
            end
         end
         out[#out + 1] = { code = e.unified, name = words, keywords = keys, image = e.image,
            test = D.fnv1a(e.unified) % 10 == 0 }
      end
   end
   table.sort(out, function(a, b) return a.code < b.code end)
   return out
end

--- A vocabulary: the words of `entries` (name and keywords) in sorted order, ids 1..V;
-- id 0 is no word (padding).
-- @tparam {table,...} entries as T.entries gives them
-- @treturn table { words = {string,...}, id = {word -> id} }
function T.vocabulary(entries)
   local seen, words = {}, {}
   for _, e in ipairs(entries) do
      for _, list in ipairs { e.name, e.keywords } do
         for _, w in ipairs(list) do
            if not seen[w] then seen[w] = true; words[#words + 1] = w end
         end
      end
   end
   table.sort(words)
   local id = {}
   for i, w in ipairs(words) do id[w] = i end
   return { words = words, id = id }
end

--- A text's bag of words over a vocabulary: a (V) float32 multi-hot vector, and the words
-- the vocabulary does not know (a prompt made only of those is an error for the caller).
-- @tparam table vocab T.vocabulary's
-- @tparam string|{string,...} text a string (tokenized) or a list of words
-- @treturn Tensor (V)
-- @treturn {string,...} unknown words
function T.bag(vocab, text)
   local words = type(text) == "string" and T.tokenize(text) or text
   local v = core.zeros { #vocab.words }
   local unknown = {}
   for _, w in ipairs(words) do
      local i = vocab.id[w]
      if i then v[i] = 1 else unknown[#unknown + 1] = w end
   end
   return v, unknown
end

local Pairs = {}
Pairs.__index = Pairs
Pairs.__len = function(self) return #self.items end
--- The number of (vendor image, text) pairs.
-- @treturn int
function Pairs:len() return #self.items end

--- A batch: images (B, 3, S, S), texts as bags of words (B, V) with each keyword kept with
-- probability `keep` (drawn from g; the name always), and the emoji's index in ds.entries
-- (B) int64 (pairs of the same emoji share it).
-- @tparam Tensor idx int64 0-based positions
-- @tparam[opt] Generator g
-- @treturn table { image, text, emoji }
function Pairs:get_batch(idx, g)
   local ids = idx:totable()
   local files = {}
   for i, j in ipairs(ids) do files[i] = self.items[j + 1].file end
   local images = D.files(files, { size = self.size, signed = true }):get_batch(core.arange(0, #files, 1, { dtype = "int64" }))
   local V = #self.vocab.words
   local text = core.zeros { #ids, V }
   local emoji = {}
   for i, j in ipairs(ids) do
      local item = self.items[j + 1]
      local e = self.entries[item.entry]
      emoji[i] = item.entry - 1
      for _, w in ipairs(e.name) do local k = self.vocab.id[w]; if k then text[i][k] = 1 end end
      if #e.keywords > 0 then
         local u = self.keep < 1 and core.rand({ #e.keywords }, { dtype = "float64", generator = g }):totable() or nil
         for n, w in ipairs(e.keywords) do
            local k = self.vocab.id[w]
            if k and (not u or u[n] < self.keep) then text[i][k] = 1 end
         end
      end
   end
   return { image = images.image, text = text, emoji = core.tensor(emoji, { dtype = "int64" }) }
end

--- One pair.
-- @tparam int i 1-based
-- @tparam[opt] Generator g
-- @treturn table { image (3, S, S), text (V), emoji }
function Pairs:get(i, g)
   local b = self:get_batch(core.tensor({ i - 1 }, { dtype = "int64" }), g)
   return { image = b.image[1], text = b.text[1], emoji = b.emoji[1] }
end

--- Text-image pairs of emoji.
-- @tparam[opt] table opts `vendors` ({"google", "twitter", "facebook"}; "apple" may be added:
--  its images are not for commercial use), `split` ("train" or "test"), `size` (64), `keep`
--  (0.5: the keywords' keep probability; 1: the whole text)
-- @treturn table a dataset: ds.entries (its emoji), ds.vocab (from the training texts)
function T.dataset(opts)
   opts = opts or {}
   local vendors = opts.vendors or { "google", "twitter", "facebook" }
   local split = opts.split or "train"
   if split ~= "train" and split ~= "test" then
      error(("emoji_text: split must be 'train' or 'test', got '%s'"):format(tostring(split)), 2)
   end
   local all = T.entries(vendors)
   local train, entries = {}, {}
   for _, e in ipairs(all) do
      if not e.test then train[#train + 1] = e end
      if e.test == (split == "test") then entries[#entries + 1] = e end
   end
   local items = {}
   local dir = D.data_dir() .. "/node_modules/emoji-datasource-"
   for k, e in ipairs(entries) do
      for _, v in ipairs(vendors) do
         items[#items + 1] = { entry = k, file = ("%s%s/img/%s/64/%s"):format(dir, v, v, e.image) }
      end
   end
   return setmetatable({ name = "emoji_text", entries = entries, items = items, vocab = T.vocabulary(train),
      size = opts.size or 64, keep = opts.keep or 0.5, vendors = vendors }, Pairs)
end

return T
