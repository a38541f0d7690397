/* Catalog types: type resolution, coercion on write, PG text output,
** table serialisation, SQLSTATE mapping. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql/catalog.h"
#include "sql/sqlstate.h"

static syn_value txt(const char *s) {
  syn_value v = {.type = SYN_V_TEXT};
  v.u.b.p = (const uint8_t *)s;
  v.u.b.n = strlen(s);
  return v;
}
static syn_value ival(int64_t i) { return (syn_value){.type = SYN_V_INT, .u.i = i}; }
static syn_value rval(double d) { return (syn_value){.type = SYN_V_REAL, .u.r = d}; }

static const char *state_of(const syn_err *e) {
  static char st[6];
  sqlst_split(e, st, NULL);
  return st;
}

/* Coerce text to a type; returns the SQLSTATE ("00000" on success) and the
** PG text output of the stored value in out. */
static const char *co(uint32_t oid, int32_t typmod, syn_value in, char *out, size_t cap) {
  static char ok[] = "00000";
  syn_err e;
  syn_err_clear(&e);
  cat_buf scratch = {0}, fmt = {0};
  syn_value v;
  int rc = cat_coerce_type(oid, typmod, &in, &v, &scratch, &e);
  if (rc) {
    cat_buf_free(&scratch);
    out[0] = '\0';
    return state_of(&e);
  }
  cr_assert_eq(cat_format_text(oid, typmod, &v, &fmt, &e), 0);
  snprintf(out, cap, "%s", fmt.p);
  cat_buf_free(&scratch);
  cat_buf_free(&fmt);
  return ok;
}

#define CO_OK(oid, tm, in, expect)                                   \
  do {                                                              \
    char o_[256];                                                   \
    cr_assert_str_eq(co(oid, tm, in, o_, sizeof o_), "00000");     \
    cr_assert_str_eq(o_, expect);                                   \
  } while (0)
#define CO_ERR(oid, tm, in, state)                                   \
  do {                                                              \
    char o_[256];                                                   \
    cr_assert_str_eq(co(oid, tm, in, o_, sizeof o_), state);       \
  } while (0)

Test(catalog, type_resolve) {
  uint32_t oid;
  int32_t tm;
  bool serial;
  syn_err e;
  struct { const char *n; uint32_t oid; bool serial; } cases[] = {
      {"int2", 21, false}, {"int4", 23, false}, {"int8", 20, false}, {"serial", 23, true},
      {"bigserial", 20, true}, {"bool", 16, false}, {"float4", 700, false},
      {"float8", 701, false}, {"numeric", 1700, false}, {"text", 25, false},
      {"varchar", 1043, false}, {"bpchar", 1042, false}, {"bytea", 17, false},
      {"date", 1082, false}, {"timestamp", 1114, false}, {"timestamptz", 1184, false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cr_assert_eq(cat_type_resolve(cases[i].n, NULL, 0, &oid, &tm, &serial, &e), 0, "%s", cases[i].n);
    cr_assert_eq(oid, cases[i].oid, "%s", cases[i].n);
    cr_assert_eq(serial, cases[i].serial);
  }
  int32_t m[2] = {10, 2};
  cr_assert_eq(cat_type_resolve("varchar", m, 1, &oid, &tm, NULL, &e), 0);
  cr_assert_eq(tm, 14);
  cr_assert_eq(cat_type_resolve("numeric", m, 2, &oid, &tm, NULL, &e), 0);
  cr_assert_eq(tm, ((10 << 16) | 2) + 4);
  cr_assert_eq(cat_type_resolve("bpchar", NULL, 0, &oid, &tm, NULL, &e), 0);
  cr_assert_eq(tm, 5, "char means char(1)");
  cr_assert_neq(cat_type_resolve("jsonb", NULL, 0, &oid, &tm, NULL, &e), 0);
  cr_assert_str_eq(state_of(&e), "42704");
  m[0] = 0;
  cr_assert_neq(cat_type_resolve("varchar", m, 1, &oid, &tm, NULL, &e), 0);
  cr_assert_str_eq(state_of(&e), "22023");
  char buf[64];
  cat_type_display(CAT_OID_VARCHAR, 14, buf, sizeof buf);
  cr_assert_str_eq(buf, "character varying(10)");
  cat_type_display(CAT_OID_NUMERIC, ((10 << 16) | 2) + 4, buf, sizeof buf);
  cr_assert_str_eq(buf, "numeric(10,2)");
}

Test(catalog, typlen_and_storage) {
  cr_assert_eq(cat_type_len(CAT_OID_BOOL), 1);
  cr_assert_eq(cat_type_len(CAT_OID_INT2), 2);
  cr_assert_eq(cat_type_len(CAT_OID_INT4), 4);
  cr_assert_eq(cat_type_len(CAT_OID_INT8), 8);
  cr_assert_eq(cat_type_len(CAT_OID_FLOAT8), 8);
  cr_assert_eq(cat_type_len(CAT_OID_DATE), 4);
  cr_assert_eq(cat_type_len(CAT_OID_TIMESTAMPTZ), 8);
  cr_assert_eq(cat_type_len(CAT_OID_TEXT), -1);
  cr_assert_eq(cat_type_len(CAT_OID_NUMERIC), -1);
  cr_assert_eq(cat_type_storage(CAT_OID_BOOL), SYN_V_INT);
  cr_assert_eq(cat_type_storage(CAT_OID_BYTEA), SYN_V_BLOB);
  cr_assert_eq(cat_type_storage(CAT_OID_DATE), SYN_V_TEXT);
  cr_assert_str_eq(cat_type_sqlite(CAT_OID_INT8), "INTEGER");
  cr_assert_str_eq(cat_type_sqlite(CAT_OID_FLOAT4), "REAL");
}

Test(catalog, integers) {
  CO_OK(CAT_OID_INT4, -1, txt("42"), "42");
  CO_OK(CAT_OID_INT4, -1, txt("  -7 "), "-7");
  CO_OK(CAT_OID_INT8, -1, txt("9223372036854775807"), "9223372036854775807");
  CO_OK(CAT_OID_INT8, -1, txt("-9223372036854775808"), "-9223372036854775808");
  CO_ERR(CAT_OID_INT8, -1, txt("9223372036854775808"), "22003");
  CO_ERR(CAT_OID_INT4, -1, txt("abc"), "22P02");
  CO_ERR(CAT_OID_INT4, -1, txt("12x"), "22P02");
  CO_ERR(CAT_OID_INT4, -1, txt(""), "22P02");
  CO_ERR(CAT_OID_INT2, -1, txt("32768"), "22003");
  CO_OK(CAT_OID_INT2, -1, txt("-32768"), "-32768");
  CO_ERR(CAT_OID_INT4, -1, ival(2147483648LL), "22003");
  CO_OK(CAT_OID_INT4, -1, ival(2147483647LL), "2147483647");
  CO_OK(CAT_OID_INT4, -1, rval(2.5), "2");  /* rint: half to even */
  CO_OK(CAT_OID_INT4, -1, rval(3.5), "4");
  CO_ERR(CAT_OID_INT4, -1, rval(NAN), "22003");
  syn_value blob = {.type = SYN_V_BLOB};
  CO_ERR(CAT_OID_INT4, -1, blob, "42804");
}

Test(catalog, booleans) {
  const char *yes[] = {"t", "true", "TRUE", "yes", "y", "on", "1", " tr "};
  const char *no[] = {"f", "false", "no", "n", "off", "0", "FALSE", "of"};
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) CO_OK(CAT_OID_BOOL, -1, txt(yes[i]), "t");
  for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) CO_OK(CAT_OID_BOOL, -1, txt(no[i]), "f");
  CO_ERR(CAT_OID_BOOL, -1, txt("o"), "22P02");
  CO_ERR(CAT_OID_BOOL, -1, txt("maybe"), "22P02");
  CO_OK(CAT_OID_BOOL, -1, ival(1), "t");
  CO_ERR(CAT_OID_BOOL, -1, ival(7), "42804");
}

Test(catalog, floats) {
  CO_OK(CAT_OID_FLOAT8, -1, txt("1.5"), "1.5");
  CO_OK(CAT_OID_FLOAT8, -1, txt("NaN"), "NaN");
  CO_OK(CAT_OID_FLOAT8, -1, txt("-Infinity"), "-Infinity");
  CO_OK(CAT_OID_FLOAT8, -1, ival(3), "3");
  CO_ERR(CAT_OID_FLOAT8, -1, txt("1e400"), "22003");
  CO_ERR(CAT_OID_FLOAT8, -1, txt("x1"), "22P02");
  CO_ERR(CAT_OID_FLOAT8, -1, txt("0x10"), "22P02");
  CO_ERR(CAT_OID_FLOAT4, -1, txt("1e39"), "22003");
  CO_OK(CAT_OID_FLOAT4, -1, txt("0.1"), "0.1");
}

Test(catalog, numeric) {
  int32_t n52 = ((5 << 16) | 2) + 4;
  CO_OK(CAT_OID_NUMERIC, n52, txt("123.456"), "123.46");
  CO_OK(CAT_OID_NUMERIC, n52, txt("-1.005e1"), "-10.05");
  CO_OK(CAT_OID_NUMERIC, n52, ival(5), "5.00");
  CO_ERR(CAT_OID_NUMERIC, n52, txt("1234.5"), "22003");
  CO_ERR(CAT_OID_NUMERIC, n52, ival(1000), "22003");
  CO_ERR(CAT_OID_NUMERIC, n52, txt("abc"), "22P02");
  CO_OK(CAT_OID_NUMERIC, -1, txt("0.1"), "0.1");
  /* Exact, with the display scale kept (PostgreSQL 15 prints the same). */
  CO_OK(CAT_OID_NUMERIC, -1, txt("12345678901234567890.10"), "12345678901234567890.10");
  CO_OK(CAT_OID_NUMERIC, -1, txt("1e20"), "100000000000000000000");
  CO_OK(CAT_OID_NUMERIC, -1, txt("0.00001"), "0.00001");
  CO_OK(CAT_OID_NUMERIC, -1, txt(" NaN "), "NaN");
  CO_OK(CAT_OID_NUMERIC, -1, rval(0.1), "0.1");
  CO_OK(CAT_OID_NUMERIC, n52, rval(2.675), "2.68"); /* float8 -> numeric: 15 digits first */
  CO_ERR(CAT_OID_NUMERIC, -1, txt("Infinity"), "0A000");
  CO_ERR(CAT_OID_NUMERIC, -1, txt("1.2.3"), "22P02");
  syn_value v = txt("7.5"), out;
  cat_buf scratch = {0};
  cr_assert_eq(cat_coerce_type(CAT_OID_NUMERIC, -1, &v, &out, &scratch, NULL), 0);
  cr_assert_eq(out.type, SYN_V_TEXT);
  cat_buf_free(&scratch);
  cr_assert_eq(cat_type_storage(CAT_OID_NUMERIC), SYN_V_TEXT);
  /* Assignment casts from numeric text. */
  syn_err e;
  v = txt("-2.5");
  cr_assert_eq(cat_numeric_assign(CAT_OID_INT4, &v, &e), 0);
  cr_assert_eq(v.type, SYN_V_INT);
  cr_assert_eq(v.u.i, -3);
  v = txt("40000");
  cr_assert_neq(cat_numeric_assign(CAT_OID_INT2, &v, &e), 0);
  cr_assert_str_eq(e.msg, "22003: smallint out of range");
  v = txt("0.25");
  cr_assert_eq(cat_numeric_assign(CAT_OID_FLOAT8, &v, &e), 0);
  cr_assert_eq(v.u.r, 0.25);
  v = txt("0.25");
  cr_assert_eq(cat_numeric_assign(CAT_OID_TEXT, &v, &e), 0);
  cr_assert_eq(v.type, SYN_V_TEXT);
}

/* Keys of unconstrained numeric columns lose trailing fractional zeros, so
** 1.5 and 1.50 are one key (and one shard); other columns keep the scale. */
Test(catalog, numeric_keys) {
  cat_table *t = cat_table_new("n");
  cr_assert(cat_table_add_column(t, "k", CAT_OID_NUMERIC, -1, true, CAT_DEF_NONE, NULL, NULL) >= 0);
  cr_assert(cat_table_add_column(t, "v", CAT_OID_NUMERIC, -1, false, CAT_DEF_NONE, NULL, NULL) >= 0);
  t->npk = 1;
  t->pk = malloc(sizeof(int));
  t->pk[0] = 0;
  t->dist_col = 0;
  syn_value row[2] = {txt("1.50"), txt("1.50")};
  cat_buf sc[2] = {{0}, {0}};
  cr_assert_eq(cat_coerce_row(t, row, sc, 2, NULL), 0);
  cr_assert_eq(row[0].u.b.n, 3);
  cr_assert_eq(memcmp(row[0].u.b.p, "1.5", 3), 0);
  cr_assert_eq(row[1].u.b.n, 4);
  cr_assert_eq(memcmp(row[1].u.b.p, "1.50", 4), 0);
  /* The key form of a compared value is the stored form. */
  cat_buf kb = {0};
  syn_value in = rval(2.50), k;
  cr_assert_eq(cat_numeric_key(&t->cols[0], &in, &k, &kb, NULL), 0);
  cr_assert_eq(k.u.b.n, 3);
  cr_assert_eq(memcmp(k.u.b.p, "2.5", 3), 0);
  t->cols[0].typmod = ((6 << 16) | 2) + 4;
  in = txt("1.505");
  cr_assert_eq(cat_numeric_key(&t->cols[0], &in, &k, &kb, NULL), 0);
  cr_assert_eq(memcmp(k.u.b.p, "1.51", 4), 0);
  in = txt("1e9");
  cr_assert_neq(cat_numeric_key(&t->cols[0], &in, &k, &kb, NULL), 0);
  in = txt("x");
  cr_assert_neq(cat_numeric_key(&t->cols[0], &in, &k, &kb, NULL), 0);
  cat_buf_free(&kb);
  t->cols[0].typmod = -1;
  cat_buf d = {0};
  cr_assert_eq(cat_table_sqlite_decl(t, &d, NULL), 0);
  cr_assert_str_eq(d.p, "CREATE TABLE \"n\" (\"k\" TEXT COLLATE synnum, \"v\" TEXT COLLATE synnum, "
               "PRIMARY KEY (\"k\")) WITHOUT ROWID");
  cat_buf_free(&d);
  cat_buf_free(&sc[0]);
  cat_buf_free(&sc[1]);
  cat_table_free(t);
}

Test(catalog, character_types) {
  int32_t v3 = 3 + 4, c4 = 4 + 4;
  CO_OK(CAT_OID_VARCHAR, v3, txt("abc"), "abc");
  CO_ERR(CAT_OID_VARCHAR, v3, txt("abcd"), "22001");
  CO_OK(CAT_OID_VARCHAR, v3, txt("ab   "), "ab ");
  CO_OK(CAT_OID_VARCHAR, v3, txt("h\xc3\xa9\xc3\xa9"), "h\xc3\xa9\xc3\xa9"); /* 3 characters */
  CO_OK(CAT_OID_BPCHAR, c4, txt("ab"), "ab  ");
  CO_ERR(CAT_OID_BPCHAR, c4, txt("abcde"), "22001");
  CO_OK(CAT_OID_TEXT, -1, ival(12), "12");
  CO_OK(CAT_OID_TEXT, -1, rval(0.5), "0.5");
  syn_value blob = {.type = SYN_V_BLOB};
  CO_ERR(CAT_OID_TEXT, -1, blob, "42804");
}

Test(catalog, bytea) {
  CO_OK(CAT_OID_BYTEA, -1, txt("\\x0a0B"), "\\x0a0b");
  CO_OK(CAT_OID_BYTEA, -1, txt("ab\\\\\\001"), "\\x61625c01");
  CO_OK(CAT_OID_BYTEA, -1, txt(""), "\\x");
  CO_ERR(CAT_OID_BYTEA, -1, txt("\\xzz"), "22P02");
  CO_ERR(CAT_OID_BYTEA, -1, txt("\\x123"), "22P02");
  CO_ERR(CAT_OID_BYTEA, -1, txt("bad\\q"), "22P02");
  uint8_t raw[] = {0, 255};
  syn_value blob = {.type = SYN_V_BLOB, .u.b = {raw, 2}};
  CO_OK(CAT_OID_BYTEA, -1, blob, "\\x00ff");
}

Test(catalog, dates_and_times) {
  CO_OK(CAT_OID_DATE, -1, txt("2024-02-29"), "2024-02-29");
  CO_OK(CAT_OID_DATE, -1, txt("2024-1-2"), "2024-01-02");
  CO_OK(CAT_OID_DATE, -1, txt("2024-01-02 03:04:05"), "2024-01-02");
  CO_ERR(CAT_OID_DATE, -1, txt("2023-02-29"), "22008");
  CO_ERR(CAT_OID_DATE, -1, txt("2023-13-01"), "22008");
  CO_ERR(CAT_OID_DATE, -1, txt("junk"), "22007");
  CO_ERR(CAT_OID_DATE, -1, txt("now"), "0A000");
  CO_OK(CAT_OID_TIMESTAMP, -1, txt("2024-01-02 03:04:05.5"), "2024-01-02 03:04:05.5");
  CO_OK(CAT_OID_TIMESTAMP, -1, txt("2024-01-02T03:04:05"), "2024-01-02 03:04:05");
  CO_OK(CAT_OID_TIMESTAMP, -1, txt("2024-01-02"), "2024-01-02 00:00:00");
  CO_OK(CAT_OID_TIMESTAMP, -1, txt("2024-01-02 03:04:05.1234567"), "2024-01-02 03:04:05.123457");
  CO_ERR(CAT_OID_TIMESTAMP, -1, txt("2024-01-02 25:00:00"), "22008");
  CO_ERR(CAT_OID_TIMESTAMP, -1, txt("2024-01-02 03:04:05 nowhere"), "22007");
  CO_OK(CAT_OID_TIMESTAMPTZ, -1, txt("2024-01-02 03:04:05+02"), "2024-01-02 01:04:05+00");
  CO_OK(CAT_OID_TIMESTAMPTZ, -1, txt("2024-01-01 23:30:00-01:00"), "2024-01-02 00:30:00+00");
  CO_OK(CAT_OID_TIMESTAMPTZ, -1, txt("2024-12-31T23:59:59.75Z"), "2024-12-31 23:59:59.75+00");
  CO_OK(CAT_OID_TIMESTAMPTZ, -1, txt("2024-03-01 00:00:00+0530"), "2024-02-29 18:30:00+00");
  CO_ERR(CAT_OID_TIMESTAMPTZ, -1, ival(5), "42804");
}

Test(catalog, not_null) {
  cat_table *t = cat_table_new("acct");
  syn_err e;
  cr_assert_eq(cat_table_add_column(t, "id", CAT_OID_INT4, -1, true, CAT_DEF_NONE, NULL, &e), 0);
  cr_assert_eq(cat_table_add_column(t, "note", CAT_OID_VARCHAR, 2 + 4, false, CAT_DEF_NONE, NULL, &e), 1);
  cr_assert_lt(cat_table_add_column(t, "id", CAT_OID_INT4, -1, false, CAT_DEF_NONE, NULL, &e), 0);
  cr_assert_str_eq(state_of(&e), "42701");
  syn_value nul = {.type = SYN_V_NULL}, out;
  cat_buf sb = {0};
  cr_assert_neq(cat_coerce(&t->cols[0], &nul, &out, &sb, &e), 0);
  cr_assert_str_eq(state_of(&e), "23502");
  cr_assert_eq(cat_coerce(&t->cols[1], &nul, &out, &sb, &e), 0);
  cr_assert_eq(out.type, SYN_V_NULL);
  syn_value row[2] = {txt("12"), txt("hi")};
  cat_buf bufs[2] = {{0}, {0}};
  cr_assert_eq(cat_coerce_row(t, row, bufs, 2, &e), 0);
  cr_assert_eq(row[0].type, SYN_V_INT);
  cr_assert_eq(row[0].u.i, 12);
  syn_value row2[2] = {nul, txt("hi")};
  cr_assert_neq(cat_coerce_row(t, row2, bufs, 2, &e), 0);
  const char *msg;
  char st[6];
  sqlst_split(&e, st, &msg);
  cr_assert_str_eq(st, "23502");
  cr_assert_str_eq(msg, "null value in column \"id\" of relation \"acct\" violates not-null constraint");
  syn_value row3[2] = {ival(1), txt("long")};
  cr_assert_neq(cat_coerce_row(t, row3, bufs, 2, &e), 0);
  cr_assert_str_eq(state_of(&e), "22001");
  cat_buf_free(&bufs[0]);
  cat_buf_free(&bufs[1]);
  cat_buf_free(&sb);
  cat_table_free(t);
}

Test(catalog, float_output) {
  struct { double d; bool f4; const char *s; } cases[] = {
      {0.1, false, "0.1"}, {1e20, false, "1e+20"}, {1e15, false, "1e+15"},
      {123456789012345.0, false, "123456789012345"}, {0.0001, false, "0.0001"},
      {0.00001, false, "1e-05"}, {1.0 / 3, false, "0.3333333333333333"},
      {-2.5, false, "-2.5"}, {100, false, "100"}, {1.5e-300, false, "1.5e-300"},
      {-0.0, false, "-0"}, {NAN, false, "NaN"}, {-INFINITY, false, "-Infinity"},
      {(double)0.1f, true, "0.1"}, {1e6, true, "1e+06"}, {123456, true, "123456"},
  };
  char buf[64];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cat_format_float(cases[i].d, cases[i].f4, buf, sizeof buf);
    cr_assert_str_eq(buf, cases[i].s, "case %zu", i);
  }
  syn_value b1 = ival(1), b0 = ival(0);
  cat_buf o = {0};
  cr_assert_eq(cat_format_text(CAT_OID_BOOL, -1, &b1, &o, NULL), 0);
  cr_assert_eq(cat_format_text(CAT_OID_BOOL, -1, &b0, &o, NULL), 0);
  cr_assert_str_eq(o.p, "tf");
  syn_value nul = {.type = SYN_V_NULL};
  cr_assert_neq(cat_format_text(CAT_OID_TEXT, -1, &nul, &o, NULL), 0);
  cat_buf_free(&o);
}

static cat_table *sample(void) {
  cat_table *t = cat_table_new("orders");
  cat_table_add_column(t, "id", CAT_OID_INT8, -1, true, CAT_DEF_SERIAL, "orders_id_seq", NULL);
  cat_table_add_column(t, "who", CAT_OID_VARCHAR, 20 + 4, false, CAT_DEF_NONE, NULL, NULL);
  cat_table_add_column(t, "at", CAT_OID_TIMESTAMPTZ, -1, false, CAT_DEF_EXPR, ":now", NULL);
  cat_table_add_column(t, "odd name\n\"x\"", CAT_OID_TEXT, -1, false, CAT_DEF_EXPR, "'a b'", NULL);
  t->id = 77;
  t->pk = malloc(sizeof(int));
  t->pk[0] = 0;
  t->npk = 1;
  t->dist_col = 0;
  int u[2] = {0, 1};
  cat_table_add_index(t, true, "orders_id_who_key", true, u, 2, NULL);
  cat_table_add_index(t, false, "orders_at_idx", false, u + 1, 1, NULL);
  return t;
}

Test(catalog, serialise_roundtrip) {
  cat_table *t = sample();
  cat_buf b = {0};
  cr_assert_eq(cat_table_encode(t, &b, NULL), 0);
  cr_assert(strncmp(b.p, "synod-table 1\ntable 77 6:orders 0 0\n", 36) == 0, "%s", b.p);
  cat_table *u = NULL;
  syn_err e;
  cr_assert_eq(cat_table_decode(b.p, b.n, &u, &e), 0, "%s", e.msg);
  cr_assert(cat_table_equal(t, u));
  cat_table *c = cat_table_copy(t);
  cr_assert(cat_table_equal(t, c));
  c->cols[1].typmod = 5;
  cr_assert_not(cat_table_equal(t, c));
  /* Every strict prefix is rejected, never read past. */
  for (size_t n = 0; n < b.n - 1; n++) {
    cat_table *x = NULL;
    int rc = cat_table_decode(b.p, n, &x, NULL);
    if (rc == 0) {
      /* A prefix ending exactly at a record boundary after "pk" is a valid
      ** table with fewer indexes; it must still decode consistently. */
      cr_assert_not(cat_table_equal(t, x));
      cat_table_free(x);
    } else {
      cr_assert_eq(rc, SYN_ECORRUPT);
    }
  }
  const char *bad[] = {
      "synod-table 2\n",
      "synod-table 1\ntable 1 1:t 5 0\ncol 1:a 23 -1 0 0 0:\npk 0\n",      /* dist out of range */
      "synod-table 1\ntable 1 1:t 0 0\ncol 1:a 23 -1 0 0 0:\npk 1 3\n",    /* pk index */
      "synod-table 1\ntable 1 1:t 0 0\ncol 1:a 99 -1 0 0 0:\npk 0\n",      /* type */
      "synod-table 1\ntable 1 9:t 0 0\n",                                  /* length */
      "synod-table 1\ntable 1 1:t 0 0\ncol 1:a 23 -1 0 7 0:\npk 0\n",      /* default kind */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cat_table *x = NULL;
    cr_assert_eq(cat_table_decode(bad[i], strlen(bad[i]), &x, NULL), SYN_ECORRUPT, "bad %zu", i);
    cr_assert_null(x);
  }
  cat_buf d = {0};
  cr_assert_eq(cat_table_sqlite_decl(t, &d, NULL), 0);
  cr_assert_str_eq(d.p, "CREATE TABLE \"orders\" (\"id\" INTEGER, \"who\" TEXT, \"at\" TEXT, "
                        "\"odd name\n\"\"x\"\"\" TEXT, PRIMARY KEY (\"id\")) WITHOUT ROWID");
  cat_buf_free(&d);
  cat_buf_free(&b);
  cat_table_free(t);
  cat_table_free(u);
  cat_table_free(c);
}

Test(sqlstate, mapping) {
  syn_err e;
  cr_assert_eq(sqlst_set(&e, SQLST_FEATURE, "window functions are not supported"), SYN_EUNSUPPORTED);
  char st[6];
  const char *msg;
  sqlst_split(&e, st, &msg);
  cr_assert_str_eq(st, "0A000");
  cr_assert_str_eq(msg, "window functions are not supported");
  syn_err_wrap(&e, "statement 2");
  sqlst_split(&e, st, &msg);
  cr_assert_str_eq(st, "0A000");
  cr_assert_str_eq(msg, "window functions are not supported");
  syn_err_set(&e, SYN_ECONFLICT, "row changed");
  sqlst_split(&e, st, &msg);
  cr_assert_str_eq(st, "40001");
  cr_assert_str_eq(msg, "row changed");
  struct { sqlst_kind k; const char *s; int status; } m[] = {
      {SQLST_SYNTAX, "42601", SYN_EINVAL}, {SQLST_UNDEFINED_TABLE, "42P01", SYN_ENOTFOUND},
      {SQLST_UNDEFINED_COLUMN, "42703", SYN_ENOTFOUND}, {SQLST_INVALID_TEXT, "22P02", SYN_EINVAL},
      {SQLST_NUMERIC_RANGE, "22003", SYN_ERANGE}, {SQLST_STRING_TOO_LONG, "22001", SYN_ERANGE},
      {SQLST_NOT_NULL, "23502", SYN_EINVAL}, {SQLST_UNIQUE, "23505", SYN_EEXIST},
      {SQLST_COMPLETION_UNKNOWN, "40003", SYN_EREMOTE},
      {SQLST_SERIALIZATION, "40001", SYN_ECONFLICT}, {SQLST_DEADLOCK, "40P01", SYN_ECONFLICT},
  };
  for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
    cr_assert_str_eq(sqlst_code(m[i].k), m[i].s);
    cr_assert_eq(sqlst_status(m[i].k), m[i].status);
  }
  cr_assert_str_eq(sqlst_code((sqlst_kind)999), "XX000");
}
