// ws_lws.c: the "ws-lws" transport: libwebsockets' own WebSocket client, for connections that
// ask for permessage-deflate (lws inflates; it also parses every payload byte through a call,
// which is why plain connections take the "ws" transport). TLS is lws's, with one client vhost
// per CA file, shared by the loop's connections.
//
// Options: host, port, path, tls, verify, ca_file, headers ("Name: value" lines), max_frame.
#define _GNU_SOURCE   // strcasestr
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/conn.h"
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

static const struct lws_extension exts_deflate[] = {
  { "permessage-deflate", lws_extension_callback_pm_deflate,
    "permessage-deflate; client_max_window_bits" },
  { NULL, NULL, NULL },
};

// ---- client vhosts, one per CA file -------------------------------------------------------------
typedef struct vhost_entry {
  struct lws_vhost *vh;   // freed with the lws context
  char *ca_file;
  struct vhost_entry *next;
} vhost_entry;

typedef struct vhost_list {
  vhost_entry *first;
} vhost_list;

static void vhosts_free(void *p)
{
  vhost_list *list = p;
  while (list->first) {
    vhost_entry *e = list->first;
    list->first = e->next;
    free(e->ca_file);
    free(e);
  }
  free(list);
}

static struct lws_vhost *vhost_for(fh_loop *lp, const char *ca_file, char *err)
{
  static const char key[] = "ws-lws-vhosts";
  vhost_list *list = fh_loop_attached(lp, key);
  if (!list) {
    list = calloc(1, sizeof *list);
    if (!list || fh_loop_attach(lp, key, list, vhosts_free) != 0) {
      free(list);
      snprintf(err, FH_ERR_LEN, "out of memory");
      return NULL;
    }
  }
  for (vhost_entry *e = list->first; e; e = e->next) {
    if ((!ca_file && !e->ca_file) || (ca_file && e->ca_file && !strcmp(ca_file, e->ca_file))) {
      return e->vh;
    }
  }
  vhost_entry *e = calloc(1, sizeof *e);
  if (!e || (ca_file && !(e->ca_file = strdup(ca_file)))) {
    free(e);
    snprintf(err, FH_ERR_LEN, "out of memory");
    return NULL;
  }
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = fh_loop_protocols();
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info.client_ssl_ca_filepath = ca_file;
  info.extensions = exts_deflate;
  char name[32];
  snprintf(name, sizeof name, "deflate%p", (void *)e);
  info.vhost_name = name;
  e->vh = lws_create_vhost(fh_loop_lws(lp), &info);
  if (!e->vh) {
    snprintf(err, FH_ERR_LEN, "cannot set up TLS%s%s", ca_file ? " with CA file " : "",
             ca_file ? ca_file : "");
    free(e->ca_file);
    free(e);
    return NULL;
  }
  e->next = list->first;
  list->first = e;
  return e->vh;
}

// ---- receiving ----------------------------------------------------------------------------------
// A whole message: text must be UTF-8 (lws does not check unless a server option says so).
static void deliver(fh_conn *c, int binary, const char *data, size_t len)
{
  if (binary) {
    fh_conn_frame(c, FH_FRAME_BINARY, data, len);
  } else {
    fh_conn_text(c, data, len);
  }
}

static void receive(ws_lws *s, struct lws *wsi, const char *in, size_t len)
{
  fh_conn *c = s->c;
  int first = lws_is_first_fragment(wsi), last = lws_is_final_fragment(wsi);
  int binary = lws_frame_is_binary(wsi);
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
    deliver(c, binary, in, len);
    return;
  }
  if (fh_buf_append(&s->rx, &s->rx_len, &s->rx_cap, in, len, 4096)) {
    c->st.oversize++;   // out of memory: the message is dropped and counted
    s->rx_len = 0;
    s->rx_skip = !last;
    return;
  }
  if (last) {
    deliver(c, binary, s->rx, s->rx_len);
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

static int append_headers(ws_lws *s, struct lws *wsi, unsigned char **p, unsigned char *end)
{
  char name[256];
  for (const char *line = s->headers; line && *line;) {
    const char *nl = strchr(line, '\n');
    size_t n = nl ? (size_t)(nl - line) : strlen(line);
    const char *colon = memchr(line, ':', n);
    if (colon && (size_t)(colon - line) + 2 < sizeof name) {
      size_t nlen = (size_t)(colon - line) + 1;   // the name keeps its colon
      memcpy(name, line, nlen);
      name[nlen] = 0;
      const char *v = colon + 1;
      while (v < line + n && *v == ' ') {
        v++;
      }
      if (lws_add_http_header_by_name(wsi, (unsigned char *)name, (const unsigned char *)v,
                                      (int)(line + n - v), p, end)) {
        return -1;
      }
    }
    line += n;
    if (*line == '\n') {
      line++;
    }
  }
  return 0;
}

// What lws says of a failed connect, as an error code.
static int error_code(const char *why, int status)
{
  if (status > 0) {
    return FH_ERR_HTTP;
  }
  if (strcasestr(why, "certificate") || strcasestr(why, "verify")) {
    return FH_ERR_TLS_CERT;
  }
  if (strcasestr(why, "ssl") || strcasestr(why, "tls")) {
    return FH_ERR_TLS;
  }
  return FH_ERR_CONNECT;
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
    return append_headers(s, wsi, p, *p + len);
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
    fh_conn_gone(s->c, FH_EV_ERROR, error_code(why, status), status, why);
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
  struct lws_vhost *vh = host ? vhost_for(c->lp, fh_opt_str(o, "ca_file"), err) : NULL;
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
  int ssl = 0;
  if (tls) {
    ssl = LCCSCF_USE_SSL;
    if (!fh_opt_bool(o, "verify", 1)) {
      ssl |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
             LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
    }
  }
  s->wsi = fh_conn_connect(c, &s->io, vh, host, port ? port : (tls ? 443 : 80), path, NULL, ssl);
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
