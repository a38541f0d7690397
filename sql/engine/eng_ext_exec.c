/*
** Execute of the extended query protocol, and the output wrapper every
** extended message runs behind (design: eng_ext.c).
**
** Execute sends no RowDescription (the client has it from Describe), and
** each column goes in the format Bind asked for. The wrapper turns the
** engine's columns() into rows_begin, converts text cells to binary where
** asked (eng__text_to_binary), and, when capturing, keeps the rows and the
** tag in the portal for a later Execute.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql/engine/eng_ext_int.h"


int16_t eng__col_format(const eng_portal *p, int i) {
  return p && i < p->nfmts ? p->fmts[i] : 0;
}

static int x_rows_begin(void *ud, int n) {
  xout *x = ud;
  return x->base->rows_begin ? x->base->rows_begin(x->base->ud, n) : 0;
}

static int x_columns(void *ud, int n, const eng_col *cols) {
  xout *x = ud;
  eng_portal *p = x->p;
  if (p) {
    free(p->oids);
    p->oids = calloc((size_t)(n ? n : 1), sizeof *p->oids);
    if (!p->oids) return 1;
    p->ncols = n;
    for (int i = 0; i < n; i++) p->oids[i] = cols[i].type_oid;
  }
  if (x->capture) return 0;
  return x_rows_begin(x, n);
}

/* Send one row in the portal's formats. */
static int send_row(xout *x, int n, const eng_cell *cells) {
  eng_portal *p = x->p;
  bool any_binary = false;
  for (int i = 0; i < n; i++) any_binary |= eng__col_format(p, i) == 1 && cells[i].p;
  if (!any_binary) return x->base->row(x->base->ud, n, cells);
  if (n > x->ncells) {
    eng_cell *c = realloc(x->cells, sizeof *c * (size_t)n);
    if (!c) return 1;
    x->cells = c;
    x->ncells = n;
  }
  /* Convert every binary cell into one buffer, then point into it. */
  size_t *off = calloc((size_t)n, sizeof *off);
  if (!off) return 1;
  x->conv.n = 0;
  cat_buf one = {0};
  int rc = 0;
  for (int i = 0; i < n && !rc; i++) {
    off[i] = x->conv.n;
    if (eng__col_format(p, i) != 1 || !cells[i].p) continue;
    uint32_t oid = p && i < p->ncols ? p->oids[i] : CAT_OID_TEXT;
    syn_err e;
    rc = eng__text_to_binary(oid, cells[i].p, cells[i].n, &one, &e);
    if (!rc && one.n) rc = cat_buf_append(&x->conv, one.p, one.n);
  }
  for (int i = 0; i < n && !rc; i++) {
    if (eng__col_format(p, i) != 1 || !cells[i].p) {
      x->cells[i] = cells[i];
      continue;
    }
    size_t end = x->conv.n;
    for (int k = i + 1; k < n; k++)
      if (eng__col_format(p, k) == 1 && cells[k].p) {
        end = off[k];
        break;
      }
    x->cells[i] = (eng_cell){end > off[i] ? x->conv.p + off[i] : "", end - off[i]};
  }
  cat_buf_free(&one);
  free(off);
  if (rc) return 1;
  return x->base->row(x->base->ud, n, x->cells);
}

static int x_row(void *ud, int n, const eng_cell *cells) {
  xout *x = ud;
  if (!x->capture) return send_row(x, n, cells);
  syn_value stack[32] = {{0}};
  syn_value *v = n <= 32 ? stack : calloc((size_t)n, sizeof *v);
  if (!v) return 1;
  for (int i = 0; i < n; i++)
    v[i] = cells[i].p ? (syn_value){.type = SYN_V_TEXT, .u.b = {(const uint8_t *)cells[i].p, cells[i].n}}
                      : (syn_value){.type = SYN_V_NULL};
  int rc = eng__rows_push(&x->p->rows, v, n, 0);
  if (v != stack) free(v);
  return rc ? 1 : 0;
}

static int x_complete(void *ud, const char *tag) {
  xout *x = ud;
  x->completed = true;
  if (!x->capture) return x->base->complete(x->base->ud, tag);
  snprintf(x->p->tag, sizeof x->p->tag, "%s", tag);
  return 0;
}

static int x_empty(void *ud) {
  xout *x = ud;
  return x->base->empty(x->base->ud);
}
static int x_error(void *ud, const eng_msg *m) {
  xout *x = ud;
  return x->base->error(x->base->ud, m);
}
static int x_notice(void *ud, const eng_msg *m) {
  xout *x = ud;
  return x->base->notice(x->base->ud, m);
}
static int x_param(void *ud, const char *n, const char *v) {
  xout *x = ud;
  return x->base->param_status(x->base->ud, n, v);
}

static int x_reply(void *ud, char type) {
  xout *x = ud;
  return x->base->reply ? x->base->reply(x->base->ud, type) : 1;
}
static int x_param_desc(void *ud, int n, const uint32_t *oids) {
  xout *x = ud;
  return x->base->param_desc ? x->base->param_desc(x->base->ud, n, oids) : 1;
}

void eng__xout_init(xout *x, eng_session *s, const eng_out *base) {
  memset(x, 0, sizeof *x);
  x->base = base;
  x->s = s;
  x->out = (eng_out){.ud = x, .columns = x_columns, .row = x_row, .complete = x_complete,
                     .empty = x_empty, .error = x_error, .notice = x_notice,
                     .param_status = x_param, .reply = x_reply,
                     .param_desc = x_param_desc, .rows_begin = x_rows_begin};
}

void eng__xout_free(xout *x) {
  cat_buf_free(&x->conv);
  free(x->cells);
}

int eng__ext_reply(eng_session *s, char type) {
  const eng_out *o = s->out;
  if (!o->reply || o->reply(o->ud, type)) {
    s->out_gone = true;
    return SYN_ECLOSED;
  }
  return 0;
}

/* ---- execute ------------------------------------------------------------- */

/* Send up to max rows (<= 0: all) of a buffered portal, then the tag or
** PortalSuspended. */
static int send_buffered(eng_session *s, xout *x, eng_portal *p, int64_t max) {
  x->capture = false;
  const eng_out *b = x->base;
  if (p->rows.n > 0 && b->rows_begin && b->rows_begin(b->ud, p->ncols)) return SYN_ECLOSED;
  eng_cell stack[32];
  int64_t sent = 0;
  while (p->next_row < p->rows.n && (max <= 0 || sent < max)) {
    eng_row *r = &p->rows.r[p->next_row++];
    eng_cell *c = r->n <= 32 ? stack : calloc((size_t)r->n, sizeof *c);
    if (!c) return SYN_ENOMEM;
    for (int i = 0; i < r->n; i++)
      c[i] = r->v[i].type == SYN_V_NULL ? (eng_cell){NULL, 0}
                                        : (eng_cell){(const char *)r->v[i].u.b.p, r->v[i].u.b.n};
    int rc = send_row(x, r->n, c);
    if (c != stack) free(c);
    if (rc) return SYN_ECLOSED;
    sent++;
  }
  if (p->next_row < p->rows.n) return eng__ext_reply(s, 's');
  p->state = P_DONE;
  if (!p->tag[0]) return 0;
  /* A SELECT or RETURNING fetched in pieces reports the rows of the last
  ** piece, as PostgreSQL's PortalRun sets nprocessed per call. */
  char tag[80];
  const char *sp = strrchr(p->tag, ' ');
  if (sp && sp[1] >= '0' && sp[1] <= '9' && p->rows.n > 0)
    snprintf(tag, sizeof tag, "%.*s %lld", (int)(sp - p->tag), p->tag, (long long)sent);
  else
    snprintf(tag, sizeof tag, "%s", p->tag);
  return b->complete(b->ud, tag) ? SYN_ECLOSED : 0;
}

/* Step a streaming SELECT: up to max rows, then PortalSuspended or the
** end (statement back to the prepared statement, "SELECT n"). */
static int stream(eng_session *s, eng_portal *p, int64_t max, syn_err *e) {
  const sqlr_query *q = p->ps->q;
  int rc = eng__send_columns(s, q->cols, q->ncols);
  cat_buf buf = {0};
  int64_t n = 0;
  int src = SQLITE_DONE;
  s->scan_rc = 0;
  syn_err_clear(&s->scan_err);
  while (!rc && (max <= 0 || n < max) && (src = sqlite3_step(p->st)) == SQLITE_ROW) {
    rc = eng__send_sqlite_row(s, p->st, q->cols, q->ncols, &buf);
    n++;
  }
  cat_buf_free(&buf);
  if (rc) return rc;
  if (src == SQLITE_ROW) return eng__ext_reply(s, 's');
  if (src != SQLITE_DONE) return eng__sqlite_error(s, src, e);
  eng__release(s, p->st);
  p->st = NULL;
  p->state = P_DONE;
  char tag[48];
  snprintf(tag, sizeof tag, "SELECT %lld", (long long)n);
  return eng__complete(s, tag);
}

static int start_stream(eng_session *s, eng_portal *p, syn_err *e) {
  eng_pstmt *ps = p->ps;
  int rc = eng__txn_for_statement(s, e);
  if (rc) return rc;
  rc = eng__prepare(s, ps->q->sql, &p->st, e);
  if (rc) return rc;
  p->state = P_STREAM;
  return eng__bind_common(s, p->st, ps->q, e);
}

int eng__ext_execute(eng_session *s, xout *x, const eng_xmsg *m, uint32_t *pos, syn_err *e) {
  eng_portal *p = eng__portal_find(s, m->name);
  if (!p) return syn_err_set(e, SYN_ENOTFOUND, "34000: portal \"%s\" does not exist", m->name);
  eng_pstmt *ps = p->ps;
  x->p = p;
  if (!ps->st) return s->out->empty(s->out->ud) ? SYN_ECLOSED : 0;
  int rc = eng__failed_block(s, ps->st, e);
  if (rc) return rc;
  if (p->broken)
    return sqlst_set(e, SQLST_FEATURE, "portal \"%s\" cannot continue: the catalog changed "
                     "while it was suspended", p->name);
  s->params = p->params.v;
  s->nparams = p->params.n;
  s->src = ps->sql;
  switch (p->state) {
  case P_STREAM: return stream(s, p, m->max_rows, e);
  case P_BUFFERED: return send_buffered(s, x, p, m->max_rows);
  case P_DONE:
    /* Fetching from a portal that ran to its end returns no more rows. */
    if (ps->st->kind == SQLP_SELECT) return eng__complete(s, "SELECT 0");
    return syn_err_set(e, SYN_EINVAL, "55000: portal \"%s\" cannot be run", p->name);
  default: break;
  }
  int bp = 0;
  if (ps->data) {
    rc = eng__ps_revalidate(s, ps, &bp, e);
    if (rc) {
      *pos = eng__char_pos(ps->sql, bp);
      return rc;
    }
    if (ps->st->kind == SQLP_SELECT && !ps->q->locking) {
      rc = start_stream(s, p, e);
      return rc ? rc : stream(s, p, m->max_rows, e);
    }
  }
  /* Everything else runs to completion now; under a row limit its rows
  ** are kept and handed out in pieces. */
  x->capture = m->max_rows > 0;
  p->state = P_DONE;
  if (ps->data) {
    if (s->read_only && (ps->st->kind != SQLP_SELECT || ps->q->locking))
      return syn_err_set(e, SYN_EINVAL, "25006: cannot execute %s in a read-only transaction",
                         ps->st->kind == SQLP_SELECT ? "SELECT FOR UPDATE"
                                                     : sqlp_kind_name(ps->st->kind));
    char tag[64] = "";
    rc = eng__run_rewritten(s, ps->st, ps->q, tag, sizeof tag, e);
    if (!rc && tag[0]) rc = eng__complete(s, tag);
  } else {
    rc = eng__run_stmt(s, ps->st, &bp, e);
    if (rc) *pos = eng__char_pos(ps->sql, bp);
  }
  if (rc || !x->capture) return rc;
  p->state = P_BUFFERED;
  return send_buffered(s, x, p, m->max_rows);
}

