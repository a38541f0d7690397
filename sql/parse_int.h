/*
** internal: shared between parse.c and ddl.c; not a public header.
*/
#ifndef SYN_SQL_PARSE_INT_H
#define SYN_SQL_PARSE_INT_H

#include <pg_query/pg_query.pb-c.h>

#include "sql/parse.h"
#include "sql/sqlstate.h"

char *sqlp__dup(const char *s);
/* Record a per-statement error at source offset loc (-1: none). */
int sqlp__fail(sqlp_stmt *st, int loc, sqlst_kind k, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int sqlp__unsupported(sqlp_stmt *st, int loc, const char *feature);
int sqlp__add_name(sqlp_stmt *st, const char *s);
const char *sqlp__str(const PgQuery__Node *n);
int sqlp__qualified(sqlp_stmt *st, PgQuery__Node **items, size_t n, const char **name);
int sqlp__relname(sqlp_stmt *st, const PgQuery__RangeVar *rv, const char **name);

int sqlp__create_table(sqlp_stmt *st, const PgQuery__CreateStmt *c);
int sqlp__create_index(sqlp_stmt *st, const PgQuery__IndexStmt *c);
int sqlp__drop(sqlp_stmt *st, const PgQuery__DropStmt *d);
int sqlp__truncate(sqlp_stmt *st, const PgQuery__TruncateStmt *t);
int sqlp__alter(sqlp_stmt *st, const PgQuery__AlterTableStmt *a);
int sqlp__rename(sqlp_stmt *st, const PgQuery__RenameStmt *r);
/* parse_prepare.c; src is the whole query string. */
int sqlp__prepare(sqlp_stmt *st, const char *src);
int sqlp__execute(sqlp_stmt *st);
int sqlp__deallocate(sqlp_stmt *st);
/* parse_role.c */
int sqlp__create_role(sqlp_stmt *st, const PgQuery__CreateRoleStmt *c);
int sqlp__alter_role(sqlp_stmt *st, const PgQuery__AlterRoleStmt *a);
int sqlp__drop_role(sqlp_stmt *st, const PgQuery__DropRoleStmt *d);
int sqlp__rename_role(sqlp_stmt *st, const PgQuery__RenameStmt *r);
/* parse_copy.c */
int sqlp__copy(sqlp_stmt *st, const PgQuery__CopyStmt *c);

#endif /* SYN_SQL_PARSE_INT_H */
