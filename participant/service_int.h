/*
** Internal to participant/service*.c: shared structs and helpers.
*/
#ifndef SYN_PSVC_INT_H
#define SYN_PSVC_INT_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "common/value.h"
#include "participant.pb-c.h"
#include "participant/service.h"
#include "participant/store/store.h"
#include "txn/u64map.h"

/* ---- arena: one per request, so decoding and encoding cost no malloc per
** value; freed whole when the request is answered. ------------------------ */

typedef struct psvc_chunk psvc_chunk;

/* Bound on one request's memory: a 16 MiB frame decodes to a few times its
** size at most; anything beyond this is refused (SYN_ENOMEM). */
#define PSVC_ARENA_MAX ((size_t)256 * 1024 * 1024)

typedef struct psvc_arena {
  ProtobufCAllocator pa; /* hands out arena memory to protobuf-c */
  psvc_chunk *head;
  size_t total;
} psvc_arena;

void psvc_arena_init(psvc_arena *a);
void *psvc_arena_alloc(psvc_arena *a, size_t n);
void psvc_arena_free(psvc_arena *a);

/* A point to roll the arena back to (a scan re-run drops its discarded
** batch instead of growing the arena with every wait). */
typedef struct psvc_arena_mark {
  psvc_chunk *head;
  size_t used;
} psvc_arena_mark;
psvc_arena_mark psvc_arena_save(const psvc_arena *a);
void psvc_arena_restore(psvc_arena *a, psvc_arena_mark m);

/* ---- values -------------------------------------------------------------- */

/* Borrow v's bytes (valid while the unpacked message lives). */
void psvc_value_from_pb(const Synod__Part__Value *v, syn_value *out);
/* Into a Value whose bytes are copied into the arena; SYN_ENOMEM. */
int psvc_value_to_pb(psvc_arena *a, const syn_value *in, Synod__Part__Value *out);
/* n values from pb into an arena array (*out NULL when n is 0). */
int psvc_values_from_pb(psvc_arena *a, Synod__Part__Value *const *pb, size_t n,
                        syn_value **out);

/* ---- parked requests ---------------------------------------------------- */

enum { PSVC_REQ_SCAN = 1, PSVC_REQ_WRITE = 2 };

/* One scan or write in progress; owns the decoded request (in arena). */
typedef struct psvc_req {
  psvc *svc;
  rpc_call *call;
  int kind;
  uint64_t txn;     /* the requester's transaction (0: a scan without one) */
  psvc_arena arena;
  Synod__Part__ScanRequest *scan;
  Synod__Part__WriteRequest *write;
  syn_value *params, *key; /* scan: filter params, point-read key */
  store_write_op *ops;     /* write: converted ops */
  uint32_t done;           /* write: ops recorded in earlier runs */
  /* parking */
  uint64_t blocker;
  uint64_t deadline;       /* uv_now() ms */
  uv_timer_t timer;
  int timer_init;
  struct psvc_req *bnext, *bprev; /* waiting on the same blocker */
  struct psvc_req *next, *prev;   /* every parked request */
  int parked;
} psvc_req;

/* ---- in-doubt resolution -------------------------------------------------- */

typedef struct psvc_doubt {
  psvc *svc;
  uint64_t txn;
  uint64_t next_try;  /* uv_now() ms */
  uint32_t backoff_ms;
  uint32_t seen;      /* sweep generation it was last listed in */
  int in_flight;
  int logged_ask, logged_fail, logged_fallback;
  uint32_t attempt;   /* position in this round's order: 0 = its own coordinator */
  int asked;          /* coords[] index of the coordinator asked last, -1 none */
  struct psvc_doubt *next, *prev;
} psvc_doubt;

/* ---- garbage collection and stale transactions (service_gc.c) ----------- */

/* What one coordinator of --coordinators has reported (SYN_M_PART_GC). */
typedef struct psvc_gc_peer {
  uint64_t horizon;  /* largest horizon reported (valid when reported) */
  uint64_t last_ms;  /* uv_now() of the last report, or of the start */
  int reported;      /* at least one report since this process started */
  int warned;        /* silence already logged (once per silence) */
  int swept;         /* its active txns aborted for this silence */
  int heard;         /* a report or a txn request of it since this start */
  uint64_t heard_ms; /* uv_now() of the last one */
  uint32_t idx;      /* its index (the digits of its name), 0 none */
} psvc_gc_peer;

/* SYN_TXN_COORD takes the top 8 bits of a txn id. */
#define PSVC_COORD_INDEXES 256

/* ---- the service ------------------------------------------------------------ */

struct psvc {
  uv_loop_t *loop;
  rpc_server *srv;
  node_clock *clock;
  store *st;
  char name[NODE_NAME_MAX];
  psvc_config cfg;        /* defaults filled in */
  int stopping;
  /* parked requests */
  u64map by_blocker;      /* blocker txn -> first psvc_req waiting on it */
  psvc_req *parked;       /* all parked, for stop and own-abort wake-ups */
  uint32_t nparked;
  int queue_full_logged;
  /* resolver */
  node_peer *coords;      /* copy of cfg.coordinators */
  size_t ncoords;
  rpc_client **clients;   /* one per coordinator, NULL until first used */
  uv_timer_t resolve_timer;
  int resolve_timer_init;
  u64map doubts;          /* txn -> psvc_doubt */
  psvc_doubt *doubt_list;
  uint32_t sweep_gen;
  /* GC: one entry per coords[i]; see service_gc.c */
  psvc_gc_peer *gc;
  uint64_t started_ms;    /* uv_now() at psvc_new */
  /* Per coordinator index, the largest below_txn of ABORT_ACTIVE: writes
  ** of that coordinator's txns below it are refused (a previous life). */
  uint64_t active_floor[PSVC_COORD_INDEXES];
};

/* ---- replies ------------------------------------------------------------ */

/* Fill st from a store outcome (rc, info, err); strings go into a. */
int psvc_status_fill(psvc_arena *a, Synod__Part__Status *st, int rc, const store_info *info,
                     const syn_err *err);
/* The bad-payload path: WARN naming the peer, ERROR envelope SYN_EINVAL. */
void psvc_reply_undecodable(rpc_call *call, const char *what);
/* Pack msg with desc into the arena and reply; on failure an ERROR. */
void psvc_reply_msg(rpc_call *call, psvc_arena *a, const ProtobufCMessage *msg);

/* ---- handlers (service_data.c, service_txn.c, service_ddl.c) ------------- */

void psvc_on_scan(rpc_call *call, const uint8_t *p, size_t n, void *ud);
void psvc_on_write(rpc_call *call, const uint8_t *p, size_t n, void *ud);
void psvc_on_ddl(rpc_call *call, const uint8_t *p, size_t n, void *ud);
void psvc_on_prepare(rpc_call *call, const uint8_t *p, size_t n, void *ud);
void psvc_on_commit(rpc_call *call, const uint8_t *p, size_t n, void *ud);
void psvc_on_abort(rpc_call *call, const uint8_t *p, size_t n, void *ud);
void psvc_on_one_phase(rpc_call *call, const uint8_t *p, size_t n, void *ud);
void psvc_on_txn_state(rpc_call *call, const uint8_t *p, size_t n, void *ud);
void psvc_on_gc(rpc_call *call, const uint8_t *p, size_t n, void *ud);
void psvc_on_abort_active(rpc_call *call, const uint8_t *p, size_t n, void *ud);

/* A request for txn came from its coordinator: it is alive (service_gc.c). */
void psvc_heard_txn(psvc *s, uint64_t txn);
/* Abort the ACTIVE txns of every coordinator that reported GC horizons and
** then fell silent for coord_silence_ms (service_gc.c). Loop thread. */
void psvc_sweep_silent(psvc *s);

/* 1 when txn is below its coordinator's ABORT_ACTIVE floor (service_gc.c). */
int psvc_txn_from_past_life(const psvc *s, uint64_t txn);

/* ---- waiting (service_data.c) ------------------------------------------------- */

/* txn was decided here: re-run everything parked on it; if aborted, also
** re-run the writes txn itself has parked (they now fail at once). */
void psvc_wake(psvc *s, uint64_t txn, int aborted);
/* Answer every parked request with SYN_ECLOSED (stop). */
void psvc_unpark_all(psvc *s);

/* ---- decisions shared by handlers and the resolver (service_txn.c) ------ */

/* hlc_update(commit_ts), failpoint part_before_commit, store_commit, wake. */
int psvc_apply_commit(psvc *s, uint64_t txn, uint64_t commit_ts, syn_err *err);
int psvc_apply_abort(psvc *s, uint64_t txn, syn_err *err);

/* ---- resolver (service_resolve.c) --------------------------------------- */

int psvc_resolve_start(psvc *s, syn_err *err);
void psvc_resolve_stop(psvc *s);
void psvc_resolve_free(psvc *s);

#endif /* SYN_PSVC_INT_H */
