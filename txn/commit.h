/*
** Two-phase commit, coordinator side: a pure state machine (prefix tpc_).
**
** One tpc core runs per coordinator. It never reads a clock, touches a
** socket or a file: every input is a function call carrying now_ms, and
** every output is a call through the tpc_io vtable (after canonical/raft's
** raft_io). The caller (the coordinator daemon, or the simulator in
** tests/unit/test_commit.c) performs the I/O and feeds completions back in.
**
** Re-entrancy rule: a tpc_io function must not call back into the core
** before it returns. Completions (tpc_decision_durable, votes, acks) are new
** inputs delivered later by the caller.
**
** Protocol (docs/protocol.md, "Two-phase commit"):
**   - no participant wrote: the client hears COMMITTED at once (commit_ts 0:
**     a read-only snapshot transaction has nothing to make durable).
**   - one participant wrote: one-phase commit. The participant commits at
**     its own HLC and answers; no decision record. Retried until answered;
**     after one_phase_timeout_ms the client hears UNKNOWN (SQLSTATE 40003).
**   - several wrote: PREPARE to each, YES votes carry prepare_ts. All YES:
**     persist DECIDE(txn, COMMIT, commit_ts = max(prepare_ts), participants)
**     and only once the decision log says it is durable does the client hear
**     COMMITTED (if the log has not answered within decide_timeout_ms the
**     client hears UNKNOWN instead, at once, and the core keeps waiting for
**     the log: it never re-proposes); then COMMIT goes to every participant, retried with
**     exponential backoff until each acks; then mark_done and forget.
**   - any NO vote or no full set of votes by prepare_timeout_ms: ABORT.
**     Presumed abort: no record. ABORT is sent to every participant that did
**     not vote NO, retried until acked or until abort_give_up_ms, after which
**     a participant still prepared learns the outcome from the resolver.
**   - the log's rule is first decision wins: if a resolver's ABORT got into
**     the log before our COMMIT, tpc_decision_durable reports ABORT and the
**     transaction aborts (the client hears ABORTED, reason RESOLVED).
**   - in-doubt resolution: tpc_resolve(txn, participant) answers with the
**     logged decision if one exists; otherwise it proposes ABORT to the log
**     first, and answers with whatever the log chose (send_decision).
**   - restart: feed every logged decision without a done marker to
**     tpc_recover; COMMITs are re-driven to all their participants.
**
** Every transaction moves through tpc_state; all moves go through one
** function that asserts the edge is allowed (see the table in commit.c).
*/
#ifndef SYN_TXN_COMMIT_H
#define SYN_TXN_COMMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define TPC_MAX_PARTICIPANTS 64

typedef struct tpc tpc;

typedef enum {
  TPC_COMMIT = 1,
  TPC_ABORT = 2,
} tpc_outcome;

typedef enum {
  TPC_S_NONE = 0,      /* not known to the core */
  TPC_S_PREPARING,     /* PREPAREs out, collecting votes */
  TPC_S_ONE_PHASE,     /* one-phase COMMIT out, waiting for the answer */
  TPC_S_DECIDING,      /* all YES, COMMIT record being made durable */
  TPC_S_COMMITTING,    /* COMMIT durable, sending COMMIT until all acked */
  TPC_S_ABORTING,      /* sending ABORT until acked (or given up) */
  TPC_S_RESOLVING,     /* a resolver's ABORT proposal is in the log's hands */
  TPC_S_DONE,          /* forgotten (the transaction leaves the core) */
  TPC_S__COUNT
} tpc_state;

/* What the client is told. */
typedef enum {
  TPC_COMMITTED = 1,
  TPC_ABORTED = 2,
  TPC_UNKNOWN = 3, /* outcome not known (one-phase answer lost, log failure, the
                   ** decision not confirmed within decide_timeout_ms) */
} tpc_status;

typedef enum {
  TPC_REASON_NONE = 0,
  TPC_REASON_VOTE_NO,          /* a participant voted NO (see result.code) */
  TPC_REASON_PREPARE_TIMEOUT,  /* not every vote arrived in time */
  TPC_REASON_RESOLVED,         /* a resolver's ABORT was logged first */
  TPC_REASON_PARTICIPANT,      /* the one-phase participant refused */
  TPC_REASON_NO_ANSWER,        /* one-phase commit never answered */
  TPC_REASON_LOG_FAILED,       /* the decision log could not persist */
  TPC_REASON_DECIDE_TIMEOUT,   /* the log did not confirm the decision in time */
} tpc_reason;

typedef struct tpc_result {
  tpc_status status;
  uint64_t commit_ts;   /* COMMITTED only */
  tpc_reason reason;    /* ABORTED / UNKNOWN */
  uint32_t participant; /* who voted NO / refused (reason VOTE_NO, PARTICIPANT) */
  int code;             /* the participant's SYN_E* code for its NO, or the log's */
} tpc_result;

typedef struct tpc_participant {
  uint32_t id;
  bool wrote; /* only writers take part; read-only shards need nothing */
} tpc_participant;

/* A decision record as the decision log stores it. parts is borrowed. */
typedef struct tpc_record {
  uint64_t txn;
  tpc_outcome outcome;
  uint64_t commit_ts; /* COMMIT only */
  uint32_t nparts;
  const uint32_t *parts;
} tpc_record;

typedef struct tpc_io {
  void *ud;
  void (*send_prepare)(void *ud, uint64_t txn, uint32_t participant);
  void (*send_one_phase)(void *ud, uint64_t txn, uint32_t participant);
  /* COMMIT or ABORT to a participant (phase two, and resolver answers). */
  void (*send_decision)(void *ud, uint64_t txn, uint32_t participant,
                        tpc_outcome outcome, uint64_t commit_ts);
  /* Make rec durable under first-decision-wins, then call
  ** tpc_decision_durable with the decision the log holds. rec is borrowed
  ** for the duration of the call. */
  void (*persist)(void *ud, const tpc_record *rec);
  /* Every participant acked: the record may be compacted away. Not a
  ** durability point: a lost done marker only means recovery re-sends a
  ** decision that participants acknowledge again. */
  void (*mark_done)(void *ud, uint64_t txn);
  /* Exactly once per tpc_begin_commit that returned 0, unless the
  ** coordinator crashes first. */
  void (*reply)(void *ud, uint64_t txn, const tpc_result *res);
  /* Optional (may be NULL): every state move, for DEBUG logs with the txn
  ** as correlation id and for simulator traces. */
  void (*trace)(void *ud, uint64_t txn, tpc_state from, tpc_state to);
} tpc_io;

typedef struct tpc_config {
  uint32_t prepare_timeout_ms;   /* votes must all arrive within this */
  uint32_t one_phase_timeout_ms; /* one-phase answer deadline (then UNKNOWN) */
  uint32_t retry_base_ms;        /* first retransmission delay */
  uint32_t retry_max_ms;         /* backoff cap */
  uint32_t abort_give_up_ms;     /* stop re-sending ABORT after this */
  /* DECIDING longer than this (the log cannot confirm the COMMIT record,
  ** e.g. no majority of coordinators): the client hears UNKNOWN and the
  ** transaction stays DECIDING until the log answers, which then drives
  ** phase two as usual. 0: the client waits for the log however long. */
  uint32_t decide_timeout_ms;
  uint32_t max_txns;             /* bound on transactions held at once */
} tpc_config;

/* Defaults: 2 s prepare, 5 s one-phase, retries 20 ms doubling to 1 s,
** give up on aborts after 30 s, decide within 10 s, 100000 transactions. */
void tpc_config_default(tpc_config *cfg);

int tpc_new(const tpc_config *cfg, const tpc_io *io, tpc **out, syn_err *err);
void tpc_free(tpc *c);

/* The client asked to commit txn. parts lists every participant the
** transaction touched with its write flag (ids must be distinct).
** SYN_EEXIST if the core already holds txn, SYN_EBUSY at max_txns,
** SYN_ERANGE above TPC_MAX_PARTICIPANTS writers, SYN_EINVAL for duplicates.
** On error nothing was sent and reply will not be called. */
int tpc_begin_commit(tpc *c, uint64_t txn, const tpc_participant *parts, size_t n,
                     uint64_t now_ms, syn_err *err);

/* A vote arrived. yes: prepare_ts is the participant's durable prepare
** timestamp; no: code is its SYN_E* reason. Stale or duplicate votes return
** SYN_ENOTFOUND / 0 and change nothing; a vote from a stranger SYN_EINVAL. */
int tpc_vote(tpc *c, uint64_t txn, uint32_t participant, bool yes, uint64_t prepare_ts,
             int code, uint64_t now_ms);

/* The one-phase participant answered: committed at commit_ts, or refused
** with code. */
int tpc_one_phase_result(tpc *c, uint64_t txn, uint32_t participant, bool committed,
                         uint64_t commit_ts, int code, uint64_t now_ms);

/* The log finished a persist for txn. status 0: outcome/commit_ts is the
** decision the log holds (first one wins, maybe not ours). status < 0: the
** log failed; the client hears UNKNOWN and the transaction is left to the
** resolver after restart. */
int tpc_decision_durable(tpc *c, uint64_t txn, int status, tpc_outcome outcome,
                         uint64_t commit_ts, uint64_t now_ms);

/* A participant acknowledged a COMMIT or ABORT. */
int tpc_ack(tpc *c, uint64_t txn, uint32_t participant, uint64_t now_ms);

/* A participant holding txn prepared asks for the outcome. The answer
** arrives as send_decision(txn, participant, ...). */
int tpc_resolve(tpc *c, uint64_t txn, uint32_t participant, uint64_t now_ms);

/* Time passed: timeouts and retransmissions. */
void tpc_tick(tpc *c, uint64_t now_ms);

/* Restart: one call per logged decision without a done marker, in log
** order, before other inputs. COMMITs are re-driven; an ABORT (written by a
** resolver) is marked done at once: presumed abort answers for it anyway. */
int tpc_recover(tpc *c, const tpc_record *rec, uint64_t now_ms, syn_err *err);

/* Introspection for tests and status views. */
size_t tpc_active(const tpc *c);
tpc_state tpc_state_of(const tpc *c, uint64_t txn);
const char *tpc_state_name(tpc_state s);
const char *tpc_reason_name(tpc_reason r);

#endif /* SYN_TXN_COMMIT_H */
