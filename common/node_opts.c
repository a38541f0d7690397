/* Validation of daemon option values: ports, node names, peer lists. */
#include "common/node.h"
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int node_parse_port(const char *s, int min, int *out, syn_err *err) {
  if (!s || !*s) return syn_err_set(err, SYN_EINVAL, "empty port");
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || end == s || s[0] == '-' || s[0] == '+' || s[0] == ' ')
    return syn_err_set(err, SYN_EINVAL, "port '%s' is not a number", s);
  if (v < min || v > 65535)
    return syn_err_set(err, SYN_EINVAL, "port %ld out of range %d..65535", v, min);
  *out = (int)v;
  return 0;
}

int node_check_name(const char *s, syn_err *err) {
  size_t n = strlen(s);
  if (n == 0) return syn_err_set(err, SYN_EINVAL, "empty node name");
  if (n >= NODE_NAME_MAX)
    return syn_err_set(err, SYN_EINVAL, "node name '%.40s' longer than %d characters", s,
                       NODE_NAME_MAX - 1);
  for (const char *p = s; *p; p++) {
    char ch = *p;
    int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
             (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
    if (!ok)
      return syn_err_set(err, SYN_EINVAL,
                         "node name '%.40s' may only hold letters, digits, '_', '-', '.'", s);
  }
  return 0;
}

int node_parse_hostport(const char *s, char *host, size_t host_cap, int *port,
                        syn_err *err) {
  const char *colon;
  const char *h = s;
  size_t hlen;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':')
      return syn_err_set(err, SYN_EINVAL, "address '%s' is not [v6addr]:port", s);
    h = s + 1;
    hlen = (size_t)(close - h);
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon) return syn_err_set(err, SYN_EINVAL, "address '%s' has no :port", s);
    hlen = (size_t)(colon - s);
    if (memchr(s, ':', hlen))
      return syn_err_set(err, SYN_EINVAL, "IPv6 address '%s' must be written [addr]:port", s);
  }
  if (hlen == 0) return syn_err_set(err, SYN_EINVAL, "address '%s' has an empty host", s);
  if (hlen >= host_cap) return syn_err_set(err, SYN_EINVAL, "host in '%s' is too long", s);
  for (size_t i = 0; i < hlen; i++)
    if (h[i] == ' ' || h[i] == ',' || h[i] == '=' || h[i] == '\t')
      return syn_err_set(err, SYN_EINVAL, "address '%s' has a bad host", s);
  int rc = node_parse_port(colon + 1, 1, port, err);
  if (rc < 0) return syn_err_wrap(err, "address '%s'", s);
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  return 0;
}

static int parse_entry(const char *ent, node_peer *p, syn_err *err) {
  const char *eq = strchr(ent, '=');
  if (!eq) return syn_err_set(err, SYN_EINVAL, "entry '%s' is not name=host:port", ent);
  size_t nlen = (size_t)(eq - ent);
  char name[NODE_NAME_MAX + 1];
  if (nlen > NODE_NAME_MAX) nlen = NODE_NAME_MAX; /* node_check_name reports it */
  memcpy(name, ent, nlen);
  name[nlen] = '\0';
  int rc = node_check_name(name, err);
  if (rc < 0) return syn_err_wrap(err, "entry '%s'", ent);
  memcpy(p->name, name, strlen(name) + 1); /* fits: checked above */
  return node_parse_hostport(eq + 1, p->host, sizeof p->host, &p->port, err);
}

int node_parse_peers(const char *s, node_peer_list *out, syn_err *err) {
  out->items = NULL;
  out->n = 0;
  if (!s || !*s) return syn_err_set(err, SYN_EINVAL, "empty node list");
  size_t cap = 1;
  for (const char *p = s; *p; p++) cap += *p == ',';
  node_peer *items = calloc(cap, sizeof *items);
  char *copy = strdup(s);
  if (!items || !copy) {
    free(items);
    free(copy);
    return syn_err_set(err, SYN_ENOMEM, "node list");
  }
  size_t n = 0;
  int rc = 0;
  /* strtok_r would skip empty entries ("a,,b"); walk by hand to reject them. */
  char *ent = copy;
  for (;;) {
    char *comma = strchr(ent, ',');
    if (comma) *comma = '\0';
    if (!*ent) {
      rc = syn_err_set(err, SYN_EINVAL, "empty entry in node list '%s'", s);
      break;
    }
    rc = parse_entry(ent, &items[n], err);
    if (rc < 0) break;
    for (size_t i = 0; i < n; i++) {
      if (strcmp(items[i].name, items[n].name) == 0) {
        rc = syn_err_set(err, SYN_EINVAL, "node '%s' listed twice", items[n].name);
        break;
      }
    }
    if (rc < 0) break;
    n++;
    if (!comma) break;
    ent = comma + 1;
  }
  free(copy);
  if (rc < 0) {
    free(items);
    return rc;
  }
  out->items = items;
  out->n = n;
  return 0;
}

void node_peers_free(node_peer_list *l) {
  free(l->items);
  l->items = NULL;
  l->n = 0;
}

void node_peers_format(const node_peer_list *l, char *buf, size_t cap) {
  size_t off = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < l->n && off + 1 < cap; i++) {
    const node_peer *p = &l->items[i];
    int v6 = strchr(p->host, ':') != NULL;
    int w = snprintf(buf + off, cap - off, "%s%s=%s%s%s:%d", i ? "," : "", p->name,
                     v6 ? "[" : "", p->host, v6 ? "]" : "", p->port);
    if (w < 0) break;
    off += (size_t)w;
  }
}

int node_usage_error(const char *prog, const char *usage_line, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s: %s\n%s\n", prog, msg, usage_line);
  return 2;
}

/* ---- the options every daemon has ------------------------------------------- */

int node_args_handle(const node_prog *p, node_args *a, int c, const char *optarg_,
                     const char *raw) {
  syn_err err;
  switch (c) {
  case NODE_OPT_NAME:
    if (node_check_name(optarg_, &err) < 0)
      return node_usage_error(p->prog, p->usage_line, "--name: %s", err.msg);
    a->name = optarg_;
    return NODE_ARG_CONSUMED;
  case NODE_OPT_DIR:
    if (!*optarg_) return node_usage_error(p->prog, p->usage_line, "--dir: empty path");
    a->dir = optarg_;
    return NODE_ARG_CONSUMED;
  case NODE_OPT_RPC_PORT:
    if (node_parse_port(optarg_, 0, &a->rpc_port, &err) < 0)
      return node_usage_error(p->prog, p->usage_line, "--rpc-port: %s", err.msg);
    a->have_port = 1;
    return NODE_ARG_CONSUMED;
  case NODE_OPT_HOST:
    if (!*optarg_) return node_usage_error(p->prog, p->usage_line, "--host: empty address");
    a->host = optarg_;
    return NODE_ARG_CONSUMED;
  case NODE_OPT_LOG_LEVEL: {
    syn_log_level lv;
    if (syn_log_level_parse(optarg_, &lv) < 0)
      return node_usage_error(p->prog, p->usage_line,
                              "--log-level: '%s' is not debug, info, warn or error", optarg_);
    a->log_level = optarg_;
    return NODE_ARG_CONSUMED;
  }
  case NODE_OPT_SECRET_FILE:
    if (!*optarg_) return node_usage_error(p->prog, p->usage_line, "--secret-file: empty path");
    a->secret_file = optarg_;
    return NODE_ARG_CONSUMED;
  case NODE_OPT_LOG_FILE:
    if (!*optarg_) return node_usage_error(p->prog, p->usage_line, "--log-file: empty path");
    a->log_file = optarg_;
    return NODE_ARG_CONSUMED;
  case NODE_OPT_HELP:
    printf("%s\n%s", p->usage_line, p->usage_text);
    return 0;
  case NODE_OPT_VERSION:
    printf("%s %s\n", p->prog, p->version);
    return 0;
  case ':':
    return node_usage_error(p->prog, p->usage_line, "option '%s' needs a value", raw);
  case '?':
    return node_usage_error(p->prog, p->usage_line, "unknown option '%s'", raw);
  default:
    return NODE_ARG_OWN;
  }
}

int node_args_finish(const node_prog *p, const node_args *a, int optind_, int argc,
                     char **argv) {
  if (optind_ < argc)
    return node_usage_error(p->prog, p->usage_line, "unexpected argument '%s'", argv[optind_]);
  if (!a->name) return node_usage_error(p->prog, p->usage_line, "missing required option --name");
  if (!a->dir) return node_usage_error(p->prog, p->usage_line, "missing required option --dir");
  if (!a->have_port)
    return node_usage_error(p->prog, p->usage_line, "missing required option --rpc-port");
  return -1;
}
