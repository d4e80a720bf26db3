// zmq.c: the "zmq" transport: ZeroMQ sockets on the loop's thread (libzmq; one context per
// loop, shared by its connections, hung on the loop with fh_loop_attach).
//
// ZMQ_FD is a signal, not data: it turns readable when the socket's events may have changed and
// stays quiet until ZMQ_EVENTS is read again. The loop watches a dup of each socket's ZMQ_FD as
// a raw descriptor (libwebsockets closes what it adopts; ZMQ_FD itself belongs to zmq). Every
// wake-up drains the socket: ZMQ_EVENTS read, messages received with ZMQ_DONTWAIT until EAGAIN,
// waiting sends flushed while ZMQ_POLLOUT holds. A drain stops after DRAIN_MAX messages so one
// busy socket cannot hold the loop, and asks the loop to call it again (fh_conn_again) after the
// service round, since the descriptor will not signal again; a send may consume the signal, so
// after one the socket is looked at again too.
//
// The connection is open at once: ZeroMQ connects in the background and reconnects by itself,
// and a SUB socket has no "connected" event. A publisher that stays silent is what the spec's
// heartbeat.idle_timeout catches (the connection then closes and opens new sockets). A peer that
// goes away is seen: the connected data and command sockets are watched (zmq_socket_monitor, an
// inproc PAIR socket each, in the loop like the others), and their peer's disconnect ends the
// connection (FH_EV_CLOSE, lost), so it comes back with backoff and subscribes again: a
// restarted peer (the DWX EA) knows nothing of what was asked before. What the peer sent before
// it went is taken first: the close is reported once the receiving sockets are drained.
//
// Sockets: the data socket (socket_type SUB, PULL, DEALER or PAIR, on `endpoint`; bound with
// bind=1, else connected), a command socket for what the connection sends (command_socket_type
// PUSH, DEALER or PAIR, on command_endpoint), and a reply socket (PULL, on reply_endpoint) whose
// messages arrive as frames with the topic "reply". Without a command socket, sends go to a data
// socket that can send. Subscribe requests set the SUB socket's prefixes (ZMQ_SUBSCRIBE,
// ZMQ_UNSUBSCRIBE). A message of one part is a frame; of several, each part after the first is a
// frame with the first part as its topic.
//
// Options: endpoint, socket_type, bind, command_endpoint, command_socket_type, reply_endpoint,
// rcvhwm, sndhwm, binary (messages become binary frames), max_frame.
#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "core/conn.h"
#include "net/outq.h"
#include "net/topics.h"
#include "net/transports.h"

enum { DATA, COMMAND, REPLY, MON_DATA, MON_COMMAND, NSOCK };
enum { DRAIN_MAX = 1024, COMMAND_LINGER_MS = 200 };

typedef struct zq zq;

typedef struct zsock {
  fh_io io;
  zq *z;
  void *sock;            // NULL: not used
  struct lws *wsi;       // the adopted dup of ZMQ_FD
  int type;              // ZMQ_SUB, ...
  const char *topic;     // metadata of its single-part messages (the reply socket's "reply")
  struct zsock *watched; // a monitor's socket
  char *endpoint;        // where it connects (for messages)
} zsock;

struct zq {
  fh_conn *c;
  zsock s[NSOCK];
  zsock *out;            // the socket sends go to, or NULL
  fh_outq q;             // sends waiting for room (the high-water mark)
  int kind;              // FH_FRAME_TEXT or FH_FRAME_BINARY
  int closing;
  char lost[FH_ERR_LEN]; // a peer went away: why; the connection ends once drained
};

// ---- the loop's context -----------------------------------------------------------------------
static void ctx_free(void *ctx)
{
  zmq_ctx_term(ctx);   // every socket is closed by now (connections go before attachments)
}

static void *context(fh_loop *lp, char *err)
{
  static const char key[] = "zmq-context";
  void *ctx = fh_loop_attached(lp, key);
  if (!ctx) {
    ctx = zmq_ctx_new();
    if (!ctx || fh_loop_attach(lp, key, ctx, ctx_free) != 0) {
      if (ctx) {
        zmq_ctx_term(ctx);
      }
      snprintf(err, FH_ERR_LEN, "cannot make a ZeroMQ context: %s", zmq_strerror(errno));
      return NULL;
    }
  }
  return ctx;
}

static int socket_type(const char *name, int dflt)
{
  static const struct {
    const char *name;
    int type;
  } types[] = { { "SUB", ZMQ_SUB }, { "PULL", ZMQ_PULL }, { "DEALER", ZMQ_DEALER },
                { "PAIR", ZMQ_PAIR }, { "PUSH", ZMQ_PUSH } };
  if (!name || !*name) {
    return dflt;
  }
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    if (!strcmp(name, types[i].name)) {
      return types[i].type;
    }
  }
  return -1;
}

// ---- receiving ----------------------------------------------------------------------------------
static void frame(zq *z, const char *topic, size_t tlen, zmq_msg_t *m, int64_t ts)
{
  fh_conn *c = z->c;
  size_t len = zmq_msg_size(m);
  if (len > c->max_frame) {
    c->st.oversize++;
    fh_conn_event(c, FH_EV_OVERSIZE, len > INT32_MAX ? INT32_MAX : (int)len, 0, NULL);
    return;
  }
  fh_conn_frame_at(c, z->kind, ts, topic, tlen, zmq_msg_data(m), len);
}

// One message (all its parts). @return 1 taken, 0 none waiting, -1 error
static int receive(zsock *k)
{
  zmq_msg_t first;
  zmq_msg_init(&first);
  if (zmq_msg_recv(&first, k->sock, ZMQ_DONTWAIT) < 0) {
    zmq_msg_close(&first);
    return errno == EAGAIN || errno == EINTR ? 0 : -1;
  }
  int64_t ts = fh_clock_ns(FH_CLOCK_REALTIME);
  if (!zmq_msg_more(&first)) {
    frame(k->z, k->topic, k->topic ? strlen(k->topic) : 0, &first, ts);
    zmq_msg_close(&first);
    return 1;
  }
  int more = 1;
  while (more) {   // the parts of a message arrive together: no wait
    zmq_msg_t part;
    zmq_msg_init(&part);
    if (zmq_msg_recv(&part, k->sock, 0) < 0) {
      zmq_msg_close(&part);
      break;
    }
    frame(k->z, zmq_msg_data(&first), zmq_msg_size(&first), &part, ts);
    more = zmq_msg_more(&part);
    zmq_msg_close(&part);
  }
  zmq_msg_close(&first);
  return 1;
}

// Sends what waits while the socket takes it. @return 0, or -1 on an error of the socket
static int flush(zq *z)
{
  fh_out *m;
  while ((m = fh_outq_head(&z->q))) {
    if (zmq_send(z->out->sock, m->buf + LWS_PRE, m->len, ZMQ_DONTWAIT) < 0) {
      return errno == EAGAIN || errno == EINTR ? 0 : -1;
    }
    z->c->st.bytes_out += m->len;
    fh_outq_pop(&z->q);
  }
  return 0;
}

static void fail(zq *z, const char *what)
{
  char why[FH_ERR_LEN];
  snprintf(why, sizeof why, "ZeroMQ %s failed: %s", what, zmq_strerror(errno));
  fh_conn_gone(z->c, FH_EV_CLOSE, FH_CLOSE_LOST, 0, why);
}

// A monitor's event (two parts: 16-bit event and 32-bit value, then the endpoint): the watched
// socket's peer going away ends the connection. @return 1 taken, 0 none waiting, -1 error
static int monitor_event(zsock *k)
{
  zmq_msg_t ev;
  zmq_msg_init(&ev);
  if (zmq_msg_recv(&ev, k->sock, ZMQ_DONTWAIT) < 0) {
    zmq_msg_close(&ev);
    return errno == EAGAIN || errno == EINTR ? 0 : -1;
  }
  uint16_t event = 0;
  if (zmq_msg_size(&ev) >= 2) {
    memcpy(&event, zmq_msg_data(&ev), 2);
  }
  while (zmq_msg_more(&ev)) {   // the endpoint part
    zmq_msg_close(&ev);
    zmq_msg_init(&ev);
    if (zmq_msg_recv(&ev, k->sock, 0) < 0) {
      break;
    }
  }
  zmq_msg_close(&ev);
  zq *z = k->z;
  if (event == ZMQ_EVENT_DISCONNECTED && !z->lost[0]) {
    snprintf(z->lost, sizeof z->lost, "the peer at %s went away", k->watched->endpoint);
    for (int i = DATA; i <= REPLY; i++) {   // drained after this round, then the close
      if (z->s[i].sock) {
        fh_conn_again(z->c, &z->s[i].io);
      }
    }
  }
  return 1;
}

// After a peer went away: the close, once no receiving socket holds a message.
static void end_when_drained(zq *z)
{
  for (int i = DATA; i <= REPLY; i++) {
    int ev = 0;
    size_t sz = sizeof ev;
    if (i != COMMAND && z->s[i].sock &&
        zmq_getsockopt(z->s[i].sock, ZMQ_EVENTS, &ev, &sz) == 0 && (ev & ZMQ_POLLIN)) {
      fh_conn_again(z->c, &z->s[i].io);   // reading ZMQ_EVENTS took its signal
      return;
    }
  }
  fh_conn_gone(z->c, FH_EV_CLOSE, FH_CLOSE_LOST, 0, z->lost);
}

// A wake-up of socket `k`: receive and send until zmq says it would block (at most DRAIN_MAX
// messages, then again after the service round). ZMQ_EVENTS is read once per drain until
// EAGAIN (reading it re-arms the descriptor), not once per message.
static void service(zsock *k)
{
  zq *z = k->z;
  int n = 0;
  for (;;) {
    int ev = 0;
    size_t sz = sizeof ev;
    if (zmq_getsockopt(k->sock, ZMQ_EVENTS, &ev, &sz) != 0) {
      fail(z, "ZMQ_EVENTS");
      return;
    }
    if ((ev & ZMQ_POLLOUT) && k == z->out && z->q.n && flush(z) != 0) {
      fail(z, "send");
      return;
    }
    if (!(ev & ZMQ_POLLIN)) {
      if (z->lost[0] && !k->watched) {
        end_when_drained(z);
      }
      return;
    }
    for (int r = 1; r > 0; n++) {
      if (n == DRAIN_MAX) {
        fh_conn_again(z->c, &k->io);
        return;
      }
      r = k->watched ? monitor_event(k) : receive(k);
      if (r < 0) {
        fail(z, "receive");
        return;
      }
    }
  }
}

static int on_lws(fh_io *io, struct lws *wsi, int reason, void *in, size_t len)
{
  zsock *k = (zsock *)io;
  switch (reason) {
  case LWS_CALLBACK_RAW_RX_FILE:
  case FH_IO_AGAIN:
    if (!k->z->c->gone && k->sock) {
      service(k);
    }
    return 0;
  case LWS_CALLBACK_RAW_CLOSE_FILE:
    k->wsi = NULL;
    return 0;
  default:
    return 0;
  }
}

// ---- sockets ------------------------------------------------------------------------------------
static void set_int(void *sock, int opt, long long v)
{
  int x = (int)v;
  zmq_setsockopt(sock, opt, &x, sizeof x);
}

// Watches socket `k`'s ZMQ_FD in the loop. @return 0, or -1 with `err`
static int watch(zq *z, zsock *k, char *err)
{
  int fd = -1;
  size_t sz = sizeof fd;
  // a copy (lws closes what it adopts), not inherited by child processes
  if (zmq_getsockopt(k->sock, ZMQ_FD, &fd, &sz) != 0 ||
      (fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
    snprintf(err, FH_ERR_LEN, "cannot watch the ZeroMQ socket: %s", strerror(errno));
    return -1;
  }
  k->wsi = fh_loop_adopt_file(z->c->lp, fd, &k->io);
  if (!k->wsi) {
    close(fd);
    snprintf(err, FH_ERR_LEN, "cannot watch the ZeroMQ socket in the loop");
    return -1;
  }
  fh_conn_again(z->c, &k->io);   // a first look at its events
  return 0;
}

// Makes socket `k` of `type` on `endpoint` and watches it. @return 0, or -1 with `err`
static int make_socket(zq *z, zsock *k, void *ctx, int type, const char *endpoint, int bind,
                       const fh_opts *o, char *err)
{
  k->io.on = on_lws;
  k->z = z;
  k->type = type;
  k->endpoint = strdup(endpoint);
  k->sock = zmq_socket(ctx, type);
  if (!k->sock || !k->endpoint) {
    snprintf(err, FH_ERR_LEN, "cannot make a ZeroMQ socket: %s", zmq_strerror(errno));
    return -1;
  }
  set_int(k->sock, ZMQ_LINGER, k == &z->s[COMMAND] ? COMMAND_LINGER_MS : 0);
  long long hwm = fh_opt_int(o, "rcvhwm", -1);
  if (hwm >= 0) {
    set_int(k->sock, ZMQ_RCVHWM, hwm);
  }
  hwm = fh_opt_int(o, "sndhwm", -1);
  if (hwm >= 0) {
    set_int(k->sock, ZMQ_SNDHWM, hwm);
  }
  if ((bind ? zmq_bind(k->sock, endpoint) : zmq_connect(k->sock, endpoint)) != 0) {
    snprintf(err, FH_ERR_LEN, "cannot %s %s: %s", bind ? "bind" : "connect to", endpoint,
             zmq_strerror(errno));
    return -1;
  }
  return watch(z, k, err);
}

// Watches the peer of connected socket `k` through monitor socket `m`. @return 0, or -1
static int monitor(zq *z, zsock *k, zsock *m, void *ctx, char *err)
{
  char addr[64];
  snprintf(addr, sizeof addr, "inproc://feedhost-monitor-%p", (void *)k);
  m->io.on = on_lws;
  m->z = z;
  m->watched = k;
  m->type = ZMQ_PAIR;
  if (zmq_socket_monitor(k->sock, addr, ZMQ_EVENT_DISCONNECTED) != 0 ||
      !(m->sock = zmq_socket(ctx, ZMQ_PAIR)) || zmq_connect(m->sock, addr) != 0) {
    snprintf(err, FH_ERR_LEN, "cannot watch the ZeroMQ socket's peer: %s", zmq_strerror(errno));
    return -1;
  }
  set_int(m->sock, ZMQ_LINGER, 0);
  return watch(z, m, err);
}

// Closes the sockets (idempotent); their descriptors leave the loop at its next service.
static void shut(zq *z)
{
  for (int i = 0; i < NSOCK; i++) {
    zsock *k = &z->s[i];
    if (k->sock && i < MON_DATA) {
      zmq_socket_monitor(k->sock, NULL, 0);   // its monitor stops before the sockets close
    }
    if (k->wsi) {
      lws_set_opaque_user_data(k->wsi, NULL);
      lws_set_timeout(k->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
      k->wsi = NULL;
    }
    if (k->sock) {
      zmq_close(k->sock);
      k->sock = NULL;
    }
    free(k->endpoint);
    k->endpoint = NULL;
  }
}

static int open_zmq(fh_conn *c, const fh_opts *o, char *err)
{
  const char *endpoint = fh_opt_need(o, "endpoint", err);
  void *ctx = endpoint ? context(c->lp, err) : NULL;
  zq *z = ctx ? fh_conn_state(c, sizeof *z, err) : NULL;
  if (!z) {
    return -1;
  }
  z->c = c;
  z->kind = fh_opt_bool(o, "binary", 0) ? FH_FRAME_BINARY : FH_FRAME_TEXT;
  int data_type = socket_type(fh_opt_str(o, "socket_type"), ZMQ_SUB);
  int cmd_type = socket_type(fh_opt_str(o, "command_socket_type"), ZMQ_PUSH);
  if (data_type < 0 || data_type == ZMQ_PUSH || cmd_type < 0 || cmd_type == ZMQ_SUB ||
      cmd_type == ZMQ_PULL) {
    snprintf(err, FH_ERR_LEN, "unsupported ZeroMQ socket type");
    return -1;
  }
  if (fh_outq_init(&z->q, FH_OUTQ_MAX) != 0) {
    snprintf(err, FH_ERR_LEN, "out of memory");
    return -1;
  }
  c->queued = &z->q.n;
  int bind = fh_opt_bool(o, "bind", 0);
  if (make_socket(z, &z->s[DATA], ctx, data_type, endpoint, bind, o, err) ||
      (!bind && monitor(z, &z->s[DATA], &z->s[MON_DATA], ctx, err))) {
    return -1;
  }
  const char *cmd = fh_opt_str(o, "command_endpoint");
  if (cmd && *cmd && (make_socket(z, &z->s[COMMAND], ctx, cmd_type, cmd, 0, o, err) ||
                      monitor(z, &z->s[COMMAND], &z->s[MON_COMMAND], ctx, err))) {
    return -1;
  }
  const char *reply = fh_opt_str(o, "reply_endpoint");
  if (reply && *reply) {
    z->s[REPLY].topic = "reply";
    if (make_socket(z, &z->s[REPLY], ctx, ZMQ_PULL, reply, 0, o, err)) {
      return -1;
    }
  }
  z->out = z->s[COMMAND].sock ? &z->s[COMMAND]
           : data_type == ZMQ_DEALER || data_type == ZMQ_PAIR ? &z->s[DATA]
                                                             : NULL;
  fh_conn_event(c, FH_EV_OPEN, 0, 0, NULL);
  return 0;
}

// Subscribe requests: the SUB socket's prefixes (other data sockets have none).
static int set_prefixes(zq *z, int kind, const char *data, size_t len)
{
  zsock *k = &z->s[DATA];
  fh_topics t;
  char err[FH_ERR_LEN];
  if (fh_topics_parse(data, len, &t, err) != 0) {
    return -2;
  }
  int rc = 0;
  for (int i = 0; k->type == ZMQ_SUB && i < t.n; i++) {
    if (zmq_setsockopt(k->sock, kind == FH_SEND_SUBSCRIBE ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE,
                       t.topic[i], strlen(t.topic[i])) != 0) {
      rc = -2;
    }
  }
  fh_topics_free(&t);
  fh_conn_again(z->c, &k->io);
  return rc;
}

static int zmq_send_msg(fh_conn *c, int kind, const char *data, size_t len)
{
  zq *z = c->impl;
  if (z->closing) {
    return -1;
  }
  if (kind == FH_SEND_SUBSCRIBE || kind == FH_SEND_UNSUBSCRIBE) {
    return set_prefixes(z, kind, data, len);
  }
  if (!z->out) {
    return -1;
  }
  int sent = z->q.n ? -1 : zmq_send(z->out->sock, data, len, ZMQ_DONTWAIT);
  if (sent >= 0) {
    c->st.bytes_out += len;
  } else if (z->q.n || errno == EAGAIN || errno == EINTR) {
    // the high-water mark (or a PUSH with no peer yet): wait for room, in order
    unsigned char *dst = fh_outq_push(&z->q, 0, len, len);
    if (!dst) {
      c->st.out_dropped++;
      return -2;
    }
    memcpy(dst, data, len);
  } else {
    c->st.out_dropped++;
    return -2;
  }
  c->st.frames_out++;
  fh_conn_again(c, &z->out->io);   // the send may have taken the descriptor's signal
  return 0;
}

static int close_zmq(fh_conn *c, int code, const char *reason)
{
  zq *z = c->impl;
  if (z->closing) {
    return 0;
  }
  z->closing = 1;
  shut(z);
  fh_conn_gone(c, FH_EV_CLOSE, code, 0, "closed by host");
  return 0;
}

static void zmq_destroy(fh_conn *c)
{
  zq *z = c->impl;
  if (!z) {
    return;
  }
  shut(z);
  fh_outq_free(&z->q);
  free(z);
  c->impl = NULL;
}

const fh_transport fh_zmq = {
  .name = "zmq",
  .open = open_zmq,
  .send = zmq_send_msg,
  .close = close_zmq,
  .destroy = zmq_destroy,
};
