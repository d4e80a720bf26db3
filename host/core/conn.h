// conn.h: what the loop core offers a transport adapter, and what an adapter offers the core.
//
// A transport is one adapter file under host/net/ that fills an fh_transport and is listed in
// net/transports.c; the core knows nothing else of it. The core keeps the connection table,
// the batches, events and counters (fh_conn); the adapter keeps its protocol state in `impl`
// and tells the core what happened through the fh_conn_* calls below. Adapters that read a
// socket through libwebsockets put an fh_io first in the state they hang on the wsi: the core's
// one lws callback hands every callback to it.
#ifndef FH_CONN_H
#define FH_CONN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"

struct lws;
struct lws_context;
struct lws_vhost;

typedef struct fh_conn fh_conn;

// Options of an open or listen call, as given (key/value strings).
typedef struct fh_opts {
  const fh_kv *kv;
  int n;
} fh_opts;

typedef struct fh_transport {
  const char *name;
  /// Starts a client connection (or, for a listener transport, binds). Events follow; on a
  /// failure to even start, returns -1 with `err` (room 256) and leaves nothing behind.
  int (*open)(fh_conn *c, const fh_opts *o, char *err);
  /// Queues a message. @return 0, -1 not connected or closing, -2 queue full (counted).
  int (*send)(fh_conn *c, int kind, const char *data, size_t len);
  /// Queues a ping; NULL when the protocol has none.
  int (*ping)(fh_conn *c);
  /// Closes after the queued messages (listener: stops listening now). @return 0 or -1.
  int (*close)(fh_conn *c, int code, const char *reason);
  /// Frees the adapter's state; called once, when the core frees the connection.
  void (*destroy)(fh_conn *c);
  /// The bound port of a listener; NULL for clients.
  int (*port)(fh_conn *c);
} fh_transport;

struct fh_conn {
  int id;
  fh_loop *lp;
  const fh_transport *t;
  void *impl;               // the adapter's state
  fh_batch *batch;
  size_t max_frame;         // longest message accepted (0 in options: the default, 16 MiB)
  int listener;             // for an accepted connection: the listener's id
  int ready;                // the batch holds frames not yet reported
  int reported;             // the batch was reported by the last poll: clear it on the next
  int gone;                 // the adapter is done with it: freed on the next poll
  const unsigned *queued;   // the adapter's count of outbound messages waiting (for stats)
  fh_conn_stats st;
  _Atomic uint64_t posted_dropped;   // fh_conn_post calls refused (any thread)
  uint64_t dropped_reported;
  _Atomic uint32_t posted_waiting;   // its messages in the loop's inbox now
  uint32_t max_posted;               // at most this many (option "max_queued")
};

// The state an adapter hangs on a libwebsockets wsi (lws_set_opaque_user_data) starts with this.
typedef struct fh_io {
  int (*on)(struct fh_io *io, struct lws *wsi, int reason, void *in, size_t len);
} fh_io;

enum { FH_DEFAULT_MAX_FRAME = 16 << 20, FH_ERR_LEN = 256 };

// The `reason` an fh_io gets when it is called again (fh_conn_again), with no wsi.
enum { FH_IO_AGAIN = -1 };

// ---- options ------------------------------------------------------------------------------------
/// The value of option `key`, or NULL.
const char *fh_opt_str(const fh_opts *o, const char *key);
/// An integer option (decimal), or `dflt` when absent or not a number.
long long fh_opt_int(const fh_opts *o, const char *key, long long dflt);
/// A boolean option ("1"/"true" or "0"/"false"), or `dflt`.
int fh_opt_bool(const fh_opts *o, const char *key, int dflt);
/// A required option (not empty), or NULL with `err` (room FH_ERR_LEN) set: "no <key>".
const char *fh_opt_need(const fh_opts *o, const char *key, char *err);
/// The adapter's state: `size` zeroed bytes hung on c->impl. @return it, or NULL with `err` set.
void *fh_conn_state(fh_conn *c, size_t size, char *err);

// ---- services of the core -------------------------------------------------------------------------
/// The loop's libwebsockets context, and its default vhost (no TLS, no extensions).
struct lws_context *fh_loop_lws(fh_loop *lp);
struct lws_vhost *fh_loop_vhost(fh_loop *lp);
/// The name of the lws protocol whose callback dispatches to fh_io (for client connects and
/// adoptions).
extern const char fh_lws_protocol[];
/// A per-loop attachment an adapter shares between its connections (a TLS context cache, its
/// vhosts): `free_fn` runs when the loop is freed. @return the existing one for `key`, or NULL.
void *fh_loop_attached(fh_loop *lp, const char *key);
int fh_loop_attach(fh_loop *lp, const char *key, void *ptr, void (*free_fn)(void *));
/// Adds a descriptor the adapter owns (not a socket: an inotify, event or timer descriptor) to
/// the loop's poll set: its readiness comes to `io` as LWS_CALLBACK_RAW_RX_FILE, and lws closes it
/// when the wsi closes (LWS_CALLBACK_RAW_CLOSE_FILE). @return the wsi, or NULL (the descriptor
/// is still the caller's to close).
struct lws *fh_loop_adopt_file(fh_loop *lp, int fd, fh_io *io);

// A descriptor of an adapter's own that the loop polls (a listening socket, an inotify
// descriptor), as a raw file: its readiness comes to the adapter's fh_io.
typedef struct fh_file {
  struct lws *wsi;   // NULL until adopted, and once closed
  int fd;            // -1 once lws closed it
} fh_file;
/// Adds f->fd to the loop's poll set, its callbacks to `io`. @return 0, or -1 (the descriptor
/// stays f's: fh_file_drop closes it).
int fh_file_adopt(fh_loop *lp, fh_file *f, fh_io *io);
/// Closes it now (the caller is Lua, between polls): lws closes the descriptor before this
/// returns, after LWS_CALLBACK_RAW_CLOSE_FILE.
void fh_file_close(fh_file *f);
/// For LWS_CALLBACK_RAW_CLOSE_FILE: lws closed the descriptor, and connection `c` is gone
/// (FH_EV_CLOSE with reason `why`).
void fh_file_closed(fh_file *f, fh_conn *c, const char *why);
/// When the adapter's state is freed: the wsi stops calling it (lws closes the descriptor with
/// the loop), or a descriptor never adopted is closed.
void fh_file_drop(fh_file *f);
/// Starts a libwebsockets client connection for `c` whose callbacks go to `io`: a raw socket
/// (`method` "RAW") or lws's HTTP client (`method` GET, POST, ...), on `vh` (NULL: the loop's
/// default vhost), with lws's LCCSCF_* TLS flags. `host_header`: what lws sends as the Host
/// header (fh_http_host: with the port unless the scheme's default; lws copies it, and takes
/// the name before any ':' for TLS SNI and the certificate check); NULL: `host`. @return the
/// wsi; NULL when it could not even start (FH_EV_ERROR reported). Otherwise one FH_EV_OPEN or
/// FH_EV_ERROR follows.
struct lws *fh_conn_connect(fh_conn *c, fh_io *io, struct lws_vhost *vh, const char *host,
                            int port, const char *host_header, const char *path,
                            const char *method, int ssl_flags);
/// A new connection of transport `t` that the adapter accepted (a listener's), in the table
/// with an id; the adapter sets `impl`. @return NULL when out of memory.
fh_conn *fh_conn_new(fh_loop *lp, const fh_transport *t);
/// Asks for a call of `io->on(io, NULL, FH_IO_AGAIN, NULL, 0)` after the current service round,
/// on the loop's thread, while the connection lives: for an adapter that stopped short of
/// draining a source whose descriptor will not signal again (ZeroMQ's ZMQ_FD), or that must look
/// at it after a send. The poll does not wait while a call is due. @return 0, or -1 (OOM)
int fh_conn_again(fh_conn *c, fh_io *io);
/// Appends one received message to the connection's batch (counted; FH_EV_FRAMES when first).
void fh_conn_frame(fh_conn *c, int kind, const void *data, size_t len);
/// Whether a text message is UTF-8; one that is not is counted and reported (FH_EV_INVALID).
/// For an adapter that hands the message on itself (Socket.IO over WebSocket). @return 1 / 0
int fh_conn_text_ok(fh_conn *c, const void *data, size_t len);
/// The same with the receive time given (epoch ns), and metadata (a topic: `topic` in the spec's
/// context; may be NULL) kept with the frame.
void fh_conn_frame_at(fh_conn *c, int kind, int64_t ts, const void *meta, size_t mlen,
                      const void *data, size_t len);
/// Queues an event of the connection (text copied; may be NULL).
void fh_conn_event(fh_conn *c, int kind, int code, int aux, const char *text);
/// The adapter is done with the connection: reports FH_EV_CLOSE or FH_EV_ERROR with `code`,
/// `aux`, `text`; the core frees it (destroy) on a later poll. Idempotent.
void fh_conn_gone(fh_conn *c, int kind, int code, int aux, const char *text);
/// A message from another thread (a library's callback), with its metadata (a topic; may be
/// NULL): queued in the loop's bounded inbox, appended to the batch on the loop's thread.
/// Thread-safe. @return 0, or -1 when the inbox (or the connection's share of it, option
/// "max_queued") is full (counted; FH_EV_DROPPED tells the loop's thread) or the message is over
/// max_frame (FH_EV_OVERSIZE).
int fh_conn_post(fh_conn *c, int kind, const void *meta, size_t mlen, const void *data,
                 size_t len);
/// An event of the connection from another thread (connected, lost, refused, subscribed: an
/// FH_EV_*, with `code`, `aux` and `text` as fh_conn_event takes them; text may be NULL): queued
/// in the inbox in order with the messages posted before it, and reported on the loop's thread,
/// FH_EV_CLOSE and FH_EV_ERROR as by fh_conn_gone. Events have room of their own in the inbox:
/// a full inbox refuses messages, not events. Thread-safe. @return 0, or -1 (out of memory, or
/// thousands of events waiting: counted as a drop).
int fh_conn_post_event(fh_conn *c, int kind, int code, int aux, const char *text);

#endif
