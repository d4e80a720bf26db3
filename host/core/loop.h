// loop.h: the event loop of one host. It owns every connection of the host, whatever its
// transport (net/transports.c lists them), one libwebsockets context that polls their sockets,
// a timer that bounds each wait, the signals it catches, and a bounded inbox that threads of
// other libraries post messages to.
//
// The loop never calls Lua. `fh_loop_poll` services the sockets, appends each received message
// to its connection's batch (one copy) and queues control events; the caller (Lua, on the loop's
// thread, through FFI) reads them after the call returns. The declarations between the FFI
// markers are also LuaJIT's: the build hands that text to ffi.cdef (host/gen_cdef.lua), so Lua
// and C cannot disagree about a type or a constant.
#ifndef FH_LOOP_H
#define FH_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "codec/batch.h"

// FFI:BEGIN
typedef struct fh_loop fh_loop;

enum fh_event_kind {
  FH_EV_OPEN = 1,   // connected; for a connection a listener accepted, `aux` is the listener
  FH_EV_CLOSE,      // gone after it was open: `code` close code, `text` reason
  FH_EV_ERROR,      // could not connect: `code` an FH_ERR_*, `aux` HTTP status or 0, `text` why
  FH_EV_FRAMES,     // the connection's batch holds frames
  FH_EV_PONG,       // a pong arrived
  FH_EV_OVERSIZE,   // a message over the connection's max_frame was dropped: `code` bytes seen
  FH_EV_SIGNAL,     // SIGINT, SIGTERM or SIGHUP: `code` the signal number
  FH_EV_DROPPED,    // messages another thread posted found the inbox full: `code` how many
  FH_EV_INVALID,    // a text message that is not UTF-8 was dropped: `code` bytes, `aux` the
                    // offset of the first bad byte, `text` its start (for the log, escaped)
  FH_EV_SUBSCRIBED, // the peer answered a subscribe request: `code` topics granted, `aux` topics
                    // refused (`text` names them); an unsubscribe's answer has both 0
};

// Why a connection could not be made (FH_EV_ERROR's code).
enum fh_error_code {
  FH_ERR_CONNECT = 1,   // the TCP connection failed (refused, unreachable, no such host)
  FH_ERR_HTTP,          // the handshake was answered with another HTTP status (`aux`)
  FH_ERR_HANDSHAKE,     // the answer was not a valid handshake (not HTTP, bad accept key, ...)
  FH_ERR_TLS,           // the TLS handshake failed
  FH_ERR_TLS_CERT,      // the server's certificate was not accepted
  FH_ERR_CLOSED,        // the peer closed the connection during the handshake
  FH_ERR_RESOURCE,      // out of memory or file descriptors
  FH_ERR_OPTIONS,       // the connection's options were refused (bad host name, CA file, ...)
  FH_ERR_REFUSED,       // the protocol's own handshake refused us: Socket.IO connect_error,
                        // MQTT CONNACK (`aux` its return code, 4 bad user name or password,
                        // 5 not authorized)
};

// A close of the connection that this host's transport decided itself (FH_EV_CLOSE's code).
enum fh_close_code {
  FH_CLOSE_NORMAL = 1000,
  FH_CLOSE_GOING_AWAY = 1001,
  FH_CLOSE_PROTOCOL = 1002,
  FH_CLOSE_NO_STATUS = 1005,
  FH_CLOSE_LOST = 1006,      // the connection dropped without a close handshake
};

// What fh_loop_send queues besides messages (FH_FRAME_TEXT / FH_FRAME_BINARY), for transports
// with subscriptions (MQTT topics, ZeroMQ SUB prefixes): `data` is a list of topics, each a QoS
// digit, the topic and a NUL byte ("1quotes/AAPL\0" "0trades/#\0"); the QoS of an unsubscribe
// is ignored.
enum fh_send_kind { FH_SEND_SUBSCRIBE = 16, FH_SEND_UNSUBSCRIBE = 17 };

enum fh_clock { FH_CLOCK_REALTIME = 0, FH_CLOCK_MONOTONIC = 1 };

typedef struct fh_event {
  int kind;
  int id;            // connection or listener id; 0 for signals
  int code;
  int aux;
  const char *text;  // NUL-terminated, owned by the loop until the next poll; may be NULL
} fh_event;

// One option of a connection: transports read what they know (host, port, path, tls, ...).
typedef struct fh_kv {
  const char *key;
  const char *value;
} fh_kv;

typedef struct fh_conn_stats {
  uint64_t frames_in;
  uint64_t bytes_in;
  uint64_t frames_out;
  uint64_t bytes_out;
  uint64_t oversize;      // messages dropped for their size
  uint64_t invalid;       // text messages dropped: not UTF-8
  uint64_t out_dropped;   // outbound messages dropped: the send queue was full
  uint64_t in_dropped;    // messages from another thread dropped: the inbox was full
  uint32_t out_queued;    // outbound messages waiting now
  uint32_t pad;
} fh_conn_stats;
// FFI:END

/// A new loop. @return NULL with a message in `err` (room: 256).
fh_loop *fh_loop_new(char *err);
/// Closes every connection and listener at once and frees the loop.
void fh_loop_free(fh_loop *lp);

/// Opens a client connection with transport `name` ("ws", ...) and its options.
/// @return its id (> 0); an FH_EV_OPEN or FH_EV_ERROR event follows. -1 with `err` set when it
/// could not even start (unknown transport, bad options).
int fh_loop_open(fh_loop *lp, const char *name, const fh_kv *opts, int nopts, char *err);
/// Listens with transport `name` ("ws-server"). @return the listener id and the bound port in
/// *port, or -1 with `err` set. Connections it accepts report FH_EV_OPEN with `aux` = its id;
/// fh_loop_close(listener) stops listening and frees the port at once.
int fh_loop_listen(fh_loop *lp, const char *name, const fh_kv *opts, int nopts, int *port,
                   char *err);
/// Queues a message (FH_FRAME_TEXT / FH_FRAME_BINARY). @return 0, -1 unknown or closing
/// connection, -2 queue full (counted as a drop).
int fh_loop_send(fh_loop *lp, int id, int kind, const char *data, size_t len);
/// Queues a ping (for the transports that have one). Same returns as fh_loop_send.
int fh_loop_ping(fh_loop *lp, int id);
/// Closes after the queued messages are written (code 0: 1000). A listener stops listening.
/// @return 0 or -1 (unknown id).
int fh_loop_close(fh_loop *lp, int id, int code, const char *reason);
/// Services sockets for at most `timeout_ms` (0: only what is ready). Returns as soon as there
/// is something to report. Events stay valid until the next poll, which also clears the
/// batches reported this time. @return number of events in *events.
int fh_loop_poll(fh_loop *lp, int timeout_ms, const fh_event **events);
/// The batch of received messages of a connection, or NULL.
fh_batch *fh_loop_batch(fh_loop *lp, int id);
/// @return 0 and the connection's counters, or -1 (unknown id).
int fh_loop_stats(fh_loop *lp, int id, fh_conn_stats *out);
/// `on`: SIGINT, SIGTERM and SIGHUP become FH_EV_SIGNAL events of this loop (every loop that
/// asks sees every signal) and SIGPIPE is ignored; off: this loop stops seeing them.
/// @return 0, or -1 when too many loops catch signals.
int fh_loop_signals(fh_loop *lp, int on);
/// A signal the loop caught but did not take yet (its thread is busy elsewhere), and since when
/// (monotonic ns); 0 when none. Safe from any thread.
int fh_loop_signal_pending(fh_loop *lp, int64_t *since);
/// Ends the current or next wait of fh_loop_poll. Safe from any thread and from signal handlers.
void fh_loop_wake(fh_loop *lp);
/// A descriptor for an application's own event loop (luv, cqueues, epoll, ...): it becomes
/// readable when the loop has work (a socket's data, a connect finished, a signal, a message
/// another thread posted, the timer fh_loop_arm set); the application then calls fh_loop_poll
/// with timeout 0 and fh_loop_arm. Made on the first call (an epoll set kept in step with every
/// descriptor the loop polls). @return it, or -1 with `err` (room 256) set.
int fh_loop_fd(fh_loop *lp, char *err);
/// After a poll in an application's loop: the descriptor of fh_loop_fd becomes readable in
/// `timeout_ms` at the latest (the caller's next timer), at once when work is left, within 2 ms
/// when output waits for room in a socket, and within a second in any case.
void fh_loop_arm(fh_loop *lp, int timeout_ms);
/// Output waits for room in `fd` (a pipe or socket, non-blocking, that took only part of it): the
/// waits of fh_loop_poll also end when `fd` can take bytes again or its reader went away, once
/// (ask again if output is still waiting after the next write). The loop polls a duplicate of
/// `fd` meanwhile. @return 0, or -1 (the descriptor cannot be duplicated or polled).
int fh_loop_wait_writable(fh_loop *lp, int fd);
/// Nanoseconds of FH_CLOCK_REALTIME (epoch) or FH_CLOCK_MONOTONIC.
int64_t fh_clock_ns(int which);

#endif
