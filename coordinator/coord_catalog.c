/*
** The coordinator's durable catalog file (format in coord_catalog.h).
**
** Durability: synchronous=FULL in WAL mode makes SQLite fsync the WAL at
** every commit, so a function here that returned 0 after writing has its
** change on disk. Callers (DDL intents, sequence ranges, the id epoch,
** participant ids) depend on exactly that before they act on the change.
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
                "CREATE TABLE IF NOT EXISTS tables(name TEXT PRIMARY KEY, id INTEGER, def BLOB);"
                "CREATE TABLE IF NOT EXISTS seqs(name TEXT PRIMARY KEY, reserved INTEGER);"
                "CREATE TABLE IF NOT EXISTS parts(name TEXT PRIMARY KEY, id INTEGER);"
                "CREATE TABLE IF NOT EXISTS roles(name TEXT PRIMARY KEY, def BLOB);"
                "CREATE TABLE IF NOT EXISTS ddl(seq INTEGER PRIMARY KEY, kind INTEGER, tbl TEXT,"
                " req BLOB, undo BLOB, def BLOB, aux INTEGER);",
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

int coord_cat_tables(coord_catalog *c, coord_cat_table_fn fn, void *ud, syn_err *err) {
  sqlite3_stmt *st;
  int rc = prep(c, "SELECT name, def FROM tables ORDER BY name", &st, err);
  if (rc < 0) return rc;
  int s;
  while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0);
    const char *def = sqlite3_column_blob(st, 1);
    size_t len = (size_t)sqlite3_column_bytes(st, 1);
    rc = fn(ud, name ? name : "", def ? def : "", len);
    if (rc != 0) break;
  }
  if (rc == 0 && s != SQLITE_DONE) rc = db_err(c, err, "tables");
  sqlite3_finalize(st);
  return rc;
}

int coord_cat_table_put(coord_catalog *c, const char *name, uint64_t id, const char *def,
                        size_t len, syn_err *err) {
  sqlite3_stmt *st;
  int rc = prep(c, "INSERT OR REPLACE INTO tables(name, id, def) VALUES (?1, ?2, ?3)", &st, err);
  if (rc < 0) return rc;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (int64_t)id);
  sqlite3_bind_blob(st, 3, def, (int)len, SQLITE_STATIC);
  return run(c, st, err);
}

int coord_cat_table_del(coord_catalog *c, const char *name, syn_err *err) {
  sqlite3_stmt *st;
  int rc = prep(c, "DELETE FROM tables WHERE name = ?1", &st, err);
  if (rc < 0) return rc;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
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

int coord_cat_seq_get(coord_catalog *c, const char *name, int64_t *reserved, bool *found,
                      syn_err *err) {
  sqlite3_stmt *st;
  int rc = prep(c, "SELECT reserved FROM seqs WHERE name = ?1", &st, err);
  if (rc < 0) return rc;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  *found = false;
  if (s == SQLITE_ROW) {
    *reserved = sqlite3_column_int64(st, 0);
    *found = true;
  } else if (s != SQLITE_DONE) {
    rc = db_err(c, err, "seqs");
  }
  sqlite3_finalize(st);
  return rc;
}

int coord_cat_seq_set(coord_catalog *c, const char *name, int64_t reserved, syn_err *err) {
  sqlite3_stmt *st;
  int rc = prep(c, "INSERT OR REPLACE INTO seqs(name, reserved) VALUES (?1, ?2)", &st, err);
  if (rc < 0) return rc;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, reserved);
  return run(c, st, err);
}

int coord_cat_seq_del(coord_catalog *c, const char *name, syn_err *err) {
  sqlite3_stmt *st;
  int rc = prep(c, "DELETE FROM seqs WHERE name = ?1", &st, err);
  if (rc < 0) return rc;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  return run(c, st, err);
}

int coord_cat_intent_add(coord_catalog *c, coord_intent *in, syn_err *err) {
  sqlite3_stmt *st;
  int rc = prep(c, "INSERT INTO ddl(kind, tbl, req, undo, def, aux) VALUES (?1,?2,?3,?4,?5,?6)",
                &st, err);
  if (rc < 0) return rc;
  sqlite3_bind_int(st, 1, in->kind);
  sqlite3_bind_text(st, 2, in->table, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 3, in->req, (int)in->req_len, SQLITE_STATIC);
  if (in->undo) sqlite3_bind_blob(st, 4, in->undo, (int)in->undo_len, SQLITE_STATIC);
  if (in->def) sqlite3_bind_blob(st, 5, in->def, (int)in->def_len, SQLITE_STATIC);
  sqlite3_bind_int64(st, 6, in->aux);
  rc = run(c, st, err);
  if (rc == 0) in->seq = sqlite3_last_insert_rowid(c->db);
  return rc;
}

int coord_cat_intent_del(coord_catalog *c, int64_t seq, syn_err *err) {
  sqlite3_stmt *st;
  int rc = prep(c, "DELETE FROM ddl WHERE seq = ?1", &st, err);
  if (rc < 0) return rc;
  sqlite3_bind_int64(st, 1, seq);
  return run(c, st, err);
}

int coord_cat_intents(coord_catalog *c, int (*fn)(void *ud, const coord_intent *in), void *ud,
                      syn_err *err) {
  sqlite3_stmt *st;
  int rc = prep(c, "SELECT seq, kind, tbl, req, undo, def, aux FROM ddl ORDER BY seq", &st, err);
  if (rc < 0) return rc;
  int s;
  while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    coord_intent in = {
        .seq = sqlite3_column_int64(st, 0),
        .kind = sqlite3_column_int(st, 1),
        .table = (const char *)sqlite3_column_text(st, 2),
        .req = sqlite3_column_blob(st, 3),
        .req_len = (size_t)sqlite3_column_bytes(st, 3),
        .undo = sqlite3_column_blob(st, 4),
        .undo_len = (size_t)sqlite3_column_bytes(st, 4),
        .def = sqlite3_column_blob(st, 5),
        .def_len = (size_t)sqlite3_column_bytes(st, 5),
        .aux = sqlite3_column_int64(st, 6),
    };
    if (!in.table) in.table = "";
    rc = fn(ud, &in);
    if (rc != 0) break;
  }
  if (rc == 0 && s != SQLITE_DONE) rc = db_err(c, err, "ddl");
  sqlite3_finalize(st);
  return rc;
}

int coord_cat_role_get(coord_catalog *c, const char *name, char **def, size_t *len, bool *found,
                       syn_err *err) {
  sqlite3_stmt *st;
  *def = NULL;
  *len = 0;
  *found = false;
  int rc = prep(c, "SELECT def FROM roles WHERE name = ?1", &st, err);
  if (rc < 0) return rc;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  if (s == SQLITE_ROW) {
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    const void *p = sqlite3_column_blob(st, 0);
    char *d = malloc(n + 1);
    if (!d) {
      rc = syn_err_set(err, SYN_ENOMEM, "out of memory");
    } else {
      if (n) memcpy(d, p, n);
      d[n] = '\0';
      *def = d;
      *len = n;
      *found = true;
    }
  } else if (s != SQLITE_DONE) {
    rc = db_err(c, err, "roles");
  }
  sqlite3_finalize(st);
  return rc;
}

int coord_cat_role_put(coord_catalog *c, const char *name, const char *def, size_t len,
                       syn_err *err) {
  sqlite3_stmt *st;
  int rc = prep(c, "INSERT OR REPLACE INTO roles(name, def) VALUES (?1, ?2)", &st, err);
  if (rc < 0) return rc;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, def, (int)len, SQLITE_STATIC);
  return run(c, st, err);
}

int coord_cat_role_del(coord_catalog *c, const char *name, syn_err *err) {
  sqlite3_stmt *st;
  int rc = prep(c, "DELETE FROM roles WHERE name = ?1", &st, err);
  if (rc < 0) return rc;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  return run(c, st, err);
}

int coord_cat_role_list(coord_catalog *c, coord_cat_table_fn fn, void *ud, syn_err *err) {
  sqlite3_stmt *st;
  int rc = prep(c, "SELECT name, def FROM roles ORDER BY name", &st, err);
  if (rc < 0) return rc;
  int s;
  while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0);
    const char *def = sqlite3_column_blob(st, 1);
    size_t len = (size_t)sqlite3_column_bytes(st, 1);
    rc = fn(ud, name ? name : "", def ? def : "", len);
    if (rc != 0) break;
  }
  if (rc == 0 && s != SQLITE_DONE) rc = db_err(c, err, "roles");
  sqlite3_finalize(st);
  return rc;
}
