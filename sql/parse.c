/*
** Statement parsing and classification (parse.h). DDL decoding into
** catalog structs is in ddl.c.
*/
#include "sql/parse.h"
#include "sql/parse_int.h"
#include "sql/sqlstate.h"

#include <pg_query.h>
#include <stdio.h>
#include <pg_query/pg_query.pb-c.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *sqlp__dup(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s);
  char *p = malloc(n + 1);
  if (p) memcpy(p, s, n + 1);
  return p;
}

int sqlp__fail(sqlp_stmt *st, int loc, sqlst_kind k, const char *fmt, ...) {
  char text[SYN_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  st->status = sqlst_set(&st->err, k, "%s", text);
  st->err_pos = loc >= 0 ? loc + 1 : 0;
  return st->status;
}

int sqlp__unsupported(sqlp_stmt *st, int loc, const char *feature) {
  st->feature = feature;
  return sqlp__fail(st, loc, SQLST_FEATURE, "%s is not supported", feature);
}

int sqlp__add_name(sqlp_stmt *st, const char *s) {
  char **names = realloc(st->names, sizeof *names * (size_t)(st->nnames + 1));
  if (!names) return SYN_ENOMEM;
  st->names = names;
  if (!(names[st->nnames] = sqlp__dup(s))) return SYN_ENOMEM;
  st->nnames++;
  return 0;
}

const char *sqlp__str(const PgQuery__Node *n) {
  if (n && n->node_case == PG_QUERY__NODE__NODE_STRING) return n->string->sval;
  return NULL;
}

/* A qualified name list (schema.name): only the default schema exists. */
int sqlp__qualified(sqlp_stmt *st, PgQuery__Node **items, size_t n, const char **name) {
  if (n == 2 && sqlp__str(items[0]) && strcmp(sqlp__str(items[0]), "public") == 0) {
    items++;
    n--;
  }
  if (n != 1 || !sqlp__str(items[0]))
    return sqlp__unsupported(st, -1, "schema-qualified names");
  *name = sqlp__str(items[0]);
  return 0;
}

int sqlp__relname(sqlp_stmt *st, const PgQuery__RangeVar *rv, const char **name) {
  if (rv->schemaname && *rv->schemaname && strcmp(rv->schemaname, "public") != 0)
    return sqlp__unsupported(st, rv->location, "schema-qualified names");
  *name = rv->relname;
  return 0;
}

/* ---- transaction control and settings ---- */

static sqlp_isolation iso_of(const char *s) {
  if (strcasecmp(s, "serializable") == 0) return SQLP_ISO_SERIALIZABLE;
  if (strcasecmp(s, "repeatable read") == 0) return SQLP_ISO_REPEATABLE_READ;
  /* READ UNCOMMITTED behaves as READ COMMITTED, as in PostgreSQL. */
  return SQLP_ISO_READ_COMMITTED;
}

static int txn_options(sqlp_stmt *st, PgQuery__Node **opts, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (opts[i]->node_case != PG_QUERY__NODE__NODE_DEF_ELEM) continue;
    const PgQuery__DefElem *d = opts[i]->def_elem;
    const PgQuery__Node *a = d->arg;
    if (strcmp(d->defname, "transaction_isolation") == 0 && a &&
        a->node_case == PG_QUERY__NODE__NODE_A_CONST &&
        a->a_const->val_case == PG_QUERY__A__CONST__VAL_SVAL) {
      st->iso = iso_of(a->a_const->sval->sval);
    } else if (strcmp(d->defname, "transaction_read_only") == 0 && a &&
               a->node_case == PG_QUERY__NODE__NODE_A_CONST &&
               a->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
      st->read_only = a->a_const->ival->ival != 0;
      st->read_only_set = true;
    } else if (strcmp(d->defname, "transaction_deferrable") == 0) {
      /* DEFERRABLE only matters for SERIALIZABLE READ ONLY; accepted. */
    } else {
      return sqlp__unsupported(st, d->location, "transaction option");
    }
  }
  return 0;
}

static int classify_txn(sqlp_stmt *st, const PgQuery__TransactionStmt *t) {
  switch (t->kind) {
  case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_BEGIN:
  case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_START:
    st->kind = SQLP_BEGIN;
    return txn_options(st, t->options, t->n_options);
  case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT:
    st->kind = SQLP_COMMIT;
    if (t->chain) return sqlp__unsupported(st, -1, "COMMIT AND CHAIN");
    return 0;
  case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK:
    st->kind = SQLP_ROLLBACK;
    if (t->chain) return sqlp__unsupported(st, -1, "ROLLBACK AND CHAIN");
    return 0;
  case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_SAVEPOINT:
  case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_RELEASE:
  case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_TO:
    st->kind = SQLP_UNSUPPORTED;
    return sqlp__unsupported(st, -1, "savepoints");
  default:
    st->kind = SQLP_UNSUPPORTED;
    return sqlp__unsupported(st, -1, "two-phase commit statements");
  }
}

/* Render a SET argument list the way PostgreSQL's GUC code flattens it:
** constants joined by ", ". */
static int set_value(sqlp_stmt *st, PgQuery__Node **args, size_t n) {
  cat_buf b = {0};
  for (size_t i = 0; i < n; i++) {
    const PgQuery__Node *a = args[i];
    if (a->node_case == PG_QUERY__NODE__NODE_TYPE_CAST) a = a->type_cast->arg;
    if (a->node_case != PG_QUERY__NODE__NODE_A_CONST) {
      cat_buf_free(&b);
      return sqlp__unsupported(st, -1, "SET with a non-constant value");
    }
    const PgQuery__AConst *c = a->a_const;
    int rc = i ? cat_buf_append(&b, ", ", 2) : 0;
    switch (c->val_case) {
    case PG_QUERY__A__CONST__VAL_SVAL: rc |= cat_buf_printf(&b, "%s", c->sval->sval); break;
    case PG_QUERY__A__CONST__VAL_IVAL: rc |= cat_buf_printf(&b, "%d", (int)c->ival->ival); break;
    case PG_QUERY__A__CONST__VAL_FVAL: rc |= cat_buf_printf(&b, "%s", c->fval->fval); break;
    case PG_QUERY__A__CONST__VAL_BOOLVAL:
      rc |= cat_buf_printf(&b, "%s", c->boolval->boolval ? "on" : "off");
      break;
    default: rc |= cat_buf_printf(&b, "%s", "");
    }
    if (rc) {
      cat_buf_free(&b);
      return SYN_ENOMEM;
    }
  }
  st->value = b.p ? b.p : sqlp__dup("");
  return st->value ? 0 : SYN_ENOMEM;
}

static int classify_set(sqlp_stmt *st, const PgQuery__VariableSetStmt *v) {
  st->kind = SQLP_SET;
  st->is_local = v->is_local;
  switch (v->kind) {
  case PG_QUERY__VARIABLE_SET_KIND__VAR_SET_VALUE:
    st->name = sqlp__dup(v->name);
    return set_value(st, v->args, v->n_args);
  case PG_QUERY__VARIABLE_SET_KIND__VAR_SET_DEFAULT:
  case PG_QUERY__VARIABLE_SET_KIND__VAR_RESET:
    st->name = sqlp__dup(v->name);
    return 0;
  case PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL:
    st->name = sqlp__dup("all");
    return 0;
  case PG_QUERY__VARIABLE_SET_KIND__VAR_SET_MULTI:
    if (v->name && strcmp(v->name, "TRANSACTION") == 0) {
      st->name = sqlp__dup("transaction_isolation");
      int rc = txn_options(st, v->args, v->n_args);
      if (rc) return rc;
      static const char *names[] = {"", "read committed", "repeatable read", "serializable"};
      st->value = sqlp__dup(names[st->iso]);
      return 0;
    }
    st->kind = SQLP_UNSUPPORTED;
    return sqlp__unsupported(st, -1, v->name && strcmp(v->name, "SESSION CHARACTERISTICS") == 0
                                         ? "SET SESSION CHARACTERISTICS"
                                         : "SET of this form");
  default:
    st->kind = SQLP_UNSUPPORTED;
    return sqlp__unsupported(st, -1, "SET FROM CURRENT");
  }
}

/* ---- classification ---- */

static const struct {
  PgQuery__Node__NodeCase c;
  const char *feature;
} unsupported_names[] = {
    {PG_QUERY__NODE__NODE_VIEW_STMT, "CREATE VIEW"},
    {PG_QUERY__NODE__NODE_EXPLAIN_STMT, "EXPLAIN"},
    {PG_QUERY__NODE__NODE_CREATE_SEQ_STMT, "CREATE SEQUENCE"},
    {PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT, "CREATE TABLE AS"},
    {PG_QUERY__NODE__NODE_CREATE_FUNCTION_STMT, "CREATE FUNCTION"},
    {PG_QUERY__NODE__NODE_CREATE_SCHEMA_STMT, "CREATE SCHEMA"},
    {PG_QUERY__NODE__NODE_CREATEDB_STMT, "CREATE DATABASE"},
    {PG_QUERY__NODE__NODE_MERGE_STMT, "MERGE"},
    {PG_QUERY__NODE__NODE_DECLARE_CURSOR_STMT, "DECLARE CURSOR"},
    {PG_QUERY__NODE__NODE_FETCH_STMT, "FETCH"},
    {PG_QUERY__NODE__NODE_LOCK_STMT, "LOCK"},
    {PG_QUERY__NODE__NODE_VACUUM_STMT, "VACUUM"},
    {PG_QUERY__NODE__NODE_GRANT_STMT, "GRANT"},
    {PG_QUERY__NODE__NODE_DO_STMT, "DO"},
    {PG_QUERY__NODE__NODE_LISTEN_STMT, "LISTEN"},
    {PG_QUERY__NODE__NODE_NOTIFY_STMT, "NOTIFY"},
    {PG_QUERY__NODE__NODE_DISCARD_STMT, "DISCARD"},
    {PG_QUERY__NODE__NODE_COMMENT_STMT, "COMMENT"},
    {PG_QUERY__NODE__NODE_CALL_STMT, "CALL"},
};

static int classify(sqlp_stmt *st, const char *src) {
  const PgQuery__Node *n = st->node;
  switch (n->node_case) {
  case PG_QUERY__NODE__NODE_SELECT_STMT:
    st->kind = SQLP_SELECT;
    if (n->select_stmt->into_clause) {
      st->kind = SQLP_UNSUPPORTED;
      return sqlp__unsupported(st, -1, "SELECT INTO");
    }
    return 0;
  case PG_QUERY__NODE__NODE_INSERT_STMT: st->kind = SQLP_INSERT; return 0;
  case PG_QUERY__NODE__NODE_UPDATE_STMT: st->kind = SQLP_UPDATE; return 0;
  case PG_QUERY__NODE__NODE_DELETE_STMT: st->kind = SQLP_DELETE; return 0;
  case PG_QUERY__NODE__NODE_TRANSACTION_STMT:
    return classify_txn(st, n->transaction_stmt);
  case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT:
    return classify_set(st, n->variable_set_stmt);
  case PG_QUERY__NODE__NODE_VARIABLE_SHOW_STMT:
    st->kind = SQLP_SHOW;
    st->name = sqlp__dup(n->variable_show_stmt->name);
    return st->name ? 0 : SYN_ENOMEM;
  case PG_QUERY__NODE__NODE_CREATE_STMT:
    st->kind = SQLP_CREATE_TABLE;
    return sqlp__create_table(st, n->create_stmt);
  case PG_QUERY__NODE__NODE_INDEX_STMT:
    st->kind = SQLP_CREATE_INDEX;
    return sqlp__create_index(st, n->index_stmt);
  case PG_QUERY__NODE__NODE_DROP_STMT:
    return sqlp__drop(st, n->drop_stmt);
  case PG_QUERY__NODE__NODE_TRUNCATE_STMT:
    st->kind = SQLP_TRUNCATE;
    return sqlp__truncate(st, n->truncate_stmt);
  case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT:
    st->kind = SQLP_ALTER_TABLE;
    return sqlp__alter(st, n->alter_table_stmt);
  case PG_QUERY__NODE__NODE_CREATE_ROLE_STMT:
    return sqlp__create_role(st, n->create_role_stmt);
  case PG_QUERY__NODE__NODE_ALTER_ROLE_STMT:
    return sqlp__alter_role(st, n->alter_role_stmt);
  case PG_QUERY__NODE__NODE_DROP_ROLE_STMT:
    return sqlp__drop_role(st, n->drop_role_stmt);
  case PG_QUERY__NODE__NODE_RENAME_STMT:
    if (n->rename_stmt->rename_type == PG_QUERY__OBJECT_TYPE__OBJECT_ROLE)
      return sqlp__rename_role(st, n->rename_stmt);
    st->kind = SQLP_ALTER_TABLE;
    return sqlp__rename(st, n->rename_stmt);
  case PG_QUERY__NODE__NODE_PREPARE_STMT:
    st->kind = SQLP_PREPARE;
    return sqlp__prepare(st, src);
  case PG_QUERY__NODE__NODE_EXECUTE_STMT:
    st->kind = SQLP_EXECUTE;
    return sqlp__execute(st);
  case PG_QUERY__NODE__NODE_DEALLOCATE_STMT:
    st->kind = SQLP_DEALLOCATE;
    return sqlp__deallocate(st);
  case PG_QUERY__NODE__NODE_COPY_STMT:
    st->kind = SQLP_COPY;
    return sqlp__copy(st, n->copy_stmt);
  default:
    break;
  }
  st->kind = SQLP_UNSUPPORTED;
  for (size_t i = 0; i < sizeof unsupported_names / sizeof unsupported_names[0]; i++)
    if (unsupported_names[i].c == n->node_case)
      return sqlp__unsupported(st, -1, unsupported_names[i].feature);
  /* The protobuf field name of the node, e.g. "alter_seq_stmt". */
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field(&pg_query__node__descriptor, (unsigned)n->node_case);
  return sqlp__unsupported(st, -1, f ? f->name : "this statement");
}

int sqlp_parse(const char *sql, sqlp_list **out, int *err_cursor, syn_err *e) {
  *out = NULL;
  if (err_cursor) *err_cursor = 0;
  PgQueryProtobufParseResult r = pg_query_parse_protobuf(sql);
  if (r.error) {
    if (err_cursor) *err_cursor = r.error->cursorpos;
    int rc = sqlst_set(e, SQLST_SYNTAX, "%s", r.error->message);
    pg_query_free_protobuf_parse_result(r);
    return rc;
  }
  PgQuery__ParseResult *tree =
      pg_query__parse_result__unpack(NULL, r.parse_tree.len, (const uint8_t *)r.parse_tree.data);
  pg_query_free_protobuf_parse_result(r);
  if (!tree) return syn_err_set(e, SYN_EINTERNAL, "cannot unpack the parse tree");
  sqlp_list *l = calloc(1, sizeof *l);
  if (!l) {
    pg_query__parse_result__free_unpacked(tree, NULL);
    return syn_err_set(e, SYN_ENOMEM, "out of memory");
  }
  l->tree_ = tree;
  l->source = sqlp__dup(sql);
  l->stmts = calloc(tree->n_stmts ? tree->n_stmts : 1, sizeof *l->stmts);
  if (!l->source || !l->stmts) {
    sqlp_list_free(l);
    return syn_err_set(e, SYN_ENOMEM, "out of memory");
  }
  int total = (int)strlen(sql);
  for (size_t i = 0; i < tree->n_stmts; i++) {
    const PgQuery__RawStmt *raw = tree->stmts[i];
    sqlp_stmt *st = &l->stmts[l->n++];
    st->node = raw->stmt;
    st->location = raw->stmt_location;
    /* stmt_len 0 means "to the end of the string". */
    st->length = raw->stmt_len ? raw->stmt_len : total - raw->stmt_location;
    /* The parser counts the whitespace (and comments) after the previous
    ** ';' as part of the statement; skip plain whitespace so location
    ** points at the first keyword. */
    while (st->length > 0 && (sql[st->location] == ' ' || sql[st->location] == '\n' ||
                              sql[st->location] == '\t' || sql[st->location] == '\r')) {
      st->location++;
      st->length--;
    }
    syn_err_clear(&st->err);
    if (classify(st, sql) == SYN_ENOMEM) {
      sqlp_list_free(l);
      return syn_err_set(e, SYN_ENOMEM, "out of memory");
    }
  }
  *out = l;
  return 0;
}

void sqlp_list_free(sqlp_list *l) {
  if (!l) return;
  for (int i = 0; i < l->n; i++) {
    sqlp_stmt *st = &l->stmts[i];
    cat_table_free(st->table);
    free(st->rel);
    free(st->name);
    free(st->value);
    for (int k = 0; k < st->nnames; k++) free(st->names[k]);
    free(st->names);
    free(st->types);
    if (st->copy) cpy_opts_clear(st->copy);
    free(st->copy);
  }
  free(l->stmts);
  free((char *)l->source);
  if (l->tree_) pg_query__parse_result__free_unpacked(l->tree_, NULL);
  free(l);
}

const char *sqlp_kind_name(sqlp_kind k) {
  static const char *names[] = {
      "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE TABLE", "DROP TABLE",
      "CREATE INDEX", "DROP INDEX", "TRUNCATE", "ALTER TABLE", "BEGIN", "COMMIT",
      "ROLLBACK", "SET", "SHOW", "UNSUPPORTED", "PREPARE", "EXECUTE", "DEALLOCATE", "COPY",
      "CREATE ROLE", "ALTER ROLE", "DROP ROLE",
  };
  if ((int)k < 0 || (size_t)k >= sizeof names / sizeof names[0]) return "?";
  return names[k];
}

const char *sqlp_command_tag(const sqlp_stmt *st) {
  switch (st->kind) {
  case SQLP_SELECT: case SQLP_INSERT: case SQLP_UPDATE: case SQLP_DELETE:
  case SQLP_UNSUPPORTED:
    return NULL;
  case SQLP_TRUNCATE: return "TRUNCATE TABLE";
  case SQLP_EXECUTE: return NULL; /* the executed statement's tag */
  case SQLP_COPY: return NULL;    /* "COPY n" */
  case SQLP_DEALLOCATE: return st->name ? "DEALLOCATE" : "DEALLOCATE ALL";
  case SQLP_SHOW: return "SHOW";
  default: return sqlp_kind_name(st->kind);
  }
}
