#include "coordinator/ctl/ctl_netplan.h"

#include <stdio.h>
#include <string.h>

int ctl_net_node_index(const ctl_conf *c, const ctl_node *n) {
  for (int i = 0; i < c->n_nodes; i++)
    if (&c->nodes[i] == n || strcmp(c->nodes[i].name, n->name) == 0) return i;
  return -1;
}

void ctl_net_node_addr(const ctl_conf *c, const ctl_node *n, char *buf, size_t cap) {
  int i = ctl_net_node_index(c, n);
  if (!c->netns || i < 0) snprintf(buf, cap, "127.0.0.1");
  else snprintf(buf, cap, "10.%d.%d.%d", (c->base_port >> 8) & 255, c->base_port & 255, i + 2);
}

void ctl_net_host_addr(const ctl_conf *c, char *buf, size_t cap) {
  snprintf(buf, cap, "10.%d.%d.1", (c->base_port >> 8) & 255, c->base_port & 255);
}

void ctl_net_bridge_name(const ctl_conf *c, char *buf, size_t cap) {
  snprintf(buf, cap, "syn%dbr", c->base_port);
}

void ctl_net_ns_name(const ctl_conf *c, const ctl_node *n, char *buf, size_t cap) {
  snprintf(buf, cap, "syn%d-%s", c->base_port, n->name);
}

void ctl_net_veth_name(const ctl_conf *c, const ctl_node *n, char *buf, size_t cap) {
  snprintf(buf, cap, "syn%dv%d", c->base_port, ctl_net_node_index(c, n));
}

void ctl_cut_clear(ctl_cut *k, int n_nodes) {
  memset(k->cut, 0, sizeof k->cut);
  k->n = n_nodes;
}

int ctl_cut_count(const ctl_cut *k) {
  int n = 0;
  for (int i = 0; i < k->n * k->n; i++) n += k->cut[i];
  return n;
}

static void cut_pair(ctl_cut *k, int a, int b, bool both) {
  k->cut[a * k->n + b] = true;
  if (both) k->cut[b * k->n + a] = true;
}

static int index_of(const ctl_conf *c, const char *name, syn_err *err) {
  const ctl_node *n = ctl_conf_find(c, name);
  if (!n) return syn_err_set(err, SYN_ENOTFOUND, "unknown node '%s'", name);
  return ctl_net_node_index(c, n);
}

int ctl_cut_groups(const ctl_conf *c, const char *spec, ctl_cut *k, syn_err *err) {
  ctl_cut_clear(k, c->n_nodes);
  int group[CTL_MAX_NODES];
  for (int i = 0; i < c->n_nodes; i++) group[i] = -1;
  int g = 0;
  const char *p = spec;
  char name[CTL_NAME_MAX + 1];
  for (;;) {
    p += strspn(p, " \t");
    size_t len = strcspn(p, ",| \t");
    if (len == 0 || len > CTL_NAME_MAX)
      return syn_err_set(err, SYN_EINVAL, "bad partition '%s': want GROUP | GROUP [| GROUP...], "
                         "GROUP = NODE[,NODE...]", spec);
    snprintf(name, sizeof name, "%.*s", (int)len, p);
    int i = index_of(c, name, err);
    if (i < 0) return i;
    if (group[i] >= 0) return syn_err_set(err, SYN_EINVAL, "node %s appears twice in the partition", name);
    group[i] = g;
    p += len;
    p += strspn(p, " \t");
    if (*p == ',') p++;
    else if (*p == '|') p++, g++;
    else if (*p == '\0') break;
    else return syn_err_set(err, SYN_EINVAL, "bad partition '%s' near '%s'", spec, p);
  }
  if (g < 1) return syn_err_set(err, SYN_EINVAL, "a partition needs at least two groups separated by '|'");
  for (int a = 0; a < c->n_nodes; a++)
    for (int b = 0; b < c->n_nodes; b++)
      if (group[a] >= 0 && group[b] >= 0 && group[a] != group[b]) cut_pair(k, a, b, false);
  return 0;
}

int ctl_cut_isolate(const ctl_conf *c, const char *node, ctl_cut *k, syn_err *err) {
  ctl_cut_clear(k, c->n_nodes);
  int i = index_of(c, node, err);
  if (i < 0) return i;
  for (int b = 0; b < c->n_nodes; b++)
    if (b != i) cut_pair(k, i, b, true);
  return 0;
}

/* Indices of the coordinators in conf order. */
static int coordinators(const ctl_conf *c, int *out) {
  int n = 0;
  for (int i = 0; i < c->n_nodes; i++)
    if (c->nodes[i].role == CTL_ROLE_COORDINATOR) out[n++] = i;
  return n;
}

int ctl_cut_majority_minority(const ctl_conf *c, const char *leader, ctl_cut *k, syn_err *err) {
  ctl_cut_clear(k, c->n_nodes);
  int co[CTL_MAX_NODES];
  int n = coordinators(c, co);
  int small = (n - 1) / 2;
  if (small < 1) return syn_err_set(err, SYN_EINVAL, "majority/minority needs at least 3 coordinators, have %d", n);
  bool minority[CTL_MAX_NODES] = {false};
  int taken = 0;
  if (leader && *leader) {
    int l = index_of(c, leader, err);
    if (l < 0) return l;
    if (c->nodes[l].role != CTL_ROLE_COORDINATOR)
      return syn_err_set(err, SYN_EINVAL, "%s is not a coordinator", leader);
    minority[l] = true;
    taken++;
  }
  for (int j = 0; j < n && taken < small; j++)
    if (!minority[co[j]]) minority[co[j]] = true, taken++;
  for (int a = 0; a < c->n_nodes; a++)
    for (int b = 0; b < c->n_nodes; b++)
      if (minority[a] != minority[b]) cut_pair(k, a, b, false);
  return 0;
}

int ctl_cut_ring(const ctl_conf *c, ctl_cut *k, syn_err *err) {
  ctl_cut_clear(k, c->n_nodes);
  int co[CTL_MAX_NODES];
  int n = coordinators(c, co);
  if (n < 3) return syn_err_set(err, SYN_EINVAL, "a ring needs at least 3 coordinators, have %d", n);
  int m = n / 2 + 1;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      int ahead = (j - i + n) % n; /* j is `ahead` steps after i */
      if (ahead >= m) cut_pair(k, co[j], co[i], false); /* i does not hear j */
    }
  return 0;
}

int ctl_cut_bridge(const ctl_conf *c, ctl_cut *k, syn_err *err) {
  ctl_cut_clear(k, c->n_nodes);
  int co[CTL_MAX_NODES];
  int n = coordinators(c, co);
  if (n < 3) return syn_err_set(err, SYN_EINVAL, "a bridge needs at least 3 coordinators, have %d", n);
  int mid = n / 2;
  for (int i = 0; i < mid; i++)
    for (int j = mid + 1; j < n; j++) cut_pair(k, co[i], co[j], true);
  return 0;
}

int ctl_cut_asymmetric(const ctl_conf *c, const char *from, const char *to, ctl_cut *k,
                       syn_err *err) {
  ctl_cut_clear(k, c->n_nodes);
  int a = index_of(c, from, err);
  if (a < 0) return a;
  int b = index_of(c, to, err);
  if (b < 0) return b;
  if (a == b) return syn_err_set(err, SYN_EINVAL, "--asymmetric wants two different nodes");
  cut_pair(k, a, b, false);
  return 0;
}
