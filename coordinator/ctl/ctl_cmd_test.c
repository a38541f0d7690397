/*
** synodctl test: run `meson test` in each build directory and fail if any
** fails. The build directories must already be configured (./synod does).
*/
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coordinator/ctl/ctl_cmd.h"

#define CMD "test"
#define MAX_BUILDS 16

static int run_meson_test(const char *build) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return ctl_fail(CMD, "fork: %s", strerror(errno));
  if (pid == 0) {
    execlp("meson", "meson", "test", "-C", build, "--print-errorlogs", (char *)NULL);
    fprintf(stderr, "synodctl test: cannot run meson: %s\n", strerror(errno));
    _exit(127);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) return ctl_fail(CMD, "waitpid: %s", strerror(errno));
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
  return 1;
}

/* Tally the results meson recorded in DIR/meson-logs/testlog.json (one JSON
** object per test and line). Test output inside a line is JSON-escaped, so
** an unescaped `"result": "` can only be meson's own field. */
static void count_results(const char *build, long *passed, long *failed, long *skipped) {
  char path[4096];
  snprintf(path, sizeof path, "%s/meson-logs/testlog.json", build);
  FILE *f = fopen(path, "r");
  if (!f) return;
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    const char *r = strstr(line, "\"result\": \"");
    if (!r) continue;
    r += strlen("\"result\": \"");
    if (strncmp(r, "OK\"", 3) == 0 || strncmp(r, "EXPECTEDFAIL\"", 13) == 0) (*passed)++;
    else if (strncmp(r, "SKIP\"", 5) == 0) (*skipped)++;
    else (*failed)++;
  }
  free(line);
  fclose(f);
}

int ctl_cmd_test(int argc, char **argv) {
  static const struct option longopts[] = {{"build", required_argument, NULL, 'b'},
                                           {"dir", required_argument, NULL, 'd'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  const char *builds[MAX_BUILDS];
  int n = 0;
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'b':
      if (n == MAX_BUILDS) return ctl_usage_error(CMD, "at most %d --build directories", MAX_BUILDS);
      builds[n++] = optarg;
      break;
    case 'd': break; /* accepted like every subcommand; tests make their own clusters */
    case 'h': ctl_usage(stdout, CMD); return CTL_EXIT_OK;
    default: return ctl_usage_error(CMD, "bad option");
    }
  }
  if (optind < argc) return ctl_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
  if (n == 0) {
    builds[n++] = "build";
    builds[n++] = "build-asan";
  }
  int failed = 0;
  long npass = 0, nfail = 0, nskip = 0;
  for (int i = 0; i < n; i++) {
    printf("== meson test -C %s\n", builds[i]);
    if (run_meson_test(builds[i])) {
      fprintf(stderr, "synodctl test: tests failed in %s\n", builds[i]);
      failed++;
    }
    count_results(builds[i], &npass, &nfail, &nskip);
  }
  /* The plain closing line CI tooling reads, over every build directory. */
  if (nskip) printf("%ld passed, %ld failed, %ld skipped\n", npass, nfail, nskip);
  else printf("%ld passed, %ld failed\n", npass, nfail);
  if (failed) return ctl_fail(CMD, "%d of %d build director%s failed", failed, n, n == 1 ? "y" : "ies");
  printf("all tests passed in %d build director%s\n", n, n == 1 ? "y" : "ies");
  return CTL_EXIT_OK;
}
