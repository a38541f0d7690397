/*
** RPC client/server over real loopback sockets, one libuv loop in-process.
** Every test ends by closing what it opened and checking uv_loop_close()
** returns 0, i.e. no handle leaked.
*/
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/frame.h"
#include "common/log.h"
#include "common/rpc.h"

#define M_ECHO 10
#define M_HOLD 11 /* handler keeps the call; the test replies later */
#define M_FAIL 12 /* handler replies with SYN_ECONFLICT */

static uv_loop_t loop;
static FILE *log_file;
static int log_fd = -1;

static void setup(void) {
  signal(SIGPIPE, SIG_IGN);
  cr_assert_eq(uv_loop_init(&loop), 0);
  log_file = tmpfile(); /* deleted automatically when closed */
  cr_assert_not_null(log_file);
  log_fd = fileno(log_file);
  syn_log_init("t", SYN_LOG_INFO, log_fd);
}

static void teardown(void) {
  uv_run(&loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&loop);
  fclose(log_file);
  cr_assert_eq(rc, 0, "loop still has handles: leaked");
}

TestSuite(rpc, .init = setup, .fini = teardown, .timeout = 30);

static void on_flag_closed(uv_handle_t *h) { *(int *)h->data = 1; }

/* Run the loop until *flag is set or ms elapse; returns whether it was set. */
static void on_guard(uv_timer_t *t) { *(int *)t->data = 1; }
static int run_until(int *flag, uint64_t ms) {
  uv_timer_t guard;
  int expired = 0;
  uv_timer_init(&loop, &guard);
  guard.data = &expired;
  uv_timer_start(&guard, on_guard, ms, 0);
  while (!*flag && !expired) uv_run(&loop, UV_RUN_ONCE);
  int closed = 0;
  guard.data = &closed;
  uv_close((uv_handle_t *)&guard, on_flag_closed);
  while (!closed) uv_run(&loop, UV_RUN_ONCE);
  return *flag;
}

static int log_contains(const char *needle) {
  char buf[65536];
  ssize_t n = pread(log_fd, buf, sizeof buf - 1, 0);
  if (n < 0) return 0;
  buf[n] = '\0';
  return strstr(buf, needle) != NULL;
}

/* ---- server side ---- */

static rpc_call *held[64];
static int n_held;

static void h_echo(rpc_call *call, const uint8_t *p, size_t n, void *ud) {
  (*(int *)ud)++;
  rpc_reply(call, p, n);
}
static void h_hold(rpc_call *call, const uint8_t *p, size_t n, void *ud) {
  held[n_held++] = call;
}
static void h_fail(rpc_call *call, const uint8_t *p, size_t n, void *ud) {
  rpc_reply_error(call, SYN_ECONFLICT, "write-write conflict");
}

static int served;
static rpc_server *start_server(int port) {
  rpc_server *s = NULL;
  syn_err err;
  rpc_opts o = {.node_name = "srv"};
  cr_assert_eq(rpc_server_new(&loop, "127.0.0.1", port, &o, &s, &err), 0, "%s", err.msg);
  rpc_server_register(s, M_ECHO, h_echo, &served);
  rpc_server_register(s, M_HOLD, h_hold, NULL);
  rpc_server_register(s, M_FAIL, h_fail, NULL);
  cr_assert_gt(rpc_server_port(s), 0);
  return s;
}

static void on_server_closed(void *ud) { *(int *)ud = 1; }

static void close_server(rpc_server *s) {
  int done = 0;
  rpc_server_close(s, on_server_closed, &done);
  cr_assert(run_until(&done, 2000));
}

/* ---- client side ---- */

typedef struct result {
  int done;
  int status;
  char payload[256];
  size_t len;
  char msg[SYN_ERR_MSG_MAX];
} result;

static void on_resp(int status, const uint8_t *p, size_t n, const syn_err *err, void *ud) {
  result *r = ud;
  cr_assert_eq(r->done, 0, "callback called twice");
  r->done = 1;
  r->status = status;
  r->len = n;
  if (n && n < sizeof r->payload) memcpy(r->payload, p, n);
  if (status < 0) {
    cr_assert_not_null(err);
    snprintf(r->msg, sizeof r->msg, "%s", err->msg);
  }
}

static rpc_client *new_client(int port) {
  rpc_client *c = NULL;
  syn_err err;
  rpc_opts o = {.node_name = "cli"};
  cr_assert_eq(rpc_client_new(&loop, "127.0.0.1", port, &o, &c, &err), 0, "%s", err.msg);
  return c;
}

static void call(rpc_client *c, uint32_t m, const char *payload, uint32_t timeout, result *r) {
  syn_err err;
  memset(r, 0, sizeof *r);
  cr_assert_eq(rpc_client_call(c, m, (const uint8_t *)payload, strlen(payload), timeout,
                               on_resp, r, &err), 0, "%s", err.msg);
}

Test(rpc, call_and_response) {
  rpc_server *s = start_server(0);
  rpc_client *c = new_client(rpc_server_port(s));
  result r;
  call(c, M_ECHO, "ping", 2000, &r);
  cr_assert(run_until(&r.done, 3000));
  cr_assert_eq(r.status, 0, "%s", r.msg);
  cr_assert_eq(r.len, 4);
  cr_assert_eq(memcmp(r.payload, "ping", 4), 0);
  /* Empty payload both ways. */
  call(c, M_ECHO, "", 2000, &r);
  cr_assert(run_until(&r.done, 3000));
  cr_assert_eq(r.status, 0);
  cr_assert_eq(r.len, 0);
  rpc_client_close(c);
  close_server(s);
}

static int n_done;
static void on_count(int status, const uint8_t *p, size_t n, const syn_err *err, void *ud) {
  char want[32];
  snprintf(want, sizeof want, "call-%d", (int)(intptr_t)ud);
  cr_assert_eq(status, 0, "%s", err ? err->msg : "");
  cr_assert_eq(n, strlen(want));
  cr_assert_eq(memcmp(p, want, n), 0, "reply mixed up between calls");
  n_done++;
}

Test(rpc, many_concurrent_calls) {
  rpc_server *s = start_server(0);
  rpc_client *c = new_client(rpc_server_port(s));
  enum { N = 2000 };
  n_done = 0;
  for (int i = 0; i < N; i++) {
    char p[32];
    snprintf(p, sizeof p, "call-%d", i);
    cr_assert_eq(rpc_client_call(c, M_ECHO, (const uint8_t *)p, strlen(p), 5000, on_count,
                                 (void *)(intptr_t)i, NULL), 0);
  }
  for (int spins = 0; spins < 5000 && n_done < N; spins++) uv_run(&loop, UV_RUN_ONCE);
  cr_assert_eq(n_done, N);
  rpc_client_close(c);
  close_server(s);
}

static void on_reply_later(uv_timer_t *t) {
  rpc_reply(held[0], (const uint8_t *)"late", 4);
  n_held = 0;
  uv_close((uv_handle_t *)t, NULL);
}

Test(rpc, async_reply_after_handler_returns) {
  n_held = 0;
  rpc_server *s = start_server(0);
  rpc_client *c = new_client(rpc_server_port(s));
  result r;
  call(c, M_HOLD, "x", 3000, &r);
  int got = 0;
  while (!n_held && !got) got = !uv_run(&loop, UV_RUN_ONCE);
  cr_assert_eq(n_held, 1);
  cr_assert_eq(r.done, 0);
  cr_assert_str_eq(rpc_call_peer(held[0]) + strlen(rpc_call_peer(held[0])) - 5, "(cli)");
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  uv_timer_start(&t, on_reply_later, 50, 0);
  cr_assert(run_until(&r.done, 3000));
  cr_assert_eq(r.status, 0);
  cr_assert_eq(memcmp(r.payload, "late", 4), 0);
  rpc_client_close(c);
  close_server(s);
}

Test(rpc, timeout_then_late_reply_ignored) {
  n_held = 0;
  rpc_server *s = start_server(0);
  rpc_client *c = new_client(rpc_server_port(s));
  result r;
  uint64_t t0 = uv_now(&loop);
  call(c, M_HOLD, "x", 100, &r);
  cr_assert(run_until(&r.done, 3000));
  cr_assert_eq(r.status, SYN_ETIMEDOUT, "%d %s", r.status, r.msg);
  cr_assert_geq(uv_now(&loop) - t0, 95);
  cr_assert(strstr(r.msg, "timed out") != NULL, "%s", r.msg);
  cr_assert_eq(n_held, 1);
  /* The late reply reaches the client and must be ignored without harm. */
  rpc_reply(held[0], (const uint8_t *)"late", 4);
  n_held = 0;
  result r2;
  call(c, M_ECHO, "after", 2000, &r2);
  cr_assert(run_until(&r2.done, 3000));
  cr_assert_eq(r2.status, 0);
  cr_assert_eq(memcmp(r2.payload, "after", 5), 0);
  rpc_client_close(c);
  close_server(s);
}

Test(rpc, unknown_method_and_remote_error) {
  rpc_server *s = start_server(0);
  rpc_client *c = new_client(rpc_server_port(s));
  result r;
  call(c, 999, "x", 2000, &r);
  cr_assert(run_until(&r.done, 3000));
  cr_assert_eq(r.status, SYN_ENOTFOUND, "%d %s", r.status, r.msg);
  cr_assert(strstr(r.msg, "unknown method 999") != NULL, "%s", r.msg);
  cr_assert(strstr(r.msg, "(srv)") != NULL, "sender named: %s", r.msg);
  call(c, M_FAIL, "x", 2000, &r);
  cr_assert(run_until(&r.done, 3000));
  cr_assert_eq(r.status, SYN_ECONFLICT);
  cr_assert(strstr(r.msg, "write-write conflict") != NULL, "%s", r.msg);
  rpc_client_close(c);
  close_server(s);
}

Test(rpc, bad_arguments_never_call_back) {
  rpc_server *s = start_server(0);
  rpc_client *c = new_client(rpc_server_port(s));
  result r = {0};
  syn_err err;
  cr_assert_eq(rpc_client_call(c, M_ECHO, NULL, 0, 0, on_resp, &r, &err), SYN_EINVAL);
  cr_assert_eq(rpc_client_call(c, 0, NULL, 0, 100, on_resp, &r, &err), SYN_EINVAL);
  rpc_client *small = NULL;
  rpc_opts o = {.node_name = "cli", .max_frame = 64};
  cr_assert_eq(rpc_client_new(&loop, "127.0.0.1", rpc_server_port(s), &o, &small, &err), 0);
  char big[200];
  memset(big, 'b', sizeof big);
  cr_assert_eq(rpc_client_call(small, M_ECHO, (uint8_t *)big, sizeof big, 100, on_resp, &r, &err),
               SYN_ERANGE);
  rpc_client_close(small);
  rpc_client_close(c);
  cr_assert_eq(rpc_client_call(c, M_ECHO, NULL, 0, 100, on_resp, &r, &err), SYN_ECLOSED);
  uv_run(&loop, UV_RUN_NOWAIT);
  cr_assert_eq(r.done, 0);
  cr_assert_eq(rpc_client_new(&loop, "no.such.host.invalid", 1, &o, &small, &err), SYN_EINVAL);
  close_server(s);
}

Test(rpc, port_taken) {
  rpc_server *s = start_server(0);
  rpc_server *s2 = NULL;
  syn_err err;
  cr_assert_eq(rpc_server_new(&loop, "127.0.0.1", rpc_server_port(s), NULL, &s2, &err), SYN_EBUSY);
  cr_assert(strstr(err.msg, "in use") != NULL, "%s", err.msg);
  close_server(s);
}

Test(rpc, close_fails_pending_calls) {
  n_held = 0;
  rpc_server *s = start_server(0);
  rpc_client *c = new_client(rpc_server_port(s));
  result r1, r2;
  call(c, M_HOLD, "x", 5000, &r1);
  int flag = 0;
  while (!n_held) uv_run(&loop, UV_RUN_ONCE);
  call(c, M_ECHO, "queued-or-sent", 5000, &r2);
  rpc_client_close(c);
  cr_assert_eq(r1.done, 1);
  cr_assert_eq(r1.status, SYN_ECLOSED);
  cr_assert_eq(r2.done, 1);
  cr_assert_eq(r2.status, SYN_ECLOSED);
  /* The server replies after the client went away: dropped safely. */
  run_until(&flag, 100);
  rpc_reply(held[0], (const uint8_t *)"nobody", 6);
  n_held = 0;
  close_server(s);
}

Test(rpc, reply_after_server_closed) {
  n_held = 0;
  rpc_server *s = start_server(0);
  rpc_client *c = new_client(rpc_server_port(s));
  result r;
  call(c, M_HOLD, "x", 5000, &r);
  while (!n_held) uv_run(&loop, UV_RUN_ONCE);
  close_server(s);
  cr_assert(run_until(&r.done, 3000));
  cr_assert_eq(r.status, SYN_ECLOSED, "%d %s", r.status, r.msg);
  /* The call outlives the server's handles; replying must be harmless. */
  rpc_reply_error(held[0], SYN_EIO, "too late");
  n_held = 0;
  rpc_client_close(c);
}

Test(rpc, server_gone_then_back) {
  rpc_server *s = start_server(0);
  int port = rpc_server_port(s);
  rpc_client *c = new_client(port);
  result r;
  call(c, M_ECHO, "one", 2000, &r);
  cr_assert(run_until(&r.done, 3000));
  cr_assert_eq(r.status, 0);
  close_server(s);
  /* Nobody listens: the call waits for a connection, then times out. */
  call(c, M_ECHO, "two", 300, &r);
  cr_assert(run_until(&r.done, 3000));
  cr_assert(r.status == SYN_ETIMEDOUT || r.status == SYN_ECLOSED, "%d %s", r.status, r.msg);
  /* Back on the same port: a call made now succeeds after a reconnect. */
  s = start_server(port);
  call(c, M_ECHO, "three", 5000, &r);
  cr_assert(run_until(&r.done, 6000));
  cr_assert_eq(r.status, 0, "%s", r.msg);
  cr_assert_eq(memcmp(r.payload, "three", 5), 0);
  rpc_client_close(c);
  close_server(s);
}

Test(rpc, queued_call_survives_restart) {
  /* A call made while the server is down is sent once it comes back. */
  rpc_server *s = start_server(0);
  int port = rpc_server_port(s);
  close_server(s);
  rpc_client *c = new_client(port);
  result r;
  call(c, M_ECHO, "waiting", 4000, &r);
  int flag = 0;
  run_until(&flag, 200); /* a few refused connects, now in backoff */
  cr_assert_eq(r.done, 0);
  s = start_server(port);
  cr_assert(run_until(&r.done, 5000));
  cr_assert_eq(r.status, 0, "%s", r.msg);
  rpc_client_close(c);
  close_server(s);
}

/* ---- hostile peers ---- */

typedef struct raw_peer {
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_write_t wreq;
  uv_shutdown_t sreq;
  uv_buf_t data;
  int eof;
} raw_peer;

static void raw_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  static char sink[4096];
  b->base = sink;
  b->len = sizeof sink;
}
static void raw_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  raw_peer *rp = st->data;
  if (n < 0) rp->eof = 1;
}
static void raw_shut(uv_shutdown_t *req, int status) {}
static void raw_written(uv_write_t *req, int status) {
  raw_peer *rp = req->data;
  /* Half-close: a truncated frame is then followed by EOF. */
  rp->sreq.data = rp;
  if (uv_shutdown(&rp->sreq, (uv_stream_t *)&rp->tcp, raw_shut) < 0) rp->eof = 1;
}
static void raw_connected(uv_connect_t *req, int status) {
  raw_peer *rp = req->data;
  cr_assert_eq(status, 0);
  uv_read_start((uv_stream_t *)&rp->tcp, raw_alloc, raw_read);
  rp->wreq.data = rp;
  uv_write(&rp->wreq, (uv_stream_t *)&rp->tcp, &rp->data, 1, raw_written);
}

/* Send bytes from a raw socket, then half-close; wait until the server hangs up. */
static void send_raw(int port, const void *bytes, size_t n) {
  raw_peer rp;
  memset(&rp, 0, sizeof rp);
  rp.data = uv_buf_init((char *)bytes, (unsigned)n);
  uv_tcp_init(&loop, &rp.tcp);
  rp.tcp.data = &rp;
  rp.creq.data = &rp;
  struct sockaddr_in sa;
  uv_ip4_addr("127.0.0.1", port, &sa);
  cr_assert_eq(uv_tcp_connect(&rp.creq, &rp.tcp, (struct sockaddr *)&sa, raw_connected), 0);
  cr_assert(run_until(&rp.eof, 3000), "server did not hang up on a bad peer");
  int closed = 0;
  rp.tcp.data = &closed;
  uv_close((uv_handle_t *)&rp.tcp, on_flag_closed);
  cr_assert(run_until(&closed, 1000));
}

Test(rpc, hostile_input_does_not_hurt_good_clients) {
  rpc_server *s = start_server(0);
  int port = rpc_server_port(s);
  rpc_client *c = new_client(port);
  result r;
  call(c, M_ECHO, "before", 2000, &r);
  cr_assert(run_until(&r.done, 3000));
  cr_assert_eq(r.status, 0);

  const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  send_raw(port, http, strlen(http));
  cr_assert(log_contains("WARN"), "no WARN line");
  cr_assert(log_contains("dropping connection from 127.0.0.1:"), "peer not named");
  cr_assert(log_contains("exceeds the limit"));

  uint8_t oversized[4] = {0x7f, 0xff, 0xff, 0xff};
  send_raw(port, oversized, sizeof oversized);

  uint8_t garbage[10] = {0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  send_raw(port, garbage, sizeof garbage);
  cr_assert(log_contains("does not decode"));

  /* A valid frame from "evil", then a truncated one, then EOF. */
  Synod__Rpc__Envelope e = SYNOD__RPC__ENVELOPE__INIT;
  e.method = M_ECHO;
  e.request_id = 1;
  e.sender = (char *)"evil";
  uint8_t buf[128];
  size_t n = 0;
  cr_assert_eq(frame_encode(&e, 0, buf, sizeof buf, &n, NULL), 0);
  uint8_t trunc[4] = {0, 0, 0, 50};
  memcpy(buf + n, trunc, 4);
  memcpy(buf + n + 4, "abc", 3);
  send_raw(port, buf, n + 7);
  cr_assert(log_contains("truncated frame"));
  cr_assert(log_contains("(evil)"), "sender name missing from the WARN line");

  uint8_t zero[4] = {0};
  send_raw(port, zero, sizeof zero);
  cr_assert(log_contains("zero-length"));

  /* The good client's connection was never disturbed. */
  call(c, M_ECHO, "after", 2000, &r);
  cr_assert(run_until(&r.done, 3000));
  cr_assert_eq(r.status, 0);
  cr_assert_eq(memcmp(r.payload, "after", 5), 0);
  rpc_client_close(c);
  close_server(s);
}

/* ---- blocking call, from a thread while the loop serves ---- */

typedef struct blocking_job {
  int port;
  uint32_t method;
  const rpc_opts *opts; /* NULL: no secret */
  int rc;
  uint8_t *resp;
  size_t len;
  syn_err err;
  uv_async_t *done;
} blocking_job;

static void blocking_thread(void *arg) {
  blocking_job *j = arg;
  j->rc = rpc_call_blocking_opts("127.0.0.1", j->port, j->opts, j->method, (const uint8_t *)"hi",
                                 2, 2000, &j->resp, &j->len, &j->err);
  uv_async_send(j->done);
}

static void on_async(uv_async_t *a) { *(int *)a->data = 1; }

static void run_blocking(blocking_job *j) {
  uv_async_t done;
  int flag = 0;
  uv_async_init(&loop, &done, on_async);
  done.data = &flag;
  j->done = &done;
  uv_thread_t th;
  cr_assert_eq(uv_thread_create(&th, blocking_thread, j), 0);
  cr_assert(run_until(&flag, 5000));
  uv_thread_join(&th);
  int closed = 0;
  done.data = &closed;
  uv_close((uv_handle_t *)&done, on_flag_closed);
  cr_assert(run_until(&closed, 1000));
}

Test(rpc, blocking_call) {
  rpc_server *s = start_server(0);
  blocking_job j = {.port = rpc_server_port(s), .method = M_ECHO};
  run_blocking(&j);
  cr_assert_eq(j.rc, 0, "%s", j.err.msg);
  cr_assert_eq(j.len, 2);
  cr_assert_eq(memcmp(j.resp, "hi", 2), 0);
  free(j.resp);
  blocking_job k = {.port = rpc_server_port(s), .method = 4242};
  run_blocking(&k);
  cr_assert_eq(k.rc, SYN_ENOTFOUND, "%s", k.err.msg);
  cr_assert_null(k.resp);
  int port = rpc_server_port(s);
  close_server(s);
  uint8_t *resp;
  size_t len;
  syn_err err;
  cr_assert_eq(rpc_call_blocking("127.0.0.1", port, M_ECHO, NULL, 0, 500, &resp, &len, &err),
               SYN_EIO, "%s", err.msg);
  cr_assert(strstr(err.msg, "refused") != NULL, "%s", err.msg);
}

Test(rpc, blocking_call_times_out) {
  n_held = 0;
  rpc_server *s = start_server(0);
  blocking_job j = {.port = rpc_server_port(s), .method = M_HOLD};
  run_blocking(&j);
  cr_assert_eq(j.rc, SYN_ETIMEDOUT, "%s", j.err.msg);
  cr_assert_eq(n_held, 1);
  rpc_reply(held[0], NULL, 0);
  n_held = 0;
  close_server(s);
}

/* ---- hostile or odd servers, seen from the client ---- */

typedef struct evil_server {
  uv_tcp_t listener;
  uv_tcp_t conn;
  uv_write_t wreq;
  int accepted;
  const char *bytes;
  size_t n;
} evil_server;

static void evil_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  static char sink[4096];
  b->base = sink;
  b->len = sizeof sink;
}
static void evil_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  evil_server *es = st->data;
  if (n > 0 && es->accepted == 1) {
    /* Answer the first request with the configured bytes. */
    es->accepted = 2;
    uv_buf_t out = uv_buf_init((char *)es->bytes, (unsigned)es->n);
    uv_write(&es->wreq, st, &out, 1, NULL);
  }
}
static void evil_accept(uv_stream_t *l, int status) {
  evil_server *es = l->data;
  cr_assert_eq(status, 0);
  cr_assert_eq(es->accepted, 0, "client connected twice");
  uv_tcp_init(&loop, &es->conn);
  es->conn.data = es;
  cr_assert_eq(uv_accept(l, (uv_stream_t *)&es->conn), 0);
  es->accepted = 1;
  uv_read_start((uv_stream_t *)&es->conn, evil_alloc, evil_read);
}
static int evil_start(evil_server *es) {
  struct sockaddr_in sa;
  uv_ip4_addr("127.0.0.1", 0, &sa);
  uv_tcp_init(&loop, &es->listener);
  es->listener.data = es;
  cr_assert_eq(uv_tcp_bind(&es->listener, (struct sockaddr *)&sa, 0), 0);
  cr_assert_eq(uv_listen((uv_stream_t *)&es->listener, 8, evil_accept), 0);
  struct sockaddr_storage ss;
  int len = sizeof ss;
  uv_tcp_getsockname(&es->listener, (struct sockaddr *)&ss, &len);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}
static void evil_stop(evil_server *es) {
  uv_close((uv_handle_t *)&es->listener, NULL);
  if (es->accepted) uv_close((uv_handle_t *)&es->conn, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
}

Test(rpc, client_drops_server_sending_garbage) {
  evil_server es = {.bytes = "\x00\x00\x00\x04\xff\xff\xff\xff", .n = 8};
  int port = evil_start(&es);
  rpc_client *c = new_client(port);
  result r;
  call(c, M_ECHO, "x", 3000, &r);
  cr_assert(run_until(&r.done, 4000));
  cr_assert_eq(r.status, SYN_ECLOSED, "%d %s", r.status, r.msg);
  cr_assert(strstr(r.msg, "does not decode") != NULL, "%s", r.msg);
  cr_assert(log_contains("WARN"));
  cr_assert(log_contains("dropping connection to 127.0.0.1:"));
  rpc_client_close(c);
  evil_stop(&es);
}

Test(rpc, client_drops_server_sending_a_request) {
  /* A well-formed REQUEST where a reply was due breaks the protocol. */
  Synod__Rpc__Envelope e = SYNOD__RPC__ENVELOPE__INIT;
  e.method = 1;
  e.request_id = 1;
  e.sender = (char *)"confused";
  static uint8_t buf[64];
  size_t n = 0;
  cr_assert_eq(frame_encode(&e, 0, buf, sizeof buf, &n, NULL), 0);
  evil_server es = {.bytes = (const char *)buf, .n = n};
  int port = evil_start(&es);
  rpc_client *c = new_client(port);
  result r;
  call(c, M_ECHO, "x", 3000, &r);
  cr_assert(run_until(&r.done, 4000));
  cr_assert_eq(r.status, SYN_ECLOSED, "%d %s", r.status, r.msg);
  cr_assert(log_contains("(confused): server sent a request envelope"));
  rpc_client_close(c);
  evil_stop(&es);
}

Test(rpc, server_frame_limit_applies_to_requests) {
  rpc_server *s = NULL;
  syn_err err;
  rpc_opts so = {.node_name = "small", .max_frame = 100};
  cr_assert_eq(rpc_server_new(&loop, "127.0.0.1", 0, &so, &s, &err), 0, "%s", err.msg);
  rpc_server_register(s, M_ECHO, h_echo, &served);
  rpc_client *c = new_client(rpc_server_port(s));
  char big[200];
  memset(big, 'z', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  result r;
  call(c, M_ECHO, big, 3000, &r);
  cr_assert(run_until(&r.done, 4000));
  cr_assert_eq(r.status, SYN_ECLOSED, "%d %s", r.status, r.msg);
  cr_assert(log_contains("exceeds the limit of 100 bytes"));
  /* The client reconnects for the next, small call. */
  call(c, M_ECHO, "small", 3000, &r);
  cr_assert(run_until(&r.done, 4000));
  cr_assert_eq(r.status, 0, "%s", r.msg);
  rpc_client_close(c);
  close_server(s);
}

static int count_lines(const char *needle) {
  char buf[65536];
  ssize_t n = pread(log_fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  buf[n] = '\0';
  int k = 0;
  for (char *p = buf; (p = strstr(p, needle)) != NULL; p += strlen(needle)) k++;
  return k;
}

Test(rpc, reconnect_backs_off_exponentially) {
  syn_log_init("t", SYN_LOG_DEBUG, log_fd);
  rpc_server *s = start_server(0);
  int port = rpc_server_port(s);
  close_server(s);
  rpc_client *c = new_client(port);
  result r;
  /* Attempts at about 0, 50, 150, 350, 750 ms: 5 within 1 s. Without backoff
  ** there would be hundreds; with a fixed 2 s delay, one. */
  call(c, M_ECHO, "x", 1000, &r);
  cr_assert(run_until(&r.done, 3000));
  cr_assert_eq(r.status, SYN_ETIMEDOUT);
  cr_assert(strstr(r.msg, "refused") != NULL, "timeout names the last error: %s", r.msg);
  int attempts = count_lines("failed: connection refused");
  cr_assert(attempts >= 3 && attempts <= 7, "%d connect attempts in 1 s", attempts);
  rpc_client_close(c);
}

Test(rpc, connect_that_hangs_is_abandoned) {
  /* A listener that never accepts, with its accept queue filled: the
  ** kernel drops further SYNs, so a connect neither succeeds nor fails. */
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
  cr_assert_eq(listen(lfd, 0), 0);
  socklen_t sl = sizeof sa;
  getsockname(lfd, (struct sockaddr *)&sa, &sl);
  int fill[4];
  for (int i = 0; i < 4; i++) {
    fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(fill[i], (struct sockaddr *)&sa, sizeof sa);
  }
  usleep(50000);
  rpc_client *c = NULL;
  syn_err err;
  rpc_opts o = {.node_name = "cli", .connect_timeout_ms = 150};
  cr_assert_eq(rpc_client_new(&loop, "127.0.0.1", ntohs(sa.sin_port), &o, &c, &err), 0);
  result r;
  call(c, M_ECHO, "x", 600, &r);
  cr_assert(run_until(&r.done, 3000));
  cr_assert_eq(r.status, SYN_ETIMEDOUT, "%d %s", r.status, r.msg);
  cr_assert(strstr(r.msg, "connect to 127.0.0.1") != NULL && strstr(r.msg, "timed out after 150 ms"),
            "the call's error names the hanging connect: %s", r.msg);
  rpc_client_close(c);
  for (int i = 0; i < 4; i++) close(fill[i]);
  close(lfd);
}

/* ---- cluster-secret authentication ---- */

static const uint8_t KEY_A[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t KEY_B[32] = "0123456789abcdef0123456789abcdeF";

static rpc_server *start_secure_server(const uint8_t *key) {
  rpc_server *s = NULL;
  syn_err err;
  rpc_opts o = {.node_name = "srv", .secret = key, .secret_len = key ? 32 : 0};
  cr_assert_eq(rpc_server_new(&loop, "127.0.0.1", 0, &o, &s, &err), 0, "%s", err.msg);
  rpc_server_register(s, M_ECHO, h_echo, &served);
  return s;
}

static rpc_client *new_secure_client(int port, const uint8_t *key) {
  rpc_client *c = NULL;
  syn_err err;
  rpc_opts o = {.node_name = "cli", .secret = key, .secret_len = key ? 32 : 0,
                .connect_timeout_ms = 300};
  cr_assert_eq(rpc_client_new(&loop, "127.0.0.1", port, &o, &c, &err), 0, "%s", err.msg);
  return c;
}

Test(rpc, authenticated_calls_work) {
  rpc_server *s = start_secure_server(KEY_A);
  rpc_client *c = new_secure_client(rpc_server_port(s), KEY_A);
  result r;
  call(c, M_ECHO, "ping", 2000, &r);
  cr_assert(run_until(&r.done, 3000));
  cr_assert_eq(r.status, 0, "%s", r.msg);
  cr_assert_eq(memcmp(r.payload, "ping", 4), 0);
  call(c, M_ECHO, "again", 2000, &r); /* the same, authenticated connection */
  cr_assert(run_until(&r.done, 3000));
  cr_assert_eq(r.status, 0, "%s", r.msg);
  blocking_job j = {.port = rpc_server_port(s), .method = M_ECHO,
                    .opts = &(rpc_opts){.secret = KEY_A, .secret_len = 32}};
  run_blocking(&j);
  cr_assert_eq(j.rc, 0, "%s", j.err.msg);
  free(j.resp);
  rpc_client_close(c);
  close_server(s);
}

Test(rpc, peers_without_the_secret_reach_no_handler) {
  served = 0;
  rpc_server *s = start_secure_server(KEY_A);
  int port = rpc_server_port(s);
  /* No secret at all: the request is refused and the peer logged. */
  rpc_client *c = new_secure_client(port, NULL);
  result r;
  call(c, M_ECHO, "ping", 800, &r);
  cr_assert(run_until(&r.done, 3000));
  cr_assert_lt(r.status, 0);
  cr_assert(strstr(r.msg, "requires authentication") != NULL, "%s", r.msg);
  rpc_client_close(c);
  /* The wrong secret: the server says so, the call fails. */
  c = new_secure_client(port, KEY_B);
  call(c, M_ECHO, "ping", 800, &r);
  cr_assert(run_until(&r.done, 3000));
  cr_assert_lt(r.status, 0);
  cr_assert(strstr(r.msg, "cluster secret") != NULL, "%s", r.msg);
  cr_assert(log_contains("failed authentication: wrong cluster secret"));
  rpc_client_close(c);
  /* A raw request without the handshake is dropped and logged by peer. */
  blocking_job j = {.port = port, .method = M_ECHO};
  run_blocking(&j);
  cr_assert_eq(j.rc, SYN_EPERM, "%d %s", j.rc, j.err.msg);
  blocking_job k = {.port = port, .method = M_ECHO,
                    .opts = &(rpc_opts){.secret = KEY_B, .secret_len = 32}};
  run_blocking(&k);
  cr_assert_eq(k.rc, SYN_EPERM, "%d %s", k.rc, k.err.msg);
  cr_assert_eq(served, 0, "no handler ran for an unauthenticated peer");
  /* The server still serves the right peers. */
  c = new_secure_client(port, KEY_A);
  call(c, M_ECHO, "ok", 2000, &r);
  cr_assert(run_until(&r.done, 3000));
  cr_assert_eq(r.status, 0, "%s", r.msg);
  cr_assert_eq(served, 1);
  rpc_client_close(c);
  close_server(s);
}

Test(rpc, client_refuses_a_server_that_cannot_prove_the_secret) {
  /* A server without the secret never sends HELLO: the client does not
  ** send its call and gives up within the connect timeout. */
  served = 0;
  rpc_server *s = start_secure_server(NULL);
  rpc_client *c = new_secure_client(rpc_server_port(s), KEY_A);
  result r;
  call(c, M_ECHO, "ping", 1000, &r);
  cr_assert(run_until(&r.done, 3000));
  cr_assert_eq(r.status, SYN_ETIMEDOUT, "%d %s", r.status, r.msg);
  cr_assert(strstr(r.msg, "authentication with") != NULL, "%s", r.msg);
  cr_assert_eq(served, 0);
  rpc_client_close(c);
  /* A server with another secret fails the client's check of AUTH_OK:
  ** here the server drops the client first (its MAC is wrong too). */
  close_server(s);
}

Test(rpc, secret_files) {
  char dir[] = "/tmp/synod-secret-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char path[128];
  snprintf(path, sizeof path, "%s/cluster.secret", dir);
  syn_err err;
  cr_assert_eq(rpc_secret_create(path, &err), 0, "%s", err.msg);
  cr_assert_eq(rpc_secret_create(path, &err), SYN_EEXIST);
  uint8_t key[SYN_RPC_SECRET_MAX];
  size_t n = 0;
  cr_assert_eq(rpc_secret_load(path, key, &n, &err), 0, "%s", err.msg);
  cr_assert_eq(n, 32);
  chmod(path, 0644);
  cr_assert_eq(rpc_secret_load(path, key, &n, &err), SYN_EPERM);
  cr_assert(strstr(err.msg, "chmod 600") != NULL, "%s", err.msg);
  unlink(path);
  const char *bad[] = {"abc\n", "zz00112233445566778899aabbccddeeff\n", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, bad[i], strlen(bad[i])), (ssize_t)strlen(bad[i]));
    close(fd);
    cr_assert_eq(rpc_secret_load(path, key, &n, &err), SYN_EINVAL, "%s", bad[i]);
  }
  unlink(path);
  cr_assert_eq(rpc_secret_load(path, key, &n, &err), SYN_EIO);
  rmdir(dir);
}
