/*
** part_client HOST PORT COMMAND ARGS...: one participant RPC with
** rpc_call_blocking, for integration scripts. Prints the outcome as
** key=value lines (and rows as "row=v1|v2|..."); exit 0 when the call got a
** response (whatever its status code), 1 when the call itself failed
** (connection refused or closed, timeout, ERROR envelope), 2 on usage.
** With $SYNOD_SECRET_FILE set it authenticates with that cluster secret.
**
** Commands (ids and timestamps are decimal u64; values are i:N, t:TEXT,
** r:X or null):
**   create TABLE NAME:AFF[,NAME:AFF...] KEYPOS   create a table
**   write TXN TABLE SNAP MODE KEY VAL...         one op (mode 1..4), key INT
**   scan TABLE SNAP [TXN]                        all rows (one batch)
**   prepare|commit-one-phase|abort|state TXN
**   commit TXN TS
**   now                                          the participant's clock
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/node.h"
#include "common/rpc.h"
#include "common/rpc_methods.h"
#include "participant.pb-c.h"
#include "tests/test_secret.h"

static const char *g_host;
static int g_port;

static int usage(void) {
  fprintf(stderr, "usage: part_client HOST PORT create|write|scan|prepare|commit|"
                  "commit-one-phase|abort|state|now ARGS...\n");
  return 2;
}

static uint64_t u64(const char *s) { return strtoull(s, NULL, 10); }

static int call(uint32_t method, const ProtobufCMessage *m, uint8_t **out, size_t *len) {
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf) return 1;
  protobuf_c_message_pack(m, buf);
  syn_err err;
  rpc_opts ro;
  if (test_secret_opts("part_client", &ro)) {
    free(buf);
    return 1;
  }
  int rc = rpc_call_blocking_opts(g_host, g_port, &ro, method, buf, n, 10000, out, len, &err);
  free(buf);
  if (rc < 0) {
    printf("call_error=%s\n", syn_strerror(rc));
    fprintf(stderr, "part_client: %s\n", err.msg);
    return 1;
  }
  return 0;
}

static void print_status(const Synod__Part__Status *st) {
  printf("code=%d\n", st ? st->code : 0);
  if (st && st->code) {
    printf("message=%s\n", st->message);
    if (st->blocker) printf("blocker=%llu\n", (unsigned long long)st->blocker);
    if (st->conflict_ts) printf("conflict_ts=%llu\n", (unsigned long long)st->conflict_ts);
    if (st->constraint[0]) printf("constraint=%s\n", st->constraint);
  }
}

static int parse_value(const char *s, Synod__Part__Value *v) {
  synod__part__value__init(v);
  if (strcmp(s, "null") == 0) return 0;
  if (strncmp(s, "i:", 2) == 0) {
    v->v_case = SYNOD__PART__VALUE__V_I;
    v->i = strtoll(s + 2, NULL, 10);
  } else if (strncmp(s, "r:", 2) == 0) {
    v->v_case = SYNOD__PART__VALUE__V_R;
    v->r = strtod(s + 2, NULL);
  } else if (strncmp(s, "t:", 2) == 0) {
    v->v_case = SYNOD__PART__VALUE__V_TEXT;
    v->text.data = (uint8_t *)(s + 2);
    v->text.len = strlen(s + 2);
  } else {
    return -1;
  }
  return 0;
}

static int cmd_create(int argc, char **argv) {
  if (argc != 3) return usage();
  Synod__Part__ColumnDef cols[16], *pcols[16];
  char spec[1024];
  snprintf(spec, sizeof spec, "%s", argv[1]);
  size_t n = 0;
  for (char *save = NULL, *tok = strtok_r(spec, ",", &save); tok && n < 16;
       tok = strtok_r(NULL, ",", &save)) {
    char *colon = strchr(tok, ':');
    if (!colon) return usage();
    *colon = '\0';
    synod__part__column_def__init(&cols[n]);
    cols[n].name = tok;
    cols[n].affinity = colon + 1;
    pcols[n] = &cols[n];
    n++;
  }
  int32_t key = atoi(argv[2]);
  Synod__Part__TableDef t = SYNOD__PART__TABLE_DEF__INIT;
  t.table_id = (uint32_t)u64(argv[0]);
  t.n_cols = n;
  t.cols = pcols;
  t.n_key_cols = 1;
  t.key_cols = &key;
  Synod__Part__DdlRequest q = SYNOD__PART__DDL_REQUEST__INIT;
  q.table_id = t.table_id;
  q.op_case = SYNOD__PART__DDL_REQUEST__OP_CREATE_TABLE;
  q.create_table = &t;
  uint8_t *out = NULL;
  size_t len = 0;
  if (call(SYN_M_PART_DDL, &q.base, &out, &len)) return 1;
  Synod__Part__DdlResponse *r = synod__part__ddl_response__unpack(NULL, len, out);
  free(out);
  if (!r) return 1;
  print_status(r->status);
  synod__part__ddl_response__free_unpacked(r, NULL);
  return 0;
}

static int cmd_write(int argc, char **argv) {
  if (argc < 5 || argc - 5 > 16) return usage();
  Synod__Part__Value key, vals[16], *pvals[16], *pkey = &key;
  synod__part__value__init(&key);
  key.v_case = SYNOD__PART__VALUE__V_I;
  key.i = strtoll(argv[4], NULL, 10);
  for (int i = 5; i < argc; i++) {
    if (parse_value(argv[i], &vals[i - 5]) < 0) return usage();
    pvals[i - 5] = &vals[i - 5];
  }
  Synod__Part__WriteOp op = SYNOD__PART__WRITE_OP__INIT, *pop = &op;
  op.mode = atoi(argv[3]);
  op.n_key = 1;
  op.key = &pkey;
  op.n_row = (size_t)(argc - 5);
  op.row = pvals;
  Synod__Part__WriteRequest q = SYNOD__PART__WRITE_REQUEST__INIT;
  q.txn = u64(argv[0]);
  q.table_id = (uint32_t)u64(argv[1]);
  q.snapshot_ts = u64(argv[2]);
  q.n_ops = 1;
  q.ops = &pop;
  uint8_t *out = NULL;
  size_t len = 0;
  if (call(SYN_M_PART_WRITE, &q.base, &out, &len)) return 1;
  Synod__Part__WriteResponse *r = synod__part__write_response__unpack(NULL, len, out);
  free(out);
  if (!r) return 1;
  print_status(r->status);
  printf("done=%u\n", r->done);
  synod__part__write_response__free_unpacked(r, NULL);
  return 0;
}

static int cmd_scan(int argc, char **argv) {
  if (argc < 2 || argc > 3) return usage();
  Synod__Part__ScanRequest q = SYNOD__PART__SCAN_REQUEST__INIT;
  q.table_id = (uint32_t)u64(argv[0]);
  q.snapshot_ts = u64(argv[1]);
  if (argc == 3) q.txn = u64(argv[2]);
  uint8_t *out = NULL;
  size_t len = 0;
  if (call(SYN_M_PART_SCAN, &q.base, &out, &len)) return 1;
  Synod__Part__ScanResponse *r = synod__part__scan_response__unpack(NULL, len, out);
  free(out);
  if (!r) return 1;
  print_status(r->status);
  printf("rows=%zu\nmore=%d\n", r->n_rows, (int)r->more);
  for (size_t i = 0; i < r->n_rows; i++) {
    printf("row=");
    for (size_t j = 0; j < r->rows[i]->n_vals; j++) {
      const Synod__Part__Value *v = r->rows[i]->vals[j];
      if (j) printf("|");
      switch (v->v_case) {
      case SYNOD__PART__VALUE__V_I: printf("%lld", (long long)v->i); break;
      case SYNOD__PART__VALUE__V_R: printf("%g", v->r); break;
      case SYNOD__PART__VALUE__V_TEXT: printf("%.*s", (int)v->text.len, v->text.data); break;
      case SYNOD__PART__VALUE__V_BLOB: printf("<blob %zu>", v->blob.len); break;
      default: printf("NULL"); break;
      }
    }
    printf("\n");
  }
  synod__part__scan_response__free_unpacked(r, NULL);
  return 0;
}

static int cmd_txn(uint32_t method, uint64_t txn, uint64_t ts) {
  Synod__Part__TxnRequest q = SYNOD__PART__TXN_REQUEST__INIT;
  q.txn = txn;
  q.ts = ts;
  uint8_t *out = NULL;
  size_t len = 0;
  if (call(method, &q.base, &out, &len)) return 1;
  Synod__Part__TxnResponse *r = synod__part__txn_response__unpack(NULL, len, out);
  free(out);
  if (!r) return 1;
  print_status(r->status);
  printf("ts=%llu\nstate=%d\nhlc=%llu\n", (unsigned long long)r->ts, (int)r->state,
         (unsigned long long)r->hlc);
  synod__part__txn_response__free_unpacked(r, NULL);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4) return usage();
  g_host = argv[1];
  syn_err err;
  if (node_parse_port(argv[2], 1, &g_port, &err) < 0) return usage();
  const char *cmd = argv[3];
  int n = argc - 4;
  char **a = argv + 4;
  if (strcmp(cmd, "create") == 0) return cmd_create(n, a);
  if (strcmp(cmd, "write") == 0) return cmd_write(n, a);
  if (strcmp(cmd, "scan") == 0) return cmd_scan(n, a);
  if (strcmp(cmd, "now") == 0 && n == 0) return cmd_txn(SYN_M_PART_TXN_STATE, 1, 0);
  if (strcmp(cmd, "commit") == 0 && n == 2) return cmd_txn(SYN_M_PART_COMMIT, u64(a[0]), u64(a[1]));
  if (n != 1) return usage();
  if (strcmp(cmd, "prepare") == 0) return cmd_txn(SYN_M_PART_PREPARE, u64(a[0]), 0);
  if (strcmp(cmd, "commit-one-phase") == 0)
    return cmd_txn(SYN_M_PART_COMMIT_ONE_PHASE, u64(a[0]), 0);
  if (strcmp(cmd, "abort") == 0) return cmd_txn(SYN_M_PART_ABORT, u64(a[0]), 0);
  if (strcmp(cmd, "state") == 0) return cmd_txn(SYN_M_PART_TXN_STATE, u64(a[0]), 0);
  return usage();
}
