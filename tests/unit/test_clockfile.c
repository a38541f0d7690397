/*
** The HLC bound file: round trips, missing vs corrupt, the temp-file
** protocol, and I/O errors, all inside a fresh temporary directory.
*/
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clockfile.h"
#include "txn/hlc.h"

static char dir[64];
static char path[128];

static void mk_tmpdir(void) {
  snprintf(dir, sizeof dir, "/tmp/synod-clockfile-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/hlc.bound", dir);
}

static void rm_tmpdir(void) {
  char p[160];
  unlink(path);
  snprintf(p, sizeof p, "%s.tmp", path);
  unlink(p);
  rmdir(dir);
}

static void put_file(const uint8_t *bytes, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  cr_assert_geq(fd, 0);
  cr_assert_eq(write(fd, bytes, n), (ssize_t)n);
  close(fd);
}

static size_t get_file(uint8_t *buf, size_t cap) {
  int fd = open(path, O_RDONLY);
  cr_assert_geq(fd, 0);
  ssize_t n = read(fd, buf, cap);
  close(fd);
  cr_assert_geq(n, 0);
  return (size_t)n;
}

TestSuite(clockfile, .init = mk_tmpdir, .fini = rm_tmpdir);

Test(clockfile, missing_file_is_zero_and_not_an_error) {
  uint64_t b = 77;
  bool existed = true;
  syn_err e;
  syn_err_clear(&e);
  cr_assert_eq(clockfile_read(path, &b, &existed, &e), 0);
  cr_assert_eq(b, 0);
  cr_assert_not(existed);
  cr_assert_eq(e.code, 0);
  cr_assert_eq(clockfile_read(path, &b, NULL, NULL), 0, "existed may be NULL");
}

Test(clockfile, write_then_read_round_trips) {
  const uint64_t vals[] = {0, 1, UINT64_C(1732526402123), UINT64_C(0xFFFFFFFFFFFF), UINT64_MAX};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    syn_err e;
    cr_assert_eq(clockfile_write(path, vals[i], &e), 0, "%s", e.msg);
    uint64_t b = 0;
    bool existed = false;
    cr_assert_eq(clockfile_read(path, &b, &existed, &e), 0, "%s", e.msg);
    cr_assert(existed);
    cr_assert_eq(b, vals[i]);
  }
  /* The protocol leaves no temp file behind. */
  char tmp[160];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  cr_assert_neq(access(tmp, F_OK), 0);
}

Test(clockfile, layout_is_magic_big_endian_bound_and_crc) {
  cr_assert_eq(clockfile_write(path, UINT64_C(0x0102030405060708), NULL), 0);
  uint8_t buf[64];
  size_t n = get_file(buf, sizeof buf);
  cr_assert_eq(n, CLOCKFILE_SIZE);
  cr_assert_eq(memcmp(buf, "SYNHLCB1", 8), 0);
  const uint8_t be[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  cr_assert_eq(memcmp(buf + 8, be, 8), 0);
  uint8_t img[CLOCKFILE_SIZE];
  clockfile_encode(UINT64_C(0x0102030405060708), img);
  cr_assert_eq(memcmp(buf, img, CLOCKFILE_SIZE), 0);
}

Test(clockfile, every_single_byte_flip_is_corrupt) {
  cr_assert_eq(clockfile_write(path, UINT64_C(1732526402123), NULL), 0);
  uint8_t good[CLOCKFILE_SIZE];
  cr_assert_eq(get_file(good, sizeof good), CLOCKFILE_SIZE);
  for (int i = 0; i < CLOCKFILE_SIZE; i++) {
    for (int bit = 0; bit < 8; bit++) {
      uint8_t bad[CLOCKFILE_SIZE];
      memcpy(bad, good, sizeof bad);
      bad[i] ^= (uint8_t)(1u << bit);
      put_file(bad, sizeof bad);
      uint64_t b = 5;
      bool existed = false;
      syn_err e;
      syn_err_clear(&e);
      cr_assert_eq(clockfile_read(path, &b, &existed, &e), SYN_ECORRUPT, "byte %d bit %d", i, bit);
      cr_assert(existed, "a corrupt file exists: not to be confused with a missing one");
      cr_assert_eq(b, 0);
      cr_assert(strstr(e.msg, path) != NULL, "message names the file: %s", e.msg);
    }
  }
}

Test(clockfile, wrong_sizes_are_corrupt) {
  uint8_t img[CLOCKFILE_SIZE + 8];
  clockfile_encode(12345, img);
  memset(img + CLOCKFILE_SIZE, 0, 8);
  const size_t sizes[] = {0, 1, 8, 16, CLOCKFILE_SIZE - 1, CLOCKFILE_SIZE + 1, CLOCKFILE_SIZE + 8};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    put_file(img, sizes[i]);
    uint64_t b;
    cr_assert_eq(clockfile_read(path, &b, NULL, NULL), SYN_ECORRUPT, "size %zu", sizes[i]);
  }
  put_file(img, CLOCKFILE_SIZE);
  uint64_t b;
  cr_assert_eq(clockfile_read(path, &b, NULL, NULL), 0);
  cr_assert_eq(b, 12345);
}

Test(clockfile, decode_rejects_other_formats) {
  uint8_t img[CLOCKFILE_SIZE];
  clockfile_encode(9, img);
  uint64_t b = 0;
  cr_assert_eq(clockfile_decode(img, sizeof img, &b, NULL), 0);
  cr_assert_eq(b, 9);
  img[7] = '2'; /* a future format version */
  syn_err e;
  cr_assert_eq(clockfile_decode(img, sizeof img, &b, &e), SYN_ECORRUPT);
  cr_assert(strstr(e.msg, "magic") != NULL, "%s", e.msg);
}

Test(clockfile, stale_temp_file_is_ignored_and_replaced) {
  cr_assert_eq(clockfile_write(path, 1000, NULL), 0);
  /* A crash mid-write leaves a half-written temp file behind. */
  char tmp[160];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  cr_assert_geq(fd, 0);
  cr_assert_eq(write(fd, "SYNH", 4), 4);
  close(fd);
  uint64_t b;
  cr_assert_eq(clockfile_read(path, &b, NULL, NULL), 0);
  cr_assert_eq(b, 1000);
  cr_assert_eq(clockfile_write(path, 2000, NULL), 0);
  cr_assert_eq(clockfile_read(path, &b, NULL, NULL), 0);
  cr_assert_eq(b, 2000);
  cr_assert_neq(access(tmp, F_OK), 0);
}

Test(clockfile, io_errors_are_eio_and_keep_the_old_file) {
  char bad[192];
  snprintf(bad, sizeof bad, "%s/no-such-dir/hlc.bound", dir);
  syn_err e;
  syn_err_clear(&e);
  cr_assert_eq(clockfile_write(bad, 5, &e), SYN_EIO);
  cr_assert(strstr(e.msg, "no-such-dir") != NULL, "%s", e.msg);

  /* Reading a directory is an I/O error, not "missing" and not "corrupt". */
  uint64_t b;
  cr_assert_eq(clockfile_read(dir, &b, NULL, &e), SYN_EIO);

  /* A failed rename (target is a non-empty directory) keeps the old data
  ** at the target and removes the temp file. */
  cr_assert_eq(clockfile_write(path, 3000, NULL), 0);
  char sub[192], subfile[224];
  snprintf(sub, sizeof sub, "%s/blocker", dir);
  snprintf(subfile, sizeof subfile, "%s/x", sub);
  cr_assert_eq(mkdir(sub, 0755), 0);
  int fd = open(subfile, O_WRONLY | O_CREAT, 0644);
  cr_assert_geq(fd, 0);
  close(fd);
  cr_assert_eq(clockfile_write(sub, 4000, &e), SYN_EIO);
  char subtmp[224];
  snprintf(subtmp, sizeof subtmp, "%s.tmp", sub);
  cr_assert_neq(access(subtmp, F_OK), 0, "temp file cleaned up");
  unlink(subfile);
  rmdir(sub);
  cr_assert_eq(clockfile_read(path, &b, NULL, NULL), 0);
  cr_assert_eq(b, 3000);
}

Test(clockfile, relative_path_in_current_directory) {
  char cwd[512];
  cr_assert_not_null(getcwd(cwd, sizeof cwd));
  cr_assert_eq(chdir(dir), 0);
  cr_assert_eq(clockfile_write("hlc.bound", 42, NULL), 0);
  uint64_t b;
  cr_assert_eq(clockfile_read("hlc.bound", &b, NULL, NULL), 0);
  cr_assert_eq(b, 42);
  cr_assert_eq(chdir(cwd), 0);
}

/* The daemon's loop end to end: the clock asks for bounds, they go through
** the real file, the process "crashes" and restarts with its physical clock
** stepped back, and nothing issued afterwards is <= anything before. */
static uint64_t test_clock(void *ctx) { return *(uint64_t *)ctx; }

Test(clockfile, hlc_restart_through_the_file) {
  uint64_t now_ms = UINT64_C(1732526400000);
  hlc_ts max_before = 0;
  for (int life = 0; life < 3; life++) {
    hlc h;
    cr_assert_eq(hlc_init(&h, test_clock, &now_ms, 500, NULL), 0);
    uint64_t disk;
    bool existed;
    cr_assert_eq(clockfile_read(path, &disk, &existed, NULL), 0);
    cr_assert_eq(existed, life > 0);
    cr_assert_eq(hlc_restore(&h, disk, NULL), 0);
    for (int i = 0; i < 5000; i++) {
      now_ms += (uint64_t)(i % 3);
      uint64_t nb;
      if (hlc_bound_needed(&h, &nb)) {
        cr_assert_eq(clockfile_write(path, nb, NULL), 0);
        cr_assert_eq(hlc_bound_persisted(&h, nb, NULL), 0);
      }
      hlc_ts t;
      cr_assert_eq(hlc_now(&h, &t, NULL), 0);
      cr_assert_gt(t, max_before, "life %d event %d", life, i);
      max_before = t;
    }
    now_ms -= 60000; /* the clock is stepped back while the node is down */
  }
}
