/*
** internal: shared by the PostgreSQL backend of participant/store
** (store_pg*.c) only. Not API.
**
** The PostgreSQL backend keeps exactly the tables of the SQLite backend
** (store.h) in the participant's own database, so the design essay, the
** visibility and write rules and the recovery argument of store.h hold
** unchanged. What differs, and why:
**
**   types     user columns are typed by their SQLite affinity: INTEGER
**             bigint, REAL double precision, TEXT text COLLATE "C"
**             (bytewise, as SQLite's BINARY), BLOB bytea, NUMERIC numeric.
**             A value is converted on write by SQLite's affinity rules
**             (st_pg_affine); a value SQLite would keep in another storage
**             class (e.g. 'abc' in an INTEGER column) is refused with
**             SYN_EINVAL, since PostgreSQL cannot keep it in that column.
**             The SQL layer coerces values to the declared column type
**             first, so this does not happen through SQL.
**   keys      _syn_key is bytea: PostgreSQL compares bytea with memcmp,
**             then length, the order of store_key_encode.
**   filters   pushed-down filters are SQLite expressions. They are
**             validated and evaluated by an in-memory SQLite database that
**             holds a one-row mirror table v<id> with the same column names
**             and affinities (st_pg_filter_*), so a filter means exactly
**             what it means in the SQLite backend. PostgreSQL returns the
**             rows of the key range; the filter runs at the participant.
**   durability the session runs with synchronous_commit = off (unprepared
**             intents, like SQLite's NORMAL); each step a protocol message
**             depends on commits with SET LOCAL synchronous_commit = on,
**             which waits until the commit record, and so every WAL record
**             before it (the earlier intents included), is flushed. The
**             server must run with fsync = on (checked at open).
**   prepared  own prepared records (_syn_txns), not PREPARE TRANSACTION:
**             see docs/storage.md.
**   ownership one participant per database: a session-level advisory lock
**             taken at open (second opener: SYN_EBUSY).
**   reconnect a lost connection fails the call (SYN_EIO); the next call
**             reconnects, takes the lock again and runs recovery again,
**             because the server may have restarted and lost unprepared
**             intents of live transactions (they must then be ABORTED,
**             exactly as after a participant crash).
*/
#ifndef SYN_STORE_PG_INT_H
#define SYN_STORE_PG_INT_H

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdint.h>

#include "participant/store/store.h"
#include "participant/store/store_filter.h"
#include "participant/store/store_vt.h"

enum { SP_OP_LOCK = 0, SP_OP_PUT = 1, SP_OP_DEL = 2 };

/* Column storage types, from the affinity. */
enum { SP_T_INT, SP_T_REAL, SP_T_TEXT, SP_T_BLOB, SP_T_NUM };

typedef struct sp_col {
  char *name;
  char *aff;
  int type;    /* SP_T_* */
  int key_ord; /* position inside the key, -1 if not a key column */
} sp_col;

typedef struct sp_idx {
  char *name;
  char *phys;
  int unique;
  int ncols;
  int *cols;
} sp_idx;

typedef struct sp_table {
  uint32_t id;
  int ncols;
  sp_col *cols;
  int nkey;
  char *pkey_name;
  int nidx;
  sp_idx *idx;
  int next_idx;
  /* Filter evaluation in the mirror (see above). */
  sqlite3_stmt *m_put;   /* INSERT OR REPLACE the one mirror row */
  sqlite3_stmt *m_check; /* SELECT 1 FROM v<id> WHERE (filter) */
  char *m_filter;        /* filter text of m_check */
  int m_nparams;
} sp_table;

/* Server-side prepared statements, by SQL text (parse and plan once). */
#define SP_PCACHE_N 256
typedef struct sp_pstmt {
  char *sql; /* NULL: free slot */
  uint64_t hash;
  uint64_t used;
  int nparams;
  char name[16];
} sp_pstmt;

typedef struct store_pg {
  PGconn *conn;
  sp_pstmt pc[SP_PCACHE_N];
  uint64_t pc_clock;
  unsigned pc_seq;
  char *conninfo;      /* as given (reconnects) */
  char *shown;         /* conninfo without password, for messages */
  int broken;          /* connection lost: reconnect before the next call */
  sqlite3 *mirror;     /* in-memory: filter validation and evaluation */
  sp_table **tables;
  int ntables, cap;
  int in_cb;
  uint64_t gc_ts;
  uint8_t *kbuf;
  size_t kcap;
  uint8_t *last;
  size_t lastcap;
  syn_value *row;
  int rowcap;
} store_pg;

/* ---- store_pg.c: connection, statements, values ------------------------ */

/* Parameters of one statement: values as text (or binary for bytea). */
#define SP_MAXP 1100
typedef struct sp_params {
  int n;
  const char *v[SP_MAXP];
  int len[SP_MAXP];
  int fmt[SP_MAXP];
  char buf[SP_MAXP][32]; /* numbers printed here */
  char *own[SP_MAXP];    /* allocated texts (converted values) */
} sp_params;

void sp_p_init(sp_params *p);
void sp_p_free(sp_params *p);
void sp_p_i64(sp_params *p, int64_t v);
void sp_p_bytes(sp_params *p, const void *b, size_t n); /* bytea */
void sp_p_text(sp_params *p, const char *s);
/* A user value for a column of type SP_T_* (already affine). */
int sp_p_value(sp_params *p, const syn_value *v, syn_err *err);

/* Run sql; *res (may be NULL) gets the result on success (PQclear it).
** Maps errors: connection loss SYN_EIO (and marks broken), unique
** violations of our own tables SYN_EINTERNAL, others SYN_EINVAL/EIO. */
int sp_exec(store_pg *st, const char *sql, const sp_params *p, PGresult **res,
            syn_err *err);
/* Forget every prepared statement (after DDL: result types may change). */
void sp_pcache_clear(store_pg *st, int deallocate);
int sp_begin(store_pg *st, int durable, syn_err *err);
int sp_commit(store_pg *st, syn_err *err);
void sp_rollback(store_pg *st);
/* Reconnect (and recover) if the connection was lost. */
int sp_ready(store_pg *st, syn_err *err);

int sp_ts_ok(uint64_t ts, syn_err *err, const char *what);
int64_t sp_get_i64(const PGresult *r, int row, int col);
/* Decode a bytea column (hex output) into a malloc'd buffer. */
int sp_get_bytes(const PGresult *r, int row, int col, uint8_t **out,
                 size_t *n);
/* Decode a user column of type SP_T_*; text/blob point into r or into
** scratch owned by the caller (blob). */
int sp_get_value(const PGresult *r, int row, int col, int type,
                 syn_value *out, uint8_t **scratch, syn_err *err);
/* Convert v to what SQLite's affinity would store, or refuse. out may
** point into *own (free it). */
int sp_affine(const sp_col *c, const syn_value *v, syn_value *out, char **own,
              syn_err *err);
int sp_key(store_pg *st, const syn_value *vals, int n, size_t *len,
           syn_err *err);
int sp_keycmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn);

/* ---- store_pg_catalog.c: catalog, mirror, recovery ------------------------- */

int sp_aff_type(const char *aff); /* normalised affinity -> SP_T_* */
void sp_table_unlink(store_pg *st, uint32_t id);
int sp_table_load(store_pg *st, uint32_t id, syn_err *err);
int sp_table_reload(store_pg *st, uint32_t id, syn_err *err);
int sp_mirror_exec(store_pg *st, const char *sql, syn_err *err);

int sp_catalog_load(store_pg *st, syn_err *err);
sp_table *sp_table_find(store_pg *st, uint32_t id);
int sp_table_get(store_pg *st, uint32_t id, sp_table **out, syn_err *err);
void sp_table_free(sp_table *t);
int sp_recover(store_pg *st, syn_err *err);
/* Mirror: evaluate the table's current filter on row; *match 0/1. */
int sp_filter_set(store_pg *st, sp_table *t, const char *f, int nparams_given,
                  const syn_value *params, syn_err *err);
int sp_filter_match(store_pg *st, sp_table *t, const syn_value *row,
                    int *match, syn_err *err);

/* ---- store_pg_txn.c -------------------------------------------------------- */

int sp_txn_state(store_pg *st, uint64_t txn, int *state, uint64_t *pts,
                 uint64_t *cts, uint32_t *sp, syn_err *err);

/* ---- entry points (store_vt.h) ---------------------------------------------- */
void spg_close(void *be);
int spg_create_table(void *be, const store_table_def *def, syn_err *err);
int spg_drop_table(void *be, uint32_t table_id, store_info *info, syn_err *err);
int spg_truncate_table(void *be, uint32_t table_id, store_info *info,
                       syn_err *err);
int spg_add_column(void *be, uint32_t table_id, const store_col_def *col,
                   const syn_value *deflt, syn_err *err);
int spg_drop_column(void *be, uint32_t table_id, const char *name,
                    store_info *info, syn_err *err);
int spg_rename_column(void *be, uint32_t table_id, const char *from,
                      const char *to, syn_err *err);
int spg_create_index(void *be, uint32_t table_id, const store_index_def *def,
                     store_info *info, syn_err *err);
int spg_drop_index(void *be, uint32_t table_id, const char *name, syn_err *err);
int spg_table_ncols(void *be, uint32_t table_id);
int spg_write_batch(void *be, uint64_t txn, uint32_t table_id,
                    const store_write_op *ops, int n, uint64_t snapshot_ts,
                    int *done, store_info *info, syn_err *err);
int spg_scan(void *be, uint32_t table_id, const store_scan_opts *opts,
             store_row_fn fn, void *ud, store_scan_result *res,
             store_info *info, syn_err *err);
int spg_get(void *be, uint32_t table_id, const syn_value *key, int nkey,
            uint64_t snapshot_ts, uint64_t txn, store_row_fn fn, void *ud,
            int *found, store_info *info, syn_err *err);
int spg_prepare(void *be, uint64_t txn, uint64_t prepare_ts, uint64_t *out_pts,
                syn_err *err);
int spg_commit(void *be, uint64_t txn, uint64_t commit_ts, syn_err *err);
int spg_commit_one_phase(void *be, uint64_t txn, uint64_t commit_ts,
                         syn_err *err);
int spg_abort(void *be, uint64_t txn, syn_err *err);
int spg_txn_state_get(void *be, uint64_t txn, store_txn_state *state,
                      uint64_t *prepare_ts, uint64_t *commit_ts, syn_err *err);
int spg_savepoint(void *be, uint64_t txn, uint32_t sp, syn_err *err);
int spg_rollback_to(void *be, uint64_t txn, uint32_t sp, syn_err *err);
int spg_txn_list(void *be, store_txn_state state, store_prepared **out,
                 size_t *n, syn_err *err);
int spg_lock_holder(void *be, uint32_t table_id, const syn_value *key,
                    int nkey, uint64_t *holder, syn_err *err);
int spg_gc(void *be, uint64_t below_ts, syn_err *err);
uint64_t spg_gc_ts(const void *be);

#define SP_GUARD(st, err)                                                     \
  do {                                                                        \
    if (!(st)) return syn_err_set((err), SYN_EINVAL, "store: NULL handle");   \
    if ((st)->in_cb)                                                          \
      return syn_err_set((err), SYN_EBUSY,                                    \
                         "store: called from inside a scan callback");        \
    int ready_rc_ = sp_ready((st), (err));                                    \
    if (ready_rc_) return ready_rc_;                                          \
  } while (0)

#endif /* SYN_STORE_PG_INT_H */
