/*
** Internal to the Multi-Paxos simulator (tests/unit/paxos_sim*.c): the
** model's state, shared by paxos_sim.c (network, disks, nodes, clients, the
** run loop) and paxos_sim_check.c (the oracle: every checked property).
*/
#ifndef SYN_TEST_PAXOS_SIM_INT_H
#define SYN_TEST_PAXOS_SIM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coordinator/paxos/paxos.h"
#include "coordinator/paxos/paxos_store.h"
#include "paxos_sim.h"

#define MAXN 5
#define MAXC 6           /* clients */
#define MAXSLOTS 20000
#define MAXIDS 20000
#define MAXB 16          /* values in one slot (max_batch_bytes 200 allows 9) */
#define TICK 5           /* ms of simulated time per step */

typedef struct drec { /* one durable record (owned copy) */
  paxos_rec r;
  uint8_t *data;
} drec;

typedef struct dpend { /* a persist not yet durable */
  uint64_t seq, at;
  drec *recs;
  size_t n;
} dpend;

typedef struct smsg {
  uint64_t at, h; /* h: hash of the bytes (trace hash) */
  int to, from;
  uint8_t *bytes;
  size_t len;
} smsg;

/* One acceptor vote as the disks saw it: (slot, ballot) accepted durably by
** the members in mask, all with the value whose hash is h. */
typedef struct svote {
  paxos_ballot b;
  uint64_t h;
  uint8_t mask;
} svote;

typedef struct slot_votes {
  svote *v;
  uint32_t n, cap;
} slot_votes;

struct sim;

typedef struct node {
  struct sim *sim;
  int idx;
  uint32_t id;
  bool up;
  uint64_t restart_at;
  paxos *px;
  drec *disk;
  size_t ndisk, capdisk;
  dpend *pend;
  size_t npend, cappend;
  /* state machine: a hash chain over values with new ids */
  uint64_t sm_hash, applied;
  uint8_t *seen_ids; /* MAXIDS flags */
  uint32_t nseen;
  bool was_learner;
  bool rejoining; /* wiped, not yet a voter again */
  paxos_role role; /* at the end of the last step (trace hash) */
  /* what the disk holds, kept up to date by disk_append: the durability
  ** oracle every PROMISE/ACCEPTED/PREPARE is checked against */
  paxos_ballot dprom;
  uint64_t dsnap;
  uint64_t *dacc; /* per slot: highest durable accepted ballot, ~0 learned */
  /* This node's chosen prefix as it reported it, over all its lives (wipes
  ** included): per slot the hash of the values apply() gave (0: never
  ** reported) and of its state machine after that slot. A slot, once
  ** reported, must never be reported with other values. */
  uint64_t *rep_val, *rep_state;
  uint64_t chosen_ok; /* every slot <= this was checked against the votes */
  /* real-store mode: the records also go to a paxos_store, and a restart
  ** recovers from it (the in-memory disk stays the oracle) */
  paxos_store *st;
  char dir[128];
  bool booted;
} node;

typedef struct client {
  uint64_t id;       /* current value id, 0 none */
  int target;
  uint64_t sent_at, retry_at;
  bool waiting;      /* queued at some leader */
} client;

/* How a node outside the liveness core stays faulty after the heal. */
typedef enum { OUT_CRASHED, OUT_ISOLATED, OUT_MUTE, OUT_DEAF, OUT__COUNT } out_kind;

typedef struct sim {
  uint64_t rs; /* PRNG state (splitmix64) */
  uint64_t seed, now, hash;
  bool trace, failed;
  char *why;
  size_t whycap;
  int n;
  node nodes[MAXN];
  smsg *msgs;
  size_t nmsgs, capmsgs;
  bool cut[MAXN][MAXN]; /* cut[a][b]: messages a -> b are lost */
  client clients[MAXC];
  uint64_t next_id;
  /* ground truth, from the applies */
  uint64_t slot_hash[MAXSLOTS + 1];  /* batch hash per applied slot */
  uint64_t state_hash[MAXSLOTS + 1]; /* state machine hash after slot */
  bool slot_set[MAXSLOTS + 1];
  uint8_t slot_nids[MAXSLOTS + 1];   /* ids of the values in the slot */
  uint64_t slot_ids[MAXSLOTS + 1][MAXB];
  uint8_t held[MAXSLOTS + 1]; /* per slot: members that ever held it durably (wipes included) */
  /* ground truth, from the acceptors' durable votes: a value is chosen in
  ** a slot once a majority accepted it durably in one ballot */
  slot_votes votes[MAXSLOTS + 1];
  uint64_t chosen_h[MAXSLOTS + 1];
  bool chosen_set[MAXSLOTS + 1];
  uint32_t proposed_len[MAXIDS];     /* 0: never proposed */
  uint64_t max_applied;
  bool chosen_ids[MAXIDS];
  bool acked[MAXIDS];                /* proposal_done(id, 0) seen: the client was told */
  /* liveness phase */
  bool healing;
  uint8_t core;                      /* members that must converge */
  /* fault knobs */
  bool faults, real_store;
  char base[64];
  uint32_t drop_pm, dup_pm, max_delay, crash_pm, wipe_pm, part_pm, disk_ms, fault_steps;
  paxos_sim_totals t;
} sim;

void sim_fail(sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_trace(sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t sim_fnv(uint64_t h, const void *p, size_t n);
/* Fold one event into the run's trace hash. */
void sim_hash(sim *s, uint32_t tag, uint64_t a, uint64_t b, const void *data, size_t len);
/* The hash apply() gives a slot's values; also used on raw batch blobs. */
uint64_t sim_batch_hash(const paxos_value *vals, uint32_t n);
uint32_t sim_value_len(uint64_t id);
void sim_value_fill(uint64_t id, uint8_t *b);

/* paxos_sim_check.c */
void chk_vote(sim *s, node *nd, const paxos_rec *r);
void chk_durable(sim *s, node *nd, const paxos_msg *m);
void chk_apply(sim *s, node *nd, uint64_t slot, const paxos_value *vals, uint32_t n);
void chk_snapshot(sim *s, node *nd, uint64_t slot, uint64_t state);
void chk_done(sim *s, node *nd, uint64_t id, uint64_t slot);
void chk_step(sim *s);
/* Whether the core converged; if not, why (the first unmet condition). */
bool chk_converged(sim *s, uint64_t probe, char *why, size_t cap);
void chk_free(sim *s);

#endif
