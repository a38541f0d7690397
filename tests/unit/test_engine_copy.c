/* COPY through the engine's session API (eng_copy.c) over the local test
** cluster: the client's CopyData is scripted (copy_read hands out chunks
** cut at awkward places), output is collected as text:
**   G n / H n          CopyInResponse / CopyOutResponse with n columns
**   d <bytes>          one CopyData sent by COPY TO
**   c                  CopyDone sent by COPY TO
**   T tag, E state msg, W context, D detail, R row
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sql/catalog.h"
#include "sql/engine/eng.h"
#include "sql/engine/eng_cinq.h"
#include "tests/engine_local_cluster.h"

static char dir[64];
static cl_cluster *cl;

static void setup(void) {
  strcpy(dir, "/tmp/test_engine_copy_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  syn_err e;
  cr_assert_eq(lc_open(dir, &cl, &e), 0, "%s", e.msg);
}

static void teardown(void) {
  lc_close(cl);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(engine_copy, .init = setup, .fini = teardown, .timeout = 60);

typedef struct sink {
  cat_buf b;
  const char *in; /* scripted client input */
  size_t in_len, in_off, step;
  char end;       /* 'c' CopyDone or 'f' CopyFail after the input */
  int reads;
} sink;

static int k_columns(void *ud, int n, const eng_col *c) {
  return cat_buf_printf(&((sink *)ud)->b, "C %d\n", n);
}
static int k_row(void *ud, int n, const eng_cell *c) {
  sink *k = ud;
  cat_buf_printf(&k->b, "R ");
  for (int i = 0; i < n; i++)
    cat_buf_printf(&k->b, "%s%.*s", i ? "|" : "", c[i].p ? (int)c[i].n : 4, c[i].p ? c[i].p : "NULL");
  return cat_buf_printf(&k->b, "\n");
}
static int k_complete(void *ud, const char *tag) { return cat_buf_printf(&((sink *)ud)->b, "T %s\n", tag); }
static int k_empty(void *ud) { return 0; }
static int k_error(void *ud, const eng_msg *m) {
  sink *k = ud;
  cat_buf_printf(&k->b, "E %s %s\n", m->sqlstate, m->message);
  if (m->detail) cat_buf_printf(&k->b, "D %s\n", m->detail);
  if (m->context) cat_buf_printf(&k->b, "W %s\n", m->context);
  return 0;
}
static int k_notice(void *ud, const eng_msg *m) { return 0; }
static int k_param(void *ud, const char *n, const char *v) { return 0; }
static int k_copy_out(void *ud, int n) { return cat_buf_printf(&((sink *)ud)->b, "H %d\n", n); }
static int k_copy_data(void *ud, const char *p, size_t n) {
  return cat_buf_printf(&((sink *)ud)->b, "d %.*s", (int)n, p);
}
static int k_copy_done(void *ud) { return cat_buf_printf(&((sink *)ud)->b, "c\n"); }
static int k_copy_in(void *ud, int n) { return cat_buf_printf(&((sink *)ud)->b, "G %d\n", n); }
static int k_copy_read(void *ud, char *type, char **p, size_t *n) {
  sink *k = ud;
  k->reads++;
  if (k->in_off < k->in_len) {
    size_t len = k->in_len - k->in_off < k->step ? k->in_len - k->in_off : k->step;
    *p = malloc(len + 1);
    memcpy(*p, k->in + k->in_off, len);
    (*p)[len] = '\0';
    *n = len;
    *type = 'd';
    k->in_off += len;
    return 0;
  }
  *type = k->end;
  *p = strdup(k->end == 'f' ? "boom" : "");
  *n = strlen(*p);
  return 0;
}

static sink k;
static char last_status;

static const char *run_in(eng_session *s, const char *sql, const char *in, size_t step, char end) {
  cat_buf_free(&k.b);
  memset(&k, 0, sizeof k);
  cat_buf_append(&k.b, "", 0);
  k.in = in;
  k.in_len = in ? strlen(in) : 0;
  k.step = step ? step : 1;
  k.end = end ? end : 'c';
  eng_out out = {.ud = &k, .columns = k_columns, .row = k_row, .complete = k_complete,
                 .empty = k_empty, .error = k_error, .notice = k_notice, .param_status = k_param,
                 .copy_out = k_copy_out, .copy_data = k_copy_data, .copy_done = k_copy_done,
                 .copy_in = k_copy_in, .copy_read = k_copy_read};
  last_status = eng_session_query(s, sql, &out);
  return k.b.p;
}

static const char *run(eng_session *s, const char *sql) { return run_in(s, sql, NULL, 0, 0); }

#define EXPECT(s, sql, want)                                                        \
  do {                                                                              \
    const char *got_ = run(s, sql);                                                 \
    cr_assert_str_eq(got_, want, "%s\n--- got:\n%s--- want:\n%s", sql, got_, want); \
  } while (0)

static eng_session *session(void) {
  eng_session *s;
  syn_err e;
  cr_assert_eq(eng_session_new(cl, NULL, &s, &e), 0, "%s", e.msg);
  return s;
}

/* n rows "i\tname i\n" from first; bad_at >= 0 makes that row's id "x". */
static char *rows(int first, int n, int bad_at) {
  size_t cap = (size_t)n * 32 + 1, len = 0;
  char *p = malloc(cap);
  for (int i = 0; i < n; i++) {
    if (i == bad_at) len += (size_t)snprintf(p + len, cap - len, "x\tname %d\n", first + i);
    else len += (size_t)snprintf(p + len, cap - len, "%d\tname %d\n", first + i, first + i);
  }
  p[len] = '\0';
  return p;
}

Test(engine_copy, from_stdin_across_batches_and_chunks) {
  eng_session *s = session();
  EXPECT(s, "create table t (id int primary key, name text)", "T CREATE TABLE\n");
  char *in = rows(0, 2500, -1);
  cr_assert_str_eq(run_in(s, "copy t from stdin", in, 777, 'c'), "G 2\nT COPY 2500\n");
  cr_assert_eq(last_status, 'I');
  EXPECT(s, "select count(*), min(id), max(id) from t", "C 3\nR 2500|0|2499\nT SELECT 1\n");
  EXPECT(s, "select name from t where id = 1234", "C 1\nR name 1234\nT SELECT 1\n");
  free(in);
  eng_session_free(s);
}

Test(engine_copy, failure_in_a_later_batch_inserts_nothing) {
  eng_session *s = session();
  EXPECT(s, "create table t (id int primary key, name text)", "T CREATE TABLE\n");
  char *in = rows(0, 2500, 2100);
  cr_assert_str_eq(run_in(s, "copy t from stdin", in, 4096, 'c'),
                   "G 2\nE 22P02 invalid input syntax for type integer: \"x\"\n"
                   "W COPY t, line 2101, column id: \"x\"\n");
  cr_assert_eq(last_status, 'I');
  EXPECT(s, "select count(*) from t", "C 1\nR 0\nT SELECT 1\n");
  free(in);
  eng_session_free(s);
}

Test(engine_copy, copy_fail_and_block) {
  eng_session *s = session();
  EXPECT(s, "create table t (id int primary key, name text)", "T CREATE TABLE\n");
  cr_assert_str_eq(run_in(s, "copy t from stdin", "1\ta\n", 2, 'f'),
                   "G 2\nE 57014 COPY from stdin failed: boom\n");
  EXPECT(s, "begin", "T BEGIN\n");
  cr_assert_str_eq(run_in(s, "copy t from stdin", "1\ta\n2\n", 100, 'c'),
                   "G 2\nE 22P04 missing data for column \"name\"\nW COPY t, line 2: \"2\"\n");
  cr_assert_eq(last_status, 'E');
  EXPECT(s, "rollback", "T ROLLBACK\n");
  EXPECT(s, "begin", "T BEGIN\n");
  cr_assert_str_eq(run_in(s, "copy t (id) from stdin", "7\n\\.\nignored", 3, 'c'),
                   "G 1\nT COPY 1\n");
  EXPECT(s, "commit", "T COMMIT\n");
  EXPECT(s, "select id, name from t", "C 2\nR 7|NULL\nT SELECT 1\n");
  eng_session_free(s);
}

Test(engine_copy, defaults_serial_and_not_null) {
  eng_session *s = session();
  EXPECT(s, "create table d (id serial primary key, a text not null, b int default 42)",
         "T CREATE TABLE\n");
  cr_assert_str_eq(run_in(s, "copy d (a) from stdin with (format csv)", "x\n\"y,z\"\n", 1, 'c'),
                   "G 1\nT COPY 2\n");
  EXPECT(s, "select id, a, b from d order by id", "C 3\nR 1|x|42\nR 2|y,z|42\nT SELECT 2\n");
  cr_assert_str_eq(run_in(s, "copy d (a, b) from stdin", "\\N\t1\n", 64, 'c'),
                   "G 2\nE 23502 null value in column \"a\" of relation \"d\" violates not-null "
                   "constraint\nD Failing row contains (3, null, 1).\nW COPY d, line 1: \"\\N\t1\"\n");
  eng_session_free(s);
}

Test(engine_copy, to_stdout_text_csv_and_query) {
  eng_session *s = session();
  EXPECT(s, "create table t (id int primary key, name text)", "T CREATE TABLE\n");
  EXPECT(s, "insert into t values (1, 'a\tb'), (2, null)", "T INSERT 0 2\n");
  EXPECT(s, "copy (select * from t order by id) to stdout",
         "H 2\nd 1\ta\\tb\nd 2\t\\N\nc\nT COPY 2\n");
  EXPECT(s, "copy (select id, name from t where id = 1) to stdout with (format csv, header)",
         "H 2\nd id,name\nd 1,a\tb\nc\nT COPY 1\n");
  EXPECT(s, "copy t (name) to stdout where", "E 42601 syntax error at end of input\n");
  EXPECT(s, "copy t (nosuch) to stdout",
         "E 42703 column \"nosuch\" of relation \"t\" does not exist\n");
  EXPECT(s, "copy t to '/tmp/f'",
         "E 0A000 COPY TO a file is not supported: the coordinator is not the client's machine "
         "(use COPY TO STDOUT or psql's \\copy)\n");
  eng_session_free(s);
}

static bool never(void *ud) { return false; }
static bool always(void *ud) { return true; }

/* The COPY input queue: the producer is paused above ENG_CINQ_HIGH and told
** to resume only once the consumer drained it below ENG_CINQ_LOW. */
Test(engine_copy_queue, pause_and_resume) {
  eng_cinq q;
  cr_assert_eq(eng_cinq_init(&q), 0);
  static char chunk[64 * 1024];
  memset(chunk, 'x', sizeof chunk);
  int pushed = 0;
  while (!eng_cinq_push(&q, 'd', chunk, sizeof chunk)) pushed++;
  pushed++;
  cr_assert_eq((size_t)pushed, ENG_CINQ_HIGH / sizeof chunk + 1);
  int popped = 0;
  bool resume = false;
  while (!resume) {
    char type, *p;
    size_t n;
    cr_assert_eq(eng_cinq_pop(&q, never, NULL, &type, &p, &n, &resume), 0);
    cr_assert_eq(type, 'd');
    cr_assert_eq(n, sizeof chunk);
    free(p);
    popped++;
  }
  cr_assert_lt((size_t)(pushed - popped) * sizeof chunk, ENG_CINQ_LOW);
  eng_cinq_push(&q, 'c', "", 0);
  eng_cinq_clear(&q);
  char type, *p;
  size_t n;
  /* Empty and told to stop (a cancel): returns at once. */
  cr_assert_neq(eng_cinq_pop(&q, always, NULL, &type, &p, &n, &resume), 0);
  eng_cinq_destroy(&q);
}
