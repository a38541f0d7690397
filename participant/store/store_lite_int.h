/*
** internal: shared by the .c files of the SQLite backend of
** participant/store (store_lite*.c, store_key.c) only. Not API.
**
** The SQLite backend is the original store: its functions are the public
** store_* functions renamed stl_*, taking the backend handle st_lite;
** store_lite_vt.c exposes them to the dispatcher (store.c) as a vtable.
*/
#ifndef SYN_STORE_INT_H
#define SYN_STORE_INT_H

#include <sqlite3.h>
#include <stdint.h>

#include "participant/store/store.h"
#include "participant/store/store_filter.h"
#include "participant/store/store_vt.h"

typedef struct st_lite st_lite;

/* Intent operations (column _syn_op of i<id>). */
enum { ST_OP_LOCK = 0, ST_OP_PUT = 1, ST_OP_DEL = 2 };

typedef struct st_col {
  char *name;
  char *aff;
  int key_ord; /* position inside the key, -1 if not a key column */
} st_col;

typedef struct st_idx {
  char *name;
  char *phys; /* suffix of the physical index names: x<n> */
  int unique;
  int ncols;
  int *cols;
  sqlite3_stmt *chk_v; /* unique check against latest committed rows */
  sqlite3_stmt *chk_i; /* unique check against put intents */
} st_idx;

/* Cached per-table statements; built lazily, dropped on any DDL. */
enum {
  Q_LOCK_GET,     /* holder/op of the intent on a key */
  Q_LATEST,       /* newest committed version of a key: ts, del */
  Q_PUT,          /* INSERT OR REPLACE an intent with values */
  Q_LOCK_PUT,     /* INSERT a lock-only intent */
  Q_APPLY,        /* copy a txn's data intents into versions */
  Q_DROP_INTENTS, /* delete a txn's intents */
  Q_ANY_INTENT,   /* any txn holding an intent on the table */
  Q_UNDO_SAVE,    /* remember a txn's intent on a key before a savepoint's
                     first change to it */
  Q_UNDO_NONE,    /* ... or that it had none */
  Q_UNDO_DEL,     /* rollback: drop intents created since the savepoint */
  Q_UNDO_PUT,     /* rollback: restore intents replaced since it */
  Q_UNDO_FORGET,  /* drop undo rows at or after a savepoint */
  Q_UNDO_DROP,    /* drop all undo rows of a txn */
  Q_N
};

typedef struct st_table {
  uint32_t id;
  int ncols;
  st_col *cols;
  int nkey; /* 0: hidden row id */
  char *pkey_name;
  int nidx;
  st_idx *idx;
  int next_idx;
  sqlite3_stmt *q[Q_N];
} st_table;

/* Global cached statements. */
enum {
  G_BEGIN,
  G_COMMIT,
  G_ROLLBACK,
  G_SYNC_FULL,
  G_SYNC_NORMAL,
  G_TXN_GET,
  G_TXN_ADD,   /* INSERT OR IGNORE active */
  G_TXN_SET,   /* INSERT OR REPLACE state, pts, cts */
  G_TT_ADD,
  G_TT_LIST,
  G_TT_DEL,
  G_TXN_SP,     /* set a txn's current statement savepoint */
  G_SP,         /* SAVEPOINT: one op of a write batch */
  G_SP_UNDO,    /* ROLLBACK TO it */
  G_SP_RELEASE, /* RELEASE it */
  G_N
};

/* Filter statements cached by (table, kind, filter text). */
enum { F_VERS = 0, F_INTENTS = 1 };
#define ST_FCACHE_N 64
/* Internal parameters of filter statements use fixed high numbers so the
** filter keeps ?1..?99 for itself (see st_filter_check). */
#define P_LO 101
#define P_HI 102
#define P_SNAP 103
#define P_TXN 104

typedef struct st_fcache {
  uint32_t table_id;
  int kind;
  char *filter; /* NULL: unused slot; "" means no filter */
  int nparams;
  sqlite3_stmt *stmt;
  uint64_t used;
} st_fcache;

struct st_lite {
  sqlite3 *db;
  st_table **tables;
  int ntables, cap;
  sqlite3_stmt *g[G_N];
  st_fcache fc[ST_FCACHE_N];
  uint64_t fc_clock;
  int sync_full; /* current PRAGMA synchronous: 1 FULL, 0 NORMAL, -1 ? */
  int in_cb;     /* inside a scan callback */
  uint64_t gc_ts;
  uint8_t *kbuf; /* scratch for key encoding */
  size_t kcap;
  uint8_t *last; /* last key returned by a scan */
  size_t lastcap;
  syn_value *row; /* scratch row handed to scan callbacks */
  int rowcap;
};

/* ---- the backend's entry points (store.h's functions, see store_vt.h) ---- */
int stl_open(const char *dir, st_lite **out, syn_err *err);
void stl_close(st_lite *st);
int stl_create_table(st_lite *st, const store_table_def *def, syn_err *err);
int stl_drop_table(st_lite *st, uint32_t table_id, store_info *info, syn_err *err);
int stl_truncate_table(st_lite *st, uint32_t table_id, store_info *info, syn_err *err);
int stl_add_column(st_lite *st, uint32_t table_id, const store_col_def *col,
                   const syn_value *deflt, syn_err *err);
int stl_drop_column(st_lite *st, uint32_t table_id, const char *name, store_info *info,
                    syn_err *err);
int stl_rename_column(st_lite *st, uint32_t table_id, const char *from, const char *to,
                      syn_err *err);
int stl_create_index(st_lite *st, uint32_t table_id, const store_index_def *def,
                     store_info *info, syn_err *err);
int stl_drop_index(st_lite *st, uint32_t table_id, const char *name, syn_err *err);
int stl_table_ncols(st_lite *st, uint32_t table_id);
int stl_write_batch(st_lite *st, uint64_t txn, uint32_t table_id, const store_write_op *ops,
                    int n, uint64_t snapshot_ts, int *done, store_info *info, syn_err *err);
int stl_scan(st_lite *st, uint32_t table_id, const store_scan_opts *opts, store_row_fn fn,
             void *ud, store_scan_result *res, store_info *info, syn_err *err);
int stl_get(st_lite *st, uint32_t table_id, const syn_value *key, int nkey,
            uint64_t snapshot_ts, uint64_t txn, store_row_fn fn, void *ud, int *found,
            store_info *info, syn_err *err);
int stl_prepare(st_lite *st, uint64_t txn, uint64_t prepare_ts, uint64_t *out_pts,
                syn_err *err);
int stl_commit(st_lite *st, uint64_t txn, uint64_t commit_ts, syn_err *err);
int stl_commit_one_phase(st_lite *st, uint64_t txn, uint64_t commit_ts, syn_err *err);
int stl_abort(st_lite *st, uint64_t txn, syn_err *err);
int stl_txn_state_get(st_lite *st, uint64_t txn, store_txn_state *state,
                      uint64_t *prepare_ts, uint64_t *commit_ts, syn_err *err);
int stl_savepoint(st_lite *st, uint64_t txn, uint32_t sp, syn_err *err);
int stl_rollback_to(st_lite *st, uint64_t txn, uint32_t sp, syn_err *err);
int stl_txn_list(st_lite *st, store_txn_state state, store_prepared **out, size_t *n,
                 syn_err *err);
int stl_lock_holder(st_lite *st, uint32_t table_id, const syn_value *key, int nkey,
                    uint64_t *holder, syn_err *err);
int stl_gc(st_lite *st, uint64_t below_ts, syn_err *err);
uint64_t stl_gc_ts(const st_lite *st);

/* ---- store_lite_sql.c: SQLite plumbing ---------------------------------------- */


int st_sqlerr(st_lite *st, syn_err *err, int rc, const char *what);
int st_exec(st_lite *st, const char *sql, syn_err *err);
int st_prep(st_lite *st, const char *sql, sqlite3_stmt **out, syn_err *err);
/* Step a statement expected to finish (DML), then reset it. */
int st_run(st_lite *st, sqlite3_stmt *s, syn_err *err, const char *what);
int st_bind_value(sqlite3_stmt *s, int idx, const syn_value *v);
void st_col_value(sqlite3_stmt *s, int col, syn_value *out);
/* durable = 1: the commit of this SQLite transaction fsyncs (FULL). */
int st_begin(st_lite *st, int durable, syn_err *err);
int st_commit(st_lite *st, syn_err *err);
void st_rollback(st_lite *st);
int st_ts_ok(uint64_t ts, syn_err *err, const char *what);

/* ---- store_key.c ----------------------------------------------------------- */

/* Encode key values into st->kbuf. */
int st_key(st_lite *st, const syn_value *vals, int n, size_t *len, syn_err *err);
int st_keycmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn);

/* ---- store_catalog.c / store_ddl.c ----------------------------------------------------------- */

int st_catalog_load(st_lite *st, syn_err *err);
st_table *st_table_find(st_lite *st, uint32_t id);
int st_table_get(st_lite *st, uint32_t id, st_table **out, syn_err *err);
void st_table_free(st_table *t);
void st_table_stmts_drop(st_lite *st, st_table *t);
int st_table_load(st_lite *st, uint32_t id, syn_err *err);
void st_table_unlink(st_lite *st, uint32_t id);
/* Rebuild one table from the catalog after a committed DDL step. */
int st_table_reload(st_lite *st, uint32_t id, syn_err *err);
/* Lazily prepared per-table statement. */
int st_tq(st_lite *st, st_table *t, int which, sqlite3_stmt **out, syn_err *err);

/* ---- store_scan.c ------------------------------------------------------------- */

void st_fcache_drop_table(st_lite *st, uint32_t table_id);
void st_fcache_free(st_lite *st);

/* ---- store_txn.c -------------------------------------------------------------- */

/* State (STORE_TXN_*), prepare/commit ts and current savepoint of a txn;
** any output may be NULL except state. */
int st_txn_state(st_lite *st, uint64_t txn, int *state, uint64_t *pts,
                 uint64_t *cts, uint32_t *sp, syn_err *err);


/* Re-entrancy guard for public entry points. */
#define ST_GUARD(st, err)                                                     \
  do {                                                                        \
    if (!(st)) return syn_err_set((err), SYN_EINVAL, "store: NULL handle");   \
    if ((st)->in_cb)                                                          \
      return syn_err_set((err), SYN_EBUSY,                                    \
                         "store: called from inside a scan callback");        \
  } while (0)

#endif /* SYN_STORE_INT_H */
