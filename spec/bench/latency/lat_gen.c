// lat_gen.c: a paced Alpaca market-data server for the latency and RSS benchmarks
// (spec/bench/latency/run.sh, rss.sh). One WebSocket client on 127.0.0.1: the greeting
// [{"T":"success","msg":"connected"}], "authenticated" for the auth message, then, after the
// first subscribe, one trade or quote (alternating, one item per message) at a steady RATE for
// SECS seconds, each message's `t` the CLOCK_REALTIME time read just before its write, as
// RFC 3339 with nanoseconds: the record's `timestamp` is the send time. Then a close (1000).
//
//   lat_gen --rate R --secs S [--port P] [--port-file F] [--symbols A,B] [--batch K]
//
// --port 0 (default) takes an ephemeral port, written to --port-file (and stderr). --batch K
// writes K messages per write, sleeping between writes (the RSS run's low-CPU pacing); with K = 1
// (default) every message is written alone at its due time (sleeping until about 60 us before it,
// then spinning); behind its schedule, the messages due so far go out in one write. TCP_NODELAY
// is set. One JSON line on stdout at the end: sent, secs, msg_per_s,
// lag_max_us (how far a write fell behind its due time), late_writes (> 20 us behind), writes,
// cpu_s.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { MAX_WRITE = 1024 };   // messages per write at most

static int64_t clock_ns(clockid_t which)
{
  struct timespec t;
  clock_gettime(which, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void die(const char *what)
{
  perror(what);
  exit(1);
}

static void write_all(int fd, const char *p, size_t n)
{
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w <= 0) {
      die("write to the client");
    }
    p += w;
    n -= (size_t)w;
  }
}

// An unmasked server text frame (FIN | TEXT) of `n` payload bytes: the header into `h`.
static size_t frame_header(unsigned char *h, size_t n, int opcode)
{
  h[0] = (unsigned char)(0x80 | opcode);
  if (n < 126) {
    h[1] = (unsigned char)n;
    return 2;
  }
  h[1] = 126;
  h[2] = (unsigned char)(n >> 8);
  h[3] = (unsigned char)n;
  return 4;
}

static void send_text(int fd, const char *s)
{
  unsigned char h[4];
  size_t n = strlen(s);
  write_all(fd, (const char *)h, frame_header(h, n, 1));
  write_all(fd, s, n);
}

// Reads the HTTP upgrade request and answers 101 with the Sec-WebSocket-Accept of its key.
static void handshake(int fd)
{
  char req[8192];
  size_t have = 0;
  while (!memmem(req, have, "\r\n\r\n", 4)) {
    ssize_t r = read(fd, req + have, sizeof req - 1 - have);
    if (r <= 0) {
      die("read the upgrade request");
    }
    have += (size_t)r;
  }
  req[have] = 0;
  char *k = strcasestr(req, "Sec-WebSocket-Key:");
  if (!k) {
    fprintf(stderr, "lat_gen: no Sec-WebSocket-Key in the request\n");
    exit(1);
  }
  k += 18;
  while (*k == ' ') {
    k++;
  }
  char key[128];
  size_t kl = strcspn(k, "\r\n");
  if (kl > 60) {
    kl = 60;
  }
  snprintf(key, sizeof key, "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", (int)kl, k);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_Digest(key, strlen(key), md, &mdlen, EVP_sha1(), NULL);
  unsigned char accept[64];
  EVP_EncodeBlock(accept, md, (int)mdlen);
  char resp[256];
  int n = snprintf(resp, sizeof resp, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
  write_all(fd, resp, (size_t)n);
}

// Reads one client frame (masked, not fragmented: the auth and subscribe messages) into `out`.
static size_t read_frame(int fd, char *out, size_t cap)
{
  unsigned char h[14];
  size_t need = 2;
  size_t have = 0;
  for (;;) {
    while (have < need) {
      ssize_t r = read(fd, h + have, need - have);
      if (r <= 0) {
        die("read a client frame");
      }
      have += (size_t)r;
    }
    size_t len = h[1] & 0x7f;
    size_t hl = 2 + (len == 126 ? 2 : len == 127 ? 8 : 0) + ((h[1] & 0x80) ? 4 : 0);
    if (need < hl) {
      need = hl;
      continue;
    }
    if (len == 126) {
      len = ((size_t)h[2] << 8) | h[3];
    } else if (len == 127) {
      fprintf(stderr, "lat_gen: a client frame too large\n");
      exit(1);
    }
    if (len >= cap) {
      fprintf(stderr, "lat_gen: a client frame too large\n");
      exit(1);
    }
    const unsigned char *mask = (h[1] & 0x80) ? h + hl - 4 : NULL;
    size_t got = 0;
    while (got < len) {
      ssize_t r = read(fd, out + got, len - got);
      if (r <= 0) {
        die("read a client frame");
      }
      got += (size_t)r;
    }
    for (size_t i = 0; mask && i < len; i++) {
      out[i] ^= (char)mask[i & 3];
    }
    out[len] = 0;
    return len;
  }
}

typedef struct clockfmt {
  time_t sec;        // the second `prefix` spells
  char prefix[32];   // "2026-01-02T03:04:05."
} clockfmt;

// RFC 3339 with nanoseconds of the realtime clock `ns`: "2026-01-02T03:04:05.123456789Z".
static int rfc3339(clockfmt *cf, int64_t ns, char *out)
{
  time_t sec = (time_t)(ns / 1000000000LL);
  if (sec != cf->sec) {
    struct tm tm;
    gmtime_r(&sec, &tm);
    strftime(cf->prefix, sizeof cf->prefix, "%Y-%m-%dT%H:%M:%S.", &tm);
    cf->sec = sec;
  }
  return sprintf(out, "%s%09lldZ", cf->prefix, (long long)(ns % 1000000000LL));
}

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
  for (int i = 1; i + 1 < argc; i++) {
    if (strcmp(argv[i], name) == 0) {
      return argv[i + 1];
    }
  }
  return def;
}

int main(int argc, char **argv)
{
  double rate = atof(arg(argc, argv, "--rate", "50000"));
  double secs = atof(arg(argc, argv, "--secs", "10"));
  int port = atoi(arg(argc, argv, "--port", "0"));
  int batch = atoi(arg(argc, argv, "--batch", "1"));
  const char *port_file = arg(argc, argv, "--port-file", NULL);
  char symbols[1024];
  snprintf(symbols, sizeof symbols, "%s", arg(argc, argv, "--symbols", "AAPL,MSFT,TSLA,NVDA"));
  const char *sym[64];
  int nsym = 0;
  for (char *s = strtok(symbols, ","); s && nsym < 64; s = strtok(NULL, ",")) {
    sym[nsym++] = s;
  }
  if (rate <= 0 || secs <= 0 || batch < 1 || nsym == 0) {
    fprintf(stderr, "usage: lat_gen --rate R --secs S [--port P] [--port-file F] [--symbols A,B]"
            " [--batch K]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_TIMERSLACK, 1UL);   // sleeps end within a few us of their time, not 50 us late

  int ls = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, (struct sockaddr *)&sa, sizeof sa) || listen(ls, 4)) {
    die("listen");
  }
  socklen_t sl = sizeof sa;
  getsockname(ls, (struct sockaddr *)&sa, &sl);
  port = ntohs(sa.sin_port);
  fprintf(stderr, "lat_gen: ws://127.0.0.1:%d/ rate %.0f/s for %.0f s\n", port, rate, secs);
  if (port_file) {
    FILE *f = fopen(port_file, "w");
    if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f)) {
      die(port_file);
    }
  }
  int fd = accept(ls, NULL, NULL);
  if (fd < 0) {
    die("accept");
  }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  handshake(fd);
  send_text(fd, "[{\"T\":\"success\",\"msg\":\"connected\"}]");
  char msg[65536];
  for (;;) {   // auth, then subscribe: the stream starts after the first subscribe
    read_frame(fd, msg, sizeof msg);
    if (strstr(msg, "\"action\":\"auth\"")) {
      send_text(fd, "[{\"T\":\"success\",\"msg\":\"authenticated\"}]");
    } else if (strstr(msg, "\"action\":\"subscribe\"")) {
      break;
    }
  }
  send_text(fd, "[{\"T\":\"subscription\",\"trades\":[],\"quotes\":[],\"bars\":[]}]");

  long long total = (long long)(rate * secs);
  double gap_ns = 1e9 / rate;
  if (batch > MAX_WRITE) {
    batch = MAX_WRITE;
  }
  char *buf = malloc((size_t)MAX_WRITE * 512);
  clockfmt cf = { 0 };
  int64_t t0 = clock_ns(CLOCK_MONOTONIC);
  int64_t lag_max = 0;
  long long late = 0;
  long long sent = 0;
  long long writes = 0;
  while (sent < total) {
    int64_t due = t0 + (int64_t)((double)sent * gap_ns);
    int64_t now = clock_ns(CLOCK_MONOTONIC);
    if (due - now > 60000) {
      struct timespec ts = { (time_t)((due - 50000) / 1000000000LL),
                             (long)((due - 50000) % 1000000000LL) };
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
    while ((now = clock_ns(CLOCK_MONOTONIC)) < due) {
    }
    if (now - due > lag_max) {
      lag_max = now - due;
    }
    late += now - due > 20000;
    // every message due by now goes in this write (a generator behind its schedule catches up
    // in larger writes rather than falling further behind); at least `batch`
    long long k = (long long)((double)(now - t0) / gap_ns) + 1 - sent;
    k = k < batch ? batch : k > MAX_WRITE ? MAX_WRITE : k;
    k = total - sent < k ? total - sent : k;
    size_t len = 0;
    for (long long j = 0; j < k; j++) {
      long long i = sent + j;
      char t[48];
      char body[400];
      rfc3339(&cf, clock_ns(CLOCK_REALTIME), t);
      int n = i % 2 == 0
        ? snprintf(body, sizeof body, "[{\"T\":\"t\",\"S\":\"%s\",\"i\":%lld,\"x\":\"V\",\"p\":%d.%02d,"
                   "\"s\":%d,\"t\":\"%s\",\"c\":[\"@\"],\"z\":\"C\"}]", sym[i % nsym], i,
                   120 + (int)(i % 17), (int)(i % 100), 1 + (int)(i % 500), t)
        : snprintf(body, sizeof body, "[{\"T\":\"q\",\"S\":\"%s\",\"bx\":\"V\",\"bp\":%d.%02d,"
                   "\"bs\":%d,\"ax\":\"V\",\"ap\":%d.%02d,\"as\":%d,\"t\":\"%s\",\"c\":[\"R\"],"
                   "\"z\":\"C\"}]", sym[i % nsym], 87 + (int)(i % 13), (int)(i % 100),
                   1 + (int)(i % 20), 87 + (int)(i % 13), (int)((i + 2) % 100), 1 + (int)(i % 20),
                   t);
      len += frame_header((unsigned char *)buf + len, (size_t)n, 1);
      memcpy(buf + len, body, (size_t)n);
      len += (size_t)n;
    }
    write_all(fd, buf, len);
    sent += k;
    writes++;
  }
  double took = (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e9;
  unsigned char close_frame[4] = { 0x88, 2, 0x03, 0xe8 };   // close, 1000
  write_all(fd, (const char *)close_frame, sizeof close_frame);
  shutdown(fd, SHUT_WR);
  while (read(fd, msg, sizeof msg) > 0) {   // until the client closes too
  }
  close(fd);
  close(ls);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  printf("{\"role\":\"gen\",\"cpu_s\":%.2f,", cpu);
  printf("\"sent\":%lld,\"secs\":%.3f,\"msg_per_s\":%.0f,\"lag_max_us\":%.1f,"
         "\"late_writes\":%lld,\"writes\":%lld,\"batch\":%d}\n", sent, took,
         (double)sent / took, (double)lag_max / 1e3, late, writes, batch);
  free(buf);
  return 0;
}
