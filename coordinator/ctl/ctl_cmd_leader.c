/*
** synodctl leader: print the name of the coordinator that leads the group.
**
** The leader is what the health answers say (ctl_status_leader: the one
** alive coordinator holding the lease), the same fact `status` shows, so
** the two never disagree. Right after a failure the group may have no
** leader for an election timeout or two, hence a short bounded wait
** (--wait SECONDS, default 5) before giving up with exit status 1.
*/
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "coordinator/ctl/ctl_cmd.h"
#include "coordinator/ctl/ctl_opts.h"

#define CMD "leader"
#define POLL_MS 100

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int ctl_cmd_leader(int argc, char **argv) {
  static const struct option longopts[] = {{"dir", required_argument, NULL, 'd'},
                                           {"wait", required_argument, NULL, 'w'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  const char *dir = NULL;
  int wait_s = 5;
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'd': dir = optarg; break;
    case 'w':
      if (!ctl_parse_int(optarg, 0, 3600, &wait_s))
        return ctl_usage_error(CMD, "--wait: want 0..3600 seconds, got '%s'", optarg);
      break;
    case 'h': ctl_usage(stdout, CMD); return CTL_EXIT_OK;
    default: return ctl_usage_error(CMD, "bad option");
    }
  }
  if (optind < argc) return ctl_usage_error(CMD, "unexpected argument '%s'", argv[optind]);

  syn_err err;
  syn_err_clear(&err);
  ctl_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return ctl_fail(CMD, "out of memory");
  int exit_code = CTL_EXIT_OK;
  ctl_node_paths *paths = NULL;
  ctl_node_state *st = NULL;
  if (ctl_ctx_open_existing(ctx, ctl_default_dir(dir), false, &err)) {
    exit_code = ctl_fail(CMD, "%s", err.msg);
    goto out;
  }
  const ctl_conf *c = &ctx->conf;
  paths = calloc((size_t)c->n_nodes, sizeof *paths);
  st = calloc((size_t)c->n_nodes, sizeof *st);
  if (!paths || !st) {
    exit_code = ctl_fail(CMD, "out of memory");
    goto out;
  }
  for (int i = 0; i < c->n_nodes; i++) ctl_node_paths_of(ctx, &c->nodes[i], &paths[i]);
  uint64_t deadline = mono_ms() + (uint64_t)wait_s * 1000u;
  for (;;) {
    /* Coordinators only: participants have no say in who leads. */
    int alive = 0;
    for (int i = 0; i < c->n_nodes; i++) {
      if (c->nodes[i].role != CTL_ROLE_COORDINATOR) {
        st[i] = (ctl_node_state){.node = &c->nodes[i]};
        continue;
      }
      ctl_node_observe(ctx, &c->nodes[i], &paths[i], &st[i]);
      if (ctl_status_alive(&st[i])) alive++;
    }
    const char *name = ctl_status_leader(st, c->n_nodes);
    if (name) {
      printf("%s\n", name);
      break;
    }
    if (mono_ms() >= deadline) {
      exit_code = ctl_fail(CMD, "no leader within %d s (%d of %d coordinators alive; a group "
                           "needs a majority, %d, to elect one)", wait_s, alive,
                           c->n_coordinators, c->n_coordinators / 2 + 1);
      break;
    }
    struct timespec ts = {0, POLL_MS * 1000000L};
    nanosleep(&ts, NULL);
  }
out:
  free(paths);
  free(st);
  ctl_ctx_close(ctx);
  free(ctx);
  return exit_code;
}
