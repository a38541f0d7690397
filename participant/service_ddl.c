/*
** SYN_M_PART_DDL: one schema step per request, durable before the answer
** (the store fsyncs each step).
**
** Idempotence (participant.proto): a coordinator retries a step whose
** answer it did not see, so a step that finds its own effect already in
** place answers ok: create table/index or add column finding the object
** (SYN_EEXIST), drop table/column/index finding it gone (SYN_ENOTFOUND),
** rename finding the source column gone. The coordinator checks every name
** against the replicated catalog before sending a step, so at a participant
** "already there"/"already gone" can only be the result of an earlier try.
** A step on a table that does not exist (other than drop table) is still
** SYN_ENOTFOUND.
*/
#include "participant/service_int.h"

#include <string.h>

/* Column positions from the wire into an arena int array. */
static int positions(psvc_arena *a, const int32_t *in, size_t n, int **out, syn_err *err) {
  *out = NULL;
  if (n > STORE_MAX_COLS) return syn_err_set(err, SYN_EINVAL, "too many columns (%zu)", n);
  if (n == 0) return 0;
  int *p = psvc_arena_alloc(a, n * sizeof *p);
  if (!p) return syn_err_set(err, SYN_ENOMEM, "ddl: out of memory");
  for (size_t i = 0; i < n; i++) p[i] = in[i];
  *out = p;
  return 0;
}

static int index_def(psvc_arena *a, const Synod__Part__IndexDef *x, store_index_def *d,
                     syn_err *err) {
  int *cols;
  int rc = positions(a, x->cols, x->n_cols, &cols, err);
  if (rc < 0) return rc;
  d->name = x->name;
  d->unique = x->unique;
  d->ncols = (int)x->n_cols;
  d->cols = cols;
  return 0;
}

static int create_table(psvc *s, psvc_arena *a, uint32_t id, const Synod__Part__TableDef *t,
                        syn_err *err) {
  if (t->table_id && id && t->table_id != id)
    return syn_err_set(err, SYN_EINVAL, "ddl: table id %u differs from the request's %u",
                       t->table_id, id);
  if (t->n_cols > STORE_MAX_COLS || t->n_indexes > STORE_MAX_COLS)
    return syn_err_set(err, SYN_EINVAL, "ddl: table definition too large");
  store_table_def d;
  memset(&d, 0, sizeof d);
  d.table_id = t->table_id ? t->table_id : id;
  d.ncols = (int)t->n_cols;
  store_col_def *cols = t->n_cols ? psvc_arena_alloc(a, t->n_cols * sizeof *cols) : NULL;
  store_index_def *idx =
      t->n_indexes ? psvc_arena_alloc(a, t->n_indexes * sizeof *idx) : NULL;
  if ((t->n_cols && !cols) || (t->n_indexes && !idx))
    return syn_err_set(err, SYN_ENOMEM, "ddl: out of memory");
  for (size_t i = 0; i < t->n_cols; i++) {
    cols[i].name = t->cols[i]->name;
    cols[i].affinity = t->cols[i]->affinity;
  }
  d.cols = cols;
  int *key;
  int rc = positions(a, t->key_cols, t->n_key_cols, &key, err);
  if (rc < 0) return rc;
  d.nkey = (int)t->n_key_cols;
  d.key_cols = key;
  d.pkey_name = t->pkey_name && t->pkey_name[0] ? t->pkey_name : NULL;
  for (size_t i = 0; i < t->n_indexes; i++)
    if ((rc = index_def(a, t->indexes[i], &idx[i], err)) < 0) return rc;
  d.nindexes = (int)t->n_indexes;
  d.indexes = idx;
  rc = store_create_table(s->st, &d, err);
  return rc == SYN_EEXIST ? 0 : rc;
}

static int table_exists(psvc *s, uint32_t id, syn_err *err) {
  int n = store_table_ncols(s->st, id);
  if (n < 0) return syn_err_set(err, SYN_ENOTFOUND, "ddl: no table %u", id);
  return 0;
}

static int run_ddl(psvc *s, psvc_arena *a, const Synod__Part__DdlRequest *q, store_info *info,
                   syn_err *err) {
  uint32_t id = q->table_id;
  int rc;
  switch (q->op_case) {
  case SYNOD__PART__DDL_REQUEST__OP_CREATE_TABLE:
    return create_table(s, a, id, q->create_table, err);
  case SYNOD__PART__DDL_REQUEST__OP_DROP_TABLE:
    rc = store_drop_table(s->st, id, info, err);
    return rc == SYN_ENOTFOUND ? 0 : rc;
  case SYNOD__PART__DDL_REQUEST__OP_TRUNCATE_TABLE:
    return store_truncate_table(s->st, id, info, err);
  case SYNOD__PART__DDL_REQUEST__OP_ADD_COLUMN: {
    store_col_def c = {q->add_column->name, q->add_column->affinity};
    syn_value dv;
    if (q->add_column_default) psvc_value_from_pb(q->add_column_default, &dv);
    const syn_value *deflt = q->add_column_default && dv.type != SYN_V_NULL ? &dv : NULL;
    rc = store_add_column(s->st, id, &c, deflt, err);
    return rc == SYN_EEXIST ? 0 : rc;
  }
  case SYNOD__PART__DDL_REQUEST__OP_DROP_COLUMN:
    if ((rc = table_exists(s, id, err)) < 0) return rc;
    rc = store_drop_column(s->st, id, q->drop_column, info, err);
    return rc == SYN_ENOTFOUND ? 0 : rc;
  case SYNOD__PART__DDL_REQUEST__OP_RENAME_COLUMN:
    if ((rc = table_exists(s, id, err)) < 0) return rc;
    rc = store_rename_column(s->st, id, q->rename_column->from, q->rename_column->to, err);
    return rc == SYN_ENOTFOUND ? 0 : rc;
  case SYNOD__PART__DDL_REQUEST__OP_CREATE_INDEX: {
    store_index_def d;
    if ((rc = index_def(a, q->create_index, &d, err)) < 0) return rc;
    rc = store_create_index(s->st, id, &d, info, err);
    return rc == SYN_EEXIST ? 0 : rc;
  }
  case SYNOD__PART__DDL_REQUEST__OP_DROP_INDEX:
    if ((rc = table_exists(s, id, err)) < 0) return rc;
    rc = store_drop_index(s->st, id, q->drop_index, err);
    return rc == SYN_ENOTFOUND ? 0 : rc;
  default:
    return syn_err_set(err, SYN_EINVAL, "ddl: request names no operation");
  }
}

void psvc_on_ddl(rpc_call *call, const uint8_t *p, size_t n, void *ud) {
  psvc *s = ud;
  if (s->stopping) {
    rpc_reply_error(call, SYN_ECLOSED, "participant stopping");
    return;
  }
  psvc_arena a;
  psvc_arena_init(&a);
  Synod__Part__DdlRequest *q = synod__part__ddl_request__unpack(&a.pa, n, p);
  if (!q) {
    psvc_reply_undecodable(call, "ddl");
    psvc_arena_free(&a);
    return;
  }
  store_info info;
  syn_err err;
  memset(&info, 0, sizeof info);
  syn_err_clear(&err);
  int rc = run_ddl(s, &a, q, &info, &err);
  Synod__Part__DdlResponse resp = SYNOD__PART__DDL_RESPONSE__INIT;
  Synod__Part__Status status;
  if (psvc_status_fill(&a, &status, rc, &info, &err) < 0) {
    rpc_reply_error(call, SYN_ENOMEM, "participant: out of memory");
  } else {
    resp.status = &status;
    psvc_reply_msg(call, &a, &resp.base);
  }
  psvc_arena_free(&a);
}
