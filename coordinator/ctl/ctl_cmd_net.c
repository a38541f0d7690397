/*
** synodctl partition, heal, netem: network faults for a --netns cluster.
** Every fault (and its removal) is appended to DIR/events.log with the
** shape and the directions it cut, so a test can line it up with the nodes'
** logs.
*/
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/ctl/ctl_cmd.h"
#include "coordinator/ctl/ctl_events.h"
#include "coordinator/ctl/ctl_health.h"
#include "coordinator/ctl/ctl_net.h"

#define SPEC_MAX 1024

/* The coordinator that answers health as leader, into out (or ""). */
static void find_leader(const ctl_ctx *ctx, char *out, size_t cap) {
  out[0] = '\0';
  const ctl_conf *c = &ctx->conf;
  for (int i = 0; i < c->n_nodes; i++) {
    const ctl_node *n = &c->nodes[i];
    if (n->role != CTL_ROLE_COORDINATOR) continue;
    char addr[CTL_NET_ADDR_MAX];
    ctl_net_node_addr(c, n, addr, sizeof addr);
    ctl_health h;
    if (ctl_health_probe(addr, n->rpc_port, ctx->secret, ctx->secret_len, CTL_PROBE_MS, &h, NULL) == 0 &&
        h.leader && strcmp(h.node, n->name) == 0) {
      snprintf(out, cap, "%s", n->name);
      return;
    }
  }
}

/* "c1->c2 c1->p1 ..." of k, for the events log (truncated when long). */
static void describe(const ctl_conf *c, const ctl_cut *k, char *out, size_t cap) {
  size_t len = 0;
  out[0] = '\0';
  for (int a = 0; a < k->n; a++)
    for (int b = 0; b < k->n; b++) {
      if (!k->cut[a * k->n + b]) continue;
      int w = snprintf(out + len, cap - len, "%s%s->%s", len ? "," : "", c->nodes[a].name, c->nodes[b].name);
      if (w < 0 || (size_t)w >= cap - len) return;
      len += (size_t)w;
    }
}

static int open_cluster(const char *cmd, const char *dir, ctl_ctx **out) {
  syn_err err;
  ctl_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return ctl_fail(cmd, "out of memory");
  if (ctl_ctx_open_existing(ctx, ctl_default_dir(dir), true, &err) || ctl_ctx_secret(ctx, false, &err)) {
    ctl_ctx_close(ctx);
    free(ctx);
    return ctl_fail(cmd, "%s", err.msg);
  }
  if (!ctx->conf.netns) {
    int rc = ctl_fail(cmd, "the cluster in %s runs on loopback; network faults need one created "
                           "with `synodctl up --netns`", ctx->dir);
    ctl_ctx_close(ctx);
    free(ctx);
    return rc;
  }
  *out = ctx;
  return 0;
}

static void close_cluster(ctl_ctx *ctx) {
  ctl_ctx_close(ctx);
  free(ctx);
}

int ctl_cmd_partition(int argc, char **argv) {
  static const char *CMD = "partition";
  static const struct option longopts[] = {
      {"isolate", required_argument, NULL, 'i'}, {"leader-alone", no_argument, NULL, 'l'},
      {"majority-minority", no_argument, NULL, 'm'}, {"ring", no_argument, NULL, 'r'},
      {"bridge", no_argument, NULL, 'b'}, {"asymmetric", required_argument, NULL, 'a'},
      {"dir", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  const char *dir = NULL, *isolate = NULL, *asym_from = NULL;
  int shape = 0, n_shapes = 0;
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'i': isolate = optarg, shape = ch, n_shapes++; break;
    case 'a': asym_from = optarg, shape = ch, n_shapes++; break;
    case 'l': case 'm': case 'r': case 'b': shape = ch, n_shapes++; break;
    case 'd': dir = optarg; break;
    case 'h': ctl_usage(stdout, CMD); return CTL_EXIT_OK;
    default: return ctl_usage_error(CMD, "bad option");
    }
  }
  /* Positional words: the groups (one word, or the '|' given apart), or
  ** the TO node of --asymmetric. */
  char spec[SPEC_MAX];
  size_t len = 0;
  spec[0] = '\0';
  for (int i = optind; i < argc; i++) {
    int w = snprintf(spec + len, sizeof spec - len, "%s%s", len ? " " : "", argv[i]);
    if (w < 0 || (size_t)w >= sizeof spec - len) return ctl_usage_error(CMD, "partition too long");
    len += (size_t)w;
  }
  if (n_shapes > 1) return ctl_usage_error(CMD, "one shape at a time");
  if (shape == 'a' && (optind + 1 != argc))
    return ctl_usage_error(CMD, "--asymmetric FROM TO: want one TO node");
  if (shape && shape != 'a' && len)
    return ctl_usage_error(CMD, "unexpected argument '%s' with a shape flag", spec);
  if (!shape && !len) return ctl_usage_error(CMD, "which partition? (groups or a shape flag)");

  ctl_ctx *ctx = NULL;
  int rc = open_cluster(CMD, dir, &ctx);
  if (rc) return rc;
  ctl_cut *k = calloc(1, sizeof *k);
  syn_err err;
  syn_err_clear(&err);
  char leader[CTL_NAME_MAX] = "", what[64];
  const ctl_conf *c = &ctx->conf;
  if (!k) {
    rc = syn_err_set(&err, SYN_ENOMEM, "out of memory");
  } else if (shape == 'i') {
    snprintf(what, sizeof what, "isolate %s", isolate);
    rc = ctl_cut_isolate(c, isolate, k, &err);
  } else if (shape == 'l') {
    find_leader(ctx, leader, sizeof leader);
    snprintf(what, sizeof what, "leader-alone %s", leader);
    rc = leader[0] ? ctl_cut_isolate(c, leader, k, &err)
                   : syn_err_set(&err, SYN_ENOTFOUND, "no coordinator answers as leader");
  } else if (shape == 'm') {
    find_leader(ctx, leader, sizeof leader);
    snprintf(what, sizeof what, "majority-minority leader=%s", leader[0] ? leader : "none");
    rc = ctl_cut_majority_minority(c, leader, k, &err);
  } else if (shape == 'r') {
    snprintf(what, sizeof what, "ring");
    rc = ctl_cut_ring(c, k, &err);
  } else if (shape == 'b') {
    snprintf(what, sizeof what, "bridge");
    rc = ctl_cut_bridge(c, k, &err);
  } else if (shape == 'a') {
    snprintf(what, sizeof what, "asymmetric %s->%s", asym_from, spec);
    rc = ctl_cut_asymmetric(c, asym_from, spec, k, &err);
  } else {
    snprintf(what, sizeof what, "groups");
    rc = ctl_cut_groups(c, spec, k, &err);
  }
  int exit_code = CTL_EXIT_OK;
  if (rc) exit_code = rc == SYN_EINVAL || rc == SYN_ENOTFOUND ? ctl_usage_error(CMD, "%s", err.msg)
                                                                : ctl_fail(CMD, "%s", err.msg);
  else if (ctl_net_apply(ctx, k, &err)) {
    exit_code = ctl_fail(CMD, "%s", err.msg);
    /* Half a partition is worse than none: take it all back. */
    ctl_net_heal(ctx, NULL);
  } else {
    char *cuts = malloc(8192);
    if (cuts) describe(c, k, cuts, 8192);
    ctl_events_log(ctx->dir, "partition", "-", NULL, "shape=%s cuts=%s", what, cuts ? cuts : "?");
    printf("partition (%s): %d direction%s cut: %s\n", what, ctl_cut_count(k),
           ctl_cut_count(k) == 1 ? "" : "s", cuts ? cuts : "");
    free(cuts);
  }
  free(k);
  close_cluster(ctx);
  return exit_code;
}

int ctl_cmd_heal(int argc, char **argv) {
  static const char *CMD = "heal";
  static const struct option longopts[] = {
      {"dir", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  const char *dir = NULL;
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'd': dir = optarg; break;
    case 'h': ctl_usage(stdout, CMD); return CTL_EXIT_OK;
    default: return ctl_usage_error(CMD, "bad option");
    }
  }
  if (optind < argc) return ctl_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
  ctl_ctx *ctx = NULL;
  int rc = open_cluster(CMD, dir, &ctx);
  if (rc) return rc;
  syn_err err;
  int exit_code = CTL_EXIT_OK;
  if (ctl_net_heal(ctx, &err)) exit_code = ctl_fail(CMD, "%s", err.msg);
  else {
    ctl_events_log(ctx->dir, "heal", "-", NULL, "partitions=removed");
    printf("healed: every partition removed\n");
  }
  close_cluster(ctx);
  return exit_code;
}

/* netem NODE [--clear | --delay 50ms --loss 5% ...] [--dir DIR]: each
** --word VALUE... becomes tc netem's `word VALUE...`, so every netem option
** works without synodctl knowing them. */
int ctl_cmd_netem(int argc, char **argv) {
  static const char *CMD = "netem";
  const char *dir = NULL, *node = NULL;
  bool clear = false;
  char **args = calloc((size_t)argc + 1, sizeof *args);
  if (!args) return ctl_fail(CMD, "out of memory");
  int nargs = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--dir") == 0 && i + 1 < argc) dir = argv[++i];
    else if (strncmp(a, "--dir=", 6) == 0) dir = a + 6;
    else if (strcmp(a, "--clear") == 0) clear = true;
    else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      free(args);
      ctl_usage(stdout, CMD);
      return CTL_EXIT_OK;
    } else if (strncmp(a, "--", 2) == 0 && a[2]) args[nargs++] = argv[i] + 2;
    else if (!node && nargs == 0) node = a;
    else if (nargs > 0) args[nargs++] = argv[i];
    else {
      free(args);
      return ctl_usage_error(CMD, "unexpected argument '%s'", a);
    }
  }
  if (!node || (clear == (nargs > 0))) {
    free(args);
    return ctl_usage_error(CMD, "want NODE and either --clear or netem options");
  }
  ctl_ctx *ctx = NULL;
  int rc = open_cluster(CMD, dir, &ctx);
  if (rc) {
    free(args);
    return rc;
  }
  syn_err err;
  int exit_code = CTL_EXIT_OK;
  const ctl_node *n = ctl_conf_find(&ctx->conf, node);
  char desc[512];
  size_t len = 0;
  desc[0] = '\0';
  for (int i = 0; i < nargs; i++) {
    int w = snprintf(desc + len, sizeof desc - len, "%s%s", i ? " " : "", args[i]);
    if (w < 0 || (size_t)w >= sizeof desc - len) break;
    len += (size_t)w;
  }
  if (!n) exit_code = ctl_fail(CMD, "unknown node '%s'", node);
  else if (ctl_net_netem(ctx, n, clear ? NULL : args, nargs, &err)) exit_code = ctl_fail(CMD, "%s", err.msg);
  else {
    ctl_events_log(ctx->dir, "netem", n->name, NULL, "%s", clear ? "clear" : desc);
    printf("netem %s: %s\n", n->name, clear ? "cleared" : desc);
  }
  free(args);
  close_cluster(ctx);
  return exit_code;
}
