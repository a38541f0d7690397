/* synodctl status output (text and the JSON scripts rely on) and the
** events.log line format. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/ctl/ctl_conf.h"
#include "coordinator/ctl/ctl_events.h"
#include "coordinator/ctl/ctl_status.h"

/* noinline: GCC otherwise mistakes the memstream buffer for a dangling
** pointer to the local that open_memstream wrote it through. */
__attribute__((noinline)) static char *capture_json(const ctl_node_state *s, int n) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ctl_status_print_json(f, s, n);
  fclose(f);
  return buf;
}

__attribute__((noinline)) static char *capture_text(const ctl_node_state *s, int n) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ctl_status_print_text(f, "127.0.0.1", s, n);
  fclose(f);
  return buf;
}

static ctl_conf conf;

Test(ctl_status, json_has_the_stable_keys) {
  cr_assert_eq(ctl_conf_build(&conf, 1, 1, 5433, "sqlite", NULL), 0);
  ctl_node_state s[2] = {
      {.node = &conf.nodes[0], .pid = 4242, .healthy = true, .leader = true,
       .data_dir = "/d/c1", .log_file = "/d/c1/c1.log"},
      {.node = &conf.nodes[1], .pid = 0, .data_dir = "/d/p1", .log_file = "/d/p1/p1.log"},
  };
  char *j = capture_json(s, 2);
  const char *want =
      "[\n"
      " {\"name\": \"c1\", \"role\": \"coordinator\", \"pid\": 4242, \"alive\": true, \"state\": \"running\", "
      "\"rpc_port\": 5533, \"sql_port\": 5433, \"leader\": true, \"paxos_role\": null, "
      "\"ballot\": null, \"promised\": null, \"chosen\": null, \"applied\": null, "
      "\"snap_slot\": null, \"leader_id\": null, \"leader_name\": null, \"group_size\": null, "
      "\"decided\": null, \"decide_p50_us\": null, \"decide_p99_us\": null, "
      "\"data_dir\": \"/d/c1\", "
      "\"log_file\": \"/d/c1/c1.log\"},\n"
      " {\"name\": \"p1\", \"role\": \"participant\", \"pid\": null, \"alive\": false, \"state\": \"stopped\", "
      "\"rpc_port\": 5633, \"data_dir\": \"/d/p1\", \"log_file\": \"/d/p1/p1.log\"}\n"
      "]\n";
  cr_assert_str_eq(j, want);
  free(j);
}

Test(ctl_status, empty_list_is_an_empty_array) {
  char *j = capture_json(NULL, 0);
  cr_assert_str_eq(j, "[]\n");
  free(j);
}

Test(ctl_status, alive_needs_process_and_health) {
  cr_assert_eq(ctl_conf_build(&conf, 1, 1, 5433, "sqlite", NULL), 0);
  ctl_node_state paused = {.node = &conf.nodes[1], .pid = 7, .paused = true};
  ctl_node_state silent = {.node = &conf.nodes[1], .pid = 7};
  ctl_node_state gone = {.node = &conf.nodes[1], .pid = 0, .healthy = true};
  ctl_node_state ok = {.node = &conf.nodes[1], .pid = 7, .healthy = true};
  cr_assert(!ctl_status_alive(&paused));
  cr_assert_str_eq(ctl_status_state(&paused), "paused");
  cr_assert(!ctl_status_alive(&silent));
  cr_assert_str_eq(ctl_status_state(&silent), "unresponsive");
  cr_assert(!ctl_status_alive(&gone));
  cr_assert_str_eq(ctl_status_state(&gone), "stopped");
  cr_assert(ctl_status_alive(&ok));
  cr_assert_str_eq(ctl_status_state(&ok), "running");
}

Test(ctl_status, json_strings_are_escaped) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ctl_json_string(f, "a\"b\\c\nd\x01/");
  fclose(f);
  cr_assert_str_eq(buf, "\"a\\\"b\\\\c\\nd\\u0001/\"");
  free(buf);
}

Test(ctl_status, text_has_one_line_per_node) {
  cr_assert_eq(ctl_conf_build(&conf, 2, 1, 5433, "sqlite", NULL), 0);
  ctl_node_state s[3] = {
      {.node = &conf.nodes[0], .pid = 11, .healthy = true, .leader = true},
      {.node = &conf.nodes[1], .pid = 12, .paused = true},
      {.node = &conf.nodes[2]},
  };
  char *t = capture_text(s, 3);
  char *l1 = t, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
  cr_assert_str_eq(strchr(l3, '\n') + 1, "");
  cr_assert(strncmp(l1, "c1", 2) == 0 && strstr(l1, "pid=11") && strstr(l1, "sql=127.0.0.1:5433") &&
            strstr(l1, "rpc=127.0.0.1:5533") && strstr(l1, "alive") && strstr(l1, "leader") < l2);
  cr_assert(strstr(l2, "dead") && strstr(l2, "paused") && strstr(l2, "leader") == NULL);
  cr_assert(strncmp(l3, "p1", 2) == 0 && strstr(l3, "pid=-") && strstr(l3, "dead") &&
            strstr(l3, "sql=") == NULL);
  free(t);
}

/* A coordinator that answered health with its paxos state: every field
** scripts read (docs/operations.md, "Status fields"). */
Test(ctl_status, json_has_the_paxos_fields) {
  cr_assert_eq(ctl_conf_build(&conf, 3, 1, 5433, "sqlite", NULL), 0);
  ctl_paxos lead = {.known = true, .role = "leader", .ballot_round = 7, .ballot_node = 2,
                    .promised_round = 7, .promised_node = 2, .chosen = 120, .applied = 119,
                    .snap_slot = 100, .leader_id = 2, .group_size = 3};
  ctl_paxos fol = lead;
  snprintf(fol.role, sizeof fol.role, "follower");
  fol.ballot_round = 0, fol.ballot_node = 0, fol.chosen = 118, fol.applied = 118;
  ctl_node_state s[2] = {
      {.node = &conf.nodes[0], .pid = 11, .healthy = true, .paxos = fol},
      {.node = &conf.nodes[1], .pid = 12, .healthy = true, .leader = true, .paxos = lead},
  };
  char *j = capture_json(s, 2);
  cr_assert(strstr(j, "\"name\": \"c1\", \"role\": \"coordinator\", \"pid\": 11, \"alive\": true, "
                      "\"state\": \"running\", \"rpc_port\": 5533, \"sql_port\": 5433, "
                      "\"leader\": false, \"paxos_role\": \"follower\", \"ballot\": [0, 0], "
                      "\"promised\": [7, 2], \"chosen\": 118, \"applied\": 118, "
                      "\"snap_slot\": 100, \"leader_id\": 2, \"leader_name\": \"c2\", "
                      "\"group_size\": 3,"), "%s", j);
  cr_assert(strstr(j, "\"leader\": true, \"paxos_role\": \"leader\", \"ballot\": [7, 2], "
                      "\"promised\": [7, 2], \"chosen\": 120, \"applied\": 119, "
                      "\"snap_slot\": 100, \"leader_id\": 2, \"leader_name\": \"c2\""), "%s", j);
  free(j);
  char *t = capture_text(s, 2);
  cr_assert(strstr(t, "paxos=follower ballot=0.0 promised=7.2 chosen=118 applied=118 leader_id=c2\n"), "%s", t);
  cr_assert(strstr(t, "alive running leader paxos=leader ballot=7.2 promised=7.2 chosen=120 applied=119 "
                      "leader_id=c2\n"), "%s", t);
  free(t);
  /* A leader id that names no coordinator of this cluster is shown as such. */
  s[0].paxos.leader_id = 9;
  j = capture_json(s, 1);
  cr_assert(strstr(j, "\"leader_id\": 9, \"leader_name\": null"), "%s", j);
  free(j);
}

Test(ctl_status, leader_is_the_one_alive_coordinator_saying_so) {
  cr_assert_eq(ctl_conf_build(&conf, 3, 1, 5433, "sqlite", NULL), 0);
  ctl_node_state s[4] = {
      {.node = &conf.nodes[0], .pid = 11, .healthy = true},
      {.node = &conf.nodes[1], .pid = 12, .healthy = true, .leader = true},
      {.node = &conf.nodes[2], .pid = 13, .healthy = true},
      {.node = &conf.nodes[3], .pid = 14, .healthy = true, .leader = true}, /* a participant */
  };
  cr_assert_str_eq(ctl_status_leader(s, 4), "c2");
  /* Paused: it cannot answer, so it does not lead as far as anyone sees. */
  s[1].paused = true;
  cr_assert_null(ctl_status_leader(s, 4));
  s[1].paused = false;
  s[2].leader = true; /* two claims: no answer rather than a wrong one */
  cr_assert_null(ctl_status_leader(s, 4));
  s[1].leader = s[2].leader = false;
  cr_assert_null(ctl_status_leader(s, 4));
}

Test(ctl_events, line_format) {
  char buf[128];
  /* 2026-11-25T08:30:00.123Z */
  long long ms = 1795595400123LL;
  int n = ctl_events_format(buf, sizeof buf, ms, "kill", "p2", "pid=42 signal=SIGKILL");
  cr_assert_str_eq(buf, "2026-11-25T08:30:00.123Z kill p2 pid=42 signal=SIGKILL\n");
  cr_assert_eq(n, (int)strlen(buf));
  ctl_events_format(buf, sizeof buf, ms, "start", "c1", "");
  cr_assert_str_eq(buf, "2026-11-25T08:30:00.123Z start c1\n");
  char small[32];
  n = ctl_events_format(small, sizeof small, ms, "resume", "c1", "pid=1 signal=SIGCONT");
  cr_assert_eq(n, 31);
  cr_assert_eq(small[30], '\n');
}
