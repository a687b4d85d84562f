--- Helpers shared by image_spec, data_spec and datasets_spec: temporary directories,
-- files, flat float64 values and tolerant comparisons. Not a spec itself.
-- Load with: local H = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "image_helpers.lua")
local gan = require("gan")

local H = {}

function H.tmpdir()
   local p = io.popen("mktemp -d /tmp/gan_image_spec.XXXXXX")
   local d = p:read("l")
   p:close()
   return d
end

function H.rmdir(d)
   assert(d:match("^/tmp/gan_image_spec%."), d)
   os.execute("rm -rf '" .. d .. "'")
end

function H.read_all(path)
   local f = assert(io.open(path, "rb"))
   local s = f:read("a")
   f:close()
   return s
end

function H.write_all(path, s)
   local f = assert(io.open(path, "wb"))
   f:write(s)
   f:close()
end

--- Runs a shell command; returns its output (stdout and stderr) and whether it succeeded.
function H.sh(cmd)
   local p = io.popen(cmd .. " 2>&1")
   local out = p:read("a")
   local ok = p:close()
   return out, ok
end

--- Values of a tensor as a flat row-major list of Lua numbers.
function H.flat(t)
   local d = t:detach()
   if d.dtype ~= "int64" then d = d:double() end
   if d:dim() == 0 then return { d:item() } end
   return d:contiguous():reshape(-1):totable()
end

function H.shape(t) return "{" .. table.concat(t:size(), ", ") .. "}" end

--- Asserts |a - e| <= atol for every element (a, e: tensors or flat lists).
function H.close(a, e, atol, what)
   atol = atol or 1e-6
   local av = gan.is_tensor(a) and H.flat(a) or a
   local ev = gan.is_tensor(e) and H.flat(e) or e
   if #av ~= #ev then error(("%s: %d values, expected %d"):format(what or "close", #av, #ev), 2) end
   for i = 1, #ev do
      if not (math.abs(av[i] - ev[i]) <= atol) then
         error(("%s: element %d is %.10g, expected %.10g"):format(what or "close", i, av[i], ev[i]), 2)
      end
   end
   return true
end

--- Exact equality of shape and values (dtype too).
function H.identical(a, b, what)
   what = what or "identical"
   assert(a.dtype == b.dtype, what .. ": dtype " .. a.dtype .. " vs " .. b.dtype)
   assert(H.shape(a) == H.shape(b), what .. ": shape " .. H.shape(a) .. " vs " .. H.shape(b))
   local av, bv = H.flat(a), H.flat(b)
   for i = 1, #av do
      if av[i] ~= bv[i] then
         error(("%s: element %d differs: %.17g vs %.17g"):format(what, i, av[i], bv[i]), 2)
      end
   end
   return true
end

--- Fast exact comparison of large tensors (done by tensor ops, not Lua lists): true when
-- dtype, shape and every value agree.
function H.equal(a, b)
   if a.dtype ~= b.dtype or H.shape(a) ~= H.shape(b) then return false end
   return a:ne(b):sum():item() == 0
end

--- Asserts fn raises an error whose message contains each given string; returns it.
function H.raises(fn, ...)
   local ok, err = pcall(fn)
   assert(not ok, "expected an error")
   err = tostring(err)
   assert(#err > 0, "empty error message")
   for _, s in ipairs { ... } do
      assert(err:find(s, 1, true), ("error %q does not mention %q"):format(err, s))
   end
   return err
end

return H
