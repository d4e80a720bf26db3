// ws_proto.h: the WebSocket protocol after the handshake, for both ends: frames parsed a header
// at a time from the bytes a transport received, messages reassembled into the connection's
// batch, pings answered, the close handshake. The transport supplies how a frame goes out
// (`out`: masked for a client, plain for a server; through TLS or not).
#ifndef FH_WS_PROTO_H
#define FH_WS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "core/conn.h"

typedef struct fh_wsp fh_wsp;

struct fh_wsp {
  fh_conn *c;
  int server;             // frames in must be masked (a server's side), else must not be
  /// Sends one frame of the connection. @return 0, -2 queue full or out of memory.
  int (*out)(fh_wsp *w, int opcode, const void *payload, size_t len);
  /// When set, takes each whole received message (FH_FRAME_TEXT / FH_FRAME_BINARY; the bytes may
  /// be changed in place) instead of the connection's batch: a protocol carried over WebSocket
  /// (net/sio.c). @return 0, or -1 to close the socket now (peer_code / peer_reason say why).
  int (*msg)(fh_wsp *w, int kind, uint8_t *p, size_t len);
  /// When set, called instead of reporting FH_EV_OPEN once the upgrade is done.
  void (*opened)(fh_wsp *w);
  void *user;             // the state of the protocol above (msg, opened)
  uint8_t *pend;          // bytes received but not parsed yet (a partial frame)
  size_t pend_len;
  size_t pend_cap;
  char *rx;               // a fragmented message being reassembled
  size_t rx_len;
  size_t rx_cap;
  uint64_t skip_left;     // payload bytes of a dropped frame still to come
  int in_msg;
  int rx_binary;
  int rx_skip;            // dropping an oversized message until its last fragment
  int closing;            // a close frame was sent: nothing more is read or sent
  int close_code;
  char close_reason[124];
  int peer_code;          // the close code the peer sent (or a protocol error's 1002), or 0
  char peer_reason[124];
  // permessage-deflate (RFC 7692), when the handshake agreed on it: messages in may come
  // compressed (we send ours plain, which the extension allows)
  int deflate;
  int deflate_reset;      // server_no_context_takeover: a fresh window per message
  int rx_compressed;      // the message being reassembled is compressed
  void *z;                // z_stream, made on the first compressed message
  uint8_t *zout;          // inflated message
  size_t zout_cap;
};

/// Bytes received after the handshake. @return 0, or -1: close the socket now (protocol error
/// or out of memory; the reason is in peer_code / peer_reason).
int fh_wsp_rx(fh_wsp *w, const uint8_t *in, size_t len);
/// Sends a message (FH_FRAME_TEXT / FH_FRAME_BINARY) or a ping (kind 0). @return 0, -1 closing,
/// -2 queue full (counted).
int fh_wsp_send(fh_wsp *w, int kind, const char *data, size_t len);
/// Starts the close handshake (the socket closes when the transport has written it).
void fh_wsp_close(fh_wsp *w, int code, const char *reason);
/// The close event's code and reason once the socket is gone: the peer's, ours, or 1006.
void fh_wsp_gone(fh_wsp *w);
/// Appends to a growable buffer (first allocation `first`, then doubling). @return 0 or -1.
int fh_buf_append(void *bufp, size_t *len, size_t *cap, const void *p, size_t n, size_t first);
void fh_wsp_free(fh_wsp *w);

#endif
