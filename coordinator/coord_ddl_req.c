/*
** DDL requests to participants (SYN_M_PART_DDL payloads), packed from
** catalog definitions: column affinities from cat_type_sqlite, the primary
** key named "<table>_pkey" unless ADD PRIMARY KEY names it, unique
** constraints and indexes as IndexDefs. Each is one idempotent step at the
** participant (common/proto/participant.proto).
*/
#include <stdlib.h>
#include <string.h>

#include "coordinator/coord_ddl_int.h"


static int pack_ddl(const Synod__Part__DdlRequest *rq, uint8_t **out, size_t *len) {
  *len = synod__part__ddl_request__get_packed_size(rq);
  *out = malloc(*len ? *len : 1);
  if (!*out) return SYN_ENOMEM;
  synod__part__ddl_request__pack(rq, *out);
  return 0;
}

int coord_ddl_pack_create(const cat_table *t, const char *pkey_name, uint8_t **out, size_t *len) {
  Synod__Part__TableDef td = SYNOD__PART__TABLE_DEF__INIT;
  td.table_id = (uint32_t)t->id;
  int ni = t->nuniques + t->nindexes;
  Synod__Part__ColumnDef *cd = calloc((size_t)t->ncols + 1, sizeof *cd);
  Synod__Part__ColumnDef **cp = calloc((size_t)t->ncols + 1, sizeof *cp);
  Synod__Part__IndexDef *id = calloc((size_t)ni + 1, sizeof *id);
  Synod__Part__IndexDef **ip = calloc((size_t)ni + 1, sizeof *ip);
  int32_t *keys = calloc((size_t)t->npk + 1, sizeof *keys);
  int32_t *icols = NULL;
  size_t nic = 0;
  for (int i = 0; i < t->nuniques; i++) nic += (size_t)t->uniques[i].ncols;
  for (int i = 0; i < t->nindexes; i++) nic += (size_t)t->indexes[i].ncols;
  icols = calloc(nic + 1, sizeof *icols);
  char pkname[300];
  if (pkey_name && *pkey_name) snprintf(pkname, sizeof pkname, "%s", pkey_name);
  else snprintf(pkname, sizeof pkname, "%s_pkey", t->name);
  int rc = (cd && cp && id && ip && keys && icols) ? 0 : SYN_ENOMEM;
  if (rc == 0) {
    for (int i = 0; i < t->ncols; i++) {
      synod__part__column_def__init(&cd[i]);
      cd[i].name = t->cols[i].name;
      cd[i].affinity = (char *)cat_type_sqlite(t->cols[i].type_oid);
      cp[i] = &cd[i];
    }
    td.n_cols = (size_t)t->ncols;
    td.cols = cp;
    for (int i = 0; i < t->npk; i++) keys[i] = t->pk[i];
    td.n_key_cols = (size_t)t->npk;
    td.key_cols = keys;
    td.pkey_name = pkname;
    size_t c = 0;
    for (int i = 0; i < ni; i++) {
      const cat_index *x = i < t->nuniques ? &t->uniques[i] : &t->indexes[i - t->nuniques];
      synod__part__index_def__init(&id[i]);
      id[i].name = x->name;
      id[i].unique = x->unique || i < t->nuniques;
      id[i].cols = &icols[c];
      id[i].n_cols = (size_t)x->ncols;
      for (int k = 0; k < x->ncols; k++) icols[c++] = x->cols[k];
      ip[i] = &id[i];
    }
    td.n_indexes = (size_t)ni;
    td.indexes = ip;
    Synod__Part__DdlRequest rq = SYNOD__PART__DDL_REQUEST__INIT;
    rq.table_id = (uint32_t)t->id;
    rq.op_case = SYNOD__PART__DDL_REQUEST__OP_CREATE_TABLE;
    rq.create_table = &td;
    rc = pack_ddl(&rq, out, len);
  }
  free(cd);
  free(cp);
  free(id);
  free(ip);
  free(keys);
  free(icols);
  return rc;
}

int coord_ddl_pack_simple(uint32_t table_id, int op, const char *s1, const char *s2,
                       const syn_value *deflt, const cat_index *ix, uint8_t **out, size_t *len) {
  Synod__Part__DdlRequest rq = SYNOD__PART__DDL_REQUEST__INIT;
  Synod__Part__ColumnDef cd = SYNOD__PART__COLUMN_DEF__INIT;
  Synod__Part__RenameColumn rn = SYNOD__PART__RENAME_COLUMN__INIT;
  Synod__Part__IndexDef id = SYNOD__PART__INDEX_DEF__INIT;
  Synod__Part__Value dv;
  int32_t cols[64];
  rq.table_id = table_id;
  rq.op_case = (Synod__Part__DdlRequest__OpCase)op;
  switch (op) {
  case SYNOD__PART__DDL_REQUEST__OP_DROP_TABLE: rq.drop_table = 1; break;
  case SYNOD__PART__DDL_REQUEST__OP_TRUNCATE_TABLE: rq.truncate_table = 1; break;
  case SYNOD__PART__DDL_REQUEST__OP_ADD_COLUMN:
    cd.name = (char *)s1;
    cd.affinity = (char *)s2;
    rq.add_column = &cd;
    if (deflt && deflt->type != SYN_V_NULL) {
      coord_value_to_pb(deflt, &dv);
      rq.add_column_default = &dv;
    }
    break;
  case SYNOD__PART__DDL_REQUEST__OP_DROP_COLUMN: rq.drop_column = (char *)s1; break;
  case SYNOD__PART__DDL_REQUEST__OP_RENAME_COLUMN:
    rn.from = (char *)s1;
    rn.to = (char *)s2;
    rq.rename_column = &rn;
    break;
  case SYNOD__PART__DDL_REQUEST__OP_CREATE_INDEX:
    if (ix->ncols > 64) return SYN_ERANGE;
    id.name = ix->name;
    id.unique = ix->unique;
    for (int i = 0; i < ix->ncols; i++) cols[i] = ix->cols[i];
    id.cols = cols;
    id.n_cols = (size_t)ix->ncols;
    rq.create_index = &id;
    break;
  case SYNOD__PART__DDL_REQUEST__OP_DROP_INDEX: rq.drop_index = (char *)s1; break;
  default: return SYN_EINVAL;
  }
  return pack_ddl(&rq, out, len);
}

