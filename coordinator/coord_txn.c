/*
** Transactions seen from the SQL engine: begin, snapshots, scans, writes,
** rollback (cl_* of sql/cluster.h). Commit is in coord_commit.c.
**
** Split of state. The worker owns the cl_txn (id, snapshot, isolation).
** The loop owns a coord_ltxn per live transaction (which participants saw
** a write, the waiting commit), found by id in cl->live, and the waits-for
** graph. Request bytes are packed on the worker before an op is queued and
** owned by the op, so nothing the loop touches lives on a worker's stack.
**
** Scans fan out to every target shard at once, a batch (COORD_SCAN_BATCH
** rows) per shard per round, and resume from each shard's last key. A
** shard answering SYN_EBUSY (a prepared write that may commit below the
** snapshot, Clock-SI) has already waited read_wait at the participant; the
** loop asks again until COORD_READ_WAIT_MS in all, then fails the scan.
**
** Writes are grouped per participant (ops stay in order within a group;
** groups go in parallel). SYN_EBUSY from a participant carries the lock
** holder: the loop adds waiter -> holder to the waits-for graph; a cycle
** makes this transaction the victim (CL_EDEADLOCK), otherwise it asks
** again for the ops not yet done, until lock_timeout.
*/
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rpc_methods.h"
#include "coordinator/coord_fan.h"

struct cl_txn {
  cl_cluster *cl;
  uint64_t id;
  uint64_t snapshot;
  cl_isolation iso;
  bool ended;
  cl_interrupt_fn interrupt; /* copied into every fan op of this txn */
  void *interrupt_ud;
};

void cl_txn_set_interrupt(cl_txn *t, cl_interrupt_fn fn, void *ud) {
  t->interrupt = fn;
  t->interrupt_ud = ud;
}

/* ---- live transactions (loop) --------------------------------------------- */

coord_ltxn *coord_ltxn_get(cl_cluster *cl, uint64_t txn) { return u64map_get(&cl->live, txn); }

void coord_ltxn_end(cl_cluster *cl, uint64_t txn) {
  coord_ltxn *lt = u64map_del(&cl->live, txn);
  coord_wfg_clear(cl->wfg, txn);
  free(lt);
}

/* ---- begin / snapshot ------------------------------------------------------ */

typedef struct begin_op {
  coord_op op;
  uint64_t txn;
  uint64_t ts;
  bool create; /* false: only a fresh snapshot */
} begin_op;

static void begin_run(coord_op *op) {
  begin_op *b = (begin_op *)op;
  cl_cluster *cl = op->cl;
  syn_err e;
  int rc = coord_hlc_now(cl, &b->ts, &e);
  if (rc < 0) {
    coord_op_done(op, rc, &e);
    return;
  }
  if (b->create) {
    coord_ltxn *lt = calloc(1, sizeof *lt);
    if (!lt || u64map_put(&cl->live, b->txn, lt) < 0) {
      free(lt);
      coord_op_done(op, SYN_ENOMEM, NULL);
      return;
    }
    lt->id = b->txn;
    lt->snapshot = b->ts;
  } else {
    coord_ltxn *lt = coord_ltxn_get(cl, b->txn);
    if (lt) lt->snapshot = b->ts;
  }
  coord_op_done(op, 0, NULL);
}

static int fresh_ts(cl_cluster *cl, uint64_t txn, bool create, uint64_t *ts, syn_err *err) {
  begin_op *b = coord_op_new(sizeof *b, begin_run, NULL);
  if (!b) return syn_err_set(err, SYN_ENOMEM, "begin");
  b->txn = txn;
  b->create = create;
  int rc = coord_op_exec(cl, &b->op, err);
  if (rc == 0) *ts = b->ts;
  coord_op_put(&b->op);
  return rc;
}

int cl_txn_begin(cl_cluster *cl, cl_isolation iso, cl_txn **out, syn_err *err) {
  cl_txn *t = calloc(1, sizeof *t);
  if (!t) return syn_err_set(err, SYN_ENOMEM, "txn");
  t->cl = cl;
  t->iso = iso;
  int rc = coord_id_next(cl, &t->id, err);
  if (rc == 0) rc = fresh_ts(cl, t->id, true, &t->snapshot, err);
  if (rc < 0) {
    free(t);
    return rc;
  }
  *out = t;
  return 0;
}

uint64_t cl_txn_id(const cl_txn *t) { return t->id; }
uint64_t cl_txn_snapshot(const cl_txn *t) { return t->snapshot; }

int cl_txn_refresh_snapshot(cl_txn *t, syn_err *err) {
  if (t->ended) return syn_err_set(err, SYN_EINVAL, "transaction already ended");
  uint64_t ts;
  int rc = fresh_ts(t->cl, t->id, false, &ts, err);
  if (rc == 0) t->snapshot = ts;
  return rc;
}

/* ---- scans ----------------------------------------------------------------- */

typedef struct scan_target {
  int part;
  bool more;
  uint8_t *after;
  size_t after_len;
  bool has_after;
} scan_target;

static int pack_scan(const cl_txn *t, const cat_table *table, const cl_scan_spec *spec,
                     scan_target *tg, uint32_t limit, uint8_t **out, size_t *len) {
  Synod__Part__ScanRequest rq = SYNOD__PART__SCAN_REQUEST__INIT;
  rq.table_id = (uint32_t)table->id;
  rq.snapshot_ts = t->snapshot;
  rq.txn = t->id;
  rq.filter = (char *)(spec->filter ? spec->filter : "");
  rq.limit = limit;
  rq.wait_ms = 500;
  Synod__Part__Value pv[64], *pp[64], kv[64], *kp[64];
  Synod__Part__Value *pheap = NULL, **pph = NULL;
  int np = spec->nparams;
  Synod__Part__Value *pvals = pv;
  Synod__Part__Value **pptrs = pp;
  if (np > 64) {
    pheap = calloc((size_t)np, sizeof *pheap);
    pph = calloc((size_t)np, sizeof *pph);
    if (!pheap || !pph) {
      free(pheap);
      free(pph);
      return SYN_ENOMEM;
    }
    pvals = pheap;
    pptrs = pph;
  }
  for (int i = 0; i < np; i++) {
    coord_value_to_pb(&spec->params[i], &pvals[i]);
    pptrs[i] = &pvals[i];
  }
  rq.n_params = (size_t)np;
  rq.params = pptrs;
  int nk = spec->key ? spec->nkey : 0;
  if (nk > 64) nk = 64;
  for (int i = 0; i < nk; i++) {
    coord_value_to_pb(&spec->key[i], &kv[i]);
    kp[i] = &kv[i];
  }
  rq.n_key = (size_t)nk;
  rq.key = kp;
  if (tg->has_after) {
    rq.has_after_key = 1;
    rq.after_key.data = tg->after;
    rq.after_key.len = tg->after_len;
  }
  *len = synod__part__scan_request__get_packed_size(&rq);
  *out = malloc(*len ? *len : 1);
  if (*out) synod__part__scan_request__pack(&rq, *out);
  free(pheap);
  free(pph);
  return *out ? 0 : SYN_ENOMEM;
}

/* Position of the distribution column's value in a primary-key tuple, or
** -1 when the key does not contain it. */
static int dist_in_key(const cat_table *t) {
  if (t->dist_col < 0) return t->npk == 0 ? 0 : -1; /* hidden rowid: the key is the rowid */
  for (int i = 0; i < t->npk; i++)
    if (t->pk[i] == t->dist_col) return i;
  return -1;
}

int cl_scan(cl_txn *t, const cat_table *table, const cl_scan_spec *spec, cl_row_fn fn,
            void *ud, syn_err *err) {
  cl_cluster *cl = t->cl;
  if (t->ended) return syn_err_set(err, SYN_EINVAL, "transaction already ended");
  if (spec->key && spec->nkey > 64) return syn_err_set(err, SYN_EINVAL, "key too long");
  scan_target tg[COORD_MAX_PARTS];
  int nt = 0;
  const syn_value *route = spec->dist_value;
  if (!route && spec->key && spec->nkey > 0) {
    int j = dist_in_key(table);
    if (j >= 0 && j < spec->nkey) route = &spec->key[j];
  }
  if (route) {
    int idx;
    int rc = coord_route(cl, route, &idx, err);
    if (rc < 0) return rc;
    tg[nt++] = (scan_target){.part = idx, .more = true};
  } else {
    for (int i = 0; i < cl->nparts; i++) tg[nt++] = (scan_target){.part = i, .more = true};
  }
  uint64_t delivered = 0;
  int rc = 0;
  bool stop = false;
  while (!stop) {
    int active = 0;
    for (int i = 0; i < nt; i++) active += tg[i].more;
    if (!active) break;
    fan_op *f = coord_fan_new(FAN_SCAN, SYN_M_PART_SCAN, active);
    if (!f) {
      rc = syn_err_set(err, SYN_ENOMEM, "scan");
      break;
    }
    f->op.run = coord_fan_run;
    f->timeout_ms = cl->rpc_timeout_ms + 500;
    f->interrupt = t->interrupt;
    f->interrupt_ud = t->interrupt_ud;
    uint32_t batch = COORD_SCAN_BATCH;
    if (spec->limit && spec->limit - delivered < batch) batch = (uint32_t)(spec->limit - delivered);
    int k = 0;
    for (int i = 0; i < nt && rc == 0; i++) {
      if (!tg[i].more) continue;
      f->reqs[k].part = tg[i].part;
      if (pack_scan(t, table, spec, &tg[i], batch, &f->reqs[k].req, &f->reqs[k].len) < 0)
        rc = syn_err_set(err, SYN_ENOMEM, "scan request");
      k++;
    }
    if (rc == 0) rc = coord_op_exec(cl, &f->op, err);
    for (int i = 0, j = 0; rc == 0 && i < nt; i++) {
      if (!tg[i].more) continue;
      fan_req *r = &f->reqs[j++];
      coord_part *p = &cl->parts[r->part];
      if (r->status < 0) {
        if (err) *err = r->err;
        rc = r->status;
        break;
      }
      Synod__Part__ScanResponse *sr = synod__part__scan_response__unpack(NULL, r->resp_len, r->resp);
      if (!sr) {
        rc = syn_err_set(err, SYN_EREMOTE, "participant %s: scan response does not decode",
                         p->name);
        break;
      }
      if (sr->status && sr->status->code != 0) {
        if (sr->status->code == SYN_EBUSY)
          rc = syn_err_set(err, SYN_ETIMEDOUT,
                           "55P03: read waited %u ms for prepared transaction %llx on %s",
                           cl->read_wait_ms, (unsigned long long)sr->status->blocker, p->name);
        else
          rc = coord_status_to_err(p, sr->status, err);
        synod__part__scan_response__free_unpacked(sr, NULL);
        break;
      }
      syn_value vbuf[64];
      for (size_t ri = 0; ri < sr->n_rows && rc == 0 && !stop; ri++) {
        Synod__Part__Row *row = sr->rows[ri];
        syn_value *vals = vbuf;
        if (row->n_vals > 64) {
          vals = calloc(row->n_vals, sizeof *vals);
          if (!vals) {
            rc = syn_err_set(err, SYN_ENOMEM, "row");
            break;
          }
        }
        for (size_t c = 0; c < row->n_vals; c++) coord_value_from_pb(row->vals[c], &vals[c]);
        cl_row out = {.vals = vals, .nvals = (int)row->n_vals, .rowid = row->rowid};
        int cb = fn(ud, &out);
        if (vals != vbuf) free(vals);
        delivered++;
        if (cb < 0) rc = syn_err_set(err, cb, "scan stopped by the caller (%s)", syn_strerror(cb));
        else if (cb == 1 || (spec->limit && delivered >= spec->limit)) stop = true;
      }
      tg[i].more = sr->more && sr->n_rows > 0;
      if (tg[i].more) {
        free(tg[i].after);
        tg[i].after = malloc(sr->last_key.len ? sr->last_key.len : 1);
        if (!tg[i].after) rc = syn_err_set(err, SYN_ENOMEM, "cursor");
        else {
          memcpy(tg[i].after, sr->last_key.data, sr->last_key.len);
          tg[i].after_len = sr->last_key.len;
          tg[i].has_after = true;
        }
      }
      synod__part__scan_response__free_unpacked(sr, NULL);
    }
    coord_op_put(&f->op);
    if (rc < 0) break;
  }
  for (int i = 0; i < nt; i++) free(tg[i].after);
  return rc;
}

/* ---- writes ---------------------------------------------------------------- */

static int pack_write(const cl_txn *t, const cat_table *table, const cl_write_op *ops,
                      const int *sel, int nsel, uint32_t wait_ms, uint8_t **out, size_t *len) {
  Synod__Part__WriteRequest rq = SYNOD__PART__WRITE_REQUEST__INIT;
  rq.txn = t->id;
  rq.table_id = (uint32_t)table->id;
  rq.snapshot_ts = t->snapshot;
  rq.wait_ms = wait_ms;
  size_t nvals = 0;
  for (int i = 0; i < nsel; i++) {
    const cl_write_op *o = &ops[sel[i]];
    nvals += (size_t)o->nkey + (o->row ? (size_t)table->ncols : 0);
  }
  Synod__Part__WriteOp *wo = calloc((size_t)nsel, sizeof *wo);
  Synod__Part__WriteOp **wp = calloc((size_t)nsel, sizeof *wp);
  Synod__Part__Value *vals = calloc(nvals ? nvals : 1, sizeof *vals);
  Synod__Part__Value **vp = calloc(nvals ? nvals : 1, sizeof *vp);
  int rc = (wo && wp && vals && vp) ? 0 : SYN_ENOMEM;
  size_t v = 0;
  for (int i = 0; rc == 0 && i < nsel; i++) {
    const cl_write_op *o = &ops[sel[i]];
    synod__part__write_op__init(&wo[i]);
    wo[i].mode = (int32_t)o->mode;
    wo[i].key = &vp[v];
    wo[i].n_key = (size_t)o->nkey;
    for (int k = 0; k < o->nkey; k++, v++) {
      coord_value_to_pb(&o->key[k], &vals[v]);
      vp[v] = &vals[v];
    }
    if (o->row) {
      wo[i].row = &vp[v];
      wo[i].n_row = (size_t)table->ncols;
      for (int c = 0; c < table->ncols; c++, v++) {
        coord_value_to_pb(&o->row[c], &vals[v]);
        vp[v] = &vals[v];
      }
    }
    wp[i] = &wo[i];
  }
  if (rc == 0) {
    rq.ops = wp;
    rq.n_ops = (size_t)nsel;
    *len = synod__part__write_request__get_packed_size(&rq);
    *out = malloc(*len ? *len : 1);
    if (*out) synod__part__write_request__pack(&rq, *out);
    else rc = SYN_ENOMEM;
  }
  free(wo);
  free(wp);
  free(vals);
  free(vp);
  return rc;
}

int cl_write(cl_txn *t, const cat_table *table, const cl_write_op *ops, int n, syn_err *err) {
  cl_cluster *cl = t->cl;
  if (t->ended) return syn_err_set(err, SYN_EINVAL, "transaction already ended");
  if (n <= 0) return 0;
  int *owner = malloc((size_t)n * sizeof *owner);
  int *sel = malloc((size_t)n * sizeof *sel);
  if (!owner || !sel) {
    free(owner);
    free(sel);
    return syn_err_set(err, SYN_ENOMEM, "write");
  }
  int rc = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    const cl_write_op *o = &ops[i];
    if (o->mode < CL_INSERT || o->mode > CL_LOCK || !o->key || o->nkey <= 0 ||
        ((o->mode == CL_INSERT || o->mode == CL_UPDATE) && !o->row)) {
      rc = syn_err_set(err, SYN_EINVAL, "write op %d is malformed", i);
      break;
    }
    const syn_value *d = o->dist_value;
    if (!d) {
      int j = dist_in_key(table);
      if (j >= 0 && j < o->nkey) d = &o->key[j];
      else if (o->row && table->dist_col >= 0) d = &o->row[table->dist_col];
    }
    if (!d) {
      rc = syn_err_set(err, SYN_EINVAL, "write op %d has no distribution value", i);
      break;
    }
    rc = coord_route(cl, d, &owner[i], err);
  }
  /* Group ops per participant (first-use order), keeping statement order
  ** inside a group; a group's batches go one after another (one bridge op
  ** per round), groups in parallel. */
  int order[COORD_MAX_PARTS], no = 0;
  int *grp = malloc((size_t)n * sizeof *grp); /* op indexes grouped */
  int gstart[COORD_MAX_PARTS + 1], gpos[COORD_MAX_PARTS];
  if (!grp && rc == 0) rc = syn_err_set(err, SYN_ENOMEM, "write");
  for (int i = 0; i < n && rc == 0; i++) {
    bool seen = false;
    for (int k = 0; k < no; k++) seen |= order[k] == owner[i];
    if (!seen) order[no++] = owner[i];
  }
  if (rc == 0) {
    int m = 0;
    for (int k = 0; k < no; k++) {
      gstart[k] = gpos[k] = m;
      for (int i = 0; i < n; i++)
        if (owner[i] == order[k]) grp[m++] = i;
    }
    gstart[no] = m;
  }
  while (rc == 0) {
    int nreq = 0;
    for (int k = 0; k < no; k++) nreq += gpos[k] < gstart[k + 1];
    if (!nreq) break;
    fan_op *f = coord_fan_new(FAN_WRITE, SYN_M_PART_WRITE, nreq);
    if (!f) {
      rc = syn_err_set(err, SYN_ENOMEM, "write");
      break;
    }
    f->op.run = coord_fan_run;
    f->txn = t->id;
    f->timeout_ms = cl->lock_wait_ms + cl->rpc_timeout_ms;
    f->interrupt = t->interrupt;
    f->interrupt_ud = t->interrupt_ud;
    int r = 0;
    for (int k = 0; k < no && rc == 0; k++) {
      int ns = gstart[k + 1] - gpos[k];
      if (ns <= 0) continue;
      if (ns > COORD_WRITE_BATCH) ns = COORD_WRITE_BATCH;
      for (int j = 0; j < ns; j++) sel[j] = grp[gpos[k] + j];
      gpos[k] += ns;
      f->reqs[r].part = order[k];
      if (pack_write(t, table, ops, sel, ns, cl->lock_wait_ms, &f->reqs[r].req,
                     &f->reqs[r].len) < 0)
        rc = syn_err_set(err, SYN_ENOMEM, "write request");
      r++;
    }
    if (rc == 0) rc = coord_op_exec(cl, &f->op, err);
    coord_op_put(&f->op);
  }
  free(grp);
  free(owner);
  free(sel);
  return rc;
}

/* ---- rollback -------------------------------------------------------------- */

static void rollback_run(coord_op *op) {
  fan_op *f = (fan_op *)op;
  cl_cluster *cl = op->cl;
  coord_ltxn *lt = coord_ltxn_get(cl, f->txn);
  if (!lt || lt->commit_op) { /* unknown, or its commit owns it now */
    coord_op_done(op, 0, NULL);
    return;
  }
  uint32_t parts[COORD_MAX_PARTS];
  int n = lt->nwritten;
  memcpy(parts, lt->written, sizeof(uint32_t) * (size_t)n);
  coord_ltxn_end(cl, f->txn);
  coord_send_aborts_op(cl, f->txn, parts, n, op);
}

void cl_rollback(cl_txn *t) {
  if (!t || t->ended) return;
  t->ended = true;
  fan_op *f = coord_fan_new(FAN_TXN, SYN_M_PART_ABORT, 0);
  if (!f) return; /* participants drop the intents when they restart or time out */
  f->op.run = rollback_run;
  f->txn = t->id;
  syn_err e;
  coord_op_exec(t->cl, &f->op, &e);
  coord_op_put(&f->op);
}

void cl_txn_free(cl_txn *t) {
  if (!t) return;
  if (!t->ended) cl_rollback(t);
  free(t);
}

/* ---- commit (bridge part) ------------------------------------------------ */

typedef struct commit_op {
  coord_op op;
  uint64_t txn;
  coord_commit_res res;
} commit_op;

static void commit_run(coord_op *op) {
  commit_op *c = (commit_op *)op;
  coord_ltxn *lt = coord_ltxn_get(op->cl, c->txn);
  if (!lt) {
    /* The coordinator already ended it (a deadlock victim, a restart of
    ** its earlier life): its writes were rolled back, so the abort is
    ** known and the answer is 40001, never 40003. */
    syn_err e;
    syn_err_set(&e, CL_EABORTED, "40001: transaction %llx was aborted before COMMIT",
                (unsigned long long)c->txn);
    coord_op_done(op, CL_EABORTED, &e);
    return;
  }
  coord_commit_start(op->cl, lt, op);
}

coord_commit_res *coord_commit_res_of(coord_op *op) { return &((commit_op *)op)->res; }

int cl_commit(cl_txn *t, uint64_t *commit_ts, syn_err *err) {
  if (t->ended) return syn_err_set(err, SYN_EINVAL, "transaction already ended");
  t->ended = true;
  commit_op *c = coord_op_new(sizeof *c, commit_run, NULL);
  if (!c) {
    t->ended = false;
    cl_rollback(t);
    return syn_err_set(err, SYN_ENOMEM, "commit");
  }
  c->txn = t->id;
  int rc = coord_op_exec(t->cl, &c->op, err);
  if (rc == 0 && commit_ts) *commit_ts = c->res.commit_ts;
  coord_op_put(&c->op);
  return rc;
}

