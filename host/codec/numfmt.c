// numfmt.c: see numfmt.h.
#include "numfmt.h"

#include <stdio.h>
#include <stdlib.h>

int fh_fmt_double(double v, char *dst)
{
  for (int prec = 15; prec <= 17; prec++) {
    int n = snprintf(dst, 32, "%.*g", prec, v);
    if (prec == 17 || strtod(dst, NULL) == v) {
      return n;
    }
  }
  return 0;
}
