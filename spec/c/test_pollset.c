// C unit test of the descriptor for an application's own loop (fh_loop_fd, fh_loop_arm): it is
// readable when the loop has work and quiet when it has none (no busy wake-ups), and it follows
// the sockets the loop opens, accepts and closes. The loop is driven here only as an application
// would drive it: poll(2) on the descriptor, then fh_loop_poll(0) and fh_loop_arm (run by ctest).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "core/loop.h"

static int readable(int fd, int ms)
{
  struct pollfd p = { .fd = fd, .events = POLLIN };
  return poll(&p, 1, ms) == 1;
}

typedef struct seen {
  int open_client;
  int open_peer;
  int peer;
  int frames;
  int closes;
} seen;

// One turn of an application's loop: wait for the descriptor, a poll that does not wait, the
// events counted, the descriptor armed for 5 s. @return whether it was readable within 600 ms:
// sooner than the loop's own once-a-second service round, so it was for the work itself.
static int turn(fh_loop *lp, int fd, int client, seen *s)
{
  int woke = readable(fd, 600);
  const fh_event *ev;
  int n = fh_loop_poll(lp, 0, &ev);
  for (int i = 0; i < n; i++) {
    if (ev[i].kind == FH_EV_OPEN && ev[i].id == client) {
      s->open_client++;
    } else if (ev[i].kind == FH_EV_OPEN) {
      s->open_peer++;
      s->peer = ev[i].id;
    } else if (ev[i].kind == FH_EV_FRAMES && ev[i].id == s->peer) {
      s->frames += (int)fh_loop_batch(lp, ev[i].id)->n;
    } else if (ev[i].kind == FH_EV_CLOSE) {
      s->closes++;
    }
  }
  fh_loop_arm(lp, 5000);
  return woke;
}

static void test_app_fd(void)
{
  char err[256];
  fh_loop *lp = fh_loop_new(err);
  int fd = fh_loop_fd(lp, err);
  CHECK(fd >= 0 && fh_loop_fd(lp, err) == fd);
  seen s = { 0 };
  CHECK(turn(lp, fd, -1, &s));        // a first round is due at once
  CHECK(!readable(fd, 100));          // then nothing to do: quiet
  fh_kv any[] = { { "host", "127.0.0.1" }, { "port", "0" } };
  int port = 0;
  CHECK(fh_loop_listen(lp, "ws-server", any, 2, &port, err) > 0);
  char ps[16];
  snprintf(ps, sizeof ps, "%d", port);
  fh_kv to[] = { { "host", "127.0.0.1" }, { "port", ps }, { "path", "/x" } };
  int client = fh_loop_open(lp, "ws", to, 3, err);
  CHECK(client > 0);
  // connect, accept, the upgrade both ways: each step only when the descriptor says so
  int turns = 0;
  while ((s.open_client < 1 || s.open_peer < 1) && turns++ < 50) {
    CHECK(turn(lp, fd, client, &s));
  }
  CHECK(s.open_client == 1 && s.open_peer == 1);
  while (readable(fd, 20)) {          // the rest of the handshake's writes
    turn(lp, fd, client, &s);
  }
  CHECK(!readable(fd, 150));          // connected and idle: quiet
  CHECK(fh_loop_send(lp, client, FH_FRAME_TEXT, "hello", 5) == 0);
  for (turns = 0; s.frames < 1 && turns < 50; turns++) {
    CHECK(turn(lp, fd, client, &s));
  }
  CHECK(s.frames == 1);
  while (readable(fd, 20)) {
    turn(lp, fd, client, &s);
  }
  // the armed timer: readable when it is due, not before
  fh_loop_arm(lp, 120);
  CHECK(!readable(fd, 60));
  CHECK(readable(fd, 500));
  turn(lp, fd, client, &s);
  CHECK(fh_loop_close(lp, client, 1000, "bye") == 0);
  for (turns = 0; s.closes < 2 && turns < 50; turns++) {
    CHECK(turn(lp, fd, client, &s));
  }
  CHECK(s.closes == 2);
  while (readable(fd, 20)) {
    turn(lp, fd, client, &s);
  }
  CHECK(!readable(fd, 150));          // the closed sockets left the set: quiet again
  fh_loop_free(lp);
}

// A peer outside the loop (a plain socket of this test): its connect, its upgrade request and its
// frame each wake the descriptor: the listener and the accepted socket are in the set.
static void test_outside_peer(void)
{
  char err[256];
  fh_loop *lp = fh_loop_new(err);
  int fd = fh_loop_fd(lp, err);
  seen s = { 0 };
  fh_kv any[] = { { "host", "127.0.0.1" }, { "port", "0" } };
  int port = 0;
  CHECK(fh_loop_listen(lp, "ws-server", any, 2, &port, err) > 0);
  while (readable(fd, 20)) {
    turn(lp, fd, -1, &s);
  }
  CHECK(!readable(fd, 100));
  int sock = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(connect(sock, (struct sockaddr *)&sa, sizeof sa) == 0);
  CHECK(turn(lp, fd, -1, &s));        // the listener: accepted
  while (readable(fd, 20)) {
    turn(lp, fd, -1, &s);
  }
  static const char req[] = "GET /p HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                            "Sec-WebSocket-Version: 13\r\n\r\n";
  CHECK(write(sock, req, sizeof req - 1) == (ssize_t)(sizeof req - 1));
  CHECK(turn(lp, fd, -1, &s));        // the accepted socket: the upgrade
  CHECK(s.open_peer == 1);
  while (readable(fd, 20)) {          // the 101 answer goes out
    turn(lp, fd, -1, &s);
  }
  char answer[512];
  CHECK(read(sock, answer, sizeof answer) > 12 && memcmp(answer, "HTTP/1.1 101", 12) == 0);
  static const unsigned char frame[] = { 0x81, 0x82, 0, 0, 0, 0, 'h', 'i' };   // masked (key 0)
  CHECK(write(sock, frame, sizeof frame) == (ssize_t)sizeof frame);
  CHECK(turn(lp, fd, -1, &s));
  CHECK(s.frames == 1);
  close(sock);
  for (int turns = 0; s.closes < 1 && turns < 10; turns++) {
    CHECK(turn(lp, fd, -1, &s));
  }
  CHECK(s.closes == 1);
  fh_loop_free(lp);
}

int main(void)
{
  test_app_fd();
  test_outside_peer();
  return checks_done("test_pollset");
}
