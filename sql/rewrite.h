/*
** PostgreSQL -> SQLite rewriting of SELECT/INSERT/UPDATE/DELETE.
**
** Every statement becomes one SQLite SELECT (sqlr_query.sql). Reads are
** just that SELECT. DML is planned as a query because SQLite's virtual
** tables support neither RETURNING nor ON CONFLICT: the SELECT yields the
** rows to write and the engine applies the writes to the transaction's
** write set itself:
**
**   INSERT  sql yields one row per new row: the values of insert_cols[] in
**           order (columns not listed take their defaults; with ninsert 0,
**           one row of all defaults). ON CONFLICT is described by conflict,
**           conflict_cols and, for DO UPDATE, conflict_sql (below).
**   UPDATE  sql is a locking read yielding, per target row: the old row
**           (ncols table columns in order, then the rowid when the table
**           has a hidden rowid), then the new values of set_cols[].
**   DELETE  sql is a locking read yielding the old row (as for UPDATE).
**
** Parameters: the client's $n is ?n. Numbers above nparams are synod's:
**   now_param       (when nonzero) the statement timestamp, bound as text
**                   in timestamptz output form, so every row of a statement
**                   sees the same now();
**   ?(row_base + k) k = 1..ncols: a whole row of the target table, used by
**                   returning_sql (the new row for INSERT/UPDATE, the old
**                   row for DELETE) and conflict_sql (the existing row);
**   ?(row_base + ncols + k)  the proposed row ("excluded") in conflict_sql.
**
**   returning_sql   SELECT of the RETURNING list over the bound row;
**                   ret_cols describe its columns. NULL without RETURNING.
**   conflict_sql    DO UPDATE: SELECT of the new values of
**                   conflict_set_cols[] over the bound existing and
**                   proposed rows; no row when the DO UPDATE ... WHERE is
**                   false.
**
** Result types: cols[] gives each output column's PG type OID (text when
** it cannot be derived). The session must run SQLite with
** PRAGMA case_sensitive_like = ON, as PostgreSQL's LIKE is case-sensitive.
*/
#ifndef SYN_SQL_REWRITE_H
#define SYN_SQL_REWRITE_H

#include "common/err.h"
#include "sql/catalog.h"
#include "sql/parse.h"

struct PgQuery__Node;

/* Find a table by name: 0 and *out, or SYN_ENOTFOUND. */
typedef int (*sqlr_lookup_fn)(void *ctx, const char *name, const cat_table **out);

/* Called once per rewrite before the first use of pg_catalog /
** information_schema (a system table, or SQL over them for a function,
** cast or session value), so the caller can build them lazily; 0 or an
** error that fails the statement. NULL: they are always there. */
typedef int (*sqlr_system_fn)(void *ctx, syn_err *e);

typedef struct sqlr_catalog {
  sqlr_lookup_fn lookup;
  void *ctx;
  sqlr_system_fn need_system;
} sqlr_catalog;

typedef struct sqlr_col {
  char *name;
  uint32_t type_oid;
  int32_t typmod;
} sqlr_col;

typedef enum {
  SQLR_CONFLICT_NONE = 0,
  SQLR_CONFLICT_NOTHING,
  SQLR_CONFLICT_UPDATE,
} sqlr_conflict;

typedef struct sqlr_query {
  sqlp_kind kind;
  char *sql;
  int nparams;   /* highest $n the client used */
  /* nparams entries: the PG type inferred for each $n from its context
  ** (compared column, cast, INSERT target, SET column, LIMIT), 0 when
  ** nothing says; for ParameterDescription and for binding text values. */
  uint32_t *param_types;
  int now_param; /* 0 when now() is not used */
  int row_base;
  bool locking;  /* scans are locking reads (UPDATE, DELETE, FOR UPDATE) */
  int ncols;
  sqlr_col *cols;

  const cat_table *target; /* borrowed from the catalog callback */
  int nset;
  int *set_cols;
  int ninsert;
  int *insert_cols;

  char *returning_sql;
  int nret;
  sqlr_col *ret_cols;

  sqlr_conflict conflict;
  int nconflict_cols; /* 0 with CONFLICT_NOTHING: any unique key */
  int *conflict_cols;
  char *conflict_sql;
  int nconflict_set;
  int *conflict_set_cols;
} sqlr_query;

/* Rewrite a SELECT/INSERT/UPDATE/DELETE statement. On error *err_pos is the
** 1-based position in the source of the offending construct, or 0. */
int sqlr_rewrite(const sqlp_stmt *st, const sqlr_catalog *cat, sqlr_query **out,
                 int *err_pos, syn_err *e);
void sqlr_query_free(sqlr_query *q);

/* Rewrite a column DEFAULT expression (no column references, subqueries or
** parameters allowed) into SQLite SQL; the statement timestamp appears as
** the named parameter :now. *sql is malloc'd. */
int sqlr_default_expr(const struct PgQuery__Node *expr, char **sql, syn_err *e);

#endif /* SYN_SQL_REWRITE_H */
