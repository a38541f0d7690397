/*
** Durable acceptor log (see paxos_store.h for the directory layout).
**
** Record format in log-<gen>, little endian:
**   u32 len    bytes of the body below (21 + dlen)
**   u32 crc    CRC-32C of the body
**   body:      u8 type (paxos_rec_type), u64 slot, u64 ballot, u32 dlen,
**              dlen bytes of data
** In a SNAPSHOT record on disk dlen is 0: it is a reference to
** snap-<gen> and may only be the first record of a segment.
**
** Snapshot file snap-<gen>:
**   "SYNPXSN1", u64 slot, u64 len, len bytes, u32 CRC-32C of all before.
**
** Open: the live generation is the highest log-<gen> (a compaction that
** crashed before renaming its new segment left only *.tmp files or a
** snap-<gen+1> without a log, both removed). Records are read until the
** first one that is short, has an impossible length or a bad CRC; the file
** is cut there (ftruncate + fsync), since a crash can tear only the last
** append (every append is fsynced before it is acknowledged). A corrupt
** record in the middle looks the same and also cuts the rest: the CRC
** cannot tell torn from rotted, so the store reports truncated_bytes and
** the operator should treat a large number as a lost disk (wipe the
** directory: the member then rejoins safely as a learner).
*/
#include "coordinator/paxos/paxos_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/crc32c.h"

#define REC_HDR 8
#define REC_BODY 21
#define SNAP_MAGIC "SYNPXSN1"

typedef struct st_slot {
  paxos_rec_type type; /* 0 none, ACCEPT or LEARN */
  paxos_ballot ballot;
  uint8_t *data;
  uint32_t len;
} st_slot;

struct paxos_store {
  char dir[PATH_MAX];
  paxos_store_opts opts;
  int fd;
  bool broken;
  uint64_t gen, size;
  /* mirror of the durable state */
  paxos_ballot promised;
  bool rejoin;
  uint64_t commit;
  uint64_t snap_slot;
  uint8_t *snap;
  size_t snap_len;
  st_slot *slots; /* slot base + i, base = snap_slot + 1 */
  size_t nslots;
  paxos_store_stats stats;
};

/* ---- small helpers -------------------------------------------------- */


static int do_sync(paxos_store *st, int fd) {
  int rc = st->opts.sync_fn ? st->opts.sync_fn(fd, st->opts.sync_ud) : fsync(fd);
  if (rc == 0) st->stats.syncs++;
  return rc;
}


static int path_of(paxos_store *st, char *out, const char *name, uint64_t gen, const char *sfx) {
  int n = snprintf(out, PATH_MAX, "%s/%s-%016" PRIx64 "%s", st->dir, name, gen, sfx);
  return (n < 0 || n >= PATH_MAX) ? -1 : 0;
}

static int sync_dir(paxos_store *st, syn_err *err) {
  int fd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return syn_err_set(err, SYN_EIO, "paxos_store: open dir %s: %s", st->dir, strerror(errno));
  int rc = do_sync(st, fd);
  int e = errno;
  close(fd);
  if (rc != 0) return syn_err_set(err, SYN_EIO, "paxos_store: fsync dir %s: %s", st->dir, strerror(e));
  return 0;
}

/* Write a whole file durably: temp, fsync, rename, fsync dir. */
static int write_file(paxos_store *st, const char *path, const uint8_t *a, size_t alen,
                      const uint8_t *b, size_t blen, syn_err *err) {
  char tmp[PATH_MAX + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return syn_err_set(err, SYN_EIO, "paxos_store: create %s: %s", tmp, strerror(errno));
  if (syn_write_all(fd, a, alen) != 0 || (blen && syn_write_all(fd, b, blen) != 0) || do_sync(st, fd) != 0) {
    int e = errno;
    close(fd);
    unlink(tmp);
    return syn_err_set(err, SYN_EIO, "paxos_store: write %s: %s", tmp, strerror(e));
  }
  close(fd);
  if (rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return syn_err_set(err, SYN_EIO, "paxos_store: rename %s: %s", tmp, strerror(e));
  }
  return sync_dir(st, err);
}

/* ---- the mirror ---------------------------------------------------------- */

static st_slot *slot_at(paxos_store *st, uint64_t slot) {
  if (slot <= st->snap_slot || slot - st->snap_slot > ((uint64_t)1 << 26)) return NULL;
  size_t i = (size_t)(slot - st->snap_slot - 1);
  if (i >= st->nslots) {
    size_t nn = st->nslots ? st->nslots : 64;
    while (nn <= i) nn *= 2;
    st_slot *n = realloc(st->slots, nn * sizeof *n);
    if (!n) return NULL;
    memset(n + st->nslots, 0, (nn - st->nslots) * sizeof *n);
    st->slots = n;
    st->nslots = nn;
  }
  return &st->slots[i];
}

static void slots_drop_upto(paxos_store *st, uint64_t upto) {
  if (upto <= st->snap_slot || !st->nslots) return;
  size_t k = (size_t)(upto - st->snap_slot);
  if (k > st->nslots) k = st->nslots;
  for (size_t i = 0; i < k; i++) free(st->slots[i].data);
  memmove(st->slots, st->slots + k, (st->nslots - k) * sizeof *st->slots);
  memset(st->slots + (st->nslots - k), 0, k * sizeof *st->slots);
}

/* Apply one record to the mirror. Data is copied. */
static int mirror(paxos_store *st, const paxos_rec *r) {
  switch (r->type) {
  case PAXOS_REC_PROMISE:
    if (r->ballot > st->promised) st->promised = r->ballot;
    return 0;
  case PAXOS_REC_ACCEPT:
  case PAXOS_REC_LEARN: {
    if (r->slot <= st->snap_slot) return 0;
    st_slot *s = slot_at(st, r->slot);
    if (!s) return SYN_ENOMEM;
    uint8_t *d = r->len ? malloc(r->len) : NULL;
    if (r->len && !d) return SYN_ENOMEM;
    if (r->len) memcpy(d, r->data, r->len);
    free(s->data);
    s->data = d;
    s->len = r->len;
    s->type = r->type;
    s->ballot = r->type == PAXOS_REC_ACCEPT ? r->ballot : 0;
    if (r->type == PAXOS_REC_ACCEPT && r->ballot > st->promised) st->promised = r->ballot;
    return 0;
  }
  case PAXOS_REC_COMMIT:
    if (r->slot > st->commit) st->commit = r->slot;
    return 0;
  case PAXOS_REC_REJOIN:
    st->rejoin = true;
    return 0;
  case PAXOS_REC_VOTER:
    st->rejoin = false;
    if (r->ballot > st->promised) st->promised = r->ballot;
    return 0;
  case PAXOS_REC_SNAPSHOT:
    return 0; /* handled by the callers: it changes files */
  }
  return SYN_EINVAL;
}

static size_t rec_size(const paxos_rec *r) { return REC_HDR + REC_BODY + r->len; }

static void rec_encode(const paxos_rec *r, uint8_t *p) {
  uint8_t *b = p + REC_HDR;
  b[0] = (uint8_t)r->type;
  syn_put_le64(b + 1, r->slot);
  syn_put_le64(b + 9, r->ballot);
  syn_put_le32(b + 17, r->len);
  if (r->len) memcpy(b + REC_BODY, r->data, r->len);
  syn_put_le32(p, REC_BODY + r->len);
  syn_put_le32(p + 4, crc32c_update(0, b, REC_BODY + r->len));
}

/* ---- snapshots and compaction --------------------------------------- */

static int snap_write(paxos_store *st, uint64_t gen, uint64_t slot, const uint8_t *d, size_t len,
                      syn_err *err) {
  char path[PATH_MAX];
  if (path_of(st, path, "snap", gen, "") != 0) return syn_err_set(err, SYN_EIO, "paxos_store: path too long");
  uint8_t hdr[24];
  memcpy(hdr, SNAP_MAGIC, 8);
  syn_put_le64(hdr + 8, slot);
  syn_put_le64(hdr + 16, len);
  uint32_t crc = crc32c_update(crc32c_update(0, hdr, 24), d, len);
  size_t tot = len + 4;
  uint8_t *body = malloc(tot);
  if (!body) return syn_err_set(err, SYN_ENOMEM, "paxos_store: out of memory");
  if (len) memcpy(body, d, len);
  syn_put_le32(body + len, crc);
  /* Invariant: the snapshot is durable under its final name before any
  ** log segment refers to it. */
  int rc = write_file(st, path, hdr, 24, body, tot, err);
  free(body);
  return rc;
}

static int snap_read(paxos_store *st, uint64_t gen, uint64_t want_slot, syn_err *err) {
  char path[PATH_MAX];
  if (path_of(st, path, "snap", gen, "") != 0) return syn_err_set(err, SYN_EIO, "paxos_store: path too long");
  FILE *f = fopen(path, "rb");
  if (!f) return syn_err_set(err, SYN_ECORRUPT, "paxos_store: %s referenced but unreadable: %s", path, strerror(errno));
  uint8_t hdr[24];
  if (fread(hdr, 1, 24, f) != 24 || memcmp(hdr, SNAP_MAGIC, 8) != 0) {
    fclose(f);
    return syn_err_set(err, SYN_ECORRUPT, "paxos_store: %s: bad header", path);
  }
  uint64_t slot = syn_get_le64(hdr + 8), len = syn_get_le64(hdr + 16);
  if (slot != want_slot || len > PAXOS_MAX_MSG) {
    fclose(f);
    return syn_err_set(err, SYN_ECORRUPT, "paxos_store: %s: slot %llu/len %llu do not match the log",
                       path, (unsigned long long)slot, (unsigned long long)len);
  }
  uint8_t *d = malloc((size_t)len + 4);
  if (!d) {
    fclose(f);
    return syn_err_set(err, SYN_ENOMEM, "paxos_store: out of memory");
  }
  size_t got = fread(d, 1, (size_t)len + 5, f);
  fclose(f);
  if (got != len + 4 || syn_get_le32(d + len) != crc32c_update(crc32c_update(0, hdr, 24), d, (size_t)len)) {
    free(d);
    return syn_err_set(err, SYN_ECORRUPT, "paxos_store: %s: checksum or length mismatch", path);
  }
  free(st->snap);
  st->snap = d;
  st->snap_len = (size_t)len;
  return 0;
}

/* Append the mirror's live state as records to buf (grown as needed). */
typedef struct buf {
  uint8_t *p;
  size_t n, cap;
} buf;

static int buf_rec(buf *b, const paxos_rec *r) {
  size_t need = rec_size(r);
  if (b->n + need > b->cap) {
    size_t nc = b->cap ? b->cap : 4096;
    while (nc < b->n + need) nc *= 2;
    uint8_t *np = realloc(b->p, nc);
    if (!np) return SYN_ENOMEM;
    b->p = np;
    b->cap = nc;
  }
  rec_encode(r, b->p + b->n);
  b->n += need;
  return 0;
}

static int open_segment(paxos_store *st, uint64_t gen, syn_err *err) {
  char path[PATH_MAX];
  if (path_of(st, path, "log", gen, "") != 0) return syn_err_set(err, SYN_EIO, "paxos_store: path too long");
  int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return syn_err_set(err, SYN_EIO, "paxos_store: open %s: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    close(fd);
    return syn_err_set(err, SYN_EIO, "paxos_store: stat %s: %s", path, strerror(errno));
  }
  if (st->fd >= 0) close(st->fd);
  st->fd = fd;
  st->gen = gen;
  st->size = (uint64_t)sb.st_size;
  return 0;
}

static void remove_gen(paxos_store *st, uint64_t gen) {
  char path[PATH_MAX];
  if (path_of(st, path, "log", gen, "") == 0) unlink(path);
  if (path_of(st, path, "snap", gen, "") == 0) unlink(path);
}

/* Snapshot at slot with data: snap-<g+1>, then log-<g+1> with the live
** state above it, then drop generation g. Each step is durable before the
** next, so a crash leaves either the old generation complete (the new
** files are ignored and removed at open) or the new one complete. */
static int compact(paxos_store *st, uint64_t slot, const uint8_t *d, size_t len, syn_err *err) {
  if (slot <= st->snap_slot) return 0; /* older than what we hold */
  uint64_t ng = st->gen + 1;
  int rc = snap_write(st, ng, slot, d, len, err);
  if (rc) return rc;
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return syn_err_set(err, SYN_ENOMEM, "paxos_store: out of memory");
  if (len) memcpy(copy, d, len);
  slots_drop_upto(st, slot);
  st->snap_slot = slot;
  free(st->snap);
  st->snap = copy;
  st->snap_len = len;
  if (st->commit < slot) st->commit = slot;

  buf b = {0};
  paxos_rec ref = {.type = PAXOS_REC_SNAPSHOT, .slot = slot};
  rc = buf_rec(&b, &ref);
  if (!rc && st->promised) rc = buf_rec(&b, &(paxos_rec){.type = PAXOS_REC_PROMISE, .ballot = st->promised});
  if (!rc && st->rejoin) rc = buf_rec(&b, &(paxos_rec){.type = PAXOS_REC_REJOIN});
  for (size_t i = 0; !rc && i < st->nslots; i++) {
    st_slot *s = &st->slots[i];
    if (!s->type) continue;
    rc = buf_rec(&b, &(paxos_rec){.type = s->type, .slot = slot + 1 + i, .ballot = s->ballot,
                                  .data = s->data, .len = s->len});
  }
  if (!rc && st->commit > slot) rc = buf_rec(&b, &(paxos_rec){.type = PAXOS_REC_COMMIT, .slot = st->commit});
  if (rc) {
    free(b.p);
    return syn_err_set(err, rc, "paxos_store: compaction: out of memory");
  }
  char path[PATH_MAX];
  if (path_of(st, path, "log", ng, "") != 0) {
    free(b.p);
    return syn_err_set(err, SYN_EIO, "paxos_store: path too long");
  }
  /* Invariant: the new segment carries every promise and accepted value
  ** above the snapshot, durably, before the old segment is deleted. */
  rc = write_file(st, path, b.p, b.n, NULL, 0, err);
  free(b.p);
  if (rc) return rc;
  uint64_t old = st->gen;
  rc = open_segment(st, ng, err);
  if (rc) return rc;
  remove_gen(st, old);
  st->stats.compactions++;
  return 0;
}

/* ---- append ------------------------------------------------------------ */

static int flush_buf(paxos_store *st, buf *b, syn_err *err) {
  if (!b->n) return 0;
  /* Invariant (docs/consensus.md, "What is fsynced when"): the core answers
  ** a PREPARE or an ACCEPT only after this write and fsync returned. */
  if (syn_write_all(st->fd, b->p, b->n) != 0 || do_sync(st, st->fd) != 0) {
    st->broken = true;
    return syn_err_set(err, SYN_EIO, "paxos_store: append to log-%016" PRIx64 ": %s", st->gen,
                       strerror(errno));
  }
  st->size += b->n;
  b->n = 0;
  return 0;
}

int paxos_store_append(paxos_store *st, const paxos_rec *recs, size_t n, syn_err *err) {
  if (st->broken) return syn_err_set(err, SYN_EIO, "paxos_store: an earlier write failed; reopen");
  buf b = {0};
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    const paxos_rec *r = &recs[i];
    if (r->type < PAXOS_REC_PROMISE || r->type > PAXOS_REC_VOTER || (r->len && !r->data)) {
      rc = syn_err_set(err, SYN_EINVAL, "paxos_store: malformed record %zu", i);
      break;
    }
    if (r->type == PAXOS_REC_SNAPSHOT) {
      rc = flush_buf(st, &b, err);
      if (!rc) rc = compact(st, r->slot, r->data, r->len, err);
      if (rc) st->broken = true;
      continue;
    }
    rc = mirror(st, r);
    if (rc) {
      syn_err_set(err, rc, "paxos_store: out of memory");
      st->broken = true;
      break;
    }
    rc = buf_rec(&b, r);
    if (rc) {
      syn_err_set(err, rc, "paxos_store: out of memory");
      st->broken = true;
    }
  }
  if (!rc) rc = flush_buf(st, &b, err);
  free(b.p);
  return rc;
}

/* ---- open / replay ------------------------------------------------------ */

/* Read log-<gen>, cut a bad tail, rebuild the mirror. */
static int load_segment(paxos_store *st, uint64_t gen, syn_err *err) {
  char path[PATH_MAX];
  if (path_of(st, path, "log", gen, "") != 0) return syn_err_set(err, SYN_EIO, "paxos_store: path too long");
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return syn_err_set(err, SYN_EIO, "paxos_store: open %s: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    close(fd);
    return syn_err_set(err, SYN_EIO, "paxos_store: stat %s", path);
  }
  size_t size = (size_t)sb.st_size;
  uint8_t *data = malloc(size ? size : 1);
  if (!data) {
    close(fd);
    return syn_err_set(err, SYN_ENOMEM, "paxos_store: out of memory");
  }
  size_t got = 0;
  while (got < size) {
    ssize_t r = pread(fd, data + got, size - got, (off_t)got);
    if (r <= 0) {
      if (r < 0 && errno == EINTR) continue;
      free(data);
      close(fd);
      return syn_err_set(err, SYN_EIO, "paxos_store: read %s", path);
    }
    got += (size_t)r;
  }
  size_t off = 0;
  int rc = 0;
  bool first = true;
  while (off < size) {
    if (size - off < REC_HDR + REC_BODY) break;
    uint32_t len = syn_get_le32(data + off);
    if (len < REC_BODY || len > size - off - REC_HDR) break;
    const uint8_t *b = data + off + REC_HDR;
    if (syn_get_le32(data + off + 4) != crc32c_update(0, b, len)) break;
    paxos_rec r = {.type = (paxos_rec_type)b[0], .slot = syn_get_le64(b + 1), .ballot = syn_get_le64(b + 9),
                   .len = syn_get_le32(b + 17), .data = b + REC_BODY};
    if (r.len != len - REC_BODY || r.type < PAXOS_REC_PROMISE || r.type > PAXOS_REC_VOTER) break;
    if (r.type == PAXOS_REC_SNAPSHOT) {
      if (!first) break; /* only a segment's first record may be one */
      rc = snap_read(st, gen, r.slot, err);
      if (rc) break;
      st->snap_slot = r.slot;
      if (st->commit < r.slot) st->commit = r.slot;
    } else {
      rc = mirror(st, &r);
      if (rc) {
        syn_err_set(err, rc, "paxos_store: out of memory");
        break;
      }
    }
    first = false;
    off += REC_HDR + len;
  }
  free(data);
  if (!rc && off < size) {
    /* Torn (or corrupt) tail: cut it so later appends follow valid data. */
    st->stats.truncated_bytes = size - off;
    if (ftruncate(fd, (off_t)off) != 0 || do_sync(st, fd) != 0)
      rc = syn_err_set(err, SYN_EIO, "paxos_store: truncate %s: %s", path, strerror(errno));
  }
  close(fd);
  return rc;
}

static int scan_dir(paxos_store *st, uint64_t *maxgen, bool *marker, syn_err *err) {
  DIR *d = opendir(st->dir);
  if (!d) return syn_err_set(err, SYN_EIO, "paxos_store: open dir %s: %s", st->dir, strerror(errno));
  *maxgen = 0;
  *marker = false;
  struct dirent *e;
  while ((e = readdir(d))) {
    uint64_t g;
    char tail[8];
    if (strcmp(e->d_name, "MEMBER") == 0) *marker = true;
    else if (sscanf(e->d_name, "log-%16" SCNx64 "%7s", &g, tail) == 1 && g > *maxgen) *maxgen = g;
  }
  closedir(d);
  return 0;
}

/* Remove files of every generation but the live one, and temp files. */
static void clean_dir(paxos_store *st) {
  DIR *d = opendir(st->dir);
  if (!d) return;
  struct dirent *e;
  char path[PATH_MAX + 300];
  while ((e = readdir(d))) {
    uint64_t g;
    size_t l = strlen(e->d_name);
    bool tmp = l > 4 && strcmp(e->d_name + l - 4, ".tmp") == 0;
    bool other = (sscanf(e->d_name, "log-%16" SCNx64, &g) == 1 ||
                  sscanf(e->d_name, "snap-%16" SCNx64, &g) == 1) && g != st->gen;
    if (tmp || other) {
      snprintf(path, sizeof path, "%s/%s", st->dir, e->d_name);
      unlink(path);
    }
  }
  closedir(d);
}

static int write_marker(paxos_store *st, syn_err *err) {
  char path[PATH_MAX + 8];
  snprintf(path, sizeof path, "%s/MEMBER", st->dir);
  static const char text[] = "synod paxos member v1\n";
  /* Invariant: the marker says "this directory holds a member's promises";
  ** it is durable only after the state it vouches for is. */
  return write_file(st, path, (const uint8_t *)text, sizeof text - 1, NULL, 0, err);
}

int paxos_store_open(const char *dir, paxos_store_mode mode, const paxos_store_opts *opts,
                     paxos_store **out, syn_err *err) {
  *out = NULL;
  if (!dir || (mode != PAXOS_STORE_BOOTSTRAP && mode != PAXOS_STORE_MEMBER))
    return syn_err_set(err, SYN_EINVAL, "paxos_store_open: bad arguments");
  paxos_store *st = calloc(1, sizeof *st);
  if (!st) return syn_err_set(err, SYN_ENOMEM, "paxos_store_open: out of memory");
  st->fd = -1;
  if (opts) st->opts = *opts;
  if (snprintf(st->dir, sizeof st->dir, "%s", dir) >= (int)sizeof st->dir) {
    free(st);
    return syn_err_set(err, SYN_EINVAL, "paxos_store_open: path too long");
  }
  int rc = 0;
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    rc = syn_err_set(err, SYN_EIO, "paxos_store: mkdir %s: %s", dir, strerror(errno));
    goto err_after_alloc;
  }
  uint64_t gen = 0;
  bool marker = false;
  /* A log without a marker is a bootstrap or a rejoin that crashed before
  ** writing the marker (the marker is written last); a rejoin's REJOIN
  ** record is then already in the log and is simply written again. */
  rc = scan_dir(st, &gen, &marker, err);
  if (rc) goto err_after_alloc;
  if (marker && !gen) {
    /* The marker is written after the first segment, so its log went
    ** missing: voting from an empty state would forget promises. */
    rc = syn_err_set(err, SYN_ECORRUPT,
                     "paxos_store: %s has a MEMBER marker but no log; remove the directory "
                     "to rejoin as a learner", dir);
    goto err_after_alloc;
  }
  if (!gen) {
    gen = 1;
    char path[PATH_MAX];
    if (path_of(st, path, "log", gen, "") != 0) {
      rc = syn_err_set(err, SYN_EIO, "paxos_store: path too long");
      goto err_after_alloc;
    }
    rc = write_file(st, path, NULL, 0, NULL, 0, err);
    if (rc) goto err_after_alloc;
  }
  st->gen = gen;
  clean_dir(st);
  rc = load_segment(st, gen, err);
  if (rc) goto err_after_alloc;
  rc = open_segment(st, gen, err);
  if (rc) goto err_after_alloc;
  if (!marker) {
    if (mode == PAXOS_STORE_MEMBER) {
      /* An existing member without its marker lost its disk (or never
      ** finished rejoining): it must not vote as if it had promised
      ** nothing. REJOIN is durable before the marker, so the member stays
      ** a learner across crashes until the core records VOTER. */
      st->stats.wiped = true;
      paxos_rec r = {.type = PAXOS_REC_REJOIN};
      rc = paxos_store_append(st, &r, 1, err);
      if (rc) goto err_after_open;
    }
    rc = write_marker(st, err);
    if (rc) goto err_after_open;
  }
  *out = st;
  return 0;
err_after_open:
  close(st->fd);
  st->fd = -1;
err_after_alloc:
  paxos_store_close(st);
  return rc;
}

void paxos_store_close(paxos_store *st) {
  if (!st) return;
  if (st->fd >= 0) close(st->fd);
  for (size_t i = 0; i < st->nslots; i++) free(st->slots[i].data);
  free(st->slots);
  free(st->snap);
  free(st);
}

int paxos_store_replay(paxos_store *st, int (*fn)(const paxos_rec *r, void *ud), void *ud) {
  int rc;
  if (st->snap_slot) {
    paxos_rec r = {.type = PAXOS_REC_SNAPSHOT, .slot = st->snap_slot, .data = st->snap,
                   .len = (uint32_t)st->snap_len};
    if ((rc = fn(&r, ud))) return rc;
  }
  if (st->promised) {
    paxos_rec r = {.type = PAXOS_REC_PROMISE, .ballot = st->promised};
    if ((rc = fn(&r, ud))) return rc;
  }
  if (st->rejoin) {
    paxos_rec r = {.type = PAXOS_REC_REJOIN};
    if ((rc = fn(&r, ud))) return rc;
  }
  for (size_t i = 0; i < st->nslots; i++) {
    st_slot *s = &st->slots[i];
    if (!s->type) continue;
    paxos_rec r = {.type = s->type, .slot = st->snap_slot + 1 + i, .ballot = s->ballot,
                   .data = s->data, .len = s->len};
    if ((rc = fn(&r, ud))) return rc;
  }
  if (st->commit > st->snap_slot) {
    paxos_rec r = {.type = PAXOS_REC_COMMIT, .slot = st->commit};
    if ((rc = fn(&r, ud))) return rc;
  }
  return 0;
}

void paxos_store_get_stats(const paxos_store *st, paxos_store_stats *o) {
  *o = st->stats;
  o->gen = st->gen;
  o->file_bytes = st->size;
  o->snap_slot = st->snap_slot;
  o->commit = st->commit;
  o->promised = st->promised;
  o->rejoining = st->rejoin;
  uint64_t n = 0;
  for (size_t i = 0; i < st->nslots; i++) n += st->slots[i].type != 0;
  o->entries = n;
}
