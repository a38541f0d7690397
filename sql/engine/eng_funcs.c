/*
** SQL functions the rewritten statements call where SQLite's own operators
** differ from PostgreSQL's. sql/rewrite.c emits `syn_div(a, b)` for `a / b`
** and `syn_mod(a, b)` for `a % b`, because SQLite answers NULL for a
** division by zero where PostgreSQL raises 22012, and because SQLite turns
** INT64_MIN / -1 into a real where PostgreSQL raises 22003.
**
** Errors are reported as "SQLSTATE: message"; eng__sqlite_error passes such
** messages through with their SQLSTATE.
*/
#include "sql/engine/eng_int.h"

#include <math.h>
#include <stdint.h>

/* Both operands as SQLite would do arithmetic on them: integers stay
** integers, anything else numeric becomes a real. Returns 1 when either is
** NULL (the result is NULL). */
static int operands(sqlite3_value **argv, int *both_int, sqlite3_int64 *ia, sqlite3_int64 *ib,
                    double *ra, double *rb) {
  int ta = sqlite3_value_numeric_type(argv[0]);
  int tb = sqlite3_value_numeric_type(argv[1]);
  if (ta == SQLITE_NULL || tb == SQLITE_NULL) return 1;
  *both_int = ta == SQLITE_INTEGER && tb == SQLITE_INTEGER;
  *ia = sqlite3_value_int64(argv[0]);
  *ib = sqlite3_value_int64(argv[1]);
  *ra = sqlite3_value_double(argv[0]);
  *rb = sqlite3_value_double(argv[1]);
  return 0;
}

static void fn_div(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  int both_int;
  sqlite3_int64 ia, ib;
  double ra, rb;
  if (operands(argv, &both_int, &ia, &ib, &ra, &rb)) return; /* NULL */
  if (both_int ? ib == 0 : rb == 0.0) {
    sqlite3_result_error(ctx, "22012: division by zero", -1);
    return;
  }
  if (both_int) {
    if (ia == INT64_MIN && ib == -1) {
      sqlite3_result_error(ctx, "22003: bigint out of range", -1);
      return;
    }
    sqlite3_result_int64(ctx, ia / ib); /* truncates toward zero, as PostgreSQL */
  } else {
    sqlite3_result_double(ctx, ra / rb);
  }
}

static void fn_mod(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  int both_int;
  sqlite3_int64 ia, ib;
  double ra, rb;
  if (operands(argv, &both_int, &ia, &ib, &ra, &rb)) return;
  if (both_int ? ib == 0 : rb == 0.0) {
    sqlite3_result_error(ctx, "22012: division by zero", -1);
    return;
  }
  if (both_int) sqlite3_result_int64(ctx, ib == -1 ? 0 : ia % ib); /* sign of the dividend */
  else sqlite3_result_double(ctx, fmod(ra, rb));
}

/* syn_int2(x) / syn_int4(x) wrap smallint and integer arithmetic: SQLite
** computes in int64, PostgreSQL fails outside the type's range. A real
** argument (an operand whose type the rewrite could not see) passes. */
static void int_range(sqlite3_context *ctx, sqlite3_value *v, sqlite3_int64 lo,
                      sqlite3_int64 hi, const char *msg) {
  if (sqlite3_value_type(v) == SQLITE_INTEGER) {
    sqlite3_int64 x = sqlite3_value_int64(v);
    if (x < lo || x > hi) {
      sqlite3_result_error(ctx, msg, -1);
      return;
    }
  }
  sqlite3_result_value(ctx, v);
}

static void fn_int2(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  int_range(ctx, argv[0], INT16_MIN, INT16_MAX, "22003: smallint out of range");
}

static void fn_int4(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  int_range(ctx, argv[0], INT32_MIN, INT32_MAX, "22003: integer out of range");
}

/* syn_cast(value, type oid, typmod): a ::cast from text, with the input
** rules and SQLSTATEs of a write (cat_coerce_type). */
static void fn_cast(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  const unsigned char *txt = sqlite3_value_text(argv[0]);
  syn_value in = {.type = SYN_V_TEXT};
  in.u.b.p = txt ? txt : (const unsigned char *)"";
  in.u.b.n = (size_t)sqlite3_value_bytes(argv[0]);
  syn_value out;
  cat_buf scratch = {0};
  syn_err e;
  syn_err_clear(&e);
  if (cat_coerce_type((uint32_t)sqlite3_value_int64(argv[1]), (int32_t)sqlite3_value_int(argv[2]),
                      &in, &out, &scratch, &e) < 0) {
    sqlite3_result_error(ctx, e.msg, -1);
  } else {
    switch (out.type) {
    case SYN_V_INT: sqlite3_result_int64(ctx, out.u.i); break;
    case SYN_V_REAL: sqlite3_result_double(ctx, out.u.r); break;
    case SYN_V_TEXT:
      sqlite3_result_text64(ctx, (const char *)out.u.b.p, out.u.b.n, SQLITE_TRANSIENT, SQLITE_UTF8);
      break;
    case SYN_V_BLOB: sqlite3_result_blob64(ctx, out.u.b.p, out.u.b.n, SQLITE_TRANSIENT); break;
    default: sqlite3_result_null(ctx); break;
    }
  }
  cat_buf_free(&scratch);
}

int eng_register_functions(sqlite3 *db) {
  const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
  int rc = sqlite3_create_function(db, "syn_div", 2, flags, NULL, fn_div, NULL, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "syn_mod", 2, flags, NULL, fn_mod, NULL, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "syn_int2", 1, flags, NULL, fn_int2, NULL, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "syn_int4", 1, flags, NULL, fn_int4, NULL, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "syn_cast", 3, flags, NULL, fn_cast, NULL, NULL);
  if (rc == SQLITE_OK) rc = eng__register_text_functions(db);
  if (rc == SQLITE_OK) rc = eng__register_math_functions(db);
  if (rc == SQLITE_OK) rc = eng__register_time_functions(db);
  if (rc == SQLITE_OK) rc = eng__register_numeric(db);
  return rc;
}
