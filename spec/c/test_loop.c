// C unit tests for the loop core: the cross-thread inbox (threads post, the loop's thread takes
// every message in order or counts what the full inbox refused; events posted from a thread
// arrive in order with its messages and are never crowded out; a connection's own cap), per-loop
// signals, a listener closed and its port reused, a wait that ends when an output descriptor has
// room again or its reader went away (run by ctest).
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "check.h"
#include "core/conn.h"
#include "core/loop.h"
#include "net/ws_proto.h"

static int test_close(fh_conn *c, int code, const char *reason)
{
  fh_conn_gone(c, FH_EV_CLOSE, code, 0, reason);
  return 0;
}

// A connection with no socket: what an adapter whose library has threads of its own looks like.
static const fh_transport threaded = { .name = "test-threaded", .close = test_close };

typedef struct poster {
  fh_conn *c;
  int from;
  int n;
  int refused;
} poster;

static void *post_all(void *arg)
{
  poster *p = arg;
  char msg[32];
  for (int i = 0; i < p->n; i++) {
    int len = snprintf(msg, sizeof msg, "%d", p->from + i);
    if (fh_conn_post(p->c, FH_FRAME_TEXT, "t/1", 3, msg, (size_t)len) != 0) {
      p->refused++;
    }
  }
  return NULL;
}

// Polls until `want` frames arrived (or 5 s), checking each thread's messages come in order.
static int drain(fh_loop *lp, fh_conn *c, int want, int nthreads, int per, int *dropped_events)
{
  int got = 0;
  int next[8] = { 0 };
  for (int spins = 0; spins < 500 && got < want; spins++) {
    const fh_event *ev;
    int n = fh_loop_poll(lp, 10, &ev);
    for (int i = 0; i < n; i++) {
      if (ev[i].kind == FH_EV_DROPPED) {
        *dropped_events += ev[i].code;
      }
      if (ev[i].kind != FH_EV_FRAMES) {
        continue;
      }
      fh_batch *b = fh_loop_batch(lp, ev[i].id);
      for (uint32_t k = 0; k < b->n; k++) {
        char num[32];
        uint32_t len = b->frames[k].len < sizeof num - 1 ? b->frames[k].len : sizeof num - 1;
        memcpy(num, b->buf + b->frames[k].off, len);
        num[len] = 0;
        int v = atoi(num);
        CHECK(b->frames[k].meta == 3 && memcmp(b->buf + b->frames[k].off - 3, "t/1", 3) == 0);
        int t = v / per;
        CHECK(t >= 0 && t < nthreads && v % per >= next[t]);   // in order per thread
        if (t >= 0 && t < nthreads) {
          next[t] = v % per + 1;
        }
        got++;
      }
    }
  }
  (void)c;
  return got;
}

static void test_inbox(void)
{
  char err[256];
  fh_loop *lp = fh_loop_new(err);
  CHECK(lp != NULL);
  fh_conn *c = fh_conn_new(lp, &threaded);
  CHECK(c != NULL);
  enum { THREADS = 4, PER = 5000 };
  pthread_t th[THREADS];
  poster ps[THREADS];
  for (int i = 0; i < THREADS; i++) {
    ps[i] = (poster){ .c = c, .from = i * PER, .n = PER };
    pthread_create(&th[i], NULL, post_all, &ps[i]);
  }
  int dropped = 0;
  int got = drain(lp, c, THREADS * PER, THREADS, PER, &dropped);
  for (int i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    CHECK(ps[i].refused == 0);
  }
  got += drain(lp, c, THREADS * PER - got, THREADS, PER, &dropped);
  CHECK(got == THREADS * PER);
  CHECK(dropped == 0);
  fh_conn_stats st;
  CHECK(fh_loop_stats(lp, c->id, &st) == 0 && st.frames_in == THREADS * PER && st.in_dropped == 0);

  // a burst larger than the inbox while the loop is busy: the rest is refused and counted
  poster burst = { .c = c, .from = 0, .n = 100000 };
  post_all(&burst);
  CHECK(burst.refused > 0);
  got = drain(lp, c, 100000 - burst.refused, 1, 100000, &dropped);
  CHECK(got == 100000 - burst.refused);
  CHECK(dropped == burst.refused);
  CHECK(fh_loop_stats(lp, c->id, &st) == 0 && st.in_dropped == (uint64_t)burst.refused);
  fh_loop_free(lp);
}

// A library thread's life of a connection: opened, messages, subscribed, a message over
// max_frame, messages past the connection's cap, lost. The loop's thread sees it in that order,
// the refused ones counted, the lost event despite the full share of the inbox.
typedef struct story {
  fh_conn *c;
  int refused;
} story;

static void *tell(void *arg)
{
  story *s = arg;
  fh_conn_post_event(s->c, FH_EV_OPEN, 0, 0, "client-1");
  for (int i = 0; i < 10; i++) {
    s->refused += fh_conn_post(s->c, FH_FRAME_TEXT, "q/A", 3, "m", 1) != 0;
  }
  fh_conn_post_event(s->c, FH_EV_SUBSCRIBED, 2, 1, "x/#");
  char big[64];
  memset(big, 'x', sizeof big);
  s->refused += fh_conn_post(s->c, FH_FRAME_TEXT, NULL, 0, big, sizeof big) != 0;
  fh_conn_post_event(s->c, FH_EV_CLOSE, FH_CLOSE_LOST, 0, "connection lost");
  return NULL;
}

static void test_posted_events(void)
{
  char err[256];
  fh_loop *lp = fh_loop_new(err);
  fh_conn *c = fh_conn_new(lp, &threaded);
  c->max_posted = 6;   // what options max_queued and max_frame set in an open
  c->max_frame = 32;
  int id = c->id;
  story s = { .c = c };
  pthread_t th;
  pthread_create(&th, NULL, tell, &s);
  pthread_join(th, NULL);
  CHECK(s.refused == 4 + 1);   // 4 past the cap of 6, 1 oversize
  const fh_event *ev;
  int n = fh_loop_poll(lp, 10, &ev);
  int kinds[16];
  int nk = 0;
  for (int i = 0; i < n && nk < 16; i++) {
    kinds[nk++] = ev[i].kind;
  }
  // OPEN, FRAMES (6 messages in one batch), SUBSCRIBED, OVERSIZE, CLOSE, DROPPED (4)
  CHECK(nk == 6);
  CHECK(nk >= 6 && kinds[0] == FH_EV_OPEN && kinds[1] == FH_EV_FRAMES &&
        kinds[2] == FH_EV_SUBSCRIBED && kinds[3] == FH_EV_OVERSIZE && kinds[4] == FH_EV_CLOSE &&
        kinds[5] == FH_EV_DROPPED);
  CHECK(n >= 6 && ev[0].text && strcmp(ev[0].text, "client-1") == 0);
  CHECK(n >= 6 && ev[2].code == 2 && ev[2].aux == 1 && strcmp(ev[2].text, "x/#") == 0);
  CHECK(n >= 6 && ev[3].code == 64 && ev[4].code == FH_CLOSE_LOST && ev[5].code == 4);
  CHECK(fh_loop_batch(lp, c->id)->n == 6);
  fh_conn_stats st;
  CHECK(fh_loop_stats(lp, c->id, &st) == 0 && st.frames_in == 6 && st.in_dropped == 4 &&
        st.oversize == 1);
  // gone: what is posted after is dropped, and the connection is freed once its batch was read
  fh_conn_post_event(c, FH_EV_OPEN, 0, 0, NULL);
  n = fh_loop_poll(lp, 10, &ev);
  CHECK(n == 0);
  CHECK(fh_loop_batch(lp, id) == NULL);
  fh_loop_free(lp);
}

// An adapter that asks to go on (fh_conn_again) is called again after the service round, as
// often as it asks, without the poll waiting; not once its connection is gone.
typedef struct again_io {
  fh_io io;
  fh_conn *c;
  int calls;
  int want;
} again_io;

static int again_on(fh_io *io, struct lws *wsi, int reason, void *in, size_t len)
{
  again_io *a = (again_io *)io;
  CHECK(reason == FH_IO_AGAIN && wsi == NULL);
  a->calls++;
  fh_conn_frame(a->c, FH_FRAME_TEXT, "x", 1);
  if (a->calls < a->want) {
    fh_conn_again(a->c, io);
  }
  return 0;
}

static void test_again(void)
{
  char err[256];
  fh_loop *lp = fh_loop_new(err);
  fh_conn *c = fh_conn_new(lp, &threaded);
  again_io a = { .io.on = again_on, .c = c, .want = 5 };
  CHECK(fh_conn_again(c, &a.io) == 0 && fh_conn_again(c, &a.io) == 0);   // once, however asked
  int64_t t0 = fh_clock_ns(FH_CLOCK_MONOTONIC);
  const fh_event *ev;
  int n = fh_loop_poll(lp, 2000, &ev);
  CHECK(fh_clock_ns(FH_CLOCK_MONOTONIC) - t0 < 500000000LL);   // no wait for the timeout
  CHECK(n == 1 && ev[0].kind == FH_EV_FRAMES);
  CHECK(a.calls == 5 && fh_loop_batch(lp, c->id)->n == 5);
  fh_conn_again(c, &a.io);
  test_close(c, 1000, "done");
  fh_loop_poll(lp, 10, &ev);
  CHECK(a.calls == 5);
  fh_loop_free(lp);
}

// Every loop that catches signals sees each one; one that stops catching does not.
static void test_signals(void)
{
  char err[256];
  fh_loop *a = fh_loop_new(err), *b = fh_loop_new(err), *c = fh_loop_new(err);
  CHECK(a && b && c);
  CHECK(fh_loop_signals(a, 1) == 0 && fh_loop_signals(b, 1) == 0 && fh_loop_signals(c, 1) == 0);
  CHECK(fh_loop_signals(c, 0) == 0);
  kill(getpid(), SIGTERM);
  fh_loop *loops[] = { a, b, c };
  int seen[3] = { 0 };
  for (int i = 0; i < 3; i++) {
    const fh_event *ev;
    int n = fh_loop_poll(loops[i], 100, &ev);
    for (int k = 0; k < n; k++) {
      if (ev[k].kind == FH_EV_SIGNAL && ev[k].code == SIGTERM) {
        seen[i]++;
      }
    }
  }
  CHECK(seen[0] == 1 && seen[1] == 1 && seen[2] == 0);
  fh_loop_free(a);
  fh_loop_free(b);
  fh_loop_free(c);
  // stopping on a SIGTERM, the loops gone: a second one (a supervisor signals the process, then
  // its group) does not kill the process on its way out
  struct sigaction now;
  sigaction(SIGTERM, NULL, &now);
  CHECK(now.sa_handler != SIG_DFL && now.sa_handler != SIG_IGN);   // not inherited by children
  kill(getpid(), SIGTERM);
  signal(SIGTERM, SIG_DFL);
}

// A listener closed frees its port at once: listening again on it works.
static void test_listener_reuse(void)
{
  char err[256];
  fh_loop *lp = fh_loop_new(err);
  fh_kv any[] = { { "host", "127.0.0.1" }, { "port", "0" } };
  int port = 0;
  int id = fh_loop_listen(lp, "ws-server", any, 2, &port, err);
  CHECK(id > 0 && port > 0);
  char ps[16];
  snprintf(ps, sizeof ps, "%d", port);
  fh_kv same[] = { { "host", "127.0.0.1" }, { "port", ps } };
  int port2 = 0;
  CHECK(fh_loop_listen(lp, "ws-server", same, 2, &port2, err) < 0);   // still bound
  CHECK(fh_loop_close(lp, id, 0, NULL) == 0);
  int id3 = fh_loop_listen(lp, "ws-server", same, 2, &port2, err);
  CHECK(id3 > 0 && port2 == port);
  const fh_event *ev;
  int n = fh_loop_poll(lp, 10, &ev);
  int closed = 0;
  for (int i = 0; i < n; i++) {
    closed += ev[i].kind == FH_EV_CLOSE && ev[i].id == id;
  }
  CHECK(closed == 1);
  fh_loop_free(lp);
}

static int no_out(fh_wsp *w, int opcode, const void *payload, size_t len)
{
  (void)w, (void)opcode, (void)payload, (void)len;
  return 0;
}

// A server frame (unmasked) with RSV1 set: `data` compressed as permessage-deflate sends it.
static size_t compressed_frame(uint8_t *dst, size_t cap, const uint8_t *data, size_t len)
{
  z_stream z;
  memset(&z, 0, sizeof z);
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  uint8_t *body = malloc(cap);
  z.next_in = (Bytef *)data;
  z.avail_in = (uInt)len;
  z.next_out = body;
  z.avail_out = (uInt)cap;
  deflate(&z, Z_SYNC_FLUSH);
  size_t blen = cap - z.avail_out - 4;   // the 00 00 ff ff tail is left out on the wire
  deflateEnd(&z);
  size_t h = 0;
  dst[h++] = 0xC2;   // FIN, RSV1, binary
  if (blen < 126) {
    dst[h++] = (uint8_t)blen;
  } else {
    dst[h++] = 126;
    dst[h++] = (uint8_t)(blen >> 8);
    dst[h++] = (uint8_t)blen;
  }
  memcpy(dst + h, body, blen);
  free(body);
  return h + blen;
}

// permessage-deflate: a compressed message is inflated into the batch; one that inflates past
// max_frame (a zip bomb) is counted, not inflated without end: dropped when each message has a
// window of its own (the next one is read), the connection closed when the window is shared (the
// next ones could not be read); RSV1 without the extension is a protocol error.
static void test_deflate(void)
{
  char err[256];
  fh_loop *lp = fh_loop_new(err);
  fh_conn *c = fh_conn_new(lp, &threaded);
  c->max_frame = 65536;
  fh_wsp w;
  memset(&w, 0, sizeof w);
  w.c = c;
  w.out = no_out;
  w.deflate = 1;
  static uint8_t msg[50000], frame[70000];
  for (size_t i = 0; i < sizeof msg; i++) {
    msg[i] = (uint8_t)("abcdefgh"[i % 8] + (i / 4096));
  }
  size_t n = compressed_frame(frame, sizeof frame, msg, sizeof msg);
  CHECK(n < sizeof msg / 10);
  CHECK(fh_wsp_rx(&w, frame, n) == 0);
  CHECK(c->batch->n == 1 && c->batch->frames[0].len == sizeof msg &&
        memcmp(c->batch->buf + c->batch->frames[0].off, msg, sizeof msg) == 0);
  // the second message reuses the window (context takeover)
  CHECK(fh_wsp_rx(&w, frame, compressed_frame(frame, sizeof frame, msg, 1000)) == 0);
  CHECK(c->batch->n == 2 && c->batch->frames[1].len == 1000);
  static uint8_t zeros[1 << 20];
  n = compressed_frame(frame, sizeof frame, zeros, sizeof zeros);
  uint64_t over = c->st.oversize;
  CHECK(fh_wsp_rx(&w, frame, n) == -1 && w.peer_code == FH_CLOSE_PROTOCOL);
  CHECK(c->st.oversize == over + 1 && c->batch->n == 2);
  fh_wsp_free(&w);
  fh_wsp fresh;   // server_no_context_takeover: the bomb dropped, the next message read
  memset(&fresh, 0, sizeof fresh);
  fresh.c = c;
  fresh.out = no_out;
  fresh.deflate = 1;
  fresh.deflate_reset = 1;
  CHECK(fh_wsp_rx(&fresh, frame, n) == 0);
  CHECK(c->st.oversize == over + 2 && c->batch->n == 2);
  size_t m = compressed_frame(frame, sizeof frame, msg, 1000);
  CHECK(fh_wsp_rx(&fresh, frame, m) == 0);
  CHECK(c->batch->n == 3 && c->batch->frames[2].len == 1000 &&
        memcmp(c->batch->buf + c->batch->frames[2].off, msg, 1000) == 0);
  fh_wsp_free(&fresh);
  n = compressed_frame(frame, sizeof frame, zeros, sizeof zeros);
  fh_wsp plain;
  memset(&plain, 0, sizeof plain);
  plain.c = c;
  plain.out = no_out;
  CHECK(fh_wsp_rx(&plain, frame, n) == -1 && plain.peer_code == FH_CLOSE_PROTOCOL);
  fh_wsp_free(&plain);
  fh_loop_free(lp);
}

// Descriptors open in this process.
static int open_fds(void)
{
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
    n += e->d_name[0] != '.';
  }
  if (d) {
    closedir(d);
  }
  return n;
}

// A pipe whose non-blocking write end is full. @return 0, or -1
static int full_pipe(int p[2])
{
  if (pipe(p) != 0 || fcntl(p[1], F_SETFL, O_NONBLOCK) != 0) {
    return -1;
  }
  char block[4096];
  memset(block, 'x', sizeof block);
  while (write(p[1], block, sizeof block) > 0) {
  }
  return 0;
}

// Microseconds a poll of `lp` waited (at most timeout_ms), its events in *n.
static int64_t timed_poll(fh_loop *lp, int timeout_ms, int *n)
{
  const fh_event *ev;
  int64_t t0 = fh_clock_ns(FH_CLOCK_MONOTONIC);
  *n = fh_loop_poll(lp, timeout_ms, &ev);
  return (fh_clock_ns(FH_CLOCK_MONOTONIC) - t0) / 1000;
}

// Output waiting for room in a pipe: the wait ends when the reader makes room (not at the
// timeout: no frame or timer comes), once; a reader that goes away ends it too; the loop's
// duplicate of the descriptor is closed once the wait is over.
static void test_wait_writable(void)
{
  char err[256];
  fh_loop *lp = fh_loop_new(err);
  int p[2];
  CHECK(lp && full_pipe(p) == 0);
  int fds = open_fds();
  int n;
  CHECK(fh_loop_wait_writable(lp, p[1]) == 0);
  CHECK(fh_loop_wait_writable(lp, p[1]) == 0);   // asked twice, waited for once
  CHECK(open_fds() == fds + 1);   // the loop polls a duplicate meanwhile
  CHECK(timed_poll(lp, 100, &n) >= 90000 && n == 0);   // still full: the whole timeout
  char buf[65536];
  CHECK(read(p[0], buf, sizeof buf) > 0);   // the reader takes some: room
  CHECK(timed_poll(lp, 2000, &n) < 1000000 && n == 0);   // at once, not after 2 s
  CHECK(open_fds() == fds);   // the duplicate is gone once the wait is over
  CHECK(timed_poll(lp, 100, &n) >= 90000);   // once: the next poll waits again
  while (write(p[1], buf, sizeof buf) > 0) {   // full again, then the reader goes away
  }
  CHECK(fh_loop_wait_writable(lp, p[1]) == 0);
  close(p[0]);
  CHECK(timed_poll(lp, 2000, &n) < 1000000);
  CHECK(timed_poll(lp, 100, &n) >= 90000);   // and it is not polled again
  CHECK(open_fds() == fds - 1);   // the read end closed, and the duplicate
  close(p[1]);
  fh_loop_free(lp);
}

int main(void)
{
  test_inbox();
  test_posted_events();
  test_again();
  test_signals();
  test_listener_reuse();
  test_deflate();
  test_wait_writable();
  return checks_done("test_loop");
}
