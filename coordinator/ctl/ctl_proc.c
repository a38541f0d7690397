#include "coordinator/ctl/ctl_proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CMDLINE_MAX 16384

long long ctl_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ctl_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Read /proc/PID/<what> into buf (NUL-terminated); returns bytes or -1. */
static ssize_t read_proc(int pid, const char *what, char *buf, size_t cap) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", pid, what);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t n = 0;
  while (n + 1 < cap) {
    ssize_t r = read(fd, buf + n, cap - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = '\0';
  return (ssize_t)n;
}

/* Process state letter from /proc/PID/stat, or 0. The comm field may hold
** spaces and parentheses, so the state is found after the last ')'. */
static char proc_state(int pid) {
  char buf[1024];
  if (read_proc(pid, "stat", buf, sizeof buf) <= 0) return 0;
  char *rp = strrchr(buf, ')');
  if (!rp || rp[1] != ' ') return 0;
  return rp[2];
}

bool ctl_proc_stopped(int pid) {
  char s = proc_state(pid);
  return s == 'T' || s == 't';
}

bool ctl_proc_matches(int pid, const ctl_proc_ident *id) {
  if (pid <= 0) return false;
  char s = proc_state(pid);
  if (s == 0 || s == 'Z' || s == 'X') return false;
  char *buf = malloc(CMDLINE_MAX);
  if (!buf) return false;
  ssize_t n = read_proc(pid, "cmdline", buf, CMDLINE_MAX);
  bool ok = false;
  if (n > 0) {
    /* argv strings are NUL-separated; walk them. */
    const char *args[256];
    int argc = 0;
    for (ssize_t i = 0; i < n && argc < 256;) {
      args[argc++] = buf + i;
      i += (ssize_t)strlen(buf + i) + 1;
    }
    const char *base = strrchr(args[0], '/');
    base = base ? base + 1 : args[0];
    bool bin_ok = strcmp(base, id->binary) == 0;
    bool name_ok = false, dir_ok = false;
    for (int i = 1; i + 1 < argc; i++) {
      if (strcmp(args[i], "--name") == 0 && strcmp(args[i + 1], id->name) == 0) name_ok = true;
      if (strcmp(args[i], "--dir") == 0 && strcmp(args[i + 1], id->dir) == 0) dir_ok = true;
    }
    ok = bin_ok && name_ok && dir_ok;
  }
  free(buf);
  return ok;
}

/* Child side of ctl_proc_spawn; reports a failing step's errno on errfd. */
static void spawn_child(char *const argv[], const char *log_path, int errfd) {
  int e = 0;
  if (setsid() < 0) e = errno;
  int in = e ? -1 : open("/dev/null", O_RDONLY);
  if (!e && in < 0) e = errno;
  int out = e ? -1 : open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (!e && out < 0) e = errno;
  if (!e && (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)) e = errno;
  if (!e && chdir("/") != 0) e = errno;
  if (!e) {
    /* The daemon must not hold synodctl's lock file or pipes: a held lock
    ** would block the next synodctl, an inherited pipe would keep a test
    ** harness waiting for EOF. errfd is close-on-exec and stays open. */
    for (int fd = 3; fd < 1024; fd++)
      if (fd != errfd) close(fd);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    execv(argv[0], argv);
    e = errno;
  }
  ssize_t w = write(errfd, &e, sizeof e);
  (void)w;
  _exit(127);
}

int ctl_proc_spawn(char *const argv[], const char *log_path, int *pid_out,
                   syn_err *err) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return syn_err_set(err, SYN_EIO, "pipe: %s", strerror(errno));
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(p[0]);
    close(p[1]);
    return syn_err_set(err, SYN_EIO, "fork: %s", strerror(e));
  }
  if (pid == 0) {
    close(p[0]);
    spawn_child(argv, log_path, p[1]);
  }
  close(p[1]);
  /* EOF means exec succeeded (the close-on-exec pipe closed); an int means
  ** the child reports the errno of the step that failed. */
  int child_errno = 0;
  ssize_t r;
  do r = read(p[0], &child_errno, sizeof child_errno);
  while (r < 0 && errno == EINTR);
  close(p[0]);
  if (r == (ssize_t)sizeof child_errno) {
    waitpid(pid, NULL, 0);
    return syn_err_set(err, SYN_EIO, "cannot start %s: %s", argv[0], strerror(child_errno));
  }
  *pid_out = (int)pid;
  return 0;
}

bool ctl_proc_reap(int pid, int *status) {
  int st = 0;
  pid_t r = waitpid(pid, &st, WNOHANG);
  if (r == pid) {
    if (status) *status = st;
    return true;
  }
  return false;
}

bool ctl_proc_wait_gone(int pid, const ctl_proc_ident *id, int timeout_ms) {
  long long deadline = ctl_now_ms() + timeout_ms;
  for (;;) {
    ctl_proc_reap(pid, NULL); /* our own child turns zombie otherwise */
    if (!ctl_proc_matches(pid, id)) return true;
    if (ctl_now_ms() >= deadline) return false;
    ctl_sleep_ms(20);
  }
}

bool ctl_port_free(const char *host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  bool ok = inet_pton(AF_INET, host, &a.sin_addr) == 1 &&
            bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

int ctl_pidfile_read(const char *path, int *pid, syn_err *err) {
  FILE *f = fopen(path, "r");
  if (!f) {
    if (errno == ENOENT) return syn_err_set(err, SYN_ENOTFOUND, "no pid file %s", path);
    return syn_err_set(err, SYN_EIO, "open %s: %s", path, strerror(errno));
  }
  char buf[32];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *end = NULL;
  errno = 0;
  long v = strtol(buf, &end, 10);
  if (errno || end == buf || (*end && *end != '\n') || v <= 0 || v > 0x3fffffff)
    return syn_err_set(err, SYN_ECORRUPT, "%s does not hold a pid", path);
  *pid = (int)v;
  return 0;
}

int ctl_pidfile_write(const char *path, int pid, syn_err *err) {
  char tmp[4200];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
    return syn_err_set(err, SYN_EINVAL, "path too long: %s", path);
  FILE *f = fopen(tmp, "we");
  if (!f) return syn_err_set(err, SYN_EIO, "create %s: %s", tmp, strerror(errno));
  fprintf(f, "%d\n", pid);
  int rc = 0;
  if (fflush(f) != 0 || ferror(f)) rc = syn_err_set(err, SYN_EIO, "write %s: %s", tmp, strerror(errno));
  if (fclose(f) != 0 && !rc) rc = syn_err_set(err, SYN_EIO, "close %s: %s", tmp, strerror(errno));
  /* rename so a concurrent reader never sees an empty pid file. */
  if (!rc && rename(tmp, path) != 0) rc = syn_err_set(err, SYN_EIO, "rename %s: %s", tmp, strerror(errno));
  if (rc) unlink(tmp);
  return rc;
}
