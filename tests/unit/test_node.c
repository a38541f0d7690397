/* Daemon option values: ports, names, peer lists; data-dir lock. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/node.h"
#include "common/rpc_methods.h"
#include "rpc.pb-c.h"

Test(node, ports) {
  int p = -1;
  cr_assert_eq(node_parse_port("5633", 1, &p, NULL), 0);
  cr_assert_eq(p, 5633);
  cr_assert_eq(node_parse_port("0", 0, &p, NULL), 0);
  cr_assert_eq(p, 0);
  cr_assert_eq(node_parse_port("0", 1, &p, NULL), SYN_EINVAL);
  cr_assert_eq(node_parse_port("65536", 0, &p, NULL), SYN_EINVAL);
  cr_assert_eq(node_parse_port("-1", 0, &p, NULL), SYN_EINVAL);
  cr_assert_eq(node_parse_port("+5", 0, &p, NULL), SYN_EINVAL);
  cr_assert_eq(node_parse_port("12ab", 0, &p, NULL), SYN_EINVAL);
  cr_assert_eq(node_parse_port("", 0, &p, NULL), SYN_EINVAL);
  cr_assert_eq(node_parse_port("99999999999999999999", 0, &p, NULL), SYN_EINVAL);
}

Test(node, names) {
  cr_assert_eq(node_check_name("c1", NULL), 0);
  cr_assert_eq(node_check_name("p-2_x.y", NULL), 0);
  cr_assert_eq(node_check_name("", NULL), SYN_EINVAL);
  cr_assert_eq(node_check_name("a b", NULL), SYN_EINVAL);
  cr_assert_eq(node_check_name("a=b", NULL), SYN_EINVAL);
  cr_assert_eq(node_check_name("0123456789012345678901234567890", NULL), 0);
  cr_assert_eq(node_check_name("01234567890123456789012345678901", NULL), SYN_EINVAL);
}

Test(node, peer_list) {
  node_peer_list l;
  syn_err err;
  cr_assert_eq(node_parse_peers("p1=127.0.0.1:5633,p2=localhost:5634,p3=[::1]:7", &l, &err), 0,
               "%s", err.msg);
  cr_assert_eq(l.n, 3);
  cr_assert_str_eq(l.items[0].name, "p1");
  cr_assert_str_eq(l.items[0].host, "127.0.0.1");
  cr_assert_eq(l.items[0].port, 5633);
  cr_assert_str_eq(l.items[1].host, "localhost");
  cr_assert_str_eq(l.items[2].host, "::1");
  cr_assert_eq(l.items[2].port, 7);
  char buf[256];
  node_peers_format(&l, buf, sizeof buf);
  cr_assert_str_eq(buf, "p1=127.0.0.1:5633,p2=localhost:5634,p3=[::1]:7");
  node_peers_free(&l);
  cr_assert_eq(l.n, 0);
}

Test(node, bad_peer_lists) {
  const char *bad[] = {
      "",                          /* empty */
      "p1",                        /* no = */
      "p1=127.0.0.1",              /* no port */
      "p1=127.0.0.1:0",            /* port 0 */
      "p1=127.0.0.1:70000",        /* port too large */
      "p1=:5633",                  /* empty host */
      "=127.0.0.1:5633",           /* empty name */
      "p 1=127.0.0.1:5633",        /* bad name */
      "p1=127.0.0.1:5633,",        /* trailing comma */
      "p1=127.0.0.1:5633,,p2=h:1", /* empty entry */
      "p1=h:1,p1=h:2",             /* duplicate */
      "p1=::1:5633",               /* v6 without brackets */
      "p1=[::1]5633",              /* missing colon */
      "p1=127.0.0.1:56x",          /* junk port */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    node_peer_list l = {0};
    syn_err err;
    cr_assert_eq(node_parse_peers(bad[i], &l, &err), SYN_EINVAL, "accepted '%s'", bad[i]);
    cr_assert_null(l.items);
    cr_assert_gt(strlen(err.msg), 0);
  }
}

Test(node, data_dir_is_created_and_locked) {
  char base[64];
  snprintf(base, sizeof base, "/tmp/synod-test-node-%d", (int)getpid());
  cr_assert_eq(mkdir(base, 0700), 0, "%s: %s", base, strerror(errno));
  char dir[256];
  snprintf(dir, sizeof dir, "%s/a/b/c", base);
  int fd1 = -1, fd2 = -1;
  syn_err err;
  cr_assert_eq(node_prepare_dir(dir, &fd1, &err), 0, "%s", err.msg);
  cr_assert_eq(access(dir, W_OK), 0);
  /* flock is per open file description: a second open in this process
  ** conflicts just like a second daemon would. */
  cr_assert_eq(node_prepare_dir(dir, &fd2, &err), SYN_EBUSY);
  cr_assert(strstr(err.msg, "in use") != NULL, "%s", err.msg);
  close(fd1);
  cr_assert_eq(node_prepare_dir(dir, &fd2, &err), 0, "%s", err.msg);
  close(fd2);
  char file[300];
  snprintf(file, sizeof file, "%s/plain", base);
  FILE *f = fopen(file, "w");
  fclose(f);
  cr_assert_lt(node_prepare_dir(file, &fd2, &err), 0, "a file is not a data dir");
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
  cr_assert_eq(system(cmd), 0);
}

/* ---- a whole node in-process: health over RPC, then SIGTERM ---- */

typedef struct health_probe {
  rpc_client *c;
  int done;
  int status;
  Synod__Rpc__HealthResponse *h;
} health_probe;

static void on_health(int status, const uint8_t *p, size_t n, const syn_err *err, void *ud) {
  health_probe *hp = ud;
  hp->done = 1;
  hp->status = status;
  if (status == 0) hp->h = synod__rpc__health_response__unpack(NULL, n, p);
  rpc_client_close(hp->c);
  /* The daemon's own shutdown path, as an operator would trigger it. */
  uv_kill(getpid(), SIGTERM);
}

Test(node, serves_health_and_stops_on_sigterm) {
  char dir[64];
  snprintf(dir, sizeof dir, "/tmp/synod-test-noderun-%d", (int)getpid());
  node_config cfg = {.name = "p9", .role = "participant", .dir = dir, .host = "127.0.0.1",
                     .rpc_port = 0, .sql_addr = NULL, .log_level = "error"};
  node *n = NULL;
  syn_err err;
  cr_assert_eq(node_start(&cfg, &n, &err), 0, "%s", err.msg);
  health_probe hp = {0};
  cr_assert_eq(rpc_client_new(node_loop(n), "127.0.0.1", rpc_server_port(node_rpc(n)), NULL,
                              &hp.c, &err), 0, "%s", err.msg);
  cr_assert_eq(rpc_client_call(hp.c, SYN_M_HEALTH, NULL, 0, 2000, on_health, &hp, &err), 0);
  cr_assert_eq(node_run(n, NULL), 0, "clean stop exits 0");
  node_free(n);
  cr_assert_eq(hp.done, 1);
  cr_assert_eq(hp.status, 0);
  cr_assert_not_null(hp.h);
  cr_assert_str_eq(hp.h->node, "p9");
  cr_assert_str_eq(hp.h->role, "participant");
  cr_assert_eq(hp.h->pid, (int32_t)getpid());
  cr_assert_str_eq(hp.h->sql_addr, "");
  cr_assert_eq(hp.h->leader, 0);
  synod__rpc__health_response__free_unpacked(hp.h, NULL);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}

Test(node, refuses_a_taken_port) {
  char dir[64];
  snprintf(dir, sizeof dir, "/tmp/synod-test-nodeport-%d", (int)getpid());
  node_config cfg = {.name = "p8", .role = "participant", .dir = dir, .host = "127.0.0.1",
                     .rpc_port = 0, .log_level = "error"};
  node *a = NULL, *b = NULL;
  syn_err err;
  cr_assert_eq(node_start(&cfg, &a, &err), 0, "%s", err.msg);
  char dir2[80];
  snprintf(dir2, sizeof dir2, "%s-b", dir);
  cfg.dir = dir2;
  cfg.rpc_port = rpc_server_port(node_rpc(a));
  cr_assert_eq(node_start(&cfg, &b, &err), SYN_EBUSY);
  cr_assert(strstr(err.msg, "in use") != NULL, "%s", err.msg);
  node_free(a);
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", dir, dir2);
  cr_assert_eq(system(cmd), 0);
}
