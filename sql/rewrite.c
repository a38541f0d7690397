/*
** Statement-level rewriting: SELECT (FROM, joins, set operations, ORDER
** BY ...), and INSERT/UPDATE/DELETE planned as queries (rewrite.h).
** Expressions are in rewrite_expr.c.
*/
#include "sql/rewrite_int.h"
#include "sql/pgcatalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PUT(s) do { if (cat_buf_printf(b, "%s", (s))) return sqlr__oom(w); } while (0)

/* ---- helpers ---- */

int sqlr__fail(sqlr_rw *w, int loc, sqlst_kind k, const char *fmt, ...) {
  char text[SYN_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  if (loc >= 0 && !w->err_pos) w->err_pos = loc + 1;
  return sqlst_set(w->e, k, "%s", text);
}

int sqlr__unsupported(sqlr_rw *w, int loc, const char *what) {
  return sqlr__fail(w, loc, SQLST_FEATURE, "%s %s not supported", what,
                    what[strlen(what) - 1] == 's' && strncmp(what, "this", 4) != 0 ? "are" : "is");
}

void sqlr__note_param(sqlr_rw *w, const PgQuery__Node *n, uint32_t type) {
  if (!n || n->node_case != PG_QUERY__NODE__NODE_PARAM_REF || !type) return;
  int k = n->param_ref->number;
  if (k < 1 || k > 32000) return;
  if (k > w->nptypes) {
    uint32_t *p = realloc(w->ptypes, sizeof *p * (size_t)k);
    if (!p) return; /* types are advisory: a missing one stays unknown */
    memset(p + w->nptypes, 0, sizeof *p * (size_t)(k - w->nptypes));
    w->ptypes = p;
    w->nptypes = k;
  }
  if (!w->ptypes[k - 1]) w->ptypes[k - 1] = type;
}

int sqlr__oom(sqlr_rw *w) { return syn_err_set(w->e, SYN_ENOMEM, "out of memory"); }

int sqlr__ident(cat_buf *b, const char *s) {
  int rc = cat_buf_append(b, "\"", 1);
  for (const char *p = s; *p && !rc; p++)
    rc = *p == '"' ? cat_buf_append(b, "\"\"", 2) : cat_buf_append(b, p, 1);
  return rc | cat_buf_append(b, "\"", 1);
}

int sqlr__string(cat_buf *b, const char *s, size_t n) {
  int rc = cat_buf_append(b, "'", 1);
  for (size_t i = 0; i < n && !rc; i++)
    rc = s[i] == '\'' ? cat_buf_append(b, "''", 2) : cat_buf_append(b, s + i, 1);
  return rc | cat_buf_append(b, "'", 1);
}

static void free_cols(sqlr_col *cols, int n) {
  for (int i = 0; i < n; i++) free(cols[i].name);
  free(cols);
}

int sqlr__keep_cols(sqlr_rw *w, sqlr_col *cols, int n) {
  sqlr_col **g = realloc(w->garbage, sizeof *g * (size_t)(w->ngarbage + 1));
  int *gn = realloc(w->garbage_n, sizeof *gn * (size_t)(w->ngarbage + 1));
  if (g) w->garbage = g;
  if (gn) w->garbage_n = gn;
  if (!g || !gn) {
    free_cols(cols, n);
    return sqlr__oom(w);
  }
  g[w->ngarbage] = cols;
  gn[w->ngarbage++] = n;
  return 0;
}

const char *sqlr__type_name(uint32_t oid, char *buf, size_t cap) {
  if (oid == 0) snprintf(buf, cap, "unknown");
  else cat_type_display(oid, -1, buf, cap);
  return buf;
}

int sqlr__keep(sqlr_rw *w, void *p) {
  void **a = realloc(w->allocs, sizeof *a * (size_t)(w->nallocs + 1));
  if (!a) {
    free(p);
    return sqlr__oom(w);
  }
  w->allocs = a;
  a[w->nallocs++] = p;
  return 0;
}

void sqlr__rw_cleanup(sqlr_rw *w) {
  for (int i = 0; i < w->ngarbage; i++) free_cols(w->garbage[i], w->garbage_n[i]);
  free(w->garbage);
  free(w->garbage_n);
  for (int i = 0; i < w->nallocs; i++) free(w->allocs[i]);
  free(w->allocs);
  free(w->ptypes);
}

static int add_col(sqlr_rw *w, sqlr_col **cols, int *n, const char *name, uint32_t type,
                   int32_t typmod) {
  sqlr_col *c = realloc(*cols, sizeof *c * (size_t)(*n + 1));
  if (!c) return sqlr__oom(w);
  *cols = c;
  size_t len = strlen(name);
  c[*n].name = malloc(len + 1);
  if (!c[*n].name) return sqlr__oom(w);
  memcpy(c[*n].name, name, len + 1);
  /* Types that stay unknown (a bare string literal, $1) are text. */
  c[*n].type_oid = type ? type : CAT_OID_TEXT;
  c[*n].typmod = type ? typmod : -1;
  (*n)++;
  return 0;
}

static int add_ent(sqlr_rw *w, sqlr_scope *sc, sqlr_ent en) {
  if (sc->n >= SQLR_MAX_SCOPE) return sqlr__unsupported(w, -1, "this many FROM items");
  for (int i = 0; i < sc->n; i++)
    if (strcmp(sc->ents[i].alias, en.alias) == 0)
      return sqlr__fail(w, -1, SQLST_DUPLICATE_ALIAS,
                        "table name \"%s\" specified more than once", en.alias);
  sc->ents[sc->n++] = en;
  return 0;
}

/* Record what `*` means for the entity just added: its own columns. */
static int push_ent_item(sqlr_rw *w, sqlr_scope *sc) {
  if (sc->nitems >= SQLR_MAX_SCOPE) return sqlr__unsupported(w, -1, "this many FROM items");
  const sqlr_ent *en = &sc->ents[sc->n - 1];
  sqlr_item *it = &sc->items[sc->nitems++];
  it->cols = NULL;
  it->n = -1;
  int n = en->t ? en->t->ncols : en->ncols;
  if (n < 0) return 0;
  sqlr_outcol *oc = calloc((size_t)(n ? n : 1), sizeof *oc);
  if (!oc || sqlr__keep(w, oc)) return sqlr__oom(w);
  for (int i = 0; i < n; i++) {
    oc[i].name = en->t ? en->t->cols[i].name : en->cols[i].name;
    oc[i].type = en->t ? en->t->cols[i].type_oid : en->cols[i].type_oid;
    oc[i].typmod = en->t ? en->t->cols[i].typmod : en->cols[i].typmod;
    cat_buf q = {0};
    if (sqlr__ident(&q, en->alias) || cat_buf_printf(&q, ".") || sqlr__ident(&q, oc[i].name) ||
        sqlr__keep(w, q.p)) {
      return sqlr__oom(w);
    }
    oc[i].sql = q.p;
  }
  it->cols = oc;
  it->n = n;
  return 0;
}

static int find_outcol(const sqlr_item *it, const char *name, const bool *used) {
  for (int i = 0; i < it->n; i++)
    if (!used[i] && strcmp(it->cols[i].name, name) == 0) return i;
  return -1;
}

/* Replace the two items of a join's sides (the last two) by the join's
** own: PostgreSQL's column order for USING/NATURAL (see sqlr_outcol). A
** merged column is the left value for INNER and LEFT joins, the right
** value for RIGHT joins and COALESCE(left, right) for FULL joins, which is
** what PostgreSQL's `*` shows. */
static int join_item(sqlr_rw *w, sqlr_scope *sc, const PgQuery__JoinExpr *j) {
  sqlr_item *l = &sc->items[sc->nitems - 2], *r = &sc->items[sc->nitems - 1];
  sqlr_item out = {NULL, -1};
  if (l->n >= 0 && r->n >= 0) {
    sqlr_outcol *oc = calloc((size_t)(l->n + r->n + 1), sizeof *oc);
    bool *lu = calloc((size_t)l->n + 1, 1), *ru = calloc((size_t)r->n + 1, 1);
    int rc = !oc || !lu || !ru ? sqlr__oom(w) : 0;
    if (!rc) rc = sqlr__keep(w, oc);
    else free(oc);
    int n = 0;
    /* The merged columns, in USING order or (NATURAL) the left's order. */
    size_t nm = j->is_natural ? (size_t)l->n : j->n_using_clause;
    for (size_t m = 0; m < nm && !rc; m++) {
      const char *name;
      if (j->is_natural) {
        name = l->cols[m].name;
        if (lu[m] || find_outcol(r, name, ru) < 0) continue;
      } else {
        if (j->using_clause[m]->node_case != PG_QUERY__NODE__NODE_STRING) continue;
        name = j->using_clause[m]->string->sval;
      }
      int li = find_outcol(l, name, lu), ri = find_outcol(r, name, ru);
      if (li < 0 || ri < 0) continue; /* SQLite reports the bad USING column */
      lu[li] = ru[ri] = true;
      oc[n] = l->cols[li];
      if (j->jointype == PG_QUERY__JOIN_TYPE__JOIN_RIGHT) {
        oc[n].sql = r->cols[ri].sql;
      } else if (j->jointype == PG_QUERY__JOIN_TYPE__JOIN_FULL) {
        cat_buf q = {0};
        if (cat_buf_printf(&q, "coalesce(%s, %s)", l->cols[li].sql, r->cols[ri].sql) ||
            sqlr__keep(w, q.p))
          rc = sqlr__oom(w);
        oc[n].sql = q.p;
      }
      n++;
    }
    for (int i = 0; i < l->n && !rc; i++)
      if (!lu[i]) oc[n++] = l->cols[i];
    for (int i = 0; i < r->n && !rc; i++)
      if (!ru[i]) oc[n++] = r->cols[i];
    free(lu);
    free(ru);
    if (rc) return rc;
    out.cols = oc;
    out.n = n;
  }
  sc->nitems--;
  sc->items[sc->nitems - 1] = out;
  return 0;
}

static int lookup(sqlr_rw *w, const char *name, int loc, const cat_table **t) {
  if (!w->cat || !w->cat->lookup || w->cat->lookup(w->cat->ctx, name, t) != 0 || !*t)
    return sqlr__fail(w, loc, SQLST_UNDEFINED_TABLE, "relation \"%s\" does not exist", name);
  return 0;
}

static int relname(sqlr_rw *w, const PgQuery__RangeVar *rv, const char **name) {
  if (rv->schemaname && *rv->schemaname && strcmp(rv->schemaname, "public") != 0 &&
      !pgc_is_system_schema(rv->schemaname))
    return sqlr__unsupported(w, rv->location, "schema-qualified names");
  *name = rv->relname;
  return 0;
}

/* ---- FROM ---- */

#define from_item sqlr__from_item

static void merge_common(sqlr_scope *sc, int first_right) {
  for (int r = first_right; r < sc->n; r++) {
    const sqlr_ent *re = &sc->ents[r];
    int rn = re->t ? re->t->ncols : re->ncols;
    for (int c = 0; c < rn; c++) {
      const char *name = re->t ? re->t->cols[c].name : re->cols[c].name;
      for (int l = 0; l < first_right; l++) {
        const sqlr_ent *le = &sc->ents[l];
        bool has = false;
        if (le->t) has = cat_table_find_column(le->t, name) >= 0;
        else
          for (int k = 0; k < le->ncols; k++) has |= strcmp(le->cols[k].name, name) == 0;
        if (has && sc->nmerged < SQLR_MAX_SCOPE) {
          sc->merged[sc->nmerged++] = name;
          break;
        }
      }
    }
  }
}

static int join_expr(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__JoinExpr *j) {
  int rc = 0;
  if (j->alias || j->join_using_alias) return sqlr__unsupported(w, -1, "aliases on joins");
  if ((rc = from_item(w, b, sc, j->larg))) return rc;
  int first_right = sc->n;
  const char *kw;
  switch (j->jointype) {
  case PG_QUERY__JOIN_TYPE__JOIN_INNER:
    kw = !j->quals && !j->n_using_clause && !j->is_natural ? " CROSS JOIN " : " JOIN ";
    break;
  case PG_QUERY__JOIN_TYPE__JOIN_LEFT: kw = " LEFT JOIN "; break;
  case PG_QUERY__JOIN_TYPE__JOIN_RIGHT: kw = " RIGHT JOIN "; break;
  case PG_QUERY__JOIN_TYPE__JOIN_FULL: kw = " FULL JOIN "; break;
  default: return sqlr__unsupported(w, -1, "this join type");
  }
  if (j->is_natural) PUT(" NATURAL");
  PUT(kw);
  if ((rc = from_item(w, b, sc, j->rarg))) return rc;
  if (j->n_using_clause) {
    PUT(" USING (");
    for (size_t i = 0; i < j->n_using_clause; i++) {
      const PgQuery__Node *u = j->using_clause[i];
      if (u->node_case != PG_QUERY__NODE__NODE_STRING) return sqlr__unsupported(w, -1, "this USING form");
      if (i) PUT(", ");
      if (sqlr__ident(b, u->string->sval)) return sqlr__oom(w);
      if (sc->nmerged < SQLR_MAX_SCOPE) sc->merged[sc->nmerged++] = u->string->sval;
    }
    PUT(")");
  } else if (j->is_natural) {
    merge_common(sc, first_right);
  } else if (j->quals) {
    uint32_t t;
    int32_t tm;
    PUT(" ON ");
    if ((rc = sqlr__expr(w, b, sc, j->quals, &t, &tm))) return rc;
  }
  return join_item(w, sc, j);
}

/* unnest(array) over an array in PostgreSQL's text form (the system
** catalogs' arrays): SQLite's json_each over syn_array_json's JSON. */
static int unnest(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__RangeFunction *rf,
                  const PgQuery__FuncCall *f) {
  const char *alias = rf->alias ? rf->alias->aliasname : "unnest";
  const char *colname = alias;
  if (rf->alias && rf->alias->n_colnames == 1 &&
      rf->alias->colnames[0]->node_case == PG_QUERY__NODE__NODE_STRING)
    colname = rf->alias->colnames[0]->string->sval;
  else if (rf->alias && rf->alias->n_colnames)
    return sqlr__unsupported(w, -1, "several column aliases for unnest");
  uint32_t t = 0;
  int32_t tm = -1;
  sqlr_scope none = {.parent = sc->parent};
  PUT("(SELECT \"value\" AS ");
  if (sqlr__ident(b, colname)) return sqlr__oom(w);
  PUT(" FROM json_each(syn_array_json(");
  int rc = sqlr__expr(w, b, &none, f->args[0], &t, &tm);
  if (rc) return rc;
  PUT("))) AS ");
  if (sqlr__ident(b, alias)) return sqlr__oom(w);
  uint32_t elem = t == PGC_OID_INT2_ARRAY || t == PGC_OID_INT2VECTOR ? CAT_OID_INT2
                  : t == PGC_OID_OID_ARRAY || t == PGC_OID_OIDVECTOR ? PGC_OID_OID
                                                                      : CAT_OID_TEXT;
  sqlr_col *cols = NULL;
  int ncols = 0;
  if ((rc = add_col(w, &cols, &ncols, colname, elem, -1))) {
    sqlr__keep_cols(w, cols, ncols);
    return rc;
  }
  if ((rc = sqlr__keep_cols(w, cols, ncols))) return rc;
  if ((rc = add_ent(w, sc, (sqlr_ent){.alias = alias, .cols = cols, .ncols = ncols}))) return rc;
  return push_ent_item(w, sc);
}

/* generate_series(start, stop[, step]) over integers, the one set-returning
** function clients commonly put in FROM (pgbench's server-side data
** generation among them). SQLite's core has no generate_series, so it
** becomes a recursive CTE in a subquery: the same rows, in order. */
static int range_function(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__RangeFunction *rf) {
  int rc = 0;
  if (rf->lateral || rf->ordinality || rf->is_rowsfrom || rf->n_coldeflist || rf->n_functions != 1 ||
      rf->functions[0]->node_case != PG_QUERY__NODE__NODE_LIST ||
      rf->functions[0]->list->n_items < 1 ||
      rf->functions[0]->list->items[0]->node_case != PG_QUERY__NODE__NODE_FUNC_CALL)
    return sqlr__unsupported(w, -1, "this function in FROM");
  const PgQuery__FuncCall *f = rf->functions[0]->list->items[0]->func_call;
  const char *fname = sqlr__last_name(f->funcname, f->n_funcname);
  if (strcmp(fname, "unnest") == 0 && f->n_args == 1 && !f->agg_star)
    return unnest(w, b, sc, rf, f);
  if (strcmp(fname, "generate_series") != 0 || f->n_args < 2 || f->n_args > 3) {
    char what[96];
    snprintf(what, sizeof what, "function %s() in FROM", fname);
    return sqlr__unsupported(w, f->location, what);
  }
  /* The step's sign decides the loop condition, so it must be a constant. */
  long step = 1;
  if (f->n_args == 3) {
    const PgQuery__Node *s = f->args[2];
    bool neg = false;
    if (s->node_case == PG_QUERY__NODE__NODE_A_EXPR && !s->a_expr->lexpr &&
        strcmp(sqlr__last_name(s->a_expr->name, s->a_expr->n_name), "-") == 0) {
      neg = true;
      s = s->a_expr->rexpr;
    }
    if (s->node_case != PG_QUERY__NODE__NODE_A_CONST || s->a_const->val_case != PG_QUERY__A__CONST__VAL_IVAL)
      return sqlr__unsupported(w, f->location, "generate_series with a non-constant step");
    step = neg ? -(long)s->a_const->ival->ival : (long)s->a_const->ival->ival;
    if (step == 0) return sqlr__fail(w, f->location, SQLST_INVALID_PARAM, "step size cannot equal zero");
  }
  const char *alias = rf->alias ? rf->alias->aliasname : "generate_series";
  const char *colname = alias;
  if (rf->alias && rf->alias->n_colnames == 1 &&
      rf->alias->colnames[0]->node_case == PG_QUERY__NODE__NODE_STRING)
    colname = rf->alias->colnames[0]->string->sval;
  else if (rf->alias && rf->alias->n_colnames)
    return sqlr__unsupported(w, -1, "several column aliases for generate_series");
  uint32_t t1 = 0, t2 = 0;
  int32_t tm;
  sqlr_scope none = {.parent = sc->parent};
  PUT("(WITH RECURSIVE \"_gs\"(\"v\") AS (SELECT ");
  sqlr__note_param(w, f->args[0], CAT_OID_INT4);
  sqlr__note_param(w, f->args[1], CAT_OID_INT4);
  if ((rc = sqlr__expr(w, b, &none, f->args[0], &t1, &tm))) return rc;
  if (cat_buf_printf(b, " UNION ALL SELECT (\"v\" + %ld) FROM \"_gs\" WHERE (\"v\" + %ld) %s ", step,
                     step, step > 0 ? "<=" : ">="))
    return sqlr__oom(w);
  if ((rc = sqlr__expr(w, b, &none, f->args[1], &t2, &tm))) return rc;
  PUT(") SELECT \"v\" AS ");
  if (sqlr__ident(b, colname)) return sqlr__oom(w);
  PUT(" FROM \"_gs\") AS ");
  if (sqlr__ident(b, alias)) return sqlr__oom(w);
  if ((t1 && !sqlr__is_int(t1)) || (t2 && !sqlr__is_int(t2)))
    return sqlr__unsupported(w, f->location, "generate_series over non-integer values");
  sqlr_col *cols = NULL;
  int ncols = 0;
  uint32_t ty = t1 == CAT_OID_INT8 || t2 == CAT_OID_INT8 ? CAT_OID_INT8 : CAT_OID_INT4;
  if ((rc = add_col(w, &cols, &ncols, colname, ty, -1))) {
    sqlr__keep_cols(w, cols, ncols);
    return rc;
  }
  if ((rc = sqlr__keep_cols(w, cols, ncols))) return rc;
  if ((rc = add_ent(w, sc, (sqlr_ent){.alias = alias, .cols = cols, .ncols = ncols}))) return rc;
  return push_ent_item(w, sc);
}

/* FROM item column aliases, t(a, b) or (subquery) s(a, b): the first k
** columns take the new names, the rest keep theirs (PostgreSQL's rule).
** *cols gets the renamed description (kept in w's garbage). */
static int alias_cols(sqlr_rw *w, const PgQuery__Alias *a, const char *const *names,
                      const uint32_t *types, const int32_t *typmods, int n, sqlr_col **cols,
                      int *ncols, int loc) {
  if ((int)a->n_colnames > n)
    return sqlr__fail(w, loc, SQLST_INVALID_COLUMN_REF,
                      "table \"%s\" has %d columns available but %zu columns specified",
                      a->aliasname, n, a->n_colnames);
  int rc = 0;
  *cols = NULL;
  *ncols = 0;
  for (int i = 0; i < n && !rc; i++) {
    const char *nm = names[i];
    if (i < (int)a->n_colnames) {
      if (a->colnames[i]->node_case != PG_QUERY__NODE__NODE_STRING) {
        rc = sqlr__unsupported(w, loc, "this column alias");
        break;
      }
      nm = a->colnames[i]->string->sval;
    }
    rc = add_col(w, cols, ncols, nm, types[i], typmods[i]);
  }
  int krc = sqlr__keep_cols(w, *cols, *ncols);
  return rc ? rc : krc;
}

/* Table t AS alias(a, b, ...): a subquery renaming the columns, which
** SQLite flattens, so constraints still reach the virtual table. */
static int aliased_table(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__RangeVar *rv,
                         const char *name, sqlr_ent en) {
  int n = en.t ? en.t->ncols : en.ncols;
  if (n < 0) return sqlr__unsupported(w, rv->location, "column aliases on this table");
  const char **names = calloc((size_t)n + 1, sizeof *names);
  uint32_t *types = calloc((size_t)n + 1, sizeof *types);
  int32_t *typmods = calloc((size_t)n + 1, sizeof *typmods);
  int rc = !names || !types || !typmods ? sqlr__oom(w) : 0;
  for (int i = 0; i < n && !rc; i++) {
    names[i] = en.t ? en.t->cols[i].name : en.cols[i].name;
    types[i] = en.t ? en.t->cols[i].type_oid : en.cols[i].type_oid;
    typmods[i] = en.t ? en.t->cols[i].typmod : en.cols[i].typmod;
  }
  sqlr_col *cols = NULL;
  int ncols = 0;
  if (!rc) rc = alias_cols(w, rv->alias, names, types, typmods, n, &cols, &ncols, -1);
  if (!rc && cat_buf_printf(b, "(SELECT ")) rc = sqlr__oom(w);
  for (int i = 0; i < n && !rc; i++)
    if ((i && cat_buf_printf(b, ", ")) || sqlr__ident(b, names[i]) || cat_buf_printf(b, " AS ") ||
        sqlr__ident(b, cols[i].name))
      rc = sqlr__oom(w);
  if (!rc && (cat_buf_printf(b, " FROM ") || sqlr__ident(b, name) || cat_buf_printf(b, ") AS ") ||
              sqlr__ident(b, rv->alias->aliasname)))
    rc = sqlr__oom(w);
  free(names);
  free(types);
  free(typmods);
  if (rc) return rc;
  if ((rc = add_ent(w, sc, (sqlr_ent){.alias = rv->alias->aliasname, .cols = cols, .ncols = ncols})))
    return rc;
  return push_ent_item(w, sc);
}

int sqlr__from_item(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__Node *n) {
  int rc = 0;
  switch (n->node_case) {
  case PG_QUERY__NODE__NODE_RANGE_VAR: {
    const PgQuery__RangeVar *rv = n->range_var;
    const char *name = NULL;
    if ((rc = relname(w, rv, &name))) return rc;
    sqlr_ent en = {.alias = rv->alias ? rv->alias->aliasname : name, .ncols = -1};
    bool is_cte = false;
    if (!rv->schemaname || !*rv->schemaname)
      for (int i = w->nctes - 1; i >= 0; i--)
        if (strcmp(w->ctes[i].name, name) == 0) {
          en.cols = w->ctes[i].cols;
          en.ncols = w->ctes[i].ncols;
          is_cte = true;
          break;
        }
    const pgc_table *sys = NULL;
    if (!is_cte && (rc = sqlr__system_table(w, rv, &sys, &en))) return rc;
    if (!is_cte && !sys && (rc = lookup(w, name, rv->location, &en.t))) return rc;
    if (rv->alias && rv->alias->n_colnames) return aliased_table(w, b, sc, rv, name, en);
    if (sys && (sqlr__ident(b, sys->schema) || cat_buf_printf(b, "."))) return sqlr__oom(w);
    if (sqlr__ident(b, name)) return sqlr__oom(w);
    if (rv->alias) {
      PUT(" AS ");
      if (sqlr__ident(b, rv->alias->aliasname)) return sqlr__oom(w);
    }
    if ((rc = add_ent(w, sc, en))) return rc;
    return push_ent_item(w, sc);
  }
  case PG_QUERY__NODE__NODE_RANGE_SUBSELECT: {
    const PgQuery__RangeSubselect *rs = n->range_subselect;
    if (rs->lateral) return sqlr__unsupported(w, -1, "LATERAL");
    if (!rs->alias) return sqlr__fail(w, -1, SQLST_SYNTAX, "subquery in FROM must have an alias");
    if (rs->subquery->node_case != PG_QUERY__NODE__NODE_SELECT_STMT)
      return sqlr__unsupported(w, -1, "this subquery");
    sqlr_ent en = {.alias = rs->alias->aliasname};
    /* (subquery) AS s(a, b): a CTE's column list renames by position,
    ** whatever names (even duplicates) the subquery's columns have. */
    bool renamed = rs->alias->n_colnames > 0;
    size_t open = b->n;
    PUT("(");
    if ((rc = sqlr__select(w, b, sc->parent, rs->subquery->select_stmt, &en.cols, &en.ncols)))
      return rc;
    if (renamed) {
      const char **names = calloc((size_t)en.ncols + 1, sizeof *names);
      uint32_t *types = calloc((size_t)en.ncols + 1, sizeof *types);
      int32_t *typmods = calloc((size_t)en.ncols + 1, sizeof *typmods);
      rc = !names || !types || !typmods ? sqlr__oom(w) : 0;
      for (int i = 0; i < en.ncols && !rc; i++) {
        names[i] = en.cols[i].name;
        types[i] = en.cols[i].type_oid;
        typmods[i] = en.cols[i].typmod;
      }
      sqlr_col *cols = NULL;
      int ncols = 0;
      if (!rc) rc = alias_cols(w, rs->alias, names, types, typmods, en.ncols, &cols, &ncols, -1);
      free(names);
      free(types);
      free(typmods);
      if (rc) return rc;
      en.cols = cols;
      en.ncols = ncols;
      cat_buf head = {0};
      rc = cat_buf_printf(&head, "(WITH \"_syn_alias\"(");
      for (int i = 0; i < ncols && !rc; i++)
        rc = (i && cat_buf_printf(&head, ", ")) || sqlr__ident(&head, cols[i].name);
      if (!rc) rc = cat_buf_printf(&head, ") AS (");
      /* Splice the head in before the subquery's text. */
      if (!rc) rc = cat_buf_append(&head, b->p + open + 1, b->n - open - 1);
      if (!rc) {
        b->n = open;
        rc = cat_buf_append(b, head.p, head.n) ||
             cat_buf_printf(b, ") SELECT * FROM \"_syn_alias\"");
      }
      cat_buf_free(&head);
      if (rc) return sqlr__oom(w);
    }
    PUT(") AS ");
    if (sqlr__ident(b, rs->alias->aliasname)) return sqlr__oom(w);
    if ((rc = add_ent(w, sc, en))) return rc;
    return push_ent_item(w, sc);
  }
  case PG_QUERY__NODE__NODE_JOIN_EXPR: return join_expr(w, b, sc, n->join_expr);
  case PG_QUERY__NODE__NODE_RANGE_FUNCTION: return range_function(w, b, sc, n->range_function);
  default: return sqlr__unsupported(w, -1, "this FROM item");
  }
}

/* ---- SELECT ---- */

static int expand_star(sqlr_rw *w, const sqlr_ent *en, sqlr_col **cols, int *ncols) {
  int rc = 0;
  if (en->t) {
    for (int i = 0; i < en->t->ncols; i++)
      if ((rc = add_col(w, cols, ncols, en->t->cols[i].name, en->t->cols[i].type_oid,
                        en->t->cols[i].typmod)))
        return rc;
  } else {
    for (int i = 0; i < en->ncols; i++)
      if ((rc = add_col(w, cols, ncols, en->cols[i].name, en->cols[i].type_oid, en->cols[i].typmod)))
        return rc;
  }
  return 0;
}

static int target_list(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, PgQuery__Node **tl, size_t n,
                       uint64_t num_mask, sqlr_col **cols, int *ncols) {
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    if (tl[i]->node_case != PG_QUERY__NODE__NODE_RES_TARGET)
      return sqlr__unsupported(w, -1, "this target list entry");
    const PgQuery__ResTarget *rt = tl[i]->res_target;
    if (i) PUT(", ");
    const PgQuery__Node *v = rt->val;
    /* * and t.* : expand the description, keep the star in the SQL. */
    if (v->node_case == PG_QUERY__NODE__NODE_COLUMN_REF) {
      const PgQuery__ColumnRef *cr = v->column_ref;
      if (cr->fields[cr->n_fields - 1]->node_case == PG_QUERY__NODE__NODE_A_STAR) {
        const char *qual = cr->n_fields >= 2 && cr->fields[cr->n_fields - 2]->node_case ==
                                                    PG_QUERY__NODE__NODE_STRING
                               ? cr->fields[cr->n_fields - 2]->string->sval : NULL;
        /* RETURNING lists are deparsed as a FROM-less SELECT whose parent
        ** scope holds the bound row. */
        sqlr_scope *ss = sc;
        if (ss->n == 0 && ss->parent && ss->parent->n && ss->parent->ents[0].is_row) ss = ss->parent;
        if (ss->n == 0)
          return sqlr__fail(w, cr->location, SQLST_SYNTAX,
                            "SELECT * with no tables specified is not valid");
        /* Unqualified * over items whose columns are all known: list them
        ** in PostgreSQL's order (JOIN USING/NATURAL differ from SQLite's). */
        bool known = !qual && !ss->ents[0].is_row && ss->nitems > 0;
        for (int k = 0; known && k < ss->nitems; k++) known = ss->items[k].n >= 0;
        if (known) {
          bool first = true;
          for (int k = 0; k < ss->nitems; k++)
            for (int c = 0; c < ss->items[k].n; c++) {
              const sqlr_outcol *oc = &ss->items[k].cols[c];
              if (cat_buf_printf(b, "%s%s AS ", first ? "" : ", ", oc->sql) ||
                  sqlr__ident(b, oc->name))
                return sqlr__oom(w);
              if ((rc = add_col(w, cols, ncols, oc->name, oc->type, oc->typmod))) return rc;
              first = false;
            }
          if (first) PUT("*"); /* items without columns: let SQLite answer */
          continue;
        }
        bool any = false;
        for (int k = 0; k < ss->n; k++) {
          const sqlr_ent *en = &ss->ents[k];
          if (qual && strcmp(en->alias, qual) != 0) continue;
          any = true;
          if (en->is_row) {
            /* RETURNING *: the bound row's columns, named. */
            for (int c = 0; c < en->t->ncols; c++) {
              if (c) PUT(", ");
              if (cat_buf_printf(b, "%cR%d%c AS ", SQLR_MARK, en->row_param0 + c, SQLR_MARK) ||
                  sqlr__ident(b, en->t->cols[c].name))
                return sqlr__oom(w);
            }
          }
          if ((rc = expand_star(w, en, cols, ncols))) return rc;
        }
        if (!any)
          return sqlr__fail(w, cr->location, SQLST_UNDEFINED_TABLE,
                            "missing FROM-clause entry for table \"%s\"", qual);
        if (!ss->ents[0].is_row) {
          uint32_t t;
          int32_t tm;
          if ((rc = sqlr__expr(w, b, sc, v, &t, &tm))) return rc;
        }
        continue;
      }
    }
    uint32_t t = 0;
    int32_t tm = -1;
    size_t start = b->n;
    if ((rc = sqlr__expr(w, b, sc, v, &t, &tm))) return rc;
    if (*ncols < 64 && (num_mask >> *ncols & 1) && sqlr__is_int(t)) {
      if ((rc = sqlr__to_numeric(w, b, start))) return rc;
      t = CAT_OID_NUMERIC;
      tm = -1;
    }
    const char *name = rt->name && *rt->name ? rt->name : sqlr__colname(v);
    /* Name every column whose SQLite name would differ from PostgreSQL's:
    ** all but plain column references (a bound-row reference is a ?N). */
    if ((rt->name && *rt->name) || v->node_case != PG_QUERY__NODE__NODE_COLUMN_REF ||
        b->p[start] == SQLR_MARK) {
      PUT(" AS ");
      if (sqlr__ident(b, name)) return sqlr__oom(w);
    }
    if ((rc = add_col(w, cols, ncols, name, t, tm))) return rc;
  }
  return 0;
}

int sqlr__sort_clause(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, PgQuery__Node **items, size_t n) {
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    if (items[i]->node_case != PG_QUERY__NODE__NODE_SORT_BY) return sqlr__unsupported(w, -1, "this ORDER BY");
    const PgQuery__SortBy *s = items[i]->sort_by;
    if (s->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_USING)
      return sqlr__unsupported(w, s->location, "ORDER BY USING");
    PUT(i ? ", " : " ORDER BY ");
    uint32_t t;
    int32_t tm;
    if ((rc = sqlr__expr(w, b, sc, s->node, &t, &tm))) return rc;
    bool desc = s->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_DESC;
    bool nulls_first = s->sortby_nulls == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_FIRST ||
                       (s->sortby_nulls != PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_LAST && desc);
    /* PostgreSQL sorts NULL as larger than every value, SQLite as smaller:
    ** say where NULLs go explicitly every time. */
    PUT(desc ? " DESC" : "");
    PUT(nulls_first ? " NULLS FIRST" : " NULLS LAST");
  }
  return 0;
}

static int limit_clause(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__SelectStmt *s) {
  int rc = 0;
  uint32_t t;
  int32_t tm;
  if (s->limit_option == PG_QUERY__LIMIT_OPTION__LIMIT_OPTION_WITH_TIES)
    return sqlr__unsupported(w, -1, "FETCH ... WITH TIES");
  bool has_count = s->limit_count && !(s->limit_count->node_case == PG_QUERY__NODE__NODE_A_CONST &&
                                       s->limit_count->a_const->isnull);
  if (!has_count && !s->limit_offset) return 0;
  PUT(" LIMIT ");
  sqlr__note_param(w, s->limit_count, CAT_OID_INT8);
  sqlr__note_param(w, s->limit_offset, CAT_OID_INT8);
  if (has_count) {
    if ((rc = sqlr__expr(w, b, sc, s->limit_count, &t, &tm))) return rc;
  } else {
    PUT("-1");
  }
  if (s->limit_offset) {
    PUT(" OFFSET ");
    if ((rc = sqlr__expr(w, b, sc, s->limit_offset, &t, &tm))) return rc;
  }
  return 0;
}

static int set_arm(sqlr_rw *w, cat_buf *b, sqlr_scope *parent, const PgQuery__SelectStmt *s,
                   bool right, sqlr_col **cols, int *ncols) {
  /* SQLite compound SELECTs take no parentheses, ORDER BY or LIMIT in
  ** their arms and evaluate left to right, so such arms (and a set
  ** operation on the right, which PostgreSQL groups) become subqueries. */
  bool wrap = s->n_sort_clause || s->limit_count || s->limit_offset || s->with_clause ||
              (right && s->op != PG_QUERY__SET_OPERATION__SETOP_NONE);
  int rc = 0;
  if (wrap) PUT("SELECT * FROM (");
  if ((rc = sqlr__select(w, b, parent, s, cols, ncols))) return rc;
  if (wrap) PUT(")");
  return 0;
}

static int with_clause(sqlr_rw *w, cat_buf *b, sqlr_scope *parent, const PgQuery__WithClause *wc) {
  int rc = 0;
  PUT(wc->recursive ? "WITH RECURSIVE " : "WITH ");
  for (size_t i = 0; i < wc->n_ctes; i++) {
    const PgQuery__CommonTableExpr *c = wc->ctes[i]->common_table_expr;
    if (c->n_aliascolnames) return sqlr__unsupported(w, c->location, "column lists on WITH queries");
    if (!c->ctequery || c->ctequery->node_case != PG_QUERY__NODE__NODE_SELECT_STMT)
      return sqlr__unsupported(w, c->location, "data-modifying statements in WITH");
    if (w->nctes >= SQLR_MAX_CTES) return sqlr__unsupported(w, c->location, "this many WITH queries");
    if (i) PUT(", ");
    if (sqlr__ident(b, c->ctename)) return sqlr__oom(w);
    PUT(" AS (");
    sqlr_cte *cte = &w->ctes[w->nctes];
    cte->name = c->ctename;
    cte->cols = NULL;
    cte->ncols = -1; /* a recursive reference sees unknown columns */
    if (wc->recursive) w->nctes++;
    int ncols = 0;
    sqlr_col *cols = NULL;
    if ((rc = sqlr__select(w, b, parent, c->ctequery->select_stmt, &cols, &ncols))) return rc;
    cte->cols = cols;
    cte->ncols = ncols;
    if (!wc->recursive) w->nctes++;
    PUT(")");
  }
  PUT(" ");
  return 0;
}

/* VALUES rows; integer cells of mask columns become numeric. Columns with
** numeric and integer cells are reported in *has_num & *has_int. */
static int values_rows(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__SelectStmt *s,
                       uint64_t mask, sqlr_col **colsp, int *ncolsp, uint64_t *has_num,
                       uint64_t *has_int) {
  int rc = cat_buf_printf(b, "VALUES ") ? sqlr__oom(w) : 0;
  for (size_t r = 0; r < s->n_values_lists && !rc; r++) {
    const PgQuery__Node *row = s->values_lists[r];
    if (row->node_case != PG_QUERY__NODE__NODE_LIST) {
      rc = sqlr__unsupported(w, -1, "this VALUES form");
      break;
    }
    if (r && (int)row->list->n_items != *ncolsp) {
      rc = sqlr__fail(w, -1, SQLST_SYNTAX, "VALUES lists must all be the same length");
      break;
    }
    if (cat_buf_printf(b, r ? ", (" : "(")) rc = sqlr__oom(w);
    for (size_t i = 0; i < row->list->n_items && !rc; i++) {
      uint32_t t = 0;
      int32_t tm = -1;
      if (i && cat_buf_printf(b, ", ")) {
        rc = sqlr__oom(w);
        break;
      }
      size_t cstart = b->n;
      rc = sqlr__expr(w, b, sc, row->list->items[i], &t, &tm);
      if (!rc && i < 64 && (mask >> i & 1) && sqlr__is_int(t)) {
        rc = sqlr__to_numeric(w, b, cstart);
        t = CAT_OID_NUMERIC;
        tm = -1;
      }
      if (i < 64) {
        *has_num |= (uint64_t)(t == CAT_OID_NUMERIC) << i;
        *has_int |= (uint64_t)sqlr__is_int(t) << i;
      }
      if (!rc && r == 0) {
        char name[32];
        snprintf(name, sizeof name, "column%zu", i + 1);
        rc = add_col(w, colsp, ncolsp, name, t, tm);
      }
    }
    if (!rc && cat_buf_printf(b, ")")) rc = sqlr__oom(w);
  }
  return rc;
}

int sqlr__select(sqlr_rw *w, cat_buf *b, sqlr_scope *parent, const PgQuery__SelectStmt *s,
                 sqlr_col **cols_out, int *ncols_out) {
  int rc = 0;
  sqlr_col *cols = NULL;
  int ncols = 0;
  int saved_ctes = w->nctes;
  uint64_t mask = w->num_mask;
  w->num_mask = 0;
  *cols_out = NULL;
  *ncols_out = 0;
  if (s->into_clause) return sqlr__unsupported(w, -1, "SELECT INTO");
  if (s->with_clause && (rc = with_clause(w, b, parent, s->with_clause))) return rc;

  if (s->op != PG_QUERY__SET_OPERATION__SETOP_NONE &&
      s->op != PG_QUERY__SET_OPERATION__SET_OPERATION_UNDEFINED) {
    sqlr_col *rcols = NULL;
    int nr = 0;
    const char *op = s->op == PG_QUERY__SET_OPERATION__SETOP_UNION ? " UNION "
                     : s->op == PG_QUERY__SET_OPERATION__SETOP_INTERSECT ? " INTERSECT " : " EXCEPT ";
    /* A column that is integer in one arm and numeric in the other is
    ** numeric (PostgreSQL's UNION type resolution); SQLite would order and
    ** compare the integers apart from the numeric text. The arms are
    ** written again with those columns converted when the first pass finds
    ** such a column (once per level: the second pass agrees by design). */
    size_t start = b->n;
    for (int pass = 0;; pass++) {
      w->num_mask = mask;
      if ((rc = set_arm(w, b, parent, s->larg, false, &cols, &ncols))) return rc;
      PUT(op);
      if (s->all) {
        if (s->op != PG_QUERY__SET_OPERATION__SETOP_UNION)
          return sqlr__unsupported(w, -1, "INTERSECT ALL and EXCEPT ALL");
        PUT("ALL ");
      }
      w->num_mask = mask;
      if ((rc = set_arm(w, b, parent, s->rarg, true, &rcols, &nr))) return rc;
      if (nr != ncols)
        return sqlr__fail(w, -1, SQLST_SYNTAX, "each %s query must have the same number of columns",
                          op[1] == 'U' ? "UNION" : op[1] == 'I' ? "INTERSECT" : "EXCEPT");
      uint64_t need = 0;
      for (int i = 0; i < ncols && i < 64; i++) {
        uint32_t l = cols[i].type_oid, r = rcols[i].type_oid;
        if ((l == CAT_OID_NUMERIC && sqlr__is_int(r)) || (r == CAT_OID_NUMERIC && sqlr__is_int(l)))
          need |= (uint64_t)1 << i;
      }
      if (pass == 1 || (need & ~mask) == 0) {
        for (int i = 0; i < ncols && i < 64; i++)
          if (need >> i & 1) {
            cols[i].type_oid = CAT_OID_NUMERIC;
            cols[i].typmod = -1;
          }
        break;
      }
      mask |= need;
      b->n = start;
    }
    sqlr_scope sc = {.parent = parent};
    sqlr_ent en = {.alias = "", .cols = cols, .ncols = ncols};
    sc.ents[sc.n++] = en;
    if ((rc = sqlr__sort_clause(w, b, &sc, s->sort_clause, s->n_sort_clause))) return rc;
    if ((rc = limit_clause(w, b, &sc, s))) return rc;
    w->nctes = saved_ctes;
    *cols_out = cols;
    *ncols_out = ncols;
    return 0;
  }

  if (s->n_values_lists) {
    sqlr_scope sc = {.parent = parent};
    /* Columns with integer and numeric rows are numeric (as PostgreSQL
    ** resolves VALUES columns): written again with the integers converted
    ** when the first pass finds such a column. */
    size_t vstart = b->n;
    for (int pass = 0;; pass++) {
      uint64_t has_num = 0, has_int = 0;
      if ((rc = values_rows(w, b, &sc, s, mask, &cols, &ncols, &has_num, &has_int))) {
        sqlr__keep_cols(w, cols, ncols);
        return rc;
      }
      uint64_t need = has_num & has_int;
      if (pass == 1 || (need & ~mask) == 0) break;
      mask |= need;
      b->n = vstart;
      if ((rc = sqlr__keep_cols(w, cols, ncols))) return rc;
      cols = NULL;
      ncols = 0;
    }
    if ((rc = sqlr__keep_cols(w, cols, ncols))) return rc;
    if ((rc = sqlr__sort_clause(w, b, &sc, s->sort_clause, s->n_sort_clause))) return rc;
    if ((rc = limit_clause(w, b, &sc, s))) return rc;
    *cols_out = cols;
    *ncols_out = ncols;
    return 0;
  }

  if (s->n_target_list == 0) return sqlr__unsupported(w, -1, "SELECT with an empty target list");
  sqlr_scope sc = {.parent = parent, .targets = s->target_list, .ntargets = s->n_target_list};
  cat_buf fb = {0};
  for (size_t i = 0; i < s->n_from_clause && !rc; i++) {
    if (i && cat_buf_printf(&fb, ", ")) rc = sqlr__oom(w);
    if (!rc) rc = from_item(w, &fb, &sc, s->from_clause[i]);
  }
  if (rc) {
    cat_buf_free(&fb);
    return rc;
  }
  size_t sel_start = b->n;
  PUT("SELECT ");
  bool distinct_on = false;
  if (s->n_distinct_clause) {
    if (s->n_distinct_clause == 1 && s->distinct_clause[0] == NULL) PUT("DISTINCT ");
    else if (s->n_distinct_clause == 1 && s->distinct_clause[0]->node_case == PG_QUERY__NODE__NODE__NOT_SET)
      PUT("DISTINCT ");
    else distinct_on = true; /* rewrite_distinct.c */
  }
  rc = target_list(w, b, &sc, s->target_list, s->n_target_list, mask, &cols, &ncols);
  size_t targets_end = b->n;
  /* Kept (and freed with the rewrite) on failure too. */
  int krc = sqlr__keep_cols(w, cols, ncols);
  if (!rc) rc = krc;
  if (!rc && fb.n) rc = cat_buf_printf(b, " FROM %s", fb.p) ? sqlr__oom(w) : 0;
  cat_buf_free(&fb);
  if (rc) return rc;
  uint32_t t;
  int32_t tm;
  if (s->where_clause) {
    PUT(" WHERE ");
    if ((rc = sqlr__expr(w, b, &sc, s->where_clause, &t, &tm))) return rc;
  }
  if (s->group_distinct) return sqlr__unsupported(w, -1, "GROUP BY DISTINCT");
  sc.allow_alias = true;
  for (size_t i = 0; i < s->n_group_clause; i++) {
    const PgQuery__Node *g = s->group_clause[i];
    if (g->node_case == PG_QUERY__NODE__NODE_GROUPING_SET)
      return sqlr__unsupported(w, -1, "GROUPING SETS, ROLLUP and CUBE");
    PUT(i ? ", " : " GROUP BY ");
    if ((rc = sqlr__expr(w, b, &sc, g, &t, &tm))) return rc;
  }
  sc.allow_alias = false;
  if (s->having_clause) {
    PUT(" HAVING ");
    if ((rc = sqlr__expr(w, b, &sc, s->having_clause, &t, &tm))) return rc;
  }
  if ((rc = sqlr__window_clause(w, b, &sc, s->window_clause, s->n_window_clause))) return rc;
  sc.allow_alias = true;
  if (distinct_on)
    rc = sqlr__distinct_on(w, b, &sc, s, sel_start, targets_end, cols, ncols);
  else
    rc = sqlr__sort_clause(w, b, &sc, s->sort_clause, s->n_sort_clause);
  if (rc) return rc;
  if ((rc = limit_clause(w, b, &sc, s))) return rc;
  w->nctes = saved_ctes;
  *cols_out = cols;
  *ncols_out = ncols;
  return 0;
}
