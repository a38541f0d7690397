/*
** The participant's RPC service (prefix psvc_): the shell between the wire
** (common/proto/participant.proto, methods SYN_M_PART_* in
** common/rpc_methods.h) and the MVCC row store (participant/store/store.h).
**
** What it adds to the store:
**   - decoding and answering: a payload that does not decode is an ERROR
**     envelope (SYN_EINVAL) plus a WARN line naming the peer; every store
**     outcome (lock held, conflict, unique violation, ...) is an ordinary
**     response whose Status carries code, message, blocker, conflict_ts and
**     constraint;
**   - the hybrid logical clock rules of Clock-SI: a scan first advances the
**     HLC to its snapshot (nothing prepared later can commit below a
**     snapshot already served), prepare and one-phase commit take their
**     timestamps from the HLC, commit advances the HLC to the decided
**     commit_ts before applying it. A stamp more than the max offset ahead
**     of our clock is refused (SYN_ERANGE status) and does not move it;
**   - waiting: a scan or write that meets another transaction's lock or
**     prepared intent (SYN_EBUSY) is parked, keyed by that blocker, for up
**     to the request's wait_ms; a decision for the blocker on this
**     participant (commit, abort, one-phase commit, in-doubt resolution)
**     re-runs it; at expiry it answers SYN_EBUSY naming the blocker;
**   - garbage collection: each coordinator reports a horizon (SYN_M_PART_GC);
**     once every listed coordinator has, versions below the minimum are
**     collected (store_gc). ABORT_ACTIVE aborts the active transactions a
**     restarted coordinator left behind (service_gc.c has the arguments);
**   - in-doubt resolution: at start and then every poll interval, each
**     transaction prepared for longer than resolve_after_ms is resolved by
**     asking its coordinator (c<N>, N = SYN_TXN_COORD(txn)) with
**     SYN_M_COORD_RESOLVE, retrying with backoff while the answer is
**     unknown or the coordinator unreachable.
**
** Threads: everything runs on the loop thread, including the store calls
** (a prepare or commit blocks the loop for its fsync; group commit across
** requests is later work).
**
** Life: psvc_new opens DIR/store.db and registers the handlers on the
** server; psvc_stop (a node stop hook) answers parked requests with
** SYN_ECLOSED and closes the service's timers and clients; once the loop
** has run those closes and the RPC server is closed, psvc_free closes the
** store and frees the service.
*/
#ifndef SYN_PSVC_H
#define SYN_PSVC_H

#include <stdint.h>
#include <uv.h>

#include "common/err.h"
#include "common/node.h"
#include "common/node_clock.h"
#include "common/rpc.h"
#include "participant/store/store.h"

typedef struct psvc psvc;

#define PSVC_DEFAULT_SCAN_ROWS 1000u
/* Well under the 16 MiB frame limit: a batch over it is cut at the row
** that crosses it (a single larger row still goes alone). */
#define PSVC_DEFAULT_SCAN_BYTES (4u * 1024u * 1024u)
#define PSVC_DEFAULT_MAX_PARKED 1024u
#define PSVC_DEFAULT_MAX_WAIT_MS 60000u
#define PSVC_DEFAULT_RESOLVE_AFTER_MS 1000u
#define PSVC_DEFAULT_RESOLVE_POLL_MS 500u
#define PSVC_DEFAULT_GC_WARN_AFTER_MS 60000u
#define PSVC_DEFAULT_COORD_SILENCE_MS 10000u
#define PSVC_DEFAULT_PG_CONNECT_WAIT_MS 60000u

typedef struct psvc_config {
  const char *name;                 /* this participant, e.g. "p1" (for logs and RESOLVE) */
  const char *dir;                  /* data directory: the store is DIR/store.db
                                       (SQLite backend) */
  store_backend backend;            /* STORE_BACKEND_SQLITE (default) or _POSTGRES */
  const char *pg_conninfo;          /* PostgreSQL backend: the participant's database */
  uint32_t pg_connect_wait_ms;      /* PostgreSQL backend: keep retrying an unreachable
                                       server this long at start (backoff 100 ms
                                       doubling to 2 s); 0 = default 60 s */
  const node_peer_list *coordinators; /* whom to ask about in-doubt txns; may be NULL */
  uint32_t scan_rows;               /* rows per scan batch; 0 = default */
  uint32_t scan_bytes;              /* encoded bytes per scan batch; 0 = default */
  uint32_t max_parked;              /* parked requests at once; 0 = default */
  uint32_t max_wait_ms;             /* cap on a request's wait_ms; 0 = default */
  uint32_t resolve_after_ms;        /* prepared this long = in doubt; 0 = default */
  uint32_t resolve_poll_ms;         /* how often to look; 0 = default */
  uint32_t gc_warn_after_ms;        /* a coordinator silent this long holding GC
                                       back is logged (WARN, once); 0 = default */
  uint32_t coord_silence_ms;        /* a coordinator that reported and then sent
                                       no GC report this long: its ACTIVE txns
                                       are aborted (service_gc.c); 0 = default */
  const uint8_t *secret;            /* cluster secret for the resolver's RPC clients;
                                       borrowed for the service's life */
  size_t secret_len;                /* 0: unauthenticated */
} psvc_config;

/* Open the store (running its recovery), register the SYN_M_PART_*
** handlers on srv and start the in-doubt resolver. clock is borrowed for
** the life of the service. On error nothing is left registered or open. */
int psvc_new(uv_loop_t *loop, rpc_server *srv, node_clock *clock, const psvc_config *cfg,
             psvc **out, syn_err *err);

/* Answer every parked request with SYN_ECLOSED, close timers and resolver
** clients; later requests are answered with SYN_ECLOSED. Idempotent. The
** loop must run afterwards so the handles finish closing. */
void psvc_stop(psvc *s);

/* Same signature as a node stop hook. */
void psvc_stop_hook(void *s);

/* After psvc_stop, the loop having run and the RPC server being closed:
** close the store and free. NULL is allowed. */
void psvc_free(psvc *s);

#endif /* SYN_PSVC_H */
