/*
** synod-coordinator: serves SQL clients and drives distributed commit. This
** file parses the command line and runs the node; the SQL server, the
** transaction driver and consensus attach to the node's loop and RPC server.
*/
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common/failpoint.h"
#include "common/log.h"
#include "common/node.h"
#include "coordinator/cluster.h"
#include "sql/engine/eng.h"

#define PROG "synod-coordinator"

static const char usage_line[] =
    "usage: " PROG " --name NAME --dir DATADIR --rpc-port N [--host ADDR] --sql-port N "
    "[--participants p1=host:port,...] [--peers c1=host:port,...] [--log-level LEVEL] "
    "[--log-file PATH] [--help] [--version]";

static const char usage_text[] =
    "Options:\n"
    "  --name NAME            node name (letters, digits, '_', '-', '.'; up to 31)\n"
    "  --dir DATADIR          data directory (created if missing, locked while running)\n"
    "  --rpc-port N           RPC listen port (0 = any free port, logged at start)\n"
    "  --host ADDR            listen address (default 127.0.0.1)\n"
    "  --sql-port N           PostgreSQL wire protocol port (served on --host)\n"
    "  --participants LIST    participants, name=host:port,...\n"
    "  --peers LIST           coordinator group (may include this node), name=host:port,...\n"
    "  --log-level LEVEL      debug, info, warn or error (default info)\n"
    "  --log-file PATH        append log lines to PATH (default stderr)\n"
    "  --help                 print this help and exit\n"
    "  --version              print the version and exit\n"
    "Exit status: 0 after a clean stop (SIGTERM/SIGINT), 1 if it cannot start,\n"
    "2 on a bad command line.\n";

enum { OPT_NAME = 256, OPT_DIR, OPT_RPC_PORT, OPT_HOST, OPT_SQL_PORT, OPT_PARTICIPANTS,
       OPT_PEERS, OPT_LOG_LEVEL, OPT_LOG_FILE, OPT_HELP, OPT_VERSION };

static const struct option long_opts[] = {
    {"name", required_argument, NULL, OPT_NAME},
    {"dir", required_argument, NULL, OPT_DIR},
    {"rpc-port", required_argument, NULL, OPT_RPC_PORT},
    {"host", required_argument, NULL, OPT_HOST},
    {"sql-port", required_argument, NULL, OPT_SQL_PORT},
    {"participants", required_argument, NULL, OPT_PARTICIPANTS},
    {"peers", required_argument, NULL, OPT_PEERS},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"log-file", required_argument, NULL, OPT_LOG_FILE},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

typedef struct coordinator_args {
  const char *name, *dir, *host, *log_level, *log_file;
  int rpc_port, sql_port;
  node_peer_list participants, peers;
} coordinator_args;

/* Returns -1 to go on, else the exit status (0 for --help/--version). */
static int parse_args(int argc, char **argv, coordinator_args *a) {
  syn_err err;
  int have_port = 0, have_sql = 0;
  a->host = "127.0.0.1";
  opterr = 0;
  for (;;) {
    int idx = optind;
    int c = getopt_long(argc, argv, ":", long_opts, NULL);
    if (c == -1) break;
    switch (c) {
    case OPT_NAME:
      if (node_check_name(optarg, &err) < 0)
        return node_usage_error(PROG, usage_line, "--name: %s", err.msg);
      a->name = optarg;
      break;
    case OPT_DIR:
      if (!*optarg) return node_usage_error(PROG, usage_line, "--dir: empty path");
      a->dir = optarg;
      break;
    case OPT_RPC_PORT:
      if (node_parse_port(optarg, 0, &a->rpc_port, &err) < 0)
        return node_usage_error(PROG, usage_line, "--rpc-port: %s", err.msg);
      have_port = 1;
      break;
    case OPT_HOST:
      if (!*optarg) return node_usage_error(PROG, usage_line, "--host: empty address");
      a->host = optarg;
      break;
    case OPT_SQL_PORT:
      if (node_parse_port(optarg, 1, &a->sql_port, &err) < 0)
        return node_usage_error(PROG, usage_line, "--sql-port: %s", err.msg);
      have_sql = 1;
      break;
    case OPT_PARTICIPANTS:
      node_peers_free(&a->participants);
      if (node_parse_peers(optarg, &a->participants, &err) < 0)
        return node_usage_error(PROG, usage_line, "--participants: %s", err.msg);
      break;
    case OPT_PEERS:
      node_peers_free(&a->peers);
      if (node_parse_peers(optarg, &a->peers, &err) < 0)
        return node_usage_error(PROG, usage_line, "--peers: %s", err.msg);
      break;
    case OPT_LOG_LEVEL: {
      syn_log_level lv;
      if (syn_log_level_parse(optarg, &lv) < 0)
        return node_usage_error(PROG, usage_line,
                                "--log-level: '%s' is not debug, info, warn or error", optarg);
      a->log_level = optarg;
      break;
    }
    case OPT_LOG_FILE:
      if (!*optarg) return node_usage_error(PROG, usage_line, "--log-file: empty path");
      a->log_file = optarg;
      break;
    case OPT_HELP:
      printf("%s\n%s", usage_line, usage_text);
      return 0;
    case OPT_VERSION:
      printf("%s %s\n", PROG, SYN_VERSION);
      return 0;
    case ':':
      return node_usage_error(PROG, usage_line, "option '%s' needs a value", argv[idx]);
    default:
      return node_usage_error(PROG, usage_line, "unknown option '%s'", argv[idx]);
    }
  }
  if (optind < argc)
    return node_usage_error(PROG, usage_line, "unexpected argument '%s'", argv[optind]);
  if (!a->name) return node_usage_error(PROG, usage_line, "missing required option --name");
  if (!a->dir) return node_usage_error(PROG, usage_line, "missing required option --dir");
  if (!have_port) return node_usage_error(PROG, usage_line, "missing required option --rpc-port");
  if (!have_sql) return node_usage_error(PROG, usage_line, "missing required option --sql-port");
  return -1;
}

/* The coordinator's cluster services: what the SQL engine (sql/cluster.h)
** runs on. One per process; main owns it. */
typedef struct coordinator {
  node *n;
  coord_cluster *cluster;
  eng_server *sql; /* PostgreSQL clients; NULL if it did not start */
} coordinator;

/* Statements that are still running use the cluster, so the cluster closes
** only once the SQL server has drained them (eng_server_stop's callback). */
static void on_sql_stopped(void *ud) {
  coordinator *c = ud;
  c->sql = NULL;
  coord_cluster_close(c->cluster);
}

static void on_stop(void *ud) {
  coordinator *c = ud;
  if (c->sql) eng_server_stop(c->sql, on_sql_stopped, c);
  else coord_cluster_close(c->cluster);
}

static void free_args(coordinator_args *a) {
  node_peers_free(&a->participants);
  node_peers_free(&a->peers);
}

int main(int argc, char **argv) {
  coordinator_args a;
  memset(&a, 0, sizeof a);
  int status = parse_args(argc, argv, &a);
  if (status >= 0) {
    free_args(&a);
    return status;
  }
  char sql_addr[NODE_HOST_MAX + 16];
  int v6 = strchr(a.host, ':') != NULL;
  snprintf(sql_addr, sizeof sql_addr, "%s%s%s:%d", v6 ? "[" : "", a.host, v6 ? "]" : "",
           a.sql_port);
  node_config cfg = {
      .name = a.name, .role = "coordinator", .dir = a.dir, .host = a.host,
      .rpc_port = a.rpc_port, .sql_addr = sql_addr, .log_level = a.log_level,
      .log_file = a.log_file,
  };
  node *n = NULL;
  syn_err err;
  if (failpoint_init(&err) < 0) {
    fprintf(stderr, "%s: SYN_FAILPOINTS: %s\n", PROG, err.msg);
    free_args(&a);
    return 1;
  }
  if (node_start(&cfg, &n, &err) < 0) {
    fprintf(stderr, "%s: cannot start: %s\n", PROG, err.msg);
    free_args(&a);
    return 1;
  }
  /* Catalog and decision log in the data dir, one RPC client per
  ** participant, recovery of logged commits (re-driven as soon as the loop
  ** runs) and of interrupted DDL (a thread that finishes it). */
  coordinator co = {.n = n};
  coord_cluster_config ccfg = {
      .name = a.name, .dir = a.dir, .participants = &a.participants,
      .clock = node_clock_borrow(n), .rpc = node_rpc(n),
  };
  if (coord_cluster_open(node_loop(n), &ccfg, &co.cluster, &err) < 0 ||
      node_on_stop(n, on_stop, &co, &err) < 0) {
    SYN_LOG_ERROR(NULL, "cannot start: %s", err.msg);
    fprintf(stderr, "%s: cannot start: %s\n", PROG, err.msg);
    coord_cluster_free(co.cluster);
    node_free(n);
    free_args(&a);
    return 1;
  }
  /* PostgreSQL clients: the SQL engine's executor runs their statements
  ** against this coordinator's cluster services (borrowed; the cluster
  ** outlives the server, see on_stop). A taken SQL port stops the start. */
  eng_opts eopts = {0};
  if (eng_server_start(node_loop(n), a.host, a.sql_port, coord_cluster_borrow(co.cluster),
                       &eopts, &co.sql, &err) < 0) {
    SYN_LOG_ERROR(NULL, "cannot serve SQL on %s: %s", sql_addr, err.msg);
    fprintf(stderr, "%s: cannot serve SQL on %s: %s\n", PROG, sql_addr, err.msg);
    co.sql = NULL;
    node_shutdown(n, "SQL port unavailable");
    coord_cluster_free(co.cluster);
    node_free(n);
    free_args(&a);
    return 1;
  }
  char parts[1000], peers[1000], detail[2200];
  node_peers_format(&a.participants, parts, sizeof parts);
  node_peers_format(&a.peers, peers, sizeof peers);
  snprintf(detail, sizeof detail, "sql=%s participants=%s peers=%s", sql_addr,
           a.participants.n ? parts : "-", a.peers.n ? peers : "-");
  status = node_run(n, detail);
  coord_cluster_free(co.cluster);
  node_free(n);
  free_args(&a);
  return status;
}
