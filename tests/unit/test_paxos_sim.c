/*
** The Multi-Paxos simulator over many seeds (tests/unit/paxos_sim.c has the
** model and the checked properties). A failing seed is printed; replay it
** with PAXOS_SIM_SEED=<n> (PAXOS_SIM_TRACE=1 to see every event).
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "paxos_sim.h"

static void run_range(uint64_t from, uint64_t to, bool store, paxos_sim_totals *t) {
  char why[512];
  for (uint64_t seed = from; seed < to; seed++) {
    if (paxos_sim_run(seed, false, store, t, why, sizeof why) != 0)
      cr_assert_fail("seed %llu failed%s: %s\n  replay: PAXOS_SIM_SEED=%llu%s PAXOS_SIM_TRACE=1",
                     (unsigned long long)seed, store ? " (real store)" : "", why,
                     (unsigned long long)seed, store ? " PAXOS_SIM_STORE=1" : "");
  }
}

static void report(const char *name, const paxos_sim_totals *t) {
  fprintf(stderr,
          "%s: %llu seeds, %llu steps, %llu msgs (%llu dropped, %llu duplicated), %llu crashes, "
          "%llu wiped disks (%llu rejoined), %llu partitions, %llu torn persists, %llu leader "
          "terms, %llu chosen slots, %llu values, %llu snapshots installed, %llu lease-valid "
          "checks, %llu lost-proposal reports, %llu slots with several values, slowest heal %llu ms\n",
          name, (unsigned long long)t->seeds, (unsigned long long)t->steps,
          (unsigned long long)t->msgs, (unsigned long long)t->drops,
          (unsigned long long)t->dups, (unsigned long long)t->crashes,
          (unsigned long long)t->wipes, (unsigned long long)t->rejoins,
          (unsigned long long)t->partitions, (unsigned long long)t->torn_persists,
          (unsigned long long)t->leader_terms, (unsigned long long)t->chosen_slots,
          (unsigned long long)t->values, (unsigned long long)t->snapshots_sent,
          (unsigned long long)t->lease_reads, (unsigned long long)t->lost_reports, (unsigned long long)t->batched_slots,
          (unsigned long long)t->heal_ms_max);
}

/* The faults must actually happen, or the safety checks prove nothing. */
static void check_coverage(const paxos_sim_totals *t) {
  cr_assert_gt(t->crashes, t->seeds);
  cr_assert_gt(t->wipes, 10);
  /* (paxos_sim_run fails a seed that ends with a member still rejoining;
  ** a learner wiped again before it rejoined counts two wipes, one rejoin) */
  cr_assert_gt(t->rejoins, 10);
  cr_assert_gt(t->partitions, 20);
  cr_assert_gt(t->drops, 1000);
  cr_assert_gt(t->dups, 1000);
  cr_assert_gt(t->torn_persists, 10);
  cr_assert_gt(t->leader_terms, 2 * t->seeds);
  cr_assert_gt(t->chosen_slots, 50 * t->seeds);
  cr_assert_gt(t->snapshots_sent, 10);
  cr_assert_gt(t->lease_reads, 1000);
  cr_assert_gt(t->batched_slots, 100);
}

Test(paxos_sim, replay_one_seed) {
  const char *e = getenv("PAXOS_SIM_SEED");
  if (!e) return; /* only on request: the seed sweeps below cover the rest */
  paxos_sim_totals t = {0};
  char why[512];
  int rc = paxos_sim_run(strtoull(e, NULL, 10), getenv("PAXOS_SIM_TRACE") != NULL,
                         getenv("PAXOS_SIM_STORE") != NULL, &t, why, sizeof why);
  report("replay", &t);
  cr_assert_eq(rc, 0, "%s", why);
}

/* A longer sweep on request: PAXOS_SIM_SEEDS=from:to. */
Test(paxos_sim, sweep_on_request) {
  const char *e = getenv("PAXOS_SIM_SEEDS");
  if (!e) return;
  char *colon;
  uint64_t from = strtoull(e, &colon, 10);
  uint64_t to = *colon == ':' ? strtoull(colon + 1, NULL, 10) : from + 1;
  paxos_sim_totals t = {0};
  run_range(from, to, getenv("PAXOS_SIM_STORE") != NULL, &t);
  report("sweep", &t);
}

Test(paxos_sim, seeds_0_to_249, .timeout = 60) {
  paxos_sim_totals t = {0};
  run_range(0, 250, false, &t);
  report("seeds 0-249", &t);
  check_coverage(&t);
}

Test(paxos_sim, seeds_250_to_499, .timeout = 60) {
  paxos_sim_totals t = {0};
  run_range(250, 500, false, &t);
  report("seeds 250-499", &t);
  check_coverage(&t);
}

Test(paxos_sim, seeds_500_to_749, .timeout = 60) {
  paxos_sim_totals t = {0};
  run_range(500, 750, false, &t);
  report("seeds 500-749", &t);
  check_coverage(&t);
}

Test(paxos_sim, seeds_750_to_999, .timeout = 60) {
  paxos_sim_totals t = {0};
  run_range(750, 1000, false, &t);
  report("seeds 750-999", &t);
  check_coverage(&t);
}

/* The same simulation with every replica on a real paxos_store (its files in
** a temporary directory, fsync stubbed out): restarts and wipes recover
** through the store's replay, compaction runs for real. */
Test(paxos_sim, real_store_seeds_0_to_59, .timeout = 60) {
  paxos_sim_totals t = {0};
  run_range(0, 60, true, &t);
  report("real store, seeds 0-59", &t);
  cr_assert_gt(t.crashes, t.seeds);
  cr_assert_gt(t.wipes, 3);
  cr_assert_gt(t.snapshots_sent, 10);
}
