// loop.h: the event loop. One libwebsockets context owns every socket of a host: WebSocket
// clients (ws://, wss://) and listening WebSocket servers (the simulator). The loop never calls
// Lua: `fh_loop_poll` services the sockets, appends received messages to one batch per
// connection and queues control events; the caller (Lua, on the same thread) reads them after.
#ifndef FH_LOOP_H
#define FH_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "codec/batch.h"

typedef struct fh_loop fh_loop;

enum fh_event_kind {
  FH_EV_OPEN = 1,   // client handshake done / server accepted (listener in `code`)
  FH_EV_CLOSE,      // connection gone: `code` = close code, `text` = reason
  FH_EV_ERROR,      // client could not connect: `code` = HTTP status or 0, `text` = why
  FH_EV_FRAMES,     // the connection's batch holds frames
  FH_EV_PONG,       // a pong arrived
  FH_EV_OVERSIZE,   // a message longer than max_frame was dropped: `code` = bytes seen
  FH_EV_SIGNAL,     // SIGINT / SIGTERM / SIGHUP: `code` = signal number
};

typedef struct fh_event {
  int kind;
  int id;          // connection id (0 for signals)
  int code;
  char *text;      // owned by the loop until the next poll; may be NULL
} fh_event;

typedef struct fh_connect_opts {
  const char *host;
  int port;
  const char *path;       // with the query
  int tls;
  int verify;             // 0: accept any certificate
  const char *ca_file;    // NULL: the system store
  const char *headers;    // "name: value\n" lines appended to the handshake, or NULL
  size_t max_frame;       // 0: default (16 MiB)
  int deflate;            // offer permessage-deflate
} fh_connect_opts;

typedef struct fh_conn_stats {
  uint64_t frames_in, bytes_in, frames_out, bytes_out, oversize, out_dropped;
  uint32_t out_queued;
} fh_conn_stats;

/// A new loop. @return NULL with a message in `err` (room: 256).
fh_loop *fh_loop_new(char *err);
void fh_loop_free(fh_loop *lp);
/// Starts a client connection. @return its id (> 0), or -1 with `err` set.
int fh_loop_connect(fh_loop *lp, const fh_connect_opts *o, char *err);
/// Listens for WebSocket clients on host:port (port 0: any free port).
/// @return listener id (> 0) and the bound port in *bound, or -1 with `err` set.
int fh_loop_listen(fh_loop *lp, const char *host, int port, int *bound, char *err);
/// Queues a message (FH_FRAME_TEXT / FH_FRAME_BINARY). @return 0, -1 unknown or closing
/// connection, -2 queue full (counted as a drop).
int fh_loop_send(fh_loop *lp, int id, int kind, const char *data, size_t len);
/// Queues a WebSocket ping. Same returns as fh_loop_send.
int fh_loop_ping(fh_loop *lp, int id);
/// Closes after the queued messages are written (code 0: 1000). @return 0 or -1.
int fh_loop_close(fh_loop *lp, int id, int code, const char *reason);
/// Services sockets for at most `timeout_ms` (0: only what is ready). Returns as soon as there
/// is something to report. Events stay valid until the next poll, which also clears the
/// batches reported this time. @return number of events in *events.
int fh_loop_poll(fh_loop *lp, int timeout_ms, const fh_event **events);
/// The batch of received messages of a connection, or NULL.
fh_batch *fh_loop_batch(fh_loop *lp, int id);
int fh_loop_stats(fh_loop *lp, int id, fh_conn_stats *out);
/// Routes SIGINT, SIGTERM and SIGHUP to FH_EV_SIGNAL events of this loop (and ignores SIGPIPE).
void fh_loop_catch_signals(fh_loop *lp);

#endif
