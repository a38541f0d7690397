/*
** Internal to the tests: a deterministic simulator for the 2PC core
** (txn/commit.h). One coordinator core, 2..5 participants with durable
** prepare/commit state, a first-decision-wins decision log model shared with
** a second coordinator's resolver, and a network that drops, duplicates,
** delays and reorders. Participants and the coordinator crash and restart
** (the coordinator from the durable log only). Everything is driven by one
** seeded PRNG and a simulated clock, so a seed replays exactly.
*/
#ifndef SYN_TEST_COMMIT_SIM_H
#define SYN_TEST_COMMIT_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sim_totals {
  uint64_t commits2, commits1, aborts, unknown, coord_crashes, part_crashes, resolves,
      drops, dups, log_fails, steps, ext_resolves, log_chose_abort, decide_timeouts;
} sim_totals;

/* Run one seed. Returns 0, or -1 with the first violated property in why.
** trace prints every event to stderr. Adds this seed's counters to *tot. */
int commit_sim_run(uint64_t seed, bool trace, sim_totals *tot, char *why, size_t cap);

#endif
