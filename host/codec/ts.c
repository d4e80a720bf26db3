// ts.c: ISO-8601 / RFC 3339 timestamps to integer epoch nanoseconds, exactly.
// The same grammar as the Lua helper `ts` (lua/feedhost/spec/helpers.lua), which remains the
// reference and handles everything this fast path declines (it returns -1, never guesses).
#include <stdbool.h>
#include <stdint.h>

#include "ts.h"

static int d2(const char *s, size_t i, size_t len)
{
  if (i + 1 >= len + 0 || (unsigned)(s[i] - '0') > 9 || (unsigned)(s[i + 1] - '0') > 9) {
    return -1;
  }
  return (s[i] - '0') * 10 + (s[i + 1] - '0');
}

// days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)
static int64_t days_from_civil(int64_t y, int m, int d)
{
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
  static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
  bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
  return mdays[m - 1] + (m == 2 && leap);
}

static const int64_t scale[10] = { 1000000000, 100000000, 10000000, 1000000, 100000,
                                   10000,      1000,      100,      10,      1 };

int fh_ts_iso(const char *s, size_t len, int64_t *out)
{
  if (len < 10 || s[4] != '-' || s[7] != '-') {
    return -1;
  }
  int y1 = d2(s, 0, len), y2 = d2(s, 2, len), mo = d2(s, 5, len), d = d2(s, 8, len);
  if (y1 < 0 || y2 < 0 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y1 * 100 + y2, mo)) {
    return -1;  // as the Lua helper: 2021-02-30 is no date (not 2021-03-02)
  }
  int64_t secs = 0;
  int64_t frac = 0;
  size_t p = 10;
  int h = 0, mi = 0, sec = 0;
  if (p < len) {
    if (s[p] != 'T' && s[p] != 't' && s[p] != ' ') {
      return -1;
    }
    h = d2(s, p + 1, len);
    if (h < 0 || p + 3 >= len || s[p + 3] != ':') {
      return -1;
    }
    mi = d2(s, p + 4, len);
    if (mi < 0) {
      return -1;
    }
    p += 6;
    if (p < len && s[p] == ':') {
      sec = d2(s, p + 1, len);
      if (sec < 0) {
        return -1;
      }
      p += 3;
      if (p < len && (s[p] == '.' || s[p] == ',')) {
        p++;
        int n = 0;
        while (p < len && (unsigned)(s[p] - '0') <= 9) {
          if (n < 9) {
            frac = frac * 10 + (s[p] - '0');
          }
          n++;
          p++;
        }
        if (n == 0) {
          return -1;
        }
        frac *= scale[n < 9 ? n : 9];
      }
    }
    int64_t off = 0;
    if (p < len) {
      char c = s[p];
      if (c == 'Z' || c == 'z') {
        p++;
      } else if (c == '+' || c == '-') {
        int oh = d2(s, p + 1, len);
        if (oh < 0) {
          return -1;
        }
        p += 3;
        int om = 0;
        if (p < len) {
          if (s[p] == ':') {
            p++;
          }
          om = d2(s, p, len);
          if (om < 0) {
            return -1;
          }
          p += 2;
        }
        if (oh > 23 || om > 59) {
          return -1;
        }
        off = (int64_t)oh * 3600 + om * 60;
        if (c == '-') {
          off = -off;
        }
      } else {
        return -1;
      }
    }
    if (p != len || h > 23 || mi > 59 || sec > 60) {
      return -1;
    }
    secs = -off;
  }
  secs += days_from_civil(y1 * 100 + y2, mo, d) * 86400 + (int64_t)h * 3600 + mi * 60 + sec;
  if (secs > 9223372035 || secs < -9223372035) {
    return -1;  // near the int64 ns limits: the Lua helper decides
  }
  *out = secs * 1000000000 + frac;
  return 0;
}
