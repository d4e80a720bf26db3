// batch.h: frames handed from C to the Lua pipeline, many per call.
//
// A batch is one growable byte buffer plus a frame table. Transports (and replay) append each
// received frame once; the compiled pipeline walks the table through FFI. Offsets, not
// pointers, so the buffer may grow while frames are appended.
#ifndef FH_BATCH_H
#define FH_BATCH_H

#include <stddef.h>
#include <stdint.h>

// FFI:BEGIN
enum { FH_FRAME_TEXT = 1, FH_FRAME_BINARY = 2 };

typedef struct fh_frame {
  uint32_t off;   // first byte in fh_batch.buf
  uint32_t len;   // bytes
  int64_t ts;     // receive time, epoch ns
  uint16_t conn;  // connection slot
  uint8_t kind;   // FH_FRAME_TEXT / FH_FRAME_BINARY
  uint8_t flags;
  uint32_t meta;  // bytes of metadata (an MQTT topic, ...) just before the payload, at off - meta
} fh_frame;

typedef struct fh_batch {
  char *buf;
  fh_frame *frames;
  uint32_t n;      // frames in use
  uint32_t ncap;   // frame slots allocated
  size_t used;     // bytes of buf in use
  size_t cap;      // bytes of buf allocated
} fh_batch;
// FFI:END

/// A new empty batch. @return NULL when out of memory.
fh_batch *fh_batch_new(size_t bytes, uint32_t frames);
void fh_batch_free(fh_batch *b);
/// Forgets every frame; keeps the memory.
void fh_batch_clear(fh_batch *b);
/// Appends a copy of `len` bytes as one frame. @return 0, or -1 when out of memory.
int fh_batch_push(fh_batch *b, uint16_t conn, uint8_t kind, int64_t ts, const char *data,
                  size_t len);
/// Appends `mlen` bytes of metadata then `len` bytes of payload as one frame (its `meta` = mlen).
/// @return 0, or -1 when out of memory.
int fh_batch_push_meta(fh_batch *b, uint16_t conn, uint8_t kind, int64_t ts, const char *meta,
                       size_t mlen, const char *data, size_t len);
/// Appends the JSON string body `src` (escapes decoded) as one frame, after `mlen` bytes of
/// metadata (may be 0). @return 0, -1 OOM, -2 bad escape.
int fh_batch_push_json_string(fh_batch *b, uint16_t conn, uint8_t kind, int64_t ts,
                              const char *meta, size_t mlen, const char *src, size_t len);
/// Appends base64 `src` decoded as one frame, after `mlen` bytes of metadata (may be 0).
/// @return 0, -1 OOM, -2 bad base64.
int fh_batch_push_base64(fh_batch *b, uint16_t conn, uint8_t kind, int64_t ts, const char *meta,
                         size_t mlen, const char *src, size_t len);

/// Base64 (RFC 4648, with padding) of `len` bytes into `dst` (room: 4*ceil(len/3)).
size_t fh_base64_encode(const uint8_t *src, size_t len, char *dst);
/// Decodes base64 (padding optional, no white space). @return bytes written or -1.
long fh_base64_decode(const char *src, size_t len, uint8_t *dst);

#endif
