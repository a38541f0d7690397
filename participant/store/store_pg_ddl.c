/*
** PostgreSQL backend: the physical tables v<id>, i<id>, u<id> with
** PostgreSQL types, and the DDL steps (the catalog, mirror and recovery
** are in store_pg_catalog.c). Every
** DDL step is one PostgreSQL transaction committed with synchronous_commit
** on, catalog and physical change together (PostgreSQL DDL is
** transactional), so a crash leaves the old or the new schema.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "participant/store/store_pg_int.h"

static const char *aff_norm(const char *aff) {
  static const char *const ok[] = {"INTEGER", "REAL", "TEXT", "BLOB",
                                   "NUMERIC"};
  if (!aff || !*aff) return "BLOB";
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (strcasecmp(aff, ok[i]) == 0) return ok[i];
  return NULL;
}


static const char *pg_type(const char *aff) {
  switch (sp_aff_type(aff)) {
  case SP_T_INT: return "bigint";
  case SP_T_REAL: return "double precision";
  case SP_T_TEXT: return "text COLLATE \"C\"";
  case SP_T_NUM: return "numeric";
  default: return "bytea";
  }
}

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

static int col_find(const sp_table *t, const char *name) {
  for (int i = 0; i < t->ncols; i++)
    if (strcasecmp(t->cols[i].name, name) == 0) return i;
  return -1;
}

static int idx_find(const sp_table *t, const char *name) {
  for (int i = 0; i < t->nidx; i++)
    if (strcasecmp(t->idx[i].name, name) == 0) return i;
  return -1;
}

/* ---- DDL ------------------------------------------------------------------------- */

static int cat_exec(store_pg *st, const char *sql, syn_err *err,
                    const char *fmt, ...) {
  sp_params p;
  sp_p_init(&p);
  va_list ap;
  va_start(ap, fmt);
  for (int i = 0; fmt[i]; i++) {
    if (fmt[i] == 'i') sp_p_i64(&p, va_arg(ap, long long));
    else sp_p_text(&p, va_arg(ap, const char *));
  }
  va_end(ap);
  int rc = sp_exec(st, sql, &p, NULL, err);
  sp_p_free(&p);
  return rc;
}

/* Refuse while any txn holds intents on the table (the DDL barrier). */
static int no_intents(store_pg *st, sp_table *t, store_info *info,
                      syn_err *err) {
  char sql[64];
  snprintf(sql, sizeof sql, "SELECT _syn_txn FROM i%u LIMIT 1", t->id);
  PGresult *r;
  int rc = sp_exec(st, sql, NULL, &r, err);
  if (rc) return rc;
  uint64_t holder = PQntuples(r) ? (uint64_t)sp_get_i64(r, 0, 0) : 0;
  PQclear(r);
  if (holder) {
    if (info) info->blocker = holder;
    return syn_err_set(err, SYN_EBUSY, "store: table %u has intents of txn "
                       "%llu", t->id, (unsigned long long)holder);
  }
  return 0;
}

static int index_create(store_pg *st, uint32_t id, const char *phys,
                        int unique, const char *const *names, int ncols,
                        syn_err *err) {
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
                 : sp_exec(st, b.p, NULL, NULL, err);
  sb_free(&b);
  return rc;
}

static int index_catalog_add(store_pg *st, uint32_t id, const char *name,
                             const char *phys, int unique, const int *cols,
                             int ncols, syn_err *err) {
  st_sb c = {0};
  for (int k = 0; k < ncols; k++) sb_addf(&c, k ? ",%d" : "%d", cols[k]);
  int rc = c.oom ? syn_err_set(err, SYN_ENOMEM, "store: sql")
                 : cat_exec(st, "INSERT INTO _syn_indexes(table_id, name, "
                            "phys, is_unique, cols) VALUES ($1, $2, $3, $4, "
                            "$5)", err, "issis", (long long)id, name, phys,
                            (long long)unique, c.p);
  sb_free(&c);
  return rc;
}

static void add_typed_cols(st_sb *b, const store_col_def *cols, int n) {
  for (int i = 0; i < n; i++) {
    sb_add(b, ", ");
    sb_ident(b, cols[i].name);
    sb_addf(b, " %s", pg_type(aff_norm(cols[i].affinity)));
  }
}

int spg_create_table(void *be, const store_table_def *d, syn_err *err) {
  store_pg *st = be;
  SP_GUARD(st, err);
  if (!d) return syn_err_set(err, SYN_EINVAL, "store: NULL table def");
  if (sp_table_find(st, d->table_id))
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
    const store_index_def *x = &d->indexes[i];
    if ((rc = name_ok(x->name, "index", err))) return rc;
    if (x->ncols <= 0 || x->ncols > d->ncols || !x->cols)
      return syn_err_set(err, SYN_EINVAL, "store: index %s has no columns",
                         x->name);
    for (int k = 0; k < x->ncols; k++)
      if (x->cols[k] < 0 || x->cols[k] >= d->ncols)
        return syn_err_set(err, SYN_EINVAL, "store: index %s column %d out of"
                           " range", x->name, x->cols[k]);
    for (int j = 0; j < i; j++)
      if (strcasecmp(x->name, d->indexes[j].name) == 0)
        return syn_err_set(err, SYN_EINVAL, "store: duplicate index %s",
                           x->name);
  }
  const char *pk = d->pkey_name ? d->pkey_name : "pkey";
  if (strlen(pk) > STORE_NAME_MAX)
    return syn_err_set(err, SYN_EINVAL, "store: pkey name too long");
  uint32_t id = d->table_id;
  st_sb b = {0};
  sb_addf(&b, "CREATE TABLE v%u(_syn_key bytea NOT NULL, _syn_ts bigint NOT "
              "NULL, _syn_del integer NOT NULL", id);
  add_typed_cols(&b, d->cols, d->ncols);
  sb_addf(&b, ", PRIMARY KEY(_syn_key, _syn_ts));\nCREATE TABLE i%u(_syn_key "
              "bytea NOT NULL PRIMARY KEY, _syn_txn bigint NOT NULL, _syn_op "
              "integer NOT NULL", id);
  add_typed_cols(&b, d->cols, d->ncols);
  sb_addf(&b, ");\nCREATE INDEX i%u_txn ON i%u(_syn_txn);\nCREATE TABLE u%u("
              "_syn_txn bigint NOT NULL, _syn_sp bigint NOT NULL, _syn_key "
              "bytea NOT NULL, _syn_had integer NOT NULL, _syn_op integer NOT "
              "NULL", id, id, id);
  add_typed_cols(&b, d->cols, d->ncols);
  sb_add(&b, ", PRIMARY KEY(_syn_txn, _syn_sp, _syn_key));");
  if (b.oom) {
    sb_free(&b);
    return syn_err_set(err, SYN_ENOMEM, "store: sql");
  }
  if ((rc = sp_begin(st, 1, err))) {
    sb_free(&b);
    return rc;
  }
  rc = sp_exec(st, b.p, NULL, NULL, err);
  sb_free(&b);
  if (!rc)
    rc = cat_exec(st, "INSERT INTO _syn_tables(id, nkey, pkey_name, next_idx)"
                  " VALUES ($1, $2, $3, $4)", err, "iisi", (long long)id,
                  (long long)d->nkey, pk, (long long)d->nindexes);
  for (int i = 0; !rc && i < d->ncols; i++) {
    int ko = -1;
    for (int k = 0; k < d->nkey; k++)
      if (d->key_cols[k] == i) ko = k;
    rc = cat_exec(st, "INSERT INTO _syn_columns(table_id, pos, name, aff, "
                  "key_ord) VALUES ($1, $2, $3, $4, $5)", err, "iissi",
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
  /* Durable (synchronous_commit on): DDL is acknowledged to the catalog
  ** and must survive a crash once this returns. */
  if (!rc) rc = sp_commit(st, err);
  else sp_rollback(st);
  if (rc) return rc;
  return sp_table_load(st, id, err);
}

int spg_drop_table(void *be, uint32_t table_id, store_info *info,
                   syn_err *err) {
  store_pg *st = be;
  SP_GUARD(st, err);
  sp_table *t;
  int rc = sp_table_get(st, table_id, &t, err);
  if (rc || (rc = no_intents(st, t, info, err))) return rc;
  char sql[128];
  snprintf(sql, sizeof sql, "DROP TABLE v%u; DROP TABLE i%u; DROP TABLE u%u;",
           table_id, table_id, table_id);
  if ((rc = sp_begin(st, 1, err))) return rc;
  rc = sp_exec(st, sql, NULL, NULL, err);
  if (!rc) rc = cat_exec(st, "DELETE FROM _syn_tables WHERE id = $1", err,
                         "i", (long long)table_id);
  if (!rc) rc = cat_exec(st, "DELETE FROM _syn_columns WHERE table_id = $1",
                         err, "i", (long long)table_id);
  if (!rc) rc = cat_exec(st, "DELETE FROM _syn_indexes WHERE table_id = $1",
                         err, "i", (long long)table_id);
  if (!rc) rc = cat_exec(st, "DELETE FROM _syn_txn_tables WHERE table_id=$1",
                         err, "i", (long long)table_id);
  /* Durable: the catalog entry that dropped the table is applied. */
  if (!rc) rc = sp_commit(st, err);
  else sp_rollback(st);
  if (rc) return rc;
  snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS v%u", table_id);
  sp_mirror_exec(st, sql, NULL);
  sp_table_unlink(st, table_id);
  return 0;
}

int spg_truncate_table(void *be, uint32_t table_id, store_info *info,
                       syn_err *err) {
  store_pg *st = be;
  SP_GUARD(st, err);
  sp_table *t;
  int rc = sp_table_get(st, table_id, &t, err);
  if (rc || (rc = no_intents(st, t, info, err))) return rc;
  char sql[64];
  snprintf(sql, sizeof sql, "DELETE FROM v%u", table_id);
  if ((rc = sp_begin(st, 1, err))) return rc;
  rc = sp_exec(st, sql, NULL, NULL, err);
  /* Durable: TRUNCATE is acknowledged once this returns. */
  if (!rc) rc = sp_commit(st, err);
  else sp_rollback(st);
  return rc;
}

/* The literal of an ADD COLUMN default, as the column will store it. */
static int literal(st_sb *b, const sp_col *c, const syn_value *v,
                   syn_err *err) {
  syn_value a;
  char *own = NULL;
  int rc = sp_affine(c, v, &a, &own, err);
  if (rc) return rc;
  switch (a.type) {
  case SYN_V_NULL: sb_add(b, "NULL"); break;
  case SYN_V_INT: sb_addf(b, "%lld", (long long)a.u.i); break;
  case SYN_V_REAL:
    if (a.u.r != a.u.r || a.u.r - a.u.r != 0)
      rc = syn_err_set(err, SYN_EINVAL, "store: non-finite default");
    else sb_addf(b, "'%.17g'", a.u.r);
    break;
  case SYN_V_TEXT:
    sb_add(b, "'");
    for (size_t i = 0; i < a.u.b.n && !rc; i++) {
      char s[3] = {(char)a.u.b.p[i], 0, 0};
      if (!s[0]) rc = syn_err_set(err, SYN_EINVAL, "store: NUL in default");
      if (s[0] == '\'') s[1] = '\'';
      sb_add(b, s);
    }
    sb_add(b, "'");
    break;
  case SYN_V_BLOB:
    sb_add(b, "'\\x");
    for (size_t i = 0; i < a.u.b.n; i++) sb_addf(b, "%02x", a.u.b.p[i]);
    sb_add(b, "'::bytea");
    break;
  }
  free(own);
  return rc;
}

int spg_add_column(void *be, uint32_t table_id, const store_col_def *col,
                   const syn_value *deflt, syn_err *err) {
  store_pg *st = be;
  SP_GUARD(st, err);
  sp_table *t;
  int rc = sp_table_get(st, table_id, &t, err);
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
  sp_col nc = {.name = (char *)col->name, .aff = (char *)aff,
               .type = sp_aff_type(aff), .key_ord = -1};
  st_sb b = {0};
  for (int pass = 0; pass < 3; pass++) {
    sb_addf(&b, "ALTER TABLE %c%u ADD COLUMN ", "viu"[pass], table_id);
    sb_ident(&b, col->name);
    sb_addf(&b, " %s", pg_type(aff));
    if (deflt && deflt->type != SYN_V_NULL) {
      sb_add(&b, " DEFAULT ");
      if ((rc = literal(&b, &nc, deflt, err))) {
        sb_free(&b);
        return rc;
      }
    }
    sb_add(&b, ";");
  }
  if (b.oom) {
    sb_free(&b);
    return syn_err_set(err, SYN_ENOMEM, "store: sql");
  }
  if ((rc = sp_begin(st, 1, err))) {
    sb_free(&b);
    return rc;
  }
  rc = sp_exec(st, b.p, NULL, NULL, err);
  sb_free(&b);
  if (!rc)
    rc = cat_exec(st, "INSERT INTO _syn_columns(table_id, pos, name, aff, "
                  "key_ord) VALUES ($1, $2, $3, $4, -1)", err, "iiss",
                  (long long)table_id, (long long)t->ncols, col->name, aff);
  /* Durable: schema changes are acknowledged to the catalog log. */
  if (!rc) rc = sp_commit(st, err);
  else sp_rollback(st);
  if (rc) return rc;
  return sp_table_reload(st, table_id, err);
}

int spg_drop_column(void *be, uint32_t table_id, const char *name,
                    store_info *info, syn_err *err) {
  store_pg *st = be;
  SP_GUARD(st, err);
  sp_table *t;
  int rc = sp_table_get(st, table_id, &t, err);
  if (rc) return rc;
  int pos = name ? col_find(t, name) : -1;
  if (pos < 0)
    return syn_err_set(err, SYN_ENOTFOUND, "store: no column %s",
                       name ? name : "(null)");
  if (t->cols[pos].key_ord >= 0)
    return syn_err_set(err, SYN_EINVAL, "store: cannot drop key column %s",
                       name);
  if ((rc = no_intents(st, t, info, err))) return rc;
  if ((rc = sp_begin(st, 1, err))) return rc;
  for (int i = 0; !rc && i < t->nidx; i++) {
    sp_idx *x = &t->idx[i];
    int uses = 0;
    for (int k = 0; k < x->ncols; k++) uses |= x->cols[k] == pos;
    if (uses) {
      char sql[160];
      snprintf(sql, sizeof sql, "DROP INDEX IF EXISTS v%u_%s; DROP INDEX IF "
               "EXISTS i%u_%s;", table_id, x->phys, table_id, x->phys);
      rc = sp_exec(st, sql, NULL, NULL, err);
      if (!rc)
        rc = cat_exec(st, "DELETE FROM _syn_indexes WHERE table_id = $1 AND "
                      "name = $2", err, "is", (long long)table_id, x->name);
      continue;
    }
    st_sb c = {0};
    for (int k = 0; k < x->ncols; k++)
      sb_addf(&c, k ? ",%d" : "%d", x->cols[k] - (x->cols[k] > pos));
    rc = c.oom ? syn_err_set(err, SYN_ENOMEM, "store: sql")
               : cat_exec(st, "UPDATE _syn_indexes SET cols = $3 WHERE "
                          "table_id = $1 AND name = $2", err, "iss",
                          (long long)table_id, x->name, c.p);
    sb_free(&c);
  }
  st_sb b = {0};
  for (int pass = 0; pass < 3; pass++) {
    sb_addf(&b, "ALTER TABLE %c%u DROP COLUMN ", "viu"[pass], table_id);
    sb_ident(&b, t->cols[pos].name);
    sb_add(&b, ";");
  }
  if (!rc) rc = b.oom ? SYN_ENOMEM : sp_exec(st, b.p, NULL, NULL, err);
  sb_free(&b);
  if (!rc)
    rc = cat_exec(st, "DELETE FROM _syn_columns WHERE table_id = $1 AND "
                  "pos = $2", err, "ii", (long long)table_id, (long long)pos);
  if (!rc)
    rc = cat_exec(st, "UPDATE _syn_columns SET pos = -pos WHERE table_id = $1"
                  " AND pos > $2", err, "ii", (long long)table_id,
                  (long long)pos);
  if (!rc)
    rc = cat_exec(st, "UPDATE _syn_columns SET pos = -pos - 1 WHERE "
                  "table_id = $1 AND pos < 0", err, "i", (long long)table_id);
  /* Durable: schema changes are acknowledged to the catalog log. */
  if (!rc) rc = sp_commit(st, err);
  else sp_rollback(st);
  if (rc) return rc;
  return sp_table_reload(st, table_id, err);
}

int spg_rename_column(void *be, uint32_t table_id, const char *from,
                      const char *to, syn_err *err) {
  store_pg *st = be;
  SP_GUARD(st, err);
  sp_table *t;
  int rc = sp_table_get(st, table_id, &t, err);
  if (rc) return rc;
  int pos = from ? col_find(t, from) : -1;
  if (pos < 0)
    return syn_err_set(err, SYN_ENOTFOUND, "store: no column %s",
                       from ? from : "(null)");
  if ((rc = name_ok(to, "column", err))) return rc;
  int other = col_find(t, to);
  if (other >= 0 && other != pos)
    return syn_err_set(err, SYN_EEXIST, "store: column %s exists", to);
  if (strcmp(t->cols[pos].name, to) == 0) return 0;
  st_sb b = {0};
  for (int pass = 0; pass < 3; pass++) {
    sb_addf(&b, "ALTER TABLE %c%u RENAME COLUMN ", "viu"[pass], table_id);
    sb_ident(&b, t->cols[pos].name);
    sb_add(&b, " TO ");
    sb_ident(&b, to);
    sb_add(&b, ";");
  }
  if (b.oom) {
    sb_free(&b);
    return syn_err_set(err, SYN_ENOMEM, "store: sql");
  }
  if ((rc = sp_begin(st, 1, err))) {
    sb_free(&b);
    return rc;
  }
  rc = sp_exec(st, b.p, NULL, NULL, err);
  sb_free(&b);
  if (!rc)
    rc = cat_exec(st, "UPDATE _syn_columns SET name = $3 WHERE table_id = $1 "
                  "AND pos = $2", err, "iis", (long long)table_id,
                  (long long)pos, to);
  /* Durable: schema changes are acknowledged to the catalog log. */
  if (!rc) rc = sp_commit(st, err);
  else sp_rollback(st);
  if (rc) return rc;
  return sp_table_reload(st, table_id, err);
}

int spg_create_index(void *be, uint32_t table_id, const store_index_def *d,
                     store_info *info, syn_err *err) {
  store_pg *st = be;
  SP_GUARD(st, err);
  sp_table *t;
  int rc = sp_table_get(st, table_id, &t, err);
  if (rc) return rc;
  if (!d) return syn_err_set(err, SYN_EINVAL, "store: NULL index def");
  if ((rc = name_ok(d->name, "index", err))) return rc;
  if (d->ncols <= 0 || d->ncols > t->ncols || !d->cols)
    return syn_err_set(err, SYN_EINVAL, "store: index %s has no columns",
                       d->name);
  for (int k = 0; k < d->ncols; k++)
    if (d->cols[k] < 0 || d->cols[k] >= t->ncols)
      return syn_err_set(err, SYN_EINVAL, "store: index %s column %d out of "
                         "range", d->name, d->cols[k]);
  if (idx_find(t, d->name) >= 0)
    return syn_err_set(err, SYN_EEXIST, "store: index %s exists", d->name);
  if (d->unique && (rc = no_intents(st, t, info, err))) return rc;
  const char *names[STORE_MAX_COLS];
  for (int k = 0; k < d->ncols; k++) names[k] = t->cols[d->cols[k]].name;
  if (d->unique) {
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
    PGresult *r = NULL;
    rc = b.oom ? syn_err_set(err, SYN_ENOMEM, "store: sql")
               : sp_exec(st, b.p, NULL, &r, err);
    sb_free(&b);
    if (rc) return rc;
    int dup = PQntuples(r) > 0;
    PQclear(r);
    if (dup) {
      if (info) snprintf(info->constraint, sizeof info->constraint, "%s",
                         d->name);
      return syn_err_set(err, STORE_EUNIQUE, "store: existing rows violate "
                         "unique constraint \"%s\"", d->name);
    }
  }
  char phys[32];
  snprintf(phys, sizeof phys, "x%d", t->next_idx);
  if ((rc = sp_begin(st, 1, err))) return rc;
  rc = index_create(st, table_id, phys, d->unique, names, d->ncols, err);
  if (!rc)
    rc = index_catalog_add(st, table_id, d->name, phys, d->unique, d->cols,
                           d->ncols, err);
  if (!rc)
    rc = cat_exec(st, "UPDATE _syn_tables SET next_idx = next_idx + 1 WHERE "
                  "id = $1", err, "i", (long long)table_id);
  /* Durable: schema changes are acknowledged to the catalog log. */
  if (!rc) rc = sp_commit(st, err);
  else sp_rollback(st);
  if (rc) return rc;
  return sp_table_reload(st, table_id, err);
}

int spg_drop_index(void *be, uint32_t table_id, const char *name,
                   syn_err *err) {
  store_pg *st = be;
  SP_GUARD(st, err);
  sp_table *t;
  int rc = sp_table_get(st, table_id, &t, err);
  if (rc) return rc;
  int i = name ? idx_find(t, name) : -1;
  if (i < 0)
    return syn_err_set(err, SYN_ENOTFOUND, "store: no index %s",
                       name ? name : "(null)");
  char sql[160];
  snprintf(sql, sizeof sql, "DROP INDEX IF EXISTS v%u_%s; DROP INDEX IF "
           "EXISTS i%u_%s;", table_id, t->idx[i].phys, table_id,
           t->idx[i].phys);
  if ((rc = sp_begin(st, 1, err))) return rc;
  rc = sp_exec(st, sql, NULL, NULL, err);
  if (!rc)
    rc = cat_exec(st, "DELETE FROM _syn_indexes WHERE table_id = $1 AND "
                  "name = $2", err, "is", (long long)table_id, t->idx[i].name);
  /* Durable: schema changes are acknowledged to the catalog log. */
  if (!rc) rc = sp_commit(st, err);
  else sp_rollback(st);
  if (rc) return rc;
  return sp_table_reload(st, table_id, err);
}

int spg_table_ncols(void *be, uint32_t table_id) {
  store_pg *st = be;
  if (!st) return SYN_EINVAL;
  sp_table *t = sp_table_find(st, table_id);
  return t ? t->ncols : SYN_ENOTFOUND;
}
