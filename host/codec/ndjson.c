// ndjson.c: see ndjson.h.
#include "ndjson.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// ---- numbers ----------------------------------------------------------------------------------
static const double pow10_exact[] = {
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

// Digits of u (no sign) into dst. @return count.
static int utoa(uint64_t u, char *dst)
{
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  for (int i = 0; i < n; i++) {
    dst[i] = tmp[n - 1 - i];
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
    n += utoa((uint64_t)ae, dst + n);
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

int fh_fmt_shortest(double v, char *dst)
{
  if (v == floor(v) && v < 9007199254740992.0 && v > -9007199254740992.0) {
    if (v < 0) {
      dst[0] = '-';
      return 1 + utoa((uint64_t)(-v), dst + 1);
    }
    return utoa((uint64_t)v, dst);
  }
  // The common case, a decimal of at most 15 significant digits (a price): x = m / 10^k with
  // m < 10^15 read back exactly (the division of two exact doubles is correctly rounded); the
  // smallest such k gives the digits %.15g writes.
  double a = fabs(v);
  if (a >= 1e-7 && a < 1e15) {
    for (int k = 1; k <= 22; k++) {
      double m = nearbyint(a * pow10_exact[k]);
      if (m >= 1e15) {
        break;
      }
      if (m / pow10_exact[k] == a) {
        char d[24];
        int nd = utoa((uint64_t)m, d);
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

// ---- the buffer --------------------------------------------------------------------------------
fh_out *fh_out_new(size_t limit)
{
  fh_out *o = calloc(1, sizeof *o);
  if (!o) {
    return NULL;
  }
  o->cap = 1 << 16;
  o->buf = malloc(o->cap);
  if (!o->buf) {
    free(o);
    return NULL;
  }
  o->limit = limit ? limit : (size_t)64 << 20;
  return o;
}

void fh_out_free(fh_out *o)
{
  if (o) {
    free(o->buf);
    free(o);
  }
}

// Room for n more bytes. @return where they go, or NULL (the line fails).
static char *room(fh_out *o, size_t n)
{
  if (o->len + n > o->cap) {
    size_t cap = o->cap * 2;
    while (cap < o->len + n) {
      cap *= 2;
    }
    char *nb = realloc(o->buf, cap);
    if (!nb) {
      o->failed = 1;
      return NULL;
    }
    o->buf = nb;
    o->cap = cap;
  }
  return o->buf + o->len;
}

static void put(fh_out *o, const char *s, size_t n)
{
  char *d = room(o, n);
  if (d) {
    memcpy(d, s, n);
    o->len += n;
  }
}

void fh_out_begin(fh_out *o, const char *prefix, size_t n)
{
  o->line = o->len;
  o->failed = 0;
  put(o, "{", 1);
  put(o, prefix, n);
  o->comma = n > 0;
}

void fh_out_key(fh_out *o, const char *key, size_t n)
{
  if (o->comma) {
    put(o, ",", 1);
  }
  put(o, key, n);
  o->comma = 0;
}

void fh_out_str(fh_out *o, const char *s, size_t n)
{
  // worst case \u00XX for every byte
  char *d = room(o, n * 6 + 2);
  if (!d) {
    return;
  }
  char *p = d;
  *p++ = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') {
      *p++ = (char)c;
      continue;
    }
    *p++ = '\\';
    switch (c) {
    case '"': *p++ = '"'; break;
    case '\\': *p++ = '\\'; break;
    case '\b': *p++ = 'b'; break;
    case '\f': *p++ = 'f'; break;
    case '\n': *p++ = 'n'; break;
    case '\r': *p++ = 'r'; break;
    case '\t': *p++ = 't'; break;
    default:
      *p++ = 'u';
      *p++ = '0';
      *p++ = '0';
      *p++ = "0123456789abcdef"[c >> 4];
      *p++ = "0123456789abcdef"[c & 15];
    }
  }
  *p++ = '"';
  o->len += (size_t)(p - d);
  o->comma = 1;
}

int fh_out_num(fh_out *o, double v)
{
  if (!isfinite(v)) {
    o->failed = 1;
    return -1;
  }
  char *d = room(o, 32);
  if (d) {
    o->len += (size_t)fh_fmt_shortest(v, d);
  }
  o->comma = 1;
  return 0;
}

void fh_out_int64(fh_out *o, int64_t v)
{
  char *d = room(o, 24);
  if (d) {
    size_t n = 0;
    uint64_t u = (uint64_t)v;
    if (v < 0) {
      d[n++] = '-';
      u = 0 - u;
    }
    o->len += n + (size_t)utoa(u, d + n);
  }
  o->comma = 1;
}

void fh_out_uint64(fh_out *o, uint64_t v)
{
  char *d = room(o, 24);
  if (d) {
    o->len += (size_t)utoa(v, d);
  }
  o->comma = 1;
}

void fh_out_raw(fh_out *o, const char *s, size_t n)
{
  put(o, s, n);
  o->comma = 1;
}

void fh_out_open(fh_out *o, char c)
{
  put(o, &c, 1);
  o->comma = 0;
}

void fh_out_close(fh_out *o, char c)
{
  put(o, &c, 1);
  o->comma = 1;
}

int fh_out_end(fh_out *o)
{
  put(o, "}\n", 2);
  if (o->failed || o->len > o->limit) {
    if (!o->failed) {
      o->dropped++;
    }
    o->len = o->line;
    return 0;
  }
  o->lines++;
  o->line = o->len;
  return 1;
}

void fh_out_cancel(fh_out *o)
{
  o->len = o->line;
  o->failed = 0;
}

int fh_out_write(fh_out *o, int fd)
{
  size_t whole = o->line;   // the line being built (if any) stays
  size_t done = 0;
  while (done < whole) {
    ssize_t w = write(fd, o->buf + done, whole - done);
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK) {
        break;
      }
      memmove(o->buf, o->buf + done, o->len - done);
      o->len -= done;
      o->line -= done;
      return e;
    }
    done += (size_t)w;
  }
  memmove(o->buf, o->buf + done, o->len - done);
  o->len -= done;
  o->line -= done;
  return 0;
}
