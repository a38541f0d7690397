/*
** Internal to synodctl: the context every subcommand works in, the node
** runtime helpers (paths, liveness, start, observe) and the subcommands.
*/
#ifndef SYN_CTL_CMD_H
#define SYN_CTL_CMD_H

#include "common/rpc.h"
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "coordinator/ctl/ctl_conf.h"
#include "coordinator/ctl/ctl_status.h"

/* Every node listens on loopback, unless the cluster runs with --netns
** (ctl_netplan.h: each node then has its own address). */
#define CTL_HOST "127.0.0.1"

/* Process exit codes. */
enum { CTL_EXIT_OK = 0, CTL_EXIT_FAIL = 1, CTL_EXIT_USAGE = 2 };
/* Returned by option parsers after printing --help: exit 0, do nothing. */
#define CTL_HELP_SHOWN (-1)

/* Bounds on every wait, in milliseconds. */
#define CTL_HEALTH_WAIT_MS 20000 /* up/start: until every node answers health */
#define CTL_STOP_WAIT_MS 10000   /* down/stop: SIGTERM grace before SIGKILL */
#define CTL_KILL_WAIT_MS 5000    /* after SIGKILL, until the pid is gone */
#define CTL_PROBE_MS 1000        /* one health probe */

typedef struct ctl_ctx {
  char dir[PATH_MAX];     /* absolute cluster directory */
  char exe_dir[PATH_MAX]; /* directory holding the synodctl binary */
  ctl_conf conf;
  int lock_fd; /* -1 unless ctl_ctx_lock succeeded */
  /* DIR/cluster.secret, which every node gets with --secret-file and the
  ** health probes authenticate with; secret_len 0 while there is none. */
  uint8_t secret[SYN_RPC_SECRET_MAX];
  size_t secret_len;
} ctl_ctx;

typedef struct ctl_node_paths {
  char dir[PATH_MAX];     /* DIR/<name> */
  char log[PATH_MAX];     /* DIR/<name>/<name>.log */
  char pidfile[PATH_MAX]; /* DIR/<name>/pid */
} ctl_node_paths;

/* ---- context (ctl_ctx.c) ----------------------------------------------- */

/* The directory from --dir, else $SYNOD_DIR, else ./synod-data. */
const char *ctl_default_dir(const char *opt);
/* Resolve dir to an absolute path, creating it when create is set. */
int ctl_ctx_open(ctl_ctx *ctx, const char *dir, bool create, syn_err *err);
/* Load DIR/cluster.conf if it exists; *have_conf says whether it did. */
int ctl_ctx_load(ctl_ctx *ctx, bool *have_conf, syn_err *err);
/* Open an existing cluster: resolve, lock when asked, load; a missing
** directory or cluster.conf is an error. */
int ctl_ctx_open_existing(ctl_ctx *ctx, const char *dir, bool lock, syn_err *err);
/* Serialise synodctl runs that change the cluster (DIR/ctl.lock). */
int ctl_ctx_lock(ctl_ctx *ctx, syn_err *err);
/* Load DIR/cluster.secret into ctx, creating it first when create is set
** and it is missing. Without create a missing file leaves secret_len 0. */
int ctl_ctx_secret(ctl_ctx *ctx, bool create, syn_err *err);
/* DIR/cluster.secret. */
void ctl_ctx_secret_path(const ctl_ctx *ctx, char *buf, size_t cap);
void ctl_ctx_close(ctl_ctx *ctx);

/* ---- node runtime (ctl_node.c) ----------------------------------------- */

void ctl_node_paths_of(const ctl_ctx *ctx, const ctl_node *n, ctl_node_paths *p);
/* Live pid of the node (pid file checked against /proc), or 0. */
int ctl_node_live_pid(const ctl_ctx *ctx, const ctl_node *n);
/* Fill s (paths must outlive s) with pid, paused, health and leader. */
void ctl_node_observe(const ctl_ctx *ctx, const ctl_node *n, const ctl_node_paths *p,
                      ctl_node_state *s);
/* Refuse when a port the node needs is taken by someone else. */
int ctl_node_check_ports(const ctl_ctx *ctx, const ctl_node *n, syn_err *err);
/* Spawn the node's daemon detached and record its pid file. */
/* rejoin: a coordinator whose data dir was wiped rejoins its group
** (--rejoin) instead of starting as a new member. */
int ctl_node_spawn(const ctl_ctx *ctx, const ctl_node *n, bool rejoin, int *pid, syn_err *err);
/* Wait until every node in nodes[] (with the pids we spawned) answers
** health, or one exits, or CTL_HEALTH_WAIT_MS passes. */
int ctl_node_wait_healthy(const ctl_ctx *ctx, const ctl_node *const *nodes, const int *pids,
                          int n, syn_err *err);
/* Wait (bounded) until the node's process pid is gone; true if it is. */
bool ctl_node_wait_gone(const ctl_ctx *ctx, const ctl_node *n, int pid, int timeout_ms);
/* Print the last few lines of a node's log to stderr (startup failures). */
void ctl_node_print_log_tail(const ctl_node_paths *p, int lines);

/* ---- PostgreSQL for participants (ctl_pg.c) ------------------------------- */

/* Participant n's conninfo (its own database) into out; false when n keeps
** its rows in SQLite. */
bool ctl_pg_node_conninfo(const ctl_ctx *ctx, const ctl_node *n, char *out, size_t cap);
/* up: start the cluster's private server if it has one (initdb the first
** time) and create the participants' missing databases. */
int ctl_pg_up(const ctl_ctx *ctx, syn_err *err);
/* down: stop the private server if it runs; *stopped says whether. */
int ctl_pg_down(const ctl_ctx *ctx, bool *stopped, syn_err *err);
/* status: one line about the server (nothing for SQLite clusters). */
void ctl_pg_status(const ctl_ctx *ctx, FILE *f);

/* ---- subcommands -------------------------------------------------------- */

/* Each takes argv with argv[0] = "synodctl CMD"; returns an exit code. */
int ctl_cmd_up(int argc, char **argv);
int ctl_cmd_down(int argc, char **argv);
int ctl_cmd_status(int argc, char **argv);
int ctl_cmd_leader(int argc, char **argv);
int ctl_cmd_node(const char *action, int argc, char **argv); /* kill stop start pause resume */
int ctl_cmd_test(int argc, char **argv);
int ctl_cmd_partition(int argc, char **argv);
int ctl_cmd_heal(int argc, char **argv);
int ctl_cmd_netem(int argc, char **argv);

/* Usage line(s) of one subcommand (NULL: all) to f. */
void ctl_usage(FILE *f, const char *cmd);
/* Print "synodctl CMD: <msg>" and the usage to stderr; returns CTL_EXIT_USAGE. */
int ctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "synodctl CMD: <msg>" to stderr; returns CTL_EXIT_FAIL. */
int ctl_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* SYN_CTL_CMD_H */
