// loop.c: the libwebsockets event loop behind fh_loop (see loop.h).
//
// Everything hangs off one fh_loop: the lws context, client vhosts (one per TLS trust / deflate
// combination, made on first use), listeners, and the connection table. Received messages are
// appended to the connection's batch (once, or twice when lws hands them over in pieces);
// outbound messages wait in a bounded per-connection queue until lws says the socket is
// writable.
#include "loop.h"

#include "codec/ws_frame.h"

#include <errno.h>
#include <libwebsockets.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

enum {
  OUT_QUEUE_MAX = 4096,                 // messages waiting per connection
  POLL_FRAMES_MAX = 4096,               // frames gathered before poll returns
  POLL_BYTES_MAX = 4 << 20,
  DEFAULT_MAX_FRAME = 16 << 20,
  OUT_PING = 3,
  OUT_RAW = 4,     // bytes written as they are (the raw path's handshake, its framed messages)
};

typedef struct out_msg {
  unsigned char *buf;   // LWS_PRE bytes of room, then the payload
  size_t len;
  int kind;
} out_msg;

typedef struct fh_conn {
  int id;
  int server;            // accepted by a listener
  int listener;
  struct lws *wsi;
  fh_batch *batch;
  int reported;          // batch reported by the last poll: clear it on the next
  int ready;             // batch holds frames not yet reported
  // message being reassembled from pieces
  char *rx;
  size_t rx_len, rx_cap;
  int rx_skip;           // dropping an oversized message until its last piece
  size_t max_frame;
  // outbound
  out_msg *out;          // ring of OUT_QUEUE_MAX
  unsigned out_head, out_n;
  int closing;
  int close_code;
  char close_reason[124];
  // from the peer
  int peer_code;
  char peer_reason[124];
  char *headers;
  int gone;              // wsi destroyed; slot freed on the next poll
  // the raw path: WebSocket done here over an lws raw (TCP or TLS) connection
  int raw;
  int connected;         // TCP/TLS up
  int hs_done;           // 101 received and checked
  char key[25];          // Sec-WebSocket-Key
  uint8_t *pend;         // bytes received but not parsed yet (a partial frame)
  size_t pend_len, pend_cap;
  uint64_t skip_left;    // payload bytes of a dropped frame still to come
  int in_msg;            // a fragmented message is being reassembled in rx
  int rx_binary;
  // wss:// on the raw path: TLS by OpenSSL over memory BIOs, the raw connection carries records
  SSL *ssl;
  int tls_done;          // TLS handshake finished
  char *hs_req;          // the upgrade request, sent once TLS is up
  size_t hs_req_len;
  fh_conn_stats st;
} fh_conn;

typedef struct tls_ctx {
  SSL_CTX *ctx;
  char *ca_file;
  int verify;
} tls_ctx;

typedef struct client_vhost {
  struct lws_vhost *vh;
  char *ca_file;
  int deflate;
} client_vhost;

struct fh_loop {
  struct lws_context *ctx;
  fh_conn **conns;
  int nconns, capconns;
  int next_id;
  client_vhost *cvh;
  int ncvh;
  struct lws_vhost **listeners;
  int nlisteners;
  fh_event *ev;
  int nev, capev;
  int nev_reported;         // events handed out by the last poll (later ones are still new)
  int timer_fd;             // ends a poll's wait (adopted into the lws loop)
  uint32_t mask_state;      // xorshift state for client frame masks
  tls_ctx *tls;             // OpenSSL contexts of the raw path, one per (CA file, verify)
  int ntls;
  int woke;
  uint32_t frames, bytes;   // gathered by this poll
};

static const struct lws_extension exts_deflate[] = {
  { "permessage-deflate", lws_extension_callback_pm_deflate,
    "permessage-deflate; client_max_window_bits" },
  { NULL, NULL, NULL },
};

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len);

static const struct lws_protocols protocols[] = {
  { "feedhost-ws", callback, 0, 65536, 0, NULL, 0 },
  { "feedhost-timer", callback, 0, 0, 0, NULL, 0 },
  { NULL, NULL, 0, 0, 0, NULL, 0 },
};

// ---- signals: the one piece of process-wide state -----------------------------------------------
static volatile sig_atomic_t sig_pending;
static struct lws_context *sig_ctx;

static void on_signal(int sig)
{
  sig_pending = sig;
  if (sig_ctx) {
    lws_cancel_service(sig_ctx);
  }
}

void fh_loop_catch_signals(fh_loop *lp)
{
  sig_ctx = lp->ctx;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

// ---- helpers ------------------------------------------------------------------------------------
static int64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void push_event(fh_loop *lp, int kind, int id, int code, const char *text, size_t len)
{
  if (lp->nev == lp->capev) {
    int cap = lp->capev ? lp->capev * 2 : 16;
    fh_event *ev = realloc(lp->ev, (size_t)cap * sizeof *ev);
    if (!ev) {
      return;
    }
    lp->ev = ev;
    lp->capev = cap;
  }
  fh_event *e = &lp->ev[lp->nev++];
  e->kind = kind;
  e->id = id;
  e->code = code;
  e->text = NULL;
  if (text) {
    e->text = malloc(len + 1);
    if (e->text) {
      memcpy(e->text, text, len);
      e->text[len] = 0;
    }
  }
}

static fh_conn *find(fh_loop *lp, int id)
{
  for (int i = 0; i < lp->nconns; i++) {
    if (lp->conns[i]->id == id) {
      return lp->conns[i];
    }
  }
  return NULL;
}

static fh_conn *conn_new(fh_loop *lp, size_t max_frame)
{
  if (lp->nconns == lp->capconns) {
    int cap = lp->capconns ? lp->capconns * 2 : 8;
    fh_conn **c = realloc(lp->conns, (size_t)cap * sizeof *c);
    if (!c) {
      return NULL;
    }
    lp->conns = c;
    lp->capconns = cap;
  }
  fh_conn *c = calloc(1, sizeof *c);
  if (!c) {
    return NULL;
  }
  c->batch = fh_batch_new(1 << 16, 256);
  c->out = calloc(OUT_QUEUE_MAX, sizeof *c->out);
  if (!c->batch || !c->out) {
    fh_batch_free(c->batch);
    free(c->out);
    free(c);
    return NULL;
  }
  c->id = ++lp->next_id;
  c->max_frame = max_frame ? max_frame : DEFAULT_MAX_FRAME;
  c->peer_code = 0;
  lp->conns[lp->nconns++] = c;
  return c;
}

static void conn_free(fh_conn *c)
{
  for (unsigned i = 0; i < c->out_n; i++) {
    free(c->out[(c->out_head + i) % OUT_QUEUE_MAX].buf);
  }
  free(c->out);
  SSL_free(c->ssl);   // and its BIOs
  free(c->hs_req);
  free(c->rx);
  free(c->pend);
  free(c->headers);
  fh_batch_free(c->batch);
  free(c);
}

// Appends n bytes to a growable buffer (first allocation `first` bytes, then doubling).
// @return 0, or -1 out of memory (the buffer is unchanged).
static int buf_append(void *bufp, size_t *len, size_t *cap, const void *p, size_t n, size_t first)
{
  char **buf = bufp;
  if (*len + n > *cap) {
    size_t c = *cap ? *cap : first;
    while (c < *len + n) {
      c *= 2;
    }
    char *nb = realloc(*buf, c);
    if (!nb) {
      return -1;
    }
    *buf = nb;
    *cap = c;
  }
  memcpy(*buf + *len, p, n);
  *len += n;
  return 0;
}

static void frame_in(fh_loop *lp, fh_conn *c, int binary, const char *data, size_t len)
{
  if (fh_batch_push(c->batch, 0, binary ? FH_FRAME_BINARY : FH_FRAME_TEXT, now_ns(), data,
                    len) != 0) {
    c->st.oversize++;  // out of memory: counted with the drops
    return;
  }
  c->st.frames_in++;
  c->st.bytes_in += len;
  lp->frames++;
  lp->bytes += (uint32_t)len;
  if (!c->ready) {
    c->ready = 1;
    push_event(lp, FH_EV_FRAMES, c->id, 0, NULL, 0);
  }
}

static void receive(fh_loop *lp, fh_conn *c, struct lws *wsi, const char *in, size_t len)
{
  int first = lws_is_first_fragment(wsi), last = lws_is_final_fragment(wsi);
  int binary = lws_frame_is_binary(wsi);
  if (first) {
    c->rx_len = 0;
    c->rx_skip = 0;
  }
  if (first && last) {
    if (len > c->max_frame) {
      c->st.oversize++;
      push_event(lp, FH_EV_OVERSIZE, c->id, (int)len, NULL, 0);
      return;
    }
    frame_in(lp, c, binary, in, len);
    return;
  }
  if (c->rx_skip) {
    if (last) {
      c->rx_skip = 0;
    }
    return;
  }
  if (c->rx_len + len > c->max_frame) {
    c->st.oversize++;
    push_event(lp, FH_EV_OVERSIZE, c->id, (int)(c->rx_len + len), NULL, 0);
    c->rx_len = 0;
    c->rx_skip = !last;
    return;
  }
  if (buf_append(&c->rx, &c->rx_len, &c->rx_cap, in, len, 4096)) {
    c->rx_skip = !last;  // out of memory: the message is dropped and counted
    c->rx_len = 0;
    c->st.oversize++;
    return;
  }
  if (last) {
    frame_in(lp, c, binary, c->rx, c->rx_len);
    c->rx_len = 0;
  }
}

// Writes the head of the queue; asks for another writable callback while more wait.
// @return -1 to close the connection.
static int writable(fh_conn *c, struct lws *wsi)
{
  if (c->out_n) {
    out_msg *m = &c->out[c->out_head];
    enum lws_write_protocol wp = m->kind == OUT_RAW           ? LWS_WRITE_RAW
                                 : m->kind == OUT_PING        ? LWS_WRITE_PING
                                 : m->kind == FH_FRAME_BINARY ? LWS_WRITE_BINARY
                                                              : LWS_WRITE_TEXT;
    int n = lws_write(wsi, m->buf + LWS_PRE, m->len, wp);
    free(m->buf);
    m->buf = NULL;
    c->out_head = (c->out_head + 1) % OUT_QUEUE_MAX;
    c->out_n--;
    if (n < (int)m->len) {
      return -1;
    }
    c->st.frames_out++;
    c->st.bytes_out += m->len;
    if (c->out_n || c->closing) {
      lws_callback_on_writable(wsi);
    }
    return 0;
  }
  if (c->closing) {
    if (!c->raw) {  // the raw path queued its close frame already
      lws_close_reason(wsi, (enum lws_close_status)c->close_code,
                       (unsigned char *)c->close_reason, strlen(c->close_reason));
    }
    return -1;
  }
  return 0;
}

// ---- the raw path: RFC 6455 over an lws raw connection ------------------------------------------

static uint32_t next_mask(fh_loop *lp)
{
  uint32_t x = lp->mask_state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  lp->mask_state = x;
  return x;
}

// Appends bytes to the output queue as they are. @return 0, -2 full or out of memory.
static int queue_bytes(fh_conn *c, int kind, const void *data, size_t len, size_t room)
{
  if (c->out_n == OUT_QUEUE_MAX) {
    c->st.out_dropped++;
    return -2;
  }
  unsigned char *buf = malloc(LWS_PRE + (room > len ? room : len) + 1);
  if (!buf) {
    c->st.out_dropped++;
    return -2;
  }
  if (data) {
    memcpy(buf + LWS_PRE, data, len);
  }
  out_msg *m = &c->out[(c->out_head + c->out_n) % OUT_QUEUE_MAX];
  m->buf = buf;
  m->len = len;
  m->kind = kind;
  c->out_n++;
  if (c->wsi && (!c->raw || c->connected)) {
    lws_callback_on_writable(c->wsi);
  }
  return 0;
}

// Queues one masked client frame (raw path).
static int tls_send(fh_conn *c, const void *data, size_t len);

static int queue_frame(fh_loop *lp, fh_conn *c, int opcode, const void *payload, size_t len)
{
  if (c->ssl) {  // framed, then encrypted into the queue
    uint8_t *frame = malloc(len + FH_WS_MAX_HEADER);
    if (!frame) {
      c->st.out_dropped++;
      return -2;
    }
    size_t n = fh_ws_frame(frame, opcode, payload, len, next_mask(lp));
    int rc = tls_send(c, frame, n);
    free(frame);
    return rc;
  }
  if (queue_bytes(c, OUT_RAW, NULL, 0, len + FH_WS_MAX_HEADER) != 0) {
    return -2;
  }
  out_msg *m = &c->out[(c->out_head + c->out_n - 1) % OUT_QUEUE_MAX];
  m->len = fh_ws_frame(m->buf + LWS_PRE, opcode, payload, len, next_mask(lp));
  return 0;
}

static int pend_append(fh_conn *c, const uint8_t *p, size_t n)
{
  return buf_append(&c->pend, &c->pend_len, &c->pend_cap, p, n, 65536);
}

static int rx_append(fh_conn *c, const uint8_t *p, size_t n)
{
  return buf_append(&c->rx, &c->rx_len, &c->rx_cap, p, n, 4096);
}

// The connection is closed for a protocol violation: the code and reason are what the host
// reports.
static int protocol_error(fh_conn *c, const char *why)
{
  c->peer_code = 1002;
  snprintf(c->peer_reason, sizeof c->peer_reason, "protocol error: %s", why);
  return -1;
}

// Parses whole frames from p[0..n); *done = bytes consumed. @return 0, or -1 to close.
static int parse_frames(fh_loop *lp, fh_conn *c, const uint8_t *p, size_t n, size_t *done)
{
  size_t off = 0;
  while (off < n) {
    if (c->skip_left) {
      size_t k = n - off < c->skip_left ? n - off : (size_t)c->skip_left;
      c->skip_left -= k;
      off += k;
      continue;
    }
    if (c->closing) {  // after a close frame nothing more is read
      off = n;
      break;
    }
    fh_ws_header h;
    int r = fh_ws_parse_header(p + off, n - off, &h);
    if (r == 0) {
      break;
    }
    if (r < 0 || h.masked) {
      *done = off;
      return protocol_error(c, r < 0 ? "bad frame header" : "masked frame from the server");
    }
    if (h.opcode <= FH_WS_BINARY) {
      int cont = h.opcode == FH_WS_CONT;
      if (cont ? !(c->in_msg || c->rx_skip) : (c->in_msg || c->rx_skip)) {
        *done = off;
        return protocol_error(c, "unexpected continuation");
      }
      uint64_t total = (cont ? c->rx_len : 0) + h.len;
      if (c->rx_skip || total > c->max_frame) {
        if (!c->rx_skip) {
          c->st.oversize++;
          push_event(lp, FH_EV_OVERSIZE, c->id, total > INT32_MAX ? INT32_MAX : (int)total, NULL,
                     0);
        }
        c->rx_skip = !h.fin;
        c->in_msg = 0;
        c->rx_len = 0;
        off += h.size;
        c->skip_left = h.len;
        continue;
      }
    }
    if (n - off < h.size + h.len) {
      break;  // the rest of this frame has not arrived yet
    }
    const uint8_t *pl = p + off + h.size;
    size_t len = (size_t)h.len;
    off += h.size + len;
    switch (h.opcode) {
    case FH_WS_TEXT:
    case FH_WS_BINARY:
      if (h.fin) {
        frame_in(lp, c, h.opcode == FH_WS_BINARY, (const char *)pl, len);
      } else {
        c->in_msg = 1;
        c->rx_binary = h.opcode == FH_WS_BINARY;
        c->rx_len = 0;
        if (rx_append(c, pl, len)) {
          return -1;
        }
      }
      break;
    case FH_WS_CONT:
      if (rx_append(c, pl, len)) {
        return -1;
      }
      if (h.fin) {
        frame_in(lp, c, c->rx_binary, c->rx, c->rx_len);
        c->rx_len = 0;
        c->in_msg = 0;
      }
      break;
    case FH_WS_PING:
      queue_frame(lp, c, FH_WS_PONG, pl, len);
      break;
    case FH_WS_PONG:
      push_event(lp, FH_EV_PONG, c->id, 0, NULL, 0);
      break;
    case FH_WS_CLOSE:
      c->peer_code = len >= 2 ? (pl[0] << 8) | pl[1] : 1005;
      if (len > 2) {
        size_t rl = len - 2 < sizeof c->peer_reason - 1 ? len - 2 : sizeof c->peer_reason - 1;
        memcpy(c->peer_reason, pl + 2, rl);
        c->peer_reason[rl] = 0;
      }
      if (!c->closing) {  // answer with the same code, then close the socket
        queue_frame(lp, c, FH_WS_CLOSE, pl, len >= 2 ? 2 : 0);
        c->closing = 1;
        c->close_code = c->peer_code;
      }
      if (c->wsi) {
        lws_callback_on_writable(c->wsi);
      }
      break;
    default:
      break;
    }
  }
  *done = off;
  return 0;
}

// Bytes from a raw connection: first the handshake response, then frames.
static int raw_rx(fh_loop *lp, fh_conn *c, struct lws *wsi, const uint8_t *in, size_t len)
{
  size_t done = 0;
  if (!c->hs_done) {
    if (pend_append(c, in, len)) {
      return -1;
    }
    int status = 0;
    size_t used = 0;
    int r = fh_ws_response((const char *)c->pend, c->pend_len, c->key, &status, &used);
    if (r == 0) {
      return 0;
    }
    if (r < 0 || status != 101) {
      const char *why = r < 0           ? "the server did not answer in HTTP"
                        : status == -1 ? "bad upgrade response (Sec-WebSocket-Accept)"
                                       : "HS: ws upgrade response not 101";
      c->gone = 1;
      c->wsi = NULL;
      lws_set_opaque_user_data(wsi, NULL);
      push_event(lp, FH_EV_ERROR, c->id, status > 0 ? status : 0, why, strlen(why));
      return -1;
    }
    c->hs_done = 1;
    push_event(lp, FH_EV_OPEN, c->id, 0, NULL, 0);
    c->pend_len -= used;
    memmove(c->pend, c->pend + used, c->pend_len);
    if (c->out_n || c->closing) {
      lws_callback_on_writable(wsi);
    }
  } else if (c->pend_len == 0) {
    // the common case: parse straight from lws's buffer, keep only a partial frame
    int rc = parse_frames(lp, c, in, len, &done);
    if (rc == 0 && done < len && pend_append(c, in + done, len - done)) {
      return -1;
    }
    return rc;
  } else if (pend_append(c, in, len)) {
    return -1;
  }
  int rc = parse_frames(lp, c, c->pend, c->pend_len, &done);
  c->pend_len -= done;
  memmove(c->pend, c->pend + done, c->pend_len);
  return rc;
}

// ---- TLS for the raw path (OpenSSL over memory BIOs) ---------------------------------------------

// Two optional CA file paths name the same trust (both absent, or equal).
static int same_file(const char *a, const char *b)
{
  return (!a && !b) || (a && b && !strcmp(a, b));
}

static SSL_CTX *tls_ctx_for(fh_loop *lp, const char *ca_file, int verify, char *err)
{
  for (int i = 0; i < lp->ntls; i++) {
    tls_ctx *t = &lp->tls[i];
    if (t->verify == verify && same_file(ca_file, t->ca_file)) {
      return t->ctx;
    }
  }
  tls_ctx *nt = realloc(lp->tls, (size_t)(lp->ntls + 1) * sizeof *nt);
  if (!nt) {
    snprintf(err, 256, "out of memory");
    return NULL;
  }
  lp->tls = nt;
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    snprintf(err, 256, "TLS: cannot create a context");
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
  if (verify && (ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                         : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
    snprintf(err, 256, "TLS: cannot load the CA file %s", ca_file ? ca_file : "(system)");
    SSL_CTX_free(ctx);
    return NULL;
  }
  nt[lp->ntls].ctx = ctx;
  nt[lp->ntls].ca_file = ca_file ? strdup(ca_file) : NULL;
  nt[lp->ntls].verify = verify;
  lp->ntls++;
  return ctx;
}

// A client SSL for `host`: SNI for names, and the name or IP address checked when verifying.
static SSL *tls_new(fh_loop *lp, const fh_connect_opts *o, char *err)
{
  SSL_CTX *ctx = tls_ctx_for(lp, o->ca_file, o->verify, err);
  if (!ctx) {
    return NULL;
  }
  SSL *ssl = SSL_new(ctx);
  BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
  if (!ssl || !rb || !wb) {
    SSL_free(ssl);
    BIO_free(rb);
    BIO_free(wb);
    snprintf(err, 256, "out of memory");
    return NULL;
  }
  SSL_set_bio(ssl, rb, wb);
  SSL_set_connect_state(ssl);
  unsigned char addr[16];
  int is_ip = inet_pton(AF_INET, o->host, addr) == 1 || inet_pton(AF_INET6, o->host, addr) == 1;
  if (!is_ip) {
    SSL_set_tlsext_host_name(ssl, o->host);
  }
  if (o->verify) {
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    if ((is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, o->host)
               : X509_VERIFY_PARAM_set1_host(param, o->host, 0)) != 1) {
      SSL_free(ssl);
      snprintf(err, 256, "TLS: bad host name %s", o->host);
      return NULL;
    }
  }
  return ssl;
}

// Moves what OpenSSL wrote (handshake records, encrypted data) into the output queue.
static int tls_flush(fh_conn *c)
{
  BIO *wb = SSL_get_wbio(c->ssl);
  size_t pending;
  while ((pending = BIO_ctrl_pending(wb)) > 0) {
    if (queue_bytes(c, OUT_RAW, NULL, 0, pending) != 0) {
      return -2;
    }
    out_msg *m = &c->out[(c->out_head + c->out_n - 1) % OUT_QUEUE_MAX];
    int n = BIO_read(wb, m->buf + LWS_PRE, (int)pending);
    m->len = n > 0 ? (size_t)n : 0;
  }
  return 0;
}

static int tls_send(fh_conn *c, const void *data, size_t len)
{
  if (SSL_write(c->ssl, data, (int)len) <= 0) {
    c->st.out_dropped++;
    return -2;
  }
  return tls_flush(c);
}

// Why the TLS handshake failed, for the log: the certificate check's own words when it was that.
static void tls_error(fh_conn *c, char *why, size_t cap)
{
  long vr = SSL_get_verify_result(c->ssl);
  if (vr != X509_V_OK) {
    snprintf(why, cap, "TLS: server certificate not accepted: %s",
             X509_verify_cert_error_string(vr));
    return;
  }
  unsigned long e = ERR_get_error();
  char buf[200];
  ERR_error_string_n(e, buf, sizeof buf);
  snprintf(why, cap, "TLS handshake failed: %s", e ? buf : "connection closed");
}

// Encrypted bytes in: finish the handshake (then send the upgrade request), decrypt the rest.
static int tls_rx(fh_loop *lp, fh_conn *c, struct lws *wsi, const uint8_t *in, size_t len)
{
  BIO_write(SSL_get_rbio(c->ssl), in, (int)len);
  if (!c->tls_done) {
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
      int e = SSL_get_error(c->ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        return tls_flush(c) == 0 ? 0 : -1;
      }
      char why[300];
      tls_error(c, why, sizeof why);
      ERR_clear_error();
      c->gone = 1;
      c->wsi = NULL;
      lws_set_opaque_user_data(wsi, NULL);
      push_event(lp, FH_EV_ERROR, c->id, 0, why, strlen(why));
      return -1;
    }
    c->tls_done = 1;
    if (tls_send(c, c->hs_req, c->hs_req_len) != 0) {
      return -1;
    }
  }
  uint8_t buf[65536];
  for (;;) {
    int n = SSL_read(c->ssl, buf, sizeof buf);
    if (n > 0) {
      if (raw_rx(lp, c, wsi, buf, (size_t)n) < 0) {
        return -1;
      }
      if (c->gone) {
        return -1;
      }
      continue;
    }
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ) {
      break;
    }
    ERR_clear_error();
    if (e == SSL_ERROR_ZERO_RETURN) {  // close_notify
      return -1;
    }
    return protocol_error(c, "TLS read failed");
  }
  return tls_flush(c) == 0 ? 0 : -1;
}

static int append_headers(fh_conn *c, struct lws *wsi, unsigned char **p, unsigned char *end)
{
  if (!c->headers) {
    return 0;
  }
  char name[256];
  for (const char *line = c->headers; *line;) {
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

// The wsi forgets the slot, which the next poll frees.
static void conn_gone(fh_loop *lp, fh_conn *c, struct lws *wsi, int code, const char *reason)
{
  lws_set_opaque_user_data(wsi, NULL);
  if (c->gone) {
    return;
  }
  c->gone = 1;
  c->wsi = NULL;
  push_event(lp, FH_EV_CLOSE, c->id, code, reason, strlen(reason));
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
  struct lws_context *ctx = lws_get_context(wsi);
  fh_loop *lp = ctx ? lws_context_user(ctx) : NULL;
  fh_conn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;
  if (!lp) {
    return 0;
  }
  switch (reason) {
  case LWS_CALLBACK_RAW_RX_FILE: {
    uint64_t expirations;
    if (read(lws_get_socket_fd(wsi), &expirations, sizeof expirations) < 0 && errno != EAGAIN) {
      return -1;
    }
    lp->woke = 1;
    break;
  }
  case LWS_CALLBACK_RAW_CONNECTED:
    if (c) {
      c->connected = 1;
      c->wsi = wsi;
      if (c->ssl) {  // TLS first: the ClientHello
        SSL_do_handshake(c->ssl);
        if (tls_flush(c) != 0) {
          return -1;
        }
      }
      lws_callback_on_writable(wsi);  // the upgrade request (or the ClientHello) waits first
    }
    break;
  case LWS_CALLBACK_RAW_RX:
    if (c) {
      return c->ssl ? tls_rx(lp, c, wsi, in, len) : raw_rx(lp, c, wsi, in, len);
    }
    break;
  case LWS_CALLBACK_RAW_WRITEABLE:
    if (c) {
      return writable(c, wsi);
    }
    break;
  case LWS_CALLBACK_RAW_CLOSE:
    if (c) {
      if (!c->hs_done && !c->gone) {
        c->gone = 1;
        c->wsi = NULL;
        lws_set_opaque_user_data(wsi, NULL);
        push_event(lp, FH_EV_ERROR, c->id, 0, "closed during the handshake", 27);
      } else if (c->peer_code) {
        conn_gone(lp, c, wsi, c->peer_code, c->peer_reason);
      } else if (c->closing) {
        conn_gone(lp, c, wsi, c->close_code, "closed by host");
      } else {
        conn_gone(lp, c, wsi, 1006, "connection lost");
      }
    }
    break;
  case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
    if (c) {
      unsigned char **p = (unsigned char **)in;
      return append_headers(c, wsi, p, *p + len);
    }
    break;
  case LWS_CALLBACK_CLIENT_ESTABLISHED:
    if (c) {
      c->wsi = wsi;
      push_event(lp, FH_EV_OPEN, c->id, 0, NULL, 0);
      if (c->out_n || c->closing) {
        lws_callback_on_writable(wsi);
      }
    }
    break;
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    if (c && !c->gone) {
      const char *why = in ? (const char *)in : "connection failed";
      int status = (int)lws_http_client_http_response(wsi);
      c->gone = 1;
      c->wsi = NULL;
      lws_set_opaque_user_data(wsi, NULL);
      push_event(lp, FH_EV_ERROR, c->id, status, why, strlen(why));
    }
    break;
  case LWS_CALLBACK_ESTABLISHED: {  // a client reached one of our listeners
    fh_conn *s = conn_new(lp, 0);
    if (!s) {
      return -1;
    }
    s->server = 1;
    s->wsi = wsi;
    struct lws_vhost *vh = lws_get_vhost(wsi);
    for (int i = 0; i < lp->nlisteners; i++) {
      if (lp->listeners[i] == vh) {
        s->listener = i + 1;
      }
    }
    lws_set_opaque_user_data(wsi, s);
    push_event(lp, FH_EV_OPEN, s->id, s->listener, NULL, 0);
    break;
  }
  case LWS_CALLBACK_CLIENT_RECEIVE:
  case LWS_CALLBACK_RECEIVE:
    if (c) {
      receive(lp, c, wsi, in, len);
    }
    break;
  case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
  case LWS_CALLBACK_RECEIVE_PONG:
    if (c) {
      push_event(lp, FH_EV_PONG, c->id, 0, NULL, 0);
    }
    break;
  case LWS_CALLBACK_CLIENT_WRITEABLE:
  case LWS_CALLBACK_SERVER_WRITEABLE:
    if (c) {
      return writable(c, wsi);
    }
    break;
  case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
    if (c && len >= 2) {
      const unsigned char *b = in;
      c->peer_code = (b[0] << 8) | b[1];
      size_t n = len - 2 < sizeof c->peer_reason - 1 ? len - 2 : sizeof c->peer_reason - 1;
      memcpy(c->peer_reason, b + 2, n);
      c->peer_reason[n] = 0;
    }
    break;
  case LWS_CALLBACK_CLIENT_CLOSED:
  case LWS_CALLBACK_CLOSED:
    if (c) {
      if (c->peer_code) {
        conn_gone(lp, c, wsi, c->peer_code, c->peer_reason);
      } else if (c->closing) {
        conn_gone(lp, c, wsi, c->close_code, "closed by host");
      } else {
        conn_gone(lp, c, wsi, 1006, "connection lost");
      }
    }
    break;
  case LWS_CALLBACK_WSI_DESTROY:
    if (c) {
      conn_gone(lp, c, wsi, 1006, "connection lost");
    }
    break;
  default:
    break;
  }
  return 0;
}

static struct lws_vhost *client_vhost_for(fh_loop *lp, const char *ca_file, int deflate,
                                          char *err);

// ---- public ------------------------------------------------------------------------------------
fh_loop *fh_loop_new(char *err)
{
  fh_loop *lp = calloc(1, sizeof *lp);
  if (!lp) {
    snprintf(err, 256, "out of memory");
    return NULL;
  }
  // libwebsockets logs nothing unless FH_LWS_LOG gives its level mask (e.g. 15: errors to info)
  const char *lws_log = getenv("FH_LWS_LOG");
  lws_set_log_level(lws_log ? atoi(lws_log) : 0, NULL);
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
  info.pt_serv_buf_size = 256 * 1024;   // bytes read per recv (default 4096)
  info.user = lp;
  lp->ctx = lws_create_context(&info);
  if (!lp->ctx) {
    snprintf(err, 256, "libwebsockets: cannot create a context");
    free(lp);
    return NULL;
  }
  // the default client vhost: system trust store, deflate offered
  struct lws_vhost *vh = client_vhost_for(lp, NULL, 1, err);
  if (!vh) {
    fh_loop_free(lp);
    return NULL;
  }
  if (RAND_bytes((unsigned char *)&lp->mask_state, sizeof lp->mask_state) != 1 ||
      !lp->mask_state) {
    lp->mask_state = 0x9E3779B9u ^ (uint32_t)time(NULL);
  }
  lp->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  lws_sock_file_fd_type fd;
  fd.filefd = lp->timer_fd;
  if (lp->timer_fd < 0 ||
      !lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, fd, "feedhost-timer", NULL)) {
    snprintf(err, 256, "cannot add a timer to the event loop: %s", strerror(errno));
    fh_loop_free(lp);
    return NULL;
  }
  return lp;
}

void fh_loop_free(fh_loop *lp)
{
  if (!lp) {
    return;
  }
  if (sig_ctx == lp->ctx) {
    sig_ctx = NULL;
  }
  lws_context_destroy(lp->ctx);   // closes every wsi; callbacks may still push events
  for (int i = 0; i < lp->nconns; i++) {
    conn_free(lp->conns[i]);
  }
  free(lp->conns);
  for (int i = 0; i < lp->ntls; i++) {
    SSL_CTX_free(lp->tls[i].ctx);
    free(lp->tls[i].ca_file);
  }
  free(lp->tls);
  for (int i = 0; i < lp->ncvh; i++) {
    free(lp->cvh[i].ca_file);
  }
  free(lp->cvh);
  free(lp->listeners);
  for (int i = 0; i < lp->nev; i++) {
    free(lp->ev[i].text);
  }
  free(lp->ev);
  free(lp);
}

static struct lws_vhost *client_vhost_for(fh_loop *lp, const char *ca_file, int deflate,
                                          char *err)
{
  for (int i = 0; i < lp->ncvh; i++) {
    client_vhost *v = &lp->cvh[i];
    if (v->deflate == deflate && same_file(ca_file, v->ca_file)) {
      return v->vh;
    }
  }
  client_vhost *cv = realloc(lp->cvh, (size_t)(lp->ncvh + 1) * sizeof *cv);
  if (!cv) {
    snprintf(err, 256, "out of memory");
    return NULL;
  }
  lp->cvh = cv;
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = protocols;
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info.client_ssl_ca_filepath = ca_file;
  info.extensions = deflate ? exts_deflate : NULL;
  char name[32];
  snprintf(name, sizeof name, "client%d", lp->ncvh);
  info.vhost_name = name;
  struct lws_vhost *vh = lws_create_vhost(lp->ctx, &info);
  if (!vh) {
    snprintf(err, 256, "cannot set up TLS%s%s", ca_file ? " with CA file " : "",
             ca_file ? ca_file : "");
    return NULL;
  }
  cv[lp->ncvh].vh = vh;
  cv[lp->ncvh].ca_file = ca_file ? strdup(ca_file) : NULL;
  cv[lp->ncvh].deflate = deflate;
  lp->ncvh++;
  return vh;
}

int fh_loop_connect(fh_loop *lp, const fh_connect_opts *o, char *err)
{
  struct lws_vhost *vh = client_vhost_for(lp, o->ca_file, o->deflate, err);
  if (!vh) {
    return -1;
  }
  fh_conn *c = conn_new(lp, o->max_frame);
  if (!c) {
    snprintf(err, 256, "out of memory");
    return -1;
  }
  c->headers = o->headers && *o->headers ? strdup(o->headers) : NULL;
  // Without deflate the WebSocket protocol is done here (frames parsed a header at a time);
  // with it, by libwebsockets (which inflates, but parses every byte through a call).
  // wss:// on this path does its TLS with OpenSSL over the raw connection: lws 4.1.6 fails a
  // raw client connection with its own TLS at once ("lws_tls_client_connect: n -1, m 5,
  // errno 9 ... tls start fail", seen with FH_LWS_LOG=15).
  c->raw = !o->deflate;
  if (c->raw) {
    uint8_t rnd[16];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
      for (size_t i = 0; i < sizeof rnd; i++) {
        rnd[i] = (uint8_t)next_mask(lp);
      }
    }
    fh_ws_key(rnd, c->key);
    char req[8192];
    size_t n = fh_ws_request(req, sizeof req, o->host, o->port, o->tls, o->path, c->key,
                             o->headers);
    if (!n) {
      snprintf(err, 256, "handshake request too long");
      c->gone = 1;
      return -1;
    }
    if (o->tls) {
      c->ssl = tls_new(lp, o, err);
      c->hs_req = malloc(n);
      if (!c->ssl || !c->hs_req) {
        if (c->ssl && !c->hs_req) {
          snprintf(err, 256, "out of memory");
        }
        c->gone = 1;
        return -1;
      }
      memcpy(c->hs_req, req, n);
      c->hs_req_len = n;
    } else if (queue_bytes(c, OUT_RAW, req, n, n) != 0) {
      snprintf(err, 256, "out of memory");
      c->gone = 1;
      return -1;
    }
  }
  struct lws_client_connect_info ci;
  memset(&ci, 0, sizeof ci);
  ci.context = lp->ctx;
  ci.vhost = vh;
  ci.address = o->host;
  ci.port = o->port;
  ci.path = o->path && *o->path ? o->path : "/";
  ci.host = o->host;
  ci.origin = o->host;
  ci.local_protocol_name = protocols[0].name;
  ci.opaque_user_data = c;
  if (c->raw) {
    ci.method = "RAW";
  }
  if (o->tls && !c->raw) {
    ci.ssl_connection = LCCSCF_USE_SSL;
    if (!o->verify) {
      ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                           LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
    }
  }
  struct lws *wsi = NULL;
  ci.pwsi = &wsi;
  // A failure inside lws_client_connect_via_info is also reported through
  // CLIENT_CONNECTION_ERROR, so the caller always sees one ERROR or OPEN event for this id.
  lws_client_connect_via_info(&ci);
  c->wsi = wsi;
  if (!wsi && !c->gone) {
    c->gone = 1;
    push_event(lp, FH_EV_ERROR, c->id, 0, "cannot start the connection", 27);
  }
  return c->id;
}

int fh_loop_listen(fh_loop *lp, const char *host, int port, int *bound, char *err)
{
  struct lws_vhost **l = realloc(lp->listeners, (size_t)(lp->nlisteners + 1) * sizeof *l);
  if (!l) {
    snprintf(err, 256, "out of memory");
    return -1;
  }
  lp->listeners = l;
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = port;
  info.iface = host;
  info.protocols = protocols;
  info.extensions = exts_deflate;   // agree to permessage-deflate when a client offers it
  info.options = LWS_SERVER_OPTION_DISABLE_IPV6;   // so `iface` binds that IPv4 address only
  char name[32];
  snprintf(name, sizeof name, "listen%d", lp->nlisteners);
  info.vhost_name = name;
  struct lws_vhost *vh = lws_create_vhost(lp->ctx, &info);
  if (!vh) {
    snprintf(err, 256, "cannot listen on %s:%d", host ? host : "*", port);
    return -1;
  }
  l[lp->nlisteners++] = vh;
  *bound = lws_get_vhost_listen_port(vh);
  return lp->nlisteners;
}

static int enqueue(fh_loop *lp, int id, int kind, const char *data, size_t len)
{
  fh_conn *c = find(lp, id);
  if (!c || c->gone || c->closing) {
    return -1;
  }
  if (c->raw) {
    return queue_frame(lp, c, kind == OUT_PING ? FH_WS_PING
                              : kind == FH_FRAME_BINARY ? FH_WS_BINARY : FH_WS_TEXT, data, len);
  }
  return queue_bytes(c, kind, data, len, len);
}

int fh_loop_send(fh_loop *lp, int id, int kind, const char *data, size_t len)
{
  return enqueue(lp, id, kind, data, len);
}

int fh_loop_ping(fh_loop *lp, int id)
{
  return enqueue(lp, id, OUT_PING, "", 0);
}

int fh_loop_close(fh_loop *lp, int id, int code, const char *reason)
{
  fh_conn *c = find(lp, id);
  if (!c || c->gone) {
    return -1;
  }
  if (c->closing) {
    return 0;
  }
  c->close_code = code ? code : 1000;
  snprintf(c->close_reason, sizeof c->close_reason, "%s", reason ? reason : "");
  if (c->raw) {
    if (!c->hs_done) {  // nothing to say yet: drop the connection when it can be written
      c->closing = 1;
    } else {
      uint8_t payload[2 + sizeof c->close_reason];
      payload[0] = (uint8_t)(c->close_code >> 8);
      payload[1] = (uint8_t)c->close_code;
      size_t rl = strlen(c->close_reason);
      memcpy(payload + 2, c->close_reason, rl);
      queue_frame(lp, c, FH_WS_CLOSE, payload, 2 + (rl > 123 ? 123 : rl));
      c->closing = 1;
    }
  } else {
    c->closing = 1;
  }
  if (c->wsi && (!c->raw || c->connected)) {
    lws_callback_on_writable(c->wsi);
  }
  return 0;
}

static int64_t mono_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// Forgets what the previous poll reported: event texts, cleared batches, freed connections.
static void reset_reported(fh_loop *lp)
{
  // events queued since (by connect or send, between polls) stay for this poll
  int done = lp->nev_reported;
  for (int i = 0; i < done; i++) {
    free(lp->ev[i].text);
  }
  if (done) {
    memmove(lp->ev, lp->ev + done, (size_t)(lp->nev - done) * sizeof *lp->ev);
    lp->nev -= done;
  }
  lp->nev_reported = 0;
  int keep = 0;
  for (int i = 0; i < lp->nconns; i++) {
    fh_conn *c = lp->conns[i];
    if (c->reported) {
      fh_batch_clear(c->batch);
      c->reported = 0;
    }
    if (c->gone) {
      conn_free(c);
      continue;
    }
    lp->conns[keep++] = c;
  }
  lp->nconns = keep;
  lp->frames = lp->bytes = 0;
}

int fh_loop_poll(fh_loop *lp, int timeout_ms, const fh_event **events)
{
  reset_reported(lp);
  if (timeout_ms > 0) {
    // lws 4.1.6 waits for its own timers only (an lws_sul of ours bounded the wait in some runs
    // and not in others, and its callback never ran): a timerfd in the loop ends the wait.
    int64_t deadline = mono_ns() + (int64_t)timeout_ms * 1000000;
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = timeout_ms / 1000;
    its.it_value.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
    timerfd_settime(lp->timer_fd, 0, &its, NULL);
    lp->woke = 0;
    while (!lp->nev && !sig_pending && !lp->woke && mono_ns() < deadline) {
      if (lws_service(lp->ctx, 0) < 0) {
        break;
      }
    }
  }
  // gather what else is ready without waiting, up to the batch limits
  for (int spins = 0; spins < 64 && lp->frames < POLL_FRAMES_MAX && lp->bytes < POLL_BYTES_MAX;
       spins++) {
    uint32_t before = lp->frames;
    int nev = lp->nev;
    if (lws_service(lp->ctx, -1) < 0) {
      break;
    }
    if (lp->frames == before && lp->nev == nev) {
      break;
    }
  }
  if (sig_pending) {
    int sig = sig_pending;
    sig_pending = 0;
    push_event(lp, FH_EV_SIGNAL, 0, sig, NULL, 0);
  }
  for (int i = 0; i < lp->nconns; i++) {
    fh_conn *c = lp->conns[i];
    if (c->ready) {
      c->ready = 0;
      c->reported = 1;
    }
  }
  *events = lp->ev;
  lp->nev_reported = lp->nev;
  return lp->nev;
}

fh_batch *fh_loop_batch(fh_loop *lp, int id)
{
  fh_conn *c = find(lp, id);
  return c ? c->batch : NULL;
}

int fh_loop_stats(fh_loop *lp, int id, fh_conn_stats *out)
{
  fh_conn *c = find(lp, id);
  if (!c) {
    return -1;
  }
  *out = c->st;
  out->out_queued = c->out_n;
  return 0;
}
