/*
** Multi-Paxos replica: a pure state machine (prefix paxos_).
**
** One paxos core runs per coordinator and plays every role at once:
** acceptor, proposer (the distinguished proposer, "leader", when it holds
** the highest ballot) and learner. It never reads a clock, touches a socket
** or a file and draws no randomness of its own: every input is a function
** call carrying now_ms, randomness comes from cfg.seed (a splitmix64 inside),
** and every output is a call through paxos_io (after canonical/raft's
** raft_io). The protocol as implemented, with its safety argument, is in
** docs/consensus.md; the references are Lamport, "Paxos Made Simple" (2001),
** van Renesse & Altinbuken, "Paxos Made Moderately Complex" (2015) and
** Chandra, Griesemer & Redstone, "Paxos Made Live" (2007).
**
** Re-entrancy rule: a paxos_io function must not call back into the core
** before it returns. Completions (paxos_persisted) are new inputs.
**
** Durability contract. The core hands records to io->persist(seq, recs);
** the shell writes and fsyncs them in seq order and calls
** paxos_persisted(seq) when they are on stable storage. The core sends no
** PROMISE and no ACCEPTED, and no PREPARE carrying its own self-promise,
** before the persist holding the promise/accept completed. A failed persist
** (status < 0) stops the replica (paxos_failed() is true); the shell must
** restart it from disk, which re-reads what actually reached the disk.
**
** Restart: create the core with paxos_new, feed every durable record in
** order to paxos_restore (paxos_store_replay does that), then paxos_start.
** The snapshot (if any) is installed through io->snapshot_install, then the
** slots known chosen are applied in order.
**
** Values. A client value is opaque bytes with a client-chosen 64-bit id.
** Many values ride one slot (a batch, up to cfg.max_batch_bytes). apply()
** delivers every chosen slot in slot order, exactly once per slot per
** process lifetime (a restart re-applies from the snapshot on). A proposal
** may be chosen twice (a leader change can re-propose it, and the shell
** retries proposals reported lost), so the state machine must dedup by the
** client id: applying a value whose id it has already applied is a no-op.
**
** Reads. paxos_lease_valid(now_ms) says whether the leader may answer a read
** from its local state machine: it holds the lease (a majority acknowledged
** a heartbeat sent less than lease_ms - drift_margin_ms ago, and followers
** refuse other candidates for lease_ms after hearing the leader), and every
** slot it found in phase 1 is chosen and applied. Otherwise reads go
** through the log (propose a no-op read marker and answer once applied).
** Assumption: clock RATES differ by less than drift_margin_ms per lease_ms;
** no clock synchronisation is assumed (only durations are compared).
*/
#ifndef SYN_PAXOS_H
#define SYN_PAXOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define PAXOS_MAX_NODES 7
#define PAXOS_MAX_VALUE (16u << 20)   /* one client value */
#define PAXOS_MAX_MSG (64u << 20)     /* one encoded message */
#define PAXOS_MAX_ENTRIES 65536       /* entries in one message */

/* A ballot is (round, node): round in the upper 48 bits, node id in the
** lower 16, so plain integer order is ballot order and two proposers never
** share a ballot. 0 is "none". */
typedef uint64_t paxos_ballot;
#define PAXOS_BALLOT(round, node) (((uint64_t)(round) << 16) | ((uint64_t)(node)&0xffffu))
#define PAXOS_BALLOT_ROUND(b) ((b) >> 16)
#define PAXOS_BALLOT_NODE(b) ((uint32_t)((b)&0xffffu))

typedef struct paxos paxos;

/* ---- Durable records (io->persist, paxos_restore, paxos_store) ---------- */

typedef enum {
  PAXOS_REC_PROMISE = 1,  /* ballot: promised ballot (acceptor) */
  PAXOS_REC_ACCEPT = 2,   /* slot, ballot, value: accepted (acceptor) */
  PAXOS_REC_LEARN = 3,    /* slot, value: a chosen value learned (catch-up) */
  PAXOS_REC_COMMIT = 4,   /* slot: every slot <= slot is chosen, values in the log */
  PAXOS_REC_SNAPSHOT = 5, /* slot, value: state machine after applying <= slot */
  PAXOS_REC_REJOIN = 6,   /* this member lost its disk: non-voting until rejoined */
  PAXOS_REC_VOTER = 7,    /* rejoin finished (ballot: first ballot it votes in) */
} paxos_rec_type;

/* data is borrowed in both directions. */
typedef struct paxos_rec {
  paxos_rec_type type;
  uint64_t slot;
  paxos_ballot ballot;
  const uint8_t *data;
  uint32_t len;
} paxos_rec;

/* ---- Messages ----------------------------------------------------------- */

typedef enum {
  PAXOS_M_PREPARE = 1,    /* phase 1a: ballot, slot = first slot asked about */
  PAXOS_M_PROMISE,        /* phase 1b: ok, ballot (or promised when !ok), commit,
                          ** snap_slot, entries >= the asked slot */
  PAXOS_M_ACCEPT,         /* phase 2a: ballot, slot, commit, entries[0].data */
  PAXOS_M_ACCEPTED,       /* phase 2b: ok, ballot (or promised when !ok), slot */
  PAXOS_M_HEARTBEAT,      /* leader: ballot, commit, ts (leader's now_ms) */
  PAXOS_M_HEARTBEAT_ACK,  /* follower: ballot, ts echoed, commit */
  PAXOS_M_CATCHUP_REQ,    /* learner: slot = first slot it lacks */
  PAXOS_M_CATCHUP,        /* chosen entries (entries[].chosen), commit */
  PAXOS_M_SNAPSHOT,       /* snap_slot, snapshot bytes in entries[0] */
  PAXOS_M_REJOIN_QUERY,   /* wiped member asks for a peer's promised ballot */
  PAXOS_M_REJOIN_INFO,    /* answer: promised = that ballot */
  PAXOS_M_REJOIN_REQ,     /* wiped member asks the leader for a ballot > promised */
  PAXOS_M__LAST = PAXOS_M_REJOIN_REQ,
} paxos_msg_type;

typedef struct paxos_entry {
  uint64_t slot;
  paxos_ballot ballot;
  bool chosen;
  const uint8_t *data;
  uint32_t len;
} paxos_entry;

typedef struct paxos_msg {
  paxos_msg_type type;
  uint32_t from, to;
  paxos_ballot ballot;
  paxos_ballot promised;
  bool ok;
  uint64_t slot;
  uint64_t commit;
  uint64_t snap_slot;
  uint64_t ts;
  uint32_t nentries;
  const paxos_entry *entries;
} paxos_msg;

/* Encode m into a malloc'd buffer (*out, *len). SYN_ERANGE above
** PAXOS_MAX_MSG. */
int paxos_msg_encode(const paxos_msg *m, uint8_t **out, size_t *len, syn_err *err);
/* Decode buf into *m. Entries and their data point into one malloc'd block
** returned in *owned (free it after use, also on error it is NULL). Every
** length and count is bounds-checked: garbage fails with SYN_EINVAL. */
int paxos_msg_decode(const uint8_t *buf, size_t len, paxos_msg *m, void **owned, syn_err *err);
const char *paxos_msg_name(paxos_msg_type t);

/* ---- Values as the state machine sees them ------------------------------ */

typedef struct paxos_value {
  uint64_t id; /* client-chosen, for dedup */
  const uint8_t *data;
  uint32_t len;
} paxos_value;

/* ---- I/O vtable --------------------------------------------------------- */

typedef struct paxos_io {
  void *ud;
  /* Send m to m->to. m and everything it points to are borrowed. */
  void (*send)(void *ud, const paxos_msg *m);
  /* Write recs durably (append, fsync) in seq order, then call
  ** paxos_persisted(seq). recs is borrowed for the call. */
  void (*persist)(void *ud, uint64_t seq, const paxos_rec *recs, size_t n);
  /* Slot `slot` is chosen: apply its values (n may be 0: a no-op). Called
  ** in slot order, once per slot per process lifetime. */
  void (*apply)(void *ud, uint64_t slot, const paxos_value *vals, uint32_t n);
  /* Serialise the state machine as it is now (every slot <= slot applied)
  ** into a malloc'd buffer the core takes. Return 0, or < 0 to skip.
  ** Optional: NULL means the log is never compacted (memory grows with it)
  ** and lagging replicas always catch up from the log. */
  int (*snapshot_take)(void *ud, uint64_t slot, uint8_t **data, size_t *len);
  /* Replace the state machine with this snapshot (every slot <= slot). */
  int (*snapshot_install)(void *ud, uint64_t slot, const uint8_t *data, size_t len);
  /* The fate of a proposal made here: status 0 chosen in `slot`;
  ** SYN_EBUSY lost (leadership changed, or its slot was filled by another
  ** value): retry through the current leader. Once per accepted proposal,
  ** unless the process stops first. */
  void (*proposal_done)(void *ud, uint64_t id, int status, uint64_t slot);
  /* Optional: role changes and notable events, for logs and traces. */
  void (*trace)(void *ud, const char *what);
} paxos_io;

typedef struct paxos_config {
  uint32_t self;                       /* this node's id, 1..65535 */
  uint32_t nodes[PAXOS_MAX_NODES];     /* the static member list, self included */
  uint32_t nnodes;                     /* 3 or 5 (1 allowed for tests) */
  uint32_t heartbeat_ms;               /* leader heartbeat interval */
  uint32_t election_min_ms;            /* election timeout drawn in [min, max) */
  uint32_t election_max_ms;
  uint32_t lease_ms;                   /* < election_min_ms */
  uint32_t drift_margin_ms;            /* leader's lease is lease_ms - this */
  uint32_t max_inflight;               /* slots in phase 2 at once */
  uint32_t max_batch_bytes;            /* values per slot, by bytes */
  uint32_t max_pending;                /* queued client values */
  uint32_t snapshot_every;             /* take a snapshot every N applied slots; 0 never */
  uint32_t catchup_max_entries;        /* chosen entries per CATCHUP message */
  uint64_t seed;                       /* PRNG seed (election jitter) */
} paxos_config;

/* Defaults: heartbeat 50 ms, election 300-600 ms, lease 200 ms with 20 ms
** margin, 8 slots in flight, 64 KiB batches, 10000 pending, snapshot every
** 1000 slots, 256 entries per catch-up message. self/nodes must be set. */
void paxos_config_default(paxos_config *cfg);

int paxos_new(const paxos_config *cfg, const paxos_io *io, paxos **out, syn_err *err);
void paxos_free(paxos *p);

/* Restart: one call per durable record, in order, before paxos_start.
** SYN_EINVAL for a malformed record. */
int paxos_restore(paxos *p, const paxos_rec *rec, syn_err *err);
/* Begin serving: install the snapshot, apply what is known chosen, arm the
** election timer. A member whose disk was wiped (a REJOIN record) starts as
** a non-voting learner. */
int paxos_start(paxos *p, uint64_t now_ms, syn_err *err);

/* A message arrived (already decoded). Bad or stale messages are ignored
** (SYN_EINVAL for ones that cannot be valid) and change nothing. */
int paxos_receive(paxos *p, const paxos_msg *m, uint64_t now_ms);
/* The persist with this seq finished: status 0 durable, < 0 failed. */
void paxos_persisted(paxos *p, uint64_t seq, int status, uint64_t now_ms);
/* Time passed: heartbeats, election timeouts, retransmissions. */
void paxos_tick(paxos *p, uint64_t now_ms);

/* Propose a value. 0: queued at the leader, proposal_done will report its
** fate. SYN_EBUSY "not leader, leader is N" (*leader = N, 0 if unknown):
** forward it. SYN_ERANGE above PAXOS_MAX_VALUE / max_batch_bytes,
** SYN_EBUSY also when max_pending are queued. On error the callback is
** never called. */
int paxos_propose(paxos *p, uint64_t id, const uint8_t *data, uint32_t len, uint64_t now_ms,
                  uint32_t *leader, syn_err *err);

/* The leader may serve reads from its state machine now (see above). */
bool paxos_lease_valid(const paxos *p, uint64_t now_ms);

typedef enum {
  PAXOS_FOLLOWER = 0,
  PAXOS_CANDIDATE,  /* phase 1 running */
  PAXOS_LEADER,     /* phase 1 done: phase 2 and heartbeats */
  PAXOS_LEARNER,    /* wiped member rejoining: learns, never votes */
  PAXOS_FAILED,     /* a persist failed: stopped */
  PAXOS_ROLE__COUNT
} paxos_role;

typedef struct paxos_status {
  paxos_role role;
  uint32_t leader;         /* 0 unknown */
  paxos_ballot promised;   /* acceptor */
  paxos_ballot ballot;     /* proposer's current ballot (leader/candidate) */
  uint64_t chosen;         /* every slot <= chosen is chosen and known here */
  uint64_t applied;
  uint64_t snap_slot;
  uint64_t pending;        /* client values queued or in flight (leader) */
  uint64_t elections;      /* phase 1 rounds started here */
  uint64_t leader_terms;   /* times this node became leader */
} paxos_status;

void paxos_get_status(const paxos *p, paxos_status *out);
const char *paxos_role_name(paxos_role r);
bool paxos_failed(const paxos *p);

/* Batch blob helpers (the value format of one slot, also used by the
** store's tests): [u32 n] then n x ([u64 id][u32 len][bytes]), little
** endian. decode fills at most cap values pointing into buf. */
int paxos_batch_decode(const uint8_t *buf, uint32_t len, paxos_value *vals, uint32_t cap,
                       uint32_t *n);

#endif /* SYN_PAXOS_H */
