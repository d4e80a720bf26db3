// http.c: the "http" transport: one HTTP/1.1 request on libwebsockets' HTTP client, never
// blocking the loop, for messages a spec sends over HTTP (Symphony XTS subscribes by REST).
// TLS is lws's, verified against the system store or `ca_file` (net/lws_client.c).
//
// Options: host, port, path (with the query), tls, verify, ca_file, method (GET, POST, PUT,
// DELETE), headers ("Name: value" lines), body, max_frame (the longest answer kept).
// Events: FH_EV_CLOSE with `code` the HTTP status and `text` the answer's body (its first
// 64 KiB) once the answer is in; FH_EV_ERROR when no answer came (connect, TLS, a connection
// closed before the status line).
#define _GNU_SOURCE   // strcasestr
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/ws_frame.h"
#include "core/conn.h"
#include "net/lws_client.h"
#include "net/transports.h"
#include "net/ws_proto.h"

enum { BODY_KEPT = 64 << 10 };

typedef struct http_req {
  fh_io io;
  fh_conn *c;
  struct lws *wsi;
  char *method;
  char *headers;
  char *body;          // LWS_PRE bytes of room, then the body
  size_t body_len;
  int status;
  char *answer;        // the answer's body so far (NUL-terminated), at most BODY_KEPT bytes
  size_t answer_len;
  size_t answer_cap;
} http_req;

// The request is over: one event, and the wsi forgets us.
static int done(http_req *s, struct lws *wsi, int kind, int code, int aux, const char *text)
{
  if (wsi) {
    lws_set_opaque_user_data(wsi, NULL);
  }
  s->wsi = NULL;
  fh_conn_gone(s->c, kind, code, aux, text);
  return -1;
}

static int add_body_headers(http_req *s, struct lws *wsi, unsigned char **p, unsigned char *end)
{
  char n[24];
  int k = snprintf(n, sizeof n, "%zu", s->body_len);
  if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, (unsigned char *)n, k, p,
                                   end)) {
    return -1;
  }
  if (!s->headers || !strcasestr(s->headers, "content-type:")) {
    static const char json[] = "application/json";
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, (unsigned char *)json,
                                     (int)sizeof json - 1, p, end)) {
      return -1;
    }
  }
  lws_client_http_body_pending(wsi, 1);
  lws_callback_on_writable(wsi);
  return 0;
}

static void keep_answer(http_req *s, const char *in, size_t len)
{
  size_t room = BODY_KEPT - s->answer_len;
  size_t n = len < room ? len : room;
  if (n && fh_buf_append(&s->answer, &s->answer_len, &s->answer_cap, in, n, 1024) == 0 &&
      fh_buf_append(&s->answer, &s->answer_len, &s->answer_cap, "", 1, 1024) == 0) {
    s->answer_len--;  // the NUL stays after the text
  }
}

static int on_lws(fh_io *io, struct lws *wsi, int reason, void *in, size_t len)
{
  http_req *s = (http_req *)io;
  switch (reason) {
  case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
    unsigned char **p = (unsigned char **)in;
    unsigned char *end = *p + len;
    if (fh_lws_append_headers(s->headers, wsi, p, end) != 0 ||
        (s->body && add_body_headers(s, wsi, p, end) != 0)) {
      return -1;
    }
    return 0;
  }
  case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
    if (s->body) {
      lws_client_http_body_pending(wsi, 0);
      int n = lws_write(wsi, (unsigned char *)s->body + LWS_PRE, s->body_len, LWS_WRITE_HTTP_FINAL);
      if (n < (int)s->body_len) {
        return -1;
      }
      s->c->st.bytes_out += s->body_len;
      s->c->st.frames_out++;
      free(s->body);
      s->body = NULL;
    }
    return 0;
  case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
    s->wsi = wsi;
    s->status = (int)lws_http_client_http_response(wsi);
    return 0;
  case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
    char buf[LWS_PRE + 4096];
    char *px = buf + LWS_PRE;
    int lenx = (int)sizeof buf - LWS_PRE;
    return lws_http_client_read(wsi, &px, &lenx) < 0 ? -1 : 0;
  }
  case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
    s->c->st.bytes_in += len;
    keep_answer(s, in, len);
    return 0;
  case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
    return done(s, wsi, FH_EV_CLOSE, s->status, 0, s->answer ? s->answer : "");
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
    const char *why = in ? (const char *)in : "connection failed";
    int status = (int)lws_http_client_http_response(wsi);
    return done(s, wsi, FH_EV_ERROR, fh_lws_error_code(why, status), status, why);
  }
  case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
  case LWS_CALLBACK_WSI_DESTROY:
    if (s->status > 0) {  // an answer that ended with the connection
      done(s, wsi, FH_EV_CLOSE, s->status, 0, s->answer ? s->answer : "");
    } else {
      done(s, wsi, FH_EV_ERROR, FH_ERR_CLOSED, 0, "the connection closed before an answer");
    }
    return 0;
  default:
    return 0;
  }
}

static void http_destroy(fh_conn *c)
{
  http_req *s = c->impl;
  if (!s) {
    return;
  }
  if (s->wsi) {
    lws_set_opaque_user_data(s->wsi, NULL);
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
  }
  free(s->method);
  free(s->headers);
  free(s->body);
  free(s->answer);
  free(s);
  c->impl = NULL;
}

static int http_open(fh_conn *c, const fh_opts *o, char *err)
{
  const char *host = fh_opt_need(o, "host", err);
  struct lws_vhost *vh = host ? fh_lws_client_vhost(c->lp, fh_opt_str(o, "ca_file"), err) : NULL;
  http_req *s = vh ? fh_conn_state(c, sizeof *s, err) : NULL;
  if (!s) {
    return -1;
  }
  s->io.on = on_lws;
  s->c = c;
  const char *method = fh_opt_str(o, "method");
  const char *headers = fh_opt_str(o, "headers");
  const char *body = fh_opt_str(o, "body");
  s->method = strdup(method && *method ? method : "GET");
  if (!s->method || (headers && *headers && !(s->headers = strdup(headers)))) {
    snprintf(err, FH_ERR_LEN, "out of memory");
    return -1;
  }
  if (body) {
    s->body_len = strlen(body);
    s->body = malloc(LWS_PRE + s->body_len + 1);
    if (!s->body) {
      snprintf(err, FH_ERR_LEN, "out of memory");
      return -1;
    }
    memcpy(s->body + LWS_PRE, body, s->body_len + 1);
  }
  int tls = fh_opt_bool(o, "tls", 0);
  int port = (int)fh_opt_int(o, "port", 0);
  port = port ? port : (tls ? 443 : 80);
  char host_header[300];   // lws copies it
  if (!fh_http_host(host_header, sizeof host_header, host, port, tls)) {
    snprintf(err, FH_ERR_LEN, "the host name is too long: %.64s...", host);
    return -1;
  }
  s->wsi = fh_conn_connect(c, &s->io, vh, host, port, host_header, fh_opt_str(o, "path"),
                           s->method, fh_lws_ssl_flags(o));
  return 0;
}

static int http_close(fh_conn *c, int code, const char *reason)
{
  http_req *s = c->impl;
  if (s->wsi) {
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
  }
  return 0;
}

const fh_transport fh_http_client = {
  .name = "http",
  .open = http_open,
  .close = http_close,
  .destroy = http_destroy,
};
