/*
** Proposer: elections (phase 1 over every unchosen slot), recovery
** (re-propose what phase 1 found, fill gaps with no-ops), phase 2 with up
** to max_inflight slots in flight and client values batched per slot,
** heartbeats, the leader lease, and re-balloting for a rejoining member.
**
** Phase 1 (Paxos Made Moderately Complex, the "Scout"): one PREPARE(b, f)
** covers every slot >= f, where f is the first slot not known chosen here.
** Each promise reports the values its sender holds at or above f. With a
** majority, for every slot between f and the highest slot reported the
** leader proposes the value of the highest ballot reported (or, if a
** promise flagged it chosen, takes it as chosen), and a no-op where nothing
** was reported, so the log has no holes below new proposals.
** Phase 2 ("Commander"): ACCEPT(b, s, v) to all; a majority of ACCEPTED
** for b makes v chosen in s.
*/
#include "coordinator/paxos/paxos_int.h"

#include <stdlib.h>
#include <string.h>

static uint32_t popcount(uint32_t v) {
  uint32_t c = 0;
  for (; v; v &= v - 1) c++;
  return c;
}

void px_found_clear(paxos *p) {
  for (size_t i = 0; i < p->nfound; i++) free(p->found[i].val);
  free(p->found);
  p->found = NULL;
  p->nfound = 0;
}

void px_props_lost(paxos *p) {
  /* The callbacks may not re-enter, but take the list first anyway so a
  ** report never sees a half-emptied array. */
  px_prop *pr = p->props;
  size_t n = p->nprops;
  p->props = NULL;
  p->nprops = p->pcap = 0;
  for (size_t i = 0; i < n; i++) {
    p->io.proposal_done(p->io.ud, pr[i].id, SYN_EBUSY, 0);
    free(pr[i].data);
  }
  free(pr);
}

void px_props_applied(paxos *p, uint64_t slot, const paxos_value *vals, uint32_t n) {
  size_t k = 0;
  for (size_t i = 0; i < p->nprops; i++) {
    px_prop *pr = &p->props[i];
    if (pr->slot == 0 || pr->slot > slot) {
      p->props[k++] = *pr;
      continue;
    }
    bool found = false;
    for (uint32_t j = 0; j < n && !found; j++) found = vals[j].id == pr->id;
    /* Chosen with its id (ours, or the same client value re-proposed by
    ** another leader), or its slot went to another value: lost. */
    p->io.proposal_done(p->io.ud, pr->id, found ? 0 : SYN_EBUSY, found ? slot : pr->slot);
    free(pr->data);
  }
  p->nprops = k;
}

void px_start_election(paxos *p, uint64_t now) {
  if (p->role == PAXOS_LEARNER || p->role == PAXOS_FAILED) return;
  uint64_t r1 = PAXOS_BALLOT_ROUND(p->promised), r2 = PAXOS_BALLOT_ROUND(p->max_seen);
  paxos_ballot b = PAXOS_BALLOT((r1 > r2 ? r1 : r2) + 1, p->cfg.self);
  if (p->role == PAXOS_LEADER) {
    for (size_t i = 0; i < p->len; i++) p->log[i].inflight = false;
    px_props_lost(p);
  }
  px_found_clear(p);
  p->p1_acks = 0;
  p->p1_from = p->chosen + 1;
  p->p1_max = p->chosen;
  p->p1_need = 0;
  p->recovered = false;
  p->ballot = b;
  p->promised = b;
  p->max_seen = b;
  p->leader = 0;
  p->elections++;
  px_set_role(p, PAXOS_CANDIDATE);
  /* Our own promise is durable before any PREPARE leaves: a restart then
  ** picks a higher round, so one ballot never carries two proposers (the
  ** old incarnation's ACCEPTs may still be in flight). */
  px_record(p, PAXOS_REC_PROMISE, 0, b, NULL, 0);
  px_gate_add(p, G_SELF_PREPARE, 0, b, 0);
  px_reset_election(p, now);
}

static void become_leader(paxos *p, uint64_t now) {
  px_set_role(p, PAXOS_LEADER);
  p->leader = p->cfg.self;
  p->leader_terms++;
  p->recovered = false;
  p->next_slot = (p->p1_max > p->chosen ? p->p1_max : p->chosen) + 1;
  memset(p->hb_ack_ts, 0, sizeof p->hb_ack_ts);
  p->lead_since = now;
  p->rec_chosen = p->chosen;
  p->rec_at = now;
  p->hb_at = 0;
  p->lease_block_until = now + p->cfg.lease_ms;
}

static void absorb(paxos *p, uint32_t idx, const paxos_entry *e, uint32_t n, uint64_t snap_slot,
                   uint32_t from, uint64_t now) {
  if (p->p1_acks & (1u << idx)) return;
  for (uint32_t i = 0; i < n; i++) {
    if (e[i].slot < p->p1_from || e[i].slot - p->p1_from > PX_MAX_AHEAD) continue;
    size_t k = (size_t)(e[i].slot - p->p1_from);
    if (k >= p->nfound) {
      size_t nn = k + 1;
      px_found *f = realloc(p->found, nn * sizeof *f);
      if (!f) return px_fail(p, "out of memory");
      memset(f + p->nfound, 0, (nn - p->nfound) * sizeof *f);
      p->found = f;
      p->nfound = nn;
    }
    px_found *f = &p->found[k];
    if (f->chosen) continue;
    if (!e[i].chosen && f->has && e[i].ballot <= f->ballot) continue;
    uint8_t *v = e[i].len ? malloc(e[i].len) : NULL;
    if (e[i].len && !v) return px_fail(p, "out of memory");
    if (e[i].len) memcpy(v, e[i].data, e[i].len);
    free(f->val);
    f->val = v;
    f->len = e[i].len;
    f->has = true;
    f->chosen = e[i].chosen;
    f->ballot = e[i].ballot;
    if (e[i].slot > p->p1_max) p->p1_max = e[i].slot;
  }
  /* Slots this acceptor compacted into a snapshot are chosen but it could
  ** not report their values: fetch them before proposing anything there. */
  if (snap_slot >= p->p1_from && snap_slot > p->p1_need) {
    p->p1_need = snap_slot;
    p->p1_need_from = from;
    px_ask_catchup(p, from, now, true);
  }
  p->p1_acks |= 1u << idx;
  if (popcount(p->p1_acks) >= p->majority) become_leader(p, now);
}

void px_self_prepare(paxos *p, paxos_ballot b) {
  if (p->role != PAXOS_CANDIDATE || p->ballot != b) return;
  paxos_msg m = {.type = PAXOS_M_PREPARE, .ballot = b, .slot = p->p1_from};
  for (uint32_t i = 0; i < p->cfg.nnodes; i++)
    if (i != p->self_idx) px_send(p, &m, p->cfg.nodes[i]);
  /* Our own promise, with our own log as its report. */
  uint64_t from = p->p1_from < p->base ? p->base : p->p1_from;
  size_t n = 0;
  for (uint64_t s = from; s < p->base + p->len; s++) n += p->log[s - p->base].has;
  paxos_entry *e = n ? malloc(n * sizeof *e) : NULL;
  if (n && !e) return px_fail(p, "out of memory");
  size_t k = 0;
  for (uint64_t s = from; s < p->base + p->len; s++) {
    px_slot *sl = &p->log[s - p->base];
    if (sl->has)
      e[k++] = (paxos_entry){.slot = s, .ballot = sl->acc, .chosen = sl->chosen, .data = sl->val,
                             .len = sl->len};
  }
  absorb(p, p->self_idx, e, (uint32_t)n, 0, 0, 0);
  free(e);
}

void px_on_promise(paxos *p, const paxos_msg *m, uint64_t now) {
  if (!m->ok) {
    /* A higher promise elsewhere: remember it so the next round is above
    ** it; the election timer starts that round. */
    px_seen(p, m->promised);
    return;
  }
  px_seen(p, m->ballot);
  if (p->role != PAXOS_CANDIDATE || m->ballot != p->ballot) return;
  absorb(p, (uint32_t)px_idx(p, m->from), m->entries, m->nentries, m->snap_slot, m->from, now);
}

static void send_accept(paxos *p, uint64_t slot, const px_slot *sl, uint32_t to) {
  paxos_entry e = {.slot = slot, .ballot = p->ballot, .data = sl->val, .len = sl->len};
  paxos_msg m = {.type = PAXOS_M_ACCEPT, .ballot = p->ballot, .slot = slot, .commit = p->chosen,
                 .nentries = 1, .entries = &e};
  px_send(p, &m, to);
}

/* Phase 2a for one slot; val is taken. */
static void propose_slot(paxos *p, uint64_t slot, uint8_t *val, uint32_t len, uint64_t now) {
  px_slot *sl = px_slot_at(p, slot, true);
  if (!sl) {
    free(val);
    return px_fail(p, "out of memory");
  }
  free(sl->val);
  sl->val = val;
  sl->len = len;
  sl->has = true;
  sl->chosen = false;
  sl->acc = p->ballot; /* we are an acceptor too, and promised == ballot */
  sl->inflight = true;
  sl->acks = 0;
  sl->sent_at = now;
  /* Our own vote counts only once our ACCEPT record is durable. */
  px_record(p, PAXOS_REC_ACCEPT, slot, p->ballot, val, len);
  px_gate_add(p, G_SELF_ACCEPTED, 0, p->ballot, slot);
  for (uint32_t i = 0; i < p->cfg.nnodes; i++)
    if (i != p->self_idx) send_accept(p, slot, sl, p->cfg.nodes[i]);
}

void px_count_accept(paxos *p, uint32_t idx, paxos_ballot b, uint64_t slot) {
  if (p->role != PAXOS_LEADER || b != p->ballot) return;
  px_slot *sl = px_slot_at(p, slot, false);
  if (!sl || !sl->inflight) return;
  sl->acks |= 1u << idx;
  if (popcount(sl->acks) >= p->majority) {
    sl->inflight = false;
    sl->chosen = true;
    px_advance(p);
  }
}

/* A member refused us (it promised higher). As leader, raise our ballot
** above it while the followers' lease still lets only us do so: otherwise
** one partitioned node that ran elections alone would refuse our ACCEPTs
** forever. A real new leader stops us through its heartbeats instead. */
static void refused(paxos *p, paxos_ballot promised, uint64_t now) {
  px_seen(p, promised);
  if (p->role == PAXOS_LEADER && promised > p->ballot) px_start_election(p, now);
}

void px_on_accepted(paxos *p, const paxos_msg *m, uint64_t now) {
  if (!m->ok) return refused(p, m->promised, now);
  px_count_accept(p, (uint32_t)px_idx(p, m->from), m->ballot, m->slot);
}

void px_on_heartbeat_ack(paxos *p, const paxos_msg *m, uint64_t now) {
  if (!m->ok) return refused(p, m->promised, now);
  if (p->role != PAXOS_LEADER || m->ballot != p->ballot) return;
  int i = px_idx(p, m->from);
  /* ts is our own clock's send time echoed back: no cross-node clock
  ** comparison happens. A timestamp from the future is garbage. */
  if (m->ts <= now && m->ts > p->hb_ack_ts[i]) p->hb_ack_ts[i] = m->ts;
}

void px_on_rejoin_req(paxos *p, const paxos_msg *m, uint64_t now) {
  px_seen(p, m->promised);
  if (p->role == PAXOS_LEADER && p->ballot <= m->promised) {
    px_trace(p, "member %u rejoins after a wiped disk: raising the ballot", m->from);
    px_start_election(p, now);
  }
}

static void heartbeat(paxos *p, uint64_t now) {
  /* ok: recovery is complete (every slot phase 1 found is chosen in our
  ** ballot); a rejoining member waits for that, see px_on_heartbeat. */
  paxos_msg m = {.type = PAXOS_M_HEARTBEAT, .ballot = p->ballot, .commit = p->chosen, .ts = now,
                 .ok = p->recovered && p->chosen >= p->recover_upto};
  for (uint32_t i = 0; i < p->cfg.nnodes; i++)
    if (i != p->self_idx) px_send(p, &m, p->cfg.nodes[i]);
  p->hb_at = now;
  p->bcast_commit = p->chosen;
  /* The leader is one of the majority its lease counts: it too refuses
  ** other candidates while the lease may run. */
  p->lease_block_until = now + p->cfg.lease_ms;
}

static uint32_t batch_put(uint8_t *b, uint32_t off, uint64_t id, const uint8_t *d, uint32_t len) {
  for (int i = 0; i < 8; i++) b[off + i] = (uint8_t)(id >> (8 * i));
  for (int i = 0; i < 4; i++) b[off + 8 + i] = (uint8_t)(len >> (8 * i));
  if (len) memcpy(b + off + 12, d, len);
  return off + 12 + len;
}

/* Next batch from the queue: as many queued values as fit max_batch_bytes. */
static void propose_batch(paxos *p, uint64_t now) {
  uint32_t bytes = 4, cnt = 0;
  for (size_t i = 0; i < p->nprops; i++) {
    if (p->props[i].slot) continue;
    if (cnt && bytes + 12 + p->props[i].len > p->cfg.max_batch_bytes) break;
    bytes += 12 + p->props[i].len;
    cnt++;
  }
  if (!cnt) return;
  uint8_t *b = malloc(bytes);
  if (!b) return px_fail(p, "out of memory");
  uint64_t slot = p->next_slot++;
  uint32_t off = 4, k = 0;
  for (size_t i = 0; i < p->nprops && k < cnt; i++) {
    if (p->props[i].slot) continue;
    off = batch_put(b, off, p->props[i].id, p->props[i].data, p->props[i].len);
    p->props[i].slot = slot;
    k++;
  }
  for (int i = 0; i < 4; i++) b[i] = (uint8_t)(cnt >> (8 * i));
  propose_slot(p, slot, b, bytes, now);
}

static bool queued(const paxos *p) {
  for (size_t i = 0; i < p->nprops; i++)
    if (!p->props[i].slot) return true;
  return false;
}

void px_leader_drive(paxos *p, uint64_t now) {
  if (!p->recovered) {
    if (p->chosen < p->p1_need) return; /* fetching a snapshot first */
    p->recovered = true;
    p->recover_upto = p->p1_max;
    for (uint64_t s = p->chosen + 1; s <= p->p1_max && p->role == PAXOS_LEADER; s++) {
      px_slot *sl = px_slot_at(p, s, false);
      if (sl && sl->chosen) continue;
      px_found *f = (s >= p->p1_from && s - p->p1_from < p->nfound) ? &p->found[s - p->p1_from]
                                                                     : NULL;
      if (f && f->chosen) {
        sl = px_slot_at(p, s, true);
        if (!sl) return px_fail(p, "out of memory");
        free(sl->val);
        sl->val = f->val;
        sl->len = f->len;
        f->val = NULL;
        sl->has = sl->chosen = true;
        sl->acc = 0;
        px_record(p, PAXOS_REC_LEARN, s, 0, sl->val, sl->len);
        continue;
      }
      /* Re-propose the highest-ballot value found, or a no-op (an empty
      ** batch) for a slot nobody in the majority holds. */
      uint8_t *v = NULL;
      uint32_t len = 0;
      if (f && f->has) {
        v = f->val;
        len = f->len;
        f->val = NULL;
      }
      propose_slot(p, s, v, len, now);
    }
    px_found_clear(p);
    if (p->next_slot <= p->p1_max) p->next_slot = p->p1_max + 1;
    px_trace(p, "leader: recovered slots %llu..%llu", (unsigned long long)p->p1_from,
             (unsigned long long)p->p1_max);
    px_advance(p);
  }
  /* A snapshot or catch-up may have moved chosen past our next slot. */
  if (p->next_slot <= p->chosen) p->next_slot = p->chosen + 1;
  while (p->role == PAXOS_LEADER && p->next_slot - 1 - p->chosen < p->cfg.max_inflight &&
         queued(p))
    propose_batch(p, now);
  if (p->role == PAXOS_LEADER && (p->hb_at == 0 || p->chosen > p->bcast_commit))
    heartbeat(p, now); /* first heartbeat, or chosen-slot notification */
}

/* The newest heartbeat send time a majority (us included, at now) acked,
** 0 if none. */
static uint64_t majority_ack_ts(const paxos *p, uint64_t now) {
  uint64_t ts[PAXOS_MAX_NODES];
  for (uint32_t i = 0; i < p->cfg.nnodes; i++) ts[i] = i == p->self_idx ? now : p->hb_ack_ts[i];
  for (uint32_t i = 1; i < p->cfg.nnodes; i++)
    for (uint32_t j = i; j > 0 && ts[j] > ts[j - 1]; j--) {
      uint64_t t = ts[j];
      ts[j] = ts[j - 1];
      ts[j - 1] = t;
    }
  return ts[p->majority - 1];
}

void px_leader_tick(paxos *p, uint64_t now) {
  /* Check quorum (as Raft's CheckQuorum, Ongaro's thesis 6.2): a leader no
  ** majority has answered for election_max_ms steps down. Without it a
  ** leader that can still send but no longer hear (its inbound links cut,
  ** an asymmetric partition) keeps every follower loyal with heartbeats:
  ** nobody else may run and nothing is chosen for as long as the partition
  ** lasts. The simulator's partial-heal liveness mode found this (seed 604,
  ** a deaf leader). Stepping down is always safe: it only stops proposing. */
  uint64_t heard = majority_ack_ts(p, now);
  if (heard < p->lead_since) heard = p->lead_since;
  if (now >= heard + p->cfg.election_max_ms) {
    px_trace(p, "leader: no majority heard for %llu ms, stepping down",
             (unsigned long long)(now - heard));
    px_stop_proposing(p, now);
    return;
  }
  if (now >= p->hb_at + p->cfg.heartbeat_ms) heartbeat(p, now);
  if (!p->recovered && p->chosen > p->rec_chosen) {
    p->rec_chosen = p->chosen;
    p->rec_at = now;
  }
  if (!p->recovered && now >= p->rec_at + 2 * (uint64_t)p->cfg.election_max_ms) {
    /* Recovery waits for chosen slots that a promise reported compacted
    ** and no reachable member can serve (the one that reported them is
    ** gone). A new phase 1 collects a new majority, whose reports may need
    ** no snapshot at all: without it the leader would wait, heartbeating,
    ** forever (simulator seed 27341). */
    px_trace(p, "leader: recovery made no progress for %llu ms, new ballot",
             (unsigned long long)(now - p->rec_at));
    px_start_election(p, now);
    return;
  }
  if (!p->recovered && p->chosen < p->p1_need &&
      (!p->catchup_at || now >= p->catchup_at + p->cfg.heartbeat_ms)) {
    /* Ask every member in turn, not only the one whose snapshot showed the
    ** gap: it may have crashed for good, and the slots are chosen, so any
    ** member that learned them can serve them. Otherwise the leader waits
    ** forever while its heartbeats keep everyone else from running (the
    ** simulator's partial-heal liveness mode found this: seed 19652). */
    uint32_t k = p->catchup_rr++ % p->cfg.nnodes;
    px_ask_catchup(p, k == p->self_idx ? p->p1_need_from : p->cfg.nodes[k], now, false);
  }
  /* Retransmit ACCEPTs not yet answered (messages may be lost). */
  for (size_t i = 0; i < p->len; i++) {
    px_slot *sl = &p->log[i];
    if (!sl->inflight || now < sl->sent_at + 2 * (uint64_t)p->cfg.heartbeat_ms) continue;
    sl->sent_at = now;
    for (uint32_t j = 0; j < p->cfg.nnodes; j++)
      if (j != p->self_idx && !(sl->acks & (1u << j)))
        send_accept(p, p->base + i, sl, p->cfg.nodes[j]);
  }
}

int paxos_propose(paxos *p, uint64_t id, const uint8_t *data, uint32_t len, uint64_t now,
                  uint32_t *leader, syn_err *err) {
  if (leader) *leader = p->leader;
  if (!p->started || p->role == PAXOS_FAILED)
    return syn_err_set(err, SYN_ECLOSED, "paxos: replica not running");
  if (p->role != PAXOS_LEADER)
    return syn_err_set(err, SYN_EBUSY, "not leader, leader is %u", p->leader);
  if (len && !data) return syn_err_set(err, SYN_EINVAL, "paxos_propose: no data");
  if (len > PAXOS_MAX_VALUE || 16 + (uint64_t)len > p->cfg.max_batch_bytes)
    return syn_err_set(err, SYN_ERANGE, "paxos_propose: value of %u bytes too large", len);
  if (p->nprops >= p->cfg.max_pending)
    return syn_err_set(err, SYN_EBUSY, "paxos_propose: %zu proposals pending", p->nprops);
  if (p->nprops == p->pcap) {
    size_t nc = p->pcap ? p->pcap * 2 : 64;
    px_prop *n = realloc(p->props, nc * sizeof *n);
    if (!n) return syn_err_set(err, SYN_ENOMEM, "paxos_propose: out of memory");
    p->props = n;
    p->pcap = nc;
  }
  uint8_t *d = malloc(len ? len : 1);
  if (!d) return syn_err_set(err, SYN_ENOMEM, "paxos_propose: out of memory");
  if (len) memcpy(d, data, len);
  p->props[p->nprops++] = (px_prop){.id = id, .slot = 0, .data = d, .len = len};
  px_flush(p, now);
  return 0;
}

bool paxos_lease_valid(const paxos *p, uint64_t now) {
  if (p->role != PAXOS_LEADER || !p->recovered || p->chosen < p->recover_upto ||
      p->applied < p->chosen || p->cfg.lease_ms == 0)
    return false;
  uint64_t t = majority_ack_ts(p, now);
  return t != 0 && now < t + p->cfg.lease_ms - p->cfg.drift_margin_ms;
}
