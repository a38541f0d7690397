/*
** The Multi-Paxos simulator (see paxos_sim.h).
*/
#include "paxos_sim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/paxos/paxos.h"
#include "coordinator/paxos/paxos_store.h"

#include <dirent.h>
#include <unistd.h>

#define MAXN 5
#define MAXC 6           /* clients */
#define MAXSLOTS 20000
#define MAXIDS 20000
#define TICK 5
#define FAULT_STEPS 1600 /* 8 s of simulated faults */
#define HEAL_STEPS 2400  /* 12 s to recover and choose the final value */

typedef struct rng {
  uint64_t s;
} rng;
static uint64_t rnext(rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static uint32_t rbelow(rng *r, uint32_t n) { return (uint32_t)(rnext(r) % n); }
static bool rpm(rng *r, uint32_t pm) { return rbelow(r, 1000) < pm; }

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
  return h;
}

typedef struct drec { /* one durable record (owned copy) */
  paxos_rec r;
  uint8_t *data;
} drec;

typedef struct dpend { /* a persist not yet durable */
  uint64_t seq, at;
  drec *recs;
  size_t n;
} dpend;

typedef struct smsg {
  uint64_t at;
  int to, from;
  uint8_t *bytes;
  size_t len;
} smsg;

struct sim;

typedef struct node {
  struct sim *sim;
  int idx;
  uint32_t id;
  bool up;
  uint64_t restart_at;
  bool wipe_on_restart;
  paxos *px;
  drec *disk;
  size_t ndisk, capdisk;
  dpend *pend;
  size_t npend, cappend;
  /* state machine: a hash chain over values with new ids */
  uint64_t sm_hash, applied;
  uint8_t *seen_ids; /* MAXIDS flags */
  uint32_t nseen;
  bool was_learner;
  bool rejoining; /* wiped, not yet a voter again */
  /* what the disk holds, kept up to date by disk_append: the durability
  ** oracle every PROMISE/ACCEPTED/PREPARE is checked against */
  paxos_ballot dprom;
  uint64_t dsnap;
  uint64_t *dacc; /* per slot: highest durable accepted ballot, ~0 learned */
  /* real-store mode: the records also go to a paxos_store, and a restart
  ** recovers from it (the in-memory disk stays the oracle) */
  paxos_store *st;
  char dir[128];
  bool booted;
} node;

typedef struct client {
  uint64_t id;       /* current value id, 0 none */
  int target;
  uint64_t sent_at, retry_at;
  bool waiting;      /* queued at some leader */
} client;

typedef struct sim {
  rng r;
  uint64_t seed, now;
  bool trace, failed;
  char *why;
  size_t whycap;
  int n;
  node nodes[MAXN];
  smsg *msgs;
  size_t nmsgs, capmsgs;
  int group[MAXN];       /* partition group per node */
  client clients[MAXC];
  uint64_t next_id;
  /* ground truth */
  uint64_t slot_hash[MAXSLOTS + 1];  /* batch bytes hash per applied slot */
  uint64_t state_hash[MAXSLOTS + 1]; /* state machine hash after slot */
  bool slot_set[MAXSLOTS + 1];
  uint8_t held[MAXSLOTS + 1]; /* per slot: members that ever held it durably (wipes included) */
  uint32_t proposed_len[MAXIDS];     /* 0: never proposed */
  uint64_t max_applied;
  bool chosen_ids[MAXIDS];
  /* fault knobs */
  bool faults, real_store;
  char base[64];
  uint32_t drop_pm, dup_pm, max_delay, crash_pm, wipe_pm, part_pm, disk_ms;
  paxos_sim_totals t;
} sim;

static void fail(sim *s, const char *fmt, ...) {
  if (s->failed) return;
  s->failed = true;
  va_list ap;
  va_start(ap, fmt);
  int k = snprintf(s->why, s->whycap, "t=%llu: ", (unsigned long long)s->now);
  if (k > 0 && (size_t)k < s->whycap) vsnprintf(s->why + k, s->whycap - (size_t)k, fmt, ap);
  va_end(ap);
}

static void tr(sim *s, const char *fmt, ...) {
  if (!s->trace) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "[%6llu] ", (unsigned long long)s->now);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* ---- value content: derived from the id, so "was proposed" is checkable */
static uint32_t value_len(uint64_t id) { return 8 + (uint32_t)(id * 7 % 40); }
static void value_fill(uint64_t id, uint8_t *b) {
  uint32_t l = value_len(id);
  for (uint32_t i = 0; i < l; i++) b[i] = (uint8_t)(id * 31 + i * 17);
}

/* ---- io ---------------------------------------------------------------- */

static void check_durable(sim *s, node *nd, const paxos_msg *m);

static void io_send(void *ud, const paxos_msg *m) {
  node *nd = ud;
  sim *s = nd->sim;
  int to = -1;
  for (int i = 0; i < s->n; i++)
    if (s->nodes[i].id == m->to) to = i;
  if (to < 0) return fail(s, "node %u sent to unknown %u", nd->id, m->to);
  check_durable(s, nd, m);
  uint8_t *b;
  size_t len;
  syn_err e;
  if (paxos_msg_encode(m, &b, &len, &e) != 0) return fail(s, "encode: %s", e.msg);
  s->t.msgs++;
  int copies = 1;
  if (s->faults && rpm(&s->r, s->drop_pm)) {
    s->t.drops++;
    free(b);
    return;
  }
  if (s->faults && rpm(&s->r, s->dup_pm)) {
    copies = 2;
    s->t.dups++;
  }
  for (int c = 0; c < copies; c++) {
    if (s->nmsgs == s->capmsgs) {
      s->capmsgs = s->capmsgs ? s->capmsgs * 2 : 1024;
      s->msgs = realloc(s->msgs, s->capmsgs * sizeof *s->msgs);
    }
    uint8_t *bb = b;
    if (c == 1) {
      bb = malloc(len);
      memcpy(bb, b, len);
    }
    uint32_t delay = 1 + (s->faults ? rbelow(&s->r, s->max_delay) : rbelow(&s->r, 3));
    s->msgs[s->nmsgs++] = (smsg){.at = s->now + delay, .to = to, .from = nd->idx, .bytes = bb,
                                 .len = len};
  }
}

static void io_persist(void *ud, uint64_t seq, const paxos_rec *recs, size_t n) {
  node *nd = ud;
  sim *s = nd->sim;
  if (nd->npend == nd->cappend) {
    nd->cappend = nd->cappend ? nd->cappend * 2 : 16;
    nd->pend = realloc(nd->pend, nd->cappend * sizeof *nd->pend);
  }
  dpend *p = &nd->pend[nd->npend++];
  p->seq = seq;
  p->at = s->now + rbelow(&s->r, s->disk_ms);
  p->n = n;
  p->recs = calloc(n ? n : 1, sizeof *p->recs);
  for (size_t i = 0; i < n; i++) {
    p->recs[i].r = recs[i];
    if (recs[i].len) {
      p->recs[i].data = malloc(recs[i].len);
      memcpy(p->recs[i].data, recs[i].data, recs[i].len);
    }
    p->recs[i].r.data = p->recs[i].data;
  }
}

static void disk_append(node *nd, drec *d) {
  if (nd->ndisk == nd->capdisk) {
    nd->capdisk = nd->capdisk ? nd->capdisk * 2 : 64;
    nd->disk = realloc(nd->disk, nd->capdisk * sizeof *nd->disk);
  }
  nd->disk[nd->ndisk++] = *d;
  const paxos_rec *r = &d->r;
  if (nd->st) {
    syn_err e;
    if (paxos_store_append(nd->st, r, 1, &e) != 0) fail(nd->sim, "store append: %s", e.msg);
  }
  switch (r->type) {
  case PAXOS_REC_PROMISE:
  case PAXOS_REC_VOTER:
    if (r->ballot > nd->dprom) nd->dprom = r->ballot;
    break;
  case PAXOS_REC_ACCEPT:
    if (r->ballot > nd->dprom) nd->dprom = r->ballot;
    if (r->slot <= MAXSLOTS && r->ballot > nd->dacc[r->slot]) nd->dacc[r->slot] = r->ballot;
    if (r->slot <= MAXSLOTS) nd->sim->held[r->slot] |= (uint8_t)(1u << nd->idx);
    break;
  case PAXOS_REC_LEARN:
    if (r->slot <= MAXSLOTS) nd->dacc[r->slot] = ~0ULL;
    if (r->slot <= MAXSLOTS) nd->sim->held[r->slot] |= (uint8_t)(1u << nd->idx);
    break;
  case PAXOS_REC_SNAPSHOT:
    if (r->slot > nd->dsnap) nd->dsnap = r->slot;
    break;
  default:
    break;
  }
}

/* The invariant of docs/consensus.md, "What is fsynced when", checked on
** every message that leaves: what it claims is already on the disk. */
static void check_durable(sim *s, node *nd, const paxos_msg *m) {
  if (m->type == PAXOS_M_PROMISE && m->ok && nd->dprom < m->ballot)
    fail(s, "n%u sent PROMISE %llu.%u before it was durable", nd->id,
         (unsigned long long)PAXOS_BALLOT_ROUND(m->ballot), PAXOS_BALLOT_NODE(m->ballot));
  if (m->type == PAXOS_M_PREPARE && nd->dprom < m->ballot)
    fail(s, "n%u sent PREPARE before its own promise was durable", nd->id);
  if (m->type == PAXOS_M_ACCEPTED && m->ok && m->slot <= MAXSLOTS && m->slot > nd->dsnap &&
      nd->dacc[m->slot] < m->ballot)
    fail(s, "n%u sent ACCEPTED for slot %llu before it was durable", nd->id,
         (unsigned long long)m->slot);
}

static void sm_apply_value(node *nd, uint64_t id, const uint8_t *d, uint32_t len) {
  sim *s = nd->sim;
  if (id == 0 || id >= MAXIDS || s->proposed_len[id] == 0)
    return fail(s, "node %u applied value id %llu that no client proposed", nd->id,
                (unsigned long long)id);
  uint8_t want[64];
  value_fill(id, want);
  if (len != value_len(id) || memcmp(d, want, len) != 0)
    return fail(s, "node %u applied id %llu with content nobody proposed", nd->id,
                (unsigned long long)id);
  if (nd->seen_ids[id]) return; /* dedup by client id */
  nd->seen_ids[id] = 1;
  nd->nseen++;
  nd->sm_hash = fnv(nd->sm_hash ^ 0x9e37, &id, sizeof id);
}

static void io_apply(void *ud, uint64_t slot, const paxos_value *vals, uint32_t n) {
  node *nd = ud;
  sim *s = nd->sim;
  if (slot != nd->applied + 1)
    return fail(s, "node %u applied slot %llu after %llu", nd->id, (unsigned long long)slot,
                (unsigned long long)nd->applied);
  if (slot > MAXSLOTS) return fail(s, "simulation ran past %d slots", MAXSLOTS);
  uint64_t h = 14695981039346656037ULL;
  for (uint32_t i = 0; i < n; i++) {
    h = fnv(h, &vals[i].id, 8);
    h = fnv(h, vals[i].data, vals[i].len);
    sm_apply_value(nd, vals[i].id, vals[i].data, vals[i].len);
  }
  nd->applied = slot;
  if (!s->slot_set[slot]) {
    /* Chosen means a majority holds it durably, at the moment it is first
    ** applied anywhere (a vote counted before its fsync breaks this). */
    int held = 0;
    for (int i = 0; i < s->n; i++)
      held += (s->held[slot] >> i & 1) || s->nodes[i].dsnap >= slot;
    if (held < s->n / 2 + 1)
      fail(s, "slot %llu applied by n%u while only %d members hold it durably",
           (unsigned long long)slot, nd->id, held);
    s->slot_set[slot] = true;
    s->slot_hash[slot] = h;
    s->state_hash[slot] = nd->sm_hash;
    if (slot > s->max_applied) s->max_applied = slot;
    if (n > 1) s->t.batched_slots++;
    for (uint32_t i = 0; i < n; i++)
      if (vals[i].id < MAXIDS) s->chosen_ids[vals[i].id] = true;
  } else if (s->slot_hash[slot] != h) {
    fail(s, "slot %llu: node %u applied a different value than another node",
         (unsigned long long)slot, nd->id);
  } else if (s->state_hash[slot] != nd->sm_hash) {
    fail(s, "slot %llu: node %u's state machine differs", (unsigned long long)slot, nd->id);
  }
  tr(s, "n%u apply slot %llu (%u values)", nd->id, (unsigned long long)slot, n);
}

/* Snapshot: [u64 hash][u64 applied][u32 count][u64 ids...] */
static int io_snap_take(void *ud, uint64_t slot, uint8_t **data, size_t *len) {
  node *nd = ud;
  if (slot != nd->applied) {
    fail(nd->sim, "snapshot_take(%llu) but applied %llu", (unsigned long long)slot,
         (unsigned long long)nd->applied);
    return -1;
  }
  size_t l = 20 + (size_t)nd->nseen * 8;
  uint8_t *b = malloc(l);
  memcpy(b, &nd->sm_hash, 8);
  memcpy(b + 8, &nd->applied, 8);
  memcpy(b + 16, &nd->nseen, 4);
  size_t k = 20;
  for (uint64_t id = 1; id < MAXIDS; id++)
    if (nd->seen_ids[id]) {
      memcpy(b + k, &id, 8);
      k += 8;
    }
  *data = b;
  *len = l;
  return 0;
}

static int io_snap_install(void *ud, uint64_t slot, const uint8_t *data, size_t len) {
  node *nd = ud;
  sim *s = nd->sim;
  uint64_t h, ap;
  uint32_t cnt;
  if (len < 20) {
    fail(s, "node %u: snapshot of %zu bytes", nd->id, len);
    return -1;
  }
  memcpy(&h, data, 8);
  memcpy(&ap, data + 8, 8);
  memcpy(&cnt, data + 16, 4);
  if (ap != slot || len != 20 + (size_t)cnt * 8) {
    fail(s, "node %u: snapshot for slot %llu says %llu", nd->id, (unsigned long long)slot,
         (unsigned long long)ap);
    return -1;
  }
  if (slot <= MAXSLOTS && s->slot_set[slot] && s->state_hash[slot] != h)
    fail(s, "node %u: snapshot at slot %llu differs from the applied state", nd->id,
         (unsigned long long)slot);
  memset(nd->seen_ids, 0, MAXIDS);
  nd->nseen = 0;
  for (uint32_t i = 0; i < cnt; i++) {
    uint64_t id;
    memcpy(&id, data + 20 + (size_t)i * 8, 8);
    if (id < MAXIDS && !nd->seen_ids[id]) {
      nd->seen_ids[id] = 1;
      nd->nseen++;
    }
  }
  nd->sm_hash = h;
  nd->applied = slot;
  s->t.snapshots_sent++;
  tr(s, "n%u install snapshot at %llu", nd->id, (unsigned long long)slot);
  return 0;
}

static void io_done(void *ud, uint64_t id, int status, uint64_t slot) {
  node *nd = ud;
  sim *s = nd->sim;
  for (int c = 0; c < MAXC; c++) {
    client *cl = &s->clients[c];
    if (cl->id != id) continue;
    if (status == 0) {
      if (!nd->seen_ids[id]) fail(s, "id %llu reported chosen before it was applied at the leader",
                                  (unsigned long long)id);
      cl->id = 0;
      cl->waiting = false;
    } else {
      s->t.lost_reports++;
      cl->waiting = false;
      cl->retry_at = s->now + 10;
    }
  }
}

static void io_trace(void *ud, const char *what) {
  node *nd = ud;
  tr(nd->sim, "n%u %s", nd->id, what);
}

static const paxos_io sim_io = {.send = io_send, .persist = io_persist, .apply = io_apply,
                                .snapshot_take = io_snap_take,
                                .snapshot_install = io_snap_install,
                                .proposal_done = io_done, .trace = io_trace};

/* ---- node life -------------------------------------------------------- */

static int restore_cb(const paxos_rec *r, void *ud) { return paxos_restore(ud, r, NULL); }

static int nosync(int fd, void *ud) {
  (void)fd;
  (void)ud;
  return 0;
}

static void rm_dir(const char *d) {
  DIR *dd = opendir(d);
  if (!dd) return;
  struct dirent *e;
  char p[512];
  while ((e = readdir(dd))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof p, "%.200s/%.255s", d, e->d_name);
    if (unlink(p) != 0) rm_dir(p);
  }
  closedir(dd);
  rmdir(d);
}

static void node_boot(sim *s, node *nd) {
  paxos_config cfg;
  paxos_config_default(&cfg);
  cfg.self = nd->id;
  cfg.nnodes = (uint32_t)s->n;
  for (int i = 0; i < s->n; i++) cfg.nodes[i] = s->nodes[i].id;
  cfg.heartbeat_ms = 20;
  cfg.election_min_ms = 150;
  cfg.election_max_ms = 300;
  cfg.lease_ms = 100;
  cfg.drift_margin_ms = 10;
  cfg.max_inflight = 4;
  cfg.max_batch_bytes = 200;
  cfg.snapshot_every = 40;
  cfg.catchup_max_entries = 16;
  cfg.seed = s->seed * 131 + (uint64_t)nd->idx + s->now;
  paxos_io io = sim_io;
  io.ud = nd;
  syn_err e;
  if (paxos_new(&cfg, &io, &nd->px, &e) != 0) return fail(s, "paxos_new: %s", e.msg);
  nd->sm_hash = 0;
  nd->applied = 0;
  memset(nd->seen_ids, 0, MAXIDS);
  nd->nseen = 0;
  if (s->real_store) {
    paxos_store_opts o = {.sync_fn = nosync};
    int rc = paxos_store_open(nd->dir, nd->booted ? PAXOS_STORE_MEMBER : PAXOS_STORE_BOOTSTRAP,
                              &o, &nd->st, &e);
    if (rc != 0) return fail(s, "store open: %s", e.msg);
    paxos_store_stats ss;
    paxos_store_get_stats(nd->st, &ss);
    bool model_rejoin = false;
    for (size_t i = 0; i < nd->ndisk; i++) {
      if (nd->disk[i].r.type == PAXOS_REC_REJOIN) model_rejoin = true;
      if (nd->disk[i].r.type == PAXOS_REC_VOTER) model_rejoin = false;
    }
    if (ss.rejoining != model_rejoin)
      return fail(s, "n%u: store says rejoining=%d, model %d", nd->id, ss.rejoining, model_rejoin);
    if (ss.promised != nd->dprom || ss.snap_slot != nd->dsnap)
      return fail(s, "n%u: store recovered promise %llu snapshot %llu, model %llu / %llu", nd->id,
                  (unsigned long long)ss.promised, (unsigned long long)ss.snap_slot,
                  (unsigned long long)nd->dprom, (unsigned long long)nd->dsnap);
    if (paxos_store_replay(nd->st, restore_cb, nd->px) != 0) return fail(s, "store replay");
  } else {
    for (size_t i = 0; i < nd->ndisk; i++)
      if (paxos_restore(nd->px, &nd->disk[i].r, &e) != 0) return fail(s, "restore: %s", e.msg);
  }
  nd->booted = true;
  if (paxos_start(nd->px, s->now, &e) != 0) return fail(s, "start: %s", e.msg);
  nd->up = true;
  paxos_status st;
  paxos_get_status(nd->px, &st);
  nd->was_learner = st.role == PAXOS_LEARNER;
  if (nd->rejoining && !nd->was_learner) {
    /* VOTER became durable just before a crash: rejoined. */
    nd->rejoining = false;
    s->t.rejoins++;
  }
}

static void node_crash(sim *s, node *nd, bool wipe) {
  /* Volatile state is gone. Of the persists not yet durable, a prefix of
  ** records may have reached the disk (no one was told). */
  for (size_t i = 0; i < nd->npend; i++) {
    dpend *p = &nd->pend[i];
    size_t keep = (i == 0 && rpm(&s->r, 500)) ? rbelow(&s->r, (uint32_t)p->n + 1) : 0;
    if (keep) s->t.torn_persists++;
    for (size_t k = 0; k < p->n; k++) {
      if (k < keep) disk_append(nd, &p->recs[k]);
      else free(p->recs[k].data);
    }
    free(p->recs);
  }
  nd->npend = 0;
  paxos_store_close(nd->st);
  nd->st = NULL;
  if (wipe && s->real_store) rm_dir(nd->dir);
  paxos_status st;
  paxos_get_status(nd->px, &st);
  s->t.leader_terms += st.leader_terms;
  paxos_free(nd->px);
  nd->px = NULL;
  nd->up = false;
  s->t.crashes++;
  if (wipe) {
    for (size_t i = 0; i < nd->ndisk; i++) free(nd->disk[i].data);
    nd->ndisk = 0;
    nd->dprom = 0;
    nd->dsnap = 0;
    memset(nd->dacc, 0, (MAXSLOTS + 1) * sizeof *nd->dacc);
    /* What paxos_store_open(PAXOS_STORE_MEMBER) does for a member whose
    ** directory lost its MEMBER marker. */
    drec d = {.r = {.type = PAXOS_REC_REJOIN}};
    disk_append(nd, &d);
    nd->rejoining = true;
    s->t.wipes++;
  }
  tr(s, "n%u crash%s", nd->id, wipe ? " and wipe" : "");
}

static void node_complete_persists(sim *s, node *nd) {
  while (nd->up && nd->npend && nd->pend[0].at <= s->now) {
    dpend p = nd->pend[0];
    memmove(nd->pend, nd->pend + 1, (nd->npend - 1) * sizeof *nd->pend);
    nd->npend--;
    for (size_t k = 0; k < p.n; k++) disk_append(nd, &p.recs[k]);
    free(p.recs);
    paxos_persisted(nd->px, p.seq, 0, s->now);
  }
}

/* A member that lost its disk and has not yet become a voter again. At most
** one at a time: if a majority lost their disks, the chosen values are gone
** and no protocol can rejoin them (the rejoin then waits forever, safely). */
static bool any_learner(sim *s, int except) {
  for (int i = 0; i < s->n; i++)
    if (i != except && s->nodes[i].rejoining) return true;
  return false;
}

/* ---- checks ------------------------------------------------------------- */

static void check_lease(sim *s) {
  for (int i = 0; i < s->n; i++) {
    node *nd = &s->nodes[i];
    if (!nd->up || !paxos_lease_valid(nd->px, s->now)) continue;
    s->t.lease_reads++;
    for (int j = 0; j < s->n; j++) {
      node *o = &s->nodes[j];
      if (o->up && o->applied > nd->applied)
        fail(s, "n%u holds the lease at applied %llu but n%u applied %llu", nd->id,
             (unsigned long long)nd->applied, o->id, (unsigned long long)o->applied);
    }
  }
}

/* ---- clients ---------------------------------------------------------------- */

static void client_step(sim *s, client *cl, bool allow_new) {
  if (cl->waiting && s->now < cl->sent_at + 1500) return;
  if (!cl->id) {
    if (!allow_new || !rpm(&s->r, 150)) return;
    if (s->next_id >= MAXIDS - 1) return;
    cl->id = s->next_id++;
    s->proposed_len[cl->id] = value_len(cl->id);
    s->t.values++;
  }
  if (s->now < cl->retry_at) return;
  node *nd = &s->nodes[cl->target];
  if (!nd->up) {
    cl->target = (int)rbelow(&s->r, (uint32_t)s->n);
    return;
  }
  uint8_t buf[64];
  value_fill(cl->id, buf);
  uint32_t leader = 0;
  int rc = paxos_propose(nd->px, cl->id, buf, value_len(cl->id), s->now, &leader, NULL);
  if (rc == 0) {
    cl->waiting = true;
    cl->sent_at = s->now;
    return;
  }
  cl->retry_at = s->now + 20;
  int t = -1;
  for (int i = 0; i < s->n; i++)
    if (s->nodes[i].id == leader) t = i;
  cl->target = t >= 0 ? t : (int)rbelow(&s->r, (uint32_t)s->n);
}

/* ---- one step ------------------------------------------------------------- */

static bool reachable(sim *s, int a, int b) { return s->group[a] == s->group[b]; }

static void deliver(sim *s) {
  /* Take the due messages, deliver them in random order (reordering). */
  size_t ndue = 0;
  for (size_t i = 0; i < s->nmsgs; i++)
    if (s->msgs[i].at <= s->now) {
      smsg t = s->msgs[i];
      s->msgs[i] = s->msgs[ndue];
      s->msgs[ndue++] = t;
    }
  smsg *due = malloc((ndue ? ndue : 1) * sizeof *due);
  if (ndue) {
    memcpy(due, s->msgs, ndue * sizeof *due);
    memmove(s->msgs, s->msgs + ndue, (s->nmsgs - ndue) * sizeof *s->msgs);
  }
  s->nmsgs -= ndue;
  for (size_t i = ndue; i > 1; i--) {
    size_t j = rbelow(&s->r, (uint32_t)i);
    smsg t = due[i - 1];
    due[i - 1] = due[j];
    due[j] = t;
  }
  for (size_t i = 0; i < ndue; i++) {
    smsg *m = &due[i];
    node *nd = &s->nodes[m->to];
    if (nd->up && reachable(s, m->from, m->to) && !s->failed) {
      paxos_msg pm;
      void *owned;
      syn_err e;
      if (paxos_msg_decode(m->bytes, m->len, &pm, &owned, &e) != 0) {
        fail(s, "decode of our own message: %s", e.msg);
      } else {
        tr(s, "n%u <- n%u %s b=%llu.%u slot=%llu commit=%llu ok=%d n=%u", nd->id, pm.from,
           paxos_msg_name(pm.type), (unsigned long long)PAXOS_BALLOT_ROUND(pm.ballot),
           PAXOS_BALLOT_NODE(pm.ballot), (unsigned long long)pm.slot,
           (unsigned long long)pm.commit, pm.ok, pm.nentries);
        paxos_receive(nd->px, &pm, s->now);
        free(owned);
      }
    } else if (s->faults || !nd->up || !reachable(s, m->from, m->to)) {
      s->t.drops++;
    }
    free(m->bytes);
  }
  free(due);
}

static void inject_faults(sim *s) {
  for (int i = 0; i < s->n; i++) {
    node *nd = &s->nodes[i];
    if (nd->up && rpm(&s->r, s->crash_pm)) {
      bool wipe = rpm(&s->r, s->wipe_pm) && !any_learner(s, i);
      node_crash(s, nd, wipe);
      nd->restart_at = s->now + 50 + rbelow(&s->r, 800);
    }
  }
  if (rpm(&s->r, s->part_pm)) {
    bool split = rpm(&s->r, 600);
    for (int i = 0; i < s->n; i++) s->group[i] = split ? (int)rbelow(&s->r, 2) : 0;
    if (split) s->t.partitions++;
    tr(s, "partition %s", split ? "changed" : "healed");
  }
}

static void step(sim *s, bool faults, bool allow_new) {
  s->now += TICK;
  s->faults = faults;
  s->t.steps++;
  for (int i = 0; i < s->n && !s->failed; i++) {
    node *nd = &s->nodes[i];
    if (!nd->up && s->now >= nd->restart_at) {
      node_boot(s, nd);
      tr(s, "n%u restart", nd->id);
    }
  }
  deliver(s);
  for (int i = 0; i < s->n && !s->failed; i++) node_complete_persists(s, &s->nodes[i]);
  for (int i = 0; i < s->n && !s->failed; i++) {
    node *nd = &s->nodes[i];
    if (!nd->up) continue;
    paxos_tick(nd->px, s->now);
    if (paxos_failed(nd->px)) fail(s, "n%u stopped", nd->id);
    paxos_status st;
    paxos_get_status(nd->px, &st);
    if (nd->was_learner && st.role != PAXOS_LEARNER) {
      nd->was_learner = false;
      nd->rejoining = false;
      s->t.rejoins++;
    }
  }
  for (int c = 0; c < MAXC && !s->failed; c++) client_step(s, &s->clients[c], allow_new);
  if (faults && !s->failed) inject_faults(s);
  if (!s->failed) check_lease(s);
}

static void sim_free(sim *s) {
  for (int i = 0; i < s->n; i++) {
    node *nd = &s->nodes[i];
    paxos_free(nd->px);
    for (size_t k = 0; k < nd->ndisk; k++) free(nd->disk[k].data);
    free(nd->disk);
    for (size_t k = 0; k < nd->npend; k++) {
      for (size_t j = 0; j < nd->pend[k].n; j++) free(nd->pend[k].recs[j].data);
      free(nd->pend[k].recs);
    }
    free(nd->pend);
    free(nd->seen_ids);
    free(nd->dacc);
    paxos_store_close(nd->st);
  }
  if (s->real_store) rm_dir(s->base);
  for (size_t i = 0; i < s->nmsgs; i++) free(s->msgs[i].bytes);
  free(s->msgs);
}

int paxos_sim_run(uint64_t seed, bool trace, bool real_store, paxos_sim_totals *tot, char *why,
                  size_t cap) {
  sim *s = calloc(1, sizeof *s);
  s->seed = seed;
  s->r.s = seed * 0x2545F4914F6CDD1DULL + 1;
  s->trace = trace;
  s->real_store = real_store;
  if (real_store) {
    snprintf(s->base, sizeof s->base, "/tmp/paxos_sim_XXXXXX");
    if (!mkdtemp(s->base)) {
      snprintf(why, cap, "mkdtemp failed");
      free(s);
      return -1;
    }
  }
  s->why = why;
  s->whycap = cap;
  why[0] = '\0';
  s->n = rpm(&s->r, 500) ? 3 : 5;
  s->next_id = 1;
  s->drop_pm = 20 + rbelow(&s->r, 150);
  s->dup_pm = rbelow(&s->r, 80);
  s->max_delay = 2 + rbelow(&s->r, 60);
  s->crash_pm = 1 + rbelow(&s->r, 4);
  s->wipe_pm = rbelow(&s->r, 400);
  s->part_pm = rbelow(&s->r, 8);
  s->disk_ms = 1 + rbelow(&s->r, 40); /* fsync latency up to this */
  for (int i = 0; i < s->n; i++) {
    node *nd = &s->nodes[i];
    nd->sim = s;
    nd->idx = i;
    nd->id = (uint32_t)(i + 1) * 10 + (uint32_t)(seed % 7); /* ids need not be 1..n */
    nd->seen_ids = calloc(MAXIDS, 1);
    nd->dacc = calloc(MAXSLOTS + 1, sizeof *nd->dacc);
    snprintf(nd->dir, sizeof nd->dir, "%s/n%d", s->base, i);
  }
  for (int c = 0; c < MAXC; c++) s->clients[c].target = (int)rbelow(&s->r, (uint32_t)s->n);
  for (int i = 0; i < s->n && !s->failed; i++) node_boot(s, &s->nodes[i]);

  for (int k = 0; k < FAULT_STEPS && !s->failed; k++) step(s, true, true);

  /* Heal: every node up, one partition, no loss; stop new client values. */
  memset(s->group, 0, sizeof s->group);
  uint64_t heal_at = s->now;
  for (int i = 0; i < s->n; i++)
    if (!s->nodes[i].up) s->nodes[i].restart_at = s->now;
  uint64_t final_id = 0;
  bool done = false;
  for (int k = 0; k < HEAL_STEPS && !s->failed && !done; k++) {
    step(s, false, false);
    if (!final_id && s->now >= heal_at + 200) {
      /* The liveness probe: a value proposed after healing. */
      client *cl = &s->clients[0];
      if (!cl->id) {
        final_id = cl->id = s->next_id++;
        s->proposed_len[cl->id] = value_len(cl->id);
        cl->waiting = false;
        cl->retry_at = 0;
      } else {
        final_id = cl->id;
      }
    }
    if (final_id && s->chosen_ids[final_id]) {
      done = !any_learner(s, -1);
      for (int i = 0; i < s->n; i++) {
        node *nd = &s->nodes[i];
        if (!nd->up || !nd->seen_ids[final_id] || nd->applied < s->max_applied) done = false;
      }
    }
  }
  if (!s->failed && !done)
    fail(s, "liveness: value %llu not chosen and applied everywhere %d ms after healing "
            "(max applied %llu)", (unsigned long long)final_id, HEAL_STEPS * TICK,
         (unsigned long long)s->max_applied);
  if (!s->failed && any_learner(s, -1)) fail(s, "a wiped member never rejoined");
  uint64_t heal_ms = s->now - heal_at;
  if (heal_ms > s->t.heal_ms_max) s->t.heal_ms_max = heal_ms;
  for (int i = 0; i < s->n; i++) {
    paxos_status st;
    if (s->nodes[i].px) {
      paxos_get_status(s->nodes[i].px, &st);
      s->t.leader_terms += st.leader_terms;
    }
  }
  s->t.chosen_slots = s->max_applied;
  s->t.seeds = 1;
  if (tot) {
    uint64_t *a = (uint64_t *)tot, *b = (uint64_t *)&s->t;
    for (size_t i = 0; i < sizeof *tot / sizeof(uint64_t); i++) {
      if (&a[i] == &tot->heal_ms_max) {
        if (b[i] > a[i]) a[i] = b[i];
      } else {
        a[i] += b[i];
      }
    }
  }
  int rc = s->failed ? -1 : 0;
  sim_free(s);
  free(s);
  return rc;
}
