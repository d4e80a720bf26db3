// sio_packet.c: see sio_packet.h.
#include "codec/sio_packet.h"

#include <stdlib.h>
#include <string.h>

#include "codec/batch.h"

static int is_ws(char ch)
{
  return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static int is_digit(char ch)
{
  return ch >= '0' && ch <= '9';
}

int fh_sio_parse(char *p, size_t len, fh_sio_packet *pk)
{
  memset(pk, 0, sizeof *pk);
  pk->ack = -1;
  pk->ns = "/";
  pk->ns_len = 1;
  if (len == 0 || !is_digit(p[0]) || p[0] > '6') {
    return -1;
  }
  pk->type = p[0] - '0';
  size_t i = 1;
  if (pk->type == FH_SIO_BINARY_EVENT || pk->type == FH_SIO_BINARY_ACK) {
    int n = 0;
    size_t start = i;
    while (i < len && is_digit(p[i]) && i - start < 3) {
      n = n * 10 + (p[i++] - '0');
    }
    if (i == start || i >= len || p[i] != '-' || n > FH_SIO_MAX_ATTACHMENTS) {
      return -1;
    }
    pk->attachments = n;
    i++;
  }
  if (i < len && p[i] == '/') {
    const char *comma = memchr(p + i, ',', len - i);
    size_t end = comma ? (size_t)(comma - p) : len;
    pk->ns = p + i;
    pk->ns_len = end - i;
    i = comma ? end + 1 : len;
  }
  if (i < len && is_digit(p[i])) {
    long long ack = 0;
    while (i < len && is_digit(p[i]) && ack < (1LL << 53)) {
      ack = ack * 10 + (p[i++] - '0');
    }
    pk->ack = ack;
  }
  pk->data = p + i;
  pk->data_len = len - i;
  return 0;
}

// Past the JSON string whose opening quote is at p[0]; 0 when it does not close.
static size_t skip_string(const char *p, size_t len)
{
  for (size_t i = 1; i < len; i++) {
    if (p[i] == '\\') {
      i++;
    } else if (p[i] == '"') {
      return i + 1;
    }
  }
  return 0;
}

size_t fh_json_skip(const char *p, size_t len)
{
  if (len == 0) {
    return 0;
  }
  if (p[0] == '"') {
    return skip_string(p, len);
  }
  if (p[0] != '[' && p[0] != '{') {  // a number, true, false, null: up to a delimiter
    size_t i = 0;
    while (i < len && !is_ws(p[i]) && p[i] != ',' && p[i] != ']' && p[i] != '}') {
      i++;
    }
    return i;
  }
  int depth = 0;
  for (size_t i = 0; i < len; i++) {
    char ch = p[i];
    if (ch == '"') {
      size_t n = skip_string(p + i, len - i);
      if (!n) {
        return 0;
      }
      i += n - 1;
    } else if (ch == '[' || ch == '{') {
      depth++;
    } else if (ch == ']' || ch == '}') {
      if (--depth == 0) {
        return i + 1;
      }
    }
  }
  return 0;
}

static size_t skip_ws(const char *p, size_t i, size_t len)
{
  while (i < len && is_ws(p[i])) {
    i++;
  }
  return i;
}

int fh_sio_split_event(char *p, size_t len, fh_sio_event *ev)
{
  memset(ev, 0, sizeof *ev);
  while (len > 0 && is_ws(p[len - 1])) {
    len--;
  }
  size_t i = skip_ws(p, 0, len);
  if (i >= len || p[i] != '[' || p[len - 1] != ']') {
    return -1;
  }
  i = skip_ws(p, i + 1, len);
  if (i >= len || p[i] != '"') {
    return -1;
  }
  size_t n = skip_string(p + i, len - i);
  if (!n) {
    return -1;
  }
  ev->name = p + i + 1;
  ev->name_len = n - 2;
  ev->name_escaped = memchr(ev->name, '\\', ev->name_len) != NULL;
  i = skip_ws(p, i + n, len);
  size_t last = len - 1;  // the closing ']'
  if (i == last) {
    static char empty[] = "[]";
    ev->args = empty;
    ev->args_len = 2;
    return 0;
  }
  if (p[i] != ',') {
    return -1;
  }
  size_t comma = i;
  size_t a = skip_ws(p, i + 1, len);
  size_t vlen = a < last ? fh_json_skip(p + a, last - a) : 0;
  if (!vlen) {
    return -1;
  }
  size_t after = skip_ws(p, a + vlen, len);
  if (after == last) {
    ev->nargs = 1;
    if (p[a] == '"') {
      ev->string_arg = 1;
      ev->args = p + a + 1;
      ev->args_len = vlen - 2;
    } else {
      ev->args = p + a;
      ev->args_len = vlen;
    }
    return 0;
  }
  if (p[after] != ',') {
    return -1;
  }
  ev->nargs = 2;
  p[comma] = '[';
  ev->args = p + comma;
  ev->args_len = len - comma;
  return 0;
}

static const char PH[] = "{\"_placeholder\":true,\"num\":";

int fh_sio_placeholder(const char *p, size_t len)
{
  size_t n = sizeof PH - 1;
  if (len < n + 2 || memcmp(p, PH, n) != 0 || p[len - 1] != '}') {
    return -1;
  }
  int v = 0;
  for (size_t i = n; i < len - 1; i++) {
    if (!is_digit(p[i]) || v > FH_SIO_MAX_ATTACHMENTS) {
      return -1;
    }
    v = v * 10 + (p[i] - '0');
  }
  return v;
}

size_t fh_sio_fill(const char *args, size_t len, const uint8_t *att, const size_t *off, int n,
                   char *dst, size_t cap)
{
  size_t o = 0;
  size_t i = 0;
  while (i < len) {
    const char *ph = NULL;
    if (args[i] == '{' && len - i >= sizeof PH - 1 && memcmp(args + i, PH, sizeof PH - 1) == 0) {
      ph = args + i;
    }
    if (ph) {
      const char *close = memchr(ph, '}', len - i);
      int k = close ? fh_sio_placeholder(ph, (size_t)(close - ph) + 1) : -1;
      if (k < 0 || k >= n) {
        return 0;
      }
      size_t blen = off[k + 1] - off[k];
      size_t need = (blen + 2) / 3 * 4 + 2;
      if (o + need > cap) {
        return 0;
      }
      dst[o++] = '"';
      o += fh_base64_encode(att + off[k], blen, dst + o);
      dst[o++] = '"';
      i += (size_t)(close - ph) + 1;
      continue;
    }
    if (args[i] == '"') {  // copied whole: a string's content is never a placeholder
      size_t s = skip_string(args + i, len - i);
      s = s ? s : len - i;
      if (o + s > cap) {
        return 0;
      }
      memcpy(dst + o, args + i, s);
      o += s;
      i += s;
      continue;
    }
    if (o + 1 > cap) {
      return 0;
    }
    dst[o++] = args[i++];
  }
  return o;
}
