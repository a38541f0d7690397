/*
** PostgreSQL backend: connection life (open, advisory lock, reconnect with
** recovery), statement execution, and value conversion between syn_value
** and PostgreSQL's text/binary formats. The design differences from the
** SQLite backend are listed atop store_pg_int.h.
*/
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "participant/store/store_pg_int.h"

#define SP_FORMAT 1
/* Advisory lock key: "one participant per database" (any constant works:
** advisory locks are per database). */
#define SP_LOCK_KEY 0x73796e6f64LL

static const char *const k_schema =
    "CREATE TABLE IF NOT EXISTS _syn_meta(k text PRIMARY KEY, v bigint NOT "
    "NULL);"
    "CREATE TABLE IF NOT EXISTS _syn_tables(id bigint PRIMARY KEY,"
    " nkey integer NOT NULL, pkey_name text NOT NULL,"
    " next_idx integer NOT NULL);"
    "CREATE TABLE IF NOT EXISTS _syn_columns(table_id bigint NOT NULL,"
    " pos integer NOT NULL, name text NOT NULL, aff text NOT NULL,"
    " key_ord integer NOT NULL, PRIMARY KEY(table_id, pos));"
    "CREATE TABLE IF NOT EXISTS _syn_indexes(table_id bigint NOT NULL,"
    " name text NOT NULL, phys text NOT NULL, is_unique integer NOT NULL,"
    " cols text NOT NULL, PRIMARY KEY(table_id, name));"
    "CREATE TABLE IF NOT EXISTS _syn_txns(_syn_txn bigint PRIMARY KEY,"
    " _syn_state integer NOT NULL, _syn_pts bigint NOT NULL,"
    " _syn_cts bigint NOT NULL, _syn_sp bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS _syn_txn_tables(_syn_txn bigint NOT NULL,"
    " table_id bigint NOT NULL, PRIMARY KEY(_syn_txn, table_id));"
    "INSERT INTO _syn_meta(k, v) VALUES ('format', 1) ON CONFLICT DO "
    "NOTHING;"
    "INSERT INTO _syn_meta(k, v) VALUES ('gc_ts', 0) ON CONFLICT DO NOTHING;";

/* ---- parameters ------------------------------------------------------------ */

void sp_p_init(sp_params *p) { p->n = 0; }

void sp_p_free(sp_params *p) {
  for (int i = 0; i < p->n; i++) free(p->own[i]);
  p->n = 0;
}

static int p_slot(sp_params *p) {
  if (p->n >= SP_MAXP) return -1;
  int i = p->n++;
  p->own[i] = NULL;
  p->fmt[i] = 0;
  p->len[i] = 0;
  return i;
}

void sp_p_i64(sp_params *p, int64_t v) {
  int i = p_slot(p);
  if (i < 0) return;
  snprintf(p->buf[i], sizeof p->buf[i], "%lld", (long long)v);
  p->v[i] = p->buf[i];
}

void sp_p_bytes(sp_params *p, const void *b, size_t n) {
  int i = p_slot(p);
  if (i < 0) return;
  p->v[i] = n ? b : "";
  p->len[i] = (int)n;
  p->fmt[i] = 1;
}

void sp_p_text(sp_params *p, const char *s) {
  int i = p_slot(p);
  if (i < 0) return;
  p->v[i] = s;
}

static void p_null(sp_params *p) {
  int i = p_slot(p);
  if (i >= 0) p->v[i] = NULL;
}

int sp_p_value(sp_params *p, const syn_value *v, syn_err *err) {
  if (p->n >= SP_MAXP)
    return syn_err_set(err, SYN_ERANGE, "store: too many parameters");
  switch (v ? v->type : SYN_V_NULL) {
  case SYN_V_NULL: p_null(p); return 0;
  case SYN_V_INT: sp_p_i64(p, v->u.i); return 0;
  case SYN_V_REAL: {
    int i = p_slot(p);
    double d = v->u.r;
    if (isnan(d)) snprintf(p->buf[i], sizeof p->buf[i], "NaN");
    else if (isinf(d))
      snprintf(p->buf[i], sizeof p->buf[i], d > 0 ? "Infinity" : "-Infinity");
    else snprintf(p->buf[i], sizeof p->buf[i], "%.17g", d);
    p->v[i] = p->buf[i];
    return 0;
  }
  case SYN_V_TEXT: {
    if (v->u.b.n && memchr(v->u.b.p, 0, v->u.b.n))
      return syn_err_set(err, SYN_EINVAL, "store: PostgreSQL text cannot "
                         "hold a NUL byte");
    char *s = malloc(v->u.b.n + 1);
    if (!s) return syn_err_set(err, SYN_ENOMEM, "store: parameter");
    if (v->u.b.n) memcpy(s, v->u.b.p, v->u.b.n);
    s[v->u.b.n] = 0;
    int i = p_slot(p);
    p->own[i] = s;
    p->v[i] = s;
    return 0;
  }
  case SYN_V_BLOB: sp_p_bytes(p, v->u.b.p, v->u.b.n); return 0;
  }
  return syn_err_set(err, SYN_EINVAL, "store: bad value type");
}

/* ---- execution ------------------------------------------------------------- */

static uint64_t fnv(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

void sp_pcache_clear(store_pg *st, int deallocate) {
  int any = 0;
  for (int i = 0; i < SP_PCACHE_N; i++) {
    any |= st->pc[i].sql != NULL;
    free(st->pc[i].sql);
    st->pc[i].sql = NULL;
  }
  if (any && deallocate && st->conn && PQstatus(st->conn) == CONNECTION_OK) {
    PGresult *r = PQexec(st->conn, "DEALLOCATE ALL");
    PQclear(r);
  }
}

static int exec_error(store_pg *st, PGresult *r, const char *sql,
                      syn_err *err);

/* The prepared statement for sql, preparing it if new (evicting the least
** recently used one when the cache is full). */
static int pcache_get(store_pg *st, const char *sql, int nparams,
                      const char **name, syn_err *err) {
  uint64_t h = fnv(sql);
  sp_pstmt *victim = &st->pc[0];
  for (int i = 0; i < SP_PCACHE_N; i++) {
    sp_pstmt *e = &st->pc[i];
    if (e->sql && e->hash == h && e->nparams == nparams &&
        strcmp(e->sql, sql) == 0) {
      e->used = ++st->pc_clock;
      *name = e->name;
      return 0;
    }
    if (!e->sql) victim = e;
    else if (victim->sql && e->used < victim->used) victim = e;
  }
  if (victim->sql) {
    char dsql[48];
    snprintf(dsql, sizeof dsql, "DEALLOCATE %s", victim->name);
    PGresult *r = PQexec(st->conn, dsql);
    PQclear(r);
    free(victim->sql);
    victim->sql = NULL;
  }
  char *copy = strdup(sql);
  if (!copy) return syn_err_set(err, SYN_ENOMEM, "store: statement cache");
  snprintf(victim->name, sizeof victim->name, "syn%u", ++st->pc_seq);
  PGresult *r = PQprepare(st->conn, victim->name, sql, nparams, NULL);
  if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
    free(copy);
    return exec_error(st, r, sql, err);
  }
  PQclear(r);
  victim->sql = copy;
  victim->hash = h;
  victim->nparams = nparams;
  victim->used = ++st->pc_clock;
  *name = victim->name;
  return 0;
}

static int conn_lost(store_pg *st) {
  return PQstatus(st->conn) != CONNECTION_OK;
}

int sp_exec(store_pg *st, const char *sql, const sp_params *p, PGresult **res,
            syn_err *err) {
  if (res) *res = NULL;
  if (p && p->n >= SP_MAXP)
    return syn_err_set(err, SYN_ERANGE, "store: too many parameters");
  /* Without parameters PQexec, which also runs several statements; with
  ** parameters a prepared statement, planned once per session. */
  PGresult *r;
  if (p && p->n) {
    const char *name = NULL;
    int rc = pcache_get(st, sql, p->n, &name, err);
    if (rc) return rc;
    r = PQexecPrepared(st->conn, name, p->n, p->v, p->len, p->fmt, 0);
  } else {
    r = PQexec(st->conn, sql);
  }
  ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
    if (res) *res = r;
    else PQclear(r);
    return 0;
  }
  return exec_error(st, r, sql, err);
}

/* Map a failed result (r may be NULL) to a SYN_E* code; frees r. */
static int exec_error(store_pg *st, PGresult *r, const char *sql,
                      syn_err *err) {
  int code;
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  if (!r || !state || conn_lost(st)) {
    /* No SQLSTATE: libpq's own error (the server closed the connection,
    ** the socket failed). Reconnect, with recovery, before the next call. */
    st->broken = 1;
    code = SYN_EIO;
  } else if (state && strncmp(state, "08", 2) == 0) {
    st->broken = 1;
    code = SYN_EIO;
  } else if (state && (strcmp(state, "53100") == 0 ||
                       strncmp(state, "58", 2) == 0 ||
                       strncmp(state, "57", 2) == 0)) {
    code = SYN_EIO; /* disk full, I/O error, shutdown */
    if (strncmp(state, "57", 2) == 0) st->broken = 1;
  } else if (state && strcmp(state, "53200") == 0) {
    code = SYN_ENOMEM;
  } else if (state && (strcmp(state, "40001") == 0 ||
                       strcmp(state, "40P01") == 0 ||
                       strcmp(state, "55P03") == 0)) {
    code = SYN_EBUSY;
  } else {
    code = SYN_EINVAL;
  }
  char msg[256];
  snprintf(msg, sizeof msg, "%s", r ? PQresultErrorMessage(r)
                                    : PQerrorMessage(st->conn));
  msg[strcspn(msg, "\n")] = 0;
  PQclear(r);
  return syn_err_set(err, code, "store: postgres (%s): %s [%.120s]", st->shown,
                     msg, sql);
}

int sp_begin(store_pg *st, int durable, syn_err *err) {
  /* synchronous_commit: see store_pg_int.h. SET LOCAL lasts until the end
  ** of this transaction only; the session default stays off. */
  return sp_exec(st, durable ? "BEGIN; SET LOCAL synchronous_commit = on"
                             : "BEGIN",
                 NULL, NULL, err);
}

int sp_commit(store_pg *st, syn_err *err) {
  int rc = sp_exec(st, "COMMIT", NULL, NULL, err);
  if (rc) sp_rollback(st);
  return rc;
}

void sp_rollback(store_pg *st) {
  if (st->conn && PQtransactionStatus(st->conn) != PQTRANS_IDLE) {
    PGresult *r = PQexec(st->conn, "ROLLBACK");
    PQclear(r);
  }
}

int sp_ts_ok(uint64_t ts, syn_err *err, const char *what) {
  if (ts == 0 || ts > (uint64_t)INT64_MAX)
    return syn_err_set(err, SYN_ERANGE, "store: %s %llu out of range", what,
                       (unsigned long long)ts);
  return 0;
}

/* ---- values ------------------------------------------------------------------ */

int64_t sp_get_i64(const PGresult *r, int row, int col) {
  return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* bytea output is "\x" followed by hex (bytea_output = hex, set at open). */
static int unhex(const char *s, size_t slen, uint8_t *out, size_t *n) {
  if (slen < 2 || s[0] != '\\' || s[1] != 'x' || (slen & 1)) return -1;
  size_t k = 0;
  for (size_t i = 2; i < slen; i += 2) {
    int a = hexval(s[i]), b = hexval(s[i + 1]);
    if (a < 0 || b < 0) return -1;
    out[k++] = (uint8_t)(a << 4 | b);
  }
  *n = k;
  return 0;
}

int sp_get_bytes(const PGresult *r, int row, int col, uint8_t **out,
                 size_t *n) {
  const char *s = PQgetvalue(r, row, col);
  size_t slen = (size_t)PQgetlength(r, row, col);
  uint8_t *b = malloc(slen / 2 + 1);
  if (!b) return SYN_ENOMEM;
  if (unhex(s, slen, b, n)) {
    free(b);
    return SYN_ECORRUPT;
  }
  *out = b;
  return 0;
}

int sp_get_value(const PGresult *r, int row, int col, int type,
                 syn_value *out, uint8_t **scratch, syn_err *err) {
  if (PQgetisnull(r, row, col)) {
    out->type = SYN_V_NULL;
    return 0;
  }
  const char *s = PQgetvalue(r, row, col);
  size_t slen = (size_t)PQgetlength(r, row, col);
  switch (type) {
  case SP_T_INT:
    out->type = SYN_V_INT;
    out->u.i = strtoll(s, NULL, 10);
    return 0;
  case SP_T_REAL:
    out->type = SYN_V_REAL;
    out->u.r = strtod(s, NULL);
    return 0;
  case SP_T_NUM: {
    /* numeric: an integer within int64 is an INT, else a REAL, which is
    ** what SQLite's NUMERIC affinity stores for the value written. */
    int integral = strspn(s, "-0123456789") == slen;
    if (integral) {
      errno = 0;
      long long v = strtoll(s, NULL, 10);
      if (errno == 0) {
        out->type = SYN_V_INT;
        out->u.i = v;
        return 0;
      }
    }
    out->type = SYN_V_REAL;
    out->u.r = strtod(s, NULL);
    return 0;
  }
  case SP_T_TEXT:
    out->type = SYN_V_TEXT;
    out->u.b.p = (const uint8_t *)s;
    out->u.b.n = slen;
    return 0;
  case SP_T_BLOB: {
    uint8_t *b = realloc(*scratch, slen / 2 + 1);
    if (!b) return syn_err_set(err, SYN_ENOMEM, "store: value");
    *scratch = b;
    size_t n;
    if (unhex(s, slen, b, &n))
      return syn_err_set(err, SYN_ECORRUPT, "store: bad bytea value");
    out->type = SYN_V_BLOB;
    out->u.b.p = b;
    out->u.b.n = n;
    return 0;
  }
  }
  return syn_err_set(err, SYN_EINTERNAL, "store: column type %d", type);
}

static const char *class_name(syn_vtype t) {
  switch (t) {
  case SYN_V_NULL: return "null";
  case SYN_V_INT: return "integer";
  case SYN_V_REAL: return "real";
  case SYN_V_TEXT: return "text";
  case SYN_V_BLOB: return "blob";
  }
  return "?";
}

/* An integral double SQLite would store as an INTEGER (sqlite3VdbeIntegerAffinity:
** exact and strictly inside the int64 range). */
static int real_as_int(double d, int64_t *out) {
  if (!(d > -9223372036854775808.0 && d < 9223372036854775808.0)) return 0;
  int64_t i = (int64_t)d;
  if ((double)i != d) return 0;
  *out = i;
  return 1;
}

int sp_affine(const sp_col *c, const syn_value *v, syn_value *out, char **own,
              syn_err *err) {
  *own = NULL;
  *out = *v;
  if (v->type == SYN_V_NULL) return 0;
  int64_t i;
  switch (c->type) {
  case SP_T_INT:
  case SP_T_NUM:
    if (v->type == SYN_V_INT) return 0;
    if (v->type == SYN_V_REAL) {
      if (real_as_int(v->u.r, &i)) {
        out->type = SYN_V_INT;
        out->u.i = i;
        return 0;
      }
      if (c->type == SP_T_NUM && !isnan(v->u.r)) return 0;
    }
    break;
  case SP_T_REAL:
    if (v->type == SYN_V_REAL) return 0;
    if (v->type == SYN_V_INT) {
      out->type = SYN_V_REAL;
      out->u.r = (double)v->u.i;
      return 0;
    }
    break;
  case SP_T_TEXT:
    if (v->type == SYN_V_TEXT) return 0;
    if (v->type == SYN_V_INT || v->type == SYN_V_REAL) {
      /* TEXT affinity renders numbers as SQLite does. */
      char *s = v->type == SYN_V_INT
                    ? sqlite3_mprintf("%lld", (long long)v->u.i)
                    : sqlite3_mprintf("%!.15g", v->u.r);
      if (!s) return syn_err_set(err, SYN_ENOMEM, "store: value");
      *own = strdup(s);
      sqlite3_free(s);
      if (!*own) return syn_err_set(err, SYN_ENOMEM, "store: value");
      out->type = SYN_V_TEXT;
      out->u.b.p = (const uint8_t *)*own;
      out->u.b.n = strlen(*own);
      return 0;
    }
    break;
  case SP_T_BLOB:
    if (v->type == SYN_V_BLOB) return 0;
    break;
  }
  return syn_err_set(err, SYN_EINVAL, "store: column %s (%s) cannot hold a "
                     "%s value in the PostgreSQL backend", c->name, c->aff,
                     class_name(v->type));
}

int sp_key(store_pg *st, const syn_value *vals, int n, size_t *len, syn_err *err) {
  return store_key_encode_buf(vals, n, &st->kbuf, &st->kcap, len, err);
}

int sp_keycmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  return store_key_cmp(a, an, b, bn);
}

/* ---- connection ---------------------------------------------------------------- */

/* The conninfo with any password left out, for messages and logs. */
static char *conninfo_shown(const char *ci) {
  char *errmsg = NULL;
  PQconninfoOption *opts = PQconninfoParse(ci, &errmsg);
  if (!opts) {
    PQfreemem(errmsg);
    return strdup("(unparsable conninfo)");
  }
  size_t cap = 64;
  for (PQconninfoOption *o = opts; o->keyword; o++)
    if (o->val) cap += strlen(o->keyword) + strlen(o->val) * 2 + 4;
  char *s = malloc(cap);
  if (s) {
    size_t n = 0;
    s[0] = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
      if (!o->val || strcmp(o->keyword, "password") == 0) continue;
      n += (size_t)snprintf(s + n, cap - n, "%s%s='", n ? " " : "",
                            o->keyword);
      for (const char *c = o->val; *c; c++) {
        if (*c == '\'' || *c == '\\') s[n++] = '\\';
        s[n++] = *c;
      }
      s[n++] = '\'';
      s[n] = 0;
    }
  }
  PQconninfoFree(opts);
  return s;
}

/* Server notices (e.g. "terminating connection") are not errors; the
** errors that follow them are reported through syn_err. */
static void quiet_notice(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

/* Connect, set the session up, take the database's advisory lock. */
static int sp_connect(store_pg *st, syn_err *err) {
  if (st->conn) PQfinish(st->conn);
  sp_pcache_clear(st, 0); /* statements died with the old session */
  st->conn = PQconnectdb(st->conninfo);
  if (!st->conn || PQstatus(st->conn) != CONNECTION_OK) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s",
             st->conn ? PQerrorMessage(st->conn) : "out of memory");
    msg[strcspn(msg, "\n")] = 0;
    return syn_err_set(err, SYN_EIO, "store: cannot connect to PostgreSQL "
                       "(%s): %s", st->shown, msg);
  }
  PQsetNoticeProcessor(st->conn, quiet_notice, NULL);
  int rc = sp_exec(st, "SET synchronous_commit = off; SET bytea_output = hex;"
                       "SET client_min_messages = warning;"
                       "SET extra_float_digits = 3;"
                       "SET default_transaction_isolation = 'read committed'",
                   NULL, NULL, err);
  if (rc) return rc;
  PGresult *r;
  if ((rc = sp_exec(st, "SELECT current_setting('fsync')", NULL, &r, err)))
    return rc;
  int fsync_on = strcmp(PQgetvalue(r, 0, 0), "on") == 0;
  PQclear(r);
  if (!fsync_on)
    return syn_err_set(err, SYN_EIO, "store: PostgreSQL (%s) runs with "
                       "fsync = off: prepared transactions would not survive "
                       "a server crash", st->shown);
  sp_params p;
  sp_p_init(&p);
  sp_p_i64(&p, SP_LOCK_KEY);
  if ((rc = sp_exec(st, "SELECT pg_try_advisory_lock($1::bigint)", &p, &r,
                    err)))
    return rc;
  int got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
  PQclear(r);
  if (!got)
    return syn_err_set(err, SYN_EBUSY, "store: database (%s) in use by "
                       "another participant", st->shown);
  st->broken = 0;
  return 0;
}

static int meta_int(store_pg *st, const char *k, int64_t *out, syn_err *err) {
  sp_params p;
  sp_p_init(&p);
  sp_p_text(&p, k);
  PGresult *r;
  int rc = sp_exec(st, "SELECT v FROM _syn_meta WHERE k = $1", &p, &r, err);
  if (rc) return rc;
  if (PQntuples(r) != 1) rc = syn_err_set(err, SYN_ECORRUPT, "store: meta %s "
                                          "missing", k);
  else *out = sp_get_i64(r, 0, 0);
  PQclear(r);
  return rc;
}

/* Schema, catalog and recovery in one durable transaction (as the SQLite
** backend's open): a crash during it runs it again. */
static int sp_start(store_pg *st, syn_err *err) {
  int rc = sp_begin(st, 1, err);
  if (rc) return rc;
  int64_t fmt = 0, gc = 0;
  if ((rc = sp_exec(st, k_schema, NULL, NULL, err))) goto fail;
  if ((rc = meta_int(st, "format", &fmt, err))) goto fail;
  if (fmt != SP_FORMAT) {
    rc = syn_err_set(err, SYN_ECORRUPT, "store: format %lld, expected %d",
                     (long long)fmt, SP_FORMAT);
    goto fail;
  }
  if ((rc = meta_int(st, "gc_ts", &gc, err))) goto fail;
  st->gc_ts = (uint64_t)gc;
  for (int i = 0; i < st->ntables; i++) sp_table_free(st->tables[i]);
  st->ntables = 0;
  if ((rc = sp_catalog_load(st, err))) goto fail;
  if ((rc = sp_recover(st, err))) goto fail;
  /* Durable: recovery's "ACTIVE -> ABORTED" must stick before any request
  ** is served (store.h, recovery argument). */
  return sp_commit(st, err);
fail:
  sp_rollback(st);
  return rc;
}

int sp_ready(store_pg *st, syn_err *err) {
  if (!st->broken && !conn_lost(st)) return 0;
  int rc = sp_connect(st, err);
  if (!rc) rc = sp_start(st, err);
  if (rc) {
    st->broken = 1;
    syn_err_wrap(err, "reconnecting");
  }
  return rc;
}

static const store_vtab k_pg_vt = {
    .name = "postgres",
    .close = spg_close,
    .create_table = spg_create_table,
    .drop_table = spg_drop_table,
    .truncate_table = spg_truncate_table,
    .add_column = spg_add_column,
    .drop_column = spg_drop_column,
    .rename_column = spg_rename_column,
    .create_index = spg_create_index,
    .drop_index = spg_drop_index,
    .table_ncols = spg_table_ncols,
    .write_batch = spg_write_batch,
    .scan = spg_scan,
    .get = spg_get,
    .prepare = spg_prepare,
    .commit = spg_commit,
    .commit_one_phase = spg_commit_one_phase,
    .abort = spg_abort,
    .txn_state_get = spg_txn_state_get,
    .savepoint = spg_savepoint,
    .rollback_to = spg_rollback_to,
    .txn_list = spg_txn_list,
    .lock_holder = spg_lock_holder,
    .gc = spg_gc,
    .gc_ts = spg_gc_ts,
};

int store_pg_open(const char *conninfo, void **be, const store_vtab **vt,
                  syn_err *err) {
  *be = NULL;
  *vt = &k_pg_vt;
  if (!conninfo)
    return syn_err_set(err, SYN_EINVAL, "store: no PostgreSQL conninfo");
  store_pg *st = calloc(1, sizeof *st);
  if (!st) return syn_err_set(err, SYN_ENOMEM, "store: open");
  st->conninfo = strdup(conninfo);
  st->shown = conninfo_shown(conninfo);
  int rc = 0;
  if (!st->conninfo || !st->shown) {
    rc = syn_err_set(err, SYN_ENOMEM, "store: open");
    goto fail;
  }
  if (sqlite3_open_v2(":memory:", &st->mirror,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK) {
    rc = syn_err_set(err, SYN_ENOMEM, "store: filter database");
    goto fail;
  }
  /* The mirror evaluates filters exactly as the SQLite backend's database
  ** does (same settings). */
  sqlite3_db_config(st->mirror, SQLITE_DBCONFIG_DQS_DML, 0, (int *)NULL);
  sqlite3_db_config(st->mirror, SQLITE_DBCONFIG_DQS_DDL, 0, (int *)NULL);
  sqlite3_db_config(st->mirror, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
  if ((rc = sp_connect(st, err)) || (rc = sp_start(st, err))) goto fail;
  *be = st;
  return 0;
fail:
  spg_close(st);
  return rc;
}

void spg_close(void *be) {
  store_pg *st = be;
  if (!st) return;
  if (st->conn) {
    sp_rollback(st);
    PQfinish(st->conn); /* ends the session: releases the advisory lock */
  }
  sp_pcache_clear(st, 0);
  for (int i = 0; i < st->ntables; i++) sp_table_free(st->tables[i]);
  free(st->tables);
  if (st->mirror) sqlite3_close(st->mirror);
  free(st->conninfo);
  free(st->shown);
  free(st->kbuf);
  free(st->last);
  free(st->row);
  free(st);
}

uint64_t spg_gc_ts(const void *be) {
  const store_pg *st = be;
  return st ? st->gc_ts : 0;
}
