/*
** Writes and locks: first-updater-wins (PostgreSQL REPEATABLE READ) on top
** of the intent table, plus unique constraints.
**
** Order of checks for a write of key K by txn T at snapshot S:
**   1. txn state: T must be ACTIVE or new (prepared/decided txns take no
**      more writes);
**   2. lock: an intent of another txn on K -> SYN_EBUSY naming it. The
**      shell waits and runs deadlock detection over these edges;
**   3. first updater wins: the newest committed version of K has
**      commit_ts > S -> SYN_ECONFLICT (40001, or a statement re-run in
**      READ COMMITTED). While T holds K's lock no one else can commit K,
**      so the check cannot go stale before T finishes;
**   4. INSERT: K visible (T's own put, or a live newest version) ->
**      STORE_EUNIQUE on the primary key;
**   5. each unique constraint, for puts whose constrained values are all
**      non-NULL, against the newest committed rows, T's intents and other
**      txns' put intents (see unique_check);
**   6. the intent is recorded (replacing T's earlier intent on K, except
**      that a lock never downgrades a put or delete).
** All of it runs in one SQLite transaction committed without fsync: an
** unprepared intent that a crash loses is discarded by recovery anyway.
*/
#include <stdio.h>
#include <string.h>

#include "participant/store/store_lite_int.h"

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

static int unique_stmt(st_lite *st, st_table *t, st_idx *x, int intents,
                       sqlite3_stmt **out, syn_err *err) {
  sqlite3_stmt **slot = intents ? &x->chk_i : &x->chk_v;
  if (*slot) {
    *out = *slot;
    return 0;
  }
  st_sb b = {0};
  if (intents)
    sb_addf(&b, "SELECT _syn_txn FROM i%u AS v WHERE _syn_op = 1", t->id);
  else
    sb_addf(&b, "SELECT v._syn_key FROM v%u AS v WHERE v._syn_del = 0", t->id);
  for (int k = 0; k < x->ncols; k++) {
    sb_add(&b, " AND v.");
    sb_ident(&b, t->cols[x->cols[k]].name);
    sb_addf(&b, " = ?%d", k + 1);
  }
  sb_addf(&b, " AND v._syn_key <> ?%d", x->ncols + 1);
  if (!intents)
    sb_addf(&b, " AND v._syn_ts = (SELECT max(w._syn_ts) FROM v%u AS w "
                "WHERE w._syn_key = v._syn_key)", t->id);
  int rc = b.oom ? syn_err_set(err, SYN_ENOMEM, "store: sql")
                 : st_prep(st, b.p, slot, err);
  sb_free(&b);
  *out = *slot;
  return rc;
}

static int violation(st_table *t, const char *name, store_info *info,
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

/* Holder and op of the intent on key, or *holder = 0. */
static int lock_get(st_lite *st, st_table *t, const void *key, int klen,
                    uint64_t *holder, int *op, syn_err *err) {
  sqlite3_stmt *q;
  int rc = st_tq(st, t, Q_LOCK_GET, &q, err);
  if (rc) return rc;
  sqlite3_bind_blob(q, 1, key, klen, SQLITE_STATIC);
  rc = sqlite3_step(q);
  *holder = 0;
  *op = -1;
  if (rc == SQLITE_ROW) {
    *holder = (uint64_t)sqlite3_column_int64(q, 0);
    *op = sqlite3_column_int(q, 1);
  }
  rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
                                             : st_sqlerr(st, err, rc, "lock");
  sqlite3_reset(q);
  return rc;
}

/* A committed row K2 != K with the same constrained values violates the
** constraint unless T's own intent on K2 replaced it (then the intent
** check decides) or another txn's put/delete intent on K2 may still change
** it (then wait for that txn, as PostgreSQL waits for the inserter). */
static int unique_check(st_lite *st, st_table *t, st_idx *x, uint64_t txn,
                        const syn_value *row, const uint8_t *key, int klen,
                        store_info *info, syn_err *err) {
  for (int k = 0; k < x->ncols; k++)
    if (row[x->cols[k]].type == SYN_V_NULL) return 0; /* NULLs are distinct */
  for (int pass = 0; pass < 2; pass++) {
    sqlite3_stmt *s;
    int rc = unique_stmt(st, t, x, pass, &s, err);
    if (rc) return rc;
    for (int k = 0; k < x->ncols && !rc; k++)
      if (st_bind_value(s, k + 1, &row[x->cols[k]]) != SQLITE_OK)
        rc = syn_err_set(err, SYN_EINVAL, "store: bad value for %s",
                         t->cols[x->cols[k]].name);
    sqlite3_bind_blob(s, x->ncols + 1, key, klen, SQLITE_STATIC);
    int step;
    while (!rc && (step = sqlite3_step(s)) == SQLITE_ROW) {
      if (pass == 1) {
        uint64_t other = (uint64_t)sqlite3_column_int64(s, 0);
        rc = other == txn ? violation(t, x->name, info, err)
                          : busy(other, info, err, "unique value");
        break;
      }
      uint64_t holder;
      int op;
      rc = lock_get(st, t, sqlite3_column_blob(s, 0),
                    sqlite3_column_bytes(s, 0), &holder, &op, err);
      if (rc) break;
      if (holder == txn) continue;
      if (holder && op != ST_OP_LOCK) {
        rc = busy(holder, info, err, "row with the same unique value");
        break;
      }
      rc = violation(t, x->name, info, err);
    }
    if (!rc && step != SQLITE_DONE) rc = st_sqlerr(st, err, step, "unique");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc) return rc;
  }
  return 0;
}

static int write_locked(st_lite *st, st_table *t, uint64_t txn, uint32_t sp,
                        const uint8_t *key, int klen, const syn_value *row,
                        uint64_t snap, store_write_mode mode,
                        store_info *info, syn_err *err) {
  uint64_t holder;
  int own_op, rc;
  if ((rc = lock_get(st, t, key, klen, &holder, &own_op, err))) return rc;
  if (holder && holder != txn) return busy(holder, info, err, "row lock");
  if (!holder) own_op = -1;

  sqlite3_stmt *q;
  if ((rc = st_tq(st, t, Q_LATEST, &q, err))) return rc;
  sqlite3_bind_blob(q, 1, key, klen, SQLITE_STATIC);
  int step = sqlite3_step(q);
  int have = step == SQLITE_ROW;
  uint64_t latest = have ? (uint64_t)sqlite3_column_int64(q, 0) : 0;
  int latest_del = have ? sqlite3_column_int(q, 1) : 1;
  sqlite3_reset(q);
  if (step != SQLITE_ROW && step != SQLITE_DONE)
    return st_sqlerr(st, err, step, "latest version");
  if (have && latest > snap) {
    if (info) info->conflict_ts = latest;
    return syn_err_set(err, SYN_ECONFLICT, "store: row of table %u changed at"
                       " %llu after snapshot %llu", t->id,
                       (unsigned long long)latest, (unsigned long long)snap);
  }
  if (mode == STORE_INSERT) {
    int exists = own_op == ST_OP_PUT ||
                 ((own_op == -1 || own_op == ST_OP_LOCK) && !latest_del);
    if (exists) return violation(t, t->pkey_name, info, err);
  }
  int put = mode == STORE_INSERT || mode == STORE_UPDATE;
  for (int i = 0; put && i < t->nidx; i++)
    if (t->idx[i].unique &&
        (rc = unique_check(st, t, &t->idx[i], txn, row, key, klen, info, err)))
      return rc;

  /* Under a savepoint, remember what this key looked like to the txn
  ** before the savepoint's first change to it (see store_rollback_to). */
  for (int u = 0; sp && u < 2; u++) {
    if ((rc = st_tq(st, t, u ? Q_UNDO_NONE : Q_UNDO_SAVE, &q, err))) return rc;
    sqlite3_bind_int64(q, 1, (int64_t)txn);
    sqlite3_bind_int64(q, 2, sp);
    sqlite3_bind_blob(q, 3, key, klen, SQLITE_STATIC);
    if ((rc = st_run(st, q, err, "undo"))) return rc;
  }
  if (mode == STORE_LOCK) {
    if ((rc = st_tq(st, t, Q_LOCK_PUT, &q, err))) return rc;
    sqlite3_bind_blob(q, 1, key, klen, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, (int64_t)txn);
  } else {
    if ((rc = st_tq(st, t, Q_PUT, &q, err))) return rc;
    sqlite3_bind_blob(q, 1, key, klen, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, (int64_t)txn);
    sqlite3_bind_int(q, 3, put ? ST_OP_PUT : ST_OP_DEL);
    for (int i = 0; put && i < t->ncols; i++)
      if (st_bind_value(q, i + 4, &row[i]) != SQLITE_OK) {
        sqlite3_clear_bindings(q);
        return syn_err_set(err, SYN_EINVAL, "store: bad value for column %s",
                           t->cols[i].name);
      }
  }
  if ((rc = st_run(st, q, err, "intent"))) return rc;
  sqlite3_stmt *a = st->g[G_TXN_ADD];
  sqlite3_bind_int64(a, 1, (int64_t)txn);
  sqlite3_bind_int64(a, 2, (int64_t)snap);
  if ((rc = st_run(st, a, err, "txn record"))) return rc;
  a = st->g[G_TT_ADD];
  sqlite3_bind_int64(a, 1, (int64_t)txn);
  sqlite3_bind_int64(a, 2, t->id);
  return st_run(st, a, err, "txn tables");
}

/* Argument checks for one op; encodes its key into st->kbuf. */
static int op_check(st_lite *st, st_table *t, const store_write_op *op,
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
  int rc = st_key(st, op->key, nk, klen, err);
  if (!rc && *klen > 0x7fffffff)
    rc = syn_err_set(err, SYN_ERANGE, "store: key size");
  return rc;
}

int stl_write_batch(st_lite *st, uint64_t txn, uint32_t table_id,
                      const store_write_op *ops, int n, uint64_t snapshot_ts,
                      int *done, store_info *info, syn_err *err) {
  ST_GUARD(st, err);
  if (info) memset(info, 0, sizeof *info);
  if (done) *done = 0;
  int rc, state;
  uint32_t sp; /* the txn's current statement savepoint */
  st_table *t;
  if (txn == 0) return syn_err_set(err, SYN_EINVAL, "store: txn id 0");
  if (n < 0 || (n && !ops))
    return syn_err_set(err, SYN_EINVAL, "store: bad op count %d", n);
  if ((rc = st_ts_ok(snapshot_ts, err, "snapshot_ts"))) return rc;
  if ((rc = st_table_get(st, table_id, &t, err))) return rc;
  if ((rc = st_txn_state(st, txn, &state, NULL, NULL, &sp, err))) return rc;
  if (state == STORE_TXN_ABORTED)
    return syn_err_set(err, SYN_ECLOSED, "store: txn %llu was aborted",
                       (unsigned long long)txn);
  if (state == STORE_TXN_PREPARED || state == STORE_TXN_COMMITTED)
    return syn_err_set(err, SYN_EINVAL, "store: txn %llu is %s: no more "
                       "writes", (unsigned long long)txn,
                       state == STORE_TXN_PREPARED ? "prepared" : "committed");
  if (n == 0) return 0;
  if ((rc = st_begin(st, 0, err))) return rc;
  int ok = 0;
  for (; ok < n; ok++) {
    size_t klen;
    if ((rc = op_check(st, t, &ops[ok], &klen, err))) break;
    /* A savepoint per op: whatever makes an op fail (a refusal or a storage
    ** error halfway through its statements) undoes exactly that op. */
    if ((rc = st_run(st, st->g[G_SP], err, "savepoint"))) break;
    rc = write_locked(st, t, txn, sp, st->kbuf, (int)klen, ops[ok].row,
                      snapshot_ts, ops[ok].mode, info, err);
    if (rc) {
      sqlite3_step(st->g[G_SP_UNDO]);
      sqlite3_reset(st->g[G_SP_UNDO]);
    }
    int rrc = st_run(st, st->g[G_SP_RELEASE], err, "release");
    if (rc || (rc = rrc)) break;
  }
  /* No fsync on purpose (see the file comment): prepare makes these
  ** intents durable before the txn can vote YES. */
  int crc;
  if (ok) {
    syn_err cerr;
    crc = st_commit(st, &cerr);
    if (crc) {
      if (err) *err = cerr;
      return crc;
    }
  } else {
    st_rollback(st);
  }
  if (done) *done = ok;
  return rc;
}
