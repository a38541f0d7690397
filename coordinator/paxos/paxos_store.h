/*
** The durable acceptor log of one Multi-Paxos replica (prefix paxos_store_).
**
** A directory holding:
**   MEMBER          marker: this directory belongs to a cluster member
**                   (written once, at bootstrap or when rejoining)
**   log-<gen>       append-only records (format in paxos_store.c)
**   snap-<gen>      the state-machine snapshot log-<gen> starts from
** <gen> is 16 hex digits; only the highest generation is live.
**
** The core (paxos.h) hands records to io->persist; the shell appends them
** here (paxos_store_append: one write and one fsync per call) and reports
** paxos_persisted. A SNAPSHOT record compacts: snap-<gen+1> is written
** (temp, fsync, rename, fsync dir), then log-<gen+1> holding the live
** acceptor state above the snapshot, then the old generation is deleted.
** On open a torn or corrupt tail of the live segment is cut off (and
** reported in the stats); everything before it is recovered exactly.
**
** Wiped members. paxos_store_open needs to know whether this node is being
** created with the cluster (PAXOS_STORE_BOOTSTRAP) or is an existing member
** (PAXOS_STORE_MEMBER, e.g. listed in cluster.conf as such). An existing
** member whose directory has no MEMBER marker lost its disk: the store
** records REJOIN durably first, so the core starts as a non-voting learner
** (and stays one across crashes until the core writes VOTER). See
** docs/consensus.md, "A member that lost its disk".
**
** Errors are sticky: after a failed write or fsync the file's state is
** unknown, every later append fails with SYN_EIO until reopened.
** Not thread-safe: one thread owns a store.
*/
#ifndef SYN_PAXOS_STORE_H
#define SYN_PAXOS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "coordinator/paxos/paxos.h"

typedef struct paxos_store paxos_store;

typedef enum {
  PAXOS_STORE_BOOTSTRAP = 1, /* new cluster: an empty directory is a fresh member */
  PAXOS_STORE_MEMBER = 2,    /* existing member: an empty directory was wiped */
} paxos_store_mode;

typedef struct paxos_store_opts {
  /* Durability hook for file descriptors (logs, snapshots, directories).
  ** NULL means fsync(2). Tests inject one to count or fail syncs. */
  int (*sync_fn)(int fd, void *ud);
  void *sync_ud;
} paxos_store_opts;

typedef struct paxos_store_stats {
  uint64_t gen;             /* live generation */
  uint64_t file_bytes;      /* live log segment size */
  uint64_t truncated_bytes; /* torn/corrupt tail cut at open */
  uint64_t snap_slot;
  uint64_t commit;
  paxos_ballot promised;
  uint64_t entries;         /* slots held above the snapshot */
  uint64_t syncs;
  uint64_t compactions;
  bool wiped;               /* this open found a member's directory wiped */
  bool rejoining;           /* REJOIN recorded and no VOTER since */
} paxos_store_stats;

int paxos_store_open(const char *dir, paxos_store_mode mode, const paxos_store_opts *opts,
                     paxos_store **out, syn_err *err);
void paxos_store_close(paxos_store *st);

/* The recovered state as records, in an order paxos_restore accepts:
** SNAPSHOT, PROMISE, REJOIN, the held slots (ACCEPT/LEARN) by slot, COMMIT.
** fn returning non-zero stops the walk and that value is returned. Data
** pointers are valid during the call only. */
int paxos_store_replay(paxos_store *st, int (*fn)(const paxos_rec *r, void *ud), void *ud);

/* Append recs and fsync them (a SNAPSHOT record compacts, see above).
** Returns only once everything is durable. */
int paxos_store_append(paxos_store *st, const paxos_rec *recs, size_t n, syn_err *err);

void paxos_store_get_stats(const paxos_store *st, paxos_store_stats *out);

#endif /* SYN_PAXOS_STORE_H */
