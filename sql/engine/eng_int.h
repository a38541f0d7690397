/*
** internal: shared between the files of sql/engine/. Not a public API.
*/
#ifndef SYN_ENG_INT_H
#define SYN_ENG_INT_H

#include <sqlite3.h>
#include <stdatomic.h>

#include "sql/catalog.h"
#include "sql/engine/eng.h"
#include "sql/engine/eng_scancache.h"
#include "sql/parse.h"
#include "sql/rewrite.h"
#include "sql/sqlstate.h"

/* Transaction block state, as PostgreSQL's xact.c names them. */
typedef enum {
  ENG_IDLE = 0,     /* no transaction */
  ENG_IMPLICIT = 1, /* statements of one query string, no BEGIN */
  ENG_BLOCK = 2,    /* after BEGIN */
  ENG_FAILED = 3,   /* a statement of the block failed: 25P02 until ROLLBACK */
} eng_block;

/* One buffered row: values plus the bytes they point into, one allocation. */
typedef struct eng_row {
  int n;
  int64_t rowid;
  syn_value *v;
} eng_row;

typedef struct eng_rows {
  eng_row *r;
  size_t n, cap;
  size_t bytes;
} eng_rows;

/* Rows of one target table to lock after a SELECT ... FOR UPDATE. */
typedef struct eng_lockset {
  char *table;
  eng_rows rows;
} eng_lockset;

/* Extended query protocol (eng_ext.c). */
typedef struct eng_pstmt eng_pstmt;
typedef struct eng_portal eng_portal;
/* Prepared statements a session may hold (PostgreSQL has no limit; a
** bound keeps a client that never closes them from growing without end). */
#define ENG_MAX_PSTMTS 1000
#define ENG_MAX_PORTALS 1000

/* SQLite statements kept prepared per session (eng__prepare/eng__release). */
#define ENG_STMT_CACHE 32

#define ENG_NSETTINGS 11
/* Participants accept ?1..?99 in a pushed filter (store.h). */
#define ENG_MAX_FILTER_PARAMS 99

struct eng_session {
  cl_cluster *cl;
  eng_opts opts;
  sqlite3 *db;
  /* catalog cache: what the virtual tables were created from */
  bool cat_loaded;
  uint64_t cat_version;
  cat_table **tabs;
  int ntabs;
  /* transaction */
  eng_block block;
  cl_txn *txn;
  cl_isolation iso;      /* of the current/next transaction */
  bool iso_explicit;     /* BEGIN ISOLATION LEVEL / SET TRANSACTION given */
  bool txn_used;         /* a statement ran in it (snapshot taken) */
  char now_text[48];     /* transaction timestamp, timestamptz text */
  /* settings (values owned) */
  char *settings[ENG_NSETTINGS];
  /* per statement */
  const eng_out *out;
  const char *src;       /* the running query string */
  bool out_gone;
  bool read_only;        /* BEGIN READ ONLY */
  char *local_saved[ENG_NSETTINGS]; /* values before SET LOCAL, restored at txn end */
  bool defer_tag;        /* hold the data statement's tag until commit */
  char pending_tag[64];
  bool lock_scan;        /* SELECT FOR UPDATE: remember scanned rows */
  eng_lockset *locks;
  int nlocks;
  char detail[512];      /* DETAIL of the statement's error, "" none */
  char hint[256];        /* HINT of the statement's error, "" none */
  char context[512];     /* CONTEXT of the statement's error, "" none */
  /* Set by DML when a conflict came after the statement's first write:
  ** re-running it could apply writes twice, so the conflict is final. */
  bool conflict_final;
  const char *copy_null; /* COPY FROM: the NULL marker, for header errors */
  int64_t deadline_ms;   /* statement_timeout: monotonic ms, 0 = none */
  bool timed_out;        /* the deadline passed (the cancel reason) */
  sc_cache *scache;      /* this statement's scan cache (eng_scancache.c) */
  int scan_rc;           /* first cl_scan failure inside SQLite */
  syn_err scan_err;
  atomic_int cancel;
  /* prepared SQLite statements not in use, oldest first */
  struct { char *sql; uint64_t hash; sqlite3_stmt *st; } stmt_cache[ENG_STMT_CACHE];
  int ncache;
  /* extended query protocol */
  eng_pstmt *pstmts;     /* named and unnamed prepared statements */
  int npstmts;
  eng_portal *portals;
  int nportals;
  uint64_t txn_seq;      /* transactions ended: portals of older ones are gone */
  const syn_value *params; /* Bind values of the running portal ($1 = [0]) */
  int nparams;
  /* identity (eng_session_set_identity), for pg_catalog and current_user */
  char *user;
  char *database;
  int32_t backend_pid;
  bool pgcat_loaded;     /* this connection's pg_catalog is filled */
};

/* ---- rows (eng_rows.c) ---- */
int eng__row_copy(eng_row *dst, const syn_value *v, int n, int64_t rowid);
void eng__row_free(eng_row *r);
int eng__rows_push(eng_rows *rs, const syn_value *v, int n, int64_t rowid);
void eng__rows_clear(eng_rows *rs);
int eng__value_from_sqlite(sqlite3_value *sv, syn_value *out);
int eng__value_from_column(sqlite3_stmt *st, int i, syn_value *out);
int eng__bind_value(sqlite3_stmt *st, int i, const syn_value *v);

/* ---- output and errors (eng_out.c) ---- */
/* Send an error for rc/e: maps cluster codes to SQLSTATEs (cluster.h). */
void eng__send_error(eng_session *s, int rc, const syn_err *e, uint32_t position,
                     const char *detail);
void eng__send_notice(eng_session *s, const char *severity, const char *state,
                      const char *msg);
int eng__send_columns(eng_session *s, const sqlr_col *cols, int n);
/* Format one SQLite result row with the declared types and send it. */
int eng__send_sqlite_row(eng_session *s, sqlite3_stmt *st, const sqlr_col *cols, int n,
                         cat_buf *buf);
int eng__send_values_row(eng_session *s, const syn_value *v, const sqlr_col *cols, int n,
                         cat_buf *buf);
/* eng_role.c: CREATE/ALTER/DROP ROLE (sends CommandComplete). */
int eng__run_role(eng_session *s, const sqlp_stmt *st, syn_err *e);
int eng__complete(eng_session *s, const char *tag);
/* An SQLite error after prepare/step: the scan's cluster error if one
** caused it, 57014 when cancelled, else the SQLite message as 42601/XX000. */
int eng__sqlite_error(eng_session *s, int src, syn_err *e);
/* Numeric functions, aggregates and the synnum collation (eng_numeric.c). */
int eng__register_numeric(struct sqlite3 *db);

/* ---- virtual tables (eng_vtab.c) ---- */
int eng__vtab_register(eng_session *s, syn_err *e);
/* Bring the virtual tables in line with the catalog (when its version moved). */
int eng__catalog_sync(eng_session *s, syn_err *e);
/* Register the catalog functions on a fresh connection (eng_pgcat.c). */
int eng__pgcat_register(eng_session *s, syn_err *e);
/* sqlr_catalog.need_system: attach and fill pg_catalog /
** information_schema from s->tabs, once per connection (sessions that
** never read them never pay for them). */
int eng__pgcat_need(void *s, syn_err *e);
/* Setting i's name (NULL past the last), description and read-only flag,
** for pg_settings; its value is s->settings[i]. */
const char *eng__guc_info(int i, const char **desc, bool *readonly);
/* Function groups registered by eng_register_functions (eng_funcs_*.c). */
int eng__register_text_functions(sqlite3 *db);
int eng__register_math_functions(sqlite3 *db);
int eng__register_time_functions(sqlite3 *db);
/* Functions that need the session (pg_sleep: cancel and timeout). */
int eng__register_session_functions(eng_session *s);
/* Append name to b as a double-quoted SQL identifier. */
int eng__ident(cat_buf *b, const char *name);
const cat_table *eng__table(eng_session *s, const char *name);
void eng__locks_clear(eng_session *s);
void eng__tabs_free(eng_session *s);
/* The SQLite plan of one PostgreSQL statement, appended to out (tests and
** debugging; eng_explain.c). */
int eng__explain(eng_session *s, const char *pgsql, cat_buf *out, syn_err *e);

/* ---- extended protocol (eng_ext.c, eng_pval.c) ---- */
void eng__ext_free(eng_session *s);
/* The SQLite connection is about to be replaced (catalog change): every
** statement prepared on it is finalized; running portals cannot go on. */
void eng__ext_db_closing(eng_session *s);
bool eng__binary_supported(uint32_t oid);
/* One Bind parameter (p == NULL: NULL) as a value of type oid; pno is its
** 1-based number for messages. Bytes may point into p, scratch or tmp. */
int eng__param_value(uint32_t oid, int16_t format, const char *p, size_t n, int pno,
                     syn_value *out, cat_buf *scratch, cat_buf *tmp, syn_err *e);
/* PostgreSQL's binary form (typsend) of a value given in its text output. */
int eng__text_to_binary(uint32_t oid, const char *s, size_t n, cat_buf *out, syn_err *e);
/* SHOW's column name for a setting (canonical spelling), or NULL. */
const char *eng__show_column(const char *name);

/* ---- statements ---- */
int eng__rewrite(eng_session *s, const sqlp_stmt *st, sqlr_query **q, int *err_pos,
                 syn_err *e);
/* A rewritten data statement: transaction, read-only check, READ COMMITTED
** re-runs. Binds s->params. */
int eng__run_rewritten(eng_session *s, const sqlp_stmt *st, const sqlr_query *q, char *tag,
                       size_t tagcap, syn_err *e);
int eng__run_stmt(eng_session *s, const sqlp_stmt *st, int *err_pos, syn_err *e);
uint32_t eng__char_pos(const char *sql, int byte_pos);
/* A prepared statement for sql: from the session's cache when the same
** text ran before (reset, no bindings), else newly prepared. Give it back
** with eng__release (kept for reuse) rather than sqlite3_finalize. */
int eng__prepare(eng_session *s, const char *sql, sqlite3_stmt **st, syn_err *e);
/* SQL PREPARE / DEALLOCATE / EXECUTE (eng_ext.c: the same prepared
** statements as the extended protocol's). EXECUTE fills tag. */
int eng__sql_prepare(eng_session *s, const sqlp_stmt *st, syn_err *e);
int eng__sql_deallocate(eng_session *s, const sqlp_stmt *st, syn_err *e);
int eng__sql_execute(eng_session *s, const sqlp_stmt *st, char *tag, size_t tagcap, int *err_pos,
                     syn_err *e);
void eng__release(eng_session *s, sqlite3_stmt *st);
/* Finalize every cached statement (the connection is going away). */
void eng__stmt_cache_clear(eng_session *s);
int eng__bind_common(eng_session *s, sqlite3_stmt *st, const sqlr_query *q, syn_err *e);
int eng__run_select(eng_session *s, const sqlr_query *q, syn_err *e);
/* eng_dml.c, shared with COPY FROM (eng_copy.c) */
typedef struct eng_defaults {
  sqlite3_stmt **expr; /* per column: SELECT <default>, or NULL */
} eng_defaults;
/* A column's default (serial, expression, or NULL); borrowed until the
** next call for that column. */
int eng__default_value(eng_session *s, const cat_table *t, eng_defaults *d, int c,
                       syn_value *out, syn_err *e);
/* s->detail = "Failing row contains (...)." */
void eng__detail_not_null(eng_session *s, const cat_table *t, const syn_value *row);
/* eng_copy.c: COPY FROM STDIN / TO STDOUT */
int eng__run_copy(eng_session *s, const sqlp_stmt *st, int *err_pos, syn_err *e);
int eng__run_insert(eng_session *s, const sqlr_query *q, char *tag, size_t tagcap, syn_err *e);
int eng__run_update_delete(eng_session *s, const sqlr_query *q, char *tag, size_t tagcap,
                           syn_err *e);
int eng__run_ddl(eng_session *s, const sqlp_stmt *st, syn_err *e);

/* ---- transactions and settings (eng_txn.c) ---- */
/* Make sure a cl_txn exists for a data statement and its snapshot is right
** for the isolation level. */
int eng__txn_for_statement(eng_session *s, syn_err *e);
int eng__refresh_snapshot(eng_session *s, syn_err *e);
int eng__run_txn_control(eng_session *s, const sqlp_stmt *st, syn_err *e);
int eng__run_set(eng_session *s, const sqlp_stmt *st, syn_err *e);
int eng__run_show(eng_session *s, const sqlp_stmt *st, syn_err *e);
/* End the implicit transaction: commit (ok) or roll back. */
int eng__end_implicit(eng_session *s, bool ok, syn_err *e);
void eng__abort_txn(eng_session *s);
/* The transaction ended: undo SET LOCAL, clear per-transaction flags. */
void eng__txn_ended(eng_session *s);
int eng__settings_init(eng_session *s, syn_err *e);
void eng__settings_free(eng_session *s);
bool eng__cancelled(eng_session *s);
/* cl_interrupt_fn for the session's transactions: cancel or deadline,
** read-only (it runs on the coordinator's loop thread). */
bool eng__interrupted(void *s);
/* "user request" or "statement timeout", for 57014 messages. */
const char *eng__cancel_reason(const eng_session *s);
/* A statement starts: clear a cancel and arm statement_timeout. */
void eng__statement_start(eng_session *s);

#endif /* SYN_ENG_INT_H */
