// table.h: the loop's connections: a dense list (for walking them all) and an index by id
// (open addressing, linear probing, no tombstones) for the lookups every send and event makes.
#ifndef FH_TABLE_H
#define FH_TABLE_H

#include "core/conn.h"

typedef struct fh_table {
  fh_conn **all;     // dense, unordered
  int n;
  int cap;
  fh_conn **index;   // by id, power-of-two size, at most half full
  int icap;
} fh_table;

/// The connection with `id`, or NULL.
fh_conn *fh_table_find(const fh_table *t, int id);
/// @return 0, or -1 when out of memory (nothing added).
int fh_table_add(fh_table *t, fh_conn *c);
/// Removes the i-th connection of `all` (the last one takes its place).
void fh_table_remove_at(fh_table *t, int i);
void fh_table_free(fh_table *t);

#endif
