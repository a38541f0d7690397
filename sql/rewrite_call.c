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
  int rc = sqlr__pgcat_cast(w, b, sc, tc, type, typmod);
  if (rc != SQLR_NO_FUNC) return rc;
  rc = type_of_name(w, tc->type_name, &oid, &tm);
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
      if (sqlr__is_int(oid)) {
        /* A numeric literal: numeric -> int rounds half away from zero,
        ** exactly (12345678901234567890.5 is no double). */
        if ((rc = cat_numeric_assign(oid, &in, w->e))) return rc;
      } else if (sqlr__is_float(oid)) {
        in.type = SYN_V_REAL;
        in.u.r = strtod(c->fval->fval, NULL);
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
      /* PostgreSQL reports numeric(p,s) overflow without a position. */
      bool overflow = oid == CAT_OID_NUMERIC && w->e && strncmp(w->e->msg, "22003", 5) == 0;
      /* PostgreSQL points at a string literal that does not parse, and
      ** gives no position for a number out of the type's range. */
      w->err_pos = overflow || c->val_case != PG_QUERY__A__CONST__VAL_SVAL ? 0 : c->location + 1;
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
  /* Text (or an untyped value, such as a parameter) to a type with input
  ** rules: checked at run time by syn_cast() with the same rules as a
  ** write, so 'abc' fails with 22P02 where SQLite's CAST would give 0. */
  bool from_text = at == 0 || at == CAT_OID_TEXT || at == CAT_OID_VARCHAR || at == CAT_OID_BPCHAR;
  bool checked = oid == CAT_OID_INT2 || oid == CAT_OID_INT4 || oid == CAT_OID_INT8 ||
                 oid == CAT_OID_FLOAT4 || oid == CAT_OID_FLOAT8 || oid == CAT_OID_BOOL ||
                 oid == CAT_OID_DATE || oid == CAT_OID_TIMESTAMP || oid == CAT_OID_TIMESTAMPTZ;
  /* A parameter takes the cast's type (sqlr__note_param above): its value
  ** is converted and checked when it is bound. */
  if (arg->node_case == PG_QUERY__NODE__NODE_PARAM_REF) checked = false;
  if (from_text && checked) {
    rc = cat_buf_printf(b, "syn_cast(%s, %u, %d)", x, (unsigned)oid, (int)tm);
    cat_buf_free(&inner);
    return rc ? sqlr__oom(w) : 0;
  }
  switch (oid) {
  case CAT_OID_INT2: case CAT_OID_INT4: case CAT_OID_INT8:
    /* numeric -> int rounds half away from zero with a range check;
    ** float -> int rounds in PostgreSQL, SQLite's CAST truncates. */
    if (at == CAT_OID_NUMERIC)
      rc = cat_buf_printf(b, "syn_num_int(%s, %d)", x,
                          oid == CAT_OID_INT2 ? 2 : oid == CAT_OID_INT4 ? 4 : 8);
    else if (sqlr__is_float(at)) rc = cat_buf_printf(b, "CAST(round(%s) AS INTEGER)", x);
    else rc = cat_buf_printf(b, "CAST(%s AS INTEGER)", x);
    break;
  case CAT_OID_FLOAT4: case CAT_OID_FLOAT8:
    if (at == CAT_OID_NUMERIC) rc = cat_buf_printf(b, "syn_num_float(%s)", x);
    else rc = cat_buf_printf(b, "CAST(%s AS REAL)", x);
    break;
  case CAT_OID_NUMERIC:
    /* Exact numeric text (sql/engine/eng_numeric.c): text input is checked
    ** (22P02), numeric(p,s) rounds and checks (22003). */
    if (at == CAT_OID_NUMERIC && tm < 4) rc = cat_buf_printf(b, "%s", x);
    else if (tm >= 4) rc = cat_buf_printf(b, "(syn_num(%s, %d) COLLATE synnum)", x, (int)tm);
    else rc = cat_buf_printf(b, "(syn_num(%s) COLLATE synnum)", x);
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

static uint32_t peek_type(sqlr_rw *w, sqlr_scope *sc, const PgQuery__Node *n) {
  int32_t tm;
  return sqlr__peek_type(w, sc, n, &tm);
}

/* Functions whose PostgreSQL result over numeric (or int8 for sum, any
** integer for avg) is exact numeric: sum, avg, round, trunc, abs, ceil,
** floor, sign, mod. They run in sql/engine/eng_numeric.c. For integer and
** float arguments, ceil/floor/sign/trunc are PostgreSQL's float8
** functions. Anything else is left to the general table (*handled false). */
static int num_func(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__FuncCall *f,
                    const char *name, uint32_t *type, int32_t *typmod, bool *handled) {
  static const struct { const char *pg; int min, max, unary; } fs[] = {
      {"sum", 1, 1, -1},  {"avg", 1, 1, -1},   {"round", 1, 2, -1}, {"trunc", 1, 2, -1},
      {"abs", 1, 1, 0},   {"ceil", 1, 1, 2},   {"ceiling", 1, 1, 2}, {"floor", 1, 1, 3},
      {"sign", 1, 1, 4},  {"mod", 2, 2, -1},
  };
  size_t k = 0;
  while (k < sizeof fs / sizeof fs[0] && strcmp(fs[k].pg, name) != 0) k++;
  if (k == sizeof fs / sizeof fs[0] || f->agg_star) return 0;
  size_t n = f->n_args;
  if ((int)n < fs[k].min || (int)n > fs[k].max)
    return sqlr__fail(w, f->location, SQLST_UNDEFINED_FUNCTION,
                      "function %s with %zu arguments does not exist", name, n);
  bool agg = k < 2;
  if (f->agg_distinct && !agg)
    return sqlr__fail(w, f->location, SQLST_SYNTAX,
                      "DISTINCT specified, but %s is not an aggregate function", name);
  uint32_t at = peek_type(w, sc, f->args[0]);
  uint32_t bt = n > 1 ? peek_type(w, sc, f->args[1]) : 0;
  bool num = at == CAT_OID_NUMERIC, intg = sqlr__is_int(at), flt = sqlr__is_float(at);
  const char *open = NULL, *close = ")";
  uint32_t rtype = CAT_OID_NUMERIC;
  if (strcmp(name, "sum") == 0) {
    if (!num && at != CAT_OID_INT8) return 0;
    open = "syn_num_sum(";
  } else if (strcmp(name, "avg") == 0) {
    if (!num && !intg) return 0;
    open = "syn_num_avg(";
  } else if (strcmp(name, "mod") == 0) {
    uint32_t rt = !at ? bt : !bt ? at : sqlr__is_float(at) || sqlr__is_float(bt) ? CAT_OID_FLOAT8
                : at == CAT_OID_NUMERIC || bt == CAT_OID_NUMERIC ? CAT_OID_NUMERIC
                : at == CAT_OID_INT8 || bt == CAT_OID_INT8 ? CAT_OID_INT8
                : at == CAT_OID_INT2 && bt == CAT_OID_INT2 ? CAT_OID_INT2 : CAT_OID_INT4;
    if (rt == CAT_OID_FLOAT8)
      return sqlr__fail(w, f->location, SQLST_UNDEFINED_FUNCTION,
                        "function mod(double precision, double precision) does not exist");
    open = rt == CAT_OID_NUMERIC ? "syn_num_mod(" : "syn_mod(";
    rtype = rt;
  } else if (strcmp(name, "round") == 0 || strcmp(name, "trunc") == 0) {
    bool r = name[0] == 'r';
    if (num || (intg && n == 2)) open = r ? "syn_num_round(" : "syn_num_trunc(";
    else if ((intg || flt) && !r) {
      open = "CAST(syn_num_trunc(";
      close = ") AS REAL)";
      rtype = CAT_OID_FLOAT8;
    } else {
      return 0; /* round(float8): SQLite's round */
    }
  } else { /* abs ceil floor sign */
    if (fs[k].unary == 0 && !num) return 0;
    if (!num && !intg && !flt) return 0;
    open = "syn_num_fn(";
    if (!num) {
      open = "CAST(syn_num_fn(";
      rtype = CAT_OID_FLOAT8;
    }
  }
  *handled = true;
  size_t start = b->n;
  if (cat_buf_printf(b, "%s%s", open, f->agg_distinct ? "DISTINCT " : "")) return sqlr__oom(w);
  for (size_t i = 0; i < n; i++) {
    uint32_t t = 0;
    int32_t tm = -1;
    if (i) PUT(", ");
    int rc = EXPR(f->args[i], &t, &tm);
    if (rc) return rc;
  }
  if (fs[k].unary >= 0) {
    if (cat_buf_printf(b, ", %d)%s", fs[k].unary, rtype == CAT_OID_NUMERIC ? "" : " AS REAL)"))
      return sqlr__oom(w);
  } else {
    PUT(close);
  }
  *type = rtype;
  *typmod = -1;
  if (rtype == CAT_OID_NUMERIC && sqlr__num_collate(b, start)) return sqlr__oom(w);
  return 0;
}

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
  bool handled = false;
  rc = num_func(w, b, sc, f, name, type, typmod, &handled);
  if (rc || handled) return rc;
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
      /* PostgreSQL: sum(int2/int4) is int8, sum(float) float (sum(int8)
      ** and sum(numeric) are num_func's). */
      if (at == CAT_OID_INT2 || at == CAT_OID_INT4) *type = CAT_OID_INT8;
      *typmod = -1;
    } else if (strcmp(name, "avg") == 0 && sqlr__is_float(at)) {
      *type = CAT_OID_FLOAT8;
    } else if (strcmp(name, "round") == 0 && sqlr__is_int(at)) {
      *type = CAT_OID_FLOAT8; /* round(int) is round(float8) */
    }
    return 0;
  }
  if (strcmp(name, "extract") == 0 && f->n_funcname == 2) return sqlr__extract(w, b, sc, f, type, typmod);
  rc = sqlr__func_more(w, b, sc, f, name, type, typmod);
  if (rc != SQLR_NO_FUNC) return rc;
  rc = sqlr__pgcat_func(w, b, sc, f, name, type, typmod);
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
  size_t start = b->n;
  int rc = func_call(w, b, sc, f, type, typmod);
  if (rc) return rc;
  /* A numeric result arrives as "(call COLLATE synnum)"; FILTER and OVER
  ** must follow the call itself, so unwrap and wrap again after them. */
  static const char coll[] = " COLLATE synnum)";
  size_t cl = sizeof coll - 1;
  bool wrapped = (f->agg_filter || f->over) && b->n - start > cl + 1 && b->p[start] == '(' &&
                 memcmp(b->p + b->n - cl, coll, cl) == 0;
  if (wrapped) {
    memmove(b->p + start, b->p + start + 1, b->n - start - 1 - cl);
    b->n -= cl + 1;
    b->p[b->n] = '\0';
  }
  if (f->agg_filter) {
    uint32_t t = 0;
    int32_t tm = -1;
    PUT(" FILTER (WHERE ");
    if ((rc = EXPR(f->agg_filter, &t, &tm))) return rc;
    PUT(")");
  }
  if (f->over && (rc = sqlr__window(w, b, sc, f))) return rc;
  if (wrapped && sqlr__num_collate(b, start)) return sqlr__oom(w);
  return 0;
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
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_USER: return "current_user";
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_ROLE: return "current_role";
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_SESSION_USER: return "session_user";
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_USER: return "user";
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_CATALOG: return "current_catalog";
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_SCHEMA: return "current_schema";
    default: return "current_timestamp";
    }
  default: return "?column?";
  }
}
