// fh_api.h: the table of C leaf functions the Lua engine calls through LuaJIT's FFI.
//
// Lua receives a pointer to one const fh_api (see l_core.c) and casts it with the matching
// cdef in lua/feedhost/core.lua. Going through a table of pointers, rather than ffi.C, works
// the same in the feedhost executable and when the core is loaded as a module into someone
// else's LuaJIT. Every function is a leaf: it never calls Lua, never blocks, never raises.
#ifndef FH_API_H
#define FH_API_H

#include <stddef.h>
#include <stdint.h>

#include "codec/batch.h"
#include "codec/json_tape.h"
#include "codec/ts.h"

typedef struct fh_api {
  int (*json_parse)(const char *buf, size_t len, fh_jtok *tape, int cap, int *err_off);
  int (*json_find)(const fh_jtok *tape, const char *buf, int obj, const char *key, size_t klen);
  int (*json_index)(const fh_jtok *tape, int arr, int i);
  int (*json_unescape)(const char *src, size_t len, char *dst);
  fh_batch *(*batch_new)(size_t bytes, uint32_t frames);
  void (*batch_free)(fh_batch *b);
  void (*batch_clear)(fh_batch *b);
  int (*batch_push)(fh_batch *b, uint16_t conn, uint8_t kind, int64_t ts, const char *data,
                    size_t len);
  int (*batch_push_json_string)(fh_batch *b, uint16_t conn, uint8_t kind, int64_t ts,
                                const char *src, size_t len);
  int (*batch_push_base64)(fh_batch *b, uint16_t conn, uint8_t kind, int64_t ts,
                           const char *src, size_t len);
  size_t (*base64_encode)(const uint8_t *src, size_t len, char *dst);
  int (*fmt_double)(double v, char *dst);
  int64_t (*clock_realtime_ns)(void);
  int64_t (*clock_monotonic_ns)(void);
  int (*ts_iso)(const char *s, size_t len, int64_t *out);
  int (*json_eq)(const fh_jtok *tape, const char *buf, int obj, const char *key, size_t klen, const char *lit, size_t litlen);
  int (*json_str_eq)(const fh_jtok *tape, const char *buf, int tok, const char *lit, size_t litlen);
  int (*keyset_add)(fh_keyset *ks, const char *key, size_t klen);
  void (*json_keys)(const fh_jtok *tape, const char *buf, int obj, const fh_keyset *ks,
                    int32_t *slots);
  int (*json_ts)(const fh_jtok *tape, const char *buf, int tok, fh_ts_cache *cache, int64_t *out);
} fh_api;

/// The process-wide API table (immutable, shared by every host object).
const fh_api *fh_api_get(void);

#endif
