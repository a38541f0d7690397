/*
** Transaction outcomes at one participant: prepare, commit (two-phase and
** one-phase), abort, the transaction lists (prepared ones for in-doubt
** resolution, active ones for a restarted coordinator's cleanup), and GC.
**
** States (_syn_txns._syn_state) and the only legal moves:
**
**   (unknown) --write--> ACTIVE --prepare--> PREPARED --commit--> COMMITTED
**       |                  |  \--commit_one_phase-----------------^
**       |                  \--abort / recovery--> ABORTED <--abort-- PREPARED
**       \--abort--> ABORTED          \--prepare (empty)--> PREPARED
**
** Idempotence: repeating a move that already happened returns 0, so the
** shell can retry any call whose outcome it did not see. A decided record
** may be forgotten by GC; a COMMIT for a forgotten transaction returns 0
** because a prepared record is never forgotten before its decision.
*/
#include <stdlib.h>
#include <string.h>

#include "participant/store/store_lite_int.h"

int st_txn_state(st_lite *st, uint64_t txn, int *state, uint64_t *pts,
                 uint64_t *cts, uint32_t *sp, syn_err *err) {
  sqlite3_stmt *s = st->g[G_TXN_GET];
  sqlite3_bind_int64(s, 1, (int64_t)txn);
  int rc = sqlite3_step(s);
  *state = STORE_TXN_UNKNOWN;
  if (sp) *sp = 0;
  if (pts) *pts = 0;
  if (cts) *cts = 0;
  if (rc == SQLITE_ROW) {
    *state = sqlite3_column_int(s, 0);
    if (pts) *pts = (uint64_t)sqlite3_column_int64(s, 1);
    if (cts) *cts = (uint64_t)sqlite3_column_int64(s, 2);
    if (sp) *sp = (uint32_t)sqlite3_column_int64(s, 3);
    rc = 0;
  } else if (rc == SQLITE_DONE) {
    rc = 0;
  } else {
    rc = st_sqlerr(st, err, rc, "txn state");
  }
  sqlite3_reset(s);
  return rc;
}

static int txn_set(st_lite *st, uint64_t txn, int state, uint64_t pts,
                   uint64_t cts, syn_err *err) {
  sqlite3_stmt *s = st->g[G_TXN_SET];
  sqlite3_bind_int64(s, 1, (int64_t)txn);
  sqlite3_bind_int(s, 2, state);
  sqlite3_bind_int64(s, 3, (int64_t)pts);
  sqlite3_bind_int64(s, 4, (int64_t)cts);
  return st_run(st, s, err, "txn record");
}

/* For each table the txn touched: apply its data intents as versions at
** cts (when apply), then drop all its intents (its locks). */
static int txn_finish(st_lite *st, uint64_t txn, int apply, uint64_t cts,
                      syn_err *err) {
  sqlite3_stmt *l = st->g[G_TT_LIST];
  sqlite3_bind_int64(l, 1, (int64_t)txn);
  int rc = 0, step;
  while (!rc && (step = sqlite3_step(l)) == SQLITE_ROW) {
    uint32_t id = (uint32_t)sqlite3_column_int64(l, 0);
    st_table *t = st_table_find(st, id);
    if (!t) {
      /* DDL refuses to drop a table with intents, so this is a bug. */
      rc = syn_err_set(err, SYN_EINTERNAL, "store: txn %llu touched missing "
                       "table %u", (unsigned long long)txn, id);
      break;
    }
    sqlite3_stmt *q;
    if (apply && !(rc = st_tq(st, t, Q_APPLY, &q, err))) {
      sqlite3_bind_int64(q, 1, (int64_t)cts);
      sqlite3_bind_int64(q, 2, (int64_t)txn);
      rc = st_run(st, q, err, "apply intents");
    }
    if (!rc && !(rc = st_tq(st, t, Q_DROP_INTENTS, &q, err))) {
      sqlite3_bind_int64(q, 1, (int64_t)txn);
      rc = st_run(st, q, err, "drop intents");
    }
    if (!rc && !(rc = st_tq(st, t, Q_UNDO_DROP, &q, err))) {
      sqlite3_bind_int64(q, 1, (int64_t)txn);
      rc = st_run(st, q, err, "drop undo");
    }
  }
  if (!rc && step != SQLITE_DONE) rc = st_sqlerr(st, err, step, "txn tables");
  sqlite3_reset(l);
  if (rc) return rc;
  sqlite3_stmt *d = st->g[G_TT_DEL];
  sqlite3_bind_int64(d, 1, (int64_t)txn);
  return st_run(st, d, err, "txn tables");
}

int stl_prepare(st_lite *st, uint64_t txn, uint64_t prepare_ts,
                  uint64_t *out_pts, syn_err *err) {
  ST_GUARD(st, err);
  int rc, state;
  uint64_t pts, snap;
  if (txn == 0) return syn_err_set(err, SYN_EINVAL, "store: txn id 0");
  if ((rc = st_ts_ok(prepare_ts, err, "prepare_ts"))) return rc;
  if ((rc = st_txn_state(st, txn, &state, &pts, &snap, NULL, err))) return rc;
  switch (state) {
  case STORE_TXN_PREPARED:
    if (out_pts) *out_pts = pts;
    return 0;
  case STORE_TXN_COMMITTED:
    return syn_err_set(err, SYN_EINVAL, "store: txn %llu already committed",
                       (unsigned long long)txn);
  case STORE_TXN_ABORTED:
    return syn_err_set(err, SYN_ECLOSED, "store: txn %llu was aborted",
                       (unsigned long long)txn);
  default:
    break;
  }
  if ((rc = st_begin(st, 1, err))) return rc;
  rc = txn_set(st, txn, STORE_TXN_PREPARED, prepare_ts, snap, err);
  /* Invariant (2PC vote): a YES vote leaves this process only after the
  ** prepared record and every intent of the txn are on disk. The intents
  ** were written earlier without fsync; this FULL commit fsyncs the WAL,
  ** which holds them (or a synced checkpoint already moved them into the
  ** database). Without it a crash after voting could lose writes that the
  ** coordinator then decides to commit. */
  if (!rc) rc = st_commit(st, err);
  else st_rollback(st);
  if (!rc && out_pts) *out_pts = prepare_ts;
  return rc;
}

static int commit_apply(st_lite *st, uint64_t txn, uint64_t pts, uint64_t cts,
                        syn_err *err) {
  int rc = st_begin(st, 1, err);
  if (rc) return rc;
  rc = txn_finish(st, txn, 1, cts, err);
  if (!rc) rc = txn_set(st, txn, STORE_TXN_COMMITTED, pts, cts, err);
  /* Invariant (commit durability): the commit is acknowledged (to the
  ** client for one-phase, to the coordinator's retry loop for 2PC) only
  ** after the new versions are fsynced; an ack for a commit lost in a crash
  ** would lose an acknowledged transaction. */
  if (!rc) rc = st_commit(st, err);
  else st_rollback(st);
  return rc;
}

int stl_commit(st_lite *st, uint64_t txn, uint64_t commit_ts, syn_err *err) {
  ST_GUARD(st, err);
  int rc, state;
  uint64_t pts;
  if (txn == 0) return syn_err_set(err, SYN_EINVAL, "store: txn id 0");
  if ((rc = st_ts_ok(commit_ts, err, "commit_ts"))) return rc;
  if ((rc = st_txn_state(st, txn, &state, &pts, NULL, NULL, err))) return rc;
  switch (state) {
  case STORE_TXN_UNKNOWN:
  case STORE_TXN_COMMITTED:
    return 0;
  case STORE_TXN_ABORTED:
    return syn_err_set(err, SYN_ECLOSED, "store: commit of aborted txn %llu",
                       (unsigned long long)txn);
  case STORE_TXN_ACTIVE:
    return syn_err_set(err, SYN_EINVAL, "store: commit of unprepared txn "
                       "%llu", (unsigned long long)txn);
  default:
    break;
  }
  if (commit_ts < pts)
    return syn_err_set(err, SYN_EINVAL, "store: txn %llu commit_ts %llu < "
                       "prepare_ts %llu", (unsigned long long)txn,
                       (unsigned long long)commit_ts, (unsigned long long)pts);
  return commit_apply(st, txn, pts, commit_ts, err);
}

int stl_commit_one_phase(st_lite *st, uint64_t txn, uint64_t commit_ts,
                           syn_err *err) {
  ST_GUARD(st, err);
  int rc, state;
  if (txn == 0) return syn_err_set(err, SYN_EINVAL, "store: txn id 0");
  if ((rc = st_ts_ok(commit_ts, err, "commit_ts"))) return rc;
  if ((rc = st_txn_state(st, txn, &state, NULL, NULL, NULL, err))) return rc;
  switch (state) {
  case STORE_TXN_COMMITTED:
    return 0;
  case STORE_TXN_UNKNOWN:
    /* A one-phase commit comes only after this participant took the txn's
    ** writes, so no record means it was decided and its record collected:
    ** most likely aborted here (recovery, ABORT_ACTIVE, a silent
    ** coordinator), or committed by an earlier send of this commit whose
    ** answer was lost. Answering 0 would tell the client COMMIT for writes
    ** that may be gone; SYN_ENOTFOUND makes the outcome unknown (40003). */
    return syn_err_set(err, SYN_ENOTFOUND, "store: no record of txn %llu: its outcome here is "
                       "unknown", (unsigned long long)txn);
  case STORE_TXN_ABORTED:
    return syn_err_set(err, SYN_ECLOSED, "store: commit of aborted txn %llu",
                       (unsigned long long)txn);
  case STORE_TXN_PREPARED:
    return syn_err_set(err, SYN_EINVAL, "store: txn %llu is prepared: use "
                       "two-phase commit", (unsigned long long)txn);
  default:
    break;
  }
  return commit_apply(st, txn, 0, commit_ts, err);
}

int stl_abort(st_lite *st, uint64_t txn, syn_err *err) {
  ST_GUARD(st, err);
  int rc, state;
  uint64_t pts, snap;
  if (txn == 0) return syn_err_set(err, SYN_EINVAL, "store: txn id 0");
  if ((rc = st_txn_state(st, txn, &state, &pts, &snap, NULL, err))) return rc;
  if (state == STORE_TXN_ABORTED) return 0;
  if (state == STORE_TXN_COMMITTED)
    return syn_err_set(err, SYN_EINVAL, "store: abort of committed txn %llu",
                       (unsigned long long)txn);
  /* Only a prepared txn's abort must be durable (after the decision is
  ** acknowledged the coordinator may forget it, and a crash must not bring
  ** the prepared record back). An unprepared txn's abort may be lost:
  ** recovery aborts every unprepared txn anyway. */
  int durable = state == STORE_TXN_PREPARED;
  if ((rc = st_begin(st, durable, err))) return rc;
  rc = txn_finish(st, txn, 0, 0, err);
  /* _syn_cts of an aborted record: a timestamp at or above every snapshot
  ** the txn used here (and its prepare_ts), so store_gc keeps the record
  ** while the txn can still be live (see store_gc). */
  uint64_t keep = snap > pts ? snap : pts;
  if (keep < st->gc_ts) keep = st->gc_ts;
  if (!rc) rc = txn_set(st, txn, STORE_TXN_ABORTED, pts, keep, err);
  if (!rc) rc = st_commit(st, err);
  else st_rollback(st);
  return rc;
}

/* Statement savepoints. Undo rows u<id>(txn, sp, key, had, op, cols)
** record, for the first change a txn makes to a key after savepoint sp was
** marked, the intent it had on that key before (had = 1) or that it had
** none (had = 0). Rolling back to sp restores, per key, the oldest undo
** row at or after sp: that is the state when sp was marked. None of this is
** durable: a crash aborts every unprepared txn, and prepared txns never
** roll back. */
int stl_savepoint(st_lite *st, uint64_t txn, uint32_t sp, syn_err *err) {
  ST_GUARD(st, err);
  int rc, state;
  uint32_t cur;
  if (txn == 0 || sp == 0)
    return syn_err_set(err, SYN_EINVAL, "store: txn id and savepoint must "
                       "be non-zero");
  if ((rc = st_txn_state(st, txn, &state, NULL, NULL, &cur, err))) return rc;
  if (state == STORE_TXN_ABORTED)
    return syn_err_set(err, SYN_ECLOSED, "store: txn %llu was aborted",
                       (unsigned long long)txn);
  if (state == STORE_TXN_PREPARED || state == STORE_TXN_COMMITTED)
    return syn_err_set(err, SYN_EINVAL, "store: txn %llu is no longer "
                       "active", (unsigned long long)txn);
  if (state == STORE_TXN_ACTIVE && sp <= cur)
    return syn_err_set(err, SYN_EINVAL, "store: savepoint %u not above the "
                       "current %u", sp, cur);
  if ((rc = st_begin(st, 0, err))) return rc;
  sqlite3_stmt *a = st->g[G_TXN_ADD];
  sqlite3_bind_int64(a, 1, (int64_t)txn);
  sqlite3_bind_int64(a, 2, 0);
  rc = st_run(st, a, err, "txn record");
  if (!rc) {
    a = st->g[G_TXN_SP];
    sqlite3_bind_int64(a, 1, (int64_t)txn);
    sqlite3_bind_int64(a, 2, sp);
    rc = st_run(st, a, err, "savepoint");
  }
  /* Not fsynced: savepoints only matter while the txn is active. */
  if (!rc) rc = st_commit(st, err);
  else st_rollback(st);
  return rc;
}

int stl_rollback_to(st_lite *st, uint64_t txn, uint32_t sp, syn_err *err) {
  ST_GUARD(st, err);
  int rc, state;
  uint32_t cur;
  if (txn == 0 || sp == 0)
    return syn_err_set(err, SYN_EINVAL, "store: txn id and savepoint must "
                       "be non-zero");
  if ((rc = st_txn_state(st, txn, &state, NULL, NULL, &cur, err))) return rc;
  if (state == STORE_TXN_ABORTED)
    return syn_err_set(err, SYN_ECLOSED, "store: txn %llu was aborted",
                       (unsigned long long)txn);
  if (state != STORE_TXN_ACTIVE || sp > cur)
    return syn_err_set(err, SYN_EINVAL, "store: txn %llu has no savepoint "
                       "%u", (unsigned long long)txn, sp);
  if ((rc = st_begin(st, 0, err))) return rc;
  sqlite3_stmt *l = st->g[G_TT_LIST];
  sqlite3_bind_int64(l, 1, (int64_t)txn);
  int step;
  static const int steps[] = {Q_UNDO_DEL, Q_UNDO_PUT, Q_UNDO_FORGET};
  while (!rc && (step = sqlite3_step(l)) == SQLITE_ROW) {
    st_table *t = st_table_find(st, (uint32_t)sqlite3_column_int64(l, 0));
    if (!t) {
      rc = syn_err_set(err, SYN_EINTERNAL, "store: txn touched a missing "
                       "table");
      break;
    }
    for (size_t i = 0; !rc && i < sizeof steps / sizeof steps[0]; i++) {
      sqlite3_stmt *q;
      if ((rc = st_tq(st, t, steps[i], &q, err))) break;
      sqlite3_bind_int64(q, 1, (int64_t)txn);
      sqlite3_bind_int64(q, 2, sp);
      rc = st_run(st, q, err, "rollback to savepoint");
    }
  }
  if (!rc && step != SQLITE_DONE) rc = st_sqlerr(st, err, step, "txn tables");
  sqlite3_reset(l);
  if (!rc) {
    sqlite3_stmt *a = st->g[G_TXN_SP];
    sqlite3_bind_int64(a, 1, (int64_t)txn);
    sqlite3_bind_int64(a, 2, sp);
    rc = st_run(st, a, err, "savepoint");
  }
  if (!rc) rc = st_commit(st, err);
  else st_rollback(st);
  return rc;
}

int stl_txn_state_get(st_lite *st, uint64_t txn, store_txn_state *state,
                        uint64_t *prepare_ts, uint64_t *commit_ts,
                        syn_err *err) {
  ST_GUARD(st, err);
  int s, rc = st_txn_state(st, txn, &s, prepare_ts, commit_ts, NULL, err);
  if (!rc && state) *state = (store_txn_state)s;
  return rc;
}

int stl_txn_list(st_lite *st, store_txn_state state, store_prepared **out,
                   size_t *n, syn_err *err) {
  ST_GUARD(st, err);
  if (!out || !n) return syn_err_set(err, SYN_EINVAL, "store: NULL output");
  *out = NULL;
  *n = 0;
  if (state < STORE_TXN_ACTIVE || state > STORE_TXN_ABORTED)
    return syn_err_set(err, SYN_EINVAL, "store: no txn list for state %d",
                       (int)state);
  sqlite3_stmt *s;
  int rc = st_prep(st, "SELECT _syn_txn, _syn_pts FROM _syn_txns WHERE "
                       "_syn_state = ?1 ORDER BY _syn_pts, _syn_txn", &s, err);
  if (rc) return rc;
  sqlite3_bind_int(s, 1, (int)state);
  size_t cap = 0;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if (*n == cap) {
      cap = cap ? cap * 2 : 16;
      store_prepared *p = realloc(*out, cap * sizeof *p);
      if (!p) {
        rc = SQLITE_NOMEM;
        break;
      }
      *out = p;
    }
    (*out)[*n].txn = (uint64_t)sqlite3_column_int64(s, 0);
    (*out)[*n].prepare_ts = (uint64_t)sqlite3_column_int64(s, 1);
    (*n)++;
  }
  if (rc != SQLITE_DONE) {
    rc = st_sqlerr(st, err, rc, "txn list");
    free(*out);
    *out = NULL;
    *n = 0;
  } else {
    rc = 0;
  }
  sqlite3_finalize(s);
  return rc;
}

int stl_lock_holder(st_lite *st, uint32_t table_id, const syn_value *key,
                      int nkey, uint64_t *holder, syn_err *err) {
  ST_GUARD(st, err);
  st_table *t;
  sqlite3_stmt *q;
  size_t klen;
  int rc = st_table_get(st, table_id, &t, err);
  if (rc) return rc;
  if (!holder) return syn_err_set(err, SYN_EINVAL, "store: NULL output");
  *holder = 0;
  if (!key || nkey != (t->nkey ? t->nkey : 1))
    return syn_err_set(err, SYN_EINVAL, "store: wrong key value count");
  if ((rc = st_key(st, key, t->nkey ? t->nkey : 1, &klen, err))) return rc;
  if ((rc = st_tq(st, t, Q_LOCK_GET, &q, err))) return rc;
  sqlite3_bind_blob(q, 1, st->kbuf, (int)klen, SQLITE_STATIC);
  rc = sqlite3_step(q);
  if (rc == SQLITE_ROW) *holder = (uint64_t)sqlite3_column_int64(q, 0);
  rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
                                             : st_sqlerr(st, err, rc, "lock");
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  return rc;
}

/* Version GC. For each key keep every version newer than below_ts and the
** newest one at or below it, unless that one is a tombstone: a snapshot
** at S >= below_ts reads the newest version <= S, which is one of those
** kept (or, for a dropped tombstone, nothing, which reads the same).
**
** Decided txn records with _syn_cts < below_ts are dropped too. The caller
** guarantees below_ts <= the start_ts of every live txn (it is the oldest
** snapshot in use), and a record's _syn_cts is >= every snapshot its txn
** wrote at, so no record of a live txn is dropped. That matters: a txn
** aborted by recovery whose record vanished would look unknown, and an
** unknown txn's prepare is an empty YES vote and its commit a no-op 0,
** which would acknowledge a commit whose writes were lost. */
int stl_gc(st_lite *st, uint64_t below_ts, syn_err *err) {
  ST_GUARD(st, err);
  int rc = st_ts_ok(below_ts, err, "gc horizon");
  if (rc) return rc;
  if (below_ts < st->gc_ts)
    return syn_err_set(err, SYN_EINVAL, "store: gc horizon %llu below %llu",
                       (unsigned long long)below_ts,
                       (unsigned long long)st->gc_ts);
  if ((rc = st_begin(st, 0, err))) return rc;
  for (int i = 0; !rc && i < st->ntables; i++) {
    uint32_t id = st->tables[i]->id;
    st_sb b = {0};
    sb_addf(&b, "DELETE FROM v%u AS v WHERE v._syn_ts <= ?1 AND EXISTS "
                "(SELECT 1 FROM v%u AS w WHERE w._syn_key = v._syn_key AND ",
            id, id);
    sb_addf(&b, "w._syn_ts > v._syn_ts AND w._syn_ts <= ?1);"
                "DELETE FROM v%u WHERE _syn_ts <= ?1 AND _syn_del = 1;", id);
    const char *sql = b.p, *tail = NULL;
    if (b.oom) rc = syn_err_set(err, SYN_ENOMEM, "store: sql");
    while (!rc && sql && *sql) {
      sqlite3_stmt *s = NULL;
      int prc = sqlite3_prepare_v2(st->db, sql, -1, &s, &tail);
      if (prc != SQLITE_OK) {
        rc = st_sqlerr(st, err, prc, "gc");
        break;
      }
      if (!s) break;
      sqlite3_bind_int64(s, 1, (int64_t)below_ts);
      rc = st_run(st, s, err, "gc");
      sqlite3_finalize(s);
      sql = tail;
    }
    sb_free(&b);
  }
  sqlite3_stmt *s = NULL;
  if (!rc)
    rc = st_prep(st, "DELETE FROM _syn_txns WHERE _syn_state IN (2, 3) AND "
                     "_syn_cts < ?1", &s, err);
  if (!rc) {
    sqlite3_bind_int64(s, 1, (int64_t)below_ts);
    rc = st_run(st, s, err, "gc txns");
  }
  sqlite3_finalize(s);
  s = NULL;
  if (!rc)
    rc = st_prep(st, "UPDATE _syn_meta SET v = ?1 WHERE k = 'gc_ts'", &s,
                 err);
  if (!rc) {
    sqlite3_bind_int64(s, 1, (int64_t)below_ts);
    rc = st_run(st, s, err, "gc horizon");
  }
  sqlite3_finalize(s);
  /* Not fsynced: the deletions and the horizon commit atomically, and
  ** losing both in a crash only means GC runs again. */
  if (!rc) rc = st_commit(st, err);
  else st_rollback(st);
  if (!rc) st->gc_ts = below_ts;
  return rc;
}

uint64_t stl_gc_ts(const st_lite *st) { return st ? st->gc_ts : 0; }
