/*
** The coordinator's cluster services (prefix coord_): the implementation of
** the SQL engine's contract sql/cluster.h (prefix cl_) on top of the
** coordinator's loop thread.
**
** A coord_cluster owns, on the coordinator's libuv loop:
**   - one rpc_client per participant and the consistent-hash ring over them
**     (coord_route.c);
**   - the 2PC core (txn/commit.h) and the decision log
**     (coordinator/decision_log.h), with recovery at open and the
**     SYN_M_COORD_RESOLVE handler (coord_commit.c);
**   - the live transactions' loop-side state and the waits-for graph
**     (coord_txn.c, coord_wfg.c);
** and, shared with worker threads under mutexes:
**   - the durable catalog DATADIR/catalog.db (coord_catalog.c), DDL
**     (coord_ddl.c), sequences and cluster-unique ids (coord_ids.c).
**
** Worker threads call cl_* synchronously; coord_bridge.c hands the
** loop-side part of each call to the loop thread and blocks the worker
** until it is done (bounded).
**
** Life: coord_cluster_open on the loop thread before uv_run (it replays the
** decision log and feeds undone decisions to the 2PC core, and starts a
** thread that finishes any DDL a crash interrupted); coord_cluster_close
** from the loop thread (e.g. a node stop hook) fails pending work with
** SYN_ECLOSED and closes every handle; coord_cluster_free after the loop
** has stopped.
*/
#ifndef SYN_COORD_CLUSTER_H
#define SYN_COORD_CLUSTER_H

#include <stdint.h>
#include <uv.h>

#include "common/err.h"
#include "common/node.h"
#include "common/node_clock.h"
#include "common/rpc.h"
#include "sql/cluster.h"

typedef struct cl_cluster coord_cluster;

typedef struct coord_cluster_config {
  const char *name;                    /* "c1": its digits are the coordinator index */
  const char *dir;                     /* catalog.db and decisions.log live here */
  const node_peer_list *participants;  /* from --participants */
  node_clock *clock;                   /* borrowed; used on the loop thread only */
  rpc_server *rpc;                     /* may be NULL: no SYN_M_COORD_RESOLVE served */
  const uint8_t *secret;               /* cluster secret for participant RPC (copied) */
  size_t secret_len;                   /* 0: unauthenticated */
  /* The replicated decision log (coordinator/coord_rdl.h, borrowed; it
  ** must outlive the cluster). NULL: a local DATADIR/decisions.log. */
  struct coord_rdl *decisions;
  /* 0 = defaults (see coord_int.h). */
  uint32_t rpc_timeout_ms;   /* participant unanswered -> CL_EUNAVAILABLE */
  uint32_t lock_wait_ms;     /* per-request wait at the participant (WriteRequest.wait_ms) */
  uint32_t lock_timeout_ms;  /* give up waiting for a row lock */
  uint32_t read_wait_ms;     /* total wait for a prepared blocker in a scan */
  uint32_t commit_wait_ms;   /* COMMIT decision unconfirmed this long -> 40003 */
  /* DATADIR had no catalog.db: the id epoch this node used before (if it
  ** was a member whose disk was wiped) is unknown here, so ids wait until
  ** the replicated catalog says where they resume (coord_ids.c). */
  bool no_local_catalog;
} coord_cluster_config;

int coord_cluster_open(uv_loop_t *loop, const coord_cluster_config *cfg, coord_cluster **out,
                       syn_err *err);
/* The cl_cluster the SQL engine uses; borrowed for the cluster's lifetime. */
cl_cluster *coord_cluster_borrow(coord_cluster *cc);
/* Loop thread. Idempotent. */
void coord_cluster_close(coord_cluster *cc);
/* After the loop stopped (handles closed). NULL is allowed. */
void coord_cluster_free(coord_cluster *cc);

/* Wait (bounded by timeout_ms) until the DDL recovery thread started by
** open has finished; its status. Tests and the daemon's startup use it. */
int coord_cluster_wait_ready(coord_cluster *cc, uint32_t timeout_ms, syn_err *err);

#endif /* SYN_COORD_CLUSTER_H */
