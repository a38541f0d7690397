/*
** The network plan of a cluster started with `synodctl up --netns`, and the
** partition shapes over it. Pure: names, addresses and cut matrices only;
** ctl_net.c turns them into `ip` commands.
**
** Every node lives in its own network namespace with one veth into a bridge
** the cluster owns. Names and the /24 derive from the cluster's base port,
** so clusters with different bases never collide:
**
**   bridge        syn<BASE>br              host address 10.A.B.1/24
**   namespace     syn<BASE>-<node>
**   veth (host)   syn<BASE>v<i>            i = index of the node in conf
**   veth (inside) eth0                     address 10.A.B.(i+2)/24
**
** with A = BASE / 256 and B = BASE % 256 (BASE < 65536, so A, B < 256).
**
** A partition is a cut matrix: cut[a][b] true means packets from node a to
** node b are dropped (a route of type unreachable to b's /32 inside a's
** namespace). Both directions cut is a symmetric partition; one direction
** alone is what Jepsen calls asymmetric, but note that TCP needs both
** directions for every connection, so for TCP a one-way cut still ends
** every connection between the pair: a connects to b fail at once (no
** route), b connects to a time out (a's SYN-ACKs never leave), and
** established streams stall in both directions (data or ACKs lost). The
** host (clients, synodctl's probes) is never cut.
*/
#ifndef SYN_CTL_NETPLAN_H
#define SYN_CTL_NETPLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "coordinator/ctl/ctl_conf.h"

#define CTL_NET_ADDR_MAX 16
#define CTL_NET_IFNAME_MAX 16 /* IFNAMSIZ */
#define CTL_NET_NSNAME_MAX 40

/* "127.0.0.1", or with netns the node's 10.A.B.(i+2). n must belong to c. */
void ctl_net_node_addr(const ctl_conf *c, const ctl_node *n, char *buf, size_t cap);
/* The host's address on the bridge, 10.A.B.1 (netns clusters only). */
void ctl_net_host_addr(const ctl_conf *c, char *buf, size_t cap);
void ctl_net_bridge_name(const ctl_conf *c, char *buf, size_t cap);
void ctl_net_ns_name(const ctl_conf *c, const ctl_node *n, char *buf, size_t cap);
void ctl_net_veth_name(const ctl_conf *c, const ctl_node *n, char *buf, size_t cap);
/* Index of n in c->nodes, or -1. */
int ctl_net_node_index(const ctl_conf *c, const ctl_node *n);

/* cut[a * n_nodes + b]: a -> b dropped. */
typedef struct ctl_cut {
  int n;
  bool cut[CTL_MAX_NODES * CTL_MAX_NODES];
} ctl_cut;

void ctl_cut_clear(ctl_cut *k, int n_nodes);
/* Count of cut directions. */
int ctl_cut_count(const ctl_cut *k);

/* "A,B|C,D[|E]": each named node in one group; directions between nodes of
** different groups are cut both ways; nodes not named keep every link. */
int ctl_cut_groups(const ctl_conf *c, const char *spec, ctl_cut *k, syn_err *err);
/* One node alone: cut both ways from every other node. */
int ctl_cut_isolate(const ctl_conf *c, const char *node, ctl_cut *k, syn_err *err);
/* Coordinators split in a minority of (N-1)/2 that holds `leader` (the
** first coordinators otherwise) and a majority with the rest; participants
** stay with the majority and are cut from the minority. */
int ctl_cut_majority_minority(const ctl_conf *c, const char *leader, ctl_cut *k, syn_err *err);
/* Majorities ring over the coordinators (Jepsen's majorities-ring): with
** N coordinators in order and m = N/2 + 1, coordinator i hears only from
** itself and the m-1 coordinators after it (cyclically): every node sees a
** majority and no two see the same one. One-way cuts (see above for TCP). */
int ctl_cut_ring(const ctl_conf *c, ctl_cut *k, syn_err *err);
/* Bridge (Jepsen): coordinators split in two halves that cannot talk, the
** middle coordinator (N/2, 0-based) talks to both. Needs N >= 3. */
int ctl_cut_bridge(const ctl_conf *c, ctl_cut *k, syn_err *err);
/* Only from -> to dropped. */
int ctl_cut_asymmetric(const ctl_conf *c, const char *from, const char *to, ctl_cut *k,
                       syn_err *err);

#endif /* SYN_CTL_NETPLAN_H */
