/*
** Health probe: one SYN_M_HEALTH request over the blocking RPC helper.
** A node counts as alive only when its process exists (ctl_proc) AND it
** answers this probe with its own name.
*/
#ifndef SYN_CTL_HEALTH_H
#define SYN_CTL_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "coordinator/ctl/ctl_status.h"

typedef struct ctl_health {
  char node[32];
  char role[16];
  int pid;
  bool leader;
  char sql_addr[64];
  uint64_t uptime_ms;
  uint64_t hlc_now;
  ctl_paxos paxos; /* coordinators */
} ctl_health;

/* Ask host:port for its health. Fails with SYN_ETIMEDOUT / SYN_ECLOSED /
** SYN_EIO when nothing answers and SYN_ECORRUPT when the reply does not
** decode as a HealthResponse. */
int ctl_health_probe(const char *host, int port, const uint8_t *secret, size_t secret_len,
                     uint32_t timeout_ms, ctl_health *out, syn_err *err);

#endif /* SYN_CTL_HEALTH_H */
