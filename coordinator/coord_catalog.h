/*
** internal: the coordinator's durable catalog file, DATADIR/catalog.db
** (prefix coord_cat_). Not thread-safe: the caller serialises (catmu).
**
** FORMAT. One SQLite database, WAL journal, synchronous=FULL, so every
** committed SQLite transaction is fsynced before the call returns 0: the
** invariant every caller relies on ("recorded" means "survives a crash").
**
**   meta(k TEXT PRIMARY KEY, v INTEGER)
**        version      catalog version (bumped by every completed DDL)
**        next_table   next table id to hand out (ids are never reused)
**        epoch        id epoch, +1 at every start (coord_ids.c)
**        next_part    next participant id
**   tables(name TEXT PRIMARY KEY, id INTEGER, def BLOB)   cat_table_encode text
**   seqs(name TEXT PRIMARY KEY, reserved INTEGER)         values <= reserved may
**        have been handed out; a restart continues at reserved + 1
**   parts(name TEXT PRIMARY KEY, id INTEGER)              participant ids, stable
**        across restarts and reorderings of --participants (decision records
**        name participants by these ids)
**   roles(name TEXT PRIMARY KEY, def BLOB)            login roles (coord_roles.c
**        encodes def); moves to the replicated catalog later
**   ddl(seq INTEGER PRIMARY KEY, kind INTEGER, tbl TEXT, req BLOB, undo BLOB,
**       def BLOB, aux INTEGER)  DDL intents not yet completed (coord_ddl.c)
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

typedef int (*coord_cat_table_fn)(void *ud, const char *name, const char *def, size_t len);
int coord_cat_tables(coord_catalog *c, coord_cat_table_fn fn, void *ud, syn_err *err);
int coord_cat_table_put(coord_catalog *c, const char *name, uint64_t id, const char *def,
                        size_t len, syn_err *err);
int coord_cat_table_del(coord_catalog *c, const char *name, syn_err *err);

/* The durable id of participant name, assigning the next one if new. */
int coord_cat_part_id(coord_catalog *c, const char *name, uint32_t *id, syn_err *err);

int coord_cat_seq_get(coord_catalog *c, const char *name, int64_t *reserved, bool *found,
                      syn_err *err);
int coord_cat_seq_set(coord_catalog *c, const char *name, int64_t reserved, syn_err *err);
int coord_cat_seq_del(coord_catalog *c, const char *name, syn_err *err);

/* Roles: def is coord_roles.c's encoding. get: *def malloc'd (NULL and
** *found false when absent). */
int coord_cat_role_get(coord_catalog *c, const char *name, char **def, size_t *len, bool *found,
                       syn_err *err);
int coord_cat_role_put(coord_catalog *c, const char *name, const char *def, size_t len,
                       syn_err *err);
int coord_cat_role_del(coord_catalog *c, const char *name, syn_err *err);
/* Sorted by name; fn returns nonzero to stop (that value is returned). */
int coord_cat_role_list(coord_catalog *c, coord_cat_table_fn fn, void *ud, syn_err *err);

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

int coord_cat_intent_add(coord_catalog *c, coord_intent *in, syn_err *err);
int coord_cat_intent_del(coord_catalog *c, int64_t seq, syn_err *err);
/* Oldest first; the intent is borrowed for the call. */
int coord_cat_intents(coord_catalog *c, int (*fn)(void *ud, const coord_intent *in), void *ud,
                      syn_err *err);

#endif /* SYN_COORD_CATALOG_H */
