/*
** The in-memory catalog: st_table structs rebuilt from _syn_tables,
** _syn_columns and _syn_indexes (at open and after every DDL step, so
** memory never drifts from disk), and the lazily prepared per-table
** statements the write and commit paths reuse.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "participant/store/store_lite_int.h"

/* ---- in-memory tables -------------------------------------------------- */

void st_table_stmts_drop(st_lite *st, st_table *t) {
  for (int i = 0; i < Q_N; i++) {
    sqlite3_finalize(t->q[i]);
    t->q[i] = NULL;
  }
  for (int i = 0; i < t->nidx; i++) {
    sqlite3_finalize(t->idx[i].chk_v);
    sqlite3_finalize(t->idx[i].chk_i);
    t->idx[i].chk_v = t->idx[i].chk_i = NULL;
  }
  st_fcache_drop_table(st, t->id);
}

void st_table_free(st_table *t) {
  if (!t) return;
  for (int i = 0; i < Q_N; i++) sqlite3_finalize(t->q[i]);
  for (int i = 0; i < t->ncols; i++) {
    free(t->cols[i].name);
    free(t->cols[i].aff);
  }
  for (int i = 0; i < t->nidx; i++) {
    free(t->idx[i].name);
    free(t->idx[i].phys);
    free(t->idx[i].cols);
    sqlite3_finalize(t->idx[i].chk_v);
    sqlite3_finalize(t->idx[i].chk_i);
  }
  free(t->cols);
  free(t->idx);
  free(t->pkey_name);
  free(t);
}

st_table *st_table_find(st_lite *st, uint32_t id) {
  for (int i = 0; i < st->ntables; i++)
    if (st->tables[i]->id == id) return st->tables[i];
  return NULL;
}

int st_table_get(st_lite *st, uint32_t id, st_table **out, syn_err *err) {
  *out = st_table_find(st, id);
  if (!*out) return syn_err_set(err, SYN_ENOTFOUND, "store: no table %u", id);
  return 0;
}

void st_table_unlink(st_lite *st, uint32_t id) {
  for (int i = 0; i < st->ntables; i++) {
    if (st->tables[i]->id != id) continue;
    st_table *t = st->tables[i];
    st_table_stmts_drop(st, t);
    st_table_free(t);
    st->tables[i] = st->tables[--st->ntables];
    return;
  }
}

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

static char *xstrdup(const char *s) { return s ? strdup(s) : NULL; }

/* Build the in-memory table `id` from the catalog. */
int st_table_load(st_lite *st, uint32_t id, syn_err *err) {
  sqlite3_stmt *s = NULL;
  int rc;
  st_table *t = calloc(1, sizeof *t);
  if (!t) return syn_err_set(err, SYN_ENOMEM, "store: table");
  t->id = id;
  if ((rc = st_prep(st, "SELECT nkey, pkey_name, next_idx FROM _syn_tables "
                        "WHERE id = ?1", &s, err)))
    goto fail;
  sqlite3_bind_int64(s, 1, id);
  if (sqlite3_step(s) != SQLITE_ROW) {
    rc = syn_err_set(err, SYN_ECORRUPT, "store: catalog lost table %u", id);
    goto fail;
  }
  t->nkey = sqlite3_column_int(s, 0);
  t->pkey_name = xstrdup((const char *)sqlite3_column_text(s, 1));
  t->next_idx = sqlite3_column_int(s, 2);
  sqlite3_finalize(s);
  s = NULL;

  if ((rc = st_prep(st, "SELECT count(*) FROM _syn_columns WHERE table_id=?1",
                    &s, err)))
    goto fail;
  sqlite3_bind_int64(s, 1, id);
  sqlite3_step(s);
  int ncols = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  s = NULL;
  t->cols = calloc((size_t)ncols + 1, sizeof *t->cols);
  if (!t->cols) goto oom;
  if ((rc = st_prep(st, "SELECT pos, name, aff, key_ord FROM _syn_columns "
                        "WHERE table_id = ?1 ORDER BY pos", &s, err)))
    goto fail;
  sqlite3_bind_int64(s, 1, id);
  while ((rc = sqlite3_step(s)) == SQLITE_ROW && t->ncols < ncols) {
    st_col *c = &t->cols[t->ncols];
    if (sqlite3_column_int(s, 0) != t->ncols) {
      rc = syn_err_set(err, SYN_ECORRUPT, "store: table %u column gap", id);
      goto fail;
    }
    c->name = xstrdup((const char *)sqlite3_column_text(s, 1));
    c->aff = xstrdup((const char *)sqlite3_column_text(s, 2));
    c->key_ord = sqlite3_column_int(s, 3);
    t->ncols++;
    if (!c->name || !c->aff) goto oom;
  }
  sqlite3_finalize(s);
  s = NULL;

  if ((rc = st_prep(st, "SELECT count(*) FROM _syn_indexes WHERE table_id=?1",
                    &s, err)))
    goto fail;
  sqlite3_bind_int64(s, 1, id);
  sqlite3_step(s);
  int nidx = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  s = NULL;
  t->idx = calloc((size_t)nidx + 1, sizeof *t->idx);
  if (!t->idx) goto oom;
  if ((rc = st_prep(st, "SELECT name, phys, is_unique, cols FROM _syn_indexes "
                        "WHERE table_id = ?1 ORDER BY name", &s, err)))
    goto fail;
  sqlite3_bind_int64(s, 1, id);
  while (sqlite3_step(s) == SQLITE_ROW && t->nidx < nidx) {
    st_idx *x = &t->idx[t->nidx++];
    x->name = xstrdup((const char *)sqlite3_column_text(s, 0));
    x->phys = xstrdup((const char *)sqlite3_column_text(s, 1));
    x->unique = sqlite3_column_int(s, 2);
    const char *cols = (const char *)sqlite3_column_text(s, 3);
    if (!x->name || !x->phys || !cols || parse_cols(cols, &x->cols, &x->ncols))
      goto oom;
    for (int k = 0; k < x->ncols; k++)
      if (x->cols[k] < 0 || x->cols[k] >= t->ncols) {
        rc = syn_err_set(err, SYN_ECORRUPT, "store: index %s bad column",
                         x->name);
        goto fail;
      }
  }
  sqlite3_finalize(s);
  s = NULL;

  if (st->ntables == st->cap) {
    int cap = st->cap ? st->cap * 2 : 16;
    st_table **p = realloc(st->tables, (size_t)cap * sizeof *p);
    if (!p) goto oom;
    st->tables = p;
    st->cap = cap;
  }
  if (t->ncols > st->rowcap) {
    syn_value *r = realloc(st->row, (size_t)t->ncols * sizeof *r);
    if (!r) goto oom;
    st->row = r;
    st->rowcap = t->ncols;
  }
  st->tables[st->ntables++] = t;
  return 0;
oom:
  rc = syn_err_set(err, SYN_ENOMEM, "store: loading table %u", id);
fail:
  sqlite3_finalize(s);
  st_table_free(t);
  return rc;
}

int st_catalog_load(st_lite *st, syn_err *err) {
  sqlite3_stmt *s;
  int rc = st_prep(st, "SELECT id FROM _syn_tables ORDER BY id", &s, err);
  if (rc) return rc;
  while (sqlite3_step(s) == SQLITE_ROW) {
    rc = st_table_load(st, (uint32_t)sqlite3_column_int64(s, 0), err);
    if (rc) break;
  }
  sqlite3_finalize(s);
  return rc;
}

int st_table_reload(st_lite *st, uint32_t id, syn_err *err) {
  st_table_unlink(st, id);
  return st_table_load(st, id, err);
}

/* ---- per-table statements ------------------------------------------------ */

static void add_cols(st_sb *b, const st_table *t, const char *prefix) {
  for (int i = 0; i < t->ncols; i++) {
    sb_add(b, ", ");
    sb_add(b, prefix);
    sb_ident(b, t->cols[i].name);
  }
}

int st_tq(st_lite *st, st_table *t, int which, sqlite3_stmt **out,
          syn_err *err) {
  if (t->q[which]) {
    *out = t->q[which];
    return 0;
  }
  st_sb b = {0};
  uint32_t id = t->id;
  switch (which) {
  case Q_LOCK_GET:
    sb_addf(&b, "SELECT _syn_txn, _syn_op FROM i%u WHERE _syn_key = ?1", id);
    break;
  case Q_LATEST:
    sb_addf(&b, "SELECT _syn_ts, _syn_del FROM v%u WHERE _syn_key = ?1 "
                "ORDER BY _syn_ts DESC LIMIT 1", id);
    break;
  case Q_PUT:
    sb_addf(&b, "INSERT OR REPLACE INTO i%u(_syn_key, _syn_txn, _syn_op", id);
    add_cols(&b, t, "");
    sb_add(&b, ") VALUES (?1, ?2, ?3");
    for (int i = 0; i < t->ncols; i++) sb_addf(&b, ", ?%d", i + 4);
    sb_add(&b, ")");
    break;
  case Q_LOCK_PUT:
    sb_addf(&b, "INSERT OR IGNORE INTO i%u(_syn_key, _syn_txn, _syn_op) "
                "VALUES (?1, ?2, 0)", id);
    break;
  case Q_APPLY:
    sb_addf(&b, "INSERT INTO v%u(_syn_key, _syn_ts, _syn_del", id);
    add_cols(&b, t, "");
    sb_add(&b, ") SELECT _syn_key, ?1, _syn_op = 2");
    add_cols(&b, t, "");
    sb_addf(&b, " FROM i%u WHERE _syn_txn = ?2 AND _syn_op <> 0", id);
    break;
  case Q_DROP_INTENTS:
    sb_addf(&b, "DELETE FROM i%u WHERE _syn_txn = ?1", id);
    break;
  case Q_ANY_INTENT:
    sb_addf(&b, "SELECT _syn_txn FROM i%u LIMIT 1", id);
    break;
  case Q_UNDO_SAVE: /* ?1 txn, ?2 sp, ?3 key */
    sb_addf(&b, "INSERT OR IGNORE INTO u%u(_syn_txn, _syn_sp, _syn_key, "
                "_syn_had, _syn_op", id);
    add_cols(&b, t, "");
    sb_add(&b, ") SELECT ?1, ?2, ?3, 1, _syn_op");
    add_cols(&b, t, "");
    sb_addf(&b, " FROM i%u WHERE _syn_key = ?3 AND _syn_txn = ?1", id);
    break;
  case Q_UNDO_NONE:
    sb_addf(&b, "INSERT OR IGNORE INTO u%u(_syn_txn, _syn_sp, _syn_key, "
                "_syn_had, _syn_op) VALUES (?1, ?2, ?3, 0, 0)", id);
    break;
  case Q_UNDO_DEL: /* ?1 txn, ?2 sp: the oldest undo row >= sp per key
                   ** holds the state the savepoint saw */
    sb_addf(&b, "DELETE FROM i%u WHERE _syn_txn = ?1 AND _syn_key IN (SELECT "
                "u._syn_key FROM u%u AS u WHERE u._syn_txn = ?1 AND "
                "u._syn_sp >= ?2 AND u._syn_had = 0 AND ", id, id);
    sb_addf(&b, "u._syn_sp = (SELECT min(w._syn_sp) FROM u%u AS w WHERE "
                "w._syn_txn = ?1 AND w._syn_key = u._syn_key AND "
                "w._syn_sp >= ?2))", id);
    break;
  case Q_UNDO_PUT:
    sb_addf(&b, "INSERT OR REPLACE INTO i%u(_syn_key, _syn_txn, _syn_op", id);
    add_cols(&b, t, "");
    sb_add(&b, ") SELECT u._syn_key, ?1, u._syn_op");
    add_cols(&b, t, "u.");
    sb_addf(&b, " FROM u%u AS u WHERE u._syn_txn = ?1 AND u._syn_sp >= ?2 "
                "AND u._syn_had = 1 AND ", id);
    sb_addf(&b, "u._syn_sp = (SELECT min(w._syn_sp) FROM u%u AS w WHERE "
                "w._syn_txn = ?1 AND w._syn_key = u._syn_key AND "
                "w._syn_sp >= ?2)", id);
    break;
  case Q_UNDO_FORGET:
    sb_addf(&b, "DELETE FROM u%u WHERE _syn_txn = ?1 AND _syn_sp >= ?2", id);
    break;
  case Q_UNDO_DROP:
    sb_addf(&b, "DELETE FROM u%u WHERE _syn_txn = ?1", id);
    break;
  default:
    return syn_err_set(err, SYN_EINTERNAL, "store: bad statement %d", which);
  }
  int rc = b.oom ? syn_err_set(err, SYN_ENOMEM, "store: sql")
                 : st_prep(st, b.p, &t->q[which], err);
  sb_free(&b);
  *out = t->q[which];
  return rc;
}

