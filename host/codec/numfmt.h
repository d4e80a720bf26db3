// numfmt.h: numbers to text.
#ifndef FH_NUMFMT_H
#define FH_NUMFMT_H

/// The shortest "%.*g" text (15 to 17 digits) that reads back to the same double, into `dst`
/// (room: 32). @return its length.
int fh_fmt_double(double v, char *dst);

#endif
