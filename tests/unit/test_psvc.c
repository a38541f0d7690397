/*
** The participant service over real loopback: a libuv loop thread runs an
** rpc_server with the service over a temp-dir store (and, for in-doubt
** resolution, a fake coordinator answering SYN_M_COORD_RESOLVE); the test
** thread drives it with rpc_call_blocking. Each test stops the loop and
** checks that no handle leaked.
*/
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/node.h"
#include "common/node_clock.h"
#include "common/rpc.h"
#include "common/rpc_methods.h"
#include "participant.pb-c.h"
#include "participant/service.h"
#include "participant/store/store.h"

/* ---- fixture -------------------------------------------------------------- */

typedef struct fixture_opts {
  uint32_t scan_rows, scan_bytes;
  uint32_t resolve_after_ms, resolve_poll_ms;
  uint32_t max_parked;
  int fake_coordinator; /* start a fake c1 and list it in coordinators */
  int ncoords;          /* list c1..c<ncoords> (c1 = the fake when there is one) */
  uint32_t gc_warn_after_ms;
  uint32_t coord_silence_ms;
  int keep_dir;         /* reuse g_dir from a previous start */
} fixture_opts;

static char g_dir[64];
static uv_loop_t g_loop;
static node_clock g_clock;
static rpc_server *g_srv, *g_fake;
static psvc *g_svc;
static uv_async_t g_stop;
static pthread_t g_thread;
static int g_port, g_running;
static FILE *g_log;
#define MAX_COORDS 4
static node_peer g_peer[MAX_COORDS];
static node_peer_list g_peers;

/* Fake coordinator: answers per txn from a script the test sets. */
#define FAKE_MAX 8
static pthread_mutex_t g_fake_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
  uint64_t txn;
  int outcomes[4]; /* answers for the 1st, 2nd, ... ask; last repeats */
  int n_outcomes;
  int asks;
  uint64_t commit_ts;
} g_script[FAKE_MAX];
static int g_nscript;

static uint64_t now_ts(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  uint64_t ms = (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
  return ms << 16;
}

static void fake_resolve(rpc_call *call, const uint8_t *p, size_t n, void *ud) {
  Synod__Part__ResolveRequest *q = synod__part__resolve_request__unpack(NULL, n, p);
  if (!q) {
    rpc_reply_error(call, SYN_EINVAL, "bad resolve");
    return;
  }
  Synod__Part__ResolveResponse r = SYNOD__PART__RESOLVE_RESPONSE__INIT;
  pthread_mutex_lock(&g_fake_mu);
  for (int i = 0; i < g_nscript; i++) {
    if (g_script[i].txn != q->txn) continue;
    int k = g_script[i].asks < g_script[i].n_outcomes ? g_script[i].asks
                                                      : g_script[i].n_outcomes - 1;
    g_script[i].asks++;
    r.outcome = g_script[i].outcomes[k];
    if (r.outcome == 1) {
      if (!g_script[i].commit_ts) g_script[i].commit_ts = now_ts();
      r.commit_ts = g_script[i].commit_ts;
    }
  }
  pthread_mutex_unlock(&g_fake_mu);
  synod__part__resolve_request__free_unpacked(q, NULL);
  uint8_t buf[64];
  size_t len = synod__part__resolve_response__get_packed_size(&r);
  synod__part__resolve_response__pack(&r, buf);
  rpc_reply(call, buf, len);
}

static void on_stop(uv_async_t *a) {
  psvc_stop(g_svc);
  rpc_server_close(g_srv, NULL, NULL);
  if (g_fake) rpc_server_close(g_fake, NULL, NULL);
  node_clock_close(&g_clock);
  uv_close((uv_handle_t *)a, NULL);
}

static void *loop_main(void *arg) {
  (void)arg;
  uv_run(&g_loop, UV_RUN_DEFAULT);
  return NULL;
}

static void start(const fixture_opts *o) {
  signal(SIGPIPE, SIG_IGN);
  if (!o->keep_dir) {
    snprintf(g_dir, sizeof g_dir, "/tmp/synod-psvc-XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
    g_log = tmpfile();
    cr_assert_not_null(g_log);
    syn_log_init("p1", SYN_LOG_INFO, fileno(g_log));
  }
  syn_err err;
  cr_assert_eq(uv_loop_init(&g_loop), 0);
  cr_assert_eq(node_clock_open(&g_clock, &g_loop, g_dir, &err), 0, "%s", err.msg);
  rpc_opts ro = {.node_name = "p1"};
  cr_assert_eq(rpc_server_new(&g_loop, "127.0.0.1", 0, &ro, &g_srv, &err), 0, "%s", err.msg);
  g_port = rpc_server_port(g_srv);
  g_fake = NULL;
  psvc_config cfg = {.name = "p1", .dir = g_dir, .scan_rows = o->scan_rows,
                     .scan_bytes = o->scan_bytes, .resolve_after_ms = o->resolve_after_ms,
                     .resolve_poll_ms = o->resolve_poll_ms, .max_parked = o->max_parked,
                     .gc_warn_after_ms = o->gc_warn_after_ms,
                     .coord_silence_ms = o->coord_silence_ms};
  int ncoords = o->ncoords ? o->ncoords : o->fake_coordinator ? 1 : 0;
  cr_assert_leq(ncoords, MAX_COORDS);
  if (o->fake_coordinator) {
    rpc_opts fo = {.node_name = "c1"};
    cr_assert_eq(rpc_server_new(&g_loop, "127.0.0.1", 0, &fo, &g_fake, &err), 0, "%s",
                 err.msg);
    rpc_server_register(g_fake, SYN_M_COORD_RESOLVE, fake_resolve, NULL);
  }
  memset(g_peer, 0, sizeof g_peer);
  for (int i = 0; i < ncoords; i++) {
    snprintf(g_peer[i].name, sizeof g_peer[i].name, "c%d", i + 1);
    snprintf(g_peer[i].host, sizeof g_peer[i].host, "127.0.0.1");
    /* Coordinators other than the fake are never called in these tests
    ** (port 9, discard, is closed on loopback). */
    g_peer[i].port = i == 0 && g_fake ? rpc_server_port(g_fake) : 9;
  }
  if (ncoords) {
    g_peers.items = g_peer;
    g_peers.n = (size_t)ncoords;
    cfg.coordinators = &g_peers;
  }
  cr_assert_eq(psvc_new(&g_loop, g_srv, &g_clock, &cfg, &g_svc, &err), 0, "%s", err.msg);
  cr_assert_eq(uv_async_init(&g_loop, &g_stop, on_stop), 0);
  cr_assert_eq(pthread_create(&g_thread, NULL, loop_main, NULL), 0);
  g_running = 1;
}

static void stop(void) {
  if (!g_running) return;
  g_running = 0;
  uv_async_send(&g_stop);
  cr_assert_eq(pthread_join(g_thread, NULL), 0);
  int rc = uv_loop_close(&g_loop);
  psvc_free(g_svc);
  g_svc = NULL;
  cr_assert_eq(rc, 0, "loop still has handles: leaked");
}

static void rm_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", g_dir);
}

static void setup(void) {
  fixture_opts o = {0};
  start(&o);
}

static void teardown(void) {
  stop();
  rm_dir();
  if (g_log) fclose(g_log);
  g_log = NULL;
}

TestSuite(psvc, .init = setup, .fini = teardown, .timeout = 60);

/* A test that needs other options replaces the suite's service (Criterion
** runs suite fixtures for every test, so a test-level .init would start a
** second loop thread on the same loop). */
static void restart(fixture_opts o) {
  teardown();
  start(&o);
}

static int log_count(const char *needle) {
  fflush(g_log);
  static char buf[1 << 20];
  ssize_t n = pread(fileno(g_log), buf, sizeof buf - 1, 0);
  if (n < 0) return 0;
  buf[n] = '\0';
  int c = 0;
  for (const char *p = buf; (p = strstr(p, needle)); p++) c++;
  return c;
}

/* ---- client helpers ---------------------------------------------------------- */

/* rpc_call_blocking with a packed message; returns the call status. */
static int call_raw(uint32_t method, const ProtobufCMessage *m, uint32_t timeout, uint8_t **out,
                    size_t *len) {
  size_t n = m ? protobuf_c_message_get_packed_size(m) : 0;
  uint8_t *buf = malloc(n ? n : 1);
  if (m) protobuf_c_message_pack(m, buf);
  syn_err err;
  int rc = rpc_call_blocking("127.0.0.1", g_port, method, buf, n, timeout, out, len, &err);
  free(buf);
  return rc;
}

static Synod__Part__Value V_int(int64_t i) {
  Synod__Part__Value v = SYNOD__PART__VALUE__INIT;
  v.v_case = SYNOD__PART__VALUE__V_I;
  v.i = i;
  return v;
}

static Synod__Part__Value V_text(const char *s) {
  Synod__Part__Value v = SYNOD__PART__VALUE__INIT;
  v.v_case = SYNOD__PART__VALUE__V_TEXT;
  v.text.data = (uint8_t *)s;
  v.text.len = strlen(s);
  return v;
}

static Synod__Part__TxnResponse *txn_call(uint32_t method, uint64_t txn, uint64_t ts) {
  Synod__Part__TxnRequest q = SYNOD__PART__TXN_REQUEST__INIT;
  q.txn = txn;
  q.ts = ts;
  uint8_t *out = NULL;
  size_t len = 0;
  int rc = call_raw(method, &q.base, 5000, &out, &len);
  cr_assert_eq(rc, 0, "txn call %u: %s", method, syn_strerror(rc));
  Synod__Part__TxnResponse *r = synod__part__txn_response__unpack(NULL, len, out);
  free(out);
  cr_assert_not_null(r);
  cr_assert_not_null(r->status);
  return r;
}

/* Status code of a txn call; *ts gets the response ts. */
static int txn_do(uint32_t method, uint64_t txn, uint64_t ts, uint64_t *out_ts) {
  Synod__Part__TxnResponse *r = txn_call(method, txn, ts);
  int code = r->status->code;
  if (out_ts) *out_ts = r->ts;
  synod__part__txn_response__free_unpacked(r, NULL);
  return code;
}

/* The participant's clock now: above every timestamp it issued. */
static uint64_t part_now(void) {
  Synod__Part__TxnResponse *r = txn_call(SYN_M_PART_TXN_STATE, 1, 0);
  uint64_t h = r->hlc;
  synod__part__txn_response__free_unpacked(r, NULL);
  cr_assert_gt(h, 0);
  return h;
}

static int txn_state(uint64_t txn, uint64_t *ts) {
  Synod__Part__TxnResponse *r = txn_call(SYN_M_PART_TXN_STATE, txn, 0);
  cr_assert_eq(r->status->code, 0);
  int st = r->state;
  if (ts) *ts = r->ts;
  synod__part__txn_response__free_unpacked(r, NULL);
  return st;
}

static int ddl(Synod__Part__DdlRequest *q, char *msg, size_t cap) {
  uint8_t *out = NULL;
  size_t len = 0;
  int rc = call_raw(SYN_M_PART_DDL, &q->base, 5000, &out, &len);
  cr_assert_eq(rc, 0, "ddl call: %s", syn_strerror(rc));
  Synod__Part__DdlResponse *r = synod__part__ddl_response__unpack(NULL, len, out);
  free(out);
  cr_assert_not_null(r);
  int code = r->status->code;
  if (msg) snprintf(msg, cap, "%s", r->status->message);
  synod__part__ddl_response__free_unpacked(r, NULL);
  return code;
}

/* Table tid: (k INTEGER primary key "t_pkey", v TEXT, n INTEGER). */
static int create_table(uint32_t tid) {
  Synod__Part__ColumnDef c0 = SYNOD__PART__COLUMN_DEF__INIT, c1 = SYNOD__PART__COLUMN_DEF__INIT,
                         c2 = SYNOD__PART__COLUMN_DEF__INIT;
  c0.name = "k", c0.affinity = "INTEGER";
  c1.name = "v", c1.affinity = "TEXT";
  c2.name = "n", c2.affinity = "INTEGER";
  Synod__Part__ColumnDef *cols[] = {&c0, &c1, &c2};
  int32_t key[] = {0};
  Synod__Part__TableDef t = SYNOD__PART__TABLE_DEF__INIT;
  t.table_id = tid;
  t.n_cols = 3;
  t.cols = cols;
  t.n_key_cols = 1;
  t.key_cols = key;
  t.pkey_name = "t_pkey";
  Synod__Part__DdlRequest q = SYNOD__PART__DDL_REQUEST__INIT;
  q.table_id = tid;
  q.op_case = SYNOD__PART__DDL_REQUEST__OP_CREATE_TABLE;
  q.create_table = &t;
  return ddl(&q, NULL, 0);
}

typedef struct wres {
  int code;
  uint32_t done;
  uint64_t blocker, conflict_ts;
  char constraint[64];
  char msg[256];
} wres;

/* Write ops on keys k0..k0+n-1 (v = "v<k>", n = k * mult). */
static wres write_range(uint64_t txn, uint32_t tid, uint64_t snap, int mode, int64_t k0, int n,
                        int mult, uint32_t wait_ms, uint32_t timeout_ms, int *call_rc) {
  Synod__Part__WriteOp *ops = calloc((size_t)n, sizeof *ops);
  Synod__Part__WriteOp **pops = calloc((size_t)n, sizeof *pops);
  Synod__Part__Value *vals = calloc((size_t)n * 4, sizeof *vals);
  Synod__Part__Value **pv = calloc((size_t)n * 4, sizeof *pv);
  char(*texts)[32] = calloc((size_t)n, 32);
  for (int i = 0; i < n; i++) {
    int64_t k = k0 + i;
    synod__part__write_op__init(&ops[i]);
    ops[i].mode = mode;
    vals[4 * i] = V_int(k);
    snprintf(texts[i], 32, "v%lld", (long long)k);
    vals[4 * i + 1] = V_int(k);
    vals[4 * i + 2] = V_text(texts[i]);
    vals[4 * i + 3] = V_int(k * mult);
    for (int j = 0; j < 4; j++) pv[4 * i + j] = &vals[4 * i + j];
    ops[i].n_key = 1;
    ops[i].key = &pv[4 * i];
    if (mode == 1 || mode == 2) {
      ops[i].n_row = 3;
      ops[i].row = &pv[4 * i + 1];
    }
    pops[i] = &ops[i];
  }
  Synod__Part__WriteRequest q = SYNOD__PART__WRITE_REQUEST__INIT;
  q.txn = txn;
  q.table_id = tid;
  q.snapshot_ts = snap;
  q.n_ops = (size_t)n;
  q.ops = pops;
  q.wait_ms = wait_ms;
  uint8_t *out = NULL;
  size_t len = 0;
  int rc = call_raw(SYN_M_PART_WRITE, &q.base, timeout_ms, &out, &len);
  free(ops), free(pops), free(vals), free(pv), free(texts);
  wres w;
  memset(&w, 0, sizeof w);
  if (call_rc) *call_rc = rc;
  if (rc < 0) {
    cr_assert_not_null(call_rc, "write call failed: %s", syn_strerror(rc));
    w.code = rc;
    return w;
  }
  Synod__Part__WriteResponse *r = synod__part__write_response__unpack(NULL, len, out);
  free(out);
  cr_assert_not_null(r);
  w.code = r->status->code;
  w.done = r->done;
  w.blocker = r->status->blocker;
  w.conflict_ts = r->status->conflict_ts;
  snprintf(w.constraint, sizeof w.constraint, "%s", r->status->constraint);
  snprintf(w.msg, sizeof w.msg, "%s", r->status->message);
  synod__part__write_response__free_unpacked(r, NULL);
  return w;
}

static wres write1(uint64_t txn, uint32_t tid, uint64_t snap, int mode, int64_t k,
                   uint32_t wait_ms) {
  return write_range(txn, tid, snap, mode, k, 1, 1, wait_ms, 10000, NULL);
}

typedef struct scan_q {
  uint32_t tid;
  uint64_t snap, txn;
  const char *filter;
  uint32_t limit;
  const uint8_t *after;
  size_t after_len;
  int has_after;
  int64_t point; /* != 0: point read of key k = point */
  uint32_t wait_ms;
} scan_q;

static Synod__Part__ScanResponse *scan(const scan_q *s) {
  Synod__Part__ScanRequest q = SYNOD__PART__SCAN_REQUEST__INIT;
  q.table_id = s->tid;
  q.snapshot_ts = s->snap;
  q.txn = s->txn;
  q.filter = (char *)(s->filter ? s->filter : "");
  q.limit = s->limit;
  q.has_after_key = s->has_after;
  q.after_key.data = (uint8_t *)s->after;
  q.after_key.len = s->after_len;
  q.wait_ms = s->wait_ms;
  Synod__Part__Value kv = V_int(s->point);
  Synod__Part__Value *pk = &kv;
  if (s->point) {
    q.n_key = 1;
    q.key = &pk;
  }
  uint8_t *out = NULL;
  size_t len = 0;
  int rc = call_raw(SYN_M_PART_SCAN, &q.base, 10000, &out, &len);
  cr_assert_eq(rc, 0, "scan call: %s", syn_strerror(rc));
  Synod__Part__ScanResponse *r = synod__part__scan_response__unpack(NULL, len, out);
  free(out);
  cr_assert_not_null(r);
  cr_assert_not_null(r->status);
  return r;
}

static uint64_t txid(unsigned coord, uint64_t n) { return ((uint64_t)coord << 56) | n; }

static double ms_since(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* ---- DDL ------------------------------------------------------------------------ */

Test(psvc, ddl_steps_are_idempotent) {
  cr_assert_eq(create_table(1), 0);
  cr_assert_eq(create_table(1), 0, "create of an existing table is ok (retry)");
  char msg[256];
  Synod__Part__DdlRequest q = SYNOD__PART__DDL_REQUEST__INIT;
  Synod__Part__ColumnDef c = SYNOD__PART__COLUMN_DEF__INIT;
  c.name = "extra", c.affinity = "INTEGER";
  Synod__Part__Value dv = V_int(7);
  q.table_id = 1;
  q.op_case = SYNOD__PART__DDL_REQUEST__OP_ADD_COLUMN;
  q.add_column = &c;
  q.add_column_default = &dv;
  cr_assert_eq(ddl(&q, msg, sizeof msg), 0, "%s", msg);
  cr_assert_eq(ddl(&q, msg, sizeof msg), 0, "add column again: %s", msg);
  Synod__Part__RenameColumn rn = SYNOD__PART__RENAME_COLUMN__INIT;
  rn.from = "extra", rn.to = "extra2";
  q = (Synod__Part__DdlRequest)SYNOD__PART__DDL_REQUEST__INIT;
  q.table_id = 1;
  q.op_case = SYNOD__PART__DDL_REQUEST__OP_RENAME_COLUMN;
  q.rename_column = &rn;
  cr_assert_eq(ddl(&q, msg, sizeof msg), 0, "%s", msg);
  cr_assert_eq(ddl(&q, msg, sizeof msg), 0, "rename again: %s", msg);
  Synod__Part__IndexDef ix = SYNOD__PART__INDEX_DEF__INIT;
  int32_t icol[] = {1};
  ix.name = "t_v_key", ix.unique = 1, ix.n_cols = 1, ix.cols = icol;
  q = (Synod__Part__DdlRequest)SYNOD__PART__DDL_REQUEST__INIT;
  q.table_id = 1;
  q.op_case = SYNOD__PART__DDL_REQUEST__OP_CREATE_INDEX;
  q.create_index = &ix;
  cr_assert_eq(ddl(&q, msg, sizeof msg), 0, "%s", msg);
  cr_assert_eq(ddl(&q, msg, sizeof msg), 0, "create index again: %s", msg);
  q = (Synod__Part__DdlRequest)SYNOD__PART__DDL_REQUEST__INIT;
  q.table_id = 1;
  q.op_case = SYNOD__PART__DDL_REQUEST__OP_DROP_INDEX;
  q.drop_index = "t_v_key";
  cr_assert_eq(ddl(&q, msg, sizeof msg), 0, "%s", msg);
  cr_assert_eq(ddl(&q, msg, sizeof msg), 0, "drop index again: %s", msg);
  q = (Synod__Part__DdlRequest)SYNOD__PART__DDL_REQUEST__INIT;
  q.table_id = 1;
  q.op_case = SYNOD__PART__DDL_REQUEST__OP_DROP_COLUMN;
  q.drop_column = "extra2";
  cr_assert_eq(ddl(&q, msg, sizeof msg), 0, "%s", msg);
  cr_assert_eq(ddl(&q, msg, sizeof msg), 0, "drop column again: %s", msg);
  /* The schema is back to three columns: rows of three go in. */
  cr_assert_eq(write1(txid(1, 1), 1, part_now(), 1, 1, 0).code, 0);
  cr_assert_eq(txn_do(SYN_M_PART_COMMIT_ONE_PHASE, txid(1, 1), 0, NULL), 0);
  q.table_id = 99; /* no such table: not an idempotent retry */
  cr_assert_eq(ddl(&q, msg, sizeof msg), SYN_ENOTFOUND);
  q = (Synod__Part__DdlRequest)SYNOD__PART__DDL_REQUEST__INIT;
  q.table_id = 1;
  q.op_case = SYNOD__PART__DDL_REQUEST__OP_TRUNCATE_TABLE;
  q.truncate_table = 1;
  cr_assert_eq(ddl(&q, msg, sizeof msg), 0, "%s", msg);
  Synod__Part__ScanResponse *r = scan(&(scan_q){.tid = 1, .snap = part_now()});
  cr_assert_eq(r->status->code, 0);
  cr_assert_eq(r->n_rows, 0, "truncate left rows");
  synod__part__scan_response__free_unpacked(r, NULL);
  q = (Synod__Part__DdlRequest)SYNOD__PART__DDL_REQUEST__INIT;
  q.table_id = 1;
  q.op_case = SYNOD__PART__DDL_REQUEST__OP_DROP_TABLE;
  q.drop_table = 1;
  cr_assert_eq(ddl(&q, msg, sizeof msg), 0, "%s", msg);
  cr_assert_eq(ddl(&q, msg, sizeof msg), 0, "drop table again: %s", msg);
  r = scan(&(scan_q){.tid = 1, .snap = part_now()});
  cr_assert_eq(r->status->code, SYN_ENOTFOUND);
  synod__part__scan_response__free_unpacked(r, NULL);
  q = (Synod__Part__DdlRequest)SYNOD__PART__DDL_REQUEST__INIT;
  q.table_id = 1;
  cr_assert_eq(ddl(&q, msg, sizeof msg), SYN_EINVAL, "a request without an op");
}

Test(psvc, ddl_refuses_while_table_has_intents) {
  cr_assert_eq(create_table(1), 0);
  uint64_t t = txid(1, 5);
  cr_assert_eq(write1(t, 1, part_now(), 1, 1, 0).code, 0);
  Synod__Part__DdlRequest q = SYNOD__PART__DDL_REQUEST__INIT;
  q.table_id = 1;
  q.op_case = SYNOD__PART__DDL_REQUEST__OP_DROP_TABLE;
  q.drop_table = 1;
  uint8_t *out = NULL;
  size_t len = 0;
  cr_assert_eq(call_raw(SYN_M_PART_DDL, &q.base, 5000, &out, &len), 0);
  Synod__Part__DdlResponse *r = synod__part__ddl_response__unpack(NULL, len, out);
  free(out);
  cr_assert_eq(r->status->code, SYN_EBUSY);
  cr_assert_eq(r->status->blocker, t, "the status names the txn in the way");
  synod__part__ddl_response__free_unpacked(r, NULL);
}

/* ---- reads and writes ------------------------------------------------------------- */

Test(psvc, write_scan_and_point_read) {
  cr_assert_eq(create_table(1), 0);
  uint64_t t = txid(1, 10);
  wres w = write_range(t, 1, part_now(), 1, 1, 5, 10, 0, 5000, NULL);
  cr_assert_eq(w.code, 0, "%s", w.msg);
  cr_assert_eq(w.done, 5);
  uint64_t cts = 0;
  cr_assert_eq(txn_do(SYN_M_PART_COMMIT_ONE_PHASE, t, 0, &cts), 0);
  cr_assert_gt(cts, 0);
  uint64_t snap = part_now();
  cr_assert_gt(snap, cts);
  Synod__Part__ScanResponse *r = scan(&(scan_q){.tid = 1, .snap = snap});
  cr_assert_eq(r->status->code, 0, "%s", r->status->message);
  cr_assert_eq(r->n_rows, 5);
  cr_assert_eq(r->more, 0);
  for (size_t i = 0; i < 5; i++) {
    Synod__Part__Row *row = r->rows[i];
    cr_assert_eq(row->n_vals, 3);
    cr_assert_eq(row->vals[0]->v_case, SYNOD__PART__VALUE__V_I);
    cr_assert_eq(row->vals[0]->i, (int64_t)i + 1);
    char want[16];
    snprintf(want, sizeof want, "v%zu", i + 1);
    cr_assert_eq(row->vals[1]->v_case, SYNOD__PART__VALUE__V_TEXT);
    cr_assert_eq(row->vals[1]->text.len, strlen(want));
    cr_assert_eq(memcmp(row->vals[1]->text.data, want, strlen(want)), 0);
    cr_assert_eq(row->vals[2]->i, ((int64_t)i + 1) * 10);
    cr_assert_eq(row->commit_ts, cts);
  }
  synod__part__scan_response__free_unpacked(r, NULL);
  /* Below the commit nothing is visible. */
  r = scan(&(scan_q){.tid = 1, .snap = cts - 1});
  cr_assert_eq(r->n_rows, 0);
  synod__part__scan_response__free_unpacked(r, NULL);
  /* Filter with a parameter-free expression. */
  r = scan(&(scan_q){.tid = 1, .snap = snap, .filter = "n >= 30"});
  cr_assert_eq(r->status->code, 0, "%s", r->status->message);
  cr_assert_eq(r->n_rows, 3);
  synod__part__scan_response__free_unpacked(r, NULL);
  /* A filter that is not an expression is refused, the service goes on. */
  r = scan(&(scan_q){.tid = 1, .snap = snap, .filter = "1); DROP TABLE v1; --"});
  cr_assert_eq(r->status->code, SYN_EINVAL);
  synod__part__scan_response__free_unpacked(r, NULL);
  /* Point reads. */
  r = scan(&(scan_q){.tid = 1, .snap = snap, .point = 3});
  cr_assert_eq(r->status->code, 0);
  cr_assert_eq(r->n_rows, 1);
  cr_assert_eq(r->rows[0]->vals[2]->i, 30);
  cr_assert_gt(r->last_key.len, 0);
  synod__part__scan_response__free_unpacked(r, NULL);
  r = scan(&(scan_q){.tid = 1, .snap = snap, .point = 42});
  cr_assert_eq(r->status->code, 0);
  cr_assert_eq(r->n_rows, 0);
  synod__part__scan_response__free_unpacked(r, NULL);
}

Test(psvc, own_writes_overlay) {
  cr_assert_eq(create_table(1), 0);
  uint64_t t1 = txid(1, 1), t2 = txid(1, 2);
  cr_assert_eq(write_range(t1, 1, part_now(), 1, 1, 3, 1, 0, 5000, NULL).code, 0);
  cr_assert_eq(txn_do(SYN_M_PART_COMMIT_ONE_PHASE, t1, 0, NULL), 0);
  uint64_t snap = part_now();
  cr_assert_eq(write1(t2, 1, snap, 3, 2, 0).code, 0);          /* delete k=2 */
  cr_assert_eq(write_range(t2, 1, snap, 1, 9, 1, 1, 0, 5000, NULL).code, 0); /* insert k=9 */
  Synod__Part__ScanResponse *r = scan(&(scan_q){.tid = 1, .snap = snap, .txn = t2});
  cr_assert_eq(r->status->code, 0);
  cr_assert_eq(r->n_rows, 3, "1, 3 and own 9");
  cr_assert_eq(r->rows[0]->vals[0]->i, 1);
  cr_assert_eq(r->rows[1]->vals[0]->i, 3);
  cr_assert_eq(r->rows[2]->vals[0]->i, 9);
  cr_assert_eq(r->rows[2]->commit_ts, 0, "own pending write");
  synod__part__scan_response__free_unpacked(r, NULL);
  r = scan(&(scan_q){.tid = 1, .snap = snap});
  cr_assert_eq(r->n_rows, 3, "others see 1, 2, 3");
  synod__part__scan_response__free_unpacked(r, NULL);
}

static void scan_all(uint64_t snap, uint32_t limit, int *rows, int *batches, int *max_batch) {
  uint8_t after[64];
  size_t after_len = 0;
  int has_after = 0;
  int64_t last = 0;
  *rows = *batches = *max_batch = 0;
  for (int guard = 0; guard < 1000; guard++) {
    Synod__Part__ScanResponse *r = scan(&(scan_q){.tid = 1, .snap = snap, .limit = limit,
                                                   .after = after, .after_len = after_len,
                                                   .has_after = has_after});
    cr_assert_eq(r->status->code, 0, "%s", r->status->message);
    (*batches)++;
    if ((int)r->n_rows > *max_batch) *max_batch = (int)r->n_rows;
    for (size_t i = 0; i < r->n_rows; i++) {
      cr_assert_gt(r->rows[i]->vals[0]->i, last, "rows in key order, none repeated");
      last = r->rows[i]->vals[0]->i;
      (*rows)++;
    }
    int more = r->more;
    if (more) {
      cr_assert_leq(r->last_key.len, sizeof after);
      memcpy(after, r->last_key.data, r->last_key.len);
      after_len = r->last_key.len;
      has_after = 1;
    }
    synod__part__scan_response__free_unpacked(r, NULL);
    if (!more) return;
  }
  cr_assert_fail("scan never finished");
}

Test(psvc, scan_batches_and_resumes) {
  cr_assert_eq(create_table(1), 0);
  uint64_t t = txid(1, 3);
  uint64_t snap = part_now();
  for (int b = 0; b < 5; b++)
    cr_assert_eq(write_range(t, 1, snap, 1, 1 + b * 500, 500, 1, 0, 10000, NULL).code, 0);
  cr_assert_eq(txn_do(SYN_M_PART_COMMIT_ONE_PHASE, t, 0, NULL), 0);
  int rows, batches, max_batch;
  scan_all(part_now(), 0, &rows, &batches, &max_batch);
  cr_assert_eq(rows, 2500);
  cr_assert_eq(max_batch, 1000, "default batch cap");
  cr_assert_geq(batches, 3);
  scan_all(part_now(), 700, &rows, &batches, &max_batch);
  cr_assert_eq(rows, 2500);
  cr_assert_eq(max_batch, 700);
  scan_all(part_now(), 5000, &rows, &batches, &max_batch);
  cr_assert_eq(max_batch, 1000, "a larger limit is capped");
}

Test(psvc, scan_byte_budget) {
  restart((fixture_opts){.scan_bytes = 2000});
  cr_assert_eq(create_table(1), 0);
  uint64_t t = txid(1, 3);
  cr_assert_eq(write_range(t, 1, part_now(), 1, 1, 300, 1, 0, 10000, NULL).code, 0);
  cr_assert_eq(txn_do(SYN_M_PART_COMMIT_ONE_PHASE, t, 0, NULL), 0);
  int rows, batches, max_batch;
  scan_all(part_now(), 0, &rows, &batches, &max_batch);
  cr_assert_eq(rows, 300);
  cr_assert_lt(max_batch, 150, "batches are cut by the byte budget (max %d)", max_batch);
  cr_assert_gt(batches, 2);
}

/* ---- commit protocol ---------------------------------------------------------------- */

Test(psvc, prepare_commit_abort_are_idempotent) {
  cr_assert_eq(create_table(1), 0);
  uint64_t a = txid(1, 1), b = txid(1, 2), c = txid(1, 3);
  uint64_t snap = part_now();
  cr_assert_eq(write1(a, 1, snap, 1, 1, 0).code, 0);
  cr_assert_eq(write1(b, 1, snap, 1, 2, 0).code, 0);
  cr_assert_eq(write1(c, 1, snap, 1, 3, 0).code, 0);
  uint64_t pts = 0, pts2 = 0;
  cr_assert_eq(txn_do(SYN_M_PART_PREPARE, a, 0, &pts), 0);
  cr_assert_gt(pts, snap, "prepare_ts above every served snapshot");
  cr_assert_eq(txn_do(SYN_M_PART_PREPARE, a, 0, &pts2), 0);
  cr_assert_eq(pts2, pts, "a second prepare reports the first prepare_ts");
  uint64_t ts = 0;
  cr_assert_eq(txn_state(a, &ts), 1);
  cr_assert_eq(ts, pts);
  cr_assert_eq(txn_do(SYN_M_PART_COMMIT, a, pts - 1, NULL), SYN_EINVAL, "commit_ts < prepare_ts");
  cr_assert_eq(txn_do(SYN_M_PART_COMMIT, a, pts + 5, &ts), 0);
  cr_assert_eq(ts, pts + 5);
  cr_assert_eq(txn_do(SYN_M_PART_COMMIT, a, pts + 5, &ts), 0, "commit again");
  cr_assert_eq(ts, pts + 5);
  cr_assert_eq(txn_state(a, &ts), 2);
  cr_assert_eq(txn_do(SYN_M_PART_ABORT, a, 0, NULL), SYN_EINVAL, "abort after commit");
  cr_assert_gt(part_now(), pts + 5, "commit advanced the clock to commit_ts");
  /* Abort, twice; then a late prepare votes no. */
  cr_assert_eq(txn_do(SYN_M_PART_PREPARE, b, 0, NULL), 0);
  cr_assert_eq(txn_do(SYN_M_PART_ABORT, b, 0, NULL), 0);
  cr_assert_eq(txn_do(SYN_M_PART_ABORT, b, 0, NULL), 0);
  cr_assert_eq(txn_state(b, NULL), 3);
  cr_assert_eq(txn_do(SYN_M_PART_PREPARE, b, 0, NULL), SYN_ECLOSED);
  cr_assert_eq(txn_do(SYN_M_PART_COMMIT, b, pts + 9, NULL), SYN_ECLOSED);
  /* One-phase, twice: the retry reports the first commit_ts. */
  uint64_t c1 = 0, c2 = 0;
  cr_assert_eq(txn_do(SYN_M_PART_COMMIT_ONE_PHASE, c, 0, &c1), 0);
  cr_assert_eq(txn_do(SYN_M_PART_COMMIT_ONE_PHASE, c, 0, &c2), 0);
  cr_assert_eq(c1, c2);
  Synod__Part__ScanResponse *r = scan(&(scan_q){.tid = 1, .snap = part_now()});
  cr_assert_eq(r->n_rows, 2, "a and c committed, b aborted");
  cr_assert_eq(r->rows[0]->vals[0]->i, 1);
  cr_assert_eq(r->rows[1]->vals[0]->i, 3);
  synod__part__scan_response__free_unpacked(r, NULL);
  cr_assert_eq(txn_state(txid(1, 77), NULL), -1, "unknown txn");
}

Test(psvc, first_updater_wins_and_unique) {
  cr_assert_eq(create_table(1), 0);
  uint64_t t1 = txid(1, 1), t2 = txid(1, 2), t3 = txid(1, 3);
  uint64_t s0 = part_now();
  cr_assert_eq(write1(t1, 1, s0, 1, 1, 0).code, 0);
  uint64_t cts = 0;
  cr_assert_eq(txn_do(SYN_M_PART_COMMIT_ONE_PHASE, t1, 0, &cts), 0);
  /* t2's snapshot is older than t1's commit: its update conflicts. */
  wres w = write1(t2, 1, s0, 2, 1, 0);
  cr_assert_eq(w.code, SYN_ECONFLICT, "%s", w.msg);
  cr_assert_eq(w.conflict_ts, cts);
  /* A duplicate insert names the primary key constraint. */
  w = write1(t3, 1, part_now(), 1, 1, 0);
  cr_assert_eq(w.code, STORE_EUNIQUE, "%s", w.msg);
  cr_assert_str_eq(w.constraint, "t_pkey");
  /* A batch stops at the failing op and says how many went in. */
  w = write_range(txid(1, 4), 1, part_now(), 1, -1, 3, 1, 0, 5000, NULL); /* -1, 0, 1 */
  cr_assert_eq(w.code, STORE_EUNIQUE);
  cr_assert_eq(w.done, 2);
}

/* ---- waiting ------------------------------------------------------------------------ */

typedef struct bg_write {
  pthread_t th;
  uint64_t txn, snap;
  int mode;
  int64_t key;
  int n; /* ops on key, key+1, ...; 0 means 1 */
  uint32_t wait_ms, timeout_ms;
  wres res;
  int call_rc;
  double elapsed_ms;
} bg_write;

static void *bg_write_main(void *arg) {
  bg_write *b = arg;
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  b->res = write_range(b->txn, 1, b->snap, b->mode, b->key, b->n ? b->n : 1, 1, b->wait_ms,
                       b->timeout_ms, &b->call_rc);
  b->elapsed_ms = ms_since(&t0);
  return NULL;
}

static void bg_write_start(bg_write *b) {
  cr_assert_eq(pthread_create(&b->th, NULL, bg_write_main, b), 0);
}

Test(psvc, parked_write_woken_by_commit) {
  cr_assert_eq(create_table(1), 0);
  uint64_t t1 = txid(1, 1), t2 = txid(1, 2);
  uint64_t snap = part_now();
  cr_assert_eq(write1(t1, 1, snap, 2, 5, 0).code, 0);
  bg_write b = {.txn = t2, .snap = snap, .mode = 2, .key = 5, .wait_ms = 8000,
                .timeout_ms = 15000};
  bg_write_start(&b);
  usleep(400 * 1000);
  cr_assert_eq(txn_do(SYN_M_PART_COMMIT_ONE_PHASE, t1, 0, NULL), 0);
  pthread_join(b.th, NULL);
  cr_assert_eq(b.call_rc, 0);
  /* Woken by the commit: t1 committed after t2's snapshot, so t2 loses
  ** (first updater wins), long before its wait would have run out. */
  cr_assert_eq(b.res.code, SYN_ECONFLICT, "%d %s", b.res.code, b.res.msg);
  cr_assert_geq(b.elapsed_ms, 150, "it waited for the commit");
  cr_assert_lt(b.elapsed_ms, 4000);
}

Test(psvc, parked_write_woken_by_abort_succeeds) {
  cr_assert_eq(create_table(1), 0);
  uint64_t t1 = txid(1, 1), t2 = txid(1, 2), t3 = txid(1, 3);
  uint64_t snap = part_now();
  cr_assert_eq(write1(t1, 1, snap, 1, 5, 0).code, 0);
  cr_assert_eq(txn_do(SYN_M_PART_PREPARE, t1, 0, NULL), 0);
  bg_write b2 = {.txn = t2, .snap = snap, .mode = 1, .key = 5, .wait_ms = 8000,
                 .timeout_ms = 15000};
  bg_write_start(&b2);
  usleep(200 * 1000);
  bg_write b3 = {.txn = t3, .snap = snap, .mode = 1, .key = 5, .wait_ms = 1500,
                 .timeout_ms = 15000};
  bg_write_start(&b3);
  usleep(200 * 1000);
  cr_assert_eq(txn_do(SYN_M_PART_ABORT, t1, 0, NULL), 0);
  pthread_join(b2.th, NULL);
  cr_assert_eq(b2.res.code, 0, "the first waiter gets the row: %s", b2.res.msg);
  cr_assert_eq(b2.res.done, 1);
  cr_assert_lt(b2.elapsed_ms, 4000);
  /* The second waiter now waits on t2, and times out naming it. */
  pthread_join(b3.th, NULL);
  cr_assert_eq(b3.res.code, SYN_EBUSY, "%s", b3.res.msg);
  cr_assert_eq(b3.res.blocker, t2);
  cr_assert_geq(b3.elapsed_ms, 1400);
}

Test(psvc, parked_write_times_out_with_blocker) {
  cr_assert_eq(create_table(1), 0);
  uint64_t t1 = txid(1, 1), t2 = txid(1, 2);
  uint64_t snap = part_now();
  cr_assert_eq(write1(t1, 1, snap, 1, 5, 0).code, 0);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  wres w = write1(t2, 1, snap, 1, 5, 300);
  double el = ms_since(&t0);
  cr_assert_eq(w.code, SYN_EBUSY, "%s", w.msg);
  cr_assert_eq(w.blocker, t1);
  cr_assert_eq(w.done, 0);
  cr_assert_geq(el, 290);
  cr_assert_lt(el, 3000);
  /* wait_ms 0: answered at once. */
  w = write1(t2, 1, snap, 1, 5, 0);
  cr_assert_eq(w.code, SYN_EBUSY);
  cr_assert_eq(w.blocker, t1);
}

Test(psvc, parked_batch_resumes_after_recorded_ops) {
  cr_assert_eq(create_table(1), 0);
  uint64_t t1 = txid(1, 1), t2 = txid(1, 2);
  uint64_t snap = part_now();
  cr_assert_eq(write1(t1, 1, snap, 1, 3, 0).code, 0);
  /* t2 inserts 1..5: 1 and 2 go in, 3 waits for t1; after t1 aborts the
  ** re-run must go on from 3 (re-inserting 1 would be a duplicate). */
  bg_write b = {.txn = t2, .snap = snap, .mode = 1, .key = 1, .n = 5, .wait_ms = 8000,
                .timeout_ms = 15000};
  bg_write_start(&b);
  usleep(300 * 1000);
  cr_assert_eq(txn_do(SYN_M_PART_ABORT, t1, 0, NULL), 0);
  pthread_join(b.th, NULL);
  cr_assert_eq(b.res.code, 0, "%s", b.res.msg);
  cr_assert_eq(b.res.done, 5);
  cr_assert_eq(txn_do(SYN_M_PART_COMMIT_ONE_PHASE, t2, 0, NULL), 0);
  Synod__Part__ScanResponse *r = scan(&(scan_q){.tid = 1, .snap = part_now()});
  cr_assert_eq(r->n_rows, 5);
  synod__part__scan_response__free_unpacked(r, NULL);
}

typedef struct bg_scan {
  pthread_t th;
  scan_q q;
  Synod__Part__ScanResponse *r;
  double elapsed_ms;
} bg_scan;

static void *bg_scan_main(void *arg) {
  bg_scan *b = arg;
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  b->r = scan(&b->q);
  b->elapsed_ms = ms_since(&t0);
  return NULL;
}

Test(psvc, clock_si_read_waits_for_prepared_commit) {
  cr_assert_eq(create_table(1), 0);
  uint64_t t1 = txid(1, 1);
  cr_assert_eq(write1(t1, 1, part_now(), 1, 7, 0).code, 0);
  uint64_t pts = 0;
  cr_assert_eq(txn_do(SYN_M_PART_PREPARE, t1, 0, &pts), 0);
  uint64_t snap = part_now();
  cr_assert_gt(snap, pts);
  /* Without waiting: busy, naming the prepared txn. */
  Synod__Part__ScanResponse *r = scan(&(scan_q){.tid = 1, .snap = snap});
  cr_assert_eq(r->status->code, SYN_EBUSY);
  cr_assert_eq(r->status->blocker, t1);
  cr_assert_eq(r->n_rows, 0);
  synod__part__scan_response__free_unpacked(r, NULL);
  /* A snapshot below prepare_ts does not wait: the txn cannot commit under it. */
  r = scan(&(scan_q){.tid = 1, .snap = pts - 1});
  cr_assert_eq(r->status->code, 0);
  cr_assert_eq(r->n_rows, 0);
  synod__part__scan_response__free_unpacked(r, NULL);
  /* Waiting: woken by the commit, and the row (committed at or below the
  ** snapshot) is visible. */
  bg_scan b = {.q = {.tid = 1, .snap = snap, .wait_ms = 8000}};
  cr_assert_eq(pthread_create(&b.th, NULL, bg_scan_main, &b), 0);
  usleep(300 * 1000);
  cr_assert_eq(txn_do(SYN_M_PART_COMMIT, t1, pts + 1, NULL), 0);
  pthread_join(b.th, NULL);
  cr_assert_eq(b.r->status->code, 0, "%s", b.r->status->message);
  cr_assert_eq(b.r->n_rows, 1);
  cr_assert_eq(b.r->rows[0]->vals[0]->i, 7);
  cr_assert_eq(b.r->rows[0]->commit_ts, pts + 1);
  cr_assert_lt(b.elapsed_ms, 4000);
  synod__part__scan_response__free_unpacked(b.r, NULL);
  /* Point reads wait the same way. */
  uint64_t t2 = txid(1, 2);
  cr_assert_eq(write1(t2, 1, part_now(), 2, 7, 0).code, 0);
  cr_assert_eq(txn_do(SYN_M_PART_PREPARE, t2, 0, &pts), 0);
  bg_scan b2 = {.q = {.tid = 1, .snap = part_now(), .point = 7, .wait_ms = 8000}};
  cr_assert_eq(pthread_create(&b2.th, NULL, bg_scan_main, &b2), 0);
  usleep(200 * 1000);
  cr_assert_eq(txn_do(SYN_M_PART_ABORT, t2, 0, NULL), 0);
  pthread_join(b2.th, NULL);
  cr_assert_eq(b2.r->status->code, 0, "%s", b2.r->status->message);
  cr_assert_eq(b2.r->n_rows, 1);
  synod__part__scan_response__free_unpacked(b2.r, NULL);
}

Test(psvc, client_gone_while_parked) {
  cr_assert_eq(create_table(1), 0);
  uint64_t t1 = txid(1, 1), t2 = txid(1, 2);
  uint64_t snap = part_now();
  cr_assert_eq(write1(t1, 1, snap, 1, 5, 0).code, 0);
  /* The caller gives up (and hangs up) long before the wait ends. */
  int rc = 0;
  wres w = write_range(t2, 1, snap, 1, 5, 1, 1, 1000, 150, &rc);
  cr_assert_eq(rc, SYN_ETIMEDOUT);
  (void)w;
  /* Another parked one whose client vanishes, woken while gone. */
  write_range(txid(1, 3), 1, snap, 1, 5, 1, 1, 5000, 150, &rc);
  cr_assert_eq(rc, SYN_ETIMEDOUT);
  cr_assert_eq(txn_do(SYN_M_PART_ABORT, t1, 0, NULL), 0);
  usleep(1200 * 1000); /* the first one expires into a closed connection */
  cr_assert_eq(write1(txid(1, 4), 1, part_now(), 1, 6, 0).code, 0, "still serving");
}

Test(psvc, stop_answers_parked_requests) {
  cr_assert_eq(create_table(1), 0);
  uint64_t snap = part_now();
  cr_assert_eq(write1(txid(1, 1), 1, snap, 1, 5, 0).code, 0);
  bg_write b = {.txn = txid(1, 2), .snap = snap, .mode = 1, .key = 5, .wait_ms = 20000,
                .timeout_ms = 25000};
  bg_write_start(&b);
  usleep(300 * 1000);
  stop();
  pthread_join(b.th, NULL);
  cr_assert_eq(b.call_rc, SYN_ECLOSED, "parked request answered at stop: %s",
               syn_strerror(b.call_rc));
  cr_assert_lt(b.elapsed_ms, 5000);
}

/* ---- bad input and clocks --------------------------------------------------------------- */

Test(psvc, undecodable_payload_is_an_error_and_service_goes_on) {
  cr_assert_eq(create_table(1), 0);
  static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
  static const uint32_t methods[] = {SYN_M_PART_DDL, SYN_M_PART_SCAN, SYN_M_PART_WRITE,
                                     SYN_M_PART_PREPARE, SYN_M_PART_COMMIT, SYN_M_PART_ABORT,
                                     SYN_M_PART_COMMIT_ONE_PHASE, SYN_M_PART_TXN_STATE,
                                     SYN_M_PART_GC, SYN_M_PART_ABORT_ACTIVE};
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
    uint8_t *out = NULL;
    size_t len = 0;
    syn_err err;
    int rc = rpc_call_blocking("127.0.0.1", g_port, methods[i], junk, sizeof junk, 5000, &out,
                               &len, &err);
    free(out);
    cr_assert_eq(rc, SYN_EINVAL, "method %u: %s", methods[i], syn_strerror(rc));
    cr_assert(strstr(err.msg, "does not decode"), "%s", err.msg);
  }
  cr_assert_geq(log_count("does not decode"), 10);
  cr_assert_geq(log_count("WARN"), 10);
  cr_assert_geq(log_count("from 127.0.0.1:"), 10, "the WARN names the peer");
  /* A write with a bad mode is a status, not a crash. */
  wres w = write_range(txid(1, 1), 1, part_now(), 9, 1, 1, 1, 0, 5000, NULL);
  cr_assert_eq(w.code, SYN_EINVAL);
  /* Wrong column count: the store says so. */
  Synod__Part__WriteOp op = SYNOD__PART__WRITE_OP__INIT;
  Synod__Part__Value k = V_int(1);
  Synod__Part__Value *pk = &k;
  op.mode = 1, op.n_key = 1, op.key = &pk, op.n_row = 1, op.row = &pk;
  Synod__Part__WriteOp *pop = &op;
  Synod__Part__WriteRequest q = SYNOD__PART__WRITE_REQUEST__INIT;
  q.txn = txid(1, 1), q.table_id = 1, q.snapshot_ts = part_now(), q.n_ops = 1, q.ops = &pop;
  uint8_t *out = NULL;
  size_t len = 0;
  cr_assert_eq(call_raw(SYN_M_PART_WRITE, &q.base, 5000, &out, &len), 0);
  Synod__Part__WriteResponse *wr = synod__part__write_response__unpack(NULL, len, out);
  free(out);
  cr_assert_eq(wr->status->code, SYN_EINVAL);
  synod__part__write_response__free_unpacked(wr, NULL);
  /* Still serving. */
  cr_assert_eq(write1(txid(1, 2), 1, part_now(), 1, 1, 0).code, 0);
}

Test(psvc, clock_refuses_stamps_beyond_max_offset) {
  cr_assert_eq(create_table(1), 0);
  uint64_t far = now_ts() + ((uint64_t)3600 * 1000 << 16); /* an hour ahead */
  Synod__Part__ScanResponse *r = scan(&(scan_q){.tid = 1, .snap = far});
  cr_assert_eq(r->status->code, SYN_ERANGE, "%s", r->status->message);
  synod__part__scan_response__free_unpacked(r, NULL);
  uint64_t t = txid(1, 1);
  cr_assert_eq(write1(t, 1, part_now(), 1, 1, 0).code, 0);
  cr_assert_eq(txn_do(SYN_M_PART_PREPARE, t, 0, NULL), 0);
  cr_assert_eq(txn_do(SYN_M_PART_COMMIT, t, far, NULL), SYN_ERANGE);
  cr_assert_eq(txn_state(t, NULL), 1, "not applied");
  cr_assert_lt(part_now(), far, "the clock did not move");
  /* A scan advances the clock to its snapshot (Clock-SI). */
  uint64_t ahead = now_ts() + ((uint64_t)200 << 16);
  r = scan(&(scan_q){.tid = 1, .snap = ahead});
  cr_assert_eq(r->status->code, SYN_EBUSY, "t is prepared below the snapshot");
  synod__part__scan_response__free_unpacked(r, NULL);
  uint64_t pts = 0;
  cr_assert_eq(txn_do(SYN_M_PART_PREPARE, txid(1, 2), 0, &pts), 0);
  cr_assert_gt(pts, ahead, "prepare_ts above the snapshot served");
}

/* ---- in-doubt resolution ------------------------------------------------------------------- */

static void script(uint64_t txn, int a, int b) {
  pthread_mutex_lock(&g_fake_mu);
  g_script[g_nscript].txn = txn;
  g_script[g_nscript].outcomes[0] = a;
  g_script[g_nscript].outcomes[1] = b;
  g_script[g_nscript].n_outcomes = b >= 0 ? 2 : 1;
  g_nscript++;
  pthread_mutex_unlock(&g_fake_mu);
}

Test(psvc, in_doubt_resolved_at_restart) {
  /* In-doubt threshold far away: nothing is resolved in phase one. */
  restart((fixture_opts){.resolve_after_ms = 3600000});
  cr_assert_eq(create_table(1), 0);
  uint64_t a = txid(1, 1), b = txid(1, 2), c = txid(1, 3), d = txid(2, 4);
  uint64_t snap = part_now();
  cr_assert_eq(write1(a, 1, snap, 1, 1, 0).code, 0);
  cr_assert_eq(write1(b, 1, snap, 1, 2, 0).code, 0);
  cr_assert_eq(write1(c, 1, snap, 1, 3, 0).code, 0);
  cr_assert_eq(write1(d, 1, snap, 1, 4, 0).code, 0);
  for (uint64_t t = 1; t <= 3; t++) cr_assert_eq(txn_do(SYN_M_PART_PREPARE, txid(1, t), 0, NULL), 0);
  cr_assert_eq(txn_do(SYN_M_PART_PREPARE, d, 0, NULL), 0);
  usleep(300 * 1000);
  cr_assert_eq(txn_state(a, NULL), 1, "still prepared: no resolver yet");
  stop();
  /* Restart with c1 reachable: a commits, b aborts, c is unknown once and
  ** then commits; d belongs to c2, which is not configured, so c1 (the
  ** only coordinator listed) is asked and has no decision for it. */
  g_nscript = 0;
  script(a, 1, -1);
  script(b, 2, -1);
  script(c, 0, 1);
  fixture_opts o = {.resolve_after_ms = 200, .resolve_poll_ms = 50, .fake_coordinator = 1,
                    .keep_dir = 1};
  start(&o);
  int done = 0;
  for (int i = 0; i < 200 && !done; i++) {
    done = txn_state(a, NULL) == 2 && txn_state(b, NULL) == 3 && txn_state(c, NULL) == 2;
    if (!done) usleep(50 * 1000);
  }
  cr_assert(done, "in-doubt txns resolved: a=%d b=%d c=%d", txn_state(a, NULL),
            txn_state(b, NULL), txn_state(c, NULL));
  uint64_t cts = 0;
  txn_state(a, &cts);
  pthread_mutex_lock(&g_fake_mu);
  cr_assert_eq(cts, g_script[0].commit_ts, "committed at the coordinator's commit_ts");
  cr_assert_geq(g_script[2].asks, 2, "c was asked again after 'unknown'");
  pthread_mutex_unlock(&g_fake_mu);
  cr_assert_eq(txn_state(d, NULL), 1, "nobody has a decision for d: still prepared");
  usleep(400 * 1000);
  char cid[96];
  snprintf(cid, sizeof cid, "cid=%llu in-doubt txn not resolved yet", (unsigned long long)d);
  cr_assert_eq(log_count(cid), 1, "logged once per txn, not per try: %d '%s'", log_count(cid), cid);
  snprintf(cid, sizeof cid, "cid=%llu in-doubt txn not resolved yet", (unsigned long long)c);
  cr_assert_eq(log_count(cid), 1);
  cr_assert_eq(log_count("in-doubt txn resolved: COMMIT"), 2);
  cr_assert_eq(log_count("in-doubt txn resolved: ABORT"), 1);
  cr_assert_eq(txn_do(SYN_M_PART_ABORT, d, 0, NULL), 0);
  Synod__Part__ScanResponse *r = scan(&(scan_q){.tid = 1, .snap = part_now()});
  cr_assert_eq(r->status->code, 0, "%s", r->status->message);
  cr_assert_eq(r->n_rows, 2);
  cr_assert_eq(r->rows[0]->vals[0]->i, 1);
  cr_assert_eq(r->rows[1]->vals[0]->i, 3);
  synod__part__scan_response__free_unpacked(r, NULL);
  stop();
  /* Nothing is left prepared on disk. */
  store *st = NULL;
  syn_err err;
  cr_assert_eq(store_open(g_dir, &st, &err), 0, "%s", err.msg);
  store_prepared *list = NULL;
  size_t n = 99;
  cr_assert_eq(store_prepared_list(st, &list, &n, &err), 0);
  free(list);
  store_close(st);
  cr_assert_eq(n, 0, "prepared txns left: %zu", n);
}

/* The transaction's own coordinator (c2, c3) does not answer: the others
** of --coordinators are asked, the own one first, and the answer (from
** the group's replicated decision table) settles it. */
Test(psvc, in_doubt_resolved_by_another_coordinator_of_the_group) {
  g_nscript = 0;
  restart((fixture_opts){.resolve_after_ms = 200, .resolve_poll_ms = 50, .fake_coordinator = 1,
                         .ncoords = 3});
  cr_assert_eq(create_table(1), 0);
  uint64_t a = txid(2, 1), b = txid(3, 2);
  script(a, 1, -1);
  script(b, 2, -1);
  uint64_t snap = part_now();
  cr_assert_eq(write1(a, 1, snap, 1, 1, 0).code, 0);
  cr_assert_eq(write1(b, 1, snap, 1, 2, 0).code, 0);
  cr_assert_eq(txn_do(SYN_M_PART_PREPARE, a, 0, NULL), 0);
  cr_assert_eq(txn_do(SYN_M_PART_PREPARE, b, 0, NULL), 0);
  int done = 0;
  for (int i = 0; i < 200 && !done; i++) {
    done = txn_state(a, NULL) == 2 && txn_state(b, NULL) == 3;
    if (!done) usleep(50 * 1000);
  }
  cr_assert(done, "resolved through c1: a=%d b=%d", txn_state(a, NULL), txn_state(b, NULL));
  char want[160];
  snprintf(want, sizeof want, "cid=%llu txn prepared", (unsigned long long)a);
  cr_assert_eq(log_count(want), 1);
  snprintf(want, sizeof want, "cid=%llu in-doubt txn: c2 gave no answer", (unsigned long long)a);
  cr_assert_eq(log_count(want), 1, "the own coordinator c2 is asked first, once logged");
  snprintf(want, sizeof want, "cid=%llu in-doubt txn resolved: COMMIT", (unsigned long long)a);
  cr_assert_eq(log_count(want), 1);
  cr_assert_eq(log_count("(answered by c1)"), 2);
  snprintf(want, sizeof want, "cid=%llu in-doubt txn: c3 gave no answer", (unsigned long long)b);
  cr_assert_eq(log_count(want), 1);
  pthread_mutex_lock(&g_fake_mu);
  cr_assert_eq(g_script[0].asks, 1, "one definite answer ends the round");
  pthread_mutex_unlock(&g_fake_mu);
}

Test(psvc, abort_fails_the_aborted_txns_own_parked_write) {
  cr_assert_eq(create_table(1), 0);
  uint64_t t1 = txid(1, 1), t2 = txid(1, 2);
  uint64_t snap = part_now();
  cr_assert_eq(write1(t1, 1, snap, 1, 5, 0).code, 0);
  bg_write b = {.txn = t2, .snap = snap, .mode = 1, .key = 5, .wait_ms = 8000,
                .timeout_ms = 15000};
  bg_write_start(&b);
  usleep(300 * 1000);
  /* The coordinator aborts t2 (say, as a deadlock victim): its parked
  ** write must not keep waiting for t1. */
  cr_assert_eq(txn_do(SYN_M_PART_ABORT, t2, 0, NULL), 0);
  pthread_join(b.th, NULL);
  cr_assert_eq(b.res.code, SYN_ECLOSED, "%d %s", b.res.code, b.res.msg);
  cr_assert_lt(b.elapsed_ms, 4000);
  cr_assert_eq(txn_state(t1, NULL), 0, "t1 untouched");
}

Test(psvc, wait_queue_is_bounded) {
  restart((fixture_opts){.max_parked = 1});
  cr_assert_eq(create_table(1), 0);
  uint64_t t1 = txid(1, 1);
  uint64_t snap = part_now();
  cr_assert_eq(write1(t1, 1, snap, 1, 5, 0).code, 0);
  bg_write b = {.txn = txid(1, 2), .snap = snap, .mode = 1, .key = 5, .wait_ms = 8000,
                .timeout_ms = 15000};
  bg_write_start(&b);
  usleep(300 * 1000);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  wres w = write1(txid(1, 3), 1, snap, 1, 5, 5000);
  cr_assert_eq(w.code, SYN_EBUSY, "%s", w.msg);
  cr_assert_eq(w.blocker, t1);
  cr_assert_lt(ms_since(&t0), 1000, "a full queue answers at once");
  cr_assert_eq(txn_do(SYN_M_PART_ABORT, t1, 0, NULL), 0);
  pthread_join(b.th, NULL);
  cr_assert_eq(b.res.code, 0, "%s", b.res.msg);
}

Test(psvc, value_types_round_trip) {
  Synod__Part__ColumnDef c[5];
  Synod__Part__ColumnDef *pc[5];
  const char *names[] = {"id", "r", "t", "b", "n"};
  const char *affs[] = {"INTEGER", "REAL", "TEXT", "BLOB", "INTEGER"};
  for (int i = 0; i < 5; i++) {
    synod__part__column_def__init(&c[i]);
    c[i].name = (char *)names[i];
    c[i].affinity = (char *)affs[i];
    pc[i] = &c[i];
  }
  /* No primary key: the key is a hidden row id given by the caller. */
  Synod__Part__TableDef t = SYNOD__PART__TABLE_DEF__INIT;
  t.table_id = 2, t.n_cols = 5, t.cols = pc;
  Synod__Part__DdlRequest dq = SYNOD__PART__DDL_REQUEST__INIT;
  dq.table_id = 2;
  dq.op_case = SYNOD__PART__DDL_REQUEST__OP_CREATE_TABLE;
  dq.create_table = &t;
  char msg[256];
  cr_assert_eq(ddl(&dq, msg, sizeof msg), 0, "%s", msg);
  static const uint8_t blob[] = {0, 1, 2, 255, 0};
  Synod__Part__Value v[5], rowid = V_int(77), *pv[5], *pk = &rowid;
  v[0] = V_int(-9);
  synod__part__value__init(&v[1]);
  v[1].v_case = SYNOD__PART__VALUE__V_R, v[1].r = 2.5;
  v[2] = V_text("héllo");
  synod__part__value__init(&v[3]);
  v[3].v_case = SYNOD__PART__VALUE__V_BLOB, v[3].blob.data = (uint8_t *)blob,
  v[3].blob.len = sizeof blob;
  synod__part__value__init(&v[4]); /* NULL */
  for (int i = 0; i < 5; i++) pv[i] = &v[i];
  Synod__Part__WriteOp op = SYNOD__PART__WRITE_OP__INIT, *pop = &op;
  op.mode = 1, op.n_key = 1, op.key = &pk, op.n_row = 5, op.row = pv;
  Synod__Part__WriteRequest q = SYNOD__PART__WRITE_REQUEST__INIT;
  uint64_t tx = txid(1, 1);
  q.txn = tx, q.table_id = 2, q.snapshot_ts = part_now(), q.n_ops = 1, q.ops = &pop;
  uint8_t *out = NULL;
  size_t len = 0;
  cr_assert_eq(call_raw(SYN_M_PART_WRITE, &q.base, 5000, &out, &len), 0);
  Synod__Part__WriteResponse *wr = synod__part__write_response__unpack(NULL, len, out);
  free(out);
  cr_assert_eq(wr->status->code, 0, "%s", wr->status->message);
  synod__part__write_response__free_unpacked(wr, NULL);
  cr_assert_eq(txn_do(SYN_M_PART_COMMIT_ONE_PHASE, tx, 0, NULL), 0);
  Synod__Part__ScanResponse *r = scan(&(scan_q){.tid = 2, .snap = part_now()});
  cr_assert_eq(r->status->code, 0, "%s", r->status->message);
  cr_assert_eq(r->n_rows, 1);
  Synod__Part__Row *row = r->rows[0];
  cr_assert_eq(row->rowid, 77);
  cr_assert_eq(row->n_vals, 5);
  cr_assert_eq(row->vals[0]->i, -9);
  cr_assert_eq(row->vals[1]->v_case, SYNOD__PART__VALUE__V_R);
  cr_assert_float_eq(row->vals[1]->r, 2.5, 1e-12);
  cr_assert_eq(row->vals[2]->v_case, SYNOD__PART__VALUE__V_TEXT);
  cr_assert_eq(row->vals[2]->text.len, strlen("héllo"));
  cr_assert_eq(memcmp(row->vals[2]->text.data, "héllo", strlen("héllo")), 0);
  cr_assert_eq(row->vals[3]->v_case, SYNOD__PART__VALUE__V_BLOB);
  cr_assert_eq(row->vals[3]->blob.len, sizeof blob);
  cr_assert_eq(memcmp(row->vals[3]->blob.data, blob, sizeof blob), 0);
  cr_assert_eq(row->vals[4]->v_case, SYNOD__PART__VALUE__V__NOT_SET, "NULL stays NULL");
  synod__part__scan_response__free_unpacked(r, NULL);
  /* Filter with parameters. */
  Synod__Part__ScanRequest sq = SYNOD__PART__SCAN_REQUEST__INIT;
  Synod__Part__Value p1 = V_text("héllo"), *pp = &p1;
  sq.table_id = 2, sq.snapshot_ts = part_now(), sq.filter = "t = ?1 AND n IS NULL";
  sq.n_params = 1, sq.params = &pp;
  cr_assert_eq(call_raw(SYN_M_PART_SCAN, &sq.base, 5000, &out, &len), 0);
  r = synod__part__scan_response__unpack(NULL, len, out);
  free(out);
  cr_assert_eq(r->status->code, 0, "%s", r->status->message);
  cr_assert_eq(r->n_rows, 1);
  synod__part__scan_response__free_unpacked(r, NULL);
}

Test(psvc, empty_text_is_not_null) {
  cr_assert_eq(create_table(1), 0);
  Synod__Part__Value k = V_int(1), v = V_text(""), n;
  synod__part__value__init(&n);
  Synod__Part__Value *pk = &k, *row[] = {&k, &v, &n};
  Synod__Part__WriteOp op = SYNOD__PART__WRITE_OP__INIT, *pop = &op;
  op.mode = 1, op.n_key = 1, op.key = &pk, op.n_row = 3, op.row = row;
  Synod__Part__WriteRequest q = SYNOD__PART__WRITE_REQUEST__INIT;
  uint64_t tx = txid(1, 1);
  q.txn = tx, q.table_id = 1, q.snapshot_ts = part_now(), q.n_ops = 1, q.ops = &pop;
  uint8_t *out = NULL;
  size_t len = 0;
  cr_assert_eq(call_raw(SYN_M_PART_WRITE, &q.base, 5000, &out, &len), 0);
  Synod__Part__WriteResponse *wr = synod__part__write_response__unpack(NULL, len, out);
  free(out);
  cr_assert_eq(wr->status->code, 0, "%s", wr->status->message);
  synod__part__write_response__free_unpacked(wr, NULL);
  cr_assert_eq(txn_do(SYN_M_PART_COMMIT_ONE_PHASE, tx, 0, NULL), 0);
  Synod__Part__ScanResponse *r = scan(&(scan_q){.tid = 1, .snap = part_now(), .filter = "v = ''"});
  cr_assert_eq(r->status->code, 0, "%s", r->status->message);
  cr_assert_eq(r->n_rows, 1, "the empty string was stored as ''");
  cr_assert_eq(r->rows[0]->vals[1]->v_case, SYNOD__PART__VALUE__V_TEXT, "and comes back as text");
  cr_assert_eq(r->rows[0]->vals[1]->text.len, 0);
  cr_assert_eq(r->rows[0]->vals[2]->v_case, SYNOD__PART__VALUE__V__NOT_SET);
  synod__part__scan_response__free_unpacked(r, NULL);
}

/* Random well-formed but nonsensical requests: every one gets an answer
** (any status) and the service keeps serving correct ones. */
static Synod__Part__Value rand_value(unsigned *seed) {
  Synod__Part__Value v = SYNOD__PART__VALUE__INIT;
  static const char *texts[] = {"", "a", "héllo", "x'00'", "'; DROP TABLE v1; --"};
  switch (rand_r(seed) % 5) {
  case 0: break; /* NULL */
  case 1: v.v_case = SYNOD__PART__VALUE__V_I, v.i = (int64_t)(rand_r(seed) % 7) - 3; break;
  case 2: v.v_case = SYNOD__PART__VALUE__V_R, v.r = (double)rand_r(seed) / 7.0; break;
  case 3:
    v.v_case = SYNOD__PART__VALUE__V_TEXT;
    v.text.data = (uint8_t *)texts[rand_r(seed) % 5];
    v.text.len = strlen((const char *)v.text.data);
    break;
  default:
    v.v_case = SYNOD__PART__VALUE__V_BLOB;
    v.blob.data = (uint8_t *)"\x00\x01";
    v.blob.len = 2;
    break;
  }
  return v;
}

Test(psvc, random_requests_never_break_the_service) {
  cr_assert_eq(create_table(1), 0);
  unsigned seed = 12345;
  static const char *filters[] = {"", "k > ?1", "v LIKE ?1 OR n = ?2", "(", "k = (SELECT 1)",
                                  "nosuchcol = 1", "?3"};
  for (int i = 0; i < 300; i++) {
    Synod__Part__Value vals[8], *pv[8];
    size_t nv = (size_t)(rand_r(&seed) % 6);
    for (size_t j = 0; j < nv; j++) {
      vals[j] = rand_value(&seed);
      pv[j] = &vals[j];
    }
    uint8_t *out = NULL;
    size_t len = 0;
    int rc;
    if (rand_r(&seed) % 2) {
      Synod__Part__WriteOp op = SYNOD__PART__WRITE_OP__INIT, *pop = &op;
      op.mode = (int32_t)(rand_r(&seed) % 6);
      op.n_key = (size_t)(rand_r(&seed) % 3);
      op.key = pv;
      op.n_row = nv;
      op.row = pv;
      Synod__Part__WriteRequest q = SYNOD__PART__WRITE_REQUEST__INIT;
      q.txn = rand_r(&seed) % 4 ? txid(1, 100 + (uint64_t)(rand_r(&seed) % 5)) : 0;
      q.table_id = 1 + (uint32_t)(rand_r(&seed) % 2);
      q.snapshot_ts = rand_r(&seed) % 3 ? part_now() : (uint64_t)rand_r(&seed);
      q.n_ops = rand_r(&seed) % 4 ? 1 : 0;
      q.ops = &pop;
      rc = call_raw(SYN_M_PART_WRITE, &q.base, 5000, &out, &len);
      cr_assert_eq(rc, 0, "write %d: %s", i, syn_strerror(rc));
      Synod__Part__WriteResponse *r = synod__part__write_response__unpack(NULL, len, out);
      cr_assert_not_null(r);
      synod__part__write_response__free_unpacked(r, NULL);
    } else {
      Synod__Part__ScanRequest q = SYNOD__PART__SCAN_REQUEST__INIT;
      q.table_id = 1 + (uint32_t)(rand_r(&seed) % 2);
      q.snapshot_ts = part_now();
      q.txn = rand_r(&seed) % 2 ? txid(1, 100 + (uint64_t)(rand_r(&seed) % 5)) : 0;
      q.filter = (char *)filters[rand_r(&seed) % 7];
      q.n_params = nv;
      q.params = pv;
      if (rand_r(&seed) % 3 == 0) {
        q.n_key = (size_t)(rand_r(&seed) % 3);
        q.key = pv;
        if (q.n_key > nv) q.n_key = nv;
      }
      q.has_after_key = rand_r(&seed) % 2;
      q.after_key.data = (uint8_t *)"\x05\x01";
      q.after_key.len = (size_t)(rand_r(&seed) % 3);
      q.limit = (uint32_t)(rand_r(&seed) % 3);
      rc = call_raw(SYN_M_PART_SCAN, &q.base, 5000, &out, &len);
      cr_assert_eq(rc, 0, "scan %d: %s", i, syn_strerror(rc));
      Synod__Part__ScanResponse *r = synod__part__scan_response__unpack(NULL, len, out);
      cr_assert_not_null(r);
      synod__part__scan_response__free_unpacked(r, NULL);
    }
    free(out);
  }
  for (uint64_t t = 100; t < 105; t++) txn_do(SYN_M_PART_ABORT, txid(1, t), 0, NULL);
  cr_assert_eq(write1(txid(1, 1), 1, part_now(), 1, 1000, 0).code, 0, "still serving");
}

/* ---- garbage collection ------------------------------------------------------------------ */

static int gc_do(const char *coord, uint64_t horizon, uint64_t *gc_ts) {
  Synod__Part__GcRequest q = SYNOD__PART__GC_REQUEST__INIT;
  q.coordinator = (char *)coord;
  q.horizon = horizon;
  uint8_t *out = NULL;
  size_t len = 0;
  int rc = call_raw(SYN_M_PART_GC, &q.base, 5000, &out, &len);
  cr_assert_eq(rc, 0, "gc call: %s", syn_strerror(rc));
  Synod__Part__GcResponse *r = synod__part__gc_response__unpack(NULL, len, out);
  free(out);
  cr_assert_not_null(r);
  cr_assert_not_null(r->status);
  int code = r->status->code;
  if (gc_ts) *gc_ts = r->gc_ts;
  synod__part__gc_response__free_unpacked(r, NULL);
  return code;
}

/* The n column of key k at snap (-1: no row), asserting the scan status. */
static int64_t n_at(int64_t k, uint64_t snap, int want_code) {
  Synod__Part__ScanResponse *r = scan(&(scan_q){.tid = 1, .snap = snap, .point = k});
  cr_assert_eq(r->status->code, want_code, "read at %llu: %s", (unsigned long long)snap,
               r->status->message);
  int64_t n = r->n_rows ? r->rows[0]->vals[2]->i : -1;
  synod__part__scan_response__free_unpacked(r, NULL);
  return n;
}

/* Committed versions in table 1, read from the file once the service
** has closed the store. */
static int count_versions(void) {
  char path[128];
  snprintf(path, sizeof path, "%s/store.db", g_dir);
  sqlite3 *db = NULL;
  cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *st = NULL;
  cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM v1", -1, &st, NULL), SQLITE_OK,
               "%s", sqlite3_errmsg(db));
  cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
  int n = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

static uint64_t commit1(uint64_t txn, int mode, int64_t k, int mult) {
  wres w = write_range(txn, 1, part_now(), mode, k, 1, mult, 0, 5000, NULL);
  cr_assert_eq(w.code, 0, "%s", w.msg);
  uint64_t cts = 0;
  cr_assert_eq(txn_do(SYN_M_PART_COMMIT_ONE_PHASE, txn, 0, &cts), 0);
  return cts;
}

Test(psvc, gc_waits_for_every_coordinator_and_takes_the_min) {
  restart((fixture_opts){.ncoords = 2});
  cr_assert_eq(create_table(1), 0);
  uint64_t c1 = commit1(txid(1, 1), 1, 1, 1); /* k1 n=1 */
  commit1(txid(1, 2), 1, 2, 1);                /* k2 n=2 */
  uint64_t c2 = commit1(txid(1, 3), 2, 1, 2);  /* k1 n=2 */
  commit1(txid(1, 4), 3, 2, 1);                /* k2 deleted */
  uint64_t c3 = commit1(txid(1, 5), 2, 1, 3);  /* k1 n=3 */
  uint64_t gts = 99;
  /* Only c1 has reported: nothing is collected, old snapshots still read. */
  cr_assert_eq(gc_do("c1", c3 + 1, &gts), 0);
  cr_assert_eq(gts, 0, "c2 has not reported");
  cr_assert_eq(n_at(1, c1, 0), 1);
  cr_assert_eq(gc_do("c9", c3 + 1, &gts), SYN_ENOTFOUND, "unknown coordinator");
  cr_assert_eq(gc_do("", c3 + 1, &gts), SYN_ENOTFOUND);
  cr_assert_eq(gts, 0);
  /* Both reported: GC at the min, c2's horizon. */
  cr_assert_eq(gc_do("c2", c2, &gts), 0);
  cr_assert_eq(gts, c2, "the minimum over the coordinators");
  cr_assert_eq(n_at(1, c1, SYN_ERANGE), -1, "below the horizon: refused");
  cr_assert_eq(n_at(1, c2, 0), 2, "a snapshot at the horizon reads the same");
  cr_assert_eq(n_at(1, c3, 0), 3);
  cr_assert_eq(n_at(2, c2, 0), 2, "k2's version at c1 is still the newest at c2");
  /* Horizons only grow: lower reports change nothing and are no error. */
  cr_assert_eq(gc_do("c2", c1, &gts), 0);
  cr_assert_eq(gts, c2);
  cr_assert_eq(gc_do("c1", c1, &gts), 0);
  cr_assert_eq(gts, c2);
  /* c1's lower report did not lower its max (c3 + 1): the min is now c3 + 1. */
  cr_assert_eq(gc_do("c2", c3 + 1, &gts), 0);
  cr_assert_eq(gts, c3 + 1);
  cr_assert_eq(n_at(1, c3 + 1, 0), 3);
  cr_assert_eq(n_at(2, c3 + 1, 0), -1);
  /* A horizon beyond the clock offset is refused and changes nothing. */
  uint64_t far = now_ts() + ((uint64_t)3600 * 1000 << 16);
  cr_assert_eq(gc_do("c1", far, &gts), SYN_ERANGE);
  cr_assert_eq(gc_do("c2", far, &gts), SYN_ERANGE);
  cr_assert_eq(gts, c3 + 1);
  cr_assert_lt(part_now(), far, "the clock did not move");
  /* Old versions are gone from the file: k1 keeps only its newest, k2's
  ** tombstone and the version under it went. */
  stop();
  cr_assert_eq(count_versions(), 1);
  /* After a restart the horizons are forgotten: GC waits for both again,
  ** while the store's horizon itself is durable. */
  fixture_opts o = {.ncoords = 2, .keep_dir = 1};
  start(&o);
  cr_assert_eq(n_at(1, c3, SYN_ERANGE), -1, "the store's horizon survived");
  uint64_t h = part_now();
  cr_assert_eq(gc_do("c2", h, &gts), 0);
  cr_assert_eq(gts, c3 + 1, "c1 has not reported since the restart");
  cr_assert_eq(gc_do("c1", c2, &gts), 0, "a min below the store's horizon is no error");
  cr_assert_eq(gts, c3 + 1, "and never lowers it");
  cr_assert_eq(gc_do("c1", h, &gts), 0);
  cr_assert_eq(gts, h);
  cr_assert_eq(n_at(1, h, 0), 3);
}

Test(psvc, gc_needs_a_coordinator_list) {
  uint64_t gts = 1;
  cr_assert_eq(gc_do("c1", part_now(), &gts), SYN_ENOTFOUND,
               "no --coordinators: every name is unknown");
  cr_assert_eq(gts, 0);
}

Test(psvc, gc_warns_once_about_a_silent_coordinator) {
  restart((fixture_opts){.ncoords = 2, .gc_warn_after_ms = 200});
  usleep(300 * 1000);
  for (int i = 0; i < 3; i++) cr_assert_eq(gc_do("c1", part_now(), NULL), 0);
  cr_assert_eq(log_count("coordinator c2 has not reported a horizon"), 1, "once");
  cr_assert_eq(log_count("coordinator c1 has not reported"), 0);
  uint64_t gts = 0;
  cr_assert_eq(gc_do("c2", part_now(), &gts), 0);
  cr_assert_gt(gts, 0, "both reported: GC ran");
  cr_assert_eq(log_count("coordinator c2 reports a GC horizon again"), 1);
  /* Now c1 falls silent while c2 goes on. */
  usleep(300 * 1000);
  for (int i = 0; i < 3; i++) cr_assert_eq(gc_do("c2", part_now(), NULL), 0);
  cr_assert_eq(log_count("coordinator c1 has not reported a horizon for"), 1);
  cr_assert_eq(log_count("coordinator c2 has not reported"), 1, "c2 not warned again");
}

/* ---- stale active transactions of a restarted coordinator ----------------------------------- */

static int abort_active_do(uint32_t idx, uint64_t below, uint32_t *aborted) {
  Synod__Part__AbortActiveRequest q = SYNOD__PART__ABORT_ACTIVE_REQUEST__INIT;
  q.coordinator_index = idx;
  q.below_txn = below;
  uint8_t *out = NULL;
  size_t len = 0;
  int rc = call_raw(SYN_M_PART_ABORT_ACTIVE, &q.base, 5000, &out, &len);
  cr_assert_eq(rc, 0, "abort-active call: %s", syn_strerror(rc));
  Synod__Part__AbortActiveResponse *r =
      synod__part__abort_active_response__unpack(NULL, len, out);
  free(out);
  cr_assert_not_null(r);
  cr_assert_not_null(r->status);
  int code = r->status->code;
  if (aborted) *aborted = r->aborted;
  synod__part__abort_active_response__free_unpacked(r, NULL);
  return code;
}

Test(psvc, abort_active_aborts_only_the_old_lifes_active_txns) {
  cr_assert_eq(create_table(1), 0);
  uint64_t snap = part_now();
  uint64_t a = txid(2, 5), b = txid(2, 6), c = txid(2, 20), d = txid(3, 5), e = txid(2, 7);
  cr_assert_eq(write1(a, 1, snap, 1, 1, 0).code, 0);
  cr_assert_eq(write1(b, 1, snap, 1, 2, 0).code, 0);
  cr_assert_eq(txn_do(SYN_M_PART_PREPARE, b, 0, NULL), 0);
  cr_assert_eq(write1(c, 1, snap, 1, 3, 0).code, 0);
  cr_assert_eq(write1(d, 1, snap, 1, 4, 0).code, 0);
  cr_assert_eq(write1(e, 1, snap, 1, 5, 0).code, 0);
  /* w (another coordinator) waits for e's lock on k5; x, an old-life txn
  ** with no record yet, waits for d's lock on k4. */
  bg_write w = {.txn = txid(3, 9), .snap = snap, .mode = 1, .key = 5, .wait_ms = 8000,
                .timeout_ms = 15000};
  bg_write x = {.txn = txid(2, 8), .snap = snap, .mode = 1, .key = 4, .wait_ms = 8000,
                .timeout_ms = 15000};
  bg_write_start(&w);
  bg_write_start(&x);
  usleep(400 * 1000);
  uint32_t n = 99;
  cr_assert_eq(abort_active_do(2, txid(2, 10), &n), 0);
  cr_assert_eq(n, 2, "a and e: active, coordinator 2, below the bound");
  pthread_join(w.th, NULL);
  cr_assert_eq(w.call_rc, 0);
  cr_assert_eq(w.res.code, 0, "woken by e's abort, w takes the row: %s", w.res.msg);
  cr_assert_eq(w.res.done, 1);
  cr_assert_lt(w.elapsed_ms, 4000);
  pthread_join(x.th, NULL);
  cr_assert_eq(x.call_rc, 0);
  cr_assert_eq(x.res.code, SYN_ECLOSED, "the old-life waiter is refused: %s", x.res.msg);
  cr_assert(strstr(x.res.msg, "previous life"), "%s", x.res.msg);
  cr_assert_lt(x.elapsed_ms, 4000, "at once, not at the end of its wait");
  cr_assert_eq(txn_state(a, NULL), 3);
  cr_assert_eq(txn_state(e, NULL), 3);
  cr_assert_eq(txn_state(b, NULL), 1, "prepared: left to in-doubt resolution");
  cr_assert_eq(txn_state(c, NULL), 0, "at or above the bound: the new life's");
  cr_assert_eq(txn_state(d, NULL), 0, "another coordinator's");
  cr_assert_eq(txn_state(txid(3, 9), NULL), 0);
  /* The old life cannot write again; the new life and others can. */
  cr_assert_eq(write1(a, 1, snap, 1, 6, 0).code, SYN_ECLOSED);
  cr_assert_eq(write1(txid(2, 9), 1, part_now(), 1, 7, 0).code, SYN_ECLOSED,
               "a never-seen old-life txn");
  cr_assert_eq(write1(txid(2, 30), 1, part_now(), 1, 1, 0).code, 0, "a's lock is gone");
  cr_assert_eq(write1(txid(4, 1), 1, part_now(), 1, 3, 0).code, SYN_EBUSY, "c's lock stays");
  /* Idempotent; a bad index is an error status. */
  cr_assert_eq(abort_active_do(2, txid(2, 10), &n), 0);
  cr_assert_eq(n, 0);
  cr_assert_eq(abort_active_do(256, 1, &n), SYN_EINVAL);
  cr_assert_eq(n, 0);
  /* b can still be decided by its coordinator. */
  cr_assert_eq(txn_do(SYN_M_PART_COMMIT, b, part_now(), NULL), 0);
  cr_assert_eq(n_at(2, part_now(), 0), 2);
}

/* A coordinator heard from (a GC report or a request of one of its txns)
** that falls silent loses its ACTIVE txns (their locks go); its PREPARED
** ones and a reporting coordinator's stay; it may start new ones later. */
Test(psvc, silent_coordinator_loses_its_active_txns) {
  restart((fixture_opts){.ncoords = 3, .coord_silence_ms = 300, .resolve_poll_ms = 50,
                         .resolve_after_ms = 3600000});
  cr_assert_eq(create_table(1), 0);
  uint64_t snap = part_now();
  uint64_t a = txid(2, 5), b = txid(2, 6), d = txid(1, 5), q = txid(3, 5);
  cr_assert_eq(write1(a, 1, snap, 1, 1, 0).code, 0);
  cr_assert_eq(write1(b, 1, snap, 1, 2, 0).code, 0);
  cr_assert_eq(txn_do(SYN_M_PART_PREPARE, b, 0, NULL), 0);
  cr_assert_eq(write1(d, 1, snap, 1, 3, 0).code, 0);
  cr_assert_eq(write1(q, 1, snap, 1, 4, 0).code, 0);
  /* c1 and c2 report; c3 never does. Then c1 keeps reporting, c2 stops. */
  cr_assert_eq(gc_do("c1", 0, NULL), 0);
  cr_assert_eq(gc_do("c2", 0, NULL), 0);
  for (int i = 0; i < 8; i++) {
    usleep(100 * 1000);
    cr_assert_eq(gc_do("c1", 0, NULL), 0);
  }
  cr_assert_eq(txn_state(a, NULL), 3, "c2's active txn aborted");
  cr_assert_eq(txn_state(b, NULL), 1, "c2's prepared txn untouched");
  cr_assert_eq(txn_state(d, NULL), 0, "c1 reports: its txn stays");
  cr_assert_eq(txn_state(q, NULL), 3, "c3 never reported, but its write was heard: aborted");
  cr_assert_eq(log_count("coordinator c2 silent for"), 1, "logged once per silence");
  /* a's lock is gone; a itself cannot write or prepare any more. */
  cr_assert_eq(write1(txid(1, 6), 1, part_now(), 1, 1, 0).code, 0);
  cr_assert_eq(write1(a, 1, snap, 1, 9, 0).code, SYN_ECLOSED);
  cr_assert_neq(txn_do(SYN_M_PART_PREPARE, a, 0, NULL), 0, "a PREPARE of it votes no");
  /* c2 comes back: new transactions of it are served. */
  cr_assert_eq(gc_do("c2", 0, NULL), 0);
  cr_assert_eq(write1(txid(2, 7), 1, part_now(), 1, 8, 0).code, 0);
  cr_assert_eq(txn_do(SYN_M_PART_COMMIT, b, part_now(), NULL), 0);
}

/* Odd but well-formed GC and abort-active requests get statuses, never a
** crash, and change nothing they should not. */
Test(psvc, odd_gc_and_abort_active_requests) {
  restart((fixture_opts){.ncoords = 1});
  cr_assert_eq(create_table(1), 0);
  uint64_t t = txid(1, 1);
  cr_assert_eq(write1(t, 1, part_now(), 1, 1, 0).code, 0);
  static const char *names[] = {"", "c", "c1 ", "C1", "c10", "'; DROP TABLE v1; --"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    cr_assert_eq(gc_do(names[i], part_now(), NULL), SYN_ENOTFOUND, "%s", names[i]);
  uint64_t gts = 7;
  cr_assert_eq(gc_do("c1", UINT64_MAX, &gts), SYN_ERANGE);
  cr_assert_eq(gts, 0);
  cr_assert_eq(gc_do("c1", 0, &gts), 0, "horizon 0 is a valid (useless) report");
  cr_assert_eq(gts, 0, "nothing to collect at 0");
  uint32_t n = 9;
  static const uint32_t idx[] = {0, 5, 255, 256, 1000, UINT32_MAX};
  for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++) {
    int code = abort_active_do(idx[i], UINT64_MAX, &n);
    cr_assert_eq(code, idx[i] > 255 ? SYN_EINVAL : 0, "index %u", idx[i]);
    cr_assert_eq(n, 0);
  }
  cr_assert_eq(abort_active_do(1, 0, &n), 0, "below_txn 0: nothing is below it");
  cr_assert_eq(n, 0);
  cr_assert_eq(abort_active_do(1, t, &n), 0, "the bound is exclusive");
  cr_assert_eq(n, 0);
  cr_assert_eq(txn_state(t, NULL), 0);
  cr_assert_eq(write1(t, 1, part_now(), 1, 2, 0).code, 0, "t still writes");
  cr_assert_eq(abort_active_do(1, t + 1, &n), 0);
  cr_assert_eq(n, 1);
  cr_assert_eq(txn_state(t, NULL), 3);
}
