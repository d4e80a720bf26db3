// topics.c: see topics.h.
#include "net/topics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"

int fh_topics_parse(const char *data, size_t len, fh_topics *out, char *err)
{
  memset(out, 0, sizeof *out);
  int n = 0;
  for (size_t i = 0; i < len; i++) {
    n += data[i] == 0;
  }
  if (n == 0 || data[len - 1] != 0) {
    snprintf(err, FH_ERR_LEN, "no topics");
    return -1;
  }
  out->topic = calloc((size_t)n, sizeof *out->topic);
  out->qos = calloc((size_t)n, sizeof *out->qos);
  if (!out->topic || !out->qos) {
    fh_topics_free(out);
    snprintf(err, FH_ERR_LEN, "out of memory");
    return -1;
  }
  for (const char *p = data; p < data + len; p += strlen(p) + 1) {
    if (*p < '0' || *p > '2') {
      fh_topics_free(out);
      snprintf(err, FH_ERR_LEN, "bad topic entry %d", out->n + 1);
      return -1;
    }
    out->qos[out->n] = *p - '0';
    if (!(out->topic[out->n] = strdup(p + 1))) {
      fh_topics_free(out);
      snprintf(err, FH_ERR_LEN, "out of memory");
      return -1;
    }
    out->n++;
  }
  return 0;
}

void fh_topics_free(fh_topics *t)
{
  for (int i = 0; t->topic && i < t->n; i++) {
    free(t->topic[i]);
  }
  free(t->topic);
  free(t->qos);
  memset(t, 0, sizeof *t);
}
