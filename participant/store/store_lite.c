/*
** Opening, recovery and closing of the store. The design essay, on-disk
** layout and recovery argument are at the top of store.h; this file
** implements the recovery step it describes:
**
**   1. every transaction still ACTIVE (never prepared) becomes ABORTED;
**   2. every intent whose transaction is not PREPARED is deleted;
**   3. _syn_txn_tables rows of non-prepared transactions are deleted;
**   4. all undo rows (u<id>) are deleted: only active transactions can roll
**      back to a savepoint, and after a restart there are none.
**
** All three run in the one SQLite transaction that also creates missing
** schema, committed with FULL sync before store_open returns, so a crash
** during recovery simply runs it again.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "participant/store/store_lite_int.h"

#define STORE_FORMAT 1

static const char *const k_schema =
    "CREATE TABLE IF NOT EXISTS _syn_meta(k TEXT PRIMARY KEY, v);"
    "CREATE TABLE IF NOT EXISTS _syn_tables(id INTEGER PRIMARY KEY,"
    " nkey INTEGER NOT NULL, pkey_name TEXT NOT NULL,"
    " next_idx INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS _syn_columns(table_id INTEGER NOT NULL,"
    " pos INTEGER NOT NULL, name TEXT NOT NULL, aff TEXT NOT NULL,"
    " key_ord INTEGER NOT NULL, PRIMARY KEY(table_id, pos));"
    "CREATE TABLE IF NOT EXISTS _syn_indexes(table_id INTEGER NOT NULL,"
    " name TEXT NOT NULL, phys TEXT NOT NULL, is_unique INTEGER NOT NULL,"
    " cols TEXT NOT NULL, PRIMARY KEY(table_id, name));"
    "CREATE TABLE IF NOT EXISTS _syn_txns(_syn_txn INTEGER PRIMARY KEY,"
    " _syn_state INTEGER NOT NULL, _syn_pts INTEGER NOT NULL,"
    " _syn_cts INTEGER NOT NULL, _syn_sp INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS _syn_txn_tables(_syn_txn INTEGER NOT NULL,"
    " table_id INTEGER NOT NULL, PRIMARY KEY(_syn_txn, table_id))"
    " WITHOUT ROWID;"
    "INSERT OR IGNORE INTO _syn_meta(k, v) VALUES ('format', 1);"
    "INSERT OR IGNORE INTO _syn_meta(k, v) VALUES ('gc_ts', 0);";

static const char *const k_global_sql[G_N] = {
    [G_BEGIN] = "BEGIN IMMEDIATE",
    [G_COMMIT] = "COMMIT",
    [G_ROLLBACK] = "ROLLBACK",
    [G_SYNC_FULL] = "PRAGMA synchronous = FULL",
    [G_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
    [G_TXN_GET] = "SELECT _syn_state, _syn_pts, _syn_cts, _syn_sp FROM _syn_txns "
                  "WHERE _syn_txn = ?1",
    /* For a live txn _syn_cts holds the largest snapshot it wrote at:
    ** its decided record must outlive the txn (see store_gc). */
    [G_TXN_ADD] = "INSERT INTO _syn_txns(_syn_txn, _syn_state, _syn_pts, "
                  "_syn_cts) VALUES (?1, 0, 0, ?2) ON CONFLICT(_syn_txn) DO "
                  "UPDATE SET _syn_cts = max(_syn_cts, excluded._syn_cts)",
    [G_TXN_SET] = "INSERT OR REPLACE INTO _syn_txns(_syn_txn, _syn_state, "
                  "_syn_pts, _syn_cts) VALUES (?1, ?2, ?3, ?4)",
    [G_TT_ADD] = "INSERT OR IGNORE INTO _syn_txn_tables(_syn_txn, table_id) "
                 "VALUES (?1, ?2)",
    [G_TT_LIST] = "SELECT table_id FROM _syn_txn_tables WHERE _syn_txn = ?1",
    [G_TT_DEL] = "DELETE FROM _syn_txn_tables WHERE _syn_txn = ?1",
    [G_TXN_SP] = "UPDATE _syn_txns SET _syn_sp = ?2 WHERE _syn_txn = ?1",
    [G_SP] = "SAVEPOINT syn_op",
    [G_SP_UNDO] = "ROLLBACK TO syn_op",
    [G_SP_RELEASE] = "RELEASE syn_op",
};

static int meta_int(st_lite *st, const char *k, int64_t *out, syn_err *err) {
  sqlite3_stmt *s;
  int rc = st_prep(st, "SELECT v FROM _syn_meta WHERE k = ?1", &s, err);
  if (rc) return rc;
  sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_INTEGER) {
    *out = sqlite3_column_int64(s, 0);
    rc = 0;
  } else {
    rc = syn_err_set(err, SYN_ECORRUPT, "store: meta %s missing", k);
  }
  sqlite3_finalize(s);
  return rc;
}

static int recover(st_lite *st, syn_err *err) {
  int rc = st_exec(st,
                   "UPDATE _syn_txns SET _syn_state = 3 WHERE _syn_state = 0;"
                   "DELETE FROM _syn_txn_tables WHERE _syn_txn NOT IN "
                   "(SELECT _syn_txn FROM _syn_txns WHERE _syn_state = 1);",
                   err);
  for (int i = 0; !rc && i < st->ntables; i++) {
    char sql[160];
    snprintf(sql, sizeof sql,
             "DELETE FROM i%u WHERE _syn_txn NOT IN (SELECT _syn_txn FROM "
             "_syn_txns WHERE _syn_state = 1); DELETE FROM u%u;",
             st->tables[i]->id, st->tables[i]->id);
    rc = st_exec(st, sql, err);
  }
  return rc;
}

int stl_open(const char *dir, st_lite **out, syn_err *err) {
  if (!dir || !*dir || !out)
    return syn_err_set(err, SYN_EINVAL, "store: no data directory");
  *out = NULL;
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return syn_err_set(err, SYN_EIO, "store: mkdir %s: %s", dir,
                       strerror(errno));
  size_t n = strlen(dir) + sizeof "/store.db";
  char *path = malloc(n);
  st_lite *st = calloc(1, sizeof *st);
  if (!path || !st) {
    free(path);
    free(st);
    return syn_err_set(err, SYN_ENOMEM, "store: open");
  }
  snprintf(path, n, "%s/store.db", dir);
  int rc = sqlite3_open_v2(path, &st->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                               SQLITE_OPEN_NOMUTEX,
                           NULL);
  if (rc != SQLITE_OK) {
    rc = st_sqlerr(st, err, rc, path);
    goto fail;
  }
  free(path);
  path = NULL;
  sqlite3_extended_result_codes(st->db, 1);
  /* A misspelled column in a pushed-down filter must be an error, not a
  ** double-quoted string literal; and nothing may corrupt the schema. */
  sqlite3_db_config(st->db, SQLITE_DBCONFIG_DQS_DML, 0, (int *)NULL);
  sqlite3_db_config(st->db, SQLITE_DBCONFIG_DQS_DDL, 0, (int *)NULL);
  sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
  /* EXCLUSIVE locking: one participant process per data directory, and no
  ** shared-memory WAL index to go stale. FULL is the default; store
  ** switches to NORMAL only for writes recovery discards anyway. */
  rc = st_exec(st, "PRAGMA locking_mode = EXCLUSIVE; "
                   "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;",
               err);
  if (rc) goto fail;
  st->sync_full = 1;
  {
    sqlite3_stmt *s;
    if ((rc = st_prep(st, "PRAGMA journal_mode", &s, err))) goto fail;
    int wal = sqlite3_step(s) == SQLITE_ROW &&
              strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
    sqlite3_finalize(s);
    if (!wal) {
      rc = syn_err_set(err, SYN_EIO, "store: %s: WAL mode unavailable", dir);
      goto fail;
    }
  }
  /* Statements that touch no table can be prepared before the schema. */
  static const int early[] = {G_BEGIN,       G_COMMIT, G_ROLLBACK,
                              G_SYNC_FULL,   G_SYNC_NORMAL, G_SP,
                              G_SP_UNDO,     G_SP_RELEASE};
  for (size_t i = 0; i < sizeof early / sizeof early[0]; i++)
    if ((rc = st_prep(st, k_global_sql[early[i]], &st->g[early[i]], err)))
      goto fail;
  /* BEGIN IMMEDIATE takes the file lock, held until close (EXCLUSIVE). */
  if ((rc = st_begin(st, 1, err))) {
    if (rc == SYN_EBUSY) syn_err_wrap(err, "data directory %s in use", dir);
    goto fail;
  }
  if ((rc = st_exec(st, k_schema, err))) goto fail_txn;
  for (int i = 0; i < G_N; i++)
    if (!st->g[i] && (rc = st_prep(st, k_global_sql[i], &st->g[i], err)))
      goto fail_txn;
  int64_t fmt = 0, gc = 0;
  if ((rc = meta_int(st, "format", &fmt, err))) goto fail_txn;
  if (fmt != STORE_FORMAT) {
    rc = syn_err_set(err, SYN_ECORRUPT, "store: format %lld, expected %d",
                     (long long)fmt, STORE_FORMAT);
    goto fail_txn;
  }
  if ((rc = meta_int(st, "gc_ts", &gc, err))) goto fail_txn;
  st->gc_ts = (uint64_t)gc;
  if ((rc = st_catalog_load(st, err))) goto fail_txn;
  if ((rc = recover(st, err))) goto fail_txn;
  /* Durable: recovery's "ACTIVE -> ABORTED" must stick before any new
  ** request is served, or a crash could revive a half-lost transaction. */
  if ((rc = st_commit(st, err))) goto fail;
  *out = st;
  return 0;
fail_txn:
  st_rollback(st);
fail:
  free(path);
  stl_close(st);
  return rc;
}

void stl_close(st_lite *st) {
  if (!st) return;
  if (st->db) st_rollback(st);
  st_fcache_free(st);
  for (int i = 0; i < st->ntables; i++) st_table_free(st->tables[i]);
  free(st->tables);
  for (int i = 0; i < G_N; i++) sqlite3_finalize(st->g[i]);
  if (st->db) sqlite3_close(st->db);
  free(st->kbuf);
  free(st->last);
  free(st->row);
  free(st);
}
