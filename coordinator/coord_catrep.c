/*
** coord_catrep: the coordinator's side of the replicated catalog (prefix
** coord_catx_): commands in, cache out.
**
** Two homes for the one catalog (coord_rcat.h), chosen at open:
**   - the coordinators' Multi-Paxos log (cl->rdl, the daemon): a command is
**     proposed through coord_rdl_submit_cat and its result comes back once
**     a majority chose it and this node applied it. Every coordinator
**     applies every command; the apply hook below refreshes each one's
**     cache of table definitions.
**   - without a log (the in-process test harness): cl->lcat, applied on
**     the calling thread and written to DATADIR/catalog.db.
**
** Freshness. A coordinator's cache may lag the log: a follower learns a
** chosen slot after the leader. cl_catalog_barrier closes that gap before
** each statement (coord_rdl_barrier: the leader's lease, or the leader's
** chosen index on a follower), so a DDL that returned to its client on one
** coordinator is visible to every statement that starts after that on any
** other.
*/
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "coordinator/coord_int.h"
#include "coordinator/coord_rcat.h"
#include "coordinator/coord_rdl.h"

/* catmu held (or the cluster closing). */
static void roles_clear(cl_cluster *cl) {
  for (int i = 0; i < cl->nroles; i++) {
    free(cl->roles[i].name);
    free(cl->roles[i].def);
  }
  free(cl->roles);
  cl->roles = NULL;
  cl->nroles = 0;
}

/* ---- the cache (catmu held) ------------------------------------------------ */

/* Rebuild the table cache from the catalog. Definitions that do not decode
** are logged and left out: one bad definition must not stop a coordinator. */
static void cache_rebuild(cl_cluster *cl, const coord_rcat *cat) {
  for (int i = 0; i < cl->ntables; i++) cat_table_free(cl->tables[i]);
  cl->ntables = 0;
  size_t n = coord_rcat_ntables(cat);
  for (size_t i = 0; i < n; i++) {
    const char *name;
    const uint8_t *def;
    uint32_t len;
    coord_rcat_table_at(cat, i, &name, &def, &len);
    cat_table *t;
    syn_err e;
    if (cat_table_decode((const char *)def, len, &t, &e) < 0) {
      SYN_LOG_ERROR(NULL, "catalog: table %s does not decode: %s", name, e.msg);
      continue;
    }
    if (coord_cache_put(cl, name, t) < 0)
      SYN_LOG_ERROR(NULL, "catalog: out of memory caching table %s", name);
  }
  /* Cached sequence ranges of dropped sequences go: a table created again
  ** under the same name starts its serial afresh. */
  coord_seq_cache *sc = &cl->seqs;
  for (int i = 0; i < sc->n;) {
    if (!coord_rcat_seq(cat, sc->v[i].name, NULL)) {
      free(sc->v[i].name);
      sc->v[i] = sc->v[--sc->n];
    } else {
      i++;
    }
  }
  /* Roles: the cache authentication reads on the loop thread. */
  roles_clear(cl);
  size_t nr = coord_rcat_nroles(cat);
  coord_role_def *rv = nr ? calloc(nr, sizeof *rv) : NULL;
  for (size_t i = 0; rv && i < nr; i++) {
    const char *name;
    const uint8_t *def;
    uint32_t len;
    coord_rcat_role_at(cat, i, &name, &def, &len);
    char *nm = strdup(name), *d = malloc((size_t)len + 1);
    if (!nm || !d) {
      free(nm);
      free(d);
      SYN_LOG_ERROR(NULL, "catalog: out of memory caching role %s", name);
      continue;
    }
    memcpy(d, def, len);
    d[len] = 0;
    rv[cl->nroles++] = (coord_role_def){.name = nm, .def = d, .len = len};
  }
  if (nr && !rv) SYN_LOG_ERROR(NULL, "catalog: out of memory caching %zu roles", nr);
  cl->roles = rv;
  cl->rcat_version = coord_rcat_version(cat);
  /* Sessions reload when the number moves; it must only grow. */
  atomic_fetch_add(&cl->version, 1);
}

/* LOOP, inside the paxos core's apply: no proposing, only the cache. */
static void on_catalog_changed(void *ud, const coord_rcat *cat, const coord_rcat_result *res) {
  cl_cluster *cl = ud;
  if (res && !res->schema_changed && !res->roles_changed) return;
  pthread_mutex_lock(&cl->catmu);
  cache_rebuild(cl, cat);
  pthread_mutex_unlock(&cl->catmu);
}

/* ---- local home ----------------------------------------------------------------- */

#define LCAT_KEY "rcat"

/* catmu held. The whole catalog is rewritten per command: it is small,
** and commands are DDL steps and sequence ranges, not row writes. */
static int local_apply(cl_cluster *cl, const uint8_t *cmd, size_t len, coord_rcat_result *res,
                       syn_err *err) {
  uint8_t *snap = NULL;
  size_t snaplen = 0;
  int rc = coord_rcat_snapshot_take(cl->lcat, &snap, &snaplen, err);
  if (rc < 0) return rc;
  coord_rcat *before;
  rc = coord_rcat_new(&before, err);
  if (rc == 0) rc = coord_rcat_snapshot_install(before, snap, snaplen, err);
  free(snap);
  snap = NULL;
  if (rc == 0) rc = coord_rcat_apply(cl->lcat, cmd, len, res, err);
  if (rc == 0) rc = coord_rcat_snapshot_take(cl->lcat, &snap, &snaplen, err);
  /* Durable (catalog.db is synchronous=FULL) before the caller hears the
  ** result: a definition a session saw, a sequence range handed out or an
  ** intent recorded must survive a crash. On failure the catalog goes
  ** back to what is on disk. */
  if (rc == 0) rc = coord_cat_blob_put(cl->cat, LCAT_KEY, snap, snaplen, err);
  free(snap);
  if (rc < 0 && before) {
    coord_rcat_free(cl->lcat);
    cl->lcat = before;
    before = NULL;
  }
  coord_rcat_free(before);
  if (rc == 0 && (res->schema_changed || res->roles_changed)) cache_rebuild(cl, cl->lcat);
  return rc;
}

/* ---- replicated home: the bridge op --------------------------------------------- */

typedef struct catx_op {
  coord_op op;
  uint8_t *cmd;
  size_t len;
  coord_rcat_result res;
} catx_op;

/* Loop-side state of one submission: the rdl callback and the timeout both
** fire exactly once (the timeout also at close), whichever comes second
** frees it. */
typedef struct catx_wait {
  catx_op *op;
  int fired;
  bool finished;
} catx_wait;

static void catx_wait_release(catx_wait *w) {
  if (++w->fired == 2) free(w);
}

static void catx_finish(catx_wait *w, int status, const coord_rcat_result *res,
                        const syn_err *e) {
  if (w->finished) return;
  w->finished = true;
  if (res) w->op->res = *res;
  coord_op_done(&w->op->op, status, e);
}

static void on_cat_applied(int status, const coord_rcat_result *res, void *ud) {
  catx_wait *w = ud;
  syn_err e;
  syn_err_clear(&e);
  if (status == SYN_EBUSY)
    syn_err_set(&e, status, "40003: the catalog change's result was lost to a snapshot "
                "install; it may or may not have been applied");
  else if (status < 0)
    syn_err_set(&e, status, "08006: coordinator is shutting down");
  catx_finish(w, status, res, &e);
  catx_wait_release(w);
}

static void on_cat_timeout(void *ud, bool cancelled) {
  catx_wait *w = ud;
  syn_err e;
  syn_err_set(&e, SYN_ETIMEDOUT, "40003: the catalog change was not confirmed by a majority of "
              "coordinators within %u ms; it may or may not take effect",
              COORD_CAT_CMD_TIMEOUT_MS);
  (void)cancelled;
  catx_finish(w, SYN_ETIMEDOUT, NULL, &e);
  catx_wait_release(w);
}

static void catx_run(coord_op *op) {
  catx_op *c = (catx_op *)op;
  cl_cluster *cl = op->cl;
  catx_wait *w = calloc(1, sizeof *w);
  syn_err e;
  if (!w) {
    syn_err_set(&e, SYN_ENOMEM, "catalog command");
    coord_op_done(op, SYN_ENOMEM, &e);
    return;
  }
  w->op = c;
  if (coord_retry_after(cl, COORD_CAT_CMD_TIMEOUT_MS, on_cat_timeout, w) < 0) {
    free(w);
    syn_err_set(&e, SYN_ECLOSED, "08006: coordinator is shutting down");
    coord_op_done(op, SYN_ECLOSED, &e);
    return;
  }
  if (coord_rdl_submit_cat(cl->rdl, c->cmd, c->len, on_cat_applied, w, &e) < 0) {
    catx_finish(w, e.code ? e.code : SYN_EINVAL, NULL, &e);
    catx_wait_release(w); /* the rdl callback will never come */
  }
}

static void catx_dtor(coord_op *op) { free(((catx_op *)op)->cmd); }

int coord_catx_submit(cl_cluster *cl, const uint8_t *cmd, size_t len, coord_rcat_result *res,
                      syn_err *err) {
  if (!cl->rdl) {
    pthread_mutex_lock(&cl->catmu);
    int rc = local_apply(cl, cmd, len, res, err);
    pthread_mutex_unlock(&cl->catmu);
    return rc;
  }
  catx_op *c = coord_op_new(sizeof *c, catx_run, catx_dtor);
  uint8_t *copy = malloc(len ? len : 1);
  if (!c || !copy) {
    free(copy);
    if (c) coord_op_put(&c->op);
    return syn_err_set(err, SYN_ENOMEM, "catalog command");
  }
  memcpy(copy, cmd, len);
  c->cmd = copy;
  c->len = len;
  int rc = coord_op_exec(cl, &c->op, err);
  if (rc == 0) *res = c->res;
  coord_op_put(&c->op);
  return rc;
}

int coord_catx_submit_take(cl_cluster *cl, int enc_rc, uint8_t *cmd, size_t len,
                           coord_rcat_result *res, syn_err *err) {
  if (enc_rc < 0) return enc_rc;
  int rc = coord_catx_submit(cl, cmd, len, res, err);
  free(cmd);
  return rc;
}

uint64_t coord_catx_nonce(cl_cluster *cl) {
  return ((uint64_t)cl->coord_index << 56) ^ ((uint64_t)cl->epoch << 32) ^
         atomic_fetch_add(&cl->nonce, 1);
}

/* ---- read barrier -------------------------------------------------------------- */

static void on_barrier(int status, void *ud) {
  coord_op *op = ud;
  syn_err e;
  syn_err_clear(&e);
  if (status == SYN_ETIMEDOUT)
    syn_err_set(&e, CL_EUNAVAILABLE, "08006: no coordinator leader answered within %u ms: this "
                "coordinator cannot confirm its catalog is current (is a majority of "
                "coordinators reachable?)", COORD_BARRIER_TIMEOUT_MS);
  else if (status < 0)
    syn_err_set(&e, status, "08006: coordinator is shutting down");
  coord_op_done(op, status == SYN_ETIMEDOUT ? CL_EUNAVAILABLE : status, &e);
}

static void barrier_run(coord_op *op) {
  syn_err e;
  if (coord_rdl_barrier(op->cl->rdl, COORD_BARRIER_TIMEOUT_MS, on_barrier, op, &e) < 0)
    coord_op_done(op, e.code ? e.code : SYN_ECLOSED, &e);
}

int cl_catalog_barrier(cl_cluster *cl, syn_err *err) {
  if (atomic_load(&cl->shardmap_bad)) {
    if (err) *err = cl->shardmap_err;
    return CL_EUNAVAILABLE;
  }
  if (!cl->rdl) return 0;
  coord_op *op = coord_op_new(sizeof *op, barrier_run, NULL);
  if (!op) return syn_err_set(err, SYN_ENOMEM, "read barrier");
  int rc = coord_op_exec(cl, op, err);
  coord_op_put(op);
  return rc;
}

/* ---- the intent in flight ----------------------------------------------------- */

void coord_intent_copy_free(coord_intent_copy *c) {
  free(c->table);
  free(c->req);
  free(c->undo);
  free(c->def);
  memset(c, 0, sizeof *c);
}

static void *dup_or_null(const void *p, size_t n, bool *oom) {
  if (!p) return NULL;
  uint8_t *q = malloc(n + 1);
  if (!q) {
    *oom = true;
    return NULL;
  }
  memcpy(q, p, n);
  q[n] = 0;
  return q;
}

/* From the catalog (borrowed) into an owned copy. */
static int copy_intent(const coord_rcat *cat, coord_intent_copy *out, bool *found,
                       uint64_t *version) {
  coord_rcat_intent in;
  memset(out, 0, sizeof *out);
  *version = coord_rcat_version(cat);
  *found = coord_rcat_intent_get(cat, &in);
  if (!*found) return 0;
  bool oom = false;
  out->table = dup_or_null(in.table, strlen(in.table), &oom);
  out->req = dup_or_null(in.req, in.req_len, &oom);
  out->undo = dup_or_null(in.undo, in.undo_len, &oom);
  out->def = dup_or_null(in.def, in.def_len, &oom);
  if (oom) {
    coord_intent_copy_free(out);
    return SYN_ENOMEM;
  }
  out->owner = in.owner;
  out->in = (coord_intent){.seq = (int64_t)in.seq, .kind = in.kind, .table = out->table,
                           .req = out->req, .req_len = in.req_len, .undo = out->undo,
                           .undo_len = in.undo ? in.undo_len : 0, .def = (const char *)out->def,
                           .def_len = in.def ? in.def_len : 0, .aux = (int64_t)in.aux};
  return 0;
}

/* The op owns its result until the worker takes it: a worker that gave up
** (coord_op_exec's last-resort timeout) must not be written to later. */
typedef struct intent_op {
  coord_op op;
  coord_intent_copy res;
  bool found;
  uint64_t version;
} intent_op;

static void intent_run(coord_op *op) {
  intent_op *o = (intent_op *)op;
  int rc = copy_intent(coord_rdl_catalog(op->cl->rdl), &o->res, &o->found, &o->version);
  syn_err e;
  if (rc < 0) syn_err_set(&e, rc, "DDL intent");
  coord_op_done(op, rc, rc < 0 ? &e : NULL);
}

static void intent_dtor(coord_op *op) { coord_intent_copy_free(&((intent_op *)op)->res); }

int coord_catx_intent(cl_cluster *cl, coord_intent_copy *out, bool *found, uint64_t *version,
                      syn_err *err) {
  if (!cl->rdl) {
    pthread_mutex_lock(&cl->catmu);
    int rc = copy_intent(cl->lcat, out, found, version);
    pthread_mutex_unlock(&cl->catmu);
    return rc < 0 ? syn_err_set(err, rc, "DDL intent") : 0;
  }
  int rc = cl_catalog_barrier(cl, err);
  if (rc < 0) return rc;
  intent_op *o = coord_op_new(sizeof *o, intent_run, intent_dtor);
  if (!o) return syn_err_set(err, SYN_ENOMEM, "DDL intent");
  rc = coord_op_exec(cl, &o->op, err);
  if (rc == 0) {
    *out = o->res;
    memset(&o->res, 0, sizeof o->res);
    *found = o->found;
    *version = o->version;
  }
  coord_op_put(&o->op);
  return rc;
}

/* ---- the shard map ---------------------------------------------------------------- */

static int cmp_part_id(const void *a, const void *b) {
  uint32_t x = (*(const coord_part *const *)a)->id, y = (*(const coord_part *const *)b)->id;
  return x < y ? -1 : x > y;
}

int coord_catx_check_shardmap(cl_cluster *cl, syn_err *err) {
  const coord_part *byid[COORD_MAX_PARTS];
  for (int i = 0; i < cl->nparts; i++) byid[i] = &cl->parts[i];
  qsort(byid, (size_t)cl->nparts, sizeof *byid, cmp_part_id);
  cat_buf map = {0}, shown = {0};
  int rc = 0;
  for (int i = 0; i < cl->nparts && rc == 0; i++)
    rc = cat_buf_printf(&map, "%u %s\n", byid[i]->id, byid[i]->name) ||
         cat_buf_printf(&shown, "%s%s=%u", i ? ", " : "", byid[i]->name, byid[i]->id);
  if (rc != 0 || !map.p) {
    cat_buf_free(&map);
    cat_buf_free(&shown);
    return syn_err_set(err, SYN_ENOMEM, "shard map");
  }
  uint8_t *cmd;
  size_t len;
  rc = coord_rcat_encode_shardmap(map.p, coord_catx_nonce(cl), &cmd, &len, err);
  coord_rcat_result res;
  if (rc == 0) {
    rc = coord_catx_submit(cl, cmd, len, &res, err);
    free(cmd);
  }
  if (rc == 0 && res.status == COORD_RCAT_MISMATCH) {
    /* Participant ids name participants in decision records that any
    ** coordinator may re-drive: a coordinator that numbers them
    ** differently, or routes rows to other participants, must not serve. */
    syn_err_set(&cl->shardmap_err, CL_EUNAVAILABLE,
                "XX000: this coordinator's participants (--participants) differ from the "
                "cluster's shard map; it refuses to serve until restarted with the same list "
                "(here: %s)", shown.p);
    atomic_store(&cl->shardmap_bad, true);
    rc = syn_err_set(err, SYN_EINVAL, "%s", cl->shardmap_err.msg);
  }
  cat_buf_free(&map);
  cat_buf_free(&shown);
  return rc;
}

/* ---- open / close --------------------------------------------------------------- */

int coord_catx_open(cl_cluster *cl, syn_err *err) {
  if (cl->rdl) {
    coord_rdl_set_catalog_hook(cl->rdl, on_catalog_changed, cl);
    pthread_mutex_lock(&cl->catmu);
    cache_rebuild(cl, coord_rdl_catalog(cl->rdl));
    pthread_mutex_unlock(&cl->catmu);
    return 0;
  }
  int rc = coord_rcat_new(&cl->lcat, err);
  uint8_t *snap = NULL;
  size_t len = 0;
  bool found = false;
  if (rc == 0) rc = coord_cat_blob_get(cl->cat, LCAT_KEY, &snap, &len, &found, err);
  if (rc == 0 && found) rc = coord_rcat_snapshot_install(cl->lcat, snap, len, err);
  free(snap);
  if (rc < 0) return rc;
  pthread_mutex_lock(&cl->catmu);
  cache_rebuild(cl, cl->lcat);
  pthread_mutex_unlock(&cl->catmu);
  return 0;
}

void coord_catx_close(cl_cluster *cl) {
  if (cl->rdl) coord_rdl_set_catalog_hook(cl->rdl, NULL, NULL);
  roles_clear(cl);
  coord_rcat_free(cl->lcat);
  cl->lcat = NULL;
}
