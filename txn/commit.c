/*
** Two-phase commit coordinator core. See commit.h for the contract and
** docs/protocol.md ("Two-phase commit") for the recovery argument.
**
** States of one transaction and the only allowed moves (checked by
** tpc_move, after dqlite's sm.h):
**
**   NONE ──begin, 1 writer──────────► ONE_PHASE ──answer/timeout──► DONE
**   NONE ──begin, 0 writers────────────────────────────────────────► DONE
**   NONE ──begin, ≥2 writers─► PREPARING ──all YES──► DECIDING
**                                  │ NO / timeout        │ log: COMMIT ──► COMMITTING ──all acked──► DONE
**                                  ▼                     │ log: ABORT (a resolver won)
**                               ABORTING ◄───────────────┘
**                                  │ all acked / give up ─────────────────────────────────────► DONE
**   DECIDING ──log failed──► DONE  (client hears UNKNOWN; participants ask the resolver later)
**   DECIDING ──decide_timeout_ms──► DECIDING (client hears UNKNOWN; the log's answer still decides)
**   NONE ──recover(COMMIT)──► COMMITTING
**   NONE ──resolve (unknown txn)──► RESOLVING ──log answered──► DONE
**
** Safety rests on three facts, each asserted where it is established:
**  (1) COMMIT is sent to a participant only in COMMITTING, which is entered
**      only from a durable log decision (tpc_decision_durable with status 0
**      and outcome COMMIT, or tpc_recover of a logged COMMIT);
**  (2) the client hears COMMITTED for a 2PC transaction only on that same
**      edge into COMMITTING;
**  (3) ABORT is sent only when no COMMIT can ever be logged for the txn:
**      either this core never proposed one (PREPARING -> ABORTING; this core
**      is the only proposer of COMMIT for its transactions and it no longer
**      holds the votes), or the log already chose ABORT.
*/
#include "txn/commit.h"
#include "txn/u64map.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { VOTE_NONE = 0, VOTE_YES = 1, VOTE_NO = 2 };

typedef struct tpc_peer {
  uint32_t id;
  uint8_t vote;        /* VOTE_* */
  bool need_ack;       /* phase two must reach this participant */
  bool acked;
  uint64_t prepare_ts;
  uint64_t next_send;  /* when to (re)transmit next */
  uint32_t backoff_ms; /* current retransmission interval */
} tpc_peer;

typedef struct tpc_txn {
  uint64_t id;
  tpc_state st;
  bool has_client;      /* begun in this incarnation: reply still owed */
  uint64_t deadline;    /* PREPARING/ONE_PHASE/DECIDING: timeout; ABORTING: give up */
  tpc_outcome outcome;  /* COMMITTING/ABORTING */
  uint64_t commit_ts;
  uint32_t n;   /* peers in use */
  uint32_t cap; /* peers allocated: the writers, or TPC_MAX_PARTICIPANTS askers */
  struct tpc_txn *prev, *next; /* insertion order, for deterministic ticks */
  tpc_peer p[];
} tpc_txn;

struct tpc {
  tpc_config cfg;
  tpc_io io;
  u64map by_id;
  tpc_txn *head, *tail;
};

/* Allowed edges: bit `to` set in edges[from]. */
#define E(s) (1u << (s))
static const unsigned tpc_edges[TPC_S__COUNT] = {
    [TPC_S_NONE] = E(TPC_S_PREPARING) | E(TPC_S_ONE_PHASE) | E(TPC_S_COMMITTING) |
                   E(TPC_S_RESOLVING) | E(TPC_S_DONE),
    [TPC_S_PREPARING] = E(TPC_S_DECIDING) | E(TPC_S_ABORTING),
    [TPC_S_ONE_PHASE] = E(TPC_S_DONE),
    [TPC_S_DECIDING] = E(TPC_S_COMMITTING) | E(TPC_S_ABORTING) | E(TPC_S_DONE),
    [TPC_S_COMMITTING] = E(TPC_S_DONE),
    [TPC_S_ABORTING] = E(TPC_S_DONE),
    [TPC_S_RESOLVING] = E(TPC_S_DONE),
    [TPC_S_DONE] = 0,
};
#undef E

static const char *const tpc_state_names[TPC_S__COUNT] = {
    "NONE", "PREPARING", "ONE_PHASE", "DECIDING", "COMMITTING", "ABORTING", "RESOLVING", "DONE"};

const char *tpc_state_name(tpc_state s) {
  return (unsigned)s < TPC_S__COUNT ? tpc_state_names[s] : "?";
}

const char *tpc_reason_name(tpc_reason r) {
  switch (r) {
  case TPC_REASON_NONE: return "none";
  case TPC_REASON_VOTE_NO: return "a participant voted no";
  case TPC_REASON_PREPARE_TIMEOUT: return "prepare timed out";
  case TPC_REASON_RESOLVED: return "aborted by in-doubt resolution";
  case TPC_REASON_PARTICIPANT: return "participant refused the commit";
  case TPC_REASON_NO_ANSWER: return "participant did not answer the commit";
  case TPC_REASON_LOG_FAILED: return "decision log failed";
  case TPC_REASON_DECIDE_TIMEOUT: return "decision not confirmed by the log in time";
  }
  return "?";
}

/* Per-state invariants, checked after every move. */
static void tpc_txn_check(const tpc_txn *t) {
#ifndef NDEBUG
  switch (t->st) {
  case TPC_S_PREPARING:
    assert(t->n >= 2);
    for (uint32_t i = 0; i < t->n; i++) assert(t->p[i].vote != VOTE_NO);
    break;
  case TPC_S_ONE_PHASE:
    assert(t->n == 1);
    break;
  case TPC_S_DECIDING:
    for (uint32_t i = 0; i < t->n; i++) {
      assert(t->p[i].vote == VOTE_YES);
      assert(t->p[i].prepare_ts <= t->commit_ts);
    }
    break;
  case TPC_S_COMMITTING:
    /* (1): commit_ts is at or above every prepare_ts we saw, so no
    ** participant commits below a snapshot it already served. */
    assert(t->outcome == TPC_COMMIT);
    for (uint32_t i = 0; i < t->n; i++) {
      assert(t->p[i].vote != VOTE_NO);
      assert(t->p[i].prepare_ts <= t->commit_ts);
      assert(t->p[i].need_ack);
    }
    break;
  case TPC_S_ABORTING:
    assert(t->outcome == TPC_ABORT);
    for (uint32_t i = 0; i < t->n; i++) assert(!t->p[i].need_ack || t->p[i].vote != VOTE_NO);
    break;
  default:
    break;
  }
#else
  (void)t;
#endif
}

/* The one place a transaction changes state. The edge check stays on in
** release builds: an illegal move is a bug that could break atomicity, and
** stopping is safer than committing on a confused state. */
static void tpc_move(tpc *c, tpc_txn *t, tpc_state to) {
  if ((unsigned)to >= TPC_S__COUNT || !(tpc_edges[t->st] & (1u << to))) {
    fprintf(stderr, "tpc: illegal transition %s -> %s for txn %llu\n", tpc_state_name(t->st),
            tpc_state_name(to), (unsigned long long)t->id);
    abort();
  }
  tpc_state from = t->st;
  t->st = to;
  tpc_txn_check(t);
  if (c->io.trace) c->io.trace(c->io.ud, t->id, from, to);
}

void tpc_config_default(tpc_config *cfg) {
  cfg->prepare_timeout_ms = 2000;
  cfg->one_phase_timeout_ms = 5000;
  cfg->retry_base_ms = 20;
  cfg->retry_max_ms = 1000;
  cfg->abort_give_up_ms = 30000;
  cfg->decide_timeout_ms = 10000;
  cfg->max_txns = 100000;
}

int tpc_new(const tpc_config *cfg, const tpc_io *io, tpc **out, syn_err *err) {
  if (!cfg || !io || !out) return syn_err_set(err, SYN_EINVAL, "tpc_new: NULL argument");
  if (!io->send_prepare || !io->send_one_phase || !io->send_decision || !io->persist ||
      !io->mark_done || !io->reply)
    return syn_err_set(err, SYN_EINVAL, "tpc_new: every tpc_io function is required");
  if (cfg->retry_base_ms == 0 || cfg->retry_max_ms < cfg->retry_base_ms || cfg->max_txns == 0 ||
      cfg->prepare_timeout_ms == 0 || cfg->one_phase_timeout_ms == 0)
    return syn_err_set(err, SYN_EINVAL,
                       "tpc_new: timeouts and retry_base_ms must be > 0, retry_max_ms >= "
                       "retry_base_ms, max_txns > 0");
  tpc *c = calloc(1, sizeof *c);
  if (!c) return syn_err_set(err, SYN_ENOMEM, "tpc_new: out of memory");
  c->cfg = *cfg;
  c->io = *io;
  *out = c;
  return 0;
}

void tpc_free(tpc *c) {
  if (!c) return;
  tpc_txn *t = c->head;
  while (t) {
    tpc_txn *next = t->next;
    free(t);
    t = next;
  }
  u64map_free(&c->by_id);
  free(c);
}

size_t tpc_active(const tpc *c) { return u64map_len(&c->by_id); }

tpc_state tpc_state_of(const tpc *c, uint64_t txn) {
  const tpc_txn *t = u64map_get(&c->by_id, txn);
  return t ? t->st : TPC_S_NONE;
}

static tpc_txn *tpc_txn_new(tpc *c, uint64_t id, uint32_t cap, int *rc) {
  if (u64map_get(&c->by_id, id)) {
    *rc = SYN_EEXIST;
    return NULL;
  }
  if (u64map_len(&c->by_id) >= c->cfg.max_txns) {
    *rc = SYN_EBUSY;
    return NULL;
  }
  tpc_txn *t = calloc(1, sizeof *t + cap * sizeof t->p[0]);
  if (!t || u64map_put(&c->by_id, id, t) != 0) {
    free(t);
    *rc = SYN_ENOMEM;
    return NULL;
  }
  t->id = id;
  t->st = TPC_S_NONE;
  t->cap = cap;
  t->prev = c->tail;
  if (c->tail) c->tail->next = t;
  else c->head = t;
  c->tail = t;
  *rc = 0;
  return t;
}

/* Move to DONE and free. */
static void tpc_forget(tpc *c, tpc_txn *t) {
  tpc_move(c, t, TPC_S_DONE);
  u64map_del(&c->by_id, t->id);
  if (t->prev) t->prev->next = t->next;
  else c->head = t->next;
  if (t->next) t->next->prev = t->prev;
  else c->tail = t->prev;
  free(t);
}

static tpc_peer *tpc_peer_find(tpc_txn *t, uint32_t id) {
  for (uint32_t i = 0; i < t->n; i++)
    if (t->p[i].id == id) return &t->p[i];
  return NULL;
}

static void tpc_reply(tpc *c, tpc_txn *t, tpc_status st, uint64_t ts, tpc_reason why,
                      uint32_t who, int code) {
  if (!t->has_client) return;
  t->has_client = false;
  tpc_result r = {.status = st, .commit_ts = ts, .reason = why, .participant = who, .code = code};
  c->io.reply(c->io.ud, t->id, &r);
}

static void tpc_arm(tpc *c, tpc_peer *p, uint64_t now) {
  p->backoff_ms = c->cfg.retry_base_ms;
  p->next_send = now + p->backoff_ms;
}

/* Exponential backoff: the interval doubles up to retry_max_ms, so a dead
** participant costs a message per retry_max_ms, not a storm. */
static void tpc_backoff(tpc *c, tpc_peer *p, uint64_t now) {
  uint64_t b = (uint64_t)p->backoff_ms * 2;
  p->backoff_ms = b > c->cfg.retry_max_ms ? c->cfg.retry_max_ms : (uint32_t)b;
  p->next_send = now + p->backoff_ms;
}

static void tpc_send_phase2(tpc *c, tpc_txn *t, tpc_peer *p) {
  c->io.send_decision(c->io.ud, t->id, p->id, t->outcome,
                      t->outcome == TPC_COMMIT ? t->commit_ts : 0);
}

/* Enter ABORTING: every participant that did not vote NO may hold a
** prepared record and must hear ABORT (a NO voter aborted on its own). */
static void tpc_start_abort(tpc *c, tpc_txn *t, uint64_t now) {
  t->outcome = TPC_ABORT;
  t->commit_ts = 0;
  for (uint32_t i = 0; i < t->n; i++) {
    tpc_peer *p = &t->p[i];
    p->need_ack = p->vote != VOTE_NO;
    p->acked = false;
  }
  tpc_move(c, t, TPC_S_ABORTING);
  t->deadline = now + c->cfg.abort_give_up_ms;
  bool any = false;
  for (uint32_t i = 0; i < t->n; i++) {
    tpc_peer *p = &t->p[i];
    if (!p->need_ack) continue;
    any = true;
    tpc_send_phase2(c, t, p);
    tpc_arm(c, p, now);
  }
  if (!any) tpc_forget(c, t);
}

static void tpc_start_commit(tpc *c, tpc_txn *t, uint64_t now) {
  t->outcome = TPC_COMMIT;
  for (uint32_t i = 0; i < t->n; i++) {
    t->p[i].need_ack = true;
    t->p[i].acked = false;
  }
  tpc_move(c, t, TPC_S_COMMITTING);
  for (uint32_t i = 0; i < t->n; i++) {
    tpc_send_phase2(c, t, &t->p[i]);
    tpc_arm(c, &t->p[i], now);
  }
}

int tpc_begin_commit(tpc *c, uint64_t txn, const tpc_participant *parts, size_t n,
                     uint64_t now_ms, syn_err *err) {
  if (n > 0 && !parts) return syn_err_set(err, SYN_EINVAL, "txn %llu: NULL participant list",
                                          (unsigned long long)txn);
  uint32_t writers[TPC_MAX_PARTICIPANTS];
  uint32_t nw = 0;
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < i; j++)
      if (parts[j].id == parts[i].id)
        return syn_err_set(err, SYN_EINVAL, "txn %llu: participant %u listed twice",
                           (unsigned long long)txn, parts[i].id);
    if (!parts[i].wrote) continue;
    if (nw == TPC_MAX_PARTICIPANTS)
      return syn_err_set(err, SYN_ERANGE, "txn %llu: more than %d written participants",
                         (unsigned long long)txn, TPC_MAX_PARTICIPANTS);
    writers[nw++] = parts[i].id;
  }
  int rc;
  tpc_txn *t = tpc_txn_new(c, txn, nw, &rc);
  if (!t) {
    if (rc == SYN_EEXIST)
      return syn_err_set(err, rc, "txn %llu: commit already in progress", (unsigned long long)txn);
    if (rc == SYN_EBUSY)
      return syn_err_set(err, rc, "txn %llu: %u commits in flight, the limit", (unsigned long long)txn,
                         c->cfg.max_txns);
    return syn_err_set(err, rc, "txn %llu: out of memory", (unsigned long long)txn);
  }
  t->has_client = true;
  t->n = nw;
  for (uint32_t i = 0; i < nw; i++) t->p[i].id = writers[i];

  if (nw == 0) {
    /* Read-only: snapshot reads need nothing at commit. */
    tpc_reply(c, t, TPC_COMMITTED, 0, TPC_REASON_NONE, 0, 0);
    tpc_forget(c, t);
    return 0;
  }
  if (nw == 1) {
    tpc_move(c, t, TPC_S_ONE_PHASE);
    t->deadline = now_ms + c->cfg.one_phase_timeout_ms;
    c->io.send_one_phase(c->io.ud, t->id, t->p[0].id);
    tpc_arm(c, &t->p[0], now_ms);
    return 0;
  }
  tpc_move(c, t, TPC_S_PREPARING);
  t->deadline = now_ms + c->cfg.prepare_timeout_ms;
  for (uint32_t i = 0; i < nw; i++) {
    c->io.send_prepare(c->io.ud, t->id, t->p[i].id);
    tpc_arm(c, &t->p[i], now_ms);
  }
  return 0;
}

int tpc_vote(tpc *c, uint64_t txn, uint32_t participant, bool yes, uint64_t prepare_ts,
             int code, uint64_t now_ms) {
  tpc_txn *t = u64map_get(&c->by_id, txn);
  if (!t) return SYN_ENOTFOUND; /* decided and forgotten, or never ours */
  if (t->st == TPC_S_RESOLVING || t->st == TPC_S_ONE_PHASE) return SYN_EINVAL;
  tpc_peer *p = tpc_peer_find(t, participant);
  if (!p) return SYN_EINVAL;
  if (t->st != TPC_S_PREPARING) return 0; /* late or duplicate: already decided */
  if (p->vote != VOTE_NONE) return 0;     /* duplicate: the first vote counts */
  if (!yes) {
    p->vote = VOTE_NO;
    tpc_reply(c, t, TPC_ABORTED, 0, TPC_REASON_VOTE_NO, participant, code);
    tpc_start_abort(c, t, now_ms);
    return 0;
  }
  p->vote = VOTE_YES;
  p->prepare_ts = prepare_ts;
  uint64_t max_ts = 0;
  for (uint32_t i = 0; i < t->n; i++) {
    if (t->p[i].vote != VOTE_YES) return 0;
    if (t->p[i].prepare_ts > max_ts) max_ts = t->p[i].prepare_ts;
  }
  /* All YES. commit_ts = max(prepare_ts) (Clock-SI): every participant
  ** already promised nothing it served reads past its prepare_ts. */
  t->commit_ts = max_ts;
  tpc_move(c, t, TPC_S_DECIDING);
  t->deadline = now_ms + c->cfg.decide_timeout_ms;
  uint32_t ids[TPC_MAX_PARTICIPANTS];
  for (uint32_t i = 0; i < t->n; i++) ids[i] = t->p[i].id;
  tpc_record rec = {.txn = t->id, .outcome = TPC_COMMIT, .commit_ts = max_ts, .nparts = t->n,
                    .parts = ids};
  c->io.persist(c->io.ud, &rec);
  return 0;
}

int tpc_one_phase_result(tpc *c, uint64_t txn, uint32_t participant, bool committed,
                         uint64_t commit_ts, int code, uint64_t now_ms) {
  (void)now_ms;
  tpc_txn *t = u64map_get(&c->by_id, txn);
  if (!t) return SYN_ENOTFOUND;
  if (t->st != TPC_S_ONE_PHASE || t->p[0].id != participant) return SYN_EINVAL;
  if (committed)
    tpc_reply(c, t, TPC_COMMITTED, commit_ts, TPC_REASON_NONE, 0, 0);
  else if (code == SYN_ENOTFOUND)
    /* The participant has no record of the txn (store_commit_one_phase):
    ** it was decided there and forgotten, so neither answer is known. */
    tpc_reply(c, t, TPC_UNKNOWN, 0, TPC_REASON_PARTICIPANT, participant, code);
  else
    tpc_reply(c, t, TPC_ABORTED, 0, TPC_REASON_PARTICIPANT, participant, code);
  tpc_forget(c, t);
  return 0;
}

static void tpc_resolved(tpc *c, tpc_txn *t, int status, tpc_outcome outcome, uint64_t ts) {
  /* Answer every asker with what the log holds. On a log failure nobody is
  ** answered: the askers ask again and the next attempt may succeed. */
  if (status == 0) {
    for (uint32_t i = 0; i < t->n; i++)
      c->io.send_decision(c->io.ud, t->id, t->p[i].id, outcome, outcome == TPC_COMMIT ? ts : 0);
    /* No proposer of COMMIT for this txn is alive in this core (it was
    ** not held when the resolve arrived), so the record has done its job. */
    c->io.mark_done(c->io.ud, t->id);
  }
  tpc_forget(c, t);
}

int tpc_decision_durable(tpc *c, uint64_t txn, int status, tpc_outcome outcome,
                         uint64_t commit_ts, uint64_t now_ms) {
  tpc_txn *t = u64map_get(&c->by_id, txn);
  if (!t) return SYN_ENOTFOUND;
  if (status == 0 && outcome != TPC_COMMIT && outcome != TPC_ABORT) return SYN_EINVAL;
  if (t->st == TPC_S_RESOLVING) {
    tpc_resolved(c, t, status, outcome, commit_ts);
    return 0;
  }
  if (t->st != TPC_S_DECIDING) return SYN_EINVAL;
  if (status != 0) {
    /* We cannot tell whether the record reached the disk. Saying ABORTED
    ** could contradict a COMMIT found at restart, saying COMMITTED could
    ** be a lie: UNKNOWN is the only honest answer. */
    tpc_reply(c, t, TPC_UNKNOWN, 0, TPC_REASON_LOG_FAILED, 0, status);
    tpc_forget(c, t);
    return 0;
  }
  if (outcome == TPC_ABORT) {
    /* A resolver's ABORT reached the log first: it stands. */
    tpc_reply(c, t, TPC_ABORTED, 0, TPC_REASON_RESOLVED, 0, 0);
    tpc_start_abort(c, t, now_ms);
    return 0;
  }
  /* The log can only hold a COMMIT for txn that this core proposed, with
  ** the commit_ts it proposed. */
  assert(commit_ts == t->commit_ts);
  t->commit_ts = commit_ts;
  tpc_start_commit(c, t, now_ms);
  /* (2): the client hears COMMITTED only now that the decision is durable. */
  tpc_reply(c, t, TPC_COMMITTED, t->commit_ts, TPC_REASON_NONE, 0, 0);
  return 0;
}

int tpc_ack(tpc *c, uint64_t txn, uint32_t participant, uint64_t now_ms) {
  (void)now_ms;
  tpc_txn *t = u64map_get(&c->by_id, txn);
  if (!t) return SYN_ENOTFOUND;
  if (t->st != TPC_S_COMMITTING && t->st != TPC_S_ABORTING) return SYN_EINVAL;
  tpc_peer *p = tpc_peer_find(t, participant);
  if (!p) return SYN_EINVAL;
  p->acked = true;
  for (uint32_t i = 0; i < t->n; i++)
    if (t->p[i].need_ack && !t->p[i].acked) return 0;
  /* Presumed abort: aborts were never logged, so only commits need a done
  ** marker. */
  if (t->outcome == TPC_COMMIT) c->io.mark_done(c->io.ud, t->id);
  tpc_forget(c, t);
  return 0;
}

int tpc_resolve(tpc *c, uint64_t txn, uint32_t participant, uint64_t now_ms) {
  tpc_txn *t = u64map_get(&c->by_id, txn);
  if (t) {
    switch (t->st) {
    case TPC_S_PREPARING: {
      /* The participant gave up waiting while we still collect votes. This
      ** core is the only proposer of COMMIT for txn, so deciding ABORT here
      ** needs no record (presumed abort) and answers the asker at once. */
      tpc_peer *p = tpc_peer_find(t, participant);
      if (!p) return SYN_EINVAL;
      tpc_reply(c, t, TPC_ABORTED, 0, TPC_REASON_RESOLVED, participant, 0);
      tpc_start_abort(c, t, now_ms);
      return 0;
    }
    case TPC_S_DECIDING:
      return 0; /* the log is about to answer; phase two will reach the asker */
    case TPC_S_COMMITTING:
    case TPC_S_ABORTING: {
      tpc_peer *p = tpc_peer_find(t, participant);
      if (!p) return SYN_EINVAL;
      if (p->need_ack) {
        tpc_send_phase2(c, t, p);
        tpc_arm(c, p, now_ms);
      } else {
        /* It voted NO yet asks: answer anyway, ABORT is the truth. */
        c->io.send_decision(c->io.ud, t->id, participant, TPC_ABORT, 0);
      }
      return 0;
    }
    case TPC_S_RESOLVING:
      for (uint32_t i = 0; i < t->n; i++)
        if (t->p[i].id == participant) return 0;
      if (t->n == t->cap) return SYN_EBUSY;
      t->p[t->n++].id = participant;
      return 0;
    case TPC_S_ONE_PHASE:
    default:
      return SYN_EINVAL; /* a one-phase participant is never in doubt */
    }
  }
  int rc;
  t = tpc_txn_new(c, txn, TPC_MAX_PARTICIPANTS, &rc);
  if (!t) return rc;
  t->n = 1;
  t->p[0].id = participant;
  tpc_move(c, t, TPC_S_RESOLVING);
  /* First decision wins: if a COMMIT is logged the log answers with it;
  ** otherwise our ABORT becomes the decision and no COMMIT can follow. */
  tpc_record rec = {.txn = txn, .outcome = TPC_ABORT, .commit_ts = 0, .nparts = 1,
                    .parts = &participant};
  c->io.persist(c->io.ud, &rec);
  return 0;
}

int tpc_recover(tpc *c, const tpc_record *rec, uint64_t now_ms, syn_err *err) {
  if (!rec || (rec->nparts > 0 && !rec->parts))
    return syn_err_set(err, SYN_EINVAL, "tpc_recover: NULL record");
  if (rec->outcome == TPC_ABORT) {
    /* A resolver's ABORT: presumed abort answers every later question the
    ** same way, so the record is no longer needed. */
    c->io.mark_done(c->io.ud, rec->txn);
    return 0;
  }
  if (rec->outcome != TPC_COMMIT)
    return syn_err_set(err, SYN_EINVAL, "txn %llu: bad outcome %d in log",
                       (unsigned long long)rec->txn, (int)rec->outcome);
  if (rec->nparts == 0 || rec->nparts > TPC_MAX_PARTICIPANTS)
    return syn_err_set(err, SYN_ERANGE, "txn %llu: %u participants in logged COMMIT",
                       (unsigned long long)rec->txn, rec->nparts);
  int rc;
  tpc_txn *t = tpc_txn_new(c, rec->txn, rec->nparts, &rc);
  if (!t) return syn_err_set(err, rc, "txn %llu: cannot recover (%s)",
                             (unsigned long long)rec->txn, syn_strerror(rc));
  t->n = rec->nparts;
  t->commit_ts = rec->commit_ts;
  for (uint32_t i = 0; i < rec->nparts; i++) {
    t->p[i].id = rec->parts[i];
    t->p[i].vote = VOTE_YES; /* a COMMIT was logged only after all YES */
  }
  tpc_start_commit(c, t, now_ms);
  return 0;
}

void tpc_tick(tpc *c, uint64_t now) {
  tpc_txn *t = c->head;
  while (t) {
    tpc_txn *next = t->next; /* t may be freed below */
    switch (t->st) {
    case TPC_S_PREPARING:
      if (now >= t->deadline) {
        tpc_reply(c, t, TPC_ABORTED, 0, TPC_REASON_PREPARE_TIMEOUT, 0, 0);
        tpc_start_abort(c, t, now);
        break;
      }
      /* PREPARE is idempotent at participants: re-send to the silent. */
      for (uint32_t i = 0; i < t->n; i++) {
        tpc_peer *p = &t->p[i];
        if (p->vote == VOTE_NONE && now >= p->next_send) {
          c->io.send_prepare(c->io.ud, t->id, p->id);
          tpc_backoff(c, p, now);
        }
      }
      break;
    case TPC_S_ONE_PHASE:
      if (now >= t->deadline) {
        tpc_reply(c, t, TPC_UNKNOWN, 0, TPC_REASON_NO_ANSWER, t->p[0].id, 0);
        tpc_forget(c, t);
        break;
      }
      if (now >= t->p[0].next_send) {
        c->io.send_one_phase(c->io.ud, t->id, t->p[0].id);
        tpc_backoff(c, &t->p[0], now);
      }
      break;
    case TPC_S_DECIDING:
      if (c->cfg.decide_timeout_ms && t->has_client && now >= t->deadline) {
        /* The record may or may not become the decision (a majority may
        ** hold it already, or a resolver's ABORT may win): neither
        ** COMMITTED nor ABORTED is known, so the client hears UNKNOWN.
        ** The transaction stays here; the log's answer still drives phase
        ** two (reply is owed no more), and nothing is proposed again. */
        tpc_reply(c, t, TPC_UNKNOWN, 0, TPC_REASON_DECIDE_TIMEOUT, 0, 0);
      }
      break;
    case TPC_S_ABORTING:
      if (now >= t->deadline) {
        /* Presumed abort: a participant still prepared will ask the
        ** resolver, which answers ABORT for any txn without a COMMIT. */
        tpc_forget(c, t);
        break;
      }
      /* fall through */
    case TPC_S_COMMITTING:
      for (uint32_t i = 0; i < t->n; i++) {
        tpc_peer *p = &t->p[i];
        if (p->need_ack && !p->acked && now >= p->next_send) {
          tpc_send_phase2(c, t, p);
          tpc_backoff(c, p, now);
        }
      }
      break;
    default:
      break;
    }
    t = next;
  }
}
