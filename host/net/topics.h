// topics.h: the topic list of a subscribe or unsubscribe request (FH_SEND_SUBSCRIBE /
// FH_SEND_UNSUBSCRIBE in loop.h), as the MQTT and ZeroMQ adapters take it.
#ifndef FH_TOPICS_H
#define FH_TOPICS_H

#include <stddef.h>

typedef struct fh_topics {
  int n;
  char **topic;   // NUL-terminated, n of them
  int *qos;       // 0, 1 or 2
} fh_topics;

/// Parses `len` bytes of "<qos digit><topic>\0" entries into `out` (allocated; fh_topics_free).
/// A topic may be empty (a ZeroMQ prefix matching everything). @return 0, or -1 with `err` (room
/// FH_ERR_LEN) when malformed (no entry, a QoS not 0-2, no final NUL) or out of memory.
int fh_topics_parse(const char *data, size_t len, fh_topics *out, char *err);
void fh_topics_free(fh_topics *t);

#endif
