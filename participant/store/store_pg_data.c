/*
** PostgreSQL backend: writes (the rules and their order are those of the
** SQLite backend, store_lite_write.c) and snapshot reads (the merge of
** store_lite_scan.c, with the filter evaluated in the mirror; see
** store_pg_int.h).
**
** All of a write batch runs in one PostgreSQL transaction without
** synchronous commit: an unprepared intent that a crash loses is discarded
** by recovery anyway; prepare makes it durable. An op's checks are reads
** and its record is one statement (record()), so a refused op leaves no
** trace without a savepoint.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "participant/store/store_pg_int.h"

static int val_eq(const syn_value *a, const syn_value *b) {
  if (a->type != b->type) return 0;
  switch (a->type) {
  case SYN_V_NULL: return 1;
  case SYN_V_INT: return a->u.i == b->u.i;
  case SYN_V_REAL: return a->u.r == b->u.r;
  case SYN_V_TEXT:
  case SYN_V_BLOB:
    return a->u.b.n == b->u.b.n &&
           (a->u.b.n == 0 || memcmp(a->u.b.p, b->u.b.p, a->u.b.n) == 0);
  }
  return 0;
}

static int violation(sp_table *t, const char *name, store_info *info,
                     syn_err *err) {
  if (info) snprintf(info->constraint, sizeof info->constraint, "%s", name);
  return syn_err_set(err, STORE_EUNIQUE, "store: duplicate key value violates"
                     " unique constraint \"%s\" (table %u)", name, t->id);
}

static int busy(uint64_t holder, store_info *info, syn_err *err,
                const char *why) {
  if (info) info->blocker = holder;
  return syn_err_set(err, SYN_EBUSY, "store: %s held by txn %llu", why,
                     (unsigned long long)holder);
}

static int lock_get(store_pg *st, sp_table *t, const uint8_t *key,
                    size_t klen, uint64_t *holder, int *op, syn_err *err) {
  char sql[96];
  snprintf(sql, sizeof sql, "SELECT _syn_txn, _syn_op FROM i%u WHERE "
           "_syn_key = $1", t->id);
  sp_params p;
  sp_p_init(&p);
  sp_p_bytes(&p, key, klen);
  PGresult *r;
  int rc = sp_exec(st, sql, &p, &r, err);
  if (rc) return rc;
  *holder = 0;
  *op = -1;
  if (PQntuples(r)) {
    *holder = (uint64_t)sp_get_i64(r, 0, 0);
    *op = (int)sp_get_i64(r, 0, 1);
  }
  PQclear(r);
  return 0;
}

/* See store_lite_write.c, unique_check: committed rows, then intents. */
static int unique_check(store_pg *st, sp_table *t, sp_idx *x, uint64_t txn,
                        const syn_value *row, const uint8_t *key, size_t klen,
                        store_info *info, syn_err *err) {
  for (int k = 0; k < x->ncols; k++)
    if (row[x->cols[k]].type == SYN_V_NULL) return 0; /* NULLs are distinct */
  for (int pass = 0; pass < 2; pass++) {
    st_sb b = {0};
    if (pass)
      sb_addf(&b, "SELECT v._syn_txn FROM i%u AS v WHERE v._syn_op = 1",
              t->id);
    else
      sb_addf(&b, "SELECT v._syn_key FROM v%u AS v WHERE v._syn_del = 0",
              t->id);
    sp_params p;
    sp_p_init(&p);
    int rc = 0;
    for (int k = 0; k < x->ncols && !rc; k++) {
      sb_add(&b, " AND v.");
      sb_ident(&b, t->cols[x->cols[k]].name);
      sb_addf(&b, " = $%d", k + 1);
      /* Compared after the column's affinity, as SQLite compares. */
      syn_value a;
      char *own = NULL;
      rc = sp_affine(&t->cols[x->cols[k]], &row[x->cols[k]], &a, &own, err);
      if (!rc) rc = sp_p_value(&p, &a, err);
      free(own);
    }
    sb_addf(&b, " AND v._syn_key <> $%d", x->ncols + 1);
    sp_p_bytes(&p, key, klen);
    if (!pass)
      sb_addf(&b, " AND v._syn_ts = (SELECT max(w._syn_ts) FROM v%u AS w "
                  "WHERE w._syn_key = v._syn_key)", t->id);
    PGresult *r = NULL;
    if (!rc)
      rc = b.oom ? syn_err_set(err, SYN_ENOMEM, "store: sql")
                 : sp_exec(st, b.p, &p, &r, err);
    sb_free(&b);
    sp_p_free(&p);
    for (int i = 0; !rc && r && i < PQntuples(r); i++) {
      if (pass == 1) {
        uint64_t other = (uint64_t)sp_get_i64(r, i, 0);
        rc = other == txn ? violation(t, x->name, info, err)
                          : busy(other, info, err, "unique value");
        break;
      }
      uint8_t *k2;
      size_t k2n;
      if (sp_get_bytes(r, i, 0, &k2, &k2n)) {
        rc = syn_err_set(err, SYN_ECORRUPT, "store: bad key");
        break;
      }
      uint64_t holder;
      int op;
      rc = lock_get(st, t, k2, k2n, &holder, &op, err);
      free(k2);
      if (rc) break;
      if (holder == txn) continue;
      if (holder && op != SP_OP_LOCK) {
        rc = busy(holder, info, err, "row with the same unique value");
        break;
      }
      rc = violation(t, x->name, info, err);
    }
    PQclear(r);
    if (rc) return rc;
  }
  return 0;
}

static void add_cols(st_sb *b, const sp_table *t, const char *prefix) {
  for (int i = 0; i < t->ncols; i++) {
    sb_add(b, ", ");
    sb_add(b, prefix);
    sb_ident(b, t->cols[i].name);
  }
}

/* One statement records the intent, the txn record and the txn's table
** link, and (under a savepoint) the undo row. Data-modifying CTEs all see
** the snapshot from before the statement, so the undo row captures the
** intent as it was before this write. */
static int record(store_pg *st, sp_table *t, uint64_t txn, uint32_t sp,
                  const uint8_t *key, size_t klen, const syn_value *row,
                  uint64_t snap, store_write_mode mode, syn_err *err) {
  st_sb b = {0};
  sp_params p;
  sp_p_init(&p);
  sp_p_bytes(&p, key, klen);        /* $1 */
  sp_p_i64(&p, (int64_t)txn);       /* $2 */
  sp_p_i64(&p, (int64_t)snap);      /* $3 */
  sp_p_i64(&p, t->id);              /* $4 */
  int put = mode == STORE_INSERT || mode == STORE_UPDATE;
  sp_p_i64(&p, mode == STORE_LOCK ? SP_OP_LOCK : put ? SP_OP_PUT : SP_OP_DEL);
  if (sp) sp_p_i64(&p, sp);         /* $6, only used under a savepoint */
  int rc = 0;
  sb_add(&b, "WITH tx AS (INSERT INTO _syn_txns(_syn_txn, _syn_state, "
             "_syn_pts, _syn_cts) VALUES ($2, 0, 0, $3) ON CONFLICT "
             "(_syn_txn) DO UPDATE SET _syn_cts = greatest(_syn_txns._syn_cts,"
             " excluded._syn_cts)), tt AS (INSERT INTO _syn_txn_tables("
             "_syn_txn, table_id) VALUES ($2, $4) ON CONFLICT DO NOTHING)");
  if (sp) {
    sb_addf(&b, ", un AS (INSERT INTO u%u(_syn_txn, _syn_sp, _syn_key, "
                "_syn_had, _syn_op", t->id);
    add_cols(&b, t, "");
    sb_add(&b, ") SELECT $2, $6, $1, (i._syn_key IS NOT NULL)::integer, "
               "coalesce(i._syn_op, 0)");
    add_cols(&b, t, "i.");
    sb_addf(&b, " FROM (SELECT 1) AS d LEFT JOIN i%u AS i ON i._syn_key = $1"
                " AND i._syn_txn = $2 ON CONFLICT DO NOTHING)", t->id);
  }
  if (mode == STORE_LOCK) {
    sb_addf(&b, " INSERT INTO i%u(_syn_key, _syn_txn, _syn_op) VALUES ($1, "
                "$2, $5) ON CONFLICT DO NOTHING", t->id);
  } else {
    sb_addf(&b, " INSERT INTO i%u(_syn_key, _syn_txn, _syn_op", t->id);
    add_cols(&b, t, "");
    sb_add(&b, ") VALUES ($1, $2, $5");
    for (int i = 0; i < t->ncols && !rc; i++) {
      sb_addf(&b, ", $%d", p.n + 1);
      if (!put) {
        sp_p_value(&p, NULL, err);
        continue;
      }
      syn_value a;
      char *own = NULL;
      rc = sp_affine(&t->cols[i], &row[i], &a, &own, err);
      if (!rc) rc = sp_p_value(&p, &a, err);
      free(own);
    }
    sb_add(&b, ") ON CONFLICT (_syn_key) DO UPDATE SET _syn_txn = "
               "excluded._syn_txn, _syn_op = excluded._syn_op");
    for (int i = 0; i < t->ncols; i++) {
      sb_add(&b, ", ");
      sb_ident(&b, t->cols[i].name);
      sb_add(&b, " = excluded.");
      sb_ident(&b, t->cols[i].name);
    }
  }
  if (!rc)
    rc = b.oom ? syn_err_set(err, SYN_ENOMEM, "store: sql")
               : sp_exec(st, b.p, &p, NULL, err);
  sb_free(&b);
  sp_p_free(&p);
  return rc;
}

static int write_locked(store_pg *st, sp_table *t, uint64_t txn, uint32_t sp,
                        const uint8_t *key, size_t klen, const syn_value *row,
                        uint64_t snap, store_write_mode mode,
                        store_info *info, syn_err *err) {
  /* Lock holder and newest committed version in one round trip. */
  char sql[320];
  snprintf(sql, sizeof sql,
           "SELECT i._syn_txn, i._syn_op, v._syn_ts, v._syn_del FROM (SELECT "
           "1) AS d LEFT JOIN i%u AS i ON i._syn_key = $1 LEFT JOIN LATERAL "
           "(SELECT _syn_ts, _syn_del FROM v%u WHERE _syn_key = $1 ORDER BY "
           "_syn_ts DESC LIMIT 1) AS v ON true", t->id, t->id);
  sp_params p;
  sp_p_init(&p);
  sp_p_bytes(&p, key, klen);
  PGresult *r;
  int rc = sp_exec(st, sql, &p, &r, err);
  if (rc) return rc;
  uint64_t holder = PQgetisnull(r, 0, 0) ? 0 : (uint64_t)sp_get_i64(r, 0, 0);
  int own_op = holder ? (int)sp_get_i64(r, 0, 1) : -1;
  int have = !PQgetisnull(r, 0, 2);
  uint64_t latest = have ? (uint64_t)sp_get_i64(r, 0, 2) : 0;
  int latest_del = have ? (int)sp_get_i64(r, 0, 3) : 1;
  PQclear(r);
  if (holder && holder != txn) return busy(holder, info, err, "row lock");
  if (have && latest > snap) {
    if (info) info->conflict_ts = latest;
    return syn_err_set(err, SYN_ECONFLICT, "store: row of table %u changed at"
                       " %llu after snapshot %llu", t->id,
                       (unsigned long long)latest, (unsigned long long)snap);
  }
  if (mode == STORE_INSERT) {
    int exists = own_op == SP_OP_PUT ||
                 ((own_op == -1 || own_op == SP_OP_LOCK) && !latest_del);
    if (exists) return violation(t, t->pkey_name, info, err);
  }
  int put = mode == STORE_INSERT || mode == STORE_UPDATE;
  for (int i = 0; put && i < t->nidx; i++)
    if (t->idx[i].unique &&
        (rc = unique_check(st, t, &t->idx[i], txn, row, key, klen, info, err)))
      return rc;
  return record(st, t, txn, sp, key, klen, row, snap, mode, err);
}

static int op_check(store_pg *st, sp_table *t, const store_write_op *op,
                    size_t *klen, syn_err *err) {
  store_write_mode mode = op->mode;
  int nk = t->nkey ? t->nkey : 1;
  if (mode < STORE_INSERT || mode > STORE_LOCK)
    return syn_err_set(err, SYN_EINVAL, "store: bad write mode %d", (int)mode);
  int put = mode == STORE_INSERT || mode == STORE_UPDATE;
  if (!op->key || op->nkey != nk)
    return syn_err_set(err, SYN_EINVAL, "store: table %u takes %d key values,"
                       " %d given", t->id, nk, op->nkey);
  if (put && (!op->row || op->nrow != t->ncols))
    return syn_err_set(err, SYN_EINVAL, "store: table %u has %d columns, %d "
                       "values given", t->id, t->ncols, op->row ? op->nrow : 0);
  if (t->nkey == 0 && op->key[0].type != SYN_V_INT)
    return syn_err_set(err, SYN_EINVAL, "store: table %u keys rows by an "
                       "integer row id", t->id);
  if (put)
    for (int i = 0; i < t->ncols; i++)
      if (t->cols[i].key_ord >= 0 &&
          !val_eq(&op->row[i], &op->key[t->cols[i].key_ord]))
        return syn_err_set(err, SYN_EINVAL, "store: column %s differs from the"
                           " key", t->cols[i].name);
  return sp_key(st, op->key, nk, klen, err);
}

int spg_write_batch(void *be, uint64_t txn, uint32_t table_id,
                    const store_write_op *ops, int n, uint64_t snapshot_ts,
                    int *done, store_info *info, syn_err *err) {
  store_pg *st = be;
  SP_GUARD(st, err);
  if (info) memset(info, 0, sizeof *info);
  if (done) *done = 0;
  int rc, state;
  uint32_t sp;
  sp_table *t;
  if (txn == 0) return syn_err_set(err, SYN_EINVAL, "store: txn id 0");
  if (txn > (uint64_t)INT64_MAX)
    return syn_err_set(err, SYN_ERANGE, "store: txn id out of range");
  if (n < 0 || (n && !ops))
    return syn_err_set(err, SYN_EINVAL, "store: bad op count %d", n);
  if ((rc = sp_ts_ok(snapshot_ts, err, "snapshot_ts"))) return rc;
  if ((rc = sp_table_get(st, table_id, &t, err))) return rc;
  if ((rc = sp_txn_state(st, txn, &state, NULL, NULL, &sp, err))) return rc;
  if (state == STORE_TXN_ABORTED)
    return syn_err_set(err, SYN_ECLOSED, "store: txn %llu was aborted",
                       (unsigned long long)txn);
  if (state == STORE_TXN_PREPARED || state == STORE_TXN_COMMITTED)
    return syn_err_set(err, SYN_EINVAL, "store: txn %llu is %s: no more "
                       "writes", (unsigned long long)txn,
                       state == STORE_TXN_PREPARED ? "prepared" : "committed");
  if (n == 0) return 0;
  if ((rc = sp_begin(st, 0, err))) return rc;
  int ok = 0;
  for (; ok < n; ok++) {
    size_t klen;
    if ((rc = op_check(st, t, &ops[ok], &klen, err))) break;
    rc = write_locked(st, t, txn, sp, st->kbuf, klen, ops[ok].row,
                      snapshot_ts, ops[ok].mode, info, err);
    if (rc) break;
  }
  /* A refused op wrote nothing (its checks run before its one writing
  ** statement), so no savepoint is needed for "leaves no trace". A failed
  ** statement, though, aborts the whole PostgreSQL transaction: then no op
  ** was recorded, and the error says why (*done = 0). */
  if (PQtransactionStatus(st->conn) == PQTRANS_INERROR) {
    sp_rollback(st);
    return rc;
  }
  /* No synchronous commit on purpose (see the file comment). */
  if (ok) {
    syn_err cerr;
    int crc = sp_commit(st, &cerr);
    if (crc) {
      if (err) *err = cerr;
      return crc;
    }
  } else {
    sp_rollback(st);
  }
  if (done) *done = ok;
  return rc;
}

/* ---- reads ------------------------------------------------------------------- */

typedef struct scan_args {
  const uint8_t *lo;
  size_t lolen;
  const uint8_t *hi;
  size_t hilen;
  uint64_t snap, txn;
  int filtered;
  uint32_t limit;
} scan_args;

/* The version cursor: newest version <= snap per key, in key order, in
** batches; tombstones and rows the filter rejects are skipped here, so
** the merge sees what the SQLite backend's V cursor yields. */
#define SP_BATCH 512
typedef struct vcur {
  PGresult *r;
  int i, n, eof;
  uint8_t *next_lo; /* successor of the last key fetched */
  size_t next_lolen;
  uint8_t *key; /* current row's key */
  size_t klen;
  uint8_t *scratch[1];
} vcur;

static int vcur_fetch(store_pg *st, sp_table *t, const scan_args *a, vcur *c,
                      syn_err *err) {
  PQclear(c->r);
  c->r = NULL;
  c->i = 0;
  c->n = 0;
  st_sb b = {0};
  sb_add(&b, "SELECT DISTINCT ON (_syn_key) _syn_key, _syn_ts, _syn_del");
  add_cols(&b, t, "");
  sb_addf(&b, " FROM v%u WHERE _syn_key >= $1 AND _syn_key <= $2 AND "
              "_syn_ts <= $3 ORDER BY _syn_key, _syn_ts DESC LIMIT %d", t->id,
          SP_BATCH);
  sp_params p;
  sp_p_init(&p);
  if (c->next_lo) sp_p_bytes(&p, c->next_lo, c->next_lolen);
  else sp_p_bytes(&p, a->lo, a->lolen);
  sp_p_bytes(&p, a->hi, a->hilen);
  sp_p_i64(&p, (int64_t)a->snap);
  int rc = b.oom ? syn_err_set(err, SYN_ENOMEM, "store: sql")
                 : sp_exec(st, b.p, &p, &c->r, err);
  sb_free(&b);
  if (rc) return rc;
  c->n = PQntuples(c->r);
  if (c->n < SP_BATCH) c->eof = 1;
  if (c->n) {
    /* Next batch starts after the last key: K || 0x00. */
    uint8_t *k;
    size_t kn;
    if (sp_get_bytes(c->r, c->n - 1, 0, &k, &kn))
      return syn_err_set(err, SYN_ECORRUPT, "store: bad key");
    uint8_t *nk = realloc(k, kn + 1);
    if (!nk) {
      free(k);
      return syn_err_set(err, SYN_ENOMEM, "store: cursor");
    }
    nk[kn] = 0;
    free(c->next_lo);
    c->next_lo = nk;
    c->next_lolen = kn + 1;
  }
  return 0;
}

static int row_vals(store_pg *st, sp_table *t, PGresult *r, int i, int first,
                    uint8_t **scratch, syn_err *err) {
  for (int k = 0; k < t->ncols; k++) {
    int rc = sp_get_value(r, i, first + k, t->cols[k].type, &st->row[k],
                          &scratch[0], err);
    if (rc) return rc;
  }
  return 0;
}

/* Advance to the next visible, matching version; *have 0 at the end. The
** row's values are left in st->row only transiently: emit re-decodes. */
static int vcur_next(store_pg *st, sp_table *t, const scan_args *a, vcur *c,
                     int *have, syn_err *err) {
  for (;;) {
    if (c->r && c->i < c->n) {
      int i = c->i;
      if (sp_get_i64(c->r, i, 2) != 0) { /* tombstone */
        c->i++;
        continue;
      }
      if (a->filtered) {
        int m, rc = row_vals(st, t, c->r, i, 3, c->scratch, err);
        if (!rc) rc = sp_filter_match(st, t, st->row, &m, err);
        if (rc) return rc;
        if (!m) {
          c->i++;
          continue;
        }
      }
      free(c->key);
      c->key = NULL;
      if (sp_get_bytes(c->r, i, 0, &c->key, &c->klen))
        return syn_err_set(err, SYN_ECORRUPT, "store: bad key");
      *have = 1;
      return 0;
    }
    if (c->eof || (c->r && c->n == 0)) {
      *have = 0;
      return 0;
    }
    int rc = vcur_fetch(st, t, a, c, err);
    if (rc) return rc;
    if (c->n == 0) {
      *have = 0;
      return 0;
    }
  }
}

static void vcur_free(vcur *c) {
  PQclear(c->r);
  free(c->next_lo);
  free(c->key);
  free(c->scratch[0]);
}

static int emit(store_pg *st, sp_table *t, PGresult *r, int i, int first,
                const uint8_t *key, size_t klen, uint64_t cts,
                uint8_t **scratch, store_row_fn fn, void *ud,
                store_scan_result *res, syn_err *err) {
  int rc = row_vals(st, t, r, i, first, scratch, err);
  if (rc) return rc;
  store_row row;
  row.key = key;
  row.key_len = klen;
  row.ncols = t->ncols;
  row.commit_ts = cts;
  row.rowid = 0;
  row.vals = st->row;
  if (t->nkey == 0 && klen == 9 && key[0] == 0x15) {
    uint64_t u = 0;
    for (int k = 1; k < 9; k++) u = u << 8 | key[k];
    row.rowid = (int64_t)(u ^ (1ull << 63));
  }
  if (klen > st->lastcap) {
    uint8_t *p = realloc(st->last, klen);
    if (!p) return syn_err_set(err, SYN_ENOMEM, "store: cursor");
    st->last = p;
    st->lastcap = klen;
  }
  if (klen) memcpy(st->last, key, klen);
  res->last_key = st->last;
  res->last_key_len = klen;
  res->nrows++;
  st->in_cb = 1;
  int cb = fn(ud, &row);
  st->in_cb = 0;
  if (cb < 0)
    return syn_err_set(err, cb, "store: scan callback failed (%d)", cb);
  return cb ? 1 : 0;
}

/* Decode the key of intent row i (hi 0 past the end). */
static int iload(PGresult *I, int i, uint8_t **key, size_t *klen, int *hi,
                 syn_err *err) {
  free(*key);
  *key = NULL;
  *hi = i < PQntuples(I);
  if (*hi && sp_get_bytes(I, i, 0, key, klen))
    return syn_err_set(err, SYN_ECORRUPT, "store: bad key");
  return 0;
}

static int scan_run(store_pg *st, sp_table *t, const scan_args *a,
                    store_row_fn fn, void *ud, store_scan_result *res,
                    store_info *info, syn_err *err) {
  /* Intents that matter to the reader (store_lite_scan.c, cursor I). */
  st_sb b = {0};
  sb_add(&b, "SELECT i._syn_key, i._syn_txn, i._syn_op");
  add_cols(&b, t, "i.");
  sb_addf(&b, " FROM i%u AS i LEFT JOIN _syn_txns AS x ON x._syn_txn = "
              "i._syn_txn WHERE i._syn_key >= $1 AND i._syn_key <= $2 AND "
              "(i._syn_txn = $3 OR (i._syn_op <> 0 AND x._syn_state = 1 AND "
              "x._syn_pts <= $4)) ORDER BY i._syn_key", t->id);
  sp_params p;
  sp_p_init(&p);
  sp_p_bytes(&p, a->lo, a->lolen);
  sp_p_bytes(&p, a->hi, a->hilen);
  sp_p_i64(&p, (int64_t)a->txn);
  sp_p_i64(&p, (int64_t)a->snap);
  PGresult *I = NULL;
  int rc = b.oom ? syn_err_set(err, SYN_ENOMEM, "store: sql")
                 : sp_exec(st, b.p, &p, &I, err);
  sb_free(&b);
  if (rc) return rc;
  int ii = 0;
  uint8_t *ikey = NULL, *iscratch = NULL;
  size_t iklen = 0;
  vcur V = {0};
  int hv = 0, hi = 0;
  if ((rc = iload(I, ii, &ikey, &iklen, &hi, err))) goto done;
  if ((rc = vcur_next(st, t, a, &V, &hv, err))) goto done;
  while (!a->limit || res->nrows < a->limit) {
    if (!hv && !hi) goto done;
    int cmp = !hi ? -1 : !hv ? 1 : sp_keycmp(V.key, V.klen, ikey, iklen);
    if (cmp < 0) {
      rc = emit(st, t, V.r, V.i, 3, V.key, V.klen,
                (uint64_t)sp_get_i64(V.r, V.i, 1), V.scratch, fn, ud, res,
                err);
      if (rc) break;
      V.i++;
      if ((rc = vcur_next(st, t, a, &V, &hv, err))) break;
      continue;
    }
    uint64_t owner = (uint64_t)sp_get_i64(I, ii, 1);
    int op = (int)sp_get_i64(I, ii, 2);
    int match = op == SP_OP_PUT;
    if (match && a->filtered) {
      if ((rc = row_vals(st, t, I, ii, 3, &iscratch, err)) ||
          (rc = sp_filter_match(st, t, st->row, &match, err)))
        break;
    }
    if (owner != a->txn || a->txn == 0) {
      /* Another txn's prepared data intent with prepare_ts <= snapshot. */
      if (cmp == 0 || (op == SP_OP_PUT && match)) {
        if (info) info->blocker = owner;
        rc = syn_err_set(err, SYN_EBUSY, "store: read at %llu blocked by "
                         "prepared txn %llu", (unsigned long long)a->snap,
                         (unsigned long long)owner);
        break;
      }
      if ((rc = iload(I, ++ii, &ikey, &iklen, &hi, err))) break;
      continue;
    }
    if (op == SP_OP_LOCK) {
      if ((rc = iload(I, ++ii, &ikey, &iklen, &hi, err))) break;
      continue;
    }
    if (cmp == 0) {
      V.i++;
      if ((rc = vcur_next(st, t, a, &V, &hv, err))) break;
    }
    if (op == SP_OP_PUT && match) {
      rc = emit(st, t, I, ii, 3, ikey, iklen, 0, &iscratch, fn, ud, res, err);
      if (rc) break;
    }
    if ((rc = iload(I, ++ii, &ikey, &iklen, &hi, err))) break;
  }
  if (rc == 1 || !rc) {
    res->more = rc == 1 || hv || hi;
    rc = 0;
  }
done:
  free(ikey);
  free(iscratch);
  vcur_free(&V);
  PQclear(I);
  sp_p_free(&p);
  return rc;
}

static int read_checks(store_pg *st, uint32_t table_id, uint64_t snap,
                       sp_table **t, syn_err *err) {
  int rc = sp_ts_ok(snap, err, "snapshot_ts");
  if (rc) return rc;
  if (snap < st->gc_ts)
    return syn_err_set(err, SYN_ERANGE, "store: snapshot %llu is below the "
                       "GC horizon %llu", (unsigned long long)snap,
                       (unsigned long long)st->gc_ts);
  return sp_table_get(st, table_id, t, err);
}

int spg_scan(void *be, uint32_t table_id, const store_scan_opts *o,
             store_row_fn fn, void *ud, store_scan_result *res,
             store_info *info, syn_err *err) {
  store_pg *st = be;
  SP_GUARD(st, err);
  if (info) memset(info, 0, sizeof *info);
  if (!o || !fn || !res)
    return syn_err_set(err, SYN_EINVAL, "store: scan needs opts, fn, result");
  memset(res, 0, sizeof *res);
  sp_table *t;
  int rc = read_checks(st, table_id, o->snapshot_ts, &t, err);
  if (rc) return rc;
  if (o->txn > (uint64_t)INT64_MAX)
    return syn_err_set(err, SYN_ERANGE, "store: txn id out of range");
  if (o->nparams < 0 || o->nparams > STORE_MAX_FILTER_PARAMS ||
      (o->nparams && !o->params))
    return syn_err_set(err, SYN_EINVAL, "store: bad filter parameter count");
  const char *f = o->filter ? o->filter : "";
  f += strspn(f, " \t\r\n");
  if (*f) {
    if ((rc = sp_filter_set(st, t, f, o->nparams, o->params, err))) return rc;
  } else if (o->nparams) {
    return syn_err_set(err, SYN_EINVAL, "store: filter uses 0 parameters, %d "
                       "given", o->nparams);
  }
  static const uint8_t hi_all[1] = {0xFF};
  scan_args a = {.hi = hi_all, .hilen = 1, .snap = o->snapshot_ts,
                 .txn = o->txn, .filtered = *f != 0, .limit = o->limit};
  uint8_t *lo = NULL;
  if (o->after_key && o->after_key_len) {
    lo = malloc(o->after_key_len + 1);
    if (!lo) return syn_err_set(err, SYN_ENOMEM, "store: cursor");
    memcpy(lo, o->after_key, o->after_key_len);
    lo[o->after_key_len] = 0;
    a.lo = lo;
    a.lolen = o->after_key_len + 1;
  } else {
    a.lo = (const uint8_t *)"";
    a.lolen = 0;
  }
  res->last_key = o->after_key;
  res->last_key_len = o->after_key ? o->after_key_len : 0;
  rc = scan_run(st, t, &a, fn, ud, res, info, err);
  free(lo);
  return rc;
}

/* A point read in one round trip: the key's intent that matters to the
** reader (as cursor I of scan_run selects them) and its newest version at
** the snapshot, side by side, then scan_run's merge rules for one key with
** no filter:
**   another txn's prepared data intent: blocks if the reader would see a
**     row for the key (a version) or the intent puts one (Clock-SI);
**   own intent: a put is the row (commit_ts 0), a delete hides the
**     version, a lock changes nothing;
**   no intent: the version, unless it is a tombstone. */
static int get_one(store_pg *st, sp_table *t, const uint8_t *key, size_t klen,
                   uint64_t snap, uint64_t txn, store_row_fn fn, void *ud,
                   int *found, store_info *info, syn_err *err) {
  st_sb b = {0};
  sb_add(&b, "SELECT i._syn_txn, i._syn_op, v._syn_ts, v._syn_del");
  add_cols(&b, t, "i.");
  add_cols(&b, t, "v.");
  sb_addf(&b, " FROM (SELECT 1) AS d LEFT JOIN i%u AS i ON i._syn_key = $1 "
              "AND (i._syn_txn = $2 OR (i._syn_op <> 0 AND EXISTS (SELECT 1 "
              "FROM _syn_txns AS x WHERE x._syn_txn = i._syn_txn AND "
              "x._syn_state = 1 AND x._syn_pts <= $3))) LEFT JOIN LATERAL "
              "(SELECT * FROM v%u WHERE _syn_key = $1 AND _syn_ts <= $3 ORDER "
              "BY _syn_ts DESC LIMIT 1) AS v ON true", t->id, t->id);
  sp_params p;
  sp_p_init(&p);
  sp_p_bytes(&p, key, klen);
  sp_p_i64(&p, (int64_t)txn);
  sp_p_i64(&p, (int64_t)snap);
  PGresult *r = NULL;
  int rc = b.oom ? syn_err_set(err, SYN_ENOMEM, "store: sql")
                 : sp_exec(st, b.p, &p, &r, err);
  sb_free(&b);
  if (rc) return rc;
  int have_i = !PQgetisnull(r, 0, 0);
  uint64_t owner = have_i ? (uint64_t)sp_get_i64(r, 0, 0) : 0;
  int op = have_i ? (int)sp_get_i64(r, 0, 1) : -1;
  int have_v = !PQgetisnull(r, 0, 2) && sp_get_i64(r, 0, 3) == 0;
  uint64_t vts = have_v ? (uint64_t)sp_get_i64(r, 0, 2) : 0;
  int first_i = 4, first_v = 4 + t->ncols;
  int emit_from = -1; /* column of the row to return, or -1 */
  uint64_t cts = 0;
  if (have_i && (owner != txn || txn == 0)) {
    if (have_v || op == SP_OP_PUT) {
      if (info) info->blocker = owner;
      rc = syn_err_set(err, SYN_EBUSY, "store: read at %llu blocked by "
                       "prepared txn %llu", (unsigned long long)snap,
                       (unsigned long long)owner);
    }
  } else if (have_i && op == SP_OP_PUT) {
    emit_from = first_i;
  } else if (have_i && op == SP_OP_DEL) {
    emit_from = -1;
  } else if (have_v) {
    emit_from = first_v;
    cts = vts;
  }
  if (!rc && emit_from >= 0) {
    uint8_t *scratch = NULL;
    store_scan_result res = {0};
    rc = emit(st, t, r, 0, emit_from, key, klen, cts, &scratch, fn, ud, &res,
              err);
    free(scratch);
    if (rc == 1) rc = 0;
    if (!rc && found) *found = 1;
  }
  PQclear(r);
  sp_p_free(&p);
  return rc;
}

int spg_get(void *be, uint32_t table_id, const syn_value *key, int nkey,
            uint64_t snapshot_ts, uint64_t txn, store_row_fn fn, void *ud,
            int *found, store_info *info, syn_err *err) {
  store_pg *st = be;
  SP_GUARD(st, err);
  if (info) memset(info, 0, sizeof *info);
  if (found) *found = 0;
  if (!fn || !key)
    return syn_err_set(err, SYN_EINVAL, "store: get needs key and fn");
  if (txn > (uint64_t)INT64_MAX)
    return syn_err_set(err, SYN_ERANGE, "store: txn id out of range");
  sp_table *t;
  int rc = read_checks(st, table_id, snapshot_ts, &t, err);
  if (rc) return rc;
  if (nkey != (t->nkey ? t->nkey : 1))
    return syn_err_set(err, SYN_EINVAL, "store: table %u takes %d key values",
                       table_id, t->nkey ? t->nkey : 1);
  size_t klen;
  if ((rc = sp_key(st, key, nkey, &klen, err))) return rc;
  return get_one(st, t, st->kbuf, klen, snapshot_ts, txn, fn, ud, found, info,
                 err);
}

int spg_lock_holder(void *be, uint32_t table_id, const syn_value *key,
                    int nkey, uint64_t *holder, syn_err *err) {
  store_pg *st = be;
  SP_GUARD(st, err);
  sp_table *t;
  size_t klen;
  int rc = sp_table_get(st, table_id, &t, err);
  if (rc) return rc;
  if (!holder) return syn_err_set(err, SYN_EINVAL, "store: NULL output");
  *holder = 0;
  if (!key || nkey != (t->nkey ? t->nkey : 1))
    return syn_err_set(err, SYN_EINVAL, "store: wrong key value count");
  if ((rc = sp_key(st, key, nkey, &klen, err))) return rc;
  int op;
  return lock_get(st, t, st->kbuf, klen, holder, &op, err);
}
