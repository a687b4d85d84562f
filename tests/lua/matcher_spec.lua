-- Text-image pairs of emoji (gan.data.emoji_text) and the matcher trained on them
-- (gan.metrics.matcher): tokens, the held-out split and the training vocabulary, the
-- keyword augmentation, the contrastive loss and R-precision by hand, and a short
-- training that retrieves held-out texts far above chance.
local gan = require("gan")
local T = require("gan.data.emoji_text")
local Mt = require("gan.metrics.matcher")
local D = require("gan.data.datasets")

describe("emoji described in words", function()
   local train, test
   setup(function()
      train = T.dataset { size = 32 }
      test = T.dataset { split = "test", size = 32, keep = 1 }
   end)

   it("tokenizes into lower-case words; splits by code point; builds the vocabulary from training texts only", function()
      assert.are.same({ "grinning", "face", "d", "2" }, T.tokenize("GRINNING_face :D 2"))
      local codes = {}
      for _, e in ipairs(train.entries) do
         assert.is_false(D.fnv1a(e.code) % 10 == 0)
         codes[e.code] = true
      end
      local only_test = 0
      for _, e in ipairs(test.entries) do
         assert.is_true(D.fnv1a(e.code) % 10 == 0)
         assert.is_nil(codes[e.code])
         for _, list in ipairs { e.name, e.keywords } do
            for _, w in ipairs(list) do if not train.vocab.id[w] then only_test = only_test + 1 end end
         end
      end
      assert.is_true(only_test > 0)   -- held-out texts have words the vocabulary never saw
      assert.are.same(train.vocab.words, test.vocab.words)   -- both built from the training texts
      assert.are.equal(3 * #train.entries, #train)             -- one pair per vendor
   end)

   it("texts: the name always, each keyword kept with probability keep; bags name unknown words", function()
      local b = train:get_batch(gan.tensor({ 0, 1, 2, 3 }, { dtype = "int64" }), gan.Generator(1))
      assert.are.same({ 4, 3, 32, 32 }, b.image:size())
      assert.are.same({ 0, 0, 0, 1 }, b.emoji:totable())   -- three vendors draw emoji 1
      local e = train.entries[1]
      for _, w in ipairs(e.name) do assert.are.equal(1, b.text[1][train.vocab.id[w]]) end
      -- keep 1: every keyword; keep 0: the name alone
      local all = T.dataset { size = 32, keep = 1 }:get_batch(gan.tensor({ 0 }, { dtype = "int64" }))
      local none = T.dataset { size = 32, keep = 0 }:get_batch(gan.tensor({ 0 }, { dtype = "int64" }), gan.Generator(1))
      assert.are.equal(#e.name + #e.keywords, all.text:sum():item())
      assert.are.equal(#e.name, none.text:sum():item())
      local bag, unknown = T.bag(train.vocab, "red apple qqqzzz")
      assert.are.equal(2, bag:sum():item())
      assert.are.same({ "qqqzzz" }, unknown)
   end)
end)

describe("the matcher", function()
   it("contrastive loss by hand; other drawings of the same emoji are not negatives", function()
      local sim = gan.tensor { { 1, 0 }, { 0, 1 } }
      local want = math.log(1 + math.exp(-1))   -- each row and column: -log(e / (e + 1)), tau 1
      local got = Mt.contrastive_loss(sim, gan.tensor({ 0, 1 }, { dtype = "int64" }), 1):item()
      assert.is_true(math.abs(got - want) < 1e-6)
      local same = Mt.contrastive_loss(sim, gan.tensor({ 5, 5 }, { dtype = "int64" }), 1):item()
      assert.is_true(same < 1e-6)
   end)

   it("R-precision: the share of images whose own text beats 99 others; trigram buckets", function()
      -- a stand-in matcher: image i and text i are the same unit vector, except text 3's
      local n = 120
      local stub = {
         image = function(_, x) return x end,
         text = function(_, b) return b end,
      }
      local eye = gan.eye(n)
      local texts = eye:clone()
      texts[3]:fill_(0); texts[3][4] = 1   -- text 3 points at image 4
      local emoji = gan.arange(0, n, 1, { dtype = "int64" })
      -- image 3's own text scores 0, below text 4 whenever text 4 is among its 99 others;
      -- image 4 ties with text 3 (a tie is not a win) when text 3 is drawn
      local r = Mt.r_precision(stub, eye, texts, emoji)
      assert.is_true(r >= (n - 2) / n and r < 1, r)
      assert.are.equal(1, Mt.r_precision(stub, eye, eye, emoji))
      local tri = Mt.trigram_matrix({ "ab", "abc" }, 64)
      assert.are.same({ 2, 3 }, tri:sum(2):totable())   -- "<ab", "ab>"; "<ab", "abc", "bc>"
   end)

   it("a short training retrieves held-out texts far above chance #release_only", function()
      local train = T.dataset { size = 32 }
      local test = T.dataset { split = "test", size = 32, keep = 1 }
      local m = Mt.train(train, { epochs = 2, seed = 3 })
      local b = test:get_batch(gan.arange(0, #test, 3, { dtype = "int64" }))
      local r = Mt.r_precision(m, b.image, b.text, b.emoji)
      assert.is_true(r > 0.05, r)   -- chance: 1 in 100
   end)
end)
