#include "coordinator/ctl/ctl_net.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define RUN_ERR_MAX 512
#define ARGV_MAX 40

int ctl_net_tool(bool tc, char *out, size_t cap, syn_err *err) {
  static const char *const dirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
    snprintf(out, cap, "%s/%s", dirs[i], tc ? "tc" : "ip");
    if (access(out, X_OK) == 0) return 0;
  }
  return syn_err_set(err, SYN_ENOTFOUND, "iproute2's %s not found (apt-get install iproute2)",
                     tc ? "tc" : "ip");
}

int ctl_net_run(char *const argv[], syn_err *err) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return syn_err_set(err, SYN_EIO, "pipe: %s", strerror(errno));
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(p[0]);
    close(p[1]);
    return syn_err_set(err, SYN_EIO, "fork: %s", strerror(e));
  }
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) dup2(devnull, 0), dup2(devnull, 1);
    dup2(p[1], 2);
    execv(argv[0], argv);
    dprintf(2, "exec %s: %s", argv[0], strerror(errno));
    _exit(127);
  }
  close(p[1]);
  char msg[RUN_ERR_MAX];
  size_t len = 0;
  for (;;) {
    ssize_t r = read(p[0], msg + len, sizeof msg - 1 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    len += (size_t)r;
    if (len == sizeof msg - 1) break;
  }
  close(p[0]);
  msg[len] = '\0';
  while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' ')) msg[--len] = '\0';
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
  char cmd[256];
  size_t cl = 0;
  cmd[0] = '\0';
  for (int i = 0; argv[i] && cl < sizeof cmd - 1; i++) {
    const char *word = argv[i];
    if (i == 0 && strrchr(word, '/')) word = strrchr(word, '/') + 1;
    int w = snprintf(cmd + cl, sizeof cmd - cl, "%s%s", i ? " " : "", word);
    if (w < 0) break;
    cl += (size_t)w;
  }
  return syn_err_set(err, SYN_EIO, "`%s` failed: %s", cmd, len ? msg : "(no message)");
}

/* Run the ip tool with the given arguments (NULL-terminated list). */
static int ip(syn_err *err, ...) __attribute__((sentinel));
static int ip(syn_err *err, ...) {
  char tool[64];
  int rc = ctl_net_tool(false, tool, sizeof tool, err);
  if (rc) return rc;
  char *argv[ARGV_MAX];
  int a = 0;
  argv[a++] = tool;
  va_list ap;
  va_start(ap, err);
  for (char *s; a < ARGV_MAX - 1 && (s = va_arg(ap, char *));) argv[a++] = s;
  va_end(ap);
  argv[a] = NULL;
  return ctl_net_run(argv, err);
}

static bool ns_exists(const char *ns) {
  char path[128];
  snprintf(path, sizeof path, "/run/netns/%s", ns);
  return access(path, F_OK) == 0;
}

static bool link_exists(const char *ifname) { return if_nametoindex(ifname) != 0; }

int ctl_net_up(const ctl_ctx *ctx, syn_err *err) {
  const ctl_conf *c = &ctx->conf;
  if (!c->netns) return 0;
  char br[CTL_NET_IFNAME_MAX], host[CTL_NET_ADDR_MAX + 4];
  ctl_net_bridge_name(c, br, sizeof br);
  ctl_net_host_addr(c, host, CTL_NET_ADDR_MAX);
  strcat(host, "/24");
  int rc = 0;
  if (!link_exists(br)) {
    rc = ip(err, "link", "add", br, "type", "bridge", (char *)NULL);
    if (!rc) rc = ip(err, "addr", "add", host, "dev", br, (char *)NULL);
  }
  if (!rc) rc = ip(err, "link", "set", br, "up", (char *)NULL);
  for (int i = 0; !rc && i < c->n_nodes; i++) {
    const ctl_node *n = &c->nodes[i];
    char ns[CTL_NET_NSNAME_MAX], veth[CTL_NET_IFNAME_MAX], addr[CTL_NET_ADDR_MAX + 4];
    ctl_net_ns_name(c, n, ns, sizeof ns);
    ctl_net_veth_name(c, n, veth, sizeof veth);
    ctl_net_node_addr(c, n, addr, CTL_NET_ADDR_MAX);
    strcat(addr, "/24");
    if (!ns_exists(ns)) rc = ip(err, "netns", "add", ns, (char *)NULL);
    if (!rc && !link_exists(veth)) {
      /* The inside end is created in the namespace directly, as eth0. */
      rc = ip(err, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns, (char *)NULL);
      if (!rc) rc = ip(err, "-n", ns, "addr", "add", addr, "dev", "eth0", (char *)NULL);
    }
    if (!rc) rc = ip(err, "link", "set", veth, "master", br, "up", (char *)NULL);
    if (!rc) rc = ip(err, "-n", ns, "link", "set", "eth0", "up", (char *)NULL);
    if (!rc) rc = ip(err, "-n", ns, "link", "set", "lo", "up", (char *)NULL);
  }
  if (rc) syn_err_wrap(err, "network namespaces");
  return rc;
}

int ctl_net_down(const ctl_ctx *ctx, syn_err *err) {
  const ctl_conf *c = &ctx->conf;
  if (!c->netns) return 0;
  int first = 0;
  syn_err e;
  for (int i = 0; i < c->n_nodes; i++) {
    char ns[CTL_NET_NSNAME_MAX], veth[CTL_NET_IFNAME_MAX];
    ctl_net_ns_name(c, &c->nodes[i], ns, sizeof ns);
    ctl_net_veth_name(c, &c->nodes[i], veth, sizeof veth);
    int rc = 0;
    /* Deleting one end of a veth deletes both. */
    if (link_exists(veth)) rc = ip(&e, "link", "del", veth, (char *)NULL);
    if (!rc && ns_exists(ns)) rc = ip(&e, "netns", "del", ns, (char *)NULL);
    if (rc && !first) first = syn_err_set(err, rc, "%s", e.msg);
  }
  char br[CTL_NET_IFNAME_MAX];
  ctl_net_bridge_name(c, br, sizeof br);
  if (link_exists(br)) {
    int rc = ip(&e, "link", "del", br, (char *)NULL);
    if (rc && !first) first = syn_err_set(err, rc, "%s", e.msg);
  }
  return first;
}

static int need_netns(const ctl_ctx *ctx, syn_err *err) {
  if (ctx->conf.netns) return 0;
  return syn_err_set(err, SYN_EUNSUPPORTED,
                     "the cluster in %s runs on loopback; partitions and netem need a cluster "
                     "created with `synodctl up --netns`", ctx->dir);
}

int ctl_net_heal(const ctl_ctx *ctx, syn_err *err) {
  int rc = need_netns(ctx, err);
  const ctl_conf *c = &ctx->conf;
  for (int i = 0; !rc && i < c->n_nodes; i++) {
    char ns[CTL_NET_NSNAME_MAX];
    ctl_net_ns_name(c, &c->nodes[i], ns, sizeof ns);
    if (!ns_exists(ns)) continue;
    rc = ip(err, "-n", ns, "route", "flush", "type", "unreachable", (char *)NULL);
  }
  return rc;
}

int ctl_net_apply(const ctl_ctx *ctx, const ctl_cut *k, syn_err *err) {
  int rc = ctl_net_heal(ctx, err);
  const ctl_conf *c = &ctx->conf;
  for (int a = 0; !rc && a < c->n_nodes; a++) {
    char ns[CTL_NET_NSNAME_MAX];
    ctl_net_ns_name(c, &c->nodes[a], ns, sizeof ns);
    for (int b = 0; !rc && b < c->n_nodes; b++) {
      if (!k->cut[a * k->n + b]) continue;
      char dst[CTL_NET_ADDR_MAX + 4];
      ctl_net_node_addr(c, &c->nodes[b], dst, CTL_NET_ADDR_MAX);
      strcat(dst, "/32");
      /* unreachable, not blackhole: the node's own sends fail with
      ** EHOSTUNREACH ("No route to host"), which its log names plainly. */
      rc = ip(err, "-n", ns, "route", "add", "unreachable", dst, (char *)NULL);
    }
  }
  return rc;
}

int ctl_net_netem(const ctl_ctx *ctx, const ctl_node *n, char *const args[], int nargs,
                  syn_err *err) {
  int rc = need_netns(ctx, err);
  if (rc) return rc;
  char ipt[64], tc[64], ns[CTL_NET_NSNAME_MAX];
  if ((rc = ctl_net_tool(false, ipt, sizeof ipt, err)) || (rc = ctl_net_tool(true, tc, sizeof tc, err)))
    return rc;
  ctl_net_ns_name(&ctx->conf, n, ns, sizeof ns);
  char *argv[ARGV_MAX];
  int a = 0;
  argv[a++] = ipt;
  argv[a++] = "netns";
  argv[a++] = "exec";
  argv[a++] = ns;
  argv[a++] = tc;
  argv[a++] = "qdisc";
  argv[a++] = args ? "replace" : "del";
  argv[a++] = "dev";
  argv[a++] = "eth0";
  argv[a++] = "root";
  if (args) {
    argv[a++] = "netem";
    for (int i = 0; i < nargs && a < ARGV_MAX - 1; i++) argv[a++] = args[i];
  }
  argv[a] = NULL;
  rc = ctl_net_run(argv, err);
  /* Clearing a node that has no qdisc of ours is success. */
  if (rc && err && !args && (strstr(err->msg, "No such file") || strstr(err->msg, "Cannot delete qdisc with handle of zero")))
    return 0;
  if (rc && err && args && strstr(err->msg, "qdisc kind is unknown"))
    syn_err_wrap(err, "this kernel has no sch_netem (CONFIG_NET_SCH_NETEM)");
  return rc;
}
