/*
** HLC bound file I/O (format and write protocol in clockfile.h).
*/
#include "common/clockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/crc32c.h"

static const uint8_t clockfile_magic[8] = {'S', 'Y', 'N', 'H', 'L', 'C', 'B', '1'};

static uint32_t crc32c(const uint8_t *p, size_t n) { return crc32c_update(0, p, n); }

static void put_be64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get_be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
  return v;
}

void clockfile_encode(uint64_t bound, uint8_t out[CLOCKFILE_SIZE]) {
  memcpy(out, clockfile_magic, 8);
  put_be64(out + 8, bound);
  uint32_t crc = crc32c(out, 16);
  out[16] = (uint8_t)(crc >> 24);
  out[17] = (uint8_t)(crc >> 16);
  out[18] = (uint8_t)(crc >> 8);
  out[19] = (uint8_t)crc;
}

int clockfile_decode(const uint8_t *buf, size_t len, uint64_t *bound, syn_err *err) {
  if (len != CLOCKFILE_SIZE)
    return syn_err_set(err, SYN_ECORRUPT, "clockfile: %zu bytes, want %d", len, CLOCKFILE_SIZE);
  if (memcmp(buf, clockfile_magic, 8) != 0)
    return syn_err_set(err, SYN_ECORRUPT, "clockfile: bad magic");
  uint32_t want = (uint32_t)buf[16] << 24 | (uint32_t)buf[17] << 16 | (uint32_t)buf[18] << 8 |
                  (uint32_t)buf[19];
  uint32_t got = crc32c(buf, 16);
  if (want != got)
    return syn_err_set(err, SYN_ECORRUPT, "clockfile: checksum mismatch (stored %08x, computed %08x)",
                       want, got);
  *bound = get_be64(buf + 8);
  return 0;
}

int clockfile_read(const char *path, uint64_t *bound, bool *existed, syn_err *err) {
  if (existed) *existed = false;
  *bound = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return 0;
    return syn_err_set(err, SYN_EIO, "clockfile: open %s: %s", path, strerror(errno));
  }
  /* Read one byte more than a valid file so an over-long file is caught. */
  uint8_t buf[CLOCKFILE_SIZE + 1];
  size_t n = 0;
  while (n < sizeof buf) {
    ssize_t r = read(fd, buf + n, sizeof buf - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      return syn_err_set(err, SYN_EIO, "clockfile: read %s: %s", path, strerror(e));
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  if (existed) *existed = true;
  int rc = clockfile_decode(buf, n, bound, err);
  if (rc) {
    *bound = 0;
    syn_err_wrap(err, "%s", path); /* returns SYN_EINTERNAL when err is NULL */
    return rc;
  }
  return 0;
}


/* fsync the directory holding path, so a rename inside it is durable. */
static int fsync_parent(const char *path, syn_err *err) {
  char dir[PATH_MAX];
  const char *slash = strrchr(path, '/');
  if (!slash) {
    snprintf(dir, sizeof dir, ".");
  } else if (slash == path) {
    snprintf(dir, sizeof dir, "/");
  } else {
    size_t n = (size_t)(slash - path);
    if (n >= sizeof dir) return syn_err_set(err, SYN_EIO, "clockfile: path too long");
    memcpy(dir, path, n);
    dir[n] = '\0';
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return syn_err_set(err, SYN_EIO, "clockfile: open dir %s: %s", dir, strerror(errno));
  if (fsync(fd) != 0) {
    int e = errno;
    close(fd);
    return syn_err_set(err, SYN_EIO, "clockfile: fsync dir %s: %s", dir, strerror(e));
  }
  close(fd);
  return 0;
}

int clockfile_write(const char *path, uint64_t bound, syn_err *err) {
  char tmp[PATH_MAX];
  int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if (n < 0 || (size_t)n >= sizeof tmp)
    return syn_err_set(err, SYN_EIO, "clockfile: path too long: %s", path);
  uint8_t img[CLOCKFILE_SIZE];
  clockfile_encode(bound, img);

  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return syn_err_set(err, SYN_EIO, "clockfile: create %s: %s", tmp, strerror(errno));
  /* Invariant (I) of txn/hlc.h: the new bound must be on stable storage
  ** before the rename can expose it and before the clock relies on it. */
  if (syn_write_all(fd, img, sizeof img) != 0 || fsync(fd) != 0) {
    int e = errno;
    close(fd);
    unlink(tmp);
    return syn_err_set(err, SYN_EIO, "clockfile: write %s: %s", tmp, strerror(e));
  }
  if (close(fd) != 0) {
    int e = errno;
    unlink(tmp);
    return syn_err_set(err, SYN_EIO, "clockfile: close %s: %s", tmp, strerror(e));
  }
  if (rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return syn_err_set(err, SYN_EIO, "clockfile: rename %s -> %s: %s", tmp, path, strerror(e));
  }
  /* The rename is durable only once the directory entry is: fsync the
  ** directory before acknowledging (same invariant). */
  return fsync_parent(path, err);
}
