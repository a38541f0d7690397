/*
** Status output: what `synodctl status` and `up` print about each node.
**
** Pure formatting over already-gathered facts, so tests can check the text
** and the JSON without processes. The JSON keys are an interface that
** failover scripts rely on; keep them stable:
**   name, role ("coordinator" | "participant"), pid (number | null),
**   alive (bool: live process AND answered health), state, rpc_port,
**   sql_port (coordinators only), leader (bool, coordinators only),
**   data_dir, log_file, addr (the IPv4 address the node listens on).
** state is one of "running", "paused" (SIGSTOP), "unresponsive" (process
** exists but did not answer health) or "stopped".
*/
#ifndef SYN_CTL_STATUS_H
#define SYN_CTL_STATUS_H

#include <stdbool.h>
#include <stdio.h>

#include "coordinator/ctl/ctl_conf.h"

typedef struct ctl_node_state {
  const ctl_node *node; /* borrowed from the ctl_conf */
  int pid;              /* live process, 0 if none */
  bool paused;          /* process stopped by SIGSTOP */
  bool healthy;         /* answered the health RPC as itself */
  bool leader;          /* from HealthResponse.leader */
  const char *data_dir; /* borrowed */
  const char *log_file; /* borrowed */
  char addr[16];        /* the node's address; "" means the host argument */
} ctl_node_state;

/* "running", "paused", "unresponsive", "stopped". */
const char *ctl_status_state(const ctl_node_state *s);

/* alive as reported: a live process that answered health. */
bool ctl_status_alive(const ctl_node_state *s);

/* One line per node, columns aligned. Addresses show each node's addr,
** else host. */
void ctl_status_print_text(FILE *f, const char *host, const ctl_node_state *s, int n);

/* One JSON array, one object per node, then a newline. */
void ctl_status_print_json(FILE *f, const ctl_node_state *s, int n);

/* JSON string literal of s (quotes included), escaping as RFC 8259 asks. */
void ctl_json_string(FILE *f, const char *s);

#endif /* SYN_CTL_STATUS_H */
