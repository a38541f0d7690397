/*
** In-doubt resolution: a transaction this participant holds prepared for
** longer than resolve_after_ms is asked about at its coordinator.
**
** Why: after voting YES the participant may neither commit nor abort on its
** own (the coordinator may have decided either way), and its intents keep
** their locks meanwhile. If the coordinator crashed or the decision was
** lost on the way, someone must ask. The coordinator answers from its
** decision record, and when it has none it records ABORT first ("first
** decision wins", docs/protocol.md), so a late COMMIT can no longer be
** chosen. Only the transaction's own coordinator, c<N> with N =
** SYN_TXN_COORD(txn), may be asked: until the decision log is replicated,
** another coordinator's log has never seen the transaction and would
** record an ABORT that contradicts a COMMIT at c<N>.
**
** How: every resolve_poll_ms (and once at start) the sweep lists prepared
** transactions (store_prepared_list, which is also what survives a crash).
** Age is HLC-physical-now minus the physical part of prepare_ts, so a
** transaction prepared before a restart is in doubt at once. Each has at
** most one RESOLVE in flight; "unknown" answers, errors and timeouts retry
** after a backoff that doubles up to RESOLVE_BACKOFF_MAX_MS. Logging is
** once per transaction (first ask, first failure, the outcome), not per try.
*/
#include "participant/service_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rpc_methods.h"

#define RESOLVE_BACKOFF_MIN_MS 100u
#define RESOLVE_BACKOFF_MAX_MS 5000u
#define RESOLVE_CALL_TIMEOUT_MS 2000u

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

/* The client for coordinator c<N>, or NULL if --coordinators has none. */
static rpc_client *coord_client(psvc *s, unsigned n, const char **name, syn_err *err) {
  char want[16];
  snprintf(want, sizeof want, "c%u", n);
  for (size_t i = 0; i < s->ncoords; i++) {
    if (strcmp(s->coords[i].name, want) != 0) continue;
    *name = s->coords[i].name;
    if (!s->clients[i]) {
      rpc_opts o = {.node_name = s->name, .secret = s->cfg.secret,
                    .secret_len = s->cfg.secret_len};
      if (rpc_client_new(s->loop, s->coords[i].host, s->coords[i].port, &o, &s->clients[i],
                         err) < 0)
        return NULL;
    }
    return s->clients[i];
  }
  syn_err_set(err, SYN_ENOTFOUND, "no coordinator %s in --coordinators", want);
  return NULL;
}

static void fail_once(psvc_doubt *d, const char *what) {
  char cid[24];
  if (d->logged_fail) return;
  d->logged_fail = 1;
  SYN_LOG_WARN(cid_of(d->txn, cid, sizeof cid),
               "in-doubt txn not resolved yet: %s; retrying with backoff", what);
}

static void on_resolved(int status, const uint8_t *p, size_t n, const syn_err *rerr, void *ud) {
  psvc_doubt *d = ud;
  psvc *s = d->svc;
  d->in_flight = 0;
  if (s->stopping) return; /* clients closing: the store may not be used */
  char cid[24];
  cid_of(d->txn, cid, sizeof cid);
  if (status < 0) {
    fail_once(d, rerr ? rerr->msg : syn_strerror(status));
    doubt_retry_later(s, d);
    return;
  }
  Synod__Part__ResolveResponse *r = synod__part__resolve_response__unpack(NULL, n, p);
  if (!r) {
    fail_once(d, "the coordinator's answer does not decode");
    doubt_retry_later(s, d);
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
    fail_once(d, outcome == 0 ? "the coordinator has no decision yet"
                              : "the coordinator answered an unknown outcome");
    doubt_retry_later(s, d);
    return;
  }
  if (rc < 0) {
    char what[SYN_ERR_MSG_MAX + 64];
    snprintf(what, sizeof what, "applying %s failed: %s", outcome == 1 ? "COMMIT" : "ABORT",
             err.msg);
    fail_once(d, what);
    doubt_retry_later(s, d);
    return;
  }
  if (outcome == 1)
    SYN_LOG_INFO(cid, "in-doubt txn resolved: COMMIT at %llu", (unsigned long long)cts);
  else
    SYN_LOG_INFO(cid, "in-doubt txn resolved: ABORT");
  doubt_drop(s, d);
}

static void ask(psvc *s, psvc_doubt *d, uint64_t age_ms) {
  char cid[24];
  cid_of(d->txn, cid, sizeof cid);
  const char *cname = NULL;
  syn_err err;
  syn_err_clear(&err);
  rpc_client *c = coord_client(s, SYN_TXN_COORD(d->txn), &cname, &err);
  if (!d->logged_ask) {
    d->logged_ask = 1;
    SYN_LOG_INFO(cid, "txn prepared %llu ms ago is in doubt; asking %s",
                 (unsigned long long)age_ms, cname ? cname : "its coordinator");
  }
  if (!c) {
    fail_once(d, err.msg);
    doubt_retry_later(s, d);
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
    fail_once(d, err.msg);
    doubt_retry_later(s, d);
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
  if (!s->stopping) sweep(s);
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
