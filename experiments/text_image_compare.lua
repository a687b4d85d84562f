--- Two text-to-image runs (gancls, stackgan) compared on the same held-out texts, text by
-- text: for each text, the share of `rounds` rounds of noise in which the judge ranked
-- the text first for its sample (gancls.text_hits: the seeds and distractor texts of `gan
-- eval`). Prints, and writes to `out` when given, each run's R-precision, the mean paired
-- difference a - b with its 95 % interval and the sign test over the texts
-- (gan.metrics.paired_comparison): whether a difference of R-precision is more than the
-- luck of which texts were held out and which noise was drawn.
--
--     gan run experiments/text_image_compare.lua --set a=runs/gancls/cls --set b=runs/gancls/plain
--     gan run experiments/text_image_compare.lua --set a=runs/gancls/cls --set b=runs/gancls/plain \
--        --set rounds=10 --set out=compare.md
local gan = require("gan")

local range = gan.config.range
local cfg = gan.config.from_args({
   a = gan.config.optional("string", gan.run.is_dir, gan.run.DIR_RULE),
   b = gan.config.optional("string", gan.run.is_dir, gan.run.DIR_RULE), rounds = range(10, "[1, inf)"),
   out = gan.config.optional("string"), threads = range(0, "[0, 1024]"),
}, arg or {})
if not (cfg.a and cfg.b) then
   error("text_image_compare: give the two run directories: --set a=RUN --set b=RUN", 0)
end
if cfg.threads > 0 then gan.set_num_threads(cfg.threads) end

local runs = {}
for _, key in ipairs { "a", "b" } do
   local model, _, step = gan.eval.load(cfg[key])
   if not model.held_out_set then
      error(("text_image_compare: %s is a %s run; it compares text-to-image runs (gancls, stackgan)"):format(
         cfg[key], model.name), 0)
   end
   local test, judge = model:held_out_set()
   runs[key] = { model = model, step = step, test = test, judge = judge }
end
local a, b = runs.a, runs.b
if a.test.size ~= b.test.size then
   error(("text_image_compare: %s draws %d px images, %s %d px; the judge compares one size"):format(cfg.a,
      a.test.size, cfg.b, b.test.size), 0)
end

local gancls = gan.models.get("gancls")
local ha = gancls.text_hits(a.model, a.test, a.judge, cfg.rounds)
local hb = gancls.text_hits(b.model, a.test, a.judge, cfg.rounds)
local r = gan.metrics.paired_comparison(ha, hb)
local text = table.concat({
   ("a = %s (step %s), b = %s (step %s): %d held-out texts, %d rounds of noise each, judged at %d px"):format(
      cfg.a, tostring(a.step), cfg.b, tostring(b.step), r.n, cfg.rounds, a.test.size),
   "",
   "| R-precision a | R-precision b | a - b | 95 % interval | texts a > b / a < b / equal | sign test p |",
   "|---|---|---|---|---|---|",
   ("| %.3f | %.3f | %+.3f | [%+.3f, %+.3f] | %d / %d / %d | %.3g |"):format(r.mean_a, r.mean_b, r.diff, r.ci_low,
      r.ci_high, r.wins, r.losses, r.ties, r.p_sign),
}, "\n") .. "\n"
io.write(text)
if cfg.out then
   local f = assert(io.open(cfg.out, "wb"))
   f:write(text)
   f:close()
end
