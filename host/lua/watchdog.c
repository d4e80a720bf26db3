// watchdog.c: see watchdog.h.
#define _GNU_SOURCE   // pthread_kill's companions, SIGRTMIN
#include "lua/watchdog.h"

#include <lauxlib.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/conn.h"   // fh_loop_attach

enum {
  MAX_WATCHES = 64,
  MAX_LABELS = 65536,
  TICK_MS = 100,
  GRACE_NS = 1000000000,        // after the interrupt, before giving up on the process
  SIGNAL_WAIT_NS = 1000000000,  // a caught signal not taken for this long: interrupt
};

typedef struct slot {
  _Atomic(fh_watch *) w;
  pthread_t thread;
  lua_State *L;
  int32_t *where;
  fh_loop *lp;
  int64_t fired_at;
  int sig;                  // the signal that caused the interrupt, or 0 (the budget)
} slot;

static slot slots[MAX_WATCHES];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int started;
static _Thread_local lua_State *thread_L;
static _Thread_local int32_t thread_where;

static char *labels[MAX_LABELS];   // id -> text (id 0: none)
static int32_t nlabels = 1;

static int64_t mono_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int interrupt_signal(void)
{
  return SIGRTMIN + 4;
}

void fh_watch_set_lua(lua_State *L)
{
  thread_L = L;
}

int32_t *fh_watch_where(void)
{
  return &thread_where;
}

int32_t fh_watch_label(const char *text)
{
  pthread_mutex_lock(&mu);
  int32_t id = 0;
  for (int32_t i = 1; i < nlabels; i++) {
    if (strcmp(labels[i], text) == 0) {
      id = i;
      break;
    }
  }
  if (!id && nlabels < MAX_LABELS && (labels[nlabels] = strdup(text)) != NULL) {
    id = nlabels++;
  }
  pthread_mutex_unlock(&mu);
  return id;
}

// ---- on the Lua thread -----------------------------------------------------------------------
// The watch of this thread that was interrupted. (Not by lua_State: the hook also runs in the
// coroutines of the state, whose lua_State differs; LuaJIT's hooks belong to the global state.)
static slot *fired_slot(void)
{
  pthread_t self = pthread_self();
  for (int i = 0; i < MAX_WATCHES; i++) {
    fh_watch *w = atomic_load(&slots[i].w);
    if (w && w->fired == 1 && pthread_equal(slots[i].thread, self)) {
      return &slots[i];
    }
  }
  return NULL;
}

// The count hook the interrupt sets: raises in the running Lua code until the Lua side takes it.
static void hook(lua_State *L, lua_Debug *ar)
{
  (void)ar;
  slot *s = fired_slot();
  fh_watch *w = s ? atomic_load(&s->w) : NULL;
  if (!w) {
    return;
  }
  if (s->sig) {
    luaL_error(L, "feedhost: budget: interrupted by signal %d", s->sig);
  }
  luaL_error(L, "feedhost: budget: spec code ran longer than %.1fs", (double)w->budget / 1e9);
}

// The interrupt, delivered to the Lua thread: sets the hook (what LuaJIT's own luajit.c does on
// SIGINT). Only the thread's own slot is touched.
static void on_interrupt(int sig)
{
  (void)sig;
  pthread_t self = pthread_self();
  for (int i = 0; i < MAX_WATCHES; i++) {
    fh_watch *w = atomic_load(&slots[i].w);
    if (w && pthread_equal(slots[i].thread, self) && slots[i].L) {
      lua_sethook(slots[i].L, hook, LUA_MASKCOUNT, 1000);
    }
  }
}

// ---- the watchdog thread ----------------------------------------------------------------------
static void fatal(slot *s, const char *why)
{
  char msg[512];
  int32_t where = s->where ? *s->where : 0;
  const char *label = where > 0 && where < nlabels ? labels[where] : NULL;
  int n = snprintf(msg, sizeof msg, "feedhost: %s%s%s%s; stopping\n", why,
                   label ? " (last entered: " : "", label ? label : "", label ? ")" : "");
  ssize_t wr = write(2, msg, n > 0 && n < (int)sizeof msg ? (size_t)n : sizeof msg - 1);
  (void)wr;
  _exit(s->sig ? 128 + s->sig : 1);
}

static void check(slot *s, int64_t now)
{
  fh_watch *w = atomic_load(&s->w);
  int64_t since = 0;
  int sig = s->lp ? fh_loop_signal_pending(s->lp, &since) : 0;
  int late = w->deadline && now > w->deadline;
  int waiting = sig && since && now - since > SIGNAL_WAIT_NS;
  if (!waiting && s->sig) {  // the loop took the signal it was interrupted for
    s->sig = 0;
    s->fired_at = 0;
  }
  if (w->fired == 0 && !s->sig) {  // nothing outstanding, or the Lua side took the budget error
    s->fired_at = 0;
  }
  if (!late && !waiting) {
    return;
  }
  if (!s->fired_at) {
    s->fired_at = now;
    s->sig = late ? 0 : sig;
    w->fired = 1;
    pthread_kill(s->thread, interrupt_signal());
    return;
  }
  if (now - s->fired_at > GRACE_NS) {
    char why[160];
    if (s->sig) {
      snprintf(why, sizeof why, "signal %d was not taken: the Lua thread did not return", s->sig);
    } else {
      snprintf(why, sizeof why, "spec code did not return within %.1fs (a loop that never ends?)",
               (double)(w->budget + GRACE_NS) / 1e9);
    }
    fatal(s, why);
  }
}

static void *watchdog(void *arg)
{
  (void)arg;
  for (;;) {
    struct timespec ts = { 0, TICK_MS * 1000000L };
    nanosleep(&ts, NULL);
    int64_t now = mono_ns();
    pthread_mutex_lock(&mu);
    for (int i = 0; i < MAX_WATCHES; i++) {
      if (atomic_load(&slots[i].w)) {
        check(&slots[i], now);
      }
    }
    pthread_mutex_unlock(&mu);
  }
  return NULL;
}

static int start(void)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(interrupt_signal(), &sa, NULL) != 0) {
    return -1;
  }
  // the watchdog thread must never take the process's signals: it starts with them blocked
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  pthread_t th;
  int rc = pthread_create(&th, NULL, watchdog, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    return -1;
  }
  pthread_detach(th);
  return 0;
}

// A loop going away (an attachment of the loop, freed with it): the watches tied to it stop
// looking at it. The garbage collector finalizes a reactor's loop and its watch in either order
// (lua_close finalizes every one at once), and the watchdog's thread must not read a freed loop.
static void forget_loop(void *lp)
{
  pthread_mutex_lock(&mu);
  for (int i = 0; i < MAX_WATCHES; i++) {
    if (slots[i].lp == lp) {
      slots[i].lp = NULL;
    }
  }
  pthread_mutex_unlock(&mu);
}

fh_watch *fh_watch_new(fh_loop *lp)
{
  static const char key[] = "watchdog";
  if (lp && !fh_loop_attached(lp, key) && fh_loop_attach(lp, key, lp, forget_loop) != 0) {
    return NULL;
  }
  fh_watch *w = calloc(1, sizeof *w);
  if (!w) {
    return NULL;
  }
  pthread_mutex_lock(&mu);
  int ok = started || start() == 0;
  started = started || ok;
  int i = 0;
  while (ok && i < MAX_WATCHES && atomic_load(&slots[i].w)) {
    i++;
  }
  if (!ok || i == MAX_WATCHES) {
    pthread_mutex_unlock(&mu);
    free(w);
    return NULL;
  }
  slots[i].thread = pthread_self();
  slots[i].L = thread_L;
  slots[i].where = &thread_where;
  slots[i].lp = lp;
  slots[i].fired_at = 0;
  slots[i].sig = 0;
  atomic_store(&slots[i].w, w);
  pthread_mutex_unlock(&mu);
  return w;
}

void fh_watch_free(fh_watch *w)
{
  if (!w) {
    return;
  }
  pthread_mutex_lock(&mu);
  for (int i = 0; i < MAX_WATCHES; i++) {
    if (atomic_load(&slots[i].w) == w) {
      atomic_store(&slots[i].w, NULL);
    }
  }
  pthread_mutex_unlock(&mu);
  free(w);
}
