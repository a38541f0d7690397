/*
** pgwire's authentication exchange (pgw_auth.c) in process, speaking the
** raw protocol from a client thread: SCRAM-SHA-256 end to end with the
** client math of pgw_scram_client_proof, wrong passwords, unknown roles
** (mock exchange), md5, reject, no matching rule, NOLOGIN, the cleartext
** method without TLS, and garbage during the exchange. session_open must
** run only after a successful exchange, and the loop must close with no
** handle left open.
*/
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "pgw_client.h"
#include "sql/pgwire/pgw.h"
#include "sql/pgwire/pgw_auth.h"

typedef struct fx {
  uv_loop_t loop;
  uv_async_t done;
  pgw_server *srv;
  pgw_hba *hba;
  int port;
  pthread_t th;
  void (*script)(struct fx *);
  int opens;
  char alice_secret[PGW_SECRET_MAX];
  char md5_secret[40];
  char client_err[512];
} fx;

/* ---- executor ------------------------------------------------------------- */

static int ex_open(void *ud, pgw_session *s, const pgw_startup *st, syn_err *err) {
  fx *f = ud;
  f->opens++;
  return 0;
}
static void ex_close(void *ud, pgw_session *s) {}
static void ex_query(void *ud, pgw_session *s, const char *sql, size_t len) {
  pgw_command_complete(s, "SELECT 0");
  pgw_query_done(s, 'I');
}
static int ex_random(void *ud, void *buf, size_t n) {
  static uint8_t x = 7;
  for (size_t i = 0; i < n; i++) ((uint8_t *)buf)[i] = x += 53;
  return 0;
}

static int ex_role(void *ud, const char *user, char **secret, int *flags, syn_err *err) {
  fx *f = ud;
  const char *sec = NULL;
  *flags = PGW_ROLE_LOGIN;
  if (strcmp(user, "alice") == 0) sec = f->alice_secret;
  else if (strcmp(user, "mel") == 0) sec = f->md5_secret;
  else if (strcmp(user, "nolog") == 0) {
    sec = f->alice_secret;
    *flags = 0;
  } else if (strcmp(user, "nopw") == 0) sec = NULL;
  else return SYN_ENOTFOUND;
  *secret = sec ? strdup(sec) : NULL;
  return 0;
}

/* ---- client helpers ------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static int startup(int port, const char *user) {
  int s = cli_connect(port);
  if (s < 0) return -1;
  uint8_t b[256];
  size_t k = 8;
  k += (size_t)sprintf((char *)b + k, "user") + 1;
  k += (size_t)sprintf((char *)b + k, "%s", user) + 1;
  b[k++] = 0;
  put32(b, (uint32_t)k);
  put32(b + 4, 196608);
  cli_send(s, b, k);
  return s;
}

static void send_msg(int s, char type, const void *body, size_t n) {
  uint8_t h[5] = {(uint8_t)type};
  put32(h + 1, (uint32_t)(n + 4));
  cli_send(s, h, 5);
  if (n) cli_send(s, body, n);
}

/* Read one message; for 'E' copy "SQLSTATE message" into err. Returns the
** type, or 0 on EOF. body (malloc'd) in *b when b != NULL. */
static char rd(int s, char **b, uint32_t *n, char *err, size_t cap) {
  char t;
  char *body;
  uint32_t len;
  if (cli_read(s, &t, &body, &len) != 0) return 0;
  if (t == 'E' && err) {
    const char *code = "", *msg = "";
    for (uint32_t i = 0; i < len && body[i];) {
      char f = body[i];
      const char *v = body + i + 1;
      if (f == 'C') code = v;
      if (f == 'M') msg = v;
      i += 2 + (uint32_t)strlen(v);
    }
    snprintf(err, cap, "%s %s", code, msg);
  }
  if (b) *b = body;
  else free(body);
  if (n) *n = len;
  return t;
}

static uint32_t get32(const char *p) {
  const uint8_t *u = (const uint8_t *)p;
  return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

/* Read until ReadyForQuery ("ok"), an ErrorResponse (its text) or EOF. */
static void finish(int s, char *out, size_t cap) {
  for (;;) {
    char t = rd(s, NULL, NULL, out, cap);
    if (t == 'Z') {
      snprintf(out, cap, "ok");
      return;
    }
    if (t == 'E' || t == 0) {
      if (t == 0) snprintf(out, cap, "EOF");
      return;
    }
  }
}

/* Full SCRAM login as user with password: "ok" or the error text. */
static void scram_login(fx *f, const char *user, const char *pw, char *out, size_t cap) {
  int s = startup(f->port, user);
  char *b;
  uint32_t n;
  char t = rd(s, &b, &n, out, cap);
  if (t != 'R' || n < 4 || get32(b) != 10 || strcmp(b + 4, "SCRAM-SHA-256") != 0) {
    if (t != 'E') snprintf(out, cap, "expected AuthenticationSASL, got %c", t);
    if (t) free(b);
    close(s);
    return;
  }
  free(b);
  const char *cfb = "n=,r=clientnonce123";
  char msg[256];
  size_t k = (size_t)sprintf(msg, "SCRAM-SHA-256") + 1;
  char cf[64];
  int cfl = sprintf(cf, "n,,%s", cfb);
  put32((uint8_t *)msg + k, (uint32_t)cfl);
  memcpy(msg + k + 4, cf, (size_t)cfl);
  send_msg(s, 'p', msg, k + 4 + (size_t)cfl);
  t = rd(s, &b, &n, out, cap);
  if (t != 'R' || get32(b) != 11) {
    if (t != 'E') snprintf(out, cap, "expected SASLContinue, got %c", t);
    if (t) free(b);
    close(s);
    return;
  }
  char sf[256];
  snprintf(sf, sizeof sf, "%.*s", (int)(n - 4), b + 4);
  free(b);
  const char *r = strstr(sf, "r=") + 2;
  char nonce[128];
  snprintf(nonce, sizeof nonce, "%.*s", (int)(strchr(r, ',') - r), r);
  char fin[256], proof[64];
  snprintf(fin, sizeof fin, "c=biws,r=%s", nonce);
  pgw_scram_client_proof(pw, cfb, sf, fin, proof, sizeof proof, NULL);
  char full[400];
  int fl = snprintf(full, sizeof full, "%s,p=%s", fin, proof);
  send_msg(s, 'p', full, (size_t)fl);
  t = rd(s, &b, &n, out, cap);
  if (t == 'R' && get32(b) == 12) {
    free(b);
    finish(s, out, cap);
  } else if (t) {
    if (t != 'E') snprintf(out, cap, "expected SASLFinal, got %c", t);
    free(b);
  } else {
    snprintf(out, cap, "EOF");
  }
  close(s);
}

/* ---- fixture ---------------------------------------------------------------- */

static void *client_main(void *arg) {
  fx *f = arg;
  f->script(f);
  uv_async_send(&f->done);
  return NULL;
}

static void on_server_closed(void *ud) { (void)ud; }

static void on_done(uv_async_t *a) {
  fx *f = a->data;
  uv_close((uv_handle_t *)&f->done, NULL);
  pgw_server_close(f->srv, on_server_closed, f);
}

static const char default_rules[] = "host all r 127.0.0.1/32 reject\n"
                      "host all mel 127.0.0.1/32 md5\n"
                      "host all clear 127.0.0.1/32 password\n"
                      "host all trusty 127.0.0.1/32 trust\n"
                      "host all all 127.0.0.1/32 scram-sha-256\n";

static void run_fixture(fx *f, void (*script)(fx *), const char *rules) {
  syn_err err;
  cr_assert_eq(pgw_hba_parse(rules, strlen(rules), &f->hba, &err), 0, "%s", err.msg);
  uint8_t salt[16] = {9, 8, 7};
  cr_assert_eq(pgw_scram_build("s3cret", salt, 16, 4096, f->alice_secret,
                               sizeof f->alice_secret, &err), 0);
  pgw_md5_secret("mpw", "mel", f->md5_secret, sizeof f->md5_secret);
  f->script = script;
  cr_assert_eq(uv_loop_init(&f->loop), 0);
  uv_async_init(&f->loop, &f->done, on_done);
  f->done.data = f;
  pgw_server_opts o = {.host = "127.0.0.1", .port = 0, .random = ex_random, .hba = f->hba};
  o.executor = (pgw_executor){.ud = f, .session_open = ex_open, .session_close = ex_close,
                              .simple_query = ex_query, .role_lookup = ex_role};
  cr_assert_eq(pgw_server_new(&f->loop, &o, &f->srv, &err), 0, "%s", err.msg);
  f->port = pgw_server_port(f->srv);
  cr_assert_eq(pthread_create(&f->th, NULL, client_main, f), 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  pthread_join(f->th, NULL);
  cr_assert_eq(uv_loop_close(&f->loop), 0, "handles left open");
  pgw_hba_free(f->hba);
}

/* ---- tests -------------------------------------------------------------------- */

#define CHECK(f, cond, ...)                                                   \
  do {                                                                        \
    if (!(cond) && !(f)->client_err[0])                                       \
      snprintf((f)->client_err, sizeof (f)->client_err, __VA_ARGS__);         \
  } while (0)

static void script_scram(fx *f) {
  char out[256];
  scram_login(f, "alice", "s3cret", out, sizeof out);
  CHECK(f, strcmp(out, "ok") == 0, "right password: %s", out);
  scram_login(f, "alice", "wrong", out, sizeof out);
  CHECK(f, strcmp(out, "28P01 password authentication failed for user \"alice\"") == 0,
        "wrong password: %s", out);
  /* Unknown role and role without password: a full (mock) exchange, then
  ** the same error. */
  scram_login(f, "ghost", "s3cret", out, sizeof out);
  CHECK(f, strcmp(out, "28P01 password authentication failed for user \"ghost\"") == 0,
        "unknown role: %s", out);
  scram_login(f, "nopw", "", out, sizeof out);
  CHECK(f, strcmp(out, "28P01 password authentication failed for user \"nopw\"") == 0,
        "no password: %s", out);
  scram_login(f, "nolog", "s3cret", out, sizeof out);
  CHECK(f, strcmp(out, "28000 role \"nolog\" is not permitted to log in") == 0, "nolog: %s", out);
}

Test(pgw_auth_server, scram) {
  fx f = {0};
  run_fixture(&f, script_scram, default_rules);
  cr_assert_str_empty(f.client_err, "%s", f.client_err);
  cr_assert_eq(f.opens, 1, "session_open only after the successful exchange");
}

static void script_md5_and_rules(fx *f) {
  char out[256];
  /* md5 */
  int s = startup(f->port, "mel");
  char *b;
  uint32_t n;
  char t = rd(s, &b, &n, out, sizeof out);
  CHECK(f, t == 'R' && n == 8 && get32(b) == 5, "expected AuthenticationMD5Password");
  if (t == 'R' && n == 8) {
    char sec[40], resp[40];
    pgw_md5_secret("mpw", "mel", sec, sizeof sec);
    pgw_md5_response(sec, (const uint8_t *)b + 4, resp, sizeof resp);
    send_msg(s, 'p', resp, strlen(resp) + 1);
    finish(s, out, sizeof out);
    CHECK(f, strcmp(out, "ok") == 0, "md5 login: %s", out);
  }
  if (t) free(b);
  close(s);
  /* md5, wrong answer */
  s = startup(f->port, "mel");
  t = rd(s, &b, &n, out, sizeof out);
  if (t) free(b);
  send_msg(s, 'p', "md500000000000000000000000000000000", 36);
  finish(s, out, sizeof out);
  CHECK(f, strcmp(out, "28P01 password authentication failed for user \"mel\"") == 0,
        "md5 wrong: %s", out);
  close(s);
  /* reject */
  s = startup(f->port, "r");
  finish(s, out, sizeof out);
  CHECK(f, strstr(out, "28000 pg_hba.conf rejects connection for host \"127.0.0.1\", user \"r\"") == out,
        "reject: %s", out);
  close(s);
  /* trust */
  s = startup(f->port, "trusty");
  finish(s, out, sizeof out);
  CHECK(f, strcmp(out, "ok") == 0, "trust: %s", out);
  close(s);
  /* cleartext without TLS */
  s = startup(f->port, "clear");
  finish(s, out, sizeof out);
  CHECK(f, strcmp(out, "28000 password authentication for user \"clear\" requires an SSL connection") == 0,
        "password without TLS: %s", out);
  close(s);
  /* garbage instead of the SASL response */
  s = startup(f->port, "alice");
  t = rd(s, &b, &n, out, sizeof out);
  if (t) free(b);
  send_msg(s, 'Q', "select 1", 9);
  finish(s, out, sizeof out);
  CHECK(f, strncmp(out, "08P01 expected password response", 32) == 0, "garbage: %s", out);
  close(s);
  /* a malformed SASLInitialResponse */
  s = startup(f->port, "alice");
  t = rd(s, &b, &n, out, sizeof out);
  if (t) free(b);
  send_msg(s, 'p', "SCRAM-SHA-256\0\0\0\0\x05n,,r=", 24);
  finish(s, out, sizeof out);
  CHECK(f, strncmp(out, "08P01", 5) == 0, "bad SASL: %s", out);
  close(s);
  /* another mechanism */
  s = startup(f->port, "alice");
  t = rd(s, &b, &n, out, sizeof out);
  if (t) free(b);
  send_msg(s, 'p', "PLAIN\0\xff\xff\xff\xff", 10);
  finish(s, out, sizeof out);
  CHECK(f, strcmp(out, "08P01 client selected an invalid SASL authentication mechanism") == 0,
        "PLAIN: %s", out);
  close(s);
}

Test(pgw_auth_server, md5_rules_and_garbage) {
  fx f = {0};
  run_fixture(&f, script_md5_and_rules, default_rules);
  cr_assert_str_empty(f.client_err, "%s", f.client_err);
  cr_assert_eq(f.opens, 2, "md5 and trust logins only");
}

static void script_no_rule(fx *f) {
  char out[256];
  /* A rules file with no line for this client: reject. */
  int s = startup(f->port, "alice");
  finish(s, out, sizeof out);
  CHECK(f, strcmp(out, "28000 no pg_hba.conf entry for host \"127.0.0.1\", user \"alice\", "
                       "database \"alice\", SSL off") == 0, "no rule: %s", out);
  close(s);
}

Test(pgw_auth_server, no_matching_rule) {
  fx f = {0};
  /* One rule that never matches a plaintext client. */
  run_fixture(&f, script_no_rule, "hostssl all all 127.0.0.1/32 trust\n");
  cr_assert_str_empty(f.client_err, "%s", f.client_err);
  cr_assert_eq(f.opens, 0);
}

Test(pgw_auth_server, bad_tls_files_refuse_start) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  pgw_server *srv = NULL;
  syn_err err;
  pgw_server_opts o = {.host = "127.0.0.1", .port = 0, .random = ex_random,
                       .tls_cert = "/nonexistent.crt", .tls_key = "/nonexistent.key"};
  o.executor = (pgw_executor){.session_open = ex_open, .session_close = ex_close,
                              .simple_query = ex_query};
  cr_assert_eq(pgw_server_new(&loop, &o, &srv, &err), SYN_EINVAL);
  cr_assert(strstr(err.msg, "/nonexistent.crt") != NULL, "%s", err.msg);
  o.tls_key = NULL;
  cr_assert_eq(pgw_server_new(&loop, &o, &srv, &err), SYN_EINVAL);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(uv_loop_close(&loop), 0);
}
