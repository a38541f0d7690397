/*
** String, date/time, math and boolean-aggregate functions, and window
** functions with their OVER clause, for the PostgreSQL -> SQLite rewrite
** (rewrite.h). rewrite_call.c tries its own table first and comes here for
** every other name.
**
** Where SQLite has a function with PostgreSQL's meaning the call maps to
** it; otherwise it maps to a syn_* function registered by the engine
** (sql/engine/eng_funcs_*.c), which also raises PostgreSQL's errors. Each
** entry states the PG result type, so RowDescription and later operators
** see what PostgreSQL would.
*/
#include "sql/rewrite_int.h"
#include "sql/pgcatalog.h"

#include <stdio.h>
#include <string.h>

#define EXPR(node, ty, tm) sqlr__expr(w, b, sc, (node), (ty), (tm))
#define PUT(s) do { if (cat_buf_printf(b, "%s", (s))) return sqlr__oom(w); } while (0)

/* Argument class checked before the call is emitted; fn_def.arg[k] is
** the class of argument k+1, and arg[3] that of every later one. */
enum {
  A_ANY = 0,
  A_TEXTISH, /* text/varchar/char or an untyped literal */
  A_INT,
  A_NUMBER,  /* int or float: PostgreSQL would pick a numeric variant for a
                numeric argument, which synod does not have, so it is refused */
  A_FLOAT,   /* int, float or numeric: only a float8 variant exists */
  A_BOOL,
  A_DATETIME,
};

/* How the PG result type is found. */
enum {
  R_FIXED = 0, /* .type */
  R_ARG1,      /* the type of the first argument */
  R_TRUNC,     /* date_trunc: timestamp stays, date and timestamptz give timestamptz */
};

enum {
  F_PLAIN = 0,
  F_AGG,    /* an aggregate (may be used with OVER too) */
  F_WINDOW, /* a window function: only with OVER */
  F_CONCAT, /* every argument is converted to its text output form */
};

typedef struct fn_def {
  const char *pg;
  const char *sqlite;
  int min, max;
  uint8_t arg[4];
  uint8_t res;
  uint32_t type;
  uint8_t kind; /* F_* */
} fn_def;

static const fn_def fns[] = {
    /* strings */
    {"position", "instr", 2, 2, {A_TEXTISH, A_TEXTISH}, R_FIXED, CAT_OID_INT4, F_PLAIN},
    {"concat", "syn_concat", 1, 100, {A_ANY}, R_FIXED, CAT_OID_TEXT, F_CONCAT},
    {"concat_ws", "syn_concat_ws", 1, 100, {A_TEXTISH, A_ANY}, R_FIXED, CAT_OID_TEXT, F_CONCAT},
    {"split_part", "syn_split_part", 3, 3, {A_TEXTISH, A_TEXTISH, A_INT}, R_FIXED, CAT_OID_TEXT, F_PLAIN},
    {"initcap", "syn_initcap", 1, 1, {A_TEXTISH}, R_FIXED, CAT_OID_TEXT, F_PLAIN},
    {"md5", "syn_md5", 1, 1, {A_TEXTISH}, R_FIXED, CAT_OID_TEXT, F_PLAIN},
    {"left", "syn_left", 2, 2, {A_TEXTISH, A_INT}, R_FIXED, CAT_OID_TEXT, F_PLAIN},
    {"right", "syn_right", 2, 2, {A_TEXTISH, A_INT}, R_FIXED, CAT_OID_TEXT, F_PLAIN},
    {"lpad", "syn_lpad", 2, 3, {A_TEXTISH, A_INT, A_TEXTISH}, R_FIXED, CAT_OID_TEXT, F_PLAIN},
    {"rpad", "syn_rpad", 2, 3, {A_TEXTISH, A_INT, A_TEXTISH}, R_FIXED, CAT_OID_TEXT, F_PLAIN},
    {"repeat", "syn_repeat", 2, 2, {A_TEXTISH, A_INT}, R_FIXED, CAT_OID_TEXT, F_PLAIN},
    {"reverse", "syn_reverse", 1, 1, {A_TEXTISH}, R_FIXED, CAT_OID_TEXT, F_PLAIN},
    {"translate", "syn_translate", 3, 3, {A_TEXTISH, A_TEXTISH, A_TEXTISH}, R_FIXED, CAT_OID_TEXT, F_PLAIN},
    {"starts_with", "syn_starts_with", 2, 2, {A_TEXTISH, A_TEXTISH}, R_FIXED, CAT_OID_BOOL, F_PLAIN},
    {"ascii", "unicode", 1, 1, {A_TEXTISH}, R_FIXED, CAT_OID_INT4, F_PLAIN},
    {"chr", "syn_chr", 1, 1, {A_INT}, R_FIXED, CAT_OID_TEXT, F_PLAIN},
    {"octet_length", "syn_octet_length", 1, 1, {A_ANY}, R_FIXED, CAT_OID_INT4, F_PLAIN},
    {"to_hex", "syn_to_hex", 1, 1, {A_INT}, R_FIXED, CAT_OID_TEXT, F_PLAIN},
    /* math on int and float (numeric arguments: see numeric_refused) */
    {"power", "syn_power", 2, 2, {A_NUMBER, A_NUMBER}, R_FIXED, CAT_OID_FLOAT8, F_PLAIN},
    {"pow", "syn_power", 2, 2, {A_NUMBER, A_NUMBER}, R_FIXED, CAT_OID_FLOAT8, F_PLAIN},
    {"sqrt", "syn_sqrt", 1, 1, {A_NUMBER}, R_FIXED, CAT_OID_FLOAT8, F_PLAIN},
    {"cbrt", "syn_cbrt", 1, 1, {A_FLOAT}, R_FIXED, CAT_OID_FLOAT8, F_PLAIN},
    {"exp", "syn_exp", 1, 1, {A_NUMBER}, R_FIXED, CAT_OID_FLOAT8, F_PLAIN},
    {"ln", "syn_ln", 1, 1, {A_NUMBER}, R_FIXED, CAT_OID_FLOAT8, F_PLAIN},
    {"log", "syn_log", 1, 1, {A_NUMBER}, R_FIXED, CAT_OID_FLOAT8, F_PLAIN},
    {"log10", "syn_log", 1, 1, {A_NUMBER}, R_FIXED, CAT_OID_FLOAT8, F_PLAIN},
    {"pi", "syn_pi", 0, 0, {A_ANY}, R_FIXED, CAT_OID_FLOAT8, F_PLAIN},
    {"degrees", "syn_degrees", 1, 1, {A_FLOAT}, R_FIXED, CAT_OID_FLOAT8, F_PLAIN},
    {"radians", "syn_radians", 1, 1, {A_FLOAT}, R_FIXED, CAT_OID_FLOAT8, F_PLAIN},
    {"random", "syn_random", 0, 0, {A_ANY}, R_FIXED, CAT_OID_FLOAT8, F_PLAIN},
    /* date and time */
    {"date_trunc", "syn_date_trunc", 2, 2, {A_TEXTISH, A_DATETIME}, R_TRUNC, 0, F_PLAIN},
    {"date_part", "syn_date_part", 2, 2, {A_TEXTISH, A_DATETIME}, R_FIXED, CAT_OID_FLOAT8, F_PLAIN},
    {"to_timestamp", "syn_to_timestamp", 1, 1, {A_FLOAT}, R_FIXED, CAT_OID_TIMESTAMPTZ, F_PLAIN},
    {"make_date", "syn_make_date", 3, 3, {A_INT, A_INT, A_INT}, R_FIXED, CAT_OID_DATE, F_PLAIN},
    /* void in PostgreSQL; an empty text prints the same */
    {"pg_sleep", "syn_pg_sleep", 1, 1, {A_FLOAT}, R_FIXED, CAT_OID_TEXT, F_PLAIN},
    /* aggregates: SQLite's min/max over 0/1 are exactly bool_and/bool_or
    ** (NULLs skipped, NULL over no rows) */
    {"bool_and", "min", 1, 1, {A_BOOL}, R_FIXED, CAT_OID_BOOL, F_AGG},
    {"every", "min", 1, 1, {A_BOOL}, R_FIXED, CAT_OID_BOOL, F_AGG},
    {"bool_or", "max", 1, 1, {A_BOOL}, R_FIXED, CAT_OID_BOOL, F_AGG},
    {"string_agg", "group_concat", 2, 2, {A_TEXTISH, A_TEXTISH}, R_FIXED, CAT_OID_TEXT, F_AGG},
    /* window functions */
    {"row_number", "row_number", 0, 0, {A_ANY}, R_FIXED, CAT_OID_INT8, F_WINDOW},
    {"rank", "rank", 0, 0, {A_ANY}, R_FIXED, CAT_OID_INT8, F_WINDOW},
    {"dense_rank", "dense_rank", 0, 0, {A_ANY}, R_FIXED, CAT_OID_INT8, F_WINDOW},
    {"percent_rank", "percent_rank", 0, 0, {A_ANY}, R_FIXED, CAT_OID_FLOAT8, F_WINDOW},
    {"cume_dist", "cume_dist", 0, 0, {A_ANY}, R_FIXED, CAT_OID_FLOAT8, F_WINDOW},
    {"ntile", "ntile", 1, 1, {A_INT}, R_FIXED, CAT_OID_INT4, F_WINDOW},
    {"lag", "lag", 1, 3, {A_ANY, A_INT, A_ANY}, R_ARG1, 0, F_WINDOW},
    {"lead", "lead", 1, 3, {A_ANY, A_INT, A_ANY}, R_ARG1, 0, F_WINDOW},
    {"first_value", "first_value", 1, 1, {A_ANY}, R_ARG1, 0, F_WINDOW},
    {"last_value", "last_value", 1, 1, {A_ANY}, R_ARG1, 0, F_WINDOW},
    {"nth_value", "nth_value", 2, 2, {A_ANY, A_INT}, R_ARG1, 0, F_WINDOW},
};

/* name and "char" (system catalog columns) cast to text implicitly. */
static bool is_textish(uint32_t t) {
  return t == 0 || t == CAT_OID_TEXT || t == CAT_OID_VARCHAR || t == CAT_OID_BPCHAR ||
         t == PGC_OID_NAME || t == PGC_OID_CHAR;
}

static bool is_datetime(uint32_t t) {
  return t == CAT_OID_DATE || t == CAT_OID_TIMESTAMP || t == CAT_OID_TIMESTAMPTZ;
}

static bool arg_ok(int cls, uint32_t t) {
  switch (cls) {
  case A_TEXTISH: return is_textish(t);
  case A_INT: return t == 0 || sqlr__is_int(t);
  case A_NUMBER: return t == 0 || sqlr__is_int(t) || sqlr__is_float(t);
  case A_FLOAT: return t == 0 || sqlr__is_int(t) || sqlr__is_float(t) || t == CAT_OID_NUMERIC;
  case A_BOOL: return t == 0 || t == CAT_OID_BOOL;
  case A_DATETIME: return t == 0 || is_datetime(t) || is_textish(t);
  default: return true;
  }
}

/* x (already deparsed, of PG type t) as PostgreSQL's text output of it, for
** concat(): booleans print as t/f there, everything else as stored. */
static int text_form(sqlr_rw *w, cat_buf *b, const char *x, uint32_t t) {
  int rc = t == CAT_OID_BOOL ? cat_buf_printf(b, "(CASE %s WHEN 1 THEN 't' WHEN 0 THEN 'f' END)", x)
                             : cat_buf_printf(b, "%s", x);
  return rc ? sqlr__oom(w) : 0;
}

/* The OVER clause of a window call. Frames: PostgreSQL's default and the
** ROWS/RANGE forms SQLite shares with it (UNBOUNDED, CURRENT ROW, ROWS n
** PRECEDING/FOLLOWING); GROUPS, EXCLUDE and RANGE with an offset are
** refused by name rather than run with another meaning. */
#define FRAME_NONDEFAULT 0x00001
#define FRAME_RANGE 0x00002
#define FRAME_ROWS 0x00004
#define FRAME_GROUPS 0x00008
#define FRAME_BETWEEN 0x00010
#define FRAME_START_UNB_PREC 0x00020
#define FRAME_END_UNB_PREC 0x00040
#define FRAME_START_UNB_FOLL 0x00080
#define FRAME_END_UNB_FOLL 0x00100
#define FRAME_START_CURRENT 0x00200
#define FRAME_END_CURRENT 0x00400
#define FRAME_START_OFF_PREC 0x00800
#define FRAME_END_OFF_PREC 0x01000
#define FRAME_START_OFF_FOLL 0x02000
#define FRAME_END_OFF_FOLL 0x04000
#define FRAME_EXCLUDE 0x38000

static int frame_bound(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, int opts, bool start,
                       const PgQuery__Node *off) {
  int unb_prec = start ? FRAME_START_UNB_PREC : FRAME_END_UNB_PREC;
  int unb_foll = start ? FRAME_START_UNB_FOLL : FRAME_END_UNB_FOLL;
  int cur = start ? FRAME_START_CURRENT : FRAME_END_CURRENT;
  int off_prec = start ? FRAME_START_OFF_PREC : FRAME_END_OFF_PREC;
  int off_foll = start ? FRAME_START_OFF_FOLL : FRAME_END_OFF_FOLL;
  if (opts & unb_prec) PUT("UNBOUNDED PRECEDING");
  else if (opts & unb_foll) PUT("UNBOUNDED FOLLOWING");
  else if (opts & cur) PUT("CURRENT ROW");
  else if (opts & (off_prec | off_foll)) {
    if (!off) return sqlr__unsupported(w, -1, "this window frame");
    uint32_t t = 0;
    int32_t tm = -1;
    int rc = EXPR(off, &t, &tm);
    if (rc) return rc;
    PUT(opts & off_prec ? " PRECEDING" : " FOLLOWING");
  } else {
    return sqlr__unsupported(w, -1, "this window frame");
  }
  return 0;
}

/* "(base PARTITION BY ... ORDER BY ... frame)" */
static int window_spec(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__WindowDef *wd) {
  int rc = 0;
  PUT("(");
  bool base = wd->refname && *wd->refname;
  if (base && sqlr__ident(b, wd->refname)) return sqlr__oom(w);
  for (size_t i = 0; i < wd->n_partition_clause; i++) {
    uint32_t t = 0;
    int32_t tm = -1;
    PUT(i ? ", " : base ? " PARTITION BY " : "PARTITION BY ");
    if ((rc = EXPR(wd->partition_clause[i], &t, &tm))) return rc;
  }
  if (wd->n_order_clause) {
    if ((rc = sqlr__sort_clause(w, b, sc, wd->order_clause, wd->n_order_clause))) return rc;
  }
  int o = wd->frame_options;
  if (o & FRAME_NONDEFAULT) {
    if (o & (FRAME_GROUPS | FRAME_EXCLUDE))
      return sqlr__unsupported(w, wd->location, "GROUPS and EXCLUDE window frames");
    if ((o & FRAME_RANGE) && (o & (FRAME_START_OFF_PREC | FRAME_START_OFF_FOLL |
                                   FRAME_END_OFF_PREC | FRAME_END_OFF_FOLL)))
      return sqlr__unsupported(w, wd->location, "RANGE window frames with an offset");
    PUT(o & FRAME_ROWS ? " ROWS " : " RANGE ");
    if (o & FRAME_BETWEEN) PUT("BETWEEN ");
    if ((rc = frame_bound(w, b, sc, o, true, wd->start_offset))) return rc;
    if (o & FRAME_BETWEEN) {
      PUT(" AND ");
      if ((rc = frame_bound(w, b, sc, o, false, wd->end_offset))) return rc;
    }
  }
  PUT(")");
  return 0;
}

int sqlr__window(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__FuncCall *f) {
  if (f->agg_distinct)
    return sqlr__unsupported(w, f->location, "DISTINCT in window functions");
  const PgQuery__WindowDef *wd = f->over;
  PUT(" OVER ");
  /* OVER w names a window of the WINDOW clause. */
  if (wd->name && *wd->name) return sqlr__ident(b, wd->name) ? sqlr__oom(w) : 0;
  return window_spec(w, b, sc, wd);
}

int sqlr__window_clause(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, PgQuery__Node **defs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (defs[i]->node_case != PG_QUERY__NODE__NODE_WINDOW_DEF || !defs[i]->window_def->name)
      return sqlr__unsupported(w, -1, "this WINDOW clause");
    const PgQuery__WindowDef *wd = defs[i]->window_def;
    PUT(i ? ", " : " WINDOW ");
    if (sqlr__ident(b, wd->name)) return sqlr__oom(w);
    PUT(" AS ");
    int rc = window_spec(w, b, sc, wd);
    if (rc) return rc;
  }
  return 0;
}

int sqlr__func_more(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__FuncCall *f,
                    const char *name, uint32_t *type, int32_t *typmod) {
  const fn_def *d = NULL;
  for (size_t i = 0; i < sizeof fns / sizeof fns[0] && !d; i++)
    if (strcmp(fns[i].pg, name) == 0) d = &fns[i];
  if (!d) return SQLR_NO_FUNC;
  size_t n = f->n_args;
  if (d->kind == F_WINDOW && !f->over) {
    w->err_pos = f->location + 1;
    return syn_err_set(w->e, SYN_EINVAL, "42809: window function %s requires an OVER clause",
                       name);
  }
  if (f->agg_star || (int)n < d->min || (int)n > d->max) {
    w->err_pos = f->location + 1;
    return sqlr__fail(w, f->location, SQLST_UNDEFINED_FUNCTION,
                      "function %s%s with %zu arguments does not exist", name,
                      f->agg_star ? "(*)" : "", n);
  }
  if (f->agg_distinct && d->kind != F_AGG)
    return sqlr__fail(w, f->location, SQLST_SYNTAX,
                      "DISTINCT specified, but %s is not an aggregate function", name);
  if (f->agg_distinct && n > 1)
    return sqlr__unsupported(w, f->location, "DISTINCT in an aggregate with several arguments");
  /* Each argument separately first: its type decides the checks. */
  cat_buf args[100];
  uint32_t at[100];
  int32_t atm[100];
  memset(args, 0, sizeof args);
  int rc = 0;
  size_t done = 0;
  for (; done < n && !rc; done++) {
    at[done] = 0;
    atm[done] = -1;
    int cls = d->arg[done < 4 ? done : 3];
    if (cls == A_TEXTISH || cls == A_DATETIME) sqlr__note_param(w, f->args[done], CAT_OID_TEXT);
    else if (cls == A_INT) sqlr__note_param(w, f->args[done], CAT_OID_INT4);
    else if (cls == A_NUMBER || cls == A_FLOAT) sqlr__note_param(w, f->args[done], CAT_OID_FLOAT8);
    else if (cls == A_BOOL) sqlr__note_param(w, f->args[done], CAT_OID_BOOL);
    rc = sqlr__expr(w, &args[done], sc, f->args[done], &at[done], &atm[done]);
    if (rc) break;
    if (!arg_ok(cls, at[done])) {
      char tn[64];
      rc = sqlr__fail(w, f->location, SQLST_UNDEFINED_FUNCTION, "function %s(%s) does not exist",
                      name, sqlr__type_name(at[done], tn, sizeof tn));
      if (cls == A_NUMBER && at[done] == CAT_OID_NUMERIC)
        rc = sqlr__unsupported(w, f->location, "this math function on numeric values");
    }
  }
  if (!rc && cat_buf_printf(b, "%s(%s", d->sqlite, f->agg_distinct ? "DISTINCT " : ""))
    rc = sqlr__oom(w);
  for (size_t k = 0; k < n && !rc; k++) {
    if (k && cat_buf_printf(b, ", ")) rc = sqlr__oom(w);
    const char *x = args[k].p ? args[k].p : "";
    bool sep = strcmp(name, "concat_ws") == 0 && k == 0;
    if (!rc) rc = d->kind == F_CONCAT && !sep ? text_form(w, b, x, at[k]) : cat_buf_printf(b, "%s", x);
    if (rc > 0) rc = sqlr__oom(w);
  }
  /* date_part/date_trunc on a date: PostgreSQL casts it to timestamptz;
  ** extract() on a date answers for midnight, the same values. The
  ** engine's function needs to know whether the value is a date. */
  if (!rc && (strcmp(name, "date_trunc") == 0 || strcmp(name, "date_part") == 0) &&
      cat_buf_printf(b, ", %d", at[1] == CAT_OID_DATE ? 1 : at[1] == CAT_OID_TIMESTAMPTZ ? 2 : 0))
    rc = sqlr__oom(w);
  /* to_hex prints a two's complement as wide as the argument's type. */
  if (!rc && strcmp(name, "to_hex") == 0 && cat_buf_printf(b, ", %d", at[0] == CAT_OID_INT8))
    rc = sqlr__oom(w);
  if (!rc && cat_buf_printf(b, ")")) rc = sqlr__oom(w);
  for (size_t k = 0; k < n; k++) cat_buf_free(&args[k]);
  if (rc) return rc;
  *typmod = -1;
  switch (d->res) {
  case R_ARG1: *type = n ? at[0] : 0; *typmod = n ? atm[0] : -1; break;
  case R_TRUNC: *type = at[1] == CAT_OID_TIMESTAMP ? CAT_OID_TIMESTAMP : CAT_OID_TIMESTAMPTZ; break;
  default: *type = d->type; break;
  }
  return 0;
}

/* EXTRACT(field FROM x): libpg_query gives extract('field', x). PostgreSQL
** 15 answers numeric; the engine formats the value as PostgreSQL prints
** it (seconds and epoch of timestamps with 6 decimals). */
int sqlr__extract(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__FuncCall *f,
                  uint32_t *type, int32_t *typmod) {
  if (f->n_args != 2) return sqlr__unsupported(w, f->location, "this EXTRACT form");
  uint32_t t0 = 0, t1 = 0;
  int32_t tm = -1;
  PUT("syn_extract(");
  int rc = EXPR(f->args[0], &t0, &tm);
  if (rc) return rc;
  PUT(", ");
  if ((rc = EXPR(f->args[1], &t1, &tm))) return rc;
  char tn[64];
  if (!is_datetime(t1) && t1 != 0)
    return sqlr__fail(w, f->location, SQLST_UNDEFINED_FUNCTION,
                      "function extract(unknown, %s) does not exist",
                      sqlr__type_name(t1, tn, sizeof tn));
  if (cat_buf_printf(b, ", %d)", t1 == CAT_OID_DATE ? 1 : t1 == CAT_OID_TIMESTAMPTZ ? 2 : 0))
    return sqlr__oom(w);
  *type = CAT_OID_NUMERIC;
  *typmod = -1;
  return 0;
}
