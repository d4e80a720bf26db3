// fuzz_ts.c: fh_ts_iso (and fh_json_ts's cached-date path) on arbitrary bytes.
//
// A reference written apart from ts.c (a field-by-field reading of the grammar of the Lua
// helper `ts`, days counted by leap-year sums instead of Hinnant's eras) must give the same
// verdict and value: fh_ts_iso may only decline what the reference accepts near the int64
// limits. An accepted time, printed back through gmtime_r, must read back to the same value.
#define _DEFAULT_SOURCE  // gmtime_r
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "codec/json_tape.h"
#include "codec/ts.h"
#include "fuzz.h"

// The range fh_ts_iso promises (beyond it the Lua helper decides).
#define TS_LIMIT 9223372035LL

static int digit(const char *s, size_t len, size_t i)
{
  return i < len && s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1;
}

static int two(const char *s, size_t len, size_t i)
{
  int a = digit(s, len, i);
  int b = digit(s, len, i + 1);
  return a < 0 || b < 0 ? -1 : a * 10 + b;
}

static bool leap(int64_t y)
{
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int64_t floordiv(int64_t a, int64_t b)
{
  return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

// leap years in [1, y] (proleptic Gregorian; y may be 0 or negative)
static int64_t leaps_through(int64_t y)
{
  return floordiv(y, 4) - floordiv(y, 100) + floordiv(y, 400);
}

static int64_t days_since_epoch(int64_t y, int mo, int d)
{
  static const int before[12] = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334 };
  int64_t days = (y - 1970) * 365 + (leaps_through(y - 1) - leaps_through(1969));
  days += before[mo - 1] + (mo > 2 && leap(y)) + d - 1;
  return days;
}

// The grammar of lua/feedhost/spec/helpers.lua iso_to_ns (without its trimming of spaces).
// @return true and *secs / *frac, or false.
static bool ref_iso(const char *s, size_t len, int64_t *secs, int64_t *frac)
{
  static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
  if (len < 10 || s[4] != '-' || s[7] != '-') {
    return false;
  }
  int yh = two(s, len, 0), yl = two(s, len, 2), mo = two(s, len, 5), d = two(s, len, 8);
  if (yh < 0 || yl < 0 || mo < 1 || mo > 12 || d < 1) {
    return false;
  }
  int64_t y = yh * 100 + yl;
  if (d > mdays[mo - 1] + (mo == 2 && leap(y))) {
    return false;
  }
  int h = 0, mi = 0, sec = 0;
  int64_t f = 0;
  int64_t off = 0;
  size_t p = 10;
  if (p < len) {
    if (s[p] != 'T' && s[p] != 't' && s[p] != ' ') {
      return false;
    }
    h = two(s, len, 11);
    mi = two(s, len, 14);
    if (h < 0 || mi < 0 || s[13] != ':') {
      return false;
    }
    p = 16;
    if (p < len && s[p] == ':') {
      sec = two(s, len, p + 1);
      if (sec < 0) {
        return false;
      }
      p += 3;
      if (p < len && (s[p] == '.' || s[p] == ',')) {
        p++;
        int nd = 0;
        for (; digit(s, len, p) >= 0; p++, nd++) {
          if (nd < 9) {
            f = f * 10 + digit(s, len, p);
          }
        }
        if (nd == 0) {
          return false;
        }
        for (int k = nd; k < 9; k++) {
          f *= 10;
        }
      }
    }
    if (p < len) {
      char c = s[p];
      if (c == 'Z' || c == 'z') {
        p++;
      } else if (c == '+' || c == '-') {
        int oh = two(s, len, p + 1);
        int om = 0;
        if (oh < 0) {
          return false;
        }
        p += 3;
        if (p < len) {
          if (s[p] == ':') {
            p++;
          }
          om = two(s, len, p);
          if (om < 0) {
            return false;
          }
          p += 2;
        }
        if (oh > 23 || om > 59) {
          return false;
        }
        off = (oh * 60 + om) * 60 * (c == '-' ? -1 : 1);
      } else {
        return false;
      }
    }
    if (p != len || h > 23 || mi > 59 || sec > 60) {
      return false;
    }
  }
  *secs = days_since_epoch(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
  *frac = f;
  return true;
}

// fh_json_ts over the whole input as one string token, with `cache`.
static int json_ts(const char *s, size_t len, fh_ts_cache *cache, int64_t *out)
{
  fh_jtok t;
  memset(&t, 0, sizeof t);
  t.type = FH_J_STR;
  t.len = (uint32_t)len;
  t.next = 1;
  return fh_json_ts(&t, s, 0, cache, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *s = (const char *)data;
  {
    // the bytes as a number token: an integer is read exactly, in the unit its digits imply
    fh_jtok n;
    memset(&n, 0, sizeof n);
    n.type = FH_J_NUM;
    n.len = (uint32_t)size;
    n.next = 1;
    fh_ts_cache c;
    memset(&c, 0, sizeof c);
    int64_t nv = 0;
    int64_t want = 0;
    bool ok = fz_ref_int_ts(s, size, &want);
    FZ_CHECK(fh_json_ts(&n, s, 0, &c, &nv) == (ok ? 0 : -1) && (!ok || nv == want));
  }
  int64_t got = 0;
  int rc = fh_ts_iso(s, size, &got);
  FZ_CHECK(rc == 0 || rc == -1);
  int64_t secs = 0;
  int64_t frac = 0;
  bool ok = ref_iso(s, size, &secs, &frac);
  if (rc == 0) {
    if (!ok) {
      fprintf(stderr, "fh_ts_iso accepts %.*s, the reference does not\n", (int)size, s);
    }
    FZ_CHECK(ok);
    FZ_CHECK(secs <= TS_LIMIT && secs >= -TS_LIMIT);
    FZ_CHECK(got == secs * 1000000000 + frac);
  } else if (ok) {
    // declined only near the int64 limits
    FZ_CHECK(secs > TS_LIMIT || secs < -TS_LIMIT);
  }

  // the cached date's short path: a cold cache, then one primed with this date
  fh_ts_cache cache;
  memset(&cache, 0, sizeof cache);
  int64_t a = 0;
  FZ_CHECK(json_ts(s, size, &cache, &a) == rc && (rc != 0 || a == got));
  if (size >= 10) {
    char day[20];
    memcpy(day, s, 10);
    memcpy(day + 10, "T00:00:00Z", 10);
    memset(&cache, 0, sizeof cache);
    int64_t m = 0;
    int drc = json_ts(day, 20, &cache, &m);
    int64_t b = 0;
    FZ_CHECK(json_ts(s, size, &cache, &b) == rc && (rc != 0 || b == got));
    FZ_CHECK(drc != 0 || json_ts(s, size, &cache, &b) == rc);
  }

  // printed back (UTC, all nine fraction digits), it reads the same
  if (rc == 0) {
    time_t tt = (time_t)(got / 1000000000 - (got % 1000000000 < 0));
    int64_t ns = got - (int64_t)tt * 1000000000;
    struct tm tm;
    FZ_CHECK(gmtime_r(&tt, &tm) != NULL);
    char text[64];
    int n = snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (long long)ns);
    FZ_CHECK(n > 0 && (size_t)n < sizeof text);
    int64_t back = 0;
    if (tm.tm_year + 1900 >= 0 && tm.tm_year + 1900 <= 9999) {
      FZ_CHECK(fh_ts_iso(text, (size_t)n, &back) == 0 && back == got);
    }
  }
  return 0;
}
