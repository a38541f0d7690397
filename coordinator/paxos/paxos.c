/*
** Multi-Paxos replica: life cycle, durability gates, timers and roles.
** See paxos.h for the contract and docs/consensus.md for the protocol.
**
** Roles and the only allowed moves (checked by px_set_role, after
** canonical/raft's convert.c):
**
**   FOLLOWER ──election timeout──► CANDIDATE ──majority of promises──► LEADER
**       ▲                            │ ▲  new round on timeout            │
**       └──── higher ballot seen ────┘ └──── rejoin request (re-ballot) ───┤
**       ▲                                                                 │
**       └──────────────────────── higher ballot seen ─────────────────────┘
**   LEARNER (wiped member) ──a full ballot above all it could have promised──► FOLLOWER
**   any ──persist failed──► FAILED (sticky: the shell restarts from disk)
**
** Durability gates. Every reply that tells a proposer "I promised" or "I
** accepted" is queued as a px_gate carrying the seq of the persist that
** holds the record; it runs only from paxos_persisted once that seq (and
** every earlier one) is durable. This is the one place that enforces
** "fsync before promise/accept is answered" (Paxos Made Simple, 2.2: an
** acceptor must remember what it promised and accepted across failures).
*/
#include "coordinator/paxos/paxos_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define E(s) (1u << (s))
static const unsigned role_edges[PAXOS_ROLE__COUNT] = {
    [PAXOS_FOLLOWER] = E(PAXOS_CANDIDATE) | E(PAXOS_FAILED),
    [PAXOS_CANDIDATE] = E(PAXOS_CANDIDATE) | E(PAXOS_LEADER) | E(PAXOS_FOLLOWER) | E(PAXOS_FAILED),
    [PAXOS_LEADER] = E(PAXOS_FOLLOWER) | E(PAXOS_CANDIDATE) | E(PAXOS_FAILED),
    [PAXOS_LEARNER] = E(PAXOS_FOLLOWER) | E(PAXOS_FAILED),
    [PAXOS_FAILED] = 0,
};
#undef E

static const char *const role_names[PAXOS_ROLE__COUNT] = {"FOLLOWER", "CANDIDATE", "LEADER",
                                                          "LEARNER", "FAILED"};

const char *paxos_role_name(paxos_role r) {
  return (unsigned)r < PAXOS_ROLE__COUNT ? role_names[r] : "?";
}

void px_trace(paxos *p, const char *fmt, ...) {
  if (!p->io.trace) return;
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  p->io.trace(p->io.ud, buf);
}

/* The one place the role changes. The edge check stays on in release
** builds: acting on a confused role could break safety. */
void px_set_role(paxos *p, paxos_role to) {
  if ((unsigned)to >= PAXOS_ROLE__COUNT || !(role_edges[p->role] & (1u << to))) {
    fprintf(stderr, "paxos: node %u: illegal role change %s -> %s\n", p->cfg.self,
            paxos_role_name(p->role), paxos_role_name(to));
    abort();
  }
  px_trace(p, "role %s -> %s (ballot %llu.%u)", paxos_role_name(p->role), paxos_role_name(to),
           (unsigned long long)PAXOS_BALLOT_ROUND(p->ballot), PAXOS_BALLOT_NODE(p->ballot));
  p->role = to;
}

void paxos_config_default(paxos_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->heartbeat_ms = 50;
  cfg->election_min_ms = 300;
  cfg->election_max_ms = 600;
  cfg->lease_ms = 200;
  cfg->drift_margin_ms = 20;
  cfg->max_inflight = 8;
  cfg->max_batch_bytes = 64 * 1024;
  cfg->max_pending = 10000;
  cfg->snapshot_every = 1000;
  cfg->catchup_max_entries = 256;
}

int px_idx(const paxos *p, uint32_t node) {
  for (uint32_t i = 0; i < p->cfg.nnodes; i++)
    if (p->cfg.nodes[i] == node) return (int)i;
  return -1;
}

/* splitmix64: the core's only randomness, from cfg.seed. */
uint64_t px_rand(paxos *p) {
  uint64_t z = (p->rng += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void px_reset_election(paxos *p, uint64_t now) {
  uint32_t span = p->cfg.election_max_ms - p->cfg.election_min_ms;
  p->election_at = now + p->cfg.election_min_ms + (span ? px_rand(p) % span : 0);
}

int paxos_new(const paxos_config *cfg, const paxos_io *io, paxos **out, syn_err *err) {
  if (!cfg || !io || !out) return syn_err_set(err, SYN_EINVAL, "paxos_new: NULL argument");
  *out = NULL;
  if (!io->send || !io->persist || !io->apply || !io->proposal_done || !io->snapshot_install)
    return syn_err_set(err, SYN_EINVAL,
                       "paxos_new: send, persist, apply, snapshot_install and proposal_done "
                       "are required");
  if (cfg->nnodes < 1 || cfg->nnodes > PAXOS_MAX_NODES)
    return syn_err_set(err, SYN_EINVAL, "paxos_new: %u members (1..%d)", cfg->nnodes,
                       PAXOS_MAX_NODES);
  for (uint32_t i = 0; i < cfg->nnodes; i++) {
    if (cfg->nodes[i] == 0 || cfg->nodes[i] > 0xffff)
      return syn_err_set(err, SYN_EINVAL, "paxos_new: member id %u outside 1..65535",
                         cfg->nodes[i]);
    for (uint32_t j = 0; j < i; j++)
      if (cfg->nodes[j] == cfg->nodes[i])
        return syn_err_set(err, SYN_EINVAL, "paxos_new: member %u listed twice", cfg->nodes[i]);
  }
  if (cfg->heartbeat_ms == 0 || cfg->election_min_ms == 0 ||
      cfg->election_max_ms < cfg->election_min_ms || cfg->max_inflight == 0 ||
      cfg->max_batch_bytes < 16 || cfg->max_pending == 0 || cfg->catchup_max_entries == 0)
    return syn_err_set(err, SYN_EINVAL, "paxos_new: intervals, windows and sizes must be > 0");
  /* The lease is only safe if followers stop refusing other candidates
  ** (lease_ms after hearing the leader) no earlier than the leader stops
  ** trusting its lease, and if no follower times out while the lease runs. */
  if (cfg->lease_ms && (cfg->lease_ms >= cfg->election_min_ms ||
                        cfg->drift_margin_ms == 0 || cfg->drift_margin_ms >= cfg->lease_ms ||
                        cfg->heartbeat_ms >= cfg->lease_ms - cfg->drift_margin_ms))
    return syn_err_set(err, SYN_EINVAL,
                       "paxos_new: need heartbeat_ms < lease_ms - drift_margin_ms, "
                       "0 < drift_margin_ms < lease_ms < election_min_ms");
  paxos *p = calloc(1, sizeof *p);
  if (!p) return syn_err_set(err, SYN_ENOMEM, "paxos_new: out of memory");
  p->cfg = *cfg;
  p->io = *io;
  int si = px_idx(p, cfg->self);
  if (si < 0) {
    free(p);
    return syn_err_set(err, SYN_EINVAL, "paxos_new: self %u is not a member", cfg->self);
  }
  p->self_idx = (uint32_t)si;
  p->majority = cfg->nnodes / 2 + 1;
  p->rng = cfg->seed ^ ((uint64_t)cfg->self << 32) ^ 0x5851f42d4c957f2dULL;
  p->base = 1;
  p->role = PAXOS_FOLLOWER;
  *out = p;
  return 0;
}

static void slot_free(px_slot *s) {
  free(s->val);
  memset(s, 0, sizeof *s);
}

static void recs_reset(paxos *p) {
  for (size_t i = 0; i < p->nrecs; i++) free(p->recbuf[i]);
  p->nrecs = 0;
}

void paxos_free(paxos *p) {
  if (!p) return;
  for (size_t i = 0; i < p->len; i++) slot_free(&p->log[i]);
  free(p->log);
  px_found_clear(p);
  for (size_t i = 0; i < p->nprops; i++) free(p->props[i].data);
  free(p->props);
  recs_reset(p);
  free(p->recs);
  free(p->recbuf);
  free(p->gates);
  free(p->snap);
  free(p);
}

px_slot *px_slot_at(paxos *p, uint64_t slot, bool create) {
  if (slot < p->base) return NULL;
  uint64_t i = slot - p->base;
  if (i < p->len) return &p->log[i];
  if (!create) return NULL;
  if (i > PX_MAX_AHEAD) return NULL; /* absurd slot: refuse rather than allocate */
  if (i >= p->cap) {
    size_t nc = p->cap ? p->cap : 64;
    while (nc <= i) nc *= 2;
    px_slot *n = realloc(p->log, nc * sizeof *n);
    if (!n) return NULL;
    memset(n + p->cap, 0, (nc - p->cap) * sizeof *n);
    p->log = n;
    p->cap = nc;
  }
  p->len = (size_t)i + 1;
  return &p->log[i];
}

/* Drop every slot <= upto from memory (they are covered by the snapshot). */
static void log_drop_upto(paxos *p, uint64_t upto) {
  if (upto < p->base) return;
  uint64_t k = upto - p->base + 1;
  if (k > p->len) k = p->len;
  if (k == 0) {
    p->base = upto + 1;
    return;
  }
  for (uint64_t i = 0; i < k; i++) slot_free(&p->log[i]);
  memmove(p->log, p->log + k, (p->len - (size_t)k) * sizeof *p->log);
  memset(p->log + (p->len - (size_t)k), 0, (size_t)k * sizeof *p->log);
  p->len -= (size_t)k;
  p->base = upto + 1;
}

void px_fail(paxos *p, const char *why) {
  if (p->role == PAXOS_FAILED) return;
  px_trace(p, "failed: %s", why);
  px_props_lost(p);
  px_set_role(p, PAXOS_FAILED);
}

/* Queue a durable record for this input's persist batch (data copied). */
void px_record(paxos *p, paxos_rec_type t, uint64_t slot, paxos_ballot b, const uint8_t *d,
               uint32_t len) {
  if (p->role == PAXOS_FAILED) return;
  if (p->nrecs == p->rcap) {
    size_t nc = p->rcap ? p->rcap * 2 : 16;
    paxos_rec *nr = realloc(p->recs, nc * sizeof *nr);
    if (!nr) return px_fail(p, "out of memory");
    p->recs = nr;
    uint8_t **nb = realloc(p->recbuf, nc * sizeof *nb);
    if (!nb) return px_fail(p, "out of memory");
    p->recbuf = nb;
    p->rcap = nc;
  }
  uint8_t *copy = NULL;
  if (len) {
    copy = malloc(len);
    if (!copy) return px_fail(p, "out of memory");
    memcpy(copy, d, len);
  }
  p->recbuf[p->nrecs] = copy;
  p->recs[p->nrecs++] = (paxos_rec){.type = t, .slot = slot, .ballot = b, .data = copy, .len = len};
}

void px_gate_add(paxos *p, px_gate_kind k, uint32_t to, paxos_ballot b, uint64_t slot) {
  if (p->role == PAXOS_FAILED) return;
  if (p->ngates == p->gcap) {
    size_t nc = p->gcap ? p->gcap * 2 : 32;
    px_gate *n = realloc(p->gates, nc * sizeof *n);
    if (!n) return px_fail(p, "out of memory");
    p->gates = n;
    p->gcap = nc;
  }
  /* Wait for the persist that will carry this input's records, or for the
  ** last one already handed out (the record this gate depends on may be in
  ** it, e.g. a duplicate PREPARE for a promise still being written). */
  uint64_t seq = p->nrecs ? p->seq_next + 1 : p->seq_next;
  p->gates[p->ngates++] = (px_gate){.seq = seq, .kind = k, .to = to, .ballot = b, .slot = slot};
}

void px_send(paxos *p, paxos_msg *m, uint32_t to) {
  if (p->role == PAXOS_FAILED) return;
  m->from = p->cfg.self;
  m->to = to;
  p->io.send(p->io.ud, m);
}

void px_seen(paxos *p, paxos_ballot b) {
  if (b > p->max_seen) p->max_seen = b;
}

/* A higher ballot exists: stop proposing. Pending proposals are reported
** lost (the shell retries through the new leader; the state machine dedups
** the ones that were chosen anyway). */
void px_step_down(paxos *p, paxos_ballot seen, uint64_t now) {
  px_seen(p, seen);
  if (p->role != PAXOS_LEADER && p->role != PAXOS_CANDIDATE) return;
  if (seen <= p->ballot) return;
  px_stop_proposing(p, now);
}

/* Leader or candidate -> follower: proposals in flight are reported lost,
** the election timer restarts. */
void px_stop_proposing(paxos *p, uint64_t now) {
  for (size_t i = 0; i < p->len; i++) p->log[i].inflight = false;
  px_props_lost(p);
  px_found_clear(p);
  if (p->leader == p->cfg.self) p->leader = 0;
  px_set_role(p, PAXOS_FOLLOWER);
  px_reset_election(p, now);
}

static void run_gates(paxos *p, uint64_t now) {
  size_t k = 0;
  while (k < p->ngates && p->gates[k].seq <= p->seq_done && p->role != PAXOS_FAILED) {
    px_gate g = p->gates[k++];
    switch (g.kind) {
    case G_PROMISE:
      px_send_promise(p, g.to, g.ballot, g.slot);
      break;
    case G_ACCEPTED: {
      paxos_msg m = {.type = PAXOS_M_ACCEPTED, .ok = true, .ballot = g.ballot, .slot = g.slot,
                     .commit = p->chosen};
      px_send(p, &m, g.to);
      break;
    }
    case G_SELF_PREPARE:
      px_self_prepare(p, g.ballot);
      break;
    case G_SELF_ACCEPTED:
      px_count_accept(p, p->self_idx, g.ballot, g.slot);
      break;
    case G_VOTER:
      if (p->role == PAXOS_LEARNER) {
        p->rejoin = false;
        px_set_role(p, PAXOS_FOLLOWER);
        px_reset_election(p, now);
        px_trace(p, "rejoined as a voter at ballot %llu.%u",
                 (unsigned long long)PAXOS_BALLOT_ROUND(g.ballot), PAXOS_BALLOT_NODE(g.ballot));
      }
      break;
    }
  }
  if (k) {
    memmove(p->gates, p->gates + k, (p->ngates - k) * sizeof *p->gates);
    p->ngates -= k;
  }
}

/* End of every input: let the leader act, write the COMMIT marker, hand the
** batch of records to the shell, run gates that are already satisfied. */
void px_flush(paxos *p, uint64_t now) {
  if (p->role == PAXOS_FAILED) return;
  run_gates(p, now); /* may have made us leader: drive at once */
  if (p->role == PAXOS_LEADER) px_leader_drive(p, now);
  if (p->chosen > p->commit_rec && p->chosen > p->snap_slot) {
    /* Not a safety point (the values are durable already, in earlier
    ** records of this or an earlier batch): it lets a restart apply the
    ** chosen prefix without asking anyone. */
    px_record(p, PAXOS_REC_COMMIT, p->chosen, 0, NULL, 0);
    p->commit_rec = p->chosen;
  }
  if (p->nrecs && p->role != PAXOS_FAILED) {
    uint64_t seq = ++p->seq_next;
    p->io.persist(p->io.ud, seq, p->recs, p->nrecs);
    recs_reset(p);
  }
  run_gates(p, now);
}

int paxos_restore(paxos *p, const paxos_rec *r, syn_err *err) {
  if (p->started) return syn_err_set(err, SYN_EINVAL, "paxos_restore: after paxos_start");
  switch (r->type) {
  case PAXOS_REC_PROMISE:
    if (r->ballot > p->promised) p->promised = r->ballot;
    return 0;
  case PAXOS_REC_ACCEPT:
  case PAXOS_REC_LEARN: {
    if (r->slot == 0) return syn_err_set(err, SYN_EINVAL, "paxos_restore: slot 0");
    if (r->len && !r->data) return syn_err_set(err, SYN_EINVAL, "paxos_restore: no data");
    if (r->slot <= p->snap_slot) return 0; /* covered by the snapshot */
    px_slot *s = px_slot_at(p, r->slot, true);
    if (!s) return syn_err_set(err, SYN_ENOMEM, "paxos_restore: slot %llu",
                               (unsigned long long)r->slot);
    uint8_t *v = r->len ? malloc(r->len) : NULL;
    if (r->len && !v) return syn_err_set(err, SYN_ENOMEM, "paxos_restore: out of memory");
    if (r->len) memcpy(v, r->data, r->len);
    free(s->val);
    s->val = v;
    s->len = r->len;
    s->has = true;
    if (r->type == PAXOS_REC_LEARN) {
      s->chosen = true;
      s->acc = 0;
    } else {
      s->acc = r->ballot;
      if (r->ballot > p->promised) p->promised = r->ballot;
    }
    return 0;
  }
  case PAXOS_REC_COMMIT:
    if (r->slot > p->commit_restored) p->commit_restored = r->slot;
    return 0;
  case PAXOS_REC_SNAPSHOT: {
    if (r->slot <= p->snap_slot) return 0;
    uint8_t *d = malloc(r->len ? r->len : 1);
    if (!d) return syn_err_set(err, SYN_ENOMEM, "paxos_restore: out of memory");
    if (r->len) memcpy(d, r->data, r->len);
    free(p->snap);
    p->snap = d;
    p->snap_len = r->len;
    p->snap_slot = r->slot;
    log_drop_upto(p, r->slot);
    return 0;
  }
  case PAXOS_REC_REJOIN:
    p->rejoin = true;
    return 0;
  case PAXOS_REC_VOTER:
    p->rejoin = false;
    if (r->ballot > p->promised) p->promised = r->ballot;
    return 0;
  }
  return syn_err_set(err, SYN_EINVAL, "paxos_restore: unknown record type %d", (int)r->type);
}

int paxos_start(paxos *p, uint64_t now, syn_err *err) {
  if (p->started) return syn_err_set(err, SYN_EINVAL, "paxos_start: twice");
  p->started = true;
  p->max_seen = p->promised;
  if (p->snap_slot) {
    int rc = p->io.snapshot_install(p->io.ud, p->snap_slot, p->snap, p->snap_len);
    if (rc < 0) return syn_err_set(err, rc, "paxos_start: snapshot_install(%llu) failed",
                                   (unsigned long long)p->snap_slot);
  }
  p->chosen = p->applied = p->commit_rec = p->snap_slot;
  /* COMMIT(c) is written only after every slot <= c holds its chosen value
  ** in the log (see flush), so those values are the chosen ones. */
  for (uint64_t s = p->snap_slot + 1; s <= p->commit_restored; s++) {
    px_slot *sl = px_slot_at(p, s, false);
    if (!sl || !sl->has) break;
    sl->chosen = true;
  }
  if (p->commit_restored > p->commit_rec) p->commit_rec = p->commit_restored;
  px_advance(p);
  if (p->rejoin) {
    p->role = PAXOS_LEARNER;
    px_trace(p, "started as a learner: disk was wiped, rejoining");
  }
  /* We may have acknowledged a leader's heartbeat just before a crash, and
  ** that leader counts the ack towards its lease: refuse other candidates
  ** for a full lease after (re)starting. */
  p->lease_block_until = now + p->cfg.lease_ms;
  px_reset_election(p, now);
  px_flush(p, now);
  return 0;
}

int paxos_receive(paxos *p, const paxos_msg *m, uint64_t now) {
  if (!p->started || p->role == PAXOS_FAILED) return SYN_ECLOSED;
  if (!m || m->type < 1 || m->type > PAXOS_M__LAST) return SYN_EINVAL;
  if (m->from == p->cfg.self || px_idx(p, m->from) < 0) return SYN_EINVAL;
  if (m->to != p->cfg.self) return SYN_EINVAL;
  if (m->nentries && !m->entries) return SYN_EINVAL;
  switch (m->type) {
  case PAXOS_M_PREPARE: px_on_prepare(p, m, now); break;
  case PAXOS_M_PROMISE: px_on_promise(p, m, now); break;
  case PAXOS_M_ACCEPT: px_on_accept(p, m, now); break;
  case PAXOS_M_ACCEPTED: px_on_accepted(p, m, now); break;
  case PAXOS_M_HEARTBEAT: px_on_heartbeat(p, m, now); break;
  case PAXOS_M_HEARTBEAT_ACK: px_on_heartbeat_ack(p, m, now); break;
  case PAXOS_M_CATCHUP_REQ: px_on_catchup_req(p, m); break;
  case PAXOS_M_CATCHUP: px_on_catchup(p, m, now); break;
  case PAXOS_M_SNAPSHOT: px_on_snapshot(p, m, now); break;
  case PAXOS_M_REJOIN_QUERY:
    if (p->role != PAXOS_LEARNER) {
      paxos_msg r = {.type = PAXOS_M_REJOIN_INFO, .promised = p->promised};
      px_send(p, &r, m->from);
    }
    break;
  case PAXOS_M_REJOIN_INFO: px_on_rejoin_info(p, m); break;
  case PAXOS_M_REJOIN_REQ: px_on_rejoin_req(p, m, now); break;
  }
  px_flush(p, now);
  return 0;
}

void paxos_persisted(paxos *p, uint64_t seq, int status, uint64_t now) {
  if (p->role == PAXOS_FAILED) return;
  if (status < 0) {
    px_fail(p, "persist failed");
    return;
  }
  if (seq != p->seq_done + 1 || seq > p->seq_next) {
    px_fail(p, "persist completions out of order");
    return;
  }
  p->seq_done = seq;
  run_gates(p, now);
  px_flush(p, now);
}

void paxos_tick(paxos *p, uint64_t now) {
  if (!p->started || p->role == PAXOS_FAILED) return;
  switch (p->role) {
  case PAXOS_LEARNER:
    px_rejoin_tick(p, now);
    break;
  case PAXOS_LEADER:
    px_leader_tick(p, now);
    break;
  case PAXOS_FOLLOWER:
  case PAXOS_CANDIDATE:
    if (now >= p->election_at) px_start_election(p, now);
    if (p->leader && p->chosen < p->known_commit) px_ask_catchup(p, p->leader, now, false);
    break;
  default:
    break;
  }
  px_flush(p, now);
}

bool paxos_failed(const paxos *p) { return p->role == PAXOS_FAILED; }

void paxos_get_status(const paxos *p, paxos_status *o) {
  memset(o, 0, sizeof *o);
  o->role = p->role;
  o->leader = p->leader;
  o->promised = p->promised;
  o->ballot = p->ballot;
  o->chosen = p->chosen;
  o->applied = p->applied;
  o->snap_slot = p->snap_slot;
  o->pending = p->nprops;
  o->elections = p->elections;
  o->leader_terms = p->leader_terms;
}

/* Install data (taken) as the snapshot and forget the log below it. */
void px_snapshot_set(paxos *p, uint64_t slot, uint8_t *data, size_t len) {
  free(p->snap);
  p->snap = data;
  p->snap_len = len;
  p->snap_slot = slot;
  log_drop_upto(p, slot);
  if (p->base <= slot) p->base = slot + 1;
}
