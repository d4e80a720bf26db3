// mqtt_wire.h: the few MQTT 3.1.1 packets the benchmark's raw tools write (CONNECT, SUBSCRIBE,
// PUBLISH QoS 0), encoded by hand so the publisher and the count-only subscriber cost nothing
// beyond the socket.
#ifndef FH_MQTT_WIRE_H
#define FH_MQTT_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

// The remaining-length varint. @return its bytes
static inline size_t mqtt_varint(uint8_t *out, size_t v)
{
  size_t n = 0;
  do {
    uint8_t b = v % 128;
    v /= 128;
    out[n++] = (uint8_t)(b | (v ? 0x80 : 0));
  } while (v);
  return n;
}

static inline size_t mqtt_str(uint8_t *out, const char *s, size_t len)
{
  out[0] = (uint8_t)(len >> 8);
  out[1] = (uint8_t)len;
  memcpy(out + 2, s, len);
  return len + 2;
}

// CONNECT, clean session, keepalive 60 s, no login. @return bytes in `out` (room: 64 + id)
static inline size_t mqtt_connect(uint8_t *out, const char *client_id)
{
  uint8_t body[512];
  size_t n = mqtt_str(body, "MQTT", 4);
  body[n++] = 4;      // protocol level 3.1.1
  body[n++] = 0x02;   // clean session
  body[n++] = 0;
  body[n++] = 60;
  n += mqtt_str(body + n, client_id, strlen(client_id));
  size_t h = 0;
  out[h++] = 0x10;
  h += mqtt_varint(out + h, n);
  memcpy(out + h, body, n);
  return h + n;
}

// SUBSCRIBE packet id 1, one topic at QoS 0. @return bytes
static inline size_t mqtt_subscribe(uint8_t *out, const char *topic)
{
  uint8_t body[512];
  size_t n = 0;
  body[n++] = 0;
  body[n++] = 1;
  n += mqtt_str(body + n, topic, strlen(topic));
  body[n++] = 0;
  size_t h = 0;
  out[h++] = 0x82;
  h += mqtt_varint(out + h, n);
  memcpy(out + h, body, n);
  return h + n;
}

// PUBLISH QoS 0 of `len` bytes on `topic`. @return bytes (room: len + topic + 8)
static inline size_t mqtt_publish(uint8_t *out, const char *topic, const char *payload, size_t len)
{
  size_t tlen = strlen(topic);
  size_t h = 0;
  out[h++] = 0x30;
  h += mqtt_varint(out + h, 2 + tlen + len);
  h += mqtt_str(out + h, topic, tlen);
  memcpy(out + h, payload, len);
  return h + len;
}

#endif
