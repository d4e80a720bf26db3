// loop_impl.h: the loop's own state, shared by the files of the loop core (loop.c: the poll,
// events and the public calls; conn.c: the services adapters call). Not for adapters: they see
// conn.h only.
#ifndef FH_LOOP_IMPL_H
#define FH_LOOP_IMPL_H

#include "core/conn.h"
#include "core/inbox.h"
#include "core/pollset.h"
#include "core/table.h"

enum {
  POLL_FRAMES_MAX = 4096,          // frames gathered before poll returns
  POLL_BYTES_MAX = 4 << 20,
  INBOX_MSGS = 65536,              // messages other threads may have waiting
  INBOX_BYTES = 64 << 20,
  INBOX_EVENTS = 4096,             // and events (room of their own)
};

typedef struct attachment {
  char *key;
  void *ptr;
  void (*free_fn)(void *);
  struct attachment *next;
} attachment;

// One of the loop's own descriptors in the lws poll set (the timer, the wake-up, an output
// waiting for room).
typedef struct own_fd {
  fh_io io;
  fh_loop *lp;
  int fd;
  struct lws *wsi;
} own_fd;

struct fh_loop {
  struct lws_context *ctx;
  struct lws_vhost *vhost;
  fh_table conns;
  int next_id;
  fh_event *ev;
  int nev;
  int capev;
  int nev_reported;         // events handed out by the last poll (later ones are still new)
  char **texts;             // event texts owned until the next poll
  own_fd timer;             // ends a poll's wait
  own_fd wake;              // eventfd: signals, other threads, fh_loop_wake
  own_fd out;               // a duplicate of an output descriptor waiting for room, while it waits
  int woke;
  int64_t wait_until;       // the end of fh_loop_poll's current wait (monotonic ns)
  int64_t timer_at;         // when the timer rings (monotonic ns), 0: not known (set elsewhere)
  int sig_slot;             // -1: not catching signals
  fh_inbox *inbox;
  attachment *attached;
  uint32_t frames;          // gathered by this poll
  uint32_t bytes;
  struct again *again;      // adapters to call again after this service round (fh_conn_again)
  int nagain;
  int capagain;
  fh_pollset *ps;           // fh_loop_fd's epoll set, once asked for (an application's loop)
};

// An fh_conn_again request: the connection (by id: it may be gone by then) and its io.
struct again {
  int id;
  fh_io *io;
};

/// Queues an event of connection (or listener) `id`; `text` is copied (may be NULL).
void fh_loop_push_event(fh_loop *lp, int kind, int id, int code, int aux, const char *text);
/// Frees a connection: the adapter's state (destroy), then the core's.
void fh_conn_free(fh_conn *c);
/// What other threads posted since the last poll: messages into batches, events reported,
/// refusals as FH_EV_DROPPED.
void fh_loop_take_posted(fh_loop *lp);
/// Calls the adapters that asked to go on (fh_conn_again), those of live connections only.
void fh_loop_run_again(fh_loop *lp);

#endif
