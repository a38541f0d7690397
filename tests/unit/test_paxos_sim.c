/*
** The Multi-Paxos simulator over many seeds (tests/unit/paxos_sim.h lists
** the model and the checked properties).
**
** By default: model-disk seeds 0..SIM_DEFAULT_SEEDS-1 in SIM_PARTS tests,
** real-store seeds 0..SIM_STORE_SEEDS-1, and a determinism check. On
** request (the default sweeps then skip):
**   SYNOD_SIM_SEEDS=N      seeds 0..N-1 (SYNOD_SIM_SEEDS=a:b: seeds a..b-1)
**   SYNOD_SIM_SEED=n       one seed (SYNOD_SIM_TRACE=1: every event)
**   SYNOD_SIM_STORE=1      on real paxos_stores instead of the model disk
** A failing seed prints the exact command line that replays it.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "paxos_sim.h"

/* Sanitizer builds (meson passes -DSYNOD_SIM_SANITIZED when b_sanitize is
** not none) run half the seeds: under ASan+UBSan the full set takes about
** 47 s on an idle 2-core machine but over 120 s when other builds share it.
** The plain build always runs all of them. */
#ifdef SYNOD_SIM_SANITIZED
#define SIM_DEFAULT_SEEDS 1000
#define SIM_STORE_SEEDS 60
#else
#define SIM_DEFAULT_SEEDS 2000
#define SIM_STORE_SEEDS 120
#endif
#define SIM_PARTS 8

static bool on_request(void) {
  return getenv("SYNOD_SIM_SEEDS") != NULL || getenv("SYNOD_SIM_SEED") != NULL;
}

static void print_replay(uint64_t seed, bool store, const char *why) {
  char exe[512];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) n = (ssize_t)snprintf(exe, sizeof exe, "tests/test_paxos_sim");
  exe[n] = '\0';
  fprintf(stderr,
          "seed %llu failed%s: %s\n  replay: SYNOD_SIM_SEED=%llu%s SYNOD_SIM_TRACE=1 %s "
          "--filter 'paxos_sim/replay_one_seed'\n",
          (unsigned long long)seed, store ? " (real store)" : "", why, (unsigned long long)seed,
          store ? " SYNOD_SIM_STORE=1" : "", exe);
}

static void report(const char *name, const paxos_sim_totals *t) {
  fprintf(stderr,
          "%s: %llu seeds, %llu steps, %llu msgs (%llu dropped, %llu duplicated), %llu crashes, "
          "%llu wiped disks (%llu rejoined), %llu partitions (%llu asymmetric, %llu aimed at "
          "the leader), %llu torn persists, %llu leader terms, %llu chosen slots (%llu by the "
          "votes), %llu values (%llu acknowledged), %llu snapshots installed, %llu lease-valid "
          "checks, %llu lost-proposal reports, %llu slots with several values, %llu partial "
          "heals; worst after the heal: probe chosen in %llu ticks, converged in %llu ticks "
          "(bound %d)\n",
          name, (unsigned long long)t->seeds, (unsigned long long)t->steps,
          (unsigned long long)t->msgs, (unsigned long long)t->drops,
          (unsigned long long)t->dups, (unsigned long long)t->crashes,
          (unsigned long long)t->wipes, (unsigned long long)t->rejoins,
          (unsigned long long)t->partitions, (unsigned long long)t->asym_partitions,
          (unsigned long long)t->leader_isolations, (unsigned long long)t->torn_persists,
          (unsigned long long)t->leader_terms, (unsigned long long)t->chosen_slots,
          (unsigned long long)t->chosen_by_votes, (unsigned long long)t->values,
          (unsigned long long)t->acked, (unsigned long long)t->snapshots_sent,
          (unsigned long long)t->lease_reads, (unsigned long long)t->lost_reports,
          (unsigned long long)t->batched_slots, (unsigned long long)t->core_heals,
          (unsigned long long)t->probe_ticks_max, (unsigned long long)t->heal_ticks_max,
          LIVENESS_TICKS);
}

/* Every seed in [from, to); a failing seed does not stop the sweep (each
** is printed with its replay line). Returns the number that failed. */
static uint64_t run_range(uint64_t from, uint64_t to, bool store, bool progress,
                          paxos_sim_totals *t) {
  char why[512];
  paxos_sim_opts o = {.real_store = store};
  uint64_t failed = 0;
  for (uint64_t seed = from; seed < to; seed++) {
    if (paxos_sim_run(seed, &o, t, NULL, why, sizeof why) != 0) {
      print_replay(seed, store, why);
      failed++;
    }
    if (progress && (seed + 1 - from) % 10000 == 0) {
      char name[64];
      snprintf(name, sizeof name, "seeds %llu-%llu", (unsigned long long)from,
               (unsigned long long)seed);
      report(name, t);
      fprintf(stderr, "  (%llu failed so far)\n", (unsigned long long)failed);
    }
  }
  return failed;
}

/* The faults must actually happen, or the safety checks prove nothing. */
static void check_coverage(const paxos_sim_totals *t) {
  cr_assert_gt(t->crashes, t->seeds);
  cr_assert_gt(t->wipes, 10);
  /* (paxos_sim_run fails a seed that ends with a core member still
  ** rejoining; a learner wiped again before it rejoined counts two wipes) */
  cr_assert_gt(t->rejoins, 10);
  cr_assert_gt(t->partitions, 20);
  cr_assert_gt(t->asym_partitions, 10);
  cr_assert_gt(t->leader_isolations, 5);
  cr_assert_gt(t->drops, 1000);
  cr_assert_gt(t->dups, 1000);
  cr_assert_gt(t->torn_persists, 10);
  cr_assert_gt(t->leader_terms, 2 * t->seeds);
  cr_assert_gt(t->chosen_slots, 50 * t->seeds);
  cr_assert_geq(t->chosen_by_votes, t->chosen_slots);
  cr_assert_gt(t->acked, 10 * t->seeds);
  cr_assert_gt(t->snapshots_sent, 10);
  cr_assert_gt(t->lease_reads, 1000);
  cr_assert_gt(t->batched_slots, 100);
  cr_assert_gt(t->core_heals, t->seeds / 4);
}

static void sweep_part(int part) {
  if (on_request()) cr_skip_test("SYNOD_SIM_SEED(S) set: only the requested seeds run");
  uint64_t per = SIM_DEFAULT_SEEDS / SIM_PARTS;
  uint64_t from = (uint64_t)part * per, to = from + per;
  paxos_sim_totals t = {0};
  uint64_t failed = run_range(from, to, false, false, &t);
  char name[64];
  snprintf(name, sizeof name, "seeds %llu-%llu", (unsigned long long)from,
           (unsigned long long)to - 1);
  report(name, &t);
  cr_assert_eq(failed, 0, "%llu seeds failed (printed above with their replay lines)",
               (unsigned long long)failed);
  check_coverage(&t);
}

#define SWEEP(k) \
  Test(paxos_sim, seeds_part_##k, .timeout = 60) { sweep_part(k); }
SWEEP(0)
SWEEP(1)
SWEEP(2)
SWEEP(3)
SWEEP(4)
SWEEP(5)
SWEEP(6)
SWEEP(7)

/* The same simulation with every replica on a real paxos_store (its files in
** a temporary directory, fsync stubbed out): restarts and wipes recover
** through the store's replay, compaction runs for real. */
Test(paxos_sim, real_store_seeds, .timeout = 60) {
  if (on_request()) cr_skip_test("SYNOD_SIM_SEED(S) set: only the requested seeds run");
  paxos_sim_totals t = {0};
  uint64_t failed = run_range(0, SIM_STORE_SEEDS, true, false, &t);
  report("real store", &t);
  cr_assert_eq(failed, 0, "%llu real-store seeds failed", (unsigned long long)failed);
  cr_assert_gt(t.crashes, t.seeds);
  cr_assert_gt(t.wipes, 3);
  cr_assert_gt(t.snapshots_sent, 10);
}

/* A seed replays exactly: the same trace hash twice (the model has no other
** source of randomness or time), and different seeds give different runs. */
Test(paxos_sim, determinism, .timeout = 60) {
  static const uint64_t seeds[] = {0, 1, 2, 77, 1234, 99991};
  uint64_t h[6], again;
  char why[512];
  for (size_t i = 0; i < 6; i++) {
    paxos_sim_opts o = {.real_store = i == 5};
    cr_assert_eq(paxos_sim_run(seeds[i], &o, NULL, &h[i], why, sizeof why), 0, "%s", why);
    cr_assert_eq(paxos_sim_run(seeds[i], &o, NULL, &again, why, sizeof why), 0, "%s", why);
    cr_assert_eq(h[i], again, "seed %llu: trace hash %016llx, then %016llx",
                 (unsigned long long)seeds[i], (unsigned long long)h[i],
                 (unsigned long long)again);
    for (size_t j = 0; j < i; j++)
      cr_assert_neq(h[i], h[j], "seeds %llu and %llu gave the same trace",
                    (unsigned long long)seeds[i], (unsigned long long)seeds[j]);
  }
  /* The real store replays like the model disk: same events, same hash. */
  paxos_sim_opts model = {0};
  cr_assert_eq(paxos_sim_run(seeds[5], &model, NULL, &again, why, sizeof why), 0, "%s", why);
  cr_assert_eq(h[5], again, "seed %llu: real store and model disk diverged",
               (unsigned long long)seeds[5]);
}

Test(paxos_sim, replay_one_seed) {
  const char *e = getenv("SYNOD_SIM_SEED");
  if (!e) cr_skip_test("set SYNOD_SIM_SEED=n to replay one seed");
  paxos_sim_totals t = {0};
  char why[512];
  uint64_t h = 0;
  char *end;
  uint64_t seed = strtoull(e, &end, 10);
  cr_assert(end != e && *end == '\0', "SYNOD_SIM_SEED=%s: want a seed number", e);
  bool store = getenv("SYNOD_SIM_STORE") != NULL;
  paxos_sim_opts o = {.trace = getenv("SYNOD_SIM_TRACE") != NULL, .real_store = store};
  int rc = paxos_sim_run(seed, &o, &t, &h, why, sizeof why);
  report("replay", &t);
  fprintf(stderr, "seed %llu: trace hash %016llx\n", (unsigned long long)seed,
          (unsigned long long)h);
  if (rc != 0) print_replay(seed, store, why);
  cr_assert_eq(rc, 0, "%s", why);
}

/* A longer sweep on request: SYNOD_SIM_SEEDS=N (seeds 0..N-1) or a:b. */
Test(paxos_sim, sweep_on_request) {
  const char *e = getenv("SYNOD_SIM_SEEDS");
  if (!e) cr_skip_test("set SYNOD_SIM_SEEDS=N or a:b for a longer sweep");
  char *colon, *end;
  uint64_t a = strtoull(e, &colon, 10), from = 0, to = a;
  end = colon;
  if (*colon == ':') {
    from = a;
    to = strtoull(colon + 1, &end, 10);
  }
  cr_assert(colon != e && *end == '\0' && end != colon + 1 && from < to,
            "SYNOD_SIM_SEEDS=%s: want N (seeds 0..N-1) or a:b (seeds a..b-1, a < b)", e);
  paxos_sim_totals t = {0};
  uint64_t failed = run_range(from, to, getenv("SYNOD_SIM_STORE") != NULL, true, &t);
  char name[64];
  snprintf(name, sizeof name, "sweep %llu-%llu", (unsigned long long)from,
           (unsigned long long)to - 1);
  report(name, &t);
  cr_assert_eq(failed, 0, "%llu of %llu seeds failed", (unsigned long long)failed,
               (unsigned long long)(to - from));
}

/* Seeds that found liveness bugs in the core, both in the partial-heal
** mode: a leader that could send but not hear kept the followers loyal
** forever (604 and the others in its row; fixed by the leader's check quorum
** in paxos_leader.c), and a new leader waited forever for catch-up from the
** one member whose snapshot it needed, which had crashed for good (19652;
** fixed by asking every member in turn), or which nobody else could serve
** (27341; fixed by a new ballot when recovery makes no progress). They must
** stay live, on both disks. */
Test(paxos_sim, regression_liveness, .timeout = 60) {
  static const uint64_t seeds[] = {604, 623, 1780, 1792, 1881, 1883, 1895, 1922, 1961, 1981,
                                   19652, 27341};
  char why[512];
  for (int store = 0; store < 2; store++)
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
      paxos_sim_opts o = {.real_store = store};
      int rc = paxos_sim_run(seeds[i], &o, NULL, NULL, why, sizeof why);
      if (rc != 0) print_replay(seeds[i], store, why);
      cr_assert_eq(rc, 0, "seed %llu: %s", (unsigned long long)seeds[i], why);
    }
}
