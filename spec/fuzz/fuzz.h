// fuzz.h: what every libFuzzer harness of spec/fuzz shares.
#ifndef FH_FUZZ_H
#define FH_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

// An invariant of the code under test: a failure aborts, which libFuzzer reports as a crash
// and saves the input.
#define FZ_CHECK(cond)                                                               \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                       \
    }                                                                                \
  } while (0)

// The reference for fh_json_ts of a number token (written apart from json_query.c): `-`? and 1 to 19 digits, times 10^9 (up to 11 digits),
// 10^6 (14), 10^3 (17) or 1, within int64. @return true and *out, or false (declined).
static inline bool fz_ref_int_ts(const char *s, size_t len, int64_t *out)
{
  size_t i = len > 0 && s[0] == '-';
  if (i >= len || len - i > 19) {
    return false;
  }
  __int128 v = 0;
  for (size_t k = i; k < len; k++) {
    if (s[k] < '0' || s[k] > '9') {
      return false;
    }
    v = v * 10 + (s[k] - '0');
  }
  size_t nd = len - i;
  v *= nd <= 11 ? 1000000000 : nd <= 14 ? 1000000 : nd <= 17 ? 1000 : 1;
  if (v > INT64_MAX) {
    return false;
  }
  *out = (int64_t)(i ? -v : v);
  return true;
}

#endif
