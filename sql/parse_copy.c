/*
** COPY classification: COPY table [(cols)] FROM STDIN / TO STDOUT and
** COPY (SELECT ...) TO STDOUT, with the options decoded and checked by
** sql/copy.c. Server-side files and PROGRAM are refused: the coordinator
** is not the client's machine (psql's \copy streams the client's file
** through the same STDIN/STDOUT protocol).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql/parse_int.h"

/* An option's value as text, as PostgreSQL's defGetString sees it. */
static const char *opt_text(const PgQuery__Node *arg, char *tmp, size_t cap) {
  if (!arg) return NULL;
  switch (arg->node_case) {
  case PG_QUERY__NODE__NODE_STRING: return arg->string->sval;
  case PG_QUERY__NODE__NODE_INTEGER: snprintf(tmp, cap, "%d", arg->integer->ival); return tmp;
  case PG_QUERY__NODE__NODE_FLOAT: return arg->float_->fval;
  case PG_QUERY__NODE__NODE_BOOLEAN: return arg->boolean->boolval ? "true" : "false";
  case PG_QUERY__NODE__NODE_A_STAR: return "*";
  default: return "";
  }
}

int sqlp__copy(sqlp_stmt *st, const PgQuery__CopyStmt *c) {
  const char *dir = c->is_from ? "FROM" : "TO";
  if (c->is_program)
    return sqlp__fail(st, -1, SQLST_FEATURE,
                      "COPY %s PROGRAM is not supported: the coordinator is not the client's "
                      "machine (use psql's \\copy)", dir);
  if (c->filename && *c->filename)
    return sqlp__fail(st, -1, SQLST_FEATURE,
                      "COPY %s a file is not supported: the coordinator is not the client's "
                      "machine (use COPY %s or psql's \\copy)", dir,
                      c->is_from ? "FROM STDIN" : "TO STDOUT");
  if (c->where_clause) return sqlp__unsupported(st, -1, "COPY FROM ... WHERE");
  st->copy = calloc(1, sizeof *st->copy);
  if (!st->copy) return SYN_ENOMEM;
  st->copy->is_from = c->is_from;
  if (c->relation) {
    const char *table;
    int rc = sqlp__relname(st, c->relation, &table);
    if (rc) return rc;
    if (!(st->rel = sqlp__dup(table))) return SYN_ENOMEM;
  } else if (c->query) {
    if (c->query->node_case != PG_QUERY__NODE__NODE_SELECT_STMT)
      return sqlp__unsupported(st, -1, "COPY of a statement other than SELECT");
    st->copy_query = c->query;
  }
  for (size_t i = 0; i < c->n_attlist; i++) {
    const char *name = sqlp__str(c->attlist[i]);
    if (!name) return sqlp__unsupported(st, -1, "this COPY column list");
    if (sqlp__add_name(st, name)) return SYN_ENOMEM;
  }
  for (size_t i = 0; i < c->n_options; i++) {
    const PgQuery__Node *n = c->options[i];
    if (n->node_case != PG_QUERY__NODE__NODE_DEF_ELEM)
      return sqlp__unsupported(st, -1, "this COPY option");
    const PgQuery__DefElem *d = n->def_elem;
    char tmp[32];
    syn_err e;
    int rc = cpy_opts_set(st->copy, d->defname, opt_text(d->arg, tmp, sizeof tmp), &e);
    if (rc == SYN_ENOMEM) return rc;
    if (rc) {
      st->status = rc;
      st->err = e;
      /* PostgreSQL points at the option only for these (parser_errposition). */
      bool pos = strncmp(e.msg, "42601", 5) == 0 || strstr(e.msg, "COPY format") != NULL;
      st->err_pos = pos && d->location >= 0 ? d->location + 1 : 0;
      return 0;
    }
  }
  syn_err e;
  int rc = cpy_opts_finish(st->copy, &e);
  if (rc == SYN_ENOMEM) return rc;
  if (rc) {
    st->status = rc;
    st->err = e;
  }
  return 0;
}
