/*
** extproto: drive the extended query protocol through libpq and print a
** transcript that is the same for any server behaving like PostgreSQL 15
** (test_extproto.sh diffs it with tests/integration/extproto/libpq.out,
** which was written by running this program against PostgreSQL 15).
**
** Covered: PQprepare / PQexecPrepared with text and binary parameters and
** results for bool, int2/4/8, float4/8, numeric, text, varchar, bytea,
** date, timestamp, timestamptz; PQdescribePrepared / PQdescribePortal;
** unnamed statements (PQexecParams); errors and the recovery at Sync;
** pipeline mode with a failing query in the middle; transactions across
** messages; single-row mode; a catalog change under a prepared statement.
**
** Printed per result: status, SQLSTATE and primary message for errors,
** the fields (name, type OID, format), every value (binary values in
** hex) and the command tag. Table OIDs and column numbers are not printed
** (synod's differ), nor anything else a conforming server may choose.
**
** usage: extproto CONNINFO    exit 0 when every step ran (the transcript
** is the test), 2 when the connection failed
*/
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static PGconn *conn;

static void show(const char *step, PGresult *r) {
  printf("-- %s: %s", step, PQresStatus(PQresultStatus(r)));
  if (PQresultStatus(r) == PGRES_FATAL_ERROR) {
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    printf(" %s %s", st ? st : "?", m ? m : "?");
  }
  const char *tag = PQcmdStatus(r);
  if (tag && *tag) printf(" [%s]", tag);
  printf("\n");
  int nf = PQnfields(r);
  if (nf > 0) {
    printf("   fields:");
    for (int i = 0; i < nf; i++)
      printf(" %s:%u:%d", PQfname(r, i), PQftype(r, i), PQfformat(r, i));
    printf("\n");
  }
  int np = PQnparams(r);
  if (np > 0 || PQresultStatus(r) == PGRES_COMMAND_OK) {
    if (np > 0) {
      printf("   params:");
      for (int i = 0; i < np; i++) printf(" %u", PQparamtype(r, i));
      printf("\n");
    }
  }
  for (int row = 0; row < PQntuples(r); row++) {
    printf("   row:");
    for (int i = 0; i < nf; i++) {
      if (PQgetisnull(r, row, i)) {
        printf(" NULL");
        continue;
      }
      const unsigned char *v = (const unsigned char *)PQgetvalue(r, row, i);
      int n = PQgetlength(r, row, i);
      if (PQfformat(r, i) == 1) {
        printf(" x");
        for (int k = 0; k < n; k++) printf("%02x", v[k]);
      } else {
        printf(" '%s'", (const char *)v);
      }
    }
    printf("\n");
  }
  PQclear(r);
}

static void exec(const char *sql) { show(sql, PQexec(conn, sql)); }

/* ---- binary parameter builders ---- */
static void be16(char *p, uint16_t v) {
  p[0] = (char)(v >> 8);
  p[1] = (char)v;
}
static void be32(char *p, uint32_t v) {
  be16(p, (uint16_t)(v >> 16));
  be16(p + 2, (uint16_t)v);
}
static void be64(char *p, uint64_t v) {
  be32(p, (uint32_t)(v >> 32));
  be32(p + 4, (uint32_t)v);
}

#define NCOL 14
static const char *ins_sql =
    "INSERT INTO ep_t VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

static void types_and_values(void) {
  exec("DROP TABLE IF EXISTS ep_t");
  exec("CREATE TABLE ep_t (id int PRIMARY KEY, b bool, i2 int2, i4 int4, i8 int8, f4 float4, "
       "f8 float8, n numeric(12,3), t text, v varchar(20), by bytea, d date, ts timestamp, "
       "tz timestamptz)");
  show("prepare ins", PQprepare(conn, "ins", ins_sql, 0, NULL));
  show("describe ins", PQdescribePrepared(conn, "ins"));

  /* Row 1: every parameter as text. */
  const char *txt[NCOL] = {"1", "true", "-32768", "2147483647", "-9223372036854775808",
                           "1.5", "-2.25e-5", "12345.678", "héllo", "vc", "\\x00ff10",
                           "2024-02-29", "2024-02-29 13:14:15.123456",
                           "2024-02-29 13:14:15+02"};
  show("exec ins text", PQexecPrepared(conn, "ins", NCOL, txt, NULL, NULL, 0));

  /* Row 2: every parameter in binary. */
  char b_id[4], b_b[1] = {1}, b_i2[2], b_i4[4], b_i8[8], b_f4[4], b_f8[8], b_d[4], b_ts[8],
                b_tz[8];
  be32(b_id, 2);
  be16(b_i2, (uint16_t)-7);
  be32(b_i4, (uint32_t)-123456);
  be64(b_i8, (uint64_t)INT64_C(9000000000));
  float f4 = 0.25f;
  double f8 = -1e100;
  uint32_t u4;
  uint64_t u8;
  memcpy(&u4, &f4, 4);
  memcpy(&u8, &f8, 8);
  be32(b_f4, u4);
  be64(b_f8, u8);
  /* numeric -1234.5 at scale 1: ndigits 2, weight 0, NEG, dscale 1,
  ** digits 1234 5000 */
  char b_n[12];
  be16(b_n, 2), be16(b_n + 2, 0), be16(b_n + 4, 0x4000), be16(b_n + 6, 1);
  be16(b_n + 8, 1234), be16(b_n + 10, 5000);
  be32(b_d, (uint32_t)-1); /* 1999-12-31 */
  be64(b_ts, (uint64_t)INT64_C(86400000001)); /* 2000-01-02 00:00:00.000001 */
  be64(b_tz, (uint64_t)(INT64_C(-3600000000))); /* 1999-12-31 23:00:00+00 */
  const char *bv[NCOL] = {b_id, b_b, b_i2, b_i4, b_i8, b_f4, b_f8, b_n, "bin text", "bv",
                          "\x01\x02\x00\x03", b_d, b_ts, b_tz};
  int bl[NCOL] = {4, 1, 2, 4, 8, 4, 8, 12, 8, 2, 4, 4, 8, 8};
  int bf[NCOL];
  for (int i = 0; i < NCOL; i++) bf[i] = 1;
  show("exec ins binary", PQexecPrepared(conn, "ins", NCOL, bv, bl, bf, 0));

  /* Row 3: NULLs everywhere but the key. */
  const char *nv[NCOL] = {"3"};
  show("exec ins nulls", PQexecPrepared(conn, "ins", NCOL, nv, NULL, NULL, 0));

  show("prepare sel", PQprepare(conn, "sel", "SELECT * FROM ep_t WHERE id = $1", 0, NULL));
  show("describe sel", PQdescribePrepared(conn, "sel"));
  for (int id = 1; id <= 3; id++) {
    char k[4];
    snprintf(k, sizeof k, "%d", id);
    const char *pv[1] = {k};
    show("sel text", PQexecPrepared(conn, "sel", 1, pv, NULL, NULL, 0));
    show("sel binary", PQexecPrepared(conn, "sel", 1, pv, NULL, NULL, 1));
  }
  /* Binary parameters compared with columns of each type. */
  show("prepare selb",
       PQprepare(conn, "selb",
                 "SELECT id FROM ep_t WHERE i2 = $1 AND i8 = $2 AND f4 = $3 AND d = $4 AND "
                 "ts = $5 AND b = $6 ORDER BY id",
                 0, NULL));
  const char *sv[6] = {b_i2, b_i8, b_f4, b_d, b_ts, b_b};
  int sl[6] = {2, 8, 4, 4, 8, 1}, sf[6] = {1, 1, 1, 1, 1, 1};
  show("exec selb", PQexecPrepared(conn, "selb", 6, sv, sl, sf, 0));
}

static void unnamed_and_errors(void) {
  const char *one[1] = {"2"};
  show("params sel t", PQexecParams(conn, "SELECT t, v FROM ep_t WHERE id = $1", 1, NULL, one,
                                    NULL, NULL, 0));
  Oid i8[1] = {20};
  const char *big[1] = {"5000000000"};
  show("params typed", PQexecParams(conn, "SELECT $1::int8 + 1 AS x", 1, i8, big, NULL, NULL, 1));
  show("params unknown", PQexecParams(conn, "SELECT $1 AS y", 1, NULL, one, NULL, NULL, 0));
  show("describe unnamed", PQdescribePrepared(conn, ""));
  const char *cv[3] = {"t", "\\x0102", "-3"};
  show("params cast", PQexecParams(conn, "SELECT $1::bool::text AS b, $2::bytea AS y, "
                                   "$3::int2 * 2 AS d", 3, NULL, cv, NULL, NULL, 0));
  show("no params", PQexecParams(conn, "SELECT count(*) FROM ep_t", 0, NULL, NULL, NULL, NULL, 0));
  show("empty", PQexecParams(conn, "", 0, NULL, NULL, NULL, NULL, 0));

  /* Errors: each ends at Sync, and the session carries on. */
  const char *bad[1] = {"abc"};
  show("bad int", PQexecPrepared(conn, "sel", 1, bad, NULL, NULL, 0));
  const char *huge[1] = {"99999999999"};
  show("int overflow", PQexecPrepared(conn, "sel", 1, huge, NULL, NULL, 0));
  char three[3] = {0, 0, 1};
  const char *short_bin[1] = {three};
  int sl[1] = {3}, sf[1] = {1};
  show("short binary", PQexecPrepared(conn, "sel", 1, short_bin, sl, sf, 0));
  char five[5] = {0, 0, 0, 1, 0};
  const char *long_bin[1] = {five};
  int ll[1] = {5};
  show("long binary", PQexecPrepared(conn, "sel", 1, long_bin, ll, sf, 0));
  show("dup prepare", PQprepare(conn, "sel", "SELECT 1", 0, NULL));
  show("unknown stmt", PQexecPrepared(conn, "nosuch", 0, NULL, NULL, NULL, 0));
  show("describe unknown", PQdescribePrepared(conn, "nosuch"));
  show("describe no portal", PQdescribePortal(conn, "nosuch"));
  show("param count", PQexecPrepared(conn, "sel", 0, NULL, NULL, NULL, 0));
  show("syntax", PQprepare(conn, "syn", "SELEC 1", 0, NULL));
  show("no table", PQprepare(conn, "nt", "SELECT * FROM ep_missing", 0, NULL));
  show("two commands", PQprepare(conn, "two", "SELECT 1; SELECT 2", 0, NULL));
  show("after errors", PQexecPrepared(conn, "sel", 1, one, NULL, NULL, 0));
}

static void transactions(void) {
  exec("DROP TABLE IF EXISTS ep_k");
  exec("CREATE TABLE ep_k (k int PRIMARY KEY, v int)");
  show("prepare kins", PQprepare(conn, "kins", "INSERT INTO ep_k VALUES ($1, $2) RETURNING k, v",
                                 0, NULL));
  show("prepare kcount", PQprepare(conn, "kcount", "SELECT count(*), coalesce(sum(v), 0) FROM ep_k",
                                   0, NULL));
  exec("BEGIN");
  const char *a[2] = {"1", "10"};
  show("kins in block", PQexecPrepared(conn, "kins", 2, a, NULL, NULL, 0));
  show("describe portal in block", PQdescribePortal(conn, ""));
  show("kcount in block", PQexecPrepared(conn, "kcount", 0, NULL, NULL, NULL, 0));
  exec("ROLLBACK");
  show("kcount after rollback", PQexecPrepared(conn, "kcount", 0, NULL, NULL, NULL, 0));
  exec("BEGIN");
  show("kins in block 2", PQexecPrepared(conn, "kins", 2, a, NULL, NULL, 0));
  show("dup in block", PQexecPrepared(conn, "kins", 2, a, NULL, NULL, 0));
  show("in failed block", PQexecPrepared(conn, "kcount", 0, NULL, NULL, NULL, 0));
  exec("COMMIT");
  show("kcount after failed block", PQexecPrepared(conn, "kcount", 0, NULL, NULL, NULL, 0));
}

static void drain_pipeline(const char *what) {
  for (int guard = 0; guard < 64; guard++) {
    PGresult *r = PQgetResult(conn);
    if (!r) continue; /* end of one query's results */
    ExecStatusType st = PQresultStatus(r);
    show(what, r);
    if (st == PGRES_PIPELINE_SYNC) return;
  }
  printf("-- %s: pipeline did not reach its Sync\n", what);
}

static void pipeline(void) {
  if (!PQenterPipelineMode(conn)) {
    printf("-- pipeline: cannot enter pipeline mode\n");
    return;
  }
  /* One Sync for all: an implicit transaction spans the three queries, so
  ** the failing second one undoes the first, and the third is skipped. */
  const char *a[2] = {"20", "1"}, *b[2] = {"20", "2"}, *c[2] = {"21", "3"};
  PQsendQueryPrepared(conn, "kins", 2, a, NULL, NULL, 0);
  PQsendQueryPrepared(conn, "kins", 2, b, NULL, NULL, 0);
  PQsendQueryPrepared(conn, "kins", 2, c, NULL, NULL, 0);
  PQpipelineSync(conn);
  drain_pipeline("pipeline failing");
  /* Two Syncs: the first group commits, the second fails on its own. */
  const char *d[2] = {"30", "4"}, *e[2] = {"31", "5"}, *f[2] = {"30", "6"};
  PQsendQueryPrepared(conn, "kins", 2, d, NULL, NULL, 0);
  PQsendQueryPrepared(conn, "kins", 2, e, NULL, NULL, 0);
  PQpipelineSync(conn);
  PQsendQueryParams(conn, "SELECT k FROM ep_k WHERE k >= $1 ORDER BY k", 1, NULL, d, NULL, NULL,
                    0);
  PQsendQueryPrepared(conn, "kins", 2, f, NULL, NULL, 0);
  PQpipelineSync(conn);
  drain_pipeline("pipeline group 1");
  drain_pipeline("pipeline group 2");
  PQexitPipelineMode(conn);
  show("kcount after pipeline", PQexecPrepared(conn, "kcount", 0, NULL, NULL, NULL, 0));
}

static void single_row(void) {
  const char *z[1] = {"0"};
  if (!PQsendQueryParams(conn, "SELECT k, v FROM ep_k WHERE k > $1 ORDER BY k", 1, NULL, z, NULL,
                         NULL, 0) ||
      !PQsetSingleRowMode(conn)) {
    printf("-- single row: cannot start\n");
    return;
  }
  PGresult *r;
  while ((r = PQgetResult(conn))) show("single row", r);
}

static void catalog_change(void) {
  exec("DROP TABLE IF EXISTS ep_c");
  exec("CREATE TABLE ep_c (a int PRIMARY KEY, b text)");
  exec("INSERT INTO ep_c VALUES (1, 'one')");
  show("prepare star", PQprepare(conn, "star", "SELECT * FROM ep_c", 0, NULL));
  show("prepare cols", PQprepare(conn, "cols", "SELECT b FROM ep_c WHERE a = $1", 0, NULL));
  show("exec star", PQexecPrepared(conn, "star", 0, NULL, NULL, NULL, 0));
  exec("ALTER TABLE ep_c ADD COLUMN c int");
  show("exec star after alter", PQexecPrepared(conn, "star", 0, NULL, NULL, NULL, 0));
  const char *one[1] = {"1"};
  show("exec cols after alter", PQexecPrepared(conn, "cols", 1, one, NULL, NULL, 0));
  /* Each Parse replaces the unnamed statement, even a failing one. */
  show("parse unnamed", PQprepare(conn, "", "SELECT a FROM ep_c", 0, NULL));
  show("parse unnamed bad", PQprepare(conn, "", "SELECT nosuch FROM ep_c", 0, NULL));
  show("exec unnamed gone", PQexecPrepared(conn, "", 0, NULL, NULL, NULL, 0));
}

static void quiet(void *arg, const char *msg) {}

/* Parameter types the server infers, and result types, for common forms. */
static void inference(void) {
  static const char *const q[] = {
      "UPDATE ep_t SET t = $1, f8 = $2 WHERE id = $3",
      "DELETE FROM ep_t WHERE d < $1 AND tz >= $2",
      "SELECT id FROM ep_t WHERE t LIKE $1 AND i2 IN ($2, $3)",
      "SELECT id FROM ep_t WHERE n BETWEEN $1 AND $2",
      "SELECT $1::date AS d, $2::numeric AS n, $3::timestamptz AS z, $4::bytea AS b",
      "SELECT id + $1 AS x FROM ep_t",
      "SELECT id FROM ep_t ORDER BY id LIMIT $1",
      "INSERT INTO ep_t (id, t) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET t = $3 RETURNING id, t",
  };
  for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
    char name[16];
    snprintf(name, sizeof name, "inf%zu", i);
    PGresult *r = PQprepare(conn, name, q[i], 0, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      show(q[i], r);
      continue;
    }
    PQclear(r);
    show(q[i], PQdescribePrepared(conn, name));
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: extproto CONNINFO\n");
    return 2;
  }
  conn = PQconnectdb(argv[1]);
  if (PQstatus(conn) != CONNECTION_OK) {
    fprintf(stderr, "connection failed: %s", PQerrorMessage(conn));
    return 2;
  }
  PQsetNoticeProcessor(conn, quiet, NULL); /* NOTICEs differ (IF EXISTS) */
  types_and_values();
  inference();
  unnamed_and_errors();
  transactions();
  pipeline();
  single_row();
  catalog_change();
  PQfinish(conn);
  return 0;
}
