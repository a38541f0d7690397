/*
** internal to sql/pgwire: the connection and server structs shared by
** pgw_server.c (sockets, buffers, lifetime), pgw_proto.c (what each
** incoming message does) and pgw_write.c (the executor's writer calls).
**
** Connection states and the only moves between them:
**
**   STARTUP --handshake ok--> READY
**   STARTUP|READY --fatal error / Terminate--> LINGER
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
#include <uv.h>

#include "sql/pgwire/pgw.h"
#include "sql/pgwire/pgw_codec.h"

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
} pgw_state;

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

/* pgw_write.c */
/* Account for an append: enforce max_output, flush past the threshold. */
int pgw__after_append(pgw_session *c, int rc);

#endif /* SYN_PGW_INT_H */
