/*
** internal to sql/pgwire: the connection and server structs shared by
** pgw_server.c (sockets, buffers, lifetime), pgw_proto.c (what each
** incoming message does) and pgw_write.c (the executor's writer calls).
**
** Connection states and the only moves between them:
**
**   STARTUP --StartupMessage, method trust--> READY
**   STARTUP --StartupMessage, password method--> AUTH --password ok--> READY
**   STARTUP|AUTH|READY --fatal error / Terminate--> LINGER
**   any --EOF, write error, timeout, server close--> CLOSING
**   LINGER --client EOF or linger timeout--> CLOSING
**
** LINGER exists so that a FATAL ErrorResponse reaches the client: we send
** it, half-close with shutdown(), and discard input until the client
** closes. Closing a socket that still has unread input makes the kernel
** send RST, which can destroy the error message before the client reads it.
**
** A session is freed only when its handles are closed AND no query is
** running (in_query == 0), so an executor may keep its pgw_session pointer
** until it calls pgw_query_done.
*/
#ifndef SYN_PGW_INT_H
#define SYN_PGW_INT_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "sql/pgwire/pgw.h"
#include "sql/pgwire/pgw_auth.h"
#include "sql/pgwire/pgw_codec.h"

typedef struct pgw_tls pgw_tls;       /* pgw_tls.c */
typedef struct ssl_ctx_st pgw_ssl_ctx; /* OpenSSL's SSL_CTX */

/* Output is handed to uv_write once this much is buffered (or at the end
** of each batch of input / each query). */
#define PGW_FLUSH_THRESHOLD ((size_t)64 * 1024)
/* How long a LINGER connection may take to drain and see the client's EOF. */
#define PGW_LINGER_MS 5000u
/* Idle input buffers larger than this are released. */
#define PGW_INBUF_KEEP ((size_t)256 * 1024)

typedef enum {
  PGW_ST_STARTUP = 0,
  PGW_ST_READY = 1,
  PGW_ST_LINGER = 2,
  PGW_ST_CLOSING = 3,
  PGW_ST_AUTH = 4, /* StartupMessage accepted, waiting for the password message */
} pgw_state;

/* Longest authentication message we read (PostgreSQL: PG_MAX_AUTH_TOKEN_LENGTH). */
#define PGW_MAX_AUTH_MESSAGE 65535u

struct pgw_session {
  pgw_server *srv;
  pgw_session *prev, *next;  /* srv->sessions */
  pgw_session *reap_next;    /* srv->reap list */
  uv_tcp_t tcp;
  uv_timer_t timer;          /* startup timeout, then linger timeout */
  uv_shutdown_t shut;
  int handles_open;          /* tcp + timer until their close callbacks */
  pgw_state state;
  char peer[64];
  struct sockaddr_storage peer_addr; /* for the rules file; family 0 if unknown */
  pgw_tls *tls;              /* non-NULL once SSLRequest was answered 'S' */

  /* Authentication (state AUTH, pgw_auth.c). */
  const pgw_hba_rule *hba_rule; /* the rule that matched; NULL: no rules file */
  pgw_auth_method method;
  char *secret;              /* the role's stored secret, NULL if none */
  pgw_scram *scram;          /* SCRAM exchange in progress */
  uint8_t md5_salt[4];
  unsigned role_found : 1;
  unsigned role_super : 1;

  pgw_buf in;                /* received bytes; in_off already processed */
  size_t in_off;
  pgw_buf out;               /* encoded, not yet handed to uv_write */
  size_t inflight;           /* bytes in uv_write requests not yet done */

  unsigned reading : 1;      /* uv_read_start active */
  unsigned processing : 1;   /* inside pgw__process_input */
  unsigned in_query : 1;     /* simple_query called, pgw_query_done not yet */
  unsigned opening : 1;      /* inside executor session_open */
  unsigned opened : 1;       /* session_open succeeded: session_close owed */
  unsigned ssl_done : 1;
  unsigned gss_done : 1;
  unsigned ignore_till_sync : 1;
  unsigned fatal_pending : 1; /* executor sent FATAL: close at query end */
  unsigned full_seen : 1;    /* backlog passed high water during the query */
  unsigned shut_started : 1;
  unsigned shut_done : 1;
  unsigned reaping : 1;      /* on srv->reap */
  unsigned have_rowdesc : 1;
  unsigned ext_msg : 1;      /* the running "query" is an extended message */
  unsigned ext_error : 1;    /* ... and an ErrorResponse was sent for it */
  unsigned copy_in : 1;      /* COPY FROM STDIN: CopyData/Done/Fail go to the executor */
  unsigned copy_paused : 1;  /* ... the executor asked to stop reading */
  unsigned copy_out : 1;     /* COPY TO STDOUT: CopyData may be sent */
  unsigned sql_released : 1; /* the running query's string is no longer borrowed */
  size_t ncols;              /* of the last RowDescription */
  char txn_status;           /* last status reported by the executor */
  int32_t pid, key;
  pgw_startup startup;
  pgw_xmsg xmsg;             /* the extended message being run */
  void *ud;
};

struct pgw_server {
  uv_loop_t *loop;
  uv_tcp_t listener;
  uv_timer_t reaper;         /* frees sessions outside executor calls */
  pgw_executor ex;
  const pgw_hba *hba;        /* borrowed; NULL = trust everyone */
  pgw_ssl_ctx *ssl_ctx;      /* NULL = answer SSLRequest 'N' */
  pgw_random_fn random;
  void *random_ud;
  char server_version[64];
  uint32_t max_message;
  size_t max_output;
  uint32_t max_sessions;
  uint32_t startup_timeout_ms;
  int port;
  pgw_session *sessions;
  size_t nsessions;          /* connections in any state */
  size_t nopen;              /* sessions whose session_open succeeded */
  pgw_session *reap;
  int closing;
  int handles_open;          /* listener + reaper */
  int reaper_closing;
  void (*close_cb)(void *ud);
  void *close_ud;
};

/* Output bytes not yet acknowledged by uv_write. */
static inline size_t pgw__backlog(const pgw_session *c) { return c->inflight + c->out.len; }

/* pgw_server.c */
void pgw__flush(pgw_session *c);
void pgw__update_reading(pgw_session *c);
void pgw__close_graceful(pgw_session *c);
void pgw__close_now(pgw_session *c);
/* Free c from a later loop callback (it is closed and its query is over). */
void pgw__defer_free(pgw_session *c);

/* pgw_proto.c */
void pgw__process_input(pgw_session *c);
/* Send a FATAL ErrorResponse and close gracefully. */
void pgw__fatal(pgw_session *c, const char *sqlstate, const char *msg);

/* pgw_proto.c: after authentication, send AuthenticationOk and the
** parameters, open the executor session and go READY. */
void pgw__startup_finish(pgw_session *c);
int pgw__violation(pgw_session *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* pgw_auth.c */
/* Choose the method for the accepted StartupMessage and start it. */
void pgw__auth_start(pgw_session *c);
/* One message in state AUTH. Returns 1 when it consumed input or changed
** state, 0 when it needs more bytes. */
int pgw__auth_step(pgw_session *c, const uint8_t *p, size_t n);
void pgw__auth_clear(pgw_session *c);

/* pgw_tls.c (OpenSSL over memory BIOs: libuv owns the socket) */
int pgw__tls_ctx_new(const char *cert, const char *key, pgw_ssl_ctx **out, syn_err *err);
void pgw__tls_ctx_free(pgw_ssl_ctx *ctx);
int pgw__tls_start(pgw_session *c);
void pgw__tls_free(pgw_tls *t);
/* Where on_alloc should read raw TLS bytes. */
uv_buf_t pgw__tls_read_buf(pgw_session *c);
/* Raw bytes arrived: decrypt into c->in. 0 ok, 1 handshake still running,
** < 0 the connection must close (logged). */
int pgw__tls_input(pgw_session *c, size_t n);
/* Encrypt c->out (and collect handshake bytes) in place. < 0 on failure. */
int pgw__tls_wrap(pgw_session *c);
/* Queue close_notify (after whatever c->out holds). */
void pgw__tls_close_notify(pgw_session *c);
bool pgw__tls_has_output(const pgw_session *c);

/* pgw_write.c */
/* Account for an append: enforce max_output, flush past the threshold. */
int pgw__after_append(pgw_session *c, int rc);

#endif /* SYN_PGW_INT_H */
