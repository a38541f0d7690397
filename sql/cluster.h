/*
** The SQL engine's view of the cluster (prefix cl_): the contract between
** the per-session SQL engine (sql/engine/) and the coordinator that
** implements it (coordinator/cluster*.c).
**
** Every call here is SYNCHRONOUS and is made from a statement worker thread,
** never from the coordinator's loop thread: the implementation hands the
** work to the loop thread (RPCs to participants, the commit state machine,
** the decision log) and blocks the worker until the answer arrives. A
** session uses its cl_txn from one thread at a time.
**
** Errors: 0 or a negative code, with err filled. Codes the engine maps to
** SQLSTATEs:
**   CL_ECONFLICT  (= SYN_ECONFLICT) a version committed after the snapshot:
**                 40001 under REPEATABLE READ; READ COMMITTED re-runs the
**                 statement at a fresh snapshot (see cl_write)
**   CL_EDEADLOCK  this transaction was chosen as a deadlock victim: 40P01
**   CL_EUNIQUE    unique violation, err->msg names the constraint: 23505
**   CL_EUNAVAILABLE a participant did not answer in time; err->msg names
**                 the shard/node: 08006 (the transaction is rolled back)
**   CL_EABORTED   the commit decision was ABORT (a participant voted no or
**                 timed out): 40001
**   CL_EUNKNOWN   the outcome of a commit is unknown (decision log
**                 failure or unconfirmed within the commit wait, one-phase
**                 commit unanswered): 40003 statement_completion_unknown
**   SYN_ENOTFOUND unknown table (42P01); SYN_EEXIST (42P07);
**   SYN_EINVAL / SYN_EUNSUPPORTED with a message (22023 / 0A000).
*/
#ifndef SYN_SQL_CLUSTER_H
#define SYN_SQL_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/value.h"

struct cat_table;  /* sql/catalog.h */
struct cat_column; /* sql/catalog.h */

enum {
  CL_ECONFLICT = SYN_ECONFLICT,
  CL_EDEADLOCK = -101,
  CL_EUNIQUE = -100, /* same value as STORE_EUNIQUE */
  CL_EUNAVAILABLE = -102,
  CL_EABORTED = -103,
  CL_EUNKNOWN = -104,
};

typedef struct cl_cluster cl_cluster;
typedef struct cl_txn cl_txn;

typedef enum {
  CL_READ_COMMITTED = 0,
  CL_REPEATABLE_READ = 1,
  CL_SERIALIZABLE = 2, /* runs as snapshot isolation; documented */
} cl_isolation;

/* ---- catalog ----------------------------------------------------------- */

/* Increases whenever any DDL completes; sessions cache table definitions
** and reload them when it changes. */
uint64_t cl_catalog_version(cl_cluster *cl);

/* Make the local catalog at least as new as every DDL that completed (on
** any coordinator) before this call: sessions call it before each
** statement. On a coordinator group's follower it costs one round trip to
** the leader (the read-index rule, docs/consensus.md); without a group it
** returns at once. CL_EUNAVAILABLE when no leader answers in time. */
int cl_catalog_barrier(cl_cluster *cl, syn_err *err);

/* A deep copy of the table's definition (free with cat_table_free), or
** SYN_ENOTFOUND. Names are case-sensitive as stored (the parser folds
** unquoted identifiers to lower case). */
int cl_table_get(cl_cluster *cl, const char *name, struct cat_table **out, syn_err *err);

/* Names of all tables, sorted; free each and the array with free(). */
int cl_table_list(cl_cluster *cl, char ***names, size_t *n, syn_err *err);

/* DDL runs outside data transactions (like an implicit commit in MySQL;
** PostgreSQL runs DDL transactionally, which synod does not: the engine
** refuses DDL inside BEGIN with 0A000 naming it). Each call is atomic
** across all participants: either every shard has the change or none, and
** it is visible to every session once the call returns. */
int cl_create_table(cl_cluster *cl, const struct cat_table *def, bool if_not_exists,
                    syn_err *err);
int cl_drop_table(cl_cluster *cl, const char *name, bool if_exists, syn_err *err);
int cl_truncate_table(cl_cluster *cl, const char *name, syn_err *err);
/* The new column goes last; its default (if any) fills existing rows. */
int cl_add_column(cl_cluster *cl, const char *table, const struct cat_column *col,
                  bool if_not_exists, syn_err *err);
int cl_drop_column(cl_cluster *cl, const char *table, const char *column, bool if_exists,
                   syn_err *err);
int cl_rename_column(cl_cluster *cl, const char *table, const char *from, const char *to,
                     syn_err *err);
/* Make cols the primary key; when that changes the distribution column the
** table's rows are redistributed (pgbench -i adds keys after loading). */
int cl_add_primary_key(cl_cluster *cl, const char *table, const int *cols, int ncols,
                       const char *constraint_name, syn_err *err);
int cl_create_index(cl_cluster *cl, const char *table, const char *index_name,
                    const int *cols, int ncols, bool unique, bool if_not_exists, syn_err *err);
int cl_drop_index(cl_cluster *cl, const char *index_name, bool if_exists, syn_err *err);

/* Next value of a serial column's sequence ("<table>_<col>_seq"). Values
** are unique and increasing per coordinator; gaps are allowed, as in
** PostgreSQL. */
int cl_sequence_next(cl_cluster *cl, const char *seq_name, int64_t *out, syn_err *err);

/* A new cluster-unique row id for a table without a primary key. */
int cl_rowid_next(cl_cluster *cl, int64_t *out, syn_err *err);

/* ---- roles ---------------------------------------------------------------- */

/* A login role, as PostgreSQL's pg_authid keeps it. secret is the stored
** form of rolpassword: "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>"
** or "md5<32 hex>", NULL for no password. Plaintext passwords are never
** stored (the engine hashes before calling cl_role_put). */
typedef struct cl_role {
  char *name;
  bool login, superuser;
  char *secret;
} cl_role;

/* Create (create = true: SYN_EEXIST "42710: role \"x\" already exists" if
** present) or replace (create = false: SYN_ENOTFOUND "42704: role \"x\"
** does not exist" if absent) a role. Durable and visible to every session
** of this coordinator when it returns; bumps cl_catalog_version. */
int cl_role_put(cl_cluster *cl, const cl_role *role, bool create, syn_err *err);
/* A deep copy (free with cl_role_free), or SYN_ENOTFOUND (42704). A local
** read that never waits on the network: pgwire calls it on the loop
** thread while authenticating (sql/pgwire/pgw.h, role_lookup). */
int cl_role_get(cl_cluster *cl, const char *name, cl_role **out, syn_err *err);
/* Rename a role (42704 if from is absent, 42710 if to exists). A renamed
** role's MD5 secret no longer matches (it is salted with the name), as in
** PostgreSQL: the caller clears it. */
int cl_role_rename(cl_cluster *cl, const char *from, const char *to, syn_err *err);
/* Remove a role: SYN_ENOTFOUND (42704) when absent unless if_exists. */
int cl_role_drop(cl_cluster *cl, const char *name, bool if_exists, syn_err *err);
/* Every role sorted by name; free with cl_role_list_free. */
int cl_role_list(cl_cluster *cl, cl_role **out, size_t *n, syn_err *err);
void cl_role_list_free(cl_role *roles, size_t n);
void cl_role_free(cl_role *role);

/* ---- transactions -------------------------------------------------------- */

int cl_txn_begin(cl_cluster *cl, cl_isolation iso, cl_txn **out, syn_err *err);
uint64_t cl_txn_id(const cl_txn *t);
/* The snapshot reads use. REPEATABLE READ: fixed at the first statement.
** READ COMMITTED: the engine calls cl_txn_refresh_snapshot before every
** statement (and before re-running one after CL_ECONFLICT). */
uint64_t cl_txn_snapshot(const cl_txn *t);
int cl_txn_refresh_snapshot(cl_txn *t, syn_err *err);
/* Polled while a scan or write of t waits (for a row lock, or for a
** prepared transaction's decision): when it returns true the call stops
** waiting and fails with SYN_ETIMEDOUT and a 57014 message. It runs on
** another thread than the caller's, so it may only read what is safe to
** read concurrently (the engine: an atomic cancel flag and a deadline
** fixed before the call). NULL: never interrupted. */
typedef bool (*cl_interrupt_fn)(void *ud);
void cl_txn_set_interrupt(cl_txn *t, cl_interrupt_fn fn, void *ud);

/* Row delivered by a scan; borrowed until the callback returns. vals has
** one value per column of the table as the engine's definition has it. */
typedef struct cl_row {
  const syn_value *vals;
  int nvals;
  int64_t rowid; /* hidden-row-id tables */
} cl_row;

/* 0 to continue, 1 to stop early, < 0 to fail the scan with that code. */
typedef int (*cl_row_fn)(void *ud, const cl_row *row);

typedef struct cl_scan_spec {
  const char *filter;       /* SQL expression over column names, or NULL */
  const syn_value *params;  /* ?1..?n of filter */
  int nparams;
  /* When the query pins the distribution column to one value, route to the
  ** one shard that holds it. */
  const syn_value *dist_value; /* NULL: every shard */
  /* A point read by the full key (primary key values, or the rowid as one
  ** INT): routed to one shard and answered by key lookup. */
  const syn_value *key;
  int nkey;
  uint32_t limit;          /* stop after this many rows in all; 0 none */
} cl_scan_spec;

/* Rows visible to the transaction at its snapshot, with its own writes
** overlaid. Waits (bounded) when a prepared write of another transaction
** may commit below the snapshot (Clock-SI). Rows come shard by shard; no
** order is promised. */
int cl_scan(cl_txn *t, const struct cat_table *table, const cl_scan_spec *spec,
            cl_row_fn fn, void *ud, syn_err *err);

typedef enum {
  CL_INSERT = 1, /* duplicate key -> CL_EUNIQUE */
  CL_UPDATE = 2, /* full new row for an existing key */
  CL_DELETE = 3,
  CL_LOCK = 4,   /* take the row's write lock (locking read), no change */
} cl_write_mode;

typedef struct cl_write_op {
  cl_write_mode mode;
  const syn_value *row; /* every column, already coerced; NULL for DELETE/LOCK */
  const syn_value *key; /* primary key values (or the rowid as one INT) */
  int nkey;
  /* The distribution column's value (routes the op); for hidden-rowid
  ** tables distributed by rowid, the rowid. */
  const syn_value *dist_value;
} cl_write_op;

/* Apply ops in order at the transaction's snapshot, routed by distribution
** value. Waits for row locks held by live transactions; detects deadlocks
** (CL_EDEADLOCK). CL_ECONFLICT when a target key has a version committed
** after the snapshot. On any error some earlier ops may have been applied:
** the engine never continues a statement after an error. To re-run a READ
** COMMITTED statement without undo, the engine first takes every target
** row's lock with CL_LOCK ops (which fail with CL_ECONFLICT and change
** nothing when the row changed), and only then writes. */
int cl_write(cl_txn *t, const struct cat_table *table, const cl_write_op *ops, int n,
             syn_err *err);

/* Commit: one-phase when one shard was written, 2PC otherwise, nothing when
** nothing was written. On return the transaction is over whatever the
** result; free it with cl_txn_free. *commit_ts (may be NULL) gets the
** commit timestamp. */
int cl_commit(cl_txn *t, uint64_t *commit_ts, syn_err *err);
/* Abort; idempotent; never fails from the caller's point of view. */
void cl_rollback(cl_txn *t);
void cl_txn_free(cl_txn *t);

#endif /* SYN_SQL_CLUSTER_H */
