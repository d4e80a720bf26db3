// pollset.c: see pollset.h.
#include "core/pollset.h"

#include <errno.h>
#include <libwebsockets.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/conn.h"
#include "core/table.h"

enum { OFF = 0, IN, CONNECTING, CONNECT_SEEN };

enum {
  ARM_MAX_MS = 1000,   // the longest an armed timer waits
  OUTQ_RETRY_MS = 2,   // output waiting for room in a socket: the next try
};

typedef struct entry {
  struct lws *wsi;   // the wsi the descriptor belongs to (NULL: the loop's own)
  int state;
} entry;

struct fh_pollset {
  int ep;
  int wake_fd;       // the loop's eventfd and timerfd (copies of both in lws's own poll set)
  int timer_fd;
  int kicked;        // the wake-up was written for calls made since the last round
  int more;          // the last round left work behind
  entry *tab;        // by descriptor
  int cap;
  int connecting;    // entries in CONNECTING or CONNECT_SEEN
};

// (Re)registers `fd` for `events`: a descriptor number reused after a close that happened
// outside our sight is still in the set only if the old one was a dup of a live description.
static void put(fh_pollset *ps, int fd, uint32_t events)
{
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = events;
  ev.data.fd = fd;
  if (epoll_ctl(ps->ep, EPOLL_CTL_ADD, fd, &ev) != 0 && errno == EEXIST) {
    epoll_ctl(ps->ep, EPOLL_CTL_MOD, fd, &ev);
  }
}

static int grow(fh_pollset *ps, int fd)
{
  if (fd < ps->cap) {
    return 0;
  }
  int cap = ps->cap ? ps->cap : 64;
  while (cap <= fd) {
    cap *= 2;
  }
  entry *t = realloc(ps->tab, (size_t)cap * sizeof *t);
  if (!t) {
    return -1;
  }
  memset(t + ps->cap, 0, (size_t)(cap - ps->cap) * sizeof *t);
  ps->tab = t;
  ps->cap = cap;
  return 0;
}

static void set_state(fh_pollset *ps, entry *e, int state)
{
  int was = e->state == CONNECTING || e->state == CONNECT_SEEN;
  int is = state == CONNECTING || state == CONNECT_SEEN;
  ps->connecting += is - was;
  e->state = state;
}

static void track(fh_pollset *ps, int fd, struct lws *wsi, int state)
{
  if (fd < 0 || grow(ps, fd) != 0) {
    return;
  }
  entry *e = &ps->tab[fd];
  if (e->wsi == wsi && e->state != OFF && (state == IN || e->state == state)) {
    if (state == IN && e->state != IN) {   // connected: readability only from now on
      put(ps, fd, EPOLLIN);
      set_state(ps, e, IN);
    }
    return;
  }
  put(ps, fd, state == CONNECTING ? EPOLLIN | EPOLLOUT : EPOLLIN);
  e->wsi = wsi;
  set_state(ps, e, state);
}

static void forget(fh_pollset *ps, int fd)
{
  epoll_ctl(ps->ep, EPOLL_CTL_DEL, fd, NULL);   // ENOENT, EBADF: gone already
  set_state(ps, &ps->tab[fd], OFF);
  ps->tab[fd].wsi = NULL;
}

static void wake(fh_pollset *ps)
{
  uint64_t one = 1;
  ssize_t w = write(ps->wake_fd, &one, sizeof one);
  (void)w;  // EAGAIN: the counter is full, readable anyway
}

fh_pollset *fh_pollset_new(int wake_fd, int timer_fd, char *err)
{
  fh_pollset *ps = calloc(1, sizeof *ps);
  if (!ps) {
    snprintf(err, FH_ERR_LEN, "out of memory");
    return NULL;
  }
  ps->ep = epoll_create1(EPOLL_CLOEXEC);
  if (ps->ep < 0) {
    snprintf(err, FH_ERR_LEN, "epoll_create1: %s", strerror(errno));
    free(ps);
    return NULL;
  }
  ps->wake_fd = wake_fd;
  ps->timer_fd = timer_fd;
  track(ps, wake_fd, NULL, IN);
  track(ps, timer_fd, NULL, IN);
  wake(ps);   // a first service round, whatever happened before
  return ps;
}

void fh_pollset_free(fh_pollset *ps)
{
  if (ps) {
    close(ps->ep);
    free(ps->tab);
    free(ps);
  }
}

int fh_pollset_fd(const fh_pollset *ps)
{
  return ps->ep;
}

void fh_pollset_callback(fh_pollset *ps, struct lws *wsi, int reason)
{
  switch (reason) {
  case LWS_CALLBACK_RAW_ADOPT:
  case LWS_CALLBACK_RAW_ADOPT_FILE:
  case LWS_CALLBACK_RAW_CONNECTED:
  case LWS_CALLBACK_RAW_RX:
  case LWS_CALLBACK_RAW_RX_FILE:
  case LWS_CALLBACK_RAW_WRITEABLE:
  case LWS_CALLBACK_RAW_WRITEABLE_FILE:
  case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
  case LWS_CALLBACK_CLIENT_ESTABLISHED:
  case LWS_CALLBACK_CLIENT_RECEIVE:
  case LWS_CALLBACK_CLIENT_WRITEABLE:
  case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
  case LWS_CALLBACK_RECEIVE_CLIENT_HTTP:
  case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
    track(ps, lws_get_socket_fd(wsi), wsi, IN);
    return;
  case LWS_CALLBACK_RAW_CLOSE:
  case LWS_CALLBACK_RAW_CLOSE_FILE:
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
  case LWS_CALLBACK_CLIENT_CLOSED:
  case LWS_CALLBACK_CLOSED:
  case LWS_CALLBACK_CLOSED_CLIENT_HTTP: {
    int fd = lws_get_socket_fd(wsi);
    if (fd >= 0 && fd < ps->cap && ps->tab[fd].wsi == wsi) {
      forget(ps, fd);
    }
    return;
  }
  case LWS_CALLBACK_WSI_DESTROY:   // its descriptor is closed already: only our entry is left
    for (int fd = 0; fd < ps->cap; fd++) {
      if (ps->tab[fd].wsi == wsi) {
        set_state(ps, &ps->tab[fd], OFF);
        ps->tab[fd].wsi = NULL;
      }
    }
    return;
  default:
    return;
  }
}

void fh_pollset_connecting(fh_pollset *ps, struct lws *wsi)
{
  track(ps, lws_get_socket_fd(wsi), wsi, CONNECTING);
}

void fh_pollset_kick(fh_pollset *ps)
{
  if (ps && !ps->kicked) {
    ps->kicked = 1;
    wake(ps);
  }
}

void fh_pollset_arm(fh_pollset *ps, int timeout_ms, const fh_table *conns)
{
  for (int i = 0; i < conns->n && timeout_ms > OUTQ_RETRY_MS; i++) {
    const fh_conn *c = conns->all[i];
    if (c->queued && *c->queued) {   // output the socket had no room for yet: try again soon
      timeout_ms = OUTQ_RETRY_MS;
    }
  }
  if (ps->more || timeout_ms <= 0) {
    wake(ps);
    return;
  }
  int ms = timeout_ms < ARM_MAX_MS ? timeout_ms : ARM_MAX_MS;
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  its.it_value.tv_sec = ms / 1000;
  its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
  timerfd_settime(ps->timer_fd, 0, &its, NULL);
}

void fh_pollset_round(fh_pollset *ps, int more)
{
  ps->kicked = 0;
  ps->more = more;
  for (int fd = 0; ps->connecting > 0 && fd < ps->cap; fd++) {
    entry *e = &ps->tab[fd];
    if (e->state == CONNECT_SEEN) {   // a whole service round saw it writable: lws has it
      put(ps, fd, EPOLLIN);
      set_state(ps, e, IN);
    } else if (e->state == CONNECTING) {
      struct pollfd p = { .fd = fd, .events = POLLOUT };
      if (poll(&p, 1, 0) == 1) {
        e->state = CONNECT_SEEN;
      }
    }
  }
}
