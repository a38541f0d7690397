/*
** Internal to the tests: a deterministic simulator for the Multi-Paxos core
** (coordinator/paxos/paxos.h). 3 or 5 replicas with a simulated disk
** (records become durable after a delay; a crash loses what is not yet
** durable, or keeps a prefix of it), a network that drops, duplicates,
** delays, reorders and partitions (every message goes through the wire
** codec), crashes that lose volatile state, wiped disks, and clients that
** forward to the leader and retry lost proposals. One seeded PRNG and a
** simulated clock: a seed replays exactly.
**
** Checked after every step: no slot is applied with two different values
** anywhere; every applied value was proposed by a client, with that
** content; every replica's state machine is identical after the same slot;
** apply runs in slot order; a replica that says it holds the lease has
** applied every slot any replica applied. At the end, after faults stop:
** a value proposed after healing is chosen and applied everywhere within
** a bounded simulated time.
*/
#ifndef SYN_TEST_PAXOS_SIM_H
#define SYN_TEST_PAXOS_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct paxos_sim_totals {
  uint64_t seeds, steps, msgs, drops, dups, crashes, wipes, rejoins, partitions, leader_terms,
      chosen_slots, values, snapshots_sent, lease_reads, torn_persists, lost_reports,
      batched_slots, heal_ms_max;
} paxos_sim_totals;

/* Run one seed. Returns 0, or -1 with the first violated property in why.
** trace prints every event to stderr. real_store: every replica also
** writes a paxos_store in a temporary directory (fsync replaced by a no-op)
** and recovers from it after a crash or a wipe. Adds this seed's counters
** to *tot. */
int paxos_sim_run(uint64_t seed, bool trace, bool real_store, paxos_sim_totals *tot, char *why,
                  size_t cap);

#endif
