/*
** In-doubt resolution: a transaction this participant holds prepared for
** longer than resolve_after_ms is asked about at the coordinator group.
**
** Why: after voting YES the participant may neither commit nor abort on its
** own (the coordinator may have decided either way), and its intents keep
** their locks meanwhile. If the coordinator crashed or the decision was
** lost on the way, someone must ask. A coordinator answers from the
** group's replicated decision table, and when it holds no decision it
** proposes ABORT to the group's log first ("first decision wins",
** docs/protocol.md; coord_rdl.c), so a late COMMIT can no longer be
** chosen and every coordinator gives the same answer.
**
** Whom: the transaction's own coordinator first, c<N> with N =
** SYN_TXN_COORD(txn) (it knows best whether the transaction is still
** being decided), then every other coordinator of --coordinators in list
** order. Any of them may answer because the decision table is replicated:
** when c<N> is dead, paused or cut off from the majority, the others still
** settle the transaction. A round ends at the first definite answer; an
** error, a timeout (RESOLVE_CALL_TIMEOUT_MS) or "no decision yet" moves
** on to the next coordinator at the next sweep; after the whole round the
** transaction waits a backoff that doubles up to RESOLVE_BACKOFF_MAX_MS
** and the round starts again with c<N>.
**
** How: every resolve_poll_ms (and once at start) the sweep lists prepared
** transactions (store_prepared_list, which is also what survives a crash).
** Age is HLC-physical-now minus the physical part of prepare_ts, so a
** transaction prepared before a restart is in doubt at once. Each has at
** most one RESOLVE in flight. Logging is once per transaction (first ask,
** first fallback to another coordinator, first failure, the outcome with
** the coordinator that gave it), not per try.
*/
#include "participant/service_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rpc_methods.h"

#define RESOLVE_BACKOFF_MIN_MS 100u
#define RESOLVE_BACKOFF_MAX_MS 5000u
/* Above the coordinator's own wait for a decision in flight
** (COORD_RESOLVE_WAIT_MS, 3 s), so a live coordinator that is deciding
** answers with its decision or "unknown" before we give up on it and ask
** another, whose ABORT proposal could then beat a COMMIT about to be
** chosen (safe, first decision wins, but a needless abort). */
#define RESOLVE_CALL_TIMEOUT_MS 3500u

static char *cid_of(uint64_t txn, char *buf, size_t cap) {
  snprintf(buf, cap, "%llu", (unsigned long long)txn);
  return buf;
}

static void doubt_drop(psvc *s, psvc_doubt *d) {
  u64map_del(&s->doubts, d->txn);
  if (d->prev) d->prev->next = d->next;
  else s->doubt_list = d->next;
  if (d->next) d->next->prev = d->prev;
  free(d);
}

static void doubt_retry_later(psvc *s, psvc_doubt *d) {
  d->next_try = uv_now(s->loop) + d->backoff_ms;
  d->backoff_ms = d->backoff_ms * 2 > RESOLVE_BACKOFF_MAX_MS ? RESOLVE_BACKOFF_MAX_MS
                                                             : d->backoff_ms * 2;
}

/* coords[] index of coordinator c<n>, -1 if --coordinators has none. */
static int coord_index(psvc *s, unsigned n) {
  char want[16];
  snprintf(want, sizeof want, "c%u", n);
  for (size_t i = 0; i < s->ncoords; i++)
    if (strcmp(s->coords[i].name, want) == 0) return (int)i;
  return -1;
}

/* The coordinator to ask at position k of a round: its own coordinator
** (if listed) first, then the others in list order. -1: the round is over. */
static int round_target(psvc *s, uint64_t txn, uint32_t k) {
  int own = coord_index(s, SYN_TXN_COORD(txn));
  if (own >= 0) {
    if (k == 0) return own;
    k--;
  }
  for (size_t i = 0; i < s->ncoords; i++) {
    if ((int)i == own) continue;
    if (k == 0) return (int)i;
    k--;
  }
  return -1;
}

static rpc_client *coord_client(psvc *s, int i, syn_err *err) {
  if (!s->clients[i]) {
    rpc_opts o = {.node_name = s->name, .secret = s->cfg.secret,
                  .secret_len = s->cfg.secret_len};
    if (rpc_client_new(s->loop, s->coords[i].host, s->coords[i].port, &o, &s->clients[i],
                       err) < 0)
      return NULL;
  }
  return s->clients[i];
}

static const char *asked_name(psvc *s, psvc_doubt *d) {
  return d->asked >= 0 && (size_t)d->asked < s->ncoords ? s->coords[d->asked].name : "?";
}

/* This coordinator gave no answer: the next one of the round is asked at
** the next sweep; after the last, the round restarts after a backoff.
** Logged once per transaction. */
static void try_next(psvc *s, psvc_doubt *d, const char *what) {
  char cid[24];
  cid_of(d->txn, cid, sizeof cid);
  d->attempt++;
  int next = round_target(s, d->txn, d->attempt);
  if (next >= 0) {
    if (!d->logged_fallback) {
      d->logged_fallback = 1;
      SYN_LOG_INFO(cid, "in-doubt txn: %s gave no answer (%s); asking %s", asked_name(s, d), what,
                   s->coords[next].name);
    }
    d->next_try = uv_now(s->loop);
    return;
  }
  d->attempt = 0;
  if (!d->logged_fail) {
    d->logged_fail = 1;
    SYN_LOG_WARN(cid, "in-doubt txn not resolved yet: no coordinator answered (last, %s: %s); "
                 "retrying with backoff", asked_name(s, d), what);
  }
  doubt_retry_later(s, d);
}

static void on_resolved(int status, const uint8_t *p, size_t n, const syn_err *rerr, void *ud) {
  psvc_doubt *d = ud;
  psvc *s = d->svc;
  d->in_flight = 0;
  if (s->stopping) return; /* clients closing: the store may not be used */
  char cid[24];
  cid_of(d->txn, cid, sizeof cid);
  if (status < 0) {
    try_next(s, d, rerr ? rerr->msg : syn_strerror(status));
    return;
  }
  Synod__Part__ResolveResponse *r = synod__part__resolve_response__unpack(NULL, n, p);
  if (!r) {
    try_next(s, d, "its answer does not decode");
    return;
  }
  int outcome = r->outcome;
  uint64_t cts = r->commit_ts;
  synod__part__resolve_response__free_unpacked(r, NULL);
  syn_err err;
  syn_err_clear(&err);
  int rc;
  if (outcome == 1) {
    rc = psvc_apply_commit(s, d->txn, cts, &err);
  } else if (outcome == 2) {
    rc = psvc_apply_abort(s, d->txn, &err);
  } else {
    try_next(s, d, outcome == 0 ? "no decision yet" : "an unknown outcome");
    return;
  }
  if (rc < 0) {
    /* The answer is definite; our store failed. Ask again later (any
    ** coordinator gives the same answer), starting the round afresh. */
    if (!d->logged_fail) {
      d->logged_fail = 1;
      SYN_LOG_WARN(cid, "in-doubt txn: applying %s from %s failed: %s; retrying with backoff",
                   outcome == 1 ? "COMMIT" : "ABORT", asked_name(s, d), err.msg);
    }
    d->attempt = 0;
    doubt_retry_later(s, d);
    return;
  }
  if (outcome == 1)
    SYN_LOG_INFO(cid, "in-doubt txn resolved: COMMIT at %llu (answered by %s)",
                 (unsigned long long)cts, asked_name(s, d));
  else
    SYN_LOG_INFO(cid, "in-doubt txn resolved: ABORT (answered by %s)", asked_name(s, d));
  doubt_drop(s, d);
}

static void ask(psvc *s, psvc_doubt *d, uint64_t age_ms) {
  char cid[24];
  cid_of(d->txn, cid, sizeof cid);
  syn_err err;
  syn_err_clear(&err);
  int target = round_target(s, d->txn, d->attempt);
  if (target < 0) {
    /* No coordinator configured at all (an empty --coordinators). */
    if (!d->logged_fail) {
      d->logged_fail = 1;
      SYN_LOG_WARN(cid, "in-doubt txn cannot be resolved: no coordinator in --coordinators");
    }
    d->attempt = 0;
    doubt_retry_later(s, d);
    return;
  }
  d->asked = target;
  if (!d->logged_ask) {
    d->logged_ask = 1;
    SYN_LOG_INFO(cid, "txn prepared %llu ms ago is in doubt; asking %s%s",
                 (unsigned long long)age_ms, s->coords[target].name,
                 coord_index(s, SYN_TXN_COORD(d->txn)) == target ? ""
                                                                  : " (its own coordinator is not listed)");
  }
  rpc_client *c = coord_client(s, target, &err);
  if (!c) {
    try_next(s, d, err.msg);
    return;
  }
  Synod__Part__ResolveRequest q = SYNOD__PART__RESOLVE_REQUEST__INIT;
  q.txn = d->txn;
  q.participant = s->name;
  uint8_t buf[128];
  size_t len = synod__part__resolve_request__get_packed_size(&q);
  if (len > sizeof buf) return; /* cannot happen: two small fields */
  synod__part__resolve_request__pack(&q, buf);
  if (rpc_client_call(c, SYN_M_COORD_RESOLVE, buf, len, RESOLVE_CALL_TIMEOUT_MS, on_resolved, d,
                      &err) < 0) {
    try_next(s, d, err.msg);
    return;
  }
  d->in_flight = 1;
}

static void sweep(psvc *s) {
  store_prepared *list = NULL;
  size_t n = 0;
  syn_err err;
  if (store_prepared_list(s->st, &list, &n, &err) < 0) {
    SYN_LOG_ERROR(NULL, "in-doubt sweep: %s", err.msg);
    return;
  }
  hlc_ts now_ts = 0;
  if (n && node_clock_now(s->clock, &now_ts, &err) < 0) now_ts = hlc_last(&s->clock->clock);
  uint64_t now_phys = hlc_ts_physical(now_ts);
  uint64_t now = uv_now(s->loop);
  uint32_t gen = ++s->sweep_gen;
  for (size_t i = 0; i < n; i++) {
    uint64_t pphys = hlc_ts_physical(list[i].prepare_ts);
    uint64_t age = now_phys > pphys ? now_phys - pphys : 0;
    psvc_doubt *d = u64map_get(&s->doubts, list[i].txn);
    if (d) d->seen = gen;
    if (age < s->cfg.resolve_after_ms) continue;
    if (!d) {
      d = calloc(1, sizeof *d);
      if (!d || u64map_put(&s->doubts, list[i].txn, d) < 0) {
        free(d);
        SYN_LOG_ERROR(NULL, "in-doubt sweep: out of memory");
        break;
      }
      d->svc = s;
      d->txn = list[i].txn;
      d->backoff_ms = RESOLVE_BACKOFF_MIN_MS;
      d->asked = -1;
      d->next_try = now;
      d->seen = gen;
      d->next = s->doubt_list;
      if (s->doubt_list) s->doubt_list->prev = d;
      s->doubt_list = d;
    }
    if (!d->in_flight && d->next_try <= now) ask(s, d, age);
  }
  free(list);
  /* Decided meanwhile by a COMMIT/ABORT from the coordinator: forget. */
  for (psvc_doubt *d = s->doubt_list, *next; d; d = next) {
    next = d->next;
    if (d->seen != gen && !d->in_flight) doubt_drop(s, d);
  }
}

static void on_resolve_timer(uv_timer_t *t) {
  psvc *s = t->data;
  if (s->stopping) return;
  sweep(s);
  psvc_sweep_silent(s);
}

int psvc_resolve_start(psvc *s, syn_err *err) {
  (void)err;
  uv_timer_init(s->loop, &s->resolve_timer);
  s->resolve_timer.data = s;
  s->resolve_timer_init = 1;
  /* First sweep on the loop's first turn (start-up recovery), then every
  ** poll interval. */
  uv_timer_start(&s->resolve_timer, on_resolve_timer, 0, s->cfg.resolve_poll_ms);
  return 0;
}

void psvc_resolve_stop(psvc *s) {
  if (s->resolve_timer_init) {
    uv_timer_stop(&s->resolve_timer);
    uv_close((uv_handle_t *)&s->resolve_timer, NULL);
    s->resolve_timer_init = 0;
  }
  /* Fails the calls in flight (their callbacks see s->stopping). */
  for (size_t i = 0; i < s->ncoords; i++) {
    if (s->clients[i]) rpc_client_close(s->clients[i]);
    s->clients[i] = NULL;
  }
}

void psvc_resolve_free(psvc *s) {
  while (s->doubt_list) doubt_drop(s, s->doubt_list);
  u64map_free(&s->doubts);
}
