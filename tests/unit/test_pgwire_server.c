/*
** In-process tests of the pgwire session lifetime contract (pgw.h) with an
** asynchronous executor: answers arrive from later timer callbacks, as they
** will when the engine waits on RPCs. The server runs on a loop in the test
** thread; a client thread speaks the protocol over blocking sockets. Every
** test ends by checking that the loop closes with no handle left open.
*/
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "sql/pgwire/pgw.h"
#include "pgw_client.h"

typedef enum { ANSWER_ROWS, ANSWER_FATAL, ANSWER_MISUSE } answer_mode;

typedef struct fx {
  uv_loop_t loop;
  uv_async_t done;      /* client thread finished its script */
  uv_timer_t delay;     /* deferred executor answer */
  pgw_server *srv;
  int port;
  pthread_t th;
  void (*script)(struct fx *);
  answer_mode mode;
  int signalled;        /* the script already asked for pgw_server_close */
  int fail_open;
  uint32_t max_sessions;
  uint32_t startup_timeout_ms;
  /* observations, loop thread */
  int opens, closes, queries, answered;
  int close_during_query;
  int writer_rc_after_close;
  int misuse_ok;
  int server_closed;
  int in_done;          /* inside pgw_query_done */
  int close_inside_done;
  pgw_session *pending;
  char sql[128];
  /* observations, client thread */
  char client_err[256];
} fx;

/* ---- client side (its own thread, blocking sockets) --------------------- */

static void cli_query(int s, const char *sql) {
  uint32_t n = (uint32_t)strlen(sql) + 1 + 4;
  uint8_t h[5] = {'Q', (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
  cli_send(s, h, 5);
  cli_send(s, sql, n - 4);
}

/* Collect message types until ReadyForQuery or EOF into out (NUL-ended). */
static void cli_collect(int s, char *out, size_t cap, char *last_data, size_t dcap) {
  size_t k = 0;
  for (;;) {
    char t;
    char *b;
    uint32_t n;
    if (cli_read(s, &t, &b, &n) != 0) {
      if (k + 1 < cap) out[k++] = '$'; /* EOF marker */
      break;
    }
    if (k + 1 < cap) out[k++] = t;
    if (t == 'D' && last_data && n > 6) snprintf(last_data, dcap, "%s", b + 6);
    free(b);
    if (t == 'Z') break;
  }
  out[k] = '\0';
}

static void *client_main(void *arg) {
  fx *f = arg;
  f->script(f);
  if (!f->signalled) uv_async_send(&f->done);
  return NULL;
}

/* ---- executor (loop thread) --------------------------------------------- */

static int ex_open(void *ud, pgw_session *s, const pgw_startup *st, syn_err *err) {
  fx *f = ud;
  if (f->fail_open) return syn_err_set(err, SYN_ENOTFOUND, "database \"%s\" does not exist", st->database);
  f->opens++;
  pgw_session_set_ud(s, f);
  return pgw_parameter_status(s, "synod_test", "1");
}

static void ex_close(void *ud, pgw_session *s) {
  fx *f = ud;
  f->closes++;
  if (f->pending == s) f->close_during_query = 1;
  if (f->in_done) f->close_inside_done = 1;
}

static void answer(uv_timer_t *t) {
  fx *f = t->data;
  pgw_session *s = f->pending;
  int closed = pgw_session_is_closed(s);
  if (f->mode == ANSWER_MISUSE) {
    pgw_cell c = {.p = "x", .n = 1};
    int ok = pgw_data_row(s, 1, &c) == SYN_EINVAL; /* no RowDescription yet */
    pgw_column col = {.name = "c", .type_oid = PGW_OID_TEXT, .typlen = -1, .typmod = -1};
    ok &= pgw_row_description(s, 1, &col) == 0;
    pgw_cell two[2] = {c, c};
    ok &= pgw_data_row(s, 2, two) == SYN_EINVAL; /* wrong column count */
    ok &= pgw_data_row(s, 1, &c) == 0;
    ok &= pgw_command_complete(s, "SELECT 1") == 0;
    ok &= pgw_query_done(s, 'X') == SYN_EINVAL; /* bad status: query stays open */
    f->misuse_ok = ok;
  } else if (f->mode == ANSWER_FATAL) {
    pgw_errinfo e = {.severity = "FATAL", .sqlstate = "57P01",
                     .message = "terminating connection due to administrator command"};
    pgw_error(s, &e);
  } else {
    pgw_column col = {.name = "echo", .type_oid = PGW_OID_TEXT, .typlen = -1, .typmod = -1};
    int rc = pgw_row_description(s, 1, &col);
    pgw_cell c = {.p = f->sql, .n = strlen(f->sql)};
    if (rc == 0) rc = pgw_data_row(s, 1, &c);
    if (rc == 0) rc = pgw_command_complete(s, "SELECT 1");
    if (closed) f->writer_rc_after_close = rc;
  }
  f->pending = NULL;
  f->answered++;
  /* The session may be freed after pgw_query_done, but only from a later
  ** callback: ex_close flags a close that happens inside the call. */
  f->in_done = 1;
  pgw_query_done(s, 'I');
  f->in_done = 0;
  if (f->mode == ANSWER_MISUSE && !closed)
    f->misuse_ok &= pgw_query_done(s, 'I') == SYN_EINVAL; /* no query running now */
}

static void ex_query(void *ud, pgw_session *s, const char *sql, size_t len) {
  fx *f = ud;
  __atomic_add_fetch(&f->queries, 1, __ATOMIC_SEQ_CST);
  f->pending = s;
  snprintf(f->sql, sizeof f->sql, "%.*s", (int)len, sql);
  uv_timer_start(&f->delay, answer, 30, 0); /* answer from a later callback */
}

static int ex_random(void *ud, void *buf, size_t n) {
  static uint8_t x = 1;
  for (size_t i = 0; i < n; i++) ((uint8_t *)buf)[i] = x += 37;
  return 0;
}

/* ---- fixture -------------------------------------------------------------- */

static void on_server_closed(void *ud) {
  fx *f = ud;
  f->server_closed = 1;
  uv_close((uv_handle_t *)&f->delay, NULL);
}

static void on_done(uv_async_t *a) {
  fx *f = a->data;
  uv_close((uv_handle_t *)&f->done, NULL);
  pgw_server_close(f->srv, on_server_closed, f);
}

static void run_fixture(fx *f) {
  cr_assert_eq(uv_loop_init(&f->loop), 0);
  uv_async_init(&f->loop, &f->done, on_done);
  f->done.data = f;
  uv_timer_init(&f->loop, &f->delay);
  f->delay.data = f;
  pgw_server_opts o = {.host = "127.0.0.1", .port = 0, .random = ex_random,
                       .max_sessions = f->max_sessions,
                       .startup_timeout_ms = f->startup_timeout_ms};
  o.executor = (pgw_executor){.ud = f, .session_open = ex_open, .session_close = ex_close,
                              .simple_query = ex_query};
  syn_err err;
  cr_assert_eq(pgw_server_new(&f->loop, &o, &f->srv, &err), 0, "%s", err.msg);
  f->port = pgw_server_port(f->srv);
  cr_assert_gt(f->port, 0);
  cr_assert_eq(pthread_create(&f->th, NULL, client_main, f), 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  pthread_join(f->th, NULL);
  cr_assert(f->server_closed, "close callback never ran");
  cr_assert_eq(uv_loop_close(&f->loop), 0, "handles left open");
}

/* ---- scripts and tests ---------------------------------------------------- */

static void script_async_answers(fx *f) {
  int s = cli_login(f->port);
  if (s < 0) {
    snprintf(f->client_err, sizeof f->client_err, "login failed");
    return;
  }
  char types[32], data[64] = "";
  cli_query(s, "first");
  cli_collect(s, types, sizeof types, data, sizeof data);
  if (strcmp(types, "TDCZ") || strcmp(data, "first")) {
    snprintf(f->client_err, sizeof f->client_err, "first: %s %s", types, data);
    close(s);
    return;
  }
  /* Pipelined: the second query must wait for the first's answer. */
  cli_query(s, "second");
  cli_query(s, "third");
  cli_collect(s, types, sizeof types, data, sizeof data);
  char t2[32], d2[64] = "";
  cli_collect(s, t2, sizeof t2, d2, sizeof d2);
  if (strcmp(data, "second") || strcmp(d2, "third") || strcmp(t2, "TDCZ"))
    snprintf(f->client_err, sizeof f->client_err, "pipelined: %s/%s %s/%s", types, data, t2, d2);
  close(s);
}

Test(pgw_server, async_answers_and_pipelining) {
  fx f = {.script = script_async_answers};
  run_fixture(&f);
  cr_assert_str_empty(f.client_err, "%s", f.client_err);
  cr_assert_eq(f.queries, 3);
  cr_assert_eq(f.opens, 1);
  cr_assert_eq(f.closes, 1);
}

static void script_disconnect_mid_query(fx *f) {
  int s = cli_login(f->port);
  if (s < 0) {
    snprintf(f->client_err, sizeof f->client_err, "login failed");
    return;
  }
  cli_query(s, "abandoned");
  close(s); /* gone before the executor answers */
  usleep(300 * 1000);
}

Test(pgw_server, disconnect_while_query_runs) {
  fx f = {.script = script_disconnect_mid_query};
  run_fixture(&f);
  cr_assert_str_empty(f.client_err, "%s", f.client_err);
  cr_assert_eq(f.answered, 1);
  cr_assert_eq(f.closes, 1, "session_close exactly once");
  cr_assert_eq(f.close_during_query, 0, "session_close while a query was running");
  cr_assert_eq(f.close_inside_done, 0, "session_close ran inside pgw_query_done");
}

static void script_leave_query_running(fx *f) {
  int s = cli_login(f->port);
  if (s < 0) {
    snprintf(f->client_err, sizeof f->client_err, "login failed");
    return;
  }
  cli_query(s, "in flight");
  /* Close the server only once the executor holds the query. */
  for (int i = 0; i < 2000 && __atomic_load_n(&f->queries, __ATOMIC_SEQ_CST) == 0; i++)
    usleep(1000);
  f->signalled = 1;
  uv_async_send(&f->done); /* pgw_server_close now, while the query runs */
  /* keep the socket open: the server must close it */
  char types[32];
  cli_collect(s, types, sizeof types, NULL, 0);
  close(s);
}

Test(pgw_server, server_close_waits_for_running_query) {
  fx f = {.script = script_leave_query_running};
  run_fixture(&f);
  cr_assert_str_empty(f.client_err, "%s", f.client_err);
  cr_assert_eq(f.answered, 1, "the executor finished its query");
  cr_assert_eq(f.writer_rc_after_close, SYN_ECLOSED, "writer rc %d", f.writer_rc_after_close);
  cr_assert_eq(f.closes, 1);
  cr_assert_eq(f.close_during_query, 0);
  cr_assert_eq(f.close_inside_done, 0, "session_close ran inside pgw_query_done");
}

static void script_one_query(fx *f) {
  int s = cli_login(f->port);
  if (s < 0) {
    snprintf(f->client_err, sizeof f->client_err, "login failed");
    return;
  }
  char types[32];
  cli_query(s, "q");
  cli_collect(s, types, sizeof types, NULL, 0);
  snprintf(f->client_err, sizeof f->client_err, "%s", types); /* checked by the test */
  close(s);
}

Test(pgw_server, writer_misuse_is_refused) {
  fx f = {.script = script_one_query, .mode = ANSWER_MISUSE};
  run_fixture(&f);
  cr_assert(f.misuse_ok);
  cr_assert_str_eq(f.client_err, "TDCZ");
}

Test(pgw_server, fatal_from_executor_ends_session) {
  fx f = {.script = script_one_query, .mode = ANSWER_FATAL};
  run_fixture(&f);
  cr_assert_str_eq(f.client_err, "E$", "FATAL then close, no ReadyForQuery");
  cr_assert_eq(f.closes, 1);
}

static void script_refused(fx *f) {
  int rc = cli_login(f->port);
  if (rc != -2) snprintf(f->client_err, sizeof f->client_err, "login result %d", rc);
  if (rc >= 0) close(rc);
}

Test(pgw_server, failed_open_never_closes) {
  fx f = {.script = script_refused, .fail_open = 1};
  run_fixture(&f);
  cr_assert_str_empty(f.client_err, "%s", f.client_err);
  cr_assert_eq(f.opens, 0);
  cr_assert_eq(f.closes, 0, "session_close must not follow a failed session_open");
}

static void script_too_many(fx *f) {
  int a = cli_login(f->port);
  int b = cli_login(f->port); /* over max_sessions = 1: FATAL 53300 */
  if (a < 0 || b != -2) snprintf(f->client_err, sizeof f->client_err, "logins %d %d", a, b);
  if (a >= 0) close(a);
  if (b >= 0) close(b);
  /* The slot frees once the first session is gone. */
  int c = -1;
  for (int i = 0; i < 200 && c < 0; i++) {
    c = cli_login(f->port);
    if (c < 0) usleep(5000);
  }
  if (c < 0) snprintf(f->client_err, sizeof f->client_err, "slot never freed");
  else close(c);
}

Test(pgw_server, max_sessions_refuses_with_53300) {
  fx f = {.script = script_too_many, .max_sessions = 1};
  run_fixture(&f);
  cr_assert_str_empty(f.client_err, "%s", f.client_err);
  cr_assert_eq(f.opens, 2);
  cr_assert_eq(f.closes, 2);
}

static void script_silent_client(fx *f) {
  int s = cli_connect(f->port);
  char c;
  /* Send nothing: the server must hang up after startup_timeout_ms. */
  ssize_t r = recv(s, &c, 1, 0);
  if (r != 0) snprintf(f->client_err, sizeof f->client_err, "expected EOF, got %zd", r);
  close(s);
}

Test(pgw_server, startup_timeout_closes_silent_client) {
  fx f = {.script = script_silent_client, .startup_timeout_ms = 100};
  run_fixture(&f);
  cr_assert_str_empty(f.client_err, "%s", f.client_err);
  cr_assert_eq(f.opens, 0);
}
