/*
** internal: the coordinator's durable catalog file, DATADIR/catalog.db
** (prefix coord_cat_). Not thread-safe: the caller serialises (catmu).
**
** FORMAT. One SQLite database, WAL journal, synchronous=FULL, so every
** committed SQLite transaction is fsynced before the call returns 0: the
** invariant every caller relies on ("recorded" means "survives a crash").
**
**   meta(k TEXT PRIMARY KEY, v INTEGER)
**        epoch        id epoch, +1 at every start (coord_ids.c)
**        next_part    next participant id
**   parts(name TEXT PRIMARY KEY, id INTEGER)              participant ids, stable
**        across restarts and reorderings of --participants (decision records
**        name participants by these ids)
**   blobs(k TEXT PRIMARY KEY, v BLOB)
**        rcat         the catalog (coord_rcat snapshot) of a coordinator that
**                     runs without a replicated log (the test harness); the
**                     daemon's catalog lives in the Multi-Paxos log
*/
#ifndef SYN_COORD_CATALOG_H
#define SYN_COORD_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct coord_catalog coord_catalog;

int coord_cat_open(const char *path, coord_catalog **out, syn_err *err);
void coord_cat_close(coord_catalog *c);

/* Group several updates into one durable SQLite transaction. */
int coord_cat_begin(coord_catalog *c, syn_err *err);
int coord_cat_commit(coord_catalog *c, syn_err *err);
void coord_cat_rollback(coord_catalog *c);

int coord_cat_meta_get(coord_catalog *c, const char *k, int64_t *v, bool *found, syn_err *err);
int coord_cat_meta_set(coord_catalog *c, const char *k, int64_t v, syn_err *err);

/* The durable id of participant name, assigning the next one if new. */
int coord_cat_part_id(coord_catalog *c, const char *name, uint32_t *id, syn_err *err);

/* A named blob (malloc'd copy; *found false when absent). */
int coord_cat_blob_get(coord_catalog *c, const char *k, uint8_t **out, size_t *len, bool *found,
                       syn_err *err);
int coord_cat_blob_put(coord_catalog *c, const char *k, const uint8_t *v, size_t len,
                       syn_err *err);

enum {
  COORD_DDL_SIMPLE = 1,  /* one participant step; roll forward */
  COORD_DDL_REBUILD = 2, /* ADD PRIMARY KEY rebuild into a new table id; roll back */
};

typedef struct coord_intent {
  int64_t seq;
  int kind;
  const char *table;          /* the table's name (after the step) */
  const uint8_t *req;         /* packed DdlRequest for every participant */
  size_t req_len;
  const uint8_t *undo;        /* packed inverse DdlRequest, or NULL */
  size_t undo_len;
  const char *def;            /* cat_table_encode of the result; NULL: dropped */
  size_t def_len;
  int64_t aux;                /* REBUILD: the new table id */
} coord_intent;


#endif /* SYN_COORD_CATALOG_H */
