#include "coordinator/ctl/ctl_cmd.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coordinator/ctl/ctl_health.h"
#include "coordinator/ctl/ctl_net.h"
#include "coordinator/ctl/ctl_netplan.h"
#include "coordinator/ctl/ctl_proc.h"
#include "coordinator/ctl/ctl_tls.h"

#define PEER_LIST_MAX 4096

static const char *binary_name(ctl_role r) {
  return r == CTL_ROLE_COORDINATOR ? "synod-coordinator" : "synod-participant";
}

void ctl_node_paths_of(const ctl_ctx *ctx, const ctl_node *n, ctl_node_paths *p) {
  /* Names are at most 15 safe characters (ctl_conf), so these fit whenever
  ** the directory itself leaves room; truncation would only shorten paths
  ** of an absurdly deep DIR and then fail visibly on open. */
  int w = snprintf(p->dir, sizeof p->dir, "%.*s/%s", (int)(sizeof p->dir - CTL_NAME_MAX - 2), ctx->dir, n->name);
  w = snprintf(p->log, sizeof p->log, "%.*s/%s.log", (int)(sizeof p->log - 32), p->dir, n->name);
  w = snprintf(p->pidfile, sizeof p->pidfile, "%.*s/pid", (int)(sizeof p->pidfile - 8), p->dir);
  (void)w;
}

static void ident_of(const ctl_node *n, const ctl_node_paths *p, ctl_proc_ident *id) {
  id->binary = binary_name(n->role);
  id->name = n->name;
  id->dir = p->dir;
}

int ctl_node_live_pid(const ctl_ctx *ctx, const ctl_node *n) {
  ctl_node_paths p;
  ctl_node_paths_of(ctx, n, &p);
  int pid = 0;
  if (ctl_pidfile_read(p.pidfile, &pid, NULL) != 0) return 0;
  ctl_proc_ident id;
  ident_of(n, &p, &id);
  return ctl_proc_matches(pid, &id) ? pid : 0;
}

void ctl_node_observe(const ctl_ctx *ctx, const ctl_node *n, const ctl_node_paths *p,
                      ctl_node_state *s) {
  memset(s, 0, sizeof *s);
  s->node = n;
  s->data_dir = p->dir;
  s->log_file = p->log;
  ctl_net_node_addr(&ctx->conf, n, s->addr, sizeof s->addr);
  s->pid = ctl_node_live_pid(ctx, n);
  if (s->pid <= 0) return;
  /* A stopped process cannot answer; probing it would only cost a timeout. */
  s->paused = ctl_proc_stopped(s->pid);
  if (s->paused) return;
  ctl_health h;
  if (ctl_health_probe(s->addr, n->rpc_port, ctx->secret, ctx->secret_len, CTL_PROBE_MS, &h,
                       NULL) == 0 &&
      strcmp(h.node, n->name) == 0) {
    s->healthy = true;
    s->leader = h.leader;
    s->paxos = h.paxos;
  }
}

int ctl_node_check_ports(const ctl_ctx *ctx, const ctl_node *n, syn_err *err) {
  /* A node in its own namespace has that namespace's ports to itself; the
  ** host could not bind its address anyway. */
  if (ctx->conf.netns) return 0;
  if (!ctl_port_free(CTL_HOST, n->rpc_port))
    return syn_err_set(err, SYN_EBUSY, "port %d (rpc of %s) is busy: something else listens on %s:%d",
                       n->rpc_port, n->name, CTL_HOST, n->rpc_port);
  if (n->sql_port && !ctl_port_free(CTL_HOST, n->sql_port))
    return syn_err_set(err, SYN_EBUSY, "port %d (sql of %s) is busy: something else listens on %s:%d",
                       n->sql_port, n->name, CTL_HOST, n->sql_port);
  return 0;
}

/* Locate the daemon binary: an explicit override, then the places meson
** builds put it relative to synodctl, then an install next to synodctl. */
static int find_binary(const ctl_ctx *ctx, ctl_role role, char *out, size_t cap, syn_err *err) {
  const char *env = getenv(role == CTL_ROLE_COORDINATOR ? "SYNOD_COORDINATOR_BIN" : "SYNOD_PARTICIPANT_BIN");
  if (env && *env) {
    if (access(env, X_OK) != 0)
      return syn_err_set(err, SYN_ENOTFOUND, "%s=%s is not executable",
                         role == CTL_ROLE_COORDINATOR ? "SYNOD_COORDINATOR_BIN" : "SYNOD_PARTICIPANT_BIN", env);
    snprintf(out, cap, "%s", env);
    return 0;
  }
  const char *bin = binary_name(role);
  const char *rel[] = {
      role == CTL_ROLE_COORDINATOR ? ".." : "../../participant", /* build/coordinator/ctl */
      ".",
  };
  for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
    char cand[PATH_MAX + 64];
    snprintf(cand, sizeof cand, "%s/%s/%s", ctx->exe_dir, rel[i], bin);
    char real[PATH_MAX];
    if (access(cand, X_OK) == 0 && realpath(cand, real)) {
      snprintf(out, cap, "%s", real);
      return 0;
    }
  }
  return syn_err_set(err, SYN_ENOTFOUND, "cannot find %s near %s (build it, or set %s)", bin, ctx->exe_dir,
                     role == CTL_ROLE_COORDINATOR ? "SYNOD_COORDINATOR_BIN" : "SYNOD_PARTICIPANT_BIN");
}

/* "c1=127.0.0.1:5533,c2=..." for every node of a role. */
static int peer_list(const ctl_conf *c, ctl_role role, char *out, size_t cap) {
  char addr[CTL_NET_ADDR_MAX];
  size_t len = 0;
  out[0] = '\0';
  for (int i = 0; i < c->n_nodes; i++) {
    const ctl_node *o = &c->nodes[i];
    if (o->role != role) continue;
    ctl_net_node_addr(c, o, addr, sizeof addr);
    int w = snprintf(out + len, cap - len, "%s%s=%s:%d", len ? "," : "", o->name, addr, o->rpc_port);
    if (w < 0 || (size_t)w >= cap - len) return SYN_ERANGE;
    len += (size_t)w;
  }
  return 0;
}

int ctl_node_spawn(const ctl_ctx *ctx, const ctl_node *n, bool rejoin, int *pid, syn_err *err) {
  ctl_node_paths p;
  ctl_node_paths_of(ctx, n, &p);
  if (mkdir(p.dir, 0755) != 0 && errno != EEXIST)
    return syn_err_set(err, SYN_EIO, "mkdir %s: %s", p.dir, strerror(errno));
  char bin[PATH_MAX];
  int rc = find_binary(ctx, n->role, bin, sizeof bin, err);
  if (rc) return rc;
  char rpc_port[16], sql_port[16];
  snprintf(rpc_port, sizeof rpc_port, "%d", n->rpc_port);
  snprintf(sql_port, sizeof sql_port, "%d", n->sql_port);
  char *peers = malloc(PEER_LIST_MAX), *others = malloc(PEER_LIST_MAX);
  if (!peers || !others) {
    free(peers);
    free(others);
    return syn_err_set(err, SYN_ENOMEM, "out of memory");
  }
  const char *argv[40];
  int a = 0;
  char tls_cert[PATH_MAX + 64], tls_key[PATH_MAX + 64], hba_path[PATH_MAX + 16];
  /* netns: `ip netns exec NS BIN ...` enters the namespace and execs the
  ** daemon in the same process, so the recorded pid is the daemon's. */
  char ipt[64], ns[CTL_NET_NSNAME_MAX], host[CTL_NET_ADDR_MAX];
  ctl_net_node_addr(&ctx->conf, n, host, sizeof host);
  if (ctx->conf.netns) {
    if ((rc = ctl_net_tool(false, ipt, sizeof ipt, err))) {
      free(peers);
      free(others);
      return rc;
    }
    ctl_net_ns_name(&ctx->conf, n, ns, sizeof ns);
    argv[a++] = ipt;
    argv[a++] = "netns";
    argv[a++] = "exec";
    argv[a++] = ns;
  }
  argv[a++] = bin;
  argv[a++] = "--name";
  argv[a++] = n->name;
  argv[a++] = "--dir";
  argv[a++] = p.dir;
  argv[a++] = "--host";
  argv[a++] = host;
  argv[a++] = "--rpc-port";
  argv[a++] = rpc_port;
  if (n->role == CTL_ROLE_COORDINATOR) {
    argv[a++] = "--sql-port";
    argv[a++] = sql_port;
    if (peer_list(&ctx->conf, CTL_ROLE_PARTICIPANT, others, PEER_LIST_MAX) ||
        peer_list(&ctx->conf, CTL_ROLE_COORDINATOR, peers, PEER_LIST_MAX))
      rc = syn_err_set(err, SYN_ERANGE, "peer list too long");
    argv[a++] = "--participants";
    argv[a++] = others;
    argv[a++] = "--peers";
    argv[a++] = peers;
    /* Always passed, so a coordinator started by `start NODE` gets the
    ** recorded level too, whatever its built-in default. */
    argv[a++] = "--default-isolation";
    argv[a++] = ctl_isolation_name(ctx->conf.default_isolation);
    /* TLS and the rules file are on when their files exist in DIR
    ** (synodctl up --tls / --hba put them there). */
    if (ctl_tls_enabled(ctx, n)) {
      ctl_tls_paths(ctx, n, tls_cert, tls_key, sizeof tls_cert);
      argv[a++] = "--tls-cert";
      argv[a++] = tls_cert;
      argv[a++] = "--tls-key";
      argv[a++] = tls_key;
    }
    snprintf(hba_path, sizeof hba_path, "%s/hba.conf", ctx->dir);
    if (access(hba_path, F_OK) == 0) {
      argv[a++] = "--hba";
      argv[a++] = hba_path;
    }
  } else {
    if (peer_list(&ctx->conf, CTL_ROLE_COORDINATOR, others, PEER_LIST_MAX))
      rc = syn_err_set(err, SYN_ERANGE, "coordinator list too long");
    argv[a++] = "--coordinators";
    argv[a++] = others;
  }
  char conninfo[CTL_PG_CONNINFO_MAX + PATH_MAX + 64];
  if (ctl_pg_node_conninfo(ctx, n, conninfo, sizeof conninfo)) {
    argv[a++] = "--backend";
    argv[a++] = "postgres";
    argv[a++] = "--pg-conninfo";
    argv[a++] = conninfo;
  }
  const char *level = getenv("SYNOD_LOG_LEVEL");
  if (level && *level) {
    argv[a++] = "--log-level";
    argv[a++] = level;
  }
  if (rejoin && n->role == CTL_ROLE_COORDINATOR) argv[a++] = "--rejoin";
  argv[a++] = "--log-file";
  argv[a++] = p.log;
  char secret_path[PATH_MAX + 16];
  if (ctx->secret_len) {
    ctl_ctx_secret_path(ctx, secret_path, sizeof secret_path);
    argv[a++] = "--secret-file";
    argv[a++] = secret_path;
  }
  argv[a] = NULL;
  if (!rc) rc = ctl_proc_spawn((char *const *)argv, p.log, pid, err);
  if (!rc) {
    rc = ctl_pidfile_write(p.pidfile, *pid, err);
    /* Without a pid file nobody could find this process again: stop it. */
    if (rc) {
      kill(*pid, SIGKILL);
      waitpid(*pid, NULL, 0);
    }
  }
  free(peers);
  free(others);
  if (rc) syn_err_wrap(err, "start %s", n->name);
  return rc;
}

void ctl_node_print_log_tail(const ctl_node_paths *p, int lines) {
  FILE *f = fopen(p->log, "r");
  if (!f) return;
  char buf[8192];
  if (fseek(f, 0, SEEK_END) == 0) {
    long size = ftell(f);
    long from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
    fseek(f, from, SEEK_SET);
  }
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  if (n && buf[n - 1] == '\n') buf[--n] = '\0';
  char *start = buf + n;
  for (int seen = 0; start > buf; start--)
    if (start[-1] == '\n' && ++seen == lines) break;
  if (n == 0) {
    fprintf(stderr, "  %s is empty\n", p->log);
    return;
  }
  fprintf(stderr, "  last lines of %s:\n", p->log);
  for (char *line = start; line && *line;) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    fprintf(stderr, "    %s\n", line);
    line = nl ? nl + 1 : NULL;
  }
}

int ctl_node_wait_healthy(const ctl_ctx *ctx, const ctl_node *const *nodes, const int *pids,
                          int n, syn_err *err) {
  bool *ok = calloc((size_t)n + 1, sizeof *ok);
  if (!ok) return syn_err_set(err, SYN_ENOMEM, "out of memory");
  long long deadline = ctl_now_ms() + CTL_HEALTH_WAIT_MS;
  int left = n, rc = 0;
  while (left > 0 && !rc) {
    for (int i = 0; i < n && !rc; i++) {
      if (ok[i]) continue;
      ctl_node_paths p;
      ctl_node_paths_of(ctx, nodes[i], &p);
      int status = 0;
      if (ctl_proc_reap(pids[i], &status)) {
        if (WIFEXITED(status))
          rc = syn_err_set(err, SYN_EIO, "%s exited with status %d while starting (log: %s)", nodes[i]->name,
                           WEXITSTATUS(status), p.log);
        else
          rc = syn_err_set(err, SYN_EIO, "%s died of signal %d while starting (log: %s)", nodes[i]->name,
                           WTERMSIG(status), p.log);
        ctl_node_print_log_tail(&p, 5);
        break;
      }
      ctl_health h;
      char addr[CTL_NET_ADDR_MAX];
      ctl_net_node_addr(&ctx->conf, nodes[i], addr, sizeof addr);
      if (ctl_health_probe(addr, nodes[i]->rpc_port, ctx->secret, ctx->secret_len,
                           CTL_PROBE_MS, &h, NULL) == 0 &&
          strcmp(h.node, nodes[i]->name) == 0) {
        ok[i] = true;
        left--;
      }
    }
    if (rc || left == 0) break;
    if (ctl_now_ms() >= deadline) {
      char names[512];
      size_t len = 0;
      names[0] = '\0';
      for (int i = 0; i < n; i++) {
        if (ok[i]) continue;
        int w = snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "", nodes[i]->name);
        if (w < 0 || (size_t)w >= sizeof names - len) break;
        len += (size_t)w;
      }
      rc = syn_err_set(err, SYN_ETIMEDOUT, "no health answer within %d s from: %s (see DIR/<node>/<node>.log)",
                       CTL_HEALTH_WAIT_MS / 1000, names);
      for (int i = 0; i < n; i++) {
        if (ok[i]) continue;
        ctl_node_paths p;
        ctl_node_paths_of(ctx, nodes[i], &p);
        ctl_node_print_log_tail(&p, 5);
      }
      break;
    }
    ctl_sleep_ms(100);
  }
  free(ok);
  return rc;
}

bool ctl_node_wait_gone(const ctl_ctx *ctx, const ctl_node *n, int pid, int timeout_ms) {
  ctl_node_paths p;
  ctl_node_paths_of(ctx, n, &p);
  ctl_proc_ident id;
  ident_of(n, &p, &id);
  return ctl_proc_wait_gone(pid, &id, timeout_ms);
}
