// ws_frame.h: RFC 6455 handshakes and framing as pure functions (the client's side, and what a
// test or simulator server needs).
//
// The loop's fast path reads a connection as raw bytes through libwebsockets (TCP or TLS) and
// parses WebSocket frames here, a header at a time, instead of byte by byte: frame payloads go
// to the batch with one memcpy.
#ifndef FH_WS_FRAME_H
#define FH_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum {
  FH_WS_CONT = 0x0,
  FH_WS_TEXT = 0x1,
  FH_WS_BINARY = 0x2,
  FH_WS_CLOSE = 0x8,
  FH_WS_PING = 0x9,
  FH_WS_PONG = 0xA,
  FH_WS_MAX_HEADER = 14,
  FH_WS_MAX_HEAD = 16384,   // longest HTTP head of a handshake
  FH_WS_ACCEPT_LEN = 28,    // Sec-WebSocket-Accept
};

typedef struct fh_ws_header {
  int fin;
  int compressed;   // RSV1: permessage-deflate (only with fh_ws_parse_header_ext)
  int opcode;
  int masked;
  uint8_t mask[4];
  uint64_t len;     // payload bytes
  size_t size;      // header bytes
} fh_ws_header;

/// Parses a frame header at p[0..n). @return 1 parsed, 0 more bytes needed, -1 protocol error
/// (reserved bits, unknown opcode, fragmented or long control frame).
int fh_ws_parse_header(const uint8_t *p, size_t n, fh_ws_header *h);
/// The same, with RSV1 (a compressed message) allowed when `rsv1_ok`.
int fh_ws_parse_header_ext(const uint8_t *p, size_t n, fh_ws_header *h, int rsv1_ok);

/// What a server said of permessage-deflate (RFC 7692) in its handshake response.
typedef struct fh_ws_deflate {
  int server_no_context_takeover;
  int client_no_context_takeover;
  int server_max_window_bits;   // 0: not given (15)
} fh_ws_deflate;

/// Reads the Sec-WebSocket-Extensions of a response head. @return 1 permessage-deflate
/// accepted (params in *out), 0 no extension, -1 something we did not offer.
int fh_ws_deflate_params(const char *head, size_t len, fh_ws_deflate *out);

/// XORs `len` bytes with the 4-byte mask, starting at mask offset `at` (0..3).
void fh_ws_unmask(uint8_t *p, size_t len, const uint8_t mask[4], size_t at);

/// Writes one final, masked client frame (header, then the payload masked with `mask`) to `dst`
/// (room: len + FH_WS_MAX_HEADER). @return bytes written.
size_t fh_ws_frame(uint8_t *dst, int opcode, const void *payload, size_t len, uint32_t mask);

/// The 24-character Sec-WebSocket-Key for 16 random bytes (NUL-terminated: room 25).
void fh_ws_key(const uint8_t random16[16], char key[25]);

/// The value of a request's Host header (RFC 9110 7.2): `host` (in brackets when an IPv6
/// literal), then ":port" unless `port` is the scheme's default (443 with `tls`, else 80).
/// Both clients send it: the WebSocket upgrade and the HTTP requests (net/http.c).
/// @return its length, or 0 if `cap` is short.
size_t fh_http_host(char *dst, size_t cap, const char *host, int port, int tls);

/// The upgrade request: GET path, Host (fh_http_host), Upgrade, Connection, Sec-WebSocket-Key/Version, then
/// the "Name: value\n" lines of `headers` (may be NULL). @return length, or 0 if `cap` is short.
size_t fh_ws_request(char *dst, size_t cap, const char *host, int port, int tls,
                     const char *path, const char *key, const char *headers);

/// Reads the server's handshake response from buf[0..len). @return 0 incomplete, 1 complete
/// (*status = HTTP status, *consumed = header bytes; for 101 the upgrade and accept key are
/// checked: a wrong one gives *status = -1), -1 not HTTP, -2 a head over FH_WS_MAX_HEAD bytes.
int fh_ws_response(const char *buf, size_t len, const char *key, int *status, size_t *consumed);

/// The Sec-WebSocket-Accept value for a key (NUL-terminated). @return its length (28).
size_t fh_ws_accept(const char *key, size_t klen, char out[FH_WS_ACCEPT_LEN + 1]);

/// Reads a client's upgrade request from buf[0..len) (server side). @return 0 incomplete, 1 a
/// valid upgrade (the accept value, the request path, *consumed = head bytes), -1 not one.
int fh_ws_upgrade(const char *buf, size_t len, char accept[FH_WS_ACCEPT_LEN + 1], char *path,
                  size_t path_cap, size_t *consumed);

/// Writes one final, unmasked frame (a server's) to `dst` (room: len + FH_WS_MAX_HEADER).
/// @return bytes written.
size_t fh_ws_frame_plain(uint8_t *dst, int opcode, const void *payload, size_t len);

#endif
