/*
** The session's system catalogs: the attached in-memory databases
** "pg_catalog" and "information_schema" (sql/pgcatalog.h), filled whenever
** eng__catalog_sync opens a fresh connection; pg_settings as a view with
** the session's live values; the session's identity (user, database,
** BackendKeyData pid) behind current_user and pg_backend_pid(). The
** session-free functions are eng_funcs_pgcat.c's.
*/
#include "sql/engine/eng_int.h"
#include "sql/pgcatalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int eng_session_set_identity(eng_session *s, const char *user, const char *database,
                             int32_t pid, syn_err *err) {
  char *u = strdup(user ? user : "synod"), *d = strdup(database ? database : "synod");
  if (!u || !d) {
    free(u);
    free(d);
    return syn_err_set(err, SYN_ENOMEM, "out of memory");
  }
  free(s->user);
  free(s->database);
  s->user = u;
  s->database = d;
  s->backend_pid = pid;
  s->cat_loaded = false; /* the pg_catalog rows name the user */
  return 0;
}

static void fn_backend_pid(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  eng_session *s = sqlite3_user_data(ctx);
  sqlite3_result_int(ctx, s->backend_pid);
}

/* syn_setting(i): the session's current value of setting i. */
static void fn_setting(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  eng_session *s = sqlite3_user_data(ctx);
  int i = sqlite3_value_int(argv[0]);
  if (i >= 0 && i < ENG_NSETTINGS && s->settings[i])
    sqlite3_result_text(ctx, s->settings[i], -1, SQLITE_TRANSIENT);
}

/* pg_settings as a view over the setting list, with the live value. */
static int settings_sql(cat_buf *b) {
  int rc = cat_buf_printf(b, "CREATE TABLE \"pg_catalog\".\"syn_gucs\"(i INTEGER, name TEXT, "
                             "short_desc TEXT, context TEXT, vartype TEXT);");
  const char *desc;
  bool ro;
  for (int i = 0; !rc && eng__guc_info(i, &desc, &ro); i++) {
    const char *name = eng__guc_info(i, &desc, &ro);
    const char *type = strcmp(name, "statement_timeout") == 0 ? "integer"
                       : strcmp(name, "default_transaction_isolation") == 0 ? "enum"
                       : strcmp(name, "standard_conforming_strings") == 0 ||
                               strcmp(name, "integer_datetimes") == 0
                           ? "bool"
                           : "string";
    rc = cat_buf_printf(b, "INSERT INTO \"pg_catalog\".\"syn_gucs\" VALUES (%d, '%s', '", i,
                        name);
    for (const char *p = desc; *p && !rc; p++)
      rc = cat_buf_append(b, p, 1) || (*p == '\'' && cat_buf_append(b, "'", 1));
    if (!rc) rc = cat_buf_printf(b, "', '%s', '%s');", ro ? "internal" : "user", type);
  }
  if (!rc)
    rc = cat_buf_printf(b, "CREATE VIEW \"pg_catalog\".\"pg_settings\" AS SELECT name, "
                           "syn_setting(i) AS setting, NULL AS unit, NULL AS category, short_desc, "
                           "NULL AS extra_desc, context, vartype, 'default' AS source, NULL AS "
                           "min_val, NULL AS max_val, NULL AS enumvals, NULL AS boot_val, NULL AS "
                           "reset_val FROM \"pg_catalog\".\"syn_gucs\";");
  return rc;
}

static int register_fns(eng_session *s) {
  if (eng_register_pgcat_functions(s->db) != SQLITE_OK ||
      sqlite3_create_function(s->db, "syn_backend_pid", 0, SQLITE_UTF8 | SQLITE_INNOCUOUS, s,
                              fn_backend_pid, NULL, NULL) != SQLITE_OK ||
      sqlite3_create_function(s->db, "syn_setting", 1, SQLITE_UTF8 | SQLITE_INNOCUOUS, s,
                              fn_setting, NULL, NULL) != SQLITE_OK)
    return -1;
  return 0;
}

int eng__pgcat_register(eng_session *s, syn_err *e) {
  s->pgcat_loaded = false; /* a fresh connection */
  if (register_fns(s))
    return syn_err_set(e, SYN_EINTERNAL, "registering catalog functions: %s",
                       sqlite3_errmsg(s->db));
  return 0;
}

int eng__pgcat_need(void *ctx, syn_err *e) {
  eng_session *s = ctx;
  if (s->pgcat_loaded) return 0;
  cat_buf sql = {0};
  int rc = cat_buf_printf(&sql, "ATTACH ':memory:' AS \"pg_catalog\";"
                                "ATTACH ':memory:' AS \"information_schema\";")
               ? syn_err_set(e, SYN_ENOMEM, "out of memory")
               : 0;
  /* The cluster's roles for pg_roles / pg_user (\du). */
  cl_role *roles = NULL;
  size_t nroles = 0;
  pgc_role *pr = NULL;
  if (!rc) rc = cl_role_list(s->cl, &roles, &nroles, e);
  if (!rc && !(pr = calloc(nroles ? nroles : 1, sizeof *pr)))
    rc = syn_err_set(e, SYN_ENOMEM, "out of memory");
  for (size_t i = 0; !rc && i < nroles; i++)
    pr[i] = (pgc_role){roles[i].name, roles[i].login, roles[i].superuser, roles[i].secret != NULL};
  if (!rc) rc = pgc_fill_sql_roles(s->tabs, s->ntabs, s->user, s->database, pr, nroles, &sql, e);
  free(pr);
  cl_role_list_free(roles, nroles);
  if (!rc && settings_sql(&sql)) rc = syn_err_set(e, SYN_ENOMEM, "out of memory");
  char *msg = NULL;
  if (!rc && sqlite3_exec(s->db, sql.p, NULL, NULL, &msg) != SQLITE_OK)
    rc = syn_err_set(e, SYN_EINTERNAL, "filling pg_catalog: %s", msg ? msg : "?");
  sqlite3_free(msg);
  cat_buf_free(&sql);
  if (rc) {
    /* Leave the connection as it was, so the next attempt starts clean. */
    sqlite3_exec(s->db, "ROLLBACK; DETACH \"pg_catalog\"; DETACH \"information_schema\";", NULL,
                 NULL, NULL);
    return rc;
  }
  s->pgcat_loaded = true;
  return 0;
}
