// pollset.h: the loop's descriptor for an application's own event loop (fh_loop_fd): an epoll set
// kept in step with every descriptor the libwebsockets context polls, plus the loop's wake-up
// eventfd and timerfd. Readable means "the loop has work": a socket has data or finished
// connecting, the timer (the next Lua timer, see fh_loop_arm) expired, a signal came, another
// thread posted, or something queued asks for another service round.
//
// libwebsockets 4.1.6 in Debian is built without LWS_WITH_EXTERNAL_POLL, so it tells nobody which
// descriptors it polls. The loop's one lws callback sees every callback of every wsi bound to the
// loop's protocol, and every client connection starts in fh_conn_connect: that is where the set
// learns of a descriptor (fh_pollset_callback, fh_pollset_connecting) and where it forgets it
// (the close callbacks, before lws closes the descriptor: a dup'ed descriptor, such as a ZMQ_FD
// copy, would otherwise stay in the set after its close).
#ifndef FH_POLLSET_H
#define FH_POLLSET_H

struct lws;
struct fh_table;

typedef struct fh_pollset fh_pollset;

/// A new set holding `wake_fd` and `timer_fd`. @return NULL with `err` (room FH_ERR_LEN) set.
fh_pollset *fh_pollset_new(int wake_fd, int timer_fd, char *err);
/// Closes the epoll descriptor and frees the set.
void fh_pollset_free(fh_pollset *ps);
/// The epoll descriptor (readable when the loop has work).
int fh_pollset_fd(const fh_pollset *ps);
/// Called for every lws callback of a wsi: adds its descriptor on the callbacks of a live one,
/// removes it on the close callbacks.
void fh_pollset_callback(fh_pollset *ps, struct lws *wsi, int reason);
/// A client connection was started: its descriptor is watched for writability too (the TCP
/// connect finishing) until it connected.
void fh_pollset_connecting(fh_pollset *ps, struct lws *wsi);
/// A call from Lua between polls queued work (a send, an open, a close): the descriptor becomes
/// readable, once per service round. NULL: no set, nothing to do.
void fh_pollset_kick(fh_pollset *ps);
/// End of a service round. `more`: it stopped at a limit (or lws holds buffered input), so the
/// next fh_pollset_arm wakes at once. A connecting descriptor found writable in the round before
/// this one has been serviced since, and stops being watched for writability (no busy wake-ups).
void fh_pollset_round(fh_pollset *ps, int more);
/// The descriptor becomes readable in `timeout_ms` at the latest (at once when <= 0 or when the
/// last round left work; within 2 ms when a connection of `conns` has output waiting for room),
/// and within a second whatever is asked (libwebsockets' own timeouts).
void fh_pollset_arm(fh_pollset *ps, int timeout_ms, const struct fh_table *conns);

#endif
