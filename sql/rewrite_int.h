/*
** internal: shared by rewrite.c (statements, FROM, scopes) and
** rewrite_expr.c (expressions); not a public header.
*/
#ifndef SYN_SQL_REWRITE_INT_H
#define SYN_SQL_REWRITE_INT_H

#include <pg_query/pg_query.pb-c.h>

#include "sql/rewrite.h"
#include "sql/sqlstate.h"

#define SQLR_MAX_SCOPE 32
#define SQLR_MAX_CTES 16

/* Markers written into SQL while the statement's parameter count is still
** unknown; sqlr__finish() replaces them with ?N. */
#define SQLR_MARK '\x01'

/* One FROM item visible to column references. */
typedef struct sqlr_ent {
  const char *alias;
  const cat_table *t; /* catalog table, or NULL */
  int ncols;          /* derived tables: known columns (-1: unknown) */
  sqlr_col *cols;     /* borrowed */
  bool is_row;        /* a bound row (RETURNING / ON CONFLICT): ?params */
  int row_param0;     /* index k of the first column marker */
} sqlr_ent;

/* One column of what `*` expands to for a FROM item: for a table, its
** columns; for a JOIN with USING or NATURAL, PostgreSQL's order (the merged
** columns first, then the rest of the left side, then the rest of the
** right side), which SQLite's own `*` does not follow. */
typedef struct sqlr_outcol {
  const char *name; /* borrowed from the catalog, a column list or the AST */
  const char *sql;  /* the expression, kept in sqlr_rw.allocs */
  uint32_t type;
  int32_t typmod;
} sqlr_outcol;

typedef struct sqlr_item {
  sqlr_outcol *cols; /* kept in sqlr_rw.allocs; NULL with n < 0: unknown */
  int n;
} sqlr_item;

typedef struct sqlr_scope {
  struct sqlr_scope *parent;
  sqlr_ent ents[SQLR_MAX_SCOPE];
  int n;
  const char *merged[SQLR_MAX_SCOPE]; /* JOIN USING / NATURAL columns */
  int nmerged;
  /* One per FROM item rewritten into this scope (a join is one item). */
  sqlr_item items[SQLR_MAX_SCOPE];
  int nitems;
  /* Output column aliases, resolvable in GROUP BY / ORDER BY. */
  PgQuery__Node **targets;
  size_t ntargets;
  bool allow_alias;
} sqlr_scope;

typedef struct sqlr_cte {
  const char *name;
  int ncols;
  sqlr_col *cols;
} sqlr_cte;

typedef struct sqlr_rw {
  const sqlr_catalog *cat;
  syn_err *e;
  int err_pos;
  int max_param;
  /* Inferred PG types of $1..$n (0: unknown), grown on demand. */
  uint32_t *ptypes;
  int nptypes;
  bool uses_now;
  bool in_default;
  /* Qualify every column reference with its FROM item's name (arguments
  ** that rewrite_pgcat.c places inside subqueries over the catalog). */
  bool qualify_cols;
  bool system_ready; /* sqlr_catalog.need_system has been called */
  /* Output columns (bit i: column i) whose integer values the next
  ** sqlr__select must turn into numeric: set-operation arms and VALUES
  ** rows agree on numeric where PostgreSQL resolves their columns to it.
  ** sqlr__select takes and clears it, so nested queries see 0. */
  uint64_t num_mask;
  sqlr_cte ctes[SQLR_MAX_CTES];
  int nctes;
  /* Column lists allocated while rewriting, freed at the end. */
  sqlr_col **garbage;
  int *garbage_n;
  int ngarbage;
  /* Other allocations freed at the end (sqlr__keep). */
  void **allocs;
  int nallocs;
} sqlr_rw;

/* Keep p until the rewrite ends (freed by sqlr__rw_cleanup); on failure p
** is freed at once and the error is out of memory. */
int sqlr__keep(sqlr_rw *w, void *p);
void sqlr__rw_cleanup(sqlr_rw *w);

int sqlr__fail(sqlr_rw *w, int loc, sqlst_kind k, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int sqlr__unsupported(sqlr_rw *w, int loc, const char *what);
int sqlr__oom(sqlr_rw *w);
int sqlr__ident(cat_buf *b, const char *s);
int sqlr__string(cat_buf *b, const char *s, size_t n);

/* Deparse an expression into b; *type is its PG type OID (0: unknown). */
int sqlr__expr(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__Node *n,
               uint32_t *type, int32_t *typmod);
/* Deparse a whole SELECT; output columns in *cols (kept in w's garbage). */
int sqlr__select(sqlr_rw *w, cat_buf *b, sqlr_scope *parent, const PgQuery__SelectStmt *s,
                 sqlr_col **cols, int *ncols);
/* Shared expression helpers (rewrite_expr.c, rewrite_call.c). */
const char *sqlr__last_name(PgQuery__Node **names, size_t n);
bool sqlr__is_int(uint32_t t);
bool sqlr__is_float(uint32_t t);
/* The statement timestamp: a marker replaced by ?now_param later, or
** :now inside DEFAULT expressions. */
int sqlr__now_ref(sqlr_rw *w, cat_buf *b);
/* A coerced value as a SQLite literal. */
int sqlr__literal(sqlr_rw *w, cat_buf *b, const syn_value *v, uint32_t oid);
int sqlr__type_cast(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__TypeCast *tc,
                    uint32_t *type, int32_t *typmod);
int sqlr__func_call(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__FuncCall *f,
                    uint32_t *type, int32_t *typmod);
/* The type (and typmod) an expression would have, without keeping its text
** or its errors (they surface again on the real pass). */
uint32_t sqlr__peek_type(sqlr_rw *w, sqlr_scope *sc, const PgQuery__Node *n, int32_t *tm);
/* A type's name as PostgreSQL's messages print it (format_type; "unknown"
** for an untyped value); returns buf. */
const char *sqlr__type_name(uint32_t oid, char *buf, size_t cap);
/* PostgreSQL functions beyond rewrite_call.c's table (rewrite_funcs.c):
** SQLR_NO_FUNC when name is not one of them. */
#define SQLR_NO_FUNC 1
int sqlr__func_more(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__FuncCall *f,
                    const char *name, uint32_t *type, int32_t *typmod);
/* EXTRACT(field FROM x), which libpg_query gives as extract('field', x). */
int sqlr__extract(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__FuncCall *f,
                  uint32_t *type, int32_t *typmod);
/* The OVER (...) of a window call, appended after the call. */
int sqlr__window(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__FuncCall *f);
/* Finish a SELECT DISTINCT ON written into b from sel_start (its target
** list ends at targets_end) up to its WINDOW clause: rewrite_distinct.c. */
int sqlr__distinct_on(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__SelectStmt *s,
                      size_t sel_start, size_t targets_end, const sqlr_col *cols, int ncols);
/* " WINDOW w AS (...), ..." of a SELECT. */
int sqlr__window_clause(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, PgQuery__Node **defs, size_t n);
/* " ORDER BY a DESC NULLS FIRST, ..." with PostgreSQL's NULL placement. */
int sqlr__sort_clause(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, PgQuery__Node **items, size_t n);
/* Record that parameter node n (if it is a $n) has the given type; the
** first inference wins, as in PostgreSQL. */
void sqlr__note_param(sqlr_rw *w, const PgQuery__Node *n, uint32_t type);
/* Deparse one FROM item into b, adding what it makes visible to sc. */
int sqlr__from_item(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__Node *n);
/* The PG column name of an unnamed target expression ("?column?" ...). */
const char *sqlr__colname(const PgQuery__Node *n);
int sqlr__keep_cols(sqlr_rw *w, sqlr_col *cols, int n);
/* Numeric text: wrap b[start..] as "(... COLLATE synnum)" so it compares,
** sorts and groups by value (sql/engine/eng_numeric.c). -1 on OOM. */
int sqlr__num_collate(cat_buf *b, size_t start);
/* b[start..] (an integer expression) as numeric text under synnum. */
int sqlr__to_numeric(sqlr_rw *w, cat_buf *b, size_t start);
/* Assignment cast of the expression at b[start..] from type `from` to a
** column of type `to` (numeric -> integer rounds, numeric -> float). */
int sqlr__assign_conv(sqlr_rw *w, cat_buf *b, size_t start, uint32_t from, uint32_t to);

/* System catalogs (rewrite_pgcat.c). */
struct pgc_table;
/* A pg_catalog / information_schema table named by rv: *out and en's
** columns, or *out NULL for a user table; 42P01 for an unknown
** pg_catalog.x. */
int sqlr__system_table(sqlr_rw *w, const PgQuery__RangeVar *rv, const struct pgc_table **out,
                       sqlr_ent *en);
/* Make the system tables available (sqlr_catalog.need_system, once). */
int sqlr__need_system(sqlr_rw *w);
bool sqlr__is_regex_op(const char *op);
int sqlr__regex(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__AExpr *a, const char *op,
                uint32_t *type);
int sqlr__array_any(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__AExpr *a,
                    uint32_t *type);
int sqlr__array_sublink(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__SubLink *sl,
                        uint32_t *type);
int sqlr__indirection(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__AIndirection *ind,
                      uint32_t *type, int32_t *typmod);
int sqlr__collate(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__CollateClause *cc,
                  uint32_t *type, int32_t *typmod);
/* SQLR_NO_FUNC when v is not a session value. */
int sqlr__session_value(sqlr_rw *w, cat_buf *b, const PgQuery__SQLValueFunction *v,
                        uint32_t *type);
/* SQLR_NO_FUNC when the cast is not to a system or array type. */
int sqlr__pgcat_cast(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__TypeCast *tc,
                     uint32_t *type, int32_t *typmod);
/* SQLR_NO_FUNC when name is not a catalog function. */
int sqlr__pgcat_func(sqlr_rw *w, cat_buf *b, sqlr_scope *sc, const PgQuery__FuncCall *f,
                     const char *name, uint32_t *type, int32_t *typmod);

#endif /* SYN_SQL_REWRITE_INT_H */
