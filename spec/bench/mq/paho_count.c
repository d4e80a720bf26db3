// paho_count: the count-only MQTT subscriber over paho.mqtt.c's MQTTAsync, the library feedhost
// uses: messageArrived counts and frees, nothing else. The ceiling of the library itself.
// Prints one JSON line (first to last message).
//
//   paho_count URI TOPIC N
#include <MQTTAsync.h>
#include <stdatomic.h>

#include "bench_util.h"

static _Atomic uint64_t msgs;
static _Atomic uint64_t bytes;
static uint64_t want;
static double t0;
static double t1;
static atomic_int subscribed;

static int arrived(void *ctx, char *topic, int tlen, MQTTAsync_message *m)
{
  uint64_t n = atomic_fetch_add(&msgs, 1) + 1;
  atomic_fetch_add(&bytes, (uint64_t)m->payloadlen);
  if (n == 1) {
    t0 = now_s();
  }
  if (n == want) {
    t1 = now_s();
  }
  MQTTAsync_freeMessage(&m);
  MQTTAsync_free(topic);
  return 1;
}

static void on_sub(void *ctx, MQTTAsync_successData *r)
{
  atomic_store(&subscribed, 1);
}

static void on_connect(void *ctx, MQTTAsync_successData *r)
{
  MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
  ro.onSuccess = on_sub;
  MQTTAsync_subscribe(*(MQTTAsync *)ctx, (const char *)((void **)ctx)[1], 0, &ro);
}

int main(int argc, char **argv)
{
  if (argc != 4) {
    fprintf(stderr, "usage: paho_count URI TOPIC N\n");
    return 2;
  }
  want = strtoull(argv[3], NULL, 10);
  void *ctx[2] = { NULL, argv[2] };
  char id[64];
  snprintf(id, sizeof id, "pahocount-%d", (int)getpid());
  MQTTAsync_create((MQTTAsync *)&ctx[0], argv[1], id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
  MQTTAsync_setCallbacks(ctx[0], NULL, NULL, arrived, NULL);
  MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
  o.MQTTVersion = MQTTVERSION_3_1_1;
  o.onSuccess = on_connect;
  o.context = ctx;
  MQTTAsync_connect(ctx[0], &o);
  double last_change = now_s();
  uint64_t seen = 0;
  while (atomic_load(&msgs) < want) {
    usleep(1000);
    uint64_t n = atomic_load(&msgs);
    if (n != seen) {
      seen = n;
      last_change = now_s();
    } else if (now_s() - last_change > 5) {
      break;
    }
  }
  if (!t1) {
    t1 = now_s();
  }
  result("paho-count", atomic_load(&msgs), atomic_load(&bytes), t1 - t0, cpu_s());
  return atomic_load(&msgs) == want ? 0 : 1;
}
