/*
** The loop bridge: worker threads call cl_* synchronously, the work runs on
** the coordinator's loop thread.
**
** A worker allocates a coord_op, queues it under qmu and signals the
** uv_async handle; the loop drains the queue and calls op->run, which
** starts RPCs and finishes later (from a callback) with coord_op_done. The
** worker sleeps on qcv until op->done.
**
** Bounded waits: every loop-side operation has its own deadlines (RPC
** timeouts, lock and read wait limits), so op->done normally comes well
** within them. As a last guard the worker gives up after
** COORD_BRIDGE_MAX_WAIT_MS: it marks the op abandoned and returns
** SYN_ETIMEDOUT. The op is reference-counted (worker + loop), so whichever
** side lets go last frees it; loop-side state never points into the
** worker's stack.
**
** Also here: the tick timer (2PC core timeouts and deferred retries) and the
** loop-side HLC helpers.
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "coordinator/coord_int.h"

void *coord_op_new(size_t size, void (*run)(coord_op *), void (*dtor)(coord_op *)) {
  coord_op *op = calloc(1, size);
  if (!op) return NULL;
  op->run = run;
  op->dtor = dtor;
  op->refs = 1;
  return op;
}

static void op_free(coord_op *op) {
  if (op->dtor) op->dtor(op);
  free(op);
}

void coord_op_put(coord_op *op) {
  if (!op) return;
  cl_cluster *cl = op->cl;
  bool last;
  if (cl) {
    pthread_mutex_lock(&cl->qmu);
    last = --op->refs == 0;
    pthread_mutex_unlock(&cl->qmu);
  } else {
    last = --op->refs == 0;
  }
  if (last) op_free(op);
}

int coord_op_exec(cl_cluster *cl, coord_op *op, syn_err *err) {
  op->cl = cl;
  pthread_mutex_lock(&cl->qmu);
  if (cl->qclosed) {
    pthread_mutex_unlock(&cl->qmu);
    return syn_err_set(err, SYN_ECLOSED, "08006: coordinator is shutting down");
  }
  op->refs++; /* the loop's reference */
  op->next = NULL;
  if (cl->qtail) cl->qtail->next = op;
  else cl->qhead = op;
  cl->qtail = op;
  pthread_mutex_unlock(&cl->qmu);
  uv_async_send(&cl->async);

  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += COORD_BRIDGE_MAX_WAIT_MS / 1000;
  pthread_mutex_lock(&cl->qmu);
  int w = 0;
  while (!op->done && w != ETIMEDOUT) w = pthread_cond_timedwait(&cl->qcv, &cl->qmu, &deadline);
  int rc;
  if (!op->done) {
    op->abandoned = true;
    rc = syn_err_set(err, SYN_ETIMEDOUT, "57014: cluster operation did not finish within %u ms",
                     COORD_BRIDGE_MAX_WAIT_MS);
  } else {
    rc = op->status;
    if (rc < 0 && err) *err = op->err;
  }
  pthread_mutex_unlock(&cl->qmu);
  return rc;
}

void coord_op_done(coord_op *op, int status, const syn_err *err) {
  cl_cluster *cl = op->cl;
  pthread_mutex_lock(&cl->qmu);
  op->status = status;
  if (status < 0) {
    if (err) op->err = *err;
    else syn_err_set(&op->err, status, "%s", syn_strerror(status));
  }
  op->done = true;
  bool last = --op->refs == 0;
  pthread_cond_broadcast(&cl->qcv);
  pthread_mutex_unlock(&cl->qmu);
  if (last) op_free(op);
}

static void on_async(uv_async_t *h) {
  cl_cluster *cl = h->data;
  pthread_mutex_lock(&cl->qmu);
  coord_op *list = cl->qhead;
  cl->qhead = cl->qtail = NULL;
  pthread_mutex_unlock(&cl->qmu);
  while (list) {
    coord_op *op = list;
    list = op->next;
    op->next = NULL;
    if (cl->closed) {
      syn_err e;
      syn_err_set(&e, SYN_ECLOSED, "08006: coordinator is shutting down");
      coord_op_done(op, SYN_ECLOSED, &e);
    } else {
      op->run(op);
    }
  }
}

/* ---- tick: 2PC timeouts and deferred retries ------------------------------ */

uint64_t coord_now_ms(cl_cluster *cl) { return uv_now(cl->loop); }

int coord_retry_after(cl_cluster *cl, uint32_t delay_ms, coord_retry_fn fn, void *ud) {
  if (cl->closed) return SYN_ECLOSED;
  coord_retry *r = malloc(sizeof *r);
  if (!r) return SYN_ENOMEM;
  r->due_ms = coord_now_ms(cl) + delay_ms;
  r->fn = fn;
  r->ud = ud;
  r->next = cl->retries;
  cl->retries = r;
  return 0;
}

static void on_tick(uv_timer_t *t) {
  cl_cluster *cl = t->data;
  uint64_t now = coord_now_ms(cl);
  if (cl->tpc) {
    tpc_tick(cl->tpc, now);
    coord_commit_tick(cl);
  }
  /* Take the due entries off the list before running any: a retry may
  ** schedule another. */
  coord_retry *due = NULL, **pp = &cl->retries;
  while (*pp) {
    coord_retry *r = *pp;
    if (r->due_ms <= now) {
      *pp = r->next;
      r->next = due;
      due = r;
    } else {
      pp = &r->next;
    }
  }
  while (due) {
    coord_retry *r = due;
    due = r->next;
    r->fn(r->ud, false);
    free(r);
  }
}

int coord_bridge_init(cl_cluster *cl, syn_err *err) {
  if (uv_async_init(cl->loop, &cl->async, on_async) < 0)
    return syn_err_set(err, SYN_EIO, "uv_async_init");
  cl->async.data = cl;
  cl->async_open = true;
  uv_timer_init(cl->loop, &cl->tick);
  cl->tick.data = cl;
  cl->tick_open = true;
  uv_timer_start(&cl->tick, on_tick, COORD_TICK_MS, COORD_TICK_MS);
  return 0;
}

void coord_bridge_close(cl_cluster *cl) {
  pthread_mutex_lock(&cl->qmu);
  cl->qclosed = true;
  coord_op *list = cl->qhead;
  cl->qhead = cl->qtail = NULL;
  pthread_mutex_unlock(&cl->qmu);
  syn_err e;
  syn_err_set(&e, SYN_ECLOSED, "08006: coordinator is shutting down");
  while (list) {
    coord_op *op = list;
    list = op->next;
    coord_op_done(op, SYN_ECLOSED, &e);
  }
  if (cl->async_open) {
    uv_close((uv_handle_t *)&cl->async, NULL);
    cl->async_open = false;
  }
  if (cl->tick_open) {
    uv_timer_stop(&cl->tick);
    uv_close((uv_handle_t *)&cl->tick, NULL);
    cl->tick_open = false;
  }
  /* Dropping deferred retries is what a crash does, and each is safe to
  ** lose (aborts are presumed, commits are re-driven from the decision log
  ** at the next start); cancelling lets ops waiting on them finish. */
  while (cl->retries) {
    coord_retry *r = cl->retries;
    cl->retries = r->next;
    r->fn(r->ud, true);
    free(r);
  }
}

/* ---- HLC ------------------------------------------------------------------- */

int coord_hlc_now(cl_cluster *cl, uint64_t *out, syn_err *err) {
  hlc_ts ts;
  int rc = node_clock_now(cl->clock, &ts, err);
  if (rc < 0) return rc;
  *out = ts;
  return 0;
}

void coord_hlc_observe(cl_cluster *cl, uint64_t ts) {
  if (!ts) return;
  hlc_ts out;
  syn_err e;
  /* A stamp beyond the offset bound is refused by the core and changes
  ** nothing; the commit it came with is still valid. */
  if (hlc_update(&cl->clock->clock, ts, &out, &e) < 0)
    SYN_LOG_DEBUG(NULL, "hlc update refused: %s", e.msg);
}
