/*
** The coordinator's durable catalog file (format in coord_catalog.h).
**
** Durability: synchronous=FULL in WAL mode makes SQLite fsync the WAL at
** every commit, so a function here that returned 0 after writing has its
** change on disk. Callers (the id epoch, participant ids, the catalog of a
** coordinator without a replicated log) depend on exactly that before they
** act on the change.
*/
#include "coordinator/coord_catalog.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

struct coord_catalog {
  sqlite3 *db;
};

static int db_err(coord_catalog *c, syn_err *err, const char *what) {
  return syn_err_set(err, SYN_EIO, "catalog: %s: %s", what, sqlite3_errmsg(c->db));
}

static int exec(coord_catalog *c, const char *sql, syn_err *err) {
  char *msg = NULL;
  if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    int rc = syn_err_set(err, SYN_EIO, "catalog: %s: %s", sql, msg ? msg : "?");
    sqlite3_free(msg);
    return rc;
  }
  return 0;
}

int coord_cat_open(const char *path, coord_catalog **out, syn_err *err) {
  coord_catalog *c = calloc(1, sizeof *c);
  if (!c) return syn_err_set(err, SYN_ENOMEM, "catalog");
  if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                      SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
    int rc = syn_err_set(err, SYN_EIO, "catalog %s: %s", path,
                         c->db ? sqlite3_errmsg(c->db) : "cannot open");
    sqlite3_close(c->db);
    free(c);
    return rc;
  }
  sqlite3_busy_timeout(c->db, 2000);
  int rc = exec(c,
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=FULL;"
                "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER);"
                "CREATE TABLE IF NOT EXISTS parts(name TEXT PRIMARY KEY, id INTEGER);"
                "CREATE TABLE IF NOT EXISTS blobs(k TEXT PRIMARY KEY, v BLOB);",
                err);
  if (rc < 0) {
    coord_cat_close(c);
    return syn_err_wrap(err, "%s", path);
  }
  *out = c;
  return 0;
}

void coord_cat_close(coord_catalog *c) {
  if (!c) return;
  sqlite3_close(c->db);
  free(c);
}

int coord_cat_begin(coord_catalog *c, syn_err *err) { return exec(c, "BEGIN IMMEDIATE", err); }
int coord_cat_commit(coord_catalog *c, syn_err *err) {
  int rc = exec(c, "COMMIT", err);
  if (rc < 0) coord_cat_rollback(c);
  return rc;
}
void coord_cat_rollback(coord_catalog *c) {
  if (!sqlite3_get_autocommit(c->db)) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

static int prep(coord_catalog *c, const char *sql, sqlite3_stmt **st, syn_err *err) {
  if (sqlite3_prepare_v2(c->db, sql, -1, st, NULL) != SQLITE_OK) return db_err(c, err, sql);
  return 0;
}

/* Step a statement that returns no rows, then finalize it. */
static int run(coord_catalog *c, sqlite3_stmt *st, syn_err *err) {
  int s = sqlite3_step(st);
  int rc = (s == SQLITE_DONE) ? 0 : db_err(c, err, sqlite3_sql(st));
  sqlite3_finalize(st);
  return rc;
}

int coord_cat_meta_get(coord_catalog *c, const char *k, int64_t *v, bool *found, syn_err *err) {
  sqlite3_stmt *st;
  int rc = prep(c, "SELECT v FROM meta WHERE k = ?1", &st, err);
  if (rc < 0) return rc;
  sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  *found = false;
  if (s == SQLITE_ROW) {
    *v = sqlite3_column_int64(st, 0);
    *found = true;
  } else if (s != SQLITE_DONE) {
    rc = db_err(c, err, "meta");
  }
  sqlite3_finalize(st);
  return rc;
}

int coord_cat_meta_set(coord_catalog *c, const char *k, int64_t v, syn_err *err) {
  sqlite3_stmt *st;
  int rc = prep(c, "INSERT OR REPLACE INTO meta(k, v) VALUES (?1, ?2)", &st, err);
  if (rc < 0) return rc;
  sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, v);
  return run(c, st, err);
}

int coord_cat_part_id(coord_catalog *c, const char *name, uint32_t *id, syn_err *err) {
  sqlite3_stmt *st;
  int rc = prep(c, "SELECT id FROM parts WHERE name = ?1", &st, err);
  if (rc < 0) return rc;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  if (s == SQLITE_ROW) {
    *id = (uint32_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
  }
  sqlite3_finalize(st);
  if (s != SQLITE_DONE) return db_err(c, err, "parts");
  int64_t next = 1;
  bool found;
  rc = coord_cat_begin(c, err);
  if (rc < 0) return rc;
  rc = coord_cat_meta_get(c, "next_part", &next, &found, err);
  if (rc == 0 && !found) next = 1;
  if (rc == 0) rc = coord_cat_meta_set(c, "next_part", next + 1, err);
  if (rc == 0) rc = prep(c, "INSERT INTO parts(name, id) VALUES (?1, ?2)", &st, err);
  if (rc == 0) {
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, next);
    rc = run(c, st, err);
  }
  if (rc == 0) rc = coord_cat_commit(c, err);
  else coord_cat_rollback(c);
  if (rc == 0) *id = (uint32_t)next;
  return rc;
}


int coord_cat_blob_get(coord_catalog *c, const char *k, uint8_t **out, size_t *len, bool *found,
                       syn_err *err) {
  sqlite3_stmt *st;
  int rc = prep(c, "SELECT v FROM blobs WHERE k = ?1", &st, err);
  if (rc < 0) return rc;
  sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  *found = false;
  *out = NULL;
  *len = 0;
  if (s == SQLITE_ROW) {
    int n = sqlite3_column_bytes(st, 0);
    const void *p = sqlite3_column_blob(st, 0);
    *out = malloc((size_t)n + 1);
    if (!*out) rc = syn_err_set(err, SYN_ENOMEM, "catalog blob");
    else {
      if (n) memcpy(*out, p, (size_t)n);
      *len = (size_t)n;
      *found = true;
    }
  } else if (s != SQLITE_DONE) {
    rc = db_err(c, err, "blobs");
  }
  sqlite3_finalize(st);
  return rc;
}

int coord_cat_blob_put(coord_catalog *c, const char *k, const uint8_t *v, size_t len,
                       syn_err *err) {
  sqlite3_stmt *st;
  int rc = prep(c, "INSERT OR REPLACE INTO blobs(k, v) VALUES (?1, ?2)", &st, err);
  if (rc < 0) return rc;
  sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, v, (int)len, SQLITE_STATIC);
  return run(c, st, err);
}
