// fh_api.h: the one table of C functions the Lua engine calls, through LuaJIT's FFI.
//
// Lua receives a pointer to the one const fh_api (lua/l_core.c) and casts it once, with the
// declarations the build extracted from the FFI sections of the C headers (host/gen_cdef.lua:
// codec/batch.h, codec/json_tape.h, codec/ndjson.h, core/loop.h and this file), so every type and constant Lua
// uses is C's own. A table of pointers rather than ffi.C works the same in the feedhost
// executable and when the core is a module loaded into another application's LuaJIT.
//
// The codec functions are leaves: they never call Lua, never block, never raise, and are safe in
// JIT-compiled code. The loop functions never call Lua or raise either; loop_poll waits (at most
// its timeout) for the network.
#ifndef FH_API_H
#define FH_API_H

#include <stddef.h>
#include <stdint.h>

#include "codec/batch.h"
#include "codec/json_tape.h"
#include "codec/ndjson.h"
#include "codec/utf8.h"
#include "core/loop.h"
#include "lua/watchdog.h"

// FFI:BEGIN
typedef struct fh_api {
  // the JSON tape (codec/json_tape.h)
  int (*json_parse)(const char *buf, size_t len, fh_jtok *tape, int cap, int *err_off);
  int (*json_find)(const fh_jtok *tape, const char *buf, int obj, const char *key, size_t klen);
  int (*json_index)(const fh_jtok *tape, int arr, int i);
  int (*json_unescape)(const char *src, size_t len, char *dst);
  int (*json_eq)(const fh_jtok *tape, const char *buf, int obj, const char *key, size_t klen,
                 const char *lit, size_t litlen);
  int (*json_str_eq)(const fh_jtok *tape, const char *buf, int tok, const char *lit,
                     size_t litlen);
  int (*keyset_add)(fh_keyset *ks, const char *key, size_t klen);
  void (*json_keys)(const fh_jtok *tape, const char *buf, int obj, const fh_keyset *ks,
                    int32_t *slots);
  int (*json_ts)(const fh_jtok *tape, const char *buf, int tok, fh_ts_cache *cache,
                 int64_t *out);
  // batches (codec/batch.h)
  fh_batch *(*batch_new)(size_t bytes, uint32_t frames);
  void (*batch_free)(fh_batch *b);
  void (*batch_clear)(fh_batch *b);
  int (*batch_push)(fh_batch *b, uint16_t conn, uint8_t kind, int64_t ts, const char *data,
                    size_t len);
  int (*batch_push_meta)(fh_batch *b, uint16_t conn, uint8_t kind, int64_t ts, const char *meta,
                         size_t mlen, const char *data, size_t len);
  int (*batch_push_json_string)(fh_batch *b, uint16_t conn, uint8_t kind, int64_t ts,
                                const char *meta, size_t mlen, const char *src, size_t len);
  int (*batch_push_base64)(fh_batch *b, uint16_t conn, uint8_t kind, int64_t ts,
                           const char *meta, size_t mlen, const char *src, size_t len);
  // text
  size_t (*base64_encode)(const uint8_t *src, size_t len, char *dst);
  int (*fmt_double)(double v, char *dst);
  int (*ts_iso)(const char *s, size_t len, int64_t *out);
  int (*utf8_valid)(const uint8_t *p, size_t n, size_t *bad);
  // the one clock (FH_CLOCK_REALTIME: epoch ns; FH_CLOCK_MONOTONIC)
  int64_t (*clock_ns)(int which);
  // a uniform random number in [0, 1), seeded from the system's entropy (backoff jitter)
  double (*random)(void);
  // NDJSON lines written in C (codec/ndjson.h)
  fh_out *(*out_new)(size_t limit);
  void (*out_free)(fh_out *o);
  void (*out_begin)(fh_out *o, const char *prefix, size_t n);
  void (*out_str)(fh_out *o, const char *k, size_t kn, const char *s, size_t n);
  int (*out_num)(fh_out *o, const char *k, size_t kn, double v);
  int (*out_jnum)(fh_out *o, const char *k, size_t kn, const fh_jtok *tape, int tok,
                  const char *buf);
  void (*out_int64)(fh_out *o, const char *k, size_t kn, int64_t v);
  void (*out_uint64)(fh_out *o, const char *k, size_t kn, uint64_t v);
  void (*out_raw)(fh_out *o, const char *k, size_t kn, const char *s, size_t n);
  void (*out_open)(fh_out *o, const char *k, size_t kn, char c);
  void (*out_close)(fh_out *o, char c);
  int (*out_end)(fh_out *o);
  void (*out_cancel)(fh_out *o);
  int (*out_line)(fh_out *o, const char *s, size_t n);
  int (*out_write)(fh_out *o, int fd);
  int (*out_wait)(fh_out *o, int fd, int timeout_ms);
  int (*fd_nonblock)(int fd, int on);
  int (*fd_isatty)(int fd);
  int (*fd_create)(const char *path);   // a file to write (created 0644, truncated): fd or -errno
  int (*fd_close)(int fd);
  // the event loop (core/loop.h)
  fh_loop *(*loop_new)(char *err);
  void (*loop_free)(fh_loop *lp);
  int (*loop_open)(fh_loop *lp, const char *transport, const fh_kv *opts, int nopts, char *err);
  int (*loop_listen)(fh_loop *lp, const char *transport, const fh_kv *opts, int nopts,
                     int *port, char *err);
  int (*loop_send)(fh_loop *lp, int id, int kind, const char *data, size_t len);
  int (*loop_ping)(fh_loop *lp, int id);
  int (*loop_close)(fh_loop *lp, int id, int code, const char *reason);
  int (*loop_poll)(fh_loop *lp, int timeout_ms, const fh_event **events);
  fh_batch *(*loop_batch)(fh_loop *lp, int id);
  int (*loop_stats)(fh_loop *lp, int id, fh_conn_stats *out);
  int (*loop_signals)(fh_loop *lp, int on);
  void (*loop_wake)(fh_loop *lp);
  int (*loop_signal_pending)(fh_loop *lp, int64_t *since);
  int (*loop_fd)(fh_loop *lp, char *err);
  void (*loop_arm)(fh_loop *lp, int timeout_ms);
  int (*loop_wait_writable)(fh_loop *lp, int fd);
  // files embedded at build time (lua/, specs/, registry/): NULL when absent
  const char *(*resource)(const char *name, size_t *len);
  // creates (or truncates) a file readable and writable by its owner only: 0 or an errno
  int (*file_private)(const char *path);
  // time budgets for spec code (lua/watchdog.h)
  fh_watch *(*watch_new)(fh_loop *lp);
  void (*watch_free)(fh_watch *w);
  int32_t *(*watch_where)(void);
  int32_t (*watch_label)(const char *text);
} fh_api;
// FFI:END

/// The process-wide API table (immutable, shared by every host object).
const fh_api *fh_api_get(void);
/// The FFI declarations of the headers above, as one text for ffi.cdef (generated at build).
extern const char fh_cdef[];

#endif
