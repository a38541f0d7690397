/*
** Consistent-hash ring with virtual nodes (Karger et al. 1997; the virtual
** node refinement as in Dynamo, DeCandia et al. 2007, section 4.2).
**
** Each participant ("node") gets `vnodes_per_node` points on a 64-bit
** circle, at syn_hash64("<name>#<i>") for i = 0 .. vnodes_per_node-1 (i in
** decimal, no padding). A key hash belongs to the first point clockwise at
** or after it, wrapping past 2^64-1 to the smallest point. Two points at the
** same position are ordered by node name, then by i.
**
** CONTRACT: placement depends only on (name, vnodes_per_node) of every node
** and on syn_hash64 (hash.h); not on node ids, insertion order or the
** machine. So every coordinator that knows the same membership computes the
** same mapping, and removing a node restores exactly the mapping from
** before it was added. Adding a node only moves keys to that node.
**
** Limits (checked): at most RING_MAX_NODES nodes, RING_MAX_VNODES points
** per node, names of 1..RING_NAME_MAX bytes.
**
** A ring is not thread-safe; readers and writers are serialised by the
** owner (the shard map is updated from the replicated log on one loop).
*/
#ifndef SYN_RING_H
#define SYN_RING_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "txn/hash.h"

#define RING_MAX_NODES 1024
#define RING_MAX_VNODES 4096
#define RING_NAME_MAX 128

typedef struct ring ring;

/* vnodes_per_node in [1, RING_MAX_VNODES]. */
int ring_new(uint32_t vnodes_per_node, ring **out, syn_err *err);
void ring_free(ring *r);

/* Add a node. The name is copied. SYN_EEXIST if the id or the name is
** already on the ring, SYN_EINVAL for a bad name, SYN_ERANGE when full. */
int ring_add(ring *r, uint32_t node_id, const char *name, syn_err *err);

/* Remove a node and its points. SYN_ENOTFOUND if the id is unknown. */
int ring_remove(ring *r, uint32_t node_id, syn_err *err);

/* The node owning `hash`. SYN_ENOTFOUND on an empty ring. */
int ring_locate(const ring *r, uint64_t hash, uint32_t *node_id, syn_err *err);

/* Number of nodes on the ring. */
size_t ring_count(const ring *r);

uint32_t ring_vnodes_per_node(const ring *r);

/* Name of a node, borrowed until it is removed or the ring freed; NULL if
** the id is unknown. */
const char *ring_node_name_borrow(const ring *r, uint32_t node_id);

#endif /* SYN_RING_H */
