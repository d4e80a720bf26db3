// numfmt.c: see numfmt.h.
#include "numfmt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double pow10_exact[] = {
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

// "00" "01" ... "99": two digits a step (a timestamp has 19)
static const char DIGITS2[201] =
    "0001020304050607080910111213141516171819202122232425262728293031323334353637383940414243444546"
    "4748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293"
    "949596979899";

int fh_utoa(uint64_t u, char *dst)
{
  static const uint64_t P10[20] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
    1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
    100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
    1000000000000000000ULL, 10000000000000000000ULL,
  };
  // the digit count: log10 from the bit length, then one comparison
  int t = ((64 - __builtin_clzll(u | 1)) * 1233) >> 12;
  int n = t + (u >= P10[t]);
  n = n ? n : 1;
  char *p = dst + n;   // written from the last digit back
  while (u >= 100000000) {   // eight digits at a time in 32-bit arithmetic, as two halves of
                             // four that do not wait for each other
    uint32_t lo = (uint32_t)(u % 100000000);
    u /= 100000000;
    uint32_t h = lo / 10000, l = lo % 10000;
    p -= 8;
    memcpy(p, DIGITS2 + 2 * (h / 100), 2);
    memcpy(p + 2, DIGITS2 + 2 * (h % 100), 2);
    memcpy(p + 4, DIGITS2 + 2 * (l / 100), 2);
    memcpy(p + 6, DIGITS2 + 2 * (l % 100), 2);
  }
  uint32_t v = (uint32_t)u;
  while (v >= 100) {
    p -= 2;
    memcpy(p, DIGITS2 + 2 * (v % 100), 2);
    v /= 100;
  }
  if (v >= 10) {
    memcpy(p - 2, DIGITS2 + 2 * v, 2);
  } else {
    p[-1] = (char)('0' + v);
  }
  return n;
}

// What "%.15g" writes for digits D (no trailing zeros, nd of them) times 10^-k, k >= 1.
static int format_g(int neg, const char *d, int nd, int k, char *dst)
{
  int n = 0;
  if (neg) {
    dst[n++] = '-';
  }
  int e = nd - 1 - k;   // exponent of the leading digit
  if (e < -4) {
    dst[n++] = d[0];
    if (nd > 1) {
      dst[n++] = '.';
      memcpy(dst + n, d + 1, (size_t)nd - 1);
      n += nd - 1;
    }
    dst[n++] = 'e';
    dst[n++] = '-';
    int ae = -e;
    if (ae < 10) {
      dst[n++] = '0';
    }
    n += fh_utoa((uint64_t)ae, dst + n);
    return n;
  }
  if (e >= 0) {
    memcpy(dst + n, d, (size_t)e + 1);
    n += e + 1;
    dst[n++] = '.';
    memcpy(dst + n, d + e + 1, (size_t)(nd - e - 1));
    return n + nd - e - 1;
  }
  dst[n++] = '0';
  dst[n++] = '.';
  for (int z = 0; z < -e - 1; z++) {
    dst[n++] = '0';
  }
  memcpy(dst + n, d, (size_t)nd);
  return n + nd;
}

int fh_fmt_double(double v, char *dst)
{
  // The common case, a decimal of at most 15 significant digits (a price): x = m / 10^k with
  // m < 10^15 read back exactly (the division of two exact doubles is correctly rounded); the
  // smallest such k gives the digits %.15g writes. A whole number is not one (its digits would
  // end in the zero that k = 1 adds: 5 written 5.0).
  double a = fabs(v);
  if (a >= 1e-7 && a < 1e15 && a != floor(a)) {
    for (int k = 1; k <= 22; k++) {
      // nearest integer, ties to even: below 2^52 the sum's unit is 1, so the addition rounds
      // and the subtraction is exact (nearbyint is a call into libm; above 2^52 m >= 1e15 anyway)
      double m = (a * pow10_exact[k] + 0x1p52) - 0x1p52;
      if (m >= 1e15) {
        break;
      }
      if (m / pow10_exact[k] == a) {
        char d[24];
        int nd = fh_utoa((uint64_t)m, d);
        return format_g(v < 0, d, nd, k, dst);
      }
    }
  }
  for (int prec = 15; prec <= 17; prec++) {
    int n = snprintf(dst, 32, "%.*g", prec, v);
    if (prec == 17 || strtod(dst, NULL) == v) {
      return n;
    }
  }
  return 0;
}

int fh_fmt_shortest(double v, char *dst)
{
  if (v == floor(v) && v < 9007199254740992.0 && v > -9007199254740992.0) {
    if (v < 0) {
      dst[0] = '-';
      return 1 + fh_utoa((uint64_t)(-v), dst + 1);
    }
    return fh_utoa((uint64_t)v, dst);
  }
  return fh_fmt_double(v, dst);
}
