// fuzz_ws_frame.c: the WebSocket client's framing and handshake reader on arbitrary bytes.
//
// - fh_ws_parse_header on the input and on each of its prefixes, against a reference reading
//   of RFC 6455 section 5.2 (all 64 bits of a long length, at most 2^63 - 1; `size` and `len`
//   consistent with the bytes; a prefix never parses to more than the whole);
// - the input as a stream of frames, as the loop walks it (header, then payload), so lengths
//   near 2^63 meet the `size + len` arithmetic of a reader;
// - fh_ws_response (the HTTP 101 reader) on the input and its prefixes, in a buffer of exactly
//   that length; when it completes, what it consumed ends the head;
// - fh_ws_frame then fh_ws_parse_header and fh_ws_unmask: a round trip of the input as payload,
//   now and then with a payload over 64 KiB (the 8-byte length form).
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec/batch.h"
#include "codec/ws_frame.h"
#include "fuzz.h"

// RFC 6455 1.3: the key of "the sample nonce" and the accept value a server answers with.
static const char KEY[] = "dGhlIHNhbXBsZSBub25jZQ==";

// @return 1 and *len, *size; 0 when more bytes are needed; -1 on a protocol error.
static int ref_header(const uint8_t *p, size_t n, uint64_t *len, size_t *size)
{
  if (n < 2) {
    return 0;
  }
  if ((p[0] >> 4) & 7) {
    return -1;
  }
  int opcode = p[0] & 15;
  bool fin = p[0] >> 7;
  bool masked = p[1] >> 7;
  unsigned short7 = p[1] & 127;
  size_t ext = short7 == 126 ? 2 : short7 == 127 ? 8 : 0;
  if (n < 2 + ext) {
    return 0;
  }
  uint64_t l = short7;
  if (ext) {
    l = 0;
    for (size_t k = 0; k < ext; k++) {
      l = l * 256 + p[2 + k];
    }
  }
  if (l > INT64_MAX) {
    return -1;  // the most significant bit must be 0
  }
  size_t need = 2 + ext + (masked ? 4 : 0);
  if (n < need) {
    return 0;
  }
  bool control = opcode >= 8;
  bool known = opcode <= 2 || (opcode >= 8 && opcode <= 10);
  if (!known || (control && (!fin || l > 125))) {
    return -1;
  }
  *len = l;
  *size = need;
  return 1;
}

static void check_header(const uint8_t *data, size_t n)
{
  // a buffer of exactly n bytes: ASan reports a read past the bytes given
  uint8_t *p = malloc(n ? n : 1);
  FZ_CHECK(p != NULL);
  memcpy(p, data, n);
  fh_ws_header h;
  memset(&h, 0xA5, sizeof h);
  int r = fh_ws_parse_header(p, n, &h);
  uint64_t len = 0;
  size_t size = 0;
  int want = ref_header(p, n, &len, &size);
  FZ_CHECK(r == want);
  if (r == 1) {
    FZ_CHECK(h.len == len && h.size == size && h.size <= n && h.size <= FH_WS_MAX_HEADER);
    FZ_CHECK(h.len <= (uint64_t)INT64_MAX);
    FZ_CHECK(h.fin == (p[0] >> 7) && h.opcode == (p[0] & 15) && h.masked == (p[1] >> 7));
    FZ_CHECK(!h.masked || memcmp(h.mask, p + h.size - 4, 4) == 0);
  }
  free(p);
}

// The input as consecutive frames: parse a header, skip its payload (when all there), go on.
static void walk_frames(const uint8_t *p, size_t n)
{
  size_t off = 0;
  int frames = 0;
  while (off < n && frames < 4096) {
    fh_ws_header h;
    int r = fh_ws_parse_header(p + off, n - off, &h);
    if (r != 1) {
      break;
    }
    FZ_CHECK(h.size <= n - off);
    size_t left = n - off - h.size;
    if (h.len > left) {
      break;  // more bytes needed (or a length no buffer holds)
    }
    off += h.size + (size_t)h.len;
    frames++;
  }
  FZ_CHECK(off <= n);
}

static void check_response(const uint8_t *data, size_t size)
{
  // a buffer of exactly this length, as the loop's pending bytes are
  char *buf = malloc(size ? size : 1);
  FZ_CHECK(buf != NULL);
  memcpy(buf, data, size);
  int status = -7;
  size_t used = 0;
  int r = fh_ws_response(buf, size, KEY, &status, &used);
  FZ_CHECK(r >= -1 && r <= 1);
  if (r == 1) {
    FZ_CHECK(used >= 4 && used <= size);
    FZ_CHECK(memcmp(buf + used - 4, "\r\n\r\n", 4) == 0);
    // the first blank line: no earlier "\r\n\r\n"
    for (size_t i = 3; i + 1 < used; i++) {
      FZ_CHECK(memcmp(buf + i - 3, "\r\n\r\n", 4) != 0);
    }
    FZ_CHECK(size < 5 || memcmp(buf, "HTTP/", 5) == 0);
    FZ_CHECK(status == -1 || (status >= 0 && status <= 999));
    // a prefix holding the whole head gives the same answer
    int status2 = -7;
    size_t used2 = 0;
    FZ_CHECK(fh_ws_response(buf, used, KEY, &status2, &used2) == 1);
    FZ_CHECK(status2 == status && used2 == used);
  } else if (r == 0) {
    FZ_CHECK(size <= 16384);
  }
  // shorter prefixes: incomplete or refused, never complete
  for (size_t k = 0; k < size && k < 64; k++) {
    size_t pre = size - 1 - k;
    char *pb = malloc(pre ? pre : 1);
    FZ_CHECK(pb != NULL);
    memcpy(pb, data, pre);
    int s2 = 0;
    size_t u2 = 0;
    int r2 = fh_ws_response(pb, pre, KEY, &s2, &u2);
    if (r == 0) {
      FZ_CHECK(r2 == 0);
    }
    if (r2 == 1) {
      FZ_CHECK(r == 1 && u2 <= pre && u2 == used);
    }
    free(pb);
  }
  free(buf);
}

static void check_round_trip(const uint8_t *data, size_t size)
{
  uint32_t mask = 0;
  if (size >= 4) {
    memcpy(&mask, data, 4);
  }
  static const int opcodes[] = { FH_WS_TEXT, FH_WS_BINARY, FH_WS_CONT,
                                 FH_WS_PING, FH_WS_PONG,   FH_WS_CLOSE };
  // now and then a payload past 64 KiB: the input, then zeros
  size_t plen = size > 0 && data[0] == 0xFF ? 65536 + size : size;
  int opcode = opcodes[size % 6];
  if (opcode >= 8 && plen > 125) {
    opcode = FH_WS_BINARY;  // a control frame carries at most 125 bytes
  }
  uint8_t *payload = calloc(plen ? plen : 1, 1);
  uint8_t *frame = malloc(plen + FH_WS_MAX_HEADER);
  FZ_CHECK(payload != NULL && frame != NULL);
  memcpy(payload, data, size);
  size_t n = fh_ws_frame(frame, opcode, payload, plen, mask);
  fh_ws_header h;
  FZ_CHECK(fh_ws_parse_header(frame, n, &h) == 1);
  FZ_CHECK(h.fin && h.masked && h.opcode == opcode && h.len == plen && h.size + plen == n);
  FZ_CHECK(h.size == (plen < 126 ? 6u : plen <= 0xFFFF ? 8u : 14u));
  // unmask in two pieces, the second starting mid-mask
  size_t cut = size ? data[size - 1] % (plen + 1) : 0;
  fh_ws_unmask(frame + h.size, cut, h.mask, 0);
  fh_ws_unmask(frame + h.size + cut, plen - cut, h.mask, cut);
  FZ_CHECK(plen == 0 || memcmp(frame + h.size, payload, plen) == 0);
  free(payload);
  free(frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  check_header(data, size);
  for (size_t k = 0; k < size && k < FH_WS_MAX_HEADER; k++) {
    check_header(data, k);
  }
  walk_frames(data, size);
  check_response(data, size);
  check_round_trip(data, size);
  return 0;
}
