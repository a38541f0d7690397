/* cluster.conf: the port plan, the round trip and every refusal. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coordinator/ctl/ctl_conf.h"

static ctl_conf conf;

static char *format(const ctl_conf *c) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  cr_assert_not_null(f);
  cr_assert_eq(ctl_conf_write(c, f, NULL), 0);
  fclose(f);
  return buf;
}

Test(ctl_conf, build_follows_the_port_plan) {
  cr_assert_eq(ctl_conf_build(&conf, 3, 2, 6000, "sqlite", NULL), 0);
  cr_assert_eq(conf.n_nodes, 5);
  cr_assert_str_eq(conf.nodes[0].name, "c1");
  cr_assert_eq(conf.nodes[0].sql_port, 6000);
  cr_assert_eq(conf.nodes[0].rpc_port, 6100);
  cr_assert_str_eq(conf.nodes[2].name, "c3");
  cr_assert_eq(conf.nodes[2].sql_port, 6002);
  cr_assert_eq(conf.nodes[2].rpc_port, 6102);
  cr_assert_str_eq(conf.nodes[3].name, "p1");
  cr_assert_eq(conf.nodes[3].role, CTL_ROLE_PARTICIPANT);
  cr_assert_eq(conf.nodes[3].rpc_port, 6200);
  cr_assert_eq(conf.nodes[3].sql_port, 0);
  cr_assert_eq(conf.nodes[4].rpc_port, 6201);
}

Test(ctl_conf, build_rejects_out_of_range) {
  syn_err e;
  cr_assert_eq(ctl_conf_build(&conf, 0, 3, 5433, "sqlite", &e), SYN_ERANGE);
  cr_assert(strstr(e.msg, "--coordinators"));
  cr_assert_eq(ctl_conf_build(&conf, 3, 100, 5433, "sqlite", &e), SYN_ERANGE);
  cr_assert(strstr(e.msg, "--participants"));
  cr_assert_eq(ctl_conf_build(&conf, 3, 3, 65400, "sqlite", &e), SYN_ERANGE);
  cr_assert(strstr(e.msg, "--port"));
  cr_assert_eq(ctl_conf_build(&conf, 3, 3, 0, "sqlite", NULL), SYN_ERANGE);
}

Test(ctl_conf, write_then_parse_round_trips) {
  cr_assert_eq(ctl_conf_build(&conf, 4, 5, 21000, "sqlite", NULL), 0);
  char *text = format(&conf);
  ctl_conf back;
  syn_err e;
  int rc = ctl_conf_parse(text, &back, &e);
  cr_assert_eq(rc, 0, "%s", e.msg);
  cr_assert_eq(back.n_nodes, 9);
  cr_assert_eq(back.n_coordinators, 4);
  cr_assert_eq(back.n_participants, 5);
  cr_assert_eq(back.base_port, 21000);
  cr_assert_str_eq(back.backend, "sqlite");
  for (int i = 0; i < 9; i++) {
    cr_assert_str_eq(back.nodes[i].name, conf.nodes[i].name);
    cr_assert_eq(back.nodes[i].role, conf.nodes[i].role);
    cr_assert_eq(back.nodes[i].rpc_port, conf.nodes[i].rpc_port);
    cr_assert_eq(back.nodes[i].sql_port, conf.nodes[i].sql_port);
  }
  char *again = format(&back);
  cr_assert_str_eq(again, text);
  free(text);
  free(again);
}

/* PostgreSQL participants: pg-port, pg-conninfo (rest of the line, blanks
** kept) and which participants a mixed cluster puts on PostgreSQL. */
Test(ctl_conf, postgres_lines_round_trip_and_mixed_alternates) {
  cr_assert_eq(ctl_conf_build(&conf, 1, 3, 21000, "mixed", NULL), 0);
  conf.pg_port = 21299;
  char *text = format(&conf);
  ctl_conf back;
  syn_err e;
  cr_assert_eq(ctl_conf_parse(text, &back, &e), 0, "%s", e.msg);
  cr_assert_eq(back.pg_port, 21299);
  cr_assert(ctl_conf_uses_pg(&back));
  cr_assert(ctl_conf_node_on_pg(&back, ctl_conf_find(&back, "p1")));
  cr_assert_not(ctl_conf_node_on_pg(&back, ctl_conf_find(&back, "p2")));
  cr_assert(ctl_conf_node_on_pg(&back, ctl_conf_find(&back, "p3")));
  cr_assert_not(ctl_conf_node_on_pg(&back, ctl_conf_find(&back, "c1")));
  free(text);
  const char *t = "synod-cluster 1\nbackend postgres\nbase-port 7000\n"
                  "pg-conninfo  host=/tmp/x port=5 user=u  \r\n"
                  "node c1 coordinator sql=7000 rpc=7100\nnode p1 participant rpc=7200\n"
                  "node p2 participant rpc=7201\n";
  cr_assert_eq(ctl_conf_parse(t, &back, &e), 0, "%s", e.msg);
  cr_assert_str_eq(back.pg_conninfo, "host=/tmp/x port=5 user=u");
  cr_assert_eq(back.pg_port, 0);
  cr_assert(ctl_conf_node_on_pg(&back, ctl_conf_find(&back, "p2")));
  text = format(&back);
  cr_assert(strstr(text, "pg-conninfo host=/tmp/x port=5 user=u\n"), "%s", text);
  free(text);
  cr_assert_eq(ctl_conf_build(&conf, 1, 2, 21000, "sqlite", NULL), 0);
  cr_assert_not(ctl_conf_uses_pg(&conf));
  cr_assert_not(ctl_conf_node_on_pg(&conf, ctl_conf_find(&conf, "p1")));
}

Test(ctl_conf, parse_accepts_comments_blank_lines_and_tabs) {
  const char *t = "# hand edited\n\nsynod-cluster 1   # version\nbackend\tsqlite\r\n"
                  "base-port 7000\nnode alpha coordinator sql=7000 rpc=7100\n\n"
                  "node beta_2 participant rpc=7200\n";
  syn_err e;
  cr_assert_eq(ctl_conf_parse(t, &conf, &e), 0, "%s", e.msg);
  cr_assert_eq(conf.n_nodes, 2);
  const ctl_node *a = ctl_conf_find(&conf, "alpha");
  cr_assert_not_null(a);
  cr_assert_eq(a->sql_port, 7000);
  cr_assert_eq(a->rpc_port, 7100);
  cr_assert_not_null(ctl_conf_find(&conf, "beta_2"));
  cr_assert_null(ctl_conf_find(&conf, "gamma"));
}

/* Each bad input must fail with the expected code and name its line. */
static void refuses(const char *text, int code, const char *needle) {
  syn_err e;
  syn_err_clear(&e);
  int rc = ctl_conf_parse(text, &conf, &e);
  cr_assert_eq(rc, code, "rc %d for <<%s>>: %s", rc, text, e.msg);
  cr_assert(strstr(e.msg, needle), "message '%s' lacks '%s'", e.msg, needle);
}

#define HEAD "synod-cluster 1\nbackend sqlite\nbase-port 5433\n"

Test(ctl_conf, parse_refuses_bad_files) {
  refuses("", SYN_ECORRUPT, "empty");
  refuses("backend sqlite\n", SYN_ECORRUPT, "line 1");
  refuses("synod-cluster 2\n", SYN_EUNSUPPORTED, "version 2");
  refuses("synod-cluster x\n", SYN_ECORRUPT, "line 1");
  refuses(HEAD "node c1 coordinator rpc=5533 sql=5433\nnode c1 participant rpc=5633\n", SYN_EEXIST, "line 5");
  refuses(HEAD "node c1 coordinator rpc=5533 sql=5433\nnode p1 participant rpc=5433\n", SYN_EEXIST, "port 5433");
  refuses(HEAD "node c1 coordinator rpc=5533 sql=5533\nnode p1 participant rpc=5633\n", SYN_EEXIST, "twice");
  refuses(HEAD "node c1 leader rpc=5533 sql=5433\n", SYN_EINVAL, "unknown role");
  refuses(HEAD "node c1 coordinator rpc=5533\n", SYN_EINVAL, "no sql=PORT");
  refuses(HEAD "node p1 participant rpc=5633 sql=5433\n", SYN_EINVAL, "cannot have sql");
  refuses(HEAD "node p1 participant\n", SYN_EINVAL, "line 4");
  refuses(HEAD "node p1 participant rpc=70000\n", SYN_EINVAL, "bad port");
  refuses(HEAD "node p1 participant rpc=-1\n", SYN_EINVAL, "bad port");
  refuses(HEAD "node p1 participant rpc=12x\n", SYN_EINVAL, "bad port");
  refuses(HEAD "node p1 participant rpc=5633 color=red\n", SYN_EINVAL, "unknown field");
  refuses(HEAD "node ../etc participant rpc=5633\n", SYN_EINVAL, "bad node name");
  refuses(HEAD "node --help participant rpc=5633\n", SYN_EINVAL, "bad node name");
  refuses(HEAD "node averyveryverylongname participant rpc=5633\n", SYN_EINVAL, "bad node name");
  refuses(HEAD "frobnicate 1\n", SYN_EINVAL, "unknown statement");
  refuses(HEAD "node c1 coordinator rpc=5533 sql=5433\n", SYN_EINVAL, "no participant");
  refuses(HEAD "node p1 participant rpc=5633\n", SYN_EINVAL, "no coordinator");
  refuses("synod-cluster 1\nbase-port 5433\nnode c1 coordinator rpc=1 sql=2\nnode p1 participant rpc=3\n",
          SYN_EINVAL, "backend");
  refuses("synod-cluster 1\nbackend sqlite\nnode c1 coordinator rpc=1 sql=2\nnode p1 participant rpc=3\n",
          SYN_EINVAL, "base-port");
  refuses(HEAD "node a b c d e f g h i\n", SYN_EINVAL, "too many fields");
}

Test(ctl_conf, save_and_load_through_a_file) {
  /* mkdtemp's template: the prefix, then six 'X' it replaces. */
  char dir[64] = "/tmp/test_ctl_conf.";
  size_t at = strlen(dir);
  memset(dir + at, 'X', 6);
  dir[at + 6] = '\0';
  cr_assert_not_null(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof path, "%s/cluster.conf", dir);
  syn_err e;
  cr_assert_eq(ctl_conf_load(path, &conf, &e), SYN_ENOTFOUND);
  cr_assert_eq(ctl_conf_build(&conf, 1, 2, 30000, "sqlite", NULL), 0);
  cr_assert_eq(ctl_conf_save(path, &conf, &e), 0, "%s", e.msg);
  ctl_conf back;
  cr_assert_eq(ctl_conf_load(path, &back, &e), 0, "%s", e.msg);
  cr_assert_eq(back.n_nodes, 3);
  cr_assert_eq(back.nodes[2].rpc_port, 30201);
  /* A damaged file is reported with its path. */
  FILE *f = fopen(path, "a");
  fputs("node p1 participant rpc=1\n", f);
  fclose(f);
  cr_assert_eq(ctl_conf_load(path, &back, &e), SYN_EEXIST);
  cr_assert(strstr(e.msg, path));
  unlink(path);
  rmdir(dir);
}

/* Damaged files never crash the parser: every mutation of a valid file
** either parses to a consistent cluster or fails with a message. A fixed
** seed keeps failures reproducible. */
Test(ctl_conf, mutated_files_fail_cleanly) {
  cr_assert_eq(ctl_conf_build(&conf, 3, 3, 5433, "sqlite", NULL), 0);
  char *good = format(&conf);
  size_t len = strlen(good);
  const char alphabet[] = "#= \n\t\r0123456789abcpnode-_x\x01\xff";
  unsigned seed = 12345;
  for (int iter = 0; iter < 5000; iter++) {
    char *t = strdup(good);
    size_t tl = len;
    int edits = 1 + (int)(rand_r(&seed) % 4);
    for (int k = 0; k < edits && tl > 0; k++) {
      size_t at = (size_t)rand_r(&seed) % tl;
      switch (rand_r(&seed) % 3) {
      case 0: t[at] = alphabet[(size_t)rand_r(&seed) % (sizeof alphabet - 1)]; break;
      case 1: memmove(t + at, t + at + 1, tl - at); tl--; break; /* delete */
      default: t[at] = '\0'; tl = at; break;                      /* truncate */
      }
    }
    ctl_conf out;
    syn_err e;
    syn_err_clear(&e);
    int rc = ctl_conf_parse(t, &out, &e);
    if (rc) {
      cr_assert(e.msg[0] != '\0', "rc %d without a message for <<%s>>", rc, t);
    } else {
      cr_assert(out.n_coordinators >= 1 && out.n_participants >= 1);
      cr_assert_eq(out.n_nodes, out.n_coordinators + out.n_participants);
      for (int i = 0; i < out.n_nodes; i++) {
        cr_assert(out.nodes[i].rpc_port >= 1 && out.nodes[i].rpc_port <= 65535);
        cr_assert_eq(out.nodes[i].sql_port != 0, out.nodes[i].role == CTL_ROLE_COORDINATOR);
      }
    }
    free(t);
  }
  free(good);
}

/* default-isolation: absent means READ COMMITTED (files from before the
** line existed), a non-default level round-trips, bad lines are refused. */
Test(ctl_conf, default_isolation_line) {
  syn_err e;
  const char *old = HEAD "node c1 coordinator rpc=5533 sql=5433\nnode p1 participant rpc=5633\n";
  cr_assert_eq(ctl_conf_parse(old, &conf, &e), 0, "%s", e.msg);
  cr_assert_eq(conf.default_isolation, CTL_ISO_READ_COMMITTED);
  char *text = format(&conf);
  cr_assert_null(strstr(text, "default-isolation"), "%s", text);
  free(text);

  cr_assert_eq(ctl_conf_build(&conf, 1, 1, 9000, "sqlite", NULL), 0);
  cr_assert_eq(conf.default_isolation, CTL_ISO_READ_COMMITTED);
  conf.default_isolation = CTL_ISO_REPEATABLE_READ;
  text = format(&conf);
  cr_assert(strstr(text, "\ndefault-isolation repeatable-read\n"), "%s", text);
  ctl_conf back;
  cr_assert_eq(ctl_conf_parse(text, &back, &e), 0, "%s", e.msg);
  cr_assert_eq(back.default_isolation, CTL_ISO_REPEATABLE_READ);
  free(text);

  const char *two = HEAD "default-isolation Serializable\nnode c1 coordinator rpc=5533 sql=5433\n"
                         "node p1 participant rpc=5633\n";
  cr_assert_eq(ctl_conf_parse(two, &conf, &e), 0, "%s", e.msg);
  cr_assert_eq(conf.default_isolation, CTL_ISO_SERIALIZABLE);
  const char *words = HEAD "default-isolation repeatable read\nnode c1 coordinator rpc=5533 sql=5433\n"
                           "node p1 participant rpc=5633\n";
  cr_assert_eq(ctl_conf_parse(words, &conf, &e), 0, "%s", e.msg);
  cr_assert_eq(conf.default_isolation, CTL_ISO_REPEATABLE_READ);

  refuses(HEAD "default-isolation snapshot\n", SYN_EINVAL, "line 4");
  refuses(HEAD "default-isolation\n", SYN_EINVAL, "line 4");
  refuses(HEAD "default-isolation serializable\ndefault-isolation serializable\n", SYN_EINVAL,
          "line 5");
  refuses(HEAD "default-isolation read committed extra\n", SYN_EINVAL, "line 4");
}

Test(ctl_conf, isolation_names) {
  ctl_isolation iso = CTL_ISO_SERIALIZABLE;
  cr_assert_eq(ctl_isolation_parse("read committed", &iso, NULL), 0);
  cr_assert_eq(iso, CTL_ISO_READ_COMMITTED);
  cr_assert_eq(ctl_isolation_parse("Repeatable-Read", &iso, NULL), 0);
  cr_assert_eq(iso, CTL_ISO_REPEATABLE_READ);
  cr_assert_eq(ctl_isolation_parse("read_committed", &iso, NULL), 0);
  cr_assert_eq(iso, CTL_ISO_READ_COMMITTED);
  cr_assert_eq(ctl_isolation_parse("SERIALIZABLE", &iso, NULL), 0);
  cr_assert_eq(iso, CTL_ISO_SERIALIZABLE);
  syn_err e;
  cr_assert_eq(ctl_isolation_parse("read uncommitted", &iso, &e), SYN_EINVAL);
  cr_assert(strstr(e.msg, "read uncommitted"), "%s", e.msg);
  cr_assert_eq(ctl_isolation_parse("", &iso, NULL), SYN_EINVAL);
  cr_assert_eq(ctl_isolation_parse("repeatable read and then some more words", &iso, NULL),
               SYN_EINVAL);
  cr_assert_str_eq(ctl_isolation_name(CTL_ISO_REPEATABLE_READ), "repeatable read");
}
