// ws_lws.c: the "ws-lws" transport: libwebsockets' own WebSocket client, for connections that
// ask for permessage-deflate (lws inflates; it also parses every payload byte through a call,
// which is why plain connections take the "ws" transport). TLS is lws's, with one client vhost
// per CA file, shared by the loop's connections.
//
// Options: host, port, path, tls, verify, ca_file, headers ("Name: value" lines), max_frame.
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/conn.h"
#include "net/lws_client.h"
#include "net/outq.h"
#include "net/transports.h"
#include "net/ws_proto.h"

enum { OUT_PING = 3 };

typedef struct ws_lws {
  fh_io io;
  fh_conn *c;
  struct lws *wsi;
  fh_outq out;
  char *headers;
  char *rx;                // a message arriving in pieces
  size_t rx_len;
  size_t rx_cap;
  int rx_skip;             // dropping an oversized message until its last piece
  int open;
  int closing;
  int close_code;
  char close_reason[124];
  int peer_code;
  char peer_reason[124];
} ws_lws;

// ---- receiving ----------------------------------------------------------------------------------
static void receive(ws_lws *s, struct lws *wsi, const char *in, size_t len)
{
  fh_conn *c = s->c;
  int first = lws_is_first_fragment(wsi), last = lws_is_final_fragment(wsi);
  int kind = lws_frame_is_binary(wsi) ? FH_FRAME_BINARY : FH_FRAME_TEXT;
  if (first) {
    s->rx_len = 0;
    s->rx_skip = 0;
  }
  if (s->rx_skip) {
    s->rx_skip = !last;
    return;
  }
  size_t total = s->rx_len + len;
  if (total > c->max_frame) {
    c->st.oversize++;
    // lws hands over pieces: the size known so far is a lower bound
    fh_conn_event(c, FH_EV_OVERSIZE, total > INT32_MAX ? INT32_MAX : (int)total, 0, NULL);
    s->rx_len = 0;
    s->rx_skip = !last;
    return;
  }
  if (first && last) {
    fh_conn_frame(c, kind, in, len);
    return;
  }
  if (fh_buf_append(&s->rx, &s->rx_len, &s->rx_cap, in, len, 4096)) {
    c->st.oversize++;   // out of memory: the message is dropped and counted
    s->rx_len = 0;
    s->rx_skip = !last;
    return;
  }
  if (last) {
    fh_conn_frame(c, kind, s->rx, s->rx_len);
    s->rx_len = 0;
  }
}

// Writes the head of the queue; asks for another writable callback while more wait.
// @return -1 to close the connection.
static int writable(ws_lws *s, struct lws *wsi)
{
  fh_out *m = fh_outq_head(&s->out);
  if (m) {
    enum lws_write_protocol wp = m->kind == OUT_PING          ? LWS_WRITE_PING
                                 : m->kind == FH_FRAME_BINARY ? LWS_WRITE_BINARY
                                                              : LWS_WRITE_TEXT;
    size_t len = m->len;
    int n = lws_write(wsi, m->buf + LWS_PRE, len, wp);
    fh_outq_pop(&s->out);
    if (n < (int)len) {
      return -1;
    }
    s->c->st.bytes_out += len;
    if (s->out.n || s->closing) {
      lws_callback_on_writable(wsi);
    }
    return 0;
  }
  if (s->closing) {
    lws_close_reason(wsi, (enum lws_close_status)s->close_code, (unsigned char *)s->close_reason,
                     strlen(s->close_reason));
    return -1;
  }
  return 0;
}

static void gone(ws_lws *s, struct lws *wsi)
{
  lws_set_opaque_user_data(wsi, NULL);
  s->wsi = NULL;
  if (s->peer_code) {
    fh_conn_gone(s->c, FH_EV_CLOSE, s->peer_code, 0, s->peer_reason);
  } else if (s->closing) {
    fh_conn_gone(s->c, FH_EV_CLOSE, s->close_code, 0, "closed by host");
  } else {
    fh_conn_gone(s->c, FH_EV_CLOSE, FH_CLOSE_LOST, 0, "connection lost");
  }
}

static int on_lws(fh_io *io, struct lws *wsi, int reason, void *in, size_t len)
{
  ws_lws *s = (ws_lws *)io;
  switch (reason) {
  case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
    unsigned char **p = (unsigned char **)in;
    return fh_lws_append_headers(s->headers, wsi, p, *p + len);
  }
  case LWS_CALLBACK_CLIENT_ESTABLISHED:
    s->wsi = wsi;
    s->open = 1;
    fh_conn_event(s->c, FH_EV_OPEN, 0, 0, NULL);
    if (s->out.n || s->closing) {
      lws_callback_on_writable(wsi);
    }
    return 0;
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
    const char *why = in ? (const char *)in : "connection failed";
    int status = (int)lws_http_client_http_response(wsi);
    lws_set_opaque_user_data(wsi, NULL);
    s->wsi = NULL;
    fh_conn_gone(s->c, FH_EV_ERROR, fh_lws_error_code(why, status), status, why);
    return 0;
  }
  case LWS_CALLBACK_CLIENT_RECEIVE:
    receive(s, wsi, in, len);
    return 0;
  case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
    fh_conn_event(s->c, FH_EV_PONG, 0, 0, NULL);
    return 0;
  case LWS_CALLBACK_CLIENT_WRITEABLE:
    return writable(s, wsi);
  case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
    if (len >= 2) {
      const unsigned char *b = in;
      s->peer_code = (b[0] << 8) | b[1];
      size_t n = len - 2 < sizeof s->peer_reason - 1 ? len - 2 : sizeof s->peer_reason - 1;
      memcpy(s->peer_reason, b + 2, n);
      s->peer_reason[n] = 0;
    }
    return 0;
  case LWS_CALLBACK_CLIENT_CLOSED:
  case LWS_CALLBACK_WSI_DESTROY:
    gone(s, wsi);
    return 0;
  default:
    return 0;
  }
}

static int open_deflate(fh_conn *c, const fh_opts *o, char *err)
{
  const char *host = fh_opt_need(o, "host", err);
  struct lws_vhost *vh = host ? fh_lws_client_vhost(c->lp, fh_opt_str(o, "ca_file"), err) : NULL;
  ws_lws *s = vh ? fh_conn_state(c, sizeof *s, err) : NULL;
  if (!s) {
    return -1;
  }
  int tls = fh_opt_bool(o, "tls", 0);
  s->io.on = on_lws;
  s->c = c;
  const char *headers = fh_opt_str(o, "headers");
  if ((headers && *headers && !(s->headers = strdup(headers))) ||
      fh_outq_init(&s->out, FH_OUTQ_MAX) != 0) {
    snprintf(err, FH_ERR_LEN, "out of memory");
    return -1;
  }
  c->queued = &s->out.n;
  const char *path = fh_opt_str(o, "path");
  int port = (int)fh_opt_int(o, "port", 0);
  s->wsi = fh_conn_connect(c, &s->io, vh, host, port ? port : (tls ? 443 : 80), path, NULL,
                           fh_lws_ssl_flags(o));
  return 0;
}

static int queue_msg(fh_conn *c, int kind, const char *data, size_t len)
{
  ws_lws *s = c->impl;
  if (s->closing || !s->open) {
    return -1;
  }
  unsigned char *dst = fh_outq_push(&s->out, kind, len, len);
  if (!dst) {
    c->st.out_dropped++;
    return -2;
  }
  memcpy(dst, data, len);
  if (kind != OUT_PING) {
    c->st.frames_out++;
  }
  if (s->wsi) {
    lws_callback_on_writable(s->wsi);
  }
  return 0;
}

static int deflate_send(fh_conn *c, int kind, const char *data, size_t len)
{
  return queue_msg(c, kind == FH_FRAME_BINARY ? FH_FRAME_BINARY : FH_FRAME_TEXT, data, len);
}

static int deflate_ping(fh_conn *c)
{
  return queue_msg(c, OUT_PING, "", 0);
}

static int close_deflate(fh_conn *c, int code, const char *reason)
{
  ws_lws *s = c->impl;
  if (s->closing) {
    return 0;
  }
  s->closing = 1;
  s->close_code = code;
  snprintf(s->close_reason, sizeof s->close_reason, "%s", reason);
  if (s->wsi && s->open) {
    lws_callback_on_writable(s->wsi);
  } else if (s->wsi) {
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
  }
  return 0;
}

static void deflate_destroy(fh_conn *c)
{
  ws_lws *s = c->impl;
  if (!s) {
    return;
  }
  if (s->wsi) {
    lws_set_opaque_user_data(s->wsi, NULL);
  }
  fh_outq_free(&s->out);
  free(s->headers);
  free(s->rx);
  free(s);
  c->impl = NULL;
}


const fh_transport fh_ws_lws = {
  .name = "ws-lws",
  .open = open_deflate,
  .send = deflate_send,
  .ping = deflate_ping,
  .close = close_deflate,
  .destroy = deflate_destroy,
};
