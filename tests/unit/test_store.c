/*
** Unit tests for participant/store: MVCC visibility, locks, unique
** constraints, 2PC outcomes across a simulated crash (close without
** commit, reopen), Clock-SI blocking, filters, GC and DDL.
**
** The same tests run against both backends. By default the SQLite one;
** with SYN_STORE_BACKEND=postgres and SYN_STORE_PG=<conninfo of a server,
** without dbname> each test gets a fresh database (created in setup,
** dropped in teardown). tests/pg/store_pg.sh starts a private server
** and runs this binary that way.
*/
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "participant/store/store.h"

/* ---- fixture ------------------------------------------------------------- */

static char g_dir[64];
static store *g_st;
static int g_pg;             /* running against the PostgreSQL backend */
static char g_dbname[64];    /* this test's database */
static char g_conninfo[512]; /* conninfo of this test's database */

static int is_pg(void) {
  const char *b = getenv("SYN_STORE_BACKEND");
  return b && strcmp(b, "postgres") == 0;
}

/* Run one statement on the server's maintenance database (pg: setup). */
static void pg_admin(const char *sql) {
  const char *base = getenv("SYN_STORE_PG");
  cr_assert_not_null(base, "SYN_STORE_PG (conninfo of the test server) unset");
  char ci[512];
  snprintf(ci, sizeof ci, "%s dbname=postgres", base);
  PGconn *c = PQconnectdb(ci);
  cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
  PGresult *r = PQexec(c, sql);
  cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", sql,
               PQresultErrorMessage(r));
  PQclear(r);
  PQfinish(c);
}

static int open_store(store **out, syn_err *e) {
  if (!g_pg) return store_open(g_dir, out, e);
  store_config cfg = {.backend = STORE_BACKEND_POSTGRES,
                      .pg_conninfo = g_conninfo};
  return store_open_config(&cfg, out, e);
}

static void rm_dir(void) {
  static const char *const files[] = {"store.db", "store.db-wal",
                                      "store.db-shm", "store.db-journal"};
  char p[128];
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(p, sizeof p, "%s/%s", g_dir, files[i]);
    unlink(p);
  }
  rmdir(g_dir);
  if (g_pg) {
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)",
             g_dbname);
    pg_admin(sql);
  }
}

static void reopen(void) {
  syn_err e;
  store_close(g_st);
  g_st = NULL;
  int rc = open_store(&g_st, &e);
  /* PostgreSQL: a session of a process that just died may hold the
  ** database's advisory lock until its server process notices. */
  for (int i = 0; g_pg && rc == SYN_EBUSY && i < 100; i++) {
    usleep(50 * 1000);
    rc = open_store(&g_st, &e);
  }
  cr_assert_eq(rc, 0, "reopen: %s", e.msg);
}

/* Table 1: accounts(id INTEGER key, name TEXT unique, bal INTEGER). */
static const store_col_def k_cols[] = {
    {"id", "INTEGER"}, {"name", "TEXT"}, {"bal", "INTEGER"}};
static const int k_key[] = {0};
static const int k_name_col[] = {1};
static const int k_bal_col[] = {2};
static const store_index_def k_idx[] = {
    {"accounts_name_key", 1, 1, k_name_col},
    {"accounts_bal_idx", 0, 1, k_bal_col}};

static void setup(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/synod-store-XXXXXX");
  cr_assert_not_null(mkdtemp(g_dir));
  g_pg = is_pg();
  if (g_pg) {
    static int seq;
    snprintf(g_dbname, sizeof g_dbname, "synod_t%ld_%d", (long)getpid(),
             ++seq);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", g_dbname);
    pg_admin(sql);
    snprintf(g_conninfo, sizeof g_conninfo, "%s dbname=%s",
             getenv("SYN_STORE_PG"), g_dbname);
  }
  syn_err e;
  cr_assert_eq(open_store(&g_st, &e), 0, "%s", e.msg);
  store_table_def d = {.table_id = 1, .ncols = 3, .cols = k_cols, .nkey = 1,
                       .key_cols = k_key, .pkey_name = "accounts_pkey",
                       .nindexes = 2, .indexes = k_idx};
  cr_assert_eq(store_create_table(g_st, &d, &e), 0, "%s", e.msg);
}

static void teardown(void) {
  store_close(g_st);
  g_st = NULL;
  rm_dir();
}

TestSuite(store, .init = setup, .fini = teardown);

/* ---- helpers ------------------------------------------------------------- */

static syn_value vint(int64_t i) {
  syn_value v = {.type = SYN_V_INT};
  v.u.i = i;
  return v;
}

static syn_value vtext(const char *s) {
  syn_value v = {.type = SYN_V_TEXT};
  if (!s) {
    v.type = SYN_V_NULL;
    return v;
  }
  v.u.b.p = (const uint8_t *)s;
  v.u.b.n = strlen(s);
  return v;
}

static store_info g_info;
static syn_err g_err;

static int wr(uint64_t txn, int64_t id, const char *name, int64_t bal,
              uint64_t snap, store_write_mode mode) {
  syn_value key = vint(id);
  syn_value row[3] = {vint(id), vtext(name), vint(bal)};
  int put = mode == STORE_INSERT || mode == STORE_UPDATE;
  int nc = store_table_ncols(g_st, 1);
  syn_value row4[4] = {vint(id), vtext(name), vint(bal), vtext("w")};
  return store_write(g_st, txn, 1, &key, 1, put ? (nc == 4 ? row4 : row) : NULL,
                     put ? nc : 0, snap, mode, &g_info, &g_err);
}

/* Insert-and-commit one row in its own single-shard txn. */
static void seed(uint64_t txn, int64_t id, const char *name, int64_t bal,
                 uint64_t ts, store_write_mode mode) {
  cr_assert_eq(wr(txn, id, name, bal, ts - 1, mode), 0, "%s", g_err.msg);
  cr_assert_eq(store_commit_one_phase(g_st, txn, ts, &g_err), 0, "%s",
               g_err.msg);
}

typedef struct rows {
  int n;
  int64_t id[20000];
  int64_t bal[20000];
  char name[64][32]; /* first 64 names only */
  uint64_t cts[64];
  int ncols;
  char extra[64][32]; /* 4th column as text, if any */
} rows;

static int collect(void *ud, const store_row *r) {
  rows *out = ud;
  if (out->n >= 20000) return -1;
  out->ncols = r->ncols;
  out->id[out->n] = r->vals[0].type == SYN_V_INT ? r->vals[0].u.i : -1;
  out->bal[out->n] = r->ncols > 2 && r->vals[2].type == SYN_V_INT
                         ? r->vals[2].u.i
                         : -1;
  if (out->n < 64) {
    out->cts[out->n] = r->commit_ts;
    const syn_value *nm = &r->vals[1];
    snprintf(out->name[out->n], 32, "%.*s",
             nm->type == SYN_V_TEXT ? (int)nm->u.b.n : 4,
             nm->type == SYN_V_TEXT ? (const char *)nm->u.b.p : "NULL");
    if (r->ncols > 3) {
      const syn_value *x = &r->vals[3];
      snprintf(out->extra[out->n], 32, "%.*s",
               x->type == SYN_V_TEXT ? (int)x->u.b.n : 4,
               x->type == SYN_V_TEXT ? (const char *)x->u.b.p : "NULL");
    }
  }
  out->n++;
  return 0;
}

static rows g_rows;

/* Full scan of table 1 into g_rows; returns the store's status. */
static int scan_all(uint64_t snap, uint64_t txn, const char *filter,
                    const syn_value *params, int np) {
  memset(&g_rows, 0, sizeof g_rows);
  store_scan_opts o = {.snapshot_ts = snap, .txn = txn, .filter = filter,
                       .params = params, .nparams = np};
  store_scan_result res;
  int rc = store_scan(g_st, 1, &o, collect, &g_rows, &res, &g_info, &g_err);
  if (rc == 0) cr_assert_eq(res.nrows, (uint32_t)g_rows.n);
  return rc;
}

static int get1(int64_t id, uint64_t snap, uint64_t txn, int *found) {
  memset(&g_rows, 0, sizeof g_rows);
  syn_value key = vint(id);
  return store_get(g_st, 1, &key, 1, snap, txn, collect, &g_rows, found, &g_info,
                   &g_err);
}

/* ---- visibility ----------------------------------------------------------- */

Test(store, snapshot_visibility_and_tombstones) {
  seed(1, 1, "alice", 10, 100, STORE_INSERT);
  seed(2, 1, "alice", 20, 200, STORE_UPDATE);
  seed(3, 1, NULL, 0, 300, STORE_DELETE);
  seed(4, 2, "bob", 5, 150, STORE_INSERT);

  cr_assert_eq(scan_all(50, 0, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.n, 0);
  cr_assert_eq(scan_all(100, 0, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.n, 1);
  cr_assert_eq(g_rows.bal[0], 10);
  cr_assert_eq(g_rows.cts[0], 100);
  cr_assert_eq(scan_all(199, 0, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.n, 2);
  cr_assert_eq(g_rows.id[0], 1);
  cr_assert_eq(g_rows.bal[0], 10);
  cr_assert_eq(g_rows.id[1], 2);
  cr_assert_eq(scan_all(250, 0, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.n, 2);
  cr_assert_eq(g_rows.bal[0], 20);
  cr_assert_eq(scan_all(300, 0, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.n, 1, "tombstone at 300 hides id 1");
  cr_assert_eq(g_rows.id[0], 2);

  int found;
  cr_assert_eq(get1(1, 250, 0, &found), 0);
  cr_assert(found);
  cr_assert_eq(g_rows.bal[0], 20);
  cr_assert_eq(get1(1, 350, 0, &found), 0);
  cr_assert_not(found);
  cr_assert_eq(get1(1, 99, 0, &found), 0);
  cr_assert_not(found);
  /* Re-insert after the tombstone is allowed. */
  seed(5, 1, "alice", 7, 400, STORE_INSERT);
  cr_assert_eq(get1(1, 400, 0, &found), 0);
  cr_assert(found);
  cr_assert_eq(g_rows.bal[0], 7);
}

Test(store, read_your_writes) {
  seed(1, 1, "a", 10, 100, STORE_INSERT);
  seed(2, 2, "b", 20, 100, STORE_INSERT);
  cr_assert_eq(wr(5, 1, "a", 99, 150, STORE_UPDATE), 0, "%s", g_err.msg);
  cr_assert_eq(wr(5, 2, NULL, 0, 150, STORE_DELETE), 0, "%s", g_err.msg);
  cr_assert_eq(wr(5, 3, "c", 30, 150, STORE_INSERT), 0, "%s", g_err.msg);
  cr_assert_eq(wr(6, 4, "d", 40, 150, STORE_INSERT), 0, "%s", g_err.msg);

  cr_assert_eq(scan_all(150, 5, NULL, NULL, 0), 0, "%s", g_err.msg);
  cr_assert_eq(g_rows.n, 2);
  cr_assert_eq(g_rows.id[0], 1);
  cr_assert_eq(g_rows.bal[0], 99);
  cr_assert_eq(g_rows.cts[0], 0, "own write has no commit_ts");
  cr_assert_eq(g_rows.id[1], 3);

  /* Other readers (and txn 6) see only committed data, not txn 5's. */
  cr_assert_eq(scan_all(150, 6, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.n, 3);
  cr_assert_eq(g_rows.bal[0], 10);
  cr_assert_eq(g_rows.id[1], 2);
  cr_assert_eq(g_rows.id[2], 4);

  /* A filter applies to own writes too: bal > 50 keeps only id 1 (99). */
  syn_value p = vint(50);
  cr_assert_eq(scan_all(150, 5, "bal > ?1", &p, 1), 0, "%s", g_err.msg);
  cr_assert_eq(g_rows.n, 1);
  cr_assert_eq(g_rows.bal[0], 99);
  /* ... and a changed row that no longer matches is hidden: bal < 50. */
  cr_assert_eq(scan_all(150, 5, "bal < ?1", &p, 1), 0);
  cr_assert_eq(g_rows.n, 1);
  cr_assert_eq(g_rows.id[0], 3);

  int found;
  cr_assert_eq(get1(2, 150, 5, &found), 0);
  cr_assert_not(found, "own delete hides the row");
  cr_assert_eq(get1(2, 150, 0, &found), 0);
  cr_assert(found);

  /* A lock-only intent changes nothing the owner reads. */
  cr_assert_eq(wr(7, 2, NULL, 0, 150, STORE_LOCK), SYN_EBUSY);
  cr_assert_eq(wr(6, 1, NULL, 0, 150, STORE_LOCK), SYN_EBUSY);
  cr_assert_eq(g_info.blocker, 5);
}

/* ---- locks, conflicts, uniqueness ----------------------------------------- */

Test(store, first_updater_wins_and_lock_blocking) {
  seed(1, 1, "a", 10, 100, STORE_INSERT);
  cr_assert_eq(wr(10, 1, "a", 11, 150, STORE_UPDATE), 0, "%s", g_err.msg);
  cr_assert_eq(wr(11, 1, "a", 12, 150, STORE_UPDATE), SYN_EBUSY);
  cr_assert_eq(g_info.blocker, 10);
  uint64_t holder;
  syn_value k = vint(1);
  cr_assert_eq(store_lock_holder(g_st, 1, &k, 1, &holder, &g_err), 0);
  cr_assert_eq(holder, 10);
  cr_assert_eq(wr(12, 1, NULL, 0, 150, STORE_LOCK), SYN_EBUSY);
  cr_assert_eq(store_commit_one_phase(g_st, 10, 200, &g_err), 0);
  cr_assert_eq(store_lock_holder(g_st, 1, &k, 1, &holder, &g_err), 0);
  cr_assert_eq(holder, 0, "commit releases the lock");
  /* Txn 11's snapshot (150) predates the commit at 200. */
  cr_assert_eq(wr(11, 1, "a", 12, 150, STORE_UPDATE), SYN_ECONFLICT);
  cr_assert_eq(g_info.conflict_ts, 200);
  cr_assert_eq(wr(11, 1, NULL, 0, 150, STORE_LOCK), SYN_ECONFLICT);
  cr_assert_eq(wr(11, 1, NULL, 0, 150, STORE_DELETE), SYN_ECONFLICT);
  /* A fresh snapshot (READ COMMITTED re-run) succeeds. */
  cr_assert_eq(wr(11, 1, "a", 12, 250, STORE_UPDATE), 0, "%s", g_err.msg);
  /* Locking read: lock then write by the same txn, then another blocks. */
  cr_assert_eq(wr(13, 2, NULL, 0, 250, STORE_LOCK), 0, "%s", g_err.msg);
  cr_assert_eq(wr(14, 2, "x", 1, 250, STORE_INSERT), SYN_EBUSY);
  cr_assert_eq(g_info.blocker, 13);
  cr_assert_eq(wr(13, 2, "x", 1, 250, STORE_INSERT), 0, "%s", g_err.msg);
  cr_assert_eq(wr(13, 2, NULL, 0, 250, STORE_LOCK), 0, "lock keeps the put");
  cr_assert_eq(store_commit_one_phase(g_st, 13, 300, &g_err), 0);
  int found;
  cr_assert_eq(get1(2, 300, 0, &found), 0);
  cr_assert(found, "a lock after a put must not downgrade it");
  /* Abort releases locks. */
  cr_assert_eq(store_abort(g_st, 11, &g_err), 0);
  cr_assert_eq(wr(15, 1, "a", 13, 300, STORE_UPDATE), 0, "%s", g_err.msg);
}

Test(store, unique_violations) {
  seed(1, 1, "alice", 10, 100, STORE_INSERT);
  cr_assert_eq(wr(2, 2, "alice", 5, 150, STORE_INSERT), STORE_EUNIQUE);
  cr_assert_str_eq(g_info.constraint, "accounts_name_key");
  cr_assert_eq(wr(2, 1, "zed", 5, 150, STORE_INSERT), STORE_EUNIQUE);
  cr_assert_str_eq(g_info.constraint, "accounts_pkey");
  /* Own writes: rename alice away, then alice is free for a new row. */
  cr_assert_eq(wr(3, 1, "bob", 10, 150, STORE_UPDATE), 0, "%s", g_err.msg);
  cr_assert_eq(wr(3, 2, "alice", 5, 150, STORE_INSERT), 0, "%s", g_err.msg);
  /* ... but a second alice in the same txn collides with its own write. */
  cr_assert_eq(wr(3, 3, "alice", 5, 150, STORE_INSERT), STORE_EUNIQUE);
  cr_assert_str_eq(g_info.constraint, "accounts_name_key");
  /* Another txn's pending insert of "carol": wait for it. */
  cr_assert_eq(wr(4, 10, "carol", 1, 150, STORE_INSERT), 0, "%s", g_err.msg);
  cr_assert_eq(wr(5, 11, "carol", 1, 150, STORE_INSERT), SYN_EBUSY);
  cr_assert_eq(g_info.blocker, 4);
  /* Row 1 is held by txn 3 which renamed it: inserting alice elsewhere
  ** must wait for txn 3 as well (its name "alice" is still committed). */
  cr_assert_eq(wr(6, 12, "alice", 1, 150, STORE_INSERT), SYN_EBUSY);
  cr_assert_eq(g_info.blocker, 3);
  /* NULLs never collide. */
  cr_assert_eq(wr(7, 20, NULL, 1, 150, STORE_INSERT), 0, "%s", g_err.msg);
  cr_assert_eq(wr(7, 21, NULL, 1, 150, STORE_INSERT), 0, "%s", g_err.msg);
  /* After txn 4 commits, carol is a plain violation. */
  cr_assert_eq(store_commit_one_phase(g_st, 4, 200, &g_err), 0);
  cr_assert_eq(wr(5, 11, "carol", 1, 250, STORE_INSERT), STORE_EUNIQUE);
  /* The key column of a row must match the key. */
  syn_value key = vint(99);
  syn_value row[3] = {vint(98), vtext("k"), vint(0)};
  cr_assert_eq(store_write(g_st, 8, 1, &key, 1, row, 3, 250, STORE_INSERT, NULL,
                           &g_err), SYN_EINVAL);
}

/* ---- 2PC across a simulated crash ------------------------------------------- */

Test(store, prepare_reopen_commit) {
  seed(1, 1, "old", 1, 100, STORE_INSERT);
  cr_assert_eq(wr(10, 1, "new", 2, 120, STORE_UPDATE), 0, "%s", g_err.msg);
  cr_assert_eq(wr(10, 2, "two", 2, 120, STORE_INSERT), 0, "%s", g_err.msg);
  uint64_t pts = 0;
  cr_assert_eq(store_prepare(g_st, 10, 150, &pts, &g_err), 0, "%s", g_err.msg);
  cr_assert_eq(pts, 150);
  cr_assert_eq(wr(11, 3, "three", 3, 120, STORE_INSERT), 0); /* unprepared */

  reopen(); /* crash: nothing committed for txn 10 or 11 */

  store_prepared *pl;
  size_t n;
  cr_assert_eq(store_prepared_list(g_st, &pl, &n, &g_err), 0);
  cr_assert_eq(n, 1);
  cr_assert_eq(pl[0].txn, 10);
  cr_assert_eq(pl[0].prepare_ts, 150);
  free(pl);
  /* Its locks came back with it. */
  cr_assert_eq(wr(12, 1, "x", 0, 300, STORE_UPDATE), SYN_EBUSY);
  cr_assert_eq(g_info.blocker, 10);
  /* The unprepared txn is gone and cannot continue. */
  cr_assert_eq(wr(11, 4, "four", 4, 120, STORE_INSERT), SYN_ECLOSED);
  cr_assert_eq(store_prepare(g_st, 11, 160, NULL, &g_err), SYN_ECLOSED);
  cr_assert_eq(scan_all(300, 11, NULL, NULL, 0), SYN_EBUSY,
               "prepared intents at 150 block a read at 300");
  cr_assert_eq(g_info.blocker, 10);
  /* A read below the prepare_ts is not blocked and sees the old row. */
  cr_assert_eq(scan_all(140, 0, NULL, NULL, 0), 0, "%s", g_err.msg);
  cr_assert_eq(g_rows.n, 1);
  cr_assert_str_eq(g_rows.name[0], "old");

  cr_assert_eq(store_commit(g_st, 10, 160, &g_err), 0, "%s", g_err.msg);
  cr_assert_eq(store_commit(g_st, 10, 160, &g_err), 0, "idempotent");
  cr_assert_eq(scan_all(300, 0, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.n, 2);
  cr_assert_str_eq(g_rows.name[0], "new");
  cr_assert_eq(g_rows.cts[0], 160);
  cr_assert_str_eq(g_rows.name[1], "two");
  cr_assert_eq(scan_all(155, 0, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.n, 1);
  cr_assert_str_eq(g_rows.name[0], "old");
  /* Committed data survives a second crash; the prepared list is empty. */
  reopen();
  cr_assert_eq(store_prepared_list(g_st, &pl, &n, &g_err), 0);
  cr_assert_eq(n, 0);
  free(pl);
  cr_assert_eq(scan_all(300, 0, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.n, 2);
  cr_assert_eq(wr(12, 1, "x", 0, 300, STORE_UPDATE), 0, "lock released");
  cr_assert_eq(store_commit(g_st, 10, 160, &g_err), 0);
  cr_assert_eq(store_commit(g_st, 999, 160, &g_err), 0, "unknown: done");
}

/* A real crash: a child process writes, prepares and _exit()s without
** closing, so nothing is checkpointed or cleaned up; the parent recovers
** from the WAL exactly as a restarted participant would. */
Test(store, crash_by_exit_recovers_prepared_only) {
  seed(1, 1, "old", 1, 100, STORE_INSERT);
  store_close(g_st);
  g_st = NULL;
  pid_t pid = fork();
  cr_assert_neq(pid, -1);
  if (pid == 0) {
    store *c = NULL;
    syn_err e;
    int bad = open_store(&c, &e) != 0;
    syn_value k1 = vint(1), k2 = vint(2), k3 = vint(3);
    syn_value r1[3] = {vint(1), vtext("new"), vint(2)};
    syn_value r2[3] = {vint(2), vtext("two"), vint(2)};
    syn_value r3[3] = {vint(3), vtext("three"), vint(3)};
    bad |= store_write(c, 10, 1, &k1, 1, r1, 3, 120, STORE_UPDATE, NULL, &e);
    bad |= store_write(c, 10, 1, &k2, 1, r2, 3, 120, STORE_INSERT, NULL, &e);
    bad |= store_prepare(c, 10, 150, NULL, &e);
    bad |= store_write(c, 11, 1, &k3, 1, r3, 3, 120, STORE_INSERT, NULL, &e);
    bad |= store_write(c, 12, 1, &k3, 1, NULL, 0, 120, STORE_LOCK, NULL, &e)
           != SYN_EBUSY;
    _exit(bad ? 1 : 0); /* no store_close: the process dies holding it */
  }
  int status = 0;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed");
  reopen();
  store_prepared *pl;
  size_t n;
  cr_assert_eq(store_prepared_list(g_st, &pl, &n, &g_err), 0);
  cr_assert_eq(n, 1);
  cr_assert_eq(pl[0].txn, 10);
  cr_assert_eq(pl[0].prepare_ts, 150);
  free(pl);
  cr_assert_eq(wr(13, 2, "x", 0, 300, STORE_UPDATE), SYN_EBUSY);
  cr_assert_eq(g_info.blocker, 10);
  cr_assert_eq(wr(13, 3, "x", 0, 300, STORE_UPDATE), 0,
               "txn 11's lock died with it: %s", g_err.msg);
  cr_assert_eq(store_abort(g_st, 13, &g_err), 0);
  cr_assert_eq(wr(11, 4, "four", 4, 120, STORE_INSERT), SYN_ECLOSED);
  cr_assert_eq(store_commit(g_st, 10, 160, &g_err), 0, "%s", g_err.msg);
  cr_assert_eq(scan_all(300, 0, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.n, 2);
  cr_assert_str_eq(g_rows.name[0], "new");
  cr_assert_str_eq(g_rows.name[1], "two");
}

Test(store, prepare_reopen_abort) {
  seed(1, 1, "old", 1, 100, STORE_INSERT);
  cr_assert_eq(wr(20, 1, "new", 2, 120, STORE_UPDATE), 0);
  cr_assert_eq(wr(20, 5, "five", 5, 120, STORE_INSERT), 0);
  cr_assert_eq(store_prepare(g_st, 20, 150, NULL, &g_err), 0);
  reopen();
  cr_assert_eq(store_abort(g_st, 20, &g_err), 0, "%s", g_err.msg);
  cr_assert_eq(store_abort(g_st, 20, &g_err), 0, "idempotent");
  cr_assert_eq(store_commit(g_st, 20, 160, &g_err), SYN_ECLOSED);
  cr_assert_eq(scan_all(300, 0, NULL, NULL, 0), 0, "no longer blocked");
  cr_assert_eq(g_rows.n, 1);
  cr_assert_str_eq(g_rows.name[0], "old");
  reopen();
  store_prepared *pl;
  size_t n;
  cr_assert_eq(store_prepared_list(g_st, &pl, &n, &g_err), 0);
  cr_assert_eq(n, 0, "a durable abort does not resurrect the prepare");
  free(pl);
  cr_assert_eq(wr(21, 5, "five", 5, 300, STORE_INSERT), 0, "%s", g_err.msg);
}

Test(store, idempotent_outcomes) {
  cr_assert_eq(wr(30, 1, "a", 1, 100, STORE_INSERT), 0);
  uint64_t pts;
  cr_assert_eq(store_prepare(g_st, 30, 150, &pts, &g_err), 0);
  cr_assert_eq(store_prepare(g_st, 30, 170, &pts, &g_err), 0);
  cr_assert_eq(pts, 150, "the first prepare_ts stands");
  cr_assert_eq(wr(30, 2, "b", 1, 100, STORE_INSERT), SYN_EINVAL,
               "no writes after prepare");
  cr_assert_eq(store_commit_one_phase(g_st, 30, 200, &g_err), SYN_EINVAL);
  cr_assert_eq(store_commit(g_st, 30, 140, &g_err), SYN_EINVAL,
               "commit_ts below prepare_ts");
  cr_assert_eq(store_commit(g_st, 30, 200, &g_err), 0);
  cr_assert_eq(store_commit(g_st, 30, 200, &g_err), 0);
  cr_assert_eq(store_abort(g_st, 30, &g_err), SYN_EINVAL);
  cr_assert_eq(store_prepare(g_st, 30, 150, NULL, &g_err), SYN_EINVAL);
  store_txn_state s;
  uint64_t cts;
  cr_assert_eq(store_txn_state_get(g_st, 30, &s, &pts, &cts, &g_err), 0);
  cr_assert_eq(s, STORE_TXN_COMMITTED);
  cr_assert_eq(cts, 200);

  cr_assert_eq(wr(31, 3, "c", 1, 250, STORE_INSERT), 0);
  cr_assert_eq(store_abort(g_st, 31, &g_err), 0);
  cr_assert_eq(store_abort(g_st, 31, &g_err), 0);
  cr_assert_eq(store_commit_one_phase(g_st, 31, 300, &g_err), SYN_ECLOSED);
  cr_assert_eq(wr(31, 3, "c", 1, 250, STORE_INSERT), SYN_ECLOSED);
  cr_assert_eq(store_abort(g_st, 32, &g_err), 0, "unknown txn: presumed");
  cr_assert_eq(wr(32, 4, "d", 1, 250, STORE_INSERT), SYN_ECLOSED,
               "a late write after abort is refused");
  cr_assert_eq(store_commit_one_phase(g_st, 33, 300, &g_err), SYN_ENOTFOUND,
               "no record: the outcome is unknown, never a silent COMMIT");
  cr_assert_eq(store_prepare(g_st, 34, 300, NULL, &g_err), 0, "empty prepare");
  cr_assert_eq(store_commit(g_st, 34, 300, &g_err), 0);
  cr_assert_eq(store_commit(g_st, 0, 300, &g_err), SYN_EINVAL);
  cr_assert_eq(store_prepare(g_st, 35, 0, NULL, &g_err), SYN_ERANGE);
}

/* ---- Clock-SI -------------------------------------------------------------- */

Test(store, clock_si_prepared_intents_block_reads) {
  seed(1, 1, "a", 10, 100, STORE_INSERT);
  seed(2, 2, "b", 500, 100, STORE_INSERT);
  cr_assert_eq(wr(40, 1, "a", 11, 150, STORE_UPDATE), 0);
  cr_assert_eq(store_prepare(g_st, 40, 200, NULL, &g_err), 0);
  cr_assert_eq(wr(41, 3, "c", 30, 150, STORE_INSERT), 0); /* unprepared */

  cr_assert_eq(scan_all(250, 0, NULL, NULL, 0), SYN_EBUSY);
  cr_assert_eq(g_info.blocker, 40);
  cr_assert_eq(scan_all(200, 0, NULL, NULL, 0), SYN_EBUSY, "pts == snapshot");
  int found;
  cr_assert_eq(get1(1, 250, 0, &found), SYN_EBUSY);
  cr_assert_eq(g_info.blocker, 40);
  /* prepare_ts > snapshot: invisible, no wait. */
  cr_assert_eq(scan_all(199, 0, NULL, NULL, 0), 0, "%s", g_err.msg);
  cr_assert_eq(g_rows.n, 2, "unprepared intent of txn 41 is invisible");
  cr_assert_eq(g_rows.bal[0], 10);
  /* Keys the read does not cover do not block it. */
  cr_assert_eq(get1(2, 250, 0, &found), 0);
  cr_assert(found);
  syn_value p = vint(100);
  cr_assert_eq(scan_all(250, 0, "bal > ?1", &p, 1), 0, "%s", g_err.msg);
  cr_assert_eq(g_rows.n, 1);
  cr_assert_eq(g_rows.id[0], 2);
  /* Resuming after key 1 skips the prepared key. */
  syn_value k1 = vint(1);
  uint8_t cur[16];
  size_t clen;
  cr_assert_eq(store_key_encode(&k1, 1, cur, sizeof cur, &clen, &g_err), 0);
  store_scan_opts o = {.snapshot_ts = 250, .after_key = cur,
                       .after_key_len = clen};
  store_scan_result res;
  memset(&g_rows, 0, sizeof g_rows);
  cr_assert_eq(store_scan(g_st, 1, &o, collect, &g_rows, &res, &g_info,
                          &g_err), 0, "%s", g_err.msg);
  cr_assert_eq(res.nrows, 1);
  /* The writer itself is never blocked by its own prepared intent. */
  cr_assert_eq(scan_all(250, 40, NULL, NULL, 0), 0, "%s", g_err.msg);
  cr_assert_eq(g_rows.bal[0], 11);
  /* Once decided, the read proceeds and sees the commit if <= snapshot. */
  cr_assert_eq(store_commit(g_st, 40, 210, &g_err), 0);
  cr_assert_eq(scan_all(250, 0, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.bal[0], 11);
  cr_assert_eq(scan_all(205, 0, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.bal[0], 10);
}

/* ---- filters and cursors ----------------------------------------------------- */

/* Rows 1..n (name n00001.., bal = 10 * id) in batches of 500. */
static void seed_many(int n, uint64_t txn, uint64_t ts) {
  enum { B = 500 };
  static syn_value keys[B], rowv[B][3];
  static char names[B][16];
  static store_write_op ops[B];
  for (int base = 1; base <= n; base += B) {
    int m = 0;
    for (int i = base; i <= n && m < B; i++, m++) {
      snprintf(names[m], sizeof names[m], "n%05d", i);
      keys[m] = vint(i);
      rowv[m][0] = vint(i);
      rowv[m][1] = vtext(names[m]);
      rowv[m][2] = vint(i * 10);
      ops[m] = (store_write_op){.mode = STORE_INSERT, .key = &keys[m],
                                .nkey = 1, .row = rowv[m], .nrow = 3};
    }
    int done = -1;
    cr_assert_eq(store_write_batch(g_st, txn, 1, ops, m, ts - 1, &done,
                                   &g_info, &g_err), 0, "%s", g_err.msg);
    cr_assert_eq(done, m);
  }
  cr_assert_eq(store_commit_one_phase(g_st, txn, ts, &g_err), 0);
}

Test(store, write_batch_stops_at_first_failure) {
  seed(1, 1, "taken", 1, 100, STORE_INSERT);
  syn_value k[4] = {vint(2), vint(3), vint(4), vint(5)};
  syn_value r[4][3] = {{vint(2), vtext("b"), vint(2)},
                       {vint(3), vtext("c"), vint(3)},
                       {vint(4), vtext("taken"), vint(4)},
                       {vint(5), vtext("e"), vint(5)}};
  store_write_op ops[4];
  for (int i = 0; i < 4; i++)
    ops[i] = (store_write_op){.mode = STORE_INSERT, .key = &k[i], .nkey = 1,
                              .row = r[i], .nrow = 3};
  int done = -1;
  cr_assert_eq(store_write_batch(g_st, 7, 1, ops, 4, 150, &done, &g_info,
                                 &g_err), STORE_EUNIQUE);
  cr_assert_eq(done, 2);
  cr_assert_str_eq(g_info.constraint, "accounts_name_key");
  cr_assert_eq(scan_all(150, 7, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.n, 3, "rows 1, 2, 3; not the failed 4 nor 5");
  cr_assert_eq(g_rows.id[2], 3);
  uint64_t holder;
  cr_assert_eq(store_lock_holder(g_st, 1, &k[2], 1, &holder, &g_err), 0);
  cr_assert_eq(holder, 0, "the failed op took no lock");
  /* A bad op in the middle: count mismatch. */
  ops[2].nrow = 2;
  ops[2].key = &k[2];
  cr_assert_eq(store_write_batch(g_st, 8, 1, &ops[2], 2, 150, &done, NULL,
                                 &g_err), SYN_EINVAL);
  cr_assert_eq(done, 0);
  cr_assert_eq(store_write_batch(g_st, 8, 1, ops, 0, 150, &done, NULL,
                                 &g_err), 0);
}

Test(store, filter_limit_and_resume) {
  seed_many(100, 1, 100);
  syn_value p[2] = {vint(200), vint(600)};
  static rows all;
  memset(&all, 0, sizeof all);
  store_scan_opts o = {.snapshot_ts = 100, .filter = "bal >= ?1 AND bal < ?2",
                       .params = p, .nparams = 2, .limit = 15};
  store_scan_result res;
  int batches = 0;
  for (;;) {
    int rc = store_scan(g_st, 1, &o, collect, &all, &res, &g_info, &g_err);
    cr_assert_eq(rc, 0, "%s", g_err.msg);
    batches++;
    cr_assert_leq(res.nrows, 15);
    if (!res.more) break;
    cr_assert_leq(batches, 10);
    static uint8_t cur[64];
    memcpy(cur, res.last_key, res.last_key_len);
    o.after_key = cur;
    o.after_key_len = res.last_key_len;
  }
  cr_assert_eq(all.n, 40);
  for (int i = 0; i < 40; i++) cr_assert_eq(all.id[i], 20 + i);
  cr_assert_eq(batches, 3);
  /* Text filters, LIKE, functions, quoted literal with ')' inside. */
  syn_value t = vtext("n0001%");
  cr_assert_eq(scan_all(100, 0, "name LIKE ?1 AND abs(bal) > 0", &t, 1), 0,
               "%s", g_err.msg);
  cr_assert_eq(g_rows.n, 10);
  cr_assert_eq(scan_all(100, 0, "name <> 'x)y' AND \"id\" = 7", NULL, 0), 0,
               "%s", g_err.msg);
  cr_assert_eq(g_rows.n, 1);
  cr_assert_eq(g_rows.id[0], 7);
  /* A callback can stop early; the cursor is the last row delivered. */
  memset(&g_rows, 0, sizeof g_rows);
  store_scan_opts o2 = {.snapshot_ts = 100};
  cr_assert_eq(store_scan(g_st, 1, &o2, collect, &g_rows, &res, NULL, &g_err),
               0);
  cr_assert_eq(res.nrows, 100);
  cr_assert_eq(res.more, 0);
}

Test(store, bad_filters_rejected) {
  seed_many(5, 1, 100);
  static const char *const bad[] = {
      "bal = 1; DROP TABLE v1",
      "1) OR (1",
      "1) UNION SELECT 1 FROM _syn_txns WHERE (1",
      "bal = 1 --",
      "bal = 1 /* x */",
      "nosuchcol = 1",
      "_syn_ts > 0",
      "_syn_del = 1",
      "(SELECT count(*) FROM _syn_txns) > 0",
      "(SELECT count(*) FROM v1) > 0",
      "bal = :x",
      "bal = $x",
      "'unterminated",
      "count(*) > 1",
      "bal =",
      ")(",
      "",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = scan_all(100, 0, bad[i], NULL, 0);
    if (bad[i][0] == '\0') {
      cr_assert_eq(rc, 0, "empty filter means none");
      continue;
    }
    cr_assert_eq(rc, SYN_EINVAL, "filter \"%s\" gave %d", bad[i], rc);
  }
  /* Parameter count must match. */
  syn_value p = vint(1);
  cr_assert_eq(scan_all(100, 0, "bal = ?1 OR bal = ?2", &p, 1), SYN_EINVAL);
  cr_assert_eq(scan_all(100, 0, "bal > 0", &p, 1), SYN_EINVAL);
  /* Prepares, but fails while running (integer overflow in abs()). */
  cr_assert_eq(scan_all(100, 0, "abs(bal - 9223372036854775807 - 11) > 0",
                        NULL, 0), SYN_EINVAL);
  /* The store keeps serving. */
  cr_assert_eq(scan_all(100, 0, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.n, 5);
  cr_assert_eq(wr(2, 6, "six", 60, 100, STORE_INSERT), 0, "%s", g_err.msg);
}

/* Random token soup as filters: never a crash, only 0 or SYN_EINVAL, and
** whatever is accepted can only narrow the snapshot's rows, never expose
** versions the snapshot cannot see. */
Test(store, random_filters_never_bypass_mvcc) {
  for (int i = 1; i <= 11; i++) {
    char nm[8];
    snprintf(nm, sizeof nm, "r%d", i);
    seed(100 + (uint64_t)i, i, nm, i, 100, STORE_INSERT);
  }
  seed(200, 11, NULL, 0, 120, STORE_DELETE);
  for (int i = 1; i <= 10; i++) {
    char nm[8];
    snprintf(nm, sizeof nm, "r%d", i);
    seed(300 + (uint64_t)i, i, nm, 1000 + i, 200 + (uint64_t)i, STORE_UPDATE);
  }
  static const char *const tok[] = {
      "bal", "id", "name", "1", "0", "'x'", "(", ")", "AND", "OR", "NOT",
      ">", "=", "<", "+", "-", "--", ";", "/*", "*/", "UNION", "SELECT",
      "FROM", "v1", "i1", "_syn_ts", "?1", "\"id\"", ",", "IS", "NULL",
      "LIKE", "abs(", "count(*)", "CASE", "WHEN", "THEN", "END", "IN",
      "x'00'", "'", "\"", "[", "]", "`", "ORDER BY", "LIMIT", "max(",
      "_syn_del", "WHERE", "EXISTS", "%", "||", "ATTACH", "PRAGMA"};
  const int ntok = (int)(sizeof tok / sizeof tok[0]);
  srand(11);
  int accepted = 0;
  syn_value p = vint(3);
  for (int iter = 0; iter < 3000; iter++) {
    char f[256] = "";
    if (iter % 2) { /* token soup */
      int n = 1 + rand() % 7;
      for (int k = 0; k < n; k++) {
        strncat(f, tok[rand() % ntok], sizeof f - strlen(f) - 2);
        strncat(f, " ", sizeof f - strlen(f) - 1);
      }
    } else { /* mostly well-formed: a OP b [AND|OR a OP b], maybe mutated */
      static const char *const term[] = {"bal", "id", "1", "5", "?1",
                                         "abs(bal)", "length(name)", "NULL"};
      static const char *const op[] = {">", "<", "=", "<>", "IS", "IS NOT",
                                       ">="};
      const int nt = (int)(sizeof term / sizeof term[0]);
      const int no = (int)(sizeof op / sizeof op[0]);
      snprintf(f, sizeof f, "%s %s %s%s%s %s %s", term[rand() % nt],
               op[rand() % no], term[rand() % nt],
               rand() % 2 ? " AND " : " OR ", term[rand() % nt],
               op[rand() % no], term[rand() % nt]);
      if (rand() % 3 == 0) { /* splice in a hostile token */
        size_t at = (size_t)rand() % strlen(f);
        char tail[128];
        snprintf(tail, sizeof tail, "%.100s", f + at);
        f[at] = '\0';
        strncat(f, " ", sizeof f - strlen(f) - 1);
        strncat(f, tok[rand() % ntok], sizeof f - strlen(f) - 1);
        strncat(f, " ", sizeof f - strlen(f) - 1);
        strncat(f, tail, sizeof f - strlen(f) - 1);
      }
    }
    int rc = scan_all(150, 0, f, &p, strstr(f, "?1") ? 1 : 0);
    cr_assert(rc == 0 || rc == SYN_EINVAL, "filter \"%s\" gave %d", f, rc);
    if (rc) continue;
    accepted++;
    cr_assert_leq(g_rows.n, 10, "filter \"%s\"", f);
    for (int r = 0; r < g_rows.n; r++) {
      cr_assert_neq(g_rows.id[r], 11, "deleted row via \"%s\"", f);
      cr_assert_eq(g_rows.bal[r], g_rows.id[r], "future version via \"%s\"",
                   f);
    }
  }
  cr_log_info("random filters: %d of 3000 accepted", accepted);
  cr_assert_gt(accepted, 300, "the generator should produce valid filters");
  cr_assert_eq(scan_all(150, 0, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.n, 10);
}

/* ---- GC ---------------------------------------------------------------------- */

/* The first column of the first row of sql, read directly in the
** backend's database (SQLite file or PostgreSQL database). */
static int pg_count(const char *sql) {
  PGconn *c = PQconnectdb(g_conninfo);
  cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
  PGresult *r = PQexec(c, sql);
  cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql,
               PQresultErrorMessage(r));
  int n = atoi(PQgetvalue(r, 0, 0));
  PQclear(r);
  PQfinish(c);
  return n;
}

static int count_versions(const char *dir, const char *where) {
  char path[128], sql[256];
  if (g_pg) {
    snprintf(sql, sizeof sql, "SELECT count(*) FROM v1 WHERE %s", where);
    return pg_count(sql);
  }
  snprintf(path, sizeof path, "%s/store.db", dir);
  sqlite3 *db;
  cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
               SQLITE_OK);
  snprintf(sql, sizeof sql, "SELECT count(*) FROM v1 WHERE %s", where);
  sqlite3_stmt *s;
  cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s",
               sqlite3_errmsg(db));
  cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
  int n = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return n;
}

Test(store, gc_keeps_what_snapshots_need) {
  seed(1, 1, "a", 1, 100, STORE_INSERT);
  seed(2, 1, "a", 2, 200, STORE_UPDATE);
  seed(3, 1, "a", 3, 300, STORE_UPDATE);
  seed(4, 2, "b", 1, 100, STORE_INSERT);
  seed(5, 2, NULL, 0, 200, STORE_DELETE);
  seed(6, 3, "c", 1, 100, STORE_INSERT);
  seed(7, 3, NULL, 0, 300, STORE_DELETE);
  int before[3];
  uint64_t snaps[3] = {250, 300, 350};
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(scan_all(snaps[i], 0, NULL, NULL, 0), 0);
    before[i] = g_rows.n * 1000 + (int)g_rows.bal[0];
  }
  cr_assert_eq(store_gc(g_st, 250, &g_err), 0, "%s", g_err.msg);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(scan_all(snaps[i], 0, NULL, NULL, 0), 0);
    cr_assert_eq(g_rows.n * 1000 + (int)g_rows.bal[0], before[i],
                 "snapshot %llu changed", (unsigned long long)snaps[i]);
  }
  cr_assert_eq(scan_all(150, 0, NULL, NULL, 0), SYN_ERANGE);
  cr_assert_eq(store_gc(g_st, 200, &g_err), SYN_EINVAL, "horizon regressed");
  store_close(g_st);
  g_st = NULL;
  /* key 1: versions 200 (newest <= 250) and 300 remain; key 2's tombstone
  ** and its old version are gone; key 3 keeps 100 and its tombstone. */
  cr_assert_eq(count_versions(g_dir, "_syn_ts = 100 AND _syn_del = 0"), 1);
  cr_assert_eq(count_versions(g_dir, "true"), 4);
  cr_assert_eq(count_versions(g_dir, "_syn_del = 1"), 1);
  reopen();
  cr_assert_eq(scan_all(150, 0, NULL, NULL, 0), SYN_ERANGE,
               "the horizon is persistent");
  cr_assert_eq(scan_all(300, 0, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.n, 1);
  cr_assert_eq(g_rows.bal[0], 3);
}

Test(store, gc_ts_reports_the_horizon) {
  cr_assert_eq(store_gc_ts(g_st), 0, "no GC yet");
  cr_assert_eq(store_gc_ts(NULL), 0);
  seed(1, 1, "a", 1, 100, STORE_INSERT);
  cr_assert_eq(store_gc(g_st, 150, &g_err), 0, "%s", g_err.msg);
  cr_assert_eq(store_gc_ts(g_st), 150);
  cr_assert_eq(store_gc(g_st, 140, &g_err), SYN_EINVAL);
  cr_assert_eq(store_gc_ts(g_st), 150, "a refused GC leaves the horizon");
  reopen();
  cr_assert_eq(store_gc_ts(g_st), 150, "kept across a restart");
}

/* store_txn_list: one state at a time, ordered by prepare_ts then id;
** store_prepared_list is the PREPARED list. */
Test(store, txn_list_by_state) {
  cr_assert_eq(wr(30, 1, "a", 1, 100, STORE_INSERT), 0, "%s", g_err.msg);
  cr_assert_eq(wr(10, 2, "b", 1, 100, STORE_INSERT), 0, "%s", g_err.msg);
  cr_assert_eq(wr(20, 3, "c", 1, 100, STORE_INSERT), 0, "%s", g_err.msg);
  cr_assert_eq(store_prepare(g_st, 20, 170, NULL, &g_err), 0);
  cr_assert_eq(wr(40, 4, "d", 1, 100, STORE_INSERT), 0);
  cr_assert_eq(store_prepare(g_st, 40, 160, NULL, &g_err), 0);
  cr_assert_eq(wr(50, 5, "e", 1, 100, STORE_INSERT), 0);
  cr_assert_eq(store_commit_one_phase(g_st, 50, 180, &g_err), 0);
  cr_assert_eq(store_abort(g_st, 60, &g_err), 0);
  store_prepared *l = NULL;
  size_t n = 0;
  cr_assert_eq(store_txn_list(g_st, STORE_TXN_ACTIVE, &l, &n, &g_err), 0, "%s", g_err.msg);
  cr_assert_eq(n, 2);
  cr_assert_eq(l[0].txn, 10);
  cr_assert_eq(l[0].prepare_ts, 0);
  cr_assert_eq(l[1].txn, 30);
  free(l);
  cr_assert_eq(store_txn_list(g_st, STORE_TXN_PREPARED, &l, &n, &g_err), 0);
  cr_assert_eq(n, 2);
  cr_assert_eq(l[0].txn, 40, "oldest prepare first");
  cr_assert_eq(l[0].prepare_ts, 160);
  cr_assert_eq(l[1].txn, 20);
  free(l);
  cr_assert_eq(store_prepared_list(g_st, &l, &n, &g_err), 0);
  cr_assert_eq(n, 2);
  cr_assert_eq(l[0].txn, 40);
  cr_assert_eq(l[1].txn, 20);
  free(l);
  cr_assert_eq(store_txn_list(g_st, STORE_TXN_COMMITTED, &l, &n, &g_err), 0);
  cr_assert_eq(n, 1);
  cr_assert_eq(l[0].txn, 50);
  free(l);
  cr_assert_eq(store_txn_list(g_st, STORE_TXN_ABORTED, &l, &n, &g_err), 0);
  cr_assert_eq(n, 1);
  cr_assert_eq(l[0].txn, 60);
  free(l);
  cr_assert_eq(store_txn_list(g_st, STORE_TXN_UNKNOWN, &l, &n, &g_err), SYN_EINVAL);
  cr_assert_null(l);
  cr_assert_eq(n, 0);
  cr_assert_eq(store_txn_list(g_st, (store_txn_state)7, &l, &n, &g_err), SYN_EINVAL);
  cr_assert_eq(store_txn_list(g_st, STORE_TXN_ACTIVE, NULL, &n, &g_err), SYN_EINVAL);
  /* Aborting the active ones empties the ACTIVE list; the rest is left. */
  cr_assert_eq(store_abort(g_st, 10, &g_err), 0);
  cr_assert_eq(store_abort(g_st, 30, &g_err), 0);
  cr_assert_eq(store_txn_list(g_st, STORE_TXN_ACTIVE, &l, &n, &g_err), 0);
  cr_assert_eq(n, 0);
  cr_assert_null(l);
  cr_assert_eq(store_prepared_list(g_st, &l, &n, &g_err), 0);
  cr_assert_eq(n, 2);
  free(l);
}

/* ---- DDL ----------------------------------------------------------------------- */

Test(store, ddl_columns_and_indexes) {
  seed(1, 1, "a", 1, 100, STORE_INSERT);
  store_col_def note = {"note", "TEXT"};
  syn_value dflt = vtext("none");
  cr_assert_eq(store_add_column(g_st, 1, &note, &dflt, &g_err), 0, "%s",
               g_err.msg);
  cr_assert_eq(store_table_ncols(g_st, 1), 4);
  cr_assert_eq(scan_all(100, 0, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.ncols, 4);
  cr_assert_str_eq(g_rows.extra[0], "none");
  syn_value key = vint(2);
  syn_value row[4] = {vint(2), vtext("b"), vint(2), vtext("hello")};
  cr_assert_eq(store_write(g_st, 2, 1, &key, 1, row, 4, 150, STORE_INSERT, NULL,
                           &g_err), 0, "%s", g_err.msg);
  syn_value p = vtext("hello");
  cr_assert_eq(scan_all(150, 2, "note = ?1", &p, 1), 0, "%s", g_err.msg);
  cr_assert_eq(g_rows.n, 1);
  cr_assert_eq(g_rows.id[0], 2);
  /* A txn with intents on the table blocks a column drop. */
  cr_assert_eq(store_drop_column(g_st, 1, "note", &g_info, &g_err), SYN_EBUSY);
  cr_assert_eq(g_info.blocker, 2);
  cr_assert_eq(store_drop_table(g_st, 1, &g_info, &g_err), SYN_EBUSY);
  cr_assert_eq(store_commit_one_phase(g_st, 2, 200, &g_err), 0);

  cr_assert_eq(store_rename_column(g_st, 1, "note", "memo", &g_err), 0, "%s",
               g_err.msg);
  cr_assert_eq(scan_all(200, 0, "note = ?1", &p, 1), SYN_EINVAL);
  cr_assert_eq(scan_all(200, 0, "memo = ?1", &p, 1), 0, "%s", g_err.msg);
  cr_assert_eq(g_rows.n, 1);
  cr_assert_eq(store_rename_column(g_st, 1, "memo", "_syn_x", &g_err),
               SYN_EINVAL);
  store_col_def dup = {"memo", "TEXT"};
  cr_assert_eq(store_add_column(g_st, 1, &dup, NULL, &g_err), SYN_EEXIST);

  /* A unique index over existing duplicates is refused. */
  seed(3, 3, "c", 2, 250, STORE_INSERT);
  int bal_col[] = {2};
  store_index_def u = {"bal_key", 1, 1, bal_col};
  cr_assert_eq(store_create_index(g_st, 1, &u, &g_info, &g_err),
               STORE_EUNIQUE);
  cr_assert_str_eq(g_info.constraint, "bal_key");
  int memo_col[] = {3};
  store_index_def mu = {"memo_key", 1, 1, memo_col};
  cr_assert_eq(store_create_index(g_st, 1, &mu, &g_info, &g_err), 0, "%s",
               g_err.msg);
  syn_value k4 = vint(4);
  syn_value r4[4] = {vint(4), vtext("d"), vint(9), vtext("hello")};
  cr_assert_eq(store_write(g_st, 4, 1, &k4, 1, r4, 4, 300, STORE_INSERT, &g_info,
                           &g_err), STORE_EUNIQUE);
  cr_assert_str_eq(g_info.constraint, "memo_key");
  cr_assert_eq(store_abort(g_st, 4, &g_err), 0);

  /* Dropping the column drops the index using it; the catalog survives. */
  cr_assert_eq(store_drop_column(g_st, 1, "memo", NULL, &g_err), 0, "%s",
               g_err.msg);
  cr_assert_eq(store_drop_column(g_st, 1, "id", NULL, &g_err), SYN_EINVAL);
  reopen();
  cr_assert_eq(store_table_ncols(g_st, 1), 3);
  cr_assert_eq(store_drop_index(g_st, 1, "memo_key", &g_err), SYN_ENOTFOUND);
  cr_assert_eq(store_drop_index(g_st, 1, "accounts_bal_idx", &g_err), 0);
  cr_assert_eq(wr(5, 5, "a", 1, 300, STORE_INSERT), STORE_EUNIQUE,
               "unique constraint still enforced after reopen");
  cr_assert_eq(store_abort(g_st, 5, &g_err), 0);
  cr_assert_eq(scan_all(300, 0, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.n, 3);
  cr_assert_eq(g_rows.ncols, 3);

  cr_assert_eq(store_truncate_table(g_st, 1, NULL, &g_err), 0, "%s",
               g_err.msg);
  cr_assert_eq(scan_all(300, 0, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.n, 0);
  cr_assert_eq(store_drop_table(g_st, 1, NULL, &g_err), 0, "%s", g_err.msg);
  cr_assert_eq(scan_all(300, 0, NULL, NULL, 0), SYN_ENOTFOUND);
  store_table_def d = {.table_id = 1, .ncols = 3, .cols = k_cols, .nkey = 1,
                       .key_cols = k_key};
  cr_assert_eq(store_create_table(g_st, &d, &g_err), 0, "%s", g_err.msg);
  cr_assert_eq(store_create_table(g_st, &d, &g_err), SYN_EEXIST);
}

Test(store, bad_table_definitions) {
  store_col_def c1[] = {{"_syn_key", "INTEGER"}};
  store_table_def d = {.table_id = 2, .ncols = 1, .cols = c1};
  cr_assert_eq(store_create_table(g_st, &d, &g_err), SYN_EINVAL);
  store_col_def c2[] = {{"a", "VARCHAR"}};
  d.cols = c2;
  cr_assert_eq(store_create_table(g_st, &d, &g_err), SYN_EINVAL);
  store_col_def c3[] = {{"a", "TEXT"}, {"A", "TEXT"}};
  d.cols = c3;
  d.ncols = 2;
  cr_assert_eq(store_create_table(g_st, &d, &g_err), SYN_EINVAL);
  store_col_def c4[] = {{"we\"ird name", "TEXT"}, {"b", "INTEGER"}};
  int key[] = {5};
  d.cols = c4;
  d.nkey = 1;
  d.key_cols = key;
  cr_assert_eq(store_create_table(g_st, &d, &g_err), SYN_EINVAL);
  key[0] = 0;
  cr_assert_eq(store_create_table(g_st, &d, &g_err), 0, "%s", g_err.msg);
  syn_value k = vtext("x");
  syn_value row[2] = {vtext("x"), vint(1)};
  cr_assert_eq(store_write(g_st, 1, 2, &k, 1, row, 2, 10, STORE_INSERT, NULL,
                           &g_err), 0, "%s", g_err.msg);
  syn_value nk = {.type = SYN_V_NULL};
  cr_assert_eq(store_write(g_st, 1, 2, &nk, 1, NULL, 0, 10, STORE_DELETE, NULL,
                           &g_err), SYN_EINVAL);
  cr_assert_eq(store_write(g_st, 1, 77, &k, 1, row, 2, 10, STORE_INSERT, NULL,
                           &g_err), SYN_ENOTFOUND);
  cr_assert_eq(store_write(g_st, 1, 2, &k, 1, row, 2, 10, (store_write_mode)9, NULL,
                           &g_err), SYN_EINVAL);
}

/* ---- hidden row ids, keys, misc ------------------------------------------------ */

static int g_nseen;

static int rowid_cb(void *ud, const store_row *r) {
  int64_t *seen = ud;
  if (g_nseen < 8) seen[g_nseen++] = r->rowid;
  return 0;
}

Test(store, hidden_rowid_table) {
  store_col_def c[] = {{"v", "TEXT"}};
  store_table_def d = {.table_id = 3, .ncols = 1, .cols = c, .nkey = 0};
  cr_assert_eq(store_create_table(g_st, &d, &g_err), 0, "%s", g_err.msg);
  int64_t ids[] = {5, -3, 1LL << 40};
  for (int i = 0; i < 3; i++) {
    syn_value k = vint(ids[i]);
    syn_value row[1] = {vtext("same")};
    cr_assert_eq(store_write(g_st, 9, 3, &k, 1, row, 1, 10, STORE_INSERT, NULL,
                             &g_err), 0, "%s", g_err.msg);
  }
  cr_assert_eq(store_commit_one_phase(g_st, 9, 20, &g_err), 0);
  static int64_t seen[8];
  g_nseen = 0;
  store_scan_opts o = {.snapshot_ts = 20};
  store_scan_result res;
  cr_assert_eq(store_scan(g_st, 3, &o, rowid_cb, seen, &res, NULL, &g_err), 0,
               "%s", g_err.msg);
  cr_assert_eq(res.nrows, 3);
  cr_assert_eq(seen[0], -3);
  cr_assert_eq(seen[1], 5);
  cr_assert_eq(seen[2], 1LL << 40);
  /* One txn over two tables commits both atomically. */
  syn_value k7 = vint(7);
  syn_value r7[1] = {vtext("seven")};
  cr_assert_eq(store_write(g_st, 11, 3, &k7, 1, r7, 1, 30, STORE_INSERT, NULL,
                           &g_err), 0, "%s", g_err.msg);
  cr_assert_eq(wr(11, 70, "seventy", 70, 30, STORE_INSERT), 0, "%s",
               g_err.msg);
  cr_assert_eq(store_prepare(g_st, 11, 40, NULL, &g_err), 0);
  reopen();
  cr_assert_eq(store_commit(g_st, 11, 45, &g_err), 0, "%s", g_err.msg);
  int found;
  cr_assert_eq(get1(70, 45, 0, &found), 0);
  cr_assert(found);
  g_nseen = 0;
  o.snapshot_ts = 45;
  cr_assert_eq(store_scan(g_st, 3, &o, rowid_cb, seen, &res, NULL, &g_err), 0);
  cr_assert_eq(res.nrows, 4);
  cr_assert_eq(seen[2], 7);
  /* A double-quoted unknown name is an error, not a string literal. */
  o.filter = "v = \"seven\"";
  cr_assert_eq(store_scan(g_st, 3, &o, rowid_cb, seen, &res, NULL, &g_err),
               SYN_EINVAL);
  o.filter = "v = 'seven'";
  cr_assert_eq(store_scan(g_st, 3, &o, rowid_cb, seen, &res, NULL, &g_err), 0,
               "%s", g_err.msg);
  cr_assert_eq(res.nrows, 1);
  syn_value tk = vtext("x");
  cr_assert_eq(store_write(g_st, 10, 3, &tk, 1, NULL, 0, 30, STORE_DELETE, NULL,
                           &g_err), SYN_EINVAL);
}

Test(store, key_encoding_order) {
  syn_value a[] = {vint(-5), vint(0), vint(7), vint(INT64_MAX)};
  uint8_t prev[64], cur[64];
  size_t pl = 0, cl;
  for (int i = 0; i < 4; i++) {
    cr_assert_eq(store_key_encode(&a[i], 1, cur, sizeof cur, &cl, NULL), 0);
    if (i) cr_assert_lt(memcmp(prev, cur, pl < cl ? pl : cl), 0);
    memcpy(prev, cur, cl);
    pl = cl;
  }
  /* "ab" < "ab\0" < "ab\1" < "b", and a composite key orders by column. */
  syn_value t[4] = {vtext("ab"), {.type = SYN_V_TEXT}, {.type = SYN_V_TEXT},
                    vtext("b")};
  t[1].u.b.p = (const uint8_t *)"ab\0";
  t[1].u.b.n = 3;
  t[2].u.b.p = (const uint8_t *)"ab\1";
  t[2].u.b.n = 3;
  uint8_t enc[4][16];
  size_t len[4];
  for (int i = 0; i < 4; i++)
    cr_assert_eq(store_key_encode(&t[i], 1, enc[i], 16, &len[i], NULL), 0);
  for (int i = 1; i < 4; i++) {
    size_t n = len[i - 1] < len[i] ? len[i - 1] : len[i];
    int c = memcmp(enc[i - 1], enc[i], n);
    cr_assert(c < 0 || (c == 0 && len[i - 1] < len[i]), "order %d", i);
  }
  syn_value comp1[2] = {vtext("a"), vint(9)}, comp2[2] = {vtext("ab"), vint(1)};
  size_t l1, l2;
  cr_assert_eq(store_key_encode(comp1, 2, enc[0], 16, &l1, NULL), 0);
  cr_assert_eq(store_key_encode(comp2, 2, enc[1], 16, &l2, NULL), 0);
  cr_assert_lt(memcmp(enc[0], enc[1], l1 < l2 ? l1 : l2), 0);
  cr_assert_eq(store_key_encode(comp1, 2, enc[0], 4, &l1, NULL), SYN_ERANGE);
  cr_assert_eq(l1, 13);
}

static int reenter(void *ud, const store_row *r) {
  (void)r;
  syn_err e;
  *(int *)ud = store_abort(g_st, 1, &e);
  return 1;
}

Test(store, callbacks_cannot_reenter_and_one_owner_per_dir) {
  seed(1, 1, "a", 1, 100, STORE_INSERT);
  int got = 0;
  store_scan_opts o = {.snapshot_ts = 100};
  store_scan_result res;
  cr_assert_eq(store_scan(g_st, 1, &o, reenter, &got, &res, NULL, &g_err), 0);
  cr_assert_eq(got, SYN_EBUSY);
  cr_assert_eq(res.more, 1, "stopped by the callback");
  store *other = NULL;
  cr_assert_eq(open_store(&other, &g_err), SYN_EBUSY, "%s", g_err.msg);
  cr_assert_null(other);
}

/* A txn aborted by recovery must stay known as aborted while it can still
** be live (GC horizon <= its snapshot): otherwise a late prepare or
** one-phase commit would see "unknown" and acknowledge lost writes. */
Test(store, recovery_abort_survives_gc_while_txn_live) {
  cr_assert_eq(wr(70, 1, "a", 1, 500, STORE_INSERT), 0);
  cr_assert_eq(wr(71, 2, "b", 1, 500, STORE_INSERT), 0);
  cr_assert_eq(store_abort(g_st, 71, &g_err), 0);
  reopen();
  cr_assert_eq(store_gc(g_st, 400, &g_err), 0, "%s", g_err.msg);
  cr_assert_eq(store_commit_one_phase(g_st, 70, 600, &g_err), SYN_ECLOSED);
  cr_assert_eq(store_prepare(g_st, 70, 600, NULL, &g_err), SYN_ECLOSED);
  cr_assert_eq(store_prepare(g_st, 71, 600, NULL, &g_err), SYN_ECLOSED);
  store_txn_state s;
  cr_assert_eq(store_txn_state_get(g_st, 70, &s, NULL, NULL, &g_err), 0);
  cr_assert_eq(s, STORE_TXN_ABORTED);
  /* Once the horizon passes its snapshot the txn cannot be live. */
  cr_assert_eq(store_gc(g_st, 501, &g_err), 0);
  cr_assert_eq(store_txn_state_get(g_st, 70, &s, NULL, NULL, &g_err), 0);
  cr_assert_eq(s, STORE_TXN_UNKNOWN);
  cr_assert_eq(store_txn_state_get(g_st, 71, &s, NULL, NULL, &g_err), 0);
  cr_assert_eq(s, STORE_TXN_UNKNOWN);
}

/* ---- statement savepoints -------------------------------------------------- */

static int count_rows(const char *dir, const char *sql) {
  char path[128];
  if (g_pg) return pg_count(sql);
  snprintf(path, sizeof path, "%s/store.db", dir);
  sqlite3 *db;
  cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
               SQLITE_OK);
  sqlite3_stmt *s;
  cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s",
               sqlite3_errmsg(db));
  cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
  int n = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return n;
}

Test(store, savepoints_undo_statement_writes) {
  seed(1, 1, "a", 10, 100, STORE_INSERT);
  seed(2, 2, "b", 20, 100, STORE_INSERT);
  cr_assert_eq(store_savepoint(g_st, 50, 1, &g_err), 0, "%s", g_err.msg);
  cr_assert_eq(wr(50, 1, "a", 11, 150, STORE_UPDATE), 0, "%s", g_err.msg);
  cr_assert_eq(store_savepoint(g_st, 50, 2, &g_err), 0, "%s", g_err.msg);
  cr_assert_eq(wr(50, 1, "a", 12, 150, STORE_UPDATE), 0);
  cr_assert_eq(wr(50, 3, "c", 30, 150, STORE_INSERT), 0);
  cr_assert_eq(wr(50, 2, NULL, 0, 150, STORE_DELETE), 0);
  cr_assert_eq(wr(50, 4, NULL, 0, 150, STORE_LOCK), 0);
  cr_assert_eq(scan_all(150, 50, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.n, 2);
  cr_assert_eq(g_rows.bal[0], 12);
  cr_assert_eq(g_rows.id[1], 3);

  cr_assert_eq(store_rollback_to(g_st, 50, 2, &g_err), 0, "%s", g_err.msg);
  cr_assert_eq(scan_all(150, 50, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.n, 2);
  cr_assert_eq(g_rows.bal[0], 11, "state at savepoint 2");
  cr_assert_eq(g_rows.bal[1], 20, "the delete is undone");
  uint64_t holder;
  syn_value k1 = vint(1), k3 = vint(3), k4 = vint(4);
  cr_assert_eq(store_lock_holder(g_st, 1, &k1, 1, &holder, &g_err), 0);
  cr_assert_eq(holder, 50, "written before the savepoint: still locked");
  cr_assert_eq(store_lock_holder(g_st, 1, &k3, 1, &holder, &g_err), 0);
  cr_assert_eq(holder, 0);
  cr_assert_eq(store_lock_holder(g_st, 1, &k4, 1, &holder, &g_err), 0);
  cr_assert_eq(holder, 0, "a lock taken after the savepoint is released");
  /* Savepoint 2 stays current: write, roll back to it again. */
  cr_assert_eq(wr(50, 2, "b", 21, 150, STORE_UPDATE), 0);
  cr_assert_eq(store_rollback_to(g_st, 50, 2, &g_err), 0);
  cr_assert_eq(scan_all(150, 50, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.bal[1], 20);
  cr_assert_eq(store_rollback_to(g_st, 50, 3, &g_err), SYN_EINVAL);
  cr_assert_eq(store_rollback_to(g_st, 50, 1, &g_err), 0, "%s", g_err.msg);
  cr_assert_eq(scan_all(150, 50, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.bal[0], 10);
  cr_assert_eq(store_lock_holder(g_st, 1, &k1, 1, &holder, &g_err), 0);
  cr_assert_eq(holder, 0, "nothing written before savepoint 1");
  cr_assert_eq(store_savepoint(g_st, 50, 1, &g_err), SYN_EINVAL);
  cr_assert_eq(store_savepoint(g_st, 50, 5, &g_err), 0);

  /* READ COMMITTED re-run: the statement hits a newer version halfway. */
  seed(3, 2, "b", 22, 200, STORE_UPDATE);
  cr_assert_eq(store_savepoint(g_st, 60, 1, &g_err), 0);
  cr_assert_eq(wr(60, 1, "a", 100, 150, STORE_UPDATE), 0);
  cr_assert_eq(wr(60, 2, "b", 100, 150, STORE_UPDATE), SYN_ECONFLICT);
  cr_assert_eq(store_rollback_to(g_st, 60, 1, &g_err), 0);
  cr_assert_eq(wr(60, 1, "a", 101, 250, STORE_UPDATE), 0);
  cr_assert_eq(wr(60, 2, "b", 101, 250, STORE_UPDATE), 0);
  cr_assert_eq(store_prepare(g_st, 60, 260, NULL, &g_err), 0);
  cr_assert_eq(store_rollback_to(g_st, 60, 1, &g_err), SYN_EINVAL,
               "no rollback after prepare");
  cr_assert_eq(store_commit(g_st, 60, 270, &g_err), 0);
  cr_assert_eq(scan_all(270, 0, NULL, NULL, 0), 0);
  cr_assert_eq(g_rows.n, 2);
  cr_assert_eq(g_rows.bal[0], 101);
  cr_assert_eq(g_rows.bal[1], 101);
  cr_assert_eq(store_abort(g_st, 50, &g_err), 0);
  store_close(g_st);
  g_st = NULL;
  cr_assert_eq(count_rows(g_dir, "SELECT count(*) FROM u1"), 0,
               "undo rows die with their txn");
  cr_assert_eq(count_rows(g_dir, "SELECT count(*) FROM i1"), 0);
  reopen();
}

/* ---- model check ----------------------------------------------------------- */

/* Random committed histories against a trivial model: for every snapshot,
** the scan (with and without a filter, with and without the reader's own
** pending writes, before and after GC) must equal the model's answer. */
enum { MK = 24, MT = 160 };
typedef struct mver {
  uint64_t ts;
  int del;
  int64_t bal;
} mver;
static mver g_hist[MK + 1][MT + 1];
static int g_nhist[MK + 1];

/* Model: bal of key k at snapshot ts, or INT64_MIN if invisible. */
static int64_t model_at(int k, uint64_t ts) {
  int64_t out = INT64_MIN;
  for (int i = 0; i < g_nhist[k]; i++)
    if (g_hist[k][i].ts <= ts) out = g_hist[k][i].del ? INT64_MIN : g_hist[k][i].bal;
  return out;
}

static void check_all(uint64_t snap, uint64_t txn, const int64_t *own,
                      int64_t min_bal) {
  syn_value p = vint(min_bal);
  cr_assert_eq(scan_all(snap, txn, "bal > ?1", &p, 1), 0, "%s", g_err.msg);
  int j = 0;
  for (int k = 1; k <= MK; k++) {
    int64_t want = model_at(k, snap);
    if (own && own[k] != INT64_MAX) want = own[k]; /* INT64_MIN = deleted */
    if (want == INT64_MIN || want <= min_bal) continue;
    cr_assert_lt(j, g_rows.n, "snap %llu: missing key %d",
                 (unsigned long long)snap, k);
    cr_assert_eq(g_rows.id[j], k, "snap %llu", (unsigned long long)snap);
    cr_assert_eq(g_rows.bal[j], want, "snap %llu key %d",
                 (unsigned long long)snap, k);
    j++;
  }
  cr_assert_eq(j, g_rows.n, "snap %llu: extra rows", (unsigned long long)snap);
}

Test(store, random_histories_match_model) {
  srand(7);
  memset(g_nhist, 0, sizeof g_nhist);
  uint64_t ts = 100;
  for (int t = 0; t < MT; t++, ts += 10) {
    uint64_t txn = 1000 + (uint64_t)t;
    int nw = 1 + rand() % 3;
    int used[MK + 1] = {0};
    for (int w = 0; w < nw; w++) {
      int k = 1 + rand() % MK;
      if (used[k]) continue;
      used[k] = 1;
      int del = rand() % 4 == 0;
      int64_t bal = rand() % 1000;
      char nm[16];
      snprintf(nm, sizeof nm, "k%d_%d", k, t); /* unique names */
      cr_assert_eq(wr(txn, k, nm, bal, ts - 1, del ? STORE_DELETE : STORE_UPDATE),
                   0, "%s", g_err.msg);
      g_hist[k][g_nhist[k]++] = (mver){ts, del, bal};
    }
    if (t % 2) {
      cr_assert_eq(store_commit_one_phase(g_st, txn, ts, &g_err), 0);
    } else {
      cr_assert_eq(store_prepare(g_st, txn, ts - 5, NULL, &g_err), 0);
      cr_assert_eq(store_commit(g_st, txn, ts, &g_err), 0);
    }
  }
  int64_t own[MK + 1];
  for (int k = 0; k <= MK; k++) own[k] = INT64_MAX;
  for (int k = 1; k <= MK; k += 3) {
    int del = k % 2;
    own[k] = del ? INT64_MIN : 5000 + k;
    char nm[16];
    snprintf(nm, sizeof nm, "own%d", k);
    cr_assert_eq(wr(99, k, nm, own[k], ts, del ? STORE_DELETE : STORE_UPDATE),
                 0, "%s", g_err.msg);
  }
  for (int round = 0; round < 2; round++) {
    uint64_t lo = round ? 100 + 10 * (MT / 2) : 50;
    for (uint64_t snap = lo; snap <= ts + 10; snap += 7) {
      check_all(snap, 0, NULL, -1);
      check_all(snap, 0, NULL, 500);
    }
    check_all(ts, 99, own, -1);
    check_all(ts, 99, own, 500);
    if (!round)
      cr_assert_eq(store_gc(g_st, 100 + 10 * (MT / 2), &g_err), 0, "%s",
                   g_err.msg);
  }
}

/* ---- speed ------------------------------------------------------------------------ */

Test(store, scan_10000_rows, .timeout = 60) {
  struct timespec t0, t1, t2;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  seed_many(10000, 1, 100);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  cr_log_info("10,000 inserts in batches of 500: %.1f ms",
              (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
  /* A second version for half the rows, to make visibility work; these
  ** go one write at a time. */
  for (int i = 1; i <= 10000; i += 2) {
    char nm[16];
    snprintf(nm, sizeof nm, "n%05d", i);
    cr_assert_eq(wr(2, i, nm, -i, 150, STORE_UPDATE), 0, "%s", g_err.msg);
  }
  cr_assert_eq(store_commit_one_phase(g_st, 2, 200, &g_err), 0);
  static rows all;
  for (int round = 0; round < 2; round++) {
    memset(&all, 0, sizeof all);
    store_scan_opts o = {.snapshot_ts = round ? 250 : 150, .limit = 1000};
    store_scan_result res;
    static uint8_t cur[64];
    int batches = 0;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    do {
      cr_assert_eq(store_scan(g_st, 1, &o, collect, &all, &res, NULL, &g_err),
                   0, "%s", g_err.msg);
      if (res.last_key_len) memcpy(cur, res.last_key, res.last_key_len);
      o.after_key = cur;
      o.after_key_len = res.last_key_len;
      batches++;
    } while (res.more);
    cr_assert_eq(batches, 10, "exact limit: no empty trailing batch");
    clock_gettime(CLOCK_MONOTONIC, &t2);
    cr_assert_eq(all.n, 10000);
    for (int i = 0; i < 10000; i++) {
      cr_assert_eq(all.id[i], i + 1);
      int64_t want = round && (i % 2 == 0) ? -(i + 1) : (i + 1) * 10;
      cr_assert_eq(all.bal[i], want, "row %d round %d", i, round);
    }
    double ms = (double)(t2.tv_sec - t1.tv_sec) * 1e3 +
                (double)(t2.tv_nsec - t1.tv_nsec) / 1e6;
    cr_log_info("10,000-row scan in 10 batches: %.1f ms", ms);
    cr_assert_lt(ms, 5000.0, "scan too slow: %.1f ms", ms);
  }
}
