/*
** PostgreSQL frontend/backend protocol 3.0 server on libuv.
**
** pgwire speaks the protocol; it knows nothing about SQL. Statements go to
** an executor (the SQL engine) through the pgw_executor vtable, and the
** executor answers with the pgw_* writer calls below, either before its
** callback returns or later from other callbacks on the same loop (the
** engine waits on RPCs). docs/pgwire.md lists the messages supported.
**
** Threading: everything here runs on the loop thread passed to
** pgw_server_new. No call may be made from another thread.
**
** Session lifetime contract:
**  - session_open runs once the StartupMessage has been accepted. If it
**    fails, the client gets a FATAL ErrorResponse and session_close is NOT
**    called for that session.
**  - While a query is running (from simple_query until pgw_query_done) the
**    session is never freed, even if the client disconnects: writer calls
**    then return SYN_ECLOSED and drop their output, and the executor must
**    still call pgw_query_done. pgw_session_is_closed tells it to hurry.
**  - session_close is called exactly once for every session whose
**    session_open succeeded, after the connection is gone and no query is
**    running. The pgw_session pointer is invalid once it returns.
**
** Flow control: input is not read while a query runs, so a client cannot
** queue unbounded work. Output is buffered and written with uv_write; when
** the backlog passes PGW_OUTPUT_HIGH_WATER bytes pgw_output_full() turns
** true and an executor that streams rows should stop producing until its
** `writable` callback runs. A session whose backlog exceeds opts.max_output
** (a client that does not read) is disconnected with a WARN log line.
*/
#ifndef SYN_PGW_H
#define SYN_PGW_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/err.h"

/* Limits (docs/pgwire.md). PostgreSQL caps the startup packet at 10000
** bytes (MAX_STARTUP_PACKET_LENGTH); ordinary messages are capped by
** opts.max_message, 64 MiB unless configured. */
#define PGW_MAX_STARTUP_PACKET 10000u
#define PGW_DEFAULT_MAX_MESSAGE (64u * 1024u * 1024u)
#define PGW_DEFAULT_MAX_OUTPUT ((size_t)64 * 1024 * 1024)
#define PGW_DEFAULT_MAX_SESSIONS 1024u
#define PGW_DEFAULT_STARTUP_TIMEOUT_MS 60000u
#define PGW_OUTPUT_HIGH_WATER ((size_t)1024 * 1024)
#define PGW_OUTPUT_LOW_WATER ((size_t)256 * 1024)

/* Type OIDs from PostgreSQL's pg_type.dat that executors commonly need. */
enum {
  PGW_OID_BOOL = 16,
  PGW_OID_BYTEA = 17,
  PGW_OID_INT8 = 20,
  PGW_OID_INT2 = 21,
  PGW_OID_INT4 = 23,
  PGW_OID_TEXT = 25,
  PGW_OID_OID = 26,
  PGW_OID_FLOAT4 = 700,
  PGW_OID_FLOAT8 = 701,
  PGW_OID_UNKNOWN = 705,
  PGW_OID_VARCHAR = 1043,
  PGW_OID_DATE = 1082,
  PGW_OID_TIMESTAMP = 1114,
  PGW_OID_TIMESTAMPTZ = 1184,
  PGW_OID_NUMERIC = 1700,
};

typedef struct pgw_server pgw_server;
typedef struct pgw_session pgw_session;

/* One name/value pair of the StartupMessage. */
typedef struct pgw_param {
  const char *name;
  const char *value;
} pgw_param;

/* The accepted StartupMessage. Strings are NUL-terminated, UTF-8 as sent,
** and borrowed from the session: valid until session_close returns. */
typedef struct pgw_startup {
  uint16_t proto_major, proto_minor; /* as requested by the client */
  const char *user;                  /* never NULL once a session opens */
  const char *database;              /* defaults to user, as in PostgreSQL */
  const char *application_name;      /* "" when absent */
  const char *options;               /* "" when absent ("-c k=v ...") */
  size_t nparams;                    /* every pair, in packet order */
  pgw_param *params;
  char *raw;                         /* owned storage behind the pointers */
} pgw_startup;

/* Value of startup parameter `name`, or NULL. */
const char *pgw_startup_get(const pgw_startup *st, const char *name);

/* One RowDescription field. table_oid/attnum may be 0 (not a table column);
** typlen is -1 for variable length; typmod -1 when none; format 0 = text. */
typedef struct pgw_column {
  const char *name;
  uint32_t type_oid;
  int16_t typlen;
  int32_t typmod;
  int16_t format;
  uint32_t table_oid;
  int16_t attnum;
} pgw_column;

/* One DataRow value in the column's format: p == NULL is SQL NULL; a
** zero-length non-NULL value needs a non-NULL p (e.g. ""). */
typedef struct pgw_cell {
  const void *p;
  size_t n;
} pgw_cell;

/* ErrorResponse / NoticeResponse fields. severity NULL means "ERROR" for
** pgw_error and "NOTICE" for pgw_notice; sqlstate must be 5 characters of
** [0-9A-Z] (anything else is sent as XX000); message is required; detail
** and hint may be NULL; position is a 1-based character offset into the
** query string, 0 for none. */
typedef struct pgw_errinfo {
  const char *severity;
  const char *sqlstate;
  const char *message;
  const char *detail;
  const char *hint;
  uint32_t position;
  const char *context; /* CONTEXT ('W'), may be NULL */
} pgw_errinfo;

/* One extended-query-protocol message (Parse, Bind, Describe, Execute,
** Close, Sync), decoded and checked for layout by pgwire. Everything is
** borrowed from the session until the executor answers it (pgw_ext_done,
** or pgw_query_done for Sync). Strings are NUL-terminated; "" names the
** unnamed statement or portal. Which fields are set depends on type:
**   'P' Parse     name (statement), query/query_len, ntypes/types (0 = let
**                 the server infer)
**   'B' Bind      name (portal), stmt, nformats/formats (parameter format
**                 codes as sent: 0 = all text, 1 = applies to all, else one
**                 per parameter), nvalues/values (p == NULL is SQL NULL),
**                 nrformats/rformats (result format codes, same rule)
**   'D' Describe  target 'S' (statement) or 'P' (portal), name
**   'E' Execute   name (portal), max_rows (<= 0: all rows)
**   'C' Close     target 'S' or 'P', name
**   'S' Sync      nothing */
typedef struct pgw_xmsg {
  char type;
  char target;
  const char *name;
  const char *stmt;
  const char *query;
  size_t query_len;
  size_t ntypes;
  uint32_t *types;
  size_t nformats;
  int16_t *formats;
  size_t nvalues;
  pgw_cell *values;
  size_t nrformats;
  int16_t *rformats;
  int32_t max_rows;
  void *mem; /* owned storage behind the arrays */
} pgw_xmsg;

/* The SQL engine side. ud is passed back to every callback. */
typedef struct pgw_executor {
  void *ud;
  /* Accept or refuse a session. May call pgw_parameter_status / pgw_notice
  ** (sent before BackendKeyData) and pgw_session_set_ud. On failure return a
  ** negative SYN_E* code with err filled; the client gets a FATAL error with
  ** SQLSTATE 3D000 for SYN_ENOTFOUND, 28000 for SYN_EINVAL, 0A000 for
  ** SYN_EUNSUPPORTED, 53300 for SYN_EBUSY and XX000 otherwise. */
  int (*session_open)(void *ud, pgw_session *s, const pgw_startup *st, syn_err *err);
  /* The session is gone (see lifetime contract above). */
  void (*session_close)(void *ud, pgw_session *s);
  /* One Query message: sql is the whole string (the executor splits it into
  ** statements), valid UTF-8 without NUL bytes, NUL-terminated at sql[len];
  ** borrowed until pgw_query_done. The executor must eventually call
  ** pgw_query_done exactly once. */
  void (*simple_query)(void *ud, pgw_session *s, const char *sql, size_t len);
  /* Optional: output backlog fell below PGW_OUTPUT_LOW_WATER after
  ** pgw_output_full() had been true during the running query. */
  void (*writable)(void *ud, pgw_session *s);
  /* Optional: a CancelRequest matched this session's BackendKeyData. Runs
  ** whether or not a query is running; the executor decides what to stop. */
  void (*cancel)(void *ud, pgw_session *s);
  /* Optional: the extended query protocol. NULL refuses Parse/Bind/
  ** Describe/Execute/Close with 0A000 (and Sync only answers
  ** ReadyForQuery). Otherwise every such message and every Sync comes here
  ** one at a time, like a query: input is not read until the executor
  ** answers with pgw_ext_done (Parse .. Close) or pgw_query_done (Sync,
  ** which sends ReadyForQuery). When an ErrorResponse was sent for a
  ** message, pgwire discards every following message until Sync, as
  ** PostgreSQL does; the executor never sees them. */
  void (*extended)(void *ud, pgw_session *s, const pgw_xmsg *m);
  /* Optional: COPY FROM STDIN. After the executor sent
  ** pgw_copy_in_response, input is read again while the query runs and
  ** each CopyData ('d', the payload), CopyDone ('c', n 0) or CopyFail
  ** ('f', the message without its NUL) comes here; p is borrowed for the
  ** call. Return nonzero to stop reading until pgw_copy_resume (the
  ** executor's buffer is full). After 'c' or 'f', or once the query ends,
  ** COPY mode is over; CopyData arriving later is ignored, as PostgreSQL
  ** does after a failed COPY. Flush and Sync during COPY are ignored; any
  ** other message is a protocol violation (FATAL 08P01). */
  int (*copy_data)(void *ud, pgw_session *s, char type, const void *p, size_t n);
  /* Optional: the role `user` for authentication, called on the loop
  ** thread before session_open (so it must not block on the network: a
  ** local catalog read). 0 when the role exists: *secret (malloc'd; NULL
  ** when the role has no password) and *flags (PGW_ROLE_*); SYN_ENOTFOUND
  ** when it does not; other codes fail the login with 28000 and a log line.
  ** NULL: no roles are known (password methods fail for everyone). */
  int (*role_lookup)(void *ud, const char *user, char **secret, int *flags, syn_err *err);
} pgw_executor;

enum { PGW_ROLE_LOGIN = 1, PGW_ROLE_SUPERUSER = 2 };

/* Fill buf with n random bytes; 0 or a negative SYN_E* code. */
typedef int (*pgw_random_fn)(void *ud, void *buf, size_t n);

typedef struct pgw_server_opts {
  const char *host;              /* numeric IPv4 or IPv6 address */
  int port;                      /* 0 = pick a free port */
  pgw_executor executor;         /* copied */
  pgw_random_fn random;          /* required: BackendKeyData pid/key */
  void *random_ud;
  const char *server_version;    /* NULL = "15.0 (synod <version>)" */
  uint32_t max_message;          /* 0 = PGW_DEFAULT_MAX_MESSAGE */
  size_t max_output;             /* 0 = PGW_DEFAULT_MAX_OUTPUT */
  uint32_t max_sessions;         /* 0 = PGW_DEFAULT_MAX_SESSIONS */
  uint32_t startup_timeout_ms;   /* 0 = PGW_DEFAULT_STARTUP_TIMEOUT_MS */
  /* Client authentication rules (sql/pgwire/pgw_auth.h), borrowed for the
  ** server's life; NULL = trust for every connection. */
  const struct pgw_hba *hba;
  /* PEM certificate (chain) and private key files: SSLRequest is answered
  ** 'S' and the session runs over TLS. Both NULL: 'N'. Read at start. */
  const char *tls_cert, *tls_key;
} pgw_server_opts;

/* Bind and listen. On failure nothing is left open. */
int pgw_server_new(uv_loop_t *loop, const pgw_server_opts *opts, pgw_server **out,
                   syn_err *err);
/* Port actually bound (useful when 0 was asked for). */
int pgw_server_port(const pgw_server *srv);
/* Sessions currently connected (any state). */
size_t pgw_server_session_count(const pgw_server *srv);
/* Stop listening and close every connection. cb runs (from a later loop
** callback) once every handle is closed and every session freed, which
** waits for running queries to reach pgw_query_done. The server is freed
** before cb runs. A second call is ignored (its cb never runs). */
void pgw_server_close(pgw_server *srv, void (*cb)(void *ud), void *ud);

/* ---- session accessors ------------------------------------------------- */
void pgw_session_set_ud(pgw_session *s, void *ud);
void *pgw_session_get_ud(const pgw_session *s);
/* "127.0.0.1:51234", borrowed. */
const char *pgw_session_peer(const pgw_session *s);
/* The BackendKeyData process id (0 until it has been chosen). */
int32_t pgw_session_pid(const pgw_session *s);
const pgw_startup *pgw_session_startup(const pgw_session *s);
/* Nonzero when the session runs over TLS. */
int pgw_session_tls(const pgw_session *s);
/* Nonzero once the client connection is gone or being torn down. */
int pgw_session_is_closed(const pgw_session *s);
/* Nonzero while the output backlog is at or above PGW_OUTPUT_HIGH_WATER. */
int pgw_output_full(const pgw_session *s);

/* ---- writer calls --------------------------------------------------------
** All return 0, SYN_ECLOSED when the connection is gone (output dropped),
** SYN_EINVAL when called out of order (e.g. a DataRow with no query
** running, or a column count that differs from the RowDescription), or
** SYN_ERANGE / SYN_ENOMEM when a message cannot be built. Arguments are
** borrowed for the call. Rows, completions, errors and the query end are
** valid only between simple_query and pgw_query_done. */
int pgw_row_description(pgw_session *s, size_t n, const pgw_column *cols);
int pgw_data_row(pgw_session *s, size_t n, const pgw_cell *cells);
int pgw_command_complete(pgw_session *s, const char *tag);
int pgw_empty_query(pgw_session *s);
/* COPY (simple query only). pgw_copy_in_response sends CopyInResponse
** (text format, ncols columns) and starts COPY FROM STDIN mode (needs
** executor.copy_data); from then on the query string is no longer
** borrowed. pgw_copy_resume restarts reading after copy_data asked to
** pause. pgw_copy_out_response sends CopyOutResponse, pgw_copy_data one
** CopyData, pgw_copy_done CopyDone (then CommandComplete "COPY n"). */
int pgw_copy_in_response(pgw_session *s, size_t ncols);
int pgw_copy_resume(pgw_session *s);
int pgw_copy_out_response(pgw_session *s, size_t ncols);
int pgw_copy_data(pgw_session *s, const void *p, size_t n);
int pgw_copy_done(pgw_session *s);
/* An ErrorResponse. severity "FATAL" or "PANIC" ends the session after
** pgw_query_done (no ReadyForQuery is sent). */
int pgw_error(pgw_session *s, const pgw_errinfo *e);
/* NoticeResponse and ParameterStatus may be sent at any time (the protocol
** allows them asynchronously). */
int pgw_notice(pgw_session *s, const pgw_errinfo *e);
int pgw_parameter_status(pgw_session *s, const char *name, const char *value);
/* ---- extended protocol replies (only while an extended message runs) --
** ParseComplete, BindComplete, CloseComplete, NoData, PortalSuspended and
** ParameterDescription. RowDescription is pgw_row_description (Describe);
** Execute sends no RowDescription, so before its DataRows the executor
** declares their column count with pgw_rows_begin. */
int pgw_parse_complete(pgw_session *s);
int pgw_bind_complete(pgw_session *s);
int pgw_close_complete(pgw_session *s);
int pgw_no_data(pgw_session *s);
int pgw_portal_suspended(pgw_session *s);
int pgw_parameter_description(pgw_session *s, size_t n, const uint32_t *oids);
int pgw_rows_begin(pgw_session *s, size_t ncols);
/* The extended message (not Sync) is answered: no ReadyForQuery; resume
** reading. If an ErrorResponse was sent during it, input is skipped until
** Sync. SYN_EINVAL outside an extended message or for Sync. */
int pgw_ext_done(pgw_session *s);

/* The query is over: send ReadyForQuery with txn_status 'I' (idle), 'T' (in
** a transaction block) or 'E' (failed transaction block) and resume
** reading. Any other status is refused with SYN_EINVAL and the query stays
** open. */
int pgw_query_done(pgw_session *s, char txn_status);

#endif /* SYN_PGW_H */
