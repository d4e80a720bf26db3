// C unit tests for the raw path's WebSocket client framing and handshake (run by ctest).
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "codec/ws_frame.h"

static void test_headers(void)
{
  fh_ws_header h;
  const uint8_t small[] = { 0x81, 0x05, 'h', 'e', 'l', 'l', 'o' };
  CHECK(fh_ws_parse_header(small, 1, &h) == 0);
  CHECK(fh_ws_parse_header(small, sizeof small, &h) == 1);
  CHECK(h.fin && h.opcode == FH_WS_TEXT && !h.masked && h.len == 5 && h.size == 2);
  const uint8_t mid[] = { 0x02, 126, 0x01, 0x00 };   // binary, not final, 256 bytes
  CHECK(fh_ws_parse_header(mid, 3, &h) == 0);
  CHECK(fh_ws_parse_header(mid, 4, &h) == 1);
  CHECK(!h.fin && h.opcode == FH_WS_BINARY && h.len == 256 && h.size == 4);
  const uint8_t big[] = { 0x80, 127, 0, 0, 0, 0, 0, 0x20, 0, 0 };   // continuation, 2 MiB
  CHECK(fh_ws_parse_header(big, 9, &h) == 0);
  CHECK(fh_ws_parse_header(big, 10, &h) == 1);
  CHECK(h.opcode == FH_WS_CONT && h.len == 2097152 && h.size == 10);
  // a 64-bit length is read whole, high half included: 2^32 + 5 bytes
  const uint8_t huge[] = { 0x82, 127, 0, 0, 0, 1, 0, 0, 0, 5 };
  CHECK(fh_ws_parse_header(huge, sizeof huge, &h) == 1);
  CHECK(h.len == 0x100000005ULL && h.size == 10);
  const uint8_t high[] = { 0x82, 127, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0 };
  CHECK(fh_ws_parse_header(high, sizeof high, &h) == 1 && h.len == 0x123456789abcdef0ULL);
  const uint8_t top[] = { 0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1 };   // the top bit must be 0
  CHECK(fh_ws_parse_header(top, sizeof top, &h) == -1);
  const uint8_t rsv[] = { 0xC1, 0x00 };               // RSV1 without an extension
  CHECK(fh_ws_parse_header(rsv, 2, &h) == -1);
  const uint8_t op[] = { 0x83, 0x00 };                // reserved opcode
  CHECK(fh_ws_parse_header(op, 2, &h) == -1);
  const uint8_t frag_ping[] = { 0x09, 0x00 };         // a control frame must be final
  CHECK(fh_ws_parse_header(frag_ping, 2, &h) == -1);
  const uint8_t long_ping[] = { 0x89, 126, 0, 200 };  // and at most 125 bytes
  CHECK(fh_ws_parse_header(long_ping, 4, &h) == -1);
  const uint8_t masked[] = { 0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2 };
  CHECK(fh_ws_parse_header(masked, 5, &h) == 0);
  CHECK(fh_ws_parse_header(masked, sizeof masked, &h) == 1);
  CHECK(h.masked && h.size == 6 && h.mask[3] == 4);
}

static void test_frames(void)
{
  uint8_t buf[70000 + FH_WS_MAX_HEADER];
  size_t n = fh_ws_frame(buf, FH_WS_TEXT, "hello", 5, 0x01020304u);
  CHECK(n == 11 && buf[0] == 0x81 && buf[1] == (0x80 | 5));
  CHECK(buf[2] == 1 && buf[3] == 2 && buf[4] == 3 && buf[5] == 4);
  fh_ws_header h;
  CHECK(fh_ws_parse_header(buf, n, &h) == 1 && h.masked && h.len == 5);
  fh_ws_unmask(buf + h.size, 5, h.mask, 0);
  CHECK(memcmp(buf + h.size, "hello", 5) == 0);
  static char payload[70000];
  memset(payload, 'x', sizeof payload);
  n = fh_ws_frame(buf, FH_WS_BINARY, payload, sizeof payload, 0xdeadbeefu);
  CHECK(fh_ws_parse_header(buf, n, &h) == 1 && h.len == sizeof payload && h.size == 14);
  CHECK(n == sizeof payload + 14);
  n = fh_ws_frame(buf, FH_WS_PING, "", 0, 7);
  CHECK(n == 6 && buf[0] == 0x89 && buf[1] == 0x80);
}

// The Host header's value (RFC 9110 7.2), as both clients send it: the port unless the scheme's
// default, an IPv6 literal in brackets.
static void test_host_header(void)
{
  char h[64];
  CHECK(fh_http_host(h, sizeof h, "api.example", 80, 0) == 11 && strcmp(h, "api.example") == 0);
  CHECK(fh_http_host(h, sizeof h, "api.example", 443, 1) == 11 && strcmp(h, "api.example") == 0);
  CHECK(fh_http_host(h, sizeof h, "api.example", 443, 0) && strcmp(h, "api.example:443") == 0);
  CHECK(fh_http_host(h, sizeof h, "api.example", 80, 1) && strcmp(h, "api.example:80") == 0);
  CHECK(fh_http_host(h, sizeof h, "127.0.0.1", 8123, 0) && strcmp(h, "127.0.0.1:8123") == 0);
  CHECK(fh_http_host(h, sizeof h, "::1", 443, 1) && strcmp(h, "[::1]") == 0);
  CHECK(fh_http_host(h, sizeof h, "::1", 8443, 1) && strcmp(h, "[::1]:8443") == 0);
  CHECK(fh_http_host(h, 15, "127.0.0.1", 8123, 0) == 14);
  CHECK(fh_http_host(h, 14, "127.0.0.1", 8123, 0) == 0);
}

static void test_handshake(void)
{
  // RFC 6455 section 1.3: key dGhlIHNhbXBsZSBub25jZQ== -> s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
  const uint8_t nonce[16] = "the sample nonce";
  char key[25];
  fh_ws_key(nonce, key);
  CHECK(strcmp(key, "dGhlIHNhbXBsZSBub25jZQ==") == 0);
  char req[1024];
  size_t n = fh_ws_request(req, sizeof req, "127.0.0.1", 9000, 0, "/v2/iex?a=1", key,
                           "Authorization: Bearer x\nX-Kite-Version: 3");
  CHECK(n > 0 && strncmp(req, "GET /v2/iex?a=1 HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n", 47) == 0);
  CHECK(strstr(req, "\r\nAuthorization: Bearer x\r\nX-Kite-Version: 3\r\n\r\n") != NULL);
  CHECK(strstr(req, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n") != NULL);
  CHECK(fh_ws_request(req, 40, "h", 80, 0, "/", key, NULL) == 0);
  n = fh_ws_request(req, sizeof req, "feed.example", 443, 1, "/", key, NULL);
  CHECK(strstr(req, "Host: feed.example\r\n") != NULL);
  n = fh_ws_request(req, sizeof req, "::1", 9000, 0, "/", key, NULL);
  CHECK(strstr(req, "Host: [::1]:9000\r\n") != NULL);

  const char *ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
                   "\x81\x02hi";
  int status = 0;
  size_t used = 0;
  CHECK(fh_ws_response(ok, 20, key, &status, &used) == 0);
  CHECK(fh_ws_response(ok, strlen(ok), key, &status, &used) == 1);
  CHECK(status == 101 && used == strlen(ok) - 4);
  const char *bad = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n";
  CHECK(fh_ws_response(bad, strlen(bad), key, &status, &used) == 1 && status == -1);
  const char *denied = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n";
  CHECK(fh_ws_response(denied, strlen(denied), key, &status, &used) == 1 && status == 401);
  CHECK(fh_ws_response("SSH-2.0-x\r\n", 11, key, &status, &used) == -1);
}

int main(void)
{
  test_headers();
  test_frames();
  test_host_header();
  test_handshake();
  return checks_done("ws_frame");
}
