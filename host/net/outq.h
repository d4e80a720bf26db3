// outq.h: a bounded queue of outbound messages, each with LWS_PRE bytes of room before it (what
// lws_write wants).
#ifndef FH_OUTQ_H
#define FH_OUTQ_H

#include <stddef.h>
#include <stdint.h>

typedef struct fh_out {
  unsigned char *buf;   // LWS_PRE bytes of room, then the message
  size_t len;
  int kind;             // the adapter's own tag (frame type, raw bytes, ping...)
} fh_out;

typedef struct fh_outq {
  fh_out *m;            // ring
  unsigned head;
  unsigned n;
  unsigned cap;
} fh_outq;

enum { FH_OUTQ_MAX = 4096 };

/// @return 0, or -1 when out of memory.
int fh_outq_init(fh_outq *q, unsigned cap);
void fh_outq_free(fh_outq *q);
/// A new message of `len` bytes (room for `room` >= len) at the tail: its payload pointer, to
/// fill in (the length may be lowered through fh_outq_tail). NULL when full or out of memory.
unsigned char *fh_outq_push(fh_outq *q, int kind, size_t len, size_t room);
/// The newest / the oldest message, or NULL.
fh_out *fh_outq_tail(fh_outq *q);
fh_out *fh_outq_head(fh_outq *q);
/// Drops the oldest message.
void fh_outq_pop(fh_outq *q);

struct lws;
enum { FH_OUTQ_CHUNK = 256 * 1024 };
/// From a raw connection's writable callback: writes queued bytes, gathered into one write of
/// up to FH_OUTQ_CHUNK through `scratch` (LWS_PRE + FH_OUTQ_CHUNK bytes), counted in
/// *bytes_out. @return 0, or -1 when the write failed (close the connection).
int fh_outq_write(fh_outq *q, struct lws *wsi, unsigned char *scratch, uint64_t *bytes_out);

#endif
