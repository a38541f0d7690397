/*
** PostgreSQL backend: the catalog (the same _syn_tables, _syn_columns and
** _syn_indexes as the SQLite backend), the physical tables v<id>, i<id>,
** u<id> with PostgreSQL types, the filter mirror, recovery and DDL. Every
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

static int aff_type(const char *aff) {
  if (strcmp(aff, "INTEGER") == 0) return SP_T_INT;
  if (strcmp(aff, "REAL") == 0) return SP_T_REAL;
  if (strcmp(aff, "TEXT") == 0) return SP_T_TEXT;
  if (strcmp(aff, "NUMERIC") == 0) return SP_T_NUM;
  return SP_T_BLOB;
}

static const char *pg_type(const char *aff) {
  switch (aff_type(aff)) {
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

/* ---- in-memory tables and the filter mirror -------------------------------- */

void sp_table_free(sp_table *t) {
  if (!t) return;
  sqlite3_finalize(t->m_put);
  sqlite3_finalize(t->m_check);
  free(t->m_filter);
  for (int i = 0; i < t->ncols; i++) {
    free(t->cols[i].name);
    free(t->cols[i].aff);
  }
  for (int i = 0; i < t->nidx; i++) {
    free(t->idx[i].name);
    free(t->idx[i].phys);
    free(t->idx[i].cols);
  }
  free(t->cols);
  free(t->idx);
  free(t->pkey_name);
  free(t);
}

sp_table *sp_table_find(store_pg *st, uint32_t id) {
  for (int i = 0; i < st->ntables; i++)
    if (st->tables[i]->id == id) return st->tables[i];
  return NULL;
}

int sp_table_get(store_pg *st, uint32_t id, sp_table **out, syn_err *err) {
  *out = sp_table_find(st, id);
  if (!*out) return syn_err_set(err, SYN_ENOTFOUND, "store: no table %u", id);
  return 0;
}

static void table_unlink(store_pg *st, uint32_t id) {
  /* Cached statements name the table's columns and result types. */
  sp_pcache_clear(st, 1);
  for (int i = 0; i < st->ntables; i++) {
    if (st->tables[i]->id != id) continue;
    sp_table_free(st->tables[i]);
    st->tables[i] = st->tables[--st->ntables];
    return;
  }
}

static int mirror_exec(store_pg *st, const char *sql, syn_err *err) {
  char *msg = NULL;
  if (sqlite3_exec(st->mirror, sql, NULL, NULL, &msg) != SQLITE_OK) {
    int rc = syn_err_set(err, SYN_EINTERNAL, "store: filter mirror: %s",
                         msg ? msg : "?");
    sqlite3_free(msg);
    return rc;
  }
  return 0;
}

/* The mirror table v<id>: the user columns with their SQLite affinities,
** holding at most the one row being checked. */
static int mirror_create(store_pg *st, sp_table *t, syn_err *err) {
  st_sb b = {0};
  sb_addf(&b, "DROP TABLE IF EXISTS v%u; CREATE TABLE v%u(_syn_one INTEGER "
              "PRIMARY KEY", t->id, t->id);
  for (int i = 0; i < t->ncols; i++) {
    sb_add(&b, ", ");
    sb_ident(&b, t->cols[i].name);
    sb_addf(&b, " %s", t->cols[i].aff);
  }
  sb_add(&b, ")");
  int rc = b.oom ? syn_err_set(err, SYN_ENOMEM, "store: sql")
                 : mirror_exec(st, b.p, err);
  sb_free(&b);
  if (rc) return rc;
  sb_addf(&b, "INSERT OR REPLACE INTO v%u(_syn_one", t->id);
  for (int i = 0; i < t->ncols; i++) {
    sb_add(&b, ", ");
    sb_ident(&b, t->cols[i].name);
  }
  sb_add(&b, ") VALUES (1");
  for (int i = 0; i < t->ncols; i++) sb_addf(&b, ", ?%d", i + 1);
  sb_add(&b, ")");
  if (b.oom) rc = syn_err_set(err, SYN_ENOMEM, "store: sql");
  else if (sqlite3_prepare_v3(st->mirror, b.p, -1, SQLITE_PREPARE_PERSISTENT,
                              &t->m_put, NULL) != SQLITE_OK)
    rc = syn_err_set(err, SYN_EINTERNAL, "store: filter mirror: %s",
                     sqlite3_errmsg(st->mirror));
  sb_free(&b);
  return rc;
}

int sp_filter_set(store_pg *st, sp_table *t, const char *f, int nparams_given,
                  const syn_value *params, syn_err *err) {
  if (!t->m_filter || strcmp(t->m_filter, f) != 0) {
    sqlite3_finalize(t->m_check);
    t->m_check = NULL;
    free(t->m_filter);
    t->m_filter = NULL;
    int np = 0, rc = store_filter_validate(st->mirror, t->id, f, &np, err);
    if (rc) return rc;
    st_sb b = {0};
    sb_addf(&b, "SELECT 1 FROM v%u WHERE (", t->id);
    sb_add(&b, f);
    sb_add(&b, ")");
    if (b.oom) rc = syn_err_set(err, SYN_ENOMEM, "store: sql");
    else if (sqlite3_prepare_v3(st->mirror, b.p, -1,
                                SQLITE_PREPARE_PERSISTENT, &t->m_check,
                                NULL) != SQLITE_OK)
      rc = syn_err_set(err, SYN_EINVAL, "store: filter rejected: %s",
                       sqlite3_errmsg(st->mirror));
    sb_free(&b);
    if (rc) return rc;
    t->m_filter = strdup(f);
    t->m_nparams = np;
    if (!t->m_filter) return syn_err_set(err, SYN_ENOMEM, "store: filter");
  }
  if (nparams_given != t->m_nparams)
    return syn_err_set(err, SYN_EINVAL, "store: filter uses %d parameters, "
                       "%d given", t->m_nparams, nparams_given);
  sqlite3_reset(t->m_check);
  sqlite3_clear_bindings(t->m_check);
  for (int i = 0; i < nparams_given; i++) {
    const syn_value *v = &params[i];
    int brc;
    switch (v->type) {
    case SYN_V_INT: brc = sqlite3_bind_int64(t->m_check, i + 1, v->u.i); break;
    case SYN_V_REAL: brc = sqlite3_bind_double(t->m_check, i + 1, v->u.r); break;
    case SYN_V_TEXT:
      brc = sqlite3_bind_text(t->m_check, i + 1,
                              v->u.b.p ? (const char *)v->u.b.p : "",
                              (int)v->u.b.n, SQLITE_TRANSIENT);
      break;
    case SYN_V_BLOB:
      brc = sqlite3_bind_blob(t->m_check, i + 1, v->u.b.p ? (const void *)v->u.b.p : "",
                              (int)v->u.b.n, SQLITE_TRANSIENT);
      break;
    default: brc = sqlite3_bind_null(t->m_check, i + 1); break;
    }
    if (brc != SQLITE_OK)
      return syn_err_set(err, SYN_EINVAL, "store: filter parameter %d", i + 1);
  }
  return 0;
}

int sp_filter_match(store_pg *st, sp_table *t, const syn_value *row,
                    int *match, syn_err *err) {
  sqlite3_stmt *p = t->m_put;
  for (int i = 0; i < t->ncols; i++) {
    const syn_value *v = &row[i];
    switch (v->type) {
    case SYN_V_INT: sqlite3_bind_int64(p, i + 1, v->u.i); break;
    case SYN_V_REAL: sqlite3_bind_double(p, i + 1, v->u.r); break;
    case SYN_V_TEXT:
      sqlite3_bind_text(p, i + 1, v->u.b.p ? (const char *)v->u.b.p : "",
                        (int)v->u.b.n, SQLITE_STATIC);
      break;
    case SYN_V_BLOB:
      sqlite3_bind_blob(p, i + 1, v->u.b.p ? (const void *)v->u.b.p : "",
                        (int)v->u.b.n, SQLITE_STATIC);
      break;
    default: sqlite3_bind_null(p, i + 1); break;
    }
  }
  int rc = sqlite3_step(p);
  sqlite3_reset(p);
  sqlite3_clear_bindings(p);
  if (rc != SQLITE_DONE)
    return syn_err_set(err, SYN_EINTERNAL, "store: filter mirror: %s",
                       sqlite3_errmsg(st->mirror));
  rc = sqlite3_step(t->m_check);
  *match = rc == SQLITE_ROW;
  int ok = rc == SQLITE_ROW || rc == SQLITE_DONE;
  const char *msg = ok ? NULL : sqlite3_errmsg(st->mirror);
  sqlite3_reset(t->m_check);
  if (!ok)
    return syn_err_set(err, SYN_EINVAL, "store: filter: %s", msg);
  return 0;
}

/* ---- catalog ------------------------------------------------------------------- */

static char *xstrdup(const char *s) { return s ? strdup(s) : NULL; }

static int parse_cols(const char *s, int **out, int *n) {
  int cnt = 1;
  for (const char *p = s; *p; p++) cnt += *p == ',';
  int *c = calloc((size_t)cnt, sizeof *c);
  if (!c) return SYN_ENOMEM;
  int k = 0;
  for (const char *p = s; *p && k < cnt;) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p) break;
    c[k++] = (int)v;
    p = *end == ',' ? end + 1 : end;
  }
  *out = c;
  *n = k;
  return 0;
}

static int table_load(store_pg *st, uint32_t id, syn_err *err) {
  PGresult *r = NULL;
  sp_params p;
  sp_table *t = calloc(1, sizeof *t);
  if (!t) return syn_err_set(err, SYN_ENOMEM, "store: table");
  t->id = id;
  sp_p_init(&p);
  sp_p_i64(&p, id);
  int rc = sp_exec(st, "SELECT nkey, pkey_name, next_idx FROM _syn_tables "
                       "WHERE id = $1", &p, &r, err);
  if (rc) goto fail;
  if (PQntuples(r) != 1) {
    rc = syn_err_set(err, SYN_ECORRUPT, "store: catalog lost table %u", id);
    goto fail;
  }
  t->nkey = (int)sp_get_i64(r, 0, 0);
  t->pkey_name = xstrdup(PQgetvalue(r, 0, 1));
  t->next_idx = (int)sp_get_i64(r, 0, 2);
  PQclear(r);
  r = NULL;
  if ((rc = sp_exec(st, "SELECT pos, name, aff, key_ord FROM _syn_columns "
                        "WHERE table_id = $1 ORDER BY pos", &p, &r, err)))
    goto fail;
  int n = PQntuples(r);
  t->cols = calloc((size_t)n + 1, sizeof *t->cols);
  if (!t->cols || !t->pkey_name) goto oom;
  for (int i = 0; i < n; i++) {
    sp_col *c = &t->cols[t->ncols];
    if (sp_get_i64(r, i, 0) != t->ncols) {
      rc = syn_err_set(err, SYN_ECORRUPT, "store: table %u column gap", id);
      goto fail;
    }
    c->name = xstrdup(PQgetvalue(r, i, 1));
    c->aff = xstrdup(PQgetvalue(r, i, 2));
    c->key_ord = (int)sp_get_i64(r, i, 3);
    t->ncols++;
    if (!c->name || !c->aff) goto oom;
    c->type = aff_type(c->aff);
  }
  PQclear(r);
  r = NULL;
  if ((rc = sp_exec(st, "SELECT name, phys, is_unique, cols FROM _syn_indexes "
                        "WHERE table_id = $1 ORDER BY name", &p, &r, err)))
    goto fail;
  n = PQntuples(r);
  t->idx = calloc((size_t)n + 1, sizeof *t->idx);
  if (!t->idx) goto oom;
  for (int i = 0; i < n; i++) {
    sp_idx *x = &t->idx[t->nidx++];
    x->name = xstrdup(PQgetvalue(r, i, 0));
    x->phys = xstrdup(PQgetvalue(r, i, 1));
    x->unique = (int)sp_get_i64(r, i, 2);
    if (!x->name || !x->phys ||
        parse_cols(PQgetvalue(r, i, 3), &x->cols, &x->ncols))
      goto oom;
    for (int k = 0; k < x->ncols; k++)
      if (x->cols[k] < 0 || x->cols[k] >= t->ncols) {
        rc = syn_err_set(err, SYN_ECORRUPT, "store: index %s bad column",
                         x->name);
        goto fail;
      }
  }
  PQclear(r);
  r = NULL;
  if ((rc = mirror_create(st, t, err))) goto fail;
  if (st->ntables == st->cap) {
    int cap = st->cap ? st->cap * 2 : 16;
    sp_table **q = realloc(st->tables, (size_t)cap * sizeof *q);
    if (!q) goto oom;
    st->tables = q;
    st->cap = cap;
  }
  if (t->ncols > st->rowcap) {
    syn_value *q = realloc(st->row, (size_t)t->ncols * sizeof *q);
    if (!q) goto oom;
    st->row = q;
    st->rowcap = t->ncols;
  }
  st->tables[st->ntables++] = t;
  sp_p_free(&p);
  return 0;
oom:
  rc = syn_err_set(err, SYN_ENOMEM, "store: loading table %u", id);
fail:
  PQclear(r);
  sp_p_free(&p);
  sp_table_free(t);
  return rc;
}

int sp_catalog_load(store_pg *st, syn_err *err) {
  PGresult *r;
  int rc = sp_exec(st, "SELECT id FROM _syn_tables ORDER BY id", NULL, &r,
                   err);
  if (rc) return rc;
  for (int i = 0; !rc && i < PQntuples(r); i++)
    rc = table_load(st, (uint32_t)sp_get_i64(r, i, 0), err);
  PQclear(r);
  return rc;
}

static int table_reload(store_pg *st, uint32_t id, syn_err *err) {
  table_unlink(st, id);
  return table_load(st, id, err);
}

/* Recovery, exactly the SQLite backend's (store_lite.c): unprepared txns
** become ABORTED, their intents and table links go, all undo rows go. */
int sp_recover(store_pg *st, syn_err *err) {
  int rc = sp_exec(st,
                   "UPDATE _syn_txns SET _syn_state = 3 WHERE _syn_state = 0;"
                   "DELETE FROM _syn_txn_tables WHERE _syn_txn NOT IN "
                   "(SELECT _syn_txn FROM _syn_txns WHERE _syn_state = 1);",
                   NULL, NULL, err);
  for (int i = 0; !rc && i < st->ntables; i++) {
    char sql[200];
    snprintf(sql, sizeof sql,
             "DELETE FROM i%u WHERE _syn_txn NOT IN (SELECT _syn_txn FROM "
             "_syn_txns WHERE _syn_state = 1); DELETE FROM u%u;",
             st->tables[i]->id, st->tables[i]->id);
    rc = sp_exec(st, sql, NULL, NULL, err);
  }
  return rc;
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
  return table_load(st, id, err);
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
  mirror_exec(st, sql, NULL);
  table_unlink(st, table_id);
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
               .type = aff_type(aff), .key_ord = -1};
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
  return table_reload(st, table_id, err);
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
  return table_reload(st, table_id, err);
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
  return table_reload(st, table_id, err);
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
  return table_reload(st, table_id, err);
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
  return table_reload(st, table_id, err);
}

int spg_table_ncols(void *be, uint32_t table_id) {
  store_pg *st = be;
  if (!st) return SYN_EINVAL;
  sp_table *t = sp_table_find(st, table_id);
  return t ? t->ncols : SYN_ENOTFOUND;
}
