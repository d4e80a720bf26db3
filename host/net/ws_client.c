// ws_client.c: the "ws" transport: a WebSocket client whose protocol is done here (the upgrade
// request and response in codec/ws_frame.c, frames in net/ws_proto.c) over a libwebsockets raw
// TCP connection, with TLS by OpenSSL over memory BIOs for wss:// (net/tls_bio.c). Reading a
// header at a time instead of lws's byte-at-a-time parser is what makes this the fast path.
//
// Options: host, port, path (with the query), tls, verify, ca_file, headers ("Name: value" lines),
// max_frame, deflate (offer permessage-deflate: compressed messages in are inflated here). Handshakes are bounded by the caller's connect timeout (the Lua side closes a
// connection that does not open in time).
#include <libwebsockets.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/ws_frame.h"
#include "core/conn.h"
#include "net/outq.h"
#include "net/tls_bio.h"
#include "net/transports.h"
#include "net/ws_proto.h"

enum { OUT_BYTES = 1, LINGER_S = 2 };

typedef struct ws_client {
  fh_io io;
  fh_wsp w;
  fh_conn *c;
  struct lws *wsi;
  fh_outq out;           // bytes as they go on the wire (framed; encrypted for TLS)
  int connected;         // TCP up
  int hs_done;           // 101 received and checked
  int closing;           // fh_loop_close: close once the queue is written
  int lingering;         // our close frame is out: waiting for the server to close
  char key[25];          // Sec-WebSocket-Key
  uint8_t *head;         // the handshake response so far
  size_t head_len;
  size_t head_cap;
  fh_tls *tls;           // wss://
  int tls_done;
  char *hs_req;          // the upgrade request, sent once TLS is up
  size_t hs_req_len;
  uint32_t mask_state;   // xorshift state for frame masks
  int offered_deflate;   // permessage-deflate offered in the upgrade request
  uint8_t *scratch;      // frames before encryption, and gathered writes
} ws_client;

static uint32_t next_mask(ws_client *s)
{
  uint32_t x = s->mask_state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  s->mask_state = x;
  return x;
}

static void want_write(ws_client *s)
{
  if (s->wsi && s->connected) {
    lws_callback_on_writable(s->wsi);
  }
}

// Moves what OpenSSL wrote (handshake records, encrypted data) into the output queue.
static int tls_flush(ws_client *s)
{
  size_t pending;
  while ((pending = fh_tls_pending(s->tls)) > 0) {
    unsigned char *dst = fh_outq_push(&s->out, OUT_BYTES, pending, pending);
    if (!dst) {
      s->c->st.out_dropped++;
      return -2;
    }
    fh_outq_tail(&s->out)->len = fh_tls_take(s->tls, dst, pending);
  }
  want_write(s);
  return 0;
}

// Plain bytes to the peer: into the queue, or through TLS into the queue.
static int put_bytes(ws_client *s, const void *data, size_t len)
{
  if (s->tls) {
    if (fh_tls_write(s->tls, data, len) != 0) {
      s->c->st.out_dropped++;
      return -2;
    }
    return tls_flush(s);
  }
  unsigned char *dst = fh_outq_push(&s->out, OUT_BYTES, len, len);
  if (!dst) {
    s->c->st.out_dropped++;
    return -2;
  }
  memcpy(dst, data, len);
  want_write(s);
  return 0;
}

// ws_proto's way out: one masked client frame.
static int out_frame(fh_wsp *w, int opcode, const void *payload, size_t len)
{
  ws_client *s = (ws_client *)((char *)w - offsetof(ws_client, w));
  if (s->tls) {
    uint8_t *frame = malloc(len + FH_WS_MAX_HEADER);
    if (!frame) {
      s->c->st.out_dropped++;
      return -2;
    }
    size_t n = fh_ws_frame(frame, opcode, payload, len, next_mask(s));
    int rc = put_bytes(s, frame, n);
    free(frame);
    return rc;
  }
  unsigned char *dst = fh_outq_push(&s->out, OUT_BYTES, 0, len + FH_WS_MAX_HEADER);
  if (!dst) {
    s->c->st.out_dropped++;
    return -2;
  }
  fh_outq_tail(&s->out)->len = fh_ws_frame(dst, opcode, payload, len, next_mask(s));
  want_write(s);
  return 0;
}

// The connection failed before it was open: one FH_EV_ERROR, and the wsi forgets us.
static int fail(ws_client *s, struct lws *wsi, int code, int status, const char *why)
{
  if (wsi) {
    lws_set_opaque_user_data(wsi, NULL);
  }
  s->wsi = NULL;
  fh_conn_gone(s->c, FH_EV_ERROR, code, status, why);
  return -1;
}

// Bytes after TLS: first the handshake response, then frames.
static int plain_rx(ws_client *s, struct lws *wsi, const uint8_t *in, size_t len)
{
  if (s->hs_done) {
    int rc = fh_wsp_rx(&s->w, in, len);
    if (s->w.closing) {
      want_write(s);
    }
    return rc;
  }
  if (fh_buf_append(&s->head, &s->head_len, &s->head_cap, in, len, 4096)) {
    return fail(s, wsi, FH_ERR_RESOURCE, 0, "out of memory");
  }
  int status = 0;
  size_t used = 0;
  int r = fh_ws_response((const char *)s->head, s->head_len, s->key, &status, &used);
  if (r == 0) {
    return 0;
  }
  if (r == -2) {
    return fail(s, wsi, FH_ERR_HANDSHAKE, 0, "the handshake response's headers are over 16 KiB");
  }
  if (r < 0) {
    return fail(s, wsi, FH_ERR_HANDSHAKE, 0, "the server did not answer in HTTP");
  }
  if (status == -1) {
    return fail(s, wsi, FH_ERR_HANDSHAKE, 0, "bad upgrade response (Sec-WebSocket-Accept)");
  }
  if (status != 101) {
    // a redirect too: following it would hand the credentials of the handshake to another host
    return fail(s, wsi, FH_ERR_HTTP, status, status >= 300 && status < 400
                ? "the server redirects the WebSocket upgrade (not followed)"
                : "the server refused the WebSocket upgrade");
  }
  fh_ws_deflate dp;
  int ext = fh_ws_deflate_params((const char *)s->head, used, &dp);
  if (ext < 0 || (ext == 1 && !s->offered_deflate)) {
    return fail(s, wsi, FH_ERR_HANDSHAKE, 0, "the server accepted an extension we did not offer");
  }
  s->w.deflate = ext == 1;
  s->w.deflate_reset = dp.server_no_context_takeover;
  s->hs_done = 1;
  if (s->w.opened) {
    s->w.opened(&s->w);
  } else {
    fh_conn_event(s->c, FH_EV_OPEN, 0, 0, NULL);
  }
  size_t rest = s->head_len - used;
  int rc = rest ? fh_wsp_rx(&s->w, s->head + used, rest) : 0;
  free(s->head);
  s->head = NULL;
  s->head_len = s->head_cap = 0;
  if (s->out.n || s->closing || s->w.closing) {
    want_write(s);
  }
  return rc;
}

// Encrypted bytes in: finish the handshake (then send the upgrade request), decrypt the rest.
static int tls_rx(ws_client *s, struct lws *wsi, const uint8_t *in, size_t len)
{
  if (fh_tls_feed(s->tls, in, len) != 0) {
    return fail(s, wsi, FH_ERR_RESOURCE, 0, "out of memory");
  }
  if (!s->tls_done) {
    int r = fh_tls_handshake(s->tls);
    if (r < 0) {
      char why[300];
      int code = fh_tls_why(s->tls, why, sizeof why);
      return fail(s, wsi, code, 0, why);
    }
    if (r == 0) {
      return tls_flush(s) == 0 ? 0 : -1;
    }
    s->tls_done = 1;
    if (put_bytes(s, s->hs_req, s->hs_req_len) != 0) {
      return -1;
    }
  }
  uint8_t *buf = s->scratch;
  for (;;) {
    int n = fh_tls_read(s->tls, buf, FH_OUTQ_CHUNK);
    if (n > 0) {
      if (plain_rx(s, wsi, buf, (size_t)n) < 0 || s->c->gone) {
        return -1;
      }
      continue;
    }
    if (n == 0) {
      break;
    }
    if (n == -1) {  // close_notify
      return -1;
    }
    s->w.peer_code = FH_CLOSE_PROTOCOL;
    snprintf(s->w.peer_reason, sizeof s->w.peer_reason, "protocol error: TLS read failed");
    return -1;
  }
  return tls_flush(s) == 0 ? 0 : -1;
}

// Writes what is queued. @return -1 to close the connection.
static int writable(ws_client *s, struct lws *wsi)
{
  if (fh_outq_write(&s->out, wsi, s->scratch, &s->c->st.bytes_out) != 0) {
    return -1;
  }
  if (s->out.n) {
    lws_callback_on_writable(wsi);
    return 0;
  }
  // Drained. A close the host began waits for the server to close the TCP connection (RFC 6455
  // 7.1.1), reading and dropping what still comes, LINGER_S at most: closing with bytes unread
  // sends a reset, and the server may lose what it read last (Socket.IO's "41", leaving the
  // namespace). A close the server began (answered) or a protocol error ends it now.
  if (s->w.closing && !s->w.peer_code) {
    if (!s->lingering) {
      s->lingering = 1;
      lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, LINGER_S);
    }
    return 0;
  }
  return s->w.closing || (s->closing && !s->hs_done) ? -1 : 0;
}

static int on_lws(fh_io *io, struct lws *wsi, int reason, void *in, size_t len)
{
  ws_client *s = (ws_client *)io;
  switch (reason) {
  case LWS_CALLBACK_RAW_CONNECTED:
    s->connected = 1;
    s->wsi = wsi;
    if (s->tls) {  // TLS first: the ClientHello
      fh_tls_handshake(s->tls);
      if (tls_flush(s) != 0) {
        return -1;
      }
    }
    lws_callback_on_writable(wsi);  // the upgrade request (or the ClientHello) goes first
    return 0;
  case LWS_CALLBACK_RAW_RX:
    return s->tls ? tls_rx(s, wsi, in, len) : plain_rx(s, wsi, in, len);
  case LWS_CALLBACK_RAW_WRITEABLE:
    return writable(s, wsi);
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    return fail(s, wsi, FH_ERR_CONNECT, 0, in ? (const char *)in : "connection failed");
  case LWS_CALLBACK_RAW_CLOSE:
    lws_set_opaque_user_data(wsi, NULL);
    s->wsi = NULL;
    if (!s->hs_done) {
      fh_conn_gone(s->c, FH_EV_ERROR, FH_ERR_CLOSED, 0,
                   s->closing ? "closed by host during the handshake"
                              : "the server closed the connection during the handshake");
    } else {
      fh_wsp_gone(&s->w);
    }
    return 0;
  default:
    return 0;
  }
}

static void client_destroy(fh_conn *c)
{
  ws_client *s = c->impl;
  if (!s) {
    return;
  }
  if (s->wsi) {  // a socket the host gave up on (a protocol above reported it gone): drop it
    lws_set_opaque_user_data(s->wsi, NULL);
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
  }
  fh_outq_free(&s->out);
  fh_wsp_free(&s->w);
  fh_tls_free(s->tls);
  free(s->hs_req);
  free(s->head);
  free(s->scratch);
  free(s);
  c->impl = NULL;
}

static int open_client(fh_conn *c, const fh_opts *o, char *err)
{
  const char *host = fh_opt_need(o, "host", err);
  ws_client *s = host ? fh_conn_state(c, sizeof *s, err) : NULL;
  if (!s) {
    return -1;
  }
  int port = (int)fh_opt_int(o, "port", 0);
  int tls = fh_opt_bool(o, "tls", 0);
  const char *path = fh_opt_str(o, "path");
  s->io.on = on_lws;
  s->c = c;
  s->w.c = c;
  s->w.out = out_frame;
  s->scratch = malloc(LWS_PRE + FH_OUTQ_CHUNK);
  if (!s->scratch || fh_outq_init(&s->out, FH_OUTQ_MAX) != 0) {
    snprintf(err, FH_ERR_LEN, "out of memory");
    return -1;
  }
  c->queued = &s->out.n;
  uint8_t rnd[16];
  if (RAND_bytes(rnd, sizeof rnd) != 1 ||
      RAND_bytes((unsigned char *)&s->mask_state, sizeof s->mask_state) != 1) {
    snprintf(err, FH_ERR_LEN, "no random bytes for the WebSocket key");
    return -1;
  }
  s->mask_state |= 1;  // xorshift never leaves 0
  fh_ws_key(rnd, s->key);
  // permessage-deflate is offered on request: messages in may then come compressed
  s->offered_deflate = fh_opt_bool(o, "deflate", 0);
  char headers[7168];
  const char *given = fh_opt_str(o, "headers");
  int hn = snprintf(headers, sizeof headers, "%s%s%s", given ? given : "",
                    given && *given ? "\n" : "",
                    s->offered_deflate ? "Sec-WebSocket-Extensions: permessage-deflate; "
                                         "client_max_window_bits" : "");
  if (hn < 0 || (size_t)hn >= sizeof headers) {
    snprintf(err, FH_ERR_LEN, "the handshake request is over 8 KiB (headers too long)");
    return -1;
  }
  char req[8192];
  size_t n = fh_ws_request(req, sizeof req, host, port ? port : (tls ? 443 : 80), tls,
                           path, s->key, headers);
  if (!n) {
    snprintf(err, FH_ERR_LEN, "the handshake request is over 8 KiB (headers too long)");
    return -1;
  }
  if (tls) {
    s->tls = fh_tls_new(c->lp, host, fh_opt_bool(o, "verify", 1), fh_opt_str(o, "ca_file"), err);
    if (!s->tls) {
      return -1;
    }
    s->hs_req = malloc(n);
    if (!s->hs_req) {
      snprintf(err, FH_ERR_LEN, "out of memory");
      return -1;
    }
    memcpy(s->hs_req, req, n);
    s->hs_req_len = n;
  } else if (put_bytes(s, req, n) != 0) {
    snprintf(err, FH_ERR_LEN, "out of memory");
    return -1;
  }
  s->wsi = fh_conn_connect(c, &s->io, NULL, host, port ? port : (tls ? 443 : 80), NULL, path,
                           "RAW", 0);
  return 0;
}

fh_wsp *fh_ws_client_proto(fh_conn *c)
{
  ws_client *s = c->impl;
  return s ? &s->w : NULL;
}

static int client_send(fh_conn *c, int kind, const char *data, size_t len)
{
  ws_client *s = c->impl;
  if (s->closing || !s->hs_done) {
    return -1;
  }
  int rc = fh_wsp_send(&s->w, kind, data, len);
  if (rc == 0) {
    c->st.frames_out++;
  }
  return rc;
}

static int client_ping(fh_conn *c)
{
  return client_send(c, 0, "", 0);
}

static int close_client(fh_conn *c, int code, const char *reason)
{
  ws_client *s = c->impl;
  if (s->closing) {
    return 0;
  }
  s->closing = 1;
  if (s->hs_done) {
    fh_wsp_close(&s->w, code, reason);
  }
  if (s->wsi && s->connected) {
    lws_callback_on_writable(s->wsi);
  } else if (s->wsi) {  // still connecting: nothing to say, drop it
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
  }
  return 0;
}


const fh_transport fh_ws_client = {
  .name = "ws",
  .open = open_client,
  .send = client_send,
  .ping = client_ping,
  .close = close_client,
  .destroy = client_destroy,
};
