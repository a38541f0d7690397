/*
** The extended query protocol: prepared statements and portals of a
** session, with PostgreSQL's semantics (postgres.c exec_parse_message,
** exec_bind_message, exec_describe_*_message, exec_execute_message).
**
** Prepared statements (eng_pstmt). Parse parses and rewrites once; every
** Bind/Execute reuses the rewrite, and a SELECT's SQLite statement is kept
** prepared between executions (reset and rebound). The unnamed statement
** is replaced by each Parse; named ones live until Close or session end
** (a duplicate name is 42P05). The result shape (column count and types)
** is fixed at Parse, as PostgreSQL's plan cache fixes it: when the catalog
** moved since the rewrite, the statement is rewritten again before use and
** a different shape fails with 0A000 "cached plan must not change result
** type". A statement is reference-counted: portals keep the one they were
** bound from, even after it is closed (PostgreSQL keeps their plan too).
**
** Portals (eng_portal) hold the bound parameter values and result formats.
** They belong to the transaction they were bound in: every transaction end
** bumps s->txn_seq (eng__txn_ended) and a portal of an older transaction
** no longer exists (34000), as PostgreSQL drops portals at commit/abort.
** Execute runs a portal in one of two ways:
**   streaming   a plain SELECT keeps its SQLite statement (and so the
**               rows its scans buffered at the statement's snapshot) in
**               the portal; Execute with a row limit sends that many rows
**               and PortalSuspended, the next Execute continues.
**   to the end  everything else (DML, SELECT FOR UPDATE, utility
**               statements) runs to completion at the first Execute, as
**               PostgreSQL runs DML with RETURNING; under a row limit the
**               rows are kept in the portal and returned in chunks.
**
** Transactions: a data statement executed outside a block starts an
** implicit transaction (eng__txn_for_statement) that spans messages until
** Sync commits it (eng_session_sync). Any error aborts it, or fails the
** block, exactly as in a query string; the caller (pgwire) then discards
** messages until Sync.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pg_query/pg_query.pb-c.h>

#include "sql/engine/eng_int.h"

struct eng_pstmt {
  eng_pstmt *next;
  char *name;
  int refs;              /* 1 while listed, plus one per portal */
  char *sql;
  sqlp_list *parsed;     /* n == 0 (empty query) or 1 */
  const sqlp_stmt *st;   /* NULL for an empty query */
  bool data;             /* SELECT/INSERT/UPDATE/DELETE: q is set */
  sqlr_query *q;
  uint64_t cat_version;  /* catalog q was rewritten against */
  bool stale;            /* the connection changed: q->target may dangle */
  int nparams;
  uint32_t *ptypes;      /* as reported and used to decode Bind values */
  int ngiven;            /* of them, given by the client in Parse */
  int ncols;             /* result shape fixed at Parse */
  uint32_t *col_oids;
};

enum { P_NEW, P_STREAM, P_BUFFERED, P_DONE };

struct eng_portal {
  eng_portal *next;
  char *name;
  eng_pstmt *ps;
  uint64_t txn_seq;
  eng_row params;
  int nfmts;
  int16_t *fmts;         /* one per result column */
  int state;
  sqlite3_stmt *st;      /* P_STREAM */
  bool broken;           /* st was finalized under it (catalog change) */
  eng_rows rows;         /* P_BUFFERED: text cells as TEXT/NULL values */
  size_t next_row;
  int ncols;             /* of the rows, with their types */
  uint32_t *oids;
  char tag[64];
};

/* ---- output wrapper ------------------------------------------------------
** Execute sends no RowDescription (the client has it from Describe), and
** each column goes in the format Bind asked for. The wrapper turns the
** engine's columns() into rows_begin, converts text cells to binary where
** asked, and, when capturing, keeps rows and the tag in the portal. */
typedef struct xout {
  eng_out out;
  const eng_out *base;
  eng_session *s;
  eng_portal *p;
  bool capture;
  bool completed;
  cat_buf conv;
  eng_cell *cells;
  int ncells;
} xout;

static int16_t col_format(const eng_portal *p, int i) {
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
  for (int i = 0; i < n; i++) any_binary |= col_format(p, i) == 1 && cells[i].p;
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
    if (col_format(p, i) != 1 || !cells[i].p) continue;
    uint32_t oid = p && i < p->ncols ? p->oids[i] : CAT_OID_TEXT;
    syn_err e;
    rc = eng__text_to_binary(oid, cells[i].p, cells[i].n, &one, &e);
    if (!rc && one.n) rc = cat_buf_append(&x->conv, one.p, one.n);
  }
  for (int i = 0; i < n && !rc; i++) {
    if (col_format(p, i) != 1 || !cells[i].p) {
      x->cells[i] = cells[i];
      continue;
    }
    size_t end = x->conv.n;
    for (int k = i + 1; k < n; k++)
      if (col_format(p, k) == 1 && cells[k].p) {
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

static void xout_init(xout *x, eng_session *s, const eng_out *base) {
  memset(x, 0, sizeof *x);
  x->base = base;
  x->s = s;
  x->out = (eng_out){.ud = x, .columns = x_columns, .row = x_row, .complete = x_complete,
                     .empty = x_empty, .error = x_error, .notice = x_notice,
                     .param_status = x_param, .reply = x_reply,
                     .param_desc = x_param_desc, .rows_begin = x_rows_begin};
}

static void xout_free(xout *x) {
  cat_buf_free(&x->conv);
  free(x->cells);
}

static int reply(eng_session *s, char type) {
  const eng_out *o = s->out;
  if (!o->reply || o->reply(o->ud, type)) {
    s->out_gone = true;
    return SYN_ECLOSED;
  }
  return 0;
}

/* ---- statements ---------------------------------------------------------- */

static bool is_data(sqlp_kind k) {
  return k == SQLP_SELECT || k == SQLP_INSERT || k == SQLP_UPDATE || k == SQLP_DELETE;
}

static void q_shape(const sqlr_query *q, int *n, const sqlr_col **cols) {
  *n = 0;
  *cols = NULL;
  if (q->kind == SQLP_SELECT) {
    *n = q->ncols;
    *cols = q->cols;
  } else if (q->returning_sql) {
    *n = q->nret;
    *cols = q->ret_cols;
  }
}

static void ps_unref(eng_pstmt *ps) {
  if (!ps || --ps->refs > 0) return;
  sqlr_query_free(ps->q);
  sqlp_list_free(ps->parsed);
  free(ps->ptypes);
  free(ps->col_oids);
  free(ps->sql);
  free(ps->name);
  free(ps);
}

static eng_pstmt *ps_find(eng_session *s, const char *name, eng_pstmt ***link) {
  for (eng_pstmt **pp = &s->pstmts; *pp; pp = &(*pp)->next)
    if (strcmp((*pp)->name, name) == 0) {
      if (link) *link = pp;
      return *pp;
    }
  return NULL;
}

static void ps_remove(eng_session *s, const char *name) {
  eng_pstmt **link;
  eng_pstmt *ps = ps_find(s, name, &link);
  if (!ps) return;
  *link = ps->next;
  s->npstmts--;
  ps_unref(ps);
}

/* A SELECT's output column that is a bare $n has the type the client gave
** $n in Parse (PostgreSQL's "SELECT $1" with $1 declared int8 returns
** int8); the rewrite, which does not see the given types, says text. */
static void given_types_to_columns(const eng_pstmt *ps, sqlr_query *q) {
  if (!q || q->kind != SQLP_SELECT || !ps->st->node || !ps->ngiven) return;
  const PgQuery__Node *n = ps->st->node;
  if (n->node_case != PG_QUERY__NODE__NODE_SELECT_STMT) return;
  const PgQuery__SelectStmt *sel = n->select_stmt;
  if ((int)sel->n_target_list != q->ncols) return;
  for (size_t i = 0; i < sel->n_target_list; i++) {
    const PgQuery__Node *t = sel->target_list[i];
    if (t->node_case != PG_QUERY__NODE__NODE_RES_TARGET || !t->res_target->val) continue;
    const PgQuery__Node *v = t->res_target->val;
    if (v->node_case != PG_QUERY__NODE__NODE_PARAM_REF) continue;
    int k = v->param_ref->number;
    if (k >= 1 && k <= ps->ngiven && ps->ptypes[k - 1] && cat_type_supported(ps->ptypes[k - 1]))
      q->cols[i].type_oid = ps->ptypes[k - 1];
  }
}

/* The columns a statement returns: from the rewrite for data statements,
** SHOW's one text column (three for SHOW ALL); others return none. */
static int ps_set_shape(eng_pstmt *ps) {
  int n = 0;
  const sqlr_col *cols = NULL;
  if (ps->q) q_shape(ps->q, &n, &cols);
  else if (ps->st && ps->st->kind == SQLP_SHOW && !ps->st->status)
    n = strcmp(ps->st->name, "all") == 0 ? 3 : 1;
  ps->ncols = n;
  ps->col_oids = calloc((size_t)(n ? n : 1), sizeof *ps->col_oids);
  if (!ps->col_oids) return SYN_ENOMEM;
  for (int i = 0; i < n; i++) ps->col_oids[i] = cols ? cols[i].type_oid : CAT_OID_TEXT;
  return 0;
}

/* Fill cols (n = ps->ncols) for a RowDescription. */
static void ps_columns(const eng_pstmt *ps, eng_col *cols, const eng_portal *p) {
  int n = 0;
  const sqlr_col *qc = NULL;
  if (ps->q) q_shape(ps->q, &n, &qc);
  static const char *show_all[3] = {"name", "setting", "description"};
  for (int i = 0; i < ps->ncols; i++) {
    const char *name = "?column?";
    int32_t typmod = -1;
    if (qc && i < n) {
      name = qc[i].name;
      typmod = qc[i].typmod;
    } else if (ps->st && ps->st->kind == SQLP_SHOW) {
      const char *c = eng__show_column(ps->st->name);
      name = ps->ncols == 3 ? show_all[i] : c ? c : ps->st->name;
    }
    cols[i] = (eng_col){.name = name, .type_oid = ps->col_oids[i],
                        .typlen = cat_type_len(ps->col_oids[i]), .typmod = typmod,
                        .format = col_format(p, i)};
  }
}

/* Bring a data statement's rewrite in line with the catalog. */
static int ps_revalidate(eng_session *s, eng_pstmt *ps, int *pos, syn_err *e) {
  if (!ps->data) return 0;
  int rc = eng__catalog_sync(s, e);
  if (rc) return rc;
  if (!ps->stale && ps->cat_version == s->cat_version) return 0;
  sqlr_query *q = NULL;
  rc = eng__rewrite(s, ps->st, &q, pos, e);
  if (rc) return rc;
  given_types_to_columns(ps, q);
  int n;
  const sqlr_col *cols;
  q_shape(q, &n, &cols);
  bool same = n == ps->ncols && q->nparams <= ps->nparams;
  for (int i = 0; same && i < n; i++) same = cols[i].type_oid == ps->col_oids[i];
  if (!same) {
    sqlr_query_free(q);
    return sqlst_set(e, SQLST_FEATURE, "cached plan must not change result type");
  }
  sqlr_query_free(ps->q);
  ps->q = q;
  ps->cat_version = s->cat_version;
  ps->stale = false;
  return 0;
}

static bool exits_txn(const sqlp_stmt *st) {
  return st && (st->kind == SQLP_COMMIT || st->kind == SQLP_ROLLBACK);
}

static int failed_block(eng_session *s, const sqlp_stmt *st, syn_err *e) {
  if (s->block == ENG_FAILED && !exits_txn(st))
    return sqlst_set(e, SQLST_IN_FAILED_TXN,
                     "current transaction is aborted, commands ignored until end of "
                     "transaction block");
  return 0;
}

static int do_parse(eng_session *s, const eng_xmsg *m, uint32_t *pos, syn_err *e) {
  /* PostgreSQL drops the old unnamed statement first, so it is gone even
  ** when this Parse fails. */
  if (!m->name[0]) ps_remove(s, "");
  if (m->name[0] && ps_find(s, m->name, NULL))
    return syn_err_set(e, SYN_EEXIST, "42P05: prepared statement \"%s\" already exists",
                       m->name);
  if (m->name[0] && s->npstmts >= ENG_MAX_PSTMTS)
    return syn_err_set(e, SYN_EBUSY, "54000: too many prepared statements (at most %d)",
                       ENG_MAX_PSTMTS);
  eng_pstmt *ps = calloc(1, sizeof *ps);
  if (!ps) return syn_err_set(e, SYN_ENOMEM, "out of memory");
  ps->refs = 1;
  ps->name = strdup(m->name);
  ps->sql = strdup(m->query);
  int rc = ps->name && ps->sql ? 0 : syn_err_set(e, SYN_ENOMEM, "out of memory");
  int cursor = 0;
  if (!rc) {
    rc = sqlp_parse(ps->sql, &ps->parsed, &cursor, e);
    if (rc) *pos = eng__char_pos(ps->sql, cursor);
  }
  if (!rc && ps->parsed->n > 1)
    rc = sqlst_set(e, SQLST_SYNTAX, "cannot insert multiple commands into a prepared statement");
  if (!rc && ps->parsed->n == 1) ps->st = &ps->parsed->stmts[0];
  if (!rc) rc = failed_block(s, ps->st, e);
  if (!rc && ps->st && ps->st->kind == SQLP_UNSUPPORTED) {
    *pos = eng__char_pos(ps->sql, ps->st->err_pos);
    if (e) *e = ps->st->err;
    rc = ps->st->status ? ps->st->status
                        : sqlst_set(e, SQLST_FEATURE, "%s is not supported",
                                    ps->st->feature ? ps->st->feature : "this statement");
  }
  int qparams = 0;
  if (!rc && ps->st && is_data(ps->st->kind)) {
    ps->data = true;
    int p = 0;
    rc = eng__catalog_sync(s, e);
    if (!rc) rc = eng__rewrite(s, ps->st, &ps->q, &p, e);
    if (rc) *pos = eng__char_pos(ps->sql, p);
    if (!rc) {
      ps->cat_version = s->cat_version;
      qparams = ps->q->nparams;
    }
  }
  if (!rc) {
    /* PostgreSQL: the statement has max(given, referenced) parameters;
    ** a type the client gave wins, then the inferred one, then text (as
    ** PostgreSQL resolves a parameter nothing constrains). */
    ps->nparams = m->ntypes > qparams ? m->ntypes : qparams;
    ps->ptypes = calloc((size_t)(ps->nparams ? ps->nparams : 1), sizeof *ps->ptypes);
    if (!ps->ptypes) rc = syn_err_set(e, SYN_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < ps->nparams; i++) {
      uint32_t t = i < m->ntypes ? m->types[i] : 0;
      if (!t && i < qparams) t = ps->q->param_types[i];
      ps->ptypes[i] = t ? t : CAT_OID_TEXT;
    }
  }
  if (!rc) {
    ps->ngiven = m->ntypes;
    given_types_to_columns(ps, ps->q);
    rc = ps_set_shape(ps) ? syn_err_set(e, SYN_ENOMEM, "out of memory") : 0;
  }
  if (rc) {
    ps_unref(ps);
    return rc;
  }
  ps->next = s->pstmts;
  s->pstmts = ps;
  s->npstmts++;
  return reply(s, '1');
}

/* ---- portals ------------------------------------------------------------- */

static void portal_free(eng_session *s, eng_portal *p) {
  eng__release(s, p->st); /* kept prepared for the next execution */
  ps_unref(p->ps);
  eng__row_free(&p->params);
  eng__rows_clear(&p->rows);
  free(p->fmts);
  free(p->oids);
  free(p->name);
  free(p);
}

static void portal_remove(eng_session *s, eng_portal *target) {
  for (eng_portal **pp = &s->portals; *pp; pp = &(*pp)->next)
    if (*pp == target) {
      *pp = target->next;
      s->nportals--;
      portal_free(s, target);
      return;
    }
}

/* Drop the portals of ended transactions (PostgreSQL drops them at
** commit/abort: AtEOXact_Portals). */
static void portals_expire(eng_session *s) {
  for (eng_portal **pp = &s->portals; *pp;) {
    eng_portal *p = *pp;
    if (p->txn_seq != s->txn_seq) {
      *pp = p->next;
      s->nportals--;
      portal_free(s, p);
    } else {
      pp = &p->next;
    }
  }
}

static eng_portal *portal_find(eng_session *s, const char *name) {
  portals_expire(s);
  for (eng_portal *p = s->portals; p; p = p->next)
    if (strcmp(p->name, name) == 0) return p;
  return NULL;
}

static int16_t fmt_at(const int16_t *f, int nf, int i) {
  return nf == 0 ? 0 : nf == 1 ? f[0] : f[i];
}

static int do_bind(eng_session *s, const eng_xmsg *m, uint32_t *pos, syn_err *e) {
  eng_pstmt *ps = ps_find(s, m->stmt, NULL);
  if (!ps) {
    if (!m->stmt[0])
      return syn_err_set(e, SYN_ENOTFOUND, "26000: unnamed prepared statement does not exist");
    return syn_err_set(e, SYN_ENOTFOUND, "26000: prepared statement \"%s\" does not exist",
                       m->stmt);
  }
  if (m->nformats > 1 && m->nformats != m->nvalues)
    return syn_err_set(e, SYN_EINVAL, "08P01: bind message has %d parameter formats but %d "
                       "parameters", m->nformats, m->nvalues);
  if (m->nvalues != ps->nparams)
    return syn_err_set(e, SYN_EINVAL, "08P01: bind message supplies %d parameters, but "
                       "prepared statement \"%s\" requires %d", m->nvalues, ps->name,
                       ps->nparams);
  int rc = failed_block(s, ps->st, e);
  if (rc) return rc;
  if (m->name[0] && portal_find(s, m->name))
    return syn_err_set(e, SYN_EEXIST, "42P03: portal \"%s\" already exists", m->name);
  if (m->name[0] && s->nportals >= ENG_MAX_PORTALS)
    return syn_err_set(e, SYN_EBUSY, "54000: too many portals (at most %d)", ENG_MAX_PORTALS);
  int p = 0;
  rc = ps_revalidate(s, ps, &p, e);
  if (rc) {
    *pos = eng__char_pos(ps->sql, p);
    return rc;
  }
  if (m->nrformats > 1 && m->nrformats != ps->ncols)
    return syn_err_set(e, SYN_EINVAL, "08P01: bind message has %d result formats but query "
                       "has %d columns", m->nrformats, ps->ncols);
  for (int i = 0; i < m->nformats; i++)
    if (m->formats[i] != 0 && m->formats[i] != 1)
      return sqlst_set(e, SQLST_INVALID_PARAM, "unsupported format code: %d", m->formats[i]);
  for (int i = 0; i < m->nrformats; i++)
    if (m->rformats[i] != 0 && m->rformats[i] != 1)
      return sqlst_set(e, SQLST_INVALID_PARAM, "unsupported format code: %d", m->rformats[i]);
  for (int i = 0; i < ps->ncols; i++)
    if (fmt_at(m->rformats, m->nrformats, i) == 1 && !eng__binary_supported(ps->col_oids[i]))
      return sqlst_set(e, SQLST_UNDEFINED_FUNCTION,
                       "no binary output function available for type %u", ps->col_oids[i]);

  eng_portal *po = calloc(1, sizeof *po);
  if (!po) return syn_err_set(e, SYN_ENOMEM, "out of memory");
  po->name = strdup(m->name);
  po->nfmts = ps->ncols;
  po->fmts = calloc((size_t)(ps->ncols ? ps->ncols : 1), sizeof *po->fmts);
  int n = ps->nparams;
  syn_value *vals = calloc((size_t)(n ? n : 1), sizeof *vals);
  cat_buf *scratch = calloc((size_t)(n ? n : 1), sizeof *scratch);
  cat_buf tmp = {0};
  if (!po->name || !po->fmts || !vals || !scratch) rc = syn_err_set(e, SYN_ENOMEM, "out of memory");
  for (int i = 0; !rc && i < ps->ncols; i++) po->fmts[i] = fmt_at(m->rformats, m->nrformats, i);
  for (int i = 0; !rc && i < n; i++) {
    rc = eng__param_value(ps->ptypes[i], fmt_at(m->formats, m->nformats, i), m->values[i].p,
                          m->values[i].n, i + 1, &vals[i], &scratch[i], &tmp, e);
    /* The coerced value may point into tmp, which the next one reuses. */
    if (!rc && vals[i].type >= SYN_V_TEXT && tmp.p && (const char *)vals[i].u.b.p >= tmp.p &&
        (const char *)vals[i].u.b.p < tmp.p + (tmp.n ? tmp.n : 1)) {
      rc = cat_buf_append(&scratch[i], vals[i].u.b.p, vals[i].u.b.n)
               ? syn_err_set(e, SYN_ENOMEM, "out of memory") : 0;
      if (!rc) vals[i].u.b.p = (const uint8_t *)scratch[i].p + scratch[i].n - vals[i].u.b.n;
    }
  }
  if (!rc && eng__row_copy(&po->params, vals, n, 0)) rc = syn_err_set(e, SYN_ENOMEM, "out of memory");
  for (int i = 0; scratch && i < n; i++) cat_buf_free(&scratch[i]);
  free(scratch);
  free(vals);
  cat_buf_free(&tmp);
  if (rc) {
    eng__row_free(&po->params);
    free(po->fmts);
    free(po->name);
    free(po);
    return rc;
  }
  if (!m->name[0]) {
    eng_portal *old = portal_find(s, "");
    if (old) portal_remove(s, old);
  }
  po->ps = ps;
  ps->refs++;
  po->txn_seq = s->txn_seq;
  po->next = s->portals;
  s->portals = po;
  s->nportals++;
  return reply(s, '2');
}

static int send_row_description(eng_session *s, const eng_pstmt *ps, const eng_portal *p) {
  if (ps->ncols == 0) return reply(s, 'n');
  eng_col stack[16];
  eng_col *cols = ps->ncols <= 16 ? stack : calloc((size_t)ps->ncols, sizeof *cols);
  if (!cols) return SYN_ENOMEM;
  ps_columns(ps, cols, p);
  /* Describe sends a real RowDescription: past the Execute wrapper. */
  const eng_out *base = ((const xout *)s->out->ud)->base;
  int rc = base->columns(base->ud, ps->ncols, cols) ? SYN_ECLOSED : 0;
  if (cols != stack) free(cols);
  return rc;
}

static int do_describe(eng_session *s, const eng_xmsg *m, syn_err *e) {
  if (m->target == 'S') {
    eng_pstmt *ps = ps_find(s, m->name, NULL);
    if (!ps) {
      if (!m->name[0])
        return syn_err_set(e, SYN_ENOTFOUND, "26000: unnamed prepared statement does not exist");
      return syn_err_set(e, SYN_ENOTFOUND, "26000: prepared statement \"%s\" does not exist",
                         m->name);
    }
    if (s->block == ENG_FAILED && ps->ncols > 0) return failed_block(s, ps->st, e);
    if (!s->out->param_desc || s->out->param_desc(s->out->ud, ps->nparams, ps->ptypes))
      return SYN_ECLOSED;
    return send_row_description(s, ps, NULL);
  }
  eng_portal *p = portal_find(s, m->name);
  if (!p) return syn_err_set(e, SYN_ENOTFOUND, "34000: portal \"%s\" does not exist", m->name);
  return send_row_description(s, p->ps, p);
}

static int do_close(eng_session *s, const eng_xmsg *m) {
  /* Closing something that does not exist is not an error (PostgreSQL). */
  if (m->target == 'S') {
    ps_remove(s, m->name);
  } else {
    eng_portal *p = portal_find(s, m->name);
    if (p) portal_remove(s, p);
  }
  return reply(s, '3');
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
  if (p->next_row < p->rows.n) return reply(s, 's');
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
  if (src == SQLITE_ROW) return reply(s, 's');
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

static int do_execute(eng_session *s, xout *x, const eng_xmsg *m, uint32_t *pos, syn_err *e) {
  eng_portal *p = portal_find(s, m->name);
  if (!p) return syn_err_set(e, SYN_ENOTFOUND, "34000: portal \"%s\" does not exist", m->name);
  eng_pstmt *ps = p->ps;
  x->p = p;
  if (!ps->st) return s->out->empty(s->out->ud) ? SYN_ECLOSED : 0;
  int rc = failed_block(s, ps->st, e);
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
    rc = ps_revalidate(s, ps, &bp, e);
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

/* ---- entry points -------------------------------------------------------- */

/* An error aborts the implicit transaction or fails the block, as any
** error does in PostgreSQL. */
static void statement_failed(eng_session *s) {
  if (s->block == ENG_IMPLICIT) {
    eng__end_implicit(s, false, NULL);
  } else if (s->block == ENG_BLOCK) {
    s->block = ENG_FAILED;
    if (s->txn) cl_rollback(s->txn);
  }
}

bool eng_session_ext(eng_session *s, const eng_xmsg *m, const eng_out *out) {
  xout x;
  xout_init(&x, s, out);
  s->out = &x.out;
  s->out_gone = false;
  s->detail[0] = '\0';
  s->hint[0] = '\0';
  atomic_store(&s->cancel, 0);
  syn_err e;
  syn_err_clear(&e);
  uint32_t pos = 0;
  int rc;
  switch (m->type) {
  case 'P': rc = do_parse(s, m, &pos, &e); break;
  case 'B': rc = do_bind(s, m, &pos, &e); break;
  case 'D': rc = do_describe(s, m, &e); break;
  case 'E': rc = do_execute(s, &x, m, &pos, &e); break;
  case 'C': rc = do_close(s, m); break;
  default: rc = syn_err_set(&e, SYN_EINVAL, "08P01: invalid message type %d", m->type);
  }
  if (rc) {
    if (!s->out_gone) eng__send_error(s, rc, &e, pos, s->detail[0] ? s->detail : NULL);
    if (m->type == 'E') {
      eng_portal *p = portal_find(s, m->name);
      if (p) portal_remove(s, p);
    }
    statement_failed(s);
  }
  eng__locks_clear(s);
  s->params = NULL;
  s->nparams = 0;
  s->src = NULL;
  s->out = NULL;
  xout_free(&x);
  return rc == 0;
}

char eng_session_sync(eng_session *s, const eng_out *out) {
  s->out = out;
  s->out_gone = false;
  s->hint[0] = '\0';
  if (s->block == ENG_IMPLICIT) {
    syn_err e;
    syn_err_clear(&e);
    int rc = eng__end_implicit(s, true, &e);
    if (rc) eng__send_error(s, rc, &e, 0, NULL);
  }
  /* Outside a block the transaction (if any) is over now, and so are the
  ** portals created in it, even if nothing ran (PostgreSQL ends the
  ** transaction command at Sync). */
  if (s->block == ENG_IDLE) s->txn_seq++;
  portals_expire(s);
  s->out = NULL;
  return eng_session_status(s);
}

void eng__ext_db_closing(eng_session *s) {
  eng__stmt_cache_clear(s);
  for (eng_pstmt *ps = s->pstmts; ps; ps = ps->next) ps->stale = true;
  for (eng_portal *p = s->portals; p; p = p->next) {
    p->ps->stale = true; /* also a closed statement a portal still holds */
    if (!p->st) continue;
    sqlite3_finalize(p->st);
    p->st = NULL;
    p->broken = true;
  }
}

void eng__ext_free(eng_session *s) {
  while (s->portals) {
    eng_portal *p = s->portals;
    s->portals = p->next;
    portal_free(s, p);
  }
  while (s->pstmts) {
    eng_pstmt *ps = s->pstmts;
    s->pstmts = ps->next;
    ps_unref(ps);
  }
  s->nportals = s->npstmts = 0;
  eng__stmt_cache_clear(s);
}
