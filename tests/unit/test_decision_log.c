#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/crc32c.h"
#include "coordinator/decision_log.h"

/* ---- fixture: a private directory per test ------------------------------- */

static char dir[256];
static char path[300];

static void setup(void) {
  /* Torn-tail tests log a WARN per reopen: keep the output readable. */
  syn_log_init("test", SYN_LOG_ERROR, 2);
  snprintf(dir, sizeof dir, "/tmp/synod-dlog-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/decisions.log", dir);
}

static void teardown(void) {
  char p[400];
  snprintf(p, sizeof p, "%s.compact", path);
  unlink(p);
  unlink(path);
  rmdir(dir);
}

TestSuite(decision_log, .init = setup, .fini = teardown);

/* ---- helpers --------------------------------------------------------------- */

typedef struct got {
  int calls;
  uint64_t txn;
  int status;
  dlog_record rec;
  uint32_t parts[8];
} got;

static void on_cb(int status, uint64_t txn, const dlog_record *chosen, void *ud) {
  got *g = ud;
  g->txn = txn;
  g->calls++;
  g->status = status;
  if (chosen) {
    g->rec = *chosen;
    for (uint32_t i = 0; i < chosen->nparts && i < 8; i++) g->parts[i] = chosen->parts[i];
    g->rec.parts = g->parts;
  }
}

static int sync_count;
static int sync_fail;
static int counting_sync(int fd, void *ud) {
  (void)ud;
  if (sync_fail) return -1;
  sync_count++;
  return fdatasync(fd);
}

static dlog *open_log(const dlog_opts *o) {
  dlog *log = NULL;
  syn_err e;
  int rc = dlog_open(path, o, &log, &e);
  cr_assert_eq(rc, 0, "dlog_open: %s", e.msg);
  return log;
}

static void propose(dlog *log, uint64_t txn, dlog_outcome o, uint64_t ts, uint32_t n, got *g) {
  uint32_t parts[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  dlog_record r = {.txn = txn, .outcome = o, .commit_ts = o == DLOG_COMMIT ? ts : 0,
                   .nparts = n, .parts = parts};
  syn_err e;
  cr_assert_eq(dlog_propose(log, &r, on_cb, g, &e), 0, "propose: %s", e.msg);
}

static void flush(dlog *log) {
  syn_err e;
  cr_assert_eq(dlog_flush(log, &e), 0, "flush: %s", e.msg);
}

static long file_size(void) {
  struct stat sb;
  cr_assert_eq(stat(path, &sb), 0);
  return (long)sb.st_size;
}

static uint8_t *slurp(long *n) {
  *n = file_size();
  uint8_t *b = malloc((size_t)*n);
  FILE *f = fopen(path, "rb");
  cr_assert_eq(fread(b, 1, (size_t)*n, f), (size_t)*n);
  fclose(f);
  return b;
}

static void spit(const uint8_t *b, long n) {
  FILE *f = fopen(path, "wb");
  cr_assert_eq(fwrite(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
}

typedef struct walk {
  int n;
  uint64_t txns[256];
} walk;

static int collect(const dlog_record *r, void *ud) {
  walk *w = ud;
  w->txns[w->n++] = r->txn;
  return 0;
}

/* ---- tests ----------------------------------------------------------------- */

Test(decision_log, crc32c_check_values) {
  cr_assert_eq(crc32c_update(0, "123456789", 9), 0xE3069283u);
  cr_assert_eq(crc32c_update(0, "", 0), 0u);
  /* Incremental equals one-shot. */
  uint32_t c = crc32c_update(0, "1234", 4);
  cr_assert_eq(crc32c_update(c, "56789", 5), 0xE3069283u);
  uint8_t zeros[32] = {0};
  cr_assert_eq(crc32c_update(0, zeros, 32), 0x8A9136AAu); /* RFC 3720 B.4 */
}

Test(decision_log, append_and_replay) {
  dlog *log = open_log(NULL);
  got a = {0}, b = {0}, c = {0};
  propose(log, 10, DLOG_COMMIT, 500, 3, &a);
  propose(log, 11, DLOG_ABORT, 0, 1, &b);
  propose(log, 12, DLOG_COMMIT, 700, 2, &c);
  cr_assert_eq(a.calls, 0, "callback ran before the flush");
  cr_assert_eq(dlog_lookup(log, 10, NULL, NULL), SYN_EBUSY);
  flush(log);
  cr_assert_eq(a.calls, 1);
  cr_assert_eq(a.status, 0);
  cr_assert_eq(a.rec.outcome, DLOG_COMMIT);
  cr_assert_eq(a.rec.commit_ts, 500);
  cr_assert_eq(a.rec.nparts, 3);
  cr_assert_eq(a.parts[2], 3);
  cr_assert_eq(b.rec.outcome, DLOG_ABORT);
  cr_assert_eq(c.rec.commit_ts, 700);
  syn_err e;
  cr_assert_eq(dlog_mark_done(log, 11, &e), 0);
  cr_assert_eq(dlog_mark_done(log, 999, &e), SYN_ENOTFOUND);
  flush(log);
  dlog_close(log);

  log = open_log(NULL);
  dlog_record r;
  bool done;
  cr_assert_eq(dlog_lookup(log, 10, &r, &done), 0);
  cr_assert_eq(r.outcome, DLOG_COMMIT);
  cr_assert_eq(r.commit_ts, 500);
  cr_assert_eq(r.nparts, 3);
  cr_assert_eq(r.parts[0], 1);
  cr_assert_not(done);
  cr_assert_eq(dlog_lookup(log, 11, &r, &done), 0);
  cr_assert_eq(r.outcome, DLOG_ABORT);
  cr_assert(done);
  cr_assert_eq(dlog_lookup(log, 13, &r, &done), SYN_ENOTFOUND);
  walk w = {0};
  cr_assert_eq(dlog_foreach_undone(log, collect, &w), 0);
  cr_assert_eq(w.n, 2);
  cr_assert_eq(w.txns[0], 10);
  cr_assert_eq(w.txns[1], 12);
  dlog_close(log);
}

Test(decision_log, first_decision_wins) {
  dlog *log = open_log(NULL);
  got c1 = {0}, a1 = {0}, a2 = {0}, c2 = {0};
  /* Same batch: the ABORT queued after the COMMIT is answered with COMMIT. */
  propose(log, 7, DLOG_COMMIT, 42, 2, &c1);
  propose(log, 7, DLOG_ABORT, 0, 1, &a1);
  flush(log);
  cr_assert_eq(c1.rec.outcome, DLOG_COMMIT);
  cr_assert_eq(a1.status, 0);
  cr_assert_eq(a1.rec.outcome, DLOG_COMMIT);
  cr_assert_eq(a1.rec.commit_ts, 42);
  /* Later batch, durable decision: still answered only from a flush. */
  propose(log, 7, DLOG_ABORT, 0, 1, &a2);
  cr_assert_eq(a2.calls, 0);
  flush(log);
  cr_assert_eq(a2.calls, 1);
  cr_assert_eq(a2.rec.outcome, DLOG_COMMIT);
  /* ABORT first, then a COMMIT: the ABORT stands. */
  got x = {0};
  propose(log, 8, DLOG_ABORT, 0, 1, &x);
  flush(log);
  propose(log, 8, DLOG_COMMIT, 99, 2, &c2);
  flush(log);
  cr_assert_eq(c2.rec.outcome, DLOG_ABORT);
  cr_assert_eq(c2.rec.commit_ts, 0);
  dlog_close(log);
  log = open_log(NULL);
  dlog_record r;
  cr_assert_eq(dlog_lookup(log, 7, &r, NULL), 0);
  cr_assert_eq(r.outcome, DLOG_COMMIT);
  cr_assert_eq(dlog_lookup(log, 8, &r, NULL), 0);
  cr_assert_eq(r.outcome, DLOG_ABORT);
  dlog_close(log);
}

Test(decision_log, torn_tail_at_every_offset_recovers_earlier_records) {
  dlog *log = open_log(NULL);
  got g = {0};
  propose(log, 1, DLOG_COMMIT, 10, 2, &g);
  propose(log, 2, DLOG_ABORT, 0, 1, &g);
  flush(log);
  long before_last = file_size();
  propose(log, 3, DLOG_COMMIT, 30, 5, &g);
  flush(log);
  dlog_close(log);
  long n;
  uint8_t *orig = slurp(&n);
  cr_assert_gt(n, before_last);
  for (long cut = before_last; cut < n; cut++) {
    spit(orig, cut);
    log = open_log(NULL);
    cr_assert_eq(dlog_lookup(log, 1, NULL, NULL), 0, "cut %ld", cut);
    cr_assert_eq(dlog_lookup(log, 2, NULL, NULL), 0, "cut %ld", cut);
    cr_assert_eq(dlog_lookup(log, 3, NULL, NULL), SYN_ENOTFOUND, "cut %ld", cut);
    dlog_stats st;
    dlog_get_stats(log, &st);
    cr_assert_eq(st.truncated_bytes, (uint64_t)(cut - before_last), "cut %ld", cut);
    cr_assert_eq(file_size(), before_last, "cut %ld: tail not truncated", cut);
    /* The log keeps working after the cut, and the new record replays. */
    got h = {0};
    propose(log, 4, DLOG_COMMIT, 40, 1, &h);
    flush(log);
    cr_assert_eq(h.status, 0);
    dlog_close(log);
    log = open_log(NULL);
    cr_assert_eq(dlog_lookup(log, 4, NULL, NULL), 0, "cut %ld", cut);
    cr_assert_eq(dlog_lookup(log, 1, NULL, NULL), 0, "cut %ld", cut);
    dlog_close(log);
  }
  /* A damaged last record is a torn tail too. */
  uint8_t *copy = malloc((size_t)n);
  memcpy(copy, orig, (size_t)n);
  copy[n - 3] ^= 0x40;
  spit(copy, n);
  log = open_log(NULL);
  cr_assert_eq(dlog_lookup(log, 2, NULL, NULL), 0);
  cr_assert_eq(dlog_lookup(log, 3, NULL, NULL), SYN_ENOTFOUND);
  dlog_close(log);
  free(copy);
  free(orig);
}

Test(decision_log, flipped_byte_in_the_middle_is_corruption) {
  dlog *log = open_log(NULL);
  got g = {0};
  propose(log, 1, DLOG_COMMIT, 10, 2, &g);
  flush(log);
  long start = file_size();
  propose(log, 2, DLOG_COMMIT, 20, 3, &g);
  flush(log);
  long end = file_size();
  propose(log, 3, DLOG_ABORT, 0, 1, &g);
  flush(log);
  dlog_close(log);
  long n;
  uint8_t *orig = slurp(&n);
  /* Every byte of the middle record, and every header byte. */
  for (long off = 0; off < end; off++) {
    if (off >= 16 && off < start) continue; /* record 1: checked below */
    uint8_t *copy = malloc((size_t)n);
    memcpy(copy, orig, (size_t)n);
    copy[off] ^= 0x01;
    spit(copy, n);
    free(copy);
    dlog *l2 = NULL;
    syn_err e;
    int rc = dlog_open(path, NULL, &l2, &e);
    cr_assert_eq(rc, SYN_ECORRUPT, "flip at %ld: rc %d", off, rc);
    cr_assert_null(l2);
    cr_assert_eq(file_size(), n, "flip at %ld: file was modified", off);
  }
  uint8_t *copy = malloc((size_t)n);
  memcpy(copy, orig, (size_t)n);
  copy[20] ^= 0x80; /* inside record 1 */
  spit(copy, n);
  dlog *l3 = NULL;
  cr_assert_eq(dlog_open(path, NULL, &l3, NULL), SYN_ECORRUPT);
  free(copy);
  free(orig);
}

Test(decision_log, compaction_keeps_undone_transactions) {
  dlog_opts o = {.compact_min_bytes = 512};
  dlog *log = open_log(&o);
  got g = {0};
  for (uint64_t t = 1; t <= 100; t++) propose(log, t, DLOG_COMMIT, t * 10, 3, &g);
  flush(log);
  long full = file_size();
  syn_err e;
  for (uint64_t t = 1; t <= 100; t++)
    if (t % 10 != 0) cr_assert_eq(dlog_mark_done(log, t, &e), 0);
  flush(log); /* writes the done markers, then compacts */
  dlog_stats st;
  dlog_get_stats(log, &st);
  cr_assert_geq(st.compactions, 1);
  cr_assert_eq(st.records, 10);
  cr_assert_lt(file_size(), full / 5);
  cr_assert_eq((long)st.file_bytes, file_size());
  /* Appends land in the new file. */
  propose(log, 500, DLOG_ABORT, 0, 1, &g);
  flush(log);
  dlog_close(log);

  log = open_log(&o);
  walk w = {0};
  dlog_foreach_undone(log, collect, &w);
  cr_assert_eq(w.n, 11);
  for (int i = 0; i < 10; i++) cr_assert_eq(w.txns[i], (uint64_t)(i + 1) * 10);
  cr_assert_eq(w.txns[10], 500);
  dlog_record r;
  cr_assert_eq(dlog_lookup(log, 30, &r, NULL), 0);
  cr_assert_eq(r.commit_ts, 300);
  cr_assert_eq(r.nparts, 3);
  cr_assert_eq(dlog_lookup(log, 31, &r, NULL), SYN_ENOTFOUND);
  /* Explicit compaction of an idle log also works; a busy one refuses. */
  cr_assert_eq(dlog_mark_done(log, 500, &e), 0);
  cr_assert_eq(dlog_compact(log, &e), SYN_EBUSY);
  flush(log);
  cr_assert_eq(dlog_compact(log, &e), 0, "%s", e.msg);
  dlog_close(log);
  log = open_log(&o);
  cr_assert_eq(dlog_lookup(log, 500, &r, NULL), SYN_ENOTFOUND);
  cr_assert_eq(dlog_lookup(log, 100, &r, NULL), 0);
  dlog_close(log);
}

Test(decision_log, stale_compaction_file_is_ignored) {
  dlog *log = open_log(NULL);
  got g = {0};
  propose(log, 5, DLOG_COMMIT, 50, 2, &g);
  flush(log);
  dlog_close(log);
  char tmp[400];
  snprintf(tmp, sizeof tmp, "%s.compact", path);
  FILE *f = fopen(tmp, "wb");
  fputs("half-written compaction", f);
  fclose(f);
  log = open_log(NULL);
  cr_assert_eq(dlog_lookup(log, 5, NULL, NULL), 0);
  cr_assert_neq(access(tmp, F_OK), 0);
  dlog_close(log);
}

Test(decision_log, group_commit_uses_one_sync_per_flush) {
  dlog_opts o = {.sync_fn = counting_sync};
  dlog *log = open_log(&o);
  int base = sync_count;
  got g[200];
  memset(g, 0, sizeof g);
  for (int i = 0; i < 200; i++) propose(log, (uint64_t)i + 1, DLOG_COMMIT, 5, 2, &g[i]);
  flush(log);
  cr_assert_eq(sync_count - base, 1, "200 proposals took %d syncs", sync_count - base);
  for (int i = 0; i < 200; i++) cr_assert_eq(g[i].calls, 1);
  /* Flushing one at a time costs one sync each: the batching is real. */
  base = sync_count;
  for (int i = 0; i < 20; i++) {
    propose(log, 1000 + (uint64_t)i, DLOG_ABORT, 0, 1, &g[i]);
    flush(log);
  }
  cr_assert_eq(sync_count - base, 20);
  /* Nothing queued: no sync at all. */
  base = sync_count;
  flush(log);
  cr_assert_eq(sync_count, base);
  dlog_close(log);
}

Test(decision_log, sync_failure_is_sticky) {
  dlog_opts o = {.sync_fn = counting_sync};
  dlog *log = open_log(&o);
  got a = {0};
  propose(log, 1, DLOG_COMMIT, 5, 2, &a);
  sync_fail = 1;
  syn_err e;
  cr_assert_eq(dlog_flush(log, &e), SYN_EIO);
  cr_assert_eq(a.calls, 1);
  cr_assert_eq(a.status, SYN_EIO);
  cr_assert_eq(a.txn, 1);
  got b = {0};
  uint32_t parts[1] = {1};
  dlog_record r = {.txn = 2, .outcome = DLOG_ABORT, .nparts = 1, .parts = parts};
  cr_assert_eq(dlog_propose(log, &r, on_cb, &b, &e), SYN_EIO);
  cr_assert_eq(dlog_mark_done(log, 1, &e), SYN_EIO);
  cr_assert_eq(dlog_flush(log, &e), SYN_EIO);
  cr_assert_eq(b.calls, 0, "callback ran although propose failed");
  sync_fail = 0;
  dlog_close(log);
  /* Reopen re-reads what reached the file and works again. */
  log = open_log(&o);
  got c = {0};
  propose(log, 3, DLOG_COMMIT, 9, 2, &c);
  flush(log);
  cr_assert_eq(c.status, 0);
  dlog_close(log);
}

typedef struct chain {
  dlog *log;
  got inner;
  int outer_calls;
} chain;

static void chain_cb(int status, uint64_t txn, const dlog_record *chosen, void *ud) {
  chain *ch = ud;
  ch->outer_calls++;
  cr_assert_eq(status, 0);
  /* Re-entering from a callback: queue more work, which waits for the
  ** next flush; flushing from inside is refused. */
  cr_assert_eq(dlog_mark_done(ch->log, chosen->txn, NULL), 0);
  propose(ch->log, chosen->txn + 1, DLOG_ABORT, 0, 1, &ch->inner);
  cr_assert_eq(dlog_flush(ch->log, NULL), SYN_EBUSY);
}

Test(decision_log, callbacks_may_queue_more_work) {
  dlog *log = open_log(NULL);
  chain ch = {.log = log};
  uint32_t parts[2] = {1, 2};
  dlog_record r = {.txn = 50, .outcome = DLOG_COMMIT, .commit_ts = 1, .nparts = 2, .parts = parts};
  cr_assert_eq(dlog_propose(log, &r, chain_cb, &ch, NULL), 0);
  flush(log);
  cr_assert_eq(ch.outer_calls, 1);
  cr_assert_eq(ch.inner.calls, 0);
  cr_assert_eq(dlog_pending(log), 2);
  flush(log);
  cr_assert_eq(ch.inner.calls, 1);
  bool done;
  cr_assert_eq(dlog_lookup(log, 50, NULL, &done), 0);
  cr_assert(done);
  dlog_close(log);
}

Test(decision_log, bad_input_and_limits) {
  dlog_opts o = {.max_pending = 3};
  dlog *log = open_log(&o);
  got g = {0};
  uint32_t parts[2] = {1, 2};
  dlog_record r = {.txn = 1, .outcome = 7, .nparts = 2, .parts = parts};
  syn_err e;
  cr_assert_eq(dlog_propose(log, &r, on_cb, &g, &e), SYN_EINVAL);
  r.outcome = DLOG_COMMIT;
  r.nparts = DLOG_MAX_PARTS + 1;
  cr_assert_eq(dlog_propose(log, &r, on_cb, &g, &e), SYN_EINVAL);
  r.nparts = 2;
  cr_assert_eq(dlog_propose(log, &r, NULL, &g, &e), SYN_EINVAL);
  for (uint64_t t = 1; t <= 3; t++) propose(log, t, DLOG_COMMIT, 1, 2, &g);
  r.txn = 4;
  cr_assert_eq(dlog_propose(log, &r, on_cb, &g, &e), SYN_EBUSY);
  cr_assert_eq(g.calls, 0);
  /* Closing with work queued: each callback hears SYN_ECLOSED once. */
  dlog_close(log);
  cr_assert_eq(g.calls, 3);
  cr_assert_eq(g.status, SYN_ECLOSED);
  /* Nothing queued was written. */
  log = open_log(NULL);
  cr_assert_eq(dlog_lookup(log, 1, NULL, NULL), SYN_ENOTFOUND);
  dlog_close(log);
}

Test(decision_log, not_a_log_and_partial_header) {
  FILE *f = fopen(path, "wb");
  fputs("this is not a decision log at all", f);
  fclose(f);
  dlog *log = NULL;
  cr_assert_eq(dlog_open(path, NULL, &log, NULL), SYN_ECORRUPT);
  /* A header cut short by a crash during creation: start afresh. */
  f = fopen(path, "wb");
  fputs("SYNDL", f);
  fclose(f);
  log = open_log(NULL);
  got g = {0};
  propose(log, 1, DLOG_COMMIT, 1, 2, &g);
  flush(log);
  dlog_close(log);
  log = open_log(NULL);
  cr_assert_eq(dlog_lookup(log, 1, NULL, NULL), 0);
  dlog_close(log);
}

/* ---- the seam: the 2PC core persisting through the real log ---------------- */

#include "txn/commit.h"

typedef struct seam {
  dlog *log;
  tpc *core;
  int commits_sent, aborts_sent, replies;
  tpc_result last_reply;
  uint64_t now;
  int statuses[2]; /* callbacks with status 0 / failure */
} seam;

static void sm_prepare(void *ud, uint64_t t, uint32_t p) {}
static void sm_one(void *ud, uint64_t t, uint32_t p) {}
static void sm_decision(void *ud, uint64_t t, uint32_t p, tpc_outcome o, uint64_t ts) {
  seam *s = ud;
  if (o == TPC_COMMIT) s->commits_sent++;
  else s->aborts_sent++;
}
static void sm_reply(void *ud, uint64_t t, const tpc_result *r) {
  seam *s = ud;
  s->replies++;
  s->last_reply = *r;
}
static void sm_durable(int status, uint64_t txn, const dlog_record *chosen, void *ud) {
  seam *s = ud;
  /* Runs inside dlog_flush (or dlog_close), never inside a tpc_io call:
  ** no re-entrancy. A failure goes to the core, which answers UNKNOWN. */
  s->statuses[status == 0 ? 0 : 1]++;
  cr_assert_eq(tpc_decision_durable(s->core, txn, status,
                                    chosen ? (tpc_outcome)chosen->outcome : TPC_ABORT,
                                    chosen ? chosen->commit_ts : 0, s->now), 0);
}
static void sm_persist(void *ud, const tpc_record *r) {
  seam *s = ud;
  dlog_record d = {.txn = r->txn, .outcome = (dlog_outcome)r->outcome,
                   .commit_ts = r->commit_ts, .nparts = r->nparts, .parts = r->parts};
  cr_assert_eq(dlog_propose(s->log, &d, sm_durable, s, NULL), 0);
}
static void sm_done(void *ud, uint64_t t) {
  seam *s = ud;
  cr_assert_eq(dlog_mark_done(s->log, t, NULL), 0);
}
static int sm_recover(const dlog_record *r, void *ud) {
  seam *s = ud;
  tpc_record t = {.txn = r->txn, .outcome = (tpc_outcome)r->outcome, .commit_ts = r->commit_ts,
                  .nparts = r->nparts, .parts = r->parts};
  return tpc_recover(s->core, &t, s->now, NULL);
}

static void seam_start(seam *s) {
  s->log = open_log(NULL);
  tpc_io io = {.ud = s, .send_prepare = sm_prepare, .send_one_phase = sm_one,
               .send_decision = sm_decision, .persist = sm_persist, .mark_done = sm_done,
               .reply = sm_reply};
  tpc_config cfg;
  tpc_config_default(&cfg);
  cr_assert_eq(tpc_new(&cfg, &io, &s->core, NULL), 0);
  cr_assert_eq(dlog_foreach_undone(s->log, sm_recover, s), 0);
}

static void seam_crash(seam *s) {
  dlog_close(s->log); /* queued callbacks hear SYN_ECLOSED first */
  tpc_free(s->core);
  s->core = NULL;
  s->log = NULL;
}

Test(decision_log, drives_the_2pc_core_across_a_restart) {
  static seam s;
  seam_start(&s);
  tpc_participant ps[3] = {{1, true}, {2, true}, {3, true}};
  for (uint64_t txn = 1; txn <= 2; txn++) {
    cr_assert_eq(tpc_begin_commit(s.core, txn, ps, 3, 0, NULL), 0);
    for (uint32_t p = 1; p <= 3; p++) tpc_vote(s.core, txn, p, true, 10 * txn + p, 0, 1);
  }
  cr_assert_eq(s.replies, 0, "COMMITTED before the log flushed");
  flush(s.log);
  cr_assert_eq(s.replies, 2);
  cr_assert_eq(s.last_reply.status, TPC_COMMITTED);
  cr_assert_eq(s.last_reply.commit_ts, 23);
  cr_assert_eq(s.commits_sent, 6);
  for (uint32_t p = 1; p <= 3; p++) tpc_ack(s.core, 1, p, 2);
  flush(s.log); /* txn 1's done marker */
  /* A third transaction decides in memory but crashes before the flush. */
  cr_assert_eq(tpc_begin_commit(s.core, 3, ps, 3, 0, NULL), 0);
  for (uint32_t p = 1; p <= 3; p++) tpc_vote(s.core, 3, p, true, 5, 0, 1);
  cr_assert_eq(s.replies, 2);
  seam_crash(&s);
  cr_assert_eq(s.statuses[1], 1, "the unflushed proposal was not failed at close");
  cr_assert_eq(s.replies, 3);
  cr_assert_eq(s.last_reply.status, TPC_UNKNOWN, "a closed log must not look like a decision");

  memset(&s, 0, sizeof s);
  seam_start(&s);
  /* Only txn 2 is re-driven: 1 is done, 3 never reached the disk. */
  cr_assert_eq(s.commits_sent, 3);
  cr_assert_eq(tpc_state_of(s.core, 2), TPC_S_COMMITTING);
  cr_assert_eq(tpc_state_of(s.core, 3), TPC_S_NONE);
  /* A participant in doubt about 3 gets ABORT, now the decision forever. */
  cr_assert_eq(tpc_resolve(s.core, 3, 2, 5), 0);
  cr_assert_eq(s.aborts_sent, 0);
  flush(s.log);
  cr_assert_eq(s.aborts_sent, 1);
  dlog_record r;
  cr_assert_eq(dlog_lookup(s.log, 3, &r, NULL), 0);
  cr_assert_eq(r.outcome, DLOG_ABORT);
  /* In doubt about 2 (re-driven): COMMIT again at once. */
  cr_assert_eq(tpc_resolve(s.core, 2, 1, 6), 0);
  cr_assert_eq(s.commits_sent, 4);
  for (uint32_t p = 1; p <= 3; p++) tpc_ack(s.core, 2, p, 7);
  flush(s.log);
  cr_assert_eq(tpc_active(s.core), 0);
  walk w = {0};
  dlog_foreach_undone(s.log, collect, &w);
  cr_assert_eq(w.n, 0, "%d decisions left undone", w.n);
  seam_crash(&s);
}

#ifdef SYN_FAILPOINTS
/* ---- crashes at the failpoints, in a real child process --------------------- */

#include <sys/wait.h>

#include "common/failpoint.h"

/* Child: open, decide txn 1 (flushed), mark it done and decide txn 2 under
** the armed failpoint, then flush (and compact). Returns the exit status. */
static int crash_child(const char *spec) {
  fflush(NULL);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    dlog *log = NULL;
    if (dlog_open(path, NULL, &log, NULL) != 0) _exit(2);
    got g = {0};
    uint32_t parts[2] = {1, 2};
    dlog_record r = {.txn = 1, .outcome = DLOG_COMMIT, .commit_ts = 7, .nparts = 2, .parts = parts};
    if (dlog_propose(log, &r, on_cb, &g, NULL) || dlog_flush(log, NULL)) _exit(3);
    if (failpoint_configure(spec, NULL) != 0) _exit(4);
    r.txn = 2;
    if (dlog_mark_done(log, 1, NULL) || dlog_propose(log, &r, on_cb, &g, NULL)) _exit(5);
    int rc = dlog_flush(log, NULL);
    if (rc == SYN_EIO) _exit(6);
    if (rc != 0 || g.calls != 2) _exit(7);
    if (dlog_compact(log, NULL) != 0) _exit(8);
    dlog_close(log);
    _exit(0);
  }
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  cr_assert(WIFEXITED(st));
  return WEXITSTATUS(st);
}

Test(decision_log, crash_and_error_failpoints) {
  /* Crash after the sync: durable although nobody was told. */
  cr_assert_eq(crash_child("dlog_after_sync=crash"), 137);
  dlog *log = open_log(NULL);
  bool done;
  cr_assert_eq(dlog_lookup(log, 2, NULL, NULL), 0);
  cr_assert_eq(dlog_lookup(log, 1, NULL, &done), 0);
  cr_assert(done);
  dlog_close(log);
  unlink(path);

  /* Crash between write and sync: the process died, the page cache did
  ** not, so the bytes are there; the file must at least reopen cleanly. */
  cr_assert_eq(crash_child("dlog_after_write=crash"), 137);
  log = open_log(NULL);
  cr_assert_eq(dlog_lookup(log, 1, NULL, NULL), 0);
  dlog_close(log);
  unlink(path);

  /* Injected write and sync errors fail the flush (sticky EIO). */
  cr_assert_eq(crash_child("dlog_write=error"), 6);
  log = open_log(NULL);
  cr_assert_eq(dlog_lookup(log, 1, NULL, &done), 0);
  cr_assert_not(done);
  cr_assert_eq(dlog_lookup(log, 2, NULL, NULL), SYN_ENOTFOUND);
  dlog_close(log);
  unlink(path);
  cr_assert_eq(crash_child("dlog_sync=error"), 6);
  unlink(path);

  /* Crash after the compacted copy is synced but before the rename: the
  ** old file is complete and the stale copy is removed at open. */
  cr_assert_eq(crash_child("dlog_compact_before_rename=crash"), 137);
  char tmp[400];
  snprintf(tmp, sizeof tmp, "%s.compact", path);
  cr_assert_eq(access(tmp, F_OK), 0, "the crash left no compaction file");
  log = open_log(NULL);
  cr_assert_neq(access(tmp, F_OK), 0);
  cr_assert_eq(dlog_lookup(log, 1, NULL, &done), 0);
  cr_assert(done);
  cr_assert_eq(dlog_lookup(log, 2, NULL, NULL), 0);
  dlog_close(log);

  /* And without failpoints the child finishes and compaction drops txn 1. */
  unlink(path);
  cr_assert_eq(crash_child(""), 0);
  log = open_log(NULL);
  cr_assert_eq(dlog_lookup(log, 1, NULL, NULL), SYN_ENOTFOUND);
  cr_assert_eq(dlog_lookup(log, 2, NULL, NULL), 0);
  dlog_close(log);
}
#endif /* SYN_FAILPOINTS */
