// fuzz_json_tape.c: fh_json_parse on arbitrary bytes, then every reader of the tape.
//
// Checks, for each input:
// - a small tape (FH_JSON_ENOSPACE), a tape of exactly the tokens needed and one token less all
//   agree with a tape big enough for any input;
// - acceptance agrees with a plain recursive-descent validator of RFC 8259 (the parser's own
//   limits aside: nesting deeper than FH_JSON_MAX_DEPTH, numbers of 512 characters or more);
// - the tape's structure: `next` in range and increasing, child counts, depths, string and
//   number tokens inside the buffer, number values as strtod reads the same text;
// - fh_json_find / fh_json_eq / fh_json_keys / fh_json_index / fh_json_str_eq / fh_json_ts
//   against answers worked out by walking the tape, and fh_json_unescape on every string into
//   a buffer of exactly the token's length (ASan catches a write past it);
// - every number token written as an NDJSON member from its text (fh_out_jnum) and from its
//   value (fh_out_num): the same bytes.
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json_tape.h"
#include "codec/ndjson.h"
#include "codec/ts.h"
#include "fuzz.h"

enum { SMALL_CAP = 8, NUM_MAX = 512, FULL_SCAN = 128 };

// ---- reference validator ------------------------------------------------------------------

typedef struct ref {
  const uint8_t *s;
  size_t n;
  size_t i;
  int depth;
  bool too_deep;   // a container opened below FH_JSON_MAX_DEPTH open ones
  bool long_num;   // a number of NUM_MAX characters or more
} ref;

static void ref_ws(ref *r)
{
  while (r->i < r->n &&
         (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\n' || r->s[r->i] == '\r')) {
    r->i++;
  }
}

static bool is_hex(uint8_t c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool ref_string(ref *r)
{
  r->i++;  // opening quote
  for (;;) {
    if (r->i >= r->n) {
      return false;
    }
    uint8_t c = r->s[r->i];
    if (c == '"') {
      r->i++;
      return true;
    }
    if (c < 0x20) {
      return false;
    }
    if (c != '\\') {
      r->i++;
      continue;
    }
    if (r->i + 1 >= r->n) {
      return false;
    }
    uint8_t e = r->s[r->i + 1];
    if (e == 'u') {
      if (r->n - r->i < 6) {
        return false;
      }
      for (int k = 2; k < 6; k++) {
        if (!is_hex(r->s[r->i + k])) {
          return false;
        }
      }
      r->i += 6;
    } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
               e == 'r' || e == 't') {
      r->i += 2;
    } else {
      return false;
    }
  }
}

static bool ref_digits(ref *r)
{
  size_t b = r->i;
  while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9') {
    r->i++;
  }
  return r->i > b;
}

static bool ref_number(ref *r)
{
  size_t b = r->i;
  if (r->s[r->i] == '-') {
    r->i++;
  }
  if (r->i >= r->n) {
    return false;
  }
  if (r->s[r->i] == '0') {
    r->i++;
  } else if (!ref_digits(r)) {
    return false;
  }
  if (r->i < r->n && r->s[r->i] == '.') {
    r->i++;
    if (!ref_digits(r)) {
      return false;
    }
  }
  if (r->i < r->n && (r->s[r->i] == 'e' || r->s[r->i] == 'E')) {
    r->i++;
    if (r->i < r->n && (r->s[r->i] == '+' || r->s[r->i] == '-')) {
      r->i++;
    }
    if (!ref_digits(r)) {
      return false;
    }
  }
  if (r->i - b >= NUM_MAX) {
    r->long_num = true;
    return false;
  }
  return true;
}

static bool ref_lit(ref *r, const char *lit)
{
  size_t n = strlen(lit);
  if (r->n - r->i < n || memcmp(r->s + r->i, lit, n) != 0) {
    return false;
  }
  r->i += n;
  return true;
}

static bool ref_value(ref *r)
{
  ref_ws(r);
  if (r->i >= r->n) {
    return false;
  }
  uint8_t c = r->s[r->i];
  if (c == '{' || c == '[') {
    if (r->depth >= FH_JSON_MAX_DEPTH) {
      r->too_deep = true;
      return false;
    }
    r->depth++;
    r->i++;
    ref_ws(r);
    uint8_t close = c == '{' ? '}' : ']';
    if (r->i < r->n && r->s[r->i] == close) {
      r->i++;
      r->depth--;
      return true;
    }
    for (;;) {
      if (c == '{') {
        ref_ws(r);
        if (r->i >= r->n || r->s[r->i] != '"' || !ref_string(r)) {
          return false;
        }
        ref_ws(r);
        if (r->i >= r->n || r->s[r->i] != ':') {
          return false;
        }
        r->i++;
      }
      if (!ref_value(r)) {
        return false;
      }
      ref_ws(r);
      if (r->i >= r->n) {
        return false;
      }
      if (r->s[r->i] == ',') {
        r->i++;
        continue;
      }
      if (r->s[r->i] == close) {
        r->i++;
        r->depth--;
        return true;
      }
      return false;
    }
  }
  if (c == '"') {
    return ref_string(r);
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    return ref_number(r);
  }
  return ref_lit(r, "true") || ref_lit(r, "false") || ref_lit(r, "null");
}

static bool ref_text(ref *r)
{
  if (!ref_value(r)) {
    return false;
  }
  ref_ws(r);
  return r->i == r->n;
}

// ---- tape structure ---------------------------------------------------------------------------

typedef struct doc {
  const char *buf;
  size_t len;
  const fh_jtok *tape;
  int n;
} doc;

static void check_string_token(const doc *d, int i, int depth)
{
  const fh_jtok *t = &d->tape[i];
  FZ_CHECK(t->type == FH_J_STR);
  FZ_CHECK(t->depth == depth);
  FZ_CHECK(t->next == (uint32_t)i + 1);
  FZ_CHECK(t->start >= 1 && (size_t)t->start + t->len < d->len);
  FZ_CHECK(d->buf[t->start - 1] == '"' && d->buf[t->start + t->len] == '"');
  FZ_CHECK((t->flags & ~FH_JF_ESC) == 0);
  bool esc = t->len > 0 && memchr(d->buf + t->start, '\\', t->len) != NULL;
  FZ_CHECK(esc == ((t->flags & FH_JF_ESC) != 0));
  for (uint32_t k = 0; k < t->len; k++) {
    FZ_CHECK((uint8_t)d->buf[t->start + k] >= 0x20);
  }
}

static void check_number_token(const doc *d, const fh_jtok *t)
{
  FZ_CHECK(t->len >= 1 && t->len < NUM_MAX && (size_t)t->start + t->len <= d->len);
  const char *s = d->buf + t->start;
  ref r = { (const uint8_t *)s, t->len, 0, 0, false, false };
  FZ_CHECK(ref_number(&r) && r.i == t->len);
  bool is_int = memchr(s, '.', t->len) == NULL && memchr(s, 'e', t->len) == NULL &&
                memchr(s, 'E', t->len) == NULL;
  FZ_CHECK(is_int == ((t->flags & FH_JF_INT) != 0));
  FZ_CHECK((t->flags & ~FH_JF_INT) == 0);
  char tmp[NUM_MAX + 1];
  memcpy(tmp, s, t->len);
  tmp[t->len] = 0;
  double want = strtod(tmp, NULL);
  // correctly rounded, as strtod: the same double, the sign of a zero included
  if (!(t->num == want && signbit(t->num) == signbit(want))) {
    fprintf(stderr, "number %s: tape %.17g, strtod %.17g\n", tmp, t->num, want);
    FZ_CHECK(0);
  }
  // an NDJSON member written from the token's text (fh_out_jnum) has the bytes of one written
  // from its value (fh_out_num); a number out of the double range is left to the caller
  static fh_out *from_text, *from_value;
  if (!from_text) {
    from_text = fh_out_new(0);
    from_value = fh_out_new(0);
    FZ_CHECK(from_text && from_value);
  }
  fh_out_begin(from_text, "", 0);
  fh_out_begin(from_value, "", 0);
  int wrote = fh_out_jnum(from_text, "\"k\":", 4, t, 0, d->buf);
  FZ_CHECK(wrote == (isfinite(t->num) ? 1 : 0));
  if (wrote) {
    FZ_CHECK(fh_out_num(from_value, "\"k\":", 4, t->num) == 0);
    if (from_text->len != from_value->len ||
        memcmp(from_text->buf, from_value->buf, from_text->len) != 0) {
      fprintf(stderr, "number %s: from text %.*s, from value %.*s\n", tmp,
              (int)from_text->len, from_text->buf, (int)from_value->len, from_value->buf);
      FZ_CHECK(0);
    }
  }
  fh_out_cancel(from_text);
  fh_out_cancel(from_value);
}

// Checks the subtree at token i; returns the index just past it.
static uint32_t walk(const doc *d, int i, int depth)
{
  FZ_CHECK(i >= 0 && i < d->n);
  const fh_jtok *t = &d->tape[i];
  FZ_CHECK(t->depth == depth);
  FZ_CHECK(t->next > (uint32_t)i && t->next <= (uint32_t)d->n);
  switch (t->type) {
  case FH_J_OBJ:
  case FH_J_ARR: {
    bool obj = t->type == FH_J_OBJ;
    FZ_CHECK(t->flags == 0);
    FZ_CHECK(t->start < d->len && d->buf[t->start] == (obj ? '{' : '['));
    uint32_t k = (uint32_t)i + 1;
    for (uint32_t c = 0; c < t->len; c++) {
      FZ_CHECK(k < t->next);
      if (obj) {
        check_string_token(d, (int)k, depth + 1);
        k++;
        FZ_CHECK(k < t->next);
      }
      uint32_t nk = walk(d, (int)k, depth + 1);
      FZ_CHECK(nk > k);
      k = nk;
    }
    FZ_CHECK(k == t->next);
    return k;
  }
  case FH_J_STR:
    check_string_token(d, i, depth);
    return t->next;
  case FH_J_NUM:
    FZ_CHECK(t->next == (uint32_t)i + 1);
    check_number_token(d, t);
    return t->next;
  case FH_J_TRUE:
  case FH_J_FALSE:
  case FH_J_NULL: {
    const char *lit = t->type == FH_J_TRUE ? "true" : t->type == FH_J_FALSE ? "false" : "null";
    FZ_CHECK(t->next == (uint32_t)i + 1);
    FZ_CHECK(t->len == strlen(lit) && (size_t)t->start + t->len <= d->len);
    FZ_CHECK(memcmp(d->buf + t->start, lit, t->len) == 0);
    FZ_CHECK(t->num == 0);
    return t->next;
  }
  default:
    FZ_CHECK(0);
    return 0;
  }
}

// ---- readers --------------------------------------------------------------------------------------

typedef struct text {
  char *p;  // unescaped bytes (malloc'd), or NULL when the token is not a string
  int n;
} text;

// Unescapes string token i into a buffer of exactly the token's length.
static text unescape_token(const doc *d, int i)
{
  const fh_jtok *t = &d->tape[i];
  text x = { NULL, -1 };
  if (t->type != FH_J_STR) {
    return x;
  }
  // exactly the token's length: ASan reports a write past it
  char *exact = malloc(t->len ? t->len : 1);
  FZ_CHECK(exact != NULL);
  x.n = fh_json_unescape(d->buf + t->start, t->len, exact);
  // the tape checked every escape: unescaping cannot fail, and never grows the text
  FZ_CHECK(x.n >= 0 && (uint32_t)x.n <= t->len);
  if (!(t->flags & FH_JF_ESC)) {
    FZ_CHECK((uint32_t)x.n == t->len && memcmp(exact, d->buf + t->start, t->len) == 0);
  }
  // a copy with one byte more, so a comparison may be asked about n + 1 bytes
  x.p = calloc((size_t)x.n + 1, 1);
  FZ_CHECK(x.p != NULL);
  memcpy(x.p, exact, (size_t)x.n);
  free(exact);
  return x;
}

static bool same_text(const text *a, const text *b)
{
  return a->n == b->n && (a->n == 0 || memcmp(a->p, b->p, (size_t)a->n) == 0);
}

static void check_object(const doc *d, int obj, const text *u)
{
  const fh_jtok *o = &d->tape[obj];
  uint32_t m = o->len;
  int *keys = malloc((m ? m : 1) * sizeof *keys);
  FZ_CHECK(keys != NULL);
  int k = obj + 1;
  for (uint32_t j = 0; j < m; j++) {
    keys[j] = k;
    k = (int)d->tape[k + 1].next;
  }
  fh_keyset ks;
  memset(&ks, 0, sizeof ks);
  int slot_key[FH_KEYSET_MAX];
  for (uint32_t j = 0; j < m; j++) {
    const text *kt = &u[keys[j]];
    int r = fh_json_find(d->tape, d->buf, obj, kt->p, (size_t)kt->n);
    // the value of the first member whose name unescapes to the same bytes
    if (j < FULL_SCAN) {
      uint32_t first = 0;
      while (!same_text(&u[keys[first]], kt)) {
        first++;
      }
      FZ_CHECK(r == keys[first] + 1);
    } else {
      FZ_CHECK(r > obj && r < (int)o->next && same_text(&u[r - 1], kt));
    }
    // eq: true for the string value of the first such member, false for anything else
    const fh_jtok *v = &d->tape[r];
    if (v->type == FH_J_STR) {
      const text *vt = &u[r];
      FZ_CHECK(fh_json_eq(d->tape, d->buf, obj, kt->p, (size_t)kt->n, vt->p, (size_t)vt->n));
      FZ_CHECK(!fh_json_eq(d->tape, d->buf, obj, kt->p, (size_t)kt->n, vt->p, (size_t)vt->n + 1));
    } else {
      FZ_CHECK(!fh_json_eq(d->tape, d->buf, obj, kt->p, (size_t)kt->n, "", 0));
    }
    if (kt->n <= FH_KEYSET_MAXLEN && ks.n < FH_KEYSET_MAX) {
      int s = fh_keyset_add(&ks, kt->p, (size_t)kt->n);
      if (s >= 0) {
        slot_key[s] = keys[j];
      }
    }
  }
  // absent names: never found, slot -1
  static const char *absent[] = { "\001absent", "\x7f", "" };
  for (int a = 0; a < 3; a++) {
    size_t alen = strlen(absent[a]);
    int r = fh_json_find(d->tape, d->buf, obj, absent[a], alen);
    bool present = false;
    for (uint32_t j = 0; j < m && !present; j++) {
      const text *kt = &u[keys[j]];
      present = (size_t)kt->n == alen && memcmp(kt->p, absent[a], alen) == 0;
    }
    if (!present) {
      FZ_CHECK(r == -1);
    }
    if (!present && ks.n < FH_KEYSET_MAX) {
      int s = fh_keyset_add(&ks, absent[a], alen);
      if (s >= 0) {
        slot_key[s] = -1;
      }
    }
  }
  int32_t slots[FH_KEYSET_MAX];
  fh_json_keys(d->tape, d->buf, obj, &ks, slots);
  for (int s = 0; s < ks.n; s++) {
    int want = slot_key[s] < 0 ? -1
                               : fh_json_find(d->tape, d->buf, obj, ks.pool + ks.off[s], ks.len[s]);
    FZ_CHECK(slots[s] == want);
  }
  free(keys);
}

static void check_array(const doc *d, int arr)
{
  const fh_jtok *a = &d->tape[arr];
  int e = arr + 1;
  for (uint32_t j = 0; j < a->len; j++) {
    if (a->len <= 256 || j < 16 || j + 16 >= a->len || j % 97 == 0) {
      FZ_CHECK(fh_json_index(d->tape, arr, (int)j) == e);
    }
    e = (int)d->tape[e].next;
  }
  FZ_CHECK(e == (int)a->next);
  FZ_CHECK(fh_json_index(d->tape, arr, (int)a->len) == -1);
  FZ_CHECK(fh_json_index(d->tape, arr, -1) == -1);
}

static void check_readers(const doc *d)
{
  text *u = calloc((size_t)d->n, sizeof *u);
  FZ_CHECK(u != NULL);
  for (int i = 0; i < d->n; i++) {
    u[i] = unescape_token(d, i);
  }
  fh_ts_cache cache;
  memset(&cache, 0, sizeof cache);
  for (int i = 0; i < d->n; i++) {
    const fh_jtok *t = &d->tape[i];
    if (t->type == FH_J_OBJ) {
      check_object(d, i, u);
    } else {
      FZ_CHECK(fh_json_find(d->tape, d->buf, i, "a", 1) == -1);
      FZ_CHECK(!fh_json_eq(d->tape, d->buf, i, "a", 1, "", 0));
    }
    if (t->type == FH_J_ARR) {
      check_array(d, i);
    } else {
      FZ_CHECK(fh_json_index(d->tape, i, 0) == -1);
    }
    int64_t got = 0;
    int rc = fh_json_ts(d->tape, d->buf, i, &cache, &got);
    if (t->type == FH_J_STR) {
      text *x = &u[i];
      FZ_CHECK(fh_json_str_eq(d->tape, d->buf, i, x->p, (size_t)x->n));
      FZ_CHECK(!fh_json_str_eq(d->tape, d->buf, i, x->p, (size_t)x->n + 1));
      if (x->n > 0) {
        x->p[x->n - 1] ^= 1;
        FZ_CHECK(!fh_json_str_eq(d->tape, d->buf, i, x->p, (size_t)x->n));
        x->p[x->n - 1] ^= 1;
      }
      // the cached date's short path gives what fh_ts_iso gives
      int64_t want = 0;
      int wrc = (t->flags & FH_JF_ESC) ? -1 : fh_ts_iso(d->buf + t->start, t->len, &want);
      FZ_CHECK(rc == wrc);
      FZ_CHECK(rc != 0 || got == want);
    } else if (t->type == FH_J_NUM) {
      // an integer, exactly, in the unit its digits imply
      FZ_CHECK(!fh_json_str_eq(d->tape, d->buf, i, "", 0));
      int64_t want = 0;
      bool ok = fz_ref_int_ts(d->buf + t->start, t->len, &want);
      FZ_CHECK(rc == (ok ? 0 : -1) && (!ok || got == want));
    } else {
      FZ_CHECK(!fh_json_str_eq(d->tape, d->buf, i, "", 0));
      FZ_CHECK(rc == -1);
    }
  }
  FZ_CHECK(!fh_json_str_eq(d->tape, d->buf, -1, "", 0));
  for (int i = 0; i < d->n; i++) {
    free(u[i].p);
  }
  free(u);
}

// ---- entry ----------------------------------------------------------------------------------------

static bool same_tape(const fh_jtok *a, const fh_jtok *b, int n)
{
  for (int i = 0; i < n; i++) {
    if (a[i].type != b[i].type || a[i].flags != b[i].flags || a[i].depth != b[i].depth ||
        a[i].start != b[i].start || a[i].len != b[i].len || a[i].next != b[i].next ||
        memcmp(&a[i].num, &b[i].num, sizeof a[i].num) != 0) {
      return false;
    }
  }
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *buf = (const char *)data;
  // never more tokens than bytes: this tape never runs out
  int big = (int)size + 1;
  fh_jtok *tape = malloc((size_t)big * sizeof *tape);
  FZ_CHECK(tape != NULL);
  int off = -7;
  int n = fh_json_parse(buf, size, tape, big, &off);
  FZ_CHECK(n != FH_JSON_ENOSPACE && n != FH_JSON_ETOOBIG && n != 0);
  FZ_CHECK(n >= FH_JSON_EDEPTH);
  if (n == FH_JSON_ESYNTAX) {
    FZ_CHECK(off >= 0 && (size_t)off <= size);
  }

  ref r = { data, size, 0, 0, false, false };
  bool valid = ref_text(&r);
  if (n > 0) {
    FZ_CHECK(valid);
  } else if (n == FH_JSON_EDEPTH) {
    FZ_CHECK(!valid && r.too_deep);
  } else {
    FZ_CHECK(!valid && !r.too_deep);
    (void)r.long_num;  // a valid text with a number of NUM_MAX characters or more is declined
  }
  if (valid) {
    FZ_CHECK(n > 0);
  }

  // the same answer from a small tape, unless it runs out
  fh_jtok small[SMALL_CAP];
  int soff = -7;
  int sn = fh_json_parse(buf, size, small, SMALL_CAP, &soff);
  if (sn == FH_JSON_ENOSPACE) {
    FZ_CHECK(n > SMALL_CAP || n == FH_JSON_ESYNTAX || n == FH_JSON_EDEPTH);
  } else {
    FZ_CHECK(sn == n && (n <= 0 || same_tape(small, tape, n)));
    FZ_CHECK(n != FH_JSON_ESYNTAX || soff == off);
  }

  if (n > 0) {
    // a tape of exactly n tokens suffices; n - 1 do not
    fh_jtok *exact = malloc((size_t)n * sizeof *exact);
    FZ_CHECK(exact != NULL);
    FZ_CHECK(fh_json_parse(buf, size, exact, n, &soff) == n && same_tape(exact, tape, n));
    FZ_CHECK(fh_json_parse(buf, size, exact, n - 1, &soff) == FH_JSON_ENOSPACE);
    free(exact);

    doc d = { buf, size, tape, n };
    FZ_CHECK(walk(&d, 0, 0) == (uint32_t)n);
    check_readers(&d);
  }
  free(tape);
  return 0;
}
