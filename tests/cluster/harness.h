/*
** Test harness for the coordinator's cluster services: N real
** synod-participant processes on loopback (free ports) and an in-process
** coord_cluster on its own loop thread, driven from the test thread the
** way the SQL engine's workers drive it. Scaffolding for tests only.
*/
#ifndef SYN_TEST_CLUSTER_HARNESS_H
#define SYN_TEST_CLUSTER_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "common/node_clock.h"
#include "coordinator/cluster.h"
#include "sql/catalog.h"

#define H_MAX_PARTS 4

typedef struct harness {
  char dir[256];
  int nparts;
  pid_t pids[H_MAX_PARTS];
  int ports[H_MAX_PARTS];
  /* coordinator side */
  uv_loop_t loop;
  uv_thread_t thread;
  bool running;
  node_clock clock;
  rpc_server *srv;
  int srv_port;
  uv_async_t stop;
  coord_cluster *cc;
  cl_cluster *cl;
  uint32_t rpc_timeout_ms;
} harness;

/* mkdtemp, start n participants (their --coordinators point at a port
** reserved for the coordinator), then open the cluster. */
void h_start(harness *h, int nparts);
/* Open / close only the in-process coordinator (restart tests). */
void h_open_cluster(harness *h);
void h_close_cluster(harness *h);
/* SIGKILL participant i. */
void h_kill(harness *h, int i);
/* Close the cluster, stop every participant, remove h->dir (a failing
** test never gets here, so its logs stay). */
void h_stop(harness *h);

/* A table (id, name, int key "k" distributed on it, int "v", text "s"). */
cat_table *h_table_kv(const char *name);

/* Participant i's state of txn via SYN_M_PART_TXN_STATE: -1 unknown,
** 0 active, 1 prepared, 2 committed, 3 aborted. */
int h_txn_state(harness *h, int i, uint64_t txn);
/* Rows of table_id at participant i at snapshot ts (a raw scan, no txn),
** or the participant's negative status (e.g. SYN_ENOTFOUND: no table). */
int h_count_rows(harness *h, int i, uint32_t table_id, uint64_t ts);

#endif
