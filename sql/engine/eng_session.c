/*
** A client session: its SQLite connection, the query-string loop with
** PostgreSQL's implicit-transaction and failed-block rules, and statement
** dispatch with READ COMMITTED re-runs.
*/
#include "sql/engine/eng_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int eng_session_new(cl_cluster *cl, const eng_opts *opts, eng_session **out, syn_err *err) {
  *out = NULL;
  eng_session *s = calloc(1, sizeof *s);
  if (!s) return syn_err_set(err, SYN_ENOMEM, "out of memory");
  s->cl = cl;
  if (opts) s->opts = *opts;
  atomic_init(&s->cancel, 0);
  /* No cluster call here (the executor opens sessions on its loop
  ** thread): the catalog is loaded by the first statement that needs it. */
  int rc = eng__settings_init(s, err);
  if (rc) {
    eng_session_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

void eng_session_free(eng_session *s) {
  if (!s) return;
  eng__abort_txn(s);
  eng__txn_ended(s);
  eng__locks_clear(s);
  eng__scache_free(s);
  eng__ext_free(s); /* statements before the connection they run on */
  if (s->db) sqlite3_close(s->db);
  eng__tabs_free(s);
  eng__settings_free(s);
  free(s->user);
  free(s->database);
  free(s);
}

void eng_session_cancel(eng_session *s) {
  /* Only the flag: the worker's progress handler (eng_vtab.c) and the
  ** engine's loops look at it, so no other thread touches the connection,
  ** which the worker may be replacing after DDL. */
  atomic_store(&s->cancel, 1);
}

char eng_session_status(const eng_session *s) {
  switch (s->block) {
  case ENG_BLOCK: return 'T';
  case ENG_FAILED: return 'E';
  default: return 'I';
  }
}

static uint64_t sql_hash(const char *sql) {
  uint64_t h = 1469598103934665603u; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)sql; *p; p++) h = (h ^ *p) * 1099511628211u;
  return h;
}

/* Statements are cached by their text, so a prepared statement executed
** again (or the same DML's RETURNING and ON CONFLICT queries, or a simple
** query repeated) binds new values to the SQLite statement it already has
** instead of compiling it again. A statement in use is out of the cache,
** so two users never share one. */
bool eng_session_in_txn(const eng_session *s) { return s->block != ENG_IDLE; }

int eng__prepare(eng_session *s, const char *sql, sqlite3_stmt **st, syn_err *e) {
  uint64_t h = sql_hash(sql);
  for (int i = s->ncache - 1; i >= 0; i--) {
    if (s->stmt_cache[i].hash != h || strcmp(s->stmt_cache[i].sql, sql) != 0) continue;
    *st = s->stmt_cache[i].st;
    free(s->stmt_cache[i].sql);
    memmove(&s->stmt_cache[i], &s->stmt_cache[i + 1], sizeof s->stmt_cache[0] * (size_t)(s->ncache - i - 1));
    s->ncache--;
    return 0;
  }
  int src = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
  if (src != SQLITE_OK) {
    *st = NULL;
    return eng__sqlite_error(s, src, e);
  }
  return 0;
}

void eng__release(eng_session *s, sqlite3_stmt *st) {
  if (!st) return;
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  const char *sql = sqlite3_sql(st);
  char *copy = sql ? strdup(sql) : NULL;
  if (!copy) {
    eng__release(s, st);
    return;
  }
  if (s->ncache == ENG_STMT_CACHE) { /* evict the least recently released */
    sqlite3_finalize(s->stmt_cache[0].st);
    free(s->stmt_cache[0].sql);
    memmove(&s->stmt_cache[0], &s->stmt_cache[1], sizeof s->stmt_cache[0] * (ENG_STMT_CACHE - 1));
    s->ncache--;
  }
  s->stmt_cache[s->ncache].sql = copy;
  s->stmt_cache[s->ncache].hash = sql_hash(copy);
  s->stmt_cache[s->ncache].st = st;
  s->ncache++;
}

void eng__stmt_cache_clear(eng_session *s) {
  for (int i = 0; i < s->ncache; i++) {
    sqlite3_finalize(s->stmt_cache[i].st);
    free(s->stmt_cache[i].sql);
  }
  s->ncache = 0;
}

int eng__bind_common(eng_session *s, sqlite3_stmt *st, const sqlr_query *q, syn_err *e) {
  int np = sqlite3_bind_parameter_count(st);
  if (q->now_param && q->now_param <= np &&
      sqlite3_bind_text(st, q->now_param, s->now_text, -1, SQLITE_TRANSIENT) != SQLITE_OK)
    return sqlst_set(e, SQLST_OUT_OF_MEMORY, "out of memory");
  /* The client's $n is ?n in every statement of a rewrite (main query,
  ** RETURNING, ON CONFLICT); synod's own parameters come after them. */
  for (int i = 0; i < s->nparams && i < q->nparams && i < np; i++)
    if (eng__bind_value(st, i + 1, &s->params[i]) != SQLITE_OK)
      return sqlst_set(e, SQLST_OUT_OF_MEMORY, "out of memory");
  return 0;
}

static int lookup(void *ctx, const char *name, const cat_table **out) {
  const cat_table *t = eng__table(ctx, name);
  if (!t) return SYN_ENOTFOUND;
  *out = t;
  return 0;
}

int eng__run_select(eng_session *s, const sqlr_query *q, syn_err *e) {
  sqlite3_stmt *st;
  int rc = eng__prepare(s, q->sql, &st, e);
  if (rc) return rc;
  rc = eng__bind_common(s, st, q, e);
  cat_buf buf = {0};
  uint64_t n = 0;
  if (!rc && q->locking) {
    /* SELECT ... FOR UPDATE: every row the scans returned is locked after
    ** the query ran (more rows than PostgreSQL locks when a join or WHERE
    ** filters some out: conservative, never fewer). The result is
    ** buffered so a READ COMMITTED re-run sends nothing twice. */
    eng_rows out = {0};
    int src;
    s->lock_scan = true;
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
      syn_value v[64];
      int nc = q->ncols < 64 ? q->ncols : 64;
      for (int i = 0; i < nc && !rc; i++) rc = eng__value_from_column(st, i, &v[i]);
      if (!rc) rc = eng__rows_push(&out, v, nc, 0);
    }
    s->lock_scan = false;
    if (!rc && src != SQLITE_DONE) rc = eng__sqlite_error(s, src, e);
    eng__release(s, st);
    for (int i = 0; i < s->nlocks && !rc; i++) {
      const cat_table *t = eng__table(s, s->locks[i].table);
      eng_rows *rs = &s->locks[i].rows;
      for (size_t r = 0; t && r < rs->n && !rc; r++) {
        syn_value key[64], dist;
        int nk = t->npk ? t->npk : 1;
        if (t->npk)
          for (int k = 0; k < t->npk && k < 64; k++) key[k] = rs->r[r].v[t->pk[k]];
        else
          key[0] = (syn_value){.type = SYN_V_INT, .u.i = rs->r[r].rowid};
        dist = t->dist_col >= 0 ? rs->r[r].v[t->dist_col]
                                : (syn_value){.type = SYN_V_INT, .u.i = rs->r[r].rowid};
        cl_write_op op = {.mode = CL_LOCK, .key = key, .nkey = nk, .dist_value = &dist};
        rc = eng__write(s, t, &op, 1, e);
      }
    }
    eng__locks_clear(s);
    if (!rc && q->ncols > 64)
      rc = sqlst_set(e, SQLST_FEATURE, "SELECT FOR UPDATE with more than 64 columns");
    if (!rc) rc = eng__send_columns(s, q->cols, q->ncols);
    for (size_t i = 0; i < out.n && !rc; i++) {
      rc = eng__send_values_row(s, out.r[i].v, q->cols, q->ncols, &buf);
      n++;
    }
    eng__rows_clear(&out);
  } else if (!rc) {
    rc = eng__send_columns(s, q->cols, q->ncols);
    int src = SQLITE_DONE;
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
      rc = eng__send_sqlite_row(s, st, q->cols, q->ncols, &buf);
      n++;
    }
    if (!rc && src != SQLITE_DONE) rc = eng__sqlite_error(s, src, e);
    eng__release(s, st);
  } else {
    eng__release(s, st);
  }
  cat_buf_free(&buf);
  if (rc == SYN_ECLOSED && s->out_gone) syn_err_set(e, SYN_ECLOSED, "08006: client went away");
  if (rc) return rc;
  char tag[48];
  snprintf(tag, sizeof tag, "SELECT %llu", (unsigned long long)n);
  return eng__complete(s, tag);
}

static bool is_ddl(sqlp_kind k) {
  switch (k) {
  case SQLP_CREATE_TABLE: case SQLP_DROP_TABLE: case SQLP_CREATE_INDEX: case SQLP_DROP_INDEX:
  case SQLP_TRUNCATE: case SQLP_ALTER_TABLE:
    return true;
  default: return false;
  }
}

/* One SELECT/INSERT/UPDATE/DELETE. READ COMMITTED re-runs a statement that
** met a row changed after its snapshot at a fresh snapshot; the DML code
** takes every lock before its first write and sends nothing before its
** writes are done, so a re-run needs no undo (cluster.h, cl_write). */
int eng__rewrite(eng_session *s, const sqlp_stmt *st, sqlr_query **q, int *err_pos,
                 syn_err *e) {
  sqlr_catalog cat = {lookup, s, eng__pgcat_need};
  return sqlr_rewrite(st, &cat, q, err_pos, e);
}

static int run_data_tag(eng_session *s, const sqlp_stmt *st, char *tag, size_t tagcap,
                        int *err_pos, syn_err *e) {
  int rc = eng__catalog_sync(s, e);
  if (rc) return rc;
  sqlr_query *q = NULL;
  rc = eng__rewrite(s, st, &q, err_pos, e);
  if (rc) return rc;
  if (q->nparams > s->nparams) {
    sqlr_query_free(q);
    return syn_err_set(e, SYN_EINVAL, "42P02: there is no parameter $%d", s->nparams + 1);
  }
  rc = eng__run_rewritten(s, st, q, tag, tagcap, e);
  sqlr_query_free(q);
  return rc;
}

int eng__run_rewritten(eng_session *s, const sqlp_stmt *st, const sqlr_query *q, char *tag,
                       size_t tagcap, syn_err *e) {
  int rc = eng__txn_for_statement(s, e);
  if (!rc && s->read_only && (st->kind != SQLP_SELECT || q->locking))
    rc = syn_err_set(e, SYN_EINVAL, "25006: cannot execute %s in a read-only transaction",
                     st->kind == SQLP_SELECT ? "SELECT FOR UPDATE" : sqlp_kind_name(st->kind));
  int max = s->opts.rc_retries > 0 ? s->opts.rc_retries : 100;
  for (int attempt = 0; !rc; attempt++) {
    tag[0] = '\0';
    s->scan_rc = 0;
    s->conflict_final = false;
    /* Every attempt starts with an empty scan cache: a re-run reads at a
    ** new snapshot, and nothing cached at the old one may serve it. */
    eng__scache_reset(s);
    syn_err_clear(&s->scan_err);
    switch (st->kind) {
    case SQLP_SELECT: rc = eng__run_select(s, q, e); break;
    case SQLP_INSERT: rc = eng__run_insert(s, q, tag, tagcap, e); break;
    default: rc = eng__run_update_delete(s, q, tag, tagcap, e); break;
    }
    if (rc == CL_ECONFLICT && s->iso == CL_READ_COMMITTED && attempt + 1 < max &&
        !s->conflict_final && !eng__cancelled(s)) {
      /* The statement wrote nothing yet (eng_dml.c takes every lock
      ** before its first write): run it again at a fresh snapshot. */
      syn_err_clear(e);
      rc = eng__refresh_snapshot(s, e);
      continue;
    }
    break;
  }
  eng__scache_reset(s);
  return rc;
}

static int run_data(eng_session *s, const sqlp_stmt *st, int *err_pos, syn_err *e) {
  char tag[64] = "";
  int rc = run_data_tag(s, st, tag, sizeof tag, err_pos, e);
  if (!rc && tag[0]) rc = eng__complete(s, tag);
  return rc;
}

/* TRUNCATE inside a transaction block (pgbench -i runs one before loading
** its tables). The store's TRUNCATE drops every version at once and cannot
** be rolled back, so inside a block each table is emptied by a DELETE of
** every row in this transaction instead: it takes the row locks, is undone
** by ROLLBACK and becomes visible to others only at COMMIT, as PostgreSQL's
** transactional TRUNCATE is. Unlike PostgreSQL's ACCESS EXCLUSIVE lock it
** does not block concurrent readers; they keep seeing the old rows until
** the commit, which is what MVCC readers see of a DELETE. It costs a write
** per row, where the store's TRUNCATE outside a block costs one step. */
static int run_truncate_in_block(eng_session *s, const sqlp_stmt *st, syn_err *e) {
  /* CASCADE changes nothing: synod has no foreign keys, so no other
  ** table can reference these (the same as outside a block). */
  int rc = eng__catalog_sync(s, e);
  /* Every name first, so a missing table changes nothing (42P01). */
  for (int i = 0; i < st->nnames && !rc; i++)
    if (!eng__table(s, st->names[i]))
      rc = sqlst_set(e, SQLST_UNDEFINED_TABLE, "relation \"%s\" does not exist", st->names[i]);
  for (int i = 0; i < st->nnames && !rc; i++) {
    cat_buf sql = {0};
    if (cat_buf_printf(&sql, "DELETE FROM ") || eng__ident(&sql, st->names[i])) {
      cat_buf_free(&sql);
      return syn_err_set(e, SYN_ENOMEM, "out of memory");
    }
    sqlp_list *l = NULL;
    int cursor = 0, pos = 0;
    rc = sqlp_parse(sql.p, &l, &cursor, e);
    cat_buf_free(&sql);
    if (!rc && l->n != 1) rc = syn_err_set(e, SYN_EINTERNAL, "TRUNCATE: bad DELETE for \"%s\"",
                                           st->names[i]);
    char tag[64];
    if (!rc) rc = run_data_tag(s, &l->stmts[0], tag, sizeof tag, &pos, e);
    sqlp_list_free(l);
  }
  return rc ? rc : eng__complete(s, "TRUNCATE TABLE");
}

int eng__run_stmt(eng_session *s, const sqlp_stmt *st, int *err_pos, syn_err *e) {
  *err_pos = 0;
  if (st->kind == SQLP_UNSUPPORTED || (st->status && !is_ddl(st->kind) && st->kind != SQLP_SET &&
                                       st->kind != SQLP_SHOW && st->kind != SQLP_SELECT &&
                                       st->kind != SQLP_INSERT && st->kind != SQLP_UPDATE &&
                                       st->kind != SQLP_DELETE)) {
    *err_pos = st->err_pos;
    if (e) *e = st->err;
    return st->status ? st->status : sqlst_set(e, SQLST_FEATURE, "%s is not supported",
                                               st->feature ? st->feature : "this statement");
  }
  switch (st->kind) {
  case SQLP_SELECT: case SQLP_INSERT: case SQLP_UPDATE: case SQLP_DELETE:
    return run_data(s, st, err_pos, e);
  case SQLP_BEGIN: case SQLP_COMMIT: case SQLP_ROLLBACK:
    return eng__run_txn_control(s, st, e);
  case SQLP_SET:
    if (st->status) break;
    return eng__run_set(s, st, e);
  case SQLP_SHOW:
    if (st->status) break;
    return eng__run_show(s, st, e);
  case SQLP_PREPARE: {
    int rc = eng__sql_prepare(s, st, e);
    return rc ? rc : eng__complete(s, "PREPARE");
  }
  case SQLP_DEALLOCATE: {
    int rc = eng__sql_deallocate(s, st, e);
    return rc ? rc : eng__complete(s, sqlp_command_tag(st));
  }
  case SQLP_COPY:
    return eng__run_copy(s, st, err_pos, e);
  case SQLP_EXECUTE: {
    char tag[64] = "";
    int rc = eng__sql_execute(s, st, tag, sizeof tag, err_pos, e);
    return !rc && tag[0] ? eng__complete(s, tag) : rc;
  }
  default:
    if (st->status) break;
    if (s->block == ENG_BLOCK && st->kind == SQLP_TRUNCATE) return run_truncate_in_block(s, st, e);
    if (s->block == ENG_BLOCK) {
      const char *tag = sqlp_command_tag(st);
      snprintf(s->hint, sizeof s->hint,
               "synod runs DDL outside transactions: run it before BEGIN or after COMMIT.");
      return sqlst_set(e, SQLST_FEATURE, "%s cannot run inside a transaction block",
                       tag ? tag : "DDL");
    }
    return eng__run_ddl(s, st, e);
  }
  *err_pos = st->err_pos;
  if (e) *e = st->err;
  return st->status;
}

/* PostgreSQL counts error positions in characters, the parser in bytes. */
uint32_t eng__char_pos(const char *sql, int byte_pos) {
  if (byte_pos <= 0) return 0;
  uint32_t n = 0;
  for (int i = 0; i < byte_pos - 1 && sql[i]; i++)
    if (((unsigned char)sql[i] & 0xC0) != 0x80) n++;
  return n + 1;
}

char eng_session_query(eng_session *s, const char *sql, const eng_out *out) {
  s->out = out;
  s->src = sql;
  s->out_gone = false;
  eng__statement_start(s);
  sqlp_list *l = NULL;
  int cursor = 0;
  syn_err e;
  syn_err_clear(&e);
  int rc = sqlp_parse(sql, &l, &cursor, &e);
  if (rc) {
    eng__send_error(s, rc, &e, eng__char_pos(sql, cursor), NULL);
    if (s->block == ENG_BLOCK) {
      s->block = ENG_FAILED;
      if (s->txn) cl_rollback(s->txn);
    }
    s->out = NULL;
    return eng_session_status(s);
  }
  if (l->n == 0) {
    if (out->empty) out->empty(out->ud);
  }
  for (int i = 0; i < l->n; i++) {
    const sqlp_stmt *st = &l->stmts[i];
    syn_err_clear(&e);
    s->detail[0] = '\0';
    s->hint[0] = '\0';
    s->context[0] = '\0';
    int pos = 0;
    /* statement_timeout applies to each statement of the string (PG 13+);
    ** a CancelRequest that arrived meanwhile still stops this one. */
    if (i > 0 && !atomic_load(&s->cancel)) eng__statement_start(s);
    if (s->block == ENG_FAILED && st->kind != SQLP_COMMIT && st->kind != SQLP_ROLLBACK) {
      rc = sqlst_set(&e, SQLST_IN_FAILED_TXN,
                     "current transaction is aborted, commands ignored until end of "
                     "transaction block");
    } else if (eng__cancelled(s)) {
      rc = syn_err_set(&e, SYN_ETIMEDOUT, "57014: canceling statement due to %s", eng__cancel_reason(s));
    } else {
      /* The last statement of an implicit transaction reports its tag
      ** only once the commit succeeded, as PostgreSQL does: a client
      ** must never see "INSERT 0 1" for a write that did not commit. */
      bool data = st->kind == SQLP_SELECT || st->kind == SQLP_INSERT ||
                  st->kind == SQLP_UPDATE || st->kind == SQLP_DELETE ||
                  st->kind == SQLP_EXECUTE || st->kind == SQLP_COPY;
      s->defer_tag = data && i + 1 == l->n && (s->block == ENG_IDLE || s->block == ENG_IMPLICIT);
      s->pending_tag[0] = '\0';
      rc = eng__run_stmt(s, st, &pos, &e);
      s->defer_tag = false;
    }
    if (!rc && s->block == ENG_IMPLICIT && i + 1 == l->n) rc = eng__end_implicit(s, true, &e);
    if (!rc && s->pending_tag[0]) rc = eng__complete(s, s->pending_tag);
    s->pending_tag[0] = '\0';
    /* A wait the cluster gave up because of a cancel or the deadline, or a
    ** READ COMMITTED re-run it suppressed: report why, as PostgreSQL does. */
    if ((rc == SYN_ETIMEDOUT || rc == CL_ECONFLICT) && eng__cancelled(s))
      syn_err_set(&e, SYN_ETIMEDOUT, "57014: canceling statement due to %s", eng__cancel_reason(s));
    if (rc) {
      if (!s->out_gone)
        eng__send_error(s, rc, &e, eng__char_pos(sql, pos), s->detail[0] ? s->detail : NULL);
      if (s->block == ENG_IMPLICIT) {
        eng__end_implicit(s, false, NULL);
      } else if (s->block == ENG_BLOCK) {
        /* Locks are released now; the block stays failed until ROLLBACK. */
        s->block = ENG_FAILED;
        if (s->txn) cl_rollback(s->txn);
      }
      break; /* the rest of the query string is skipped, as in PostgreSQL */
    }
  }
  /* A string that ended inside an implicit transaction (its last statement
  ** was not a data statement) commits it now. */
  if (s->block == ENG_IMPLICIT) {
    syn_err_clear(&e);
    rc = eng__end_implicit(s, true, &e);
    if (rc) eng__send_error(s, rc, &e, 0, NULL);
  }
  sqlp_list_free(l);
  eng__locks_clear(s);
  s->out = NULL;
  s->src = NULL;
  return eng_session_status(s);
}
