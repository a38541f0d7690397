/*
** In-process tests of the extended query protocol in pgwire (pgw.h):
** which messages reach the executor's `extended` callback, the replies it
** may send and when (each refused out of order), the skip-until-Sync rule
** after an ErrorResponse, ReadyForQuery only at Sync, and malformed bodies
** ending the session before the executor sees them. The executor answers
** every message from a later timer callback, as the engine's workers do.
** The fixture is test_pgwire_server.c's: a client thread on blocking
** sockets, the server on a loop in the test thread, and a check that the
** loop closes with no handle left.
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

typedef struct fx {
  uv_loop_t loop;
  uv_async_t done;
  uv_timer_t delay;
  pgw_server *srv;
  int port;
  pthread_t th;
  void (*script)(struct fx *);
  int server_closed;
  /* loop thread */
  pgw_session *pending;
  pgw_xmsg m;           /* copy of the scalar fields of the pending message */
  char name[64];
  char calls[64];       /* type of every message the executor saw */
  int ncalls;
  int misuse_ok;
  /* client thread */
  char client_err[256];
} fx;

/* ---- client side (its own thread, blocking sockets) --------------------- */

/* Collect message types until ReadyForQuery or EOF into out (NUL-ended). */
static void cli_collect(int s, char *out, size_t cap) {
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
    free(b);
    if (t == 'Z') break;
  }
  out[k] = '\0';
}

static void *client_main(void *arg) {
  fx *f = arg;
  f->script(f);
  uv_async_send(&f->done);
  return NULL;
}


/* Frontend messages. */
static void cli_msg(int s, char type, const void *body, size_t n) {
  uint32_t len = (uint32_t)n + 4;
  uint8_t h[5] = {(uint8_t)type, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                  (uint8_t)len};
  cli_send(s, h, 5);
  if (n) cli_send(s, body, n);
}

static void cli_parse(int s, const char *name, const char *sql) {
  char b[256];
  size_t n = 0;
  memcpy(b, name, strlen(name) + 1), n += strlen(name) + 1;
  memcpy(b + n, sql, strlen(sql) + 1), n += strlen(sql) + 1;
  b[n++] = 0, b[n++] = 0; /* no parameter types */
  cli_msg(s, 'P', b, n);
}

/* Bind portal "" to statement "" with one text parameter "7". */
static void cli_bind(int s) {
  static const char b[] = "\0\0\0\0\0\x01\0\0\0\x01" "7" "\0\0";
  cli_msg(s, 'B', b, sizeof b - 1);
}

static void cli_execute(int s, uint8_t max_rows) {
  const char b[5] = {0, 0, 0, 0, (char)max_rows};
  cli_msg(s, 'E', b, 5);
}

static void expect(fx *f, int s, const char *want, const char *what) {
  char got[64];
  cli_collect(s, got, sizeof got);
  if (strcmp(got, want) && !f->client_err[0])
    snprintf(f->client_err, sizeof f->client_err, "%s: got %s, want %s", what, got, want);
}

/* ---- executor (loop thread) --------------------------------------------- */

static int ex_open(void *ud, pgw_session *s, const pgw_startup *st, syn_err *err) {
  fx *f = ud;
  /* Extended replies outside a running extended message are refused. */
  f->misuse_ok &= pgw_parse_complete(s) == SYN_EINVAL && pgw_rows_begin(s, 1) == SYN_EINVAL &&
                  pgw_ext_done(s) == SYN_EINVAL;
  pgw_session_set_ud(s, ud);
  return 0;
}

static void ex_close(void *ud, pgw_session *s) {}

static void ex_query(void *ud, pgw_session *s, const char *sql, size_t len) {
  fx *f = ud;
  /* ... and inside a simple query. */
  f->misuse_ok &= pgw_portal_suspended(s) == SYN_EINVAL && pgw_ext_done(s) == SYN_EINVAL;
  pgw_query_done(s, 'I');
}

static void answer(uv_timer_t *t) {
  fx *f = t->data;
  pgw_session *s = f->pending;
  f->pending = NULL;
  pgw_column col = {.name = "c", .type_oid = PGW_OID_INT4, .typlen = 4, .typmod = -1};
  pgw_cell cell = {.p = "7", .n = 1};
  int ok = 1;
  switch (f->m.type) {
  case 'P':
    if (strcmp(f->name, "bad") == 0) {
      pgw_errinfo e = {.sqlstate = "42601", .message = "syntax error"};
      ok &= pgw_error(s, &e) == 0;
    } else {
      ok &= pgw_parse_complete(s) == 0;
    }
    break;
  case 'B': ok &= pgw_bind_complete(s) == 0; break;
  case 'D': {
    uint32_t oid = PGW_OID_INT4;
    if (f->m.target == 'S') ok &= pgw_parameter_description(s, 1, &oid) == 0;
    ok &= pgw_row_description(s, 1, &col) == 0;
    break;
  }
  case 'E':
    /* Execute sends no RowDescription: a DataRow needs rows_begin. */
    ok &= pgw_data_row(s, 1, &cell) == SYN_EINVAL;
    ok &= pgw_rows_begin(s, 1) == 0;
    ok &= pgw_data_row(s, 1, &cell) == 0;
    ok &= (f->m.max_rows > 0 ? pgw_portal_suspended(s) : pgw_command_complete(s, "SELECT 1")) == 0;
    break;
  case 'C': ok &= pgw_close_complete(s) == 0; break;
  case 'S':
    /* Sync ends like a query: extended replies and pgw_ext_done are refused. */
    ok &= pgw_no_data(s) == SYN_EINVAL;
    ok &= pgw_ext_done(s) == SYN_EINVAL;
    ok &= pgw_query_done(s, 'I') == 0;
    f->misuse_ok &= ok;
    return;
  }
  ok &= pgw_query_done(s, 'I') == SYN_EINVAL; /* no ReadyForQuery mid-batch */
  /* Nothing may be checked after pgw_ext_done: pgwire may already have
  ** started the next pipelined message on this session inside the call. */
  f->misuse_ok &= ok;
  pgw_ext_done(s);
}

static void ex_extended(void *ud, pgw_session *s, const pgw_xmsg *m) {
  fx *f = ud;
  if (f->ncalls + 1 < (int)sizeof f->calls) f->calls[f->ncalls++] = m->type;
  f->pending = s;
  f->m = *m;
  snprintf(f->name, sizeof f->name, "%s", m->name);
  uv_timer_start(&f->delay, answer, 5, 0);
}

static int ex_random(void *ud, void *buf, size_t n) {
  static uint8_t x = 1;
  for (size_t i = 0; i < n; i++) ((uint8_t *)buf)[i] = x += 37;
  return 0;
}

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
  f->misuse_ok = 1;
  cr_assert_eq(uv_loop_init(&f->loop), 0);
  uv_async_init(&f->loop, &f->done, on_done);
  f->done.data = f;
  uv_timer_init(&f->loop, &f->delay);
  f->delay.data = f;
  pgw_server_opts o = {.host = "127.0.0.1", .port = 0, .random = ex_random};
  o.executor = (pgw_executor){.ud = f, .session_open = ex_open, .session_close = ex_close,
                              .simple_query = ex_query, .extended = ex_extended};
  syn_err err;
  cr_assert_eq(pgw_server_new(&f->loop, &o, &f->srv, &err), 0, "%s", err.msg);
  f->port = pgw_server_port(f->srv);
  cr_assert_eq(pthread_create(&f->th, NULL, client_main, f), 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  pthread_join(f->th, NULL);
  cr_assert(f->server_closed, "close callback never ran");
  cr_assert_eq(uv_loop_close(&f->loop), 0, "handles left open");
}

/* ---- scripts and tests ---------------------------------------------------- */

static void script_pipeline(fx *f) {
  int s = cli_login(f->port);
  if (s < 0) {
    snprintf(f->client_err, sizeof f->client_err, "login failed");
    return;
  }
  /* All of it sent at once: each message waits for the previous answer. */
  cli_parse(s, "", "SELECT $1");
  cli_msg(s, 'D', "S", 2);
  cli_bind(s);
  cli_msg(s, 'D', "P", 2);
  cli_execute(s, 1);
  cli_execute(s, 0);
  cli_msg(s, 'H', NULL, 0);
  cli_msg(s, 'C', "P", 2);
  cli_msg(s, 'S', NULL, 0);
  expect(f, s, "1tT2TDsDC3Z", "pipeline");
  close(s);
}

Test(pgw_ext, pipeline_replies_and_one_ready_for_query) {
  fx f = {.script = script_pipeline};
  run_fixture(&f);
  cr_assert_str_empty(f.client_err, "%s (executor saw %s)", f.client_err, f.calls);
  cr_assert_str_eq(f.calls, "PDBDEECS", "Flush never reaches the executor");
  cr_assert(f.misuse_ok, "a reply out of order was accepted");
}

static void script_error_skips(fx *f) {
  int s = cli_login(f->port);
  if (s < 0) {
    snprintf(f->client_err, sizeof f->client_err, "login failed");
    return;
  }
  cli_parse(s, "bad", "SELEC 1");
  cli_bind(s);
  cli_execute(s, 0);
  cli_msg(s, 'Q', "SELECT 1", 9); /* skipped too, as in PostgreSQL */
  cli_msg(s, 'S', NULL, 0);
  expect(f, s, "EZ", "after an error");
  /* Invalid UTF-8 in Parse: 22021 from pgwire itself, skip until Sync. */
  cli_parse(s, "", "SELECT '\xff'");
  cli_execute(s, 0);
  cli_msg(s, 'S', NULL, 0);
  expect(f, s, "EZ", "invalid UTF-8");
  cli_parse(s, "", "SELECT 1");
  cli_msg(s, 'S', NULL, 0);
  expect(f, s, "1Z", "recovered");
  cli_msg(s, 'Q', "SELECT 1", 9);
  expect(f, s, "Z", "simple query after the extended ones");
  close(s);
}

Test(pgw_ext, error_then_skip_until_sync) {
  fx f = {.script = script_error_skips};
  run_fixture(&f);
  cr_assert_str_empty(f.client_err, "%s", f.client_err);
  cr_assert_str_eq(f.calls, "PSSPS", "skipped messages reached the executor");
  cr_assert(f.misuse_ok);
}

static void script_malformed(fx *f) {
  int s = cli_login(f->port);
  if (s < 0) {
    snprintf(f->client_err, sizeof f->client_err, "login failed");
    return;
  }
  cli_msg(s, 'B', "\0\0\0\0\0\x09", 6); /* nine values in no bytes */
  expect(f, s, "E$", "malformed Bind");
  close(s);
  s = cli_login(f->port); /* the server carries on */
  if (s < 0) {
    snprintf(f->client_err, sizeof f->client_err, "second login failed");
    return;
  }
  cli_msg(s, 'S', NULL, 0);
  expect(f, s, "Z", "second session");
  close(s);
}

Test(pgw_ext, malformed_body_is_fatal_and_never_reaches_the_executor) {
  fx f = {.script = script_malformed};
  run_fixture(&f);
  cr_assert_str_empty(f.client_err, "%s", f.client_err);
  cr_assert_str_eq(f.calls, "S");
}
