/*
** Parsing and classification of PostgreSQL statements (libpg_query).
**
** sqlp_parse() splits a query string into statements, keeps each one's AST
** and byte range in the source, and classifies it. Transaction control,
** SET/SHOW and DDL are decoded here into plain fields (DDL into catalog
** structs), because they never reach SQLite; SELECT/INSERT/UPDATE/DELETE
** keep their AST for sqlr_rewrite().
**
** Errors come at two levels, as in PostgreSQL: a syntax error anywhere
** fails the whole string (42601, with the 1-based cursor position), while
** a statement that parses but is unsupported or invalid (0A000, 42P16 ...)
** carries its own error in sqlp_stmt.status/err and only fails when the
** session reaches it.
*/
#ifndef SYN_SQL_PARSE_H
#define SYN_SQL_PARSE_H

#include <stdbool.h>

#include "common/err.h"
#include "sql/catalog.h"
#include "sql/copy.h"

struct PgQuery__Node;

typedef enum {
  SQLP_SELECT,
  SQLP_INSERT,
  SQLP_UPDATE,
  SQLP_DELETE,
  SQLP_CREATE_TABLE,
  SQLP_DROP_TABLE,
  SQLP_CREATE_INDEX,
  SQLP_DROP_INDEX,
  SQLP_TRUNCATE,
  SQLP_ALTER_TABLE,
  SQLP_BEGIN,
  SQLP_COMMIT,
  SQLP_ROLLBACK,
  SQLP_SET,
  SQLP_SHOW,
  SQLP_UNSUPPORTED,
  SQLP_PREPARE,
  SQLP_EXECUTE,
  SQLP_DEALLOCATE,
  SQLP_COPY,
  SQLP_CREATE_ROLE,
  SQLP_ALTER_ROLE,
  SQLP_DROP_ROLE,
} sqlp_kind;

typedef enum {
  SQLP_ISO_DEFAULT = 0, /* not given: the session default */
  SQLP_ISO_READ_COMMITTED,
  SQLP_ISO_REPEATABLE_READ,
  SQLP_ISO_SERIALIZABLE,
} sqlp_isolation;

typedef enum {
  SQLP_ALTER_ADD_COLUMN,
  SQLP_ALTER_DROP_COLUMN,
  SQLP_ALTER_RENAME_COLUMN,
  SQLP_ALTER_ADD_PRIMARY_KEY,
} sqlp_alter_kind;

/* CREATE/ALTER ROLE options (parse_role.c). */
typedef struct sqlp_role {
  int login, superuser; /* -1 not given, 0 NO..., 1 given */
  int password;         /* 0 not given, 1 PASSWORD 'x' (in value), 2 PASSWORD NULL */
  bool rename;          /* ALTER ROLE name RENAME TO value */
  bool user;            /* CREATE USER: LOGIN unless NOLOGIN */
} sqlp_role;

typedef struct sqlp_stmt {
  sqlp_kind kind;
  int location; /* byte offset of the statement in the source */
  int length;   /* byte length of its text */
  const struct PgQuery__Node *node; /* AST, owned by the list */

  /* Nonzero when executing this statement must fail with err; err_pos is
  ** the 1-based cursor position in the whole source, or 0. */
  int status;
  syn_err err;
  int err_pos;
  const char *feature; /* SQLP_UNSUPPORTED: the construct, e.g. "COPY" */

  /* Decoded fields; which are set depends on kind:
  **   CREATE_TABLE  table (owned), if_not_exists
  **   DROP_TABLE, DROP_INDEX, TRUNCATE  names/nnames, if_exists, cascade
  **   CREATE_INDEX  rel, name (index; generated when omitted), names =
  **                 columns, unique, if_not_exists
  **   ALTER_TABLE   rel, alter and: ADD_COLUMN table (one column, the new
  **                 one), if_not_exists; DROP_COLUMN name, if_exists;
  **                 RENAME_COLUMN name -> value; ADD_PRIMARY_KEY names
  **   BEGIN         iso, read_only (when read_only_set)
  **   SET           name, value (NULL for DEFAULT/RESET), is_local;
  **                 SET TRANSACTION ISOLATION LEVEL x sets name
  **                 "transaction_isolation" and iso
  **   SHOW          name ("all" for SHOW ALL)
  **   PREPARE, EXECUTE, DEALLOCATE  see sql/parse_prepare.c
  **   CREATE_ROLE   name, role (password text in value)
  **   ALTER_ROLE    name, role; role.rename: new name in value
  **   DROP_ROLE     names/nnames, if_exists
  **   COPY          copy (options, direction in copy->is_from); rel (table)
  **                 or copy_query (the SELECT of COPY (...) TO); names =
  **                 column list (nnames 0: all). See sql/parse_copy.c
  */
  cat_table *table;
  char *rel;
  char *name;
  char *value;
  char **names;
  int nnames;
  uint32_t *types; /* PREPARE: parameter type OIDs given */
  int ntypes;
  cpy_opts *copy;                     /* owned */
  const struct PgQuery__Node *copy_query; /* borrowed from the tree */
  sqlp_alter_kind alter;
  sqlp_role role;
  sqlp_isolation iso;
  bool if_exists, if_not_exists, cascade, unique, is_local, read_only, read_only_set;
} sqlp_stmt;

typedef struct sqlp_list {
  int n;
  sqlp_stmt *stmts;
  const char *source; /* copy of the input, owned */
  void *tree_;        /* PgQuery__ParseResult, owned */
} sqlp_list;

/* Parse sql (NUL-terminated). On a syntax error returns SYN_EINVAL with
** "42601: ..." in e and *err_cursor = libpg_query's 1-based position (0 if
** unknown). An empty or comment-only string yields n == 0. */
int sqlp_parse(const char *sql, sqlp_list **out, int *err_cursor, syn_err *e);
void sqlp_list_free(sqlp_list *l);

const char *sqlp_kind_name(sqlp_kind k);

/* The command tag PostgreSQL sends in CommandComplete for statements that
** do not count rows ("CREATE TABLE", "BEGIN", "SET" ...); NULL for
** SELECT/INSERT/UPDATE/DELETE whose tags carry a row count. */
const char *sqlp_command_tag(const sqlp_stmt *st);

#endif /* SYN_SQL_PARSE_H */
