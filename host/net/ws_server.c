// ws_server.c: the "ws-server" transport: a WebSocket listener on the loop, for the simulator
// and tests. The listening socket is the host's own (so closing it frees the port at once);
// libwebsockets only polls it and the accepted sockets, as raw descriptors. The upgrade and the
// frames are done here (codec/ws_frame.c, net/ws_proto.c). No extension is negotiated: a client
// that offers permessage-deflate gets plain frames, as RFC 6455 allows.
//
// Options: host (default 127.0.0.1), port (0: any free port), max_frame (per message received).
#define _GNU_SOURCE   // accept4
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "codec/ws_frame.h"
#include "core/conn.h"
#include "net/outq.h"
#include "net/transports.h"
#include "net/ws_proto.h"

enum { OUT_BYTES = 1 };

typedef struct listener {
  fh_io io;
  fh_conn *c;
  fh_file f;       // the listening socket
  int port;
  size_t max_frame;
} listener;

typedef struct peer {
  fh_io io;
  fh_wsp w;
  fh_conn *c;
  struct lws *wsi;
  fh_outq out;
  int hs_done;
  int closing;
  char *head;              // the upgrade request so far
  size_t head_len;
  size_t head_cap;
  unsigned char *scratch;  // gathered writes
} peer;

static const fh_transport peer_transport;

// ---- accepted connections -----------------------------------------------------------------------
static int out_frame(fh_wsp *w, int opcode, const void *payload, size_t len)
{
  peer *p = (peer *)((char *)w - offsetof(peer, w));
  unsigned char *dst = fh_outq_push(&p->out, OUT_BYTES, 0, len + FH_WS_MAX_HEADER);
  if (!dst) {
    p->c->st.out_dropped++;
    return -2;
  }
  fh_outq_tail(&p->out)->len = fh_ws_frame_plain(dst, opcode, payload, len);
  if (p->wsi) {
    lws_callback_on_writable(p->wsi);
  }
  return 0;
}

// The upgrade request: answered with 101 (the connection opens) or 400 (it closes).
static int handshake(peer *p, struct lws *wsi, const uint8_t *in, size_t len)
{
  if (fh_buf_append(&p->head, &p->head_len, &p->head_cap, in, len, 1024)) {
    return -1;
  }
  char accept[FH_WS_ACCEPT_LEN + 1], path[1024];
  size_t used = 0;
  int r = fh_ws_upgrade(p->head, p->head_len, accept, path, sizeof path, &used);
  if (r == 0) {
    return 0;
  }
  if (r < 0) {
    static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    unsigned char *dst = fh_outq_push(&p->out, OUT_BYTES, sizeof bad - 1, sizeof bad - 1);
    if (dst) {
      memcpy(dst, bad, sizeof bad - 1);
    }
    p->closing = 1;
    lws_callback_on_writable(wsi);
    return 0;
  }
  char resp[256];
  int n = snprintf(resp, sizeof resp,
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
  unsigned char *dst = fh_outq_push(&p->out, OUT_BYTES, (size_t)n, (size_t)n);
  if (!dst) {
    return -1;
  }
  memcpy(dst, resp, (size_t)n);
  p->hs_done = 1;
  fh_conn_event(p->c, FH_EV_OPEN, 0, p->c->listener, path);
  lws_callback_on_writable(wsi);
  size_t rest = p->head_len - used;
  int rc = rest ? fh_wsp_rx(&p->w, (const uint8_t *)p->head + used, rest) : 0;
  free(p->head);
  p->head = NULL;
  p->head_len = p->head_cap = 0;
  return rc;
}

static int peer_on(fh_io *io, struct lws *wsi, int reason, void *in, size_t len)
{
  peer *p = (peer *)io;
  switch (reason) {
  case LWS_CALLBACK_RAW_RX:
    if (!p->hs_done) {
      return p->closing ? 0 : handshake(p, wsi, in, len);
    }
    if (fh_wsp_rx(&p->w, in, len) < 0) {
      return -1;
    }
    if (p->w.closing) {
      lws_callback_on_writable(wsi);
    }
    return 0;
  case LWS_CALLBACK_RAW_WRITEABLE:
    if (fh_outq_write(&p->out, wsi, p->scratch, &p->c->st.bytes_out) != 0) {
      return -1;
    }
    if (p->out.n) {
      lws_callback_on_writable(wsi);
      return 0;
    }
    return p->w.closing || p->closing ? -1 : 0;
  case LWS_CALLBACK_RAW_CLOSE:
    lws_set_opaque_user_data(wsi, NULL);
    p->wsi = NULL;
    if (p->hs_done) {
      fh_wsp_gone(&p->w);
    } else {  // never opened: nobody heard of it, it goes quietly
      p->c->gone = 1;
    }
    return 0;
  default:
    return 0;
  }
}

static void peer_destroy(fh_conn *c)
{
  peer *p = c->impl;
  if (!p) {
    return;
  }
  if (p->wsi) {
    lws_set_opaque_user_data(p->wsi, NULL);
  }
  fh_outq_free(&p->out);
  fh_wsp_free(&p->w);
  free(p->head);
  free(p->scratch);
  free(p);
  c->impl = NULL;
}

static int peer_send(fh_conn *c, int kind, const char *data, size_t len)
{
  peer *p = c->impl;
  if (!p->hs_done || p->closing) {
    return -1;
  }
  int rc = fh_wsp_send(&p->w, kind, data, len);
  if (rc == 0) {
    c->st.frames_out++;
  }
  return rc;
}

static int peer_ping(fh_conn *c)
{
  return peer_send(c, 0, "", 0);
}

static int peer_close(fh_conn *c, int code, const char *reason)
{
  peer *p = c->impl;
  if (!p->closing) {
    p->closing = 1;
    fh_wsp_close(&p->w, code, reason);
    if (p->wsi) {
      lws_callback_on_writable(p->wsi);
    }
  }
  return 0;
}


static const fh_transport peer_transport = {
  .name = "ws-server-peer",
  .send = peer_send,
  .ping = peer_ping,
  .close = peer_close,
  .destroy = peer_destroy,
};

static void accept_one(listener *l, int fd)
{
  fh_conn *c = fh_conn_new(l->c->lp, &peer_transport);
  peer *p = c ? calloc(1, sizeof *p) : NULL;
  if (c) {
    c->impl = p;
    c->listener = l->c->id;
    c->max_frame = l->max_frame;
  }
  if (!p || !(p->scratch = malloc(LWS_PRE + FH_OUTQ_CHUNK)) ||
      fh_outq_init(&p->out, FH_OUTQ_MAX) != 0) {
    close(fd);
    if (c) {
      c->gone = 1;
    }
    return;
  }
  p->io.on = peer_on;
  p->c = c;
  c->queued = &p->out.n;
  p->w.c = c;
  p->w.server = 1;
  p->w.out = out_frame;
  lws_adopt_desc_t ad;
  memset(&ad, 0, sizeof ad);
  ad.vh = fh_loop_vhost(c->lp);
  ad.type = LWS_ADOPT_SOCKET;
  ad.fd.sockfd = fd;
  ad.vh_prot_name = fh_lws_protocol;
  ad.opaque = &p->io;
  p->wsi = lws_adopt_descriptor_vhost_via_info(&ad);   // closes fd on failure
  if (!p->wsi) {
    c->gone = 1;
  }
}

// ---- the listener -------------------------------------------------------------------------------
static int listener_on(fh_io *io, struct lws *wsi, int reason, void *in, size_t len)
{
  listener *l = (listener *)io;
  switch (reason) {
  case LWS_CALLBACK_RAW_RX_FILE:
    for (;;) {
      int fd = accept4(l->f.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        break;  // EAGAIN, or a client that went away (ECONNABORTED): try on the next wake-up
      }
      accept_one(l, fd);
    }
    return 0;
  case LWS_CALLBACK_RAW_CLOSE_FILE:
    fh_file_closed(&l->f, l->c, "stopped listening");
    return 0;
  default:
    return 0;
  }
}

static int listen_open(fh_conn *c, const fh_opts *o, char *err)
{
  const char *host = fh_opt_str(o, "host");
  host = host && *host ? host : "127.0.0.1";
  int port = (int)fh_opt_int(o, "port", 0);
  listener *l = fh_conn_state(c, sizeof *l, err);
  if (!l) {
    return -1;
  }
  l->f.fd = -1;
  l->io.on = listener_on;
  l->c = c;
  l->max_frame = c->max_frame;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
    snprintf(err, FH_ERR_LEN, "cannot listen on %s: not an IPv4 address", host);
    return -1;
  }
  int one = 1;
  int fd = l->f.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 128) != 0) {
    snprintf(err, FH_ERR_LEN, "cannot listen on %s:%d: %s", host, port, strerror(errno));
    return -1;
  }
  socklen_t sl = sizeof sa;
  getsockname(fd, (struct sockaddr *)&sa, &sl);
  l->port = ntohs(sa.sin_port);
  if (fh_file_adopt(c->lp, &l->f, &l->io) != 0) {   // the socket is closed with the state
    snprintf(err, FH_ERR_LEN, "cannot add the listener to the event loop");
    return -1;
  }
  return 0;
}

static int listen_close(fh_conn *c, int code, const char *reason)
{
  listener *l = c->impl;
  fh_file_close(&l->f);   // the port is free when this returns
  return 0;
}

static void listen_destroy(fh_conn *c)
{
  listener *l = c->impl;
  if (!l) {
    return;
  }
  fh_file_drop(&l->f);
  free(l);
  c->impl = NULL;
}

static int listen_port(fh_conn *c)
{
  listener *l = c->impl;
  return l ? l->port : 0;
}

const fh_transport fh_ws_server = {
  .name = "ws-server",
  .open = listen_open,
  .close = listen_close,
  .destroy = listen_destroy,
  .port = listen_port,
};
