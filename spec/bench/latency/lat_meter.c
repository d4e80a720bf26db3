// lat_meter.c: reads NDJSON records on stdin as they come (a pipe from `feedhost run`) and
// measures, per record, now - timestamp: the CLOCK_REALTIME time its line was read minus the
// record's `timestamp` (epoch ns; lat_gen puts its send time there). One clock read per read(),
// whose lines all arrived together. Records whose timestamp is within --warmup seconds of the
// first one are counted but not measured.
//
//   feedhost run ... | lat_meter [--warmup SECS] [--label L] [--expect N]
//
// At end of input, one JSON line on stdout: records (all), measured, p50_us, p99_us, p999_us,
// max_us, mean_us, missing (--expect N minus records, when given), bad (lines without a
// timestamp). Records that also carry `received_at` (the host's receive time of the frame:
// alpaca_split.lua) split it: rx_* (send -> received by the host) and out_* (received -> line
// read), the same quantiles of each.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t realtime_ns(void)
{
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
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

typedef struct series {
  int64_t *v;
  size_t n;
  size_t cap;
} series;

static void add(series *s, int64_t x)
{
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 1 << 20;
    s->v = realloc(s->v, s->cap * sizeof *s->v);
    if (!s->v) {
      fprintf(stderr, "lat_meter: out of memory\n");
      exit(1);
    }
  }
  s->v[s->n++] = x;
}

static int cmp64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a;
  int64_t y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

// The value at quantile q of the sorted v[0..n).
static double at(const int64_t *v, size_t n, double q)
{
  size_t i = (size_t)(q * (double)(n - 1) + 0.5);
  return (double)v[i < n ? i : n - 1] / 1e3;
}

// Prints `,"<name>p50_us":..` and the other quantiles of `s` (sorted here), if it has values.
static void quantiles(series *s, const char *name)
{
  if (s->n == 0) {
    return;
  }
  double sum = 0;
  for (size_t i = 0; i < s->n; i++) {
    sum += (double)s->v[i];
  }
  qsort(s->v, s->n, sizeof *s->v, cmp64);
  printf(",\"%sp50_us\":%.1f,\"%sp99_us\":%.1f,\"%sp999_us\":%.1f,\"%smax_us\":%.1f,"
         "\"%smean_us\":%.1f", name, at(s->v, s->n, 0.5), name, at(s->v, s->n, 0.99), name,
         at(s->v, s->n, 0.999), name, (double)s->v[s->n - 1] / 1e3, name,
         sum / (double)s->n / 1e3);
}

int main(int argc, char **argv)
{
  int64_t warmup = (int64_t)(atof(arg(argc, argv, "--warmup", "3")) * 1e9);
  const char *label = arg(argc, argv, "--label", "");
  long long expect = atoll(arg(argc, argv, "--expect", "-1"));
  series total = { 0 };
  series rx = { 0 };
  series out = { 0 };
  size_t bufcap = 4 << 20;
  char *buf = malloc(bufcap);
  size_t have = 0;
  long long records = 0;
  long long bad = 0;
  int64_t first = 0;
  for (;;) {
    ssize_t r = read(0, buf + have, bufcap - have);
    if (r <= 0) {
      break;
    }
    int64_t now = realtime_ns();
    have += (size_t)r;
    char *p = buf;
    char *end = buf + have;
    char *nl;
    while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
      *nl = 0;
      char *t = strstr(p, "\"timestamp\":");
      if (!t) {
        bad++;
      } else {
        int64_t ts = strtoll(t + 12, NULL, 10);
        records++;
        if (!first) {
          first = ts;
        }
        if (ts - first >= warmup) {
          add(&total, now - ts);
          char *rt = strstr(p, "\"received_at\":");
          if (rt) {
            int64_t rts = strtoll(rt + 14, NULL, 10);
            add(&rx, rts - ts);
            add(&out, now - rts);
          }
        }
      }
      p = nl + 1;
    }
    have = (size_t)(end - p);
    memmove(buf, p, have);
    if (have == bufcap) {
      fprintf(stderr, "lat_meter: a line over %zu bytes\n", bufcap);
      return 1;
    }
  }
  printf("{\"role\":\"meter\",\"label\":\"%s\",\"records\":%lld,\"measured\":%zu", label, records,
         total.n);
  quantiles(&total, "");
  quantiles(&rx, "rx_");
  quantiles(&out, "out_");
  if (expect >= 0) {
    printf(",\"missing\":%lld", expect - records);
  }
  printf(",\"bad\":%lld}\n", bad);
  free(total.v);
  free(rx.v);
  free(out.v);
  free(buf);
  return 0;
}
