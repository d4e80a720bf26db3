// vm.h: the Lua VM the feedhost executable runs in: libraries, embedded modules, the one door
// for calling into Lua.
#ifndef FH_VM_H
#define FH_VM_H

#include <lua.h>
#include <stdbool.h>
#include <stddef.h>

#define FH_VERSION "0.1.0"

typedef struct fh_resource {
  const char *name;  // path relative to the source tree: "lua/feedhost/spec.lua"
  const char *data;
  size_t len;
} fh_resource;

/// A new Lua state with the standard libraries, `feedhost.core` preloaded and a module searcher
/// for the embedded sources. With `dev_dir` (a source tree), modules load from there first.
/// @return NULL when out of memory.
lua_State *fh_vm_new(const char *dev_dir);

/// Calls the function sitting below `nargs` arguments with a traceback handler. Pops the
/// function and its arguments; on success pushes `nres` results.
/// @return false on error (logged to stderr with `what`; stack balanced).
bool fh_pcall(lua_State *L, int nargs, int nres, const char *what);

/// An embedded file by name, or NULL.
const char *fh_vm_resource(const char *name, size_t *len);
/// Whether this binary carries embedded sources.
bool fh_vm_has_embedded(void);

/// Opens `feedhost.core` (lua/l_core.c).
int luaopen_feedhost_core(lua_State *L);

#endif
