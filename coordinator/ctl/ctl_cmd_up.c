/*
** synodctl up: create the cluster on first use, afterwards start whatever
** part of it is not running, and wait until every node answers health.
*/
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coordinator/ctl/ctl_cmd.h"
#include "coordinator/ctl/ctl_events.h"
#include "coordinator/ctl/ctl_net.h"
#include "coordinator/ctl/ctl_opts.h"
#include "coordinator/ctl/ctl_tls.h"
#include "sql/pgwire/pgw_auth.h"

#define CMD "up"

typedef struct up_opts {
  const char *dir;
  const char *backend;
  const char *pg; /* --pg CONNINFO: an existing server */
  const char *hba; /* --hba FILE: copied to DIR/hba.conf */
  bool tls;        /* --tls: DIR/tls/ CA and coordinator certificates */
  int coordinators, participants, base_port;
  ctl_isolation isolation;
  bool netns;
  bool set_coordinators, set_participants, set_base_port, set_backend, set_isolation;
} up_opts;

static int parse(int argc, char **argv, up_opts *o) {
  static const struct option longopts[] = {
      {"coordinators", required_argument, NULL, 'c'}, {"participants", required_argument, NULL, 'p'},
      {"backend", required_argument, NULL, 'b'},      {"port", required_argument, NULL, 'P'},
      {"dir", required_argument, NULL, 'd'},          {"help", no_argument, NULL, 'h'},
      {"default-isolation", required_argument, NULL, 'i'},
      {"pg", required_argument, NULL, 'g'},
      {"tls", no_argument, NULL, 't'},
      {"hba", required_argument, NULL, 'a'},
      {"netns", no_argument, NULL, 'n'},
      {NULL, 0, NULL, 0},
  };
  *o = (up_opts){.backend = "sqlite", .coordinators = 3, .participants = 3, .base_port = 5433};
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'c':
      /* The group is fixed at creation (docs/operations.md). An even size
      ** buys nothing: 2 tolerate no failure, as 1; 4 tolerate one, as 3,
      ** and need a larger majority for every decision. */
      if (!ctl_parse_int(optarg, 1, CTL_MAX_PER_ROLE, &o->coordinators) ||
          (o->coordinators != 1 && o->coordinators != 3 && o->coordinators != 5))
        return ctl_usage_error(CMD, "--coordinators: want 1, 3 or 5, got '%s' (an even group "
                               "tolerates no more failures than the odd one below it; more than "
                               "5 only slows every decision)", optarg);
      o->set_coordinators = true;
      break;
    case 'p':
      if (!ctl_parse_int(optarg, 1, CTL_MAX_PER_ROLE, &o->participants))
        return ctl_usage_error(CMD, "--participants: want 1..%d, got '%s'", CTL_MAX_PER_ROLE, optarg);
      o->set_participants = true;
      break;
    case 'b':
      if (strcmp(optarg, "sqlite") != 0 && strcmp(optarg, "postgres") != 0 && strcmp(optarg, "mixed") != 0)
        return ctl_usage_error(CMD, "--backend: want sqlite, postgres or mixed, got '%s'", optarg);
      o->backend = optarg;
      o->set_backend = true;
      break;
    case 'P':
      if (!ctl_parse_int(optarg, 1, 65535 - CTL_PORT_SPAN, &o->base_port))
        return ctl_usage_error(CMD, "--port: want 1..%d (the cluster uses BASE..BASE+%d), got '%s'",
                               65535 - CTL_PORT_SPAN, CTL_PORT_SPAN - 1, optarg);
      o->set_base_port = true;
      break;
    case 'i': {
      syn_err e;
      if (ctl_isolation_parse(optarg, &o->isolation, &e))
        return ctl_usage_error(CMD, "--default-isolation: %s", e.msg);
      o->set_isolation = true;
      break;
    }
    case 'g':
      if (!*optarg || strlen(optarg) >= CTL_PG_CONNINFO_MAX || strchr(optarg, '#') || strchr(optarg, '\n'))
        return ctl_usage_error(CMD, "--pg: want a libpq conninfo under %d bytes without '#'",
                               CTL_PG_CONNINFO_MAX);
      o->pg = optarg;
      break;
    case 'd': o->dir = optarg; break;
    case 't': o->tls = true; break;
    case 'a': {
      /* Checked here, so a typo fails `up` with the line number instead of
      ** leaving coordinators that refuse to start. */
      pgw_hba *h = NULL;
      syn_err e;
      if (pgw_hba_load(optarg, &h, &e)) return ctl_usage_error(CMD, "--hba: %s", e.msg);
      pgw_hba_free(h);
      o->hba = optarg;
      break;
    }
    case 'n': o->netns = true; break;
    case 'h': ctl_usage(stdout, CMD); return CTL_HELP_SHOWN;
    default: return ctl_usage_error(CMD, "bad option");
    }
  }
  if (optind < argc) return ctl_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
  if (o->pg && o->set_backend && strcmp(o->backend, "sqlite") == 0)
    return ctl_usage_error(CMD, "--pg needs --backend postgres or mixed");
  return 0;
}

/* A flag given explicitly must agree with the recorded cluster: silently
** ignoring --coordinators 5 on a 3-coordinator cluster would mislead. */
static int check_contradictions(const up_opts *o, const ctl_ctx *ctx) {
  const ctl_conf *c = &ctx->conf;
  const char *what = NULL;
  int want = 0, have = 0;
  if (o->set_coordinators && o->coordinators != c->n_coordinators)
    what = "--coordinators", want = o->coordinators, have = c->n_coordinators;
  else if (o->set_participants && o->participants != c->n_participants)
    what = "--participants", want = o->participants, have = c->n_participants;
  else if (o->set_base_port && o->base_port != c->base_port)
    what = "--port", want = o->base_port, have = c->base_port;
  if (what)
    return ctl_usage_error(CMD, "%s %d contradicts the existing cluster in %s (it has %d); "
                           "use another --dir or omit the flag", what, want, ctx->dir, have);
  if (o->netns && !c->netns)
    return ctl_usage_error(CMD, "--netns contradicts the existing cluster in %s (it runs on loopback)", ctx->dir);
  if (o->set_backend && strcmp(o->backend, c->backend) != 0)
    return ctl_usage_error(CMD, "--backend %s contradicts the existing cluster in %s (backend %s)", o->backend,
                           ctx->dir, c->backend);
  if (o->pg && strcmp(o->pg, c->pg_conninfo) != 0)
    return ctl_usage_error(CMD, "--pg contradicts the existing cluster in %s (%s)", ctx->dir,
                           c->pg_conninfo[0] ? "another pg-conninfo" : "it has no pg-conninfo");
  /* The level is fixed when the cluster is created: changing it would need
  ** every coordinator restarted, and sessions already open would keep the
  ** old one, so it is refused like the other recorded settings. */
  if (o->set_isolation && o->isolation != c->default_isolation)
    return ctl_usage_error(CMD, "--default-isolation '%s' contradicts the existing cluster in %s "
                           "(recorded default isolation '%s'); use another --dir or omit the flag",
                           ctl_isolation_name(o->isolation), ctx->dir,
                           ctl_isolation_name(c->default_isolation));
  return 0;
}

/* DIR/hba.conf := FILE (temp file, fsync, rename: never half a rules file). */
static int copy_hba(const ctl_ctx *ctx, const char *from, syn_err *err) {
  char path[PATH_MAX + 16], tmp[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/hba.conf", ctx->dir);
  snprintf(tmp, sizeof tmp, "%s/hba.conf.tmp", ctx->dir);
  FILE *in = fopen(from, "rb");
  if (!in) return syn_err_set(err, SYN_EIO, "--hba %s: %s", from, strerror(errno));
  FILE *out = fopen(tmp, "wb");
  if (!out) {
    fclose(in);
    return syn_err_set(err, SYN_EIO, "%s: %s", tmp, strerror(errno));
  }
  char buf[8192];
  size_t n;
  bool ok = true;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0)
    if (fwrite(buf, 1, n, out) != n) ok = false;
  if (ferror(in)) ok = false;
  fclose(in);
  if (fflush(out) != 0 || fsync(fileno(out)) != 0) ok = false;
  if (fclose(out) != 0) ok = false;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return syn_err_set(err, SYN_EIO, "writing %s failed", path);
  }
  return 0;
}

static void print_cluster(const ctl_ctx *ctx, FILE *f) {
  const ctl_conf *c = &ctx->conf;
  ctl_node_paths *paths = calloc((size_t)c->n_nodes, sizeof *paths);
  ctl_node_state *st = calloc((size_t)c->n_nodes, sizeof *st);
  if (!paths || !st) {
    free(paths);
    free(st);
    return;
  }
  for (int i = 0; i < c->n_nodes; i++) {
    ctl_node_paths_of(ctx, &c->nodes[i], &paths[i]);
    ctl_node_observe(ctx, &c->nodes[i], &paths[i], &st[i]);
  }
  ctl_status_print_text(f, CTL_HOST, st, c->n_nodes);
  ctl_pg_status(ctx, f);
  for (int i = 0; i < c->n_nodes; i++) {
    if (c->nodes[i].role != CTL_ROLE_COORDINATOR) continue;
    if (ctl_tls_enabled(ctx, &c->nodes[i]))
      fprintf(f, "psql \"host=localhost port=%d user=postgres sslmode=verify-full "
              "sslrootcert=%s/tls/ca.crt\"    # %s\n", c->nodes[i].sql_port, ctx->dir,
              c->nodes[i].name);
    else
      fprintf(f, "psql -h %s -p %d -U postgres    # %s\n", st[i].addr, c->nodes[i].sql_port,
              c->nodes[i].name);
  }
  free(paths);
  free(st);
}

int ctl_cmd_up(int argc, char **argv) {
  up_opts o;
  int rc = parse(argc, argv, &o);
  if (rc) return rc == CTL_HELP_SHOWN ? CTL_EXIT_OK : rc;
  syn_err err;
  syn_err_clear(&err);
  ctl_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return ctl_fail(CMD, "out of memory");
  int exit_code = CTL_EXIT_OK;
  int *pids = NULL;
  const ctl_node **started = NULL;
  bool have_conf = false;
  /* The lock is taken before cluster.conf is read, so two concurrent `up`
  ** runs cannot both create a cluster or both start the same node. */
  if (ctl_ctx_open(ctx, ctl_default_dir(o.dir), true, &err) || ctl_ctx_lock(ctx, &err) ||
      ctl_ctx_load(ctx, &have_conf, &err)) {
    exit_code = ctl_fail(CMD, "%s", err.msg);
    goto out;
  }
  if (have_conf) {
    if ((exit_code = check_contradictions(&o, ctx))) goto out;
  } else if (o.pg && strcmp(o.backend, "sqlite") == 0) {
    exit_code = ctl_usage_error(CMD, "--pg needs --backend postgres or mixed");
    goto out;
  } else if (ctl_conf_build(&ctx->conf, o.coordinators, o.participants, o.base_port, o.backend, &err)) {
    exit_code = ctl_usage_error(CMD, "%s", err.msg);
    goto out;
  } else {
    ctx->conf.default_isolation = o.isolation;
    ctx->conf.netns = o.netns;
    /* PostgreSQL participants: an existing server, or a private one on the
    ** cluster range's last port (no node uses BASE+299). */
    if (ctl_conf_uses_pg(&ctx->conf)) {
      if (o.pg) snprintf(ctx->conf.pg_conninfo, sizeof ctx->conf.pg_conninfo, "%s", o.pg);
      else ctx->conf.pg_port = ctx->conf.base_port + CTL_PORT_SPAN - 1;
    }
  }
  /* Every node of the cluster proves this secret to its RPC peers. */
  if (ctl_ctx_secret(ctx, true, &err)) {
    exit_code = ctl_fail(CMD, "%s", err.msg);
    goto out;
  }
  /* TLS files and the rules file, before any coordinator starts: the
  ** spawn passes them when they exist. */
  if (o.tls && ctl_tls_ensure(ctx, &err)) {
    exit_code = ctl_fail(CMD, "%s", err.msg);
    goto out;
  }
  if (o.hba && copy_hba(ctx, o.hba, &err)) {
    exit_code = ctl_fail(CMD, "%s", err.msg);
    goto out;
  }
  const ctl_conf *c = &ctx->conf;
  pids = calloc((size_t)c->n_nodes, sizeof *pids);
  started = calloc((size_t)c->n_nodes, sizeof *started);
  if (!pids || !started) {
    exit_code = ctl_fail(CMD, "out of memory");
    goto out;
  }
  /* Which nodes need starting, and are their ports free? Checked for all
  ** before starting any, so a busy port leaves nothing half-started. */
  int n_dead = 0;
  for (int i = 0; i < c->n_nodes; i++) {
    if (ctl_node_live_pid(ctx, &c->nodes[i]) > 0) continue;
    if (ctl_node_check_ports(ctx, &c->nodes[i], &err)) {
      exit_code = ctl_fail(CMD, "%s; refusing to start (choose another --port%s)", err.msg,
                           have_conf ? " with a new --dir" : "");
      goto out;
    }
    started[n_dead++] = &c->nodes[i];
  }
  if (!have_conf) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/cluster.conf", ctx->dir);
    if (ctl_conf_save(path, c, &err)) {
      exit_code = ctl_fail(CMD, "%s", err.msg);
      goto out;
    }
    printf("created cluster in %s: %d coordinators, %d participants, ports from %d, "
           "default isolation %s\n",
           ctx->dir, c->n_coordinators, c->n_participants, c->base_port,
           ctl_isolation_name(c->default_isolation));
  }
  if (n_dead == 0) {
    if (ctl_pg_up(ctx, &err)) {
      exit_code = ctl_fail(CMD, "%s", err.msg);
      goto out;
    }
    printf("cluster in %s is already running; nothing started\n", ctx->dir);
    if (o.tls || o.hba)
      printf("note: coordinators read TLS files and the rules file when they start; "
             "run 'synodctl down' and 'up' again for --tls/--hba to take effect\n");
    print_cluster(ctx, stdout);
    goto out;
  }
  /* The participants' server (and their databases) before the nodes; the
  ** namespaces too, since nodes start inside them. */
  if (ctl_pg_up(ctx, &err) || ctl_net_up(ctx, &err)) {
    exit_code = ctl_fail(CMD, "%s", err.msg);
    goto out;
  }
  for (int i = 0; i < n_dead; i++) {
    if (ctl_node_spawn(ctx, started[i], false, &pids[i], &err)) {
      exit_code = ctl_fail(CMD, "%s", err.msg);
      n_dead = i; /* wait below only for what did start */
      break;
    }
    ctl_events_log(ctx->dir, "up", started[i]->name, NULL, "pid=%d", pids[i]);
  }
  if (n_dead > 0 && ctl_node_wait_healthy(ctx, started, pids, n_dead, &err)) {
    exit_code = ctl_fail(CMD, "%s; nodes that did start keep running ('synodctl down' stops them)", err.msg);
    goto out;
  }
  if (exit_code) goto out;
  printf("started %d node%s in %s\n", n_dead, n_dead == 1 ? "" : "s", ctx->dir);
  print_cluster(ctx, stdout);
out:
  free(pids);
  free(started);
  ctl_ctx_close(ctx);
  free(ctx);
  return exit_code;
}
