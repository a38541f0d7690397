/*
** Scripted tests of the Multi-Paxos core (coordinator/paxos/paxos.c) and
** its wire codec: each pins down one rule (durability gates, ballots,
** recovery with re-proposal and no-op fill, batching, lease, learners,
** bad input). The seeded fault simulator is test_paxos_sim.c.
*/
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/paxos/paxos.h"

/* ---- harness: one core, everything it does recorded ----------------------- */

#define MAXEV 256

typedef struct sent {
  uint8_t *bytes;
  size_t len;
  paxos_msg m; /* decoded view into owned */
  void *owned;
} sent;

typedef struct h {
  paxos *p;
  sent out[MAXEV];
  int nout;
  uint64_t seqs[MAXEV];
  paxos_rec_type rtypes[MAXEV][8];
  int nseq;
  uint64_t applied[MAXEV];
  uint32_t applied_n[MAXEV];
  int napplied;
  uint64_t done_id[MAXEV];
  int done_st[MAXEV];
  int ndone;
} h;

static void t_send(void *ud, const paxos_msg *m) {
  h *x = ud;
  cr_assert_lt(x->nout, MAXEV);
  sent *s = &x->out[x->nout++];
  cr_assert_eq(paxos_msg_encode(m, &s->bytes, &s->len, NULL), 0);
  cr_assert_eq(paxos_msg_decode(s->bytes, s->len, &s->m, &s->owned, NULL), 0);
}
static void t_persist(void *ud, uint64_t seq, const paxos_rec *r, size_t n) {
  h *x = ud;
  cr_assert_lt(x->nseq, MAXEV);
  for (size_t i = 0; i < n && i < 8; i++) x->rtypes[x->nseq][i] = r[i].type;
  x->seqs[x->nseq++] = seq;
}
static void t_apply(void *ud, uint64_t slot, const paxos_value *v, uint32_t n) {
  h *x = ud;
  x->applied_n[x->napplied] = n;
  x->applied[x->napplied++] = slot;
  (void)v;
}
static int t_install(void *ud, uint64_t s, const uint8_t *d, size_t l) { return 0; }
static void t_done(void *ud, uint64_t id, int st, uint64_t slot) {
  h *x = ud;
  x->done_id[x->ndone] = id;
  x->done_st[x->ndone++] = st;
}

static void clear_out(h *x) {
  for (int i = 0; i < x->nout; i++) {
    free(x->out[i].bytes);
    free(x->out[i].owned);
  }
  x->nout = 0;
}

static void cfg3(paxos_config *c, uint32_t self, uint32_t n) {
  paxos_config_default(c);
  c->self = self;
  c->nnodes = n;
  for (uint32_t i = 0; i < n; i++) c->nodes[i] = i + 1;
  c->seed = 42;
}

static h *mk(uint32_t self, uint32_t n) {
  h *x = calloc(1, sizeof *x);
  paxos_config c;
  cfg3(&c, self, n);
  paxos_io io = {.ud = x, .send = t_send, .persist = t_persist, .apply = t_apply,
                 .snapshot_install = t_install, .proposal_done = t_done};
  syn_err e;
  cr_assert_eq(paxos_new(&c, &io, &x->p, &e), 0, "%s", e.msg);
  return x;
}
static void start(h *x, uint64_t now) { cr_assert_eq(paxos_start(x->p, now, NULL), 0); }
static void rm(h *x) {
  clear_out(x);
  paxos_free(x->p);
  free(x);
}

/* Complete every persist handed out so far. */
static void durable(h *x, uint64_t now) {
  paxos_status st;
  for (int i = 0; i < x->nseq; i++) {
    paxos_get_status(x->p, &st);
    paxos_persisted(x->p, x->seqs[i], 0, now);
  }
  x->nseq = 0;
}

static sent *find(h *x, paxos_msg_type t, uint32_t to) {
  for (int i = 0; i < x->nout; i++)
    if (x->out[i].m.type == t && (!to || x->out[i].m.to == to)) return &x->out[i];
  return NULL;
}
static int count(h *x, paxos_msg_type t) {
  int c = 0;
  for (int i = 0; i < x->nout; i++) c += x->out[i].m.type == t;
  return c;
}

static int recv(h *x, paxos_msg m, uint64_t now) {
  m.to = 1;
  return paxos_receive(x->p, &m, now);
}

/* Drive node 1 of 3 to leadership with promises from 2 (nothing held). */
static void elect(h *x, uint64_t *now) {
  start(x, *now);
  *now += 700;
  paxos_tick(x->p, *now);
  paxos_status st;
  paxos_get_status(x->p, &st);
  cr_assert_eq(st.role, PAXOS_CANDIDATE);
  durable(x, *now);
  sent *pr = find(x, PAXOS_M_PREPARE, 2);
  cr_assert_not_null(pr);
  paxos_ballot b = pr->m.ballot;
  clear_out(x);
  recv(x, (paxos_msg){.type = PAXOS_M_PROMISE, .from = 2, .ok = true, .ballot = b, .slot = 1},
       *now);
  paxos_get_status(x->p, &st);
  cr_assert_eq(st.role, PAXOS_LEADER);
}

/* ---- codec ------------------------------------------------------------------ */

Test(paxos_codec, round_trip) {
  paxos_entry e[2] = {{.slot = 5, .ballot = PAXOS_BALLOT(3, 2), .chosen = true,
                       .data = (const uint8_t *)"abc", .len = 3},
                      {.slot = 6, .ballot = 9, .data = NULL, .len = 0}};
  paxos_msg m = {.type = PAXOS_M_PROMISE, .from = 2, .to = 1, .ballot = 77, .promised = 78,
                 .ok = true, .slot = 4, .commit = 3, .snap_slot = 2, .ts = 123456,
                 .nentries = 2, .entries = e};
  uint8_t *b;
  size_t n;
  cr_assert_eq(paxos_msg_encode(&m, &b, &n, NULL), 0);
  paxos_msg d;
  void *own;
  cr_assert_eq(paxos_msg_decode(b, n, &d, &own, NULL), 0);
  cr_assert_eq(d.type, m.type);
  cr_assert_eq(d.from, 2);
  cr_assert_eq(d.to, 1);
  cr_assert_eq(d.ballot, 77);
  cr_assert_eq(d.promised, 78);
  cr_assert(d.ok);
  cr_assert_eq(d.slot, 4);
  cr_assert_eq(d.commit, 3);
  cr_assert_eq(d.snap_slot, 2);
  cr_assert_eq(d.ts, 123456);
  cr_assert_eq(d.nentries, 2);
  cr_assert_eq(d.entries[0].slot, 5);
  cr_assert_eq(d.entries[0].ballot, PAXOS_BALLOT(3, 2));
  cr_assert(d.entries[0].chosen);
  cr_assert_eq(memcmp(d.entries[0].data, "abc", 3), 0);
  cr_assert_eq(d.entries[1].len, 0);
  cr_assert(!d.entries[1].chosen);
  free(own);
  /* Every truncation and one extra byte fail cleanly. */
  for (size_t cut = 0; cut < n; cut++) {
    cr_assert_eq(paxos_msg_decode(b, cut, &d, &own, NULL), SYN_EINVAL, "cut %zu", cut);
    cr_assert_null(own);
  }
  uint8_t *longer = malloc(n + 1);
  memcpy(longer, b, n);
  longer[n] = 0;
  cr_assert_eq(paxos_msg_decode(longer, n + 1, &d, &own, NULL), SYN_EINVAL);
  free(longer);
  free(b);
}

Test(paxos_codec, random_garbage_fails_cleanly) {
  uint64_t s = 12345;
  uint8_t buf[512];
  int ok = 0;
  for (int i = 0; i < 200000; i++) {
    size_t n = (size_t)((s = s * 6364136223846793005ULL + 1442695040888963407ULL) >> 33) % sizeof buf;
    for (size_t k = 0; k < n; k++) {
      s = s * 6364136223846793005ULL + 1442695040888963407ULL;
      buf[k] = (uint8_t)(s >> 56);
    }
    /* Half the time give it a valid header prefix, to reach the entries. */
    if (i & 1 && n >= 4) {
      buf[0] = 'X';
      buf[1] = 1;
      buf[2] = (uint8_t)(1 + i % PAXOS_M__LAST);
      buf[3] = 0;
    }
    paxos_msg m;
    void *own;
    int rc = paxos_msg_decode(buf, n, &m, &own, NULL);
    if (rc == 0) {
      ok++;
      /* What decodes is self-consistent: re-encoding gives the same bytes. */
      uint8_t *b2;
      size_t n2;
      cr_assert_eq(paxos_msg_encode(&m, &b2, &n2, NULL), 0);
      cr_assert_eq(n2, n);
      cr_assert_eq(memcmp(b2, buf, n), 0);
      free(b2);
      free(own);
    } else {
      cr_assert_eq(rc, SYN_EINVAL);
      cr_assert_null(own);
    }
  }
  cr_assert_lt(ok, 200000 / 10);
  /* A count that promises more than the buffer holds. */
  paxos_msg m = {.type = PAXOS_M_CATCHUP};
  uint8_t *b;
  size_t n;
  cr_assert_eq(paxos_msg_encode(&m, &b, &n, NULL), 0);
  b[60] = 0xff;
  void *own;
  cr_assert_eq(paxos_msg_decode(b, n, &m, &own, NULL), SYN_EINVAL);
  free(b);
}

Test(paxos_codec, batch_format) {
  uint8_t b[4 + 12 + 2 + 12];
  memset(b, 0, sizeof b);
  b[0] = 2;
  b[4] = 7; /* id 7 */
  b[12] = 2; /* len 2 */
  b[16] = 'h';
  b[17] = 'i';
  b[18] = 8; /* id 8, len 0 */
  paxos_value v[2];
  uint32_t n;
  cr_assert_eq(paxos_batch_decode(b, sizeof b, v, 2, &n), 0);
  cr_assert_eq(n, 2);
  cr_assert_eq(v[0].id, 7);
  cr_assert_eq(v[0].len, 2);
  cr_assert_eq(v[1].id, 8);
  cr_assert_eq(paxos_batch_decode(b, sizeof b - 1, v, 2, &n), SYN_EINVAL);
  cr_assert_eq(paxos_batch_decode(b, sizeof b, v, 1, &n), SYN_ERANGE);
  cr_assert_eq(paxos_batch_decode(NULL, 0, v, 2, &n), 0);
  cr_assert_eq(n, 0, "an empty batch is the no-op");
}

/* ---- configuration ---------------------------------------------------------- */

Test(paxos, config_is_validated) {
  h x = {0};
  paxos_io io = {.ud = &x, .send = t_send, .persist = t_persist, .apply = t_apply,
                 .snapshot_install = t_install, .proposal_done = t_done};
  paxos_config c;
  paxos *p;
  syn_err e;
  cfg3(&c, 4, 3);
  cr_assert_eq(paxos_new(&c, &io, &p, &e), SYN_EINVAL, "self not a member");
  cfg3(&c, 1, 3);
  c.nodes[2] = 2;
  cr_assert_eq(paxos_new(&c, &io, &p, &e), SYN_EINVAL, "duplicate member");
  cfg3(&c, 1, 3);
  c.lease_ms = c.election_min_ms;
  cr_assert_eq(paxos_new(&c, &io, &p, &e), SYN_EINVAL, "lease must end before elections");
  cfg3(&c, 1, 3);
  c.drift_margin_ms = 0;
  cr_assert_eq(paxos_new(&c, &io, &p, &e), SYN_EINVAL, "a lease needs a drift margin");
  cfg3(&c, 1, 3);
  paxos_io bad = io;
  bad.persist = NULL;
  cr_assert_eq(paxos_new(&c, &bad, &p, &e), SYN_EINVAL);
  cr_assert_eq(paxos_new(&c, &io, &p, &e), 0);
  paxos_free(p);
}

/* ---- durability gates ------------------------------------------------------- */

Test(paxos, promise_waits_for_its_persist) {
  h *x = mk(1, 3);
  start(x, 0);
  clear_out(x);
  paxos_ballot b = PAXOS_BALLOT(5, 2);
  recv(x, (paxos_msg){.type = PAXOS_M_PREPARE, .from = 2, .ballot = b, .slot = 1}, 500);
  cr_assert_eq(count(x, PAXOS_M_PROMISE), 0, "no PROMISE before the fsync");
  cr_assert_eq(x->nseq, 1);
  cr_assert_eq(x->rtypes[0][0], PAXOS_REC_PROMISE);
  durable(x, 501);
  sent *s = find(x, PAXOS_M_PROMISE, 2);
  cr_assert_not_null(s);
  cr_assert(s->m.ok);
  cr_assert_eq(s->m.ballot, b);
  /* A lower ballot is refused, naming the promise. */
  clear_out(x);
  recv(x, (paxos_msg){.type = PAXOS_M_PREPARE, .from = 3, .ballot = PAXOS_BALLOT(4, 3)}, 502);
  s = find(x, PAXOS_M_PROMISE, 3);
  cr_assert_not_null(s);
  cr_assert(!s->m.ok);
  cr_assert_eq(s->m.promised, b);
  rm(x);
}

Test(paxos, accepted_waits_for_its_persist_and_reports_values_in_promises) {
  h *x = mk(1, 3);
  start(x, 0);
  paxos_ballot b = PAXOS_BALLOT(5, 2);
  paxos_entry e = {.slot = 1, .ballot = b, .data = (const uint8_t *)"v", .len = 1};
  recv(x, (paxos_msg){.type = PAXOS_M_ACCEPT, .from = 2, .ballot = b, .slot = 1, .nentries = 1,
                      .entries = &e}, 10);
  cr_assert_eq(count(x, PAXOS_M_ACCEPTED), 0, "no ACCEPTED before the fsync");
  durable(x, 11);
  sent *s = find(x, PAXOS_M_ACCEPTED, 2);
  cr_assert_not_null(s);
  cr_assert(s->m.ok);
  cr_assert_eq(s->m.slot, 1);
  /* The next candidate learns the accepted value from our promise. */
  clear_out(x);
  paxos_ballot b2 = PAXOS_BALLOT(6, 3);
  recv(x, (paxos_msg){.type = PAXOS_M_PREPARE, .from = 3, .ballot = b2, .slot = 1}, 1000);
  durable(x, 1001);
  s = find(x, PAXOS_M_PROMISE, 3);
  cr_assert_not_null(s);
  cr_assert_eq(s->m.nentries, 1);
  cr_assert_eq(s->m.entries[0].slot, 1);
  cr_assert_eq(s->m.entries[0].ballot, b);
  cr_assert_eq(s->m.entries[0].data[0], 'v');
  rm(x);
}

Test(paxos, prepare_leaves_only_after_the_self_promise_is_durable) {
  h *x = mk(1, 3);
  start(x, 0);
  paxos_tick(x->p, 700);
  cr_assert_eq(count(x, PAXOS_M_PREPARE), 0);
  cr_assert_eq(x->rtypes[0][0], PAXOS_REC_PROMISE);
  durable(x, 701);
  cr_assert_eq(count(x, PAXOS_M_PREPARE), 2);
  rm(x);
}

Test(paxos, persist_failure_stops_the_replica) {
  h *x = mk(1, 1);
  start(x, 0);
  paxos_tick(x->p, 700);
  durable(x, 701); /* single member: leader now */
  cr_assert_eq(paxos_propose(x->p, 9, (const uint8_t *)"a", 1, 702, NULL, NULL), 0);
  cr_assert_eq(x->nseq, 1);
  paxos_persisted(x->p, x->seqs[0], SYN_EIO, 703);
  cr_assert(paxos_failed(x->p));
  cr_assert_eq(x->ndone, 1);
  cr_assert_eq(x->done_st[0], SYN_EBUSY, "the pending proposal is reported lost");
  cr_assert_eq(paxos_propose(x->p, 10, (const uint8_t *)"a", 1, 704, NULL, NULL), SYN_ECLOSED);
  rm(x);
}

/* ---- leader --------------------------------------------------------------- */

Test(paxos, single_member_chooses_and_applies) {
  h *x = mk(1, 1);
  start(x, 0);
  paxos_tick(x->p, 700);
  durable(x, 701);
  cr_assert_eq(paxos_propose(x->p, 5, (const uint8_t *)"hello", 5, 702, NULL, NULL), 0);
  durable(x, 703);
  cr_assert_eq(x->napplied, 1);
  cr_assert_eq(x->applied[0], 1);
  cr_assert_eq(x->applied_n[0], 1);
  cr_assert_eq(x->ndone, 1);
  cr_assert_eq(x->done_id[0], 5);
  cr_assert_eq(x->done_st[0], 0);
  cr_assert(paxos_lease_valid(x->p, 704));
  rm(x);
}

Test(paxos, follower_redirects_proposals) {
  h *x = mk(1, 3);
  start(x, 0);
  recv(x, (paxos_msg){.type = PAXOS_M_HEARTBEAT, .from = 3, .ballot = PAXOS_BALLOT(2, 3)}, 10);
  uint32_t leader = 0;
  syn_err e;
  cr_assert_eq(paxos_propose(x->p, 1, (const uint8_t *)"x", 1, 11, &leader, &e), SYN_EBUSY);
  cr_assert_eq(leader, 3);
  cr_assert_str_eq(e.msg, "not leader, leader is 3");
  rm(x);
}

Test(paxos, recovery_reproposes_the_highest_ballot_and_fills_gaps) {
  h *x = mk(1, 3);
  uint64_t now = 0;
  start(x, now);
  now += 700;
  paxos_tick(x->p, now);
  durable(x, now);
  paxos_ballot b = find(x, PAXOS_M_PREPARE, 2)->m.ballot;
  clear_out(x);
  /* Node 2 accepted "old" (ballot 1.3) in slot 1 and "new" in slot 3 (ballot 2.3);
  ** slot 2 is a gap. */
  paxos_entry e[2] = {{.slot = 1, .ballot = PAXOS_BALLOT(0, 3) + 5, .data = (const uint8_t *)"old", .len = 3},
                      {.slot = 3, .ballot = PAXOS_BALLOT(0, 3) + 9, .data = (const uint8_t *)"new", .len = 3}};
  recv(x, (paxos_msg){.type = PAXOS_M_PROMISE, .from = 2, .ok = true, .ballot = b, .slot = 1,
                      .nentries = 2, .entries = e}, now);
  paxos_status st;
  paxos_get_status(x->p, &st);
  cr_assert_eq(st.role, PAXOS_LEADER);
  sent *a1 = NULL, *a2 = NULL, *a3 = NULL;
  for (int i = 0; i < x->nout; i++) {
    sent *s = &x->out[i];
    if (s->m.type != PAXOS_M_ACCEPT || s->m.to != 2) continue;
    if (s->m.slot == 1) a1 = s;
    if (s->m.slot == 2) a2 = s;
    if (s->m.slot == 3) a3 = s;
  }
  cr_assert(a1 && a2 && a3);
  cr_assert_eq(a1->m.ballot, b);
  cr_assert_eq(memcmp(a1->m.entries[0].data, "old", 3), 0);
  cr_assert_eq(a2->m.entries[0].len, 0, "gap filled with a no-op");
  cr_assert_eq(memcmp(a3->m.entries[0].data, "new", 3), 0);
  /* Our own votes count once durable; one more makes a majority. */
  durable(x, now);
  for (uint64_t s = 1; s <= 3; s++)
    recv(x, (paxos_msg){.type = PAXOS_M_ACCEPTED, .from = 2, .ok = true, .ballot = b, .slot = s},
         now);
  cr_assert_eq(x->napplied, 3);
  cr_assert_eq(x->applied_n[1], 0, "slot 2 applied as a no-op");
  rm(x);
}

Test(paxos, values_batch_when_the_window_is_full) {
  h *x = mk(1, 3);
  uint64_t now = 0;
  elect(x, &now);
  durable(x, now);
  clear_out(x);
  paxos_status st;
  paxos_get_status(x->p, &st);
  paxos_config c;
  cfg3(&c, 1, 3);
  /* Fill the window (8 slots), then 5 more values wait and share a slot. */
  for (uint64_t id = 1; id <= c.max_inflight + 5; id++)
    cr_assert_eq(paxos_propose(x->p, id, (const uint8_t *)"val", 3, now, NULL, NULL), 0);
  cr_assert_eq(count(x, PAXOS_M_ACCEPT), 2 * (int)c.max_inflight);
  durable(x, now);
  paxos_ballot b = st.ballot;
  clear_out(x);
  recv(x, (paxos_msg){.type = PAXOS_M_ACCEPTED, .from = 3, .ok = true, .ballot = b, .slot = 1},
       now);
  cr_assert_eq(x->ndone, 1);
  sent *a = find(x, PAXOS_M_ACCEPT, 2);
  cr_assert_not_null(a, "the freed window slot carries the queued values");
  paxos_value v[8];
  uint32_t n;
  cr_assert_eq(paxos_batch_decode(a->m.entries[0].data, a->m.entries[0].len, v, 8, &n), 0);
  cr_assert_eq(n, 5);
  rm(x);
}

Test(paxos, higher_ballot_makes_the_leader_report_pending_proposals_lost) {
  h *x = mk(1, 3);
  uint64_t now = 0;
  elect(x, &now);
  cr_assert_eq(paxos_propose(x->p, 77, (const uint8_t *)"v", 1, now, NULL, NULL), 0);
  recv(x, (paxos_msg){.type = PAXOS_M_HEARTBEAT, .from = 2, .ballot = PAXOS_BALLOT(99, 2)}, now + 1);
  paxos_status st;
  paxos_get_status(x->p, &st);
  cr_assert_eq(st.role, PAXOS_FOLLOWER);
  cr_assert_eq(st.leader, 2);
  cr_assert_eq(x->ndone, 1);
  cr_assert_eq(x->done_id[0], 77);
  cr_assert_eq(x->done_st[0], SYN_EBUSY);
  rm(x);
}

/* ---- lease ------------------------------------------------------------------ */

Test(paxos, lease_from_a_majority_of_heartbeat_acks) {
  h *x = mk(1, 3);
  uint64_t now = 0;
  elect(x, &now);
  durable(x, now);
  paxos_status st;
  paxos_get_status(x->p, &st);
  cr_assert(!paxos_lease_valid(x->p, now), "no ack yet");
  sent *hb = find(x, PAXOS_M_HEARTBEAT, 2);
  cr_assert_not_null(hb);
  uint64_t t0 = hb->m.ts;
  recv(x, (paxos_msg){.type = PAXOS_M_HEARTBEAT_ACK, .from = 2, .ok = true, .ballot = st.ballot,
                      .ts = t0}, now + 5);
  cr_assert(paxos_lease_valid(x->p, now + 5));
  /* lease 200 ms minus 20 ms drift margin, counted from the send time. */
  cr_assert(paxos_lease_valid(x->p, t0 + 179));
  cr_assert(!paxos_lease_valid(x->p, t0 + 180));
  /* An ack from another ballot does not count. */
  h *y = mk(1, 3);
  uint64_t n2 = 0;
  elect(y, &n2);
  durable(y, n2);
  paxos_get_status(y->p, &st);
  recv(y, (paxos_msg){.type = PAXOS_M_HEARTBEAT_ACK, .from = 2, .ok = true,
                      .ballot = st.ballot - 1, .ts = n2}, n2);
  cr_assert(!paxos_lease_valid(y->p, n2 + 1));
  rm(y);
  rm(x);
}

Test(paxos, follower_refuses_other_candidates_within_the_lease) {
  h *x = mk(1, 3);
  start(x, 0);
  recv(x, (paxos_msg){.type = PAXOS_M_HEARTBEAT, .from = 2, .ballot = PAXOS_BALLOT(3, 2), .ts = 1000},
       1000);
  durable(x, 1000);
  clear_out(x);
  recv(x, (paxos_msg){.type = PAXOS_M_PREPARE, .from = 3, .ballot = PAXOS_BALLOT(4, 3)}, 1100);
  durable(x, 1100);
  cr_assert_eq(count(x, PAXOS_M_PROMISE), 0, "inside the lease: no vote for node 3");
  /* The leader itself may raise its ballot (a rejoin asks it to). */
  recv(x, (paxos_msg){.type = PAXOS_M_PREPARE, .from = 2, .ballot = PAXOS_BALLOT(5, 2)}, 1110);
  durable(x, 1110);
  cr_assert_not_null(find(x, PAXOS_M_PROMISE, 2));
  /* After the lease, other candidates get their answer. */
  clear_out(x);
  recv(x, (paxos_msg){.type = PAXOS_M_PREPARE, .from = 3, .ballot = PAXOS_BALLOT(6, 3)}, 1400);
  durable(x, 1400);
  cr_assert_not_null(find(x, PAXOS_M_PROMISE, 3));
  rm(x);
}

Test(paxos, a_restarted_follower_waits_a_lease_before_voting) {
  h *x = mk(1, 3);
  start(x, 5000);
  recv(x, (paxos_msg){.type = PAXOS_M_PREPARE, .from = 3, .ballot = PAXOS_BALLOT(4, 3)}, 5100);
  durable(x, 5100);
  cr_assert_eq(count(x, PAXOS_M_PROMISE), 0);
  recv(x, (paxos_msg){.type = PAXOS_M_PREPARE, .from = 3, .ballot = PAXOS_BALLOT(4, 3)}, 5200);
  durable(x, 5200);
  cr_assert_eq(count(x, PAXOS_M_PROMISE), 1);
  rm(x);
}

/* ---- wiped member ------------------------------------------------------------- */

Test(paxos, wiped_member_learns_but_never_votes_until_rejoined) {
  h *x = mk(1, 3);
  paxos_rec rj = {.type = PAXOS_REC_REJOIN};
  cr_assert_eq(paxos_restore(x->p, &rj, NULL), 0);
  start(x, 0);
  paxos_status st;
  paxos_get_status(x->p, &st);
  cr_assert_eq(st.role, PAXOS_LEARNER);
  paxos_entry e = {.slot = 1, .ballot = 9, .data = (const uint8_t *)"v", .len = 1};
  recv(x, (paxos_msg){.type = PAXOS_M_PREPARE, .from = 2, .ballot = PAXOS_BALLOT(7, 2)}, 1000);
  recv(x, (paxos_msg){.type = PAXOS_M_ACCEPT, .from = 2, .ballot = PAXOS_BALLOT(7, 2), .slot = 1,
                      .nentries = 1, .entries = &e}, 1000);
  durable(x, 1000);
  cr_assert_eq(count(x, PAXOS_M_PROMISE) + count(x, PAXOS_M_ACCEPTED), 0);
  paxos_tick(x->p, 5000);
  paxos_get_status(x->p, &st);
  cr_assert_eq(st.role, PAXOS_LEARNER, "a learner never starts elections");
  cr_assert_eq(count(x, PAXOS_M_REJOIN_QUERY), 2, "asks every other member for its promise");
  /* Answers: the highest promise anywhere is 7.2. */
  recv(x, (paxos_msg){.type = PAXOS_M_REJOIN_INFO, .from = 2, .promised = PAXOS_BALLOT(7, 2)}, 5001);
  /* A heartbeat from a leader at a ballot not above it is not enough. */
  recv(x, (paxos_msg){.type = PAXOS_M_HEARTBEAT, .from = 2, .ok = true, .ballot = PAXOS_BALLOT(7, 2)}, 5002);
  recv(x, (paxos_msg){.type = PAXOS_M_REJOIN_INFO, .from = 3, .promised = PAXOS_BALLOT(6, 3)}, 5003);
  recv(x, (paxos_msg){.type = PAXOS_M_HEARTBEAT, .from = 2, .ok = true, .ballot = PAXOS_BALLOT(7, 2)}, 5004);
  durable(x, 5004);
  paxos_get_status(x->p, &st);
  cr_assert_eq(st.role, PAXOS_LEARNER);
  clear_out(x);
  paxos_tick(x->p, 6000);
  sent *rq = find(x, PAXOS_M_REJOIN_REQ, 2);
  cr_assert_not_null(rq, "asks the leader for a ballot above every promise");
  cr_assert_eq(rq->m.promised, PAXOS_BALLOT(7, 2));
  /* Above it, but the leader has not finished recovery: still not enough. */
  recv(x, (paxos_msg){.type = PAXOS_M_HEARTBEAT, .from = 2, .ok = false, .ballot = PAXOS_BALLOT(8, 2)}, 6001);
  durable(x, 6001);
  paxos_get_status(x->p, &st);
  cr_assert_eq(st.role, PAXOS_LEARNER);
  recv(x, (paxos_msg){.type = PAXOS_M_HEARTBEAT, .from = 2, .ok = true, .ballot = PAXOS_BALLOT(8, 2)}, 6002);
  paxos_get_status(x->p, &st);
  cr_assert_eq(st.role, PAXOS_LEARNER, "the VOTER record is not durable yet");
  durable(x, 6003);
  paxos_get_status(x->p, &st);
  cr_assert_eq(st.role, PAXOS_FOLLOWER);
  cr_assert_eq(st.promised, PAXOS_BALLOT(8, 2));
  rm(x);
}

Test(paxos, leader_raises_its_ballot_for_a_rejoining_member) {
  h *x = mk(1, 3);
  uint64_t now = 0;
  elect(x, &now);
  paxos_status st;
  paxos_get_status(x->p, &st);
  paxos_ballot b = st.ballot;
  recv(x, (paxos_msg){.type = PAXOS_M_REJOIN_REQ, .from = 3, .promised = b}, now + 1);
  paxos_get_status(x->p, &st);
  cr_assert_eq(st.role, PAXOS_CANDIDATE);
  cr_assert_gt(st.ballot, b);
  rm(x);
}

/* ---- bad input ---------------------------------------------------------------- */

Test(paxos, bad_messages_change_nothing) {
  h *x = mk(1, 3);
  start(x, 0);
  cr_assert_eq(recv(x, (paxos_msg){.type = PAXOS_M_PREPARE, .from = 9, .ballot = 5}, 1), SYN_EINVAL);
  cr_assert_eq(recv(x, (paxos_msg){.type = PAXOS_M_PREPARE, .from = 1, .ballot = 5}, 1), SYN_EINVAL);
  cr_assert_eq(recv(x, (paxos_msg){.type = 0, .from = 2}, 1), SYN_EINVAL);
  paxos_msg m = {.type = PAXOS_M_PREPARE, .from = 2, .to = 3, .ballot = 5};
  cr_assert_eq(paxos_receive(x->p, &m, 1), SYN_EINVAL);
  /* An ACCEPT absurdly far ahead is ignored, not allocated. */
  paxos_entry e = {.slot = 1ULL << 40, .data = (const uint8_t *)"v", .len = 1};
  cr_assert_eq(recv(x, (paxos_msg){.type = PAXOS_M_ACCEPT, .from = 2, .ballot = PAXOS_BALLOT(3, 2),
                                   .slot = 1ULL << 40, .nentries = 1, .entries = &e}, 1), 0);
  durable(x, 2);
  cr_assert_eq(count(x, PAXOS_M_ACCEPTED), 0);
  /* A heartbeat claiming a huge commit index: we just ask to catch up. */
  recv(x, (paxos_msg){.type = PAXOS_M_HEARTBEAT, .from = 2, .ballot = PAXOS_BALLOT(3, 2),
                      .commit = UINT64_MAX}, 3);
  cr_assert_not_null(find(x, PAXOS_M_CATCHUP_REQ, 2));
  paxos_status st;
  paxos_get_status(x->p, &st);
  cr_assert_eq(st.chosen, 0);
  cr_assert(!paxos_failed(x->p));
  rm(x);
}
