/*
** CREATE ROLE / CREATE USER, ALTER ROLE (options, RENAME TO), DROP ROLE
** through the cluster's role calls (sql/cluster.h), with PostgreSQL 15's
** errors and notices.
**
** Passwords are never stored in plaintext: PASSWORD 'x' becomes a
** SCRAM-SHA-256 secret (4096 iterations, 16 random bytes of salt, as
** PostgreSQL's password_encryption = scram-sha-256), unless x already is a
** stored secret ("SCRAM-SHA-256$..." or "md5" + 32 hex digits), which is
** kept as given, like PostgreSQL. The PBKDF2 runs here, on the statement's
** worker thread, so the coordinator's loop never waits for it.
**
** Who may change roles: a superuser. A session whose user is not a stored
** role is the bootstrap user (trust, ./synod up) and counts as superuser.
*/
#include "sql/engine/eng_int.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql/pgwire/pgw_auth.h"

/* Superuser check: 42501 for a stored role without SUPERUSER. */
static int may_manage_roles(eng_session *s, const char *what, syn_err *e) {
  cl_role *me = NULL;
  int rc = cl_role_get(s->cl, s->user, &me, e);
  if (rc == SYN_ENOTFOUND) return 0; /* the bootstrap user */
  if (rc) return rc;
  bool su = me->superuser;
  cl_role_free(me);
  if (!su) return syn_err_set(e, SYN_EPERM, "42501: permission denied to %s", what);
  return 0;
}

/* The stored form of the statement's PASSWORD, into *secret (malloc'd;
** NULL for PASSWORD NULL or an empty password, which PostgreSQL also
** turns into "no password" with a NOTICE). */
static int stored_secret(eng_session *s, const sqlp_stmt *st, const char *role, char **secret,
                         syn_err *e) {
  *secret = NULL;
  if (st->role.password != 1) return 0;
  const char *pw = st->value ? st->value : "";
  if (!*pw) {
    eng__send_notice(s, "NOTICE", "00000", "empty string is not a valid password, clearing password");
    return 0;
  }
  pgw_secret_kind k = pgw_secret_kind_of(pw);
  if (k == PGW_SECRET_MD5 || k == PGW_SECRET_SCRAM) {
    *secret = strdup(pw);
    return *secret ? 0 : syn_err_set(e, SYN_ENOMEM, "out of memory");
  }
  (void)role;
  uint8_t salt[PGW_SCRAM_SALT_LEN];
  if (RAND_bytes(salt, sizeof salt) != 1)
    return syn_err_set(e, SYN_EIO, "XX000: could not generate random salt");
  char buf[PGW_SECRET_MAX];
  int rc = pgw_scram_build(pw, salt, sizeof salt, PGW_SCRAM_ITERATIONS, buf, sizeof buf, e);
  if (rc) return rc;
  *secret = strdup(buf);
  return *secret ? 0 : syn_err_set(e, SYN_ENOMEM, "out of memory");
}

static int create_role(eng_session *s, const sqlp_stmt *st, syn_err *e) {
  int rc = may_manage_roles(s, "create role", e);
  if (rc) return rc;
  if (strncmp(st->name, "pg_", 3) == 0)
    return syn_err_set(e, SYN_EINVAL, "42939: role name \"%s\" is reserved", st->name);
  cl_role r = {.name = st->name,
               .login = st->role.login >= 0 ? st->role.login == 1 : st->role.user,
               .superuser = st->role.superuser == 1};
  rc = stored_secret(s, st, st->name, &r.secret, e);
  if (!rc) rc = cl_role_put(s->cl, &r, true, e);
  free(r.secret);
  return rc ? rc : eng__complete(s, "CREATE ROLE");
}

static int alter_role(eng_session *s, const sqlp_stmt *st, syn_err *e) {
  cl_role *cur = NULL;
  int rc = cl_role_get(s->cl, st->name, &cur, e);
  if (rc) return rc;
  /* PostgreSQL lets a role change its own password; anything else needs
  ** a superuser. */
  bool self_pw_only = strcmp(st->name, s->user) == 0 && !st->role.rename &&
                      st->role.login < 0 && st->role.superuser < 0;
  if (!self_pw_only) rc = may_manage_roles(s, st->role.rename ? "rename role" : "alter role", e);
  if (!rc && st->role.rename) {
    if (strcmp(st->name, s->user) == 0)
      rc = syn_err_set(e, SYN_EUNSUPPORTED, "0A000: session user cannot be renamed");
    else if (strncmp(st->value, "pg_", 3) == 0)
      rc = syn_err_set(e, SYN_EINVAL, "42939: role name \"%s\" is reserved", st->value);
    else {
      bool md5 = cur->secret && strncmp(cur->secret, "md5", 3) == 0;
      rc = cl_role_rename(s->cl, st->name, st->value, e);
      if (!rc && md5)
        eng__send_notice(s, "NOTICE", "00000", "MD5 password cleared because of role rename");
    }
    cl_role_free(cur);
    return rc ? rc : eng__complete(s, "ALTER ROLE");
  }
  if (!rc) {
    if (st->role.login >= 0) cur->login = st->role.login == 1;
    if (st->role.superuser >= 0) cur->superuser = st->role.superuser == 1;
    if (st->role.password) {
      char *sec = NULL;
      rc = stored_secret(s, st, st->name, &sec, e);
      if (!rc) {
        free(cur->secret);
        cur->secret = sec;
      }
    }
  }
  if (!rc) rc = cl_role_put(s->cl, cur, false, e);
  cl_role_free(cur);
  return rc ? rc : eng__complete(s, "ALTER ROLE");
}

static int drop_role(eng_session *s, const sqlp_stmt *st, syn_err *e) {
  int rc = may_manage_roles(s, "drop role", e);
  if (rc) return rc;
  /* Every name is checked before any is dropped, as one PostgreSQL
  ** transaction would leave all or nothing. */
  for (int i = 0; i < st->nnames; i++) {
    if (strcmp(st->names[i], s->user) == 0)
      return syn_err_set(e, SYN_EBUSY, "55006: current user cannot be dropped");
    cl_role *r = NULL;
    rc = cl_role_get(s->cl, st->names[i], &r, e);
    cl_role_free(r);
    if (rc == SYN_ENOTFOUND && st->if_exists) rc = 0;
    if (rc) return rc;
  }
  for (int i = 0; i < st->nnames && !rc; i++) {
    cl_role *r = NULL;
    if (cl_role_get(s->cl, st->names[i], &r, NULL) == SYN_ENOTFOUND) {
      char msg[200];
      snprintf(msg, sizeof msg, "role \"%s\" does not exist, skipping", st->names[i]);
      eng__send_notice(s, "NOTICE", "00000", msg);
      continue;
    }
    cl_role_free(r);
    rc = cl_role_drop(s->cl, st->names[i], st->if_exists, e);
  }
  return rc ? rc : eng__complete(s, "DROP ROLE");
}

int eng__run_role(eng_session *s, const sqlp_stmt *st, syn_err *e) {
  switch (st->kind) {
  case SQLP_CREATE_ROLE: return create_role(s, st, e);
  case SQLP_ALTER_ROLE: return alter_role(s, st, e);
  case SQLP_DROP_ROLE: return drop_role(s, st, e);
  default: return sqlst_set(e, SQLST_INTERNAL, "not a role statement");
  }
}
