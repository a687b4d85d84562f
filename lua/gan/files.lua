--- gan.files: the file system helpers the rest of gan shares: whether a path exists,
-- reading a whole file, writing one atomically, creating directories. Errors name the
-- path and the system's reason. Nothing here goes through a shell.
-- @module gan.files
local lfs = require("lfs")

local files = {}

--- Whether anything (file, directory, ...) is at path.
-- @tparam string path
-- @treturn boolean
function files.exists(path)
   return lfs.attributes(path, "mode") ~= nil
end

--- Whether path is a directory.
-- @tparam string path
-- @treturn boolean
function files.is_dir(path)
   return lfs.attributes(path, "mode") == "directory"
end

--- The names in a directory, without the hidden ones (starting with "."), sorted by bytes
-- (so that an order derived from them, class labels say, does not depend on the locale);
-- an empty list when dir cannot be read.
-- @tparam string dir
-- @treturn {string,...}
function files.list(dir)
   local out = {}
   local ok, iter, state = pcall(lfs.dir, dir)
   if not ok then return out end
   for name in iter, state do
      if name:sub(1, 1) ~= "." then out[#out + 1] = name end
   end
   table.sort(out)
   return out
end

--- A whole file's bytes, or nil and the system's reason.
-- @tparam string path
-- @treturn string|nil the contents
-- @treturn[opt] string why it could not be read
function files.read(path)
   local f, err = io.open(path, "rb")
   if not f then return nil, err end
   local text, rerr = f:read("a")
   f:close()
   if not text then return nil, ("%s: %s"):format(path, tostring(rerr)) end
   return text
end

--- Writes a whole file atomically: to path .. ".tmp", then renamed over path, so a reader
-- (or a crash) never sees half of it; on failure the temporary is removed and the old
-- file, if any, stays.
-- @tparam string path
-- @tparam string text
-- @raise "cannot write PATH: reason"
function files.write_atomic(path, text)
   local tmp = path .. ".tmp"
   local f, err = io.open(tmp, "wb")
   local ok = f ~= nil
   if f then
      ok, err = f:write(text)
      if ok then ok, err = f:flush() end
      local closed, close_err = f:close()
      if ok and not closed then ok, err = false, close_err end
      if ok then ok, err = os.rename(tmp, path) end
      if not ok then os.remove(tmp) end
   end
   if not ok then error(("cannot write %s: %s"):format(path, tostring(err)), 0) end
end

--- mkdir -p: creates path and the directories above it that are missing.
-- @tparam string path
-- @treturn boolean whether this call created the last directory
-- @raise "cannot create DIR: reason"
function files.mkdir_p(path)
   local prefix = path:sub(1, 1) == "/" and "/" or ""
   local done, created = "", false
   for part in path:gmatch("[^/]+") do
      done = done == "" and prefix .. part or done .. "/" .. part
      created = false
      if not files.exists(done) then
         local ok, err = lfs.mkdir(done)
         if not ok and not files.exists(done) then error(("cannot create %s: %s"):format(done, err), 0) end
         created = ok ~= nil
      end
   end
   return created
end

return files
