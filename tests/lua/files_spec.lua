-- gan.files: existence, whole-file reads, atomic writes, mkdir -p and directory listings,
-- with errors that name the path.
local lfs = require("lfs")
local files = require("gan.files")

local function pattern(s) return (s:gsub("%p", "%%%0")) end

describe("gan.files", function()
   local root
   before_each(function()
      root = os.tmpname()
      os.remove(root)
      assert(lfs.mkdir(root))
   end)
   after_each(function() os.execute("rm -rf '" .. root .. "'") end)

   it("write_atomic replaces a file whole or names why it could not", function()
      local path = root .. "/out.json"
      files.write_atomic(path, "first\n")
      files.write_atomic(path, "second\n")
      local f = assert(io.open(path, "rb"))
      assert.are.equal("second\n", f:read("a"))
      f:close()
      assert.is_false(files.exists(path .. ".tmp"))
      -- the temporary cannot be created: nothing is written, the error names the file
      local ok, err = pcall(files.write_atomic, root .. "/no/such/dir/out.json", "x")
      assert.is_false(ok)
      assert.matches("^cannot write " .. pattern(root) .. "/no/such/dir/out%.json: .*No such file or directory", err)
      -- the rename fails (a directory stands at the path): it stays, the temporary goes
      assert(lfs.mkdir(root .. "/taken"))
      ok, err = pcall(files.write_atomic, root .. "/taken", "x")
      assert.is_false(ok)
      assert.matches("^cannot write " .. pattern(root) .. "/taken: ", err)
      assert.is_true(files.is_dir(root .. "/taken"))
      assert.is_false(files.exists(root .. "/taken.tmp"))
   end)

   it("read gives the bytes, or nil and the reason", function()
      local path = root .. "/bytes"
      local bytes = "a\0b\r\n\255"
      files.write_atomic(path, bytes)
      assert.are.equal(bytes, files.read(path))
      local text, err = files.read(root .. "/missing")
      assert.is_nil(text)
      assert.matches(pattern(root) .. "/missing: No such file or directory", err)
   end)

   it("mkdir_p creates the missing levels and says whether it made the last", function()
      local deep = root .. "/a/b/c"
      assert.is_true(files.mkdir_p(deep))
      assert.is_true(files.is_dir(deep))
      assert.is_false(files.mkdir_p(deep))          -- already there
      assert.is_false(files.mkdir_p(root .. "/a/")) -- a trailing slash is the same directory
      -- a file in the way: the error names the level that could not be made
      files.write_atomic(root .. "/file", "")
      local ok, err = pcall(files.mkdir_p, root .. "/file/sub")
      assert.is_false(ok)
      assert.matches("^cannot create " .. pattern(root) .. "/file/sub: ", err)
   end)

   it("exists, is_dir and list", function()
      assert.is_true(files.exists(root))
      assert.is_false(files.exists(root .. "/nothing"))
      for _, name in ipairs { "b", "a", "B", ".hidden", "_x" } do files.write_atomic(root .. "/" .. name, "") end
      assert(lfs.mkdir(root .. "/dir"))
      assert.is_true(files.is_dir(root .. "/dir"))
      assert.is_false(files.is_dir(root .. "/a"))
      assert.is_false(files.is_dir(root .. "/nothing"))
      -- byte order, hidden names left out
      assert.are.same({ "B", "_x", "a", "b", "dir" }, files.list(root))
      assert.are.same({}, files.list(root .. "/nothing"))
   end)
end)
