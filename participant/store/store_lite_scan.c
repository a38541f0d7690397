/*
** Snapshot reads: a merge, in key order, of two SQLite cursors.
**
**   V: for each key in range, the newest version with _syn_ts <= S, not a
**      tombstone, that matches the filter;
**   I: intents in range that matter to the reader: all of its own (a put,
**      delete or lock; puts carry a flag "matches the filter"), and data
**      intents of PREPARED transactions with prepare_ts <= S.
**
** Merging: an own intent on K replaces V's row for K (a put that matches
** is returned, a delete or non-matching put hides it, a lock changes
** nothing). Another txn's prepared intent on K blocks the read (Clock-SI)
** when the row the reader would return for K could change with it: V has a
** matching row for K or the intent's new value matches. Both cursors walk
** the same memcmp key order (see store_key.c), so the merge allocates
** nothing per row; values handed to the callback point into SQLite's
** column buffers.
**
** Filters: the SQL layer pushes a WHERE-expression fragment over user
** column names with parameters ?1..?99. It is accepted only if (a) its
** tokens keep parentheses balanced with no ';' and no comments, so it
** cannot close the surrounding "(...)" or hide the rest of the statement,
** and (b) "SELECT 1 FROM v<id> WHERE (<filter>)" prepares under an
** authorizer that allows one SELECT, reads of user columns of that table
** and function calls, nothing else. Statements built around a filter are
** cached by (table, cursor, filter text) in a small LRU.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "participant/store/store_filter.h"
#include "participant/store/store_lite_int.h"

/* ---- statement cache ------------------------------------------------------- */

static void fc_slot_free(st_fcache *e) {
  sqlite3_finalize(e->stmt);
  free(e->filter);
  memset(e, 0, sizeof *e);
}

void st_fcache_drop_table(st_lite *st, uint32_t table_id) {
  for (int i = 0; i < ST_FCACHE_N; i++)
    if (st->fc[i].filter && st->fc[i].table_id == table_id)
      fc_slot_free(&st->fc[i]);
}

void st_fcache_free(st_lite *st) {
  for (int i = 0; i < ST_FCACHE_N; i++)
    if (st->fc[i].filter) fc_slot_free(&st->fc[i]);
}

static void add_cols(st_sb *b, const st_table *t, const char *alias) {
  for (int i = 0; i < t->ncols; i++) {
    sb_addf(b, ", %s.", alias);
    sb_ident(b, t->cols[i].name);
  }
}

/* The filter text comes first in each statement, so its ?N keep their
** numbers; internal parameters use ?101.. (P_*). */
static int build(st_lite *st, const st_table *t, int kind, const char *f,
                 sqlite3_stmt **out, syn_err *err) {
  st_sb b = {0};
  const char *cond = *f ? f : "1";
  if (kind == F_VERS) {
    sb_add(&b, "SELECT v._syn_key, v._syn_ts");
    add_cols(&b, t, "v");
    sb_addf(&b, " FROM v%u AS v WHERE (", t->id);
    sb_add(&b, cond);
    sb_addf(&b, ") AND v._syn_key >= ?%d AND v._syn_key <= ?%d AND "
                "v._syn_del = 0 AND v._syn_ts = (SELECT max(w._syn_ts) FROM ",
            P_LO, P_HI);
    sb_addf(&b, "v%u AS w WHERE w._syn_key = v._syn_key AND w._syn_ts <= ?%d)"
                " ORDER BY v._syn_key", t->id, P_SNAP);
  } else {
    sb_add(&b, "SELECT i._syn_key, i._syn_txn, i._syn_op, CASE WHEN "
               "i._syn_op = 1 AND (");
    sb_add(&b, cond);
    sb_add(&b, ") THEN 1 ELSE 0 END");
    add_cols(&b, t, "i");
    sb_addf(&b, " FROM i%u AS i LEFT JOIN _syn_txns AS x ON x._syn_txn = "
                "i._syn_txn WHERE i._syn_key >= ?%d AND i._syn_key <= ?%d",
            t->id, P_LO, P_HI);
    sb_addf(&b, " AND (i._syn_txn = ?%d OR (i._syn_op <> 0 AND "
                "x._syn_state = 1 AND x._syn_pts <= ?%d)) ORDER BY i._syn_key",
            P_TXN, P_SNAP);
  }
  int rc = b.oom ? syn_err_set(err, SYN_ENOMEM, "store: sql")
                 : st_prep(st, b.p, out, err);
  if (rc) syn_err_wrap(err, "filter");
  sb_free(&b);
  return rc;
}

static int fc_get(st_lite *st, const st_table *t, int kind, const char *f,
                  st_fcache **out, syn_err *err) {
  st_fcache *victim = &st->fc[0];
  for (int i = 0; i < ST_FCACHE_N; i++) {
    st_fcache *e = &st->fc[i];
    if (e->filter && e->table_id == t->id && e->kind == kind &&
        strcmp(e->filter, f) == 0) {
      e->used = ++st->fc_clock;
      *out = e;
      return 0;
    }
    if (!e->filter) victim = e;
    else if (victim->filter && e->used < victim->used) victim = e;
  }
  int np = 0, rc = 0;
  if (*f && (rc = store_filter_validate(st->db, t->id, f, &np, err))) return rc;
  sqlite3_stmt *s;
  if ((rc = build(st, t, kind, f, &s, err))) return rc;
  char *copy = strdup(f);
  if (!copy) {
    sqlite3_finalize(s);
    return syn_err_set(err, SYN_ENOMEM, "store: filter cache");
  }
  if (victim->filter) fc_slot_free(victim);
  victim->table_id = t->id;
  victim->kind = kind;
  victim->filter = copy;
  victim->nparams = np;
  victim->stmt = s;
  victim->used = ++st->fc_clock;
  *out = victim;
  return 0;
}

/* ---- the merge ------------------------------------------------------------- */

typedef struct scan_args {
  const uint8_t *lo;
  size_t lolen;
  const uint8_t *hi;
  size_t hilen;
  uint64_t snap, txn;
  const char *filter;
  const syn_value *params;
  int nparams;
  uint32_t limit;
} scan_args;

static int bind_all(st_lite *st, sqlite3_stmt *s, const scan_args *a, int vers,
                    syn_err *err) {
  for (int i = 0; i < a->nparams; i++)
    if (st_bind_value(s, i + 1, &a->params[i]) != SQLITE_OK)
      return syn_err_set(err, SYN_EINVAL, "store: filter parameter %d", i + 1);
  if (sqlite3_bind_blob(s, P_LO, a->lo, (int)a->lolen, SQLITE_STATIC) ||
      sqlite3_bind_blob(s, P_HI, a->hi, (int)a->hilen, SQLITE_STATIC) ||
      sqlite3_bind_int64(s, P_SNAP, (int64_t)a->snap) ||
      (!vers && sqlite3_bind_int64(s, P_TXN, (int64_t)a->txn)))
    return st_sqlerr(st, err, sqlite3_errcode(st->db), "bind");
  return 0;
}

static int step_row(st_lite *st, sqlite3_stmt *s, int *have, syn_err *err) {
  int rc = sqlite3_step(s);
  *have = rc == SQLITE_ROW;
  if (rc == SQLITE_ROW || rc == SQLITE_DONE) return 0;
  return st_sqlerr(st, err, rc, "scan");
}

static int emit(st_lite *st, const st_table *t, sqlite3_stmt *s, int first,
                uint64_t cts, store_row_fn fn, void *ud,
                store_scan_result *res, syn_err *err) {
  store_row r;
  r.key = sqlite3_column_blob(s, 0);
  r.key_len = (size_t)sqlite3_column_bytes(s, 0);
  r.ncols = t->ncols;
  r.commit_ts = cts;
  r.rowid = 0;
  for (int i = 0; i < t->ncols; i++) st_col_value(s, first + i, &st->row[i]);
  r.vals = st->row;
  if (t->nkey == 0 && r.key_len == 9 && r.key[0] == 0x15) {
    uint64_t u = 0;
    for (int i = 1; i < 9; i++) u = u << 8 | r.key[i];
    r.rowid = (int64_t)(u ^ (1ull << 63));
  }
  if (r.key_len > st->lastcap) {
    uint8_t *p = realloc(st->last, r.key_len);
    if (!p) return syn_err_set(err, SYN_ENOMEM, "store: cursor");
    st->last = p;
    st->lastcap = r.key_len;
  }
  if (r.key_len) memcpy(st->last, r.key, r.key_len);
  res->last_key = st->last;
  res->last_key_len = r.key_len;
  res->nrows++;
  st->in_cb = 1;
  int cb = fn(ud, &r);
  st->in_cb = 0;
  if (cb < 0)
    return syn_err_set(err, cb, "store: scan callback failed (%d)", cb);
  return cb ? 1 : 0;
}

static int scan_run(st_lite *st, st_table *t, const scan_args *a,
                    store_row_fn fn, void *ud, store_scan_result *res,
                    store_info *info, syn_err *err) {
  st_fcache *ev, *ei;
  const char *f = a->filter ? a->filter : "";
  f += strspn(f, " \t\r\n");
  int rc = fc_get(st, t, F_VERS, f, &ev, err);
  if (rc) return rc;
  /* Pin ev's statement: fc_get for the intents cursor may evict slots. */
  sqlite3_stmt *V = ev->stmt;
  int np = ev->nparams;
  ev->used = ++st->fc_clock;
  if ((rc = fc_get(st, t, F_INTENTS, f, &ei, err))) return rc;
  sqlite3_stmt *I = ei->stmt;
  if (a->nparams != np)
    return syn_err_set(err, SYN_EINVAL, "store: filter uses %d parameters, "
                       "%d given", np, a->nparams);
  int hv = 0, hi = 0;
  if ((rc = bind_all(st, V, a, 1, err)) || (rc = bind_all(st, I, a, 0, err)) ||
      (rc = step_row(st, V, &hv, err)) || (rc = step_row(st, I, &hi, err)))
    goto done;
  while (!a->limit || res->nrows < a->limit) {
    if (!hv && !hi) goto done;
    int cmp = !hi ? -1
              : !hv ? 1
                    : st_keycmp(sqlite3_column_blob(V, 0),
                                (size_t)sqlite3_column_bytes(V, 0),
                                sqlite3_column_blob(I, 0),
                                (size_t)sqlite3_column_bytes(I, 0));
    if (cmp < 0) {
      rc = emit(st, t, V, 2, (uint64_t)sqlite3_column_int64(V, 1), fn, ud, res,
                err);
      if (rc) break;
      if ((rc = step_row(st, V, &hv, err))) break;
      continue;
    }
    uint64_t owner = (uint64_t)sqlite3_column_int64(I, 1);
    int op = sqlite3_column_int(I, 2);
    int match = sqlite3_column_int(I, 3);
    if (owner != a->txn || a->txn == 0) {
      /* Another txn's prepared data intent with prepare_ts <= snapshot. */
      if (cmp == 0 || (op == ST_OP_PUT && match)) {
        if (info) info->blocker = owner;
        rc = syn_err_set(err, SYN_EBUSY, "store: read at %llu blocked by "
                         "prepared txn %llu", (unsigned long long)a->snap,
                         (unsigned long long)owner);
        break;
      }
      if ((rc = step_row(st, I, &hi, err))) break;
      continue;
    }
    if (op == ST_OP_LOCK) { /* a lock changes nothing the reader sees */
      if ((rc = step_row(st, I, &hi, err))) break;
      continue;
    }
    if (cmp == 0 && (rc = step_row(st, V, &hv, err))) break;
    if (op == ST_OP_PUT && match) {
      rc = emit(st, t, I, 4, 0, fn, ud, res, err);
      if (rc) break;
    }
    if ((rc = step_row(st, I, &hi, err))) break;
  }
  /* Stopped by the callback (rc 1: there may be more) or by the limit
  ** (more only if either cursor still has a row; it may still turn out to
  ** produce nothing, so "more" means "call again", not "rows follow"). */
  if (rc == 1 || !rc) {
    res->more = rc == 1 || hv || hi;
    rc = 0;
  }
done:
  sqlite3_reset(V);
  sqlite3_clear_bindings(V);
  sqlite3_reset(I);
  sqlite3_clear_bindings(I);
  return rc;
}

static int read_checks(st_lite *st, uint32_t table_id, uint64_t snap,
                       st_table **t, syn_err *err) {
  int rc = st_ts_ok(snap, err, "snapshot_ts");
  if (rc) return rc;
  if (snap < st->gc_ts)
    return syn_err_set(err, SYN_ERANGE, "store: snapshot %llu is below the "
                       "GC horizon %llu", (unsigned long long)snap,
                       (unsigned long long)st->gc_ts);
  return st_table_get(st, table_id, t, err);
}

int stl_scan(st_lite *st, uint32_t table_id, const store_scan_opts *o,
               store_row_fn fn, void *ud, store_scan_result *res,
               store_info *info, syn_err *err) {
  ST_GUARD(st, err);
  if (info) memset(info, 0, sizeof *info);
  if (!o || !fn || !res)
    return syn_err_set(err, SYN_EINVAL, "store: scan needs opts, fn, result");
  memset(res, 0, sizeof *res);
  st_table *t;
  int rc = read_checks(st, table_id, o->snapshot_ts, &t, err);
  if (rc) return rc;
  if (o->nparams < 0 || o->nparams > STORE_MAX_FILTER_PARAMS ||
      (o->nparams && !o->params))
    return syn_err_set(err, SYN_EINVAL, "store: bad filter parameter count");
  static const uint8_t hi_all[1] = {0xFF}; /* above every key's type byte */
  scan_args a = {.hi = hi_all, .hilen = 1, .snap = o->snapshot_ts,
                 .txn = o->txn, .filter = o->filter, .params = o->params,
                 .nparams = o->nparams, .limit = o->limit};
  if (o->after_key && o->after_key_len) {
    /* The smallest key after K is K || 0x00. */
    if (o->after_key_len >= 0x7fffffff)
      return syn_err_set(err, SYN_ERANGE, "store: cursor too long");
    if (o->after_key_len + 1 > st->kcap) {
      uint8_t *p = realloc(st->kbuf, o->after_key_len + 64);
      if (!p) return syn_err_set(err, SYN_ENOMEM, "store: cursor");
      st->kbuf = p;
      st->kcap = o->after_key_len + 64;
    }
    memcpy(st->kbuf, o->after_key, o->after_key_len);
    st->kbuf[o->after_key_len] = 0;
    a.lo = st->kbuf;
    a.lolen = o->after_key_len + 1;
  } else {
    a.lo = (const uint8_t *)"";
    a.lolen = 0;
  }
  /* With no row returned the resume point stays where it was. */
  res->last_key = o->after_key;
  res->last_key_len = o->after_key ? o->after_key_len : 0;
  return scan_run(st, t, &a, fn, ud, res, info, err);
}

int stl_get(st_lite *st, uint32_t table_id, const syn_value *key, int nkey,
              uint64_t snapshot_ts, uint64_t txn, store_row_fn fn, void *ud,
              int *found, store_info *info, syn_err *err) {
  ST_GUARD(st, err);
  if (info) memset(info, 0, sizeof *info);
  if (found) *found = 0;
  if (!fn || !key)
    return syn_err_set(err, SYN_EINVAL, "store: get needs key and fn");
  st_table *t;
  int rc = read_checks(st, table_id, snapshot_ts, &t, err);
  if (rc) return rc;
  if (nkey != (t->nkey ? t->nkey : 1))
    return syn_err_set(err, SYN_EINVAL, "store: table %u takes %d key values",
                       table_id, t->nkey ? t->nkey : 1);
  size_t klen;
  if ((rc = st_key(st, key, t->nkey ? t->nkey : 1, &klen, err))) return rc;
  scan_args a = {.lo = st->kbuf, .lolen = klen, .hi = st->kbuf, .hilen = klen,
                 .snap = snapshot_ts, .txn = txn, .limit = 1};
  store_scan_result res = {0};
  rc = scan_run(st, t, &a, fn, ud, &res, info, err);
  if (!rc && found) *found = res.nrows > 0;
  return rc;
}
