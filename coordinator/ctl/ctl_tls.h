/*
** Internal to synodctl: the demo cluster's TLS files (ctl_tls.c) and its
** client authentication rules file DIR/hba.conf.
*/
#ifndef SYN_CTL_TLS_H
#define SYN_CTL_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "coordinator/ctl/ctl_cmd.h"

/* Create DIR/tls/ca.{crt,key} and DIR/tls/<coordinator>.{crt,key} for
** every coordinator of ctx->conf, keeping files that exist. */
int ctl_tls_ensure(const ctl_ctx *ctx, syn_err *err);
/* DIR/tls/<name>.crt and .key (cap bytes each). */
void ctl_tls_paths(const ctl_ctx *ctx, const ctl_node *n, char *cert, char *key, size_t cap);
/* Both files of n exist: start it with --tls-cert/--tls-key. */
bool ctl_tls_enabled(const ctl_ctx *ctx, const ctl_node *n);

#endif /* SYN_CTL_TLS_H */
