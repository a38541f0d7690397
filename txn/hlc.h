/*
** Hybrid logical clock (HLC), after Kulkarni, Demirbas, Madappa, Avva and
** Leone, "Logical Physical Clocks" (OPODIS 2014), Figure 5.
**
** A timestamp is the pair (l, c): l is the largest physical time (ms) this
** node has heard of, c a logical counter that orders events sharing one l.
** Timestamps never go backwards on a node, follow causality across nodes
** (a receive is stamped after the send it answers) and stay close to
** physical time, which is what Clock-SI snapshots need.
**
** TIMESTAMP LAYOUT (part of the wire and on-disk contract):
**
**     63                               16 15              0
**    +-----------------------------------+-----------------+
**    |  l: physical milliseconds (48)    |  c: logical (16)|
**    +-----------------------------------+-----------------+
**
** so comparing two hlc_ts as unsigned integers compares (l, c)
** lexicographically. 48 bits of milliseconds last until the year 10889.
** Text form is "<l>.<c>" in decimal, e.g. "1732526400123.5".
**
** OVERFLOW RULE: when c would pass 65535, l advances by 1 ms and c restarts
** at 0. The result is still larger than every earlier timestamp; the cost is
** that l runs up to a millisecond per 65536 events ahead of physical time,
** which the max-offset check of other nodes tolerates. The counter never
** wraps (a wrap would issue a timestamp smaller than the previous one).
**
** INPUTS: the physical clock is a function pointer plus context returning
** milliseconds, so tests (and the simulator) drive skew and backward jumps.
** Nothing in this module reads a real clock, sleeps or touches files. An
** hlc is not thread-safe: the owner serialises calls (one libuv loop).
**
** MAX OFFSET: hlc_update() refuses (SYN_ERANGE) a remote timestamp whose l
** is more than max_offset_ms ahead of our physical clock, and leaves the
** clock unchanged. Without this, one node with a clock set years ahead
** would drag every clock in the cluster with it, permanently (HLC can never
** go back).
**
** MONOTONIC ACROSS RESTARTS: the persisted upper bound.
** The in-memory (l, c) is lost in a crash, and the physical clock may have
** been stepped back while we were down, so a restarted node could re-issue
** a timestamp it already handed out (two commits with one timestamp, or a
** commit under a snapshot already served). To prevent that the core keeps a
** bound B, a physical time in ms, with the invariant
**
**   (I)  every timestamp ever issued by this node has l < B_d,
**
** where B_d is the value durably stored by the caller. How (I) holds:
**   1. hlc_now/hlc_update never issue a timestamp with l >= h->bound; they
**      return SYN_EBUSY instead (see below) and leave the clock unchanged.
**   2. h->bound only rises through hlc_bound_persisted(), which the caller
**      calls only after the new bound is durable (written, fsynced, renamed,
**      directory fsynced: common/clockfile.h). So h->bound <= B_d always.
**   3. hlc_bound_persisted() rejects a bound below the current one, so the
**      stored value never falls under a bound that gated an issued stamp.
**   A crash after the write but before hlc_bound_persisted() only leaves a
**   larger B_d on disk, which keeps (I).
** At restart the caller reads B_d and calls hlc_restore(h, B_d): the clock
** starts from the floor (B_d, 0). Every later timestamp is strictly greater
** than the floor, and by (I) every earlier one is below (B_d, 0). Hence
** nothing issued after the restart is <= anything issued before the crash.
**
** When to persist: hlc_bound_needed() says yes once max(l, physical clock,
** any l an update was refused for) is within `margin` ms of the bound, and
** proposes that value + `window` ms. The caller writes it durably and calls
** hlc_bound_persisted(). With the defaults (margin = max(1000, max_offset),
** window = 2 * margin) that is one small fsynced write per margin ms.
** Right after hlc_init or hlc_restore the bound is at or below the clock, so
** the first hlc_now returns SYN_EBUSY until a bound has been persisted: a
** node cannot hand out timestamps before its restart guard is durable.
**
** Why SYN_EBUSY rather than spinning the logical counter at the bound:
** spinning would hand out timestamps whose l lags physical time (breaking
** the paper's l >= pt property that keeps snapshots fresh), and only
** postpones the failure by 65536 events. Reaching the bound means the
** bound write is late by `margin` ms, i.e. the disk is stalled; surfacing
** that as a retryable error is better than silently stretching time.
**
** After a restart l starts at B_d, which may be up to `window` ms ahead of
** the physical clock. Other nodes refuse timestamps more than max_offset
** ahead of them, so the daemon should wait hlc_ahead_ms() before serving
** (CockroachDB does the same at startup); this module only reports it.
*/
#ifndef SYN_HLC_H
#define SYN_HLC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef uint64_t hlc_ts;

#define HLC_LOGICAL_BITS 16
#define HLC_LOGICAL_MAX UINT32_C(0xFFFF)
#define HLC_PHYSICAL_MAX ((UINT64_C(1) << 48) - 1)
/* Largest allowed max_offset_ms (one hour): a larger tolerance means the
** check is not doing its job, and keeps pt + offset far from overflow. */
#define HLC_MAX_OFFSET_LIMIT_MS UINT64_C(3600000)
/* Buffer size for hlc_ts_format: 15 digits '.' 5 digits NUL, rounded up. */
#define HLC_TS_STRMAX 24

/* Physical clock: milliseconds since the Unix epoch (any monotone-ish
** source will do; the HLC tolerates it jumping backwards). */
typedef uint64_t (*hlc_clock_fn)(void *ctx);

/* Fields are private; the struct is public only so callers can embed it. */
typedef struct hlc {
  hlc_clock_fn clock;
  void *clock_ctx;
  uint64_t max_offset_ms;
  uint64_t margin_ms;  /* ask for a new bound when this close to it */
  uint64_t window_ms;  /* a new bound is this far past the current time */
  uint64_t l;          /* physical part of the last timestamp (or floor) */
  uint32_t c;          /* logical part of the last timestamp */
  uint64_t bound;      /* persisted bound: every issued l < bound */
  uint64_t demand;     /* largest l an update was refused for (SYN_EBUSY) */
} hlc;

/* ---- timestamps -------------------------------------------------------- */

static inline uint64_t hlc_ts_physical(hlc_ts ts) { return ts >> HLC_LOGICAL_BITS; }
static inline uint32_t hlc_ts_logical(hlc_ts ts) { return (uint32_t)(ts & HLC_LOGICAL_MAX); }

/* Compose (physical, logical) into a timestamp; SYN_ERANGE if physical
** exceeds 48 bits or logical 16 bits. */
int hlc_ts_compose(uint64_t physical_ms, uint32_t logical, hlc_ts *out, syn_err *err);

/* Write "<physical>.<logical>" into buf (cap >= HLC_TS_STRMAX always fits).
** Returns the length excluding the NUL, or SYN_ERANGE if cap is too small
** (buf then holds a NUL-terminated prefix when cap > 0). */
int hlc_ts_format(hlc_ts ts, char *buf, size_t cap);

/* Parse the text form. Strict: decimal digits only, both parts present, no
** sign, no spaces, each part within its field. SYN_EINVAL or SYN_ERANGE. */
int hlc_ts_parse(const char *s, hlc_ts *out, syn_err *err);

/* ---- the clock --------------------------------------------------------- */

/* Set up a clock with bound 0 (so nothing is issued until a bound is
** persisted or restored). max_offset_ms in [1, HLC_MAX_OFFSET_LIMIT_MS]. */
int hlc_init(hlc *h, hlc_clock_fn clock, void *clock_ctx, uint64_t max_offset_ms,
             syn_err *err);

/* Override the bound margin and window (ms); requires 0 < margin < window
** and window <= 1 day. */
int hlc_set_bound_window(hlc *h, uint64_t margin_ms, uint64_t window_ms, syn_err *err);

/* Send or local event (Fig. 5, left): l = max(l, pt); c = (l unchanged) ?
** c + 1 : 0. Fills *out (may be NULL). SYN_EBUSY if the result would reach
** the persisted bound, SYN_ERANGE if the physical clock reads beyond 48
** bits or l would; the clock is unchanged on any error. */
int hlc_now(hlc *h, hlc_ts *out, syn_err *err);

/* Receive event for a message stamped `remote` (Fig. 5, right). Fills *out
** (may be NULL) with the receive event's timestamp, which is greater than
** both `remote` and every earlier local timestamp. SYN_ERANGE (clock
** unchanged) when remote's physical part is more than max_offset_ms ahead
** of our physical clock; SYN_EBUSY (clock unchanged) as for hlc_now. */
int hlc_update(hlc *h, hlc_ts remote, hlc_ts *out, syn_err *err);

/* The last timestamp issued (or the restore floor); reads no clock. */
hlc_ts hlc_last(const hlc *h);

/* How many ms l is ahead of the physical clock right now (0 if not). */
uint64_t hlc_ahead_ms(const hlc *h);

/* ---- restart guard ----------------------------------------------------- */

/* At startup, before any hlc_now/update: adopt the bound read from disk
** (0 when none was ever written). Raises l to the floor (bound, 0); never
** lowers the clock. SYN_ERANGE if the bound exceeds HLC_PHYSICAL_MAX. */
int hlc_restore(hlc *h, uint64_t persisted_bound, syn_err *err);

/* True when a new bound should be persisted; *new_bound (may be NULL) gets
** the value to write. Calling it again before persisting is harmless: it
** proposes a fresh value, all of them valid. */
bool hlc_bound_needed(const hlc *h, uint64_t *new_bound);

/* The caller has made `bound` durable. SYN_EINVAL if it is lower than the
** current bound (a regressing file would break invariant (I)) or beyond
** HLC_PHYSICAL_MAX. */
int hlc_bound_persisted(hlc *h, uint64_t bound, syn_err *err);

/* Current persisted bound as known to the clock. */
uint64_t hlc_bound(const hlc *h);

#endif /* SYN_HLC_H */
