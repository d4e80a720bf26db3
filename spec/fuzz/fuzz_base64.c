// fuzz_base64.c: base64 and the batch's decoding pushes on arbitrary bytes.
//
// - fh_base64_decode into a buffer of exactly the most it may write (ASan reports a byte more),
//   agreeing with a plain reference decoder;
// - fh_base64_encode of the input (a buffer of exactly 4*ceil(n/3)) decodes back to the input,
//   and encoding what was decoded reads back the same bytes;
// - fh_batch_push_base64 and fh_batch_push_json_string on pieces of the input, pushed into one
//   batch that starts tiny (so it grows), give the frames the plain decoders give.
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/batch.h"
#include "codec/json_tape.h"
#include "fuzz.h"

static int ref_sextet(uint8_t c)
{
  const char *std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const char *p = c ? strchr(std, c) : NULL;
  if (p) {
    return (int)(p - std);
  }
  return c == '-' ? 62 : c == '_' ? 63 : -1;  // the URL-safe alphabet too
}

// What fh_base64_decode promises: padding optional (any '=' run at the end), no white space,
// both alphabets, a lone trailing sextet refused. @return bytes or -1.
static long ref_decode(const uint8_t *s, size_t n, uint8_t *out)
{
  while (n > 0 && s[n - 1] == '=') {
    n--;
  }
  if (n % 4 == 1) {
    return -1;
  }
  long o = 0;
  for (size_t i = 0; i < n; i += 4) {
    uint32_t v = 0;
    size_t k = 0;
    for (; k < 4 && i + k < n; k++) {
      int x = ref_sextet(s[i + k]);
      if (x < 0) {
        return -1;
      }
      v |= (uint32_t)x << (18 - 6 * k);
    }
    for (size_t b = 0; b + 1 < k; b++) {
      out[o++] = (uint8_t)(v >> (16 - 8 * b));
    }
  }
  return o;
}

static void *xmalloc(size_t n)
{
  void *p = malloc(n ? n : 1);
  FZ_CHECK(p != NULL);
  return p;
}

static void check_base64(const uint8_t *data, size_t size)
{
  // decoding writes at most 3 bytes per 4 characters, and 1 or 2 for a last 2 or 3
  size_t most = size / 4 * 3 + (size % 4 == 3 ? 2 : size % 4 == 2 ? 1 : 0);
  uint8_t *dec = xmalloc(most);
  long n = fh_base64_decode((const char *)data, size, dec);
  uint8_t *want = xmalloc(most);
  long wn = ref_decode(data, size, want);
  FZ_CHECK(n == wn);
  FZ_CHECK(n < 0 || (size_t)n <= most);
  FZ_CHECK(n <= 0 || memcmp(dec, want, (size_t)n) == 0);
  if (n >= 0) {
    // encode what was decoded: canonical text that reads back the same bytes
    size_t elen = ((size_t)n + 2) / 3 * 4;
    char *enc = xmalloc(elen);
    FZ_CHECK(fh_base64_encode(dec, (size_t)n, enc) == elen);
    uint8_t *back = xmalloc((size_t)n);
    FZ_CHECK(fh_base64_decode(enc, elen, back) == n);
    FZ_CHECK(n == 0 || memcmp(back, dec, (size_t)n) == 0);
    free(enc);
    free(back);
  }
  free(dec);
  free(want);

  // any bytes: encode, then decode
  size_t elen = (size + 2) / 3 * 4;
  char *enc = xmalloc(elen);
  FZ_CHECK(fh_base64_encode(data, size, enc) == elen);
  for (size_t i = 0; i < elen; i++) {
    FZ_CHECK(ref_sextet((uint8_t)enc[i]) >= 0 || (enc[i] == '=' && i + 2 >= elen));
  }
  uint8_t *back = xmalloc(size);
  FZ_CHECK(fh_base64_decode(enc, elen, back) == (long)size);
  FZ_CHECK(size == 0 || memcmp(back, data, size) == 0);
  free(enc);
  free(back);
}

// Pushes pieces of the input (split at each '\n', alternating base64 and JSON string bodies,
// after 0 to 3 bytes of metadata) into a batch that starts with room for 1 byte and 1 frame.
static void check_batch(const uint8_t *data, size_t size)
{
  fh_batch *b = fh_batch_new(1, 1);
  FZ_CHECK(b != NULL);
  size_t start = 0;
  uint32_t want_frames = 0;
  int piece = 0;
  while (start <= size) {
    const uint8_t *nl = memchr(data + start, '\n', size - start);
    size_t end = nl ? (size_t)(nl - data) : size;
    const char *src = (const char *)data + start;
    size_t len = end - start;
    size_t used = b->used;
    int64_t ts = (int64_t)piece * 1000 - 5;
    bool b64 = piece % 2 == 0;
    const char *meta = "t/x";
    size_t mlen = (size_t)(piece % 4);
    int rc = b64 ? fh_batch_push_base64(b, (uint16_t)piece, FH_FRAME_BINARY, ts, meta, mlen, src,
                                        len)
                 : fh_batch_push_json_string(b, (uint16_t)piece, FH_FRAME_TEXT, ts, meta, mlen,
                                             src, len);
    uint8_t *want = xmalloc(len);
    long wn = b64 ? fh_base64_decode(src, len, want) : fh_json_unescape(src, len, (char *)want);
    if (wn < 0) {
      FZ_CHECK(rc == -2);
      FZ_CHECK(b->used == used && b->n == want_frames);
    } else {
      FZ_CHECK(rc == 0);
      FZ_CHECK(b->n == want_frames + 1);
      const fh_frame *f = &b->frames[want_frames];
      FZ_CHECK(f->off == used + mlen && f->len == (uint32_t)wn);
      FZ_CHECK(b->used == used + mlen + (size_t)wn);
      FZ_CHECK(f->ts == ts && f->conn == (uint16_t)piece && f->flags == 0 && f->meta == mlen);
      FZ_CHECK(mlen == 0 || memcmp(b->buf + used, meta, mlen) == 0);
      FZ_CHECK(f->kind == (b64 ? FH_FRAME_BINARY : FH_FRAME_TEXT));
      FZ_CHECK(wn == 0 || memcmp(b->buf + f->off, want, (size_t)wn) == 0);
      want_frames++;
    }
    FZ_CHECK(b->used <= b->cap && b->n <= b->ncap);
    free(want);
    piece++;
    if (!nl) {
      break;
    }
    start = end + 1;
  }
  // frames stay where they were put
  size_t at = 0;
  for (uint32_t i = 0; i < b->n; i++) {
    at += b->frames[i].meta;
    FZ_CHECK(b->frames[i].off == at);
    at += b->frames[i].len;
  }
  FZ_CHECK(at == b->used);
  fh_batch_clear(b);
  FZ_CHECK(b->n == 0 && b->used == 0);
  FZ_CHECK(fh_batch_push(b, 1, FH_FRAME_BINARY, 0, (const char *)data, size) == 0);
  FZ_CHECK(b->n == 1 && b->frames[0].len == size);
  FZ_CHECK(size == 0 || memcmp(b->buf, data, size) == 0);
  fh_batch_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  check_base64(data, size);
  check_batch(data, size);
  return 0;
}
