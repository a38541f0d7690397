/*
** common/decimal: every expected value below was printed by PostgreSQL 15
** for the same expression (psql, e.g. `select 10.5 % 3`).
*/
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common/decimal.h"

static dec A, B, R;
static char out[DEC_TEXT_MAX];
static syn_err err;

static void P(const char *s, dec *d) {
  int rc = dec_parse(s, strlen(s), d, &err);
  cr_assert_eq(rc, 0, "parse %s: %s", s, err.msg);
}

static const char *F(const dec *d) {
  dec_format(d, out, sizeof out);
  return out;
}

typedef int (*binop)(const dec *, const dec *, dec *, syn_err *);

static void check2(binop f, const char *a, const char *b, const char *want) {
  P(a, &A);
  P(b, &B);
  int rc = f(&A, &B, &R, &err);
  cr_assert_eq(rc, 0, "%s ? %s: %s", a, b, err.msg);
  cr_assert_str_eq(F(&R), want, "%s ? %s", a, b);
}

static void fails(const char *s, const char *state) {
  int rc = dec_parse(s, strlen(s), &A, &err);
  cr_assert_neq(rc, 0, "%s parsed", s);
  cr_assert_eq(strncmp(err.msg, state, 5), 0, "%s: %s", s, err.msg);
}

Test(decimal, parse_and_format) {
  static const char *cases[][2] = {
      {"1.50", "1.50"},      {"  -0.00 ", "0.00"}, {"1e3", "1000"},   {"1.50e-2", "0.0150"},
      {"+.5", "0.5"},        {"5.", "5"},          {"007", "7"},      {"nan", "NaN"},
      {" NaN ", "NaN"},      {"-0", "0"},          {"1.5E+1", "15"},  {"0.000", "0.000"},
      {"-12345678901234567890123.4500", "-12345678901234567890123.4500"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    P(cases[i][0], &A);
    cr_assert_str_eq(F(&A), cases[i][1], "%s", cases[i][0]);
  }
  fails("", "22P02");
  fails("abc", "22P02");
  fails("1.2.3", "22P02");
  fails(".", "22P02");
  fails("1e", "22P02");
  fails("1e1001", "22003");
  fails("1e-1001", "22003");
  fails("1e99999999999", "22003");
  fails("- 1", "22P02");
  fails("1 2", "22P02");
  fails("Infinity", "0A000");
  fails("-inf", "0A000");
  char big[1100];
  memset(big, '9', 1001);
  big[1001] = '\0';
  fails(big, "22003");
  big[1000] = '\0';
  P(big, &A);
  cr_assert_eq(A.n, 1000);
}

Test(decimal, compare) {
  P("1.5", &A);
  P("1.50", &B);
  cr_assert_eq(dec_cmp(&A, &B), 0);
  P("-2", &B);
  cr_assert_eq(dec_cmp(&A, &B), 1);
  cr_assert_eq(dec_cmp(&B, &A), -1);
  P("-10", &A);
  cr_assert_eq(dec_cmp(&A, &B), -1);
  P("NaN", &A);
  P("1e100", &B);
  cr_assert_eq(dec_cmp(&A, &B), 1);
  P("nan", &B);
  cr_assert_eq(dec_cmp(&A, &B), 0);
  P("0.001", &A);
  P("0.01", &B);
  cr_assert_eq(dec_cmp(&A, &B), -1);
  P("0", &A);
  P("-0.000", &B);
  cr_assert_eq(dec_cmp(&A, &B), 0);
}

Test(decimal, add_sub_mul) {
  check2(dec_add, "0.1", "0.2", "0.3");
  check2(dec_add, "1.50", "1", "2.50");
  check2(dec_add, "-1.5", "1.5", "0.0");
  check2(dec_add, "999.99", "0.01", "1000.00");
  check2(dec_sub, "1", "1.001", "-0.001");
  check2(dec_sub, "-5", "-7.25", "2.25");
  check2(dec_mul, "1.5", "2.25", "3.375");
  check2(dec_mul, "12345678901234567890", "10", "123456789012345678900");
  check2(dec_mul, "-0.10", "0", "0.00");
  check2(dec_mul, "-3", "-4.0", "12.0");
  check2(dec_add, "NaN", "1", "NaN");
}

Test(decimal, div_scale_as_postgres) {
  check2(dec_div, "1", "3", "0.33333333333333333333");
  check2(dec_div, "10", "4", "2.5000000000000000");
  check2(dec_div, "2", "3.0", "0.66666666666666666667");
  check2(dec_div, "0.0000000001", "3", "0.0000000000333333333333333333");
  check2(dec_div, "123456789012345678901234567890", "7", "17636684144620811271604938270");
  check2(dec_div, "100", "3", "33.3333333333333333");
  check2(dec_div, "0.001", "7", "0.00014285714285714286");
  check2(dec_div, "1", "1000000", "0.000001000000000000000000");
  check2(dec_div, "1.000", "3", "0.33333333333333333333");
  check2(dec_div, "9999", "0.0001", "99990000.000000000000");
  check2(dec_div, "-1", "3", "-0.33333333333333333333");
  P("1", &A);
  P("0.00", &B);
  cr_assert_neq(dec_div(&A, &B, &R, &err), 0);
  cr_assert_eq(strncmp(err.msg, "22012", 5), 0);
  cr_assert_neq(dec_mod(&A, &B, &R, &err), 0);
  cr_assert_eq(strncmp(err.msg, "22012", 5), 0);
}

Test(decimal, mod) {
  check2(dec_mod, "10.5", "3", "1.5");
  check2(dec_mod, "-7.5", "2", "-1.5");
  check2(dec_mod, "7", "-2.5", "2.0");
  check2(dec_mod, "10", "3", "1");
  check2(dec_mod, "0", "3.00", "0.00");
}

Test(decimal, round_trunc_ceil_floor) {
  static const struct { const char *in; int s; const char *r, *t; } c[] = {
      {"2.5", 0, "3", "2"},          {"-2.5", 0, "-3", "-2"},
      {"1.2345", 2, "1.23", "1.23"}, {"1234.5", -2, "1200", "1200"},
      {"-1.99", 1, "-2.0", "-1.9"},  {"1.5", 3, "1.500", "1.500"},
      {"0.005", 2, "0.01", "0.00"},  {"99.95", 1, "100.0", "99.9"},
      {"-0.4", 0, "0", "0"},         {"50", -2, "100", "0"},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    P(c[i].in, &A);
    cr_assert_eq(dec_round(&A, c[i].s, &R, &err), 0);
    cr_assert_str_eq(F(&R), c[i].r, "round(%s, %d)", c[i].in, c[i].s);
    cr_assert_eq(dec_trunc(&A, c[i].s, &R, &err), 0);
    cr_assert_str_eq(F(&R), c[i].t, "trunc(%s, %d)", c[i].in, c[i].s);
  }
  static const char *cf[][3] = {{"-0.5", "0", "-1"}, {"1.1", "2", "1"}, {"3.000", "3", "3"},
                                {"-2.1", "-2", "-3"}};
  for (size_t i = 0; i < sizeof cf / sizeof cf[0]; i++) {
    P(cf[i][0], &A);
    cr_assert_eq(dec_ceil(&A, &R, &err), 0);
    cr_assert_str_eq(F(&R), cf[i][1], "ceil(%s)", cf[i][0]);
    cr_assert_eq(dec_floor(&A, &R, &err), 0);
    cr_assert_str_eq(F(&R), cf[i][2], "floor(%s)", cf[i][0]);
  }
  P("-1.50", &A);
  dec_abs(&A, &R);
  cr_assert_str_eq(F(&R), "1.50");
  dec_neg(&A, &R);
  cr_assert_str_eq(F(&R), "1.50");
  dec_sign(&A, &R);
  cr_assert_str_eq(F(&R), "-1");
  P("0.00", &A);
  dec_neg(&A, &R);
  cr_assert_str_eq(F(&R), "0.00");
  dec_sign(&A, &R);
  cr_assert_str_eq(F(&R), "0");
}

Test(decimal, conversions) {
  int64_t v = 0;
  P("2.5", &A);
  cr_assert_eq(dec_to_i64(&A, INT32_MIN, INT32_MAX, "integer", &v, &err), 0);
  cr_assert_eq(v, 3);
  P("-2.5", &A);
  cr_assert_eq(dec_to_i64(&A, INT32_MIN, INT32_MAX, "integer", &v, &err), 0);
  cr_assert_eq(v, -3);
  P("2147483647.5", &A);
  cr_assert_neq(dec_to_i64(&A, INT32_MIN, INT32_MAX, "integer", &v, &err), 0);
  cr_assert_str_eq(err.msg, "22003: integer out of range");
  P("-9223372036854775808", &A);
  cr_assert_eq(dec_to_i64(&A, INT64_MIN, INT64_MAX, "bigint", &v, &err), 0);
  cr_assert_eq(v, INT64_MIN);
  P("9223372036854775808", &A);
  cr_assert_neq(dec_to_i64(&A, INT64_MIN, INT64_MAX, "bigint", &v, &err), 0);
  P("NaN", &A);
  cr_assert_neq(dec_to_i64(&A, INT64_MIN, INT64_MAX, "bigint", &v, &err), 0);
  cr_assert_eq(strncmp(err.msg, "0A000", 5), 0);
  dec_from_i64(INT64_MIN, &A);
  cr_assert_str_eq(F(&A), "-9223372036854775808");
  dec_from_i64(0, &A);
  cr_assert_str_eq(F(&A), "0");
  cr_assert_eq(dec_from_double(1e20, &A, &err), 0);
  cr_assert_str_eq(F(&A), "100000000000000000000");
  cr_assert_eq(dec_from_double(0.1, &A, &err), 0);
  cr_assert_str_eq(F(&A), "0.1");
  cr_assert_eq(dec_from_double(1.23e-5, &A, &err), 0);
  cr_assert_str_eq(F(&A), "0.0000123");
  cr_assert_neq(dec_from_double(INFINITY, &A, &err), 0);
  P("0.30", &A);
  cr_assert_eq(dec_to_double(&A), 0.3);
}

Test(decimal, typmod) {
  int32_t tm72 = ((7 << 16) | 2) + 4, tm22 = ((2 << 16) | 2) + 4;
  P("99999.994", &A);
  cr_assert_eq(dec_apply_typmod(&A, tm72, &err), 0);
  cr_assert_str_eq(F(&A), "99999.99");
  P("99999.995", &A);
  cr_assert_neq(dec_apply_typmod(&A, tm72, &err), 0);
  cr_assert_str_eq(err.msg, "22003: numeric field overflow\nDETAIL: A field with precision 7, "
                            "scale 2 must round to an absolute value less than 10^5.");
  P("1", &A);
  cr_assert_eq(dec_apply_typmod(&A, tm72, &err), 0);
  cr_assert_str_eq(F(&A), "1.00");
  P("0.995", &A);
  cr_assert_neq(dec_apply_typmod(&A, tm22, &err), 0);
  P("-0.994", &A);
  cr_assert_eq(dec_apply_typmod(&A, tm22, &err), 0);
  cr_assert_str_eq(F(&A), "-0.99");
  P("NaN", &A);
  cr_assert_eq(dec_apply_typmod(&A, tm22, &err), 0);
}

Test(decimal, strip_and_limits) {
  P("1.500", &A);
  dec_strip(&A);
  cr_assert_str_eq(F(&A), "1.5");
  P("-2.00", &A);
  dec_strip(&A);
  cr_assert_str_eq(F(&A), "-2");
  P("0.000", &A);
  dec_strip(&A);
  cr_assert_str_eq(F(&A), "0");
  /* Results beyond the limits fail instead of growing without bound. */
  char big[1100];
  memset(big, '9', 1000);
  big[1000] = '\0';
  P(big, &A);
  P("10", &B);
  cr_assert_neq(dec_mul(&A, &B, &R, &err), 0);
  cr_assert_eq(strncmp(err.msg, "22003", 5), 0);
  cr_assert_neq(dec_add(&A, &A, &R, &err), 0);
  P("0.001", &B);
  cr_assert_neq(dec_div(&A, &B, &R, &err), 0);
  /* A long division at the size limit stays exact: (10^1000 - 1) / 9. */
  P("9", &B);
  cr_assert_eq(dec_div(&A, &B, &R, &err), 0);
  cr_assert_eq(R.n, 1000);
  for (int i = 0; i < R.n; i++) cr_assert_eq(R.d[i], 1);
}
