/*
** Commit on the loop thread: the 2PC core (txn/commit.h) wired to the
** participants' RPC methods and the decision log (decision_log.h), the
** SYN_M_COORD_RESOLVE handler, and recovery at start.
**
** Invariants this file keeps (docs/protocol.md "Two-phase commit"):
**   - the client hears COMMITTED for a multi-shard transaction only after
**     its DECIDE record is durable: the reply comes from the core, which
**     replies only from tpc_decision_durable, which we call only from the
**     dlog callback, which runs only after the fsync covering the record
**     (dlog_flush, run once per loop iteration from a uv_check handle);
**   - first decision wins: a resolver's ABORT and our COMMIT both go
**     through dlog_propose; the log answers each with the first one;
**   - recovery: every logged decision without a done marker is fed to
**     tpc_recover before any other input, so a COMMIT whose phase two was
**     cut short by a crash is re-driven to all its participants.
**
** Two decision logs behind the same calls: the local file (cl->dlog) when
** the cluster is opened without a replicated log (unit-test harness), or
** the coordinators' Multi-Paxos log (cl->rdl, coordinator/coord_rdl.h;
** the daemon). With rdl the callback runs once the decision is chosen by a
** majority (each vote fsynced, coord_paxos.c) and applied here, any
** coordinator answers resolvers, and recovery is the group leader's
** (redrive_one) instead of the restarting coordinator's.
**
** Failpoints (crash tests): "coord_after_prepare" (every vote is in, the
** decision is not yet proposed), "coord_after_decision" (the decision is
** durable, no phase-two message sent), "coord_during_phase_two" (the first
** participant acknowledged COMMIT, the others may not have it yet).
** "coord_delay_phase_two" (isolation tests) takes delay(ms): once a logged
** decision is durable the client hears it at once, but the decision
** reaches no participant, neither as a phase-two message nor as the answer
** to a resolver, until ms later (a timer; the loop never blocks). Readers
** meanwhile meet the prepared intents and must wait for them.
*/
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/failpoint.h"
#include "common/log.h"
#include "common/rpc_methods.h"
#include "coordinator/coord_int.h"
#include "coordinator/coord_rdl.h"

typedef struct coord_resolve {
  struct coord_resolve *next;
  uint64_t txn;
  uint32_t part_id;
  rpc_call *call;
  uint64_t deadline_ms;
} coord_resolve;

typedef struct txn_msg_ctx {
  cl_cluster *cl;
  uint64_t txn;
  uint32_t part_id;
  int kind; /* 1 prepare, 2 one-phase, 3 commit, 4 abort */
} txn_msg_ctx;

static int part_index(cl_cluster *cl, uint32_t id) {
  for (int i = 0; i < cl->nparts; i++)
    if (cl->parts[i].id == id) return i;
  return -1;
}

static void cid_of(uint64_t txn, char *buf, size_t cap) {
  snprintf(buf, cap, "%llx", (unsigned long long)txn);
}

/* Phase two of one transaction held back by coord_delay_phase_two. */
typedef struct coord_hold {
  struct coord_hold *next;
  cl_cluster *cl;
  uint64_t txn;
  tpc_outcome outcome;
  uint64_t commit_ts;
  uint64_t parts; /* bit i: the core sent to parts[i] while held */
} coord_hold;

/* ---- resolve answers ------------------------------------------------------ */

static void resolve_answer(coord_resolve *r, int outcome, uint64_t commit_ts) {
  Synod__Part__ResolveResponse rs = SYNOD__PART__RESOLVE_RESPONSE__INIT;
  rs.outcome = outcome;
  rs.commit_ts = commit_ts;
  uint8_t buf[32];
  size_t len = synod__part__resolve_response__pack(&rs, buf);
  rpc_reply(r->call, buf, len);
}

/* Answer every pending resolve for (txn, part_id). */
static void resolves_settle(cl_cluster *cl, uint64_t txn, uint32_t part_id, int outcome,
                            uint64_t ts) {
  coord_resolve **pp = &cl->resolves;
  while (*pp) {
    coord_resolve *r = *pp;
    if (r->txn == txn && (r->part_id == part_id || part_id == 0)) {
      *pp = r->next;
      resolve_answer(r, outcome, ts);
      free(r);
    } else {
      pp = &r->next;
    }
  }
}

static void resolves_expire(cl_cluster *cl, bool all) {
  uint64_t now = coord_now_ms(cl);
  coord_resolve **pp = &cl->resolves;
  while (*pp) {
    coord_resolve *r = *pp;
    if (all || r->deadline_ms <= now) {
      *pp = r->next;
      if (all) rpc_reply_error(r->call, SYN_ECLOSED, "coordinator is shutting down");
      else resolve_answer(r, 0, 0); /* unknown: ask again later */
      free(r);
    } else {
      pp = &r->next;
    }
  }
}

/* ---- phase two held back (failpoint coord_delay_phase_two) --------------- */

static coord_hold *hold_find(cl_cluster *cl, uint64_t txn) {
  for (coord_hold *h = cl->holds; h; h = h->next)
    if (h->txn == txn) return h;
  return NULL;
}

static void send_txn_msg(cl_cluster *cl, uint64_t txn, uint32_t part_id, int kind,
                         uint32_t method, uint64_t ts);

/* The delay is over: send the decision to every participant the core tried
** to reach meanwhile and answer the resolvers that asked. Cancelled (the
** cluster is closing): drop it all, as a crash would; the decision is in
** the log, so recovery and the resolvers finish phase two. */
static void hold_release(void *ud, bool cancelled) {
  coord_hold *h = ud;
  cl_cluster *cl = h->cl;
  for (coord_hold **pp = &cl->holds; *pp; pp = &(*pp)->next)
    if (*pp == h) {
      *pp = h->next;
      break;
    }
  if (!cancelled && cl->tpc) {
    char cid[24];
    cid_of(h->txn, cid, sizeof cid);
    SYN_LOG_INFO(cid, "failpoint coord_delay_phase_two: releasing phase two");
    for (int i = 0; i < cl->nparts; i++) {
      if (!((h->parts >> i) & 1)) continue;
      if (h->outcome == TPC_COMMIT)
        send_txn_msg(cl, h->txn, cl->parts[i].id, 3, SYN_M_PART_COMMIT, h->commit_ts);
      else
        send_txn_msg(cl, h->txn, cl->parts[i].id, 4, SYN_M_PART_ABORT, 0);
    }
    resolves_settle(cl, h->txn, 0, h->outcome == TPC_COMMIT ? 1 : 2, h->commit_ts);
  }
  free(h);
}

/* Hold phase two of txn for ms. Without memory or a timer, nothing is held:
** the failpoint only widens a window, it never changes an outcome. */
static void hold_start(cl_cluster *cl, uint64_t txn, tpc_outcome outcome, uint64_t commit_ts,
                       unsigned ms) {
  coord_hold *h = calloc(1, sizeof *h);
  if (!h) return;
  *h = (coord_hold){.next = cl->holds, .cl = cl, .txn = txn, .outcome = outcome,
                    .commit_ts = commit_ts};
  if (coord_retry_after(cl, ms, hold_release, h) < 0) {
    free(h);
    return;
  }
  cl->holds = h;
  char cid[24];
  cid_of(txn, cid, sizeof cid);
  SYN_LOG_INFO(cid, "failpoint coord_delay_phase_two: holding phase two for %u ms", ms);
}

/* ---- tpc_io ---------------------------------------------------------------- */

static void on_txn_msg(int status, const uint8_t *payload, size_t len, const syn_err *rerr,
                       void *ud) {
  txn_msg_ctx *m = ud;
  cl_cluster *cl = m->cl;
  if (status < 0 || !cl->tpc) {
    /* Lost or unanswered: the core re-sends with backoff (or times the
    ** transaction out), so nothing to do here. */
    char cid[24];
    cid_of(m->txn, cid, sizeof cid);
    SYN_LOG_DEBUG(cid, "txn message %d to participant %u: %s", m->kind, m->part_id,
                  rerr ? rerr->msg : syn_strerror(status));
    free(m);
    return;
  }
  Synod__Part__TxnResponse *tr = synod__part__txn_response__unpack(NULL, len, payload);
  if (!tr) {
    free(m);
    return;
  }
  int code = tr->status ? tr->status->code : 0;
  coord_hlc_observe(cl, tr->hlc);
  uint64_t now = coord_now_ms(cl);
  switch (m->kind) {
  case 1: {
    coord_ltxn *lt = coord_ltxn_get(cl, m->txn);
    int idx = part_index(cl, m->part_id);
    if (lt && idx >= 0) lt->answered |= 1ull << idx;
  }
    tpc_vote(cl->tpc, m->txn, m->part_id, code == 0, tr->ts, code, now); break;
  case 2: tpc_one_phase_result(cl->tpc, m->txn, m->part_id, code == 0, tr->ts, code, now); break;
  case 3:
  case 4:
    if (code == 0) {
      if (m->kind == 3 && SYN_FAILPOINT("coord_during_phase_two")) {
        /* error action: behave as if this ack was lost */
        break;
      }
      tpc_ack(cl->tpc, m->txn, m->part_id, now);
    } else {
      char cid[24];
      cid_of(m->txn, cid, sizeof cid);
      SYN_LOG_WARN(cid, "participant %u refused %s: %s", m->part_id,
                   m->kind == 3 ? "COMMIT" : "ABORT",
                   tr->status && tr->status->message ? tr->status->message : "?");
    }
    break;
  default: break;
  }
  synod__part__txn_response__free_unpacked(tr, NULL);
  free(m);
}

static void send_txn_msg(cl_cluster *cl, uint64_t txn, uint32_t part_id, int kind,
                         uint32_t method, uint64_t ts) {
  int idx = part_index(cl, part_id);
  if (idx < 0 || cl->closed || !cl->parts[idx].rpc) {
    if (idx < 0) {
      char cid[24];
      cid_of(txn, cid, sizeof cid);
      SYN_LOG_WARN(cid, "participant id %u is not configured; cannot send to it", part_id);
    }
    return;
  }
  txn_msg_ctx *m = malloc(sizeof *m);
  if (!m) return;
  *m = (txn_msg_ctx){cl, txn, part_id, kind};
  Synod__Part__TxnRequest rq = SYNOD__PART__TXN_REQUEST__INIT;
  rq.txn = txn;
  rq.ts = ts;
  uint64_t now = 0;
  syn_err e;
  if (coord_hlc_now(cl, &now, &e) == 0) rq.hlc = now;
  uint8_t buf[64];
  size_t len = synod__part__txn_request__pack(&rq, buf);
  if (rpc_client_call(cl->parts[idx].rpc, method, buf, len, cl->rpc_timeout_ms, on_txn_msg, m,
                      &e) < 0)
    free(m);
}

static void io_send_prepare(void *ud, uint64_t txn, uint32_t participant) {
  send_txn_msg(ud, txn, participant, 1, SYN_M_PART_PREPARE, 0);
}

static void io_send_one_phase(void *ud, uint64_t txn, uint32_t participant) {
  send_txn_msg(ud, txn, participant, 2, SYN_M_PART_COMMIT_ONE_PHASE, 0);
}

static void io_send_decision(void *ud, uint64_t txn, uint32_t participant, tpc_outcome outcome,
                             uint64_t commit_ts) {
  cl_cluster *cl = ud;
  coord_hold *h = hold_find(cl, txn);
  if (h) {
    /* Retransmissions while held collapse into one send at release. */
    int idx = part_index(cl, participant);
    if (idx >= 0) h->parts |= 1ull << idx;
    return;
  }
  resolves_settle(cl, txn, participant, outcome == TPC_COMMIT ? 1 : 2, commit_ts);
  if (outcome == TPC_COMMIT)
    send_txn_msg(cl, txn, participant, 3, SYN_M_PART_COMMIT, commit_ts);
  else
    send_txn_msg(cl, txn, participant, 4, SYN_M_PART_ABORT, 0);
}

typedef struct durable_ctx {
  cl_cluster *cl;
  uint64_t txn;
  int status;
  tpc_outcome outcome;
  uint64_t commit_ts;
} durable_ctx;

static void deliver_durable(void *ud, bool cancelled) {
  durable_ctx *d = ud;
  if (!cancelled && d->cl->tpc)
    tpc_decision_durable(d->cl->tpc, d->txn, d->status, d->outcome, d->commit_ts,
                         coord_now_ms(d->cl));
  free(d);
}

static void on_dlog(int status, uint64_t txn, const dlog_record *chosen, void *ud) {
  cl_cluster *cl = ud;
  if (!cl->tpc) return;
  if (status == 0 && SYN_FAILPOINT("coord_after_decision")) {
    /* error action: report the log as failed (the record is durable, so
    ** this exercises the UNKNOWN path). */
    status = SYN_EIO;
  }
  uint64_t now = coord_now_ms(cl);
  if (status < 0) {
    tpc_decision_durable(cl->tpc, txn, status, TPC_ABORT, 0, now);
    return;
  }
  /* Before the core hears it: the core sends phase two from inside
  ** tpc_decision_durable, and those sends must find the hold. */
  unsigned delay_ms = SYN_FAILPOINT_DELAY("coord_delay_phase_two");
  if (delay_ms) hold_start(cl, txn, (tpc_outcome)chosen->outcome, chosen->commit_ts, delay_ms);
  tpc_decision_durable(cl->tpc, txn, 0, (tpc_outcome)chosen->outcome, chosen->commit_ts, now);
  if (hold_find(cl, txn)) return; /* resolvers are answered at release */
  /* A resolver asking about a txn the core does not hold waits for this. */
  resolves_settle(cl, txn, 0, chosen->outcome == DLOG_COMMIT ? 1 : 2, chosen->commit_ts);
}

static void io_persist(void *ud, const tpc_record *rec) {
  cl_cluster *cl = ud;
  if (rec->outcome == TPC_COMMIT && SYN_FAILPOINT("coord_after_prepare")) {
    /* error action: the log refuses (the client hears UNKNOWN, the
    ** resolver aborts later) */
    durable_ctx *d = malloc(sizeof *d);
    if (d) {
      *d = (durable_ctx){cl, rec->txn, SYN_EIO, TPC_ABORT, 0};
      if (coord_retry_after(cl, 0, deliver_durable, d) < 0) free(d);
    }
    return;
  }
  dlog_record dr = {.txn = rec->txn, .outcome = (dlog_outcome)rec->outcome,
                    .commit_ts = rec->commit_ts, .nparts = rec->nparts, .parts = rec->parts};
  syn_err e;
  int prc = cl->rdl ? coord_rdl_propose(cl->rdl, &dr, on_dlog, cl, &e)
                    : dlog_propose(cl->dlog, &dr, on_dlog, cl, &e);
  if (prc < 0) {
    /* The core must hear about it, but not from inside this call. */
    durable_ctx *d = malloc(sizeof *d);
    if (d) {
      *d = (durable_ctx){cl, rec->txn, e.code < 0 ? e.code : SYN_EIO, TPC_ABORT, 0};
      if (coord_retry_after(cl, 0, deliver_durable, d) < 0) free(d);
    }
    char cid[24];
    cid_of(rec->txn, cid, sizeof cid);
    SYN_LOG_ERROR(cid, "decision log: %s", e.msg);
  }
}

static void io_mark_done(void *ud, uint64_t txn) {
  cl_cluster *cl = ud;
  syn_err e;
  int rc = cl->rdl ? coord_rdl_mark_done(cl->rdl, txn, &e) : dlog_mark_done(cl->dlog, txn, &e);
  if (rc < 0 && e.code != SYN_ENOTFOUND) {
    char cid[24];
    cid_of(txn, cid, sizeof cid);
    SYN_LOG_WARN(cid, "done marker: %s", e.msg);
  }
}

static void io_reply(void *ud, uint64_t txn, const tpc_result *res) {
  cl_cluster *cl = ud;
  coord_ltxn *lt = coord_ltxn_get(cl, txn);
  coord_op *op = lt ? lt->commit_op : NULL;
  /* Who never answered PREPARE, for the client's message. */
  char silent[256] = "";
  for (int i = 0; lt && i < lt->nwritten; i++) {
    uint32_t pi = lt->written[i];
    if ((lt->answered >> pi) & 1) continue;
    char d[160];
    coord_part_desc(&cl->parts[pi], d, sizeof d);
    size_t used = strlen(silent);
    snprintf(silent + used, sizeof silent - used, "%s%s", used ? ", " : "", d);
  }
  if (lt) coord_ltxn_end(cl, txn);
  if (!op) return;
  syn_err e;
  int rc = 0;
  char cid[24];
  cid_of(txn, cid, sizeof cid);
  switch (res->status) {
  case TPC_COMMITTED:
    coord_commit_res_of(op)->commit_ts = res->commit_ts;
    coord_hlc_observe(cl, res->commit_ts);
    break;
  case TPC_ABORTED: {
    /* Silent participants are the cause whether the prepare timer or a
    ** resolver (a prepared participant tired of waiting) ended it. */
    if ((res->reason == TPC_REASON_PREPARE_TIMEOUT || res->reason == TPC_REASON_RESOLVED) &&
        silent[0]) {
      rc = syn_err_set(&e, CL_EUNAVAILABLE, "08006: participant %s unavailable: no answer to "
                       "PREPARE; transaction rolled back", silent);
      break;
    }
    coord_part *p = coord_part_by_id(cl, res->participant);
    rc = syn_err_set(&e, CL_EABORTED, "40001: transaction aborted at commit (%s%s%s%s%s)",
                     tpc_reason_name(res->reason), p ? " by " : "", p ? p->name : "",
                     res->code ? ": " : "", res->code ? syn_strerror(res->code) : "");
    break;
  }
  case TPC_UNKNOWN:
  default:
    /* 40003 as CockroachDB reports an ambiguous result: the decision may
    ** yet be chosen or not. synod never re-sends the COMMIT itself; the
    ** group's log and the participants' resolvers settle it either way,
    ** the same on every shard. 40001 is kept for a known abort. */
    rc = syn_err_set(&e, CL_EUNKNOWN, "40003: statement completion unknown: transaction %s "
                     "may or may not have committed (%s)", cid, tpc_reason_name(res->reason));
    break;
  }
  SYN_LOG_DEBUG(cid, "commit: %s", rc == 0 ? "committed" : e.msg);
  coord_op_done(op, rc, rc ? &e : NULL);
}

static void io_trace(void *ud, uint64_t txn, tpc_state from, tpc_state to) {
  (void)ud;
  char cid[24];
  cid_of(txn, cid, sizeof cid);
  SYN_LOG_DEBUG(cid, "2pc %s -> %s", tpc_state_name(from), tpc_state_name(to));
}

/* ---- commit start ------------------------------------------------------------ */

void coord_commit_start(cl_cluster *cl, coord_ltxn *lt, coord_op *op) {
  tpc_participant parts[COORD_MAX_PARTS];
  size_t n = 0;
  for (int i = 0; i < lt->nwritten; i++)
    parts[n++] = (tpc_participant){.id = cl->parts[lt->written[i]].id, .wrote = true};
  lt->commit_op = op;
  syn_err e;
  uint64_t txn = lt->id;
  int rc = tpc_begin_commit(cl->tpc, txn, parts, n, coord_now_ms(cl), &e);
  if (rc < 0) {
    /* Nothing was sent: abort what was written and tell the client. */
    lt = coord_ltxn_get(cl, txn);
    if (lt) {
      uint32_t w[COORD_MAX_PARTS];
      int nw = lt->nwritten;
      memcpy(w, lt->written, sizeof(uint32_t) * (size_t)nw);
      coord_ltxn_end(cl, txn);
      coord_send_aborts(cl, txn, w, nw);
    }
    syn_err_wrap(&e, "40001: cannot commit");
    coord_op_done(op, rc == SYN_EBUSY ? CL_EABORTED : rc, &e);
  }
}

/* ---- resolve handler ---------------------------------------------------------- */

static void on_resolve(rpc_call *call, const uint8_t *payload, size_t len, void *ud) {
  cl_cluster *cl = ud;
  if (cl->closed || !cl->tpc) {
    rpc_reply_error(call, SYN_ECLOSED, "coordinator is shutting down");
    return;
  }
  Synod__Part__ResolveRequest *rq = synod__part__resolve_request__unpack(NULL, len, payload);
  if (!rq) {
    SYN_LOG_WARN(NULL, "resolve request from %s does not decode", rpc_call_peer(call));
    rpc_reply_error(call, SYN_EINVAL, "resolve request does not decode");
    return;
  }
  uint64_t txn = rq->txn;
  int pidx = coord_part_index_by_name(cl, rq->participant ? rq->participant : "");
  uint32_t pid = pidx >= 0 ? cl->parts[pidx].id : 0;
  synod__part__resolve_request__free_unpacked(rq, NULL);
  /* With the replicated decision log every coordinator knows every
  ** decision, and an ABORT proposed here meets the owner's COMMIT under
  ** first-decision-wins in the group's log. */
  if (!cl->rdl && SYN_TXN_COORD(txn) != cl->coord_index) {
    rpc_reply_error(call, SYN_EINVAL, "transaction was not begun by this coordinator");
    return;
  }
  dlog_record rec;
  bool done;
  int rc = cl->rdl ? coord_rdl_lookup(cl->rdl, txn, &rec, &done)
                   : dlog_lookup(cl->dlog, txn, &rec, &done);
  if (rc == 0 && !hold_find(cl, txn)) {
    coord_resolve r = {.call = call};
    resolve_answer(&r, rec.outcome == DLOG_COMMIT ? 1 : 2, rec.commit_ts);
    return;
  }
  coord_resolve *r = calloc(1, sizeof *r);
  if (!r) {
    rpc_reply_error(call, SYN_ENOMEM, "resolve");
    return;
  }
  *r = (coord_resolve){.next = cl->resolves, .txn = txn, .part_id = pid, .call = call,
                       .deadline_ms = coord_now_ms(cl) + COORD_RESOLVE_WAIT_MS};
  cl->resolves = r;
  /* A decision is being made durable, or it is held back by the
  ** failpoint: wait for it. */
  if (rc == SYN_EBUSY || rc == 0) return;
  /* A transaction still live on this coordinator and not yet committing
  ** is not in doubt; the participant asks again later. */
  coord_ltxn *lt = coord_ltxn_get(cl, txn);
  if (lt && !lt->commit_op) return;
  tpc_resolve(cl->tpc, txn, pid, coord_now_ms(cl));
}

/* ---- open / close -------------------------------------------------------------- */

static void on_flush(uv_check_t *h) {
  cl_cluster *cl = h->data;
  if (!cl->dlog || dlog_pending(cl->dlog) == 0) return;
  syn_err e;
  if (dlog_flush(cl->dlog, &e) < 0) SYN_LOG_ERROR(NULL, "decision log flush: %s", e.msg);
}

void coord_commit_tick(cl_cluster *cl) { resolves_expire(cl, false); }

static int recover_one(const dlog_record *rec, void *ud) {
  cl_cluster *cl = ud;
  tpc_record tr = {.txn = rec->txn, .outcome = (tpc_outcome)rec->outcome,
                   .commit_ts = rec->commit_ts, .nparts = rec->nparts, .parts = rec->parts};
  syn_err e;
  char cid[24];
  cid_of(rec->txn, cid, sizeof cid);
  if (tpc_recover(cl->tpc, &tr, coord_now_ms(cl), &e) < 0) {
    SYN_LOG_ERROR(cid, "recovery: %s", e.msg);
    return 0;
  }
  SYN_LOG_INFO(cid, "recovery: re-driving %s to %u participant(s)",
               rec->outcome == DLOG_COMMIT ? "COMMIT" : "ABORT", rec->nparts);
  coord_hlc_observe(cl, rec->commit_ts);
  return 0;
}

static void on_imported(int status, uint64_t txn, const dlog_record *chosen, void *ud) {
  (void)ud;
  (void)chosen;
  if (status < 0) return;
  char cid[24];
  cid_of(txn, cid, sizeof cid);
  SYN_LOG_INFO(cid, "decision from decisions.log is in the group's log");
}

static int import_one(const dlog_record *rec, void *ud) {
  cl_cluster *cl = ud;
  syn_err e;
  if (coord_rdl_propose(cl->rdl, rec, on_imported, cl, &e) < 0) {
    SYN_LOG_ERROR(NULL, "decisions.log: %s", e.msg);
    return e.code;
  }
  return 0;
}

/* A data dir from before the replicated log may hold undone decisions in
** decisions.log: they go into the group's log (first decision wins; the
** same record proposed again at a later start is a no-op by its id), where
** the leader re-drives them. The file is only read. */
static int import_local_log(cl_cluster *cl, syn_err *err) {
  char path[4200];
  snprintf(path, sizeof path, "%s/decisions.log", cl->dir);
  if (access(path, F_OK) != 0) return 0;
  dlog *old = NULL;
  int rc = dlog_open(path, NULL, &old, err);
  if (rc == 0) rc = dlog_foreach_undone(old, import_one, cl);
  dlog_close(old);
  if (rc < 0) return syn_err_set(err, rc, "importing %s", path);
  return 0;
}

/* The group's leader hands over undone decisions (coord_rdl.h); the ones
** this core is driving already are left alone. */
static void redrive_one(const dlog_record *rec, void *ud) {
  cl_cluster *cl = ud;
  if (cl->closed || !cl->tpc || tpc_state_of(cl->tpc, rec->txn) != TPC_S_NONE) return;
  recover_one(rec, cl);
}

int coord_commit_open(cl_cluster *cl, syn_err *err) {
  int rc = 0;
  if (!cl->rdl) {
    char path[4200];
    snprintf(path, sizeof path, "%s/decisions.log", cl->dir);
    dlog_opts dopts = {.compact_min_bytes = 1 << 20};
    rc = dlog_open(path, &dopts, &cl->dlog, err);
    if (rc < 0) return rc;
  }
  static const tpc_io io_tmpl = {
      .send_prepare = io_send_prepare,
      .send_one_phase = io_send_one_phase,
      .send_decision = io_send_decision,
      .persist = io_persist,
      .mark_done = io_mark_done,
      .reply = io_reply,
      .trace = io_trace,
  };
  tpc_io io = io_tmpl;
  io.ud = cl;
  tpc_config cfg;
  tpc_config_default(&cfg);
  cfg.one_phase_timeout_ms = cl->rpc_timeout_ms;
  /* A COMMIT whose decision the group cannot confirm (no majority) gets a
  ** definite 40003 after this instead of waiting until a majority is back. */
  cfg.decide_timeout_ms = cl->commit_wait_ms;
  rc = tpc_new(&cfg, &io, &cl->tpc, err);
  if (rc < 0) return rc;
  if (cl->rdl) {
    /* Recovery is the leader's: it re-drives undone decisions when it
    ** takes over and whatever stays undone long (coord_rdl.c). */
    coord_rdl_set_redrive(cl->rdl, redrive_one, cl);
    rc = import_local_log(cl, err);
    if (rc < 0) return rc;
  } else {
    rc = dlog_foreach_undone(cl->dlog, recover_one, cl);
    if (rc < 0) return syn_err_set(err, rc, "decision log recovery");
  }
  uv_check_init(cl->loop, &cl->flush);
  cl->flush.data = cl;
  cl->flush_open = true;
  uv_check_start(&cl->flush, on_flush);
  if (cl->rpc) rpc_server_register(cl->rpc, SYN_M_COORD_RESOLVE, on_resolve, cl);
  return 0;
}

void coord_commit_close(cl_cluster *cl) {
  resolves_expire(cl, true);
  if (cl->flush_open) {
    /* Flush what is queued first: a decision already proposed becomes
    ** durable and its client hears the real outcome. */
    on_flush(&cl->flush);
    uv_check_stop(&cl->flush);
    uv_close((uv_handle_t *)&cl->flush, NULL);
    cl->flush_open = false;
  }
  /* Commits still waiting for their outcome: the client hears UNKNOWN;
  ** the decision log (recovery) and the participants' resolvers settle
  ** them. */
  for (size_t i = 0; i < cl->live.cap; i++) {
    if (!cl->live.used[i]) continue;
    coord_ltxn *lt = cl->live.vals[i];
    if (lt->commit_op) {
      syn_err e;
      syn_err_set(&e, CL_EUNKNOWN, "40003: statement completion unknown: the coordinator shut "
                  "down during COMMIT; the transaction may or may not have committed");
      coord_op *op = lt->commit_op;
      lt->commit_op = NULL;
      coord_op_done(op, CL_EUNKNOWN, &e);
    }
  }
  /* The resolve handler stays registered (rpc.h has no unregister); it
  ** answers SYN_ECLOSED from now on. */
}

void coord_commit_free(cl_cluster *cl) {
  if (cl->rdl) {
    /* Waiting proposals hear SYN_ECLOSED while the core still exists. */
    coord_rdl_set_redrive(cl->rdl, NULL, NULL);
    coord_rdl_cancel(cl->rdl);
  }
  tpc_free(cl->tpc);
  cl->tpc = NULL;
  dlog_close(cl->dlog);
  cl->dlog = NULL;
}
