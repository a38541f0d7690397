/* Statement parsing and classification, syntax error positions, DDL into
** catalog structs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "sql/parse.h"
#include "sql/sqlstate.h"

static sqlp_list *parse_ok(const char *sql) {
  sqlp_list *l = NULL;
  syn_err e;
  int pos = -1;
  int rc = sqlp_parse(sql, &l, &pos, &e);
  cr_assert_eq(rc, 0, "%s: %s", sql, e.msg);
  cr_assert_eq(pos, 0);
  return l;
}

/* One statement, no per-statement error. */
static sqlp_list *one(const char *sql, sqlp_kind kind) {
  sqlp_list *l = parse_ok(sql);
  cr_assert_eq(l->n, 1, "%s", sql);
  cr_assert_eq(l->stmts[0].kind, kind, "%s: got %s", sql, sqlp_kind_name(l->stmts[0].kind));
  cr_assert_eq(l->stmts[0].status, 0, "%s: %s", sql, l->stmts[0].err.msg);
  return l;
}

static const char *stmt_state(const sqlp_stmt *st) {
  static char s[6];
  sqlst_split(&st->err, s, NULL);
  return s;
}

/* One statement that fails with this SQLSTATE when executed. */
static void one_err(const char *sql, const char *state) {
  sqlp_list *l = parse_ok(sql);
  cr_assert_eq(l->n, 1);
  cr_assert_neq(l->stmts[0].status, 0, "%s should fail", sql);
  cr_assert_str_eq(stmt_state(&l->stmts[0]), state, "%s: %s", sql, l->stmts[0].err.msg);
  sqlp_list_free(l);
}

Test(sql_parse, dml_kinds) {
  struct { const char *sql; sqlp_kind k; } c[] = {
      {"SELECT 1", SQLP_SELECT},
      {"select * from t where a = $1", SQLP_SELECT},
      {"VALUES (1), (2)", SQLP_SELECT},
      {"with x as (select 1) select * from x", SQLP_SELECT},
      {"INSERT INTO t VALUES (1)", SQLP_INSERT},
      {"insert into t (a) select 1 returning *", SQLP_INSERT},
      {"UPDATE t SET a = 1", SQLP_UPDATE},
      {"DELETE FROM t WHERE a = 1", SQLP_DELETE},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) sqlp_list_free(one(c[i].sql, c[i].k));
}

Test(sql_parse, transaction_control) {
  sqlp_list *l = one("BEGIN", SQLP_BEGIN);
  cr_assert_eq(l->stmts[0].iso, SQLP_ISO_DEFAULT);
  cr_assert_str_eq(sqlp_command_tag(&l->stmts[0]), "BEGIN");
  sqlp_list_free(l);
  l = one("START TRANSACTION ISOLATION LEVEL REPEATABLE READ", SQLP_BEGIN);
  cr_assert_eq(l->stmts[0].iso, SQLP_ISO_REPEATABLE_READ);
  sqlp_list_free(l);
  l = one("begin transaction isolation level serializable, read only", SQLP_BEGIN);
  cr_assert_eq(l->stmts[0].iso, SQLP_ISO_SERIALIZABLE);
  cr_assert(l->stmts[0].read_only_set && l->stmts[0].read_only);
  sqlp_list_free(l);
  l = one("BEGIN ISOLATION LEVEL READ COMMITTED", SQLP_BEGIN);
  cr_assert_eq(l->stmts[0].iso, SQLP_ISO_READ_COMMITTED);
  sqlp_list_free(l);
  sqlp_list_free(one("COMMIT", SQLP_COMMIT));
  sqlp_list_free(one("END", SQLP_COMMIT));
  sqlp_list_free(one("commit work", SQLP_COMMIT));
  sqlp_list_free(one("ROLLBACK", SQLP_ROLLBACK));
  sqlp_list_free(one("ABORT", SQLP_ROLLBACK));
  one_err("SAVEPOINT s1", "0A000");
  one_err("ROLLBACK TO SAVEPOINT s1", "0A000");
  one_err("PREPARE TRANSACTION 'x'", "0A000");
}

Test(sql_parse, set_and_show) {
  sqlp_list *l = one("SET search_path TO public", SQLP_SET);
  cr_assert_str_eq(l->stmts[0].name, "search_path");
  cr_assert_str_eq(l->stmts[0].value, "public");
  sqlp_list_free(l);
  l = one("set local statement_timeout = 5000", SQLP_SET);
  cr_assert_str_eq(l->stmts[0].name, "statement_timeout");
  cr_assert_str_eq(l->stmts[0].value, "5000");
  cr_assert(l->stmts[0].is_local);
  sqlp_list_free(l);
  l = one("SET client_encoding = 'UTF8'", SQLP_SET);
  cr_assert_str_eq(l->stmts[0].value, "UTF8");
  sqlp_list_free(l);
  l = one("SET extra_float_digits TO DEFAULT", SQLP_SET);
  cr_assert_null(l->stmts[0].value);
  sqlp_list_free(l);
  l = one("RESET ALL", SQLP_SET);
  cr_assert_str_eq(l->stmts[0].name, "all");
  sqlp_list_free(l);
  l = one("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", SQLP_SET);
  cr_assert_str_eq(l->stmts[0].name, "transaction_isolation");
  cr_assert_str_eq(l->stmts[0].value, "repeatable read");
  cr_assert_eq(l->stmts[0].iso, SQLP_ISO_REPEATABLE_READ);
  sqlp_list_free(l);
  l = one("SHOW transaction_isolation", SQLP_SHOW);
  cr_assert_str_eq(l->stmts[0].name, "transaction_isolation");
  sqlp_list_free(l);
  l = one("SHOW ALL", SQLP_SHOW);
  cr_assert_str_eq(l->stmts[0].name, "all");
  sqlp_list_free(l);
}

Test(sql_parse, command_tags) {
  struct { const char *sql; const char *tag; } c[] = {
      {"begin", "BEGIN"}, {"commit", "COMMIT"}, {"abort", "ROLLBACK"}, {"set x = 1", "SET"},
      {"show x", "SHOW"}, {"truncate t", "TRUNCATE TABLE"}, {"drop table t", "DROP TABLE"},
      {"drop index i", "DROP INDEX"}, {"create index on t (a)", "CREATE INDEX"},
      {"alter table t drop column a", "ALTER TABLE"}, {"create table t (a int primary key)", "CREATE TABLE"},
      {"select 1", NULL}, {"insert into t values (1)", NULL}, {"update t set a = 1", NULL},
      {"delete from t", NULL},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    sqlp_list *l = parse_ok(c[i].sql);
    const char *tag = sqlp_command_tag(&l->stmts[0]);
    if (c[i].tag) cr_assert_str_eq(tag, c[i].tag, "%s", c[i].sql);
    else cr_assert_null(tag, "%s", c[i].sql);
    sqlp_list_free(l);
  }
}

Test(sql_parse, unsupported_statements) {
  struct { const char *sql; const char *feature; } c[] = {
      {"COPY t FROM STDIN WHERE a > 1", "COPY FROM ... WHERE"},
      {"CREATE VIEW v AS SELECT 1", "CREATE VIEW"},
      {"EXPLAIN SELECT 1", "EXPLAIN"},
      {"CREATE SEQUENCE s", "CREATE SEQUENCE"},
      {"SELECT 1 INTO t2", "SELECT INTO"},
      {"LISTEN x", "LISTEN"},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    sqlp_list *l = parse_ok(c[i].sql);
    cr_assert_neq(l->stmts[0].status, 0);
    cr_assert_str_eq(stmt_state(&l->stmts[0]), "0A000");
    cr_assert_str_eq(l->stmts[0].feature, c[i].feature);
    cr_assert(strstr(l->stmts[0].err.msg, "is not supported"), "%s", l->stmts[0].err.msg);
    sqlp_list_free(l);
  }
}

Test(sql_parse, syntax_errors) {
  struct { const char *sql; int pos; } c[] = {
      {"select from where", 13},
      {"SELEC 1", 1},
      {"select 1; selec 2", 11},
      {"select 'unterminated", 8},
      {"insert into t values (1", 24},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    sqlp_list *l = NULL;
    syn_err e;
    int pos = 0;
    cr_assert_neq(sqlp_parse(c[i].sql, &l, &pos, &e), 0);
    cr_assert_null(l);
    char st[6];
    const char *msg;
    sqlst_split(&e, st, &msg);
    cr_assert_str_eq(st, "42601", "%s", c[i].sql);
    cr_assert_eq(pos, c[i].pos, "%s: pos %d (%s)", c[i].sql, pos, msg);
    cr_assert(strstr(msg, "syntax error") || strstr(msg, "unterminated"), "%s", msg);
  }
}

Test(sql_parse, multi_statement_offsets) {
  const char *sql = "BEGIN; INSERT INTO t VALUES (1);\n  SELECT 2;COMMIT";
  sqlp_list *l = parse_ok(sql);
  cr_assert_eq(l->n, 4);
  const char *texts[] = {"BEGIN", "INSERT INTO t VALUES (1)", "SELECT 2", "COMMIT"};
  for (int i = 0; i < 4; i++) {
    cr_assert_eq((size_t)l->stmts[i].length, strlen(texts[i]), "stmt %d", i);
    cr_assert(strncmp(sql + l->stmts[i].location, texts[i], strlen(texts[i])) == 0, "stmt %d", i);
  }
  sqlp_list_free(l);
  l = parse_ok("  -- only a comment\n");
  cr_assert_eq(l->n, 0);
  sqlp_list_free(l);
  l = parse_ok("");
  cr_assert_eq(l->n, 0);
  sqlp_list_free(l);
}

Test(sql_parse, create_table_basic) {
  sqlp_list *l = one("CREATE TABLE accounts (id int PRIMARY KEY, owner varchar(40) NOT NULL, "
                     "balance numeric(12,2) DEFAULT 0, active boolean DEFAULT true, "
                     "opened timestamptz DEFAULT now(), note text, raw bytea, "
                     "d date, ts timestamp, c char(3), f real, g double precision, "
                     "s smallint, b bigint)",
                     SQLP_CREATE_TABLE);
  const cat_table *t = l->stmts[0].table;
  cr_assert_str_eq(t->name, "accounts");
  cr_assert_eq(t->ncols, 14);
  uint32_t oids[] = {23, 1043, 1700, 16, 1184, 25, 17, 1082, 1114, 1042, 700, 701, 21, 20};
  for (int i = 0; i < 14; i++) {
    cr_assert_eq(t->cols[i].type_oid, oids[i], "col %d", i);
    cr_assert_eq(t->cols[i].position, i + 1);
  }
  cr_assert_eq(t->cols[1].typmod, 44);
  cr_assert_eq(t->cols[2].typmod, ((12 << 16) | 2) + 4);
  cr_assert_eq(t->cols[9].typmod, 7);
  cr_assert(t->cols[0].not_null, "primary key implies NOT NULL");
  cr_assert(t->cols[1].not_null);
  cr_assert_not(t->cols[5].not_null);
  cr_assert_eq(t->cols[2].def_kind, CAT_DEF_EXPR);
  cr_assert_str_eq(t->cols[2].def_sql, "0");
  cr_assert_str_eq(t->cols[3].def_sql, "1");
  cr_assert_str_eq(t->cols[4].def_sql, ":now");
  cr_assert_eq(t->cols[5].def_kind, CAT_DEF_NONE);
  cr_assert_eq(t->npk, 1);
  cr_assert_eq(t->pk[0], 0);
  cr_assert_eq(t->dist_col, 0);
  cr_assert_not(t->hidden_rowid);
  cr_assert_str_eq(sqlp_command_tag(&l->stmts[0]), "CREATE TABLE");
  sqlp_list_free(l);
}

Test(sql_parse, create_table_keys) {
  sqlp_list *l = one("create table if not exists o (region text, id bigserial, item text, "
                     "primary key (region, id), unique (region, item))",
                     SQLP_CREATE_TABLE);
  const cat_table *t = l->stmts[0].table;
  cr_assert(l->stmts[0].if_not_exists);
  cr_assert_eq(t->npk, 2);
  cr_assert_eq(t->pk[0], 0);
  cr_assert_eq(t->pk[1], 1);
  cr_assert_eq(t->dist_col, 0, "first primary-key column");
  cr_assert_eq(t->cols[1].def_kind, CAT_DEF_SERIAL);
  cr_assert_str_eq(t->cols[1].def_sql, "o_id_seq");
  cr_assert_eq(t->cols[1].type_oid, CAT_OID_INT8);
  cr_assert(t->cols[1].not_null);
  cr_assert_eq(t->nuniques, 1);
  cr_assert_str_eq(t->uniques[0].name, "o_region_item_key");
  cr_assert_eq(t->uniques[0].ncols, 2);
  sqlp_list_free(l);

  l = one("create table p (a int, b int, primary key (a, b)) with (distribution_key = 'b')",
          SQLP_CREATE_TABLE);
  cr_assert_eq(l->stmts[0].table->dist_col, 1);
  sqlp_list_free(l);

  /* pgbench's DDL: storage parameters are accepted and have no effect. */
  l = one("create table pgbench_tellers(tid int not null,bid int,tbalance int,filler char(84)) "
          "with (fillfactor=100)", SQLP_CREATE_TABLE);
  cr_assert_eq(l->stmts[0].table->cols[3].typmod, 88);
  sqlp_list_free(l);

  l = one("create table h (x text, y int)", SQLP_CREATE_TABLE);
  cr_assert(l->stmts[0].table->hidden_rowid);
  cr_assert_eq(l->stmts[0].table->npk, 0);
  cr_assert_eq(l->stmts[0].table->dist_col, -1);
  sqlp_list_free(l);

  l = one("create table h2 (x text, y int unique) with (distribution_key = y)", SQLP_CREATE_TABLE);
  cr_assert_eq(l->stmts[0].table->dist_col, 1);
  cr_assert_eq(l->stmts[0].table->nuniques, 1);
  cr_assert_str_eq(l->stmts[0].table->uniques[0].name, "h2_y_key");
  sqlp_list_free(l);

  l = one("create table s (id serial primary key, email text, constraint email_uq unique (id, email))",
          SQLP_CREATE_TABLE);
  cr_assert_eq(l->stmts[0].table->cols[0].type_oid, CAT_OID_INT4);
  cr_assert_str_eq(l->stmts[0].table->uniques[0].name, "email_uq");
  sqlp_list_free(l);
}

Test(sql_parse, create_table_errors) {
  /* A unique key without the distribution column cannot be checked on one shard. */
  sqlp_list *l = parse_ok("create table u (id int primary key, email text unique)");
  cr_assert_str_eq(stmt_state(&l->stmts[0]), "0A000");
  cr_assert(strstr(l->stmts[0].err.msg, "distribution column \"id\""), "%s", l->stmts[0].err.msg);
  cr_assert_gt(l->stmts[0].err_pos, 0);
  sqlp_list_free(l);
  one_err("create table u (a int, b int, primary key (a)) with (distribution_key = 'b')", "0A000");
  one_err("create table u (a text unique)", "0A000");
  one_err("create table u (a int primary key, b int primary key)", "42P16");
  one_err("create table u (a int primary key, primary key (a))", "42P16");
  one_err("create table u (a int, primary key (nope))", "42703");
  one_err("create table u (a int primary key) with (distribution_key = 'zz')", "42703");
  one_err("create table u (a int primary key) with (colour = 50)", "22023");
  one_err("create table u (a jsonb)", "42704");
  one_err("create table u (a int[])", "0A000");
  one_err("create table u (a int check (a > 0))", "0A000");
  one_err("create table u (a int references v (b))", "0A000");
  one_err("create table u (a int, a text)", "42701");
  one_err("create temp table u (a int)", "0A000");
  one_err("create table u (a serial default 5)", "42601");
  one_err("create table u (a int default (select 1))", "0A000");
  one_err("create table u (a int default b)", "0A000");
  one_err("create table u (a varchar(0))", "22023");
  one_err("create table u (a numeric(3, 5))", "22023");
}

Test(sql_parse, other_ddl) {
  sqlp_list *l = one("CREATE UNIQUE INDEX IF NOT EXISTS byname ON accounts (owner, id)", SQLP_CREATE_INDEX);
  const sqlp_stmt *st = &l->stmts[0];
  cr_assert_str_eq(st->rel, "accounts");
  cr_assert_str_eq(st->name, "byname");
  cr_assert(st->unique && st->if_not_exists);
  cr_assert_eq(st->nnames, 2);
  cr_assert_str_eq(st->names[0], "owner");
  sqlp_list_free(l);
  l = one("create index on accounts (owner)", SQLP_CREATE_INDEX);
  cr_assert_str_eq(l->stmts[0].name, "accounts_owner_idx");
  sqlp_list_free(l);
  one_err("create index on accounts (lower(owner))", "0A000");
  one_err("create index on accounts (owner) where id > 0", "0A000");

  l = one("DROP TABLE IF EXISTS a, public.b CASCADE", SQLP_DROP_TABLE);
  st = &l->stmts[0];
  cr_assert(st->if_exists && st->cascade);
  cr_assert_eq(st->nnames, 2);
  cr_assert_str_eq(st->names[1], "b");
  sqlp_list_free(l);
  l = one("drop index byname", SQLP_DROP_INDEX);
  cr_assert_str_eq(l->stmts[0].names[0], "byname");
  cr_assert_not(l->stmts[0].if_exists);
  sqlp_list_free(l);
  one_err("drop view v", "0A000");
  one_err("drop table other.t", "0A000");

  l = one("TRUNCATE a, b", SQLP_TRUNCATE);
  cr_assert_eq(l->stmts[0].nnames, 2);
  cr_assert_str_eq(sqlp_command_tag(&l->stmts[0]), "TRUNCATE TABLE");
  sqlp_list_free(l);
}

Test(sql_parse, alter_table) {
  sqlp_list *l = one("ALTER TABLE accounts ADD COLUMN IF NOT EXISTS email varchar(80) NOT NULL DEFAULT ''",
                     SQLP_ALTER_TABLE);
  const sqlp_stmt *st = &l->stmts[0];
  cr_assert_eq(st->alter, SQLP_ALTER_ADD_COLUMN);
  cr_assert_str_eq(st->rel, "accounts");
  cr_assert(st->if_not_exists);
  cr_assert_eq(st->table->ncols, 1);
  cr_assert_str_eq(st->table->cols[0].name, "email");
  cr_assert_eq(st->table->cols[0].typmod, 84);
  cr_assert(st->table->cols[0].not_null);
  cr_assert_str_eq(st->table->cols[0].def_sql, "''");
  sqlp_list_free(l);
  l = one("alter table accounts drop column if exists email", SQLP_ALTER_TABLE);
  cr_assert_eq(l->stmts[0].alter, SQLP_ALTER_DROP_COLUMN);
  cr_assert_str_eq(l->stmts[0].name, "email");
  cr_assert(l->stmts[0].if_exists);
  sqlp_list_free(l);
  l = one("alter table accounts rename column owner to holder", SQLP_ALTER_TABLE);
  cr_assert_eq(l->stmts[0].alter, SQLP_ALTER_RENAME_COLUMN);
  cr_assert_str_eq(l->stmts[0].name, "owner");
  cr_assert_str_eq(l->stmts[0].value, "holder");
  sqlp_list_free(l);
  l = one("alter table h add primary key (x, y)", SQLP_ALTER_TABLE);
  cr_assert_eq(l->stmts[0].alter, SQLP_ALTER_ADD_PRIMARY_KEY);
  cr_assert_eq(l->stmts[0].nnames, 2);
  cr_assert_str_eq(l->stmts[0].names[1], "y");
  sqlp_list_free(l);
  one_err("alter table a add column b int, add column c int", "0A000");
  one_err("alter table a alter column b type text", "0A000");
  one_err("alter table a rename to b", "0A000");
  one_err("alter table a add constraint k unique (b)", "0A000");
}

Test(sql_parse, prepare_execute_deallocate) {
  sqlp_list *l = one("PREPARE p (int, text) AS select $1, $2", SQLP_PREPARE);
  cr_assert_str_eq(l->stmts[0].name, "p");
  cr_assert_str_eq(l->stmts[0].value, "select $1, $2");
  cr_assert_eq(l->stmts[0].ntypes, 2);
  cr_assert_eq(l->stmts[0].types[0], CAT_OID_INT4);
  cr_assert_eq(l->stmts[0].types[1], CAT_OID_TEXT);
  sqlp_list_free(l);
  /* Quoted names, comments and parentheses in the types do not confuse
  ** where the statement starts; the second statement stays separate. */
  l = parse_ok("prepare \"q (x)\" /* c */ (numeric(10, 2)) -- c\n as insert into t values ($1); select 1");
  cr_assert_eq(l->n, 2);
  cr_assert_eq(l->stmts[0].kind, SQLP_PREPARE);
  cr_assert_str_eq(l->stmts[0].name, "q (x)");
  cr_assert_str_eq(l->stmts[0].value, "insert into t values ($1)");
  cr_assert_eq(l->stmts[0].types[0], CAT_OID_NUMERIC);
  sqlp_list_free(l);
  one_err("prepare p (nosuchtype) as select $1", "42704");
  l = one("execute p (1, 'a')", SQLP_EXECUTE);
  cr_assert_str_eq(l->stmts[0].name, "p");
  cr_assert_null(sqlp_command_tag(&l->stmts[0]));
  sqlp_list_free(l);
  l = one("deallocate prepare p", SQLP_DEALLOCATE);
  cr_assert_str_eq(sqlp_command_tag(&l->stmts[0]), "DEALLOCATE");
  sqlp_list_free(l);
  l = one("deallocate all", SQLP_DEALLOCATE);
  cr_assert_null(l->stmts[0].name);
  cr_assert_str_eq(sqlp_command_tag(&l->stmts[0]), "DEALLOCATE ALL");
  sqlp_list_free(l);
}

Test(sql_parse, copy_statements) {
  sqlp_list *l = parse_ok("COPY t (a, b) FROM STDIN WITH (FORMAT csv, HEADER match, NULL 'NA')");
  const sqlp_stmt *st = &l->stmts[0];
  cr_assert_eq(st->kind, SQLP_COPY);
  cr_assert_eq(st->status, 0, "%s", st->err.msg);
  cr_assert_str_eq(st->rel, "t");
  cr_assert_eq(st->nnames, 2);
  cr_assert_str_eq(st->names[1], "b");
  cr_assert(st->copy->is_from);
  cr_assert_eq(st->copy->format, CPY_CSV);
  cr_assert_eq(st->copy->header, CPY_HEADER_MATCH);
  cr_assert_str_eq(st->copy->null_str, "NA");
  cr_assert_null(sqlp_command_tag(st));
  sqlp_list_free(l);
  /* legacy syntax */
  l = parse_ok("copy t to stdout with csv header delimiter '|'");
  st = &l->stmts[0];
  cr_assert_eq(st->status, 0, "%s", st->err.msg);
  cr_assert(!st->copy->is_from);
  cr_assert_eq(st->copy->delim, '|');
  cr_assert_eq(st->copy->header, CPY_HEADER_TRUE);
  sqlp_list_free(l);
  l = parse_ok("copy (select 1) to stdout");
  cr_assert_not_null(l->stmts[0].copy_query);
  cr_assert_null(l->stmts[0].rel);
  sqlp_list_free(l);
  /* server files and programs: 0A000 naming them */
  const char *refused[] = {"copy t from '/etc/passwd'", "copy t to '/tmp/x'",
                           "copy t from program 'cat'", "copy t to program 'cat'"};
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    l = parse_ok(refused[i]);
    cr_assert_str_eq(stmt_state(&l->stmts[0]), "0A000", "%s", refused[i]);
    cr_assert(strstr(l->stmts[0].err.msg, i < 2 ? "a file" : "PROGRAM"), "%s", l->stmts[0].err.msg);
    sqlp_list_free(l);
  }
  l = parse_ok("copy t from stdin with (format csv, format text)");
  cr_assert_str_eq(stmt_state(&l->stmts[0]), "42601");
  cr_assert_gt(l->stmts[0].err_pos, 0);
  sqlp_list_free(l);
}
