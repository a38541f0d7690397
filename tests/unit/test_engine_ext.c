/* The extended query protocol in the SQL engine (sql/engine/eng_ext.c,
** eng_pval.c) through the session API, without sockets, over the local test
** cluster. Output is collected as text, one line per message:
**   1 2 3 n s          ParseComplete BindComplete CloseComplete NoData
**                      PortalSuspended
**   t 23 25            ParameterDescription
**   C name:oid:fmt     RowDescription
**   B n                rows follow (Execute)
**   R a|b|NULL         DataRow (binary cells in hex, prefixed x)
**   T tag / E code msg CommandComplete / ErrorResponse
** The wire behaviour is compared with PostgreSQL 15 by test_extproto.sh;
** these tests pin what is internal: the binary codecs byte for byte
** (expected bytes are PostgreSQL 15's), the statement cache, the catalog
** check and the portal lifetimes.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sql/engine/eng_int.h"
#include "tests/engine_local_cluster.h"

static char dir[64];
static cl_cluster *cl;
static cat_buf out_text;
static const int16_t *cur_fmts;

static void setup(void) {
  strcpy(dir, "/tmp/test_engine_ext_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  syn_err e;
  cr_assert_eq(lc_open(dir, &cl, &e), 0, "%s", e.msg);
}

static void teardown(void) {
  cat_buf_free(&out_text);
  lc_close(cl);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(engine_ext, .init = setup, .fini = teardown, .timeout = 60);

static int k_columns(void *ud, int n, const eng_col *c) {
  cat_buf_printf(&out_text, "C");
  for (int i = 0; i < n; i++) cat_buf_printf(&out_text, " %s:%u:%d", c[i].name, c[i].type_oid, c[i].format);
  return cat_buf_printf(&out_text, "\n");
}
static int k_row(void *ud, int n, const eng_cell *c) {
  cat_buf_printf(&out_text, "R ");
  for (int i = 0; i < n; i++) {
    if (i) cat_buf_printf(&out_text, "|");
    if (!c[i].p) {
      cat_buf_printf(&out_text, "NULL");
    } else if (cur_fmts && cur_fmts[i]) {
      cat_buf_printf(&out_text, "x");
      for (size_t k = 0; k < c[i].n; k++) cat_buf_printf(&out_text, "%02x", (uint8_t)c[i].p[k]);
    } else {
      cat_buf_printf(&out_text, "%.*s", (int)c[i].n, c[i].p);
    }
  }
  return cat_buf_printf(&out_text, "\n");
}
static int k_complete(void *ud, const char *tag) { return cat_buf_printf(&out_text, "T %s\n", tag); }
static int k_empty(void *ud) { return cat_buf_printf(&out_text, "EMPTY\n"); }
static int k_error(void *ud, const eng_msg *m) {
  return cat_buf_printf(&out_text, "E %s %s\n", m->sqlstate, m->message);
}
static int k_notice(void *ud, const eng_msg *m) { return 0; }
static int k_param(void *ud, const char *n, const char *v) { return 0; }
static int k_reply(void *ud, char t) { return cat_buf_printf(&out_text, "%c\n", t); }
static int k_pdesc(void *ud, int n, const uint32_t *o) {
  cat_buf_printf(&out_text, "t");
  for (int i = 0; i < n; i++) cat_buf_printf(&out_text, " %u", o[i]);
  return cat_buf_printf(&out_text, "\n");
}
static int k_rows(void *ud, int n) { return cat_buf_printf(&out_text, "B %d\n", n); }

static const eng_out sink = {NULL, k_columns, k_row, k_complete, k_empty, k_error, k_notice,
                             k_param, k_reply, k_pdesc, k_rows,
                             NULL, NULL, NULL, NULL, NULL};

static void reset_out(void) {
  out_text.n = 0;
  cat_buf_append(&out_text, "", 0);
  out_text.p[0] = '\0';
}

static const char *simple(eng_session *s, const char *sql) {
  reset_out();
  eng_session_query(s, sql, &sink);
  return out_text.p;
}

static const char *ext(eng_session *s, const eng_xmsg *m) {
  reset_out();
  eng_session_ext(s, m, &sink);
  return out_text.p;
}

static const char *sync_(eng_session *s, char *status) {
  reset_out();
  *status = eng_session_sync(s, &sink);
  return out_text.p;
}

static eng_xmsg P(const char *name, const char *sql) {
  return (eng_xmsg){.type = 'P', .name = name, .stmt = "", .query = sql};
}
static eng_xmsg E(const char *portal, int64_t max) {
  return (eng_xmsg){.type = 'E', .name = portal, .stmt = "", .query = "", .max_rows = max};
}

#define X(s, m, want)                                                                \
  do {                                                                               \
    eng_xmsg m_ = (m);                                                               \
    const char *got_ = ext(s, &m_);                                                  \
    cr_assert_str_eq(got_, want, "%c %s\n--- got:\n%s--- want:\n%s", m_.type, m_.name, got_, want); \
  } while (0)

static eng_session *session(void) {
  eng_session *s;
  syn_err e;
  cr_assert_eq(eng_session_new(cl, NULL, &s, &e), 0, "%s", e.msg);
  return s;
}

/* ---- binary codecs (bytes from PostgreSQL 15's typsend) ---- */

static void hex(const cat_buf *b, char *out) {
  out[0] = '\0';
  for (size_t i = 0; i < b->n; i++) sprintf(out + 2 * i, "%02x", (uint8_t)b->p[i]);
}

Test(engine_ext, text_to_binary_matches_postgres) {
  static const struct {
    uint32_t oid;
    const char *text, *bin;
  } cases[] = {
      {CAT_OID_BOOL, "t", "01"},
      {CAT_OID_INT2, "-32768", "8000"},
      {CAT_OID_INT4, "-123456", "fffe1dc0"},
      {CAT_OID_INT8, "9000000000", "0000000218711a00"},
      {CAT_OID_FLOAT4, "1.5", "3fc00000"},
      {CAT_OID_FLOAT8, "-1e+100", "d4b249ad2594c37d"},
      {CAT_OID_FLOAT8, "-2.25e-05", "bef797cc39ffd60f"},
      {CAT_OID_NUMERIC, "12345.678", "0003000100000003000109291a7c"},
      {CAT_OID_NUMERIC, "-1234.500", "000200004000000304d21388"},
      {CAT_OID_NUMERIC, "0.00", "0000000000000002"},
      {CAT_OID_NUMERIC, "0.0001", "0001ffff000000040001"},
      {CAT_OID_NUMERIC, "10000", "0001000100000000" "0001"},
      {CAT_OID_BYTEA, "\\x00ff10", "00ff10"},
      {CAT_OID_TEXT, "h\xc3\xa9llo", "68c3a96c6c6f"},
      {CAT_OID_DATE, "2024-02-29", "00002279"},
      {CAT_OID_DATE, "1999-12-31", "ffffffff"},
      {CAT_OID_TIMESTAMP, "2024-02-29 13:14:15.123456", "0002b583ce03da00"},
      {CAT_OID_TIMESTAMP, "2000-01-02 00:00:00.000001", "000000141dd76001"},
      {CAT_OID_TIMESTAMPTZ, "2024-02-29 11:14:15+00", "0002b58220daafc0"},
      {CAT_OID_TIMESTAMPTZ, "1999-12-31 23:00:00+00", "ffffffff296c5c00"},
  };
  cat_buf b = {0}, scratch = {0}, tmp = {0}, txt = {0};
  char got[128];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    syn_err e;
    cr_assert_eq(eng__text_to_binary(cases[i].oid, cases[i].text, strlen(cases[i].text), &b, &e), 0,
                 "%s: %s", cases[i].text, e.msg);
    hex(&b, got);
    cr_assert_str_eq(got, cases[i].bin, "%u %s", cases[i].oid, cases[i].text);
    /* And back: the binary parameter decodes to the same value. */
    syn_value v;
    cr_assert_eq(eng__param_value(cases[i].oid, 1, b.p, b.n, 1, &v, &scratch, &tmp, &e), 0,
                 "%s: %s", cases[i].text, e.msg);
    txt.n = 0;
    cr_assert_eq(cat_format_text(cases[i].oid, -1, &v, &txt, &e), 0, "%s", e.msg);
    if (cases[i].oid != CAT_OID_NUMERIC) /* numeric without typmod prints its own scale */
      cr_assert_eq(memcmp(txt.p, cases[i].text, strlen(cases[i].text)), 0, "%s -> %.*s",
                   cases[i].text, (int)txt.n, txt.p);
  }
  cat_buf_free(&b);
  cat_buf_free(&scratch);
  cat_buf_free(&tmp);
  cat_buf_free(&txt);
}

Test(engine_ext, binary_parameter_lengths_and_text_errors) {
  cat_buf scratch = {0}, tmp = {0};
  syn_value v;
  syn_err e;
  cr_assert_neq(eng__param_value(CAT_OID_INT4, 1, "\0\0\1", 3, 2, &v, &scratch, &tmp, &e), 0);
  cr_assert(strstr(e.msg, "08P01: insufficient data left in message"), "%s", e.msg);
  cr_assert_neq(eng__param_value(CAT_OID_INT8, 1, "123456789", 9, 2, &v, &scratch, &tmp, &e), 0);
  cr_assert(strstr(e.msg, "22P03: incorrect binary data format in bind parameter 2"), "%s", e.msg);
  cr_assert_neq(eng__param_value(CAT_OID_NUMERIC, 1, "\0\x05\0\0\0\0\0\0", 8, 1, &v, &scratch, &tmp, &e), 0);
  cr_assert(strstr(e.msg, "08P01"), "%s", e.msg);
  cr_assert_neq(eng__param_value(CAT_OID_NUMERIC, 1, "\0\0\0\0\x12\x34\0\0", 8, 1, &v, &scratch, &tmp, &e), 0);
  cr_assert(strstr(e.msg, "invalid sign"), "%s", e.msg);
  cr_assert_neq(eng__param_value(CAT_OID_TEXT, 1, "\xff", 1, 1, &v, &scratch, &tmp, &e), 0);
  cr_assert(strstr(e.msg, "22021"), "%s", e.msg);
  cr_assert_neq(eng__param_value(CAT_OID_INT4, 0, "12x", 3, 1, &v, &scratch, &tmp, &e), 0);
  cr_assert(strstr(e.msg, "22P02"), "%s", e.msg);
  cr_assert_neq(eng__param_value(CAT_OID_INT2, 0, "40000", 5, 1, &v, &scratch, &tmp, &e), 0);
  cr_assert(strstr(e.msg, "22003"), "%s", e.msg);
  cr_assert_neq(eng__param_value(2950, 1, "0123456789abcdef", 16, 1, &v, &scratch, &tmp, &e), 0);
  cr_assert(strstr(e.msg, "42883"), "%s", e.msg);
  cr_assert_eq(eng__param_value(0, 0, NULL, 0, 1, &v, &scratch, &tmp, &e), 0);
  cr_assert_eq(v.type, SYN_V_NULL);
  cat_buf_free(&scratch);
  cat_buf_free(&tmp);
}

/* ---- statements and portals ---- */

static void fill(eng_session *s) {
  cr_assert_str_eq(simple(s, "create table t (id int primary key, v text)"), "T CREATE TABLE\n");
  cr_assert_str_eq(simple(s, "insert into t values (1,'a'),(2,'b'),(3,'c')"), "T INSERT 0 3\n");
}

/* The cached SQLite statement whose SQL contains `part`, or NULL. */
static sqlite3_stmt *cached(eng_session *s, const char *part) {
  for (int i = 0; i < s->ncache; i++)
    if (strstr(s->stmt_cache[i].sql, part)) return s->stmt_cache[i].st;
  return NULL;
}

Test(engine_ext, prepared_select_reuses_its_sqlite_statement) {
  eng_session *s = session();
  fill(s);
  X(s, P("q", "select v from t where id >= $1 order by id"), "1\n");
  eng_cell one = {"1", 1};
  eng_xmsg b = {.type = 'B', .name = "", .stmt = "q", .query = "", .nvalues = 1, .values = &one};
  X(s, b, "2\n");
  X(s, E("", 0), "B 1\nR a\nR b\nR c\nT SELECT 3\n");
  char st;
  cr_assert_str_eq(sync_(s, &st), "");
  cr_assert_eq(st, 'I');
  sqlite3_stmt *first = cached(s, "ORDER BY");
  cr_assert_not_null(first, "the statement went back to the cache");
  eng_cell three = {"3", 1};
  b.values = &three;
  X(s, b, "2\n");
  X(s, E("", 2), "B 1\nR c\nT SELECT 1\n");
  cr_assert_eq(cached(s, "ORDER BY"), first, "re-execution rebinds the same SQLite statement");
  cr_assert_str_eq(sync_(s, &st), "");
  eng_session_free(s);
}

Test(engine_ext, row_limits_binary_results_and_portal_lifetime) {
  eng_session *s = session();
  fill(s);
  X(s, P("", "select id, v from t order by id"), "1\n");
  int16_t fm[2] = {1, 0};
  eng_xmsg b = {.type = 'B', .name = "p", .stmt = "", .query = "", .nrformats = 2, .rformats = fm};
  X(s, b, "2\n");
  eng_xmsg d = {.type = 'D', .target = 'P', .name = "p", .stmt = "", .query = ""};
  X(s, d, "C id:23:1 v:25:0\n");
  cur_fmts = fm;
  X(s, E("p", 2), "B 2\nR x00000001|a\nR x00000002|b\ns\n");
  X(s, E("p", 2), "B 2\nR x00000003|c\nT SELECT 1\n");
  cur_fmts = NULL;
  char st;
  sync_(s, &st);
  X(s, E("p", 0), "E 34000 portal \"p\" does not exist\n");
  sync_(s, &st);
  /* DML with RETURNING under a row limit runs to completion first. */
  X(s, P("", "update t set v = v || '!' returning id"), "1\n");
  eng_xmsg b2 = {.type = 'B', .name = "", .stmt = "", .query = ""};
  X(s, b2, "2\n");
  X(s, E("", 2), "B 1\nR 1\nR 2\ns\n");
  cr_assert_str_eq(simple(s, "select count(*) from t where v like '%!'"), "C count:20:0\nR 3\nT SELECT 1\n",
                   "the update ran completely at the first Execute");
  X(s, E("", 2), "E 34000 portal \"\" does not exist\n"); /* the simple query ended its transaction */
  sync_(s, &st);
  eng_session_free(s);
}

Test(engine_ext, catalog_change_and_result_shape) {
  eng_session *s = session(), *other = session();
  fill(s);
  X(s, P("star", "select * from t"), "1\n");
  X(s, P("v", "select v from t where id = $1"), "1\n");
  cr_assert_str_eq(simple(other, "alter table t add column w int"), "T ALTER TABLE\n");
  eng_xmsg b = {.type = 'B', .name = "", .stmt = "star", .query = ""};
  X(s, b, "E 0A000 cached plan must not change result type\n");
  char st;
  sync_(s, &st);
  eng_cell one = {"1", 1};
  eng_xmsg bv = {.type = 'B', .name = "", .stmt = "v", .query = "", .nvalues = 1, .values = &one};
  X(s, bv, "2\n");
  X(s, E("", 0), "B 1\nR a\nT SELECT 1\n");
  sync_(s, &st);
  eng_session_free(other);
  eng_session_free(s);
}

Test(engine_ext, implicit_transaction_until_sync) {
  eng_session *s = session();
  fill(s);
  X(s, P("ins", "insert into t values ($1, 'x')"), "1\n");
  X(s, ((eng_xmsg){.type = 'D', .target = 'S', .name = "ins", .stmt = "", .query = ""}), "t 23\nn\n");
  eng_cell k[3] = {{"10", 2}, {"1", 1}, {"11", 2}};
  for (int i = 0; i < 3; i++) {
    eng_xmsg b = {.type = 'B', .name = "", .stmt = "ins", .query = "", .nvalues = 1, .values = &k[i]};
    const char *got = ext(s, &b);
    if (i == 2) break; /* after the error the caller skips until Sync */
    cr_assert_str_eq(got, "2\n");
    got = ext(s, &(eng_xmsg){.type = 'E', .name = "", .stmt = "", .query = ""});
    cr_assert_str_eq(got, i == 0 ? "T INSERT 0 1\n"
                                 : "E 23505 duplicate key value violates unique constraint \"t_pkey\"\n");
  }
  char st;
  sync_(s, &st);
  cr_assert_eq(st, 'I');
  cr_assert_str_eq(simple(s, "select count(*) from t"), "C count:20:0\nR 3\nT SELECT 1\n",
                   "the first insert was undone with the failed implicit transaction");
  eng_session_free(s);
}

Test(engine_ext, declared_type_differs_from_the_inferred_one) {
  eng_session *s = session();
  fill(s);
  /* JDBC's setString sends varchar (1043) for every string. */
  uint32_t vc = 1043;
  eng_xmsg p = P("", "select v from t where id = $1");
  p.ntypes = 1;
  p.types = &vc;
  X(s, p, "1\n");
  X(s, ((eng_xmsg){.type = 'D', .target = 'S', .name = "", .stmt = "", .query = ""}),
    "t 1043\nC v:25:0\n");
  eng_cell two = {"2", 1}, bad = {"x", 1};
  eng_xmsg b = {.type = 'B', .name = "", .stmt = "", .query = "", .nvalues = 1, .values = &two};
  X(s, b, "2\n");
  X(s, E("", 0), "B 1\nR b\nT SELECT 1\n");
  b.values = &bad;
  X(s, b, "E 22P02 invalid input syntax for type integer: \"x\"\n");
  char st;
  sync_(s, &st);
  eng_session_free(s);
}
