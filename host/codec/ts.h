// ts.h: timestamps to epoch nanoseconds (the fast path of the `ts` expression helper).
#ifndef FH_TS_H
#define FH_TS_H

#include <stddef.h>
#include <stdint.h>

/// Parses an ISO-8601 date or date-time (`2021-02-22T15:51:44.208123456Z`, `±hh:mm` offsets, no
/// zone = UTC, a space for `T`) into epoch ns. @return 0, or -1 when the text is not in that form.
int fh_ts_iso(const char *s, size_t len, int64_t *out);

#endif
