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
};

#endif
