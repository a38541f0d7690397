/*
** Internal to synodctl: the network namespaces, veths and bridge of a
** `--netns` cluster (plan in ctl_netplan.h), partitions and netem, all done
** by running iproute2's `ip` and `tc`. Needs root (CAP_NET_ADMIN).
*/
#ifndef SYN_CTL_NET_H
#define SYN_CTL_NET_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "coordinator/ctl/ctl_cmd.h"
#include "coordinator/ctl/ctl_netplan.h"

/* Absolute path of iproute2's `ip` (or tc when tc is set); SYN_ENOTFOUND. */
int ctl_net_tool(bool tc, char *out, size_t cap, syn_err *err);
/* Run argv (argv[0] a path) to completion; a non-zero exit becomes
** SYN_EIO with the tool's stderr in the message. */
int ctl_net_run(char *const argv[], syn_err *err);
/* Create whatever part of the bridge, namespaces and veths is missing
** (idempotent). No-op for loopback clusters. */
int ctl_net_up(const ctl_ctx *ctx, syn_err *err);
/* Remove the veths, namespaces and bridge that exist; keeps going past
** failures and reports the first. */
int ctl_net_down(const ctl_ctx *ctx, syn_err *err);
/* Remove every partition route from every namespace. */
int ctl_net_heal(const ctl_ctx *ctx, syn_err *err);
/* Heal, then install k (an unreachable route per cut direction). */
int ctl_net_apply(const ctl_ctx *ctx, const ctl_cut *k, syn_err *err);
/* tc qdisc netem on node's eth0 with args (NULL: remove the qdisc). */
int ctl_net_netem(const ctl_ctx *ctx, const ctl_node *n, char *const args[], int nargs,
                  syn_err *err);

#endif /* SYN_CTL_NET_H */
