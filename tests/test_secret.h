/*
** For test clients (part_client, rpc_ping): the rpc_opts to call a cluster
** with, carrying the secret from $SYNOD_SECRET_FILE when it is set.
*/
#ifndef SYN_TEST_SECRET_H
#define SYN_TEST_SECRET_H

#include "common/rpc.h"

/* 0, or the exit status 1 after printing why the secret is unusable. */
int test_secret_opts(const char *prog, rpc_opts *out);

#endif
