/*
** synod-coordinator: serves SQL clients and drives distributed commit. This
** file parses the command line and runs the node; the SQL server, the
** transaction driver and consensus attach to the node's loop and RPC server.
*/
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/failpoint.h"
#include "common/log.h"
#include "common/node.h"
#include "coordinator/cluster.h"
#include "coordinator/coord_paxos.h"
#include "coordinator/coord_rdl.h"
#include "sql/engine/eng.h"
#include "sql/pgwire/pgw_auth.h"

#define PROG "synod-coordinator"

static const char usage_line[] =
    "usage: " PROG " --name NAME --dir DATADIR --rpc-port N [--host ADDR] --sql-port N "
    "[--participants p1=host:port,...] [--peers c1=host:port,...] [--default-isolation LEVEL] "
    "[--hba FILE] [--tls-cert FILE --tls-key FILE] [--commit-wait-ms N] [--rejoin] "
    "[--log-level LEVEL] "
    "[--log-file PATH] [--secret-file PATH] [--help] [--version]";

static const char usage_text[] =
    "Options:\n"
    "  --name NAME            node name (letters, digits, '_', '-', '.'; up to 31)\n"
    "  --dir DATADIR          data directory (created if missing, locked while running)\n"
    "  --rpc-port N           RPC listen port (0 = any free port, logged at start)\n"
    "  --host ADDR            listen address (default 127.0.0.1)\n"
    "  --sql-port N           PostgreSQL wire protocol port (served on --host)\n"
    "  --participants LIST    participants, name=host:port,...\n"
    "  --peers LIST           coordinator group (may include this node), name=host:port,...\n"
    "  --default-isolation LEVEL\n"
    "                         default_transaction_isolation of every session: read committed\n"
    "                         (default), repeatable read or serializable ('-' or '_' may\n"
    "                         join the words)\n"
    "  --hba FILE             client authentication rules (pg_hba.conf shape: TYPE DATABASE\n"
    "                         USER ADDRESS METHOD; docs/pgwire.md); default: trust everyone\n"
    "  --tls-cert FILE        PEM certificate (chain) for SQL clients: SSLRequest gets 'S'\n"
    "  --tls-key FILE         its PEM private key\n"
    "  --commit-wait-ms N     a COMMIT whose decision the coordinator group has not\n"
    "                         confirmed after N ms (no majority reachable) fails with\n"
    "                         SQLSTATE 40003, outcome unknown (default 10000)\n"
    "  --rejoin               this coordinator is an existing member of its --peers group\n"
    "                         even if DATADIR is empty (it was wiped): it rejoins as a\n"
    "                         learner and catches up instead of starting a new member\n"
    "  --log-level LEVEL      debug, info, warn or error (default info)\n"
    "  --log-file PATH        append log lines to PATH (default stderr)\n"
    "  --secret-file PATH     cluster secret (hex, mode 0600): RPC peers must prove it\n"
    "  --help                 print this help and exit\n"
    "  --version              print the version and exit\n"
    "Exit status: 0 after a clean stop (SIGTERM/SIGINT), 1 if it cannot start,\n"
    "2 on a bad command line.\n";

enum {
  OPT_SQL_PORT = NODE_OPT_FIRST_OWN, OPT_PARTICIPANTS, OPT_PEERS, OPT_DEFAULT_ISO, OPT_HBA,
  OPT_TLS_CERT, OPT_TLS_KEY, OPT_COMMIT_WAIT, OPT_REJOIN
};

static const struct option long_opts[] = {
    NODE_COMMON_LONG_OPTS,
    {"sql-port", required_argument, NULL, OPT_SQL_PORT},
    {"participants", required_argument, NULL, OPT_PARTICIPANTS},
    {"peers", required_argument, NULL, OPT_PEERS},
    {"default-isolation", required_argument, NULL, OPT_DEFAULT_ISO},
    {"hba", required_argument, NULL, OPT_HBA},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"commit-wait-ms", required_argument, NULL, OPT_COMMIT_WAIT},
    {"rejoin", no_argument, NULL, OPT_REJOIN},
    {NULL, 0, NULL, 0},
};

static const node_prog prog = {PROG, usage_line, usage_text, SYN_VERSION};

typedef struct coordinator_args {
  node_args node;
  int sql_port;
  node_peer_list participants, peers;
  cl_isolation default_iso; /* for every new SQL session */
  const char *hba_file, *tls_cert, *tls_key;
  uint32_t commit_wait_ms;  /* 0: the default */
  bool rejoin;              /* an existing member, whatever DATADIR holds */
} coordinator_args;

/* Returns -1 to go on, else the exit status (0 for --help/--version). */
static int parse_args(int argc, char **argv, coordinator_args *a) {
  syn_err err;
  int have_sql = 0;
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
    case OPT_DEFAULT_ISO:
      if (eng_isolation_parse(optarg, &a->default_iso, &err) < 0)
        return node_usage_error(PROG, usage_line, "--default-isolation: %s", err.msg);
      break;
    case OPT_HBA: a->hba_file = optarg; break;
    case OPT_TLS_CERT: a->tls_cert = optarg; break;
    case OPT_TLS_KEY: a->tls_key = optarg; break;
    case OPT_COMMIT_WAIT: {
      char *end = NULL;
      errno = 0;
      unsigned long v = strtoul(optarg, &end, 10);
      /* Below the bridge's COORD_BRIDGE_MAX_WAIT_MS, so the 40003 always comes first. */
      if (errno || !end || *end || optarg[0] < '0' || optarg[0] > '9' || v < 100 || v > 60000)
        return node_usage_error(PROG, usage_line, "--commit-wait-ms: want 100..60000, got '%s'",
                                optarg);
      a->commit_wait_ms = (uint32_t)v;
      break;
    }
    case OPT_REJOIN: a->rejoin = true; break;
    default:
      return node_usage_error(PROG, usage_line, "unknown option '%s'", argv[idx]);
    }
  }
  if ((a->tls_cert == NULL) != (a->tls_key == NULL))
    return node_usage_error(PROG, usage_line, "--tls-cert and --tls-key go together");
  int rc = node_args_finish(&prog, &a->node, optind, argc, argv);
  if (rc >= 0) return rc;
  if (!have_sql) return node_usage_error(PROG, usage_line, "missing required option --sql-port");
  return -1;
}

/* The coordinator's cluster services: what the SQL engine (sql/cluster.h)
** runs on. One per process; main owns it. */
typedef struct coordinator {
  node *n;
  coord_cluster *cluster;
  coord_px *px;    /* the coordinator group's Multi-Paxos replica */
  coord_rdl *rdl;  /* commit decisions in the group's log */
  eng_server *sql; /* PostgreSQL clients; NULL if it did not start */
} coordinator;

static bool is_leader(void *ud) {
  coordinator *c = ud;
  return coord_px_is_leader(c->px);
}

/* HealthResponse.paxos: what `synodctl status` shows per coordinator. */
static void paxos_health(void *ud, node_paxos_health *out) {
  coordinator *c = ud;
  paxos_status st;
  coord_px_get_status(c->px, &st);
  coord_rdl_stats ds;
  coord_rdl_get_stats(c->rdl, &ds);
  *out = (node_paxos_health){.role = paxos_role_name(st.role), .ballot = st.ballot,
                             .promised = st.promised, .chosen = st.chosen,
                             .applied = st.applied, .snap_slot = st.snap_slot,
                             .leader_id = st.leader, .group_size = coord_px_size(c->px),
                             .decided = ds.decided, .decide_p50_us = ds.p50_us,
                             .decide_p99_us = ds.p99_us};
}

/* Statements that are still running use the cluster, so the cluster closes
** only once the SQL server has drained them (eng_server_stop's callback). */
static void on_sql_stopped(void *ud) {
  coordinator *c = ud;
  c->sql = NULL;
  coord_cluster_close(c->cluster);
}

static void on_stop(void *ud) {
  coordinator *c = ud;
  coord_rdl_close(c->rdl);
  coord_px_close(c->px);
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
  int v6 = strchr(a.node.host, ':') != NULL;
  snprintf(sql_addr, sizeof sql_addr, "%s%s%s:%d", v6 ? "[" : "", a.node.host, v6 ? "]" : "",
           a.sql_port);
  node_config cfg = {
      .name = a.node.name, .role = "coordinator", .dir = a.node.dir, .host = a.node.host,
      .rpc_port = a.node.rpc_port, .sql_addr = sql_addr, .log_level = a.node.log_level,
      .log_file = a.node.log_file, .secret_file = a.node.secret_file,
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
  /* A data dir without a catalog is being created with the cluster: its
  ** empty paxos directory is a new member. Decided before the catalog is
  ** created below. */
  char probe[4200];
  struct stat pst;
  snprintf(probe, sizeof probe, "%s/catalog.db", a.node.dir);
  bool fresh = stat(probe, &pst) != 0;
  bool no_catalog = fresh;
  /* A wiped member must not vote as if it had promised nothing
  ** (docs/consensus.md, "A member that lost its disk"): the operator says
  ** it is one, and its empty paxos directory then means "rejoin". */
  if (a.rejoin && fresh) {
    SYN_LOG_INFO(NULL, "--rejoin: empty data dir; rejoining the group as a learner");
    fresh = false;
  }
  coord_cluster_config ccfg = {
      .name = a.node.name, .dir = a.node.dir, .participants = &a.participants,
      .clock = node_clock_borrow(n), .rpc = node_rpc(n), .commit_wait_ms = a.commit_wait_ms,
      .no_local_catalog = no_catalog,
  };
  node_rpc_secret(n, &ccfg.secret, &ccfg.secret_len);
  /* The decision table exists before the replica: opening the replica
  ** applies what its log already knows chosen. */
  int prc = coord_rdl_new(node_loop(n), &co.rdl, &err);
  coord_px_config pcfg = {
      .name = a.node.name, .dir = a.node.dir, .fresh = fresh, .peers = &a.peers,
      .loop = node_loop(n), .rpc = node_rpc(n), .secret = ccfg.secret,
      .secret_len = ccfg.secret_len, .sm = co.rdl ? coord_rdl_sm(co.rdl) : NULL,
  };
  if (prc == 0) prc = coord_px_open(&pcfg, &co.px, &err);
  if (prc == 0) coord_rdl_attach(co.rdl, co.px, node_rpc(n));
  ccfg.decisions = co.rdl;
  if (prc < 0 || coord_cluster_open(node_loop(n), &ccfg, &co.cluster, &err) < 0 ||
      node_on_stop(n, on_stop, &co, &err) < 0) {
    SYN_LOG_ERROR(NULL, "cannot start: %s", err.msg);
    fprintf(stderr, "%s: cannot start: %s\n", PROG, err.msg);
    coord_px_close(co.px);
    coord_rdl_close(co.rdl);
    coord_cluster_close(co.cluster);
    node_shutdown(n, "start failed");
    coord_cluster_free(co.cluster);
    coord_px_free(co.px);
    coord_rdl_free(co.rdl);
    node_free(n);
    free_args(&a);
    return 1;
  }
  /* PostgreSQL clients: the SQL engine's executor runs their statements
  ** against this coordinator's cluster services (borrowed; the cluster
  ** outlives the server, see on_stop). A taken SQL port stops the start. */
  node_set_leader_fn(n, is_leader, &co);
  /* The rules file is read once at start: a bad line stops the start
  ** rather than leaving a hole (pgw_hba_parse refuses what it does not
  ** understand). */
  pgw_hba *hba = NULL;
  if (a.hba_file && pgw_hba_load(a.hba_file, &hba, &err) < 0) {
    SYN_LOG_ERROR(NULL, "cannot start: --hba %s", err.msg);
    fprintf(stderr, "%s: cannot start: --hba %s\n", PROG, err.msg);
    node_shutdown(n, "bad rules file");
    coord_cluster_free(co.cluster);
    coord_px_free(co.px);
    coord_rdl_free(co.rdl);
    node_free(n);
    free_args(&a);
    return 1;
  }
  eng_opts eopts = {.default_isolation = a.default_iso, .hba = hba, .tls_cert = a.tls_cert,
                    .tls_key = a.tls_key};
  node_set_paxos_fn(n, paxos_health, &co);
  if (eng_server_start(node_loop(n), a.node.host, a.sql_port, coord_cluster_borrow(co.cluster),
                       &eopts, &co.sql, &err) < 0) {
    SYN_LOG_ERROR(NULL, "cannot serve SQL on %s: %s", sql_addr, err.msg);
    fprintf(stderr, "%s: cannot serve SQL on %s: %s\n", PROG, sql_addr, err.msg);
    co.sql = NULL;
    node_shutdown(n, "SQL port unavailable");
    coord_cluster_free(co.cluster);
    coord_px_free(co.px);
    coord_rdl_free(co.rdl);
    node_free(n);
    pgw_hba_free(hba);
    free_args(&a);
    return 1;
  }
  char parts[1000], peers[1000], detail[2300];
  node_peers_format(&a.participants, parts, sizeof parts);
  node_peers_format(&a.peers, peers, sizeof peers);
  snprintf(detail, sizeof detail,
           "sql=%s participants=%s peers=%s default_isolation='%s' tls=%s auth=%s", sql_addr,
           a.participants.n ? parts : "-", a.peers.n ? peers : "-",
           eng_isolation_name(a.default_iso), a.tls_cert ? "on" : "off",
           hba ? "rules file" : "trust");
  status = node_run(n, detail);
  coord_cluster_free(co.cluster);
  coord_px_free(co.px);
  coord_rdl_free(co.rdl);
  node_free(n);
  pgw_hba_free(hba); /* the SQL server, its borrower, is gone */
  free_args(&a);
  return status;
}
