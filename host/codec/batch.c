// batch.c: see batch.h.
#include "batch.h"

#include <stdlib.h>
#include <string.h>

#include "json_tape.h"

fh_batch *fh_batch_new(size_t bytes, uint32_t frames)
{
  fh_batch *b = calloc(1, sizeof *b);
  if (!b) {
    return NULL;
  }
  b->cap = bytes ? bytes : 4096;
  b->ncap = frames ? frames : 64;
  b->buf = malloc(b->cap);
  b->frames = malloc(b->ncap * sizeof *b->frames);
  if (!b->buf || !b->frames) {
    fh_batch_free(b);
    return NULL;
  }
  return b;
}

void fh_batch_free(fh_batch *b)
{
  if (b) {
    free(b->buf);
    free(b->frames);
    free(b);
  }
}

void fh_batch_clear(fh_batch *b)
{
  b->n = 0;
  b->used = 0;
}

// Room for one more frame of up to `len` bytes; returns where its bytes go, or NULL.
static char *reserve(fh_batch *b, size_t len)
{
  if (len > UINT32_MAX || b->used + len > UINT32_MAX) {
    return NULL;
  }
  if (b->n == b->ncap) {
    uint32_t ncap = b->ncap * 2;
    fh_frame *f = realloc(b->frames, ncap * sizeof *f);
    if (!f) {
      return NULL;
    }
    b->frames = f;
    b->ncap = ncap;
  }
  if (b->used + len > b->cap) {
    size_t cap = b->cap * 2;
    while (cap < b->used + len) {
      cap *= 2;
    }
    char *buf = realloc(b->buf, cap);
    if (!buf) {
      return NULL;
    }
    b->buf = buf;
    b->cap = cap;
  }
  return b->buf + b->used;
}

// Records the frame whose payload of `len` bytes follows `mlen` bytes of metadata at b->used.
static void commit(fh_batch *b, uint16_t conn, uint8_t kind, int64_t ts, size_t mlen, size_t len)
{
  b->used += mlen;
  fh_frame *f = &b->frames[b->n++];
  f->off = (uint32_t)b->used;
  f->len = (uint32_t)len;
  f->ts = ts;
  f->conn = conn;
  f->kind = kind;
  f->flags = 0;
  f->meta = (uint32_t)mlen;
  b->used += len;
}

// Room for `mlen` bytes of metadata (copied in) and a payload of up to `len` bytes: where the
// payload goes, or NULL.
static char *reserve_meta(fh_batch *b, const char *meta, size_t mlen, size_t len)
{
  if (mlen > UINT32_MAX - len) {
    return NULL;
  }
  char *dst = reserve(b, mlen + len);
  if (!dst) {
    return NULL;
  }
  if (mlen) {
    memcpy(dst, meta, mlen);
  }
  return dst + mlen;
}

int fh_batch_push(fh_batch *b, uint16_t conn, uint8_t kind, int64_t ts, const char *data,
                  size_t len)
{
  return fh_batch_push_meta(b, conn, kind, ts, NULL, 0, data, len);
}

int fh_batch_push_meta(fh_batch *b, uint16_t conn, uint8_t kind, int64_t ts, const char *meta,
                       size_t mlen, const char *data, size_t len)
{
  char *dst = reserve_meta(b, meta, mlen, len);
  if (!dst) {
    return -1;
  }
  if (len) {
    memcpy(dst, data, len);
  }
  commit(b, conn, kind, ts, mlen, len);
  return 0;
}

int fh_batch_push_json_string(fh_batch *b, uint16_t conn, uint8_t kind, int64_t ts,
                              const char *meta, size_t mlen, const char *src, size_t len)
{
  char *dst = reserve_meta(b, meta, mlen, len);
  if (!dst) {
    return -1;
  }
  int n = fh_json_unescape(src, len, dst);
  if (n < 0) {
    return -2;
  }
  commit(b, conn, kind, ts, mlen, (size_t)n);
  return 0;
}

int fh_batch_push_base64(fh_batch *b, uint16_t conn, uint8_t kind, int64_t ts, const char *meta,
                         size_t mlen, const char *src, size_t len)
{
  char *dst = reserve_meta(b, meta, mlen, len / 4 * 3 + 3);
  if (!dst) {
    return -1;
  }
  long n = fh_base64_decode(src, len, (uint8_t *)dst);
  if (n < 0) {
    return -2;
  }
  commit(b, conn, kind, ts, mlen, (size_t)n);
  return 0;
}
