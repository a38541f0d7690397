/*
** Roles (sql/cluster.h, cl_role_*) in the replicated catalog (coord_rcat.h
** ROLE_PUT / ROLE_RENAME / ROLE_DROP), so a role created through one
** coordinator logs in through every other.
**
** def encoding (text, one line): "<login 0|1>;<superuser 0|1>;<secret>"
** with an empty secret for none. Secrets are PostgreSQL's stored forms
** (SCRAM-SHA-256$... or md5...), which contain no ';' or newline.
**
** Durability: a change returns once the catalog command is chosen by a
** majority of coordinators and applied here (or fsynced to catalog.db
** without a replicated log), so a client told "CREATE ROLE" can log in
** after any minority of crashes.
**
** Reads come from the role cache (cl->roles, rebuilt under catmu by the
** catalog's apply hook): no loop hop and no blocking, which pgwire's
** authentication on the loop thread relies on. A follower's cache can
** trail the leader by the replication delay (milliseconds): a login
** through another coordinator right after CREATE ROLE may miss the role
** for that long. SQL reads (pg_roles, ALTER ROLE) run after the session's
** catalog barrier and see every completed change.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/coord_int.h"
#include "coordinator/coord_rcat.h"

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

/* catmu held: the cached definition of name, NULL if none. */
static const coord_role_def *cached(cl_cluster *cl, const char *name) {
  for (int i = 0; i < cl->nroles; i++)
    if (strcmp(cl->roles[i].name, name) == 0) return &cl->roles[i];
  return NULL;
}


int cl_role_put(cl_cluster *cl, const cl_role *role, bool create, syn_err *err) {
  int rc = check_name(role->name, err);
  if (rc) return rc;
  char *def;
  size_t len;
  rc = encode(role, &def, &len);
  if (rc) return syn_err_set(err, rc, "role secret is not in a stored form");
  uint8_t *cmd = NULL;
  size_t clen = 0;
  coord_rcat_result res;
  int erc = coord_rcat_encode_role_put(role->name, (const uint8_t *)def, (uint32_t)len, create,
                                       coord_catx_nonce(cl), &cmd, &clen, err);
  rc = coord_catx_submit_take(cl, erc, cmd, clen, &res, err);
  free(def);
  if (rc) return rc;
  if (res.status == COORD_RCAT_EXISTS)
    return syn_err_set(err, SYN_EEXIST, "42710: role \"%s\" already exists", role->name);
  if (res.status == COORD_RCAT_NOTFOUND)
    return syn_err_set(err, SYN_ENOTFOUND, "42704: role \"%s\" does not exist", role->name);
  return 0;
}

int cl_role_get(cl_cluster *cl, const char *name, cl_role **out, syn_err *err) {
  *out = NULL;
  cl_role *r = calloc(1, sizeof *r);
  if (!r) return syn_err_set(err, SYN_ENOMEM, "out of memory");
  pthread_mutex_lock(&cl->catmu);
  const coord_role_def *d = cached(cl, name);
  int rc = d ? decode(name, d->def, d->len, r, err)
             : syn_err_set(err, SYN_ENOTFOUND, "42704: role \"%s\" does not exist", name);
  pthread_mutex_unlock(&cl->catmu);
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
  cl_role *r = NULL;
  rc = cl_role_get(cl, from, &r, err);
  if (rc) return rc;
  /* An MD5 secret is salted with the role name: it cannot match under
  ** the new name, so PostgreSQL clears it (with a NOTICE the engine
  ** sends). */
  if (r->secret && strncmp(r->secret, "md5", 3) == 0) {
    free(r->secret);
    r->secret = NULL;
  }
  char *nd = NULL;
  size_t nlen = 0;
  rc = encode(r, &nd, &nlen);
  cl_role_free(r);
  if (rc) return syn_err_set(err, rc, "role encoding");
  uint8_t *cmd = NULL;
  size_t clen = 0;
  coord_rcat_result res;
  /* One command: never both names, never neither. */
  int erc = coord_rcat_encode_role_rename(from, to, (const uint8_t *)nd, (uint32_t)nlen,
                                          coord_catx_nonce(cl), &cmd, &clen, err);
  rc = coord_catx_submit_take(cl, erc, cmd, clen, &res, err);
  free(nd);
  if (rc) return rc;
  if (res.status == COORD_RCAT_NOTFOUND)
    return syn_err_set(err, SYN_ENOTFOUND, "42704: role \"%s\" does not exist", from);
  if (res.status == COORD_RCAT_EXISTS)
    return syn_err_set(err, SYN_EEXIST, "42710: role \"%s\" already exists", to);
  return 0;
}

int cl_role_drop(cl_cluster *cl, const char *name, bool if_exists, syn_err *err) {
  uint8_t *cmd = NULL;
  size_t clen = 0;
  coord_rcat_result res;
  int erc = coord_rcat_encode_role_drop(name, coord_catx_nonce(cl), &cmd, &clen, err);
  int rc = coord_catx_submit_take(cl, erc, cmd, clen, &res, err);
  if (rc) return rc;
  if (res.status == COORD_RCAT_NOTFOUND && !if_exists)
    return syn_err_set(err, SYN_ENOTFOUND, "42704: role \"%s\" does not exist", name);
  return 0;
}

static int cmp_role(const void *a, const void *b) {
  return strcmp(((const cl_role *)a)->name, ((const cl_role *)b)->name);
}

int cl_role_list(cl_cluster *cl, cl_role **out, size_t *n, syn_err *err) {
  pthread_mutex_lock(&cl->catmu);
  size_t cnt = (size_t)cl->nroles;
  cl_role *v = calloc(cnt ? cnt : 1, sizeof *v);
  int rc = v ? 0 : syn_err_set(err, SYN_ENOMEM, "out of memory");
  size_t k = 0;
  for (size_t i = 0; rc == 0 && i < cnt; i++) {
    rc = decode(cl->roles[i].name, cl->roles[i].def, cl->roles[i].len, &v[k], err);
    if (rc == 0) k++;
  }
  pthread_mutex_unlock(&cl->catmu);
  if (rc) {
    cl_role_list_free(v, k);
    return rc;
  }
  qsort(v, k, sizeof *v, cmp_role);
  *out = v;
  *n = k;
  return 0;
}
