/*
** Cluster-unique transaction ids and hidden row ids without coordination.
**
**   bits 63..56  coordinator index (the digits of its name: c1 -> 1), so a
**                participant knows whom to ask about an in-doubt txn
**                (SYN_TXN_COORD) and two coordinators never collide
**   bits 55..32  epoch: +1 at every start, fsynced (catalog meta "epoch")
**                before the first id of the run is handed out
**   bits 31..0   in-memory counter of this run
**
** Restart safety: every id of run k carries epoch k, and epoch k+1 is
** durable before run k+1 issues anything, so no id is ever issued twice,
** whatever was lost in a crash. A run that exhausts its counter takes the
** next epoch the same way (durably) before going on. The index is limited
** to 1..127 so ids are positive as int64 row ids.
**
** A lost disk. catalog.db holds the epoch; a coordinator of a group whose
** data dir was wiped (synodctl start --rejoin) would start again at epoch 1
** and reissue ids of its first life, which the decision table and the
** participants may still hold (a new transaction would meet an old
** decision under first-decision-wins). So every start announces its epoch
** in the replicated catalog (EPOCH, which keeps each index's maximum), and
** a coordinator that starts without catalog.db issues no id until the
** announcement came back: if an earlier life had a higher epoch it moves
** above it first (durably, then announced again).
*/
#include <stdlib.h>
#include <time.h>

#include "common/log.h"
#include "coordinator/coord_int.h"
#include "coordinator/coord_rcat.h"

#define EPOCH_MAX ((1ull << 24) - 1)

/* idmu held. Durable before return (catalog FULL sync). */
static int next_epoch(cl_cluster *cl, syn_err *err) {
  int64_t e = 0;
  bool found;
  pthread_mutex_lock(&cl->catmu);
  int rc = coord_cat_meta_get(cl->cat, "epoch", &e, &found, err);
  if (rc == 0) {
    if (!found) e = 0;
    if ((uint64_t)e >= EPOCH_MAX)
      rc = syn_err_set(err, SYN_ERANGE, "id epochs exhausted (%lld restarts)", (long long)e);
    else
      rc = coord_cat_meta_set(cl->cat, "epoch", e + 1, err);
  }
  pthread_mutex_unlock(&cl->catmu);
  if (rc < 0) return rc;
  cl->epoch = (uint64_t)e + 1;
  cl->counter = 0;
  return 0;
}

int coord_ids_open(cl_cluster *cl, syn_err *err) {
  pthread_mutex_lock(&cl->idmu);
  int rc = next_epoch(cl, err);
  cl->life_epoch = cl->epoch;
  pthread_mutex_unlock(&cl->idmu);
  return rc;
}

#define COORD_IDS_GATE_WAIT_MS 10000

int coord_id_next(cl_cluster *cl, uint64_t *out, syn_err *err) {
  pthread_mutex_lock(&cl->idmu);
  int rc = 0;
  if (cl->ids_gated) {
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += COORD_IDS_GATE_WAIT_MS / 1000;
    int w = 0;
    while (cl->ids_gated && w == 0) w = pthread_cond_timedwait(&cl->idcv, &cl->idmu, &dl);
    if (cl->ids_gated) {
      pthread_mutex_unlock(&cl->idmu);
      return syn_err_set(err, CL_EUNAVAILABLE, "57P03: the coordinator is still joining its "
                         "group (its id epoch is not confirmed yet)");
    }
  }
  if (cl->counter == UINT32_MAX) rc = next_epoch(cl, err);
  if (rc == 0) {
    cl->counter++;
    *out = ((uint64_t)cl->coord_index << 56) | (cl->epoch << 32) | cl->counter;
  }
  pthread_mutex_unlock(&cl->idmu);
  return rc;
}

uint64_t coord_ids_life_start(cl_cluster *cl) {
  pthread_mutex_lock(&cl->idmu);
  /* The first id of the epoch this life began with, whatever was issued
  ** since: the maintenance that uses it may start after sessions did. */
  uint64_t v = ((uint64_t)cl->coord_index << 56) | (cl->life_epoch << 32) | 1u;
  pthread_mutex_unlock(&cl->idmu);
  return v;
}

static int announce(cl_cluster *cl, uint64_t epoch, uint64_t *before, syn_err *err) {
  uint8_t *cmd;
  size_t len;
  int rc = coord_rcat_encode_epoch(cl->coord_index, epoch, &cmd, &len, err);
  if (rc < 0) return rc;
  coord_rcat_result res;
  rc = coord_catx_submit(cl, cmd, len, &res, err);
  free(cmd);
  if (rc == 0) *before = res.a;
  return rc;
}

int coord_ids_announce(cl_cluster *cl, syn_err *err) {
  pthread_mutex_lock(&cl->idmu);
  uint64_t mine = cl->epoch;
  pthread_mutex_unlock(&cl->idmu);
  uint64_t before = 0;
  int rc = announce(cl, mine, &before, err);
  if (rc < 0) return rc;
  if (before >= mine) {
    /* An earlier life went further than this disk remembers. */
    uint64_t e = before + 1;
    if (e > EPOCH_MAX) return syn_err_set(err, SYN_ERANGE, "id epochs exhausted");
    SYN_LOG_WARN(NULL, "ids: an earlier life of this coordinator used epoch %llu; moving to %llu",
                 (unsigned long long)before, (unsigned long long)e);
    pthread_mutex_lock(&cl->catmu);
    rc = coord_cat_meta_set(cl->cat, "epoch", (int64_t)e, err);
    pthread_mutex_unlock(&cl->catmu);
    if (rc < 0) return rc;
    pthread_mutex_lock(&cl->idmu);
    if (cl->epoch < e) {
      cl->epoch = e;
      cl->life_epoch = e;
      cl->counter = 0;
    }
    pthread_mutex_unlock(&cl->idmu);
    rc = announce(cl, e, &before, err);
    if (rc < 0) return rc;
  }
  pthread_mutex_lock(&cl->idmu);
  cl->ids_gated = false;
  pthread_cond_broadcast(&cl->idcv);
  pthread_mutex_unlock(&cl->idmu);
  return 0;
}
