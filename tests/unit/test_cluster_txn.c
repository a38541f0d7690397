/*
** The coordinator's cluster services against three real participants:
** routing, one-phase and two-phase commit, rollback, first-updater-wins,
** deadlock detection, unique violations, an unreachable participant, and
** recovery of a logged commit after a coordinator restart.
*/
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/failpoint.h"
#include "tests/cluster/harness.h"

static syn_value I(int64_t v) { return (syn_value){.type = SYN_V_INT, .u.i = v}; }
static syn_value T(const char *s) {
  return (syn_value){.type = SYN_V_TEXT, .u.b = {(const uint8_t *)s, strlen(s)}};
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static cat_table *make_table(harness *h, const char *name) {
  cat_table *def = h_table_kv(name);
  syn_err e;
  cr_assert(cl_create_table(h->cl, def, false, &e) == 0, "create: %s", e.msg);
  cat_table_free(def);
  cat_table *t;
  cr_assert(cl_table_get(h->cl, name, &t, &e) == 0, "%s", e.msg);
  return t;
}

/* Write one op (insert/update) of (k, v, s). */
static int put(cl_txn *tx, const cat_table *t, cl_write_mode mode, int64_t k, int64_t v,
               syn_err *e) {
  syn_value row[3] = {I(k), I(v), T("x")};
  syn_value key[1] = {I(k)};
  cl_write_op op = {.mode = mode, .row = row, .key = key, .nkey = 1, .dist_value = &key[0]};
  return cl_write(tx, t, &op, 1, e);
}

typedef struct collect {
  int n;
  int64_t k[512], v[512];
} collect;

static int on_row(void *ud, const cl_row *r) {
  collect *c = ud;
  cr_assert(r->nvals == 3);
  if (c->n < 512) {
    c->k[c->n] = r->vals[0].u.i;
    c->v[c->n] = r->vals[1].u.i;
  }
  c->n++;
  return 0;
}

static int scan_all(cl_cluster *cl, const cat_table *t, collect *c, syn_err *e) {
  cl_txn *tx;
  int rc = cl_txn_begin(cl, CL_REPEATABLE_READ, &tx, e);
  if (rc < 0) return rc;
  memset(c, 0, sizeof *c);
  cl_scan_spec spec = {0};
  rc = cl_scan(tx, t, &spec, on_row, c, e);
  cl_rollback(tx);
  cl_txn_free(tx);
  return rc;
}

static int point_read(cl_cluster *cl, const cat_table *t, int64_t k, collect *c, syn_err *e) {
  cl_txn *tx;
  int rc = cl_txn_begin(cl, CL_REPEATABLE_READ, &tx, e);
  if (rc < 0) return rc;
  memset(c, 0, sizeof *c);
  syn_value key = I(k);
  cl_scan_spec spec = {.key = &key, .nkey = 1};
  rc = cl_scan(tx, t, &spec, on_row, c, e);
  cl_rollback(tx);
  cl_txn_free(tx);
  return rc;
}

Test(cluster_txn, spread_point_reads_and_2pc) {
  harness h;
  h_start(&h, 3);
  cat_table *t = make_table(&h, "kv");
  syn_err e;
  cl_txn *tx;
  cr_assert(cl_txn_begin(h.cl, CL_READ_COMMITTED, &tx, &e) == 0, "%s", e.msg);
  for (int k = 1; k <= 60; k++) cr_assert(put(tx, t, CL_INSERT, k, k * 10, &e) == 0, "%s", e.msg);
  uint64_t cts = 0;
  cr_assert(cl_commit(tx, &cts, &e) == 0, "commit: %s", e.msg);
  cr_assert(cts > 0);
  uint64_t txn = cl_txn_id(tx);
  cl_txn_free(tx);
  /* Rows spread over every participant and all committed there. */
  int total = 0;
  for (int i = 0; i < 3; i++) {
    int n = h_count_rows(&h, i, (uint32_t)t->id, cts);
    cr_assert(n > 0, "participant p%d holds no row (%d)", i + 1, n);
    total += n;
    cr_assert_eq(h_txn_state(&h, i, txn), 2, "p%d: txn not committed", i + 1);
  }
  cr_assert_eq(total, 60);
  collect c;
  cr_assert(scan_all(h.cl, t, &c, &e) == 0, "%s", e.msg);
  cr_assert_eq(c.n, 60);
  for (int k = 1; k <= 60; k += 7) {
    cr_assert(point_read(h.cl, t, k, &c, &e) == 0, "%s", e.msg);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.v[0], k * 10);
  }
  cr_assert(point_read(h.cl, t, 999, &c, &e) == 0);
  cr_assert_eq(c.n, 0);
  /* limit across shards */
  cr_assert(cl_txn_begin(h.cl, CL_REPEATABLE_READ, &tx, &e) == 0);
  memset(&c, 0, sizeof c);
  cl_scan_spec lim = {.limit = 7};
  cr_assert(cl_scan(tx, t, &lim, on_row, &c, &e) == 0, "%s", e.msg);
  cr_assert_eq(c.n, 7);
  /* filter pushdown */
  memset(&c, 0, sizeof c);
  syn_value p1 = I(100);
  cl_scan_spec flt = {.filter = "v > ?1", .params = &p1, .nparams = 1};
  cr_assert(cl_scan(tx, t, &flt, on_row, &c, &e) == 0, "%s", e.msg);
  cr_assert_eq(c.n, 50);
  cl_rollback(tx);
  cl_txn_free(tx);
  cat_table_free(t);
  h_stop(&h);
}

Test(cluster_txn, one_phase_read_only_and_rollback) {
  harness h;
  h_start(&h, 3);
  cat_table *t = make_table(&h, "kv");
  syn_err e;
  cl_txn *tx;
  /* single shard: one-phase commit */
  cr_assert(cl_txn_begin(h.cl, CL_READ_COMMITTED, &tx, &e) == 0);
  cr_assert(put(tx, t, CL_INSERT, 5, 50, &e) == 0, "%s", e.msg);
  uint64_t cts = 0;
  cr_assert(cl_commit(tx, &cts, &e) == 0, "%s", e.msg);
  cr_assert(cts > 0);
  uint64_t one = cl_txn_id(tx);
  cl_txn_free(tx);
  int committed = 0;
  for (int i = 0; i < 3; i++) committed += h_txn_state(&h, i, one) == 2;
  cr_assert_eq(committed, 1, "a one-phase commit touches exactly one participant");
  /* read-only: nothing to do */
  cr_assert(cl_txn_begin(h.cl, CL_REPEATABLE_READ, &tx, &e) == 0);
  collect c = {0};
  cl_scan_spec spec = {0};
  cr_assert(cl_scan(tx, t, &spec, on_row, &c, &e) == 0);
  cr_assert_eq(c.n, 1);
  cr_assert(cl_commit(tx, &cts, &e) == 0, "%s", e.msg);
  cl_txn_free(tx);
  /* own writes visible inside, rollback leaves nothing */
  cr_assert(cl_txn_begin(h.cl, CL_READ_COMMITTED, &tx, &e) == 0);
  for (int k = 100; k < 130; k++) cr_assert(put(tx, t, CL_INSERT, k, 1, &e) == 0, "%s", e.msg);
  memset(&c, 0, sizeof c);
  cr_assert(cl_scan(tx, t, &spec, on_row, &c, &e) == 0);
  cr_assert_eq(c.n, 31, "read-your-writes");
  uint64_t rb = cl_txn_id(tx);
  cl_rollback(tx);
  cl_rollback(tx); /* idempotent */
  cl_txn_free(tx);
  cr_assert(scan_all(h.cl, t, &c, &e) == 0);
  cr_assert_eq(c.n, 1);
  for (int i = 0; i < 3; i++) {
    int st = h_txn_state(&h, i, rb);
    cr_assert(st == 3 || st == -1, "p%d: rolled back txn in state %d", i + 1, st);
  }
  cat_table_free(t);
  h_stop(&h);
}

Test(cluster_txn, first_updater_wins_and_unique) {
  harness h;
  h_start(&h, 3);
  cat_table *t = make_table(&h, "kv");
  syn_err e;
  cl_txn *a, *b;
  cr_assert(cl_txn_begin(h.cl, CL_READ_COMMITTED, &a, &e) == 0);
  cr_assert(put(a, t, CL_INSERT, 1, 1, &e) == 0);
  cr_assert(cl_commit(a, NULL, &e) == 0, "%s", e.msg);
  cl_txn_free(a);

  cr_assert(cl_txn_begin(h.cl, CL_REPEATABLE_READ, &a, &e) == 0);
  cr_assert(cl_txn_begin(h.cl, CL_REPEATABLE_READ, &b, &e) == 0);
  cr_assert(put(b, t, CL_UPDATE, 1, 2, &e) == 0, "%s", e.msg);
  cr_assert(cl_commit(b, NULL, &e) == 0, "%s", e.msg);
  cl_txn_free(b);
  int rc = put(a, t, CL_UPDATE, 1, 3, &e);
  cr_assert_eq(rc, CL_ECONFLICT, "got %d: %s", rc, e.msg);
  cr_assert(strncmp(e.msg, "40001", 5) == 0, "%s", e.msg);
  cl_rollback(a);
  cl_txn_free(a);

  cr_assert(cl_txn_begin(h.cl, CL_READ_COMMITTED, &a, &e) == 0);
  rc = put(a, t, CL_INSERT, 1, 9, &e);
  cr_assert_eq(rc, CL_EUNIQUE, "got %d: %s", rc, e.msg);
  cr_assert(strstr(e.msg, "23505") && strstr(e.msg, "kv_pkey"), "%s", e.msg);
  cl_rollback(a);
  cl_txn_free(a);
  cat_table_free(t);
  h_stop(&h);
}

typedef struct dl_arg {
  harness *h;
  const cat_table *t;
  cl_txn *tx;
  int64_t second;
  int rc;
  uint64_t ms;
  pthread_barrier_t *bar;
} dl_arg;

static void *dl_thread(void *p) {
  dl_arg *a = p;
  syn_err e;
  pthread_barrier_wait(a->bar);
  uint64_t t0 = now_ms();
  a->rc = put(a->tx, a->t, CL_UPDATE, a->second, 7, &e);
  a->ms = now_ms() - t0;
  if (a->rc == 0) a->rc = cl_commit(a->tx, NULL, &e);
  else cl_rollback(a->tx);
  return NULL;
}

Test(cluster_txn, deadlock_detected) {
  harness h;
  h_start(&h, 3);
  cat_table *t = make_table(&h, "kv");
  syn_err e;
  cl_txn *x;
  cr_assert(cl_txn_begin(h.cl, CL_READ_COMMITTED, &x, &e) == 0);
  cr_assert(put(x, t, CL_INSERT, 1, 0, &e) == 0 && put(x, t, CL_INSERT, 2, 0, &e) == 0);
  cr_assert(cl_commit(x, NULL, &e) == 0, "%s", e.msg);
  cl_txn_free(x);

  cl_txn *a, *b;
  cr_assert(cl_txn_begin(h.cl, CL_READ_COMMITTED, &a, &e) == 0);
  cr_assert(cl_txn_begin(h.cl, CL_READ_COMMITTED, &b, &e) == 0);
  cr_assert(put(a, t, CL_UPDATE, 1, 1, &e) == 0, "%s", e.msg);
  cr_assert(put(b, t, CL_UPDATE, 2, 2, &e) == 0, "%s", e.msg);
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, 2);
  dl_arg aa = {&h, t, a, 2, 0, 0, &bar}, bb = {&h, t, b, 1, 0, 0, &bar};
  pthread_t ta, tb;
  pthread_create(&ta, NULL, dl_thread, &aa);
  pthread_create(&tb, NULL, dl_thread, &bb);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  pthread_barrier_destroy(&bar);
  int dead = (aa.rc == CL_EDEADLOCK) + (bb.rc == CL_EDEADLOCK);
  int ok = (aa.rc == 0) + (bb.rc == 0);
  cr_assert_eq(dead, 1, "a=%d b=%d", aa.rc, bb.rc);
  cr_assert_eq(ok, 1, "a=%d b=%d", aa.rc, bb.rc);
  uint64_t victim_ms = aa.rc == CL_EDEADLOCK ? aa.ms : bb.ms;
  cr_assert(victim_ms < 2000, "deadlock found after %llu ms", (unsigned long long)victim_ms);
  cl_txn_free(a);
  cl_txn_free(b);
  collect c;
  cr_assert(scan_all(h.cl, t, &c, &e) == 0);
  cr_assert_eq(c.n, 2);
  cat_table_free(t);
  h_stop(&h);
}

Test(cluster_txn, participant_down) {
  harness h;
  h_start(&h, 3);
  cat_table *t = make_table(&h, "kv");
  syn_err e;
  /* keys on every participant, one txn writing them all */
  cl_txn *tx;
  cr_assert(cl_txn_begin(h.cl, CL_READ_COMMITTED, &tx, &e) == 0);
  for (int k = 1; k <= 30; k++) cr_assert(put(tx, t, CL_INSERT, k, k, &e) == 0, "%s", e.msg);
  h_kill(&h, 1);
  uint64_t t0 = now_ms();
  int rc = cl_commit(tx, NULL, &e);
  uint64_t took = now_ms() - t0;
  cr_assert_eq(rc, CL_EUNAVAILABLE, "commit with p2 dead: %d %s", rc, e.msg);
  cr_assert(strstr(e.msg, "p2") && strncmp(e.msg, "08006", 5) == 0, "%s", e.msg);
  cr_assert(took < 8000, "took %llu ms", (unsigned long long)took);
  uint64_t txn = cl_txn_id(tx);
  cl_txn_free(tx);
  /* nothing half-committed on the living participants */
  for (int i = 0; i < 3; i += 2) {
    int st = -2;
    for (int k = 0; k < 100; k++) {
      st = h_txn_state(&h, i, txn);
      if (st == 3 || st == -1) break;
      usleep(50 * 1000);
    }
    cr_assert(st == 3 || st == -1, "p%d: txn in state %d", i + 1, st);
  }
  /* a scan over every shard names the dead one, within the timeout */
  cr_assert(cl_txn_begin(h.cl, CL_READ_COMMITTED, &tx, &e) == 0);
  collect c = {0};
  cl_scan_spec spec = {0};
  t0 = now_ms();
  rc = cl_scan(tx, t, &spec, on_row, &c, &e);
  took = now_ms() - t0;
  cr_assert_eq(rc, CL_EUNAVAILABLE, "%d %s", rc, e.msg);
  cr_assert(strstr(e.msg, "p2") && strncmp(e.msg, "08006", 5) == 0, "%s", e.msg);
  cr_assert(took < 5000, "took %llu ms", (unsigned long long)took);
  cl_rollback(tx);
  cl_txn_free(tx);
  cat_table_free(t);
  h_stop(&h);
}

Test(cluster_txn, recovery_redrives_logged_commit) {
  harness h;
  h_start(&h, 3);
  cat_table *t = make_table(&h, "kv");
  syn_err e;
  cl_txn *tx;
  cr_assert(cl_txn_begin(h.cl, CL_READ_COMMITTED, &tx, &e) == 0);
  for (int k = 1; k <= 30; k++) cr_assert(put(tx, t, CL_INSERT, k, k, &e) == 0, "%s", e.msg);
  /* The decision becomes durable, then the coordinator "loses" it before
  ** phase two (the client hears UNKNOWN) and goes down. */
  cr_assert(failpoint_configure("coord_after_decision=error", &e) == 0, "%s", e.msg);
  int rc = cl_commit(tx, NULL, &e);
  cr_assert_eq(rc, CL_EUNKNOWN, "%d %s", rc, e.msg);
  uint64_t txn = cl_txn_id(tx);
  cl_txn_free(tx);
  cr_assert(failpoint_configure("", &e) == 0);
  h_close_cluster(&h);
  int prepared = 0;
  for (int i = 0; i < 3; i++) prepared += h_txn_state(&h, i, txn) == 1;
  cr_assert(prepared > 0, "participants should hold the txn prepared");
  /* Restart: recovery re-drives COMMIT from the log. */
  h_open_cluster(&h);
  for (int i = 0; i < 3; i++) {
    int st = -2;
    for (int k = 0; k < 100 && st != 2; k++) {
      st = h_txn_state(&h, i, txn);
      if (st != 2) usleep(50 * 1000);
    }
    cr_assert_eq(st, 2, "p%d: state %d after recovery", i + 1, st);
  }
  collect c;
  cr_assert(scan_all(h.cl, t, &c, &e) == 0, "%s", e.msg);
  cr_assert_eq(c.n, 30);
  cat_table_free(t);
  h_stop(&h);
}
