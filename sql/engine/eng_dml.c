/*
** INSERT, UPDATE and DELETE: the rewritten query (sql/rewrite.h) yields the
** rows to write; this file fills defaults, coerces to the declared types,
** locks, writes with cl_write and evaluates RETURNING on the final rows.
**
** Order of work, the invariant READ COMMITTED re-runs rely on: every row
** the statement will write is locked (CL_LOCK ops, which change nothing and
** fail with CL_ECONFLICT when the row has a version newer than the
** snapshot) before the first write, and no output is sent before the last
** write. So a statement that fails with CL_ECONFLICT has written nothing
** and sent nothing, and the session simply runs it again at a fresh
** snapshot (eng_session.c). The locks it already holds stay held, which is
** harmless: the transaction would take them again anyway.
*/
#include "sql/engine/eng_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 256
#define MAXKEY 32

/* ---- write batches ---- */

typedef struct opbuf {
  cl_write_op ops[BATCH];
  syn_value keys[BATCH][MAXKEY];
  syn_value dists[BATCH];
  int n;
} opbuf;

static void key_of(const cat_table *t, const syn_value *row, int64_t rowid, syn_value *key,
                   int *nkey, syn_value *dist) {
  if (t->npk) {
    for (int k = 0; k < t->npk && k < MAXKEY; k++) key[k] = row[t->pk[k]];
    *nkey = t->npk;
  } else {
    key[0] = (syn_value){.type = SYN_V_INT, .u.i = rowid};
    *nkey = 1;
  }
  *dist = t->dist_col >= 0 ? row[t->dist_col] : (syn_value){.type = SYN_V_INT, .u.i = rowid};
}

static int flush(eng_session *s, const cat_table *t, opbuf *b, syn_err *e) {
  int n = b->n;
  b->n = 0;
  return n ? eng__write(s, t, b->ops, n, e) : 0;
}

/* Queue one op; row (ncols values) stays valid until the next flush. */
static int add_op(eng_session *s, const cat_table *t, opbuf *b, cl_write_mode mode,
                  const syn_value *keyrow, int64_t rowid, const syn_value *row, syn_err *e) {
  int i = b->n;
  int nkey;
  key_of(t, keyrow, rowid, b->keys[i], &nkey, &b->dists[i]);
  b->ops[i] = (cl_write_op){.mode = mode, .row = row, .key = b->keys[i], .nkey = nkey,
                            .dist_value = &b->dists[i]};
  if (++b->n == BATCH) return flush(s, t, b, e);
  return 0;
}

static bool value_eq(const syn_value *a, const syn_value *b) {
  if (a->type != b->type) return false;
  switch (a->type) {
  case SYN_V_NULL: return true;
  case SYN_V_INT: return a->u.i == b->u.i;
  case SYN_V_REAL: return a->u.r == b->u.r;
  default: return a->u.b.n == b->u.b.n && memcmp(a->u.b.p, b->u.b.p, a->u.b.n) == 0;
  }
}

/* ---- error details, as PostgreSQL prints them ---- */

static void fmt_value(const cat_column *c, const syn_value *v, cat_buf *b) {
  if (v->type == SYN_V_NULL) cat_buf_printf(b, "null");
  else cat_format_text(c->type_oid, c->typmod, v, b, NULL);
}

void eng__detail_not_null(eng_session *s, const cat_table *t, const syn_value *row) {
  cat_buf b = {0};
  cat_buf_printf(&b, "Failing row contains (");
  for (int i = 0; i < t->ncols; i++) {
    if (i) cat_buf_printf(&b, ", ");
    fmt_value(&t->cols[i], &row[i], &b);
  }
  cat_buf_printf(&b, ").");
  snprintf(s->detail, sizeof s->detail, "%s", b.p ? b.p : "");
  cat_buf_free(&b);
}

/* "Key (a, b)=(1, x) already exists." for the constraint err names. */
static void detail_unique(eng_session *s, const cat_table *t, const syn_value *row,
                          const syn_err *e) {
  const char *q1 = strchr(e->msg, '"');
  const char *q2 = q1 ? strchr(q1 + 1, '"') : NULL;
  char name[256];
  if (q1 && q2) snprintf(name, sizeof name, "%.*s", (int)(q2 - q1 - 1), q1 + 1);
  else snprintf(name, sizeof name, "%.255s", e->msg);
  char pkey[300];
  snprintf(pkey, sizeof pkey, "%.250s_pkey", t->name);
  const int *cols = NULL;
  int n = 0;
  if (t->npk && strcmp(name, pkey) == 0) cols = t->pk, n = t->npk;
  for (int i = 0; i < t->nuniques && !cols; i++)
    if (strcmp(t->uniques[i].name, name) == 0) cols = t->uniques[i].cols, n = t->uniques[i].ncols;
  for (int i = 0; i < t->nindexes && !cols; i++)
    if (strcmp(t->indexes[i].name, name) == 0) cols = t->indexes[i].cols, n = t->indexes[i].ncols;
  if (!cols) return;
  cat_buf b = {0};
  cat_buf_printf(&b, "Key (");
  for (int i = 0; i < n; i++) cat_buf_printf(&b, "%s%s", i ? ", " : "", t->cols[cols[i]].name);
  cat_buf_printf(&b, ")=(");
  for (int i = 0; i < n; i++) {
    if (i) cat_buf_printf(&b, ", ");
    fmt_value(&t->cols[cols[i]], &row[cols[i]], &b);
  }
  cat_buf_printf(&b, ") already exists.");
  snprintf(s->detail, sizeof s->detail, "%s", b.p ? b.p : "");
  cat_buf_free(&b);
}

/* Coerce a row in place (scratch: ncols buffers) and keep a copy. */
static int coerce_keep(eng_session *s, const cat_table *t, syn_value *vals, int64_t rowid,
                       cat_buf *scratch, eng_rows *out, syn_err *e) {
  int rc = cat_coerce_row(t, vals, scratch, t->ncols, e);
  if (rc) {
    char state[6];
    sqlst_split(e, state, NULL);
    if (strcmp(state, "23502") == 0) eng__detail_not_null(s, t, vals);
    return rc;
  }
  return eng__rows_push(out, vals, t->ncols, rowid) ? sqlst_set(e, SQLST_OUT_OF_MEMORY, "out of memory") : 0;
}

/* ---- RETURNING ---- */

typedef struct returning {
  sqlite3_stmt *st;
  const sqlr_query *q;
  cat_buf buf;
} returning;

static int ret_open(eng_session *s, const sqlr_query *q, returning *r, syn_err *e) {
  memset(r, 0, sizeof *r);
  r->q = q;
  if (!q->returning_sql) return 0;
  int rc = eng__prepare(s, q->returning_sql, &r->st, e);
  if (!rc) rc = eng__bind_common(s, r->st, q, e);
  return rc;
}

static int ret_send_columns(eng_session *s, returning *r) {
  return r->st ? eng__send_columns(s, r->q->ret_cols, r->q->nret) : 0;
}

static int ret_row(eng_session *s, returning *r, const syn_value *row, int ncols, syn_err *e) {
  if (!r->st) return 0;
  int rc = 0;
  int np = sqlite3_bind_parameter_count(r->st);
  /* The RETURNING list binds only the columns it uses. */
  for (int i = 0; i < ncols && !rc && r->q->row_base + 1 + i <= np; i++)
    if (eng__bind_value(r->st, r->q->row_base + 1 + i, &row[i]) != SQLITE_OK)
      rc = sqlst_set(e, SQLST_INTERNAL, "binding RETURNING: %s", sqlite3_errmsg(s->db));
  int src = rc ? SQLITE_ERROR : sqlite3_step(r->st);
  if (!rc && src == SQLITE_ROW) rc = eng__send_sqlite_row(s, r->st, r->q->ret_cols, r->q->nret, &r->buf);
  else if (!rc && src != SQLITE_DONE) rc = eng__sqlite_error(s, src, e);
  sqlite3_reset(r->st);
  return rc;
}

static void ret_close(eng_session *s, returning *r) {
  eng__release(s, r->st);
  cat_buf_free(&r->buf);
}

/* ---- source rows ---- */

static int run_query(eng_session *s, const sqlr_query *q, int width, eng_rows *out, syn_err *e) {
  sqlite3_stmt *st;
  int rc = eng__prepare(s, q->sql, &st, e);
  if (!rc) rc = eng__bind_common(s, st, q, e);
  syn_value *v = calloc((size_t)(width ? width : 1), sizeof *v);
  if (!v && !rc) rc = sqlst_set(e, SQLST_OUT_OF_MEMORY, "out of memory");
  int src = SQLITE_DONE;
  while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
    for (int i = 0; i < width && !rc; i++) rc = eng__value_from_column(st, i, &v[i]);
    if (!rc && eng__rows_push(out, v, width, 0)) rc = sqlst_set(e, SQLST_OUT_OF_MEMORY, "out of memory");
    if (!rc && eng__cancelled(s))
      rc = syn_err_set(e, SYN_ETIMEDOUT, "57014: canceling statement due to %s", eng__cancel_reason(s));
  }
  if (!rc && src != SQLITE_DONE) rc = eng__sqlite_error(s, src, e);
  free(v);
  eng__release(s, st);
  return rc;
}

/* ---- INSERT ---- */

int eng__default_value(eng_session *s, const cat_table *t, eng_defaults *d, int c, syn_value *out,
                         syn_err *e) {
  const cat_column *col = &t->cols[c];
  *out = (syn_value){.type = SYN_V_NULL};
  if (col->def_kind == CAT_DEF_SERIAL) {
    int64_t v;
    int rc = cl_sequence_next(s->cl, col->def_sql, &v, e);
    if (rc) return rc;
    *out = (syn_value){.type = SYN_V_INT, .u.i = v};
    return 0;
  }
  if (col->def_kind != CAT_DEF_EXPR) return 0;
  if (!d->expr[c]) {
    char *sql = sqlite3_mprintf("SELECT %s", col->def_sql);
    if (!sql) return sqlst_set(e, SQLST_OUT_OF_MEMORY, "out of memory");
    int rc = eng__prepare(s, sql, &d->expr[c], e);
    sqlite3_free(sql);
    if (rc) return rc;
    int ip = sqlite3_bind_parameter_index(d->expr[c], ":now");
    if (ip) sqlite3_bind_text(d->expr[c], ip, s->now_text, -1, SQLITE_TRANSIENT);
  }
  sqlite3_reset(d->expr[c]);
  int src = sqlite3_step(d->expr[c]);
  if (src != SQLITE_ROW) return eng__sqlite_error(s, src, e);
  /* Borrowed until the statement is reset: the caller copies the row. */
  return eng__value_from_column(d->expr[c], 0, out);
}

static int find_existing(eng_session *s, const cat_table *t, const int *cols, int n,
                         const syn_value *row, eng_rows *found, syn_err *e);

typedef struct found_ctx {
  eng_rows *rows;
} found_ctx;

static int found_row(void *ud, const cl_row *r) {
  found_ctx *x = ud;
  if (eng__rows_push(x->rows, r->vals, r->nvals, r->rowid)) return SYN_ENOMEM;
  return 1; /* one is enough */
}

static bool is_pk(const cat_table *t, const int *cols, int n) {
  if (!t->npk || n != t->npk) return false;
  for (int i = 0; i < n; i++) {
    bool in = false;
    for (int k = 0; k < t->npk; k++) in |= t->pk[k] == cols[i];
    if (!in) return false;
  }
  return true;
}

static int find_existing(eng_session *s, const cat_table *t, const int *cols, int n,
                         const syn_value *row, eng_rows *found, syn_err *e) {
  for (int i = 0; i < n; i++)
    if (row[cols[i]].type == SYN_V_NULL) return 0; /* NULLs never conflict */
  found_ctx x = {found};
  cl_scan_spec spec = {0};
  syn_value key[MAXKEY], dist;
  cat_buf f = {0};
  int rc = 0;
  if (is_pk(t, cols, n)) {
    int nk;
    key_of(t, row, 0, key, &nk, &dist);
    spec.key = key;
    spec.nkey = nk;
    if (t->dist_col >= 0) spec.dist_value = &dist;
  } else {
    syn_value params[MAXKEY];
    for (int i = 0; i < n && i < MAXKEY && !rc; i++) {
      rc = cat_buf_printf(&f, "%s\"", i ? " AND " : "");
      for (const char *p = t->cols[cols[i]].name; *p && !rc; p++)
        rc = *p == '"' ? cat_buf_append(&f, "\"\"", 2) : cat_buf_append(&f, p, 1);
      if (!rc) rc = cat_buf_printf(&f, "\" = ?%d", i + 1);
      params[i] = row[cols[i]];
      if (cols[i] == t->dist_col) spec.dist_value = &row[cols[i]];
    }
    if (rc) {
      cat_buf_free(&f);
      return sqlst_set(e, SQLST_OUT_OF_MEMORY, "out of memory");
    }
    spec.filter = f.p;
    spec.params = params;
    spec.nparams = n;
    rc = cl_scan(s->txn, t, &spec, found_row, &x, e);
    cat_buf_free(&f);
    return rc;
  }
  return cl_scan(s->txn, t, &spec, found_row, &x, e);
}

static bool key_changed(const cat_table *t, const syn_value *a, const syn_value *b) {
  for (int k = 0; k < t->npk; k++)
    if (!value_eq(&a[t->pk[k]], &b[t->pk[k]])) return true;
  return t->dist_col >= 0 && !value_eq(&a[t->dist_col], &b[t->dist_col]);
}

static int write_one(eng_session *s, const cat_table *t, cl_write_mode mode, const syn_value *row,
                     int64_t rowid, syn_err *e) {
  syn_value key[MAXKEY], dist;
  int nk;
  key_of(t, row, rowid, key, &nk, &dist);
  cl_write_op op = {.mode = mode, .row = mode == CL_LOCK || mode == CL_DELETE ? NULL : row,
                    .key = key, .nkey = nk, .dist_value = &dist};
  int rc = eng__write(s, t, &op, 1, e);
  if (rc == CL_EUNIQUE && row) detail_unique(s, t, row, e);
  return rc;
}

/* ON CONFLICT for one proposed row: 1 when it was handled as a conflict
** (skipped or updated; *updated says whether a row was written). */
static int upsert_one(eng_session *s, const sqlr_query *q, const syn_value *row, int64_t rowid,
                      sqlite3_stmt **conflict_st, cat_buf *scratch, eng_rows *final, bool *wrote,
                      syn_err *e) {
  const cat_table *t = q->target;
  eng_rows found = {0};
  int rc = 0;
  *wrote = false;
  if (q->nconflict_cols) {
    rc = find_existing(s, t, q->conflict_cols, q->nconflict_cols, row, &found, e);
  } else {
    if (t->npk) rc = find_existing(s, t, t->pk, t->npk, row, &found, e);
    for (int i = 0; !rc && !found.n && i < t->nuniques; i++)
      rc = find_existing(s, t, t->uniques[i].cols, t->uniques[i].ncols, row, &found, e);
  }
  if (rc || !found.n) {
    eng__rows_clear(&found);
    if (rc) return rc;
    rc = write_one(s, t, CL_INSERT, row, rowid, e);
    if (!rc && eng__rows_push(final, row, t->ncols, rowid)) rc = SYN_ENOMEM;
    *wrote = !rc;
    return rc;
  }
  const eng_row *old = &found.r[0];
  /* A locking point read: the existing row is locked before deciding. */
  rc = write_one(s, t, CL_LOCK, old->v, old->rowid, e);
  if (!rc && q->conflict == SQLR_CONFLICT_UPDATE) {
    if (!*conflict_st) rc = eng__prepare(s, q->conflict_sql, conflict_st, e);
    if (!rc) rc = eng__bind_common(s, *conflict_st, q, e);
    for (int i = 0; !rc && i < t->ncols; i++) {
      eng__bind_value(*conflict_st, q->row_base + 1 + i, &old->v[i]);
      eng__bind_value(*conflict_st, q->row_base + 1 + t->ncols + i, &row[i]);
    }
    int src = rc ? SQLITE_ERROR : sqlite3_step(*conflict_st);
    if (!rc && src == SQLITE_ROW) {
      syn_value *nv = malloc(sizeof *nv * (size_t)t->ncols);
      if (!nv) rc = SYN_ENOMEM;
      for (int i = 0; !rc && i < t->ncols; i++) nv[i] = old->v[i];
      for (int k = 0; !rc && k < q->nconflict_set; k++)
        rc = eng__value_from_column(*conflict_st, k, &nv[q->conflict_set_cols[k]]);
      eng_rows one = {0};
      if (!rc) rc = coerce_keep(s, t, nv, old->rowid, scratch, &one, e);
      if (!rc) {
        const syn_value *newrow = one.r[0].v;
        if (t->npk && key_changed(t, old->v, newrow)) {
          rc = write_one(s, t, CL_DELETE, old->v, old->rowid, e);
          if (!rc) rc = write_one(s, t, CL_INSERT, newrow, old->rowid, e);
        } else {
          rc = write_one(s, t, CL_UPDATE, newrow, old->rowid, e);
        }
        if (!rc && eng__rows_push(final, newrow, t->ncols, old->rowid)) rc = SYN_ENOMEM;
        *wrote = !rc;
      }
      eng__rows_clear(&one);
      free(nv);
    } else if (!rc && src != SQLITE_DONE) {
      rc = eng__sqlite_error(s, src, e);
    }
    if (*conflict_st) sqlite3_reset(*conflict_st);
  }
  eng__rows_clear(&found);
  return rc;
}

/* Write ops carry the key in fixed arrays (PostgreSQL's own limit on index
** columns is 32). */
static int key_width_ok(const cat_table *t, syn_err *e) {
  if (t->npk > MAXKEY)
    return syn_err_set(e, SYN_ERANGE, "54011: primary key of \"%s\" has more than %d columns",
                       t->name, MAXKEY);
  return 0;
}

int eng__run_insert(eng_session *s, const sqlr_query *q, char *tag, size_t tagcap, syn_err *e) {
  const cat_table *t = q->target;
  if (key_width_ok(t, e)) return SYN_ERANGE;
  eng_rows src = {0}, rows = {0}, final = {0};
  eng_defaults d = {calloc((size_t)t->ncols, sizeof(sqlite3_stmt *))};
  cat_buf *scratch = calloc((size_t)t->ncols, sizeof *scratch);
  syn_value *vals = calloc((size_t)t->ncols, sizeof *vals);
  bool *given = calloc((size_t)t->ncols, sizeof *given);
  opbuf *ob = calloc(1, sizeof *ob);
  sqlite3_stmt *conflict_st = NULL;
  returning ret = {0};
  uint64_t n = 0;
  int rc = d.expr && scratch && vals && given && ob ? 0 : sqlst_set(e, SQLST_OUT_OF_MEMORY, "out of memory");
  /* 1. the source rows, all of them before any write (INSERT ... SELECT
  ** from the target table must not see its own new rows). */
  if (!rc) rc = run_query(s, q, q->ninsert, &src, e);
  /* 2. complete rows: defaults, serials, hidden row ids, coercion */
  for (size_t r = 0; r < src.n && !rc; r++) {
    memset(given, 0, sizeof *given * (size_t)t->ncols);
    for (int k = 0; k < q->ninsert && !rc; k++) {
      vals[q->insert_cols[k]] = src.r[r].v[k];
      given[q->insert_cols[k]] = true;
      /* A numeric source value (e.g. the literal 2.5) into an integer or
      ** float column is an assignment cast, not text input. */
      if (k < q->ncols && q->cols[k].type_oid == CAT_OID_NUMERIC)
        rc = cat_numeric_assign(t->cols[q->insert_cols[k]].type_oid, &vals[q->insert_cols[k]], e);
    }
    for (int c = 0; c < t->ncols && !rc; c++)
      if (!given[c]) rc = eng__default_value(s, t, &d, c, &vals[c], e);
    int64_t rowid = 0;
    if (!rc && t->hidden_rowid) rc = cl_rowid_next(s->cl, &rowid, e);
    if (!rc) rc = coerce_keep(s, t, vals, rowid, scratch, &rows, e);
  }
  eng__rows_clear(&src);
  if (!rc) rc = ret_open(s, q, &ret, e);
  /* 3. lock every key first (see top), then write */
  if (!rc && t->npk) {
    for (size_t r = 0; r < rows.n && !rc; r++)
      rc = add_op(s, t, ob, CL_LOCK, rows.r[r].v, rows.r[r].rowid, NULL, e);
    if (!rc) rc = flush(s, t, ob, e);
  }
  if (!rc && q->conflict == SQLR_CONFLICT_NONE) {
    for (size_t r = 0; r < rows.n && !rc; r++)
      rc = add_op(s, t, ob, CL_INSERT, rows.r[r].v, rows.r[r].rowid, rows.r[r].v, e);
    if (!rc) rc = flush(s, t, ob, e);
    if (rc == CL_EUNIQUE && rows.n == 1) detail_unique(s, t, rows.r[0].v, e);
    n = rows.n;
  } else if (!rc) {
    for (size_t r = 0; r < rows.n && !rc; r++) {
      bool wrote;
      rc = upsert_one(s, q, rows.r[r].v, rows.r[r].rowid, &conflict_st, scratch, &final, &wrote, e);
      n += wrote;
    }
    /* A conflict on a row found through a non-key unique index comes
    ** after earlier rows were written: not re-runnable (see top). */
    if (rc == CL_ECONFLICT && n > 0) s->conflict_final = true;
  }
  /* 4. RETURNING over the rows as written */
  if (!rc) rc = ret_send_columns(s, &ret);
  eng_rows *out = q->conflict == SQLR_CONFLICT_NONE ? &rows : &final;
  for (size_t r = 0; r < out->n && !rc && ret.st; r++) rc = ret_row(s, &ret, out->r[r].v, t->ncols, e);
  ret_close(s, &ret);
  eng__release(s, conflict_st);
  for (int c = 0; d.expr && c < t->ncols; c++)
    eng__release(s, d.expr[c]);
  for (int c = 0; scratch && c < t->ncols; c++) cat_buf_free(&scratch[c]);
  free(d.expr);
  free(scratch);
  free(vals);
  free(given);
  free(ob);
  eng__rows_clear(&rows);
  eng__rows_clear(&final);
  if (rc) return rc;
  snprintf(tag, tagcap, "INSERT 0 %llu", (unsigned long long)n);
  return 0;
}

/* ---- UPDATE / DELETE ---- */

static uint64_t hash_key(const cat_table *t, const eng_row *r) {
  uint64_t h = 1469598103934665603ull;
  int n = t->npk ? t->npk : 1;
  for (int k = 0; k < n; k++) {
    const syn_value *v = t->npk ? &r->v[t->pk[k]] : NULL;
    uint64_t x = 0;
    const uint8_t *p = NULL;
    size_t len = 0;
    if (!v) x = (uint64_t)r->rowid;
    else if (v->type == SYN_V_INT) x = (uint64_t)v->u.i;
    else if (v->type == SYN_V_REAL) memcpy(&x, &v->u.r, sizeof x);
    else if (v->type == SYN_V_TEXT || v->type == SYN_V_BLOB) p = v->u.b.p, len = v->u.b.n;
    for (size_t i = 0; i < 8; i++) h = (h ^ ((x >> (8 * i)) & 0xff)) * 1099511628211ull;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 1099511628211ull;
  }
  return h;
}

static bool same_key(const cat_table *t, const eng_row *a, const eng_row *b) {
  if (!t->npk) return a->rowid == b->rowid;
  for (int k = 0; k < t->npk; k++)
    if (!value_eq(&a->v[t->pk[k]], &b->v[t->pk[k]])) return false;
  return true;
}

/* Keep the first row per key (UPDATE ... FROM may join a row twice). */
static int dedupe(const cat_table *t, eng_rows *rs) {
  if (rs->n < 2) return 0;
  size_t cap = 1;
  while (cap < rs->n * 2) cap <<= 1;
  size_t *slot = calloc(cap, sizeof *slot); /* index + 1, 0 empty */
  if (!slot) return SYN_ENOMEM;
  size_t kept = 0;
  for (size_t i = 0; i < rs->n; i++) {
    size_t h = (size_t)hash_key(t, &rs->r[i]) & (cap - 1);
    bool dup = false;
    while (slot[h]) {
      if (same_key(t, &rs->r[slot[h] - 1], &rs->r[i])) {
        dup = true;
        break;
      }
      h = (h + 1) & (cap - 1);
    }
    if (dup) {
      eng__row_free(&rs->r[i]);
      continue;
    }
    rs->r[kept] = rs->r[i];
    slot[h] = kept + 1;
    kept++;
  }
  rs->n = kept;
  free(slot);
  return 0;
}

int eng__run_update_delete(eng_session *s, const sqlr_query *q, char *tag, size_t tagcap,
                           syn_err *e) {
  const cat_table *t = q->target;
  if (key_width_ok(t, e)) return SYN_ERANGE;
  bool upd = q->kind == SQLP_UPDATE;
  int oldw = t->ncols + (t->hidden_rowid ? 1 : 0);
  int width = oldw + (upd ? q->nset : 0);
  eng_rows rows = {0}, news = {0};
  opbuf *ob = calloc(1, sizeof *ob);
  cat_buf *scratch = calloc((size_t)t->ncols, sizeof *scratch);
  syn_value *nv = calloc((size_t)t->ncols, sizeof *nv);
  returning ret = {0};
  int rc = ob && scratch && nv ? 0 : sqlst_set(e, SQLST_OUT_OF_MEMORY, "out of memory");
  /* 1. the target rows at the statement's snapshot */
  if (!rc) rc = run_query(s, q, width, &rows, e);
  for (size_t r = 0; r < rows.n && t->hidden_rowid; r++)
    rows.r[r].rowid = rows.r[r].v[t->ncols].u.i;
  if (!rc && dedupe(t, &rows)) rc = sqlst_set(e, SQLST_OUT_OF_MEMORY, "out of memory");
  if (!rc) rc = ret_open(s, q, &ret, e);
  /* 2. lock them all (CL_ECONFLICT here means: re-run, see top) */
  for (size_t r = 0; r < rows.n && !rc; r++)
    rc = add_op(s, t, ob, CL_LOCK, rows.r[r].v, rows.r[r].rowid, NULL, e);
  if (!rc) rc = flush(s, t, ob, e);
  /* 3. new rows */
  for (size_t r = 0; upd && r < rows.n && !rc; r++) {
    memcpy(nv, rows.r[r].v, sizeof *nv * (size_t)t->ncols);
    for (int k = 0; k < q->nset; k++) nv[q->set_cols[k]] = rows.r[r].v[oldw + k];
    rc = coerce_keep(s, t, nv, rows.r[r].rowid, scratch, &news, e);
  }
  /* 4. write: rows whose key or distribution value changes move (delete +
  ** insert; all deletes first so keys may be permuted among the rows) */
  bool moved = false;
  for (size_t r = 0; upd && r < rows.n && !rc; r++) {
    if (t->npk && key_changed(t, rows.r[r].v, news.r[r].v)) {
      moved = true;
      rc = add_op(s, t, ob, CL_DELETE, rows.r[r].v, rows.r[r].rowid, NULL, e);
    } else {
      rc = add_op(s, t, ob, CL_UPDATE, news.r[r].v, news.r[r].rowid, news.r[r].v, e);
    }
  }
  if (moved && !rc) rc = flush(s, t, ob, e);
  for (size_t r = 0; moved && r < rows.n && !rc; r++)
    if (key_changed(t, rows.r[r].v, news.r[r].v))
      rc = add_op(s, t, ob, CL_INSERT, news.r[r].v, news.r[r].rowid, news.r[r].v, e);
  for (size_t r = 0; !upd && r < rows.n && !rc; r++)
    rc = add_op(s, t, ob, CL_DELETE, rows.r[r].v, rows.r[r].rowid, NULL, e);
  if (!rc) rc = flush(s, t, ob, e);
  if (rc == CL_EUNIQUE && news.n == 1) detail_unique(s, t, news.r[0].v, e);
  /* 5. RETURNING: the new rows of UPDATE, the old rows of DELETE */
  if (!rc) rc = ret_send_columns(s, &ret);
  eng_rows *out = upd ? &news : &rows;
  for (size_t r = 0; r < out->n && !rc && ret.st; r++) rc = ret_row(s, &ret, out->r[r].v, t->ncols, e);
  uint64_t n = rows.n;
  ret_close(s, &ret);
  for (int c = 0; scratch && c < t->ncols; c++) cat_buf_free(&scratch[c]);
  free(scratch);
  free(nv);
  free(ob);
  eng__rows_clear(&rows);
  eng__rows_clear(&news);
  if (rc) return rc;
  snprintf(tag, tagcap, "%s %llu", upd ? "UPDATE" : "DELETE", (unsigned long long)n);
  return 0;
}
