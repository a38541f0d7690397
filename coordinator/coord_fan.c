/*
** Fan-out of packed requests to participants, on the loop thread.
**
** A fan_op holds one packed request per target participant, owned by the
** op (packed on the worker before the op is queued), so nothing here
** points into a worker's stack. Every request is sent at once; the op
** finishes when each has settled. Retry policies by kind:
**   FAN_SCAN   SYN_EBUSY (a prepared blocker, Clock-SI) is asked again until
**              the read wait deadline; the caller reads the last answer.
**   FAN_WRITE  SYN_EBUSY carries the lock holder: waits-for edge, cycle ->
**              CL_EDEADLOCK, else ask again for the ops not yet done, until
**              the lock timeout; any other failure fails the op (after every
**              request has settled).
**   FAN_TXN    no retry; the caller reads each answer (DDL).
** Also here: ABORT to the participants a transaction wrote, with
** background retries.
*/
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rpc_methods.h"
#include "coordinator/coord_fan.h"

static void ltxn_mark_written(coord_ltxn *lt, int part) {
  for (int i = 0; i < lt->nwritten; i++)
    if (lt->written[i] == (uint32_t)part) return;
  if (lt->nwritten < COORD_MAX_PARTS) lt->written[lt->nwritten++] = (uint32_t)part;
}

static void fan_dtor(coord_op *op) {
  fan_op *f = (fan_op *)op;
  for (int i = 0; i < f->n; i++) {
    free(f->reqs[i].req);
    free(f->reqs[i].resp);
  }
  free(f->reqs);
}

fan_op *coord_fan_new(fan_kind kind, uint32_t method, int n) {
  fan_op *f = coord_op_new(sizeof *f, NULL, fan_dtor);
  if (!f) return NULL;
  f->reqs = calloc((size_t)(n ? n : 1), sizeof *f->reqs);
  if (!f->reqs) {
    free(f);
    return NULL;
  }
  f->kind = kind;
  f->method = method;
  f->n = n;
  for (int i = 0; i < n; i++) {
    f->reqs[i].owner = f;
    f->reqs[i].part = -1;
  }
  return f;
}

static void fan_send(fan_req *r);

static void fan_req_settle(fan_req *r) {
  fan_op *f = r->owner;
  r->inflight = false;
  if (--f->pending == 0) {
    if (f->kind == FAN_WRITE) coord_wfg_clear(f->op.cl->wfg, f->txn);
    coord_op_done(&f->op, f->fail, f->fail ? &f->fail_err : NULL);
  }
}

static void fan_retry(void *ud, bool cancelled) {
  fan_req *r = ud;
  if (cancelled) {
    r->status = SYN_ECLOSED;
    syn_err_set(&r->err, SYN_ECLOSED, "08006: coordinator is shutting down");
    fan_req_settle(r);
    return;
  }
  fan_send(r);
}

static void fan_again(fan_req *r, uint32_t delay_ms) {
  if (coord_retry_after(r->owner->op.cl, delay_ms, fan_retry, r) < 0) {
    r->status = SYN_ECLOSED;
    syn_err_set(&r->err, SYN_ECLOSED, "08006: coordinator is shutting down");
    fan_req_settle(r);
  }
}

/* Drop the first k ops of a packed WriteRequest (they were recorded). */
static int write_req_skip(fan_req *r, uint32_t k) {
  if (k == 0) return 0;
  Synod__Part__WriteRequest *w = synod__part__write_request__unpack(NULL, r->len, r->req);
  if (!w) return SYN_EINTERNAL;
  if (k > w->n_ops) k = (uint32_t)w->n_ops;
  Synod__Part__WriteOp **saved = w->ops;
  size_t saved_n = w->n_ops;
  w->ops = saved + k;
  w->n_ops = saved_n - k;
  size_t len = synod__part__write_request__get_packed_size(w);
  uint8_t *buf = malloc(len ? len : 1);
  int rc = buf ? 0 : SYN_ENOMEM;
  if (buf) synod__part__write_request__pack(w, buf);
  w->ops = saved;
  w->n_ops = saved_n;
  synod__part__write_request__free_unpacked(w, NULL);
  if (rc < 0) return rc;
  free(r->req);
  r->req = buf;
  r->len = len;
  return 0;
}

static void write_fail(fan_op *f, int code, const syn_err *e) {
  if (f->fail) return;
  f->fail = code;
  f->fail_err = *e;
}

/* Before waiting again: has the statement been cancelled or timed out?
** Checked once per participant wait (WriteRequest.wait_ms for locks, a few
** ms for prepared blockers), which bounds how late a cancel takes effect. */
static bool fan_interrupted(fan_op *f, syn_err *e) {
  if (!f->interrupt || !f->interrupt(f->interrupt_ud)) return false;
  syn_err_set(e, SYN_ETIMEDOUT, "57014: canceling statement due to user request");
  return true;
}

static void on_fan_resp(int status, const uint8_t *payload, size_t len, const syn_err *rerr,
                        void *ud) {
  fan_req *r = ud;
  fan_op *f = r->owner;
  cl_cluster *cl = f->op.cl;
  coord_part *p = &cl->parts[r->part];
  free(r->resp);
  r->resp = NULL;
  r->resp_len = 0;
  if (status < 0) {
    r->status = coord_unavailable(p, status, rerr, &r->err);
    if (f->kind == FAN_WRITE) write_fail(f, r->status, &r->err);
    fan_req_settle(r);
    return;
  }
  r->status = 0;
  if (f->kind == FAN_SCAN) {
    Synod__Part__ScanResponse *sr = synod__part__scan_response__unpack(NULL, len, payload);
    if (sr && sr->status && sr->status->code == SYN_EBUSY && !cl->closed &&
        coord_now_ms(cl) < f->deadline_ms) {
      synod__part__scan_response__free_unpacked(sr, NULL);
      if (fan_interrupted(f, &r->err)) {
        r->status = SYN_ETIMEDOUT;
        fan_req_settle(r);
        return;
      }
      fan_again(r, 5);
      return;
    }
    if (sr) synod__part__scan_response__free_unpacked(sr, NULL);
  } else if (f->kind == FAN_WRITE) {
    Synod__Part__WriteResponse *wr = synod__part__write_response__unpack(NULL, len, payload);
    if (!wr) {
      syn_err_set(&r->err, SYN_EREMOTE, "participant %s: write response does not decode",
                  p->name);
      write_fail(f, SYN_EREMOTE, &r->err);
      fan_req_settle(r);
      return;
    }
    int code = wr->status ? wr->status->code : 0;
    uint64_t blocker = wr->status ? wr->status->blocker : 0;
    uint32_t done = wr->done;
    syn_err e;
    if (code == SYN_EBUSY && !f->fail && !cl->closed) {
      synod__part__write_response__free_unpacked(wr, NULL);
      if (blocker) {
        int cyc = coord_wfg_wait(cl->wfg, f->txn, blocker);
        if (cyc == 1) {
          syn_err_set(&e, CL_EDEADLOCK,
                      "40P01: deadlock detected: transaction %llx waits for %llx, which "
                      "waits for it", (unsigned long long)f->txn, (unsigned long long)blocker);
          write_fail(f, CL_EDEADLOCK, &e);
          fan_req_settle(r);
          return;
        }
      }
      if (coord_now_ms(cl) >= f->deadline_ms) {
        syn_err_set(&e, SYN_ETIMEDOUT,
                    "55P03: lock timeout: row locked by transaction %llx on participant %s",
                    (unsigned long long)blocker, p->name);
        write_fail(f, SYN_ETIMEDOUT, &e);
        fan_req_settle(r);
        return;
      }
      if (fan_interrupted(f, &e)) {
        coord_wfg_clear(cl->wfg, f->txn);
        write_fail(f, SYN_ETIMEDOUT, &e);
        fan_req_settle(r);
        return;
      }
      if (write_req_skip(r, done) < 0) {
        syn_err_set(&e, SYN_EINTERNAL, "cannot re-pack write request");
        write_fail(f, SYN_EINTERNAL, &e);
        fan_req_settle(r);
        return;
      }
      fan_again(r, 1);
      return;
    }
    if (code != 0) {
      int rc = coord_status_to_err(p, wr->status, &e);
      write_fail(f, rc, &e);
    }
    synod__part__write_response__free_unpacked(wr, NULL);
    fan_req_settle(r);
    return;
  }
  r->resp = malloc(len ? len : 1);
  if (!r->resp) {
    r->status = syn_err_set(&r->err, SYN_ENOMEM, "response copy");
  } else {
    memcpy(r->resp, payload, len);
    r->resp_len = len;
  }
  fan_req_settle(r);
}

static void fan_send(fan_req *r) {
  fan_op *f = r->owner;
  cl_cluster *cl = f->op.cl;
  coord_part *p = &cl->parts[r->part];
  if (cl->closed || !p->rpc) {
    r->status = SYN_ECLOSED;
    syn_err_set(&r->err, SYN_ECLOSED, "08006: coordinator is shutting down");
    if (f->kind == FAN_WRITE) write_fail(f, SYN_ECLOSED, &r->err);
    fan_req_settle(r);
    return;
  }
  syn_err e;
  r->inflight = true;
  int rc = rpc_client_call(p->rpc, f->method, r->req, r->len, f->timeout_ms, on_fan_resp, r, &e);
  if (rc < 0) {
    r->status = coord_unavailable(p, rc, &e, &r->err);
    if (f->kind == FAN_WRITE) write_fail(f, r->status, &r->err);
    fan_req_settle(r);
  }
}

void coord_fan_run(coord_op *op) {
  fan_op *f = (fan_op *)op;
  cl_cluster *cl = op->cl;
  if (f->kind == FAN_WRITE) {
    coord_ltxn *lt = coord_ltxn_get(cl, f->txn);
    if (!lt) {
      syn_err e;
      syn_err_set(&e, SYN_EINVAL, "transaction %llx is not active", (unsigned long long)f->txn);
      coord_op_done(op, SYN_EINVAL, &e);
      return;
    }
    /* Written before the request leaves: even a failed write may have
    ** taken locks, and commit/rollback must reach that participant. */
    for (int i = 0; i < f->n; i++) ltxn_mark_written(lt, f->reqs[i].part);
  }
  uint32_t wait = f->kind == FAN_SCAN ? cl->read_wait_ms : cl->lock_timeout_ms;
  f->deadline_ms = coord_now_ms(cl) + wait;
  f->pending = f->n;
  if (f->n == 0) {
    coord_op_done(op, 0, NULL);
    return;
  }
  /* Send all first: a send that fails at once settles its request, and
  ** the op must not finish before every request was started. */
  f->pending++;
  for (int i = 0; i < f->n; i++) fan_send(&f->reqs[i]);
  if (--f->pending == 0) {
    if (f->kind == FAN_WRITE) coord_wfg_clear(cl->wfg, f->txn);
    coord_op_done(op, f->fail, f->fail ? &f->fail_err : NULL);
  }
}

/* ---- aborts ----------------------------------------------------------------- */

typedef struct abort_ctx {
  cl_cluster *cl;
  uint64_t txn;
  int part;
  uint32_t delay_ms;
  uint64_t give_up_ms;
  coord_op *op; /* the rollback waiting for the first answer, or NULL */
} abort_ctx;

static void abort_send(abort_ctx *a);

static void abort_first_settled(abort_ctx *a) {
  coord_op *op = a->op;
  a->op = NULL;
  if (!op) return;
  fan_op *f = (fan_op *)op;
  if (--f->pending == 0) coord_op_done(op, 0, NULL);
}

static void abort_retry(void *ud, bool cancelled) {
  abort_ctx *a = ud;
  if (cancelled) {
    abort_first_settled(a);
    free(a);
    return;
  }
  abort_send(a);
}

static void on_abort_resp(int status, const uint8_t *payload, size_t len, const syn_err *rerr,
                          void *ud) {
  abort_ctx *a = ud;
  cl_cluster *cl = a->cl;
  int code = status;
  if (status == 0) {
    Synod__Part__TxnResponse *tr = synod__part__txn_response__unpack(NULL, len, payload);
    code = tr ? (tr->status ? tr->status->code : 0) : SYN_EREMOTE;
    if (tr) {
      coord_hlc_observe(cl, tr->hlc);
      synod__part__txn_response__free_unpacked(tr, NULL);
    }
  }
  abort_first_settled(a);
  /* A participant that cannot be reached keeps the intents (locks) until
  ** it hears ABORT or restarts (recovery drops unprepared intents), so keep
  ** asking for a while. A refusal (e.g. the txn committed there) is final. */
  bool transport = status < 0;
  if (transport && !cl->closed && coord_now_ms(cl) < a->give_up_ms) {
    a->delay_ms = a->delay_ms < 1000 ? a->delay_ms * 2 : 1000;
    if (coord_retry_after(cl, a->delay_ms, abort_retry, a) == 0) return;
  } else if (code < 0) {
    SYN_LOG_WARN(NULL, "abort of %llx at %s: %s", (unsigned long long)a->txn,
                 cl->parts[a->part].name, rerr ? rerr->msg : syn_strerror(code));
  }
  free(a);
}

static void abort_send(abort_ctx *a) {
  cl_cluster *cl = a->cl;
  coord_part *p = &cl->parts[a->part];
  Synod__Part__TxnRequest rq = SYNOD__PART__TXN_REQUEST__INIT;
  rq.txn = a->txn;
  uint64_t now = 0;
  syn_err e;
  if (coord_hlc_now(cl, &now, &e) == 0) rq.hlc = now;
  uint8_t buf[64];
  size_t len = synod__part__txn_request__pack(&rq, buf);
  if (cl->closed || !p->rpc ||
      rpc_client_call(p->rpc, SYN_M_PART_ABORT, buf, len, cl->rpc_timeout_ms, on_abort_resp, a,
                      &e) < 0) {
    abort_first_settled(a);
    free(a);
  }
}

void coord_send_aborts_op(cl_cluster *cl, uint64_t txn, const uint32_t *parts, int n,
                           coord_op *op) {
  fan_op *f = (fan_op *)op;
  if (f) f->pending = n + 1;
  for (int i = 0; i < n; i++) {
    abort_ctx *a = calloc(1, sizeof *a);
    if (!a) {
      if (f) f->pending--;
      continue;
    }
    *a = (abort_ctx){.cl = cl, .txn = txn, .part = (int)parts[i], .delay_ms = 50,
                     .give_up_ms = coord_now_ms(cl) + 30000, .op = op};
    abort_send(a);
  }
  if (f && --f->pending == 0) coord_op_done(op, 0, NULL);
}

void coord_send_aborts(cl_cluster *cl, uint64_t txn, const uint32_t *parts, int n) {
  coord_send_aborts_op(cl, txn, parts, n, NULL);
}

/* ---- DDL fan-out ------------------------------------------------------------- */

int coord_ddl_fanout(cl_cluster *cl, const uint8_t *req, size_t len, uint64_t mask, int *codes,
                     syn_err *first_err) {
  int n = 0;
  for (int i = 0; i < cl->nparts; i++) n += (mask >> i) & 1;
  fan_op *f = coord_fan_new(FAN_TXN, SYN_M_PART_DDL, n);
  if (!f) return syn_err_set(first_err, SYN_ENOMEM, "ddl");
  f->op.run = coord_fan_run;
  f->timeout_ms = cl->rpc_timeout_ms;
  int rc = 0;
  for (int i = 0, k = 0; i < cl->nparts; i++) {
    if (!((mask >> i) & 1)) continue;
    f->reqs[k].part = i;
    f->reqs[k].req = malloc(len ? len : 1);
    if (!f->reqs[k].req) rc = SYN_ENOMEM;
    else memcpy(f->reqs[k].req, req, len);
    f->reqs[k].len = len;
    k++;
  }
  if (rc < 0) {
    coord_op_put(&f->op);
    return syn_err_set(first_err, rc, "ddl");
  }
  syn_err e;
  rc = coord_op_exec(cl, &f->op, &e);
  if (rc < 0) {
    /* The bridge failed (shutdown): nobody is known to have applied it. */
    for (int k = 0; k < f->n; k++) codes[f->reqs[k].part] = rc;
    coord_op_put(&f->op);
    if (first_err) *first_err = e;
    return rc;
  }
  int worst = 0;
  for (int k = 0; k < f->n; k++) {
    fan_req *r = &f->reqs[k];
    coord_part *p = &cl->parts[r->part];
    int code = r->status;
    syn_err pe = r->err;
    if (code == 0) {
      Synod__Part__DdlResponse *dr = synod__part__ddl_response__unpack(NULL, r->resp_len, r->resp);
      if (!dr) code = syn_err_set(&pe, SYN_EREMOTE, "participant %s: ddl response does not decode",
                                  p->name);
      else {
        if (dr->status && dr->status->code) code = coord_status_to_err(p, dr->status, &pe);
        synod__part__ddl_response__free_unpacked(dr, NULL);
      }
    }
    codes[r->part] = code;
    if (code < 0 && worst == 0) {
      worst = code;
      if (first_err) *first_err = pe;
    }
  }
  coord_op_put(&f->op);
  return worst;
}
