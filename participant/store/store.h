/*
** The participant's multi-version row store (prefix store_).
**
** BACKENDS
**
** One interface, two implementations behind a vtable (store_vt.h): SQLite
** (store_lite*.c, the design below, one file DATADIR/store.db) and
** PostgreSQL (store_pg*.c, the same tables and the same rules in the
** participant's own database, reached through libpq; its differences are
** in store_pg_int.h and docs/storage.md). Everything in this header is the
** contract of both; tests/unit/test_store.c runs against each.
**
** DESIGN (written for the SQLite backend; the PostgreSQL one mirrors it)
**
** A participant keeps every row of every shard it owns as a chain of
** versions stamped with the HLC commit timestamp of the transaction that
** wrote it (Clock-SI, Du/Elnikety/Zwaenepoel 2013, with HLC timestamps).
** This module is the whole of that state: it owns one SQLite database,
** DATADIR/store.db, and has no sockets, threads or clocks. Every timestamp
** arrives as an argument; the participant shell owns the HLC and calls
** HLC.update(snapshot) before a read so nothing it prepares later can get a
** smaller timestamp than a snapshot already served.
**
** On-disk layout (one SQLite file, WAL mode, locking_mode=EXCLUSIVE so a
** second process cannot open the same data directory):
**
**   _syn_meta(k PRIMARY KEY, v)     format version, gc_ts (the GC horizon)
**   _syn_tables(id, nkey, pkey_name, next_idx)          one row per table
**   _syn_columns(table_id, pos, name, aff, key_ord)     user columns
**   _syn_indexes(table_id, name, phys, is_unique, cols) cols = "0,2"
**   _syn_txns(_syn_txn PK, _syn_state, _syn_pts, _syn_cts, _syn_sp)
**        state 0 active, 1 prepared, 2 committed, 3 aborted
**   _syn_txn_tables(_syn_txn, table_id)   which intent tables a txn touched
**   v<id>(_syn_key BLOB, _syn_ts INT, _syn_del INT, "col1", "col2", ...)
**        PRIMARY KEY(_syn_key, _syn_ts) WITHOUT ROWID: committed versions
**   i<id>(_syn_key BLOB PRIMARY KEY, _syn_txn INT, _syn_op INT, "col1", ...)
**        WITHOUT ROWID: intents (write locks), at most one per key;
**        op 0 lock only, 1 put, 2 delete (tombstone)
**   u<id>(_syn_txn, _syn_sp, _syn_key, _syn_had, _syn_op, "col1", ...)
**        undo rows for statement savepoints (store_rollback_to)
**   v<id>_x<n>, i<id>_x<n>  SQLite indexes for secondary/unique indexes
**
** User columns are real SQLite columns with the user's names and declared
** affinity, so a filter pushed down by the SQL layer is plain SQL over
** those names. Internal names all start with "_syn_", which user column
** names may not. A row's key is the memcmp-ordered encoding of its primary
** key columns (store_key_encode), or of a caller-chosen 64-bit row id for
** tables without a primary key; scans return rows in key order and resume
** after the last key returned.
**
** Visibility. A snapshot read at ts S by txn T sees, per key, the newest
** version with _syn_ts <= S unless it is a tombstone, overlaid with T's own
** intents (read-your-writes). Intents of other transactions are invisible,
** except that a data intent (put or delete) of a PREPARED transaction with
** prepare_ts <= S makes the read report SYN_EBUSY naming that transaction
** when the key falls inside the rows the read covers (the old or the new
** value matches the filter): that transaction may still commit at a
** commit_ts <= S, so the read must wait for the decision rather than guess
** (Clock-SI, section 3.2). Lock-only intents never block readers.
**
** Writes. A write takes the key's write lock by inserting an intent.
** First updater wins (PostgreSQL REPEATABLE READ): another transaction's
** intent on the key gives SYN_EBUSY with the holder; a version committed
** after the writer's snapshot gives SYN_ECONFLICT. Unique constraints are
** checked against the latest committed rows, this transaction's intents and
** other transactions' put intents (the last give SYN_EBUSY: wait for the
** inserter, as PostgreSQL does); a violation is STORE_EUNIQUE with the
** constraint's name.
**
** Durability. Unprepared intents are written with synchronous=NORMAL (no
** fsync): losing them in a crash is allowed because recovery throws them
** away anyway. Each step that a protocol message depends on (prepare,
** commit or abort of a prepared txn, one-phase commit, DDL) commits its
** SQLite transaction with synchronous=FULL, which fsyncs the WAL (and so
** every earlier frame) before the function returns 0.
**
** Recovery argument. store_open deletes every intent whose transaction is
** not PREPARED and marks such transactions ABORTED. This is safe: an
** unprepared transaction never voted YES, so no coordinator can have
** decided COMMIT for it, and marking it ABORTED makes any late write or
** prepare of it fail (otherwise a transaction could continue with half of
** its writes silently lost). Prepared transactions keep their intents,
** which are their write locks, so locks are restored by the same act; the
** shell lists them with store_prepared_list and asks the coordinator group
** for each decision. A commit, one-phase commit or abort of a prepared
** txn that returned 0 was fsynced, so a crash never rolls it back; one that
** did not return 0 may or may not have happened, and all are idempotent,
** so the shell simply retries. Undo rows are dropped (only active txns
** roll back to savepoints). The ABORTED record of a recovered txn is kept
** while the txn may still be live (store_gc), so its late prepare or
** commit is refused instead of being mistaken for an unknown, empty txn.
**
** DDL is a barrier, not a versioned operation: the SQL layer runs DDL
** outside of data transactions through the replicated catalog, and here
** every DDL step commits immediately with FULL sync. Steps that would
** change what an in-flight transaction wrote (drop/truncate table, drop
** column, add a unique constraint) refuse with SYN_EBUSY naming a holder
** while the table has intents, just as PostgreSQL's ACCESS EXCLUSIVE lock
** waits for them. TRUNCATE removes all versions at once; like PostgreSQL's
** TRUNCATE it is not MVCC-safe for older snapshots, which is documented
** PostgreSQL behaviour and avoids writing one tombstone per row.
**
** GC. store_gc(below_ts) keeps, for every key, the newest version with
** _syn_ts <= below_ts (dropping it too if it is a tombstone) and every
** newer version, so any snapshot >= below_ts reads the same rows before and
** after. Reads at snapshots below the recorded horizon get SYN_ERANGE.
**
** Threads: a store is used by one thread at a time. Scan callbacks must not
** call back into the store (such calls get SYN_EBUSY).
*/
#ifndef SYN_STORE_H
#define SYN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/value.h"

/* A unique (or primary key) constraint was violated: SQLSTATE 23505. The
** constraint name is in store_info.constraint. Outside the SYN_E* range so
** it can never be mistaken for one of them. */
#define STORE_EUNIQUE (-100)

#define STORE_NAME_MAX 128 /* longest table/column/index name, bytes */
#define STORE_MAX_COLS 1000
#define STORE_MAX_FILTER_PARAMS 99 /* filter may use ?1 .. ?99 */

typedef struct store store;

/* Details of why a call failed, filled when info is not NULL. */
typedef struct store_info {
  uint64_t blocker;     /* SYN_EBUSY: txn holding the lock/prepared intent */
  uint64_t conflict_ts; /* SYN_ECONFLICT: commit_ts of the newer version */
  char constraint[STORE_NAME_MAX + 1]; /* STORE_EUNIQUE: constraint name */
} store_info;

/* ---- open / close ------------------------------------------------------ */

typedef enum {
  STORE_BACKEND_SQLITE = 0,   /* DATADIR/store.db */
  STORE_BACKEND_POSTGRES = 1, /* the participant's own PostgreSQL database */
} store_backend;

typedef struct store_config {
  store_backend backend;
  const char *dir;         /* SQLite: the data directory */
  const char *pg_conninfo; /* PostgreSQL: libpq conninfo of the database */
} store_config;

/* Open the configured backend and run its recovery. SQLite: SYN_EBUSY if
** another process holds the directory. PostgreSQL: SYN_EBUSY if another
** process holds the database (a session advisory lock), SYN_EIO
** if the server cannot be reached (the message names the conninfo without
** its password; the caller may retry). */
int store_open_config(const store_config *cfg, store **out, syn_err *err);
/* "sqlite" -> STORE_BACKEND_SQLITE, "postgres" -> STORE_BACKEND_POSTGRES;
** anything else SYN_EINVAL. */
int store_backend_parse(const char *name, store_backend *out);
/* "sqlite" or "postgres". */
const char *store_backend_name(const store *st);

/* SQLite backend: open (creating if needed) DATADIR/store.db; dir is
** created if missing.
** Runs recovery (see above). SYN_EBUSY if another process holds it. */
int store_open(const char *dir, store **out, syn_err *err);
/* Close the store. Active (unprepared) transactions are left as they are;
** the next store_open aborts them, exactly as after a crash. NULL is
** allowed. */
void store_close(store *st);

/* ---- tables (DDL, each step durable before return) ------------------------ */

typedef struct store_col_def {
  const char *name;     /* user column name; may not start with "_syn_" */
  const char *affinity; /* "INTEGER", "REAL", "TEXT", "BLOB", "NUMERIC" */
} store_col_def;

typedef struct store_index_def {
  const char *name; /* constraint / index name, unique per table */
  int unique;       /* 1: unique constraint (checked by store_write) */
  int ncols;
  const int *cols;  /* column positions */
} store_index_def;

typedef struct store_table_def {
  uint32_t table_id;
  int ncols;
  const store_col_def *cols;
  int nkey;             /* 0: hidden row id (the key is one INT value) */
  const int *key_cols;  /* positions of the primary key columns */
  const char *pkey_name; /* reported on duplicate key; NULL = "pkey" */
  int nindexes;
  const store_index_def *indexes;
} store_table_def;

int store_create_table(store *st, const store_table_def *def, syn_err *err);
int store_drop_table(store *st, uint32_t table_id, store_info *info,
                     syn_err *err);
int store_truncate_table(store *st, uint32_t table_id, store_info *info,
                         syn_err *err);
/* The new column is appended (last position); deflt may be NULL. */
int store_add_column(store *st, uint32_t table_id, const store_col_def *col,
                     const syn_value *deflt, syn_err *err);
/* Indexes and constraints using the column are dropped with it; key
** columns cannot be dropped. Later positions shift down by one. */
int store_drop_column(store *st, uint32_t table_id, const char *name,
                      store_info *info, syn_err *err);
int store_rename_column(store *st, uint32_t table_id, const char *from,
                        const char *to, syn_err *err);
int store_create_index(store *st, uint32_t table_id,
                       const store_index_def *def, store_info *info,
                       syn_err *err);
int store_drop_index(store *st, uint32_t table_id, const char *name,
                     syn_err *err);
/* Number of user columns, or a negative SYN_ENOTFOUND. */
int store_table_ncols(store *st, uint32_t table_id);

/* ---- keys -------------------------------------------------------------- */

/* Encode n key values (no NULLs, no NaN) into out (cap bytes). *len gets
** the needed size even when it exceeds cap (then SYN_ERANGE). memcmp order
** of encodings is: integers by value, reals by value, text and blobs
** bytewise, with shorter prefixes first. */
int store_key_encode(const syn_value *vals, int n, uint8_t *out, size_t cap,
                     size_t *len, syn_err *err);
/* store_key_encode into *buf, growing it with realloc when it is too small
** (both backends keep one such buffer per store). */
int store_key_encode_buf(const syn_value *vals, int n, uint8_t **buf, size_t *cap, size_t *len,
                         syn_err *err);
/* Order of two encoded keys: memcmp, a proper prefix first. */
int store_key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn);

/* ---- writes and locks -------------------------------------------------- */

typedef enum {
  STORE_INSERT = 1, /* put; duplicate visible key -> STORE_EUNIQUE (pkey) */
  STORE_UPDATE = 2, /* put, whether or not the key exists */
  STORE_DELETE = 3, /* tombstone */
  STORE_LOCK = 4,   /* locking read: take the write lock, change nothing */
} store_write_mode;

/* txn != 0. key: the table's nkey key values (one INT for hidden-row-id
** tables), nkey of them. row: the table's ncols values for INSERT/UPDATE
** (key columns must equal key), NULL and 0 for DELETE/LOCK. Counts that do
** not match the current schema give SYN_EINVAL (a stale schema at the
** caller). Borrowed for the call.
** Errors: SYN_EBUSY (info->blocker holds the key), SYN_ECONFLICT (a
** version committed after snapshot_ts; info->conflict_ts), STORE_EUNIQUE,
** SYN_ECLOSED (txn already aborted), SYN_EINVAL (txn prepared/committed or
** bad arguments), SYN_ENOTFOUND (no such table). */
int store_write(store *st, uint64_t txn, uint32_t table_id,
                const syn_value *key, int nkey, const syn_value *row,
                int nrow, uint64_t snapshot_ts, store_write_mode mode,
                store_info *info, syn_err *err);

typedef struct store_write_op {
  store_write_mode mode;
  const syn_value *key;
  int nkey;
  const syn_value *row; /* NULL for DELETE/LOCK */
  int nrow;
} store_write_op;

/* The ops of one txn on one table at one snapshot, in order, in a single
** SQLite transaction (much cheaper than n store_write calls). Stops at the
** first failing op, which leaves no trace: *done says how many ops before
** it were recorded; the return code and info are that op's, as store_write
** would give them. If recording the earlier ops fails too, the storage
** error is returned with *done = 0. */
int store_write_batch(store *st, uint64_t txn, uint32_t table_id,
                      const store_write_op *ops, int n, uint64_t snapshot_ts,
                      int *done, store_info *info, syn_err *err);

/* ---- reads --------------------------------------------------------------- */

typedef struct store_row {
  const uint8_t *key;   /* encoded key, usable as a resume cursor */
  size_t key_len;
  const syn_value *vals; /* ncols values in column order */
  int ncols;
  uint64_t commit_ts;   /* 0 for the reader's own pending write */
  int64_t rowid;        /* hidden-row-id tables: the row id; else 0 */
} store_row;

/* Called once per row; everything in row is borrowed until it returns.
** Return 0 to continue, 1 to stop after this row, < 0 to fail the scan
** with that code. It must not call into the store. */
typedef int (*store_row_fn)(void *ud, const store_row *row);

typedef struct store_scan_opts {
  uint64_t snapshot_ts;
  uint64_t txn;           /* 0: no own writes to overlay */
  const char *filter;     /* SQL expression over column names, or NULL */
  const syn_value *params; /* values for ?1 .. ?nparams in filter */
  int nparams;
  uint32_t limit;          /* 0: no limit */
  const uint8_t *after_key; /* resume strictly after this key; NULL: start */
  size_t after_key_len;
} store_scan_opts;

typedef struct store_scan_result {
  uint32_t nrows;
  int more;                /* stopped by limit/callback: call again */
  /* Resume cursor: the last row's key, or opts->after_key when no row was
  ** returned. Borrowed until the next store call. */
  const uint8_t *last_key;
  size_t last_key_len;
} store_scan_result;

/* Rows visible to (snapshot_ts, txn) in key order. On any error, rows
** already passed to fn in this call must be discarded by the caller.
** SYN_EBUSY + info->blocker: a prepared intent with prepare_ts <=
** snapshot_ts covers a row in range (Clock-SI: wait, then retry). A filter
** that is not a single SQL expression over the table's columns, or that
** does not prepare, gives SYN_EINVAL. SYN_ERANGE: snapshot below the GC
** horizon. */
int store_scan(store *st, uint32_t table_id, const store_scan_opts *opts,
               store_row_fn fn, void *ud, store_scan_result *res,
               store_info *info, syn_err *err);

/* Point read of one key: calls fn at most once; *found says whether. */
int store_get(store *st, uint32_t table_id, const syn_value *key, int nkey,
              uint64_t snapshot_ts, uint64_t txn, store_row_fn fn, void *ud,
              int *found, store_info *info, syn_err *err);

/* ---- transactions -------------------------------------------------------- */

typedef enum {
  STORE_TXN_UNKNOWN = -1,
  STORE_TXN_ACTIVE = 0,
  STORE_TXN_PREPARED = 1,
  STORE_TXN_COMMITTED = 2,
  STORE_TXN_ABORTED = 3,
} store_txn_state;

/* Make the txn's intents and a prepared record durable (vote YES).
** Idempotent: a second call returns 0 and leaves the first prepare_ts,
** which *out_pts (may be NULL) reports. A txn with no writes here is
** prepared empty. SYN_ECLOSED if aborted, SYN_EINVAL if committed. */
int store_prepare(store *st, uint64_t txn, uint64_t prepare_ts,
                  uint64_t *out_pts, syn_err *err);
/* Apply a prepared txn's intents as versions at commit_ts (>= prepare_ts)
** and release its locks. Returns 0 if already committed or unknown
** (unknown means applied and forgotten: a prepared record survives every
** crash until its decision is applied). SYN_ECLOSED after abort,
** SYN_EINVAL for an active (unprepared) txn. */
int store_commit(store *st, uint64_t txn, uint64_t commit_ts, syn_err *err);
/* Single-shard commit of an active txn without a prepare. 0 if already
** committed; SYN_ENOTFOUND if unknown (decided and forgotten: aborted here,
** or committed by an earlier send whose answer was lost; the coordinator
** answers 40003); SYN_EINVAL if prepared, SYN_ECLOSED if aborted. */
int store_commit_one_phase(store *st, uint64_t txn, uint64_t commit_ts,
                           syn_err *err);
/* Discard the txn's intents; idempotent, and an unknown txn is recorded
** as aborted so late writes of it fail. SYN_EINVAL if committed. */
int store_abort(store *st, uint64_t txn, syn_err *err);

int store_txn_state_get(store *st, uint64_t txn, store_txn_state *state,
                        uint64_t *prepare_ts, uint64_t *commit_ts,
                        syn_err *err);

/* Statement savepoints, for READ COMMITTED statement re-runs (undo the
** statement's partial writes, re-run at a newer snapshot) and SQL
** SAVEPOINT / ROLLBACK TO. store_savepoint marks the txn's current writes
** as savepoint sp (sp > 0 and above the txn's current one; a new txn is
** created ACTIVE). store_rollback_to restores every intent of the txn to
** what it was when sp was marked, dropping locks taken since, and leaves sp
** current (so it can be rolled back to again). Not durable: only active
** txns have savepoints. Rolling back to an unknown sp is SYN_EINVAL. */
int store_savepoint(store *st, uint64_t txn, uint32_t sp, syn_err *err);
int store_rollback_to(store *st, uint64_t txn, uint32_t sp, syn_err *err);

typedef struct store_prepared {
  uint64_t txn;
  uint64_t prepare_ts;
} store_prepared;

/* Every txn in state (ACTIVE, PREPARED, COMMITTED or ABORTED; anything
** else is SYN_EINVAL), ordered by prepare_ts then txn id; prepare_ts is 0
** for a txn that never prepared. Decided txns are listed only while GC has
** kept their records. *out (NULL when *n is 0) is freed with free(). */
int store_txn_list(store *st, store_txn_state state, store_prepared **out,
                   size_t *n, syn_err *err);

/* Every prepared txn, oldest prepare first (store_txn_list of PREPARED);
** free with free(). */
int store_prepared_list(store *st, store_prepared **out, size_t *n,
                        syn_err *err);

/* Waits-for edges: the txn holding a lock on (table, key), or 0. */
int store_lock_holder(store *st, uint32_t table_id, const syn_value *key,
                      int nkey, uint64_t *holder, syn_err *err);

/* ---- garbage collection ------------------------------------------------ */

/* Remove versions no snapshot >= below_ts can see, and decided txn records
** older than below_ts. below_ts must not decrease (SYN_EINVAL) and must not
** exceed the start_ts of any live transaction (the oldest snapshot in use
** anywhere): the store relies on it to keep the records of live txns. */
int store_gc(store *st, uint64_t below_ts, syn_err *err);

/* The current GC horizon (the last below_ts of store_gc, kept across
** restarts; 0 before the first GC). Reads below it get SYN_ERANGE. */
uint64_t store_gc_ts(const store *st);

#endif /* SYN_STORE_H */
