/*
** PREPARE / EXECUTE / DEALLOCATE: the SQL face of prepared statements
** (the engine keeps them with the extended protocol's, one namespace, as
** PostgreSQL does).
**
**   PREPARE  name, value = the statement's text after AS, types/ntypes =
**            the parameter types given in parentheses (resolved here)
**   EXECUTE  name; the argument expressions stay in the AST
**            (node->execute_stmt->params) for the engine to evaluate
**   DEALLOCATE  name, or NULL for ALL
*/
#include "sql/parse_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Skip blanks and comments (-- to end of line, nested block comments). */
static const char *skip_space(const char *p, const char *end) {
  for (;;) {
    while (p < end && isspace((unsigned char)*p)) p++;
    if (p + 1 < end && p[0] == '-' && p[1] == '-') {
      while (p < end && *p != '\n') p++;
    } else if (p + 1 < end && p[0] == '/' && p[1] == '*') {
      int depth = 0;
      do {
        if (p + 1 < end && p[0] == '/' && p[1] == '*') depth++, p += 2;
        else if (p + 1 < end && p[0] == '*' && p[1] == '/') depth--, p += 2;
        else p++;
      } while (p < end && depth > 0);
    } else {
      return p;
    }
  }
}

/* Past one identifier, plain or "quoted" (with "" inside). */
static const char *skip_ident(const char *p, const char *end) {
  if (p < end && *p == '"') {
    for (p++; p < end; p++)
      if (*p == '"') {
        if (p + 1 < end && p[1] == '"') p++;
        else return p + 1;
      }
    return p;
  }
  while (p < end && (isalnum((unsigned char)*p) || *p == '_' || *p == '$' || (unsigned char)*p >= 0x80))
    p++;
  return p;
}

/* Past a parenthesised list, minding quotes. */
static const char *skip_parens(const char *p, const char *end) {
  int depth = 0;
  for (; p < end; p++) {
    if (*p == '\'' || *p == '"') {
      char q = *p;
      for (p++; p < end && !(*p == q && !(p + 1 < end && p[1] == q)); p++)
        if (*p == q) p++;
    } else if (*p == '(') {
      depth++;
    } else if (*p == ')' && --depth == 0) {
      return p + 1;
    }
  }
  return p;
}

static bool keyword(const char *p, const char *end, const char *kw) {
  size_t n = strlen(kw);
  return (size_t)(end - p) > n && strncasecmp(p, kw, n) == 0 &&
         !isalnum((unsigned char)p[n]) && p[n] != '_';
}

int sqlp__prepare(sqlp_stmt *st, const char *src) {
  const PgQuery__PrepareStmt *ps = st->node->prepare_stmt;
  if (!(st->name = sqlp__dup(ps->name))) return SYN_ENOMEM;
  /* The statement's text: PREPARE name [(types)] AS <text>. */
  const char *p = src + st->location, *end = p + st->length;
  p = skip_space(p, end);
  if (keyword(p, end, "prepare")) p += 7;
  p = skip_ident(skip_space(p, end), end);
  p = skip_space(p, end);
  if (p < end && *p == '(') p = skip_space(skip_parens(p, end), end);
  if (!keyword(p, end, "as")) return sqlp__unsupported(st, -1, "this PREPARE form");
  p = skip_space(p + 2, end);
  st->value = malloc((size_t)(end - p) + 1);
  if (!st->value) return SYN_ENOMEM;
  memcpy(st->value, p, (size_t)(end - p));
  st->value[end - p] = '\0';
  if (ps->n_argtypes) {
    st->types = calloc(ps->n_argtypes, sizeof *st->types);
    if (!st->types) return SYN_ENOMEM;
  }
  for (size_t i = 0; i < ps->n_argtypes; i++) {
    const PgQuery__Node *a = ps->argtypes[i];
    if (a->node_case != PG_QUERY__NODE__NODE_TYPE_NAME)
      return sqlp__unsupported(st, -1, "this PREPARE parameter type");
    const PgQuery__TypeName *tn = a->type_name;
    if (tn->n_array_bounds) return sqlp__unsupported(st, tn->location, "array types");
    const char *tname = sqlp__str(tn->names[tn->n_names - 1]);
    uint32_t oid;
    int32_t typmod;
    bool serial = false;
    syn_err e;
    if (!tname || cat_type_resolve(tname, NULL, 0, &oid, &typmod, &serial, &e) || serial)
      return sqlp__fail(st, tn->location, SQLST_UNDEFINED_OBJECT, "type \"%s\" does not exist",
                        tname ? tname : "?");
    st->types[st->ntypes++] = oid;
  }
  return 0;
}

int sqlp__execute(sqlp_stmt *st) {
  return (st->name = sqlp__dup(st->node->execute_stmt->name)) ? 0 : SYN_ENOMEM;
}

int sqlp__deallocate(sqlp_stmt *st) {
  const char *n = st->node->deallocate_stmt->name;
  if (!n || !*n) return 0; /* ALL */
  return (st->name = sqlp__dup(n)) ? 0 : SYN_ENOMEM;
}
