/*
** CREATE ROLE / CREATE USER / CREATE GROUP, ALTER ROLE (options and RENAME
** TO), DROP ROLE: decoded into sqlp_stmt.role (parse.h). The option names
** are the DefElem names of PostgreSQL's gram.y (AlterOptRoleElem); only
** LOGIN, SUPERUSER and PASSWORD have a meaning in synod, every other one
** is refused with 0A000 naming it, rather than accepted and ignored.
*/
#include <stdlib.h>
#include <string.h>

#include "sql/parse_int.h"

static const struct {
  const char *defname;
  const char *sql;
} refused[] = {
    {"createdb", "CREATEDB"},       {"createrole", "CREATEROLE"},
    {"inherit", "INHERIT"},         {"connectionlimit", "CONNECTION LIMIT"},
    {"validUntil", "VALID UNTIL"},  {"bypassrls", "BYPASSRLS"},
    {"isreplication", "REPLICATION"}, {"rolemembers", "ROLE"},
    {"adminmembers", "ADMIN"},      {"addroleto", "IN ROLE"},
    {"sysid", "SYSID"},
};

static int role_options(sqlp_stmt *st, PgQuery__Node **opts, size_t n) {
  sqlp_role *r = &st->role;
  r->login = r->superuser = -1;
  for (size_t i = 0; i < n; i++) {
    if (opts[i]->node_case != PG_QUERY__NODE__NODE_DEF_ELEM) continue;
    const PgQuery__DefElem *d = opts[i]->def_elem;
    const char *name = d->defname;
    const PgQuery__Node *a = d->arg;
    int *flag = strcmp(name, "canlogin") == 0 ? &r->login
                : strcmp(name, "superuser") == 0 ? &r->superuser
                                                 : NULL;
    if (flag) {
      if (*flag >= 0) return sqlp__fail(st, d->location, SQLST_SYNTAX, "conflicting or redundant options");
      *flag = a && a->node_case == PG_QUERY__NODE__NODE_BOOLEAN && a->boolean->boolval ? 1 : 0;
      continue;
    }
    if (strcmp(name, "password") == 0) {
      if (r->password) return sqlp__fail(st, d->location, SQLST_SYNTAX, "conflicting or redundant options");
      if (!a) {
        r->password = 2; /* PASSWORD NULL */
        continue;
      }
      const char *pw = sqlp__str(a);
      if (!pw) return sqlp__fail(st, d->location, SQLST_SYNTAX, "invalid PASSWORD value");
      free(st->value);
      if (!(st->value = sqlp__dup(pw))) return SYN_ENOMEM;
      r->password = 1;
      continue;
    }
    for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++)
      if (strcmp(name, refused[k].defname) == 0)
        return sqlp__fail(st, d->location, SQLST_FEATURE, "role option %s is not supported",
                          refused[k].sql);
    return sqlp__fail(st, d->location, SQLST_FEATURE, "role option \"%s\" is not supported", name);
  }
  return 0;
}

/* A role named by RoleSpec: only plain names (not CURRENT_USER, PUBLIC ...). */
static int role_spec(sqlp_stmt *st, const PgQuery__Node *n, const char **name) {
  *name = NULL;
  if (!n || n->node_case != PG_QUERY__NODE__NODE_ROLE_SPEC ||
      n->role_spec->roletype != PG_QUERY__ROLE_SPEC_TYPE__ROLESPEC_CSTRING)
    return sqlp__unsupported(st, -1, "CURRENT_USER, SESSION_USER and PUBLIC as role names");
  *name = n->role_spec->rolename;
  return 0;
}

int sqlp__create_role(sqlp_stmt *st, const PgQuery__CreateRoleStmt *c) {
  st->kind = SQLP_CREATE_ROLE;
  /* CREATE USER is CREATE ROLE with LOGIN by default (PostgreSQL's
  ** CreateRole). */
  st->role.user = c->stmt_type == PG_QUERY__ROLE_STMT_TYPE__ROLESTMT_USER;
  if (!(st->name = sqlp__dup(c->role))) return SYN_ENOMEM;
  return role_options(st, c->options, c->n_options);
}

int sqlp__alter_role(sqlp_stmt *st, const PgQuery__AlterRoleStmt *a) {
  st->kind = SQLP_ALTER_ROLE;
  PgQuery__Node spec = PG_QUERY__NODE__INIT;
  spec.node_case = PG_QUERY__NODE__NODE_ROLE_SPEC;
  spec.role_spec = a->role;
  const char *name;
  int rc = role_spec(st, &spec, &name);
  if (rc || st->status) return rc;
  if (!(st->name = sqlp__dup(name))) return SYN_ENOMEM;
  /* action is +1 / -1 only for ALTER GROUP ... ADD/DROP USER. */
  if (a->action != 1) return sqlp__unsupported(st, -1, "ALTER GROUP");
  return role_options(st, a->options, a->n_options);
}

int sqlp__drop_role(sqlp_stmt *st, const PgQuery__DropRoleStmt *d) {
  st->kind = SQLP_DROP_ROLE;
  st->if_exists = d->missing_ok;
  for (size_t i = 0; i < d->n_roles; i++) {
    const char *name;
    int rc = role_spec(st, d->roles[i], &name);
    if (rc || st->status) return rc;
    if (sqlp__add_name(st, name)) return SYN_ENOMEM;
  }
  return 0;
}

int sqlp__rename_role(sqlp_stmt *st, const PgQuery__RenameStmt *r) {
  st->kind = SQLP_ALTER_ROLE;
  st->role.login = st->role.superuser = -1;
  st->role.rename = true;
  if (!(st->name = sqlp__dup(r->subname)) || !(st->value = sqlp__dup(r->newname)))
    return SYN_ENOMEM;
  return 0;
}
