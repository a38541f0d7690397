/*
** The store interface (store.h) as a dispatcher: one handle, a backend
** vtable (store_vt.h) behind it. Nothing above this file knows which
** backend runs; the participant picks one at open time from its options.
**
** The functions that are compositions of others (store_write is a batch of
** one, store_prepared_list is store_txn_list of PREPARED) live here once,
** so the backends cannot drift apart on them.
*/
#include <stdlib.h>
#include <string.h>

#include "participant/store/store_vt.h"

struct store {
  const store_vtab *vt;
  void *be;
};

int store_open_config(const store_config *cfg, store **out, syn_err *err) {
  if (!cfg || !out) return syn_err_set(err, SYN_EINVAL, "store: no config");
  *out = NULL;
  store *st = calloc(1, sizeof *st);
  if (!st) return syn_err_set(err, SYN_ENOMEM, "store: open");
  int rc;
  switch (cfg->backend) {
  case STORE_BACKEND_SQLITE:
    rc = store_lite_open(cfg->dir, &st->be, &st->vt, err);
    break;
  case STORE_BACKEND_POSTGRES:
    rc = store_pg_open(cfg->pg_conninfo, &st->be, &st->vt, err);
    break;
  default:
    rc = syn_err_set(err, SYN_EINVAL, "store: unknown backend %d",
                     (int)cfg->backend);
  }
  if (rc) {
    free(st);
    return rc;
  }
  *out = st;
  return 0;
}

int store_open(const char *dir, store **out, syn_err *err) {
  store_config cfg = {.backend = STORE_BACKEND_SQLITE, .dir = dir};
  return store_open_config(&cfg, out, err);
}

int store_backend_parse(const char *name, store_backend *out) {
  if (!name || !out) return SYN_EINVAL;
  if (strcmp(name, "sqlite") == 0) *out = STORE_BACKEND_SQLITE;
  else if (strcmp(name, "postgres") == 0) *out = STORE_BACKEND_POSTGRES;
  else return SYN_EINVAL;
  return 0;
}

const char *store_backend_name(const store *st) {
  return st ? st->vt->name : "none";
}

void store_close(store *st) {
  if (!st) return;
  st->vt->close(st->be);
  free(st);
}

#define NULL_GUARD(st, err)                                                   \
  do {                                                                        \
    if (!(st)) return syn_err_set((err), SYN_EINVAL, "store: NULL handle");   \
  } while (0)

int store_create_table(store *st, const store_table_def *def, syn_err *err) {
  NULL_GUARD(st, err);
  return st->vt->create_table(st->be, def, err);
}

int store_drop_table(store *st, uint32_t table_id, store_info *info,
                     syn_err *err) {
  NULL_GUARD(st, err);
  return st->vt->drop_table(st->be, table_id, info, err);
}

int store_truncate_table(store *st, uint32_t table_id, store_info *info,
                         syn_err *err) {
  NULL_GUARD(st, err);
  return st->vt->truncate_table(st->be, table_id, info, err);
}

int store_add_column(store *st, uint32_t table_id, const store_col_def *col,
                     const syn_value *deflt, syn_err *err) {
  NULL_GUARD(st, err);
  return st->vt->add_column(st->be, table_id, col, deflt, err);
}

int store_drop_column(store *st, uint32_t table_id, const char *name,
                      store_info *info, syn_err *err) {
  NULL_GUARD(st, err);
  return st->vt->drop_column(st->be, table_id, name, info, err);
}

int store_rename_column(store *st, uint32_t table_id, const char *from,
                        const char *to, syn_err *err) {
  NULL_GUARD(st, err);
  return st->vt->rename_column(st->be, table_id, from, to, err);
}

int store_create_index(store *st, uint32_t table_id,
                       const store_index_def *def, store_info *info,
                       syn_err *err) {
  NULL_GUARD(st, err);
  return st->vt->create_index(st->be, table_id, def, info, err);
}

int store_drop_index(store *st, uint32_t table_id, const char *name,
                     syn_err *err) {
  NULL_GUARD(st, err);
  return st->vt->drop_index(st->be, table_id, name, err);
}

int store_table_ncols(store *st, uint32_t table_id) {
  if (!st) return SYN_EINVAL;
  return st->vt->table_ncols(st->be, table_id);
}

int store_write(store *st, uint64_t txn, uint32_t table_id,
                const syn_value *key, int nkey, const syn_value *row,
                int nrow, uint64_t snapshot_ts, store_write_mode mode,
                store_info *info, syn_err *err) {
  NULL_GUARD(st, err);
  store_write_op op = {.mode = mode, .key = key, .nkey = nkey, .row = row,
                       .nrow = nrow};
  return st->vt->write_batch(st->be, txn, table_id, &op, 1, snapshot_ts, NULL,
                             info, err);
}

int store_write_batch(store *st, uint64_t txn, uint32_t table_id,
                      const store_write_op *ops, int n, uint64_t snapshot_ts,
                      int *done, store_info *info, syn_err *err) {
  NULL_GUARD(st, err);
  return st->vt->write_batch(st->be, txn, table_id, ops, n, snapshot_ts, done,
                             info, err);
}

int store_scan(store *st, uint32_t table_id, const store_scan_opts *opts,
               store_row_fn fn, void *ud, store_scan_result *res,
               store_info *info, syn_err *err) {
  NULL_GUARD(st, err);
  return st->vt->scan(st->be, table_id, opts, fn, ud, res, info, err);
}

int store_get(store *st, uint32_t table_id, const syn_value *key, int nkey,
              uint64_t snapshot_ts, uint64_t txn, store_row_fn fn, void *ud,
              int *found, store_info *info, syn_err *err) {
  NULL_GUARD(st, err);
  return st->vt->get(st->be, table_id, key, nkey, snapshot_ts, txn, fn, ud,
                     found, info, err);
}

int store_prepare(store *st, uint64_t txn, uint64_t prepare_ts,
                  uint64_t *out_pts, syn_err *err) {
  NULL_GUARD(st, err);
  return st->vt->prepare(st->be, txn, prepare_ts, out_pts, err);
}

int store_commit(store *st, uint64_t txn, uint64_t commit_ts, syn_err *err) {
  NULL_GUARD(st, err);
  return st->vt->commit(st->be, txn, commit_ts, err);
}

int store_commit_one_phase(store *st, uint64_t txn, uint64_t commit_ts,
                           syn_err *err) {
  NULL_GUARD(st, err);
  return st->vt->commit_one_phase(st->be, txn, commit_ts, err);
}

int store_abort(store *st, uint64_t txn, syn_err *err) {
  NULL_GUARD(st, err);
  return st->vt->abort(st->be, txn, err);
}

int store_txn_state_get(store *st, uint64_t txn, store_txn_state *state,
                        uint64_t *prepare_ts, uint64_t *commit_ts,
                        syn_err *err) {
  NULL_GUARD(st, err);
  return st->vt->txn_state_get(st->be, txn, state, prepare_ts, commit_ts,
                               err);
}

int store_savepoint(store *st, uint64_t txn, uint32_t sp, syn_err *err) {
  NULL_GUARD(st, err);
  return st->vt->savepoint(st->be, txn, sp, err);
}

int store_rollback_to(store *st, uint64_t txn, uint32_t sp, syn_err *err) {
  NULL_GUARD(st, err);
  return st->vt->rollback_to(st->be, txn, sp, err);
}

int store_txn_list(store *st, store_txn_state state, store_prepared **out,
                   size_t *n, syn_err *err) {
  NULL_GUARD(st, err);
  return st->vt->txn_list(st->be, state, out, n, err);
}

int store_prepared_list(store *st, store_prepared **out, size_t *n,
                        syn_err *err) {
  return store_txn_list(st, STORE_TXN_PREPARED, out, n, err);
}

int store_lock_holder(store *st, uint32_t table_id, const syn_value *key,
                      int nkey, uint64_t *holder, syn_err *err) {
  NULL_GUARD(st, err);
  return st->vt->lock_holder(st->be, table_id, key, nkey, holder, err);
}

int store_gc(store *st, uint64_t below_ts, syn_err *err) {
  NULL_GUARD(st, err);
  return st->vt->gc(st->be, below_ts, err);
}

uint64_t store_gc_ts(const store *st) {
  return st ? st->vt->gc_ts(st->be) : 0;
}
