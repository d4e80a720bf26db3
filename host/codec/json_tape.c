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

enum { NUM_TEXT_MAX = 512 };  // a number this long or longer is refused

// Parses the number at s[*pos]; stores the value and advances *pos. Returns false on bad syntax.
// Fast path: up to 19 significant digits that fit 2^53 and a power of ten <= 22 give a
// correctly rounded result with one multiply or divide (both operands exact). Otherwise strtod.
static bool parse_number(const char *s, size_t end, size_t *pos, double *out, bool *is_int)
{
  size_t i = *pos;
  size_t begin = i;
  // The scan stops NUM_TEXT_MAX bytes in (such a number is refused below, and the byte that
  // follows cannot follow a value), so no digit count or exponent here grows with the input:
  // 2^31 digits overflowed `exp10` (undefined behaviour) before the length was checked.
  if (end - i > NUM_TEXT_MAX) {
    end = i + NUM_TEXT_MAX;
  }
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
  if (i - begin >= NUM_TEXT_MAX) {
    return false;
  }
  if (exact && mant <= (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
    double v = (double)mant;
    v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
    *out = neg ? -v : v;
    return true;
  }
  // Slow path: strtod needs a terminated copy.
  char tmp[NUM_TEXT_MAX];
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

// The first byte at or after s[j] that ends the fast scan of a string body, or `end`. A table
// lookup per byte: feed strings are short (names, symbols, times), and on them this beats
// word-at-a-time scanning.
static inline size_t scan_string(const char *s, size_t j, size_t end)
{
  while (j < end && !str_stop[(uint8_t)s[j]]) {
    j++;
  }
  return j;
}

// Scans the string whose opening quote is at s[i - 1]; stores its token fields. @return the
// index of the closing quote, or (size_t)-1 with *bad set to the offset of the first bad byte.
static inline size_t parse_string(const char *s, size_t end, size_t i, fh_jtok *t, size_t *bad)
{
  size_t j = i;
  uint8_t flags = 0;
  for (;;) {
    j = scan_string(s, j, end);
    if (j >= end) {
      *bad = j;
      return (size_t)-1;
    }
    uint8_t d = (uint8_t)s[j];
    if (d == '"') {
      break;
    }
    if (d != '\\') {
      *bad = j;  // raw control character
      return (size_t)-1;
    }
    flags = FH_JF_ESC;
    if (j + 1 >= end) {
      *bad = j;
      return (size_t)-1;
    }
    uint8_t e = (uint8_t)s[j + 1];
    if (e == 'u') {
      if (end - j < 6) {
        *bad = j;
        return (size_t)-1;
      }
      for (int k = 2; k < 6; k++) {
        uint8_t h = (uint8_t)s[j + k];
        if (!(is_digit(h) || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'))) {
          *bad = j + k;
          return (size_t)-1;
        }
      }
      j += 6;
    } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
               e == 'r' || e == 't') {
      j += 2;
    } else {
      *bad = j + 1;
      return (size_t)-1;
    }
  }
  t->type = FH_J_STR;
  t->flags = flags;
  t->start = (uint32_t)i;
  t->len = (uint32_t)(j - i);
  return j;
}

// One pass, no recursion: `value` reads a value, `key` a member name and its colon, `after` what
// follows a value (a comma or the close of the innermost open container). The innermost open
// container (its token, child count and kind) lives in locals; outer ones on a small stack.
// The string token whose opening quote is at s[i], into t (its subtree ends at token `next`).
// @return the index just past its closing quote, or (size_t)-1 with *bad set.
static inline size_t string_token(const char *s, size_t end, size_t i, fh_jtok *t, uint32_t next,
                                  size_t *bad)
{
  size_t j = parse_string(s, end, i + 1, t, bad);
  if (j == (size_t)-1) {
    return j;
  }
  t->num = 0;
  t->next = next;
  return j + 1;
}

int fh_json_parse(const char *buf, size_t len, fh_jtok *tape, int cap, int *err_off)
{
  if (len > 0xFFFFFFF0u) {
    return FH_JSON_ETOOBIG;
  }
  const char *s = buf;
  const size_t end = len;
  size_t i = 0;
  size_t bad = 0;
  int ntok = 0;
  struct {
    int tok;
    uint32_t count;
  } stack[FH_JSON_MAX_DEPTH];  // open containers outside the innermost one
  int depth = 0;               // open containers
  int top = -1;                // innermost open container (token), when depth > 0
  uint32_t count = 0;          // its children so far
  bool in_obj = false;         // whether it is an object
  fh_jtok *t;
  uint8_t c;

#define FAIL(at)            \
  do {                      \
    *err_off = (int)(at);   \
    return FH_JSON_ESYNTAX; \
  } while (0)
#define SKIP_WS()                                                    \
  while (i < end && (uint8_t)s[i] <= ' ' && is_ws((uint8_t)s[i])) { \
    i++;                                                             \
  }
#define NEW_TOKEN()             \
  do {                          \
    if (ntok >= cap) {          \
      return FH_JSON_ENOSPACE;  \
    }                           \
    t = &tape[ntok];            \
    t->flags = 0;               \
    t->depth = (uint16_t)depth; \
  } while (0)

value:
  SKIP_WS();
  if (i >= end) {
    FAIL(i);
  }
  c = (uint8_t)s[i];
  NEW_TOKEN();
  count++;  // one more member or element (meaningless at depth 0)
  if (c == '"') {
    i = string_token(s, end, i, t, (uint32_t)(++ntok), &bad);
    if (i == (size_t)-1) {
      FAIL(bad);
    }
    goto after;
  }
  if (c == '-' || is_digit(c)) {
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
    goto after;
  }
  t->num = 0;
  if (c == '{' || c == '[') {
    if (depth >= FH_JSON_MAX_DEPTH) {
      return FH_JSON_EDEPTH;
    }
    t->type = c == '{' ? FH_J_OBJ : FH_J_ARR;
    t->start = (uint32_t)i;
    if (depth > 0) {
      stack[depth - 1].tok = top;
      stack[depth - 1].count = count;
    }
    depth++;
    top = ntok++;
    count = 0;
    in_obj = c == '{';
    i++;
    SKIP_WS();
    if (i < end && (uint8_t)s[i] == (in_obj ? '}' : ']')) {
      i++;
      goto close;
    }
    if (in_obj) {
      goto key;
    }
    goto value;
  }
  if (c == 't' || c == 'f' || c == 'n') {
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
    goto after;
  }
  FAIL(i);

key:
  // white space skipped; a member name, then its colon
  if (i >= end || s[i] != '"') {
    FAIL(i);
  }
  NEW_TOKEN();
  i = string_token(s, end, i, t, (uint32_t)(++ntok), &bad);
  if (i == (size_t)-1) {
    FAIL(bad);
  }
  SKIP_WS();
  if (i >= end || s[i] != ':') {
    FAIL(i);
  }
  i++;
  goto value;

close:
  // the innermost container ends just before s[i]
  tape[top].len = count;
  tape[top].next = (uint32_t)ntok;
  if (--depth > 0) {
    top = stack[depth - 1].tok;
    count = stack[depth - 1].count;
    in_obj = tape[top].type == FH_J_OBJ;
  }
  // fall through

after:
  SKIP_WS();
  if (depth == 0) {
    if (i >= end) {
      return ntok;
    }
    FAIL(i);  // trailing garbage
  }
  if (i >= end) {
    FAIL(i);
  }
  c = (uint8_t)s[i];
  if (c == ',') {
    i++;
    if (in_obj) {
      SKIP_WS();
      goto key;
    }
    goto value;
  }
  if (c == (in_obj ? '}' : ']')) {
    i++;
    goto close;
  }
  FAIL(i);
#undef FAIL
#undef SKIP_WS
#undef NEW_TOKEN
}
