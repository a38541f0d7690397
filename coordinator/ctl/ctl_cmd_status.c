/*
** synodctl status: what every node is doing, as text or as JSON.
** Read-only, so it takes no lock and can run while `up` waits.
*/
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "coordinator/ctl/ctl_cmd.h"

#define CMD "status"

int ctl_cmd_status(int argc, char **argv) {
  static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
                                           {"dir", required_argument, NULL, 'd'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  const char *dir = NULL;
  bool json = false;
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'j': json = true; break;
    case 'd': dir = optarg; break;
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
  for (int i = 0; i < c->n_nodes; i++) {
    ctl_node_paths_of(ctx, &c->nodes[i], &paths[i]);
    ctl_node_observe(ctx, &c->nodes[i], &paths[i], &st[i]);
  }
  if (json) ctl_status_print_json(stdout, st, c->n_nodes);
  else {
    ctl_status_print_text(stdout, CTL_HOST, st, c->n_nodes);
    ctl_pg_status(ctx, stdout);
  }
out:
  free(paths);
  free(st);
  ctl_ctx_close(ctx);
  free(ctx);
  return exit_code;
}
