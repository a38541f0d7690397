/* The SQL engine through its session API (no sockets), over the local
** test cluster (tests/engine_local_cluster.c). Output is collected as text:
**   C name:oid ...     RowDescription
**   R a|b|NULL         DataRow
**   T tag              CommandComplete
**   E 23505 message    ErrorResponse (D detail on the next line)
**   N WARNING 25P01 m  NoticeResponse
**   P name=value       ParameterStatus
*/
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sql/engine/eng.h"
#include "sql/catalog.h"
#include "tests/engine_local_cluster.h"

static char dir[64];
static cl_cluster *cl;

static void setup(void) {
  strcpy(dir, "/tmp/test_engine_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  syn_err e;
  cr_assert_eq(lc_open(dir, &cl, &e), 0, "%s", e.msg);
}

static void run_done(void);
static void teardown(void) {
  run_done();
  lc_close(cl);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(engine, .init = setup, .fini = teardown, .timeout = 60);

typedef struct sink {
  cat_buf b;
} sink;

static int k_columns(void *ud, int n, const eng_col *c) {
  sink *k = ud;
  cat_buf_printf(&k->b, "C");
  for (int i = 0; i < n; i++) cat_buf_printf(&k->b, " %s:%u", c[i].name, c[i].type_oid);
  cat_buf_printf(&k->b, "\n");
  return 0;
}
static int k_row(void *ud, int n, const eng_cell *c) {
  sink *k = ud;
  cat_buf_printf(&k->b, "R ");
  for (int i = 0; i < n; i++)
    cat_buf_printf(&k->b, "%s%.*s", i ? "|" : "", c[i].p ? (int)c[i].n : 4, c[i].p ? c[i].p : "NULL");
  cat_buf_printf(&k->b, "\n");
  return 0;
}
static int k_complete(void *ud, const char *tag) {
  return cat_buf_printf(&((sink *)ud)->b, "T %s\n", tag);
}
static int k_empty(void *ud) { return cat_buf_printf(&((sink *)ud)->b, "EMPTY\n"); }
static int k_error(void *ud, const eng_msg *m) {
  sink *k = ud;
  cat_buf_printf(&k->b, "E %s %s\n", m->sqlstate, m->message);
  if (m->detail) cat_buf_printf(&k->b, "D %s\n", m->detail);
  return 0;
}
static int k_notice(void *ud, const eng_msg *m) {
  return cat_buf_printf(&((sink *)ud)->b, "N %s %s %s\n", m->severity, m->sqlstate, m->message);
}
static int k_param(void *ud, const char *n, const char *v) {
  return cat_buf_printf(&((sink *)ud)->b, "P %s=%s\n", n, v);
}

static __thread char last_status;
static __thread sink tls_sink;

/* Release this thread's output buffer (threads other than the test's). */
static void run_done(void) {
  cat_buf_free(&tls_sink.b);
}

/* Run sql; returns the output (static buffer, valid until the next call). */
static const char *run(eng_session *s, const char *sql) {
  sink *k = &tls_sink;
  cat_buf_free(&k->b);
  memset(k, 0, sizeof *k);
  cat_buf_append(&k->b, "", 0);
  eng_out out = {k, k_columns, k_row, k_complete, k_empty, k_error, k_notice, k_param, NULL, NULL, NULL,
                 NULL, NULL, NULL, NULL, NULL};
  last_status = eng_session_query(s, sql, &out);
  return k->b.p;
}

static eng_session *session(void) {
  eng_session *s;
  syn_err e;
  cr_assert_eq(eng_session_new(cl, NULL, &s, &e), 0, "%s", e.msg);
  return s;
}

#define EXPECT(s, sql, want)                                                       \
  do {                                                                             \
    const char *got_ = run(s, sql);                                                \
    cr_assert_str_eq(got_, want, "%s\n--- got:\n%s--- want:\n%s", sql, got_, want); \
  } while (0)

Test(engine, select_and_types) {
  eng_session *s = session();
  EXPECT(s, "create table t (id int primary key, name text not null, price numeric(10,2), "
            "ok bool, d date, f float8)",
         "T CREATE TABLE\n");
  EXPECT(s, "insert into t values (1, 'a', 1.5, true, '2024-01-02', 0.1), (2, 'b', null, false, null, 1e20)",
         "T INSERT 0 2\n");
  EXPECT(s, "select * from t order by id",
         "C id:23 name:25 price:1700 ok:16 d:1082 f:701\n"
         "R 1|a|1.50|t|2024-01-02|0.1\nR 2|b|NULL|f|NULL|1e+20\nT SELECT 2\n");
  EXPECT(s, "select count(*), sum(price) from t where id = 1",
         "C count:20 sum:1700\nR 1|1.50\nT SELECT 1\n");
  EXPECT(s, "select name from t where id > 1 and name <> 'x'", "C name:25\nR b\nT SELECT 1\n");
  cr_assert_eq(last_status, 'I');
  EXPECT(s, "", "EMPTY\n");
  eng_session_free(s);
}

Test(engine, insert_forms) {
  eng_session *s = session();
  run(s, "create table s (id serial primary key, v text default 'dv', n int)");
  EXPECT(s, "insert into s (v) values ('x'), ('y') returning id, v", "C id:23 v:25\nR 1|x\nR 2|y\nT INSERT 0 2\n");
  EXPECT(s, "insert into s default values returning *", "C id:23 v:25 n:23\nR 3|dv|NULL\nT INSERT 0 1\n");
  EXPECT(s, "insert into s (n) select id * 10 from s where id < 3", "T INSERT 0 2\n");
  EXPECT(s, "select id, v, n from s order by id",
         "C id:23 v:25 n:23\nR 1|x|NULL\nR 2|y|NULL\nR 3|dv|NULL\nR 4|dv|10\nR 5|dv|20\nT SELECT 5\n");
  /* ON CONFLICT */
  EXPECT(s, "insert into s (id, v) values (1, 'z') on conflict do nothing", "T INSERT 0 0\n");
  EXPECT(s, "insert into s (id, v) values (1, 'z'), (9, 'w') on conflict (id) do update set v = excluded.v || s.v returning id, v",
         "C id:23 v:25\nR 1|zx\nR 9|w\nT INSERT 0 2\n");
  /* hidden rowid table */
  run(s, "create table h (a int, b text)");
  EXPECT(s, "insert into h values (1, 'p'), (2, 'q')", "T INSERT 0 2\n");
  EXPECT(s, "update h set b = 'r' where a = 2 returning a, b", "C a:23 b:25\nR 2|r\nT UPDATE 1\n");
  EXPECT(s, "delete from h where a = 1", "T DELETE 1\n");
  EXPECT(s, "select * from h", "C a:23 b:25\nR 2|r\nT SELECT 1\n");
  eng_session_free(s);
}

Test(engine, update_delete) {
  eng_session *s = session();
  run(s, "create table a (id int primary key, bal int not null)");
  run(s, "insert into a values (1, 10), (2, 20), (3, 30)");
  EXPECT(s, "update a set bal = bal + 1 where bal > 15 returning id, bal",
         "C id:23 bal:23\nR 2|21\nR 3|31\nT UPDATE 2\n");
  EXPECT(s, "update a set id = id + 10 where id = 1", "T UPDATE 1\n");
  EXPECT(s, "delete from a where id in (select id from a where bal > 30) returning *",
         "C id:23 bal:23\nR 3|31\nT DELETE 1\n");
  EXPECT(s, "select * from a order by id", "C id:23 bal:23\nR 2|21\nR 11|10\nT SELECT 2\n");
  EXPECT(s, "update a set id = 2 where id = 11",
         "E 23505 duplicate key value violates unique constraint \"a_pkey\"\nD Key (id)=(2) already exists.\n");
  eng_session_free(s);
}

Test(engine, errors) {
  eng_session *s = session();
  run(s, "create table e (id int primary key, c varchar(3), n int not null, sm smallint)");
  EXPECT(s, "insert into e values (1, 'abcd', 1, 1)",
         "E 22001 value too long for type character varying(3)\n");
  EXPECT(s, "insert into e values (1, 'a', null, 1)",
         "E 23502 null value in column \"n\" of relation \"e\" violates not-null constraint\n"
         "D Failing row contains (1, a, null, 1).\n");
  EXPECT(s, "insert into e values (1, 'a', 1, 70000)", "E 22003 smallint out of range\n");
  EXPECT(s, "insert into e values ('x', 'a', 1, 1)",
         "E 22P02 invalid input syntax for type integer: \"x\"\n");
  run(s, "insert into e values (1, 'a', 1, 1)");
  EXPECT(s, "insert into e values (1, 'a', 1, 1)",
         "E 23505 duplicate key value violates unique constraint \"e_pkey\"\nD Key (id)=(1) already exists.\n");
  const char *o = run(s, "select * from nosuch");
  cr_assert(strncmp(o, "E 42P01 relation \"nosuch\" does not exist", 40) == 0, "%s", o);
  o = run(s, "select nocol from e");
  cr_assert(strncmp(o, "E 42703", 7) == 0, "%s", o);
  o = run(s, "selec 1");
  cr_assert(strncmp(o, "E 42601", 7) == 0, "%s", o);
  o = run(s, "create table e (x int)");
  cr_assert_str_eq(o, "E 42P07 relation \"e\" already exists\n");
  EXPECT(s, "create table if not exists e (x int)",
         "N NOTICE 42P07 relation \"e\" already exists, skipping\nT CREATE TABLE\n");
  EXPECT(s, "drop table if exists nosuch", "N NOTICE 00000 table \"nosuch\" does not exist, skipping\nT DROP TABLE\n");
  EXPECT(s, "select $1", "E 42P02 there is no parameter $1\n");
  o = run(s, "copy e from stdin");
  cr_assert(strncmp(o, "E 0A000", 7) == 0, "%s", o);
  /* still usable */
  EXPECT(s, "select count(*) from e", "C count:20\nR 1\nT SELECT 1\n");
  eng_session_free(s);
}

Test(engine, txn_blocks) {
  eng_session *s = session();
  run(s, "create table t (id int primary key)");
  EXPECT(s, "commit", "N WARNING 25P01 there is no transaction in progress\nT COMMIT\n");
  EXPECT(s, "begin", "T BEGIN\n");
  cr_assert_eq(last_status, 'T');
  EXPECT(s, "begin", "N WARNING 25001 there is already a transaction in progress\nT BEGIN\n");
  run(s, "insert into t values (1)");
  const char *o = run(s, "insert into t values (1)");
  cr_assert(strncmp(o, "E 23505", 7) == 0, "%s", o);
  cr_assert_eq(last_status, 'E');
  EXPECT(s, "select 1",
         "E 25P02 current transaction is aborted, commands ignored until end of transaction block\n");
  cr_assert_eq(last_status, 'E');
  EXPECT(s, "commit", "T ROLLBACK\n");
  cr_assert_eq(last_status, 'I');
  EXPECT(s, "select count(*) from t", "C count:20\nR 0\nT SELECT 1\n");
  /* committed block */
  run(s, "begin; insert into t values (2); insert into t values (3)");
  cr_assert_eq(last_status, 'T');
  EXPECT(s, "rollback", "T ROLLBACK\n");
  run(s, "begin");
  run(s, "insert into t values (4)");
  EXPECT(s, "end", "T COMMIT\n");
  EXPECT(s, "select id from t", "C id:23\nR 4\nT SELECT 1\n");
  /* DDL refused in a block */
  run(s, "begin");
  o = run(s, "create table u (x int)");
  cr_assert(strncmp(o, "E 0A000 CREATE TABLE cannot run inside a transaction block", 58) == 0, "%s", o);
  run(s, "rollback");
  EXPECT(s, "rollback", "N WARNING 25P01 there is no transaction in progress\nT ROLLBACK\n");
  eng_session_free(s);
}

Test(engine, implicit_multi_statement) {
  eng_session *s = session();
  run(s, "create table t (id int primary key)");
  const char *o = run(s, "insert into t values (1); insert into t values (2); insert into t values (1)");
  cr_assert(strstr(o, "T INSERT 0 1\nT INSERT 0 1\nE 23505") == o, "%s", o);
  cr_assert_eq(last_status, 'I');
  EXPECT(s, "select count(*) from t", "C count:20\nR 0\nT SELECT 1\n");
  /* after an error the rest of the string is skipped */
  o = run(s, "select * from nosuch; insert into t values (5)");
  cr_assert(strncmp(o, "E 42P01", 7) == 0 && !strstr(o, "INSERT"), "%s", o);
  EXPECT(s, "insert into t values (1); insert into t values (2); select count(*) from t",
         "T INSERT 0 1\nT INSERT 0 1\nC count:20\nR 2\nT SELECT 1\n");
  eng_session_free(s);
}

Test(engine, set_show) {
  eng_session *s = session();
  EXPECT(s, "show transaction_isolation", "C transaction_isolation:25\nR read committed\nT SHOW\n");
  EXPECT(s, "set default_transaction_isolation = 'repeatable read'", "T SET\n");
  EXPECT(s, "show transaction_isolation", "C transaction_isolation:25\nR repeatable read\nT SHOW\n");
  EXPECT(s, "begin isolation level serializable; show transaction_isolation; rollback",
         "T BEGIN\nC transaction_isolation:25\nR serializable\nT SHOW\nT ROLLBACK\n");
  EXPECT(s, "set application_name = 'x'", "P application_name=x\nT SET\n");
  EXPECT(s, "show application_name", "C application_name:25\nR x\nT SHOW\n");
  EXPECT(s, "set statement_timeout = 5000", "T SET\n");
  EXPECT(s, "show statement_timeout", "C statement_timeout:25\nR 5s\nT SHOW\n"); /* as PG */
  EXPECT(s, "show timezone", "C TimeZone:25\nR UTC\nT SHOW\n");
  EXPECT(s, "set nosuch = 1", "E 42704 unrecognized configuration parameter \"nosuch\"\n");
  EXPECT(s, "set default_transaction_isolation = 'bogus'",
         "E 22023 invalid value for parameter \"default_transaction_isolation\": \"bogus\"\n");
  const char *o = run(s, "show server_version");
  cr_assert(strstr(o, "R 15.0 (synod"), "%s", o);
  eng_session_free(s);
}

Test(engine, ddl) {
  eng_session *s = session();
  run(s, "create table d (id int primary key, a int)");
  run(s, "insert into d values (1, 5)");
  EXPECT(s, "alter table d add column b text default 'q'", "T ALTER TABLE\n");
  EXPECT(s, "select * from d", "C id:23 a:23 b:25\nR 1|5|q\nT SELECT 1\n");
  EXPECT(s, "alter table d rename column a to aa", "T ALTER TABLE\n");
  EXPECT(s, "alter table d drop column b", "T ALTER TABLE\n");
  EXPECT(s, "select * from d", "C id:23 aa:23\nR 1|5\nT SELECT 1\n");
  /* Unique indexes are enforced per shard, so they must contain the
  ** distribution column (id here). */
  EXPECT(s, "create unique index d_aa on d (aa)",
         "E 0A000 unique index \"d_aa\" on table \"d\" must include the distribution column\n");
  run(s, "create table du (id int, a int) with (distribution_key = 'a')");
  EXPECT(s, "create unique index du_a on du (a)", "T CREATE INDEX\n");
  run(s, "insert into du values (1, 5)");
  const char *o = run(s, "insert into du values (2, 5)");
  cr_assert(strncmp(o, "E 23505 duplicate key value violates unique constraint \"du_a\"", 60) == 0, "%s", o);
  EXPECT(s, "drop index du_a", "T DROP INDEX\n");
  EXPECT(s, "insert into du values (2, 5)", "T INSERT 0 1\n");
  run(s, "drop table du");
  EXPECT(s, "insert into d values (2, 5)", "T INSERT 0 1\n");
  EXPECT(s, "truncate d", "T TRUNCATE TABLE\n");
  EXPECT(s, "select count(*) from d", "C count:20\nR 0\nT SELECT 1\n");
  run(s, "create table nk (a int, b text)");
  run(s, "insert into nk values (1, 'x'), (2, 'y')");
  EXPECT(s, "alter table nk add primary key (a)", "T ALTER TABLE\n");
  EXPECT(s, "select * from nk where a = 2", "C a:23 b:25\nR 2|y\nT SELECT 1\n");
  EXPECT(s, "drop table d, nk", "T DROP TABLE\n");
  o = run(s, "select * from d");
  cr_assert(strncmp(o, "E 42P01", 7) == 0, "%s", o);
  eng_session_free(s);
}

Test(engine, repeatable_read_conflict) {
  eng_session *a = session(), *b = session();
  run(a, "create table c (id int primary key, v int)");
  run(a, "insert into c values (1, 0)");
  EXPECT(a, "begin isolation level repeatable read", "T BEGIN\n");
  EXPECT(a, "select v from c", "C v:23\nR 0\nT SELECT 1\n");
  EXPECT(b, "update c set v = 5", "T UPDATE 1\n");
  EXPECT(a, "select v from c", "C v:23\nR 0\nT SELECT 1\n"); /* snapshot */
  EXPECT(a, "update c set v = v + 1",
         "E 40001 could not serialize access due to concurrent update\n");
  cr_assert_eq(last_status, 'E');
  run(a, "rollback");
  /* READ COMMITTED sees the new value at once */
  EXPECT(a, "begin; select v from c", "T BEGIN\nC v:23\nR 5\nT SELECT 1\n");
  run(b, "update c set v = 6");
  EXPECT(a, "select v from c", "C v:23\nR 6\nT SELECT 1\n");
  run(a, "commit");
  eng_session_free(a);
  eng_session_free(b);
}

#define INCS 100

static void *incr(void *arg) {
  eng_session *s = arg;
  for (int i = 0; i < INCS; i++) {
    const char *o = run(s, "update c set v = v + 1 where id = 1");
    if (strcmp(o, "T UPDATE 1\n") != 0) {
      char *r = strdup(o);
      run_done();
      return r;
    }
  }
  run_done();
  return NULL;
}

/* Concurrent increments under READ COMMITTED: the loser of each race waits
** for the lock, meets a newer version and is re-run at a fresh snapshot,
** so no increment fails and none is lost (run()'s buffer is per thread). */
Test(engine, read_committed_retry) {
  eng_session *a = session(), *b = session(), *c = session();
  run(c, "create table c (id int primary key, v int)");
  run(c, "insert into c values (1, 0)");
  pthread_t t1, t2;
  pthread_create(&t1, NULL, incr, a);
  pthread_create(&t2, NULL, incr, b);
  void *r1, *r2;
  pthread_join(t1, &r1);
  pthread_join(t2, &r2);
  cr_assert_null(r1, "thread 1: %s", (char *)r1);
  cr_assert_null(r2, "thread 2: %s", (char *)r2);
  char want[64];
  snprintf(want, sizeof want, "C v:23\nR %d\nT SELECT 1\n", 2 * INCS);
  EXPECT(c, "select v from c", want);
  eng_session_free(a);
  eng_session_free(b);
  eng_session_free(c);
}

typedef struct dl_arg {
  eng_session *s;
  char out[256];
} dl_arg;

static void *dl_update(void *p) {
  dl_arg *a = p;
  snprintf(a->out, sizeof a->out, "%s", run(a->s, "update d set v = 1 where id = 2"));
  run_done();
  return NULL;
}

/* Two transactions lock rows in opposite orders: one of them is chosen as
** the deadlock victim (40P01) and the other proceeds once it rolls back. */
Test(engine, deadlock) {
  eng_session *a = session(), *b = session();
  run(a, "create table d (id int primary key, v int)");
  run(a, "insert into d values (1, 0), (2, 0)");
  EXPECT(a, "begin; update d set v = 1 where id = 1", "T BEGIN\nT UPDATE 1\n");
  EXPECT(b, "begin; update d set v = 2 where id = 2", "T BEGIN\nT UPDATE 1\n");
  dl_arg arg = {.s = a};
  pthread_t t;
  pthread_create(&t, NULL, dl_update, &arg); /* a waits for b's lock on 2 */
  usleep(200 * 1000);
  EXPECT(b, "update d set v = 2 where id = 1", "E 40P01 deadlock detected\n");
  cr_assert_eq(last_status, 'E');
  run(b, "rollback");
  pthread_join(t, NULL);
  cr_assert_str_eq(arg.out, "T UPDATE 1\n");
  EXPECT(a, "commit", "T COMMIT\n");
  EXPECT(a, "select * from d order by id", "C id:23 v:23\nR 1|1\nR 2|1\nT SELECT 2\n");
  eng_session_free(a);
  eng_session_free(b);
}

static void *long_query(void *p) {
  dl_arg *a = p;
  snprintf(a->out, sizeof a->out, "%s",
           run(a->s, "select count(*) from generate_series(1, 2000000000) g"));
  run_done();
  return NULL;
}

/* eng_session_cancel from another thread stops a running statement with
** 57014 and the session serves the next query. */
Test(engine, cancel) {
  eng_session *s = session();
  dl_arg arg = {.s = s};
  pthread_t t;
  pthread_create(&t, NULL, long_query, &arg);
  usleep(200 * 1000);
  eng_session_cancel(s);
  pthread_join(t, NULL);
  /* RowDescription goes first, as in PostgreSQL, then the error. */
  cr_assert_str_eq(arg.out, "C count:20\nE 57014 canceling statement due to user request\n");
  EXPECT(s, "select 1 as one", "C one:23\nR 1\nT SELECT 1\n");
  eng_session_free(s);
}

Test(engine, reset_and_show_all) {
  eng_session *s = session();
  run(s, "set application_name = 'x'");
  EXPECT(s, "reset application_name", "P application_name=\nT RESET\n");
  EXPECT(s, "set application_name to default", "T SET\n");
  const char *o = run(s, "show all");
  const char *hdr = "C name:25 setting:25 description:25\n";
  cr_assert(strncmp(o, hdr, strlen(hdr)) == 0, "%s", o);
  cr_assert(strstr(o, "R TimeZone|UTC|"), "%s", o);
  eng_session_free(s);
}

/* eng_opts.default_isolation is each new session's
** default_transaction_isolation; SET overrides it and RESET returns to it,
** not to READ COMMITTED. */
Test(engine, cluster_default_isolation) {
  eng_opts o = {.default_isolation = CL_REPEATABLE_READ};
  eng_session *s;
  syn_err e;
  cr_assert_eq(eng_session_new(cl, &o, &s, &e), 0, "%s", e.msg);
  EXPECT(s, "show default_transaction_isolation",
         "C default_transaction_isolation:25\nR repeatable read\nT SHOW\n");
  EXPECT(s, "show transaction_isolation", "C transaction_isolation:25\nR repeatable read\nT SHOW\n");
  EXPECT(s, "begin; show transaction_isolation; commit",
         "T BEGIN\nC transaction_isolation:25\nR repeatable read\nT SHOW\nT COMMIT\n");
  EXPECT(s, "set default_transaction_isolation = 'serializable'", "T SET\n");
  EXPECT(s, "show default_transaction_isolation",
         "C default_transaction_isolation:25\nR serializable\nT SHOW\n");
  EXPECT(s, "reset default_transaction_isolation", "T RESET\n");
  EXPECT(s, "show default_transaction_isolation",
         "C default_transaction_isolation:25\nR repeatable read\nT SHOW\n");
  EXPECT(s, "set default_transaction_isolation = 'read committed'", "T SET\n");
  EXPECT(s, "reset all", "T RESET\n");
  EXPECT(s, "show default_transaction_isolation",
         "C default_transaction_isolation:25\nR repeatable read\nT SHOW\n");
  eng_session_free(s);

  /* Without opts (and with zeroed opts) the default stays READ COMMITTED. */
  s = session();
  EXPECT(s, "show default_transaction_isolation",
         "C default_transaction_isolation:25\nR read committed\nT SHOW\n");
  eng_session_free(s);
}

Test(engine, isolation_names) {
  cl_isolation iso = CL_READ_COMMITTED;
  cr_assert_eq(eng_isolation_parse("repeatable read", &iso, NULL), 0);
  cr_assert_eq(iso, CL_REPEATABLE_READ);
  cr_assert_eq(eng_isolation_parse("Read-Committed", &iso, NULL), 0);
  cr_assert_eq(iso, CL_READ_COMMITTED);
  cr_assert_eq(eng_isolation_parse("SERIALIZABLE", &iso, NULL), 0);
  cr_assert_eq(iso, CL_SERIALIZABLE);
  cr_assert_eq(eng_isolation_parse("repeatable_read", &iso, NULL), 0);
  cr_assert_eq(iso, CL_REPEATABLE_READ);
  syn_err e;
  cr_assert_eq(eng_isolation_parse("snapshot", &iso, &e), SYN_EINVAL);
  cr_assert(strstr(e.msg, "snapshot"), "%s", e.msg);
  cr_assert_eq(eng_isolation_parse("", &iso, NULL), SYN_EINVAL);
  cr_assert_str_eq(eng_isolation_name(CL_SERIALIZABLE), "serializable");
}

Test(engine, on_conflict_unique_constraint) {
  eng_session *s = session();
  /* Unique keys must include the distribution column (Citus' rule). */
  EXPECT(s, "create table u (id int, email text, n int, primary key (id, email), unique (email)) "
            "with (distribution_key = 'email')",
         "T CREATE TABLE\n");
  run(s, "insert into u values (1, 'a@x', 1)");
  EXPECT(s, "insert into u values (2, 'a@x', 5) on conflict (email) do update set n = u.n + excluded.n returning *",
         "C id:23 email:25 n:23\nR 1|a@x|6\nT INSERT 0 1\n");
  EXPECT(s, "insert into u values (3, 'a@x', 5) on conflict do nothing", "T INSERT 0 0\n");
  const char *o = run(s, "insert into u values (4, 'a@x', 5)");
  cr_assert(strstr(o, "E 23505 duplicate key value violates unique constraint \"u_email_key\"\n"
                      "D Key (email)=(a@x) already exists.\n") == o, "%s", o);
  EXPECT(s, "insert into u values (5, 'b@x', 1), (6, 'c@x', 2)", "T INSERT 0 2\n");
  EXPECT(s, "select count(*) from u", "C count:20\nR 3\nT SELECT 1\n");
  eng_session_free(s);
}

typedef struct fu_arg {
  eng_session *s;
  char out[256];
  volatile int done;
} fu_arg;

static void *fu_update(void *p) {
  fu_arg *a = p;
  snprintf(a->out, sizeof a->out, "%s", run(a->s, "update f set v = v + 1 where id = 1"));
  a->done = 1;
  run_done();
  return NULL;
}

/* SELECT ... FOR UPDATE takes the row locks: a concurrent writer waits for
** the locking transaction and then (READ COMMITTED) applies on top. */
Test(engine, select_for_update_locks) {
  eng_session *a = session(), *b = session();
  run(a, "create table f (id int primary key, v int)");
  run(a, "insert into f values (1, 0), (2, 0)");
  EXPECT(a, "begin; select v from f where id = 1 for update", "T BEGIN\nC v:23\nR 0\nT SELECT 1\n");
  fu_arg arg = {.s = b};
  pthread_t t;
  pthread_create(&t, NULL, fu_update, &arg);
  usleep(300 * 1000);
  cr_assert_eq(arg.done, 0, "the writer did not wait for the FOR UPDATE lock: %s", arg.out);
  EXPECT(a, "update f set v = 10 where id = 1", "T UPDATE 1\n");
  EXPECT(a, "commit", "T COMMIT\n");
  pthread_join(t, NULL);
  cr_assert_str_eq(arg.out, "T UPDATE 1\n");
  EXPECT(a, "select v from f where id = 1", "C v:23\nR 11\nT SELECT 1\n");
  eng_session_free(a);
  eng_session_free(b);
}

/* What reaches the cluster: point reads, filters and LIMIT are pushed down
** only where the result cannot change. */
Test(engine, pushdown) {
  eng_session *s = session();
  run(s, "create table p (id int primary key, v text, n int)");
  run(s, "insert into p select g, 'v' || g, g % 3 from generate_series(1, 50) g");
  uint64_t before = lc_rows_scanned(cl);
  EXPECT(s, "select v from p where id = 7", "C v:25\nR v7\nT SELECT 1\n");
  cr_assert_eq(lc_rows_scanned(cl) - before, 1, "point read");
  before = lc_rows_scanned(cl);
  EXPECT(s, "select count(*) from p where n = 0 and id > 40", "C count:20\nR 3\nT SELECT 1\n");
  cr_assert_eq(lc_rows_scanned(cl) - before, 3, "filter pushed");
  before = lc_rows_scanned(cl);
  const char *o = run(s, "select id from p limit 2");
  cr_assert(strstr(o, "T SELECT 2\n"), "%s", o);
  cr_assert_eq(lc_rows_scanned(cl) - before, 2, "limit pushed");
  before = lc_rows_scanned(cl);
  EXPECT(s, "select id from p where n = 1 limit 2", "C id:23\nR 1\nR 4\nT SELECT 2\n");
  cr_assert_eq(lc_rows_scanned(cl) - before, 2, "limit with a pushed filter");
  /* not pushable: LIKE, ORDER BY, OFFSET -> all rows, right answers */
  EXPECT(s, "select id from p where v like 'v4%' limit 2", "C id:23\nR 4\nR 40\nT SELECT 2\n");
  EXPECT(s, "select id from p order by id desc limit 2", "C id:23\nR 50\nR 49\nT SELECT 2\n");
  EXPECT(s, "select id from p limit 2 offset 3", "C id:23\nR 4\nR 5\nT SELECT 2\n");
  /* a value of another storage class is not pushed (nor is the limit) */
  EXPECT(s, "select id from p where n = '1' and id < '5' limit 5", "C id:23\nR 1\nR 4\nT SELECT 2\n");
  EXPECT(s, "select id from p where id = 7.0", "C id:23\nR 7\nT SELECT 1\n");
  eng_session_free(s);
}
