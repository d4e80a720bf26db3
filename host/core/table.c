// table.c: see table.h.
#include "core/table.h"

#include <stdlib.h>

fh_conn *fh_table_find(const fh_table *t, int id)
{
  if (!t->icap || id <= 0) {
    return NULL;
  }
  unsigned mask = (unsigned)t->icap - 1;
  for (unsigned i = (unsigned)id & mask;; i = (i + 1) & mask) {
    fh_conn *c = t->index[i];
    if (!c || c->id == id) {
      return c;
    }
  }
}

static void index_put(fh_conn **index, int cap, fh_conn *c)
{
  unsigned mask = (unsigned)cap - 1;
  unsigned i = (unsigned)c->id & mask;
  while (index[i]) {
    i = (i + 1) & mask;
  }
  index[i] = c;
}

// Removes `c` from the index, moving the later entries of its run back.
static void index_del(fh_table *t, fh_conn *c)
{
  unsigned mask = (unsigned)t->icap - 1;
  unsigned i = (unsigned)c->id & mask;
  while (t->index[i] != c) {
    i = (i + 1) & mask;
  }
  t->index[i] = NULL;
  for (unsigned j = (i + 1) & mask; t->index[j]; j = (j + 1) & mask) {
    fh_conn *m = t->index[j];
    t->index[j] = NULL;
    index_put(t->index, t->icap, m);
  }
}

int fh_table_add(fh_table *t, fh_conn *c)
{
  if (t->n == t->cap) {
    int cap = t->cap ? t->cap * 2 : 16;
    fh_conn **na = realloc(t->all, (size_t)cap * sizeof *na);
    if (!na) {
      return -1;
    }
    t->all = na;
    t->cap = cap;
  }
  if ((t->n + 1) * 2 > t->icap) {
    int cap = t->icap ? t->icap * 2 : 32;
    fh_conn **ni = calloc((size_t)cap, sizeof *ni);
    if (!ni) {
      return -1;
    }
    for (int i = 0; i < t->n; i++) {
      index_put(ni, cap, t->all[i]);
    }
    free(t->index);
    t->index = ni;
    t->icap = cap;
  }
  t->all[t->n++] = c;
  index_put(t->index, t->icap, c);
  return 0;
}

void fh_table_remove_at(fh_table *t, int i)
{
  index_del(t, t->all[i]);
  t->all[i] = t->all[--t->n];
}

void fh_table_free(fh_table *t)
{
  free(t->all);
  free(t->index);
  t->all = t->index = NULL;
  t->n = t->cap = t->icap = 0;
}
