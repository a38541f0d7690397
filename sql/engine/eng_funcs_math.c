/*
** PostgreSQL's double precision math functions as syn_* SQL functions
** (sql/rewrite_funcs.c maps the names). SQLite's own math functions are a
** compile-time option and return NULL where PostgreSQL raises an error, so
** synod brings its own: the SQLSTATEs and messages are PostgreSQL's
** (float.c): 2201F for an invalid power, 2201E for a bad logarithm,
** 22003 when the result overflows.
*/
#include "sql/engine/eng_int.h"

#include <math.h>

static bool arg_null(int argc, sqlite3_value **argv) {
  for (int i = 0; i < argc; i++)
    if (sqlite3_value_type(argv[i]) == SQLITE_NULL) return true;
  return false;
}

/* The result, or PostgreSQL's overflow/underflow error. */
static void result(sqlite3_context *ctx, double r, bool inputs_finite) {
  if (isinf(r) && inputs_finite) {
    sqlite3_result_error(ctx, "22003: value out of range: overflow", -1);
    return;
  }
  sqlite3_result_double(ctx, r);
}

static void fn_power(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (arg_null(argc, argv)) return;
  double x = sqlite3_value_double(argv[0]), y = sqlite3_value_double(argv[1]);
  if (x == 0 && y < 0) {
    sqlite3_result_error(ctx, "2201F: zero raised to a negative power is undefined", -1);
    return;
  }
  if (x < 0 && floor(y) != y) {
    sqlite3_result_error(ctx, "2201F: a negative number raised to a non-integer power yields a complex result", -1);
    return;
  }
  result(ctx, pow(x, y), isfinite(x) && isfinite(y));
}

static void fn_sqrt(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (arg_null(argc, argv)) return;
  double x = sqlite3_value_double(argv[0]);
  if (x < 0) {
    sqlite3_result_error(ctx, "2201F: cannot take square root of a negative number", -1);
    return;
  }
  sqlite3_result_double(ctx, sqrt(x));
}

static void fn_cbrt(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (arg_null(argc, argv)) return;
  sqlite3_result_double(ctx, cbrt(sqlite3_value_double(argv[0])));
}

static void fn_exp(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (arg_null(argc, argv)) return;
  double x = sqlite3_value_double(argv[0]);
  result(ctx, exp(x), isfinite(x));
}

static bool log_arg_ok(sqlite3_context *ctx, double x) {
  if (x == 0) {
    sqlite3_result_error(ctx, "2201E: cannot take logarithm of zero", -1);
    return false;
  }
  if (x < 0) {
    sqlite3_result_error(ctx, "2201E: cannot take logarithm of a negative number", -1);
    return false;
  }
  return true;
}

static void fn_ln(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (arg_null(argc, argv)) return;
  double x = sqlite3_value_double(argv[0]);
  if (log_arg_ok(ctx, x)) sqlite3_result_double(ctx, log(x));
}

static void fn_log10(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (arg_null(argc, argv)) return;
  double x = sqlite3_value_double(argv[0]);
  if (log_arg_ok(ctx, x)) sqlite3_result_double(ctx, log10(x));
}

static void fn_pi(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  sqlite3_result_double(ctx, M_PI);
}

static void fn_degrees(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (arg_null(argc, argv)) return;
  sqlite3_result_double(ctx, sqlite3_value_double(argv[0]) * (180.0 / M_PI));
}

static void fn_radians(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (arg_null(argc, argv)) return;
  sqlite3_result_double(ctx, sqlite3_value_double(argv[0]) * (M_PI / 180.0));
}

/* random(): uniform in [0, 1) from 53 random bits, like PostgreSQL's. */
static void fn_random(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  uint64_t r;
  sqlite3_randomness(sizeof r, &r);
  sqlite3_result_double(ctx, (double)(r >> 11) * (1.0 / 9007199254740992.0));
}

int eng__register_math_functions(sqlite3 *db) {
  static const struct {
    const char *name;
    int nargs;
    void (*fn)(sqlite3_context *, int, sqlite3_value **);
    bool volatile_;
  } f[] = {
      {"syn_power", 2, fn_power, false},     {"syn_sqrt", 1, fn_sqrt, false},
      {"syn_cbrt", 1, fn_cbrt, false},       {"syn_exp", 1, fn_exp, false},
      {"syn_ln", 1, fn_ln, false},           {"syn_log", 1, fn_log10, false},
      {"syn_pi", 0, fn_pi, false},           {"syn_degrees", 1, fn_degrees, false},
      {"syn_radians", 1, fn_radians, false}, {"syn_random", 0, fn_random, true},
  };
  int rc = SQLITE_OK;
  for (size_t i = 0; i < sizeof f / sizeof f[0] && rc == SQLITE_OK; i++) {
    int flags = SQLITE_UTF8 | SQLITE_INNOCUOUS | (f[i].volatile_ ? 0 : SQLITE_DETERMINISTIC);
    rc = sqlite3_create_function(db, f[i].name, f[i].nargs, flags, NULL, f[i].fn, NULL, NULL);
  }
  return rc;
}
