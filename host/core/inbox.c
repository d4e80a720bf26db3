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
  size_t bytes;
  fh_inbox_msg **taken;   // the consumer's list (same capacity)
  size_t max_msgs;
  size_t max_bytes;
};

fh_inbox *fh_inbox_new(size_t max_msgs, size_t max_bytes)
{
  fh_inbox *q = calloc(1, sizeof *q);
  if (!q) {
    return NULL;
  }
  q->pending = calloc(max_msgs, sizeof *q->pending);
  q->taken = calloc(max_msgs, sizeof *q->taken);
  if (!q->pending || !q->taken || pthread_mutex_init(&q->mu, NULL) != 0) {
    free(q->pending);
    free(q->taken);
    free(q);
    return NULL;
  }
  q->max_msgs = max_msgs;
  q->max_bytes = max_bytes;
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

int fh_inbox_push(fh_inbox *q, int id, int kind, int64_t ts, const void *meta, size_t mlen,
                  const void *data, size_t len)
{
  // copied before taking the lock: producers only contend for the append
  fh_inbox_msg *m = malloc(sizeof *m + mlen + len);
  if (!m) {
    return -1;
  }
  m->id = id;
  m->kind = kind;
  m->ts = ts;
  m->mlen = mlen;
  m->len = len;
  if (mlen) {
    memcpy(m->data, meta, mlen);
  }
  if (len) {
    memcpy(m->data + mlen, data, len);
  }
  size_t size = mlen + len;
  pthread_mutex_lock(&q->mu);
  int full = q->n == q->max_msgs || q->bytes + size > q->max_bytes;
  if (!full) {
    q->pending[q->n++] = m;
    q->bytes += size;
  }
  pthread_mutex_unlock(&q->mu);
  if (full) {
    free(m);
    return -1;
  }
  return 0;
}

size_t fh_inbox_drain(fh_inbox *q, void (*fn)(void *ud, const fh_inbox_msg *m), void *ud)
{
  pthread_mutex_lock(&q->mu);
  fh_inbox_msg **list = q->pending;
  size_t n = q->n;
  q->pending = q->taken;
  q->taken = list;
  q->n = 0;
  q->bytes = 0;
  pthread_mutex_unlock(&q->mu);
  for (size_t i = 0; i < n; i++) {
    fn(ud, list[i]);
    free(list[i]);
  }
  return n;
}
