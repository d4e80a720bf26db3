// check.h: what a C unit test file shares: CHECK (a failed condition is reported with its line,
// the first 20 of them, and the test goes on) and checks_done (the exit status, and "NAME: ok").
#ifndef FH_CHECK_H
#define FH_CHECK_H

#include <stdio.h>

static int failures;
#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond) && failures++ < 20) {                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);  \
    }                                                                            \
  } while (0)

// The exit status of a test program named `name` whose checks all ran.
static inline int checks_done(const char *name)
{
  if (failures) {
    fprintf(stderr, "%s: %d check(s) failed\n", name, failures);
    return 1;
  }
  printf("%s: ok\n", name);
  return 0;
}

#endif
