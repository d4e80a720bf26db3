// signals.h: SIGINT, SIGTERM and SIGHUP for every loop that asks.
//
// A signal is a process-wide thing, so one table (the only static state of the host) lists the
// loops that catch them; the handler marks the signal in every listed slot and writes to each
// slot's wake-up descriptor. Each loop then reports it as its own event: two hosts in one
// process both see a SIGTERM.
#ifndef FH_SIGNALS_H
#define FH_SIGNALS_H

#include <stdint.h>

enum { FH_SIG_SLOTS = 32 };

/// Adds a slot whose wake-up descriptor is `wake_fd` (written one 8-byte 1 per signal).
/// Installs the handlers when the first slot is added. @return the slot, or -1 when full.
int fh_signals_add(int wake_fd);
/// Removes a slot; the last one removed restores the previous handlers (a signal that was
/// delivered meanwhile stays ignored: the process is acting on it).
void fh_signals_remove(int slot);
/// The next signal marked for `slot` (clearing its mark), or 0.
int fh_signals_take(int slot);
/// A signal marked for `slot` and not taken yet (any thread may ask), and since when (monotonic
/// ns) one has been waiting (`since` may be NULL); 0 when none.
int fh_signals_pending(int slot, int64_t *since);

#endif
