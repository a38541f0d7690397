/*
** coord_paxos: the daemon shell around the Multi-Paxos core (see
** coord_paxos.h and docs/consensus.md, "The daemon shell").
**
** Persistence is synchronous: io->persist appends the records to the
** acceptor log and fsyncs them before it returns (paxos_store_append), and
** the completion (paxos_persisted) is queued and delivered from a uv_idle
** handle on the next loop turn, because the core forbids re-entry from an
** io function. Why not a thread: the core already hands over at most one
** persist per input, the coordinator's decision log fsyncs on the loop
** thread the same way, and keeping the store on one thread keeps the
** failure path simple (a failed append is reported to the core in seq
** order and the core stops). The cost is that the loop waits for each
** fsync; a persist thread with a FIFO is the next step if that shows.
**
** Transport: every core message is one SYN_M_PAXOS request, encoded with
** paxos_msg_encode. The receiver feeds it to paxos_receive and answers
** empty; the sender ignores the answer. Paxos tolerates loss, duplication
** and reordering, so a message that cannot be sent (peer down, too many
** in flight, over the frame limit) is dropped, never retried here: the
** core retransmits what matters.
*/
#include "coordinator/coord_paxos.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/rpc_methods.h"
#include "coordinator/paxos/paxos_store.h"

#define PX_TICK_MS 10
#define PX_SEND_TIMEOUT_MS 1000
#define PX_MAX_INFLIGHT 256     /* unanswered messages per peer before dropping */
#define PX_RESTART_MS 1000      /* wait before reopening after a failed persist */

typedef struct px_peer {
  uint32_t id;
  char name[NODE_NAME_MAX];
  rpc_client *client; /* NULL for self */
  uint32_t inflight;
  uint64_t dropped;
} px_peer;

typedef struct px_done {
  uint64_t seq;
  int status;
} px_done;

struct coord_px {
  uv_loop_t *loop;
  char name[NODE_NAME_MAX];
  char dir[4200];
  uint32_t self;
  px_peer peers[PAXOS_MAX_NODES];
  uint32_t npeers;
  coord_px_sm sm;
  uint32_t tick_ms, send_timeout_ms;
  paxos_store_mode mode;

  paxos *core;        /* NULL while restarting */
  paxos_store *store;
  /* Persists done, completion not yet delivered (FIFO in seq order). */
  px_done *done;
  size_t ndone, capdone;
  bool failed_store;  /* the store failed: every later persist fails too */

  uv_timer_t tick, restart;
  uv_idle_t idle;
  int handles_open;
  bool closed;

  /* Last role/leader logged, to log changes once. */
  paxos_role last_role;
  uint32_t last_leader;
  bool was_leader;
};

/* ---- helpers ---------------------------------------------------------------- */

int coord_px_node_id(const char *name, uint32_t *out, syn_err *err) {
  unsigned v = 0;
  bool any = false;
  for (const char *p = name; *p; p++) {
    if (!isdigit((unsigned char)*p)) continue;
    any = true;
    v = v * 10 + (unsigned)(*p - '0');
    if (v > 127) break;
  }
  if (!any || v == 0 || v > 127)
    return syn_err_set(err, SYN_EINVAL,
                       "coordinator name '%s' must contain its index 1..127 (e.g. c1)", name);
  *out = v;
  return 0;
}

static uint64_t px_now(coord_px *px) { return uv_now(px->loop); }

static px_peer *peer_by_id(coord_px *px, uint32_t id) {
  for (uint32_t i = 0; i < px->npeers; i++)
    if (px->peers[i].id == id) return &px->peers[i];
  return NULL;
}

static const char *peer_name(coord_px *px, uint32_t id) {
  px_peer *p = peer_by_id(px, id);
  return p ? p->name : "?";
}

/* Log leadership changes once, and tell the state machine. Called after
** every input to the core. */
static void after_input(coord_px *px) {
  if (!px->core) return;
  paxos_status st;
  paxos_get_status(px->core, &st);
  if (st.role != px->last_role || st.leader != px->last_leader) {
    if (st.role == PAXOS_LEADER && px->last_role != PAXOS_LEADER)
      SYN_LOG_INFO(NULL, "paxos: this node (%s) is the leader, ballot %llu.%u, %u member(s)",
                   px->name, (unsigned long long)PAXOS_BALLOT_ROUND(st.ballot),
                   PAXOS_BALLOT_NODE(st.ballot), px->npeers);
    else if (px->last_role == PAXOS_LEADER && st.role != PAXOS_LEADER)
      SYN_LOG_INFO(NULL, "paxos: this node (%s) stopped leading (now %s, leader %s)", px->name,
                   paxos_role_name(st.role), st.leader ? peer_name(px, st.leader) : "unknown");
    else if (st.role == PAXOS_FAILED)
      SYN_LOG_ERROR(NULL, "paxos: replica stopped after a failed persist");
    else if (st.leader != px->last_leader && st.leader != 0 && st.leader != px->self)
      SYN_LOG_INFO(NULL, "paxos: leader is %s (this node %s)", peer_name(px, st.leader),
                   paxos_role_name(st.role));
    else if (st.role != px->last_role && st.role == PAXOS_LEARNER)
      SYN_LOG_INFO(NULL, "paxos: rejoining as a learner (this member lost its disk)");
    else if (px->last_role == PAXOS_LEARNER && st.role == PAXOS_FOLLOWER)
      SYN_LOG_INFO(NULL, "paxos: rejoined, voting again");
    px->last_role = st.role;
    px->last_leader = st.leader;
  }
  bool lead = st.role == PAXOS_LEADER;
  if (lead != px->was_leader) {
    px->was_leader = lead;
    if (px->sm.leadership) px->sm.leadership(px->sm.ud, lead);
  }
}

/* ---- io: send ------------------------------------------------------------------ */

static void on_sent(int status, const uint8_t *payload, size_t len, const syn_err *err,
                    void *ud) {
  (void)status;
  (void)payload;
  (void)len;
  (void)err;
  px_peer *p = ud;
  if (p->inflight) p->inflight--;
}

static void io_send(void *ud, const paxos_msg *m) {
  coord_px *px = ud;
  px_peer *p = peer_by_id(px, m->to);
  if (!p || !p->client || px->closed) return;
  if (p->inflight >= PX_MAX_INFLIGHT) {
    /* The peer is down or slow; the core retransmits what matters. */
    if (p->dropped++ % 1000 == 0)
      SYN_LOG_DEBUG(NULL, "paxos: %s has %u messages unanswered, dropping", p->name,
                    p->inflight);
    return;
  }
  uint8_t *buf = NULL;
  size_t len = 0;
  syn_err e;
  if (paxos_msg_encode(m, &buf, &len, &e) < 0) {
    SYN_LOG_WARN(NULL, "paxos: cannot encode %s for %s: %s", paxos_msg_name(m->type), p->name,
                 e.msg);
    return;
  }
  if (rpc_client_call(p->client, SYN_M_PAXOS, buf, len, px->send_timeout_ms, on_sent, p, &e) ==
      0)
    p->inflight++;
  else
    SYN_LOG_DEBUG(NULL, "paxos: %s to %s not sent: %s", paxos_msg_name(m->type), p->name, e.msg);
  free(buf);
}

/* ---- io: persist (synchronous, completion on the next loop turn) --------------- */

static void idle_cb(uv_idle_t *h);

static void io_persist(void *ud, uint64_t seq, const paxos_rec *recs, size_t n) {
  coord_px *px = ud;
  int status = SYN_EIO;
  if (!px->failed_store) {
    syn_err e;
    /* Invariant (docs/consensus.md, "What is fsynced when"): the core sends
    ** no PROMISE, ACCEPTED or self-promised PREPARE, counts no own vote and
    ** no COMMIT marker before paxos_persisted(seq); paxos_store_append
    ** returns only after write + fsync, and the completion below is queued
    ** only after it returned 0. */
    status = paxos_store_append(px->store, recs, n, &e);
    if (status < 0) {
      px->failed_store = true;
      SYN_LOG_ERROR(NULL, "paxos: acceptor log %s/paxos: %s", px->dir, e.msg);
    }
  }
  if (px->ndone == px->capdone) {
    size_t cap = px->capdone ? px->capdone * 2 : 16;
    px_done *v = realloc(px->done, cap * sizeof *v);
    if (!v) {
      /* Cannot even remember the completion: the durable state is fine but
      ** the core would wait forever; stop it as on a failed persist. */
      SYN_LOG_ERROR(NULL, "paxos: out of memory queueing a persist completion");
      px->failed_store = true;
      return;
    }
    px->done = v;
    px->capdone = cap;
  }
  px->done[px->ndone++] = (px_done){seq, status};
  if (!uv_is_active((uv_handle_t *)&px->idle)) uv_idle_start(&px->idle, idle_cb);
}

/* ---- io: state machine hooks ------------------------------------------------------ */

static void io_apply(void *ud, uint64_t slot, const paxos_value *vals, uint32_t n) {
  coord_px *px = ud;
  if (px->sm.apply) px->sm.apply(px->sm.ud, slot, vals, n);
}

static int io_snapshot_take(void *ud, uint64_t slot, uint8_t **data, size_t *len) {
  coord_px *px = ud;
  return px->sm.snapshot_take(px->sm.ud, slot, data, len);
}

static int io_snapshot_install(void *ud, uint64_t slot, const uint8_t *data, size_t len) {
  coord_px *px = ud;
  if (!px->sm.snapshot_install) return 0;
  return px->sm.snapshot_install(px->sm.ud, slot, data, len);
}

static void io_proposal_done(void *ud, uint64_t id, int status, uint64_t slot) {
  coord_px *px = ud;
  if (px->sm.proposal_done) px->sm.proposal_done(px->sm.ud, id, status, slot);
}

static void io_trace(void *ud, const char *what) {
  (void)ud;
  SYN_LOG_DEBUG(NULL, "paxos: %s", what);
}

/* ---- core life ---------------------------------------------------------------------- */

static int replay_one(const paxos_rec *r, void *ud) {
  syn_err e;
  int rc = paxos_restore(ud, r, &e);
  if (rc < 0) SYN_LOG_ERROR(NULL, "paxos: restore: %s", e.msg);
  return rc;
}

/* Open the store, build a core from it and start it. */
static int core_open(coord_px *px, syn_err *err) {
  char path[4300];
  snprintf(path, sizeof path, "%s/paxos", px->dir);
  int rc = paxos_store_open(path, px->mode, NULL, &px->store, err);
  if (rc < 0) return rc;
  /* Whatever happens next, this directory belongs to a member now: a later
  ** open that finds it empty must treat it as wiped. */
  px->mode = PAXOS_STORE_MEMBER;
  paxos_store_stats ss;
  paxos_store_get_stats(px->store, &ss);
  if (ss.truncated_bytes)
    SYN_LOG_WARN(NULL, "paxos: cut a torn tail of %llu bytes off the acceptor log",
                 (unsigned long long)ss.truncated_bytes);
  if (ss.wiped) SYN_LOG_WARN(NULL, "paxos: %s lost its acceptor state: rejoining", path);

  paxos_config cfg;
  paxos_config_default(&cfg);
  cfg.self = px->self;
  for (uint32_t i = 0; i < px->npeers; i++) cfg.nodes[i] = px->peers[i].id;
  cfg.nnodes = px->npeers;
  cfg.seed = uv_hrtime() ^ ((uint64_t)getpid() << 20);
  if (!px->sm.snapshot_take) cfg.snapshot_every = 0;
  /* Group commit: one slot in flight, and every value that arrives
  ** meanwhile rides the next slot. On a 3+3 bank with 16 clients this gave
  ** 206 slots/s for 330 commits/s (8 in flight: 368 slots/s for 278
  ** commits/s, one value per slot), at the same decision latency
  ** (docs/performance.md). SYNOD_PAXOS_INFLIGHT overrides it. */
  cfg.max_inflight = 1;
  {
    const char *e = getenv("SYNOD_PAXOS_INFLIGHT");
    if (e && atoi(e) > 0) cfg.max_inflight = (uint32_t)atoi(e);
  }
  paxos_io io = {.ud = px, .send = io_send, .persist = io_persist, .apply = io_apply,
                 .snapshot_take = px->sm.snapshot_take ? io_snapshot_take : NULL,
                 .snapshot_install = io_snapshot_install, .proposal_done = io_proposal_done,
                 .trace = io_trace};
  rc = paxos_new(&cfg, &io, &px->core, err);
  if (rc == 0) {
    rc = paxos_store_replay(px->store, replay_one, px->core);
    if (rc < 0) syn_err_set(err, rc, "paxos: the acceptor log %s does not replay", path);
  }
  px->failed_store = false;
  px->ndone = 0;
  if (rc == 0) rc = paxos_start(px->core, px_now(px), err);
  if (rc < 0) {
    paxos_free(px->core);
    px->core = NULL;
    paxos_store_close(px->store);
    px->store = NULL;
    return rc;
  }
  px->last_role = PAXOS_FOLLOWER;
  px->last_leader = 0;
  after_input(px);
  return 0;
}

static void core_drop(coord_px *px) {
  paxos_free(px->core);
  px->core = NULL;
  paxos_store_close(px->store);
  px->store = NULL;
  px->ndone = 0;
  if (px->was_leader) {
    px->was_leader = false;
    if (px->sm.leadership) px->sm.leadership(px->sm.ud, false);
  }
}

static void restart_cb(uv_timer_t *h) {
  coord_px *px = h->data;
  if (px->closed) return;
  syn_err e;
  /* Reopening re-reads what actually reached the disk (paxos.h). */
  if (core_open(px, &e) < 0) {
    SYN_LOG_ERROR(NULL, "paxos: restart from disk failed: %s (retrying)", e.msg);
    uv_timer_start(&px->restart, restart_cb, PX_RESTART_MS, 0);
    return;
  }
  SYN_LOG_INFO(NULL, "paxos: replica restarted from its acceptor log");
}

static void check_failed(coord_px *px) {
  if (!px->core || !paxos_failed(px->core)) return;
  SYN_LOG_ERROR(NULL, "paxos: replica failed; restarting it from disk in %d ms", PX_RESTART_MS);
  core_drop(px);
  uv_timer_start(&px->restart, restart_cb, PX_RESTART_MS, 0);
}

static void idle_cb(uv_idle_t *h) {
  coord_px *px = h->data;
  /* Deliver only what was queued before this turn: completions may queue
  ** new persists, which wait for the next turn (bounded work per turn). */
  size_t n = px->ndone;
  size_t i = 0;
  for (; i < n && px->core; i++) {
    px_done d = px->done[i];
    paxos_persisted(px->core, d.seq, d.status, px_now(px));
  }
  if (px->core && i > 0) {
    memmove(px->done, px->done + i, (px->ndone - i) * sizeof *px->done);
    px->ndone -= i;
  }
  if (!px->core) px->ndone = 0;
  if (px->ndone == 0) uv_idle_stop(&px->idle);
  after_input(px);
  check_failed(px);
}

static void tick_cb(uv_timer_t *h) {
  coord_px *px = h->data;
  if (!px->core) return;
  paxos_tick(px->core, px_now(px));
  after_input(px);
  check_failed(px);
}

/* ---- SYN_M_PAXOS -------------------------------------------------------------------- */

static void on_paxos(rpc_call *call, const uint8_t *payload, size_t len, void *ud) {
  coord_px *px = ud;
  if (px->closed || !px->core) {
    rpc_reply(call, NULL, 0);
    return;
  }
  paxos_msg m;
  void *owned = NULL;
  syn_err e;
  if (paxos_msg_decode(payload, len, &m, &owned, &e) < 0) {
    SYN_LOG_WARN(NULL, "paxos: undecodable message from %s: %s", rpc_call_peer(call), e.msg);
    rpc_reply_error(call, SYN_EINVAL, "paxos message does not decode");
    return;
  }
  if (m.to != px->self || !peer_by_id(px, m.from) || m.from == px->self) {
    free(owned);
    SYN_LOG_WARN(NULL, "paxos: message from %s for node %u claims to come from %u: ignored",
                 rpc_call_peer(call), m.to, m.from);
    rpc_reply_error(call, SYN_EINVAL, "paxos message not for this group member");
    return;
  }
  paxos_receive(px->core, &m, px_now(px));
  free(owned);
  rpc_reply(call, NULL, 0);
  after_input(px);
  check_failed(px);
}

/* ---- public ------------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h) {
  coord_px *px = h->data;
  px->handles_open--;
}

int coord_px_open(const coord_px_config *cfg, coord_px **out, syn_err *err) {
  coord_px *px = calloc(1, sizeof *px);
  if (!px) return syn_err_set(err, SYN_ENOMEM, "paxos shell");
  px->loop = cfg->loop;
  snprintf(px->name, sizeof px->name, "%s", cfg->name);
  snprintf(px->dir, sizeof px->dir, "%s", cfg->dir);
  if (cfg->sm) px->sm = *cfg->sm;
  px->tick_ms = cfg->tick_ms ? cfg->tick_ms : PX_TICK_MS;
  px->send_timeout_ms = cfg->send_timeout_ms ? cfg->send_timeout_ms : PX_SEND_TIMEOUT_MS;
  int rc = coord_px_node_id(cfg->name, &px->self, err);
  bool self_listed = false;
  size_t np = cfg->peers ? cfg->peers->n : 0;
  if (rc == 0 && np > PAXOS_MAX_NODES)
    rc = syn_err_set(err, SYN_ERANGE, "--peers: at most %d coordinators", PAXOS_MAX_NODES);
  rpc_opts ro = {.node_name = cfg->name, .secret = cfg->secret, .secret_len = cfg->secret_len};
  for (size_t i = 0; rc == 0 && i < np; i++) {
    const node_peer *np_ = &cfg->peers->items[i];
    px_peer *p = &px->peers[px->npeers];
    rc = coord_px_node_id(np_->name, &p->id, err);
    if (rc < 0) break;
    if (peer_by_id(px, p->id)) {
      rc = syn_err_set(err, SYN_EINVAL, "--peers: two coordinators have index %u", p->id);
      break;
    }
    snprintf(p->name, sizeof p->name, "%s", np_->name);
    if (p->id == px->self) {
      self_listed = true;
    } else {
      rc = rpc_client_new(cfg->loop, np_->host, np_->port, &ro, &p->client, err);
      if (rc < 0) break;
    }
    px->npeers++;
  }
  if (rc == 0 && np > 0 && !self_listed)
    rc = syn_err_set(err, SYN_EINVAL, "--peers must list this coordinator (%s)", cfg->name);
  if (rc == 0 && np == 0) {
    px->peers[0].id = px->self;
    snprintf(px->peers[0].name, sizeof px->peers[0].name, "%s", cfg->name);
    px->npeers = 1;
  }
  /* A group of one cannot rejoin (nobody else holds its state), so its
  ** directory is always opened as a bootstrap; a larger group treats a
  ** missing log in a used data dir as a wiped member. */
  px->mode = (cfg->fresh || px->npeers == 1) ? PAXOS_STORE_BOOTSTRAP : PAXOS_STORE_MEMBER;
  uv_timer_init(cfg->loop, &px->tick);
  uv_timer_init(cfg->loop, &px->restart);
  uv_idle_init(cfg->loop, &px->idle);
  px->tick.data = px->restart.data = px->idle.data = px;
  px->handles_open = 3;
  if (rc == 0) rc = core_open(px, err);
  if (rc < 0) {
    coord_px_close(px);
    *out = px; /* the caller frees it after the loop closed the handles */
    return rc;
  }
  uv_timer_start(&px->tick, tick_cb, px->tick_ms, px->tick_ms);
  if (cfg->rpc) rpc_server_register(cfg->rpc, SYN_M_PAXOS, on_paxos, px);
  SYN_LOG_INFO(NULL, "paxos: node %u of %u, acceptor log %s/paxos", px->self, px->npeers,
               px->dir);
  *out = px;
  return 0;
}

void coord_px_close(coord_px *px) {
  if (!px || px->closed) return;
  px->closed = true;
  for (uint32_t i = 0; i < px->npeers; i++)
    if (px->peers[i].client) {
      rpc_client_close(px->peers[i].client);
      px->peers[i].client = NULL;
    }
  uv_close((uv_handle_t *)&px->tick, on_handle_closed);
  uv_close((uv_handle_t *)&px->restart, on_handle_closed);
  uv_close((uv_handle_t *)&px->idle, on_handle_closed);
}

void coord_px_free(coord_px *px) {
  if (!px) return;
  paxos_free(px->core);
  paxos_store_close(px->store);
  free(px->done);
  free(px);
}

bool coord_px_is_leader(coord_px *px) {
  if (!px || !px->core || px->closed) return false;
  paxos_status st;
  paxos_get_status(px->core, &st);
  /* The loop's cached time lags after a long iteration (an fsync): a read
  ** served on a lease must compare against the real time. */
  uv_update_time(px->loop);
  return st.role == PAXOS_LEADER && paxos_lease_valid(px->core, px_now(px));
}

uint32_t coord_px_leader(coord_px *px) {
  if (!px || !px->core) return 0;
  paxos_status st;
  paxos_get_status(px->core, &st);
  return st.leader;
}

rpc_client *coord_px_peer_client(coord_px *px, uint32_t node_id) {
  px_peer *p = peer_by_id(px, node_id);
  return p && !px->closed ? p->client : NULL;
}

uint32_t coord_px_self(const coord_px *px) { return px->self; }
uint32_t coord_px_size(const coord_px *px) { return px->npeers; }

int coord_px_propose(coord_px *px, uint64_t id, const uint8_t *data, uint32_t len,
                     uint32_t *leader, syn_err *err) {
  if (leader) *leader = 0;
  if (px->closed) return syn_err_set(err, SYN_ECLOSED, "paxos shell closed");
  if (!px->core) return syn_err_set(err, SYN_EBUSY, "paxos replica restarting");
  uint32_t l = 0;
  int rc = paxos_propose(px->core, id, data, len, px_now(px), &l, err);
  if (leader) *leader = l;
  after_input(px);
  check_failed(px);
  return rc;
}

void coord_px_get_status(coord_px *px, paxos_status *out) {
  memset(out, 0, sizeof *out);
  if (px && px->core) paxos_get_status(px->core, out);
}
