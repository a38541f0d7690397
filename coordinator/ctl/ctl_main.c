/*
** synodctl: run a synod cluster on this machine.
**
**   synodctl up | down | status | leader | start | stop | kill | pause | resume | test
**
** Every subcommand works on one cluster directory (--dir, else $SYNOD_DIR,
** else ./synod-data) described by its cluster.conf (ctl_conf.h). Exit codes:
** 0 success, 1 the operation failed (unknown node, busy port, a node that
** did not come up), 2 bad usage (unknown flag, bad value, a flag that
** contradicts the existing cluster).
*/
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "coordinator/ctl/ctl_cmd.h"

static const struct {
  const char *name;
  const char *usage;
  const char *what;
} cmds[] = {
    {"up", "up [--coordinators N] [--participants M] [--backend sqlite|postgres|mixed] [--pg CONNINFO] [--port BASE]\n"
            "        [--default-isolation LEVEL] [--tls] [--hba FILE] [--netns] [--dir DIR]",
     "create (first time) or restart the cluster and wait until every node answers"},
    {"down", "down [--dir DIR]", "SIGTERM every node, SIGKILL those still running after 10 s"},
    {"status", "status [--json] [--dir DIR]", "one line (or JSON object) per node"},
    {"leader", "leader [--wait SECONDS] [--dir DIR]",
     "print the leading coordinator's name (exit 1 if none within --wait, default 5 s)"},
    {"start", "start NODE [--rejoin] [--dir DIR]",
     "start one node again and wait for its health answer (--rejoin: a coordinator whose "
     "data dir was wiped catches up from the group)"},
    {"stop", "stop NODE [--dir DIR]", "SIGTERM one node and wait for it to exit"},
    {"kill", "kill NODE [--dir DIR]", "SIGKILL one node"},
    {"pause", "pause NODE [--dir DIR]", "SIGSTOP one node"},
    {"resume", "resume NODE [--dir DIR]", "SIGCONT one node"},
    {"partition", "partition GROUP | GROUP [| GROUP...] | --isolate NODE | --leader-alone | --majority-minority\n"
                  "        | --ring | --bridge | --asymmetric FROM TO [--dir DIR]",
     "cut traffic between nodes of a --netns cluster (GROUP = NODE[,NODE...])"},
    {"heal", "heal [--dir DIR]", "remove every partition"},
    {"netem", "netem NODE (--clear | netem options, e.g. --delay 50ms --loss 5%) [--dir DIR]",
     "tc netem on a --netns node's interface"},
    {"test", "test [--build DIR ...]", "meson test each build dir (default: build build-asan)"},
};

void ctl_usage(FILE *f, const char *cmd) {
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    if (cmd && strcmp(cmd, cmds[i].name) != 0) continue;
    fprintf(f, "usage: synodctl %s\n", cmds[i].usage);
    if (cmd) return;
  }
}

int ctl_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "synodctl %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  ctl_usage(stderr, cmd);
  return CTL_EXIT_USAGE;
}

int ctl_fail(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "synodctl %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return CTL_EXIT_FAIL;
}

static void help(FILE *f) {
  fprintf(f, "synodctl: run a synod cluster on this machine (loopback, or --netns).\n\n");
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    fprintf(f, "  synodctl %s\n      %s\n", cmds[i].usage, cmds[i].what);
  fprintf(f, "\nDIR defaults to $SYNOD_DIR, else ./synod-data. Ports from BASE (default 5433):\n"
             "coordinator i: SQL BASE+i-1, RPC BASE+100+i-1; participant j: RPC BASE+200+j-1.\n"
             "Exit status: 0 ok, 1 failed, 2 bad usage.\n");
}

int main(int argc, char **argv) {
  if (argc < 2 || !argv[1]) {
    ctl_usage(stderr, NULL);
    return CTL_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    help(stdout);
    return CTL_EXIT_OK;
  }
  /* getopt_long reports errors as "<argv[0]>: ...": make that the command. */
  char prog[64];
  snprintf(prog, sizeof prog, "synodctl %s", cmd);
  argv[1] = prog;
  int sub_argc = argc - 1;
  char **sub_argv = argv + 1;
  int rc;
  if (strcmp(cmd, "up") == 0) rc = ctl_cmd_up(sub_argc, sub_argv);
  else if (strcmp(cmd, "down") == 0) rc = ctl_cmd_down(sub_argc, sub_argv);
  else if (strcmp(cmd, "status") == 0) rc = ctl_cmd_status(sub_argc, sub_argv);
  else if (strcmp(cmd, "leader") == 0) rc = ctl_cmd_leader(sub_argc, sub_argv);
  else if (strcmp(cmd, "start") == 0 || strcmp(cmd, "stop") == 0 || strcmp(cmd, "kill") == 0 ||
           strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0)
    rc = ctl_cmd_node(cmd, sub_argc, sub_argv);
  else if (strcmp(cmd, "test") == 0) rc = ctl_cmd_test(sub_argc, sub_argv);
  else if (strcmp(cmd, "partition") == 0) rc = ctl_cmd_partition(sub_argc, sub_argv);
  else if (strcmp(cmd, "heal") == 0) rc = ctl_cmd_heal(sub_argc, sub_argv);
  else if (strcmp(cmd, "netem") == 0) rc = ctl_cmd_netem(sub_argc, sub_argv);
  else {
    fprintf(stderr, "synodctl: unknown command '%s'\n", cmd);
    ctl_usage(stderr, NULL);
    return CTL_EXIT_USAGE;
  }
  fflush(stdout);
  return rc;
}
