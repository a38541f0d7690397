/*
** Internal to the coordinator daemon: the Multi-Paxos shell (prefix
** coord_px_). It runs one pure paxos core (coordinator/paxos/paxos.h) on
** the coordinator's libuv loop and gives it what the core may not touch
** itself:
**   - time: a uv_timer ticks the core every tick_ms, every input carries
**     uv_now();
**   - transport: method SYN_M_PAXOS over the authenticated RPC, one
**     rpc_client per peer, one-way (the reply is empty and ignored);
**   - disk: the acceptor log DATADIR/paxos (paxos_store), written
**     synchronously, its completion (paxos_persisted) delivered on the next
**     loop turn (docs/consensus.md, "The daemon shell", says why);
**   - restart from disk after a failed persist.
** Members come from --peers: node id = the digits of the name (c1 -> 1).
** A coordinator without --peers is a group of one.
**
** Loop thread only, like everything it drives.
*/
#ifndef SYN_COORD_PAXOS_H
#define SYN_COORD_PAXOS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/err.h"
#include "common/node.h"
#include "common/rpc.h"
#include "coordinator/paxos/paxos.h"

typedef struct coord_px coord_px;

/* The replicated state machine the log drives (all optional). The
** functions have paxos_io's meaning and its re-entrancy rule: they must not
** call back into coord_px_propose before returning. */
typedef struct coord_px_sm {
  void *ud;
  void (*apply)(void *ud, uint64_t slot, const paxos_value *vals, uint32_t n);
  int (*snapshot_take)(void *ud, uint64_t slot, uint8_t **data, size_t *len);
  int (*snapshot_install)(void *ud, uint64_t slot, const uint8_t *data, size_t len);
  void (*proposal_done)(void *ud, uint64_t id, int status, uint64_t slot);
  /* This node became (true) or stopped being (false) the leader. */
  void (*leadership)(void *ud, bool leader);
} coord_px_sm;

typedef struct coord_px_config {
  const char *name;             /* this coordinator, "c1" */
  const char *dir;              /* data dir: the log lives in DIR/paxos */
  /* Was the data dir fresh (created by this start)? Then an empty
  ** DIR/paxos is a new member (PAXOS_STORE_BOOTSTRAP); otherwise a missing
  ** DIR/paxos means the member lost its disk and rejoins as a learner. */
  bool fresh;
  const node_peer_list *peers;  /* --peers (this node included), n = 0: group of one */
  uv_loop_t *loop;
  rpc_server *rpc;              /* SYN_M_PAXOS is registered on it */
  const uint8_t *secret;        /* for the peer clients (copied) */
  size_t secret_len;
  const coord_px_sm *sm;        /* NULL: the log carries nothing yet */
  uint32_t tick_ms;             /* 0 = 10 */
  uint32_t send_timeout_ms;     /* 0 = 1000 */
} coord_px_config;

int coord_px_open(const coord_px_config *cfg, coord_px **out, syn_err *err);
/* Loop thread: stop the timers, close the peer clients. Idempotent. */
void coord_px_close(coord_px *px);
/* After the loop has closed the handles. NULL allowed. */
void coord_px_free(coord_px *px);

/* This node leads the group now: it is the paxos leader and holds the
** lease (so at most one node says so at a time, docs/consensus.md). */
bool coord_px_is_leader(coord_px *px);
/* The leader this node knows of (node id), 0 unknown. */
uint32_t coord_px_leader(coord_px *px);
/* The leader's RPC client (NULL if unknown, self, or not a peer). */
rpc_client *coord_px_peer_client(coord_px *px, uint32_t node_id);
uint32_t coord_px_self(const coord_px *px);
uint32_t coord_px_size(const coord_px *px);

/* paxos_propose on the running core (SYN_EBUSY with *leader when this
** node does not lead, SYN_ECLOSED when closed or restarting). */
int coord_px_propose(coord_px *px, uint64_t id, const uint8_t *data, uint32_t len,
                     uint32_t *leader, syn_err *err);

void coord_px_get_status(coord_px *px, paxos_status *out);

/* The node id in a coordinator name: its digits, 1..127 ("c3" -> 3). */
int coord_px_node_id(const char *name, uint32_t *out, syn_err *err);

#endif /* SYN_COORD_PAXOS_H */
