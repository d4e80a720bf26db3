// mqtt_blast: publishes N messages, the lines of a pool file in turn, to an MQTT broker at QoS 0
// on one topic. The PUBLISH packets are encoded once and written in large chunks, so the
// publisher costs next to nothing and the broker sets the pace.
//
//   mqtt_blast HOST PORT TOPIC POOL N
#include "bench_util.h"
#include "mqtt_wire.h"

int main(int argc, char **argv)
{
  if (argc != 6) {
    fprintf(stderr, "usage: mqtt_blast HOST PORT TOPIC POOL N\n");
    return 2;
  }
  const char *topic = argv[3];
  pool p = read_pool(argv[4]);
  uint64_t n = strtoull(argv[5], NULL, 10);
  // the whole pool as one buffer of packets, and where each packet ends
  size_t cap = 0;
  for (size_t i = 0; i < p.n; i++) {
    cap += p.len[i] + strlen(topic) + 8;
  }
  uint8_t *buf = malloc(cap);
  size_t *end = malloc(p.n * sizeof *end);
  size_t used = 0;
  for (size_t i = 0; i < p.n; i++) {
    used += mqtt_publish(buf + used, topic, p.line[i], p.len[i]);
    end[i] = used;
  }
  int fd = tcp_connect(argv[1], atoi(argv[2]));
  uint8_t pkt[600];
  char id[64];
  snprintf(id, sizeof id, "blast-%d", (int)getpid());
  write_all(fd, pkt, mqtt_connect(pkt, id));
  uint8_t connack[4];
  read_all(fd, connack, 4);
  if (connack[0] != 0x20 || connack[3] != 0) {
    fprintf(stderr, "mqtt_blast: connection refused (%d)\n", connack[3]);
    return 1;
  }
  double t0 = now_s();
  uint64_t left = n;
  while (left) {
    size_t k = left < p.n ? (size_t)left : p.n;
    write_all(fd, buf, end[k - 1]);
    left -= k;
  }
  const uint8_t disconnect[2] = { 0xe0, 0 };
  write_all(fd, disconnect, 2);
  shutdown(fd, SHUT_WR);
  char sink[256];
  while (read(fd, sink, sizeof sink) > 0) {
  }
  fprintf(stderr, "{\"role\":\"publisher\",\"msgs\":%llu,\"secs\":%.3f}\n", (unsigned long long)n,
          now_s() - t0);
  return 0;
}
