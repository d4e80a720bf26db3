// bench_util.h: what the MQTT and ZeroMQ benchmark tools share: the pool file, a clock, TCP
// connect, whole writes and reads, and the JSON result line (the fields of ../shared/bench).
#ifndef FH_BENCH_UTIL_H
#define FH_BENCH_UTIL_H

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

typedef struct pool {
  char **line;
  size_t *len;
  size_t n;
} pool;

static inline double now_s(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static inline double cpu_s(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

// The lines of `path` (gen_server.js --dump: one message a line).
static inline pool read_pool(const char *path)
{
  pool p = { 0 };
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(2);
  }
  size_t cap = 0;
  char *buf = NULL;
  ssize_t n;
  size_t room = 0;
  while ((n = getline(&buf, &room, f)) > 0) {
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
      n--;
    }
    if (n == 0) {
      continue;
    }
    if (p.n == cap) {
      cap = cap ? cap * 2 : 1024;
      p.line = realloc(p.line, cap * sizeof *p.line);
      p.len = realloc(p.len, cap * sizeof *p.len);
    }
    p.line[p.n] = malloc((size_t)n);
    memcpy(p.line[p.n], buf, (size_t)n);
    p.len[p.n++] = (size_t)n;
  }
  free(buf);
  fclose(f);
  if (!p.n) {
    fprintf(stderr, "%s: no lines\n", path);
    exit(2);
  }
  return p;
}

static inline int tcp_connect(const char *host, int port)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
  inet_pton(AF_INET, host, &a.sin_addr);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    perror("connect");
    exit(1);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static inline void write_all(int fd, const void *p, size_t n)
{
  const char *c = p;
  while (n) {
    ssize_t w = write(fd, c, n);
    if (w <= 0) {
      perror("write");
      exit(1);
    }
    c += w;
    n -= (size_t)w;
  }
}

static inline void read_all(int fd, void *p, size_t n)
{
  char *c = p;
  while (n) {
    ssize_t r = read(fd, c, n);
    if (r <= 0) {
      perror("read");
      exit(1);
    }
    c += r;
    n -= (size_t)r;
  }
}

// One result line: messages, payload bytes, first-to-last seconds, CPU seconds.
static inline void result(const char *impl, uint64_t msgs, uint64_t bytes, double secs, double cpu)
{
  if (secs <= 0) {
    secs = 1e-9;
  }
  printf("{\"role\":\"client\",\"impl\":\"%s\",\"msgs\":%llu,\"payload_bytes\":%llu,"
         "\"secs\":%.3f,\"msg_per_s\":%.0f,\"mb_per_s\":%.1f,\"cpu_secs\":%.3f}\n",
         impl, (unsigned long long)msgs, (unsigned long long)bytes, secs, (double)msgs / secs,
         (double)bytes / secs / 1e6, cpu);
  fflush(stdout);
}

#endif
