// C unit tests for the NDJSON writer: numbers are exactly what the Lua encoder writes (the
// shortest of %.15g/%.16g/%.17g that reads back, integers below 2^53 as integers), over millions
// of doubles; strings escaped as it escapes them; lines kept, dropped at the limit, taken back.
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "codec/ndjson.h"
#include "codec/numfmt.h"

// The Lua encoder's rule (feedhost.util.json encode_number), in C.
static int reference(double v, char *dst)
{
  if (v == floor(v) && v < 9007199254740992.0 && v > -9007199254740992.0) {
    return snprintf(dst, 32, "%lld", (long long)v);
  }
  for (int prec = 15; prec <= 17; prec++) {
    int n = snprintf(dst, 32, "%.*g", prec, v);
    if (prec == 17 || strtod(dst, NULL) == v) {
      return n;
    }
  }
  return 0;
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void same(double v)
{
  char a[32], b[32];
  int na = fh_fmt_shortest(v, a), nb = reference(v, b);
  a[na] = b[nb] = 0;
  if (na != nb || strcmp(a, b) != 0) {
    if (failures++ < 20) {
      fprintf(stderr, "%.17g: got %s, want %s\n", v, a, b);
    }
  }
}

static void test_numbers(void)
{
  // decimals as feeds send them: 1 to 17 significant digits, every magnitude
  for (int i = 0; i < 500000; i++) {
    char text[40];
    int digits = 1 + (int)(next() % 17);
    uint64_t m = next() % 100000000000000000ULL;
    while (m >= 1 && (int)floor(log10((double)m)) + 1 > digits) {
      m /= 10;
    }
    int e = (int)(next() % 40) - 25;
    snprintf(text, sizeof text, "%s%llue%d", next() & 1 ? "-" : "", (unsigned long long)m, e);
    same(strtod(text, NULL));
  }
  // any bit pattern that is a finite double
  for (int i = 0; i < 500000; i++) {
    uint64_t bits = next();
    double v;
    memcpy(&v, &bits, sizeof v);
    if (isfinite(v)) {
      same(v);
    }
  }
  double edge[] = { 0.0, -0.0, 1e-7, 9.9999999999999e-8, 1e15, 9007199254740991.0,
                    9007199254740992.0, 0.1, 0.2, 0.3, 126.54, 1e-5, 123456789012345.6, 5e-324 };
  for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
    same(edge[i]);
    same(-edge[i]);
  }
}

// fh_utoa against printf: every length, both sides of each power of ten, random magnitudes
static void utoa_same(uint64_t u)
{
  char want[32], got[32];
  int n = snprintf(want, sizeof want, "%llu", (unsigned long long)u);
  int m = fh_utoa(u, got);
  got[m] = 0;
  CHECK(n == m && strcmp(want, got) == 0);
}

// fh_fmt_double of a whole number is what %.15g writes (no ".0")
static void test_fmt_double_whole(void)
{
  double whole[] = { 0.0, 1.0, -3.0, 5.0, 100.0, 123456.0, 999999999999999.0, 1e15, 1e20 };
  for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++) {
    char want[40], got[40];
    snprintf(want, sizeof want, "%.15g", whole[i]);
    got[fh_fmt_double(whole[i], got)] = 0;
    CHECK(strcmp(want, got) == 0);
  }
}

// what the Lua encoder writes for a double: the shortest of %.15g, %.16g, %.17g that reads back
static int ref_double(double v, char *dst)
{
  for (int prec = 15;; prec++) {
    int n = snprintf(dst, 40, "%.*g", prec, v);
    if (prec == 17 || strtod(dst, NULL) == v) {
      return n;
    }
  }
}

static void fmt_double_same(double v)
{
  char want[40], got[40];
  ref_double(v, want);
  got[fh_fmt_double(v, got)] = 0;
  CHECK(strcmp(want, got) == 0);
}

// decimals as a feed writes them (m / 10^k: prices, sizes) and doubles of any bits, against the
// reference; ties of the rounding to m (x.5 at every scale) included
static void test_fmt_double_random(void)
{
  static const double P10[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                                1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18 };
  for (int i = 0; i < 200000; i++) {
    uint64_t m = next() % (uint64_t)P10[1 + next() % 16];
    double v = (double)m / P10[next() % 19];
    fmt_double_same(next() & 1 ? -v : v);
    fmt_double_same(((double)m + 0.5) / P10[next() % 19]);
    uint64_t bits = next();
    double d;
    memcpy(&d, &bits, sizeof d);
    if (isfinite(d)) {
      fmt_double_same(d);
    }
  }
}

static void test_utoa(void)
{
  uint64_t p = 1;
  for (int i = 0; i < 20; i++) {
    utoa_same(p - 1);
    utoa_same(p);
    utoa_same(p + 1);
    utoa_same(p * 9 + (p - 1));   // 99...9
    p *= 10;
  }
  utoa_same(UINT64_MAX);
  for (int i = 0; i < 1000000; i++) {
    utoa_same(next() >> (next() % 64));
  }
}

static void test_lines(void)
{
  fh_out *o = fh_out_new(64);
  fh_out_begin(o, "\"channel\":\"data\"", 16);
  fh_out_str(o, "\"s\":", 4, "a\"b\\c/\n\x01\xc3\xa9", 10);
  CHECK(fh_out_num(o, "\"n\":", 4, 1.5) == 0);
  CHECK(fh_out_end(o) == 1);
  const char *want = "{\"channel\":\"data\",\"s\":\"a\\\"b\\\\c/\\n\\u0001\xc3\xa9\",\"n\":1.5}\n";
  CHECK(o->len == strlen(want) && memcmp(o->buf, want, o->len) == 0);
  size_t kept = o->len;
  fh_out_begin(o, "", 0);   // a line over the limit is dropped and counted
  fh_out_str(o, "\"x\":", 4, "0123456789012345678901234567890123456789", 40);
  CHECK(fh_out_end(o) == 0 && o->dropped == 1 && o->len == kept);
  fh_out_begin(o, "", 0);   // a number JSON cannot carry fails the line, which is not kept
  CHECK(fh_out_num(o, "\"x\":", 4, INFINITY) == -1);
  CHECK(fh_out_end(o) == 0 && o->len == kept && o->lines == 1);
  fh_out_begin(o, "", 0);   // nested values and lists take their commas
  fh_out_open(o, "\"d\":", 4, '{');
  fh_out_int64(o, "\"a\":", 4, -9223372036854775807LL - 1);
  fh_out_close(o, '}');
  fh_out_open(o, "\"l\":", 4, '[');
  fh_out_uint64(o, NULL, 0, 18446744073709551615ULL);
  fh_out_raw(o, NULL, 0, "null", 4);
  fh_out_close(o, ']');
  o->limit = 1 << 20;
  CHECK(fh_out_end(o) == 1);
  const char *want2 = "{\"d\":{\"a\":-9223372036854775808},\"l\":[18446744073709551615,null]}\n";
  CHECK(o->len - kept == strlen(want2) && memcmp(o->buf + kept, want2, strlen(want2)) == 0);
  fh_out_free(o);
}

// Empty objects, whole lines, cancel, and writing to a pipe: full (EAGAIN, nothing lost) and
// without a reader (EPIPE).
static void test_pipe(void)
{
  fh_out *o = fh_out_new(0);
  fh_out_begin(o, "\"c\":1", 5);   // an object with no member is written `[]`
  fh_out_open(o, "\"e\":", 4, '{');
  fh_out_close(o, '}');
  CHECK(fh_out_end(o) == 1);
  CHECK(fh_out_line(o, "{\"x\":2}", 7) == 1);
  fh_out_begin(o, "", 0);            // cancelled: gone; cancelling again changes nothing
  fh_out_str(o, "\"y\":", 4, "z", 1);
  fh_out_cancel(o);
  fh_out_cancel(o);
  const char *want = "{\"c\":1,\"e\":[]}\n{\"x\":2}\n";
  CHECK(o->len == strlen(want) && memcmp(o->buf, want, o->len) == 0 && o->lines == 2);

  int fds[2];
  CHECK(pipe(fds) == 0);
  CHECK(fh_fd_nonblock(fds[1], 1) == 0);
  CHECK(fh_fd_nonblock(fds[1], 1) == 1);
  char line[1000];
  memset(line, 'a', sizeof line);
  for (int i = 0; i < 1000; i++) {   // ~1 MB: more than the pipe holds
    fh_out_line(o, line, sizeof line);
  }
  size_t total = o->len;
  CHECK(fh_out_write(o, fds[1]) == 0 && o->len > 0 && o->len < total);   // full: EAGAIN
  CHECK(fh_out_wait(o, fds[1], 10) == 0);                                  // still full
  fh_fd_nonblock(fds[0], 1);
  size_t got = 0;
  char buf[65536];
  ssize_t r;
  for (int spins = 0; spins < 100000 && (o->len > 0 || got < total); spins++) {
    while ((r = read(fds[0], buf, sizeof buf)) > 0) {
      got += (size_t)r;
    }
    CHECK(fh_out_wait(o, fds[1], 100) == 0);
  }
  CHECK(got == total && o->len == 0);   // every byte, none twice
  close(fds[0]);
  fh_out_line(o, "{}", 2);
  signal(SIGPIPE, SIG_IGN);
  CHECK(fh_out_write(o, fds[1]) == EPIPE);
  CHECK(fh_out_wait(o, fds[1], 10) == EPIPE);
  close(fds[1]);
  int dn = open("/dev/null", O_WRONLY);
  CHECK(fh_fd_nonblock(dn, 1) == 0);   // a character device other than a terminal
  close(dn);
  fh_out_free(o);
}

int main(void)
{
  test_numbers();
  test_utoa();
  test_fmt_double_whole();
  test_fmt_double_random();
  test_lines();
  test_pipe();
  return checks_done("test_ndjson");
}
