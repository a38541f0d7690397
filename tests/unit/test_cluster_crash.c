/*
** Coordinator crashes at the commit failpoints, for real: a child process
** opens the cluster on the data dir, writes to every shard and commits with
** a failpoint armed to crash (_exit 137); the parent then restarts the
** coordinator on the same data dir and checks that every participant ends
** with the same outcome: COMMIT when the decision was durable, ABORT
** (through in-doubt resolution, presumed abort) when it was not.
*/
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/failpoint.h"
#include "tests/cluster/harness.h"

static syn_value I(int64_t v) { return (syn_value){.type = SYN_V_INT, .u.i = v}; }

/* Child: returns only on failure (the failpoint should have killed it). */
static int child_commit(harness *h, const char *failpoint, uint64_t *txn_out) {
  h_open_cluster(h);
  cat_table *t;
  syn_err e;
  if (cl_table_get(h->cl, "kv", &t, &e) < 0) return 10;
  cl_txn *tx;
  if (cl_txn_begin(h->cl, CL_READ_COMMITTED, &tx, &e) < 0) return 11;
  for (int k = 1; k <= 30; k++) {
    syn_value row[3] = {I(k), I(k), {.type = SYN_V_NULL}};
    syn_value key = I(k);
    cl_write_op op = {.mode = CL_INSERT, .row = row, .key = &key, .nkey = 1};
    if (cl_write(tx, t, &op, 1, &e) < 0) return 12;
  }
  *txn_out = cl_txn_id(tx);
  if (failpoint_configure(failpoint, &e) < 0) return 13;
  cl_commit(tx, NULL, &e);
  /* Phase two runs after the client heard COMMIT: give the acks time to
  ** arrive at the failpoint. */
  usleep(3000 * 1000);
  return 14;
}

static void crash_and_recover(const char *failpoint, int want_state) {
  harness h;
  h_start(&h, 3);
  syn_err e;
  cat_table *def = h_table_kv("kv");
  cr_assert(cl_create_table(h.cl, def, false, &e) == 0, "%s", e.msg);
  cat_table_free(def);
  h_close_cluster(&h);
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    uint64_t txn = 0;
    _exit(child_commit(&h, failpoint, &txn));
  }
  int st;
  cr_assert(waitpid(pid, &st, 0) == pid);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 137, "child did not crash at %s (status %d)",
            failpoint, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  h_open_cluster(&h);
  /* Wait until no participant holds anything prepared and the outcome is
  ** visible: 30 rows for COMMIT, none for ABORT. */
  cat_table *t;
  cr_assert(cl_table_get(h.cl, "kv", &t, &e) == 0);
  int want_rows = want_state == 2 ? 30 : 0;
  int total = -1;
  for (int tries = 0; tries < 100; tries++) {
    cl_txn *tx;
    cr_assert(cl_txn_begin(h.cl, CL_READ_COMMITTED, &tx, &e) == 0);
    uint64_t ts = cl_txn_snapshot(tx);
    cl_txn_free(tx);
    total = 0;
    bool blocked = false;
    for (int i = 0; i < 3; i++) {
      int n = h_count_rows(&h, i, (uint32_t)t->id, ts);
      if (n < 0) blocked = true; /* a prepared txn blocks the read: in doubt */
      else total += n;
    }
    if (!blocked && total == want_rows) break;
    usleep(100 * 1000);
  }
  cr_assert_eq(total, want_rows, "%s: %d rows visible after recovery, want %d", failpoint, total,
               want_rows);
  cat_table_free(t);
  h_stop(&h);
}

Test(cluster_crash, after_prepare_aborts) { crash_and_recover("coord_after_prepare=crash", 3); }
Test(cluster_crash, after_decision_commits) { crash_and_recover("coord_after_decision=crash", 2); }
Test(cluster_crash, during_phase_two_commits) {
  crash_and_recover("coord_during_phase_two=crash", 2);
}

/* A transaction active when its coordinator died holds write locks at the
** participants; the restarted coordinator's ABORT_ACTIVE releases them. */
Test(cluster_crash, restart_releases_locks_of_active_txns) {
  harness h;
  h_start(&h, 3);
  syn_err e;
  cat_table *def = h_table_kv("kv");
  cr_assert(cl_create_table(h.cl, def, false, &e) == 0, "%s", e.msg);
  cat_table_free(def);
  h_close_cluster(&h);
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    h_open_cluster(&h);
    cat_table *t;
    cl_txn *tx;
    if (cl_table_get(h.cl, "kv", &t, &e) < 0 || cl_txn_begin(h.cl, CL_READ_COMMITTED, &tx, &e) < 0)
      _exit(10);
    for (int k = 1; k <= 10; k++) {
      syn_value row[3] = {I(k), I(k), {.type = SYN_V_NULL}};
      syn_value key = I(k);
      cl_write_op op = {.mode = CL_INSERT, .row = row, .key = &key, .nkey = 1};
      if (cl_write(tx, t, &op, 1, &e) < 0) _exit(11);
    }
    _exit(137); /* dies with the locks held */
  }
  int st;
  cr_assert(waitpid(pid, &st, 0) == pid);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 137);
  h_open_cluster(&h);
  cat_table *t;
  cr_assert(cl_table_get(h.cl, "kv", &t, &e) == 0);
  cl_txn *tx;
  cr_assert(cl_txn_begin(h.cl, CL_READ_COMMITTED, &tx, &e) == 0);
  for (int k = 1; k <= 10; k++) {
    syn_value row[3] = {I(k), I(-k), {.type = SYN_V_NULL}};
    syn_value key = I(k);
    cl_write_op op = {.mode = CL_INSERT, .row = row, .key = &key, .nkey = 1};
    int rc = cl_write(tx, t, &op, 1, &e);
    cr_assert_eq(rc, 0, "key %d still locked: %s", k, e.msg);
  }
  cr_assert(cl_commit(tx, NULL, &e) == 0, "%s", e.msg);
  cl_txn_free(tx);
  cat_table_free(t);
  h_stop(&h);
}
