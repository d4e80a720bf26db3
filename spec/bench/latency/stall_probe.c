// stall_probe.c: how much a CPU is taken away from a running process, which sets the floor
// under any latency figure on a shared machine. Spins for SECS seconds reading CLOCK_MONOTONIC;
// every gap between two reads over 20 us is time the process did not run (other processes,
// interrupts, the hypervisor). run.sh runs one on each CPU before each rate.
//
//   stall_probe SECS [LABEL]
//
// One JSON line: gaps_20us, gaps_100us, gaps_1ms (counts of gaps over each), lost_ms (their sum),
// max_us.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int64_t mono_ns(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
  double secs = argc > 1 ? atof(argv[1]) : 1;
  const char *label = argc > 2 ? argv[2] : "";
  long long g20 = 0;
  long long g100 = 0;
  long long g1m = 0;
  int64_t lost = 0;
  int64_t max = 0;
  int64_t prev = mono_ns();
  int64_t end = prev + (int64_t)(secs * 1e9);
  while (prev < end) {
    int64_t t = mono_ns();
    int64_t g = t - prev;
    prev = t;
    if (g > 20000) {
      g20++;
      lost += g;
      g100 += g > 100000;
      g1m += g > 1000000;
      max = g > max ? g : max;
    }
  }
  printf("{\"role\":\"probe\",\"label\":\"%s\",\"secs\":%g,\"gaps_20us\":%lld,\"gaps_100us\":%lld,"
         "\"gaps_1ms\":%lld,\"lost_ms\":%.1f,\"max_us\":%.1f}\n", label, secs, g20, g100, g1m,
         (double)lost / 1e6, (double)max / 1e3);
  return 0;
}
