// lat_floor.c: the floor under run.sh's figures: the least a client can do on the same path. It
// connects to lat_gen, authenticates and subscribes as specs/alpaca.lua does, then reads frames
// with blocking recv() and writes, per frame, one line {"timestamp":<t as epoch ns>} to stdout
// (one write per recv), which lat_meter reads as it reads feedhost's records. No library, no
// parsing beyond the "t" member: what is left is the kernel's share (loopback TCP, wake-ups, the
// pipe) and the machine's.
//
//   lat_floor PORT | lat_meter ...          (run.sh with FLOOR=1)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
  perror(what);
  exit(1);
}

// A masked client text frame of `s`.
static void send_text(int fd, const char *s)
{
  unsigned char f[512];
  size_t n = strlen(s);
  if (n > sizeof f - 8) {
    exit(2);
  }
  f[0] = 0x81;
  f[1] = (unsigned char)(0x80 | n);   // n < 126
  memset(f + 2, 0, 4);                // mask 0: the payload as it is
  memcpy(f + 6, s, n);
  if (write(fd, f, n + 6) != (ssize_t)(n + 6)) {
    die("write");
  }
}

// "2026-01-02T03:04:05.123456789Z" to epoch ns (UTC, 9 fraction digits as lat_gen writes).
static int64_t rfc3339_ns(const char *s)
{
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
             &tm.tm_min, &tm.tm_sec) != 6) {
    return 0;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return (int64_t)timegm(&tm) * 1000000000LL + strtoll(s + 20, NULL, 10);
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: lat_floor PORT\n");
    return 2;
  }
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])) };
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    die("connect");
  }
  const char *req = "GET /v2/iex HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n";
  if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
    die("write");
  }
  static char buf[1 << 20];
  static char out[1 << 20];
  size_t have = 0;
  char *end = NULL;
  while (!end) {   // the 101 response, then auth and subscribe
    ssize_t r = recv(fd, buf + have, sizeof buf - 1 - have, 0);
    if (r <= 0) {
      die("the upgrade");
    }
    have += (size_t)r;
    end = memmem(buf, have, "\r\n\r\n", 4);
  }
  have -= (size_t)(end + 4 - buf);
  memmove(buf, end + 4, have);
  send_text(fd, "{\"action\":\"auth\",\"key\":\"k\",\"secret\":\"s\"}");
  send_text(fd, "{\"action\":\"subscribe\",\"trades\":[\"AAPL\"],\"quotes\":[\"AAPL\"]}");
  for (;;) {
    size_t at = 0;
    size_t olen = 0;
    int closed = 0;
    while (have - at >= 2) {
      unsigned char *h = (unsigned char *)buf + at;
      size_t len = h[1] & 0x7f;
      size_t hl = 2;
      if (len == 126) {
        if (have - at < 4) {
          break;
        }
        len = ((size_t)h[2] << 8) | h[3];
        hl = 4;
      }
      if (have - at < hl + len) {
        break;
      }
      closed |= (h[0] & 0x0f) == 8;
      char *p = buf + at + hl;
      char *t = memmem(p, len, "\"t\":\"", 5);
      if (t && olen + 64 < sizeof out) {
        olen += (size_t)sprintf(out + olen, "{\"timestamp\":%lld}\n", (long long)rfc3339_ns(t + 5));
      }
      at += hl + len;
    }
    if (olen && write(1, out, olen) != (ssize_t)olen) {
      die("write stdout");
    }
    memmove(buf, buf + at, have - at);
    have -= at;
    if (closed) {
      break;
    }
    ssize_t r = recv(fd, buf + have, sizeof buf - have, 0);
    if (r <= 0) {
      break;
    }
    have += (size_t)r;
  }
  close(fd);
  return 0;
}
