#include "tests/cluster/harness.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/rpc_methods.h"
#include "participant.pb-c.h"

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
  socklen_t l = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &l);
  close(fd);
  return ntohs(a.sin_port);
}

static const char *participant_bin(void) {
  const char *p = getenv("SYN_PARTICIPANT");
  if (p && *p) return p;
  /* Run by hand from the source or the build directory. */
  static const char *const guesses[] = {"participant/synod-participant",
                                        "build/participant/synod-participant"};
  for (size_t i = 0; i < sizeof guesses / sizeof guesses[0]; i++)
    if (access(guesses[i], X_OK) == 0) return guesses[i];
  cr_assert_fail("SYN_PARTICIPANT must name the synod-participant binary");
  return NULL;
}

static int wait_port(const char *log, int timeout_ms) {
  for (int waited = 0; waited < timeout_ms; waited += 20) {
    FILE *f = fopen(log, "r");
    if (f) {
      char line[1024];
      while (fgets(line, sizeof line, f)) {
        char *p = strstr(line, "started participant");
        if (!p) continue;
        p = strstr(p, "rpc=127.0.0.1:");
        if (p) {
          fclose(f);
          return atoi(p + strlen("rpc=127.0.0.1:"));
        }
      }
      fclose(f);
    }
    usleep(20 * 1000);
  }
  return -1;
}

static void start_part(harness *h, int i) {
  char name[16], dir[300], log[320], coords[64];
  snprintf(name, sizeof name, "p%d", i + 1);
  snprintf(dir, sizeof dir, "%s/%s", h->dir, name);
  snprintf(log, sizeof log, "%s/%s.log", h->dir, name);
  snprintf(coords, sizeof coords, "c1=127.0.0.1:%d", h->srv_port);
  char port[16];
  snprintf(port, sizeof port, "%d", h->ports[i] > 0 ? h->ports[i] : 0);
  unlink(log);
  const char *bin = participant_bin(); /* checked before fork: asserts belong to the parent */
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    /* Die with the test process, even when an assertion ends it early, and
    ** keep no pipe of the test runner open. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, 0);
      dup2(devnull, 1);
      dup2(devnull, 2);
    }
    execl(bin, bin, "--name", name, "--dir", dir, "--rpc-port", port,
          "--coordinators", coords, "--resolve-after-ms", "300", "--log-file", log,
          (char *)NULL);
    _exit(127);
  }
  h->pids[i] = pid;
  int p = wait_port(log, 10000);
  cr_assert(p > 0, "participant %s did not start (see %s)", name, log);
  h->ports[i] = p;
}

static void loop_main(void *arg) {
  harness *h = arg;
  uv_run(&h->loop, UV_RUN_DEFAULT);
}

static void on_stop(uv_async_t *a) {
  harness *h = a->data;
  coord_cluster_close(h->cc);
  rpc_server_close(h->srv, NULL, NULL);
  node_clock_close(&h->clock);
  uv_close((uv_handle_t *)&h->stop, NULL);
}

void h_open_cluster(harness *h) {
  cr_assert(uv_loop_init(&h->loop) == 0);
  syn_err e;
  char cdir[300];
  snprintf(cdir, sizeof cdir, "%s/c1", h->dir);
  mkdir(cdir, 0755);
  cr_assert(node_clock_open(&h->clock, &h->loop, cdir, &e) == 0, "%s", e.msg);
  rpc_opts ro = {.node_name = "c1"};
  int rc = -1;
  for (int tries = 0; tries < 50 && rc < 0; tries++) {
    rc = rpc_server_new(&h->loop, "127.0.0.1", h->srv_port, &ro, &h->srv, &e);
    if (rc < 0) usleep(100 * 1000);
  }
  cr_assert(rc == 0, "%s", e.msg);
  node_peer_list pl = {0};
  char spec[512] = "";
  for (int i = 0; i < h->nparts; i++) {
    char one[64];
    snprintf(one, sizeof one, "%sp%d=127.0.0.1:%d", i ? "," : "", i + 1, h->ports[i]);
    strcat(spec, one);
  }
  cr_assert(node_parse_peers(spec, &pl, &e) == 0, "%s", e.msg);
  coord_cluster_config cfg = {.name = "c1", .dir = cdir, .participants = &pl,
                              .clock = &h->clock, .rpc = h->srv,
                              .rpc_timeout_ms = h->rpc_timeout_ms ? h->rpc_timeout_ms : 2000,
                              .lock_timeout_ms = 8000, .read_wait_ms = 5000};
  rc = coord_cluster_open(&h->loop, &cfg, &h->cc, &e);
  node_peers_free(&pl);
  cr_assert(rc == 0, "coord_cluster_open: %s", e.msg);
  h->cl = coord_cluster_borrow(h->cc);
  uv_async_init(&h->loop, &h->stop, on_stop);
  h->stop.data = h;
  cr_assert(uv_thread_create(&h->thread, loop_main, h) == 0);
  h->running = true;
  rc = coord_cluster_wait_ready(h->cc, 20000, &e);
  cr_assert(rc == 0, "DDL recovery: %s", e.msg);
}

void h_close_cluster(harness *h) {
  if (!h->running) return;
  uv_async_send(&h->stop);
  uv_thread_join(&h->thread);
  h->running = false;
  coord_cluster_free(h->cc);
  h->cc = NULL;
  h->cl = NULL;
  cr_assert(uv_loop_close(&h->loop) == 0, "a handle was left open on the loop");
}

void h_start(harness *h, int nparts) {
  memset(h, 0, sizeof *h);
  signal(SIGPIPE, SIG_IGN);
  syn_log_init("test", SYN_LOG_WARN, 2);
  snprintf(h->dir, sizeof h->dir, "/tmp/synod-cl-XXXXXX");
  cr_assert(mkdtemp(h->dir));
  h->nparts = nparts;
  h->srv_port = free_port();
  for (int i = 0; i < nparts; i++) start_part(h, i);
  h_open_cluster(h);
}

void h_kill(harness *h, int i) {
  if (h->pids[i] <= 0) return;
  kill(h->pids[i], SIGKILL);
  waitpid(h->pids[i], NULL, 0);
  h->pids[i] = 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void h_stop(harness *h) {
  h_close_cluster(h);
  for (int i = 0; i < h->nparts; i++) {
    if (h->pids[i] <= 0) continue;
    kill(h->pids[i], SIGTERM);
    int st;
    for (int k = 0; k < 100; k++) {
      if (waitpid(h->pids[i], &st, WNOHANG) == h->pids[i]) {
        h->pids[i] = 0;
        break;
      }
      usleep(20 * 1000);
    }
    if (h->pids[i] > 0) h_kill(h, i);
  }
  /* Reached only when the test got this far: a failing test keeps its
  ** directory (and the participants' logs) for a look. */
  nftw(h->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

cat_table *h_table_kv(const char *name) {
  cat_table *t = cat_table_new(name);
  syn_err e;
  cr_assert(cat_table_add_column(t, "k", CAT_OID_INT8, -1, true, CAT_DEF_NONE, NULL, &e) == 0);
  cr_assert(cat_table_add_column(t, "v", CAT_OID_INT8, -1, false, CAT_DEF_NONE, NULL, &e) == 1);
  cr_assert(cat_table_add_column(t, "s", CAT_OID_TEXT, -1, false, CAT_DEF_NONE, NULL, &e) == 2);
  t->pk = malloc(sizeof(int));
  t->pk[0] = 0;
  t->npk = 1;
  t->dist_col = 0;
  t->hidden_rowid = false;
  return t;
}

int h_txn_state(harness *h, int i, uint64_t txn) {
  Synod__Part__TxnRequest rq = SYNOD__PART__TXN_REQUEST__INIT;
  rq.txn = txn;
  uint8_t buf[64];
  size_t len = synod__part__txn_request__pack(&rq, buf);
  uint8_t *resp = NULL;
  size_t rl = 0;
  syn_err e;
  int rc = rpc_call_blocking("127.0.0.1", h->ports[i], SYN_M_PART_TXN_STATE, buf, len, 3000,
                             &resp, &rl, &e);
  cr_assert(rc == 0, "txn state: %s", e.msg);
  Synod__Part__TxnResponse *tr = synod__part__txn_response__unpack(NULL, rl, resp);
  cr_assert(tr);
  int st = tr->state;
  synod__part__txn_response__free_unpacked(tr, NULL);
  free(resp);
  return st;
}

int h_count_rows(harness *h, int i, uint32_t table_id, uint64_t ts) {
  int total = 0;
  uint8_t after[256];
  size_t after_len = 0;
  bool has_after = false;
  for (;;) {
    Synod__Part__ScanRequest rq = SYNOD__PART__SCAN_REQUEST__INIT;
    rq.table_id = table_id;
    rq.snapshot_ts = ts;
    rq.wait_ms = 1000;
    if (has_after) {
      rq.has_after_key = 1;
      rq.after_key.data = after;
      rq.after_key.len = after_len;
    }
    size_t len = synod__part__scan_request__get_packed_size(&rq);
    uint8_t *buf = malloc(len + 1);
    synod__part__scan_request__pack(&rq, buf);
    uint8_t *resp = NULL;
    size_t rl = 0;
    syn_err e;
    int rc = rpc_call_blocking("127.0.0.1", h->ports[i], SYN_M_PART_SCAN, buf, len, 5000, &resp,
                               &rl, &e);
    free(buf);
    cr_assert(rc == 0, "scan: %s", e.msg);
    Synod__Part__ScanResponse *sr = synod__part__scan_response__unpack(NULL, rl, resp);
    cr_assert(sr);
    if (sr->status && sr->status->code != 0) {
      int code = sr->status->code;
      synod__part__scan_response__free_unpacked(sr, NULL);
      free(resp);
      return code;
    }
    total += (int)sr->n_rows;
    bool more = sr->more && sr->n_rows > 0;
    if (more) {
      cr_assert(sr->last_key.len <= sizeof after);
      memcpy(after, sr->last_key.data, sr->last_key.len);
      after_len = sr->last_key.len;
      has_after = true;
    }
    synod__part__scan_response__free_unpacked(sr, NULL);
    free(resp);
    if (!more) break;
  }
  return total;
}
