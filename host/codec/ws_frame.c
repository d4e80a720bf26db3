// ws_frame.c: RFC 6455 client handshake and framing (see ws_frame.h).
#include "ws_frame.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "batch.h"

int fh_ws_parse_header(const uint8_t *p, size_t n, fh_ws_header *h)
{
  return fh_ws_parse_header_ext(p, n, h, 0);
}

int fh_ws_parse_header_ext(const uint8_t *p, size_t n, fh_ws_header *h, int rsv1_ok)
{
  if (n < 2) {
    return 0;
  }
  if (p[0] & (rsv1_ok ? 0x30 : 0x70)) {
    return -1;  // RSV bits no extension negotiated
  }
  h->compressed = (p[0] & 0x40) != 0;
  h->fin = (p[0] & 0x80) != 0;
  h->opcode = p[0] & 0x0F;
  h->masked = (p[1] & 0x80) != 0;
  uint64_t len = p[1] & 0x7F;
  size_t size = 2;
  if (len == 126) {
    if (n < 4) {
      return 0;
    }
    len = ((uint64_t)p[2] << 8) | p[3];
    size = 4;
  } else if (len == 127) {
    if (n < 10) {
      return 0;
    }
    len = 0;
    for (int i = 0; i < 8; i++) {
      len = (len << 8) | p[2 + i];
    }
    if (len >> 63) {
      return -1;
    }
    size = 10;
  }
  if (h->masked) {
    if (n < size + 4) {
      return 0;
    }
    memcpy(h->mask, p + size, 4);
    size += 4;
  }
  switch (h->opcode) {
  case FH_WS_CONT:
  case FH_WS_TEXT:
  case FH_WS_BINARY:
    break;
  case FH_WS_CLOSE:
  case FH_WS_PING:
  case FH_WS_PONG:
    if (!h->fin || len > 125 || h->compressed) {
      return -1;
    }
    break;
  default:
    return -1;
  }
  h->len = len;
  h->size = size;
  return 1;
}

void fh_ws_unmask(uint8_t *p, size_t len, const uint8_t mask[4], size_t at)
{
  for (size_t i = 0; i < len; i++) {
    p[i] ^= mask[(at + i) & 3];
  }
}

// A final frame's header; `mask_bit` 0x80 for a masked (client) frame. @return bytes written.
static size_t put_header(uint8_t *dst, int opcode, size_t len, uint8_t mask_bit)
{
  size_t i = 0;
  dst[i++] = (uint8_t)(0x80 | (opcode & 0x0F));
  if (len < 126) {
    dst[i++] = (uint8_t)(mask_bit | len);
  } else if (len <= 0xFFFF) {
    dst[i++] = mask_bit | 126;
    dst[i++] = (uint8_t)(len >> 8);
    dst[i++] = (uint8_t)len;
  } else {
    dst[i++] = mask_bit | 127;
    for (int k = 7; k >= 0; k--) {
      dst[i++] = (uint8_t)((uint64_t)len >> (8 * k));
    }
  }
  return i;
}

size_t fh_ws_frame(uint8_t *dst, int opcode, const void *payload, size_t len, uint32_t mask)
{
  size_t i = put_header(dst, opcode, len, 0x80);
  uint8_t m[4] = { (uint8_t)(mask >> 24), (uint8_t)(mask >> 16), (uint8_t)(mask >> 8),
                   (uint8_t)mask };
  memcpy(dst + i, m, 4);
  i += 4;
  if (len) {
    memcpy(dst + i, payload, len);
    fh_ws_unmask(dst + i, len, m, 0);
  }
  return i + len;
}

void fh_ws_key(const uint8_t random16[16], char key[25])
{
  fh_base64_encode(random16, 16, key);
  key[24] = 0;
}

size_t fh_http_host(char *dst, size_t cap, const char *host, int port, int tls)
{
  int v6 = strchr(host, ':') != NULL;   // an IPv6 literal: in brackets (RFC 3986 3.2.2)
  int n = (tls && port == 443) || (!tls && port == 80)
            ? snprintf(dst, cap, v6 ? "[%s]" : "%s", host)
            : snprintf(dst, cap, v6 ? "[%s]:%d" : "%s:%d", host, port);
  return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

size_t fh_ws_request(char *dst, size_t cap, const char *host, int port, int tls,
                     const char *path, const char *key, const char *headers)
{
  char hostport[300];
  if (!fh_http_host(hostport, sizeof hostport, host, port, tls)) {
    return 0;
  }
  int n = snprintf(dst, cap,
                   "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
                   path && *path ? path : "/", hostport, key);
  if (n < 0 || (size_t)n >= cap) {
    return 0;
  }
  size_t used = (size_t)n;
  for (const char *line = headers; line && *line;) {
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    if (len && memchr(line, ':', len)) {
      if (used + len + 2 >= cap) {
        return 0;
      }
      memcpy(dst + used, line, len);
      used += len;
      dst[used++] = '\r';
      dst[used++] = '\n';
    }
    line += len;
    if (*line == '\n') {
      line++;
    }
  }
  if (used + 3 > cap) {
    return 0;
  }
  dst[used++] = '\r';
  dst[used++] = '\n';
  dst[used] = 0;
  return used;
}

size_t fh_ws_accept(const char *key, size_t klen, char out[FH_WS_ACCEPT_LEN + 1])
{
  // Sec-WebSocket-Accept = base64(SHA1(key + GUID))
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char src[128 + sizeof guid];
  unsigned char digest[SHA_DIGEST_LENGTH];
  klen = klen > 128 ? 128 : klen;
  memcpy(src, key, klen);
  memcpy(src + klen, guid, sizeof guid - 1);
  SHA1(src, klen + sizeof guid - 1, digest);
  size_t n = fh_base64_encode(digest, SHA_DIGEST_LENGTH, out);
  out[n] = 0;
  return n;
}

// The three-digit status code at p, or 0.
static int atoi_status(const char *p)
{
  int v = 0;
  for (int i = 0; i < 3; i++) {
    if (p[i] < '0' || p[i] > '9') {
      return 0;
    }
    v = v * 10 + (p[i] - '0');
  }
  return v;
}

// The value of header `name` in the response head (case-insensitive), or NULL.
static const char *header_value(const char *head, size_t len, const char *name, size_t *vlen)
{
  size_t nlen = strlen(name);
  const char *end = head + len;
  for (const char *line = memchr(head, '\n', len); line && line < end;) {
    line++;
    const char *nl = memchr(line, '\n', (size_t)(end - line));
    if (!nl) {
      break;
    }
    if ((size_t)(nl - line) > nlen && line[nlen] == ':' && !strncasecmp(line, name, nlen)) {
      const char *v = line + nlen + 1;
      while (v < nl && (*v == ' ' || *v == '\t')) {
        v++;
      }
      const char *ve = nl;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ')) {
        ve--;
      }
      *vlen = (size_t)(ve - v);
      return v;
    }
    line = nl;
  }
  return NULL;
}

// The end of an HTTP head (just past its blank line) in buf[0..len), or NULL.
static const char *head_end(const char *buf, size_t len)
{
  for (size_t i = 3; i < len; i++) {
    if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
      return buf + i + 1;
    }
  }
  return NULL;
}

int fh_ws_response(const char *buf, size_t len, const char *key, int *status, size_t *consumed)
{
  const char *end = head_end(buf, len);
  if (len >= 5 && strncmp(buf, "HTTP/", 5) != 0) {
    return -1;
  }
  if (!end) {
    return len > FH_WS_MAX_HEAD ? -2 : 0;
  }
  if ((size_t)(end - buf) > FH_WS_MAX_HEAD) {
    return -2;
  }
  *consumed = (size_t)(end - buf);
  const char *sp = memchr(buf, ' ', *consumed);
  if (!sp) {
    return -1;
  }
  *status = atoi_status(sp + 1);
  if (*status != 101) {
    return 1;
  }
  char want[FH_WS_ACCEPT_LEN + 1];
  size_t wn = fh_ws_accept(key, strlen(key), want);
  size_t vlen = 0;
  const char *v = header_value(buf, *consumed, "Sec-WebSocket-Accept", &vlen);
  size_t ulen = 0;
  const char *up = header_value(buf, *consumed, "Upgrade", &ulen);
  if (!v || vlen != wn || memcmp(v, want, wn) != 0 || !up || ulen != 9 ||
      strncasecmp(up, "websocket", 9) != 0) {
    *status = -1;
  }
  return 1;
}

int fh_ws_upgrade(const char *buf, size_t len, char accept[FH_WS_ACCEPT_LEN + 1], char *path,
                  size_t path_cap, size_t *consumed)
{
  if (len >= 4 && strncmp(buf, "GET ", 4) != 0) {
    return -1;
  }
  const char *end = head_end(buf, len);
  if (!end) {
    return len > FH_WS_MAX_HEAD ? -1 : 0;
  }
  *consumed = (size_t)(end - buf);
  const char *p = buf + 4, *sp = memchr(p, ' ', *consumed - 4);
  if (!sp || (size_t)(sp - p) >= path_cap) {
    return -1;
  }
  memcpy(path, p, (size_t)(sp - p));
  path[sp - p] = 0;
  size_t klen = 0, ulen = 0;
  const char *key = header_value(buf, *consumed, "Sec-WebSocket-Key", &klen);
  const char *up = header_value(buf, *consumed, "Upgrade", &ulen);
  if (!key || klen == 0 || klen > 64 || !up || ulen != 9 || strncasecmp(up, "websocket", 9) != 0) {
    return -1;
  }
  fh_ws_accept(key, klen, accept);
  return 1;
}

size_t fh_ws_frame_plain(uint8_t *dst, int opcode, const void *payload, size_t len)
{
  size_t i = put_header(dst, opcode, len, 0);
  if (len) {
    memcpy(dst + i, payload, len);
  }
  return i + len;
}

int fh_ws_deflate_params(const char *head, size_t len, fh_ws_deflate *out)
{
  memset(out, 0, sizeof *out);
  size_t vlen = 0;
  const char *v = header_value(head, len, "Sec-WebSocket-Extensions", &vlen);
  if (!v) {
    return 0;
  }
  // "permessage-deflate; server_no_context_takeover; server_max_window_bits=10", one offer back
  const char *end = v + vlen;
  const char *p = v;
  int have = 0;
  while (p < end) {
    while (p < end && (*p == ' ' || *p == ';' || *p == '\t')) {
      p++;
    }
    const char *tok = p;
    while (p < end && *p != ';' && *p != ',') {
      p++;
    }
    size_t tl = (size_t)(p - tok);
    while (tl && (tok[tl - 1] == ' ' || tok[tl - 1] == '\t')) {
      tl--;
    }
    if (tl == 18 && !strncasecmp(tok, "permessage-deflate", 18)) {
      have = 1;
    } else if (tl == 26 && !strncasecmp(tok, "server_no_context_takeover", 26)) {
      out->server_no_context_takeover = 1;
    } else if (tl == 26 && !strncasecmp(tok, "client_no_context_takeover", 26)) {
      out->client_no_context_takeover = 1;
    } else if (tl > 22 && !strncasecmp(tok, "server_max_window_bits", 22)) {
      const char *q = tok + 22;
      while (q < tok + tl && (*q == '=' || *q == ' ' || *q == '"')) {
        q++;
      }
      int bits = 0;
      while (q < tok + tl && *q >= '0' && *q <= '9') {
        bits = bits * 10 + (*q++ - '0');
      }
      if (bits < 8 || bits > 15) {
        return -1;
      }
      out->server_max_window_bits = bits;
    } else if (tl >= 22 && !strncasecmp(tok, "client_max_window_bits", 22)) {
      // we send uncompressed messages: nothing to honour
    } else if (tl) {
      return -1;  // an extension or parameter we did not offer
    }
    if (p < end && *p == ',') {
      return -1;  // more than one extension accepted
    }
  }
  return have ? 1 : -1;
}
