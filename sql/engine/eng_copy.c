/*
** COPY FROM STDIN and COPY TO STDOUT (text and CSV, sql/copy.h).
**
** FROM: the client's CopyData is parsed as it arrives; each row is
** completed like an INSERT row (defaults, serials, hidden row ids,
** coercion to the declared types) and written with cl_write in batches
** of ENG_COPY_BATCH rows or ENG_COPY_BATCH_BYTES, so the coordinator
** holds one batch and one unfinished input line whatever the COPY's size.
** A COPY is one statement: its writes join the transaction, and any error
** fails it whole (an implicit transaction rolls back, a block is failed).
** It cannot be re-run after a READ COMMITTED conflict (its input is
** consumed), so such a conflict is final (40001).
**
** TO: the rows come from the ordinary SELECT path (a table's columns, or
** the query of COPY (SELECT ...) TO), through an eng_out wrapper that
** turns RowDescription into CopyOutResponse and each row into CopyData as
** it is produced: streaming, with the executor's output flow control.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql/engine/eng_int.h"

#define ENG_COPY_BATCH 1000
#define ENG_COPY_BATCH_BYTES ((size_t)1024 * 1024)
#define ENG_COPY_MAXKEY 32

/* PostgreSQL's limit_printout_length: 100 bytes, then "...". */
static void set_context(eng_session *s, const char *table, unsigned long line, const char *col,
                        const char *val, size_t n, bool null_input) {
  char v[128] = "";
  size_t k = n > 100 ? 100 : n;
  while (k > 0 && k < n && ((unsigned char)val[k] & 0xC0) == 0x80) k--; /* whole characters */
  if (val) snprintf(v, sizeof v, "%.*s%s", (int)k, val, k < n ? "..." : "");
  if (col && null_input)
    snprintf(s->context, sizeof s->context, "COPY %s, line %lu, column %s: null input", table,
             line, col);
  else if (col)
    snprintf(s->context, sizeof s->context, "COPY %s, line %lu, column %s: \"%s\"", table, line,
             col, v);
  else if (val)
    snprintf(s->context, sizeof s->context, "COPY %s, line %lu: \"%s\"", table, line, v);
  else
    snprintf(s->context, sizeof s->context, "COPY %s, line %lu", table, line);
}

/* ---- COPY FROM ---- */

typedef struct copy_in {
  eng_session *s;
  const cat_table *t;
  int *cols;      /* target column of each input field */
  int ncols;
  syn_value *vals;
  bool *given;
  cat_buf *scratch;
  eng_defaults d;
  eng_rows batch;
  cl_write_op *ops;
  syn_value (*keys)[ENG_COPY_MAXKEY];
  syn_value *dists;
  uint64_t n;
} copy_in;

static int flush_batch(copy_in *c, syn_err *e) {
  const cat_table *t = c->t;
  int n = (int)c->batch.n;
  for (int i = 0; i < n; i++) {
    const eng_row *r = &c->batch.r[i];
    int nk = 1;
    if (t->npk) {
      for (int k = 0; k < t->npk; k++) c->keys[i][k] = r->v[t->pk[k]];
      nk = t->npk;
    } else {
      c->keys[i][0] = (syn_value){.type = SYN_V_INT, .u.i = r->rowid};
    }
    c->dists[i] = t->dist_col >= 0 ? r->v[t->dist_col]
                                   : (syn_value){.type = SYN_V_INT, .u.i = r->rowid};
    c->ops[i] = (cl_write_op){.mode = CL_INSERT, .row = r->v, .key = c->keys[i], .nkey = nk,
                              .dist_value = &c->dists[i]};
  }
  int rc = n ? eng__write(c->s, t, c->ops, n, e) : 0;
  c->n += (uint64_t)n;
  eng__rows_clear(&c->batch);
  return rc;
}

/* Find which column's input failed coercion, for the CONTEXT line. */
static const char *failing_column(copy_in *c, const cpy_row *row, int *field) {
  syn_err tmp;
  for (int i = 0; i < c->ncols && i < row->n; i++) {
    const cat_column *col = &c->t->cols[c->cols[i]];
    syn_value in = row->f[i].p ? (syn_value){.type = SYN_V_TEXT, .u.b = {(const uint8_t *)row->f[i].p, row->f[i].n}}
                               : (syn_value){.type = SYN_V_NULL};
    syn_value out;
    cat_buf b = {0};
    int rc = cat_coerce(col, &in, &out, &b, &tmp);
    cat_buf_free(&b);
    if (rc && row->f[i].p) {
      *field = i;
      return col->name;
    }
  }
  return NULL;
}

static int copy_row(copy_in *c, const cpy_row *row, syn_err *e) {
  eng_session *s = c->s;
  const cat_table *t = c->t;
  if (row->n < c->ncols) {
    set_context(s, t->name, row->lineno, NULL, row->line, row->line_len, false);
    return syn_err_set(e, SYN_EINVAL, "22P04: missing data for column \"%s\"",
                       t->cols[c->cols[row->n]].name);
  }
  if (row->n > c->ncols) {
    set_context(s, t->name, row->lineno, NULL, row->line, row->line_len, false);
    return syn_err_set(e, SYN_EINVAL, "22P04: extra data after last expected column");
  }
  memset(c->given, 0, sizeof *c->given * (size_t)t->ncols);
  for (int i = 0; i < c->ncols; i++) {
    c->vals[c->cols[i]] = row->f[i].p
                              ? (syn_value){.type = SYN_V_TEXT, .u.b = {(const uint8_t *)row->f[i].p, row->f[i].n}}
                              : (syn_value){.type = SYN_V_NULL};
    c->given[c->cols[i]] = true;
  }
  int rc = 0;
  for (int k = 0; k < t->ncols && !rc; k++)
    if (!c->given[k]) rc = eng__default_value(s, t, &c->d, k, &c->vals[k], e);
  int64_t rowid = 0;
  if (!rc && t->hidden_rowid) rc = cl_rowid_next(s->cl, &rowid, e);
  if (rc) return rc;
  rc = cat_coerce_row(t, c->vals, c->scratch, t->ncols, e);
  if (rc) {
    char state[6];
    sqlst_split(e, state, NULL);
    int field = -1;
    const char *col = strcmp(state, "23502") ? failing_column(c, row, &field) : NULL;
    if (col)
      set_context(s, t->name, row->lineno, col, row->f[field].p, row->f[field].n, false);
    else
      set_context(s, t->name, row->lineno, NULL, row->line, row->line_len, false);
    if (strcmp(state, "23502") == 0) eng__detail_not_null(s, t, c->vals);
    return rc;
  }
  if (eng__rows_push(&c->batch, c->vals, t->ncols, rowid))
    return sqlst_set(e, SQLST_OUT_OF_MEMORY, "out of memory");
  /* A unique violation found by a batch write names the constraint but not
  ** the row, so it carries no line number (PostgreSQL's has one). */
  if (c->batch.n >= ENG_COPY_BATCH || c->batch.bytes >= ENG_COPY_BATCH_BYTES)
    rc = flush_batch(c, e);
  return rc;
}

/* Header line of HEADER MATCH: the names of the columns copied, in order. */
static int check_header(copy_in *c, const cpy_row *row, syn_err *e) {
  if (row->n != c->ncols) {
    set_context(c->s, c->t->name, row->lineno, NULL, row->line, row->line_len, false);
    return syn_err_set(e, SYN_EINVAL, "22P04: wrong number of fields in header line: got %d, "
                       "expected %d", row->n, c->ncols);
  }
  for (int i = 0; i < row->n; i++) {
    const char *want = c->t->cols[c->cols[i]].name;
    if (!row->f[i].p || strcmp(row->f[i].p, want) != 0) {
      set_context(c->s, c->t->name, row->lineno, NULL, row->line, row->line_len, false);
      if (!row->f[i].p)
        return syn_err_set(e, SYN_EINVAL, "22P04: column name mismatch in header line field %d: "
                           "got null value (\"%s\"), expected \"%s\"", i + 1,
                           c->s->copy_null ? c->s->copy_null : "", want);
      return syn_err_set(e, SYN_EINVAL, "22P04: column name mismatch in header line field %d: "
                         "got \"%s\", expected \"%s\"", i + 1, row->f[i].p, want);
    }
  }
  return 0;
}

static int drain(copy_in *c, cpy_reader *r, bool eof, syn_err *e) {
  cpy_row row;
  int rc;
  while ((rc = cpy_reader_next(r, eof, &row, e)) == 1) {
    rc = row.header ? check_header(c, &row, e) : copy_row(c, &row, e);
    if (rc) return rc;
    if (eng__cancelled(c->s))
      return syn_err_set(e, SYN_ETIMEDOUT, "57014: canceling statement due to %s",
                         eng__cancel_reason(c->s));
  }
  if (rc < 0) {
    /* Format errors name the line; bad encoding only its number. */
    char state[6];
    sqlst_split(e, state, NULL);
    unsigned long line = row.lineno ? row.lineno : cpy_reader_lineno(r);
    const char *msg = strchr(e->msg, ':');
    static const struct { const char *m, *hint; } hints[] = {
        {"literal carriage return", "Use \"\\r\" to represent carriage return."},
        {"literal newline", "Use \"\\n\" to represent newline."},
        {"unquoted carriage return", "Use quoted CSV field to represent carriage return."},
        {"unquoted newline", "Use quoted CSV field to represent newline."},
    };
    for (size_t i = 0; msg && i < sizeof hints / sizeof hints[0]; i++)
      if (strstr(msg, hints[i].m)) snprintf(c->s->hint, sizeof c->s->hint, "%s", hints[i].hint);
    if (!row.line)
      set_context(c->s, c->t->name, line, NULL, NULL, 0, false);
    else
      set_context(c->s, c->t->name, line, NULL, row.line, row.line_len, false);
  }
  return rc;
}

static int resolve_columns(eng_session *s, const sqlp_stmt *st, const cat_table *t, int **out,
                           int *n, syn_err *e) {
  int cnt = st->nnames ? st->nnames : t->ncols;
  int *cols = calloc((size_t)(cnt ? cnt : 1), sizeof *cols);
  if (!cols) return sqlst_set(e, SQLST_OUT_OF_MEMORY, "out of memory");
  for (int i = 0; i < cnt; i++) {
    if (!st->nnames) {
      cols[i] = i;
      continue;
    }
    cols[i] = -1;
    for (int k = 0; k < t->ncols; k++)
      if (strcmp(t->cols[k].name, st->names[i]) == 0) cols[i] = k;
    int rc = 0;
    if (cols[i] < 0)
      rc = sqlst_set(e, SQLST_UNDEFINED_COLUMN, "column \"%s\" of relation \"%s\" does not exist",
                     st->names[i], t->name);
    for (int k = 0; k < i && !rc; k++)
      if (cols[k] == cols[i])
        rc = sqlst_set(e, SQLST_DUPLICATE_COLUMN, "column \"%s\" specified more than once",
                       st->names[i]);
    if (rc) {
      free(cols);
      return rc;
    }
  }
  (void)s;
  *out = cols;
  *n = cnt;
  return 0;
}

static int copy_from(eng_session *s, const sqlp_stmt *st, const cat_table *t, syn_err *e) {
  const eng_out *out = s->out;
  if (s->read_only)
    return syn_err_set(e, SYN_EINVAL, "25006: cannot execute COPY FROM in a read-only transaction");
  copy_in c = {.s = s, .t = t};
  cpy_reader *r = NULL;
  int rc = resolve_columns(s, st, t, &c.cols, &c.ncols, e);
  if (!rc) rc = eng__txn_for_statement(s, e);
  if (!rc) {
    c.vals = calloc((size_t)t->ncols + 1, sizeof *c.vals);
    c.given = calloc((size_t)t->ncols + 1, sizeof *c.given);
    c.scratch = calloc((size_t)t->ncols + 1, sizeof *c.scratch);
    c.d.expr = calloc((size_t)t->ncols + 1, sizeof *c.d.expr);
    c.ops = calloc(ENG_COPY_BATCH, sizeof *c.ops);
    c.keys = calloc(ENG_COPY_BATCH, sizeof *c.keys);
    c.dists = calloc(ENG_COPY_BATCH, sizeof *c.dists);
    if (!c.vals || !c.given || !c.scratch || !c.d.expr || !c.ops || !c.keys || !c.dists)
      rc = sqlst_set(e, SQLST_OUT_OF_MEMORY, "out of memory");
  }
  if (!rc && t->npk > ENG_COPY_MAXKEY)
    rc = syn_err_set(e, SYN_ERANGE, "54011: primary key of \"%s\" has more than %d columns",
                     t->name, ENG_COPY_MAXKEY);
  if (!rc) rc = cpy_reader_new(st->copy, &r, e);
  /* Lines with more fields fail anyway; generous for the HEADER MATCH
  ** line, whose count PostgreSQL reports. */
  if (!rc) cpy_reader_set_max_fields(r, c.ncols + 1000);
  s->copy_null = st->copy->null_str;
  s->conflict_final = true; /* the input is consumed: never re-run */
  if (!rc && out->copy_in(out->ud, c.ncols))
    rc = syn_err_set(e, SYN_ECLOSED, "08006: client went away");
  /* Read until CopyDone/CopyFail. On an error we stop reading: the
  ** executor leaves COPY mode and the client's remaining CopyData is
  ** discarded, as PostgreSQL does. */
  bool done = false;
  while (!rc && !done) {
    char type = 0;
    char *p = NULL;
    size_t n = 0;
    if (out->copy_read(out->ud, &type, &p, &n)) {
      free(p);
      rc = eng__cancelled(s) ? syn_err_set(e, SYN_ETIMEDOUT, "57014: canceling statement due to %s",
                                           eng__cancel_reason(s))
                             : syn_err_set(e, SYN_ECLOSED, "08006: client went away");
      break;
    }
    if (type == 'd') {
      rc = cpy_reader_push(r, p, n, e);
      if (!rc) rc = drain(&c, r, false, e);
    } else if (type == 'c') {
      rc = drain(&c, r, true, e);
      done = true;
    } else {
      rc = syn_err_set(e, SYN_ETIMEDOUT, "57014: COPY from stdin failed: %s", p ? p : "");
      done = true;
    }
    free(p);
  }
  if (!rc) rc = flush_batch(&c, e);
  s->copy_null = NULL;
  cpy_reader_free(r);
  for (int k = 0; c.d.expr && k < t->ncols; k++) eng__release(s, c.d.expr[k]);
  for (int k = 0; c.scratch && k < t->ncols; k++) cat_buf_free(&c.scratch[k]);
  eng__rows_clear(&c.batch);
  free(c.d.expr);
  free(c.scratch);
  free(c.vals);
  free(c.given);
  free(c.ops);
  free(c.keys);
  free(c.dists);
  free(c.cols);
  if (rc) return rc;
  char tag[48];
  snprintf(tag, sizeof tag, "COPY %llu", (unsigned long long)c.n);
  return eng__complete(s, tag);
}

/* ---- COPY TO ---- */

typedef struct copy_out {
  eng_session *s;
  const eng_out *real;
  const cpy_opts *o;
  cpy_buf buf;
  bool started, done;
  int ncols;
} copy_out;

static int co_columns(void *ud, int n, const eng_col *cols) {
  copy_out *c = ud;
  c->ncols = n;
  c->started = true;
  if (c->real->copy_out(c->real->ud, n)) return 1;
  if (c->o->header == CPY_HEADER_NONE) return 0;
  cpy_field *f = calloc((size_t)(n ? n : 1), sizeof *f);
  if (!f) return 1;
  for (int i = 0; i < n; i++) f[i] = (cpy_field){cols[i].name, strlen(cols[i].name)};
  syn_err e;
  c->buf.n = 0;
  int rc = cpy_format_row(c->o, n, f, &c->buf, &e);
  free(f);
  return rc || c->real->copy_data(c->real->ud, c->buf.p, c->buf.n);
}

static int co_row(void *ud, int n, const eng_cell *cells) {
  copy_out *c = ud;
  cpy_field stack[64] = {{0}};
  cpy_field *f = n <= 64 ? stack : calloc((size_t)n, sizeof *f);
  if (!f) return 1;
  for (int i = 0; i < n; i++) f[i] = (cpy_field){cells[i].p, cells[i].n};
  syn_err e;
  c->buf.n = 0;
  int rc = cpy_format_row(c->o, n, f, &c->buf, &e);
  if (f != stack) free(f);
  return rc || c->real->copy_data(c->real->ud, c->buf.p, c->buf.n);
}

static int co_finish(copy_out *c) {
  if (c->done) return 0;
  c->done = true;
  return c->real->copy_done(c->real->ud);
}

static int co_complete(void *ud, const char *tag) {
  copy_out *c = ud;
  if (co_finish(c)) return 1;
  char t[64];
  snprintf(t, sizeof t, "COPY %s", strncmp(tag, "SELECT ", 7) == 0 ? tag + 7 : "0");
  return c->real->complete(c->real->ud, t);
}

static int co_error(void *ud, const eng_msg *m) {
  copy_out *c = ud;
  return c->real->error(c->real->ud, m);
}

static int co_notice(void *ud, const eng_msg *m) {
  copy_out *c = ud;
  return c->real->notice(c->real->ud, m);
}

static int co_param(void *ud, const char *n, const char *v) {
  copy_out *c = ud;
  return c->real->param_status(c->real->ud, n, v);
}

static int copy_to(eng_session *s, const sqlp_stmt *st, int *err_pos, syn_err *e) {
  sqlp_list *l = NULL;
  sqlp_stmt sel = {.kind = SQLP_SELECT, .location = st->location, .length = st->length};
  int rc = 0;
  if (st->copy_query) {
    sel.node = st->copy_query;
  } else {
    if (!st->rel) return sqlst_set(e, SQLST_SYNTAX, "COPY needs a table or a query");
    const cat_table *t = eng__table(s, st->rel);
    if (!t) return sqlst_set(e, SQLST_UNDEFINED_TABLE, "relation \"%s\" does not exist", st->rel);
    int *cols = NULL, n = 0;
    if ((rc = resolve_columns(s, st, t, &cols, &n, e))) return rc;
    cat_buf sql = {0};
    rc = cat_buf_printf(&sql, "SELECT ");
    for (int i = 0; i < n && !rc; i++) {
      if (i) rc = cat_buf_printf(&sql, ", ");
      if (!rc) rc = eng__ident(&sql, t->cols[cols[i]].name);
    }
    if (!rc) rc = cat_buf_printf(&sql, " FROM ");
    if (!rc) rc = eng__ident(&sql, t->name);
    free(cols);
    if (rc) {
      cat_buf_free(&sql);
      return sqlst_set(e, SQLST_OUT_OF_MEMORY, "out of memory");
    }
    int cursor = 0;
    rc = sqlp_parse(sql.p, &l, &cursor, e);
    cat_buf_free(&sql);
    if (rc) return rc;
    if (l->n != 1) {
      sqlp_list_free(l);
      return syn_err_set(e, SYN_EINTERNAL, "COPY: bad query for \"%s\"", st->rel);
    }
    sel = l->stmts[0];
  }
  const eng_out *real = s->out;
  copy_out c = {.s = s, .real = real, .o = st->copy};
  eng_out wrap = *real;
  wrap.ud = &c;
  wrap.columns = co_columns;
  wrap.row = co_row;
  wrap.complete = co_complete;
  wrap.error = co_error;
  wrap.notice = co_notice;
  wrap.param_status = co_param;
  s->out = &wrap;
  rc = eng__run_stmt(s, &sel, err_pos, e);
  s->out = real;
  /* The tag of the last statement of an implicit transaction waits for
  ** the commit (eng_session.c): CopyDone goes now, "COPY n" later. */
  if (!rc && c.started && !c.done) {
    c.done = true;
    if (real->copy_done(real->ud)) rc = syn_err_set(e, SYN_ECLOSED, "08006: client went away");
    if (!rc && strncmp(s->pending_tag, "SELECT ", 7) == 0) {
      char t[64];
      snprintf(t, sizeof t, "COPY %s", s->pending_tag + 7);
      snprintf(s->pending_tag, sizeof s->pending_tag, "%s", t);
    }
  }
  cpy_buf_free(&c.buf);
  sqlp_list_free(l);
  return rc;
}

int eng__run_copy(eng_session *s, const sqlp_stmt *st, int *err_pos, syn_err *e) {
  const eng_out *out = s->out;
  if (!out->copy_in || !out->copy_read || !out->copy_out || !out->copy_data || !out->copy_done)
    return sqlst_set(e, SQLST_FEATURE, "COPY is not supported on this protocol path (use the "
                     "simple query protocol)");
  int rc = eng__catalog_sync(s, e);
  if (rc) return rc;
  if (!st->copy->is_from) return copy_to(s, st, err_pos, e);
  const cat_table *t = eng__table(s, st->rel);
  if (!t) return sqlst_set(e, SQLST_UNDEFINED_TABLE, "relation \"%s\" does not exist", st->rel);
  return copy_from(s, st, t, e);
}
