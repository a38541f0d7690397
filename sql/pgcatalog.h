/*
** PostgreSQL's system catalogs (pg_catalog) and information_schema, as far
** as psql's meta-commands and tab completion read them (prefix pgc_).
**
** The tables are ordinary SQLite tables in two in-memory databases each
** session attaches as "pg_catalog" and "information_schema"; pgc_fill_sql
** produces the statements that create and fill them from the user catalog.
** A session runs them on its current connection the first time a
** statement needs them (sqlr_catalog.need_system), and again after DDL
** gave it a fresh connection. The rewrite resolves pg_catalog.x / information_schema.x (and an
** unqualified pg_catalog name, pg_catalog being first on PostgreSQL's
** search_path) through pgc_find and types the columns with PostgreSQL's
** types (oid 26, name 19, "char" 18, ...).
**
** Representation: oid-like types (oid, regclass, regtype, regproc,
** regnamespace) are SQLite integers; name, "char", pg_node_tree and text
** are text; bool is 0/1; arrays (text[], oid[], "char"[], aclitem[]) and
** int2vector/oidvector are text in PostgreSQL's output format ("{a,b}",
** "1 2").
**
** OIDs: PostgreSQL's own for namespaces (pg_catalog 11, public 2200,
** information_schema 13207), types, access methods (btree 403), the
** database (5) and the bootstrap role (10, which is the session user here:
** synod has one user, whoever connected). A user table with catalog id N
** has OID 16384 + 256 * (N mod 16000000); its indexes are that + 1 + k
** (primary key first, then unique constraints, then indexes; k < 127), the
** constraints backing the primary key and unique constraints that + 128 +
** k, column defaults that + 64 + column, serial sequences that + 192 +
** column. System tables are PGC_SYSTEM_OID0 + their position in pgc's
** list.
*/
#ifndef SYN_SQL_PGCATALOG_H
#define SYN_SQL_PGCATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "sql/catalog.h"

/* PostgreSQL type OIDs of system columns (beyond catalog.h's). */
enum {
  PGC_OID_CHAR = 18, /* "char" */
  PGC_OID_NAME = 19,
  PGC_OID_INT2VECTOR = 22,
  PGC_OID_REGPROC = 24,
  PGC_OID_OID = 26,
  PGC_OID_OIDVECTOR = 30,
  PGC_OID_NODE_TREE = 194,
  PGC_OID_CHAR_ARRAY = 1002,
  PGC_OID_INT2_ARRAY = 1005,
  PGC_OID_TEXT_ARRAY = 1009,
  PGC_OID_OID_ARRAY = 1028,
  PGC_OID_ACL_ARRAY = 1034,
  PGC_OID_REGCLASS = 2205,
  PGC_OID_REGTYPE = 2206,
  PGC_OID_REGNAMESPACE = 4089,
};

#define PGC_NSP_CATALOG 11u
#define PGC_NSP_PUBLIC 2200u
#define PGC_NSP_INFO 13207u
#define PGC_ROLE_OID 10u
#define PGC_DB_OID 5u
#define PGC_SYSTEM_OID0 12000u /* system table i has OID PGC_SYSTEM_OID0 + i */

typedef struct pgc_col {
  const char *name;
  uint32_t type;
} pgc_col;

typedef struct pgc_table {
  const char *schema; /* "pg_catalog" or "information_schema" */
  const char *name;
  const pgc_col *cols;
  int ncols;
} pgc_table;

/* The system table schema.name; schema NULL: an unqualified name, which
** PostgreSQL looks up in pg_catalog first. NULL when there is none. */
const pgc_table *pgc_find(const char *schema, const char *name);

/* True for the schemas that hold only system tables. */
bool pgc_is_system_schema(const char *schema);

/* Whether values of type oid are integers (oid, reg*) in the session. */
bool pgc_type_is_oid(uint32_t oid);

/* PostgreSQL's format_type(oid, typmod) for every type synod knows; NULL
** for an OID it does not. buf must hold 64 bytes. */
const char *pgc_format_type(uint32_t oid, int32_t typmod, char *buf, size_t cap);

/* A stored role for pg_roles / pg_user (the session user is always role
** 10; other roles get PGC_ROLE_OID0 + their index). */
typedef struct pgc_role {
  const char *name;
  bool login, superuser, has_password;
} pgc_role;
#define PGC_ROLE_OID0 4200000000u
/* pgc_fill_sql with the cluster's roles. */
int pgc_fill_sql_roles(cat_table *const *tabs, int ntabs, const char *user, const char *database,
                       const pgc_role *roles, size_t nroles, cat_buf *out, syn_err *e);
/* Statements (separated by ";", one transaction: BEGIN ... COMMIT) that
** create the system tables in the attached databases and fill them for
** the given user tables, session user and database. */
int pgc_fill_sql(cat_table *const *tabs, int ntabs, const char *user, const char *database,
                 cat_buf *out, syn_err *e);

/* The synthetic OID of a user table (see above). */
uint32_t pgc_table_oid(const cat_table *t);

#endif /* SYN_SQL_PGCATALOG_H */
