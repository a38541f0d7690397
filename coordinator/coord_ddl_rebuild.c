/*
** ADD PRIMARY KEY (cl_add_primary_key): always a rebuild into a new table
** id, because the participant's key encoding and, when the table was
** distributed by its hidden row id, the placement of every row change.
**
**   1. intent REBUILD (new definition, create step, its undo) - durable;
**   2. create the new table id on every participant;
**   3. copy every row in ONE transaction (2PC): scan the old table at one
**      snapshot, insert into the new one routed by the new distribution
**      column (a duplicate key fails the copy with 23505, a NULL key 23502);
**   4. in one durable catalog transaction: the new definition replaces the
**      old, the catalog version moves, the REBUILD intent becomes a CLEANUP
**      intent;
**   5. drop the old table id everywhere, delete the CLEANUP intent.
** A crash before 4 rolls back (recovery drops the new id; the old
** definition was never replaced); after 4 it rolls forward (CLEANUP is
** idempotent). Rows are held in memory during the copy (tables are small
** where this runs: pgbench -i adds its keys right after loading).
*/
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "coordinator/coord_ddl_int.h"
#include "coordinator/coord_rcat.h"

#define COORD_REBUILD_MAX_ROWS 10000000


typedef struct row_store {
  syn_value *vals; /* nrows * ncols, bytes in blobs[] */
  uint8_t **blobs;
  size_t nrows, cap, nblobs, capblobs;
  int ncols;
  int64_t *rowids;
} row_store;

static int keep_row(void *ud, const cl_row *row) {
  row_store *rs = ud;
  if (row->nvals != rs->ncols) return SYN_EINVAL;
  if (rs->nrows >= COORD_REBUILD_MAX_ROWS) return SYN_ERANGE;
  if (rs->nrows == rs->cap) {
    size_t cap = rs->cap ? rs->cap * 2 : 256;
    syn_value *v = realloc(rs->vals, cap * (size_t)rs->ncols * sizeof *v);
    if (!v) return SYN_ENOMEM;
    rs->vals = v;
    int64_t *r = realloc(rs->rowids, cap * sizeof *r);
    if (!r) return SYN_ENOMEM;
    rs->rowids = r;
    rs->cap = cap;
  }
  syn_value *dst = &rs->vals[rs->nrows * (size_t)rs->ncols];
  for (int c = 0; c < rs->ncols; c++) {
    dst[c] = row->vals[c];
    if (dst[c].type == SYN_V_TEXT || dst[c].type == SYN_V_BLOB) {
      if (rs->nblobs == rs->capblobs) {
        size_t cap = rs->capblobs ? rs->capblobs * 2 : 256;
        uint8_t **b = realloc(rs->blobs, cap * sizeof *b);
        if (!b) return SYN_ENOMEM;
        rs->blobs = b;
        rs->capblobs = cap;
      }
      uint8_t *p = malloc(dst[c].u.b.n + 1);
      if (!p) return SYN_ENOMEM;
      memcpy(p, dst[c].u.b.p, dst[c].u.b.n);
      rs->blobs[rs->nblobs++] = p;
      dst[c].u.b.p = p;
    }
  }
  rs->rowids[rs->nrows] = row->rowid;
  rs->nrows++;
  return 0;
}

static void row_store_free(row_store *rs) {
  for (size_t i = 0; i < rs->nblobs; i++) free(rs->blobs[i]);
  free(rs->blobs);
  free(rs->vals);
  free(rs->rowids);
}

/* Copy every row of old into nt (a fresh table id) in one transaction. */
static int copy_rows(cl_cluster *cl, const cat_table *old, const cat_table *nt, syn_err *err) {
  cl_txn *tx;
  int rc = cl_txn_begin(cl, CL_REPEATABLE_READ, &tx, err);
  if (rc < 0) return rc;
  row_store rs = {.ncols = old->ncols};
  cl_scan_spec spec = {0};
  rc = cl_scan(tx, old, &spec, keep_row, &rs, err);
  for (size_t r = 0; rc == 0 && r < rs.nrows; r++) {
    const syn_value *row = &rs.vals[r * (size_t)rs.ncols];
    for (int k = 0; k < nt->npk; k++)
      if (row[nt->pk[k]].type == SYN_V_NULL)
        rc = syn_err_set(err, SYN_EINVAL, "23502: column \"%s\" of relation \"%s\" contains "
                         "null values", nt->cols[nt->pk[k]].name, nt->name);
  }
  const size_t chunk = 256;
  cl_write_op ops[256];
  syn_value keys[256 * 8];
  for (size_t r0 = 0; rc == 0 && r0 < rs.nrows; r0 += chunk) {
    int n = 0;
    for (size_t r = r0; r < rs.nrows && r < r0 + chunk; r++, n++) {
      const syn_value *row = &rs.vals[r * (size_t)rs.ncols];
      syn_value *key = &keys[n * 8];
      for (int k = 0; k < nt->npk && k < 8; k++) key[k] = row[nt->pk[k]];
      ops[n] = (cl_write_op){.mode = CL_INSERT, .row = row, .key = key, .nkey = nt->npk,
                             .dist_value = &row[nt->dist_col]};
    }
    rc = cl_write(tx, nt, ops, n, err);
  }
  if (rc == 0) rc = cl_commit(tx, NULL, err);
  else cl_rollback(tx);
  cl_txn_free(tx);
  row_store_free(&rs);
  return rc;
}

static int add_primary_key_once(cl_cluster *cl, const char *table, const int *cols, int ncols,
                                const char *constraint_name, syn_err *err) {
  if (ncols <= 0 || ncols > 8)
    return syn_err_set(err, SYN_EUNSUPPORTED, "0A000: primary keys of 1..8 columns are supported");
  int rc = coord_ddl_enter(cl, err);
  if (rc < 0) return rc;
  cat_table *old = NULL, *nt = NULL;
  rc = coord_ddl_get_def(cl, table, &old, err);
  if (rc == 0 && old->npk > 0)
    rc = syn_err_set(err, SYN_EINVAL, "42P16: multiple primary keys for table \"%s\" are not "
                     "allowed", table);
  for (int i = 0; rc == 0 && i < ncols; i++)
    if (cols[i] < 0 || cols[i] >= old->ncols)
      rc = syn_err_set(err, SYN_EINVAL, "primary key column %d out of range", cols[i]);
  if (rc == 0) {
    nt = cat_table_copy(old);
    int *pk = malloc(sizeof(int) * (size_t)ncols);
    if (!nt || !pk) {
      free(pk);
      rc = syn_err_set(err, SYN_ENOMEM, "table");
    } else {
      memcpy(pk, cols, sizeof(int) * (size_t)ncols);
      free(nt->pk);
      nt->pk = pk;
      nt->npk = ncols;
      nt->hidden_rowid = false;
      for (int i = 0; i < ncols; i++) nt->cols[cols[i]].not_null = true;
      /* An explicit distribution column stays (it must be in the key); a
      ** table distributed by its hidden rowid moves to the key's first
      ** column, which is the redistribution. */
      if (nt->dist_col < 0) nt->dist_col = cols[0];
      bool has = false;
      for (int i = 0; i < ncols; i++) has |= cols[i] == nt->dist_col;
      if (!has)
        rc = syn_err_set(err, SYN_EUNSUPPORTED, "0A000: primary key on table \"%s\" must "
                         "include distribution column \"%s\"", table, nt->cols[nt->dist_col].name);
    }
  }
  if (rc == 0) rc = coord_ddl_alloc_table_id(cl, &nt->id, err);
  uint8_t *req = NULL, *undo = NULL, *cleanup = NULL;
  size_t rl = 0, ul = 0, cll = 0;
  if (rc == 0 &&
      (coord_ddl_pack_create(nt, constraint_name, &req, &rl) < 0 ||
       coord_ddl_pack_simple((uint32_t)nt->id, SYNOD__PART__DDL_REQUEST__OP_DROP_TABLE, NULL, NULL, NULL,
                   NULL, &undo, &ul) < 0 ||
       coord_ddl_pack_simple((uint32_t)old->id, SYNOD__PART__DDL_REQUEST__OP_DROP_TABLE, NULL, NULL, NULL,
                   NULL, &cleanup, &cll) < 0))
    rc = syn_err_set(err, SYN_ENOMEM, "ddl request");
  cat_buf enc = {0};
  if (rc == 0) rc = cat_table_encode(nt, &enc, err);
  coord_intent in = {.kind = COORD_DDL_REBUILD, .table = table, .req = req, .req_len = rl,
                     .undo = undo, .undo_len = ul, .def = enc.p, .def_len = enc.n,
                     .aux = (int64_t)(nt ? nt->id : 0)};
  if (rc == 0) rc = coord_ddl_intent_add(cl, &in, err);
  if (rc == 0) {
    uint64_t mask = coord_ddl_all_mask(cl);
    rc = coord_ddl_step_all(cl, req, rl, &mask, err);
    if (rc == 0) rc = copy_rows(cl, old, nt, err);
    if (rc < 0) {
      /* Roll back: the new table id goes, the old definition stays. */
      uint64_t m2 = coord_ddl_all_mask(cl);
      syn_err ue;
      if (coord_ddl_step_all(cl, undo, ul, &m2, &ue) == 0) coord_ddl_intent_del(cl, in.seq, &ue);
      else SYN_LOG_ERROR(NULL, "ADD PRIMARY KEY on %s: undo incomplete: %s", table, ue.msg);
    } else {
      /* Swap: the new definition replaces the old and a CLEANUP intent
      ** (drop the old id) replaces the REBUILD intent, in one catalog
      ** command that applies only while the REBUILD intent is in force. */
      coord_rcat_intent cu = {.owner = cl->coord_index, .kind = COORD_DDL_CLEANUP,
                              .table = table, .req = cleanup, .req_len = (uint32_t)cll};
      syn_err e2;
      uint8_t *cmd = NULL;
      size_t clen = 0;
      coord_rcat_result res;
      int r2 = coord_rcat_encode_complete((uint64_t)in.seq, table, COORD_DDL_REBUILD,
                                          (const uint8_t *)enc.p, (uint32_t)enc.n, &cu, &cmd,
                                          &clen, &e2);
      if (r2 == 0) r2 = coord_catx_submit(cl, cmd, clen, &res, &e2);
      free(cmd);
      if (r2 == 0 && res.status != COORD_RCAT_OK) {
        /* Another coordinator took the intent over (this one looked dead
        ** to it) and rolled it back: the old definition stays; the copy
        ** made here is dropped again. */
        uint64_t m2 = coord_ddl_all_mask(cl);
        syn_err ue;
        coord_ddl_step_all(cl, undo, ul, &m2, &ue);
        r2 = syn_err_set(&e2, SYN_ECONFLICT, "40001: ADD PRIMARY KEY on \"%s\" was rolled back "
                         "by another coordinator; retry the statement", table);
      }
      if (r2 < 0) {
        rc = r2;
        if (err) *err = e2;
      } else {
        uint64_t m3 = coord_ddl_all_mask(cl);
        if (coord_ddl_step_all(cl, cleanup, cll, &m3, &e2) == 0)
          coord_ddl_intent_del(cl, (int64_t)res.b, &e2);
        else SYN_LOG_WARN(NULL, "ADD PRIMARY KEY on %s: old table id not yet dropped: %s", table,
                          e2.msg);
      }
    }
  }
  cat_buf_free(&enc);
  free(req);
  free(undo);
  free(cleanup);
  cat_table_free(old);
  cat_table_free(nt);
  coord_ddl_leave(cl);
  return rc;
}

/* ---- entry points: a DDL that lost a race for the catalog runs again -------- */

int cl_add_primary_key(cl_cluster *cl, const char *table, const int *cols, int ncols,
                       const char *constraint_name, syn_err *err) {
  int rc, attempt = 0;
  do rc = add_primary_key_once(cl, table, cols, ncols, constraint_name, err);
  while (coord_ddl_again(rc, &attempt));
  return rc;
}
