/*
** Waits-for graph of this coordinator's live transactions (pure: no I/O).
**
** An edge waiter -> holder means a write of `waiter` is parked at a
** participant behind a lock `holder` has. A transaction whose write fans
** out to several participants may wait for several holders at once, so a
** node keeps a small set of out-edges. Deadlock detection runs when an edge
** is added: if `waiter` is reachable from `holder`, the new edge closes a
** cycle and the requester is the victim (it is rolled back by the SQL
** engine, which releases its locks and lets the others proceed). Checking
** on insertion means every cycle is found by the transaction that closes
** it, within one lock-wait round (COORD_LOCK_WAIT_MS).
**
** Only this coordinator's transactions have out-edges here; a holder from
** another coordinator is a sink, so cross-coordinator cycles are broken by
** the lock timeout instead (until coordinators exchange their graphs).
*/
#include <stdlib.h>
#include <string.h>

#include "coordinator/coord_int.h"

#define WFG_MAX_OUT 64

typedef struct wfg_node {
  int n;
  uint64_t out[WFG_MAX_OUT];
} wfg_node;

struct coord_wfg {
  u64map nodes; /* txn -> wfg_node* */
  size_t edges;
};

int coord_wfg_new(coord_wfg **out) {
  coord_wfg *g = calloc(1, sizeof *g);
  if (!g) return SYN_ENOMEM;
  *out = g;
  return 0;
}

void coord_wfg_free(coord_wfg *g) {
  if (!g) return;
  for (size_t i = 0; i < g->nodes.cap; i++)
    if (g->nodes.used[i]) free(g->nodes.vals[i]);
  u64map_free(&g->nodes);
  free(g);
}

/* Depth-first search from `from` for `target`, visiting each node once. */
static int reaches(coord_wfg *g, uint64_t from, uint64_t target, u64map *seen) {
  if (from == target) return 1;
  if (u64map_get(seen, from)) return 0;
  if (u64map_put(seen, from, (void *)1) < 0) return SYN_ENOMEM;
  wfg_node *nd = u64map_get(&g->nodes, from);
  if (!nd) return 0;
  for (int i = 0; i < nd->n; i++) {
    int r = reaches(g, nd->out[i], target, seen);
    if (r != 0) return r;
  }
  return 0;
}

int coord_wfg_wait(coord_wfg *g, uint64_t waiter, uint64_t holder) {
  if (waiter == holder) return 0;
  u64map seen = {0};
  int r = reaches(g, holder, waiter, &seen);
  u64map_free(&seen);
  if (r != 0) return r; /* 1: cycle (edge not kept), < 0: ENOMEM */
  wfg_node *nd = u64map_get(&g->nodes, waiter);
  if (!nd) {
    nd = calloc(1, sizeof *nd);
    if (!nd) return SYN_ENOMEM;
    if (u64map_put(&g->nodes, waiter, nd) < 0) {
      free(nd);
      return SYN_ENOMEM;
    }
  }
  for (int i = 0; i < nd->n; i++)
    if (nd->out[i] == holder) return 0;
  if (nd->n == WFG_MAX_OUT) return 0; /* bounded: the lock timeout still applies */
  nd->out[nd->n++] = holder;
  g->edges++;
  return 0;
}

void coord_wfg_clear(coord_wfg *g, uint64_t txn) {
  wfg_node *nd = u64map_del(&g->nodes, txn);
  if (!nd) return;
  g->edges -= (size_t)nd->n;
  free(nd);
}

size_t coord_wfg_edges(const coord_wfg *g) { return g->edges; }
