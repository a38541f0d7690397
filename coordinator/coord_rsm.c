/*
** coord_rsm: the replicated decision table (see coord_rsm.h).
**
** Command encoding, little endian:
**   DECIDE: u8 1 | u64 txn | u8 outcome | u64 commit_ts | u32 nparts |
**           nparts x u32
**   DONE:   u8 2 | u64 txn
** Snapshot: "SRSM" | u32 version (2) | u64 seq | u64 nids |
**           nids x (u64 id | u64 seq applied) | u64 ndec | ndec x (u64 txn |
**           u8 outcome | u8 done | u64 commit_ts | u32 nparts | nparts x u32
**           | u64 done_seq) | u64 catlen | catalog (coord_rcat.c),
**           decisions in applied order (foreach_undone order survives an
**           install). Version 1 (no seqs, no catalog) still installs.
** Every count is bounds-checked against the bytes left, so garbage fails
** with SYN_EINVAL instead of reading past the buffer.
*/
#include "coordinator/coord_rsm.h"

#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "txn/u64map.h"

typedef struct rsm_dec {
  uint64_t txn;
  dlog_outcome outcome;
  uint64_t commit_ts;
  uint32_t nparts;
  uint32_t *parts;
  bool done;
  uint64_t done_seq; /* seq of its DONE */
} rsm_dec;

struct coord_rsm {
  u64map by_txn;     /* txn -> rsm_dec* (owned through order) */
  rsm_dec **order;   /* decisions in applied order */
  size_t n, cap;
  u64map ids;        /* applied client ids -> seq_val(seq at apply) */
  uint64_t seq;      /* values applied since the log began (not DUPs) */
  coord_rcat *cat;   /* the replicated catalog */
  uint64_t undone, applied, dups, bad, forgotten;
};

/* Forgetting (deterministic: every replica prunes at the same seq, and seq
** is part of the snapshot). A value id is remembered for dedup while fewer
** than ID_WINDOW values were applied after it: retries and re-proposals of
** one value come within seconds, far inside the window. A decision is
** forgotten DONE_WINDOW values after its DONE: every participant had
** acknowledged it, so none is in doubt about it any more (a RESOLVE that
** still came would meet "no decision" and an ABORT proposal, which a
** participant that finished the transaction ignores). Without this the
** table, and every snapshot, would grow with every transaction. */
#define ID_WINDOW 200000u
#define DONE_WINDOW 50000u
#define PRUNE_EVERY 4096u

static void *seq_val(uint64_t seq) { return (void *)(uintptr_t)(seq + 1); }
static uint64_t val_seq(void *v) { return (uint64_t)(uintptr_t)v - 1; }

static int check_record(const dlog_record *rec, syn_err *err) {
  if (rec->outcome != DLOG_COMMIT && rec->outcome != DLOG_ABORT)
    return syn_err_set(err, SYN_EINVAL, "decision: bad outcome %d", (int)rec->outcome);
  if (rec->nparts > DLOG_MAX_PARTS)
    return syn_err_set(err, SYN_EINVAL, "decision: %u participants (max %d)", rec->nparts,
                       DLOG_MAX_PARTS);
  if (rec->nparts && !rec->parts) return syn_err_set(err, SYN_EINVAL, "decision: no parts");
  return 0;
}

/* ---- commands --------------------------------------------------------------------- */

int coord_rsm_encode_decide(const dlog_record *rec, uint8_t **out, size_t *len, syn_err *err) {
  int rc = check_record(rec, err);
  if (rc < 0) return rc;
  syn_wbuf w = {0};
  syn_wbuf_u8(&w, COORD_RSM_DECIDE);
  syn_wbuf_u64(&w, rec->txn);
  syn_wbuf_u8(&w, (uint8_t)rec->outcome);
  syn_wbuf_u64(&w, rec->outcome == DLOG_COMMIT ? rec->commit_ts : 0);
  syn_wbuf_u32(&w, rec->nparts);
  for (uint32_t i = 0; i < rec->nparts; i++) syn_wbuf_u32(&w, rec->parts[i]);
  if (w.oom) {
    free(w.p);
    return syn_err_set(err, SYN_ENOMEM, "decision command");
  }
  *out = w.p;
  *len = w.len;
  return 0;
}

int coord_rsm_encode_done_many(const uint64_t *txns, uint32_t n, uint8_t **out, size_t *len,
                               syn_err *err) {
  if (n == 0 || n > COORD_RSM_DONE_MAX)
    return syn_err_set(err, SYN_EINVAL, "done-many of %u txns", n);
  syn_wbuf w = {0};
  syn_wbuf_u8(&w, COORD_RSM_DONE_MANY);
  syn_wbuf_u32(&w, n);
  for (uint32_t i = 0; i < n; i++) syn_wbuf_u64(&w, txns[i]);
  if (w.oom) {
    free(w.p);
    return syn_err_set(err, SYN_ENOMEM, "done command");
  }
  *out = w.p;
  *len = w.len;
  return 0;
}

const uint8_t *coord_rsm_done_many_txns(const uint8_t *data, size_t len, uint32_t *n) {
  if (len < 5 || data[0] != COORD_RSM_DONE_MANY) return NULL;
  *n = syn_get_le32(data + 1);
  if (*n == 0 || *n > COORD_RSM_DONE_MAX || len != 5 + (size_t)*n * 8) return NULL;
  return data + 5;
}

/* Mark txn done (if it has an undone decision); true when it was. */
static bool mark_done(coord_rsm *r, uint64_t txn) {
  rsm_dec *d = u64map_get(&r->by_txn, txn);
  if (!d || d->done) return false;
  d->done = true;
  d->done_seq = r->seq;
  r->undone--;
  return true;
}

int coord_rsm_encode_done(uint64_t txn, uint8_t **out, size_t *len, syn_err *err) {
  syn_wbuf w = {0};
  syn_wbuf_u8(&w, COORD_RSM_DONE);
  syn_wbuf_u64(&w, txn);
  if (w.oom) {
    free(w.p);
    return syn_err_set(err, SYN_ENOMEM, "done command");
  }
  *out = w.p;
  *len = w.len;
  return 0;
}

int coord_rsm_peek(const uint8_t *data, size_t len, coord_rsm_cmd *cmd, uint64_t *txn) {
  uint32_t nd;
  if (len > 0 && data[0] == COORD_RSM_DONE_MANY) {
    const uint8_t *p = coord_rsm_done_many_txns(data, len, &nd);
    if (!p) return SYN_EINVAL;
    *cmd = COORD_RSM_DONE_MANY;
    *txn = syn_get_le64(p);
    return 0;
  }
  if (coord_rcat_is_cmd(data, len)) {
    if (coord_rcat_check(data, len, NULL) < 0) return SYN_EINVAL;
    *cmd = COORD_RSM_CATALOG;
    *txn = 0;
    return 0;
  }
  syn_rbuf r = {data, len, 0, false};
  uint8_t t = syn_rbuf_u8(&r);
  uint64_t x = syn_rbuf_u64(&r);
  if (r.bad) return SYN_EINVAL;
  if (t == COORD_RSM_DECIDE) {
    /* The whole command must be well formed, not only its header. */
    uint8_t o = syn_rbuf_u8(&r);
    syn_rbuf_u64(&r);
    uint32_t n = syn_rbuf_u32(&r);
    if (r.bad || (o != DLOG_COMMIT && o != DLOG_ABORT) || n > DLOG_MAX_PARTS ||
        r.len - r.off != (size_t)n * 4)
      return SYN_EINVAL;
  } else if (t != COORD_RSM_DONE || r.off != len) {
    return SYN_EINVAL;
  }
  *cmd = (coord_rsm_cmd)t;
  *txn = x;
  return 0;
}

/* ---- table ---------------------------------------------------------------------- */

int coord_rsm_new(coord_rsm **out, syn_err *err) {
  coord_rsm *r = calloc(1, sizeof *r);
  if (!r) return syn_err_set(err, SYN_ENOMEM, "decision table");
  int rc = coord_rcat_new(&r->cat, err);
  if (rc < 0) {
    free(r);
    return rc;
  }
  *out = r;
  return 0;
}

static void table_clear(coord_rsm *r) {
  for (size_t i = 0; i < r->n; i++) {
    free(r->order[i]->parts);
    free(r->order[i]);
  }
  free(r->order);
  u64map_free(&r->by_txn);
  u64map_free(&r->ids);
  r->order = NULL;
  r->n = r->cap = 0;
  r->undone = 0;
}

void coord_rsm_free(coord_rsm *r) {
  if (!r) return;
  table_clear(r);
  coord_rcat_free(r->cat);
  free(r);
}

static void fill(const rsm_dec *d, dlog_record *out) {
  *out = (dlog_record){.txn = d->txn, .outcome = d->outcome, .commit_ts = d->commit_ts,
                       .nparts = d->nparts, .parts = d->parts};
}

/* Append a decision (parts copied). */
static int table_add(coord_rsm *r, const dlog_record *rec, bool done, rsm_dec **out) {
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 64;
    rsm_dec **v = realloc(r->order, cap * sizeof *v);
    if (!v) return SYN_ENOMEM;
    r->order = v;
    r->cap = cap;
  }
  rsm_dec *d = calloc(1, sizeof *d);
  if (!d) return SYN_ENOMEM;
  if (rec->nparts) {
    d->parts = malloc(rec->nparts * sizeof *d->parts);
    if (!d->parts) {
      free(d);
      return SYN_ENOMEM;
    }
    memcpy(d->parts, rec->parts, rec->nparts * sizeof *d->parts);
  }
  d->txn = rec->txn;
  d->outcome = rec->outcome;
  d->commit_ts = rec->outcome == DLOG_COMMIT ? rec->commit_ts : 0;
  d->nparts = rec->nparts;
  d->done = done;
  if (u64map_put(&r->by_txn, rec->txn, d) < 0) {
    free(d->parts);
    free(d);
    return SYN_ENOMEM;
  }
  r->order[r->n++] = d;
  if (!done) r->undone++;
  if (out) *out = d;
  return 0;
}

/* Decode a DECIDE body after the type byte into rec; parts point into a
** malloc'd array returned in *parts. */
static int decode_decide(syn_rbuf *rb, dlog_record *rec, uint32_t **parts) {
  rec->txn = syn_rbuf_u64(rb);
  rec->outcome = (dlog_outcome)syn_rbuf_u8(rb);
  rec->commit_ts = syn_rbuf_u64(rb);
  rec->nparts = syn_rbuf_u32(rb);
  *parts = NULL;
  if (rb->bad || rec->nparts > DLOG_MAX_PARTS) return SYN_EINVAL;
  if (!syn_rbuf_need(rb, (size_t)rec->nparts * 4)) return SYN_EINVAL;
  if (rec->nparts) {
    *parts = malloc(rec->nparts * sizeof **parts);
    if (!*parts) return SYN_ENOMEM;
    for (uint32_t i = 0; i < rec->nparts; i++) (*parts)[i] = syn_rbuf_u32(rb);
  }
  rec->parts = *parts;
  if (rec->outcome != DLOG_COMMIT && rec->outcome != DLOG_ABORT) return SYN_EINVAL;
  return 0;
}

static int apply_one(coord_rsm *r, uint64_t id, const uint8_t *data, size_t len,
                     coord_rsm_effect *eff, syn_err *err) {
  memset(eff, 0, sizeof *eff);
  if (u64map_get(&r->ids, id)) {
    r->dups++;
    eff->result = COORD_RSM_DUP;
    return 0;
  }
  if (coord_rcat_is_cmd(data, len)) {
    eff->cmd = COORD_RSM_CATALOG;
    int rc = coord_rcat_apply(r->cat, data, len, &eff->cat, err);
    if (rc == SYN_ENOMEM) return rc;
    /* Garbage counts as applied, like a bad decision command below. */
    if (u64map_put(&r->ids, id, seq_val(r->seq)) < 0)
      return syn_err_set(err, SYN_ENOMEM, "decision table");
    if (rc < 0) {
      r->bad++;
      return rc;
    }
    eff->result = COORD_RSM_CATALOG_APPLIED;
    r->applied++;
    return 0;
  }
  syn_rbuf rb = {data, len, 0, false};
  uint8_t t = syn_rbuf_u8(&rb);
  int rc = 0;
  if (t == COORD_RSM_DECIDE) {
    dlog_record rec;
    uint32_t *parts = NULL;
    rc = decode_decide(&rb, &rec, &parts);
    if (rc == 0 && rb.off != len) rc = SYN_EINVAL;
    if (rc == SYN_ENOMEM) return syn_err_set(err, rc, "decision table");
    if (rc == 0) {
      /* Reserve the id first so a failure below leaves nothing half done. */
      if (u64map_put(&r->ids, id, seq_val(r->seq)) < 0) {
        free(parts);
        return syn_err_set(err, SYN_ENOMEM, "decision table");
      }
      rsm_dec *d = u64map_get(&r->by_txn, rec.txn);
      eff->cmd = COORD_RSM_DECIDE;
      eff->txn = rec.txn;
      if (d) {
        /* First decision wins: a later one (another coordinator's ABORT for
        ** an in-doubt txn, a retried proposal) is answered with it. */
        eff->result = COORD_RSM_KEPT;
      } else {
        rc = table_add(r, &rec, false, &d);
        if (rc < 0) {
          u64map_del(&r->ids, id);
          free(parts);
          return syn_err_set(err, rc, "decision table");
        }
        eff->result = COORD_RSM_DECIDED;
      }
      fill(d, &eff->rec);
      free(parts);
      r->applied++;
      return 0;
    }
    free(parts);
  } else if (t == COORD_RSM_DONE_MANY) {
    uint32_t n;
    const uint8_t *p = coord_rsm_done_many_txns(data, len, &n);
    if (p) {
      if (u64map_put(&r->ids, id, seq_val(r->seq)) < 0)
        return syn_err_set(err, SYN_ENOMEM, "decision table");
      eff->cmd = COORD_RSM_DONE_MANY;
      eff->txn = syn_get_le64(p);
      eff->result = COORD_RSM_IGNORED;
      for (uint32_t i = 0; i < n; i++)
        if (mark_done(r, syn_get_le64(p + (size_t)i * 8))) eff->result = COORD_RSM_MARKED_DONE;
      r->applied++;
      return 0;
    }
  } else if (t == COORD_RSM_DONE) {
    uint64_t txn = syn_rbuf_u64(&rb);
    if (!rb.bad && rb.off == len) {
      if (u64map_put(&r->ids, id, seq_val(r->seq)) < 0)
        return syn_err_set(err, SYN_ENOMEM, "decision table");
      rsm_dec *d = u64map_get(&r->by_txn, txn);
      eff->cmd = COORD_RSM_DONE;
      eff->txn = txn;
      if (d && !d->done) {
        d->done = true;
        d->done_seq = r->seq;
        r->undone--;
        eff->result = COORD_RSM_MARKED_DONE;
        fill(d, &eff->rec);
      } else {
        eff->result = COORD_RSM_IGNORED;
        if (d) fill(d, &eff->rec);
      }
      r->applied++;
      return 0;
    }
  }
  /* Not a command. Every replica applies the same bytes, so ignoring them
  ** keeps the tables identical; the id counts as applied. */
  u64map_put(&r->ids, id, seq_val(r->seq));
  r->bad++;
  return syn_err_set(err, SYN_EINVAL, "log value %llu (%zu bytes) is no decision command",
                     (unsigned long long)id, len);
}

static void prune(coord_rsm *r) {
  if (r->seq > ID_WINDOW) {
    uint64_t horizon = r->seq - ID_WINDOW;
    size_t n = 0;
    uint64_t *old = malloc(u64map_len(&r->ids) * sizeof *old + 1);
    if (old) {
      for (size_t i = 0; i < r->ids.cap; i++)
        if (r->ids.used[i] && val_seq(r->ids.vals[i]) < horizon) old[n++] = r->ids.keys[i];
      for (size_t i = 0; i < n; i++) u64map_del(&r->ids, old[i]);
      free(old);
    }
  }
  if (r->seq > DONE_WINDOW) {
    uint64_t horizon = r->seq - DONE_WINDOW;
    size_t k = 0;
    for (size_t i = 0; i < r->n; i++) {
      rsm_dec *d = r->order[i];
      if (d->done && d->done_seq < horizon) {
        u64map_del(&r->by_txn, d->txn);
        free(d->parts);
        free(d);
        r->forgotten++;
      } else {
        r->order[k++] = d;
      }
    }
    r->n = k;
  }
}

int coord_rsm_apply(coord_rsm *r, uint64_t id, const uint8_t *data, size_t len,
                    coord_rsm_effect *eff, syn_err *err) {
  int rc = apply_one(r, id, data, len, eff, err);
  if ((rc == 0 && eff->result == COORD_RSM_DUP) || rc == SYN_ENOMEM) return rc;
  /* Every value that counted as applied (garbage too) moves seq, on every
  ** replica alike. */
  r->seq++;
  if (r->seq % PRUNE_EVERY == 0) prune(r);
  return rc;
}

int coord_rsm_lookup(const coord_rsm *r, uint64_t txn, dlog_record *out, bool *done) {
  rsm_dec *d = u64map_get(&r->by_txn, txn);
  if (!d) return SYN_ENOTFOUND;
  if (out) fill(d, out);
  if (done) *done = d->done;
  return 0;
}

int coord_rsm_foreach_undone(const coord_rsm *r, int (*fn)(const dlog_record *rec, void *ud),
                             void *ud) {
  for (size_t i = 0; i < r->n; i++) {
    if (r->order[i]->done) continue;
    dlog_record rec;
    fill(r->order[i], &rec);
    int rc = fn(&rec, ud);
    if (rc) return rc;
  }
  return 0;
}

bool coord_rsm_id_applied(const coord_rsm *r, uint64_t id) {
  return u64map_get(&r->ids, id) != NULL;
}

const coord_rcat *coord_rsm_catalog(const coord_rsm *r) { return r->cat; }

void coord_rsm_get_stats(const coord_rsm *r, coord_rsm_stats *out) {
  *out = (coord_rsm_stats){.decisions = r->n, .undone = r->undone, .ids = u64map_len(&r->ids),
                           .applied = r->applied, .dups = r->dups, .bad = r->bad,
                           .forgotten = r->forgotten, .seq = r->seq};
}

/* ---- snapshots ---------------------------------------------------------------------- */

#define SNAP_MAGIC "SRSM"
#define SNAP_VERSION 2 /* 1: no catalog section */

int coord_rsm_snapshot_take(const coord_rsm *r, uint8_t **out, size_t *len, syn_err *err) {
  syn_wbuf w = {0};
  syn_wbuf_bytes(&w, SNAP_MAGIC, 4);
  syn_wbuf_u32(&w, SNAP_VERSION);
  syn_wbuf_u64(&w, r->seq);
  syn_wbuf_u64(&w, u64map_len(&r->ids));
  for (size_t i = 0; i < r->ids.cap; i++)
    if (r->ids.used[i]) {
      syn_wbuf_u64(&w, r->ids.keys[i]);
      syn_wbuf_u64(&w, val_seq(r->ids.vals[i]));
    }
  syn_wbuf_u64(&w, r->n);
  for (size_t i = 0; i < r->n; i++) {
    const rsm_dec *d = r->order[i];
    syn_wbuf_u64(&w, d->txn);
    syn_wbuf_u8(&w, (uint8_t)d->outcome);
    syn_wbuf_u8(&w, d->done ? 1 : 0);
    syn_wbuf_u64(&w, d->commit_ts);
    syn_wbuf_u32(&w, d->nparts);
    for (uint32_t k = 0; k < d->nparts; k++) syn_wbuf_u32(&w, d->parts[k]);
    syn_wbuf_u64(&w, d->done_seq);
  }
  uint8_t *cat = NULL;
  size_t catlen = 0;
  int rc = coord_rcat_snapshot_take(r->cat, &cat, &catlen, err);
  if (rc < 0) {
    free(w.p);
    return rc;
  }
  syn_wbuf_u64(&w, catlen);
  syn_wbuf_bytes(&w, cat, catlen);
  free(cat);
  if (w.oom) {
    free(w.p);
    return syn_err_set(err, SYN_ENOMEM, "decision table snapshot");
  }
  *out = w.p;
  *len = w.len;
  return 0;
}

int coord_rsm_snapshot_install(coord_rsm *r, const uint8_t *data, size_t len, syn_err *err) {
  syn_rbuf rb = {data, len, 0, false};
  if (len < 8 || memcmp(data, SNAP_MAGIC, 4) != 0)
    return syn_err_set(err, SYN_EINVAL, "decision snapshot: bad magic");
  rb.off = 4;
  uint32_t ver = syn_rbuf_u32(&rb);
  if (ver != 1 && ver != SNAP_VERSION)
    return syn_err_set(err, SYN_EINVAL, "decision snapshot: unknown version");
  coord_rsm fresh;
  memset(&fresh, 0, sizeof fresh);
  int rc = 0;
  if (ver >= 2) fresh.seq = syn_rbuf_u64(&rb);
  size_t idsz = ver >= 2 ? 16 : 8;
  uint64_t nids = syn_rbuf_u64(&rb);
  if (rb.bad || nids > (len - rb.off) / idsz) rc = SYN_EINVAL;
  for (uint64_t i = 0; rc == 0 && i < nids; i++) {
    uint64_t id = syn_rbuf_u64(&rb);
    uint64_t at = ver >= 2 ? syn_rbuf_u64(&rb) : 0;
    if (at > fresh.seq) rc = SYN_EINVAL;
    else if (u64map_put(&fresh.ids, id, seq_val(at)) < 0) rc = SYN_ENOMEM;
  }
  uint64_t ndec = rc == 0 ? syn_rbuf_u64(&rb) : 0;
  /* Each decision takes at least 22 bytes: bound the count by the input. */
  if (rc == 0 && (rb.bad || ndec > (len - rb.off) / 22)) rc = SYN_EINVAL;
  for (uint64_t i = 0; rc == 0 && i < ndec; i++) {
    dlog_record rec;
    rec.txn = syn_rbuf_u64(&rb);
    rec.outcome = (dlog_outcome)syn_rbuf_u8(&rb);
    uint8_t done = syn_rbuf_u8(&rb);
    rec.commit_ts = syn_rbuf_u64(&rb);
    rec.nparts = syn_rbuf_u32(&rb);
    uint32_t *parts = NULL;
    if (rb.bad || rec.nparts > DLOG_MAX_PARTS || done > 1 ||
        (rec.outcome != DLOG_COMMIT && rec.outcome != DLOG_ABORT) ||
        !syn_rbuf_need(&rb, (size_t)rec.nparts * 4) || u64map_get(&fresh.by_txn, rec.txn)) {
      rc = SYN_EINVAL;
      break;
    }
    if (rec.nparts) {
      parts = malloc(rec.nparts * sizeof *parts);
      if (!parts) {
        rc = SYN_ENOMEM;
        break;
      }
      for (uint32_t k = 0; k < rec.nparts; k++) parts[k] = syn_rbuf_u32(&rb);
    }
    rec.parts = parts;
    uint64_t done_seq = ver >= 2 ? syn_rbuf_u64(&rb) : 0;
    rsm_dec *d = NULL;
    rc = rb.bad ? SYN_EINVAL : table_add(&fresh, &rec, done != 0, &d);
    if (rc == 0) d->done_seq = done_seq;
    free(parts);
  }
  coord_rcat *cat = NULL;
  if (rc == 0) rc = coord_rcat_new(&cat, NULL);
  if (rc == 0 && ver >= 2) {
    uint64_t catlen = syn_rbuf_u64(&rb);
    if (!rb.bad && catlen == len - rb.off) {
      rc = coord_rcat_snapshot_install(cat, data + rb.off, (size_t)catlen, NULL);
      rb.off = len;
    } else {
      rc = SYN_EINVAL;
    }
  }
  if (rc == 0 && rb.off != len) rc = SYN_EINVAL;
  if (rc < 0) {
    table_clear(&fresh);
    coord_rcat_free(cat);
    return syn_err_set(err, rc, rc == SYN_ENOMEM ? "decision snapshot: out of memory"
                                                 : "decision snapshot does not decode");
  }
  table_clear(r);
  coord_rcat_free(r->cat);
  r->cat = cat;
  r->by_txn = fresh.by_txn;
  r->order = fresh.order;
  r->n = fresh.n;
  r->cap = fresh.cap;
  r->ids = fresh.ids;
  r->undone = fresh.undone;
  r->seq = fresh.seq;
  return 0;
}
