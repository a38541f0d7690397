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
*/
#include "common/log.h"
#include "coordinator/coord_int.h"

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
  pthread_mutex_unlock(&cl->idmu);
  return rc;
}

int coord_id_next(cl_cluster *cl, uint64_t *out, syn_err *err) {
  pthread_mutex_lock(&cl->idmu);
  int rc = 0;
  if (cl->counter == UINT32_MAX) rc = next_epoch(cl, err);
  if (rc == 0) {
    cl->counter++;
    *out = ((uint64_t)cl->coord_index << 56) | (cl->epoch << 32) | cl->counter;
  }
  pthread_mutex_unlock(&cl->idmu);
  return rc;
}
