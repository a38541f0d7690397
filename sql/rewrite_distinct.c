/*
** SELECT DISTINCT ON (e1, ...) for the PostgreSQL -> SQLite rewrite.
**
** SQLite has no DISTINCT ON. PostgreSQL's meaning: sort by the ORDER BY,
** then keep the first row of every group of equal (e1, ...). That is
** row_number() = 1 over PARTITION BY e1, ... ORDER BY the ORDER BY, so
**
**   SELECT DISTINCT ON (d) t1, t2 FROM ... WHERE ... ORDER BY o1, o2 LIMIT n
**
** becomes
**
**   SELECT "_c1" AS t1, "_c2" AS t2 FROM (WITH "_syn_d"("_c1", "_c2", "_o1",
**     "_o2", "_rn") AS (SELECT t1, t2, o1, o2, row_number() OVER (PARTITION
**     BY d ORDER BY o1, o2) FROM ... WHERE ...) SELECT * FROM "_syn_d")
**   WHERE "_rn" = 1 ORDER BY "_o1", "_o2" LIMIT n
**
** The CTE's column list renames the inner columns by position, whatever
** names (even duplicates) the target list has. ORDER BY and DISTINCT ON
** items that are output positions (ORDER BY 1) or output names resolve to
** the target expression first, as in PostgreSQL, because neither means
** that inside a window's ORDER BY. As PostgreSQL requires, the leading
** ORDER BY items must be DISTINCT ON expressions (42P10 otherwise).
** DISTINCT ON items missing from ORDER BY partition without ordering the
** rows among them, as PostgreSQL appends them after the ORDER BY.
*/
#include "sql/rewrite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PUT(s) do { if (cat_buf_printf(b, "%s", (s))) return sqlr__oom(w); } while (0)

/* The node an ORDER BY / DISTINCT ON item stands for: a target for an
** output position or an output name, else the item itself. */
static const PgQuery__Node *resolve(const PgQuery__SelectStmt *s, const PgQuery__Node *n) {
  if (n->node_case == PG_QUERY__NODE__NODE_A_CONST &&
      n->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
    int k = n->a_const->ival->ival;
    if (k >= 1 && (size_t)k <= s->n_target_list &&
        s->target_list[k - 1]->node_case == PG_QUERY__NODE__NODE_RES_TARGET)
      return s->target_list[k - 1]->res_target->val;
    return n;
  }
  if (n->node_case == PG_QUERY__NODE__NODE_COLUMN_REF && n->column_ref->n_fields == 1 &&
      n->column_ref->fields[0]->node_case == PG_QUERY__NODE__NODE_STRING) {
    const char *name = n->column_ref->fields[0]->string->sval;
    for (size_t i = 0; i < s->n_target_list; i++) {
      const PgQuery__Node *t = s->target_list[i];
      if (t->node_case == PG_QUERY__NODE__NODE_RES_TARGET && t->res_target->name &&
          strcmp(t->res_target->name, name) == 0)
        return t->res_target->val;
    }
  }
  return n;
}

/* Where an expression starts in the query, for the error cursor. */
static int node_loc(const PgQuery__Node *n) {
  switch (n->node_case) {
  case PG_QUERY__NODE__NODE_COLUMN_REF: return n->column_ref->location;
  case PG_QUERY__NODE__NODE_A_CONST: return n->a_const->location;
  case PG_QUERY__NODE__NODE_A_EXPR: return n->a_expr->location;
  case PG_QUERY__NODE__NODE_FUNC_CALL: return n->func_call->location;
  case PG_QUERY__NODE__NODE_TYPE_CAST: return n->type_cast->location;
  default: return -1;
  }
}

static bool same_text(const cat_buf *a, const cat_buf *b) {
  return a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
}

static void free_texts(cat_buf *t, size_t n) {
  for (size_t i = 0; i < n; i++) cat_buf_free(&t[i]);
  free(t);
}

int sqlr__distinct_on(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__SelectStmt *s,
                      size_t sel_start, size_t targets_end, const sqlr_col *cols, int ncols) {
  size_t nd = s->n_distinct_clause, ns = s->n_sort_clause;
  cat_buf *dt = calloc(nd + 1, sizeof *dt), *st = calloc(ns + 1, sizeof *st);
  int rc = !dt || !st ? sqlr__oom(w) : 0;
  bool save_alias = sc->allow_alias;
  sc->allow_alias = false;
  for (size_t i = 0; i < nd && !rc; i++) {
    uint32_t t;
    int32_t tm;
    rc = sqlr__expr(w, &dt[i], sc, resolve(s, s->distinct_clause[i]), &t, &tm);
  }
  for (size_t i = 0; i < ns && !rc; i++) {
    if (s->sort_clause[i]->node_case != PG_QUERY__NODE__NODE_SORT_BY) {
      rc = sqlr__unsupported(w, -1, "this ORDER BY");
      break;
    }
    const PgQuery__SortBy *sb = s->sort_clause[i]->sort_by;
    if (sb->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_USING) {
      rc = sqlr__unsupported(w, sb->location, "ORDER BY USING");
      break;
    }
    uint32_t t;
    int32_t tm;
    rc = sqlr__expr(w, &st[i], sc, resolve(s, sb->node), &t, &tm);
  }
  /* PostgreSQL's rule (transformDistinctOnClause): the ORDER BY items that
  ** are DISTINCT ON expressions must all come before any that is not, and
  ** once one was skipped every DISTINCT ON expression must be in ORDER BY. */
  static const char *const mismatch =
      "SELECT DISTINCT ON expressions must match initial ORDER BY expressions";
  bool skipped = false;
  for (size_t i = 0; i < ns && !rc; i++) {
    size_t k = 0;
    while (k < nd && !same_text(&st[i], &dt[k])) k++;
    if (k == nd) skipped = true;
    else if (skipped)
      rc = sqlr__fail(w, node_loc(s->distinct_clause[k]), SQLST_INVALID_COLUMN_REF, "%s", mismatch);
  }
  for (size_t k = 0; k < nd && !rc && skipped; k++) {
    size_t i = 0;
    while (i < ns && !same_text(&st[i], &dt[k])) i++;
    if (i == ns)
      rc = sqlr__fail(w, node_loc(s->distinct_clause[k]), SQLST_INVALID_COLUMN_REF, "%s", mismatch);
  }
  sc->allow_alias = save_alias;
  /* DISTINCT ON items missing from ORDER BY follow it, ascending, as
  ** PostgreSQL appends them (so groups come out in the same order). */
  size_t *extra = calloc(nd + 1, sizeof *extra), nextra = 0;
  if (!extra && !rc) rc = sqlr__oom(w);
  for (size_t k = 0; k < nd && !rc; k++) {
    size_t i = 0;
    while (i < ns && !same_text(&st[i], &dt[k])) i++;
    if (i == ns) extra[nextra++] = k;
  }
  /* The ORDER BY text: for the window (expressions) and outside ("_oK"). */
  cat_buf win = {0}, outer_order = {0};
  for (size_t i = 0; i < ns && !rc; i++) {
    const PgQuery__SortBy *sb = s->sort_clause[i]->sort_by;
    bool desc = sb->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_DESC;
    bool nulls_first = sb->sortby_nulls == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_FIRST ||
                       (sb->sortby_nulls != PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_LAST && desc);
    const char *dir = desc ? (nulls_first ? " DESC NULLS FIRST" : " DESC NULLS LAST")
                           : (nulls_first ? " NULLS FIRST" : " NULLS LAST");
    if (cat_buf_printf(&win, "%s%s%s", i ? ", " : " ORDER BY ", st[i].p, dir) ||
        cat_buf_printf(&outer_order, "%s\"_o%zu\"%s", i ? ", " : " ORDER BY ", i + 1, dir))
      rc = sqlr__oom(w);
  }
  for (size_t k = 0; k < nextra && !rc; k++)
    if (cat_buf_printf(&win, "%s%s NULLS LAST", ns + k ? ", " : " ORDER BY ", dt[extra[k]].p) ||
        cat_buf_printf(&outer_order, "%s\"_o%zu\" NULLS LAST", ns + k ? ", " : " ORDER BY ",
                       ns + k + 1))
      rc = sqlr__oom(w);
  /* The inner SELECT: targets, the sort values, row_number(), then the rest
  ** (FROM ... HAVING ... WINDOW) as already written into b. */
  cat_buf inner = {0};
  if (!rc && cat_buf_append(&inner, b->p + sel_start, targets_end - sel_start)) rc = sqlr__oom(w);
  for (size_t i = 0; i < ns && !rc; i++)
    if (cat_buf_printf(&inner, ", %s", st[i].p)) rc = sqlr__oom(w);
  for (size_t k = 0; k < nextra && !rc; k++)
    if (cat_buf_printf(&inner, ", %s", dt[extra[k]].p)) rc = sqlr__oom(w);
  if (!rc && cat_buf_printf(&inner, ", row_number() OVER (PARTITION BY ")) rc = sqlr__oom(w);
  for (size_t i = 0; i < nd && !rc; i++)
    if (cat_buf_printf(&inner, "%s%s", i ? ", " : "", dt[i].p)) rc = sqlr__oom(w);
  if (!rc && (cat_buf_printf(&inner, "%s)", win.p ? win.p : "") ||
              cat_buf_append(&inner, b->p + targets_end, b->n - targets_end)))
    rc = sqlr__oom(w);
  free(extra);
  free_texts(dt, nd);
  free_texts(st, ns);
  cat_buf_free(&win);
  /* The outer SELECT replaces everything from sel_start on. */
  if (!rc) {
    b->n = sel_start;
    b->p[b->n] = '\0';
    rc = cat_buf_printf(b, "SELECT ");
    for (int i = 0; i < ncols && !rc; i++)
      rc = cat_buf_printf(b, "%s\"_c%d\" AS ", i ? ", " : "", i + 1) || sqlr__ident(b, cols[i].name);
    if (!rc) rc = cat_buf_printf(b, " FROM (WITH \"_syn_d\"(");
    for (int i = 0; i < ncols && !rc; i++) rc = cat_buf_printf(b, "%s\"_c%d\"", i ? ", " : "", i + 1);
    for (size_t i = 0; i < ns + nextra && !rc; i++) rc = cat_buf_printf(b, ", \"_o%zu\"", i + 1);
    if (!rc)
      rc = cat_buf_printf(b, ", \"_rn\") AS (%s) SELECT * FROM \"_syn_d\") WHERE \"_rn\" = 1%s",
                          inner.p, outer_order.p ? outer_order.p : "");
    if (rc) rc = sqlr__oom(w);
  }
  cat_buf_free(&inner);
  cat_buf_free(&outer_order);
  return rc;
}
