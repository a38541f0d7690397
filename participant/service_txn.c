/*
** Commit-protocol handlers: PREPARE, COMMIT, ABORT, COMMIT_ONE_PHASE and
** TXN_STATE. Every one is idempotent (the store's outcome calls are), so a
** coordinator retries any call whose answer it did not see.
**
** Clock rules (Clock-SI with HLC):
**   - every request's `hlc` (the sender's reading) is a receive event;
**   - prepare_ts = HLC.now() after that, so it exceeds every snapshot this
**     participant has served (scans advanced the clock to theirs);
**   - commit advances the clock to the decided commit_ts before applying
**     it, so later local timestamps stay above it;
**   - one-phase commit_ts = HLC.now(), above every served snapshot;
**   - a stamp beyond the max offset is refused with an SYN_ERANGE status
**     and does not move the clock (the coordinator retries later).
** Every response carries the participant's clock reading.
*/
#include "participant/service_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/failpoint.h"
#include "common/log.h"

static char *txn_cid(uint64_t txn, char *buf, size_t cap) {
  snprintf(buf, cap, "%llu", (unsigned long long)txn);
  return buf;
}

/* Decode a TxnRequest; on failure the call is answered. */
static Synod__Part__TxnRequest *txn_decode(psvc *s, rpc_call *call, psvc_arena *a,
                                           const uint8_t *p, size_t n, const char *what) {
  if (s->stopping) {
    rpc_reply_error(call, SYN_ECLOSED, "participant stopping");
    return NULL;
  }
  Synod__Part__TxnRequest *q = synod__part__txn_request__unpack(&a->pa, n, p);
  if (!q) psvc_reply_undecodable(call, what);
  else psvc_heard_txn(s, q->txn);
  return q;
}

static void txn_reply(psvc *s, rpc_call *call, psvc_arena *a, int rc, const syn_err *err,
                      uint64_t ts, int32_t state) {
  Synod__Part__TxnResponse resp = SYNOD__PART__TXN_RESPONSE__INIT;
  Synod__Part__Status status;
  if (psvc_status_fill(a, &status, rc, NULL, err) < 0) {
    rpc_reply_error(call, SYN_ENOMEM, "participant: out of memory");
    return;
  }
  resp.status = &status;
  resp.ts = ts;
  resp.state = state;
  hlc_ts now = 0;
  syn_err cerr;
  if (node_clock_now(s->clock, &now, &cerr) < 0) now = hlc_last(&s->clock->clock);
  resp.hlc = now;
  psvc_reply_msg(call, a, &resp.base);
}

/* The request's clock reading is a receive event (0: none sent). */
static int recv_hlc(psvc *s, uint64_t stamp, syn_err *err) {
  return stamp ? node_clock_update(s->clock, stamp, NULL, err) : 0;
}

int psvc_apply_commit(psvc *s, uint64_t txn, uint64_t commit_ts, syn_err *err) {
  int rc = node_clock_update(s->clock, commit_ts, NULL, err);
  if (rc < 0) return rc;
  if (SYN_FAILPOINT("part_before_commit"))
    return syn_err_set(err, SYN_EIO, "failpoint part_before_commit");
  /* store_commit fsyncs before returning 0: the coordinator stops
  ** re-sending COMMIT once acked, so the ack must never outrun the disk. */
  rc = store_commit(s->st, txn, commit_ts, err);
  if (rc < 0) return rc;
  psvc_wake(s, txn, 0);
  return 0;
}

int psvc_apply_abort(psvc *s, uint64_t txn, syn_err *err) {
  /* Durable (FULL sync) for a prepared txn: it must not come back as
  ** prepared after a crash once the abort was acknowledged. */
  int rc = store_abort(s->st, txn, err);
  if (rc < 0) return rc;
  psvc_wake(s, txn, 1);
  return 0;
}

void psvc_on_prepare(rpc_call *call, const uint8_t *p, size_t n, void *ud) {
  psvc *s = ud;
  psvc_arena a;
  psvc_arena_init(&a);
  Synod__Part__TxnRequest *q = txn_decode(s, call, &a, p, n, "prepare");
  if (!q) goto out;
  syn_err err;
  syn_err_clear(&err);
  uint64_t pts = 0, out_pts = 0;
  int rc = recv_hlc(s, q->hlc, &err);
  if (rc == 0) rc = node_clock_now(s->clock, &pts, &err);
  /* The YES vote: store_prepare returns 0 only once the intents and the
  ** prepared record are fsynced (invariant: a YES survives any crash). */
  if (rc == 0) rc = store_prepare(s->st, q->txn, pts, &out_pts, &err);
  if (rc == 0 && SYN_FAILPOINT("part_after_prepare"))
    rc = syn_err_set(&err, SYN_EIO, "failpoint part_after_prepare");
  if (rc < 0) {
    char cid[24];
    SYN_LOG_DEBUG(txn_cid(q->txn, cid, sizeof cid), "prepare votes no: %s", err.msg);
  }
  txn_reply(s, call, &a, rc, &err, rc == 0 ? out_pts : 0, rc == 0 ? STORE_TXN_PREPARED : STORE_TXN_UNKNOWN);
out:
  psvc_arena_free(&a);
}

/* The timestamp the store recorded for a decided txn (0 if forgotten). */
static uint64_t recorded_cts(psvc *s, uint64_t txn) {
  store_txn_state st;
  uint64_t pts = 0, cts = 0;
  if (store_txn_state_get(s->st, txn, &st, &pts, &cts, NULL) < 0) return 0;
  return st == STORE_TXN_COMMITTED ? cts : 0;
}

void psvc_on_commit(rpc_call *call, const uint8_t *p, size_t n, void *ud) {
  psvc *s = ud;
  psvc_arena a;
  psvc_arena_init(&a);
  Synod__Part__TxnRequest *q = txn_decode(s, call, &a, p, n, "commit");
  if (!q) goto out;
  syn_err err;
  syn_err_clear(&err);
  int rc = recv_hlc(s, q->hlc, &err);
  if (rc == 0) rc = psvc_apply_commit(s, q->txn, q->ts, &err);
  uint64_t ts = rc == 0 ? recorded_cts(s, q->txn) : 0;
  txn_reply(s, call, &a, rc, &err, ts ? ts : (rc == 0 ? q->ts : 0),
            rc == 0 ? STORE_TXN_COMMITTED : STORE_TXN_UNKNOWN);
out:
  psvc_arena_free(&a);
}

void psvc_on_abort(rpc_call *call, const uint8_t *p, size_t n, void *ud) {
  psvc *s = ud;
  psvc_arena a;
  psvc_arena_init(&a);
  Synod__Part__TxnRequest *q = txn_decode(s, call, &a, p, n, "abort");
  if (!q) goto out;
  syn_err err;
  syn_err_clear(&err);
  /* An abort never depends on the clock: a refused stamp is only logged. */
  if (recv_hlc(s, q->hlc, &err) < 0) SYN_LOG_WARN(NULL, "abort: %s", err.msg);
  syn_err_clear(&err);
  int rc = psvc_apply_abort(s, q->txn, &err);
  txn_reply(s, call, &a, rc, &err, 0, rc == 0 ? STORE_TXN_ABORTED : STORE_TXN_UNKNOWN);
out:
  psvc_arena_free(&a);
}

void psvc_on_one_phase(rpc_call *call, const uint8_t *p, size_t n, void *ud) {
  psvc *s = ud;
  psvc_arena a;
  psvc_arena_init(&a);
  Synod__Part__TxnRequest *q = txn_decode(s, call, &a, p, n, "one-phase commit");
  if (!q) goto out;
  syn_err err;
  syn_err_clear(&err);
  uint64_t cts = 0;
  int rc = recv_hlc(s, q->hlc, &err);
  if (rc == 0) rc = node_clock_now(s->clock, &cts, &err);
  if (rc == 0 && SYN_FAILPOINT("part_before_commit"))
    rc = syn_err_set(&err, SYN_EIO, "failpoint part_before_commit");
  /* Durable before the reply: the client hears COMMIT from it. */
  if (rc == 0) rc = store_commit_one_phase(s->st, q->txn, cts, &err);
  if (rc == 0) {
    /* A retry of a commit already applied reports the first commit_ts. */
    uint64_t rec = recorded_cts(s, q->txn);
    if (rec) cts = rec;
    psvc_wake(s, q->txn, 0);
  }
  txn_reply(s, call, &a, rc, &err, rc == 0 ? cts : 0, rc == 0 ? STORE_TXN_COMMITTED : STORE_TXN_UNKNOWN);
out:
  psvc_arena_free(&a);
}

void psvc_on_txn_state(rpc_call *call, const uint8_t *p, size_t n, void *ud) {
  psvc *s = ud;
  psvc_arena a;
  psvc_arena_init(&a);
  Synod__Part__TxnRequest *q = txn_decode(s, call, &a, p, n, "txn state");
  if (!q) goto out;
  syn_err err;
  syn_err_clear(&err);
  store_txn_state st = STORE_TXN_UNKNOWN;
  uint64_t pts = 0, cts = 0;
  int rc = recv_hlc(s, q->hlc, &err);
  if (rc == 0) rc = store_txn_state_get(s->st, q->txn, &st, &pts, &cts, &err);
  uint64_t ts = st == STORE_TXN_PREPARED ? pts : st == STORE_TXN_COMMITTED ? cts : 0;
  txn_reply(s, call, &a, rc, &err, rc == 0 ? ts : 0, rc == 0 ? (int32_t)st : STORE_TXN_UNKNOWN);
out:
  psvc_arena_free(&a);
}
