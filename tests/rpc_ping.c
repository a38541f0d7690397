/*
** rpc_ping HOST PORT [TIMEOUT_MS]: one SYN_M_HEALTH call with
** rpc_call_blocking; prints the HealthResponse as key=value lines.
** Exit 0 on a valid answer, 1 on any failure (message on stderr), 2 on usage.
*/
#include <stdio.h>
#include <stdlib.h>

#include "tests/test_secret.h"
#include "common/node.h"
#include "common/rpc.h"
#include "common/rpc_methods.h"
#include "rpc.pb-c.h"

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: rpc_ping HOST PORT [TIMEOUT_MS]\n");
    return 2;
  }
  int port = 0, timeout = 2000;
  syn_err err;
  if (node_parse_port(argv[2], 1, &port, &err) < 0) {
    fprintf(stderr, "rpc_ping: %s\n", err.msg);
    return 2;
  }
  if (argc == 4) timeout = atoi(argv[3]);
  if (timeout <= 0) {
    fprintf(stderr, "rpc_ping: bad timeout '%s'\n", argv[3]);
    return 2;
  }
  uint8_t *resp = NULL;
  size_t len = 0;
  rpc_opts ro;
  if (test_secret_opts("rpc_ping", &ro)) return 1;
  int rc = rpc_call_blocking_opts(argv[1], port, &ro, SYN_M_HEALTH, NULL, 0, (uint32_t)timeout,
                                  &resp, &len, &err);
  if (rc < 0) {
    fprintf(stderr, "rpc_ping: %s (%s)\n", err.msg, syn_strerror(rc));
    return 1;
  }
  Synod__Rpc__HealthResponse *h = synod__rpc__health_response__unpack(NULL, len, resp);
  free(resp);
  if (!h) {
    fprintf(stderr, "rpc_ping: health response does not decode\n");
    return 1;
  }
  printf("node=%s\nrole=%s\npid=%d\nhlc_now=%llu\nleader=%s\nsql_addr=%s\nuptime_ms=%llu\n",
         h->node, h->role, (int)h->pid, (unsigned long long)h->hlc_now,
         h->leader ? "true" : "false", h->sql_addr, (unsigned long long)h->uptime_ms);
  synod__rpc__health_response__free_unpacked(h, NULL);
  return 0;
}
