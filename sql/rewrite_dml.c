/*
** INSERT/UPDATE/DELETE planned as queries, the entry point sqlr_rewrite()
** and DEFAULT expressions (rewrite.h).
*/
#include "sql/rewrite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PUT(s) do { if (cat_buf_printf(b, "%s", (s))) return sqlr__oom(w); } while (0)

static int target_table(sqlr_rw *w, const PgQuery__RangeVar *rv, const cat_table **t,
                        const char **alias) {
  if (rv->schemaname && *rv->schemaname && strcmp(rv->schemaname, "public") != 0)
    return sqlr__unsupported(w, rv->location, "schema-qualified names");
  if (!w->cat || !w->cat->lookup || w->cat->lookup(w->cat->ctx, rv->relname, t) != 0 || !*t)
    return sqlr__fail(w, rv->location, SQLST_UNDEFINED_TABLE, "relation \"%s\" does not exist",
                      rv->relname);
  *alias = rv->alias ? rv->alias->aliasname : rv->relname;
  return 0;
}

static int column_of(sqlr_rw *w, const cat_table *t, const PgQuery__ResTarget *rt, int *idx) {
  if (rt->n_indirection) return sqlr__unsupported(w, rt->location, "assignment to subscripts or fields");
  *idx = cat_table_find_column(t, rt->name);
  if (*idx < 0)
    return sqlr__fail(w, rt->location, SQLST_UNDEFINED_COLUMN,
                      "column \"%s\" of relation \"%s\" does not exist", rt->name, t->name);
  return 0;
}

/* The old row: every column, then the rowid of rowid-keyed tables. */
static int old_row(sqlr_rw *w, cat_buf *b, const cat_table *t, const char *alias) {
  for (int i = 0; i < t->ncols; i++) {
    if (i) PUT(", ");
    if (sqlr__ident(b, alias) || cat_buf_printf(b, ".") || sqlr__ident(b, t->cols[i].name))
      return sqlr__oom(w);
  }
  if (t->hidden_rowid) {
    PUT(", ");
    if (sqlr__ident(b, alias)) return sqlr__oom(w);
    PUT(".rowid");
  }
  return 0;
}

static int old_row_cols(sqlr_rw *w, sqlr_query *q, const cat_table *t) {
  q->ncols = t->ncols + (t->hidden_rowid ? 1 : 0);
  q->cols = calloc((size_t)q->ncols, sizeof *q->cols);
  if (!q->cols) return sqlr__oom(w);
  for (int i = 0; i < q->ncols; i++) {
    const char *name = i < t->ncols ? t->cols[i].name : "rowid";
    q->cols[i].name = malloc(strlen(name) + 1);
    if (!q->cols[i].name) return sqlr__oom(w);
    strcpy(q->cols[i].name, name);
    q->cols[i].type_oid = i < t->ncols ? t->cols[i].type_oid : CAT_OID_INT8;
    q->cols[i].typmod = i < t->ncols ? t->cols[i].typmod : -1;
  }
  return 0;
}

static int returning(sqlr_rw *w, sqlr_query *q, const cat_table *t, const char *alias,
                     PgQuery__Node **list, size_t n) {
  if (!n) return 0;
  sqlr_scope sc = {0};
  sc.ents[sc.n++] = (sqlr_ent){.alias = alias, .t = t, .is_row = true, .row_param0 = 1};
  cat_buf buf = {0}, *b = &buf;
  sqlr_col *cols = NULL;
  int ncols = 0;
  int rc = cat_buf_printf(b, "SELECT ") ? sqlr__oom(w) : 0;
  /* Reuse the SELECT target-list logic through a synthetic statement. */
  PgQuery__SelectStmt s = PG_QUERY__SELECT_STMT__INIT;
  s.target_list = list;
  s.n_target_list = n;
  if (!rc) {
    cat_buf tmp = {0};
    rc = sqlr__select(w, &tmp, &sc, &s, &cols, &ncols);
    /* sqlr__select wrote "SELECT <targets>" with sc as the parent scope,
    ** so references resolve to the bound row. */
    if (!rc) {
      cat_buf_free(b);
      *b = tmp;
    } else {
      cat_buf_free(&tmp);
    }
  }
  if (rc) {
    cat_buf_free(b);
    return rc;
  }
  q->returning_sql = b->p;
  q->nret = ncols;
  q->ret_cols = calloc((size_t)(ncols ? ncols : 1), sizeof *q->ret_cols);
  if (!q->ret_cols) return sqlr__oom(w);
  for (int i = 0; i < ncols; i++) {
    q->ret_cols[i] = cols[i];
    q->ret_cols[i].name = malloc(strlen(cols[i].name) + 1);
    if (!q->ret_cols[i].name) return sqlr__oom(w);
    strcpy(q->ret_cols[i].name, cols[i].name);
  }
  return 0;
}

static int rw_update(sqlr_rw *w, const PgQuery__UpdateStmt *u, sqlr_query *q, cat_buf *b) {
  const cat_table *t;
  const char *alias;
  int rc = 0;
  if (u->with_clause) return sqlr__unsupported(w, -1, "WITH in UPDATE");
  if ((rc = target_table(w, u->relation, &t, &alias))) return rc;
  q->target = t;
  q->locking = true;
  sqlr_scope sc = {0};
  sc.ents[sc.n++] = (sqlr_ent){.alias = alias, .t = t};
  /* UPDATE ... FROM: the extra FROM items join the target's scope level;
  ** the engine takes the first joined row per target key, as PostgreSQL
  ** leaves the choice unspecified. */
  cat_buf fb = {0};
  for (size_t i = 0; i < u->n_from_clause && !rc; i++) {
    if (cat_buf_printf(&fb, ", ")) rc = sqlr__oom(w);
    if (!rc) rc = sqlr__from_item(w, &fb, &sc, u->from_clause[i]);
  }
  if (rc) {
    cat_buf_free(&fb);
    return rc;
  }
  if ((rc = old_row_cols(w, q, t))) {
    cat_buf_free(&fb);
    return rc;
  }
  rc = cat_buf_printf(b, "SELECT ") ? sqlr__oom(w) : 0;
  if (!rc) rc = old_row(w, b, t, alias);
  if (!rc && !(q->set_cols = calloc(u->n_target_list ? u->n_target_list : 1, sizeof(int))))
    rc = sqlr__oom(w);
  for (size_t i = 0; i < u->n_target_list && !rc; i++) {
    const PgQuery__ResTarget *rt = u->target_list[i]->res_target;
    if (rt->val && rt->val->node_case == PG_QUERY__NODE__NODE_MULTI_ASSIGN_REF) {
      rc = sqlr__unsupported(w, rt->location, "multiple-column assignment");
      break;
    }
    int idx;
    if ((rc = column_of(w, t, rt, &idx))) break;
    for (int k = 0; k < q->nset && !rc; k++)
      if (q->set_cols[k] == idx)
        rc = sqlr__fail(w, rt->location, SQLST_SYNTAX, "multiple assignments to same column \"%s\"",
                        rt->name);
    if (rc) break;
    q->set_cols[q->nset++] = idx;
    sqlr__note_param(w, rt->val, t->cols[idx].type_oid);
    uint32_t ty;
    int32_t tm;
    rc = cat_buf_printf(b, ", ") ? sqlr__oom(w) : 0;
    size_t start = b->n;
    if (!rc) rc = sqlr__expr(w, b, &sc, rt->val, &ty, &tm);
    if (!rc) rc = sqlr__assign_conv(w, b, start, ty, t->cols[idx].type_oid);
  }
  if (!rc) rc = cat_buf_printf(b, " FROM ") || sqlr__ident(b, t->name) ? sqlr__oom(w) : 0;
  if (!rc && u->relation->alias)
    rc = cat_buf_printf(b, " AS ") || sqlr__ident(b, alias) ? sqlr__oom(w) : 0;
  if (!rc && fb.n) rc = cat_buf_append(b, fb.p, fb.n) ? sqlr__oom(w) : 0;
  cat_buf_free(&fb);
  if (rc) return rc;
  if (u->where_clause) {
    uint32_t ty;
    int32_t tm;
    PUT(" WHERE ");
    if ((rc = sqlr__expr(w, b, &sc, u->where_clause, &ty, &tm))) return rc;
  }
  return returning(w, q, t, alias, u->returning_list, u->n_returning_list);
}

static int rw_delete(sqlr_rw *w, const PgQuery__DeleteStmt *d, sqlr_query *q, cat_buf *b) {
  const cat_table *t;
  const char *alias;
  int rc = 0;
  if (d->with_clause) return sqlr__unsupported(w, -1, "WITH in DELETE");
  if ((rc = target_table(w, d->relation, &t, &alias))) return rc;
  q->target = t;
  q->locking = true;
  sqlr_scope sc = {0};
  sc.ents[sc.n++] = (sqlr_ent){.alias = alias, .t = t};
  cat_buf fb = {0};
  for (size_t i = 0; i < d->n_using_clause && !rc; i++) {
    if (cat_buf_printf(&fb, ", ")) rc = sqlr__oom(w);
    if (!rc) rc = sqlr__from_item(w, &fb, &sc, d->using_clause[i]);
  }
  if (!rc) rc = old_row_cols(w, q, t);
  if (!rc) rc = cat_buf_printf(b, "SELECT ") ? sqlr__oom(w) : 0;
  if (!rc) rc = old_row(w, b, t, alias);
  if (!rc) rc = cat_buf_printf(b, " FROM ") || sqlr__ident(b, t->name) ? sqlr__oom(w) : 0;
  if (!rc && d->relation->alias)
    rc = cat_buf_printf(b, " AS ") || sqlr__ident(b, alias) ? sqlr__oom(w) : 0;
  if (!rc && fb.n) rc = cat_buf_append(b, fb.p, fb.n) ? sqlr__oom(w) : 0;
  cat_buf_free(&fb);
  if (rc) return rc;
  if (d->where_clause) {
    uint32_t ty;
    int32_t tm;
    PUT(" WHERE ");
    if ((rc = sqlr__expr(w, b, &sc, d->where_clause, &ty, &tm))) return rc;
  }
  return returning(w, q, t, alias, d->returning_list, d->n_returning_list);
}

static bool same_set(const int *a, int na, const int *b, int nb) {
  if (na != nb) return false;
  for (int i = 0; i < na; i++) {
    bool found = false;
    for (int k = 0; k < nb; k++) found |= a[i] == b[k];
    if (!found) return false;
  }
  return true;
}

static int on_conflict(sqlr_rw *w, const PgQuery__OnConflictClause *oc, sqlr_query *q,
                       const cat_table *t, const char *alias) {
  int rc = 0;
  q->conflict = oc->action == PG_QUERY__ON_CONFLICT_ACTION__ONCONFLICT_UPDATE ? SQLR_CONFLICT_UPDATE
                                                                            : SQLR_CONFLICT_NOTHING;
  const PgQuery__InferClause *inf = oc->infer;
  if (inf && inf->where_clause) return sqlr__unsupported(w, inf->location, "partial-index inference");
  if (inf && inf->conname && *inf->conname) {
    char pkey[256];
    snprintf(pkey, sizeof pkey, "%s_pkey", t->name);
    const int *cols = NULL;
    int n = 0;
    if (t->npk && strcmp(inf->conname, pkey) == 0) cols = t->pk, n = t->npk;
    for (int i = 0; i < t->nuniques && !cols; i++)
      if (strcmp(t->uniques[i].name, inf->conname) == 0) cols = t->uniques[i].cols, n = t->uniques[i].ncols;
    if (!cols)
      return sqlr__fail(w, inf->location, SQLST_UNDEFINED_OBJECT,
                        "constraint \"%s\" for table \"%s\" does not exist", inf->conname, t->name);
    q->conflict_cols = malloc(sizeof(int) * (size_t)n);
    if (!q->conflict_cols) return sqlr__oom(w);
    memcpy(q->conflict_cols, cols, sizeof(int) * (size_t)n);
    q->nconflict_cols = n;
  } else if (inf) {
    q->conflict_cols = calloc(inf->n_index_elems ? inf->n_index_elems : 1, sizeof(int));
    if (!q->conflict_cols) return sqlr__oom(w);
    for (size_t i = 0; i < inf->n_index_elems; i++) {
      const PgQuery__Node *el = inf->index_elems[i];
      if (el->node_case != PG_QUERY__NODE__NODE_INDEX_ELEM || !el->index_elem->name ||
          !*el->index_elem->name)
        return sqlr__unsupported(w, inf->location, "expressions in ON CONFLICT");
      int idx = cat_table_find_column(t, el->index_elem->name);
      if (idx < 0)
        return sqlr__fail(w, inf->location, SQLST_UNDEFINED_COLUMN, "column \"%s\" does not exist",
                          el->index_elem->name);
      q->conflict_cols[q->nconflict_cols++] = idx;
    }
    bool match = t->npk && same_set(q->conflict_cols, q->nconflict_cols, t->pk, t->npk);
    for (int i = 0; i < t->nuniques && !match; i++)
      match = same_set(q->conflict_cols, q->nconflict_cols, t->uniques[i].cols, t->uniques[i].ncols);
    if (!match)
      return sqlr__fail(w, inf->location, SQLST_INVALID_COLUMN_REF,
                        "there is no unique or exclusion constraint matching the ON CONFLICT specification");
  } else if (q->conflict == SQLR_CONFLICT_UPDATE) {
    return sqlr__fail(w, oc->location, SQLST_SYNTAX,
                      "ON CONFLICT DO UPDATE requires inference specification or constraint name");
  }
  if (q->conflict != SQLR_CONFLICT_UPDATE) return 0;
  sqlr_scope sc = {0};
  sc.ents[sc.n++] = (sqlr_ent){.alias = alias, .t = t, .is_row = true, .row_param0 = 1};
  sc.ents[sc.n++] = (sqlr_ent){.alias = "excluded", .t = t, .is_row = true, .row_param0 = 1 + t->ncols};
  cat_buf buf = {0}, *b = &buf;
  q->conflict_set_cols = calloc(oc->n_target_list ? oc->n_target_list : 1, sizeof(int));
  if (!q->conflict_set_cols) return sqlr__oom(w);
  rc = cat_buf_printf(b, "SELECT ") ? sqlr__oom(w) : 0;
  for (size_t i = 0; i < oc->n_target_list && !rc; i++) {
    const PgQuery__ResTarget *rt = oc->target_list[i]->res_target;
    int idx;
    if (rt->val && rt->val->node_case == PG_QUERY__NODE__NODE_MULTI_ASSIGN_REF) {
      rc = sqlr__unsupported(w, rt->location, "multiple-column assignment");
      break;
    }
    if ((rc = column_of(w, t, rt, &idx))) break;
    q->conflict_set_cols[q->nconflict_set++] = idx;
    sqlr__note_param(w, rt->val, t->cols[idx].type_oid);
    if (i && cat_buf_printf(b, ", ")) rc = sqlr__oom(w);
    uint32_t ty;
    int32_t tm;
    size_t start = b->n;
    if (!rc) rc = sqlr__expr(w, b, &sc, rt->val, &ty, &tm);
    if (!rc) rc = sqlr__assign_conv(w, b, start, ty, t->cols[idx].type_oid);
  }
  if (!rc && oc->where_clause) {
    uint32_t ty;
    int32_t tm;
    rc = cat_buf_printf(b, " WHERE ") ? sqlr__oom(w) : 0;
    if (!rc) rc = sqlr__expr(w, b, &sc, oc->where_clause, &ty, &tm);
  }
  if (rc) {
    cat_buf_free(b);
    return rc;
  }
  q->conflict_sql = b->p;
  return 0;
}


/* INSERT ... VALUES with DEFAULT items. A column that is DEFAULT in every
** row is dropped from insert_cols, so the engine fills its default (serial
** values, defaults that read :now). DEFAULT mixed with values in one column
** of a multi-row VALUES would need a column list per row: unsupported. */
typedef struct {
  PgQuery__SelectStmt s;
  PgQuery__Node **rowptr;
  PgQuery__Node *rownode;
  PgQuery__List *rowlist;
  PgQuery__Node **items;
} vals_copy;

static void vals_copy_free(vals_copy *vc) {
  free(vc->rowptr);
  free(vc->rownode);
  free(vc->rowlist);
  free(vc->items);
}

static int strip_defaults(sqlr_rw *w, sqlr_query *q, const cat_table *t,
                          const PgQuery__InsertStmt *ins, const PgQuery__SelectStmt *s,
                          vals_copy *vc, const PgQuery__SelectStmt **src, bool *stripped) {
  *src = s;
  *stripped = false;
  if (!s->n_values_lists || s->values_lists[0]->node_case != PG_QUERY__NODE__NODE_LIST) return 0;
  size_t nrows = s->n_values_lists, width = s->values_lists[0]->list->n_items;
  bool any = false;
  for (size_t r = 0; r < nrows; r++) {
    const PgQuery__Node *row = s->values_lists[r];
    if (row->node_case != PG_QUERY__NODE__NODE_LIST || row->list->n_items != width) return 0;
    for (size_t c = 0; c < width; c++)
      any |= row->list->items[c]->node_case == PG_QUERY__NODE__NODE_SET_TO_DEFAULT;
  }
  if (!any) return 0;
  if (ins->n_cols == 0) {
    if (width > (size_t)t->ncols)
      return sqlr__fail(w, -1, SQLST_SYNTAX, "INSERT has more expressions than target columns");
    for (size_t c = 0; c < width; c++) q->insert_cols[c] = (int)c;
    q->ninsert = (int)width;
  } else if (width != (size_t)q->ninsert) {
    return sqlr__fail(w, -1, SQLST_SYNTAX, width > (size_t)q->ninsert
                      ? "INSERT has more expressions than target columns"
                      : "INSERT has more target columns than expressions");
  }
  vc->rowptr = calloc(nrows, sizeof *vc->rowptr);
  vc->rownode = calloc(nrows, sizeof *vc->rownode);
  vc->rowlist = calloc(nrows, sizeof *vc->rowlist);
  vc->items = calloc(nrows * width + 1, sizeof *vc->items);
  if (!vc->rowptr || !vc->rownode || !vc->rowlist || !vc->items) return sqlr__oom(w);
  size_t kept = 0;
  for (size_t c = 0; c < width; c++) {
    size_t ndef = 0;
    for (size_t r = 0; r < nrows; r++)
      ndef += s->values_lists[r]->list->items[c]->node_case == PG_QUERY__NODE__NODE_SET_TO_DEFAULT;
    if (ndef == nrows) continue;
    if (ndef)
      return sqlr__unsupported(w, -1, "DEFAULT mixed with values in one column of a multi-row VALUES");
    q->insert_cols[kept] = q->insert_cols[c];
    for (size_t r = 0; r < nrows; r++) vc->items[r * width + kept] = s->values_lists[r]->list->items[c];
    kept++;
  }
  if (kept == 0) {
    /* Every column DEFAULT: like DEFAULT VALUES, once per row. */
    q->ninsert = 0;
    *stripped = true;
    *src = NULL;
    return 0;
  }
  q->ninsert = (int)kept;
  for (size_t r = 0; r < nrows; r++) {
    PgQuery__List l = PG_QUERY__LIST__INIT;
    l.items = &vc->items[r * width];
    l.n_items = kept;
    vc->rowlist[r] = l;
    PgQuery__Node nd = PG_QUERY__NODE__INIT;
    nd.node_case = PG_QUERY__NODE__NODE_LIST;
    nd.list = &vc->rowlist[r];
    vc->rownode[r] = nd;
    vc->rowptr[r] = &vc->rownode[r];
  }
  vc->s = *s;
  vc->s.values_lists = vc->rowptr;
  *src = &vc->s;
  *stripped = true;
  return 0;
}

static int rw_insert(sqlr_rw *w, const PgQuery__InsertStmt *ins, sqlr_query *q, cat_buf *b) {
  const cat_table *t;
  const char *alias;
  int rc = 0;
  if (ins->with_clause) return sqlr__unsupported(w, -1, "WITH in INSERT");
  if (ins->override != PG_QUERY__OVERRIDING_KIND__OVERRIDING_NOT_SET &&
      ins->override != PG_QUERY__OVERRIDING_KIND__OVERRIDING_KIND_UNDEFINED)
    return sqlr__unsupported(w, -1, "OVERRIDING");
  if ((rc = target_table(w, ins->relation, &t, &alias))) return rc;
  q->target = t;
  q->insert_cols = calloc((size_t)t->ncols + 1, sizeof(int));
  if (!q->insert_cols) return sqlr__oom(w);
  for (size_t i = 0; i < ins->n_cols; i++) {
    const PgQuery__ResTarget *rt = ins->cols[i]->res_target;
    int idx;
    if ((rc = column_of(w, t, rt, &idx))) return rc;
    for (int k = 0; k < q->ninsert; k++)
      if (q->insert_cols[k] == idx)
        return sqlr__fail(w, rt->location, SQLST_DUPLICATE_COLUMN,
                          "column \"%s\" specified more than once", rt->name);
    q->insert_cols[q->ninsert++] = idx;
  }
  if (!ins->select_stmt) { /* DEFAULT VALUES */
    q->ninsert = 0;
    PUT("SELECT 1");
  } else {
    if (ins->select_stmt->node_case != PG_QUERY__NODE__NODE_SELECT_STMT)
      return sqlr__unsupported(w, -1, "this INSERT source");
    sqlr_col *cols = NULL;
    int ncols = 0;
    vals_copy vc = {0};
    const PgQuery__SelectStmt *src;
    bool stripped;
    rc = strip_defaults(w, q, t, ins, ins->select_stmt->select_stmt, &vc, &src, &stripped);
    if (!rc && src) rc = sqlr__select(w, b, NULL, src, &cols, &ncols);
    else if (!rc) {
      /* All DEFAULT: one row per VALUES row, no values. */
      for (size_t r = 0; r < ins->select_stmt->select_stmt->n_values_lists && !rc; r++)
        rc = cat_buf_printf(b, r ? " UNION ALL SELECT 1" : "SELECT 1") ? sqlr__oom(w) : 0;
    }
    /* $n in a VALUES row takes the type of its target column. */
    for (size_t r = 0; !rc && src && r < src->n_values_lists; r++) {
      const PgQuery__Node *row = src->values_lists[r];
      if (row->node_case != PG_QUERY__NODE__NODE_LIST) continue;
      for (size_t i = 0; i < row->list->n_items; i++) {
        int col = stripped || ins->n_cols ? (i < (size_t)q->ninsert ? q->insert_cols[i] : -1)
                                          : (i < (size_t)t->ncols ? (int)i : -1);
        if (col >= 0) sqlr__note_param(w, row->list->items[i], t->cols[col].type_oid);
      }
    }
    vals_copy_free(&vc);
    if (rc) return rc;
    if (stripped) {
      /* insert_cols were settled by strip_defaults */
    } else if (ins->n_cols == 0) {
      if (ncols > t->ncols)
        return sqlr__fail(w, -1, SQLST_SYNTAX, "INSERT has more expressions than target columns");
      for (int i = 0; i < ncols; i++) q->insert_cols[i] = i;
      q->ninsert = ncols;
    } else if (ncols > q->ninsert) {
      return sqlr__fail(w, -1, SQLST_SYNTAX, "INSERT has more expressions than target columns");
    } else if (ncols < q->ninsert) {
      return sqlr__fail(w, -1, SQLST_SYNTAX, "INSERT has more target columns than expressions");
    }
    q->ncols = ncols;
    q->cols = calloc((size_t)(ncols ? ncols : 1), sizeof *q->cols);
    if (!q->cols) return sqlr__oom(w);
    for (int i = 0; i < ncols; i++) {
      q->cols[i] = cols[i];
      q->cols[i].name = malloc(strlen(cols[i].name) + 1);
      if (!q->cols[i].name) return sqlr__oom(w);
      strcpy(q->cols[i].name, cols[i].name);
    }
  }
  if (ins->on_conflict_clause && (rc = on_conflict(w, ins->on_conflict_clause, q, t, alias)))
    return rc;
  return returning(w, q, t, alias, ins->returning_list, ins->n_returning_list);
}

/* Replace parameter markers once the client's parameter count is known. */
static int finish(sqlr_rw *w, char **sqlp, const sqlr_query *q) {
  char *s = *sqlp;
  if (!s || !strchr(s, SQLR_MARK)) return 0;
  cat_buf out = {0};
  int rc = 0;
  for (const char *p = s; *p && !rc;) {
    if (*p != SQLR_MARK) {
      const char *e = strchr(p, SQLR_MARK);
      size_t n = e ? (size_t)(e - p) : strlen(p);
      rc = cat_buf_append(&out, p, n);
      p += n;
      continue;
    }
    const char *end = strchr(p + 1, SQLR_MARK);
    if (!end) {
      rc = SYN_EINTERNAL;
      break;
    }
    if (p[1] == 'N') rc = cat_buf_printf(&out, "?%d", q->now_param);
    else rc = cat_buf_printf(&out, "?%d", q->row_base + atoi(p + 2));
    p = end + 1;
  }
  if (rc) {
    cat_buf_free(&out);
    return sqlr__oom(w);
  }
  free(s);
  *sqlp = out.p;
  return 0;
}

int sqlr_rewrite(const sqlp_stmt *st, const sqlr_catalog *cat, sqlr_query **out, int *err_pos,
                 syn_err *e) {
  *out = NULL;
  if (err_pos) *err_pos = 0;
  if (st->status) {
    if (e) *e = st->err;
    if (err_pos) *err_pos = st->err_pos;
    return st->status;
  }
  sqlr_query *q = calloc(1, sizeof *q);
  if (!q) return syn_err_set(e, SYN_ENOMEM, "out of memory");
  q->kind = st->kind;
  sqlr_rw w = {.cat = cat, .e = e};
  cat_buf buf = {0};
  int rc = 0;
  const PgQuery__Node *n = st->node;
  switch (st->kind) {
  case SQLP_SELECT: {
    sqlr_col *cols;
    int ncols;
    const PgQuery__SelectStmt *s = n->select_stmt;
    /* FOR UPDATE / FOR SHARE: every scanned table is read with locks (FOR
    ** SHARE is served by the stronger lock). NOWAIT and SKIP LOCKED change
    ** what a conflict does and are refused rather than ignored. */
    rc = 0;
    for (size_t i = 0; i < s->n_locking_clause && !rc; i++) {
      const PgQuery__Node *lc = s->locking_clause[i];
      q->locking = true;
      if (lc->node_case == PG_QUERY__NODE__NODE_LOCKING_CLAUSE &&
          lc->locking_clause->wait_policy != PG_QUERY__LOCK_WAIT_POLICY__LockWaitBlock)
        rc = sqlr__unsupported(&w, -1, "NOWAIT and SKIP LOCKED");
      else if (lc->node_case == PG_QUERY__NODE__NODE_LOCKING_CLAUSE &&
               lc->locking_clause->n_locked_rels)
        rc = sqlr__unsupported(&w, -1, "FOR UPDATE OF a table list");
    }
    if (!rc) rc = sqlr__select(&w, &buf, NULL, s, &cols, &ncols);
    if (!rc) {
      q->cols = calloc((size_t)(ncols ? ncols : 1), sizeof *q->cols);
      if (!q->cols) rc = sqlr__oom(&w);
      for (int i = 0; !rc && i < ncols; i++) {
        q->cols[i] = cols[i];
        q->cols[i].name = malloc(strlen(cols[i].name) + 1);
        if (!q->cols[i].name) rc = sqlr__oom(&w);
        else strcpy(q->cols[i].name, cols[i].name);
        q->ncols = i + 1;
      }
    }
    break;
  }
  case SQLP_INSERT: rc = rw_insert(&w, n->insert_stmt, q, &buf); break;
  case SQLP_UPDATE: rc = rw_update(&w, n->update_stmt, q, &buf); break;
  case SQLP_DELETE: rc = rw_delete(&w, n->delete_stmt, q, &buf); break;
  default:
    rc = syn_err_set(e, SYN_EINVAL, "%s statements are not rewritten for SQLite",
                     sqlp_kind_name(st->kind));
  }
  q->sql = buf.p;
  if (!rc) {
    q->nparams = w.max_param;
    q->param_types = calloc((size_t)(w.max_param ? w.max_param : 1), sizeof *q->param_types);
    if (!q->param_types) rc = sqlr__oom(&w);
    for (int i = 0; q->param_types && i < w.max_param && i < w.nptypes; i++)
      q->param_types[i] = w.ptypes[i];
    q->row_base = w.max_param + 1;
    q->now_param = w.uses_now ? w.max_param + 1 : 0;
    rc = finish(&w, &q->sql, q);
    if (!rc) rc = finish(&w, &q->returning_sql, q);
    if (!rc) rc = finish(&w, &q->conflict_sql, q);
  }
  sqlr__rw_cleanup(&w);
  if (rc) {
    if (err_pos) *err_pos = w.err_pos;
    sqlr_query_free(q);
    return rc;
  }
  *out = q;
  return 0;
}

void sqlr_query_free(sqlr_query *q) {
  if (!q) return;
  free(q->sql);
  free(q->param_types);
  for (int i = 0; i < q->ncols; i++) free(q->cols[i].name);
  free(q->cols);
  free(q->set_cols);
  free(q->insert_cols);
  free(q->returning_sql);
  for (int i = 0; i < q->nret; i++) free(q->ret_cols[i].name);
  free(q->ret_cols);
  free(q->conflict_cols);
  free(q->conflict_sql);
  free(q->conflict_set_cols);
  free(q);
}

int sqlr_default_expr(const struct PgQuery__Node *expr, char **sql, syn_err *e) {
  sqlr_rw w = {.e = e, .in_default = true};
  cat_buf b = {0};
  uint32_t t;
  int32_t tm;
  *sql = NULL;
  int rc = sqlr__expr(&w, &b, NULL, expr, &t, &tm);
  sqlr__rw_cleanup(&w);
  if (rc) {
    cat_buf_free(&b);
    return rc;
  }
  *sql = b.p;
  return 0;
}
