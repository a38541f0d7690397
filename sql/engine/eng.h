/*
** The per-session SQL engine (prefix eng_).
**
** A session owns an in-memory SQLite connection in which every table of the
** cluster's catalog is a virtual table of module "synod" (eng_vtab.c): scans
** become cl_scan calls at the transaction's snapshot. Statements arrive as a
** PostgreSQL simple-query string; each is parsed (sql/parse.h), rewritten
** into one SQLite SELECT (sql/rewrite.h) and executed:
**   SELECT      the rewritten query streams rows to the output
**   INSERT/UPDATE/DELETE  the query yields the rows to write; the engine
**               coerces them, locks, writes with cl_write and evaluates
**               RETURNING itself (SQLite's virtual tables have neither
**               RETURNING nor ON CONFLICT)
**   DDL         cl_* catalog calls, never inside a transaction block
**   BEGIN/COMMIT/ROLLBACK/SET/SHOW  handled here
**
** Output goes through an eng_out vtable, so the same session runs under the
** pgwire executor (eng_server_start, worker threads) and directly in unit
** tests. A session is used by one thread at a time; only eng_session_cancel
** may be called concurrently.
*/
#ifndef SYN_ENG_H
#define SYN_ENG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "sql/cluster.h"

/* One RowDescription field. */
typedef struct eng_col {
  const char *name;
  uint32_t type_oid;
  int16_t typlen;
  int32_t typmod;
  int16_t format; /* 0 text, 1 binary (extended protocol Describe portal) */
} eng_col;

/* One text value; p == NULL is SQL NULL. */
typedef struct eng_cell {
  const char *p;
  size_t n;
} eng_cell;

/* An ErrorResponse / NoticeResponse (severity "ERROR", "WARNING", "NOTICE"). */
typedef struct eng_msg {
  const char *severity;
  const char *sqlstate;
  const char *message;
  const char *detail; /* may be NULL */
  const char *hint;   /* may be NULL */
  uint32_t position;  /* 1-based character offset in the query string, 0 none */
  const char *context; /* CONTEXT, may be NULL ("COPY t, line 3") */
} eng_msg;

/* Where a statement's output goes. Each call returns 0, or nonzero when the
** client is gone: the engine then stops the statement (and the transaction
** fails as after any error). */
typedef struct eng_out {
  void *ud;
  int (*columns)(void *ud, int n, const eng_col *cols);
  int (*row)(void *ud, int n, const eng_cell *cells);
  int (*complete)(void *ud, const char *tag);
  int (*empty)(void *ud);
  int (*error)(void *ud, const eng_msg *m);
  int (*notice)(void *ud, const eng_msg *m);
  int (*param_status)(void *ud, const char *name, const char *value);
  /* Extended query protocol only (NULL for simple-query outputs):
  ** reply('1' ParseComplete | '2' BindComplete | '3' CloseComplete |
  ** 'n' NoData | 's' PortalSuspended), ParameterDescription, and the column
  ** count of the DataRows an Execute sends without a RowDescription. */
  int (*reply)(void *ud, char type);
  int (*param_desc)(void *ud, int n, const uint32_t *oids);
  int (*rows_begin)(void *ud, int n);
  /* COPY (all NULL: COPY is refused with 0A000, as on the extended
  ** protocol). copy_out sends CopyOutResponse (text format, ncols),
  ** copy_data one CopyData, copy_done CopyDone. copy_in sends
  ** CopyInResponse; then copy_read waits for the client's next COPY
  ** message: *type 'd' CopyData (*p malloc'd, *n bytes: the caller frees
  ** it), 'c' CopyDone, 'f' CopyFail (*p its NUL-terminated message, also
  ** the caller's). Nonzero when the client is gone or the read failed. */
  int (*copy_out)(void *ud, int ncols);
  int (*copy_data)(void *ud, const char *p, size_t n);
  int (*copy_done)(void *ud);
  int (*copy_in)(void *ud, int ncols);
  int (*copy_read)(void *ud, char *type, char **p, size_t *n);
} eng_out;

typedef struct eng_opts {
  int workers;                /* executor threads; 0 = 4 (grows for sessions in a
                              ** block when all are busy, see eng_exec.c) */
  size_t max_scan_bytes;      /* rows one scan may buffer; 0 = 256 MiB */
  /* The per-statement scan cache that turns repeated inner-table scans of
  ** a join into one fetch and a hash index (docs/engine.md): bytes one
  ** statement may cache, 0 = 64 MiB; scan_cache_off disables it. */
  size_t scan_cache_bytes;
  bool scan_cache_off;
  int rc_retries;             /* READ COMMITTED re-runs; 0 = 100 */
  const char *server_version; /* NULL = "15.0 (synod <version>)" */
  const char *database;       /* only this database exists; NULL = any */
  /* default_transaction_isolation of every new session, and what RESET
  ** returns to (the cluster-wide default; zero = READ COMMITTED). */
  cl_isolation default_isolation;
  /* Client authentication rules (sql/pgwire/pgw_auth.h; borrowed, must
  ** outlive the server), NULL = trust; TLS certificate and key files,
  ** NULL = no TLS. Roles come from cl_role_get. */
  const struct pgw_hba *hba;
  const char *tls_cert, *tls_key;
} eng_opts;

/* Parse an isolation level name for a command line: "read committed",
** "repeatable read", "serializable", case-insensitive, with ' ', '-' or '_'
** between the words. SYN_EINVAL (err names the accepted values) otherwise. */
int eng_isolation_parse(const char *text, cl_isolation *out, syn_err *err);
/* "read committed", "repeatable read" or "serializable". */
const char *eng_isolation_name(cl_isolation iso);

typedef struct eng_session eng_session;

int eng_session_new(cl_cluster *cl, const eng_opts *opts, eng_session **out, syn_err *err);
/* Rolls back an open transaction (a cluster call: not on a loop thread). */
void eng_session_free(eng_session *s);

/* The connected user and database and the BackendKeyData pid: what
** current_user, current_database(), pg_backend_pid() and the pg_catalog
** rows (pg_roles, pg_database) show. Default "synod", "synod", 0. */
int eng_session_set_identity(eng_session *s, const char *user, const char *database,
                             int32_t pid, syn_err *err);

/* Set a session parameter as SET would (startup parameters, "-c" options).
** Unknown names: SYN_ENOTFOUND; bad values: SYN_EINVAL (err has SQLSTATE). */
int eng_session_set(eng_session *s, const char *name, const char *value, syn_err *err);

/* Run one simple-query string: every statement's output, errors and notices
** go to out. Returns the transaction status for ReadyForQuery: 'I' idle,
** 'T' in a transaction block, 'E' in a failed block. */
char eng_session_query(eng_session *s, const char *sql, const eng_out *out);

/* One extended-protocol message (docs/pgwire.md; fields as pgw_xmsg). */
typedef struct eng_xmsg {
  char type;            /* 'P' Parse, 'B' Bind, 'D' Describe, 'E' Execute, 'C' Close */
  char target;          /* D, C: 'S' statement or 'P' portal */
  const char *name;     /* P: statement; B, E: portal; D, C: target ("" unnamed) */
  const char *stmt;     /* B: the statement to bind */
  const char *query;    /* P */
  int ntypes;           /* P: parameter types given (0 = infer) */
  const uint32_t *types;
  int nformats;         /* B: parameter format codes (0, 1 or one each) */
  const int16_t *formats;
  int nvalues;          /* B: parameter values, p == NULL is NULL */
  const eng_cell *values;
  int nrformats;        /* B: result format codes (0, 1 or one per column) */
  const int16_t *rformats;
  int64_t max_rows;     /* E: <= 0 all */
} eng_xmsg;

/* Run one extended-protocol message with PostgreSQL's semantics
** (prepared statements and portals per session, an implicit transaction
** spanning messages until Sync). Returns true on success, false when an
** ErrorResponse was sent: the caller then skips messages until Sync. */
bool eng_session_ext(eng_session *s, const eng_xmsg *m, const eng_out *out);
/* Sync: commit an implicit transaction (errors go to out), end the
** portals of a finished transaction; returns the ReadyForQuery status. */
char eng_session_sync(eng_session *s, const eng_out *out);

/* Ask the running statement to stop with 57014 (any thread). */
void eng_session_cancel(eng_session *s);

char eng_session_status(const eng_session *s);
/* idle_in_transaction_session_timeout in ms (0: none). The executor ends
** a session left idle inside a transaction block longer than this. */
int64_t eng_session_idle_timeout_ms(const eng_session *s);
/* True while a transaction is open, implicit ones included: under the
** extended protocol an implicit transaction (and its row locks) lasts
** from the first Execute until Sync, across several worker jobs. */
bool eng_session_in_txn(const eng_session *s);

/* ---- pgwire server ------------------------------------------------------ */

struct uv_loop_s;
typedef struct eng_server eng_server;

/* Serve PostgreSQL clients on host:port (0 = any free port) with a bounded
** pool of statement workers. Runs on loop's thread. */
int eng_server_start(struct uv_loop_s *loop, const char *host, int port, cl_cluster *cl,
                     const eng_opts *opts, eng_server **out, syn_err *err);
int eng_server_port(const eng_server *srv);
/* Close every connection, wait for running statements and session
** teardown, join the workers, free the server, then call cb (from a loop
** callback). */
void eng_server_stop(eng_server *srv, void (*cb)(void *ud), void *ud);

/* Register the SQL functions rewritten statements call (syn_div, syn_mod:
** PostgreSQL's / and % with 22012 on division by zero) on db. Every
** session's connection has them; tests that run rewritten SQL on a plain
** SQLite connection call this too. Returns an SQLite result code. */
struct sqlite3;
int eng_register_functions(struct sqlite3 *db);
/* The functions the rewrite uses over the system catalogs (syn_regex,
** syn_format_type, syn_array_*, syn_quote_ident; eng_pgcat.c) on any
** connection; SQLITE_OK or an SQLite error code. */
int eng_register_pgcat_functions(struct sqlite3 *db);

#endif /* SYN_ENG_H */
