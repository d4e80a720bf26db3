// zmq_count: the count-only ZeroMQ subscriber (SUB, every prefix, RCVHWM 0): the ceiling of what
// the publisher delivers. Prints one JSON line (first to last message).
//
//   zmq_count ENDPOINT N
#include <zmq.h>

#include "bench_util.h"

int main(int argc, char **argv)
{
  if (argc != 3) {
    fprintf(stderr, "usage: zmq_count ENDPOINT N\n");
    return 2;
  }
  uint64_t want = strtoull(argv[2], NULL, 10);
  void *ctx = zmq_ctx_new();
  void *s = zmq_socket(ctx, ZMQ_SUB);
  int zero = 0;
  int wait_ms = 5000;
  zmq_setsockopt(s, ZMQ_RCVHWM, &zero, sizeof zero);
  zmq_setsockopt(s, ZMQ_RCVTIMEO, &wait_ms, sizeof wait_ms);
  zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
  zmq_connect(s, argv[1]);
  uint64_t msgs = 0;
  uint64_t bytes = 0;
  double t0 = 0;
  double t1 = 0;
  zmq_msg_t m;
  zmq_msg_init(&m);
  while (msgs < want) {
    int r = zmq_msg_recv(&m, s, 0);
    if (r < 0) {
      break;
    }
    bytes += (uint64_t)r;
    if (!msgs++) {
      t0 = now_s();
    }
  }
  t1 = now_s();
  zmq_msg_close(&m);
  result("zmq-count", msgs, bytes, t1 - t0, cpu_s());
  zmq_close(s);
  zmq_ctx_term(ctx);
  return msgs == want ? 0 : 1;
}
