// b64.c: base64 for the capture format (binary frames) and the Socket.IO polling fallback.
#include <stdint.h>
#include <string.h>

#include "batch.h"

static const char enc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t fh_base64_encode(const uint8_t *src, size_t len, char *dst)
{
  size_t o = 0;
  size_t i = 0;
  for (; i + 2 < len; i += 3) {
    uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
    dst[o++] = enc[v >> 18];
    dst[o++] = enc[(v >> 12) & 63];
    dst[o++] = enc[(v >> 6) & 63];
    dst[o++] = enc[v & 63];
  }
  if (i < len) {
    uint32_t v = (uint32_t)src[i] << 16 | (i + 1 < len ? (uint32_t)src[i + 1] << 8 : 0);
    dst[o++] = enc[v >> 18];
    dst[o++] = enc[(v >> 12) & 63];
    dst[o++] = i + 1 < len ? enc[(v >> 6) & 63] : '=';
    dst[o++] = '=';
  }
  return o;
}

static int dec(uint8_t c)
{
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  if (c == '+' || c == '-') {
    return 62;
  }
  if (c == '/' || c == '_') {
    return 63;
  }
  return -1;
}

long fh_base64_decode(const char *src, size_t len, uint8_t *dst)
{
  while (len > 0 && src[len - 1] == '=') {
    len--;
  }
  if (len % 4 == 1) {
    return -1;
  }
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; i++) {
    int v = dec((uint8_t)src[i]);
    if (v < 0) {
      return -1;
    }
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      dst[o++] = (uint8_t)(acc >> bits);
    }
  }
  return (long)o;
}
