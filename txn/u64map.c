#include "txn/u64map.h"

#include <stdlib.h>

/* splitmix64's finaliser: txn ids are often sequential, so mix all bits. */
static uint64_t u64map_hash(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

void u64map_free(u64map *m) {
  free(m->keys);
  free(m->vals);
  free(m->used);
  m->keys = NULL;
  m->vals = NULL;
  m->used = NULL;
  m->cap = 0;
  m->len = 0;
}

static size_t u64map_slot(const u64map *m, uint64_t key) {
  size_t mask = m->cap - 1;
  size_t i = (size_t)u64map_hash(key) & mask;
  while (m->used[i] && m->keys[i] != key) i = (i + 1) & mask;
  return i;
}

void *u64map_get(const u64map *m, uint64_t key) {
  if (m->cap == 0) return NULL;
  size_t i = u64map_slot(m, key);
  return m->used[i] ? m->vals[i] : NULL;
}

static int u64map_grow(u64map *m) {
  size_t ncap = m->cap ? m->cap * 2 : 16;
  u64map n = {0};
  n.keys = calloc(ncap, sizeof *n.keys);
  n.vals = calloc(ncap, sizeof *n.vals);
  n.used = calloc(ncap, 1);
  n.cap = ncap;
  if (!n.keys || !n.vals || !n.used) {
    u64map_free(&n);
    return SYN_ENOMEM;
  }
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->used[i]) continue;
    size_t j = u64map_slot(&n, m->keys[i]);
    n.used[j] = 1;
    n.keys[j] = m->keys[i];
    n.vals[j] = m->vals[i];
    n.len++;
  }
  u64map_free(m);
  *m = n;
  return 0;
}

int u64map_put(u64map *m, uint64_t key, void *val) {
  /* Keep the load factor at or below 1/2 so probe runs stay short. */
  if ((m->len + 1) * 2 > m->cap) {
    int rc = u64map_grow(m);
    if (rc) return rc;
  }
  size_t i = u64map_slot(m, key);
  if (!m->used[i]) {
    m->used[i] = 1;
    m->keys[i] = key;
    m->len++;
  }
  m->vals[i] = val;
  return 0;
}

void *u64map_del(u64map *m, uint64_t key) {
  if (m->cap == 0) return NULL;
  size_t mask = m->cap - 1;
  size_t i = u64map_slot(m, key);
  if (!m->used[i]) return NULL;
  void *val = m->vals[i];
  /* Backward-shift deletion (Knuth 6.4, algorithm R): move later members of
  ** the cluster into the hole when their home slot does not lie in the
  ** cyclic range (hole, j], so every key stays reachable from its home. */
  size_t hole = i;
  size_t j = i;
  for (;;) {
    j = (j + 1) & mask;
    if (!m->used[j]) break;
    size_t home = (size_t)u64map_hash(m->keys[j]) & mask;
    int in_range = (hole <= j) ? (hole < home && home <= j) : (hole < home || home <= j);
    if (in_range) continue;
    m->keys[hole] = m->keys[j];
    m->vals[hole] = m->vals[j];
    hole = j;
  }
  m->used[hole] = 0;
  m->vals[hole] = NULL;
  m->len--;
  return val;
}
