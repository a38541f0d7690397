/*
** Tests of the durable acceptor log (coordinator/paxos/paxos_store.c):
** exact recovery, a torn tail cut at every byte offset of the last record,
** corrupt CRCs, compaction behind a snapshot (and a crash in the middle of
** one), the wiped-member marker, sticky write errors.
*/
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coordinator/paxos/paxos_store.h"

static char dir[256];

static void rm_rf(const char *d) {
  DIR *dd = opendir(d);
  if (!dd) return;
  struct dirent *e;
  char p[512];
  while ((e = readdir(dd))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof p, "%s/%s", d, e->d_name);
    unlink(p);
  }
  closedir(dd);
  rmdir(d);
}

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/paxos_store_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}
static void teardown(void) { rm_rf(dir); }

TestSuite(paxos_store, .init = setup, .fini = teardown);

static int nosync_count;
static int nosync(int fd, void *ud) {
  (void)fd;
  (void)ud;
  nosync_count++;
  return 0;
}
static const paxos_store_opts fast = {.sync_fn = nosync};

static paxos_store *open_st(paxos_store_mode mode) {
  paxos_store *st = NULL;
  syn_err e;
  int rc = paxos_store_open(dir, mode, &fast, &st, &e);
  cr_assert_eq(rc, 0, "open: %s", e.msg);
  return st;
}

static void append(paxos_store *st, const paxos_rec *r, size_t n) {
  syn_err e;
  cr_assert_eq(paxos_store_append(st, r, n, &e), 0, "append: %s", e.msg);
}

/* The replayed state as text, for exact comparisons. */
typedef struct dump {
  char s[8192];
  size_t n;
} dump;
static int dump_fn(const paxos_rec *r, void *ud) {
  dump *d = ud;
  d->n += (size_t)snprintf(d->s + d->n, sizeof d->s - d->n, "%d:%llu:%llu:%.*s;", (int)r->type,
                           (unsigned long long)r->slot, (unsigned long long)r->ballot,
                           (int)r->len, r->data ? (const char *)r->data : "");
  return 0;
}
static void replay(paxos_store *st, dump *d) {
  memset(d, 0, sizeof *d);
  cr_assert_eq(paxos_store_replay(st, dump_fn, d), 0);
}

static paxos_rec acc(uint64_t slot, uint64_t b, const char *v) {
  return (paxos_rec){.type = PAXOS_REC_ACCEPT, .slot = slot, .ballot = b,
                     .data = (const uint8_t *)v, .len = (uint32_t)strlen(v)};
}

static char logpath[512];
static const char *log_of(uint64_t gen) {
  snprintf(logpath, sizeof logpath, "%s/log-%016llx", dir, (unsigned long long)gen);
  return logpath;
}
static long fsize(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}
static bool exists(const char *name) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return access(p, F_OK) == 0;
}

Test(paxos_store, fresh_bootstrap_is_empty_and_marked) {
  paxos_store *st = open_st(PAXOS_STORE_BOOTSTRAP);
  paxos_store_stats s;
  paxos_store_get_stats(st, &s);
  cr_assert(!s.wiped);
  cr_assert(!s.rejoining);
  dump d;
  replay(st, &d);
  cr_assert_str_eq(d.s, "");
  cr_assert(exists("MEMBER"));
  paxos_store_close(st);
}

Test(paxos_store, reopen_recovers_exactly) {
  paxos_store *st = open_st(PAXOS_STORE_BOOTSTRAP);
  paxos_rec r1[] = {{.type = PAXOS_REC_PROMISE, .ballot = PAXOS_BALLOT(2, 1)}, acc(1, PAXOS_BALLOT(2, 1), "one"),
                    acc(2, PAXOS_BALLOT(2, 1), "two")};
  append(st, r1, 3);
  paxos_rec r2[] = {acc(2, PAXOS_BALLOT(3, 2), "TWO"),
                    {.type = PAXOS_REC_LEARN, .slot = 4, .data = (const uint8_t *)"four", .len = 4},
                    {.type = PAXOS_REC_COMMIT, .slot = 2}};
  append(st, r2, 3);
  dump before;
  replay(st, &before);
  paxos_store_close(st);
  st = open_st(PAXOS_STORE_MEMBER);
  dump after;
  replay(st, &after);
  cr_assert_str_eq(after.s, before.s);
  /* The ACCEPT at ballot 3.2 raised the promise; slot 2 holds the newer value. */
  char want[256];
  snprintf(want, sizeof want, "1:0:%llu:;2:1:%llu:one;2:2:%llu:TWO;3:4:0:four;4:2:0:;",
           (unsigned long long)PAXOS_BALLOT(3, 2), (unsigned long long)PAXOS_BALLOT(2, 1),
           (unsigned long long)PAXOS_BALLOT(3, 2));
  cr_assert_str_eq(after.s, want);
  paxos_store_stats s;
  paxos_store_get_stats(st, &s);
  cr_assert(!s.wiped);
  cr_assert_eq(s.truncated_bytes, 0);
  paxos_store_close(st);
}

static uint8_t *slurp(const char *p, long *n) {
  *n = fsize(p);
  uint8_t *b = malloc((size_t)*n + 1);
  FILE *f = fopen(p, "rb");
  cr_assert_eq(fread(b, 1, (size_t)*n, f), (size_t)*n);
  fclose(f);
  return b;
}
static void spit(const char *p, const uint8_t *b, long n) {
  FILE *f = fopen(p, "wb");
  cr_assert_eq(fwrite(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
}

Test(paxos_store, torn_tail_at_every_offset_of_the_last_record) {
  paxos_store *st = open_st(PAXOS_STORE_BOOTSTRAP);
  paxos_rec r1[] = {{.type = PAXOS_REC_PROMISE, .ballot = 7}, acc(1, 7, "alpha")};
  append(st, r1, 2);
  dump good;
  replay(st, &good);
  long off0 = fsize(log_of(1));
  paxos_rec r2 = acc(2, 7, "the last record");
  append(st, &r2, 1);
  paxos_store_close(st);
  long full;
  uint8_t *img = slurp(log_of(1), &full);
  cr_assert_gt(full, off0);
  for (long cut = off0; cut < full; cut++) {
    spit(log_of(1), img, cut);
    st = open_st(PAXOS_STORE_MEMBER);
    dump d;
    replay(st, &d);
    cr_assert_str_eq(d.s, good.s, "cut at %ld", cut);
    paxos_store_stats s;
    paxos_store_get_stats(st, &s);
    cr_assert_eq(s.truncated_bytes, (uint64_t)(cut - off0), "cut at %ld", cut);
    cr_assert_eq(fsize(log_of(1)), off0, "the tail is cut off on disk");
    /* Appends continue after the valid prefix. */
    append(st, &r2, 1);
    paxos_store_close(st);
    st = open_st(PAXOS_STORE_MEMBER);
    paxos_store_get_stats(st, &s);
    cr_assert_eq(s.truncated_bytes, 0);
    cr_assert_eq(s.entries, 2);
    paxos_store_close(st);
  }
  free(img);
}

Test(paxos_store, corrupt_crc_cuts_from_the_bad_record) {
  paxos_store *st = open_st(PAXOS_STORE_BOOTSTRAP);
  paxos_rec a = acc(1, 5, "first"), b = acc(2, 5, "second"), c = acc(3, 5, "third");
  append(st, &a, 1);
  long off1 = fsize(log_of(1));
  append(st, &b, 1);
  long off2 = fsize(log_of(1));
  append(st, &c, 1);
  paxos_store_close(st);
  long n;
  uint8_t *img = slurp(log_of(1), &n);
  /* A flipped data byte in the last record: only it is lost. */
  img[n - 1] ^= 0x40;
  spit(log_of(1), img, n);
  st = open_st(PAXOS_STORE_MEMBER);
  paxos_store_stats s;
  paxos_store_get_stats(st, &s);
  cr_assert_eq(s.entries, 2);
  cr_assert_eq(s.truncated_bytes, (uint64_t)(n - off2));
  paxos_store_close(st);
  /* A flipped CRC byte in the middle record: it and everything after go. */
  img[n - 1] ^= 0x40;
  img[off1 + 5] ^= 0x01;
  spit(log_of(1), img, n);
  st = open_st(PAXOS_STORE_MEMBER);
  paxos_store_get_stats(st, &s);
  cr_assert_eq(s.entries, 1);
  cr_assert_eq(s.truncated_bytes, (uint64_t)(n - off1));
  paxos_store_close(st);
  free(img);
}

Test(paxos_store, snapshot_compacts_into_a_new_segment) {
  paxos_store *st = open_st(PAXOS_STORE_BOOTSTRAP);
  paxos_rec r[] = {{.type = PAXOS_REC_PROMISE, .ballot = 9}, acc(1, 9, "a"), acc(2, 9, "b"),
                   acc(3, 9, "c"), acc(4, 9, "d"), {.type = PAXOS_REC_COMMIT, .slot = 3}};
  append(st, r, 6);
  paxos_rec snap = {.type = PAXOS_REC_SNAPSHOT, .slot = 3, .data = (const uint8_t *)"STATE",
                    .len = 5};
  paxos_rec after[] = {snap, acc(5, 9, "e")};
  append(st, after, 2);
  paxos_store_stats s;
  paxos_store_get_stats(st, &s);
  cr_assert_eq(s.gen, 2);
  cr_assert_eq(s.compactions, 1);
  cr_assert_eq(s.snap_slot, 3);
  cr_assert_eq(s.entries, 2);
  cr_assert(!exists("log-0000000000000001"));
  cr_assert(exists("snap-0000000000000002"));
  dump before;
  replay(st, &before);
  paxos_store_close(st);
  st = open_st(PAXOS_STORE_MEMBER);
  dump d;
  replay(st, &d);
  cr_assert_str_eq(d.s, before.s);
  cr_assert_str_eq(d.s, "5:3:0:STATE;1:0:9:;2:4:9:d;2:5:9:e;"); /* commit == snapshot: implied */
  /* An older snapshot than the one held is ignored. */
  paxos_rec old = {.type = PAXOS_REC_SNAPSHOT, .slot = 2, .data = (const uint8_t *)"X", .len = 1};
  append(st, &old, 1);
  paxos_store_get_stats(st, &s);
  cr_assert_eq(s.gen, 2);
  paxos_store_close(st);
}

Test(paxos_store, crash_in_the_middle_of_compaction_keeps_the_old_generation) {
  paxos_store *st = open_st(PAXOS_STORE_BOOTSTRAP);
  paxos_rec r[] = {acc(1, 3, "a"), acc(2, 3, "b")};
  append(st, r, 2);
  dump before;
  replay(st, &before);
  paxos_store_close(st);
  /* What a crash after the snapshot file but before the new segment's
  ** rename leaves behind. */
  char p[512];
  snprintf(p, sizeof p, "%s/snap-0000000000000002", dir);
  spit(p, (const uint8_t *)"partial", 7);
  snprintf(p, sizeof p, "%s/log-0000000000000002.tmp", dir);
  spit(p, (const uint8_t *)"partial", 7);
  st = open_st(PAXOS_STORE_MEMBER);
  dump d;
  replay(st, &d);
  cr_assert_str_eq(d.s, before.s);
  cr_assert(!exists("snap-0000000000000002"));
  cr_assert(!exists("log-0000000000000002.tmp"));
  paxos_store_close(st);
}

Test(paxos_store, corrupt_snapshot_is_an_error) {
  paxos_store *st = open_st(PAXOS_STORE_BOOTSTRAP);
  paxos_rec r[] = {acc(1, 3, "a"), {.type = PAXOS_REC_SNAPSHOT, .slot = 1,
                                    .data = (const uint8_t *)"SNAPDATA", .len = 8}};
  append(st, r, 2);
  paxos_store_close(st);
  char p[512];
  snprintf(p, sizeof p, "%s/snap-0000000000000002", dir);
  long n;
  uint8_t *img = slurp(p, &n);
  img[26] ^= 1;
  spit(p, img, n);
  free(img);
  paxos_store *st2 = NULL;
  syn_err e;
  cr_assert_eq(paxos_store_open(dir, PAXOS_STORE_MEMBER, &fast, &st2, &e), SYN_ECORRUPT);
  cr_assert_null(st2);
}

Test(paxos_store, wiped_member_rejoins_until_voter) {
  /* An existing member whose directory is empty lost its disk. */
  paxos_store *st = open_st(PAXOS_STORE_MEMBER);
  paxos_store_stats s;
  paxos_store_get_stats(st, &s);
  cr_assert(s.wiped);
  cr_assert(s.rejoining);
  dump d;
  replay(st, &d);
  cr_assert_str_eq(d.s, "6:0:0:;");
  paxos_store_close(st);
  /* A crash while rejoining: still a learner, though no longer "wiped". */
  st = open_st(PAXOS_STORE_MEMBER);
  paxos_store_get_stats(st, &s);
  cr_assert(!s.wiped);
  cr_assert(s.rejoining);
  paxos_rec v = {.type = PAXOS_REC_VOTER, .ballot = PAXOS_BALLOT(8, 2)};
  append(st, &v, 1);
  paxos_store_close(st);
  st = open_st(PAXOS_STORE_MEMBER);
  paxos_store_get_stats(st, &s);
  cr_assert(!s.rejoining);
  cr_assert_eq(s.promised, PAXOS_BALLOT(8, 2));
  /* Survives compaction too. */
  paxos_rec snap = {.type = PAXOS_REC_SNAPSHOT, .slot = 4, .data = (const uint8_t *)"S", .len = 1};
  append(st, &snap, 1);
  paxos_store_close(st);
  st = open_st(PAXOS_STORE_MEMBER);
  paxos_store_get_stats(st, &s);
  cr_assert(!s.rejoining);
  cr_assert_eq(s.promised, PAXOS_BALLOT(8, 2));
  paxos_store_close(st);
}

Test(paxos_store, marker_without_log_is_an_error) {
  paxos_store *st = open_st(PAXOS_STORE_BOOTSTRAP);
  paxos_store_close(st);
  cr_assert_eq(unlink(log_of(1)), 0);
  syn_err e;
  cr_assert_eq(paxos_store_open(dir, PAXOS_STORE_MEMBER, &fast, &st, &e), SYN_ECORRUPT);
  cr_assert_null(st);
}

Test(paxos_store, rejoin_survives_compaction) {
  paxos_store *st = open_st(PAXOS_STORE_MEMBER);
  paxos_rec snap = {.type = PAXOS_REC_SNAPSHOT, .slot = 4, .data = (const uint8_t *)"S", .len = 1};
  append(st, &snap, 1);
  paxos_store_close(st);
  st = open_st(PAXOS_STORE_MEMBER);
  paxos_store_stats s;
  paxos_store_get_stats(st, &s);
  cr_assert(s.rejoining);
  paxos_store_close(st);
}

static int failing_sync(int fd, void *ud) {
  (void)fd;
  return *(int *)ud ? -1 : 0;
}

Test(paxos_store, sync_failure_is_sticky) {
  int fail = 0;
  paxos_store_opts o = {.sync_fn = failing_sync, .sync_ud = &fail};
  paxos_store *st = NULL;
  syn_err e;
  cr_assert_eq(paxos_store_open(dir, PAXOS_STORE_BOOTSTRAP, &o, &st, &e), 0);
  paxos_rec a = acc(1, 1, "x");
  cr_assert_eq(paxos_store_append(st, &a, 1, &e), 0);
  fail = 1;
  cr_assert_eq(paxos_store_append(st, &a, 1, &e), SYN_EIO);
  fail = 0;
  cr_assert_eq(paxos_store_append(st, &a, 1, &e), SYN_EIO, "sticky until reopened");
  paxos_store_close(st);
  cr_assert_eq(paxos_store_open(dir, PAXOS_STORE_BOOTSTRAP, &o, &st, &e), 0);
  cr_assert_eq(paxos_store_append(st, &a, 1, &e), 0);
  paxos_store_close(st);
}

Test(paxos_store, malformed_records_are_refused) {
  paxos_store *st = open_st(PAXOS_STORE_BOOTSTRAP);
  paxos_rec bad = {.type = 99};
  syn_err e;
  cr_assert_eq(paxos_store_append(st, &bad, 1, &e), SYN_EINVAL);
  paxos_store_close(st);
  paxos_store *st2 = NULL;
  cr_assert_eq(paxos_store_open(dir, 7, NULL, &st2, &e), SYN_EINVAL);
}

/* The store's replay feeds a core that recovers exactly what it promised. */
static void n_send(void *ud, const paxos_msg *m) { (void)ud; (void)m; }
static void n_persist(void *ud, uint64_t s, const paxos_rec *r, size_t n) { (void)ud; (void)s; (void)r; (void)n; }
static void n_apply(void *ud, uint64_t s, const paxos_value *v, uint32_t n) {
  (*(uint64_t *)ud)++;
  (void)s; (void)v; (void)n;
}
static int n_install(void *ud, uint64_t s, const uint8_t *d, size_t l) { (void)ud; (void)s; (void)d; (void)l; return 0; }
static void n_done(void *ud, uint64_t id, int st, uint64_t s) { (void)ud; (void)id; (void)st; (void)s; }
static int restore_fn(const paxos_rec *r, void *ud) { return paxos_restore(ud, r, NULL); }

Test(paxos_store, replay_restores_the_core) {
  paxos_store *st = open_st(PAXOS_STORE_BOOTSTRAP);
  paxos_rec r[] = {acc(1, PAXOS_BALLOT(4, 1), ""), acc(2, PAXOS_BALLOT(4, 1), ""),
                   acc(3, PAXOS_BALLOT(4, 1), ""), {.type = PAXOS_REC_COMMIT, .slot = 2}};
  append(st, r, 4);
  uint64_t applied = 0;
  paxos_io io = {.ud = &applied, .send = n_send, .persist = n_persist, .apply = n_apply,
                 .snapshot_install = n_install, .proposal_done = n_done};
  paxos_config cfg;
  paxos_config_default(&cfg);
  cfg.self = 1;
  cfg.nnodes = 3;
  cfg.nodes[0] = 1, cfg.nodes[1] = 2, cfg.nodes[2] = 3;
  paxos *p;
  cr_assert_eq(paxos_new(&cfg, &io, &p, NULL), 0);
  cr_assert_eq(paxos_store_replay(st, restore_fn, p), 0);
  cr_assert_eq(paxos_start(p, 0, NULL), 0);
  paxos_status s;
  paxos_get_status(p, &s);
  cr_assert_eq(s.promised, PAXOS_BALLOT(4, 1));
  cr_assert_eq(s.chosen, 2);
  cr_assert_eq(applied, 2);
  paxos_free(p);
  paxos_store_close(st);
}
