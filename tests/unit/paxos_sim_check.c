/*
** The simulator's oracle (see paxos_sim.h for the list): every property
** is checked where the event happens (a vote reaching a disk, a message
** leaving, an apply, a snapshot install, a proposal acknowledged) or after
** every step (chk_step), against ground truth the nodes cannot see; and the
** helpers both halves use (failure, trace, trace hash, value content).
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paxos_sim_int.h"

/* ---- shared helpers (hashing, failure, trace, value content) ---------- */

uint64_t sim_fnv(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
  return h;
}

void sim_hash(sim *s, uint32_t tag, uint64_t a, uint64_t b, const void *data, size_t len) {
  uint64_t hdr[4] = {tag, s->now, a, b};
  s->hash = sim_fnv(s->hash, hdr, sizeof hdr);
  if (len) s->hash = sim_fnv(s->hash, data, len);
}

uint64_t sim_batch_hash(const paxos_value *vals, uint32_t n) {
  uint64_t h = 14695981039346656037ULL;
  for (uint32_t i = 0; i < n; i++) {
    h = sim_fnv(h, &vals[i].id, 8);
    h = sim_fnv(h, vals[i].data, vals[i].len);
  }
  return h;
}

void sim_fail(sim *s, const char *fmt, ...) {
  if (s->failed) return;
  s->failed = true;
  va_list ap;
  va_start(ap, fmt);
  int k = snprintf(s->why, s->whycap, "t=%llu: ", (unsigned long long)s->now);
  if (k > 0 && (size_t)k < s->whycap) vsnprintf(s->why + k, s->whycap - (size_t)k, fmt, ap);
  va_end(ap);
}

void sim_trace(sim *s, const char *fmt, ...) {
  if (!s->trace) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "[%6llu] ", (unsigned long long)s->now);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}
/* ---- value content: derived from the id, so "was proposed" is checkable */
uint32_t sim_value_len(uint64_t id) { return 8 + (uint32_t)(id * 7 % 40); }
void sim_value_fill(uint64_t id, uint8_t *b) {
  uint32_t l = sim_value_len(id);
  for (uint32_t i = 0; i < l; i++) b[i] = (uint8_t)(id * 31 + i * 17);
}

/* ---- the checks ------------------------------------------------------- */

static int popcount8(uint8_t m) {
  int c = 0;
  for (; m; m &= (uint8_t)(m - 1)) c++;
  return c;
}

/* A durable ACCEPT record: one acceptor's vote (Paxos Made Simple, 2.2: a
** value is chosen when a majority of acceptors accepted it in one ballot).
** Votes are kept for the whole run, across compaction, crashes and wiped
** disks: "chosen" is a fact about the past, and no later ballot may choose
** another value in that slot. */
void chk_vote(sim *s, node *nd, const paxos_rec *r) {
  if (r->slot == 0 || r->slot > MAXSLOTS) return sim_fail(s, "vote for slot %llu", (unsigned long long)r->slot);
  paxos_value vals[MAXB];
  uint32_t n;
  if (paxos_batch_decode(r->data, r->len, vals, MAXB, &n) != 0)
    return sim_fail(s, "n%u accepted an undecodable value in slot %llu", nd->id,
                    (unsigned long long)r->slot);
  uint64_t h = sim_batch_hash(vals, n);
  slot_votes *sv = &s->votes[r->slot];
  svote *v = NULL;
  for (uint32_t i = 0; i < sv->n; i++)
    if (sv->v[i].b == r->ballot) v = &sv->v[i];
  if (!v) {
    if (sv->n == sv->cap) {
      sv->cap = sv->cap ? sv->cap * 2 : 4;
      sv->v = realloc(sv->v, sv->cap * sizeof *sv->v);
    }
    v = &sv->v[sv->n++];
    *v = (svote){.b = r->ballot, .h = h};
  } else if (v->h != h) {
    /* one proposer, one ballot, one value per slot */
    return sim_fail(s, "slot %llu ballot %llu.%u: two different values accepted",
                    (unsigned long long)r->slot,
                    (unsigned long long)PAXOS_BALLOT_ROUND(r->ballot),
                    PAXOS_BALLOT_NODE(r->ballot));
  }
  v->mask |= (uint8_t)(1u << nd->idx);
  if (popcount8(v->mask) < s->n / 2 + 1) return;
  if (!s->chosen_set[r->slot]) {
    s->chosen_set[r->slot] = true;
    s->chosen_h[r->slot] = h;
    s->t.chosen_by_votes++;
  } else if (s->chosen_h[r->slot] != h) {
    sim_fail(s, "slot %llu: a second, different value chosen in ballot %llu.%u",
             (unsigned long long)r->slot, (unsigned long long)PAXOS_BALLOT_ROUND(r->ballot),
             PAXOS_BALLOT_NODE(r->ballot));
  }
}

/* The invariant of docs/consensus.md, "What is fsynced when", checked on
** every message that leaves: what it claims is already on the disk. */
void chk_durable(sim *s, node *nd, const paxos_msg *m) {
  if (m->type == PAXOS_M_PROMISE && m->ok && nd->dprom < m->ballot)
    sim_fail(s, "n%u sent PROMISE %llu.%u before it was durable", nd->id,
             (unsigned long long)PAXOS_BALLOT_ROUND(m->ballot), PAXOS_BALLOT_NODE(m->ballot));
  if (m->type == PAXOS_M_PREPARE && nd->dprom < m->ballot)
    sim_fail(s, "n%u sent PREPARE before its own promise was durable", nd->id);
  if (m->type == PAXOS_M_ACCEPTED && m->ok && m->slot <= MAXSLOTS && m->slot > nd->dsnap &&
      nd->dacc[m->slot] < m->ballot)
    sim_fail(s, "n%u sent ACCEPTED for slot %llu before it was durable", nd->id,
             (unsigned long long)m->slot);
}

/* apply(slot) is this node reporting the slot chosen with these values. */
void chk_apply(sim *s, node *nd, uint64_t slot, const paxos_value *vals, uint32_t n) {
  uint64_t h = sim_batch_hash(vals, n);
  if (!s->chosen_set[slot])
    return sim_fail(s, "n%u applied slot %llu, which no majority accepted in one ballot", nd->id,
                    (unsigned long long)slot);
  if (s->chosen_h[slot] != h)
    return sim_fail(s, "n%u applied slot %llu with a value other than the chosen one", nd->id,
                    (unsigned long long)slot);
  if (nd->rep_val[slot] && nd->rep_val[slot] != h)
    return sim_fail(s, "n%u's chosen prefix changed: slot %llu reported with other values",
                    nd->id, (unsigned long long)slot);
  if (nd->rep_state[slot] && nd->rep_state[slot] != nd->sm_hash)
    return sim_fail(s, "n%u's state after slot %llu differs from its earlier report", nd->id,
                    (unsigned long long)slot);
  nd->rep_val[slot] = h;
  nd->rep_state[slot] = nd->sm_hash;
  if (!s->slot_set[slot]) {
    /* Chosen means a majority holds it durably, at the moment it is first
    ** applied anywhere (a vote counted before its fsync breaks this). */
    int held = 0;
    for (int i = 0; i < s->n; i++) held += (s->held[slot] >> i & 1) || s->nodes[i].dsnap >= slot;
    if (held < s->n / 2 + 1)
      return sim_fail(s, "slot %llu applied by n%u while only %d members hold it durably",
                      (unsigned long long)slot, nd->id, held);
    s->slot_set[slot] = true;
    s->slot_hash[slot] = h;
    s->state_hash[slot] = nd->sm_hash;
    if (slot > s->max_applied) s->max_applied = slot;
    if (n > 1) s->t.batched_slots++;
    s->slot_nids[slot] = (uint8_t)n;
    for (uint32_t i = 0; i < n; i++) {
      s->slot_ids[slot][i] = vals[i].id;
      if (vals[i].id < MAXIDS) s->chosen_ids[vals[i].id] = true;
    }
  } else if (s->slot_hash[slot] != h) {
    sim_fail(s, "slot %llu: node %u applied a different value than another node",
             (unsigned long long)slot, nd->id);
  } else if (s->state_hash[slot] != nd->sm_hash) {
    sim_fail(s, "slot %llu: node %u's state machine differs", (unsigned long long)slot, nd->id);
  }
}

/* A snapshot replaces the slots <= slot: its state must be the one every
** node (this one included, in any earlier life) had after that slot. */
void chk_snapshot(sim *s, node *nd, uint64_t slot, uint64_t state) {
  if (slot > MAXSLOTS) return sim_fail(s, "snapshot past %d slots", MAXSLOTS);
  if (s->slot_set[slot] && s->state_hash[slot] != state)
    return sim_fail(s, "n%u: snapshot at slot %llu differs from the applied state", nd->id,
                    (unsigned long long)slot);
  if (nd->rep_state[slot] && nd->rep_state[slot] != state)
    return sim_fail(s, "n%u's chosen prefix changed: snapshot at slot %llu differs from what "
                    "it applied", nd->id, (unsigned long long)slot);
  if (slot > 0 && !s->chosen_set[slot])
    sim_fail(s, "n%u installed a snapshot at slot %llu, which is not chosen", nd->id,
             (unsigned long long)slot);
  nd->rep_state[slot] = state;
}

/* proposal_done(id, 0, slot): the client is told its value is chosen, in
** that slot. It must be: the chosen value there carries id. Such a value
** must reach every live node once the faults stop (chk_converged). */
void chk_done(sim *s, node *nd, uint64_t id, uint64_t slot) {
  if (!nd->seen_ids[id])
    return sim_fail(s, "id %llu reported chosen before it was applied at the leader",
                    (unsigned long long)id);
  if (slot == 0 || slot > MAXSLOTS || !s->slot_set[slot])
    return sim_fail(s, "id %llu reported chosen in slot %llu, never applied",
                    (unsigned long long)id, (unsigned long long)slot);
  bool in = false;
  for (uint32_t i = 0; i < s->slot_nids[slot]; i++) in |= s->slot_ids[slot][i] == id;
  if (!in)
    return sim_fail(s, "id %llu reported chosen in slot %llu, which holds other values",
                    (unsigned long long)id, (unsigned long long)slot);
  if (!s->acked[id]) s->t.acked++;
  s->acked[id] = true;
}

/* After every step: a node's chosen prefix (status.chosen: "every slot <=
** chosen is chosen and known here") is really chosen, never runs ahead of
** what it holds, and a leader holding the lease has applied every slot any
** node applied. */
void chk_step(sim *s) {
  for (int i = 0; i < s->n && !s->failed; i++) {
    node *nd = &s->nodes[i];
    if (!nd->up) continue;
    paxos_status st;
    paxos_get_status(nd->px, &st);
    if (st.applied > st.chosen || st.snap_slot > st.chosen || nd->applied != st.applied)
      return sim_fail(s, "n%u: chosen %llu, applied %llu (model %llu), snapshot %llu", nd->id,
                      (unsigned long long)st.chosen, (unsigned long long)st.applied,
                      (unsigned long long)nd->applied, (unsigned long long)st.snap_slot);
    for (uint64_t k = nd->chosen_ok + 1; k <= st.chosen; k++)
      if (k > MAXSLOTS || !s->chosen_set[k])
        return sim_fail(s, "n%u says slots <= %llu are chosen, slot %llu is not", nd->id,
                        (unsigned long long)st.chosen, (unsigned long long)k);
    if (st.chosen > nd->chosen_ok) nd->chosen_ok = st.chosen;
    if (!paxos_lease_valid(nd->px, s->now)) continue;
    s->t.lease_reads++;
    for (int j = 0; j < s->n; j++) {
      node *o = &s->nodes[j];
      if (o->up && o->applied > nd->applied)
        return sim_fail(s, "n%u holds the lease at applied %llu but n%u applied %llu", nd->id,
                        (unsigned long long)nd->applied, o->id, (unsigned long long)o->applied);
    }
  }
}

/* Liveness: the probe value is chosen, every member of the core is up, a
** voter, has applied every slot anyone applied and knows every value a
** client was told is chosen. */
bool chk_converged(sim *s, uint64_t probe, char *why, size_t cap) {
  if (!probe || !s->chosen_ids[probe])
    return snprintf(why, cap, "probe value %llu not chosen", (unsigned long long)probe), false;
  for (int i = 0; i < s->n; i++) {
    node *nd = &s->nodes[i];
    if (!(s->core >> i & 1)) continue;
    if (!nd->up || nd->rejoining || !nd->seen_ids[probe] || nd->applied < s->max_applied)
      return snprintf(why, cap, "n%u: up %d, rejoining %d, has the probe %d, applied %llu of %llu",
                      nd->id, nd->up, nd->rejoining, nd->seen_ids[probe],
                      (unsigned long long)nd->applied, (unsigned long long)s->max_applied),
             false;
  }
  for (uint64_t id = 1; id < s->next_id && id < MAXIDS; id++) {
    if (!s->acked[id]) continue;
    for (int i = 0; i < s->n; i++)
      if ((s->core >> i & 1) && !s->nodes[i].seen_ids[id])
        return snprintf(why, cap, "n%u lacks value %llu, acknowledged as chosen", s->nodes[i].id,
                        (unsigned long long)id),
               false;
  }
  return true;
}

void chk_free(sim *s) {
  for (size_t k = 0; k <= MAXSLOTS; k++) free(s->votes[k].v);
}
