// sio.c: the "socketio" transport: Socket.IO over Engine.IO v3 or v4, on the "ws" client's own
// WebSocket (net/ws_client.c), whose whole messages it takes before they reach the batch.
//
// Done here: the Engine.IO open packet (its JSON is FH_EV_OPEN's text), the namespace connect
// (v4: `40[/ns,]{auth}`; v3: the server connects `/` itself, a custom namespace is asked for),
// answering the server's pings (v4) and reporting pings and pongs as FH_EV_PONG, connect_error
// (FH_EV_ERROR FH_ERR_REFUSED with the server's message), the server's disconnect and close
// packets (FH_EV_CLOSE), and events: `42["name",args]` goes to the batch as its argument (a
// JSON string argument decoded, several arguments as one array) with the event name as the
// frame's metadata; an ack the server asks for is answered; binary events wait for their
// attachments (one binary argument becomes a binary frame, placeholders elsewhere become base64
// strings). FH_EV_OPEN is reported once the namespace is connected. A packet that cannot be
// split goes to the batch as it came, so the pipeline counts and logs it as a bad frame.
// What is sent (emits, pings for v3) is built by the Lua side (transport/socketio.lua).
//
// Options: those of "ws" (host, port, path with the Engine.IO query, tls, verify, ca_file,
// headers, max_frame), plus eio (3 or 4), namespace ("/" default; v3 may add "?query"), auth
// (the v4 CONNECT payload, a JSON object).
#define _GNU_SOURCE   // memmem
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/batch.h"
#include "codec/json_tape.h"
#include "codec/sio_packet.h"
#include "core/conn.h"
#include "net/transports.h"
#include "net/ws_proto.h"

typedef struct sio {
  fh_conn *c;
  fh_wsp *w;
  int eio;
  char *ns;              // the namespace as connected (v3: may carry a query)
  size_t ns_len;         // the namespace's path (without the query)
  char *auth;            // the v4 CONNECT payload, or NULL
  char *open_text;       // the Engine.IO open packet's JSON
  int open;              // the namespace is connected (FH_EV_OPEN reported)
  int done;              // FH_EV_CLOSE / FH_EV_ERROR reported: nothing more is taken
  char *scratch;         // decoded strings, filled placeholders
  size_t scratch_cap;
  char *bin_head;        // a binary event waiting for its attachments (the whole packet)
  size_t bin_head_len;
  size_t bin_head_cap;
  int bin_type;          // its header, parsed once: FH_SIO_BINARY_EVENT or FH_SIO_BINARY_ACK,
  size_t bin_data_off;   // and where its JSON payload is in bin_head
  size_t bin_data_len;
  int bin_need;
  int bin_have;
  uint8_t *att;          // the attachments so far, back to back
  size_t att_len;
  size_t att_cap;
  size_t att_off[FH_SIO_MAX_ATTACHMENTS + 1];
} sio;

static int send_text(sio *s, const char *text, size_t len)
{
  return fh_wsp_send(s->w, FH_FRAME_TEXT, text, len);
}

static char *scratch(sio *s, size_t need)
{
  if (need > s->scratch_cap) {
    size_t cap = s->scratch_cap ? s->scratch_cap : 4096;
    while (cap < need) {
      cap *= 2;
    }
    char *p = realloc(s->scratch, cap);
    if (!p) {
      return NULL;
    }
    s->scratch = p;
    s->scratch_cap = cap;
  }
  return s->scratch;
}

// The session is over (the server's doing): one event, then the socket is closed.
static int finish(sio *s, int kind, int code, const char *why)
{
  s->done = 1;
  fh_conn_gone(s->c, kind, code, 0, why);
  fh_wsp_close(s->w, FH_CLOSE_NORMAL, "");
  return 0;
}

// A packet that cannot be split: to the batch as it came (the pipeline counts it as bad).
static int malformed(sio *s, int kind, const void *p, size_t len)
{
  fh_conn_frame(s->c, kind, p, len);
  return 0;
}

static int same_ns(sio *s, const fh_sio_packet *pk)
{
  return pk->ns_len == s->ns_len && memcmp(pk->ns, s->ns, s->ns_len) == 0;
}

// "40", "41", "43" + the namespace (when not "/"; its query only on the connect) + the rest
static int send_packet(sio *s, const char *head, const char *rest, size_t rlen)
{
  int custom = !(s->ns_len == 1 && s->ns[0] == '/');
  size_t nl = !custom ? 0 : strcmp(head, "40") == 0 ? strlen(s->ns) : s->ns_len;
  char *buf = malloc(strlen(head) + nl + 1 + rlen + 1);
  if (!buf) {
    return -2;
  }
  size_t n = strlen(head);
  memcpy(buf, head, n);
  if (custom) {
    memcpy(buf + n, s->ns, nl);
    n += nl;
    buf[n++] = ',';
  }
  memcpy(buf + n, rest, rlen);
  n += rlen;
  int rc = send_text(s, buf, n);
  free(buf);
  return rc;
}

static int on_engine_open(sio *s, const char *json, size_t len)
{
  free(s->open_text);
  s->open_text = malloc(len + 1);
  if (!s->open_text) {
    return finish(s, FH_EV_ERROR, FH_ERR_RESOURCE, "out of memory");
  }
  memcpy(s->open_text, json, len);
  s->open_text[len] = 0;
  if (s->eio >= 4) {
    const char *a = s->auth ? s->auth : "";
    return send_packet(s, "40", a, strlen(a)) == 0 ? 0 : -1;
  }
  if (!(s->ns_len == 1 && s->ns[0] == '/')) {  // v3 connects "/" by itself
    return send_packet(s, "40", "", 0) == 0 ? 0 : -1;
  }
  return 0;
}

// The server's message of a connect_error: {"message": "..."} (v4) or "..." (v3).
static void error_message(const char *p, size_t len, char *out, size_t cap)
{
  const char *m = p;
  size_t n = len;
  const char *key = memmem(p, len, "\"message\"", 9);
  if (key) {
    const char *q = memchr(key + 9, '"', (size_t)(p + len - key - 9));
    if (q) {
      size_t sl = fh_json_skip(q, (size_t)(p + len - q));
      m = q;
      n = sl ? sl : (size_t)(p + len - q);
    }
  }
  if (n >= 2 && m[0] == '"' && m[n - 1] == '"') {
    m++;
    n -= 2;
  }
  snprintf(out, cap, "connect_error: %.*s", (int)(n > 200 ? 200 : n), n ? m : "(no message)");
}

// One event's arguments to the batch, its name as the frame's metadata.
static int push_event(sio *s, int kind, const fh_sio_event *ev, const char *data, size_t len)
{
  char name[256];
  const char *nm = ev->name;
  size_t nl = ev->name_len;
  if (ev->name_escaped) {
    if (nl >= sizeof name) {
      return -1;
    }
    int r = fh_json_unescape(ev->name, nl, name);
    if (r < 0) {
      return -1;
    }
    nm = name;
    nl = (size_t)r;
  }
  fh_conn_frame_at(s->c, kind, fh_clock_ns(FH_CLOCK_REALTIME), nm, nl, data, len);
  return 0;
}

static int on_event(sio *s, char *p, size_t len, char *pkt, size_t pkt_len)
{
  fh_sio_event ev;
  if (fh_sio_split_event(p, len, &ev) != 0) {
    return malformed(s, FH_FRAME_TEXT, pkt, pkt_len);
  }
  if (ev.string_arg && memchr(ev.args, '\\', ev.args_len)) {
    char *dst = scratch(s, ev.args_len);
    int n = dst ? fh_json_unescape(ev.args, ev.args_len, dst) : -1;
    if (n < 0) {
      return malformed(s, FH_FRAME_TEXT, pkt, pkt_len);
    }
    return push_event(s, FH_FRAME_TEXT, &ev, dst, (size_t)n) == 0
             ? 0 : malformed(s, FH_FRAME_TEXT, pkt, pkt_len);
  }
  return push_event(s, FH_FRAME_TEXT, &ev, ev.args, ev.args_len) == 0
           ? 0 : malformed(s, FH_FRAME_TEXT, pkt, pkt_len);
}

// A binary event with all its attachments: one binary argument becomes a binary frame, else
// the placeholders become base64 strings.
static int binary_done(sio *s)
{
  s->bin_need = 0;
  fh_sio_event ev;
  if (fh_sio_split_event(s->bin_head + s->bin_data_off, s->bin_data_len, &ev) != 0) {
    return malformed(s, FH_FRAME_TEXT, s->bin_head, s->bin_head_len);
  }
  if (s->bin_type == FH_SIO_BINARY_ACK) {
    return 0;
  }
  int k = ev.nargs == 1 ? fh_sio_placeholder(ev.args, ev.args_len) : -1;
  if (k >= 0 && k < s->bin_have) {
    return push_event(s, FH_FRAME_BINARY, &ev, (const char *)s->att + s->att_off[k],
                      s->att_off[k + 1] - s->att_off[k]);
  }
  size_t cap = ev.args_len + s->att_len / 3 * 4 + 8 * (size_t)s->bin_have + 16;
  char *dst = scratch(s, cap);
  size_t n = dst ? fh_sio_fill(ev.args, ev.args_len, s->att, s->att_off, s->bin_have, dst, cap)
                 : 0;
  if (!n || push_event(s, FH_FRAME_TEXT, &ev, dst, n) != 0) {
    return malformed(s, FH_FRAME_TEXT, s->bin_head, s->bin_head_len);
  }
  return 0;
}

static int on_binary(sio *s, uint8_t *p, size_t len)
{
  if (s->eio < 4 && len > 0 && p[0] == 4) {  // v3: the Engine.IO type byte first
    p++;
    len--;
  }
  if (!s->bin_need) {  // a bare binary message
    fh_conn_frame(s->c, FH_FRAME_BINARY, p, len);
    return 0;
  }
  if (s->att_len + len > s->c->max_frame) {
    s->c->st.oversize++;
    fh_conn_event(s->c, FH_EV_OVERSIZE, (int)(s->att_len + len > INT32_MAX ? INT32_MAX
                                                                          : s->att_len + len),
                  0, NULL);
    s->bin_need = 0;
    return 0;
  }
  if (fh_buf_append(&s->att, &s->att_len, &s->att_cap, p, len, 4096)) {
    s->bin_need = 0;
    s->c->st.oversize++;
    return 0;
  }
  s->att_off[++s->bin_have] = s->att_len;
  return s->bin_have == s->bin_need ? binary_done(s) : 0;
}

static int on_packet(sio *s, char *p, size_t len, char *pkt, size_t pkt_len)
{
  fh_sio_packet pk;
  if (fh_sio_parse(p, len, &pk) != 0) {
    return malformed(s, FH_FRAME_TEXT, pkt, pkt_len);
  }
  if (!same_ns(s, &pk)) {
    return 0;  // another namespace's packet
  }
  switch (pk.type) {
  case FH_SIO_CONNECT:
    if (!s->open) {
      s->open = 1;
      fh_conn_event(s->c, FH_EV_OPEN, 0, 0, s->open_text);
    }
    return 0;
  case FH_SIO_DISCONNECT:
    return finish(s, FH_EV_CLOSE, FH_CLOSE_NORMAL, "socket.io: the server disconnected (41)");
  case FH_SIO_CONNECT_ERROR: {
    char why[240];
    error_message(pk.data, pk.data_len, why, sizeof why);
    return s->open ? finish(s, FH_EV_CLOSE, FH_CLOSE_NORMAL, why)
                   : finish(s, FH_EV_ERROR, FH_ERR_REFUSED, why);
  }
  case FH_SIO_EVENT:
    if (pk.ack >= 0) {  // the server asks for an ack: an empty one
      char ack[32];
      int n = snprintf(ack, sizeof ack, "%lld[]", pk.ack);
      send_packet(s, "43", ack, (size_t)n);
    }
    return on_event(s, pk.data, pk.data_len, pkt, pkt_len);
  case FH_SIO_BINARY_EVENT:
  case FH_SIO_BINARY_ACK:
    s->bin_head_len = 0;
    s->att_len = 0;
    s->bin_have = 0;
    if (fh_buf_append(&s->bin_head, &s->bin_head_len, &s->bin_head_cap, p, len, 1024)) {
      return 0;
    }
    s->bin_type = pk.type;  // the header as parsed here: binary_done does not parse it again
    s->bin_data_off = (size_t)(pk.data - p);
    s->bin_data_len = pk.data_len;
    s->bin_need = pk.attachments;
    return pk.attachments == 0 ? binary_done(s) : 0;
  default:
    return 0;
  }
}

static int on_message(fh_wsp *w, int kind, uint8_t *p, size_t len)
{
  sio *s = w->user;
  if (s->done) {
    return 0;
  }
  if (kind == FH_FRAME_BINARY) {
    return on_binary(s, p, len);
  }
  char *t = (char *)p;
  switch (len ? t[0] : 0) {
  case '0':
    return on_engine_open(s, t + 1, len - 1);
  case '1':
    return finish(s, FH_EV_CLOSE, FH_CLOSE_NORMAL, "engine.io: the server closed the session");
  case '2':  // the server's ping (v4): answered at once, with its data (a probe's)
    t[0] = '3';
    send_text(s, t, len);
    fh_conn_event(s->c, FH_EV_PONG, 0, 0, NULL);
    return 0;
  case '3':  // the answer to our ping (v3)
    fh_conn_event(s->c, FH_EV_PONG, 0, 0, NULL);
    return 0;
  case '4':
    return on_packet(s, t + 1, len - 1, t, len);
  case '6':
    return 0;
  default:
    return malformed(s, FH_FRAME_TEXT, p, len);
  }
}

static void on_upgraded(fh_wsp *w)
{
  // the WebSocket is up: the session opens with the server's open packet, then the namespace
  (void)w;
}

static void sio_destroy(fh_conn *c)
{
  fh_wsp *w = fh_ws_client_proto(c);
  sio *s = w ? w->user : NULL;
  if (s) {
    free(s->ns);
    free(s->auth);
    free(s->open_text);
    free(s->scratch);
    free(s->bin_head);
    free(s->att);
    free(s);
    w->user = NULL;
  }
  fh_ws_client.destroy(c);
}

static char *dup_opt(const fh_opts *o, const char *key, const char *dflt)
{
  const char *v = fh_opt_str(o, key);
  return strdup(v && *v ? v : dflt);
}

static int sio_open(fh_conn *c, const fh_opts *o, char *err)
{
  if (fh_ws_client.open(c, o, err) != 0) {
    return -1;
  }
  sio *s = calloc(1, sizeof *s);
  fh_wsp *w = fh_ws_client_proto(c);
  if (!s || !w) {
    free(s);
    snprintf(err, FH_ERR_LEN, "out of memory");
    return -1;
  }
  w->user = s;
  s->c = c;
  s->w = w;
  s->eio = (int)fh_opt_int(o, "eio", 4);
  s->ns = dup_opt(o, "namespace", "/");
  const char *auth = fh_opt_str(o, "auth");
  s->auth = auth && *auth ? strdup(auth) : NULL;
  if (!s->ns || (auth && *auth && !s->auth)) {
    snprintf(err, FH_ERR_LEN, "out of memory");
    return -1;
  }
  if (s->ns[0] != '/') {
    snprintf(err, FH_ERR_LEN, "a Socket.IO namespace starts with '/': %s", s->ns);
    return -1;
  }
  s->ns_len = strcspn(s->ns, "?");
  w->msg = on_message;
  w->opened = on_upgraded;
  return 0;
}

static int sio_send(fh_conn *c, int kind, const char *data, size_t len)
{
  return fh_ws_client.send(c, kind, data, len);
}

// v3: the client pings ("2"); in v4 the server does.
static int sio_ping(fh_conn *c)
{
  fh_wsp *w = fh_ws_client_proto(c);
  sio *s = w ? w->user : NULL;
  return s && s->eio < 4 ? fh_ws_client.send(c, FH_FRAME_TEXT, "2", 1) : -1;
}

// Leaves the namespace ("41"), then closes the WebSocket.
static int sio_close(fh_conn *c, int code, const char *reason)
{
  fh_wsp *w = fh_ws_client_proto(c);
  sio *s = w ? w->user : NULL;
  if (s && s->open && !s->done && !w->closing) {
    send_packet(s, "41", "", 0);
  }
  return fh_ws_client.close(c, code, reason);
}

const fh_transport fh_sio_client = {
  .name = "socketio",
  .open = sio_open,
  .send = sio_send,
  .ping = sio_ping,
  .close = sio_close,
  .destroy = sio_destroy,
};
