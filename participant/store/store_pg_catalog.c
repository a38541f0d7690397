/*
** PostgreSQL backend: the in-memory catalog (rebuilt from the same
** _syn_tables, _syn_columns and _syn_indexes as the SQLite backend, at open
** and after every DDL step), the filter mirror (an in-memory SQLite table
** per user table, see store_pg_int.h) and recovery.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "participant/store/store_pg_int.h"

int sp_aff_type(const char *aff) {
  if (strcmp(aff, "INTEGER") == 0) return SP_T_INT;
  if (strcmp(aff, "REAL") == 0) return SP_T_REAL;
  if (strcmp(aff, "TEXT") == 0) return SP_T_TEXT;
  if (strcmp(aff, "NUMERIC") == 0) return SP_T_NUM;
  return SP_T_BLOB;
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

void sp_table_unlink(store_pg *st, uint32_t id) {
  /* Cached statements name the table's columns and result types. */
  sp_pcache_clear(st, 1);
  for (int i = 0; i < st->ntables; i++) {
    if (st->tables[i]->id != id) continue;
    sp_table_free(st->tables[i]);
    st->tables[i] = st->tables[--st->ntables];
    return;
  }
}

int sp_mirror_exec(store_pg *st, const char *sql, syn_err *err) {
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
                 : sp_mirror_exec(st, b.p, err);
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

int sp_table_load(store_pg *st, uint32_t id, syn_err *err) {
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
    c->type = sp_aff_type(c->aff);
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
    rc = sp_table_load(st, (uint32_t)sp_get_i64(r, i, 0), err);
  PQclear(r);
  return rc;
}

int sp_table_reload(store_pg *st, uint32_t id, syn_err *err) {
  sp_table_unlink(st, id);
  return sp_table_load(st, id, err);
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

