/*
** Expression deparsing for the PostgreSQL -> SQLite rewrite (rewrite.h):
** literals, column references, operators and the dispatcher. Casts and
** function calls are in rewrite_call.c.
**
** Every binary operator is parenthesised, so SQLite's precedence (which
** differs from PostgreSQL's, e.g. for || and comparison chains) never
** changes the meaning. Types are inferred bottom-up as PostgreSQL would
** for the supported subset, to fill RowDescription.
*/
#include "sql/rewrite_int.h"
#include "sql/pgcatalog.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPR(node, ty, tm) sqlr__expr(w, b, sc, (node), (ty), (tm))
#define PUT(s) do { if (cat_buf_printf(b, "%s", (s))) return sqlr__oom(w); } while (0)

const char *sqlr__last_name(PgQuery__Node **names, size_t n) {
  if (n == 0 || names[n - 1]->node_case != PG_QUERY__NODE__NODE_STRING) return "";
  return names[n - 1]->string->sval;
}

bool sqlr__is_int(uint32_t t) {
  return t == CAT_OID_INT2 || t == CAT_OID_INT4 || t == CAT_OID_INT8;
}
bool sqlr__is_float(uint32_t t) { return t == CAT_OID_FLOAT4 || t == CAT_OID_FLOAT8; }
static bool is_datetime(uint32_t t) {
  return t == CAT_OID_DATE || t == CAT_OID_TIMESTAMP || t == CAT_OID_TIMESTAMPTZ;
}

/* Type of an expression without keeping its text (to type a literal on
** the other side of an operator before writing it). Errors surface again
** on the real pass. */
uint32_t sqlr__peek_type(sqlr_rw *w, sqlr_scope *sc, const PgQuery__Node *n, int32_t *tm) {
  cat_buf tmp = {0};
  uint32_t t = 0;
  syn_err *saved = w->e;
  syn_err scratch;
  int pos = w->err_pos;
  bool now = w->uses_now;
  int maxp = w->max_param;
  *tm = -1;
  w->e = &scratch;
  if (sqlr__expr(w, &tmp, sc, n, &t, tm)) t = 0;
  w->e = saved;
  w->err_pos = pos;
  w->uses_now = now;
  w->max_param = maxp;
  cat_buf_free(&tmp);
  return t;
}

/* Result type of + - * / % following PostgreSQL's operator families. */
static uint32_t arith_type(uint32_t a, uint32_t b) {
  if (!a) return b;
  if (!b) return a;
  if (sqlr__is_float(a) || sqlr__is_float(b)) return CAT_OID_FLOAT8;
  if (a == CAT_OID_NUMERIC || b == CAT_OID_NUMERIC) return CAT_OID_NUMERIC;
  if (a == CAT_OID_INT8 || b == CAT_OID_INT8) return CAT_OID_INT8;
  if (a == CAT_OID_INT4 || b == CAT_OID_INT4) return CAT_OID_INT4;
  if (sqlr__is_int(a) && sqlr__is_int(b)) return CAT_OID_INT2;
  return a;
}

int sqlr__now_ref(sqlr_rw *w, cat_buf *b) {
  if (w->in_default) return cat_buf_printf(b, ":now") ? sqlr__oom(w) : 0;
  w->uses_now = true;
  return cat_buf_printf(b, "%cN%c", SQLR_MARK, SQLR_MARK) ? sqlr__oom(w) : 0;
}

/* ---- literals ---- */

int sqlr__literal(sqlr_rw *w, cat_buf *b, const syn_value *v, uint32_t oid) {
  switch (v->type) {
  case SYN_V_NULL: PUT("NULL"); return 0;
  case SYN_V_INT:
    return cat_buf_printf(b, "%lld", (long long)v->u.i) ? sqlr__oom(w) : 0;
  case SYN_V_REAL: {
    char tmp[64];
    cat_format_float(v->u.r, false, tmp, sizeof tmp);
    /* SQLite has no NaN/Infinity literals; 9e999 overflows to Inf. */
    if (strcmp(tmp, "Infinity") == 0) PUT("9e999");
    else if (strcmp(tmp, "-Infinity") == 0) PUT("-9e999");
    else if (strcmp(tmp, "NaN") == 0) return sqlr__unsupported(w, -1, "NaN literals");
    else {
      PUT(tmp);
      /* Keep it a REAL in SQLite even when integral ("1" -> "1.0"). */
      if (!strpbrk(tmp, ".e") && oid != CAT_OID_NUMERIC) PUT(".0");
    }
    return 0;
  }
  case SYN_V_TEXT:
    if (oid == CAT_OID_NUMERIC) {
      PUT("(");
      if (sqlr__string(b, (const char *)v->u.b.p, v->u.b.n)) return sqlr__oom(w);
      PUT(" COLLATE synnum)");
      return 0;
    }
    return sqlr__string(b, (const char *)v->u.b.p, v->u.b.n) ? sqlr__oom(w) : 0;
  case SYN_V_BLOB:
    PUT("X'");
    for (size_t i = 0; i < v->u.b.n; i++)
      if (cat_buf_printf(b, "%02x", v->u.b.p[i])) return sqlr__oom(w);
    PUT("'");
    return 0;
  }
  return 0;
}

static int a_const(sqlr_rw *w, cat_buf *b, const PgQuery__AConst *c, uint32_t *type) {
  if (c->isnull) {
    *type = 0;
    PUT("NULL");
    return 0;
  }
  switch (c->val_case) {
  case PG_QUERY__A__CONST__VAL_IVAL:
    *type = CAT_OID_INT4;
    return cat_buf_printf(b, "%d", (int)c->ival->ival) ? sqlr__oom(w) : 0;
  case PG_QUERY__A__CONST__VAL_FVAL: {
    /* Integers too large for int4 arrive as "Float" strings: int8 if
    ** they fit, else numeric (as PostgreSQL types them). */
    const char *s = c->fval->fval;
    *type = strpbrk(s, ".eE") ? CAT_OID_NUMERIC : CAT_OID_INT8;
    if (*type == CAT_OID_INT8) {
      syn_value in = {.type = SYN_V_TEXT, .u.b = {(const uint8_t *)s, strlen(s)}}, out;
      cat_buf tmp = {0};
      if (cat_coerce_type(CAT_OID_INT8, -1, &in, &out, &tmp, NULL)) *type = CAT_OID_NUMERIC;
      cat_buf_free(&tmp);
    }
    if (*type == CAT_OID_NUMERIC) {
      /* Exact: the literal's canonical text, never a double. */
      syn_value in = {.type = SYN_V_TEXT, .u.b = {(const uint8_t *)s, strlen(s)}}, out;
      cat_buf tmp = {0};
      int rc = cat_coerce_type(CAT_OID_NUMERIC, -1, &in, &out, &tmp, w->e);
      if (rc) {
        w->err_pos = c->location + 1;
      } else {
        rc = sqlr__literal(w, b, &out, CAT_OID_NUMERIC);
      }
      cat_buf_free(&tmp);
      return rc;
    }
    PUT(s);
    return 0;
  }
  case PG_QUERY__A__CONST__VAL_BOOLVAL:
    *type = CAT_OID_BOOL;
    PUT(c->boolval->boolval ? "1" : "0");
    return 0;
  case PG_QUERY__A__CONST__VAL_SVAL:
    *type = 0; /* "unknown" literal: typed by context */
    return sqlr__string(b, c->sval->sval, strlen(c->sval->sval)) ? sqlr__oom(w) : 0;
  default:
    return sqlr__unsupported(w, c->location, "bit string literals");
  }
}

/* ---- column references ---- */

static int find_col(const sqlr_ent *en, const char *name, uint32_t *type, int32_t *typmod) {
  if (en->t) {
    int i = cat_table_find_column(en->t, name);
    if (i >= 0) {
      *type = en->t->cols[i].type_oid;
      *typmod = en->t->cols[i].typmod;
      return i;
    }
    if (en->t->hidden_rowid && strcmp(name, "rowid") == 0 && !en->is_row) {
      *type = CAT_OID_INT8;
      return en->t->ncols;
    }
    return -1;
  }
  for (int i = 0; i < en->ncols; i++)
    if (en->cols[i].name && strcmp(en->cols[i].name, name) == 0) {
      *type = en->cols[i].type_oid;
      *typmod = en->cols[i].typmod;
      return i;
    }
  return -1;
}

static int emit_col(sqlr_rw *w, cat_buf *b, const sqlr_ent *en, int idx, const char *qual,
                    const char *name) {
  if (en->is_row) {
    return cat_buf_printf(b, "%cR%d%c", SQLR_MARK, en->row_param0 + idx, SQLR_MARK)
               ? sqlr__oom(w) : 0;
  }
  if (qual) {
    if (sqlr__ident(b, qual) || cat_buf_printf(b, ".")) return sqlr__oom(w);
  }
  if (en->t && en->t->hidden_rowid && idx == en->t->ncols) PUT("rowid");
  else if (sqlr__ident(b, name)) return sqlr__oom(w);
  return 0;
}

static int column_ref(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__ColumnRef *cr,
                      uint32_t *type, int32_t *typmod) {
  const char *f[3] = {0};
  bool star = false;
  if (cr->n_fields > 3) return sqlr__unsupported(w, cr->location, "this column reference");
  for (size_t i = 0; i < cr->n_fields; i++) {
    const PgQuery__Node *fn = cr->fields[i];
    if (fn->node_case == PG_QUERY__NODE__NODE_A_STAR) star = true;
    else if (fn->node_case == PG_QUERY__NODE__NODE_STRING) f[i] = fn->string->sval;
    else return sqlr__unsupported(w, cr->location, "this column reference");
  }
  if (cr->n_fields == 3) {
    if (strcmp(f[0], "public") != 0)
      return sqlr__unsupported(w, cr->location, "schema-qualified names");
    f[0] = f[1];
    f[1] = star ? NULL : f[2];
  }
  size_t nf = cr->n_fields == 3 ? 2 : cr->n_fields;
  *type = 0;
  *typmod = -1;
  if (nf == 1 && star) {
    PUT("*");
    return 0;
  }
  if (w->in_default)
    return sqlr__fail(w, cr->location, SQLST_FEATURE,
                      "cannot use column reference in DEFAULT expression");
  if (nf == 2) {
    for (sqlr_scope *s = sc; s; s = s->parent)
      for (int i = 0; i < s->n; i++) {
        const sqlr_ent *en = &s->ents[i];
        if (strcmp(en->alias, f[0]) != 0) continue;
        if (star) {
          if (en->is_row) return sqlr__unsupported(w, cr->location, "qualified * here");
          if (sqlr__ident(b, f[0]) || cat_buf_printf(b, ".*")) return sqlr__oom(w);
          return 0;
        }
        int idx = find_col(en, f[1], type, typmod);
        if (idx < 0 && (en->t || en->ncols >= 0))
          return sqlr__fail(w, cr->location, SQLST_UNDEFINED_COLUMN,
                            "column %s.%s does not exist", f[0], f[1]);
        return emit_col(w, b, en, idx, f[0], f[1]);
      }
    return sqlr__fail(w, cr->location, SQLST_UNDEFINED_TABLE,
                      "missing FROM-clause entry for table \"%s\"", f[0]);
  }
  /* Unqualified: the nearest scope level that has the column wins; two
  ** matches on one level are ambiguous unless JOIN USING merged them. */
  bool unknown_cols = false;
  for (sqlr_scope *s = sc; s; s = s->parent) {
    int hit = -1, hit_idx = -1;
    for (int i = 0; i < s->n; i++) {
      uint32_t t2 = 0;
      int32_t tm2 = -1;
      int idx = find_col(&s->ents[i], f[0], &t2, &tm2);
      if (!s->ents[i].t && s->ents[i].ncols < 0) unknown_cols = true;
      if (idx < 0) continue;
      if (hit >= 0) {
        bool merged = false;
        for (int m = 0; m < s->nmerged; m++)
          if (strcmp(s->merged[m], f[0]) == 0) merged = true;
        if (!merged)
          return sqlr__fail(w, cr->location, SQLST_AMBIGUOUS_COLUMN,
                            "column reference \"%s\" is ambiguous", f[0]);
        continue;
      }
      hit = i;
      hit_idx = idx;
      *type = t2;
      *typmod = tm2;
    }
    if (hit >= 0) {
      const sqlr_ent *en = &s->ents[hit];
      /* Qualify references into outer queries: SQLite resolves an
      ** unqualified name to the innermost match as PostgreSQL does, but a
      ** qualified reference keeps the rewrite obviously equivalent. */
      return emit_col(w, b, en, hit_idx, s == sc && !w->qualify_cols ? NULL : en->alias, f[0]);
    }
    if (s->allow_alias)
      for (size_t i = 0; i < s->ntargets; i++) {
        const PgQuery__Node *t = s->targets[i];
        if (t->node_case == PG_QUERY__NODE__NODE_RES_TARGET && t->res_target->name &&
            strcmp(t->res_target->name, f[0]) == 0) {
          return sqlr__ident(b, f[0]) ? sqlr__oom(w) : 0;
        }
      }
  }
  if (unknown_cols) return sqlr__ident(b, f[0]) ? sqlr__oom(w) : 0;
  return sqlr__fail(w, cr->location, SQLST_UNDEFINED_COLUMN, "column \"%s\" does not exist", f[0]);
}

/* ---- operators ---- */

/* An untyped string literal next to a typed operand takes the operand's
** type, as in PostgreSQL ("active = 'yes'", "hired = '2024-1-2'"): it is
** converted now with the column input rules, so SQLite compares like with
** like and bad literals fail with PostgreSQL's SQLSTATE. */
static bool is_str_lit(const PgQuery__Node *n) {
  return n && n->node_case == PG_QUERY__NODE__NODE_A_CONST && !n->a_const->isnull &&
         n->a_const->val_case == PG_QUERY__A__CONST__VAL_SVAL;
}

static int operand(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__Node *n,
                   uint32_t other, int32_t other_tm, uint32_t *type);

/* Date arithmetic, PostgreSQL's operators on dates: date + integer,
** integer + date and date - integer give a date; date - date gives the
** integer number of days. Dates are 'YYYY-MM-DD' text, so SQLite's date()
** with a day modifier and julianday() compute them exactly. Timestamps
** need intervals, which synod does not have: 0A000 naming them; a type
** pair PostgreSQL has no operator for gets its 42883. */
static int date_arith(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__AExpr *a,
                      const char *op, uint32_t lx, uint32_t rx, uint32_t *type) {
  bool ldate = lx == CAT_OID_DATE, rdate = rx == CAT_OID_DATE;
  bool lint = sqlr__is_int(lx) || lx == 0, rint = sqlr__is_int(rx) || rx == 0;
  int rc;
  uint32_t t;
  if ((op[0] == '+' && ((ldate && rint) || (lint && rdate))) ||
      (op[0] == '-' && ldate && rint)) {
    const PgQuery__Node *dn = ldate ? a->lexpr : a->rexpr, *nn = ldate ? a->rexpr : a->lexpr;
    PUT("date(");
    if ((rc = operand(w, b, sc, dn, CAT_OID_DATE, -1, &t))) return rc;
    PUT(op[0] == '-' ? ", (-(" : ", ((");
    if ((rc = operand(w, b, sc, nn, CAT_OID_INT4, -1, &t))) return rc;
    PUT(")) || ' days')");
    *type = CAT_OID_DATE;
    return 0;
  }
  if (op[0] == '-' && ldate && rdate) {
    PUT("CAST(round(julianday(");
    if ((rc = operand(w, b, sc, a->lexpr, CAT_OID_DATE, -1, &t))) return rc;
    PUT(") - julianday(");
    if ((rc = operand(w, b, sc, a->rexpr, CAT_OID_DATE, -1, &t))) return rc;
    PUT(")) AS INTEGER)");
    *type = CAT_OID_INT4;
    return 0;
  }
  if ((op[0] == '+' || op[0] == '-') && (lx == CAT_OID_TIMESTAMP || lx == CAT_OID_TIMESTAMPTZ ||
                                         rx == CAT_OID_TIMESTAMP || rx == CAT_OID_TIMESTAMPTZ) &&
      (is_datetime(lx) && is_datetime(rx)))
    return sqlr__unsupported(w, a->location, "interval values (timestamp - timestamp)");
  char ln[64], rn[64];
  w->err_pos = a->location + 1;
  return syn_err_set(w->e, SYN_ENOTFOUND, "42883: operator does not exist: %s %s %s",
                     sqlr__type_name(lx, ln, sizeof ln), op, sqlr__type_name(rx, rn, sizeof rn));
}

static int operand(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__Node *n,
                   uint32_t other, int32_t other_tm, uint32_t *type) {
  int32_t tm = -1;
  sqlr__note_param(w, n, other);
  /* oid and reg* values are integers: '16384' compares as one. */
  if (pgc_type_is_oid(other)) other = CAT_OID_INT8;
  if (!is_str_lit(n) || !other || !cat_type_supported(other) || other == CAT_OID_TEXT ||
      other == CAT_OID_VARCHAR)
    return EXPR(n, type, &tm);
  const char *s = n->a_const->sval->sval;
  syn_value in = {.type = SYN_V_TEXT, .u.b = {(const uint8_t *)s, strlen(s)}}, out;
  cat_buf tmp = {0};
  /* bpchar keeps its declared length so padding matches stored values. */
  int rc = cat_coerce_type(other, other == CAT_OID_BPCHAR ? other_tm : -1, &in, &out, &tmp, w->e);
  if (rc) {
    cat_buf_free(&tmp);
    if (!w->err_pos) w->err_pos = n->a_const->location + 1;
    return rc;
  }
  rc = sqlr__literal(w, b, &out, other);
  cat_buf_free(&tmp);
  *type = other;
  return rc;
}

/* Turn the text from start on into fn(text): fn ends with "(". */
static int wrap_call(cat_buf *b, size_t start, const char *fn) {
  size_t k = strlen(fn);
  if (cat_buf_append(b, fn, k)) return -1; /* grows the buffer by k */
  memmove(b->p + start + k, b->p + start, b->n - k - start);
  memcpy(b->p + start, fn, k);
  return cat_buf_append(b, ")", 1);
}

/* Type (and typmod) of an expression without keeping its text. */
static int binop(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__AExpr *a,
                 uint32_t *type, int32_t *typmod) {
  const char *op = sqlr__last_name(a->name, a->n_name);
  uint32_t lt = 0, rt = 0;
  int32_t tm = -1;
  int rc = 0;
  static const char *cmp[] = {"=", "<>", "!=", "<", ">", "<=", ">="};
  static const char *arith[] = {"+", "-", "*", "/", "%"};
  bool is_cmp = false, is_arith = false;
  for (size_t i = 0; i < sizeof cmp / sizeof cmp[0]; i++) is_cmp |= strcmp(op, cmp[i]) == 0;
  for (size_t i = 0; i < sizeof arith / sizeof arith[0]; i++) is_arith |= strcmp(op, arith[i]) == 0;
  bool concat = strcmp(op, "||") == 0;
  if (sqlr__is_regex_op(op)) return sqlr__regex(w, b, sc, a, op, type);
  if (!is_cmp && !is_arith && !concat) {
    char what[64];
    snprintf(what, sizeof what, "operator %s", op);
    return sqlr__unsupported(w, a->location, what[0] ? what : "this operator");
  }
  if (!a->lexpr) { /* prefix - or + */
    if (!is_arith || (op[0] != '-' && op[0] != '+'))
      return sqlr__unsupported(w, a->location, "this prefix operator");
    cat_buf inner = {0};
    rc = sqlr__expr(w, &inner, sc, a->rexpr, &rt, typmod);
    /* SQLite's unary minus would turn numeric text into a double. */
    if (!rc && rt == CAT_OID_NUMERIC && op[0] == '-')
      rc = cat_buf_printf(b, "(syn_num_fn(%s, 1) COLLATE synnum)", inner.p) ? sqlr__oom(w) : 0;
    else if (!rc)
      rc = cat_buf_printf(b, "(%s%s)", op, inner.p ? inner.p : "") ? sqlr__oom(w) : 0;
    cat_buf_free(&inner);
    *type = rt;
    return rc;
  }
  int32_t ltm = -1, rtm = -1;
  uint32_t rpeek = sqlr__peek_type(w, sc, a->rexpr, &rtm);
  uint32_t lpeek = concat ? 0 : sqlr__peek_type(w, sc, a->lexpr, &ltm);
  /* Types the operands will have once operand() typed a string literal
  ** after the other side. */
  uint32_t lx = is_str_lit(a->lexpr) && !is_str_lit(a->rexpr) ? rpeek : lpeek;
  uint32_t rx = is_str_lit(a->rexpr) ? lx : rpeek;
  if (is_arith && (is_datetime(lx) || is_datetime(rx)))
    return date_arith(w, b, sc, a, op, lx, rx, type);
  /* Numeric arithmetic is exact in syn_num_*() (sql/engine/eng_numeric.c);
  ** a comparison whose common type is numeric compares numeric text under
  ** the synnum collation (an integer side converted with syn_num()); float
  ** against numeric compares as float8, as in PostgreSQL. */
  const char *numfn = NULL, *lconv = NULL, *rconv = NULL;
  bool numcmp = false;
  if (is_arith && !concat && arith_type(lx, rx) == CAT_OID_NUMERIC)
    numfn = op[0] == '+' ? "syn_num_add" : op[0] == '-' ? "syn_num_sub"
          : op[0] == '*' ? "syn_num_mul" : op[0] == '/' ? "syn_num_div" : "syn_num_mod";
  if (is_cmp && (lx == CAT_OID_NUMERIC || rx == CAT_OID_NUMERIC)) {
    if (sqlr__is_float(lx) || sqlr__is_float(rx)) {
      if (lx == CAT_OID_NUMERIC) lconv = "syn_num_float(";
      if (rx == CAT_OID_NUMERIC) rconv = "syn_num_float(";
    } else {
      numcmp = true;
      if (sqlr__is_int(lx)) lconv = "syn_num(";
      if (sqlr__is_int(rx)) rconv = "syn_num(";
    }
  }
  /* / and % become calls (sql/engine/eng_funcs.c): SQLite answers NULL for
  ** a division by zero, PostgreSQL raises 22012. */
  const char *fn = numfn ? numfn
                 : strcmp(op, "/") == 0 ? "syn_div" : strcmp(op, "%") == 0 ? "syn_mod" : NULL;
  size_t start = b->n;
  if (fn) PUT(fn);
  PUT("(");
  if (lconv) PUT(lconv);
  if (concat) rc = EXPR(a->lexpr, &lt, &tm);
  else rc = operand(w, b, sc, a->lexpr, is_str_lit(a->rexpr) ? 0 : rpeek, rtm, &lt);
  if (rc) return rc;
  if (lconv) PUT(")");
  if (numcmp) PUT(" COLLATE synnum");
  if (is_arith && (is_datetime(lt) || is_datetime(rpeek)))
    return sqlr__unsupported(w, a->location, "date/time arithmetic");
  if (fn) PUT(", ");
  else if (cat_buf_printf(b, " %s ", strcmp(op, "!=") == 0 ? "<>" : op)) return sqlr__oom(w);
  if (rconv) PUT(rconv);
  if (concat) rc = EXPR(a->rexpr, &rt, &tm);
  else rc = operand(w, b, sc, a->rexpr, lt, ltm, &rt);
  if (rc) return rc;
  if (rconv) PUT(")");
  PUT(")");
  if (is_cmp) *type = CAT_OID_BOOL;
  else if (concat) *type = CAT_OID_TEXT;
  else {
    *type = arith_type(lt, rt);
    /* SQLite computes in int64; PostgreSQL's smallint and integer
    ** arithmetic fails with 22003 outside their range. */
    if ((*type == CAT_OID_INT2 || *type == CAT_OID_INT4) &&
        wrap_call(b, start, *type == CAT_OID_INT2 ? "syn_int2(" : "syn_int4("))
      return sqlr__oom(w);
    if (numfn && sqlr__num_collate(b, start)) return sqlr__oom(w);
  }
  return 0;
}

int sqlr__num_collate(cat_buf *b, size_t start) {
  if (cat_buf_append(b, "(", 1)) return -1;
  memmove(b->p + start + 1, b->p + start, b->n - 1 - start);
  b->p[start] = '(';
  return cat_buf_printf(b, " COLLATE synnum)");
}

/* Insert pre at start and append post: b[start..] becomes pre + it + post. */
static int surround(cat_buf *b, size_t start, const char *pre, const char *post) {
  size_t k = strlen(pre);
  if (cat_buf_append(b, pre, k)) return -1;
  memmove(b->p + start + k, b->p + start, b->n - k - start);
  memcpy(b->p + start, pre, k);
  return cat_buf_printf(b, "%s", post);
}

int sqlr__to_numeric(sqlr_rw *w, cat_buf *b, size_t start) {
  return surround(b, start, "(syn_num(", ") COLLATE synnum)") ? sqlr__oom(w) : 0;
}

int sqlr__assign_conv(sqlr_rw *w, cat_buf *b, size_t start, uint32_t from, uint32_t to) {
  if (from != CAT_OID_NUMERIC) return 0;
  int rc = 0;
  /* numeric -> integer assignment rounds half away from zero and fails
  ** with 22003 outside the target type; numeric -> float is float8in of
  ** the text (PostgreSQL's numeric_float8). */
  if (to == CAT_OID_INT2) rc = surround(b, start, "syn_num_int(", ", 2)");
  else if (to == CAT_OID_INT4) rc = surround(b, start, "syn_num_int(", ", 4)");
  else if (to == CAT_OID_INT8) rc = surround(b, start, "syn_num_int(", ", 8)");
  else if (sqlr__is_float(to)) rc = surround(b, start, "syn_num_float(", ")");
  return rc ? sqlr__oom(w) : 0;
}

/* An operand compared with a value of type other (IN list item, BETWEEN
** bound, IS DISTINCT FROM): an integer against numeric becomes numeric
** text, so the synnum collation compares them (SQLite orders every
** integer before every text). */
static int num_operand(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__Node *n,
                       uint32_t other, int32_t other_tm) {
  size_t start = b->n;
  uint32_t t = 0;
  int rc = operand(w, b, sc, n, other, other_tm, &t);
  if (rc) return rc;
  if (other == CAT_OID_NUMERIC && sqlr__is_int(t) && surround(b, start, "syn_num(", ")"))
    return sqlr__oom(w);
  if (sqlr__is_float(other) && t == CAT_OID_NUMERIC && surround(b, start, "syn_num_float(", ")"))
    return sqlr__oom(w);
  return 0;
}

/* ---- arms of CASE, COALESCE, GREATEST/LEAST ---- */

/* PostgreSQL resolves the arms to one type; in the numeric family: any
** numeric with a float is float8, numeric with integers is numeric. SQLite
** would otherwise order an integer arm before every numeric text. Returns
** the common type when it needs converting arms, else 0. */
static uint32_t num_common(sqlr_rw *w, sqlr_scope *sc, PgQuery__Node *const *args, size_t n) {
  bool num = false, flt = false;
  for (size_t i = 0; i < n; i++) {
    int32_t tm;
    uint32_t t = sqlr__peek_type(w, sc, args[i], &tm);
    num |= t == CAT_OID_NUMERIC;
    flt |= sqlr__is_float(t);
  }
  return num && flt ? CAT_OID_FLOAT8 : num ? CAT_OID_NUMERIC : 0;
}

/* Emit one arm converted to the common type (num_common). */
static int arm(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__Node *n, uint32_t common,
               uint32_t *type) {
  size_t start = b->n;
  int32_t tm = -1;
  int rc = EXPR(n, type, &tm);
  if (rc || !common) return rc;
  if (common == CAT_OID_NUMERIC && sqlr__is_int(*type))
    rc = surround(b, start, "(syn_num(", ") COLLATE synnum)");
  else if (common == CAT_OID_FLOAT8 && *type == CAT_OID_NUMERIC)
    rc = surround(b, start, "syn_num_float(", ")");
  return rc ? sqlr__oom(w) : 0;
}

/* The left side of IN / BETWEEN: numeric text under synnum when it is
** numeric, or when it is an integer compared with numeric values (then it
** becomes numeric; *t says so, and num_operand converts integer items). */
static int int_vs_numeric(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__Node *lhs,
                          PgQuery__Node *const *items, size_t n, uint32_t *t, int32_t *tm) {
  size_t start = b->n;
  int rc = EXPR(lhs, t, tm);
  if (rc) return rc;
  if (sqlr__is_int(*t) && num_common(w, sc, items, n) == CAT_OID_NUMERIC) {
    if (surround(b, start, "syn_num(", ")")) return sqlr__oom(w);
    *t = CAT_OID_NUMERIC;
    *tm = -1;
  }
  if (*t == CAT_OID_NUMERIC) PUT(" COLLATE synnum");
  return 0;
}

static int a_expr(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__AExpr *a,
                  uint32_t *type, int32_t *typmod) {
  uint32_t t = 0;
  int32_t tm = -1;
  int rc = 0;
  const char *op = sqlr__last_name(a->name, a->n_name);
  *type = CAT_OID_BOOL;
  switch (a->kind) {
  case PG_QUERY__A__EXPR__KIND__AEXPR_OP:
    return binop(w, b, sc, a, type, typmod);
  case PG_QUERY__A__EXPR__KIND__AEXPR_DISTINCT:
  case PG_QUERY__A__EXPR__KIND__AEXPR_NOT_DISTINCT:
    /* SQLite's IS / IS NOT are exactly IS NOT DISTINCT FROM / IS DISTINCT FROM. */
    PUT("(");
    if ((rc = EXPR(a->lexpr, &t, &tm))) return rc;
    if (t == CAT_OID_NUMERIC) PUT(" COLLATE synnum");
    PUT(a->kind == PG_QUERY__A__EXPR__KIND__AEXPR_DISTINCT ? " IS NOT " : " IS ");
    if ((rc = num_operand(w, b, sc, a->rexpr, t, tm))) return rc;
    PUT(")");
    return 0;
  case PG_QUERY__A__EXPR__KIND__AEXPR_NULLIF:
    PUT("NULLIF(");
    if ((rc = EXPR(a->lexpr, type, &tm))) return rc;
    PUT(", ");
    if ((rc = EXPR(a->rexpr, &t, &tm))) return rc;
    PUT(")");
    return 0;
  case PG_QUERY__A__EXPR__KIND__AEXPR_IN:
    if (!a->rexpr || a->rexpr->node_case != PG_QUERY__NODE__NODE_LIST)
      return sqlr__unsupported(w, a->location, "this IN form");
    PUT("(");
    if ((rc = int_vs_numeric(w, b, sc, a->lexpr, a->rexpr->list->items, a->rexpr->list->n_items,
                             &t, &tm)))
      return rc;
    PUT(strcmp(op, "<>") == 0 ? " NOT IN (" : " IN (");
    for (size_t i = 0; i < a->rexpr->list->n_items; i++) {
      if (i) PUT(", ");
      if ((rc = num_operand(w, b, sc, a->rexpr->list->items[i], t, tm))) return rc;
    }
    PUT("))");
    return 0;
  case PG_QUERY__A__EXPR__KIND__AEXPR_LIKE:
  case PG_QUERY__A__EXPR__KIND__AEXPR_ILIKE: {
    bool ilike = a->kind == PG_QUERY__A__EXPR__KIND__AEXPR_ILIKE;
    bool neg = op[0] == '!';
    const PgQuery__Node *pat = a->rexpr;
    const PgQuery__Node *esc = NULL;
    /* x LIKE p ESCAPE e arrives as like_escape(p, e). */
    if (pat && pat->node_case == PG_QUERY__NODE__NODE_FUNC_CALL &&
        strcmp(sqlr__last_name(pat->func_call->funcname, pat->func_call->n_funcname), "like_escape") == 0 &&
        pat->func_call->n_args == 2) {
      esc = pat->func_call->args[1];
      pat = pat->func_call->args[0];
    }
    PUT("(");
    if (ilike) PUT("lower(");
    if ((rc = EXPR(a->lexpr, &t, &tm))) return rc;
    PUT(ilike ? ") " : " ");
    PUT(neg ? "NOT LIKE " : "LIKE ");
    if (ilike) PUT("lower(");
    if ((rc = EXPR(pat, &t, &tm))) return rc;
    if (ilike) PUT(")");
    /* PostgreSQL's LIKE escapes with backslash unless told otherwise;
    ** SQLite has no default escape character. */
    PUT(" ESCAPE ");
    if (esc) {
      if ((rc = EXPR(esc, &t, &tm))) return rc;
    } else {
      PUT("'\\'");
    }
    PUT(")");
    return 0;
  }
  case PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN:
  case PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN: {
    const PgQuery__List *l = a->rexpr && a->rexpr->node_case == PG_QUERY__NODE__NODE_LIST
                                 ? a->rexpr->list : NULL;
    if (!l || l->n_items != 2) return sqlr__unsupported(w, a->location, "this BETWEEN form");
    PUT("(");
    if ((rc = int_vs_numeric(w, b, sc, a->lexpr, l->items, l->n_items, &t, &tm))) return rc;
    PUT(a->kind == PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN ? " BETWEEN " : " NOT BETWEEN ");
    if ((rc = num_operand(w, b, sc, l->items[0], t, tm))) return rc;
    PUT(" AND ");
    if ((rc = num_operand(w, b, sc, l->items[1], t, tm))) return rc;
    PUT(")");
    return 0;
  }
  case PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN_SYM:
  case PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN_SYM: {
    /* x BETWEEN SYMMETRIC a AND b is (x BETWEEN a AND b) OR (x BETWEEN b
    ** AND a), PostgreSQL's own expansion (gram.y). */
    const PgQuery__List *l = a->rexpr && a->rexpr->node_case == PG_QUERY__NODE__NODE_LIST
                                 ? a->rexpr->list : NULL;
    if (!l || l->n_items != 2) return sqlr__unsupported(w, a->location, "this BETWEEN form");
    bool neg = a->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN_SYM;
    PUT(neg ? "(NOT (" : "((");
    for (int k = 0; k < 2; k++) {
      PUT(k ? " OR (" : "(");
      if ((rc = int_vs_numeric(w, b, sc, a->lexpr, l->items, l->n_items, &t, &tm))) return rc;
      PUT(" BETWEEN ");
      if ((rc = num_operand(w, b, sc, l->items[k], t, tm))) return rc;
      PUT(" AND ");
      if ((rc = num_operand(w, b, sc, l->items[1 - k], t, tm))) return rc;
      PUT(")");
    }
    PUT("))");
    return 0;
  }
  case PG_QUERY__A__EXPR__KIND__AEXPR_SIMILAR:
    return sqlr__unsupported(w, a->location, "SIMILAR TO");
  case PG_QUERY__A__EXPR__KIND__AEXPR_OP_ANY:
  case PG_QUERY__A__EXPR__KIND__AEXPR_OP_ALL:
    return sqlr__array_any(w, b, sc, a, type);
  default:
    return sqlr__unsupported(w, a->location, "this operator");
  }
}

/* ---- the dispatcher ---- */

int sqlr__expr(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__Node *n,
               uint32_t *type, int32_t *typmod) {
  uint32_t t = 0;
  int32_t tm = -1;
  int rc = 0;
  *type = 0;
  *typmod = -1;
  if (!n) return sqlr__fail(w, -1, SQLST_INTERNAL, "missing expression");
  switch (n->node_case) {
  case PG_QUERY__NODE__NODE_A_CONST: return a_const(w, b, n->a_const, type);
  case PG_QUERY__NODE__NODE_COLUMN_REF: return column_ref(w, b, sc, n->column_ref, type, typmod);
  case PG_QUERY__NODE__NODE_PARAM_REF:
    if (w->in_default)
      return sqlr__fail(w, n->param_ref->location, SQLST_FEATURE,
                        "there is no parameter $%d in a DEFAULT expression", n->param_ref->number);
    if (n->param_ref->number < 1 || n->param_ref->number > 32000)
      return sqlr__fail(w, n->param_ref->location, SQLST_UNDEFINED_OBJECT,
                        "there is no parameter $%d", n->param_ref->number);
    if (n->param_ref->number > w->max_param) w->max_param = n->param_ref->number;
    /* A type already inferred for $n (e.g. by the cast around it) is the
    ** type its bound value has: Bind converts values to it. */
    if (n->param_ref->number <= w->nptypes) *type = w->ptypes[n->param_ref->number - 1];
    return cat_buf_printf(b, "?%d", n->param_ref->number) ? sqlr__oom(w) : 0;
  case PG_QUERY__NODE__NODE_A_EXPR: return a_expr(w, b, sc, n->a_expr, type, typmod);
  case PG_QUERY__NODE__NODE_BOOL_EXPR: {
    const PgQuery__BoolExpr *be = n->bool_expr;
    *type = CAT_OID_BOOL;
    if (be->boolop == PG_QUERY__BOOL_EXPR_TYPE__NOT_EXPR) {
      PUT("(NOT ");
      if ((rc = EXPR(be->args[0], &t, &tm))) return rc;
      PUT(")");
      return 0;
    }
    const char *op = be->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR ? " AND " : " OR ";
    PUT("(");
    for (size_t i = 0; i < be->n_args; i++) {
      if (i) PUT(op);
      if ((rc = EXPR(be->args[i], &t, &tm))) return rc;
    }
    PUT(")");
    return 0;
  }
  case PG_QUERY__NODE__NODE_NULL_TEST:
    if (n->null_test->argisrow) return sqlr__unsupported(w, n->null_test->location, "row IS NULL");
    *type = CAT_OID_BOOL;
    PUT("(");
    if ((rc = EXPR(n->null_test->arg, &t, &tm))) return rc;
    PUT(n->null_test->nulltesttype == PG_QUERY__NULL_TEST_TYPE__IS_NULL ? " IS NULL)" : " IS NOT NULL)");
    return 0;
  case PG_QUERY__NODE__NODE_BOOLEAN_TEST: {
    static const char *sfx[] = {"", " IS TRUE)", " IS NOT TRUE)", " IS FALSE)", " IS NOT FALSE)",
                                " IS NULL)", " IS NOT NULL)"};
    int k = (int)n->boolean_test->booltesttype;
    if (k < 1 || k > 6) return sqlr__unsupported(w, n->boolean_test->location, "this boolean test");
    *type = CAT_OID_BOOL;
    PUT("(");
    if ((rc = EXPR(n->boolean_test->arg, &t, &tm))) return rc;
    PUT(sfx[k]);
    return 0;
  }
  case PG_QUERY__NODE__NODE_TYPE_CAST: return sqlr__type_cast(w, b, sc, n->type_cast, type, typmod);
  case PG_QUERY__NODE__NODE_FUNC_CALL: return sqlr__func_call(w, b, sc, n->func_call, type, typmod);
  case PG_QUERY__NODE__NODE_SQLVALUE_FUNCTION: {
    const PgQuery__SQLValueFunction *v = n->sqlvalue_function;
    switch (v->op) {
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP:
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP_N:
      *type = CAT_OID_TIMESTAMPTZ;
      return sqlr__now_ref(w, b);
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP:
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP_N:
      /* Session time zone is UTC: local time is the UTC wall clock. */
      *type = CAT_OID_TIMESTAMP;
      PUT("substr(");
      if ((rc = sqlr__now_ref(w, b))) return rc;
      PUT(", 1, length(");
      if ((rc = sqlr__now_ref(w, b))) return rc;
      PUT(") - 3)");
      return 0;
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_DATE:
      *type = CAT_OID_DATE;
      PUT("substr(");
      if ((rc = sqlr__now_ref(w, b))) return rc;
      PUT(", 1, 10)");
      return 0;
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIME:
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIME_N:
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIME:
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIME_N:
      return sqlr__unsupported(w, v->location, "the time type (CURRENT_TIME, LOCALTIME)");
    default:
      rc = sqlr__session_value(w, b, v, type);
      if (rc != SQLR_NO_FUNC) return rc;
      return sqlr__unsupported(w, v->location, "this SQL value function");
    }
  }
  case PG_QUERY__NODE__NODE_CASE_EXPR: {
    const PgQuery__CaseExpr *ce = n->case_expr;
    PgQuery__Node *arms[65];
    size_t narms = 0;
    for (size_t i = 0; i < ce->n_args && narms < 64; i++) arms[narms++] = ce->args[i]->case_when->result;
    if (ce->defresult && narms < 65) arms[narms++] = ce->defresult;
    uint32_t common = num_common(w, sc, arms, narms);
    PUT("CASE");
    if (ce->arg) {
      PUT(" ");
      if ((rc = EXPR(ce->arg, &t, &tm))) return rc;
    }
    for (size_t i = 0; i < ce->n_args; i++) {
      const PgQuery__CaseWhen *cw = ce->args[i]->case_when;
      PUT(" WHEN ");
      if ((rc = EXPR(cw->expr, &t, &tm))) return rc;
      PUT(" THEN ");
      if ((rc = arm(w, b, sc, cw->result, common, &t))) return rc;
      if (!*type) *type = t;
    }
    if (ce->defresult) {
      PUT(" ELSE ");
      if ((rc = arm(w, b, sc, ce->defresult, common, &t))) return rc;
      if (!*type) *type = t;
    }
    PUT(" END");
    if (common) *type = common;
    return 0;
  }
  case PG_QUERY__NODE__NODE_COALESCE_EXPR: {
    const PgQuery__CoalesceExpr *ce = n->coalesce_expr;
    uint32_t common = num_common(w, sc, ce->args, ce->n_args);
    size_t start = b->n;
    PUT("coalesce(");
    for (size_t i = 0; i < ce->n_args; i++) {
      if (i) PUT(", ");
      if ((rc = arm(w, b, sc, ce->args[i], common, &t))) return rc;
      if (!*type) *type = t;
    }
    if (ce->n_args == 1) PUT(", NULL");
    PUT(")");
    if (common) *type = common;
    if (common == CAT_OID_NUMERIC && sqlr__num_collate(b, start)) return sqlr__oom(w);
    return 0;
  }
  case PG_QUERY__NODE__NODE_MIN_MAX_EXPR: {
    const PgQuery__MinMaxExpr *m = n->min_max_expr;
    /* SQLite's multi-argument max()/min() are scalar; with one argument
    ** they would be aggregates, so a single argument is passed through. */
    if (m->n_args == 1) return EXPR(m->args[0], type, typmod);
    /* PostgreSQL's GREATEST/LEAST skip NULLs; SQLite's max()/min() return
    ** NULL if any argument is NULL. Each argument becomes
    ** coalesce(arg, <all others>), NULL only when every argument is. */
    uint32_t common = num_common(w, sc, m->args, m->n_args);
    size_t start = b->n;
    PUT(m->op == PG_QUERY__MIN_MAX_OP__IS_GREATEST ? "max(" : "min(");
    for (size_t i = 0; i < m->n_args; i++) {
      if (i) PUT(", ");
      bool lit = m->args[i]->node_case == PG_QUERY__NODE__NODE_A_CONST && !m->args[i]->a_const->isnull;
      if (!lit) PUT("coalesce(");
      if ((rc = arm(w, b, sc, m->args[i], common, &t))) return rc;
      if (!*type) *type = t;
      if (!lit) {
        for (size_t k = 0; k < m->n_args; k++) {
          if (k == i) continue;
          PUT(", ");
          if ((rc = arm(w, b, sc, m->args[k], common, &t))) return rc;
        }
        PUT(")");
      }
      /* max()/min() compare with the first collation among their
      ** arguments; coalesce() carries none. */
      if (common == CAT_OID_NUMERIC) PUT(" COLLATE synnum");
    }
    PUT(")");
    if (common) *type = common;
    if (common == CAT_OID_NUMERIC && sqlr__num_collate(b, start)) return sqlr__oom(w);
    return 0;
  }
  case PG_QUERY__NODE__NODE_SUB_LINK: {
    const PgQuery__SubLink *sl = n->sub_link;
    if (w->in_default)
      return sqlr__fail(w, sl->location, SQLST_FEATURE, "cannot use subquery in DEFAULT expression");
    if (!sl->subselect || sl->subselect->node_case != PG_QUERY__NODE__NODE_SELECT_STMT)
      return sqlr__unsupported(w, sl->location, "this subquery");
    sqlr_col *cols = NULL;
    int ncols = 0;
    switch (sl->sub_link_type) {
    case PG_QUERY__SUB_LINK_TYPE__EXISTS_SUBLINK:
      *type = CAT_OID_BOOL;
      PUT("EXISTS (");
      break;
    case PG_QUERY__SUB_LINK_TYPE__EXPR_SUBLINK:
      PUT("(");
      break;
    case PG_QUERY__SUB_LINK_TYPE__ARRAY_SUBLINK:
      return sqlr__array_sublink(w, b, sc, sl, type);
    case PG_QUERY__SUB_LINK_TYPE__ANY_SUBLINK:
    case PG_QUERY__SUB_LINK_TYPE__ALL_SUBLINK: {
      const char *op = sl->n_oper_name ? sqlr__last_name(sl->oper_name, sl->n_oper_name) : "=";
      bool any = sl->sub_link_type == PG_QUERY__SUB_LINK_TYPE__ANY_SUBLINK;
      if (!((any && strcmp(op, "=") == 0) || (!any && strcmp(op, "<>") == 0)))
        return sqlr__unsupported(w, sl->location, "ANY/ALL subqueries other than IN and NOT IN");
      *type = CAT_OID_BOOL;
      PUT("(");
      if ((rc = EXPR(sl->testexpr, &t, &tm))) return rc;
      PUT(any ? " IN (" : " NOT IN (");
      if ((rc = sqlr__select(w, b, sc, sl->subselect->select_stmt, &cols, &ncols))) return rc;
      PUT("))");
      return 0;
    }
    default:
      return sqlr__unsupported(w, sl->location, "this kind of subquery");
    }
    if ((rc = sqlr__select(w, b, sc, sl->subselect->select_stmt, &cols, &ncols))) return rc;
    if (sl->sub_link_type == PG_QUERY__SUB_LINK_TYPE__EXPR_SUBLINK) {
      if (ncols != 1)
        return sqlr__fail(w, sl->location, SQLST_SYNTAX, "subquery must return only one column");
      *type = cols[0].type_oid;
      *typmod = cols[0].typmod;
    }
    PUT(")");
    return 0;
  }
  case PG_QUERY__NODE__NODE_SET_TO_DEFAULT:
    return sqlr__unsupported(w, n->set_to_default->location, "DEFAULT in this position");
  case PG_QUERY__NODE__NODE_ROW_EXPR:
    return sqlr__unsupported(w, n->row_expr->location, "row constructors");
  case PG_QUERY__NODE__NODE_A_ARRAY_EXPR:
    return sqlr__unsupported(w, n->a_array_expr->location, "arrays");
  case PG_QUERY__NODE__NODE_COLLATE_CLAUSE:
    return sqlr__collate(w, b, sc, n->collate_clause, type, typmod);
  case PG_QUERY__NODE__NODE_A_INDIRECTION:
    return sqlr__indirection(w, b, sc, n->a_indirection, type, typmod);
  case PG_QUERY__NODE__NODE_GROUPING_FUNC:
    return sqlr__unsupported(w, -1, "GROUPING");
  default:
    return sqlr__unsupported(w, -1, "this expression");
  }
}
