/*
** Consistent-hash ring: a sorted array of virtual-node points searched by
** binary search. Membership changes are rare (shard-map updates) and small
** (RING_MAX_NODES * RING_MAX_VNODES points at most), so add re-sorts the
** whole array and remove compacts it in place; lookups are O(log n).
**
** Determinism argument: the point array is totally ordered by
** (pos, name, i), a key that depends only on membership (ring.h), so the
** array -- and so every lookup -- is the same whatever the insertion order.
** Removing a node deletes its points and keeps the rest in order, giving
** the same array as if the node had never been added.
*/
#include "txn/ring.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ring_node {
  uint32_t id;
  char *name; /* owned; vnode points borrow it */
} ring_node;

typedef struct ring_point {
  uint64_t pos;
  const char *name; /* borrowed from the owning ring_node */
  uint32_t node_id;
  uint32_t idx;     /* i in "name#i" */
} ring_point;

struct ring {
  uint32_t vnodes;
  ring_node *nodes;
  size_t n_nodes;
  ring_point *points; /* sorted by (pos, name, idx) */
  size_t n_points;
};

int ring_new(uint32_t vnodes_per_node, ring **out, syn_err *err) {
  if (vnodes_per_node == 0 || vnodes_per_node > RING_MAX_VNODES)
    return syn_err_set(err, SYN_EINVAL, "ring: %" PRIu32 " virtual nodes per node, want 1..%d",
                       vnodes_per_node, RING_MAX_VNODES);
  ring *r = calloc(1, sizeof *r);
  if (!r) return syn_err_set(err, SYN_ENOMEM, "ring: out of memory");
  r->vnodes = vnodes_per_node;
  *out = r;
  return 0;
}

void ring_free(ring *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n_nodes; i++) free(r->nodes[i].name);
  free(r->nodes);
  free(r->points);
  free(r);
}

static ring_node *find_node(const ring *r, uint32_t id) {
  for (size_t i = 0; i < r->n_nodes; i++)
    if (r->nodes[i].id == id) return &r->nodes[i];
  return NULL;
}

static int point_cmp(const void *a, const void *b) {
  const ring_point *x = a, *y = b;
  if (x->pos != y->pos) return x->pos < y->pos ? -1 : 1;
  int c = strcmp(x->name, y->name);
  if (c) return c;
  return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

int ring_add(ring *r, uint32_t node_id, const char *name, syn_err *err) {
  if (!name) return syn_err_set(err, SYN_EINVAL, "ring: NULL node name");
  size_t len = strnlen(name, RING_NAME_MAX + 1);
  if (len == 0 || len > RING_NAME_MAX)
    return syn_err_set(err, SYN_EINVAL, "ring: node name must be 1..%d bytes", RING_NAME_MAX);
  if (find_node(r, node_id))
    return syn_err_set(err, SYN_EEXIST, "ring: node id %" PRIu32 " already on the ring", node_id);
  for (size_t i = 0; i < r->n_nodes; i++)
    if (strcmp(r->nodes[i].name, name) == 0)
      return syn_err_set(err, SYN_EEXIST, "ring: node name \"%s\" already on the ring", name);
  if (r->n_nodes >= RING_MAX_NODES)
    return syn_err_set(err, SYN_ERANGE, "ring: full (%d nodes)", RING_MAX_NODES);

  char *copy = malloc(len + 1);
  ring_node *nodes = realloc(r->nodes, (r->n_nodes + 1) * sizeof *nodes);
  if (nodes) r->nodes = nodes;
  ring_point *pts = realloc(r->points, (r->n_points + r->vnodes) * sizeof *pts);
  if (pts) r->points = pts;
  if (!copy || !nodes || !pts) {
    /* The grown arrays (if any) are simply larger than needed; the ring
    ** is unchanged in content. */
    free(copy);
    return syn_err_set(err, SYN_ENOMEM, "ring: out of memory adding \"%s\"", name);
  }
  memcpy(copy, name, len + 1);
  r->nodes[r->n_nodes++] = (ring_node){.id = node_id, .name = copy};

  /* Points at syn_hash64("<name>#<i>"): the contract in ring.h. */
  char key[RING_NAME_MAX + 16];
  for (uint32_t i = 0; i < r->vnodes; i++) {
    int n = snprintf(key, sizeof key, "%s#%" PRIu32, copy, i);
    r->points[r->n_points++] = (ring_point){
        .pos = syn_hash64(key, (size_t)n), .name = copy, .node_id = node_id, .idx = i};
  }
  qsort(r->points, r->n_points, sizeof *r->points, point_cmp);
  return 0;
}

int ring_remove(ring *r, uint32_t node_id, syn_err *err) {
  ring_node *nd = find_node(r, node_id);
  if (!nd) return syn_err_set(err, SYN_ENOTFOUND, "ring: no node with id %" PRIu32, node_id);
  size_t w = 0;
  for (size_t i = 0; i < r->n_points; i++)
    if (r->points[i].node_id != node_id) r->points[w++] = r->points[i];
  r->n_points = w;
  free(nd->name);
  *nd = r->nodes[--r->n_nodes];
  return 0;
}

int ring_locate(const ring *r, uint64_t hash, uint32_t *node_id, syn_err *err) {
  if (r->n_points == 0) return syn_err_set(err, SYN_ENOTFOUND, "ring: no nodes");
  /* First point with pos >= hash; past the last point wrap to index 0. */
  size_t lo = 0, hi = r->n_points;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (r->points[mid].pos < hash)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == r->n_points) lo = 0;
  *node_id = r->points[lo].node_id;
  return 0;
}

size_t ring_count(const ring *r) { return r->n_nodes; }

uint32_t ring_vnodes_per_node(const ring *r) { return r->vnodes; }

const char *ring_node_name_borrow(const ring *r, uint32_t node_id) {
  const ring_node *nd = find_node(r, node_id);
  return nd ? nd->name : NULL;
}
