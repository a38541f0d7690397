/*
** bank: the money-conservation workload (libpq client).
**
** N accounts spread over every shard start with 100 each. Client threads
** move random amounts between random pairs of accounts inside BEGIN ...
** COMMIT, retrying on 40001 (serialization) and 40P01 (deadlock) as a
** PostgreSQL application would. Reader threads meanwhile take snapshots of
** the whole table, both as one statement (sum over every shard: no read skew
** within a statement) and as one REPEATABLE READ transaction reading each
** account separately (no read skew across statements). Every snapshot must
** add up to the initial total; so must the final table.
**
** Transfers deliberately touch accounts in random order, so concurrent
** transfers deadlock now and then: the cluster must detect that and fail
** one of them with 40P01, not hang. --ordered touches them in id order
** instead (no deadlocks). --range LO-HI moves money only among accounts
** LO..HI-1 (the readers still check the whole table).
**
** With --ledger FILE every transfer also inserts a row with a unique id
** into table ledger, and the outcome of each attempt is appended to FILE:
**
**   A ID SENT_MS ACK_MS    COMMIT acknowledged: the row must be present
**   U ID SENT_MS -         outcome unknown (08007, 40003, connection lost
**                          at COMMIT, any other COMMIT error): either is fine
**   F ID - -               certainly not committed (failed before COMMIT,
**                          40001, 40P01, COMMIT answered ROLLBACK): absent
**
** (milliseconds of CLOCK_REALTIME, so a test can relate them to faults).
** --verify-ledger FILE (after a run, with --conninfo) reads the table and
** checks both rules. Several bank processes may run at once if each has its
** own --seed: ids are SEED * 10^12 + CLIENT * 10^8 + SEQ.
**
** SIGTERM or SIGINT ends the run early, like reaching --seconds.
**
** Exit status: 0 if every check held, 1 if a check failed, 2 on bad usage.
*/
#include <libpq-fe.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BANK_MAX_CONNINFO 8

typedef struct bank_cfg {
  const char *conninfo[BANK_MAX_CONNINFO];
  int nconninfo;
  int accounts;
  int clients;
  int readers;
  int seconds;
  int init;
  const char *isolation; /* for transfers */
  unsigned seed;
  int ordered;               /* --ordered: lock the lower account id first */
  int range_lo, range_hi;    /* --range LO-HI: transfers only among [LO, HI) */
  const char *ledger;        /* --ledger FILE */
  const char *verify_ledger; /* --verify-ledger FILE */
} bank_cfg;

static bank_cfg cfg = {.accounts = 10, .clients = 8, .readers = 2, .seconds = 30,
                       .isolation = "read committed", .seed = 1};

static atomic_int stop_flag;
static volatile sig_atomic_t got_term;

/* SIGTERM/SIGINT end the run early, as reaching --seconds does (the final
** check still runs), so a test can stop the load when its fault is over. */
static void on_term(int sig) {
  (void)sig;
  got_term = 1;
}
static FILE *ledger_f;
static pthread_mutex_t ledger_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_long n_ok, n_retry, n_fail, n_unknown, n_reads, n_bad;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static PGconn *connect_quiet(int i, bool quiet);
static PGconn *connect_to(int i) { return connect_quiet(i, false); }

static long long wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One ledger line (see the top of the file); sent/ack < 0 print as '-'. */
static void ledger_note(char kind, long long id, long long sent, long long ack) {
  if (!ledger_f) return;
  pthread_mutex_lock(&ledger_mu);
  fprintf(ledger_f, "%c %lld ", kind, id);
  if (sent >= 0) fprintf(ledger_f, "%lld ", sent);
  else fputs("- ", ledger_f);
  if (ack >= 0) fprintf(ledger_f, "%lld\n", ack);
  else fputs("-\n", ledger_f);
  /* Tests read the file while the bank runs, to time the faults. */
  fflush(ledger_f);
  pthread_mutex_unlock(&ledger_mu);
}

static PGconn *connect_quiet(int i, bool quiet) {
  const char *ci = cfg.conninfo[i % cfg.nconninfo];
  PGconn *c = PQconnectdb(ci);
  if (PQstatus(c) != CONNECTION_OK) {
    if (!quiet) fprintf(stderr, "bank: cannot connect (%s): %s", ci, PQerrorMessage(c));
    PQfinish(c);
    return NULL;
  }
  return c;
}

/* Run sql; returns the result (caller clears) and fills state with the
** SQLSTATE ("" on success). */
static PGresult *run(PGconn *c, const char *sql, char state[6]) {
  PGresult *r = PQexec(c, sql);
  ExecStatusType st = PQresultStatus(r);
  state[0] = '\0';
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    snprintf(state, 6, "%s", s ? s : "?????");
  }
  return r;
}

static int exec_ok(PGconn *c, const char *sql) {
  char st[6];
  PGresult *r = run(c, sql, st);
  if (st[0]) fprintf(stderr, "bank: %s: %s", sql, PQresultErrorMessage(r));
  PQclear(r);
  return st[0] ? -1 : 0;
}

static int is_retryable(const char *st) {
  return strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0;
}

/* One transfer attempt: 0 committed, 1 retry, -1 failed, -2 unknown.
** ledger_id > 0: the transfer also inserts that ledger row and the attempt's
** outcome is noted in the ledger file. */
static int transfer_once(PGconn *c, int from, int to, int amount, long long ledger_id) {
  char sql[256], st[6];
  snprintf(sql, sizeof sql, "BEGIN ISOLATION LEVEL %s", cfg.isolation);
  if (exec_ok(c, sql) < 0) {
    if (ledger_id) ledger_note('F', ledger_id, -1, -1);
    return -1;
  }
  /* --ordered: both rows in ascending id order, so transfers never wait in
  ** a cycle. Clients on different coordinators need it: a cycle across
  ** coordinators is only broken by the 20 s lock timeout (architecture.md,
  ** "no cross-coordinator graph yet"), which would stall a failover test. */
  bool swap = cfg.ordered && to < from;
  const int ids[2] = {swap ? to : from, swap ? from : to};
  const int deltas[2] = {swap ? amount : -amount, swap ? -amount : amount};
  for (int k = 0; k < 3; k++) {
    if (k == 2 && !ledger_id) break;
    if (k < 2)
      snprintf(sql, sizeof sql, "UPDATE accounts SET balance = balance + (%d) WHERE id = %d",
               deltas[k], ids[k]);
    else snprintf(sql, sizeof sql, "INSERT INTO ledger VALUES (%lld, %d)", ledger_id, amount);
    PGresult *r = run(c, sql, st);
    PQclear(r);
    if (st[0]) {
      /* No COMMIT was sent: the transaction cannot have committed. */
      PQclear(PQexec(c, "ROLLBACK"));
      if (ledger_id) ledger_note('F', ledger_id, -1, -1);
      if (is_retryable(st)) return 1;
      if (PQstatus(c) == CONNECTION_OK) fprintf(stderr, "bank: transfer statement failed with %s\n", st);
      return -1;
    }
  }
  long long sent = wall_ms();
  PGresult *r = run(c, "COMMIT", st);
  /* COMMIT of a transaction the server already aborted reports ROLLBACK. */
  int rolled_back = !st[0] && strcmp(PQcmdStatus(r), "ROLLBACK") == 0;
  PQclear(r);
  if (!st[0] && !rolled_back) {
    if (ledger_id) ledger_note('A', ledger_id, sent, wall_ms());
    return 0;
  }
  if (rolled_back || is_retryable(st)) {
    if (ledger_id) ledger_note('F', ledger_id, -1, -1);
    return 1;
  }
  /* Anything else at COMMIT (08007, 40003, a lost connection, a server
  ** error) leaves the outcome open. */
  if (ledger_id) ledger_note('U', ledger_id, sent, -1);
  if (strcmp(st, "08007") == 0 || strcmp(st, "40003") == 0 || PQstatus(c) != CONNECTION_OK) return -2;
  fprintf(stderr, "bank: COMMIT failed with %s\n", st);
  return -1;
}

/* Connect, retrying (a coordinator may be down for a while in failover
** tests) until stop; NULL only once stop is set. */
static PGconn *connect_retry(int id) {
  for (int attempt = 0;; attempt++) {
    /* Say so once, and every 10 s while it lasts. */
    PGconn *c = connect_quiet(id, attempt % 50 != 0);
    if (c || atomic_load(&stop_flag)) return c;
    usleep(200 * 1000);
  }
}

static void *client_main(void *arg) {
  int id = (int)(intptr_t)arg;
  unsigned seed = cfg.seed * 7919u + (unsigned)id;
  PGconn *c = connect_retry(id);
  long long seq = 0;
  while (c && !atomic_load(&stop_flag)) {
    int span = cfg.range_hi - cfg.range_lo;
    int from = (int)(rand_r(&seed) % (unsigned)span);
    int to = (int)(rand_r(&seed) % (unsigned)(span - 1));
    if (to >= from) to++;
    from += cfg.range_lo;
    to += cfg.range_lo;
    int amount = 1 + (int)(rand_r(&seed) % 20u);
    int rc = 1;
    for (int tries = 0; tries < 100 && rc == 1 && !atomic_load(&stop_flag); tries++) {
      long long lid = cfg.ledger ? (long long)cfg.seed * 1000000000000LL + id * 100000000LL + ++seq : 0;
      rc = transfer_once(c, from, to, amount, lid);
      if (rc == 1) atomic_fetch_add(&n_retry, 1);
    }
    if (rc == 0) atomic_fetch_add(&n_ok, 1);
    else if (rc == -2) atomic_fetch_add(&n_unknown, 1);
    else if (rc == -1) atomic_fetch_add(&n_fail, 1);
    if (PQstatus(c) != CONNECTION_OK) {
      PQfinish(c);
      c = connect_retry(id);
    }
  }
  if (c) PQfinish(c);
  return NULL;
}

static long expected_total(void) { return 100L * cfg.accounts; }

/* Sum in one statement. Returns 0 if it held, -1 if it did not, 1 if the
** read itself failed (counted, not a violation). */
static int check_sum_statement(PGconn *c, const char *who) {
  char st[6];
  PGresult *r = run(c, "SELECT sum(balance), count(*) FROM accounts", st);
  int rc = 1;
  if (!st[0] && PQntuples(r) == 1) {
    long sum = atol(PQgetvalue(r, 0, 0));
    long cnt = atol(PQgetvalue(r, 0, 1));
    rc = 0;
    if (sum != expected_total() || cnt != cfg.accounts) {
      fprintf(stderr, "bank: %s snapshot: sum=%ld count=%ld, want %ld and %d\n", who, sum, cnt,
              expected_total(), cfg.accounts);
      rc = -1;
    }
  }
  PQclear(r);
  return rc;
}

/* Each account read by its own statement inside one REPEATABLE READ
** transaction: the statements share one snapshot, so the sum must hold. */
static int check_sum_rr(PGconn *c) {
  if (exec_ok(c, "BEGIN ISOLATION LEVEL REPEATABLE READ") < 0) return 1;
  long sum = 0;
  char sql[128], st[6];
  for (int i = 0; i < cfg.accounts; i++) {
    snprintf(sql, sizeof sql, "SELECT balance FROM accounts WHERE id = %d", i);
    PGresult *r = run(c, sql, st);
    if (st[0] || PQntuples(r) != 1) {
      PQclear(r);
      PQclear(PQexec(c, "ROLLBACK"));
      return 1;
    }
    sum += atol(PQgetvalue(r, 0, 0));
    PQclear(r);
  }
  PQclear(PQexec(c, "COMMIT"));
  if (sum != expected_total()) {
    fprintf(stderr, "bank: repeatable-read snapshot: sum=%ld, want %ld\n", sum, expected_total());
    return -1;
  }
  return 0;
}

static void *reader_main(void *arg) {
  int id = (int)(intptr_t)arg;
  PGconn *c = connect_retry(id);
  for (long k = 0; c && !atomic_load(&stop_flag); k++) {
    int rc = (k % 2 == 0) ? check_sum_statement(c, "statement") : check_sum_rr(c);
    if (rc < 0) atomic_fetch_add(&n_bad, 1);
    if (rc == 0) atomic_fetch_add(&n_reads, 1);
    if (PQstatus(c) != CONNECTION_OK) {
      PQfinish(c);
      c = connect_retry(id);
    }
  }
  if (c) PQfinish(c);
  return NULL;
}

static int bank_init(void) {
  PGconn *c = connect_to(0);
  if (!c) return -1;
  int rc = exec_ok(c, "DROP TABLE IF EXISTS accounts");
  if (!rc) rc = exec_ok(c, "CREATE TABLE accounts (id integer PRIMARY KEY, balance bigint NOT NULL)");
  if (!rc && cfg.ledger) rc = exec_ok(c, "DROP TABLE IF EXISTS ledger");
  if (!rc && cfg.ledger) rc = exec_ok(c, "CREATE TABLE ledger (id bigint PRIMARY KEY, amount integer NOT NULL)");
  for (int i = 0; !rc && i < cfg.accounts; i++) {
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT INTO accounts VALUES (%d, 100)", i);
    rc = exec_ok(c, sql);
  }
  PQfinish(c);
  return rc;
}

static int cmp_ll(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? -1 : x > y;
}

/* --verify-ledger: every A line's id is in table ledger, no F line's id is.
** Returns 0 when both hold, 1 otherwise. */
static int verify_ledger(void) {
  FILE *f = fopen(cfg.verify_ledger, "r");
  if (!f) {
    fprintf(stderr, "bank: cannot open %s\n", cfg.verify_ledger);
    return 1;
  }
  PGconn *c = connect_to(0);
  if (!c) {
    fclose(f);
    return 1;
  }
  char st[6];
  PGresult *r = run(c, "SELECT id FROM ledger", st);
  if (st[0]) {
    fprintf(stderr, "bank: reading ledger: %s", PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    fclose(f);
    return 1;
  }
  int n = PQntuples(r);
  long long *ids = malloc(((size_t)n + 1) * sizeof *ids);
  for (int i = 0; ids && i < n; i++) ids[i] = atoll(PQgetvalue(r, i, 0));
  PQclear(r);
  PQfinish(c);
  if (!ids) {
    fclose(f);
    return 1;
  }
  qsort(ids, (size_t)n, sizeof *ids, cmp_ll);
  long acked = 0, unknown = 0, failed = 0, lost = 0, ghost = 0, unknown_present = 0;
  char line[256];
  while (fgets(line, sizeof line, f)) {
    char kind;
    long long id;
    if (sscanf(line, "%c %lld", &kind, &id) != 2) continue;
    bool present = bsearch(&id, ids, (size_t)n, sizeof *ids, cmp_ll) != NULL;
    if (kind == 'A') {
      acked++;
      if (!present) {
        if (lost++ < 10) fprintf(stderr, "bank: acknowledged transfer %lld is missing\n", id);
      }
    } else if (kind == 'F') {
      failed++;
      if (present && ghost++ < 10) fprintf(stderr, "bank: failed transfer %lld is present\n", id);
    } else if (kind == 'U') {
      unknown++;
      unknown_present += present;
    }
  }
  fclose(f);
  free(ids);
  printf("bank: ledger rows=%d acknowledged=%ld (missing %ld) unknown=%ld (present %ld) "
         "failed=%ld (present %ld)\n",
         n, acked, lost, unknown, unknown_present, failed, ghost);
  return lost || ghost ? 1 : 0;
}

static void usage(FILE *f) {
  fprintf(f, "usage: bank --conninfo STR [--conninfo STR ...] [--accounts N] [--clients N] "
             "[--readers N] [--seconds S] [--isolation rc|rr] [--seed N] [--init] [--ordered] [--range LO-HI] [--ledger FILE]\n"
             "       bank --conninfo STR --verify-ledger FILE\n");
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"conninfo", required_argument, NULL, 'c'}, {"accounts", required_argument, NULL, 'a'},
      {"clients", required_argument, NULL, 'n'},  {"readers", required_argument, NULL, 'r'},
      {"seconds", required_argument, NULL, 's'},  {"isolation", required_argument, NULL, 'i'},
      {"seed", required_argument, NULL, 'S'},     {"init", no_argument, NULL, 'I'},
      {"ordered", no_argument, NULL, 'O'},        {"range", required_argument, NULL, 'R'},        {"ledger", required_argument, NULL, 'L'},   {"verify-ledger", required_argument, NULL, 'V'},
      {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (ch) {
    case 'c':
      if (cfg.nconninfo == BANK_MAX_CONNINFO) {
        usage(stderr);
        return 2;
      }
      cfg.conninfo[cfg.nconninfo++] = optarg;
      break;
    case 'a': cfg.accounts = atoi(optarg); break;
    case 'n': cfg.clients = atoi(optarg); break;
    case 'r': cfg.readers = atoi(optarg); break;
    case 's': cfg.seconds = atoi(optarg); break;
    case 'S': cfg.seed = (unsigned)strtoul(optarg, NULL, 10); break;
    case 'I': cfg.init = 1; break;
    case 'L': cfg.ledger = optarg; break;
    case 'O': cfg.ordered = 1; break;
    case 'R':
      if (sscanf(optarg, "%d-%d", &cfg.range_lo, &cfg.range_hi) != 2) {
        usage(stderr);
        return 2;
      }
      break;
    case 'V': cfg.verify_ledger = optarg; break;
    case 'i':
      if (strcmp(optarg, "rc") == 0) cfg.isolation = "read committed";
      else if (strcmp(optarg, "rr") == 0) cfg.isolation = "repeatable read";
      else {
        usage(stderr);
        return 2;
      }
      break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (cfg.nconninfo == 0 || cfg.accounts < 2 || cfg.clients < 0 || cfg.readers < 0 ||
      cfg.seconds < 0 || cfg.clients > 256 || cfg.readers > 64) {
    usage(stderr);
    return 2;
  }
  if (cfg.verify_ledger) return verify_ledger();
  if (!cfg.range_hi) cfg.range_hi = cfg.accounts;
  if (cfg.range_lo < 0 || cfg.range_hi > cfg.accounts || cfg.range_hi - cfg.range_lo < 2) {
    usage(stderr);
    return 2;
  }
  if (cfg.seed > 9000000) {
    usage(stderr);
    return 2;
  }
  if (cfg.ledger && !(ledger_f = fopen(cfg.ledger, "a"))) {
    fprintf(stderr, "bank: cannot open %s\n", cfg.ledger);
    return 1;
  }
  if (cfg.init && bank_init() < 0) return 1;

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  pthread_t th[320];
  int nth = 0;
  double t0 = now_s();
  for (int i = 0; i < cfg.clients; i++)
    pthread_create(&th[nth++], NULL, client_main, (void *)(intptr_t)i);
  for (int i = 0; i < cfg.readers; i++)
    pthread_create(&th[nth++], NULL, reader_main, (void *)(intptr_t)(cfg.clients + i));
  while (now_s() - t0 < cfg.seconds && atomic_load(&n_bad) == 0 && !got_term) usleep(100 * 1000);
  atomic_store(&stop_flag, 1);
  for (int i = 0; i < nth; i++) pthread_join(th[i], NULL);
  double elapsed = now_s() - t0;

  if (ledger_f) fclose(ledger_f);
  PGconn *c = connect_to(0);
  int final_rc = c ? check_sum_statement(c, "final") : 1;
  if (c) PQfinish(c);
  printf("bank: %.1fs transfers ok=%ld retried=%ld failed=%ld unknown=%ld (%.1f/s) "
         "snapshot reads=%ld violations=%ld final=%s\n",
         elapsed, atomic_load(&n_ok), atomic_load(&n_retry), atomic_load(&n_fail),
         atomic_load(&n_unknown), (double)atomic_load(&n_ok) / (elapsed > 0 ? elapsed : 1),
         atomic_load(&n_reads), atomic_load(&n_bad), final_rc == 0 ? "ok" : "BAD");
  if (atomic_load(&n_bad) || final_rc != 0) return 1;
  if (cfg.clients > 0 && atomic_load(&n_ok) == 0) {
    fprintf(stderr, "bank: no transfer committed\n");
    return 1;
  }
  return 0;
}
