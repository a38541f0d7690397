/*
** pgwire_test_server: a test-only PostgreSQL-protocol server whose
** executor runs each query on a per-session in-memory SQLite database.
**
** It exists to exercise sql/pgwire with real clients (psql, raw sockets),
** not as the SQL engine: statements reach SQLite unchanged, so only SQL that
** both dialects accept behaves like PostgreSQL. What it does emulate:
**  - RowDescription type OIDs from declared types (int8, float8, text,
**    bytea, bool), or from the first row's values for expressions;
**  - PostgreSQL text output: float8 shortest round-trip, bool t/f, bytea \x;
**  - CommandComplete tags (SELECT n, INSERT 0 n, UPDATE n, DELETE n, ...);
**  - transaction status I/T/E: after an error inside BEGIN every statement
**    fails with 25P02 until ROLLBACK (COMMIT then rolls back, as in PG);
**  - the rest of a multi-statement string is skipped after an error;
**  - streaming with back-pressure: rows stop while pgw_output_full() and
**    resume on `writable`; a CancelRequest stops the query with 57014.
** Not emulated: the implicit transaction around a multi-statement string.
**
** Usage: pgwire_test_server [--host H] [--port P] [--database NAME]
**                           [--max-output BYTES] [--no-backpressure 0|1]
**                           [--log-level LEVEL]
** Prints "PORT <n>" on stdout once listening; exits 0 on SIGTERM/SIGINT
** after a clean shutdown (every handle closed).
*/
#include <ctype.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <uv.h>

#include "common/log.h"
#include "sql/pgwire/pgw.h"

typedef struct ts_config {
  const char *database; /* only this database exists, when set */
  int no_backpressure;  /* ignore pgw_output_full: exercises max_output */
} ts_config;

typedef struct ts_sess {
  pgw_session *s;
  const ts_config *cfg;
  sqlite3 *db;
  int failed;           /* transaction block failed: 'E' until ROLLBACK */
  /* the running query */
  const char *sql;
  size_t len;
  const char *tail;     /* start of the next statement */
  const char *cur;      /* start of the current statement */
  sqlite3_stmt *stmt;
  int any_stmt;
  int described;
  int ncols;
  uint32_t *oids;
  long long rows;
  int parked;           /* waiting for `writable` */
  int cancel;           /* CancelRequest arrived during this query */
  char kw[40];          /* first keyword(s) of the current statement */
} ts_sess;

/* ---- small text helpers --------------------------------------------------- */

static const char *skip_space(const char *p, const char *end) {
  for (;;) {
    while (p < end && isspace((unsigned char)*p)) p++;
    if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
      while (p < end && *p != '\n') p++;
    } else if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
      const char *q = p + 2;
      while (q + 1 < end && !(q[0] == '*' && q[1] == '/')) q++;
      p = q + 1 < end ? q + 2 : end;
    } else {
      return p;
    }
  }
}

/* Copy the next word (letters, digits, _) upper-cased; returns past it. */
static const char *word(const char *p, const char *end, char *out, size_t cap) {
  size_t k = 0;
  while (p < end && (isalnum((unsigned char)*p) || *p == '_')) {
    if (k + 1 < cap) out[k++] = (char)toupper((unsigned char)*p);
    p++;
  }
  out[k] = '\0';
  return p;
}

/* Command tag stem: first keyword, plus the object kind for DDL
** ("CREATE TABLE", "DROP INDEX"), skipping modifiers PG leaves out. */
static void statement_keyword(const char *p, const char *end, char *out, size_t cap) {
  char w1[16], w2[16];
  p = word(skip_space(p, end), end, w1, sizeof w1);
  snprintf(out, cap, "%s", w1);
  if (strcmp(w1, "CREATE") && strcmp(w1, "DROP") && strcmp(w1, "ALTER")) return;
  for (;;) {
    p = word(skip_space(p, end), end, w2, sizeof w2);
    if (strcmp(w2, "UNIQUE") && strcmp(w2, "TEMP") && strcmp(w2, "TEMPORARY") &&
        strcmp(w2, "VIRTUAL"))
      break;
  }
  if (w2[0]) snprintf(out, cap, "%s %s", w1, w2);
}

/* 1-based character position of byte offset `off` in sql (UTF-8). */
static uint32_t char_position(const char *sql, size_t off) {
  uint32_t n = 1;
  for (size_t i = 0; i < off; i++)
    if (((unsigned char)sql[i] & 0xc0) != 0x80) n++;
  return n;
}

/* PostgreSQL 12+ float8 output: the shortest digits that read back to the
** same double, fixed notation for decimal exponents in [-4, 15). */
static void format_float8(double v, char *out, size_t cap) {
  if (isnan(v)) {
    snprintf(out, cap, "NaN");
    return;
  }
  if (isinf(v)) {
    snprintf(out, cap, v < 0 ? "-Infinity" : "Infinity");
    return;
  }
  char e[40];
  int prec = 1;
  for (; prec <= 17; prec++) {
    snprintf(e, sizeof e, "%.*e", prec - 1, v);
    if (strtod(e, NULL) == v) break;
  }
  if (prec > 17) prec = 17;
  const char *x = strchr(e, 'e');
  int exp10 = x ? atoi(x + 1) : 0;
  if (exp10 >= -4 && exp10 < 15) {
    int decimals = prec - 1 - exp10;
    snprintf(out, cap, "%.*f", decimals > 0 ? decimals : 0, v);
  } else {
    snprintf(out, cap, "%s", e);
  }
}

/* ---- results -------------------------------------------------------------- */

static uint32_t oid_from_decltype(const char *d) {
  if (!d) return 0;
  char u[64];
  size_t k = 0;
  for (; d[k] && k + 1 < sizeof u; k++) u[k] = (char)toupper((unsigned char)d[k]);
  u[k] = '\0';
  if (strstr(u, "BOOL")) return PGW_OID_BOOL;
  if (strstr(u, "INT")) return PGW_OID_INT8;
  if (strstr(u, "REAL") || strstr(u, "FLOA") || strstr(u, "DOUB")) return PGW_OID_FLOAT8;
  if (strstr(u, "BLOB") || strstr(u, "BYTEA")) return PGW_OID_BYTEA;
  if (strstr(u, "CHAR") || strstr(u, "CLOB") || strstr(u, "TEXT")) return PGW_OID_TEXT;
  return 0;
}

static uint32_t oid_from_value(sqlite3_stmt *st, int i, int have_row) {
  if (!have_row) return PGW_OID_TEXT;
  switch (sqlite3_column_type(st, i)) {
  case SQLITE_INTEGER: return PGW_OID_INT8;
  case SQLITE_FLOAT: return PGW_OID_FLOAT8;
  case SQLITE_BLOB: return PGW_OID_BYTEA;
  default: return PGW_OID_TEXT;
  }
}

static int describe(ts_sess *t, int have_row) {
  int n = sqlite3_column_count(t->stmt);
  pgw_column *cols = calloc((size_t)(n ? n : 1), sizeof *cols);
  free(t->oids);
  t->oids = calloc((size_t)(n ? n : 1), sizeof *t->oids);
  if (!cols || !t->oids) {
    free(cols);
    return SYN_ENOMEM;
  }
  for (int i = 0; i < n; i++) {
    uint32_t oid = oid_from_decltype(sqlite3_column_decltype(t->stmt, i));
    if (!oid) oid = oid_from_value(t->stmt, i, have_row);
    t->oids[i] = oid;
    cols[i].name = sqlite3_column_name(t->stmt, i);
    cols[i].type_oid = oid;
    cols[i].typlen = oid == PGW_OID_BOOL ? 1 : (oid == PGW_OID_INT8 || oid == PGW_OID_FLOAT8) ? 8 : -1;
    cols[i].typmod = -1;
  }
  t->ncols = n;
  t->described = 1;
  int rc = pgw_row_description(t->s, (size_t)n, cols);
  free(cols);
  return rc;
}

static int send_row(ts_sess *t) {
  /* Text renderings of numbers live in one scratch area per row. */
  char scratch[64 * 64];
  size_t used = 0;
  pgw_cell cells[64];
  pgw_cell *cv = t->ncols <= 64 ? cells : calloc((size_t)t->ncols, sizeof *cv);
  char **hex = calloc((size_t)t->ncols, sizeof *hex);
  if (!cv || !hex) {
    if (cv != cells) free(cv);
    free(hex);
    return SYN_ENOMEM;
  }
  for (int i = 0; i < t->ncols; i++) {
    char num[64];
    const char *text = NULL;
    size_t n = 0;
    switch (sqlite3_column_type(t->stmt, i)) {
    case SQLITE_NULL:
      cv[i].p = NULL;
      continue;
    case SQLITE_INTEGER: {
      long long v = sqlite3_column_int64(t->stmt, i);
      if (t->oids[i] == PGW_OID_BOOL && (v == 0 || v == 1)) snprintf(num, sizeof num, v ? "t" : "f");
      else snprintf(num, sizeof num, "%lld", v);
      text = num;
      break;
    }
    case SQLITE_FLOAT:
      format_float8(sqlite3_column_double(t->stmt, i), num, sizeof num);
      text = num;
      break;
    case SQLITE_BLOB: {
      const unsigned char *b = sqlite3_column_blob(t->stmt, i);
      n = (size_t)sqlite3_column_bytes(t->stmt, i);
      hex[i] = malloc(2 * n + 3);
      if (!hex[i]) goto oom;
      hex[i][0] = '\\', hex[i][1] = 'x';
      for (size_t k = 0; k < n; k++) snprintf(hex[i] + 2 + 2 * k, 3, "%02x", b[k]);
      cv[i].p = hex[i];
      cv[i].n = 2 * n + 2;
      continue;
    }
    default:
      cv[i].p = sqlite3_column_text(t->stmt, i);
      cv[i].n = (size_t)sqlite3_column_bytes(t->stmt, i);
      if (!cv[i].p) cv[i].p = "";
      continue;
    }
    n = strlen(text);
    if (used + n + 1 > sizeof scratch) {
      hex[i] = strdup(text);
      if (!hex[i]) goto oom;
      cv[i].p = hex[i];
    } else {
      memcpy(scratch + used, text, n + 1);
      cv[i].p = scratch + used;
      used += n + 1;
    }
    cv[i].n = n;
  }
  int rc = pgw_data_row(t->s, (size_t)t->ncols, cv);
  for (int i = 0; i < t->ncols; i++) free(hex[i]);
  free(hex);
  if (cv != cells) free(cv);
  return rc;
oom:
  for (int i = 0; i < t->ncols; i++) free(hex[i]);
  free(hex);
  if (cv != cells) free(cv);
  return SYN_ENOMEM;
}

static char status_of(ts_sess *t) {
  if (t->failed) return 'E';
  return sqlite3_get_autocommit(t->db) ? 'I' : 'T';
}

static void finish(ts_sess *t) {
  if (t->stmt) sqlite3_finalize(t->stmt);
  t->stmt = NULL;
  t->parked = 0;
  t->cancel = 0;
  pgw_query_done(t->s, status_of(t));
}

static const char *sqlstate_of(sqlite3 *db, int preparing) {
  int ext = sqlite3_extended_errcode(db);
  const char *m = sqlite3_errmsg(db);
  switch (ext) {
  case SQLITE_CONSTRAINT_UNIQUE:
  case SQLITE_CONSTRAINT_PRIMARYKEY: return "23505";
  case SQLITE_CONSTRAINT_NOTNULL: return "23502";
  case SQLITE_CONSTRAINT_CHECK: return "23514";
  case SQLITE_CONSTRAINT_FOREIGNKEY: return "23503";
  case SQLITE_INTERRUPT: return "57014";
  default: break;
  }
  if (preparing) {
    if (strstr(m, "syntax error") || strstr(m, "incomplete input") ||
        strstr(m, "unrecognized token"))
      return "42601";
    if (strstr(m, "no such table")) return "42P01";
    if (strstr(m, "no such column")) return "42703";
    if (strstr(m, "already exists")) return "42P07";
  }
  return "XX000";
}

/* Report an error, end the query, and fail an open transaction block. */
static void fail(ts_sess *t, const char *sqlstate, const char *msg, uint32_t position,
                 int was_in_txn) {
  pgw_errinfo e = {.sqlstate = sqlstate, .message = msg, .position = position};
  pgw_error(t->s, &e);
  if (was_in_txn || !sqlite3_get_autocommit(t->db)) t->failed = 1;
  finish(t);
}

static void warn(ts_sess *t, const char *sqlstate, const char *msg) {
  pgw_errinfo e = {.severity = "WARNING", .sqlstate = sqlstate, .message = msg};
  pgw_notice(t->s, &e);
}

static int exec_simple(ts_sess *t, const char *sql) {
  return sqlite3_exec(t->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* Transaction control, handled here so the I/T/E states and PostgreSQL's
** warnings are exact. Returns 1 when the statement was handled. */
static int txn_control(ts_sess *t, const char *p, const char *end) {
  char w1[16], w2[16];
  const char *q = word(skip_space(p, end), end, w1, sizeof w1);
  word(skip_space(q, end), end, w2, sizeof w2);
  int in_txn = !sqlite3_get_autocommit(t->db);
  if (strcmp(w1, "BEGIN") == 0 || (strcmp(w1, "START") == 0 && strcmp(w2, "TRANSACTION") == 0)) {
    if (t->failed) return 0; /* falls through to 25P02 */
    if (in_txn) warn(t, "25001", "there is already a transaction in progress");
    else if (exec_simple(t, "BEGIN") != 0) return 0;
    pgw_command_complete(t->s, strcmp(w1, "BEGIN") == 0 ? "BEGIN" : "START TRANSACTION");
    return 1;
  }
  int is_commit = strcmp(w1, "COMMIT") == 0 || strcmp(w1, "END") == 0;
  int is_rollback = (strcmp(w1, "ROLLBACK") == 0 && strcmp(w2, "TO") != 0) ||
                    strcmp(w1, "ABORT") == 0;
  if (!is_commit && !is_rollback) return 0;
  if (!in_txn && !t->failed) warn(t, "25P01", "there is no transaction in progress");
  if (in_txn) exec_simple(t, (is_commit && !t->failed) ? "COMMIT" : "ROLLBACK");
  int rolled_back = is_rollback || t->failed;
  t->failed = 0;
  pgw_command_complete(t->s, rolled_back ? "ROLLBACK" : "COMMIT");
  return 1;
}

static void complete_statement(ts_sess *t) {
  char tag[64];
  long long changes = sqlite3_changes64(t->db);
  if (strcmp(t->kw, "INSERT") == 0 || strcmp(t->kw, "REPLACE") == 0)
    snprintf(tag, sizeof tag, "INSERT 0 %lld", t->described ? t->rows : changes);
  else if (strcmp(t->kw, "UPDATE") == 0 || strcmp(t->kw, "DELETE") == 0)
    snprintf(tag, sizeof tag, "%s %lld", t->kw, t->described ? t->rows : changes);
  else if (t->described)
    snprintf(tag, sizeof tag, "SELECT %lld", t->rows);
  else
    snprintf(tag, sizeof tag, "%s", t->kw);
  pgw_command_complete(t->s, tag);
}

/* Run the query until it ends or the output backlog is full. Re-entered
** from `writable`. */
static void run(ts_sess *t) {
  const char *end = t->sql + t->len;
  for (;;) {
    if (pgw_session_is_closed(t->s)) {
      finish(t);
      return;
    }
    if (t->cancel) {
      fail(t, "57014", "canceling statement due to user request", 0, 0);
      return;
    }
    if (!t->stmt) {
      const char *p = skip_space(t->tail, end);
      if (p >= end) {
        if (!t->any_stmt) pgw_empty_query(t->s);
        finish(t);
        return;
      }
      if (*p == ';') {
        t->tail = p + 1;
        continue;
      }
      t->any_stmt = 1;
      t->cur = p;
      if (t->failed) {
        char w[16];
        word(p, end, w, sizeof w);
        if (strcmp(w, "ROLLBACK") && strcmp(w, "COMMIT") && strcmp(w, "END") &&
            strcmp(w, "ABORT")) {
          fail(t, "25P02",
               "current transaction is aborted, commands ignored until end of transaction block",
               0, 1);
          return;
        }
      }
      /* Statements SQLite does not parse (START TRANSACTION, ABORT) are
      ** whole words up to ';'; find the end without preparing. */
      const char *semi = memchr(p, ';', (size_t)(end - p));
      const char *stmt_end = semi ? semi + 1 : end;
      char w[16];
      word(p, end, w, sizeof w);
      if ((strcmp(w, "START") == 0 || strcmp(w, "ABORT") == 0 || strcmp(w, "BEGIN") == 0 ||
           strcmp(w, "COMMIT") == 0 || strcmp(w, "END") == 0 || strcmp(w, "ROLLBACK") == 0) &&
          txn_control(t, p, semi ? semi : end)) {
        t->tail = stmt_end;
        continue;
      }
      int was_in_txn = !sqlite3_get_autocommit(t->db);
      const char *next = NULL;
      int rc = sqlite3_prepare_v2(t->db, p, (int)(end - p), &t->stmt, &next);
      if (rc != SQLITE_OK) {
        int off = sqlite3_error_offset(t->db);
        uint32_t pos = off >= 0 ? char_position(t->sql, (size_t)(p - t->sql) + (size_t)off) : 0;
        t->stmt = NULL;
        fail(t, sqlstate_of(t->db, 1), sqlite3_errmsg(t->db), pos, was_in_txn);
        return;
      }
      t->tail = next ? next : end;
      if (!t->stmt) continue; /* only a comment */
      statement_keyword(p, t->tail, t->kw, sizeof t->kw);
      t->described = 0;
      t->rows = 0;
    }
    while ((t->cfg->no_backpressure || !pgw_output_full(t->s)) && !t->cancel) {
      int was_in_txn = !sqlite3_get_autocommit(t->db);
      int rc = sqlite3_step(t->stmt);
      if (rc == SQLITE_ROW) {
        if ((!t->described && describe(t, 1) != 0) || send_row(t) != 0) {
          if (pgw_session_is_closed(t->s)) break;
          fail(t, "53200", "out of memory building a row", 0, was_in_txn);
          return;
        }
        t->rows++;
        continue;
      }
      if (rc == SQLITE_DONE) {
        if (!t->described && sqlite3_column_count(t->stmt) > 0) describe(t, 0);
        complete_statement(t);
        sqlite3_finalize(t->stmt);
        t->stmt = NULL;
        break;
      }
      fail(t, sqlstate_of(t->db, 0), sqlite3_errmsg(t->db), 0, was_in_txn);
      return;
    }
    if (t->stmt && pgw_output_full(t->s)) {
      t->parked = 1; /* resumed by on_writable */
      return;
    }
  }
}

/* ---- executor callbacks --------------------------------------------------- */

static int on_open(void *ud, pgw_session *s, const pgw_startup *st, syn_err *err) {
  const ts_config *cfg = ud;
  if (cfg->database && strcmp(cfg->database, st->database) != 0)
    return syn_err_set(err, SYN_ENOTFOUND, "database \"%s\" does not exist", st->database);
  ts_sess *t = calloc(1, sizeof *t);
  if (!t) return syn_err_set(err, SYN_ENOMEM, "out of memory");
  if (sqlite3_open(":memory:", &t->db) != SQLITE_OK) {
    sqlite3_close(t->db);
    free(t);
    return syn_err_set(err, SYN_EIO, "cannot open SQLite");
  }
  t->s = s;
  t->cfg = cfg;
  pgw_session_set_ud(s, t);
  return 0;
}

static void on_close(void *ud, pgw_session *s) {
  ts_sess *t = pgw_session_get_ud(s);
  if (!t) return;
  if (t->stmt) sqlite3_finalize(t->stmt);
  sqlite3_close(t->db);
  free(t->oids);
  free(t);
}

static void on_query(void *ud, pgw_session *s, const char *sql, size_t len) {
  ts_sess *t = pgw_session_get_ud(s);
  t->sql = t->tail = sql;
  t->len = len;
  t->any_stmt = 0;
  t->cancel = 0;
  t->parked = 0;
  run(t);
}

static void on_writable(void *ud, pgw_session *s) {
  ts_sess *t = pgw_session_get_ud(s);
  if (!t->parked) return;
  t->parked = 0;
  run(t);
}

static void on_cancel(void *ud, pgw_session *s) {
  ts_sess *t = pgw_session_get_ud(s);
  if (t->sql) t->cancel = 1;
  SYN_LOG_INFO("-", "test server: cancel request for pid %d", pgw_session_pid(s));
}

static int os_random(void *ud, void *buf, size_t n) {
  return getrandom(buf, n, 0) == (ssize_t)n ? 0 : SYN_EIO;
}

/* ---- main ----------------------------------------------------------------- */

typedef struct ts_main {
  uv_signal_t sigterm, sigint;
  pgw_server *srv;
  int stopping;
} ts_main;

static void on_server_closed(void *ud) {
  ts_main *m = ud;
  uv_close((uv_handle_t *)&m->sigterm, NULL);
  uv_close((uv_handle_t *)&m->sigint, NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
  ts_main *m = h->data;
  if (m->stopping) return;
  m->stopping = 1;
  SYN_LOG_INFO("-", "test server: signal %d, shutting down", signum);
  pgw_server_close(m->srv, on_server_closed, m);
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 0;
  ts_config cfg = {0};
  pgw_server_opts o = {0};
  syn_log_level level = SYN_LOG_INFO;
  for (int i = 1; i < argc; i += 2) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) {
      fprintf(stderr, "missing value for %s\n", a);
      return 2;
    }
    if (strcmp(a, "--host") == 0) host = v;
    else if (strcmp(a, "--port") == 0) port = atoi(v);
    else if (strcmp(a, "--database") == 0) cfg.database = v;
    else if (strcmp(a, "--no-backpressure") == 0) cfg.no_backpressure = atoi(v);
    else if (strcmp(a, "--max-output") == 0) o.max_output = (size_t)strtoull(v, NULL, 10);
    else if (strcmp(a, "--log-level") == 0) {
      if (syn_log_level_parse(v, &level) != 0) {
        fprintf(stderr, "bad log level %s\n", v);
        return 2;
      }
    } else {
      fprintf(stderr, "unknown option %s\n", a);
      return 2;
    }
  }
  syn_log_init("pgw-test", level, 2);
  signal(SIGPIPE, SIG_IGN);

  uv_loop_t loop;
  uv_loop_init(&loop);
  o.host = host;
  o.port = port;
  o.executor = (pgw_executor){.ud = &cfg, .session_open = on_open, .session_close = on_close,
                              .simple_query = on_query, .writable = on_writable,
                              .cancel = on_cancel};
  o.random = os_random;
  ts_main m = {0};
  syn_err err;
  if (pgw_server_new(&loop, &o, &m.srv, &err) != 0) {
    fprintf(stderr, "pgwire_test_server: %s\n", err.msg);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 1;
  }
  uv_signal_init(&loop, &m.sigterm);
  uv_signal_init(&loop, &m.sigint);
  m.sigterm.data = m.sigint.data = &m;
  uv_signal_start(&m.sigterm, on_signal, SIGTERM);
  uv_signal_start(&m.sigint, on_signal, SIGINT);
  printf("PORT %d\n", pgw_server_port(m.srv));
  fflush(stdout);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0) {
    fprintf(stderr, "pgwire_test_server: handles left open at exit\n");
    return 1;
  }
  return 0;
}
