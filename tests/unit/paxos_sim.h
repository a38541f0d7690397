/*
** Internal to the tests: a deterministic simulator for the Multi-Paxos core
** (coordinator/paxos/paxos.h). One thread, one seeded PRNG, a simulated
** clock (every timeout is driven by it): a seed replays exactly, and the
** run's trace hash (FNV-1a over every event) proves it.
**
** 3 or 5 replicas with a simulated disk (records become durable after a
** delay; a crash loses what is not yet durable, or keeps a prefix of it),
** a network that drops, duplicates, delays and reorders (every message goes
** through the wire codec) and partitions: symmetric splits, one node or the
** leader isolated, asymmetric cuts (a node that cannot send, or cannot
** receive, or random one-way links), crashes that lose volatile state and
** restart from the durable state, wiped disks, and clients that forward to
** the leader and retry lost proposals.
**
** Checked after every step (paxos_sim_check.c): no slot has two different
** chosen values (chosen = a majority accepted it durably in one ballot,
** from the disks' point of view); every apply and snapshot matches the
** chosen value; a node's chosen prefix never changes (what it applied or
** installed for a slot, over all its lives, stays the same, and every slot
** <= its status.chosen is really chosen); a value acknowledged as chosen is
** in that slot; every applied value was proposed, with that content; state
** machines agree after every slot; a lease holder has applied every slot
** anyone applied; PROMISE/ACCEPTED/PREPARE leave only once durable.
**
** Liveness mode (every seed): after a random fault phase (4-10 s) the
** faults stop for the "core" (all members, or, on half the seeds, a
** majority while the others stay crashed, isolated, mute or deaf, the
** leader among them if possible). A value proposed 200 ms later must be
** chosen, and every core member must have applied every chosen slot and
** every value a client was told is chosen, within LIVENESS_TICKS.
*/
#ifndef SYN_TEST_PAXOS_SIM_H
#define SYN_TEST_PAXOS_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LIVENESS_TICKS 2400 /* 12 s of simulated time after the heal */

typedef struct paxos_sim_opts {
  bool trace;      /* print every event to stderr */
  bool real_store; /* every replica also writes a paxos_store in a temporary
                   ** directory (fsync replaced by a no-op) and recovers from
                   ** it after a crash or a wipe */
} paxos_sim_opts;

typedef struct paxos_sim_totals {
  uint64_t seeds, steps, msgs, drops, dups, crashes, wipes, rejoins, partitions, asym_partitions,
      leader_isolations, leader_terms, chosen_slots, chosen_by_votes, values, acked,
      snapshots_sent, lease_reads, torn_persists, lost_reports, batched_slots, core_heals;
  /* maxima over seeds, in ticks after the heal */
  uint64_t probe_ticks_max; /* until the probe value was chosen */
  uint64_t heal_ticks_max;  /* until the core converged */
} paxos_sim_totals;

/* Run one seed. Returns 0, or -1 with the first violated property in why.
** Adds this seed's counters to *tot (may be NULL); *trace_hash (may be
** NULL) gets the hash of every event of the run. */
int paxos_sim_run(uint64_t seed, const paxos_sim_opts *o, paxos_sim_totals *tot,
                  uint64_t *trace_hash, char *why, size_t cap);

#endif
