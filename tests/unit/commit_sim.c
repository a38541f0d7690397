/*
** The 2PC simulator (see commit_sim.h). Safety is checked after every step,
** liveness once faults stop and the system goes quiet.
*/
#include "commit_sim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "txn/commit.h"

/* ======================================================================== */
/* Part 2: deterministic simulator                                          */
/* ======================================================================== */

#define SIM_MAX_P 5
#define SIM_MAX_T 32
#define SIM_MAX_MSGS 4096
#define SIM_MAX_PEND 1024
#define SIM_TICK 5
#define SIM_COORD (-1)
#define SIM_RESOLVER (-2) /* another coordinator's resolver, sharing the log */
#define SIM_EXTERNAL (-1) /* spend.inc of the external resolver's proposals */

/* splitmix64: tiny, fast, and identical everywhere, so a seed replays. */
typedef struct sim_rng {
  uint64_t s;
} sim_rng;
static uint64_t rng_next(sim_rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static uint32_t rng_below(sim_rng *r, uint32_t n) { return (uint32_t)(rng_next(r) % n); }
static bool rng_pm(sim_rng *r, uint32_t permille) { return rng_below(r, 1000) < permille; }

enum { M_PREPARE, M_ONE_PHASE, M_DECISION, M_VOTE, M_ONE_RESULT, M_ACK, M_RESOLVE };
static const char *const msg_names[] = {"PREPARE", "ONE_PHASE", "DECISION", "VOTE",
                                        "ONE_RESULT", "ACK", "RESOLVE"};

typedef struct smsg {
  uint64_t at, seq;
  int to;        /* participant index, or SIM_COORD */
  int type;
  uint64_t txn;
  uint32_t from; /* participant id for messages to the coordinator */
  bool yes;
  uint64_t ts;
  tpc_outcome outcome;
} smsg;

enum { PS_NONE, PS_PREPARED, PS_COMMITTED, PS_ABORTED };

typedef struct pstate {
  int st;
  uint64_t prepare_ts, commit_ts;
  uint64_t next_resolve; /* volatile: reset on restart */
} pstate;

typedef struct spart {
  bool up;
  uint64_t restart_at;
  uint64_t hlc;
  pstate t[SIM_MAX_T + 1]; /* durable */
} spart;

typedef struct srec {
  bool has, done;
  tpc_outcome outcome;
  uint64_t ts;
  uint32_t nparts;
  uint32_t parts[TPC_MAX_PARTICIPANTS];
} srec;

typedef struct spend {
  uint64_t at;
  int kind; /* 0 DECIDE, 1 DONE */
  int inc;  /* coordinator incarnation that asked */
  bool fail;
  uint64_t txn;
  tpc_outcome outcome;
  uint64_t ts;
  uint32_t nparts;
  uint32_t parts[TPC_MAX_PARTICIPANTS];
  uint32_t asker; /* external resolver: who to answer */
} spend;

typedef struct stxn {
  uint64_t begin_at;
  bool begun, skipped;
  int nparts, nw;
  tpc_participant parts[SIM_MAX_P];
  int client; /* 0 no reply yet, else tpc_status */
  uint64_t client_ts;
} stxn;


typedef struct sim {
  sim_rng rng;
  uint64_t seed, now;
  bool trace, faults;
  uint32_t drop_pm, dup_pm, max_delay, crash_pm, log_fail_pm, no_pm;
  uint32_t in_doubt_ms;  /* prepared this long: ask the resolver */
  bool resolvers;       /* participants ask about in-doubt transactions */
  uint32_t external_pm; /* share of those questions that go to another coordinator */
  uint64_t fault_until;

  smsg msgs[SIM_MAX_MSGS];
  int nmsgs;
  uint64_t seq;

  tpc_config cfg;
  tpc *core;
  bool coord_up;
  uint64_t coord_restart_at;
  int inc;

  srec log[SIM_MAX_T + 1];
  uint64_t log_order[SIM_MAX_T + 1];
  int nlog;
  spend pend[SIM_MAX_PEND];
  int npend;
  uint64_t last_pend_at;

  int np;
  spart p[SIM_MAX_P];
  int nt;
  stxn t[SIM_MAX_T + 1];

  char fail[512];
  sim_totals tot;
} sim;

static void sim_fail(sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sim_fail(sim *s, const char *fmt, ...) {
  if (s->fail[0]) return; /* keep the first violation */
  int n = snprintf(s->fail, sizeof s->fail, "t=%llums: ", (unsigned long long)s->now);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->fail + n, sizeof s->fail - (size_t)n, fmt, ap);
  va_end(ap);
}

#define TRACE(s, ...)                                                   \
  do {                                                                  \
    if ((s)->trace) {                                                   \
      fprintf(stderr, "%6llu ", (unsigned long long)(s)->now);          \
      fprintf(stderr, __VA_ARGS__);                                     \
      fputc('\n', stderr);                                              \
    }                                                                   \
  } while (0)

/* ---- network --------------------------------------------------------------- */

static void net_send(sim *s, smsg m) {
  if (s->faults && rng_pm(&s->rng, s->drop_pm)) {
    s->tot.drops++;
    TRACE(s, "drop %s txn=%llu to=%d", msg_names[m.type], (unsigned long long)m.txn, m.to);
    return;
  }
  int copies = (s->faults && rng_pm(&s->rng, s->dup_pm)) ? 2 : 1;
  if (copies == 2) s->tot.dups++;
  for (int i = 0; i < copies; i++) {
    if (s->nmsgs == SIM_MAX_MSGS) {
      sim_fail(s, "network queue bound %d reached", SIM_MAX_MSGS);
      return;
    }
    m.at = s->now + 1 + rng_below(&s->rng, s->max_delay);
    m.seq = s->seq++;
    s->msgs[s->nmsgs++] = m;
  }
}

/* ---- coordinator io ----------------------------------------------------------- */

static int pidx(uint32_t id) { return (int)id - 1; }

static void io_prepare(void *ud, uint64_t txn, uint32_t p) {
  sim *s = ud;
  net_send(s, (smsg){.to = pidx(p), .type = M_PREPARE, .txn = txn});
}
static void io_one(void *ud, uint64_t txn, uint32_t p) {
  sim *s = ud;
  net_send(s, (smsg){.to = pidx(p), .type = M_ONE_PHASE, .txn = txn});
}
static void io_decision(void *ud, uint64_t txn, uint32_t p, tpc_outcome o, uint64_t ts) {
  sim *s = ud;
  net_send(s, (smsg){.to = pidx(p), .type = M_DECISION, .txn = txn, .outcome = o, .ts = ts});
}

static void pend_push(sim *s, spend pe) {
  if (s->npend == SIM_MAX_PEND) {
    sim_fail(s, "log queue bound reached");
    return;
  }
  /* The log completes in FIFO order, like one group-commit queue. */
  uint64_t at = s->now + 1 + rng_below(&s->rng, 15);
  if (at < s->last_pend_at) at = s->last_pend_at;
  s->last_pend_at = at;
  pe.at = at;
  if (pe.inc != SIM_EXTERNAL) pe.inc = s->inc;
  s->pend[s->npend++] = pe;
}

static void io_persist(void *ud, const tpc_record *r) {
  sim *s = ud;
  if (r->txn == 0 || r->txn > (uint64_t)s->nt) {
    sim_fail(s, "persist of unknown txn %llu", (unsigned long long)r->txn);
    return;
  }
  spend pe = {.kind = 0, .txn = r->txn, .outcome = r->outcome, .ts = r->commit_ts,
              .nparts = r->nparts, .fail = s->faults && rng_pm(&s->rng, s->log_fail_pm)};
  memcpy(pe.parts, r->parts, r->nparts * sizeof *r->parts);
  TRACE(s, "persist txn=%llu %s ts=%llu", (unsigned long long)r->txn,
        r->outcome == TPC_COMMIT ? "COMMIT" : "ABORT", (unsigned long long)r->commit_ts);
  pend_push(s, pe);
}

static void io_done(void *ud, uint64_t txn) {
  sim *s = ud;
  pend_push(s, (spend){.kind = 1, .txn = txn});
}

static void io_reply(void *ud, uint64_t txn, const tpc_result *r) {
  sim *s = ud;
  stxn *t = &s->t[txn];
  TRACE(s, "reply txn=%llu status=%d ts=%llu reason=%s", (unsigned long long)txn, (int)r->status,
        (unsigned long long)r->commit_ts, tpc_reason_name(r->reason));
  if (t->client) {
    sim_fail(s, "txn %llu: client answered twice", (unsigned long long)txn);
    return;
  }
  t->client = (int)r->status;
  t->client_ts = r->commit_ts;
  if (r->status == TPC_COMMITTED) {
    if (t->nw >= 2) {
      /* The client may hear COMMIT only once the decision is durable. */
      srec *l = &s->log[txn];
      if (!l->has || l->outcome != TPC_COMMIT || l->ts != r->commit_ts)
        sim_fail(s, "txn %llu: client heard COMMIT ts=%llu, log has %s", (unsigned long long)txn,
                 (unsigned long long)r->commit_ts,
                 !l->has ? "nothing" : l->outcome == TPC_COMMIT ? "another ts" : "ABORT");
      s->tot.commits2++;
    } else if (t->nw == 1) {
      s->tot.commits1++;
    }
  } else if (r->status == TPC_ABORTED) {
    s->tot.aborts++;
  } else {
    s->tot.unknown++;
    if (r->reason == TPC_REASON_DECIDE_TIMEOUT) s->tot.decide_timeouts++;
  }
}

static void io_trace(void *ud, uint64_t txn, tpc_state from, tpc_state to) {
  sim *s = ud;
  TRACE(s, "core txn=%llu %s -> %s", (unsigned long long)txn, tpc_state_name(from),
        tpc_state_name(to));
}

static const tpc_io sim_io = {.send_prepare = io_prepare, .send_one_phase = io_one,
                              .send_decision = io_decision, .persist = io_persist,
                              .mark_done = io_done, .reply = io_reply, .trace = io_trace};

/* ---- coordinator lifecycle ---------------------------------------------------- */

static void coord_start(sim *s) {
  s->inc++;
  syn_err e;
  tpc_io io = sim_io;
  io.ud = s;
  if (tpc_new(&s->cfg, &io, &s->core, &e) != 0) {
    sim_fail(s, "tpc_new: %s", e.msg);
    return;
  }
  s->coord_up = true;
  /* Recovery sees only what the log made durable. */
  for (int i = 0; i < s->nlog; i++) {
    srec *l = &s->log[s->log_order[i]];
    if (l->done) continue;
    tpc_record r = {.txn = s->log_order[i], .outcome = l->outcome, .commit_ts = l->ts,
                    .nparts = l->nparts, .parts = l->parts};
    if (tpc_recover(s->core, &r, s->now, &e) != 0) sim_fail(s, "tpc_recover: %s", e.msg);
  }
  TRACE(s, "coordinator up (incarnation %d)", s->inc);
}

static void log_store(sim *s, const spend *pe) {
  srec *l = &s->log[pe->txn];
  if (l->has) return; /* first decision wins */
  l->has = true;
  l->outcome = pe->outcome;
  l->ts = pe->ts;
  l->nparts = pe->nparts;
  memcpy(l->parts, pe->parts, pe->nparts * sizeof pe->parts[0]);
  s->log_order[s->nlog++] = pe->txn;
}

static void coord_crash(sim *s) {
  TRACE(s, "coordinator CRASH");
  s->tot.coord_crashes++;
  tpc_free(s->core);
  s->core = NULL;
  s->coord_up = false;
  /* Queued log writes: some reached the disk before the crash (durable,
  ** nobody told), the rest are lost. */
  int keep = 0;
  for (int i = 0; i < s->npend; i++) {
    spend *pe = &s->pend[i];
    if (pe->inc == SIM_EXTERNAL) {
      s->pend[keep++] = *pe; /* another coordinator's proposal: unaffected */
      continue;
    }
    if (!rng_pm(&s->rng, 500)) continue;
    if (pe->kind == 0 && !pe->fail) log_store(s, pe);
    if (pe->kind == 1 && s->log[pe->txn].has) s->log[pe->txn].done = true;
  }
  s->npend = keep;
  s->coord_restart_at = s->now + 20 + rng_below(&s->rng, 300);
}

static void log_step(sim *s) {
  spend pe = s->pend[0];
  memmove(&s->pend[0], &s->pend[1], (size_t)(s->npend - 1) * sizeof s->pend[0]);
  s->npend--;
  if (pe.kind == 1) {
    if (!s->log[pe.txn].has) sim_fail(s, "done marker for txn %llu without a decision",
                                      (unsigned long long)pe.txn);
    s->log[pe.txn].done = true;
    return;
  }
  if (pe.fail) s->tot.log_fails++;
  else log_store(s, &pe);
  if (pe.inc == SIM_EXTERNAL) {
    /* The other coordinator answers its asker with what the log holds. */
    srec *l = &s->log[pe.txn];
    if (!pe.fail)
      net_send(s, (smsg){.to = pidx(pe.asker), .type = M_DECISION, .txn = pe.txn,
                         .outcome = l->outcome, .ts = l->outcome == TPC_COMMIT ? l->ts : 0});
    return;
  }
  if (!s->coord_up || pe.inc != s->inc) return;
  srec *l = &s->log[pe.txn];
  if (!pe.fail && pe.outcome == TPC_COMMIT && l->outcome == TPC_ABORT) s->tot.log_chose_abort++;
  int rc = pe.fail ? tpc_decision_durable(s->core, pe.txn, SYN_EIO, 0, 0, s->now)
                   : tpc_decision_durable(s->core, pe.txn, 0, l->outcome, l->ts, s->now);
  if (rc != 0) sim_fail(s, "decision_durable(txn %llu) = %d", (unsigned long long)pe.txn, rc);
}

/* ---- participants ----------------------------------------------------------------- */

static void part_reply(sim *s, int i, smsg m) {
  m.to = SIM_COORD;
  m.from = (uint32_t)i + 1;
  net_send(s, m);
}

static void part_deliver(sim *s, const smsg *m) {
  int i = m->to;
  spart *p = &s->p[i];
  pstate *ps = &p->t[m->txn];
  switch (m->type) {
  case M_PREPARE:
    if (ps->st == PS_NONE) {
      if (rng_pm(&s->rng, s->no_pm)) {
        ps->st = PS_ABORTED;
      } else {
        /* Prepared intents are durable before the YES leaves. */
        p->hlc += 1 + rng_below(&s->rng, 5);
        ps->st = PS_PREPARED;
        ps->prepare_ts = p->hlc;
        ps->next_resolve = s->now + s->in_doubt_ms;
      }
    }
    if (ps->st == PS_PREPARED)
      part_reply(s, i, (smsg){.type = M_VOTE, .txn = m->txn, .yes = true, .ts = ps->prepare_ts});
    else if (ps->st == PS_ABORTED)
      part_reply(s, i, (smsg){.type = M_VOTE, .txn = m->txn, .yes = false});
    break;
  case M_ONE_PHASE:
    if (ps->st == PS_PREPARED) {
      sim_fail(s, "txn %llu: one-phase commit at a participant holding it prepared",
               (unsigned long long)m->txn);
      return;
    }
    if (ps->st == PS_NONE) {
      if (rng_pm(&s->rng, s->no_pm)) {
        ps->st = PS_ABORTED;
      } else {
        p->hlc += 1 + rng_below(&s->rng, 5);
        ps->st = PS_COMMITTED;
        ps->commit_ts = p->hlc;
      }
    }
    part_reply(s, i, (smsg){.type = M_ONE_RESULT, .txn = m->txn, .yes = ps->st == PS_COMMITTED,
                            .ts = ps->commit_ts});
    break;
  case M_DECISION:
    if (m->outcome == TPC_COMMIT) {
      if (ps->st == PS_PREPARED) {
        if (m->ts < ps->prepare_ts)
          sim_fail(s, "txn %llu: commit_ts %llu below prepare_ts %llu at p%d",
                   (unsigned long long)m->txn, (unsigned long long)m->ts,
                   (unsigned long long)ps->prepare_ts, i + 1);
        ps->st = PS_COMMITTED;
        ps->commit_ts = m->ts;
      } else if (ps->st == PS_COMMITTED) {
        if (ps->commit_ts != m->ts)
          sim_fail(s, "txn %llu: COMMIT with a second ts at p%d", (unsigned long long)m->txn, i + 1);
      } else {
        sim_fail(s, "txn %llu: COMMIT reached p%d which %s", (unsigned long long)m->txn, i + 1,
                 ps->st == PS_ABORTED ? "aborted it" : "never prepared it");
        return;
      }
    } else {
      if (ps->st == PS_COMMITTED) {
        sim_fail(s, "txn %llu: ABORT reached p%d which committed it", (unsigned long long)m->txn,
                 i + 1);
        return;
      }
      ps->st = PS_ABORTED;
    }
    part_reply(s, i, (smsg){.type = M_ACK, .txn = m->txn});
    break;
  default:
    sim_fail(s, "participant got message type %d", m->type);
  }
}

static void coord_deliver(sim *s, const smsg *m) {
  int rc = 0;
  switch (m->type) {
  case M_VOTE:
    rc = tpc_vote(s->core, m->txn, m->from, m->yes, m->ts, m->yes ? 0 : SYN_ECONFLICT, s->now);
    break;
  case M_ONE_RESULT:
    rc = tpc_one_phase_result(s->core, m->txn, m->from, m->yes, m->ts, SYN_ECONFLICT, s->now);
    break;
  case M_ACK:
    rc = tpc_ack(s->core, m->txn, m->from, s->now);
    break;
  case M_RESOLVE:
    s->tot.resolves++;
    rc = tpc_resolve(s->core, m->txn, m->from, s->now);
    break;
  default:
    sim_fail(s, "coordinator got message type %d", m->type);
  }
  /* Stale and duplicate messages are normal; anything else is a bug. */
  if (rc != 0 && rc != SYN_ENOTFOUND && rc != SYN_EINVAL)
    sim_fail(s, "coordinator input %s txn=%llu returned %d", msg_names[m->type],
             (unsigned long long)m->txn, rc);
}

static void net_step(sim *s, int k) {
  smsg m = s->msgs[k];
  s->msgs[k] = s->msgs[--s->nmsgs];
  bool up = m.to == SIM_RESOLVER ? true : m.to == SIM_COORD ? s->coord_up : s->p[m.to].up;
  TRACE(s, "%s %s txn=%llu to=%d from=%u yes=%d ts=%llu out=%d", up ? "deliver" : "lost(down)",
        msg_names[m.type], (unsigned long long)m.txn, m.to, m.from, m.yes,
        (unsigned long long)m.ts, (int)m.outcome);
  if (!up) return;
  if (m.to == SIM_RESOLVER) {
    /* First decision wins: propose ABORT; the log answers. */
    s->tot.ext_resolves++;
    pend_push(s, (spend){.kind = 0, .inc = SIM_EXTERNAL, .txn = m.txn, .outcome = TPC_ABORT,
                         .asker = m.from});
    return;
  }
  if (m.to == SIM_COORD) coord_deliver(s, &m);
  else part_deliver(s, &m);
}

/* ---- checks --------------------------------------------------------------------------- */

static void check_safety(sim *s) {
  for (int x = 1; x <= s->nt; x++) {
    stxn *t = &s->t[x];
    bool committed = false, aborted = false;
    uint64_t ts = 0;
    for (int i = 0; i < s->np; i++) {
      pstate *ps = &s->p[i].t[x];
      bool writer = false;
      for (int j = 0; j < t->nparts; j++)
        if (t->parts[j].id == (uint32_t)i + 1 && t->parts[j].wrote) writer = true;
      if (!writer && ps->st != PS_NONE) {
        sim_fail(s, "txn %d: p%d is not a writer but holds state %d", x, i + 1, ps->st);
        return;
      }
      if (ps->st == PS_COMMITTED) {
        if (committed && ps->commit_ts != ts) {
          sim_fail(s, "txn %d: participants committed at different timestamps", x);
          return;
        }
        committed = true;
        ts = ps->commit_ts;
      }
      if (ps->st == PS_ABORTED) aborted = true;
    }
    if (committed && aborted) {
      sim_fail(s, "txn %d: committed at one participant, aborted at another", x);
      return;
    }
    srec *l = &s->log[x];
    if (l->has && l->outcome == TPC_COMMIT && aborted) {
      sim_fail(s, "txn %d: logged COMMIT but a participant aborted", x);
      return;
    }
    if (l->has && l->outcome == TPC_ABORT && committed && t->nw >= 2) {
      sim_fail(s, "txn %d: logged ABORT but a participant committed", x);
      return;
    }
    if (t->client == TPC_ABORTED && committed) {
      sim_fail(s, "txn %d: client heard ABORTED but a participant committed", x);
      return;
    }
    if (t->client == TPC_COMMITTED && aborted) {
      sim_fail(s, "txn %d: client heard COMMITTED but a participant aborted", x);
      return;
    }
  }
}

/* Must txn x leave the prepared state once faults stop? Always with
** resolvers; without them, presumed abort leaves a participant that missed
** its ABORT prepared forever, so only logged commits must finish (recovery
** re-drives them), unless the seed was calm and every ABORT arrived. */
static bool must_finish(const sim *s, int x) {
  if (s->resolvers || s->crash_pm + s->drop_pm + s->log_fail_pm == 0) return true;
  return s->log[x].has && s->log[x].outcome == TPC_COMMIT;
}

static bool quiescent(sim *s) {
  if (s->nmsgs || s->npend || !s->coord_up || tpc_active(s->core)) return false;
  for (int i = 0; i < s->np; i++) {
    if (!s->p[i].up) return false;
    for (int x = 1; x <= s->nt; x++)
      if (s->p[i].t[x].st == PS_PREPARED && must_finish(s, x)) return false;
  }
  return true;
}

static void check_liveness(sim *s) {
  for (int x = 1; x <= s->nt; x++) {
    stxn *t = &s->t[x];
    srec *l = &s->log[x];
    for (int j = 0; j < t->nparts; j++) {
      if (!t->parts[j].wrote) continue;
      int i = pidx(t->parts[j].id);
      pstate *ps = &s->p[i].t[x];
      if (ps->st == PS_PREPARED && must_finish(s, x)) {
        sim_fail(s, "txn %d still prepared at p%d after faults stopped", x, i + 1);
        return;
      }
      if (t->client == TPC_COMMITTED && ps->st != PS_COMMITTED) {
        sim_fail(s, "txn %d: acknowledged commit never applied at p%d", x, i + 1);
        return;
      }
      if (l->has && l->outcome == TPC_COMMIT && ps->st != PS_COMMITTED) {
        sim_fail(s, "txn %d: logged commit never applied at p%d", x, i + 1);
        return;
      }
    }
  }
  if (s->coord_up && tpc_active(s->core))
    sim_fail(s, "coordinator still holds %zu transactions", tpc_active(s->core));
}

/* ---- time ------------------------------------------------------------------------------ */

static void tick(sim *s) {
  if (s->faults && s->now >= s->fault_until) {
    s->faults = false;
    TRACE(s, "faults stop");
    if (!s->coord_up) s->coord_restart_at = s->now;
    for (int i = 0; i < s->np; i++)
      if (!s->p[i].up) s->p[i].restart_at = s->now;
  }
  if (s->faults) {
    if (s->coord_up && rng_pm(&s->rng, s->crash_pm)) coord_crash(s);
    for (int i = 0; i < s->np; i++) {
      if (s->p[i].up && rng_pm(&s->rng, s->crash_pm)) {
        TRACE(s, "p%d CRASH", i + 1);
        s->tot.part_crashes++;
        s->p[i].up = false;
        s->p[i].restart_at = s->now + 10 + rng_below(&s->rng, 300);
      }
    }
  }
  if (!s->coord_up && s->now >= s->coord_restart_at) coord_start(s);
  for (int i = 0; i < s->np; i++) {
    spart *p = &s->p[i];
    if (!p->up && s->now >= p->restart_at) {
      p->up = true;
      TRACE(s, "p%d up", i + 1);
      for (int x = 1; x <= s->nt; x++) p->t[x].next_resolve = s->now + s->in_doubt_ms;
    }
  }
  if (s->coord_up) tpc_tick(s->core, s->now);
  /* In-doubt participants ask the resolver, again and again. */
  for (int i = 0; i < s->np; i++) {
    spart *p = &s->p[i];
    if (!p->up || !s->resolvers) continue;
    for (int x = 1; x <= s->nt; x++) {
      pstate *ps = &p->t[x];
      if (ps->st != PS_PREPARED || s->now < ps->next_resolve) continue;
      ps->next_resolve = s->now + 50 + rng_below(&s->rng, 50);
      smsg q = {.type = M_RESOLVE, .txn = (uint64_t)x, .from = (uint32_t)i + 1};
      if (rng_pm(&s->rng, s->external_pm)) {
        q.to = SIM_RESOLVER;
        net_send(s, q);
      } else {
        part_reply(s, i, q);
      }
    }
  }
  /* Clients ask to commit. */
  for (int x = 1; x <= s->nt; x++) {
    stxn *t = &s->t[x];
    if (t->begun || t->skipped || s->now < t->begin_at) continue;
    if (!s->coord_up) {
      t->skipped = true; /* the client could not reach its coordinator */
      continue;
    }
    syn_err e;
    int rc = tpc_begin_commit(s->core, (uint64_t)x, t->parts, (size_t)t->nparts, s->now, &e);
    if (rc != 0) sim_fail(s, "begin_commit(%d): %s", x, e.msg);
    t->begun = true;
    TRACE(s, "begin txn=%d writers=%d", x, t->nw);
  }
}

static void sim_init(sim *s, uint64_t seed, bool trace) {
  memset(s, 0, sizeof *s);
  s->seed = seed;
  s->rng.s = seed * 0x2545F4914F6CDD1DULL + 1;
  s->trace = trace;
  s->faults = true;
  /* Each seed draws its own weather, from calm to stormy. */
  s->drop_pm = rng_below(&s->rng, 250);
  s->dup_pm = rng_below(&s->rng, 150);
  s->max_delay = 2 + rng_below(&s->rng, 40);
  s->crash_pm = rng_below(&s->rng, 8);
  s->log_fail_pm = rng_below(&s->rng, 3) == 0 ? 50 : 0;
  s->no_pm = rng_below(&s->rng, 150);
  s->resolvers = true;
  s->in_doubt_ms = 20 + rng_below(&s->rng, 150);
  s->external_pm = rng_below(&s->rng, 2) ? 300 : 0;
  uint32_t kind = rng_below(&s->rng, 10);
  if (kind == 0) {
    /* Calm and without resolvers: phase two alone must finish everything. */
    s->drop_pm = s->dup_pm = s->crash_pm = s->log_fail_pm = 0;
    s->resolvers = false;
  } else if (kind <= 2) {
    /* Stormy without resolvers: recovery alone must finish the commits. */
    s->resolvers = false;
  }
  s->fault_until = 1500;
  tpc_config_default(&s->cfg);
  s->cfg.prepare_timeout_ms = 60 + rng_below(&s->rng, 150);
  s->cfg.one_phase_timeout_ms = 100 + rng_below(&s->rng, 200);
  s->cfg.retry_base_ms = 5;
  s->cfg.retry_max_ms = 80;
  s->cfg.abort_give_up_ms = 30 + rng_below(&s->rng, 1000);
  /* A quarter of the seeds bound the wait for the log below its latency
  ** (1-15 ms): clients hear UNKNOWN while the decision is still in flight,
  ** and the log's later answer must still finish phase two safely. */
  if (rng_below(&s->rng, 4) == 0) s->cfg.decide_timeout_ms = 1 + rng_below(&s->rng, 12);
  s->np = 2 + (int)rng_below(&s->rng, SIM_MAX_P - 1);
  s->nt = 8 + (int)rng_below(&s->rng, SIM_MAX_T - 7);
  for (int i = 0; i < s->np; i++) s->p[i].up = true;
  for (int x = 1; x <= s->nt; x++) {
    stxn *t = &s->t[x];
    t->begin_at = rng_below(&s->rng, 1200);
    for (int i = 0; i < s->np; i++) {
      uint32_t r = rng_below(&s->rng, 10);
      if (r < 4) continue; /* untouched */
      t->parts[t->nparts++] = (tpc_participant){(uint32_t)i + 1, r >= 6};
      t->nw += r >= 6;
    }
  }
  coord_start(s);
}

/* Run one seed; returns NULL or the first violation. */
static const char *sim_run(sim *s) {
  uint64_t next_tick = 0;
  uint64_t end = s->fault_until + 60000;
  while (!s->fail[0]) {
    int k = -1;
    for (int i = 0; i < s->nmsgs; i++)
      if (k < 0 || s->msgs[i].at < s->msgs[k].at ||
          (s->msgs[i].at == s->msgs[k].at && s->msgs[i].seq < s->msgs[k].seq))
        k = i;
    uint64_t t_msg = k >= 0 ? s->msgs[k].at : UINT64_MAX;
    uint64_t t_log = s->npend ? s->pend[0].at : UINT64_MAX;
    if (t_log <= t_msg && t_log <= next_tick) {
      s->now = t_log;
      log_step(s);
    } else if (t_msg <= next_tick) {
      s->now = t_msg;
      net_step(s, k);
    } else {
      s->now = next_tick;
      tick(s);
      next_tick += SIM_TICK;
    }
    s->tot.steps++;
    check_safety(s);
    if (s->now > s->fault_until && quiescent(s)) break;
    if (s->now > end) break;
  }
  if (!s->fail[0]) check_liveness(s);
  if (s->core) tpc_free(s->core);
  s->core = NULL;
  return s->fail[0] ? s->fail : NULL;
}

static sim g_sim; /* large: keep it off the stack */

int commit_sim_run(uint64_t seed, bool trace, sim_totals *tot, char *why, size_t cap) {
  sim_init(&g_sim, seed, trace);
  const char *fail = sim_run(&g_sim);
  sim_totals *t = &g_sim.tot;
  tot->commits2 += t->commits2;
  tot->commits1 += t->commits1;
  tot->aborts += t->aborts;
  tot->unknown += t->unknown;
  tot->coord_crashes += t->coord_crashes;
  tot->part_crashes += t->part_crashes;
  tot->resolves += t->resolves;
  tot->drops += t->drops;
  tot->dups += t->dups;
  tot->log_fails += t->log_fails;
  tot->steps += t->steps;
  tot->ext_resolves += t->ext_resolves;
  tot->log_chose_abort += t->log_chose_abort;
  tot->decide_timeouts += t->decide_timeouts;
  if (!fail) return 0;
  snprintf(why, cap, "%s", fail);
  return -1;
}
