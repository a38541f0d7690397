/*
** synod-participant: stores rows for the shards placed on it and takes part
** in two-phase commit. This file parses the command line and runs the node;
** the storage and commit service (participant/service.h) opens
** DATADIR/store.db and registers its handlers on the node's RPC server.
*/
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/failpoint.h"
#include "common/log.h"
#include "common/node.h"
#include "participant/service.h"

#define PROG "synod-participant"

static const char usage_line[] =
    "usage: " PROG " --name NAME --dir DATADIR --rpc-port N [--host ADDR] "
    "[--coordinators c1=host:port,...] [--resolve-after-ms N] [--log-level LEVEL] "
    "[--log-file PATH] [--secret-file PATH] [--backend sqlite|postgres] "
    "[--pg-conninfo CONNINFO] "
    "[--help] [--version]";

static const char usage_text[] =
    "Options:\n"
    "  --name NAME            node name (letters, digits, '_', '-', '.'; up to 31)\n"
    "  --dir DATADIR          data directory (created if missing, locked while running)\n"
    "  --rpc-port N           RPC listen port (0 = any free port, logged at start)\n"
    "  --host ADDR            listen address (default 127.0.0.1)\n"
    "  --coordinators LIST    coordinator group, name=host:port,...\n"
    "  --resolve-after-ms N   ask the coordinator about a txn prepared this long (default 1000)\n"
    "  --backend NAME         row store: sqlite (DATADIR/store.db, default) or postgres\n"
    "  --pg-conninfo CONNINFO libpq conninfo of this participant's own database\n"
    "                         (postgres backend; an unreachable server is retried 60 s)\n"
    "  --log-level LEVEL      debug, info, warn or error (default info)\n"
    "  --log-file PATH        append log lines to PATH (default stderr)\n"
    "  --secret-file PATH     cluster secret (hex, mode 0600): RPC peers must prove it\n"
    "  --help                 print this help and exit\n"
    "  --version              print the version and exit\n"
    "Exit status: 0 after a clean stop (SIGTERM/SIGINT), 1 if it cannot start,\n"
    "2 on a bad command line.\n";

enum { OPT_COORDS = NODE_OPT_FIRST_OWN, OPT_RESOLVE, OPT_BACKEND, OPT_PG };

static const struct option long_opts[] = {
    NODE_COMMON_LONG_OPTS,
    {"coordinators", required_argument, NULL, OPT_COORDS},
    {"resolve-after-ms", required_argument, NULL, OPT_RESOLVE},
    {"backend", required_argument, NULL, OPT_BACKEND},
    {"pg-conninfo", required_argument, NULL, OPT_PG},
    {NULL, 0, NULL, 0},
};

static const node_prog prog = {PROG, usage_line, usage_text, SYN_VERSION};

typedef struct participant_args {
  node_args node;
  unsigned resolve_after_ms;
  node_peer_list coordinators;
  store_backend backend;
  const char *pg_conninfo;
} participant_args;

/* Returns -1 to go on, else the exit status (0 for --help/--version). */
static int parse_args(int argc, char **argv, participant_args *a) {
  syn_err err;
  a->node.host = "127.0.0.1";
  opterr = 0;
  for (;;) {
    int idx = optind;
    int c = getopt_long(argc, argv, ":", long_opts, NULL);
    if (c == -1) break;
    int rc = node_args_handle(&prog, &a->node, c, optarg, argv[idx]);
    if (rc == NODE_ARG_CONSUMED) continue;
    if (rc != NODE_ARG_OWN) return rc;
    switch (c) {
    case OPT_COORDS:
      node_peers_free(&a->coordinators);
      if (node_parse_peers(optarg, &a->coordinators, &err) < 0)
        return node_usage_error(PROG, usage_line, "--coordinators: %s", err.msg);
      break;
    case OPT_RESOLVE: {
      char *end = NULL;
      unsigned long v = strtoul(optarg, &end, 10);
      if (!*optarg || *end || optarg[0] == '-' || v == 0 || v > 3600000)
        return node_usage_error(PROG, usage_line,
                                "--resolve-after-ms: '%s' is not a number of ms in 1..3600000",
                                optarg);
      a->resolve_after_ms = (unsigned)v;
      break;
    }
    case OPT_BACKEND:
      if (store_backend_parse(optarg, &a->backend) < 0)
        return node_usage_error(PROG, usage_line,
                                "--backend: '%s' is not sqlite or postgres", optarg);
      break;
    case OPT_PG:
      a->pg_conninfo = optarg;
      break;
    default:
      return node_usage_error(PROG, usage_line, "unknown option '%s'", argv[idx]);
    }
  }
  if (a->backend == STORE_BACKEND_POSTGRES && !a->pg_conninfo)
    return node_usage_error(PROG, usage_line, "--backend postgres needs --pg-conninfo");
  if (a->backend != STORE_BACKEND_POSTGRES && a->pg_conninfo)
    return node_usage_error(PROG, usage_line, "--pg-conninfo needs --backend postgres");
  return node_args_finish(&prog, &a->node, optind, argc, argv);
}

int main(int argc, char **argv) {
  participant_args a;
  memset(&a, 0, sizeof a);
  int status = parse_args(argc, argv, &a);
  if (status >= 0) {
    node_peers_free(&a.coordinators);
    return status;
  }
  node_config cfg = {
      .name = a.node.name, .role = "participant", .dir = a.node.dir, .host = a.node.host,
      .rpc_port = a.node.rpc_port, .log_level = a.node.log_level, .log_file = a.node.log_file,
      .secret_file = a.node.secret_file,
  };
  node *n = NULL;
  syn_err err;
  /* A malformed SYN_FAILPOINTS must stop the start, not disarm silently. */
  if (failpoint_init(&err) < 0) {
    fprintf(stderr, "%s: cannot start: SYN_FAILPOINTS: %s\n", PROG, err.msg);
    node_peers_free(&a.coordinators);
    return 1;
  }
  if (node_start(&cfg, &n, &err) < 0) {
    fprintf(stderr, "%s: cannot start: %s\n", PROG, err.msg);
    node_peers_free(&a.coordinators);
    return 1;
  }
  psvc_config pc = {
      .name = a.node.name, .dir = a.node.dir, .coordinators = &a.coordinators,
      .resolve_after_ms = a.resolve_after_ms, .backend = a.backend,
      .pg_conninfo = a.pg_conninfo,
  };
  node_rpc_secret(n, &pc.secret, &pc.secret_len);
  psvc *svc = NULL;
  if (psvc_new(node_loop(n), node_rpc(n), node_clock_borrow(n), &pc, &svc, &err) < 0 ||
      node_on_stop(n, psvc_stop_hook, svc, &err) < 0) {
    fprintf(stderr, "%s: cannot start: %s\n", PROG, err.msg);
    SYN_LOG_ERROR(NULL, "cannot start: %s", err.msg);
    if (svc) psvc_stop(svc);
    node_free(n); /* closes the server and runs the loop until handles close */
    psvc_free(svc);
    node_peers_free(&a.coordinators);
    return 1;
  }
  char detail[1024] = "";
  if (a.coordinators.n) {
    char list[1000];
    node_peers_format(&a.coordinators, list, sizeof list);
    snprintf(detail, sizeof detail, "coordinators=%s", list);
  }
  status = node_run(n, detail);
  /* node_run closed the server and ran every close: the store can go. */
  psvc_free(svc);
  node_free(n);
  node_peers_free(&a.coordinators);
  return status;
}
