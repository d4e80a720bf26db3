// conn.c: the services of the loop core to transport adapters (see conn.h): connections made
// and freed, their messages and events, and what other threads post for them through the inbox.
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/utf8.h"
#include "core/loop_impl.h"

fh_conn *fh_conn_new(fh_loop *lp, const fh_transport *t)
{
  fh_conn *c = calloc(1, sizeof *c);
  if (!c) {
    return NULL;
  }
  c->batch = fh_batch_new(1 << 16, 256);
  if (!c->batch) {
    free(c);
    return NULL;
  }
  c->lp = lp;
  c->t = t;
  c->max_frame = FH_DEFAULT_MAX_FRAME;
  c->max_posted = INBOX_MSGS;
  do {  // ids stay positive int and are never 0
    lp->next_id = lp->next_id == INT32_MAX ? 1 : lp->next_id + 1;
  } while (fh_table_find(&lp->conns, lp->next_id));
  c->id = lp->next_id;
  if (fh_table_add(&lp->conns, c) != 0) {
    fh_batch_free(c->batch);
    free(c);
    return NULL;
  }
  return c;
}

void fh_conn_free(fh_conn *c)
{
  if (c->t->destroy) {
    c->t->destroy(c);
  }
  fh_batch_free(c->batch);
  free(c);
}

struct lws *fh_conn_connect(fh_conn *c, fh_io *io, struct lws_vhost *vh, const char *host,
                            int port, const char *host_header, const char *path,
                            const char *method, int ssl_flags)
{
  struct lws_client_connect_info ci;
  memset(&ci, 0, sizeof ci);
  ci.context = c->lp->ctx;
  ci.vhost = vh ? vh : c->lp->vhost;
  ci.address = host;
  ci.port = port;
  ci.path = path && *path ? path : "/";
  ci.host = host_header ? host_header : host;
  ci.origin = host;
  ci.method = method;
  ci.ssl_connection = ssl_flags;
  ci.local_protocol_name = fh_lws_protocol;
  ci.opaque_user_data = io;
  struct lws *wsi = NULL;
  ci.pwsi = &wsi;
  // A failure inside lws_client_connect_via_info is also reported through
  // CLIENT_CONNECTION_ERROR, so the caller always sees one ERROR or OPEN event for this id.
  lws_client_connect_via_info(&ci);
  if (!wsi && !c->gone) {
    fh_conn_gone(c, FH_EV_ERROR, FH_ERR_CONNECT, 0, "cannot start the connection");
  }
  if (wsi && c->lp->ps) {
    fh_pollset_connecting(c->lp->ps, wsi);
  }
  return wsi;
}

void fh_conn_event(fh_conn *c, int kind, int code, int aux, const char *text)
{
  fh_loop_push_event(c->lp, kind, c->id, code, aux, text);
}

void fh_conn_gone(fh_conn *c, int kind, int code, int aux, const char *text)
{
  if (c->gone) {
    return;
  }
  c->gone = 1;
  fh_loop_push_event(c->lp, kind, c->id, code, aux, text);
}

void fh_conn_frame_at(fh_conn *c, int kind, int64_t ts, const void *meta, size_t mlen,
                      const void *data, size_t len)
{
  if (fh_batch_push_meta(c->batch, 0, (uint8_t)kind, ts, meta, mlen, data, len) != 0) {
    c->st.oversize++;  // out of memory: counted with the dropped messages
    return;
  }
  c->st.frames_in++;
  c->st.bytes_in += len;
  c->lp->frames++;
  c->lp->bytes += (uint32_t)len;
  if (!c->ready) {
    c->ready = 1;
    fh_loop_push_event(c->lp, FH_EV_FRAMES, c->id, 0, 0, NULL);
  }
}

void fh_conn_frame(fh_conn *c, int kind, const void *data, size_t len)
{
  fh_conn_frame_at(c, kind, fh_clock_ns(FH_CLOCK_REALTIME), NULL, 0, data, len);
}

int fh_conn_text_ok(fh_conn *c, const void *data, size_t len)
{
  size_t bad = 0;
  if (fh_utf8_valid(data, len, &bad)) {
    return 1;
  }
  c->st.invalid++;
  char sample[97];   // the start of the message, for the log line (which escapes it)
  size_t n = len < sizeof sample - 1 ? len : sizeof sample - 1;
  memcpy(sample, data, n);
  sample[n] = 0;
  for (size_t i = 0; i < n; i++) {   // a NUL would end the text early
    if (!sample[i]) {
      sample[i] = ' ';
    }
  }
  fh_loop_push_event(c->lp, FH_EV_INVALID, c->id, len > INT32_MAX ? INT32_MAX : (int)len,
                     bad > INT32_MAX ? INT32_MAX : (int)bad, sample);
  return 0;
}

void *fh_conn_state(fh_conn *c, size_t size, char *err)
{
  c->impl = calloc(1, size);
  if (!c->impl) {
    snprintf(err, FH_ERR_LEN, "out of memory");
  }
  return c->impl;
}

int fh_conn_again(fh_conn *c, fh_io *io)
{
  fh_loop *lp = c->lp;
  for (int i = 0; i < lp->nagain; i++) {
    if (lp->again[i].io == io && lp->again[i].id == c->id) {
      return 0;
    }
  }
  if (lp->nagain == lp->capagain) {
    int cap = lp->capagain ? lp->capagain * 2 : 8;
    struct again *a = realloc(lp->again, (size_t)cap * sizeof *a);
    if (!a) {
      return -1;
    }
    lp->again = a;
    lp->capagain = cap;
  }
  lp->again[lp->nagain++] = (struct again){ c->id, io };
  return 0;
}

void fh_loop_run_again(fh_loop *lp)
{
  // the calls may ask again: they are taken first and run from a copy of the list
  int n = lp->nagain;
  if (!n) {
    return;
  }
  struct again list[64];
  if (n > 64) {
    n = 64;
  }
  memcpy(list, lp->again, (size_t)n * sizeof *list);
  memmove(lp->again, lp->again + n, (size_t)(lp->nagain - n) * sizeof *list);
  lp->nagain -= n;
  for (int i = 0; i < n; i++) {
    fh_conn *c = fh_table_find(&lp->conns, list[i].id);
    if (c && !c->gone) {
      list[i].io->on(list[i].io, NULL, FH_IO_AGAIN, NULL, 0);
    }
  }
}

// ---- from other threads ---------------------------------------------------------------------------
// One entry of the inbox, on the loop's thread: a message into its connection's batch, an
// event as the adapter would have reported it itself. Entries of a connection already gone are
// dropped (the adapter reported its end).
static void inbox_msg(void *ud, const fh_inbox_msg *m)
{
  fh_conn *c = fh_table_find(&((fh_loop *)ud)->conns, m->id);
  if (!c) {
    return;
  }
  if (!m->event) {
    atomic_fetch_sub(&c->posted_waiting, 1);
    if (!c->gone) {
      fh_conn_frame_at(c, m->kind, m->ts, m->data, m->mlen, m->data + m->mlen, m->len);
    }
    return;
  }
  if (c->gone) {
    return;
  }
  const char *text = m->len ? m->data : NULL;
  if (m->kind == FH_EV_CLOSE || m->kind == FH_EV_ERROR) {
    fh_conn_gone(c, m->kind, m->code, m->aux, text);
    return;
  }
  if (m->kind == FH_EV_OVERSIZE) {
    c->st.oversize++;
  }
  fh_conn_event(c, m->kind, m->code, m->aux, text);
}

// A refusal of fh_conn_post*: counted; the loop's thread reports it (FH_EV_DROPPED).
static int refused(fh_conn *c)
{
  atomic_fetch_add(&c->posted_dropped, 1);
  fh_loop_wake(c->lp);
  return -1;
}

int fh_conn_post(fh_conn *c, int kind, const void *meta, size_t mlen, const void *data,
                 size_t len)
{
  if (len > c->max_frame) {   // dropped: the loop's thread counts it and says so
    fh_conn_post_event(c, FH_EV_OVERSIZE, len > INT32_MAX ? INT32_MAX : (int)len, 0, NULL);
    return -1;
  }
  if (atomic_fetch_add(&c->posted_waiting, 1) >= c->max_posted) {
    atomic_fetch_sub(&c->posted_waiting, 1);
    return refused(c);
  }
  int r = fh_inbox_push(c->lp->inbox, c->id, kind, fh_clock_ns(FH_CLOCK_REALTIME), meta, mlen,
                        data, len);
  if (r < 0) {
    atomic_fetch_sub(&c->posted_waiting, 1);
    return refused(c);
  }
  if (r > 0) {   // the first since the loop last drained the inbox: it must wake
    fh_loop_wake(c->lp);
  }
  return 0;
}

int fh_conn_post_event(fh_conn *c, int kind, int code, int aux, const char *text)
{
  int r = fh_inbox_push_event(c->lp->inbox, c->id, kind, code, aux, text);
  if (r < 0) {
    return refused(c);
  }
  if (r > 0) {
    fh_loop_wake(c->lp);
  }
  return 0;
}

// What other threads posted since the last poll: messages into batches, refusals as events.
void fh_loop_take_posted(fh_loop *lp)
{
  fh_inbox_drain(lp->inbox, inbox_msg, lp);
  for (int i = 0; i < lp->conns.n; i++) {
    fh_conn *c = lp->conns.all[i];
    uint64_t d = atomic_load(&c->posted_dropped);
    if (d != c->dropped_reported) {
      uint64_t n = d - c->dropped_reported;
      c->dropped_reported = d;
      c->st.in_dropped += n;
      fh_loop_push_event(lp, FH_EV_DROPPED, c->id, n > INT32_MAX ? INT32_MAX : (int)n, 0, NULL);
    }
  }
}
