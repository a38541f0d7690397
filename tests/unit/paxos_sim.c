/*
** The Multi-Paxos simulator (see paxos_sim.h): the network, the disks, the
** nodes' lives, the clients, fault injection and the run loop. The checks
** live in paxos_sim_check.c.
*/
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "paxos_sim_int.h"

/* ---- PRNG (splitmix64), logging, hashing -------------------------------- */

static uint64_t rnext(sim *s) {
  uint64_t z = (s->rs += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static uint32_t rbelow(sim *s, uint32_t n) { return (uint32_t)(rnext(s) % n); }
static bool rpm(sim *s, uint32_t pm) { return rbelow(s, 1000) < pm; }

#define tr sim_trace
#define fail sim_fail

/* ---- io ---------------------------------------------------------------- */

static void io_send(void *ud, const paxos_msg *m) {
  node *nd = ud;
  sim *s = nd->sim;
  int to = -1;
  for (int i = 0; i < s->n; i++)
    if (s->nodes[i].id == m->to) to = i;
  if (to < 0) return fail(s, "node %u sent to unknown %u", nd->id, m->to);
  chk_durable(s, nd, m);
  uint8_t *b;
  size_t len;
  syn_err e;
  if (paxos_msg_encode(m, &b, &len, &e) != 0) return fail(s, "encode: %s", e.msg);
  uint64_t mh = sim_fnv(14695981039346656037ULL, b, len);
  sim_hash(s, 1, (uint64_t)nd->idx << 8 | (uint64_t)to, mh, NULL, 0);
  s->t.msgs++;
  int copies = 1;
  if (s->faults && rpm(s, s->drop_pm)) {
    s->t.drops++;
    free(b);
    return;
  }
  if (s->faults && rpm(s, s->dup_pm)) {
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
    uint32_t delay = 1 + (s->faults ? rbelow(s, s->max_delay) : rbelow(s, 3));
    s->msgs[s->nmsgs++] = (smsg){.at = s->now + delay, .h = mh, .to = to, .from = nd->idx,
                                 .bytes = bb, .len = len};
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
  p->at = s->now + rbelow(s, s->disk_ms);
  p->n = n;
  p->recs = calloc(n ? n : 1, sizeof *p->recs);
  sim_hash(s, 3, (uint64_t)nd->idx, seq, NULL, 0);
  for (size_t i = 0; i < n; i++) {
    p->recs[i].r = recs[i];
    if (recs[i].len) {
      p->recs[i].data = malloc(recs[i].len);
      memcpy(p->recs[i].data, recs[i].data, recs[i].len);
    }
    p->recs[i].r.data = p->recs[i].data;
    sim_hash(s, 4, (uint64_t)recs[i].type << 32 ^ recs[i].slot, recs[i].ballot, recs[i].data,
             recs[i].len);
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
    chk_vote(nd->sim, nd, r);
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

static void sm_apply_value(node *nd, uint64_t id, const uint8_t *d, uint32_t len) {
  sim *s = nd->sim;
  if (id == 0 || id >= MAXIDS || s->proposed_len[id] == 0)
    return fail(s, "node %u applied value id %llu that no client proposed", nd->id,
                (unsigned long long)id);
  uint8_t want[64];
  sim_value_fill(id, want);
  if (len != sim_value_len(id) || memcmp(d, want, len) != 0)
    return fail(s, "node %u applied id %llu with content nobody proposed", nd->id,
                (unsigned long long)id);
  if (nd->seen_ids[id]) return; /* dedup by client id */
  nd->seen_ids[id] = 1;
  nd->nseen++;
  nd->sm_hash = sim_fnv(nd->sm_hash ^ 0x9e37, &id, sizeof id);
}

static void io_apply(void *ud, uint64_t slot, const paxos_value *vals, uint32_t n) {
  node *nd = ud;
  sim *s = nd->sim;
  if (slot != nd->applied + 1)
    return fail(s, "node %u applied slot %llu after %llu", nd->id, (unsigned long long)slot,
                (unsigned long long)nd->applied);
  if (slot > MAXSLOTS) return fail(s, "simulation ran past %d slots", MAXSLOTS);
  if (n > MAXB) return fail(s, "slot %llu carries %u values", (unsigned long long)slot, n);
  for (uint32_t i = 0; i < n; i++) sm_apply_value(nd, vals[i].id, vals[i].data, vals[i].len);
  nd->applied = slot;
  sim_hash(s, 5, (uint64_t)nd->idx, slot, NULL, 0);
  chk_apply(s, nd, slot, vals, n);
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
  chk_snapshot(s, nd, slot, h);
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
  sim_hash(s, 6, (uint64_t)nd->idx, slot, data, len);
  tr(s, "n%u install snapshot at %llu", nd->id, (unsigned long long)slot);
  return 0;
}

static void io_done(void *ud, uint64_t id, int status, uint64_t slot) {
  node *nd = ud;
  sim *s = nd->sim;
  sim_hash(s, 7, id, (uint64_t)(int64_t)status << 32 ^ slot, NULL, 0);
  if (status == 0) chk_done(s, nd, id, slot);
  for (int c = 0; c < MAXC; c++) {
    client *cl = &s->clients[c];
    if (cl->id != id) continue;
    if (status == 0) {
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
  sim_hash(nd->sim, 8, (uint64_t)nd->idx, 0, what, strlen(what));
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
  nd->role = PAXOS_FOLLOWER;
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
  sim_hash(s, 9, (uint64_t)nd->idx, nd->ndisk, NULL, 0);
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
    size_t keep = (i == 0 && rpm(s, 500)) ? rbelow(s, (uint32_t)p->n + 1) : 0;
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
  sim_hash(s, 10, (uint64_t)nd->idx, wipe, NULL, 0);
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

/* ---- clients ---------------------------------------------------------------- */

static void client_step(sim *s, client *cl, bool allow_new) {
  if (cl->waiting && s->now < cl->sent_at + 1500) return;
  if (cl->waiting) /* no answer: that node may be cut off, ask another */
    cl->target = (int)rbelow(s, (uint32_t)s->n);
  if (!cl->id) {
    if (!allow_new || !rpm(s, 150)) return;
    if (s->next_id >= MAXIDS - 1) return;
    cl->id = s->next_id++;
    s->proposed_len[cl->id] = sim_value_len(cl->id);
    s->t.values++;
  }
  if (s->now < cl->retry_at) return;
  node *nd = &s->nodes[cl->target];
  if (!nd->up) {
    cl->target = (int)rbelow(s, (uint32_t)s->n);
    return;
  }
  uint8_t buf[64];
  sim_value_fill(cl->id, buf);
  uint32_t leader = 0;
  int rc = paxos_propose(nd->px, cl->id, buf, sim_value_len(cl->id), s->now, &leader, NULL);
  if (rc == 0) {
    cl->waiting = true;
    cl->sent_at = s->now;
    return;
  }
  cl->retry_at = s->now + 20;
  int t = -1;
  for (int i = 0; i < s->n; i++)
    if (s->nodes[i].id == leader) t = i;
  cl->target = t >= 0 ? t : (int)rbelow(s, (uint32_t)s->n);
}

/* ---- network faults ------------------------------------------------------ */

static bool reachable(sim *s, int a, int b) { return !s->cut[a][b]; }

/* The node that leads with the highest ballot, or -1. */
static int find_leader(sim *s) {
  int best = -1;
  paxos_ballot bb = 0;
  for (int i = 0; i < s->n; i++) {
    if (!s->nodes[i].up) continue;
    paxos_status st;
    paxos_get_status(s->nodes[i].px, &st);
    if (st.role == PAXOS_LEADER && st.ballot > bb) {
      bb = st.ballot;
      best = i;
    }
  }
  return best;
}

static void cut_node(sim *s, int x, bool out, bool in) {
  for (int j = 0; j < s->n; j++) {
    if (j == x) continue;
    if (out) s->cut[x][j] = true;
    if (in) s->cut[j][x] = true;
  }
}

/* A new partition shape. Asymmetric ones matter for liveness: a leader
** that can send but not hear keeps followers loyal with heartbeats it can
** no longer back with a majority; a node that hears nobody keeps starting
** elections. */
static void partition(sim *s) {
  memset(s->cut, 0, sizeof s->cut);
  uint32_t shape = rbelow(s, 8);
  int x = (int)rbelow(s, (uint32_t)s->n);
  if (shape >= 2 && shape <= 5 && rpm(s, 500)) {
    int l = find_leader(s);
    if (l >= 0) {
      x = l;
      s->t.leader_isolations++;
    }
  }
  switch (shape) {
  case 0:
  case 1: /* healed */
    break;
  case 2: { /* two sides */
    int side[MAXN];
    for (int i = 0; i < s->n; i++) side[i] = (int)rbelow(s, 2);
    for (int i = 0; i < s->n; i++)
      for (int j = 0; j < s->n; j++) s->cut[i][j] = side[i] != side[j];
    break;
  }
  case 3: /* one node (maybe the leader) alone */
    cut_node(s, x, true, true);
    break;
  case 4: /* mute: its messages are lost, it hears everyone */
    cut_node(s, x, true, false);
    break;
  case 5: /* deaf: it sends, hears nobody */
    cut_node(s, x, false, true);
    break;
  default: /* random one-way links */
    for (int i = 0; i < s->n; i++)
      for (int j = 0; j < s->n; j++) s->cut[i][j] = i != j && rpm(s, 300);
    break;
  }
  bool any = false, asym = false;
  for (int i = 0; i < s->n; i++)
    for (int j = 0; j < s->n; j++) {
      any |= s->cut[i][j];
      asym |= s->cut[i][j] != s->cut[j][i];
    }
  if (any) s->t.partitions++;
  if (asym) s->t.asym_partitions++;
  sim_hash(s, 11, shape, (uint64_t)x, s->cut, sizeof s->cut);
  tr(s, "partition shape %u (node %d)%s", shape, x, any ? "" : ": healed");
}

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
    size_t j = rbelow(s, (uint32_t)i);
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
      sim_hash(s, 2, (uint64_t)m->from << 8 | (uint64_t)m->to, m->h, NULL, 0);
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
    if (nd->up && rpm(s, s->crash_pm)) {
      bool wipe = rpm(s, s->wipe_pm) && !any_learner(s, i);
      node_crash(s, nd, wipe);
      nd->restart_at = s->now + 50 + rbelow(s, 800);
    }
  }
  if (rpm(s, s->part_pm)) partition(s);
}

/* ---- one step ------------------------------------------------------------- */

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
    if (st.role != nd->role) sim_hash(s, 12, (uint64_t)nd->idx, st.role, NULL, 0);
    nd->role = st.role;
  }
  for (int c = 0; c < MAXC && !s->failed; c++) client_step(s, &s->clients[c], allow_new);
  if (faults && !s->failed) inject_faults(s);
  if (!s->failed) chk_step(s);
}

/* ---- liveness mode ------------------------------------------------------- */

/* The faults stop for the core: every member, or (half the seeds) a
** majority while the rest stay faulty (TigerBeetle's VOPR "core", which
** found an asymmetric-partition livelock there). A member still rejoining
** after a wiped disk cannot vote, so it is never counted in a core that
** leaves someone out. */
static void heal(sim *s) {
  s->healing = true;
  memset(s->cut, 0, sizeof s->cut);
  s->core = (uint8_t)((1u << s->n) - 1);
  if (rpm(s, 500)) {
    s->t.core_heals++;
    int nout = s->n == 3 ? 1 : 1 + (int)rbelow(s, 2);
    int out = 0;
    for (int i = 0; i < s->n; i++)
      if (s->nodes[i].rejoining && out < nout) {
        s->core &= (uint8_t)~(1u << i);
        out++;
      }
    int l = find_leader(s);
    if (out < nout && l >= 0 && (s->core >> l & 1) && rpm(s, 500)) {
      s->core &= (uint8_t)~(1u << l);
      out++;
    }
    while (out < nout) {
      int x = (int)rbelow(s, (uint32_t)s->n);
      if (!(s->core >> x & 1)) continue;
      s->core &= (uint8_t)~(1u << x);
      out++;
    }
    for (int i = 0; i < s->n; i++) {
      if (s->core >> i & 1) continue;
      out_kind k = (out_kind)rbelow(s, OUT__COUNT);
      node *nd = &s->nodes[i];
      if (k == OUT_CRASHED) {
        if (nd->up) node_crash(s, nd, false);
        nd->restart_at = UINT64_MAX;
        continue;
      }
      cut_node(s, i, k != OUT_DEAF, k != OUT_MUTE);
      tr(s, "n%u stays out of the core (%s)", nd->id,
         k == OUT_ISOLATED ? "isolated" : k == OUT_MUTE ? "mute" : "deaf");
    }
  }
  for (int i = 0; i < s->n; i++)
    if (!s->nodes[i].up && s->nodes[i].restart_at != UINT64_MAX) s->nodes[i].restart_at = s->now;
  sim_hash(s, 13, s->core, 0, s->cut, sizeof s->cut);
  tr(s, "heal: core %#x", s->core);
}

static void liveness(sim *s) {
  heal(s);
  uint64_t heal_at = s->now, probe = 0, probe_ticks = 0;
  bool done = false;
  char why[256] = "";
  int k;
  for (k = 1; k <= LIVENESS_TICKS && !s->failed && !done; k++) {
    step(s, false, false);
    if (!probe && s->now >= heal_at + 200) {
      /* The probe: a value proposed after the heal. */
      client *cl = &s->clients[0];
      if (!cl->id) {
        cl->id = s->next_id++;
        s->proposed_len[cl->id] = sim_value_len(cl->id);
        s->t.values++;
      }
      probe = cl->id;
      cl->waiting = false;
      cl->retry_at = 0;
    }
    if (probe && !probe_ticks && s->chosen_ids[probe]) probe_ticks = (uint64_t)k;
    done = chk_converged(s, probe, why, sizeof why);
  }
  if (s->failed) return;
  if (!done) {
    fail(s, "liveness: %s, %d ticks after the heal (core %#x)", why, LIVENESS_TICKS, s->core);
    return;
  }
  if (probe_ticks > s->t.probe_ticks_max) s->t.probe_ticks_max = probe_ticks;
  if ((uint64_t)(k - 1) > s->t.heal_ticks_max) s->t.heal_ticks_max = (uint64_t)(k - 1);
}

/* ---- run ------------------------------------------------------------------- */

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
    free(nd->rep_val);
    free(nd->rep_state);
    paxos_store_close(nd->st);
  }
  if (s->real_store) rm_dir(s->base);
  for (size_t i = 0; i < s->nmsgs; i++) free(s->msgs[i].bytes);
  free(s->msgs);
  chk_free(s);
}

static void totals_add(paxos_sim_totals *a, const paxos_sim_totals *b) {
  uint64_t *x = (uint64_t *)a;
  const uint64_t *y = (const uint64_t *)b;
  size_t nsum = offsetof(paxos_sim_totals, probe_ticks_max) / sizeof(uint64_t);
  for (size_t i = 0; i < nsum; i++) x[i] += y[i];
  if (b->probe_ticks_max > a->probe_ticks_max) a->probe_ticks_max = b->probe_ticks_max;
  if (b->heal_ticks_max > a->heal_ticks_max) a->heal_ticks_max = b->heal_ticks_max;
}

int paxos_sim_run(uint64_t seed, const paxos_sim_opts *o, paxos_sim_totals *tot,
                  uint64_t *trace_hash, char *why, size_t cap) {
  sim *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(why, cap, "out of memory");
    return -1;
  }
  s->seed = seed;
  s->rs = seed * 0x2545F4914F6CDD1DULL + 1;
  s->hash = 14695981039346656037ULL;
  s->trace = o && o->trace;
  s->real_store = o && o->real_store;
  s->why = why;
  s->whycap = cap;
  why[0] = '\0';
  if (s->real_store) {
    snprintf(s->base, sizeof s->base, "/tmp/paxos_sim_XXXXXX");
    if (!mkdtemp(s->base)) {
      snprintf(why, cap, "mkdtemp failed");
      free(s);
      return -1;
    }
  }
  s->n = rpm(s, 500) ? 3 : 5;
  s->next_id = 1;
  s->drop_pm = 20 + rbelow(s, 150);
  s->dup_pm = rbelow(s, 80);
  s->max_delay = 2 + rbelow(s, 60);
  s->crash_pm = 1 + rbelow(s, 4);
  s->wipe_pm = rbelow(s, 400);
  s->part_pm = rbelow(s, 8);
  s->disk_ms = 1 + rbelow(s, 40); /* fsync latency up to this */
  s->fault_steps = 800 + rbelow(s, 1201); /* 4-10 s of faults */
  for (int i = 0; i < s->n; i++) {
    node *nd = &s->nodes[i];
    nd->sim = s;
    nd->idx = i;
    nd->id = (uint32_t)(i + 1) * 10 + (uint32_t)(seed % 7); /* ids need not be 1..n */
    nd->seen_ids = calloc(MAXIDS, 1);
    nd->dacc = calloc(MAXSLOTS + 1, sizeof *nd->dacc);
    nd->rep_val = calloc(MAXSLOTS + 1, sizeof *nd->rep_val);
    nd->rep_state = calloc(MAXSLOTS + 1, sizeof *nd->rep_state);
    snprintf(nd->dir, sizeof nd->dir, "%s/n%d", s->base, i);
  }
  for (int c = 0; c < MAXC; c++) s->clients[c].target = (int)rbelow(s, (uint32_t)s->n);
  for (int i = 0; i < s->n && !s->failed; i++) node_boot(s, &s->nodes[i]);

  for (uint32_t k = 0; k < s->fault_steps && !s->failed; k++) step(s, true, true);
  if (!s->failed) liveness(s);

  for (int i = 0; i < s->n; i++) {
    paxos_status st;
    if (s->nodes[i].px) {
      paxos_get_status(s->nodes[i].px, &st);
      s->t.leader_terms += st.leader_terms;
    }
  }
  s->t.chosen_slots = s->max_applied;
  s->t.seeds = 1;
  if (tot) totals_add(tot, &s->t);
  if (trace_hash) *trace_hash = s->hash;
  int rc = s->failed ? -1 : 0;
  sim_free(s);
  free(s);
  return rc;
}
