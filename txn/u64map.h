/*
** A small hash map from uint64_t keys to borrowed void* values.
**
** Used by the 2PC core (txn id -> transaction) and the decision log (txn id
** -> record). Open addressing with linear probing and backward-shift
** deletion, so there are no tombstones and a lookup never walks further than
** the longest cluster. The map never owns its values.
**
** Iteration order depends on the hash of the keys only, never on addresses,
** so a deterministic sequence of operations iterates deterministically.
*/
#ifndef SYN_U64MAP_H
#define SYN_U64MAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct u64map {
  uint64_t *keys;
  void **vals;
  uint8_t *used;
  size_t cap; /* power of two, 0 before the first put */
  size_t len;
} u64map;

/* An empty map needs no allocation: `u64map m = {0};` is valid. */
void u64map_free(u64map *m);

/* NULL when absent. */
void *u64map_get(const u64map *m, uint64_t key);

/* Insert or replace. Returns 0 or SYN_ENOMEM (the map is unchanged then). */
int u64map_put(u64map *m, uint64_t key, void *val);

/* Remove and return the value (NULL when absent). */
void *u64map_del(u64map *m, uint64_t key);

static inline size_t u64map_len(const u64map *m) { return m->len; }

#endif /* SYN_U64MAP_H */
