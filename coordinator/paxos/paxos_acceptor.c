/*
** Acceptor and learner: phase 1b and 2b answers, chosen slots, apply,
** catch-up from the log or a snapshot, snapshots/compaction, and the
** learner side of a wiped member's rejoin.
**
** Acceptor rules (Paxos Made Simple, 2.2 and 2.3):
**   - promise ballot b only if b >= promised; after promising never accept
**     below b. The promise (a PROMISE record) and every accepted value (an
**     ACCEPT record, which also raises the promise) are written and fsynced
**     before the answer leaves (px_gate_add: the answer waits for the seq).
**   - a promise reports every value held at or above the asked slot, with
**     its ballot, and flags values known chosen (a proposer takes those
**     as they are).
** Learner rule: a slot is chosen when the leader of ballot b announces a
** commit index covering it and we hold a value accepted in that same
** ballot b (one ballot proposes one value per slot), or when a chosen
** value arrives by catch-up. Apply runs in slot order, once per slot.
*/
#include "coordinator/paxos/paxos_int.h"

#include <stdlib.h>
#include <string.h>

#define CATCHUP_MAX_BYTES (4u << 20)

void px_heard_leader(paxos *p, uint32_t from, uint64_t now) {
  p->leader = from;
  px_reset_election(p, now);
  /* Lease, follower side: having heard the leader, do not promise another
  ** candidate for lease_ms (the leader trusts its lease only for
  ** lease_ms - drift_margin_ms from a heartbeat it sent before this). */
  p->lease_block_until = now + p->cfg.lease_ms;
}

static void reply_nack(paxos *p, paxos_msg_type t, const paxos_msg *m) {
  paxos_msg r = {.type = t, .ok = false, .ballot = m->ballot, .promised = p->promised,
                 .slot = m->slot};
  px_send(p, &r, m->from);
}

void px_on_prepare(paxos *p, const paxos_msg *m, uint64_t now) {
  if (p->role == PAXOS_LEARNER) return; /* a wiped member does not vote */
  px_seen(p, m->ballot);
  if (m->ballot < p->promised) return reply_nack(p, PAXOS_M_PROMISE, m);
  if (m->ballot > p->promised) {
    /* Lease: within lease_ms of hearing a leader, only that leader may
    ** raise the ballot (it does so when a wiped member asks it to). */
    if (now < p->lease_block_until && m->from != p->leader) return;
    px_step_down(p, m->ballot, now);
    p->promised = m->ballot;
    px_record(p, PAXOS_REC_PROMISE, 0, m->ballot, NULL, 0);
  }
  /* Answered only once the PROMISE record is durable (invariant: a
  ** promise made is never forgotten by a member that keeps its disk). */
  px_gate_add(p, G_PROMISE, m->from, m->ballot, m->slot);
}

/* Entries held at or above from (values, with ballots and chosen flags).
** Returns the count, or -1 when they would not fit one message. */
static long collect(paxos *p, uint64_t from, paxos_entry **out) {
  *out = NULL;
  if (from < p->base) from = p->base;
  size_t n = 0;
  for (uint64_t s = from; s < p->base + p->len; s++)
    if (p->log[s - p->base].has) n++;
  if (n > PAXOS_MAX_ENTRIES) return -1;
  if (!n) return 0;
  paxos_entry *e = malloc(n * sizeof *e);
  if (!e) return -1;
  size_t k = 0;
  for (uint64_t s = from; s < p->base + p->len; s++) {
    px_slot *sl = &p->log[s - p->base];
    if (!sl->has) continue;
    e[k++] = (paxos_entry){.slot = s, .ballot = sl->acc, .chosen = sl->chosen, .data = sl->val,
                           .len = sl->len};
  }
  *out = e;
  return (long)n;
}

void px_send_promise(paxos *p, uint32_t to, paxos_ballot b, uint64_t from) {
  if (p->promised != b) return; /* superseded meanwhile: the proposer retries */
  paxos_entry *e;
  long n = collect(p, from, &e);
  if (n < 0) {
    px_trace(p, "promise for ballot %llu.%u too large to send",
             (unsigned long long)PAXOS_BALLOT_ROUND(b), PAXOS_BALLOT_NODE(b));
    return;
  }
  paxos_msg r = {.type = PAXOS_M_PROMISE, .ok = true, .ballot = b, .promised = b,
                 .slot = from, .commit = p->chosen, .snap_slot = p->snap_slot,
                 .nentries = (uint32_t)n, .entries = e};
  px_send(p, &r, to);
  free(e);
}

void px_on_accept(paxos *p, const paxos_msg *m, uint64_t now) {
  px_seen(p, m->ballot);
  if (p->role == PAXOS_LEARNER) {
    /* Not voting; still a way to learn who leads and how far it got. */
    p->leader = m->from;
    if (m->commit > p->known_commit) p->known_commit = m->commit;
    return;
  }
  if (m->nentries != 1 || m->slot == 0) return;
  if (m->ballot < p->promised) return reply_nack(p, PAXOS_M_ACCEPTED, m);
  if (m->ballot > p->promised) {
    px_step_down(p, m->ballot, now);
    p->promised = m->ballot;
    px_record(p, PAXOS_REC_PROMISE, 0, m->ballot, NULL, 0);
  }
  px_heard_leader(p, m->from, now);
  if (m->slot <= p->chosen || (px_slot_at(p, m->slot, false) &&
                                px_slot_at(p, m->slot, false)->chosen)) {
    /* Already chosen here: no vote (it would not be backed by a record
    ** for this ballot); tell the proposer the chosen value instead, as a
    ** catch-up answer (a snapshot if we compacted that slot away). */
    paxos_msg q = {.type = PAXOS_M_CATCHUP_REQ, .from = m->from, .slot = m->slot};
    px_on_catchup_req(p, &q);
  } else {
    /* NULL: absurdly far ahead (ignored: we catch up first). */
    px_slot *sl = px_slot_at(p, m->slot, true);
    if (!sl) return;
    const paxos_entry *e = &m->entries[0];
    uint8_t *v = e->len ? malloc(e->len) : NULL;
    if (e->len && !v) return px_fail(p, "out of memory");
    if (e->len) memcpy(v, e->data, e->len);
    free(sl->val);
    sl->val = v;
    sl->len = e->len;
    sl->has = true;
    sl->acc = m->ballot;
    px_record(p, PAXOS_REC_ACCEPT, m->slot, m->ballot, v, e->len);
    /* The ACCEPTED leaves only after the ACCEPT record is durable
    ** (invariant: a vote counted towards a choice is never forgotten). */
    px_gate_add(p, G_ACCEPTED, m->from, m->ballot, m->slot);
  }
  px_learn_commit(p, m->ballot, m->commit, m->from, now);
}

void px_on_heartbeat(paxos *p, const paxos_msg *m, uint64_t now) {
  px_seen(p, m->ballot);
  if (p->role == PAXOS_LEARNER) {
    p->leader = m->from;
    if (m->commit > p->known_commit) p->known_commit = m->commit;
    if (p->chosen < m->commit) px_ask_catchup(p, m->from, now, false);
    /* Rejoin (Paxos Made Live 5.1, made precise in docs/consensus.md):
    ** every other member reported its promised ballot after we came up,
    ** rj_max is their maximum; a leader that finished phase 1 at a ballot
    ** above rj_max did so with a majority that excluded us, and no ballot
    ** we could have promised before the wipe is that high. Once that
    ** leader has also finished recovery (m->ok: every value phase 1 found
    ** is chosen again in its ballot, by a majority without us), nothing
    ** we forgot can be needed by a later phase 1. Caught up to its commit
    ** index, we may vote from that ballot on. */
    uint32_t others = ((1u << p->cfg.nnodes) - 1) & ~(1u << p->self_idx);
    if (!p->rj_pending && m->ok && p->rj_mask == others && m->ballot > p->rj_max &&
        p->chosen >= m->commit) {
      p->rj_pending = true;
      if (m->ballot > p->promised) p->promised = m->ballot;
      px_record(p, PAXOS_REC_PROMISE, 0, p->promised, NULL, 0);
      px_record(p, PAXOS_REC_VOTER, 0, m->ballot, NULL, 0);
      px_gate_add(p, G_VOTER, 0, m->ballot, 0);
    }
    return;
  }
  if (m->ballot < p->promised) return reply_nack(p, PAXOS_M_HEARTBEAT_ACK, m);
  if (m->ballot > p->promised) {
    /* Only a leader that completed phase 1 sends heartbeats; promising its
    ** ballot is always safe and stops older proposers early. */
    px_step_down(p, m->ballot, now);
    p->promised = m->ballot;
    px_record(p, PAXOS_REC_PROMISE, 0, m->ballot, NULL, 0);
  }
  px_heard_leader(p, m->from, now);
  px_learn_commit(p, m->ballot, m->commit, m->from, now);
  paxos_msg r = {.type = PAXOS_M_HEARTBEAT_ACK, .ok = true, .ballot = m->ballot, .ts = m->ts,
                 .commit = p->chosen};
  px_send(p, &r, m->from);
}

void px_learn_commit(paxos *p, paxos_ballot b, uint64_t commit, uint32_t from, uint64_t now) {
  if (commit > p->known_commit) p->known_commit = commit;
  uint64_t end = p->base + p->len; /* bounded by what we hold, whatever commit says */
  for (uint64_t s = p->chosen + 1; s <= commit && s < end; s++) {
    px_slot *sl = &p->log[s - p->base];
    if (sl->has && !sl->chosen && sl->acc == b) sl->chosen = true;
  }
  px_advance(p);
  if (p->chosen < commit) px_ask_catchup(p, from, now, false);
}

static void take_snapshot(paxos *p) {
  uint8_t *d = NULL;
  size_t n = 0;
  if (p->io.snapshot_take(p->io.ud, p->applied, &d, &n) < 0) return;
  if (n > PAXOS_MAX_MSG - 1024) {
    free(d);
    px_trace(p, "snapshot of %zu bytes too large to ship; not compacting", n);
    return;
  }
  /* The store writes the snapshot file (fsync, rename, fsync dir) and a new
  ** log segment behind it before this persist completes. */
  px_record(p, PAXOS_REC_SNAPSHOT, p->applied, 0, d, (uint32_t)n);
  px_snapshot_set(p, p->applied, d, n);
}

void px_advance(paxos *p) {
  for (;;) {
    px_slot *sl = px_slot_at(p, p->chosen + 1, false);
    if (!sl || !sl->chosen) break;
    p->chosen++;
  }
  while (p->applied < p->chosen && p->role != PAXOS_FAILED) {
    uint64_t s = p->applied + 1;
    px_slot *sl = px_slot_at(p, s, false);
    paxos_value one, *vals = &one;
    uint32_t n = 0, cnt = 0;
    if (sl->len >= 4)
      cnt = (uint32_t)sl->val[0] | (uint32_t)sl->val[1] << 8 | (uint32_t)sl->val[2] << 16 |
            (uint32_t)sl->val[3] << 24;
    if (cnt > sl->len / 12) cnt = 0; /* cannot be valid: decode fails below */
    if (cnt > 1) vals = malloc(cnt * sizeof *vals);
    if (!vals) return px_fail(p, "out of memory");
    if (paxos_batch_decode(sl->val, sl->len, vals, cnt ? cnt : 1, &n) != 0) {
      /* Every replica holds the same bytes, so every one skips the same
      ** slot: the replicas stay identical. */
      px_trace(p, "slot %llu: malformed batch applied as a no-op", (unsigned long long)s);
      n = 0;
    }
    p->io.apply(p->io.ud, s, vals, n);
    px_props_applied(p, s, vals, n);
    if (vals != &one) free(vals);
    p->applied = s;
  }
  if (p->cfg.snapshot_every && p->io.snapshot_take &&
      p->applied - p->snap_slot >= p->cfg.snapshot_every)
    take_snapshot(p);
}

void px_ask_catchup(paxos *p, uint32_t to, uint64_t now, bool force) {
  if (!to || to == p->cfg.self) return;
  if (!force && p->catchup_at && now < p->catchup_at + p->cfg.heartbeat_ms) return;
  p->catchup_at = now;
  paxos_msg r = {.type = PAXOS_M_CATCHUP_REQ, .slot = p->chosen + 1};
  px_send(p, &r, to);
}

void px_on_catchup_req(paxos *p, const paxos_msg *m) {
  uint64_t from = m->slot;
  if (from == 0) return;
  if (from > p->chosen) {
    /* A single chosen slot beyond the contiguous prefix (answering an
    ** ACCEPT for it): send just that one. */
    px_slot *sl = px_slot_at(p, from, false);
    if (!sl || !sl->chosen) return;
    paxos_entry e = {.slot = from, .ballot = sl->acc, .chosen = true, .data = sl->val,
                     .len = sl->len};
    paxos_msg r = {.type = PAXOS_M_CATCHUP, .commit = p->chosen, .nentries = 1, .entries = &e};
    px_send(p, &r, m->from);
    return;
  }
  if (from <= p->snap_slot) {
    paxos_entry e = {.slot = p->snap_slot, .chosen = true, .data = p->snap,
                     .len = (uint32_t)p->snap_len};
    paxos_msg r = {.type = PAXOS_M_SNAPSHOT, .snap_slot = p->snap_slot, .commit = p->chosen,
                   .nentries = 1, .entries = &e};
    px_send(p, &r, m->from);
    from = p->snap_slot + 1;
  }
  uint32_t max = p->cfg.catchup_max_entries;
  paxos_entry *e = malloc((size_t)max * sizeof *e);
  if (!e) return;
  uint32_t n = 0;
  uint64_t bytes = 0;
  for (uint64_t s = from; s <= p->chosen && n < max; s++) {
    px_slot *sl = px_slot_at(p, s, false);
    if (!sl || !sl->chosen) break;
    if (n && bytes + sl->len > CATCHUP_MAX_BYTES) break;
    bytes += sl->len;
    e[n++] = (paxos_entry){.slot = s, .ballot = sl->acc, .chosen = true, .data = sl->val,
                           .len = sl->len};
  }
  if (n) {
    paxos_msg r = {.type = PAXOS_M_CATCHUP, .commit = p->chosen, .nentries = n, .entries = e};
    px_send(p, &r, m->from);
  }
  free(e);
}

void px_on_catchup(paxos *p, const paxos_msg *m, uint64_t now) {
  uint64_t before = p->chosen;
  for (uint32_t i = 0; i < m->nentries; i++) {
    const paxos_entry *e = &m->entries[i];
    if (!e->chosen || e->slot <= p->chosen || e->slot < p->base) continue;
    px_slot *sl = px_slot_at(p, e->slot, true);
    if (!sl || sl->chosen) continue;
    uint8_t *v = e->len ? malloc(e->len) : NULL;
    if (e->len && !v) return px_fail(p, "out of memory");
    if (e->len) memcpy(v, e->data, e->len);
    free(sl->val);
    sl->val = v;
    sl->len = e->len;
    sl->has = true;
    sl->chosen = true;
    sl->acc = 0;
    sl->inflight = false;
    /* Written before the COMMIT marker that will cover it (same or later
    ** batch), so a restart finds the chosen value in the log. */
    px_record(p, PAXOS_REC_LEARN, e->slot, 0, v, e->len);
  }
  if (m->commit > p->known_commit) p->known_commit = m->commit;
  px_advance(p);
  if (p->chosen > before && p->chosen < m->commit) px_ask_catchup(p, m->from, now, true);
}

void px_on_snapshot(paxos *p, const paxos_msg *m, uint64_t now) {
  if (m->nentries != 1 || m->snap_slot <= p->applied) return;
  const paxos_entry *e = &m->entries[0];
  uint8_t *d = malloc(e->len ? e->len : 1);
  if (!d) return px_fail(p, "out of memory");
  if (e->len) memcpy(d, e->data, e->len);
  int rc = p->io.snapshot_install(p->io.ud, m->snap_slot, d, e->len);
  if (rc < 0) {
    free(d);
    px_trace(p, "snapshot at slot %llu refused by the state machine (%d)",
             (unsigned long long)m->snap_slot, rc);
    return;
  }
  px_record(p, PAXOS_REC_SNAPSHOT, m->snap_slot, 0, d, e->len);
  px_snapshot_set(p, m->snap_slot, d, e->len);
  if (p->chosen < m->snap_slot) p->chosen = m->snap_slot;
  p->applied = m->snap_slot;
  /* Proposals whose slot the snapshot covers: their fate is inside the
  ** snapshot, which we cannot read. Report them lost; the retry is deduped. */
  px_props_applied(p, m->snap_slot, NULL, 0);
  if (m->commit > p->known_commit) p->known_commit = m->commit;
  px_advance(p);
  if (p->chosen < m->commit) px_ask_catchup(p, m->from, now, true);
}

void px_rejoin_tick(paxos *p, uint64_t now) {
  if (p->rj_at && now < p->rj_at + p->cfg.heartbeat_ms) return;
  p->rj_at = now;
  uint32_t others = ((1u << p->cfg.nnodes) - 1) & ~(1u << p->self_idx);
  for (uint32_t i = 0; i < p->cfg.nnodes; i++) {
    if (!(others & (1u << i)) || (p->rj_mask & (1u << i))) continue;
    paxos_msg q = {.type = PAXOS_M_REJOIN_QUERY};
    px_send(p, &q, p->cfg.nodes[i]);
  }
  if (p->rj_mask == others && p->leader && !p->rj_pending) {
    paxos_msg r = {.type = PAXOS_M_REJOIN_REQ, .promised = p->rj_max};
    px_send(p, &r, p->leader);
  }
  if (p->leader && p->chosen < p->known_commit) px_ask_catchup(p, p->leader, now, false);
}

void px_on_rejoin_info(paxos *p, const paxos_msg *m) {
  if (p->role != PAXOS_LEARNER) return;
  int i = px_idx(p, m->from);
  p->rj_mask |= 1u << i;
  if (m->promised > p->rj_max) p->rj_max = m->promised;
}
