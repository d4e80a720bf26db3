// C unit tests for Socket.IO packet splitting (codec/sio_packet.c; run by ctest).
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "codec/sio_packet.h"

static int eq(const char *p, size_t n, const char *lit)
{
  return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

static void test_headers(void)
{
  fh_sio_packet pk;
  char a[] = "2[\"ev\",1]";
  CHECK(fh_sio_parse(a, strlen(a), &pk) == 0);
  CHECK(pk.type == FH_SIO_EVENT && pk.ack == -1 && eq(pk.ns, pk.ns_len, "/"));
  CHECK(eq(pk.data, pk.data_len, "[\"ev\",1]"));
  char b[] = "2/admin,12[\"ev\"]";
  CHECK(fh_sio_parse(b, strlen(b), &pk) == 0);
  CHECK(eq(pk.ns, pk.ns_len, "/admin") && pk.ack == 12 && eq(pk.data, pk.data_len, "[\"ev\"]"));
  char c[] = "51-[\"bin\",{\"_placeholder\":true,\"num\":0}]";
  CHECK(fh_sio_parse(c, strlen(c), &pk) == 0);
  CHECK(pk.type == FH_SIO_BINARY_EVENT && pk.attachments == 1 && pk.data[0] == '[');
  char d[] = "0{\"sid\":\"x\"}";
  CHECK(fh_sio_parse(d, strlen(d), &pk) == 0 && pk.type == FH_SIO_CONNECT && pk.data[0] == '{');
  char e[] = "4\"Not authorized\"";   // v3 error packet
  CHECK(fh_sio_parse(e, strlen(e), &pk) == 0 && pk.type == FH_SIO_CONNECT_ERROR);
  char f[] = "9[]";
  CHECK(fh_sio_parse(f, strlen(f), &pk) == -1);
  char g[] = "5x-[]";
  CHECK(fh_sio_parse(g, strlen(g), &pk) == -1);
  char h[] = "1/admin,";
  CHECK(fh_sio_parse(h, strlen(h), &pk) == 0 && pk.type == FH_SIO_DISCONNECT &&
        eq(pk.ns, pk.ns_len, "/admin") && pk.data_len == 0);
  CHECK(fh_sio_parse(h, 0, &pk) == -1);
}

static void test_events(void)
{
  fh_sio_event ev;
  char one[] = "[\"stock\",[\"4.1!2885\",2470.5,{\"a\":\"]\"}]]";
  CHECK(fh_sio_split_event(one, strlen(one), &ev) == 0);
  CHECK(eq(ev.name, ev.name_len, "stock") && ev.nargs == 1 && !ev.string_arg);
  CHECK(eq(ev.args, ev.args_len, "[\"4.1!2885\",2470.5,{\"a\":\"]\"}]"));
  char str[] = "[\"1501-json-full\",\"{\\\"a\\\":1}\"]";
  CHECK(fh_sio_split_event(str, strlen(str), &ev) == 0);
  CHECK(ev.nargs == 1 && ev.string_arg && eq(ev.args, ev.args_len, "{\\\"a\\\":1}"));
  char many[] = "[\"ev\", 1, {\"b\":[2,3]}, \"x\"]";
  CHECK(fh_sio_split_event(many, strlen(many), &ev) == 0);
  CHECK(ev.nargs == 2 && eq(ev.args, ev.args_len, "[ 1, {\"b\":[2,3]}, \"x\"]"));
  char none[] = "[\"ping\"]";
  CHECK(fh_sio_split_event(none, strlen(none), &ev) == 0);
  CHECK(ev.nargs == 0 && eq(ev.args, ev.args_len, "[]"));
  char esc[] = "[\"a\\\"b\",true]";
  CHECK(fh_sio_split_event(esc, strlen(esc), &ev) == 0);
  CHECK(ev.name_escaped && eq(ev.args, ev.args_len, "true"));
  char bad1[] = "[\"stock\",[1,2";
  CHECK(fh_sio_split_event(bad1, strlen(bad1), &ev) == -1);
  char bad2[] = "[1,2]";
  CHECK(fh_sio_split_event(bad2, strlen(bad2), &ev) == -1);
  char bad3[] = "{\"a\":1}";
  CHECK(fh_sio_split_event(bad3, strlen(bad3), &ev) == -1);
  char bad4[] = "[\"ev\",\"unterminated]";
  CHECK(fh_sio_split_event(bad4, strlen(bad4), &ev) == -1);
}

static void test_placeholders(void)
{
  const char *ph = "{\"_placeholder\":true,\"num\":3}";
  CHECK(fh_sio_placeholder(ph, strlen(ph)) == 3);
  CHECK(fh_sio_placeholder("{\"a\":1}", 7) == -1);
  const uint8_t att[] = { 'h', 'i', 0xff, 0x00, 0x01 };
  size_t off[] = { 0, 2, 5 };
  const char *args = "{\"x\":{\"_placeholder\":true,\"num\":1},\"s\":\"{\\\"_placeholder\\\"\","
                     "\"y\":[{\"_placeholder\":true,\"num\":0}]}";
  char out[256];
  size_t n = fh_sio_fill(args, strlen(args), att, off, 2, out, sizeof out);
  CHECK(eq(out, n, "{\"x\":\"/wAB\",\"s\":\"{\\\"_placeholder\\\"\",\"y\":[\"aGk=\"]}"));
  const char *missing = "[{\"_placeholder\":true,\"num\":5}]";
  CHECK(fh_sio_fill(missing, strlen(missing), att, off, 2, out, sizeof out) == 0);
  CHECK(fh_sio_fill(args, strlen(args), att, off, 2, out, 10) == 0);
}

int main(void)
{
  test_headers();
  test_events();
  test_placeholders();
  return checks_done("sio_packet");
}
