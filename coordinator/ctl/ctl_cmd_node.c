/*
** synodctl down, and the one-node commands start, stop, kill, pause, resume.
** Every action on a node is appended to DIR/events.log (ctl_events.h).
*/
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coordinator/ctl/ctl_cmd.h"
#include "coordinator/ctl/ctl_events.h"
#include "coordinator/ctl/ctl_net.h"
#include "coordinator/ctl/ctl_proc.h"

/* Parse "[NODE] --dir DIR [--rejoin]" for cmd; node may be NULL when none
** is wanted, rejoin NULL when the command takes no --rejoin. */
static int parse(const char *cmd, int argc, char **argv, const char **dir, const char **node,
                 bool *rejoin) {
  static const struct option longopts[] = {{"dir", required_argument, NULL, 'd'},
                                           {"help", no_argument, NULL, 'h'},
                                           {"rejoin", no_argument, NULL, 'r'},
                                           {NULL, 0, NULL, 0}};
  *dir = NULL;
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'd': *dir = optarg; break;
    case 'r':
      if (!rejoin) return ctl_usage_error(cmd, "--rejoin is for start only");
      *rejoin = true;
      break;
    case 'h': ctl_usage(stdout, cmd); return CTL_HELP_SHOWN;
    default: return ctl_usage_error(cmd, "bad option");
    }
  }
  int want = node ? 1 : 0;
  if (argc - optind != want) {
    if (want && argc == optind) return ctl_usage_error(cmd, "which node? (e.g. p2)");
    return ctl_usage_error(cmd, "unexpected argument '%s'", argv[optind + want]);
  }
  if (node) *node = argv[optind];
  return 0;
}

/* Stop a node: SIGTERM, and SIGCONT so a paused node can act on it; after
** CTL_STOP_WAIT_MS, SIGKILL. Returns the signal that ended it (0 if it
** could not be ended). */
static int stop_node(const ctl_ctx *ctx, const ctl_node *n, int pid, const char *action) {
  kill(pid, SIGTERM);
  kill(pid, SIGCONT);
  if (ctl_node_wait_gone(ctx, n, pid, CTL_STOP_WAIT_MS)) {
    ctl_events_log(ctx->dir, action, n->name, NULL, "pid=%d signal=SIGTERM", pid);
    return SIGTERM;
  }
  kill(pid, SIGKILL);
  bool gone = ctl_node_wait_gone(ctx, n, pid, CTL_KILL_WAIT_MS);
  ctl_events_log(ctx->dir, action, n->name, NULL, "pid=%d signal=SIGKILL after=%ds%s", pid,
                 CTL_STOP_WAIT_MS / 1000, gone ? "" : " result=still-running");
  return gone ? SIGKILL : 0;
}

static void remove_pidfile(const ctl_ctx *ctx, const ctl_node *n) {
  ctl_node_paths p;
  ctl_node_paths_of(ctx, n, &p);
  unlink(p.pidfile);
}

int ctl_cmd_down(int argc, char **argv) {
  const char *dir;
  int rc = parse("down", argc, argv, &dir, NULL, NULL);
  if (rc) return rc == CTL_HELP_SHOWN ? CTL_EXIT_OK : rc;
  syn_err err;
  syn_err_clear(&err);
  ctl_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return ctl_fail("down", "out of memory");
  int exit_code = CTL_EXIT_OK;
  int *pids = NULL;
  if (ctl_ctx_open_existing(ctx, ctl_default_dir(dir), true, &err)) {
    exit_code = ctl_fail("down", "%s", err.msg);
    goto out;
  }
  const ctl_conf *c = &ctx->conf;
  pids = calloc((size_t)c->n_nodes, sizeof *pids);
  if (!pids) {
    exit_code = ctl_fail("down", "out of memory");
    goto out;
  }
  /* Signal everyone first, then wait: shutting down in parallel keeps
  ** `down` near one grace period instead of one per node. */
  int live = 0;
  for (int i = 0; i < c->n_nodes; i++) {
    pids[i] = ctl_node_live_pid(ctx, &c->nodes[i]);
    if (pids[i] <= 0) continue;
    kill(pids[i], SIGTERM);
    kill(pids[i], SIGCONT);
    live++;
  }
  long long deadline = ctl_now_ms() + CTL_STOP_WAIT_MS;
  for (int i = 0; i < c->n_nodes; i++) {
    const ctl_node *n = &c->nodes[i];
    if (pids[i] <= 0) {
      printf("%-4s not running\n", n->name);
      continue;
    }
    long long left = deadline - ctl_now_ms();
    if (ctl_node_wait_gone(ctx, n, pids[i], left > 0 ? (int)left : 0)) {
      ctl_events_log(ctx->dir, "down", n->name, NULL, "pid=%d signal=SIGTERM", pids[i]);
      printf("%-4s stopped (pid %d, SIGTERM)\n", n->name, pids[i]);
      remove_pidfile(ctx, n);
      continue;
    }
    kill(pids[i], SIGKILL);
    bool gone = ctl_node_wait_gone(ctx, n, pids[i], CTL_KILL_WAIT_MS);
    ctl_events_log(ctx->dir, "down", n->name, NULL, "pid=%d signal=SIGKILL after=%ds%s", pids[i],
                   CTL_STOP_WAIT_MS / 1000, gone ? "" : " result=still-running");
    if (gone) {
      printf("%-4s killed (pid %d did not exit within %d s of SIGTERM)\n", n->name, pids[i], CTL_STOP_WAIT_MS / 1000);
      remove_pidfile(ctx, n);
    } else {
      exit_code = ctl_fail("down", "%s (pid %d) survived SIGKILL", n->name, pids[i]);
    }
  }
  /* The participants' private PostgreSQL server goes after them. */
  bool pg_stopped = false;
  if (!exit_code && ctl_pg_down(ctx, &pg_stopped, &err))
    exit_code = ctl_fail("down", "%s", err.msg);
  if (pg_stopped) printf("postgres stopped (%s/pg)\n", ctx->dir);
  /* The namespaces go once nothing runs inside them. */
  if (!exit_code && ctx->conf.netns) {
    if (ctl_net_down(ctx, &err)) exit_code = ctl_fail("down", "%s", err.msg);
    else {
      ctl_events_log(ctx->dir, "net-down", "-", NULL, "namespaces=%d", c->n_nodes);
      printf("network namespaces and bridge removed\n");
    }
  }
  if (!exit_code) printf("cluster in %s is down (%d node%s stopped)\n", ctx->dir, live, live == 1 ? "" : "s");
out:
  free(pids);
  ctl_ctx_close(ctx);
  free(ctx);
  return exit_code;
}

/* A coordinator of a group whose data dir has no catalog was wiped (the
** cluster exists, so it was created): started as it is it would be a new
** member that promised nothing, which can let two values be chosen
** (docs/consensus.md, "A member that lost its disk"). */
static bool coordinator_wiped(const ctl_ctx *ctx, const ctl_node *n) {
  if (n->role != CTL_ROLE_COORDINATOR || ctx->conf.n_coordinators < 2) return false;
  ctl_node_paths p;
  ctl_node_paths_of(ctx, n, &p);
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/catalog.db", p.dir);
  return access(path, F_OK) != 0;
}

static int do_start(const char *cmd, const ctl_ctx *ctx, const ctl_node *n, bool rejoin) {
  syn_err err;
  syn_err_clear(&err);
  if (rejoin && n->role != CTL_ROLE_COORDINATOR)
    return ctl_usage_error(cmd, "--rejoin is for coordinators; %s is a participant", n->name);
  int pid = ctl_node_live_pid(ctx, n);
  if (pid > 0) {
    printf("%s is already running (pid %d)\n", n->name, pid);
    return CTL_EXIT_OK;
  }
  if (!rejoin && coordinator_wiped(ctx, n))
    return ctl_fail(cmd, "%s's data dir holds no catalog: it was wiped. Start it with "
                    "`start %s --rejoin` so it rejoins the group and catches up "
                    "(docs/operations.md, \"A wiped coordinator\")", n->name, n->name);
  if (ctl_node_check_ports(ctx, n, &err)) return ctl_fail(cmd, "%s; refusing to start %s", err.msg, n->name);
  if (ctl_net_up(ctx, &err) || ctl_node_spawn(ctx, n, rejoin, &pid, &err)) return ctl_fail(cmd, "%s", err.msg);
  ctl_events_log(ctx->dir, "start", n->name, NULL, rejoin ? "pid=%d rejoin" : "pid=%d", pid);
  const ctl_node *nodes[1] = {n};
  if (ctl_node_wait_healthy(ctx, nodes, &pid, 1, &err)) return ctl_fail(cmd, "%s", err.msg);
  char addr[CTL_NET_ADDR_MAX];
  ctl_net_node_addr(&ctx->conf, n, addr, sizeof addr);
  printf("started %s (pid %d, rpc %s:%d", n->name, pid, addr, n->rpc_port);
  if (n->role == CTL_ROLE_COORDINATOR) printf(", sql %s:%d", addr, n->sql_port);
  printf(")\n");
  return CTL_EXIT_OK;
}

static int do_signal(const char *cmd, const ctl_ctx *ctx, const ctl_node *n) {
  int pid = ctl_node_live_pid(ctx, n);
  if (strcmp(cmd, "stop") == 0 || strcmp(cmd, "kill") == 0) {
    /* The wanted end state is "not running": reaching it is success. */
    if (pid <= 0) {
      printf("%s is not running; nothing to %s\n", n->name, cmd);
      return CTL_EXIT_OK;
    }
    if (strcmp(cmd, "kill") == 0) {
      kill(pid, SIGKILL);
      bool gone = ctl_node_wait_gone(ctx, n, pid, CTL_KILL_WAIT_MS);
      ctl_events_log(ctx->dir, "kill", n->name, NULL, "pid=%d signal=SIGKILL%s", pid, gone ? "" : " result=still-running");
      if (!gone) return ctl_fail(cmd, "%s (pid %d) survived SIGKILL for %d s", n->name, pid, CTL_KILL_WAIT_MS / 1000);
      printf("killed %s (pid %d, SIGKILL)\n", n->name, pid);
      return CTL_EXIT_OK;
    }
    int sig = stop_node(ctx, n, pid, "stop");
    if (!sig) return ctl_fail(cmd, "%s (pid %d) survived SIGTERM and SIGKILL", n->name, pid);
    remove_pidfile(ctx, n);
    printf("stopped %s (pid %d, %s)\n", n->name, pid, sig == SIGTERM ? "SIGTERM" : "SIGKILL after SIGTERM timed out");
    return CTL_EXIT_OK;
  }
  if (pid <= 0) return ctl_fail(cmd, "%s is not running", n->name);
  bool pause = strcmp(cmd, "pause") == 0;
  if (kill(pid, pause ? SIGSTOP : SIGCONT) != 0) return ctl_fail(cmd, "signal %s (pid %d) failed", n->name, pid);
  /* Wait (bounded) until the kernel shows the new state, so a status run
  ** right after this command already sees it. */
  long long deadline = ctl_now_ms() + 2000;
  while (ctl_proc_stopped(pid) != pause && ctl_now_ms() < deadline) ctl_sleep_ms(10);
  ctl_events_log(ctx->dir, cmd, n->name, NULL, "pid=%d signal=%s", pid, pause ? "SIGSTOP" : "SIGCONT");
  printf("%s %s (pid %d, %s)\n", pause ? "paused" : "resumed", n->name, pid, pause ? "SIGSTOP" : "SIGCONT");
  return CTL_EXIT_OK;
}

int ctl_cmd_node(const char *action, int argc, char **argv) {
  const char *dir, *name;
  bool rejoin = false;
  int rc = parse(action, argc, argv, &dir, &name, strcmp(action, "start") == 0 ? &rejoin : NULL);
  if (rc) return rc == CTL_HELP_SHOWN ? CTL_EXIT_OK : rc;
  syn_err err;
  syn_err_clear(&err);
  ctl_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return ctl_fail(action, "out of memory");
  int exit_code;
  const ctl_node *n = NULL;
  if (ctl_ctx_open_existing(ctx, ctl_default_dir(dir), true, &err)) {
    exit_code = ctl_fail(action, "%s", err.msg);
  } else if (!(n = ctl_conf_find(&ctx->conf, name))) {
    char names[1024];
    size_t len = 0;
    names[0] = '\0';
    for (int i = 0; i < ctx->conf.n_nodes; i++) {
      int w = snprintf(names + len, sizeof names - len, "%s%s", i ? " " : "", ctx->conf.nodes[i].name);
      if (w < 0 || (size_t)w >= sizeof names - len) break;
      len += (size_t)w;
    }
    exit_code = ctl_fail(action, "unknown node '%s' (this cluster has: %s)", name, names);
  } else if (strcmp(action, "start") == 0) {
    exit_code = do_start(action, ctx, n, rejoin);
  } else {
    exit_code = do_signal(action, ctx, n);
  }
  ctl_ctx_close(ctx);
  free(ctx);
  return exit_code;
}
