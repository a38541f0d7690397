/*
** Background duties toward the participants (loop thread):
**
**   - ABORT_ACTIVE at start: transactions of this coordinator's previous
**     lives (index in the top 8 bits, id below this life's first id) that
**     were still active when it stopped can never prepare; without this
**     call their intents would hold write locks forever. Sent to every
**     participant, retried every second until each has answered ok.
**   - GC horizon every COORD_GC_INTERVAL_MS (also the heartbeat by which
**     participants tell a silent coordinator): the minimum of the HLC now and
**     the snapshot of every live transaction here. Every later snapshot is
**     taken from the HLC, so it is above the horizon too, which is what the
**     participant's GC needs (docs/protocol.md, SYN_M_PART_GC).
*/
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rpc_methods.h"
#include "coordinator/coord_int.h"

/* The reports double as this coordinator's heartbeat: a participant that
** hears none for 10 s aborts its ACTIVE transactions (participant/
** service_gc.c, "A silent coordinator"), so they come every second. */
#define COORD_GC_INTERVAL_MS 1000
#define COORD_ABORT_ACTIVE_RETRY_MS 1000

typedef struct maint_ctx {
  cl_cluster *cl;
  int part;
  uint64_t below;
} maint_ctx;

static void abort_active_send(maint_ctx *m);

static void abort_active_retry(void *ud, bool cancelled) {
  maint_ctx *m = ud;
  if (cancelled) {
    free(m);
    return;
  }
  abort_active_send(m);
}

static void on_abort_active(int status, const uint8_t *payload, size_t len, const syn_err *rerr,
                            void *ud) {
  maint_ctx *m = ud;
  cl_cluster *cl = m->cl;
  int code = status;
  uint32_t aborted = 0;
  if (status == 0) {
    Synod__Part__AbortActiveResponse *r =
        synod__part__abort_active_response__unpack(NULL, len, payload);
    code = r ? (r->status ? r->status->code : 0) : SYN_EREMOTE;
    if (r) {
      aborted = r->aborted;
      synod__part__abort_active_response__free_unpacked(r, NULL);
    }
  }
  if (code == 0) {
    if (aborted)
      SYN_LOG_INFO(NULL, "participant %s aborted %u transaction(s) of an earlier life",
                   cl->parts[m->part].name, aborted);
    free(m);
    return;
  }
  SYN_LOG_DEBUG(NULL, "abort-active at %s: %s", cl->parts[m->part].name,
                rerr ? rerr->msg : syn_strerror(code));
  if (coord_retry_after(cl, COORD_ABORT_ACTIVE_RETRY_MS, abort_active_retry, m) < 0) free(m);
}

static void abort_active_send(maint_ctx *m) {
  cl_cluster *cl = m->cl;
  coord_part *p = &cl->parts[m->part];
  Synod__Part__AbortActiveRequest rq = SYNOD__PART__ABORT_ACTIVE_REQUEST__INIT;
  rq.coordinator_index = cl->coord_index;
  rq.below_txn = m->below;
  uint8_t buf[64];
  size_t len = synod__part__abort_active_request__pack(&rq, buf);
  syn_err e;
  if (cl->closed || !p->rpc ||
      rpc_client_call(p->rpc, SYN_M_PART_ABORT_ACTIVE, buf, len, cl->rpc_timeout_ms,
                      on_abort_active, m, &e) < 0)
    free(m);
}

static void on_gc(int status, const uint8_t *payload, size_t len, const syn_err *rerr, void *ud) {
  (void)payload;
  (void)len;
  (void)ud;
  if (status < 0) SYN_LOG_DEBUG(NULL, "gc report: %s", rerr ? rerr->msg : syn_strerror(status));
}

static void gc_tick(void *ud, bool cancelled);

static void gc_report(cl_cluster *cl) {
  uint64_t horizon;
  syn_err e;
  if (coord_hlc_now(cl, &horizon, &e) < 0) return;
  for (size_t i = 0; i < cl->live.cap; i++) {
    if (!cl->live.used[i]) continue;
    coord_ltxn *lt = cl->live.vals[i];
    if (lt->snapshot && lt->snapshot < horizon) horizon = lt->snapshot;
  }
  Synod__Part__GcRequest rq = SYNOD__PART__GC_REQUEST__INIT;
  rq.coordinator = cl->name;
  rq.horizon = horizon;
  uint8_t buf[96];
  size_t len = synod__part__gc_request__pack(&rq, buf);
  for (int i = 0; i < cl->nparts; i++)
    if (cl->parts[i].rpc)
      rpc_client_call(cl->parts[i].rpc, SYN_M_PART_GC, buf, len, cl->rpc_timeout_ms, on_gc,
                      NULL, &e);
}

static void gc_tick(void *ud, bool cancelled) {
  cl_cluster *cl = ud;
  if (cancelled) return;
  gc_report(cl);
  coord_retry_after(cl, COORD_GC_INTERVAL_MS, gc_tick, cl);
}

int coord_maint_start(cl_cluster *cl, syn_err *err) {
  /* This life's ids are all >= the next one: a txn id below it with our
  ** index belongs to an earlier life. */
  uint64_t below = coord_ids_life_start(cl);
  for (int i = 0; i < cl->nparts; i++) {
    maint_ctx *m = malloc(sizeof *m);
    if (!m) return syn_err_set(err, SYN_ENOMEM, "abort-active");
    *m = (maint_ctx){cl, i, below};
    abort_active_send(m);
  }
  if (cl->nparts > 0 && coord_retry_after(cl, COORD_GC_INTERVAL_MS, gc_tick, cl) < 0)
    return syn_err_set(err, SYN_ECLOSED, "cluster closed");
  return 0;
}
