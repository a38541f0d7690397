/*
** What both daemons (synod-coordinator, synod-participant) share: option
** value parsing, the data directory, logging setup, the RPC server with the
** SYN_M_HEALTH method, and graceful shutdown on SIGTERM/SIGINT.
**
** Life of a daemon:
**   node_start()   open the log, create and lock the data dir, bind the RPC
**                  port (refusing to start if it is taken), serve health,
**                  install the signal handlers;
**   ...            the daemon registers its own RPC methods on node_rpc()
**                  and stop hooks with node_on_stop();
**   node_run()     log "started", run the loop; on SIGTERM/SIGINT log
**                  "stopping", run the stop hooks (which close the daemon's
**                  own handles), close the RPC server and run the loop until
**                  every handle is closed; log "stopped";
**   node_free().
*/
#ifndef SYN_NODE_H
#define SYN_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/err.h"
#include "common/rpc.h"

#define NODE_NAME_MAX 32
#define NODE_HOST_MAX 64
#define NODE_MAX_STOP_HOOKS 16

/* One "name=host:port" entry of --participants / --peers / --coordinators. */
typedef struct node_peer {
  char name[NODE_NAME_MAX];
  char host[NODE_HOST_MAX];
  int port;
} node_peer;

typedef struct node_peer_list {
  node_peer *items;
  size_t n;
} node_peer_list;

/* ---- option values ------------------------------------------------------ */

/* Decimal port in min..65535 (min 0 lets the kernel choose). */
int node_parse_port(const char *s, int min, int *out, syn_err *err);

/* A node name: 1..31 characters from [A-Za-z0-9_.-]. */
int node_check_name(const char *s, syn_err *err);

/* "host:port" or "[v6]:port" into host and port (1..65535). */
int node_parse_hostport(const char *s, char *host, size_t host_cap, int *port,
                        syn_err *err);

/* "p1=127.0.0.1:5633,p2=127.0.0.1:5634": every entry validated, names
** unique. *out is filled on success (free with node_peers_free). */
int node_parse_peers(const char *s, node_peer_list *out, syn_err *err);
void node_peers_free(node_peer_list *l);
/* "p1=127.0.0.1:5633,p2=..." back, for log lines; always NUL-terminated. */
void node_peers_format(const node_peer_list *l, char *buf, size_t cap);

/* Print "prog: message" and then the usage line to stderr; returns 2, the
** exit status for a bad command line. */
int node_usage_error(const char *prog, const char *usage_line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the options every daemon has ----------------------------------------- */

/* getopt_long values of the common options; a daemon numbers its own
** options from NODE_OPT_FIRST_OWN. */
enum {
  NODE_OPT_NAME = 256,
  NODE_OPT_DIR,
  NODE_OPT_RPC_PORT,
  NODE_OPT_HOST,
  NODE_OPT_LOG_LEVEL,
  NODE_OPT_LOG_FILE,
  NODE_OPT_HELP,
  NODE_OPT_VERSION,
  NODE_OPT_SECRET_FILE,
  NODE_OPT_FIRST_OWN = 300,
};

/* The common entries of a daemon's `struct option` table. */
#define NODE_COMMON_LONG_OPTS                                      \
  {"name", required_argument, NULL, NODE_OPT_NAME},                \
  {"dir", required_argument, NULL, NODE_OPT_DIR},                  \
  {"rpc-port", required_argument, NULL, NODE_OPT_RPC_PORT},        \
  {"host", required_argument, NULL, NODE_OPT_HOST},                \
  {"log-level", required_argument, NULL, NODE_OPT_LOG_LEVEL},      \
  {"log-file", required_argument, NULL, NODE_OPT_LOG_FILE},        \
  {"help", no_argument, NULL, NODE_OPT_HELP},                      \
  {"version", no_argument, NULL, NODE_OPT_VERSION},               \
  {"secret-file", required_argument, NULL, NODE_OPT_SECRET_FILE}

typedef struct node_prog {
  const char *prog;       /* program name for messages */
  const char *usage_line; /* "usage: prog ..." */
  const char *usage_text; /* the option list for --help */
  const char *version;
} node_prog;

typedef struct node_args {
  const char *name, *dir, *host, *log_level, *log_file; /* set host's default first */
  const char *secret_file;
  int rpc_port;
  int have_port;
} node_args;

#define NODE_ARG_CONSUMED (-1) /* a common option, stored in the node_args */
#define NODE_ARG_OWN (-2)      /* not a common option: the daemon's own */

/* Handle one getopt_long result c (opterr = 0 and optstring ":" assumed;
** raw is argv[index before the call], for messages). Returns
** NODE_ARG_CONSUMED, NODE_ARG_OWN, or an exit status: 0 after --help or
** --version, 2 after a usage error (printed). */
int node_args_handle(const node_prog *p, node_args *a, int c, const char *optarg_,
                     const char *raw);

/* After the loop: no stray arguments, --name, --dir and --rpc-port given.
** -1 to go on, else 2 (printed). */
int node_args_finish(const node_prog *p, const node_args *a, int optind_, int argc,
                     char **argv);

/* ---- process setup ------------------------------------------------------ */

/* Set up logging: level name (NULL = info) and file (NULL = stderr; the file
** is opened for append and created if missing). */
int node_log_setup(const char *name, const char *level, const char *file, syn_err *err);

/* Create dir (and parents) if missing, check it is a writable directory and
** take an exclusive lock on dir/LOCK so two daemons never share one data
** dir. *lock_fd stays open for the life of the process. */
int node_prepare_dir(const char *dir, int *lock_fd, syn_err *err);

/* ---- the running node --------------------------------------------------- */

typedef struct node_config {
  const char *name;       /* c1, p1, ... */
  const char *role;       /* "coordinator" or "participant" */
  const char *dir;
  const char *host;       /* RPC listen address */
  int rpc_port;           /* 0 = ephemeral (tests) */
  const char *sql_addr;   /* coordinators: "host:port" served in health; else NULL */
  const char *log_level;  /* NULL = info */
  const char *log_file;   /* NULL = stderr */
  const char *secret_file; /* cluster secret for RPC authentication; NULL = none */
} node_config;

typedef struct node node;
struct node_clock; /* common/node_clock.h */

int node_start(const node_config *cfg, node **out, syn_err *err);
uv_loop_t *node_loop(node *n);
rpc_server *node_rpc(node *n);
/* The cluster secret loaded at start (len 0: none), for the node's own
** RPC clients; borrowed for the node's life. */
void node_rpc_secret(const node *n, const uint8_t **key, size_t *len);
/* The node's hybrid logical clock, lent for the life of the node (loop
** thread only). */
struct node_clock *node_clock_borrow(node *n);
/* HealthResponse.leader: fn(ud) says whether this node leads its group
** now (coordinators; unset: false). Loop thread. */
void node_set_leader_fn(node *n, bool (*fn)(void *ud), void *ud);
/* HealthResponse.paxos: a coordinator's consensus state, filled by fn on
** every health request (unset: the field is absent). Loop thread. */
typedef struct node_paxos_health {
  const char *role; /* static string: "follower", "leader", ... */
  uint64_t ballot, promised; /* paxos ballots: round << 16 | node */
  uint64_t chosen, applied, snap_slot;
  uint32_t leader_id, group_size;
  uint64_t decided;                    /* decisions proposed here and decided */
  uint32_t decide_p50_us, decide_p99_us;
} node_paxos_health;
void node_set_paxos_fn(node *n, void (*fn)(void *ud, node_paxos_health *out), void *ud);
/* Called once, in registration order, when a stop signal arrives. */
int node_on_stop(node *n, void (*fn)(void *ud), void *ud, syn_err *err);
/* Run until stopped. Returns the process exit status (0 after a clean stop). */
int node_run(node *n, const char *started_detail);
/* Stop as on SIGTERM (stop hooks, close the RPC server) and run the loop
** until every handle is closed, without node_run: for a daemon whose start
** fails after node_start. node_free still follows. */
void node_shutdown(node *n, const char *why);
void node_free(node *n);

#endif /* SYN_NODE_H */
