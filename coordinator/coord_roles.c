/*
** Roles (sql/cluster.h, cl_role_*) over this coordinator's catalog.db
** table roles(name, def). The catalog is local to the coordinator for now;
** the replicated catalog takes this storage over later, behind the same
** cl_role_* calls.
**
** def encoding (text, one line): "<login 0|1>;<superuser 0|1>;<secret>"
** with an empty secret for none. Secrets are PostgreSQL's stored forms
** (SCRAM-SHA-256$... or md5...), which contain no ';' or newline.
**
** Durability: coord_cat_role_put/del commit an SQLite transaction with
** synchronous=FULL (coord_catalog.h), so a role change is fsynced before
** CREATE/ALTER/DROP ROLE reports success: a client told "CREATE ROLE" can
** log in after a coordinator crash.
**
** Every call takes catmu, like the rest of the catalog, and only reads or
** writes the local SQLite file: safe (and quick) on the loop thread, which
** pgwire's authentication relies on.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/coord_int.h"

static int encode(const cl_role *r, char **out, size_t *len) {
  const char *sec = r->secret ? r->secret : "";
  if (strchr(sec, ';') || strchr(sec, '\n')) return SYN_EINVAL;
  size_t n = strlen(sec) + 8;
  char *d = malloc(n);
  if (!d) return SYN_ENOMEM;
  int w = snprintf(d, n, "%d;%d;%s", r->login ? 1 : 0, r->superuser ? 1 : 0, sec);
  *out = d;
  *len = (size_t)w;
  return 0;
}

static int decode(const char *name, const char *def, size_t len, cl_role *r, syn_err *err) {
  memset(r, 0, sizeof *r);
  if (len < 4 || (def[0] != '0' && def[0] != '1') || def[1] != ';' ||
      (def[2] != '0' && def[2] != '1') || def[3] != ';')
    return syn_err_set(err, SYN_ECORRUPT, "catalog: role \"%s\" does not decode", name);
  r->login = def[0] == '1';
  r->superuser = def[2] == '1';
  r->name = strdup(name);
  if (len > 4) {
    r->secret = malloc(len - 4 + 1);
    if (r->secret) {
      memcpy(r->secret, def + 4, len - 4);
      r->secret[len - 4] = '\0';
    }
  }
  if (!r->name || (len > 4 && !r->secret)) {
    free(r->name);
    free(r->secret);
    return syn_err_set(err, SYN_ENOMEM, "out of memory");
  }
  return 0;
}

static int check_name(const char *name, syn_err *err) {
  if (!name || !*name) return syn_err_set(err, SYN_EINVAL, "42602: invalid role name \"\"");
  if (strlen(name) > 63)
    return syn_err_set(err, SYN_EINVAL, "42622: role name \"%s\" is too long", name);
  return 0;
}

void cl_role_free(cl_role *role) {
  if (!role) return;
  free(role->name);
  free(role->secret);
  free(role);
}

void cl_role_list_free(cl_role *roles, size_t n) {
  for (size_t i = 0; roles && i < n; i++) {
    free(roles[i].name);
    free(roles[i].secret);
  }
  free(roles);
}

/* catmu held. */
static int exists(cl_cluster *cl, const char *name, bool *found, syn_err *err) {
  char *def;
  size_t len;
  int rc = coord_cat_role_get(cl->cat, name, &def, &len, found, err);
  free(def);
  return rc;
}

int cl_role_put(cl_cluster *cl, const cl_role *role, bool create, syn_err *err) {
  int rc = check_name(role->name, err);
  if (rc) return rc;
  char *def;
  size_t len;
  rc = encode(role, &def, &len);
  if (rc) return syn_err_set(err, rc, "role secret is not in a stored form");
  bool found = false;
  pthread_mutex_lock(&cl->catmu);
  rc = exists(cl, role->name, &found, err);
  if (rc == 0 && create && found)
    rc = syn_err_set(err, SYN_EEXIST, "42710: role \"%s\" already exists", role->name);
  else if (rc == 0 && !create && !found)
    rc = syn_err_set(err, SYN_ENOTFOUND, "42704: role \"%s\" does not exist", role->name);
  if (rc == 0) rc = coord_cat_role_put(cl->cat, role->name, def, len, err);
  if (rc == 0) atomic_fetch_add(&cl->version, 1); /* sessions refill pg_roles */
  pthread_mutex_unlock(&cl->catmu);
  free(def);
  return rc;
}

int cl_role_get(cl_cluster *cl, const char *name, cl_role **out, syn_err *err) {
  *out = NULL;
  char *def = NULL;
  size_t len = 0;
  bool found = false;
  pthread_mutex_lock(&cl->catmu);
  int rc = coord_cat_role_get(cl->cat, name, &def, &len, &found, err);
  pthread_mutex_unlock(&cl->catmu);
  if (rc) return rc;
  if (!found) return syn_err_set(err, SYN_ENOTFOUND, "42704: role \"%s\" does not exist", name);
  cl_role *r = calloc(1, sizeof *r);
  if (!r) rc = syn_err_set(err, SYN_ENOMEM, "out of memory");
  else rc = decode(name, def, len, r, err);
  free(def);
  if (rc) {
    free(r);
    return rc;
  }
  *out = r;
  return 0;
}

int cl_role_rename(cl_cluster *cl, const char *from, const char *to, syn_err *err) {
  int rc = check_name(to, err);
  if (rc) return rc;
  char *def = NULL;
  size_t len = 0;
  bool found = false, taken = false;
  pthread_mutex_lock(&cl->catmu);
  rc = coord_cat_role_get(cl->cat, from, &def, &len, &found, err);
  if (rc == 0 && !found)
    rc = syn_err_set(err, SYN_ENOTFOUND, "42704: role \"%s\" does not exist", from);
  if (rc == 0) rc = exists(cl, to, &taken, err);
  if (rc == 0 && taken) rc = syn_err_set(err, SYN_EEXIST, "42710: role \"%s\" already exists", to);
  cl_role r;
  if (rc == 0) rc = decode(from, def, len, &r, err);
  if (rc == 0) {
    /* An MD5 secret is salted with the role name: it cannot match under
    ** the new name, so PostgreSQL clears it (with a NOTICE the engine
    ** sends). */
    if (r.secret && strncmp(r.secret, "md5", 3) == 0) {
      free(r.secret);
      r.secret = NULL;
    }
    char *nd;
    size_t nlen;
    rc = encode(&r, &nd, &nlen);
    free(r.name);
    free(r.secret);
    if (rc) rc = syn_err_set(err, rc, "role encoding");
    /* One SQLite transaction: never both names, never neither. */
    if (rc == 0) rc = coord_cat_begin(cl->cat, err);
    if (rc == 0) {
      rc = coord_cat_role_del(cl->cat, from, err);
      if (rc == 0) rc = coord_cat_role_put(cl->cat, to, nd, nlen, err);
      if (rc == 0) rc = coord_cat_commit(cl->cat, err);
      else coord_cat_rollback(cl->cat);
    }
    if (rc == 0) atomic_fetch_add(&cl->version, 1);
    if (nd) free(nd);
  }
  pthread_mutex_unlock(&cl->catmu);
  free(def);
  return rc;
}

int cl_role_drop(cl_cluster *cl, const char *name, bool if_exists, syn_err *err) {
  bool found = false;
  pthread_mutex_lock(&cl->catmu);
  int rc = exists(cl, name, &found, err);
  if (rc == 0 && !found && !if_exists)
    rc = syn_err_set(err, SYN_ENOTFOUND, "42704: role \"%s\" does not exist", name);
  if (rc == 0 && found) rc = coord_cat_role_del(cl->cat, name, err);
  if (rc == 0 && found) atomic_fetch_add(&cl->version, 1);
  pthread_mutex_unlock(&cl->catmu);
  return rc;
}

typedef struct list_ctx {
  cl_role *v;
  size_t n, cap;
  syn_err *err;
} list_ctx;

static int list_one(void *ud, const char *name, const char *def, size_t len) {
  list_ctx *l = ud;
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 8;
    cl_role *v = realloc(l->v, nc * sizeof *v);
    if (!v) return syn_err_set(l->err, SYN_ENOMEM, "out of memory");
    l->v = v;
    l->cap = nc;
  }
  int rc = decode(name, def, len, &l->v[l->n], l->err);
  if (rc == 0) l->n++;
  return rc;
}

int cl_role_list(cl_cluster *cl, cl_role **out, size_t *n, syn_err *err) {
  list_ctx l = {.err = err};
  pthread_mutex_lock(&cl->catmu);
  int rc = coord_cat_role_list(cl->cat, list_one, &l, err);
  pthread_mutex_unlock(&cl->catmu);
  if (rc) {
    cl_role_list_free(l.v, l.n);
    return rc;
  }
  *out = l.v;
  *n = l.n;
  return 0;
}
