/*
** The SQLite backend behind the store interface: the vtable store.c calls,
** each entry forwarding to the stl_* function of the same name
** (store_lite*.c). The backend itself is described atop store.h.
*/
#include "participant/store/store_lite_int.h"


static int lv_create_table(void *be, const store_table_def *def, syn_err *err) {
  return stl_create_table(be, def, err);
}

static int lv_drop_table(void *be, uint32_t table_id, store_info *info, syn_err *err) {
  return stl_drop_table(be, table_id, info, err);
}

static int lv_truncate_table(void *be, uint32_t table_id, store_info *info, syn_err *err) {
  return stl_truncate_table(be, table_id, info, err);
}

static int lv_add_column(void *be, uint32_t table_id, const store_col_def *col, const syn_value *deflt, syn_err *err) {
  return stl_add_column(be, table_id, col, deflt, err);
}

static int lv_drop_column(void *be, uint32_t table_id, const char *name, store_info *info, syn_err *err) {
  return stl_drop_column(be, table_id, name, info, err);
}

static int lv_rename_column(void *be, uint32_t table_id, const char *from, const char *to, syn_err *err) {
  return stl_rename_column(be, table_id, from, to, err);
}

static int lv_create_index(void *be, uint32_t table_id, const store_index_def *def, store_info *info, syn_err *err) {
  return stl_create_index(be, table_id, def, info, err);
}

static int lv_drop_index(void *be, uint32_t table_id, const char *name, syn_err *err) {
  return stl_drop_index(be, table_id, name, err);
}

static int lv_table_ncols(void *be, uint32_t table_id) {
  return stl_table_ncols(be, table_id);
}

static int lv_write_batch(void *be, uint64_t txn, uint32_t table_id, const store_write_op *ops, int n, uint64_t snapshot_ts, int *done, store_info *info, syn_err *err) {
  return stl_write_batch(be, txn, table_id, ops, n, snapshot_ts, done, info, err);
}

static int lv_scan(void *be, uint32_t table_id, const store_scan_opts *opts, store_row_fn fn, void *ud, store_scan_result *res, store_info *info, syn_err *err) {
  return stl_scan(be, table_id, opts, fn, ud, res, info, err);
}

static int lv_get(void *be, uint32_t table_id, const syn_value *key, int nkey, uint64_t snapshot_ts, uint64_t txn, store_row_fn fn, void *ud, int *found, store_info *info, syn_err *err) {
  return stl_get(be, table_id, key, nkey, snapshot_ts, txn, fn, ud, found, info, err);
}

static int lv_prepare(void *be, uint64_t txn, uint64_t prepare_ts, uint64_t *out_pts, syn_err *err) {
  return stl_prepare(be, txn, prepare_ts, out_pts, err);
}

static int lv_commit(void *be, uint64_t txn, uint64_t commit_ts, syn_err *err) {
  return stl_commit(be, txn, commit_ts, err);
}

static int lv_commit_one_phase(void *be, uint64_t txn, uint64_t commit_ts, syn_err *err) {
  return stl_commit_one_phase(be, txn, commit_ts, err);
}

static int lv_abort(void *be, uint64_t txn, syn_err *err) {
  return stl_abort(be, txn, err);
}

static int lv_txn_state_get(void *be, uint64_t txn, store_txn_state *state, uint64_t *prepare_ts, uint64_t *commit_ts, syn_err *err) {
  return stl_txn_state_get(be, txn, state, prepare_ts, commit_ts, err);
}

static int lv_savepoint(void *be, uint64_t txn, uint32_t sp, syn_err *err) {
  return stl_savepoint(be, txn, sp, err);
}

static int lv_rollback_to(void *be, uint64_t txn, uint32_t sp, syn_err *err) {
  return stl_rollback_to(be, txn, sp, err);
}

static int lv_txn_list(void *be, store_txn_state state, store_prepared **out, size_t *n, syn_err *err) {
  return stl_txn_list(be, state, out, n, err);
}

static int lv_lock_holder(void *be, uint32_t table_id, const syn_value *key, int nkey, uint64_t *holder, syn_err *err) {
  return stl_lock_holder(be, table_id, key, nkey, holder, err);
}

static int lv_gc(void *be, uint64_t below_ts, syn_err *err) {
  return stl_gc(be, below_ts, err);
}

static uint64_t lv_gc_ts(const void *be) {
  return stl_gc_ts(be);
}

static void lv_close_(void *be) { stl_close(be); }

static const store_vtab k_lite_vt = {
  .name = "sqlite",
  .close = lv_close_,
  .create_table = lv_create_table,
  .drop_table = lv_drop_table,
  .truncate_table = lv_truncate_table,
  .add_column = lv_add_column,
  .drop_column = lv_drop_column,
  .rename_column = lv_rename_column,
  .create_index = lv_create_index,
  .drop_index = lv_drop_index,
  .table_ncols = lv_table_ncols,
  .write_batch = lv_write_batch,
  .scan = lv_scan,
  .get = lv_get,
  .prepare = lv_prepare,
  .commit = lv_commit,
  .commit_one_phase = lv_commit_one_phase,
  .abort = lv_abort,
  .txn_state_get = lv_txn_state_get,
  .savepoint = lv_savepoint,
  .rollback_to = lv_rollback_to,
  .txn_list = lv_txn_list,
  .lock_holder = lv_lock_holder,
  .gc = lv_gc,
  .gc_ts = lv_gc_ts,
};

int store_lite_open(const char *dir, void **be, const store_vtab **vt,
                    syn_err *err) {
  st_lite *st = NULL;
  int rc = stl_open(dir, &st, err);
  *be = st;
  *vt = &k_lite_vt;
  return rc;
}
