/* PostgreSQL -> SQLite rewrite: exact SQLite text per construct, and the
** rewritten SQL executed on a plain in-memory SQLite database holding
** ordinary tables of the same names, checking the results. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql/parse.h"
#include "sql/rewrite.h"
#include "sql/engine/eng.h"
#include "sql/sqlstate.h"
#include "sql/pgcatalog.h"

#define NOW "2024-05-06 07:08:09.5+00"

static cat_table *tabs[8];
static int ntabs;
static sqlite3 *db;

static int lookup(void *ctx, const char *name, const cat_table **out) {
  (void)ctx;
  for (int i = 0; i < ntabs; i++)
    if (strcmp(tabs[i]->name, name) == 0) {
      *out = tabs[i];
      return 0;
    }
  return SYN_ENOTFOUND;
}
static const sqlr_catalog catalog = {lookup, NULL, NULL};

static void exec(const char *sql) {
  char *err = NULL;
  cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s: %s", sql, err);
}

/* Attach pg_catalog / information_schema as a session does and fill them
** for the test tables (ids 1, 2, ...), user "alice", database "shop". */
static void pgcat_setup(void) {
  cr_assert_eq(eng_register_pgcat_functions(db), SQLITE_OK);
  cat_buf sql = {0};
  cr_assert_eq(cat_buf_printf(&sql, "ATTACH ':memory:' AS pg_catalog;"
                                    "ATTACH ':memory:' AS information_schema;"), 0);
  for (int i = 0; i < ntabs; i++) tabs[i]->id = (uint64_t)i + 1;
  cr_assert_eq(pgc_fill_sql(tabs, ntabs, "alice", "shop", &sql, NULL), 0);
  exec(sql.p);
  cat_buf_free(&sql);
}

/* Tables come from real CREATE TABLE statements through the parser, and
** the SQLite copies are declared from the catalog's storage mapping. */
static void setup(void) {
  const char *ddl =
      "create table emp (id int primary key, name text not null, dept int, "
      "salary numeric(10,2), hired date, active bool default true, manager int);"
      "create table dept (id int primary key, dname varchar(20));"
      "create table h (x text, y int)";
  sqlp_list *l;
  syn_err e;
  int pos;
  cr_assert_eq(sqlp_parse(ddl, &l, &pos, &e), 0);
  cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
  exec("PRAGMA case_sensitive_like = ON");
  cr_assert_eq(eng_register_functions(db), SQLITE_OK);
  ntabs = 0;
  for (int i = 0; i < l->n; i++) {
    cr_assert_eq(l->stmts[i].status, 0, "%s", l->stmts[i].err.msg);
    cat_table *t = tabs[ntabs++] = l->stmts[i].table;
    l->stmts[i].table = NULL;
    cat_buf decl = {0};
    cr_assert_eq(cat_table_sqlite_decl(t, &decl, NULL), 0);
    exec(decl.p);
    cat_buf_free(&decl);
  }
  sqlp_list_free(l);
  pgcat_setup();
  exec("INSERT INTO emp VALUES (1, 'Ann', 10, '5000.00', '2020-01-15', 1, NULL),"
       "(2, 'bob', 10, '4000.50', '2021-03-01', 1, 1), (3, 'Cid', 20, NULL, '2019-07-30', 0, 1),"
       "(4, 'dee', NULL, '3000.00', '2022-11-11', 1, 2);"
       "INSERT INTO dept VALUES (10, 'Eng'), (20, 'Ops'), (30, 'Empty');"
       "INSERT INTO h VALUES ('a', 1), ('b', 2), ('c', 3)");
}

static void teardown(void) {
  for (int i = 0; i < ntabs; i++) cat_table_free(tabs[i]);
  ntabs = 0;
  sqlite3_close(db);
}

TestSuite(sql_rewrite, .init = setup, .fini = teardown);

static sqlr_query *rw(const char *sql) {
  sqlp_list *l;
  syn_err e;
  int pos;
  cr_assert_eq(sqlp_parse(sql, &l, &pos, &e), 0, "%s: %s", sql, e.msg);
  cr_assert_eq(l->n, 1);
  sqlr_query *q = NULL;
  int rc = sqlr_rewrite(&l->stmts[0], &catalog, &q, &pos, &e);
  cr_assert_eq(rc, 0, "%s: %s", sql, e.msg);
  sqlp_list_free(l);
  return q;
}

static void rw_err(const char *sql, const char *state, int want_pos) {
  sqlp_list *l;
  syn_err e;
  int pos;
  cr_assert_eq(sqlp_parse(sql, &l, &pos, &e), 0, "%s: %s", sql, e.msg);
  sqlr_query *q = NULL;
  cr_assert_neq(sqlr_rewrite(&l->stmts[0], &catalog, &q, &pos, &e), 0, "%s should fail", sql);
  cr_assert_null(q);
  char st[6];
  sqlst_split(&e, st, NULL);
  cr_assert_str_eq(st, state, "%s: %s", sql, e.msg);
  if (want_pos >= 0) cr_assert_eq(pos, want_pos, "%s: position %d (%s)", sql, pos, e.msg);
  sqlp_list_free(l);
}

/* Run SQL with ?1..?n bound (text, or NULL), return rows as "a|b;c|d". */
static char *run(const char *sql, const char **binds, int nb) {
  sqlite3_stmt *st;
  cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
  for (int i = 0; i < nb; i++) {
    if (!binds[i]) sqlite3_bind_null(st, i + 1);
    else sqlite3_bind_text(st, i + 1, binds[i], -1, SQLITE_TRANSIENT);
  }
  static char out[4096];
  size_t n = 0;
  out[0] = '\0';
  int rc, row = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (row++) n += (size_t)snprintf(out + n, sizeof out - n, ";");
    for (int c = 0; c < sqlite3_column_count(st); c++) {
      const char *v = (const char *)sqlite3_column_text(st, c);
      n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", c ? "|" : "", v ? v : "NULL");
    }
  }
  cr_assert_eq(rc, SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(db));
  sqlite3_finalize(st);
  return out;
}

/* Rewrite, compare the SQLite text, execute (binding params then now()),
** compare the rows. */
static void check(const char *pg, const char *sqlite_sql, const char *rows) {
  sqlr_query *q = rw(pg);
  cr_assert_str_eq(q->sql, sqlite_sql, "%s: got %s", pg, q->sql);
  const char *binds[8] = {0};
  if (q->now_param) binds[q->now_param - 1] = NOW;
  char *got = run(q->sql, binds, q->now_param ? q->now_param : q->nparams);
  cr_assert_str_eq(got, rows, "%s", pg);
  sqlr_query_free(q);
}

Test(sql_rewrite, basics) {
  check("select id, name from emp where name ilike 'B%'",
        "SELECT \"id\", \"name\" FROM \"emp\" WHERE (lower(\"name\") LIKE lower('B%') ESCAPE '\\')",
        "2|bob");
  check("select id from emp where name like 'b%' or name like 'C\\_%' order by id",
        "SELECT \"id\" FROM \"emp\" WHERE ((\"name\" LIKE 'b%' ESCAPE '\\') OR (\"name\" LIKE "
        "'C\\_%' ESCAPE '\\')) ORDER BY \"id\" NULLS LAST",
        "2");
  check("select id from emp where active = false", "SELECT \"id\" FROM \"emp\" WHERE (\"active\" = 0)", "3");
  check("select id from emp where active is true and not (id = 1) order by id",
        "SELECT \"id\" FROM \"emp\" WHERE ((\"active\" IS TRUE) AND (NOT (\"id\" = 1))) ORDER BY \"id\" NULLS LAST",
        "2;4");
  check("select 'it''s' as \"Odd \"\"x\"\"\"", "SELECT 'it''s' AS \"Odd \"\"x\"\"\"", "it's");
  check("select name || '-' || id from emp where id = 1",
        "SELECT ((\"name\" || '-') || \"id\") AS \"?column?\" FROM \"emp\" WHERE (\"id\" = 1)", "Ann-1");
  check("select -id, 7 % 3, 2 * (1 + id) from emp where id = 2",
        "SELECT (-\"id\") AS \"?column?\", syn_int4(syn_mod(7, 3)) AS \"?column?\", syn_int4((2 * syn_int4((1 + \"id\")))) AS \"?column?\" "
        "FROM \"emp\" WHERE (\"id\" = 2)",
        "-2|1|6");
}

Test(sql_rewrite, params_and_now) {
  sqlr_query *q = rw("select name from emp where id = $2 or dept = $1");
  cr_assert_str_eq(q->sql, "SELECT \"name\" FROM \"emp\" WHERE ((\"id\" = ?2) OR (\"dept\" = ?1))");
  cr_assert_eq(q->nparams, 2);
  cr_assert_eq(q->now_param, 0);
  const char *b[] = {"20", "1"};
  cr_assert_str_eq(run(q->sql, b, 2), "Ann;Cid");
  sqlr_query_free(q);
  q = rw("select now(), current_timestamp, current_date, $1::int");
  cr_assert_str_eq(q->sql, "SELECT ?2 AS \"now\", ?2 AS \"current_timestamp\", substr(?2, 1, 10) AS "
                           "\"current_date\", CAST(?1 AS INTEGER) AS \"int4\"");
  cr_assert_eq(q->now_param, 2);
  cr_assert_eq(q->cols[0].type_oid, CAT_OID_TIMESTAMPTZ);
  cr_assert_eq(q->cols[2].type_oid, CAT_OID_DATE);
  cr_assert_eq(q->cols[3].type_oid, CAT_OID_INT4);
  const char *b2[] = {"7", NOW};
  cr_assert_str_eq(run(q->sql, b2, 2), NOW "|" NOW "|2024-05-06|7");
  sqlr_query_free(q);
}

Test(sql_rewrite, casts) {
  check("select id::text, '42'::int, 'on'::bool, 2.5::int, '2024-1-2'::date, "
        "'2024-01-02 03:04:05+02'::timestamptz, 3::float8, cast(id as numeric(4,1)) from emp where id = 1",
        "SELECT CAST(\"id\" AS TEXT) AS \"id\", 42 AS \"int4\", 1 AS \"bool\", 3 AS \"int4\", "
        "'2024-01-02' AS \"date\", '2024-01-02 01:04:05+00' AS \"timestamptz\", 3.0 AS \"float8\", "
        "(syn_num(\"id\", 262149) COLLATE synnum) AS \"id\" FROM \"emp\" WHERE (\"id\" = 1)",
        "1|42|1|3|2024-01-02|2024-01-02 01:04:05+00|3.0|1.0");
  /* numeric casts: exact text, rounded half away from zero, checked */
  check("select 2.5::int, salary::int, salary::float8, (salary / 3)::numeric(8,3) from emp where id = 2",
        "SELECT 3 AS \"int4\", syn_num_int(\"salary\", 4) AS \"salary\", syn_num_float(\"salary\") AS "
        "\"salary\", (syn_num((syn_num_div(\"salary\", 3) COLLATE synnum), 524295) COLLATE synnum) AS "
        "\"numeric\" FROM \"emp\" WHERE (\"id\" = 2)",
        "3|4001|4000.5|1333.500");
  rw_err("select 'x'::numeric", "22P02", -1);
  rw_err("select 123.45::numeric(4,2)", "22003", -1);
  check("select id::bool, name::varchar(2) from emp where id = 3",
        "SELECT (\"id\" <> 0) AS \"id\", substr(CAST(\"name\" AS TEXT), 1, 2) AS \"name\" FROM \"emp\" WHERE (\"id\" = 3)",
        "1|Ci");
  rw_err("select '12x'::int", "22P02", 8); /* at the literal, as PostgreSQL */
  rw_err("select 'abc'::date", "22007", -1);
  rw_err("select 40000::int2", "22003", -1);
  rw_err("select 'x'::jsonb", "42704", -1);
}

Test(sql_rewrite, conditional_expressions) {
  check("select coalesce(salary, 0), nullif(dept, 10), case when active then 'y' else 'n' end, "
        "case dept when 10 then 'ten' end from emp order by id",
        "SELECT (coalesce(\"salary\", (syn_num(0) COLLATE synnum)) COLLATE synnum) AS \"coalesce\", NULLIF(\"dept\", 10) AS \"nullif\", CASE WHEN "
        "\"active\" THEN 'y' ELSE 'n' END AS \"case\", CASE \"dept\" WHEN 10 THEN 'ten' END AS \"case\" "
        "FROM \"emp\" ORDER BY \"id\" NULLS LAST",
        "5000.00|NULL|y|ten;4000.50|NULL|y|ten;0|20|n|NULL;3000.00|NULL|y|NULL");
  check("select greatest(1, id, 3), least(4, id) from emp where id in (2, 4) order by id",
        "SELECT max(1, coalesce(\"id\", 1, 3), 3) AS \"greatest\", min(4, coalesce(\"id\", 4)) AS \"least\" FROM \"emp\" "
        "WHERE (\"id\" IN (2, 4)) ORDER BY \"id\" NULLS LAST",
        "3|2;4|4");
}

Test(sql_rewrite, predicates) {
  check("select id from emp where dept in (10, 20) order by id desc",
        "SELECT \"id\" FROM \"emp\" WHERE (\"dept\" IN (10, 20)) ORDER BY \"id\" DESC NULLS FIRST", "3;2;1");
  check("select id from emp where id not in (1, 2) order by id",
        "SELECT \"id\" FROM \"emp\" WHERE (\"id\" NOT IN (1, 2)) ORDER BY \"id\" NULLS LAST", "3;4");
  check("select id from emp where hired between '2020-01-01' and '2021-12-31' order by id",
        "SELECT \"id\" FROM \"emp\" WHERE (\"hired\" BETWEEN '2020-01-01' AND '2021-12-31') ORDER BY "
        "\"id\" NULLS LAST",
        "1;2");
  check("select id from emp where id not between 2 and 3 order by id",
        "SELECT \"id\" FROM \"emp\" WHERE (\"id\" NOT BETWEEN 2 AND 3) ORDER BY \"id\" NULLS LAST", "1;4");
  check("select id from emp where dept is null", "SELECT \"id\" FROM \"emp\" WHERE (\"dept\" IS NULL)", "4");
  check("select count(*) from emp where dept is not null",
        "SELECT count(*) AS \"count\" FROM \"emp\" WHERE (\"dept\" IS NOT NULL)", "3");
  check("select id from emp where dept is distinct from 10 order by id",
        "SELECT \"id\" FROM \"emp\" WHERE (\"dept\" IS NOT 10) ORDER BY \"id\" NULLS LAST", "3;4");
  check("select id from emp where dept is not distinct from null",
        "SELECT \"id\" FROM \"emp\" WHERE (\"dept\" IS NULL)", "4");
}

Test(sql_rewrite, joins) {
  check("select e.name, d.dname from emp e join dept d on e.dept = d.id order by e.id",
        "SELECT \"e\".\"name\", \"d\".\"dname\" FROM \"emp\" AS \"e\" JOIN \"dept\" AS \"d\" ON "
        "(\"e\".\"dept\" = \"d\".\"id\") ORDER BY \"e\".\"id\" NULLS LAST",
        "Ann|Eng;bob|Eng;Cid|Ops");
  check("select e.name, d.dname from emp e left join dept d on e.dept = d.id order by e.id",
        "SELECT \"e\".\"name\", \"d\".\"dname\" FROM \"emp\" AS \"e\" LEFT JOIN \"dept\" AS \"d\" ON "
        "(\"e\".\"dept\" = \"d\".\"id\") ORDER BY \"e\".\"id\" NULLS LAST",
        "Ann|Eng;bob|Eng;Cid|Ops;dee|NULL");
  check("select e.name, d.dname from emp e right join dept d on e.dept = d.id order by d.id, e.id",
        "SELECT \"e\".\"name\", \"d\".\"dname\" FROM \"emp\" AS \"e\" RIGHT JOIN \"dept\" AS \"d\" ON "
        "(\"e\".\"dept\" = \"d\".\"id\") ORDER BY \"d\".\"id\" NULLS LAST, \"e\".\"id\" NULLS LAST",
        "Ann|Eng;bob|Eng;Cid|Ops;NULL|Empty");
  check("select e.name, d.dname from emp e full join dept d on e.dept = d.id order by d.id, e.id",
        "SELECT \"e\".\"name\", \"d\".\"dname\" FROM \"emp\" AS \"e\" FULL JOIN \"dept\" AS \"d\" ON "
        "(\"e\".\"dept\" = \"d\".\"id\") ORDER BY \"d\".\"id\" NULLS LAST, \"e\".\"id\" NULLS LAST",
        "Ann|Eng;bob|Eng;Cid|Ops;NULL|Empty;dee|NULL");
  check("select m.name, e.name from emp e, emp m where e.manager = m.id and e.id = 4",
        "SELECT \"m\".\"name\", \"e\".\"name\" FROM \"emp\" AS \"e\", \"emp\" AS \"m\" WHERE "
        "((\"e\".\"manager\" = \"m\".\"id\") AND (\"e\".\"id\" = 4))",
        "bob|dee");
  check("select count(*) from emp cross join dept", "SELECT count(*) AS \"count\" FROM \"emp\" CROSS JOIN \"dept\"", "12");
  rw_err("select id from emp, dept", "42702", 8);
  rw_err("select x.id from emp", "42P01", 8);
  rw_err("select e.nope from emp e", "42703", 8);
}

Test(sql_rewrite, subqueries) {
  check("select name, (select dname from dept where id = emp.dept) from emp order by id",
        "SELECT \"name\", (SELECT \"dname\" FROM \"dept\" WHERE (\"id\" = \"emp\".\"dept\")) AS \"dname\" "
        "FROM \"emp\" ORDER BY \"id\" NULLS LAST",
        "Ann|Eng;bob|Eng;Cid|Ops;dee|NULL");
  check("select dname from dept where id in (select dept from emp where active) order by 1",
        "SELECT \"dname\" FROM \"dept\" WHERE (\"id\" IN (SELECT \"dept\" FROM \"emp\" WHERE \"active\")) "
        "ORDER BY 1 NULLS LAST",
        "Eng");
  check("select dname from dept d where not exists (select 1 from emp e where e.dept = d.id)",
        "SELECT \"dname\" FROM \"dept\" AS \"d\" WHERE (NOT EXISTS (SELECT 1 AS \"?column?\" FROM \"emp\" "
        "AS \"e\" WHERE (\"e\".\"dept\" = \"d\".\"id\")))",
        "Empty");
  check("select id from dept where id not in (select dept from emp where dept is not null)",
        "SELECT \"id\" FROM \"dept\" WHERE (NOT (\"id\" IN (SELECT \"dept\" FROM \"emp\" WHERE (\"dept\" "
        "IS NOT NULL))))",
        "30");
  check("select s.n from (select count(*) as n from emp) as s",
        "SELECT \"s\".\"n\" FROM (SELECT count(*) AS \"n\" FROM \"emp\") AS \"s\"", "4");
  check("with big as (select id from emp where salary > 3500) select count(*) from big",
        "WITH \"big\" AS (SELECT \"id\" FROM \"emp\" WHERE (\"salary\" COLLATE synnum > syn_num(3500))) SELECT count(*) AS \"count\" "
        "FROM \"big\"",
        "2");
}

Test(sql_rewrite, aggregates) {
  sqlr_query *q = rw("select count(*), count(distinct dept), sum(id), avg(id), min(name), max(hired), "
                     "sum(salary) from emp");
  cr_assert_str_eq(q->sql, "SELECT count(*) AS \"count\", count(DISTINCT \"dept\") AS \"count\", sum(\"id\") "
                           "AS \"sum\", (syn_num_avg(\"id\") COLLATE synnum) AS \"avg\", min(\"name\") AS \"min\", "
                           "max(\"hired\") AS \"max\", (syn_num_sum(\"salary\") COLLATE synnum) AS \"sum\" "
                           "FROM \"emp\"");
  cr_assert_str_eq(run(q->sql, NULL, 0), "4|2|10|2.5000000000000000|Ann|2022-11-11|12000.50");
  uint32_t types[] = {CAT_OID_INT8, CAT_OID_INT8, CAT_OID_INT8, CAT_OID_NUMERIC,
                      CAT_OID_TEXT, CAT_OID_DATE, CAT_OID_NUMERIC};
  cr_assert_eq(q->ncols, 7);
  for (int i = 0; i < 7; i++) cr_assert_eq(q->cols[i].type_oid, types[i], "col %d", i);
  sqlr_query_free(q);
  check("select dept, count(*) from emp group by dept having count(*) > 1",
        "SELECT \"dept\", count(*) AS \"count\" FROM \"emp\" GROUP BY \"dept\" HAVING (count(*) > 1)", "10|2");
  check("select dept as d, count(*) as n from emp group by d order by n desc, d",
        "SELECT \"dept\" AS \"d\", count(*) AS \"n\" FROM \"emp\" GROUP BY \"d\" ORDER BY \"n\" DESC NULLS "
        "FIRST, \"d\" NULLS LAST",
        "10|2;20|1;NULL|1");
}

Test(sql_rewrite, ordering_limits_distinct) {
  check("select id, dept from emp order by dept desc, id",
        "SELECT \"id\", \"dept\" FROM \"emp\" ORDER BY \"dept\" DESC NULLS FIRST, \"id\" NULLS LAST",
        "4|NULL;3|20;1|10;2|10");
  check("select id from emp order by dept nulls first, id",
        "SELECT \"id\" FROM \"emp\" ORDER BY \"dept\" NULLS FIRST, \"id\" NULLS LAST", "4;1;2;3");
  check("select id from emp order by id limit 2 offset 1",
        "SELECT \"id\" FROM \"emp\" ORDER BY \"id\" NULLS LAST LIMIT 2 OFFSET 1", "2;3");
  check("select id from emp order by id offset 2",
        "SELECT \"id\" FROM \"emp\" ORDER BY \"id\" NULLS LAST LIMIT -1 OFFSET 2", "3;4");
  check("select id from emp order by id fetch first 1 rows only",
        "SELECT \"id\" FROM \"emp\" ORDER BY \"id\" NULLS LAST LIMIT 1", "1");
  check("select distinct dept from emp order by dept",
        "SELECT DISTINCT \"dept\" FROM \"emp\" ORDER BY \"dept\" NULLS LAST", "10;20;NULL");
}

Test(sql_rewrite, set_operations) {
  check("select id from emp union select id from dept order by 1",
        "SELECT \"id\" FROM \"emp\" UNION SELECT \"id\" FROM \"dept\" ORDER BY 1 NULLS LAST",
        "1;2;3;4;10;20;30");
  check("select dept from emp union all select id from dept where id > 20",
        "SELECT \"dept\" FROM \"emp\" UNION ALL SELECT \"id\" FROM \"dept\" WHERE (\"id\" > 20)",
        "10;10;20;NULL;30");
  check("select dept from emp intersect select id from dept order by 1",
        "SELECT \"dept\" FROM \"emp\" INTERSECT SELECT \"id\" FROM \"dept\" ORDER BY 1 NULLS LAST", "10;20");
  check("select id from dept except select dept from emp",
        "SELECT \"id\" FROM \"dept\" EXCEPT SELECT \"dept\" FROM \"emp\"", "30");
  check("select 1 union select 2 intersect select 2",
        "SELECT 1 AS \"?column?\" UNION SELECT * FROM (SELECT 2 AS \"?column?\" INTERSECT SELECT 2 AS "
        "\"?column?\")",
        "1;2");
  rw_err("select 1 union select 1, 2", "42601", -1);
}

Test(sql_rewrite, scalar_functions) {
  check("select lower(name), upper(name), length(name), abs(-3), round(2.567, 2), substr(name, 2), "
        "substring(name from 1 for 2), replace(name, 'n', 'N'), btrim('  x ') from emp where id = 1",
        "SELECT lower(\"name\") AS \"lower\", upper(\"name\") AS \"upper\", length(\"name\") AS \"length\", "
        "abs(-3) AS \"abs\", (syn_num_round(('2.567' COLLATE synnum), 2) COLLATE synnum) AS \"round\", substr(\"name\", 2) AS \"substr\", "
        "substr(\"name\", 1, 2) AS \"substring\", replace(\"name\", 'n', 'N') AS \"replace\", "
        "trim('  x ') AS \"btrim\" FROM \"emp\" WHERE (\"id\" = 1)",
        "ann|ANN|3|3|2.57|nn|An|ANN|x");
}

Test(sql_rewrite, date_arithmetic) {
  check("select hired + 1, hired - 1, hired - '2020-01-01'::date from emp where id = 1",
        "SELECT date(\"hired\", ((1)) || ' days') AS \"?column?\", date(\"hired\", (-(1)) || ' days') "
        "AS \"?column?\", CAST(round(julianday(\"hired\") - julianday('2020-01-01')) AS INTEGER) AS "
        "\"?column?\" FROM \"emp\" WHERE (\"id\" = 1)",
        "2020-01-16|2020-01-14|14");
}

Test(sql_rewrite, window_functions) {
  check("select id, row_number() over (order by id desc) from emp order by id",
        "SELECT \"id\", row_number() OVER ( ORDER BY \"id\" DESC NULLS FIRST) AS \"row_number\" "
        "FROM \"emp\" ORDER BY \"id\" NULLS LAST",
        "1|4;2|3;3|2;4|1");
  check("select id, sum(id) over (partition by dept order by id rows between 1 preceding and "
        "current row) from emp order by id",
        "SELECT \"id\", sum(\"id\") OVER (PARTITION BY \"dept\" ORDER BY \"id\" NULLS LAST ROWS "
        "BETWEEN 1 PRECEDING AND CURRENT ROW) AS \"sum\" FROM \"emp\" ORDER BY \"id\" NULLS LAST",
        "1|1;2|3;3|3;4|4");
  check("select id, count(*) over w from emp window w as (order by dept nulls first) order by id",
        "SELECT \"id\", count(*) OVER \"w\" AS \"count\" FROM \"emp\" WINDOW \"w\" AS ( ORDER BY "
        "\"dept\" NULLS FIRST) ORDER BY \"id\" NULLS LAST",
        "1|3;2|3;3|4;4|1");
}

Test(sql_rewrite, unsupported_and_unknown) {
  rw_err("select row_number() from emp", "42809", 8);
  rw_err("select sum(id) over (order by id groups 1 preceding) from emp", "0A000", -1);
  rw_err("select sum(id) over (order by id range 1 preceding) from emp", "0A000", -1);
  rw_err("select concat()", "42883", 8);
  rw_err("select sqrt(salary) from emp", "0A000", 8);
  rw_err("select * from nope", "42P01", 15);
  rw_err("select nope from emp", "42703", 8);
  rw_err("select frobnicate(1)", "0A000", 8);
  rw_err("select distinct on (dept) id from emp order by id", "42P10", 21);
  rw_err("select hired * 2 from emp", "42883", -1);
  rw_err("select hired + hired from emp", "42883", -1);
  rw_err("select array[1, 2]", "0A000", -1);
  rw_err("select id from emp where name similar to 'a%'", "0A000", -1);
  rw_err("select * from unnest(array[1])", "0A000", -1);
  rw_err("select * from generate_series(1, 3, 0)", "22023", -1);
  rw_err("select * from generate_series(1, 3, $1)", "0A000", -1);
  rw_err("select id from emp, lateral (select 1) as x", "0A000", -1);
}

/* ---- DML planned as queries ---- */

/* Execute q->sql and return the first row's columns as text. */
static int first_row(const char *sql, const char **binds, int nb, char vals[][64], int max) {
  sqlite3_stmt *st;
  cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
  for (int i = 0; i < nb; i++)
    binds[i] ? sqlite3_bind_text(st, i + 1, binds[i], -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i + 1);
  int n = 0;
  if (sqlite3_step(st) == SQLITE_ROW) {
    n = sqlite3_column_count(st);
    for (int c = 0; c < n && c < max; c++) {
      const char *v = (const char *)sqlite3_column_text(st, c);
      snprintf(vals[c], 64, "%s", v ? v : "NULL");
    }
  }
  sqlite3_finalize(st);
  return n;
}

Test(sql_rewrite, update_as_query) {
  sqlr_query *q = rw("update emp set salary = salary * 2, active = false where dept = $1 returning id, salary");
  cr_assert_str_eq(q->sql, "SELECT \"emp\".\"id\", \"emp\".\"name\", \"emp\".\"dept\", \"emp\".\"salary\", "
                           "\"emp\".\"hired\", \"emp\".\"active\", \"emp\".\"manager\", (syn_num_mul(\"salary\", 2) COLLATE synnum), 0 "
                           "FROM \"emp\" WHERE (\"dept\" = ?1)");
  cr_assert(q->locking);
  cr_assert_eq(q->ncols, 7);
  cr_assert_eq(q->nset, 2);
  cr_assert_eq(q->set_cols[0], 3);
  cr_assert_eq(q->set_cols[1], 5);
  cr_assert_eq(q->row_base, 2);
  cr_assert_str_eq(q->returning_sql, "SELECT ?3 AS \"id\", ?6 AS \"salary\"");
  cr_assert_eq(q->nret, 2);
  cr_assert_eq(q->ret_cols[1].type_oid, CAT_OID_NUMERIC);
  const char *b[] = {"10"};
  cr_assert_str_eq(run(q->sql, b, 1), "1|Ann|10|5000.00|2020-01-15|1|NULL|10000.00|0;2|bob|10|4000.50|2021-03-01|1|1|8001.00|0");
  /* The engine binds the new row to evaluate RETURNING. */
  const char *row[] = {"10", NULL, "1", "Ann", "10", "10000", "2020-01-15", "0", NULL};
  cr_assert_str_eq(run(q->returning_sql, row, 9), "1|10000");
  sqlr_query_free(q);

  q = rw("update h as hh set y = y + 10 where x = 'b' returning *");
  cr_assert_str_eq(q->sql, "SELECT \"hh\".\"x\", \"hh\".\"y\", \"hh\".rowid, syn_int4((\"y\" + 10)) FROM \"h\" AS \"hh\" "
                           "WHERE (\"x\" = 'b')");
  cr_assert_eq(q->ncols, 3);
  cr_assert_str_eq(q->cols[2].name, "rowid");
  cr_assert_str_eq(run(q->sql, NULL, 0), "b|2|2|12");
  cr_assert_str_eq(q->returning_sql, "SELECT ?2 AS \"x\", ?3 AS \"y\"");
  sqlr_query_free(q);
  rw_err("update emp set nope = 1", "42703", 16);
  rw_err("update emp set id = 1, id = 2", "42601", -1);
  rw_err("update nope set a = 1", "42P01", 8);
  rw_err("update emp set (id, name) = (1, 'x')", "0A000", -1);
}

Test(sql_rewrite, delete_as_query) {
  sqlr_query *q = rw("delete from emp where salary < 4500 returning name, salary + 1 as s");
  cr_assert_str_eq(q->sql, "SELECT \"emp\".\"id\", \"emp\".\"name\", \"emp\".\"dept\", \"emp\".\"salary\", "
                           "\"emp\".\"hired\", \"emp\".\"active\", \"emp\".\"manager\" FROM \"emp\" WHERE "
                           "(\"salary\" COLLATE synnum < syn_num(4500))");
  cr_assert(q->locking);
  cr_assert_str_eq(run(q->sql, NULL, 0), "2|bob|10|4000.50|2021-03-01|1|1;4|dee|NULL|3000.00|2022-11-11|1|2");
  cr_assert_str_eq(q->returning_sql, "SELECT ?3 AS \"name\", (syn_num_add(?5, 1) COLLATE synnum) AS \"s\"");
  sqlr_query_free(q);
  q = rw("delete from h");
  cr_assert_str_eq(q->sql, "SELECT \"h\".\"x\", \"h\".\"y\", \"h\".rowid FROM \"h\"");
  cr_assert_null(q->returning_sql);
  sqlr_query_free(q);
}

Test(sql_rewrite, insert_as_query) {
  sqlr_query *q = rw("insert into emp (id, name) values (5, 'eve'), ($1, 'fay')");
  cr_assert_str_eq(q->sql, "VALUES (5, 'eve'), (?1, 'fay')");
  cr_assert_eq(q->ninsert, 2);
  cr_assert_eq(q->insert_cols[0], 0);
  cr_assert_eq(q->insert_cols[1], 1);
  cr_assert_eq(q->conflict, SQLR_CONFLICT_NONE);
  const char *b[] = {"6"};
  cr_assert_str_eq(run(q->sql, b, 1), "5|eve;6|fay");
  sqlr_query_free(q);

  q = rw("insert into dept select id + 100, name from emp where id < 3 returning *");
  cr_assert_str_eq(q->sql, "SELECT syn_int4((\"id\" + 100)) AS \"?column?\", \"name\" FROM \"emp\" WHERE (\"id\" < 3)");
  cr_assert_eq(q->ninsert, 2);
  cr_assert_str_eq(q->returning_sql, "SELECT ?2 AS \"id\", ?3 AS \"dname\"");
  cr_assert_str_eq(run(q->sql, NULL, 0), "101|Ann;102|bob");
  sqlr_query_free(q);

  q = rw("insert into h default values");
  cr_assert_eq(q->ninsert, 0);
  cr_assert_str_eq(run(q->sql, NULL, 0), "1");
  sqlr_query_free(q);

  q = rw("insert into emp values (7, 'gus')");
  cr_assert_eq(q->ninsert, 2);
  sqlr_query_free(q);
  rw_err("insert into emp (nope) values (1)", "42703", 18);
  rw_err("insert into emp (id, id) values (1, 2)", "42701", -1);
  rw_err("insert into dept values (1, 'x', 3)", "42601", -1);
  rw_err("insert into dept (id, dname) values (1)", "42601", -1);
  rw_err("insert into nope values (1)", "42P01", 13);
  rw_err("insert into dept values (default, (select default))", "0A000", -1);
}

Test(sql_rewrite, on_conflict) {
  sqlr_query *q = rw("insert into emp (id, name) values (1, 'x') on conflict do nothing");
  cr_assert_eq(q->conflict, SQLR_CONFLICT_NOTHING);
  cr_assert_eq(q->nconflict_cols, 0);
  sqlr_query_free(q);
  q = rw("insert into emp (id, name) values (1, 'x') on conflict (id) do update "
         "set name = excluded.name || emp.name, salary = emp.salary + 1 where emp.active returning id, name");
  cr_assert_eq(q->conflict, SQLR_CONFLICT_UPDATE);
  cr_assert_eq(q->nconflict_cols, 1);
  cr_assert_eq(q->conflict_cols[0], 0);
  cr_assert_eq(q->nconflict_set, 2);
  cr_assert_eq(q->conflict_set_cols[0], 1);
  cr_assert_eq(q->conflict_set_cols[1], 3);
  /* row_base 1: existing row ?2..?8, proposed row ?9..?15 */
  cr_assert_str_eq(q->conflict_sql, "SELECT (?10 || ?3), (syn_num_add(?5, 1) COLLATE synnum) WHERE ?7");
  const char *rows[] = {NULL, "1", "Ann", "10", "5000", "2020-01-15", "1", NULL,
                        "1", "x", NULL, NULL, NULL, "1", NULL};
  char v[4][64];
  cr_assert_eq(first_row(q->conflict_sql, rows, 15, v, 4), 2);
  cr_assert_str_eq(v[0], "xAnn");
  cr_assert_str_eq(v[1], "5001");
  rows[6] = "0"; /* DO UPDATE ... WHERE false: no update */
  cr_assert_eq(first_row(q->conflict_sql, rows, 15, v, 4), 0);
  sqlr_query_free(q);
  q = rw("insert into emp (id, name) values (1, 'x') on conflict on constraint emp_pkey do nothing");
  cr_assert_eq(q->nconflict_cols, 1);
  sqlr_query_free(q);
  rw_err("insert into emp (id, name) values (1, 'x') on conflict (name) do nothing", "42P10", -1);
  rw_err("insert into emp (id, name) values (1, 'x') on conflict do update set name = 'y'", "42601", -1);
  rw_err("insert into emp (id, name) values (1, 'x') on conflict on constraint zz do nothing", "42704", -1);
}

Test(sql_rewrite, dml_joins_and_defaults) {
  sqlr_query *q = rw("update emp set dept = d.id from dept d where d.dname = 'Ops' and emp.id = 1");
  cr_assert_str_eq(q->sql, "SELECT \"emp\".\"id\", \"emp\".\"name\", \"emp\".\"dept\", \"emp\".\"salary\", "
                           "\"emp\".\"hired\", \"emp\".\"active\", \"emp\".\"manager\", \"d\".\"id\" FROM \"emp\", "
                           "\"dept\" AS \"d\" WHERE ((\"d\".\"dname\" = 'Ops') AND (\"emp\".\"id\" = 1))");
  cr_assert_str_eq(run(q->sql, NULL, 0), "1|Ann|10|5000.00|2020-01-15|1|NULL|20");
  sqlr_query_free(q);
  q = rw("delete from emp e using dept d where e.dept = d.id and d.dname = 'Ops'");
  cr_assert_str_eq(q->sql, "SELECT \"e\".\"id\", \"e\".\"name\", \"e\".\"dept\", \"e\".\"salary\", \"e\".\"hired\", "
                           "\"e\".\"active\", \"e\".\"manager\" FROM \"emp\" AS \"e\", \"dept\" AS \"d\" WHERE "
                           "((\"e\".\"dept\" = \"d\".\"id\") AND (\"d\".\"dname\" = 'Ops'))");
  cr_assert_str_eq(run(q->sql, NULL, 0), "3|Cid|20|NULL|2019-07-30|0|1");
  sqlr_query_free(q);
  rw_err("update emp set dept = 1 from dept emp", "42712", -1);

  q = rw("insert into emp values (9, 'ivy', default), (10, 'jo', default)");
  cr_assert_str_eq(q->sql, "VALUES (9, 'ivy'), (10, 'jo')");
  cr_assert_eq(q->ninsert, 2);
  cr_assert_eq(q->insert_cols[1], 1);
  sqlr_query_free(q);
  q = rw("insert into emp (name, active, id) values ('kim', default, 11)");
  cr_assert_str_eq(q->sql, "VALUES ('kim', 11)");
  cr_assert_eq(q->ninsert, 2);
  cr_assert_eq(q->insert_cols[0], 1);
  cr_assert_eq(q->insert_cols[1], 0);
  sqlr_query_free(q);
  q = rw("insert into h values (default, default), (default, default)");
  cr_assert_eq(q->ninsert, 0);
  cr_assert_str_eq(run(q->sql, NULL, 0), "1;1");
  sqlr_query_free(q);
  rw_err("insert into emp values (1, 'a', 1), (2, 'b', default)", "0A000", -1);
}

Test(sql_rewrite, locking_and_types) {
  rw_err("select id from emp for update nowait", "0A000", -1);
  rw_err("select id from emp for update skip locked", "0A000", -1);
  sqlr_query *q = rw("select id from emp where id = 1 for update");
  cr_assert(q->locking);
  cr_assert_str_eq(q->sql, "SELECT \"id\" FROM \"emp\" WHERE (\"id\" = 1)");
  sqlr_query_free(q);
  q = rw("select id = 1, 1.5, 10000000000, true, 'x', null, id * 1.0, id / 2, $1, salary + 1 from emp");
  uint32_t types[] = {CAT_OID_BOOL, CAT_OID_NUMERIC, CAT_OID_INT8, CAT_OID_BOOL, CAT_OID_TEXT,
                      CAT_OID_TEXT, CAT_OID_NUMERIC, CAT_OID_INT4, CAT_OID_TEXT, CAT_OID_NUMERIC};
  cr_assert_eq(q->ncols, 10);
  for (int i = 0; i < 10; i++) cr_assert_eq(q->cols[i].type_oid, types[i], "col %d: %u", i, q->cols[i].type_oid);
  cr_assert_eq(q->cols[0].typmod, -1);
  sqlr_query_free(q);
  q = rw("select name, salary from emp");
  cr_assert_eq(q->cols[1].typmod, ((10 << 16) | 2) + 4);
  sqlr_query_free(q);
  /* numeric values carry their display scale in their text (sum of
  ** numeric(10,2) is 12000.50); computed columns have no typmod, as in
  ** PostgreSQL. A legacy REAL still prints at a declared scale. */
  q = rw("select sum(salary), max(salary), salary + 1, salary * 2 from emp");
  cr_assert_eq(q->cols[0].typmod, -1);
  cr_assert_eq(q->cols[1].typmod, ((10 << 16) | 2) + 4);
  cr_assert_eq(q->cols[2].typmod, -1);
  cr_assert_eq(q->cols[3].typmod, -1);
  cr_assert_str_eq(run(q->sql, NULL, 0), "12000.50|5000.00|5001.00|10000.00");
  syn_value v = {.type = SYN_V_REAL, .u.r = 12000.5};
  cat_buf out = {0};
  cr_assert_eq(cat_format_text(q->cols[1].type_oid, q->cols[1].typmod, &v, &out, NULL), 0);
  cr_assert_str_eq(out.p, "12000.50");
  cat_buf_free(&out);
  sqlr_query_free(q);
}

Test(sql_rewrite, literals_take_the_other_operand_type) {
  check("select id from emp where active = 'yes' and hired > '2020-1-1' order by id",
        "SELECT \"id\" FROM \"emp\" WHERE ((\"active\" = 1) AND (\"hired\" > '2020-01-01')) ORDER BY \"id\" "
        "NULLS LAST",
        "1;2;4");
  check("select id from emp where '2' = id", "SELECT \"id\" FROM \"emp\" WHERE (2 = \"id\")", "2");
  check("select id from emp where id in ('1', '3') and hired between '2019-1-1' and '2020-12-31' order by id",
        "SELECT \"id\" FROM \"emp\" WHERE ((\"id\" IN (1, 3)) AND (\"hired\" BETWEEN '2019-01-01' AND "
        "'2020-12-31')) ORDER BY \"id\" NULLS LAST",
        "1;3");
  check("select greatest(dept, manager), least(manager, dept) from emp order by id",
        "SELECT max(coalesce(\"dept\", \"manager\"), coalesce(\"manager\", \"dept\")) AS \"greatest\", "
        "min(coalesce(\"manager\", \"dept\"), coalesce(\"dept\", \"manager\")) AS \"least\" FROM \"emp\" "
        "ORDER BY \"id\" NULLS LAST",
        "10|10;10|1;20|1;2|2");
  check("select 'a' || 'b'", "SELECT ('a' || 'b') AS \"?column?\"", "ab");
  rw_err("select id from emp where id = 'x'", "22P02", 31);
  rw_err("select id from emp where hired = '2023-02-30'", "22008", -1);
  rw_err("select id from emp where active in ('maybe')", "22P02", -1);
}

/* Odd and hostile input: every statement is either rewritten into SQL that
** SQLite accepts, or refused with a real SQLSTATE (never XX000, never a
** crash). */
Test(sql_rewrite, every_outcome_is_valid_sql_or_a_sqlstate) {
  const char *qs[] = {
      "select", "select *", "select * from emp natural join dept",
      "select * from emp join dept using (id)", "select id from emp join dept using (id)",
      "with recursive r as (select 1 as n union all select n + 1 from r where n < 3) select * from r",
      "select (1, 2)", "select x.* from emp", "select count(*) filter (where true) from emp",
      "select * from emp where id = any(array[1])", "select 1 group by ()",
      "select id from emp group by rollup (id)", "select $0", "select $40000",
      "select id from emp order by id using <", "select e.* from emp e", "select 1 as x order by x",
      "select * from (select 1) s", "select * from (select 1)", "select now(1)",
      "select count(distinct *) from emp", "select lower(distinct name) from emp",
      "select (select id, name from emp)", "select 1 where exists (select)",
      "select '\\x01'::bytea", "select name::bytea from emp", "select 1::bool, 0::bool, 5::bool",
      "select 'NaN'::float8", "select 'Infinity'::float8", "select 1e500",
      "select id from emp where id > all (select id from dept)", "select id from emp where (id, name) = (1, 'a')",
      "select * from emp, emp", "select * from emp e, dept e", "select id from emp e where emp.id = 1",
      "insert into emp (id, name) select * from dept returning emp.id", "insert into emp returning *",
      "update emp set name = default", "update emp e set name = e.name || 'x' returning e.*, excluded.id",
      "delete from emp where id = $1 returning *, id * 2", "insert into emp values ($1, $2) on conflict (id) do update set name = $3 || excluded.name",
      "select id from emp where name collate \"C\" = 'a'", "select id from emp limit all",
      "select id from emp offset 1 rows fetch next 2 rows with ties", "select * from emp tablesample bernoulli (5)",
      "select 1 intersect all select 1", "select distinct id, name from emp order by name desc nulls last",
      "select case when id > 1 then 'x' end from emp", "select coalesce(null)", "select nullif(1)",
      "select substring('abc', 1)", "select round(1.5)", "select length()", "select id::int2::int8 from emp",
      "select cast('2024-01-01 10:00' as timestamp)::timestamptz", "select current_user",
      "select localtimestamp", "select hired::timestamp, now()::date from emp",
      "select public.emp.id from public.emp", "select other.emp.id from emp",
      "select 'a' like 'a' escape '#'", "select 1 from emp where name not ilike 'x'",
      "select id from emp where active is unknown", "select id from emp where not active is not false",
  };
  for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
    sqlp_list *l = NULL;
    syn_err e;
    int pos;
    char st[6];
    if (sqlp_parse(qs[i], &l, &pos, &e) != 0) {
      sqlst_split(&e, st, NULL);
      cr_assert_str_eq(st, "42601", "%s: %s", qs[i], e.msg);
      continue;
    }
    for (int k = 0; k < l->n; k++) {
      sqlr_query *q = NULL;
      int rc = sqlr_rewrite(&l->stmts[k], &catalog, &q, &pos, &e);
      if (rc) {
        sqlst_split(&e, st, NULL);
        cr_assert_str_neq(st, "XX000", "%s: %s", qs[i], e.msg);
        cr_assert_eq(strlen(st), 5);
        cr_assert_null(q);
        continue;
      }
      const char *sqls[] = {q->sql, q->returning_sql, q->conflict_sql};
      for (int j = 0; j < 3; j++) {
        if (!sqls[j]) continue;
        sqlite3_stmt *ps = NULL;
        int prc = sqlite3_prepare_v2(db, sqls[j], -1, &ps, NULL);
        cr_assert_eq(prc, SQLITE_OK, "%s -> %s: %s", qs[i], sqls[j], sqlite3_errmsg(db));
        sqlite3_finalize(ps);
      }
      sqlr_query_free(q);
    }
    sqlp_list_free(l);
  }
}

Test(sql_rewrite, generate_series_in_from) {
  check("select count(*), sum(g) from generate_series(1, 1000) as g",
        "SELECT count(*) AS \"count\", sum(\"g\") AS \"sum\" FROM (WITH RECURSIVE \"_gs\"(\"v\") AS (SELECT 1 "
        "UNION ALL SELECT (\"v\" + 1) FROM \"_gs\" WHERE (\"v\" + 1) <= 1000) SELECT \"v\" AS \"g\" FROM "
        "\"_gs\") AS \"g\"",
        "1000|500500");
  check("select x from generate_series(10, 1, -4) as t(x)",
        "SELECT \"x\" FROM (WITH RECURSIVE \"_gs\"(\"v\") AS (SELECT 10 UNION ALL SELECT (\"v\" + -4) FROM "
        "\"_gs\" WHERE (\"v\" + -4) >= 1) SELECT \"v\" AS \"x\" FROM \"_gs\") AS \"t\"",
        "10;6;2");
  /* pgbench's server-side data generation */
  sqlr_query *q = rw("insert into emp (id, dept, name) select aid, (aid - 1) / 2 + 1, '' "
                     "from generate_series(1, 5) as aid");
  cr_assert_eq(q->ninsert, 3);
  cr_assert_str_eq(run(q->sql, NULL, 0), "1|1|;2|1|;3|2|;4|2|;5|3|");
  sqlr_query_free(q);
}

Test(sql_rewrite, parameter_types) {
  struct { const char *sql; int n; uint32_t types[4]; } c[] = {
      {"select name from emp where id = $1 and hired > $2", 2, {CAT_OID_INT4, CAT_OID_DATE}},
      {"select $1::int8, $2", 2, {CAT_OID_INT8, 0}},
      {"select id from emp where $1 = name limit $2 offset $3", 3, {CAT_OID_TEXT, CAT_OID_INT8, CAT_OID_INT8}},
      {"select id from emp where dept in ($1, 3) or salary between $2 and 10", 2, {CAT_OID_INT4, CAT_OID_NUMERIC}},
      {"insert into emp values ($1, $2, default, $3)", 3, {CAT_OID_INT4, CAT_OID_TEXT, CAT_OID_NUMERIC}},
      {"insert into emp (active, id) values ($2, $1)", 2, {CAT_OID_INT4, CAT_OID_BOOL}},
      {"update emp set hired = $1 where id = $2", 2, {CAT_OID_DATE, CAT_OID_INT4}},
      {"insert into emp (id, name) values (1, 'a') on conflict (id) do update set salary = $1", 1,
       {CAT_OID_NUMERIC}},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    sqlr_query *q = rw(c[i].sql);
    cr_assert_eq(q->nparams, c[i].n, "%s", c[i].sql);
    for (int k = 0; k < c[i].n; k++)
      cr_assert_eq(q->param_types[k], c[i].types[k], "%s: $%d is %u", c[i].sql, k + 1, q->param_types[k]);
    sqlr_query_free(q);
  }
}

Test(sql_rewrite, non_dml_is_rejected) {
  sqlp_list *l;
  syn_err e;
  int pos;
  cr_assert_eq(sqlp_parse("begin", &l, &pos, &e), 0);
  sqlr_query *q;
  cr_assert_eq(sqlr_rewrite(&l->stmts[0], &catalog, &q, &pos, &e), SYN_EINVAL);
  sqlp_list_free(l);
  /* A statement that failed classification reports its own error. */
  cr_assert_eq(sqlp_parse("create view v as select 1", &l, &pos, &e), 0);
  cr_assert_eq(sqlr_rewrite(&l->stmts[0], &catalog, &q, &pos, &e), SYN_EUNSUPPORTED);
  sqlp_list_free(l);
}

Test(sql_rewrite, default_expressions) {
  sqlp_list *l;
  syn_err e;
  int pos;
  cr_assert_eq(sqlp_parse("create table d (a int primary key, b text default 'x' || 'y', "
                          "c timestamptz default current_timestamp, f float8 default -1.5, "
                          "g bool default false)", &l, &pos, &e), 0);
  const cat_table *t = l->stmts[0].table;
  cr_assert_str_eq(t->cols[1].def_sql, "('x' || 'y')");
  cr_assert_str_eq(t->cols[2].def_sql, ":now");
  cr_assert_str_eq(t->cols[3].def_sql, "('-1.5' COLLATE synnum)");
  cr_assert_str_eq(t->cols[4].def_sql, "0");
  sqlp_list_free(l);
}

/* Rewrite and run; rows as run() gives them. */
static const char *rows_of(const char *pg) {
  sqlr_query *q = rw(pg);
  static char keep[4096];
  snprintf(keep, sizeof keep, "%s", run(q->sql, NULL, 0));
  sqlr_query_free(q);
  return keep;
}

/* Rewrite and run a statement that must fail in SQLite with this message. */
static void run_err(const char *pg, const char *msg) {
  sqlr_query *q = rw(pg);
  sqlite3_stmt *st;
  cr_assert_eq(sqlite3_prepare_v2(db, q->sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
  }
  cr_assert_eq(rc, SQLITE_ERROR, "%s ran", pg);
  cr_assert_str_eq(sqlite3_errmsg(db), msg, "%s", pg);
  sqlite3_finalize(st);
  sqlr_query_free(q);
}

/* Numeric is exact and compares by value (synnum), as in PostgreSQL 15. */
Test(sql_rewrite, numeric_exact) {
  exec("INSERT INTO emp VALUES (5, 'e', 30, '10.00', NULL, 1, NULL), (6, 'f', 30, '9.50', NULL, 1, NULL),"
       "(7, 'g', 30, '10.0', NULL, 1, NULL)");
  cr_assert_str_eq(rows_of("select salary from emp where dept = 30 order by salary desc, id"),
                   "10.00;10.0;9.50");
  cr_assert_str_eq(rows_of("select count(distinct salary), max(salary), min(salary) from emp where dept = 30"),
                   "2|10.00|9.50");
  cr_assert_str_eq(rows_of("select id from emp where salary = 10 order by id"), "5;7");
  cr_assert_str_eq(rows_of("select id from emp where salary in (9.5, 4000.5) order by id"), "2;6");
  cr_assert_str_eq(rows_of("select id from emp where salary between 9 and 10 order by id"), "5;6;7");
  cr_assert_str_eq(rows_of("select salary, count(*) from emp where dept = 30 group by salary order by 1"),
                   "9.50|1;10.00|2");
  cr_assert_str_eq(rows_of("select 0.1 + 0.2, 1 / 3.0, 1.5 * 2.25, -salary, salary % 3 from emp where id = 6"),
                   "0.3|0.33333333333333333333|3.375|-9.50|0.50");
  cr_assert_str_eq(rows_of("select sum(salary), avg(salary) from emp where dept = 30"),
                   "29.50|9.8333333333333333");
  cr_assert_str_eq(rows_of("select round(salary, 1), trunc(salary), ceil(salary), floor(-salary), "
                           "sign(-salary), abs(-salary) from emp where id = 6"),
                   "9.5|9|10|-10|-1|9.50");
  cr_assert_str_eq(rows_of("select mod(7, 2), mod(7.5, 2), ceil(2), salary::float8 > 9.4 from emp where id = 6"),
                   "1|1.5|2.0|1");
  /* Integer arms of a numeric CASE/COALESCE/GREATEST become numeric, so
  ** they order by value rather than before every numeric text. */
  cr_assert_str_eq(rows_of("select coalesce(salary, 20) as c from emp order by c"),
                   "9.50;10.00;10.0;20;3000.00;4000.50;5000.00");
  cr_assert_str_eq(rows_of("select greatest(salary, 9.75, 2) as g from emp where dept = 30 order by g, id"),
                   "9.75;10.00;10.0");
  cr_assert_str_eq(rows_of("select case when id < 3 then salary else 100 end as c from emp order by c"),
                   "100;100;100;100;100;4000.50;5000.00");
  cr_assert_str_eq(rows_of("select 1.5 as x union select 10 order by x"), "1.5;10");
  cr_assert_str_eq(rows_of("select x from (select 2 as x union all select 1.5 union all select 10) s "
                           "order by x"),
                   "1.5;2;10");
  cr_assert_str_eq(rows_of("select * from (values (2), (1.5), (10)) v order by 1"), "1.5;2;10");
  run_err("select 1 / 0.0", "22012: division by zero");
  run_err("select name::numeric from emp where id = 1", "22P02: invalid input syntax for type numeric: \"Ann\"");
  run_err("select (salary * 1000)::numeric(6,2) from emp where id = 1",
          "22003: numeric field overflow\nDETAIL: A field with precision 6, scale 2 must round to an "
          "absolute value less than 10^4.");
  run_err("select (salary * 10)::int2 from emp where id = 1", "22003: smallint out of range");
}

/* ---- system catalogs (sql/pgcatalog.h, rewrite_pgcat.c) ---- */

/* Rewrite and run, comparing only the rows. */
static void rows(const char *pg, const char *want) {
  sqlr_query *q = rw(pg);
  const char *binds[8] = {0};
  if (q->now_param) binds[q->now_param - 1] = NOW;
  char *got = run(q->sql, binds, q->now_param ? q->now_param : q->nparams);
  cr_assert_str_eq(got, want, "%s\n  sql: %s", pg, q->sql);
  sqlr_query_free(q);
}

Test(sql_rewrite, pg_catalog_tables) {
  /* Qualified and unqualified (pg_catalog is first on the search path). */
  check("select relname from pg_catalog.pg_class where relname = 'emp'",
        "SELECT \"relname\" FROM \"pg_catalog\".\"pg_class\" WHERE (\"relname\" = 'emp')", "emp");
  rows("select c.relname, c.relkind, n.nspname from pg_class c join pg_namespace n on "
       "n.oid = c.relnamespace where n.nspname = 'public' order by 1",
       "dept|r|public;dept_pkey|i|public;emp|r|public;emp_pkey|i|public;h|r|public");
  /* Synthetic OIDs: 16384 + 256 * table id, indexes after it. */
  rows("select oid, relname from pg_class where oid = '16640'", "16640|emp");
  rows("select indexrelid, indrelid, indkey, indisprimary from pg_index", "16641|16640|1|1;16897|16896|1|1");
  cr_assert_eq(pgc_table_oid(tabs[0]), 16640);
  /* Column types are PostgreSQL's: oid 26, name 19, "char" 18. */
  sqlr_query *q = rw("select oid, relname, relkind, relnatts from pg_catalog.pg_class");
  cr_assert_eq(q->cols[0].type_oid, PGC_OID_OID);
  cr_assert_eq(q->cols[1].type_oid, PGC_OID_NAME);
  cr_assert_eq(q->cols[2].type_oid, PGC_OID_CHAR);
  cr_assert_eq(q->cols[3].type_oid, CAT_OID_INT2);
  sqlr_query_free(q);
  rows("select attname, atttypid, atttypmod, attnotnull, atthasdef from pg_attribute "
       "where attrelid = 16640 and attnum > 0 order by attnum",
       "id|23|-1|1|0;name|25|-1|1|0;dept|23|-1|0|0;salary|1700|655366|0|0;hired|1082|-1|0|0;"
       "active|16|-1|0|1;manager|23|-1|0|0");
  rows("select table_name, column_name, data_type, numeric_precision, numeric_scale from "
       "information_schema.columns where table_name = 'emp' and ordinal_position in (1, 4)",
       "emp|id|integer|32|0;emp|salary|numeric|10|2");
  rows("select table_name from information_schema.tables where table_schema = 'public' "
       "order by 1", "dept;emp;h");
  /* The session's identity. */
  rows("select current_user, session_user, current_database(), current_schema()",
       "alice|alice|shop|public");
  rw_err("select * from pg_catalog.pg_nosuch", "42P01", 15);
  rw_err("select * from information_schema.emp", "42P01", 15);
  /* An unqualified information_schema name is a user table (not on the path). */
  rw_err("select * from columns", "42P01", 15);
}

Test(sql_rewrite, pg_catalog_operators) {
  check("select relname from pg_class where relname ~ '^(emp)$'",
        "SELECT \"relname\" FROM \"pg_catalog\".\"pg_class\" WHERE (syn_regex(\"relname\", "
        "'^(emp)$', 0))", "emp");
  check("select 'Abc' ~* 'abc', 'abc' !~ 'b', 'x' OPERATOR(pg_catalog.~) '^(x)$' COLLATE "
        "pg_catalog.default, 'x' !~* 'X'",
        "SELECT (syn_regex('Abc', 'abc', 1)) AS \"?column?\", (NOT syn_regex('abc', 'b', 0)) AS "
        "\"?column?\", (syn_regex('x', ('^(x)$'), 0)) AS \"?column?\", (NOT syn_regex('x', 'X', 1)) "
        "AS \"?column?\"", "1|0|1|0");
  /* A bad pattern is 2201B at run time. */
  sqlr_query *q = rw("select 'a' ~ '('");
  sqlite3_stmt *st;
  cr_assert_eq(sqlite3_prepare_v2(db, q->sql, -1, &st, NULL), SQLITE_OK);
  cr_assert_eq(sqlite3_step(st), SQLITE_ERROR);
  cr_assert_str_eq(sqlite3_errmsg(db), "2201B: invalid regular expression: parentheses () not balanced");
  sqlite3_finalize(st);
  sqlr_query_free(q);
  rw_err("select 'a' collate \"de_DE\"", "42704", 12);
  /* = ANY / <> ALL over arrays in text form, and ARRAY[...] lists. */
  rows("select 'd' = any('{d,f}'), 'x' = any('{d,f}'), 'x' <> all('{d,f}'), 2 = any(array[1, 2])",
       "1|0|1|1");
  rw_err("select 1 < any('{1,2}')", "0A000", -1);
  /* ARRAY(subquery), subscripts (int2vector counts from 0), unnest. */
  rows("select array(select relname from pg_class where relname like 'e%' order by 1), "
       "array(select relname from pg_class where false)", "{emp,emp_pkey}|{}");
  rows("select indkey[0], ('{7,8}'::int2[])[2] from pg_index where indrelid = 16640", "1|8");
  rows("select string_agg(x, ',') from unnest('{a,\"b c\",d}'::text[]) x", "a,b c,d");
}

Test(sql_rewrite, pg_catalog_functions_and_casts) {
  rows("select pg_catalog.format_type(atttypid, atttypmod) from pg_attribute where attrelid = "
       "16640 and attnum in (4, 5) order by attnum", "numeric(10,2);date");
  rows("select format_type(1043, 24), format_type(18, null), format_type(9999, null)",
       "character varying(20)|\"char\"|???");
  rows("select pg_get_indexdef(indexrelid), pg_get_indexdef(indexrelid, 1, true) from pg_index "
       "where indrelid = 16640", "CREATE UNIQUE INDEX emp_pkey ON public.emp USING btree (id)|id");
  rows("select conname, pg_get_constraintdef(oid, true) from pg_constraint order by 1",
       "dept_pkey|PRIMARY KEY (id);emp_pkey|PRIMARY KEY (id)");
  /* The argument's oid is the outer row's, not the subquery's. */
  rows("select c.relname, pg_catalog.pg_get_userbyid(c.relowner), "
       "pg_catalog.pg_table_is_visible(oid) from pg_class c where oid = 16896", "dept|alice|1");
  rows("select pg_get_userbyid(12345)", "unknown (OID=12345)");
  rows("select pg_table_is_visible(c.oid) from pg_class c where relname = 'columns'", "0");
  rows("select oid::regclass, 16640::regclass::text, 99::regclass, 'emp'::regclass, "
       "2200::regnamespace, 1700::regtype, '26'::oid, relname::name from pg_class where "
       "relname = 'dept'", "dept|emp|99|16640|public|numeric|26|dept");
  rows("select quote_ident('Mixed Case'), quote_ident('ok_1'), "
       "array_to_string('{a,NULL,\"b,c\"}'::text[], '/'), array_upper('{x,y,z}'::text[], 1)",
       "\"Mixed Case\"|ok_1|a/b,c|3");
  rows("select pg_encoding_to_char(6), pg_relation_is_publishable(16640), "
       "obj_description(16640, 'pg_class')", "UTF8|0|NULL");
  rw_err("select pg_get_userbyid()", "42883", 8);
}

Test(sql_rewrite, pg_catalog_errors_at_run_time) {
  const char *cases[][2] = {
      {"select 'nosuch'::regclass", "42P01: relation \"nosuch\" does not exist"},
      {"select 'a' ~ '[[:nope:]]'", "2201B: invalid regular expression: invalid character class"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    sqlr_query *q = rw(cases[i][0]);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, q->sql, -1, &st, NULL), SQLITE_OK, "%s", q->sql);
    cr_assert_eq(sqlite3_step(st), SQLITE_ERROR, "%s", cases[i][0]);
    cr_assert_str_eq(sqlite3_errmsg(db), cases[i][1]);
    sqlite3_finalize(st);
    sqlr_query_free(q);
  }
  /* The error branch is not evaluated when the relation exists. */
  rows("select 'emp'::regclass, 'dept'::regclass", "16640|16896");
}

Test(sql_rewrite, pg_catalog_not_in_defaults) {
  sqlp_list *l;
  syn_err e;
  int pos;
  cr_assert_eq(sqlp_parse("create table x (a int, u text default current_user)", &l, &pos, &e), 0);
  cr_assert_neq(l->stmts[0].status, 0);
  char st[6];
  sqlst_split(&l->stmts[0].err, st, NULL);
  cr_assert_str_eq(st, "0A000", "%s", l->stmts[0].err.msg);
  sqlp_list_free(l);
}
