// loop.c: the loop core (see loop.h and conn.h): the poll and its wake-ups, events, the
// connection table, signals, attachments and the public calls. The services adapters call are in
// conn.c; protocols live in the adapters (host/net/).
#include "core/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/loop_impl.h"
#include "core/pollset.h"
#include "core/signals.h"
#include "net/transports.h"

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len);

const char fh_lws_protocol[] = "feedhost";

static const struct lws_protocols protocols[] = {
  { fh_lws_protocol, callback, 0, 65536, 0, NULL, 0 },
  { NULL, NULL, 0, 0, 0, NULL, 0 },
};

const struct lws_protocols *fh_loop_protocols(void)
{
  return protocols;
}

// Every lws callback goes to the state its wsi carries (an adapter's, or one of the loop's fds);
// the epoll set of an application's loop (fh_loop_fd) learns of descriptors here.
static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
  fh_loop *lp = wsi && reason != LWS_CALLBACK_GET_THREAD_ID
                  ? lws_context_user(lws_get_context(wsi)) : NULL;
  if (lp && lp->ps) {
    fh_pollset_callback(lp->ps, wsi, (int)reason);
  }
  fh_io *io = wsi ? lws_get_opaque_user_data(wsi) : NULL;
  return io ? io->on(io, wsi, (int)reason, in, len) : 0;
}

int64_t fh_clock_ns(int which)
{
  struct timespec ts;
  clock_gettime(which == FH_CLOCK_MONOTONIC ? CLOCK_MONOTONIC : CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// ---- events -------------------------------------------------------------------------------------
void fh_loop_push_event(fh_loop *lp, int kind, int id, int code, int aux, const char *text)
{
  if (lp->nev == lp->capev) {
    int cap = lp->capev ? lp->capev * 2 : 16;
    fh_event *ev = realloc(lp->ev, (size_t)cap * sizeof *ev);
    char **tx = realloc(lp->texts, (size_t)cap * sizeof *tx);
    if (ev) {
      lp->ev = ev;
    }
    if (tx) {
      lp->texts = tx;
    }
    if (!ev || !tx) {
      return;
    }
    lp->capev = cap;
  }
  int i = lp->nev++;
  lp->texts[i] = text ? strdup(text) : NULL;
  lp->ev[i] = (fh_event){ .kind = kind, .id = id, .code = code, .aux = aux, .text = lp->texts[i] };
}

// ---- the loop's own descriptors -------------------------------------------------------------------
// The timer rings at `at` (monotonic ns).
static void timer_set(fh_loop *lp, int64_t at)
{
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  its.it_value.tv_sec = at / 1000000000LL;
  its.it_value.tv_nsec = (long)(at % 1000000000LL);
  timerfd_settime(lp->timer.fd, TFD_TIMER_ABSTIME, &its, NULL);
  lp->timer_at = at;
}

static int own_fd_on(fh_io *io, struct lws *wsi, int reason, void *in, size_t len)
{
  own_fd *f = (own_fd *)io;
  if (reason == LWS_CALLBACK_RAW_RX_FILE) {
    uint64_t n;
    if (read(f->fd, &n, sizeof n) < 0 && errno != EAGAIN) {
      return -1;
    }
    fh_loop *lp = f->lp;
    if (f == &lp->timer) {
      lp->timer_at = 0;
      if (fh_clock_ns(FH_CLOCK_MONOTONIC) < lp->wait_until) {   // set for an earlier wait
        timer_set(lp, lp->wait_until);
        return 0;
      }
    }
    lp->woke = 1;
  }
  return 0;
}

// libwebsockets closes what it adopts when the context goes, before the connections are freed;
// threads of their libraries (paho's) may wake the loop until then. So it gets a copy, and the
// loop's own descriptor stays open until fh_loop_free is done with the connections: a late
// wake-up never writes to a closed descriptor, or to one the number was given to meanwhile.
static int adopt_own(fh_loop *lp, own_fd *f, int fd)
{
  f->io.on = own_fd_on;
  f->lp = lp;
  f->fd = fd;
  int copy = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) {
    return -1;
  }
  if (!fh_loop_adopt_file(lp, copy, &f->io)) {
    close(copy);
    return -1;
  }
  return 0;
}

// The duplicate of an output descriptor: room again (or hung up) ends the wait, once; lws then
// closes the duplicate (the callback's -1), so an idle loop never polls it.
static int out_fd_on(fh_io *io, struct lws *wsi, int reason, void *in, size_t len)
{
  own_fd *f = (own_fd *)io;
  (void)wsi;
  (void)in;
  (void)len;
  if (reason == LWS_CALLBACK_RAW_WRITEABLE_FILE) {
    f->lp->woke = 1;
    return -1;
  }
  if (reason == LWS_CALLBACK_RAW_CLOSE_FILE) {
    f->lp->woke = 1;
    f->wsi = NULL;
    f->fd = -1;
  }
  return 0;
}

int fh_loop_wait_writable(fh_loop *lp, int fd)
{
  own_fd *f = &lp->out;
  if (!f->wsi) {
    f->io.on = out_fd_on;
    f->lp = lp;
    f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);   // lws closes what it adopts
    f->wsi = f->fd < 0 ? NULL : fh_loop_adopt_file(lp, f->fd, &f->io);
    if (!f->wsi) {
      if (f->fd >= 0) {
        close(f->fd);
      }
      f->fd = -1;
      return -1;
    }
    lws_rx_flow_control(f->wsi, 0);   // room is all it waits for: never POLLIN
  }
  lws_callback_on_writable(f->wsi);
  return 0;
}

// A reader that went away shows only as POLLERR on a full pipe, which lws does not report for a
// raw file: while output waits, look at the descriptor itself too.
static void out_check(fh_loop *lp)
{
  own_fd *f = &lp->out;
  struct pollfd p = { .fd = f->fd, .events = POLLOUT };
  if (f->wsi && poll(&p, 1, 0) > 0) {
    lws_set_timeout(f->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_SYNC);
  }
}

void fh_loop_wake(fh_loop *lp)
{
  uint64_t one = 1;
  ssize_t w = write(lp->wake.fd, &one, sizeof one);
  (void)w;  // EAGAIN: the counter is full, the loop is awake anyway
}

// ---- public -------------------------------------------------------------------------------------
fh_loop *fh_loop_new(char *err)
{
  fh_loop *lp = calloc(1, sizeof *lp);
  if (!lp) {
    snprintf(err, FH_ERR_LEN, "out of memory");
    return NULL;
  }
  lp->sig_slot = -1;
  lp->timer.fd = lp->wake.fd = lp->out.fd = -1;
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
  lp->inbox = fh_inbox_new(INBOX_MSGS, INBOX_BYTES, INBOX_EVENTS);
  if (!lp->ctx || !lp->inbox) {
    snprintf(err, FH_ERR_LEN, "cannot create the event loop (libwebsockets context)");
    fh_loop_free(lp);
    return NULL;
  }
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = protocols;
  info.vhost_name = "default";
  lp->vhost = lws_create_vhost(lp->ctx, &info);
  if (!lp->vhost ||
      adopt_own(lp, &lp->timer, timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) ||
      adopt_own(lp, &lp->wake, eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC))) {
    snprintf(err, FH_ERR_LEN, "cannot set up the event loop: %s", strerror(errno));
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
  fh_loop_signals(lp, 0);
  if (lp->ctx) {
    lws_context_destroy(lp->ctx);   // closes every wsi (and the adopted fds); adapters report
  }
  for (int i = 0; i < lp->conns.n; i++) {
    fh_conn_free(lp->conns.all[i]);
  }
  fh_table_free(&lp->conns);
  fh_pollset_free(lp->ps);   // after the context: its closes report to the set
  while (lp->attached) {
    attachment *a = lp->attached;
    lp->attached = a->next;
    if (a->free_fn) {
      a->free_fn(a->ptr);
    }
    free(a->key);
    free(a);
  }
  for (int i = 0; i < lp->nev; i++) {
    free(lp->texts[i]);
  }
  free(lp->ev);
  free(lp->texts);
  free(lp->again);
  fh_inbox_free(lp->inbox);
  if (lp->timer.fd >= 0) {
    close(lp->timer.fd);
  }
  if (lp->wake.fd >= 0) {   // after the connections: no thread wakes the loop any more
    close(lp->wake.fd);
  }
  free(lp);
}

struct lws_context *fh_loop_lws(fh_loop *lp)
{
  return lp->ctx;
}

struct lws_vhost *fh_loop_vhost(fh_loop *lp)
{
  return lp->vhost;
}

void *fh_loop_attached(fh_loop *lp, const char *key)
{
  for (attachment *a = lp->attached; a; a = a->next) {
    if (strcmp(a->key, key) == 0) {
      return a->ptr;
    }
  }
  return NULL;
}

int fh_loop_attach(fh_loop *lp, const char *key, void *ptr, void (*free_fn)(void *))
{
  attachment *a = calloc(1, sizeof *a);
  if (!a || !(a->key = strdup(key))) {
    free(a);
    return -1;
  }
  a->ptr = ptr;
  a->free_fn = free_fn;
  a->next = lp->attached;
  lp->attached = a;
  return 0;
}

static int start(fh_loop *lp, const char *name, const fh_kv *kv, int nopts, char *err,
                 fh_conn **out)
{
  const fh_transport *t = fh_transport_find(name);
  if (!t) {
    snprintf(err, FH_ERR_LEN, "no transport '%s'", name ? name : "(null)");
    return -1;
  }
  fh_conn *c = fh_conn_new(lp, t);
  if (!c) {
    snprintf(err, FH_ERR_LEN, "out of memory");
    return -1;
  }
  fh_opts o = { kv, nopts };
  long long mf = fh_opt_int(&o, "max_frame", 0);
  if (mf > 0) {
    c->max_frame = (size_t)mf;
  }
  long long mq = fh_opt_int(&o, "max_queued", 0);
  if (mq > 0 && mq < INBOX_MSGS) {
    c->max_posted = (uint32_t)mq;
  }
  if (t->open(c, &o, err) != 0) {
    c->gone = 1;   // freed on the next poll, without an event: the caller has the error
    return -1;
  }
  *out = c;
  return c->id;
}

int fh_loop_open(fh_loop *lp, const char *name, const fh_kv *opts, int nopts, char *err)
{
  fh_conn *c;
  fh_pollset_kick(lp->ps);
  return start(lp, name, opts, nopts, err, &c);
}

int fh_loop_listen(fh_loop *lp, const char *name, const fh_kv *opts, int nopts, int *port,
                   char *err)
{
  fh_conn *c;
  fh_pollset_kick(lp->ps);
  int id = start(lp, name, opts, nopts, err, &c);
  if (id > 0) {
    *port = c->t->port ? c->t->port(c) : 0;
  }
  return id;
}

// The connection an id names, if it can still take messages.
static fh_conn *live(fh_loop *lp, int id)
{
  fh_conn *c = fh_table_find(&lp->conns, id);
  return c && !c->gone ? c : NULL;
}

int fh_loop_send(fh_loop *lp, int id, int kind, const char *data, size_t len)
{
  fh_conn *c = live(lp, id);
  fh_pollset_kick(lp->ps);
  return c && c->t->send ? c->t->send(c, kind, data, len) : -1;
}

int fh_loop_ping(fh_loop *lp, int id)
{
  fh_conn *c = live(lp, id);
  fh_pollset_kick(lp->ps);
  return c && c->t->ping ? c->t->ping(c) : -1;
}

int fh_loop_close(fh_loop *lp, int id, int code, const char *reason)
{
  fh_conn *c = live(lp, id);
  if (!c) {
    return -1;
  }
  fh_pollset_kick(lp->ps);
  return c->t->close(c, code ? code : FH_CLOSE_NORMAL, reason ? reason : "");
}

// Forgets what the previous poll reported: event texts, cleared batches, freed connections.
static void reset_reported(fh_loop *lp)
{
  // events queued since (by open or send, between polls) stay for this poll
  int done = lp->nev_reported;
  for (int i = 0; i < done; i++) {
    free(lp->texts[i]);
  }
  if (done) {
    int rest = lp->nev - done;
    memmove(lp->ev, lp->ev + done, (size_t)rest * sizeof *lp->ev);
    memmove(lp->texts, lp->texts + done, (size_t)rest * sizeof *lp->texts);
    lp->nev = rest;
  }
  lp->nev_reported = 0;
  for (int i = 0; i < lp->conns.n;) {
    fh_conn *c = lp->conns.all[i];
    if (c->reported) {
      fh_batch_clear(c->batch);
      c->reported = 0;
    }
    if (c->gone && !c->ready) {
      fh_table_remove_at(&lp->conns, i);
      fh_conn_free(c);
      continue;
    }
    i++;
  }
  lp->frames = lp->bytes = 0;
}

int fh_loop_poll(fh_loop *lp, int timeout_ms, const fh_event **events)
{
  reset_reported(lp);
  if (timeout_ms > 0) {
    // lws 4.1.6 waits for its own timers only (an lws_sul of ours bounded the wait in some runs
    // and not in others, and its callback never ran): a timerfd in the loop ends the wait. It is
    // set only when it would ring late or not at all: ringing early costs a turn of the wait
    // below (the ring sets it again), setting it cost a system call per poll (a step per frame
    // on a quiet feed).
    int64_t now = fh_clock_ns(FH_CLOCK_MONOTONIC);
    int64_t deadline = now + (int64_t)timeout_ms * 1000000;
    lp->wait_until = deadline;
    if (lp->timer_at <= now || lp->timer_at > deadline) {
      timer_set(lp, deadline);
    }
    lp->woke = 0;
    while (!lp->nev && !lp->woke && !lp->nagain &&
           fh_clock_ns(FH_CLOCK_MONOTONIC) < deadline) {
      if (lws_service(lp->ctx, 0) < 0) {
        break;
      }
      out_check(lp);
    }
  }
  // gather what else is ready without waiting, up to the batch limits
  int spins = 0;
  for (; spins < 64 && lp->frames < POLL_FRAMES_MAX && lp->bytes < POLL_BYTES_MAX; spins++) {
    uint32_t before = lp->frames;
    int nev = lp->nev;
    fh_loop_run_again(lp);
    if (lws_service(lp->ctx, -1) < 0) {
      break;
    }
    out_check(lp);
    if (lp->frames == before && lp->nev == nev && !lp->nagain) {
      break;
    }
  }
  if (lp->ps) {   // stopped by a limit, not for want of input (or adapters to call again):
                  // more may be waiting
    fh_pollset_round(lp->ps, spins == 64 || lp->frames >= POLL_FRAMES_MAX ||
                     lp->bytes >= POLL_BYTES_MAX || lp->nagain > 0 ||
                     !lws_service_adjust_timeout(lp->ctx, 1, 0));
  }
  fh_loop_take_posted(lp);
  for (int sig; (sig = fh_signals_take(lp->sig_slot)) != 0;) {
    fh_loop_push_event(lp, FH_EV_SIGNAL, 0, sig, 0, NULL);
  }
  for (int i = 0; i < lp->conns.n; i++) {
    fh_conn *c = lp->conns.all[i];
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
  fh_conn *c = fh_table_find(&lp->conns, id);
  return c ? c->batch : NULL;
}

int fh_loop_stats(fh_loop *lp, int id, fh_conn_stats *out)
{
  fh_conn *c = fh_table_find(&lp->conns, id);
  if (!c) {
    return -1;
  }
  *out = c->st;
  out->out_queued = c->queued ? *c->queued : 0;
  return 0;
}

int fh_loop_fd(fh_loop *lp, char *err)
{
  if (!lp->ps && !(lp->ps = fh_pollset_new(lp->wake.fd, lp->timer.fd, err))) {
    return -1;
  }
  return fh_pollset_fd(lp->ps);
}

void fh_loop_arm(fh_loop *lp, int timeout_ms)
{
  if (lp->ps) {   // events queued since the poll: at once
    fh_pollset_arm(lp->ps, lp->nev > lp->nev_reported ? 0 : timeout_ms, &lp->conns);
    lp->timer_at = 0;   // the pollset set the timer
  }
}

int fh_loop_signal_pending(fh_loop *lp, int64_t *since)
{
  return fh_signals_pending(lp->sig_slot, since);
}

int fh_loop_signals(fh_loop *lp, int on)
{
  if (on && lp->sig_slot < 0) {
    lp->sig_slot = fh_signals_add(lp->wake.fd);
    return lp->sig_slot < 0 ? -1 : 0;
  }
  if (!on && lp->sig_slot >= 0) {
    fh_signals_remove(lp->sig_slot);
    lp->sig_slot = -1;
  }
  return 0;
}
