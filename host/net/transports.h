// transports.h: the transports a loop can open, by name. Adding one is adding an adapter file
// under host/net/ and a line in transports.c.
#ifndef FH_TRANSPORTS_H
#define FH_TRANSPORTS_H

#include "core/conn.h"

struct lws_protocols;

/// The transport named `name`, or NULL.
const fh_transport *fh_transport_find(const char *name);

extern const fh_transport fh_ws_client;   // "ws": RFC 6455 (and permessage-deflate) done here,
                                          // over TCP or TLS
extern const fh_transport fh_ws_server;   // "ws-server": a WebSocket listener
extern const fh_transport fh_fswatch;     // "fswatch": changes of files (inotify), for reload

/// The loop's lws protocol list (the one dispatching callback), for adapters' own vhosts.
const struct lws_protocols *fh_loop_protocols(void);

#endif
