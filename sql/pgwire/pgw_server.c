/*
** The libuv side of pgwire: listening, accepting, reading into the input
** buffer, writing the output buffer, and every way a connection ends.
** What a message means lives in pgw_proto.c; this file only moves bytes
** and keeps the lifetime rules of pgw_int.h.
*/
#include "sql/pgwire/pgw_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#ifndef PGW_SYNOD_VERSION
#define PGW_SYNOD_VERSION "0.0.0"
#endif

typedef struct pgw_wreq {
  uv_write_t req;
  pgw_session *c;
  uint8_t *data;
  size_t len;
} pgw_wreq;

static void server_maybe_done(pgw_server *srv);

/* ---- freeing ------------------------------------------------------------ */

static void conn_free(pgw_session *c) {
  pgw_server *srv = c->srv;
  if (c->opened) {
    srv->nopen--;
    srv->ex.session_close(srv->ex.ud, c);
  }
  if (c->prev) c->prev->next = c->next;
  else srv->sessions = c->next;
  if (c->next) c->next->prev = c->prev;
  srv->nsessions--;
  pgw_buf_free(&c->in);
  pgw_buf_free(&c->out);
  pgw_startup_clear(&c->startup);
  pgw_xmsg_clear(&c->xmsg);
  pgw__auth_clear(c);
  pgw__tls_free(c->tls);
  free(c);
  server_maybe_done(srv);
}

static void on_reap(uv_timer_t *t) {
  pgw_server *srv = t->data;
  while (srv->reap) {
    pgw_session *c = srv->reap;
    srv->reap = c->reap_next;
    conn_free(c);
  }
}

void pgw__defer_free(pgw_session *c) {
  if (c->reaping) return;
  c->reaping = 1;
  c->reap_next = c->srv->reap;
  c->srv->reap = c;
  uv_timer_start(&c->srv->reaper, on_reap, 0, 0);
}

static void on_handle_closed(uv_handle_t *h) {
  pgw_session *c = h->data;
  if (--c->handles_open > 0) return;
  if (c->in_query) {
    /* An executor parked on pgw_output_full would wait forever for a
    ** write that will never complete: wake it so it sees the close. */
    if (c->full_seen && c->srv->ex.writable) {
      c->full_seen = 0;
      c->srv->ex.writable(c->srv->ex.ud, c);
    }
    return; /* pgw_query_done frees it */
  }
  conn_free(c);
}

/* An executor waiting for COPY data would wait forever once the
** connection is gone: end its COPY as a failed one. */
static void copy_abort(pgw_session *c) {
  if (!c->copy_in) return;
  c->copy_in = 0;
  c->srv->ex.copy_data(c->srv->ex.ud, c, 'f', "client connection lost", 22);
}

void pgw__close_now(pgw_session *c) {
  if (c->state == PGW_ST_CLOSING) return;
  copy_abort(c);
  c->state = PGW_ST_CLOSING;
  c->reading = 0;
  c->out.len = 0;
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

/* ---- graceful close (LINGER) -------------------------------------------- */

static void on_linger_timeout(uv_timer_t *t) {
  pgw_session *c = t->data;
  SYN_LOG_DEBUG("-", "pgwire: %s: linger timeout, closing", c->peer);
  pgw__close_now(c);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  pgw_session *c = req->data;
  if (c->state == PGW_ST_CLOSING) return;
  if (status < 0) {
    pgw__close_now(c);
    return;
  }
  c->shut_done = 1;
  pgw__update_reading(c); /* discard input until the client's EOF */
}

static void start_shutdown(pgw_session *c) {
  if (c->shut_started) return;
  c->shut_started = 1;
  c->shut.data = c;
  if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown) != 0) pgw__close_now(c);
}

void pgw__close_graceful(pgw_session *c) {
  if (c->state == PGW_ST_LINGER || c->state == PGW_ST_CLOSING) return;
  copy_abort(c);
  c->state = PGW_ST_LINGER;
  pgw__update_reading(c);
  uv_timer_stop(&c->timer);
  uv_timer_start(&c->timer, on_linger_timeout, PGW_LINGER_MS, 0);
  /* TLS: close_notify after the last message, so the client sees a clean
  ** end of the TLS stream rather than a truncation. */
  if (c->tls) pgw__tls_close_notify(c);
  pgw__flush(c);
  if (c->state == PGW_ST_LINGER && c->inflight == 0) start_shutdown(c);
}

/* ---- writing ------------------------------------------------------------ */

static void on_write(uv_write_t *req, int status) {
  pgw_wreq *w = req->data;
  pgw_session *c = w->c;
  c->inflight -= w->len;
  free(w->data);
  free(w);
  if (c->state == PGW_ST_CLOSING) return;
  if (status < 0) {
    SYN_LOG_DEBUG("-", "pgwire: %s: write failed: %s", c->peer, uv_strerror(status));
    pgw__close_now(c);
    return;
  }
  if (c->state == PGW_ST_LINGER) {
    if (c->inflight == 0 && c->out.len == 0) start_shutdown(c);
    return;
  }
  if (pgw__backlog(c) > PGW_OUTPUT_LOW_WATER) return;
  if (c->in_query) {
    if (c->full_seen) {
      c->full_seen = 0;
      if (c->srv->ex.writable) c->srv->ex.writable(c->srv->ex.ud, c);
    }
    return;
  }
  /* Input processing may have paused on a full backlog (a client that
  ** pipelines queries without reading answers); resume it. */
  pgw__process_input(c);
}

void pgw__flush(pgw_session *c) {
  if (c->out.len == 0 && !(c->tls && pgw__tls_has_output(c))) return;
  if (c->state == PGW_ST_CLOSING) {
    c->out.len = 0;
    return;
  }
  /* TLS: the plaintext in c->out becomes records (plus any handshake
  ** bytes OpenSSL produced); everything below moves ciphertext. */
  if (c->tls && pgw__tls_wrap(c) < 0) {
    pgw__close_now(c);
    return;
  }
  if (c->out.len == 0) return;
  pgw_wreq *w = malloc(sizeof *w);
  if (!w) {
    SYN_LOG_ERROR("-", "pgwire: %s: out of memory for a write; closing", c->peer);
    pgw__close_now(c);
    return;
  }
  w->c = c;
  w->data = c->out.p;
  w->len = c->out.len;
  w->req.data = w;
  pgw_buf_init(&c->out); /* the request owns the bytes now */
  uv_buf_t ub = uv_buf_init((char *)w->data, (unsigned int)w->len);
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &ub, 1, on_write);
  if (rc != 0) {
    SYN_LOG_DEBUG("-", "pgwire: %s: write failed: %s", c->peer, uv_strerror(rc));
    free(w->data);
    free(w);
    pgw__close_now(c);
    return;
  }
  c->inflight += w->len;
}

/* ---- reading ------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  pgw_session *c = h->data;
  (void)suggested;
  if (c->tls) {
    *buf = pgw__tls_read_buf(c);
    return;
  }
  if (pgw_buf_reserve(&c->in, 64 * 1024) != 0) {
    /* libuv turns a zero-length buffer into UV_ENOBUFS in on_read. */
    c->in.oom = 0;
    *buf = uv_buf_init(NULL, 0);
    return;
  }
  *buf = uv_buf_init((char *)c->in.p + c->in.len, (unsigned int)(c->in.cap - c->in.len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  pgw_session *c = st->data;
  if (nread == 0) return;
  if (nread < 0) {
    if (c->state == PGW_ST_READY && c->in.len > c->in_off)
      SYN_LOG_INFO("-", "pgwire: %s: connection ended inside a message (%s)", c->peer,
                   uv_strerror((int)nread));
    else if (nread != UV_EOF)
      SYN_LOG_DEBUG("-", "pgwire: %s: read failed: %s", c->peer, uv_strerror((int)nread));
    pgw__close_now(c);
    return;
  }
  if (c->state == PGW_ST_LINGER) {
    c->in.len = c->in_off = 0; /* discarded: the session is over */
    return;
  }
  if (c->tls) {
    int rc = pgw__tls_input(c, (size_t)nread);
    if (rc < 0) {
      pgw__close_now(c);
      return;
    }
    if (rc == 1) { /* handshake in progress: send its bytes, wait for more */
      pgw__flush(c);
      return;
    }
  } else {
    c->in.len += (size_t)nread;
  }
  pgw__process_input(c);
}

void pgw__update_reading(pgw_session *c) {
  int want;
  switch (c->state) {
  case PGW_ST_STARTUP:
  case PGW_ST_AUTH:
  case PGW_ST_READY:
    want = (!c->in_query || (c->copy_in && !c->copy_paused)) &&
           pgw__backlog(c) < PGW_OUTPUT_HIGH_WATER;
    break;
  case PGW_ST_LINGER:
    want = c->shut_done;
    break;
  default:
    return;
  }
  if (want && !c->reading) {
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc != 0) {
      SYN_LOG_DEBUG("-", "pgwire: %s: read start failed: %s", c->peer, uv_strerror(rc));
      pgw__close_now(c);
      return;
    }
    c->reading = 1;
  } else if (!want && c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  }
}

/* ---- accepting ---------------------------------------------------------- */

static void on_startup_timeout(uv_timer_t *t) {
  pgw_session *c = t->data;
  if (c->state != PGW_ST_STARTUP && c->state != PGW_ST_AUTH) return;
  SYN_LOG_INFO("-", "pgwire: %s: no startup packet within %u ms; closing", c->peer,
               c->srv->startup_timeout_ms);
  pgw__close_now(c);
}

static void peer_name(uv_tcp_t *tcp, struct sockaddr_storage *ss_out, char *out, size_t cap) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  snprintf(out, cap, "?");
  memset(ss_out, 0, sizeof *ss_out);
  if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0) return;
  *ss_out = ss;
  char ip[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
    uv_ip4_name(a, ip, sizeof ip);
    snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
  } else if (ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
    uv_ip6_name(a, ip, sizeof ip);
    snprintf(out, cap, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
  }
}

static void on_reject_closed(uv_handle_t *h) { free(h); }

static void on_connection(uv_stream_t *listener, int status) {
  pgw_server *srv = listener->data;
  if (status < 0) {
    SYN_LOG_WARN("-", "pgwire: accept failed: %s", uv_strerror(status));
    return;
  }
  pgw_session *c = calloc(1, sizeof *c);
  if (!c || uv_tcp_init(srv->loop, &c->tcp) != 0) {
    free(c);
    /* Accept and drop so the listen queue does not spin on one client. */
    uv_tcp_t *t = malloc(sizeof *t);
    if (t && uv_tcp_init(srv->loop, t) == 0) {
      if (uv_accept(listener, (uv_stream_t *)t) != 0) {}
      uv_close((uv_handle_t *)t, on_reject_closed);
    } else {
      free(t);
    }
    SYN_LOG_ERROR("-", "pgwire: out of memory accepting a connection");
    return;
  }
  c->srv = srv;
  c->tcp.data = c;
  c->timer.data = c;
  c->txn_status = 'I';
  pgw_buf_init(&c->in);
  pgw_buf_init(&c->out);
  uv_timer_init(srv->loop, &c->timer);
  c->handles_open = 2;
  c->next = srv->sessions;
  if (srv->sessions) srv->sessions->prev = c;
  srv->sessions = c;
  srv->nsessions++;
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
    pgw__close_now(c);
    return;
  }
  peer_name(&c->tcp, &c->peer_addr, c->peer, sizeof c->peer);
  /* Connections that never authenticate still hold a socket: cap them
  ** well above max_sessions so cancel requests and the FATAL "too many
  ** clients" answer still get through. */
  if (srv->closing || srv->nsessions > (size_t)srv->max_sessions * 2 + 16) {
    SYN_LOG_WARN("-", "pgwire: %s: refusing connection: %zu connections open", c->peer,
                 srv->nsessions);
    pgw__close_now(c);
    return;
  }
  /* Small responses must not wait for Nagle; idle peers that vanished
  ** (host crash, cable) are found by keepalive instead of holding a slot. */
  uv_tcp_nodelay(&c->tcp, 1);
  uv_tcp_keepalive(&c->tcp, 1, 60);
  uv_timer_start(&c->timer, on_startup_timeout, srv->startup_timeout_ms, 0);
  pgw__update_reading(c);
}

/* ---- server ------------------------------------------------------------- */

static void on_server_handle_closed(uv_handle_t *h) {
  pgw_server *srv = h->data;
  srv->handles_open--;
  server_maybe_done(srv);
}

static void server_maybe_done(pgw_server *srv) {
  if (!srv->closing || srv->nsessions > 0) return;
  if (!srv->reaper_closing) {
    /* Sessions are all gone: nothing can queue a reap any more. */
    srv->reaper_closing = 1;
    uv_close((uv_handle_t *)&srv->reaper, on_server_handle_closed);
    return;
  }
  if (srv->handles_open > 0) return;
  void (*cb)(void *) = srv->close_cb;
  void *ud = srv->close_ud;
  pgw__tls_ctx_free(srv->ssl_ctx);
  free(srv);
  if (cb) cb(ud);
}

int pgw_server_new(uv_loop_t *loop, const pgw_server_opts *o, pgw_server **out,
                   syn_err *err) {
  *out = NULL;
  if (!o || !o->host || !o->random || !o->executor.session_open ||
      !o->executor.session_close || !o->executor.simple_query)
    return syn_err_set(err, SYN_EINVAL,
                       "pgwire: host, random and executor session_open/session_close/"
                       "simple_query are required");
  if (o->port < 0 || o->port > 65535)
    return syn_err_set(err, SYN_EINVAL, "pgwire: bad port %d", o->port);
  struct sockaddr_storage addr;
  if (uv_ip4_addr(o->host, o->port, (struct sockaddr_in *)&addr) != 0 &&
      uv_ip6_addr(o->host, o->port, (struct sockaddr_in6 *)&addr) != 0)
    return syn_err_set(err, SYN_EINVAL, "pgwire: bad listen address '%s'", o->host);

  if ((o->tls_cert == NULL) != (o->tls_key == NULL))
    return syn_err_set(err, SYN_EINVAL, "pgwire: a TLS certificate needs its key and vice versa");
  pgw_ssl_ctx *ssl_ctx = NULL;
  if (o->tls_cert) {
    int trc = pgw__tls_ctx_new(o->tls_cert, o->tls_key, &ssl_ctx, err);
    if (trc < 0) return trc;
  }
  pgw_server *srv = calloc(1, sizeof *srv);
  if (!srv) {
    pgw__tls_ctx_free(ssl_ctx);
    return syn_err_set(err, SYN_ENOMEM, "pgwire: out of memory");
  }
  srv->ssl_ctx = ssl_ctx;
  srv->hba = o->hba;
  srv->loop = loop;
  srv->ex = o->executor;
  srv->random = o->random;
  srv->random_ud = o->random_ud;
  snprintf(srv->server_version, sizeof srv->server_version, "%s",
           o->server_version ? o->server_version : "15.0 (synod " PGW_SYNOD_VERSION ")");
  srv->max_message = o->max_message ? o->max_message : PGW_DEFAULT_MAX_MESSAGE;
  srv->max_output = o->max_output ? o->max_output : PGW_DEFAULT_MAX_OUTPUT;
  srv->max_sessions = o->max_sessions ? o->max_sessions : PGW_DEFAULT_MAX_SESSIONS;
  srv->startup_timeout_ms =
      o->startup_timeout_ms ? o->startup_timeout_ms : PGW_DEFAULT_STARTUP_TIMEOUT_MS;

  int rc = uv_tcp_init(loop, &srv->listener);
  if (rc != 0) {
    pgw__tls_ctx_free(srv->ssl_ctx);
    free(srv);
    return syn_err_set(err, SYN_EIO, "pgwire: tcp init: %s", uv_strerror(rc));
  }
  uv_timer_init(loop, &srv->reaper);
  srv->listener.data = srv;
  srv->reaper.data = srv;
  srv->handles_open = 2;
  rc = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&addr, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&srv->listener, 128, on_connection);
  if (rc != 0) {
    syn_err_set(err, SYN_EIO, "pgwire: listen on %s:%d: %s", o->host, o->port,
                uv_strerror(rc));
    srv->closing = 1; /* freed by server_maybe_done once both handles close */
    uv_close((uv_handle_t *)&srv->listener, on_server_handle_closed);
    return SYN_EIO;
  }
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &blen);
  srv->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                          : ntohs(((struct sockaddr_in *)&bound)->sin_port);
  SYN_LOG_INFO("-", "pgwire: listening on %s:%d (TLS %s, authentication %s)", o->host,
               srv->port, srv->ssl_ctx ? "on" : "off", srv->hba ? "by rules file" : "trust");
  *out = srv;
  return 0;
}

int pgw_server_port(const pgw_server *srv) { return srv->port; }

size_t pgw_server_session_count(const pgw_server *srv) { return srv->nsessions; }

void pgw_server_close(pgw_server *srv, void (*cb)(void *ud), void *ud) {
  if (srv->closing) return; /* a second call would close handles twice */
  srv->closing = 1;
  srv->close_cb = cb;
  srv->close_ud = ud;
  uv_close((uv_handle_t *)&srv->listener, on_server_handle_closed);
  for (pgw_session *c = srv->sessions; c; c = c->next) pgw__close_now(c);
}

/* ---- accessors ---------------------------------------------------------- */

void pgw_session_set_ud(pgw_session *s, void *ud) { s->ud = ud; }
void *pgw_session_get_ud(const pgw_session *s) { return s->ud; }
const char *pgw_session_peer(const pgw_session *s) { return s->peer; }
int32_t pgw_session_pid(const pgw_session *s) { return s->pid; }
const pgw_startup *pgw_session_startup(const pgw_session *s) { return &s->startup; }

int pgw_session_is_closed(const pgw_session *s) {
  return s->state == PGW_ST_CLOSING || s->state == PGW_ST_LINGER;
}

int pgw_output_full(const pgw_session *s) {
  if (pgw_session_is_closed(s)) return 0; /* never park on a dead socket */
  return pgw__backlog(s) >= PGW_OUTPUT_HIGH_WATER;
}

int pgw_session_tls(const pgw_session *s) { return s->tls != NULL; }
