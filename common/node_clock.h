/*
** The daemon's hybrid logical clock: the pure txn/hlc core plus the I/O it
** needs, namely the real-time clock and the persisted upper bound in
** DIR/hlc.bound (common/clockfile.h).
**
** Why a persisted bound: after a restart the process has forgotten every
** timestamp it issued. txn/hlc.h never issues a physical part at or above the
** bound on disk, so restoring from that bound makes every later timestamp
** larger than anything issued before the crash, even if the wall clock has
** stepped backwards meanwhile.
*/
#ifndef SYN_NODE_CLOCK_H
#define SYN_NODE_CLOCK_H

#include <stdint.h>
#include <uv.h>

#include "common/err.h"
#include "txn/hlc.h"

#define NODE_CLOCK_MAX_OFFSET_MS 500

typedef struct node_clock {
  hlc clock;
  uv_timer_t timer;     /* checks whether a new bound must be persisted */
  char path[4096];
  int timer_open;
  int failed;           /* sticky: a bound write failed; see node_clock_now */
} node_clock;

/* Read DIR/hlc.bound (missing = first start), restore the clock past it,
** persist the first bound (fsynced) and start the bound timer on loop. A
** corrupt bound file is an error: starting without it could reissue
** timestamps. */
int node_clock_open(node_clock *nc, uv_loop_t *loop, const char *dir, syn_err *err);

/* A fresh timestamp for a local or send event. */
int node_clock_now(node_clock *nc, hlc_ts *out, syn_err *err);

/* A receive event for a message stamped `remote` (hlc_update), writing a
** due bound first if the core asks for one. SYN_ERANGE (clock unchanged)
** when remote is more than the max offset ahead of our physical clock. */
int node_clock_update(node_clock *nc, hlc_ts remote, hlc_ts *out, syn_err *err);

/* Close the timer handle (part of the node's graceful stop). */
void node_clock_close(node_clock *nc);

#endif
