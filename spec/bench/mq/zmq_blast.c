// zmq_blast: an XPUB that waits for a subscriber's subscription (so no message is lost to a slow
// joiner), then publishes N messages, the lines of a pool file in turn, as fast as libzmq takes
// them (SNDHWM 0: nothing dropped), and exits once they are all sent. Prints "PORT n" first.
//
//   zmq_blast POOL N [PORT]
#include <zmq.h>

#include "bench_util.h"

int main(int argc, char **argv)
{
  if (argc < 3) {
    fprintf(stderr, "usage: zmq_blast POOL N [PORT]\n");
    return 2;
  }
  pool p = read_pool(argv[1]);
  uint64_t n = strtoull(argv[2], NULL, 10);
  void *ctx = zmq_ctx_new();
  void *s = zmq_socket(ctx, ZMQ_XPUB);
  int zero = 0;
  zmq_setsockopt(s, ZMQ_SNDHWM, &zero, sizeof zero);
  char ep[64];
  snprintf(ep, sizeof ep, "tcp://127.0.0.1:%s", argc > 3 ? argv[3] : "*");
  if (zmq_bind(s, ep) != 0) {
    fprintf(stderr, "zmq_blast: bind %s: %s\n", ep, zmq_strerror(errno));
    return 1;
  }
  size_t sz = sizeof ep;
  zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &sz);
  printf("PORT %s\n", strrchr(ep, ':') + 1);
  fflush(stdout);
  char sub[256];
  zmq_recv(s, sub, sizeof sub, 0);   // the first subscription
  double t0 = now_s();
  for (uint64_t i = 0; i < n; i++) {
    size_t k = (size_t)(i % p.n);
    zmq_send(s, p.line[k], p.len[k], 0);
  }
  zmq_close(s);   // lingers until everything is sent
  zmq_ctx_term(ctx);
  fprintf(stderr, "{\"role\":\"publisher\",\"msgs\":%llu,\"secs\":%.3f}\n", (unsigned long long)n,
          now_s() - t0);
  return 0;
}
