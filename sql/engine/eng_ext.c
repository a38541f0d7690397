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

#include "sql/engine/eng_ext_int.h"

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
                        .format = eng__col_format(p, i)};
  }
}

/* Bring a data statement's rewrite in line with the catalog. */
int eng__ps_revalidate(eng_session *s, eng_pstmt *ps, int *pos, syn_err *e) {
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

int eng__failed_block(eng_session *s, const sqlp_stmt *st, syn_err *e) {
  if (s->block == ENG_FAILED && !exits_txn(st))
    return sqlst_set(e, SQLST_IN_FAILED_TXN,
                     "current transaction is aborted, commands ignored until end of "
                     "transaction block");
  return 0;
}

static int ps_create(eng_session *s, const eng_xmsg *m, uint32_t *pos, syn_err *e);

static int do_parse(eng_session *s, const eng_xmsg *m, uint32_t *pos, syn_err *e) {
  int rc = ps_create(s, m, pos, e);
  return rc ? rc : eng__ext_reply(s, '1');
}

/* Parse without its ParseComplete (SQL PREPARE uses it too). */
static int ps_create(eng_session *s, const eng_xmsg *m, uint32_t *pos, syn_err *e) {
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
  if (!rc) rc = eng__failed_block(s, ps->st, e);
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
  return 0;
}

/* ---- SQL PREPARE / EXECUTE / DEALLOCATE ----------------------------------- */

int eng__sql_prepare(eng_session *s, const sqlp_stmt *st, syn_err *e) {
  if (!st->name || !st->name[0])
    return sqlst_set(e, SQLST_SYNTAX, "a prepared statement needs a name");
  eng_xmsg m = {.type = 'P', .name = st->name, .query = st->value ? st->value : "",
                .ntypes = st->ntypes, .types = st->types};
  uint32_t pos = 0;
  return ps_create(s, &m, &pos, e);
}

int eng__sql_deallocate(eng_session *s, const sqlp_stmt *st, syn_err *e) {
  if (!st->name) {
    while (s->pstmts) ps_remove(s, s->pstmts->name);
    return 0;
  }
  if (!ps_find(s, st->name, NULL))
    return syn_err_set(e, SYN_ENOTFOUND, "26000: prepared statement \"%s\" does not exist",
                       st->name);
  ps_remove(s, st->name);
  return 0;
}

/* EXECUTE name(args): the arguments are evaluated (they are expressions
** without tables), converted to the statement's parameter types as a Bind
** would, and the statement runs as a simple query does, tag included. */
/* Where an argument starts, for the cursor of its conversion error. */
static int arg_loc(const PgQuery__Node *n) {
  switch (n->node_case) {
  case PG_QUERY__NODE__NODE_A_CONST: return n->a_const->location;
  case PG_QUERY__NODE__NODE_A_EXPR: return n->a_expr->location;
  case PG_QUERY__NODE__NODE_TYPE_CAST: return n->type_cast->location;
  case PG_QUERY__NODE__NODE_FUNC_CALL: return n->func_call->location;
  default: return -1;
  }
}

int eng__sql_execute(eng_session *s, const sqlp_stmt *st, char *tag, size_t tagcap, int *err_pos,
                     syn_err *e) {
  eng_pstmt *ps = ps_find(s, st->name, NULL);
  if (!ps)
    return syn_err_set(e, SYN_ENOTFOUND, "26000: prepared statement \"%s\" does not exist",
                       st->name);
  const PgQuery__ExecuteStmt *ex = st->node->execute_stmt;
  int nargs = (int)ex->n_params;
  if (nargs != ps->nparams) {
    snprintf(s->detail, sizeof s->detail, "Expected %d parameters but got %d.", ps->nparams,
             nargs);
    return sqlst_set(e, SQLST_SYNTAX, "wrong number of parameters for prepared statement \"%s\"",
                     st->name);
  }
  if (!ps->data) return sqlst_set(e, SQLST_FEATURE, "EXECUTE of this statement");
  ps->refs++; /* held across the run, like a portal's */
  syn_value *vals = calloc((size_t)(nargs ? nargs : 1), sizeof *vals);
  cat_buf *bufs = calloc((size_t)(nargs ? nargs : 1), sizeof *bufs);
  cat_buf sql = {0};
  int rc = vals && bufs ? 0 : syn_err_set(e, SYN_ENOMEM, "out of memory");
  /* One SELECT of every argument, in the session's SQLite. */
  if (!rc && cat_buf_printf(&sql, "SELECT ")) rc = syn_err_set(e, SYN_ENOMEM, "out of memory");
  for (int i = 0; i < nargs && !rc; i++) {
    char *x = NULL;
    rc = sqlr_default_expr(ex->params[i], &x, e);
    if (!rc && cat_buf_printf(&sql, "%s%s", i ? ", " : "", x))
      rc = syn_err_set(e, SYN_ENOMEM, "out of memory");
    free(x);
  }
  sqlite3_stmt *q = NULL;
  if (!rc && nargs) rc = eng__catalog_sync(s, e);
  if (!rc && nargs) rc = eng__prepare(s, sql.p, &q, e);
  if (!rc && nargs) {
    /* A DEFAULT-style expression may name :now (now()): the statement's
    ** timestamp, as in the statement itself. */
    int k = sqlite3_bind_parameter_index(q, ":now");
    if (k > 0) sqlite3_bind_text(q, k, s->now_text, -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(q);
    if (src != SQLITE_ROW) rc = eng__sqlite_error(s, src, e);
    for (int i = 0; i < nargs && !rc; i++) {
      syn_value v;
      rc = eng__value_from_column(q, i, &v);
      if (!rc && v.type != SYN_V_NULL) {
        rc = cat_coerce_type(ps->ptypes[i], -1, &v, &vals[i], &bufs[i], e);
        int loc = rc ? arg_loc(ex->params[i]) : -1;
        if (loc >= 0) *err_pos = loc + 1; /* node locations count in the whole string */
      } else if (!rc) {
        vals[i] = v;
      }
      /* The coerced value may still point at the row: keep a copy. */
      if (!rc && (vals[i].type == SYN_V_TEXT || vals[i].type == SYN_V_BLOB) &&
          vals[i].u.b.p != (const uint8_t *)bufs[i].p) {
        cat_buf tmp = {0};
        if (cat_buf_append(&tmp, vals[i].u.b.p, vals[i].u.b.n)) rc = SYN_ENOMEM;
        cat_buf_free(&bufs[i]);
        bufs[i] = tmp;
        vals[i].u.b.p = (const uint8_t *)bufs[i].p;
      }
    }
  }
  if (q) eng__release(s, q);
  cat_buf_free(&sql);
  if (!rc) {
    int ipos = 0;
    rc = eng__ps_revalidate(s, ps, &ipos, e);
  }
  if (!rc) {
    const syn_value *saved = s->params;
    int saved_n = s->nparams;
    s->params = vals;
    s->nparams = nargs;
    rc = eng__run_rewritten(s, ps->st, ps->q, tag, tagcap, e);
    s->params = saved;
    s->nparams = saved_n;
  }
  for (int i = 0; bufs && i < nargs; i++) cat_buf_free(&bufs[i]);
  free(bufs);
  free(vals);
  ps_unref(ps);
  return rc;
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

eng_portal *eng__portal_find(eng_session *s, const char *name) {
  portals_expire(s);
  for (eng_portal *p = s->portals; p; p = p->next)
    if (strcmp(p->name, name) == 0) return p;
  return NULL;
}

static int16_t fmt_at(const int16_t *f, int nf, int i) {
  return nf == 0 ? 0 : nf == 1 ? f[0] : f[i];
}

/* Coerce *v to type oid; the result's bytes end up in *own (replaced). */
static int convert_param(uint32_t oid, syn_value *v, cat_buf *own, syn_err *e) {
  cat_buf out = {0};
  syn_value conv;
  int rc = cat_coerce_type(oid, -1, v, &conv, &out, e);
  if (rc) {
    cat_buf_free(&out);
    return rc;
  }
  if (conv.type == SYN_V_TEXT || conv.type == SYN_V_BLOB) {
    cat_buf copy = {0};
    if (cat_buf_append(&copy, conv.u.b.n ? (const void *)conv.u.b.p : "", conv.u.b.n)) {
      cat_buf_free(&out);
      cat_buf_free(&copy);
      return syn_err_set(e, SYN_ENOMEM, "out of memory");
    }
    conv.u.b.p = copy.p ? (const uint8_t *)copy.p : (const uint8_t *)"";
    cat_buf_free(own);
    *own = copy;
  }
  cat_buf_free(&out);
  *v = conv;
  return 0;
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
  int rc = eng__failed_block(s, ps->st, e);
  if (rc) return rc;
  if (m->name[0] && eng__portal_find(s, m->name))
    return syn_err_set(e, SYN_EEXIST, "42P03: portal \"%s\" already exists", m->name);
  if (m->name[0] && s->nportals >= ENG_MAX_PORTALS)
    return syn_err_set(e, SYN_EBUSY, "54000: too many portals (at most %d)", ENG_MAX_PORTALS);
  int p = 0;
  rc = eng__ps_revalidate(s, ps, &p, e);
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
    /* The client declared another type than the statement uses $n as
    ** (a driver sending every string as varchar for "id = $1"): convert
    ** the value as an assignment cast would, so SQLite sees the storage
    ** class the column has (pushdown needs it). PostgreSQL would often
    ** refuse the statement instead (42883/42804); synod is lenient here. */
    uint32_t want = ps->q && i < ps->q->nparams ? ps->q->param_types[i] : 0;
    if (!rc && want && want != ps->ptypes[i] && cat_type_supported(want) &&
        vals[i].type != SYN_V_NULL)
      rc = convert_param(want, &vals[i], &scratch[i], e);
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
    eng_portal *old = eng__portal_find(s, "");
    if (old) portal_remove(s, old);
  }
  po->ps = ps;
  ps->refs++;
  po->txn_seq = s->txn_seq;
  po->next = s->portals;
  s->portals = po;
  s->nportals++;
  return eng__ext_reply(s, '2');
}

static int send_row_description(eng_session *s, const eng_pstmt *ps, const eng_portal *p) {
  if (ps->ncols == 0) return eng__ext_reply(s, 'n');
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
    if (s->block == ENG_FAILED && ps->ncols > 0) return eng__failed_block(s, ps->st, e);
    if (!s->out->param_desc || s->out->param_desc(s->out->ud, ps->nparams, ps->ptypes))
      return SYN_ECLOSED;
    return send_row_description(s, ps, NULL);
  }
  eng_portal *p = eng__portal_find(s, m->name);
  if (!p) return syn_err_set(e, SYN_ENOTFOUND, "34000: portal \"%s\" does not exist", m->name);
  if (s->block == ENG_FAILED && p->ps->ncols > 0) return eng__failed_block(s, p->ps->st, e);
  return send_row_description(s, p->ps, p);
}

static int do_close(eng_session *s, const eng_xmsg *m) {
  /* Closing something that does not exist is not an error (PostgreSQL). */
  if (m->target == 'S') {
    ps_remove(s, m->name);
  } else {
    eng_portal *p = eng__portal_find(s, m->name);
    if (p) portal_remove(s, p);
  }
  return eng__ext_reply(s, '3');
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
  eng__xout_init(&x, s, out);
  s->out = &x.out;
  s->out_gone = false;
  s->detail[0] = '\0';
  s->hint[0] = '\0';
  s->context[0] = '\0';
  eng__statement_start(s); /* cancel flag cleared, statement_timeout armed */
  syn_err e;
  syn_err_clear(&e);
  uint32_t pos = 0;
  int rc;
  switch (m->type) {
  case 'P': rc = do_parse(s, m, &pos, &e); break;
  case 'B': rc = do_bind(s, m, &pos, &e); break;
  case 'D': rc = do_describe(s, m, &e); break;
  case 'E': rc = eng__ext_execute(s, &x, m, &pos, &e); break;
  case 'C': rc = do_close(s, m); break;
  default: rc = syn_err_set(&e, SYN_EINVAL, "08P01: invalid message type %d", m->type);
  }
  if ((rc == SYN_ETIMEDOUT || rc == CL_ECONFLICT) && eng__cancelled(s))
    syn_err_set(&e, SYN_ETIMEDOUT, "57014: canceling statement due to %s", eng__cancel_reason(s));
  if (rc) {
    if (!s->out_gone) eng__send_error(s, rc, &e, pos, s->detail[0] ? s->detail : NULL);
    if (m->type == 'E') {
      eng_portal *p = eng__portal_find(s, m->name);
      if (p) portal_remove(s, p);
    }
    statement_failed(s);
  }
  eng__locks_clear(s);
  s->params = NULL;
  s->nparams = 0;
  s->src = NULL;
  s->out = NULL;
  eng__xout_free(&x);
  return rc == 0;
}

char eng_session_sync(eng_session *s, const eng_out *out) {
  s->out = out;
  s->out_gone = false;
  s->hint[0] = '\0';
  s->context[0] = '\0';
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
