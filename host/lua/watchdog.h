// watchdog.h: time budgets for spec code, and signals that must end a command in time.
//
// Lua marks what it runs: before work that may call spec code (a reactor step's events and
// timers, a replay's batch) it sets `deadline` in its fh_watch; after, it sets it to 0. Spec
// code it enters sets the thread's `where` cell to a label (the key path, registered once with
// fh_watch_label). A watchdog thread looks at every watch ten times a second:
//   - past the deadline (or a SIGINT/SIGTERM the loop has not taken for a second), it
//     interrupts the Lua thread: a signal to that thread sets a count hook, and the hook raises
//     "feedhost: budget: ..." in the running Lua code, as often as it takes (a pcall in spec
//     code cannot swallow it) until the Lua side says it has taken it. The pipeline counts it at
//     the key path and drops the rest of its batch; the host goes on.
//   - a second later still, the code is in a loop LuaJIT compiled (hooks do not run inside
//     traces) or in C: the watchdog writes what was running (the label) to stderr and ends the
//     process (exit 1; 128 + the signal's number when a signal was waiting).
#ifndef FH_WATCHDOG_H
#define FH_WATCHDOG_H

#include <lua.h>
#include <stdint.h>

#include "core/loop.h"

// FFI:BEGIN
typedef struct fh_watch {
  int64_t deadline;  // monotonic ns by which the Lua side is back; 0: not running spec code
  int64_t budget;    // ns: what the deadline allows (for the messages)
  int32_t fired;     // 1: interrupted and raising; 2: the Lua side took the error; 0: none
  int32_t pad;
} fh_watch;
// FFI:END

/// A watch for the calling thread's Lua state (the one that opened feedhost.core on this
/// thread), optionally tied to a loop whose caught signals must be taken in time. The watch may
/// outlive the loop: freeing the loop unties it.
/// @return NULL when out of memory or when too many watches exist.
fh_watch *fh_watch_new(fh_loop *lp);
void fh_watch_free(fh_watch *w);
/// The calling thread's `where` cell (a label id).
int32_t *fh_watch_where(void);
/// The id of a label (interned: the same text gives the same id), or 0 when the table is full.
int32_t fh_watch_label(const char *text);
/// Remembers `L` as the calling thread's Lua state (luaopen_feedhost_core calls it).
void fh_watch_set_lua(lua_State *L);

#endif
