/*
** Tests of the 2PC coordinator core (txn/commit.c).
**
** Part 1: scripted scenarios that pin down each rule of the protocol.
** Part 2: a deterministic simulator (seeded PRNG, simulated clock, network,
** participants with durable state, a first-decision-wins log model) that
** injects drops, duplicates, delays/reorders, participant and coordinator
** crashes, and checks safety after every step and liveness at the end.
** A failing seed is printed; replay it with SIM_SEED=<n> (SIM_TRACE=1 to see
** every event).
*/
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "txn/commit.h"
#include "commit_sim.h"

/* ---- Part 1: scripted scenarios ------------------------------------------ */

enum { EV_PREPARE, EV_ONE_PHASE, EV_DECISION, EV_PERSIST, EV_DONE, EV_REPLY };

typedef struct ev {
  int kind;
  uint64_t txn;
  uint32_t p;
  tpc_outcome outcome;
  uint64_t ts;
  tpc_result res;
  uint32_t nparts;
  uint32_t parts[8];
} ev;

static ev evs[512];
static int nev;

static void push(ev e) {
  cr_assert_lt(nev, 512);
  evs[nev++] = e;
}
static void s_prepare(void *ud, uint64_t t, uint32_t p) { push((ev){.kind = EV_PREPARE, .txn = t, .p = p}); }
static void s_one(void *ud, uint64_t t, uint32_t p) { push((ev){.kind = EV_ONE_PHASE, .txn = t, .p = p}); }
static void s_decision(void *ud, uint64_t t, uint32_t p, tpc_outcome o, uint64_t ts) {
  push((ev){.kind = EV_DECISION, .txn = t, .p = p, .outcome = o, .ts = ts});
}
static void s_persist(void *ud, const tpc_record *r) {
  ev e = {.kind = EV_PERSIST, .txn = r->txn, .outcome = r->outcome, .ts = r->commit_ts,
          .nparts = r->nparts};
  for (uint32_t i = 0; i < r->nparts && i < 8; i++) e.parts[i] = r->parts[i];
  push(e);
}
static void s_done(void *ud, uint64_t t) { push((ev){.kind = EV_DONE, .txn = t}); }
static void s_reply(void *ud, uint64_t t, const tpc_result *r) {
  push((ev){.kind = EV_REPLY, .txn = t, .res = *r});
}

static tpc_state moves[64];
static int nmoves;
static void s_trace(void *ud, uint64_t t, tpc_state from, tpc_state to) {
  if (nmoves == 0) moves[nmoves++] = from;
  if (nmoves < 64) moves[nmoves++] = to;
}

static const tpc_io script_io = {.send_prepare = s_prepare, .send_one_phase = s_one,
                                 .send_decision = s_decision, .persist = s_persist,
                                 .mark_done = s_done, .reply = s_reply, .trace = s_trace};

static int count(int kind) {
  int n = 0;
  for (int i = 0; i < nev; i++) n += evs[i].kind == kind;
  return n;
}
static const ev *find(int kind) {
  for (int i = 0; i < nev; i++)
    if (evs[i].kind == kind) return &evs[i];
  return NULL;
}

static tpc *mk(void) {
  nev = 0;
  nmoves = 0;
  tpc_config cfg;
  tpc_config_default(&cfg);
  cfg.prepare_timeout_ms = 1000;
  cfg.one_phase_timeout_ms = 1000;
  cfg.retry_base_ms = 10;
  cfg.retry_max_ms = 80;
  cfg.abort_give_up_ms = 5000;
  cfg.max_txns = 4;
  tpc *c = NULL;
  syn_err e;
  cr_assert_eq(tpc_new(&cfg, &script_io, &c, &e), 0, "%s", e.msg);
  return c;
}

static void begin3(tpc *c, uint64_t txn) {
  tpc_participant ps[3] = {{1, true}, {2, true}, {3, true}};
  syn_err e;
  cr_assert_eq(tpc_begin_commit(c, txn, ps, 3, 0, &e), 0, "%s", e.msg);
}

Test(commit, read_only_commits_at_once) {
  tpc *c = mk();
  tpc_participant ps[2] = {{1, false}, {2, false}};
  cr_assert_eq(tpc_begin_commit(c, 5, ps, 2, 0, NULL), 0);
  cr_assert_eq(nev, 1);
  cr_assert_eq(evs[0].kind, EV_REPLY);
  cr_assert_eq(evs[0].res.status, TPC_COMMITTED);
  cr_assert_eq(tpc_active(c), 0);
  tpc_free(c);
}

Test(commit, one_writer_commits_in_one_phase) {
  tpc *c = mk();
  tpc_participant ps[2] = {{1, false}, {2, true}};
  cr_assert_eq(tpc_begin_commit(c, 5, ps, 2, 0, NULL), 0);
  cr_assert_eq(count(EV_ONE_PHASE), 1);
  cr_assert_eq(find(EV_ONE_PHASE)->p, 2);
  cr_assert_eq(count(EV_PREPARE), 0);
  tpc_tick(c, 10); /* retransmitted after retry_base_ms */
  cr_assert_eq(count(EV_ONE_PHASE), 2);
  cr_assert_eq(tpc_one_phase_result(c, 5, 1, true, 77, 0, 11), SYN_EINVAL); /* not the writer */
  cr_assert_eq(tpc_one_phase_result(c, 5, 2, true, 77, 0, 11), 0);
  const ev *r = find(EV_REPLY);
  cr_assert_not_null(r);
  cr_assert_eq(r->res.status, TPC_COMMITTED);
  cr_assert_eq(r->res.commit_ts, 77);
  cr_assert_eq(count(EV_PERSIST), 0, "one-phase commit wrote a decision record");
  cr_assert_eq(tpc_active(c), 0);
  /* A duplicate answer after that is stale. */
  cr_assert_eq(tpc_one_phase_result(c, 5, 2, true, 77, 0, 12), SYN_ENOTFOUND);
  tpc_free(c);
}

Test(commit, one_phase_refusal_and_silence) {
  tpc *c = mk();
  tpc_participant ps[1] = {{4, true}};
  cr_assert_eq(tpc_begin_commit(c, 1, ps, 1, 0, NULL), 0);
  cr_assert_eq(tpc_one_phase_result(c, 1, 4, false, 0, SYN_ECONFLICT, 1), 0);
  cr_assert_eq(find(EV_REPLY)->res.status, TPC_ABORTED);
  cr_assert_eq(find(EV_REPLY)->res.reason, TPC_REASON_PARTICIPANT);
  cr_assert_eq(find(EV_REPLY)->res.code, SYN_ECONFLICT);
  nev = 0;
  cr_assert_eq(tpc_begin_commit(c, 2, ps, 1, 0, NULL), 0);
  tpc_tick(c, 999);
  cr_assert_eq(count(EV_REPLY), 0);
  tpc_tick(c, 1000);
  cr_assert_eq(find(EV_REPLY)->res.status, TPC_UNKNOWN);
  cr_assert_eq(find(EV_REPLY)->res.reason, TPC_REASON_NO_ANSWER);
  cr_assert_eq(tpc_active(c), 0);
  tpc_free(c);
}

Test(commit, all_yes_commits_at_max_prepare_ts_after_durability) {
  tpc *c = mk();
  begin3(c, 9);
  cr_assert_eq(count(EV_PREPARE), 3);
  cr_assert_eq(tpc_vote(c, 9, 1, true, 5, 0, 1), 0);
  cr_assert_eq(tpc_vote(c, 9, 2, true, 9, 0, 1), 0);
  cr_assert_eq(tpc_vote(c, 9, 2, true, 9, 0, 1), 0); /* duplicate */
  cr_assert_eq(count(EV_PERSIST), 0);
  cr_assert_eq(tpc_vote(c, 9, 3, true, 7, 0, 2), 0);
  const ev *p = find(EV_PERSIST);
  cr_assert_not_null(p);
  cr_assert_eq(p->outcome, TPC_COMMIT);
  cr_assert_eq(p->ts, 9);
  cr_assert_eq(p->nparts, 3);
  cr_assert_eq(tpc_state_of(c, 9), TPC_S_DECIDING);
  /* Not durable yet: no reply, no COMMIT, whatever time passes. */
  tpc_tick(c, 5000);
  cr_assert_eq(count(EV_REPLY), 0);
  cr_assert_eq(count(EV_DECISION), 0);
  cr_assert_eq(tpc_decision_durable(c, 9, 0, TPC_COMMIT, 9, 5001), 0);
  const ev *r = find(EV_REPLY);
  cr_assert_eq(r->res.status, TPC_COMMITTED);
  cr_assert_eq(r->res.commit_ts, 9);
  cr_assert_eq(count(EV_DECISION), 3);
  for (int i = 0; i < nev; i++)
    if (evs[i].kind == EV_DECISION) cr_assert(evs[i].outcome == TPC_COMMIT && evs[i].ts == 9);
  cr_assert_eq(tpc_ack(c, 9, 1, 5002), 0);
  cr_assert_eq(tpc_ack(c, 9, 2, 5002), 0);
  cr_assert_eq(count(EV_DONE), 0);
  /* Unacked participant 3 gets COMMIT again with backoff. */
  int before = count(EV_DECISION);
  tpc_tick(c, 5011);
  cr_assert_eq(count(EV_DECISION), before + 1);
  tpc_tick(c, 5012);
  cr_assert_eq(count(EV_DECISION), before + 1);
  cr_assert_eq(tpc_ack(c, 9, 3, 5013), 0);
  cr_assert_eq(count(EV_DONE), 1);
  cr_assert_eq(tpc_active(c), 0);
  /* Every move went through the transition function, in this order. */
  tpc_state want[] = {TPC_S_NONE, TPC_S_PREPARING, TPC_S_DECIDING, TPC_S_COMMITTING, TPC_S_DONE};
  cr_assert_eq(nmoves, 5);
  for (int i = 0; i < 5; i++)
    cr_assert_eq(moves[i], want[i], "move %d: %s", i, tpc_state_name(moves[i]));
  tpc_free(c);
}

Test(commit, a_no_vote_aborts_without_a_record) {
  tpc *c = mk();
  begin3(c, 3);
  cr_assert_eq(tpc_vote(c, 3, 1, true, 5, 0, 1), 0);
  cr_assert_eq(tpc_vote(c, 3, 2, false, 0, SYN_ECONFLICT, 1), 0);
  const ev *r = find(EV_REPLY);
  cr_assert_eq(r->res.status, TPC_ABORTED);
  cr_assert_eq(r->res.reason, TPC_REASON_VOTE_NO);
  cr_assert_eq(r->res.participant, 2);
  cr_assert_eq(r->res.code, SYN_ECONFLICT);
  cr_assert_eq(count(EV_PERSIST), 0, "presumed abort logs nothing");
  cr_assert_eq(count(EV_DECISION), 2, "ABORT goes to everyone but the NO voter");
  for (int i = 0; i < nev; i++)
    if (evs[i].kind == EV_DECISION) cr_assert(evs[i].outcome == TPC_ABORT && evs[i].p != 2);
  cr_assert_eq(tpc_vote(c, 3, 3, true, 8, 0, 2), 0); /* late YES changes nothing */
  cr_assert_eq(count(EV_PERSIST), 0);
  cr_assert_eq(tpc_ack(c, 3, 1, 3), 0);
  cr_assert_eq(tpc_ack(c, 3, 3, 3), 0);
  cr_assert_eq(tpc_active(c), 0);
  cr_assert_eq(count(EV_DONE), 0);
  tpc_free(c);
}

Test(commit, prepare_timeout_aborts_and_retries_prepare) {
  tpc *c = mk();
  begin3(c, 4);
  cr_assert_eq(tpc_vote(c, 4, 1, true, 5, 0, 1), 0);
  cr_assert_eq(tpc_vote(c, 4, 2, true, 5, 0, 1), 0);
  /* Participant 3 is silent: PREPARE again at 10, 30, 70, 150, 230 ms... */
  int sends[8] = {0};
  uint64_t when[] = {10, 30, 70, 150, 230};
  for (uint64_t t = 1; t <= 230; t++) {
    int before = count(EV_PREPARE);
    tpc_tick(c, t);
    if (count(EV_PREPARE) > before)
      for (int k = 0; k < 5; k++)
        if (when[k] == t) sends[k] = 1;
  }
  for (int k = 0; k < 5; k++) cr_assert(sends[k], "no PREPARE retry at %llu", (unsigned long long)when[k]);
  cr_assert_eq(count(EV_PREPARE), 3 + 5);
  tpc_tick(c, 1000);
  cr_assert_eq(find(EV_REPLY)->res.reason, TPC_REASON_PREPARE_TIMEOUT);
  cr_assert_eq(count(EV_DECISION), 3);
  tpc_free(c);
}

Test(commit, resolver_abort_in_the_log_first_wins) {
  tpc *c = mk();
  begin3(c, 6);
  for (uint32_t p = 1; p <= 3; p++) tpc_vote(c, 6, p, true, p, 0, 1);
  cr_assert_eq(count(EV_PERSIST), 1);
  cr_assert_eq(tpc_decision_durable(c, 6, 0, TPC_ABORT, 0, 2), 0);
  cr_assert_eq(find(EV_REPLY)->res.status, TPC_ABORTED);
  cr_assert_eq(find(EV_REPLY)->res.reason, TPC_REASON_RESOLVED);
  cr_assert_eq(count(EV_DECISION), 3);
  for (int i = 0; i < nev; i++)
    if (evs[i].kind == EV_DECISION) cr_assert_eq(evs[i].outcome, TPC_ABORT);
  tpc_free(c);
}

Test(commit, log_failure_is_unknown_to_the_client) {
  tpc *c = mk();
  begin3(c, 6);
  for (uint32_t p = 1; p <= 3; p++) tpc_vote(c, 6, p, true, p, 0, 1);
  cr_assert_eq(tpc_decision_durable(c, 6, SYN_EIO, 0, 0, 2), 0);
  cr_assert_eq(find(EV_REPLY)->res.status, TPC_UNKNOWN);
  cr_assert_eq(find(EV_REPLY)->res.reason, TPC_REASON_LOG_FAILED);
  cr_assert_eq(count(EV_DECISION), 0);
  cr_assert_eq(tpc_active(c), 0);
  tpc_free(c);
}

/* No majority confirms the COMMIT record: after decide_timeout_ms the
** client hears UNKNOWN (never ABORTED: the record may be chosen), nothing
** is proposed again, and whatever the log answers later is carried out. */
Test(commit, decide_timeout_is_unknown_and_the_log_still_decides) {
  tpc *c = mk(); /* decide_timeout_ms: the default, 10 s */
  begin3(c, 7);
  for (uint32_t p = 1; p <= 3; p++) tpc_vote(c, 7, p, true, p, 0, 100);
  cr_assert_eq(count(EV_PERSIST), 1);
  tpc_tick(c, 10099);
  cr_assert_eq(count(EV_REPLY), 0);
  tpc_tick(c, 10100);
  cr_assert_eq(count(EV_REPLY), 1);
  cr_assert_eq(find(EV_REPLY)->res.status, TPC_UNKNOWN);
  cr_assert_eq(find(EV_REPLY)->res.reason, TPC_REASON_DECIDE_TIMEOUT);
  cr_assert_eq(tpc_state_of(c, 7), TPC_S_DECIDING);
  tpc_tick(c, 60000);
  cr_assert_eq(count(EV_REPLY), 1, "one reply per commit");
  cr_assert_eq(count(EV_PERSIST), 1, "the core never re-proposes on its own");
  cr_assert_eq(count(EV_DECISION), 0);
  /* The majority is back and the COMMIT was chosen: phase two, no reply. */
  cr_assert_eq(tpc_decision_durable(c, 7, 0, TPC_COMMIT, 3, 60001), 0);
  cr_assert_eq(count(EV_REPLY), 1);
  cr_assert_eq(count(EV_DECISION), 3);
  for (uint32_t p = 1; p <= 3; p++) tpc_ack(c, 7, p, 60002);
  cr_assert_eq(count(EV_DONE), 1);
  cr_assert_eq(tpc_active(c), 0);

  /* Same, but a resolver's ABORT was chosen first: ABORT goes out. */
  begin3(c, 8);
  for (uint32_t p = 1; p <= 3; p++) tpc_vote(c, 8, p, true, p, 0, 0);
  tpc_tick(c, 10000);
  cr_assert_eq(evs[nev - 1].kind, EV_REPLY);
  cr_assert_eq(evs[nev - 1].res.status, TPC_UNKNOWN);
  int replies = count(EV_REPLY);
  cr_assert_eq(tpc_decision_durable(c, 8, 0, TPC_ABORT, 0, 20000), 0);
  cr_assert_eq(count(EV_REPLY), replies);
  cr_assert_eq(evs[nev - 1].kind, EV_DECISION);
  cr_assert_eq(evs[nev - 1].outcome, TPC_ABORT);
  tpc_free(c);

  /* 0 disables the bound: the client waits for the log. */
  nev = 0;
  tpc_config cfg;
  tpc_config_default(&cfg);
  cfg.decide_timeout_ms = 0;
  syn_err e;
  cr_assert_eq(tpc_new(&cfg, &script_io, &c, &e), 0, "%s", e.msg);
  begin3(c, 9);
  for (uint32_t p = 1; p <= 3; p++) tpc_vote(c, 9, p, true, p, 0, 0);
  tpc_tick(c, 1000000);
  cr_assert_eq(count(EV_REPLY), 0);
  tpc_free(c);
}

Test(commit, resolve_unknown_txn_logs_abort_and_answers_every_asker) {
  tpc *c = mk();
  cr_assert_eq(tpc_resolve(c, 42, 2, 0), 0);
  const ev *p = find(EV_PERSIST);
  cr_assert_eq(p->outcome, TPC_ABORT);
  cr_assert_eq(p->nparts, 1);
  cr_assert_eq(p->parts[0], 2);
  cr_assert_eq(tpc_state_of(c, 42), TPC_S_RESOLVING);
  cr_assert_eq(tpc_resolve(c, 42, 3, 1), 0);
  cr_assert_eq(tpc_resolve(c, 42, 3, 1), 0);
  cr_assert_eq(count(EV_PERSIST), 1, "one proposal per transaction");
  cr_assert_eq(tpc_decision_durable(c, 42, 0, TPC_ABORT, 0, 2), 0);
  cr_assert_eq(count(EV_DECISION), 2);
  cr_assert_eq(count(EV_DONE), 1);
  cr_assert_eq(count(EV_REPLY), 0, "a resolver has no client");
  /* An earlier COMMIT in the log is the answer. */
  nev = 0;
  cr_assert_eq(tpc_resolve(c, 43, 1, 3), 0);
  cr_assert_eq(tpc_decision_durable(c, 43, 0, TPC_COMMIT, 70, 4), 0);
  cr_assert_eq(find(EV_DECISION)->outcome, TPC_COMMIT);
  cr_assert_eq(find(EV_DECISION)->ts, 70);
  cr_assert_eq(tpc_active(c), 0);
  tpc_free(c);
}

Test(commit, resolve_of_a_live_transaction) {
  tpc *c = mk();
  begin3(c, 7);
  tpc_vote(c, 7, 1, true, 3, 0, 1);
  /* Still preparing: this core is the only COMMIT proposer, so abort here. */
  cr_assert_eq(tpc_resolve(c, 7, 1, 2), 0);
  cr_assert_eq(count(EV_PERSIST), 0);
  cr_assert_eq(find(EV_REPLY)->res.reason, TPC_REASON_RESOLVED);
  cr_assert_eq(tpc_state_of(c, 7), TPC_S_ABORTING);
  nev = 0;
  begin3(c, 8);
  for (uint32_t p = 1; p <= 3; p++) tpc_vote(c, 8, p, true, 4, 0, 1);
  cr_assert_eq(tpc_resolve(c, 8, 2, 2), 0); /* deciding: wait for the log */
  cr_assert_eq(count(EV_DECISION), 0);
  tpc_decision_durable(c, 8, 0, TPC_COMMIT, 4, 3);
  int n = count(EV_DECISION);
  cr_assert_eq(tpc_resolve(c, 8, 2, 4), 0); /* committing: resend at once */
  cr_assert_eq(count(EV_DECISION), n + 1);
  cr_assert_eq(evs[nev - 1].outcome, TPC_COMMIT);
  cr_assert_eq(tpc_resolve(c, 8, 9, 4), SYN_EINVAL); /* not a participant */
  tpc_free(c);
}

Test(commit, recovery_redrives_logged_commits) {
  tpc *c = mk();
  uint32_t parts[3] = {4, 5, 6};
  tpc_record rec = {.txn = 11, .outcome = TPC_COMMIT, .commit_ts = 50, .nparts = 3, .parts = parts};
  cr_assert_eq(tpc_recover(c, &rec, 0, NULL), 0);
  cr_assert_eq(count(EV_DECISION), 3);
  tpc_record ab = {.txn = 12, .outcome = TPC_ABORT, .nparts = 1, .parts = parts};
  cr_assert_eq(tpc_recover(c, &ab, 0, NULL), 0);
  cr_assert_eq(count(EV_DONE), 1);
  cr_assert_eq(find(EV_DONE)->txn, 12);
  for (uint32_t i = 0; i < 3; i++) tpc_ack(c, 11, parts[i], 1);
  cr_assert_eq(count(EV_DONE), 2);
  cr_assert_eq(count(EV_REPLY), 0);
  cr_assert_eq(tpc_active(c), 0);
  tpc_record bad = {.txn = 13, .outcome = 9, .nparts = 1, .parts = parts};
  cr_assert_eq(tpc_recover(c, &bad, 0, NULL), SYN_EINVAL);
  tpc_free(c);
}

Test(commit, unacked_abort_is_given_up_later) {
  tpc *c = mk();
  begin3(c, 1);
  tpc_vote(c, 1, 1, false, 0, SYN_ECONFLICT, 0);
  tpc_tick(c, 4999);
  cr_assert_eq(tpc_active(c), 1);
  tpc_tick(c, 5000);
  cr_assert_eq(tpc_active(c), 0);
  tpc_free(c);
}

Test(commit, bad_input_is_refused_cleanly) {
  tpc *c = mk();
  syn_err e;
  tpc_participant dup[2] = {{1, true}, {1, true}};
  cr_assert_eq(tpc_begin_commit(c, 1, dup, 2, 0, &e), SYN_EINVAL);
  tpc_participant many[TPC_MAX_PARTICIPANTS + 1];
  for (uint32_t i = 0; i <= TPC_MAX_PARTICIPANTS; i++) many[i] = (tpc_participant){i + 1, true};
  cr_assert_eq(tpc_begin_commit(c, 1, many, TPC_MAX_PARTICIPANTS + 1, 0, &e), SYN_ERANGE);
  cr_assert_eq(tpc_begin_commit(c, 1, NULL, 2, 0, &e), SYN_EINVAL);
  cr_assert_eq(nev, 0);
  begin3(c, 1);
  tpc_participant ps[3] = {{1, true}, {2, true}, {3, true}};
  cr_assert_eq(tpc_begin_commit(c, 1, ps, 3, 0, &e), SYN_EEXIST);
  begin3(c, 2);
  begin3(c, 3);
  begin3(c, 4);
  cr_assert_eq(tpc_begin_commit(c, 5, ps, 3, 0, &e), SYN_EBUSY); /* max_txns = 4 */
  cr_assert_eq(tpc_vote(c, 99, 1, true, 1, 0, 0), SYN_ENOTFOUND);
  cr_assert_eq(tpc_vote(c, 1, 7, true, 1, 0, 0), SYN_EINVAL);
  cr_assert_eq(tpc_ack(c, 1, 1, 0), SYN_EINVAL); /* not in phase two */
  cr_assert_eq(tpc_ack(c, 99, 1, 0), SYN_ENOTFOUND);
  cr_assert_eq(tpc_decision_durable(c, 1, 0, TPC_COMMIT, 1, 0), SYN_EINVAL); /* not deciding */
  cr_assert_eq(tpc_decision_durable(c, 99, 0, TPC_COMMIT, 1, 0), SYN_ENOTFOUND);
  tpc_free(c);
  tpc_io partial = script_io;
  partial.persist = NULL;
  tpc_config cfg;
  tpc_config_default(&cfg);
  tpc *c2 = NULL;
  cr_assert_eq(tpc_new(&cfg, &partial, &c2, &e), SYN_EINVAL);
  cfg.retry_base_ms = 0;
  cr_assert_eq(tpc_new(&cfg, &script_io, &c2, &e), SYN_EINVAL);
}

/* ---- Part 2: the simulator over many seeds (commit_sim.c) ---------------- */

/* An assert() inside the core aborts the process: say which seed did it. */
static volatile uint64_t g_seed;
static void on_abort(int sig) {
  char buf[64] = "\nSIM: crashed in seed ";
  size_t n = strlen(buf);
  char d[24];
  int k = 0;
  uint64_t v = g_seed;
  do d[k++] = (char)('0' + v % 10); while ((v /= 10) && k < 24);
  while (k) buf[n++] = d[--k];
  buf[n++] = '\n';
  ssize_t w = write(2, buf, n);
  (void)w;
  signal(sig, SIG_DFL);
  raise(sig);
}


static void run_seeds(uint64_t first, uint64_t count, sim_totals *tot) {
  signal(SIGABRT, on_abort);
  const char *only = getenv("SIM_SEED");
  bool trace = getenv("SIM_TRACE") != NULL;
  if (only) {
    first = strtoull(only, NULL, 10);
    count = 1;
  }
  memset(tot, 0, sizeof *tot);
  for (uint64_t seed = first; seed < first + count; seed++) {
    g_seed = seed;
    char why[512];
    if (commit_sim_run(seed, trace, tot, why, sizeof why) != 0) {
      cr_assert_fail("seed %llu failed: %s\n  replay: SIM_SEED=%llu SIM_TRACE=1 "
                     "build/tests/test_commit --filter 'commit_sim/*'",
                     (unsigned long long)seed, why, (unsigned long long)seed);
      return;
    }
  }
  if (!only)
    fprintf(stderr,
            "sim seeds %llu..%llu: %llu steps, %llu 2PC commits, %llu 1PC commits, %llu aborts, "
            "%llu unknown, %llu coordinator crashes, %llu participant crashes, %llu resolves, "
            "%llu drops, %llu dups, %llu log failures, %llu external resolves, "
            "%llu COMMIT proposals beaten by a resolver's ABORT, %llu decide timeouts\n",
            (unsigned long long)first, (unsigned long long)(first + count - 1),
            (unsigned long long)tot->steps, (unsigned long long)tot->commits2,
            (unsigned long long)tot->commits1, (unsigned long long)tot->aborts,
            (unsigned long long)tot->unknown, (unsigned long long)tot->coord_crashes,
            (unsigned long long)tot->part_crashes, (unsigned long long)tot->resolves,
            (unsigned long long)tot->drops, (unsigned long long)tot->dups,
            (unsigned long long)tot->log_fails, (unsigned long long)tot->ext_resolves,
            (unsigned long long)tot->log_chose_abort, (unsigned long long)tot->decide_timeouts);
}

/* The simulation must have exercised what it claims to check. */
static void assert_coverage(const sim_totals *t) {
  if (getenv("SIM_SEED")) return;
  cr_assert_gt(t->commits2, 100);
  cr_assert_gt(t->decide_timeouts, 20);
  cr_assert_gt(t->commits1, 100);
  cr_assert_gt(t->aborts, 100);
  cr_assert_gt(t->coord_crashes, 20);
  cr_assert_gt(t->part_crashes, 20);
  cr_assert_gt(t->resolves, 20);
  cr_assert_gt(t->drops, 100);
  cr_assert_gt(t->dups, 100);
  cr_assert_gt(t->log_fails, 5);
  cr_assert_gt(t->ext_resolves, 20);
  cr_assert_gt(t->log_chose_abort, 0);
}

Test(commit_sim, seeds_0_to_2499, .timeout = 60) {
  sim_totals t;
  run_seeds(0, 2500, &t);
  assert_coverage(&t);
}

Test(commit_sim, seeds_2500_to_4999, .timeout = 60) {
  sim_totals t;
  run_seeds(2500, 2500, &t);
  assert_coverage(&t);
}
