// opts.c: reading the key/value options of an open or listen call (see conn.h).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"

const char *fh_opt_str(const fh_opts *o, const char *key)
{
  for (int i = 0; i < o->n; i++) {
    if (o->kv[i].key && strcmp(o->kv[i].key, key) == 0) {
      return o->kv[i].value;
    }
  }
  return NULL;
}

long long fh_opt_int(const fh_opts *o, const char *key, long long dflt)
{
  const char *s = fh_opt_str(o, key);
  if (!s || !*s) {
    return dflt;
  }
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  return (*end || errno) ? dflt : v;
}

int fh_opt_bool(const fh_opts *o, const char *key, int dflt)
{
  const char *s = fh_opt_str(o, key);
  if (!s) {
    return dflt;
  }
  if (!strcmp(s, "1") || !strcmp(s, "true")) {
    return 1;
  }
  if (!strcmp(s, "0") || !strcmp(s, "false")) {
    return 0;
  }
  return dflt;
}

const char *fh_opt_need(const fh_opts *o, const char *key, char *err)
{
  const char *v = fh_opt_str(o, key);
  if (!v || !*v) {
    snprintf(err, FH_ERR_LEN, "no %s", key);
    return NULL;
  }
  return v;
}

