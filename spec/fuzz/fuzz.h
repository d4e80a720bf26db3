// fuzz.h: what every libFuzzer harness of spec/fuzz shares.
#ifndef FH_FUZZ_H
#define FH_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

// An invariant of the code under test: a failure aborts, which libFuzzer reports as a crash
// and saves the input.
#define FZ_CHECK(cond)                                                               \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                       \
    }                                                                                \
  } while (0)

#endif
