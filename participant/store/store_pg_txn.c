/*
** PostgreSQL backend: transaction outcomes, savepoints, lists and GC. The
** state machine, idempotence rules and GC argument are the SQLite
** backend's (store_lite_txn.c), statement for statement. Each step a
** protocol message depends on (prepare, commit, one-phase commit, abort of
** a prepared txn) commits with synchronous_commit on (sp_begin durable):
** PostgreSQL returns from COMMIT only after the commit record, and every
** WAL record before it, is flushed to disk.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "participant/store/store_pg_int.h"

int sp_txn_state(store_pg *st, uint64_t txn, int *state, uint64_t *pts,
                 uint64_t *cts, uint32_t *sp, syn_err *err) {
  *state = STORE_TXN_UNKNOWN;
  if (sp) *sp = 0;
  if (pts) *pts = 0;
  if (cts) *cts = 0;
  if (txn > (uint64_t)INT64_MAX) return 0; /* never stored */
  sp_params p;
  sp_p_init(&p);
  sp_p_i64(&p, (int64_t)txn);
  PGresult *r;
  int rc = sp_exec(st, "SELECT _syn_state, _syn_pts, _syn_cts, _syn_sp FROM "
                       "_syn_txns WHERE _syn_txn = $1", &p, &r, err);
  if (rc) return rc;
  if (PQntuples(r)) {
    *state = (int)sp_get_i64(r, 0, 0);
    if (pts) *pts = (uint64_t)sp_get_i64(r, 0, 1);
    if (cts) *cts = (uint64_t)sp_get_i64(r, 0, 2);
    if (sp) *sp = (uint32_t)sp_get_i64(r, 0, 3);
  }
  PQclear(r);
  return 0;
}

static int txn_set(store_pg *st, uint64_t txn, int state, uint64_t pts,
                   uint64_t cts, syn_err *err) {
  sp_params p;
  sp_p_init(&p);
  sp_p_i64(&p, (int64_t)txn);
  sp_p_i64(&p, state);
  sp_p_i64(&p, (int64_t)pts);
  sp_p_i64(&p, (int64_t)cts);
  return sp_exec(st, "INSERT INTO _syn_txns(_syn_txn, _syn_state, _syn_pts, "
                     "_syn_cts, _syn_sp) VALUES ($1, $2, $3, $4, 0) ON "
                     "CONFLICT (_syn_txn) DO UPDATE SET _syn_state = "
                     "excluded._syn_state, _syn_pts = excluded._syn_pts, "
                     "_syn_cts = excluded._syn_cts, _syn_sp = 0",
                 &p, NULL, err);
}

static void add_cols(st_sb *b, const sp_table *t) {
  for (int i = 0; i < t->ncols; i++) {
    sb_add(b, ", ");
    sb_ident(b, t->cols[i].name);
  }
}

/* For each table the txn touched: apply its data intents as versions at
** cts (when apply), then drop its intents and undo rows. */
static int txn_finish(store_pg *st, uint64_t txn, int apply, uint64_t cts,
                      syn_err *err) {
  sp_params p;
  sp_p_init(&p);
  sp_p_i64(&p, (int64_t)txn);
  PGresult *r;
  int rc = sp_exec(st, "SELECT table_id FROM _syn_txn_tables WHERE _syn_txn "
                       "= $1", &p, &r, err);
  if (rc) return rc;
  for (int i = 0; !rc && i < PQntuples(r); i++) {
    uint32_t id = (uint32_t)sp_get_i64(r, i, 0);
    sp_table *t = sp_table_find(st, id);
    if (!t) {
      rc = syn_err_set(err, SYN_EINTERNAL, "store: txn %llu touched missing "
                       "table %u", (unsigned long long)txn, id);
      break;
    }
    st_sb b = {0};
    if (apply) {
      sb_addf(&b, "INSERT INTO v%u(_syn_key, _syn_ts, _syn_del", id);
      add_cols(&b, t);
      sb_add(&b, ") SELECT _syn_key, $2, (_syn_op = 2)::integer");
      add_cols(&b, t);
      sb_addf(&b, " FROM i%u WHERE _syn_txn = $1 AND _syn_op <> 0", id);
      sp_params q;
      sp_p_init(&q);
      sp_p_i64(&q, (int64_t)txn);
      sp_p_i64(&q, (int64_t)cts);
      rc = b.oom ? syn_err_set(err, SYN_ENOMEM, "store: sql")
                 : sp_exec(st, b.p, &q, NULL, err);
      sb_free(&b);
    }
    if (!rc) {
      char sql[128];
      snprintf(sql, sizeof sql, "DELETE FROM i%u WHERE _syn_txn = $1", id);
      rc = sp_exec(st, sql, &p, NULL, err);
      snprintf(sql, sizeof sql, "DELETE FROM u%u WHERE _syn_txn = $1", id);
      if (!rc) rc = sp_exec(st, sql, &p, NULL, err);
    }
  }
  PQclear(r);
  if (!rc)
    rc = sp_exec(st, "DELETE FROM _syn_txn_tables WHERE _syn_txn = $1", &p,
                 NULL, err);
  return rc;
}

int spg_prepare(void *be, uint64_t txn, uint64_t prepare_ts, uint64_t *out_pts,
                syn_err *err) {
  store_pg *st = be;
  SP_GUARD(st, err);
  int rc, state;
  uint64_t pts, snap;
  if (txn == 0) return syn_err_set(err, SYN_EINVAL, "store: txn id 0");
  if ((rc = sp_ts_ok(prepare_ts, err, "prepare_ts"))) return rc;
  if ((rc = sp_txn_state(st, txn, &state, &pts, &snap, NULL, err))) return rc;
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
  if (txn > (uint64_t)INT64_MAX)
    return syn_err_set(err, SYN_ERANGE, "store: txn id out of range");
  if ((rc = sp_begin(st, 1, err))) return rc;
  rc = txn_set(st, txn, STORE_TXN_PREPARED, prepare_ts, snap, err);
  /* Invariant (2PC vote): YES leaves this process only after the prepared
  ** record and every intent of the txn are durable. The intents were
  ** committed earlier without waiting for the WAL flush; this commit waits
  ** for its own commit record, which lies after them in the WAL, so they
  ** are flushed too. */
  if (!rc) rc = sp_commit(st, err);
  else sp_rollback(st);
  if (!rc && out_pts) *out_pts = prepare_ts;
  return rc;
}

static int commit_apply(store_pg *st, uint64_t txn, uint64_t pts,
                        uint64_t cts, syn_err *err) {
  int rc = sp_begin(st, 1, err);
  if (rc) return rc;
  rc = txn_finish(st, txn, 1, cts, err);
  if (!rc) rc = txn_set(st, txn, STORE_TXN_COMMITTED, pts, cts, err);
  /* Invariant (commit durability): the commit is acknowledged only after
  ** the new versions are flushed (synchronous_commit on). */
  if (!rc) rc = sp_commit(st, err);
  else sp_rollback(st);
  return rc;
}

int spg_commit(void *be, uint64_t txn, uint64_t commit_ts, syn_err *err) {
  store_pg *st = be;
  SP_GUARD(st, err);
  int rc, state;
  uint64_t pts;
  if (txn == 0) return syn_err_set(err, SYN_EINVAL, "store: txn id 0");
  if ((rc = sp_ts_ok(commit_ts, err, "commit_ts"))) return rc;
  if ((rc = sp_txn_state(st, txn, &state, &pts, NULL, NULL, err))) return rc;
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

int spg_commit_one_phase(void *be, uint64_t txn, uint64_t commit_ts,
                         syn_err *err) {
  store_pg *st = be;
  SP_GUARD(st, err);
  int rc, state;
  if (txn == 0) return syn_err_set(err, SYN_EINVAL, "store: txn id 0");
  if ((rc = sp_ts_ok(commit_ts, err, "commit_ts"))) return rc;
  if ((rc = sp_txn_state(st, txn, &state, NULL, NULL, NULL, err))) return rc;
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

int spg_abort(void *be, uint64_t txn, syn_err *err) {
  store_pg *st = be;
  SP_GUARD(st, err);
  int rc, state;
  uint64_t pts, snap;
  if (txn == 0) return syn_err_set(err, SYN_EINVAL, "store: txn id 0");
  if (txn > (uint64_t)INT64_MAX)
    return syn_err_set(err, SYN_ERANGE, "store: txn id out of range");
  if ((rc = sp_txn_state(st, txn, &state, &pts, &snap, NULL, err))) return rc;
  if (state == STORE_TXN_ABORTED) return 0;
  if (state == STORE_TXN_COMMITTED)
    return syn_err_set(err, SYN_EINVAL, "store: abort of committed txn %llu",
                       (unsigned long long)txn);
  /* Only a prepared txn's abort must be durable (the coordinator may forget
  ** the decision once acknowledged); an unprepared txn's abort may be lost,
  ** recovery aborts it anyway. */
  int durable = state == STORE_TXN_PREPARED;
  if ((rc = sp_begin(st, durable, err))) return rc;
  rc = txn_finish(st, txn, 0, 0, err);
  uint64_t keep = snap > pts ? snap : pts;
  if (keep < st->gc_ts) keep = st->gc_ts;
  if (!rc) rc = txn_set(st, txn, STORE_TXN_ABORTED, pts, keep, err);
  if (!rc) rc = sp_commit(st, err);
  else sp_rollback(st);
  return rc;
}

int spg_savepoint(void *be, uint64_t txn, uint32_t sp, syn_err *err) {
  store_pg *st = be;
  SP_GUARD(st, err);
  int rc, state;
  uint32_t cur;
  if (txn == 0 || sp == 0)
    return syn_err_set(err, SYN_EINVAL, "store: txn id and savepoint must "
                       "be non-zero");
  if (txn > (uint64_t)INT64_MAX)
    return syn_err_set(err, SYN_ERANGE, "store: txn id out of range");
  if ((rc = sp_txn_state(st, txn, &state, NULL, NULL, &cur, err))) return rc;
  if (state == STORE_TXN_ABORTED)
    return syn_err_set(err, SYN_ECLOSED, "store: txn %llu was aborted",
                       (unsigned long long)txn);
  if (state == STORE_TXN_PREPARED || state == STORE_TXN_COMMITTED)
    return syn_err_set(err, SYN_EINVAL, "store: txn %llu is no longer "
                       "active", (unsigned long long)txn);
  if (state == STORE_TXN_ACTIVE && sp <= cur)
    return syn_err_set(err, SYN_EINVAL, "store: savepoint %u not above the "
                       "current %u", sp, cur);
  sp_params p;
  sp_p_init(&p);
  sp_p_i64(&p, (int64_t)txn);
  sp_p_i64(&p, sp);
  /* Not durable: savepoints only matter while the txn is active. */
  return sp_exec(st, "INSERT INTO _syn_txns(_syn_txn, _syn_state, _syn_pts, "
                     "_syn_cts, _syn_sp) VALUES ($1, 0, 0, 0, $2) ON CONFLICT "
                     "(_syn_txn) DO UPDATE SET _syn_sp = excluded._syn_sp",
                 &p, NULL, err);
}

int spg_rollback_to(void *be, uint64_t txn, uint32_t sp, syn_err *err) {
  store_pg *st = be;
  SP_GUARD(st, err);
  int rc, state;
  uint32_t cur;
  if (txn == 0 || sp == 0)
    return syn_err_set(err, SYN_EINVAL, "store: txn id and savepoint must "
                       "be non-zero");
  if ((rc = sp_txn_state(st, txn, &state, NULL, NULL, &cur, err))) return rc;
  if (state == STORE_TXN_ABORTED)
    return syn_err_set(err, SYN_ECLOSED, "store: txn %llu was aborted",
                       (unsigned long long)txn);
  if (state != STORE_TXN_ACTIVE || sp > cur)
    return syn_err_set(err, SYN_EINVAL, "store: txn %llu has no savepoint "
                       "%u", (unsigned long long)txn, sp);
  if ((rc = sp_begin(st, 0, err))) return rc;
  sp_params p;
  sp_p_init(&p);
  sp_p_i64(&p, (int64_t)txn);
  sp_p_i64(&p, sp);
  sp_params q;
  sp_p_init(&q);
  sp_p_i64(&q, (int64_t)txn);
  PGresult *r;
  rc = sp_exec(st, "SELECT table_id FROM _syn_txn_tables WHERE _syn_txn = $1",
               &q, &r, err);
  for (int i = 0; !rc && i < PQntuples(r); i++) {
    sp_table *t = sp_table_find(st, (uint32_t)sp_get_i64(r, i, 0));
    if (!t) {
      rc = syn_err_set(err, SYN_EINTERNAL, "store: txn touched a missing "
                       "table");
      break;
    }
    uint32_t id = t->id;
    /* Per key, the oldest undo row at or after sp holds what the txn had
    ** when sp was marked: drop intents made since (had = 0), restore the
    ** replaced ones (had = 1), then forget undo rows >= sp. */
    st_sb b = {0};
    sb_addf(&b, "DELETE FROM i%u WHERE _syn_txn = $1 AND _syn_key IN (SELECT "
                "u._syn_key FROM u%u AS u WHERE u._syn_txn = $1 AND "
                "u._syn_sp >= $2 AND u._syn_had = 0 AND ", id, id);
    sb_addf(&b, "u._syn_sp = (SELECT min(w._syn_sp) FROM u%u AS w WHERE "
                "w._syn_txn = $1 AND w._syn_key = u._syn_key AND "
                "w._syn_sp >= $2))", id);
    rc = b.oom ? SYN_ENOMEM : sp_exec(st, b.p, &p, NULL, err);
    sb_free(&b);
    if (rc) break;
    sb_addf(&b, "INSERT INTO i%u(_syn_key, _syn_txn, _syn_op", id);
    add_cols(&b, t);
    sb_add(&b, ") SELECT u._syn_key, $1, u._syn_op");
    for (int k = 0; k < t->ncols; k++) {
      sb_add(&b, ", u.");
      sb_ident(&b, t->cols[k].name);
    }
    sb_addf(&b, " FROM u%u AS u WHERE u._syn_txn = $1 AND u._syn_sp >= $2 "
                "AND u._syn_had = 1 AND ", id);
    sb_addf(&b, "u._syn_sp = (SELECT min(w._syn_sp) FROM u%u AS w WHERE "
                "w._syn_txn = $1 AND w._syn_key = u._syn_key AND "
                "w._syn_sp >= $2) ON CONFLICT (_syn_key) DO UPDATE SET "
                "_syn_txn = excluded._syn_txn, _syn_op = excluded._syn_op", id);
    for (int k = 0; k < t->ncols; k++) {
      sb_add(&b, ", ");
      sb_ident(&b, t->cols[k].name);
      sb_add(&b, " = excluded.");
      sb_ident(&b, t->cols[k].name);
    }
    rc = b.oom ? SYN_ENOMEM : sp_exec(st, b.p, &p, NULL, err);
    sb_free(&b);
    if (rc) break;
    sb_addf(&b, "DELETE FROM u%u WHERE _syn_txn = $1 AND _syn_sp >= $2", id);
    rc = b.oom ? SYN_ENOMEM : sp_exec(st, b.p, &p, NULL, err);
    sb_free(&b);
  }
  PQclear(r);
  if (!rc)
    rc = sp_exec(st, "UPDATE _syn_txns SET _syn_sp = $2 WHERE _syn_txn = $1",
                 &p, NULL, err);
  if (!rc) rc = sp_commit(st, err);
  else sp_rollback(st);
  return rc;
}

int spg_txn_state_get(void *be, uint64_t txn, store_txn_state *state,
                      uint64_t *prepare_ts, uint64_t *commit_ts,
                      syn_err *err) {
  store_pg *st = be;
  SP_GUARD(st, err);
  int s, rc = sp_txn_state(st, txn, &s, prepare_ts, commit_ts, NULL, err);
  if (!rc && state) *state = (store_txn_state)s;
  return rc;
}

int spg_txn_list(void *be, store_txn_state state, store_prepared **out,
                 size_t *n, syn_err *err) {
  store_pg *st = be;
  SP_GUARD(st, err);
  if (!out || !n) return syn_err_set(err, SYN_EINVAL, "store: NULL output");
  *out = NULL;
  *n = 0;
  if (state < STORE_TXN_ACTIVE || state > STORE_TXN_ABORTED)
    return syn_err_set(err, SYN_EINVAL, "store: no txn list for state %d",
                       (int)state);
  sp_params p;
  sp_p_init(&p);
  sp_p_i64(&p, (int)state);
  PGresult *r;
  int rc = sp_exec(st, "SELECT _syn_txn, _syn_pts FROM _syn_txns WHERE "
                       "_syn_state = $1 ORDER BY _syn_pts, _syn_txn", &p, &r,
                   err);
  if (rc) return rc;
  size_t cnt = (size_t)PQntuples(r);
  if (cnt) {
    *out = malloc(cnt * sizeof **out);
    if (!*out) {
      PQclear(r);
      return syn_err_set(err, SYN_ENOMEM, "store: txn list");
    }
    for (size_t i = 0; i < cnt; i++) {
      (*out)[i].txn = (uint64_t)sp_get_i64(r, (int)i, 0);
      (*out)[i].prepare_ts = (uint64_t)sp_get_i64(r, (int)i, 1);
    }
    *n = cnt;
  }
  PQclear(r);
  return 0;
}

/* Version GC; the argument is store_lite_txn.c's (stl_gc). */
int spg_gc(void *be, uint64_t below_ts, syn_err *err) {
  store_pg *st = be;
  SP_GUARD(st, err);
  int rc = sp_ts_ok(below_ts, err, "gc horizon");
  if (rc) return rc;
  if (below_ts < st->gc_ts)
    return syn_err_set(err, SYN_EINVAL, "store: gc horizon %llu below %llu",
                       (unsigned long long)below_ts,
                       (unsigned long long)st->gc_ts);
  sp_params p;
  sp_p_init(&p);
  sp_p_i64(&p, (int64_t)below_ts);
  if ((rc = sp_begin(st, 0, err))) return rc;
  for (int i = 0; !rc && i < st->ntables; i++) {
    uint32_t id = st->tables[i]->id;
    char sql[400];
    snprintf(sql, sizeof sql,
             "DELETE FROM v%u AS v WHERE v._syn_ts <= $1 AND EXISTS (SELECT 1"
             " FROM v%u AS w WHERE w._syn_key = v._syn_key AND w._syn_ts > "
             "v._syn_ts AND w._syn_ts <= $1)", id, id);
    rc = sp_exec(st, sql, &p, NULL, err);
    snprintf(sql, sizeof sql, "DELETE FROM v%u WHERE _syn_ts <= $1 AND "
             "_syn_del = 1", id);
    if (!rc) rc = sp_exec(st, sql, &p, NULL, err);
  }
  if (!rc)
    rc = sp_exec(st, "DELETE FROM _syn_txns WHERE _syn_state IN (2, 3) AND "
                     "_syn_cts < $1", &p, NULL, err);
  if (!rc)
    rc = sp_exec(st, "UPDATE _syn_meta SET v = $1 WHERE k = 'gc_ts'", &p,
                 NULL, err);
  /* Not synchronous: deletions and horizon commit atomically; losing both
  ** only means GC runs again. */
  if (!rc) rc = sp_commit(st, err);
  else sp_rollback(st);
  if (!rc) st->gc_ts = below_ts;
  return rc;
}
