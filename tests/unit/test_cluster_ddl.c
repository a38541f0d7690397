/*
** Catalog and DDL of the coordinator's cluster services against three real
** participants: DDL visible through cl_table_get and on every participant,
** ADD PRIMARY KEY redistribution, sequences and row ids across restarts,
** roll-forward of a DDL interrupted after its intent, undo of a refused one.
*/
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/failpoint.h"
#include "common/rpc_methods.h"
#include "coordinator/coord_int.h"
#include "tests/cluster/harness.h"
#include "txn/hash.h"

static syn_value I(int64_t v) { return (syn_value){.type = SYN_V_INT, .u.i = v}; }
static syn_value T(const char *s) {
  return (syn_value){.type = SYN_V_TEXT, .u.b = {(const uint8_t *)s, strlen(s)}};
}

typedef struct rows {
  int n;
  int ncols;
  int64_t k[256];
  int64_t last[256];
} rows;

static int on_row(void *ud, const cl_row *r) {
  rows *c = ud;
  c->ncols = r->nvals;
  if (c->n < 256) {
    c->k[c->n] = r->vals[0].u.i;
    c->last[c->n] = r->vals[r->nvals - 1].type == SYN_V_INT ? r->vals[r->nvals - 1].u.i : -1;
  }
  c->n++;
  return 0;
}

static int scan(cl_cluster *cl, const char *name, const syn_value *key, rows *c, syn_err *e) {
  cat_table *t;
  int rc = cl_table_get(cl, name, &t, e);
  if (rc < 0) return rc;
  cl_txn *tx;
  rc = cl_txn_begin(cl, CL_REPEATABLE_READ, &tx, e);
  memset(c, 0, sizeof *c);
  cl_scan_spec spec = {.key = key, .nkey = key ? 1 : 0};
  if (rc == 0) rc = cl_scan(tx, t, &spec, on_row, c, e);
  cl_rollback(tx);
  cl_txn_free(tx);
  cat_table_free(t);
  return rc;
}

static void insert_kv(harness *h, const char *name, int from, int to) {
  cat_table *t;
  syn_err e;
  cr_assert(cl_table_get(h->cl, name, &t, &e) == 0, "%s", e.msg);
  cl_txn *tx;
  cr_assert(cl_txn_begin(h->cl, CL_READ_COMMITTED, &tx, &e) == 0);
  for (int k = from; k <= to; k++) {
    syn_value row[3] = {I(k), I(k * 2), T("s")};
    syn_value key = I(k);
    if (t->npk == 0) {
      int64_t rid;
      cr_assert(cl_rowid_next(h->cl, &rid, &e) == 0);
      key = I(rid);
    }
    cl_write_op op = {.mode = CL_INSERT, .row = row, .key = &key, .nkey = 1};
    cr_assert(cl_write(tx, t, &op, 1, &e) == 0, "insert %d: %s", k, e.msg);
  }
  cr_assert(cl_commit(tx, NULL, &e) == 0, "%s", e.msg);
  cl_txn_free(tx);
  cat_table_free(t);
}

/* A current snapshot (a far-future one would be refused by the
** participants' HLC offset check). */
static uint64_t now_ts(harness *h) {
  cl_txn *tx;
  syn_err e;
  cr_assert(cl_txn_begin(h->cl, CL_READ_COMMITTED, &tx, &e) == 0);
  uint64_t ts = cl_txn_snapshot(tx);
  cl_txn_free(tx);
  return ts;
}

static bool on_every_participant(harness *h, uint32_t id) {
  uint64_t ts = now_ts(h);
  for (int i = 0; i < h->nparts; i++)
    if (h_count_rows(h, i, id, ts) < 0) return false;
  return true;
}

static bool on_no_participant(harness *h, uint32_t id) {
  uint64_t ts = now_ts(h);
  for (int i = 0; i < h->nparts; i++) {
    int n = h_count_rows(h, i, id, ts);
    if (n >= 0) return false;
  }
  return true;
}

Test(cluster_ddl, lifecycle) {
  harness h;
  h_start(&h, 3);
  syn_err e;
  uint64_t v0 = cl_catalog_version(h.cl);
  cat_table *def = h_table_kv("t");
  cr_assert(cl_create_table(h.cl, def, false, &e) == 0, "%s", e.msg);
  cr_assert_eq(cl_create_table(h.cl, def, false, &e), SYN_EEXIST);
  cr_assert(strncmp(e.msg, "42P07", 5) == 0, "%s", e.msg);
  cr_assert_eq(cl_create_table(h.cl, def, true, &e), 0);
  cat_table_free(def);
  cr_assert(cl_catalog_version(h.cl) > v0);
  cat_table *t;
  cr_assert(cl_table_get(h.cl, "t", &t, &e) == 0);
  uint32_t id = (uint32_t)t->id;
  cr_assert(id > 0);
  cat_table_free(t);
  cr_assert(on_every_participant(&h, id));
  char **names;
  size_t n;
  cr_assert(cl_table_list(h.cl, &names, &n, &e) == 0);
  cr_assert_eq(n, 1);
  cr_assert_str_eq(names[0], "t");
  free(names[0]);
  free(names);
  insert_kv(&h, "t", 1, 20);

  /* ADD COLUMN with a default fills existing rows */
  cat_column col = {.name = "w", .type_oid = CAT_OID_INT8, .typmod = -1,
                    .def_kind = CAT_DEF_EXPR, .def_sql = "5"};
  cr_assert(cl_add_column(h.cl, "t", &col, false, &e) == 0, "%s", e.msg);
  cr_assert_eq(cl_add_column(h.cl, "t", &col, false, &e), SYN_EEXIST);
  cr_assert_eq(cl_add_column(h.cl, "t", &col, true, &e), 0);
  rows r;
  cr_assert(scan(h.cl, "t", NULL, &r, &e) == 0, "%s", e.msg);
  cr_assert_eq(r.n, 20);
  cr_assert_eq(r.ncols, 4);
  cr_assert_eq(r.last[0], 5);

  cr_assert(cl_rename_column(h.cl, "t", "w", "w2", &e) == 0, "%s", e.msg);
  cr_assert(cl_table_get(h.cl, "t", &t, &e) == 0);
  cr_assert_eq(cat_table_find_column(t, "w2"), 3);
  cat_table_free(t);

  int vcol = 1;
  cr_assert(cl_create_index(h.cl, "t", "t_v_idx", &vcol, 1, false, false, &e) == 0, "%s", e.msg);
  cr_assert_eq(cl_create_index(h.cl, "t", "t_v_idx", &vcol, 1, false, false, &e), SYN_EEXIST);
  cr_assert_eq(cl_create_index(h.cl, "t", "t_v_uq", &vcol, 1, true, false, &e), SYN_EUNSUPPORTED);
  cr_assert(cl_table_get(h.cl, "t", &t, &e) == 0);
  cr_assert_eq(t->nindexes, 1);
  cat_table_free(t);
  cr_assert(cl_drop_index(h.cl, "t_v_idx", false, &e) == 0, "%s", e.msg);
  cr_assert_eq(cl_drop_index(h.cl, "t_v_idx", false, &e), SYN_ENOTFOUND);
  cr_assert_eq(cl_drop_index(h.cl, "t_v_idx", true, &e), 0);

  cr_assert_eq(cl_drop_column(h.cl, "t", "k", false, &e), SYN_EUNSUPPORTED);
  cr_assert(cl_drop_column(h.cl, "t", "w2", false, &e) == 0, "%s", e.msg);
  cr_assert(scan(h.cl, "t", NULL, &r, &e) == 0, "%s", e.msg);
  cr_assert_eq(r.ncols, 3);
  cr_assert_eq(r.n, 20);

  cr_assert(cl_truncate_table(h.cl, "t", &e) == 0, "%s", e.msg);
  cr_assert(scan(h.cl, "t", NULL, &r, &e) == 0);
  cr_assert_eq(r.n, 0);

  cr_assert(cl_drop_table(h.cl, "t", false, &e) == 0, "%s", e.msg);
  cr_assert_eq(cl_table_get(h.cl, "t", &t, &e), SYN_ENOTFOUND);
  cr_assert(strncmp(e.msg, "42P01", 5) == 0);
  cr_assert(on_no_participant(&h, id));
  cr_assert_eq(cl_drop_table(h.cl, "t", false, &e), SYN_ENOTFOUND);
  cr_assert_eq(cl_drop_table(h.cl, "t", true, &e), 0);

  /* The catalog survives a restart. */
  def = h_table_kv("u");
  cr_assert(cl_create_table(h.cl, def, false, &e) == 0);
  cat_table_free(def);
  h_close_cluster(&h);
  h_open_cluster(&h);
  cr_assert(cl_table_get(h.cl, "u", &t, &e) == 0, "%s", e.msg);
  cat_table_free(t);
  cr_assert_eq(cl_table_get(h.cl, "t", &t, &e), SYN_ENOTFOUND);
  h_stop(&h);
}

Test(cluster_ddl, add_primary_key_redistributes) {
  harness h;
  h_start(&h, 3);
  syn_err e;
  cat_table *def = h_table_kv("r");
  free(def->pk);
  def->pk = NULL;
  def->npk = 0;
  def->hidden_rowid = true;
  def->dist_col = -1;
  cr_assert(cl_create_table(h.cl, def, false, &e) == 0, "%s", e.msg);
  cat_table_free(def);
  insert_kv(&h, "r", 1, 40);
  cat_table *t;
  cr_assert(cl_table_get(h.cl, "r", &t, &e) == 0);
  uint32_t old_id = (uint32_t)t->id;
  cat_table_free(t);
  int k0 = 0;
  cr_assert(cl_add_primary_key(h.cl, "r", &k0, 1, "r_pkey", &e) == 0, "%s", e.msg);
  cr_assert(cl_table_get(h.cl, "r", &t, &e) == 0);
  cr_assert_eq(t->npk, 1);
  cr_assert_eq(t->dist_col, 0);
  cr_assert(!t->hidden_rowid);
  cr_assert_neq((uint32_t)t->id, old_id);
  cat_table_free(t);
  cr_assert(on_no_participant(&h, old_id), "the old table id is dropped everywhere");
  rows r;
  cr_assert(scan(h.cl, "r", NULL, &r, &e) == 0, "%s", e.msg);
  cr_assert_eq(r.n, 40);
  /* Point reads route by the new key: every row is where the ring says. */
  for (int k = 1; k <= 40; k++) {
    syn_value key = I(k);
    cr_assert(scan(h.cl, "r", &key, &r, &e) == 0, "%s", e.msg);
    cr_assert_eq(r.n, 1, "key %d not found on its shard", k);
  }
  cr_assert_eq(cl_add_primary_key(h.cl, "r", &k0, 1, "r_pkey", &e), SYN_EINVAL);
  cr_assert(strncmp(e.msg, "42P16", 5) == 0, "%s", e.msg);
  h_stop(&h);
}

Test(cluster_ddl, sequences_and_ids_survive_restart) {
  harness h;
  h_start(&h, 1);
  syn_err e;
  int64_t a, b, c;
  cr_assert(cl_sequence_next(h.cl, "t_id_seq", &a, &e) == 0, "%s", e.msg);
  cr_assert(cl_sequence_next(h.cl, "t_id_seq", &b, &e) == 0);
  cr_assert_eq(a, 1);
  cr_assert_eq(b, 2);
  int64_t r1, r2;
  cr_assert(cl_rowid_next(h.cl, &r1, &e) == 0);
  cr_assert(cl_rowid_next(h.cl, &r2, &e) == 0);
  cr_assert(r2 > r1 && r1 > 0);
  cr_assert_eq((uint64_t)r1 >> 56, 1, "top byte is the coordinator index");
  cl_txn *tx;
  cr_assert(cl_txn_begin(h.cl, CL_READ_COMMITTED, &tx, &e) == 0);
  cr_assert_eq(SYN_TXN_COORD(cl_txn_id(tx)), 1);
  uint64_t t1 = cl_txn_id(tx);
  cl_txn_free(tx);
  h_close_cluster(&h);
  h_open_cluster(&h);
  cr_assert(cl_sequence_next(h.cl, "t_id_seq", &c, &e) == 0);
  cr_assert(c > b, "sequence went back after restart: %lld <= %lld", (long long)c, (long long)b);
  int64_t r3;
  cr_assert(cl_rowid_next(h.cl, &r3, &e) == 0);
  cr_assert(r3 > r2, "a new epoch gives larger ids");
  cr_assert(cl_txn_begin(h.cl, CL_READ_COMMITTED, &tx, &e) == 0);
  cr_assert(cl_txn_id(tx) > t1);
  cl_txn_free(tx);
  h_stop(&h);
}

Test(cluster_ddl, interrupted_ddl_rolls_forward) {
  harness h;
  h_start(&h, 3);
  syn_err e;
  cat_table *def = h_table_kv("f");
  cr_assert(failpoint_configure("coord_ddl_after_intent=error", &e) == 0);
  cr_assert(cl_create_table(h.cl, def, false, &e) < 0);
  cr_assert(failpoint_configure("", &e) == 0);
  cat_table_free(def);
  cat_table *t;
  cr_assert_eq(cl_table_get(h.cl, "f", &t, &e), SYN_ENOTFOUND, "not visible before completion");
  h_close_cluster(&h);
  h_open_cluster(&h); /* waits for DDL recovery */
  cr_assert(cl_table_get(h.cl, "f", &t, &e) == 0, "rolled forward: %s", e.msg);
  cr_assert(on_every_participant(&h, (uint32_t)t->id));
  cat_table_free(t);
  insert_kv(&h, "f", 1, 5);
  h_stop(&h);
}

Test(cluster_ddl, refused_step_is_undone) {
  harness h;
  h_start(&h, 3);
  syn_err e;
  cat_table *def = h_table_kv("d");
  cr_assert(cl_create_table(h.cl, def, false, &e) == 0);
  cat_table_free(def);
  insert_kv(&h, "d", 1, 30);
  cat_table *t;
  cr_assert(cl_table_get(h.cl, "d", &t, &e) == 0);
  /* A live transaction holds intents on one shard: dropping a column is
  ** refused there (the store waits for no one) and undone elsewhere. */
  cl_txn *tx;
  cr_assert(cl_txn_begin(h.cl, CL_READ_COMMITTED, &tx, &e) == 0);
  syn_value key = I(7);
  cl_write_op op = {.mode = CL_LOCK, .key = &key, .nkey = 1};
  cr_assert(cl_write(tx, t, &op, 1, &e) == 0, "%s", e.msg);
  int rc = cl_drop_column(h.cl, "d", "s", false, &e);
  cr_assert(rc < 0, "drop column under live intents must fail");
  cl_rollback(tx);
  cl_txn_free(tx);
  cat_table_free(t);
  rows r;
  cr_assert(scan(h.cl, "d", NULL, &r, &e) == 0, "%s", e.msg);
  cr_assert_eq(r.ncols, 3);
  cr_assert_eq(r.n, 30);
  /* With the intents gone it succeeds. */
  cr_assert(cl_drop_column(h.cl, "d", "s", false, &e) == 0, "%s", e.msg);
  cr_assert(scan(h.cl, "d", NULL, &r, &e) == 0, "%s", e.msg);
  cr_assert_eq(r.ncols, 2);
  h_stop(&h);
}

/* ---- pure parts ------------------------------------------------------------ */

Test(cluster_pure, dist_hash_contract) {
  syn_value a = I(42);
  cr_assert_eq(coord_dist_hash(&a), syn_hash_i64(42));
  syn_value s = T("abc");
  cr_assert_eq(coord_dist_hash(&s), syn_hash64("abc", 3));
  syn_value z = {.type = SYN_V_REAL, .u.r = 0.0}, nz = {.type = SYN_V_REAL, .u.r = -0.0};
  cr_assert_eq(coord_dist_hash(&z), coord_dist_hash(&nz), "-0.0 and 0.0 share a shard");
  syn_value r = {.type = SYN_V_REAL, .u.r = 1.5};
  cr_assert_neq(coord_dist_hash(&r), coord_dist_hash(&z));
}

Test(cluster_pure, waits_for_graph) {
  coord_wfg *g;
  cr_assert(coord_wfg_new(&g) == 0);
  cr_assert_eq(coord_wfg_wait(g, 1, 2), 0);
  cr_assert_eq(coord_wfg_wait(g, 2, 3), 0);
  cr_assert_eq(coord_wfg_wait(g, 3, 1), 1, "1 -> 2 -> 3 -> 1 is a cycle");
  cr_assert_eq(coord_wfg_edges(g), 2, "the closing edge is not kept");
  cr_assert_eq(coord_wfg_wait(g, 3, 4), 0);
  coord_wfg_clear(g, 2);
  cr_assert_eq(coord_wfg_wait(g, 3, 1), 0, "no cycle once 2 stopped waiting");
  cr_assert_eq(coord_wfg_wait(g, 1, 1), 0);
  coord_wfg_free(g);
}
