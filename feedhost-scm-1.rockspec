-- luarocks make (from a clone of this repository): builds with CMake and installs the same files
-- as `cmake --install`: the Lua modules and their resources in the tree's share/lua/5.1, the C
-- core as feedhost/core.so in its lib/lua/5.1, the feedhost command in its bin. Needs what
-- `.ci/deps` installs (Debian's LuaJIT, lua-cjson, libwebsockets, OpenSSL, zlib, CMake,
-- pkg-config): the dependencies come from Debian, not from rocks.
--   luarocks --lua-version 5.1 make --tree /usr/local     (or --local)
rockspec_format = "3.0"
package = "feedhost"
version = "scm-1"
source = {
  url = "git+file:///dev/null",   -- for `luarocks make` in a clone; not published
}
description = {
  summary = "A streaming host for broker and exchange feeds, driven by Lua specs",
  detailed = [[
    A Lua spec says how to connect, authenticate, subscribe and turn every message into
    normalized records; a thin C host owns the sockets, TLS, timers and the bytes-to-record path.
    As a module: local host = require("feedhost").new{ spec = ..., on_record = ... }.
  ]],
  license = "proprietary",
}
supported_platforms = { "linux" }
dependencies = {
  "lua == 5.1",   -- LuaJIT 2.1; lua-cjson: Debian's
}
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "RelWithDebInfo",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    FH_INSTALL_LUADIR = "$(LUADIR)",
    FH_INSTALL_LIBDIR = "$(LIBDIR)",
    FH_INSTALL_BINDIR = "$(BINDIR)",
    FH_TESTS = "OFF",
  },
}
