-- Install gan as a rock from a checkout:
--   luarocks --lua-version 5.4 make gan-scm-1.rockspec
-- (`luarocks make` builds the current directory; source.url is only read by
-- `luarocks install`/`download`, which gan does not publish to.)
rockspec_format = "3.0"
package = "gan"
version = "scm-1"
source = {
   url = "git+file://./",
}
description = {
   summary = "A GAN research framework: C compute core, Lua 5.4 models, REPL",
   detailed = [[
gan is a small, hackable stack for generative adversarial networks: tensors, reverse-mode
autograd and optimizers in C on OpenBLAS, models and experiments in Lua 5.4, a REPL with
tab completion, and a `gan` command that runs experiment scripts.]],
}
dependencies = {
   "lua >= 5.4",
}
build = {
   type = "cmake",
   variables = {
      CMAKE_BUILD_TYPE = "Release",
      GAN_TESTS = "OFF",
      -- Where CMakeLists.txt installs gan/core.so and lua/gan: luarocks' per-rock dirs.
      LUA_LIBDIR = "$(LIBDIR)",
      LUADIR = "$(LUADIR)",
   },
   install = {
      bin = {
         gan = "bin/gan",
      },
   },
   -- the experiment scripts and the docs `gan help` points to, in the rock's directory
   copy_directories = { "docs", "experiments" },
}
