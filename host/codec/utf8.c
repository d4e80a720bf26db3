// utf8.c: see utf8.h. ASCII, the common case of feed text, is checked eight bytes at a time.
#include "utf8.h"

#include <string.h>

int fh_utf8_valid(const uint8_t *p, size_t n, size_t *bad)
{
  size_t i = 0;
  while (i < n) {
    if (n - i >= 8) {
      uint64_t w;
      memcpy(&w, p + i, 8);
      if ((w & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    uint8_t c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      goto invalid;
    }
    if (n - i < len) {
      goto invalid;
    }
    for (size_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xC0) != 0x80) {
        goto invalid;
      }
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      goto invalid;
    }
    i += len;
  }
  return 1;
invalid:
  if (bad) {
    *bad = i;
  }
  return 0;
}
