/*
** The running node: loop, RPC server with SYN_M_HEALTH, data-dir lock and
** graceful shutdown. See node.h for the life of a daemon.
*/
#include "common/node.h"
#include "common/node_clock.h"
#include "common/log.h"
#include "common/rpc_methods.h"
#include "rpc.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct stop_hook {
  void (*fn)(void *ud);
  void *ud;
} stop_hook;

struct node {
  uv_loop_t loop;
  int loop_ready;
  rpc_server *rpc;
  uv_signal_t sig_term, sig_int;
  int signals_open;
  int stopping;
  int lock_fd;
  uint64_t started_ns;
  char name[NODE_NAME_MAX];
  char role[16];
  char host[NODE_HOST_MAX];
  char dir[4096];
  char sql_addr[NODE_HOST_MAX + 8];
  stop_hook hooks[NODE_MAX_STOP_HOOKS];
  size_t n_hooks;
  node_clock clock;
  uint8_t secret[SYN_RPC_SECRET_MAX];
  size_t secret_len;
  bool (*leader_fn)(void *ud);
  void *leader_ud;
  void (*paxos_fn)(void *ud, node_paxos_health *out);
  void *paxos_ud;
};

int node_log_setup(const char *name, const char *level, const char *file, syn_err *err) {
  syn_log_level lv = SYN_LOG_INFO;
  if (level && syn_log_level_parse(level, &lv) < 0)
    return syn_err_set(err, SYN_EINVAL, "bad --log-level '%s' (debug, info, warn, error)", level);
  int fd = 2;
  if (file) {
    fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      return syn_err_set(err, SYN_EIO, "cannot open log file %s: %s", file, strerror(errno));
  }
  syn_log_init(name, lv, fd);
  return 0;
}

static int mkdir_p(const char *dir, syn_err *err) {
  char path[4096];
  size_t n = strlen(dir);
  if (n == 0) return syn_err_set(err, SYN_EINVAL, "empty data directory");
  if (n >= sizeof path) return syn_err_set(err, SYN_EINVAL, "data directory path too long");
  memcpy(path, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (path[i] != '/' && path[i] != '\0') continue;
    char saved = path[i];
    path[i] = '\0';
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
      return syn_err_set(err, SYN_EIO, "cannot create %s: %s", path, strerror(errno));
    path[i] = saved;
  }
  struct stat st;
  if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
    return syn_err_set(err, SYN_EIO, "%s is not a directory", dir);
  if (access(dir, W_OK | X_OK) < 0)
    return syn_err_set(err, SYN_EIO, "data directory %s is not writable: %s", dir,
                       strerror(errno));
  return 0;
}

int node_prepare_dir(const char *dir, int *lock_fd, syn_err *err) {
  int rc = mkdir_p(dir, err);
  if (rc < 0) return rc;
  char lock_path[4200];
  snprintf(lock_path, sizeof lock_path, "%s/LOCK", dir);
  int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return syn_err_set(err, SYN_EIO, "cannot open %s: %s", lock_path, strerror(errno));
  /* Two daemons writing one data dir would corrupt each other's files. */
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    int e = errno;
    close(fd);
    if (e == EWOULDBLOCK)
      return syn_err_set(err, SYN_EBUSY, "data directory %s is in use by another process", dir);
    return syn_err_set(err, SYN_EIO, "cannot lock %s: %s", lock_path, strerror(e));
  }
  *lock_fd = fd;
  return 0;
}

/* ---- health ------------------------------------------------------------- */

static void on_health(rpc_call *call, const uint8_t *payload, size_t len, void *ud) {
  node *n = ud;
  Synod__Rpc__HealthRequest *req = synod__rpc__health_request__unpack(NULL, len, payload);
  if (!req) {
    rpc_reply_error(call, SYN_EINVAL, "health request does not decode");
    return;
  }
  synod__rpc__health_request__free_unpacked(req, NULL);
  Synod__Rpc__HealthResponse resp = SYNOD__RPC__HEALTH_RESPONSE__INIT;
  resp.node = n->name;
  resp.role = n->role;
  resp.pid = (int32_t)getpid();
  hlc_ts now = 0;
  syn_err cerr;
  if (node_clock_now(&n->clock, &now, &cerr) < 0) {
    rpc_reply_error(call, cerr.code, cerr.msg);
    return;
  }
  resp.hlc_now = now;
  resp.leader = n->leader_fn ? n->leader_fn(n->leader_ud) : false;
  resp.sql_addr = n->sql_addr;
  resp.uptime_ms = (uv_hrtime() - n->started_ns) / 1000000u;
  Synod__Rpc__PaxosHealth px = SYNOD__RPC__PAXOS_HEALTH__INIT;
  if (n->paxos_fn) {
    node_paxos_health h = {0};
    n->paxos_fn(n->paxos_ud, &h);
    px.role = (char *)(h.role ? h.role : "");
    px.ballot_round = h.ballot >> 16;
    px.ballot_node = (uint32_t)(h.ballot & 0xffffu);
    px.promised_round = h.promised >> 16;
    px.promised_node = (uint32_t)(h.promised & 0xffffu);
    px.chosen = h.chosen;
    px.applied = h.applied;
    px.snap_slot = h.snap_slot;
    px.leader_id = h.leader_id;
    px.group_size = h.group_size;
    px.decided = h.decided;
    px.decide_p50_us = h.decide_p50_us;
    px.decide_p99_us = h.decide_p99_us;
    resp.paxos = &px;
  }
  uint8_t buf[512];
  size_t sz = synod__rpc__health_response__get_packed_size(&resp);
  if (sz > sizeof buf) {
    rpc_reply_error(call, SYN_EINTERNAL, "health response too large");
    return;
  }
  synod__rpc__health_response__pack(&resp, buf);
  rpc_reply(call, buf, sz);
}

/* ---- shutdown ----------------------------------------------------------- */

static void on_signal_closed(uv_handle_t *h) {
  node *n = h->data;
  n->signals_open--;
}

static void node_stop(node *n, const char *why) {
  if (n->stopping) return;
  n->stopping = 1;
  SYN_LOG_INFO(NULL, "stopping (%s)", why);
  for (size_t i = 0; i < n->n_hooks; i++) n->hooks[i].fn(n->hooks[i].ud);
  node_clock_close(&n->clock);
  if (n->rpc) {
    rpc_server_close(n->rpc, NULL, NULL);
    n->rpc = NULL;
  }
  /* Closing the signal handles restores the default action: a second
  ** SIGTERM/SIGINT during a stuck shutdown kills the process. */
  uv_close((uv_handle_t *)&n->sig_term, on_signal_closed);
  uv_close((uv_handle_t *)&n->sig_int, on_signal_closed);
}

static void on_signal(uv_signal_t *h, int signum) {
  node_stop(h->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- public ------------------------------------------------------------- */

int node_start(const node_config *cfg, node **out, syn_err *err) {
  int rc = node_check_name(cfg->name, err);
  if (rc < 0) return rc;
  /* A peer that hangs up must cost us EPIPE on that socket, not the process. */
  signal(SIGPIPE, SIG_IGN);
  node *n = calloc(1, sizeof *n);
  if (!n) return syn_err_set(err, SYN_ENOMEM, "node");
  n->lock_fd = -1;
  n->started_ns = uv_hrtime();
  snprintf(n->name, sizeof n->name, "%s", cfg->name);
  snprintf(n->role, sizeof n->role, "%s", cfg->role);
  snprintf(n->host, sizeof n->host, "%s", cfg->host);
  snprintf(n->dir, sizeof n->dir, "%s", cfg->dir);
  snprintf(n->sql_addr, sizeof n->sql_addr, "%s", cfg->sql_addr ? cfg->sql_addr : "");
  /* The data dir first: the log file often lives inside it. */
  rc = node_prepare_dir(cfg->dir, &n->lock_fd, err);
  if (rc < 0) goto err_after_alloc;
  rc = node_log_setup(cfg->name, cfg->log_level, cfg->log_file, err);
  if (rc < 0) goto err_after_lock;
  rc = uv_loop_init(&n->loop);
  if (rc < 0) {
    rc = syn_err_set(err, SYN_EIO, "uv_loop_init: %s", uv_strerror(rc));
    goto err_after_lock;
  }
  n->loop_ready = 1;
  rc = node_clock_open(&n->clock, &n->loop, cfg->dir, err);
  if (rc < 0) goto err_after_loop;
  if (cfg->secret_file) {
    rc = rpc_secret_load(cfg->secret_file, n->secret, &n->secret_len, err);
    if (rc < 0) goto err_after_loop;
  } else {
    SYN_LOG_WARN(NULL, "RPC is not authenticated: no --secret-file given (any process that "
                       "can reach the RPC port can call this node)");
  }
  rpc_opts ro = {.node_name = n->name, .secret = n->secret, .secret_len = n->secret_len};
  rc = rpc_server_new(&n->loop, cfg->host, cfg->rpc_port, &ro, &n->rpc, err);
  if (rc < 0) goto err_after_loop;
  rpc_server_register(n->rpc, SYN_M_HEALTH, on_health, n);
  uv_signal_init(&n->loop, &n->sig_term);
  uv_signal_init(&n->loop, &n->sig_int);
  n->sig_term.data = n->sig_int.data = n;
  n->signals_open = 2;
  uv_signal_start(&n->sig_term, on_signal, SIGTERM);
  uv_signal_start(&n->sig_int, on_signal, SIGINT);
  *out = n;
  return 0;

err_after_loop:
  node_clock_close(&n->clock);
  /* The log is open by now: keep the reason in the file too (stderr gets it
  ** from the caller). */
  if (cfg->log_file) SYN_LOG_ERROR(NULL, "cannot start: %s", err ? err->msg : syn_strerror(rc));
  /* rpc_server_new may leave a closing handle behind; let it finish. */
  uv_run(&n->loop, UV_RUN_DEFAULT);
  uv_loop_close(&n->loop);
err_after_lock:
  close(n->lock_fd);
err_after_alloc:
  free(n);
  return rc;
}

uv_loop_t *node_loop(node *n) { return &n->loop; }
rpc_server *node_rpc(node *n) { return n->rpc; }

void node_rpc_secret(const node *n, const uint8_t **key, size_t *len) {
  *key = n->secret;
  *len = n->secret_len;
}
node_clock *node_clock_borrow(node *n) { return &n->clock; }

void node_set_leader_fn(node *n, bool (*fn)(void *ud), void *ud) {
  n->leader_fn = fn;
  n->leader_ud = ud;
}

void node_set_paxos_fn(node *n, void (*fn)(void *ud, node_paxos_health *out), void *ud) {
  n->paxos_fn = fn;
  n->paxos_ud = ud;
}

int node_on_stop(node *n, void (*fn)(void *ud), void *ud, syn_err *err) {
  if (n->n_hooks == NODE_MAX_STOP_HOOKS)
    return syn_err_set(err, SYN_ERANGE, "more than %d stop hooks", NODE_MAX_STOP_HOOKS);
  n->hooks[n->n_hooks++] = (stop_hook){fn, ud};
  return 0;
}

static void close_leftover(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h)) {
    (*(int *)arg)++;
    uv_close(h, NULL);
  }
}

int node_run(node *n, const char *started_detail) {
  SYN_LOG_INFO(NULL, "started %s %s rpc=%s:%d dir=%s pid=%d%s%s", n->role, n->name, n->host,
               rpc_server_port(n->rpc), n->dir, (int)getpid(),
               started_detail && *started_detail ? " " : "",
               started_detail ? started_detail : "");
  uv_run(&n->loop, UV_RUN_DEFAULT);
  int status = 0;
  if (uv_loop_close(&n->loop) != 0) {
    /* A module left a handle open: report it, then close it so we exit. */
    int leftover = 0;
    uv_walk(&n->loop, close_leftover, &leftover);
    uv_run(&n->loop, UV_RUN_DEFAULT);
    SYN_LOG_ERROR(NULL, "%d handle(s) still open at shutdown", leftover);
    uv_loop_close(&n->loop);
    status = 1;
  }
  n->loop_ready = 0;
  SYN_LOG_INFO(NULL, "stopped");
  return status;
}

void node_shutdown(node *n, const char *why) {
  if (!n->loop_ready) return;
  node_stop(n, why);
  uv_run(&n->loop, UV_RUN_DEFAULT);
}

void node_free(node *n) {
  if (!n) return;
  if (n->loop_ready) {
    if (!n->stopping) node_stop(n, "node_free");
    uv_run(&n->loop, UV_RUN_DEFAULT);
    uv_loop_close(&n->loop);
  }
  if (n->lock_fd >= 0) close(n->lock_fd);
  free(n);
}
