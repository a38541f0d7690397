/*
** Status output: what `synodctl status` and `up` print about each node.
**
** Pure formatting over already-gathered facts, so tests can check the text
** and the JSON without processes. The JSON keys are an interface that
** failover scripts rely on; keep them stable:
**   name, role ("coordinator" | "participant"), pid (number | null),
**   alive (bool: live process AND answered health), state, rpc_port,
**   sql_port (coordinators only), leader (bool, coordinators only),
**   data_dir, log_file, addr (the IPv4 address the node listens on);
** and for coordinators that answered health, their consensus state:
**   paxos_role ("follower" | "candidate" | "leader" | "learner" |
**   "failed"), ballot [round, node], promised [round, node], chosen,
**   applied, snap_slot (numbers), leader_id (node id of the leader this
**   coordinator knows of, 0 none), leader_name ("c2" or null), group_size,
**   decided (commit decisions it proposed and saw decided), decide_p50_us,
**   decide_p99_us (proposal to decision, over its last 4096).
** A coordinator that did not answer has these as null.
** state is one of "running", "paused" (SIGSTOP), "unresponsive" (process
** exists but did not answer health) or "stopped".
*/
#ifndef SYN_CTL_STATUS_H
#define SYN_CTL_STATUS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "coordinator/ctl/ctl_conf.h"

/* A coordinator's Multi-Paxos state as its health answer reports it. */
typedef struct ctl_paxos {
  bool known; /* the answer carried it */
  char role[16];
  uint64_t ballot_round, promised_round;
  uint32_t ballot_node, promised_node;
  uint64_t chosen, applied, snap_slot;
  uint32_t leader_id, group_size;
  uint64_t decided;
  uint32_t decide_p50_us, decide_p99_us;
} ctl_paxos;

typedef struct ctl_node_state {
  const ctl_node *node; /* borrowed from the ctl_conf */
  int pid;              /* live process, 0 if none */
  bool paused;          /* process stopped by SIGSTOP */
  bool healthy;         /* answered the health RPC as itself */
  bool leader;          /* from HealthResponse.leader */
  ctl_paxos paxos;      /* from HealthResponse.paxos (coordinators) */
  const char *data_dir; /* borrowed */
  const char *log_file; /* borrowed */
  char addr[16];        /* the node's address; "" means the host argument */
} ctl_node_state;

/* "running", "paused", "unresponsive", "stopped". */
const char *ctl_status_state(const ctl_node_state *s);

/* alive as reported: a live process that answered health. */
bool ctl_status_alive(const ctl_node_state *s);

/* The name of the coordinator that leads: the one alive coordinator whose
** health says leader. NULL when none does, or (never expected: the lease
** forbids it) when two do. */
const char *ctl_status_leader(const ctl_node_state *s, int n);

/* One line per node, columns aligned. Addresses show each node's addr,
** else host. */
void ctl_status_print_text(FILE *f, const char *host, const ctl_node_state *s, int n);

/* One JSON array, one object per node, then a newline. */
void ctl_status_print_json(FILE *f, const ctl_node_state *s, int n);

/* JSON string literal of s (quotes included), escaping as RFC 8259 asks. */
void ctl_json_string(FILE *f, const char *s);

#endif /* SYN_CTL_STATUS_H */
