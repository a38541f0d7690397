#include "coordinator/ctl/ctl_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coordinator/ctl/ctl_proc.h"

#define LOCK_WAIT_MS 30000

const char *ctl_default_dir(const char *opt) {
  if (opt && *opt) return opt;
  const char *env = getenv("SYNOD_DIR");
  if (env && *env) return env;
  return "./synod-data";
}

/* mkdir -p for the cluster directory. */
static int mkdir_p(const char *path, syn_err *err) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
    return syn_err_set(err, SYN_EINVAL, "path too long: %s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      return syn_err_set(err, SYN_EIO, "mkdir %s: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST)
    return syn_err_set(err, SYN_EIO, "mkdir %s: %s", buf, strerror(errno));
  return 0;
}

static void find_exe_dir(ctl_ctx *ctx) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    snprintf(ctx->exe_dir, sizeof ctx->exe_dir, ".");
    return;
  }
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash) *slash = '\0';
  snprintf(ctx->exe_dir, sizeof ctx->exe_dir, "%s", exe);
}

int ctl_ctx_open(ctl_ctx *ctx, const char *dir, bool create, syn_err *err) {
  memset(ctx, 0, sizeof *ctx);
  ctx->lock_fd = -1;
  find_exe_dir(ctx);
  if (create) {
    int rc = mkdir_p(dir, err);
    if (rc) return rc;
  }
  char real[PATH_MAX];
  if (!realpath(dir, real)) {
    if (errno == ENOENT)
      return syn_err_set(err, SYN_ENOTFOUND, "no cluster in %s (directory missing; run 'synodctl up' first)", dir);
    return syn_err_set(err, SYN_EIO, "%s: %s", dir, strerror(errno));
  }
  struct stat st;
  if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode))
    return syn_err_set(err, SYN_EINVAL, "%s is not a directory", real);
  snprintf(ctx->dir, sizeof ctx->dir, "%s", real);
  return 0;
}

int ctl_ctx_load(ctl_ctx *ctx, bool *have_conf, syn_err *err) {
  *have_conf = false;
  char conf[PATH_MAX + 16];
  snprintf(conf, sizeof conf, "%s/cluster.conf", ctx->dir);
  int rc = ctl_conf_load(conf, &ctx->conf, err);
  if (rc == SYN_ENOTFOUND) {
    syn_err_clear(err);
    return 0;
  }
  if (rc) return rc;
  *have_conf = true;
  return ctl_ctx_secret(ctx, false, err);
}

void ctl_ctx_secret_path(const ctl_ctx *ctx, char *buf, size_t cap) {
  snprintf(buf, cap, "%s/cluster.secret", ctx->dir);
}

int ctl_ctx_secret(ctl_ctx *ctx, bool create, syn_err *err) {
  char path[PATH_MAX + 16];
  ctl_ctx_secret_path(ctx, path, sizeof path);
  if (access(path, F_OK) != 0) {
    if (!create) return 0;
    int rc = rpc_secret_create(path, err);
    if (rc && rc != SYN_EEXIST) return rc;
  }
  return rpc_secret_load(path, ctx->secret, &ctx->secret_len, err);
}

int ctl_ctx_open_existing(ctl_ctx *ctx, const char *dir, bool lock, syn_err *err) {
  bool have = false;
  int rc = ctl_ctx_open(ctx, dir, false, err);
  if (!rc && lock) rc = ctl_ctx_lock(ctx, err);
  if (!rc) rc = ctl_ctx_load(ctx, &have, err);
  if (rc) return rc;
  if (!have)
    return syn_err_set(err, SYN_ENOTFOUND, "no cluster in %s (no cluster.conf; run 'synodctl up' first)", ctx->dir);
  return 0;
}

int ctl_ctx_lock(ctl_ctx *ctx, syn_err *err) {
  char path[PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/ctl.lock", ctx->dir);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return syn_err_set(err, SYN_EIO, "open %s: %s", path, strerror(errno));
  long long deadline = ctl_now_ms() + LOCK_WAIT_MS;
  while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      int e = errno;
      close(fd);
      return syn_err_set(err, SYN_EIO, "lock %s: %s", path, strerror(e));
    }
    if (ctl_now_ms() >= deadline) {
      close(fd);
      return syn_err_set(err, SYN_EBUSY, "another synodctl has held %s for %d s", path, LOCK_WAIT_MS / 1000);
    }
    ctl_sleep_ms(50);
  }
  ctx->lock_fd = fd;
  return 0;
}

void ctl_ctx_close(ctl_ctx *ctx) {
  if (ctx->lock_fd >= 0) close(ctx->lock_fd); /* releases the flock */
  ctx->lock_fd = -1;
}
