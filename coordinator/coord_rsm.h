/*
** Internal to the coordinator: the replicated decision table (prefix
** coord_rsm_), the state machine the coordinators' Multi-Paxos log drives.
**
** Pure: no clock, socket, file or thread; the same sequence of applied
** values gives the same table on every coordinator.
**
** Commands (the values of the log, coord_rsm_encode_*):
**   DECIDE(txn, outcome, commit_ts, participants)  first decision wins: a
**       DECIDE for a txn that already has a decision changes nothing, and
**       the decision in force is reported back (as dlog_propose's callback
**       does with the local decision log);
**   DONE(txn)   every participant acknowledged the decision; a DONE for a
**       txn without a decision is ignored;
**   catalog commands (coord_rcat.h): applied to the replicated catalog the
**       table carries alongside the decisions.
** Every value carries a client-chosen 64-bit id (paxos_value.id). A value
** may be chosen more than once (a new leader re-proposes what it found, the
** shell retries proposals reported lost), so applying an id that was
** applied before is a no-op (docs/consensus.md, "Learning, apply, proposal
** fates").
**
** Snapshots (coord_rsm_snapshot_take/install) serialise the whole table and
** the applied ids; install replaces the table. Forgetting is deterministic
** (coord_rsm.c, ID_WINDOW / DONE_WINDOW): an id is kept for 200,000 applied
** values, a decision for 50,000 after its DONE, so memory and snapshots
** stay bounded under any load.
*/
#ifndef SYN_COORD_RSM_H
#define SYN_COORD_RSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "coordinator/coord_rcat.h"
#include "coordinator/decision_log.h"

typedef struct coord_rsm coord_rsm;

typedef enum {
  COORD_RSM_DECIDE = 1,
  COORD_RSM_DONE = 2,
  COORD_RSM_CATALOG = 3, /* any coord_rcat command */
  COORD_RSM_DONE_MANY = 4, /* DONE for several txns in one value */
} coord_rsm_cmd;

typedef enum {
  COORD_RSM_DUP = 0,      /* id applied before: nothing changed */
  COORD_RSM_DECIDED,      /* a new decision (rec) */
  COORD_RSM_KEPT,         /* DECIDE for a decided txn: rec is the earlier one */
  COORD_RSM_MARKED_DONE,  /* DONE recorded for rec.txn */
  COORD_RSM_IGNORED,      /* DONE without a decision, or already done */
  COORD_RSM_CATALOG_APPLIED, /* a catalog command: see cat */
} coord_rsm_result;

/* What one apply did. rec (and its parts) is borrowed until the next call
** that mutates the table. */
typedef struct coord_rsm_effect {
  coord_rsm_result result;
  coord_rsm_cmd cmd;
  uint64_t txn;
  dlog_record rec; /* the decision in force for txn (DECIDED, KEPT, MARKED_DONE) */
  coord_rcat_result cat; /* CATALOG_APPLIED */
} coord_rsm_effect;

int coord_rsm_new(coord_rsm **out, syn_err *err);
void coord_rsm_free(coord_rsm *r);

/* Commands into malloc'd buffers. SYN_EINVAL for a malformed record. */
int coord_rsm_encode_decide(const dlog_record *rec, uint8_t **out, size_t *len, syn_err *err);
int coord_rsm_encode_done(uint64_t txn, uint8_t **out, size_t *len, syn_err *err);
/* DONE for n (1..COORD_RSM_DONE_MAX) txns at once: one log value where n
** DONEs would take n, so acknowledgements do not fill slots of their own. */
#define COORD_RSM_DONE_MAX 4096
int coord_rsm_encode_done_many(const uint64_t *txns, uint32_t n, uint8_t **out, size_t *len,
                               syn_err *err);
/* The txns of a DONE_MANY command (pointer into data, little endian u64s)
** after coord_rsm_peek said it is one: *n and the first byte of the list. */
const uint8_t *coord_rsm_done_many_txns(const uint8_t *data, size_t len, uint32_t *n);
/* Check that data is one well-formed command and peek at its type and
** txn (0 for catalog commands) without applying it. SYN_EINVAL otherwise. */
int coord_rsm_peek(const uint8_t *data, size_t len, coord_rsm_cmd *cmd, uint64_t *txn);

/* Apply one chosen value. SYN_EINVAL for bytes that are no command: the
** table is unchanged (every replica sees the same bytes and ignores them
** the same way), but the id counts as applied. SYN_ENOMEM: unchanged. */
int coord_rsm_apply(coord_rsm *r, uint64_t id, const uint8_t *data, size_t len,
                    coord_rsm_effect *eff, syn_err *err);

/* 0 and *out (borrowed as above) when txn has a decision, SYN_ENOTFOUND
** otherwise. done may be NULL. */
int coord_rsm_lookup(const coord_rsm *r, uint64_t txn, dlog_record *out, bool *done);
/* Every decision without DONE, in the order they were applied. fn returning
** non-zero stops the walk and that value is returned. */
int coord_rsm_foreach_undone(const coord_rsm *r, int (*fn)(const dlog_record *rec, void *ud),
                             void *ud);

/* Has a value with this id been applied (or installed by a snapshot)? */
bool coord_rsm_id_applied(const coord_rsm *r, uint64_t id);

/* The replicated catalog (borrowed; changes with every apply/install). */
const coord_rcat *coord_rsm_catalog(const coord_rsm *r);

typedef struct coord_rsm_stats {
  uint64_t decisions, undone, ids, applied, dups, bad, forgotten, seq;
} coord_rsm_stats;
void coord_rsm_get_stats(const coord_rsm *r, coord_rsm_stats *out);

/* The table as bytes (malloc'd) / replace the table with such bytes
** (SYN_EINVAL for bytes that do not decode: the table is unchanged). */
int coord_rsm_snapshot_take(const coord_rsm *r, uint8_t **out, size_t *len, syn_err *err);
int coord_rsm_snapshot_install(coord_rsm *r, const uint8_t *data, size_t len, syn_err *err);

#endif /* SYN_COORD_RSM_H */
