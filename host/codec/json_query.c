// json_query.c: reading a tape (see json_tape.h): member and index lookups, key sets,
// timestamps and string comparison straight from the frame bytes, and unescaping.
#include "json_tape.h"

#include <stdbool.h>
#include <string.h>

#include "ts.h"

static int unescape_at(const char *src, size_t len, size_t *pos, char *dst);

static int key_equals(const fh_jtok *k, const char *buf, const char *key, size_t klen)
{
  if (!(k->flags & FH_JF_ESC)) {
    return k->len == klen && (klen == 0 || (buf[k->start] == key[0] &&
                                            memcmp(buf + k->start + 1, key + 1, klen - 1) == 0));
  }
  if (k->len < klen) {
    return 0;  // unescaping never lengthens a string
  }
  // decoded an escape at a time against the key, so a string of any length compares
  const char *src = buf + k->start;
  size_t i = 0;
  size_t o = 0;
  while (i < k->len) {
    if (src[i] != '\\') {
      if (o >= klen || src[i] != key[o]) {
        return 0;
      }
      i++;
      o++;
      continue;
    }
    char u[4];
    int n = unescape_at(src, k->len, &i, u);
    if (n < 0 || klen - o < (size_t)n || memcmp(u, key + o, (size_t)n) != 0) {
      return 0;
    }
    o += (size_t)n;
  }
  return o == klen;
}

int fh_json_find(const fh_jtok *tape, const char *buf, int obj, const char *key, size_t klen)
{
  const fh_jtok *o = &tape[obj];
  if (o->type != FH_J_OBJ) {
    return -1;
  }
  int k = obj + 1;
  for (uint32_t m = 0; m < o->len; m++) {
    int v = k + 1;
    if (key_equals(&tape[k], buf, key, klen)) {
      return v;
    }
    k = (int)tape[v].next;
  }
  return -1;
}

int fh_json_eq(const fh_jtok *tape, const char *buf, int obj, const char *key, size_t klen,
               const char *lit, size_t litlen)
{
  int v = fh_json_find(tape, buf, obj, key, klen);
  if (v < 0 || tape[v].type != FH_J_STR) {
    return 0;
  }
  return key_equals(&tape[v], buf, lit, litlen);
}

int fh_json_str_eq(const fh_jtok *tape, const char *buf, int tok, const char *lit, size_t litlen)
{
  if (tok < 0 || tape[tok].type != FH_J_STR) {
    return 0;
  }
  return key_equals(&tape[tok], buf, lit, litlen);
}

// Length, first, middle and last byte of a name: the whole name when it is at most 3 bytes long
// (most member names of market data are), so those compare with one integer comparison.
static inline uint32_t keyset_tag(const char *key, size_t klen)
{
  if (klen == 0) {
    return 0;
  }
  return (uint32_t)klen | (uint32_t)(uint8_t)key[0] << 8 | (uint32_t)(uint8_t)key[klen >> 1] << 16 |
         (uint32_t)(uint8_t)key[klen - 1] << 24;
}

static inline uint32_t keyset_bucket(uint32_t tag)
{
  return (tag * 0x9E3779B1u) >> 24;  // FH_KEYSET_BUCKETS == 256
}

// Slot of `key` in `ks`, or -1.
static inline int keyset_find(const fh_keyset *ks, const char *key, size_t klen)
{
  uint32_t tag = keyset_tag(key, klen);
  uint32_t b = keyset_bucket(tag);
  for (;;) {
    int s = ks->bucket[b];
    if (s == 0) {
      return -1;
    }
    s--;
    if (ks->tag[b] == tag) {
      if (klen <= 3) {
        return s;
      }
      // the bytes the tag does not cover (a byte loop beats a call to memcmp on names)
      const char *name = ks->pool + ks->off[s];
      size_t k = 1;
      while (k < klen - 1 && name[k] == key[k]) {
        k++;
      }
      if (k == klen - 1) {
        return s;
      }
    }
    b = (b + 1) & (FH_KEYSET_BUCKETS - 1);
  }
}

int fh_keyset_add(fh_keyset *ks, const char *key, size_t klen)
{
  if (klen > FH_KEYSET_MAXLEN) {
    return -1;
  }
  int s = keyset_find(ks, key, klen);
  if (s >= 0) {
    return s;
  }
  if (ks->n >= FH_KEYSET_MAX || ks->used + klen > FH_KEYSET_POOL) {
    return -1;
  }
  s = ks->n++;
  memcpy(ks->pool + ks->used, key, klen);
  ks->off[s] = (uint16_t)ks->used;
  ks->len[s] = (uint8_t)klen;
  ks->used += (uint32_t)klen;
  uint32_t tag = keyset_tag(key, klen);
  uint32_t b = keyset_bucket(tag);
  while (ks->bucket[b] != 0) {
    b = (b + 1) & (FH_KEYSET_BUCKETS - 1);
  }
  ks->bucket[b] = (uint8_t)(s + 1);
  ks->tag[b] = tag;
  return s;
}

void fh_json_keys(const fh_jtok *tape, const char *buf, int obj, const fh_keyset *ks,
                  int32_t *slots)
{
  for (int s = 0; s < ks->n; s++) {
    slots[s] = -1;
  }
  const fh_jtok *o = &tape[obj];
  if (o->type != FH_J_OBJ) {
    return;
  }
  int k = obj + 1;
  for (uint32_t m = 0; m < o->len; m++) {
    const fh_jtok *kt = &tape[k];
    int v = k + 1;
    int s;
    if (!(kt->flags & FH_JF_ESC)) {
      s = kt->len <= FH_KEYSET_MAXLEN ? keyset_find(ks, buf + kt->start, kt->len) : -1;
    } else {
      char tmp[FH_KEYSET_MAXLEN * 6];  // escaped text of the longest name of the set
      int n = kt->len <= sizeof tmp ? fh_json_unescape(buf + kt->start, kt->len, tmp) : -1;
      s = n >= 0 && n <= FH_KEYSET_MAXLEN ? keyset_find(ks, tmp, (size_t)n) : -1;
    }
    if (s >= 0 && slots[s] < 0) {
      slots[s] = v;  // the first member of a name wins, as in fh_json_find
    }
    k = (int)tape[v].next;
  }
}

static inline int ts_d2(const char *s)
{
  unsigned a = (unsigned)(s[0] - '0'), b = (unsigned)(s[1] - '0');
  return a <= 9 && b <= 9 ? (int)(a * 10 + b) : -1;
}

// An integer number token (`-`? digits) as epoch ns, its unit inferred from its digits as the
// Lua helper does (up to 11: seconds, 14: ms, 17: us, more: ns), exactly. @return 0, or -1 (a
// fraction, an exponent, out of range: the Lua helper decides).
static int int_ts(const char *s, size_t len, int64_t *out)
{
  size_t i = 0;
  int neg = len > 0 && s[0] == '-';
  i += (size_t)neg;
  if (i >= len || len - i > 19) {
    return -1;
  }
  size_t nd = len - i;
  uint64_t v = 0;
  for (; i < len; i++) {
    unsigned d = (unsigned)(s[i] - '0');
    if (d > 9) {
      return -1;
    }
    v = v * 10 + d;
  }
  if (v == 0) {
    *out = 0;
    return 0;
  }
  uint64_t mult = nd <= 11 ? 1000000000u : nd <= 14 ? 1000000u : nd <= 17 ? 1000u : 1u;
  uint64_t ns;
  if (__builtin_mul_overflow(v, mult, &ns) || ns > (uint64_t)INT64_MAX) {
    return -1;
  }
  *out = neg ? -(int64_t)ns : (int64_t)ns;
  return 0;
}

int fh_json_ts(const fh_jtok *tape, const char *buf, int tok, fh_ts_cache *cache, int64_t *out)
{
  const fh_jtok *t = &tape[tok];
  if (t->type == FH_J_NUM) {
    return int_ts(buf + t->start, t->len, out);
  }
  if (t->type != FH_J_STR || (t->flags & FH_JF_ESC)) {
    return -1;
  }
  const char *s = buf + t->start;
  size_t len = t->len;
  // YYYY-MM-DDTHH:MM:SS[.f]Z with 1 to 9 fraction digits, on the cached date: what fh_ts_iso
  // computes for it, without the date
  if (cache->valid && (len == 20 || (len >= 22 && len <= 30)) && s[10] == 'T' && s[13] == ':' &&
      s[16] == ':' && s[len - 1] == 'Z' && memcmp(s, cache->date, 10) == 0) {
    int h = ts_d2(s + 11), mi = ts_d2(s + 14), sec = ts_d2(s + 17);
    bool ok = h >= 0 && h <= 23 && mi >= 0 && mi <= 59 && sec >= 0 && sec <= 60;
    int64_t frac = 0;
    if (ok && len > 20) {
      ok = s[19] == '.';
      size_t n = len - 21;
      for (size_t k = 0; k < n && ok; k++) {
        unsigned d = (unsigned)(s[20 + k] - '0');
        ok = d <= 9;
        frac = frac * 10 + d;
      }
      static const int64_t scale[10] = { 1000000000, 100000000, 10000000, 1000000, 100000,
                                         10000,      1000,      100,      10,      1 };
      frac *= scale[n];
    }
    int64_t secs = cache->midnight / 1000000000 + (int64_t)h * 3600 + mi * 60 + sec;
    if (ok && secs <= 9223372035 && secs >= -9223372035) {
      *out = secs * 1000000000 + frac;
      return 0;
    }
  }
  if (fh_ts_iso(s, len, out) != 0) {
    return -1;
  }
  int64_t midnight;
  if (len > 10 && !(cache->valid && memcmp(s, cache->date, 10) == 0) &&
      fh_ts_iso(s, 10, &midnight) == 0) {
    memcpy(cache->date, s, 10);
    cache->midnight = midnight;
    cache->valid = 1;
  }
  return 0;
}

int fh_json_index(const fh_jtok *tape, int arr, int i)
{
  const fh_jtok *a = &tape[arr];
  if (a->type != FH_J_ARR || i < 0 || (uint32_t)i >= a->len) {
    return -1;
  }
  int e = arr + 1;
  while (i-- > 0) {
    e = (int)tape[e].next;
  }
  return e;
}

static int hexval(uint8_t h)
{
  if (h >= '0' && h <= '9') {
    return h - '0';
  }
  if (h >= 'a' && h <= 'f') {
    return h - 'a' + 10;
  }
  if (h >= 'A' && h <= 'F') {
    return h - 'A' + 10;
  }
  return -1;
}

static int read_u4(const char *p, size_t left)
{
  if (left < 4) {
    return -1;
  }
  int v = 0;
  for (int k = 0; k < 4; k++) {
    int h = hexval((uint8_t)p[k]);
    if (h < 0) {
      return -1;
    }
    v = v * 16 + h;
  }
  return v;
}

static char *put_utf8(char *d, uint32_t cp)
{
  if (cp < 0x80) {
    *d++ = (char)cp;
  } else if (cp < 0x800) {
    *d++ = (char)(0xC0 | (cp >> 6));
    *d++ = (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *d++ = (char)(0xE0 | (cp >> 12));
    *d++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *d++ = (char)(0x80 | (cp & 0x3F));
  } else {
    *d++ = (char)(0xF0 | (cp >> 18));
    *d++ = (char)(0x80 | ((cp >> 12) & 0x3F));
    *d++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *d++ = (char)(0x80 | (cp & 0x3F));
  }
  return d;
}

// Decodes the escape at src[*pos] (a backslash) into dst, a surrogate pair joined; advances
// *pos past it. @return bytes written (1 to 4; never more than the escape's length), or -1.
static int unescape_at(const char *src, size_t len, size_t *pos, char *dst)
{
  size_t i = *pos;
  if (i + 1 >= len) {
    return -1;
  }
  char e = src[i + 1];
  i += 2;
  char c;
  switch (e) {
  case '"': c = '"'; break;
  case '\\': c = '\\'; break;
  case '/': c = '/'; break;
  case 'b': c = '\b'; break;
  case 'f': c = '\f'; break;
  case 'n': c = '\n'; break;
  case 'r': c = '\r'; break;
  case 't': c = '\t'; break;
  case 'u': {
    int cp = read_u4(src + i, len - i);
    if (cp < 0) {
      return -1;
    }
    i += 4;
    uint32_t u = (uint32_t)cp;
    if (u >= 0xD800 && u <= 0xDBFF && i + 6 <= len && src[i] == '\\' && src[i + 1] == 'u') {
      int lo = read_u4(src + i + 2, len - i - 2);
      if (lo >= 0xDC00 && lo <= 0xDFFF) {
        u = 0x10000 + ((u - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
        i += 6;
      }
    }
    if (u >= 0xD800 && u <= 0xDFFF) {
      u = 0xFFFD;  // lone surrogate: replacement character (3 bytes <= 6 escaped bytes)
    }
    *pos = i;
    return (int)(put_utf8(dst, u) - dst);
  }
  default:
    return -1;
  }
  *dst = c;
  *pos = i;
  return 1;
}

int fh_json_unescape(const char *src, size_t len, char *dst)
{
  char *d = dst;
  size_t i = 0;
  while (i < len) {
    char c = src[i];
    if (c != '\\') {
      *d++ = c;
      i++;
      continue;
    }
    int n = unescape_at(src, len, &i, d);
    if (n < 0) {
      return -1;
    }
    d += n;
  }
  return (int)(d - dst);
}

const char *fh_json_strerror(int code)
{
  switch (code) {
  case FH_JSON_ESYNTAX: return "invalid JSON";
  case FH_JSON_ENOSPACE: return "too many tokens";
  case FH_JSON_EDEPTH: return "nesting too deep";
  case FH_JSON_ETOOBIG: return "too large";
  default: return "unknown error";
  }
}
