/*
** Tables: the catalog (_syn_tables, _syn_columns, _syn_indexes), the two
** physical tables behind each user table (v<id> versions, i<id> intents),
** and the DDL steps. Every DDL step is one SQLite transaction committed
** with FULL sync, catalog and physical change together, so a crash leaves
** either the old or the new schema, never a mix. The in-memory table is
** rebuilt from the catalog after each step (store_catalog.c).
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "participant/store/store_lite_int.h"

/* ---- validation -------------------------------------------------------- */

static int name_ok(const char *name, const char *what, syn_err *err) {
  if (!name || !*name)
    return syn_err_set(err, SYN_EINVAL, "store: empty %s name", what);
  if (strlen(name) > STORE_NAME_MAX)
    return syn_err_set(err, SYN_EINVAL, "store: %s name too long", what);
  if (strncasecmp(name, "_syn_", 5) == 0)
    return syn_err_set(err, SYN_EINVAL,
                       "store: %s name \"%s\" uses the reserved _syn_ prefix",
                       what, name);
  return 0;
}

static const char *aff_norm(const char *aff) {
  static const char *const ok[] = {"INTEGER", "REAL", "TEXT", "BLOB",
                                   "NUMERIC"};
  if (!aff || !*aff) return "BLOB";
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (strcasecmp(aff, ok[i]) == 0) return ok[i];
  return NULL;
}

static int col_find(const st_table *t, const char *name) {
  for (int i = 0; i < t->ncols; i++)
    if (strcasecmp(t->cols[i].name, name) == 0) return i;
  return -1;
}

static int idx_find(const st_table *t, const char *name) {
  for (int i = 0; i < t->nidx; i++)
    if (strcasecmp(t->idx[i].name, name) == 0) return i;
  return -1;
}

static int index_def_ok(const store_index_def *d, int ncols, syn_err *err) {
  int rc = name_ok(d->name, "index", err);
  if (rc) return rc;
  if (d->ncols <= 0 || d->ncols > ncols || !d->cols)
    return syn_err_set(err, SYN_EINVAL, "store: index %s has no columns",
                       d->name);
  for (int k = 0; k < d->ncols; k++)
    if (d->cols[k] < 0 || d->cols[k] >= ncols)
      return syn_err_set(err, SYN_EINVAL, "store: index %s column %d out of "
                         "range", d->name, d->cols[k]);
  return 0;
}

/* The barrier: refuse while any transaction holds intents on the table. */
static int no_intents(st_lite *st, st_table *t, store_info *info, syn_err *err) {
  sqlite3_stmt *q;
  int rc = st_tq(st, t, Q_ANY_INTENT, &q, err);
  if (rc) return rc;
  rc = sqlite3_step(q);
  uint64_t holder = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(q, 0) : 0;
  sqlite3_reset(q);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return st_sqlerr(st, err, rc, "intent check");
  if (holder) {
    if (info) info->blocker = holder;
    return syn_err_set(err, SYN_EBUSY, "store: table %u has intents of txn "
                       "%llu", t->id, (unsigned long long)holder);
  }
  return 0;
}

/* Physical indexes for catalog index `phys` over cols. The intent table
** gets one too when unique, so the unique check on intents is a seek. */
static int index_create(st_lite *st, uint32_t id, const char *phys, int unique,
                        const char *const *names, int ncols, syn_err *err) {
  st_sb b = {0};
  for (int pass = 0; pass < (unique ? 2 : 1); pass++) {
    char tab = pass ? 'i' : 'v';
    sb_addf(&b, "CREATE INDEX %c%u_%s ON %c%u(", tab, id, phys, tab, id);
    for (int k = 0; k < ncols; k++) {
      if (k) sb_add(&b, ", ");
      sb_ident(&b, names[k]);
    }
    sb_add(&b, ");");
  }
  int rc = b.oom ? syn_err_set(err, SYN_ENOMEM, "store: sql")
                 : st_exec(st, b.p, err);
  sb_free(&b);
  return rc;
}

static int index_catalog_add(st_lite *st, uint32_t id, const char *name,
                             const char *phys, int unique, const int *cols,
                             int ncols, syn_err *err) {
  st_sb c = {0};
  for (int k = 0; k < ncols; k++) sb_addf(&c, k ? ",%d" : "%d", cols[k]);
  sqlite3_stmt *s;
  int rc = c.oom ? syn_err_set(err, SYN_ENOMEM, "store: sql")
                 : st_prep(st, "INSERT INTO _syn_indexes(table_id, name, phys,"
                           " is_unique, cols) VALUES (?1, ?2, ?3, ?4, ?5)",
                           &s, err);
  if (rc) {
    sb_free(&c);
    return rc;
  }
  sqlite3_bind_int64(s, 1, id);
  sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 3, phys, -1, SQLITE_STATIC);
  sqlite3_bind_int(s, 4, unique);
  sqlite3_bind_text(s, 5, c.p, -1, SQLITE_STATIC);
  rc = st_run(st, s, err, "catalog index");
  sqlite3_finalize(s);
  sb_free(&c);
  return rc;
}

/* Run one parameterised catalog statement with up to 4 int/text args:
** fmt chars 'i' (int64) and 's' (text). */
static int cat_exec(st_lite *st, const char *sql, syn_err *err, const char *fmt,
                    ...) {
  sqlite3_stmt *s;
  int rc = st_prep(st, sql, &s, err);
  if (rc) return rc;
  va_list ap;
  va_start(ap, fmt);
  for (int i = 0; fmt[i]; i++) {
    if (fmt[i] == 'i') sqlite3_bind_int64(s, i + 1, va_arg(ap, long long));
    else sqlite3_bind_text(s, i + 1, va_arg(ap, const char *), -1,
                           SQLITE_TRANSIENT);
  }
  va_end(ap);
  rc = st_run(st, s, err, "catalog");
  sqlite3_finalize(s);
  return rc;
}

/* ---- DDL steps ------------------------------------------------------------ */

int stl_create_table(st_lite *st, const store_table_def *d, syn_err *err) {
  ST_GUARD(st, err);
  if (!d) return syn_err_set(err, SYN_EINVAL, "store: NULL table def");
  if (st_table_find(st, d->table_id))
    return syn_err_set(err, SYN_EEXIST, "store: table %u exists", d->table_id);
  if (d->ncols < 0 || d->ncols > STORE_MAX_COLS || (d->ncols && !d->cols))
    return syn_err_set(err, SYN_EINVAL, "store: bad column count %d",
                       d->ncols);
  if (d->nkey < 0 || d->nkey > d->ncols || (d->nkey && !d->key_cols))
    return syn_err_set(err, SYN_EINVAL, "store: bad key column count %d",
                       d->nkey);
  int rc;
  for (int i = 0; i < d->ncols; i++) {
    if ((rc = name_ok(d->cols[i].name, "column", err))) return rc;
    if (!aff_norm(d->cols[i].affinity))
      return syn_err_set(err, SYN_EINVAL, "store: column %s: bad affinity %s",
                         d->cols[i].name, d->cols[i].affinity);
    for (int j = 0; j < i; j++)
      if (strcasecmp(d->cols[i].name, d->cols[j].name) == 0)
        return syn_err_set(err, SYN_EINVAL, "store: duplicate column %s",
                           d->cols[i].name);
  }
  for (int k = 0; k < d->nkey; k++) {
    if (d->key_cols[k] < 0 || d->key_cols[k] >= d->ncols)
      return syn_err_set(err, SYN_EINVAL, "store: key column %d out of range",
                         d->key_cols[k]);
    for (int j = 0; j < k; j++)
      if (d->key_cols[j] == d->key_cols[k])
        return syn_err_set(err, SYN_EINVAL, "store: key column repeated");
  }
  if (d->nindexes < 0 || (d->nindexes && !d->indexes))
    return syn_err_set(err, SYN_EINVAL, "store: bad index count");
  for (int i = 0; i < d->nindexes; i++) {
    if ((rc = index_def_ok(&d->indexes[i], d->ncols, err))) return rc;
    for (int j = 0; j < i; j++)
      if (strcasecmp(d->indexes[i].name, d->indexes[j].name) == 0)
        return syn_err_set(err, SYN_EINVAL, "store: duplicate index %s",
                           d->indexes[i].name);
  }
  const char *pk = d->pkey_name ? d->pkey_name : "pkey";
  if (strlen(pk) > STORE_NAME_MAX)
    return syn_err_set(err, SYN_EINVAL, "store: pkey name too long");

  st_sb b = {0};
  uint32_t id = d->table_id;
  sb_addf(&b, "CREATE TABLE v%u(_syn_key BLOB NOT NULL, _syn_ts INTEGER NOT "
              "NULL, _syn_del INTEGER NOT NULL", id);
  for (int i = 0; i < d->ncols; i++) {
    sb_add(&b, ", ");
    sb_ident(&b, d->cols[i].name);
    sb_addf(&b, " %s", aff_norm(d->cols[i].affinity));
  }
  sb_addf(&b, ", PRIMARY KEY(_syn_key, _syn_ts)) WITHOUT ROWID;\n"
              "CREATE TABLE i%u(_syn_key BLOB NOT NULL PRIMARY KEY, _syn_txn "
              "INTEGER NOT NULL, _syn_op INTEGER NOT NULL", id);
  for (int i = 0; i < d->ncols; i++) {
    sb_add(&b, ", ");
    sb_ident(&b, d->cols[i].name);
    sb_addf(&b, " %s", aff_norm(d->cols[i].affinity));
  }
  sb_addf(&b, ") WITHOUT ROWID;\nCREATE INDEX i%u_txn ON i%u(_syn_txn);\n"
              "CREATE TABLE u%u(_syn_txn INTEGER NOT NULL, _syn_sp INTEGER NOT "
              "NULL, _syn_key BLOB NOT NULL, _syn_had INTEGER NOT NULL, "
              "_syn_op INTEGER NOT NULL", id, id, id);
  for (int i = 0; i < d->ncols; i++) {
    sb_add(&b, ", ");
    sb_ident(&b, d->cols[i].name);
    sb_addf(&b, " %s", aff_norm(d->cols[i].affinity));
  }
  sb_add(&b, ", PRIMARY KEY(_syn_txn, _syn_sp, _syn_key)) WITHOUT ROWID;");
  if (b.oom) {
    sb_free(&b);
    return syn_err_set(err, SYN_ENOMEM, "store: sql");
  }
  if ((rc = st_begin(st, 1, err))) {
    sb_free(&b);
    return rc;
  }
  rc = st_exec(st, b.p, err);
  sb_free(&b);
  if (!rc)
    rc = cat_exec(st, "INSERT INTO _syn_tables(id, nkey, pkey_name, next_idx)"
                  " VALUES (?1, ?2, ?3, ?4)", err, "iisi", (long long)id,
                  (long long)d->nkey, pk, (long long)d->nindexes);
  for (int i = 0; !rc && i < d->ncols; i++) {
    int ko = -1;
    for (int k = 0; k < d->nkey; k++)
      if (d->key_cols[k] == i) ko = k;
    rc = cat_exec(st, "INSERT INTO _syn_columns(table_id, pos, name, aff, "
                  "key_ord) VALUES (?1, ?2, ?3, ?4, ?5)", err, "iissi",
                  (long long)id, (long long)i, d->cols[i].name,
                  aff_norm(d->cols[i].affinity), (long long)ko);
  }
  for (int i = 0; !rc && i < d->nindexes; i++) {
    const store_index_def *x = &d->indexes[i];
    const char *names[STORE_MAX_COLS];
    char phys[32];
    snprintf(phys, sizeof phys, "x%d", i);
    for (int k = 0; k < x->ncols; k++) names[k] = d->cols[x->cols[k]].name;
    rc = index_create(st, id, phys, x->unique, names, x->ncols, err);
    if (!rc)
      rc = index_catalog_add(st, id, x->name, phys, x->unique, x->cols,
                             x->ncols, err);
  }
  /* DDL is acknowledged to the catalog's replicated log: it must survive a
  ** crash once this returns, so the commit fsyncs (st_begin durable). */
  if (!rc) rc = st_commit(st, err);
  else st_rollback(st);
  if (rc) return rc;
  return st_table_load(st, id, err);
}

int stl_drop_table(st_lite *st, uint32_t table_id, store_info *info,
                     syn_err *err) {
  ST_GUARD(st, err);
  st_table *t;
  int rc = st_table_get(st, table_id, &t, err);
  if (rc || (rc = no_intents(st, t, info, err))) return rc;
  st_table_stmts_drop(st, t);
  char sql[128];
  snprintf(sql, sizeof sql, "DROP TABLE v%u; DROP TABLE i%u; DROP TABLE u%u;",
           table_id, table_id, table_id);
  if ((rc = st_begin(st, 1, err))) return rc;
  rc = st_exec(st, sql, err);
  if (!rc) rc = cat_exec(st, "DELETE FROM _syn_tables WHERE id = ?1", err,
                         "i", (long long)table_id);
  if (!rc) rc = cat_exec(st, "DELETE FROM _syn_columns WHERE table_id = ?1",
                         err, "i", (long long)table_id);
  if (!rc) rc = cat_exec(st, "DELETE FROM _syn_indexes WHERE table_id = ?1",
                         err, "i", (long long)table_id);
  if (!rc) rc = cat_exec(st, "DELETE FROM _syn_txn_tables WHERE table_id=?1",
                         err, "i", (long long)table_id);
  /* Durable: the catalog log entry that dropped the table is applied. */
  if (!rc) rc = st_commit(st, err);
  else st_rollback(st);
  if (rc) return rc;
  st_table_unlink(st, table_id);
  return 0;
}

int stl_truncate_table(st_lite *st, uint32_t table_id, store_info *info,
                         syn_err *err) {
  ST_GUARD(st, err);
  st_table *t;
  int rc = st_table_get(st, table_id, &t, err);
  if (rc || (rc = no_intents(st, t, info, err))) return rc;
  char sql[64];
  snprintf(sql, sizeof sql, "DELETE FROM v%u;", table_id);
  if ((rc = st_begin(st, 1, err))) return rc;
  rc = st_exec(st, sql, err);
  /* Durable: TRUNCATE is acknowledged once this returns. */
  if (!rc) rc = st_commit(st, err);
  else st_rollback(st);
  return rc;
}

/* SQL literal for an ADD COLUMN default. */
static int literal(st_sb *b, const syn_value *v, syn_err *err) {
  switch (v->type) {
  case SYN_V_NULL: sb_add(b, "NULL"); return 0;
  case SYN_V_INT: sb_addf(b, "%lld", (long long)v->u.i); return 0;
  case SYN_V_REAL:
    if (v->u.r != v->u.r || v->u.r - v->u.r != 0)
      return syn_err_set(err, SYN_EINVAL, "store: non-finite default");
    sb_addf(b, "%.17e", v->u.r);
    return 0;
  case SYN_V_TEXT:
    sb_add(b, "'");
    for (size_t i = 0; i < v->u.b.n; i++) {
      char c[3] = {(char)v->u.b.p[i], 0, 0};
      if (!c[0]) return syn_err_set(err, SYN_EINVAL, "store: NUL in default");
      if (c[0] == '\'') c[1] = '\'';
      sb_add(b, c);
    }
    sb_add(b, "'");
    return 0;
  case SYN_V_BLOB:
    sb_add(b, "X'");
    for (size_t i = 0; i < v->u.b.n; i++) sb_addf(b, "%02x", v->u.b.p[i]);
    sb_add(b, "'");
    return 0;
  }
  return syn_err_set(err, SYN_EINVAL, "store: bad default type");
}

/* Run the ALTER statements built in b as the start of a schema change:
** b is freed; on success a write transaction is open for the caller's
** catalog updates (commit or roll back), on failure none is. Cached
** statements of t are dropped first because they name its columns. */
static int begin_schema_sql(st_lite *st, st_table *t, st_sb *b, syn_err *err) {
  if (b->oom) {
    sb_free(b);
    return syn_err_set(err, SYN_ENOMEM, "store: sql");
  }
  st_table_stmts_drop(st, t);
  int rc = st_begin(st, 1, err);
  if (!rc) {
    rc = st_exec(st, b->p, err);
    if (rc) st_rollback(st);
  }
  sb_free(b);
  return rc;
}

int stl_add_column(st_lite *st, uint32_t table_id, const store_col_def *col,
                     const syn_value *deflt, syn_err *err) {
  ST_GUARD(st, err);
  st_table *t;
  int rc = st_table_get(st, table_id, &t, err);
  if (rc) return rc;
  if (!col) return syn_err_set(err, SYN_EINVAL, "store: NULL column");
  if ((rc = name_ok(col->name, "column", err))) return rc;
  const char *aff = aff_norm(col->affinity);
  if (!aff)
    return syn_err_set(err, SYN_EINVAL, "store: bad affinity %s",
                       col->affinity);
  if (col_find(t, col->name) >= 0)
    return syn_err_set(err, SYN_EEXIST, "store: column %s exists", col->name);
  if (t->ncols >= STORE_MAX_COLS)
    return syn_err_set(err, SYN_ERANGE, "store: too many columns");
  st_sb b = {0};
  for (int pass = 0; pass < 3; pass++) {
    sb_addf(&b, "ALTER TABLE %c%u ADD COLUMN ", "viu"[pass], table_id);
    sb_ident(&b, col->name);
    sb_addf(&b, " %s", aff);
    if (deflt && deflt->type != SYN_V_NULL) {
      sb_add(&b, " DEFAULT ");
      if ((rc = literal(&b, deflt, err))) {
        sb_free(&b);
        return rc;
      }
    }
    sb_add(&b, ";");
  }
  if ((rc = begin_schema_sql(st, t, &b, err))) return rc;
  if (!rc)
    rc = cat_exec(st, "INSERT INTO _syn_columns(table_id, pos, name, aff, "
                  "key_ord) VALUES (?1, ?2, ?3, ?4, -1)", err, "iiss",
                  (long long)table_id, (long long)t->ncols, col->name, aff);
  /* Durable: schema changes are acknowledged to the catalog log. */
  if (!rc) rc = st_commit(st, err);
  else st_rollback(st);
  if (rc) return rc;
  return st_table_reload(st, table_id, err);
}

static int index_drop_phys(st_lite *st, uint32_t id, const char *phys,
                           syn_err *err) {
  char sql[160];
  snprintf(sql, sizeof sql, "DROP INDEX IF EXISTS v%u_%s; DROP INDEX IF "
           "EXISTS i%u_%s;", id, phys, id, phys);
  return st_exec(st, sql, err);
}

int stl_drop_column(st_lite *st, uint32_t table_id, const char *name,
                      store_info *info, syn_err *err) {
  ST_GUARD(st, err);
  st_table *t;
  int rc = st_table_get(st, table_id, &t, err);
  if (rc) return rc;
  int pos = name ? col_find(t, name) : -1;
  if (pos < 0)
    return syn_err_set(err, SYN_ENOTFOUND, "store: no column %s",
                       name ? name : "(null)");
  if (t->cols[pos].key_ord >= 0)
    return syn_err_set(err, SYN_EINVAL, "store: cannot drop key column %s",
                       name);
  if ((rc = no_intents(st, t, info, err))) return rc;
  st_table_stmts_drop(st, t);
  if ((rc = st_begin(st, 1, err))) return rc;
  for (int i = 0; !rc && i < t->nidx; i++) {
    st_idx *x = &t->idx[i];
    int uses = 0;
    for (int k = 0; k < x->ncols; k++) uses |= x->cols[k] == pos;
    if (uses) {
      rc = index_drop_phys(st, table_id, x->phys, err);
      if (!rc)
        rc = cat_exec(st, "DELETE FROM _syn_indexes WHERE table_id = ?1 AND "
                      "name = ?2", err, "is", (long long)table_id, x->name);
      continue;
    }
    st_sb c = {0};
    for (int k = 0; k < x->ncols; k++)
      sb_addf(&c, k ? ",%d" : "%d", x->cols[k] - (x->cols[k] > pos));
    rc = c.oom ? syn_err_set(err, SYN_ENOMEM, "store: sql")
               : cat_exec(st, "UPDATE _syn_indexes SET cols = ?3 WHERE "
                          "table_id = ?1 AND name = ?2", err, "iss",
                          (long long)table_id, x->name, c.p);
    sb_free(&c);
  }
  st_sb b = {0};
  for (int pass = 0; pass < 3; pass++) {
    sb_addf(&b, "ALTER TABLE %c%u DROP COLUMN ", "viu"[pass], table_id);
    sb_ident(&b, t->cols[pos].name);
    sb_add(&b, ";");
  }
  if (!rc) rc = b.oom ? SYN_ENOMEM : st_exec(st, b.p, err);
  sb_free(&b);
  if (!rc)
    rc = cat_exec(st, "DELETE FROM _syn_columns WHERE table_id = ?1 AND "
                  "pos = ?2", err, "ii", (long long)table_id, (long long)pos);
  /* Renumber in two passes so (table_id, pos) never collides midway. */
  if (!rc)
    rc = cat_exec(st, "UPDATE _syn_columns SET pos = -pos WHERE table_id = ?1"
                  " AND pos > ?2", err, "ii", (long long)table_id,
                  (long long)pos);
  if (!rc)
    rc = cat_exec(st, "UPDATE _syn_columns SET pos = -pos - 1 WHERE "
                  "table_id = ?1 AND pos < 0", err, "i", (long long)table_id);
  /* Durable: schema changes are acknowledged to the catalog log. */
  if (!rc) rc = st_commit(st, err);
  else st_rollback(st);
  if (rc) return rc;
  return st_table_reload(st, table_id, err);
}

int stl_rename_column(st_lite *st, uint32_t table_id, const char *from,
                        const char *to, syn_err *err) {
  ST_GUARD(st, err);
  st_table *t;
  int rc = st_table_get(st, table_id, &t, err);
  if (rc) return rc;
  int pos = from ? col_find(t, from) : -1;
  if (pos < 0)
    return syn_err_set(err, SYN_ENOTFOUND, "store: no column %s",
                       from ? from : "(null)");
  if ((rc = name_ok(to, "column", err))) return rc;
  int other = col_find(t, to);
  if (other >= 0 && other != pos)
    return syn_err_set(err, SYN_EEXIST, "store: column %s exists", to);
  st_sb b = {0};
  for (int pass = 0; pass < 3; pass++) {
    sb_addf(&b, "ALTER TABLE %c%u RENAME COLUMN ", "viu"[pass], table_id);
    sb_ident(&b, t->cols[pos].name);
    sb_add(&b, " TO ");
    sb_ident(&b, to);
    sb_add(&b, ";");
  }
  if ((rc = begin_schema_sql(st, t, &b, err))) return rc;
  if (!rc)
    rc = cat_exec(st, "UPDATE _syn_columns SET name = ?3 WHERE table_id = ?1 "
                  "AND pos = ?2", err, "iis", (long long)table_id,
                  (long long)pos, to);
  /* Durable: schema changes are acknowledged to the catalog log. */
  if (!rc) rc = st_commit(st, err);
  else st_rollback(st);
  if (rc) return rc;
  return st_table_reload(st, table_id, err);
}

int stl_create_index(st_lite *st, uint32_t table_id, const store_index_def *d,
                       store_info *info, syn_err *err) {
  ST_GUARD(st, err);
  st_table *t;
  int rc = st_table_get(st, table_id, &t, err);
  if (rc) return rc;
  if (!d) return syn_err_set(err, SYN_EINVAL, "store: NULL index def");
  if ((rc = index_def_ok(d, t->ncols, err))) return rc;
  if (idx_find(t, d->name) >= 0)
    return syn_err_set(err, SYN_EEXIST, "store: index %s exists", d->name);
  /* A new unique constraint must hold for rows in flight too. */
  if (d->unique && (rc = no_intents(st, t, info, err))) return rc;
  const char *names[STORE_MAX_COLS];
  for (int k = 0; k < d->ncols; k++) names[k] = t->cols[d->cols[k]].name;
  if (d->unique) {
    /* Existing latest rows must already be unique (NULLs are distinct). */
    st_sb b = {0};
    sb_addf(&b, "SELECT 1 FROM v%u AS v WHERE v._syn_del = 0", table_id);
    for (int k = 0; k < d->ncols; k++) {
      sb_add(&b, " AND v.");
      sb_ident(&b, names[k]);
      sb_add(&b, " IS NOT NULL");
    }
    sb_addf(&b, " AND v._syn_ts = (SELECT max(w._syn_ts) FROM v%u AS w WHERE"
                " w._syn_key = v._syn_key) GROUP BY ", table_id);
    for (int k = 0; k < d->ncols; k++) {
      if (k) sb_add(&b, ", ");
      sb_add(&b, "v.");
      sb_ident(&b, names[k]);
    }
    sb_add(&b, " HAVING count(*) > 1 LIMIT 1");
    sqlite3_stmt *s = NULL;
    rc = b.oom ? syn_err_set(err, SYN_ENOMEM, "store: sql")
               : st_prep(st, b.p, &s, err);
    sb_free(&b);
    if (rc) return rc;
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_ROW) {
      if (info) snprintf(info->constraint, sizeof info->constraint, "%s",
                         d->name);
      return syn_err_set(err, STORE_EUNIQUE, "store: existing rows violate "
                         "unique constraint \"%s\"", d->name);
    }
    if (rc != SQLITE_DONE) return st_sqlerr(st, err, rc, "unique scan");
  }
  char phys[32];
  snprintf(phys, sizeof phys, "x%d", t->next_idx);
  st_table_stmts_drop(st, t);
  if ((rc = st_begin(st, 1, err))) return rc;
  rc = index_create(st, table_id, phys, d->unique, names, d->ncols, err);
  if (!rc)
    rc = index_catalog_add(st, table_id, d->name, phys, d->unique, d->cols,
                           d->ncols, err);
  if (!rc)
    rc = cat_exec(st, "UPDATE _syn_tables SET next_idx = next_idx + 1 WHERE "
                  "id = ?1", err, "i", (long long)table_id);
  /* Durable: schema changes are acknowledged to the catalog log. */
  if (!rc) rc = st_commit(st, err);
  else st_rollback(st);
  if (rc) return rc;
  return st_table_reload(st, table_id, err);
}

int stl_drop_index(st_lite *st, uint32_t table_id, const char *name,
                     syn_err *err) {
  ST_GUARD(st, err);
  st_table *t;
  int rc = st_table_get(st, table_id, &t, err);
  if (rc) return rc;
  int i = name ? idx_find(t, name) : -1;
  if (i < 0)
    return syn_err_set(err, SYN_ENOTFOUND, "store: no index %s",
                       name ? name : "(null)");
  st_table_stmts_drop(st, t);
  if ((rc = st_begin(st, 1, err))) return rc;
  rc = index_drop_phys(st, table_id, t->idx[i].phys, err);
  if (!rc)
    rc = cat_exec(st, "DELETE FROM _syn_indexes WHERE table_id = ?1 AND "
                  "name = ?2", err, "is", (long long)table_id, t->idx[i].name);
  /* Durable: schema changes are acknowledged to the catalog log. */
  if (!rc) rc = st_commit(st, err);
  else st_rollback(st);
  if (rc) return rc;
  return st_table_reload(st, table_id, err);
}

int stl_table_ncols(st_lite *st, uint32_t table_id) {
  if (!st) return SYN_EINVAL;
  st_table *t = st_table_find(st, table_id);
  return t ? t->ncols : SYN_ENOTFOUND;
}
