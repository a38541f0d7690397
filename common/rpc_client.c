/*
** RPC client: one connection to one peer, lazily connected, with request
** ids, per-call timeouts and reconnection with exponential backoff.
**
** States: IDLE (no socket, nothing to send) -> CONNECTING -> CONNECTED;
** a failed or timed-out connect goes to BACKOFF, whose timer (50 ms
** doubling to 2 s, reset by a successful connect) goes back to IDLE and
** reconnects if calls are waiting. One timer serves as the connect timeout
** in CONNECTING and as the backoff delay in BACKOFF. A call made while not CONNECTED waits, encoded, in the
** pending list until the connection is up or its own timer fires.
**
** When an established connection is lost, every call already sent on it
** fails with SYN_ECLOSED: the peer may or may not have executed it, and only
** the caller knows whether retrying is safe. Unsent calls keep waiting.
**
** Memory: the client, each connection attempt and each pending call own
** libuv handles; the client is freed from the close callback of the last
** of them, so user callbacks may call rpc_client_close at any point.
*/
#include "common/frame.h"
#include "common/log.h"
#include "common/rpc.h"
#include "common/rpc_internal.h"

#include <stdlib.h>
#include <string.h>

#define BACKOFF_MIN_MS 50u
#define BACKOFF_MAX_MS 2000u
#define PENDING_BUCKETS 1024u

/* CL_AUTHENTICATING: connected, running the cluster-secret handshake
** (rpc_internal.h); calls wait as in CONNECTING, bounded by the same
** connect timeout. */
typedef enum { CL_IDLE, CL_CONNECTING, CL_AUTHENTICATING, CL_CONNECTED, CL_BACKOFF } client_state;

typedef struct client_conn {
  rpc_client *c;
  uv_tcp_t tcp;
  uv_connect_t creq;
  frame_decoder dec;
  int closed;
  int auth_sent;
  uint8_t nonce[RPC_NONCE_LEN];        /* ours, in AUTH */
  uint8_t server_nonce[RPC_NONCE_LEN]; /* the server's, from HELLO */
  char rbuf[RPC_READ_CHUNK];
} client_conn;

typedef struct pending {
  rpc_client *c;
  uint64_t id;
  uint32_t method;
  uint32_t timeout_ms;
  rpc_response_fn cb;
  void *ud;
  uv_timer_t timer;
  uint8_t *frame; /* owned while not yet sent */
  size_t frame_len;
  int sent;
  int linked;
  struct pending *hnext, *hprev; /* hash bucket chain */
  struct pending *next, *prev;   /* all pending calls, in call order */
} pending;

struct rpc_client {
  uv_loop_t *loop;
  struct sockaddr_storage addr;
  char addr_str[RPC_ADDR_MAX];
  char sender[RPC_NAME_MAX]; /* peer's name, learned from its replies */
  char peer[RPC_PEER_MAX];
  char name[RPC_NAME_MAX];
  uint32_t max_frame;
  /* A connect that neither succeeds nor fails within this long (SYNs dropped
  ** by a partition or a full accept queue) is abandoned and retried with
  ** backoff, instead of waiting minutes for the kernel's SYN retries. */
  uint32_t connect_timeout_ms;
  client_state state;
  client_conn *conn;
  uv_timer_t backoff;
  uint32_t backoff_ms;
  uint64_t next_id;
  pending *buckets[PENDING_BUCKETS];
  pending *head, *tail;
  int open_handles;
  int closing;
  char last_error[160];
  uint8_t secret[SYN_RPC_SECRET_MAX]; /* secret_len 0: no authentication */
  size_t secret_len;
};

typedef struct write_req {
  uv_write_t req;
  uint8_t *buf;
} write_req;

static void start_connect(rpc_client *c);

/* ---- bookkeeping ---------------------------------------------------- */

static void client_maybe_free(rpc_client *c) {
  if (c->closing && c->open_handles == 0) free(c);
}

static pending **bucket(rpc_client *c, uint64_t id) {
  return &c->buckets[id & (PENDING_BUCKETS - 1)];
}

static void pending_link(rpc_client *c, pending *p) {
  pending **b = bucket(c, p->id);
  p->hprev = NULL;
  p->hnext = *b;
  if (*b) (*b)->hprev = p;
  *b = p;
  p->prev = c->tail;
  p->next = NULL;
  if (c->tail) c->tail->next = p;
  else c->head = p;
  c->tail = p;
  p->linked = 1;
}

static void pending_unlink(rpc_client *c, pending *p) {
  if (!p->linked) return;
  if (p->hprev) p->hprev->hnext = p->hnext;
  else *bucket(c, p->id) = p->hnext;
  if (p->hnext) p->hnext->hprev = p->hprev;
  if (p->prev) p->prev->next = p->next;
  else c->head = p->next;
  if (p->next) p->next->prev = p->prev;
  else c->tail = p->prev;
  p->linked = 0;
  p->next = p->prev = p->hnext = p->hprev = NULL;
}

static pending *pending_find(rpc_client *c, uint64_t id) {
  for (pending *p = *bucket(c, id); p; p = p->hnext)
    if (p->id == id) return p;
  return NULL;
}

static void on_pending_closed(uv_handle_t *h) {
  pending *p = h->data;
  rpc_client *c = p->c;
  free(p->frame);
  free(p);
  c->open_handles--;
  client_maybe_free(c);
}

/* Deliver the outcome of an unlinked call exactly once, then release it. */
static void pending_finish(pending *p, int status, const uint8_t *payload,
                           size_t len, const syn_err *err) {
  uv_timer_stop(&p->timer);
  uv_close((uv_handle_t *)&p->timer, on_pending_closed);
  p->cb(status, payload, len, status < 0 ? err : NULL, p->ud);
}

/* Fail every call matching `sent_only` (all calls when 0) with code. The
** calls are detached first because callbacks may add or finish calls. */
static void fail_calls(rpc_client *c, int sent_only, int code, const char *why) {
  pending *list = NULL, **tailp = &list;
  for (pending *p = c->head, *nx; p; p = nx) {
    nx = p->next;
    if (sent_only && !p->sent) continue;
    pending_unlink(c, p);
    *tailp = p;
    tailp = &p->next;
  }
  while (list) {
    pending *p = list;
    list = p->next;
    syn_err err;
    syn_err_set(&err, code, "call to %s method %u: %s", c->peer, p->method, why);
    pending_finish(p, code, NULL, 0, &err);
  }
}

/* ---- connection ----------------------------------------------------- */

static void on_conn_closed(uv_handle_t *h) {
  client_conn *cc = h->data;
  rpc_client *c = cc->c;
  frame_decoder_reset(&cc->dec);
  free(cc);
  c->open_handles--;
  client_maybe_free(c);
}

static void conn_close(client_conn *cc) {
  if (cc->closed) return;
  cc->closed = 1;
  if (cc->c->conn == cc) cc->c->conn = NULL;
  uv_close((uv_handle_t *)&cc->tcp, on_conn_closed);
}

static int have_unsent(const rpc_client *c) {
  for (const pending *p = c->head; p; p = p->next)
    if (!p->sent) return 1;
  return 0;
}

static void enter_backoff(rpc_client *c);

static void on_backoff(uv_timer_t *t) {
  rpc_client *c = t->data;
  if (c->state == CL_CONNECTING || c->state == CL_AUTHENTICATING) {
    snprintf(c->last_error, sizeof c->last_error, "%s %s timed out after %u ms",
             c->state == CL_CONNECTING ? "connect to" : "authentication with", c->addr_str,
             c->connect_timeout_ms);
    SYN_LOG_DEBUG(NULL, "rpc: %s", c->last_error);
    if (c->conn) conn_close(c->conn); /* cancels the connect: on_connect sees closed */
    enter_backoff(c);
    return;
  }
  c->state = CL_IDLE;
  if (have_unsent(c)) start_connect(c);
}

static void enter_backoff(rpc_client *c) {
  c->state = CL_BACKOFF;
  uv_timer_start(&c->backoff, on_backoff, c->backoff_ms, 0);
  c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

/* The established connection is gone (EOF, error or bad input). */
static void connection_lost(rpc_client *c, client_conn *cc, const char *why) {
  if (!c->closing) SYN_LOG_INFO(NULL, "rpc: connection to %s lost: %s", c->peer, why);
  conn_close(cc);
  if (c->state == CL_AUTHENTICATING)
    snprintf(c->last_error, sizeof c->last_error,
             "%s during authentication (does it have the same cluster secret?)", why);
  else
    snprintf(c->last_error, sizeof c->last_error, "%s", why);
  if (c->closing) return;
  if (have_unsent(c)) enter_backoff(c);
  else c->state = CL_IDLE;
  fail_calls(c, 1, SYN_ECLOSED, why);
}

/* Bad bytes from the peer: warn naming it, then treat as a lost connection. */
static void conn_drop(rpc_client *c, client_conn *cc, const char *why) {
  SYN_LOG_WARN(NULL, "rpc: dropping connection to %s: %s", c->peer, why);
  char msg[SYN_ERR_MSG_MAX + 24];
  snprintf(msg, sizeof msg, "connection dropped: %s", why);
  connection_lost(c, cc, msg);
}

static void on_write(uv_write_t *req, int status) {
  write_req *w = (write_req *)req;
  client_conn *cc = req->handle->data;
  free(w->buf);
  free(w);
  if (status < 0 && status != UV_ECANCELED && !cc->closed) {
    char why[128];
    snprintf(why, sizeof why, "write failed: %s", uv_strerror(status));
    connection_lost(cc->c, cc, why);
  }
}

static void send_pending(rpc_client *c, pending *p) {
  write_req *w = malloc(sizeof *w);
  if (!w) {
    connection_lost(c, c->conn, "out of memory");
    return;
  }
  w->buf = p->frame;
  p->frame = NULL; /* the write request owns it now: a timeout must not free it */
  p->sent = 1;
  uv_buf_t b = uv_buf_init((char *)w->buf, (unsigned)p->frame_len);
  int rc = uv_write(&w->req, (uv_stream_t *)&c->conn->tcp, &b, 1, on_write);
  if (rc < 0) {
    free(w->buf);
    free(w);
    char why[128];
    snprintf(why, sizeof why, "write failed: %s", uv_strerror(rc));
    connection_lost(c, c->conn, why);
  }
}

static void send_pending(rpc_client *c, pending *p);

/* Queue one frame of ours that is not a call (the AUTH answer). */
static void send_frame(rpc_client *c, client_conn *cc, Synod__Rpc__Envelope *e) {
  syn_err err;
  write_req *w = malloc(sizeof *w);
  size_t n = 0;
  if (!w || frame_encode_new(e, c->max_frame, &w->buf, &n, &err) < 0) {
    free(w);
    connection_lost(c, cc, "cannot encode a frame");
    return;
  }
  uv_buf_t b = uv_buf_init((char *)w->buf, (unsigned)n);
  int rc = uv_write(&w->req, (uv_stream_t *)&cc->tcp, &b, 1, on_write);
  if (rc < 0) {
    free(w->buf);
    free(w);
    connection_lost(c, cc, "write failed");
  }
}

/* The handshake, client side (rpc_internal.h). The client proves the
** secret only after the server's HELLO, and trusts the connection only
** once the server has proved it too: a process on the peer's port without
** the secret can never receive a PREPARE or answer one. */
static void auth_step(rpc_client *c, client_conn *cc, const Synod__Rpc__Envelope *e) {
  syn_err err;
  if (e->kind == SYNOD__RPC__ENVELOPE__KIND__HELLO) {
    if (c->secret_len == 0) {
      conn_drop(c, cc, "peer requires authentication, and this node has no cluster secret");
      return;
    }
    if (c->state != CL_AUTHENTICATING || cc->auth_sent || e->payload.len != RPC_NONCE_LEN) {
      conn_drop(c, cc, "unexpected or malformed HELLO");
      return;
    }
    memcpy(cc->server_nonce, e->payload.data, RPC_NONCE_LEN);
    uint8_t answer[RPC_AUTH_LEN];
    if (rpc_auth_nonce(cc->nonce, &err) < 0 ||
        rpc_auth_mac(c->secret, c->secret_len, 0, cc->server_nonce, cc->nonce,
                     answer + RPC_NONCE_LEN, &err) < 0) {
      connection_lost(c, cc, err.msg);
      return;
    }
    memcpy(answer, cc->nonce, RPC_NONCE_LEN);
    Synod__Rpc__Envelope a = SYNOD__RPC__ENVELOPE__INIT;
    a.kind = SYNOD__RPC__ENVELOPE__KIND__AUTH;
    a.sender = c->name;
    a.payload.data = answer;
    a.payload.len = sizeof answer;
    cc->auth_sent = 1;
    send_frame(c, cc, &a);
    return;
  }
  if (e->kind != SYNOD__RPC__ENVELOPE__KIND__AUTH_OK || c->state != CL_AUTHENTICATING ||
      !cc->auth_sent || e->payload.len != RPC_MAC_LEN) {
    conn_drop(c, cc, "authentication envelope out of turn");
    return;
  }
  uint8_t want[RPC_MAC_LEN];
  if (rpc_auth_mac(c->secret, c->secret_len, 1, cc->nonce, cc->server_nonce, want, &err) < 0) {
    connection_lost(c, cc, err.msg);
    return;
  }
  if (!rpc_auth_equal(want, e->payload.data)) {
    conn_drop(c, cc, "peer failed authentication: it does not know the cluster secret");
    return;
  }
  uv_timer_stop(&c->backoff);
  c->state = CL_CONNECTED;
  c->backoff_ms = BACKOFF_MIN_MS;
  SYN_LOG_DEBUG(NULL, "rpc: authenticated with %s", c->peer);
  for (pending *p = c->head; p && c->conn == cc; p = p->next)
    if (!p->sent) send_pending(c, p);
}

static void handle_envelope(rpc_client *c, client_conn *cc, Synod__Rpc__Envelope *e) {
  if (e->sender[0] && !c->sender[0]) {
    rpc_name_copy(c->sender, sizeof c->sender, e->sender);
    rpc_peer_desc(c->peer, sizeof c->peer, c->addr_str, c->sender);
  }
  if (e->kind == SYNOD__RPC__ENVELOPE__KIND__HELLO ||
      e->kind == SYNOD__RPC__ENVELOPE__KIND__AUTH ||
      e->kind == SYNOD__RPC__ENVELOPE__KIND__AUTH_OK) {
    auth_step(c, cc, e);
    return;
  }
  if (c->state == CL_AUTHENTICATING) {
    conn_drop(c, cc, "peer replied before authenticating");
    return;
  }
  if (e->kind == SYNOD__RPC__ENVELOPE__KIND__REQUEST) {
    conn_drop(c, cc, "server sent a request envelope");
    return;
  }
  pending *p = pending_find(c, e->request_id);
  if (!p || !p->sent) {
    /* A reply to a call that already timed out. */
    SYN_LOG_DEBUG(NULL, "rpc: late reply from %s for request %llu ignored", c->peer,
                  (unsigned long long)e->request_id);
    return;
  }
  pending_unlink(c, p);
  if (e->kind == SYNOD__RPC__ENVELOPE__KIND__RESPONSE) {
    pending_finish(p, 0, e->payload.data, e->payload.len, NULL);
    return;
  }
  /* ERROR: the remote's SYN_E* code is passed through (frame validation
  ** guarantees it is negative) so callers can react to e.g. SYN_ECONFLICT. */
  syn_err err;
  syn_err_set(&err, e->error_code, "%s method %u: %s", c->peer, p->method,
              e->error_message);
  pending_finish(p, e->error_code, NULL, 0, &err);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  client_conn *cc = h->data;
  buf->base = cc->rbuf;
  buf->len = sizeof cc->rbuf;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  client_conn *cc = stream->data;
  rpc_client *c = cc->c;
  if (nread == 0 || cc->closed) return;
  if (nread < 0) {
    syn_err err;
    if (nread == UV_EOF && frame_decoder_eof(&cc->dec, &err) < 0) {
      conn_drop(c, cc, err.msg);
    } else {
      char why[128];
      if (nread == UV_EOF) snprintf(why, sizeof why, "peer closed the connection");
      else snprintf(why, sizeof why, "read failed: %s", uv_strerror((int)nread));
      connection_lost(c, cc, why);
    }
    return;
  }
  const uint8_t *p = (const uint8_t *)buf->base;
  size_t len = (size_t)nread;
  /* cc stays allocated until its close callback, a later loop turn, so
  ** checking cc->closed after user callbacks is safe. */
  while (!cc->closed) {
    Synod__Rpc__Envelope *e = NULL;
    syn_err err;
    int rc = frame_decoder_next(&cc->dec, &p, &len, &e, &err);
    if (rc == 0) break;
    if (rc < 0) {
      conn_drop(c, cc, err.msg);
      break;
    }
    handle_envelope(c, cc, e);
    frame_envelope_free(e);
  }
}

static void on_connect(uv_connect_t *req, int status) {
  client_conn *cc = req->data;
  rpc_client *c = cc->c;
  if (cc->closed) return; /* client closed, or connect timed out */
  uv_timer_stop(&c->backoff);
  if (status < 0) {
    snprintf(c->last_error, sizeof c->last_error, "connect to %s failed: %s",
             c->addr_str, uv_strerror(status));
    SYN_LOG_DEBUG(NULL, "rpc: %s (retry in %u ms)", c->last_error, c->backoff_ms);
    conn_close(cc);
    enter_backoff(c);
    return;
  }
  int rc = uv_read_start((uv_stream_t *)&cc->tcp, on_alloc, on_read);
  if (rc < 0) {
    snprintf(c->last_error, sizeof c->last_error, "read on %s failed: %s",
             c->addr_str, uv_strerror(rc));
    conn_close(cc);
    enter_backoff(c);
    return;
  }
  uv_tcp_nodelay(&cc->tcp, 1);
  uv_tcp_keepalive(&cc->tcp, 1, 10);
  if (c->secret_len) {
    /* Wait for the server's HELLO, within the connect timeout. */
    c->state = CL_AUTHENTICATING;
    uv_timer_start(&c->backoff, on_backoff, c->connect_timeout_ms, 0);
    return;
  }
  c->state = CL_CONNECTED;
  c->backoff_ms = BACKOFF_MIN_MS;
  SYN_LOG_DEBUG(NULL, "rpc: connected to %s", c->peer);
  for (pending *p = c->head; p && c->conn == cc; p = p->next)
    if (!p->sent) send_pending(c, p);
}

static void start_connect(rpc_client *c) {
  client_conn *cc = calloc(1, sizeof *cc);
  if (!cc) {
    snprintf(c->last_error, sizeof c->last_error, "out of memory");
    enter_backoff(c);
    return;
  }
  cc->c = c;
  frame_decoder_init(&cc->dec, c->max_frame);
  uv_tcp_init(c->loop, &cc->tcp);
  cc->tcp.data = cc;
  cc->creq.data = cc;
  c->open_handles++;
  c->conn = cc;
  c->state = CL_CONNECTING;
  int rc = uv_tcp_connect(&cc->creq, &cc->tcp, (struct sockaddr *)&c->addr, on_connect);
  if (rc < 0) {
    snprintf(c->last_error, sizeof c->last_error, "connect to %s failed: %s",
             c->addr_str, uv_strerror(rc));
    conn_close(cc);
    enter_backoff(c);
    return;
  }
  uv_timer_start(&c->backoff, on_backoff, c->connect_timeout_ms, 0);
}

/* ---- public API ------------------------------------------------------- */

int rpc_client_new(uv_loop_t *loop, const char *host, int port,
                   const rpc_opts *opts, rpc_client **out, syn_err *err) {
  if (port <= 0 || port > 65535)
    return syn_err_set(err, SYN_EINVAL, "port %d out of range 1..65535", port);
  rpc_client *c = calloc(1, sizeof *c);
  if (!c) return syn_err_set(err, SYN_ENOMEM, "rpc client");
  socklen_t sl;
  int rc = rpc_resolve(host, port, &c->addr, &sl, err);
  if (rc < 0) {
    free(c);
    return rc;
  }
  c->loop = loop;
  rpc_addr_str((struct sockaddr *)&c->addr, c->addr_str, sizeof c->addr_str);
  rpc_peer_desc(c->peer, sizeof c->peer, c->addr_str, NULL);
  rpc_name_copy(c->name, sizeof c->name, (opts && opts->node_name) ? opts->node_name : "");
  c->max_frame = (opts && opts->max_frame) ? opts->max_frame : SYN_RPC_DEFAULT_MAX_FRAME;
  c->connect_timeout_ms = (opts && opts->connect_timeout_ms) ? opts->connect_timeout_ms
                                                             : SYN_RPC_DEFAULT_CONNECT_TIMEOUT_MS;
  if (opts && opts->secret_len) {
    if (opts->secret_len > sizeof c->secret) {
      free(c);
      return syn_err_set(err, SYN_EINVAL, "cluster secret longer than %d bytes",
                         SYN_RPC_SECRET_MAX);
    }
    memcpy(c->secret, opts->secret, opts->secret_len);
    c->secret_len = opts->secret_len;
  }
  c->state = CL_IDLE;
  c->backoff_ms = BACKOFF_MIN_MS;
  c->next_id = 1;
  snprintf(c->last_error, sizeof c->last_error, "not connected yet");
  uv_timer_init(loop, &c->backoff);
  c->backoff.data = c;
  c->open_handles = 1;
  *out = c;
  return 0;
}

static void on_timeout(uv_timer_t *t) {
  pending *p = t->data;
  rpc_client *c = p->c;
  pending_unlink(c, p);
  syn_err err;
  if (p->sent)
    syn_err_set(&err, SYN_ETIMEDOUT, "call to %s method %u timed out after %u ms",
                c->peer, p->method, p->timeout_ms);
  else
    syn_err_set(&err, SYN_ETIMEDOUT,
                "call to %s method %u timed out after %u ms unsent (%s)", c->peer,
                p->method, p->timeout_ms, c->last_error);
  pending_finish(p, SYN_ETIMEDOUT, NULL, 0, &err);
}

int rpc_client_call(rpc_client *c, uint32_t method, const uint8_t *payload,
                    size_t len, uint32_t timeout_ms, rpc_response_fn cb,
                    void *ud, syn_err *err) {
  if (c->closing) return syn_err_set(err, SYN_ECLOSED, "rpc client to %s is closed", c->peer);
  if (!cb) return syn_err_set(err, SYN_EINVAL, "rpc call without a callback");
  if (timeout_ms == 0)
    return syn_err_set(err, SYN_EINVAL, "rpc call needs a timeout (every wait is bounded)");
  if (method == 0) return syn_err_set(err, SYN_EINVAL, "method 0 is reserved");
  pending *p = calloc(1, sizeof *p);
  if (!p) return syn_err_set(err, SYN_ENOMEM, "rpc call");
  Synod__Rpc__Envelope e = SYNOD__RPC__ENVELOPE__INIT;
  e.request_id = c->next_id;
  e.method = method;
  e.sender = c->name;
  e.payload.data = (uint8_t *)payload;
  e.payload.len = payload ? len : 0;
  int rc = frame_encode_new(&e, c->max_frame, &p->frame, &p->frame_len, err);
  if (rc < 0) {
    free(p);
    return rc;
  }
  p->c = c;
  p->id = c->next_id++;
  p->method = method;
  p->timeout_ms = timeout_ms;
  p->cb = cb;
  p->ud = ud;
  uv_timer_init(c->loop, &p->timer);
  p->timer.data = p;
  c->open_handles++;
  uv_timer_start(&p->timer, on_timeout, timeout_ms, 0);
  pending_link(c, p);
  if (c->state == CL_CONNECTED) send_pending(c, p);
  else if (c->state == CL_IDLE) start_connect(c);
  return 0;
}

static void on_backoff_closed(uv_handle_t *h) {
  rpc_client *c = h->data;
  c->open_handles--;
  client_maybe_free(c);
}

void rpc_client_close(rpc_client *c) {
  if (c->closing) return;
  c->closing = 1;
  uv_timer_stop(&c->backoff);
  uv_close((uv_handle_t *)&c->backoff, on_backoff_closed);
  if (c->conn) conn_close(c->conn);
  /* The client memory lives until the last close callback, after this. */
  fail_calls(c, 0, SYN_ECLOSED, "client closed");
}
