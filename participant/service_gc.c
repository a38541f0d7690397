/*
** Housekeeping a participant cannot decide alone: when old row versions may
** go (SYN_M_PART_GC), and which active transactions belong to a coordinator
** that has since restarted (SYN_M_PART_ABORT_ACTIVE).
**
** GARBAGE COLLECTION
**
** store_gc(H) keeps, per key, the newest version at or below H and every
** newer one, so a snapshot S >= H reads exactly what it read before; it
** also forgets decided transaction records older than H. It is safe iff no
** snapshot below H is ever used again, and no live transaction started
** below H (store.h: the records of live transactions must stay).
**
** Each coordinator c reports a horizon h_c: at or below the start/snapshot
** ts of every live transaction it coordinates and of every snapshot it will
** take later. Every transaction, and so every snapshot served here, belongs
** to one of the coordinators in --coordinators (its index is in the txn id,
** and a snapshot without a txn is still taken by a coordinator). Hence
** H = min over ALL listed coordinators of h_c is <= every snapshot in use
** anywhere and every later one, which is store_gc's precondition. A minimum
** over only the coordinators that have reported would not be: a silent one
** may hold a snapshot far older than everybody else's.
**
** Rules that follow:
**   - nothing is collected until every listed coordinator has reported
**     since this process started. Horizons live in memory only: after a
**     restart GC simply waits for fresh reports (the store's own horizon
**     is durable, so reads below it stay refused);
**   - per coordinator only the largest horizon counts. A smaller report
**     (reordered or retried RPC) never lowers it: c promised everything
**     after its larger report is above it;
**   - store_gc runs only when H exceeds the store's current horizon, so it
**     never sees a decreasing value (it refuses one) and does no empty work;
**   - a horizon is also a clock reading of c, so it is a receive event for
**     our HLC: everything this participant prepares or commits afterwards is
**     stamped above H, and a horizon beyond the max clock offset (a broken
**     coordinator) is refused with SYN_ERANGE instead of destroying versions
**     that real snapshots need.
** A coordinator that never reports (down for good, or an old binary) holds
** GC back for the whole participant, by design: collecting without it could
** destroy versions its transactions still read. When another coordinator
** reports (so GC is in use and really held back), each coordinator silent
** for gc_warn_after_ms is logged once at WARN (again only after it has
** reported and gone silent once more), so the operator can remove the node
** from the configuration.
**
** STALE ACTIVE TRANSACTIONS OF A RESTARTED COORDINATOR
**
** Transaction ids carry the coordinator's index in their top 8 bits and
** grow per coordinator across its restarts. When coordinator i starts, its
** transactions with ids below its first new id (below_txn) belonged to its
** previous life and can never prepare: the process that would have sent
** PREPARE is gone. Their intents are write locks that would block every
** other writer of those rows forever (nothing else ever decides them), so
** ABORT_ACTIVE aborts every ACTIVE one of them here (psvc_apply_abort:
** store_abort, then wake whoever waits on it). PREPARED ones are never
** touched: they voted YES, a COMMIT may already be decided, and only the
** in-doubt resolver (asking the coordinator's decision record) may end them.
**
** A SILENT COORDINATOR. A coordinator that died for good, or is paused
** or cut off, also leaves ACTIVE transactions whose locks nothing would
** release: ABORT_ACTIVE only comes when it restarts. Its GC reports (every
** second) are its heartbeat here, and so is any request for one of its
** transactions: once one heard from falls silent for coord_silence_ms, its
** ACTIVE transactions are aborted (never its
** PREPARED ones, for the reason above). That is a participant's right
** before it votes: if the coordinator comes back and asks to PREPARE one
** of them, the vote is NO and its client hears 40001. The floor is not
** raised, since the coordinator may come back and start new transactions.
**
** Raising the floor first closes two holes: a write of an old-life txn that
** is parked with no record yet (its first write met a lock) would otherwise
** take the lock when woken, and an old-life message still in flight would
** create a fresh active txn. Both are refused with SYN_ECLOSED by the write
** path (psvc_txn_from_past_life). The floor is in memory: after a restart of
** this participant, recovery has aborted every unprepared txn anyway.
*/
#include "participant/service_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rpc_methods.h"

/* ---- GC ------------------------------------------------------------------------- */

/* Log, once per silence, each coordinator that holds GC back. */
static void gc_warn_silent(psvc *s, uint64_t now) {
  for (size_t i = 0; i < s->ncoords; i++) {
    psvc_gc_peer *g = &s->gc[i];
    uint64_t quiet = now - g->last_ms;
    if (g->warned || quiet < s->cfg.gc_warn_after_ms) continue;
    g->warned = 1;
    if (!g->reported)
      SYN_LOG_WARN(NULL,
                   "GC held back: coordinator %s has not reported a horizon in the %llu ms "
                   "since this participant started; old versions are kept until every "
                   "coordinator in --coordinators reports",
                   s->coords[i].name, (unsigned long long)quiet);
    else
      SYN_LOG_WARN(NULL,
                   "GC held back: coordinator %s has not reported a horizon for %llu ms; "
                   "GC stays at or below its last horizon %llu",
                   s->coords[i].name, (unsigned long long)quiet,
                   (unsigned long long)g->horizon);
  }
}

/* Record c's horizon, then collect if every coordinator has reported and the
** minimum moved past the store's horizon. */
static int gc_report(psvc *s, const char *name, uint64_t horizon, syn_err *err) {
  size_t i = 0;
  while (i < s->ncoords && strcmp(s->coords[i].name, name) != 0) i++;
  if (i == s->ncoords)
    return syn_err_set(err, SYN_ENOTFOUND, "participant: no coordinator '%s' in --coordinators",
                       name);
  int rc = horizon ? node_clock_update(s->clock, horizon, NULL, err) : 0;
  if (rc < 0) {
    syn_err_wrap(err, "GC horizon of %s refused", name);
    return rc;
  }
  psvc_gc_peer *g = &s->gc[i];
  uint64_t now = uv_now(s->loop);
  if (!g->reported || horizon > g->horizon) g->horizon = horizon;
  if (g->warned)
    SYN_LOG_INFO(NULL, "coordinator %s reports a GC horizon again", name);
  g->reported = 1;
  g->warned = 0;
  g->swept = 0;
  g->heard = 1;
  g->heard_ms = now;
  g->last_ms = now;
  gc_warn_silent(s, now);
  uint64_t min = UINT64_MAX;
  for (size_t j = 0; j < s->ncoords; j++) {
    if (!s->gc[j].reported) return 0; /* the safety argument needs them all */
    if (s->gc[j].horizon < min) min = s->gc[j].horizon;
  }
  uint64_t cur = store_gc_ts(s->st);
  if (min <= cur) return 0;
  rc = store_gc(s->st, min, err);
  if (rc < 0) {
    SYN_LOG_ERROR(NULL, "GC at %llu failed: %s", (unsigned long long)min, err->msg);
    return rc;
  }
  SYN_LOG_DEBUG(NULL, "GC horizon %llu -> %llu", (unsigned long long)cur,
                (unsigned long long)min);
  return 0;
}

void psvc_on_gc(rpc_call *call, const uint8_t *p, size_t n, void *ud) {
  psvc *s = ud;
  if (s->stopping) {
    rpc_reply_error(call, SYN_ECLOSED, "participant stopping");
    return;
  }
  psvc_arena a;
  psvc_arena_init(&a);
  Synod__Part__GcRequest *q = synod__part__gc_request__unpack(&a.pa, n, p);
  if (!q) {
    psvc_reply_undecodable(call, "gc");
    psvc_arena_free(&a);
    return;
  }
  syn_err err;
  syn_err_clear(&err);
  int rc = gc_report(s, q->coordinator ? q->coordinator : "", q->horizon, &err);
  Synod__Part__GcResponse resp = SYNOD__PART__GC_RESPONSE__INIT;
  Synod__Part__Status status;
  if (psvc_status_fill(&a, &status, rc, NULL, &err) < 0) {
    rpc_reply_error(call, SYN_ENOMEM, "participant: out of memory");
  } else {
    resp.status = &status;
    resp.gc_ts = store_gc_ts(s->st);
    psvc_reply_msg(call, &a, &resp.base);
  }
  psvc_arena_free(&a);
}

/* ---- stale active transactions --------------------------------------------------- */

int psvc_txn_from_past_life(const psvc *s, uint64_t txn) {
  return txn < s->active_floor[SYN_TXN_COORD(txn)];
}

static int stale(unsigned idx, uint64_t below, uint64_t txn) {
  return SYN_TXN_COORD(txn) == idx && txn < below;
}

/* Abort coordinator idx's active txns below `below`; *aborted counts them.
** Every candidate is tried even after a failure (the first error is
** returned): one bad record must not leave the others' locks in place, and
** the coordinator retries the whole call, which is idempotent. */
static int abort_active(psvc *s, uint32_t idx, uint64_t below, bool past_life,
                        uint32_t *aborted, syn_err *err) {
  *aborted = 0;
  if (idx >= PSVC_COORD_INDEXES)
    return syn_err_set(err, SYN_EINVAL, "participant: coordinator index %u not in 0..%u", idx,
                       PSVC_COORD_INDEXES - 1);
  /* Floor first: the wake-ups below re-run parked writes, and an old-life
  ** one must be refused, not handed the lock just released. A silent
  ** coordinator (not past_life) may come back: its later transactions must
  ** still be served, so the floor stays. */
  if (past_life && below > s->active_floor[idx]) s->active_floor[idx] = below;
  store_prepared *act = NULL;
  size_t nact = 0;
  int rc = store_txn_list(s->st, STORE_TXN_ACTIVE, &act, &nact, err);
  if (rc < 0) return rc;
  /* Old-life writes parked before their txn wrote anything have no ACTIVE
  ** record; collect them too (before any wake-up changes the list). */
  size_t npark = 0;
  for (const psvc_req *r = s->parked; past_life && r; r = r->next)
    if (r->kind == PSVC_REQ_WRITE && stale(idx, below, r->txn)) npark++;
  uint64_t *park = NULL;
  if (npark) {
    park = malloc(npark * sizeof *park);
    if (!park) {
      free(act);
      return syn_err_set(err, SYN_ENOMEM, "participant: out of memory");
    }
    size_t k = 0;
    for (const psvc_req *r = s->parked; r && k < npark; r = r->next)
      if (r->kind == PSVC_REQ_WRITE && stale(idx, below, r->txn)) park[k++] = r->txn;
  }
  int first = 0;
  syn_err e;
  for (size_t i = 0; i < nact; i++) {
    if (!stale(idx, below, act[i].txn)) continue;
    syn_err_clear(&e);
    /* Never a PREPARED one (store_abort would end it): look again right
    ** before, since the re-runs our own wake-ups start change the store. */
    store_txn_state st = STORE_TXN_UNKNOWN;
    int r = store_txn_state_get(s->st, act[i].txn, &st, NULL, NULL, &e);
    if (r == 0 && st != STORE_TXN_ACTIVE) continue;
    if (r == 0) r = psvc_apply_abort(s, act[i].txn, &e);
    if (r == 0) {
      (*aborted)++;
      char cid[24];
      snprintf(cid, sizeof cid, "%llu", (unsigned long long)act[i].txn);
      SYN_LOG_INFO(cid, "aborted: active txn of %s coordinator c%u", past_life ? "a previous life of" : "silent", idx);
    } else if (!first) {
      first = r;
      syn_err_set(err, r, "participant: abort of txn %llu: %s",
                  (unsigned long long)act[i].txn, e.msg);
    }
  }
  /* Record-less parked writes: re-run them; the floor refuses them. */
  for (size_t i = 0; i < npark; i++) {
    store_txn_state st = STORE_TXN_UNKNOWN;
    if (store_txn_state_get(s->st, park[i], &st, NULL, NULL, &e) == 0 &&
        st == STORE_TXN_UNKNOWN)
      psvc_wake(s, park[i], 1);
  }
  free(park);
  free(act);
  return first;
}

void psvc_on_abort_active(rpc_call *call, const uint8_t *p, size_t n, void *ud) {
  psvc *s = ud;
  if (s->stopping) {
    rpc_reply_error(call, SYN_ECLOSED, "participant stopping");
    return;
  }
  psvc_arena a;
  psvc_arena_init(&a);
  Synod__Part__AbortActiveRequest *q = synod__part__abort_active_request__unpack(&a.pa, n, p);
  if (!q) {
    psvc_reply_undecodable(call, "abort-active");
    psvc_arena_free(&a);
    return;
  }
  syn_err err;
  syn_err_clear(&err);
  uint32_t aborted = 0;
  int rc = abort_active(s, q->coordinator_index, q->below_txn, true, &aborted, &err);
  Synod__Part__AbortActiveResponse resp = SYNOD__PART__ABORT_ACTIVE_RESPONSE__INIT;
  Synod__Part__Status status;
  if (psvc_status_fill(&a, &status, rc, NULL, &err) < 0) {
    rpc_reply_error(call, SYN_ENOMEM, "participant: out of memory");
  } else {
    resp.status = &status;
    resp.aborted = aborted;
    psvc_reply_msg(call, &a, &resp.base);
  }
  psvc_arena_free(&a);
}

/* ---- active transactions of a silent coordinator -------------------------------- */

/* The digits of a coordinator's name ("c3" -> 3); 0 when it has none. */
static uint32_t coord_index_of(const char *name) {
  uint32_t v = 0;
  for (const char *p = name; *p; p++)
    if (*p >= '0' && *p <= '9') v = v * 10 + (uint32_t)(*p - '0');
  return v < PSVC_COORD_INDEXES ? v : 0;
}

void psvc_heard_txn(psvc *s, uint64_t txn) {
  uint32_t idx = SYN_TXN_COORD(txn);
  for (size_t i = 0; i < s->ncoords; i++) {
    psvc_gc_peer *g = &s->gc[i];
    if (!g->idx) g->idx = coord_index_of(s->coords[i].name);
    if (g->idx != idx) continue;
    g->heard = 1;
    g->heard_ms = uv_now(s->loop);
    g->swept = 0;
    return;
  }
}

void psvc_sweep_silent(psvc *s) {
  uint64_t now = uv_now(s->loop);
  for (size_t i = 0; i < s->ncoords; i++) {
    psvc_gc_peer *g = &s->gc[i];
    /* Heard from since this process started (a GC report, every second,
    ** is its heartbeat; any request for one of its txns counts too), then
    ** silent. A listed coordinator never heard from has no txns here. */
    if (!g->heard || g->swept || now - g->heard_ms < s->cfg.coord_silence_ms) continue;
    g->swept = 1;
    if (!g->idx) g->idx = coord_index_of(s->coords[i].name);
    uint32_t idx = g->idx;
    if (idx == 0) continue;
    uint32_t aborted = 0;
    syn_err err;
    syn_err_clear(&err);
    int rc = abort_active(s, idx, UINT64_MAX, false, &aborted, &err);
    if (rc < 0)
      SYN_LOG_WARN(NULL, "coordinator %s silent for %llu ms: aborting its active transactions: %s",
                   s->coords[i].name, (unsigned long long)(now - g->heard_ms), err.msg);
    else if (aborted)
      SYN_LOG_INFO(NULL, "coordinator %s silent for %llu ms: aborted %u active transaction(s) "
                   "to release their locks (a PREPARE of one of them now votes no)",
                   s->coords[i].name, (unsigned long long)(now - g->heard_ms), aborted);
  }
}
