/*
** SQLite plumbing for the store: error mapping, statement helpers, value
** binding, a string builder for generated SQL, and the transaction
** brackets that choose between a durable (fsynced) and a lazy commit.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "participant/store/store_lite_int.h"

static void sb_grow(st_sb *b, size_t extra) {
  if (b->oom) return;
  if (b->n + extra + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->n + extra + 1) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return;
  }
  b->p = p;
  b->cap = cap;
}

void sb_add(st_sb *b, const char *s) {
  size_t n = strlen(s);
  sb_grow(b, n);
  if (b->oom) return;
  memcpy(b->p + b->n, s, n + 1);
  b->n += n;
}

void sb_addf(st_sb *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp) {
    b->oom = 1; /* only used for short fragments: treat overflow as failure */
    return;
  }
  sb_add(b, tmp);
}

void sb_ident(st_sb *b, const char *name) {
  sb_grow(b, strlen(name) * 2 + 2);
  if (b->oom) return;
  b->p[b->n++] = '"';
  for (const char *s = name; *s; s++) {
    if (*s == '"') b->p[b->n++] = '"';
    b->p[b->n++] = *s;
  }
  b->p[b->n++] = '"';
  b->p[b->n] = '\0';
}

void sb_free(st_sb *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

int st_sqlerr(st_lite *st, syn_err *err, int rc, const char *what) {
  int code;
  switch (rc & 0xff) {
  case SQLITE_NOMEM: code = SYN_ENOMEM; break;
  case SQLITE_IOERR:
  case SQLITE_FULL:
  case SQLITE_CANTOPEN: code = SYN_EIO; break;
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB: code = SYN_ECORRUPT; break;
  case SQLITE_BUSY:
  case SQLITE_LOCKED: code = SYN_EBUSY; break;
  case SQLITE_CONSTRAINT: code = SYN_EINVAL; break;
  case SQLITE_ERROR:
  case SQLITE_AUTH:
  case SQLITE_RANGE:
  case SQLITE_TOOBIG:
  case SQLITE_MISMATCH: code = SYN_EINVAL; break;
  default: code = SYN_EINTERNAL; break;
  }
  return syn_err_set(err, code, "store: %s: %s (sqlite %d)", what,
                     st && st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc),
                     rc);
}

int st_exec(st_lite *st, const char *sql, syn_err *err) {
  char *msg = NULL;
  int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) {
    int code = st_sqlerr(st, err, rc, "exec");
    if (msg) syn_err_wrap(err, "%.200s", sql);
    sqlite3_free(msg);
    return code;
  }
  return 0;
}

int st_prep(st_lite *st, const char *sql, sqlite3_stmt **out, syn_err *err) {
  int rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out,
                              NULL);
  if (rc != SQLITE_OK) {
    *out = NULL;
    return st_sqlerr(st, err, rc, "prepare");
  }
  return 0;
}

int st_run(st_lite *st, sqlite3_stmt *s, syn_err *err, const char *what) {
  int rc = sqlite3_step(s);
  int code = 0;
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) code = st_sqlerr(st, err, rc, what);
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return code;
}

int st_bind_value(sqlite3_stmt *s, int idx, const syn_value *v) {
  if (!v) return sqlite3_bind_null(s, idx);
  switch (v->type) {
  case SYN_V_NULL: return sqlite3_bind_null(s, idx);
  case SYN_V_INT: return sqlite3_bind_int64(s, idx, v->u.i);
  case SYN_V_REAL: return sqlite3_bind_double(s, idx, v->u.r);
  case SYN_V_TEXT:
    if (v->u.b.n > 0x7fffffff) return SQLITE_TOOBIG;
    return sqlite3_bind_text(s, idx, v->u.b.p ? (const char *)v->u.b.p : "",
                             (int)v->u.b.n, SQLITE_TRANSIENT);
  case SYN_V_BLOB:
    if (v->u.b.n > 0x7fffffff) return SQLITE_TOOBIG;
    return sqlite3_bind_blob(s, idx, v->u.b.p ? (const void *)v->u.b.p : "",
                             (int)v->u.b.n, SQLITE_TRANSIENT);
  }
  return SQLITE_MISMATCH;
}

void st_col_value(sqlite3_stmt *s, int col, syn_value *out) {
  switch (sqlite3_column_type(s, col)) {
  case SQLITE_INTEGER:
    out->type = SYN_V_INT;
    out->u.i = sqlite3_column_int64(s, col);
    break;
  case SQLITE_FLOAT:
    out->type = SYN_V_REAL;
    out->u.r = sqlite3_column_double(s, col);
    break;
  case SQLITE_TEXT:
    out->type = SYN_V_TEXT;
    out->u.b.p = sqlite3_column_text(s, col);
    out->u.b.n = (size_t)sqlite3_column_bytes(s, col);
    break;
  case SQLITE_BLOB:
    out->type = SYN_V_BLOB;
    out->u.b.p = sqlite3_column_blob(s, col);
    out->u.b.n = (size_t)sqlite3_column_bytes(s, col);
    break;
  default:
    out->type = SYN_V_NULL;
    break;
  }
}

/* PRAGMA synchronous cannot change inside a transaction, so it is set
** before BEGIN. In WAL mode NORMAL never fsyncs on commit but keeps the
** database consistent (checkpoints still sync); FULL fsyncs the WAL on
** every commit, which also makes all earlier WAL frames durable. */
int st_begin(st_lite *st, int durable, syn_err *err) {
  if (st->sync_full != durable) {
    int rc = st_run(st, st->g[durable ? G_SYNC_FULL : G_SYNC_NORMAL], err,
                    "pragma synchronous");
    if (rc) return rc;
    st->sync_full = durable;
  }
  return st_run(st, st->g[G_BEGIN], err, "begin");
}

int st_commit(st_lite *st, syn_err *err) {
  int rc = st_run(st, st->g[G_COMMIT], err, "commit");
  if (rc) st_rollback(st);
  return rc;
}

void st_rollback(st_lite *st) {
  if (!sqlite3_get_autocommit(st->db)) {
    sqlite3_step(st->g[G_ROLLBACK]);
    sqlite3_reset(st->g[G_ROLLBACK]);
  }
}

int st_ts_ok(uint64_t ts, syn_err *err, const char *what) {
  /* SQLite integers are signed: HLC values stay far below 2^63. */
  if (ts == 0 || ts > (uint64_t)INT64_MAX)
    return syn_err_set(err, SYN_ERANGE, "store: %s %llu out of range", what,
                       (unsigned long long)ts);
  return 0;
}
