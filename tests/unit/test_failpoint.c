#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/failpoint.h"

Test(failpoint, parse_empty_and_null) {
  failpoint_set s;
  cr_assert_eq(failpoint_parse(NULL, &s, NULL), 0);
  cr_assert_eq(s.n, 0);
  cr_assert_eq(failpoint_parse("  ", &s, NULL), 0);
  cr_assert_eq(s.n, 0);
}

Test(failpoint, parse_every_action) {
  failpoint_set s;
  syn_err e;
  cr_assert_eq(failpoint_parse("a=crash, b.c = error ,d-1=sleep(250),e_f=off", &s, &e), 0, "%s", e.msg);
  cr_assert_eq(s.n, 4);
  cr_assert_eq(failpoint_find(&s, "a")->action, FAILPOINT_CRASH);
  cr_assert_eq(failpoint_find(&s, "b.c")->action, FAILPOINT_ERROR);
  cr_assert_eq(failpoint_find(&s, "d-1")->action, FAILPOINT_SLEEP);
  cr_assert_eq(failpoint_find(&s, "d-1")->sleep_ms, 250);
  cr_assert_eq(failpoint_find(&s, "e_f")->action, FAILPOINT_OFF);
  cr_assert_null(failpoint_find(&s, "zzz"));
}

Test(failpoint, parse_delay) {
  failpoint_set s;
  syn_err e;
  cr_assert_eq(failpoint_parse("slow = delay(1500) ,now=delay(0)", &s, &e), 0, "%s", e.msg);
  cr_assert_eq(s.n, 2);
  cr_assert_eq(failpoint_find(&s, "slow")->action, FAILPOINT_DELAY);
  cr_assert_eq(failpoint_find(&s, "slow")->sleep_ms, 1500);
  cr_assert_eq(failpoint_find(&s, "now")->action, FAILPOINT_DELAY);
  cr_assert_eq(failpoint_find(&s, "now")->sleep_ms, 0);
  cr_assert_eq(failpoint_parse("x=delay(3600000)", &s, NULL), 0);
  cr_assert_eq(failpoint_find(&s, "x")->sleep_ms, 3600000);
  cr_assert_eq(failpoint_parse("x=delay(3600001)", &s, &e), SYN_ERANGE);
  cr_assert(strstr(e.msg, "delay") != NULL, "%s", e.msg);
  cr_assert_eq(failpoint_parse("x=delay(5", &s, &e), SYN_EINVAL);
  cr_assert(strstr(e.msg, "delay(ms) missing ')'") != NULL, "%s", e.msg);
  cr_assert_eq(failpoint_parse("x=delay()", &s, &e), SYN_EINVAL);
  cr_assert(strstr(e.msg, "delay needs a number") != NULL, "%s", e.msg);
}

Test(failpoint, later_entry_replaces_earlier) {
  failpoint_set s;
  cr_assert_eq(failpoint_parse("x=crash,x=error", &s, NULL), 0);
  cr_assert_eq(s.n, 1);
  cr_assert_eq(failpoint_find(&s, "x")->action, FAILPOINT_ERROR);
}

Test(failpoint, malformed_specs_are_rejected_with_a_message) {
  static const char *bad[] = {
      "x",           "=crash",        "x=",           "x=boom",      "x=sleep(",
      "x=sleep(y)",  "x=sleep(10",    "x=sleep(10)z", "x=crash,",    "x=crash,,y=error",
      "x y=crash",   "x=crashy",      "x=sleep(99999999999)", "x!=error",
      "x=delay",     "x=delay(",      "x=delay(-1)",  "x=delay(1)2", "x=delay(1 )",
      "x=delay(99999999999)",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    failpoint_set s;
    syn_err e;
    syn_err_clear(&e);
    int rc = failpoint_parse(bad[i], &s, &e);
    cr_assert_lt(rc, 0, "spec '%s' accepted", bad[i]);
    cr_assert_neq(e.msg[0], '\0', "spec '%s': no message", bad[i]);
  }
}

Test(failpoint, bounds) {
  char name[FAILPOINT_NAME_MAX + 8];
  memset(name, 'n', sizeof name);
  strcpy(name + FAILPOINT_NAME_MAX, "=off");
  failpoint_set s;
  cr_assert_eq(failpoint_parse(name, &s, NULL), SYN_ERANGE);

  char spec[2048] = "";
  for (int i = 0; i <= FAILPOINT_MAX; i++) {
    char one[32];
    snprintf(one, sizeof one, "%sfp%d=error", i ? "," : "", i);
    strcat(spec, one);
  }
  cr_assert_eq(failpoint_parse(spec, &s, NULL), SYN_ERANGE);
}

#ifdef SYN_FAILPOINTS
Test(failpoint, configure_and_hit) {
  cr_assert_eq(failpoint_configure("boom=error,nap=sleep(30),quiet=off", NULL), 0);
  cr_assert(SYN_FAILPOINT("boom"));
  cr_assert_not(SYN_FAILPOINT("quiet"));
  cr_assert_not(SYN_FAILPOINT("unknown"));
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  cr_assert_not(SYN_FAILPOINT("nap"));
  clock_gettime(CLOCK_MONOTONIC, &b);
  long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
  cr_assert_geq(ms, 29);
  /* A bad spec leaves the armed set untouched. */
  cr_assert_lt(failpoint_configure("boom=", NULL), 0);
  cr_assert(SYN_FAILPOINT("boom"));
}

Test(failpoint, delay_is_returned_not_slept) {
  cr_assert_eq(failpoint_configure("later=delay(700),nap=sleep(30),boom=error,quiet=off", NULL), 0);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  cr_assert_eq(SYN_FAILPOINT_DELAY("later"), 700);
  /* At a site that cannot defer, delay is false and costs no time. */
  cr_assert_not(SYN_FAILPOINT("later"));
  clock_gettime(CLOCK_MONOTONIC, &b);
  long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
  cr_assert_lt(ms, 500, "delay blocked for %ld ms", ms);
  cr_assert_eq(SYN_FAILPOINT_DELAY("quiet"), 0);
  cr_assert_eq(SYN_FAILPOINT_DELAY("unknown"), 0);
  /* error has nothing to inject at a deferral site. */
  cr_assert_eq(SYN_FAILPOINT_DELAY("boom"), 0);
  /* sleep at a deferral site still sleeps, then defers nothing. */
  clock_gettime(CLOCK_MONOTONIC, &a);
  cr_assert_eq(SYN_FAILPOINT_DELAY("nap"), 0);
  clock_gettime(CLOCK_MONOTONIC, &b);
  ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
  cr_assert_geq(ms, 29);
}

Test(failpoint, crash_at_a_delay_site_exits_137) {
  cr_assert_eq(failpoint_configure("die=crash", NULL), 0);
  fflush(stdout);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    (void)SYN_FAILPOINT_DELAY("die");
    _exit(0);
  }
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  cr_assert(WIFEXITED(st));
  cr_assert_eq(WEXITSTATUS(st), 137);
}

Test(failpoint, crash_exits_137_without_flushing) {
  cr_assert_eq(failpoint_configure("die=crash", NULL), 0);
  int fds[2];
  cr_assert_eq(pipe(fds), 0);
  fflush(stdout);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    /* stdout on a pipe is fully buffered: only exit() would flush it. */
    dup2(fds[1], 1);
    close(fds[0]);
    printf("buffered output that must never appear");
    (void)SYN_FAILPOINT("die");
    _exit(0);
  }
  close(fds[1]);
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  cr_assert(WIFEXITED(st));
  cr_assert_eq(WEXITSTATUS(st), 137);
  char buf[64];
  cr_assert_eq(read(fds[0], buf, sizeof buf), 0, "stdio was flushed");
  close(fds[0]);
}

Test(failpoint, environment_parsed_once) {
  setenv("SYN_FAILPOINTS", "envfp=error", 1);
  cr_assert_eq(failpoint_init(NULL), 0);
  cr_assert(SYN_FAILPOINT("envfp"));
  /* Parsed once: changing the variable later changes nothing. */
  setenv("SYN_FAILPOINTS", "", 1);
  cr_assert(SYN_FAILPOINT("envfp"));
}

Test(failpoint, malformed_environment_disarms_everything) {
  setenv("SYN_FAILPOINTS", "good=error,bad", 1);
  syn_err e;
  cr_assert_eq(failpoint_init(&e), SYN_EINVAL);
  cr_assert(strstr(e.msg, "SYN_FAILPOINTS") != NULL, "%s", e.msg);
  cr_assert_not(SYN_FAILPOINT("good"));
}

#else
/* Built with -Dfailpoints=false: the macro is the constant false whatever
** is armed, and parsing still works for tools that validate specs. */
Test(failpoint, compiled_out) {
  cr_assert_eq(failpoint_configure("boom=error,die=crash", NULL), 0);
  cr_assert_not(SYN_FAILPOINT("boom"));
  cr_assert_not(SYN_FAILPOINT("die"));
  cr_assert_eq(failpoint_configure("later=delay(700)", NULL), 0);
  cr_assert_eq(SYN_FAILPOINT_DELAY("later"), 0);
}
#endif
