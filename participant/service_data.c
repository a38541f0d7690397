/*
** Scans, writes, and the queue of requests waiting for another
** transaction's decision.
**
** Waiting. The store never blocks: a write that finds a key locked by a
** live transaction, or a read that finds a prepared intent with
** prepare_ts <= its snapshot (Clock-SI, section 3.2), fails with SYN_EBUSY
** naming the blocker. Such a request is parked here, keyed by the blocker,
** until (a) the blocker is decided on this participant (psvc_wake, from
** commit/abort/one-phase and in-doubt resolution), when it is re-run, or
** (b) its wait_ms runs out, when it answers SYN_EBUSY with the blocker so
** the coordinator can record the waits-for edge and look for a deadlock.
** A re-run may meet another blocker; it then parks again for the time it
** has left. Requests parked on one blocker re-run in arrival order, so the
** first waiter gets the lock and the others queue behind it.
**
** Invariants: a parked request is in exactly one blocker list and in the
** list of all parked requests, and its timer runs; a request being re-run
** or answered is in neither. The queue is bounded (max_parked): beyond it a
** request answers SYN_EBUSY at once. A write re-run resumes after the ops
** recorded by earlier runs (store_write_batch records the ops before the
** failing one), so an INSERT is never applied twice.
*/
#include "participant/service_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rpc_methods.h"

/* ---- request objects ------------------------------------------------------ */

static psvc_req *req_new(psvc *s, rpc_call *call, int kind) {
  psvc_req *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->svc = s;
  r->call = call;
  r->kind = kind;
  psvc_arena_init(&r->arena);
  return r;
}

static void req_free_mem(psvc_req *r) {
  psvc_arena_free(&r->arena);
  free(r);
}

static void on_req_timer_closed(uv_handle_t *h) { req_free_mem(h->data); }

/* The request is answered (its call is gone): release it. */
static void req_retire(psvc_req *r) {
  if (r->timer_init) uv_close((uv_handle_t *)&r->timer, on_req_timer_closed);
  else req_free_mem(r);
}

/* ---- queue bookkeeping ---------------------------------------------------- */

static void unlink_parked(psvc *s, psvc_req *r) {
  if (!r->parked) return;
  /* blocker list */
  if (r->bprev) {
    r->bprev->bnext = r->bnext;
  } else if (r->bnext) {
    /* Delete then insert: the map held this key, so the insert finds room
    ** without growing and cannot fail (a plain replace might try to grow). */
    u64map_del(&s->by_blocker, r->blocker);
    u64map_put(&s->by_blocker, r->blocker, r->bnext);
  } else {
    u64map_del(&s->by_blocker, r->blocker);
  }
  if (r->bnext) r->bnext->bprev = r->bprev;
  r->bnext = r->bprev = NULL;
  /* all-parked list */
  if (r->prev) r->prev->next = r->next;
  else s->parked = r->next;
  if (r->next) r->next->prev = r->prev;
  r->next = r->prev = NULL;
  r->parked = 0;
  s->nparked--;
  uv_timer_stop(&r->timer);
}

static void on_req_timeout(uv_timer_t *t);

/* Park r on blocker for the rest of its time. 0, or SYN_EBUSY when the
** queue is full or no time is left (the caller answers EBUSY), SYN_ENOMEM. */
static int park(psvc *s, psvc_req *r, uint64_t blocker) {
  uint64_t now = uv_now(s->loop);
  if (s->stopping || r->deadline <= now) return SYN_EBUSY;
  if (s->nparked >= s->cfg.max_parked) {
    /* Once per episode, not per refused request: the queue stays full
    ** under exactly the load that would flood the log. */
    if (!s->queue_full_logged)
      SYN_LOG_WARN(NULL, "participant: wait queue full (%u requests); answering busy at once",
                   s->nparked);
    s->queue_full_logged = 1;
    return SYN_EBUSY;
  }
  if (s->nparked < s->cfg.max_parked / 2) s->queue_full_logged = 0;
  psvc_req *head = u64map_get(&s->by_blocker, blocker);
  if (!head) {
    if (u64map_put(&s->by_blocker, blocker, r) < 0) return SYN_ENOMEM;
  } else {
    psvc_req *tail = head;
    while (tail->bnext) tail = tail->bnext;
    tail->bnext = r;
    r->bprev = tail;
  }
  r->blocker = blocker;
  r->next = s->parked;
  if (s->parked) s->parked->prev = r;
  s->parked = r;
  r->parked = 1;
  s->nparked++;
  if (!r->timer_init) {
    uv_timer_init(s->loop, &r->timer);
    r->timer.data = r;
    r->timer_init = 1;
  }
  uv_timer_start(&r->timer, on_req_timeout, r->deadline - now, 0);
  return 0;
}

/* ---- scan ------------------------------------------------------------------- */

typedef struct scan_out {
  psvc_arena *a;
  Synod__Part__Row **rows;
  size_t n, cap;
  size_t bytes, budget;
  int oom;
} scan_out;

static int on_row(void *ud, const store_row *row) {
  scan_out *o = ud;
  psvc_arena *a = o->a;
  if (o->n == o->cap) return 1; /* cannot happen: limit == cap */
  Synod__Part__Row *r = psvc_arena_alloc(a, sizeof *r);
  Synod__Part__Value *vals = NULL;
  Synod__Part__Value **pv = NULL;
  if (row->ncols > 0) {
    vals = psvc_arena_alloc(a, (size_t)row->ncols * sizeof *vals);
    pv = psvc_arena_alloc(a, (size_t)row->ncols * sizeof *pv);
  }
  uint8_t *key = row->key_len ? psvc_arena_alloc(a, row->key_len) : NULL;
  if (!r || (row->ncols > 0 && (!vals || !pv)) || (row->key_len && !key)) goto oom;
  synod__part__row__init(r);
  if (row->key_len) memcpy(key, row->key, row->key_len);
  r->key.data = key;
  r->key.len = row->key_len;
  for (int i = 0; i < row->ncols; i++) {
    if (psvc_value_to_pb(a, &row->vals[i], &vals[i]) < 0) goto oom;
    pv[i] = &vals[i];
  }
  r->n_vals = (size_t)row->ncols;
  r->vals = pv;
  r->commit_ts = row->commit_ts;
  r->rowid = row->rowid;
  o->rows[o->n++] = r;
  /* Exact encoded size plus the field's tag and length prefix. */
  o->bytes += synod__part__row__get_packed_size(r) + 6;
  return o->bytes >= o->budget ? 1 : 0;
oom:
  o->oom = 1;
  return SYN_ENOMEM;
}

/* Run the scan once. Returns 0 when r was answered, or SYN_EBUSY with
** *blocker when it must wait (nothing sent). */
static int scan_run(psvc *s, psvc_req *r, uint64_t *blocker) {
  Synod__Part__ScanRequest *q = r->scan;
  psvc_arena *a = &r->arena;
  psvc_arena_mark mark = psvc_arena_save(a);
  Synod__Part__ScanResponse resp = SYNOD__PART__SCAN_RESPONSE__INIT;
  Synod__Part__Status status;
  store_info info;
  syn_err err;
  memset(&info, 0, sizeof info);
  syn_err_clear(&err);
  uint32_t limit = q->limit && q->limit < s->cfg.scan_rows ? q->limit : s->cfg.scan_rows;
  scan_out o = {.a = a, .cap = q->n_key ? 1 : limit, .budget = s->cfg.scan_bytes};
  o.rows = psvc_arena_alloc(a, o.cap * sizeof *o.rows);
  int rc;
  if (!o.rows) {
    rc = syn_err_set(&err, SYN_ENOMEM, "participant: out of memory for a scan batch");
  } else if (q->n_key) {
    int found = 0;
    rc = store_get(s->st, q->table_id, r->key, (int)q->n_key, q->snapshot_ts, q->txn, on_row,
                   &o, &found, &info, &err);
    if (rc == 0 && found && o.n == 1) resp.last_key = o.rows[0]->key;
  } else {
    store_scan_opts so = {
        .snapshot_ts = q->snapshot_ts,
        .txn = q->txn,
        .filter = q->filter && q->filter[0] ? q->filter : NULL,
        .params = r->params,
        .nparams = (int)q->n_params,
        .limit = limit,
        .after_key = q->has_after_key ? q->after_key.data : NULL,
        .after_key_len = q->has_after_key ? q->after_key.len : 0,
    };
    /* An empty resume cursor still means "after the empty key". */
    static const uint8_t empty = 0;
    if (q->has_after_key && !so.after_key) so.after_key = &empty;
    store_scan_result res;
    memset(&res, 0, sizeof res);
    rc = store_scan(s->st, q->table_id, &so, on_row, &o, &res, &info, &err);
    if (rc == 0) {
      resp.more = res.more;
      if (res.last_key_len) {
        uint8_t *k = psvc_arena_alloc(a, res.last_key_len);
        if (!k) {
          rc = syn_err_set(&err, SYN_ENOMEM, "participant: out of memory for a scan batch");
        } else {
          memcpy(k, res.last_key, res.last_key_len);
          resp.last_key.data = k;
          resp.last_key.len = res.last_key_len;
        }
      }
    }
  }
  if (o.oom && rc != SYN_ENOMEM)
    rc = syn_err_set(&err, SYN_ENOMEM, "participant: out of memory for a scan batch");
  if (rc == SYN_EBUSY && info.blocker) {
    psvc_arena_restore(a, mark); /* the partial batch is discarded */
    *blocker = info.blocker;
    return SYN_EBUSY;
  }
  if (rc == 0) {
    resp.rows = o.rows;
    resp.n_rows = o.n;
  } else {
    /* The store says rows passed before an error must be discarded. */
    resp.more = 0;
    resp.last_key.len = 0;
  }
  if (psvc_status_fill(a, &status, rc, &info, &err) < 0) {
    rpc_reply_error(r->call, SYN_ENOMEM, "participant: out of memory");
    return 0;
  }
  resp.status = &status;
  psvc_reply_msg(r->call, a, &resp.base);
  return 0;
}

/* ---- write -------------------------------------------------------------------- */

static void write_reply(psvc_req *r, int rc, uint32_t done, const store_info *info,
                        const syn_err *err) {
  Synod__Part__WriteResponse resp = SYNOD__PART__WRITE_RESPONSE__INIT;
  Synod__Part__Status status;
  if (psvc_status_fill(&r->arena, &status, rc, info, err) < 0) {
    rpc_reply_error(r->call, SYN_ENOMEM, "participant: out of memory");
    return;
  }
  resp.status = &status;
  resp.done = done;
  psvc_reply_msg(r->call, &r->arena, &resp.base);
}

static int write_run(psvc *s, psvc_req *r, uint64_t *blocker) {
  Synod__Part__WriteRequest *q = r->write;
  store_info info;
  syn_err err;
  memset(&info, 0, sizeof info);
  syn_err_clear(&err);
  int n = (int)q->n_ops - (int)r->done;
  int done = 0, rc = 0;
  if (psvc_txn_from_past_life(s, q->txn)) {
    /* Checked on every run, re-runs included: a write parked before
    ** ABORT_ACTIVE must not take a lock for a txn that can never finish. */
    syn_err_set(&err, SYN_ECLOSED, "participant: txn %llu is from a previous life of "
                "coordinator c%u (aborted by ABORT_ACTIVE)", (unsigned long long)q->txn,
                SYN_TXN_COORD(q->txn));
    write_reply(r, SYN_ECLOSED, r->done, NULL, &err);
    return 0;
  }
  if (n > 0)
    rc = store_write_batch(s->st, q->txn, q->table_id, r->ops + r->done, n, q->snapshot_ts,
                           &done, &info, &err);
  r->done += (uint32_t)done;
  if (rc == SYN_EBUSY && info.blocker) {
    *blocker = info.blocker;
    return SYN_EBUSY;
  }
  write_reply(r, rc, r->done, &info, &err);
  return 0;
}

/* ---- run, park, answer ---------------------------------------------------------- */

static void busy_reply(psvc_req *r) {
  store_info info;
  syn_err err;
  memset(&info, 0, sizeof info);
  info.blocker = r->blocker;
  syn_err_set(&err, SYN_EBUSY, "participant: txn %llu is in the way (no decision within "
              "the request's wait)", (unsigned long long)r->blocker);
  if (r->kind == PSVC_REQ_WRITE) {
    write_reply(r, SYN_EBUSY, r->done, &info, &err);
  } else {
    Synod__Part__ScanResponse resp = SYNOD__PART__SCAN_RESPONSE__INIT;
    Synod__Part__Status status;
    if (psvc_status_fill(&r->arena, &status, SYN_EBUSY, &info, &err) < 0) {
      rpc_reply_error(r->call, SYN_ENOMEM, "participant: out of memory");
      return;
    }
    resp.status = &status;
    psvc_reply_msg(r->call, &r->arena, &resp.base);
  }
}

/* Run r; answer it or park it. r must not be parked. */
static void req_run(psvc *s, psvc_req *r) {
  uint64_t blocker = 0;
  int rc = r->kind == PSVC_REQ_SCAN ? scan_run(s, r, &blocker) : write_run(s, r, &blocker);
  if (rc == 0) {
    req_retire(r);
    return;
  }
  r->blocker = blocker;
  if (park(s, r, blocker) == 0) return;
  busy_reply(r);
  req_retire(r);
}

static void on_req_timeout(uv_timer_t *t) {
  psvc_req *r = t->data;
  psvc *s = r->svc;
  unlink_parked(s, r);
  busy_reply(r);
  req_retire(r);
}

void psvc_wake(psvc *s, uint64_t txn, int aborted) {
  if (s->nparked == 0) return;
  /* Detach the whole list first: re-runs may park again (on other
  ** blockers), which must not touch the list being walked. */
  psvc_req *r = u64map_del(&s->by_blocker, txn);
  psvc_req *ready = NULL, **tail = &ready;
  while (r) {
    psvc_req *next = r->bnext;
    r->bprev = r->bnext = NULL;
    if (r->prev) r->prev->next = r->next;
    else s->parked = r->next;
    if (r->next) r->next->prev = r->prev;
    r->next = r->prev = NULL;
    r->parked = 0;
    s->nparked--;
    uv_timer_stop(&r->timer);
    *tail = r;
    tail = &r->bnext; /* reuse bnext as the to-do link */
    r = next;
  }
  if (aborted) {
    /* Writes of the aborted txn itself fail at once (SYN_ECLOSED) rather
    ** than wait for their own blocker. */
    for (psvc_req *p = s->parked, *next; p; p = next) {
      next = p->next;
      if (p->kind != PSVC_REQ_WRITE || p->txn != txn) continue;
      unlink_parked(s, p);
      *tail = p;
      tail = &p->bnext;
    }
  }
  while (ready) {
    psvc_req *next = ready->bnext;
    ready->bnext = NULL;
    req_run(s, ready);
    ready = next;
  }
}

void psvc_unpark_all(psvc *s) {
  while (s->parked) {
    psvc_req *r = s->parked;
    unlink_parked(s, r);
    rpc_reply_error(r->call, SYN_ECLOSED, "participant stopping");
    req_retire(r);
  }
}

/* ---- handlers --------------------------------------------------------------------- */

static uint32_t wait_budget(psvc *s, uint32_t wait_ms) {
  return wait_ms < s->cfg.max_wait_ms ? wait_ms : s->cfg.max_wait_ms;
}

void psvc_on_scan(rpc_call *call, const uint8_t *p, size_t n, void *ud) {
  psvc *s = ud;
  if (s->stopping) {
    rpc_reply_error(call, SYN_ECLOSED, "participant stopping");
    return;
  }
  psvc_req *r = req_new(s, call, PSVC_REQ_SCAN);
  if (!r) {
    rpc_reply_error(call, SYN_ENOMEM, "participant: out of memory");
    return;
  }
  r->scan = synod__part__scan_request__unpack(&r->arena.pa, n, p);
  if (!r->scan) {
    psvc_reply_undecodable(call, "scan");
    req_free_mem(r);
    return;
  }
  Synod__Part__ScanRequest *q = r->scan;
  r->txn = q->txn;
  r->deadline = uv_now(s->loop) + wait_budget(s, q->wait_ms);
  syn_err err;
  syn_err_clear(&err);
  int rc = psvc_values_from_pb(&r->arena, q->params, q->n_params, &r->params);
  if (rc == 0) rc = psvc_values_from_pb(&r->arena, q->key, q->n_key, &r->key);
  if (rc < 0) syn_err_set(&err, rc, "participant: scan request too large");
  if (rc == 0 && q->n_params > STORE_MAX_FILTER_PARAMS)
    rc = syn_err_set(&err, SYN_EINVAL, "participant: more than %d filter parameters",
                     STORE_MAX_FILTER_PARAMS);
  /* Clock-SI: advance the clock to the snapshot before serving it, so
  ** nothing prepared here afterwards gets a prepare_ts <= snapshot_ts. A
  ** snapshot beyond the max offset is refused and leaves the clock alone. */
  if (rc == 0) rc = node_clock_update(s->clock, q->snapshot_ts, NULL, &err);
  if (rc < 0) {
    Synod__Part__ScanResponse resp = SYNOD__PART__SCAN_RESPONSE__INIT;
    Synod__Part__Status status;
    if (psvc_status_fill(&r->arena, &status, rc, NULL, &err) < 0) {
      rpc_reply_error(call, SYN_ENOMEM, "participant: out of memory");
    } else {
      resp.status = &status;
      psvc_reply_msg(call, &r->arena, &resp.base);
    }
    req_free_mem(r);
    return;
  }
  req_run(s, r);
}

void psvc_on_write(rpc_call *call, const uint8_t *p, size_t n, void *ud) {
  psvc *s = ud;
  if (s->stopping) {
    rpc_reply_error(call, SYN_ECLOSED, "participant stopping");
    return;
  }
  psvc_req *r = req_new(s, call, PSVC_REQ_WRITE);
  if (!r) {
    rpc_reply_error(call, SYN_ENOMEM, "participant: out of memory");
    return;
  }
  r->write = synod__part__write_request__unpack(&r->arena.pa, n, p);
  if (!r->write) {
    psvc_reply_undecodable(call, "write");
    req_free_mem(r);
    return;
  }
  Synod__Part__WriteRequest *q = r->write;
  r->txn = q->txn;
  psvc_heard_txn(s, q->txn);
  r->deadline = uv_now(s->loop) + wait_budget(s, q->wait_ms);
  syn_err err;
  syn_err_clear(&err);
  int rc = 0;
  if (q->n_ops > (size_t)INT32_MAX / 2)
    rc = syn_err_set(&err, SYN_ERANGE, "participant: too many write ops");
  if (rc == 0 && q->n_ops) {
    r->ops = psvc_arena_alloc(&r->arena, q->n_ops * sizeof *r->ops);
    if (!r->ops) rc = syn_err_set(&err, SYN_ENOMEM, "participant: write request too large");
  }
  for (size_t i = 0; rc == 0 && i < q->n_ops; i++) {
    const Synod__Part__WriteOp *op = q->ops[i];
    store_write_op *o = &r->ops[i];
    if (op->mode < STORE_INSERT || op->mode > STORE_LOCK) {
      rc = syn_err_set(&err, SYN_EINVAL, "participant: op %zu has bad mode %d", i,
                       (int)op->mode);
      break;
    }
    o->mode = (store_write_mode)op->mode;
    syn_value *k = NULL, *row = NULL;
    rc = psvc_values_from_pb(&r->arena, op->key, op->n_key, &k);
    if (rc == 0) rc = psvc_values_from_pb(&r->arena, op->row, op->n_row, &row);
    if (rc < 0) {
      syn_err_set(&err, rc, "participant: write request too large");
      break;
    }
    o->key = k;
    o->nkey = (int)op->n_key;
    o->row = row;
    o->nrow = (int)op->n_row;
  }
  if (rc < 0) {
    write_reply(r, rc, 0, NULL, &err);
    req_free_mem(r);
    return;
  }
  req_run(s, r);
}
