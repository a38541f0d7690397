/*
** coord_cluster: open/close of the coordinator's cluster services, the
** catalog cache that serves cl_table_get/cl_table_list without a loop hop,
** sequences and row ids. See coordinator/cluster.h.
**
** Sequences hand out values from ranges reserved in the replicated catalog
** (COORD_SEQ_CHUNK values at a time, coord_rcat SEQ_RESERVE): each
** coordinator has its own range, so values from different coordinators
** interleave (as with PostgreSQL's CACHE > 1 across sessions) and are never
** handed out twice; the cost is a gap of at most one chunk per coordinator
** restart, which PostgreSQL allows too.
*/
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "coordinator/coord_paxos.h"
#include "coordinator/coord_int.h"
#include "coordinator/coord_rcat.h"

#define COORD_SEQ_CHUNK 1000

/* ---- catalog cache (catmu held) ---------------------------------------- */

const cat_table *coord_cache_find(cl_cluster *cl, const char *name) {
  for (int i = 0; i < cl->ntables; i++)
    if (strcmp(cl->tables[i]->name, name) == 0) return cl->tables[i];
  return NULL;
}

const cat_table *coord_cache_find_index(cl_cluster *cl, const char *index_name, int *which) {
  for (int i = 0; i < cl->ntables; i++) {
    const cat_table *t = cl->tables[i];
    for (int k = 0; k < t->nuniques; k++)
      if (strcmp(t->uniques[k].name, index_name) == 0) {
        if (which) *which = k;
        return t;
      }
    for (int k = 0; k < t->nindexes; k++)
      if (strcmp(t->indexes[k].name, index_name) == 0) {
        if (which) *which = t->nuniques + k;
        return t;
      }
  }
  return NULL;
}

int coord_cache_put(cl_cluster *cl, const char *name, cat_table *def_take) {
  for (int i = 0; i < cl->ntables; i++) {
    if (strcmp(cl->tables[i]->name, name) != 0) continue;
    cat_table_free(cl->tables[i]);
    if (def_take) {
      cl->tables[i] = def_take;
    } else {
      cl->tables[i] = cl->tables[--cl->ntables];
    }
    atomic_fetch_add(&cl->version, 1);
    return 0;
  }
  if (!def_take) return 0;
  if (cl->ntables == cl->captables) {
    int cap = cl->captables ? cl->captables * 2 : 16;
    cat_table **v = realloc(cl->tables, (size_t)cap * sizeof *v);
    if (!v) {
      cat_table_free(def_take);
      return SYN_ENOMEM;
    }
    cl->tables = v;
    cl->captables = cap;
  }
  cl->tables[cl->ntables++] = def_take;
  atomic_fetch_add(&cl->version, 1);
  return 0;
}

/* ---- cl_* catalog reads ----------------------------------------------------- */

uint64_t cl_catalog_version(cl_cluster *cl) { return atomic_load(&cl->version); }

int cl_table_get(cl_cluster *cl, const char *name, cat_table **out, syn_err *err) {
  pthread_mutex_lock(&cl->catmu);
  const cat_table *t = coord_cache_find(cl, name);
  cat_table *c = t ? cat_table_copy(t) : NULL;
  pthread_mutex_unlock(&cl->catmu);
  if (!t) return syn_err_set(err, SYN_ENOTFOUND, "42P01: relation \"%s\" does not exist", name);
  if (!c) return syn_err_set(err, SYN_ENOMEM, "table copy");
  *out = c;
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int cl_table_list(cl_cluster *cl, char ***names, size_t *n, syn_err *err) {
  pthread_mutex_lock(&cl->catmu);
  size_t cnt = (size_t)cl->ntables;
  char **v = calloc(cnt ? cnt : 1, sizeof *v);
  int rc = v ? 0 : SYN_ENOMEM;
  for (size_t i = 0; rc == 0 && i < cnt; i++) {
    v[i] = strdup(cl->tables[i]->name);
    if (!v[i]) rc = SYN_ENOMEM;
  }
  pthread_mutex_unlock(&cl->catmu);
  if (rc < 0) {
    for (size_t i = 0; v && i < cnt; i++) free(v[i]);
    free(v);
    return syn_err_set(err, rc, "table list");
  }
  qsort(v, cnt, sizeof *v, cmp_str);
  *names = v;
  *n = cnt;
  return 0;
}

/* ---- sequences and row ids --------------------------------------------------- */

/* The cached range of seq_name, created empty if new; catmu held. NULL on
** ENOMEM. */
static coord_seq *seq_slot(cl_cluster *cl, const char *seq_name) {
  coord_seq_cache *sc = &cl->seqs;
  for (int i = 0; i < sc->n; i++)
    if (strcmp(sc->v[i].name, seq_name) == 0) return &sc->v[i];
  if (sc->n == sc->cap) {
    int cap = sc->cap ? sc->cap * 2 : 16;
    coord_seq *v = realloc(sc->v, (size_t)cap * sizeof *v);
    if (!v) return NULL;
    sc->v = v;
    sc->cap = cap;
  }
  char *nm = strdup(seq_name);
  if (!nm) return NULL;
  coord_seq *s = &sc->v[sc->n++];
  *s = (coord_seq){.name = nm, .next = 1, .reserved = 0};
  return s;
}

int cl_sequence_next(cl_cluster *cl, const char *seq_name, int64_t *out, syn_err *err) {
  if (!seq_name || !*seq_name) return syn_err_set(err, SYN_EINVAL, "empty sequence name");
  for (int attempt = 0; attempt < 8; attempt++) {
    pthread_mutex_lock(&cl->catmu);
    coord_seq *s = seq_slot(cl, seq_name);
    if (!s) {
      pthread_mutex_unlock(&cl->catmu);
      return syn_err_set(err, SYN_ENOMEM, "sequence");
    }
    if (s->next <= s->reserved) {
      *out = s->next++;
      pthread_mutex_unlock(&cl->catmu);
      return 0;
    }
    pthread_mutex_unlock(&cl->catmu);
    /* A fresh range, reserved in the catalog before any value of it is
    ** handed out: the catalog never gives a value to two coordinators, or
    ** twice to one across restarts (the range is chosen in the replicated
    ** log, or fsynced in catalog.db, before the result comes back). */
    uint8_t *cmd;
    size_t len;
    int rc = coord_rcat_encode_seq_reserve(seq_name, COORD_SEQ_CHUNK, coord_catx_nonce(cl), &cmd,
                                           &len, err);
    if (rc < 0) return rc;
    coord_rcat_result res;
    rc = coord_catx_submit(cl, cmd, len, &res, err);
    free(cmd);
    if (rc < 0) return rc;
    if (res.status != COORD_RCAT_OK)
      return syn_err_set(err, SYN_ERANGE, "2200H: sequence \"%s\" is exhausted", seq_name);
    pthread_mutex_lock(&cl->catmu);
    s = seq_slot(cl, seq_name);
    /* Another session may have refilled the range meanwhile: then this
    ** one is dropped (a gap, which sequences allow). */
    if (s && s->next > s->reserved) {
      s->next = (int64_t)res.a;
      s->reserved = (int64_t)res.b;
    }
    bool ok = s && s->next <= s->reserved;
    if (ok) *out = s->next++;
    pthread_mutex_unlock(&cl->catmu);
    if (ok) return 0;
  }
  return syn_err_set(err, SYN_EBUSY, "sequence \"%s\": no range after 8 attempts", seq_name);
}

void coord_seq_forget(cl_cluster *cl, const char *seq_name) {
  coord_seq_cache *sc = &cl->seqs;
  pthread_mutex_lock(&cl->catmu);
  for (int i = 0; i < sc->n; i++) {
    if (strcmp(sc->v[i].name, seq_name) != 0) continue;
    free(sc->v[i].name);
    sc->v[i] = sc->v[--sc->n];
    break;
  }
  pthread_mutex_unlock(&cl->catmu);
  uint8_t *cmd;
  size_t len;
  syn_err e;
  if (coord_rcat_encode_seq_drop(seq_name, &cmd, &len, &e) < 0) return;
  coord_rcat_result res;
  if (coord_catx_submit(cl, cmd, len, &res, &e) < 0)
    SYN_LOG_WARN(NULL, "sequence %s not dropped from the catalog: %s", seq_name, e.msg);
  free(cmd);
}

int cl_rowid_next(cl_cluster *cl, int64_t *out, syn_err *err) {
  uint64_t id;
  int rc = coord_id_next(cl, &id, err);
  if (rc == 0) *out = (int64_t)id;
  return rc;
}

/* ---- open / close ---------------------------------------------------------------- */


/* Retry fn until it works, the cluster closes, or it fails for good
** (SYN_EINVAL). A coordinator group may need a while to elect a leader
** after a start. */
static int until_done(cl_cluster *cl, int (*fn)(cl_cluster *, syn_err *), const char *what,
                      syn_err *e) {
  for (int attempt = 0;; attempt++) {
    syn_err_clear(e);
    int rc = fn(cl, e);
    if (rc == 0 || rc == SYN_EINVAL || rc == SYN_ECLOSED || cl->closed) return rc;
    if (attempt % 10 == 0) SYN_LOG_WARN(NULL, "%s: %s (retrying)", what, e->msg);
    if (attempt >= 600) return rc;
    usleep(500 * 1000);
  }
}

static int recover_ddl(cl_cluster *cl, syn_err *e) {
  pthread_mutex_lock(&cl->ddlmu);
  int rc = coord_ddl_recover(cl, e);
  pthread_mutex_unlock(&cl->ddlmu);
  return rc;
}

static void *recovery_main(void *arg) {
  cl_cluster *cl = arg;
  syn_err e;
  int rc = until_done(cl, coord_catx_check_shardmap, "shard map", &e);
  if (rc < 0) {
    SYN_LOG_ERROR(NULL, "shard map: %s", e.msg);
  } else {
    rc = until_done(cl, recover_ddl, "DDL recovery", &e);
    if (rc < 0) SYN_LOG_ERROR(NULL, "DDL recovery: %s", e.msg);
  }
  pthread_mutex_lock(&cl->recmu);
  cl->rec_done = true;
  cl->rec_status = rc;
  cl->rec_err = e;
  pthread_cond_broadcast(&cl->reccv);
  pthread_mutex_unlock(&cl->recmu);
  return NULL;
}

int coord_cluster_open(uv_loop_t *loop, const coord_cluster_config *cfg, coord_cluster **out,
                       syn_err *err) {
  cl_cluster *cl = calloc(1, sizeof *cl);
  if (!cl) return syn_err_set(err, SYN_ENOMEM, "cluster");
  cl->loop = loop;
  cl->clock = cfg->clock;
  cl->rpc = cfg->rpc;
  cl->rdl = cfg->decisions;
  snprintf(cl->name, sizeof cl->name, "%s", cfg->name);
  if (cfg->secret_len > sizeof cl->secret)
    return syn_err_set(err, SYN_EINVAL, "cluster secret too long");
  if (cfg->secret_len) memcpy(cl->secret, cfg->secret, cfg->secret_len);
  cl->secret_len = cfg->secret_len;
  snprintf(cl->dir, sizeof cl->dir, "%s", cfg->dir);
  cl->rpc_timeout_ms = cfg->rpc_timeout_ms ? cfg->rpc_timeout_ms : COORD_RPC_TIMEOUT_MS;
  cl->lock_wait_ms = cfg->lock_wait_ms ? cfg->lock_wait_ms : COORD_LOCK_WAIT_MS;
  cl->lock_timeout_ms = cfg->lock_timeout_ms ? cfg->lock_timeout_ms : COORD_LOCK_TIMEOUT_MS;
  cl->read_wait_ms = cfg->read_wait_ms ? cfg->read_wait_ms : COORD_READ_WAIT_MS;
  pthread_mutex_init(&cl->qmu, NULL);
  pthread_cond_init(&cl->qcv, NULL);
  pthread_mutex_init(&cl->catmu, NULL);
  pthread_mutex_init(&cl->ddlmu, NULL);
  pthread_mutex_init(&cl->idmu, NULL);
  pthread_mutex_init(&cl->recmu, NULL);
  pthread_cond_init(&cl->reccv, NULL);
  uint32_t index = 0;
  int rc = coord_px_node_id(cfg->name, &index, err);
  cl->coord_index = index;
  char path[4200];
  snprintf(path, sizeof path, "%s/catalog.db", cfg->dir);
  if (rc == 0) rc = coord_cat_open(path, &cl->cat, err);
  if (rc == 0) rc = coord_ids_open(cl, err);
  if (rc == 0) rc = coord_catx_open(cl, err);
  if (rc == 0) rc = coord_bridge_init(cl, err);
  if (rc == 0) rc = coord_route_open(cl, cfg->participants, err);
  if (rc == 0 && coord_wfg_new(&cl->wfg) < 0) rc = syn_err_set(err, SYN_ENOMEM, "wfg");
  if (rc == 0) rc = coord_commit_open(cl, err);
  if (rc == 0) rc = coord_maint_start(cl, err);
  if (rc == 0) {
    if (pthread_create(&cl->rec_thread, NULL, recovery_main, cl) != 0)
      rc = syn_err_set(err, SYN_EIO, "cannot start the DDL recovery thread");
    else
      cl->rec_started = true;
  }
  if (rc < 0) {
    coord_cluster_close(cl);
    /* Let the closed handles finish before freeing. */
    uv_run(loop, UV_RUN_NOWAIT);
    uv_run(loop, UV_RUN_NOWAIT);
    coord_cluster_free(cl);
    return rc;
  }
  *out = cl;
  return 0;
}

cl_cluster *coord_cluster_borrow(coord_cluster *cc) { return cc; }

int coord_cluster_wait_ready(coord_cluster *cl, uint32_t timeout_ms, syn_err *err) {
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += timeout_ms / 1000;
  dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (dl.tv_nsec >= 1000000000L) {
    dl.tv_sec++;
    dl.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&cl->recmu);
  int w = 0;
  while (!cl->rec_done && w == 0) w = pthread_cond_timedwait(&cl->reccv, &cl->recmu, &dl);
  int rc = cl->rec_done ? cl->rec_status : SYN_ETIMEDOUT;
  if (rc < 0 && err) {
    if (cl->rec_done) *err = cl->rec_err;
    else syn_err_set(err, rc, "DDL recovery still running after %u ms", timeout_ms);
  }
  pthread_mutex_unlock(&cl->recmu);
  return rc;
}

void coord_cluster_close(coord_cluster *cl) {
  if (!cl || cl->closed) return;
  cl->closed = true;
  if (cl->tpc) coord_commit_close(cl);
  coord_route_close(cl);
  coord_bridge_close(cl);
}

void coord_cluster_free(coord_cluster *cl) {
  if (!cl) return;
  if (!cl->closed) coord_cluster_close(cl);
  if (cl->rec_started) pthread_join(cl->rec_thread, NULL);
  coord_commit_free(cl);
  for (size_t i = 0; i < cl->live.cap; i++)
    if (cl->live.used[i]) free(cl->live.vals[i]);
  u64map_free(&cl->live);
  coord_wfg_free(cl->wfg);
  ring_free(cl->ring);
  for (int i = 0; i < cl->ntables; i++) cat_table_free(cl->tables[i]);
  free(cl->tables);
  coord_seq_cache *sc = &cl->seqs;
  for (int i = 0; i < sc->n; i++) free(sc->v[i].name);
  free(sc->v);
  coord_catx_close(cl);
  coord_cat_close(cl->cat);
  pthread_mutex_destroy(&cl->qmu);
  pthread_cond_destroy(&cl->qcv);
  pthread_mutex_destroy(&cl->catmu);
  pthread_mutex_destroy(&cl->ddlmu);
  pthread_mutex_destroy(&cl->idmu);
  pthread_mutex_destroy(&cl->recmu);
  pthread_cond_destroy(&cl->reccv);
  free(cl);
}
