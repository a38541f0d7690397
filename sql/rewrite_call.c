/*
** Casts, function calls and output column names for the PostgreSQL ->
** SQLite rewrite (rewrite.h); the expression dispatcher is in
** rewrite_expr.c.
*/
#include "sql/rewrite_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPR(node, ty, tm) sqlr__expr(w, b, sc, (node), (ty), (tm))
#define PUT(s) do { if (cat_buf_printf(b, "%s", (s))) return sqlr__oom(w); } while (0)

/* ---- casts ---- */

static int type_of_name(sqlr_rw *w, const PgQuery__TypeName *tn, uint32_t *oid, int32_t *typmod) {
  if (tn->n_array_bounds) return sqlr__unsupported(w, tn->location, "array types");
  const char *name = sqlr__last_name(tn->names, tn->n_names);
  int32_t mods[2];
  int nmods = 0;
  for (size_t i = 0; i < tn->n_typmods && i < 2; i++) {
    const PgQuery__Node *m = tn->typmods[i];
    if (m->node_case != PG_QUERY__NODE__NODE_A_CONST ||
        m->a_const->val_case != PG_QUERY__A__CONST__VAL_IVAL)
      return sqlr__fail(w, tn->location, SQLST_INVALID_PARAM, "invalid type modifier");
    mods[nmods++] = m->a_const->ival->ival;
  }
  bool serial = false;
  int rc = cat_type_resolve(name, mods, nmods, oid, typmod, &serial, w->e);
  if (rc) {
    w->err_pos = tn->location + 1;
    return rc;
  }
  if (serial)
    return sqlr__fail(w, tn->location, SQLST_UNDEFINED_OBJECT, "type \"%s\" does not exist", name);
  return 0;
}

int sqlr__type_cast(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__TypeCast *tc,
                     uint32_t *type, int32_t *typmod) {
  uint32_t oid;
  int32_t tm;
  int rc = type_of_name(w, tc->type_name, &oid, &tm);
  if (rc) return rc;
  *type = oid;
  *typmod = tm;
  const PgQuery__Node *arg = tc->arg;
  sqlr__note_param(w, arg, oid);
  /* A literal cast ('1'::int, '2024-01-02'::date, 't'::bool) is checked and
  ** converted now with the same input rules as a write, so bad literals
  ** give PostgreSQL's error and SQLite sees a plain constant. */
  if (arg->node_case == PG_QUERY__NODE__NODE_A_CONST && !arg->a_const->isnull &&
      arg->a_const->val_case != PG_QUERY__A__CONST__VAL_BSVAL) {
    const PgQuery__AConst *c = arg->a_const;
    syn_value in, out;
    char num[32];
    if (c->val_case == PG_QUERY__A__CONST__VAL_SVAL) {
      in.type = SYN_V_TEXT;
      in.u.b.p = (const uint8_t *)c->sval->sval;
      in.u.b.n = strlen(c->sval->sval);
    } else if (c->val_case == PG_QUERY__A__CONST__VAL_FVAL) {
      in.type = SYN_V_TEXT;
      in.u.b.p = (const uint8_t *)c->fval->fval;
      in.u.b.n = strlen(c->fval->fval);
      if (sqlr__is_int(oid) || sqlr__is_float(oid)) {
        /* A numeric literal: numeric -> int rounds half away from zero. */
        double d = strtod(c->fval->fval, NULL);
        in.type = SYN_V_REAL;
        in.u.r = sqlr__is_int(oid) ? round(d) : d;
      }
    } else if (c->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
      in.type = SYN_V_INT;
      in.u.i = c->ival->ival;
    } else {
      in.type = SYN_V_INT;
      in.u.i = c->boolval->boolval;
      if (oid != CAT_OID_BOOL && !sqlr__is_int(oid)) {
        snprintf(num, sizeof num, "%s", c->boolval->boolval ? "true" : "false");
        in.type = SYN_V_TEXT;
        in.u.b.p = (const uint8_t *)num;
        in.u.b.n = strlen(num);
      }
    }
    if (in.type == SYN_V_INT && oid == CAT_OID_BOOL && c->val_case == PG_QUERY__A__CONST__VAL_IVAL)
      in.u.i = in.u.i != 0; /* 5::bool is true */
    /* An explicit cast to varchar(n) truncates to n characters where an
    ** assignment would fail with 22001 (PostgreSQL's varchar()). */
    if (oid == CAT_OID_VARCHAR && tm >= 4 && in.type == SYN_V_TEXT) {
      size_t keep = 0, chars = 0;
      while (keep < in.u.b.n && chars < (size_t)(tm - 4)) {
        keep++;
        while (keep < in.u.b.n && (in.u.b.p[keep] & 0xC0) == 0x80) keep++;
        chars++;
      }
      in.u.b.n = keep;
    }
    cat_buf tmp = {0};
    rc = cat_coerce_type(oid, tm, &in, &out, &tmp, w->e);
    if (rc) {
      cat_buf_free(&tmp);
      w->err_pos = tc->location + 1;
      return rc;
    }
    rc = sqlr__literal(w, b, &out, oid);
    cat_buf_free(&tmp);
    return rc;
  }
  uint32_t at = 0;
  int32_t atm = -1;
  cat_buf inner = {0};
  rc = sqlr__expr(w, &inner, sc, arg, &at, &atm);
  if (rc) {
    cat_buf_free(&inner);
    return rc;
  }
  const char *x = inner.p ? inner.p : "";
  switch (oid) {
  case CAT_OID_INT2: case CAT_OID_INT4: case CAT_OID_INT8:
    /* float -> int rounds in PostgreSQL, SQLite's CAST truncates. */
    if (sqlr__is_float(at) || at == CAT_OID_NUMERIC) rc = cat_buf_printf(b, "CAST(round(%s) AS INTEGER)", x);
    else rc = cat_buf_printf(b, "CAST(%s AS INTEGER)", x);
    break;
  case CAT_OID_FLOAT4: case CAT_OID_FLOAT8: rc = cat_buf_printf(b, "CAST(%s AS REAL)", x); break;
  case CAT_OID_NUMERIC:
    if (tm >= 4) rc = cat_buf_printf(b, "round(%s, %d)", x, (tm - 4) & 0xffff);
    else rc = cat_buf_printf(b, "CAST(%s AS NUMERIC)", x);
    break;
  case CAT_OID_BOOL:
    if (at == CAT_OID_BOOL) rc = cat_buf_printf(b, "%s", x);
    else if (sqlr__is_int(at)) rc = cat_buf_printf(b, "(%s <> 0)", x);
    else
      rc = cat_buf_printf(b, "(CASE WHEN %s IS NULL THEN NULL ELSE lower(trim(%s)) IN "
                             "('t', 'true', 'y', 'yes', 'on', '1') END)", x, x);
    break;
  case CAT_OID_TEXT: case CAT_OID_VARCHAR: case CAT_OID_BPCHAR:
    if (at == CAT_OID_BOOL)
      rc = cat_buf_printf(b, "(CASE %s WHEN 1 THEN 'true' WHEN 0 THEN 'false' END)", x);
    else if (oid == CAT_OID_VARCHAR && tm >= 4)
      rc = cat_buf_printf(b, "substr(CAST(%s AS TEXT), 1, %d)", x, tm - 4);
    else rc = cat_buf_printf(b, "CAST(%s AS TEXT)", x);
    break;
  case CAT_OID_DATE: rc = cat_buf_printf(b, "substr(%s, 1, 10)", x); break;
  case CAT_OID_TIMESTAMP:
    if (at == CAT_OID_TIMESTAMPTZ) rc = cat_buf_printf(b, "substr(%s, 1, length(%s) - 3)", x, x);
    else if (at == CAT_OID_DATE) rc = cat_buf_printf(b, "(%s || ' 00:00:00')", x);
    else rc = cat_buf_printf(b, "%s", x);
    break;
  case CAT_OID_TIMESTAMPTZ:
    if (at == CAT_OID_TIMESTAMP) rc = cat_buf_printf(b, "(%s || '+00')", x);
    else if (at == CAT_OID_DATE) rc = cat_buf_printf(b, "(%s || ' 00:00:00+00')", x);
    else rc = cat_buf_printf(b, "%s", x);
    break;
  default:
    if (at == oid) rc = cat_buf_printf(b, "%s", x);
    else {
      cat_buf_free(&inner);
      return sqlr__unsupported(w, tc->location, "casts of non-constant values to bytea");
    }
  }
  cat_buf_free(&inner);
  return rc ? sqlr__oom(w) : 0;
}

/* ---- functions ---- */

static int func_call(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__FuncCall *f,
                     uint32_t *type, int32_t *typmod) {
  const char *name = sqlr__last_name(f->funcname, f->n_funcname);
  if (f->n_funcname == 2) {
    const PgQuery__Node *q = f->funcname[0];
    if (q->node_case != PG_QUERY__NODE__NODE_STRING || strcmp(q->string->sval, "pg_catalog") != 0)
      return sqlr__unsupported(w, f->location, "schema-qualified functions");
  } else if (f->n_funcname != 1) {
    return sqlr__unsupported(w, f->location, "schema-qualified functions");
  }
  if (f->n_agg_order || f->agg_within_group)
    return sqlr__unsupported(w, f->location, "ordered-set aggregates");
  if (f->func_variadic) return sqlr__unsupported(w, f->location, "VARIADIC");
  uint32_t at = 0;
  int32_t atm = -1;
  int rc = 0;
  size_t n = f->n_args;
  *type = 0;
  if (strcmp(name, "now") == 0 || strcmp(name, "transaction_timestamp") == 0 ||
      strcmp(name, "statement_timestamp") == 0) {
    if (n) return sqlr__fail(w, f->location, SQLST_UNDEFINED_FUNCTION,
                             "function %s() takes no arguments", name);
    *type = CAT_OID_TIMESTAMPTZ;
    return sqlr__now_ref(w, b);
  }
  static const struct {
    const char *pg, *sqlite;
    int min, max;
    uint32_t type; /* 0: type of the first argument */
    bool agg;
  } fns[] = {
      {"count", "count", 0, 1, CAT_OID_INT8, true},
      {"sum", "sum", 1, 1, 0, true},
      {"avg", "avg", 1, 1, CAT_OID_NUMERIC, true},
      {"min", "min", 1, 1, 0, true},
      {"max", "max", 1, 1, 0, true},
      {"lower", "lower", 1, 1, CAT_OID_TEXT, false},
      {"upper", "upper", 1, 1, CAT_OID_TEXT, false},
      {"length", "length", 1, 1, CAT_OID_INT4, false},
      {"char_length", "length", 1, 1, CAT_OID_INT4, false},
      {"character_length", "length", 1, 1, CAT_OID_INT4, false},
      {"abs", "abs", 1, 1, 0, false},
      {"round", "round", 1, 2, 0, false},
      {"substr", "substr", 2, 3, CAT_OID_TEXT, false},
      {"substring", "substr", 2, 3, CAT_OID_TEXT, false},
      {"btrim", "trim", 1, 2, CAT_OID_TEXT, false},
      {"ltrim", "ltrim", 1, 2, CAT_OID_TEXT, false},
      {"rtrim", "rtrim", 1, 2, CAT_OID_TEXT, false},
      {"replace", "replace", 3, 3, CAT_OID_TEXT, false},
      {"strpos", "instr", 2, 2, CAT_OID_INT4, false},
      {"coalesce", "coalesce", 1, 100, 0, false},
      {"nullif", "nullif", 2, 2, 0, false},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    if (strcmp(fns[i].pg, name) != 0) continue;
    if (f->agg_star) {
      if (strcmp(name, "count") != 0)
        return sqlr__fail(w, f->location, SQLST_SYNTAX, "%s(*) must be used to call a parameterless aggregate function", name);
      *type = CAT_OID_INT8;
      PUT("count(*)");
      return 0;
    }
    if ((int)n < fns[i].min || (int)n > fns[i].max)
      return sqlr__fail(w, f->location, SQLST_UNDEFINED_FUNCTION,
                        "function %s with %zu arguments does not exist", name, n);
    if (f->agg_distinct && !fns[i].agg)
      return sqlr__fail(w, f->location, SQLST_SYNTAX, "DISTINCT specified, but %s is not an aggregate function", name);
    if (cat_buf_printf(b, "%s(%s", fns[i].sqlite, f->agg_distinct ? "DISTINCT " : ""))
      return sqlr__oom(w);
    for (size_t k = 0; k < n; k++) {
      uint32_t t = 0;
      int32_t tm = -1;
      if (k) PUT(", ");
      if ((rc = EXPR(f->args[k], &t, &tm))) return rc;
      if (k == 0) {
        at = t;
        atm = tm;
      }
    }
    /* SQLite's coalesce() wants two arguments at least. */
    if (strcmp(name, "coalesce") == 0 && n == 1) PUT(", NULL");
    PUT(")");
    *type = fns[i].type ? fns[i].type : at;
    if (!fns[i].type) *typmod = atm;
    if (strcmp(name, "sum") == 0) {
      /* PostgreSQL: sum(int2/int4) is int8, sum(int8) and sum(numeric)
      ** numeric, sum(float) float. */
      if (at == CAT_OID_INT2 || at == CAT_OID_INT4) *type = CAT_OID_INT8;
      else if (at == CAT_OID_INT8) *type = CAT_OID_NUMERIC;
      /* sum(numeric(p,s)) keeps s in its output (PostgreSQL's numeric
      ** values carry their display scale); the typmod carries it here. */
      *typmod = at == CAT_OID_NUMERIC ? atm : -1;
    } else if (strcmp(name, "avg") == 0 && sqlr__is_float(at)) {
      *type = CAT_OID_FLOAT8;
    } else if (strcmp(name, "round") == 0 && sqlr__is_int(at)) {
      *type = CAT_OID_NUMERIC;
    }
    return 0;
  }
  if (strcmp(name, "extract") == 0 && f->n_funcname == 2) return sqlr__extract(w, b, sc, f, type, typmod);
  rc = sqlr__func_more(w, b, sc, f, name, type, typmod);
  if (rc != SQLR_NO_FUNC) return rc;
  char what[96];
  snprintf(what, sizeof what, "function %s()", name);
  return sqlr__unsupported(w, f->location, what);
}

static bool is_aggregate(const char *name) {
  static const char *const aggs[] = {"count", "sum", "avg", "min", "max", "bool_and",
                                     "bool_or", "every", "string_agg"};
  for (size_t i = 0; i < sizeof aggs / sizeof aggs[0]; i++)
    if (strcmp(aggs[i], name) == 0) return true;
  return false;
}

/* A call, with its FILTER (WHERE ...) and its OVER clause when it is used
** as a window function; SQLite has both with PostgreSQL's meaning. */
int sqlr__func_call(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__FuncCall *f,
                    uint32_t *type, int32_t *typmod) {
  if (f->agg_filter) {
    const char *name = sqlr__last_name(f->funcname, f->n_funcname);
    if (!is_aggregate(name)) {
      w->err_pos = f->location + 1;
      return syn_err_set(w->e, SYN_EINVAL, "42809: FILTER specified, but %s is not an aggregate function",
                         name);
    }
  }
  int rc = func_call(w, b, sc, f, type, typmod);
  if (rc) return rc;
  if (f->agg_filter) {
    uint32_t t = 0;
    int32_t tm = -1;
    PUT(" FILTER (WHERE ");
    if ((rc = EXPR(f->agg_filter, &t, &tm))) return rc;
    PUT(")");
  }
  if (!f->over) return 0;
  return sqlr__window(w, b, sc, f);
}

const char *sqlr__colname(const PgQuery__Node *n) {
  switch (n->node_case) {
  case PG_QUERY__NODE__NODE_COLUMN_REF: {
    const PgQuery__ColumnRef *cr = n->column_ref;
    const PgQuery__Node *l = cr->fields[cr->n_fields - 1];
    return l->node_case == PG_QUERY__NODE__NODE_STRING ? l->string->sval : "?column?";
  }
  case PG_QUERY__NODE__NODE_FUNC_CALL:
    return sqlr__last_name(n->func_call->funcname, n->func_call->n_funcname);
  case PG_QUERY__NODE__NODE_TYPE_CAST: {
    const char *inner = sqlr__colname(n->type_cast->arg);
    if (strcmp(inner, "?column?") != 0) return inner;
    return sqlr__last_name(n->type_cast->type_name->names, n->type_cast->type_name->n_names);
  }
  case PG_QUERY__NODE__NODE_CASE_EXPR: return "case";
  case PG_QUERY__NODE__NODE_COALESCE_EXPR: return "coalesce";
  case PG_QUERY__NODE__NODE_MIN_MAX_EXPR:
    return n->min_max_expr->op == PG_QUERY__MIN_MAX_OP__IS_GREATEST ? "greatest" : "least";
  case PG_QUERY__NODE__NODE_A_EXPR:
    return n->a_expr->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NULLIF ? "nullif" : "?column?";
  case PG_QUERY__NODE__NODE_SUB_LINK:
    if (n->sub_link->sub_link_type == PG_QUERY__SUB_LINK_TYPE__EXISTS_SUBLINK) return "exists";
    if (n->sub_link->sub_link_type == PG_QUERY__SUB_LINK_TYPE__EXPR_SUBLINK &&
        n->sub_link->subselect->node_case == PG_QUERY__NODE__NODE_SELECT_STMT) {
      const PgQuery__SelectStmt *s = n->sub_link->subselect->select_stmt;
      if (s->n_target_list == 1 && s->target_list[0]->node_case == PG_QUERY__NODE__NODE_RES_TARGET) {
        const PgQuery__ResTarget *rt = s->target_list[0]->res_target;
        return rt->name && *rt->name ? rt->name : sqlr__colname(rt->val);
      }
    }
    return "?column?";
  case PG_QUERY__NODE__NODE_SQLVALUE_FUNCTION:
    switch (n->sqlvalue_function->op) {
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_DATE: return "current_date";
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP:
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP_N: return "localtimestamp";
    default: return "current_timestamp";
    }
  default: return "?column?";
  }
}
