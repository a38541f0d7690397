/* CREATE/ALTER/DROP ROLE through the engine's session API over the local
** test cluster (tests/engine_local_cluster.c): errors and notices as
** PostgreSQL 15, stored secrets (never plaintext), pg_roles. Output lines:
**   T tag | E sqlstate message | N sqlstate message | R a|b */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sql/catalog.h"
#include "sql/engine/eng.h"
#include "sql/pgwire/pgw_auth.h"
#include "tests/engine_local_cluster.h"

static char dir[64];
static cl_cluster *cl;
static cat_buf outb;

static void setup(void) {
  strcpy(dir, "/tmp/test_engroles_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  syn_err e;
  cr_assert_eq(lc_open(dir, &cl, &e), 0, "%s", e.msg);
}

static void teardown(void) {
  cat_buf_free(&outb);
  lc_close(cl);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(roles, .init = setup, .fini = teardown, .timeout = 60);

static int k_columns(void *ud, int n, const eng_col *c) { return 0; }
static int k_row(void *ud, int n, const eng_cell *c) {
  cat_buf_printf(&outb, "R ");
  for (int i = 0; i < n; i++)
    cat_buf_printf(&outb, "%s%.*s", i ? "|" : "", c[i].p ? (int)c[i].n : 4, c[i].p ? c[i].p : "NULL");
  return cat_buf_printf(&outb, "\n");
}
static int k_complete(void *ud, const char *tag) { return cat_buf_printf(&outb, "T %s\n", tag); }
static int k_empty(void *ud) { return 0; }
static int k_error(void *ud, const eng_msg *m) {
  return cat_buf_printf(&outb, "E %s %s\n", m->sqlstate, m->message);
}
static int k_notice(void *ud, const eng_msg *m) {
  return cat_buf_printf(&outb, "N %s %s\n", m->sqlstate, m->message);
}
static int k_param(void *ud, const char *n, const char *v) { return 0; }

static const char *run(eng_session *s, const char *sql) {
  cat_buf_free(&outb);
  memset(&outb, 0, sizeof outb);
  cat_buf_append(&outb, "", 0);
  eng_out out = {.columns = k_columns, .row = k_row, .complete = k_complete, .empty = k_empty,
                 .error = k_error, .notice = k_notice, .param_status = k_param};
  eng_session_query(s, sql, &out);
  return outb.p;
}

#define EXPECT(s, sql, want)                                                       \
  do {                                                                             \
    const char *got_ = run(s, sql);                                                \
    cr_assert_str_eq(got_, want, "%s\n--- got:\n%s--- want:\n%s", sql, got_, want); \
  } while (0)

static eng_session *session_as(const char *user) {
  eng_session *s;
  syn_err e;
  cr_assert_eq(eng_session_new(cl, NULL, &s, &e), 0, "%s", e.msg);
  cr_assert_eq(eng_session_set_identity(s, user, "postgres", 1, &e), 0);
  return s;
}

static cl_role *role(const char *name) {
  cl_role *r = NULL;
  cr_assert_eq(cl_role_get(cl, name, &r, NULL), 0, "role %s", name);
  return r;
}

Test(roles, create_stores_a_scram_secret) {
  eng_session *s = session_as("postgres");
  EXPECT(s, "CREATE ROLE alice LOGIN PASSWORD 'secret'", "T CREATE ROLE\n");
  cl_role *r = role("alice");
  cr_assert(r->login && !r->superuser);
  cr_assert_eq(pgw_secret_kind_of(r->secret), PGW_SECRET_SCRAM, "%s", r->secret);
  cr_assert(strstr(r->secret, "secret") == NULL);
  cr_assert(strncmp(r->secret, "SCRAM-SHA-256$4096:", 19) == 0);
  cr_assert(pgw_password_matches(r->secret, "alice", "secret"));
  pgw_scram_verifier v;
  cr_assert_eq(pgw_scram_parse(r->secret, &v, NULL), 0);
  cr_assert_eq(v.salt_len, 16);
  cl_role_free(r);
  /* Two roles with one password get different salts. */
  EXPECT(s, "CREATE USER bob WITH ENCRYPTED PASSWORD 'secret'", "T CREATE ROLE\n");
  cl_role *a = role("alice"), *b = role("bob");
  cr_assert(b->login, "CREATE USER means LOGIN");
  cr_assert_str_neq(a->secret, b->secret);
  cl_role_free(a);
  cl_role_free(b);
  eng_session_free(s);
}

Test(roles, hashed_passwords_are_kept_and_options_apply) {
  eng_session *s = session_as("postgres");
  const char *md5 = "md5f4b1e5a2d6e0a36b0b1d1b0a7f2f5b1a";
  char sql[200];
  snprintf(sql, sizeof sql, "CREATE ROLE carol SUPERUSER LOGIN PASSWORD '%s'", md5);
  EXPECT(s, sql, "T CREATE ROLE\n");
  cl_role *r = role("carol");
  cr_assert_str_eq(r->secret, md5);
  cr_assert(r->superuser && r->login);
  cl_role_free(r);
  EXPECT(s, "ALTER ROLE carol NOSUPERUSER NOLOGIN PASSWORD NULL", "T ALTER ROLE\n");
  r = role("carol");
  cr_assert(!r->superuser && !r->login && !r->secret);
  cl_role_free(r);
  EXPECT(s, "ALTER ROLE carol WITH PASSWORD ''",
         "N 00000 empty string is not a valid password, clearing password\nT ALTER ROLE\n");
  EXPECT(s, "CREATE ROLE dan", "T CREATE ROLE\n");
  r = role("dan");
  cr_assert(!r->login && !r->secret, "CREATE ROLE means NOLOGIN");
  cl_role_free(r);
  eng_session_free(s);
}

Test(roles, errors_as_postgresql) {
  eng_session *s = session_as("postgres");
  run(s, "CREATE ROLE alice");
  EXPECT(s, "CREATE ROLE alice", "E 42710 role \"alice\" already exists\n");
  EXPECT(s, "ALTER ROLE nosuch LOGIN", "E 42704 role \"nosuch\" does not exist\n");
  EXPECT(s, "DROP ROLE nosuch", "E 42704 role \"nosuch\" does not exist\n");
  EXPECT(s, "DROP ROLE alice, nosuch", "E 42704 role \"nosuch\" does not exist\n");
  cl_role_free(role("alice")); /* nothing dropped */
  EXPECT(s, "DROP ROLE IF EXISTS nosuch, alice",
         "N 00000 role \"nosuch\" does not exist, skipping\nT DROP ROLE\n");
  cr_assert_eq(cl_role_get(cl, "alice", &(cl_role *){NULL}, NULL), SYN_ENOTFOUND);
  EXPECT(s, "CREATE ROLE x CREATEDB", "E 0A000 role option CREATEDB is not supported\n");
  EXPECT(s, "CREATE ROLE x CONNECTION LIMIT 3",
         "E 0A000 role option CONNECTION LIMIT is not supported\n");
  EXPECT(s, "CREATE ROLE x LOGIN NOLOGIN", "E 42601 conflicting or redundant options\n");
  EXPECT(s, "CREATE ROLE pg_x", "E 42939 role name \"pg_x\" is reserved\n");
  EXPECT(s, "DROP ROLE postgres", "E 55006 current user cannot be dropped\n");
  /* synod runs DDL, role changes included, outside transaction blocks. */
  EXPECT(s, "BEGIN; CREATE ROLE y",
         "T BEGIN\nE 0A000 CREATE ROLE cannot run inside a transaction block\n");
  EXPECT(s, "ROLLBACK", "T ROLLBACK\n");
  eng_session_free(s);
}

Test(roles, rename_and_md5) {
  eng_session *s = session_as("postgres");
  run(s, "CREATE ROLE m LOGIN PASSWORD 'md5f4b1e5a2d6e0a36b0b1d1b0a7f2f5b1a'");
  run(s, "CREATE ROLE k LOGIN PASSWORD 'pw'");
  EXPECT(s, "ALTER ROLE m RENAME TO m2",
         "N 00000 MD5 password cleared because of role rename\nT ALTER ROLE\n");
  cl_role *r = role("m2");
  cr_assert_null(r->secret);
  cl_role_free(r);
  EXPECT(s, "ALTER ROLE k RENAME TO k2", "T ALTER ROLE\n");
  r = role("k2");
  cr_assert(pgw_password_matches(r->secret, "k2", "pw"), "SCRAM secrets survive a rename");
  cl_role_free(r);
  EXPECT(s, "ALTER ROLE k2 RENAME TO m2", "E 42710 role \"m2\" already exists\n");
  eng_session_free(s);
}

Test(roles, only_superusers_manage_roles) {
  eng_session *boot = session_as("postgres"); /* not a stored role: bootstrap */
  run(boot, "CREATE ROLE alice LOGIN PASSWORD 'a'");
  run(boot, "CREATE ROLE root SUPERUSER LOGIN");
  eng_session *a = session_as("alice");
  EXPECT(a, "CREATE ROLE eve", "E 42501 permission denied to create role\n");
  EXPECT(a, "DROP ROLE root", "E 42501 permission denied to drop role\n");
  EXPECT(a, "ALTER ROLE alice SUPERUSER", "E 42501 permission denied to alter role\n");
  EXPECT(a, "ALTER ROLE alice PASSWORD 'b'", "T ALTER ROLE\n"); /* own password */
  eng_session *r = session_as("root");
  EXPECT(r, "CREATE ROLE eve", "T CREATE ROLE\n");
  eng_session_free(a);
  eng_session_free(r);
  eng_session_free(boot);
}

Test(roles, pg_roles_lists_them) {
  eng_session *s = session_as("postgres");
  run(s, "CREATE ROLE alice LOGIN PASSWORD 'a'");
  run(s, "CREATE ROLE grp");
  EXPECT(s, "SELECT rolname, rolcanlogin, rolsuper, rolpassword FROM pg_roles ORDER BY 1",
         "R alice|t|f|********\nR grp|f|f|NULL\nR pg_database_owner|f|f|********\n"
         "R postgres|t|t|********\nT SELECT 4\n");
  EXPECT(s, "SELECT current_user", "R postgres\nT SELECT 1\n");
  /* psql's \password asks before hashing on the client side. */
  EXPECT(s, "SHOW password_encryption", "R scram-sha-256\nT SHOW\n");
  eng_session_free(s);
}
