// fuzz_capture.c: capture lines read as lua/feedhost/runtime/replay.lua reads them, in C.
//
// Each line of the input ({"ts":..,"connection":..,"dir":"in","text":".."} or "binary", and a
// "topic") is parsed onto a tape; the members are looked up; `text` is unescaped straight into
// the batch (fh_batch_push_json_string) and `binary` base64-decoded there (fh_batch_push_base64),
// with the raw token bytes, after the topic (unescaped) as the frame's metadata, as replay does. Checks: a text the tape accepted always unescapes; each
// frame holds what fh_json_unescape / fh_base64_decode give on their own; the batch is cleared
// every 256 frames as replay flushes it, and the frames stay where they were put.
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/batch.h"
#include "codec/json_tape.h"
#include "codec/ts.h"
#include "fuzz.h"

enum { BATCH_FRAMES = 256 };

static void *xmalloc(size_t n)
{
  void *p = malloc(n ? n : 1);
  FZ_CHECK(p != NULL);
  return p;
}

static const fh_jtok *member(const fh_jtok *tape, const char *buf, const char *key, int *tok)
{
  *tok = fh_json_find(tape, buf, 0, key, strlen(key));
  return *tok >= 0 ? &tape[*tok] : NULL;
}

static void check_frames(const fh_batch *b)
{
  size_t at = 0;
  for (uint32_t i = 0; i < b->n; i++) {
    at += b->frames[i].meta;
    FZ_CHECK(b->frames[i].off == at);
    at += b->frames[i].len;
  }
  FZ_CHECK(at == b->used && b->used <= b->cap && b->n <= b->ncap);
}

static void read_line(fh_batch *b, const char *line, size_t len, fh_ts_cache *cache)
{
  int cap = (int)len + 1;
  fh_jtok *tape = xmalloc((size_t)cap * sizeof *tape);
  int err = 0;
  int n = fh_json_parse(line, len, tape, cap, &err);
  if (n <= 0 || tape[0].type != FH_J_OBJ) {
    free(tape);
    return;
  }
  int dir_tok = -1;
  const fh_jtok *dir = member(tape, line, "dir", &dir_tok);
  bool in = dir == NULL || fh_json_str_eq(tape, line, dir_tok, "in", 2);
  FZ_CHECK(dir == NULL || in == (dir->type == FH_J_STR && fh_json_eq(tape, line, 0, "dir", 3,
                                                                     "in", 2)));
  int conn_tok = -1;
  const fh_jtok *conn = member(tape, line, "connection", &conn_tok);
  uint16_t slot = conn && conn->type == FH_J_STR ? (uint16_t)(conn->len & 0xFF) : 0;
  int ts_tok = -1;
  const fh_jtok *tsv = member(tape, line, "ts", &ts_tok);
  int64_t ts = 0;
  if (tsv && tsv->type == FH_J_STR) {
    int64_t a = 0;
    int64_t want = 0;
    int rc = fh_json_ts(tape, line, ts_tok, cache, &a);
    int wrc = (tsv->flags & FH_JF_ESC) ? -1 : fh_ts_iso(line + tsv->start, tsv->len, &want);
    FZ_CHECK(rc == wrc && (rc != 0 || a == want));
    ts = rc == 0 ? a : 0;
  } else if (tsv && tsv->type == FH_J_NUM) {
    ts = (int64_t)(tsv->num >= -9e18 && tsv->num <= 9e18 ? tsv->num : 0);
  }
  int text_tok = -1;
  int bin_tok = -1;
  const fh_jtok *text = member(tape, line, "text", &text_tok);
  const fh_jtok *bin = member(tape, line, "binary", &bin_tok);
  int topic_tok = -1;
  const fh_jtok *topic = member(tape, line, "topic", &topic_tok);
  // the members replay would see through a key set read the same tokens
  fh_keyset ks;
  memset(&ks, 0, sizeof ks);
  static const char *names[] = { "ts", "connection", "dir", "text", "binary", "topic" };
  int32_t slots[6];
  for (int k = 0; k < 6; k++) {
    FZ_CHECK(fh_keyset_add(&ks, names[k], strlen(names[k])) == k);
  }
  fh_json_keys(tape, line, 0, &ks, slots);
  FZ_CHECK(slots[0] == ts_tok && slots[1] == conn_tok && slots[2] == dir_tok &&
           slots[3] == text_tok && slots[4] == bin_tok && slots[5] == topic_tok);
  // the topic as replay's Lua string holds it: unescaped
  char *meta = NULL;
  size_t mlen = 0;
  if (topic && topic->type == FH_J_STR) {
    meta = xmalloc(topic->len);
    int mn = fh_json_unescape(line + topic->start, topic->len, meta);
    FZ_CHECK(mn >= 0);   // the tape checked every escape
    mlen = (size_t)mn;
  }

  if (in && ((text && text->type == FH_J_STR) || (bin && bin->type == FH_J_STR))) {
    if (b->n >= BATCH_FRAMES) {
      fh_batch_clear(b);
    }
    size_t used = b->used;
    uint32_t nf = b->n;
    const fh_jtok *t = text && text->type == FH_J_STR ? text : bin;
    const char *src = line + t->start;
    uint8_t *want = xmalloc(t->len);
    long wn;
    int rc;
    if (t == text) {
      rc = fh_batch_push_json_string(b, slot, FH_FRAME_TEXT, ts, meta, mlen, src, t->len);
      wn = fh_json_unescape(src, t->len, (char *)want);
      FZ_CHECK(rc == 0 && wn >= 0);  // the tape checked every escape
    } else {
      rc = fh_batch_push_base64(b, slot, FH_FRAME_BINARY, ts, meta, mlen, src, t->len);
      wn = fh_base64_decode(src, t->len, want);
      FZ_CHECK(wn < 0 ? rc == -2 : rc == 0);
    }
    if (rc == 0) {
      const fh_frame *f = &b->frames[nf];
      FZ_CHECK(b->n == nf + 1 && f->off == used + mlen && f->len == (uint32_t)wn);
      FZ_CHECK(f->meta == mlen && (mlen == 0 || memcmp(b->buf + used, meta, mlen) == 0));
      FZ_CHECK(f->kind == (t == text ? FH_FRAME_TEXT : FH_FRAME_BINARY) && f->ts == ts);
      FZ_CHECK(wn == 0 || memcmp(b->buf + f->off, want, (size_t)wn) == 0);
      if (t == text && !(t->flags & FH_JF_ESC)) {
        FZ_CHECK(f->len == t->len && (t->len == 0 || memcmp(b->buf + f->off, src, t->len) == 0));
      }
    } else {
      FZ_CHECK(b->n == nf && b->used == used);
    }
    free(want);
    check_frames(b);
  }
  free(meta);
  free(tape);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fh_batch *b = fh_batch_new(16, 2);
  FZ_CHECK(b != NULL);
  fh_ts_cache cache;
  memset(&cache, 0, sizeof cache);
  size_t start = 0;
  while (start < size) {
    const uint8_t *nl = memchr(data + start, '\n', size - start);
    size_t end = nl ? (size_t)(nl - data) : size;
    // each line in a buffer of its own length, as replay's Lua string is
    char *line = xmalloc(end - start);
    memcpy(line, data + start, end - start);
    read_line(b, line, end - start, &cache);
    free(line);
    start = end + 1;
  }
  fh_batch_free(b);
  return 0;
}
