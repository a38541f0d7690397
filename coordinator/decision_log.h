/*
** The decision log: "make this commit/abort decision durable and tell me
** when" (prefix dlog_).
**
** This is the seam the replicated Multi-Paxos log will replace: today it is
** an append-only local file (format in decision_log.c and docs/protocol.md),
** later a proposal to the coordinator group. Callers see only:
**
**   - dlog_propose: queue a decision. Its callback runs once the log holds a
**     durable decision for that transaction: ours, or an earlier one (the
**     first decision for a transaction wins; a later different proposal is
**     answered with the existing decision).
**   - dlog_flush: write everything queued with ONE write and ONE fsync
**     (group commit), then run the callbacks. The I/O is blocking and runs
**     in the caller's thread; the coordinator calls it once per event-loop
**     iteration (a uv_check handle), so every proposal made during one
**     iteration shares one fsync. See decision_log.c for why blocking.
**   - dlog_mark_done: every participant acknowledged; the record may go at
**     the next compaction.
**   - replay on open: the index is rebuilt from the file; a torn tail is cut
**     off (logged), corruption before the tail is SYN_ECORRUPT.
**
** Callback contract (libuv's): if a function taking a callback returns an
** error, the callback is never called; if it returns 0 the callback runs
** exactly once, never from inside dlog_propose itself: from dlog_flush, or
** with SYN_ECLOSED from dlog_close.
**
** Threads: a dlog is not thread-safe; one thread (the coordinator's loop)
** owns it.
**
** Errors are sticky: after a failed write or fsync the file's state is
** unknown (the kernel may have dropped dirty pages), so every later call
** fails with SYN_EIO until the log is closed and reopened, which re-reads
** what actually reached the disk.
*/
#ifndef SYN_DECISION_LOG_H
#define SYN_DECISION_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define DLOG_MAX_PARTS 1024 /* participants in one decision record */

typedef struct dlog dlog;

typedef enum {
  DLOG_COMMIT = 1,
  DLOG_ABORT = 2,
} dlog_outcome;

/* parts is borrowed in every direction: the log copies what it is given,
** and what it hands out stays valid only until the next call that mutates
** the log (propose, mark_done, flush, compact, close). */
typedef struct dlog_record {
  uint64_t txn;
  dlog_outcome outcome;
  uint64_t commit_ts; /* 0 for ABORT */
  uint32_t nparts;
  const uint32_t *parts;
} dlog_record;

/* txn is the proposal's transaction. status 0: chosen is the durable
** decision for it (the proposed one unless an earlier decision existed).
** status < 0: the log failed (SYN_EIO) or was closed (SYN_ECLOSED); chosen
** is NULL and nothing is known about durability. */
typedef void (*dlog_cb)(int status, uint64_t txn, const dlog_record *chosen, void *ud);

typedef struct dlog_opts {
  /* Durability hook, called once per flush on the log's fd. NULL means
  ** fdatasync(2). Tests inject one to count or fail syncs. */
  int (*sync_fn)(int fd, void *ud);
  void *sync_ud;
  /* Compact after a flush when the bytes of done transactions reach this
  ** and also exceed the bytes of live ones. 0 disables automatic
  ** compaction (dlog_compact still works). */
  uint64_t compact_min_bytes;
  uint32_t max_pending; /* queued proposals + done markers; 0 = 65536 */
} dlog_opts;

typedef struct dlog_stats {
  uint64_t syncs;       /* successful sync_fn/fdatasync calls */
  uint64_t flushes;     /* flushes that wrote something */
  uint64_t records;     /* decisions held in memory (live + done) */
  uint64_t live;        /* decisions without a done marker */
  uint64_t file_bytes;  /* current file size */
  uint64_t compactions;
  uint64_t truncated_bytes; /* torn tail cut at open */
} dlog_stats;

/* Open or create the log at path and replay it. opts may be NULL. */
int dlog_open(const char *path, const dlog_opts *opts, dlog **out, syn_err *err);

/* Pending callbacks run with SYN_ECLOSED; nothing queued is written. */
void dlog_close(dlog *log);

/* Queue rec; cb(status, chosen, ud) later. SYN_EINVAL for a malformed
** record, SYN_EBUSY when max_pending are queued, SYN_EIO after a failure. */
int dlog_propose(dlog *log, const dlog_record *rec, dlog_cb cb, void *ud, syn_err *err);

/* Write + sync everything queued, then run the callbacks. Returns 0 when
** nothing was queued. On failure every queued callback gets the error. */
int dlog_flush(dlog *log, syn_err *err);

/* Number of queued proposals and markers awaiting a flush. */
size_t dlog_pending(const dlog *log);

/* 0 and *out when a durable decision exists; SYN_EBUSY when a decision is
** queued but not yet durable; SYN_ENOTFOUND otherwise. */
int dlog_lookup(dlog *log, uint64_t txn, dlog_record *out, bool *done);

/* Queue a done marker for txn (written by the next flush; no callback).
** SYN_ENOTFOUND if the log holds no decision for txn; 0 if already done. */
int dlog_mark_done(dlog *log, uint64_t txn, syn_err *err);

/* Visit every durable decision without a done marker, in log order (what
** a restarting coordinator feeds to tpc_recover). fn returning non-zero
** stops the walk and that value is returned. */
int dlog_foreach_undone(dlog *log, int (*fn)(const dlog_record *rec, void *ud), void *ud);

/* Rewrite the file without done transactions: temp file, fsync, rename,
** fsync the directory. Requires nothing queued (SYN_EBUSY otherwise). */
int dlog_compact(dlog *log, syn_err *err);

void dlog_get_stats(const dlog *log, dlog_stats *out);

#endif /* SYN_DECISION_LOG_H */
