// l_core.c: the `feedhost.core` Lua module: the FFI API table and its declarations, the version.
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/numfmt.h"
#include "codec/ts.h"
#include "fh_api.h"
#include "vm.h"

// A file only its owner may read (captures hold what the feed said, credentials aside).
static int file_private(const char *path)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return errno;
  }
  int rc = fchmod(fd, 0600) == 0 ? 0 : errno;   // an existing file keeps its mode otherwise
  close(fd);
  return rc;
}

// A file opened for writing (created, or truncated). @return its descriptor, or -errno.
static int fd_create(const char *path)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  return fd < 0 ? -errno : fd;
}

// xorshift64*, per thread, seeded from the system's entropy at first use: every process (and
// thread) has its own sequence, so clients that lost the same server do not retry in lockstep.
static double random_unit(void)
{
  static _Thread_local uint64_t state;
  if (!state) {
    if (RAND_bytes((unsigned char *)&state, sizeof state) != 1 || !state) {
      state = (uint64_t)fh_clock_ns(FH_CLOCK_REALTIME) ^ ((uint64_t)getpid() << 32) ^ 1;
    }
  }
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return (double)((state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static const fh_api api = {
  .json_parse = fh_json_parse,
  .json_find = fh_json_find,
  .json_index = fh_json_index,
  .json_unescape = fh_json_unescape,
  .json_eq = fh_json_eq,
  .json_str_eq = fh_json_str_eq,
  .keyset_add = fh_keyset_add,
  .json_keys = fh_json_keys,
  .json_ts = fh_json_ts,
  .batch_new = fh_batch_new,
  .batch_free = fh_batch_free,
  .batch_clear = fh_batch_clear,
  .batch_push = fh_batch_push,
  .batch_push_meta = fh_batch_push_meta,
  .batch_push_json_string = fh_batch_push_json_string,
  .batch_push_base64 = fh_batch_push_base64,
  .base64_encode = fh_base64_encode,
  .fmt_double = fh_fmt_double,
  .ts_iso = fh_ts_iso,
  .utf8_valid = fh_utf8_valid,
  .clock_ns = fh_clock_ns,
  .random = random_unit,
  .out_new = fh_out_new,
  .out_free = fh_out_free,
  .out_begin = fh_out_begin,
  .out_str = fh_out_str,
  .out_num = fh_out_num,
  .out_jnum = fh_out_jnum,
  .out_int64 = fh_out_int64,
  .out_uint64 = fh_out_uint64,
  .out_raw = fh_out_raw,
  .out_open = fh_out_open,
  .out_close = fh_out_close,
  .out_end = fh_out_end,
  .out_cancel = fh_out_cancel,
  .out_line = fh_out_line,
  .out_write = fh_out_write,
  .out_wait = fh_out_wait,
  .fd_nonblock = fh_fd_nonblock,
  .fd_isatty = isatty,
  .fd_create = fd_create,
  .fd_close = close,
  .loop_new = fh_loop_new,
  .loop_free = fh_loop_free,
  .loop_open = fh_loop_open,
  .loop_listen = fh_loop_listen,
  .loop_send = fh_loop_send,
  .loop_ping = fh_loop_ping,
  .loop_close = fh_loop_close,
  .loop_poll = fh_loop_poll,
  .loop_batch = fh_loop_batch,
  .loop_stats = fh_loop_stats,
  .loop_signals = fh_loop_signals,
  .loop_wake = fh_loop_wake,
  .loop_signal_pending = fh_loop_signal_pending,
  .loop_fd = fh_loop_fd,
  .loop_arm = fh_loop_arm,
  .loop_wait_writable = fh_loop_wait_writable,
  .resource = fh_vm_resource,
  .file_private = file_private,
  .watch_new = fh_watch_new,
  .watch_free = fh_watch_free,
  .watch_where = fh_watch_where,
  .watch_label = fh_watch_label,
};

const fh_api *fh_api_get(void)
{
  return &api;
}

/// Opens `feedhost.core`. Leaves the module table on the stack: { api = lightuserdata (const
/// fh_api *), cdef = "..." (its FFI declarations), version = "...", embedded = bool }.
int luaopen_feedhost_core(lua_State *L)
{
  fh_watch_set_lua(L);   // the Lua state of this thread, for the watchdog's interrupts
  lua_newtable(L);                                  // [M]
  lua_pushlightuserdata(L, (void *)&api);           // [M, api]
  lua_setfield(L, -2, "api");                       // [M]
  lua_pushstring(L, fh_cdef);                       // [M, cdef]
  lua_setfield(L, -2, "cdef");                      // [M]
  lua_pushstring(L, FH_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushboolean(L, fh_vm_has_embedded());
  lua_setfield(L, -2, "embedded");
  return 1;
}
