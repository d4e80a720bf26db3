// json_tape.c: see json_tape.h.
#include "json_tape.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

// Exact powers of ten representable in a double (10^0 .. 10^22).
static const double pow10_exact[] = {
  1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

// Bytes that end the fast scan of a string body: '"', '\\' and control characters.
static const uint8_t str_stop[256] = {
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
};

static inline bool is_ws(uint8_t c)
{
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline bool is_digit(uint8_t c)
{
  return c >= '0' && c <= '9';
}

// Parses the number at s[*pos]; stores the value and advances *pos. Returns false on bad syntax.
// Fast path: up to 19 significant digits that fit 2^53 and a power of ten <= 22 give a
// correctly rounded result with one multiply or divide (both operands exact). Otherwise strtod.
static bool parse_number(const char *s, size_t end, size_t *pos, double *out, bool *is_int)
{
  size_t i = *pos;
  size_t begin = i;
  bool neg = false;
  if (s[i] == '-') {
    neg = true;
    i++;
  }
  if (i >= end || !is_digit((uint8_t)s[i])) {
    *pos = i;
    return false;
  }
  uint64_t mant = 0;
  int digits = 0;   // significant digits accumulated in mant
  int exp10 = 0;    // decimal exponent adjustment
  bool exact = true;
  if (s[i] == '0') {
    i++;
  } else {
    while (i < end && is_digit((uint8_t)s[i])) {
      if (digits < 19) {
        mant = mant * 10 + (uint64_t)(s[i] - '0');
        if (mant != 0) {
          digits++;
        }
      } else {
        exp10++;
        exact = false;
      }
      i++;
    }
  }
  *is_int = true;
  if (i < end && s[i] == '.') {
    *is_int = false;
    i++;
    if (i >= end || !is_digit((uint8_t)s[i])) {
      *pos = i;
      return false;
    }
    while (i < end && is_digit((uint8_t)s[i])) {
      if (digits < 19) {
        mant = mant * 10 + (uint64_t)(s[i] - '0');
        if (mant != 0) {
          digits++;
        }
        exp10--;
      } else {
        exact = false;
      }
      i++;
    }
  }
  if (i < end && (s[i] == 'e' || s[i] == 'E')) {
    *is_int = false;
    i++;
    bool eneg = false;
    if (i < end && (s[i] == '+' || s[i] == '-')) {
      eneg = s[i] == '-';
      i++;
    }
    if (i >= end || !is_digit((uint8_t)s[i])) {
      *pos = i;
      return false;
    }
    int e = 0;
    while (i < end && is_digit((uint8_t)s[i])) {
      if (e < 100000) {
        e = e * 10 + (s[i] - '0');
      }
      i++;
    }
    exp10 += eneg ? -e : e;
  }
  *pos = i;
  if (exact && mant <= (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
    double v = (double)mant;
    v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
    *out = neg ? -v : v;
    return true;
  }
  // Slow path: strtod needs a terminated copy.
  char tmp[512];
  size_t n = i - begin;
  if (n >= sizeof tmp) {
    return false;
  }
  memcpy(tmp, s + begin, n);
  tmp[n] = 0;
  *out = strtod(tmp, NULL);
  return true;
}

static inline bool match_lit(const char *s, size_t end, size_t i, const char *lit, size_t n)
{
  return end - i >= n && memcmp(s + i, lit, n) == 0;
}

int fh_json_parse(const char *buf, size_t len, fh_jtok *tape, int cap, int *err_off)
{
  if (len > 0xFFFFFFF0u) {
    return FH_JSON_ETOOBIG;
  }
  const char *s = buf;
  size_t end = len;
  size_t i = 0;
  int ntok = 0;
  int stack[FH_JSON_MAX_DEPTH];  // open containers
  int depth = 0;
  // After a value: expect ',' or the container's close. In an object, a key comes first.
  enum { VALUE, AFTER_VALUE, KEY, COLON } want = VALUE;
  bool first_in_container = false;

#define FAIL(at)        \
  do {                  \
    *err_off = (int)(at); \
    return FH_JSON_ESYNTAX; \
  } while (0)

  for (;;) {
    while (i < end && is_ws((uint8_t)s[i])) {
      i++;
    }
    if (i >= end) {
      if (depth == 0 && want == AFTER_VALUE) {
        return ntok;
      }
      FAIL(i);
    }
    uint8_t c = (uint8_t)s[i];
    if (want == AFTER_VALUE) {
      if (depth == 0) {
        FAIL(i);  // trailing garbage
      }
      fh_jtok *top = &tape[stack[depth - 1]];
      if (c == ',') {
        i++;
        want = top->type == FH_J_OBJ ? KEY : VALUE;
        first_in_container = false;
        continue;
      }
      if ((c == '}' && top->type == FH_J_OBJ) || (c == ']' && top->type == FH_J_ARR)) {
        i++;
        top->next = (uint32_t)ntok;
        depth--;
        want = AFTER_VALUE;
        continue;
      }
      FAIL(i);
    }
    if (want == COLON) {
      if (c != ':') {
        FAIL(i);
      }
      i++;
      want = VALUE;
      continue;
    }
    if (want == KEY) {
      if (c == '}' && first_in_container) {
        i++;
        tape[stack[depth - 1]].next = (uint32_t)ntok;
        depth--;
        want = AFTER_VALUE;
        continue;
      }
      if (c != '"') {
        FAIL(i);
      }
    }
    // A value (or a key, which is a string).
    if (c == ']' && first_in_container && want == VALUE && depth > 0 &&
        tape[stack[depth - 1]].type == FH_J_ARR) {
      i++;
      tape[stack[depth - 1]].next = (uint32_t)ntok;
      depth--;
      want = AFTER_VALUE;
      continue;
    }
    if (ntok >= cap) {
      return FH_JSON_ENOSPACE;
    }
    bool is_key = want == KEY;
    fh_jtok *t = &tape[ntok];
    t->flags = 0;
    t->depth = (uint16_t)depth;
    t->num = 0;
    if (!is_key && depth > 0) {
      tape[stack[depth - 1]].len++;  // one more member or element
    }
    switch (c) {
    case '{':
    case '[':
      if (depth >= FH_JSON_MAX_DEPTH) {
        return FH_JSON_EDEPTH;
      }
      t->type = c == '{' ? FH_J_OBJ : FH_J_ARR;
      t->start = (uint32_t)i;
      t->len = 0;
      stack[depth++] = ntok++;
      i++;
      want = c == '{' ? KEY : VALUE;
      first_in_container = true;
      continue;
    case '"': {
      size_t j = ++i;
      uint8_t flags = 0;
      for (;;) {
        while (j < end && !str_stop[(uint8_t)s[j]]) {
          j++;
        }
        if (j >= end) {
          FAIL(j);
        }
        uint8_t d = (uint8_t)s[j];
        if (d == '"') {
          break;
        }
        if (d == '\\') {
          flags = FH_JF_ESC;
          if (j + 1 >= end) {
            FAIL(j);
          }
          uint8_t e = (uint8_t)s[j + 1];
          if (e == 'u') {
            if (end - j < 6) {
              FAIL(j);
            }
            for (int k = 2; k < 6; k++) {
              uint8_t h = (uint8_t)s[j + k];
              if (!(is_digit(h) || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'))) {
                FAIL(j + k);
              }
            }
            j += 6;
          } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                     e == 'r' || e == 't') {
            j += 2;
          } else {
            FAIL(j + 1);
          }
          continue;
        }
        FAIL(j);  // raw control character
      }
      t->type = FH_J_STR;
      t->flags = flags;
      t->start = (uint32_t)i;
      t->len = (uint32_t)(j - i);
      t->next = (uint32_t)(++ntok);
      i = j + 1;
      want = is_key ? COLON : AFTER_VALUE;
      first_in_container = false;
      continue;
    }
    case 't':
    case 'f':
    case 'n': {
      const char *lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
      size_t n = c == 'f' ? 5 : 4;
      if (!match_lit(s, end, i, lit, n)) {
        FAIL(i);
      }
      t->type = c == 't' ? FH_J_TRUE : c == 'f' ? FH_J_FALSE : FH_J_NULL;
      t->start = (uint32_t)i;
      t->len = (uint32_t)n;
      t->next = (uint32_t)(++ntok);
      i += n;
      want = AFTER_VALUE;
      first_in_container = false;
      continue;
    }
    default: {
      if (c != '-' && !is_digit(c)) {
        FAIL(i);
      }
      size_t p = i;
      bool is_int = false;
      if (!parse_number(s, end, &p, &t->num, &is_int)) {
        FAIL(p);
      }
      t->type = FH_J_NUM;
      t->flags = is_int ? FH_JF_INT : 0;
      t->start = (uint32_t)i;
      t->len = (uint32_t)(p - i);
      t->next = (uint32_t)(++ntok);
      i = p;
      want = AFTER_VALUE;
      first_in_container = false;
      continue;
    }
    }
  }
#undef FAIL
}

static int key_equals(const fh_jtok *k, const char *buf, const char *key, size_t klen)
{
  if (!(k->flags & FH_JF_ESC)) {
    return k->len == klen && (klen == 0 || (buf[k->start] == key[0] &&
                                            memcmp(buf + k->start + 1, key + 1, klen - 1) == 0));
  }
  if (k->len < klen) {
    return 0;
  }
  char tmp[256];
  if (k->len > sizeof tmp) {
    return 0;
  }
  int n = fh_json_unescape(buf + k->start, k->len, tmp);
  return n == (int)klen && memcmp(tmp, key, klen) == 0;
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
    if (i + 1 >= len) {
      return -1;
    }
    char e = src[i + 1];
    i += 2;
    switch (e) {
    case '"': *d++ = '"'; break;
    case '\\': *d++ = '\\'; break;
    case '/': *d++ = '/'; break;
    case 'b': *d++ = '\b'; break;
    case 'f': *d++ = '\f'; break;
    case 'n': *d++ = '\n'; break;
    case 'r': *d++ = '\r'; break;
    case 't': *d++ = '\t'; break;
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
      d = put_utf8(d, u);
      break;
    }
    default:
      return -1;
    }
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
