/*
** RPC server: accepts connections, decodes request frames, dispatches them
** through the method table and writes replies.
**
** Lifetimes. A connection (rpc_conn) is referenced by its TCP handle until
** the handle's close callback, by every rpc_call awaiting a reply, and for
** the duration of a read callback. A handler may reply after it returns;
** if the connection closed meanwhile, rpc_reply sees conn->closed, drops
** the reply and releases its reference. Every connection in turn holds a
** reference on the server, so a reply that arrives after rpc_server_close
** still finds the server's name and frame limit. The server's own
** reference is dropped once the close callback ran.
*/
#include "common/frame.h"
#include "common/log.h"
#include "common/rpc.h"
#include "common/rpc_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct method_entry {
  uint32_t method;
  rpc_handler_fn fn;
  void *ud;
} method_entry;

typedef struct rpc_conn rpc_conn;

struct rpc_server {
  uv_loop_t *loop;
  uv_tcp_t listener;
  char name[RPC_NAME_MAX];
  uint32_t max_frame;
  int port;
  method_entry *methods;
  size_t n_methods, cap_methods;
  rpc_conn *conns;      /* open connections, doubly linked */
  int open_handles;     /* listener + connection handles not yet closed */
  int refs;             /* 1 for the owner + 1 per live rpc_conn */
  int closing;
  int close_done;
  void (*close_cb)(void *ud);
  void *close_ud;
  uint8_t secret[SYN_RPC_SECRET_MAX]; /* secret_len 0: no authentication */
  size_t secret_len;
};

struct rpc_conn {
  rpc_server *srv;
  uv_tcp_t tcp;
  frame_decoder dec;
  rpc_conn *prev, *next;
  int refs;
  int closed;
  uint32_t inflight;
  int authed;                   /* passed the handshake (or none required) */
  uint8_t nonce[RPC_NONCE_LEN]; /* our HELLO challenge */
  char addr[RPC_ADDR_MAX];
  char sender[RPC_NAME_MAX];
  char peer[RPC_PEER_MAX];
  char rbuf[RPC_READ_CHUNK];
};

struct rpc_call {
  rpc_conn *conn;
  uint64_t request_id;
  uint32_t method;
};

typedef struct write_req {
  uv_write_t req;
  uint8_t *buf;
} write_req;

static void server_unref(rpc_server *s) {
  if (--s->refs > 0) return;
  free(s->methods);
  free(s);
}

static void conn_unref(rpc_conn *c) {
  if (--c->refs > 0) return;
  rpc_server *s = c->srv;
  frame_decoder_reset(&c->dec);
  free(c);
  server_unref(s);
}

static void server_maybe_done(rpc_server *s) {
  if (!s->closing || s->open_handles > 0 || s->close_done) return;
  s->close_done = 1;
  if (s->close_cb) s->close_cb(s->close_ud);
  server_unref(s);
}

static void on_conn_closed(uv_handle_t *h) {
  rpc_conn *c = h->data;
  rpc_server *s = c->srv;
  s->open_handles--;
  /* c still holds its server reference here, so s outlives this call even
  ** if server_maybe_done drops the owner's reference. */
  server_maybe_done(s);
  conn_unref(c);
}

static void conn_close(rpc_conn *c) {
  if (c->closed) return;
  c->closed = 1;
  rpc_server *s = c->srv;
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* Protocol violation or bad input: say who and why, then hang up. */
static void conn_drop(rpc_conn *c, const char *why) {
  SYN_LOG_WARN(NULL, "rpc: dropping connection from %s: %s", c->peer, why);
  conn_close(c);
}

static void on_write(uv_write_t *req, int status) {
  write_req *w = (write_req *)req;
  rpc_conn *c = req->handle->data;
  free(w->buf);
  free(w);
  if (status < 0 && status != UV_ECANCELED && !c->closed) {
    SYN_LOG_DEBUG(NULL, "rpc: write to %s failed: %s", c->peer, uv_strerror(status));
    conn_close(c);
  }
}

static void conn_send(rpc_conn *c, uint8_t *buf, size_t len) {
  if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > RPC_MAX_WRITE_QUEUE) {
    free(buf);
    conn_drop(c, "peer does not read its replies (write queue over limit)");
    return;
  }
  write_req *w = malloc(sizeof *w);
  if (!w) {
    free(buf);
    SYN_LOG_ERROR(NULL, "rpc: out of memory replying to %s", c->peer);
    conn_close(c);
    return;
  }
  w->buf = buf;
  uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
  if (rc < 0) {
    free(buf);
    free(w);
    SYN_LOG_DEBUG(NULL, "rpc: write to %s failed: %s", c->peer, uv_strerror(rc));
    conn_close(c);
  }
}

/* Encode and queue one envelope of ours on c. */
static void conn_send_envelope(rpc_conn *c, Synod__Rpc__Envelope *e) {
  uint8_t *buf = NULL;
  size_t n = 0;
  syn_err err;
  if (frame_encode_new(e, c->srv->max_frame, &buf, &n, &err) < 0) {
    SYN_LOG_ERROR(NULL, "rpc: cannot encode a frame for %s: %s", c->peer, err.msg);
    conn_close(c);
    return;
  }
  conn_send(c, buf, n);
}

/* The handshake, server side: the only envelope accepted before it
** succeeds is AUTH answering our HELLO. Everything else, a wrong MAC
** included, is logged with the peer and the connection dropped, so a
** process without the cluster secret reaches no handler. */
static void conn_authenticate(rpc_conn *c, const Synod__Rpc__Envelope *e) {
  rpc_server *s = c->srv;
  if (e->kind != SYNOD__RPC__ENVELOPE__KIND__AUTH) {
    conn_drop(c, "did not authenticate (it has no cluster secret, or an older synod)");
    return;
  }
  if (e->payload.len != RPC_AUTH_LEN) {
    conn_drop(c, "malformed authentication");
    return;
  }
  const uint8_t *their_nonce = e->payload.data;
  uint8_t want[RPC_MAC_LEN], proof[RPC_MAC_LEN];
  syn_err err;
  if (rpc_auth_mac(s->secret, s->secret_len, 0, c->nonce, their_nonce, want, &err) < 0 ||
      rpc_auth_mac(s->secret, s->secret_len, 1, their_nonce, c->nonce, proof, &err) < 0) {
    SYN_LOG_ERROR(NULL, "rpc: authenticating %s: %s", c->peer, err.msg);
    conn_close(c);
    return;
  }
  if (!rpc_auth_equal(want, e->payload.data + RPC_NONCE_LEN)) {
    conn_drop(c, "failed authentication: wrong cluster secret");
    return;
  }
  c->authed = 1;
  Synod__Rpc__Envelope ok = SYNOD__RPC__ENVELOPE__INIT;
  ok.kind = SYNOD__RPC__ENVELOPE__KIND__AUTH_OK;
  ok.sender = s->name;
  ok.payload.data = proof;
  ok.payload.len = sizeof proof;
  conn_send_envelope(c, &ok);
}

static void call_finish(rpc_call *call, Synod__Rpc__Envelope__Kind kind,
                        const uint8_t *payload, size_t len, int code,
                        const char *msg) {
  rpc_conn *c = call->conn;
  if (!c->closed) {
    Synod__Rpc__Envelope e = SYNOD__RPC__ENVELOPE__INIT;
    e.request_id = call->request_id;
    e.method = call->method;
    e.kind = kind;
    e.sender = c->srv->name;
    e.payload.data = (uint8_t *)payload;
    e.payload.len = payload ? len : 0;
    e.error_code = code;
    e.error_message = (char *)(msg ? msg : "");
    uint8_t *buf = NULL;
    size_t n = 0;
    syn_err err;
    int rc = frame_encode_new(&e, c->srv->max_frame, &buf, &n, &err);
    if (rc == SYN_ERANGE && kind == SYNOD__RPC__ENVELOPE__KIND__RESPONSE) {
      /* Tell the caller rather than leave it waiting for its timeout. */
      SYN_LOG_WARN(NULL, "rpc: reply to %s method %u too large: %s", c->peer,
                   call->method, err.msg);
      e.kind = SYNOD__RPC__ENVELOPE__KIND__ERROR;
      e.payload.data = NULL;
      e.payload.len = 0;
      e.error_code = SYN_ERANGE;
      e.error_message = err.msg;
      rc = frame_encode_new(&e, c->srv->max_frame, &buf, &n, &err);
    }
    if (rc < 0) {
      SYN_LOG_ERROR(NULL, "rpc: cannot encode reply to %s: %s", c->peer, err.msg);
      conn_close(c);
    } else {
      conn_send(c, buf, n);
    }
  }
  c->inflight--;
  free(call);
  conn_unref(c);
}

void rpc_reply(rpc_call *call, const uint8_t *payload, size_t len) {
  call_finish(call, SYNOD__RPC__ENVELOPE__KIND__RESPONSE, payload, len, 0, NULL);
}

void rpc_reply_error(rpc_call *call, int code, const char *msg) {
  if (code >= 0) code = SYN_EINTERNAL; /* an ERROR envelope must carry a failure */
  call_finish(call, SYNOD__RPC__ENVELOPE__KIND__ERROR, NULL, 0, code, msg);
}

const char *rpc_call_peer(const rpc_call *call) { return call->conn->peer; }

static const method_entry *find_method(const rpc_server *s, uint32_t method) {
  for (size_t i = 0; i < s->n_methods; i++)
    if (s->methods[i].method == method) return &s->methods[i];
  return NULL;
}

static void handle_envelope(rpc_conn *c, Synod__Rpc__Envelope *e) {
  if (e->sender[0] && !c->sender[0]) {
    rpc_name_copy(c->sender, sizeof c->sender, e->sender);
    rpc_peer_desc(c->peer, sizeof c->peer, c->addr, c->sender);
  }
  if (!c->authed) {
    conn_authenticate(c, e);
    return;
  }
  if (e->kind == SYNOD__RPC__ENVELOPE__KIND__AUTH && c->srv->secret_len == 0) {
    conn_drop(c, "asked to authenticate, but this node has no cluster secret");
    return;
  }
  if (e->kind != SYNOD__RPC__ENVELOPE__KIND__REQUEST) {
    conn_drop(c, "sent a response envelope to a server");
    return;
  }
  rpc_call *call = malloc(sizeof *call);
  if (!call) {
    SYN_LOG_ERROR(NULL, "rpc: out of memory for a request from %s", c->peer);
    conn_close(c);
    return;
  }
  call->conn = c;
  call->request_id = e->request_id;
  call->method = e->method;
  c->refs++;
  c->inflight++;
  if (c->inflight > RPC_MAX_INFLIGHT_PER_CONN) {
    rpc_reply_error(call, SYN_EBUSY, "too many requests in flight on this connection");
    return;
  }
  const method_entry *m = find_method(c->srv, e->method);
  if (!m) {
    char msg[64];
    snprintf(msg, sizeof msg, "unknown method %u", e->method);
    SYN_LOG_DEBUG(NULL, "rpc: %s called %s", c->peer, msg);
    rpc_reply_error(call, SYN_ENOTFOUND, msg);
    return;
  }
  m->fn(call, e->payload.data, e->payload.len, m->ud);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  rpc_conn *c = h->data;
  buf->base = c->rbuf;
  buf->len = sizeof c->rbuf;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  rpc_conn *c = stream->data;
  if (nread == 0 || c->closed) return;
  if (nread < 0) {
    syn_err err;
    if (nread == UV_EOF && frame_decoder_eof(&c->dec, &err) < 0) {
      conn_drop(c, err.msg);
    } else {
      if (nread != UV_EOF)
        SYN_LOG_DEBUG(NULL, "rpc: read from %s failed: %s", c->peer,
                      uv_strerror((int)nread));
      conn_close(c);
    }
    return;
  }
  c->refs++; /* handlers may close the connection under us */
  const uint8_t *p = (const uint8_t *)buf->base;
  size_t len = (size_t)nread;
  while (!c->closed) {
    Synod__Rpc__Envelope *e = NULL;
    syn_err err;
    int rc = frame_decoder_next(&c->dec, &p, &len, &e, &err);
    if (rc == 0) break;
    if (rc < 0) {
      conn_drop(c, err.msg);
      break;
    }
    handle_envelope(c, e);
    frame_envelope_free(e);
  }
  conn_unref(c);
}

static void on_connection(uv_stream_t *listener, int status) {
  rpc_server *s = listener->data;
  if (status < 0) {
    SYN_LOG_WARN(NULL, "rpc: accept on port %d failed: %s", s->port, uv_strerror(status));
    return;
  }
  rpc_conn *c = calloc(1, sizeof *c);
  if (!c) {
    SYN_LOG_ERROR(NULL, "rpc: out of memory accepting a connection");
    return;
  }
  c->srv = s;
  c->refs = 1;
  frame_decoder_init(&c->dec, s->max_frame);
  uv_tcp_init(s->loop, &c->tcp);
  c->tcp.data = c;
  s->open_handles++;
  s->refs++;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  snprintf(c->addr, sizeof c->addr, "?");
  int rc = uv_accept(listener, (uv_stream_t *)&c->tcp);
  if (rc == 0) {
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0)
      rpc_addr_str((struct sockaddr *)&ss, c->addr, sizeof c->addr);
  }
  rpc_peer_desc(c->peer, sizeof c->peer, c->addr, NULL);
  if (rc == 0) rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (rc < 0) {
    SYN_LOG_WARN(NULL, "rpc: cannot serve connection from %s: %s", c->peer, uv_strerror(rc));
    conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_tcp_keepalive(&c->tcp, 1, 10); /* notice peers that vanished without a FIN */
  SYN_LOG_DEBUG(NULL, "rpc: connection from %s", c->peer);
  c->authed = s->secret_len == 0;
  if (!c->authed) {
    syn_err err;
    if (rpc_auth_nonce(c->nonce, &err) < 0) {
      SYN_LOG_ERROR(NULL, "rpc: %s", err.msg);
      conn_close(c);
      return;
    }
    Synod__Rpc__Envelope hello = SYNOD__RPC__ENVELOPE__INIT;
    hello.kind = SYNOD__RPC__ENVELOPE__KIND__HELLO;
    hello.sender = s->name;
    hello.payload.data = c->nonce;
    hello.payload.len = sizeof c->nonce;
    conn_send_envelope(c, &hello);
  }
}

int rpc_server_new(uv_loop_t *loop, const char *host, int port,
                   const rpc_opts *opts, rpc_server **out, syn_err *err) {
  struct sockaddr_storage ss;
  socklen_t sl;
  int rc = rpc_resolve(host, port, &ss, &sl, err);
  if (rc < 0) return rc;
  char where[RPC_ADDR_MAX];
  rpc_addr_str((struct sockaddr *)&ss, where, sizeof where);
  /* Bind with a plain socket first so that the common failure (port taken)
  ** leaves no libuv handle behind for the caller to close. */
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return syn_err_set(err, SYN_EIO, "socket: %s", strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
    int e = errno;
    close(fd);
    return syn_err_set(err, e == EADDRINUSE ? SYN_EBUSY : SYN_EIO,
                       "cannot listen on %s: %s", where, strerror(e));
  }
  if (listen(fd, 511) < 0) {
    int e = errno;
    close(fd);
    return syn_err_set(err, e == EADDRINUSE ? SYN_EBUSY : SYN_EIO,
                       "cannot listen on %s: %s", where, strerror(e));
  }
  struct sockaddr_storage bound;
  socklen_t bl = sizeof bound;
  getsockname(fd, (struct sockaddr *)&bound, &bl);
  rpc_server *s = calloc(1, sizeof *s);
  if (!s) {
    close(fd);
    return syn_err_set(err, SYN_ENOMEM, "rpc server");
  }
  s->loop = loop;
  s->refs = 1;
  s->max_frame = (opts && opts->max_frame) ? opts->max_frame : SYN_RPC_DEFAULT_MAX_FRAME;
  rpc_name_copy(s->name, sizeof s->name, (opts && opts->node_name) ? opts->node_name : "");
  if (opts && opts->secret_len) {
    if (opts->secret_len > sizeof s->secret) {
      free(s);
      close(fd);
      return syn_err_set(err, SYN_EINVAL, "cluster secret longer than %d bytes",
                         SYN_RPC_SECRET_MAX);
    }
    memcpy(s->secret, opts->secret, opts->secret_len);
    s->secret_len = opts->secret_len;
  }
  s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                              : ((struct sockaddr_in *)&bound)->sin_port);
  uv_tcp_init(loop, &s->listener);
  s->listener.data = s;
  s->open_handles = 1;
  rc = uv_tcp_open(&s->listener, fd);
  if (rc < 0) close(fd); /* not adopted by the handle */
  else rc = uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
  if (rc < 0) {
    /* The handle exists now: it closes on the caller's next loop turn. */
    rpc_server_close(s, NULL, NULL);
    return syn_err_set(err, SYN_EIO, "cannot listen on %s: %s", where, uv_strerror(rc));
  }
  *out = s;
  return 0;
}

void rpc_server_register(rpc_server *s, uint32_t method, rpc_handler_fn fn, void *ud) {
  for (size_t i = 0; i < s->n_methods; i++) {
    if (s->methods[i].method == method) {
      s->methods[i].fn = fn;
      s->methods[i].ud = ud;
      return;
    }
  }
  if (s->n_methods == s->cap_methods) {
    size_t cap = s->cap_methods ? s->cap_methods * 2 : 16;
    method_entry *m = realloc(s->methods, cap * sizeof *m);
    if (!m) {
      SYN_LOG_ERROR(NULL, "rpc: out of memory registering method %u", method);
      return;
    }
    s->methods = m;
    s->cap_methods = cap;
  }
  s->methods[s->n_methods++] = (method_entry){method, fn, ud};
}

int rpc_server_port(const rpc_server *s) { return s->port; }

static void on_listener_closed(uv_handle_t *h) {
  rpc_server *s = h->data;
  s->open_handles--;
  server_maybe_done(s);
}

void rpc_server_close(rpc_server *s, void (*cb)(void *ud), void *ud) {
  if (s->closing) return;
  s->closing = 1;
  s->close_cb = cb;
  s->close_ud = ud;
  uv_close((uv_handle_t *)&s->listener, on_listener_closed);
  while (s->conns) conn_close(s->conns);
}
