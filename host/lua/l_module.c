// l_module.c: `require "feedhost.core"` from another LuaJIT application loads
// build/feedhost/core.so. The opener lives in l_core.c; this reference pulls it (and through it
// the codec) out of the static core library into the module.
#include <lua.h>

#include "vm.h"

int (*const fh_module_opener)(lua_State *L) = luaopen_feedhost_core;
