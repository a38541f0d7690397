/* The replicated decision table (coordinator/coord_rsm.h): apply order,
** first decision wins, dedup by client id, snapshot round trip, garbage. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/coord_rsm.h"

static coord_rsm *mk(void) {
  coord_rsm *r = NULL;
  cr_assert_eq(coord_rsm_new(&r, NULL), 0);
  return r;
}

static int decide(coord_rsm *r, uint64_t id, uint64_t txn, dlog_outcome o, uint64_t ts,
                  uint32_t nparts, const uint32_t *parts, coord_rsm_effect *eff) {
  dlog_record rec = {.txn = txn, .outcome = o, .commit_ts = ts, .nparts = nparts, .parts = parts};
  uint8_t *buf;
  size_t len;
  cr_assert_eq(coord_rsm_encode_decide(&rec, &buf, &len, NULL), 0);
  int rc = coord_rsm_apply(r, id, buf, len, eff, NULL);
  free(buf);
  return rc;
}

static int done(coord_rsm *r, uint64_t id, uint64_t txn, coord_rsm_effect *eff) {
  uint8_t *buf;
  size_t len;
  cr_assert_eq(coord_rsm_encode_done(txn, &buf, &len, NULL), 0);
  int rc = coord_rsm_apply(r, id, buf, len, eff, NULL);
  free(buf);
  return rc;
}

typedef struct walk {
  uint64_t txns[16];
  int n;
} walk;

static int collect(const dlog_record *rec, void *ud) {
  walk *w = ud;
  w->txns[w->n++] = rec->txn;
  return 0;
}

Test(coord_rsm, first_decision_wins) {
  coord_rsm *r = mk();
  coord_rsm_effect e;
  uint32_t parts[] = {1, 3};
  cr_assert_eq(decide(r, 10, 77, DLOG_COMMIT, 500, 2, parts, &e), 0);
  cr_assert_eq(e.result, COORD_RSM_DECIDED);
  cr_assert_eq(e.rec.outcome, DLOG_COMMIT);
  /* Another coordinator's ABORT for the same txn (a different id) loses and
  ** is answered with the COMMIT. */
  cr_assert_eq(decide(r, 11, 77, DLOG_ABORT, 0, 0, NULL, &e), 0);
  cr_assert_eq(e.result, COORD_RSM_KEPT);
  cr_assert_eq(e.rec.outcome, DLOG_COMMIT);
  cr_assert_eq(e.rec.commit_ts, 500);
  cr_assert_eq(e.rec.nparts, 2);
  cr_assert_eq(e.rec.parts[1], 3);
  dlog_record got;
  bool d = true;
  cr_assert_eq(coord_rsm_lookup(r, 77, &got, &d), 0);
  cr_assert_eq(got.outcome, DLOG_COMMIT);
  cr_assert_not(d);
  cr_assert_eq(coord_rsm_lookup(r, 78, &got, &d), SYN_ENOTFOUND);
  coord_rsm_free(r);
}

Test(coord_rsm, dedup_by_id) {
  coord_rsm *r = mk();
  coord_rsm_effect e;
  cr_assert_eq(decide(r, 5, 1, DLOG_ABORT, 0, 0, NULL, &e), 0);
  cr_assert_eq(done(r, 6, 1, &e), 0);
  cr_assert_eq(e.result, COORD_RSM_MARKED_DONE);
  /* The same DECIDE chosen again (a re-proposal) must not bring it back. */
  cr_assert_eq(decide(r, 5, 1, DLOG_ABORT, 0, 0, NULL, &e), 0);
  cr_assert_eq(e.result, COORD_RSM_DUP);
  bool d = false;
  cr_assert_eq(coord_rsm_lookup(r, 1, NULL, &d), 0);
  cr_assert(d);
  cr_assert_eq(done(r, 6, 1, &e), 0);
  cr_assert_eq(e.result, COORD_RSM_DUP);
  /* A DONE with a new id for a done or unknown txn is ignored. */
  cr_assert_eq(done(r, 7, 1, &e), 0);
  cr_assert_eq(e.result, COORD_RSM_IGNORED);
  cr_assert_eq(done(r, 8, 999, &e), 0);
  cr_assert_eq(e.result, COORD_RSM_IGNORED);
  coord_rsm_stats st;
  coord_rsm_get_stats(r, &st);
  cr_assert_eq(st.dups, 2);
  cr_assert_eq(st.decisions, 1);
  cr_assert_eq(st.undone, 0);
  coord_rsm_free(r);
}

Test(coord_rsm, apply_order_and_undone_walk) {
  coord_rsm *r = mk();
  coord_rsm_effect e;
  uint64_t txns[] = {900, 3, 450, 12, 7};
  for (int i = 0; i < 5; i++)
    cr_assert_eq(decide(r, 100 + (uint64_t)i, txns[i], DLOG_COMMIT, 10, 0, NULL, &e), 0);
  cr_assert_eq(done(r, 200, 450, &e), 0);
  walk w = {0};
  cr_assert_eq(coord_rsm_foreach_undone(r, collect, &w), 0);
  cr_assert_eq(w.n, 4);
  uint64_t want[] = {900, 3, 12, 7};
  for (int i = 0; i < 4; i++) cr_assert_eq(w.txns[i], want[i]);
  coord_rsm_free(r);
}

/* Two replicas fed the same values in the same order agree, whatever
** duplicates and conflicting proposals the sequence holds. */
Test(coord_rsm, replicas_agree) {
  coord_rsm *a = mk(), *b = mk();
  uint64_t seed = 42;
  for (int i = 0; i < 2000; i++) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t txn = (seed >> 33) % 50, id = (seed >> 20) % 300;
    coord_rsm_effect ea, eb;
    if ((seed >> 60) < 3) {
      cr_assert_eq(done(a, id, txn, &ea), 0);
      cr_assert_eq(done(b, id, txn, &eb), 0);
    } else {
      dlog_outcome o = (seed >> 59) & 1 ? DLOG_COMMIT : DLOG_ABORT;
      cr_assert_eq(decide(a, id, txn, o, 5, 0, NULL, &ea), 0);
      cr_assert_eq(decide(b, id, txn, o, 5, 0, NULL, &eb), 0);
    }
    cr_assert_eq(ea.result, eb.result);
  }
  uint8_t *sa, *sb;
  size_t la, lb;
  cr_assert_eq(coord_rsm_snapshot_take(a, &sa, &la, NULL), 0);
  cr_assert_eq(coord_rsm_snapshot_take(b, &sb, &lb, NULL), 0);
  cr_assert_eq(la, lb);
  cr_assert_eq(memcmp(sa, sb, la), 0);
  free(sa);
  free(sb);
  coord_rsm_free(a);
  coord_rsm_free(b);
}

Test(coord_rsm, snapshot_round_trip) {
  coord_rsm *r = mk();
  coord_rsm_effect e;
  uint32_t parts[] = {2, 4, 6};
  cr_assert_eq(decide(r, 1, 30, DLOG_COMMIT, 1234, 3, parts, &e), 0);
  cr_assert_eq(decide(r, 2, 10, DLOG_ABORT, 0, 1, parts, &e), 0);
  cr_assert_eq(decide(r, 3, 20, DLOG_COMMIT, 99, 0, NULL, &e), 0);
  cr_assert_eq(done(r, 4, 10, &e), 0);
  uint8_t *snap;
  size_t len;
  cr_assert_eq(coord_rsm_snapshot_take(r, &snap, &len, NULL), 0);

  coord_rsm *s = mk();
  /* Something to be replaced. */
  cr_assert_eq(decide(s, 50, 555, DLOG_ABORT, 0, 0, NULL, &e), 0);
  cr_assert_eq(coord_rsm_snapshot_install(s, snap, len, NULL), 0);
  cr_assert_eq(coord_rsm_lookup(s, 555, NULL, NULL), SYN_ENOTFOUND);
  dlog_record got;
  bool d;
  cr_assert_eq(coord_rsm_lookup(s, 30, &got, &d), 0);
  cr_assert_eq(got.commit_ts, 1234);
  cr_assert_eq(got.nparts, 3);
  cr_assert_eq(got.parts[2], 6);
  cr_assert_not(d);
  cr_assert_eq(coord_rsm_lookup(s, 10, &got, &d), 0);
  cr_assert(d);
  walk w = {0};
  coord_rsm_foreach_undone(s, collect, &w);
  cr_assert_eq(w.n, 2);
  cr_assert_eq(w.txns[0], 30);
  cr_assert_eq(w.txns[1], 20);
  /* The applied ids came along: a re-chosen value stays a no-op. */
  cr_assert_eq(decide(s, 2, 10, DLOG_ABORT, 0, 1, parts, &e), 0);
  cr_assert_eq(e.result, COORD_RSM_DUP);
  /* And the snapshot of the copy is byte-identical. */
  uint8_t *snap2;
  size_t len2;
  cr_assert_eq(coord_rsm_snapshot_take(s, &snap2, &len2, NULL), 0);
  cr_assert_eq(len2, len);
  cr_assert_eq(memcmp(snap, snap2, len), 0);
  free(snap2);
  free(snap);
  coord_rsm_free(s);
  coord_rsm_free(r);
}

Test(coord_rsm, garbage_is_refused_without_change) {
  coord_rsm *r = mk();
  coord_rsm_effect e;
  cr_assert_eq(decide(r, 1, 30, DLOG_COMMIT, 1, 0, NULL, &e), 0);
  uint8_t *snap;
  size_t len;
  cr_assert_eq(coord_rsm_snapshot_take(r, &snap, &len, NULL), 0);
  /* Every truncation of a valid snapshot fails and leaves the table. */
  for (size_t cut = 0; cut < len; cut++)
    cr_assert_eq(coord_rsm_snapshot_install(r, snap, cut, NULL), SYN_EINVAL, "cut %zu", cut);
  cr_assert_eq(coord_rsm_lookup(r, 30, NULL, NULL), 0);
  /* Random bytes never crash apply or install. */
  uint8_t junk[64];
  uint64_t x = 7;
  for (int i = 0; i < 5000; i++) {
    size_t n = (size_t)(i % 64);
    for (size_t k = 0; k < n; k++) {
      x = x * 6364136223846793005ULL + 1;
      junk[k] = (uint8_t)(x >> 56);
    }
    if (i % 3 == 0 && n >= 1) junk[0] = (uint8_t)(1 + i % 2);
    syn_err err;
    int rc = coord_rsm_apply(r, 10000 + (uint64_t)i, junk, n, &e, &err);
    cr_assert(rc == 0 || rc == SYN_EINVAL);
    memcpy(junk, "SRSM\1\0\0\0", n < 8 ? n : 8);
    rc = coord_rsm_snapshot_install(r, junk, n, &err);
    cr_assert(rc == 0 || rc == SYN_EINVAL);
  }
  /* peek accepts exactly the well-formed commands. */
  uint32_t pp[] = {4, 5};
  dlog_record ok = {.txn = 9, .outcome = DLOG_COMMIT, .commit_ts = 3, .nparts = 2, .parts = pp};
  uint8_t *cmd;
  size_t clen;
  cr_assert_eq(coord_rsm_encode_decide(&ok, &cmd, &clen, NULL), 0);
  coord_rsm_cmd ct;
  uint64_t txn;
  cr_assert_eq(coord_rsm_peek(cmd, clen, &ct, &txn), 0);
  cr_assert_eq(ct, COORD_RSM_DECIDE);
  cr_assert_eq(txn, 9);
  for (size_t cut = 0; cut < clen; cut++)
    cr_assert_eq(coord_rsm_peek(cmd, cut, &ct, &txn), SYN_EINVAL, "cut %zu", cut);
  free(cmd);
  cr_assert_eq(coord_rsm_encode_done(9, &cmd, &clen, NULL), 0);
  cr_assert_eq(coord_rsm_peek(cmd, clen, &ct, &txn), 0);
  cr_assert_eq(ct, COORD_RSM_DONE);
  free(cmd);
  /* Malformed proposals are refused at encode time. */
  dlog_record bad = {.txn = 1, .outcome = 9};
  uint8_t *buf;
  size_t blen;
  cr_assert_eq(coord_rsm_encode_decide(&bad, &buf, &blen, NULL), SYN_EINVAL);
  free(snap);
  coord_rsm_free(r);
}

/* Memory stays bounded: done decisions and old ids are forgotten at the
** same point on every replica; undone decisions never are. */
Test(coord_rsm, forgets_done_decisions_and_old_ids) {
  coord_rsm *a = mk(), *b = mk();
  coord_rsm_effect eff;
  uint32_t parts[2] = {1, 2};
  /* txn 1 stays undone for the whole run. */
  cr_assert_eq(decide(a, 1, 1, DLOG_COMMIT, 5, 2, parts, &eff), 0);
  cr_assert_eq(decide(b, 1, 1, DLOG_COMMIT, 5, 2, parts, &eff), 0);
  for (uint64_t t = 2; t < 200000; t++) {
    cr_assert_eq(decide(a, 2 * t, t, DLOG_COMMIT, t, 2, parts, &eff), 0);
    cr_assert_eq(done(a, 2 * t + 1, t, &eff), 0);
    cr_assert_eq(decide(b, 2 * t, t, DLOG_COMMIT, t, 2, parts, &eff), 0);
    cr_assert_eq(done(b, 2 * t + 1, t, &eff), 0);
  }
  coord_rsm_stats st;
  coord_rsm_get_stats(a, &st);
  cr_assert_lt(st.decisions, 30000, "decisions kept: %llu", (unsigned long long)st.decisions);
  cr_assert_lt(st.ids, 210000, "ids kept: %llu", (unsigned long long)st.ids);
  cr_assert_gt(st.forgotten, 150000);
  cr_assert_eq(st.undone, 1);
  cr_assert_eq(coord_rsm_lookup(a, 1, NULL, NULL), 0, "an undone decision was forgotten");
  cr_assert_eq(coord_rsm_lookup(a, 5, NULL, NULL), SYN_ENOTFOUND);
  cr_assert_eq(coord_rsm_lookup(a, 199990, NULL, NULL), 0);
  /* A recent id is still a duplicate. */
  cr_assert_eq(done(a, 2 * 199999 + 1, 199999, &eff), 0);
  cr_assert_eq(eff.result, COORD_RSM_DUP);
  /* Both replicas forgot the same things. */
  uint8_t *sa, *sb;
  size_t la, lb;
  cr_assert_eq(coord_rsm_snapshot_take(a, &sa, &la, NULL), 0);
  cr_assert_eq(coord_rsm_snapshot_take(b, &sb, &lb, NULL), 0);
  cr_assert_lt(la, 8u << 20, "snapshot of %zu bytes", la);
  cr_assert_eq(la, lb);
  cr_assert_eq(memcmp(sa, sb, la), 0);
  /* An installed replica holds the same table (the id set's order in the
  ** bytes may differ: compare what it holds) and goes on forgetting at the
  ** same points. */
  coord_rsm *c = mk();
  cr_assert_eq(coord_rsm_snapshot_install(c, sa, la, NULL), 0);
  coord_rsm_stats sc_st;
  coord_rsm_get_stats(c, &sc_st);
  cr_assert_eq(sc_st.decisions, st.decisions);
  cr_assert_eq(sc_st.ids, st.ids);
  cr_assert_eq(sc_st.seq, st.seq);
  uint8_t *sc = NULL;
  size_t lc;
  cr_assert_eq(coord_rsm_snapshot_take(c, &sc, &lc, NULL), 0);
  cr_assert_eq(lc, la);
  free(sa);
  free(sb);
  free(sc);
  coord_rsm_free(a);
  coord_rsm_free(b);
  coord_rsm_free(c);
}

/* DONE for many txns in one value: each is marked, unknown ones ignored,
** garbage refused. */
Test(coord_rsm, done_many) {
  coord_rsm *r = mk();
  coord_rsm_effect eff;
  uint32_t parts[1] = {1};
  for (uint64_t t = 1; t <= 3; t++) cr_assert_eq(decide(r, t, t, DLOG_COMMIT, t, 1, parts, &eff), 0);
  uint64_t txns[3] = {1, 3, 99};
  uint8_t *buf;
  size_t len;
  cr_assert_eq(coord_rsm_encode_done_many(txns, 3, &buf, &len, NULL), 0);
  coord_rsm_cmd cmd;
  uint64_t first;
  cr_assert_eq(coord_rsm_peek(buf, len, &cmd, &first), 0);
  cr_assert_eq(cmd, COORD_RSM_DONE_MANY);
  cr_assert_eq(first, 1);
  cr_assert_eq(coord_rsm_apply(r, 100, buf, len, &eff, NULL), 0);
  cr_assert_eq(eff.result, COORD_RSM_MARKED_DONE);
  bool done;
  cr_assert_eq(coord_rsm_lookup(r, 1, NULL, &done), 0);
  cr_assert(done);
  cr_assert_eq(coord_rsm_lookup(r, 2, NULL, &done), 0);
  cr_assert_not(done);
  cr_assert_eq(coord_rsm_lookup(r, 3, NULL, &done), 0);
  cr_assert(done);
  coord_rsm_stats st;
  coord_rsm_get_stats(r, &st);
  cr_assert_eq(st.undone, 1);
  cr_assert_eq(coord_rsm_peek(buf, len - 1, &cmd, &first), SYN_EINVAL, "truncated");
  free(buf);
  cr_assert_neq(coord_rsm_encode_done_many(txns, 0, &buf, &len, NULL), 0);
  coord_rsm_free(r);
}
