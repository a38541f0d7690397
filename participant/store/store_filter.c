/*
** Validation of pushed-down filters, shared by both store backends: the
** filter is SQLite SQL (the SQL layer writes it for SQLite), and both
** backends evaluate it with SQLite, so both accept exactly the same
** filters. How a filter is checked is described atop store_lite_scan.c.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "participant/store/store_filter.h"
#include "participant/store/store.h"

/* ---- filter validation --------------------------------------------------- */

static int filter_lex_ok(const char *f, syn_err *err) {
  int depth = 0;
  for (const char *p = f; *p; p++) {
    char c = *p;
    if (c == '\'' || c == '"' || c == '`' || c == '[') {
      char close = c == '[' ? ']' : c;
      for (p++;; p++) {
        if (!*p)
          return syn_err_set(err, SYN_EINVAL, "store: filter: unterminated "
                             "quote");
        if (*p == close) {
          if (close != ']' && p[1] == close) {
            p++;
            continue;
          }
          break;
        }
      }
      continue;
    }
    if (c == ';')
      return syn_err_set(err, SYN_EINVAL, "store: filter: ';' not allowed");
    if ((c == '-' && p[1] == '-') || (c == '/' && p[1] == '*'))
      return syn_err_set(err, SYN_EINVAL, "store: filter: comments not "
                         "allowed");
    if (c == '(') depth++;
    if (c == ')' && --depth < 0)
      return syn_err_set(err, SYN_EINVAL, "store: filter: unbalanced ')'");
  }
  if (depth)
    return syn_err_set(err, SYN_EINVAL, "store: filter: unbalanced '('");
  return 0;
}

typedef struct auth_ctx {
  char table[32];
  int selects;
} auth_ctx;

static int filter_auth(void *ud, int action, const char *a, const char *b,
                       const char *db, const char *trigger) {
  auth_ctx *c = ud;
  (void)db;
  (void)trigger;
  switch (action) {
  case SQLITE_SELECT: return ++c->selects > 1 ? SQLITE_DENY : SQLITE_OK;
  case SQLITE_FUNCTION: return SQLITE_OK;
  case SQLITE_READ:
    if (a && strcmp(a, c->table) == 0 && b && *b &&
        strncasecmp(b, "_syn_", 5) != 0)
      return SQLITE_OK;
    return SQLITE_DENY;
  default: return SQLITE_DENY;
  }
}

/* Returns the number of parameters the filter uses in *nparams. */
int store_filter_validate(sqlite3 *db, uint32_t table_id, const char *f,
                          int *nparams, syn_err *err) {
  int rc = filter_lex_ok(f, err);
  if (rc) return rc;
  st_sb b = {0};
  sb_addf(&b, "SELECT 1 FROM v%u WHERE (", table_id);
  sb_add(&b, f);
  sb_add(&b, ")");
  if (b.oom) {
    sb_free(&b);
    return syn_err_set(err, SYN_ENOMEM, "store: sql");
  }
  auth_ctx ac = {.selects = 0};
  snprintf(ac.table, sizeof ac.table, "v%u", table_id);
  sqlite3_set_authorizer(db, filter_auth, &ac);
  sqlite3_stmt *s = NULL;
  const char *tail = NULL;
  int prc = sqlite3_prepare_v2(db, b.p, -1, &s, &tail);
  sqlite3_set_authorizer(db, NULL, NULL);
  if (prc != SQLITE_OK) {
    rc = syn_err_set(err, SYN_EINVAL, "store: filter rejected: %s",
                     sqlite3_errmsg(db));
  } else if (!s || (tail && tail[strspn(tail, " \t\r\n")])) {
    rc = syn_err_set(err, SYN_EINVAL, "store: filter is not one expression");
  } else {
    int n = sqlite3_bind_parameter_count(s);
    if (n > STORE_MAX_FILTER_PARAMS)
      rc = syn_err_set(err, SYN_EINVAL, "store: filter uses ?%d (max ?%d)", n,
                       STORE_MAX_FILTER_PARAMS);
    for (int i = 1; !rc && i <= n; i++) {
      const char *name = sqlite3_bind_parameter_name(s, i);
      if (name && name[0] != '?')
        rc = syn_err_set(err, SYN_EINVAL, "store: filter parameter %s: only "
                         "?N parameters are allowed", name);
    }
    *nparams = n;
  }
  sqlite3_finalize(s);
  sb_free(&b);
  return rc;
}

