/*
** Internal to the coordinator: the replicated decision log (prefix
** coord_rdl_), the second implementation of the decision-log seam
** (coordinator/decision_log.h is the first, a local file). Decisions are
** DECIDE/DONE commands in the coordinators' Multi-Paxos log
** (coord_paxos.h), applied to the decision table coord_rsm.h on every
** coordinator.
**
**   - coord_rdl_propose: as dlog_propose. The callback runs once the
**     decision for the txn is chosen and applied here: ours, or an earlier
**     one (first decision wins). A follower forwards the command to the
**     leader (SYN_M_PAXOS_PROPOSE); a proposal not applied within
**     COORD_RDL_RETRY_MS, or reported lost by the core (leader change), is
**     proposed again with the same id (the table dedups it).
**   - coord_rdl_mark_done: proposes DONE once (a lost DONE only means the
**     leader re-drives the decision later).
**   - lookup / foreach_undone: from the local table.
**   - re-drive: the leader hands undone decisions to the redrive hook (the
**     commit driver, tpc_recover): all of them when it becomes leader, and
**     later every one that stayed undone for COORD_RDL_REDRIVE_AGE_MS (its
**     coordinator may have died).
**
** Callbacks never run inside a call into this module or inside the paxos
** core: they are delivered from a zero-delay timer on the loop.
** Loop thread only.
*/
#ifndef SYN_COORD_RDL_H
#define SYN_COORD_RDL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/err.h"
#include "common/rpc.h"
#include "coordinator/coord_paxos.h"
#include "coordinator/coord_rcat.h"
#include "coordinator/decision_log.h"

#define COORD_RDL_RETRY_MS 1000
#define COORD_RDL_REDRIVE_AGE_MS 5000

typedef struct coord_rdl coord_rdl;

int coord_rdl_new(uv_loop_t *loop, coord_rdl **out, syn_err *err);
/* The state-machine hooks for coord_px_config.sm (valid for rdl's life). */
const coord_px_sm *coord_rdl_sm(coord_rdl *d);
/* After coord_px_open: proposals go to px; SYN_M_PAXOS_PROPOSE is served
** on rpc (NULL: none). */
void coord_rdl_attach(coord_rdl *d, coord_px *px, rpc_server *rpc);
/* The commit driver's re-drive hook (see above). */
void coord_rdl_set_redrive(coord_rdl *d, void (*fn)(const dlog_record *rec, void *ud), void *ud);

int coord_rdl_propose(coord_rdl *d, const dlog_record *rec, dlog_cb cb, void *ud, syn_err *err);
int coord_rdl_mark_done(coord_rdl *d, uint64_t txn, syn_err *err);
int coord_rdl_lookup(coord_rdl *d, uint64_t txn, dlog_record *out, bool *done);
int coord_rdl_foreach_undone(coord_rdl *d, int (*fn)(const dlog_record *rec, void *ud), void *ud);

/* ---- catalog commands and reads (coord_rcat.h) ---- */

/* res is borrowed for the call; status 0 with res, or SYN_ECLOSED (closing),
** SYN_EBUSY (the command was applied as part of a snapshot install, so its
** result is unknown here: read the catalog to see what happened). */
typedef void (*coord_rdl_cat_cb)(int status, const coord_rcat_result *res, void *ud);
/* Propose a catalog command (bytes copied) under a fresh value id, so equal
** bytes proposed twice apply twice; retried with the same id until applied
** here. cb runs on the loop, never inside this call. */
int coord_rdl_submit_cat(coord_rdl *d, const uint8_t *cmd, size_t len, coord_rdl_cat_cb cb,
                         void *ud, syn_err *err);
/* Called on the loop right after each catalog command or snapshot install
** changed the catalog (res NULL for an install), inside the paxos core's
** apply: it must not propose. */
void coord_rdl_set_catalog_hook(coord_rdl *d,
                                void (*fn)(void *ud, const coord_rcat *cat,
                                           const coord_rcat_result *res),
                                void *ud);
/* Loop thread; borrowed until the next apply. */
const coord_rcat *coord_rdl_catalog(coord_rdl *d);

/* Read barrier (the read-index rule, docs/consensus.md "Reads on every
** coordinator"): cb(0) once this coordinator has applied every slot that
** was chosen when the call was made, so a read of the local state machine
** afterwards sees every write that completed before the call. The leader
** holding its lease answers at once (cb may run inside this call); a
** follower asks the leader for its chosen index (one RPC shared by every
** barrier that waits for the next one) and waits to apply up to it.
** cb(SYN_ETIMEDOUT) after timeout_ms without a leader's answer. */
int coord_rdl_barrier(coord_rdl *d, uint32_t timeout_ms, void (*cb)(int status, void *ud),
                      void *ud, syn_err *err);

/* Decisions this node proposed and saw decided, and the latency from
** proposal to decision over the last 4096 of them. Loop thread. */
typedef struct coord_rdl_stats {
  uint64_t decided, samples;
  uint32_t p50_us, p99_us;
} coord_rdl_stats;
void coord_rdl_get_stats(coord_rdl *d, coord_rdl_stats *out);

/* Loop thread: stop the timers (nothing is proposed or delivered after
** this); catalog commands and read barriers still waiting get SYN_ECLOSED
** now. Idempotent. */
void coord_rdl_close(coord_rdl *d);
/* Every proposal still waiting gets SYN_ECLOSED now (the commit driver
** calls it before freeing its core). */
void coord_rdl_cancel(coord_rdl *d);
/* After the loop closed the handles. NULL allowed. */
void coord_rdl_free(coord_rdl *d);

#endif /* SYN_COORD_RDL_H */
