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
extern const fh_transport fh_sio_client;  // "socketio": Socket.IO (Engine.IO 3 or 4) over "ws"
extern const fh_transport fh_http_client; // "http": one HTTP request (messages sent over HTTP)

struct fh_wsp;
/// The WebSocket protocol state of a "ws" connection, for a protocol carried over it (net/sio.c
/// sets its message and open hooks right after fh_ws_client.open). NULL before open.
struct fh_wsp *fh_ws_client_proto(fh_conn *c);
extern const fh_transport fh_mqtt;        // "mqtt": MQTT 3.1.1 over paho's MQTTAsync
extern const fh_transport fh_zmq;         // "zmq": ZeroMQ sockets (SUB, PULL, ...) in the loop
extern const fh_transport fh_fswatch;     // "fswatch": changes of files (inotify), for reload

/// The loop's lws protocol list (the one dispatching callback), for adapters' own vhosts.
const struct lws_protocols *fh_loop_protocols(void);

#endif
