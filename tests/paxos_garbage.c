/*
** paxos_garbage HOST PORT: send malformed SYN_M_PAXOS (300) and
** SYN_M_PAXOS_PROPOSE (301) requests to a coordinator (random bytes,
** truncations of a valid-looking header, a message claiming to come from
** the receiver itself, an empty payload). Every one must be answered with
** an ERROR (never a crash, never an empty success for garbage on 301).
** Exit 0 if so, 1 otherwise, 2 on usage. $SYNOD_SECRET_FILE as rpc_ping.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/test_secret.h"
#include "common/node.h"
#include "common/rpc.h"
#include "common/rpc_methods.h"

#define NO_ANSWER 1 /* distinct from 0 and from every SYN_E* code */

static int call(const char *host, int port, const rpc_opts *ro, uint32_t method,
                const uint8_t *buf, size_t len) {
  uint8_t *resp = NULL;
  size_t rlen = 0;
  syn_err err;
  int rc = rpc_call_blocking_opts(host, port, ro, method, buf, len, 2000, &resp, &rlen, &err);
  free(resp);
  if (rc == SYN_ETIMEDOUT || rc == SYN_EIO || rc == SYN_ECLOSED) {
    fprintf(stderr, "paxos_garbage: method %u: %s (the node did not answer)\n", method,
            err.msg);
    return NO_ANSWER;
  }
  return rc;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: paxos_garbage HOST PORT\n");
    return 2;
  }
  int port;
  syn_err err;
  if (node_parse_port(argv[2], 1, &port, &err) < 0) {
    fprintf(stderr, "paxos_garbage: %s\n", err.msg);
    return 2;
  }
  rpc_opts ro;
  if (test_secret_opts("paxos_garbage", &ro)) return 1;
  uint8_t buf[256];
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  int bad = 0;
  for (int i = 0; i < 200; i++) {
    size_t n = (size_t)(i % 64);
    for (size_t k = 0; k < n; k++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      buf[k] = (uint8_t)x;
    }
    if (n > 0 && i % 4 == 0) buf[0] = (uint8_t)(1 + i % 12); /* a real message type */
    int rc = call(argv[1], port, &ro, SYN_M_PAXOS, buf, n);
    if (rc == NO_ANSWER) return 1;
    /* 301: 8 id bytes then a command; garbage commands must be refused. */
    if (n > 8 && i % 2 == 0) buf[8] = (uint8_t)(1 + i % 2);
    rc = call(argv[1], port, &ro, SYN_M_PAXOS_PROPOSE, buf, n);
    if (rc == NO_ANSWER) return 1;
    if (rc == 0 && (n < 9 || (buf[8] != 1 && buf[8] != 2))) {
      fprintf(stderr, "paxos_garbage: 301 accepted %zu bytes of garbage\n", n);
      bad = 1;
    }
  }
  if (call(argv[1], port, &ro, SYN_M_PAXOS, NULL, 0) == 0) {
    fprintf(stderr, "paxos_garbage: an empty paxos message was accepted\n");
    bad = 1;
  }
  return bad;
}
