// mqtt_raw_count: the count-only MQTT subscriber with no client library: a socket, CONNECT,
// SUBSCRIBE (QoS 0), then PUBLISH packets counted by their headers until N arrived. What the
// broker delivers, as fast as it can be taken: the ceiling. Prints one JSON line (first to last
// message).
//
//   mqtt_raw_count HOST PORT TOPIC N
#include "bench_util.h"
#include "mqtt_wire.h"

int main(int argc, char **argv)
{
  if (argc != 5) {
    fprintf(stderr, "usage: mqtt_raw_count HOST PORT TOPIC N\n");
    return 2;
  }
  uint64_t want = strtoull(argv[4], NULL, 10);
  int fd = tcp_connect(argv[1], atoi(argv[2]));
  uint8_t pkt[600];
  char id[64];
  snprintf(id, sizeof id, "rawcount-%d", (int)getpid());
  write_all(fd, pkt, mqtt_connect(pkt, id));
  write_all(fd, pkt, mqtt_subscribe(pkt, argv[3]));
  enum { BUF = 1 << 20 };
  uint8_t *buf = malloc(BUF);
  size_t have = 0;
  uint64_t msgs = 0;
  uint64_t bytes = 0;
  double t0 = 0;
  double t1 = 0;
  while (msgs < want) {
    ssize_t r = read(fd, buf + have, BUF - have);
    if (r <= 0) {
      break;
    }
    have += (size_t)r;
    size_t off = 0;
    for (;;) {   // whole packets: type byte, remaining length, body
      size_t len = 0;
      size_t shift = 0;
      size_t i = off + 1;
      int complete = 0;
      while (i < have && i < off + 5) {
        len |= (size_t)(buf[i] & 127) << shift;
        shift += 7;
        if (!(buf[i++] & 128)) {
          complete = 1;
          break;
        }
      }
      if (!complete || have - i < len) {
        break;
      }
      if ((buf[off] >> 4) == 3) {
        size_t tlen = ((size_t)buf[i] << 8) | buf[i + 1];
        bytes += len - 2 - tlen;
        if (!msgs++) {
          t0 = now_s();
        }
        t1 = now_s();
      }
      off = i + len;
    }
    memmove(buf, buf + off, have - off);
    have -= off;
  }
  result("mqtt-raw-count", msgs, bytes, t1 - t0, cpu_s());
  return msgs == want ? 0 : 1;
}
