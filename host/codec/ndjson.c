// ndjson.c: see ndjson.h.
#include "ndjson.h"

#include "json_tape.h"
#include "numfmt.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

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

// n bytes from s to d, for the short copies of a line (a key, a number's digits): a call to
// memcpy costs more than the copy below 17 bytes, where two overlapping loads and stores do it.
static inline void copy_short(char *d, const char *s, size_t n)
{
  if (n >= 8 && n <= 16) {
    uint64_t a, b;
    memcpy(&a, s, 8);
    memcpy(&b, s + n - 8, 8);
    memcpy(d, &a, 8);
    memcpy(d + n - 8, &b, 8);
  } else if (n >= 4 && n < 8) {
    uint32_t a, b;
    memcpy(&a, s, 4);
    memcpy(&b, s + n - 4, 4);
    memcpy(d, &a, 4);
    memcpy(d + n - 4, &b, 4);
  } else if (n < 4) {
    for (size_t i = 0; i < n; i++) {
      d[i] = s[i];
    }
  } else {
    memcpy(d, s, n);
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

// A member's key (pre-encoded with its colon), after a comma when one is due (none for a list
// element, key NULL: only the comma), with room for `extra` bytes of value after it: one check
// of the buffer per member. @return where the value goes, or NULL (out of memory).
static char *key_room(fh_out *o, const char *k, size_t kn, size_t extra)
{
  char *d = room(o, 1 + kn + extra);
  if (!d) {
    return NULL;
  }
  if (o->comma) {
    *d++ = ',';
    o->len++;
  }
  if (k) {
    copy_short(d, k, kn);
    d += kn;
    o->len += kn;
  }
  return d;
}

void fh_out_str(fh_out *o, const char *k, size_t kn, const char *s, size_t n)
{
  // worst case \u00XX for every byte
  char *d = key_room(o, k, kn, n * 6 + 2);
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

int fh_out_num(fh_out *o, const char *k, size_t kn, double v)
{
  if (!isfinite(v)) {
    o->failed = 1;
    return -1;
  }
  char *d = key_room(o, k, kn, 32);
  if (d) {
    o->len += (size_t)fh_fmt_shortest(v, d);
  }
  o->comma = 1;
  return 0;
}

// Whether number text `s` (n bytes, as the tape accepted it) is what fh_fmt_shortest writes for
// its value: -?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?, at most 15 significant digits (DBL_DIG: the
// double reads back to the same 15), the leading digit's exponent from -4 to 14 (where %.15g
// writes no exponent), and not "-0" (written 0).
static int shortest_text(const char *s, size_t n)
{
  size_t i = s[0] == '-';
  size_t int0 = i;
  while (i < n && s[i] >= '0' && s[i] <= '9') {
    i++;
  }
  size_t nint = i - int0;
  if (nint == 0 || (nint > 1 && s[int0] == '0')) {
    return 0;
  }
  int zero = s[int0] == '0';   // 0.xxx
  if (i == n) {
    return nint <= 15 && !(zero && int0 == 1);
  }
  if (s[i] != '.' || s[n - 1] == '0') {
    return 0;
  }
  size_t f0 = ++i;
  while (i < n && s[i] >= '0' && s[i] <= '9') {
    i++;
  }
  if (i != n || i == f0) {
    return 0;
  }
  size_t nfrac = n - f0;
  if (!zero) {
    return nint + nfrac <= 15;
  }
  size_t lead = 0;   // zeros after the point
  while (s[f0 + lead] == '0') {
    lead++;
  }
  return lead <= 3 && nfrac - lead <= 15;
}

int fh_out_jnum(fh_out *o, const char *k, size_t kn, const fh_jtok *tape, int tok,
                const char *buf)
{
  const fh_jtok *t = &tape[tok];
  if (t->type != FH_J_NUM || !isfinite(t->num)) {
    return 0;
  }
  const char *s = buf + t->start;
  if (t->len <= 24 && shortest_text(s, t->len)) {
    char *d = key_room(o, k, kn, t->len);
    if (d) {
      copy_short(d, s, t->len);
      o->len += t->len;
    }
    o->comma = 1;
    return 1;
  }
  fh_out_num(o, k, kn, t->num);
  return 1;
}

void fh_out_int64(fh_out *o, const char *k, size_t kn, int64_t v)
{
  char *d = key_room(o, k, kn, 24);
  if (d) {
    size_t n = 0;
    uint64_t u = (uint64_t)v;
    if (v < 0) {
      d[n++] = '-';
      u = 0 - u;
    }
    o->len += n + (size_t)fh_utoa(u, d + n);
  }
  o->comma = 1;
}

void fh_out_uint64(fh_out *o, const char *k, size_t kn, uint64_t v)
{
  char *d = key_room(o, k, kn, 24);
  if (d) {
    o->len += (size_t)fh_utoa(v, d);
  }
  o->comma = 1;
}

void fh_out_raw(fh_out *o, const char *k, size_t kn, const char *s, size_t n)
{
  char *d = key_room(o, k, kn, n);
  if (d) {
    memcpy(d, s, n);
    o->len += n;
  }
  o->comma = 1;
}

void fh_out_open(fh_out *o, const char *k, size_t kn, char c)
{
  char *d = key_room(o, k, kn, 1);
  if (d) {
    *d = c;
    o->len++;
  }
  o->comma = 0;
}

void fh_out_close(fh_out *o, char c)
{
  if (c == '}' && o->len > o->line && o->buf[o->len - 1] == '{') {
    o->buf[o->len - 1] = '[';   // an empty table: the Lua encoder writes `[]`
    c = ']';
  }
  put(o, &c, 1);
  o->comma = 1;
}

// Keeps the line built since o->line, or drops it (failed, or over the limit).
static int keep_line(fh_out *o)
{
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

int fh_out_end(fh_out *o)
{
  put(o, "}\n", 2);
  return keep_line(o);
}

int fh_out_line(fh_out *o, const char *s, size_t n)
{
  o->line = o->len;
  o->failed = 0;
  put(o, s, n);
  put(o, "\n", 1);
  return keep_line(o);
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

int fh_out_wait(fh_out *o, int fd, int timeout_ms)
{
  struct pollfd p = { .fd = fd, .events = POLLOUT };
  int r = poll(&p, 1, timeout_ms);
  if (r < 0) {
    return errno == EINTR ? 0 : errno;
  }
  if (r > 0 && (p.revents & (POLLERR | POLLNVAL)) && !(p.revents & POLLOUT)) {
    return EPIPE;
  }
  return r > 0 ? fh_out_write(o, fd) : 0;
}

int fh_fd_nonblock(int fd, int on)
{
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return -1;
  }
  if (S_ISREG(st.st_mode) || isatty(fd)) {
    return -2;   // a file always takes its bytes; a terminal is shared with the shell
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) {
    return -1;
  }
  int was = (fl & O_NONBLOCK) != 0;
  int want = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
  if (want != fl && fcntl(fd, F_SETFL, want) != 0) {
    return -1;
  }
  return was;
}
