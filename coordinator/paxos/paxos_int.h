/*
** Internal to coordinator/paxos: the replica's state shared by paxos.c
** (life cycle, durability gates, timers, roles), paxos_acceptor.c (acceptor,
** learner, catch-up, snapshots) and paxos_leader.c (proposer: phase 1,
** phase 2, batching, lease, rejoin requests).
*/
#ifndef SYN_PAXOS_INT_H
#define SYN_PAXOS_INT_H

#include "coordinator/paxos/paxos.h"

/* One slot of the log, slot number base + index. */
typedef struct px_slot {
  paxos_ballot acc; /* acceptor: ballot of the value held (0: learned or none) */
  bool has;         /* a value is held (accepted, or learned chosen) */
  bool chosen;      /* the value held is the chosen one */
  bool inflight;    /* leader: proposed in the current ballot, not yet chosen */
  uint32_t acks;    /* leader: bit per member index that accepted at ballot */
  uint64_t sent_at; /* leader: last (re)transmission */
  uint8_t *val;
  uint32_t len;
} px_slot;

/* What phase 1 learned about one slot (the proposer's view, kept apart
** from the acceptor's own state). */
typedef struct px_found {
  paxos_ballot ballot;
  bool has, chosen;
  uint8_t *val;
  uint32_t len;
} px_found;

/* A client value at the leader: queued (slot 0) or riding a slot. */
typedef struct px_prop {
  uint64_t id, slot;
  uint8_t *data;
  uint32_t len;
} px_prop;

/* An action that must wait until a persist completed (durability gate). */
typedef enum {
  G_PROMISE = 1,     /* send PROMISE(ballot) to `to`, entries from `slot` */
  G_ACCEPTED,        /* send ACCEPTED(ballot, slot) to `to` */
  G_SELF_PREPARE,    /* own promise durable: send PREPARE, count self */
  G_SELF_ACCEPTED,   /* own accept durable: count self for slot */
  G_VOTER,           /* rejoin record durable: start voting */
} px_gate_kind;

typedef struct px_gate {
  uint64_t seq;
  px_gate_kind kind;
  uint32_t to;
  paxos_ballot ballot;
  uint64_t slot;
} px_gate;

struct paxos {
  paxos_config cfg;
  paxos_io io;
  uint32_t self_idx, majority;
  uint64_t rng;
  paxos_role role;
  bool started;

  /* acceptor (durable: PROMISE / ACCEPT / LEARN records) */
  paxos_ballot promised;
  px_slot *log;
  uint64_t base; /* slot number of log[0] == snap_slot + 1 */
  size_t len, cap;

  /* learner */
  uint64_t chosen;  /* every slot <= chosen is chosen and held */
  uint64_t applied;
  uint64_t commit_rec; /* highest COMMIT record queued */
  uint64_t commit_restored;
  uint64_t snap_slot;
  uint8_t *snap;
  size_t snap_len;
  uint64_t catchup_at; /* last CATCHUP_REQ sent */
  uint64_t known_commit; /* highest commit index a leader announced */

  /* proposer */
  paxos_ballot ballot;   /* our ballot as candidate/leader */
  paxos_ballot max_seen; /* highest ballot seen anywhere */
  uint32_t leader;       /* who we believe leads (0 unknown) */
  uint32_t p1_acks;
  uint64_t p1_from, p1_max, p1_need;
  uint32_t p1_need_from; /* who holds the snapshot we need */
  uint32_t catchup_rr;   /* leader recovery: next member to ask in turn */
  px_found *found; /* slots p1_from .. p1_from + nfound - 1 */
  size_t nfound;
  bool recovered;       /* recovery proposals issued after phase 1 */
  uint64_t recover_upto;
  uint64_t next_slot;
  uint64_t hb_at, bcast_commit;
  uint64_t hb_ack_ts[PAXOS_MAX_NODES];
  uint64_t lead_since; /* when this term as leader began (check quorum) */
  uint64_t rec_chosen, rec_at; /* recovery: chosen when it last advanced, and when */
  px_prop *props;
  size_t nprops, pcap;

  /* timers */
  uint64_t election_at;
  uint64_t lease_block_until; /* do not vote for other candidates before */

  /* rejoin after a wiped disk (Paxos Made Live, 5.1) */
  bool rejoin;
  uint32_t rj_mask;
  paxos_ballot rj_max;
  uint64_t rj_at;
  bool rj_pending; /* VOTER record being written */

  /* persistence */
  paxos_rec *recs;
  uint8_t **recbuf;
  size_t nrecs, rcap;
  uint64_t seq_next, seq_done;
  px_gate *gates;
  size_t ngates, gcap;

  uint64_t elections, leader_terms;
};

/* paxos.c */
#define PX_MAX_AHEAD ((uint64_t)1 << 22) /* slots held beyond base */
void px_flush(paxos *p, uint64_t now);
int px_idx(const paxos *p, uint32_t node); /* member index or -1 */
uint64_t px_rand(paxos *p);
void px_reset_election(paxos *p, uint64_t now);
void px_stop_proposing(paxos *p, uint64_t now);
void px_set_role(paxos *p, paxos_role to);
void px_trace(paxos *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void px_record(paxos *p, paxos_rec_type t, uint64_t slot, paxos_ballot b, const uint8_t *d,
               uint32_t len);
void px_gate_add(paxos *p, px_gate_kind k, uint32_t to, paxos_ballot b, uint64_t slot);
void px_send(paxos *p, paxos_msg *m, uint32_t to);
px_slot *px_slot_at(paxos *p, uint64_t slot, bool create);
void px_snapshot_set(paxos *p, uint64_t slot, uint8_t *data, size_t len);
void px_heard_leader(paxos *p, uint32_t from, uint64_t now);
void px_fail(paxos *p, const char *why);
void px_step_down(paxos *p, paxos_ballot seen, uint64_t now);
void px_seen(paxos *p, paxos_ballot b);

/* paxos_acceptor.c */
void px_on_prepare(paxos *p, const paxos_msg *m, uint64_t now);
void px_on_accept(paxos *p, const paxos_msg *m, uint64_t now);
void px_on_heartbeat(paxos *p, const paxos_msg *m, uint64_t now);
void px_on_catchup_req(paxos *p, const paxos_msg *m);
void px_on_catchup(paxos *p, const paxos_msg *m, uint64_t now);
void px_on_snapshot(paxos *p, const paxos_msg *m, uint64_t now);
void px_send_promise(paxos *p, uint32_t to, paxos_ballot b, uint64_t from);
void px_learn_commit(paxos *p, paxos_ballot b, uint64_t commit, uint32_t from, uint64_t now);
void px_advance(paxos *p);
void px_ask_catchup(paxos *p, uint32_t to, uint64_t now, bool force);
void px_rejoin_tick(paxos *p, uint64_t now);
void px_on_rejoin_info(paxos *p, const paxos_msg *m);

/* paxos_leader.c */
void px_start_election(paxos *p, uint64_t now);
void px_self_prepare(paxos *p, paxos_ballot b);
void px_on_promise(paxos *p, const paxos_msg *m, uint64_t now);
void px_on_accepted(paxos *p, const paxos_msg *m, uint64_t now);
void px_count_accept(paxos *p, uint32_t idx, paxos_ballot b, uint64_t slot);
void px_on_heartbeat_ack(paxos *p, const paxos_msg *m, uint64_t now);
void px_on_rejoin_req(paxos *p, const paxos_msg *m, uint64_t now);
void px_leader_drive(paxos *p, uint64_t now);
void px_leader_tick(paxos *p, uint64_t now);
void px_props_lost(paxos *p);
void px_props_applied(paxos *p, uint64_t slot, const paxos_value *vals, uint32_t n);
void px_found_clear(paxos *p);

#endif /* SYN_PAXOS_INT_H */
