/*
** internal: helpers shared by coord_ddl.c (the DDL protocol) and
** coord_ddl_rebuild.c (ADD PRIMARY KEY). See coord_ddl.c for the protocol.
*/
#ifndef SYN_COORD_DDL_INT_H
#define SYN_COORD_DDL_INT_H

#include "coordinator/coord_int.h"

#define COORD_DDL_CLEANUP 3 /* intent kind: drop an old table id, no catalog change */

uint64_t coord_ddl_all_mask(cl_cluster *cl);
/* Packed DdlRequests (malloc'd). pkey_name NULL: "<table>_pkey". */
int coord_ddl_pack_create(const cat_table *t, const char *pkey_name, uint8_t **out, size_t *len);
int coord_ddl_pack_simple(uint32_t table_id, int op, const char *s1, const char *s2,
                          const syn_value *deflt, const cat_index *ix, uint8_t **out, size_t *len);
/* Send to the participants in *mask until applied (retrying refusals that
** may pass); *mask keeps those that did not apply it. */
int coord_ddl_step_all(cl_cluster *cl, const uint8_t *req, size_t len, uint64_t *mask,
                       syn_err *err);
int coord_ddl_intent_add(cl_cluster *cl, coord_intent *in, syn_err *err);
int coord_ddl_intent_del(cl_cluster *cl, int64_t seq, syn_err *err);
int coord_ddl_alloc_table_id(cl_cluster *cl, uint64_t *id, syn_err *err);
/* One DDL at a time (ddlmu), after finishing interrupted ones. */
int coord_ddl_enter(cl_cluster *cl, syn_err *err);
void coord_ddl_leave(cl_cluster *cl);
int coord_ddl_get_def(cl_cluster *cl, const char *name, cat_table **out, syn_err *err);

/* After a DDL attempt: true when it lost a race for the catalog to another
** coordinator's DDL (SYN_ECONFLICT from its intent, before anything was
** applied) and may run again, at most COORD_DDL_RACE_RETRIES times. The
** next attempt reads the winner's result, as a PostgreSQL DDL that waited
** for the table's lock would (CREATE TABLE then reports 42P07). */
#define COORD_DDL_RACE_RETRIES 5
bool coord_ddl_again(int rc, int *attempt);

#endif
