// signals.c: see signals.h.
#include "core/signals.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const int caught[] = { SIGINT, SIGTERM, SIGHUP };
enum { NCAUGHT = sizeof caught / sizeof caught[0] };

typedef struct slot {
  atomic_int fd;                        // -1: free
  volatile sig_atomic_t mark[NCAUGHT];  // set by the handler, cleared by fh_signals_take
  _Atomic int64_t since;                // monotonic ns of the oldest mark not taken, or 0
} slot;

static slot slots[FH_SIG_SLOTS] = { [0 ... FH_SIG_SLOTS - 1] = { .fd = -1 } };
static int nslots;                      // slots in use (changed on the loops' threads only)
static volatile sig_atomic_t stopping;  // a SIGINT or SIGTERM was caught: the process is stopping
static struct sigaction saved[NCAUGHT];
static struct sigaction saved_pipe;

// Swallows a stop signal once the process is stopping (see fh_signals_remove). A handler, not
// SIG_IGN: an ignored signal stays ignored in the programs the process starts later.
static void swallow(int sig)
{
  (void)sig;
}

static void on_signal(int sig)
{
  int saved_errno = errno;
  if (sig != SIGHUP) {
    stopping = 1;
  }
  for (int k = 0; k < NCAUGHT; k++) {
    if (caught[k] != sig) {
      continue;
    }
    for (int i = 0; i < FH_SIG_SLOTS; i++) {
      int fd = atomic_load(&slots[i].fd);
      if (fd >= 0) {
        slots[i].mark[k] = 1;
        int64_t zero = 0;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);   // async-signal-safe
        atomic_compare_exchange_strong(&slots[i].since, &zero,
                                       (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec);
        uint64_t one = 1;
        ssize_t w = write(fd, &one, sizeof one);   // async-signal-safe; EAGAIN: already awake
        (void)w;
      }
    }
  }
  errno = saved_errno;
}

// Blocks the caught signals while the table changes, so the handler never sees half a change.
static void block(sigset_t *old)
{
  sigset_t set;
  sigemptyset(&set);
  for (int k = 0; k < NCAUGHT; k++) {
    sigaddset(&set, caught[k]);
  }
  pthread_sigmask(SIG_BLOCK, &set, old);
}

int fh_signals_add(int wake_fd)
{
  sigset_t old;
  block(&old);
  int found = -1;
  for (int i = 0; i < FH_SIG_SLOTS && found < 0; i++) {
    if (atomic_load(&slots[i].fd) < 0) {
      found = i;
    }
  }
  if (found >= 0) {
    memset((void *)slots[found].mark, 0, sizeof slots[found].mark);
    atomic_store(&slots[found].fd, wake_fd);
    if (nslots++ == 0) {
      struct sigaction sa;
      memset(&sa, 0, sizeof sa);
      sa.sa_handler = on_signal;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESTART;
      for (int k = 0; k < NCAUGHT; k++) {
        sigaction(caught[k], &sa, &saved[k]);
      }
      struct sigaction ign;
      memset(&ign, 0, sizeof ign);
      ign.sa_handler = SIG_IGN;
      sigaction(SIGPIPE, &ign, &saved_pipe);
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return found;
}

void fh_signals_remove(int slot_index)
{
  if (slot_index < 0 || slot_index >= FH_SIG_SLOTS) {
    return;
  }
  sigset_t old;
  block(&old);
  if (atomic_load(&slots[slot_index].fd) >= 0) {
    atomic_store(&slots[slot_index].fd, -1);
    if (--nslots == 0) {
      // Asked to stop and stopping: a repeated SIGINT or SIGTERM (a supervisor signals the
      // process and then its group; the second may come after the loops are gone) must not
      // turn a clean exit into death by signal, so where the default would kill, it is
      // swallowed.
      for (int k = 0; k < NCAUGHT; k++) {
        struct sigaction quiet;
        memset(&quiet, 0, sizeof quiet);
        quiet.sa_handler = swallow;
        sigemptyset(&quiet.sa_mask);
        int keep_quiet = stopping && caught[k] != SIGHUP && saved[k].sa_handler == SIG_DFL;
        sigaction(caught[k], keep_quiet ? &quiet : &saved[k], NULL);
      }
      sigaction(SIGPIPE, &saved_pipe, NULL);
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int fh_signals_take(int slot_index)
{
  if (slot_index < 0 || slot_index >= FH_SIG_SLOTS) {
    return 0;
  }
  atomic_store(&slots[slot_index].since, 0);
  for (int k = 0; k < NCAUGHT; k++) {
    if (slots[slot_index].mark[k]) {
      slots[slot_index].mark[k] = 0;
      return caught[k];
    }
  }
  return 0;
}

int fh_signals_pending(int slot_index, int64_t *since)
{
  if (slot_index < 0 || slot_index >= FH_SIG_SLOTS) {
    return 0;
  }
  for (int k = 0; k < NCAUGHT; k++) {
    if (slots[slot_index].mark[k]) {
      if (since) {
        *since = atomic_load(&slots[slot_index].since);
      }
      return caught[k];
    }
  }
  return 0;
}
