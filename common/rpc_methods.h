/*
** Method numbers carried in Envelope.method. Numbers are part of the wire
** protocol: never reuse or renumber one; add new ones in the module's range.
**   1..99     every node (health, admin)
**   100..199  participant storage and commit
**   200..299  coordinator (decisions, in-doubt resolution)
**   300..399  consensus (Multi-Paxos)
*/
#ifndef SYN_RPC_METHODS_H
#define SYN_RPC_METHODS_H

enum {
  SYN_M_HEALTH = 1,

  /* participant: common/proto/participant.proto */
  SYN_M_PART_DDL = 100,
  SYN_M_PART_SCAN = 101,
  SYN_M_PART_WRITE = 102,
  SYN_M_PART_PREPARE = 103,
  SYN_M_PART_COMMIT = 104,
  SYN_M_PART_ABORT = 105,
  SYN_M_PART_COMMIT_ONE_PHASE = 106,
  SYN_M_PART_TXN_STATE = 107,
  SYN_M_PART_GC = 108,
  SYN_M_PART_ABORT_ACTIVE = 109,

  /* coordinator */
  SYN_M_COORD_RESOLVE = 200,

  /* consensus: coordinator/coord_paxos.c, docs/consensus.md */
  SYN_M_PAXOS = 300,         /* one paxos core message (one-way, empty reply) */
  SYN_M_PAXOS_PROPOSE = 301, /* a follower forwards a proposal to the leader */
  SYN_M_PAXOS_READ_INDEX = 302, /* leader: "your chosen index", for reads on followers */
};

/* Transaction ids are cluster-unique without coordination: the top 8 bits
** name the coordinator that began the transaction (its index, c1 = 1), so a
** participant knows whom to ask about an in-doubt transaction; the low 56
** bits are unique per coordinator (see coordinator/txnid). */
#define SYN_TXN_COORD(txn) ((unsigned)((txn) >> 56))

#endif
