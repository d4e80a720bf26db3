// ndjson.h: NDJSON lines written into a byte buffer, value by value, in C: what the compiled
// pipeline uses to write a record's line without building the record as a Lua table.
//
// The bytes are exactly those of the Lua encoder (feedhost.util.json / feedhost.data.record):
// strings with `"`, `\` and control characters escaped (\b \f \n \r \t, others \u00XX), `/` and
// non-ASCII as they are; integral numbers below 2^53 as integers, others the shortest of
// %.15g / %.16g / %.17g that reads back to the same double (fh_fmt_shortest); int64 and uint64
// as their digits. A line is built between fh_out_begin and fh_out_end; fh_out_cancel takes back
// a line left unfinished (an error in the middle of a record).
#ifndef FH_NDJSON_H
#define FH_NDJSON_H

#include <stddef.h>
#include <stdint.h>

#include "json_tape.h"

// FFI:BEGIN
typedef struct fh_out {
  char *buf;
  size_t len;        // bytes held (whole lines, and the line being built)
  size_t cap;
  size_t line;       // where the line being built starts
  size_t limit;      // fh_out_end drops a line that would take `len` past this (counted)
  uint64_t lines;    // lines completed
  uint64_t dropped;  // lines dropped at the limit
  int32_t comma;     // a value was written at this level: the next member needs a comma
  int32_t failed;    // out of memory, or a value that cannot be written, in this line
} fh_out;
// FFI:END

/// A new buffer holding at most `limit` bytes (0: 64 MiB). @return NULL when out of memory.
fh_out *fh_out_new(size_t limit);
void fh_out_free(fh_out *o);
/// Starts a line: `{` and the pre-encoded prefix (`"channel":"data","connection":"md"`).
void fh_out_begin(fh_out *o, const char *prefix, size_t n);
/// Values. Each is a member of the object being built when `k` (its key, pre-encoded with its
/// colon: `"bid":`, `kn` bytes) is given, or the next element of a list when `k` is NULL; a comma
/// goes before it when one is due.
void fh_out_str(fh_out *o, const char *k, size_t kn, const char *s, size_t n);
/// @return 0, or -1 for a number JSON cannot carry (NaN, infinities): the line fails.
int fh_out_num(fh_out *o, const char *k, size_t kn, double v);
/// The number token `tok` of a JSON tape over `buf` (codec/json_tape.h), as fh_out_num writes
/// its value: its text copied when the text is what fh_out_num would write (a decimal of at most
/// 15 significant digits without exponent, leading or trailing zeros: a price, a size),
/// formatted from the token's double otherwise. @return 1 written, 0 not a number token or not
/// finite (nothing written: the caller takes its general path, which reports the error).
int fh_out_jnum(fh_out *o, const char *k, size_t kn, const fh_jtok *tape, int tok,
                const char *buf);
void fh_out_int64(fh_out *o, const char *k, size_t kn, int64_t v);
void fh_out_uint64(fh_out *o, const char *k, size_t kn, uint64_t v);
/// Bytes already encoded (a nested value the Lua encoder wrote, `true`, `null`, ...).
void fh_out_raw(fh_out *o, const char *k, size_t kn, const char *s, size_t n);
/// `{` / `}` and `[` / `]` of nested values. An object closed with no member is written `[]`,
/// as the Lua encoder writes an empty table.
void fh_out_open(fh_out *o, const char *k, size_t kn, char c);
void fh_out_close(fh_out *o, char c);
/// Ends the line (`}` and a newline). @return 1 kept, 0 dropped (over the limit, or failed).
int fh_out_end(fh_out *o);
/// Takes back the line being built (nothing when none is).
void fh_out_cancel(fh_out *o);
/// A whole line encoded elsewhere (without its newline), kept as fh_out_end keeps one.
/// @return 1 kept, 0 dropped (over the limit).
int fh_out_line(fh_out *o, const char *s, size_t n);
/// Writes what whole lines it can to `fd` (which may be non-blocking). @return 0 (all written or
/// the descriptor is full: EAGAIN), or an errno.
int fh_out_write(fh_out *o, int fd);
/// Waits at most `timeout_ms` for `fd` to take bytes, then writes what it can (fh_out_write).
/// @return 0, or an errno (EPIPE: the reader went away).
int fh_out_wait(fh_out *o, int fd, int timeout_ms);
/// Makes `fd` non-blocking (on != 0) or blocking again. @return 1 when it was non-blocking
/// before, 0 when not, -1 on error (a regular file or terminal is left as it is: returns -2).
int fh_fd_nonblock(int fd, int on);

#endif
