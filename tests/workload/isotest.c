/*
** isotest: run a two-or-more-session isolation scenario against a server
** and check every step's outcome (a small cousin of PostgreSQL's
** isolationtester, using libpq's asynchronous API so a step may block).
**
** Scenario file, one directive per line ('#' starts a comment):
**   setup SQL                   run on a fresh connection before the steps
**   step sN SQL [=> EXPECT]     send SQL on session N (1..8) and check it
**   await sN [=> EXPECT]        wait for session N's blocked step to finish
** EXPECT is one of
**   ok                          success (the default)
**   error SQLSTATE              failure with that SQLSTATE
**   blocks                      still running 300 ms later; check it later
**                               with `await`
**   rows TEXT                   success, and the rows, cells joined by '|'
**                               and rows by ',', equal TEXT
** A blocked step must be awaited before its session gets another step.
** Each wait is bounded (10 s), so a hang fails the scenario, not the suite.
**
** usage: isotest CONNINFO FILE...     exit 0 all passed, 1 a check failed
*/
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ISO_MAX_SESSIONS 8
#define ISO_BLOCK_MS 300
#define ISO_WAIT_MS 10000

typedef struct iso_session {
  PGconn *conn;
  int busy;            /* a step was sent and its result not read yet */
  char expect[256];    /* expectation for the pending step (from await) */
  char sql[1024];
} iso_session;

static iso_session sessions[ISO_MAX_SESSIONS + 1];
static const char *conninfo;
static const char *cur_file;
static int cur_line;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "%s:%d: ", cur_file, cur_line);
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
  return -1;
}

/* Wait up to ms for the session's pending result; 1 done, 0 still busy. */
static int wait_ready(iso_session *s, int ms) {
  long long deadline = now_ms() + ms;
  for (;;) {
    if (!PQconsumeInput(s->conn)) return 1; /* connection broken: result says so */
    if (!PQisBusy(s->conn)) return 1;
    long long left = deadline - now_ms();
    if (left <= 0) return 0;
    struct pollfd p = {.fd = PQsocket(s->conn), .events = POLLIN};
    poll(&p, 1, (int)(left > 50 ? 50 : left));
  }
}

/* Collect every result of the pending query and compare with expect. */
static int finish_step(iso_session *s, const char *expect) {
  char got[4096] = "";
  char state[6] = "";
  size_t n = 0;
  PGresult *r;
  while ((r = PQgetResult(s->conn)) != NULL) {
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_FATAL_ERROR && !state[0]) {
      const char *ss = PQresultErrorField(r, PG_DIAG_SQLSTATE);
      snprintf(state, sizeof state, "%s", ss ? ss : "?????");
    } else if (st == PGRES_TUPLES_OK) {
      n = 0;
      got[0] = '\0';
      for (int i = 0; i < PQntuples(r); i++) {
        for (int j = 0; j < PQnfields(r); j++) {
          const char *v = PQgetisnull(r, i, j) ? "NULL" : PQgetvalue(r, i, j);
          n += (size_t)snprintf(got + n, n < sizeof got ? sizeof got - n : 0, "%s%s",
                                j ? "|" : (i ? "," : ""), v);
          if (n >= sizeof got) n = sizeof got - 1;
        }
      }
    }
    PQclear(r);
  }
  s->busy = 0;
  if (strcmp(expect, "ok") == 0) {
    if (state[0]) return fail("`%s` failed with %s, expected success", s->sql, state);
    return 0;
  }
  if (strncmp(expect, "error ", 6) == 0) {
    if (strcmp(state, expect + 6) != 0) {
      fprintf(stderr, "%s:%d: `%s`: expected %s, got %s\n", cur_file, cur_line, s->sql, expect,
              state[0] ? state : "success");
      return -1;
    }
    return 0;
  }
  if (strncmp(expect, "rows ", 5) == 0) {
    if (state[0]) return fail("`%s` failed with %s, expected rows", s->sql, state);
    if (strcmp(got, expect + 5) != 0) {
      fprintf(stderr, "%s:%d: `%s` returned \"%s\", expected \"%s\"\n", cur_file, cur_line,
              s->sql, got, expect + 5);
      return -1;
    }
    return 0;
  }
  return fail("bad expectation '%s'%s", expect, "");
}

static iso_session *session_get(const char *name) {
  if (name[0] != 's') return NULL;
  int i = atoi(name + 1);
  if (i < 1 || i > ISO_MAX_SESSIONS) return NULL;
  iso_session *s = &sessions[i];
  if (!s->conn) {
    s->conn = PQconnectdb(conninfo);
    if (PQstatus(s->conn) != CONNECTION_OK) {
      fprintf(stderr, "isotest: cannot connect: %s", PQerrorMessage(s->conn));
      return NULL;
    }
  }
  return s;
}

/* Split "SQL => EXPECT" in place; returns EXPECT ("ok" when absent). */
static const char *split_expect(char *text) {
  char *arrow = strstr(text, "=>");
  if (!arrow) return "ok";
  *arrow = '\0';
  for (char *e = arrow - 1; e >= text && (*e == ' ' || *e == '\t'); e--) *e = '\0';
  char *x = arrow + 2;
  while (*x == ' ') x++;
  return x;
}

/* Setup statements such as DROP TABLE IF EXISTS raise NOTICEs: not news. */
static void quiet_notice(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

static int run_setup(const char *sql) {
  PGconn *c = PQconnectdb(conninfo);
  PQsetNoticeProcessor(c, quiet_notice, NULL);
  if (PQstatus(c) != CONNECTION_OK) {
    fprintf(stderr, "isotest: cannot connect: %s", PQerrorMessage(c));
    PQfinish(c);
    return -1;
  }
  PGresult *r = PQexec(c, sql);
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  if (!ok) fail("setup failed: %s%s", PQresultErrorMessage(r), "");
  PQclear(r);
  PQfinish(c);
  return ok ? 0 : -1;
}

static int run_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return fail("cannot open %s%s", path, "");
  cur_file = path;
  cur_line = 0;
  char line[2048];
  int rc = 0;
  while (rc == 0 && fgets(line, sizeof line, f)) {
    cur_line++;
    line[strcspn(line, "\n")] = '\0';
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p || *p == '#') continue;
    char verb[16], who[16];
    int off = 0;
    if (sscanf(p, "%15s%n", verb, &off) != 1) continue;
    char *rest = p + off;
    while (*rest == ' ') rest++;
    if (strcmp(verb, "setup") == 0) {
      rc = run_setup(rest);
      continue;
    }
    if (sscanf(rest, "%15s%n", who, &off) != 1) {
      rc = fail("missing session in '%s'%s", p, "");
      break;
    }
    iso_session *s = session_get(who);
    if (!s) {
      rc = fail("bad session '%s'%s", who, "");
      break;
    }
    char *text = rest + off;
    while (*text == ' ') text++;
    const char *expect = split_expect(text);
    if (strcmp(verb, "step") == 0) {
      if (s->busy) {
        rc = fail("session %s still has a blocked step%s", who, "");
        break;
      }
      snprintf(s->sql, sizeof s->sql, "%s", text);
      if (!PQsendQuery(s->conn, text)) {
        rc = fail("send failed: %s%s", PQerrorMessage(s->conn), "");
        break;
      }
      s->busy = 1;
      int done = wait_ready(s, strcmp(expect, "blocks") == 0 ? ISO_BLOCK_MS : ISO_WAIT_MS);
      if (strcmp(expect, "blocks") == 0) {
        if (done) {
          finish_step(s, "ok");
          rc = fail("`%s` did not block%s", s->sql, "");
        }
        continue;
      }
      if (!done) {
        rc = fail("`%s` did not finish within 10 s%s", s->sql, "");
        break;
      }
      rc = finish_step(s, expect);
    } else if (strcmp(verb, "await") == 0) {
      if (!s->busy) {
        rc = fail("await %s: no blocked step%s", who, "");
        break;
      }
      if (!wait_ready(s, ISO_WAIT_MS)) {
        rc = fail("`%s` still blocked after 10 s%s", s->sql, "");
        break;
      }
      rc = finish_step(s, expect);
    } else {
      rc = fail("unknown directive '%s'%s", verb, "");
    }
  }
  fclose(f);
  for (int i = 1; i <= ISO_MAX_SESSIONS; i++) {
    if (sessions[i].conn) PQfinish(sessions[i].conn);
    memset(&sessions[i], 0, sizeof sessions[i]);
  }
  printf("%s %s\n", rc == 0 ? "ok  " : "FAIL", path);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: isotest CONNINFO FILE...\n");
    return 2;
  }
  conninfo = argv[1];
  int failed = 0, passed = 0;
  for (int i = 2; i < argc; i++) {
    if (run_file(argv[i]) == 0) passed++;
    else failed++;
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
