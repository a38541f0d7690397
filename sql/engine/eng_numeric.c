/*
** PostgreSQL numeric in the session's SQLite: functions, aggregates and the
** `synnum` collation over numeric text (common/decimal.h).
**
** A numeric value lives in SQLite as its canonical text ('1.50', 'NaN'),
** the form the participants store and clients see. The rewrite (sql/
** rewrite_expr.c) sends numeric arithmetic here (syn_num_add(a, b) ...)
** and gives numeric expressions COLLATE synnum, so comparisons, ORDER BY,
** GROUP BY, DISTINCT and min/max order by value. Arguments may also be
** INTEGER (promoted exactly, as PostgreSQL promotes int to numeric) or REAL
** (converted as float8 -> numeric).
**
** Errors are "SQLSTATE: message" (22P02 bad text, 22003 overflow, 22012
** division by zero), passed through by eng__sqlite_error.
*/
#include "sql/engine/eng_int.h"

#include <stdint.h>
#include <string.h>

#include "common/decimal.h"

/* Report a decimal error as the statement's error; its text is already
** "SQLSTATE: message" (a "\nDETAIL: ..." tail becomes the DETAIL field in
** eng_out.c). */
static void fail(sqlite3_context *ctx, const syn_err *e) {
  sqlite3_result_error(ctx, e->msg[0] ? e->msg : "XX000: numeric failure", -1);
}

/* Read argument v as a numeric; returns 1 for NULL, -1 after reporting an
** error, 0 with *out set. */
static int arg(sqlite3_context *ctx, sqlite3_value *v, dec *out) {
  syn_err e = {0};
  int rc = 0;
  switch (sqlite3_value_type(v)) {
  case SQLITE_NULL: return 1;
  case SQLITE_INTEGER: dec_from_i64(sqlite3_value_int64(v), out); return 0;
  case SQLITE_FLOAT: rc = dec_from_double(sqlite3_value_double(v), out, &e); break;
  default: {
    const char *s = (const char *)sqlite3_value_text(v);
    if (!s) {
      sqlite3_result_error_nomem(ctx);
      return -1;
    }
    rc = dec_parse(s, (size_t)sqlite3_value_bytes(v), out, &e);
  }
  }
  if (rc) {
    fail(ctx, &e);
    return -1;
  }
  return 0;
}

static void result(sqlite3_context *ctx, const dec *d) {
  char buf[DEC_TEXT_MAX];
  size_t n = dec_format(d, buf, sizeof buf);
  sqlite3_result_text(ctx, buf, (int)n, SQLITE_TRANSIENT);
}

/* syn_num(x[, typmod]): x as numeric text, numeric(p,s) applied. */
static void fn_num(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  dec d;
  if (arg(ctx, argv[0], &d)) return;
  if (argc > 1) {
    syn_err e = {0};
    if (dec_apply_typmod(&d, (int32_t)sqlite3_value_int(argv[1]), &e)) {
      fail(ctx, &e);
      return;
    }
  }
  result(ctx, &d);
}

typedef int (*dec_binop)(const dec *, const dec *, dec *, syn_err *);

static void binary(sqlite3_context *ctx, sqlite3_value **argv, dec_binop f) {
  dec a, b, r;
  if (arg(ctx, argv[0], &a) || arg(ctx, argv[1], &b)) return;
  syn_err e = {0};
  if (f(&a, &b, &r, &e)) {
    fail(ctx, &e);
    return;
  }
  result(ctx, &r);
}

static void fn_add(sqlite3_context *c, int n, sqlite3_value **v) { (void)n; binary(c, v, dec_add); }
static void fn_sub(sqlite3_context *c, int n, sqlite3_value **v) { (void)n; binary(c, v, dec_sub); }
static void fn_mul(sqlite3_context *c, int n, sqlite3_value **v) { (void)n; binary(c, v, dec_mul); }
static void fn_div(sqlite3_context *c, int n, sqlite3_value **v) { (void)n; binary(c, v, dec_div); }
static void fn_mod(sqlite3_context *c, int n, sqlite3_value **v) { (void)n; binary(c, v, dec_mod); }

/* syn_num_round(x[, s]) and syn_num_trunc(x[, s]). */
static void round_trunc(sqlite3_context *ctx, int argc, sqlite3_value **argv, bool round) {
  dec a, r;
  if (arg(ctx, argv[0], &a)) return;
  int s = 0;
  if (argc > 1) {
    if (sqlite3_value_type(argv[1]) == SQLITE_NULL) return;
    int64_t v = sqlite3_value_int64(argv[1]);
    /* PostgreSQL clamps the scale to +-NUMERIC_MAX_RESULT_SCALE. */
    s = v > 2000 ? 2000 : v < -2000 ? -2000 : (int)v;
  }
  syn_err e = {0};
  if (round ? dec_round(&a, s, &r, &e) : dec_trunc(&a, s, &r, &e)) {
    fail(ctx, &e);
    return;
  }
  result(ctx, &r);
}

static void fn_round(sqlite3_context *c, int n, sqlite3_value **v) { round_trunc(c, n, v, true); }
static void fn_trunc(sqlite3_context *c, int n, sqlite3_value **v) { round_trunc(c, n, v, false); }

/* syn_num_fn(x, k): one-argument functions, k = 0 abs, 1 neg, 2 ceil,
** 3 floor, 4 sign. */
static void fn_unary(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  dec a, r;
  if (arg(ctx, argv[0], &a)) return;
  syn_err e = {0};
  int rc = 0;
  switch (sqlite3_value_int(argv[1])) {
  case 0: dec_abs(&a, &r); break;
  case 1: dec_neg(&a, &r); break;
  case 2: rc = dec_ceil(&a, &r, &e); break;
  case 3: rc = dec_floor(&a, &r, &e); break;
  default: dec_sign(&a, &r); break;
  }
  if (rc) {
    fail(ctx, &e);
    return;
  }
  result(ctx, &r);
}

/* syn_num_int(x, bytes): numeric -> smallint/integer/bigint, rounding half
** away from zero (numeric_int4). */
static void fn_to_int(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  dec a;
  if (arg(ctx, argv[0], &a)) return;
  int bytes = sqlite3_value_int(argv[1]);
  int64_t lo = bytes == 2 ? INT16_MIN : bytes == 4 ? INT32_MIN : INT64_MIN;
  int64_t hi = bytes == 2 ? INT16_MAX : bytes == 4 ? INT32_MAX : INT64_MAX;
  const char *word = bytes == 2 ? "smallint" : bytes == 4 ? "integer" : "bigint";
  int64_t v;
  syn_err e = {0};
  if (dec_to_i64(&a, lo, hi, word, &v, &e)) {
    fail(ctx, &e);
    return;
  }
  sqlite3_result_int64(ctx, v);
}

/* syn_num_float(x): numeric -> float8. */
static void fn_to_float(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  if (sqlite3_value_type(argv[0]) == SQLITE_FLOAT || sqlite3_value_type(argv[0]) == SQLITE_INTEGER) {
    sqlite3_result_double(ctx, sqlite3_value_double(argv[0]));
    return;
  }
  dec a;
  if (arg(ctx, argv[0], &a)) return;
  sqlite3_result_double(ctx, dec_to_double(&a));
}

/* ---- aggregates: sum and avg, exact ---- */

/* Also window functions (sum/avg OVER ...): SQLite then removes rows that
** leave the frame with the inverse step. PostgreSQL's result scale is the
** largest display scale among the values in the frame (its numeric_accum_inv
** tracks it), so the values are counted by scale: after removals the sum is
** rounded to the largest scale still present, which is exact because every
** value left has at most that scale. */
#define AGG_SCALES 64

typedef struct agg {
  bool started;
  bool failed;
  int64_t count;
  dec sum;
  int32_t scales[AGG_SCALES + 1]; /* values by scale; the last: AGG_SCALES or more */
} agg;

static int scale_slot(const dec *x) { return x->scale < AGG_SCALES ? x->scale : AGG_SCALES; }

/* One value enters (add) or leaves (inverse step of a window) the sum. */
static void agg_accum(sqlite3_context *ctx, sqlite3_value *v, bool add) {
  agg *a = sqlite3_aggregate_context(ctx, sizeof *a);
  if (!a) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  if (a->failed || (!add && !a->started)) return;
  dec x;
  int rc = arg(ctx, v, &x);
  if (rc == 1) return;
  if (rc < 0) {
    a->failed = true;
    return;
  }
  syn_err e = {0};
  if (add && !a->started) {
    a->sum = x;
    a->started = true;
  } else if ((add ? dec_add : dec_sub)(&a->sum, &x, &a->sum, &e)) {
    a->failed = true;
    fail(ctx, &e);
    return;
  }
  a->count += add ? 1 : -1;
  a->scales[scale_slot(&x)] += add ? 1 : -1;
}

static void agg_step(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  agg_accum(ctx, argv[0], true);
}

static void agg_inverse(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  agg_accum(ctx, argv[0], false);
}

/* The frame's sum at the largest scale present (see struct agg); 1 when
** the frame holds no values (the result is NULL). */
static int frame_sum(sqlite3_context *ctx, agg *a, dec *out) {
  if (!a || !a->started || a->failed || a->count <= 0) return 1;
  int want = -1;
  for (int i = AGG_SCALES; i >= 0 && want < 0; i--)
    if (a->scales[i] > 0) want = i == AGG_SCALES ? a->sum.scale : i;
  if (want < 0 || want >= a->sum.scale) {
    *out = a->sum;
    return 0;
  }
  syn_err e = {0};
  if (dec_round(&a->sum, want, out, &e)) {
    fail(ctx, &e);
    return 1;
  }
  return 0;
}

static void sum_final(sqlite3_context *ctx) {
  agg *a = sqlite3_aggregate_context(ctx, 0);
  dec s;
  if (frame_sum(ctx, a, &s)) return; /* sum of no rows is NULL */
  result(ctx, &s);
}

/* avg = sum / count with numeric division, as numeric_avg and int8_avg. */
static void avg_final(sqlite3_context *ctx) {
  agg *a = sqlite3_aggregate_context(ctx, 0);
  dec s, n, r;
  if (frame_sum(ctx, a, &s)) return;
  dec_from_i64(a->count, &n);
  syn_err e = {0};
  if (dec_div(&s, &n, &r, &e)) {
    fail(ctx, &e);
    return;
  }
  result(ctx, &r);
}

/* ---- collation ---- */

/* Value order over numeric text. Text that is not a number (only possible
** when a non-numeric value reached a numeric column from outside synod)
** sorts after every number, byte-wise among itself, so the order stays
** total. */
static int coll_synnum(void *ud, int na, const void *pa, int nb, const void *pb) {
  (void)ud;
  /* Equal bytes are equal values (the common case when grouping). */
  if (na == nb && memcmp(pa, pb, (size_t)na) == 0) return 0;
  dec a, b;
  bool oka = dec_parse(pa, (size_t)na, &a, NULL) == 0;
  bool okb = dec_parse(pb, (size_t)nb, &b, NULL) == 0;
  if (oka && okb) return dec_cmp(&a, &b);
  if (oka != okb) return oka ? -1 : 1;
  int c = memcmp(pa, pb, (size_t)(na < nb ? na : nb));
  return c ? c : (na > nb) - (na < nb);
}

int eng__register_numeric(sqlite3 *db) {
  const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
  static const struct {
    const char *name;
    int nargs;
    void (*fn)(sqlite3_context *, int, sqlite3_value **);
  } fns[] = {
      {"syn_num", 1, fn_num},           {"syn_num", 2, fn_num},
      {"syn_num_add", 2, fn_add},       {"syn_num_sub", 2, fn_sub},
      {"syn_num_mul", 2, fn_mul},       {"syn_num_div", 2, fn_div},
      {"syn_num_mod", 2, fn_mod},       {"syn_num_round", 1, fn_round},
      {"syn_num_round", 2, fn_round},   {"syn_num_trunc", 1, fn_trunc},
      {"syn_num_trunc", 2, fn_trunc},   {"syn_num_fn", 2, fn_unary},
      {"syn_num_int", 2, fn_to_int},    {"syn_num_float", 1, fn_to_float},
  };
  int rc = SQLITE_OK;
  for (size_t i = 0; i < sizeof fns / sizeof fns[0] && rc == SQLITE_OK; i++)
    rc = sqlite3_create_function(db, fns[i].name, fns[i].nargs, flags, NULL, fns[i].fn, NULL,
                                 NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_window_function(db, "syn_num_sum", 1, flags, NULL, agg_step, sum_final,
                                        sum_final, agg_inverse, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_window_function(db, "syn_num_avg", 1, flags, NULL, agg_step, avg_final,
                                        avg_final, agg_inverse, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_collation(db, "synnum", SQLITE_UTF8, NULL, coll_synnum);
  return rc;
}
