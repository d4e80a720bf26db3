// inbox.h: a bounded queue of messages and events from other threads to the loop's thread.
//
// Libraries with threads of their own (paho's MQTT client) call back on those threads; their
// adapters copy each message into the inbox (fh_conn_post) and report what happened to the
// connection (connected, lost, refused, subscribed: fh_conn_post_event); the loop's thread takes
// them all out on its next poll, in the order they were posted, into the connections' batches
// and events. Producers never wait for the loop: a full inbox refuses a message and the caller
// counts the drop. Events have room of their own, so a flood of messages cannot crowd out the
// news that the connection was lost.
#ifndef FH_INBOX_H
#define FH_INBOX_H

#include <stddef.h>
#include <stdint.h>

typedef struct fh_inbox fh_inbox;

typedef struct fh_inbox_msg {
  int id;        // connection id
  int event;     // 0: a message (kind FH_FRAME_*); 1: an event (kind FH_EV_*, code, aux, text)
  int kind;
  int code;
  int aux;
  int64_t ts;    // when it was posted (epoch ns)
  size_t mlen;   // metadata (a topic) first,
  size_t len;    // then the payload (an event's text, NUL-terminated, counted in len)
  char data[];   // mlen + len bytes
} fh_inbox_msg;

/// A new inbox holding at most `max_msgs` messages and `max_bytes` bytes of them, and besides at
/// most `max_events` events. @return NULL on OOM.
fh_inbox *fh_inbox_new(size_t max_msgs, size_t max_bytes, size_t max_events);
void fh_inbox_free(fh_inbox *q);
/// Thread-safe. @return 1 queued into an empty inbox (the consumer needs a wake-up), 0 queued
/// behind others (a wake-up is on its way), -1 full (or out of memory): nothing queued.
int fh_inbox_push(fh_inbox *q, int id, int kind, int64_t ts, const void *meta, size_t mlen,
                  const void *data, size_t len);
/// An event (text may be NULL). Thread-safe. @return as fh_inbox_push.
int fh_inbox_push_event(fh_inbox *q, int id, int kind, int code, int aux, const char *text);
/// On the consumer's thread: calls `fn` for every queued message and event in order, then frees
/// them. @return entries taken.
size_t fh_inbox_drain(fh_inbox *q, void (*fn)(void *ud, const fh_inbox_msg *m), void *ud);

#endif
