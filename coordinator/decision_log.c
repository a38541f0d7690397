/*
** Decision log: an append-only file of 2PC decisions.
**
** FILE FORMAT (all integers little-endian)
**
**   header, 16 bytes:
**     0  8  magic "SYNDLOG1"
**     8  4  format version (1)
**    12  4  CRC32C of bytes 0..11
**
**   then records, back to back:
**     0  4  payload length L
**     4  4  CRC32C over the 4 length bytes followed by the L payload bytes
**     8  L  payload, one of
**            DECIDE: u8 type=1, u64 txn, u8 outcome (1 COMMIT, 2 ABORT),
**                    u64 commit_ts (0 for ABORT), u32 n, n x u32 participant
**            DONE:   u8 type=2, u64 txn
**
** The length is inside the checksum so a flipped length bit is caught like
** any other. L is bounded (DLOG_MAX_PARTS participants) so a garbage length
** never makes the reader allocate or skip gigabytes.
**
** INVARIANTS
**  - At most one DECIDE per transaction in the file: the first decision for
**    a transaction wins, enforced in memory before anything is queued (the
**    in-memory index covers durable and queued records).
**  - A DONE follows its DECIDE. Compaction drops both together.
**  - A proposal's callback runs only after the write holding its record
**    (or the earlier record that beat it) was followed by a successful
**    sync. This is what lets the 2PC core tell the client COMMITTED.
**
** RECOVERY (dlog_open)
**  Records are read from the start. The first record that fails its checks
**  (short, bad length, bad CRC, bad contents) is either
**   - a torn tail: no valid record starts at any later byte offset. Only
**     the last, never-synced write can be torn by a crash, and nothing in it
**     was acknowledged, so the file is truncated there (WARN logged); or
**   - corruption in the middle: a valid record follows, so the damage is in
**     data that was synced and acknowledged. dlog_open fails with
**     SYN_ECORRUPT and the offset; skipping it could forget a COMMIT.
**  A crash that persists a later page of the last write but not an earlier
**  one is reported as corruption too: the operator decides, never silence.
**
** COMPACTION
**  When done transactions hold at least compact_min_bytes and more bytes
**  than live ones, the live DECIDE records are written to "<path>.compact",
**  which is synced, renamed over the log, and the directory synced so the
**  rename itself survives a crash. A crash at any point leaves either the
**  old complete file or the new complete file; a stale .compact file found
**  at open is deleted (the rename never happened).
**
** WHY BLOCKING I/O IN THE CALLER'S THREAD
**  One write and one fdatasync per flush, called once per event-loop turn,
**  gives group commit: however many transactions decided during the turn
**  share one sync. Moving the sync to a libuv work request would let the
**  loop keep serving while the disk works (and pipeline the next batch),
**  but this file is the placeholder the Multi-Paxos log replaces, where the
**  durable step is an acceptor fsync on several machines anyway. Blocking
**  keeps it deterministic and simple to crash-test until then; the cost is
**  that the coordinator loop stalls for one sync per turn under load.
*/
#include "coordinator/decision_log.h"
#include "common/bytes.h"
#include "common/crc32c.h"
#include "common/failpoint.h"
#include "common/log.h"
#include "txn/u64map.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DLOG_MAGIC "SYNDLOG1"
#define DLOG_VERSION 1u
#define DLOG_HDR 16u
#define DLOG_REC_HDR 8u
#define DLOG_T_DECIDE 1u
#define DLOG_T_DONE 2u
#define DLOG_DECIDE_FIXED 22u /* type + txn + outcome + ts + n */
#define DLOG_DONE_LEN 9u
#define DLOG_MAX_PAYLOAD (DLOG_DECIDE_FIXED + 4u * DLOG_MAX_PARTS)

typedef struct dlog_entry {
  uint64_t txn;
  dlog_outcome outcome;
  uint64_t commit_ts;
  uint32_t nparts;
  uint32_t *parts;
  bool durable;
  bool done;
} dlog_entry;

typedef struct dlog_waiter {
  dlog_entry *e;
  dlog_cb cb;
  void *ud;
} dlog_waiter;

struct dlog {
  char *path;
  int fd;
  dlog_opts opts;
  int failed; /* sticky SYN_E* after a write or sync failure, else 0 */
  bool in_callbacks;

  u64map idx;          /* txn -> dlog_entry */
  dlog_entry **order;  /* log order; entries [ndurable, norder) are queued */
  size_t norder, cap_order, ndurable;

  uint8_t *buf; /* queued bytes for the next flush */
  size_t buflen, bufcap;
  dlog_waiter *w;
  size_t nw, capw;
  size_t nmarks; /* queued done markers */

  uint64_t live_bytes, dead_bytes;
  dlog_stats st;
};

/* ---- encoding ------------------------------------------------------------ */


static uint32_t decide_len(uint32_t nparts) { return DLOG_DECIDE_FIXED + 4u * nparts; }

/* Record bytes on disk for an entry's DECIDE / for a DONE. */
static uint64_t decide_bytes(const dlog_entry *e) { return DLOG_REC_HDR + decide_len(e->nparts); }
static uint64_t done_bytes(void) { return DLOG_REC_HDR + DLOG_DONE_LEN; }

static void seal(uint8_t *rec, uint32_t len) {
  syn_put_le32(rec, len);
  uint32_t crc = crc32c_update(0, rec, 4);
  crc = crc32c_update(crc, rec + DLOG_REC_HDR, len);
  syn_put_le32(rec + 4, crc);
}

/* Encode e's DECIDE record into out (decide_bytes(e) bytes). */
static void encode_decide(const dlog_entry *e, uint8_t *out) {
  uint8_t *p = out + DLOG_REC_HDR;
  p[0] = DLOG_T_DECIDE;
  syn_put_le64(p + 1, e->txn);
  p[9] = (uint8_t)e->outcome;
  syn_put_le64(p + 10, e->commit_ts);
  syn_put_le32(p + 18, e->nparts);
  for (uint32_t i = 0; i < e->nparts; i++) syn_put_le32(p + 22 + 4 * i, e->parts[i]);
  seal(out, decide_len(e->nparts));
}

static void encode_done(uint64_t txn, uint8_t *out) {
  uint8_t *p = out + DLOG_REC_HDR;
  p[0] = DLOG_T_DONE;
  syn_put_le64(p + 1, txn);
  seal(out, DLOG_DONE_LEN);
}

static void encode_header(uint8_t *h) {
  memcpy(h, DLOG_MAGIC, 8);
  syn_put_le32(h + 8, DLOG_VERSION);
  syn_put_le32(h + 12, crc32c_update(0, h, 12));
}

/* A decoded record (parts point into the file buffer). */
typedef struct parsed {
  uint32_t type;
  uint64_t txn;
  dlog_outcome outcome;
  uint64_t commit_ts;
  uint32_t nparts;
  const uint8_t *parts;
  uint64_t size; /* header + payload */
} parsed;

/* Is there a well-formed record at buf[off]? Checks bounds, CRC, contents. */
static bool parse_at(const uint8_t *buf, uint64_t size, uint64_t off, parsed *r) {
  if (size - off < DLOG_REC_HDR) return false;
  uint32_t len = syn_get_le32(buf + off);
  if (len < DLOG_DONE_LEN || len > DLOG_MAX_PAYLOAD) return false;
  if (size - off - DLOG_REC_HDR < len) return false;
  const uint8_t *p = buf + off + DLOG_REC_HDR;
  uint32_t crc = crc32c_update(0, buf + off, 4);
  crc = crc32c_update(crc, p, len);
  if (crc != syn_get_le32(buf + off + 4)) return false;
  memset(r, 0, sizeof *r);
  r->type = p[0];
  r->txn = syn_get_le64(p + 1);
  r->size = DLOG_REC_HDR + (uint64_t)len;
  if (r->type == DLOG_T_DONE) return len == DLOG_DONE_LEN;
  if (r->type != DLOG_T_DECIDE || len < DLOG_DECIDE_FIXED) return false;
  r->outcome = (dlog_outcome)p[9];
  r->commit_ts = syn_get_le64(p + 10);
  r->nparts = syn_get_le32(p + 18);
  r->parts = p + 22;
  if (r->outcome != DLOG_COMMIT && r->outcome != DLOG_ABORT) return false;
  if (r->outcome == DLOG_ABORT && r->commit_ts != 0) return false;
  if (r->nparts > DLOG_MAX_PARTS || len != decide_len(r->nparts)) return false;
  return true;
}

/* ---- small helpers --------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap : 16;
  while (n < need) n *= 2;
  void *q = realloc(*p, n * elem);
  if (!q) return SYN_ENOMEM;
  *p = q;
  *cap = n;
  return 0;
}


/* syn_write_all as 0 or -errno, which the messages below print. */
static int write_errno(int fd, const void *p, size_t n) { return syn_write_all(fd, p, n) ? -errno : 0; }

/* 0, or -1 with errno set (EIO when a hook failed without saying why). */
static int do_sync(dlog *log, int fd) {
  errno = 0;
  int rc = log->opts.sync_fn ? log->opts.sync_fn(fd, log->opts.sync_ud) : fdatasync(fd);
  if (rc == 0) {
    log->st.syncs++;
    return 0;
  }
  if (errno == 0) errno = EIO;
  return -1;
}

/* fsync the directory holding path, so a create or rename survives. */
static int sync_dir(dlog *log, syn_err *err) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", log->path);
  char *slash = strrchr(dir, '/');
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == dir) dir[1] = '\0';
  else *slash = '\0';
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return syn_err_set(err, SYN_EIO, "open directory %s: %s", dir, strerror(errno));
  int rc = do_sync(log, dfd);
  int e = errno;
  close(dfd);
  if (rc != 0) return syn_err_set(err, SYN_EIO, "fsync directory %s: %s", dir, strerror(e));
  return 0;
}

static dlog_entry *entry_new(const dlog_record *rec) {
  dlog_entry *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->txn = rec->txn;
  e->outcome = rec->outcome;
  e->commit_ts = rec->outcome == DLOG_COMMIT ? rec->commit_ts : 0;
  e->nparts = rec->nparts;
  if (rec->nparts) {
    e->parts = malloc(rec->nparts * sizeof *e->parts);
    if (!e->parts) {
      free(e);
      return NULL;
    }
    memcpy(e->parts, rec->parts, rec->nparts * sizeof *e->parts);
  }
  return e;
}

static void entry_free(dlog_entry *e) {
  if (!e) return;
  free(e->parts);
  free(e);
}

static void entry_view(const dlog_entry *e, dlog_record *out) {
  out->txn = e->txn;
  out->outcome = e->outcome;
  out->commit_ts = e->commit_ts;
  out->nparts = e->nparts;
  out->parts = e->parts;
}

/* Add e to the index and the order. */
static int entry_add(dlog *log, dlog_entry *e) {
  if (grow((void **)&log->order, &log->cap_order, log->norder + 1, sizeof *log->order))
    return SYN_ENOMEM;
  if (u64map_put(&log->idx, e->txn, e)) return SYN_ENOMEM;
  log->order[log->norder++] = e;
  return 0;
}

static int queue_bytes(dlog *log, size_t n, uint8_t **at) {
  if (grow((void **)&log->buf, &log->bufcap, log->buflen + n, 1)) return SYN_ENOMEM;
  *at = log->buf + log->buflen;
  log->buflen += n;
  return 0;
}

/* ---- replay ---------------------------------------------------------------- */

static int replay_apply(dlog *log, const parsed *r, uint64_t off, syn_err *err) {
  dlog_entry *e = u64map_get(&log->idx, r->txn);
  if (r->type == DLOG_T_DONE) {
    if (!e)
      return syn_err_set(err, SYN_ECORRUPT, "%s: offset %llu: DONE for txn %llu with no decision",
                         log->path, (unsigned long long)off, (unsigned long long)r->txn);
    if (!e->done) {
      e->done = true;
      log->live_bytes -= decide_bytes(e);
      log->dead_bytes += decide_bytes(e);
    }
    log->dead_bytes += r->size;
    return 0;
  }
  if (e)
    return syn_err_set(err, SYN_ECORRUPT, "%s: offset %llu: second decision for txn %llu",
                       log->path, (unsigned long long)off, (unsigned long long)r->txn);
  uint32_t parts[DLOG_MAX_PARTS];
  for (uint32_t i = 0; i < r->nparts; i++) parts[i] = syn_get_le32(r->parts + 4 * i);
  dlog_record rec = {.txn = r->txn, .outcome = r->outcome, .commit_ts = r->commit_ts,
                     .nparts = r->nparts, .parts = parts};
  e = entry_new(&rec);
  if (!e || entry_add(log, e)) {
    entry_free(e);
    return syn_err_set(err, SYN_ENOMEM, "%s: out of memory during replay", log->path);
  }
  e->durable = true;
  log->ndurable = log->norder;
  log->live_bytes += r->size;
  return 0;
}

static int replay(dlog *log, syn_err *err) {
  struct stat sb;
  if (fstat(log->fd, &sb) != 0)
    return syn_err_set(err, SYN_EIO, "stat %s: %s", log->path, strerror(errno));
  uint64_t size = (uint64_t)sb.st_size;

  if (size < DLOG_HDR) {
    /* Created, but the synced header never made it: no record can have
    ** been acknowledged (records follow a synced header). Start over. */
    if (size > 0)
      SYN_LOG_WARN(NULL, "decision log %s: partial header (%llu bytes) rewritten", log->path,
                   (unsigned long long)size);
    uint8_t h[DLOG_HDR];
    encode_header(h);
    if (ftruncate(log->fd, 0) != 0 || write_errno(log->fd, h, sizeof h) != 0)
      return syn_err_set(err, SYN_EIO, "write header of %s: %s", log->path, strerror(errno));
    /* The header must be durable, and the file's directory entry with it,
    ** before any record is appended and acknowledged. */
    if (do_sync(log, log->fd) != 0)
      return syn_err_set(err, SYN_EIO, "sync %s: %s", log->path, strerror(errno));
    log->st.file_bytes = DLOG_HDR;
    return sync_dir(log, err);
  }

  uint8_t *buf = malloc(size);
  if (!buf) return syn_err_set(err, SYN_ENOMEM, "%s: cannot buffer %llu bytes", log->path,
                               (unsigned long long)size);
  uint64_t got = 0;
  while (got < size) {
    ssize_t r = pread(log->fd, buf + got, size - got, (off_t)got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      free(buf);
      return syn_err_set(err, SYN_EIO, "read %s: %s", log->path, r < 0 ? strerror(errno) : "short");
    }
    got += (uint64_t)r;
  }
  int rc = 0;
  uint8_t h[DLOG_HDR];
  encode_header(h);
  if (memcmp(buf, h, DLOG_HDR) != 0) {
    rc = syn_err_set(err, SYN_ECORRUPT, "%s: not a version-%u decision log (bad header)",
                     log->path, DLOG_VERSION);
    goto out;
  }
  uint64_t off = DLOG_HDR;
  while (off < size) {
    parsed r;
    if (parse_at(buf, size, off, &r)) {
      rc = replay_apply(log, &r, off, err);
      if (rc) goto out;
      off += r.size;
      continue;
    }
    /* Torn tail or corruption: a valid record anywhere after this point
    ** means acknowledged data is damaged. */
    for (uint64_t q = off + 1; q + DLOG_REC_HDR <= size; q++) {
      parsed later;
      if (parse_at(buf, size, q, &later)) {
        rc = syn_err_set(err, SYN_ECORRUPT,
                         "%s: damaged record at offset %llu followed by a valid one at %llu",
                         log->path, (unsigned long long)off, (unsigned long long)q);
        goto out;
      }
    }
    SYN_LOG_WARN(NULL, "decision log %s: torn tail of %llu bytes at offset %llu cut off",
                 log->path, (unsigned long long)(size - off), (unsigned long long)off);
    /* The cut must be durable before new records land after it, or a
    ** crash could leave new records behind old garbage. */
    if (ftruncate(log->fd, (off_t)off) != 0 || do_sync(log, log->fd) != 0) {
      rc = syn_err_set(err, SYN_EIO, "truncate %s: %s", log->path, strerror(errno));
      goto out;
    }
    log->st.truncated_bytes = size - off;
    size = off;
  }
  log->st.file_bytes = size;
out:
  free(buf);
  return rc;
}

/* ---- open / close ---------------------------------------------------------- */

static void free_entries(dlog *log) {
  for (size_t i = 0; i < log->norder; i++) entry_free(log->order[i]);
  free(log->order);
  log->order = NULL;
  log->norder = log->cap_order = log->ndurable = 0;
  u64map_free(&log->idx);
}

int dlog_open(const char *path, const dlog_opts *opts, dlog **out, syn_err *err) {
  if (!path || !out) return syn_err_set(err, SYN_EINVAL, "dlog_open: NULL argument");
  dlog *log = calloc(1, sizeof *log);
  if (!log) return syn_err_set(err, SYN_ENOMEM, "dlog_open: out of memory");
  log->fd = -1;
  if (opts) log->opts = *opts;
  if (log->opts.max_pending == 0) log->opts.max_pending = 65536;
  log->path = strdup(path);
  int rc;
  if (!log->path) {
    rc = syn_err_set(err, SYN_ENOMEM, "dlog_open: out of memory");
    goto fail;
  }
  /* A leftover compaction file means the rename never happened: the log
  ** itself is the complete, authoritative copy. */
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.compact", path);
  if (unlink(tmp) == 0) SYN_LOG_WARN(NULL, "decision log %s: removed stale %s", path, tmp);

  log->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log->fd < 0) {
    rc = syn_err_set(err, SYN_EIO, "open %s: %s", path, strerror(errno));
    goto fail;
  }
  rc = replay(log, err);
  if (rc) goto fail;
  *out = log;
  return 0;
fail:
  dlog_close(log);
  return rc;
}

static void run_waiters(dlog *log, dlog_waiter *w, size_t n, int status) {
  log->in_callbacks = true;
  for (size_t i = 0; i < n; i++) {
    if (status == 0) {
      dlog_record rec;
      entry_view(w[i].e, &rec);
      w[i].cb(0, w[i].e->txn, &rec, w[i].ud);
    } else {
      w[i].cb(status, w[i].e->txn, NULL, w[i].ud);
    }
  }
  log->in_callbacks = false;
}

void dlog_close(dlog *log) {
  if (!log) return;
  /* Callbacks may not re-enter a closing log: detach first. */
  dlog_waiter *w = log->w;
  size_t nw = log->nw;
  log->w = NULL;
  log->nw = log->capw = 0;
  log->failed = SYN_ECLOSED;
  run_waiters(log, w, nw, SYN_ECLOSED);
  free(w);
  if (log->fd >= 0) close(log->fd);
  free_entries(log);
  free(log->buf);
  free(log->w);
  free(log->path);
  free(log);
}

/* ---- propose / done / flush ------------------------------------------------ */

static int check_usable(dlog *log, syn_err *err) {
  if (log->failed)
    return syn_err_set(err, log->failed == SYN_ECLOSED ? SYN_ECLOSED : SYN_EIO,
                       "decision log %s failed earlier; reopen it", log->path);
  if (log->nw + log->nmarks >= log->opts.max_pending)
    return syn_err_set(err, SYN_EBUSY, "decision log %s: %u operations queued, the limit",
                       log->path, log->opts.max_pending);
  return 0;
}

size_t dlog_pending(const dlog *log) { return log->nw + log->nmarks; }

int dlog_propose(dlog *log, const dlog_record *rec, dlog_cb cb, void *ud, syn_err *err) {
  if (!log || !rec || !cb) return syn_err_set(err, SYN_EINVAL, "dlog_propose: NULL argument");
  if (rec->outcome != DLOG_COMMIT && rec->outcome != DLOG_ABORT)
    return syn_err_set(err, SYN_EINVAL, "txn %llu: outcome %d is neither COMMIT nor ABORT",
                       (unsigned long long)rec->txn, (int)rec->outcome);
  if (rec->nparts > DLOG_MAX_PARTS || (rec->nparts && !rec->parts))
    return syn_err_set(err, SYN_EINVAL, "txn %llu: %u participants (max %d)",
                       (unsigned long long)rec->txn, rec->nparts, DLOG_MAX_PARTS);
  int rc = check_usable(log, err);
  if (rc) return rc;
  if (grow((void **)&log->w, &log->capw, log->nw + 1, sizeof *log->w))
    return syn_err_set(err, SYN_ENOMEM, "dlog_propose: out of memory");
  dlog_entry *e = u64map_get(&log->idx, rec->txn);
  if (!e) {
    /* First decision for this transaction: it will be the one. */
    e = entry_new(rec);
    uint8_t *at;
    if (!e || queue_bytes(log, decide_bytes(e), &at)) {
      entry_free(e);
      return syn_err_set(err, SYN_ENOMEM, "dlog_propose: out of memory");
    }
    encode_decide(e, at);
    if (entry_add(log, e)) {
      log->buflen -= decide_bytes(e);
      entry_free(e);
      return syn_err_set(err, SYN_ENOMEM, "dlog_propose: out of memory");
    }
    log->live_bytes += decide_bytes(e);
  }
  /* Otherwise the existing decision (durable or queued) answers: the
  ** callback still waits for the flush, so it never runs inside propose
  ** and it never reports a decision that is not yet durable. */
  log->w[log->nw++] = (dlog_waiter){.e = e, .cb = cb, .ud = ud};
  return 0;
}

int dlog_mark_done(dlog *log, uint64_t txn, syn_err *err) {
  if (!log) return syn_err_set(err, SYN_EINVAL, "dlog_mark_done: NULL log");
  int rc = check_usable(log, err);
  if (rc) return rc;
  dlog_entry *e = u64map_get(&log->idx, txn);
  if (!e) return syn_err_set(err, SYN_ENOTFOUND, "txn %llu: no decision to mark done",
                             (unsigned long long)txn);
  if (e->done) return 0;
  uint8_t *at;
  if (queue_bytes(log, done_bytes(), &at))
    return syn_err_set(err, SYN_ENOMEM, "dlog_mark_done: out of memory");
  encode_done(txn, at);
  e->done = true;
  log->nmarks++;
  log->live_bytes -= decide_bytes(e);
  log->dead_bytes += decide_bytes(e) + done_bytes();
  return 0;
}

static bool compaction_due(const dlog *log) {
  return log->opts.compact_min_bytes > 0 && log->dead_bytes >= log->opts.compact_min_bytes &&
         log->dead_bytes > log->live_bytes;
}

int dlog_flush(dlog *log, syn_err *err) {
  if (!log) return syn_err_set(err, SYN_EINVAL, "dlog_flush: NULL log");
  if (log->in_callbacks)
    return syn_err_set(err, SYN_EBUSY, "dlog_flush called from a dlog callback");
  if (log->failed) return check_usable(log, err);
  if (log->nw == 0 && log->nmarks == 0) return 0;

  int rc = 0;
  if (log->buflen > 0) {
    int wrc = SYN_FAILPOINT("dlog_write") ? -EIO : write_errno(log->fd, log->buf, log->buflen);
    if (wrc != 0) {
      rc = syn_err_set(err, SYN_EIO, "write %s: %s", log->path, strerror(-wrc));
    } else {
      (void)SYN_FAILPOINT("dlog_after_write"); /* crash here: written, never synced */
      /* Group commit: one sync covers every record of the batch. Nothing
      ** in the batch is reported durable before it returns 0. */
      if (SYN_FAILPOINT("dlog_sync") || do_sync(log, log->fd) != 0)
        rc = syn_err_set(err, SYN_EIO, "sync %s: %s", log->path, strerror(errno ? errno : EIO));
      else
        (void)SYN_FAILPOINT("dlog_after_sync"); /* crash here: durable, nobody told */
    }
    if (rc == 0) {
      log->st.file_bytes += log->buflen;
      log->st.flushes++;
    }
    log->buflen = 0;
  }
  if (rc != 0) {
    /* Sticky: after a failed fsync the page cache may have dropped our
    ** dirty pages, so retrying could report durable what is not. */
    log->failed = SYN_EIO;
    SYN_LOG_ERROR(NULL, "decision log: %s", err ? err->msg : "write or sync failed");
  } else {
    for (size_t i = log->ndurable; i < log->norder; i++) log->order[i]->durable = true;
    log->ndurable = log->norder;
  }
  log->nmarks = 0;

  dlog_waiter *w = log->w;
  size_t nw = log->nw;
  log->w = NULL;
  log->nw = log->capw = 0;
  run_waiters(log, w, nw, rc ? SYN_EIO : 0);
  free(w);

  if (rc == 0 && log->nw == 0 && log->nmarks == 0 && compaction_due(log)) {
    syn_err cerr;
    int crc = dlog_compact(log, &cerr);
    if (crc) SYN_LOG_ERROR(NULL, "decision log compaction: %s", cerr.msg);
  }
  return rc;
}

/* ---- queries --------------------------------------------------------------- */

int dlog_lookup(dlog *log, uint64_t txn, dlog_record *out, bool *done) {
  dlog_entry *e = u64map_get(&log->idx, txn);
  if (!e) return SYN_ENOTFOUND;
  if (!e->durable) return SYN_EBUSY;
  if (out) entry_view(e, out);
  if (done) *done = e->done;
  return 0;
}

int dlog_foreach_undone(dlog *log, int (*fn)(const dlog_record *rec, void *ud), void *ud) {
  for (size_t i = 0; i < log->ndurable; i++) {
    dlog_entry *e = log->order[i];
    if (e->done) continue;
    dlog_record rec;
    entry_view(e, &rec);
    int rc = fn(&rec, ud);
    if (rc) return rc;
  }
  return 0;
}

void dlog_get_stats(const dlog *log, dlog_stats *out) {
  *out = log->st;
  out->records = log->norder;
  uint64_t live = 0;
  for (size_t i = 0; i < log->norder; i++) live += !log->order[i]->done;
  out->live = live;
}

/* ---- compaction ------------------------------------------------------------ */

int dlog_compact(dlog *log, syn_err *err) {
  if (!log) return syn_err_set(err, SYN_EINVAL, "dlog_compact: NULL log");
  if (log->failed) return check_usable(log, err);
  if (log->in_callbacks || log->nw || log->nmarks)
    return syn_err_set(err, SYN_EBUSY, "decision log %s: compaction needs an idle log", log->path);

  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.compact", log->path);
  int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return syn_err_set(err, SYN_EIO, "create %s: %s", tmp, strerror(errno));

  /* Build the whole new file in memory: live records only, in log order. */
  size_t cap = DLOG_HDR, len = DLOG_HDR;
  for (size_t i = 0; i < log->norder; i++)
    if (!log->order[i]->done) cap += decide_bytes(log->order[i]);
  uint8_t *img = malloc(cap);
  int rc = 0;
  if (!img) {
    rc = syn_err_set(err, SYN_ENOMEM, "dlog_compact: out of memory");
    goto fail;
  }
  encode_header(img);
  for (size_t i = 0; i < log->norder; i++) {
    dlog_entry *e = log->order[i];
    if (e->done) continue;
    encode_decide(e, img + len);
    len += decide_bytes(e);
  }
  int wrc = write_errno(fd, img, len);
  free(img);
  if (wrc != 0) {
    rc = syn_err_set(err, SYN_EIO, "write %s: %s", tmp, strerror(-wrc));
    goto fail;
  }
  /* The new file must be complete on disk before the rename makes it the
  ** log, or a crash could replace good decisions with a hole. */
  if (do_sync(log, fd) != 0) {
    rc = syn_err_set(err, SYN_EIO, "sync %s: %s", tmp, strerror(errno));
    goto fail;
  }
  (void)SYN_FAILPOINT("dlog_compact_before_rename");
  if (rename(tmp, log->path) != 0) {
    rc = syn_err_set(err, SYN_EIO, "rename %s: %s", tmp, strerror(errno));
    goto fail;
  }
  /* From here the new file is the log; its name must survive a crash too
  ** before the old records are forgotten in memory. A failure here is
  ** sticky: we cannot tell which file a crash would leave behind. */
  close(log->fd);
  log->fd = fd;
  rc = sync_dir(log, err);
  if (rc) {
    log->failed = SYN_EIO;
    return rc;
  }
  size_t k = 0;
  for (size_t i = 0; i < log->norder; i++) {
    dlog_entry *e = log->order[i];
    if (e->done) {
      u64map_del(&log->idx, e->txn);
      entry_free(e);
    } else {
      log->order[k++] = e;
    }
  }
  log->norder = log->ndurable = k;
  log->dead_bytes = 0;
  log->st.file_bytes = len;
  log->st.compactions++;
  return 0;
fail:
  close(fd);
  unlink(tmp);
  return rc;
}
