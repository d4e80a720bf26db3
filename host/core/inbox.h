// inbox.h: a bounded queue of messages from other threads to the loop's thread.
//
// Libraries with threads of their own (paho's MQTT client) call back on those threads; their
// adapters copy each message into the inbox (fh_conn_post) and the loop's thread takes them all
// out on its next poll, into the connections' batches. Producers never wait for the loop: a full
// inbox refuses the message and the caller counts the drop.
#ifndef FH_INBOX_H
#define FH_INBOX_H

#include <stddef.h>
#include <stdint.h>

typedef struct fh_inbox fh_inbox;

typedef struct fh_inbox_msg {
  int id;        // connection id
  int kind;      // FH_FRAME_TEXT / FH_FRAME_BINARY
  int64_t ts;    // when it was posted (epoch ns)
  size_t mlen;   // metadata (a topic) first,
  size_t len;    // then the payload
  char data[];   // mlen + len bytes
} fh_inbox_msg;

/// A new inbox holding at most `max_msgs` messages and `max_bytes` bytes. @return NULL on OOM.
fh_inbox *fh_inbox_new(size_t max_msgs, size_t max_bytes);
void fh_inbox_free(fh_inbox *q);
/// Thread-safe. @return 0 queued, -1 full (or out of memory): nothing queued.
int fh_inbox_push(fh_inbox *q, int id, int kind, int64_t ts, const void *meta, size_t mlen,
                  const void *data, size_t len);
/// On the consumer's thread: calls `fn` for every queued message in order, then frees them.
/// @return messages taken.
size_t fh_inbox_drain(fh_inbox *q, void (*fn)(void *ud, const fh_inbox_msg *m), void *ud);

#endif
