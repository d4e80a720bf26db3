// numfmt.h: numbers to text, as the Lua encoder (feedhost.util.json) writes them.
#ifndef FH_NUMFMT_H
#define FH_NUMFMT_H

#include <stdint.h>

/// The shortest "%.*g" text (15 to 17 digits) that reads back to the same double, into `dst`
/// (room: 32). A decimal of at most 15 significant digits (a price) takes a fast exact path.
/// @return its length.
int fh_fmt_double(double v, char *dst);
/// fh_fmt_double, but integral values below 2^53 as integers (`1e15` is `1000000000000000`).
int fh_fmt_shortest(double v, char *dst);
/// The decimal digits of `u` into `dst` (room: 20). @return their count.
int fh_utoa(uint64_t u, char *dst);

#endif
