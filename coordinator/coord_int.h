/*
** internal: shared state of the coordinator's cluster services
** (coordinator/coord_*.c). Not a public header; see coordinator/cluster.h.
**
** Threads. Fields are grouped by who may touch them:
**   LOOP   only the coordinator's loop thread (RPC clients, ring, 2PC core,
**          decision log, live transactions, waits-for graph);
**   CAT    under catmu (catalog cache and the catalog's SQLite handle);
**   ID     under idmu (id generator);
**   Q      under qmu (the bridge queue).
** Worker threads reach LOOP state only through bridge operations.
*/
#ifndef SYN_COORD_INT_H
#define SYN_COORD_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/err.h"
#include "common/node_clock.h"
#include "common/rpc.h"
#include "common/value.h"
#include "coordinator/cluster.h"
#include "coordinator/coord_catalog.h"
#include "coordinator/decision_log.h"
#include "participant.pb-c.h"
#include "sql/catalog.h"
#include "sql/cluster.h"
#include "txn/commit.h"
#include "txn/ring.h"
#include "txn/u64map.h"

#define COORD_VNODES 256
#define COORD_MAX_PARTS 64          /* = TPC_MAX_PARTICIPANTS */
#define COORD_RPC_TIMEOUT_MS 5000   /* participant silent -> CL_EUNAVAILABLE */
#define COORD_LOCK_WAIT_MS 200      /* WriteRequest.wait_ms */
#define COORD_LOCK_TIMEOUT_MS 20000 /* total wait for one row lock */
#define COORD_READ_WAIT_MS 10000    /* total wait for prepared blockers in a scan */
#define COORD_SCAN_BATCH 1000       /* rows per ScanRequest */
#define COORD_WRITE_BATCH 512       /* ops per WriteRequest */
#define COORD_TICK_MS 10
#define COORD_BRIDGE_MAX_WAIT_MS 120000 /* a worker never waits longer than this */
#define COORD_RESOLVE_WAIT_MS 3000  /* a resolve answer pending this long -> "unknown" */
#define COORD_COMMIT_WAIT_MS 10000  /* decision unconfirmed this long -> 40003 */

/* ---- bridge (coord_bridge.c) -------------------------------------------- */

typedef struct coord_op coord_op;
struct coord_op {
  void (*run)(coord_op *op);  /* LOOP: start the work; finish with coord_op_done */
  void (*dtor)(coord_op *op); /* frees the op's own payload; NULL = nothing */
  cl_cluster *cl;
  coord_op *next;
  int refs;                   /* Q: worker + loop */
  bool done, abandoned;
  int status;
  syn_err err;
};

/* Worker: queue op (heap-allocated by coord_op_new) and wait until done or
** COORD_BRIDGE_MAX_WAIT_MS; returns op->status (err copied). The caller
** still owns its reference: release with coord_op_put. */
int coord_op_exec(cl_cluster *cl, coord_op *op, syn_err *err);
void *coord_op_new(size_t size, void (*run)(coord_op *), void (*dtor)(coord_op *));
void coord_op_put(coord_op *op);
/* LOOP: the op's work is over; wakes the worker and drops the loop's ref. */
void coord_op_done(coord_op *op, int status, const syn_err *err);
int coord_bridge_init(cl_cluster *cl, syn_err *err);
void coord_bridge_close(cl_cluster *cl);

/* ---- deferred retries on the tick timer ---------------------------------- */

/* cancelled: the cluster is closing; fn must release ud and finish
** whatever waits on it, without sending anything. */
typedef void (*coord_retry_fn)(void *ud, bool cancelled);
typedef struct coord_retry {
  struct coord_retry *next;
  uint64_t due_ms;
  coord_retry_fn fn;
  void *ud;
} coord_retry;
/* LOOP: call fn(ud, false) at or after now + delay_ms (tick timer), or
** fn(ud, true) from coord_cluster_close. */
int coord_retry_after(cl_cluster *cl, uint32_t delay_ms, coord_retry_fn fn, void *ud);

/* ---- participants and routing (coord_route.c) ---------------------------- */

typedef struct coord_part {
  uint32_t id;       /* durable id from the catalog (never reused) */
  char name[NODE_NAME_MAX];
  char host[NODE_HOST_MAX];
  int port;
  rpc_client *rpc;   /* LOOP */
} coord_part;

int coord_route_open(cl_cluster *cl, const node_peer_list *parts, syn_err *err);
void coord_route_close(cl_cluster *cl);
/* Hash of a distribution value (the placement contract, see coord_route.c). */
uint64_t coord_dist_hash(const syn_value *v);
/* Participant index (into cl->parts) owning a distribution value. */
int coord_route(cl_cluster *cl, const syn_value *dist, int *idx, syn_err *err);
coord_part *coord_part_by_id(cl_cluster *cl, uint32_t id);
int coord_part_index_by_name(cl_cluster *cl, const char *name);

/* syn_value <-> protobuf Value. to_pb points into v (no copy). */
void coord_value_to_pb(const syn_value *v, Synod__Part__Value *pb);
void coord_value_from_pb(const Synod__Part__Value *pb, syn_value *v);

/* Build "<name> (<host>:<port>)". */
void coord_part_desc(const coord_part *p, char *buf, size_t cap);
/* Map an RPC-level failure to CL_EUNAVAILABLE naming the participant. */
int coord_unavailable(const coord_part *p, int status, const syn_err *rerr, syn_err *err);
/* Map a participant Status to a cl_* code with a SQLSTATE-prefixed message. */
int coord_status_to_err(const coord_part *p, const Synod__Part__Status *st, syn_err *err);

/* ---- waits-for graph (coord_wfg.c, pure) --------------------------------- */

typedef struct coord_wfg coord_wfg;
int coord_wfg_new(coord_wfg **out);
void coord_wfg_free(coord_wfg *g);
/* Record waiter -> holder. Returns 1 if the new edge closes a cycle
** through waiter (the edge is then NOT kept), 0 otherwise, < 0 on ENOMEM. */
int coord_wfg_wait(coord_wfg *g, uint64_t waiter, uint64_t holder);
/* Remove every edge out of txn (it stopped waiting, or it ended). */
void coord_wfg_clear(coord_wfg *g, uint64_t txn);
size_t coord_wfg_edges(const coord_wfg *g);

/* ---- live transactions (coord_txn.c, LOOP) -------------------------------- */

typedef struct coord_ltxn {
  uint64_t id;
  uint64_t snapshot;
  int nwritten;
  uint32_t written[COORD_MAX_PARTS]; /* participant indexes that saw a write */
  coord_op *commit_op;               /* waiting for tpc reply */
  uint64_t answered;                 /* bit i: parts[i] answered PREPARE */
} coord_ltxn;

coord_ltxn *coord_ltxn_get(cl_cluster *cl, uint64_t txn);
void coord_ltxn_end(cl_cluster *cl, uint64_t txn);
/* Send ABORT to each participant index in parts (retried in the
** background until acked or given up). */
void coord_send_aborts(cl_cluster *cl, uint64_t txn, const uint32_t *parts, int n);

/* ---- commit (coord_commit.c, LOOP) --------------------------------------- */

int coord_commit_open(cl_cluster *cl, syn_err *err);
void coord_commit_close(cl_cluster *cl);
void coord_commit_free(cl_cluster *cl);
void coord_commit_tick(cl_cluster *cl); /* expire unanswered resolves */
/* Start the commit of a live txn; the op finishes from the tpc reply. */
void coord_commit_start(cl_cluster *cl, coord_ltxn *lt, coord_op *op);
/* Result of a finished commit (written by the reply callback). */
typedef struct coord_commit_res {
  uint64_t commit_ts;
} coord_commit_res;
coord_commit_res *coord_commit_res_of(coord_op *op); /* the op cl_commit queued */

/* ---- ids (coord_ids.c) ---------------------------------------------------- */

int coord_ids_open(cl_cluster *cl, syn_err *err);
int coord_id_next(cl_cluster *cl, uint64_t *out, syn_err *err);
/* Announce this life's epoch in the replicated catalog; if a life this
** node no longer remembers (a wiped disk) used a higher one, move above it
** (durably) first. Opens the id gate. Worker thread. */
int coord_ids_announce(cl_cluster *cl, syn_err *err);
/* The first id of this life: every id of an earlier life is below it. */
uint64_t coord_ids_life_start(cl_cluster *cl);

/* ---- maintenance (coord_maint.c, LOOP) ---------------------------------- */

/* ABORT_ACTIVE to every participant, then periodic GC horizon reports. */
int coord_maint_start(cl_cluster *cl, syn_err *err);

/* ---- DDL (coord_ddl.c) ---------------------------------------------------- */

/* Send a packed DdlRequest to the participants in mask (bit i = parts[i]);
** codes[i] / msgs get each one's status (0 ok). Worker thread. */
int coord_ddl_fanout(cl_cluster *cl, const uint8_t *req, size_t len, uint64_t mask,
                     int *codes, syn_err *first_err);
int coord_ddl_recover(cl_cluster *cl, syn_err *err);

/* ---- the catalog's commands (coord_catrep.c) ---------------------------- */

#define COORD_CAT_CMD_TIMEOUT_MS 10000 /* a catalog change not applied by then */
#define COORD_BARRIER_TIMEOUT_MS 5000  /* no leader answered a read barrier */

struct coord_rcat;
struct coord_rcat_result;
/* Open the catalog: the replicated one (cl->rdl) or DATADIR/catalog.db's
** copy, and fill the cache. Main thread, before the loop runs. */
int coord_catx_open(cl_cluster *cl, syn_err *err);
void coord_catx_close(cl_cluster *cl);
/* Worker thread: apply one catalog command (coord_rcat_encode_*) and wait
** for its result. Without rdl it is applied here and catalog.db is fsynced
** before the result is returned. With rdl: chosen by a majority and applied
** here; SYN_ETIMEDOUT after COORD_CAT_CMD_TIMEOUT_MS (it may still apply
** later: the outcome is unknown). */
int coord_catx_submit(cl_cluster *cl, const uint8_t *cmd, size_t len,
                      struct coord_rcat_result *res, syn_err *err);
/* Record this coordinator's participants (ids and names) as the cluster's
** shard map, or check them against the one recorded first. On a mismatch
** the coordinator stops serving statements (cl_catalog_barrier fails
** naming the cause) and SYN_EINVAL is returned. Worker thread. */
int coord_catx_check_shardmap(cl_cluster *cl, syn_err *err);
/* coord_catx_submit for a command just encoded: enc_rc is the encoder's
** status (returned as is when < 0), cmd is taken (freed here). */
int coord_catx_submit_take(cl_cluster *cl, int enc_rc, uint8_t *cmd, size_t len,
                           struct coord_rcat_result *res, syn_err *err);
/* A fresh nonce for commands that must not be merged. */
uint64_t coord_catx_nonce(cl_cluster *cl);
/* Worker thread: a copy of the DDL intent in flight (*found false: none)
** and the catalog version it was read at, after a read barrier. */
typedef struct coord_intent_copy {
  coord_intent in;
  uint32_t owner;
  char *table;
  uint8_t *req, *undo, *def;
} coord_intent_copy;
int coord_catx_intent(cl_cluster *cl, coord_intent_copy *out, bool *found, uint64_t *version,
                      syn_err *err);
void coord_intent_copy_free(coord_intent_copy *c);

/* ---- HLC (LOOP) ----------------------------------------------------------- */

int coord_hlc_now(cl_cluster *cl, uint64_t *out, syn_err *err);
void coord_hlc_observe(cl_cluster *cl, uint64_t ts);
uint64_t coord_now_ms(cl_cluster *cl);

/* ---- catalog cache (coord_cluster.c, CAT) --------------------------------- */

typedef struct coord_seq {
  char *name;
  int64_t next;     /* next value to hand out */
  int64_t reserved; /* durable upper end of the current range */
} coord_seq;
typedef struct coord_seq_cache {
  coord_seq *v;
  int n, cap;
} coord_seq_cache;
/* Forget a sequence (DROP TABLE of its owner); catmu held. */
void coord_seq_forget(cl_cluster *cl, const char *seq_name);

/* Replace (def non-NULL) or remove the cached definition of name and bump
** the catalog version; catmu held by the caller. */
int coord_cache_put(cl_cluster *cl, const char *name, cat_table *def_take);
const cat_table *coord_cache_find(cl_cluster *cl, const char *name);
const cat_table *coord_cache_find_index(cl_cluster *cl, const char *index_name, int *which);

/* A role as the catalog stores it (coord_roles.c encodes def). */
typedef struct coord_role_def {
  char *name;
  char *def;
  size_t len;
} coord_role_def;

struct cl_cluster {
  uv_loop_t *loop;
  node_clock *clock;          /* LOOP */
  char name[NODE_NAME_MAX];
  uint8_t secret[SYN_RPC_SECRET_MAX]; /* cluster secret for our RPC clients */
  size_t secret_len;
  unsigned coord_index;       /* 1..127 */
  char dir[4096];
  uint32_t rpc_timeout_ms, lock_wait_ms, lock_timeout_ms, read_wait_ms;
  uint32_t commit_wait_ms; /* tpc decide_timeout_ms: then the client hears 40003 */

  /* bridge */
  pthread_mutex_t qmu;
  pthread_cond_t qcv;
  coord_op *qhead, *qtail;    /* Q */
  bool qclosed;               /* Q */
  uv_async_t async;
  bool async_open;

  /* tick timer and deferred retries (LOOP) */
  uv_timer_t tick;
  bool tick_open;
  coord_retry *retries;

  /* participants (LOOP after open; names/ids immutable after open) */
  coord_part parts[COORD_MAX_PARTS];
  int nparts;
  ring *ring;

  /* live transactions (LOOP) */
  u64map live;
  coord_wfg *wfg;

  /* commit (LOOP) */
  tpc *tpc;
  dlog *dlog;                 /* the local decision log, or NULL with rdl */
  struct coord_rdl *rdl;      /* the replicated one (borrowed), or NULL */
  uv_check_t flush;
  bool flush_open;
  struct coord_resolve *resolves; /* pending SYN_M_COORD_RESOLVE calls */
  struct coord_hold *holds;       /* phase two held back (failpoint) */
  rpc_server *rpc;

  /* catalog (CAT) */
  pthread_mutex_t catmu;
  coord_catalog *cat;         /* local: id epoch, participant ids, and the
                              ** catalog itself when there is no rdl */
  struct coord_rcat *lcat;    /* the catalog without rdl (CAT), else NULL */
  uint64_t rcat_version;      /* version of the catalog the cache shows */
  cat_table **tables;
  int ntables, captables;
  coord_role_def *roles;      /* the role cache, rebuilt with the tables */
  int nroles;
  _Atomic uint64_t version;
  coord_seq_cache seqs;
  _Atomic uint64_t nonce;
  _Atomic bool shardmap_bad;  /* set once: shardmap_err is final */
  syn_err shardmap_err;

  /* DDL: one at a time */
  pthread_mutex_t ddlmu;
  uint64_t ddl_base;          /* catalog version the running DDL read (ddlmu) */

  /* ids (ID) */
  pthread_mutex_t idmu;
  pthread_cond_t idcv;
  uint64_t epoch;
  uint64_t life_epoch;        /* the epoch this life's first id carries */
  uint32_t counter;
  bool ids_gated;             /* until the epoch is checked against the group */

  /* startup DDL recovery thread */
  pthread_t rec_thread;
  bool rec_started;
  pthread_mutex_t recmu;
  pthread_cond_t reccv;
  bool rec_done;
  int rec_status;
  syn_err rec_err;

  bool closed;
};

#endif /* SYN_COORD_INT_H */
