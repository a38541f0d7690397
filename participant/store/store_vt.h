/*
** internal: the backend interface of participant/store. Not API.
**
** store.h is the one interface the participant service sees; store.c
** forwards each call through this vtable to the backend the store was
** opened with: SQLite (store_lite*.c, one file DATADIR/store.db) or
** PostgreSQL (store_pg*.c, one database per participant). Both implement
** the same contract, written once in store.h, and the same unit tests
** (tests/unit/test_store.c) run against each.
**
** Every function receives the backend's own handle (be) first. Argument
** checks that do not depend on the backend stay in the backend anyway, so
** a backend can be called correctly without the dispatcher.
*/
#ifndef SYN_STORE_VT_H
#define SYN_STORE_VT_H

#include "participant/store/store.h"

typedef struct store_vtab {
  const char *name; /* "sqlite" or "postgres" */
  void (*close)(void *be);
  int (*create_table)(void *be, const store_table_def *def, syn_err *err);
  int (*drop_table)(void *be, uint32_t table_id, store_info *info,
                    syn_err *err);
  int (*truncate_table)(void *be, uint32_t table_id, store_info *info,
                        syn_err *err);
  int (*add_column)(void *be, uint32_t table_id, const store_col_def *col,
                    const syn_value *deflt, syn_err *err);
  int (*drop_column)(void *be, uint32_t table_id, const char *name,
                     store_info *info, syn_err *err);
  int (*rename_column)(void *be, uint32_t table_id, const char *from,
                       const char *to, syn_err *err);
  int (*create_index)(void *be, uint32_t table_id, const store_index_def *def,
                      store_info *info, syn_err *err);
  int (*drop_index)(void *be, uint32_t table_id, const char *name,
                    syn_err *err);
  int (*table_ncols)(void *be, uint32_t table_id);
  int (*write_batch)(void *be, uint64_t txn, uint32_t table_id,
                     const store_write_op *ops, int n, uint64_t snapshot_ts,
                     int *done, store_info *info, syn_err *err);
  int (*scan)(void *be, uint32_t table_id, const store_scan_opts *opts,
              store_row_fn fn, void *ud, store_scan_result *res,
              store_info *info, syn_err *err);
  int (*get)(void *be, uint32_t table_id, const syn_value *key, int nkey,
             uint64_t snapshot_ts, uint64_t txn, store_row_fn fn, void *ud,
             int *found, store_info *info, syn_err *err);
  int (*prepare)(void *be, uint64_t txn, uint64_t prepare_ts,
                 uint64_t *out_pts, syn_err *err);
  int (*commit)(void *be, uint64_t txn, uint64_t commit_ts, syn_err *err);
  int (*commit_one_phase)(void *be, uint64_t txn, uint64_t commit_ts,
                          syn_err *err);
  int (*abort)(void *be, uint64_t txn, syn_err *err);
  int (*txn_state_get)(void *be, uint64_t txn, store_txn_state *state,
                       uint64_t *prepare_ts, uint64_t *commit_ts,
                       syn_err *err);
  int (*savepoint)(void *be, uint64_t txn, uint32_t sp, syn_err *err);
  int (*rollback_to)(void *be, uint64_t txn, uint32_t sp, syn_err *err);
  int (*txn_list)(void *be, store_txn_state state, store_prepared **out,
                  size_t *n, syn_err *err);
  int (*lock_holder)(void *be, uint32_t table_id, const syn_value *key,
                     int nkey, uint64_t *holder, syn_err *err);
  int (*gc)(void *be, uint64_t below_ts, syn_err *err);
  uint64_t (*gc_ts)(const void *be);
} store_vtab;

/* The backends: open returns the backend handle and its vtable. */
int store_lite_open(const char *dir, void **be, const store_vtab **vt,
                    syn_err *err);
int store_pg_open(const char *conninfo, void **be, const store_vtab **vt,
                  syn_err *err);

#endif /* SYN_STORE_VT_H */
