// inbox.c: see inbox.h. Producers append to `pending` under the lock; the consumer swaps it
// with an empty list under the lock and works through the taken list without it, so a
// producer waits at most for a pointer swap.
#include "core/inbox.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct fh_inbox {
  pthread_mutex_t mu;
  fh_inbox_msg **pending;
  size_t n;
  size_t msgs;            // messages among the pending entries (the rest are events)
  size_t bytes;
  fh_inbox_msg **taken;   // the consumer's list (same capacity)
  size_t max_msgs;
  size_t max_bytes;
  size_t max_events;
};

fh_inbox *fh_inbox_new(size_t max_msgs, size_t max_bytes, size_t max_events)
{
  fh_inbox *q = calloc(1, sizeof *q);
  if (!q) {
    return NULL;
  }
  size_t cap = max_msgs + max_events;
  q->pending = calloc(cap, sizeof *q->pending);
  q->taken = calloc(cap, sizeof *q->taken);
  if (!q->pending || !q->taken || pthread_mutex_init(&q->mu, NULL) != 0) {
    free(q->pending);
    free(q->taken);
    free(q);
    return NULL;
  }
  q->max_msgs = max_msgs;
  q->max_bytes = max_bytes;
  q->max_events = max_events;
  return q;
}

void fh_inbox_free(fh_inbox *q)
{
  if (!q) {
    return;
  }
  for (size_t i = 0; i < q->n; i++) {
    free(q->pending[i]);
  }
  pthread_mutex_destroy(&q->mu);
  free(q->pending);
  free(q->taken);
  free(q);
}

// Appends `m` if there is room for it (a message, or an event). @return 1 (it is the first),
// 0, or -1 (m freed).
static int append(fh_inbox *q, fh_inbox_msg *m)
{
  size_t size = m->event ? 0 : m->mlen + m->len;
  pthread_mutex_lock(&q->mu);
  int full = m->event ? q->n - q->msgs == q->max_events
                      : q->msgs == q->max_msgs || q->bytes + size > q->max_bytes;
  int first = q->n == 0;
  if (!full) {
    q->pending[q->n++] = m;
    q->msgs += !m->event;
    q->bytes += size;
  }
  pthread_mutex_unlock(&q->mu);
  if (full) {
    free(m);
    return -1;
  }
  return first;
}

// A new entry holding `mlen` + `len` bytes (copied before taking the lock: producers only
// contend for the append).
static fh_inbox_msg *entry(int id, int event, int kind, int64_t ts, const void *meta,
                           size_t mlen, const void *data, size_t len)
{
  fh_inbox_msg *m = malloc(sizeof *m + mlen + len);
  if (!m) {
    return NULL;
  }
  *m = (fh_inbox_msg){ .id = id, .event = event, .kind = kind, .ts = ts, .mlen = mlen,
                       .len = len };
  if (mlen) {
    memcpy(m->data, meta, mlen);
  }
  if (len) {
    memcpy(m->data + mlen, data, len);
  }
  return m;
}

int fh_inbox_push(fh_inbox *q, int id, int kind, int64_t ts, const void *meta, size_t mlen,
                  const void *data, size_t len)
{
  fh_inbox_msg *m = entry(id, 0, kind, ts, meta, mlen, data, len);
  return m ? append(q, m) : -1;
}

int fh_inbox_push_event(fh_inbox *q, int id, int kind, int code, int aux, const char *text)
{
  fh_inbox_msg *m = entry(id, 1, kind, 0, NULL, 0, text, text ? strlen(text) + 1 : 0);
  if (!m) {
    return -1;
  }
  m->code = code;
  m->aux = aux;
  return append(q, m);
}

size_t fh_inbox_drain(fh_inbox *q, void (*fn)(void *ud, const fh_inbox_msg *m), void *ud)
{
  pthread_mutex_lock(&q->mu);
  fh_inbox_msg **list = q->pending;
  size_t n = q->n;
  q->pending = q->taken;
  q->taken = list;
  q->n = 0;
  q->msgs = 0;
  q->bytes = 0;
  pthread_mutex_unlock(&q->mu);
  for (size_t i = 0; i < n; i++) {
    fn(ud, list[i]);
    free(list[i]);
  }
  return n;
}
