/*
** coord_rdl: the replicated decision log (see coord_rdl.h).
**
** Ids. A command's paxos id is a 64-bit hash of its bytes, so the same
** command proposed twice (a retry, a leader's re-proposal, the same ABORT
** from two resolvers) is one id and applies once, while different commands
** for one txn (COMMIT and ABORT) are different ids and meet the table's
** first-decision-wins rule. A hash collision between two different
** commands would make the second a no-op: its proposer would then retry
** until it gives up at close; at 2^-64 per pair this is accepted.
**
** Durability. The decision is durable when a majority of coordinators holds
** its slot (the paxos core acknowledges an ACCEPT only after the fsync in
** coord_paxos.c's io_persist); the callback runs only after the slot was
** chosen and applied here, so a client hears COMMIT only for a decision no
** minority of crashes can lose.
**
** SYN_M_PAXOS_PROPOSE payload: u64 id (little endian) | command bytes. The
** leader answers empty when the core queued it, or SYN_EBUSY naming the
** leader; the follower does not wait for the answer (its retry timer
** covers every way a forward can get lost).
*/
#include "coordinator/coord_rdl.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rpc_methods.h"
#include "coordinator/coord_rsm.h"
#include "txn/hash.h"
#include "txn/u64map.h"

#define RDL_TIMER_MS 100
#define RDL_FWD_TIMEOUT_MS 1000
#define RDL_BARRIER_TICK_MS 10
/* DONEs are gathered this long into one log value: they are not on any
** client's path (a lost or late DONE only means a re-drive), and one value
** per DONE would give every 2PC commit two slots where it needs one. */
#define RDL_DONE_FLUSH_MS 100
#define RDL_READ_INDEX_TIMEOUT_MS 1000

/* A catalog command waiting to be applied here. */
typedef struct rdl_catw {
  struct rdl_catw *next;
  uint64_t id;
  uint8_t *cmd;
  size_t len;
  coord_rdl_cat_cb cb;
  void *ud;
  uint64_t retry_ms;
  bool ready;
  int status;
  coord_rcat_result res;
} rdl_catw;

/* A read barrier waiting for the leader's chosen index, then for apply. */
typedef struct rdl_bar {
  struct rdl_bar *next;
  void (*cb)(int status, void *ud);
  void *ud;
  uint64_t deadline_ms, target;
  int status;
} rdl_bar;

typedef struct rdl_waiter {
  struct rdl_waiter *next; /* same txn */
  uint64_t t0_us;          /* when proposed (latency stats) */
  uint64_t txn, id;
  uint8_t *cmd;
  size_t len;
  dlog_cb cb;
  void *ud;
  uint64_t retry_ms;
} rdl_waiter;

struct coord_rdl {
  uv_loop_t *loop;
  coord_rsm *rsm;
  coord_px *px;
  coord_px_sm sm;
  u64map waiters;   /* txn -> rdl_waiter chain */
  u64map age;       /* txn -> first seen undone here (ms + 1), for re-drive */
  void (*redrive)(const dlog_record *rec, void *ud);
  void *redrive_ud;
  bool leader, redrive_all, deliver_pending;
  uint64_t next_redrive_ms;
  uv_timer_t timer, kick;
  bool open, closed;
  /* catalog commands */
  rdl_catw *catw;
  uint64_t id_salt, id_counter;
  void (*cat_hook)(void *ud, const coord_rcat *cat, const coord_rcat_result *res);
  void *cat_hook_ud;
  /* read barriers: pending (next RPC), inflight (the RPC out now), wait
  ** (index known, applying up to it), ready (to call back) */
  rdl_bar *bar_pending, *bar_inflight, *bar_wait, *bar_ready;
  bool bar_rpc, bar_timer_on;
  uint64_t applied_slot;
  uv_timer_t bar_timer;
  /* decision latency: the last RDL_LAT_SAMPLES propose -> decided times */
  uint32_t lat_us[4096];
  uint64_t lat_n, decided;
  /* DONEs waiting to go as one DONE_MANY value (RDL_DONE_FLUSH_MS) */
  uint64_t *done_q;
  uint32_t done_n, done_cap;
  uv_timer_t done_timer;
  bool done_timer_on;
};
#define RDL_LAT_SAMPLES 4096

static uint64_t now_ms(coord_rdl *d) { return uv_now(d->loop); }

static void kick_cb(uv_timer_t *h);

/* Run deliveries and re-drives on the next loop turn, outside the core. */
static void kick(coord_rdl *d) {
  if (d->closed || !d->open) return;
  uv_timer_start(&d->kick, kick_cb, 0, 0);
}

/* ---- sending ---------------------------------------------------------------- */

static void on_forwarded(int status, const uint8_t *payload, size_t len, const syn_err *err,
                         void *ud) {
  (void)payload;
  (void)len;
  (void)ud;
  if (status < 0) SYN_LOG_DEBUG(NULL, "decision forward: %s", err ? err->msg : "failed");
}

/* Propose cmd here if this node leads, else forward it to the leader.
** false: nobody to hand it to yet (no leader known): retry soon. Any other
** failure leaves the retry timer to try again. */
static bool submit(coord_rdl *d, uint64_t id, const uint8_t *cmd, size_t len) {
  if (!d->px || d->closed) return true;
  uint32_t leader = 0;
  syn_err e;
  int rc = coord_px_propose(d->px, id, cmd, (uint32_t)len, &leader, &e);
  if (rc == 0) return true;
  if (rc != SYN_EBUSY || leader == 0 || leader == coord_px_self(d->px)) {
    SYN_LOG_DEBUG(NULL, "decision proposal waits: %s", e.msg);
    return false;
  }
  rpc_client *c = coord_px_peer_client(d->px, leader);
  if (!c) return false;
  uint8_t *buf = malloc(8 + len);
  if (!buf) return true;
  for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(id >> (8 * i));
  memcpy(buf + 8, cmd, len);
  if (rpc_client_call(c, SYN_M_PAXOS_PROPOSE, buf, 8 + len, RDL_FWD_TIMEOUT_MS, on_forwarded,
                      d, &e) < 0)
    SYN_LOG_DEBUG(NULL, "decision forward to node %u: %s", leader, e.msg);
  free(buf);
  return true;
}

static uint64_t cmd_id(const uint8_t *cmd, size_t len) {
  uint64_t h = syn_hash64(cmd, len);
  return h ? h : 1;
}

/* ---- deliveries ------------------------------------------------------------------ */

/* Hand every waiter whose txn has a decision its callback. Callbacks may
** propose again (new waiters), so collect first. */
static void deliver(coord_rdl *d) {
  d->deliver_pending = false;
  size_t n = 0, cap = 0;
  rdl_waiter **ready = NULL;
  for (size_t i = 0; i < d->waiters.cap; i++) {
    if (!d->waiters.used[i]) continue;
    uint64_t txn = d->waiters.keys[i];
    if (coord_rsm_lookup(d->rsm, txn, NULL, NULL) != 0) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      rdl_waiter **v = realloc(ready, cap * sizeof *v);
      if (!v) break;
      ready = v;
    }
    ready[n++] = d->waiters.vals[i];
  }
  for (size_t i = 0; i < n; i++) u64map_del(&d->waiters, ready[i]->txn);
  for (size_t i = 0; i < n; i++) {
    for (rdl_waiter *w = ready[i]; w;) {
      rdl_waiter *next = w->next;
      dlog_record rec;
      /* Looked up afresh per callback: an earlier callback may have
      ** proposed, and the table hands out borrowed records. */
      if (coord_rsm_lookup(d->rsm, w->txn, &rec, NULL) == 0) {
        uint64_t us = uv_hrtime() / 1000 - w->t0_us;
        d->lat_us[d->lat_n++ % RDL_LAT_SAMPLES] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
        d->decided++;
        w->cb(0, w->txn, &rec, w->ud);
      }
      free(w->cmd);
      free(w);
      w = next;
    }
  }
  free(ready);
}

typedef struct redrive_ctx {
  coord_rdl *d;
  uint64_t now;
  bool all;
} redrive_ctx;

static int redrive_one(const dlog_record *rec, void *ud) {
  redrive_ctx *c = ud;
  uintptr_t seen = (uintptr_t)u64map_get(&c->d->age, rec->txn);
  if (!seen) {
    u64map_put(&c->d->age, rec->txn, (void *)(uintptr_t)(c->now + 1));
    seen = (uintptr_t)(c->now + 1);
  }
  if (c->all || c->now + 1 >= seen + COORD_RDL_REDRIVE_AGE_MS) c->d->redrive(rec, c->d->redrive_ud);
  return 0;
}

/* The leader re-drives undone decisions (all of them right after taking
** over, later only those that stayed undone long: their coordinator may be
** gone). The hook skips transactions its core is driving already. */
static void redrive(coord_rdl *d, bool all) {
  if (!d->redrive || !d->leader) return;
  redrive_ctx c = {d, now_ms(d), all};
  coord_rsm_foreach_undone(d->rsm, redrive_one, &c);
}

/* Ready catalog waiters and barriers get their callbacks (taken off the
** lists first: a callback may submit again). */
static void deliver_cat(coord_rdl *d) {
  rdl_catw *ready = NULL, **pp = &d->catw;
  while (*pp) {
    rdl_catw *w = *pp;
    if (w->ready) {
      *pp = w->next;
      w->next = ready;
      ready = w;
    } else {
      pp = &w->next;
    }
  }
  while (ready) {
    rdl_catw *w = ready;
    ready = w->next;
    w->cb(w->status, w->status == 0 ? &w->res : NULL, w->ud);
    free(w->cmd);
    free(w);
  }
  rdl_bar *b = d->bar_ready;
  d->bar_ready = NULL;
  while (b) {
    rdl_bar *next = b->next;
    b->cb(b->status, b->ud);
    free(b);
    b = next;
  }
}

static void kick_cb(uv_timer_t *h) {
  coord_rdl *d = h->data;
  deliver_cat(d);
  if (d->deliver_pending) deliver(d);
  if (d->redrive_all) {
    d->redrive_all = false;
    redrive(d, true);
  }
}

static void timer_cb(uv_timer_t *h) {
  coord_rdl *d = h->data;
  uint64_t now = now_ms(d);
  for (size_t i = 0; i < d->waiters.cap; i++) {
    if (!d->waiters.used[i]) continue;
    for (rdl_waiter *w = d->waiters.vals[i]; w; w = w->next) {
      if (now < w->retry_ms) continue;
      w->retry_ms = now + (submit(d, w->id, w->cmd, w->len) ? COORD_RDL_RETRY_MS : RDL_TIMER_MS);
    }
  }
  for (rdl_catw *w = d->catw; w; w = w->next) {
    if (w->ready || now < w->retry_ms) continue;
    w->retry_ms = now + (submit(d, w->id, w->cmd, w->len) ? COORD_RDL_RETRY_MS : RDL_TIMER_MS);
  }
  if (d->leader && now >= d->next_redrive_ms) {
    d->next_redrive_ms = now + 1000;
    redrive(d, false);
  }
}

/* ---- read barriers ------------------------------------------------------------- */

static void bar_move_ready(coord_rdl *d, rdl_bar **list, bool (*pred)(coord_rdl *, rdl_bar *)) {
  rdl_bar **pp = list;
  bool any = false;
  while (*pp) {
    rdl_bar *b = *pp;
    if (pred(d, b)) {
      *pp = b->next;
      b->next = d->bar_ready;
      d->bar_ready = b;
      any = true;
    } else {
      pp = &b->next;
    }
  }
  if (any) kick(d);
}

static bool bar_applied(coord_rdl *d, rdl_bar *b) {
  if (d->applied_slot < b->target) return false;
  b->status = 0;
  return true;
}

static bool bar_expired(coord_rdl *d, rdl_bar *b) {
  if (now_ms(d) < b->deadline_ms) return false;
  b->status = SYN_ETIMEDOUT;
  return true;
}

static bool bar_all(coord_rdl *d, rdl_bar *b) {
  (void)d;
  b->status = 0;
  return true;
}

static void bar_arm(coord_rdl *d);

static void on_read_index(int status, const uint8_t *payload, size_t len, const syn_err *err,
                          void *ud) {
  coord_rdl *d = ud;
  d->bar_rpc = false;
  rdl_bar *batch = d->bar_inflight;
  d->bar_inflight = NULL;
  if (status == 0 && len == 8) {
    uint64_t idx = 0;
    for (int i = 0; i < 8; i++) idx |= (uint64_t)payload[i] << (8 * i);
    while (batch) {
      rdl_bar *b = batch;
      batch = b->next;
      b->target = idx;
      b->next = d->bar_wait;
      d->bar_wait = b;
    }
    bar_move_ready(d, &d->bar_wait, bar_applied);
  } else {
    SYN_LOG_DEBUG(NULL, "read index: %s", err ? err->msg : "bad answer");
    /* Asked the wrong node, or it went away: ask again on the next tick. */
    while (batch) {
      rdl_bar *b = batch;
      batch = b->next;
      b->next = d->bar_pending;
      d->bar_pending = b;
    }
  }
  if (!d->closed) bar_arm(d);
}

/* Serve what can be served now and send the next read-index RPC. */
static void bar_step(coord_rdl *d) {
  if (d->closed) return;
  bar_move_ready(d, &d->bar_pending, bar_expired);
  bar_move_ready(d, &d->bar_wait, bar_expired);
  if (!d->bar_pending || d->bar_rpc) return;
  if (coord_px_is_leader(d->px)) {
    bar_move_ready(d, &d->bar_pending, bar_all);
    return;
  }
  uint32_t leader = coord_px_leader(d->px);
  if (leader == 0 || leader == coord_px_self(d->px)) return; /* elected, no lease yet */
  rpc_client *c = coord_px_peer_client(d->px, leader);
  if (!c) return;
  syn_err e;
  if (rpc_client_call(c, SYN_M_PAXOS_READ_INDEX, NULL, 0, RDL_READ_INDEX_TIMEOUT_MS,
                      on_read_index, d, &e) < 0) {
    SYN_LOG_DEBUG(NULL, "read index to node %u: %s", leader, e.msg);
    return;
  }
  d->bar_inflight = d->bar_pending;
  d->bar_pending = NULL;
  d->bar_rpc = true;
}

static void bar_timer_cb(uv_timer_t *h) {
  coord_rdl *d = h->data;
  bar_step(d);
  if (!d->bar_pending && !d->bar_wait && !d->bar_inflight) {
    uv_timer_stop(&d->bar_timer);
    d->bar_timer_on = false;
  }
}

static void bar_arm(coord_rdl *d) {
  if (d->closed || d->bar_timer_on) return;
  d->bar_timer_on = true;
  uv_timer_start(&d->bar_timer, bar_timer_cb, RDL_BARRIER_TICK_MS, RDL_BARRIER_TICK_MS);
}

int coord_rdl_barrier(coord_rdl *d, uint32_t timeout_ms, void (*cb)(int status, void *ud),
                      void *ud, syn_err *err) {
  if (d->closed) return syn_err_set(err, SYN_ECLOSED, "decision log closed");
  if (!d->px || coord_px_is_leader(d->px)) {
    cb(0, ud);
    return 0;
  }
  rdl_bar *b = calloc(1, sizeof *b);
  if (!b) return syn_err_set(err, SYN_ENOMEM, "read barrier");
  b->cb = cb;
  b->ud = ud;
  b->deadline_ms = now_ms(d) + timeout_ms;
  b->next = d->bar_pending;
  d->bar_pending = b;
  bar_step(d);
  bar_arm(d);
  return 0;
}

static void on_read_index_req(rpc_call *call, const uint8_t *payload, size_t len, void *ud) {
  (void)payload;
  (void)len;
  coord_rdl *d = ud;
  /* Only a leader holding its lease knows that no other node can have
  ** chosen anything beyond its chosen index (docs/consensus.md). */
  if (d->closed || !d->px || !coord_px_is_leader(d->px)) {
    rpc_reply_error(call, SYN_EBUSY, "not the leader");
    return;
  }
  paxos_status st;
  coord_px_get_status(d->px, &st);
  uint8_t b[8];
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)(st.chosen >> (8 * i));
  rpc_reply(call, b, 8);
}

/* ---- state machine hooks (called from inside the paxos core: no proposing) ---- */

static void sm_apply(void *ud, uint64_t slot, const paxos_value *vals, uint32_t n) {
  coord_rdl *d = ud;
  for (uint32_t i = 0; i < n; i++) {
    coord_rsm_effect eff;
    syn_err e;
    int rc = coord_rsm_apply(d->rsm, vals[i].id, vals[i].data, vals[i].len, &eff, &e);
    if (rc < 0) {
      SYN_LOG_WARN(NULL, "decision log slot %llu: %s", (unsigned long long)slot, e.msg);
      continue;
    }
    if (eff.result == COORD_RSM_CATALOG_APPLIED) {
      for (rdl_catw *w = d->catw; w; w = w->next)
        if (w->id == vals[i].id && !w->ready) {
          w->ready = true;
          w->res = eff.cat;
          d->deliver_pending = true;
        }
      if (d->cat_hook && (eff.cat.schema_changed || eff.cat.roles_changed))
        d->cat_hook(d->cat_hook_ud, coord_rsm_catalog(d->rsm), &eff.cat);
      continue;
    }
    coord_rsm_cmd cmd;
    uint64_t txn;
    if (coord_rsm_peek(vals[i].data, vals[i].len, &cmd, &txn) < 0) continue;
    if (cmd == COORD_RSM_DONE_MANY) {
      uint32_t nd = 0;
      const uint8_t *p = coord_rsm_done_many_txns(vals[i].data, vals[i].len, &nd);
      for (uint32_t k = 0; p && k < nd; k++) {
        uint64_t t = 0;
        for (int b = 7; b >= 0; b--) t = (t << 8) | p[(size_t)k * 8 + (size_t)b];
        u64map_del(&d->age, t);
      }
      continue;
    }
    if (eff.result == COORD_RSM_MARKED_DONE) u64map_del(&d->age, txn);
    if (eff.result == COORD_RSM_DECIDED && !u64map_get(&d->age, txn))
      u64map_put(&d->age, txn, (void *)(uintptr_t)(now_ms(d) + 1));
    if (u64map_get(&d->waiters, txn)) d->deliver_pending = true;
  }
  if (slot > d->applied_slot) d->applied_slot = slot;
  bar_move_ready(d, &d->bar_wait, bar_applied);
  if (d->deliver_pending) kick(d);
}

static int sm_snapshot_take(void *ud, uint64_t slot, uint8_t **data, size_t *len) {
  (void)slot;
  coord_rdl *d = ud;
  syn_err e;
  int rc = coord_rsm_snapshot_take(d->rsm, data, len, &e);
  if (rc < 0) SYN_LOG_WARN(NULL, "decision table snapshot: %s", e.msg);
  return rc;
}

static int sm_snapshot_install(void *ud, uint64_t slot, const uint8_t *data, size_t len) {
  coord_rdl *d = ud;
  syn_err e;
  int rc = coord_rsm_snapshot_install(d->rsm, data, len, &e);
  if (rc < 0) {
    SYN_LOG_ERROR(NULL, "decision table snapshot at slot %llu: %s", (unsigned long long)slot,
                  e.msg);
    return rc;
  }
  u64map_free(&d->age);
  memset(&d->age, 0, sizeof d->age);
  if (slot > d->applied_slot) d->applied_slot = slot;
  /* Catalog commands the snapshot covers never reach sm_apply here: their
  ** results are unknown (see coord_rdl_submit_cat). */
  for (rdl_catw *w = d->catw; w; w = w->next)
    if (!w->ready && coord_rsm_id_applied(d->rsm, w->id)) {
      w->ready = true;
      w->status = SYN_EBUSY;
    }
  if (d->cat_hook) d->cat_hook(d->cat_hook_ud, coord_rsm_catalog(d->rsm), NULL);
  bar_move_ready(d, &d->bar_wait, bar_applied);
  d->deliver_pending = true;
  kick(d);
  return 0;
}

static void sm_proposal_done(void *ud, uint64_t id, int status, uint64_t slot) {
  (void)slot;
  coord_rdl *d = ud;
  if (status == 0) return;
  /* Lost (leader change, slot taken by another value): retry at the next
  ** timer tick, outside the core. */
  for (size_t i = 0; i < d->waiters.cap; i++) {
    if (!d->waiters.used[i]) continue;
    for (rdl_waiter *w = d->waiters.vals[i]; w; w = w->next)
      if (w->id == id) w->retry_ms = 0;
  }
  for (rdl_catw *w = d->catw; w; w = w->next)
    if (w->id == id) w->retry_ms = 0;
}

static void sm_leadership(void *ud, bool leader) {
  coord_rdl *d = ud;
  d->leader = leader;
  if (leader) {
    d->redrive_all = true;
    d->next_redrive_ms = now_ms(d) + 1000;
    kick(d);
  }
}

/* ---- SYN_M_PAXOS_PROPOSE ------------------------------------------------------------- */

static void on_propose(rpc_call *call, const uint8_t *payload, size_t len, void *ud) {
  coord_rdl *d = ud;
  if (d->closed || !d->px) {
    rpc_reply_error(call, SYN_ECLOSED, "coordinator is shutting down");
    return;
  }
  coord_rsm_cmd cmd;
  uint64_t txn;
  /* Only well-formed commands enter the log. */
  if (len < 8 || coord_rsm_peek(payload + 8, len - 8, &cmd, &txn) < 0) {
    SYN_LOG_WARN(NULL, "decision proposal from %s is no command", rpc_call_peer(call));
    rpc_reply_error(call, SYN_EINVAL, "decision proposal does not decode");
    return;
  }
  uint64_t id = 0;
  for (int i = 0; i < 8; i++) id |= (uint64_t)payload[i] << (8 * i);
  uint32_t leader = 0;
  syn_err e;
  int rc = coord_px_propose(d->px, id, payload + 8, (uint32_t)(len - 8), &leader, &e);
  if (rc < 0) rpc_reply_error(call, rc, e.msg);
  else rpc_reply(call, NULL, 0);
}

/* ---- public ------------------------------------------------------------------------ */

int coord_rdl_new(uv_loop_t *loop, coord_rdl **out, syn_err *err) {
  coord_rdl *d = calloc(1, sizeof *d);
  if (!d) return syn_err_set(err, SYN_ENOMEM, "replicated decision log");
  int rc = coord_rsm_new(&d->rsm, err);
  if (rc < 0) {
    free(d);
    return rc;
  }
  d->loop = loop;
  d->sm = (coord_px_sm){.ud = d, .apply = sm_apply, .snapshot_take = sm_snapshot_take,
                        .snapshot_install = sm_snapshot_install,
                        .proposal_done = sm_proposal_done, .leadership = sm_leadership};
  uv_timer_init(loop, &d->timer);
  uv_timer_init(loop, &d->kick);
  uv_timer_init(loop, &d->bar_timer);
  uv_timer_init(loop, &d->done_timer);
  d->timer.data = d->kick.data = d->bar_timer.data = d->done_timer.data = d;
  /* Catalog command ids must never repeat one applied in an earlier life
  ** of this node (it would be dropped as a duplicate): a salt from the
  ** clock and the address space makes them unique in practice. */
  d->id_salt = syn_hash64(&(uint64_t[2]){uv_hrtime(), (uint64_t)(uintptr_t)d}, 16);
  d->open = true;
  uv_timer_start(&d->timer, timer_cb, RDL_TIMER_MS, RDL_TIMER_MS);
  *out = d;
  return 0;
}

const coord_px_sm *coord_rdl_sm(coord_rdl *d) { return &d->sm; }

void coord_rdl_attach(coord_rdl *d, coord_px *px, rpc_server *rpc) {
  d->px = px;
  if (rpc) {
    rpc_server_register(rpc, SYN_M_PAXOS_PROPOSE, on_propose, d);
    rpc_server_register(rpc, SYN_M_PAXOS_READ_INDEX, on_read_index_req, d);
  }
  if (d->deliver_pending || d->leader) kick(d);
}

void coord_rdl_set_redrive(coord_rdl *d, void (*fn)(const dlog_record *rec, void *ud),
                           void *ud) {
  d->redrive = fn;
  d->redrive_ud = ud;
  if (d->leader) {
    d->redrive_all = true;
    kick(d);
  }
}

int coord_rdl_propose(coord_rdl *d, const dlog_record *rec, dlog_cb cb, void *ud,
                      syn_err *err) {
  if (d->closed) return syn_err_set(err, SYN_ECLOSED, "decision log closed");
  rdl_waiter *w = calloc(1, sizeof *w);
  if (!w) return syn_err_set(err, SYN_ENOMEM, "decision proposal");
  int rc = coord_rsm_encode_decide(rec, &w->cmd, &w->len, err);
  if (rc < 0) {
    free(w);
    return rc;
  }
  w->txn = rec->txn;
  w->t0_us = uv_hrtime() / 1000;
  w->id = cmd_id(w->cmd, w->len);
  w->cb = cb;
  w->ud = ud;
  w->retry_ms = now_ms(d) + COORD_RDL_RETRY_MS;
  w->next = u64map_get(&d->waiters, rec->txn);
  if (u64map_put(&d->waiters, rec->txn, w) < 0) {
    free(w->cmd);
    free(w);
    return syn_err_set(err, SYN_ENOMEM, "decision proposal");
  }
  if (coord_rsm_lookup(d->rsm, rec->txn, NULL, NULL) == 0) {
    /* Decided already: answer with it, on the next loop turn. */
    d->deliver_pending = true;
    kick(d);
    return 0;
  }
  if (!submit(d, w->id, w->cmd, w->len)) w->retry_ms = now_ms(d) + RDL_TIMER_MS;
  return 0;
}

int coord_rdl_submit_cat(coord_rdl *d, const uint8_t *cmd, size_t len, coord_rdl_cat_cb cb,
                         void *ud, syn_err *err) {
  if (d->closed) return syn_err_set(err, SYN_ECLOSED, "decision log closed");
  int rc = coord_rcat_check(cmd, len, err);
  if (rc < 0) return rc;
  rdl_catw *w = calloc(1, sizeof *w);
  uint8_t *copy = malloc(len ? len : 1);
  if (!w || !copy) {
    free(w);
    free(copy);
    return syn_err_set(err, SYN_ENOMEM, "catalog command");
  }
  memcpy(copy, cmd, len);
  uint64_t key[2] = {d->id_salt, ++d->id_counter};
  w->id = syn_hash64(key, sizeof key);
  if (!w->id) w->id = 1;
  w->cmd = copy;
  w->len = len;
  w->cb = cb;
  w->ud = ud;
  w->retry_ms = now_ms(d) + COORD_RDL_RETRY_MS;
  w->next = d->catw;
  d->catw = w;
  if (!submit(d, w->id, w->cmd, w->len)) w->retry_ms = now_ms(d) + RDL_TIMER_MS;
  return 0;
}

void coord_rdl_set_catalog_hook(coord_rdl *d,
                                void (*fn)(void *ud, const coord_rcat *cat,
                                           const coord_rcat_result *res),
                                void *ud) {
  d->cat_hook = fn;
  d->cat_hook_ud = ud;
}

const coord_rcat *coord_rdl_catalog(coord_rdl *d) { return coord_rsm_catalog(d->rsm); }

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

void coord_rdl_get_stats(coord_rdl *d, coord_rdl_stats *out) {
  memset(out, 0, sizeof *out);
  out->decided = d->decided;
  size_t n = d->lat_n < RDL_LAT_SAMPLES ? (size_t)d->lat_n : RDL_LAT_SAMPLES;
  if (n == 0) return;
  uint32_t v[RDL_LAT_SAMPLES];
  memcpy(v, d->lat_us, n * sizeof *v);
  qsort(v, n, sizeof *v, cmp_u32);
  out->p50_us = v[n / 2];
  out->p99_us = v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
  out->samples = n;
}

static void done_flush(coord_rdl *d) {
  if (d->done_n == 0) return;
  uint8_t *cmd;
  size_t len;
  syn_err e;
  if (coord_rsm_encode_done_many(d->done_q, d->done_n, &cmd, &len, &e) == 0) {
    submit(d, cmd_id(cmd, len), cmd, len);
    free(cmd);
  }
  d->done_n = 0;
}

static void done_timer_cb(uv_timer_t *h) {
  coord_rdl *d = h->data;
  d->done_timer_on = false;
  done_flush(d);
}

int coord_rdl_mark_done(coord_rdl *d, uint64_t txn, syn_err *err) {
  bool done = false;
  if (coord_rsm_lookup(d->rsm, txn, NULL, &done) != 0)
    return syn_err_set(err, SYN_ENOTFOUND, "no decision for txn %llu", (unsigned long long)txn);
  if (done || d->closed) return 0;
  if (d->done_n == d->done_cap) {
    uint32_t cap = d->done_cap ? d->done_cap * 2 : 64;
    uint64_t *q = realloc(d->done_q, cap * sizeof *q);
    if (!q) return syn_err_set(err, SYN_ENOMEM, "done queue");
    d->done_q = q;
    d->done_cap = cap;
  }
  d->done_q[d->done_n++] = txn;
  if (d->done_n >= COORD_RSM_DONE_MAX) done_flush(d);
  else if (!d->done_timer_on) {
    d->done_timer_on = true;
    uv_timer_start(&d->done_timer, done_timer_cb, RDL_DONE_FLUSH_MS, 0);
  }
  return 0;
}

int coord_rdl_lookup(coord_rdl *d, uint64_t txn, dlog_record *out, bool *done) {
  int rc = coord_rsm_lookup(d->rsm, txn, out, done);
  if (rc == SYN_ENOTFOUND && u64map_get(&d->waiters, txn)) return SYN_EBUSY;
  return rc;
}

int coord_rdl_foreach_undone(coord_rdl *d, int (*fn)(const dlog_record *rec, void *ud),
                             void *ud) {
  return coord_rsm_foreach_undone(d->rsm, fn, ud);
}

/* Catalog commands and read barriers end with SYN_ECLOSED (their callers
** are worker threads that must not wait for a loop that is stopping). */
static void cancel_reads(coord_rdl *d) {
  rdl_catw *cw = d->catw;
  d->catw = NULL;
  while (cw) {
    rdl_catw *next = cw->next;
    cw->cb(SYN_ECLOSED, NULL, cw->ud);
    free(cw->cmd);
    free(cw);
    cw = next;
  }
  rdl_bar *lists[4] = {d->bar_pending, d->bar_inflight, d->bar_wait, d->bar_ready};
  d->bar_pending = d->bar_inflight = d->bar_wait = d->bar_ready = NULL;
  for (int i = 0; i < 4; i++)
    for (rdl_bar *b = lists[i]; b;) {
      rdl_bar *next = b->next;
      b->cb(SYN_ECLOSED, b->ud);
      free(b);
      b = next;
    }
}

void coord_rdl_close(coord_rdl *d) {
  if (!d || d->closed) return;
  d->closed = true;
  cancel_reads(d);
  if (d->open) {
    uv_close((uv_handle_t *)&d->timer, NULL);
    uv_close((uv_handle_t *)&d->kick, NULL);
    uv_close((uv_handle_t *)&d->bar_timer, NULL);
    uv_close((uv_handle_t *)&d->done_timer, NULL);
  }
}

void coord_rdl_cancel(coord_rdl *d) {
  if (!d) return;
  cancel_reads(d);
  u64map ws = d->waiters;
  memset(&d->waiters, 0, sizeof d->waiters);
  for (size_t i = 0; i < ws.cap; i++) {
    if (!ws.used[i]) continue;
    for (rdl_waiter *w = ws.vals[i]; w;) {
      rdl_waiter *next = w->next;
      w->cb(SYN_ECLOSED, w->txn, NULL, w->ud);
      free(w->cmd);
      free(w);
      w = next;
    }
  }
  u64map_free(&ws);
}

void coord_rdl_free(coord_rdl *d) {
  if (!d) return;
  coord_rdl_cancel(d);
  u64map_free(&d->waiters);
  u64map_free(&d->age);
  free(d->done_q);
  coord_rsm_free(d->rsm);
  free(d);
}
