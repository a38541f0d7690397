/*
** The replicated catalog's state machine (coordinator/coord_rcat.c):
** conditional DDL intents, table ids, sequence ranges, roles, snapshots,
** and garbage that must change nothing.
*/
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/coord_rcat.h"
#include "coordinator/coord_rsm.h"

static coord_rcat_result apply_ok(coord_rcat *c, uint8_t *cmd, size_t len) {
  coord_rcat_result res;
  syn_err e;
  int rc = coord_rcat_apply(c, cmd, len, &res, &e);
  free(cmd);
  cr_assert_eq(rc, 0, "%s", e.msg);
  return res;
}

static coord_rcat_result alloc_table(coord_rcat *c, uint64_t nonce) {
  uint8_t *cmd;
  size_t len;
  cr_assert_eq(coord_rcat_encode_alloc_table(nonce, &cmd, &len, NULL), 0);
  return apply_ok(c, cmd, len);
}

static coord_rcat_result intent_add(coord_rcat *c, const char *table, uint32_t owner,
                                    uint64_t base) {
  static const uint8_t req[] = {1, 2, 3};
  coord_rcat_intent in = {.owner = owner, .kind = 1, .table = table, .req = req, .req_len = 3,
                          .def = (const uint8_t *)"DEF", .def_len = 3};
  uint8_t *cmd;
  size_t len;
  cr_assert_eq(coord_rcat_encode_intent_add(&in, base, &cmd, &len, NULL), 0);
  return apply_ok(c, cmd, len);
}

static coord_rcat_result complete(coord_rcat *c, uint64_t seq, const char *table,
                                  const char *def) {
  uint8_t *cmd;
  size_t len;
  cr_assert_eq(coord_rcat_encode_complete(seq, table, 1, (const uint8_t *)def,
                                          def ? (uint32_t)strlen(def) : 0, NULL, &cmd, &len,
                                          NULL),
               0);
  return apply_ok(c, cmd, len);
}

Test(coord_rcat, table_ids_never_repeat) {
  coord_rcat *c;
  cr_assert_eq(coord_rcat_new(&c, NULL), 0);
  uint64_t last = 0;
  for (int i = 0; i < 100; i++) {
    coord_rcat_result r = alloc_table(c, (uint64_t)i);
    cr_assert_eq(r.status, COORD_RCAT_OK);
    cr_assert_gt(r.a, last);
    last = r.a;
  }
  coord_rcat_free(c);
}

Test(coord_rcat, one_intent_at_a_time_and_conditional_complete) {
  coord_rcat *c;
  cr_assert_eq(coord_rcat_new(&c, NULL), 0);
  coord_rcat_result a = intent_add(c, "t", 1, 0);
  cr_assert_eq(a.status, COORD_RCAT_OK);
  /* A second intent while the first is in flight: BUSY naming the first. */
  coord_rcat_result b = intent_add(c, "u", 2, 0);
  cr_assert_eq(b.status, COORD_RCAT_BUSY);
  cr_assert_eq(b.a, a.a);
  cr_assert_eq(b.b, 1);
  coord_rcat_intent in;
  cr_assert(coord_rcat_intent_get(c, &in));
  cr_assert_str_eq(in.table, "t");
  cr_assert_eq(in.owner, 1);
  /* Completing the wrong seq changes nothing. */
  cr_assert_eq(complete(c, a.a + 7, "t", "X").status, COORD_RCAT_GONE);
  cr_assert_eq(coord_rcat_ntables(c), 0);
  coord_rcat_result d = complete(c, a.a, "t", "DEF-T");
  cr_assert_eq(d.status, COORD_RCAT_OK);
  cr_assert(d.schema_changed);
  cr_assert_eq(coord_rcat_version(c), 1);
  cr_assert_not(coord_rcat_intent_get(c, NULL));
  /* The same COMPLETE again (a taker-over that came second): GONE. */
  cr_assert_eq(complete(c, a.a, "t", "DEF-T").status, COORD_RCAT_GONE);
  cr_assert_eq(coord_rcat_version(c), 1);
  /* An intent computed from version 0 is stale now. */
  cr_assert_eq(intent_add(c, "u", 2, 0).status, COORD_RCAT_STALE);
  coord_rcat_result e = intent_add(c, "u", 2, 1);
  cr_assert_eq(e.status, COORD_RCAT_OK);
  cr_assert_gt(e.a, a.a);
  /* Drop t through u's intent? No: u's COMPLETE deletes "u" (def NULL). */
  cr_assert_eq(complete(c, e.a, "u", NULL).status, COORD_RCAT_OK);
  cr_assert_eq(coord_rcat_ntables(c), 1);
  const char *name;
  const uint8_t *def;
  uint32_t len;
  coord_rcat_table_at(c, 0, &name, &def, &len);
  cr_assert_str_eq(name, "t");
  cr_assert_eq(len, 5);
  cr_assert_eq(memcmp(def, "DEF-T", 5), 0);
  coord_rcat_free(c);
}

Test(coord_rcat, sequence_ranges_do_not_overlap) {
  coord_rcat *c;
  cr_assert_eq(coord_rcat_new(&c, NULL), 0);
  uint64_t hi = 0;
  for (int i = 0; i < 10; i++) {
    uint8_t *cmd;
    size_t len;
    cr_assert_eq(coord_rcat_encode_seq_reserve("t_id_seq", 1000, (uint64_t)i, &cmd, &len, NULL),
                 0);
    coord_rcat_result r = apply_ok(c, cmd, len);
    cr_assert_eq(r.a, hi + 1);
    cr_assert_eq(r.b, hi + 1000);
    hi = r.b;
  }
  uint64_t reserved;
  cr_assert(coord_rcat_seq(c, "t_id_seq", &reserved));
  cr_assert_eq(reserved, 10000);
  uint8_t *cmd;
  size_t len;
  cr_assert_eq(coord_rcat_encode_seq_drop("t_id_seq", &cmd, &len, NULL), 0);
  apply_ok(c, cmd, len);
  cr_assert_not(coord_rcat_seq(c, "t_id_seq", NULL));
  coord_rcat_free(c);
}

Test(coord_rcat, roles) {
  coord_rcat *c;
  cr_assert_eq(coord_rcat_new(&c, NULL), 0);
  uint8_t *cmd;
  size_t len;
  cr_assert_eq(coord_rcat_encode_role_put("alice", (const uint8_t *)"A1", 2, true, 1, &cmd, &len,
                                          NULL), 0);
  cr_assert_eq(apply_ok(c, cmd, len).status, COORD_RCAT_OK);
  cr_assert_eq(coord_rcat_encode_role_put("alice", (const uint8_t *)"A2", 2, true, 2, &cmd, &len,
                                          NULL), 0);
  cr_assert_eq(apply_ok(c, cmd, len).status, COORD_RCAT_EXISTS);
  cr_assert_eq(coord_rcat_encode_role_put("bob", (const uint8_t *)"B", 1, false, 3, &cmd, &len,
                                          NULL), 0);
  cr_assert_eq(apply_ok(c, cmd, len).status, COORD_RCAT_NOTFOUND);
  cr_assert_eq(coord_rcat_encode_role_put("alice", (const uint8_t *)"A3", 2, false, 4, &cmd, &len,
                                          NULL), 0);
  cr_assert_eq(apply_ok(c, cmd, len).status, COORD_RCAT_OK);
  const uint8_t *def;
  uint32_t dl;
  cr_assert(coord_rcat_role(c, "alice", &def, &dl));
  cr_assert_eq(memcmp(def, "A3", 2), 0);
  cr_assert_eq(coord_rcat_encode_role_put("carol", (const uint8_t *)"C", 1, true, 7, &cmd, &len,
                                          NULL), 0);
  cr_assert_eq(apply_ok(c, cmd, len).status, COORD_RCAT_OK);
  cr_assert_eq(coord_rcat_encode_role_rename("alice", "carol", (const uint8_t *)"X", 1, 8, &cmd,
                                             &len, NULL), 0);
  cr_assert_eq(apply_ok(c, cmd, len).status, COORD_RCAT_EXISTS);
  cr_assert_eq(coord_rcat_encode_role_rename("nobody", "dave", (const uint8_t *)"X", 1, 9, &cmd,
                                             &len, NULL), 0);
  cr_assert_eq(apply_ok(c, cmd, len).status, COORD_RCAT_NOTFOUND);
  cr_assert_eq(coord_rcat_encode_role_rename("carol", "dave", (const uint8_t *)"D", 1, 10, &cmd,
                                             &len, NULL), 0);
  cr_assert_eq(apply_ok(c, cmd, len).status, COORD_RCAT_OK);
  cr_assert_not(coord_rcat_role(c, "carol", &def, &dl));
  cr_assert(coord_rcat_role(c, "dave", &def, &dl));
  cr_assert_eq(coord_rcat_nroles(c), 2);
  cr_assert_eq(coord_rcat_encode_role_drop("alice", 5, &cmd, &len, NULL), 0);
  cr_assert_eq(apply_ok(c, cmd, len).status, COORD_RCAT_OK);
  cr_assert_eq(coord_rcat_encode_role_drop("alice", 6, &cmd, &len, NULL), 0);
  cr_assert_eq(apply_ok(c, cmd, len).status, COORD_RCAT_NOTFOUND);
  coord_rcat_free(c);
}

static void fill(coord_rcat *c) {
  for (int i = 0; i < 5; i++) alloc_table(c, (uint64_t)i);
  coord_rcat_result a = intent_add(c, "t", 1, 0);
  complete(c, a.a, "t", "DEF-T");
  intent_add(c, "pending", 3, 1); /* left in flight */
  uint8_t *cmd;
  size_t len;
  coord_rcat_encode_seq_reserve("s", 10, 9, &cmd, &len, NULL);
  apply_ok(c, cmd, len);
  coord_rcat_encode_role_put("r", (const uint8_t *)"R", 1, true, 1, &cmd, &len, NULL);
  apply_ok(c, cmd, len);
}

Test(coord_rcat, snapshot_round_trip) {
  coord_rcat *a, *b;
  cr_assert_eq(coord_rcat_new(&a, NULL), 0);
  cr_assert_eq(coord_rcat_new(&b, NULL), 0);
  fill(a);
  uint8_t *s1, *s2;
  size_t l1, l2;
  cr_assert_eq(coord_rcat_snapshot_take(a, &s1, &l1, NULL), 0);
  cr_assert_eq(coord_rcat_snapshot_install(b, s1, l1, NULL), 0);
  cr_assert_eq(coord_rcat_snapshot_take(b, &s2, &l2, NULL), 0);
  cr_assert_eq(l1, l2);
  cr_assert_eq(memcmp(s1, s2, l1), 0);
  /* Both continue identically. */
  cr_assert_eq(alloc_table(a, 77).a, alloc_table(b, 77).a);
  coord_rcat_intent in;
  cr_assert(coord_rcat_intent_get(b, &in));
  cr_assert_str_eq(in.table, "pending");
  cr_assert_eq(in.owner, 3);
  /* Every truncation of a snapshot is refused and changes nothing. */
  for (size_t n = 0; n < l1; n++)
    cr_assert_neq(coord_rcat_snapshot_install(b, s1, n, NULL), 0, "prefix %zu accepted", n);
  cr_assert(coord_rcat_intent_get(b, NULL));
  free(s1);
  free(s2);
  coord_rcat_free(a);
  coord_rcat_free(b);
}

Test(coord_rcat, garbage_changes_nothing) {
  coord_rcat *c;
  cr_assert_eq(coord_rcat_new(&c, NULL), 0);
  fill(c);
  uint8_t *before;
  size_t blen;
  cr_assert_eq(coord_rcat_snapshot_take(c, &before, &blen, NULL), 0);
  uint64_t x = 88172645463325252ull;
  uint8_t buf[64];
  for (int round = 0; round < 20000; round++) {
    size_t n = 1 + (size_t)(round % 63);
    for (size_t i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      buf[i] = (uint8_t)x;
    }
    buf[0] = (uint8_t)(COORD_RCAT_FIRST + round % (COORD_RCAT_LAST - COORD_RCAT_FIRST + 1));
    coord_rcat_result res;
    if (coord_rcat_apply(c, buf, n, &res, NULL) == 0) {
      /* A well-formed command by chance: start over from the saved state. */
      cr_assert_eq(coord_rcat_snapshot_install(c, before, blen, NULL), 0);
    }
  }
  uint8_t *after;
  size_t alen;
  cr_assert_eq(coord_rcat_snapshot_take(c, &after, &alen, NULL), 0);
  cr_assert_eq(alen, blen);
  cr_assert_eq(memcmp(before, after, blen), 0);
  free(before);
  free(after);
  coord_rcat_free(c);
}

/* The decision table carries the catalog: commands, dedup by id, and the
** catalog inside the table's snapshot. */
Test(coord_rcat, inside_the_decision_table) {
  coord_rsm *r, *r2;
  cr_assert_eq(coord_rsm_new(&r, NULL), 0);
  cr_assert_eq(coord_rsm_new(&r2, NULL), 0);
  uint8_t *cmd;
  size_t len;
  cr_assert_eq(coord_rcat_encode_alloc_table(1, &cmd, &len, NULL), 0);
  coord_rsm_cmd kind;
  uint64_t txn;
  cr_assert_eq(coord_rsm_peek(cmd, len, &kind, &txn), 0);
  cr_assert_eq(kind, COORD_RSM_CATALOG);
  coord_rsm_effect eff;
  cr_assert_eq(coord_rsm_apply(r, 42, cmd, len, &eff, NULL), 0);
  cr_assert_eq(eff.result, COORD_RSM_CATALOG_APPLIED);
  cr_assert_eq(eff.cat.a, 1);
  /* The same id again (a retried proposal): applied once only. */
  cr_assert_eq(coord_rsm_apply(r, 42, cmd, len, &eff, NULL), 0);
  cr_assert_eq(eff.result, COORD_RSM_DUP);
  /* The same bytes under a new id: a second command. */
  cr_assert_eq(coord_rsm_apply(r, 43, cmd, len, &eff, NULL), 0);
  cr_assert_eq(eff.cat.a, 2);
  free(cmd);
  uint8_t *snap;
  size_t sl;
  cr_assert_eq(coord_rsm_snapshot_take(r, &snap, &sl, NULL), 0);
  cr_assert_eq(coord_rsm_snapshot_install(r2, snap, sl, NULL), 0);
  cr_assert(coord_rsm_id_applied(r2, 42));
  cr_assert_eq(coord_rcat_encode_alloc_table(2, &cmd, &len, NULL), 0);
  cr_assert_eq(coord_rsm_apply(r2, 44, cmd, len, &eff, NULL), 0);
  cr_assert_eq(eff.cat.a, 3, "the catalog came through the snapshot");
  free(cmd);
  free(snap);
  coord_rsm_free(r);
  coord_rsm_free(r2);
}

Test(coord_rcat, first_shard_map_wins) {
  coord_rcat *c;
  cr_assert_eq(coord_rcat_new(&c, NULL), 0);
  cr_assert_null(coord_rcat_shardmap(c));
  uint8_t *cmd;
  size_t len;
  cr_assert_eq(coord_rcat_encode_shardmap("1 p1\n2 p2\n", 1, &cmd, &len, NULL), 0);
  cr_assert_eq(apply_ok(c, cmd, len).status, COORD_RCAT_OK);
  cr_assert_eq(coord_rcat_encode_shardmap("1 p1\n2 p2\n", 2, &cmd, &len, NULL), 0);
  cr_assert_eq(apply_ok(c, cmd, len).status, COORD_RCAT_OK);
  cr_assert_eq(coord_rcat_encode_shardmap("1 p2\n2 p1\n", 3, &cmd, &len, NULL), 0);
  cr_assert_eq(apply_ok(c, cmd, len).status, COORD_RCAT_MISMATCH);
  cr_assert_str_eq(coord_rcat_shardmap(c), "1 p1\n2 p2\n");
  coord_rcat *d;
  cr_assert_eq(coord_rcat_new(&d, NULL), 0);
  uint8_t *snap;
  size_t sl;
  cr_assert_eq(coord_rcat_snapshot_take(c, &snap, &sl, NULL), 0);
  cr_assert_eq(coord_rcat_snapshot_install(d, snap, sl, NULL), 0);
  cr_assert_str_eq(coord_rcat_shardmap(d), "1 p1\n2 p2\n");
  free(snap);
  coord_rcat_free(c);
  coord_rcat_free(d);
}
