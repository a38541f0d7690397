/*
** syn_hash64 against the reference XXH64 vectors (seed 0), and the
** consistent-hash ring: balance, minimal movement on add, exact restore on
** remove, determinism, and lookups checked against a brute-force oracle.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "txn/hash.h"
#include "txn/ring.h"

/* ---- hash -------------------------------------------------------------- */

/* Expected values computed with the reference xxHash library
** (XXH64(input, len, 0), libxxhash 0.8.1). They pin the placement
** contract: if one changes, shard placement changed. */
Test(hash, matches_reference_xxh64_vectors) {
  cr_assert_eq(syn_hash64(NULL, 0), UINT64_C(0xef46db3751d8e999));
  cr_assert_eq(syn_hash64("", 0), UINT64_C(0xef46db3751d8e999));
  cr_assert_eq(syn_hash64("a", 1), UINT64_C(0xd24ec4f1a98c6e5b));
  cr_assert_eq(syn_hash64("abc", 3), UINT64_C(0x44bc2cf5ad770999));
  cr_assert_eq(syn_hash64("p1#0", 4), UINT64_C(0xb6dc815c2d78f1a5));
  cr_assert_eq(syn_hash64("hello world", 11), UINT64_C(0x45ab6734b21e6968));
  const char *s32 = "0123456789abcdef0123456789abcdef";
  cr_assert_eq(syn_hash64(s32, 32), UINT64_C(0x642a94958e71e6c5));
  uint8_t b[100];
  for (int i = 0; i < 100; i++) b[i] = (uint8_t)i;
  /* 100 bytes: three 32-byte stripes, one 4-byte word... exercises every
  ** tail path except the single bytes, which "abc" covers. */
  cr_assert_eq(syn_hash64(b, 100), UINT64_C(0x6ac1e58032166597));
}

Test(hash, integer_keys_hash_their_little_endian_bytes) {
  cr_assert_eq(syn_hash_i64(0), UINT64_C(0x34c96acdcadb1bbb));
  cr_assert_eq(syn_hash_i64(1), UINT64_C(0x9f29cb17a2a49995));
  cr_assert_eq(syn_hash_i64(-1), UINT64_C(0x85d136adb773c6c9));
  cr_assert_eq(syn_hash_i64(42), UINT64_C(0xb556806fb6d14353));
  const uint8_t le[8] = {0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
  cr_assert_eq(syn_hash_i64(INT64_C(0x1122334455667788)), syn_hash64(le, 8));
}

Test(hash, unaligned_input_gives_the_same_hash) {
  uint8_t buf[80];
  for (int i = 0; i < 80; i++) buf[i] = (uint8_t)(i * 37 + 1);
  uint64_t h = syn_hash64(buf, 64);
  uint8_t shifted[81];
  memcpy(shifted + 1, buf, 64);
  cr_assert_eq(syn_hash64(shifted + 1, 64), h);
}

/* ---- ring: API edges ----------------------------------------------------- */

Test(ring, argument_checks) {
  ring *r = NULL;
  syn_err e;
  cr_assert_eq(ring_new(0, &r, &e), SYN_EINVAL);
  cr_assert_eq(ring_new(RING_MAX_VNODES + 1, &r, &e), SYN_EINVAL);
  cr_assert_eq(ring_new(16, &r, &e), 0);
  cr_assert_eq(ring_count(r), 0);
  cr_assert_eq(ring_vnodes_per_node(r), 16);

  uint32_t id = 99;
  cr_assert_eq(ring_locate(r, 123, &id, &e), SYN_ENOTFOUND);
  cr_assert_eq(id, 99);

  cr_assert_eq(ring_add(r, 1, "p1", &e), 0);
  cr_assert_eq(ring_add(r, 1, "other", &e), SYN_EEXIST);
  cr_assert_eq(ring_add(r, 2, "p1", &e), SYN_EEXIST);
  cr_assert(strstr(e.msg, "p1") != NULL, "message: %s", e.msg);
  cr_assert_eq(ring_add(r, 3, "", &e), SYN_EINVAL);
  cr_assert_eq(ring_add(r, 3, NULL, &e), SYN_EINVAL);
  char longname[RING_NAME_MAX + 2];
  memset(longname, 'x', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  cr_assert_eq(ring_add(r, 3, longname, &e), SYN_EINVAL);
  longname[RING_NAME_MAX] = '\0';
  cr_assert_eq(ring_add(r, 3, longname, &e), 0, "exactly RING_NAME_MAX bytes is fine");
  cr_assert_eq(ring_count(r), 2);
  cr_assert_str_eq(ring_node_name_borrow(r, 1), "p1");
  cr_assert_null(ring_node_name_borrow(r, 7));

  cr_assert_eq(ring_remove(r, 7, &e), SYN_ENOTFOUND);
  cr_assert_eq(ring_remove(r, 3, &e), 0);
  cr_assert_eq(ring_count(r), 1);
  /* One node owns everything. */
  for (uint64_t h = 0; h < 1000; h++) {
    cr_assert_eq(ring_locate(r, h * UINT64_C(0x9E3779B97F4A7C15), &id, NULL), 0);
    cr_assert_eq(id, 1);
  }
  cr_assert_eq(ring_remove(r, 1, &e), 0);
  cr_assert_eq(ring_locate(r, 5, &id, &e), SYN_ENOTFOUND);
  /* The same id and name can come back after removal. */
  cr_assert_eq(ring_add(r, 1, "p1", &e), 0);
  ring_free(r);
  ring_free(NULL);
}

Test(ring, node_limit) {
  ring *r;
  cr_assert_eq(ring_new(1, &r, NULL), 0);
  char name[32];
  for (uint32_t i = 0; i < RING_MAX_NODES; i++) {
    snprintf(name, sizeof name, "n%u", i);
    cr_assert_eq(ring_add(r, i, name, NULL), 0);
  }
  syn_err e;
  cr_assert_eq(ring_add(r, RING_MAX_NODES, "one-too-many", &e), SYN_ERANGE);
  cr_assert_eq(ring_count(r), RING_MAX_NODES);
  ring_free(r);
}

/* ---- ring: placement ------------------------------------------------------ */

enum { NKEYS = 100000, VN = 256 };

static ring *make_ring(const char *const *names, const uint32_t *ids, int n) {
  ring *r;
  cr_assert_eq(ring_new(VN, &r, NULL), 0);
  for (int i = 0; i < n; i++) cr_assert_eq(ring_add(r, ids[i], names[i], NULL), 0);
  return r;
}

static void map_keys(const ring *r, uint32_t *owner) {
  for (int64_t k = 0; k < NKEYS; k++)
    cr_assert_eq(ring_locate(r, syn_hash_i64(k), &owner[k], NULL), 0);
}

/* Oracle: the owner of h is the node whose point "name#i" is the smallest
** position >= h, else the smallest position overall (wrap). Ties cannot
** matter for these names (positions are distinct, checked). */
static uint32_t oracle(const char *const *names, const uint32_t *ids, int n, uint64_t h) {
  uint64_t best_ge = UINT64_MAX, best_min = UINT64_MAX;
  uint32_t own_ge = 0, own_min = 0;
  int have_ge = 0;
  char key[160];
  for (int j = 0; j < n; j++) {
    for (int i = 0; i < VN; i++) {
      int len = snprintf(key, sizeof key, "%s#%d", names[j], i);
      uint64_t pos = syn_hash64(key, (size_t)len);
      if (pos >= h && (!have_ge || pos < best_ge)) {
        best_ge = pos;
        own_ge = ids[j];
        have_ge = 1;
      }
      if (pos <= best_min) {
        best_min = pos;
        own_min = ids[j];
      }
    }
  }
  return have_ge ? own_ge : own_min;
}

static const char *const NAMES[] = {"p1", "p2", "p3", "p4"};
static const uint32_t IDS[] = {11, 22, 33, 44};

Test(ring, lookups_match_brute_force_oracle) {
  ring *r = make_ring(NAMES, IDS, 3);
  uint64_t probes[64 + 4] = {0, 1, UINT64_MAX, UINT64_MAX - 1};
  for (int i = 0; i < 64; i++) probes[4 + i] = syn_hash_i64(1000 + i);
  for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
    uint32_t id;
    cr_assert_eq(ring_locate(r, probes[i], &id, NULL), 0);
    cr_assert_eq(id, oracle(NAMES, IDS, 3, probes[i]), "probe %zu (%llx)", i,
                 (unsigned long long)probes[i]);
  }
  /* Exactly at a point: that point's node owns it. */
  uint64_t at = syn_hash64("p2#17", 5);
  uint32_t id;
  cr_assert_eq(ring_locate(r, at, &id, NULL), 0);
  cr_assert_eq(id, 22);
  ring_free(r);
}

Test(ring, three_nodes_are_balanced_within_ten_percent) {
  ring *r = make_ring(NAMES, IDS, 3);
  uint32_t *owner = malloc(NKEYS * sizeof *owner);
  map_keys(r, owner);
  int count[3] = {0};
  for (int k = 0; k < NKEYS; k++) {
    int found = 0;
    for (int j = 0; j < 3; j++)
      if (owner[k] == IDS[j]) count[j]++, found = 1;
    cr_assert(found, "key %d mapped to unknown node %u", k, owner[k]);
  }
  double mean = NKEYS / 3.0;
  for (int j = 0; j < 3; j++)
    cr_assert_leq(count[j], mean * 1.10, "%s holds %d keys, mean %.0f", NAMES[j], count[j], mean);
  free(owner);
  ring_free(r);
}

Test(ring, adding_a_node_moves_few_keys_all_to_it_and_removing_restores) {
  ring *r = make_ring(NAMES, IDS, 3);
  uint32_t *before = malloc(NKEYS * sizeof *before);
  uint32_t *after = malloc(NKEYS * sizeof *after);
  uint32_t *again = malloc(NKEYS * sizeof *again);
  map_keys(r, before);

  cr_assert_eq(ring_add(r, IDS[3], NAMES[3], NULL), 0);
  map_keys(r, after);
  int moved = 0;
  for (int k = 0; k < NKEYS; k++) {
    if (after[k] != before[k]) {
      moved++;
      cr_assert_eq(after[k], IDS[3], "key %d moved between old nodes", k);
    }
  }
  cr_assert_lt(moved, NKEYS * 0.30, "%d keys moved", moved);
  /* The new node must actually take its share (about a quarter). */
  cr_assert_gt(moved, NKEYS * 0.20, "%d keys moved", moved);

  cr_assert_eq(ring_remove(r, IDS[3], NULL), 0);
  map_keys(r, again);
  cr_assert_eq(memcmp(before, again, NKEYS * sizeof *before), 0,
               "removing the node must restore the old mapping exactly");
  free(before);
  free(after);
  free(again);
  ring_free(r);
}

Test(ring, placement_is_independent_of_insertion_order_and_ids_order) {
  static const char *const rev_names[] = {"p4", "p3", "p2", "p1"};
  static const uint32_t rev_ids[] = {44, 33, 22, 11};
  ring *a = make_ring(NAMES, IDS, 4);
  ring *b = make_ring(rev_names, rev_ids, 4);
  /* c: built with a detour (add, remove, re-add). */
  ring *c = make_ring(NAMES, IDS, 2);
  cr_assert_eq(ring_add(c, 99, "temp", NULL), 0);
  cr_assert_eq(ring_add(c, 44, "p4", NULL), 0);
  cr_assert_eq(ring_remove(c, 99, NULL), 0);
  cr_assert_eq(ring_add(c, 33, "p3", NULL), 0);
  uint32_t *ma = malloc(NKEYS * sizeof *ma);
  uint32_t *mb = malloc(NKEYS * sizeof *mb);
  uint32_t *mc = malloc(NKEYS * sizeof *mc);
  map_keys(a, ma);
  map_keys(b, mb);
  map_keys(c, mc);
  cr_assert_eq(memcmp(ma, mb, NKEYS * sizeof *ma), 0);
  cr_assert_eq(memcmp(ma, mc, NKEYS * sizeof *ma), 0);
  /* And repeated lookups agree with themselves. */
  map_keys(a, mb);
  cr_assert_eq(memcmp(ma, mb, NKEYS * sizeof *ma), 0);
  free(ma);
  free(mb);
  free(mc);
  ring_free(a);
  ring_free(b);
  ring_free(c);
}

Test(ring, hashes_past_the_last_point_wrap_to_the_first) {
  /* One point per node, so the first and last points belong to different
  ** nodes and a wrong wrap-around is visible. */
  ring *r;
  cr_assert_eq(ring_new(1, &r, NULL), 0);
  cr_assert_eq(ring_add(r, 1, "a", NULL), 0);
  cr_assert_eq(ring_add(r, 2, "b", NULL), 0);
  uint64_t pa = syn_hash64("a#0", 3), pb = syn_hash64("b#0", 3);
  uint32_t lo_id = pa < pb ? 1 : 2, hi_id = pa < pb ? 2 : 1;
  uint64_t lo = pa < pb ? pa : pb, hi = pa < pb ? pb : pa;
  uint32_t id;
  cr_assert_eq(ring_locate(r, hi + 1, &id, NULL), 0);
  cr_assert_eq(id, lo_id, "past the last point wraps to the first");
  cr_assert_eq(ring_locate(r, UINT64_MAX, &id, NULL), 0);
  cr_assert_eq(id, lo_id);
  cr_assert_eq(ring_locate(r, 0, &id, NULL), 0);
  cr_assert_eq(id, lo_id);
  cr_assert_eq(ring_locate(r, lo, &id, NULL), 0);
  cr_assert_eq(id, lo_id);
  cr_assert_eq(ring_locate(r, lo + 1, &id, NULL), 0);
  cr_assert_eq(id, hi_id);
  cr_assert_eq(ring_locate(r, hi, &id, NULL), 0);
  cr_assert_eq(id, hi_id);
  ring_free(r);
}
