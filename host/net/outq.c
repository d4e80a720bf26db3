// outq.c: see outq.h.
#include "net/outq.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

int fh_outq_init(fh_outq *q, unsigned cap)
{
  q->m = calloc(cap, sizeof *q->m);
  q->head = q->n = 0;
  q->cap = q->m ? cap : 0;
  return q->m ? 0 : -1;
}

void fh_outq_free(fh_outq *q)
{
  while (q->n) {
    fh_outq_pop(q);
  }
  free(q->m);
  q->m = NULL;
  q->cap = 0;
}

unsigned char *fh_outq_push(fh_outq *q, int kind, size_t len, size_t room)
{
  if (q->n == q->cap) {
    return NULL;
  }
  unsigned char *buf = malloc(LWS_PRE + (room > len ? room : len) + 1);
  if (!buf) {
    return NULL;
  }
  fh_out *m = &q->m[(q->head + q->n) % q->cap];
  m->buf = buf;
  m->len = len;
  m->kind = kind;
  q->n++;
  return buf + LWS_PRE;
}

fh_out *fh_outq_tail(fh_outq *q)
{
  return q->n ? &q->m[(q->head + q->n - 1) % q->cap] : NULL;
}

fh_out *fh_outq_head(fh_outq *q)
{
  return q->n ? &q->m[q->head] : NULL;
}

void fh_outq_pop(fh_outq *q)
{
  if (!q->n) {
    return;
  }
  free(q->m[q->head].buf);
  q->m[q->head].buf = NULL;
  q->head = (q->head + 1) % q->cap;
  q->n--;
}

int fh_outq_write(fh_outq *q, struct lws *wsi, unsigned char *scratch, uint64_t *bytes_out)
{
  fh_out *m = fh_outq_head(q);
  if (m && m->len > FH_OUTQ_CHUNK) {  // a big message goes as it is (lws keeps what the socket
    int w = lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_RAW);   // did not take)
    *bytes_out += m->len;
    fh_outq_pop(q);
    return w < 0 ? -1 : 0;
  }
  size_t n = 0;
  while ((m = fh_outq_head(q)) && n + m->len <= FH_OUTQ_CHUNK) {
    memcpy(scratch + LWS_PRE + n, m->buf + LWS_PRE, m->len);
    n += m->len;
    fh_outq_pop(q);
  }
  *bytes_out += n;
  return n && lws_write(wsi, scratch + LWS_PRE, n, LWS_WRITE_RAW) < 0 ? -1 : 0;
}
