// mqtt.c: the "mqtt" transport: an MQTT 3.1.1 client over paho.mqtt.c's MQTTAsync, on tcp://,
// ssl://, ws:// and wss:// (paho does the WebSocket and TLS; OpenSSL verifies the server).
//
// Threads. paho runs threads of its own and calls back on them. Those callbacks (a message, the
// connection lost, the answer to connect, subscribe, unsubscribe and disconnect) only copy bytes
// and post to the loop's inbox (fh_conn_post, fh_conn_post_event), which wakes the loop; the
// loop's thread turns them into the connection's frames and events. Nothing here touches Lua or
// the batch off the loop's thread. paho calls every callback holding its own mutex, and
// MQTTAsync_destroy takes that mutex and unlinks the client: once it returns, no callback of
// this connection runs or will run, so destroy frees the state right after.
//
// paho stops its threads when its last client is destroyed, sleeping up to a second while they
// wind down: on the loop's thread that would stall every connection at each reconnect. A
// dormant client, made once per process and never connected, keeps the threads running. They
// never run in unmapped code: the core, loaded as a Lua module, is linked to stay loaded (see
// CMakeLists.txt), and with it the paho library.
//
// Options: uri (paho's form: tcp://host:port, ssl://..., ws://host:port/path, wss://...),
// client_id, username, password, keepalive (seconds, 0: none), clean_session, connect_timeout
// (seconds), verify, ca_file, cert_file and key_file (a client certificate), binary (messages
// become binary frames), and the core's max_queued (messages waiting in the inbox) and
// max_frame.
#include <MQTTAsync.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "net/topics.h"
#include "net/transports.h"

enum { SUBACK_FAILURE = 0x80, DISCONNECT_MS = 500 };

typedef struct mqtt mqtt;

// A subscribe or unsubscribe waiting for the broker's answer (the context of its callbacks).
typedef struct request {
  mqtt *s;
  fh_topics t;
  int unsubscribe;
  struct request *prev;
  struct request *next;
} request;

struct mqtt {
  fh_conn *c;
  MQTTAsync cl;
  atomic_int connected;   // paho's thread: the connect succeeded and the session is not lost
  int closing;            // the loop's thread: close was asked for
  int close_code;         // the code the close reports (set before the disconnect is queued)
  int kind;               // FH_FRAME_TEXT or FH_FRAME_BINARY for the messages
  char tls_err[240];      // OpenSSL's words for a failed handshake (paho's thread)
  pthread_mutex_t mu;     // the requests list (the loop's thread adds, paho's removes)
  request *requests;
  char *client_id;
  char *username;
  char *password;
  char *ca_file;
  char *cert_file;
  char *key_file;
};

// ---- paho, once per process ---------------------------------------------------------------------
static pthread_once_t paho_once = PTHREAD_ONCE_INIT;
static MQTTAsync keeper;   // the dormant client (see the top)

static void paho_init(void)
{
  MQTTAsync_init_options init = MQTTAsync_init_options_initializer;
  init.do_openssl_init = 0;   // OpenSSL 3 initializes itself; libwebsockets uses it too
  MQTTAsync_global_init(&init);
  MQTTAsync_create(&keeper, "tcp://127.0.0.1:1", "feedhost-keeper", MQTTCLIENT_PERSISTENCE_NONE,
                   NULL);
}

// ---- paho's threads: copy and post, nothing else ------------------------------------------------------
static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
  mqtt *s = ctx;
  size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
  fh_conn_post(s->c, s->kind, topic, tlen, m->payload, (size_t)m->payloadlen);  // refusal counted
  MQTTAsync_freeMessage(&m);
  MQTTAsync_free(topic);
  return 1;   // handled (a message the inbox refused is counted, not redelivered)
}

static void on_lost(void *ctx, char *cause)
{
  mqtt *s = ctx;
  atomic_store(&s->connected, 0);
  fh_conn_post_event(s->c, FH_EV_CLOSE, FH_CLOSE_LOST, 0,
                     cause && *cause ? cause : "connection lost");
}

static void on_connected(void *ctx, MQTTAsync_successData *r)
{
  mqtt *s = ctx;
  atomic_store(&s->connected, 1);
  fh_conn_post_event(s->c, FH_EV_OPEN, 0, 0, s->client_id);
}

static const char *connack_text(int rc)
{
  static const char *const text[] = {
    "", "unacceptable protocol version", "client identifier rejected", "server unavailable",
    "bad user name or password", "not authorized",
  };
  return rc > 0 && rc < 6 ? text[rc] : "refused";
}

static void on_connect_failed(void *ctx, MQTTAsync_failureData *r)
{
  mqtt *s = ctx;
  int code = r ? r->code : MQTTASYNC_FAILURE;
  char why[320];
  if (code > 0) {   // the broker answered CONNACK with a refusal
    snprintf(why, sizeof why, "refused by the broker: %s (CONNACK %d)", connack_text(code), code);
    fh_conn_post_event(s->c, FH_EV_ERROR, FH_ERR_REFUSED, code, why);
  } else if (s->tls_err[0]) {
    snprintf(why, sizeof why, "%s", s->tls_err);
    fh_conn_post_event(s->c, FH_EV_ERROR,
                       strstr(why, "certificate") ? FH_ERR_TLS_CERT : FH_ERR_TLS, 0, why);
  } else {
    snprintf(why, sizeof why, "%s", r && r->message ? r->message : "connect failed");
    fh_conn_post_event(s->c, FH_EV_ERROR, FH_ERR_CONNECT, 0, why);
  }
}

// OpenSSL's error lines during the handshake: the first one that says why is kept.
static int on_tls_error(const char *str, size_t len, void *u)
{
  mqtt *s = u;
  if (!s->tls_err[0]) {
    // "<id>:error:<code>:SSL routines:<function>:<reason>:<file>:<line>:": keep the reason
    const char *why = str;
    for (int field = 0; field < 5 && why; field++) {
      why = memchr(why, ':', len - (size_t)(why - str));
      why = why ? why + 1 : NULL;
    }
    const char *end = why ? memchr(why, ':', len - (size_t)(why - str)) : NULL;
    if (why && end) {
      snprintf(s->tls_err, sizeof s->tls_err, "TLS: %.*s", (int)(end - why), why);
    } else {
      snprintf(s->tls_err, sizeof s->tls_err, "TLS: %.*s", (int)len, str);
    }
  }
  return 0;
}

static void on_disconnected(void *ctx, MQTTAsync_successData *r)
{
  mqtt *s = ctx;
  atomic_store(&s->connected, 0);
  fh_conn_post_event(s->c, FH_EV_CLOSE, s->close_code, 0, "closed by host");
}

static void on_disconnect_failed(void *ctx, MQTTAsync_failureData *r)
{
  on_disconnected(ctx, NULL);
}

// Unlinks and frees a request whose answer came (or that was never sent).
static void request_done(request *q)
{
  mqtt *s = q->s;
  pthread_mutex_lock(&s->mu);
  if (q->prev) {
    q->prev->next = q->next;
  } else {
    s->requests = q->next;
  }
  if (q->next) {
    q->next->prev = q->prev;
  }
  pthread_mutex_unlock(&s->mu);
  fh_topics_free(&q->t);
  free(q);
}

// The topics of `q` the broker refused (`granted` NULL: all of them), as a short list.
static int refused_list(const request *q, const int *granted, char *out, size_t room)
{
  int n = 0;
  size_t used = 0;
  out[0] = 0;
  for (int i = 0; i < q->t.n; i++) {
    if (granted && granted[i] != SUBACK_FAILURE) {
      continue;
    }
    n++;
    if (used < room) {
      int w = snprintf(out + used, room - used, "%s%s", used ? ", " : "", q->t.topic[i]);
      used += w > 0 ? (size_t)w : 0;
    }
  }
  return n;
}

static void on_subscribed(void *ctx, MQTTAsync_successData *r)
{
  request *q = ctx;
  int one = r->alt.qos;
  const int *granted = q->t.n == 1 ? &one : r->alt.qosList;
  char text[400];
  int refused = refused_list(q, granted, text, sizeof text);
  fh_conn_post_event(q->s->c, FH_EV_SUBSCRIBED, q->t.n - refused, refused, refused ? text : NULL);
  request_done(q);
}

static void on_unsubscribed(void *ctx, MQTTAsync_successData *r)
{
  request *q = ctx;
  fh_conn_post_event(q->s->c, FH_EV_SUBSCRIBED, 0, 0, NULL);
  request_done(q);
}

static void on_request_failed(void *ctx, MQTTAsync_failureData *r)
{
  request *q = ctx;
  char text[400];
  int n = refused_list(q, NULL, text, sizeof text);
  fh_conn_post_event(q->s->c, FH_EV_SUBSCRIBED, 0, n, text);
  request_done(q);
}

// ---- the loop's thread --------------------------------------------------------------------------
static char *dup_opt(const fh_opts *o, const char *key)
{
  const char *v = fh_opt_str(o, key);
  return v && *v ? strdup(v) : NULL;
}

static int open_mqtt(fh_conn *c, const fh_opts *o, char *err)
{
  const char *uri = fh_opt_need(o, "uri", err);
  const char *client_id = uri ? fh_opt_need(o, "client_id", err) : NULL;
  mqtt *s = client_id ? fh_conn_state(c, sizeof *s, err) : NULL;
  if (!s) {
    return -1;
  }
  pthread_once(&paho_once, paho_init);
  s->c = c;
  s->kind = fh_opt_bool(o, "binary", 0) ? FH_FRAME_BINARY : FH_FRAME_TEXT;
  s->close_code = FH_CLOSE_NORMAL;
  pthread_mutex_init(&s->mu, NULL);
  s->client_id = strdup(client_id);
  s->username = dup_opt(o, "username");
  s->password = dup_opt(o, "password");
  s->ca_file = dup_opt(o, "ca_file");
  s->cert_file = dup_opt(o, "cert_file");
  s->key_file = dup_opt(o, "key_file");
  if (!s->client_id) {
    snprintf(err, FH_ERR_LEN, "out of memory");
    return -1;
  }
  MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
  co.MQTTVersion = MQTTVERSION_3_1_1;
  int rc = MQTTAsync_createWithOptions(&s->cl, uri, s->client_id, MQTTCLIENT_PERSISTENCE_NONE,
                                       NULL, &co);
  if (rc != MQTTASYNC_SUCCESS) {
    s->cl = NULL;
    snprintf(err, FH_ERR_LEN, "cannot make an MQTT client for %s: %s", uri,
             MQTTAsync_strerror(rc));
    return -1;
  }
  MQTTAsync_setCallbacks(s->cl, s, on_lost, on_message, NULL);
  int tls = !strncmp(uri, "ssl://", 6) || !strncmp(uri, "wss://", 6);
  int ws = !strncmp(uri, "ws://", 5) || !strncmp(uri, "wss://", 6);
  MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
  MQTTAsync_connectOptions opts_ws = MQTTAsync_connectOptions_initializer_ws;
  if (ws) {
    opts = opts_ws;
  }
  opts.MQTTVersion = MQTTVERSION_3_1_1;
  opts.keepAliveInterval = (int)fh_opt_int(o, "keepalive", 30);
  opts.cleansession = fh_opt_bool(o, "clean_session", 1);
  opts.connectTimeout = (int)fh_opt_int(o, "connect_timeout", 10);
  opts.automaticReconnect = 0;   // the connection's own backoff reconnects
  opts.username = s->username;
  opts.password = s->password;
  opts.onSuccess = on_connected;
  opts.onFailure = on_connect_failed;
  opts.context = s;
  MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
  if (tls) {
    int verify = fh_opt_bool(o, "verify", 1);
    ssl.trustStore = s->ca_file;
    ssl.keyStore = s->cert_file;
    ssl.privateKey = s->key_file;
    ssl.enableServerCertAuth = verify;
    ssl.verify = verify;   // the host name (or IP address) against the certificate
    ssl.ssl_error_cb = on_tls_error;
    ssl.ssl_error_context = s;
    opts.ssl = &ssl;
  }
  rc = MQTTAsync_connect(s->cl, &opts);
  if (rc != MQTTASYNC_SUCCESS) {
    snprintf(err, FH_ERR_LEN, "cannot connect to %s: %s", uri, MQTTAsync_strerror(rc));
    return -1;
  }
  return 0;
}

static int mqtt_send(fh_conn *c, int kind, const char *data, size_t len)
{
  mqtt *s = c->impl;
  if (s->closing || !atomic_load(&s->connected) ||
      (kind != FH_SEND_SUBSCRIBE && kind != FH_SEND_UNSUBSCRIBE)) {
    return -1;
  }
  char err[FH_ERR_LEN];
  request *q = calloc(1, sizeof *q);
  if (!q || fh_topics_parse(data, len, &q->t, err) != 0) {
    free(q);
    c->st.out_dropped++;
    return -2;
  }
  q->s = s;
  q->unsubscribe = kind == FH_SEND_UNSUBSCRIBE;
  pthread_mutex_lock(&s->mu);   // linked first: the answer may come before the call returns
  q->next = s->requests;
  if (q->next) {
    q->next->prev = q;
  }
  s->requests = q;
  pthread_mutex_unlock(&s->mu);
  MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
  ro.context = q;
  ro.onSuccess = q->unsubscribe ? on_unsubscribed : on_subscribed;
  ro.onFailure = on_request_failed;
  int rc = q->unsubscribe ? MQTTAsync_unsubscribeMany(s->cl, q->t.n, q->t.topic, &ro)
                          : MQTTAsync_subscribeMany(s->cl, q->t.n, q->t.topic, q->t.qos, &ro);
  if (rc != MQTTASYNC_SUCCESS) {   // not queued: no callback will come
    request_done(q);
    if (rc == MQTTASYNC_DISCONNECTED) {
      return -1;
    }
    c->st.out_dropped++;
    return -2;
  }
  c->st.frames_out++;
  return 0;
}

static int close_mqtt(fh_conn *c, int code, const char *reason)
{
  mqtt *s = c->impl;
  if (s->closing) {
    return 0;
  }
  s->closing = 1;
  s->close_code = code;
  MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
  d.timeout = DISCONNECT_MS;
  d.onSuccess = on_disconnected;
  d.onFailure = on_disconnect_failed;
  d.context = s;
  int was_open = atomic_load(&s->connected);
  if (was_open && MQTTAsync_disconnect(s->cl, &d) == MQTTASYNC_SUCCESS) {
    return 0;   // on_disconnected reports the close
  }
  // still connecting (or lost meanwhile): nothing to say to the broker; destroy ends the attempt
  if (was_open) {
    fh_conn_gone(c, FH_EV_CLOSE, code, 0, "closed by host");
  } else {
    fh_conn_gone(c, FH_EV_ERROR, FH_ERR_CLOSED, 0, "closed by host during the handshake");
  }
  return 0;
}

static void mqtt_destroy(fh_conn *c)
{
  mqtt *s = c->impl;
  if (!s) {
    return;
  }
  if (s->cl) {
    MQTTAsync_destroy(&s->cl);   // after this no callback of ours runs (see the top)
  }
  while (s->requests) {   // unanswered: paho dropped them without a callback
    request *q = s->requests;
    s->requests = q->next;
    fh_topics_free(&q->t);
    free(q);
  }
  pthread_mutex_destroy(&s->mu);
  free(s->client_id);
  free(s->username);
  free(s->password);
  free(s->ca_file);
  free(s->cert_file);
  free(s->key_file);
  free(s);
  c->impl = NULL;
}

const fh_transport fh_mqtt = {
  .name = "mqtt",
  .open = open_mqtt,
  .send = mqtt_send,
  .close = close_mqtt,
  .destroy = mqtt_destroy,
};
