/*
** cluster.conf: the record of what a synodctl cluster is made of.
**
** The first `synodctl up` writes DIR/cluster.conf; every later command reads
** it, so a cluster keeps its names and ports across `down`/`up` and a flag
** that contradicts it can be refused. The format is one statement a line,
** '#' starts a comment, fields are separated by blanks:
**
**   synod-cluster 1                       format version, first statement
**   backend sqlite                        participant storage backend:
**                                         sqlite, postgres or mixed (odd
**                                         participants p1, p3, ... on
**                                         PostgreSQL, even ones on SQLite)
**   pg-port 5732                          postgres/mixed, local server that
**                                         synodctl runs (DIR/pg, socket in
**                                         DIR/pg, this port = BASE+299)
**   pg-conninfo host=... user=...         postgres/mixed on an existing
**                                         server instead (rest of the line;
**                                         no '#' inside); participant NAME
**                                         uses database synod_BASE_NAME
**   base-port 5433                        BASE the ports were derived from
**   network netns                         optional: every node in its own
**                                         network namespace (ctl_netplan.h)
**   default-isolation repeatable-read     optional; a missing line means
**                                         read-committed (files written
**                                         before the line existed)
**   node c1 coordinator rpc=5533 sql=5433
**   node p1 participant rpc=5633
**
** Port plan from BASE: coordinator i (1-based) serves SQL on BASE+i-1 and RPC
** on BASE+100+i-1; participant j serves RPC on BASE+200+j-1. The parser does
** not re-derive ports from base-port: the node lines are the truth, so a
** hand-edited file keeps working as long as it is consistent (unique names
** and ports). Node data lives in DIR/<name>/, never recorded here, so the
** whole directory can be moved.
*/
#ifndef SYN_CTL_CONF_H
#define SYN_CTL_CONF_H

#include <stdbool.h>
#include <stdio.h>

#include "common/err.h"

#define CTL_CONF_VERSION 1
#define CTL_MAX_PER_ROLE 99 /* ports are BASE+0..99 per role: no overlap */
#define CTL_MAX_NODES (2 * CTL_MAX_PER_ROLE)
#define CTL_NAME_MAX 16
#define CTL_PORT_SPAN 300 /* BASE .. BASE+299 are reserved for a cluster */

typedef enum {
  CTL_ROLE_COORDINATOR = 0,
  CTL_ROLE_PARTICIPANT = 1,
} ctl_role;

typedef struct ctl_node {
  char name[CTL_NAME_MAX];
  ctl_role role;
  int rpc_port;
  int sql_port; /* coordinators only; 0 for participants */
} ctl_node;

/* Cluster-wide default_transaction_isolation, in the order of the
** coordinator's cl_isolation (sql/cluster.h). */
typedef enum {
  CTL_ISO_READ_COMMITTED = 0,
  CTL_ISO_REPEATABLE_READ = 1,
  CTL_ISO_SERIALIZABLE = 2,
} ctl_isolation;

#define CTL_PG_CONNINFO_MAX 512

typedef struct ctl_conf {
  char backend[16];
  int pg_port;                          /* local PostgreSQL server, or 0 */
  char pg_conninfo[CTL_PG_CONNINFO_MAX]; /* existing server, or "" */
  ctl_isolation default_isolation;
  int base_port;
  bool netns; /* `network netns`: one network namespace per node (ctl_netplan.h) */
  int n_coordinators;
  int n_participants;
  int n_nodes;
  ctl_node nodes[CTL_MAX_NODES];
} ctl_conf;

/* "coordinator" / "participant". */
const char *ctl_role_name(ctl_role r);

/* Isolation level names: "read committed", "repeatable read",
** "serializable", case-insensitive, words joined by ' ', '-' or '_' (the
** coordinator's --default-isolation accepts the same). SYN_EINVAL else. */
int ctl_isolation_parse(const char *text, ctl_isolation *out, syn_err *err);
/* "read committed" etc.: what the coordinator is given and messages show. */
const char *ctl_isolation_name(ctl_isolation iso);

/* Fill c with the default plan: coordinators c1..cN then participants
** p1..pM, ports from base as described above; READ COMMITTED default. */
int ctl_conf_build(ctl_conf *c, int n_coordinators, int n_participants,
                   int base_port, const char *backend, syn_err *err);

/* Parse the text of a cluster.conf. Errors name the line. */
int ctl_conf_parse(const char *text, ctl_conf *out, syn_err *err);

/* Write c in the format above. Returns 0 or SYN_EIO. */
int ctl_conf_write(const ctl_conf *c, FILE *f, syn_err *err);

/* Read and parse path; SYN_ENOTFOUND when the file does not exist. */
int ctl_conf_load(const char *path, ctl_conf *out, syn_err *err);

/* Write path atomically (temporary file, fsync, rename, fsync of the
** directory): a crash never leaves a half-written cluster.conf that would
** make the cluster unreadable. */
int ctl_conf_save(const char *path, const ctl_conf *c, syn_err *err);

/* True when the participant n keeps its rows in PostgreSQL (backend
** postgres, or mixed and n is the 1st, 3rd, ... participant). */
bool ctl_conf_node_on_pg(const ctl_conf *c, const ctl_node *n);
/* True when the cluster uses PostgreSQL at all. */
bool ctl_conf_uses_pg(const ctl_conf *c);

/* Node by name, or NULL. Borrowed from c. */
const ctl_node *ctl_conf_find(const ctl_conf *c, const char *name);

#endif /* SYN_CTL_CONF_H */
