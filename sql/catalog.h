/*
** Catalog types: the declared shape of a distributed table.
**
** A cat_table describes what PostgreSQL clients see (column names, PG type
** OID and typmod, NOT NULL, defaults, keys) and how synod distributes it
** (distribution column). The SQL layer enforces the declared types on every
** write with cat_coerce(), because the executor (SQLite) only knows storage
** classes; and formats values for clients with cat_format_text().
**
** Storage mapping (PG type -> SQLite storage class of syn_value):
**   int2 int4 int8 bool          INT   (bool is 0/1)
**   float4 float8                REAL
**   numeric                      TEXT: PostgreSQL's numeric output with its
**                                display scale ('1.50', 'NaN'), exact
**                                (common/decimal.h), rounded to a declared
**                                scale; compared by value under the
**                                session's synnum collation
**   text varchar bpchar          TEXT
**   bytea                        BLOB
**   date                         TEXT 'YYYY-MM-DD'
**   timestamp                    TEXT 'YYYY-MM-DD HH:MM:SS[.ffffff]'
**   timestamptz                  TEXT 'YYYY-MM-DD HH:MM:SS[.ffffff]+00' (UTC)
** The date/time forms are PostgreSQL's own output format (ISO DateStyle,
** TimeZone UTC), and they sort lexically in time order for years 1..9999,
** so SQLite comparisons and ORDER BY are correct on them.
**
** typmod follows PostgreSQL: -1 for none, varchar(n)/char(n) store n + 4,
** numeric(p,s) stores ((p << 16) | s) + 4.
*/
#ifndef SYN_SQL_CATALOG_H
#define SYN_SQL_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/value.h"

/* PostgreSQL type OIDs (pg_type.dat). */
enum {
  CAT_OID_BOOL = 16,
  CAT_OID_BYTEA = 17,
  CAT_OID_INT8 = 20,
  CAT_OID_INT2 = 21,
  CAT_OID_INT4 = 23,
  CAT_OID_TEXT = 25,
  CAT_OID_FLOAT4 = 700,
  CAT_OID_FLOAT8 = 701,
  CAT_OID_BPCHAR = 1042,
  CAT_OID_VARCHAR = 1043,
  CAT_OID_DATE = 1082,
  CAT_OID_TIMESTAMP = 1114,
  CAT_OID_TIMESTAMPTZ = 1184,
  CAT_OID_NUMERIC = 1700,
};

typedef enum {
  CAT_DEF_NONE = 0,
  CAT_DEF_EXPR = 1,   /* def_sql is a SQLite expression, evaluated per row */
  CAT_DEF_SERIAL = 2, /* def_sql names the sequence ("<table>_<col>_seq") */
} cat_default_kind;

typedef struct cat_column {
  char *name;
  uint32_t type_oid;
  int32_t typmod;
  bool not_null;
  cat_default_kind def_kind;
  char *def_sql; /* NULL when def_kind == CAT_DEF_NONE */
  int position;  /* 1-based, as PostgreSQL's attnum */
} cat_column;

/* A unique constraint or an index: column positions are 0-based indexes
** into cat_table.cols. */
typedef struct cat_index {
  char *name;
  bool unique;
  int ncols;
  int *cols;
} cat_index;

typedef struct cat_table {
  uint64_t id; /* assigned by the replicated catalog; 0 until then */
  char *name;
  int ncols;
  cat_column *cols;
  int npk; /* 0: no primary key, rows are keyed by a hidden rowid */
  int *pk;
  bool hidden_rowid;
  /* Index into cols of the distribution column, or -1 to distribute on
  ** the hidden rowid (tables without a primary key and without an explicit
  ** distribution_key). */
  int dist_col;
  int nuniques;
  cat_index *uniques;
  int nindexes;
  cat_index *indexes;
} cat_table;

/* A growable byte buffer for outputs whose size is not known in advance
** (coerced text, formatted values, serialised tables). Zero-initialise it,
** reuse it across calls, release it with cat_buf_free. */
typedef struct cat_buf {
  char *p;
  size_t n;
  size_t cap;
} cat_buf;

void cat_buf_free(cat_buf *b);
int cat_buf_append(cat_buf *b, const void *p, size_t n);
int cat_buf_printf(cat_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- types ---- */

/* Resolve a PostgreSQL type name as the parser hands it over (last name
** component, e.g. "int4", "varchar", "bpchar", "timestamptz", "serial")
** with up to two typmod arguments (nmods 0..2). serial/bigserial/smallserial
** resolve to their integer type and set *serial. Unknown names -> 42704,
** bad modifiers -> 22023. */
int cat_type_resolve(const char *name, const int32_t *mods, int nmods,
                     uint32_t *oid, int32_t *typmod, bool *serial, syn_err *e);

/* PostgreSQL's name of a type with its modifier, e.g. "character varying(10)". */
void cat_type_display(uint32_t oid, int32_t typmod, char *buf, size_t cap);

/* typlen for RowDescription: fixed size in bytes or -1 for varlena. */
int16_t cat_type_len(uint32_t oid);

/* The SQLite storage class values of this type are written as. */
syn_vtype cat_type_storage(uint32_t oid);

/* A SQLite column type name giving the matching affinity ("INTEGER",
** "REAL", "TEXT", "BLOB"; numeric is "TEXT": its values are numeric text). */
const char *cat_type_sqlite(uint32_t oid);

bool cat_type_supported(uint32_t oid);

/* ---- values ---- */

/* Coerce a value written into col to the column's declared type, the way
** PostgreSQL's assignment casts do. On success *out holds the value to
** store; its TEXT/BLOB bytes point into `in` or into scratch (valid until
** scratch is next used or freed). Errors: 23502 NULL into NOT NULL,
** 22P02 text not valid for the type, 22003 out of range, 22001 too long,
** 22007/22008 bad dates, 42804 a BLOB for a non-bytea column. */
int cat_coerce(const cat_column *col, const syn_value *in, syn_value *out,
               cat_buf *scratch, syn_err *e);

/* Coerce a value to a bare type (as a ::cast would), without NOT NULL. */
/* Proleptic Gregorian calendar: days since 1970-01-01 and back. */
int64_t cat_days_from_civil(int64_t y, int m, int d);
void cat_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

int cat_coerce_type(uint32_t oid, int32_t typmod, const syn_value *in,
                    syn_value *out, cat_buf *scratch, syn_err *e);

/* Assignment cast of a value whose SQL type is numeric (numeric text) into
** a column of type oid: integers round half away from zero (22003 outside
** the type), floats take the text's double. Other values and other target
** types are left alone for cat_coerce. */
int cat_numeric_assign(uint32_t oid, syn_value *v, syn_err *e);

/* The stored key form of a value compared with numeric column col: the
** value as numeric(p,s) for a declared scale, else without trailing
** fractional zeros (what cat_coerce_row stores for key columns). Fails
** (no key form) for text that is no number or a value outside numeric(p,s);
** *out may point into scratch. */
int cat_numeric_key(const cat_column *col, const syn_value *in, syn_value *out,
                    cat_buf *scratch, syn_err *e);

/* Coerce a whole row (ncols values in column order) in place, naming the
** relation in NOT NULL errors as PostgreSQL does. scratch is an array of
** ncols buffers, one per column, since each coerced value may point into
** its own. */
int cat_coerce_row(const cat_table *t, syn_value *vals, cat_buf *scratch,
                   int ncols, syn_err *e);

/* Format a stored value as PostgreSQL's text output of the type: bool t/f,
** floats shortest round-trip, numeric at its declared scale, bytea \x hex,
** dates as stored. NULL has no text form: returns SYN_EINVAL. The text is
** appended to out (out->n grows; it is NUL-terminated after the call). */
int cat_format_text(uint32_t oid, int32_t typmod, const syn_value *v,
                    cat_buf *out, syn_err *e);

/* Shortest text that reads back as exactly d, in PostgreSQL's float8out
** style ("1e+20", "0.1", "NaN", "-Infinity"). float4 when is_float4. */
void cat_format_float(double d, bool is_float4, char *buf, size_t cap);

/* ---- tables ---- */

cat_table *cat_table_new(const char *name);
void cat_table_free(cat_table *t);

/* Add a column (copied); returns its index or a negative status
** (42701 duplicate column). */
int cat_table_add_column(cat_table *t, const char *name, uint32_t oid,
                         int32_t typmod, bool not_null, cat_default_kind dk,
                         const char *def_sql, syn_err *e);

/* Index of a column by name, -1 when absent. */
int cat_table_find_column(const cat_table *t, const char *name);

/* Append a unique constraint / index over the given column indexes. */
/* A unique index or constraint is enforced shard by shard, which is only
** right if rows with equal key values always land on one shard: the key must
** contain the distribution column (Citus has the same rule). 0, or 0A000
** naming the index. */
int cat_unique_check(const cat_table *t, const char *name, const int *cols, int ncols,
                     syn_err *e);

int cat_table_add_index(cat_table *t, bool as_constraint, const char *name,
                        bool unique, const int *cols, int ncols, syn_err *e);

/* Deep copy. */
cat_table *cat_table_copy(const cat_table *t);

/* Compact text serialisation for the replicated log. Format (one record per
** line, strings written as <byte length>:<bytes> so any byte is allowed):
**
**   synod-table 1
**   table <id> <name> <dist_col> <hidden_rowid 0|1>
**   col <name> <oid> <typmod> <not_null 0|1> <def_kind 0|1|2> <def_sql>
**   pk <n> <i>...
**   unique <name> <n> <i>...
**   index <name> <unique 0|1> <n> <i>...
**
** Column positions follow the order of the col lines. Decoding validates
** every index and type; a bad encoding is SYN_ECORRUPT. */
int cat_table_encode(const cat_table *t, cat_buf *out, syn_err *e);
int cat_table_decode(const char *p, size_t n, cat_table **out, syn_err *e);

/* The SQLite column list declaring t, for sqlite3_declare_vtab() or a
** plain table in tests: CREATE TABLE "name" ("a" INTEGER, "b" TEXT, ...),
** column types from cat_type_sqlite() so SQLite applies the same affinity
** as the stored values have; numeric columns add COLLATE synnum (the
** session registers it: sql/engine/eng_numeric.c). Appended to out. */
int cat_table_sqlite_decl(const cat_table *t, cat_buf *out, syn_err *e);

/* True when two definitions are equal field by field. */
bool cat_table_equal(const cat_table *a, const cat_table *b);

#endif /* SYN_SQL_CATALOG_H */
