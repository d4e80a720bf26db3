// utf8.h: UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF).
#ifndef FH_UTF8_H
#define FH_UTF8_H

#include <stddef.h>
#include <stdint.h>

/// Whether p[0..n) is valid UTF-8. @return 1, or 0 with *bad (when not NULL) = the offset of
/// the first byte of the first invalid sequence.
int fh_utf8_valid(const uint8_t *p, size_t n, size_t *bad);

#endif
