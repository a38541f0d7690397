#include "tests/test_secret.h"

#include <stdio.h>
#include <stdlib.h>

static uint8_t key[SYN_RPC_SECRET_MAX];

int test_secret_opts(const char *prog, rpc_opts *out) {
  *out = (rpc_opts){.node_name = prog};
  const char *path = getenv("SYNOD_SECRET_FILE");
  if (!path || !*path) return 0;
  syn_err err;
  size_t n = 0;
  if (rpc_secret_load(path, key, &n, &err) < 0) {
    fprintf(stderr, "%s: %s\n", prog, err.msg);
    return 1;
  }
  out->secret = key;
  out->secret_len = n;
  return 0;
}
