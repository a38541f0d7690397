/*
** engine_test_server: TEST ONLY. The pgwire server with the SQL engine
** (sql/engine) over the local test cluster (tests/engine_local_cluster.c),
** so psql scripts can exercise the engine without coordinators or
** participants.
**
** Usage: engine_test_server --dir DATADIR [--host H] [--port P]
**                           [--database NAME] [--workers N]
** Prints "PORT <n>" on stdout once listening; exits 0 on SIGTERM/SIGINT
** after stopping the server (every handle closed, workers joined).
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/log.h"
#include "sql/engine/eng.h"
#include "tests/engine_local_cluster.h"

typedef struct ts_main {
  eng_server *srv;
  uv_signal_t sigterm, sigint;
  int stopping;
} ts_main;

static void on_stopped(void *ud) {
  ts_main *m = ud;
  uv_close((uv_handle_t *)&m->sigterm, NULL);
  uv_close((uv_handle_t *)&m->sigint, NULL);
}

static void on_signal(uv_signal_t *h, int sig) {
  ts_main *m = h->data;
  if (m->stopping++) return;
  eng_server_stop(m->srv, on_stopped, m);
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1", *dir = NULL;
  int port = 0;
  eng_opts o = {0};
  for (int i = 1; i < argc; i += 2) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) {
      fprintf(stderr, "missing value for %s\n", a);
      return 2;
    }
    if (strcmp(a, "--host") == 0) host = v;
    else if (strcmp(a, "--port") == 0) port = atoi(v);
    else if (strcmp(a, "--dir") == 0) dir = v;
    else if (strcmp(a, "--database") == 0) o.database = v;
    else if (strcmp(a, "--workers") == 0) o.workers = atoi(v);
    else {
      fprintf(stderr, "unknown option %s\n", a);
      return 2;
    }
  }
  if (!dir) {
    fprintf(stderr, "usage: engine_test_server --dir DATADIR [--host H] [--port P]\n");
    return 2;
  }
  syn_log_init("engine-test", SYN_LOG_INFO, 2);
  signal(SIGPIPE, SIG_IGN);
  syn_err err;
  cl_cluster *cl;
  if (lc_open(dir, &cl, &err) != 0) {
    fprintf(stderr, "engine_test_server: %s\n", err.msg);
    return 1;
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  ts_main m = {0};
  if (eng_server_start(&loop, host, port, cl, &o, &m.srv, &err) != 0) {
    fprintf(stderr, "engine_test_server: %s\n", err.msg);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    lc_close(cl);
    return 1;
  }
  uv_signal_init(&loop, &m.sigterm);
  uv_signal_init(&loop, &m.sigint);
  m.sigterm.data = m.sigint.data = &m;
  uv_signal_start(&m.sigterm, on_signal, SIGTERM);
  uv_signal_start(&m.sigint, on_signal, SIGINT);
  printf("PORT %d\n", eng_server_port(m.srv));
  fflush(stdout);
  uv_run(&loop, UV_RUN_DEFAULT);
  int rc = 0;
  if (uv_loop_close(&loop) != 0) {
    fprintf(stderr, "engine_test_server: handles left open at exit\n");
    rc = 1;
  }
  lc_close(cl);
  return rc;
}
